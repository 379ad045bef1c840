#include "util/fs.h"

#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/faults.h"
#include "util/xalloc.h"

int mr_read_file(const char *path, size_t max_size, struct mr_buf *out, struct mr_buf *err)
{
	struct stat st;
	return mr_read_file_ex(path, max_size, 0, out, &st, err);
}

/* Open path and check it for mr_read_file_ex: a descriptor, or -errno with a message. */
static int open_checked(const char *path, size_t max_size, unsigned flags, struct stat *stp, struct mr_buf *err)
{
	int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	if (flags & MR_READ_NOFOLLOW)
		oflags |= O_NOFOLLOW;
	int fd = open(path, oflags);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP && (flags & MR_READ_NOFOLLOW))
			mr_buf_addf(err, "'%s' is a symbolic link; refused (mailrecon never follows one)", path);
		else
			mr_buf_addf(err, "cannot open '%s': %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		mr_buf_addf(err, "cannot stat '%s': %s", path, strerror(e));
		close(fd);
		return -e;
	}
	if (S_ISDIR(st.st_mode)) {
		mr_buf_addf(err, "'%s' is a directory, not a file", path);
		close(fd);
		return -EISDIR;
	}
	if (!S_ISREG(st.st_mode)) {
		mr_buf_addf(err, "'%s' is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if ((unsigned long long)st.st_size > max_size) {
		mr_buf_addf(err, "'%s' is too large (%lld bytes; the limit is %zu MiB)", path,
			    (long long)st.st_size, max_size >> 20);
		close(fd);
		return -EFBIG;
	}
	*stp = st;
	return fd;
}

