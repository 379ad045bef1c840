/*
 * scope: the target model, and the rules of --scope USER (design sections 2 and 7).
 *
 * The target is what the live server should become: the desired objects inside the scope
 * and the live objects outside it, so nothing outside the scope is ever changed or
 * deleted.  A scoped file speaks for its user only, so everything that decides what the
 * scope may do is read from the live state, never from the file:
 *
 *   - the scope user must be live; its role, reseller, account, disabled flag and limits
 *     are the live ones, and a file that writes another value for them is refused;
 *   - a user's scope holds its own objects; a reseller's also those of the users whose live
 *     reseller it is, and new users (who become its users: not a system account that exists
 *     already, which only an administrator gives a reseller); an admin's everything.  A live
 *     domain whose owner is known only from a /var/www/OWNER/data/email/DOMAIN directory (a
 *     tenant can make one in its tree) is in an admin's scope only;
 *   - the limits of every user and reseller hold on the target (a reseller's over all its
 *     users, those outside this run included), unless the run does not raise a count that
 *     is over already; a mailbox's send limit stays within its owner's live one;
 *   - an object disabled by D (registry disabled_by=D) is enabled or deleted only by D, an
 *     admin, or D's reseller.
 *
 * A violation is an error at the place in the desired state that causes it, and the result
 * is MR_PLAN_REFUSED.  Without --scope only the bookkeeping runs: who disabled what.  A
 * scoped run also sees only the live findings about its objects (mr_plan_scope_findings).
 */
#include <string.h>

#include "load/emit.h"
#include "model/names.h"
#include "plan/plan.h"
#include "util/xalloc.h"

struct sc {
	const struct mr_model *d, *l; /* desired, live */
	struct mr_model *t;
	struct mr_diags *errors;
	const char *name;          /* the scope user; NULL: no scope */
	const struct mr_user *self; /* ... in the live model */
	enum mr_role role;         /* its live role (admin without a scope) */
	const char *by;            /* disabled_by for what this run disables */
	const struct mr_accounts *accounts; /* ROOT/etc/passwd; NULL: not known */
	int rc;
};

#define VIOLATION(s, loc, ...)                                         \
	do {                                                           \
		mr_diag_error((s)->errors, (loc), __VA_ARGS__);        \
		(s)->rc = MR_PLAN_REFUSED;                             \
	} while (0)

static bool s_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool written(struct mr_loc loc)
{
	return loc.line != 0;
}

/*
 * Whether objects owned by owner are in the scope: by the live relations, as import has it,
 * and in a reseller's scope also a user that is not live but declared here (it becomes the
 * reseller's user, see check_user).
 */
static bool in_scope(const struct sc *s, const char *owner)
{
	if (mr_scope_covers(s->l, s->name, owner))
		return true;
	return s->role == MR_ROLE_RESELLER && owner && !mr_model_user(s->l, owner) && mr_model_user(s->d, owner);
}

/* ---- the scope user and the users a scope declares ---- */

static const char *limit_s(struct sc *s, int64_t v)
{
	return v == MR_UNSET ? "unlimited" : mr_arena_printf(&s->t->arena, "%lld", (long long)v);
}

static void own_field(struct sc *s, struct mr_loc loc, const char *field, const char *live, const char *file)
{
	VIOLATION(s, loc, "user '%s' cannot change its own %s in its scope (live: %s, here: %s)", s->name, field, live,
		  file);
}

/* The scope user's file may repeat its live role, reseller, account, disabled flag and limits,
 * never change them; what it does not write is taken from the live state. */
static void check_self(struct sc *s, const struct mr_user *u)
{
	const struct mr_user *lu = s->self;
	if (written(u->role_loc) && u->role != lu->role)
		own_field(s, u->role_loc, "role", mr_role_name(lu->role), mr_role_name(u->role));
	if (written(u->reseller_loc) && !s_eq(u->reseller, lu->reseller))
		own_field(s, u->reseller_loc, "reseller", lu->reseller ? lu->reseller : "(none)", u->reseller);
	if (written(u->account_loc) && u->account != lu->account)
		own_field(s, u->account_loc, "account", mr_account_name(lu->account), mr_account_name(u->account));
	if (written(u->disabled_loc) && u->disabled != lu->disabled)
		own_field(s, u->disabled_loc, "disabled flag", lu->disabled ? "true" : "false",
			  u->disabled ? "true" : "false");
	const struct mr_limits *a = &lu->limits, *b = &u->limits;
	if (written(b->mail_domains_loc) && b->mail_domains != a->mail_domains)
		own_field(s, b->mail_domains_loc, "limits.mail_domains", limit_s(s, a->mail_domains),
			  limit_s(s, b->mail_domains));
	if (written(b->mailboxes_loc) && b->mailboxes != a->mailboxes)
		own_field(s, b->mailboxes_loc, "limits.mailboxes", limit_s(s, a->mailboxes), limit_s(s, b->mailboxes));
	if (written(b->rate_loc) && b->rate_per_hour != a->rate_per_hour)
		own_field(s, b->rate_loc, "limits.rate_per_hour", limit_s(s, a->rate_per_hour),
			  limit_s(s, b->rate_per_hour));
}

