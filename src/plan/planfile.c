#include "plan/planfile.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "load/secret.h"
#include "util/fs.h"
#include "util/rootfs.h"
#include "util/xalloc.h"

void mr_fingerprint_add(struct mr_fingerprints *l, const char *shown, const char *full)
{
	l->v = xgrow(l->v, sizeof(*l->v), l->n + 1, &l->cap);
	struct mr_fingerprint *f = &l->v[l->n++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(shown);
	struct stat st;
	if (mr_path_lstat(full, &st) < 0)
		return;
	f->exists = true;
	f->size = (uint64_t)st.st_size;
	f->mode = (unsigned)st.st_mode;
	f->uid = st.st_uid;
	f->gid = st.st_gid;
	if (!S_ISREG(st.st_mode))
		return;
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st2;
	if (mr_read_file_ex(full, 1u << 30, MR_READ_NOFOLLOW, &data, &st2, &err) == 0)
		mr_sha256_hex(data.ptr, data.len, f->sha256);
	/* the bytes may be a key: wipe them */
	if (data.ptr)
		explicit_bzero(data.ptr, data.cap);
	mr_buf_release(&data);
	mr_buf_release(&err);
}

/* The same for a file below the root, read through the confinement layer. */
static void fingerprint_root(struct mr_fingerprints *l, struct mr_root *root, const char *path)
{
	l->v = xgrow(l->v, sizeof(*l->v), l->n + 1, &l->cap);
	struct mr_fingerprint *f = &l->v[l->n++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	struct stat st;
	if (mr_root_lstat(root, path, &st) < 0)
		return;
	f->exists = true;
	f->size = (uint64_t)st.st_size;
	f->mode = (unsigned)st.st_mode;
	f->uid = st.st_uid;
	f->gid = st.st_gid;
	if (!S_ISREG(st.st_mode))
		return;
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st2;
	if (mr_root_read(root, path, 1u << 30, &data, &st2, &err) == 0)
		mr_sha256_hex(data.ptr, data.len, f->sha256);
	/* the bytes may be a key: wipe them */
	if (data.ptr)
		explicit_bzero(data.ptr, data.cap);
	mr_buf_release(&data);
	mr_buf_release(&err);
}

void mr_fingerprint_git(struct mr_fingerprints *l, const char *spec, const char *commit)
{
	/* git:PATH[#REF][:SUBDIR]: PATH ends at '#', or without one at the first ':' */
	const char *p = spec + 4, *hash = strchr(p, '#'), *sub;
	size_t plen;
	if (hash) {
		plen = (size_t)(hash - p);
		sub = strchr(hash, ':');
	} else {
		sub = strchr(p, ':');
		plen = sub ? (size_t)(sub - p) : strlen(p);
	}
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_addf(&b, "git:%.*s#%s%s", (int)plen, p, commit, sub ? sub : "");
	l->v = xgrow(l->v, sizeof(*l->v), l->n + 1, &l->cap);
	struct mr_fingerprint *f = &l->v[l->n++];
	memset(f, 0, sizeof(*f));
	f->path = mr_buf_detach(&b);
	f->exists = true;
}

void mr_fingerprints_release(struct mr_fingerprints *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void mr_fingerprint_files(const struct mr_live *lv, const struct mr_accounts *acc, struct mr_fingerprints *fp)
{
	for (size_t i = 0; i < MR_FILE_COUNT; i++)
		fingerprint_root(fp, lv->root, lv->files[i].cf.path);
	fingerprint_root(fp, lv->root, acc->path);
	for (int id = 0; id < MR_CONF_COUNT; id++)
		fingerprint_root(fp, lv->root, mr_conf_path((enum mr_conf_id)id, lv->layout));
	struct mr_pathlist keys = MR_PATHLIST_INIT;
	for (size_t i = 0; i < lv->key_files.cap; i++)
		if (lv->key_files.slots[i].key)
			mr_pathlist_add(&keys, lv->key_files.slots[i].key);
	mr_pathlist_sort(&keys);
	for (size_t i = 0; i < keys.n; i++)
		fingerprint_root(fp, lv->root, keys.v[i]);
	mr_pathlist_release(&keys);
}

static void prints(struct mr_buf *out, const struct mr_fingerprints *l)
{
	mr_buf_addc(out, '[');
	for (size_t i = 0; l && i < l->n; i++) {
		const struct mr_fingerprint *f = &l->v[i];
		mr_buf_adds(out, i ? ",\n  {\"path\":" : "\n  {\"path\":");
		mr_json_string(out, f->path);
		if (!f->exists) {
			mr_buf_adds(out, ",\"exists\":false}");
			continue;
		}
		mr_buf_adds(out, ",\"exists\":true,\"sha256\":");
		mr_json_string(out, f->sha256[0] ? f->sha256 : NULL);
		mr_buf_addf(out, ",\"size\":%llu,\"mode\":\"%04o\",\"uid\":%lld,\"gid\":%lld}", (unsigned long long)f->size,
			    f->mode & 07777, (long long)f->uid, (long long)f->gid);
	}
	mr_buf_adds(out, "]");
}

void mr_planfile_write(const struct mr_plan *p, const struct mr_diags *findings, const struct mr_planfile_meta *m,
		       struct mr_buf *out)
{
	mr_buf_addf(out, "{\"format\":\"%s\",\"format_version\":%d,\"mailrecon_version\":", MR_PLANFILE_FORMAT,
		    MR_PLANFILE_VERSION);
	mr_json_string(out, MAILRECON_VERSION);
	mr_buf_adds(out, ",\"created\":");
	mr_json_string(out, m->created);
	mr_buf_adds(out, ",\"root\":");
	mr_json_string(out, m->root);
	mr_buf_adds(out, ",\"layout\":");
	mr_json_string(out, m->layout);
	mr_buf_adds(out, ",\"scope\":");
	mr_json_string(out, m->scope);
	mr_buf_adds(out, ",\n\"desired_sources\":");
	prints(out, m->desired);
	mr_buf_adds(out, ",\n\"secrets\":[");
	for (size_t i = 0; m->pins && i < m->pins->n; i++) {
		mr_buf_adds(out, i ? ",\n  {\"source\":" : "\n  {\"source\":");
		mr_json_string(out, m->pins->v[i].source);
		mr_buf_addf(out, ",\"hmac\":\"%s\"}", m->pins->v[i].hmac);
	}
	mr_buf_adds(out, "]");
	mr_buf_adds(out, ",\n\"live_files\":");
	prints(out, m->live);
	mr_buf_adds(out, ",\n\"plan\":");
	mr_plan_print_json(p, findings, out);
	mr_buf_adds(out, "}\n");
}

/* ---- pinned secrets ---- */

#define PIN_KEY_LEN 32

/* STATE_DIR/pin-key: 0 with the key, or -1 (absent and not made, or not trusted). */
static int pin_key(struct mr_root *root, const char *state_dir, bool create, unsigned char key[PIN_KEY_LEN])
{
	char *path = mr_path_join(state_dir, "pin-key");
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	int rc = -1;
	int r = mr_root_read(root, path, 64, &data, &st, &err);
	if (r == 0 && data.len == PIN_KEY_LEN && st.st_uid == geteuid() && !(st.st_mode & 077)) {
		memcpy(key, data.ptr, PIN_KEY_LEN);
		rc = 0;
	} else if (r == -ENOENT && create && mr_root_mkdirs(root, state_dir, 0700, &err) == 0 &&
		   RAND_bytes(key, PIN_KEY_LEN) == 1) {
		/* made once, never replaced: O_EXCL, and a concurrent maker's key wins */
		int fd = mr_root_openat(root, path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd >= 0) {
			rc = write(fd, key, PIN_KEY_LEN) == PIN_KEY_LEN && fsync(fd) == 0 ? 0 : -1;
			close(fd);
		} else if (fd == -EEXIST) {
			rc = pin_key(root, state_dir, false, key);
		}
	}
	if (data.ptr)
		explicit_bzero(data.ptr, data.cap);
	mr_buf_release(&data);
	mr_buf_release(&err);
	free(path);
	return rc;
}

static void pin(struct mr_pins *out, const unsigned char *key, const char *source, const void *data, size_t len,
		bool readable)
{
	out->v = xgrow(out->v, sizeof(*out->v), out->n + 1, &out->cap);
	struct mr_pin *p = &out->v[out->n++];
	p->source = xstrdup(source);
	if (!key)
		strcpy(p->hmac, "(no pin key)");
	else if (!readable)
		strcpy(p->hmac, "(unreadable)");
	else
		mr_hmac_sha256_hex(key, PIN_KEY_LEN, data, len, p->hmac);
}

static void pin_file(struct mr_pins *out, struct mr_root *root, const unsigned char *key, const char *what,
		     const struct mr_srcdir *dir, const char *path)
{
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT, src = MR_BUF_INIT;
	bool ok = mr_secret_file_read(root, dir, path, MR_SECRET_FILE_MAX, &data, &err) == 0;
	mr_buf_addf(&src, "%s: file %s", what, path);
	pin(out, key, src.ptr, data.ptr ? data.ptr : "", data.len, ok);
	mr_secret_wipe(&data);
	mr_buf_release(&err);
	mr_buf_release(&src);
}

void mr_pins_take(struct mr_root *root, const struct mr_model *m, const char *state_dir, bool create,
		  struct mr_pins *out)
{
	unsigned char keybuf[PIN_KEY_LEN];
	const unsigned char *key = pin_key(root, state_dir, create, keybuf) == 0 ? keybuf : NULL;
	struct mr_buf what = MR_BUF_INIT;
	const struct mr_ssl *srv = &m->server.ssl;
	if (srv->enabled && srv->cert == MR_CERT_FILES && srv->cert_path && srv->key_path) {
		/* the server's: a renewal after the plan is a stale plan too */
		pin_file(out, root, key, "certificate of the server", srv->dir, srv->cert_path);
		pin_file(out, root, key, "certificate key of the server", srv->dir, srv->key_path);
	}
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		if (d->ssl.enabled && d->ssl.cert == MR_CERT_FILES && d->ssl.cert_path && d->ssl.key_path) {
			mr_buf_reset(&what);
			mr_buf_addf(&what, "certificate of %s", d->name);
			pin_file(out, root, key, what.ptr, d->ssl.dir, d->ssl.cert_path);
			mr_buf_reset(&what);
			mr_buf_addf(&what, "certificate key of %s", d->name);
			pin_file(out, root, key, what.ptr, d->ssl.dir, d->ssl.key_path);
		}
		for (size_t j = 0; j < d->nmailboxes; j++) {
			const struct mr_mailbox *mb = d->mailboxes[j];
			mr_buf_reset(&what);
			mr_buf_addf(&what, "password of %s", mb->address);
			if (mb->password_kind == MR_PASSWORD_FILE) {
				pin_file(out, root, key, what.ptr, mr_mailbox_password_dir(mb), mb->password.value);
			} else if (mb->password_kind == MR_PASSWORD_ENV) {
				const char *v = getenv(mb->password.value);
				mr_buf_addf(&what, ": env %s", mb->password.value);
				pin(out, key, what.ptr, v ? v : "", v ? strlen(v) : 0, v != NULL);
			}
		}
	}
	mr_buf_release(&what);
	explicit_bzero(keybuf, sizeof(keybuf));
}

void mr_pins_release(struct mr_pins *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].source);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* ---- reading a plan file back ---- */

void mr_planfile_saved_release(struct mr_planfile_saved *s)
{
	json_decref(s->doc);
	free(s->sources);
	free(s->targets);
	memset(s, 0, sizeof(*s));
}

int mr_planfile_read(struct mr_planfile_saved *out, const char *text, size_t len, struct mr_buf *err)
{
	memset(out, 0, sizeof(*out));
	json_error_t je;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		mr_buf_addf(err, "line %d column %d: %s", je.line, je.column, je.text);
		return -1;
	}
	out->doc = doc;
	const char *format = json_string_value(json_object_get(doc, "format"));
	json_t *version = json_object_get(doc, "format_version");
	json_t *sources = json_object_get(doc, "desired_sources");
	const char *created = json_string_value(json_object_get(doc, "created"));
	if (!json_is_object(doc) || !format || strcmp(format, MR_PLANFILE_FORMAT) != 0) {
		mr_buf_adds(err, "its \"format\" is not \"" MR_PLANFILE_FORMAT "\"");
		goto bad;
	}
	if (!json_is_integer(version) || json_integer_value(version) != MR_PLANFILE_VERSION) {
		mr_buf_addf(err, "its format_version is not %d", MR_PLANFILE_VERSION);
		goto bad;
	}
	if (!created || !json_is_array(sources) || json_array_size(sources) == 0) {
		mr_buf_adds(err, "it has no \"created\" time or no desired source");
		goto bad;
	}
	out->created = created;
	out->sources = xcalloc(json_array_size(sources), sizeof(*out->sources));
	size_t i;
	json_t *v;
	json_array_foreach(sources, i, v) {
		const char *path = json_string_value(json_object_get(v, "path"));
		if (!path || !*path) {
			mr_buf_addf(err, "desired source %zu has no path", i + 1);
			goto bad;
		}
		out->sources[out->nsources++] = path;
	}
	/* a targeted plan's targets (apply --plan plans them again); their names are checked
	 * when the plan is made again, and a plan that differs is refused */
	json_t *targets = json_object_get(json_object_get(json_object_get(doc, "plan"), "targeted"), "targets");
	if (json_is_array(targets) && json_array_size(targets)) {
		out->targets = xcalloc(json_array_size(targets), sizeof(*out->targets));
		json_array_foreach(targets, i, v) {
			const char *name = json_string_value(json_object_get(v, "name"));
			if (!name || !*name) {
				mr_buf_addf(err, "target %zu has no name", i + 1);
				goto bad;
			}
			out->targets[out->ntargets++] = name;
		}
	}
	return 0;
bad:
	mr_planfile_saved_release(out);
	return -1;
}

