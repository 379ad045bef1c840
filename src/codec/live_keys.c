/*
 * live_keys: the per-domain key files of the live model -- DKIM (ssl/DOMAIN.private and
 * the opendkim-genkey record ssl/DOMAIN.txt that Exim takes the selector from) and the TLS
 * certificate (ssl/DOMAIN.crt + ssl/DOMAIN.key for Exim, certs/DOMAIN.crt + .key for
 * Dovecot).  Private keys are read only to learn their size and public half; nothing of
 * them is kept or printed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/dkim_txt.h"
#include "codec/live.h"
#include "crypto/keys.h"
#include "model/names.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define KEY_FILE_MAX (1u << 20)

static void wipe_release(struct mr_buf *b)
{
	if (b->ptr)
		explicit_bzero(b->ptr, b->cap);
	mr_buf_release(b);
}

static void list_dir(struct mr_live *lv, const char *dir)
{
	struct mr_pathlist names = MR_PATHLIST_INIT;
	mr_root_list(lv->root, dir, &names);
	for (size_t i = 0; i < names.n; i++) {
		if (names.v[i][0] == '.')
			continue;
		char *k = mr_arena_printf(&lv->model.arena, "%s/%s", dir, names.v[i]);
		mr_strmap_put_new(&lv->key_files, k, strlen(k), k);
	}
	mr_pathlist_release(&names);
}

/* Read ROOT + dir/name; 1 read, 0 absent, -1 unreadable (a finding). */
static int read_key_file(struct mr_live *lv, const char *dir, const char *domain, const char *ext,
			 struct mr_buf *out, char **logical)
{
	struct mr_buf p = MR_BUF_INIT, err = MR_BUF_INIT;
	mr_buf_addf(&p, "%s/%s%s", dir, domain, ext);
	*logical = (char *)mr_model_str(&lv->model, p.ptr, p.len);
	if (!mr_strmap_get(&lv->key_files, p.ptr, p.len)) {
		mr_buf_release(&p);
		return 0;
	}
	struct stat st;
	int r = mr_root_read(lv->root, p.ptr, KEY_FILE_MAX, out, &st, &err);
	int rc = 1;
	if (r == -ENOENT || r == -ENOTDIR)
		rc = 0;
	else if (r < 0) {
		mr_diag_warning(&lv->findings, mr_loc_at(*logical, 0, 0), "%s", err.ptr);
		rc = -1;
	}
	mr_buf_release(&p);
	mr_buf_release(&err);
	return rc;
}

static void read_dkim(struct mr_live *lv, struct mr_domain *d, const char *ssl)
{
	struct mr_buf priv = MR_BUF_INIT, txt = MR_BUF_INIT;
	char *ppath, *tpath;
	int hp = read_key_file(lv, ssl, d->name, ".private", &priv, &ppath);
	int ht = read_key_file(lv, ssl, d->name, ".txt", &txt, &tpath);
	struct mr_loc tloc = mr_loc_at(tpath, 0, 0), ploc = mr_loc_at(ppath, 0, 0);
	if (hp <= 0) {
		if (ht > 0 && hp == 0)
			mr_diag_warning(&lv->findings, tloc, "a DKIM record without its private key %s: DKIM is off", ppath);
		goto out;
	}
	char *pub = NULL;
	int bits = mr_privkey_bits_pem(priv.ptr, priv.len, &pub);
	/* wipe the key text now: it is not needed again */
	memset(priv.ptr, 0, priv.len);
	if (bits < 0) {
		mr_diag_warning(&lv->findings, ploc, "cannot read the DKIM private key of '%s'", d->name);
		goto out;
	}
	d->dkim.enabled = true;
	d->dkim.bits = bits;
	d->dkim.selector = MR_DKIM_SELECTOR_DEFAULT;
	d->dkim.loc = d->dkim.selector_loc = ploc;
	if (bits != 1024 && bits != 2048)
		mr_diag_warning(&lv->findings, ploc, "the DKIM key of '%s' has %d bits; mailrecon manages 1024 or 2048",
				d->name, bits);
	if (ht <= 0) {
		if (ht == 0)
			mr_diag_warning(&lv->findings, ploc,
					"DKIM key without %s: Exim takes the selector from that file", tpath);
		free(pub);
		goto out;
	}
	char *sel = NULL, *p = NULL;
	const char *why = NULL;
	if (mr_dkim_txt_parse(txt.ptr, txt.len, &sel, &p, &why) < 0) {
		mr_diag_warning(&lv->findings, mr_loc_at(tpath, 1, 1), "cannot read the DKIM record: %s", why);
	} else {
		d->dkim.selector = mr_model_str(&lv->model, sel, strlen(sel));
		d->dkim.selector_loc = mr_loc_at(tpath, 1, 1);
		d->dkim.public_key = mr_model_str(&lv->model, p, strlen(p));
		if (pub && strcmp(pub, p) != 0)
			mr_diag_warning(&lv->findings, mr_loc_at(tpath, 1, 1),
					"the published DKIM key of '%s' is not the public half of %s", d->name, ppath);
	}
	free(sel);
	free(p);
	free(pub);
out:
	mr_buf_release(&priv);
	mr_buf_release(&txt);
}