int mr_read_file_ex(const char *path, size_t max_size, unsigned flags, struct mr_buf *out,
		    struct stat *stp, struct mr_buf *err)
{
	struct stat st;
	int fd = open_checked(path, max_size, flags, &st, err);
	if (fd < 0)
		return fd;
	mr_buf_reset(out);
	mr_buf_grow(out, (size_t)st.st_size);
	for (;;) {
		/* the size can change under us: never read past the limit */
		if (out->len > max_size) {
			mr_buf_addf(err, "'%s' is too large (the limit is %zu MiB)", path, max_size >> 20);
			close(fd);
			return -EFBIG;
		}
		mr_buf_grow(out, 65536);
		ssize_t r = read(fd, out->ptr + out->len, out->cap - out->len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			mr_buf_addf(err, "cannot read '%s': %s", path, strerror(e));
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		out->len += (size_t)r;
	}
	out->ptr[out->len] = '\0';
	close(fd);
	*stp = st;
	return 0;
}

int mr_open_file_in(const char *path, size_t max_size, unsigned flags, struct mr_file_in *in, struct stat *stp,
		    struct mr_buf *err)
{
	struct stat st;
	int fd = open_checked(path, max_size, flags, &st, err);
	if (fd < 0)
		return fd;
	*in = (struct mr_file_in){ fd, max_size, (uint64_t)st.st_size, 0, 0, xstrdup(path) };
	if (stp)
		*stp = st;
	return 0;
}

ssize_t mr_file_in_read(struct mr_file_in *in, void *buf, size_t n, struct mr_buf *err)
{
	if (in->error)
		return in->error;
	for (;;) {
		/* a test seam: MAILRECON_FAULT=read:EIO:N fails the Nth read (util/faults.h) */
		ssize_t r = mr_fault_check("read") < 0 ? -1 : read(in->fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			mr_buf_addf(err, "cannot read '%s': %s", in->shown, strerror(e));
			return in->error = -e;
		}
		in->len += (uint64_t)r;
		if (in->len > in->max) { /* the file grew while it was read */
			mr_buf_addf(err, "'%s' is too large (the limit is %zu MiB)", in->shown, in->max >> 20);
			return in->error = -EFBIG;
		}
		return r;
	}
}

ssize_t mr_file_in_pread(struct mr_file_in *in, void *buf, size_t n, uint64_t off)
{
	for (;;) {
		ssize_t r = pread(in->fd, buf, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : r;
	}
}

void mr_file_in_close(struct mr_file_in *in)
{
	if (in->fd >= 0)
		close(in->fd);
	free(in->shown);
	*in = (struct mr_file_in)MR_FILE_IN_INIT;
}

void mr_pathlist_add(struct mr_pathlist *l, const char *path)
{
	l->v = xgrow(l->v, sizeof(*l->v), l->n + 1, &l->cap);
	l->v[l->n++] = xstrdup(path);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void mr_pathlist_sort(struct mr_pathlist *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmpstr);
}

void mr_pathlist_release(struct mr_pathlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int has_suffix(const char *name, const char *const *suffixes)
{
	size_t n = strlen(name);
	for (; *suffixes; suffixes++) {
		size_t k = strlen(*suffixes);
		if (n > k && strcmp(name + n - k, *suffixes) == 0)
			return 1;
	}
	return 0;
}

struct walk {
	const char *const *suffixes;
	struct mr_pathlist *out;
	struct mr_buf *err;
	char *link; /* the first (by name) symbolic link with a wanted name: refused */
};

/* Walk the directory open at dfd (taken over), shown as dir: entered by descriptor, never
 * through a link. */
static int walk(struct walk *w, int dfd, const char *dir, int depth)
{
	if (depth > 64) {
		close(dfd);
		mr_buf_addf(w->err, "'%s': directories nested too deep", dir);
		return -ELOOP;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		mr_buf_addf(w->err, "cannot open directory '%s': %s", dir, strerror(e));
		return -e;
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *p = mr_path_join(dir, de->d_name);
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			int e = errno;
			mr_buf_addf(w->err, "cannot stat '%s': %s", p, strerror(e));
			rc = -e;
		} else if (S_ISLNK(st.st_mode)) {
			/* never followed: a file of that name is refused, anything else is not ours */
			if (has_suffix(de->d_name, w->suffixes) && (!w->link || strcmp(p, w->link) < 0)) {
				free(w->link);
				w->link = xstrdup(p);
			}
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				int e = errno;
				mr_buf_addf(w->err, "cannot open directory '%s': %s", p, strerror(e));
				rc = -e;
			} else {
				rc = walk(w, sub, p, depth + 1);
			}
		} else if (has_suffix(de->d_name, w->suffixes)) {
			mr_pathlist_add(w->out, p);
		}
		free(p);
	}
	if (rc == 0 && errno) {
		int e = errno;
		mr_buf_addf(w->err, "cannot read directory '%s': %s", dir, strerror(e));
		rc = -e;
	}
	closedir(d);
	return rc;
}

int mr_find_files_ex(const char *dir, const char *const *suffixes, unsigned flags, struct mr_pathlist *out,
		     struct mr_buf *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | ((flags & MR_FIND_NOFOLLOW) ? O_NOFOLLOW : 0));
	if (fd < 0) {
		int e = errno;
		struct stat st;
		if ((flags & MR_FIND_NOFOLLOW) && (e == ELOOP || e == ENOTDIR) && lstat(dir, &st) == 0 &&
		    S_ISLNK(st.st_mode)) {
			mr_buf_addf(err, "'%s' is a symbolic link; refused (mailrecon never follows one)", dir);
			return -ELOOP;
		}
		mr_buf_addf(err, "cannot open directory '%s': %s", dir, strerror(e));
		return -e;
	}
	return mr_find_files_fd(fd, dir, suffixes, out, err);
}

int mr_find_files_fd(int fd, const char *dir, const char *const *suffixes, struct mr_pathlist *out,
		     struct mr_buf *err)
{
	struct walk w = { suffixes, out, err, NULL };
	size_t first = out->n;
	int rc = walk(&w, fd, dir, 0);
	if (rc == 0 && w.link) {
		mr_buf_addf(err, "'%s' is a symbolic link; refused (mailrecon never follows one)", w.link);
		rc = -ELOOP;
	}
	free(w.link);
	if (out->n - first > 1)
		qsort(out->v + first, out->n - first, sizeof(*out->v), cmpstr);
	return rc;
}

int mr_find_files(const char *dir, const char *const *suffixes, struct mr_pathlist *out,
		  struct mr_buf *err)
{
	return mr_find_files_ex(dir, suffixes, 0, out, err);
}

