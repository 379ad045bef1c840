/*
 * target: --target OBJECT, Terraform's -target for mail objects.
 *
 * The full target model (scope.c: what the live server would become) is narrowed to the
 * objects named and what they need; everything else is taken as it is live, even where it
 * differs from the desired state, so the plan -- changes, homes and the new content of
 * every shared file -- carries only the targeted changes merged into the live content.
 *
 *   - a mailbox address: that mailbox (created, updated or deleted); it needs its domain
 *     (the domain's own settings, not its other mailboxes) and the domain's owner;
 *   - a mail domain: the domain with all its mailboxes, DKIM key and certificate, and its
 *     owner;
 *   - a user: the user's own settings (role, reseller, account, disabled, limits), not its
 *     domains (that is --scope USER).
 * A user needed brings its reseller.  The server's settings are never targeted: they stay
 * live.  A target the desired and the live state do not know is a usage error with the
 * closest name.  A narrowed model that would not hold together -- an alias of a mailbox
 * left out that a targeted one takes, a user deleted that still owns a domain left out --
 * is an error that says which other target it needs.
 */
#include <stdlib.h>
#include <string.h>

#include "model/names.h"
#include "plan/plan.h"
#include "util/strutil.h"
#include "util/xalloc.h"

struct tg {
	const struct mr_model *t, *l; /* the full target, the live model */
	struct mr_model *r;           /* the narrowed target */
	struct mr_plan *p;
	struct mr_diags *errors;
	struct mr_strmap users, domains, mailboxes; /* named: name -> the target's name as given */
	struct mr_strmap need_users, need_domains;  /* needed by what is named */
	int rc;
};

static bool has(const struct mr_strmap *m, const char *name)
{
	return name && mr_strmap_get(m, name, strlen(name)) != NULL;
}

static void put(struct mr_strmap *m, const char *name, const char *why)
{
	if (name && !has(m, name))
		mr_strmap_put_new(m, name, strlen(name), (void *)why);
}

/* ---- naming ---- */

struct names {
	const char **v;
	size_t n, cap;
};

static void name_add(struct names *ns, const char *s)
{
	ns->v = xgrow(ns->v, sizeof(*ns->v), ns->n + 2, &ns->cap);
	ns->v[ns->n++] = s;
	ns->v[ns->n] = NULL;
}

static void model_names(struct names *ns, const struct mr_model *m)
{
	for (size_t i = 0; i < m->nusers; i++)
		name_add(ns, m->users[i]->name);
	for (size_t i = 0; i < m->ndomains; i++) {
		name_add(ns, m->domains[i]->name);
		for (size_t j = 0; j < m->domains[i]->nmailboxes; j++)
			name_add(ns, m->domains[i]->mailboxes[j]->address);
	}
}

static void unknown(struct tg *g, const char *given, const char *name)
{
	struct names ns = { 0 };
	model_names(&ns, g->t);
	model_names(&ns, g->l);
	const char *close = ns.n ? mr_closest(name, ns.v) : NULL;
	mr_diag_error(g->errors, MR_LOC_NONE,
		      "--target '%s': no mailbox, mail domain or user of that name in the desired or the live state%s%s%s",
		      given, close ? " (did you mean '" : "", close ? close : "", close ? "'?)" : "");
	free(ns.v);
	g->rc = MR_PLAN_USAGE;
}

/* Record what target `given` names; an unknown name is a usage error. */
static void resolve(struct tg *g, const char *given)
{
	char *name = mr_arena_strdup(&g->p->arena, given);
	mr_ascii_lower(name);
	enum mr_object kind;
	if (strchr(name, '@')) {
		if (!mr_model_mailbox(g->t, name) && !mr_model_mailbox(g->l, name)) {
			unknown(g, given, name);
			return;
		}
		put(&g->mailboxes, name, name);
		kind = MR_OBJ_MAILBOX;
	} else if (mr_model_domain(g->t, name) || mr_model_domain(g->l, name)) {
		/* a domain has a dot, a user name cannot (model/names.h): never both */
		put(&g->domains, name, name);
		kind = MR_OBJ_DOMAIN;
	} else if (mr_model_user(g->t, name) || mr_model_user(g->l, name)) {
		put(&g->users, name, name);
		kind = MR_OBJ_USER;
	} else {
		unknown(g, given, name);
		return;
	}
	for (size_t i = 0; i < g->p->ntargets; i++)
		if (strcmp(g->p->targets[i].name, name) == 0)
			return; /* named twice */
	g->p->targets = xgrow(g->p->targets, sizeof(*g->p->targets), g->p->ntargets + 1, &g->p->tcap);
	g->p->targets[g->p->ntargets++] = (struct mr_plan_target){ name, kind };
}

