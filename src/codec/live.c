/*
 * live: the live model from the live files.  The order matters: the registry says who
 * owns what, the domains file which domains exist, the two passwd files which mailboxes,
 * and the remaining files attach to those.  Anything that does not fit is a finding.
 */
#include "codec/dkim_state.h"
#include "codec/live.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/accounts.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "crypto/pwhash.h"
#include "model/names.h"
#include "util/fs.h"
#include "util/xalloc.h"

int mr_layout_detect(struct mr_root *root, enum mr_layout *out, struct mr_buf *err)
{
	bool d = mr_root_is_dir(root, "/etc/exim4");
	bool r = mr_root_is_dir(root, "/etc/exim");
	if (d && r) {
		mr_buf_adds(err, "both /etc/exim4 (debian) and /etc/exim (rhel) exist; choose with --layout");
		return -1;
	}
	if (!d && !r) {
		mr_buf_adds(err, "neither /etc/exim4 (debian) nor /etc/exim (rhel) exists; is Exim installed? "
				 "(--layout chooses one)");
		return -1;
	}
	*out = d ? MR_LAYOUT_DEBIAN : MR_LAYOUT_RHEL;
	return 0;
}

char *mr_home_path(const char *owner, const char *domain, const char *local)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_addf(&b, "/var/www/%s/data/email/%s/%s", owner, domain, local);
	return mr_buf_detach(&b);
}

bool mr_home_is(const char *home, const char *place)
{
	size_t n = strlen(place);
	return strncmp(home, place, n) == 0 && (home[n] == '\0' || (home[n] == '/' && home[n + 1] == '\0'));
}

bool mr_home_is_place(const char *home, const char *owner, const char *domain, const char *local)
{
	const char *const parts[] = { "/var/www/", owner, "/data/email/", domain, "/", local };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t n = strlen(parts[i]);
		if (strncmp(home, parts[i], n) != 0)
			return false;
		home += n;
	}
	return home[0] == '\0' || (home[0] == '/' && home[1] == '\0');
}

const char *mr_home_owner(struct mr_model *m, const char *home, const char *domain, const char *local,
			  const char *known)
{
	static const char pre[] = "/var/www/";
	if (strncmp(home, pre, sizeof(pre) - 1) != 0)
		return NULL;
	const char *o = home + sizeof(pre) - 1, *slash = strchr(o, '/');
	if (!slash)
		return NULL;
	/* the rest must be /data/email/DOMAIN/LOCAL, with an optional final '/' */
	static const char mid[] = "/data/email/";
	const char *p = slash;
	size_t dl = strlen(domain), ll = strlen(local);
	if (strncmp(p, mid, sizeof(mid) - 1) != 0)
		return NULL;
	p += sizeof(mid) - 1;
	if (strncmp(p, domain, dl) != 0 || p[dl] != '/')
		return NULL;
	p += dl + 1;
	if (strncmp(p, local, ll) != 0 || !(p[ll] == '\0' || (p[ll] == '/' && p[ll + 1] == '\0')))
		return NULL;
	size_t ol = (size_t)(slash - o);
	const char *owner = known && strncmp(known, o, ol) == 0 && known[ol] == '\0' ? known : mr_model_str(m, o, ol);
	return mr_check_user_name(owner) ? NULL : owner;
}

bool mr_dovecot_override(const char *word)
{
	static const char *const keys[] = { "uid", "gid", "home", "mail", "mail_location", "chroot",
					    "system_groups_user", "mail_privileged_group", NULL };
	const char *w = strncmp(word, "userdb_", 7) == 0 ? word + 7 : word;
	for (const char *const *k = keys; *k; k++) {
		size_t n = strlen(*k);
		if (strncmp(w, *k, n) == 0 && w[n] == '=')
			return true;
	}
	return false;
}

bool mr_quota_parse(const char *rule, int64_t *bytes)
{
	/* "*:bytes=2G" or "*:storage=2097152" (KiB when no unit is given) */
	if (strncmp(rule, "*:", 2) != 0)
		return false;
	rule += 2;
	int64_t unit;
	if (strncmp(rule, "bytes=", 6) == 0)
		rule += 6, unit = 1;
	else if (strncmp(rule, "storage=", 8) == 0)
		rule += 8, unit = 1024;
	else
		return false;
	const char *p = rule;
	int64_t v = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > (INT64_C(1) << 50))
			return false;
	}
	switch (*p) {
	case '\0':
		break;
	case 'B':
		unit = 1, p++;
		break;
	case 'k': case 'K':
		unit = INT64_C(1) << 10, p++;
		break;
	case 'M':
		unit = INT64_C(1) << 20, p++;
		break;
	case 'G':
		unit = INT64_C(1) << 30, p++;
		break;
	case 'T':
		unit = INT64_C(1) << 40, p++;
		break;
	default:
		return false;
	}
	if (*p == 'B' && unit > 1)
		p++;
	if (*p)
		return false;
	if (v > (INT64_C(1) << 50) / unit)
		return false;
	*bytes = v * unit;
	return true;
}

/* ---- building ------------------------------------------------------------------------ */

struct build {
	struct mr_live *lv;
	struct mr_model *m;
	struct mr_diags *f; /* findings */
	struct mr_strmap reg_domain;  /* domain -> registry line */
	struct mr_strmap reg_mailbox; /* address -> registry line */
	struct mr_strmap aliases;     /* alias address -> aliases line */
	struct mr_domain *last_domain;
	struct mr_pathlist www; /* the names in /var/www, listed once when an owner is looked for */
	bool www_listed;
	int64_t uid_min; /* UID_MIN of ROOT/etc/login.defs (codec/accounts.h) */
};

static struct mr_loc lloc(const struct mr_live *lv, enum mr_file_id id, const struct mr_line *l)
{
	return mr_loc_make(lv->files[id].cf.path_id, l->lineno, 1);
}

#define FINDING(b, id, l, ...) mr_diag_warning((b)->f, lloc((b)->lv, (id), (l)), __VA_ARGS__)

/* Records of a file in order, active ones first in the sense that a key's first active
 * record wins; a disabled record whose key is also active is shadowed. */
