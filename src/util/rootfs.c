/*
 * rootfs: see rootfs.h.  Two resolvers give the same answers: openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (the kernel refuses a link or ".." at any level in
 * one call, and retries a lookup that raced with a rename) and, where the kernel lacks it
 * (before 5.6, or a seccomp filter), a walk that opens each directory with
 * O_PATH | O_DIRECTORY | O_NOFOLLOW from the one before.
 */
#include "util/rootfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/faults.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define TREE_DEPTH_MAX 128

struct mr_root {
	int fd;        /* O_PATH | O_DIRECTORY */
	char *dir;     /* resolved, "/" or without a final '/' */
	bool openat2;  /* false: the walk */
	bool strict;   /* no link is followed at all, not even a safe one (mr_root_open_strict) */
};

bool mr_root_clean(const char *p)
{
	if (!p || p[0] != '/')
		return false;
	if (p[1] == '\0')
		return true;
	for (const char *part = p + 1;;) {
		const char *e = strchr(part, '/');
		size_t n = e ? (size_t)(e - part) : strlen(part);
		if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.'))
			return false;
		if (!e)
			return true;
		part = e + 1;
	}
}

int mr_root_open(struct mr_root **out, const char *dir, struct mr_buf *err)
{
	*out = NULL;
	char *abs = realpath(dir && *dir ? dir : "/", NULL);
	if (!abs) {
		int e = errno;
		mr_buf_addf(err, "--root '%s': %s", dir, strerror(e));
		return -e;
	}
	int fd = open(abs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		mr_buf_addf(err, "--root '%s': %s", abs, strerror(e));
		free(abs);
		return -e;
	}
	struct mr_root *r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->dir = abs;
	const char *how = getenv("MAILRECON_RESOLVE");
	r->openat2 = !(how && strcmp(how, "walk") == 0);
	*out = r;
	return 0;
}

void mr_root_close(struct mr_root **rp)
{
	struct mr_root *r = *rp;
	if (!r)
		return;
	close(r->fd);
	free(r->dir);
	free(r);
	*rp = NULL;
}

/* A root on the O_PATH directory descriptor fd (taken over), shown as dir (taken over). */
static struct mr_root *root_on(int fd, char *dir, bool openat2, bool strict)
{
	struct mr_root *r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->dir = dir;
	r->openat2 = openat2;
	r->strict = strict;
	return r;
}

static void loop_msg(struct mr_root *r, const char *path, struct mr_buf *err);

int mr_root_open_strict(struct mr_root **out, const char *dir, struct mr_buf *err)
{
	*out = NULL;
	if (!mr_root_clean(dir)) {
		mr_buf_addf(err, "'%s' is not a clean absolute path (no '.', '..' or '//')", dir ? dir : "");
		return -EINVAL;
	}
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		mr_buf_addf(err, "cannot open '/': %s", strerror(e));
		return -e;
	}
	const char *how = getenv("MAILRECON_RESOLVE");
	char slash_dir[] = "/";
	struct mr_root slash = { fd, slash_dir, !(how && strcmp(how, "walk") == 0), true };
	if (!dir[1]) {
		*out = root_on(fd, xstrdup("/"), slash.openat2, true);
		return 0;
	}
	int rc = mr_root_sub(&slash, dir, out, err);
	close(fd);
	return rc;
}

int mr_root_sub(struct mr_root *r, const char *dir, struct mr_root **out, struct mr_buf *err)
{
	*out = NULL;
	int fd = mr_root_dirfd(r, dir);
	if (fd < 0) {
		if (fd == -ELOOP) {
			loop_msg(r, dir, err);
		} else {
			char *shown = mr_root_full(r, dir);
			mr_buf_addf(err, "cannot open directory '%s': %s", shown, strerror(-fd));
			free(shown);
		}
		return fd;
	}
	*out = root_on(fd, dir[1] ? mr_root_full(r, dir) : xstrdup(r->dir), r->openat2, r->strict);
	return 0;
}

bool mr_root_is_strict(const struct mr_root *r)
{
	return r->strict;
}

const char *mr_root_dir(const struct mr_root *r)
{
	return r->dir;
}

bool mr_root_is_slash(const struct mr_root *r)
{
	return strcmp(r->dir, "/") == 0;
}

bool mr_root_uses_openat2(const struct mr_root *r)
{
	return r->openat2;
}

char *mr_root_full(const struct mr_root *r, const char *path)
{
	return mr_path_join_root(r->dir, path);
}

/* ---- resolution ---- */

/*
 * A symbolic link the resolver follows: root's own, in a directory that is root's and that
 * nobody else may write to -- what the distribution or the administrator made (Debian's
 * /etc/mail/spamassassin -> /etc/spamassassin), never one a tenant could have made or put
 * there (systemd's CHASE_SAFE).  Its target is taken below the root: an absolute one from
 * the root, and '..' never climbs above it.
 */
static bool safe_link(int dirfd, const struct stat *link)
{
	struct stat d;
	return link->st_uid == 0 && fstat(dirfd, &d) == 0 && d.st_uid == 0 && !(d.st_mode & 022);
}

#define LINK_HOPS_MAX 32
#define WALK_DEPTH_MAX 64

/* Give a directory made just now (at pfd/name) its mode and owner, through a descriptor. */
static int settle_dir(int pfd, const char *name, unsigned mode, int64_t uid, int64_t gid);

/*
 * The walk: every directory from the root opened with O_PATH | O_NOFOLLOW from the one
 * before; a safe link is followed, any other is -ELOOP.  With make, missing directories of
 * rel are made (root's, mode), but never one a link's target names: a dangling link stays
 * dangling (-ENOENT).  An O_PATH descriptor of the directory rel names ("" is the root).
 */
