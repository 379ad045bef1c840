/*
 * The "Mail flow" section of a plan (design section 8, docs/plan.md): the addresses whose
 * route changes between the live model and the target model, and the warnings about the
 * target's mail flow (route.h mr_route_findings).  The addresses asked about: every mailbox
 * and alias, every copy and forward target, of either model, and one unknown address per
 * domain ("*@DOMAIN", any address of the domain that is no mailbox or alias).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "util/strmap.h"
#include "util/xalloc.h"

struct dgraph;
static bool dg_hit(struct dgraph *g, const char *addr);

struct asks {
	struct mr_strmap seen;
	char **v;
	size_t n, cap;
	struct dgraph *only; /* NULL, or ask only addresses whose domain reaches a change */
};

static void ask(struct asks *a, const char *addr)
{
	char *lc = xstrdup(addr);
	for (char *p = lc; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if ((a->only && !dg_hit(a->only, lc)) || mr_strmap_put_new(&a->seen, lc, strlen(lc), lc)) {
		free(lc);
		return;
	}
	a->v = xgrow(a->v, sizeof(*a->v), a->n + 1, &a->cap);
	a->v[a->n++] = lc;
}

static void ask_model(struct asks *a, const struct mr_model *m)
{
	struct mr_buf b = MR_BUF_INIT;
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		if (d->action == MR_ACTION_FORWARD)
			ask(a, d->action_target);
		for (size_t j = 0; j < d->nmailboxes; j++) {
			const struct mr_mailbox *mb = d->mailboxes[j];
			ask(a, mb->address);
			for (size_t k = 0; k < mb->aliases.n; k++) {
				mr_buf_reset(&b);
				mr_buf_addf(&b, "%s@%s", mb->aliases.v[k].s, d->name);
				ask(a, b.ptr);
			}
			for (size_t k = 0; k < mb->copy_to.n; k++)
				ask(a, mb->copy_to.v[k].s);
		}
	}
	mr_buf_release(&b);
}

/* "PLACEHOLDER@x" -> "*@x" in what a route names */
static void unplace(char **s, const char *ph)
{
	size_t n = strlen(ph);
	if (strncmp(*s, ph, n) == 0 && (*s)[n] == '@') {
		size_t rest = strlen(*s + n);
		char *r = xmalloc(rest + 2);
		r[0] = '*';
		memcpy(r + 1, *s + n, rest + 1);
		free(*s);
		*s = r;
	}
}

static void unplace_route(struct mr_route *rt, const char *ph)
{
	for (size_t i = 0; i < rt->nremote; i++)
		unplace(&rt->remote[i], ph);
	for (size_t i = 0; i < rt->nbounces; i++)
		unplace(&rt->bounces[i].address, ph);
}

static int cmp_flow(const void *a, const void *b)
{
	const struct mr_flow *x = a, *y = b;
	return strcmp(x->address, y->address);
}

/*
 * Which domains' addresses can route differently.  A route from an address of domain X
 * reads, step by step, only the domains it reaches from X: X's own records (the domain, its
 * mailboxes and aliases, its owner's disabled flag) and, through copies, forwards and
 * redirect_domain, other domains.  While a route reaches no domain a change touched, each
 * step reads the same records in both models and so does the same: the route is the same.
 * So only the addresses of a changed domain, or of a domain from which one is reachable
 * (in the live or the target model), are routed -- at 1% changed, not every address twice.
 */
struct dgraph {
	struct mr_strmap ids; /* lower-case domain name -> id + 1 */
	char **names;
	size_t n, cap;
	size_t **rev; /* rev[y]: the domains x with an edge x -> y */
	size_t *nrev, *revcap;
	bool *hit;    /* a changed domain, or one that reaches one */
};