#define FOR_RECORDS(b, id, l)                                                                    \
	for (struct mr_line *l = (b)->lv->files[id].cf.lines,                                      \
			    *l##_end = l + (b)->lv->files[id].cf.nlines;                                \
	     l < l##_end; l++)                                                                     \
		if (l->kind == MR_LINE_RECORD)

static bool first_active(const struct build *b, enum mr_file_id id, const struct mr_line *l)
{
	(void)b;
	(void)id;
	return !l->disabled && !l->shadowed;
}

/* Who disabled an object, from its registry line: kept only while the object is disabled. */
static const char *disabled_by(struct build *b, const struct mr_line *l, bool disabled, const char *what,
			       const char *name)
{
	const char *kind = mr_line_field(l, MR_F_REG_KIND);
	const char *by = mr_line_field(l, kind[0] == 'u'   ? MR_F_REG_USER_DISABLED_BY
					  : kind[0] == 'd' ? MR_F_REG_DOMAIN_DISABLED_BY
							   : MR_F_REG_MAILBOX_DISABLED_BY);
	if (by && !disabled)
		FINDING(b, MR_FILE_REGISTRY, l, "%s '%s' is not disabled, but the registry says disabled_by=%s; ignored",
			what, name, by);
	return disabled ? by : NULL;
}

static void read_registry(struct build *b)
{
	enum mr_file_id id = MR_FILE_REGISTRY;
	FOR_RECORDS(b, id, l) {
		if (l->disabled || !first_active(b, id, l))
			continue;
		const char *kind = mr_line_field(l, MR_F_REG_KIND), *name = mr_line_field(l, MR_F_REG_NAME);
		if (kind[0] == 'u') {
			struct mr_user *dup;
			struct mr_user *u = mr_model_add_user_borrowed(b->m, name, lloc(b->lv, id, l), &dup);
			const char *role = mr_line_field(l, MR_F_REG_USER_ROLE);
			u->role = !role || strcmp(role, "user") == 0 ? MR_ROLE_USER
				  : strcmp(role, "reseller") == 0 ? MR_ROLE_RESELLER : MR_ROLE_ADMIN;
			u->reseller = mr_line_field(l, MR_F_REG_USER_RESELLER);
			const char *account = mr_line_field(l, MR_F_REG_USER_ACCOUNT);
			u->account = account && strcmp(account, "create") == 0 ? MR_ACCOUNT_CREATE : MR_ACCOUNT_EXISTING;
			const char *disabled = mr_line_field(l, MR_F_REG_USER_DISABLED);
			u->disabled = disabled && strcmp(disabled, "yes") == 0;
			u->disabled_by = disabled_by(b, l, u->disabled, "user", name);
			const char *domains = mr_line_field(l, MR_F_REG_USER_DOMAINS);
			if (domains)
				mr_codec_parse_uint(domains, 1000000000, &u->limits.mail_domains);
			const char *mailboxes = mr_line_field(l, MR_F_REG_USER_MAILBOXES);
			if (mailboxes)
				mr_codec_parse_uint(mailboxes, 1000000000, &u->limits.mailboxes);
		} else if (kind[0] == 'd') {
			mr_strmap_put_new(&b->reg_domain, name, strlen(name), l);
		} else {
			mr_strmap_put_new(&b->reg_mailbox, name, strlen(name), l);
		}
	}
	for (size_t i = 0; i < b->m->nusers; i++) {
		struct mr_user *u = b->m->users[i];
		if (u->reseller && !mr_model_user(b->m, u->reseller))
			mr_diag_warning(b->f, u->loc, "user '%s' names reseller '%s', which has no registry line",
					u->name, u->reseller);
	}
}

static void set_action(struct mr_domain *d, const char *data)
{
	if (strncmp(data, ":fail:", 6) == 0) {
		d->action = MR_ACTION_REJECT;
	} else if (strcmp(data, ":blackhole:") == 0) {
		d->action = MR_ACTION_DISCARD;
	} else if (data[0] == '@') {
		d->action = MR_ACTION_REDIRECT_DOMAIN;
		d->action_target = data + 1;
	} else {
		d->action = MR_ACTION_FORWARD;
		d->action_target = data;
	}
}

static void read_domains(struct build *b)
{
	enum mr_file_id id = MR_FILE_EXIM_DOMAINS;
	FOR_RECORDS(b, id, l) {
		if (!l->disabled && !first_active(b, id, l))
			continue;
		if (l->disabled && mr_codec_find(&b->lv->files[id].cf, mr_line_key(l))) {
			const struct mr_line *a = mr_codec_find(&b->lv->files[id].cf, mr_line_key(l));
			FINDING(b, id, l, "domain '%s' is also active on line %u; this disabled line is ignored", mr_line_key(l),
				a->lineno);
			continue;
		}
		struct mr_domain *dup;
		struct mr_domain *d = mr_model_add_domain_borrowed(b->m, mr_line_key(l), lloc(b->lv, id, l), &dup);
		if (!d) {
			FINDING(b, id, l, "domain '%s' is already disabled on line %u; this line is ignored", mr_line_key(l),
				(unsigned)dup->loc.line);
			continue;
		}
		d->disabled = l->disabled;
		d->action_loc = d->loc;
		set_action(d, mr_line_field(l, MR_F_DOMAIN_DATA));
		const struct mr_line *r = mr_strmap_get(&b->reg_domain, d->name, strlen(d->name));
		if (r) {
			d->owner = mr_line_field(r, MR_F_REG_DOMAIN_OWNER);
			const char *dmarc = mr_line_field(r, MR_F_REG_DOMAIN_DMARC);
			d->dmarc = dmarc && strcmp(dmarc, "yes") == 0;
			d->disabled_by = disabled_by(b, r, d->disabled, "domain", d->name);
		}
	}
	for (size_t i = 0; i < b->lv->files[MR_FILE_REGISTRY].cf.nlines; i++) {
		struct mr_line *l = &b->lv->files[MR_FILE_REGISTRY].cf.lines[i];
		if (l->kind == MR_LINE_RECORD && !l->disabled && mr_line_field(l, MR_F_REG_KIND)[0] == 'd' &&
		    !mr_model_domain(b->m, mr_line_field(l, MR_F_REG_NAME)) && first_active(b, MR_FILE_REGISTRY, l))
			FINDING(b, MR_FILE_REGISTRY, l, "domain '%s' has no line in %s", mr_line_field(l, MR_F_REG_NAME),
				b->lv->files[MR_FILE_EXIM_DOMAINS].cf.path);
	}
}

/* The domain of a mailbox address; created (implicit) when the domains file lacks it. */
static struct mr_domain *domain_for(struct build *b, enum mr_file_id id, const struct mr_line *l,
				    const char **local)
{
	const char *at = strrchr(mr_line_key(l), '@');
	const char *dname = at + 1;
	*local = mr_model_str(b->m, mr_line_key(l), (size_t)(at - mr_line_key(l)));
	if (mr_check_mailbox_name(*local)) {
		FINDING(b, id, l, "'%s': '%s' is not a mailbox name mailrecon can manage (%s); ignored", mr_line_key(l),
			*local, mr_check_mailbox_name(*local));
		return NULL;
	}
	/* lines come grouped by domain: most lookups are the previous line's domain */
	struct mr_domain *d = b->last_domain && strcmp(b->last_domain->name, dname) == 0 ? b->last_domain
										   : mr_model_domain(b->m, dname);
	if (!d) {
		struct mr_domain *dup;
		d = mr_model_add_domain_borrowed(b->m, dname, lloc(b->lv, id, l), &dup);
		d->implicit = true;
		FINDING(b, id, l, "mailbox '%s' is in domain '%s', which has no line in %s", mr_line_key(l), dname,
			b->lv->files[MR_FILE_EXIM_DOMAINS].cf.path);
	}
	b->last_domain = d;
	return d;
}

/*
 * A passwd file's lines are looked up in the mailbox map in file order, a slot that is a
 * cache miss each at a million mailboxes: the loop over them fetches the slot of a line
 * some lines ahead, and at half that distance the mailbox found there (strmap.h).
 */
static void mailboxes_ahead(struct build *b, enum mr_file_id id, const struct mr_line *l, struct mr_strmap_ahead *a)
{
	const struct mr_codec_file *cf = &b->lv->files[id].cf;
	const struct mr_strmap *map = &b->m->mailbox_map;
	size_t i = (size_t)(l - cf->lines);
	if (i + MR_STRMAP_AHEAD < cf->nlines) {
		const struct mr_line *n = l + MR_STRMAP_AHEAD;
		if (n->kind == MR_LINE_RECORD)
			mr_strmap_ahead(a, i + MR_STRMAP_AHEAD, map, NULL, mr_line_key(n), strlen(mr_line_key(n)));
	}
	if (i + MR_STRMAP_AHEAD / 2 < cf->nlines) {
		const struct mr_line *n = l + MR_STRMAP_AHEAD / 2;
		size_t s = n->kind == MR_LINE_RECORD ? mr_strmap_ahead_peek(a, i + MR_STRMAP_AHEAD / 2, map, mr_line_key(n))
						     : SIZE_MAX;
		if (s != SIZE_MAX)
			__builtin_prefetch(map->slots[s].value);
	}
}

/* The mailbox of a passwd line's key, made when it is new: its address is the key itself,
 * its name a copy of the key's local part.  a: the loop's prefetches (mailboxes_ahead). */
static struct mr_mailbox *add_mailbox(struct build *b, enum mr_file_id id, const struct mr_line *l,
				      const struct mr_strmap_ahead *a)
{
	/* most lines of the second passwd file are about a mailbox the first one made */
	const char *key = mr_line_key(l);
	size_t len = strlen(key);
	struct mr_mailbox *mb = mr_strmap_get_hashed(&b->m->mailbox_map, key, len,
						     mr_strmap_ahead_hash(a, (size_t)(l - b->lv->files[id].cf.lines), key, len));
	if (mb)
		return mb;
	const char *local;
	struct mr_domain *d = domain_for(b, id, l, &local);
	if (!d)
		return NULL;
	struct mr_mailbox *dup;
	mb = mr_domain_add_mailbox_borrowed(b->m, d, local, mr_line_key(l), lloc(b->lv, id, l), &dup);
	return mb ? mb : dup;
}

/*
 * The mailbox a passwd line (Exim's or Dovecot's) is about, or NULL when the line is not
 * read: a shadowed duplicate, or a disabled line whose mailbox is also active (a finding).
 */
static struct mr_mailbox *mailbox_of(struct build *b, enum mr_file_id id, const struct mr_line *l,
				     const struct mr_strmap_ahead *a)
{
	if (l->shadowed)
		return NULL;
	if (l->disabled) {
		const struct mr_line *active = mr_codec_find(&b->lv->files[id].cf, mr_line_key(l));
		if (active) {
			FINDING(b, id, l, "mailbox '%s' is also active on line %u; this disabled line is ignored", mr_line_key(l),
				active->lineno);
			return NULL;
		}
	}
	return add_mailbox(b, id, l, a);
}

static void read_exim_passwd(struct build *b)
{
	enum mr_file_id id = MR_FILE_EXIM_PASSWD;
	struct mr_strmap_ahead a = MR_STRMAP_AHEAD_INIT;
	FOR_RECORDS(b, id, l) {
		mailboxes_ahead(b, id, l, &a);
		struct mr_mailbox *mb = mailbox_of(b, id, l, &a);
		if (!mb)
			continue;
		struct mr_mailbox_live *lp = mr_mailbox_live(mb);
		if (lp->src_exim) {
			FINDING(b, id, l, "mailbox '%s' is disabled twice; this line is ignored", mr_line_key(l));
			continue;
		}
		lp->src_exim = l;
		const char *why = mr_line_field(l, MR_F_PASSWD_DISABLED);
		mb->disabled = l->disabled || (why && strcmp(why, "self") == 0);
		const char *save = mr_line_field(l, MR_F_PASSWD_SAVE);
		mb->keep_copy = !(save && strcmp(save, "no") == 0);
		if (!mb->keep_copy) /* read only then (struct mr_mailbox_cold) */
			mr_mailbox_cold(b->m, mb)->keep_copy_loc = mb->loc;
	}
}

static void read_quota(struct build *b, const struct mr_line *l, struct mr_mailbox *mb)
{
	const char *extra = mr_line_field(l, MR_F_DOVECOT_EXTRA);
	if (!extra || !*extra || extra[0] == ':')
		return; /* none, or the ispmanager 4 "flags:mail" fields */
	char *copy = xstrdup(extra), *save = NULL;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		const char *v = NULL;
		if (mr_dovecot_override(w)) {
			char *eq = strchr(w, '=');
			*eq = '\0';
			FINDING(b, MR_FILE_DOVECOT_PASSWD, l,
				"mailbox '%s': the field '%s' overrides where its mail is or whose it is; mailrecon drops it "
				"when it rewrites the line",
				mr_line_key(l), w);
			continue;
		}
		if (strncmp(w, "userdb_quota_rule=", 18) == 0)
			v = w + 18;
		else if (strncmp(w, "quota_rule=", 11) == 0)
			v = w + 11;
		if (strcmp(w, "nologin") == 0 || strncmp(w, "nologin=", 8) == 0 || strcmp(w, "deny=yes") == 0 ||
		    strcmp(w, "deny=y") == 0) {
			FINDING(b, MR_FILE_DOVECOT_PASSWD, l,
				"mailbox '%s' is refused logins by '%s'; read as disabled", mr_line_key(l), w);
			mb->disabled = true;
		}
		if (!v)
			continue;
		int64_t bytes;
		if (!mr_quota_parse(v, &bytes))
			FINDING(b, MR_FILE_DOVECOT_PASSWD, l,
				"mailbox '%s': quota rule '%s' is not '*:bytes=SIZE'; read as unlimited", mr_line_key(l), v);
		else
			mb->max_size = bytes;
	}
	free(copy);
}

