#include "apply/txn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/digest.h"
#include "util/arena.h"
#include "util/faults.h"
#include "util/fs.h"
#include "util/strmap.h"
#include "util/strutil.h"
#include "util/xalloc.h"

#define JOURNAL_HEADER "mailrecon-journal 2"
#define JOURNAL_HEADER_V1 "mailrecon-journal 1"
#define JOURNAL_MAGIC "mailrecon-journal "
#define JOURNAL_MAX ((size_t)256 << 20)
#define TMP_MARK ".mailrecon-tmp."
#define COPY_MARK ".mailrecon-copy"
#define MOVING_MARK ".mailrecon-moving"
/* how much of a target's name goes into its temp file's name, to stay within NAME_MAX */
#define TMP_BASE_MAX 200
#define HOME_PREFIX "/var/www/"

enum op_kind { OP_WRITE, OP_UNLINK, OP_MKHOME, OP_MVHOME, OP_PURGE, OP_KINDS };

static const char *const op_names[OP_KINDS] = { "write", "unlink", "mkhome", "mvhome", "purge" };
/* paths and numbers each kind has in the journal */
static const int op_paths[OP_KINDS] = { 2, 1, 1, 2, 1 };
static const int op_nums[OP_KINDS] = { 0, 0, 2, 3, 0 };

struct op {
	enum op_kind kind;
	char *a;      /* write: the staged file; unlink, mkhome, purge: the path; mvhome: from */
	char *b;      /* write: the target; mvhome: to */
	int64_t n[3]; /* mkhome: uid, gid; mvhome: the old owner's uid (-1: unknown), uid, gid */
};

struct oplist {
	struct op *v;
	size_t n, cap;
};

/*
 * The directories above homes that walk_home() found good in this transaction, one map for
 * checking and one for making (a check does not give a root-owned directory to its owner;
 * making does): path -> the owner's uid + 1 it was good for.  A first apply of 100,000
 * mailboxes in 10,000 domains checks /var/www/OWNER/data/email/DOMAIN once per domain, not
 * once per mailbox.  Only a cheaper second look is skipped: every operation below still
 * resolves its path without following a link (rootfs), so a directory a tenant swaps for a
 * link afterwards is refused there just the same.
 */
struct home_seen {
	struct mr_strmap good[2];
	struct mr_strmap absent; /* checking: directories above homes found missing (made at commit) */
	struct mr_strmap ready;  /* commit: homes made or found in place (key: the op's path) */
	struct mr_arena keys;
	char *pdir; /* the last home's parent, held open as pfd (-1: none) */
	int pfd;
	bool pmake;
	int64_t puid;
	/* homes made together as their owner (premake): ops [pre_lo, pre_hi) below pre_fd, and
	 * what mkdirat said for each */
	int pre_fd;
	size_t pre_lo, pre_hi;
	int *pre_rc;
	size_t pre_cap;
};

/* Directories to sync, each once, in the order first named. */
struct dirset {
	struct mr_pathlist l;
	struct mr_strmap seen; /* keys are l's strings */
};

#define DIRSET_INIT { MR_PATHLIST_INIT, MR_STRMAP_INIT }

static void dirset_release(struct dirset *d)
{
	mr_strmap_release(&d->seen);
	mr_pathlist_release(&d->l);
}

struct expect {
	char *path;
	bool exists;
	unsigned char sha256[32];
	size_t len;
	struct stat st;
};

enum txn_state {
	TXN_OPEN,      /* staging; abort removes the staged files */
	TXN_KEPT,      /* a commit failed after touching something live: journal and staged files stay */
	TXN_COMMITTED, /* done */
};

struct mr_txn {
	struct mr_root *root;
	char *journal;
	struct oplist ops;
	struct expect *expects;
	size_t nexpects, expects_cap;
	enum txn_state state;
	struct mr_buf notes; /* home operations left alone at commit, one sentence each */
	size_t nnotes;
	struct mr_buf done;  /* home operations done at commit, one line each */
	struct mr_pathlist made; /* directories staging created, outermost first; abort removes them */
	struct mr_strmap mkhomes;  /* home -> its OP_MKHOME: each home staged once */
	struct home_seen *seen;    /* mutable under a const transaction */
	struct mr_pathlist links;  /* targets whose root-owned symbolic link may be replaced */
};

/* numbers the temp files of this process (the N of ".NAME.mailrecon-tmp.PID.N") */
static unsigned tmp_seq;

static void oplist_add(struct oplist *l, enum op_kind kind, const char *a, const char *b, int64_t n0, int64_t n1,
		       int64_t n2)
{
	l->v = xgrow(l->v, sizeof(*l->v), l->n + 1, &l->cap);
	l->v[l->n++] = (struct op){ kind, xstrdup(a), b ? xstrdup(b) : NULL, { n0, n1, n2 } };
}

static void oplist_release(struct oplist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].a);
		free(l->v[i].b);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* a and b are the same path, or one is below the other. */
static bool overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (memcmp(a, b, la < lb ? la : lb) != 0)
		return false;
	return la == lb || (la < lb ? b[la] == '/' : a[lb] == '/');
}

/* Both in the same directory. */
static bool same_dir(const char *a, const char *b)
{
	size_t la = (size_t)(base_name(a) - a), lb = (size_t)(base_name(b) - b);
	return la == lb && memcmp(a, b, la) == 0;
}

/* The PID in a temp file's name ".NAME.mailrecon-tmp.PID.N", or 0 when base is not one. */
static long temp_pid(const char *base)
{
	if (base[0] != '.')
		return 0;
	const char *m = NULL;
	for (const char *s = base; (s = strstr(s, TMP_MARK)) != NULL; s++)
		m = s;
	if (!m || m < base + 2)
		return 0;
	const char *s = m + strlen(TMP_MARK);
	long pid = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (pid > 100000000)
			return 0;
		pid = pid * 10 + (*s - '0');
	}
	if (pid <= 0 || *s != '.' || s[1] < '0' || s[1] > '9')
		return 0;
	for (s++; *s >= '0' && *s <= '9'; s++)
		;
	return *s ? 0 : pid;
}

static char *shown(const struct mr_txn *t, const char *path)
{
	return mr_root_full(t->root, path);
}

/* "cannot VERB 'ROOT+path': strerror(e)" */
static void fail_msg(const struct mr_txn *t, struct mr_buf *err, const char *verb, const char *path, int e)
{
	char *s = shown(t, path);
	if (e == ELOOP)
		mr_buf_addf(err, "cannot %s '%s': it is a symbolic link or is reached through one; refused", verb, s);
	else
		mr_buf_addf(err, "cannot %s '%s': %s", verb, s, strerror(e));
	free(s);
}

/* "PRE'ROOT+a'MID'ROOT+b'POST" */
static void two_msg(const struct mr_txn *t, struct mr_buf *err, const char *pre, const char *a, const char *mid,
		    const char *b, const char *post)
{
	char *x = shown(t, a), *y = shown(t, b);
	mr_buf_addf(err, "%s'%s'%s'%s'%s", pre, x, mid, y, post);
	free(x);
	free(y);
}

static int sync_fd(int fd)
{
	if (mr_fault_check("fsync") < 0)
		return -1;
	return fsync(fd);
}

static int sync_dir(const struct mr_txn *t, const char *dir, struct mr_buf *err)
{
	if (mr_fault_check("fsync") < 0) {
		fail_msg(t, err, "sync directory", dir, errno);
		return -1;
	}
	int rc = mr_root_sync_dir(t->root, dir);
	if (rc < 0) {
		fail_msg(t, err, "sync directory", dir, -rc);
		return -1;
	}
	return 0;
}

/* Remember the directory holding path (once). */
static void dirs_add(struct dirset *dirs, const char *path)
{
	char *d = mr_path_dirname(path);
	size_t n = strlen(d);
	if (!mr_strmap_get(&dirs->seen, d, n)) {
		mr_pathlist_add(&dirs->l, d);
		const char *k = dirs->l.v[dirs->l.n - 1];
		mr_strmap_put_new(&dirs->seen, k, n, (void *)k);
	}
	free(d);
}

static int dirs_sync(const struct mr_txn *t, const struct dirset *dirs, struct mr_buf *err)
{
	for (size_t i = 0; i < dirs->l.n; i++)
		if (sync_dir(t, dirs->l.v[i], err) < 0)
			return -1;
	return 0;
}

