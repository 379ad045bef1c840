#include "codec/accounts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/codec.h"
#include "util/fs.h"
#include "util/xalloc.h"

int64_t mr_uid_min(struct mr_root *root, bool *set)
{
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	int64_t v = MR_UID_MIN_DEFAULT;
	bool found = false;
	if (root && mr_root_read(root, MR_LOGIN_DEFS, 1u << 20, &data, &st, &err) == 0) {
		for (char *line = data.ptr, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			char *save = NULL, *name = strtok_r(line, " \t\r", &save);
			if (!name || name[0] == '#' || strcmp(name, "UID_MIN") != 0)
				continue;
			/* as shadow's getdef: the next word, in C notation; a later line replaces one */
			char *val = strtok_r(NULL, " \t\r", &save), *end;
			if (!val || val[0] == '-' || val[0] == '+')
				continue;
			errno = 0;
			long long n = strtoll(val, &end, 0);
			if (errno || end == val || *end || n > 4294967294LL)
				continue;
			v = n < 1 ? 1 : n;
			found = true;
		}
	}
	if (set)
		*set = found;
	mr_buf_release(&data);
	mr_buf_release(&err);
	return v;
}

int mr_accounts_load(struct mr_accounts *a, struct mr_root *root, struct mr_diags *errors)
{
	memset(a, 0, sizeof(*a));
	a->uid_min = mr_uid_min(root, &a->uid_min_set);
	a->path = xstrdup("/etc/passwd");
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	int rc = 0;
	int r = mr_root_read(root, a->path, 64u << 20, &data, &st, &err);
	if (r < 0 && r != -ENOENT && r != -ENOTDIR) {
		mr_diag_error(errors, mr_loc_at(a->path, 0, 0), "%s", err.ptr);
		rc = -1;
	}
	for (char *line = data.ptr, *next; r == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *f[7];
		size_t n = 0;
		for (char *p = line; n < 7; n++) {
			f[n] = p;
			p = strchr(p, ':');
			if (!p) {
				n++;
				break;
			}
			*p++ = '\0';
		}
		int64_t uid, gid;
		if (n < 6 || !mr_codec_parse_uint(f[2], 4294967294LL, &uid) ||
		    !mr_codec_parse_uint(f[3], 4294967294LL, &gid))
			continue; /* not ours to judge: a line passwd(5) tools would skip too */
		struct mr_sysaccount *acc = mr_arena_zalloc(&a->arena, sizeof(*acc));
		acc->name = mr_arena_strdup(&a->arena, f[0]);
		acc->uid = uid;
		acc->gid = gid;
		acc->home = mr_arena_strdup(&a->arena, f[5]);
		mr_strmap_put_new(&a->map, acc->name, strlen(acc->name), acc);
	}
	mr_buf_release(&data);
	mr_buf_release(&err);
	return rc;
}

const struct mr_sysaccount *mr_sysaccount_get(const struct mr_accounts *a, const char *name)
{
	return mr_strmap_get(&a->map, name, strlen(name));
}

void mr_accounts_release(struct mr_accounts *a)
{
	mr_strmap_release(&a->map);
	mr_arena_release(&a->arena);
	free(a->path);
	memset(a, 0, sizeof(*a));
}