/* What the named objects need: a mailbox its domain, a domain its owner, a user its reseller. */
static void needs(struct tg *g)
{
	for (size_t i = 0; i < g->p->ntargets; i++) {
		const struct mr_plan_target *x = &g->p->targets[i];
		const char *dn = x->object == MR_OBJ_MAILBOX ? strrchr(x->name, '@') + 1
			       : x->object == MR_OBJ_DOMAIN ? x->name : NULL;
		if (!dn)
			continue;
		if (x->object == MR_OBJ_MAILBOX && !has(&g->domains, dn))
			put(&g->need_domains, dn, x->name);
		const struct mr_domain *td = mr_model_domain(g->t, dn);
		if (td && td->owner && mr_model_user(g->t, td->owner))
			put(&g->need_users, td->owner, x->name);
	}
	/* resellers, to a fixed point (a reseller has no reseller, but a hostile state may say so) */
	for (bool more = true; more;) {
		more = false;
		for (size_t i = 0; i < g->t->nusers; i++) {
			const struct mr_user *u = g->t->users[i];
			if (!(has(&g->users, u->name) || has(&g->need_users, u->name)) || !u->reseller)
				continue;
			if (mr_model_user(g->t, u->reseller) && !has(&g->users, u->reseller) &&
			    !has(&g->need_users, u->reseller)) {
				put(&g->need_users, u->reseller, u->name);
				more = true;
			}
		}
	}
}

/* ---- the narrowed model ---- */

static void keep_domain(struct tg *g, const struct mr_domain *d)
{
	mr_plan_copy_domain(g->r, d, d->mailboxes, d->nmailboxes);
}

/*
 * A domain a targeted mailbox needs: its own settings from the target (the live ones when
 * the desired state deletes it), its live mailboxes with the targeted ones as the target
 * has them.
 */
static void needed_domain(struct tg *g, const char *name)
{
	const struct mr_domain *td = mr_model_domain(g->t, name), *ld = mr_model_domain(g->l, name);
	struct mr_mailbox **v = NULL;
	size_t n = 0, cap = 0;
	for (size_t j = 0; ld && j < ld->nmailboxes; j++) {
		if (has(&g->mailboxes, ld->mailboxes[j]->address))
			continue;
		v = xgrow(v, sizeof(*v), n + 1, &cap);
		v[n++] = ld->mailboxes[j];
	}
	for (size_t j = 0; td && j < td->nmailboxes; j++) {
		if (!has(&g->mailboxes, td->mailboxes[j]->address))
			continue;
		v = xgrow(v, sizeof(*v), n + 1, &cap);
		v[n++] = td->mailboxes[j];
	}
	mr_plan_copy_domain(g->r, td ? td : ld, v, n);
	free(v);
}

static void build(struct tg *g)
{
	const struct mr_model *t = g->t, *l = g->l;
	struct mr_model *r = g->r;
	r->server = l->server;
	for (size_t i = 0; i < t->nusers; i++) {
		const struct mr_user *u = t->users[i];
		if (has(&g->users, u->name) || has(&g->need_users, u->name))
			mr_plan_copy_user(r, u);
		else if (mr_model_user(l, u->name))
			mr_plan_copy_user(r, mr_model_user(l, u->name));
	}
	for (size_t i = 0; i < l->nusers; i++)
		if (!has(&g->users, l->users[i]->name) && !mr_model_user(r, l->users[i]->name))
			mr_plan_copy_user(r, l->users[i]);
	for (size_t i = 0; i < t->ndomains; i++) {
		const struct mr_domain *d = t->domains[i];
		if (has(&g->domains, d->name))
			keep_domain(g, d);
		else if (has(&g->need_domains, d->name))
			needed_domain(g, d->name);
		else if (mr_model_domain(l, d->name))
			keep_domain(g, mr_model_domain(l, d->name));
	}
	for (size_t i = 0; i < l->ndomains; i++) {
		const struct mr_domain *d = l->domains[i];
		if (mr_model_domain(r, d->name) || has(&g->domains, d->name))
			continue; /* taken above, or a targeted domain the desired state deletes */
		if (has(&g->need_domains, d->name))
			needed_domain(g, d->name);
		else
			keep_domain(g, d);
	}
	mr_model_put_mailboxes(r);
	mr_model_sort(r);
	/* the users whose settings the run takes from the target (apply makes their accounts) */
	struct mr_plan *p = g->p;
	for (size_t i = 0; i < t->nusers; i++) {
		const char *n = t->users[i]->name;
		if (!has(&g->users, n) && !has(&g->need_users, n))
			continue;
		p->planned_users = xgrow(p->planned_users, sizeof(*p->planned_users), p->nplanned_users + 1, &p->pucap);
		p->planned_users[p->nplanned_users++] = mr_arena_strdup(&p->arena, n);
	}
}