/*
 * The directories home operations touched: in tenants' trees and the archive.  Synced as well
 * as they can be: one that is gone (a tenant removed a home before it was archived, so its
 * archive directory was never made) or that a tenant made a link has nothing of mailrecon's
 * to persist, and a home operation never fails the transaction.
 */
#define HOME_SYNC_EACH 64 /* directories synced one by one; above it, their filesystems */

static void home_dirs_sync(const struct mr_txn *t, const struct dirset *dirs)
{
	if (dirs->l.n > HOME_SYNC_EACH) {
		/* thousands of domain directories (a first apply): one syncfs per filesystem they
		 * are on, found by their device, instead of an fsync each */
		dev_t devs[8];
		size_t ndevs = 0;
		for (size_t i = 0; i < dirs->l.n; i++) {
			struct stat st;
			if (mr_root_lstat(t->root, dirs->l.v[i], &st) < 0 || !S_ISDIR(st.st_mode))
				continue;
			size_t k = 0;
			while (k < ndevs && devs[k] != st.st_dev)
				k++;
			if (k < ndevs)
				continue;
			dev_t dev;
			if (ndevs < sizeof(devs) / sizeof(devs[0]) && mr_root_sync_fs(t->root, dirs->l.v[i], &dev) == 0)
				devs[ndevs++] = dev;
			else
				(void)mr_root_sync_dir(t->root, dirs->l.v[i]);
		}
		return;
	}
	for (size_t i = 0; i < dirs->l.n; i++)
		(void)mr_root_sync_dir(t->root, dirs->l.v[i]);
	(void)t;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		if (mr_fault_check("write") < 0)
			return -1;
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The checks every staged path goes through. */
static int check_path(const struct mr_txn *t, const char *path, struct mr_buf *err)
{
	if (t->state != TXN_OPEN) {
		mr_buf_addf(err, "cannot stage '%s': the transaction was already committed", path);
		return -1;
	}
	if (!mr_root_clean(path) || !path[1]) {
		mr_buf_addf(err, "'%s' is not a clean absolute path below the root; refused", path);
		return -1;
	}
	for (size_t i = 0; i < t->ops.n; i++) {
		const struct op *o = &t->ops.v[i];
		if (o->kind == OP_MKHOME)
			continue; /* it only makes what is missing: any order is the same */
		const char *p = o->kind == OP_WRITE ? o->b : o->a;
		if (!overlap(p, path))
			p = o->kind == OP_MVHOME && overlap(o->b, path) ? o->b : NULL;
		if (p) {
			mr_buf_addf(err, "'%s' is changed twice in one apply (with '%s'); refused", path, p);
			return -1;
		}
	}
	return 0;
}

/* An existing file that apply may replace or remove: not a link, a directory or a device --
 * but a root-owned link at a target given to mr_txn_replace_link, which is replaced. */
static int check_file(const struct mr_txn *t, const char *path, const struct stat *st, struct mr_buf *err)
{
	if (S_ISLNK(st->st_mode) && st->st_uid == 0)
		for (size_t i = 0; i < t->links.n; i++)
			if (strcmp(t->links.v[i], path) == 0)
				return 0;
	const char *why = S_ISLNK(st->st_mode)	 ? "is a symbolic link; refused (mailrecon never follows one)"
			  : S_ISDIR(st->st_mode) ? "is a directory, not a file; refused"
			  : !S_ISREG(st->st_mode) ? "is not a regular file; refused"
						  : NULL;
	if (!why)
		return 0;
	char *s = shown(t, path);
	mr_buf_addf(err, "'%s' %s", s, why);
	free(s);
	return -1;
}

/* lstat below the root: 1 exists (*st filled), 0 absent, -1 with a message. */
/* lstat of path, below the held descriptor pfd of its parent when there is one (pfd >= 0):
 * 1 there, 0 absent, -1 said */
static int look_in(const struct mr_txn *t, int pfd, const char *path, struct stat *st, struct mr_buf *err)
{
	int rc = pfd < 0 ? mr_root_lstat(t->root, path, st) : mr_root_lstat_in(pfd, strrchr(path, '/') + 1, st);
	if (rc == 0)
		return 1;
	if (rc == -ENOENT)
		return 0;
	fail_msg(t, err, "stat", path, -rc);
	return -1;
}

static int look(const struct mr_txn *t, const char *path, struct stat *st, struct mr_buf *err)
{
	return look_in(t, -1, path, st, err);
}

struct mr_txn *mr_txn_begin(struct mr_root *root, const char *journal_path)
{
	struct mr_txn *t = xcalloc(1, sizeof(*t));
	t->seen = xcalloc(1, sizeof(*t->seen));
	t->seen->pfd = -1;
	t->seen->pre_fd = -1;
	t->root = root;
	t->journal = xstrdup(journal_path);
	return t;
}

void mr_txn_expect(struct mr_txn *t, const char *path, const unsigned char *sha256, size_t len, const struct stat *st)
{
	t->expects = xgrow(t->expects, sizeof(*t->expects), t->nexpects + 1, &t->expects_cap);
	struct expect *e = &t->expects[t->nexpects++];
	memset(e, 0, sizeof(*e));
	e->path = xstrdup(path);
	e->exists = sha256 != NULL;
	if (sha256)
		memcpy(e->sha256, sha256, 32);
	e->len = len;
	if (st)
		e->st = *st;
}

int mr_txn_mkdirs(struct mr_txn *t, const char *dir, unsigned mode, struct mr_buf *err)
{
	if (t->state != TXN_OPEN) {
		mr_buf_addf(err, "internal error: the transaction is not open");
		return -1;
	}
	/* the missing directories, outermost first: everything below the first missing one */
	struct mr_pathlist missing = MR_PATHLIST_INIT;
	if (mr_root_clean(dir)) {
		struct stat st;
		bool gone = false;
		for (const char *p = dir + 1; *p; p++) {
			if (p[1] != '/' && p[1] != '\0')
				continue;
			char *prefix = xstrndup(dir, (size_t)(p + 1 - dir));
			if (gone || (gone = mr_root_lstat(t->root, prefix, &st) == -ENOENT))
				mr_pathlist_add(&missing, prefix);
			free(prefix);
		}
	}
	int rc = mr_root_mkdirs(t->root, dir, mode, err) < 0 ? -1 : 0;
	for (size_t i = 0; i < missing.n; i++)
		mr_pathlist_add(&t->made, missing.v[i]);
	mr_pathlist_release(&missing);
	return rc;
}

int mr_txn_write(struct mr_txn *t, const char *target, const void *data, size_t len,
		 unsigned mode, int64_t uid, int64_t gid, struct mr_buf *err)
{
	if (check_path(t, target, err) < 0)
		return -1;
	if (mode > 07777) {
		mr_buf_addf(err, "cannot write '%s': %o is not a file mode", target, mode);
		return -1;
	}
	char *dir = mr_path_dirname(target);
	struct stat st;
	bool had_target = false;
	struct timespec old_mtime = { 0, 0 };
	/* the directory as the resolver reaches it (a safe link on the way is followed) */
	int dfd = mr_root_dirfd(t->root, dir), r = 1;
	if (dfd >= 0) {
		close(dfd);
	} else {
		if (dfd == -ELOOP)
			fail_msg(t, err, "write into", dir, ELOOP);
		else {
			char *s = shown(t, dir);
			mr_buf_addf(err, dfd == -ENOENT ? "directory '%s' does not exist" : "'%s' is not a directory", s);
			free(s);
		}
		r = -1;
	}
	if (r > 0 && (r = look(t, target, &st, err)) > 0) {
		r = check_file(t, target, &st, err) < 0 ? -1 : 1;
		had_target = true;
		old_mtime = st.st_mtim;
	}
	if (r < 0) {
		free(dir);
		return -1;
	}

	const char *base = base_name(target);
	size_t bl = strlen(base);
	if (bl > TMP_BASE_MAX)
		bl = TMP_BASE_MAX;
	char *tmp = NULL;
	int fd = -1;
	for (int tries = 0; fd < 0; tries++) {
		struct mr_buf name = MR_BUF_INIT;
		mr_buf_addf(&name, ".%.*s" TMP_MARK "%ld.%u", (int)bl, base, (long)getpid(), ++tmp_seq);
		free(tmp);
		tmp = mr_path_join(dir, name.ptr);
		mr_buf_release(&name);
		int e = 0;
		if (mr_fault_check("open") < 0)
			e = errno;
		else if ((fd = mr_root_openat(t->root, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
			e = -fd;
		if (fd < 0 && (e != EEXIST || tries > 1000)) {
			char *s = shown(t, tmp), *g = shown(t, target);
			mr_buf_addf(err, "cannot create '%s' (the new '%s'): %s", s, g, strerror(e));
			free(s);
			free(g);
			free(tmp);
			free(dir);
			return -1;
		}
	}
	free(dir);

	/* owner and mode before the content: it is never readable by anyone it should not be */
	const char *step;
	int e;
	if ((uid >= 0 || gid >= 0) &&
	    (mr_fault_check("fchown") < 0 ||
	     fchown(fd, uid >= 0 ? (uid_t)uid : (uid_t)-1, gid >= 0 ? (gid_t)gid : (gid_t)-1) < 0)) {
		e = errno;
		struct mr_buf tail = MR_BUF_INIT;
		mr_buf_addf(&tail, ") the owner %lld:%lld: %s", (long long)uid, (long long)gid, strerror(e));
		two_msg(t, err, "cannot give the new ", target, " (staged as ", tmp, tail.ptr);
		mr_buf_release(&tail);
		goto fail;
	}
	if (mr_fault_check("fchmod") < 0 || fchmod(fd, (mode_t)mode) < 0) {
		e = errno;
		struct mr_buf tail = MR_BUF_INIT;
		mr_buf_addf(&tail, ") the mode %04o: %s", mode, strerror(e));
		two_msg(t, err, "cannot give the new ", target, " (staged as ", tmp, tail.ptr);
		mr_buf_release(&tail);
		goto fail;
	}
	mr_crash_point();
	step = "write";
	if (write_all(fd, data, len) < 0)
		goto fail_io;
	/* readers such as Dovecot's passwd-file notice a change by whole-second mtime (and
	 * size): a file replaced within the second it was last written must still look newer */
	struct stat nst;
	if (had_target && fstat(fd, &nst) == 0 && nst.st_mtim.tv_sec <= old_mtime.tv_sec) {
		struct timespec times[2] = { { 0, UTIME_OMIT }, { old_mtime.tv_sec + 1, 0 } };
		futimens(fd, times);
	}
	step = "sync";
	if (sync_fd(fd) < 0)
		goto fail_io;
	step = "write";
	e = close(fd);
	fd = -1;
	if (e < 0)
		goto fail_io;
	oplist_add(&t->ops, OP_WRITE, tmp, target, 0, 0, 0);
	free(tmp);
	mr_crash_point();
	return 0;

fail_io:
	e = errno;
	{
		struct mr_buf pre = MR_BUF_INIT, tail = MR_BUF_INIT;
		mr_buf_addf(&pre, "cannot %s the new ", step);
		mr_buf_addf(&tail, "): %s", strerror(e));
		two_msg(t, err, pre.ptr, target, " (staged as ", tmp, tail.ptr);
		mr_buf_release(&pre);
		mr_buf_release(&tail);
	}
fail:
	if (fd >= 0)
		close(fd);
	mr_root_unlink(t->root, tmp);
	free(tmp);
	return -1;
}

void mr_txn_replace_link(struct mr_txn *t, const char *target)
{
	mr_pathlist_add(&t->links, target);
}

int mr_txn_unlink(struct mr_txn *t, const char *target, struct mr_buf *err)
{
	if (check_path(t, target, err) < 0)
		return -1;
	struct stat st;
	int r = look(t, target, &st, err);
	if (r < 0 || (r > 0 && check_file(t, target, &st, err) < 0))
		return -1;
	oplist_add(&t->ops, OP_UNLINK, target, NULL, 0, 0, 0);
	return 0;
}

/* ---- mailbox homes ---- */

/* How many components a home path has below /var/www (OWNER/data/email/DOMAIN[/LOCAL]: 4 or 5), or 0. */
static int home_depth(const char *home)
{
	if (strncmp(home, HOME_PREFIX, strlen(HOME_PREFIX)) != 0 || !mr_root_clean(home))
		return 0;
	int n = 1;
	const char *p = home + strlen(HOME_PREFIX);
	for (const char *s = p; *s; s++)
		n += *s == '/';
	const char *second = strchr(p, '/');
	if (!second || strncmp(second, "/data/email/", 12) != 0 || (n != 4 && n != 5))
		return 0;
	return n;
}

/*
 * An archive entry: ".../archive/ADDRESS/STAMP" (or version 1's ".../archive/DATE/ADDRESS"):
 * two names below a directory "archive", one of them an address.
 */
static bool archive_entry(const char *p)
{
	const char *a = strstr(p, "/archive/");
	if (!a)
		return false;
	const char *x = a + 9, *slash = strchr(x, '/');
	if (!slash || slash == x || !slash[1] || strchr(slash + 1, '/'))
		return false;
	return memchr(x, '@', (size_t)(slash - x)) || strchr(slash + 1, '@');
}

/* What a home moves between: a home and a home (an owner change), or a home and an archive entry. */
static bool home_move(const char *from, const char *to)
{
	bool fh = home_depth(from) == 5, th = home_depth(to) == 5;
	return (fh && (th || archive_entry(to))) || (th && archive_entry(from));
}

/*
 * Check (make == false) or make (make == true) the directories of a home, from /var/www
 * down.  An existing one at or below /var/www/OWNER must be a directory of uid or of root.
 */
static void seen_good(const struct mr_txn *t, bool make, int k, int depth, const struct mr_buf *p, int64_t uid)
{
	if (k >= depth || uid < 0)
		return; /* the home itself is looked at every time */
	struct home_seen *h = t->seen;
	char *key = mr_arena_strndup(&h->keys, p->ptr, p->len);
	mr_strmap_set(&h->good[make], key, p->len, (void *)(uintptr_t)(uid + 1));
}

/*
 * The held descriptor of a home's parent (the domain directory), for the last one walked in
 * this mode and for this owner: opened through rootfs as any directory is, and good only while
 * it is still a directory of the owner or root.  -1 when there is none to hold.
 */
static int held_parent(const struct mr_txn *t, bool make, const char *dir, size_t len, int64_t uid)
{
	struct home_seen *h = t->seen;
	if (h->pfd >= 0 && h->pmake == make && h->puid == uid && h->pdir && strlen(h->pdir) == len &&
	    memcmp(h->pdir, dir, len) == 0)
		return h->pfd;
	if (h->pfd >= 0)
		close(h->pfd);
	free(h->pdir);
	h->pdir = xstrndup(dir, len);
	h->pmake = make;
	h->puid = uid;
	h->pfd = mr_root_dirfd(t->root, h->pdir);
	struct stat st;
	if (h->pfd >= 0 && (fstat(h->pfd, &st) < 0 || !S_ISDIR(st.st_mode) ||
			    (st.st_uid != 0 && (int64_t)st.st_uid != uid))) {
		close(h->pfd);
		h->pfd = -1; /* changed since it was checked: the walk by name says why */
	}
	return h->pfd;
}

/* mr_root_mkdir() of path, below the held parent pfd when there is one */
static int mkdir_in(const struct mr_txn *t, int pfd, const char *path, unsigned mode, int64_t uid, int64_t gid)
{
	if (pfd < 0)
		return mr_root_mkdir(t->root, path, mode, uid, gid);
	return mr_root_mkdir_in(pfd, strrchr(path, '/') + 1, mode, uid, gid);
}

#define PREMAKE_MAX 1024 /* homes made in one go as their owner */

/*
 * The mkdirat result for the home of o, made below the held parent pfd (the directory
 * dir[0..dlen)) as its owner: true with *m set, false when the caller makes it as root
 * (mkdir_in).  A first apply makes 100,000 homes in 10,000 domain directories; homes come
 * domain by domain, so the first home of a domain makes the homes of the MKHOME operations
 * that follow it in the journal with the same parent and owner, in one mr_root_mkdirs_as:
 * one mkdirat each, with no open, fstat, fchown and close per home.  Their walks then find
 * the result here.  A home made ahead of its own operation is in the journal already (it was
 * written before the first operation ran), so a crash in between leaves what recovery takes
 * for a home that was there: it converges the same way.
 */
static bool premade(const struct mr_txn *t, const struct op *o, int pfd, const char *dir, size_t dlen, unsigned mode,
		    int *m)
{
	struct home_seen *h = t->seen;
	if (o < t->ops.v || o >= t->ops.v + t->ops.n)
		return false;
	size_t idx = (size_t)(o - t->ops.v);
	if (h->pre_fd != pfd || idx < h->pre_lo || idx >= h->pre_hi) {
		/* a new batch: this home and the ones after it in the same directory, same owner */
		size_t end = idx;
		while (end < t->ops.n && end - idx < PREMAKE_MAX) {
			const struct op *x = &t->ops.v[end];
			const char *slash = x->kind == OP_MKHOME ? strrchr(x->a, '/') : NULL;
			if (!slash || x->n[0] != o->n[0] || x->n[1] != o->n[1] || (size_t)(slash - x->a) != dlen ||
			    memcmp(x->a, dir, dlen) != 0 || home_depth(x->a) != home_depth(o->a) ||
			    mr_strmap_get(&h->ready, x->a, strlen(x->a)))
				break;
			end++;
		}
		const char **names = xmalloc((end - idx) * sizeof(*names));
		for (size_t j = idx; j < end; j++)
			names[j - idx] = strrchr(t->ops.v[j].a, '/') + 1;
		h->pre_rc = xgrow(h->pre_rc, sizeof(*h->pre_rc), end - idx, &h->pre_cap);
		int rc = mr_root_mkdirs_as(pfd, names, end - idx, mode, o->n[0], o->n[1], h->pre_rc);
		free(names);
		h->pre_fd = -1;
		if (rc < 0)
			return false; /* cannot be made as the owner here: each as root, as before */
		h->pre_fd = pfd;
		h->pre_lo = idx;
		h->pre_hi = end;
	}
	*m = h->pre_rc[idx - h->pre_lo];
	/* refused to the owner (a tenant took its own write permission away): root makes it,
	 * as it did before homes were made as their owner (its fault seam was looked at) */
	if (*m == -EACCES || *m == -EPERM)
		*m = mkdir_in(t, pfd, o->a, mode, o->n[0], o->n[1]);
	return true;
}

/*
 * Check (make == false) or make (make == true) the directories of a home, from /var/www
 * down.  An existing one at or below /var/www/OWNER must be a directory of uid or of root.
 * *existed (when given) tells whether the home itself was there before.
 */
static int walk_home(const struct mr_txn *t, const struct op *o, bool make, bool *existed, struct mr_buf *err)
{
	const char *home = o->a;
	int depth = home_depth(home);
	struct mr_buf p = MR_BUF_INIT;
	mr_buf_adds(&p, "/var/www");
	int rc = 0;
	size_t parent_len = 0;
	const char *rest = home + strlen(HOME_PREFIX);
	if (existed)
		*existed = false;
	for (int k = 0; k <= depth && rc == 0; k++) {
		if (k > 0) {
			const char *slash = strchr(rest, '/');
			size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
			parent_len = p.len;
			mr_buf_addc(&p, '/');
			mr_buf_add(&p, rest, n);
			rest += n + (slash ? 1 : 0);
		}
		/* a directory above the home found good for this owner already */
		struct mr_strmap *good = &t->seen->good[make];
		void *g = k < depth ? mr_strmap_get(good, p.ptr, p.len) : NULL;
		/* /var/www (k == 0) is looked at for what it is, never for whose: good for every owner */
		if (g && (k == 0 || (int64_t)(uintptr_t)g == o->n[0] + 1))
			continue;
		if (!make && k < depth && mr_strmap_get(&t->seen->absent, p.ptr, p.len))
			break; /* missing when an earlier home was checked: made at commit */
		/* the home itself: below its parent's held descriptor */
		int pfd = k == depth && depth > 0 ? held_parent(t, make, p.ptr, parent_len, o->n[0]) : -1;
		struct stat st;
		/* a home to make is made first and looked at only when it was there (EEXIST below):
		 * on a first apply that is one lstat fewer per mailbox */
		int r = make && k == depth && pfd >= 0 ? 0 : look_in(t, pfd, p.ptr, &st, err);
		if (r < 0) {
			rc = -1;
			break;
		}
		if (r > 0 && k == depth && existed)
			*existed = true;
		if (r == 0) {
			if (!make) {
				if (k < depth) /* and so is everything below it, for the next homes */
					mr_strmap_put_new(&t->seen->absent, mr_arena_strndup(&t->seen->keys, p.ptr, p.len), p.len,
							  (void *)1);
				break; /* the rest is made at commit */
			}
			unsigned mode = k == 0 ? 0755 : k == 5 ? 0700 : 0750;
			int64_t uid = k == 0 ? -1 : o->n[0], gid = k == 0 ? -1 : o->n[1];
			int m;
			if (!(make && k == depth && pfd >= 0 && premade(t, o, pfd, p.ptr, parent_len, mode, &m)))
				m = mr_fault_check("mkdir") < 0 ? -errno : mkdir_in(t, pfd, p.ptr, mode, uid, gid);
			if (m == -EEXIST && (r = look_in(t, pfd, p.ptr, &st, err)) > 0) {
				/* there already, or made by someone else meanwhile: checked below like any
				 * existing one */
				if (k == depth && existed)
					*existed = true;
			} else if (m < 0) {
				fail_msg(t, err, "create", p.ptr, -m);
				rc = -1;
				break;
			} else {
				mr_crash_point();
				seen_good(t, make, k, depth, &p, o->n[0]);
				continue;
			}
		}
		const char *why = S_ISLNK(st.st_mode)	? "is a symbolic link (mailrecon never follows one)"
				  : !S_ISDIR(st.st_mode) ? "is not a directory"
				  : k > 0 && st.st_uid != 0 && (int64_t)st.st_uid != o->n[0] ? "belongs to another user"
											    : NULL;
		if (!why && make && k >= 2 && st.st_uid == 0) {
			/* root's below /var/www/OWNER: one this process (or a run that died) made and had
			 * not given away yet -- the owner's now, through its descriptor */
			int fd = pfd >= 0 ? mr_root_open_in(pfd, strrchr(p.ptr, '/') + 1, O_RDONLY | O_DIRECTORY)
					  : mr_root_openat(t->root, p.ptr, O_RDONLY | O_DIRECTORY, 0);
			struct stat now;
			if (fd < 0 || fstat(fd, &now) < 0 || now.st_uid != 0 ||
			    fchown(fd, (uid_t)o->n[0], (gid_t)o->n[1]) < 0 || fchmod(fd, k == 5 ? 0700 : 0750) < 0) {
				fail_msg(t, err, "give its owner", p.ptr, fd < 0 ? -fd : errno);
				rc = -1;
			}
			if (fd >= 0)
				close(fd);
			if (rc == 0)
				seen_good(t, make, k, depth, &p, o->n[0]);
			continue;
		}
		if (why) {
			char *s = shown(t, p.ptr);
			mr_buf_addf(err, "cannot make the mailbox home '%s': '%s' %s (uid %u, wanted %lld); refused", home, s,
				    why, (unsigned)st.st_uid, (long long)o->n[0]);
			free(s);
			rc = -1;
		} else {
			seen_good(t, make, k, depth, &p, o->n[0]);
		}
	}
	mr_buf_release(&p);
	return rc;
}

int mr_txn_mkhome(struct mr_txn *t, const char *home, int64_t uid, int64_t gid, struct mr_buf *err)
{
	if (t->state != TXN_OPEN) {
		mr_buf_addf(err, "cannot stage '%s': the transaction was already committed", home);
		return -1;
	}
	if (!home_depth(home) || uid < 0 || gid < 0) {
		mr_buf_addf(err, "'%s' is not a mailbox home (/var/www/OWNER/data/email/DOMAIN/LOCAL) with an owner; refused",
			    home);
		return -1;
	}
	if (mr_strmap_get(&t->mkhomes, home, strlen(home)))
		return 0;
	struct op o = { OP_MKHOME, (char *)home, NULL, { uid, gid, 0 } };
	if (walk_home(t, &o, false, NULL, err) < 0)
		return -1;
	oplist_add(&t->ops, OP_MKHOME, home, NULL, uid, gid, 0);
	const char *k = t->ops.v[t->ops.n - 1].a; /* stays where it is while ops.v grows */
	mr_strmap_put_new(&t->mkhomes, k, strlen(k), (void *)k);
	return 0;
}

int mr_txn_mvhome(struct mr_txn *t, const char *from, const char *to, int64_t uid, int64_t gid, bool *moved,
		  struct mr_buf *err)
{
	if (moved)
		*moved = false;
	if (check_path(t, from, err) < 0 || check_path(t, to, err) < 0)
		return -1;
	if (overlap(from, to)) {
		two_msg(t, err, "cannot move ", from, " to ", to, ": one is inside the other");
		return -1;
	}
	if (!home_move(from, to)) {
		mr_buf_addf(err, "cannot move '%s' to '%s': a home moves only to a home or an archive entry; refused", from, to);
		return -1;
	}
	struct stat st;
	int r = look(t, from, &st, err);
	if (r <= 0)
		return r; /* absent: nothing to move */
	if (!S_ISDIR(st.st_mode)) {
		char *s = shown(t, from);
		mr_buf_addf(err, "cannot move '%s': it is not a directory; refused", s);
		free(s);
		return -1;
	}
	int64_t from_uid = st.st_uid;
	if ((r = look(t, to, &st, err)) != 0) {
		if (r > 0) {
			two_msg(t, err, "cannot move ", from, " to ", to, ": the target already exists");
		}
		return -1;
	}
	oplist_add(&t->ops, OP_MVHOME, from, to, from_uid, uid, gid);
	if (moved)
		*moved = true;
	return 0;
}

int mr_txn_purge(struct mr_txn *t, const char *path, struct mr_buf *err)
{
	if (check_path(t, path, err) < 0)
		return -1;
	if (home_depth(path) != 5) {
		mr_buf_addf(err, "cannot purge '%s': only a mailbox home is ever purged; refused", path);
		return -1;
	}
	oplist_add(&t->ops, OP_PURGE, path, NULL, 0, 0, 0);
	return 0;
}

/* A name beside path: "DIR/.BASE" + mark. */
static char *beside(const char *path, const char *mark)
{
	char *dir = mr_path_dirname(path);
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_addf(&b, "%s/.%s%s", strcmp(dir, "/") ? dir : "", base_name(path), mark);
	free(dir);
	return mr_buf_detach(&b);
}

/*
 * A move across filesystems: the original is first renamed aside on its own filesystem
 * (".NAME.mailrecon-moving"), so nothing written to its path meanwhile (a delivery) is in
 * the tree being copied and then removed; that tree is copied beside the target
 * (".NAME.mailrecon-copy"), the copy checked equal to it, renamed into place, and only then
 * the original removed.  Each step can be redone: a run that finds the original aside goes on
 * from there.  On failure the original goes back to its path (nothing is lost).
 */
static int move_across(const struct mr_txn *t, const struct op *o, struct mr_buf *note, struct mr_buf *err)
{
	char *aside = beside(o->a, MOVING_MARK), *copy = beside(o->b, COPY_MARK), *parent = mr_path_dirname(o->b);
	struct stat st;
	int rc = mr_root_mkdirs(t->root, parent, 0700, err);
	free(parent);
	if (rc < 0)
		goto out;
	if (mr_root_lstat(t->root, aside, &st) == -ENOENT)
		rc = mr_root_rename(t->root, o->a, aside, true);
	if (rc < 0) {
		fail_msg(t, err, "set aside", o->a, -rc);
		goto out;
	}
	mr_crash_point();
	size_t skipped = 0;
	rc = mr_root_remove_tree(t->root, copy, err); /* a copy an earlier run did not finish */
	if (rc == 0)
		rc = mr_root_copy_tree(t->root, aside, copy, &skipped, err);
	if (rc == 0 && mr_root_same_tree(t->root, aside, copy) != 1) {
		two_msg(t, err, "cannot move ", o->a, " across filesystems: its copy ", copy,
			" differs from it (it changed meanwhile?)");
		rc = -1;
	}
	if (rc == 0 && (rc = mr_root_rename(t->root, copy, o->b, true)) < 0)
		fail_msg(t, err, "rename the copy", copy, -rc);
	if (rc < 0) {
		/* the original back at its path, as it was; the copy goes */
		struct mr_buf ignored = MR_BUF_INIT;
		mr_root_remove_tree(t->root, copy, &ignored);
		if (mr_root_rename(t->root, aside, o->a, true) < 0)
			two_msg(t, note, " The home ", o->a, " is kept as ", aside, " (its path was made again meanwhile).");
		mr_buf_release(&ignored);
		goto out;
	}
	mr_crash_point();
	rc = mr_root_remove_tree(t->root, aside, err);
	if (rc == 0 && mr_root_lstat(t->root, o->a, &st) == 0)
		two_msg(t, note, " ", o->a, " was made again while it moved to ", o->b,
			" (a delivery?): it is left in place.");
out:
	free(aside);
	free(copy);
	return rc < 0 ? -1 : 0;
}

/* The move itself: a rename, or across filesystems move_across. */
static int move_tree(const struct mr_txn *t, const struct op *o, struct mr_buf *note, struct mr_buf *err)
{
	char *parent = mr_path_dirname(o->b);
	int rc = mr_root_mkdirs(t->root, parent, 0700, err);
	free(parent);
	if (rc < 0)
		return -1;
	rc = mr_fault_check("rename") < 0 ? -errno : mr_root_rename(t->root, o->a, o->b, true);
	if (rc == 0)
		return 0;
	if (rc == -EXDEV)
		return move_across(t, o, note, err);
	two_msg(t, err, "cannot move ", o->a, " to ", o->b, "");
	mr_buf_addf(err, ": %s", strerror(-rc));
	return -1;
}

/* mvhome's last step: the old owner's entries become the new owner's. */
static int give_owner(const struct mr_txn *t, const struct op *o, struct mr_buf *err)
{
	if (o->n[1] < 0 || o->n[0] < 0 || o->n[0] == o->n[1])
		return 0;
	return mr_root_chown_tree(t->root, o->b, o->n[0], o->n[1], o->n[2], NULL, err) < 0 ? -1 : 0;
}

/* One home operation (never a reason to stop: see perform): 0 done, 1 nothing to do (a
 * home that was there already, a move or purge of something gone), -1 with err. */
static int perform_home(const struct mr_txn *t, const struct op *o, bool recovering, struct dirset *dirs,
			struct mr_buf *note, struct mr_buf *err)
{
	struct stat st, tst;
	int r, rt;
	switch (o->kind) {
	case OP_MKHOME: {
		bool was;
		if (walk_home(t, o, true, &was, err) < 0)
			return -1;
		mr_strmap_put_new(&t->seen->ready, o->a, strlen(o->a), (void *)1);
		dirs_add(dirs, o->a);
		return was ? 1 : 0;
	}
	case OP_PURGE:
		if ((r = look(t, o->a, &st, err)) <= 0)
			return r < 0 ? -1 : 1;
		if (mr_root_remove_tree(t->root, o->a, err) < 0)
			return -1;
		dirs_add(dirs, o->a);
		return 0;
	case OP_MVHOME: {
		char *aside = beside(o->a, MOVING_MARK);
		int ra = mr_root_lstat(t->root, aside, &st) == 0;
		free(aside);
		if ((r = look(t, o->a, &st, err)) < 0 || (rt = look(t, o->b, &tst, err)) < 0)
			return -1;
		if (ra && rt == 0) {
			/* a move across filesystems was interrupted after the original was set aside */
			if (move_across(t, o, note, err) < 0)
				return -1;
		} else if (ra && rt > 0) {
			/* ... after its copy was in place: only the original set aside is left to remove */
			char *a2 = beside(o->a, MOVING_MARK);
			int x = mr_root_remove_tree(t->root, a2, err);
			free(a2);
			if (x < 0)
				return -1;
		} else if (r == 0) {
			/* moved already (or gone): only the owner may be left to do */
			if (rt == 0)
				return 1; /* gone, and nothing at the target: nothing to do, nowhere to sync */
		} else if (rt > 0) {
			two_msg(t, note, " ", o->a, " was left in place: ", o->b, " already exists.");
			return 0;
		} else if (move_tree(t, o, note, err) < 0) {
			return -1;
		}
		if (o->n[1] >= 0)
			mr_crash_point(); /* moved, not yet the new owner's: recovery gives it */
		if (look(t, o->b, &tst, err) > 0 && give_owner(t, o, err) < 0)
			return -1;
		dirs_add(dirs, o->a);
		dirs_add(dirs, o->b);
		return 0;
	}
	case OP_WRITE:
	case OP_UNLINK:
	case OP_KINDS:
		break;
	}
	(void)recovering;
	return 0;
}

/*
 * Do one operation, remembering the directories it touched.  When recovering, work already
 * done is skipped: a staged file that is gone was renamed, an absent target was removed, a
 * home whose from is gone was moved.
 *
 * A home operation never fails the transaction: what it acts on is a tenant's tree, which the
 * tenant can make impossible to move, copy or remove (a FIFO, a tree nested too deep, a file
 * that keeps changing), and one tenant must not stop the whole server's apply -- nor leave a
 * journal no run can finish.  Its failure is a note ("left alone"), what was there stays
 * there, and the transaction goes on.
 */
static int perform(const struct mr_txn *t, const struct op *o, bool recovering, struct dirset *dirs,
		   struct dirset *hdirs, bool *idle, struct mr_buf *note, struct mr_buf *err)
{
	*idle = false;
	struct stat st;
	int r;
	switch (o->kind) {
	case OP_WRITE:
		if (recovering) {
			if ((r = look(t, o->a, &st, err)) <= 0)
				return r;
			if (check_file(t, o->a, &st, err) < 0)
				return -1;
		}
		r = mr_fault_check("rename") < 0 ? -errno : mr_root_rename(t->root, o->a, o->b, false);
		if (r < 0) {
			two_msg(t, err, "cannot rename ", o->a, " to ", o->b, "");
			mr_buf_addf(err, ": %s", strerror(-r));
			return -1;
		}
		dirs_add(dirs, o->b);
		return 0;
	case OP_UNLINK:
		r = mr_fault_check("unlink") < 0 ? -errno : mr_root_unlink(t->root, o->a);
		if (r < 0 && r != -ENOENT) {
			fail_msg(t, err, "remove", o->a, -r);
			return -1;
		}
		dirs_add(dirs, o->a);
		return 0;
	case OP_MKHOME:
	case OP_MVHOME:
	case OP_PURGE: {
		struct mr_buf why = MR_BUF_INIT;
		int h = perform_home(t, o, recovering, hdirs, note, &why);
		*idle = h > 0;
		if (h < 0) {
			char *x = shown(t, o->a);
			mr_buf_addf(note, " The storage at '%s' is left alone: %s.", x, why.ptr ? why.ptr : "?");
			free(x);
		}
		mr_buf_release(&why);
		return 0;
	}
	case OP_KINDS:
		break;
	}
	return 0;
}

/* Percent-escape everything but printable ASCII, and '%' itself: one word per path. */
static void put_path(struct mr_buf *b, const char *p)
{
	mr_buf_addc(b, ' ');
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || c == '%')
			mr_buf_addf(b, "%%%02X", c);
		else
			mr_buf_addc(b, (char)c);
	}
}

/* A path as put_path wrote it; NULL when it is not one. */
static char *get_path(const char *s, size_t n)
{
	struct mr_buf b = MR_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				goto bad;
			int hi = mr_hexval(s[i + 1]), lo = mr_hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad;
			mr_buf_addc(&b, (char)(hi << 4 | lo));
			i += 2;
		} else if (c <= 0x20 || c >= 0x7f) {
			goto bad;
		} else {
			mr_buf_addc(&b, (char)c);
		}
	}
	if (b.len > 0 && mr_root_clean(b.ptr) && b.ptr[1])
		return mr_buf_detach(&b);
bad:
	mr_buf_release(&b);
	return NULL;
}

