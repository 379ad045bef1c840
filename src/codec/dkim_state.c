#include "codec/dkim_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/dkim_txt.h"
#include "crypto/keys.h"
#include "model/names.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define STATE_FILE_MAX (64u << 10)
#define PUBLIC_MAX 4096

char *mr_dkim_state_path(const char *state_dir, const char *domain, const char *ext)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_addf(&b, "%s/" MR_DKIM_STATE_DIR "/%s%s", state_dir, domain, ext);
	return mr_buf_detach(&b);
}

void mr_dkim_state_render(const char *selector, const char *public_b64, const char *tag, int64_t when,
			  struct mr_buf *out)
{
	mr_buf_addf(out, "selector %s\npublic %s\n%s %lld\n", selector, public_b64, tag, (long long)when);
}

static bool is_b64(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PUBLIC_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		      c == '='))
			return false;
	}
	return true;
}

/* the value of line "NAME VALUE\n" at *p, NUL-terminated in place; NULL when it is not one */
static char *line_value(char **p, char *end, const char *name)
{
	size_t n = strlen(name);
	char *l = *p;
	if ((size_t)(end - l) < n + 2 || memcmp(l, name, n) != 0 || l[n] != ' ')
		return NULL;
	char *nl = memchr(l, '\n', (size_t)(end - l));
	if (!nl)
		return NULL;
	*nl = '\0';
	*p = nl + 1;
	return l + n + 1;
}

int mr_dkim_state_parse(char *data, size_t len, const char *tag, const char **selector, const char **public_b64,
			int64_t *when)
{
	if (!data || memchr(data, '\0', len))
		return -1;
	char *p = data, *end = data + len;
	char *sel = line_value(&p, end, "selector");
	char *pub = sel ? line_value(&p, end, "public") : NULL;
	char *t = pub ? line_value(&p, end, tag) : NULL;
	if (!t || p != end || mr_check_selector(sel) || !is_b64(pub))
		return -1;
	size_t n = strspn(t, "0123456789");
	if (n == 0 || n > 12 || t[n])
		return -1;
	*selector = sel;
	*public_b64 = pub;
	*when = strtoll(t, NULL, 10);
	return 0;
}

/* ROOT + path: 1 read, 0 absent, -1 unreadable (a finding) */
static int read_state(struct mr_live *lv, const char *path, struct mr_buf *out)
{
	struct mr_buf err = MR_BUF_INIT;
	struct stat st;
	int r = mr_root_read(lv->root, path, STATE_FILE_MAX, out, &st, &err);
	int rc = 1;
	if (r == -ENOENT || r == -ENOTDIR) {
		rc = 0;
	} else if (r < 0) {
		mr_diag_warning(&lv->findings, mr_loc_at(path, 0, 0), "%s", err.ptr);
		rc = -1;
	}
	mr_buf_release(&err);
	return rc;
}

static void load_pending(struct mr_live *lv, struct mr_domain *d, const char *state_dir)
{
	char *pp = mr_dkim_state_path(state_dir, d->name, ".private");
	char *tp = mr_dkim_state_path(state_dir, d->name, ".txt");
	char *cp = mr_dkim_state_path(state_dir, d->name, ".confirmed");
	struct mr_buf priv = MR_BUF_INIT, txt = MR_BUF_INIT, conf = MR_BUF_INIT;
	char *pub = NULL, *sel = NULL, *p = NULL;
	int hp = read_state(lv, pp, &priv);
	int ht = read_state(lv, tp, &txt);
	if (hp <= 0 || ht <= 0) {
		if (hp > 0 || ht > 0)
			mr_diag_warning(&lv->findings, mr_loc_at(hp > 0 ? pp : tp, 0, 0),
					"a staged DKIM key of '%s' without its %s: the next apply stages a new one",
					d->name, hp > 0 ? "record" : "private key");
		goto out;
	}
	int bits = mr_privkey_bits_pem(priv.ptr, priv.len, &pub);
	explicit_bzero(priv.ptr, priv.cap);
	const char *why = NULL;
	if (bits < 0 || mr_dkim_txt_parse(txt.ptr, txt.len, &sel, &p, &why) < 0 || strcmp(pub, p) != 0) {
		mr_diag_warning(&lv->findings, mr_loc_at(tp, 0, 0),
				"the staged DKIM key of '%s' cannot be read or does not match its record: the next apply "
				"stages a new one",
				d->name);
		goto out;
	}
	d->dkim.pending_selector = mr_model_str(&lv->model, sel, strlen(sel));
	d->dkim.pending_public_key = mr_model_str(&lv->model, p, strlen(p));
	d->dkim.pending_bits = bits;
	if (read_state(lv, cp, &conf) > 0) {
		const char *cs, *cpub;
		int64_t when;
		if (mr_dkim_state_parse(conf.ptr, conf.len, "checked", &cs, &cpub, &when) < 0)
			mr_diag_warning(&lv->findings, mr_loc_at(cp, 0, 0),
					"cannot read the DNS confirmation of '%s': run mailrecon dns --check again", d->name);
		else
			/* a confirmation of another key (an earlier staging) confirms nothing */
			d->dkim.pending_confirmed = strcmp(cs, sel) == 0 && strcmp(cpub, p) == 0;
	}
out:
	if (priv.ptr)
		explicit_bzero(priv.ptr, priv.cap);
	mr_buf_release(&priv);
	mr_buf_release(&txt);
	mr_buf_release(&conf);
	free(pub);
	free(sel);
	free(p);
	free(pp);
	free(tp);
	free(cp);
}

static void load_retired(struct mr_live *lv, struct mr_domain *d, const char *state_dir)
{
	char *rp = mr_dkim_state_path(state_dir, d->name, ".retired");
	struct mr_buf b = MR_BUF_INIT;
	if (read_state(lv, rp, &b) > 0) {
		const char *sel, *pub;
		int64_t until;
		if (mr_dkim_state_parse(b.ptr, b.len, "until", &sel, &pub, &until) < 0) {
			mr_diag_warning(&lv->findings, mr_loc_at(rp, 0, 0),
					"cannot read the replaced DKIM record of '%s'; ignored", d->name);
		} else {
			d->dkim.retired_selector = mr_model_str(&lv->model, sel, strlen(sel));
			d->dkim.retired_public_key = mr_model_str(&lv->model, pub, strlen(pub));
			d->dkim.retired_until = until;
		}
	}
	mr_buf_release(&b);
	free(rp);
}

void mr_dkim_state_load(struct mr_live *lv, const char *state_dir)
{
	char *dir = mr_path_join(state_dir, MR_DKIM_STATE_DIR);
	struct mr_pathlist names = MR_PATHLIST_INIT;
	mr_root_list(lv->root, dir, &names);
	free(dir);
	if (names.n == 0) {
		mr_pathlist_release(&names);
		return;
	}
	/* only the files of live domains are read: the names come from the model */
	for (size_t i = 0; i < lv->model.ndomains; i++) {
		struct mr_domain *d = lv->model.domains[i];
		load_pending(lv, d, state_dir);
		load_retired(lv, d, state_dir);
	}
	mr_pathlist_release(&names);
}