static void read_dovecot(struct build *b)
{
	enum mr_file_id id = MR_FILE_DOVECOT_PASSWD;
	struct mr_strmap_ahead a = MR_STRMAP_AHEAD_INIT;
	FOR_RECORDS(b, id, l) {
		mailboxes_ahead(b, id, l, &a);
		struct mr_mailbox *mb = mailbox_of(b, id, l, &a);
		if (!mb)
			continue;
		struct mr_mailbox_live *lp = mr_mailbox_live(mb);
		if (lp->src_dovecot) {
			FINDING(b, id, l, "mailbox '%s' is disabled twice; this line is ignored", mr_line_key(l));
			continue;
		}
		const struct mr_line *ex = lp->src_exim;
		lp->src_dovecot = l;
		if (!ex) {
			FINDING(b, id, l, "mailbox '%s' is in %s but not in %s: Exim does not deliver to it", mr_line_key(l),
				b->lv->files[id].cf.path, b->lv->files[MR_FILE_EXIM_PASSWD].cf.path);
			mb->disabled = l->disabled;
		}
		const char *hash = mr_line_field(l, MR_F_DOVECOT_HASH);
		const char *why = hash && *hash ? mr_pwhash_check(hash) : "it is empty";
		if (why)
			FINDING(b, id, l, "the password of '%s' cannot be kept: %s", mr_line_key(l), why);
		else {
			if (strncmp(hash, "{PLAIN}", 7) == 0 || strncmp(hash, "{CLEAR}", 7) == 0 ||
			    strncmp(hash, "{CLEARTEXT}", 11) == 0)
				FINDING(b, id, l,
					"the password of '%s' is stored in clear; whoever reads this file or an import of "
					"it can read it (give a new password and let mailrecon hash it)",
					mr_line_key(l));
			mb->password_kind = MR_PASSWORD_HASH;
			mb->password.value = hash;
			mb->password.loc = lloc(b->lv, id, l);
		}
		int64_t v, uid = MR_UNSET, gid = MR_UNSET;
		if (mr_line_field(l, MR_F_DOVECOT_UID) && mr_codec_parse_uint(mr_line_field(l, MR_F_DOVECOT_UID), 4294967294LL, &v))
			uid = v;
		if (mr_line_field(l, MR_F_DOVECOT_GID) && mr_codec_parse_uint(mr_line_field(l, MR_F_DOVECOT_GID), 4294967294LL, &v))
			gid = v;
		bool low_uid = uid != MR_UNSET && uid < b->uid_min;
		bool low_gid = gid != MR_UNSET && gid < b->uid_min;
		if (low_uid || low_gid) {
			struct mr_buf ids = MR_BUF_INIT;
			if (low_uid)
				mr_buf_addf(&ids, "uid %lld", (long long)uid);
			if (low_gid)
				mr_buf_addf(&ids, "%sgid %lld", low_uid ? " and " : "", (long long)gid);
			FINDING(b, id, l, "mailbox '%s' has %s, below UID_MIN %lld: its mail would belong to a system account",
				mr_line_key(l), ids.ptr, (long long)b->uid_min);
			mr_buf_release(&ids);
		}
		lp->uid = uid == MR_UNSET ? MR_ID_UNSET : (uint32_t)uid;
		lp->gid = gid == MR_UNSET ? MR_ID_UNSET : (uint32_t)gid;
		lp->home = mr_line_field(l, MR_F_DOVECOT_HOME) && *mr_line_field(l, MR_F_DOVECOT_HOME) ? mr_line_field(l, MR_F_DOVECOT_HOME) : NULL;
		read_quota(b, l, mb);
	}
	/* the other direction: in Exim's list but Dovecot cannot log it in or deliver */
	for (size_t i = 0; i < b->m->ndomains; i++)
		for (size_t j = 0; j < b->m->domains[i]->nmailboxes; j++) {
			const struct mr_mailbox *mb = b->m->domains[i]->mailboxes[j];
			const struct mr_mailbox_live *lp = mr_mailbox_live(mb);
			if (lp->src_exim && !lp->src_dovecot)
				FINDING(b, MR_FILE_EXIM_PASSWD, (const struct mr_line *)lp->src_exim,
					"mailbox '%s' is in %s but not in %s: it has no password and no storage",
					mb->address, b->lv->files[MR_FILE_EXIM_PASSWD].cf.path,
					b->lv->files[MR_FILE_DOVECOT_PASSWD].cf.path);
		}
}