/* A declared user: the scope user itself, or one the scope may declare. */
static void check_user(struct sc *s, const struct mr_user *u)
{
	if (!s->name)
		return;
	if (strcmp(u->name, s->name) == 0) {
		check_self(s, u);
		return;
	}
	if (!in_scope(s, u->name)) {
		VIOLATION(s, u->loc, "user '%s' is outside the scope of '%s'", u->name, s->name);
		return;
	}
	if (s->role != MR_ROLE_RESELLER)
		return;
	/* a new user becomes the reseller's: not a system account that exists already (another
	 * tenant of the panel, an operator's login), which would come with its files and homes */
	if (!mr_model_user(s->l, u->name) && s->accounts && mr_sysaccount_get(s->accounts, u->name))
		VIOLATION(s, u->loc, "user '%s' has a system account; an administrator must give it to '%s' first", u->name,
			  s->name);
	/* a reseller's users stay its users, with role user */
	if (u->role != MR_ROLE_USER)
		VIOLATION(s, u->role_loc, "user '%s' in the scope of reseller '%s' must have role user, not %s", u->name,
			  s->name, mr_role_name(u->role));
	if (u->reseller && strcmp(u->reseller, s->name) != 0)
		VIOLATION(s, u->reseller_loc, "user '%s' in the scope of reseller '%s' must belong to '%s', not '%s'",
			  u->name, s->name, s->name, u->reseller);
}

/* A declared domain: its owner, and its live owner, must be in the scope. */
static bool check_domain(struct sc *s, const struct mr_domain *dd)
{
	const struct mr_domain *ld = mr_model_domain(s->l, dd->name);
	if (!in_scope(s, dd->owner)) {
		VIOLATION(s, dd->owner_loc, "domain '%s' is declared for '%s', outside the scope of '%s'", dd->name,
			  dd->owner, s->name);
		return false;
	}
	if (ld && ld->owner_from_dir && !mr_scope_covers_domain(s->l, s->name, ld)) {
		VIOLATION(s, dd->loc,
			  "domain '%s' is live and its owner is known only from the directory /var/www/%s/data/email/%s, "
			  "which a tenant can make; only an administrator can declare it",
			  dd->name, ld->owner, dd->name);
		return false;
	}
	if (ld && !in_scope(s, ld->owner)) {
		VIOLATION(s, dd->loc, "domain '%s' is live and owned by '%s', outside the scope of '%s'; it cannot be declared here",
			  dd->name, ld->owner ? ld->owner : "(unknown)", s->name);
		return false;
	}
	return true;
}

/* ---- the target ---- */

struct mr_user *mr_plan_copy_user(struct mr_model *m, const struct mr_user *u)
{
	struct mr_user *dup;
	struct mr_user *n = mr_model_add_user(m, u->name, u->loc, &dup);
	if (!n)
		return NULL;
	const char *name = n->name;
	*n = *u;
	n->name = name;
	return n;
}

struct mr_domain *mr_plan_copy_domain(struct mr_model *m, const struct mr_domain *d, struct mr_mailbox *const *v,
				      size_t n)
{
	struct mr_domain *dup;
	struct mr_domain *x = mr_model_add_domain(m, d->name, d->loc, &dup);
	if (!x)
		return NULL;
	const char *name = x->name;
	*x = *d;
	x->name = name;
	/* mailboxes are shared with the source model, read only; the map is m's */
	x->mailboxes = n ? (struct mr_mailbox **)xmemdup(v, n * sizeof(*v)) : NULL;
	x->nmailboxes = x->mailboxes_cap = n;
	return x;
}


/*
 * Who disabled an object the run keeps or makes disabled: whoever the live state says when
 * it is disabled already (unknown stays unknown), else this run.  A desired model read from
 * live files (drift, rollback) brings its own.
 */
static const char *disabled_by(const struct sc *s, bool disabled, const char *desired_by, bool live_disabled,
			       const char *live_by)
{
	if (!disabled)
		return NULL;
	if (desired_by)
		return desired_by;
	return live_disabled ? live_by : s->by;
}

