/*
 * The YAML side of the desired state: each file is parsed into a node tree (ytree.c),
 * then walked with a table of known fields per object.  Unknown fields, duplicate keys,
 * wrong types and malformed values are reported here with their place; the rules that
 * need the whole state (references, limits, loops) are in validate.c.
 */
#include "load/desired.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "load/ytree.h"
#include "model/names.h"
#include "util/buf.h"
#include "util/faults.h"
#include "util/fs.h"
#include "util/strutil.h"
#include "util/xalloc.h"

#define MAX_INT 1000000000

struct conv {
	struct mr_model *m;
	struct mr_ydoc *doc;
	struct mr_diags *diags;
	const struct mr_srcdir *dir; /* the file's directory, the model's */
};

static struct mr_loc loc_of(const struct conv *c, const struct mr_ynode *n)
{
	return mr_ynode_loc(c->doc, n);
}

#define ERR(c, n, ...) mr_diag_error((c)->diags, loc_of((c), (n)), __VA_ARGS__)

/* ---- scalars ------------------------------------------------------------------------- */

/* A string value, or NULL after an error.  Null counts as absent for optional keys. */
static const char *scalar(struct conv *c, const struct mr_ynode *v, const char *key)
{
	if (v->kind != MR_Y_SCALAR) {
		ERR(c, v, "'%s' must be a single value, not %s", key, mr_ykind_name(v));
		return NULL;
	}
	if (strlen(v->u.str) != v->len) {
		ERR(c, v, "'%s' contains a NUL character", key);
		return NULL;
	}
	return v->u.str;
}

/* YAML 1.1 booleans, unquoted: what people write and what editors' YAML 1.1 mode accepts. */
static bool get_bool(struct conv *c, const struct mr_ynode *v, const char *key, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON",
					   "y", "Y", NULL };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF",
					  "n", "N", NULL };
	const char *s = scalar(c, v, key);
	if (!s)
		return false;
	for (int i = 0; !v->quoted && yes[i]; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	ERR(c, v, "'%s' must be true or false (also yes/no, on/off, without quotes), not %s'%s'", key,
	    v->quoted ? "the quoted string " : "", s);
	return false;
}

static bool get_int(struct conv *c, const struct mr_ynode *v, const char *key, int64_t *out)
{
	const char *s = scalar(c, v, key);
	if (!s)
		return false;
	uint64_t u;
	if (v->quoted) {
		ERR(c, v, "'%s' must be a number, not the quoted string '%s'", key, s);
		return false;
	}
	if (!mr_parse_u64(s, strlen(s), MAX_INT, &u) || (s[0] == '0' && s[1])) {
		if (s[0] == '-')
			ERR(c, v, "'%s' must not be negative: '%s'", key, s);
		else
			ERR(c, v, "'%s' must be a whole number from 0 to %d (no sign, no leading zero), not '%s'", key,
			    MAX_INT, s);
		return false;
	}
	*out = (int64_t)u;
	return true;
}

int mr_parse_size(const char *s, int64_t *out)
{
	size_t n = strspn(s, "0123456789");
	uint64_t v;
	if (n == 0 || !mr_parse_u64(s, n, UINT64_MAX / 2, &v))
		return 0;
	const char *suf = s + n;
	unsigned shift = 0;
	if (*suf) {
		switch (*suf) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		case 'T': case 't': shift = 40; break;
		default: return 0;
		}
		suf++;
		if (*suf == 'i' || *suf == 'I')
			suf++;
		if (*suf == 'B' || *suf == 'b')
			suf++;
		else if (suf[-1] == 'i' || suf[-1] == 'I')
			return 0;
		if (*suf)
			return 0;
	}
	const uint64_t pib = UINT64_C(1) << 50;
	if (v > (pib >> shift))
		return 0;
	*out = (int64_t)(v << shift);
	return 1;
}

static bool get_size(struct conv *c, const struct mr_ynode *v, const char *key, int64_t *out)
{
	const char *s = scalar(c, v, key);
	if (!s)
		return false;
	if (!mr_parse_size(s, out)) {
		if (s[0] == '-')
			ERR(c, v, "'%s' must not be negative: '%s'", key, s);
		else
			ERR(c, v, "'%s' must be a size such as 500M, 2G or a number of bytes (at most 1P), not '%s'",
			    key, s);
		return false;
	}
	return true;
}

static const char *keep(struct conv *c, const char *s)
{
	return mr_model_str(c->m, s, strlen(s));
}

/* ---- mappings with known fields ------------------------------------------------------ */

struct field;
typedef void (*field_fn)(struct conv *c, const struct field *f, void *obj, const struct mr_ynode *key,
			 const struct mr_ynode *val);

struct field {
	const char *name;
	field_fn fn;
	bool required;
	size_t off; /* for the generic handlers: where in obj the value goes */
};

/* A field handler: f is its table entry, k its key node, v its value node. */
#define FIELD_FN(name)                                                                                 \
	static void name(struct conv *c, const struct field *f __attribute__((unused)), void *obj,     \
			 const struct mr_ynode *k __attribute__((unused)), const struct mr_ynode *v)

#define MAX_FIELDS 16

/*
 * Walk a mapping against its field table.  `what` names the object in messages
 * ("mailbox 'info@example.com'").  Null values are skipped (absent), except that a
 * required field given as null is reported missing.
 */
static void walk_fields(struct conv *c, const struct mr_ynode *map, const struct field *fields, void *obj,
			const char *what)
{
	const char *names[MAX_FIELDS + 1];
	const struct mr_ynode *seen[MAX_FIELDS] = { 0 };
	size_t nf = 0;
	for (; fields[nf].name; nf++)
		names[nf] = fields[nf].name;
	names[nf] = NULL;

	for (size_t i = 0; i < map->len; i++) {
		const struct mr_ynode *k = map->u.items[2 * i], *v = map->u.items[2 * i + 1];
		if (k->kind != MR_Y_SCALAR) {
			ERR(c, k, "a key in %s must be a plain name, not %s", what, mr_ykind_name(k));
			continue;
		}
		size_t f = 0;
		while (f < nf && strcmp(fields[f].name, k->u.str) != 0)
			f++;
		if (f == nf) {
			const char *close = mr_closest(k->u.str, names);
			if (close)
				ERR(c, k, "unknown field '%s' in %s (did you mean '%s'?)", k->u.str, what, close);
			else
				ERR(c, k, "unknown field '%s' in %s", k->u.str, what);
			continue;
		}
		if (seen[f]) {
			struct mr_buf at = MR_BUF_INIT;
			mr_loc_format(loc_of(c, seen[f]), &at);
			ERR(c, k, "duplicate key '%s' in %s (first at %s)", k->u.str, what, at.ptr);
			mr_buf_release(&at);
			continue;
		}
		seen[f] = k;
		if (mr_ynode_is_null(v)) {
			if (fields[f].required)
				ERR(c, v, "'%s' of %s has no value", fields[f].name, what);
			continue;
		}
		fields[f].fn(c, &fields[f], obj, k, v);
	}
	for (size_t f = 0; f < nf; f++)
		if (fields[f].required && !seen[f])
			ERR(c, map, "%s has no '%s'", what, fields[f].name);
}

/* A mapping whose keys are names (users, domains, mailboxes): check the shape only. */
static bool name_map(struct conv *c, const struct mr_ynode *v, const char *key, const char *of_what)
{
	if (v->kind != MR_Y_MAP) {
		ERR(c, v, "'%s' must be a mapping of %s, not %s", key, of_what, mr_ykind_name(v));
		return false;
	}
	return true;
}

static bool name_key(struct conv *c, const struct mr_ynode *k, const char *what)
{
	if (k->kind != MR_Y_SCALAR || strlen(k->u.str) != k->len) {
		ERR(c, k, "a %s name must be a plain string, not %s", what, mr_ykind_name(k));
		return false;
	}
	return true;
}

static void dup_error(struct conv *c, const struct mr_ynode *k, const char *what, const char *name,
		      struct mr_loc first)
{
	struct mr_buf at = MR_BUF_INIT;
	mr_loc_format(first, &at);
	ERR(c, k, "%s '%s' is declared twice (first at %s)", what, name, at.ptr);
	mr_buf_release(&at);
}

/* The handlers for plain values: the table entry says where the value goes. */
FIELD_FN(f_bool)
{
	get_bool(c, v, f->name, (bool *)((char *)obj + f->off));
}

/* ---- server -------------------------------------------------------------------------- */

FIELD_FN(f_server_scheme)
{
	struct mr_server *s = obj;
	const char *str = scalar(c, v, "password_scheme");
	if (!str)
		return;
	for (int i = MR_SCHEME_SHA512_CRYPT; i <= MR_SCHEME_CRAM_MD5; i++)
		if (strcasecmp(str, mr_scheme_name((enum mr_scheme)i)) == 0) {
			s->password_scheme = (enum mr_scheme)i;
			return;
		}
	ERR(c, v, "unknown password_scheme '%s' (use SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT or CRAM-MD5)", str);
}

FIELD_FN(f_server_rate)
{
	struct mr_server *s = obj;
	if (get_int(c, v, "rate_per_hour", &s->rate_per_hour))
		s->rate_loc = loc_of(c, v);
}

FIELD_FN(f_server_dmarc)
{
	struct mr_server *s = obj;
	const char *str = scalar(c, v, "dmarc");
	if (!str)
		return;
	s->dmarc = keep(c, str);
	s->dmarc_loc = loc_of(c, v);
}