/* Owners: the registry, else the Exim list, else the homes, else a /var/www/OWNER/data/email/D dir. */
static const char *scan_owner_dir(struct build *b, const char *domain)
{
	if (mr_check_domain(domain))
		return NULL;
	if (!b->www_listed) {
		b->www_listed = true;
		mr_root_list(b->lv->root, "/var/www", &b->www);
	}
	const char *found = NULL;
	size_t claims = 0;
	for (size_t i = 0; i < b->www.n; i++) {
		const char *owner = b->www.v[i];
		if (owner[0] == '.' || mr_check_user_name(owner))
			continue;
		struct mr_buf p = MR_BUF_INIT;
		mr_buf_addf(&p, "/var/www/%s/data/email/%s", owner, domain);
		struct stat st;
		/* reached without following a link, and itself a directory */
		if (mr_root_lstat(b->lv->root, p.ptr, &st) == 0 && S_ISDIR(st.st_mode) && claims++ == 0)
			found = mr_model_str(b->m, owner, strlen(owner));
		mr_buf_release(&p);
	}
	/* a tenant owns its tree and can make any directory in it: a domain two trees claim
	 * belongs to neither until a file says whose it is */
	if (claims > 1) {
		mr_diag_warning(b->f, mr_model_domain(b->m, domain)->loc,
				"domain '%s' has a directory in the mail trees of %zu users; its owner is not taken from them",
				domain, claims);
		found = NULL;
	}
	return found;
}

