/*
 * diff: typed changes from the live model to the target model.
 *
 * The target is what the live server should become (scope.c): the desired objects inside
 * the scope, the live objects outside it.  Changes come out in a stable order: the server,
 * users by name, then each domain by name with its DKIM key, certificate and mailboxes by
 * name.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load/emit.h"
#include "model/names.h"
#include "plan/plan.h"
#include "util/xalloc.h"

const char *mr_change_action_name(enum mr_change_action a)
{
	static const char *const n[] = { "create", "update", "delete" };
	return n[a];
}

const char *mr_home_op_name(enum mr_home_op op)
{
	static const char *const n[] = { "make", "move", "restore", "archive", "purge" };
	return n[op];
}

const char *mr_object_name(enum mr_object o)
{
	static const char *const n[] = { "server", "user", "domain", "dkim", "certificate", "mailbox" };
	return n[o];
}

struct ctx {
	struct mr_plan *p;
	const struct mr_plan_input *in;
	struct mr_diags *errors;
	struct mr_model target;
	/* address -> hash to write, for a target mailbox whose password is not a hash (a hash
	 * is written as it is); absent: made at apply */
	struct mr_strmap hashes;
	/* the archive entries this plan's homes go to (archive_entry), keys in the plan's arena */
	struct mr_strmap archived;
	int rc;
};

/* The plan failed with rc; a refusal of --scope (exit 3) is never turned into an error. */
static void failed(struct ctx *c, int rc)
{
	if (c->rc != MR_PLAN_REFUSED)
		c->rc = rc;
}

/* ---- display values ---- */

static const char *pstr(struct ctx *c, const char *s)
{
	return s ? mr_arena_strdup(&c->p->arena, s) : NULL;
}


static const char *b2s(bool b)
{
	return b ? "true" : "false";
}

static const char *limit_s(struct ctx *c, int64_t v)
{
	return v == MR_UNSET ? "(not set)" : mr_arena_printf(&c->p->arena, "%lld", (long long)v);
}

static const char *size_s(struct ctx *c, int64_t v)
{
	if (v <= 0)
		return "unlimited";
	struct mr_buf b = MR_BUF_INIT;
	mr_emit_size(v, &b);
	const char *s = pstr(c, b.ptr);
	mr_buf_release(&b);
	return s;
}

static const char *action_s(struct ctx *c, const struct mr_domain *d)
{
	switch (d->action) {
	case MR_ACTION_REJECT:
		return "reject";
	case MR_ACTION_DISCARD:
		return "discard";
	case MR_ACTION_FORWARD:
		return mr_arena_printf(&c->p->arena, "forward to %s", d->action_target);
	default:
		return mr_arena_printf(&c->p->arena, "redirect to domain %s", d->action_target);
	}
}

static const char *list_s(struct ctx *c, const struct mr_items *it)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_addc(&b, '[');
	for (size_t i = 0; i < it->n; i++)
		mr_buf_addf(&b, "%s%s", i ? ", " : "", it->v[i].s);
	mr_buf_addc(&b, ']');
	const char *s = pstr(c, b.ptr);
	mr_buf_release(&b);
	return s;
}

/* ---- changes ---- */

static struct mr_change *change(struct ctx *c, enum mr_change_action a, enum mr_object o, const char *id,
				const char *domain)
{
	struct mr_plan *p = c->p;
	p->changes = xgrow(p->changes, sizeof(*p->changes), p->nchanges + 1, &p->cap);
	struct mr_change *ch = &p->changes[p->nchanges++];
	memset(ch, 0, sizeof(*ch));
	ch->action = a;
	ch->object = o;
	ch->id = pstr(c, id);
	ch->domain = pstr(c, domain);
	return ch;
}

static void attr(struct mr_change *ch, const char *name, const char *old, const char *new)
{
	ch->attrs = xgrow(ch->attrs, sizeof(*ch->attrs), ch->nattrs + 1, &ch->cap);
	ch->attrs[ch->nattrs++] = (struct mr_attr){ name, old, new };
}

/* An update change made only when some attribute differs. */
struct upd {
	struct ctx *c;
	enum mr_object o;
	const char *id, *domain;
	struct mr_change *ch;
};

static void diff_attr(struct upd *u, const char *name, const char *old, const char *new)
{
	if ((!old && !new) || (old && new && strcmp(old, new) == 0))
		return;
	if (!u->ch)
		u->ch = change(u->c, MR_CHANGE_UPDATE, u->o, u->id, u->domain);
	attr(u->ch, name, old, new);
}

static bool items_set_eq(const struct mr_items *a, const struct mr_items *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		size_t j = 0;
		while (j < b->n && strcmp(a->v[i].s, b->v[j].s) != 0)
			j++;
		if (j == b->n)
			return false;
	}
	return true;
}

/* "+ x, - y" for a list attribute; NULL when equal as sets */
static const char *list_delta(struct ctx *c, const struct mr_items *old, const struct mr_items *new)
{
	if (items_set_eq(old, new))
		return NULL;
	struct mr_buf b = MR_BUF_INIT;
	for (size_t i = 0; i < new->n; i++) {
		size_t j = 0;
		while (j < old->n && strcmp(new->v[i].s, old->v[j].s) != 0)
			j++;
		if (j == old->n)
			mr_buf_addf(&b, "%s+ %s", b.len ? ", " : "", new->v[i].s);
	}
	for (size_t i = 0; i < old->n; i++) {
		size_t j = 0;
		while (j < new->n && strcmp(old->v[i].s, new->v[j].s) != 0)
			j++;
		if (j == new->n)
			mr_buf_addf(&b, "%s- %s", b.len ? ", " : "", old->v[i].s);
	}
	const char *s = pstr(c, b.ptr ? b.ptr : "");
	mr_buf_release(&b);
	return s;
}

