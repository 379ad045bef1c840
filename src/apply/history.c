#include "apply/history.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/dkim_txt.h"
#include "codec/live.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "model/names.h"
#include "util/fs.h"
#include "util/xalloc.h"

static void add(struct mr_snapshot *s, const char *path, char *data, size_t len)
{
	s->v = xgrow(s->v, sizeof(*s->v), s->n + 1, &s->cap);
	s->v[s->n++] = (struct mr_vcs_file){ .path = xstrdup(path), .data = data, .len = len };
}

static const char *key_dir(enum mr_layout layout, int which)
{
	return which == 0 ? (layout == MR_LAYOUT_RHEL ? "etc/exim/ssl" : "etc/exim4/ssl") : "etc/dovecot/certs";
}

/* "DOMAIN" + one of the suffixes of a key directory entry; the suffix, or NULL. */
static const char *key_suffix(const char *name, int which)
{
	static const char *const ssl[] = { ".txt", ".crt", ".private", ".key", ".private.fingerprint", ".key.fingerprint",
					   NULL };
	static const char *const certs[] = { ".crt", ".key", ".key.fingerprint", NULL };
	size_t n = strlen(name);
	const char *found = NULL;
	for (const char *const *x = which == 0 ? ssl : certs; *x; x++) {
		size_t k = strlen(*x);
		if (n > k && strcmp(name + n - k, *x) == 0 && (!found || k > strlen(found)))
			found = *x;
	}
	if (!found)
		return NULL;
	char *domain = xstrndup(name, n - strlen(found));
	bool ok = mr_check_domain(domain) == NULL;
	free(domain);
	return ok ? found : NULL;
}

/*
 * The server's default certificate as recorded (no leading '/'): its two certificates, and
 * its two keys as PATH.fingerprint; enum mr_srvcert, | SRV_FINGERPRINT for a key's; -1 for
 * anything else (a key itself too: never a recorded path).
 */
#define SRV_FINGERPRINT 0x100
static int srvcert_of(const char *path, enum mr_layout layout)
{
	for (int w = 0; w < MR_SRVCERT_COUNT; w++) {
		const char *sp = mr_srvcert_path((enum mr_srvcert)w, layout) + 1;
		size_t n = strlen(sp);
		bool key = w == MR_SRVCERT_EXIM_KEY || w == MR_SRVCERT_DOVECOT_KEY;
		if (!key && strcmp(path, sp) == 0)
			return w;
		if (key && strncmp(path, sp, n) == 0 && strcmp(path + n, ".fingerprint") == 0)
			return w | SRV_FINGERPRINT;
	}
	return -1;
}

bool mr_history_is_server_cert(const char *path, enum mr_layout layout)
{
	return srvcert_of(path, layout) >= 0;
}

enum mr_hist_kind mr_history_kind(const char *path, enum mr_layout layout, const struct mr_codec **codec_out)
{
	if (codec_out)
		*codec_out = NULL;
	for (size_t i = 0; i < MR_FILE_COUNT; i++)
		if (strcmp(path, mr_codec_path(mr_codecs[i], layout) + 1) == 0) {
			if (codec_out)
				*codec_out = mr_codecs[i];
			return MR_HIST_LINES;
		}
	for (int id = 0; id < MR_CONF_COUNT; id++)
		if (strcmp(path, mr_conf_path((enum mr_conf_id)id, layout) + 1) == 0)
			return MR_HIST_CONF;
	int w = srvcert_of(path, layout);
	if (w >= 0)
		return w & SRV_FINGERPRINT ? MR_HIST_FINGERPRINT : MR_HIST_CRT;
	for (int which = 0; which < 2; which++) {
		const char *dir = key_dir(layout, which);
		size_t dl = strlen(dir);
		if (strncmp(path, dir, dl) != 0 || path[dl] != '/' || strchr(path + dl + 1, '/'))
			continue;
		const char *sfx = key_suffix(path + dl + 1, which);
		if (!sfx)
			return MR_HIST_NONE;
		if (strcmp(sfx, ".txt") == 0)
			return MR_HIST_TXT;
		if (strcmp(sfx, ".crt") == 0)
			return MR_HIST_CRT;
		if (strstr(sfx, ".fingerprint"))
			return MR_HIST_FINGERPRINT;
		return MR_HIST_NONE; /* a private key itself is never a recorded path */
	}
	return MR_HIST_NONE;
}