static int walk_dirs(struct mr_root *r, const char *rel, bool make, unsigned mode)
{
	int stack[WALK_DEPTH_MAX];
	int depth = 0, hops = 0, rc = 0;
	stack[0] = r->fd;
	char *todo = xstrdup(rel);
	char *p = todo;
	size_t linked = 0; /* todo[0..linked) came from links' targets */
	while (*p && rc == 0) {
		char *slash = strchr(p, '/');
		char *next = slash ? slash + 1 : p + strlen(p);
		if (slash)
			*slash = '\0';
		char *comp = p;
		bool ours = (size_t)(comp - todo) >= linked;
		p = next;
		if (!*comp || strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) { /* only a link's target has one */
			if (depth == 0)
				rc = -ELOOP; /* above the root: never */
			else
				close(stack[depth--]);
			continue;
		}
		int cur = stack[depth];
		int nfd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && make && ours) {
			if (mkdirat(cur, comp, 0700) == 0)
				rc = settle_dir(cur, comp, mode, -1, -1);
			else if (errno != EEXIST)
				rc = -errno;
			if (rc == 0)
				nfd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (rc < 0)
			break;
		if (nfd < 0) {
			rc = -errno;
			break;
		}
		struct stat st;
		if (fstat(nfd, &st) < 0) {
			rc = -errno;
			close(nfd);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = !r->strict && safe_link(cur, &st) && ++hops <= LINK_HOPS_MAX
					    ? readlinkat(nfd, "", target, sizeof(target) - 1)
					    : -1;
			close(nfd);
			if (n <= 0) {
				rc = -ELOOP;
				break;
			}
			target[n] = '\0';
			if (target[0] == '/')
				while (depth > 0)
					close(stack[depth--]);
			/* the rest of the path after the link's target */
			struct mr_buf b = MR_BUF_INIT;
			size_t done = (size_t)(p - todo);
			mr_buf_addf(&b, "%s/", target);
			linked = b.len + (linked > done ? linked - done : 0);
			mr_buf_add(&b, p, strlen(p));
			free(todo);
			todo = mr_buf_detach(&b);
			p = todo;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc = -ENOTDIR;
			close(nfd);
			break;
		}
		if (depth + 1 >= WALK_DEPTH_MAX) {
			rc = -ELOOP;
			close(nfd);
			break;
		}
		stack[++depth] = nfd;
	}
	free(todo);
	int fd = -1;
	if (rc == 0) {
		fd = depth > 0 ? stack[depth--] : openat(r->fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			rc = -errno;
	}
	while (depth > 0)
		close(stack[depth--]);
	return rc < 0 ? rc : fd;
}

/* The walk for a whole path: its directory walked, then the last name opened with O_NOFOLLOW. */
static int walk_open(struct mr_root *r, const char *rel, int flags, unsigned mode)
{
	if (flags & O_DIRECTORY) {
		/* a directory may itself be reached through a safe link */
		int d = walk_dirs(r, rel, false, 0);
		if (d < 0 || (flags & O_PATH))
			return d;
		int fd = openat(d, ".", flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL));
		int e = errno;
		close(d);
		return fd < 0 ? -e : fd;
	}
	const char *slash = strrchr(rel, '/');
	char *dir = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
	int d = walk_dirs(r, dir, false, 0);
	free(dir);
	if (d < 0)
		return d;
	const char *base = slash ? slash + 1 : rel;
	int fd = (flags & O_CREAT) ? openat(d, base, flags, (mode_t)mode) : openat(d, base, flags);
	int e = errno;
	close(d);
	return fd < 0 ? -e : fd;
}

static int openat2_open(struct mr_root *r, const char *rel, int flags, unsigned mode)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(unsigned)flags;
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	for (int tries = 0;; tries++) {
		long fd = syscall(SYS_openat2, r->fd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		/* EAGAIN: a rename raced with the lookup; the kernel asks for a retry */
		if (errno == EAGAIN && tries < 64)
			continue;
		return -errno;
	}
}

/* Open rel (path without its leading '/'; "" is the root) with flags. */
static int resolve(struct mr_root *r, const char *rel, int flags, unsigned mode)
{
	flags |= O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	if (flags & O_PATH) /* openat2 refuses any other flag with O_PATH (openat ignores them) */
		flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	if (!*rel) {
		int fd = openat(r->fd, ".", flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL));
		return fd < 0 ? -errno : fd;
	}
	if (r->openat2) {
		int fd = openat2_open(r, rel, flags, mode);
		/* ELOOP: a link on the way, which the walk follows when it is safe; ENOTDIR for a
		 * directory: maybe a link at its end, likewise */
		bool link = fd == -ELOOP || (fd == -ENOTDIR && (flags & O_DIRECTORY));
		if (fd != -ENOSYS && fd != -EPERM && !link)
			return fd;
		if (!link)
			r->openat2 = false; /* no openat2 here (old kernel, seccomp): walk from now on */
	}
	return walk_open(r, rel, flags, mode);
}

int mr_root_openat(struct mr_root *r, const char *path, int flags, unsigned mode)
{
	if (!mr_root_clean(path))
		return -EINVAL;
	int fd = resolve(r, path + 1, flags, mode);
	if (fd >= 0 && (flags & O_PATH) && path[1]) {
		/* O_PATH | O_NOFOLLOW opens a final link itself: refuse it like any other link */
		struct stat st;
		if (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode)) {
			int e = S_ISLNK(st.st_mode) ? ELOOP : errno;
			close(fd);
			return -e;
		}
	}
	if (fd == -ENOTDIR && (flags & O_DIRECTORY) && path[1]) {
		struct stat st;
		if (mr_root_lstat(r, path, &st) == 0 && S_ISLNK(st.st_mode))
			return -ELOOP;
	}
	return fd;
}

int mr_root_dirfd(struct mr_root *r, const char *dir)
{
	return mr_root_openat(r, dir, O_PATH | O_DIRECTORY, 0);
}

