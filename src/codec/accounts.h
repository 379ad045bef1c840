/*
 * accounts: the system accounts of ROOT/etc/passwd, read only.  Mail files belong to the
 * owner of the domain (design section 3), so a mailbox's uid and gid come from here, and a
 * user declared `account: existing` must be here (an error at plan time otherwise).
 * The owner must be a regular account, not root or a system account: its uid at least the
 * UID_MIN of ROOT/etc/login.defs, the system's own dividing line (useradd reads it too).
 */
#ifndef MR_CODEC_ACCOUNTS_H
#define MR_CODEC_ACCOUNTS_H

#include <stdbool.h>
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
	int64_t uid_min;      /* the lowest uid of a regular account: mr_uid_min() */
	bool uid_min_set;     /* it is login.defs' own, not MR_UID_MIN_DEFAULT */
};

#define MR_LOGIN_DEFS "/etc/login.defs"
#define MR_UID_MIN_DEFAULT 1000

/*
 * UID_MIN of ROOT/etc/login.defs, read as shadow's useradd reads it (a "NAME VALUE" line,
 * '#' comments, the value decimal, 0x hex or 0 octal), and at least 1: uid 0 is never a
 * regular account.  MR_UID_MIN_DEFAULT when the file is absent, unreadable (a symbolic link
 * included) or has no valid UID_MIN; *set (may be NULL) says whether the file set it.
 */
int64_t mr_uid_min(struct mr_root *root, bool *set);

/* 0, or -1 with an error when ROOT/etc/passwd exists but cannot be read (a missing file is empty). */
int mr_accounts_load(struct mr_accounts *a, struct mr_root *root, struct mr_diags *errors);
const struct mr_sysaccount *mr_sysaccount_get(const struct mr_accounts *a, const char *name);
void mr_accounts_release(struct mr_accounts *a);

#endif