static void resolve_owners(struct build *b)
{
	struct mr_model *m = b->m;
	for (size_t i = 0; i < m->ndomains; i++) {
		struct mr_domain *d = m->domains[i];
		for (size_t j = 0; j < d->nmailboxes; j++) {
			struct mr_mailbox *mb = d->mailboxes[j];
			const struct mr_mailbox_live *lp = mr_mailbox_live(mb);
			const struct mr_line *ex = lp->src_exim, *dv = lp->src_dovecot;
			const char *eo = ex ? mr_line_field(ex, MR_F_PASSWD_OWNER) : NULL;
			const char *ho = lp->home ? mr_home_owner(m, lp->home, d->name, mb->name, d->owner) : NULL;
			if (lp->home && !ho)
				FINDING(b, MR_FILE_DOVECOT_PASSWD, dv,
					"the home of '%s' is not /var/www/OWNER/data/email/%s/%s", mb->address, d->name,
					mb->name);
			if (!d->owner)
				d->owner = eo ? eo : ho;
			if (eo && d->owner && strcmp(eo, d->owner) != 0)
				FINDING(b, MR_FILE_EXIM_PASSWD, ex, "mailbox '%s' says owner '%s' but domain '%s' belongs to '%s'",
					mb->address, eo, d->name, d->owner);
			if (ho && d->owner && strcmp(ho, d->owner) != 0)
				FINDING(b, MR_FILE_DOVECOT_PASSWD, dv,
					"the home of '%s' is below user '%s' but domain '%s' belongs to '%s'", mb->address, ho,
					d->name, d->owner);
		}
		if (!d->owner)
			d->owner_from_dir = (d->owner = scan_owner_dir(b, d->name)) != NULL;
		if (!d->owner) {
			mr_diag_warning(b->f, d->loc, "the owner of domain '%s' is unknown (no registry line, no mailbox home)",
					d->name);
			continue;
		}
		d->owner_loc = d->loc;
		if (!mr_model_user(m, d->owner)) {
			struct mr_user *dup;
			mr_model_add_user_borrowed(m, d->owner, d->loc, &dup);
		}
	}
}

static void read_disabled(struct build *b)
{
	struct mr_model *m = b->m;
	for (size_t i = 0; i < m->ndomains; i++) {
		struct mr_domain *d = m->domains[i];
		struct mr_user *u = d->owner ? mr_model_user(m, d->owner) : NULL;
		for (size_t j = 0; j < d->nmailboxes; j++) {
			struct mr_mailbox *mb = d->mailboxes[j];
			const struct mr_mailbox_live *lp = mr_mailbox_live(mb);
			const struct mr_line *ex = lp->src_exim, *dv = lp->src_dovecot;
			bool effective = mb->disabled || d->disabled || (u && u->disabled);
			const char *why = ex ? mr_line_field(ex, MR_F_PASSWD_DISABLED) : NULL;
			if (ex && !ex->disabled) {
				const char *want = mb->disabled ? "self" : d->disabled ? "domain" : u && u->disabled ? "user" : NULL;
				if ((want == NULL) != (why == NULL) || (want && strcmp(want, why) != 0))
					FINDING(b, MR_FILE_EXIM_PASSWD, ex,
						"mailbox '%s' says disabled=%s, but by its domain and owner it should be %s%s",
						mb->address, why ? why : "(none)", want ? "disabled=" : "enabled", want ? want : "");
			}
			if (dv && dv->disabled != effective && !(dv->disabled && mb->disabled))
				FINDING(b, MR_FILE_DOVECOT_PASSWD, dv, "mailbox '%s' is %s in Dovecot but %s for Exim",
					mb->address, dv->disabled ? "disabled" : "enabled", effective ? "disabled" : "enabled");
		}
	}
}

/*
 * The aliases file's lines name mailboxes in no order the map follows: the first pass
 * fetches, MR_STRMAP_AHEAD lines ahead, the mailbox map slot of each line's main address
 * (in am) and, for an alias, of its own address in the mailbox and the alias maps (in
 * ak); half way, the mailbox found for the main address.
 */
static void aliases_ahead(struct build *b, const struct mr_codec_file *cf, size_t li, struct mr_strmap_ahead *am,
			  struct mr_strmap_ahead *ak)
{
	const struct mr_strmap *map = &b->m->mailbox_map;
	if (li + MR_STRMAP_AHEAD < cf->nlines) {
		const struct mr_line *n = &cf->lines[li + MR_STRMAP_AHEAD];
		const char *ma = n->kind == MR_LINE_RECORD ? mr_line_field(n, MR_F_ALIAS_MAIN) : NULL;
		const char *type = ma ? mr_line_field(n, MR_F_ALIAS_TYPE) : NULL;
		if (ma)
			mr_strmap_ahead(am, li + MR_STRMAP_AHEAD, map, NULL, ma, strlen(ma));
		if (type && strcmp(type, "fwd") == 0)
			mr_strmap_ahead(ak, li + MR_STRMAP_AHEAD, map, &b->aliases, mr_line_key(n), strlen(mr_line_key(n)));
	}
	if (li + MR_STRMAP_AHEAD / 2 < cf->nlines) {
		const struct mr_line *n = &cf->lines[li + MR_STRMAP_AHEAD / 2];
		const char *ma = n->kind == MR_LINE_RECORD ? mr_line_field(n, MR_F_ALIAS_MAIN) : NULL;
		size_t s = ma ? mr_strmap_ahead_peek(am, li + MR_STRMAP_AHEAD / 2, map, ma) : SIZE_MAX;
		if (s != SIZE_MAX)
			__builtin_prefetch(map->slots[s].value);
	}
}