/* A host name of the fleet: a DNS host name in lower case (one label, as `hostname -s`
 * prints, or more).  NULL after an error at v. */
static const char *host_name(struct conv *c, const struct mr_ynode *v, const char *key)
{
	const char *s = scalar(c, v, key);
	if (!s)
		return NULL;
	const char *why = mr_check_hostname(s);
	if (why) {
		ERR(c, v, "invalid host name '%s' in '%s': %s", s, key, why);
		return NULL;
	}
	return keep(c, s);
}

FIELD_FN(f_server_hosts)
{
	struct mr_server *s = obj;
	s->hosts_loc = loc_of(c, k);
	if (v->kind != MR_Y_SEQ) {
		ERR(c, v, "'hosts' must be a list of host names ([mx1, mx2]), not %s", mr_ykind_name(v));
		return;
	}
	if (v->len == 0) {
		ERR(c, v, "'hosts' is empty: name the fleet's hosts ([mx1, mx2]) or leave the key out");
		return;
	}
	s->hosts.v = mr_model_items(c->m, v->len);
	s->hosts.n = 0;
	for (size_t i = 0; i < v->len; i++) {
		const struct mr_ynode *it = v->u.items[i];
		const char *h = host_name(c, it, "hosts");
		if (!h)
			continue;
		size_t j = 0;
		while (j < s->hosts.n && strcmp(s->hosts.v[j].s, h) != 0)
			j++;
		if (j < s->hosts.n) {
			struct mr_buf at = MR_BUF_INIT;
			mr_loc_format(s->hosts.v[j].loc, &at);
			ERR(c, it, "host '%s' is listed twice in 'hosts' (first at %s)", h, at.ptr);
			mr_buf_release(&at);
			continue;
		}
		s->hosts.v[s->hosts.n++] = (struct mr_item){ h, loc_of(c, it) };
	}
}

/* "7d", "36h", "90m", "600s" or "600" (seconds): how long a replaced DKIM record stays listed */
FIELD_FN(f_server_dkim_grace)
{
	struct mr_server *s = obj;
	const char *str = scalar(c, v, "dkim_grace");
	if (!str)
		return;
	size_t n = strspn(str, "0123456789");
	uint64_t u = 0;
	int64_t unit = 1;
	const char *suf = str + n;
	if (*suf == 'd')
		unit = 86400;
	else if (*suf == 'h')
		unit = 3600;
	else if (*suf == 'm')
		unit = 60;
	else if (*suf == 's')
		unit = 1;
	else if (*suf)
		unit = 0;
	if (n == 0 || n > 9 || unit == 0 || (*suf && suf[1]) || (str[0] == '0' && n > 1) ||
	    !mr_parse_u64(str, n, 999999999, &u) || (int64_t)u * unit > MR_DKIM_GRACE_MAX) {
		ERR(c, v, "'dkim_grace' must be a duration of at most 366 days: a whole number with d, h, m or s "
			  "(e.g. 7d, 36h), not '%s'", str);
		return;
	}
	s->dkim_grace = (int64_t)u * unit;
	s->dkim_grace_loc = loc_of(c, v);
}

FIELD_FN(f_server_ssl); /* below, with a domain's ssl */

static const struct field server_fields[] = {
	{ "password_scheme", f_server_scheme, false },
	{ "rate_per_hour", f_server_rate, false },
	{ "dmarc", f_server_dmarc, false },
	{ "hosts", f_server_hosts, false },
	{ "dkim_grace", f_server_dkim_grace, false },
	{ "ssl", f_server_ssl, false },
	{ NULL, NULL, false },
};

/* ---- users --------------------------------------------------------------------------- */

FIELD_FN(f_user_role)
{
	struct mr_user *u = obj;
	const char *s = scalar(c, v, "role");
	if (!s)
		return;
	for (int i = MR_ROLE_USER; i <= MR_ROLE_ADMIN; i++)
		if (strcmp(s, mr_role_name((enum mr_role)i)) == 0) {
			u->role = (enum mr_role)i;
			u->role_loc = loc_of(c, v);
			return;
		}
	ERR(c, v, "unknown role '%s' (use user, reseller or admin)", s);
}

FIELD_FN(f_user_reseller)
{
	struct mr_user *u = obj;
	const char *s = scalar(c, v, "reseller");
	if (!s)
		return;
	u->reseller = keep(c, s);
	u->reseller_loc = loc_of(c, v);
}

FIELD_FN(f_user_account)
{
	struct mr_user *u = obj;
	const char *s = scalar(c, v, "account");
	if (!s)
		return;
	if (strcmp(s, "existing") == 0)
		u->account = MR_ACCOUNT_EXISTING;
	else if (strcmp(s, "create") == 0)
		u->account = MR_ACCOUNT_CREATE;
	else {
		ERR(c, v, "unknown account '%s' (use existing or create)", s);
		return;
	}
	u->account_loc = loc_of(c, v);
}

/* `disabled` of a user, a domain or a mailbox: where it was written, for the --scope rules */
FIELD_FN(f_user_disabled)
{
	struct mr_user *u = obj;
	if (get_bool(c, v, "disabled", &u->disabled))
		u->disabled_loc = loc_of(c, v);
}

FIELD_FN(f_dom_disabled)
{
	struct mr_domain *d = obj;
	if (get_bool(c, v, "disabled", &d->disabled))
		d->disabled_loc = loc_of(c, v);
}

FIELD_FN(f_mb_disabled)
{
	struct mr_mailbox *mb = obj;
	if (get_bool(c, v, "disabled", &mb->disabled))
		mr_mailbox_cold(c->m, mb)->disabled_loc = loc_of(c, v);
}

FIELD_FN(f_limit_domains)
{
	struct mr_limits *l = obj;
	if (get_int(c, v, "mail_domains", &l->mail_domains))
		l->mail_domains_loc = loc_of(c, v);
}

FIELD_FN(f_limit_mailboxes)
{
	struct mr_limits *l = obj;
	if (get_int(c, v, "mailboxes", &l->mailboxes))
		l->mailboxes_loc = loc_of(c, v);
}

FIELD_FN(f_limit_rate)
{
	struct mr_limits *l = obj;
	if (get_int(c, v, "rate_per_hour", &l->rate_per_hour))
		l->rate_loc = loc_of(c, v);
}

static const struct field limit_fields[] = {
	{ "mail_domains", f_limit_domains, false },
	{ "mailboxes", f_limit_mailboxes, false },
	{ "rate_per_hour", f_limit_rate, false },
	{ NULL, NULL, false },
};

FIELD_FN(f_user_limits)
{
	struct mr_user *u = obj;
	if (v->kind != MR_Y_MAP) {
		ERR(c, v, "'limits' must be a mapping (mail_domains, mailboxes, rate_per_hour), not %s",
		    mr_ykind_name(v));
		return;
	}
	char what[64];
	snprintf(what, sizeof(what), "the limits of user '%s'", u->name);
	walk_fields(c, v, limit_fields, &u->limits, what);
}

static const struct field user_fields[] = {
	{ "role", f_user_role, false },
	{ "reseller", f_user_reseller, false },
	{ "account", f_user_account, false },
	{ "disabled", f_user_disabled, false },
	{ "limits", f_user_limits, false },
	{ NULL, NULL, false },
};

static void load_users(struct conv *c, const struct mr_ynode *v)
{
	if (!name_map(c, v, "users", "user names"))
		return;
	for (size_t i = 0; i < v->len; i++) {
		const struct mr_ynode *k = v->u.items[2 * i], *body = v->u.items[2 * i + 1];
		if (!name_key(c, k, "user"))
			continue;
		const char *why = mr_check_user_name(k->u.str);
		if (why)
			ERR(c, k, "invalid user name '%s': %s", k->u.str, why);
		else if (strcmp(k->u.str, MR_USER_RESERVED) == 0)
			ERR(c, k, "user name '%s' is reserved: in the registry it names a run without --scope",
			    k->u.str);
		struct mr_user *first;
		struct mr_user *u = mr_model_add_user(c->m, k->u.str, loc_of(c, k), &first);
		if (!u) {
			dup_error(c, k, "user", k->u.str, first->loc);
			continue;
		}
		if (mr_ynode_is_null(body))
			continue;
		if (body->kind != MR_Y_MAP) {
			ERR(c, body, "user '%s' must be a mapping of its fields, not %s", u->name, mr_ykind_name(body));
			continue;
		}
		char what[64];
		snprintf(what, sizeof(what), "user '%s'", u->name);
		walk_fields(c, body, user_fields, u, what);
	}
}

/* ---- mailboxes ----------------------------------------------------------------------- */

static const char *mailbox_what(struct mr_mailbox *mb, char *buf, size_t n)
{
	snprintf(buf, n, "mailbox '%s'", mb->address);
	return buf;
}

/* a mailbox's password: its kind and value, the file's directory in its cold part */
FIELD_FN(f_pw_hash)
{
	struct mr_mailbox *mb = obj;
	if (v->kind != MR_Y_SCALAR) {
		ERR(c, v, "a password hash must be a string in quotes (hash: \"{SCHEME}...\"), not %s",
		    mr_ykind_name(v));
		return;
	}
	if (strlen(v->u.str) != v->len) {
		ERR(c, v, "a password hash contains a NUL character");
		return;
	}
	mb->password_kind = MR_PASSWORD_HASH;
	mb->password.value = mr_model_mailbox_hash(c->m, mb->address, v->u.str, v->len);
	mb->password.loc = loc_of(c, v);
}