static const char *role_s(const struct mr_user *u)
{
	return mr_role_name(u->role);
}

static const char *by_s(const char *by)
{
	return by ? by : "(none)";
}

static void user_attrs(struct ctx *c, struct mr_change *ch, const struct mr_user *u, bool old)
{
	const char *v[8] = { role_s(u), u->reseller, mr_account_name(u->account), b2s(u->disabled), u->disabled_by,
			     limit_s(c, u->limits.mail_domains), limit_s(c, u->limits.mailboxes),
			     limit_s(c, u->limits.rate_per_hour) };
	static const char *const n[8] = { "role", "reseller", "account", "disabled", "disabled_by",
					   "limits.mail_domains", "limits.mailboxes", "limits.rate_per_hour" };
	for (int i = 0; i < 8; i++) {
		if (!v[i] || (i >= 3 && (strcmp(v[i], "false") == 0 || strcmp(v[i], "(not set)") == 0)))
			continue;
		attr(ch, n[i], old ? v[i] : NULL, old ? NULL : v[i]);
	}
}

static void diff_users(struct ctx *c, const struct mr_model *live, const struct mr_model *t)
{
	size_t i = 0, j = 0;
	while (i < live->nusers || j < t->nusers) {
		const struct mr_user *a = i < live->nusers ? live->users[i] : NULL;
		const struct mr_user *b = j < t->nusers ? t->users[j] : NULL;
		int cmp = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);
		if (cmp < 0) {
			struct mr_change *ch = change(c, MR_CHANGE_DELETE, MR_OBJ_USER, a->name, NULL);
			user_attrs(c, ch, a, true);
			c->p->del_users++;
			i++;
		} else if (cmp > 0) {
			struct mr_change *ch = change(c, MR_CHANGE_CREATE, MR_OBJ_USER, b->name, NULL);
			user_attrs(c, ch, b, false);
			j++;
		} else {
			struct upd u = { c, MR_OBJ_USER, b->name, NULL, NULL };
			diff_attr(&u, "role", role_s(a), role_s(b));
			diff_attr(&u, "reseller", a->reseller ? a->reseller : "(none)", b->reseller ? b->reseller : "(none)");
			diff_attr(&u, "account", mr_account_name(a->account), mr_account_name(b->account));
			diff_attr(&u, "disabled", b2s(a->disabled), b2s(b->disabled));
			diff_attr(&u, "disabled_by", by_s(a->disabled_by), by_s(b->disabled_by));
			diff_attr(&u, "limits.mail_domains", limit_s(c, a->limits.mail_domains), limit_s(c, b->limits.mail_domains));
			diff_attr(&u, "limits.mailboxes", limit_s(c, a->limits.mailboxes), limit_s(c, b->limits.mailboxes));
			diff_attr(&u, "limits.rate_per_hour", limit_s(c, a->limits.rate_per_hour),
				  limit_s(c, b->limits.rate_per_hour));
			i++, j++;
		}
	}
}

/* ---- mailboxes ---- */

/* Whether the password of target mailbox b is the live one; records the hash to write. */
static bool password_same(struct ctx *c, const struct mr_mailbox *live, const struct mr_mailbox *b)
{
	const char *lh = live && live->password_kind == MR_PASSWORD_HASH ? live->password.value : NULL;
	if (b->password_kind == MR_PASSWORD_HASH) /* its own hash is written: nothing to record */
		return lh && strcmp(lh, b->password.value) == 0;
	if (b->password_kind == MR_PASSWORD_NONE) /* a live object kept outside the scope: it gets */
		return true;				  /* no Dovecot record (files.c has_dovecot) */
	int r = 0;
	if (lh && c->in->oracle.password_same) {
		r = c->in->oracle.password_same(c->in->oracle.ctx, b, lh, c->errors);
		if (r < 0) {
			failed(c, r == MR_PLAN_REFUSED ? MR_PLAN_REFUSED : MR_PLAN_ERROR);
			return true;
		}
	}
	if (r == 1) {
		mr_strmap_set(&c->hashes, b->address, strlen(b->address), (void *)lh);
		return true;
	}
	if (c->in->oracle.new_hash) {
		const char *h = NULL;
		int hr = c->in->oracle.new_hash(c->in->oracle.ctx, b, &h, c->errors);
		if (hr < 0 || !h)
			failed(c, hr == MR_PLAN_REFUSED ? MR_PLAN_REFUSED : MR_PLAN_ERROR);
		else
			mr_strmap_set(&c->hashes, b->address, strlen(b->address), (void *)h);
	}
	return false;
}

static void mailbox_attrs(struct ctx *c, struct mr_change *ch, const struct mr_mailbox *m, bool old)
{
#define A(n, v) attr(ch, n, old ? (v) : NULL, old ? NULL : (v))
	A("password", old ? "(set)" : "(set)");
	if (m->aliases.n)
		A("aliases", list_s(c, &m->aliases));
	if (m->copy_to.n)
		A("copy_to", list_s(c, &m->copy_to));
	if (!m->keep_copy)
		A("keep_copy", "false");
	if (m->max_size > 0)
		A("max_size", size_s(c, m->max_size));
	if (m->rate_per_hour != MR_UNSET)
		A("rate_per_hour", limit_s(c, m->rate_per_hour));
	if (!m->greylisting)
		A("greylisting", "false");
	if (!m->spamassassin)
		A("spamassassin", "false");
	if (m->disabled)
		A("disabled", "true");
	const char *by = mr_mailbox_disabled_by(m), *note = mr_mailbox_note(m);
	if (by)
		A("disabled_by", by);
	if (note)
		A("note", pstr(c, note));
#undef A
}