static bool get_num(const char *s, size_t n, int64_t *out)
{
	char buf[24];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (*end || errno || v < -1 || v > UINT32_MAX)
		return false;
	*out = v;
	return true;
}

/*
 * A version 1 path was ROOT + path: take the root off (a journal of another root is not
 * ours to redo).
 */
static char *v1_path(const struct mr_root *root, char *p)
{
	if (!p || mr_root_is_slash(root))
		return p;
	const char *dir = mr_root_dir(root);
	size_t n = strlen(dir);
	char *out = NULL;
	if (strncmp(p, dir, n) == 0 && p[n] == '/' && p[n + 1])
		out = xstrdup(p + n);
	free(p);
	return out;
}

/* One operation line of a journal, checked; -1 when it is not one. */
static int parse_op(const struct mr_root *root, int version, const char *line, size_t n, struct oplist *ops)
{
	const char *w[7];
	size_t wl[7], nw = 0;
	for (size_t i = 0; i <= n && nw < 7;) {
		size_t j = i;
		while (j < n && line[j] != ' ')
			j++;
		w[nw] = line + i;
		wl[nw++] = j - i;
		i = j + 1;
	}
	if (nw < 2 || w[nw - 1] + wl[nw - 1] != line + n)
		return -1;
	int kind = -1;
	if (version == 1 && wl[0] == 4 && memcmp(w[0], "move", 4) == 0) {
		kind = OP_MVHOME; /* version 1 archived a home with "move FROM TO" */
	} else {
		for (int k = 0; k < (version == 1 ? OP_MKHOME : OP_KINDS); k++)
			if (wl[0] == strlen(op_names[k]) && memcmp(w[0], op_names[k], wl[0]) == 0)
				kind = k;
	}
	if (kind < 0)
		return -1;
	int np = op_paths[kind], nn = version == 1 ? 0 : op_nums[kind];
	if ((int)nw != 1 + np + nn)
		return -1;
	char *a = get_path(w[1], wl[1]);
	char *b = np > 1 ? get_path(w[2], wl[2]) : NULL;
	if (version == 1) {
		a = v1_path(root, a);
		b = v1_path(root, b);
	}
	int64_t num[3] = { -1, -1, -1 };
	bool ok = a && (np == 1 || b);
	for (int k = 0; k < nn && ok; k++)
		ok = get_num(w[1 + np + k], wl[1 + np + k], &num[k]);
	if (ok && kind == OP_WRITE)
		ok = same_dir(a, b) && temp_pid(base_name(a)) > 0;
	/* a home operation names only what homes.c makes them for: a mailbox home, or an archive
	 * entry (version 1's "move" archived a home) -- a journal is never a way to move or
	 * remove anything else */
	if (ok && kind == OP_MVHOME)
		ok = !overlap(a, b) && home_move(a, b);
	if (ok && kind == OP_PURGE)
		ok = home_depth(a) == 5;
	if (ok && kind == OP_MKHOME)
		ok = home_depth(a) > 0 && num[0] >= 0 && num[1] >= 0;
	if (ok)
		oplist_add(ops, (enum op_kind)kind, a, b, num[0], num[1], num[2]);
	free(a);
	free(b);
	return ok ? 0 : -1;
}

