#include "apply/history.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/live.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "util/fs.h"
#include "util/xalloc.h"

static void add(struct mr_snapshot *s, const char *path, char *data, size_t len)
{
	s->v = xgrow(s->v, sizeof(*s->v), s->n + 1, &s->cap);
	s->v[s->n++] = (struct mr_vcs_file){ xstrdup(path), data, len };
}

static bool is_private(const char *name)
{
	size_t n = strlen(name);
	return (n > 8 && strcmp(name + n - 8, ".private") == 0) || (n > 4 && strcmp(name + n - 4, ".key") == 0);
}

/* One file below the root ("/etc/x" -> "etc/x"); absent files are skipped. */
static int take(struct mr_snapshot *s, const char *root, const char *path, struct mr_buf *err)
{
	char *full = mr_path_join_root(root, path);
	struct mr_buf data = MR_BUF_INIT, e = MR_BUF_INIT;
	struct stat st;
	int r = mr_read_file_ex(full, 512u << 20, MR_READ_NOFOLLOW, &data, &st, &e);
	int rc = 0;
	if (r == 0) {
		const char *base = strrchr(path, '/') + 1;
		if (is_private(base)) {
			/* never the key itself: its fingerprint and public half */
			char sha[MR_SHA256_HEX], *pub = NULL;
			mr_sha256_hex(data.ptr, data.len, sha);
			mr_privkey_bits_pem(data.ptr, data.len, &pub);
			explicit_bzero(data.ptr, data.cap);
			struct mr_buf fp = MR_BUF_INIT, name = MR_BUF_INIT;
			mr_buf_addf(&fp, "sha256 %s\npublic %s\n", sha, pub ? pub : "(unreadable)");
			mr_buf_addf(&name, "%s.fingerprint", path + 1);
			size_t len = fp.len;
			add(s, name.ptr, mr_buf_detach(&fp), len);
			mr_buf_release(&name);
			free(pub);
			mr_buf_release(&data);
		} else {
			size_t len = data.len;
			add(s, path + 1, data.ptr ? mr_buf_detach(&data) : xstrdup(""), len);
		}
	} else if (r != -ENOENT && r != -ENOTDIR) {
		mr_buf_addf(err, "%s", e.ptr);
		rc = -1;
	}
	mr_buf_release(&data);
	mr_buf_release(&e);
	free(full);
	return rc;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct mr_vcs_file *)a)->path, ((const struct mr_vcs_file *)b)->path);
}

int mr_snapshot_take(const char *root, enum mr_layout layout, struct mr_snapshot *s, struct mr_buf *err)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < MR_FILE_COUNT; i++)
		if (take(s, root, mr_codec_path(mr_codecs[i], layout), err) < 0)
			return -1;
	for (int id = 0; id < MR_CONF_COUNT; id++)
		if (take(s, root, mr_conf_path((enum mr_conf_id)id, layout), err) < 0)
			return -1;
	const char *dirs[] = { layout == MR_LAYOUT_RHEL ? "/etc/exim/ssl" : "/etc/exim4/ssl", "/etc/dovecot/certs" };
	for (int i = 0; i < 2; i++) {
		char *full = mr_path_join_root(root, dirs[i]);
		DIR *d = opendir(full);
		if (d) {
			struct mr_pathlist names = MR_PATHLIST_INIT;
			struct dirent *de;
			while ((de = readdir(d)) != NULL)
				if (de->d_name[0] != '.')
					mr_pathlist_add(&names, de->d_name);
			closedir(d);
			mr_pathlist_sort(&names);
			for (size_t k = 0; k < names.n; k++) {
				char *p = mr_path_join(dirs[i], names.v[k]);
				int rc = take(s, root, p, err);
				free(p);
				if (rc < 0) {
					mr_pathlist_release(&names);
					free(full);
					return -1;
				}
			}
			mr_pathlist_release(&names);
		}
		free(full);
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
	if (!f || f->len != len || memcmp(f->data, data, len) != 0) {
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

void mr_history_trailers(struct mr_buf *msg, const char *source, const char *actor)
{
	char host[256] = "unknown";
	gethostname(host, sizeof(host) - 1);
	mr_buf_addf(msg, "\nDesired-Source: %s\nHost: %s\nActor: %s\n" MR_HISTORY_TRAILER ": %s\n",
		    source ? source : "(none)", host, actor ? actor : "unknown", MAILRECON_VERSION);
}