FIELD_FN(f_pw_file)
{
	struct mr_mailbox *mb = obj;
	const char *s = scalar(c, v, "file");
	if (!s)
		return;
	mb->password_kind = MR_PASSWORD_FILE;
	mb->password.value = keep(c, s);
	mr_mailbox_cold(c->m, mb)->password_dir = c->dir;
	mb->password.loc = loc_of(c, v);
}

FIELD_FN(f_pw_env)
{
	struct mr_mailbox *mb = obj;
	const char *s = scalar(c, v, "env");
	if (!s)
		return;
	const char *why = mr_check_env_name(s);
	if (why) {
		ERR(c, v, "invalid environment variable name '%s': %s", s, why);
		return;
	}
	mb->password_kind = MR_PASSWORD_ENV;
	mb->password.value = keep(c, s);
	mb->password.loc = loc_of(c, v);
}

static const struct field password_fields[] = {
	{ "hash", f_pw_hash, false },
	{ "file", f_pw_file, false },
	{ "env", f_pw_env, false },
	{ NULL, NULL, false },
};

FIELD_FN(f_mb_password)
{
	struct mr_mailbox *mb = obj;
	char what[MR_LOCAL_PART_MAX + MR_DOMAIN_MAX + 32];
	snprintf(what, sizeof(what), "the password of '%s'", mb->address);
	if (v->kind != MR_Y_MAP) {
		/* never echo the value: it may be a clear password */
		ERR(c, v, "'password' must be one of {hash: ...}, {file: PATH} or {env: NAME}, not %s",
		    v->kind == MR_Y_SCALAR ? "a plain value" : mr_ykind_name(v));
		mb->password.loc = loc_of(c, v);
		mb->password_kind = MR_PASSWORD_NONE;
		return;
	}
	size_t given = 0;
	const struct mr_ynode *second = NULL;
	for (size_t i = 0; i < v->len; i++) {
		const struct mr_ynode *pk = v->u.items[2 * i];
		if (pk->kind == MR_Y_SCALAR &&
		    (!strcmp(pk->u.str, "hash") || !strcmp(pk->u.str, "file") || !strcmp(pk->u.str, "env"))) {
			if (++given == 2)
				second = pk;
		}
	}
	walk_fields(c, v, password_fields, mb, what);
	if (given == 0)
		ERR(c, v, "%s needs one of 'hash', 'file' or 'env'", what);
	else if (second) {
		ERR(c, second, "%s has more than one of 'hash', 'file' and 'env': give exactly one", what);
		mb->password_kind = MR_PASSWORD_NONE; /* which one was meant is unknown: check neither */
	}
	if (!mb->password.loc.file)
		mb->password.loc = loc_of(c, v);
}

static void name_list(struct conv *c, const struct mr_ynode *v, const char *key, struct mr_items *out,
		      bool addresses)
{
	if (v->kind == MR_Y_SCALAR) {
		ERR(c, v, "'%s' must be a list ([a, b]), not a single value", key);
		return;
	}
	if (v->kind != MR_Y_SEQ) {
		ERR(c, v, "'%s' must be a list, not %s", key, mr_ykind_name(v));
		return;
	}
	out->v = mr_model_items(c->m, v->len);
	out->n = 0;
	for (size_t i = 0; i < v->len; i++) {
		const struct mr_ynode *it = v->u.items[i];
		const char *s = scalar(c, it, key);
		if (!s)
			continue;
		const char *why = addresses ? mr_check_address(s) : mr_check_mailbox_name(s);
		if (why) {
			if (addresses)
				ERR(c, it, "invalid address '%s' in '%s': %s", s, key, why);
			else
				ERR(c, it, "invalid alias '%s': %s", s, why);
			continue;
		}
		char *low = (char *)keep(c, s);
		mr_ascii_lower(low);
		out->v[out->n++] = (struct mr_item){ low, loc_of(c, it) };
	}
}

FIELD_FN(f_mb_aliases)
{
	name_list(c, v, "aliases", &((struct mr_mailbox *)obj)->aliases, false);
}

FIELD_FN(f_mb_copy_to)
{
	name_list(c, v, "copy_to", &((struct mr_mailbox *)obj)->copy_to, true);
}

FIELD_FN(f_mb_keep_copy)
{
	struct mr_mailbox *mb = obj;
	if (get_bool(c, v, "keep_copy", &mb->keep_copy))
		mr_mailbox_cold(c->m, mb)->keep_copy_loc = loc_of(c, v);
}

FIELD_FN(f_mb_max_size)
{
	get_size(c, v, "max_size", &((struct mr_mailbox *)obj)->max_size);
}

FIELD_FN(f_mb_rate)
{
	struct mr_mailbox *mb = obj;
	if (get_int(c, v, "rate_per_hour", &mb->rate_per_hour))
		mr_mailbox_cold(c->m, mb)->rate_loc = loc_of(c, v);
}

FIELD_FN(f_mb_note)
{
	struct mr_mailbox *mb = obj;
	const char *s = scalar(c, v, "note");
	if (!s)
		return;
	const char *why = mr_check_text(s, MR_NOTE_MAX);
	if (why) {
		ERR(c, v, "'note' %s (at most %d bytes of text, no control characters)", why, MR_NOTE_MAX);
		return;
	}
	mr_mailbox_cold(c->m, mb)->note = keep(c, s);
}

static const struct field mailbox_fields[] = {
	{ "password", f_mb_password, true },
	{ "aliases", f_mb_aliases, false },
	{ "copy_to", f_mb_copy_to, false },
	{ "keep_copy", f_mb_keep_copy, false },
	{ "max_size", f_mb_max_size, false },
	{ "rate_per_hour", f_mb_rate, false },
	{ "greylisting", f_bool, false, offsetof(struct mr_mailbox, greylisting) },
	{ "spamassassin", f_bool, false, offsetof(struct mr_mailbox, spamassassin) },
	{ "disabled", f_mb_disabled, false },
	{ "note", f_mb_note, false },
	{ NULL, NULL, false },
};

FIELD_FN(f_dom_mailboxes)
{
	struct mr_domain *d = obj;
	if (!name_map(c, v, "mailboxes", "mailbox names"))
		return;
	/* the map slots of the addresses a few names ahead are fetched while these are added */
	struct mr_strmap_ahead ahead = MR_STRMAP_AHEAD_INIT;
	size_t next = 0;
	for (size_t i = 0; i < v->len; i++) {
		for (; next < v->len && next < i + MR_STRMAP_AHEAD; next++) {
			const struct mr_ynode *nk = v->u.items[2 * next];
			if (nk->kind == MR_Y_SCALAR)
				mr_domain_mailbox_ahead(c->m, d, nk->u.str, &ahead, next);
		}
		const struct mr_ynode *mk = v->u.items[2 * i], *body = v->u.items[2 * i + 1];
		if (!name_key(c, mk, "mailbox"))
			continue;
		const char *why = mr_check_mailbox_name(mk->u.str);
		if (why)
			ERR(c, mk, "invalid mailbox name '%s': %s", mk->u.str, why);
		struct mr_mailbox *first;
		struct mr_mailbox *mb = mr_domain_add_mailbox_ahead(c->m, d, mk->u.str, loc_of(c, mk), &first, &ahead, i);
		if (!mb) {
			dup_error(c, mk, "mailbox", first->address, first->loc);
			continue;
		}
		char what[MR_LOCAL_PART_MAX + MR_DOMAIN_MAX + 16];
		mailbox_what(mb, what, sizeof(what));
		if (mr_ynode_is_null(body)) {
			ERR(c, mk, "%s has no 'password'", what);
			continue;
		}
		if (body->kind != MR_Y_MAP) {
			ERR(c, body, "%s must be a mapping of its fields, not %s", what, mr_ykind_name(body));
			continue;
		}
		walk_fields(c, body, mailbox_fields, mb, what);
	}
}

/* ---- domains ------------------------------------------------------------------------- */

FIELD_FN(f_dom_owner)
{
	struct mr_domain *d = obj;
	const char *s = scalar(c, v, "owner");
	if (!s)
		return;
	d->owner = keep(c, s);
	d->owner_loc = loc_of(c, v);
}

FIELD_FN(f_dom_host)
{
	struct mr_domain *d = obj;
	d->host_loc = loc_of(c, v); /* written, even when wrong: said here, not as missing */
	if (v->kind == MR_Y_SEQ) {
		ERR(c, v, "'host' of domain '%s' must be one host name: a domain is placed on exactly one host", d->name);
		return;
	}
	const char *h = host_name(c, v, "host");
	if (!h)
		return;
	d->host = h;
}

FIELD_FN(f_dom_ip)
{
	struct mr_domain *d = obj;
	const char *s = scalar(c, v, "ip");
	if (!s)
		return;
	if (strcmp(s, "auto") == 0)
		return;
	const char *why = mr_check_ip(s);
	if (why) {
		ERR(c, v, "'ip' '%s' %s (or 'auto')", s, why);
		return;
	}
	d->ip = keep(c, s);
	d->ip_loc = loc_of(c, v);
}