/* ---- mailbox homes ---- */

/* The home of local@domain of owner, when each is a name a path can be made of; NULL otherwise. */
static const char *home_of(struct ctx *c, const char *owner, const char *domain, const char *local)
{
	if (!owner || mr_check_user_name(owner) || mr_check_domain(domain) || mr_check_mailbox_name(local))
		return NULL;
	return mr_arena_printf(&c->p->arena, "/var/www/%s/data/email/%s/%s", owner, domain, local);
}

static struct mr_home_change *home_change(struct ctx *c, enum mr_home_op op, const char *address, const char *owner,
					  const char *path)
{
	struct mr_plan *p = c->p;
	p->homes = xgrow(p->homes, sizeof(*p->homes), p->nhomes + 1, &p->hcap);
	struct mr_home_change *h = &p->homes[p->nhomes++];
	*h = (struct mr_home_change){ op, pstr(c, address), pstr(c, owner), path, NULL, NULL, NULL };
	return h;
}

/* A new entry STATE_DIR/archive/ADDRESS/STAMP[-N], not taken yet. */
static const char *archive_entry(struct ctx *c, const char *address)
{
	const char *dir = c->in->state_dir ? c->in->state_dir : "/var/lib/mailrecon";
	const char *stamp = c->in->stamp ? c->in->stamp : "STAMP";
	const char *e = NULL;
	for (int n = 1; n < 100000; n++) {
		e = n == 1 ? mr_arena_printf(&c->p->arena, "%s/archive/%s/%s", dir, address, stamp)
			   : mr_arena_printf(&c->p->arena, "%s/archive/%s/%s-%d", dir, address, stamp, n);
		bool taken = (c->in->archive.taken && c->in->archive.taken(c->in->archive.ctx, e)) ||
			     mr_strmap_get(&c->archived, e, strlen(e)); /* ... or by this plan */
		if (!taken)
			break;
	}
	/* a map, not a walk of the plan's homes: a plan deleting 97,000 mailboxes took 30 s */
	mr_strmap_put_new(&c->archived, e, strlen(e), (void *)e);
	return e;
}

/*
 * What an earlier apply left alone for address (STATE_DIR/homes-left): "" (make), "move OWNER"
 * or "restore"; NULL for nothing.  move_from: the OWNER of a move, when it is not owner.
 */
static const char *left_alone(const struct ctx *c, const char *address, const char *owner, const char **move_from)
{
	const char *left = c->in->homes_left ? mr_strmap_get(c->in->homes_left, address, strlen(address)) : NULL;
	*move_from = left && strncmp(left, "move ", 5) == 0 && (!owner || strcmp(left + 5, owner) != 0) ? left + 5 : NULL;
	return left;
}

/* The home at path of a deleted mailbox is archived (or purged). */
static void gone_at(struct ctx *c, struct mr_change *ch, const struct mr_mailbox *a, const char *path)
{
	if (c->in->purge) {
		home_change(c, MR_HOME_PURGE, a->address, NULL, path);
		return;
	}
	const char *entry = archive_entry(c, a->address);
	if (!ch->archive)
		ch->archive = entry;
	home_change(c, MR_HOME_ARCHIVE, a->address, NULL, path)->to = entry;
}

/*
 * A deleted mailbox: its home, at exactly its place, is archived (or purged) -- and so is its
 * old home in a previous owner's tree when an earlier apply could not move it from there
 * (homes-left).  Nowhere else: a place where its mail is not known to be may hold what a
 * tenant put there, and an archive entry is what a rollback brings back.  A place with
 * nothing there is passed over at apply.
 */
static void home_gone(struct ctx *c, struct mr_change *ch, const struct mr_domain *ld, const struct mr_mailbox *a)
{
	const char *home = home_of(c, ld->owner, ld->name, a->name);
	ch->storage = home;
	if (!home)
		return; /* the owner is unknown: nothing is touched (a finding says so) */
	gone_at(c, ch, a, home);
	const char *old_owner, *other;
	if (left_alone(c, a->address, ld->owner, &old_owner) && old_owner &&
	    (other = home_of(c, old_owner, ld->name, a->name)) != NULL)
		gone_at(c, ch, a, other);
}

/* A new mailbox: its home is made, or with a rollback, its newest archive entry comes back. */
static void home_new(struct ctx *c, const struct mr_domain *td, const struct mr_mailbox *b)
{
	const char *home = home_of(c, td->owner, td->name, b->name);
	if (!home)
		return;
	const char *entry = c->in->restore && c->in->archive.newest ? c->in->archive.newest(c->in->archive.ctx, b->address)
								     : NULL;
	if (entry)
		home_change(c, MR_HOME_RESTORE, b->address, td->owner, home)->from = pstr(c, entry);
	else
		home_change(c, MR_HOME_MAKE, b->address, td->owner, home);
}

/* A kept mailbox: its home moves with its domain to a new owner; a live home field that is
 * not its place is shown and rewritten (never followed). */
