/*
 * plan: the difference between the desired state and the live server, as typed changes
 * for people and as the new content of every live file for apply.
 *
 * Pure: it reads and writes nothing itself.  What needs the outside world is asked of the
 * caller through struct mr_plan_oracle: whether a clear password (file or env) is the one
 * the live hash was made from, whether a certificate file has the live content.  A plan
 * never holds a secret: a password change reads "(changed)", and file content that would
 * hold a new hash or key is made at apply (mr_file_change.at_apply).
 *
 *   struct mr_plan p;
 *   struct mr_diags d = MR_DIAGS_INIT;
 *   int rc = mr_plan_build(&p, &(struct mr_plan_input){ .desired = &m, .live = &lv, ... }, &d);
 *   // rc: 0, MR_PLAN_ERROR (bad input) or MR_PLAN_REFUSED (scope violation)
 *   mr_plan_print_text(&p, &out, color);
 *   mr_plan_release(&p);
 */
#ifndef MR_PLAN_PLAN_H
#define MR_PLAN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/accounts.h"
#include "codec/live.h"
#include "model/model.h"
#include "route/route.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"

#define MR_PLAN_FORMAT_VERSION 2

enum mr_change_action { MR_CHANGE_CREATE, MR_CHANGE_UPDATE, MR_CHANGE_DELETE };
enum mr_object { MR_OBJ_SERVER, MR_OBJ_USER, MR_OBJ_DOMAIN, MR_OBJ_DKIM, MR_OBJ_CERT, MR_OBJ_MAILBOX };

/* The server's default certificate (server.ssl): a certificate change of no domain. */
struct mr_change;
#define mr_change_server_cert(c) ((c)->object == MR_OBJ_CERT && !(c)->domain)
/* ... whose only change is Dovecot's copy of the live one (attribute "dovecot copy"): apply
 * copies Exim's live pair, it makes or reads no other */
bool mr_change_cert_copy_only(const struct mr_change *c);

const char *mr_change_action_name(enum mr_change_action a); /* "create" ... */
const char *mr_object_name(enum mr_object o);               /* "user" ... */

/* One attribute: display values, never a secret; NULL old on create, NULL new on delete. */
struct mr_attr {
	const char *name;
	const char *old, *new;
};

struct mr_change {
	enum mr_change_action action;
	enum mr_object object;
	const char *id;     /* "alice", "example.com", "info@example.com", "server" */
	const char *domain; /* the domain it belongs to; NULL for the server (its certificate too:
			     * MR_OBJ_CERT "server", mr_change_server_cert) and users */
	struct mr_attr *attrs;
	size_t nattrs, cap;
	const char *storage; /* a deleted mailbox: its home (NULL: its owner is unknown) */
	const char *archive; /* ... and where it is archived (NULL: purged) */
	const char *moved_to; /* a deleted domain the fleet places on another host: that host */
};

/*
 * What happens to a mailbox's home (design section 7: homes are part of the model).  Every
 * path is exactly /var/www/OWNER/data/email/DOMAIN/LOCAL for a mailbox of the model, or an
 * entry STATE_DIR/archive/ADDRESS/STAMP; nothing read from a live line is ever one.
 */
enum mr_home_op {
	MR_HOME_MAKE,    /* a new mailbox: path is made, owner's */
	MR_HOME_MOVE,    /* its domain changed owner: from -> path, given to owner */
	MR_HOME_RESTORE, /* it comes back (rollback): its newest archive entry from -> path */
	MR_HOME_ARCHIVE, /* it is deleted: path -> to, kept */
	MR_HOME_PURGE,   /* it is deleted with --purge: path is removed */
};

struct mr_home_change {
	enum mr_home_op op;
	const char *address;
	const char *owner; /* who the home belongs to after the change (make, move, restore) */
	const char *path;  /* the home */
	const char *from;  /* move: the old home; restore: the archive entry */
	const char *to;    /* archive: the archive entry */
	/* move: the old home an earlier apply left behind in another owner's tree (homes-left),
	 * when from is the live one: the mail is moved from whichever of the two is there, and
	 * when both are, from wins and this one is left alone, said */
	const char *also_from;
};

const char *mr_home_op_name(enum mr_home_op op); /* "make" ... */

struct mr_file_change {
	const char *path;  /* below the root */
	bool create;       /* the file does not exist yet */
	bool remove;       /* the file goes (key files of a disabled DKIM or certificate) */
	bool at_apply;     /* its content holds a hash, key or id only apply makes */
	bool blocked;      /* it has lines mailrecon cannot read: apply will refuse */
	size_t added, changed, removed; /* lines */
	char *content;     /* the new bytes (line files); NULL for key files */
	size_t len;
	int file_id;       /* enum mr_file_id; MR_FILE_ID_KEY for a key file, MR_FILE_ID_CONFIG for a file
			    * written whole (conf_id) */
	int conf_id;       /* enum mr_conf_id, for MR_FILE_ID_CONFIG */
};