FIELD_FN(f_act_forward)
{
	struct mr_domain *d = obj;
	const char *s = scalar(c, v, "forward");
	if (!s)
		return;
	const char *why = mr_check_address(s);
	if (why) {
		ERR(c, v, "invalid forward address '%s': %s", s, why);
		return;
	}
	char *low = (char *)keep(c, s);
	mr_ascii_lower(low);
	d->action = MR_ACTION_FORWARD;
	d->action_target = low;
	d->action_loc = loc_of(c, v);
}

FIELD_FN(f_act_redirect)
{
	struct mr_domain *d = obj;
	const char *s = scalar(c, v, "redirect_domain");
	if (!s)
		return;
	if (strchr(s, '@')) {
		ERR(c, v, "redirect_domain takes a domain, not an address: '%s' (use forward: for an address)", s);
		return;
	}
	const char *why = mr_check_domain(s);
	if (why) {
		ERR(c, v, "invalid redirect_domain '%s': %s", s, why);
		return;
	}
	d->action = MR_ACTION_REDIRECT_DOMAIN;
	d->action_target = keep(c, s);
	d->action_loc = loc_of(c, v);
}

static const struct field action_fields[] = {
	{ "forward", f_act_forward, false },
	{ "redirect_domain", f_act_redirect, false },
	{ NULL, NULL, false },
};

FIELD_FN(f_dom_action)
{
	struct mr_domain *d = obj;
	static const char *const words[] = { "reject", "discard", "forward", "redirect_domain", NULL };
	if (v->kind == MR_Y_SCALAR) {
		if (strcmp(v->u.str, "reject") == 0) {
			d->action = MR_ACTION_REJECT;
		} else if (strcmp(v->u.str, "discard") == 0) {
			d->action = MR_ACTION_DISCARD;
		} else if (!strcmp(v->u.str, "forward") || !strcmp(v->u.str, "redirect_domain")) {
			ERR(c, v, "default_action '%s' needs its target: {%s: ...}", v->u.str, v->u.str);
		} else {
			const char *close = mr_closest(v->u.str, words);
			ERR(c, v,
			    "unknown default_action '%s' (use reject, discard, {forward: ADDRESS} or "
			    "{redirect_domain: DOMAIN})%s%s%s",
			    v->u.str, close ? "; did you mean '" : "", close ? close : "", close ? "'?" : "");
		}
		d->action_loc = loc_of(c, v);
		return;
	}
	if (v->kind != MR_Y_MAP) {
		ERR(c, v, "'default_action' must be reject, discard or a mapping, not %s", mr_ykind_name(v));
		return;
	}
	char what[MR_DOMAIN_MAX + 40];
	snprintf(what, sizeof(what), "the default_action of '%s'", d->name);
	walk_fields(c, v, action_fields, d, what);
	if (v->len != 1)
		ERR(c, v, "%s needs exactly one of 'forward' or 'redirect_domain'", what);
}

FIELD_FN(f_dkim_selector)
{
	struct mr_dkim *dk = obj;
	const char *s = scalar(c, v, "selector");
	if (!s)
		return;
	const char *why = mr_check_selector(s);
	if (why) {
		ERR(c, v, "invalid DKIM selector '%s': %s", s, why);
		return;
	}
	dk->selector = keep(c, s);
	dk->selector_loc = loc_of(c, v);
}

FIELD_FN(f_dkim_bits)
{
	struct mr_dkim *dk = obj;
	const char *s = scalar(c, v, "bits");
	if (!s)
		return;
	if (strcmp(s, "1024") == 0)
		dk->bits = 1024;
	else if (strcmp(s, "2048") == 0)
		dk->bits = 2048;
	else
		ERR(c, v, "DKIM 'bits' must be 1024 or 2048, not '%s'", s);
}

static const struct field dkim_fields[] = {
	{ "selector", f_dkim_selector, false },
	{ "bits", f_dkim_bits, false },
	{ NULL, NULL, false },
};

FIELD_FN(f_dom_dkim)
{
	struct mr_domain *d = obj;
	d->dkim.loc = loc_of(c, v);
	d->dkim.selector = MR_DKIM_SELECTOR_DEFAULT;
	d->dkim.bits = MR_DKIM_BITS_DEFAULT;
	if (v->kind == MR_Y_SCALAR) {
		get_bool(c, v, "dkim", &d->dkim.enabled);
		return;
	}
	if (v->kind != MR_Y_MAP) {
		ERR(c, v, "'dkim' must be true, false or {selector: NAME, bits: 1024|2048}, not %s", mr_ykind_name(v));
		return;
	}
	d->dkim.enabled = true;
	char what[MR_DOMAIN_MAX + 32];
	snprintf(what, sizeof(what), "the dkim of '%s'", d->name);
	walk_fields(c, v, dkim_fields, &d->dkim, what);
}

FIELD_FN(f_cert_cert)
{
	struct mr_ssl *s = obj;
	const char *p = scalar(c, v, "cert");
	if (p) {
		s->cert_path = keep(c, p);
		s->cert_loc = loc_of(c, v);
	}
}

FIELD_FN(f_cert_key)
{
	struct mr_ssl *s = obj;
	const char *p = scalar(c, v, "key");
	if (p) {
		s->key_path = keep(c, p);
		s->key_loc = loc_of(c, v);
	}
}

static const struct field cert_fields[] = {
	{ "cert", f_cert_cert, true },
	{ "key", f_cert_key, true },
	{ NULL, NULL, false },
};

FIELD_FN(f_ssl_alias)
{
	struct mr_ssl *s = obj;
	const char *a = scalar(c, v, "alias");
	if (!a)
		return;
	const char *why = mr_check_domain(a);
	if (why) {
		ERR(c, v, "invalid ssl alias '%s': %s", a, why);
		return;
	}
	s->alias = keep(c, a);
	s->alias_loc = loc_of(c, v);
}

FIELD_FN(f_ssl_cert)
{
	struct mr_ssl *s = obj;
	if (v->kind == MR_Y_SCALAR) {
		if (strcmp(v->u.str, "letsencrypt") == 0) {
			/* the paths need the alias: set once the whole mapping is read (f_dom_ssl) */
			s->cert = MR_CERT_FILES;
			s->letsencrypt = true;
			s->cert_loc = s->key_loc = loc_of(c, v);
		} else if (strcmp(v->u.str, "self-signed") != 0) {
			ERR(c, v, "'certificate' must be self-signed, letsencrypt or {cert: PATH, key: PATH}, not '%s'",
			    v->u.str);
		}
		return;
	}
	if (v->kind != MR_Y_MAP) {
		ERR(c, v, "'certificate' must be self-signed, letsencrypt or {cert: PATH, key: PATH}, not %s",
		    mr_ykind_name(v));
		return;
	}
	s->cert = MR_CERT_FILES;
	s->dir = c->dir;
	walk_fields(c, v, cert_fields, s, "the ssl certificate");
}

FIELD_FN(f_ssl_email)
{
	struct mr_ssl *s = obj;
	const char *e = scalar(c, v, "email");
	if (!e)
		return;
	const char *why = mr_check_address(e);
	if (why) {
		ERR(c, v, "invalid ssl email '%s': %s", e, why);
		return;
	}
	char *low = (char *)keep(c, e);
	mr_ascii_lower(low);
	s->email = low;
	s->email_loc = loc_of(c, v);
}

static const struct field ssl_fields[] = {
	{ "alias", f_ssl_alias, false },
	{ "certificate", f_ssl_cert, false },
	{ "email", f_ssl_email, false },
	{ NULL, NULL, false },
};

/* The seed's default alias: "mail.DOMAIN", at the place of the 'ssl' value that implies it. */
static void default_alias(struct conv *c, struct mr_domain *d, const struct mr_ynode *v)
{
	char a[MR_DOMAIN_MAX + 8];
	snprintf(a, sizeof(a), "mail.%s", d->name);
	const char *why = mr_check_domain(a);
	if (why) {
		ERR(c, v, "the default ssl alias 'mail.%s' is not a valid host name (%s): give 'alias'", d->name, why);
		return;
	}
	d->ssl.alias = keep(c, a);
	d->ssl.alias_loc = loc_of(c, v);
}

static void letsencrypt_paths(struct conv *c, struct mr_ssl *s);

FIELD_FN(f_dom_ssl)
{
	struct mr_domain *d = obj;
	d->ssl.loc = loc_of(c, v);
	if (v->kind == MR_Y_SCALAR) {
		bool on = false;
		if (get_bool(c, v, "ssl", &on) && on) {
			/* ssl: true = a self-signed certificate for mail.DOMAIN */
			d->ssl.enabled = true;
			d->ssl.cert = MR_CERT_SELF_SIGNED;
			default_alias(c, d, v);
		}
		return;
	}
	if (v->kind != MR_Y_MAP) {
		ERR(c, v, "'ssl' must be true, false or {alias: ..., certificate: ..., email: ...}, not %s",
		    mr_ykind_name(v));
		return;
	}
	d->ssl.enabled = true;
	d->ssl.cert = MR_CERT_SELF_SIGNED;
	char what[MR_DOMAIN_MAX + 32];
	snprintf(what, sizeof(what), "the ssl of '%s'", d->name);
	walk_fields(c, v, ssl_fields, &d->ssl, what);
	bool has_alias = false; /* a bad alias is an error, not a reason for the default */
	for (size_t i = 0; i < v->len; i++) {
		const struct mr_ynode *name = v->u.items[2 * i];
		has_alias |= name && name->kind == MR_Y_SCALAR && strcmp(name->u.str, "alias") == 0;
	}
	if (!has_alias)
		default_alias(c, d, v);
	letsencrypt_paths(c, &d->ssl);
}