char *mr_path_join_root(const char *root, const char *path)
{
	if (!root || !*root || strcmp(root, "/") == 0)
		return xstrdup(path);
	size_t rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	while (*path == '/')
		path++;
	char *p = xmalloc(rl + 1 + strlen(path) + 1);
	memcpy(p, root, rl);
	p[rl] = '/';
	strcpy(p + rl + 1, path);
	return p;
}

char *mr_path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	int slash = dl > 0 && dir[dl - 1] == '/';
	char *p = xmalloc(dl + !slash + strlen(name) + 1);
	memcpy(p, dir, dl);
	if (!slash)
		p[dl++] = '/';
	strcpy(p + dl, name);
	return p;
}

char *mr_path_dirname(const char *path)
{
	const char *s = strrchr(path, '/');
	if (!s)
		return xstrdup(".");
	if (s == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(s - path));
}

int mr_path_stat(const char *path, struct stat *st)
{
	return stat(path, st) < 0 ? -errno : 0;
}

int mr_path_lstat(const char *path, struct stat *st)
{
	return lstat(path, st) < 0 ? -errno : 0;
}

char *mr_path_absolute(const char *path)
{
	return realpath(path, NULL);
}

char *mr_path_clean_absolute(const char *path)
{
	struct mr_buf in = MR_BUF_INIT;
	if (path[0] != '/') {
		char *cwd = getcwd(NULL, 0);
		if (!cwd)
			return NULL;
		mr_buf_addf(&in, "%s/", cwd);
		free(cwd);
	}
	mr_buf_adds(&in, path);
	/* the components, '.' and '' dropped, '..' taking the one before away */
	char *out = xmalloc(in.len + 2);
	size_t n = 0;
	for (char *p = in.ptr, *e; *p; p = e) {
		while (*p == '/')
			p++;
		for (e = p; *e && *e != '/'; e++)
			;
		size_t k = (size_t)(e - p);
		if (k == 0 || (k == 1 && p[0] == '.'))
			continue;
		if (k == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* its '/' too; "/.." is "/" */
			continue;
		}
		out[n++] = '/';
		memcpy(out + n, p, k);
		n += k;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	mr_buf_release(&in);
	return out;
}

int mr_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode, struct mr_buf *err)
{
	struct mr_buf tmp = MR_BUF_INIT;
	mr_buf_addf(&tmp, "%s.tmp%ld", path, (long)getpid());
	int fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
	int rc = -1;
	if (fd >= 0) {
		const char *p = data;
		size_t off = 0;
		while (off < len) {
			ssize_t w = write(fd, p + off, len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		if (off == len && fsync(fd) == 0 && close(fd) == 0) {
			fd = -1;
			rc = rename(tmp.ptr, path);
		}
		if (fd >= 0)
			close(fd);
		if (rc < 0)
			unlink(tmp.ptr);
	}
	if (rc < 0)
		mr_buf_addf(err, "cannot write '%s': %s", path, strerror(errno));
	mr_buf_release(&tmp);
	return rc;
}

int mr_lock_holder(int fd, struct mr_buf *out)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return 0;
	FILE *f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	char line[512];
	long pid = 0;
	while (!pid && fgets(line, sizeof(line), f)) {
		/* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; a waiter's line has "->" */
		char type[16], kind[16], mode[16];
		long p;
		unsigned maj, min;
		unsigned long ino;
		const char *s = strchr(line, ':');
		if (!s || strstr(line, "->"))
			continue;
		if (sscanf(s + 1, "%15s %15s %15s %ld %x:%x:%lu", type, kind, mode, &p, &maj, &min, &ino) != 7)
			continue;
		if (strcmp(type, "FLOCK") != 0 || ino != (unsigned long)st.st_ino || maj != major(st.st_dev) ||
		    min != minor(st.st_dev) || p == (long)getpid() || p <= 0)
			continue;
		pid = p;
	}
	fclose(f);
	if (!pid)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	char cmd[201];
	size_t n = 0;
	f = fopen(path, "re");
	if (f) {
		n = fread(cmd, 1, sizeof(cmd) - 1, f);
		fclose(f);
	}
	while (n && cmd[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	mr_buf_addf(out, "pid %ld", pid);
	if (n) {
		mr_buf_adds(out, " (");
		mr_buf_add_printable(out, cmd, n, 0);
		mr_buf_adds(out, n == sizeof(cmd) - 1 ? "...)" : ")");
	}
	return 1;
}
