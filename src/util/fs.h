/*
 * fs: files named by the operator -- the -f sources, a plan file, the --root itself -- read,
 * walked and written by path, with the refusals mailrecon needs.
 *
 * Nothing below --root is reached through here: those paths go through the confinement
 * layer (util/rootfs.h).  Outside src/util no module calls a path-based system call at all
 * (util/banned.h makes one a compile error), so this file and rootfs.c are the only two
 * places a path is opened.
 *
 * Errors are returned as a negative errno-style code plus a message in `err` (which the
 * caller owns and releases); nothing is printed here.
 */
#ifndef MR_UTIL_FS_H
#define MR_UTIL_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

/*
 * Read a whole regular file into out (NUL-terminated; out->len is the byte count).
 * A file larger than max_size is refused without being read (-EFBIG).
 */
int mr_read_file(const char *path, size_t max_size, struct mr_buf *out, struct mr_buf *err);

/*
 * The same with flags: MR_READ_NOFOLLOW refuses a symbolic link (-ELOOP) instead of
 * following it.  *st receives the file's status as read (mode, owner, size, mtime).
 * Never blocks on a FIFO: anything but a regular file is refused.
 */
#define MR_READ_NOFOLLOW 1u
struct stat;
int mr_read_file_ex(const char *path, size_t max_size, unsigned flags, struct mr_buf *out,
		    struct stat *st, struct mr_buf *err);

/*
 * A regular file read a chunk at a time instead of whole (a desired-state file is parsed as
 * it is read, so its bytes are never all in memory).  mr_open_file_in refuses what
 * mr_read_file_ex refuses, with the same messages (flags as there; *st, when not NULL, gets
 * the file's status), and mr_root_open_file_in (util/rootfs.h) what mr_root_read refuses.
 * mr_file_in_read counts the bytes as they come: once they pass max_size (the file grew
 * while it was read) the file is refused with the message of the whole readers.
 *
 *   struct mr_file_in in = MR_FILE_IN_INIT;
 *   if (mr_open_file_in(path, 64u << 20, MR_READ_NOFOLLOW, &in, NULL, &err) < 0) ...
 *   while ((n = mr_file_in_read(&in, chunk, sizeof(chunk), &err)) > 0) ...
 *   mr_file_in_close(&in);
 */
struct mr_file_in {
	int fd;        /* -1: not open */
	size_t max;    /* the limit, in bytes */
	uint64_t size; /* st_size when it was opened */
	uint64_t len;  /* bytes read so far */
	int error;     /* 0, or the -errno of the failed read (every later read returns it) */
	char *shown;   /* the name messages show */
};
#define MR_FILE_IN_INIT { -1, 0, 0, 0, 0, NULL }
int mr_open_file_in(const char *path, size_t max_size, unsigned flags, struct mr_file_in *in, struct stat *st,
		    struct mr_buf *err);
/* Up to n bytes into buf: how many (0 at the end of the file), or -errno with a message
 * ("cannot read ...", or -EFBIG past the limit). */
ssize_t mr_file_in_read(struct mr_file_in *in, void *buf, size_t n, struct mr_buf *err);
/* Up to n bytes at off read again (pread(2), for the place of an error): how many, -errno. */
ssize_t mr_file_in_pread(struct mr_file_in *in, void *buf, size_t n, uint64_t off);
/* Close it (again: nothing); it is MR_FILE_IN_INIT after. */
void mr_file_in_close(struct mr_file_in *in);

/* A list of paths, owned by the list. */
struct mr_pathlist {
	char **v;
	size_t n, cap;
};

#define MR_PATHLIST_INIT { NULL, 0, 0 }

void mr_pathlist_add(struct mr_pathlist *l, const char *path);
void mr_pathlist_sort(struct mr_pathlist *l);
void mr_pathlist_release(struct mr_pathlist *l);

/*
 * Every file below dir whose name ends in one of the NULL-terminated suffixes, recursively.
 * Names starting with '.' are skipped.  Directories are entered by descriptor and no symbolic
 * link is ever followed: one with a wanted name is an error (-ELOOP, naming the first one;
 * the files found are still listed), any other is skipped.  dir itself may be reached through
 * links, unless flags has MR_FIND_NOFOLLOW (then dir being a link is -ELOOP).  The result is
 * sorted byte-wise.
 */
#define MR_FIND_NOFOLLOW 1u
int mr_find_files_ex(const char *dir, const char *const *suffixes, unsigned flags, struct mr_pathlist *out,
		     struct mr_buf *err);
int mr_find_files(const char *dir, const char *const *suffixes, struct mr_pathlist *out,
		  struct mr_buf *err);
/* The same below the directory open at fd (read, not O_PATH; taken over, closed), shown as
 * dir: nothing is looked up by name above it. */
int mr_find_files_fd(int fd, const char *dir, const char *const *suffixes, struct mr_pathlist *out,
		     struct mr_buf *err);

/* stat(2) of an operator's path (following links, as the operator set them up); 0 or -errno. */
int mr_path_stat(const char *path, struct stat *st);
/* lstat(2) of an operator's path; 0 or -errno. */
int mr_path_lstat(const char *path, struct stat *st);
/* The absolute, resolved form of an operator's path (realpath(3)); a fresh string or NULL. */
char *mr_path_absolute(const char *path);
/*
 * PATH made absolute as text, the file system not asked (but for getcwd(3), which a relative
 * PATH is taken from): '.', empty components and a final '/' dropped, '..' removing the
 * component before it ("/.." is "/").  Where no component is a symbolic link this names what
 * PATH names; a fresh string, or NULL with errno (getcwd failed).
 */
char *mr_path_clean_absolute(const char *path);
/*
 * Replace an operator's file (a plan file) with data: a temp file beside it, written,
 * fsync'd and renamed over it; never through a link at its own name.  0 or -1 with err.
 */
int mr_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode, struct mr_buf *err);

/* ROOT + PATH for an absolute PATH ("/" root: PATH itself); a fresh string. */
char *mr_path_join_root(const char *root, const char *path);
/* DIR + "/" + NAME; a fresh string. */
char *mr_path_join(const char *dir, const char *name);
/* The directory part of PATH ("." when it has none); a fresh string. */
char *mr_path_dirname(const char *path);

/*
 * Who holds a flock(2) lock on the file open as fd, from the kernel's /proc/locks (not a
 * path below --root): the first holder other than this process, as "pid PID (COMMAND)" --
 * its command line from /proc/PID/cmdline, arguments joined by spaces, escaped for a
 * terminal and cut at about 200 bytes -- appended to out.  1 when one was found, else 0
 * (no /proc, or the holder is gone; out is then unchanged).
 */
int mr_lock_holder(int fd, struct mr_buf *out);

#endif