bool mr_root_is_dir(struct mr_root *r, const char *dir)
{
	int fd = mr_root_dirfd(r, dir);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int mr_root_parent(struct mr_root *r, const char *path, const char **base)
{
	if (!mr_root_clean(path) || !path[1])
		return -EINVAL;
	const char *slash = strrchr(path, '/');
	*base = slash + 1;
	if (slash == path)
		return mr_root_dirfd(r, "/");
	char *dir = xstrndup(path, (size_t)(slash - path));
	int fd = mr_root_dirfd(r, dir);
	free(dir);
	return fd;
}

int mr_root_lstat(struct mr_root *r, const char *path, struct stat *st)
{
	if (!mr_root_clean(path))
		return -EINVAL;
	if (!path[1])
		return fstat(r->fd, st) < 0 ? -errno : 0;
	const char *base;
	int pfd = mr_root_parent(r, path, &base);
	if (pfd < 0)
		return pfd;
	int rc = fstatat(pfd, base, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	close(pfd);
	return rc;
}

/* The first link on path: one the resolver refuses (unsafe_only), or any. */
static char *first_link(struct mr_root *r, const char *path, bool unsafe_only)
{
	if (!mr_root_clean(path) || !path[1])
		return NULL;
	for (const char *p = path + 1;; p++) {
		const char *slash = strchr(p, '/');
		char *prefix = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(path);
		struct stat st;
		int rc = mr_root_lstat(r, prefix, &st);
		if (rc == 0 && S_ISLNK(st.st_mode)) {
			/* the last name is never followed; one on the way only when it is safe */
			const char *base;
			int pfd = slash ? mr_root_parent(r, prefix, &base) : -1;
			bool safe = !r->strict && pfd >= 0 && safe_link(pfd, &st);
			if (pfd >= 0)
				close(pfd);
			if (!safe || !unsafe_only)
				return prefix;
		}
		free(prefix);
		if (rc < 0 || !slash)
			return NULL;
		p = slash;
	}
}

char *mr_root_link_on_path(struct mr_root *r, const char *path)
{
	return first_link(r, path, true);
}

char *mr_root_any_link_on_path(struct mr_root *r, const char *path)
{
	return first_link(r, path, false);
}

/* "'ROOT+path' is a symbolic link" or "... is reached through the symbolic link 'X'" */
static void loop_msg(struct mr_root *r, const char *path, struct mr_buf *err)
{
	char *shown = mr_root_full(r, path), *link = mr_root_link_on_path(r, path);
	if (!link && r->strict) {
		/* every link is refused here: the one there was is gone (a rename raced) */
		mr_buf_addf(err, "'%s' was reached through a symbolic link (not there any more); refused (mailrecon never "
				 "follows one)",
			    shown);
	} else if (!link && (link = first_link(r, path, false)) != NULL) {
		/* root's own link, which would be followed, but not out of the root or round in a loop */
		char *ls = mr_root_full(r, link);
		mr_buf_addf(err, "'%s' is reached through the symbolic link '%s'; refused (it leads out of the root or loops)",
			    shown, ls);
		free(ls);
	} else if (!link) {
		mr_buf_addf(err, "'%s' is reached through a symbolic link that leads out of the root or loops; refused", shown);
	} else if (strcmp(link, path) != 0) {
		char *ls = mr_root_full(r, link);
		mr_buf_addf(err, "'%s' is reached through the symbolic link '%s'; refused (mailrecon never follows one)",
			    shown, ls);
		free(ls);
	} else {
		mr_buf_addf(err, "'%s' is a symbolic link; refused (mailrecon never follows one)", shown);
	}
	free(link);
	free(shown);
}

/* ---- following links inside one tree ---- */

/* Drop the last component of the clean path in b ("/a/b" -> "/a"; "/a" -> "/"). */
static void path_pop(struct mr_buf *b)
{
	char *slash = strrchr(b->ptr, '/');
	b->len = slash == b->ptr ? 1 : (size_t)(slash - b->ptr);
	b->ptr[b->len] = '\0';
}

static bool under_tree(const char *tree, const char *path)
{
	size_t n = strlen(tree);
	if (!tree[1])
		return true;
	return strncmp(path, tree, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int mr_root_resolve_within(struct mr_root *r, const char *tree, const char *path, struct mr_buf *out,
			   struct mr_buf *err)
{
	if (!mr_root_clean(tree) || !mr_root_clean(path) || !under_tree(tree, path)) {
		mr_buf_addf(err, "'%s' is not a clean path below '%s'", path ? path : "", tree ? tree : "");
		return -EINVAL;
	}
	struct mr_buf cur = MR_BUF_INIT, todo = MR_BUF_INIT, seen = MR_BUF_INIT; /* seen: "\n"-joined links */
	char *shown = mr_root_full(r, path), *tshown = mr_root_full(r, tree), *lshown = NULL;
	mr_buf_adds(&cur, tree);
	mr_buf_adds(&todo, path + (tree[1] ? strlen(tree) : 0)); /* "" or "/rest" */
	int rc = 0, hops = 0;
	size_t at = 0;
	while (rc == 0 && at < todo.len) {
		/* the next component of todo (which starts at a '/') */
		const char *name = todo.ptr + at + 1;
		size_t n = strcspn(name, "/");
		at += n + 1;
		bool last = at >= todo.len;
		if (n == 0 || (n == 1 && name[0] == '.'))
			continue;
		if (n == 2 && name[0] == '.' && name[1] == '.') {
			if (strcmp(cur.ptr, tree) == 0) { /* only a link's target has '..': lshown is that link */
				mr_buf_addf(err, "cannot resolve '%s': the symbolic link '%s' climbs above '%s'", shown,
					    lshown ? lshown : "?", tshown);
				rc = -EXDEV;
				break;
			}
			path_pop(&cur);
			continue;
		}
		if (cur.len > 1)
			mr_buf_addc(&cur, '/');
		mr_buf_add(&cur, name, n);
		struct stat st;
		int s = mr_root_lstat(r, cur.ptr, &st);
		if (s < 0) {
			free(lshown);
			lshown = mr_root_full(r, cur.ptr);
			if (s == -ELOOP)
				loop_msg(r, cur.ptr, err);
			else
				mr_buf_addf(err, "cannot resolve '%s': '%s': %s", shown, lshown, strerror(-s));
			rc = s;
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			free(lshown);
			lshown = mr_root_full(r, cur.ptr);
			/* the same link twice: a loop (a chain that only looks long is cut by the count) */
			struct mr_buf key = MR_BUF_INIT;
			mr_buf_addf(&key, "\n%s\n", cur.ptr);
			bool again = seen.ptr && strstr(seen.ptr, key.ptr) != NULL;
			mr_buf_add(&seen, key.ptr, key.len);
			mr_buf_release(&key);
			if (again) {
				mr_buf_addf(err, "cannot resolve '%s': the symbolic link '%s' is met twice (a loop)", shown, lshown);
				rc = -ELOOP;
				break;
			}
			if (++hops > MR_ROOT_TREE_LINKS_MAX) {
				mr_buf_addf(err, "cannot resolve '%s': more than %d symbolic links (the last '%s')", shown,
					    MR_ROOT_TREE_LINKS_MAX, lshown);
				rc = -ELOOP;
				break;
			}
			const char *base;
			int pfd = mr_root_parent(r, cur.ptr, &base);
			char target[PATH_MAX];
			ssize_t tl = pfd < 0 ? -1 : readlinkat(pfd, base, target, sizeof(target) - 1);
			int e = pfd < 0 ? -pfd : errno;
			if (pfd >= 0)
				close(pfd);
			if (tl < 0) {
				mr_buf_addf(err, "cannot read the symbolic link '%s': %s", lshown, strerror(e));
				rc = -e;
				break;
			}
			target[tl] = '\0';
			if (tl == 0 || memchr(target, '\0', (size_t)tl) || target[0] == '/') {
				mr_buf_addf(err,
					    "cannot resolve '%s': the symbolic link '%s' is %s; only a relative link that stays in '%s' "
					    "is followed",
					    shown, lshown, tl == 0 || memchr(target, '\0', (size_t)tl) ? "empty" : "absolute", tshown);
				rc = -EXDEV;
				break;
			}
			/* continue from the link's directory with its target, then what was left */
			path_pop(&cur);
			struct mr_buf next = MR_BUF_INIT;
			mr_buf_addf(&next, "/%s%s", target, todo.ptr + at);
			mr_buf_release(&todo);
			todo = next;
			at = 0;
			continue;
		}
		if (!last && !S_ISDIR(st.st_mode)) {
			free(lshown);
			lshown = mr_root_full(r, cur.ptr);
			mr_buf_addf(err, "cannot resolve '%s': '%s' is not a directory", shown, lshown);
			rc = -ENOTDIR;
		}
	}
	if (rc == 0 && !under_tree(tree, cur.ptr)) { /* cannot happen: '..' stops at tree */
		mr_buf_addf(err, "cannot resolve '%s': it leaves '%s'", shown, tshown);
		rc = -EXDEV;
	}
	if (rc == 0) {
		mr_buf_reset(out);
		mr_buf_add(out, cur.ptr, cur.len);
	}
	free(shown);
	free(tshown);
	free(lshown);
	mr_buf_release(&cur);
	mr_buf_release(&todo);
	mr_buf_release(&seen);
	return rc;
}

/* ---- files ---- */

/* Open path and check it for mr_root_read: a descriptor, or -errno with a message. */
static int open_checked(struct mr_root *r, const char *path, size_t max, struct stat *stp, struct mr_buf *err)
{
	int fd = mr_root_openat(r, path, O_RDONLY | O_NONBLOCK, 0);
	char *shown = NULL;
	if (fd < 0) {
		shown = mr_root_full(r, path);
		if (fd == -ELOOP)
			loop_msg(r, path, err);
		else
			mr_buf_addf(err, "cannot open '%s': %s", shown, strerror(-fd));
		free(shown);
		return fd;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
	} else if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
	} else if ((unsigned long long)st.st_size > max) {
		rc = -EFBIG;
	}
	if (rc < 0) {
		shown = mr_root_full(r, path);
		if (rc == -EISDIR)
			mr_buf_addf(err, "'%s' is a directory, not a file", shown);
		else if (rc == -EINVAL)
			mr_buf_addf(err, "'%s' is not a regular file", shown);
		else if (rc == -EFBIG)
			mr_buf_addf(err, "'%s' is too large (%lld bytes; the limit is %zu MiB)", shown, (long long)st.st_size,
				    max >> 20);
		else
			mr_buf_addf(err, "cannot stat '%s': %s", shown, strerror(-rc));
		free(shown);
		close(fd);
		return rc;
	}
	*stp = st;
	return fd;
}

int mr_root_read(struct mr_root *r, const char *path, size_t max, struct mr_buf *out, struct stat *stp,
		 struct mr_buf *err)
{
	struct stat st;
	int fd = open_checked(r, path, max, &st, err);
	char *shown = NULL;
	if (fd < 0)
		return fd;
	mr_buf_reset(out);
	mr_buf_grow(out, (size_t)st.st_size);
	for (;;) {
		if (out->len > max) { /* the file grew while it was read */
			shown = mr_root_full(r, path);
			mr_buf_addf(err, "'%s' is too large (the limit is %zu MiB)", shown, max >> 20);
			free(shown);
			close(fd);
			return -EFBIG;
		}
		mr_buf_grow(out, 65536);
		ssize_t n = read(fd, out->ptr + out->len, out->cap - out->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			shown = mr_root_full(r, path);
			mr_buf_addf(err, "cannot read '%s': %s", shown, strerror(e));
			free(shown);
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	out->ptr[out->len] = '\0';
	close(fd);
	*stp = st;
	return 0;
}

int mr_root_open_file_in(struct mr_root *r, const char *path, size_t max, struct mr_file_in *in, struct stat *stp,
			 struct mr_buf *err)
{
	struct stat st;
	int fd = open_checked(r, path, max, &st, err);
	if (fd < 0)
		return fd;
	*in = (struct mr_file_in){ fd, max, (uint64_t)st.st_size, 0, 0, mr_root_full(r, path) };
	if (stp)
		*stp = st;
	return 0;
}

/* ---- directories ---- */

static int settle_dir(int pfd, const char *name, unsigned mode, int64_t uid, int64_t gid)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	static _Thread_local uid_t euid = (uid_t)-1; /* asked once per thread, not once per directory */
	if (euid == (uid_t)-1)
		euid = geteuid();
	/* still the directory this process made: a swap in between is refused */
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (st.st_uid != euid)
		rc = -EPERM;
	else if ((uid >= 0 || gid >= 0) &&
		 fchown(fd, uid >= 0 ? (uid_t)uid : (uid_t)-1, gid >= 0 ? (gid_t)gid : (gid_t)-1) < 0)
		rc = -errno;
	else if ((st.st_mode & 07777) != (mode_t)mode && fchmod(fd, (mode_t)mode) < 0)
		rc = -errno; /* a home (0700) is made with its mode already: no fchmod */
	close(fd);
	return rc;
}

int mr_root_mkdir(struct mr_root *r, const char *path, unsigned mode, int64_t uid, int64_t gid)
{
	const char *base;
	int pfd = mr_root_parent(r, path, &base);
	if (pfd < 0)
		return pfd;
	int rc = 0;
	if (mkdirat(pfd, base, 0700) < 0)
		rc = -errno;
	else
		rc = settle_dir(pfd, base, mode, uid, gid);
	close(pfd);
	return rc;
}

static bool one_name(const char *name)
{
	return *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int mr_root_lstat_in(int dirfd, const char *name, struct stat *st)
{
	if (dirfd < 0 || !one_name(name))
		return -EINVAL;
	return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int mr_root_open_in(int dirfd, const char *name, int flags)
{
	if (dirfd < 0 || !one_name(name))
		return -EINVAL;
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

int mr_root_mkdir_in(int dirfd, const char *name, unsigned mode, int64_t uid, int64_t gid)
{
	if (dirfd < 0 || !one_name(name))
		return -EINVAL;
	if (mkdirat(dirfd, name, 0700) < 0)
		return -errno;
	return settle_dir(dirfd, name, mode, uid, gid);
}

/* The process's umask, read once from /proc/self/status (umask(2) would change it for a
 * moment under other threads); -1 when it cannot be read. */
static int process_umask(void)
{
	static int cached = -2;
	if (cached != -2)
		return cached;
	int m = -1;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[4096];
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len > 0) {
			buf[len] = '\0';
			const char *u = strstr(buf, "\nUmask:");
			if (u) {
				char *end;
				long v = strtol(u + 8, &end, 8);
				if (end != u + 8 && v >= 0 && v <= 0777)
					m = (int)v;
			}
		}
	}
	cached = m;
	return m;
}

/* The calling thread's filesystem ids (setfsuid/setfsgid are per thread); true when both
 * are now the ones asked for (each call returns the previous id: asking again reads it). */
static bool set_fs_ids(uid_t uid, gid_t gid)
{
	setfsgid(gid);
	setfsuid(uid);
	return (uid_t)setfsuid(uid) == uid && (gid_t)setfsgid(gid) == gid;
}

/* Root's filesystem ids back, the uid first; true when they were uid and gid until now.  Going
 * back to the effective ids is always permitted, and each call returns the id it replaces, so
 * this needs no further call to know that the window ran with the owner's ids. */
static bool restore_fs_ids(uid_t euid, gid_t egid, uid_t uid, gid_t gid)
{
	uid_t u = (uid_t)setfsuid(euid);
	gid_t g = (gid_t)setfsgid(egid);
	return u == uid && g == gid;
}

/*
 * Safety, thinking as the tenant who owns dirfd (/var/www/OWNER/data/email/DOMAIN) and may
 * rename, replace or chmod anything in it at any time:
 * - Each mkdirat acts on the descriptor and one name: no path is resolved, no link is
 *   followed (an existing name, a link included, is EEXIST and left alone), and a rename of
 *   the directory meanwhile only moves where the new entry appears: into the same directory
 *   object, which stays the tenant's.
 * - It runs with the tenant's own filesystem credentials: when the filesystem uid goes from
 *   0 to another, the kernel drops CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_FOWNER and the other
 *   filesystem capabilities from the thread's effective set.  So the call can do only what
 *   the tenant could do itself in its own directory (its quota is charged, as the fchown
 *   charged it), and whatever the tenant changes can at worst make it fail (EACCES, EEXIST:
 *   the caller then looks and refuses as before).  A set-group-ID bit or a default ACL put on
 *   the directory after it was checked gives the new directory a group or ACL the tenant
 *   chose -- what the tenant can give its own directory anyway.
 * - Root's ids come back before the function returns (going back to the effective ids is
 *   always permitted; the ids they replace are checked to be the owner's); should anything
 *   be wrong the process stops rather than go on with the wrong credentials.  Nothing else runs in between: no
 *   other call of this layer, no allocation that could take a lock a signal handler holds.
 * The old way (mkdirat as root, then open, fstat, fchown, close) gives the same directory
 * with four more system calls, and the inode written twice.
 */
int mr_root_mkdirs_as(int dirfd, const char *const *names, size_t n, unsigned mode, int64_t uid, int64_t gid,
		      int *rc)
{
	if (dirfd < 0 || uid <= 0 || gid <= 0 || uid >= (int64_t)UINT32_MAX || gid >= (int64_t)UINT32_MAX ||
	    (mode & ~0777u) != 0)
		return -EINVAL;
	static _Thread_local uid_t euid = (uid_t)-1;
	static _Thread_local gid_t egid;
	if (euid == (uid_t)-1) {
		euid = geteuid();
		egid = getegid();
	}
	int um = process_umask();
	if (euid != 0 || um < 0 || (mode & (unsigned)um) != 0)
		return -ENOTSUP;
	struct stat st;
	if (fstat(dirfd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || (int64_t)st.st_uid != uid || (st.st_mode & S_ISGID))
		return -EPERM;
	for (size_t i = 0; i < n; i++)
		if (!one_name(names[i]))
			return -EINVAL;
	/* the fault seam per name, as before each mkdirat; looked at before the ids change */
	for (size_t i = 0; i < n; i++)
		rc[i] = mr_fault_check("mkdir") < 0 ? -errno : 1;
	if (!set_fs_ids((uid_t)uid, (gid_t)gid)) {
		restore_fs_ids(euid, egid, (uid_t)uid, (gid_t)gid);
		if ((uid_t)setfsuid(euid) != euid || (gid_t)setfsgid(egid) != egid)
			abort(); /* never go on with a tenant's credentials */
		return -EPERM;
	}
	for (size_t i = 0; i < n; i++)
		if (rc[i] == 1)
			rc[i] = mkdirat(dirfd, names[i], (mode_t)mode) < 0 ? -errno : 0;
	if (!restore_fs_ids(euid, egid, (uid_t)uid, (gid_t)gid))
		abort(); /* the ids changed under the window: nothing can be trusted to be whose it is */
	return 0;
}

int mr_root_mkdirs(struct mr_root *r, const char *dir, unsigned mode, struct mr_buf *err)
{
	if (!mr_root_clean(dir)) {
		mr_buf_addf(err, "'%s' is not a clean path below the root", dir);
		return -EINVAL;
	}
	int fd = walk_dirs(r, dir + 1, true, mode);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	char *shown = mr_root_full(r, dir);
	if (fd == -ELOOP) {
		mr_buf_addf(err, "cannot create '%s': ", shown);
		loop_msg(r, dir, err);
	} else if (fd == -ENOTDIR) {
		mr_buf_addf(err, "cannot create '%s': something on the way is not a directory", shown);
	} else {
		mr_buf_addf(err, "cannot create directory '%s': %s", shown, strerror(-fd));
	}
	free(shown);
	return fd;
}

int mr_root_rename(struct mr_root *r, const char *from, const char *to, bool noreplace)
{
	const char *bf, *bt;
	int pf = mr_root_parent(r, from, &bf);
	if (pf < 0)
		return pf;
	int pt = mr_root_parent(r, to, &bt);
	if (pt < 0) {
		close(pf);
		return pt;
	}
	int rc = 0;
	if (renameat2(pf, bf, pt, bt, noreplace ? RENAME_NOREPLACE : 0) < 0) {
		rc = -errno;
		if (noreplace && (rc == -EINVAL || rc == -ENOSYS)) {
			/* the filesystem cannot do it atomically: look first */
			struct stat st;
			if (fstatat(pt, bt, &st, AT_SYMLINK_NOFOLLOW) == 0)
				rc = -EEXIST;
			else
				rc = renameat(pf, bf, pt, bt) < 0 ? -errno : 0;
		}
	}
	close(pf);
	close(pt);
	return rc;
}

static int unlink_flags(struct mr_root *r, const char *path, int flags)
{
	const char *base;
	int pfd = mr_root_parent(r, path, &base);
	if (pfd < 0)
		return pfd;
	int rc = unlinkat(pfd, base, flags) < 0 ? -errno : 0;
	close(pfd);
	return rc;
}

int mr_root_unlink(struct mr_root *r, const char *path)
{
	return unlink_flags(r, path, 0);
}

int mr_root_rmdir(struct mr_root *r, const char *path)
{
	return unlink_flags(r, path, AT_REMOVEDIR);
}

int mr_root_sync_dir(struct mr_root *r, const char *dir)
{
	int fd = mr_root_openat(r, dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	/* EINVAL: the filesystem cannot sync a directory */
	int rc = fsync(fd) < 0 && errno != EINVAL ? -errno : 0;
	close(fd);
	return rc;
}

int mr_root_sync_fs(struct mr_root *r, const char *dir, dev_t *dev)
{
	int fd = mr_root_openat(r, dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0 && dev)
		*dev = st.st_dev;
	if (rc == 0 && syncfs(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory open at fd (which is consumed), sorted. */
static int list_fd(int fd, struct mr_pathlist *names)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	size_t first = names->n;
	struct dirent *de;
	int rc = 0;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		mr_pathlist_add(names, de->d_name);
	}
	if (errno)
		rc = -errno;
	closedir(d);
	if (names->n - first > 1)
		qsort(names->v + first, names->n - first, sizeof(*names->v), cmp_names);
	return rc;
}

int mr_root_list(struct mr_root *r, const char *dir, struct mr_pathlist *names)
{
	int fd = mr_root_openat(r, dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	return list_fd(fd, names);
}

/* ---- trees ---- */

/* The path of an entry deep in a tree, for messages: ROOT + path + "/" + rel. */
static void tree_msg(struct mr_root *r, const char *path, const char *rel, struct mr_buf *err, const char *verb, int e)
{
	if (!err)
		return;
	char *shown = mr_root_full(r, path);
	const char *why = e == EXDEV ? "it is on another filesystem (a mount point); refused"
			  : e == ELOOP ? "a symbolic link, or nested too deep; refused"
				       : strerror(e);
	/* rel is the tenant's names: escaped, so none of its bytes can act on a terminal */
	mr_buf_addf(err, "cannot %s '%s%s", verb, shown, rel && *rel ? "/" : "");
	if (rel)
		mr_buf_adds_printable(err, rel);
	mr_buf_addf(err, "': %s", why);
	free(shown);
}

struct tree;
static void tmsg(struct tree *t, const char *verb, int e);

struct tree {
	struct mr_root *r;
	const char *top;     /* the tree's path below the root */
	dev_t dev;           /* its filesystem: never left */
	struct mr_buf rel;   /* the entry's path below top, for messages */
	struct mr_buf *err;
	bool said;           /* a message is in err already: the first failure is the one told */
	size_t *skipped;
	int64_t from_uid, uid, gid;
};

/* The first failure in a tree is the one told. */
static void tmsg(struct tree *t, const char *verb, int e)
{
	if (!t->said)
		tree_msg(t->r, t->top, t->rel.ptr, t->err, verb, e);
	t->said = true;
}

static void rel_push(struct mr_buf *rel, const char *name, size_t *mark)
{
	*mark = rel->len;
	if (rel->len)
		mr_buf_addc(rel, '/');
	mr_buf_adds(rel, name);
}

static void rel_pop(struct mr_buf *rel, size_t mark)
{
	rel->len = mark;
	if (rel->ptr)
		rel->ptr[mark] = '\0';
}

/* Open a sub-directory of dfd for reading: no link, same filesystem. */
static int open_subdir(struct tree *t, int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (st.st_dev != t->dev) {
		close(fd);
		return -EXDEV;
	}
	return fd;
}

static int remove_contents(struct tree *t, int dfd, int depth)
{
	if (depth > TREE_DEPTH_MAX) {
		tmsg(t, "remove", ELOOP);
		return -ELOOP;
	}
	struct mr_pathlist names = MR_PATHLIST_INIT;
	int dup_fd = dup(dfd);
	int rc = dup_fd < 0 ? -errno : list_fd(dup_fd, &names);
	if (rc < 0)
		tmsg(t, "read directory", -rc);
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		const char *name = names.v[i];
		size_t mark;
		rel_push(&t->rel, name, &mark);
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errno == ENOENT ? 0 : -errno;
		} else if (S_ISDIR(st.st_mode)) {
			int cfd = open_subdir(t, dfd, name);
			if (cfd < 0) {
				rc = cfd;
			} else {
				rc = remove_contents(t, cfd, depth + 1);
				close(cfd);
				if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0)
					rc = -errno;
			}
		} else if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
			rc = -errno;
		}
		if (rc < 0)
			tmsg(t, "remove", -rc);
		rel_pop(&t->rel, mark);
	}
	mr_pathlist_release(&names);
	return rc;
}

int mr_root_remove_tree(struct mr_root *r, const char *path, struct mr_buf *err)
{
	const char *base;
	if (!mr_root_clean(path) || !path[1]) {
		mr_buf_addf(err, "'%s' cannot be removed: not a clean path below the root", path);
		return -EINVAL;
	}
	int pfd = mr_root_parent(r, path, &base);
	if (pfd < 0) {
		if (pfd == -ENOENT)
			return 0;
		tree_msg(r, path, NULL, err, "remove", -pfd);
		return pfd;
	}
	struct stat st, pst;
	int rc = 0;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = errno == ENOENT ? 0 : -errno;
		if (rc < 0)
			tree_msg(r, path, NULL, err, "remove", -rc);
	} else if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT) {
			rc = -errno;
			tree_msg(r, path, NULL, err, "remove", -rc);
		}
	} else if (fstat(pfd, &pst) < 0 || pst.st_dev != st.st_dev) {
		rc = -EXDEV;
		tree_msg(r, path, NULL, err, "remove", EXDEV);
	} else {
		struct tree t = { .r = r, .top = path, .dev = st.st_dev, .rel = MR_BUF_INIT, .err = err };
		int fd = open_subdir(&t, pfd, base);
		if (fd < 0) {
			rc = fd;
			tree_msg(r, path, NULL, err, "remove", -rc);
		} else {
			rc = remove_contents(&t, fd, 0);
			close(fd);
			if (rc == 0 && unlinkat(pfd, base, AT_REMOVEDIR) < 0) {
				rc = -errno;
				tree_msg(r, path, NULL, err, "remove", -rc);
			}
		}
		mr_buf_release(&t.rel);
	}
	close(pfd);
	return rc;
}

/* Give one entry (dfd/name, or dfd itself when name is NULL) the new owner if it is from_uid's. */
static int copy_data(int in, int out, off_t size);

/*
 * A file of the old owner with other names (a hard link elsewhere in its tree): chowning
 * it would give the new owner a file the old one can still write through its other name,
 * and leave it the old owner's would let the old owner write into the new owner's mail.
 * It is replaced by a copy of its own, the new owner's.
 */
static int replace_linked(struct tree *t, int dfd, const char *name, const struct stat *st)
{
	int in = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return -errno;
	struct stat now;
	struct mr_buf tmp = MR_BUF_INIT;
	mr_buf_addf(&tmp, ".%.200s.mailrecon-own", name);
	int rc = 0, out = -1;
	if (fstat(in, &now) < 0 || now.st_ino != st->st_ino || !S_ISREG(now.st_mode))
		rc = -EAGAIN; /* swapped meanwhile: left for the next walk */
	else if (unlinkat(dfd, tmp.ptr, 0) < 0 && errno != ENOENT)
		rc = -errno;
	else if ((out = openat(dfd, tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		rc = -errno;
	if (rc == 0)
		rc = copy_data(in, out, now.st_size);
	struct timespec times[2] = { now.st_atim, now.st_mtim };
	if (rc == 0 && (fchown(out, (uid_t)t->uid, t->gid >= 0 ? (gid_t)t->gid : now.st_gid) < 0 ||
			fchmod(out, now.st_mode & 0777) < 0 || futimens(out, times) < 0 || fsync(out) < 0))
		rc = -errno;
	if (rc == 0 && renameat(dfd, tmp.ptr, dfd, name) < 0)
		rc = -errno;
	if (rc < 0 && out >= 0)
		unlinkat(dfd, tmp.ptr, 0);
	if (out >= 0)
		close(out);
	close(in);
	mr_buf_release(&tmp);
	return rc == -EAGAIN ? 0 : rc;
}

/* Give one entry (dfd/name, or dfd itself when name is NULL) the new owner if it is from_uid's. */
static int chown_one(struct tree *t, int dfd, const char *name)
{
	int fd = name ? openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC) : dfd;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
	} else if ((int64_t)st.st_uid == t->uid && (t->gid < 0 || (int64_t)st.st_gid == t->gid)) {
		/* done already (a recovery runs this again) */
	} else if ((int64_t)st.st_uid != t->from_uid) {
		(*t->skipped)++;
	} else if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		if (name && S_ISREG(st.st_mode))
			rc = replace_linked(t, dfd, name, &st);
		else
			(*t->skipped)++;
	} else if (fchownat(fd, "", (uid_t)t->uid, t->gid >= 0 ? (gid_t)t->gid : (gid_t)-1,
			    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
	}
	if (name)
		close(fd);
	return rc;
}

static int chown_contents(struct tree *t, int dfd, int depth)
{
	if (depth > TREE_DEPTH_MAX)
		return -ELOOP;
	struct mr_pathlist names = MR_PATHLIST_INIT;
	int dup_fd = dup(dfd);
	int rc = dup_fd < 0 ? -errno : list_fd(dup_fd, &names);
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		const char *name = names.v[i];
		size_t mark;
		rel_push(&t->rel, name, &mark);
		struct stat st;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errno == ENOENT ? 0 : -errno;
		} else if (S_ISDIR(st.st_mode)) {
			int cfd = open_subdir(t, dfd, name);
			if (cfd < 0) {
				rc = cfd;
			} else {
				rc = chown_one(t, cfd, NULL);
				if (rc == 0)
					rc = chown_contents(t, cfd, depth + 1);
				close(cfd);
			}
		} else {
			rc = chown_one(t, dfd, name);
		}
		if (rc < 0)
			tmsg(t, "give a new owner to", -rc);
		rel_pop(&t->rel, mark);
	}
	mr_pathlist_release(&names);
	return rc;
}

/* Open a tree's top directory: not a link, not a mount point below its parent. */
static int open_top(struct tree *t, const char *path)
{
	const char *base;
	int pfd = mr_root_parent(t->r, path, &base);
	if (pfd < 0)
		return pfd;
	int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	close(pfd);
	if (fd < 0)
		return -e;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	t->dev = st.st_dev;
	return fd;
}

int mr_root_chown_tree(struct mr_root *r, const char *path, int64_t from_uid, int64_t uid, int64_t gid,
		       size_t *skipped, struct mr_buf *err)
{
	size_t ignored = 0;
	struct tree t = { .r = r, .top = path, .rel = MR_BUF_INIT, .err = err, .skipped = skipped ? skipped : &ignored,
			  .from_uid = from_uid, .uid = uid, .gid = gid };
	int fd = open_top(&t, path);
	if (fd < 0) {
		tree_msg(r, path, NULL, err, "give a new owner to", -fd);
		return fd;
	}
	int rc = chown_one(&t, fd, NULL);
	if (rc < 0)
		tree_msg(r, path, NULL, err, "give a new owner to", -rc);
	else
		rc = chown_contents(&t, fd, 0);
	close(fd);
	mr_buf_release(&t.rel);
	return rc;
}

static int copy_meta(int fd, const struct stat *st)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	if (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0 || futimens(fd, times) < 0)
		return -errno;
	return 0;
}

