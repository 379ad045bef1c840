/*
 * apply: make the live server what the desired state says, as one transaction.
 *
 * The calling sequence (cmd_apply.c):
 *   take the lock; finish or undo an interrupted apply (the journal); load the desired
 *   state and the live files; plan; refuse a stale saved plan, deletions over the cap or a
 *   blocked file; create missing system accounts; plan again with the hashes of new clear
 *   passwords; stage every changed file and key beside its target; run the real tools'
 *   checks; commit (journal, renames, archive moves); create new mailbox homes; reload the
 *   services whose inputs changed; write the audit log.
 * Nothing is written when the plan is empty: a second apply of the same state changes no
 * file, reloads nothing and prints "No changes.".
 */
#ifndef MR_APPLY_APPLY_H
#define MR_APPLY_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "codec/codec.h"

struct mr_apply_opts {
	const char *root;
	const char *state_dir;        /* as configured (below the root) */
	enum mr_layout layout;
	const char *const *sources;   /* -f */
	size_t nsources;
	const char *planfile;         /* --plan */
	const char *scope;
	long allow_delete;            /* deletions allowed; -1: any number */
	bool purge;                   /* delete a removed mailbox's storage instead of archiving it */
	bool no_reload;
	double lock_timeout;          /* seconds; < 0: wait forever */
	bool color;
	int verbosity;
	const char *actor;            /* NULL: SUDO_USER, the CI job's user, or the login */
};

/* Runs the whole apply; returns the process exit code (design section 1). */
int mr_apply_run(const struct mr_apply_opts *o);

/*
 * Make the live files those of revision rev (a mailrecon revision; another is refused, exit
 * 3), through the same lock and transaction as apply, and record it as "rollback to REV"
 * (history is never rewritten).  Private keys are not in history: the live ones stay.
 */
int mr_rollback_run(const struct mr_apply_opts *o, const char *rev);

/* The lock every apply takes (plan takes it shared); 0, or the exit code 4/1 with a message. */
int mr_state_lock(const char *state_dir_full, bool exclusive, double timeout, int *fd_out);

#endif