static void home_kept(struct ctx *c, struct upd *u, const struct mr_domain *ld, const struct mr_domain *td,
		      const struct mr_mailbox *a, const struct mr_mailbox *b)
{
	/* every kept mailbox of the server comes here: the common case, a home where it
	 * belongs with nothing left to do, costs no path (what follows would do nothing) */
	const struct mr_mailbox_live *alive = mr_mailbox_live(a);
	assert(alive); /* a is the live model's (only live mailboxes have a live part) */
	const char *ignored, *home = alive->home; /* its home field */
	if (ld->owner && td->owner && strcmp(ld->owner, td->owner) == 0 && home &&
	    mr_home_is_place(home, td->owner, td->name, a->name) && !left_alone(c, a->address, td->owner, &ignored))
		return;
	const char *want = home_of(c, td->owner, td->name, a->name);
	if (!want)
		return;
	const char *was = ld->owner && strcmp(ld->owner, td->owner) != 0 ? home_of(c, ld->owner, ld->name, a->name) : NULL;
	const char *old_owner, *left = left_alone(c, a->address, td->owner, &old_owner);
	if (c->in->scope && !mr_scope_covers_domain(&c->in->live->model, c->in->scope, ld)) {
		/* another tenant's storage is not a scoped run's to make or move (it stays in
		 * homes-left for a run that covers it) */
		left = old_owner = NULL;
		if (!was) {
			if (home && !mr_home_is(home, want))
				diff_attr(u, "home", home, want);
			return;
		}
	}
	if (was) {
		/* from the live home; a move an earlier apply left behind comes along (also_from) */
		struct mr_home_change *h = home_change(c, MR_HOME_MOVE, a->address, td->owner, want);
		h->from = was;
		if (old_owner && strcmp(old_owner, ld->owner) != 0)
			h->also_from = home_of(c, old_owner, td->name, a->name);
	} else if (left) {
		/* a home an earlier apply left alone: the same operation again, from names (a move
		 * left alone comes from where the mail still is, whoever owned the domain since) */
		const char *from = NULL, *entry = NULL;
		if (old_owner)
			from = home_of(c, old_owner, td->name, a->name);
		else if (strcmp(left, "restore") == 0 && c->in->archive.newest)
			entry = c->in->archive.newest(c->in->archive.ctx, a->address);
		struct mr_home_change *h = home_change(c, from ? MR_HOME_MOVE : entry ? MR_HOME_RESTORE : MR_HOME_MAKE,
						       a->address, td->owner, want);
		h->from = from ? from : entry ? pstr(c, entry) : NULL;
	}
	bool misplaced = home && !mr_home_is(home, was ? was : want);
	if (misplaced)
		diff_attr(u, "home", home, want);
	/* no owner known before, a live home field that named another place (a hand edit or a
	 * line the panel wrote), or a mailbox Exim knew and Dovecot did not that gets its
	 * Dovecot line now: the mailbox's place is made, so that its mail has a home */
	bool gets_dovecot = !alive->src_dovecot && b->password_kind != MR_PASSWORD_NONE;
	if (!was && !left && (ld->owner == NULL || misplaced || gets_dovecot))
		home_change(c, MR_HOME_MAKE, a->address, td->owner, want);
}

static void diff_mailboxes(struct ctx *c, const struct mr_domain *ld, const struct mr_domain *td)
{
	size_t na = ld ? ld->nmailboxes : 0, nb = td ? td->nmailboxes : 0, i = 0, j = 0;
	const char *dn = td ? td->name : ld->name;
	while (i < na || j < nb) {
		const struct mr_mailbox *a = i < na ? ld->mailboxes[i] : NULL;
		const struct mr_mailbox *b = j < nb ? td->mailboxes[j] : NULL;
		int cmp = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);
		if (cmp < 0) {
			struct mr_change *ch = change(c, MR_CHANGE_DELETE, MR_OBJ_MAILBOX, a->address, dn);
			mailbox_attrs(c, ch, a, true);
			home_gone(c, ch, ld, a);
			c->p->del_mailboxes++;
			i++;
		} else if (cmp > 0) {
			struct mr_change *ch = change(c, MR_CHANGE_CREATE, MR_OBJ_MAILBOX, b->address, dn);
			password_same(c, NULL, b);
			mailbox_attrs(c, ch, b, false);
			home_new(c, td, b);
			j++;
		} else {
			struct upd u = { c, MR_OBJ_MAILBOX, b->address, dn, NULL };
			home_kept(c, &u, ld, td, a, b);
			/* values are compared first and formatted only when they differ: this runs
			 * for every mailbox of the server */
			if (!password_same(c, a, b))
				diff_attr(&u, "password", a->password_kind == MR_PASSWORD_HASH ? "(set)" : "(none)", "(changed)");
			if (!items_set_eq(&a->aliases, &b->aliases))
				diff_attr(&u, "aliases", NULL, list_delta(c, &a->aliases, &b->aliases));
			if (!items_set_eq(&a->copy_to, &b->copy_to))
				diff_attr(&u, "copy_to", NULL, list_delta(c, &a->copy_to, &b->copy_to));
			if (a->keep_copy != b->keep_copy)
				diff_attr(&u, "keep_copy", b2s(a->keep_copy), b2s(b->keep_copy));
			if (a->max_size != b->max_size && !(a->max_size <= 0 && b->max_size <= 0))
				diff_attr(&u, "max_size", size_s(c, a->max_size), size_s(c, b->max_size));
			if (a->rate_per_hour != b->rate_per_hour)
				diff_attr(&u, "rate_per_hour", limit_s(c, a->rate_per_hour), limit_s(c, b->rate_per_hour));
			if (a->greylisting != b->greylisting)
				diff_attr(&u, "greylisting", b2s(a->greylisting), b2s(b->greylisting));
			if (a->spamassassin != b->spamassassin)
				diff_attr(&u, "spamassassin", b2s(a->spamassassin), b2s(b->spamassassin));
			if (a->disabled != b->disabled)
				diff_attr(&u, "disabled", b2s(a->disabled), b2s(b->disabled));
			if (a->cold || b->cold) { /* else none of these is set on either side */
				const char *aby = mr_mailbox_disabled_by(a), *bby = mr_mailbox_disabled_by(b);
				if (aby != bby)
					diff_attr(&u, "disabled_by", by_s(aby), by_s(bby));
				const char *an = mr_mailbox_note(a), *bn = mr_mailbox_note(b);
				if (!((!an && !bn) || (an && bn && strcmp(an, bn) == 0)))
					diff_attr(&u, "note", an ? an : "(none)", bn ? bn : "(none)");
			}
			i++, j++;
		}
	}
}

