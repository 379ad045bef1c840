/*
 * apply: make the live server what the desired state says, as one transaction.
 *
 * The calling sequence (cmd_apply.c; the steps, one file each, are in steps.h):
 *   take the lock; finish or undo an interrupted apply (the journal); load the desired
 *   state and the live files; record what is live in history first; plan; refuse a stale
 *   saved plan, deletions over the cap or a blocked file; create missing system accounts;
 *   plan again with the hashes of new clear passwords; stage every changed file and key
 *   beside its target, and the mailbox homes and the record of the run as journal
 *   operations; run the real tools' checks; commit (the live files re-checked, the journal,
 *   the renames, the homes); record the revision and the audit log; reload the services
 *   whose inputs changed.
 * Nothing is written when the plan is empty: a second apply of the same state changes no
 * file, reloads nothing and prints "No changes.".  Every path below --root goes through
 * the root handle (util/rootfs.h).
 */
#ifndef MR_APPLY_APPLY_H
#define MR_APPLY_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "codec/codec.h"
#include "plan/plan.h"
#include "util/rootfs.h"
#include "util/strmap.h"

/*
 * What one run did, for the --metrics-file of the CLI (cli/metrics.h); filled in when
 * mr_apply_opts.report is set.  The counts are known only once the plan is (planned).
 */
#define MR_APPLY_KINDS (MR_OBJ_MAILBOX + 1)
#define MR_APPLY_ACTIONS (MR_CHANGE_DELETE + 1)
struct mr_apply_report {
	bool planned;        /* a plan was made: the counts below are known */
	size_t pending;      /* changes of the plan this run did not apply (0 after a switch) */
	size_t findings;     /* findings in the live files (the scope's, with --scope) */
	size_t drift_files;  /* managed files changed outside mailrecon, committed as drift first */
	size_t applied[MR_APPLY_KINDS][MR_APPLY_ACTIONS]; /* switched by this run, by object and action */
};

struct mr_apply_opts {
	struct mr_root *root;         /* the root handle (util/rootfs.h) */
	const char *state_dir;        /* as configured (below the root) */
	enum mr_layout layout;
	const char *const *sources;   /* -f */
	size_t nsources;
	const char *planfile;         /* --plan */
	const char *scope;
	const char *const *targets;   /* --target (plan.h mr_plan_input.targets); ntargets 0: all */
	size_t ntargets;
	long allow_delete;            /* deletions allowed; -1: any number */
	bool purge;                   /* delete a removed mailbox's storage instead of archiving it */
	bool no_reload;
	double lock_timeout;          /* seconds; < 0: wait forever */
	bool color;
	int verbosity;
	const char *actor;            /* NULL: SUDO_USER, the CI job's user, or the login */
	/* Asked once the plan is printed (whatever the verbosity) and has passed every refusal,
	 * when it changes something, before anything is written to the live tree: false cancels
	 * the run (exit 3, "apply cancelled; nothing was changed").  NULL: no question. */
	bool (*confirm)(void);
	struct mr_apply_report *report; /* NULL, or filled in with what the run did */
	bool log_json;                /* audit lines as JSON objects (--log-format json) */
	const char *host;             /* --host: a fleet's host whose part is applied (NULL: all) */
};

/* Runs the whole apply; returns the process exit code (design section 1). */
int mr_apply_run(const struct mr_apply_opts *o);

/*
 * Make the live files those of revision rev (a mailrecon revision; another is refused, exit
 * 3): an apply whose target is the revision -- the same lock, capture of what is live
 * (drift committed first), delete cap (exit 3), homes archived or restored from the
 * archive, checks and transaction -- recorded as "rollback to REV" (history is never
 * rewritten).  The revision is validated before anything is written: only files mailrecon
 * manages, each what its name says.  Private keys come back from STATE_DIR/keys.
 */
int mr_rollback_run(const struct mr_apply_opts *o, const char *rev);

/*
 * STATE_DIR/homes-left: the mailboxes whose home the last apply could not make, move or
 * restore (a tenant's tree was in the way), one a line: "ADDRESS" (make it), "ADDRESS move
 * OWNER" (move it from OWNER's tree) or "ADDRESS restore" (bring back its newest archive
 * entry).  Every plan tries again until the home is there.  Only names are kept: the plan
 * makes the paths from them, as for any home.  The map goes from the address to the rest of
 * its line ("", "move OWNER", "restore"); both point into data.  An absent or unreadable file
 * is an empty set.
 */
struct mr_homes_left {
	char *data;
	struct mr_strmap map;
	const char **addr; /* the addresses, in the file's order */
	size_t n;
};
void mr_homes_left_read(struct mr_root *root, const char *state_dir, struct mr_homes_left *out);

/*
 * STATE_DIR/archive as the plan sees it (plan.h struct mr_archive_view): the newest entry of
 * an address ("STATE_DIR/archive/ADDRESS/STAMP[-N]": the greatest stamp, then N) and whether
 * an entry is taken, read below the root without following a link.  The entries found are
 * kept in names until mr_archive_release.  plan and apply see the same archive.
 */
struct mr_archive {
	struct mr_root *root;
	const char *state_dir;
	struct mr_pathlist names;
};
struct mr_archive_view mr_archive_view(struct mr_archive *ar);
void mr_archive_release(struct mr_archive *ar);
void mr_homes_left_release(struct mr_homes_left *h);

/*
 * STATE_DIR/dmarc-template: the server.dmarc template (or the built-in default) of the
 * desired state the last unscoped apply used, one line, so that `mailrecon dns` without -f
 * prints the records that were meant to be published.  mr_dmarc_record writes it (atomically,
 * only when it differs: a second apply writes nothing); mr_dmarc_applied reads it back: a
 * new string, or NULL when there is none or it is not a DMARC template (printable ASCII,
 * starting with v=DMARC1, at most 1024 bytes).
 */
#define MR_DMARC_STATE "dmarc-template"
int mr_dmarc_record(struct mr_root *root, const char *state_dir, const char *tmpl);
char *mr_dmarc_applied(struct mr_root *root, const char *state_dir);

/* The lock every apply takes (plan takes it shared) in state_dir below root; 0, or the exit
 * code 4/1 with a message. */
int mr_state_lock(struct mr_root *root, const char *state_dir, bool exclusive, double timeout, int *fd_out);

#endif