static void read_cert(struct mr_live *lv, struct mr_domain *d, const char *ssl, const char *certs)
{
	struct mr_buf crt = MR_BUF_INIT, key = MR_BUF_INIT, dcrt = MR_BUF_INIT;
	char *cpath, *kpath, *dpath;
	int hc = read_key_file(lv, ssl, d->name, ".crt", &crt, &cpath);
	int hk = read_key_file(lv, ssl, d->name, ".key", &key, &kpath);
	struct mr_loc cloc = mr_loc_at(cpath, 0, 0);
	if (hc <= 0 || hk <= 0) {
		if (hc > 0 && hk == 0)
			mr_diag_warning(&lv->findings, cloc, "certificate without its key %s: TLS for '%s' is off", kpath,
					d->name);
		else if (hk > 0 && hc == 0)
			mr_diag_warning(&lv->findings, mr_loc_at(kpath, 0, 0),
					"a key without its certificate %s: TLS for '%s' is off", cpath, d->name);
		goto out;
	}
	struct mr_cert_info ci;
	if (mr_cert_inspect(crt.ptr, crt.len, &ci) < 0) {
		mr_diag_warning(&lv->findings, cloc, "cannot read the certificate of '%s'", d->name);
		goto out;
	}
	int match = mr_cert_key_match(crt.ptr, crt.len, key.ptr, key.len);
	memset(key.ptr, 0, key.len);
	if (match != 1)
		mr_diag_warning(&lv->findings, cloc, "the certificate of '%s' does not match its key %s", d->name, kpath);
	d->ssl.enabled = true;
	d->ssl.not_after = ci.not_after;
	d->ssl.loc = d->ssl.alias_loc = cloc;
	if (ci.cn && !mr_check_hostname(ci.cn))
		d->ssl.alias = mr_model_str(&lv->model, ci.cn, strlen(ci.cn));
	else
		mr_diag_warning(&lv->findings, cloc, "the certificate of '%s' has no host name as its CN", d->name);
	if (ci.email && !mr_check_address(ci.email))
		d->ssl.email = mr_model_str(&lv->model, ci.email, strlen(ci.email));
	if (ci.self_signed) {
		d->ssl.cert = MR_CERT_SELF_SIGNED;
	} else {
		d->ssl.cert = MR_CERT_FILES;
		d->ssl.cert_path = cpath;
		d->ssl.key_path = kpath;
		d->ssl.cert_loc = cloc;
		d->ssl.key_loc = mr_loc_at(kpath, 0, 0);
	}
	mr_cert_info_release(&ci);
	int hd = read_key_file(lv, certs, d->name, ".crt", &dcrt, &dpath);
	if (hd == 0)
		mr_diag_warning(&lv->findings, cloc, "Dovecot has no copy of the certificate of '%s' (%s)", d->name, dpath);
	else if (hd > 0 && (dcrt.len != crt.len || memcmp(dcrt.ptr, crt.ptr, crt.len) != 0))
		mr_diag_warning(&lv->findings, mr_loc_at(dpath, 0, 0),
				"Dovecot's certificate of '%s' differs from Exim's %s", d->name, cpath);
out:
	mr_buf_release(&crt);
	mr_buf_release(&key);
	mr_buf_release(&dcrt);
}