static size_t dg_id(struct dgraph *g, const char *name, size_t len)
{
	char *lc = xstrndup(name, len);
	for (char *p = lc; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	uintptr_t v = (uintptr_t)mr_strmap_get(&g->ids, lc, len);
	if (v) {
		free(lc);
		return v - 1;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		g->names = xrealloc(g->names, cap * sizeof(*g->names));
		g->rev = xrealloc(g->rev, cap * sizeof(*g->rev));
		g->nrev = xrealloc(g->nrev, cap * sizeof(*g->nrev));
		g->revcap = xrealloc(g->revcap, cap * sizeof(*g->revcap));
		g->hit = xrealloc(g->hit, cap * sizeof(*g->hit));
		g->cap = cap;
	}
	size_t id = g->n++;
	g->names[id] = lc;
	g->rev[id] = NULL;
	g->nrev[id] = g->revcap[id] = 0;
	g->hit[id] = false;
	mr_strmap_put_new(&g->ids, lc, len, (void *)(uintptr_t)(id + 1));
	return id;
}

/* the id of an address's domain (after its last '@'), or of a domain name */
static size_t dg_addr(struct dgraph *g, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *d = at ? at + 1 : addr;
	return dg_id(g, d, strlen(d));
}

static void dg_edge(struct dgraph *g, size_t x, size_t y)
{
	if (x == y)
		return;
	g->rev[y] = xgrow(g->rev[y], sizeof(**g->rev), g->nrev[y] + 1, &g->revcap[y]);
	g->rev[y][g->nrev[y]++] = x;
}

static void dg_model(struct dgraph *g, const struct mr_model *m)
{
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		size_t x = dg_id(g, d->name, strlen(d->name));
		if ((d->action == MR_ACTION_FORWARD || d->action == MR_ACTION_REDIRECT_DOMAIN) && d->action_target)
			dg_edge(g, x, dg_addr(g, d->action_target));
		for (size_t j = 0; j < d->nmailboxes; j++)
			for (size_t k = 0; k < d->mailboxes[j]->copy_to.n; k++)
				dg_edge(g, x, dg_addr(g, d->mailboxes[j]->copy_to.v[k].s));
	}
}

/* the domains of the users in `users`, in a model: one pass over its domains, whatever the
 * number of users (a first apply of 100,000 domains changes 10,000 users) */
static void dg_users(struct dgraph *g, const struct mr_model *m, const struct mr_strmap *users, size_t **stack,
		     size_t *n, size_t *cap)
{
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		if (d->owner && mr_strmap_get(users, d->owner, strlen(d->owner))) {
			size_t x = dg_id(g, d->name, strlen(d->name));
			if (!g->hit[x]) {
				g->hit[x] = true;
				*stack = xgrow(*stack, sizeof(**stack), *n + 1, cap);
				(*stack)[(*n)++] = x;
			}
		}
	}
}

/* Whether no route reads what a change changes: a mailbox kept with only attributes that
 * route.c never looks at (its password, quota, send limit, filters, note, who disabled it,
 * its home).  A plan that changes 1,000 passwords or quotas routes nothing. */
static bool route_blind(const struct mr_change *c)
{
	static const char *const blind[] = { "password", "max_size", "rate_per_hour", "greylisting", "spamassassin",
					      "note", "disabled_by", "home", NULL };
	if (c->object != MR_OBJ_MAILBOX || c->action != MR_CHANGE_UPDATE)
		return false;
	for (size_t i = 0; i < c->nattrs; i++) {
		const char *const *b = blind;
		while (*b && strcmp(*b, c->attrs[i].name) != 0)
			b++;
		if (!*b)
			return false;
	}
	return true;
}

/* Whether a change can change a route, as dg_mark reads it: not one of what no route
 * reads (the server's settings, keys, certificates, a mailbox's route-blind attributes). */
static bool route_read(const struct mr_change *c)
{
	switch (c->object) {
	case MR_OBJ_SERVER:
	case MR_OBJ_DKIM:
	case MR_OBJ_CERT:
		return false;
	case MR_OBJ_DOMAIN:
	case MR_OBJ_MAILBOX:
		return !route_blind(c);
	default:
		return true; /* a user, or a kind dg_mark routes everything for */
	}
}