/* `certificate: letsencrypt`: certbot's pair for the alias, once the whole mapping is read */
static void letsencrypt_paths(struct conv *c, struct mr_ssl *s)
{
	if (!s->letsencrypt || !s->alias)
		return;
	char p[MR_DOMAIN_MAX + 64];
	snprintf(p, sizeof(p), MR_LETSENCRYPT_DIR "/live/%s/fullchain.pem", s->alias);
	s->cert_path = keep(c, p);
	snprintf(p, sizeof(p), MR_LETSENCRYPT_DIR "/live/%s/privkey.pem", s->alias);
	s->key_path = keep(c, p);
}

/*
 * server.ssl: the server's default certificate (Exim's ssl/exim.crt, Dovecot's ssl_cert), in
 * a domain's forms -- but its name has no default: a server has no domain to make one from,
 * and the machine's host name would make the same file mean another thing on another host
 * (a fleet, a CI run).  So `true` is refused, and the mapping must say 'alias'.
 */
static const struct field server_ssl_fields[] = {
	{ "alias", f_ssl_alias, true },
	{ "certificate", f_ssl_cert, false },
	{ "email", f_ssl_email, false },
	{ NULL, NULL, false },
};

FIELD_FN(f_server_ssl)
{
	struct mr_ssl *s = &((struct mr_server *)obj)->ssl;
	s->loc = loc_of(c, v);
	if (v->kind == MR_Y_SCALAR) {
		bool on = false;
		if (get_bool(c, v, "ssl", &on) && on)
			ERR(c, v, "'ssl: true' gives the server's certificate no name: write {alias: NAME}, the host name "
				  "mail clients connect to (such as mail.example.com)");
		return;
	}
	if (v->kind != MR_Y_MAP) {
		ERR(c, v, "the server's 'ssl' must be false or {alias: NAME, certificate: ..., email: ...}, not %s",
		    mr_ykind_name(v));
		return;
	}
	s->enabled = true;
	s->cert = MR_CERT_SELF_SIGNED;
	walk_fields(c, v, server_ssl_fields, s, "the server's ssl");
	letsencrypt_paths(c, s);
}

static const struct field domain_fields[] = {
	{ "owner", f_dom_owner, true },
	{ "host", f_dom_host, false },
	{ "ip", f_dom_ip, false },
	{ "default_action", f_dom_action, false },
	{ "greylisting", f_bool, false, offsetof(struct mr_domain, greylisting) },
	{ "spamassassin", f_bool, false, offsetof(struct mr_domain, spamassassin) },
	{ "antivirus", f_bool, false, offsetof(struct mr_domain, antivirus) },
	{ "dkim", f_dom_dkim, false },
	{ "dmarc", f_bool, false, offsetof(struct mr_domain, dmarc) },
	{ "ssl", f_dom_ssl, false },
	{ "disabled", f_dom_disabled, false },
	{ "mailboxes", f_dom_mailboxes, false },
	{ NULL, NULL, false },
};

/* The mailboxes a 'domains' mapping declares, counted so that the model's maps are sized once. */
static size_t count_mailboxes(const struct mr_ynode *v)
{
	size_t n = 0;
	for (size_t i = 0; i < v->len; i++) {
		const struct mr_ynode *body = v->u.items[2 * i + 1];
		if (!body || body->kind != MR_Y_MAP)
			continue;
		for (size_t k = 0; k < body->len; k++) {
			const struct mr_ynode *key = body->u.items[2 * k], *val = body->u.items[2 * k + 1];
			if (key && key->kind == MR_Y_SCALAR && strcmp(key->u.str, "mailboxes") == 0 && val &&
			    val->kind == MR_Y_MAP)
				n += val->len;
		}
	}
	return n;
}

/* One entry of 'domains': its name k and its fields. */
static void load_domain(struct conv *c, const struct mr_ynode *k, const struct mr_ynode *body)
{
	{
		if (!name_key(c, k, "domain"))
			return;
		const char *why = mr_check_domain(k->u.str);
		if (why) {
			char *ascii = NULL;
			if (strstr(why, "punycode") && (ascii = mr_domain_to_ascii(k->u.str)) != NULL)
				ERR(c, k, "invalid domain name '%s': not ASCII; write it as '%s'", k->u.str, ascii);
			else if (!strcmp(why, "must be lower case") && (ascii = xstrdup(k->u.str)) != NULL) {
				mr_ascii_lower(ascii);
				ERR(c, k, "invalid domain name '%s': must be lower case ('%s')", k->u.str, ascii);
			} else
				ERR(c, k, "invalid domain name '%s': %s", k->u.str, why);
			free(ascii);
		}
		struct mr_domain *first;
		struct mr_domain *d = mr_model_add_domain(c->m, k->u.str, loc_of(c, k), &first);
		if (!d) {
			dup_error(c, k, "domain", k->u.str, first->loc);
			return;
		}
		char what[MR_DOMAIN_MAX + 16];
		snprintf(what, sizeof(what), "domain '%s'", d->name);
		if (mr_ynode_is_null(body)) {
			ERR(c, k, "%s has no 'owner'", what);
			return;
		}
		if (body->kind != MR_Y_MAP) {
			ERR(c, body, "%s must be a mapping of its fields, not %s", what, mr_ykind_name(body));
			return;
		}
		walk_fields(c, body, domain_fields, d, what);
	}
}

/* The entries of 'domains' not already converted while the file was read (MR_Y_TAKEN). */
static void load_domains(struct conv *c, const struct mr_ynode *v)
{
	if (!name_map(c, v, "domains", "domain names"))
		return;
	size_t left = 0;
	for (size_t i = 0; i < v->len; i++)
		left += v->u.items[2 * i + 1]->kind != MR_Y_TAKEN;
	if (left == 0)
		return;
	mr_strmap_reserve(&c->m->domain_map, c->m->domain_map.count + left);
	mr_strmap_reserve(&c->m->mailbox_map, c->m->mailbox_map.count + count_mailboxes(v));
	for (size_t i = 0; i < v->len; i++)
		if (v->u.items[2 * i + 1]->kind != MR_Y_TAKEN)
			load_domain(c, v->u.items[2 * i], v->u.items[2 * i + 1]);
}

/*
 * A big file is converted while it is read: each entry of 'domains' as soon as its value is
 * complete (ytree.h, mr_ydoc_parse_stream), so the file's tree never exists whole.  Only
 * when the result is the same as converting the whole tree afterwards: the root has already
 * said 'version: 1' (another version means nothing else is read) and this is its first
 * 'domains' (a second is reported as a duplicate key, not read).  What a domain's conversion
 * reads besides its own subtree (the model's maps) does not depend on 'server' or 'users'.
 */
static bool stream_want(void *ctx, const struct mr_ynode *const *pairs, size_t npairs, const struct mr_ynode *key)
{
	(void)ctx;
	if (key->kind != MR_Y_SCALAR || strcmp(key->u.str, "domains") != 0)
		return false;
	const struct mr_ynode *version = NULL;
	for (size_t i = 0; i < npairs; i++) {
		const struct mr_ynode *k = pairs[2 * i], *v = pairs[2 * i + 1];
		if (k->kind != MR_Y_SCALAR)
			continue;
		if (strcmp(k->u.str, "domains") == 0)
			return false;
		if (!version && strcmp(k->u.str, "version") == 0) /* the first decides, as in check_version() */
			version = v;
	}
	return version && version->kind == MR_Y_SCALAR && strcmp(version->u.str, "1") == 0 && !version->quoted;
}

static void stream_entry(void *ctx, const struct mr_ynode *key, const struct mr_ynode *value)
{
	load_domain(ctx, key, value);
}

/* ---- the top level ------------------------------------------------------------------- */

FIELD_FN(f_top_version)
{
	(void)c, (void)obj, (void)v; /* checked before the walk */
}

FIELD_FN(f_top_server)
{
	(void)obj;
	struct mr_server *s = &c->m->server;
	if (s->declared) {
		struct mr_buf at = MR_BUF_INIT;
		mr_loc_format(s->loc, &at);
		ERR(c, k, "'server' is declared twice (first at %s): keep it in one file", at.ptr);
		mr_buf_release(&at);
		return;
	}
	s->declared = true;
	s->loc = loc_of(c, k);
	if (v->kind != MR_Y_MAP) {
		ERR(c, v, "'server' must be a mapping, not %s", mr_ykind_name(v));
		return;
	}
	walk_fields(c, v, server_fields, s, "server");
}

FIELD_FN(f_top_users)
{
	(void)obj;
	load_users(c, v);
}

FIELD_FN(f_top_domains)
{
	(void)obj;
	load_domains(c, v);
}

static const struct field top_fields[] = {
	{ "version", f_top_version, false },
	{ "server", f_top_server, false },
	{ "users", f_top_users, false },
	{ "domains", f_top_domains, false },
	{ NULL, NULL, false },
};

/* Check `version: 1` first: another version is another format, so nothing else is read. */
static bool check_version(struct conv *c, const struct mr_ynode *root)
{
	for (size_t i = 0; i < root->len; i++) {
		const struct mr_ynode *k = root->u.items[2 * i], *v = root->u.items[2 * i + 1];
		if (k->kind != MR_Y_SCALAR || strcmp(k->u.str, "version") != 0)
			continue;
		if (v->kind == MR_Y_SCALAR && strcmp(v->u.str, "1") == 0 && !v->quoted)
			return true;
		if (v->kind == MR_Y_SCALAR)
			ERR(c, v, "unsupported version '%s': this mailrecon reads version 1", v->u.str);
		else
			ERR(c, v, "'version' must be 1, not %s", mr_ykind_name(v));
		return false;
	}
	ERR(c, root, "missing 'version: 1' (the format version) at the top level");
	return true; /* the rest is still checked */
}