/* ---- domains ---- */

static const char *dkim_s(struct ctx *c, const struct mr_dkim *k)
{
	return k->enabled ? mr_arena_printf(&c->p->arena, "selector %s, %d bits", k->selector, k->bits) : NULL;
}

static const char *ssl_s(struct ctx *c, const struct mr_ssl *s)
{
	if (!s->enabled)
		return NULL;
	return mr_arena_printf(&c->p->arena, "%s, %s%s%s", s->alias ? s->alias : "?",
			       s->cert == MR_CERT_SELF_SIGNED ? "self-signed" : "from files",
			       s->email ? ", " : "", s->email ? s->email : "");
}

static void domain_attrs(struct ctx *c, struct mr_change *ch, const struct mr_domain *d, bool old)
{
#define A(n, v) attr(ch, n, old ? (v) : NULL, old ? NULL : (v))
	A("owner", d->owner ? d->owner : "(unknown)");
	if (d->ip)
		A("ip", d->ip);
	A("default_action", action_s(c, d));
	if (!d->greylisting)
		A("greylisting", "false");
	if (!d->spamassassin)
		A("spamassassin", "false");
	if (!d->antivirus)
		A("antivirus", "false");
	if (d->dmarc)
		A("dmarc", "true");
	if (d->disabled)
		A("disabled", "true");
	if (d->disabled_by)
		A("disabled_by", d->disabled_by);
#undef A
}

static bool dkim_same(const struct mr_dkim *a, const struct mr_dkim *b)
{
	return a->bits == b->bits && strcmp(a->selector, b->selector) == 0;
}

enum mr_dkim_step mr_dkim_step(const struct mr_domain *live, const struct mr_domain *target)
{
	bool la = live && live->dkim.enabled, tb = target && target->dkim.enabled;
	bool pending = live && live->dkim.pending_selector;
	if (live && live == target) /* outside the scope: the live domain itself */
		return MR_DKIM_KEEP;
	if (!tb)
		return la ? MR_DKIM_DELETE : pending ? MR_DKIM_DROP : MR_DKIM_KEEP;
	if (!la)
		return MR_DKIM_CREATE; /* nothing signs yet: the new key signs at once */
	if (dkim_same(&live->dkim, &target->dkim))
		return pending ? MR_DKIM_DROP : MR_DKIM_KEEP;
	if (pending && live->dkim.pending_bits == target->dkim.bits &&
	    strcmp(live->dkim.pending_selector, target->dkim.selector) == 0)
		return live->dkim.pending_confirmed ? MR_DKIM_SWITCH : MR_DKIM_WAIT;
	return MR_DKIM_STAGE;
}

enum mr_dkim_step mr_dkim_plan_step(const struct mr_plan_input *in, const struct mr_domain *live,
				    const struct mr_domain *target)
{
	enum mr_dkim_step step = mr_dkim_step(live, target);
	if (in->restore && (step == MR_DKIM_STAGE || step == MR_DKIM_WAIT || step == MR_DKIM_SWITCH))
		return MR_DKIM_REPLACE;
	return step;
}

bool mr_dkim_retired_expired(const struct mr_domain *live, const struct mr_domain *target, int64_t now)
{
	return live && live != target && live->dkim.retired_selector && live->dkim.retired_until <= now;
}

static const char *date_s(struct ctx *c, int64_t when)
{
	char buf[32];
	time_t t = (time_t)when;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
	return mr_arena_strdup(&c->p->arena, buf);
}

static bool keys_equal(const struct mr_domain *a, const struct mr_domain *b)
{
	if (!a || !b || a->ssl.enabled != b->ssl.enabled)
		return false;
	return !a->ssl.enabled;
}

/*
 * A DKIM key (docs/plan.md "DKIM rotation"): a first key signs at once; a new selector or
 * size is staged in STATE_DIR/dkim and signs only after `mailrecon dns --check` has found
 * its record (the switch), the replaced record then listed for removal for server.dkim_grace.
 */