static bool is_private(const char *name)
{
	size_t n = strlen(name);
	return (n > 8 && strcmp(name + n - 8, ".private") == 0) || (n > 4 && strcmp(name + n - 4, ".key") == 0);
}

/* A fingerprint as take() writes it: "sha256 HEX\npublic B64-or-(unreadable)\n". */
static bool fingerprint_form(const char *d, size_t n)
{
	if (n < 7 + 64 + 1 + 8 || memcmp(d, "sha256 ", 7) != 0 || d[7 + 64] != '\n' ||
	    memcmp(d + 72, "public ", 7) != 0 || d[n - 1] != '\n')
		return false;
	for (size_t i = 7; i < 71; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	for (size_t i = 79; i < n - 1; i++) {
		char c = d[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		      c == '=' || c == '(' || c == ')'))
			return false;
	}
	return true;
}

int mr_history_check_file(const char *path, const void *data, size_t len, enum mr_layout layout, struct mr_buf *err)
{
	const struct mr_codec *codec;
	enum mr_hist_kind kind = mr_history_kind(path, layout, &codec);
	const char *d = data ? data : "";
	if (kind == MR_HIST_NONE) {
		mr_buf_addf(err, "'%s' is not a file mailrecon manages", path);
		return -1;
	}
	if (mr_pem_has_private_key(d, len)) {
		mr_buf_addf(err, "'%s' holds a private key", path);
		return -1;
	}
	if (memchr(d, '\0', len) && kind != MR_HIST_CRT) {
		mr_buf_addf(err, "'%s' holds a NUL byte", path);
		return -1;
	}
	switch (kind) {
	case MR_HIST_LINES: {
		struct mr_codec_file f;
		struct mr_diags findings = MR_DIAGS_INIT;
		mr_codec_file_init(&f, codec, path);
		mr_codec_parse(&f, d, len, &findings);
		size_t bad = f.nbad;
		uint32_t where = 0, root_line = 0;
		for (size_t i = 0; i < f.nlines && !where; i++)
			if (f.lines[i].kind == MR_LINE_BAD)
				where = f.lines[i].lineno;
		/* a mailbox's mail is never root's, whatever a revision says */
		for (size_t i = 0; codec->id == MR_FILE_DOVECOT_PASSWD && i < f.nlines && !root_line; i++) {
			const struct mr_line *l = &f.lines[i];
			int64_t v;
			const char *uid = mr_line_field(l, MR_F_DOVECOT_UID), *gid = mr_line_field(l, MR_F_DOVECOT_GID);
			if (l->kind == MR_LINE_RECORD && ((uid && mr_codec_parse_uint(uid, 4294967294LL, &v) && v == 0) ||
							  (gid && mr_codec_parse_uint(gid, 4294967294LL, &v) && v == 0)))
				root_line = l->lineno;
		}
		mr_codec_file_release(&f);
		mr_diags_release(&findings);
		if (bad) {
			mr_buf_addf(err, "'%s' line %u cannot be read as %s (%zu such line%s)", path, where, codec->name, bad,
				    bad == 1 ? "" : "s");
			return -1;
		}
		if (root_line) {
			mr_buf_addf(err, "'%s' line %u gives a mailbox uid or gid 0 (root)", path, root_line);
			return -1;
		}
		return 0;
	}
	case MR_HIST_TXT: {
		char *sel = NULL, *p = NULL;
		const char *why = NULL;
		int r = mr_dkim_txt_parse(d, len, &sel, &p, &why);
		free(sel);
		free(p);
		if (r < 0) {
			mr_buf_addf(err, "'%s' is not a DKIM record: %s", path, why);
			return -1;
		}
		return 0;
	}
	case MR_HIST_CRT: {
		struct mr_cert_info ci;
		if (mr_cert_inspect(d, len, &ci) < 0) {
			mr_buf_addf(err, "'%s' is not a PEM X.509 certificate", path);
			return -1;
		}
		mr_cert_info_release(&ci);
		return 0;
	}
	case MR_HIST_FINGERPRINT:
		if (!fingerprint_form(d, len)) {
			mr_buf_addf(err, "'%s' is not a key fingerprint as mailrecon writes one", path);
			return -1;
		}
		return 0;
	case MR_HIST_CONF:
	case MR_HIST_NONE:
		break;
	}
	return 0;
}