/*
 * Turn one parsed document into model objects (their locations name doc->file_id).
 * held: the directory the file was read from, held open (a --scope run; taken over), or NULL.
 */
/* Occurrences of word in data, up to max. */
static size_t count_word(const char *data, size_t len, const char *word, size_t max)
{
	size_t n = 0, wl = strlen(word);
	const char *p = data, *end = data + len;
	while (n < max && (p = memmem(p, (size_t)(end - p), word, wl)) != NULL) {
		n++;
		p += wl;
	}
	return n;
}

static void conv_init(struct conv *c, struct mr_model *m, struct mr_ydoc *doc, const char *file,
		      struct mr_root *held, struct mr_diags *diags)
{
	/* a held directory is shown as reached (absolute, from "/"), so a message names it */
	char *dir = held ? xstrdup(mr_root_dir(held)) : mr_path_dirname(file);
	*c = (struct conv){ m, doc, diags, mr_model_srcdir(m, dir, held) };
	free(dir);
}

/* The top level of a parsed document (the entries of 'domains' not converted yet). */
static void convert_top(struct conv *c)
{
	struct mr_ydoc *doc = c->doc;
	struct mr_loc whole = mr_loc_make(doc->file_id, 0, 0);
	if (!doc->root || mr_ynode_is_null(doc->root))
		mr_diag_error(c->diags, whole, "empty file: expected a mapping that starts with 'version: 1'");
	else if (doc->root->kind != MR_Y_MAP)
		ERR(c, doc->root, "the document must be a mapping (version, server, users, domains), not %s",
		    mr_ykind_name(doc->root));
	else if (check_version(c, doc->root))
		walk_fields(c, doc->root, top_fields, NULL, "the top level");
}

static void convert_doc(struct mr_model *m, struct mr_ydoc *doc, struct mr_root *held, struct mr_diags *diags)
{
	struct conv c;
	conv_init(&c, m, doc, doc->file, held, diags);
	convert_top(&c);
}

/*
 * The bytes of a file read a chunk at a time cannot be counted before they are parsed, so the
 * maps are sized from the file's size instead, at a little under the density of a state that
 * import wrote: the benchmark's 17,233,707 bytes declare 10,000 domains and 100,000
 * mailboxes, 1,723 and 172 bytes each (a file written by hand has fewer per byte: comments).
 * The maps' sizes are powers of two at most four fifths full, so a guess a little low
 * mostly lands on the same size, and else costs one rehash, where one a little high can
 * double a map for the whole run.  Far under the caps on the words counted in a buffer
 * (len / 64, len / 32).
 */
#define BYTES_PER_DOMAIN 2048
#define BYTES_PER_MAILBOX 192

/*
 * Parse and convert in one pass, each domain as soon as it is read (stream_want()); file is
 * the model's copy of the name.  The bytes are data, len, or read through in (then size is
 * the file's size, for sizing the maps).  Syntax errors go to parse_diags.  Returns 0, or -1
 * when the file is not valid YAML (or in failed to read it): then the domains read before the
 * error are dropped again and their messages too, so the result is the same as a tree parsed
 * whole and never converted.  Without stream, the whole tree is parsed first, then converted.
 */
static int parse_convert(struct mr_model *m, const char *file, const char *data, size_t len,
			 const struct mr_yinput *in, uint64_t size, struct mr_root *held, bool stream,
			 struct mr_diags *parse_diags, struct mr_diags *diags)
{
	struct mr_ydoc doc;
	struct conv c;
	struct mr_diags streamed = MR_DIAGS_INIT;
	size_t ndomains = m->ndomains;
	if (stream) {
		/* the tree is never whole, so the maps are sized from the words every domain and
		 * every mailbox has, or from the size of a file read a chunk at a time (a guess: a
		 * larger count only costs a rehash) */
		size_t nd = in ? (size_t)(size / BYTES_PER_DOMAIN) : count_word(data, len, "owner", len / 64);
		size_t nmb = in ? (size_t)(size / BYTES_PER_MAILBOX) : count_word(data, len, "password", len / 32);
		mr_strmap_reserve(&m->domain_map, m->domain_map.count + nd);
		mr_strmap_reserve(&m->mailbox_map, m->mailbox_map.count + nmb);
	}
	conv_init(&c, m, &doc, file, held, &streamed);
	struct mr_ystream st = { stream_want, stream_entry, &c };
	int rc = in ? mr_ydoc_parse_input(&doc, file, in, stream ? &st : NULL, parse_diags)
		    : mr_ydoc_parse_stream(&doc, file, data, len, stream ? &st : NULL, parse_diags);
	c.diags = diags;
	if (rc == 0) {
		for (size_t i = 0; i < streamed.n; i++)
			mr_diag_add(diags, streamed.v[i].sev, streamed.v[i].loc, "%s", streamed.v[i].msg);
		convert_top(&c);
	} else {
		/* not valid YAML: nothing of it is used, as when the whole tree is read first */
		mr_model_drop_domains(m, ndomains);
	}
	mr_diags_release(&streamed);
	mr_ydoc_release(&doc);
	return rc;
}

void mr_load_yaml_buffer(struct mr_model *m, const char *file, const char *data, size_t len,
			 struct mr_diags *diags)
{
	mr_load_yaml_buffer_ex(m, file, data, len, true, diags);
}

int mr_load_yaml_buffer_ex(struct mr_model *m, const char *file, const char *data, size_t len, bool stream,
			   struct mr_diags *diags)
{
	const char *fname = mr_model_str(m, file, strlen(file));
	return parse_convert(m, fname, data, len, NULL, 0, NULL, stream, diags, diags);
}

int mr_load_yaml_input(struct mr_model *m, const char *file, const struct mr_yinput *in, uint64_t size,
		       struct mr_diags *diags)
{
	const char *fname = mr_model_str(m, file, strlen(file));
	return parse_convert(m, fname, NULL, 0, in, size, NULL, true, diags, diags);
}

/* ---- sources ------------------------------------------------------------------------- */

/*
 * The files of the desired state and how each is read.  An -f argument is the operator's and
 * may be reached through links, except in a --scope run, where the state is a tenant's and may
 * sit in the tenant's tree: there an argument is reached from "/" without a symbolic link at
 * any level (util/rootfs.h mr_root_open_strict; a relative one from the working directory,
 * '..' taken as text), and the directory each file is read from is held open and handed to the
 * model (struct mr_srcdir), so the files it names are read below that very directory, however
 * its name is changed later.  A file a walk of an -f directory finds is read below that
 * directory through the confinement layer (util/rootfs.h): no link at any level, ever, and
 * only from the very directory that was walked.  A file that is refused is never read, so no
 * byte of it is ever shown.
 */
struct src {
	char *path;   /* as shown */
	size_t top;   /* index + 1 in srcs.tops of the directory a walk found it in; 0: an argument */
	bool follow;  /* an argument read through a link (no --scope) */
	struct mr_root *dir; /* --scope, an argument: its directory, held since it was reached */
	char *name;   /* ... and "/NAME" in it */
	dev_t dev;    /* what it is (a file reached twice is read once); ino 0: unknown */
	ino_t ino;
};

struct top {
	char *path;   /* an -f directory as given */
	dev_t dev;    /* the directory that was walked */
	ino_t ino;
	struct mr_root *held; /* --scope: that directory, held since the walk */
};

struct srcs {
	struct src *v;
	size_t n, cap;
	struct top *tops;
	size_t ntops, tcap;
	bool scoped;
};

/* st: what it is, as reached (NULL: stat path, following links when follow) */
static void srcs_add(struct srcs *f, const char *path, size_t top, bool follow, struct mr_root *dir,
		     const char *name, const struct stat *st)
{
	f->v = xgrow(f->v, sizeof(*f->v), f->n + 1, &f->cap);
	struct src *x = &f->v[f->n++];
	*x = (struct src){ xstrdup(path), top, follow, dir, name ? xstrdup(name) : NULL, 0, 0 };
	struct stat sb;
	if (!st && (follow ? mr_path_stat(path, &sb) : mr_path_lstat(path, &sb)) == 0)
		st = &sb;
	if (st) {
		x->dev = st->st_dev;
		x->ino = st->st_ino;
	}
}

static void src_release(struct src *x)
{
	free(x->path);
	free(x->name);
	mr_root_close(&x->dir);
}

static void srcs_release(struct srcs *f)
{
	for (size_t i = 0; i < f->n; i++)
		src_release(&f->v[i]);
	for (size_t i = 0; i < f->ntops; i++) {
		free(f->tops[i].path);
		mr_root_close(&f->tops[i].held);
	}
	free(f->v);
	free(f->tops);
	memset(f, 0, sizeof(*f));
}

static const char *const yaml_suffixes[] = { ".yaml", ".yml", NULL };

/*
 * Walk directory path (from fd, taken over, when fd >= 0; else by its name) and add the files
 * found, sorted, with path (st: what it is; held: it, held, taken over) as their top.
 */