/* disabled_by of a desired mailbox in the target: *by, false when it is not the mailbox's own */
static bool mailbox_by(const struct sc *s, const struct mr_mailbox *mb, const char **by)
{
	*by = mr_mailbox_disabled_by(mb);
	if (!mb->disabled)
		return true;
	const struct mr_mailbox *lm = mr_model_mailbox(s->l, mb->address);
	*by = disabled_by(s, true, mr_mailbox_disabled_by(mb), lm && lm->disabled, lm ? mr_mailbox_disabled_by(lm) : NULL);
	return s_eq(*by, mr_mailbox_disabled_by(mb));
}

/* disabled_by of the desired mailboxes of target domain n; a changed one gets its own copy.
 * Returns how many did. */
static size_t mailboxes_disabled_by(struct sc *s, struct mr_domain *n)
{
	size_t copies = 0;
	for (size_t j = 0; j < n->nmailboxes; j++) {
		const struct mr_mailbox *mb = n->mailboxes[j];
		const char *by;
		if (mailbox_by(s, mb, &by))
			continue;
		struct mr_mailbox *copy = mr_mailbox_copy(s->t, mb);
		mr_mailbox_cold(s->t, copy)->disabled_by = by;
		n->mailboxes[j] = copy;
		copies++;
	}
	return copies;
}

/* Whether d's mailboxes are in the canonical order (mr_model_sort's: by name, each name once
 * in a domain), so that a target can list d's own array. */
static bool mailboxes_sorted(const struct mr_domain *d)
{
	for (size_t j = 1; j < d->nmailboxes; j++)
		if (strcmp(d->mailboxes[j - 1]->name, d->mailboxes[j]->name) >= 0)
			return false;
	return true;
}

/*
 * Domain d of an input model as it is, in target t: the struct, its mailbox array and its
 * mailboxes stay the input model's, read only (mr_plan_target_release frees none of them).
 * A 100,000-mailbox target that copied every domain and array took 5 MiB more.
 */
static void share_domain(struct mr_model *t, const struct mr_domain *d)
{
	if (mr_strmap_put_new(&t->domain_map, d->name, strlen(d->name), (void *)d))
		return; /* has the name already, as mr_plan_copy_domain */
	t->domains = xgrow(t->domains, sizeof(*t->domains), t->ndomains + 1, &t->domains_cap);
	t->domains[t->ndomains++] = (struct mr_domain *)d;
}

/* A desired domain in the target: as it is when the run changes nothing in it, else a copy
 * with its own mailbox array, in canonical order. Returns the mailbox copies made. */
static size_t target_domain(struct sc *s, const struct mr_domain *dd, const struct mr_domain *ld)
{
	const char *by = disabled_by(s, dd->disabled, dd->disabled_by, ld && ld->disabled, ld ? ld->disabled_by : NULL);
	bool same = s_eq(by, dd->disabled_by) && mailboxes_sorted(dd);
	for (size_t j = 0; same && j < dd->nmailboxes; j++) {
		const char *mby;
		same = mailbox_by(s, dd->mailboxes[j], &mby);
	}
	if (same) {
		share_domain(s->t, dd);
		return 0;
	}
	struct mr_domain *n = mr_plan_copy_domain(s->t, dd, dd->mailboxes, dd->nmailboxes);
	n->disabled_by = by;
	mr_domain_sort_mailboxes(n);
	return mailboxes_disabled_by(s, n);
}

