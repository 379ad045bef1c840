/*
 * rootfs: the one confinement layer for every file-system operation below --root
 * (design section 7).
 *
 * mailrecon runs as root over trees that others partly own: /var/www/OWNER belongs to a
 * tenant, who may put a symbolic link, a FIFO or a file wherever a directory is expected and
 * change it while mailrecon runs.  So no path below the root is ever handed to a path-based
 * system call.  A struct mr_root holds a directory descriptor of the root, opened once;
 * every path is resolved from it, with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) where the kernel has it and an openat(O_PATH | O_NOFOLLOW) walk
 * component by component where not, and ".." cannot be written.
 *
 * A symbolic link is refused (-ELOOP) with one exception, the links an administrator made
 * (Debian's /etc/mail/spamassassin -> /etc/spamassassin): a directory on the way may be a
 * link owned by root in a directory owned by root that group and others cannot write.  Such
 * a link is followed below the root (an absolute target is taken from the root, as in a
 * chroot; ".." never climbs above it; at most 32 links), with the walk -- never the last name
 * of a file, and never a link a tenant could have made or replaced.  So nothing outside the
 * root can be reached.  The operation itself then acts on the parent directory's descriptor
 * and the last name (mkdirat, renameat2, unlinkat, openat with O_NOFOLLOW), and ownership
 * and modes are set on descriptors (fchown, fchmod), never on names.
 *
 * Paths are written as absolute paths below the root ("/etc/exim4/passwd") and must be
 * clean: starting with '/', no empty, "." or ".." component, no trailing '/'.  "/" itself
 * names the root.  A path that is not clean is -EINVAL.
 *
 * Functions return 0 (or a descriptor) on success and a negative errno on failure; those
 * that take an err buffer also append a message naming the full path (git style).
 * Descriptors returned are the caller's to close; they are O_CLOEXEC.
 *
 *   struct mr_root *r;
 *   if (mr_root_open(&r, "/srv/sandbox", &err) < 0) ...
 *   struct mr_buf data = MR_BUF_INIT;
 *   struct stat st;
 *   if (mr_root_read(r, "/etc/exim4/passwd", 64u << 20, &data, &st, &err) < 0) ...
 *   mr_root_close(&r);
 *
 * The resolver can be forced to the portable walk with MAILRECON_RESOLVE=walk (tests run
 * both).  Every function here is safe against a concurrent rename of any directory on the
 * path: what it touches is below the root and reached without following a link.
 */
#ifndef MR_UTIL_ROOTFS_H
#define MR_UTIL_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/fs.h"

struct mr_root;

/* Open dir (the operator's --root; it may itself be reached through links) as a root. */
int mr_root_open(struct mr_root **out, const char *dir, struct mr_buf *err);
void mr_root_close(struct mr_root **r);

/*
 * For a tenant's directory (a --scope run's desired-state files, load/desired.h): open dir,
 * an absolute clean path, as a strict root, reached from the real "/" without any symbolic
 * link at any level -- not even root's own safe one, which mr_root_open's realpath and the
 * resolver below a root follow.  A strict root never follows a link below it either: every
 * path resolved from it is -ELOOP when any component is one.  0, or -errno with a message
 * naming dir (and, for -ELOOP, the first link on it).
 */
int mr_root_open_strict(struct mr_root **out, const char *dir, struct mr_buf *err);
/*
 * A root on the directory dir below r (reached as r reaches it; "/" is r's directory
 * itself, opened again), strict when r is, shown as ROOT + dir.  It holds its own
 * descriptor: later renames of any name on the way do not move it.  0 or -errno with a
 * message.
 */
int mr_root_sub(struct mr_root *r, const char *dir, struct mr_root **out, struct mr_buf *err);
bool mr_root_is_strict(const struct mr_root *r);

/* The root as resolved ("/" or an absolute path without a final '/'). */
const char *mr_root_dir(const struct mr_root *r);
bool mr_root_is_slash(const struct mr_root *r);
/* ROOT + path, for messages and for the command lines of external tools; a fresh string. */
char *mr_root_full(const struct mr_root *r, const char *path);
/* Whether the resolver in use is openat2 (false: the O_NOFOLLOW walk). */
bool mr_root_uses_openat2(const struct mr_root *r);

/* Whether path is clean in the sense above ("/" is). */
bool mr_root_clean(const char *path);

/*
 * Open path with flags (O_NOFOLLOW, O_CLOEXEC and O_NOCTTY are added; with O_CREAT, mode
 * is the new file's mode).  A descriptor, or -errno: -ELOOP when path or a directory on the
 * way is a symbolic link.
 */