static void diff_dkim(struct ctx *c, const struct mr_domain *a, const struct mr_domain *b)
{
	const char *dn = b ? b->name : a->name;
	enum mr_dkim_step step = mr_dkim_plan_step(c->in, a, b);
	int64_t now = c->in->now ? c->in->now : (int64_t)time(NULL);
	bool expire = mr_dkim_retired_expired(a, b, now);
	const char *ka = a ? dkim_s(c, &a->dkim) : NULL, *kb = b ? dkim_s(c, &b->dkim) : NULL;
	struct mr_change *ch = NULL;
	switch (step) {
	case MR_DKIM_KEEP:
	case MR_DKIM_WAIT:
		break;
	case MR_DKIM_CREATE:
		attr(ch = change(c, MR_CHANGE_CREATE, MR_OBJ_DKIM, dn, dn), "key", NULL, kb);
		break;
	case MR_DKIM_DELETE:
		attr(ch = change(c, MR_CHANGE_DELETE, MR_OBJ_DKIM, dn, dn), "key", ka, NULL);
		break;
	case MR_DKIM_STAGE:
		attr(ch = change(c, MR_CHANGE_UPDATE, MR_OBJ_DKIM, dn, dn), "key", ka,
		     mr_arena_printf(&c->p->arena, "%s (new key, staged: %s signs until mailrecon dns --check finds its record)",
				     kb, a->dkim.selector));
		break;
	case MR_DKIM_SWITCH:
		attr(ch = change(c, MR_CHANGE_UPDATE, MR_OBJ_DKIM, dn, dn), "key", ka,
		     mr_arena_printf(&c->p->arena, "%s (the staged key, its record published: it signs now)", kb));
		break;
	case MR_DKIM_REPLACE:
		attr(ch = change(c, MR_CHANGE_UPDATE, MR_OBJ_DKIM, dn, dn), "key", ka, mr_arena_printf(&c->p->arena, "%s (new key)", kb));
		break;
	case MR_DKIM_DROP:
		break;
	}
	if (a && a->dkim.pending_selector && (step == MR_DKIM_DROP || step == MR_DKIM_STAGE || step == MR_DKIM_CREATE ||
					      step == MR_DKIM_DELETE)) {
		if (!ch)
			ch = change(c, MR_CHANGE_UPDATE, MR_OBJ_DKIM, dn, dn);
		attr(ch, "staged key",
		     mr_arena_printf(&c->p->arena, "selector %s, %d bits", a->dkim.pending_selector, a->dkim.pending_bits),
		     step == MR_DKIM_STAGE ? "(replaced)" : "(dropped)");
	}
	if (expire) {
		if (!ch)
			ch = change(c, MR_CHANGE_UPDATE, MR_OBJ_DKIM, dn, dn);
		attr(ch, "replaced record",
		     mr_arena_printf(&c->p->arena, "%s._domainkey, listed for removal until %s", a->dkim.retired_selector,
				     date_s(c, a->dkim.retired_until)),
		     "(removed)");
	}
}

/*
 * A certificate: a domain's (id and domain its name) or the server's (id "server", domain
 * NULL); a and b the live and target ssl (NULL: none), live_crt and live_key where the live
 * certificate is (what a certificate from files is compared with).
 */
static void diff_cert(struct ctx *c, const struct mr_ssl *a, const struct mr_ssl *b, const char *id,
		      const char *domain, const char *live_crt, const char *live_key)
{
	const char *sa = a ? ssl_s(c, a) : NULL, *sb = b ? ssl_s(c, b) : NULL;
	if (!sa && !sb)
		return;
	/* a certificate given as files that happens to be self-signed reads back as self-signed:
	 * the same bytes are no change */
	int same_files = sa && sb && b->cert == MR_CERT_FILES && c->in->oracle.cert_same
				 ? c->in->oracle.cert_same(c->in->oracle.ctx, b, live_crt, live_key)
				 : -1; /* -1: not asked */
	struct mr_change *ch = NULL;
	if (sa && sb && b->cert == MR_CERT_FILES && a->cert == MR_CERT_SELF_SIGNED && same_files == 1) {
		/* no change */
	} else if (!sa) {
		attr(ch = change(c, MR_CHANGE_CREATE, MR_OBJ_CERT, id, domain), "certificate", NULL, sb);
	} else if (!sb) {
		attr(ch = change(c, MR_CHANGE_DELETE, MR_OBJ_CERT, id, domain), "certificate", sa, NULL);
	} else if (strcmp(sa, sb) != 0) {
		attr(ch = change(c, MR_CHANGE_UPDATE, MR_OBJ_CERT, id, domain), "certificate", sa, sb);
	} else if (b->cert == MR_CERT_FILES && same_files == 0) {
		attr(ch = change(c, MR_CHANGE_UPDATE, MR_OBJ_CERT, id, domain), "certificate", sa,
		     "(new content from the files)");
	} else if (b->cert == MR_CERT_SELF_SIGNED && a->not_after > 0) {
		int64_t now = c->in->now ? c->in->now : (int64_t)time(NULL);
		if (a->not_after - now < (int64_t)MR_CERT_RENEW_DAYS * 86400) {
			char when[32];
			time_t t = (time_t)a->not_after;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d", &tm);
			attr(ch = change(c, MR_CHANGE_UPDATE, MR_OBJ_CERT, id, domain), "certificate",
			     mr_arena_printf(&c->p->arena, "%s, expires %s", sa, when), "(renewed: a new self-signed certificate)");
		}
	}
	/* the server's: Dovecot's default pair is a copy of Exim's, written with it */
	if (!domain && sa && sb && a->copy_differs) {
		if (!ch)
			ch = change(c, MR_CHANGE_UPDATE, MR_OBJ_CERT, id, domain);
		attr(ch, "dovecot copy", mr_arena_printf(&c->p->arena, "(%s)", a->copy_differs), "(rewritten)");
	}
}

static void diff_keys(struct ctx *c, const struct mr_domain *a, const struct mr_domain *b)
{
	diff_dkim(c, a, b);
	if (keys_equal(a, b))
		return;
	const char *dn = b ? b->name : a->name;
	const char *ssl = c->in->live->layout == MR_LAYOUT_RHEL ? "/etc/exim/ssl" : "/etc/exim4/ssl";
	const char *crt = mr_arena_printf(&c->p->arena, "%s/%s.crt", ssl, dn);
	const char *key = mr_arena_printf(&c->p->arena, "%s/%s.key", ssl, dn);
	diff_cert(c, a ? &a->ssl : NULL, b ? &b->ssl : NULL, dn, dn, crt, key);
}