/*
 * Copy at most size bytes of in to out, keeping holes (a sparse file stays sparse: a tenant's
 * terabyte of nothing is not a terabyte in the archive).
 */
static int copy_data(int in, int out, off_t size)
{
	char buf[65536];
	off_t pos = 0;
	while (pos < size) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		if (data < 0)
			data = pos; /* no SEEK_DATA here: copy everything */
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		for (off_t at = data; at < hole;) {
			size_t want = (size_t)(hole - at) < sizeof(buf) ? (size_t)(hole - at) : sizeof(buf);
			ssize_t n = pread(in, buf, want, at);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0) { /* the file shrank */
				hole = at;
				break;
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t w = pwrite(out, buf + off, (size_t)(n - off), at + off);
				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0)
					return -errno;
				off += w;
			}
			at += n;
		}
		pos = hole;
	}
	return ftruncate(out, size) < 0 ? -errno : 0;
}

static int copy_file(int sfd_dir, int dfd_dir, const char *name, const struct stat *st)
{
	int in = openat(sfd_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return -errno;
	struct stat now;
	if (fstat(in, &now) < 0 || !S_ISREG(now.st_mode)) { /* swapped for a FIFO meanwhile */
		close(in);
		return -EINVAL;
	}
	int out = openat(dfd_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		int e = errno;
		close(in);
		return -e;
	}
	/* at most the size seen: a file that grows while it is copied does not grow the copy */
	int rc = copy_data(in, out, now.st_size < st->st_size ? now.st_size : st->st_size);
	if (rc == 0)
		rc = copy_meta(out, st);
	if (rc == 0 && fsync(out) < 0)
		rc = -errno;
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int copy_contents(struct tree *t, int sfd, int dfd, int depth)
{
	if (depth > TREE_DEPTH_MAX)
		return -ELOOP;
	struct mr_pathlist names = MR_PATHLIST_INIT;
	int dup_fd = dup(sfd);
	int rc = dup_fd < 0 ? -errno : list_fd(dup_fd, &names);
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		const char *name = names.v[i];
		size_t mark;
		rel_push(&t->rel, name, &mark);
		struct stat st;
		if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errno == ENOENT ? 0 : -errno;
		} else if (S_ISDIR(st.st_mode)) {
			int cs = open_subdir(t, sfd, name);
			if (cs < 0) {
				rc = cs;
			} else if (mkdirat(dfd, name, 0700) < 0) {
				rc = -errno;
				close(cs);
			} else {
				int cd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (cd < 0) {
					rc = -errno;
				} else {
					rc = copy_contents(t, cs, cd, depth + 1);
					if (rc == 0)
						rc = copy_meta(cd, &st);
					if (rc == 0 && fsync(cd) < 0)
						rc = -errno;
					close(cd);
				}
				close(cs);
			}
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(sfd, dfd, name, &st);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(sfd, name, target, sizeof(target) - 1);
			if (n < 0) {
				rc = -errno;
			} else {
				target[n] = '\0';
				if (symlinkat(target, dfd, name) < 0 ||
				    fchownat(dfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
					rc = -errno;
			}
		} else {
			(*t->skipped)++; /* a FIFO or a socket: nothing of mail */
		}
		if (rc < 0)
			tmsg(t, "copy", -rc);
		rel_pop(&t->rel, mark);
	}
	mr_pathlist_release(&names);
	return rc;
}

int mr_root_copy_tree(struct mr_root *r, const char *from, const char *to, size_t *skipped, struct mr_buf *err)
{
	size_t ignored = 0;
	struct tree t = { .r = r, .top = from, .rel = MR_BUF_INIT, .err = err, .skipped = skipped ? skipped : &ignored };
	int sfd = open_top(&t, from);
	if (sfd < 0) {
		tree_msg(r, from, NULL, err, "copy", -sfd);
		return sfd;
	}
	struct stat st;
	int rc = fstat(sfd, &st) < 0 ? -errno : 0;
	const char *base;
	int pfd = rc == 0 ? mr_root_parent(r, to, &base) : rc;
	if (pfd < 0) {
		rc = pfd;
		tree_msg(r, to, NULL, err, "create", -rc);
	} else {
		if (mkdirat(pfd, base, 0700) < 0) {
			rc = -errno;
			tree_msg(r, to, NULL, err, "create", -rc);
		} else {
			int dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (dfd < 0) {
				rc = -errno;
				tree_msg(r, to, NULL, err, "open", -rc);
			} else {
				rc = copy_contents(&t, sfd, dfd, 0);
				if (rc == 0)
					rc = copy_meta(dfd, &st);
				if (rc == 0 && fsync(dfd) < 0)
					rc = -errno;
				close(dfd);
			}
		}
		close(pfd);
	}
	close(sfd);
	mr_buf_release(&t.rel);
	return rc;
}

static int same_file(int ad, int bd, const char *name)
{
	int a = openat(ad, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	int b = a < 0 ? -1 : openat(bd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	int rc = a < 0 || b < 0 ? -errno : 1;
	char x[16384], y[16384];
	while (rc == 1) {
		ssize_t n = read(a, x, sizeof(x));
		if (n < 0) {
			rc = -errno;
			break;
		}
		ssize_t got = 0;
		while (got < n) {
			ssize_t m = read(b, y + got, (size_t)(n - got));
			if (m <= 0)
				break;
			got += m;
		}
		if (got != n || memcmp(x, y, (size_t)n) != 0)
			rc = 0;
		else if (n == 0)
			break;
	}
	if (rc == 1 && read(b, y, 1) != 0)
		rc = 0;
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return rc;
}

static int same_contents(int ad, int bd, int depth)
{
	if (depth > TREE_DEPTH_MAX)
		return -ELOOP;
	struct mr_pathlist an = MR_PATHLIST_INIT, bn = MR_PATHLIST_INIT;
	int fa = dup(ad), fb = dup(bd);
	int rc = fa < 0 || fb < 0 ? -errno : 1;
	if (rc == 1 && (rc = list_fd(fa, &an)) == 0)
		rc = list_fd(fb, &bn);
	else if (fb >= 0)
		close(fb);
	/* what the copy leaves out (a FIFO, a socket: nothing of mail) is not compared */
	for (int side = 0; side < 2 && rc == 0; side++) {
		struct mr_pathlist *l = side ? &bn : &an;
		int dfd = side ? bd : ad;
		size_t k = 0;
		for (size_t i = 0; i < l->n; i++) {
			struct stat st;
			if (fstatat(dfd, l->v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
				free(l->v[i]);
			else
				l->v[k++] = l->v[i];
		}
		l->n = k;
	}
	if (rc == 0)
		rc = an.n == bn.n ? 1 : 0;
	for (size_t i = 0; i < an.n && rc == 1; i++) {
		const char *name = an.v[i];
		struct stat sa, sb;
		if (strcmp(name, bn.v[i]) != 0) {
			rc = 0;
		} else if (fstatat(ad, name, &sa, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(bd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
		} else if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT) || sa.st_uid != sb.st_uid ||
			   sa.st_gid != sb.st_gid || (!S_ISLNK(sa.st_mode) && sa.st_mode != sb.st_mode)) {
			rc = 0;
		} else if (S_ISDIR(sa.st_mode)) {
			int ca = openat(ad, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int cb = ca < 0 ? -1 : openat(bd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			rc = ca < 0 || cb < 0 ? -errno : same_contents(ca, cb, depth + 1);
			if (ca >= 0)
				close(ca);
			if (cb >= 0)
				close(cb);
		} else if (S_ISREG(sa.st_mode)) {
			rc = sa.st_size != sb.st_size ? 0 : same_file(ad, bd, name);
		} else if (S_ISLNK(sa.st_mode)) {
			char x[4096], y[4096];
			ssize_t n = readlinkat(ad, name, x, sizeof(x)), m = readlinkat(bd, name, y, sizeof(y));
			rc = n >= 0 && n == m && memcmp(x, y, (size_t)n) == 0 ? 1 : 0;
		}
	}
	mr_pathlist_release(&an);
	mr_pathlist_release(&bn);
	return rc;
}

int mr_root_same_tree(struct mr_root *r, const char *a, const char *b)
{
	int ad = mr_root_openat(r, a, O_RDONLY | O_DIRECTORY, 0);
	if (ad < 0)
		return ad;
	int bd = mr_root_openat(r, b, O_RDONLY | O_DIRECTORY, 0);
	if (bd < 0) {
		close(ad);
		return bd;
	}
	int rc = same_contents(ad, bd, 0);
	close(ad);
	close(bd);
	return rc;
}

/* ---- disk use of a tree (mailrecon usage) ---- */

struct usage_walk {
	struct mr_tree_usage *u;
	size_t max_entries;
	unsigned max_depth;
	dev_t dev;                 /* the tree's filesystem: no other is entered */
	struct mr_strmap seen;     /* "DEV:INO" of files with more than one link: counted once */
	struct mr_arena keys;
	bool stop;
};

/* Walk the directory open at fd (taken over: closed here), depth levels below the top. */
static void usage_dir(struct usage_walk *w, int fd, unsigned depth)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		w->u->unreadable++;
		return;
	}
	struct dirent *de;
	while (!w->stop && (de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (w->u->entries >= w->max_entries) {
			w->u->complete = false;
			w->stop = true;
			break;
		}
		w->u->entries++;
		struct stat st;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		if (S_ISLNK(st.st_mode)) {
			w->u->links++; /* never followed, never counted: the tenant's link may point anywhere */
		} else if (S_ISREG(st.st_mode)) {
			if (st.st_nlink > 1) {
				char *k = mr_arena_printf(&w->keys, "%llu:%llu", (unsigned long long)st.st_dev,
							  (unsigned long long)st.st_ino);
				if (mr_strmap_put_new(&w->seen, k, strlen(k), k)) {
					w->u->hardlinked++; /* another name of a file counted already */
					continue;
				}
			}
			w->u->files++;
			w->u->bytes += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != w->dev) {
				w->u->other++; /* a mount point: another filesystem is not the mailbox's */
				continue;
			}
			if (depth + 1 > w->max_depth) {
				w->u->complete = false;
				continue;
			}
			int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			struct stat now;
			if (sub < 0 || fstat(sub, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
				/* swapped for a link or another directory between the two looks: not entered */
				if (sub >= 0)
					close(sub);
				w->u->unreadable++;
				continue;
			}
			w->u->dirs++;
			usage_dir(w, sub, depth + 1);
		} else {
			w->u->other++; /* a FIFO, socket or device: never opened */
		}
	}
	closedir(d);
}

int mr_root_tree_usage(struct mr_root *r, const char *path, size_t max_entries, unsigned max_depth,
		       struct mr_tree_usage *out)
{
	memset(out, 0, sizeof(*out));
	out->complete = true;
	int fd = mr_root_openat(r, path, O_RDONLY | O_DIRECTORY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct usage_walk w = { .u = out, .max_entries = max_entries, .max_depth = max_depth, .dev = st.st_dev,
				.seen = MR_STRMAP_INIT };
	w.keys = (struct mr_arena)MR_ARENA_INIT;
	usage_dir(&w, fd, 0);
	mr_strmap_release(&w.seen);
	mr_arena_release(&w.keys);
	return 0;
}