#define MR_FILE_ID_KEY (-1)
#define MR_FILE_ID_CONFIG (-2)
#define MR_CERT_RENEW_DAYS 30

/* An address whose route changes (flow.c): "*@DOMAIN" stands for any other address there. */
struct mr_flow {
	const char *address;
	struct mr_route old, new;
};

/* A --target as resolved (target.c): the name, lower-cased, and what it names (user, domain
 * or mailbox). */
struct mr_plan_target {
	const char *name;
	enum mr_object object;
};

struct mr_plan {
	struct mr_arena arena;
	struct mr_change *changes;
	size_t nchanges, cap;
	struct mr_file_change *files;
	size_t nfiles, fcap;
	struct mr_home_change *homes;
	size_t nhomes, hcap;
	size_t add, change, destroy;
	size_t del_users, del_domains, del_mailboxes;
	const char *scope;
	/* A targeted plan (--target): the targets, and how many changes of the plan without them
	 * it leaves out (a change is the same when its object, id and action are); the users
	 * whose settings it takes from the desired state (the targets and the users they need:
	 * apply makes accounts only for those). */
	bool targeted;
	struct mr_plan_target *targets;
	size_t ntargets, tcap;
	size_t left_out;
	const char **planned_users;
	size_t nplanned_users, pucap;
	/* A scoped plan: the findings of the live files about objects in the scope, the only ones
	 * it prints (the print functions then ignore the findings they are given). */
	struct mr_diags findings;
	bool findings_scoped;
	/* The mail flow (flow.c): routes that change, and warnings about the target's. */
	struct mr_flow *flows;
	size_t nflows, flcap;
	struct mr_diags flow_warnings;
	struct mr_arena flow_arena; /* the flows' strings: flow.c runs beside the files' jobs */
};

struct mr_plan_oracle {
	/* 1: the clear password of desired mailbox d is the one live hash was made from; 0 no;
	 * -1 it cannot be read (an error was added); MR_PLAN_REFUSED: a --scope file may not
	 * name that file (an error was added; load/secret.h mr_secret_refused). */
	int (*password_same)(void *ctx, const struct mr_mailbox *d, const char *live_hash, struct mr_diags *errors);
	/* 1: the certificate files want names (cert_path/key_path) hold what the live files
	 * live_crt and live_key hold (a domain's ssl/DOMAIN.crt and .key, the server's exim.crt) */
	int (*cert_same)(void *ctx, const struct mr_ssl *want, const char *live_crt, const char *live_key);
	/* apply only: 0 with *hash the hash to write for a clear password that is new or changed
	 * (kept by ctx until the plan is released), or -1 / MR_PLAN_REFUSED as password_same
	 * with an error added; NULL callback (plan): the hash is made at apply and the file
	 * shows a placeholder */
	int (*new_hash)(void *ctx, const struct mr_mailbox *d, const char **hash, struct mr_diags *errors);
	void *ctx;
};

/* What the plan needs to know of STATE_DIR/archive (the caller lists it). */
struct mr_archive_view {
	/* The newest entry of address ("STATE_DIR/archive/ADDRESS/STAMP"), or NULL. */
	const char *(*newest)(void *ctx, const char *address);
	/* Whether an entry of that path exists already. */
	bool (*taken)(void *ctx, const char *entry);
	void *ctx;
};

struct mr_plan_input {
	const struct mr_model *desired;
	const struct mr_live *live;
	const struct mr_accounts *accounts;
	const char *scope;      /* NULL: everything */
	const char *state_dir;  /* where the archive is: STATE_DIR/archive/ADDRESS/STAMP */
	const char *stamp;      /* STAMP of the archive entries made now (YYYYMMDDTHHMMSSZ) */
	bool purge;             /* a deleted mailbox's home is removed, not archived */
	bool restore;           /* rollback: a mailbox that comes back takes its newest archive entry */
	struct mr_archive_view archive; /* NULL callbacks: an empty archive */
	/* addresses whose home an earlier apply could not make (STATE_DIR/homes-left): made now
	 * when the mailbox is kept; NULL: none */
	const struct mr_strmap *homes_left;
	int64_t now;            /* Unix time for certificate expiry; 0: the clock */
	struct mr_plan_oracle oracle;
	/* no Mail flow (flows, flow_warnings stay empty): apply's second plan of the same two
	 * models takes the first plan's (mr_plan_take_flow) */
	bool no_flow;
	/* the line files' new bytes are counted (len) but not kept (content NULL): plan and
	 * drift show a file's change but never write it, and a 100,000-mailbox file is 20 MB */
	bool no_content;
	/* --target: only these objects (a mailbox address, a mail domain or a user, any letter
	 * case) and what they need are planned, the rest is kept as it is live (target.c);
	 * ntargets 0: everything */
	const char *const *targets;
	size_t ntargets;
};

