#include "apply/txn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/faults.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/strutil.h"

#define JOURNAL_HEADER "mailrecon-journal 1"
#define JOURNAL_MAGIC "mailrecon-journal "
#define JOURNAL_MAX ((size_t)256 << 20)
#define TMP_MARK ".mailrecon-tmp."
/* how much of a target's name goes into its temp file's name, to stay within NAME_MAX */
#define TMP_BASE_MAX 200

enum op_kind { OP_WRITE, OP_UNLINK, OP_MOVE };

struct op {
	enum op_kind kind;
	char *a; /* write: the staged file; unlink: the target; move: from */
	char *b; /* write: the target; move: to; unlink: NULL */
};

struct oplist {
	struct op *v;
	size_t n, cap;
};

enum txn_state {
	TXN_OPEN,      /* staging; abort removes the staged files */
	TXN_KEPT,      /* a commit failed after touching a live file: journal and staged files stay */
	TXN_COMMITTED, /* done */
};

struct mr_txn {
	char *journal;
	struct oplist ops;
	enum txn_state state;
};

/* numbers the temp files of this process (the N of ".NAME.mailrecon-tmp.PID.N") */
static unsigned tmp_seq;

static void oplist_add(struct oplist *l, enum op_kind kind, const char *a, const char *b)
{
	l->v = xgrow(l->v, sizeof(*l->v), l->n + 1, &l->cap);
	l->v[l->n++] = (struct op){ kind, xstrdup(a), b ? xstrdup(b) : NULL };
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

/* Absolute, not "/" itself, no empty, "." or ".." part (so no "//" and no trailing "/"). */
static bool clean_path(const char *p)
{
	if (p[0] != '/' || p[1] == '\0')
		return false;
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

static int sync_fd(int fd)
{
	if (mr_fault_check("fsync") < 0)
		return -1;
	return fsync(fd);
}

static int sync_dir(const char *dir, struct mr_buf *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		mr_buf_addf(err, "cannot open directory '%s': %s", dir, strerror(errno));
		return -1;
	}
	/* EINVAL: the filesystem cannot sync a directory */
	if (sync_fd(fd) < 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		mr_buf_addf(err, "cannot sync directory '%s': %s", dir, strerror(e));
		return -1;
	}
	close(fd);
	return 0;
}

/* Remember the directory holding path (once). */
static void dirs_add(struct mr_pathlist *dirs, const char *path)
{
	char *d = mr_path_dirname(path);
	size_t i;
	for (i = 0; i < dirs->n && strcmp(dirs->v[i], d) != 0; i++)
		;
	if (i == dirs->n)
		mr_pathlist_add(dirs, d);
	free(d);
}

static int dirs_sync(const struct mr_pathlist *dirs, struct mr_buf *err)
{
	for (size_t i = 0; i < dirs->n; i++)
		if (sync_dir(dirs->v[i], err) < 0)
			return -1;
	return 0;
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

/* rename(2) that never replaces an existing to. */
static int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* the filesystem cannot do it: look first */
	struct stat st;
	if (lstat(to, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

/* Make the missing directories above path, mode 0700, each made durable in its parent. */
static int make_parents(const char *path, struct mr_buf *err)
{
	char *dir = mr_path_dirname(path);
	struct stat st;
	int rc = 0;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			mr_buf_addf(err, "'%s' is not a directory", dir);
			rc = -1;
		}
	} else if (errno != ENOENT) {
		mr_buf_addf(err, "cannot stat '%s': %s", dir, strerror(errno));
		rc = -1;
	} else if ((rc = make_parents(dir, err)) == 0) {
		if (mr_fault_check("mkdir") < 0 || mkdir(dir, 0700) < 0) {
			if (errno != EEXIST) {
				mr_buf_addf(err, "cannot create directory '%s': %s", dir, strerror(errno));
				rc = -1;
			}
		} else {
			char *parent = mr_path_dirname(dir);
			rc = sync_dir(parent, err);
			free(parent);
		}
	}
	free(dir);
	return rc;
}

/* The checks every staged path goes through. */
static int check_path(const struct mr_txn *t, const char *path, struct mr_buf *err)
{
	if (t->state != TXN_OPEN) {
		mr_buf_addf(err, "cannot stage '%s': the transaction was already committed", path);
		return -1;
	}
	if (!clean_path(path)) {
		mr_buf_addf(err, "'%s' is not a clean absolute path; refused", path);
		return -1;
	}
	for (size_t i = 0; i < t->ops.n; i++) {
		const struct op *o = &t->ops.v[i];
		const char *p = o->kind == OP_WRITE ? o->b : o->a;
		if (!overlap(p, path))
			p = o->kind == OP_MOVE && overlap(o->b, path) ? o->b : NULL;
		if (p) {
			mr_buf_addf(err, "'%s' is changed twice in one apply (with '%s'); refused", path, p);
			return -1;
		}
	}
	return 0;
}

/* An existing file that apply may replace or remove: not a link, a directory or a device. */
static int check_file(const char *path, const struct stat *st, struct mr_buf *err)
{
	if (S_ISLNK(st->st_mode)) {
		mr_buf_addf(err, "'%s' is a symbolic link; refused (mailrecon never follows one)", path);
		return -1;
	}
	if (S_ISDIR(st->st_mode)) {
		mr_buf_addf(err, "'%s' is a directory, not a file; refused", path);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		mr_buf_addf(err, "'%s' is not a regular file; refused", path);
		return -1;
	}
	return 0;
}

struct mr_txn *mr_txn_begin(const char *journal_path)
{
	struct mr_txn *t = xcalloc(1, sizeof(*t));
	t->journal = xstrdup(journal_path);
	return t;
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
	int bad = 0;
	bool had_target = false;
	struct timespec old_mtime = { 0, 0 };
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			mr_buf_addf(err, "directory '%s' does not exist", dir);
		else
			mr_buf_addf(err, "cannot stat '%s': %s", dir, strerror(errno));
		bad = 1;
	} else if (!S_ISDIR(st.st_mode)) {
		mr_buf_addf(err, "'%s' is not a directory", dir);
		bad = 1;
	} else if (lstat(target, &st) == 0) {
		bad = check_file(target, &st, err) < 0;
		had_target = true;
		old_mtime = st.st_mtim;
	} else if (errno != ENOENT) {
		mr_buf_addf(err, "cannot stat '%s': %s", target, strerror(errno));
		bad = 1;
	}
	if (bad) {
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
		if (mr_fault_check("open") == 0)
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && (errno != EEXIST || tries > 1000)) {
			mr_buf_addf(err, "cannot create '%s' (the new '%s'): %s", tmp, target,
				    strerror(errno));
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
		mr_buf_addf(err, "cannot give the new '%s' (staged as '%s') the owner %lld:%lld: %s",
			    target, tmp, (long long)uid, (long long)gid, strerror(e));
		goto fail;
	}
	if (mr_fault_check("fchmod") < 0 || fchmod(fd, (mode_t)mode) < 0) {
		e = errno;
		mr_buf_addf(err, "cannot give the new '%s' (staged as '%s') the mode %04o: %s", target,
			    tmp, mode, strerror(e));
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
	oplist_add(&t->ops, OP_WRITE, tmp, target);
	free(tmp);
	mr_crash_point();
	return 0;

fail_io:
	e = errno;
	mr_buf_addf(err, "cannot %s the new '%s' (staged as '%s'): %s", step, target, tmp, strerror(e));
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

int mr_txn_unlink(struct mr_txn *t, const char *target, struct mr_buf *err)
{
	if (check_path(t, target, err) < 0)
		return -1;
	struct stat st;
	if (lstat(target, &st) == 0) {
		if (check_file(target, &st, err) < 0)
			return -1;
	} else if (errno != ENOENT) {
		mr_buf_addf(err, "cannot stat '%s': %s", target, strerror(errno));
		return -1;
	}
	oplist_add(&t->ops, OP_UNLINK, target, NULL);
	return 0;
}

int mr_txn_move(struct mr_txn *t, const char *from, const char *to, struct mr_buf *err)
{
	if (check_path(t, from, err) < 0 || check_path(t, to, err) < 0)
		return -1;
	if (overlap(from, to)) {
		mr_buf_addf(err, "cannot move '%s' to '%s': one is inside the other", from, to);
		return -1;
	}
	struct stat st, fst;
	if (lstat(to, &st) == 0) {
		mr_buf_addf(err, "cannot move '%s' to '%s': '%s' already exists", from, to, to);
		return -1;
	}
	if (errno != ENOENT) {
		mr_buf_addf(err, "cannot stat '%s': %s", to, strerror(errno));
		return -1;
	}
	if (lstat(from, &fst) == 0) {
		/* a rename cannot cross filesystems: find where to would live */
		char *d = mr_path_dirname(to);
		while (stat(d, &st) < 0 && errno == ENOENT) {
			char *up = mr_path_dirname(d);
			free(d);
			d = up;
		}
		int rc = 0;
		if (!S_ISDIR(st.st_mode)) {
			mr_buf_addf(err, "cannot move '%s' to '%s': '%s' is not a directory", from, to, d);
			rc = -1;
		} else if (st.st_dev != fst.st_dev) {
			mr_buf_addf(err, "cannot move '%s' to '%s': they are on different filesystems",
				    from, to);
			rc = -1;
		}
		free(d);
		if (rc < 0)
			return -1;
	} else if (errno != ENOENT) {
		mr_buf_addf(err, "cannot stat '%s': %s", from, strerror(errno));
		return -1;
	}
	oplist_add(&t->ops, OP_MOVE, from, to);
	return 0;
}

/*
 * Do one operation, remembering the directories it touched.  When recovering, work already
 * done is skipped: a staged file that is gone was renamed, an absent target was removed, a
 * moved directory whose from is gone was moved (and one whose to exists is left, noted).
 */
static int perform(const struct op *o, bool recovering, struct mr_pathlist *dirs,
		   struct mr_buf *note, struct mr_buf *err)
{
	struct stat st;
	switch (o->kind) {
	case OP_WRITE:
		if (recovering) {
			if (lstat(o->a, &st) < 0) {
				if (errno == ENOENT)
					return 0;
				mr_buf_addf(err, "cannot stat '%s': %s", o->a, strerror(errno));
				return -1;
			}
			if (check_file(o->a, &st, err) < 0)
				return -1;
		}
		if (mr_fault_check("rename") < 0 || rename(o->a, o->b) < 0) {
			mr_buf_addf(err, "cannot rename '%s' to '%s': %s", o->a, o->b, strerror(errno));
			return -1;
		}
		dirs_add(dirs, o->b);
		return 0;
	case OP_UNLINK:
		if (mr_fault_check("unlink") < 0 || unlink(o->a) < 0) {
			if (errno == ENOENT)
				return 0;
			mr_buf_addf(err, "cannot remove '%s': %s", o->a, strerror(errno));
			return -1;
		}
		dirs_add(dirs, o->a);
		return 0;
	case OP_MOVE:
		if (lstat(o->a, &st) < 0) {
			if (errno == ENOENT)
				return 0;
			mr_buf_addf(err, "cannot stat '%s': %s", o->a, strerror(errno));
			return -1;
		}
		if (lstat(o->b, &st) == 0) {
			if (recovering) {
				mr_buf_addf(note, " '%s' was left in place: '%s' already exists.", o->a,
					    o->b);
				return 0;
			}
			mr_buf_addf(err, "cannot move '%s' to '%s': '%s' already exists", o->a, o->b, o->b);
			return -1;
		}
		if (make_parents(o->b, err) < 0)
			return -1;
		if (mr_fault_check("rename") < 0 || rename_noreplace(o->a, o->b) < 0) {
			mr_buf_addf(err, "cannot move '%s' to '%s': %s", o->a, o->b, strerror(errno));
			return -1;
		}
		dirs_add(dirs, o->a);
		dirs_add(dirs, o->b);
		return 0;
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
	if (b.len > 0 && clean_path(b.ptr))
		return mr_buf_detach(&b);
bad:
	mr_buf_release(&b);
	return NULL;
}

/* One operation line of a journal, checked; -1 when it is not one. */
static int parse_op(const char *line, size_t n, struct oplist *ops)
{
	const char *w[4];
	size_t wl[4], nw = 0;
	for (size_t i = 0; i <= n && nw < 4;) {
		size_t j = i;
		while (j < n && line[j] != ' ')
			j++;
		w[nw] = line + i;
		wl[nw++] = j - i;
		i = j + 1;
	}
	if (nw < 2 || nw > 3 || (nw == 3 && w[2] + wl[2] != line + n))
		return -1;
	char *a = get_path(w[1], wl[1]);
	char *b = nw == 3 ? get_path(w[2], wl[2]) : NULL;
	enum op_kind kind = OP_WRITE;
	bool ok = a && (nw == 2 || b);
	if (wl[0] == 5 && memcmp(w[0], "write", 5) == 0) {
		kind = OP_WRITE;
		ok = ok && nw == 3 && same_dir(a, b) && temp_pid(base_name(a)) > 0;
	} else if (wl[0] == 6 && memcmp(w[0], "unlink", 6) == 0) {
		kind = OP_UNLINK;
		ok = ok && nw == 2;
	} else if (wl[0] == 4 && memcmp(w[0], "move", 4) == 0) {
		kind = OP_MOVE;
		ok = ok && nw == 3 && !overlap(a, b);
	} else {
		ok = false;
	}
	if (ok)
		oplist_add(ops, kind, a, b);
	free(a);
	free(b);
	return ok ? 0 : -1;
}

static void put_journal(struct mr_buf *j, const struct oplist *ops)
{
	mr_buf_adds(j, JOURNAL_HEADER "\n");
	for (size_t i = 0; i < ops->n; i++) {
		const struct op *o = &ops->v[i];
		mr_buf_adds(j, o->kind == OP_WRITE ? "write" : o->kind == OP_UNLINK ? "unlink" : "move");
		put_path(j, o->a);
		if (o->b)
			put_path(j, o->b);
		mr_buf_addc(j, '\n');
	}
}

/* Remove the journal and make that durable; -1 (with a message) only when it stays. */
static int remove_journal(const char *path, struct mr_buf *err)
{
	if (mr_fault_check("unlink") < 0 || unlink(path) < 0) {
		mr_buf_addf(err, "cannot remove the journal '%s': %s", path, strerror(errno));
		return -1;
	}
	mr_crash_point();
	char *dir = mr_path_dirname(path);
	struct mr_buf ignored = MR_BUF_INIT;
	/* not durable: a journal that comes back finds its work done */
	sync_dir(dir, &ignored);
	mr_buf_release(&ignored);
	free(dir);
	return 0;
}

/* Write the journal, "end" last, and make it durable; on failure none is left. */
static int write_journal(const struct mr_txn *t, struct mr_buf *err)
{
	struct mr_buf j = MR_BUF_INIT;
	put_journal(&j, &t->ops);
	int fd = -1;
	if (mr_fault_check("open") == 0)
		fd = open(t->journal, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			mr_buf_addf(err, "the journal '%s' already exists: an interrupted apply must be "
					 "finished first", t->journal);
		else
			mr_buf_addf(err, "cannot create the journal '%s': %s", t->journal, strerror(errno));
		mr_buf_release(&j);
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
	if (rc < 0) {
		int e = errno;
		close(fd);
		mr_buf_addf(err, "cannot %s the journal '%s': %s", step, t->journal, strerror(e));
		unlink(t->journal);
		return -1;
	}
	if (close(fd) < 0) {
		mr_buf_addf(err, "cannot write the journal '%s': %s", t->journal, strerror(errno));
		unlink(t->journal);
		return -1;
	}
	mr_crash_point();
	char *dir = mr_path_dirname(t->journal);
	rc = sync_dir(dir, err);
	free(dir);
	if (rc < 0)
		unlink(t->journal);
	return rc;
}

/*
 * Just before the journal, what staging checked must still hold: the journal must not
 * promise an operation that cannot be done, as recovery would then stop half-way.
 */
static int preflight(const struct op *o, struct mr_buf *err)
{
	struct stat st;
	if (o->kind == OP_WRITE && (lstat(o->a, &st) < 0 || !S_ISREG(st.st_mode))) {
		mr_buf_addf(err, "the new '%s' (staged as '%s') has disappeared", o->b, o->a);
		return -1;
	}
	const char *live = o->kind == OP_UNLINK ? o->a : o->b;
	if (lstat(live, &st) == 0) {
		if (o->kind != OP_MOVE)
			return check_file(live, &st, err);
		mr_buf_addf(err, "cannot move '%s' to '%s': '%s' already exists", o->a, o->b, o->b);
		return -1;
	}
	if (errno != ENOENT) {
		mr_buf_addf(err, "cannot stat '%s': %s", live, strerror(errno));
		return -1;
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

	for (size_t i = 0; i < t->ops.n; i++)
		if (preflight(&t->ops.v[i], err) < 0)
			return -1;

	/* the staged files' names are durable before the journal that names them */
	struct mr_pathlist dirs = MR_PATHLIST_INIT;
	for (size_t i = 0; i < t->ops.n; i++)
		if (t->ops.v[i].kind == OP_WRITE)
			dirs_add(&dirs, t->ops.v[i].a);
	int rc = dirs_sync(&dirs, err);
	mr_pathlist_release(&dirs);
	if (rc < 0)
		return -1;
	mr_crash_point();

	if (write_journal(t, err) < 0)
		return -1;
	mr_crash_point();

	size_t i;
	for (i = 0; i < t->ops.n; i++) {
		if ((rc = perform(&t->ops.v[i], false, &dirs, NULL, err)) < 0)
			break;
		mr_crash_point();
	}
	if (rc < 0 && i == 0) {
		/* no live file was touched: undo the commit, abort removes what was staged */
		struct mr_buf e2 = MR_BUF_INIT;
		rc = remove_journal(t->journal, &e2);
		if (rc == 0)
			mr_buf_adds(err, "; nothing was changed");
		else
			mr_buf_addf(err, "; %s", e2.ptr);
		mr_buf_release(&e2);
		if (rc == 0) {
			mr_pathlist_release(&dirs);
			return -1;
		}
	}
	if (rc == 0 && (rc = dirs_sync(&dirs, err)) == 0)
		mr_crash_point();
	mr_pathlist_release(&dirs);
	if (rc < 0) {
		t->state = TXN_KEPT;
		mr_buf_addf(err, "; the journal '%s' is kept, and the next run finishes the apply",
			    t->journal);
		return -1;
	}
	t->state = TXN_COMMITTED;
	struct mr_buf e2 = MR_BUF_INIT;
	rc = remove_journal(t->journal, &e2);
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
	if (t->state == TXN_OPEN)
		for (size_t i = 0; i < t->ops.n; i++)
			if (t->ops.v[i].kind == OP_WRITE)
				unlink(t->ops.v[i].a);
	oplist_release(&t->ops);
	free(t->journal);
	free(t);
	*tp = NULL;
}

void mr_txn_free(struct mr_txn **tp)
{
	mr_txn_abort(tp);
}

/* "wrote 'a', 'b'; removed 'c'; moved 'd' to 'e'" */
static void describe(struct mr_buf *b, const struct oplist *ops)
{
	static const char *const verbs[] = { "wrote", "removed", "moved" };
	const char *sep = "";
	for (int k = OP_WRITE; k <= OP_MOVE; k++) {
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
			if (k == OP_MOVE)
				mr_buf_addf(b, "'%s' to '%s'", o->a, o->b);
			else
				mr_buf_addf(b, "'%s'", k == OP_WRITE ? o->b : o->a);
		}
	}
}

static int roll_forward(const char *journal, const struct oplist *ops, struct mr_buf *report,
			struct mr_buf *err)
{
	struct mr_pathlist dirs = MR_PATHLIST_INIT;
	struct mr_buf note = MR_BUF_INIT, e2 = MR_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < ops->n && rc == 0; i++) {
		rc = perform(&ops->v[i], true, &dirs, &note, &e2);
		if (rc == 0)
			mr_crash_point();
	}
	if (rc == 0 && (rc = dirs_sync(&dirs, &e2)) == 0) {
		mr_crash_point();
		rc = remove_journal(journal, &e2);
	}
	if (rc == 0) {
		mr_buf_addf(report, "an interrupted apply was finished from its journal '%s': ", journal);
		describe(report, ops);
		mr_buf_addf(report, ".%s\n", note.len ? note.ptr : "");
	} else {
		mr_buf_addf(err, "cannot finish the interrupted apply of the journal '%s' (kept for the "
				 "next run): %s", journal, e2.ptr);
	}
	mr_pathlist_release(&dirs);
	mr_buf_release(&note);
	mr_buf_release(&e2);
	return rc;
}

static int roll_back(const char *journal, const struct oplist *ops, struct mr_buf *report,
		     struct mr_buf *err)
{
	size_t removed = 0;
	for (size_t i = 0; i < ops->n; i++) {
		const struct op *o = &ops->v[i];
		struct stat st;
		if (o->kind != OP_WRITE || lstat(o->a, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (mr_fault_check("unlink") < 0 || unlink(o->a) < 0) {
			if (errno == ENOENT)
				continue;
			mr_buf_addf(err, "cannot undo the interrupted apply of the journal '%s' (kept for "
					 "the next run): cannot remove '%s': %s",
				    journal, o->a, strerror(errno));
			return -1;
		}
		removed++;
		mr_crash_point();
	}
	struct mr_buf e2 = MR_BUF_INIT;
	if (remove_journal(journal, &e2) < 0) {
		mr_buf_addf(err, "cannot undo the interrupted apply: %s", e2.ptr);
		mr_buf_release(&e2);
		return -1;
	}
	mr_buf_release(&e2);
	mr_buf_addf(report, "an interrupted apply was undone: its journal '%s' was incomplete, so no "
			    "live file had been changed; %zu staged file%s removed.\n", journal, removed,
		    removed == 1 ? " was" : "s were");
	return 0;
}

int mr_txn_recover(const char *journal_path, struct mr_buf *report, struct mr_buf *err)
{
	struct mr_buf text = MR_BUF_INIT, e2 = MR_BUF_INIT;
	struct stat st;
	int rc = mr_read_file_ex(journal_path, JOURNAL_MAX, MR_READ_NOFOLLOW, &text, &st, &e2);
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
	struct oplist ops = { NULL, 0, 0 };
	const char *p = text.ptr ? text.ptr : "", *end = p + text.len;
	size_t lineno = 0, bad = 0;
	bool seen_end = false;
	const char *why = NULL;
	while (p < end && !why) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		if (lineno == 1) {
			size_t hl = strlen(JOURNAL_HEADER), ml = strlen(JOURNAL_MAGIC);
			if (nl ? n == hl && memcmp(p, JOURNAL_HEADER, hl) == 0
			       : n <= hl && memcmp(p, JOURNAL_HEADER, n) == 0)
				;
			else if (n > ml && memcmp(p, JOURNAL_MAGIC, ml) == 0)
				why = "it is of another mailrecon version";
			else
				why = "it is not a mailrecon journal";
		} else if (seen_end) {
			bad = bad ? bad : lineno;
		} else if (nl && n == 3 && memcmp(p, "end", 3) == 0) {
			seen_end = true;
		} else if (nl && (memchr(p, '\0', n) || parse_op(p, n, &ops) < 0)) {
			bad = bad ? bad : lineno;
		}
		p = nl ? nl + 1 : end;
	}
	if (!why && seen_end && bad)
		why = "it is damaged";
	if (why) {
		mr_buf_addf(err, "cannot recover from the journal '%s': %s", journal_path, why);
		if (bad)
			mr_buf_addf(err, " (line %zu)", bad);
		mr_buf_adds(err, "; refused: finish or undo the interrupted apply by hand, then remove "
				 "the journal");
		rc = -1;
	} else if (seen_end) {
		rc = roll_forward(journal_path, &ops, report, err);
	} else {
		rc = roll_back(journal_path, &ops, report, err);
	}
	oplist_release(&ops);
	mr_buf_release(&text);
	return rc;
}

int mr_txn_cleanup_temps(const char *dir, struct mr_buf *report)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		mr_buf_addf(report, "cannot open directory '%s': %s\n", dir, strerror(errno));
		return -1;
	}
	struct mr_pathlist names = MR_PATHLIST_INIT;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (temp_pid(de->d_name) > 0)
			mr_pathlist_add(&names, de->d_name);
	mr_pathlist_sort(&names);
	int removed = 0;
	for (size_t i = 0; i < names.n; i++) {
		pid_t pid = (pid_t)temp_pid(names.v[i]);
		/* a running apply's (or this process's own) staged file is not a leftover */
		if (pid == getpid() || kill(pid, 0) == 0 || errno == EPERM)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		char *path = mr_path_join(dir, names.v[i]);
		if (mr_fault_check("unlink") < 0 || unlinkat(dirfd(d), names.v[i], 0) < 0) {
			if (errno != ENOENT)
				mr_buf_addf(report, "cannot remove '%s': %s\n", path, strerror(errno));
		} else {
			removed++;
			mr_buf_addf(report, "removed '%s', staged by an apply that was interrupted before "
					    "it committed.\n", path);
		}
		free(path);
	}
	if (removed) {
		struct mr_buf ignored = MR_BUF_INIT;
		sync_dir(dir, &ignored);
		mr_buf_release(&ignored);
	}
	mr_pathlist_release(&names);
	closedir(d);
	return removed;
}
