/*
 * accounts: the system accounts of ROOT/etc/passwd, read only.  Mail files belong to the
 * owner of the domain (design section 3), so a mailbox's uid and gid come from here, and a
 * user declared `account: existing` must be here (an error at plan time otherwise).
 */
#ifndef MR_CODEC_ACCOUNTS_H
#define MR_CODEC_ACCOUNTS_H

#include <stdint.h>

#include "util/arena.h"
#include "util/diag.h"
#include "util/rootfs.h"
#include "util/strmap.h"

struct mr_sysaccount {
	const char *name;
	int64_t uid, gid;
	const char *home;
};

struct mr_accounts {
	struct mr_arena arena;
	struct mr_strmap map; /* name -> struct mr_sysaccount */
	char *path;           /* as shown: /etc/passwd */
};

/* 0, or -1 with an error when ROOT/etc/passwd exists but cannot be read (a missing file is empty). */
int mr_accounts_load(struct mr_accounts *a, struct mr_root *root, struct mr_diags *errors);
const struct mr_sysaccount *mr_sysaccount_get(const struct mr_accounts *a, const char *name);
void mr_accounts_release(struct mr_accounts *a);

#endif
