/*
 * stage: every changed file and key of a plan, staged beside its target in the
 * transaction (txn.c); nothing live changes until the commit.  And the promise the commit
 * keeps: every live file the plan was made from is re-read just before the switch, so a
 * line another writer (the panel) added meanwhile is never overwritten.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apply/steps.h"
#include "codec/dkim_state.h"
#include "codec/dkim_txt.h"
#include "codec/live.h"
#include "crypto/digest.h"
#include "crypto/keygen.h"
#include "crypto/keys.h"
#include "load/secret.h"
#include "model/names.h"
#include "util/faults.h"
#include "util/xalloc.h"

/* the files written whole (the SNI include and map): configuration, root's, readable by the
 * servers */
const struct mr_codec conf_meta = { .name = "config", .owner = "root", .group = { "root", "root" }, .mode = 0644 };
const struct mr_codec dovecot_cert_meta = { .name = "dovecot-cert", .owner = "root", .group = { "dovecot", "dovecot" },
					    .mode = 0600 };

void stage_init(struct stage *s, struct actx *a)
{
	memset(s, 0, sizeof(*s));
	s->a = a;
	char *journal = state_path(a, "journal");
	s->t = mr_txn_begin(a->root, journal);
	free(journal);
	s->err = (struct mr_buf)MR_BUF_INIT;
}