void mr_live_keys(struct mr_live *lv);

const char *mr_conf_path(enum mr_conf_id id, enum mr_layout layout)
{
	if (id == MR_CONF_EXIM_SNI)
		return layout == MR_LAYOUT_RHEL ? MR_EXIM_SNI_RHEL : MR_EXIM_SNI_DEBIAN;
	return MR_SNI_INCLUDE;
}

const char *mr_srvcert_path(enum mr_srvcert which, enum mr_layout layout)
{
	static const char *const debian[] = { "/etc/exim4/ssl/exim.crt", "/etc/exim4/ssl/exim.key",
					      MR_SRVCERT_DOVECOT_DIR "/dovecot.pem", MR_SRVCERT_DOVECOT_DIR "/dovecot.key" };
	static const char *const rhel[] = { "/etc/exim/ssl/exim.crt", "/etc/exim/ssl/exim.key",
					    MR_SRVCERT_DOVECOT_DIR "/dovecot.pem", MR_SRVCERT_DOVECOT_DIR "/dovecot.key" };
	return (layout == MR_LAYOUT_RHEL ? rhel : debian)[which];
}

int mr_srvcert_which(const char *path, enum mr_layout layout)
{
	for (int i = 0; i < MR_SRVCERT_COUNT; i++)
		if (strcmp(path, mr_srvcert_path((enum mr_srvcert)i, layout)) == 0)
			return i;
	return -1;
}

/* Read a whole key file: 1 read, 0 absent, -1 unreadable (a finding, or *link for a link). */
static int read_srv_file(struct mr_live *lv, const char *path, struct mr_buf *out, bool *link)
{
	struct mr_buf err = MR_BUF_INIT;
	struct stat st;
	if (link)
		*link = mr_root_lstat(lv->root, path, &st) == 0 && S_ISLNK(st.st_mode);
	int r = mr_root_read(lv->root, path, KEY_FILE_MAX, out, &st, &err);
	int rc = 1;
	if (r == -ENOENT || r == -ENOTDIR)
		rc = 0;
	else if (r < 0) {
		if (!link || !*link)
			mr_diag_warning(&lv->findings, mr_loc_at(path, 0, 0), "%s", err.ptr);
		rc = -1;
	}
	mr_buf_release(&err);
	return rc;
}

/*
 * The server's default certificate: Exim's ssl/exim.crt + exim.key as the live server.ssl
 * (absent: unmanaged, or not made yet), and whether Dovecot's default pair is a copy of it.
 */
