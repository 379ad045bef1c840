/*
 * model: users, mail domains and mailboxes -- the one in-memory state.
 *
 * Both sides of a reconciliation produce this type: the YAML loader (src/load) builds the
 * desired model, the live-file codecs (src/codec) build the live model, and a plan is a
 * comparison of the two.  Values are effective values (defaults applied); an optional
 * number that is absent is MR_UNSET.  Every object and the fields that can be wrong
 * remember where they came from (struct mr_loc), so an error can point at them; in a
 * desired model a field location with line 0 means the field was not written (its value
 * is the default), which the --scope rules rely on.
 *
 * Ownership: the model owns everything reachable from it through its arena; strings
 * handed to the add functions are copied, except by their _borrowed forms.  A string field
 * may also be set to a string the model does not own: the live model's point into the
 * bytes of the live files it was read from (codec/live.h), the desired model's literals
 * and defaults into the program.  Such a string must stay unchanged for as long as the
 * model is used, so a model's strings are read only: nothing writes through them or frees
 * them, and nothing may assume they are in the arena.  One call frees it all:
 *
 *   struct mr_model m;
 *   mr_model_init(&m);
 *   struct mr_domain *d = mr_model_add_domain(&m, "example.com", loc, &dup);
 *   struct mr_mailbox *mb = mr_domain_add_mailbox(&m, d, "info", loc, &dup);
 *   ...
 *   mr_model_release(&m);
 */
#ifndef MR_MODEL_MODEL_H
#define MR_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/diag.h"
#include "util/strmap.h"

#define MR_UNSET INT64_C(-1)

enum mr_role { MR_ROLE_USER, MR_ROLE_RESELLER, MR_ROLE_ADMIN };
enum mr_account { MR_ACCOUNT_EXISTING, MR_ACCOUNT_CREATE };
enum mr_action { MR_ACTION_REJECT, MR_ACTION_DISCARD, MR_ACTION_FORWARD, MR_ACTION_REDIRECT_DOMAIN };
enum mr_password_kind { MR_PASSWORD_NONE, MR_PASSWORD_HASH, MR_PASSWORD_FILE, MR_PASSWORD_ENV };
enum mr_cert_kind { MR_CERT_SELF_SIGNED, MR_CERT_FILES };
enum mr_scheme { MR_SCHEME_SHA512_CRYPT, MR_SCHEME_SHA256_CRYPT, MR_SCHEME_BLF_CRYPT, MR_SCHEME_CRAM_MD5 };

const char *mr_role_name(enum mr_role r);
const char *mr_account_name(enum mr_account a);
const char *mr_action_name(enum mr_action a);
const char *mr_scheme_name(enum mr_scheme s);

/* A string with the place it was written, for lists such as aliases and copy_to. */
struct mr_item {
	const char *s;
	struct mr_loc loc;
};

struct mr_items {
	struct mr_item *v;
	size_t n;
};

/* certbot's tree: `certificate: letsencrypt` reads live/ALIAS/fullchain.pem and privkey.pem,
 * whose relative links into archive/ALIAS/ are followed only inside it (load/secret.h) */
#define MR_LETSENCRYPT_DIR "/etc/letsencrypt"

#define MR_DKIM_SELECTOR_DEFAULT "dkim"
#define MR_DKIM_BITS_DEFAULT 2048

struct mr_ssl {
	bool enabled;
	const char *alias;
	enum mr_cert_kind cert;
	const char *cert_path, *key_path; /* MR_CERT_FILES: as written */
	bool letsencrypt;                 /* MR_CERT_FILES: certbot's live/ALIAS/{fullchain,privkey}.pem */
	const struct mr_srcdir *dir;      /* ... relative to this one */
	const char *email; /* NULL: none */
	struct mr_loc loc, alias_loc, cert_loc, key_loc, email_loc;
	int64_t not_after; /* live model only: the certificate's expiry (Unix time), 0: unknown */
	/* live server.ssl only: why Dovecot's default pair is not a copy of Exim's ("a symbolic
	 * link", "absent", "different"); NULL: it is */
	const char *copy_differs;
};