/* Aliases and copies: counted first, then filled, so each list is one arena block. */
static void read_aliases(struct build *b)
{
	enum mr_file_id id = MR_FILE_EXIM_ALIASES;
	struct mr_model *m = b->m;
	struct mr_codec_file *cf = &b->lv->files[id].cf;
	/* the first pass finds each line's mailbox, the second only uses what it found */
	struct mr_mailbox **found = xcalloc(cf->nlines ? cf->nlines : 1, sizeof(*found));
	struct mr_buf local = MR_BUF_INIT; /* an alias's local part, checked in the first pass */
	struct mr_strmap_ahead amain = MR_STRMAP_AHEAD_INIT, akey = MR_STRMAP_AHEAD_INIT;
	for (int pass = 0; pass < 2; pass++) {
		FOR_RECORDS(b, id, l) {
			size_t li = (size_t)(l - cf->lines);
			if (pass == 0)
				aliases_ahead(b, cf, li, &amain, &akey);
			else if (li + MR_STRMAP_AHEAD < cf->nlines && found[li + MR_STRMAP_AHEAD])
				__builtin_prefetch(found[li + MR_STRMAP_AHEAD]);
			if (pass == 1 && !found[li])
				continue;
			if (!first_active(b, id, l))
				continue;
			bool fwd = strcmp(mr_line_field(l, MR_F_ALIAS_TYPE), "fwd") == 0;
			const char *main_addr = mr_line_field(l, MR_F_ALIAS_MAIN);
			size_t mlen = pass == 0 ? strlen(main_addr) : 0;
			struct mr_mailbox *mb = pass == 1 ? found[li]
				: mr_strmap_get_hashed(&m->mailbox_map, main_addr, mlen, mr_strmap_ahead_hash(&amain, li, main_addr, mlen));
			if (!mb) {
				if (pass == 0)
					FINDING(b, id, l, "%s '%s' points at '%s', which is not a mailbox", fwd ? "alias" : "copy target",
						mr_line_key(l), main_addr);
				continue;
			}
			struct mr_items *list = fwd ? &mb->aliases : &mb->copy_to;
			const char *item = mr_line_key(l);
			if (fwd && pass == 1) {
				/* the item is the local part: copied once, for a line that passed the checks */
				item = mr_model_str(m, mr_line_key(l), (size_t)(strrchr(mr_line_key(l), '@') - mr_line_key(l)));
			} else if (fwd) {
				const char *at = strrchr(mr_line_key(l), '@');
				mr_buf_reset(&local);
				mr_buf_add(&local, mr_line_key(l), (size_t)(at - mr_line_key(l)));
				if (strcmp(at + 1, mb->domain->name) != 0) {
					FINDING(b, id, l, "alias '%s' is not in the domain of its mailbox '%s'", mr_line_key(l), main_addr);
					continue;
				}
				if (mr_check_mailbox_name(local.ptr)) {
					FINDING(b, id, l, "alias '%s' is not a name mailrecon can manage; ignored", mr_line_key(l));
					continue;
				}
				size_t klen = strlen(mr_line_key(l));
				uint64_t kh = mr_strmap_ahead_hash(&akey, li, mr_line_key(l), klen);
				if (mr_strmap_get_hashed(&m->mailbox_map, mr_line_key(l), klen, kh)) {
					FINDING(b, id, l, "alias '%s' is also a mailbox; the mailbox wins", mr_line_key(l));
					continue;
				}
				const struct mr_line *prev = mr_strmap_put_new_hashed(&b->aliases, mr_line_key(l), klen, l, kh);
				if (prev) {
					FINDING(b, id, l, "alias '%s' is already on line %u; this line is ignored", mr_line_key(l),
						prev->lineno);
					continue;
				}
			} else if (strcmp(mr_line_key(l), main_addr) == 0) {
				if (pass == 0)
					FINDING(b, id, l, "mailbox '%s' sends a copy to itself; ignored", main_addr);
				continue;
			}
			if (pass == 0) {
				list->n++;
				found[li] = mb;
			} else {
				if (!list->v) {
					list->v = mr_model_items(m, list->n);
					list->n = 0;
				}
				list->v[list->n].s = item;
				list->v[list->n].loc = lloc(b->lv, id, l);
				list->n++;
			}
		}
	}
	free(found);
	mr_buf_release(&local);
	for (size_t i = 0; i < m->ndomains; i++)
		for (size_t j = 0; j < m->domains[i]->nmailboxes; j++) {
			struct mr_mailbox *mb = m->domains[i]->mailboxes[j];
			if (!mb->keep_copy && mb->copy_to.n == 0) {
				FINDING(b, MR_FILE_EXIM_PASSWD, (const struct mr_line *)mr_mailbox_live(mb)->src_exim,
					"mailbox '%s' keeps no copy (save=no) and sends none: its mail goes nowhere",
					mb->address);
			}
		}
}

/* The aliases (type fwd) among a file's records: what read_aliases puts in its map. */
static size_t count_aliases(const struct mr_codec_file *cf)
{
	size_t n = 0;
	for (size_t i = 0; i < cf->nlines; i++) {
		const struct mr_line *l = &cf->lines[i];
		const char *t = l->kind == MR_LINE_RECORD ? mr_line_field(l, MR_F_ALIAS_TYPE) : NULL;
		n += t && strcmp(t, "fwd") == 0;
	}
	return n;
}

/* Where unknown addresses go must exist, or Exim bounces them after accepting. */
static void check_actions(struct build *b)
{
	struct mr_model *m = b->m;
	for (size_t i = 0; i < m->ndomains; i++) {
		struct mr_domain *d = m->domains[i];
		if (d->implicit)
			continue;
		const struct mr_line *l = mr_codec_find(&b->lv->files[MR_FILE_EXIM_DOMAINS].cf, d->name);
		if (!l)
			continue; /* disabled: nothing is routed */
		if (d->action == MR_ACTION_FORWARD) {
			const char *at = strrchr(d->action_target, '@');
			if (mr_model_domain(m, at + 1) && !mr_model_mailbox(m, d->action_target) &&
			    !mr_strmap_get(&b->aliases, d->action_target, strlen(d->action_target)))
				FINDING(b, MR_FILE_EXIM_DOMAINS, l,
					"unknown addresses of '%s' go to '%s', which is neither a mailbox nor an alias",
					d->name, d->action_target);
		} else if (d->action == MR_ACTION_REDIRECT_DOMAIN && !mr_model_domain(m, d->action_target)) {
			FINDING(b, MR_FILE_EXIM_DOMAINS, l, "unknown addresses of '%s' go to domain '%s', which is not a mail domain here",
				d->name, d->action_target);
		}
	}
}

static void read_ratelimits(struct build *b)
{
	enum mr_file_id id = MR_FILE_EXIM_RATELIMITS;
	FOR_RECORDS(b, id, l) {
		if (!first_active(b, id, l))
			continue;
		int64_t v;
		mr_codec_parse_uint(mr_line_field(l, MR_F_RATE_VALUE), 1000000000, &v);
		if (strcmp(mr_line_key(l), "*") == 0) {
			b->m->server.rate_per_hour = v;
			b->m->server.rate_loc = lloc(b->lv, id, l);
			b->m->server.declared = true;
		} else if (strchr(mr_line_key(l), '@')) {
			struct mr_mailbox *mb = mr_model_mailbox(b->m, mr_line_key(l));
			if (mb)
				mb->rate_per_hour = v;
			else
				FINDING(b, id, l, "send limit for '%s', which is not a mailbox", mr_line_key(l));
		} else {
			struct mr_user *u = mr_model_user(b->m, mr_line_key(l));
			if (u) {
				u->limits.rate_per_hour = v;
				u->limits.rate_loc = lloc(b->lv, id, l);
			} else {
				FINDING(b, id, l, "send limit for user '%s', who owns no domain and has no registry line",
					mr_line_key(l));
			}
		}
	}
}