/* Marks hit: the domains a change touched, and those that reach one.  false: a change of a
 * kind this does not know, so every address is to be routed. */
static bool dg_mark(struct dgraph *g, const struct mr_plan *p, const struct mr_model *live,
		    const struct mr_model *target)
{
	dg_model(g, live);
	dg_model(g, target);
	size_t *stack = NULL, n = 0, cap = 0;
	struct mr_strmap users = MR_STRMAP_INIT; /* the users changed */
	for (size_t i = 0; i < p->nchanges; i++) {
		const struct mr_change *c = &p->changes[i];
		if (!route_read(c))
			continue;
		if (c->object == MR_OBJ_USER) { /* its disabled flag: every domain it owns, in either model (below) */
			mr_strmap_put_new(&users, c->id, strlen(c->id), (void *)1);
			continue;
		}
		const char *dn = c->object == MR_OBJ_DOMAIN ? c->id : c->object == MR_OBJ_MAILBOX ? c->domain : NULL;
		if (!dn) { /* a kind this does not know */
			free(stack);
			mr_strmap_release(&users);
			return false;
		}
		size_t x = dg_id(g, dn, strlen(dn));
		if (!g->hit[x]) {
			g->hit[x] = true;
			stack = xgrow(stack, sizeof(*stack), n + 1, &cap);
			stack[n++] = x;
		}
	}
	if (users.count) {
		dg_users(g, live, &users, &stack, &n, &cap);
		dg_users(g, target, &users, &stack, &n, &cap);
	}
	mr_strmap_release(&users);
	while (n > 0) { /* back along the edges: who reaches a hit domain is hit */
		size_t y = stack[--n];
		for (size_t k = 0; k < g->nrev[y]; k++) {
			size_t x = g->rev[y][k];
			if (!g->hit[x]) {
				g->hit[x] = true;
				stack = xgrow(stack, sizeof(*stack), n + 1, &cap);
				stack[n++] = x;
			}
		}
	}
	free(stack);
	return true;
}

static bool dg_hit(struct dgraph *g, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *d = at ? at + 1 : addr;
	uintptr_t v = (uintptr_t)mr_strmap_get(&g->ids, d, strlen(d)); /* asks are lower case */
	return v && g->hit[v - 1];
}

static void dg_release(struct dgraph *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->names[i]);
		free(g->rev[i]);
	}
	free(g->names);
	free(g->rev);
	free(g->nrev);
	free(g->revcap);
	free(g->hit);
	mr_strmap_release(&g->ids);
}