int mr_root_openat(struct mr_root *r, const char *path, int flags, unsigned mode);
/* An O_PATH descriptor of directory dir ("/" is the root). */
int mr_root_dirfd(struct mr_root *r, const char *dir);
/* An O_PATH descriptor of the directory holding path; *base points at path's last name. */
int mr_root_parent(struct mr_root *r, const char *path, const char **base);

/*
 * The first component of path that is a symbolic link ("/etc/postgrey" for
 * "/etc/postgrey/whitelist_recipients"), for a message after -ELOOP; a fresh string, or
 * NULL when none is (any more).
 */
char *mr_root_link_on_path(struct mr_root *r, const char *path);
/* The first component of path that is a symbolic link, followed or not; NULL when none is. */
char *mr_root_any_link_on_path(struct mr_root *r, const char *path);

/* Whether dir is a directory (reached as mr_root_dirfd reaches it: a safe link on the way or
 * at its end is followed, see mr_root_openat). */
bool mr_root_is_dir(struct mr_root *r, const char *dir);

/* lstat(2) of path: its last name is never followed (a root's safe link on the way is). */
int mr_root_lstat(struct mr_root *r, const char *path, struct stat *st);

/*
 * Read a whole regular file (NUL-terminated; out->len is the byte count).  Refused: a
 * symbolic link (-ELOOP), a directory (-EISDIR), anything else that is not a regular file
 * (-EINVAL; a FIFO never blocks), a file larger than max (-EFBIG).  *st gets its status.
 */
int mr_root_read(struct mr_root *r, const char *path, size_t max, struct mr_buf *out, struct stat *st,
		 struct mr_buf *err);
/* The same checks and messages, the file left open to be read a chunk at a time (util/fs.h
 * struct mr_file_in: the limit is counted as it is read); *st (when not NULL) as there. */
int mr_root_open_file_in(struct mr_root *r, const char *path, size_t max, struct mr_file_in *in, struct stat *st,
			 struct mr_buf *err);

/*
 * Resolve path, below the directory tree (both clean, path at or below tree), following
 * symbolic links only while they stay inside tree: certbot's /etc/letsencrypt/live/NAME/
 * files are relative links into ../../archive/NAME/.  Each component is looked at with
 * lstat through this layer; a link's target is read and resolved lexically from the link's
 * directory.  Refused, with a message naming the link: an absolute target, a target that
 * climbs above tree, a link met twice (a loop; -ELOOP), more than MR_ROOT_TREE_LINKS_MAX
 * links (-ELOOP), a missing component (-ENOENT), a file where a directory is needed
 * (-ENOTDIR).  *out gets the clean path that holds no link at all, which the caller reads
 * with mr_root_read as usual: should a component be swapped for a link after this, that
 * read refuses it, so nothing outside tree (or the root) is reached whatever races.
 * 0 or -errno with a message.
 */
#define MR_ROOT_TREE_LINKS_MAX 8
int mr_root_resolve_within(struct mr_root *r, const char *tree, const char *path, struct mr_buf *out,
			   struct mr_buf *err);

/*
 * Make one directory (its parent must exist) with mode, then give it uid:gid (-1: keep)
 * through its descriptor.  0 when made, -EEXIST when something is there already (nothing
 * is changed then), other -errno.
 */
int mr_root_mkdir(struct mr_root *r, const char *path, unsigned mode, int64_t uid, int64_t gid);
/*
 * The same two, below a directory descriptor this layer gave (mr_root_dirfd or
 * mr_root_parent) and held by the caller for many names: name is one component ("." and
 * ".." refused with -EINVAL), never followed.  A first apply makes 100,000 homes in 10,000
 * domain directories without resolving each domain directory again per home.
 */
int mr_root_lstat_in(int dirfd, const char *name, struct stat *st);
int mr_root_mkdir_in(int dirfd, const char *name, unsigned mode, int64_t uid, int64_t gid);
/* openat(2) of name below dirfd with flags (O_NOFOLLOW and O_CLOEXEC added): fd or -errno. */
int mr_root_open_in(int dirfd, const char *name, int flags);
/*
 * Make the directories names[0..n) (single components, as mr_root_mkdir_in takes them) below
 * dirfd, a directory of this layer's that belongs to uid, as uid:gid themselves: the calling
 * thread's filesystem uid and gid are uid and gid for the mkdirat calls and root's again before
 * this returns, so each directory is born with its owner and mode and needs no open, fstat,
 * fchown or close of its own.  rc[i] gets 0 (made) or -errno for each name (mr_fault_check
 * "mkdir" is checked per name).  The function returns 0 when the names were tried that way, or
 * a negative errno, with nothing made, when they cannot be: not running as root, uid or gid
 * 0 or negative, a umask that would take bits of mode away, the parent not uid's own or
 * set-group-ID.  The caller then makes them as root (mr_root_mkdir_in).  Why this is safe
 * where the tenant owns dirfd is said at its definition.
 */
