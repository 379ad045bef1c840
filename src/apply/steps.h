/*
 * steps: the apply sequence, one file per step (the way Postfix's cleanup/ splits one
 * pipeline).  Internal to src/apply; apply.h is the interface.  In order:
 *
 *   run.c        the run: the state directory, the lock, an interrupted apply finished
 *                (txn.c), the desired state and the live files loaded, capture, the plan,
 *                the refusals (a stale plan file, blocked files, deletions over the cap),
 *                then the steps below; also rollback's shared start
 *   capture.c    history before anything changes: a pending record finished, the
 *                baseline of a first apply, drift committed on its own
 *   accounts.c   `account: create` users made with useradd (before the second plan)
 *   stage.c      every changed file and key staged beside its target; the live files read
 *                for the plan registered for the re-check before the switch
 *   homes.c      the plan's mailbox homes as journal operations: make, move, restore,
 *                archive, purge -- at exactly /var/www/OWNER/data/email/DOMAIN/LOCAL
 *   checks.c     the real tools' checks of what is staged (exim -bV, spamassassin --lint,
 *                doveconf)
 *   (commit)     mr_txn_commit: the re-check, the journal, the switch, the homes
 *   record.c     after the switch: the pending record (staged in the same transaction)
 *                becomes a revision and audit lines; a crash anywhere leaves it for the
 *                next run's capture
 *   reload.c     the services whose inputs changed
 *   rollback.c   rollback: the same sequence with a revision's files as the target
 *
 * Every path below the root goes through the root handle (util/rootfs.h).
 */
#ifndef MR_APPLY_STEPS_H
#define MR_APPLY_STEPS_H

#include <stdbool.h>
#include <stddef.h>

#include "apply/apply.h"
#include "apply/history.h"
#include "apply/oracle.h"
#include "apply/txn.h"
#include "codec/accounts.h"
#include "codec/live.h"
#include "model/model.h"
#include "plan/plan.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/fs.h"
#include "util/rootfs.h"
#include "vcs/vcs.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_REFUSED = 3, EXIT_LOCKED = 4, EXIT_USAGE = 64 };

/* One run's context. */
struct actx {
	const struct mr_apply_opts *o;
	char actor[64];         /* actor()'s answer, once asked: the audit log names it per change */
	struct mr_root *root;   /* every path below --root goes through it */
	char *state;            /* the state directory below the root ("/var/lib/mailrecon") */
	struct mr_model m;
	struct mr_live lv;
	struct mr_accounts acc;
	struct mr_diags d, errors;
	struct mr_pathlist files; /* the desired-state files read */
	struct mr_oracle_ctx oc;
	char iso[32];           /* now, for the audit log */
	char stamp[32];         /* archive entries made by this run: YYYYMMDDTHHMMSSZ */
	bool have_live, have_acc;
	struct mr_vcs *vcs;
	const char *const *sources_read; /* the sources loaded (-f, or a plan file's) */
	size_t nsources_read;
	char rev[41];           /* the revision this run committed, or "" */
	size_t drift_files;     /* capture(): managed files changed outside mailrecon since HEAD */
	char git_commit[41];    /* a git source's commit */
	struct mr_archive archive;        /* STATE_DIR/archive, for the plan */
	struct mr_homes_left homes_left;  /* STATE_DIR/homes-left, read after the lock */
	/* --target: the options', or with none given a plan file's (the plan is made again) */
	const char *const *targets;
	size_t ntargets;
};

/* One transaction being staged. */
struct stage {
	struct actx *a;
	struct mr_txn *t;
	struct mr_buf err;
	bool reload_postgrey, reload_spamd, reload_dovecot;
	size_t written;
	size_t refused_homes;   /* homes left alone: not reachable without a link (said) */
	bool refused;           /* a failure is a refusal of --scope (load/secret.h): exit 3 */
	const char *local_cf;   /* the new local.cf (for spamassassin --lint), or NULL */
	size_t local_cf_len;
};

/* run.c */
void say(const struct actx *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *state_path(const struct actx *a, const char *name); /* STATE_DIR/name, below the root */
int actx_init(struct actx *a, const struct mr_apply_opts *o);
void actx_release(struct actx *a);
int take_state(struct actx *a, const char *cmd, int *lockfd);
int open_history(struct actx *a, bool create, const char *cmd);
/* STATE_DIR/vcs-writing: there while a commit to the state repository is under way (so that a
 * run after one that was killed knows the repository's lock files are stale). */
#define VCS_WRITING "vcs-writing"
int vcs_commit(struct actx *a, const struct mr_snapshot *snap, const char *message, bool *committed,
	       struct mr_buf *err);
struct mr_archive_view archive_view(struct actx *a);
const char *actor(const struct actx *a);

/* capture.c */
int capture(struct actx *a);
int commit_snapshot(struct actx *a, const char *message, bool *committed);
void rev_objects(struct actx *a, const char *rev, bool drift, struct mr_buf *m);
struct mr_snapshot;
/* The files of revision rev, each checked (history.h mr_history_check_file): 0, or -1 with
 * err (*refused: a file failed its check -- the revision is not to be used). */
int read_revision(struct actx *a, const char *rev, struct mr_snapshot *out, bool *refused, struct mr_buf *err);
/* The private key a fingerprint names, from STATE_DIR/keys: 0 with it in out, -1 if not kept. */
int kept_key(struct actx *a, const struct mr_vcs_file *fingerprint, struct mr_buf *out);
/* The files written below dir (STATE_DIR/tmp/..., keys from STATE_DIR/keys), opened as a
 * root and read as a live model: 0, or -1 with err.  Release *out and close *rroot. */
int load_revision(struct actx *a, const struct mr_snapshot *files, const char *dir, struct mr_root **rroot,
		  struct mr_live *out, struct mr_diags *d, struct mr_buf *err);

/* accounts.c */
/* The system accounts the plan's users are to get: how many were made, or -1. */
int create_accounts(struct actx *a, const struct mr_plan *p);
int run_cmd(char *const argv[], struct mr_buf *output);

/* stage.c */
extern const struct mr_codec conf_meta, dovecot_cert_meta;
void stage_init(struct stage *s, struct actx *a);
int stage_bytes(struct stage *s, const char *path, const void *data, size_t len, const struct mr_codec *c,
		bool secret);
int keep_key(struct actx *a, const char *path);
int stage_plan_files(struct stage *s, const struct mr_plan *p);
/* rollback: every staged DKIM key of STATE_DIR/dkim (with its record and confirmation) goes,
 * since a revision records none; each path is appended to shown ("  - PATH ...") and counted
 * in *n.  The replaced records listed for removal stay. */
int stage_drop_staged_keys(struct stage *s, struct mr_buf *shown, size_t *n);
void stage_expect_live(struct stage *s);

/* homes.c */
int stage_homes(struct stage *s, const struct mr_plan *p, int when);
enum { HOMES_BEFORE_FILES, HOMES_AFTER_FILES };

/* checks.c */
int checks(struct actx *a, struct stage *s);

int homes_left_save(struct actx *a, const struct mr_plan *p, const struct mr_txn *t);

/* After a commit: what the transaction did to homes, and the homes it left alone (said;
 * they count as refused). */
void homes_left_alone(struct stage *s);

/* record.c */
int stage_record(struct stage *s, const char *message, const struct mr_plan *p, const char *extra_audit);
int finish_record(struct actx *a, bool from_crash);

/* reload.c */
int reloads(struct actx *a, struct stage *s);

#endif