static void read_domainips(struct build *b)
{
	enum mr_file_id id = MR_FILE_EXIM_DOMAINIPS;
	FOR_RECORDS(b, id, l) {
		if (!first_active(b, id, l))
			continue;
		struct mr_domain *d = mr_model_domain(b->m, mr_line_key(l));
		if (!d) {
			FINDING(b, id, l, "outgoing address for '%s', which is not a mail domain", mr_line_key(l));
			continue;
		}
		d->ip = mr_line_field(l, MR_F_DOMAINIP_IP);
		d->ip_loc = lloc(b->lv, id, l);
	}
}

/* One whitelist: an entry in mailrecon's block turns a filter off; outside it, a finding. */
static void read_whitelist(struct build *b, enum mr_file_id id, const char *what)
{
	struct mr_codec_file *cf = &b->lv->files[id].cf;
	for (size_t i = 0; i < cf->nlines; i++) {
		struct mr_line *l = &cf->lines[i];
		if (!mr_line_key(l) || (l->kind != MR_LINE_RECORD && l->kind != MR_LINE_FOREIGN))
			continue;
		const char *key = mr_line_key(l);
		bool domain_entry = !strchr(key, '@') || strncmp(key, "*@", 2) == 0;
		if (strncmp(key, "*@", 2) == 0)
			key += 2;
		struct mr_domain *d = domain_entry ? mr_model_domain(b->m, key) : NULL;
		struct mr_mailbox *mb = domain_entry ? NULL : mr_model_mailbox(b->m, key);
		if (l->kind == MR_LINE_FOREIGN) {
			if (d || mb)
				FINDING(b, id, l,
					"'%s' is whitelisted outside mailrecon's block: %s is off for it, whatever the desired state says",
					mr_line_key(l), what);
			continue;
		}
		if (!first_active(b, id, l))
			continue;
		if (id == MR_FILE_CLAMAV) {
			if (d)
				d->antivirus = false;
		} else if (d) {
			if (id == MR_FILE_POSTGREY)
				d->greylisting = false;
			else
				d->spamassassin = false;
		} else if (mb) {
			if (id == MR_FILE_POSTGREY)
				mb->greylisting = false;
			else
				mb->spamassassin = false;
		}
		if (!d && !mb)
			FINDING(b, id, l, "'%s' in mailrecon's block is neither a mail domain nor a mailbox", mr_line_key(l));
	}
}

/* Mailbox lines of the registry: notes and who disabled a mailbox. */
static void read_notes(struct build *b)
{
	struct mr_codec_file *cf = &b->lv->files[MR_FILE_REGISTRY].cf;
	for (size_t i = 0; i < cf->nlines; i++) {
		struct mr_line *l = &cf->lines[i];
		if (l->kind != MR_LINE_RECORD || l->disabled || mr_line_field(l, MR_F_REG_KIND)[0] != 'm' ||
		    !first_active(b, MR_FILE_REGISTRY, l))
			continue;
		struct mr_mailbox *mb = mr_model_mailbox(b->m, mr_line_field(l, MR_F_REG_NAME));
		if (mb) {
			const char *note = mr_line_field(l, MR_F_REG_MAILBOX_NOTE);
			const char *by = disabled_by(b, l, mb->disabled, "mailbox", mb->address);
			if (note || by || mb->cold) {
				struct mr_mailbox_cold *cold = mr_mailbox_cold(b->m, mb);
				cold->note = note;
				cold->disabled_by = by;
			}
		} else {
			FINDING(b, MR_FILE_REGISTRY, l, "%s for '%s', which is not a mailbox",
				mr_line_field(l, MR_F_REG_MAILBOX_NOTE) ? "note" : "registry line", mr_line_field(l, MR_F_REG_NAME));
		}
	}
}

void mr_live_keys(struct mr_live *lv); /* live_keys.c: DKIM keys and certificates */

/*
 * Reading and parsing the files is half the work on a big server; it is spread over two
 * threads.  Each file has its own arena, key map and diagnostics, so the threads share
 * nothing but the counter that hands out the files, biggest first.
 */
struct read_task {
	struct mr_live *lv;
	atomic_size_t next;
	struct mr_diags findings[MR_FILE_COUNT];
	struct mr_diags errors[MR_FILE_COUNT];
};

static const enum mr_file_id read_order[MR_FILE_COUNT] = {
	MR_FILE_DOVECOT_PASSWD, MR_FILE_EXIM_PASSWD,      MR_FILE_EXIM_ALIASES, MR_FILE_REGISTRY,
	MR_FILE_EXIM_RATELIMITS, MR_FILE_EXIM_DOMAINS,   MR_FILE_SPAMASSASSIN, MR_FILE_POSTGREY,
	MR_FILE_EXIM_DOMAINIPS, MR_FILE_CLAMAV,
};

static void read_one(struct read_task *t, enum mr_file_id i, struct mr_buf *data, struct mr_buf *err)
{
	struct mr_live *lv = t->lv;
	struct mr_live_file *lf = &lv->files[i];
	const char *path = lf->cf.path;
	mr_buf_reset(err);
	int r = mr_root_read(lv->root, path, MR_LIVE_MAX_FILE, data, &lf->st, err);
	if (r == -ENOENT || r == -ENOTDIR)
		return;
	if (r < 0) {
		/* the message names the full path; the location names the file as configured */
		mr_diag_error(&t->errors[i], mr_loc_at(path, 0, 0), "%s", err->ptr);
		return;
	}
	lf->exists = true;
	size_t len = data->len;
	lf->len = len;
	/* what apply re-checks just before its switch: the parser cuts the bytes up in place */
	mr_sha256_raw(data->ptr ? data->ptr : "", len, lf->sha256);
	/* a file holding a private key gets no id: history never records one (apply/history.c
	 * take()), so the snapshot reads it again and leaves it out as before */
	if (lv->blob_ids && !mr_pem_has_private_key(data->ptr ? data->ptr : "", len)) {
		mr_git_blob_id(data->ptr ? data->ptr : "", len, lf->blob_id);
		lf->has_blob_id = true;
	}
	mr_codec_parse_owned(&lf->cf, mr_buf_detach(data), len, &t->findings[i]);
}