static void put_journal(struct mr_buf *j, const struct oplist *ops)
{
	mr_buf_adds(j, JOURNAL_HEADER "\n");
	for (size_t i = 0; i < ops->n; i++) {
		const struct op *o = &ops->v[i];
		mr_buf_adds(j, op_names[o->kind]);
		put_path(j, o->a);
		if (o->b)
			put_path(j, o->b);
		for (int k = 0; k < op_nums[o->kind]; k++)
			mr_buf_addf(j, " %" PRId64, o->n[k]);
		mr_buf_addc(j, '\n');
	}
}

/* Remove the journal and make that durable; -1 (with a message) only when it stays. */
static int remove_journal(const struct mr_txn *t, struct mr_buf *err)
{
	int r = mr_fault_check("unlink") < 0 ? -errno : mr_root_unlink(t->root, t->journal);
	if (r < 0) {
		char *s = shown(t, t->journal);
		mr_buf_addf(err, "cannot remove the journal '%s': %s", s, strerror(-r));
		free(s);
		return -1;
	}
	mr_crash_point();
	char *dir = mr_path_dirname(t->journal);
	/* not durable: a journal that comes back finds its work done */
	mr_root_sync_dir(t->root, dir);
	free(dir);
	return 0;
}

/* Write the journal, "end" last, and make it durable; on failure none is left. */
static int write_journal(const struct mr_txn *t, struct mr_buf *err)
{
	struct mr_buf j = MR_BUF_INIT;
	put_journal(&j, &t->ops);
	int fd = -1;
	if (mr_fault_check("open") < 0)
		fd = -errno;
	else
		fd = mr_root_openat(t->root, t->journal, O_WRONLY | O_CREAT | O_EXCL, 0600);
	char *s = shown(t, t->journal);
	if (fd < 0) {
		if (fd == -EEXIST)
			mr_buf_addf(err, "the journal '%s' already exists: an interrupted apply must be finished first", s);
		else
			mr_buf_addf(err, "cannot create the journal '%s': %s", s, strerror(-fd));
		mr_buf_release(&j);
		free(s);
		return -1;
	}
	const char *step = "write";
	int rc = write_all(fd, j.ptr, j.len);
	mr_buf_release(&j);
	if (rc == 0) {
		mr_crash_point(); /* a torn journal: no "end" yet */
		rc = write_all(fd, "end\n", 4);
	}
	if (rc == 0) {
		step = "sync";
		rc = sync_fd(fd);
	}
	if (rc == 0 && close(fd) < 0)
		rc = -1;
	else if (rc < 0)
		close(fd);
	if (rc < 0) {
		mr_buf_addf(err, "cannot %s the journal '%s': %s", step, s, strerror(errno));
		mr_root_unlink(t->root, t->journal);
		free(s);
		return -1;
	}
	free(s);
	mr_crash_point();
	char *dir = mr_path_dirname(t->journal);
	rc = sync_dir(t, dir, err);
	free(dir);
	if (rc < 0)
		mr_root_unlink(t->root, t->journal);
	return rc;
}