static int add_walked(int fd, const char *path, const struct stat *st, struct mr_root *held, struct srcs *files,
		      struct mr_loc *where, struct mr_diags *diags)
{
	struct mr_buf err = MR_BUF_INIT;
	struct mr_pathlist found = MR_PATHLIST_INIT;
	int rc = fd >= 0 ? mr_find_files_fd(fd, path, yaml_suffixes, &found, &err)
			 : mr_find_files_ex(path, yaml_suffixes, 0, &found, &err);
	if (rc < 0) {
		mr_diag_error(diags, *where, "%s", err.ptr);
		mr_root_close(&held);
	} else if (found.n == 0) {
		mr_diag_error(diags, *where, "no desired state found under '%s' (no *.yaml or *.yml file)", path);
		mr_root_close(&held);
		rc = -1;
	} else {
		files->tops = xgrow(files->tops, sizeof(*files->tops), files->ntops + 1, &files->tcap);
		files->tops[files->ntops++] = (struct top){ xstrdup(path), st->st_dev, st->st_ino, held };
		for (size_t i = 0; i < found.n; i++)
			srcs_add(files, found.v[i], files->ntops, false, NULL, NULL, NULL);
	}
	mr_buf_release(&err);
	mr_pathlist_release(&found);
	return rc < 0 ? -1 : 0;
}

/*
 * A --scope run's argument: reached from "/" without a link at any level; a file's directory,
 * or the directory to walk, held from here on.
 */
static int collect_scoped(const char *path, struct srcs *files, struct mr_loc *where, struct mr_diags *diags)
{
	struct mr_buf err = MR_BUF_INIT;
	struct mr_root *slash = NULL, *dir = NULL;
	struct stat st;
	char *abs = mr_path_clean_absolute(path);
	int rc = abs ? mr_root_open_strict(&slash, "/", &err) : -errno;
	if (rc == 0)
		rc = mr_root_lstat(slash, abs, &st);
	if (rc == -ELOOP) {
		char *link = mr_root_link_on_path(slash, abs);
		if (link)
			mr_diag_error(diags, *where,
				      "'%s' is reached through the symbolic link '%s'; refused (with --scope, -f never follows "
				      "one, at any level)",
				      path, link);
		else /* a rename raced: the link is gone */
			mr_diag_error(diags, *where,
				      "'%s' was reached through a symbolic link (not there any more); refused (with --scope, -f "
				      "never follows one, at any level)",
				      path);
		free(link);
	} else if (rc < 0) {
		mr_diag_error(diags, *where, "cannot read desired state '%s': %s", path, err.len ? err.ptr : strerror(-rc));
	} else if (S_ISLNK(st.st_mode)) {
		mr_diag_error(diags, *where, "'%s' is a symbolic link; refused (with --scope, -f never follows one)", path);
		rc = -ELOOP;
	} else if (!S_ISDIR(st.st_mode)) {
		/* a file: read later, by its name in its directory held from now on */
		char *pdir = mr_path_dirname(abs);
		rc = mr_root_sub(slash, pdir, &dir, &err);
		free(pdir);
		if (rc < 0)
			mr_diag_error(diags, *where, "cannot read desired state '%s': %s", path, err.ptr);
		else
			srcs_add(files, path, 0, false, dir, strrchr(abs, '/'), &st);
	} else {
		rc = mr_root_sub(slash, abs, &dir, &err);
		int fd = rc < 0 ? rc : mr_root_openat(dir, "/", O_RDONLY | O_DIRECTORY, 0);
		if (rc < 0) {
			mr_diag_error(diags, *where, "cannot read desired state '%s': %s", path, err.ptr);
		} else if (fd < 0) {
			mr_diag_error(diags, *where, "cannot open directory '%s': %s", path, strerror(-fd));
			mr_root_close(&dir);
			rc = fd;
		} else if ((rc = mr_root_lstat(dir, "/", &st)) < 0) {
			mr_diag_error(diags, *where, "cannot stat directory '%s': %s", path, strerror(-rc));
			mr_root_close(&dir);
			close(fd);
		} else {
			rc = add_walked(fd, path, &st, dir, files, where, diags);
		}
	}
	mr_root_close(&slash);
	mr_buf_release(&err);
	free(abs);
	return rc < 0 ? -1 : 0;
}

static int collect(const char *path, struct srcs *files, struct mr_loc *where, struct mr_diags *diags)
{
	if (files->scoped)
		return collect_scoped(path, files, where, diags);
	struct stat st;
	int r = mr_path_stat(path, &st);
	if (r < 0) {
		mr_diag_error(diags, *where, "cannot read desired state '%s': %s", path, strerror(-r));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		srcs_add(files, path, 0, true, NULL, NULL, NULL);
		return 0;
	}
	return add_walked(-1, path, &st, NULL, files, where, diags);
}

/* "/REL" of a file a walk of directory t found (path starts with t->path); a fresh string. */
static char *below_top(const struct top *t, const char *path)
{
	const char *rel = path + strlen(t->path);
	return rel[0] == '/' ? xstrdup(rel) : mr_path_join("/", rel);
}

/* Open a file a walk of directory t found, below t, as the walk found it, to be read. */
static int open_below(const struct top *t, const char *path, struct mr_file_in *in, struct mr_buf *err)
{
	struct mr_root *r;
	struct mr_buf why = MR_BUF_INIT;
	int rc = mr_root_open(&r, t->path, &why);
	mr_buf_release(&why);
	if (rc < 0) {
		mr_buf_addf(err, "cannot open directory '%s' to read '%s': %s", t->path, path, strerror(-rc));
		return rc;
	}
	struct stat st;
	if (mr_root_lstat(r, "/", &st) < 0 || st.st_dev != t->dev || st.st_ino != t->ino) {
		mr_buf_addf(err, "'%s' was replaced while it was read; '%s' refused", t->path, path);
		mr_root_close(&r);
		return -ESTALE;
	}
	char *abs = below_top(t, path);
	rc = mr_root_open_file_in(r, abs, MR_DESIRED_MAX_FILE, in, NULL, err);
	free(abs);
	mr_root_close(&r);
	return rc;
}

/*
 * A --scope run: open file f, to be read, below the directory collect_scoped holds (its own,
 * or the walked one), never by a name above it; *held gets the file's own directory, held
 * (the model's struct mr_srcdir), on success.
 */
static int open_held(const struct srcs *files, const struct src *f, struct mr_file_in *in, struct mr_root **held,
		     struct mr_buf *err)
{
	struct mr_root *from = f->top ? files->tops[f->top - 1].held : f->dir;
	char *rel = f->top ? below_top(&files->tops[f->top - 1], f->path) : xstrdup(f->name);
	char *slash = strrchr(rel, '/');
	char *name = xstrdup(slash);
	if (slash == rel)
		slash[1] = '\0'; /* in from itself: "/" */
	else
		*slash = '\0';
	int rc = mr_root_sub(from, rel, held, err);
	if (rc == 0) {
		rc = mr_root_open_file_in(*held, name, MR_DESIRED_MAX_FILE, in, NULL, err);
		if (rc < 0)
			mr_root_close(held);
	}
	free(rel);
	free(name);
	return rc;
}

/*
 * Reading and parsing a file needs nothing from the model, so with several files a worker
 * thread reads and parses ahead (at most PARSE_AHEAD files) while this thread turns the
 * parsed documents into model objects strictly in file order: the result and the
 * diagnostics are the same as a sequential load, in about the time of the slower half.
 */
#define PARSE_AHEAD 8

struct parsed {
	struct mr_ydoc doc;
	struct mr_diags diags; /* read and syntax errors, located in files->v[i] */
	struct mr_root *held;  /* --scope: the directory the file was read from, held */
	bool ok, done;
	bool converted;        /* parsed and converted in one pass (parse_convert()) */
};

/* Converting while parsing, on the thread that owns the model (NULL m: parse only). */
struct conv_to {
	struct mr_model *m;
	const char *fname; /* the model's copy of the file's name */
	struct mr_diags *diags;
};

