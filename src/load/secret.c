#include "load/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fs.h"

#define SECRET_MAX 4096

char *mr_secret_path(const char *root, const char *base_dir, const char *path)
{
	if (path[0] == '/')
		return mr_path_join_root(root, path);
	return mr_path_join(base_dir ? base_dir : ".", path);
}

void mr_secret_wipe(struct mr_buf *b)
{
	if (b->ptr)
		explicit_bzero(b->ptr, b->cap);
	mr_buf_release(b);
}

int mr_secret_read(const char *root, const struct mr_password *p, struct mr_buf *out, struct mr_buf *why)
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
	char *path = mr_secret_path(root, p->base_dir, p->value);
	struct stat st;
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	int r = mr_read_file_ex(path, SECRET_MAX, 0, &data, &st, &err);
	free(path);
	if (r < 0) {
		mr_buf_adds(why, err.ptr);
		mr_buf_release(&err);
		mr_secret_wipe(&data);
		return -1;
	}
	mr_buf_release(&err);
	size_t n = strcspn(data.ptr, "\r\n");
	if (n == 0 || memchr(data.ptr, '\0', n)) {
		mr_buf_adds(why, n == 0 ? "the first line is empty" : "the password has a NUL byte");
		mr_secret_wipe(&data);
		return -1;
	}
	mr_buf_add(out, data.ptr, n);
	mr_secret_wipe(&data);
	return 0;
}
