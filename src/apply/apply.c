/*
 * apply: the calling sequence of apply.h, step by step.  Every write to a managed file
 * goes through the transaction (txn.c); the only writes outside it are idempotent ones
 * that no reader depends on: the state directory itself, a missing parent directory of a
 * managed file, a new mailbox's home, and the audit log.
 */
#include "apply/apply.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apply/history.h"
#include "apply/oracle.h"
#include "apply/txn.h"
#include "crypto/digest.h"
#include "codec/accounts.h"
#include "codec/dkim_txt.h"
#include "codec/live.h"
#include "crypto/keygen.h"
#include "load/desired.h"
#include "load/secret.h"
#include "plan/plan.h"
#include "plan/planfile.h"
#include "util/faults.h"
#include "util/fs.h"
#include "util/xalloc.h"

extern char **environ;

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_REFUSED = 3, EXIT_LOCKED = 4 };

/* ---- the lock ---- */

int mr_state_lock(const char *state_dir_full, bool exclusive, double timeout, int *fd_out)
{
	*fd_out = -1;
	char *path = mr_path_join(state_dir_full, "lock");
	int fd = open(path, exclusive ? O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW : O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int e = errno;
		free(path);
		if (!exclusive && e == ENOENT)
			return 0; /* no apply has ever run: nothing to wait for */
		fprintf(stderr, "mailrecon: cannot open the lock '%s/lock': %s\n", state_dir_full, strerror(e));
		return EXIT_ERROR;
	}
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			fprintf(stderr, "mailrecon: cannot lock '%s': %s\n", path, strerror(errno));
			close(fd);
			free(path);
			return EXIT_ERROR;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double waited = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
		if (timeout >= 0 && waited >= timeout) {
			fprintf(stderr, "mailrecon: another apply holds '%s'; gave up after %.1f s (--lock-timeout)\n", path,
				waited);
			close(fd);
			free(path);
			return EXIT_LOCKED;
		}
		struct timespec nap = { 0, 50 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	free(path);
	*fd_out = fd;
	return 0;
}

/* ---- small helpers ---- */

struct actx {
	const struct mr_apply_opts *o;
	char *root;        /* as given, "/" by default */
	char *state;       /* ROOT + state_dir */
	struct mr_model m;
	struct mr_live lv;
	struct mr_accounts acc;
	struct mr_diags d, errors;
	struct mr_pathlist files;
	struct mr_oracle_ctx oc;
	char date[16], iso[32];
	bool have_live, have_acc;
	struct mr_vcs *vcs;
	const char *const *sources_read; /* the sources loaded (-f, or a plan file's) */
	size_t nsources_read;
	char rev[41];       /* the revision this apply committed, or "" */
	char git_commit[41]; /* a git source's commit */
};

static void say(const struct actx *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct actx *a, const char *fmt, ...)
{
	if (a->o->verbosity < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static char *full(const struct actx *a, const char *path)
{
	return mr_path_join_root(a->root, path);
}

/* gid of a group in ROOT/etc/group; -1 when it is not there */
static int64_t group_gid(const struct actx *a, const char *name)
{
	char *path = full(a, "/etc/group");
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	int64_t gid = -1;
	if (mr_read_file_ex(path, 16u << 20, MR_READ_NOFOLLOW, &data, &st, &err) == 0) {
		size_t n = strlen(name);
		for (char *l = data.ptr; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			if (strncmp(l, name, n) == 0 && l[n] == ':') {
				char *p = strchr(l + n + 1, ':');
				if (p)
					gid = strtoll(p + 1, NULL, 10);
				break;
			}
		}
	}
	mr_buf_release(&data);
	mr_buf_release(&err);
	free(path);
	return gid;
}

static int64_t user_uid(const struct actx *a, const char *name)
{
	const struct mr_sysaccount *s = mr_sysaccount_get(&a->acc, name);
	return s ? s->uid : -1;
}

/* mkdir -p for the parents of a managed file (root-owned, 0755); existing ones are kept */
static int make_parents(const char *path, struct mr_buf *err)
{
	char *dir = mr_path_dirname(path);
	struct stat st;
	int rc = 0;
	if (stat(dir, &st) != 0) {
		rc = make_parents(dir, err);
		if (rc == 0 && mkdir(dir, 0755) != 0 && errno != EEXIST) {
			mr_buf_addf(err, "cannot create directory '%s': %s", dir, strerror(errno));
			rc = -1;
		}
	}
	free(dir);
	return rc;
}

/* ---- staging ---- */

struct stage {
	struct actx *a;
	struct mr_txn *t;
	struct mr_buf err;
	bool reload_postgrey, reload_spamd, reload_dovecot;
	size_t written;
};

/* The owner, group and mode a file gets: an existing file keeps its own. */
static void file_meta(struct stage *s, const char *target, const struct mr_codec *c, bool secret, unsigned *mode,
		      int64_t *uid, int64_t *gid)
{
	struct stat st;
	if (lstat(target, &st) == 0) {
		*mode = st.st_mode & 07777;
		*uid = st.st_uid;
		*gid = st.st_gid;
		if (secret)
			*mode &= 0700; /* a private key is never readable by others, whatever it was */
		return;
	}
	bool rhel = s->a->lv.layout == MR_LAYOUT_RHEL;
	const char *owner = c ? c->owner : rhel ? "exim" : "Debian-exim";
	const char *group = c ? c->group[rhel] : rhel ? "exim" : "Debian-exim";
	*mode = c ? c->mode : 0600;
	*uid = user_uid(s->a, owner);
	*gid = group_gid(s->a, group);
	if (*uid < 0)
		*uid = 0;
	if (*gid < 0) {
		/* expected in a sandbox root; on a server it means the package is missing */
		if (strcmp(s->a->root, "/") == 0 || s->a->o->verbosity > 0)
			fprintf(stderr, "mailrecon: note: no group '%s' in %s/etc/group; '%s' gets group root\n", group,
				strcmp(s->a->root, "/") ? s->a->root : "", target);
		*gid = 0;
	}
}

static int stage_bytes(struct stage *s, const char *path, const void *data, size_t len, const struct mr_codec *c,
		       bool secret)
{
	char *target = full(s->a, path);
	unsigned mode;
	int64_t uid, gid;
	int rc = make_parents(target, &s->err);
	if (rc == 0) {
		file_meta(s, target, c, secret, &mode, &uid, &gid);
		rc = mr_txn_write(s->t, target, data, len, mode, uid, gid, &s->err);
	}
	if (rc == 0)
		s->written++;
	free(target);
	return rc;
}

static const struct mr_domain *target_domain(const struct actx *a, const char *name)
{
	const struct mr_domain *d = mr_model_domain(&a->m, name);
	return d ? d : mr_model_domain(&a->lv.model, name);
}

/*
 * A private key that apply replaces or removes is kept in STATE_DIR/keys/SHA256 (0600,
 * root's) before it goes: history holds only its fingerprint, and rollback restores the
 * key from here.  Content-addressed and written once, so a crash or a rerun is harmless.
 */
static int keep_key(struct actx *a, const char *path)
{
	char *target = full(a, path);
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	int rc = 0;
	if (mr_read_file_ex(target, 1u << 20, MR_READ_NOFOLLOW, &data, &st, &err) == 0) {
		char sha[MR_SHA256_HEX];
		mr_sha256_hex(data.ptr, data.len, sha);
		char *dir = mr_path_join(a->state, "keys");
		char *dest = mr_path_join(dir, sha);
		mkdir(dir, 0700);
		if (access(dest, F_OK) != 0) {
			struct mr_buf tmp = MR_BUF_INIT;
			mr_buf_addf(&tmp, "%s.tmp.%ld", dest, (long)getpid());
			int fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
			if (fd < 0 || write(fd, data.ptr, data.len) != (ssize_t)data.len || fsync(fd) != 0 ||
			    rename(tmp.ptr, dest) != 0) {
				fprintf(stderr, "mailrecon: cannot keep the old key '%s' in '%s': %s\n", path, dir, strerror(errno));
				unlink(tmp.ptr);
				rc = -1;
			}
			if (fd >= 0)
				close(fd);
			mr_buf_release(&tmp);
		}
		free(dest);
		free(dir);
	}
	if (data.ptr)
		explicit_bzero(data.ptr, data.cap);
	mr_buf_release(&data);
	mr_buf_release(&err);
	free(target);
	return rc;
}

static int stage_dkim(struct stage *s, const struct mr_change *c)
{
	const char *ssl = s->a->lv.layout == MR_LAYOUT_RHEL ? "/etc/exim/ssl" : "/etc/exim4/ssl";
	struct mr_buf pp = MR_BUF_INIT, tp = MR_BUF_INIT;
	mr_buf_addf(&pp, "%s/%s.private", ssl, c->id);
	mr_buf_addf(&tp, "%s/%s.txt", ssl, c->id);
	int rc = c->action == MR_CHANGE_CREATE ? 0 : keep_key(s->a, pp.ptr);
	if (c->action == MR_CHANGE_DELETE) {
		char *p = full(s->a, pp.ptr), *t = full(s->a, tp.ptr);
		rc = mr_txn_unlink(s->t, p, &s->err) || mr_txn_unlink(s->t, t, &s->err) ? -1 : 0;
		free(p);
		free(t);
	} else {
		const struct mr_domain *d = target_domain(s->a, c->id);
		struct mr_buf pem = MR_BUF_INIT, txt = MR_BUF_INIT;
		char *pub = NULL;
		if (mr_dkim_generate(d->dkim.bits, &pem, &pub, &s->err) < 0) {
			rc = -1;
		} else {
			mr_dkim_txt_render(d->dkim.selector, d->name, pub, &txt);
			rc = stage_bytes(s, pp.ptr, pem.ptr, pem.len, NULL, true);
			if (rc == 0)
				rc = stage_bytes(s, tp.ptr, txt.ptr, txt.len, NULL, true);
		}
		if (pem.ptr)
			explicit_bzero(pem.ptr, pem.cap);
		mr_buf_release(&pem);
		mr_buf_release(&txt);
		free(pub);
	}
	mr_buf_release(&pp);
	mr_buf_release(&tp);
	return rc;
}

static int read_secret_file(const struct actx *a, const char *base, const char *path, struct mr_buf *out,
			    struct mr_buf *err)
{
	char *p = mr_secret_path(a->root, base, path);
	struct stat st;
	int rc = mr_read_file_ex(p, 1u << 20, 0, out, &st, err);
	free(p);
	return rc;
}

static const struct mr_codec dovecot_cert_meta = { .name = "dovecot-cert", .owner = "root",
						    .group = { "dovecot", "dovecot" }, .mode = 0600 };

static int stage_cert(struct stage *s, const struct mr_change *c)
{
	const char *ssl = s->a->lv.layout == MR_LAYOUT_RHEL ? "/etc/exim/ssl" : "/etc/exim4/ssl";
	const char *dirs[2] = { ssl, "/etc/dovecot/certs" };
	int rc = 0;
	for (int i = 0; i < 2 && rc == 0 && c->action != MR_CHANGE_CREATE; i++) {
		struct mr_buf k = MR_BUF_INIT;
		mr_buf_addf(&k, "%s/%s.key", dirs[i], c->id);
		rc = keep_key(s->a, k.ptr);
		mr_buf_release(&k);
	}
	if (rc == 0 && c->action == MR_CHANGE_DELETE) {
		for (int i = 0; i < 2 && rc == 0; i++) {
			struct mr_buf p = MR_BUF_INIT, k = MR_BUF_INIT;
			mr_buf_addf(&p, "%s/%s.crt", dirs[i], c->id);
			mr_buf_addf(&k, "%s/%s.key", dirs[i], c->id);
			char *fp = full(s->a, p.ptr), *fk = full(s->a, k.ptr);
			rc = mr_txn_unlink(s->t, fp, &s->err) || mr_txn_unlink(s->t, fk, &s->err) ? -1 : 0;
			free(fp);
			free(fk);
			mr_buf_release(&p);
			mr_buf_release(&k);
		}
		s->reload_dovecot = true;
		return rc;
	}
	const struct mr_domain *d = target_domain(s->a, c->id);
	struct mr_buf crt = MR_BUF_INIT, key = MR_BUF_INIT;
	if (d->ssl.cert == MR_CERT_SELF_SIGNED)
		rc = mr_cert_self_signed(d->ssl.alias, d->name, d->ssl.email, 825, &crt, &key, &s->err);
	else if (read_secret_file(s->a, d->ssl.base_dir, d->ssl.cert_path, &crt, &s->err) < 0 ||
		 read_secret_file(s->a, d->ssl.base_dir, d->ssl.key_path, &key, &s->err) < 0)
		rc = -1;
	for (int i = 0; i < 2 && rc == 0; i++) {
		struct mr_buf p = MR_BUF_INIT, k = MR_BUF_INIT;
		mr_buf_addf(&p, "%s/%s.crt", dirs[i], c->id);
		mr_buf_addf(&k, "%s/%s.key", dirs[i], c->id);
		/* Exim's copies belong to the Exim user, Dovecot's to root:dovecot (docs/formats.md) */
		const struct mr_codec *meta = i == 1 ? &dovecot_cert_meta : NULL;
		rc = stage_bytes(s, p.ptr, crt.ptr, crt.len, meta, true);
		if (rc == 0)
			rc = stage_bytes(s, k.ptr, key.ptr, key.len, meta, true);
		mr_buf_release(&p);
		mr_buf_release(&k);
	}
	if (key.ptr)
		explicit_bzero(key.ptr, key.cap);
	mr_buf_release(&crt);
	mr_buf_release(&key);
	s->reload_dovecot = true;
	return rc;
}

/* the files written whole (the SNI include and map): configuration, root's, readable by the
 * servers */
static const struct mr_codec conf_meta = { .name = "config", .owner = "root", .group = { "root", "root" }, .mode = 0644 };

static int stage_all(struct stage *s, const struct mr_plan *p)
{
	for (size_t i = 0; i < p->nfiles; i++) {
		const struct mr_file_change *f = &p->files[i];
		if (f->file_id == MR_FILE_ID_CONFIG) {
			if (stage_bytes(s, f->path, f->content, f->len, &conf_meta, false) < 0)
				return -1;
			/* Exim expands its SNI map at each TLS handshake: no reload */
			s->reload_dovecot |= f->conf_id == MR_CONF_DOVECOT_SNI;
			continue;
		}
		if (f->file_id < 0 || !f->content)
			continue;
		const struct mr_codec *c = mr_codecs[f->file_id];
		if (stage_bytes(s, f->path, f->content, f->len, c, false) < 0)
			return -1;
		s->reload_postgrey |= f->file_id == MR_FILE_POSTGREY;
		s->reload_spamd |= f->file_id == MR_FILE_SPAMASSASSIN;
		mr_crash_point();
	}
	for (size_t i = 0; i < p->nchanges; i++) {
		const struct mr_change *c = &p->changes[i];
		int rc = c->object == MR_OBJ_DKIM ? stage_dkim(s, c) : c->object == MR_OBJ_CERT ? stage_cert(s, c) : 0;
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Archive (or, with --purge, remove after the commit) the storage of deleted mailboxes. */
static int stage_archives(struct stage *s, const struct mr_plan *p)
{
	for (size_t i = 0; i < p->nchanges; i++) {
		const struct mr_change *c = &p->changes[i];
		if (c->object != MR_OBJ_MAILBOX || c->action != MR_CHANGE_DELETE || !c->storage || s->a->o->purge)
			continue;
		char *from = full(s->a, c->storage);
		struct stat st;
		if (lstat(from, &st) == 0 && S_ISDIR(st.st_mode)) {
			struct mr_buf to = MR_BUF_INIT;
			mr_buf_addf(&to, "%s/archive/%s/%s", s->a->state, s->a->date, c->id);
			int rc = mr_txn_move(s->t, from, to.ptr, &s->err);
			mr_buf_release(&to);
			if (rc < 0) {
				free(from);
				return -1;
			}
		}
		free(from);
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void purge_storage(struct actx *a, const struct mr_plan *p)
{
	for (size_t i = 0; i < p->nchanges; i++) {
		const struct mr_change *c = &p->changes[i];
		if (c->object != MR_OBJ_MAILBOX || c->action != MR_CHANGE_DELETE || !c->storage)
			continue;
		char *path = full(a, c->storage);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) != 0)
				fprintf(stderr, "mailrecon: cannot remove the storage '%s': %s\n", path, strerror(errno));
			else
				say(a, "purged %s\n", c->storage);
		}
		free(path);
	}
}

/* Homes of new mailboxes: /var/www/OWNER/data/email/DOMAIN/MAILBOX, owner's, 0700. */
static int make_homes(struct actx *a, const struct mr_plan *p)
{
	int rc = 0;
	for (size_t i = 0; i < p->nchanges; i++) {
		const struct mr_change *c = &p->changes[i];
		if (c->object != MR_OBJ_MAILBOX || c->action != MR_CHANGE_CREATE)
			continue;
		const struct mr_mailbox *mb = mr_model_mailbox(&a->m, c->id);
		if (!mb)
			continue;
		const struct mr_sysaccount *acc = mr_sysaccount_get(&a->acc, mb->domain->owner);
		if (!acc)
			continue;
		char *home = mr_home_path(mb->domain->owner, mb->domain->name, mb->name);
		/* the components below /var/www/OWNER belong to the owner */
		const char *parts[] = { "/data", "/email", NULL, NULL };
		struct mr_buf dir = MR_BUF_INIT;
		mr_buf_addf(&dir, "/var/www/%s", mb->domain->owner);
		char *owner_dir = full(a, dir.ptr);
		struct mr_buf perr = MR_BUF_INIT;
		if (make_parents(owner_dir, &perr) < 0) /* /var/www */
			fprintf(stderr, "mailrecon: %s\n", perr.ptr);
		if (mkdir(owner_dir, 0750) == 0 && chown(owner_dir, (uid_t)acc->uid, (gid_t)acc->gid) != 0)
			fprintf(stderr, "mailrecon: cannot give '%s' to %s: %s\n", owner_dir, mb->domain->owner, strerror(errno));
		mr_buf_release(&perr);
		free(owner_dir);
		for (int k = 0; k < 4; k++) {
			if (k == 2)
				mr_buf_addf(&dir, "/%s", mb->domain->name);
			else if (k == 3)
				mr_buf_addf(&dir, "/%s", mb->name);
			else
				mr_buf_adds(&dir, parts[k]);
			char *d = full(a, dir.ptr);
			if (mkdir(d, k == 3 ? 0700 : 0750) == 0) {
				if (chown(d, (uid_t)acc->uid, (gid_t)acc->gid) != 0) {
					fprintf(stderr, "mailrecon: cannot give '%s' to %s: %s\n", d, mb->domain->owner, strerror(errno));
					rc = -1;
				}
			} else if (errno != EEXIST) {
				fprintf(stderr, "mailrecon: cannot create '%s': %s\n", d, strerror(errno));
				rc = -1;
			}
			free(d);
		}
		mr_buf_release(&dir);
		free(home);
	}
	return rc;
}

/* ---- commands run: useradd, checks, reloads ---- */

static int run_cmd(char *const argv[], struct mr_buf *output)
{
	int pipefd[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (output && pipe(pipefd) == 0) {
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
		posix_spawn_file_actions_addclose(&fa, pipefd[0]);
	}
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (rc != 0) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		if (output)
			mr_buf_addf(output, "cannot run %s: %s", argv[0], strerror(rc));
		return -1;
	}
	if (pipefd[0] >= 0) {
		char buf[4096];
		ssize_t n;
		while ((n = read(pipefd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
			if (n > 0 && output->len < 65536)
				mr_buf_add(output, buf, (size_t)n);
		close(pipefd[0]);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int create_accounts(struct actx *a, const struct mr_plan *p)
{
	for (size_t i = 0; i < a->m.nusers; i++) {
		const struct mr_user *u = a->m.users[i];
		if (u->account != MR_ACCOUNT_CREATE || mr_sysaccount_get(&a->acc, u->name))
			continue;
		(void)p;
		struct mr_buf home = MR_BUF_INIT, out = MR_BUF_INIT;
		mr_buf_addf(&home, "/var/www/%s", u->name);
		char *argv[12];
		int n = 0;
		argv[n++] = "useradd";
		if (strcmp(a->root, "/") != 0) {
			argv[n++] = "--prefix";
			argv[n++] = a->root;
		}
		argv[n++] = "-d";
		argv[n++] = home.ptr;
		argv[n++] = "-m";
		argv[n++] = "-s";
		argv[n++] = "/usr/sbin/nologin";
		argv[n++] = (char *)u->name;
		argv[n] = NULL;
		int rc = run_cmd(argv, &out);
		if (rc != 0) {
			fprintf(stderr, "mailrecon: useradd %s failed (exit %d): %s\n", u->name, rc, out.ptr ? out.ptr : "");
			mr_buf_release(&home);
			mr_buf_release(&out);
			return -1;
		}
		say(a, "created the system account %s (home %s)\n", u->name, home.ptr);
		mr_buf_release(&home);
		mr_buf_release(&out);
	}
	return 0;
}

/* Run a check tool: 0 ok or not installed (said), -1 failed (with the tool's message). */
static int check_tool(struct actx *a, char *const argv[], const char *what)
{
	struct mr_buf out = MR_BUF_INIT;
	int r = run_cmd(argv, &out), rc = 0;
	if (r == 0)
		say(a, "check: %s: ok\n", what);
	else if (r == 127 || (out.ptr && strncmp(out.ptr, "cannot run", 10) == 0))
		say(a, "check: %s: %s is not installed; skipped\n", what, argv[0]);
	else {
		fprintf(stderr, "mailrecon: check failed: %s (exit %d):\n%s\n", what, r, out.ptr ? out.ptr : "");
		rc = -1;
	}
	mr_buf_release(&out);
	return rc;
}

/* SpamAssassin's configuration directory in a temporary copy, with the staged local.cf. */
static int spamassassin_check(struct actx *a, const struct mr_plan *p)
{
	const struct mr_file_change *lc = NULL;
	for (size_t i = 0; i < p->nfiles; i++)
		if (p->files[i].file_id == MR_FILE_SPAMASSASSIN)
			lc = &p->files[i];
	if (!lc)
		return 0;
	char tmpl[] = "/tmp/mailrecon-sa.XXXXXX";
	if (!mkdtemp(tmpl))
		return 0;
	/* The directory's own .cf and .pre files, local.cf aside. Without the .pre files no
	 * plugin is loaded and every lint fails ("no loaded plugin implements check_main"): a
	 * sandbox --root that has only local.cf borrows them from this host's directory, the
	 * one the spamassassin binary being run was installed with. */
	char *src = full(a, "/etc/mail/spamassassin");
	struct mr_pathlist files = MR_PATHLIST_INIT;
	static const char *const suffixes[] = { ".cf", ".pre", NULL };
	struct mr_buf err = MR_BUF_INIT, data = MR_BUF_INIT;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			bool have_pre = false;
			for (size_t i = 0; i < files.n; i++) {
				size_t n = strlen(files.v[i]);
				have_pre |= n > 4 && strcmp(files.v[i] + n - 4, ".pre") == 0;
			}
			if (have_pre || strcmp(src, "/etc/mail/spamassassin") == 0)
				break;
			free(src);
			src = xstrdup("/etc/mail/spamassassin");
			mr_pathlist_release(&files);
		}
		mr_find_files(src, suffixes, &files, &err);
		for (size_t i = 0; i < files.n; i++) {
			const char *base = strrchr(files.v[i], '/') + 1;
			if (strchr(files.v[i] + strlen(src) + 1, '/') || strcmp(base, "local.cf") == 0)
				continue; /* only the directory's own files; local.cf is the staged one */
			struct stat st;
			mr_buf_reset(&data);
			if (mr_read_file_ex(files.v[i], 16u << 20, MR_READ_NOFOLLOW, &data, &st, &err) == 0) {
				char *dst = mr_path_join(tmpl, base);
				FILE *f = fopen(dst, "w");
				if (f) {
					fwrite(data.ptr, 1, data.len, f);
					fclose(f);
				}
				free(dst);
			}
		}
	}
	char *dst = mr_path_join(tmpl, "local.cf");
	FILE *f = fopen(dst, "w");
	if (f) {
		fwrite(lc->content, 1, lc->len, f);
		fclose(f);
	}
	struct mr_buf opt = MR_BUF_INIT;
	mr_buf_addf(&opt, "--siteconfigpath=%s", tmpl);
	char *argv[] = { "spamassassin", "--lint", opt.ptr, NULL };
	int rc = check_tool(a, argv, "spamassassin --lint with the new local.cf");
	nftw(tmpl, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(dst);
	free(src);
	mr_buf_release(&opt);
	mr_buf_release(&err);
	mr_buf_release(&data);
	mr_pathlist_release(&files);
	return rc;
}

/* The real tools' checks of what is staged; a tool that is not installed is skipped. */
static int checks(struct actx *a, struct stage *s, const struct mr_plan *p)
{
	(void)s;
	const char *exim = a->lv.layout == MR_LAYOUT_RHEL ? "exim" : "exim4";
	const char *conf = a->lv.layout == MR_LAYOUT_RHEL ? "/etc/exim/exim.conf" : "/etc/exim4/exim4.conf";
	char *fconf = full(a, conf);
	int rc = 0;
	struct stat st;
	if (stat(fconf, &st) == 0) {
		char *argv[] = { (char *)exim, "-bV", "-C", fconf, NULL };
		char what[256];
		snprintf(what, sizeof(what), "%s -bV -C %s", exim, conf);
		rc |= check_tool(a, argv, what);
	}
	free(fconf);
	if (spamassassin_check(a, p) < 0)
		rc = -1;
	/* Dovecot's configuration, when it is below the root and a certificate changed */
	char *dconf = full(a, "/etc/dovecot/dovecot.conf");
	if (s->reload_dovecot && stat(dconf, &st) == 0) {
		char *argv[] = { "doveconf", "-n", "-c", dconf, NULL };
		if (check_tool(a, argv, "doveconf -n") < 0)
			rc = -1;
	}
	free(dconf);
	return rc;
}

struct reload {
	const char *service, *env, *deflt;
	bool wanted;
};

static int reloads(struct actx *a, struct stage *s)
{
	/* postgrey re-reads its whitelists on SIGHUP, and its units (Debian's, EPEL's) have no
	 * ExecReload; spamd's unit is spamd on Debian 12 and spamassassin on RHEL */
	bool rhel = a->lv.layout == MR_LAYOUT_RHEL;
	struct reload r[] = {
		{ "postgrey", "MAILRECON_RELOAD_POSTGREY", "systemctl kill --signal=HUP --kill-who=main postgrey",
		  s->reload_postgrey },
		{ "spamd", "MAILRECON_RELOAD_SPAMD", rhel ? "systemctl reload spamassassin" : "systemctl reload spamd",
		  s->reload_spamd },
		{ "dovecot", "MAILRECON_RELOAD_DOVECOT", "doveadm reload", s->reload_dovecot },
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		if (!r[i].wanted)
			continue;
		const char *cmd = getenv(r[i].env);
		if (a->o->no_reload) {
			say(a, "reload of %s skipped (--no-reload)\n", r[i].service);
			continue;
		}
		if (!cmd || !*cmd) {
			if (strcmp(a->root, "/") != 0) {
				say(a, "reload of %s skipped: --root is not / (set %s to reload a sandbox)\n", r[i].service, r[i].env);
				continue;
			}
			cmd = r[i].deflt;
		}
		char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
		struct mr_buf out = MR_BUF_INIT;
		int x = run_cmd(argv, &out);
		if (x != 0) {
			fprintf(stderr, "mailrecon: reload of %s failed: '%s' exited %d: %s\n", r[i].service, cmd, x,
				out.ptr ? out.ptr : "");
			rc = -1;
		} else {
			say(a, "reloaded %s: %s\n", r[i].service, cmd);
		}
		mr_buf_release(&out);
	}
	return rc;
}

/* ---- audit log: one line per applied change ---- */

static const char *actor(const struct actx *a)
{
	static const char *const vars[] = { "SUDO_USER", "GITLAB_USER_LOGIN", "GITHUB_ACTOR", NULL };
	if (a->o->actor)
		return a->o->actor;
	for (const char *const *v = vars; *v; v++)
		if (getenv(*v) && *getenv(*v))
			return getenv(*v);
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

static void audit(struct actx *a, const struct mr_plan *p)
{
	char *path = full(a, "/var/log/mailrecon.log");
	struct mr_buf err = MR_BUF_INIT;
	make_parents(path, &err);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		fprintf(stderr, "mailrecon: cannot write the audit log '%s': %s\n", path, strerror(errno));
	} else {
		struct mr_buf b = MR_BUF_INIT;
		for (size_t i = 0; i < p->nchanges; i++) {
			const struct mr_change *c = &p->changes[i];
			mr_buf_addf(&b, "%s rev=%.12s actor=%s %s %s %s\n", a->iso, a->rev[0] ? a->rev : "-", actor(a),
				    mr_object_name(c->object), c->id, mr_change_action_name(c->action));
		}
		if (write(fd, b.ptr, b.len) != (ssize_t)b.len)
			fprintf(stderr, "mailrecon: cannot write the audit log '%s': %s\n", path, strerror(errno));
		close(fd);
		mr_buf_release(&b);
	}
	mr_buf_release(&err);
	free(path);
}

/* ---- plan files ---- */

/* The text from `start` (included) to the next `end` (excluded), or NULL. */
static char *section(const char *s, const char *start, const char *end)
{
	const char *a = strstr(s, start);
	if (!a)
		return NULL;
	const char *b = strstr(a, end);
	return b ? xstrndup(a, (size_t)(b - a)) : NULL;
}

static const char *first_difference(const char *old, const char *now)
{
	/* one fingerprint per line: name the path of the first line that differs */
	static char path[1024];
	const char *a = old, *b = now;
	while (*a && *b) {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
		size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
		if (la != lb || memcmp(a, b, la) != 0) {
			const char *p = strstr(a, "\"path\":\"");
			if (p && p < a + la) {
				p += 8;
				size_t n = strcspn(p, "\"");
				snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) - 1 ? n : sizeof(path) - 1), p);
				return path;
			}
			return "(the list of files)";
		}
		if (!ea || !eb)
			break;
		a = ea + 1;
		b = eb + 1;
	}
	return *a || *b ? "(the list of files)" : NULL;
}

static int check_planfile(struct actx *a, const char *saved, const struct mr_plan *p)
{
	struct mr_fingerprints dfp = { 0 }, lfp = { 0 };
	for (size_t i = 0; i < a->files.n; i++) {
		char *abs = realpath(a->files.v[i], NULL);
		mr_fingerprint_add(&dfp, abs ? abs : a->files.v[i], a->files.v[i]);
		free(abs);
	}
	for (size_t i = 0; i < a->nsources_read; i++)
		if (strncmp(a->sources_read[i], "git:", 4) == 0 && a->git_commit[0])
			mr_fingerprint_git(&dfp, a->sources_read[i], a->git_commit);
	mr_fingerprint_files(&a->lv, &a->acc, &lfp);
	char *absroot = realpath(a->root, NULL);
	struct mr_planfile_meta meta = { .root = absroot ? absroot : a->root, .layout = mr_layout_name(a->lv.layout),
					 .scope = a->o->scope, .created = "", .desired = &dfp, .live = &lfp };
	struct mr_buf now = MR_BUF_INIT;
	mr_planfile_write(p, &a->lv.findings, &meta, &now);
	int rc = 0;
	static const char *const parts[][3] = {
		{ "\"mailrecon_version\":", ",\"created\"", "the plan was made by another mailrecon version" },
		{ ",\"root\":", "\n\"desired_sources\"", "the plan was made for another root, layout or scope" },
		{ "\"desired_sources\":", "\n\"live_files\"", "a desired-state source changed since the plan" },
		{ "\"live_files\":", "\n\"plan\"", "a live file changed since the plan" },
		{ "\n\"plan\":", "\n}\n", "the plan would now be different" },
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && rc == 0; i++) {
		char *x = section(saved, parts[i][0], parts[i][1]), *y = section(now.ptr, parts[i][0], parts[i][1]);
		if (!x || !y || strcmp(x, y) != 0) {
			const char *what = x && y && i >= 2 && i <= 3 ? first_difference(x, y) : NULL;
			fprintf(stderr, "mailrecon: apply: refused: %s%s%s; make a new plan\n", parts[i][2],
				what ? ": " : "", what ? what : "");
			rc = EXIT_REFUSED;
		}
		free(x);
		free(y);
	}
	mr_buf_release(&now);
	mr_fingerprints_release(&dfp);
	mr_fingerprints_release(&lfp);
	free(absroot);
	return rc;
}

/* The desired-state sources a plan file names. */
static int planfile_sources(const char *saved, struct mr_pathlist *out)
{
	char *sec = section(saved, "\"desired_sources\":", "\n\"live_files\"");
	if (!sec)
		return -1;
	for (const char *p = sec; (p = strstr(p, "{\"path\":\"")) != NULL;) {
		p += 9;
		struct mr_buf b = MR_BUF_INIT;
		for (; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1]) {
				p++;
				mr_buf_addc(&b, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
			} else {
				mr_buf_addc(&b, *p);
			}
		}
		if (b.ptr)
			mr_pathlist_add(out, b.ptr);
		mr_buf_release(&b);
	}
	free(sec);
	return out->n ? 0 : -1;
}

/* ---- the run ---- */

static int load(struct actx *a, const char *const *sources, size_t n)
{
	a->sources_read = sources;
	a->nsources_read = n;
	struct mr_load_opts lo = { .root = a->root, .sources = sources, .nsources = n, .files_out = &a->files,
				   .read_git = mr_vcs_source };
	int lrc = mr_load_desired(&a->m, &lo, &a->d);
	memcpy(a->git_commit, lo.git_commit, sizeof(a->git_commit));
	if (lrc < 0) {
		mr_diags_print(&a->d, stderr);
		fprintf(stderr, "mailrecon: apply: %zu error%s in the desired state; nothing was changed\n", a->d.errors,
			a->d.errors == 1 ? "" : "s");
		return EXIT_ERROR;
	}
	mr_diags_print(&a->d, stderr);
	a->have_live = true;
	if (mr_live_load(&a->lv, &(struct mr_live_opts){ .root = a->root, .layout = a->o->layout }, &a->errors) < 0 ||
	    (a->have_acc = true, mr_accounts_load(&a->acc, a->lv.root, &a->errors) < 0)) {
		mr_diags_print(&a->errors, stderr);
		fprintf(stderr, "mailrecon: apply: the live files could not be read; nothing was changed\n");
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

static int build(struct actx *a, struct mr_plan *p, bool hashing)
{
	struct mr_plan_input in = {
		.desired = &a->m, .live = &a->lv, .accounts = &a->acc, .scope = a->o->scope,
		.state_dir = a->o->state_dir, .date = a->date, .oracle = mr_oracle(&a->oc, hashing),
	};
	int rc = mr_plan_build(p, &in, &a->errors);
	if (rc < 0) {
		mr_diags_sort(&a->errors);
		mr_diags_print(&a->errors, stderr);
		fprintf(stderr, "mailrecon: apply: %s; nothing was changed\n",
			rc == MR_PLAN_REFUSED ? "refused by the rules of --scope" : "no plan");
		return rc == MR_PLAN_REFUSED ? EXIT_REFUSED : EXIT_ERROR;
	}
	return EXIT_OK;
}

static void print_plan(struct actx *a, const struct mr_plan *p)
{
	if (a->o->verbosity < 0)
		return;
	struct mr_buf out = MR_BUF_INIT;
	mr_plan_print_text(p, &a->lv.findings, a->o->color, &out);
	fwrite(out.ptr, 1, out.len, stdout);
	fflush(stdout);
	mr_buf_release(&out);
}

/* ---- history ---- */

static void source_name(const struct actx *a, struct mr_buf *out)
{
	for (size_t i = 0; i < a->o->nsources; i++) {
		const char *s = a->o->sources[i];
		if (strncmp(s, "git:", 4) == 0 && a->git_commit[0])
			mr_buf_addf(out, "%s%s (commit %s)", i ? ", " : "", s, a->git_commit);
		else {
			char *abs = realpath(s, NULL);
			mr_buf_addf(out, "%s%s", i ? ", " : "", abs ? abs : s);
			free(abs);
		}
	}
	if (a->o->planfile)
		mr_buf_addf(out, "%splan file %s", out->len ? ", " : "", a->o->planfile);
	if (!out->len)
		mr_buf_adds(out, MR_DESIRED_DEFAULT);
}

static int commit_snapshot(struct actx *a, const char *message, bool *committed)
{
	struct mr_snapshot snap;
	struct mr_buf err = MR_BUF_INIT;
	int rc = mr_snapshot_take(a->root, a->lv.layout, &snap, &err);
	if (rc == 0 && mr_fault_check("commit") < 0) { /* test seam: the repository fails now */
		mr_buf_addf(&err, "the state repository: %s", strerror(errno));
		rc = -1;
	}
	if (rc == 0)
		rc = mr_vcs_commit(a->vcs, snap.v, snap.n, message, actor(a), a->rev, committed, &err);
	if (rc < 0)
		fprintf(stderr, "mailrecon: cannot record the revision: %s\n", err.ptr ? err.ptr : "?");
	mr_snapshot_release(&snap);
	mr_buf_release(&err);
	return rc;
}

/* ---- the objects a drift touched ---- */

struct rev_dir {
	const char *dir;
};

static int write_rev_file(void *ctx, const char *path, const void *data, size_t len)
{
	struct rev_dir *r = ctx;
	char *p = mr_path_join(r->dir, path);
	struct mr_buf err = MR_BUF_INIT;
	make_parents(p, &err);
	FILE *f = fopen(p, "w");
	if (f) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
	mr_buf_release(&err);
	free(p);
	return 0;
}

/*
 * Name the objects a drift touched: HEAD's files are read into a model of their own (in a
 * temporary root), and the plan from the live files back to it lists them.  Keys are left
 * out: history holds no private key, so every DKIM key and certificate would look gone.
 */
static void rev_objects(struct actx *a, const char *rev, bool drift, struct mr_buf *m)
{
	char tmpl[] = "/tmp/mailrecon-drift.XXXXXX";
	if (!mkdtemp(tmpl))
		return;
	struct rev_dir rd = { tmpl };
	struct mr_buf err = MR_BUF_INIT;
	struct mr_live head;
	struct mr_diags d = MR_DIAGS_INIT;
	struct mr_plan p;
	memset(&p, 0, sizeof(p));
	bool loaded = false;
	if (mr_vcs_read(a->vcs, rev, write_rev_file, &rd, NULL, &err) == 0 &&
	    mr_live_load(&head, &(struct mr_live_opts){ .root = tmpl, .layout = a->lv.layout }, &d) == 0) {
		loaded = true;
		struct mr_plan_input in = { .desired = &head.model, .live = &a->lv, .state_dir = a->o->state_dir };
		if (mr_plan_build(&p, &in, &d) >= 0) {
			size_t shown = 0;
			for (size_t i = 0; i < p.nchanges; i++) {
				const struct mr_change *c = &p.changes[i];
				if (c->object == MR_OBJ_DKIM || c->object == MR_OBJ_CERT)
					continue;
				/* the plan restores the revision: for a drift, its create is what the edit
				 * removed; for a rollback, it is what the rollback brings back */
				const char *what = drift ? (c->action == MR_CHANGE_CREATE ? " removed"
							    : c->action == MR_CHANGE_DELETE ? " added" : " changed")
							 : "";
				const char *sign = drift ? "" : c->action == MR_CHANGE_CREATE ? "+ " : c->action == MR_CHANGE_DELETE ? "- " : "~ ";
				mr_buf_addf(m, "%s  %s%s %s%s", shown++ ? "" : "\nObjects:\n", sign, mr_object_name(c->object),
					    c->object == MR_OBJ_SERVER ? "" : c->id, what);
				for (size_t k = 0; k < c->nattrs && c->action == MR_CHANGE_UPDATE; k++)
					mr_buf_addf(m, "%s%s", k ? ", " : " (", c->attrs[k].name);
				mr_buf_adds(m, c->action == MR_CHANGE_UPDATE && c->nattrs ? ")\n" : "\n");
			}
		}
	}
	mr_plan_release(&p);
	if (loaded)
		mr_live_release(&head);
	mr_diags_release(&d);
	mr_buf_release(&err);
	nftw(tmpl, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Before anything changes: a revision left pending by a failed commit, the baseline of a
 * first apply, or the drift found since the last revision -- so an edit made outside
 * mailrecon is in history before mailrecon undoes it. */
static int capture(struct actx *a)
{
	char *pending = mr_path_join(a->state, "pending-revision");
	struct mr_buf msg = MR_BUF_INIT, err = MR_BUF_INIT;
	int rc = 0;
	bool committed = false;
	if (mr_read_file(pending, 16u << 20, &msg, &err) == 0) {
		rc = commit_snapshot(a, msg.ptr, &committed);
		if (rc == 0) {
			unlink(pending);
			fprintf(stderr, "mailrecon: recorded the revision a previous apply could not commit (%.12s)\n", a->rev);
		}
		goto out;
	}
	struct mr_snapshot snap;
	if (mr_snapshot_take(a->root, a->lv.layout, &snap, &err) < 0) {
		fprintf(stderr, "mailrecon: %s\n", err.ptr);
		rc = -1;
		goto out;
	}
	struct mr_pathlist changed = MR_PATHLIST_INIT;
	struct mr_buf m = MR_BUF_INIT;
	int r = mr_history_changed(a->vcs, "HEAD", &snap, &changed, &err);
	if (r == 1) {
		mr_buf_adds(&m, "baseline: the live files before mailrecon's first apply\n");
	} else if (r < 0) {
		fprintf(stderr, "mailrecon: cannot read the state repository: %s\n", err.ptr);
		rc = -1;
	} else if (changed.n) {
		mr_buf_addf(&m, "drift: %zu file%s changed outside mailrecon\n\nFiles:\n", changed.n, changed.n == 1 ? "" : "s");
		for (size_t i = 0; i < changed.n; i++)
			mr_buf_addf(&m, "  %s\n", changed.v[i]);
		rev_objects(a, "HEAD", true, &m);
	}
	if (rc == 0 && m.len) {
		mr_history_trailers(&m, NULL, actor(a));
		rc = mr_vcs_commit(a->vcs, snap.v, snap.n, m.ptr, actor(a), a->rev, &committed, &err);
		if (rc < 0)
			fprintf(stderr, "mailrecon: cannot record the live state: %s\n", err.ptr);
		else if (committed)
			say(a, "recorded %s as revision %.12s\n", r == 1 ? "the live files (baseline)" : "drift", a->rev);
	}
	a->rev[0] = '\0';
	mr_buf_release(&m);
	mr_pathlist_release(&changed);
	mr_snapshot_release(&snap);
out:
	mr_buf_release(&msg);
	mr_buf_release(&err);
	free(pending);
	return rc;
}

/* The files are switched but their commit failed: keep the message, the next run's
 * capture() commits it before anything else. */
static void keep_pending(struct actx *a, const char *message)
{
	char *pending = mr_path_join(a->state, "pending-revision");
	FILE *f = fopen(pending, "w");
	if (!f || fputs(message, f) < 0 || fclose(f) != 0)
		fprintf(stderr, "mailrecon: cannot keep the pending revision in '%s': %s\n", pending, strerror(errno));
	free(pending);
}

/* After the switch: one revision for the apply, its plan as the message. */
static int record(struct actx *a, const struct mr_plan *p)
{
	struct mr_buf msg = MR_BUF_INIT, text = MR_BUF_INIT, src = MR_BUF_INIT;
	mr_buf_addf(&msg, "Plan: %zu to add, %zu to change, %zu to destroy.\n\n", p->add, p->change, p->destroy);
	struct mr_plan copy = *p;
	mr_plan_print_text(&copy, NULL, false, &text);
	mr_buf_add(&msg, text.ptr, text.len);
	source_name(a, &src);
	mr_history_trailers(&msg, src.ptr, actor(a));
	bool committed = false;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = commit_snapshot(a, msg.ptr, &committed);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (a->o->verbosity > 0)
		printf("revision recorded in %.3f s (snapshot of the live files and commit)\n",
		       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (rc < 0) {
		keep_pending(a, msg.ptr);
		fprintf(stderr, "mailrecon: apply: the files are applied but their revision is not recorded; "
				"the next run records it\n");
	} else if (committed) {
		say(a, "recorded revision %.12s\n", a->rev);
	}
	mr_buf_release(&msg);
	mr_buf_release(&text);
	mr_buf_release(&src);
	return rc;
}

static int apply_plan(struct actx *a, struct mr_plan *p)
{
	/* the second plan: with system accounts made and new passwords hashed */
	if (create_accounts(a, p) < 0)
		return EXIT_ERROR;
	mr_accounts_release(&a->acc);
	if (mr_accounts_load(&a->acc, a->lv.root, &a->errors) < 0)
		return EXIT_ERROR;
	struct mr_plan final;
	int rc = build(a, &final, true);
	if (rc)
		return rc;
	if (final.nchanges != p->nchanges || final.add != p->add || final.destroy != p->destroy) {
		fprintf(stderr, "mailrecon: apply: the plan changed while applying; nothing was changed\n");
		mr_plan_release(&final);
		return EXIT_ERROR;
	}
	char *journal = mr_path_join(a->state, "journal");
	struct stage s = { .a = a, .t = mr_txn_begin(journal), .err = MR_BUF_INIT };
	rc = EXIT_OK;
	if (stage_all(&s, &final) < 0 || stage_archives(&s, &final) < 0) {
		fprintf(stderr, "mailrecon: apply: %s; nothing was changed\n", s.err.ptr ? s.err.ptr : "staging failed");
		rc = EXIT_ERROR;
	} else if (checks(a, &s, &final) < 0) {
		fprintf(stderr, "mailrecon: apply: a check failed; nothing was changed\n");
		rc = EXIT_ERROR;
	} else if (mr_txn_commit(s.t, &s.err) < 0) {
		fprintf(stderr, "mailrecon: apply: %s\n", s.err.ptr); /* txn says whether anything changed */
		rc = EXIT_ERROR;
	}
	if (rc != EXIT_OK) {
		mr_txn_abort(&s.t);
	} else {
		mr_txn_free(&s.t);
		if (a->o->purge)
			purge_storage(a, &final);
		if (make_homes(a, &final) < 0)
			rc = EXIT_ERROR;
		if (record(a, &final) < 0)
			rc = EXIT_ERROR;
		audit(a, &final);
		if (reloads(a, &s) < 0)
			rc = EXIT_ERROR;
		say(a, "\nApply complete: %zu added, %zu changed, %zu destroyed; %zu file%s written.\n", final.add, final.change,
		    final.destroy, s.written, s.written == 1 ? "" : "s");
	}
	mr_buf_release(&s.err);
	free(journal);
	mr_plan_release(&final);
	return rc;
}

/* The run's context: --root resolved (the transaction takes only clean absolute paths),
 * the state directory below it, today's date. */
static int actx_init(struct actx *a, const struct mr_apply_opts *o)
{
	memset(a, 0, sizeof(*a));
	a->o = o;
	a->root = realpath(o->root && *o->root ? o->root : "/", NULL);
	if (!a->root) {
		fprintf(stderr, "mailrecon: --root '%s': %s\n", o->root, strerror(errno));
		return -1;
	}
	a->state = mr_path_join_root(a->root, o->state_dir);
	mr_model_init(&a->m);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(a->date, sizeof(a->date), "%Y-%m-%d", &tm);
	strftime(a->iso, sizeof(a->iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return 0;
}

/*
 * Before any write: the state directory (root-only), the lock, an interrupted apply
 * finished or undone from its journal, and files staged by a run that died before its
 * journal (never applied) removed.  0, or the exit code.
 */
static int take_state(struct actx *a, const char *cmd, int *lockfd)
{
	struct mr_buf err = MR_BUF_INIT, report = MR_BUF_INIT;
	int rc = 0;
	if (make_parents(a->state, &err) < 0 || (mkdir(a->state, 0700) != 0 && errno != EEXIST)) {
		fprintf(stderr, "mailrecon: cannot create the state directory '%s': %s\n", a->state,
			err.ptr ? err.ptr : strerror(errno));
		rc = EXIT_ERROR;
		goto out;
	}
	if ((rc = mr_state_lock(a->state, true, a->o->lock_timeout, lockfd)) != 0)
		goto out;
	char *journal = mr_path_join(a->state, "journal");
	int r = mr_txn_recover(journal, &report, &err);
	free(journal);
	if (report.len)
		fprintf(stderr, "mailrecon: %s\n", report.ptr);
	if (r < 0) {
		fprintf(stderr, "mailrecon: %s: cannot finish the interrupted apply: %s\n", cmd, err.ptr);
		rc = EXIT_ERROR;
		goto out;
	}
	enum mr_layout lay = a->o->layout;
	if (lay == MR_LAYOUT_AUTO && mr_layout_detect(a->root, &lay, &err) < 0)
		lay = MR_LAYOUT_DEBIAN;
	struct mr_pathlist dirs = MR_PATHLIST_INIT;
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		char *d = mr_path_dirname(mr_codec_path(mr_codecs[i], lay));
		mr_pathlist_add(&dirs, d);
		free(d);
	}
	mr_pathlist_add(&dirs, lay == MR_LAYOUT_RHEL ? "/etc/exim/ssl" : "/etc/exim4/ssl");
	mr_pathlist_add(&dirs, "/etc/dovecot/certs");
	mr_pathlist_add(&dirs, "/etc/dovecot/conf.d");
	mr_pathlist_sort(&dirs);
	mr_buf_reset(&report);
	for (size_t i = 0; i < dirs.n; i++) {
		if (i && strcmp(dirs.v[i], dirs.v[i - 1]) == 0)
			continue;
		char *d = full(a, dirs.v[i]);
		mr_txn_cleanup_temps(d, &report);
		free(d);
	}
	if (report.len)
		fprintf(stderr, "mailrecon: %s\n", report.ptr);
	mr_pathlist_release(&dirs);
out:
	mr_buf_release(&err);
	mr_buf_release(&report);
	return rc;
}

int mr_apply_run(const struct mr_apply_opts *o)
{
	struct actx a;
	if (actx_init(&a, o) < 0)
		return EXIT_ERROR;
	int rc = EXIT_OK, lockfd = -1;
	char *saved = NULL;
	struct mr_pathlist srcs = MR_PATHLIST_INIT; /* a plan file's sources, alive to the end */
	struct mr_plan p;
	memset(&p, 0, sizeof(p));

	struct mr_buf err = MR_BUF_INIT;
	if ((rc = take_state(&a, "apply", &lockfd)) != 0)
		goto out;
	char *cache_dir = mr_path_join(a.state, "cache");
	a.oc.cache = mr_pwcache_open(cache_dir, true);
	free(cache_dir);

	if (o->planfile) {
		struct mr_buf pf = MR_BUF_INIT;
		if (mr_read_file(o->planfile, 512u << 20, &pf, &err) < 0) {
			fprintf(stderr, "mailrecon: apply: %s\n", err.ptr);
			rc = EXIT_ERROR;
			goto out;
		}
		saved = mr_buf_detach(&pf);
		if (!strstr(saved, "\"format\":\"" MR_PLANFILE_FORMAT "\"") || planfile_sources(saved, &srcs) < 0) {
			fprintf(stderr, "mailrecon: apply: '%s' is not a mailrecon plan file\n", o->planfile);
			rc = EXIT_ERROR;
			goto out;
		}
		rc = load(&a, (const char *const *)srcs.v, srcs.n);
	} else {
		rc = load(&a, o->sources, o->nsources);
	}
	if (rc)
		goto out;
	{
		char *repo_dir = mr_path_join(a.state, "repo");
		a.vcs = mr_vcs_open(repo_dir, true, &err);
		free(repo_dir);
		if (!a.vcs) {
			fprintf(stderr, "mailrecon: apply: %s; nothing was changed\n", err.ptr);
			rc = EXIT_ERROR;
			goto out;
		}
		if (capture(&a) < 0) {
			fprintf(stderr, "mailrecon: apply: the live state could not be recorded; nothing was changed\n");
			rc = EXIT_ERROR;
			goto out;
		}
	}
	a.oc.root = a.lv.root;
	a.oc.lv = &a.lv;
	a.oc.desired = &a.m;
	rc = build(&a, &p, false);
	if (rc)
		goto out;
	if (saved && (rc = check_planfile(&a, saved, &p)) != 0)
		goto out;
	print_plan(&a, &p);
	if (mr_plan_blocked(&p, &a.errors)) {
		mr_diags_print(&a.errors, stderr);
		fprintf(stderr, "mailrecon: apply: refused; nothing was changed\n");
		rc = EXIT_ERROR;
		goto out;
	}
	size_t dels = p.del_users + p.del_domains + p.del_mailboxes;
	if (o->allow_delete >= 0 && dels > (size_t)o->allow_delete) {
		fprintf(stderr,
			"mailrecon: apply: refused: the plan deletes %zu user%s, %zu domain%s and %zu mailbox%s (shown above); "
			"--allow-delete=%ld allows %ld; nothing was changed\n",
			p.del_users, p.del_users == 1 ? "" : "s", p.del_domains, p.del_domains == 1 ? "" : "s",
			p.del_mailboxes, p.del_mailboxes == 1 ? "" : "es", o->allow_delete, o->allow_delete);
		rc = EXIT_REFUSED;
		goto out;
	}
	if (p.nchanges == 0 && p.nfiles == 0)
		goto out; /* "No changes." was printed: nothing is written, nothing reloaded */
	rc = apply_plan(&a, &p);
	mr_pwcache_save(a.oc.cache);
out:
	mr_plan_release(&p);
	mr_vcs_close(&a.vcs);
	mr_pwcache_free(&a.oc.cache);
	mr_oracle_release(&a.oc);
	if (a.have_acc)
		mr_accounts_release(&a.acc);
	if (a.have_live)
		mr_live_release(&a.lv);
	mr_model_release(&a.m);
	mr_diags_release(&a.d);
	mr_diags_release(&a.errors);
	mr_pathlist_release(&a.files);
	mr_buf_release(&err);
	if (lockfd >= 0)
		close(lockfd);
	mr_pathlist_release(&srcs);
	free(saved);
	free(a.state);
	free(a.root);
	return rc;
}

/* ---- rollback ---- */

static int cmp_vcs_file(const void *x, const void *y)
{
	return strcmp(((const struct mr_vcs_file *)x)->path, ((const struct mr_vcs_file *)y)->path);
}

struct rev_files {
	struct mr_snapshot s; /* the revision's files, as a snapshot */
};

static int rev_cb(void *ctx, const char *path, const void *data, size_t len)
{
	struct rev_files *r = ctx;
	r->s.v = xgrow(r->s.v, sizeof(*r->s.v), r->s.n + 1, &r->s.cap);
	r->s.v[r->s.n++] = (struct mr_vcs_file){ xstrdup(path), xmemdup(data, len), len };
	return 0;
}

static const struct mr_codec *codec_of(enum mr_layout lay, const char *path)
{
	for (size_t i = 0; i < MR_FILE_COUNT; i++)
		if (strcmp(mr_codec_path(mr_codecs[i], lay), path) == 0)
			return mr_codecs[i];
	for (int id = 0; id < MR_CONF_COUNT; id++)
		if (strcmp(path, mr_conf_path((enum mr_conf_id)id, lay)) == 0)
			return &conf_meta;
	/* the key directories: Dovecot's copies are root:dovecot; NULL is the Exim user (ssl/) */
	if (strncmp(path, "/etc/dovecot/certs/", 19) == 0)
		return &dovecot_cert_meta;
	return NULL;
}

static bool is_fingerprint(const char *path)
{
	size_t n = strlen(path);
	return n > 12 && strcmp(path + n - 12, ".fingerprint") == 0;
}

static size_t count_lines(const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += s[i] == '\n';
	return k;
}

int mr_rollback_run(const struct mr_apply_opts *o, const char *rev)
{
	struct actx a;
	if (actx_init(&a, o) < 0)
		return EXIT_ERROR;
	int rc = EXIT_OK, lockfd = -1;
	struct mr_buf err = MR_BUF_INIT, report = MR_BUF_INIT;
	struct rev_files want = { { NULL, 0, 0 } };
	struct mr_snapshot cur = { NULL, 0, 0 };
	struct mr_vcs_entry e;
	char **paths = NULL;
	size_t np = 0;
	memset(&e, 0, sizeof(e));
	if ((rc = take_state(&a, "rollback", &lockfd)) != 0)
		goto out;
	char *repo = mr_path_join(a.state, "repo");
	a.vcs = mr_vcs_open(repo, false, &err);
	free(repo);
	if (!a.vcs) {
		fprintf(stderr, "mailrecon: rollback: %s\n", err.ptr);
		rc = EXIT_ERROR;
		goto out;
	}
	/* only a revision mailrecon made: it has mailrecon's trailer */
	if (mr_vcs_show(a.vcs, rev, &e, &paths, &np, &err) < 0) {
		fprintf(stderr, "mailrecon: rollback: %s\n", err.ptr);
		rc = EXIT_ERROR;
		goto out;
	}
	struct mr_buf msg = MR_BUF_INIT;
	mr_buf_addf(&msg, "%s\n\n%s", e.subject, e.body);
	char ver[64];
	bool ours = mr_vcs_trailer(msg.ptr, MR_HISTORY_TRAILER, ver, sizeof(ver));
	mr_buf_release(&msg);
	if (!ours) {
		fprintf(stderr, "mailrecon: rollback: refused: %.12s is not a mailrecon revision (no %s trailer)\n", e.id,
			MR_HISTORY_TRAILER);
		rc = EXIT_REFUSED;
		goto out;
	}
	/* the live files as they are go into history first, as for apply */
	enum mr_layout lay = o->layout;
	if (lay == MR_LAYOUT_AUTO && mr_layout_detect(a.root, &lay, &err) < 0) {
		fprintf(stderr, "mailrecon: rollback: %s\n", err.ptr);
		rc = EXIT_ERROR;
		goto out;
	}
	a.lv.layout = lay;
	/* the system accounts: a file rollback recreates gets the owner apply would give it
	 * (the Exim user for ssl/, root:dovecot for Dovecot's certificates), not uid 0 */
	a.have_acc = true;
	if (mr_accounts_load(&a.acc, a.root, &a.errors) < 0) {
		mr_diags_print(&a.errors, stderr);
		rc = EXIT_ERROR;
		goto out;
	}
	if (capture(&a) < 0) {
		rc = EXIT_ERROR;
		goto out;
	}
	if (mr_vcs_read(a.vcs, e.id, rev_cb, &want, NULL, &err) != 0 || mr_snapshot_take(a.root, lay, &cur, &err) < 0) {
		fprintf(stderr, "mailrecon: rollback: %s\n", err.ptr ? err.ptr : "cannot read the revision");
		rc = EXIT_ERROR;
		goto out;
	}
	if (want.s.n > 1)
		qsort(want.s.v, want.s.n, sizeof(*want.s.v), cmp_vcs_file);
	/* what changes: files of the revision that differ, files it does not have */
	char *jpath = mr_path_join(a.state, "journal");
	struct stage s = { .a = &a, .t = mr_txn_begin(jpath), .err = MR_BUF_INIT };
	free(jpath);
	struct mr_buf shown = MR_BUF_INIT;
	size_t nchanged = 0, kept_keys = 0;
	for (size_t i = 0; i < want.s.n && rc == 0; i++) {
		const struct mr_vcs_file *w = &want.s.v[i];
		const struct mr_vcs_file *c = mr_snapshot_get(&cur, w->path);
		if (is_fingerprint(w->path)) {
			/* a private key is not in history: it comes back from STATE_DIR/keys by its
			 * fingerprint, where apply kept it before replacing it */
			if (c && c->len == w->len && memcmp(c->data, w->data, w->len) == 0)
				continue;
			char *keypath = mr_path_join("/", w->path);
			keypath[strlen(keypath) - 12] = '\0';
			char sha[65] = "";
			if (w->len > 7 + 64 && memcmp(w->data, "sha256 ", 7) == 0)
				memcpy(sha, (const char *)w->data + 7, 64);
			char *dir = mr_path_join(a.state, "keys");
			char *stored = mr_path_join(dir, sha);
			struct mr_buf key = MR_BUF_INIT, kerr = MR_BUF_INIT;
			struct stat kst;
			if (sha[0] && mr_read_file_ex(stored, 1u << 20, MR_READ_NOFOLLOW, &key, &kst, &kerr) == 0) {
				if (c)
					keep_key(&a, keypath);
				mr_buf_addf(&shown, "  ~ %s (the key of %.12s, kept in %s)\n", keypath, e.id, dir);
				if (stage_bytes(&s, keypath, key.ptr, key.len, codec_of(lay, keypath), true) < 0)
					rc = EXIT_ERROR;
				nchanged++;
			} else {
				kept_keys++;
				mr_buf_addf(&shown, "  ! %s: the key of %.12s is not kept in %s; the live one stays\n", keypath, e.id, dir);
			}
			if (key.ptr)
				explicit_bzero(key.ptr, key.cap);
			mr_buf_release(&key);
			mr_buf_release(&kerr);
			free(stored);
			free(dir);
			free(keypath);
			continue;
		}
		if (c && c->len == w->len && memcmp(c->data, w->data, w->len) == 0)
			continue;
		char *path = mr_path_join("/", w->path);
		mr_buf_addf(&shown, "  %s %s (%zu lines in %.12s, %zu now)\n", c ? "~" : "+", path, count_lines(w->data, w->len),
			    e.id, c ? count_lines(c->data, c->len) : 0);
		if (stage_bytes(&s, path, w->data, w->len, codec_of(lay, path), false) < 0)
			rc = EXIT_ERROR;
		nchanged++;
		free(path);
	}
	for (size_t i = 0; i < cur.n && rc == 0; i++) {
		const struct mr_vcs_file *c = &cur.v[i];
		if (mr_snapshot_get(&want.s, c->path))
			continue;
		if (is_fingerprint(c->path)) {
			/* a key made after the revision: kept in the store, then removed */
			char *keypath = mr_path_join("/", c->path);
			keypath[strlen(keypath) - 12] = '\0';
			char *fkey = full(&a, keypath);
			keep_key(&a, keypath);
			mr_buf_addf(&shown, "  - %s (not in %.12s; kept in STATE_DIR/keys)\n", keypath, e.id);
			if (mr_txn_unlink(s.t, fkey, &s.err) < 0)
				rc = EXIT_ERROR;
			nchanged++;
			free(fkey);
			free(keypath);
			continue;
		}
		char *path = mr_path_join("/", c->path);
		char *fpath = full(&a, path);
		mr_buf_addf(&shown, "  - %s (not in %.12s)\n", path, e.id);
		if (mr_txn_unlink(s.t, fpath, &s.err) < 0)
			rc = EXIT_ERROR;
		nchanged++;
		free(fpath);
		free(path);
	}
	struct mr_buf objects = MR_BUF_INIT;
	if (nchanged) {
		/* the typed changes too: the revision's files read into a model, planned against */
		struct mr_diags ld = MR_DIAGS_INIT;
		if (mr_live_load(&a.lv, &(struct mr_live_opts){ .root = a.root, .layout = lay }, &ld) == 0) {
			a.have_live = true;
			rev_objects(&a, e.id, false, &objects);
		}
		mr_diags_release(&ld);
	}
	if (o->verbosity >= 0) {
		printf("Rollback to revision %.12s: %s\n%s\n", e.id, e.subject, objects.len ? objects.ptr : "");
		if (nchanged || kept_keys)
			printf("Files:\n%s\n", shown.ptr);
		if (nchanged)
			printf("%zu file%s to restore.\n", nchanged, nchanged == 1 ? "" : "s");
		else
			printf("No changes: the live files are those of %.12s.\n", e.id);
	}
	if (rc == 0 && nchanged) {
		if (mr_txn_commit(s.t, &s.err) < 0) {
			fprintf(stderr, "mailrecon: rollback: %s\n", s.err.ptr);
			rc = EXIT_ERROR;
		} else {
			struct mr_buf m = MR_BUF_INIT, src = MR_BUF_INIT;
			mr_buf_addf(&m, "rollback to %.12s\n\n%s\nFiles:\n%s", e.id, e.subject, shown.ptr);
			mr_buf_addf(&src, "revision %s", e.id);
			mr_history_trailers(&m, src.ptr, actor(&a));
			bool committed = false;
			if (commit_snapshot(&a, m.ptr, &committed) < 0) {
				keep_pending(&a, m.ptr);
				rc = EXIT_ERROR;
			} else {
				say(&a, "recorded revision %.12s\n", a.rev);
				char *logp = full(&a, "/var/log/mailrecon.log");
				FILE *lf = fopen(logp, "a");
				if (lf) {
					fprintf(lf, "%s rev=%.12s actor=%s revision %.12s rollback\n", a.iso, a.rev, actor(&a), e.id);
					fclose(lf);
				}
				free(logp);
			}
			mr_buf_release(&m);
			mr_buf_release(&src);
		}
	}
	if (s.t)
		mr_txn_abort(&s.t);
	mr_buf_release(&s.err);
	mr_buf_release(&shown);
	mr_buf_release(&objects);
out:
	if (a.have_live)
		mr_live_release(&a.lv);
	mr_vcs_paths_free(paths, np);
	mr_vcs_entry_release(&e);
	mr_snapshot_release(&want.s);
	mr_snapshot_release(&cur);
	mr_vcs_close(&a.vcs);
	mr_model_release(&a.m);
	if (a.have_acc)
		mr_accounts_release(&a.acc);
	mr_diags_release(&a.errors);
	mr_buf_release(&err);
	mr_buf_release(&report);
	if (lockfd >= 0)
		close(lockfd);
	free(a.state);
	free(a.root);
	return rc;
}