static void build(struct sc *s)
{
	const struct mr_model *d = s->d, *l = s->l;
	struct mr_model *t = s->t;
	t->server = s->name && s->role != MR_ROLE_ADMIN ? l->server : d->server;
	for (size_t i = 0; i < d->nusers; i++) {
		const struct mr_user *u = d->users[i];
		check_user(s, u);
		if (s->name && strcmp(u->name, s->name) == 0) {
			/* the scope user as it is live; the file's place for messages */
			mr_plan_copy_user(t, s->self)->loc = u->loc;
			continue;
		}
		if (!in_scope(s, u->name))
			continue; /* refused above; the target keeps the live user */
		struct mr_user *n = mr_plan_copy_user(t, u);
		const struct mr_user *lu = mr_model_user(l, u->name);
		n->disabled_by = disabled_by(s, u->disabled, u->disabled_by, lu && lu->disabled, lu ? lu->disabled_by : NULL);
		if (s->name && s->role == MR_ROLE_RESELLER && !u->reseller)
			n->reseller = s->name;
	}
	if (s->name && !mr_model_user(t, s->name))
		mr_plan_copy_user(t, s->self); /* never deleted from its own scope */
	for (size_t i = 0; i < l->nusers; i++)
		if (!in_scope(s, l->users[i]->name) && !mr_model_user(t, l->users[i]->name))
			mr_plan_copy_user(t, l->users[i]);
	/* the target's mailboxes are the desired model's, each the same, when every desired domain
	 * is in it, no live one is and no mailbox was copied: then so is its map */
	bool desired_map = true;
	for (size_t i = 0; i < d->ndomains; i++) {
		const struct mr_domain *dd = d->domains[i];
		if (s->name && !check_domain(s, dd)) {
			desired_map = false;
			continue; /* refused; the target keeps the live domain */
		}
		if (target_domain(s, dd, mr_model_domain(l, dd->name)))
			desired_map = false;
	}
	for (size_t i = 0; i < l->ndomains; i++) {
		const struct mr_domain *ld = l->domains[i];
		if (mr_scope_covers_domain(l, s->name, ld) || mr_model_domain(t, ld->name))
			continue;
		desired_map = false;
		/* the live model is in canonical order (codec/live.c) */
		if (mailboxes_sorted(ld)) {
			share_domain(t, ld);
		} else {
			struct mr_domain *n = mr_plan_copy_domain(t, ld, ld->mailboxes, ld->nmailboxes);
			mr_domain_sort_mailboxes(n);
		}
	}
	size_t nmb = 0;
	for (size_t i = 0; i < t->ndomains; i++)
		nmb += t->domains[i]->nmailboxes;
	if (desired_map && t->ndomains == d->ndomains && nmb == d->mailbox_map.count) {
		/* shared, read only: mr_plan_target_release leaves it to d */
		t->mailbox_map = d->mailbox_map;
	} else {
		mr_strmap_reserve(&t->mailbox_map, nmb); /* at its size: no rehash of 100,000 keys */
		mr_model_put_mailboxes(t);
	}
	/* canonical order, as mr_model_sort's; the mailbox arrays are in it already, so nothing
	 * is written into a shared one */
	mr_model_sort_top(t);
}

void mr_plan_target_release(struct mr_model *t, const struct mr_plan_input *in)
{
	const struct mr_model *d = in->desired, *l = &in->live->model;
	/* what t shares is the input models': a domain's mailbox array that is theirs, and d's
	 * mailbox map; the rest goes as any model's */
	for (size_t i = 0; i < t->ndomains; i++) {
		const struct mr_domain *x = t->domains[i];
		const struct mr_domain *dd = mr_model_domain(d, x->name), *ld = mr_model_domain(l, x->name);
		if ((dd && dd->mailboxes == x->mailboxes) || (ld && ld->mailboxes == x->mailboxes))
			continue;
		free(x->mailboxes);
	}
	t->ndomains = 0; /* freed above */
	if (t->mailbox_map.slots && t->mailbox_map.slots == d->mailbox_map.slots)
		t->mailbox_map = (struct mr_strmap)MR_STRMAP_INIT;
	mr_model_release(t);
}

/* ---- limits ---- */

struct tally {
	size_t domains, mailboxes;
};

/* Per owner, and per reseller over its users: what model m holds. */
struct tallies {
	struct mr_arena arena;
	struct mr_strmap own, sum;
};

static struct tally *tally_of(struct tallies *ts, struct mr_strmap *map, const char *name)
{
	struct tally *x = mr_strmap_get(map, name, strlen(name));
	if (!x) {
		x = mr_arena_zalloc(&ts->arena, sizeof(*x));
		mr_strmap_put_new(map, name, strlen(name), x);
	}
	return x;
}

static void tally_model(struct tallies *ts, const struct mr_model *m)
{
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		if (!d->owner)
			continue;
		struct tally *x = tally_of(ts, &ts->own, d->owner);
		x->domains++;
		x->mailboxes += d->nmailboxes;
	}
	for (size_t i = 0; i < m->nusers; i++) {
		const struct mr_user *u = m->users[i];
		const struct tally *x = mr_strmap_get(&ts->own, u->name, strlen(u->name));
		if (!u->reseller || !x)
			continue;
		struct tally *r = tally_of(ts, &ts->sum, u->reseller);
		r->domains += x->domains;
		r->mailboxes += x->mailboxes;
	}
}

static void tallies_release(struct tallies *ts)
{
	mr_strmap_release(&ts->own);
	mr_strmap_release(&ts->sum);
	mr_arena_release(&ts->arena);
}

/* Whether objects owned by owner count for u (u itself, or u's users when u is a reseller). */
static bool counts_for(const struct mr_model *m, const struct mr_user *u, const char *owner)
{
	if (!owner)
		return false;
	if (u->role != MR_ROLE_RESELLER)
		return strcmp(owner, u->name) == 0;
	const struct mr_user *o = mr_model_user(m, owner);
	return o && o->reseller && strcmp(o->reseller, u->name) == 0;
}

