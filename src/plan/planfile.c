#include "plan/planfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fs.h"
#include "util/xalloc.h"

void mr_fingerprint_add(struct mr_fingerprints *l, const char *shown, const char *full)
{
	l->v = xgrow(l->v, sizeof(*l->v), l->n + 1, &l->cap);
	struct mr_fingerprint *f = &l->v[l->n++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(shown);
	struct stat st;
	if (lstat(full, &st) < 0)
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
		mr_fingerprint_add(fp, lv->files[i].cf.path, lv->files[i].fullpath);
	char *p = mr_path_join_root(lv->root, acc->path);
	mr_fingerprint_add(fp, acc->path, p);
	free(p);
	for (int id = 0; id < MR_CONF_COUNT; id++) {
		const char *conf = mr_conf_path((enum mr_conf_id)id, lv->layout);
		p = mr_path_join_root(lv->root, conf);
		mr_fingerprint_add(fp, conf, p);
		free(p);
	}
	struct mr_pathlist keys = MR_PATHLIST_INIT;
	for (size_t i = 0; i < lv->key_files.cap; i++)
		if (lv->key_files.slots[i].key)
			mr_pathlist_add(&keys, lv->key_files.slots[i].key);
	mr_pathlist_sort(&keys);
	for (size_t i = 0; i < keys.n; i++) {
		char *f = mr_path_join_root(lv->root, keys.v[i]);
		mr_fingerprint_add(fp, keys.v[i], f);
		free(f);
	}
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
	mr_buf_adds(out, ",\n\"live_files\":");
	prints(out, m->live);
	mr_buf_adds(out, ",\n\"plan\":");
	mr_plan_print_json(p, findings, out);
	mr_buf_adds(out, "}\n");
}