/* Every expected file is as it was read: 0, or MR_TXN_CHANGED naming the first that is not. */
static int recheck(const struct mr_txn *t, struct mr_buf *err)
{
	struct mr_buf now = MR_BUF_INIT, e2 = MR_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < t->nexpects && rc == 0; i++) {
		const struct expect *e = &t->expects[i];
		struct stat st;
		mr_buf_reset(&e2);
		int r = mr_root_read(t->root, e->path, e->exists ? e->len + 1 : 1, &now, &st, &e2);
		unsigned char sha[32];
		if (r == 0)
			mr_sha256_raw(now.ptr ? now.ptr : "", now.len, sha);
		bool same = e->exists ? r == 0 && now.len == e->len && memcmp(sha, e->sha256, 32) == 0 &&
						(st.st_mode & 07777) == (e->st.st_mode & 07777) && st.st_uid == e->st.st_uid &&
						st.st_gid == e->st.st_gid
				      : r == -ENOENT;
		if (!same) {
			char *s = shown(t, e->path);
			mr_buf_addf(err, "the live file '%s' changed during apply; nothing was changed", s);
			free(s);
			rc = MR_TXN_CHANGED;
		}
	}
	mr_buf_release(&now);
	mr_buf_release(&e2);
	return rc;
}

/*
 * Just before the journal, what staging checked must still hold: the journal must not
 * promise an operation that cannot be done, as recovery would then stop half-way.
 */