/* One file below the root ("/etc/x" -> "etc/x"); absent files are skipped. */
static int take(struct mr_snapshot *s, struct mr_root *root, const char *path, bool key_entry, struct mr_buf *notes,
		struct mr_buf *err)
{
	struct mr_buf data = MR_BUF_INIT, e = MR_BUF_INIT;
	struct stat st;
	int r = mr_root_read(root, path, 512u << 20, &data, &st, &e);
	int rc = 0;
	const char *base = strrchr(path, '/') + 1;
	if (r == 0 && is_private(base)) {
		/* never the key itself: its fingerprint and public half */
		char sha[MR_SHA256_HEX], *pub = NULL;
		mr_sha256_hex(data.ptr ? data.ptr : "", data.len, sha);
		mr_privkey_bits_pem(data.ptr ? data.ptr : "", data.len, &pub);
		struct mr_buf fp = MR_BUF_INIT, name = MR_BUF_INIT;
		mr_buf_addf(&fp, "sha256 %s\npublic %s\n", sha, pub ? pub : "(unreadable)");
		mr_buf_addf(&name, "%s.fingerprint", path + 1);
		size_t len = fp.len;
		add(s, name.ptr, mr_buf_detach(&fp), len);
		mr_buf_release(&name);
		free(pub);
	} else if (r == 0) {
		/* what is committed is what it claims: nothing holding a private key, and in the
		 * key directories a certificate that is one (a line file is recorded as it is: it
		 * may have lines a reader does not know, which is what history is for) */
		const char *d = data.ptr ? data.ptr : "", *sfx = strrchr(base, '.'), *why = NULL;
		if (mr_pem_has_private_key(d, data.len)) {
			why = "it holds a private key";
		} else if (key_entry && sfx && strcmp(sfx, ".crt") == 0) {
			struct mr_cert_info ci;
			if (mr_cert_inspect(d, data.len, &ci) < 0)
				why = "it is not a PEM X.509 certificate";
			mr_cert_info_release(&ci);
		}
		if (!why) {
			size_t len = data.len;
			add(s, path + 1, data.ptr ? mr_buf_detach(&data) : xstrdup(""), len);
		} else if (notes) {
			char *shown = mr_root_full(root, path);
			mr_buf_addf(notes, "'%s' is not recorded in the state repository: %s\n", shown, why);
			free(shown);
		}
	} else if (r != -ENOENT && r != -ENOTDIR) {
		mr_buf_addf(err, "%s", e.ptr);
		rc = -1;
	}
	if (data.ptr)
		explicit_bzero(data.ptr, data.cap);
	mr_buf_release(&data);
	mr_buf_release(&e);
	return rc;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct mr_vcs_file *)a)->path, ((const struct mr_vcs_file *)b)->path);
}

