/*
 * homes: the plan's mailbox homes (plan.h struct mr_home_change) as operations of the same
 * journal as the files (txn.c), so a crash at any point converges and a home is never lost
 * or left half made.  Before the files switch: homes made, moved to a new owner, restored
 * from the archive; after: homes archived or purged.
 *
 * Every path here is exactly /var/www/OWNER/data/email/DOMAIN/LOCAL of a mailbox of the
 * model or an entry STATE_DIR/archive/ADDRESS/STAMP -- the plan computes them from names,
 * never from a live line -- and is reached without following a link.  A home that cannot
 * be reached that way (a tenant made a directory on the way a link, or put a file where the
 * home should be) is a finding: that mailbox's storage is left alone, the rest of the
 * apply goes on, and the run ends with exit 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply/steps.h"
#include "util/xalloc.h"

/* The owner's uid and gid, or -1 with a message. */
static int owner_ids(struct stage *s, const char *owner, int64_t *uid, int64_t *gid)
{
	const struct mr_sysaccount *acc = owner ? mr_sysaccount_get(&s->a->acc, owner) : NULL;
	if (!acc) {
		mr_buf_addf(&s->err, "the owner '%s' has no system account in /etc/passwd: its mailbox homes cannot be made",
			    owner ? owner : "(unknown)");
		return -1;
	}
	if (acc->uid == 0 || acc->gid == 0) {
		mr_buf_addf(&s->err, "the owner '%s' is root's (uid %lld, gid %lld): mail never belongs to root", owner,
			    (long long)acc->uid, (long long)acc->gid);
		return -1;
	}
	*uid = acc->uid;
	*gid = acc->gid;
	return 0;
}

/* 1: a directory is at path, reached without a link; 0: nothing is there; -1: something
 * else (a link on the way, a file, a FIFO): refused, said. */
static int look(struct stage *s, const struct mr_home_change *h, const char *path, const char *what)
{
	struct stat st;
	int r = mr_root_lstat(s->a->root, path, &st);
	if (r == -ENOENT)
		return 0;
	if (r == 0 && S_ISDIR(st.st_mode))
		return 1;
	char *shown = mr_root_full(s->a->root, path);
	fprintf(stderr, "mailrecon: warning: the storage of '%s' is left alone: %s '%s' %s\n", h->address, what, shown,
		r == -ELOOP	 ? "is a symbolic link or is reached through one"
		: r == -ENOTDIR ? "is reached through something that is not a directory"
		: r < 0		 ? strerror(-r)
				 : "is not a directory");
	free(shown);
	s->refused_homes++;
	return -1;
}

static char *domain_dir(const char *home)
{
	return mr_path_dirname(home);
}

static int before_files(struct stage *s, const struct mr_home_change *h)
{
	int64_t uid, gid;
	if (owner_ids(s, h->owner, &uid, &gid) < 0)
		return -1;
	int there = look(s, h, h->path, "the home");
	if (there < 0)
		return 0;
	bool moved = false;
	if (h->op != MR_HOME_MAKE && there == 0) {
		/* the home's domain directory first (the new owner's), then the move itself */
		int from = look(s, h, h->from, h->op == MR_HOME_MOVE ? "the old home" : "the archive entry");
		if (from < 0)
			return 0;
		char *dir = domain_dir(h->path);
		int rc = mr_txn_mkhome(s->t, dir, uid, gid, &s->err);
		free(dir);
		if (rc < 0 || (from > 0 && mr_txn_mvhome(s->t, h->from, h->path, uid, gid, &moved, &s->err) < 0))
			return -1;
		if (moved)
			mr_buf_addf(&s->home_notes, "%s %s to %s\n", h->op == MR_HOME_MOVE ? "moved" : "restored", h->from,
				    h->path);
	} else if (h->op != MR_HOME_MAKE) {
		char *shown = mr_root_full(s->a->root, h->path), *f = mr_root_full(s->a->root, h->from);
		fprintf(stderr, "mailrecon: warning: '%s' exists: '%s' is left where it is for '%s'\n", shown, f, h->address);
		free(shown);
		free(f);
	}
	if (!moved && mr_txn_mkhome(s->t, h->path, uid, gid, &s->err) < 0)
		return -1;
	if (!moved && there == 0)
		mr_buf_addf(&s->home_notes, "made the home %s\n", h->path);
	return 0;
}

static int after_files(struct stage *s, const struct mr_home_change *h)
{
	int there = look(s, h, h->path, "the home");
	if (there <= 0)
		return 0; /* nothing there (or refused, said): nothing to archive */
	if (h->op == MR_HOME_PURGE) {
		mr_buf_addf(&s->home_notes, "purged %s\n", h->path);
		return mr_txn_purge(s->t, h->path, &s->err);
	}
	mr_buf_addf(&s->home_notes, "archived %s to %s\n", h->path, h->to);
	return mr_txn_mvhome(s->t, h->path, h->to, -1, -1, NULL, &s->err);
}

int stage_homes(struct stage *s, const struct mr_plan *p, int when)
{
	for (size_t i = 0; i < p->nhomes; i++) {
		const struct mr_home_change *h = &p->homes[i];
		bool before = h->op == MR_HOME_MAKE || h->op == MR_HOME_MOVE || h->op == MR_HOME_RESTORE;
		if (before != (when == HOMES_BEFORE_FILES))
			continue;
		if ((before ? before_files(s, h) : after_files(s, h)) < 0)
			return -1;
	}
	return 0;
}