int mr_root_mkdirs_as(int dirfd, const char *const *names, size_t n, unsigned mode, int64_t uid, int64_t gid,
		      int *rc);
/*
 * mkdir -p for root's own directories (mode for the ones made, owner root): every existing
 * component must be a directory.  0 or -errno with a message.
 */
int mr_root_mkdirs(struct mr_root *r, const char *dir, unsigned mode, struct mr_buf *err);

/* renameat2(2) between the two parents; noreplace: never replace an existing to (-EEXIST). */
int mr_root_rename(struct mr_root *r, const char *from, const char *to, bool noreplace);
/* Remove a name that is not a directory (a link is removed, not followed). */
int mr_root_unlink(struct mr_root *r, const char *path);
/* Remove an empty directory. */
int mr_root_rmdir(struct mr_root *r, const char *path);
/* fsync(2) a directory. */
int mr_root_sync_dir(struct mr_root *r, const char *dir);
/*
 * syncfs(2) of the filesystem that holds dir: when a transaction touched thousands of
 * directories (a first apply's homes), one call instead of an fsync each.  *dev (when given)
 * gets that filesystem's device.  0 or -errno.
 */
int mr_root_sync_fs(struct mr_root *r, const char *dir, dev_t *dev);

/* The names in directory dir (without "." and ".."), sorted byte-wise; 0 or -errno. */
int mr_root_list(struct mr_root *r, const char *dir, struct mr_pathlist *names);

/*
 * rm -rf path, confined: directories are entered by descriptor with O_NOFOLLOW, a symbolic
 * link is removed and never followed, and no other filesystem is entered (a mount point
 * below path is refused).  An absent path is 0.  0 or -errno with a message.
 */
int mr_root_remove_tree(struct mr_root *r, const char *path, struct mr_buf *err);

/*
 * Give every entry of the tree at path (path included) that belongs to from_uid the owner
 * uid:gid, by descriptor.  A regular file with more than one hard link (another name of it
 * may be outside the tree, still the old owner's to write) is replaced by a copy of its own
 * instead; anything another uid owns, and any other multiply-linked entry, is left alone and
 * counted in *skipped.  Symbolic links get the new owner themselves (never their target).
 * 0 or -errno with a message.
 */
int mr_root_chown_tree(struct mr_root *r, const char *path, int64_t from_uid, int64_t uid, int64_t gid,
		       size_t *skipped, struct mr_buf *err);

/*
 * Copy the tree at from to to (which must not exist), keeping modes, owners and mtimes;
 * regular files (holes kept; at most the size they had when reached), directories and
 * symbolic links (copied as links) only: anything else is skipped and counted in *skipped.
 * Files are fsync'd.  0 or -errno with a message (a partial copy is left for the caller to
 * remove).
 */
int mr_root_copy_tree(struct mr_root *r, const char *from, const char *to, size_t *skipped, struct mr_buf *err);

/* 1 when the trees at a and b hold the same names, types, modes, owners and contents
 * (FIFOs and sockets, which a copy leaves out, aside); 0 when not; -errno. */
int mr_root_same_tree(struct mr_root *r, const char *a, const char *b);

/*
 * The disk use of the tree at path (a mailbox's home, for mailrecon usage), as a tenant may
 * have made it: the bytes (st_size) of its regular files, a file with several hard links
 * counted once; directories entered by descriptor with O_NOFOLLOW (and checked to be the one
 * looked at), a symbolic link never followed (counted in links), a FIFO, socket or device
 * never opened and a mount point never entered (counted in other).  The work is capped: at
 * most max_entries names are looked at and max_depth levels entered; past either, complete is
 * false and the sums are those so far.  0, or -errno for path itself (-ELOOP: a link on the
 * way or at its end; -ENOTDIR: not a directory; -ENOENT).
 */
struct mr_tree_usage {
	uint64_t bytes;
	uint64_t files, dirs;      /* regular files counted, directories entered (the top aside) */
	uint64_t links, other;     /* symbolic links; FIFOs, sockets, devices, mount points */
	uint64_t hardlinked;       /* further names of a file counted already */
	uint64_t unreadable;       /* directories that could not be entered */
	size_t entries;            /* names looked at */
	bool complete;             /* false: a cap stopped the walk */
};
int mr_root_tree_usage(struct mr_root *r, const char *path, size_t max_entries, unsigned max_depth,
		       struct mr_tree_usage *out);

#endif