static void read_server_cert(struct mr_live *lv)
{
	struct mr_ssl *s = &lv->model.server.ssl;
	const char *p[MR_SRVCERT_COUNT];
	for (int i = 0; i < MR_SRVCERT_COUNT; i++) {
		struct stat st;
		p[i] = mr_srvcert_path((enum mr_srvcert)i, lv->layout);
		lv->srvcert_exists[i] = mr_root_lstat(lv->root, p[i], &st) == 0;
	}
	struct mr_buf crt = MR_BUF_INIT, key = MR_BUF_INIT, dcrt = MR_BUF_INIT, dkey = MR_BUF_INIT;
	struct mr_loc cloc = mr_loc_at(p[MR_SRVCERT_EXIM_CRT], 0, 0);
	int hc = read_srv_file(lv, p[MR_SRVCERT_EXIM_CRT], &crt, NULL);
	int hk = read_srv_file(lv, p[MR_SRVCERT_EXIM_KEY], &key, NULL);
	if (hc <= 0 || hk <= 0) {
		if (hc > 0 && hk == 0)
			mr_diag_warning(&lv->findings, cloc, "the server's certificate without its key %s",
					p[MR_SRVCERT_EXIM_KEY]);
		else if (hk > 0 && hc == 0)
			mr_diag_warning(&lv->findings, mr_loc_at(p[MR_SRVCERT_EXIM_KEY], 0, 0),
					"the server's key without its certificate %s", p[MR_SRVCERT_EXIM_CRT]);
		goto out;
	}
	struct mr_cert_info ci;
	if (mr_cert_inspect(crt.ptr, crt.len, &ci) < 0) {
		mr_diag_warning(&lv->findings, cloc, "cannot read the server's certificate");
		goto out;
	}
	if (mr_cert_key_match(crt.ptr, crt.len, key.ptr, key.len) != 1)
		mr_diag_warning(&lv->findings, cloc, "the server's certificate does not match its key %s",
				p[MR_SRVCERT_EXIM_KEY]);
	s->enabled = true;
	s->not_after = ci.not_after;
	s->loc = s->alias_loc = cloc;
	if (ci.cn && !mr_check_domain(ci.cn))
		s->alias = mr_model_str(&lv->model, ci.cn, strlen(ci.cn));
	else
		mr_diag_warning(&lv->findings, cloc, "the server's certificate has no host name as its CN");
	if (ci.email && !mr_check_address(ci.email))
		s->email = mr_model_str(&lv->model, ci.email, strlen(ci.email));
	if (ci.self_signed) {
		s->cert = MR_CERT_SELF_SIGNED;
	} else {
		s->cert = MR_CERT_FILES;
		s->cert_path = p[MR_SRVCERT_EXIM_CRT];
		s->key_path = p[MR_SRVCERT_EXIM_KEY];
		s->cert_loc = cloc;
		s->key_loc = mr_loc_at(p[MR_SRVCERT_EXIM_KEY], 0, 0);
	}
	mr_cert_info_release(&ci);
	bool lc = false, lk = false;
	int dc = read_srv_file(lv, p[MR_SRVCERT_DOVECOT_CRT], &dcrt, &lc);
	int dk = read_srv_file(lv, p[MR_SRVCERT_DOVECOT_KEY], &dkey, &lk);
	if (lc || lk)
		s->copy_differs = "a symbolic link";
	else if (dc == 0 || dk == 0)
		s->copy_differs = "absent";
	else if (dc < 0 || dk < 0)
		s->copy_differs = "unreadable";
	else if (dcrt.len != crt.len || memcmp(dcrt.ptr, crt.ptr, crt.len) != 0 || dkey.len != key.len ||
		 memcmp(dkey.ptr, key.ptr, key.len) != 0)
		s->copy_differs = "different";
out:
	wipe_release(&key);
	wipe_release(&dkey);
	mr_buf_release(&crt);
	mr_buf_release(&dcrt);
}

static void read_conf(struct mr_live *lv, enum mr_conf_id id)
{
	const char *path = mr_conf_path(id, lv->layout);
	struct mr_buf b = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	int r = mr_root_read(lv->root, path, 16u << 20, &b, &st, &err);
	if (r == 0) {
		lv->conf_len[id] = b.len;
		lv->conf[id] = b.ptr ? mr_buf_detach(&b) : xstrdup("");
	} else if (r != -ENOENT && r != -ENOTDIR) {
		mr_diag_warning(&lv->findings, mr_loc_at(path, 0, 0), "%s", err.ptr);
	}
	mr_buf_release(&b);
	mr_buf_release(&err);
}

void mr_live_keys(struct mr_live *lv)
{
	for (int id = 0; id < MR_CONF_COUNT; id++)
		read_conf(lv, (enum mr_conf_id)id);
	const char *ssl = lv->layout == MR_LAYOUT_RHEL ? "/etc/exim/ssl" : "/etc/exim4/ssl";
	const char *certs = "/etc/dovecot/certs";
	read_server_cert(lv);
	list_dir(lv, ssl);
	list_dir(lv, certs);
	if (lv->key_files.count == 0)
		return; /* neither directory exists or has an entry */
	for (size_t i = 0; i < lv->model.ndomains; i++) {
		struct mr_domain *d = lv->model.domains[i];
		read_dkim(lv, d, ssl);
		read_cert(lv, d, ssl, certs);
	}
}