/*
 * Where a count of u goes over: of the desired domains (mail_domains) or mailboxes that this
 * run adds to u's count, the first that does not fit (the first when none did), else the
 * first desired domain that counts for u.
 */
static struct mr_loc over_loc(const struct sc *s, const struct mr_user *u, bool mailboxes, size_t fit)
{
	struct mr_loc any = MR_LOC_NONE, added = MR_LOC_NONE;
	size_t n = 0;
	for (size_t i = 0; i < s->t->ndomains; i++) {
		const struct mr_domain *td = s->t->domains[i];
		const struct mr_domain *dd = mr_model_domain(s->d, td->name);
		if (!dd || !counts_for(s->t, u, td->owner))
			continue;
		const struct mr_domain *ld = mr_model_domain(s->l, td->name);
		bool counted = ld && counts_for(s->l, u, ld->owner);
		if (!written(any))
			any = dd->loc;
		if (!mailboxes) {
			if (counted)
				continue; /* not added by this run */
			added = dd->loc;
			if (n++ == fit)
				return added;
			continue;
		}
		for (size_t j = 0; j < dd->nmailboxes; j++) {
			if (counted && mr_model_mailbox(s->l, dd->mailboxes[j]->address))
				continue;
			added = dd->mailboxes[j]->loc;
			if (n++ == fit)
				return added;
		}
	}
	if (written(added))
		return added;
	if (!written(any)) {
		const struct mr_user *du = mr_model_user(s->d, u->name);
		if (du)
			any = du->loc;
	}
	return any;
}

static void check_limit(struct sc *s, const struct mr_user *u, bool mailboxes, size_t now, size_t before)
{
	int64_t limit = mailboxes ? u->limits.mailboxes : u->limits.mail_domains;
	/* a count already over (an administrator lowered the limit) may stay, not grow */
	if (limit == MR_UNSET || now <= (size_t)limit || now <= before)
		return;
	size_t fit = before < (size_t)limit ? (size_t)limit - before : 0;
	bool res = u->role == MR_ROLE_RESELLER;
	VIOLATION(s, over_loc(s, u, mailboxes, fit), "%s '%s' would own %zu %s, over the limit of %lld (limits.%s)",
		  res ? "the users of reseller" : "user", u->name, now, mailboxes ? "mailboxes" : "mail domains",
		  (long long)limit, mailboxes ? "mailboxes" : "mail_domains");
}

static void check_limits(struct sc *s)
{
	struct tallies now = { 0 }, before = { 0 };
	tally_model(&now, s->t);
	tally_model(&before, s->l);
	static const struct tally zero;
	for (size_t i = 0; i < s->t->nusers; i++) {
		const struct mr_user *u = s->t->users[i];
		if (u->limits.mail_domains == MR_UNSET && u->limits.mailboxes == MR_UNSET)
			continue;
		bool res = u->role == MR_ROLE_RESELLER;
		const struct tally *a = mr_strmap_get(res ? &now.sum : &now.own, u->name, strlen(u->name));
		const struct tally *b = mr_strmap_get(res ? &before.sum : &before.own, u->name, strlen(u->name));
		a = a ? a : &zero;
		b = b ? b : &zero;
		check_limit(s, u, false, a->domains, b->domains);
		check_limit(s, u, true, a->mailboxes, b->mailboxes);
	}
	tallies_release(&now);
	tallies_release(&before);
}

/* ---- the files and variables a scoped state names ---- */

/*
 * A scoped file speaks for its user, and what it names is read as root: so it may name only
 * files below its own directory (a relative path, load/secret.h), never an absolute one (any
 * file below the root: another tenant's key, /etc/shadow) nor an {env:} variable (root's
 * environment is not the tenant's).  The loader did not read those (struct mr_load_opts.scoped):
 * no answer about them, not even whether they exist, comes before this refusal.
 */
static void check_secret_path(struct sc *s, struct mr_loc loc, const char *what, const char *owner_of,
			      const char *path)
{
	if (path && path[0] == '/')
		VIOLATION(s, loc,
			  "the %s of '%s' names the absolute path '%s': a --scope file may name only files below its own "
			  "directory (a relative path)",
			  what, owner_of, path);
}