static void *read_worker(void *arg)
{
	struct read_task *t = arg;
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	size_t k;
	while ((k = atomic_fetch_add(&t->next, 1)) < MR_FILE_COUNT)
		read_one(t, read_order[k], &data, &err);
	mr_buf_release(&data);
	mr_buf_release(&err);
	return NULL;
}

static int read_files(struct mr_live *lv, struct mr_diags *errors)
{
	struct read_task t = { .lv = lv };
	atomic_init(&t.next, 0);
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		const struct mr_codec *c = mr_codecs[i];
		const char *path = mr_codec_path(c, lv->layout);
		mr_codec_file_init(&lv->files[i].cf, c, path);
		t.findings[i] = (struct mr_diags)MR_DIAGS_INIT;
		t.errors[i] = (struct mr_diags)MR_DIAGS_INIT;
	}
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, read_worker, &t) == 0;
	read_worker(&t);
	if (threaded)
		pthread_join(th, NULL);
	int rc = 0;
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		for (size_t j = 0; j < t.findings[i].n; j++)
			mr_diag_add(&lv->findings, t.findings[i].v[j].sev, t.findings[i].v[j].loc, "%s",
				    t.findings[i].v[j].msg);
		for (size_t j = 0; j < t.errors[i].n; j++)
			mr_diag_add(errors, t.errors[i].v[j].sev, t.errors[i].v[j].loc, "%s", t.errors[i].v[j].msg);
		if (t.errors[i].errors)
			rc = -1;
		mr_diags_release(&t.findings[i]);
		mr_diags_release(&t.errors[i]);
	}
	return rc;
}

int mr_live_load(struct mr_live *lv, const struct mr_live_opts *o, struct mr_diags *errors)
{
	memset(lv, 0, sizeof(*lv));
	mr_model_init(&lv->model);
	lv->model.live = true;
	lv->root = o->root;
	lv->findings = (struct mr_diags)MR_DIAGS_INIT;
	lv->layout = o->layout;
	lv->blob_ids = o->blob_ids;
	if (lv->layout == MR_LAYOUT_AUTO) {
		struct mr_buf err = MR_BUF_INIT;
		if (mr_layout_detect(lv->root, &lv->layout, &err) < 0) {
			mr_diag_error(errors, MR_LOC_NONE, "%s", err.ptr);
			mr_buf_release(&err);
			lv->layout = MR_LAYOUT_DEBIAN;
			for (size_t i = 0; i < MR_FILE_COUNT; i++)
				mr_codec_file_init(&lv->files[i].cf, mr_codecs[i], mr_codec_path(mr_codecs[i], lv->layout));
			return -1;
		}
	}
	if (read_files(lv, errors) < 0)
		return -1;
	struct build b = { .lv = lv, .m = &lv->model, .f = &lv->findings, .uid_min = mr_uid_min(lv->root, NULL) };
	/* size the model's maps once from the line counts: no rehash while reading.  A mailbox
	 * has a line in both passwd files, so the larger count is the usual number of mailboxes;
	 * one in a single file makes room for itself (a sum, or a margin over the larger, would
	 * double a 100,000-mailbox map that four fifths of its slots hold: 3 MiB more) */
	size_t ne = lv->files[MR_FILE_EXIM_PASSWD].cf.nlines, nd = lv->files[MR_FILE_DOVECOT_PASSWD].cf.nlines;
	mr_strmap_reserve(&lv->model.mailbox_map, ne > nd ? ne : nd);
	mr_strmap_reserve(&lv->model.domain_map, lv->files[MR_FILE_EXIM_DOMAINS].cf.nlines);
	mr_strmap_reserve(&b.reg_domain, lv->files[MR_FILE_REGISTRY].cf.nlines);
	mr_strmap_reserve(&b.aliases, count_aliases(&lv->files[MR_FILE_EXIM_ALIASES].cf));
	/*
	 * Each key map goes as soon as its last reader is done (mr_codec_find still answers,
	 * by walking the lines): the build's peak is the model made whole, and at 100,000
	 * mailboxes the maps it no longer needs were 5 MiB of it.  The domains file's map
	 * serves read_domains and check_actions; the passwd files' serve mailbox_of; the
	 * registry's is kept for the plan (plan/files.c); no other file's is read here.
	 */
	for (int i = 0; i < MR_FILE_COUNT; i++)
		if (i != MR_FILE_REGISTRY && i != MR_FILE_EXIM_DOMAINS && i != MR_FILE_EXIM_PASSWD &&
		    i != MR_FILE_DOVECOT_PASSWD)
			mr_codec_drop_keys(&lv->files[i].cf);
	read_registry(&b);
	read_domains(&b);
	read_exim_passwd(&b);
	read_dovecot(&b);
	mr_codec_drop_keys(&lv->files[MR_FILE_EXIM_PASSWD].cf);
	mr_codec_drop_keys(&lv->files[MR_FILE_DOVECOT_PASSWD].cf);
	resolve_owners(&b);
	read_disabled(&b);
	read_aliases(&b);
	check_actions(&b);
	mr_codec_drop_keys(&lv->files[MR_FILE_EXIM_DOMAINS].cf);
	mr_strmap_release(&b.aliases);
	read_ratelimits(&b);
	read_domainips(&b);
	read_whitelist(&b, MR_FILE_POSTGREY, "greylisting");
	read_whitelist(&b, MR_FILE_SPAMASSASSIN, "SpamAssassin");
	read_whitelist(&b, MR_FILE_CLAMAV, "antivirus scanning");
	read_notes(&b);
	mr_live_keys(lv);
	if (o->state_dir)
		mr_dkim_state_load(lv, o->state_dir);
	mr_model_sort(&lv->model);
	mr_strmap_release(&b.reg_domain);
	mr_strmap_release(&b.reg_mailbox);
	mr_pathlist_release(&b.www);
	mr_diags_sort(&lv->findings);
	return 0;
}

void mr_live_release(struct mr_live *lv)
{
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		mr_codec_file_release(&lv->files[i].cf);
	}
	mr_model_release(&lv->model);
	mr_diags_release(&lv->findings);
	mr_strmap_release(&lv->key_files);
	for (int id = 0; id < MR_CONF_COUNT; id++)
		free(lv->conf[id]);
	memset(lv, 0, sizeof(*lv));
}