bool mr_change_cert_copy_only(const struct mr_change *c)
{
	return mr_change_server_cert(c) && c->action == MR_CHANGE_UPDATE && c->nattrs == 1 &&
	       strcmp(c->attrs[0].name, "dovecot copy") == 0;
}

/* The server's default certificate (server.ssl): left out, it is not managed -- never a
 * deletion, whatever is live. */
static void diff_server_cert(struct ctx *c, const struct mr_model *live, const struct mr_model *t)
{
	const struct mr_ssl *a = &live->server.ssl, *b = &t->server.ssl;
	if (!b->enabled)
		return;
	enum mr_layout lay = c->in->live->layout;
	diff_cert(c, a, b, "server", NULL, mr_srvcert_path(MR_SRVCERT_EXIM_CRT, lay),
		  mr_srvcert_path(MR_SRVCERT_EXIM_KEY, lay));
}

static void diff_domains(struct ctx *c, const struct mr_model *live, const struct mr_model *t)
{
	size_t i = 0, j = 0;
	while (i < live->ndomains || j < t->ndomains) {
		const struct mr_domain *a = i < live->ndomains ? live->domains[i] : NULL;
		const struct mr_domain *b = j < t->ndomains ? t->domains[j] : NULL;
		int cmp = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);
		if (cmp < 0) {
			struct mr_change *ch = change(c, MR_CHANGE_DELETE, MR_OBJ_DOMAIN, a->name, a->name);
			ch->moved_to = pstr(c, mr_model_elsewhere(c->in->desired, a->name));
			domain_attrs(c, ch, a, true);
			c->p->del_domains++;
			diff_keys(c, a, NULL);
			diff_mailboxes(c, a, NULL);
			i++;
		} else if (cmp > 0) {
			domain_attrs(c, change(c, MR_CHANGE_CREATE, MR_OBJ_DOMAIN, b->name, b->name), b, false);
			diff_keys(c, NULL, b);
			diff_mailboxes(c, NULL, b);
			j++;
		} else {
			struct upd u = { c, MR_OBJ_DOMAIN, b->name, b->name, NULL };
			if (a->implicit) /* its mailboxes were read, its line was missing */
				diff_attr(&u, "line in the domains file", "(missing)", "(added)");
			diff_attr(&u, "owner", a->owner ? a->owner : "(unknown)", b->owner);
			diff_attr(&u, "ip", a->ip ? a->ip : "auto", b->ip ? b->ip : "auto");
			if (a->action != b->action || (a->action_target && b->action_target && strcmp(a->action_target, b->action_target)))
				diff_attr(&u, "default_action", action_s(c, a), action_s(c, b));
			diff_attr(&u, "greylisting", b2s(a->greylisting), b2s(b->greylisting));
			diff_attr(&u, "spamassassin", b2s(a->spamassassin), b2s(b->spamassassin));
			diff_attr(&u, "antivirus", b2s(a->antivirus), b2s(b->antivirus));
			diff_attr(&u, "dmarc", b2s(a->dmarc), b2s(b->dmarc));
			diff_attr(&u, "disabled", b2s(a->disabled), b2s(b->disabled));
			diff_attr(&u, "disabled_by", by_s(a->disabled_by), by_s(b->disabled_by));
			diff_keys(c, a, b);
			diff_mailboxes(c, a, b);
			i++, j++;
		}
	}
}

/* A declared user that is `account: existing` (in a scope, its own account is the live one)
 * must have a system account. */
static void check_accounts(struct ctx *c)
{
	const struct mr_model *d = c->in->desired;
	if (!c->in->accounts)
		return;
	for (size_t i = 0; i < d->nusers; i++) {
		const struct mr_user *u = d->users[i];
		const struct mr_user *tu = mr_model_user(&c->target, u->name);
		if (tu && tu->account == MR_ACCOUNT_EXISTING && !mr_sysaccount_get(c->in->accounts, u->name)) {
			mr_diag_error(c->errors, u->loc,
				      "user '%s' is 'account: existing' but %s has no account '%s' (use 'account: create')",
				      u->name, c->in->accounts->path, u->name);
			c->rc = MR_PLAN_ERROR;
		}
	}
	/* mail files belong to the owner: never root or another system account */
	const struct mr_accounts *a = c->in->accounts;
	for (size_t i = 0; i < d->ndomains; i++) {
		const struct mr_domain *dom = d->domains[i];
		const struct mr_sysaccount *acc = dom->owner ? mr_sysaccount_get(a, dom->owner) : NULL;
		if (!acc || acc->uid >= a->uid_min)
			continue;
		mr_diag_error(c->errors, dom->owner_loc,
			      "owner '%s' of domain '%s' has uid %lld in %s, below UID_MIN %lld (%s): mail must belong to "
			      "a regular account, not a system account",
			      dom->owner, dom->name, (long long)acc->uid, a->path, (long long)a->uid_min,
			      a->uid_min_set ? MR_LOGIN_DEFS : "the default, " MR_LOGIN_DEFS " does not set it");
		c->rc = MR_PLAN_ERROR;
	}
}

/*
 * How many changes of the full target's plan a targeted plan leaves out: the full plan's
 * changes (made as plan makes them, without hashing a new password) that the targeted one
 * has not, by object, action and id.  Errors of the objects left out are not this run's.
 */