/* The first entry of two lists of fingerprints or pins that differs: its "path" or
 * "source", or "(the list of files)" when they differ in length only or it has neither. */
static void first_difference(json_t *old, json_t *now, struct mr_buf *why)
{
	size_t n = json_array_size(old), m = json_array_size(now);
	for (size_t i = 0; i < n && i < m; i++) {
		json_t *a = json_array_get(old, i), *b = json_array_get(now, i);
		if (json_equal(a, b))
			continue;
		const char *name = json_string_value(json_object_get(a, "path"));
		if (!name)
			name = json_string_value(json_object_get(a, "source"));
		mr_buf_adds(why, ": ");
		mr_buf_adds_printable(why, name ? name : "(the list of files)");
		return;
	}
	if (n != m)
		mr_buf_adds(why, ": (the list of files)");
}

int mr_planfile_compare(const struct mr_planfile_saved *saved, const char *now, struct mr_buf *why)
{
	static const struct {
		const char *keys[3];
		bool list; /* name the first entry that differs */
		const char *what;
	} parts[] = {
		{ { "mailrecon_version" }, false, "the plan was made by another mailrecon version" },
		{ { "root", "layout", "scope" }, false, "the plan was made for another root, layout or scope" },
		{ { "desired_sources" }, true, "a desired-state source changed since the plan" },
		{ { "secrets" }, true, "a secret the desired state names changed since the plan" },
		{ { "live_files" }, true, "a live file changed since the plan" },
		{ { "plan" }, false, "the plan would now be different" },
	};
	json_t *cur = json_loads(now, JSON_REJECT_DUPLICATES, NULL);
	if (!cur) { /* cannot be: mr_planfile_write made it */
		mr_buf_adds(why, "the plan could not be made again");
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && rc == 0; i++) {
		for (size_t k = 0; k < 3 && parts[i].keys[k] && rc == 0; k++) {
			json_t *a = json_object_get(saved->doc, parts[i].keys[k]), *b = json_object_get(cur, parts[i].keys[k]);
			if (a && b && json_equal(a, b))
				continue;
			mr_buf_adds(why, parts[i].what);
			if (parts[i].list && json_is_array(a) && json_is_array(b))
				first_difference(a, b, why);
			rc = -1;
		}
	}
	json_decref(cur);
	return rc;
}