struct mr_server {
	bool declared;
	struct mr_loc loc;
	enum mr_scheme password_scheme;
	int64_t rate_per_hour; /* MR_UNSET: unlimited */
	struct mr_loc rate_loc;
	const char *dmarc; /* template; NULL: the built-in default */
	struct mr_loc dmarc_loc;
	/* The fleet (design section 9): the hosts a domain may be placed on; n == 0: no fleet,
	 * every domain is local.  hosts_loc.line != 0 when the key was written. */
	struct mr_items hosts;
	struct mr_loc hosts_loc;
	/* how long `mailrecon dns` lists a DKIM record replaced by a rotation for removal
	 * (seconds; "7d" in YAML) */
	int64_t dkim_grace;
	struct mr_loc dkim_grace_loc;
	/* The server's default certificate (server.ssl: docs/desired-state.md), the one a client
	 * gets that names no server (SNI) or a name without its own: enabled false = unmanaged,
	 * nothing of it is touched.  alias is required (no default). */
	struct mr_ssl ssl;
};

#define MR_DKIM_GRACE_DEFAULT (7 * 86400)
#define MR_DKIM_GRACE_MAX (366 * 86400)

#define MR_DMARC_DEFAULT "v=DMARC1; p=none"

struct mr_limits {
	int64_t mail_domains, mailboxes, rate_per_hour; /* MR_UNSET: unlimited */
	struct mr_loc mail_domains_loc, mailboxes_loc, rate_loc;
};

struct mr_user {
	const char *name;
	struct mr_loc loc;
	enum mr_role role;
	struct mr_loc role_loc;
	const char *reseller; /* NULL: none */
	struct mr_loc reseller_loc;
	enum mr_account account;
	struct mr_loc account_loc;
	bool disabled;
	struct mr_loc disabled_loc;
	const char *disabled_by; /* who disabled it (registry disabled_by=); NULL: unknown or enabled */
	struct mr_limits limits;
};

/*
 * The directory a desired-state file was read from: a relative {file:} or certificate path
 * in it is read below that directory (load/secret.h).  In a --scope run the loader holds the
 * directory open from the moment it reads the file until the model is released (held, a
 * strict root: util/rootfs.h, with its identity then), so every later read -- validate,
 * plan, apply -- is below that very directory and its name is never looked up again.
 * Without --scope held is NULL and the directory is looked up by path, as the operator's
 * links lead (a "git:" path: none on disk).
 */
struct mr_root;
struct mr_srcdir {
	const char *path;     /* the file's directory: as named (dirname of the file's name), or
			       * held's, absolute, as it was reached */
	struct mr_root *held; /* NULL: looked up by path */
	uint64_t dev, ino;    /* what held was when the file was read */
};

/*
 * A password as a whole (mr_mailbox_password() puts one together from a mailbox, which
 * keeps its parts in three places: see struct mr_mailbox).
 */
struct mr_password {
	enum mr_password_kind kind;
	const char *value; /* the hash, the path as written, or the variable name */
	const struct mr_srcdir *dir; /* for a relative file path: the YAML file's directory */
	struct mr_loc loc;
};

struct mr_domain;

#define MR_ID_UNSET UINT32_MAX

/* What only the live model knows of a mailbox (codec/live.c). */
struct mr_mailbox_live {
	const char *home; /* where Dovecot keeps the mail; NULL: no home field */
	uint32_t uid, gid; /* MR_ID_UNSET: none (the codec reads at most 4294967294) */
	/* the exim-passwd and dovecot-passwd lines (struct mr_line) it was read from, or NULL;
	 * the codecs and apply use them, the model never looks inside */
	const void *src_exim, *src_dovecot;
};

/*
 * The fields of a mailbox that few mailboxes have (mr_mailbox_cold): NULL / MR_LOC_NONE
 * when not set.  The locations are a desired model's, where the field was written (line 0:
 * not written); a live model sets keep_copy_loc (to the mailbox's loc) only where keep_copy
 * is false, the one case it is read.
 */
struct mr_mailbox_cold {
	const struct mr_srcdir *password_dir; /* MR_PASSWORD_FILE: a relative path's directory */
	const char *note;
	const char *disabled_by; /* who disabled it (registry disabled_by=); NULL: unknown or enabled */
	struct mr_loc keep_copy_loc, rate_loc, disabled_loc;
};