void mr_plan_flow(struct mr_plan *p, const struct mr_model *live, const struct mr_model *target)
{
	struct mr_router lr, tr;
	mr_router_init(&tr, target);
	mr_route_findings(&tr, &p->flow_warnings);
	mr_diags_sort(&p->flow_warnings);
	size_t read = 0;
	while (read < p->nchanges && !route_read(&p->changes[read]))
		read++;
	if (read == p->nchanges) {
		/* no object change a route reads: the two models agree on every user, domain and
		 * mailbox field a route reads, so no address's route changes.  A no-op plan (every
		 * timer run) routes nothing, which at 100,000 mailboxes was a sixth of its CPU
		 * time; nor does a plan of 1,000 new quotas, which made the live model's router,
		 * the domain graph and a route per domain for nothing: 5.7 MiB of its peak */
		mr_router_release(&tr);
		return;
	}
	mr_router_init(&lr, live);

	/* the domains that reach a change first: an address of any other domain has the same
	 * route in both models, and is not even listed (at 1% changed, 99% of them) */
	struct dgraph g;
	memset(&g, 0, sizeof(g));
	bool some = dg_mark(&g, p, live, target);
	struct asks a = { MR_STRMAP_INIT, NULL, 0, 0, some ? &g : NULL };
	ask_model(&a, live);
	ask_model(&a, target);
	size_t nknown = a.n;
	/* one unknown address per domain of either model */
	const struct mr_model *ms[2] = { live, target };
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < ms[k]->ndomains; i++) {
			char *u = mr_router_unknown(&lr, &tr, ms[k]->domains[i]->name);
			ask(&a, u);
			free(u);
		}
	for (size_t i = 0; i < a.n; i++) {
		struct mr_route o, n;
		mr_route(&o, &lr, a.v[i]);
		mr_route(&n, &tr, a.v[i]);
		const char *display = a.v[i];
		char *ph = NULL;
		if (i >= nknown) {
			const char *at = strrchr(a.v[i], '@');
			ph = xstrndup(a.v[i], (size_t)(at - a.v[i]));
			unplace_route(&o, ph);
			unplace_route(&n, ph);
			display = mr_arena_printf(&p->flow_arena, "*%s", at);
		}
		if (mr_route_equal(&o, &n)) {
			mr_route_release(&o);
			mr_route_release(&n);
		} else {
			p->flows = xgrow(p->flows, sizeof(*p->flows), p->nflows + 1, &p->flcap);
			struct mr_flow *f = &p->flows[p->nflows++];
			f->address = display == a.v[i] ? mr_arena_strdup(&p->flow_arena, display) : display;
			f->old = o;
			f->new = n;
		}
		free(ph);
	}
	if (p->nflows > 1)
		qsort(p->flows, p->nflows, sizeof(*p->flows), cmp_flow);
	for (size_t i = 0; i < a.n; i++)
		free(a.v[i]);
	free(a.v);
	mr_strmap_release(&a.seen);
	dg_release(&g);
	mr_router_release(&lr);
	mr_router_release(&tr);
}

static void json_list(struct mr_buf *out, char *const *v, size_t n)
{
	mr_buf_addc(out, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			mr_buf_addc(out, ',');
		mr_json_string(out, v[i]);
	}
	mr_buf_addc(out, ']');
}

void mr_route_json(struct mr_buf *out, const char *address, const struct mr_route *rt)
{
	mr_buf_adds(out, "{\"address\":");
	mr_json_string(out, address);
	mr_buf_adds(out, ",\"outcome\":");
	mr_json_string(out, mr_route_outcome_name(rt->outcome));
	mr_buf_adds(out, ",\"mailboxes\":");
	json_list(out, rt->mailboxes, rt->nmailboxes);
	mr_buf_adds(out, ",\"text\":");
	mr_json_string(out, rt->text);
	mr_buf_adds(out, ",\"remote\":");
	json_list(out, rt->remote, rt->nremote);
	mr_buf_adds(out, ",\"bounces\":[");
	for (size_t i = 0; i < rt->nbounces; i++) {
		mr_buf_adds(out, i ? ",{\"address\":" : "{\"address\":");
		mr_json_string(out, rt->bounces[i].address);
		mr_buf_adds(out, ",\"text\":");
		mr_json_string(out, rt->bounces[i].text);
		mr_buf_addc(out, '}');
	}
	mr_buf_addf(out, "],\"smtp\":{\"code\":%d,\"text\":", rt->smtp_code);
	mr_json_string(out, rt->smtp_text);
	mr_buf_addf(out, "},\"loop\":%s,\"incomplete\":%s}", rt->loop ? "true" : "false",
		    rt->overflow ? "true" : "false");
}

void mr_plan_take_flow(struct mr_plan *to, struct mr_plan *from)
{
	to->flows = from->flows;
	to->nflows = from->nflows;
	to->flcap = from->flcap;
	to->flow_warnings = from->flow_warnings;
	to->flow_arena = from->flow_arena;
	from->flows = NULL;
	from->nflows = from->flcap = 0;
	from->flow_warnings = (struct mr_diags)MR_DIAGS_INIT;
	memset(&from->flow_arena, 0, sizeof(from->flow_arena));
}