static int preflight(const struct mr_txn *t, const struct op *o, struct mr_buf *err)
{
	struct stat st;
	int r;
	switch (o->kind) {
	case OP_WRITE:
	case OP_UNLINK:
		if (o->kind == OP_WRITE && (look(t, o->a, &st, err) <= 0 || !S_ISREG(st.st_mode))) {
			two_msg(t, err, "the new ", o->b, " (staged as ", o->a, ") has disappeared");
			return -1;
		}
		r = look(t, o->kind == OP_WRITE ? o->b : o->a, &st, err);
		return r < 0 ? -1 : r > 0 ? check_file(t, o->kind == OP_WRITE ? o->b : o->a, &st, err) : 0;
	case OP_MKHOME:
	case OP_MVHOME:
	case OP_PURGE: /* never a reason to stop (perform): what changed since staging is a note then */
	case OP_KINDS:
		break;
	}
	return 0;
}

int mr_txn_commit(struct mr_txn *t, struct mr_buf *err)
{
	if (t->state != TXN_OPEN) {
		mr_buf_addf(err, "the transaction of the journal '%s' was already committed", t->journal);
		return -1;
	}
	if (t->ops.n == 0) {
		t->state = TXN_COMMITTED;
		return 0;
	}
	mr_test_hook("MAILRECON_TEST_BEFORE_SWITCH");
	int rc = recheck(t, err);
	if (rc < 0)
		return rc;

	for (size_t i = 0; i < t->ops.n; i++)
		if (preflight(t, &t->ops.v[i], err) < 0)
			return -1;

	/* the staged files' names are durable before the journal that names them */
	struct dirset dirs = DIRSET_INIT;
	for (size_t i = 0; i < t->ops.n; i++)
		if (t->ops.v[i].kind == OP_WRITE)
			dirs_add(&dirs, t->ops.v[i].a);
	rc = dirs_sync(t, &dirs, err);
	dirset_release(&dirs);
	if (rc < 0)
		return -1;
	mr_crash_point();

	if (write_journal(t, err) < 0)
		return -1;
	mr_crash_point();

	size_t i;
	bool touched = false; /* a live file or a home with mail in it was changed */
	struct dirset hdirs = DIRSET_INIT;
	for (i = 0; i < t->ops.n; i++) {
		size_t before = t->notes.len;
		const struct op *o = &t->ops.v[i];
		bool idle;
		if ((rc = perform(t, o, false, &dirs, &hdirs, &idle, &t->notes, err)) < 0)
			break;
		if (t->notes.len > before) {
			t->nnotes++;
		} else if (idle) {
			/* nothing there to act on: nothing to say */
		} else if (o->kind == OP_MKHOME) { /* below the root, as the plan names them */
			mr_buf_addf(&t->done, "made the home %s\n", o->a);
		} else if (o->kind == OP_PURGE) {
			mr_buf_addf(&t->done, "purged %s\n", o->a);
		} else if (o->kind == OP_MVHOME) {
			mr_buf_addf(&t->done, "%s %s to %s\n",
				    archive_entry(o->b) ? "archived" : archive_entry(o->a) ? "restored" : "moved", o->a, o->b);
		}
		touched |= t->ops.v[i].kind != OP_MKHOME;
		mr_crash_point();
	}
	if (rc < 0 && !touched) {
		/* nothing live was touched (at most empty homes were made, which a next run makes
		 * again anyway): undo the commit, abort removes what was staged */
		struct mr_buf e2 = MR_BUF_INIT;
		rc = remove_journal(t, &e2);
		if (rc == 0)
			mr_buf_adds(err, "; nothing was changed");
		else
			mr_buf_addf(err, "; %s", e2.ptr);
		mr_buf_release(&e2);
		if (rc == 0) {
			dirset_release(&dirs);
			dirset_release(&hdirs);
			return -1;
		}
	}
	home_dirs_sync(t, &hdirs);
	dirset_release(&hdirs);
	if (rc == 0 && (rc = dirs_sync(t, &dirs, err)) == 0)
		mr_crash_point();
	dirset_release(&dirs);
	if (rc < 0) {
		t->state = TXN_KEPT;
		char *s = shown(t, t->journal);
		mr_buf_addf(err, "; the journal '%s' is kept, and the next run finishes the apply", s);
		free(s);
		return -1;
	}
	t->state = TXN_COMMITTED;
	struct mr_buf e2 = MR_BUF_INIT;
	rc = remove_journal(t, &e2);
	if (rc < 0)
		mr_buf_addf(err, "the changes are applied, but %s (the next run removes it)", e2.ptr);
	mr_buf_release(&e2);
	return rc;
}