static size_t left_out(struct ctx *c, const struct mr_model *full)
{
	struct mr_plan fp;
	memset(&fp, 0, sizeof(fp));
	struct mr_plan_input in = *c->in;
	in.oracle.new_hash = NULL;
	struct mr_diags quiet = MR_DIAGS_INIT;
	struct ctx f = { .p = &fp, .in = &in, .errors = &quiet };
	const struct mr_model *l = &c->in->live->model;
	if (l->server.rate_per_hour != full->server.rate_per_hour)
		change(&f, MR_CHANGE_UPDATE, MR_OBJ_SERVER, "server", NULL);
	diff_server_cert(&f, l, full);
	diff_users(&f, l, full);
	diff_domains(&f, l, full);
	struct mr_strmap done = MR_STRMAP_INIT; /* keys in fp's arena */
	for (size_t i = 0; i < c->p->nchanges; i++) {
		const struct mr_change *ch = &c->p->changes[i];
		const char *k = mr_arena_printf(&fp.arena, "%d %d %s", (int)ch->object, (int)ch->action, ch->id);
		mr_strmap_put_new(&done, k, strlen(k), (void *)ch);
	}
	size_t n = 0;
	for (size_t i = 0; i < fp.nchanges; i++) {
		const struct mr_change *ch = &fp.changes[i];
		const char *k = mr_arena_printf(&fp.arena, "%d %d %s", (int)ch->object, (int)ch->action, ch->id);
		if (!mr_strmap_get(&done, k, strlen(k)))
			n++;
	}
	mr_strmap_release(&done);
	mr_strmap_release(&f.hashes);
	mr_strmap_release(&f.archived);
	mr_diags_release(&quiet);
	mr_plan_release(&fp);
	return n;
}

bool mr_plan_user_planned(const struct mr_plan *p, const char *name)
{
	if (!p->targeted)
		return true;
	for (size_t i = 0; i < p->nplanned_users; i++)
		if (strcmp(p->planned_users[i], name) == 0)
			return true;
	return false;
}

int mr_plan_build(struct mr_plan *p, const struct mr_plan_input *in, struct mr_diags *errors)
{
	memset(p, 0, sizeof(*p));
	p->scope = in->scope;
	if (in->scope) {
		mr_plan_scope_findings(in->live, in->scope, &p->findings);
		p->findings_scoped = true;
	}
	struct ctx c = { .p = p, .in = in, .errors = errors };
	mr_model_init(&c.target);
	/* --target: the full target, then narrowed to the targets (target.c) */
	struct mr_model full;
	mr_model_init(&full);
	int rc = mr_plan_target(in->ntargets ? &full : &c.target, in, errors);
	if (rc == 0 && in->ntargets)
		rc = mr_plan_narrow(&c.target, &full, in, p, errors);
	if (rc)
		goto out;
	check_accounts(&c);
	const struct mr_model *l = &in->live->model, *t = &c.target;
	if (l->server.rate_per_hour != t->server.rate_per_hour) {
		struct mr_change *ch = change(&c, MR_CHANGE_UPDATE, MR_OBJ_SERVER, "server", NULL);
		attr(ch, "rate_per_hour", limit_s(&c, l->server.rate_per_hour), limit_s(&c, t->server.rate_per_hour));
	}
	diff_server_cert(&c, l, t);
	diff_users(&c, l, t);
	diff_domains(&c, l, t);
	for (size_t i = 0; i < p->nchanges; i++) {
		if (p->changes[i].action == MR_CHANGE_CREATE)
			p->add++;
		else if (p->changes[i].action == MR_CHANGE_UPDATE)
			p->change++;
		else
			p->destroy++;
	}
	if (c.rc == 0 && in->ntargets)
		p->left_out = left_out(&c, &full);
	if (c.rc == 0)
		mr_plan_files(p, t, in, &c.hashes); /* and the Mail flow, beside them */
	rc = c.rc ? c.rc : errors->errors ? MR_PLAN_ERROR : 0;
out:
	/* each target domain's own copy of its mailbox array; what is shared stays the inputs' */
	mr_plan_target_release(&c.target, in);
	mr_plan_target_release(&full, in);
	mr_strmap_release(&c.hashes);
	mr_strmap_release(&c.archived);
	return rc;
}

size_t mr_plan_blocked(const struct mr_plan *p, struct mr_diags *errors)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nfiles; i++) {
		const struct mr_file_change *f = &p->files[i];
		if (f->blocked) {
			mr_diag_error(errors, mr_loc_at(f->path, 0, 0),
				      "this file must change but has lines mailrecon cannot read (see the findings); "
				      "fix them by hand first");
			n++;
		}
		if (f->len > MR_LIVE_MAX_FILE) {
			mr_diag_error(errors, mr_loc_at(f->path, 0, 0),
				      "this file would have %zu bytes, over the %u MiB mailrecon reads of a live file: "
				      "apply refuses to write what it could not read back",
				      f->len, MR_LIVE_MAX_FILE >> 20);
			n++;
		}
	}
	return n;
}

void mr_plan_release(struct mr_plan *p)
{
	for (size_t i = 0; i < p->nchanges; i++)
		free(p->changes[i].attrs);
	free(p->changes);
	for (size_t i = 0; i < p->nfiles; i++)
		free(p->files[i].content);
	free(p->files);
	free(p->homes);
	free(p->targets);
	free(p->planned_users);
	for (size_t i = 0; i < p->nflows; i++) {
		mr_route_release(&p->flows[i].old);
		mr_route_release(&p->flows[i].new);
	}
	free(p->flows);
	mr_diags_release(&p->flow_warnings);
	mr_arena_release(&p->flow_arena);
	mr_diags_release(&p->findings);
	mr_arena_release(&p->arena);
	memset(p, 0, sizeof(*p));
}