/* MR_PLAN_USAGE: a --target that names nothing (exit 64) */
enum { MR_PLAN_OK = 0, MR_PLAN_ERROR = -1, MR_PLAN_REFUSED = -3, MR_PLAN_USAGE = -64 };

int mr_plan_build(struct mr_plan *p, const struct mr_plan_input *in, struct mr_diags *errors);
void mr_plan_release(struct mr_plan *p);

/* Whether the run takes user name's settings from the desired state: always, but in a
 * targeted plan only for the targets and the users they need. */
bool mr_plan_user_planned(const struct mr_plan *p, const char *name);

/*
 * Findings with --scope (scope.c): a finding of the live files is shown to a scope only when
 * it is about an object in it -- the address, domain or user of the live line it points at
 * (or the domain of a key file), which the message names -- and to an admin's scope always.
 * A finding about no one object (an unreadable line, a file as a whole) is an admin's.
 * mr_plan_scope_findings appends the ones shown to out.
 */
bool mr_plan_finding_in_scope(const struct mr_live *lv, const char *scope, const struct mr_diag *d);
void mr_plan_scope_findings(const struct mr_live *lv, const char *scope, struct mr_diags *out);

/* The "Mail flow" of live -> target into p (flows and flow_warnings). */
void mr_plan_flow(struct mr_plan *p, const struct mr_model *live, const struct mr_model *target);
/* Moves from's Mail flow (flows, flow_warnings and their strings) into to, whose own is empty. */
void mr_plan_take_flow(struct mr_plan *to, struct mr_plan *from);
/* One route as a JSON object (schema/route.schema.json), no newline. */
void mr_route_json(struct mr_buf *out, const char *address, const struct mr_route *rt);

/*
 * What a plan does to a domain's DKIM key (docs/plan.md "DKIM rotation"), from the live
 * domain (with its staged key, STATE_DIR/dkim) and the target one (either may be NULL):
 * KEEP nothing; CREATE a first key, which signs at once; DELETE it; STAGE a new key for a
 * new selector or size in STATE_DIR/dkim, the live one still signing; WAIT: the staged key
 * is the wanted one and `dns --check` has not found its record yet (no change); SWITCH: it
 * has, so the staged key becomes the signing one and the replaced record is listed for
 * removal; DROP the staged key (the live key is the wanted one again).  apply's stage step
 * asks the same question, so plan and apply cannot disagree.
 */
enum mr_dkim_step {
	MR_DKIM_KEEP, MR_DKIM_CREATE, MR_DKIM_DELETE, MR_DKIM_STAGE, MR_DKIM_WAIT, MR_DKIM_SWITCH, MR_DKIM_DROP,
	MR_DKIM_REPLACE, /* rollback only: the revision's key replaces the live one at once (from STATE_DIR/keys) */
};
enum mr_dkim_step mr_dkim_step(const struct mr_domain *live, const struct mr_domain *target);
/* The same for a plan: a rollback (in->restore) puts the revision's key back at once (REPLACE),
 * as it puts back every file of the revision. */
struct mr_plan_input;
enum mr_dkim_step mr_dkim_plan_step(const struct mr_plan_input *in, const struct mr_domain *live,
				    const struct mr_domain *target);
/* Whether the replaced record of live is past its grace period at now (its file goes). */
bool mr_dkim_retired_expired(const struct mr_domain *live, const struct mr_domain *target, int64_t now);

/* Output (print.c, json.c). */
void mr_plan_print_text(const struct mr_plan *p, const struct mr_diags *findings, bool color, struct mr_buf *out);
/*
 * The same with another line above the changes than MR_PLAN_WILL (a plan of what apply is
 * about to do): MR_PLAN_MADE in a revision (what an apply did), MR_PLAN_WOULD for drift.
 */
#define MR_PLAN_WILL "mailrecon will make these changes:"
#define MR_PLAN_MADE "mailrecon made these changes:"
#define MR_PLAN_WOULD "an apply would make these changes:"
void mr_plan_print_text_as(const struct mr_plan *p, const struct mr_diags *findings, bool color, const char *heading,
			   struct mr_buf *out);