void mr_txn_abort(struct mr_txn **tp)
{
	struct mr_txn *t = *tp;
	if (!t)
		return;
	if (t->state == TXN_OPEN) {
		for (size_t i = 0; i < t->ops.n; i++)
			if (t->ops.v[i].kind == OP_WRITE)
				mr_root_unlink(t->root, t->ops.v[i].a);
		for (size_t i = t->made.n; i-- > 0;)
			mr_root_rmdir(t->root, t->made.v[i]); /* only if still empty */
	}
	mr_pathlist_release(&t->made);
	mr_strmap_release(&t->mkhomes);
	mr_pathlist_release(&t->links);
	mr_strmap_release(&t->seen->good[0]);
	mr_strmap_release(&t->seen->good[1]);
	mr_strmap_release(&t->seen->absent);
	mr_strmap_release(&t->seen->ready);
	mr_arena_release(&t->seen->keys);
	if (t->seen->pfd >= 0)
		close(t->seen->pfd);
	free(t->seen->pre_rc);
	free(t->seen->pdir);
	free(t->seen);
	oplist_release(&t->ops);
	mr_buf_release(&t->notes);
	mr_buf_release(&t->done);
	for (size_t i = 0; i < t->nexpects; i++)
		free(t->expects[i].path);
	free(t->expects);
	free(t->journal);
	free(t);
	*tp = NULL;
}

const char *mr_txn_notes(const struct mr_txn *t, size_t *count)
{
	*count = t->nnotes;
	return t->notes.len ? t->notes.ptr : NULL;
}

const char *mr_txn_done(const struct mr_txn *t)
{
	return t->done.len ? t->done.ptr : NULL;
}

bool mr_txn_home_ready(const struct mr_txn *t, const char *home)
{
	return t && mr_strmap_get(&t->seen->ready, home, strlen(home)) != NULL;
}

void mr_txn_free(struct mr_txn **tp)
{
	mr_txn_abort(tp);
}