/*
 * A mailbox.  There are as many as 100,000 in each model, so it is kept small (see the
 * _Static_asserts below): the fields most mailboxes leave unset are in its cold part,
 * allocated on the first write (mr_mailbox_cold(); read them with the accessors below),
 * and a live model's mailbox has its live part in the same block, right after it
 * (mr_mailbox_live()).
 */
struct mr_mailbox {
	const char *name;
	const char *address; /* name@domain */
	struct mr_loc loc;
	struct mr_domain *domain;
	struct {
		const char *value; /* as struct mr_password's; kind: password_kind, dir: the cold part's */
		struct mr_loc loc;
	} password;
	struct mr_items aliases;
	struct mr_items copy_to;
	int64_t max_size; /* bytes; 0: unlimited */
	int64_t rate_per_hour; /* MR_UNSET: the user's, then the server's */
	struct mr_mailbox_cold *cold; /* NULL: none of its fields is set */
	uint8_t password_kind; /* enum mr_password_kind */
	bool keep_copy, greylisting, spamassassin, disabled;
	bool has_live; /* a live model's: struct mr_mailbox_with_live (mr_mailbox_live()) */
};

/* A live model's mailbox: its live part follows it in one block. */
struct mr_mailbox_with_live {
	struct mr_mailbox mb;
	struct mr_mailbox_live live;
};

_Static_assert(sizeof(struct mr_mailbox) <= 112, "a desired model's mailbox is at most 112 bytes");
_Static_assert(sizeof(struct mr_mailbox_with_live) <= 144, "a live model's mailbox is at most 144 bytes");

/* A live model's mailbox's live part; NULL for any other (a desired model has as many
 * mailboxes and needs none of it). */
static inline struct mr_mailbox_live *mr_mailbox_live(const struct mr_mailbox *mb)
{
	return mb->has_live ? &((struct mr_mailbox_with_live *)mb)->live : NULL;
}

/* The cold fields, with their defaults when the mailbox has no cold part. */
static inline const struct mr_srcdir *mr_mailbox_password_dir(const struct mr_mailbox *mb)
{
	return mb->cold ? mb->cold->password_dir : NULL;
}
static inline const char *mr_mailbox_note(const struct mr_mailbox *mb)
{
	return mb->cold ? mb->cold->note : NULL;
}
static inline const char *mr_mailbox_disabled_by(const struct mr_mailbox *mb)
{
	return mb->cold ? mb->cold->disabled_by : NULL;
}
static inline struct mr_loc mr_mailbox_keep_copy_loc(const struct mr_mailbox *mb)
{
	return mb->cold ? mb->cold->keep_copy_loc : MR_LOC_NONE;
}
static inline struct mr_loc mr_mailbox_rate_loc(const struct mr_mailbox *mb)
{
	return mb->cold ? mb->cold->rate_loc : MR_LOC_NONE;
}
static inline struct mr_loc mr_mailbox_disabled_loc(const struct mr_mailbox *mb)
{
	return mb->cold ? mb->cold->disabled_loc : MR_LOC_NONE;
}

/* The mailbox's password as a whole. */
static inline struct mr_password mr_mailbox_password(const struct mr_mailbox *mb)
{
	return (struct mr_password){ (enum mr_password_kind)mb->password_kind, mb->password.value,
				     mr_mailbox_password_dir(mb), mb->password.loc };
}

struct mr_dkim {
	bool enabled;
	const char *selector;
	int bits;
	struct mr_loc loc, selector_loc;
	const char *public_key; /* live model only: the p= of the published record, base64 */
	/*
	 * Live model only, from STATE_DIR/dkim (codec/dkim_state.h): a key apply staged for a
	 * new selector or size, which signs only once `mailrecon dns --check` found its record
	 * published (pending_confirmed); and the record of the key the last switch replaced,
	 * listed for removal until retired_until.  NULL selectors: none.
	 */
	const char *pending_selector, *pending_public_key;
	int pending_bits;
	bool pending_confirmed;
	const char *retired_selector, *retired_public_key;
	int64_t retired_until;
};

