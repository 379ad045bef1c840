#include "apply/oracle.h"

#include <stdlib.h>
#include <string.h>

#include "load/secret.h"
#include "util/fs.h"
#include "util/xalloc.h"

static int password_same(void *vctx, const struct mr_mailbox *d, const char *live_hash, struct mr_diags *errors)
{
	struct mr_oracle_ctx *o = vctx;
	struct mr_buf clear = MR_BUF_INIT, why = MR_BUF_INIT;
	const struct mr_password pw = mr_mailbox_password(d);
	int rc = mr_secret_read(o->root, &pw, &clear, &why);
	if (rc < 0) {
		mr_diag_error(errors, d->password.loc, "cannot read the password of '%s': %s", d->address, why.ptr);
		mr_buf_release(&why);
		mr_secret_wipe(&clear);
		return mr_secret_refused(pw.dir, pw.value, rc) ? MR_PLAN_REFUSED : -1;
	}
	int r = mr_pwcache_verify(o->cache, live_hash, clear.ptr, clear.len);
	mr_secret_wipe(&clear);
	mr_buf_release(&why);
	return r == 1 ? 1 : 0; /* a scheme that cannot be verified here is replaced */
}

static int new_hash(void *vctx, const struct mr_mailbox *d, const char **hash, struct mr_diags *errors)
{
	struct mr_oracle_ctx *o = vctx;
	struct mr_buf clear = MR_BUF_INIT, why = MR_BUF_INIT;
	*hash = NULL;
	const struct mr_password pw = mr_mailbox_password(d);
	int rc = mr_secret_read(o->root, &pw, &clear, &why);
	if (rc < 0) {
		mr_diag_error(errors, d->password.loc, "cannot read the password of '%s': %s", d->address, why.ptr);
		mr_buf_release(&why);
		mr_secret_wipe(&clear);
		return mr_secret_refused(pw.dir, pw.value, rc) ? MR_PLAN_REFUSED : -1;
	}
	char *h = NULL;
	const char *scheme = mr_scheme_name(o->desired->server.password_scheme);
	rc = -1;
	if (mr_password_hash(scheme, clear.ptr, clear.len, &h) < 0) {
		mr_diag_error(errors, d->password.loc, "cannot hash the password of '%s' with %s", d->address, scheme);
	} else {
		/* remember it as verified: the next plan compares without hashing again */
		mr_pwcache_verify(o->cache, h, clear.ptr, clear.len);
		*hash = mr_arena_strdup(&o->hashes, h);
		explicit_bzero(h, strlen(h));
		free(h);
		o->made++;
		rc = 0;
	}
	mr_secret_wipe(&clear);
	mr_buf_release(&why);
	return rc;
}

/*
 * 1 when the certificate files want names hold what the live files live_crt and live_key
 * hold.  Both are read through the confinement layer; nothing that fails mr_cert_pair_check
 * is "the same" (validate reports it).
 */
static int cert_same(void *vctx, const struct mr_ssl *want, const char *live_crt, const char *live_key)
{
	struct mr_oracle_ctx *o = vctx;
	struct mr_buf x[4] = { MR_BUF_INIT, MR_BUF_INIT, MR_BUF_INIT, MR_BUF_INIT }, e = MR_BUF_INIT;
	struct stat st;
	int same = mr_secret_file_read(o->root, want->dir, want->cert_path, MR_SECRET_FILE_MAX, &x[0], &e) == 0 &&
		   mr_secret_file_read(o->root, want->dir, want->key_path, MR_SECRET_FILE_MAX, &x[1], &e) == 0 &&
		   mr_root_read(o->root, live_crt, MR_SECRET_FILE_MAX, &x[2], &st, &e) == 0 &&
		   mr_root_read(o->root, live_key, MR_SECRET_FILE_MAX, &x[3], &st, &e) == 0 && x[0].len == x[2].len &&
		   x[1].len == x[3].len && memcmp(x[0].ptr, x[2].ptr, x[0].len) == 0 &&
		   memcmp(x[1].ptr, x[3].ptr, x[1].len) == 0;
	for (int i = 0; i < 4; i++)
		mr_secret_wipe(&x[i]);
	mr_buf_release(&e);
	return same;
}

struct mr_plan_oracle mr_oracle(struct mr_oracle_ctx *c, bool hashing)
{
	return (struct mr_plan_oracle){ password_same, cert_same, hashing ? new_hash : NULL, c };
}

void mr_oracle_release(struct mr_oracle_ctx *c)
{
	/* new hashes are not secret, but there is no reason to leave them in freed memory */
	mr_arena_release(&c->hashes);
}