/* "wrote 'a', 'b'; removed 'c'; moved 'd' to 'e'" */
static void describe(const struct mr_txn *t, struct mr_buf *b, const struct oplist *ops)
{
	static const char *const verbs[OP_KINDS] = { "wrote", "removed", "made the home", "moved", "purged" };
	const char *sep = "";
	for (int k = 0; k < OP_KINDS; k++) {
		const char *lead = sep;
		for (size_t i = 0; i < ops->n; i++) {
			const struct op *o = &ops->v[i];
			if ((int)o->kind != k)
				continue;
			if (lead) {
				mr_buf_addf(b, "%s%s ", lead, verbs[k]);
				lead = NULL;
				sep = "; ";
			} else {
				mr_buf_adds(b, ", ");
			}
			char *x = shown(t, k == OP_WRITE ? o->b : o->a);
			if (k == OP_MVHOME) {
				char *y = shown(t, o->b);
				mr_buf_addf(b, "'%s' to '%s'", x, y);
				free(y);
			} else {
				mr_buf_addf(b, "'%s'", x);
			}
			free(x);
		}
	}
}

static int roll_forward(struct mr_txn *t, struct mr_buf *report, struct mr_buf *err)
{
	struct dirset dirs = DIRSET_INIT, hdirs = DIRSET_INIT;
	struct mr_buf note = MR_BUF_INIT, e2 = MR_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < t->ops.n && rc == 0; i++) {
		bool idle;
		rc = perform(t, &t->ops.v[i], true, &dirs, &hdirs, &idle, &note, &e2);
		if (rc == 0)
			mr_crash_point();
	}
	home_dirs_sync(t, &hdirs);
	dirset_release(&hdirs);
	if (rc == 0 && (rc = dirs_sync(t, &dirs, &e2)) == 0) {
		mr_crash_point();
		rc = remove_journal(t, &e2);
	}
	char *s = shown(t, t->journal);
	if (rc == 0) {
		mr_buf_addf(report, "an interrupted apply was finished from its journal '%s': ", s);
		describe(t, report, &t->ops);
		mr_buf_addf(report, ".%s\n", note.len ? note.ptr : "");
	} else {
		mr_buf_addf(err, "cannot finish the interrupted apply of the journal '%s' (kept for the next run): %s", s,
			    e2.ptr);
	}
	free(s);
	dirset_release(&dirs);
	mr_buf_release(&note);
	mr_buf_release(&e2);
	return rc;
}

static int roll_back(struct mr_txn *t, struct mr_buf *report, struct mr_buf *err)
{
	size_t removed = 0;
	char *s = shown(t, t->journal);
	for (size_t i = 0; i < t->ops.n; i++) {
		const struct op *o = &t->ops.v[i];
		struct stat st;
		if (o->kind != OP_WRITE || mr_root_lstat(t->root, o->a, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		int r = mr_fault_check("unlink") < 0 ? -errno : mr_root_unlink(t->root, o->a);
		if (r < 0) {
			if (r == -ENOENT)
				continue;
			char *f = shown(t, o->a);
			mr_buf_addf(err, "cannot undo the interrupted apply of the journal '%s' (kept for the next run): "
					 "cannot remove '%s': %s",
				    s, f, strerror(-r));
			free(f);
			free(s);
			return -1;
		}
		removed++;
		mr_crash_point();
	}
	struct mr_buf e2 = MR_BUF_INIT;
	if (remove_journal(t, &e2) < 0) {
		mr_buf_addf(err, "cannot undo the interrupted apply: %s", e2.ptr);
		mr_buf_release(&e2);
		free(s);
		return -1;
	}
	mr_buf_release(&e2);
	mr_buf_addf(report, "an interrupted apply was undone: its journal '%s' was incomplete, so nothing live had "
			    "been changed; %zu staged file%s removed.\n",
		    s, removed, removed == 1 ? " was" : "s were");
	free(s);
	return 0;
}

int mr_txn_recover(struct mr_root *root, const char *journal_path, struct mr_buf *report, struct mr_buf *err)
{
	struct mr_buf text = MR_BUF_INIT, e2 = MR_BUF_INIT;
	struct stat st;
	int rc = mr_root_read(root, journal_path, JOURNAL_MAX, &text, &st, &e2);
	if (rc < 0) {
		if (rc != -ENOENT)
			mr_buf_addf(err, "%s", e2.ptr);
		mr_buf_release(&e2);
		mr_buf_release(&text);
		return rc == -ENOENT ? 0 : -1;
	}
	mr_buf_release(&e2);

	/*
	 * Complete: the header, operations, "end", nothing after.  Torn: no "end" (a last line
	 * without its newline is one the crash cut).  Anything else is refused: guessing could
	 * mix old and new files.
	 */
	struct mr_txn *t = mr_txn_begin(root, journal_path);
	const char *p = text.ptr ? text.ptr : "", *end = p + text.len;
	size_t lineno = 0, bad = 0;
	int version = 2;
	bool seen_end = false;
	const char *why = NULL;
	while (p < end && !why) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		if (lineno == 1) {
			size_t hl = strlen(JOURNAL_HEADER), ml = strlen(JOURNAL_MAGIC);
			if (nl ? n == hl && memcmp(p, JOURNAL_HEADER, hl) == 0 : n <= hl && memcmp(p, JOURNAL_HEADER, n) == 0)
				version = 2;
			else if (nl ? n == hl && memcmp(p, JOURNAL_HEADER_V1, hl) == 0
				    : n <= hl && memcmp(p, JOURNAL_HEADER_V1, n) == 0)
				version = 1;
			else if (n > ml && memcmp(p, JOURNAL_MAGIC, ml) == 0)
				why = "it is of another mailrecon version";
			else
				why = "it is not a mailrecon journal";
		} else if (seen_end) {
			bad = bad ? bad : lineno;
		} else if (nl && n == 3 && memcmp(p, "end", 3) == 0) {
			seen_end = true;
		} else if (nl && (memchr(p, '\0', n) || parse_op(root, version, p, n, &t->ops) < 0)) {
			bad = bad ? bad : lineno;
		}
		p = nl ? nl + 1 : end;
	}
	if (!why && seen_end && bad)
		why = "it is damaged";
	if (why) {
		char *s = shown(t, journal_path);
		mr_buf_addf(err, "cannot recover from the journal '%s': %s", s, why);
		free(s);
		if (bad)
			mr_buf_addf(err, " (line %zu)", bad);
		mr_buf_adds(err, "; refused: finish or undo the interrupted apply by hand, then remove the journal");
		rc = -1;
	} else if (seen_end) {
		rc = roll_forward(t, report, err);
	} else {
		rc = roll_back(t, report, err);
	}
	t->state = TXN_COMMITTED; /* nothing of it is to be removed by the free */
	mr_txn_free(&t);
	mr_buf_release(&text);
	return rc;
}

int mr_txn_cleanup_temps(struct mr_root *root, const char *dir, struct mr_buf *report)
{
	struct mr_pathlist all = MR_PATHLIST_INIT, names = MR_PATHLIST_INIT;
	int r = mr_root_list(root, dir, &all);
	if (r < 0) {
		mr_pathlist_release(&all);
		if (r == -ENOENT || r == -ELOOP) /* a link on the way: the live files say it, better */
			return 0;
		char *s = mr_root_full(root, dir);
		mr_buf_addf(report, "cannot open directory '%s': %s\n", s, strerror(-r));
		free(s);
		return -1;
	}
	for (size_t i = 0; i < all.n; i++)
		if (temp_pid(all.v[i]) > 0)
			mr_pathlist_add(&names, all.v[i]);
	mr_pathlist_release(&all);
	int removed = 0;
	for (size_t i = 0; i < names.n; i++) {
		pid_t pid = (pid_t)temp_pid(names.v[i]);
		/* a running apply's (or this process's own) staged file is not a leftover */
		if (pid == getpid() || kill(pid, 0) == 0 || errno == EPERM)
			continue;
		char *path = mr_path_join(dir, names.v[i]);
		struct stat st;
		if (mr_root_lstat(root, path, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		char *s = mr_root_full(root, path);
		int u = mr_fault_check("unlink") < 0 ? -errno : mr_root_unlink(root, path);
		if (u < 0) {
			if (u != -ENOENT)
				mr_buf_addf(report, "cannot remove '%s': %s\n", s, strerror(-u));
		} else {
			removed++;
			mr_buf_addf(report, "removed '%s', staged by an apply that was interrupted before it committed.\n", s);
		}
		free(s);
		free(path);
	}
	if (removed)
		mr_root_sync_dir(root, dir);
	mr_pathlist_release(&names);
	return removed;
}