void mr_plan_print_json(const struct mr_plan *p, const struct mr_diags *findings, struct mr_buf *out);
/* The summary line alone ("Plan: 1 to add, 6 to change, 5 to destroy.\n"), for -q. */
void mr_plan_print_summary(const struct mr_plan *p, bool color, struct mr_buf *out);
/*
 * A one-line subject for the revision that applies p, naming its objects, at most
 * MR_PLAN_SUBJECT_MAX bytes: one change reads "mailbox info@example.com: +alias sales,
 * -alias contact" ("... created", "... deleted", or the attributes that change); several read
 * "+mailbox hr@example.com, ~domain example.com, -mailbox old@example.com" with ", and N more"
 * when they do not fit.  A plan without changes (files or homes only) gets the summary line
 * ("Plan: 0 to add, 0 to change, 0 to destroy.").  No newline is appended; nothing in it is a
 * secret (attribute values are printed only for lists of names and short single words).
 */
#define MR_PLAN_SUBJECT_MAX 120
void mr_plan_subject(const struct mr_plan *p, struct mr_buf *out);
/*
 * What apply would refuse in this plan, given --allow-delete=allow_delete (-1: any number):
 * more deletions of users, domains and mailboxes than allowed, and each BLOCKED file.
 * Appends a line "apply will refuse: ..." per refusal to text and the JSON array of them to
 * json (either may be NULL); returns how many.
 */
size_t mr_plan_refusals(const struct mr_plan *p, long allow_delete, struct mr_buf *text, struct mr_buf *json);
/* mr_plan_print_json with a "refusals" member: mr_plan_refusals' array (plan --json). */
void mr_plan_print_json_refusals(const struct mr_plan *p, const struct mr_diags *findings, long allow_delete,
				 struct mr_buf *out);
/* A JSON string ("null" for NULL): '"', '\\' and control characters escaped, and a byte that
 * is not part of valid UTF-8 as U+FFFD, so the output is valid UTF-8 whatever s holds. */
void mr_json_string(struct mr_buf *out, const char *s);

/*
 * Internal to src/plan.  The target model (scope.c): what the live server becomes, the
 * desired objects inside the scope and the live ones outside it, with the --scope rules
 * checked; 0, MR_PLAN_ERROR or MR_PLAN_REFUSED with the errors added.  t is initialised
 * by the caller and shares strings and mailboxes with the input models, and also, read only,
 * each domain the run changes nothing in (the struct and its mailbox array, when that is in
 * canonical order) and, when its mailboxes are all the desired model's, that model's mailbox
 * map; mr_plan_target_release (not mr_model_release) frees what is t's own, for a model
 * mr_plan_narrow made too.  Then the file
 * contents from it (files.c); hashes: address -> the hash to write of each target mailbox
 * whose password is not a hash already (diff.c), absent when it is made at apply.  The Mail
 * flow (mr_plan_flow of the live model and t, unless in->no_flow) is made by the same two
 * workers as the files, as one more job.
 */
struct mr_model;
int mr_plan_target(struct mr_model *t, const struct mr_plan_input *in, struct mr_diags *errors);
void mr_plan_target_release(struct mr_model *t, const struct mr_plan_input *in);
void mr_plan_files(struct mr_plan *p, const struct mr_model *target, const struct mr_plan_input *in,
		   struct mr_strmap *hashes);
/*
 * --target (target.c): r (initialised by the caller) is the full target t narrowed to
 * in->targets and what they need, the rest as it is live; p->targets, p->targeted and
 * p->planned_users are filled in.  0, MR_PLAN_USAGE (an unknown target) or MR_PLAN_ERROR
 * (the narrowed model would not hold together), with the errors added.
 */
int mr_plan_narrow(struct mr_model *r, const struct mr_model *t, const struct mr_plan_input *in, struct mr_plan *p,
		   struct mr_diags *errors);
/*
 * For both (scope.c): a copy of user u, or of domain d with the mailboxes v[0..n) (shared,
 * read only; the array is m's own), added to model m under m's own copy of the name; NULL
 * when m has the name already.
 */
struct mr_user *mr_plan_copy_user(struct mr_model *m, const struct mr_user *u);
struct mr_domain *mr_plan_copy_domain(struct mr_model *m, const struct mr_domain *d, struct mr_mailbox *const *v,
				      size_t n);

/*
 * Files the plan must rewrite that have lines mailrecon cannot read: one error each (the
 * plan itself is complete; apply refuses it).  Returns how many.
 */
size_t mr_plan_blocked(const struct mr_plan *p, struct mr_diags *errors);

#endif