/* ---- does it hold together ---- */

/* In a domain that mixes live and targeted mailboxes, a name (mailbox or alias) is one mailbox's. */
static void check_names(struct tg *g, const struct mr_domain *d)
{
	struct mr_strmap seen = MR_STRMAP_INIT;
	for (size_t j = 0; j < d->nmailboxes; j++) {
		const struct mr_mailbox *mb = d->mailboxes[j];
		const char *names[1 + 64];
		size_t n = 0;
		names[n++] = mb->name;
		for (size_t k = 0; k < mb->aliases.n && n < sizeof(names) / sizeof(names[0]); k++)
			names[n++] = mb->aliases.v[k].s;
		for (size_t k = 0; k < n; k++) {
			const struct mr_mailbox *o = mr_strmap_get(&seen, names[k], strlen(names[k]));
			if (!o) {
				mr_strmap_put_new(&seen, names[k], strlen(names[k]), (void *)mb);
				continue;
			}
			if (o == mb)
				continue;
			bool mine = has(&g->mailboxes, mb->address);
			const struct mr_mailbox *left = mine ? o : mb, *taken = mine ? mb : o;
			mr_diag_error(g->errors, MR_LOC_NONE,
				      "--target '%s': '%s@%s' is also a name of mailbox '%s', which is not a target and "
				      "keeps it; add --target %s (or --target %s)",
				      taken->address, names[k], d->name, left->address, left->address, d->name);
			g->rc = MR_PLAN_ERROR;
		}
	}
	mr_strmap_release(&seen);
}

static void check(struct tg *g)
{
	const struct mr_model *r = g->r;
	for (size_t i = 0; i < r->ndomains; i++) {
		const struct mr_domain *d = r->domains[i];
		if (has(&g->need_domains, d->name))
			check_names(g, d);
		/* a user deleted by a target may not leave a domain it owns behind */
		if (d->owner && !mr_model_user(r, d->owner) && has(&g->users, d->owner)) {
			mr_diag_error(g->errors, MR_LOC_NONE,
				      "--target '%s': the user goes, but it still owns domain '%s', which is not a target; "
				      "add --target %s",
				      d->owner, d->name, d->name);
			g->rc = MR_PLAN_ERROR;
		}
	}
	for (size_t i = 0; i < r->nusers; i++) {
		const struct mr_user *u = r->users[i];
		if (u->reseller && !mr_model_user(r, u->reseller) && has(&g->users, u->reseller)) {
			mr_diag_error(g->errors, MR_LOC_NONE,
				      "--target '%s': the user goes, but user '%s', which is not a target, still has it "
				      "as its reseller; add --target %s",
				      u->reseller, u->name, u->name);
			g->rc = MR_PLAN_ERROR;
		}
	}
}

int mr_plan_narrow(struct mr_model *r, const struct mr_model *t, const struct mr_plan_input *in, struct mr_plan *p,
		   struct mr_diags *errors)
{
	struct tg g = { .t = t, .l = &in->live->model, .r = r, .p = p, .errors = errors,
			.users = MR_STRMAP_INIT, .domains = MR_STRMAP_INIT, .mailboxes = MR_STRMAP_INIT,
			.need_users = MR_STRMAP_INIT, .need_domains = MR_STRMAP_INIT };
	p->targeted = true;
	for (size_t i = 0; i < in->ntargets; i++)
		resolve(&g, in->targets[i]);
	if (g.rc == 0) {
		needs(&g);
		build(&g);
		check(&g);
	}
	mr_strmap_release(&g.users);
	mr_strmap_release(&g.domains);
	mr_strmap_release(&g.mailboxes);
	mr_strmap_release(&g.need_users);
	mr_strmap_release(&g.need_domains);
	return g.rc;
}