/* gid of a group in ROOT/etc/group; -1 when it is not there */
static int64_t group_gid(const struct actx *a, const char *name)
{
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	int64_t gid = -1;
	if (mr_root_read(a->root, "/etc/group", 16u << 20, &data, &st, &err) == 0) {
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
	return gid;
}

static int64_t user_uid(const struct actx *a, const char *name)
{
	const struct mr_sysaccount *s = mr_sysaccount_get(&a->acc, name);
	return s ? s->uid : -1;
}

/* The owner, group and mode a file gets: an existing file keeps its own. */
static void file_meta(struct stage *s, const char *path, const struct mr_codec *c, bool secret, unsigned *mode,
		      int64_t *uid, int64_t *gid)
{
	struct stat st;
	if (mr_root_lstat(s->a->root, path, &st) == 0 && S_ISREG(st.st_mode)) {
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
		if (mr_root_is_slash(s->a->root) || s->a->o->verbosity > 0)
			fprintf(stderr, "mailrecon: note: no group '%s' in %s/etc/group; '%s' gets group root\n", group,
				mr_root_is_slash(s->a->root) ? "" : mr_root_dir(s->a->root), path);
		*gid = 0;
	}
}

int stage_bytes(struct stage *s, const char *path, const void *data, size_t len, const struct mr_codec *c, bool secret)
{
	if (len > MR_LIVE_MAX_FILE) {
		/* the next run could not read it back: never written (plan says so first) */
		mr_buf_addf(&s->err, "'%s' would have %zu bytes, over the %u MiB mailrecon reads of a live file; refused",
			    path, len, MR_LIVE_MAX_FILE >> 20);
		return -1;
	}
	unsigned mode;
	int64_t uid, gid;
	char *dir = mr_path_dirname(path);
	/* a missing parent of a managed file is root's (0755); a link on the way is refused */
	int rc = mr_txn_mkdirs(s->t, dir, 0755, &s->err);
	free(dir);
	if (rc == 0) {
		file_meta(s, path, c, secret, &mode, &uid, &gid);
		rc = mr_txn_write(s->t, path, data, len, mode, uid, gid, &s->err);
	}
	if (rc == 0)
		s->written++;
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
int keep_key(struct actx *a, const char *path)
{
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	int rc = 0;
	if (mr_root_read(a->root, path, 1u << 20, &data, &st, &err) == 0) {
		char sha[MR_SHA256_HEX];
		mr_sha256_hex(data.ptr ? data.ptr : "", data.len, sha);
		char *dir = state_path(a, "keys");
		char *dest = mr_path_join(dir, sha);
		struct mr_buf tmp = MR_BUF_INIT;
		int r = mr_root_mkdir(a->root, dir, 0700, -1, -1);
		if (r < 0 && r != -EEXIST)
			rc = -1;
		if (rc == 0 && mr_root_lstat(a->root, dest, &st) == -ENOENT) {
			mr_buf_addf(&tmp, "%s.tmp.%ld", dest, (long)getpid());
			int fd = mr_root_openat(a->root, tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || write(fd, data.ptr, data.len) != (ssize_t)data.len || fsync(fd) != 0 ||
			    mr_root_rename(a->root, tmp.ptr, dest, false) != 0) {
				mr_root_unlink(a->root, tmp.ptr);
				rc = -1;
			}
			if (fd >= 0)
				close(fd);
		}
		if (rc < 0) {
			char *shown = mr_root_full(a->root, dir);
			fprintf(stderr, "mailrecon: cannot keep the old key '%s' in '%s'\n", path, shown);
			free(shown);
		}
		mr_buf_release(&tmp);
		free(dest);
		free(dir);
	}
	if (data.ptr)
		explicit_bzero(data.ptr, data.cap);
	mr_buf_release(&data);
	mr_buf_release(&err);
	return rc;
}

/* STATE_DIR/dkim's files are root's, 0600, in a 0700 directory (codec/dkim_state.h) */
static const struct mr_codec dkim_state_meta = { .name = "dkim-state", .owner = "root", .group = { "root", "root" },
						 .mode = 0600 };

static int stage_state_file(struct stage *s, const char *domain, const char *ext, const void *data, size_t len,
			    bool secret)
{
	char *dir = mr_path_join(s->a->state, MR_DKIM_STATE_DIR), *path = mr_dkim_state_path(s->a->state, domain, ext);
	int rc = mr_txn_mkdirs(s->t, dir, 0700, &s->err);
	if (rc == 0)
		rc = data ? stage_bytes(s, path, data, len, &dkim_state_meta, secret) : mr_txn_unlink(s->t, path, &s->err);
	free(dir);
	free(path);
	return rc;
}

/* the staged key and its confirmation go */
static int drop_staged(struct stage *s, const char *domain)
{
	static const char *const ext[] = { ".private", ".txt", ".confirmed" };
	for (int e = 0; e < 3; e++)
		if (stage_state_file(s, domain, ext[e], NULL, 0, false) < 0)
			return -1;
	return 0;
}

/*
 * The switch: the staged key becomes ssl/DOMAIN.private, its record ssl/DOMAIN.txt (made
 * again from the key's public half, not copied from the state file), and the record it
 * replaces is kept in STATE_DIR/dkim/DOMAIN.retired until now + server.dkim_grace.
 */
static int switch_staged(struct stage *s, const struct mr_domain *live, const struct mr_domain *d, const char *pp,
			 const char *tp)
{
	struct mr_buf pem = MR_BUF_INIT, err = MR_BUF_INIT, txt = MR_BUF_INIT, ret = MR_BUF_INIT;
	char *staged = mr_dkim_state_path(s->a->state, d->name, ".private"), *pub = NULL;
	struct stat st;
	int rc = -1;
	if (mr_root_read(s->a->root, staged, 1u << 20, &pem, &st, &err) < 0) {
		mr_buf_addf(&s->err, "cannot read the staged DKIM key of '%s': %s", d->name, err.ptr);
		goto out;
	}
	int bits = mr_privkey_bits_pem(pem.ptr ? pem.ptr : "", pem.len, &pub);
	if (bits != d->dkim.bits || !live->dkim.pending_public_key || strcmp(pub, live->dkim.pending_public_key) != 0) {
		/* it changed since the plan read it: what dns --check confirmed is not this key */
		mr_buf_addf(&s->err, "the staged DKIM key of '%s' changed since it was read; run mailrecon dns --check again",
			    d->name);
		goto out;
	}
	mr_dkim_txt_render(d->dkim.selector, d->name, pub, &txt);
	rc = stage_bytes(s, pp, pem.ptr, pem.len, NULL, true);
	if (rc == 0)
		rc = stage_bytes(s, tp, txt.ptr, txt.len, NULL, true);
	if (rc == 0)
		rc = drop_staged(s, d->name);
	if (rc == 0 && live->dkim.public_key) {
		int64_t now = (int64_t)time(NULL);
		mr_dkim_state_render(live->dkim.selector, live->dkim.public_key, "until", now + s->a->m.server.dkim_grace, &ret);
		rc = stage_state_file(s, d->name, ".retired", ret.ptr, ret.len, false);
	}
out:
	if (pem.ptr)
		explicit_bzero(pem.ptr, pem.cap);
	mr_buf_release(&pem);
	mr_buf_release(&err);
	mr_buf_release(&txt);
	mr_buf_release(&ret);
	free(staged);
	free(pub);
	return rc;
}

/* A new key: bits and selector of d, in ssl/ (to sign at once) or staged in STATE_DIR/dkim. */
static int new_key(struct stage *s, const struct mr_domain *d, const char *pp, const char *tp, bool staged)
{
	struct mr_buf pem = MR_BUF_INIT, txt = MR_BUF_INIT;
	char *pub = NULL;
	int rc = -1;
	if (mr_dkim_generate(d->dkim.bits, &pem, &pub, &s->err) == 0) {
		mr_dkim_txt_render(d->dkim.selector, d->name, pub, &txt);
		if (staged) {
			/* an earlier staged key is overwritten; its confirmation goes */
			rc = stage_state_file(s, d->name, ".confirmed", NULL, 0, false);
			if (rc == 0)
				rc = stage_state_file(s, d->name, ".private", pem.ptr, pem.len, true);
			if (rc == 0)
				rc = stage_state_file(s, d->name, ".txt", txt.ptr, txt.len, false);
		} else {
			rc = stage_bytes(s, pp, pem.ptr, pem.len, NULL, true);
			if (rc == 0)
				rc = stage_bytes(s, tp, txt.ptr, txt.len, NULL, true);
		}
	}
	if (pem.ptr)
		explicit_bzero(pem.ptr, pem.cap);
	mr_buf_release(&pem);
	mr_buf_release(&txt);
	free(pub);
	return rc;
}

int stage_drop_staged_keys(struct stage *s, struct mr_buf *shown, size_t *n)
{
	char *dir = mr_path_join(s->a->state, MR_DKIM_STATE_DIR);
	struct mr_pathlist names = MR_PATHLIST_INIT;
	mr_root_list(s->a->root, dir, &names);
	mr_pathlist_sort(&names);
	int rc = 0;
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		const char *nm = names.v[i];
		size_t l = strlen(nm);
		bool ours = nm[0] != '.' &&
			    ((l > 8 && strcmp(nm + l - 8, ".private") == 0) || (l > 4 && strcmp(nm + l - 4, ".txt") == 0) ||
			     (l > 10 && strcmp(nm + l - 10, ".confirmed") == 0));
		if (!ours)
			continue;
		char *path = mr_path_join(dir, nm);
		rc = mr_txn_unlink(s->t, path, &s->err);
		mr_buf_addf(shown, "  - %s (a staged DKIM key: a revision records none)\n", path);
		(*n)++;
		free(path);
	}
	mr_pathlist_release(&names);
	free(dir);
	return rc;
}

/* What the plan's DKIM change of a domain does (plan.h mr_dkim_step: the same question). */
static int stage_dkim(struct stage *s, const struct mr_change *c)
{
	const char *ssl = s->a->lv.layout == MR_LAYOUT_RHEL ? "/etc/exim/ssl" : "/etc/exim4/ssl";
	const struct mr_domain *live = mr_model_domain(&s->a->lv.model, c->id);
	const struct mr_domain *d = mr_model_domain(&s->a->m, c->id);
	enum mr_dkim_step step = c->action == MR_CHANGE_DELETE ? MR_DKIM_DELETE : mr_dkim_step(live, d);
	struct mr_buf pp = MR_BUF_INIT, tp = MR_BUF_INIT;
	mr_buf_addf(&pp, "%s/%s.private", ssl, c->id);
	mr_buf_addf(&tp, "%s/%s.txt", ssl, c->id);
	int rc = 0;
	bool staged = live && live->dkim.pending_selector;
	if (step == MR_DKIM_DELETE || step == MR_DKIM_SWITCH || step == MR_DKIM_REPLACE ||
	    (step == MR_DKIM_CREATE && live && live->dkim.enabled))
		rc = keep_key(s->a, pp.ptr);
	if (rc < 0)
		goto out;
	switch (step) {
	case MR_DKIM_DELETE:
		rc = mr_txn_unlink(s->t, pp.ptr, &s->err) || mr_txn_unlink(s->t, tp.ptr, &s->err) ? -1 : 0;
		if (rc == 0 && staged)
			rc = drop_staged(s, c->id);
		break;
	case MR_DKIM_CREATE:
	case MR_DKIM_REPLACE: /* not asked of apply (a rollback stages the revision's files) */
		rc = new_key(s, d, pp.ptr, tp.ptr, false);
		if (rc == 0 && staged)
			rc = drop_staged(s, c->id);
		break;
	case MR_DKIM_STAGE:
		rc = new_key(s, d, pp.ptr, tp.ptr, true);
		break;
	case MR_DKIM_SWITCH:
		rc = switch_staged(s, live, d, pp.ptr, tp.ptr);
		break;
	case MR_DKIM_DROP:
		rc = drop_staged(s, c->id);
		break;
	case MR_DKIM_KEEP:
	case MR_DKIM_WAIT:
		break;
	}
	/* the replaced record of an earlier switch, past its grace period (a switch wrote a new one) */
	if (rc == 0 && step != MR_DKIM_SWITCH && mr_dkim_retired_expired(live, d ? d : NULL, (int64_t)time(NULL)))
		rc = stage_state_file(s, c->id, ".retired", NULL, 0, false);
out:
	mr_buf_release(&pp);
	mr_buf_release(&tp);
	return rc;
}

/* The certificate and key files a desired ssl names (whose: "'example.com'", "the server"),
 * read through the confinement layer and checked to be a certificate and its key before a
 * byte is copied. */
static int read_cert_files(struct stage *s, const struct mr_ssl *ssl, const char *whose, struct mr_buf *crt,
			   struct mr_buf *key)
{
	struct mr_buf e = MR_BUF_INIT;
	int rc = 0;
	const char *path = ssl->cert_path;
	int r = mr_secret_file_read(s->a->root, ssl->dir, path, MR_SECRET_FILE_MAX, crt, &e);
	if (r == 0) {
		path = ssl->key_path;
		r = mr_secret_file_read(s->a->root, ssl->dir, path, MR_SECRET_FILE_MAX, key, &e);
	}
	if (r < 0) {
		/* a --scope refusal (a link, another directory) is exit 3, like the plan's */
		mr_secret_refused_why(ssl->dir, path, r, &e);
		s->refused |= mr_secret_refused(ssl->dir, path, r);
		mr_buf_addf(&s->err, "the certificate of %s: %s", whose, e.ptr);
		rc = -1;
	} else {
		const char *why = mr_cert_pair_check(crt->ptr ? crt->ptr : "", crt->len, key->ptr ? key->ptr : "", key->len);
		if (why) {
			mr_buf_addf(&s->err, "the certificate of %s: %s; it is not copied", whose, why);
			rc = -1;
		}
	}
	mr_buf_release(&e);
	return rc;
}

/*
 * The server's default certificate (server.ssl): made or copied once, written as Exim's
 * ssl/exim.crt + exim.key (the Exim user's, as a domain's ssl/ copies) and as Dovecot's
 * default pair (root:dovecot 0600, as certs/).  Replaced keys are kept in STATE_DIR/keys
 * first.  Dovecot's two may be the distribution's links to the snakeoil pair: the link
 * itself is replaced (txn: a root-owned link there, renamed over, never followed).
 */
static int stage_server_cert(struct stage *s, bool copy_only)
{
	enum mr_layout lay = s->a->lv.layout;
	const struct mr_ssl *want = &s->a->m.server.ssl;
	int rc = copy_only ? 0 : keep_key(s->a, mr_srvcert_path(MR_SRVCERT_EXIM_KEY, lay));
	if (rc == 0)
		rc = keep_key(s->a, mr_srvcert_path(MR_SRVCERT_DOVECOT_KEY, lay));
	/* Dovecot's private directory, when it is missing, is made root's and closed (0700) */
	if (rc == 0)
		rc = mr_txn_mkdirs(s->t, MR_SRVCERT_DOVECOT_DIR, 0700, &s->err);
	struct mr_buf crt = MR_BUF_INIT, key = MR_BUF_INIT;
	if (rc == 0 && copy_only) {
		/* Exim's live pair, as the plan read it, is copied to Dovecot */
		struct mr_ssl live = { .cert_path = mr_srvcert_path(MR_SRVCERT_EXIM_CRT, lay),
				       .key_path = mr_srvcert_path(MR_SRVCERT_EXIM_KEY, lay) };
		rc = read_cert_files(s, &live, "the server", &crt, &key);
	} else if (rc == 0 && want->cert == MR_CERT_SELF_SIGNED)
		rc = mr_cert_self_signed(want->alias, NULL, want->email, 825, &crt, &key, &s->err);
	else if (rc == 0)
		rc = read_cert_files(s, want, "the server", &crt, &key);
	for (int w = copy_only ? MR_SRVCERT_DOVECOT_CRT : 0; w < MR_SRVCERT_COUNT && rc == 0; w++) {
		bool dovecot = w == MR_SRVCERT_DOVECOT_CRT || w == MR_SRVCERT_DOVECOT_KEY;
		bool is_key = w == MR_SRVCERT_EXIM_KEY || w == MR_SRVCERT_DOVECOT_KEY;
		const char *path = mr_srvcert_path((enum mr_srvcert)w, lay);
		if (dovecot)
			mr_txn_replace_link(s->t, path);
		rc = stage_bytes(s, path, is_key ? key.ptr : crt.ptr, is_key ? key.len : crt.len,
				 dovecot ? &dovecot_cert_meta : NULL, true);
	}
	mr_secret_wipe(&key);
	mr_buf_release(&crt);
	s->reload_dovecot = true;
	return rc;
}

static int stage_cert(struct stage *s, const struct mr_change *c)
{
	if (mr_change_server_cert(c))
		return c->action == MR_CHANGE_DELETE ? 0 : stage_server_cert(s, mr_change_cert_copy_only(c));
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
			rc = mr_txn_unlink(s->t, p.ptr, &s->err) || mr_txn_unlink(s->t, k.ptr, &s->err) ? -1 : 0;
			mr_buf_release(&p);
			mr_buf_release(&k);
		}
		s->reload_dovecot = true;
		return rc;
	}
	const struct mr_domain *d = target_domain(s->a, c->id);
	struct mr_buf crt = MR_BUF_INIT, key = MR_BUF_INIT;
	if (rc == 0 && d->ssl.cert == MR_CERT_SELF_SIGNED)
		rc = mr_cert_self_signed(d->ssl.alias, d->name, d->ssl.email, 825, &crt, &key, &s->err);
	else if (rc == 0) {
		char whose[MR_DOMAIN_MAX + 3];
		snprintf(whose, sizeof(whose), "'%s'", d->name);
		rc = read_cert_files(s, &d->ssl, whose, &crt, &key);
	}
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
	mr_secret_wipe(&key);
	mr_buf_release(&crt);
	s->reload_dovecot = true;
	return rc;
}

int stage_plan_files(struct stage *s, const struct mr_plan *p)
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
		if (f->file_id == MR_FILE_SPAMASSASSIN) {
			s->local_cf = f->content;
			s->local_cf_len = f->len;
		}
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

void stage_expect_live(struct stage *s)
{
	const struct mr_live *lv = &s->a->lv;
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		const struct mr_live_file *f = &lv->files[i];
		mr_txn_expect(s->t, f->cf.path, f->exists ? f->sha256 : NULL, f->len, &f->st);
	}
	for (int id = 0; id < MR_CONF_COUNT; id++) {
		const char *path = mr_conf_path((enum mr_conf_id)id, lv->layout);
		struct stat st;
		/* the conf files are compared by content only: their owner is mailrecon's choice */
		memset(&st, 0, sizeof(st));
		if (lv->conf[id] && mr_root_lstat(s->a->root, path, &st) < 0)
			continue;
		unsigned char sha[32];
		if (lv->conf[id])
			mr_sha256_raw(lv->conf[id], lv->conf_len[id], sha);
		mr_txn_expect(s->t, path, lv->conf[id] ? sha : NULL, lv->conf_len[id], &st);
	}
}