struct pipeline {
	const struct srcs *files;
	struct parsed *slots;
	size_t consumed; /* files the converter has finished with */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/*
 * A file is parsed as it is read, a chunk at a time, from the descriptor the confinement
 * layer opened and checked (never whole in memory: the benchmark's one file is 16 MiB).
 */
struct file_reader {
	struct mr_file_in in;
	struct mr_buf err; /* why it could not be opened or read */
};

static ptrdiff_t file_read(void *ctx, void *buf, size_t n)
{
	struct file_reader *r = ctx;
	ssize_t got = mr_file_in_read(&r->in, buf, n, &r->err);
	return got < 0 ? -1 : got;
}

/* After a syntax error: the bytes around it again, for its message (ytree.h). */
static ptrdiff_t file_reread(void *ctx, void *buf, size_t n, uint64_t off)
{
	struct file_reader *r = ctx;
	ssize_t got = mr_file_in_pread(&r->in, buf, n, off);
	return got < 0 ? -1 : got;
}

/*
 * The file's YAML is wrong (before its end was read): read the rest all the same, as a file
 * read whole before it is parsed was, so that a file over the limit, or one that cannot be
 * read, is refused for that, not for its YAML.
 */
static void drain(struct file_reader *r)
{
	enum { CHUNK = 64 << 10 };
	char *chunk = xmalloc(CHUNK);
	while (file_read(r, chunk, CHUNK) > 0)
		continue;
	free(chunk);
}

/* p->diags: empty before, this file's after. */
static void parse_one(const struct srcs *files, const struct src *f, struct parsed *p, const struct conv_to *to)
{
	struct file_reader r = { MR_FILE_IN_INIT, MR_BUF_INIT };
	const char *path = f->path;
	int rc = files->scoped ? open_held(files, f, &r.in, &p->held, &r.err)
		 : f->top      ? open_below(&files->tops[f->top - 1], path, &r.in, &r.err)
			       : mr_open_file_in(path, MR_DESIRED_MAX_FILE, f->follow ? 0 : MR_READ_NOFOLLOW, &r.in, NULL, &r.err);
	struct mr_yinput in = { file_read, file_reread, &r };
	if (rc < 0) {
		mr_diag_error(&p->diags, MR_LOC_NONE, "%s", r.err.ptr);
		memset(&p->doc, 0, sizeof(p->doc));
	} else if (to) {
		p->ok = parse_convert(to->m, to->fname, NULL, 0, &in, r.in.size, p->held, true, &p->diags, to->diags) == 0;
		p->held = NULL; /* the model's now */
		p->converted = true;
		p->doc.file = to->fname;
	} else {
		p->ok = mr_ydoc_parse_input(&p->doc, path, &in, NULL, &p->diags) == 0;
	}
	if (rc == 0 && !p->ok)
		drain(&r);
	if (rc == 0 && r.in.error) {
		/* it could not be read (whole): that is its error, whatever its YAML said, and
		 * nothing of it is used (parse_convert() dropped what it had converted) */
		mr_diags_release(&p->diags);
		mr_diag_error(&p->diags, MR_LOC_NONE, "%s", r.err.ptr);
		if (!p->converted)
			mr_ydoc_release(&p->doc);
		memset(&p->doc, 0, sizeof(p->doc));
	}
	mr_file_in_close(&r.in);
	mr_buf_release(&r.err);
}

static void *parse_worker(void *arg)
{
	struct pipeline *pl = arg;
	for (size_t i = 0; i < pl->files->n; i++) {
		pthread_mutex_lock(&pl->mu);
		while (i >= pl->consumed + PARSE_AHEAD)
			pthread_cond_wait(&pl->cv, &pl->mu);
		pthread_mutex_unlock(&pl->mu);
		struct parsed p = { .diags = MR_DIAGS_INIT };
		parse_one(pl->files, &pl->files->v[i], &p, NULL);
		pthread_mutex_lock(&pl->mu);
		p.done = true;
		pl->slots[i] = p;
		pthread_cond_broadcast(&pl->cv);
		pthread_mutex_unlock(&pl->mu);
	}
	return NULL;
}

/* Move a file's parse diagnostics into diags (a location's file is an id: it needs no copy). */
static void take_diags(struct mr_diags *diags, struct mr_diags *from)
{
	for (size_t k = 0; k < from->n; k++) {
		struct mr_diag *d = &from->v[k];
		mr_diag_add(diags, d->sev, d->loc, "%s", d->msg);
	}
	mr_diags_release(from);
}

/* Read, parse and convert every file; returns how many could be read. */
static size_t parse_all(struct mr_model *m, const struct srcs *files, struct mr_diags *diags)
{
	struct pipeline pl = { .files = files, .slots = xcalloc(files->n ? files->n : 1, sizeof(struct parsed)) };
	pthread_t worker;
	bool threaded = files->n > 1;
	pthread_mutex_init(&pl.mu, NULL);
	pthread_cond_init(&pl.cv, NULL);
	if (threaded && pthread_create(&worker, NULL, parse_worker, &pl) != 0)
		threaded = false;
	size_t nread = 0;
	for (size_t i = 0; i < files->n; i++) {
		struct parsed *p = &pl.slots[i];
		const char *path = files->v[i].path;
		const char *fname = mr_model_str(m, path, strlen(path));
		if (threaded) {
			pthread_mutex_lock(&pl.mu);
			while (!p->done)
				pthread_cond_wait(&pl.cv, &pl.mu);
			pthread_mutex_unlock(&pl.mu);
		} else {
			/* one file, parsed here: converted as it is read */
			struct conv_to to = { m, fname, diags };
			p->diags = (struct mr_diags)MR_DIAGS_INIT;
			parse_one(files, &files->v[i], p, &to);
		}
		nread += p->ok || p->doc.file != NULL;
		take_diags(diags, &p->diags);
		if (p->converted) {
			/* done */
		} else if (p->ok) {
			p->doc.file = fname;
			convert_doc(m, &p->doc, p->held, diags);
		} else {
			mr_root_close(&p->held);
		}
		mr_ydoc_release(&p->doc);
		pthread_mutex_lock(&pl.mu);
		pl.consumed = i + 1;
		pthread_cond_broadcast(&pl.cv);
		pthread_mutex_unlock(&pl.mu);
	}
	if (threaded)
		pthread_join(worker, NULL);
	pthread_cond_destroy(&pl.cv);
	pthread_mutex_destroy(&pl.mu);
	free(pl.slots);
	return nread;
}

struct git_emit {
	struct mr_model *m;
	struct mr_diags *diags;
	size_t n;
};

static int git_emit(void *ectx, const char *name, const void *data, size_t len)
{
	struct git_emit *g = ectx;
	const char *fname = mr_model_str(g->m, name, strlen(name));
	mr_load_yaml_buffer(g->m, fname, data, len, g->diags);
	g->n++;
	return 0;
}

/* A run on one host of a fleet: host must be one of server.hosts; then, when the fleet is
 * valid (cut), the model becomes host's part of it. */
static void keep_host(struct mr_model *m, const char *host, struct mr_diags *diags, bool cut)
{
	if (!mr_model_has_host(m, host)) {
		struct mr_buf list = MR_BUF_INIT;
		for (size_t i = 0; i < m->server.hosts.n; i++)
			mr_buf_addf(&list, "%s%s", i ? ", " : "", m->server.hosts.v[i].s);
		/* a run on a host outside the fleet would see no domain: it is an error, never "delete
		 * everything here" */
		mr_diag_error(diags, m->server.hosts_loc,
			      "this run's host '%s' (--host, default: the short host name) is not in server.hosts (%s)",
			      host, list.ptr);
		mr_buf_release(&list);
		return;
	}
	if (cut)
		mr_model_keep_host(m, host);
}

int mr_load_desired(struct mr_model *m, struct mr_load_opts *opts, struct mr_diags *diags)
{
	struct srcs files = { .scoped = opts->scoped };
	struct mr_loc nowhere = MR_LOC_NONE;
	size_t errors_before = diags->errors;
	char *deflt = NULL;
	size_t from_git = 0;

	opts->git_commit[0] = '\0';
	opts->refused = false;
	if (opts->nsources == 0) {
		deflt = mr_path_join_root(opts->root, MR_DESIRED_DEFAULT);
		collect(deflt, &files, &nowhere, diags);
	}
	for (size_t i = 0; i < opts->nsources; i++) {
		if (strncmp(opts->sources[i], "git:", 4) != 0) {
			collect(opts->sources[i], &files, &nowhere, diags);
			continue;
		}
		/* a desired state in git, read at a ref without a checkout */
		struct mr_buf err = MR_BUF_INIT;
		struct git_emit g = { m, diags, 0 };
		if (!opts->read_git)
			mr_diag_error(diags, nowhere, "'%s': git sources are not available here", opts->sources[i]);
		else if (opts->read_git(opts->sources[i], git_emit, &g, opts->git_commit, &err) < 0)
			mr_diag_error(diags, nowhere, "%s", err.ptr ? err.ptr : "cannot read the git source");
		from_git += g.n;
		mr_buf_release(&err);
	}

	/* the same file reached twice (a directory and a file in it) is read once: the first */
	size_t kept = 0;
	for (size_t i = 0; i < files.n; i++) {
		struct src *x = &files.v[i];
		size_t j = 0;
		while (x->ino && j < kept && !(files.v[j].dev == x->dev && files.v[j].ino == x->ino))
			j++;
		if (x->ino && j < kept) {
			src_release(x);
			continue;
		}
		files.v[kept++] = *x;
	}
	files.n = kept;
	opts->nfiles = parse_all(m, &files, diags) + from_git;
	/* a test seam: act between reading the files and reading what they name */
	mr_test_hook("MAILRECON_TEST_AFTER_READ");
	if (opts->files_out)
		for (size_t i = 0; i < files.n; i++)
			mr_pathlist_add(opts->files_out, files.v[i].path);

	if (diags->errors == errors_before && m->nusers == 0 && m->ndomains == 0) {
		const char *what = opts->nsources == 1 ? opts->sources[0] : deflt;
		struct mr_loc loc = mr_loc_at(what, 0, 0);
		mr_diag_error(diags, loc,
			      "the desired state declares no user and no domain; an empty state is never applied");
	}
	/* the whole-state rules run even after errors above, so one run reports everything */
	unsigned vflags = (opts->skip_files ? 0 : MR_VALIDATE_READ_FILES) | (opts->scoped ? MR_VALIDATE_SCOPED : 0);
	opts->refused = mr_validate_desired_on(m, opts->rootfs, vflags, opts->host, diags) > 0;
	if (opts->host && mr_model_is_fleet(m))
		keep_host(m, opts->host, diags, diags->errors == errors_before);
	free(deflt);
	srcs_release(&files);
	return diags->errors == errors_before ? 0 : -1;
}
