#include "load/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fs.h"
#include "util/xalloc.h"

#define PASSWORD_FILE_MAX 4096

char *mr_secret_path(struct mr_root *root, const struct mr_srcdir *dir, const char *path)
{
	if (path[0] == '/')
		return root ? mr_root_full(root, path) : strdup(path);
	return mr_path_join(dir ? dir->path : ".", path);
}

/* Below a directory the loader holds (a --scope run): that very one, without a link. */
static int read_held(const struct mr_srcdir *dir, const char *rel, size_t max, struct mr_buf *out,
		     struct mr_buf *err)
{
	struct stat st;
	if (mr_root_lstat(dir->held, "/", &st) < 0 || (uint64_t)st.st_dev != dir->dev ||
	    (uint64_t)st.st_ino != dir->ino) {
		mr_buf_addf(err, "'%s' is not the directory its desired-state file was read from", dir->path);
		return -ESTALE;
	}
	return mr_root_read(dir->held, rel, max, out, &st, err);
}

int mr_secret_file_read(struct mr_root *root, const struct mr_srcdir *dir, const char *path, size_t max,
			struct mr_buf *out, struct mr_buf *err)
{
	struct stat st;
	if (path[0] == '/') {
		if (!mr_root_clean(path)) {
			mr_buf_addf(err, "'%s' is not a clean path below the root (no '.', '..' or '//')", path);
			return -EINVAL;
		}
		if (strncmp(path, MR_LETSENCRYPT_DIR "/", sizeof(MR_LETSENCRYPT_DIR)) != 0)
			return mr_root_read(root, path, max, out, &st, err);
		/* certbot's links, followed only while they stay in its tree; the result has none */
		struct mr_buf real = MR_BUF_INIT;
		int rc = mr_root_resolve_within(root, MR_LETSENCRYPT_DIR, path, &real, err);
		if (rc == 0)
			rc = mr_root_read(root, real.ptr, max, out, &st, err);
		mr_buf_release(&real);
		return rc;
	}
	/* relative: below the YAML file's directory, looked up the same way */
	struct mr_buf rel = MR_BUF_INIT;
	mr_buf_addf(&rel, "/%s", path);
	int rc;
	if (!dir || strncmp(dir->path, "git:", 4) == 0) {
		mr_buf_addf(err, "'%s': a relative path needs the directory of a YAML file on disk; write an absolute path "
				 "below --root",
			    path);
		rc = -EINVAL;
	} else if (!mr_root_clean(rel.ptr)) {
		mr_buf_addf(err, "'%s' is not a clean relative path (no '.', '..' or '//'): it must stay below '%s'", path,
			    dir->path);
		rc = -EINVAL;
	} else if (dir->held) {
		rc = read_held(dir, rel.ptr, max, out, err);
	} else {
		struct mr_root *below;
		rc = mr_root_open(&below, dir->path, err);
		if (rc == 0) {
			rc = mr_root_read(below, rel.ptr, max, out, &st, err);
			mr_root_close(&below);
		}
	}
	mr_buf_release(&rel);
	return rc;
}

bool mr_secret_refused(const struct mr_srcdir *dir, const char *path, int rc)
{
	return (rc == -ELOOP || rc == -ESTALE) && path[0] != '/' && dir && dir->held;
}

void mr_secret_refused_why(const struct mr_srcdir *dir, const char *path, int rc, struct mr_buf *why)
{
	if (mr_secret_refused(dir, path, rc))
		mr_buf_addf(why, "; a --scope file may name only files in or below its own directory '%s', reached "
				 "without a symbolic link",
			    dir->path);
}

void mr_secret_wipe(struct mr_buf *b)
{
	if (b->ptr)
		explicit_bzero(b->ptr, b->cap);
	mr_buf_release(b);
}

int mr_secret_read(struct mr_root *root, const struct mr_password *p, struct mr_buf *out, struct mr_buf *why)
{
	mr_buf_reset(out);
	if (p->kind == MR_PASSWORD_ENV) {
		const char *v = getenv(p->value);
		if (!v || !*v) {
			mr_buf_addf(why, "environment variable '%s' is %s", p->value, v ? "empty" : "not set");
			return -1;
		}
		mr_buf_adds(out, v);
		return 0;
	}
	if (p->kind != MR_PASSWORD_FILE) {
		mr_buf_adds(why, "not a clear password");
		return -1;
	}
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	int r = mr_secret_file_read(root, p->dir, p->value, PASSWORD_FILE_MAX, &data, &err);
	if (r < 0) {
		mr_buf_adds(why, err.ptr ? err.ptr : strerror(-r));
		mr_secret_refused_why(p->dir, p->value, r, why);
		mr_buf_release(&err);
		mr_secret_wipe(&data);
		return r;
	}
	mr_buf_release(&err);
	size_t n = data.ptr ? strcspn(data.ptr, "\r\n") : 0;
	if (n == 0 || memchr(data.ptr, '\0', n)) {
		mr_buf_adds(why, n == 0 ? "the first line is empty" : "the password has a NUL byte");
		mr_secret_wipe(&data);
		return -1;
	}
	mr_buf_add(out, data.ptr, n);
	mr_secret_wipe(&data);
	return 0;
}