int mr_snapshot_take(struct mr_root *root, enum mr_layout layout, const struct mr_live *known,
		     struct mr_snapshot *s, struct mr_buf *notes, struct mr_buf *err)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		const char *path = mr_codec_path(mr_codecs[i], layout);
		const struct mr_live_file *lf = known ? &known->files[i] : NULL;
		if (lf && lf->has_blob_id && strcmp(lf->cf.path, path) == 0) {
			/* read by the live load, by id: not read again (and absent then: skipped) */
			if (lf->exists) {
				add(s, path + 1, NULL, lf->len);
				s->v[s->n - 1].id = lf->blob_id;
				s->partial = true;
			}
			continue;
		}
		if (take(s, root, path, false, notes, err) < 0)
			return -1;
	}
	for (int id = 0; id < MR_CONF_COUNT; id++)
		if (take(s, root, mr_conf_path((enum mr_conf_id)id, layout), false, notes, err) < 0)
			return -1;
	for (int which = 0; which < 2; which++) {
		struct mr_pathlist names = MR_PATHLIST_INIT;
		struct mr_buf dir = MR_BUF_INIT;
		mr_buf_addf(&dir, "/%s", key_dir(layout, which));
		mr_root_list(root, dir.ptr, &names);
		for (size_t k = 0; k < names.n; k++) {
			char *p = mr_path_join(dir.ptr, names.v[k]);
			struct stat st;
			const char *sfx = key_suffix(names.v[k], which);
			int rc = 0;
			int srv = mr_srvcert_which(p, layout);
			bool managed = (sfx && !strstr(sfx, "fingerprint")) || srv == MR_SRVCERT_EXIM_CRT ||
				       srv == MR_SRVCERT_EXIM_KEY;
			if (names.v[k][0] == '.') {
				/* a staged file of a running apply, or a hidden file: not ours to record */
			} else if (mr_root_lstat(root, p, &st) < 0 || !S_ISREG(st.st_mode) || !managed) {
				if (notes) {
					char *shown = mr_root_full(root, p);
					mr_buf_addf(notes, "'%s' is not recorded in the state repository: %s\n", shown,
						    S_ISLNK(st.st_mode) ? "it is a symbolic link"
						    : S_ISDIR(st.st_mode) ? "it is a directory"
						    : !S_ISREG(st.st_mode) ? "it is not a regular file"
									    : "it is not a name mailrecon manages (DOMAIN.txt, .crt, .key, .private, exim.crt, exim.key)");
					free(shown);
				}
			} else {
				rc = take(s, root, p, true, notes, err);
			}
			free(p);
			if (rc < 0) {
				mr_pathlist_release(&names);
				mr_buf_release(&dir);
				return -1;
			}
		}
		mr_pathlist_release(&names);
		mr_buf_release(&dir);
	}
	/* Dovecot's default pair (the server's certificate): a regular file only -- the
	 * distribution's link to the snakeoil pair is not mailrecon's to record */
	for (int w = MR_SRVCERT_DOVECOT_CRT; w <= MR_SRVCERT_DOVECOT_KEY; w++) {
		const char *p = mr_srvcert_path((enum mr_srvcert)w, layout);
		struct stat st;
		int r = mr_root_lstat(root, p, &st);
		if (r == 0 && S_ISREG(st.st_mode)) {
			if (take(s, root, p, true, notes, err) < 0)
				return -1;
		} else if (r == 0 && notes) {
			char *shown = mr_root_full(root, p);
			mr_buf_addf(notes, "'%s' is not recorded in the state repository: %s\n", shown,
				    S_ISLNK(st.st_mode) ? "it is a symbolic link" : "it is not a regular file");
			free(shown);
		}
	}
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_file);
	return 0;
}

void mr_snapshot_release(struct mr_snapshot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free((char *)s->v[i].path);
		free((void *)s->v[i].data);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

const struct mr_vcs_file *mr_snapshot_get(const struct mr_snapshot *s, const char *path)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->v[mid].path, path);
		if (c == 0)
			return &s->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct changed_ctx {
	const struct mr_snapshot *now;
	struct mr_pathlist *out;
	struct mr_strmap seen;
};

static int changed_cb(void *vctx, const char *path, const void *data, size_t len)
{
	struct changed_ctx *c = vctx;
	const struct mr_vcs_file *f = mr_snapshot_get(c->now, path);
	mr_strmap_put_new(&c->seen, f ? f->path : path, strlen(path), (void *)1);
	if (!f || !f->data || f->len != len || memcmp(f->data, data, len) != 0) {
		char *p = mr_path_join("/", path);
		mr_pathlist_add(c->out, p);
		free(p);
	}
	return 0;
}

int mr_history_changed(struct mr_vcs *v, const char *rev, const struct mr_snapshot *now, struct mr_pathlist *out,
		       struct mr_buf *err)
{
	if (strcmp(rev, "HEAD") == 0) /* the common case: by object ids, without reading blobs */
		return mr_vcs_changed(v, now->v, now->n, out, err);
	struct changed_ctx c = { now, out, MR_STRMAP_INIT };
	char id[41];
	int rc = mr_vcs_read(v, rev, changed_cb, &c, id, err);
	if (rc != 0) {
		mr_strmap_release(&c.seen);
		return rc; /* -1, or 1: no revision yet */
	}
	for (size_t i = 0; i < now->n; i++)
		if (!mr_strmap_get(&c.seen, now->v[i].path, strlen(now->v[i].path))) {
			char *p = mr_path_join("/", now->v[i].path);
			mr_pathlist_add(out, p);
			free(p);
		}
	mr_strmap_release(&c.seen);
	mr_pathlist_sort(out);
	return 0;
}

void mr_history_trailers(struct mr_buf *msg, const char *source, const char *actor, const char *name)
{
	char host[256] = "unknown";
	if (name)
		snprintf(host, sizeof(host), "%s", name);
	else
		gethostname(host, sizeof(host) - 1);
	mr_buf_addf(msg, "\nDesired-Source: %s\nHost: %s\nActor: %s\n" MR_HISTORY_TRAILER ": %s\n",
		    source ? source : "(none)", host, actor ? actor : "unknown", MAILRECON_VERSION);
}