static void check_secrets(struct sc *s)
{
	/* the server's default certificate serves every domain: only an admin's scope may name it,
	 * and then by the same rules as a domain's */
	const struct mr_ssl *srv = &s->d->server.ssl;
	if (srv->enabled && s->role != MR_ROLE_ADMIN)
		VIOLATION(s, srv->loc,
			  "the server's certificate (server.ssl) is the default of every domain: only an admin's "
			  "scope may declare it, not '%s' (%s)",
			  s->name, mr_role_name(s->role));
	else if (srv->enabled && srv->letsencrypt)
		VIOLATION(s, srv->cert_loc,
			  "the server's certificate is 'letsencrypt': certbot's tree %s is root's, and a --scope file "
			  "may name only files below its own directory",
			  MR_LETSENCRYPT_DIR);
	else if (srv->enabled && srv->cert == MR_CERT_FILES) {
		check_secret_path(s, srv->cert_loc, "certificate", "the server", srv->cert_path);
		check_secret_path(s, srv->key_loc, "certificate key", "the server", srv->key_path);
	}
	for (size_t i = 0; i < s->d->ndomains; i++) {
		const struct mr_domain *dd = s->d->domains[i];
		if (dd->ssl.enabled && dd->ssl.letsencrypt) {
			VIOLATION(s, dd->ssl.cert_loc,
				  "the certificate of '%s' is 'letsencrypt': certbot's tree %s is root's, and a --scope "
				  "file may name only files below its own directory",
				  dd->name, MR_LETSENCRYPT_DIR);
		} else if (dd->ssl.enabled && dd->ssl.cert == MR_CERT_FILES) {
			check_secret_path(s, dd->ssl.cert_loc, "certificate", dd->name, dd->ssl.cert_path);
			check_secret_path(s, dd->ssl.key_loc, "certificate key", dd->name, dd->ssl.key_path);
		}
		for (size_t j = 0; j < dd->nmailboxes; j++) {
			const struct mr_mailbox *mb = dd->mailboxes[j];
			const struct mr_password pw = mr_mailbox_password(mb), *p = &pw;
			if (p->kind == MR_PASSWORD_FILE)
				check_secret_path(s, p->loc, "password", mb->address, p->value);
			else if (p->kind == MR_PASSWORD_ENV)
				VIOLATION(s, p->loc,
					  "the password of '%s' names the environment variable '%s': a --scope file cannot (the "
					  "environment is root's); use {file: PATH} below the file's directory, or {hash: ...}",
					  mb->address, p->value);
		}
	}
}

/* ---- TLS server names ---- */

/* Whether target domain td is the desired domain dd (and not the live one kept for it). */
static bool from_desired(const struct mr_domain *td, const struct mr_domain *dd)
{
	return td && mr_loc_eq(td->loc, dd->loc);
}

/*
 * A TLS server name picks one certificate (the SNI files): the validator keeps the names of
 * the desired state apart; here, a declared domain's ssl alias may not be the name or the
 * alias of a domain outside the scope, nor its name that domain's alias.
 */
static void check_server_names(struct sc *s)
{
	const struct mr_model *t = s->t;
	struct mr_strmap names = MR_STRMAP_INIT, aliases = MR_STRMAP_INIT; /* of the domains outside */
	for (size_t j = 0; j < t->ndomains; j++) {
		const struct mr_domain *o = t->domains[j];
		if (mr_model_domain(s->d, o->name))
			continue; /* declared in this run: the validator's */
		mr_strmap_put_new(&names, o->name, strlen(o->name), (void *)o);
		if (o->ssl.enabled && o->ssl.alias)
			mr_strmap_put_new(&aliases, o->ssl.alias, strlen(o->ssl.alias), (void *)o);
	}
	for (size_t i = 0; (names.count || aliases.count) && i < s->d->ndomains; i++) {
		const struct mr_domain *dd = s->d->domains[i], *o;
		if (!from_desired(mr_model_domain(t, dd->name), dd))
			continue; /* refused: the live domain stays */
		const char *a = dd->ssl.enabled ? dd->ssl.alias : NULL;
		if (a && (o = mr_strmap_get(&names, a, strlen(a))) != NULL)
			VIOLATION(s, dd->ssl.alias_loc, "ssl alias '%s' is the name of domain '%s', outside the scope of '%s'",
				  a, o->name, s->name);
		else if (a && (o = mr_strmap_get(&aliases, a, strlen(a))) != NULL)
			VIOLATION(s, dd->ssl.alias_loc,
				  "ssl alias '%s' is also the ssl alias of domain '%s', outside the scope of '%s'", a, o->name,
				  s->name);
		if ((o = mr_strmap_get(&aliases, dd->name, strlen(dd->name))) != NULL)
			VIOLATION(s, dd->loc, "domain '%s' is the ssl alias of domain '%s', outside the scope of '%s'",
				  dd->name, o->name, s->name);
	}
	mr_strmap_release(&names);
	mr_strmap_release(&aliases);
}

/* ---- send limits ---- */