struct mr_domain {
	const char *name;
	struct mr_loc loc;
	const char *owner;
	struct mr_loc owner_loc;
	const char *ip; /* NULL: auto */
	struct mr_loc ip_loc;
	const char *host; /* desired model only: the server.hosts entry it is placed on; NULL: none */
	struct mr_loc host_loc;
	enum mr_action action;
	const char *action_target; /* address or domain for forward / redirect_domain */
	struct mr_loc action_loc;
	bool greylisting, spamassassin, antivirus, dmarc, disabled;
	struct mr_loc disabled_loc;
	const char *disabled_by; /* who disabled it (registry disabled_by=); NULL: unknown or enabled */
	struct mr_dkim dkim;
	struct mr_ssl ssl;
	struct mr_mailbox **mailboxes;
	size_t nmailboxes, mailboxes_cap;
	bool implicit; /* live model only: known from its mailboxes, no line in the domains file */
	bool owner_from_dir; /* live model only: the owner came from a /var/www/OWNER/data/email/D dir */
};

struct mr_model {
	struct mr_arena arena;
	/* a desired model's password hashes (mr_model_hash_str), apart from the rest so that
	 * mr_model_share_hashes() can give their memory back */
	struct mr_arena hashes;
	/* while a desired model loads (cli/cmd_plan.c): an equal hash mr_model_mailbox_hash()
	 * may share instead of copying one, e.g. the live model's once it is read; NULL: none */
	const char *(*hash_from)(void *ctx, const char *address, const char *hash);
	void *hash_from_ctx;
	bool live; /* read from the live files (codec/live.h): each mailbox has its mr_mailbox_live */
	struct mr_server server;
	struct mr_user **users;
	size_t nusers, users_cap;
	struct mr_domain **domains;
	size_t ndomains, domains_cap;
	struct mr_strmap user_map;    /* name -> struct mr_user */
	struct mr_strmap domain_map;  /* name -> struct mr_domain */
	struct mr_strmap mailbox_map; /* local@domain -> struct mr_mailbox */
	/* A host's part of a fleet (mr_model_keep_host): domain -> the host it is placed on, for
	 * each of the fleet's domains placed on another host; empty otherwise. */
	struct mr_strmap elsewhere;
	struct mr_srcdir **srcdirs;   /* the directories files were read from; held ones closed at release */
	size_t nsrcdirs, srcdirs_cap;
};

void mr_model_init(struct mr_model *m);
void mr_model_release(struct mr_model *m);

/* Defaults of design section 2 for a new object. */
void mr_server_defaults(struct mr_server *s);

/*
 * Add an object with its defaults.  When one of that name exists already, nothing is
 * added, NULL is returned and *existing points at the first one.
 */
struct mr_user *mr_model_add_user(struct mr_model *m, const char *name, struct mr_loc loc,
				  struct mr_user **existing);
struct mr_domain *mr_model_add_domain(struct mr_model *m, const char *name, struct mr_loc loc,
				      struct mr_domain **existing);
struct mr_mailbox *mr_domain_add_mailbox(struct mr_model *m, struct mr_domain *d, const char *name,
					 struct mr_loc loc, struct mr_mailbox **existing);
/*
 * For a loop that adds many: fetch the map slot of name@d->name now, as the add at position
 * i of the loop (util/strmap.h, struct mr_strmap_ahead), and that add, which uses the hash
 * computed here when the prefetch at i was for this very name string.
 */
void mr_domain_mailbox_ahead(const struct mr_model *m, const struct mr_domain *d, const char *name,
			     struct mr_strmap_ahead *a, size_t i);
struct mr_mailbox *mr_domain_add_mailbox_ahead(struct mr_model *m, struct mr_domain *d, const char *name,
					       struct mr_loc loc, struct mr_mailbox **existing,
					       const struct mr_strmap_ahead *a, size_t i);

/*
 * The same, with the strings borrowed, not copied: they must stay unchanged and outlive
 * the model (the live model's come from its files, codec/live.h).  address is
 * name@d->name, as the caller has it already.
 */
struct mr_user *mr_model_add_user_borrowed(struct mr_model *m, const char *name, struct mr_loc loc,
					   struct mr_user **existing);
struct mr_domain *mr_model_add_domain_borrowed(struct mr_model *m, const char *name, struct mr_loc loc,
					       struct mr_domain **existing);
struct mr_mailbox *mr_domain_add_mailbox_borrowed(struct mr_model *m, struct mr_domain *d, const char *name,
						  const char *address, struct mr_loc loc,
						  struct mr_mailbox **existing);

/*
 * Forget the domains added after the first n (and their mailboxes): a file that turned out
 * not to be valid YAML after some of its domains were read leaves the model as if it had
 * not been read.  Their memory stays in the arena until release.
 */