/*
 * Exim reads a mailbox's own send limit before its owner's (docs/formats.md, exim-ratelimits),
 * so in a user's or a reseller's scope a mailbox's rate_per_hour may not go over its owner's
 * live limits.rate_per_hour when that is set (0 or 1: the owner's mailboxes cannot send, as
 * contrib's Exim ACL refuses both).  A live mailbox already over it (an administrator's doing)
 * may keep its rate, not raise it.
 */
static void check_rates(struct sc *s)
{
	if (s->role == MR_ROLE_ADMIN)
		return;
	for (size_t i = 0; i < s->d->ndomains; i++) {
		const struct mr_domain *dd = s->d->domains[i];
		const struct mr_user *lu = dd->owner && in_scope(s, dd->owner) ? mr_model_user(s->l, dd->owner) : NULL;
		if (!lu || lu->limits.rate_per_hour == MR_UNSET)
			continue;
		int64_t limit = lu->limits.rate_per_hour;
		for (size_t j = 0; j < dd->nmailboxes; j++) {
			const struct mr_mailbox *mb = dd->mailboxes[j];
			if (mb->rate_per_hour == MR_UNSET || mb->rate_per_hour <= limit)
				continue;
			const struct mr_mailbox *lm = mr_model_mailbox(s->l, mb->address);
			if (lm && lm->rate_per_hour == mb->rate_per_hour && lm->domain->owner &&
			    strcmp(lm->domain->owner, dd->owner) == 0)
				continue;
			VIOLATION(s, written(mr_mailbox_rate_loc(mb)) ? mr_mailbox_rate_loc(mb) : mb->loc,
				  "rate_per_hour %lld of '%s' is over the send limit of its owner '%s' (limits.rate_per_hour: "
				  "%lld%s)",
				  (long long)mb->rate_per_hour, mb->address, dd->owner, (long long)limit,
				  limit <= 1 ? ", its mailboxes cannot send" : "");
		}
	}
}

/* ---- what someone else disabled ---- */

/* Whether the scope may enable (or delete) what `by` disabled: its own doing, its users' when
 * it is a reseller, anyone's when it is an admin; root's (a run without --scope) an admin's only. */
static bool may_undo(const struct sc *s, const char *by)
{
	if (strcmp(by, MR_USER_RESERVED) == 0)
		return s->role == MR_ROLE_ADMIN;
	return mr_scope_covers(s->l, s->name, by);
}

/*
 * A live object that stays disabled: in the target and disabled.  loc is its place in the
 * desired state (when it is declared) or else where its parent is declared, or else its
 * live line.
 */
static void keep_disabled(struct sc *s, const char *what, const char *name, const char *by, bool kept,
			  bool declared, struct mr_loc loc)
{
	if (kept || may_undo(s, by))
		return;
	VIOLATION(s, loc, "%s '%s' was disabled by '%s'; '%s' cannot %s it", what, name, by, s->name,
		  declared ? "enable" : "delete");
}

static void check_disabled(struct sc *s)
{
	const struct mr_model *l = s->l, *t = s->t, *d = s->d;
	for (size_t i = 0; i < l->nusers; i++) {
		const struct mr_user *lu = l->users[i];
		if (!lu->disabled || !lu->disabled_by)
			continue;
		const struct mr_user *tu = mr_model_user(t, lu->name), *du = mr_model_user(d, lu->name);
		keep_disabled(s, "user", lu->name, lu->disabled_by, tu && tu->disabled, tu != NULL, du ? du->loc : lu->loc);
	}
	for (size_t i = 0; i < l->ndomains; i++) {
		const struct mr_domain *ld = l->domains[i];
		const struct mr_domain *td = mr_model_domain(t, ld->name), *dd = mr_model_domain(d, ld->name);
		if (ld->disabled && ld->disabled_by)
			keep_disabled(s, "domain", ld->name, ld->disabled_by, td && td->disabled, td != NULL,
				      dd ? dd->loc : ld->loc);
		for (size_t j = 0; j < ld->nmailboxes; j++) {
			const struct mr_mailbox *lm = ld->mailboxes[j];
			if (!lm->disabled || !mr_mailbox_disabled_by(lm))
				continue;
			const struct mr_mailbox *tm = mr_model_mailbox(t, lm->address), *dm = mr_model_mailbox(d, lm->address);
			keep_disabled(s, "mailbox", lm->address, mr_mailbox_disabled_by(lm), tm && tm->disabled, tm != NULL,
				      dm ? dm->loc : dd ? dd->loc : lm->loc);
		}
	}
}

/* ---- findings ---- */