void mr_model_drop_domains(struct mr_model *m, size_t n);

/* Make the name maps again from the users, domains and mailboxes arrays, after objects were
 * taken out of them (the maps have no removal). */
void mr_model_reindex(struct mr_model *m);
/* Put every mailbox of the domains, in their order, in the mailbox map, as
 * mr_strmap_put_new() one by one would (the first of an address stays): for a model whose
 * domains were given their mailboxes without it.  Reserve the map first. */
void mr_model_put_mailboxes(struct mr_model *m);

struct mr_user *mr_model_user(const struct mr_model *m, const char *name);
struct mr_domain *mr_model_domain(const struct mr_model *m, const char *name);
struct mr_mailbox *mr_model_mailbox(const struct mr_model *m, const char *address);

/*
 * The directory path as a model's source directory, with held (a root of it, taken over;
 * NULL: none).  The same path with the same held directory (device and inode) gives the
 * one already there (held is then closed); the model closes the rest at release.
 */
const struct mr_srcdir *mr_model_srcdir(struct mr_model *m, const char *path, struct mr_root *held);

/*
 * The mailbox's cold part, to set its fields: made in m's arena (all unset) when it has
 * none.  m is the model the mailbox is in; a mailbox shared with another model (plan/
 * scope.c) is not written: it is copied with mr_mailbox_copy() first.
 */
struct mr_mailbox_cold *mr_mailbox_cold(struct mr_model *m, struct mr_mailbox *mb);

/*
 * A copy of mb in m's arena, with a copy of its cold part (its own, to set) and its live
 * part; it is in no domain and no map (the caller puts it where mb was).  The strings and
 * lists are shared with mb.
 */
struct mr_mailbox *mr_mailbox_copy(struct mr_model *m, const struct mr_mailbox *mb);

/* Copy a string into the model's arena. */
const char *mr_model_str(struct mr_model *m, const char *s, size_t len);
/* Copy a password hash into the model's hash arena. */
const char *mr_model_hash_str(struct mr_model *m, const char *s, size_t len);
/* The hash s (len bytes) of mailbox address: m->hash_from's equal string when it has one,
 * else a copy (mr_model_hash_str). */
const char *mr_model_mailbox_hash(struct mr_model *m, const char *address, const char *s, size_t len);
/*
 * Point each hash password of m that is the same as its mailbox's in `from` (the live
 * model) at from's copy, move the others into a fresh hash arena, and release the old one:
 * a plan with few password changes then holds each hash once, not twice (8 MiB of a
 * 100,000-mailbox desired state).  from's strings must outlive m's use of them.  Returns
 * how many were shared.
 */
size_t mr_model_share_hashes(struct mr_model *m, const struct mr_model *from);
/* m's string of mailbox address's hash when it is a hash equal to hash, else NULL. */
const char *mr_model_same_hash(const struct mr_model *m, const char *address, const char *hash);
/* Allocate a list of n items in the model's arena (zeroed). */
struct mr_item *mr_model_items(struct mr_model *m, size_t n);

/* Canonical order: users, domains and each domain's mailboxes sorted by name. */
void mr_model_sort(struct mr_model *m);
/* Its two parts: the users and domains arrays (not the mailbox arrays); one domain's
 * mailbox array. */
void mr_model_sort_top(struct mr_model *m);
void mr_domain_sort_mailboxes(struct mr_domain *d);

/*
 * The fleet (fleet.c, design section 9).  mr_model_is_fleet: server.hosts is set.
 * mr_model_keep_host turns a validated fleet into host's part of it: the domains placed on
 * host, the users that own them and those users' resellers; every other domain is dropped
 * and remembered in m->elsewhere with its host (mr_model_elsewhere: NULL for a domain that
 * is not the fleet's, or is here).  Without server.hosts it changes nothing: every domain
 * is local.  Call it once, after validation and before anything looks at the model.
 */
bool mr_model_is_fleet(const struct mr_model *m);
bool mr_model_has_host(const struct mr_model *m, const char *host);
void mr_model_keep_host(struct mr_model *m, const char *host);
const char *mr_model_elsewhere(const struct mr_model *m, const char *domain);

/* Counting, for summaries. */
size_t mr_model_count_mailboxes(const struct mr_model *m);

#endif