/* The live line of file f that the physical line `line` belongs to, or NULL. */
static const struct mr_line *line_at(const struct mr_codec_file *f, uint32_t line)
{
	size_t lo = 0, hi = f->nlines;
	while (lo < hi) { /* the last line whose lineno is <= line */
		size_t mid = lo + (hi - lo) / 2;
		if (f->lines[mid].lineno <= line)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &f->lines[lo - 1] : NULL;
}

/*
 * The object a live finding is about: the key of the live line it points at (an address, a
 * domain, a user; a registry line's name), or for a key file ssl/DOMAIN.EXT or
 * certs/DOMAIN.EXT its domain.  NULL when it is about no one object: a line that cannot be
 * read, a file as a whole.  buf holds a key file's domain.
 */
static const char *finding_object(const struct mr_live *lv, const struct mr_diag *d, char *buf, size_t n)
{
	const char *file = mr_loc_file(d->loc);
	if (!file)
		return NULL;
	for (int i = 0; i < MR_FILE_COUNT; i++) {
		const struct mr_codec_file *f = &lv->files[i].cf;
		if (!f->path || strcmp(f->path, file) != 0)
			continue;
		const struct mr_line *l = d->loc.line ? line_at(f, d->loc.line) : NULL;
		if (!l || !mr_line_key(l) || l->kind == MR_LINE_BAD)
			return NULL;
		const char *sp = i == MR_FILE_REGISTRY ? strchr(mr_line_key(l), ' ') : NULL; /* "KIND NAME" */
		return sp ? sp + 1 : mr_line_key(l);
	}
	static const char *const dirs[] = { "/etc/exim4/ssl/", "/etc/exim/ssl/", "/etc/dovecot/certs/", NULL };
	for (const char *const *dir = dirs; *dir; dir++) {
		size_t k = strlen(*dir);
		const char *dot = strrchr(file, '.');
		if (strncmp(file, *dir, k) != 0 || strchr(file + k, '/') || !dot || dot <= file + k ||
		    (size_t)(dot - file - k) >= n)
			continue;
		memcpy(buf, file + k, (size_t)(dot - file - k));
		buf[dot - file - k] = '\0';
		return buf;
	}
	return NULL;
}

bool mr_plan_finding_in_scope(const struct mr_live *lv, const char *scope, const struct mr_diag *d)
{
	const struct mr_model *m = &lv->model;
	const struct mr_user *self = scope ? mr_model_user(m, scope) : NULL;
	if (!scope || (self && self->role == MR_ROLE_ADMIN))
		return true;
	if (!self)
		return false;
	char buf[MR_DOMAIN_MAX + 1];
	const char *obj = finding_object(lv, d, buf, sizeof(buf));
	/* it must also name the object: a finding about the file (CRLF ends, say) is at some line */
	if (!obj || !strstr(d->msg, obj))
		return false;
	const char *at = strrchr(obj, '@');
	const struct mr_domain *ld = mr_model_domain(m, at ? at + 1 : obj);
	if (ld)
		return mr_scope_covers_domain(m, scope, ld);
	return !at && mr_model_user(m, obj) && mr_scope_covers(m, scope, obj);
}

void mr_plan_scope_findings(const struct mr_live *lv, const char *scope, struct mr_diags *out)
{
	for (size_t i = 0; i < lv->findings.n; i++) {
		const struct mr_diag *d = &lv->findings.v[i];
		if (mr_plan_finding_in_scope(lv, scope, d))
			mr_diag_add(out, d->sev, d->loc, "%s", d->msg);
	}
}

int mr_plan_target(struct mr_model *t, const struct mr_plan_input *in, struct mr_diags *errors)
{
	struct sc s = { .d = in->desired, .l = &in->live->model, .t = t, .errors = errors,
			.name = in->scope, .role = MR_ROLE_ADMIN, .by = in->scope ? in->scope : MR_USER_RESERVED,
			.accounts = in->accounts };
	if (s.name) {
		if (strcmp(s.name, MR_USER_RESERVED) == 0) {
			mr_diag_error(errors, MR_LOC_NONE, "--scope '%s': the name is reserved for runs without --scope",
				      s.name);
			return MR_PLAN_ERROR;
		}
		s.self = mr_model_user(s.l, s.name);
		if (!s.self) {
			/* a file cannot bring its own user into being: who it is comes from the live state */
			const struct mr_user *du = mr_model_user(s.d, s.name);
			mr_diag_error(errors, du ? du->loc : MR_LOC_NONE,
				      "scope user '%s' is not a live user (no registry line, no live domain)", s.name);
			return du ? MR_PLAN_REFUSED : MR_PLAN_ERROR;
		}
		s.role = s.self->role;
	}
	build(&s);
	if (s.name) {
		check_limits(&s);
		check_rates(&s);
		check_server_names(&s);
		check_secrets(&s);
		check_disabled(&s);
	}
	return s.rc;
}
