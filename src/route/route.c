/*
 * The routers of contrib/exim4/exim4.conf over a model (route.h).  Each function below is
 * named after the router it stands for; the comments say which line of exim4.conf or of
 * Exim's source (route.c route_address, route_unseen; verify.c verify_address) it follows.
 */
#include <stdlib.h>
#include <string.h>

#include "route/route.h"
#include "util/xalloc.h"

/* exim4.conf's routers, in order. */
enum router { R_REMOTE, R_DISABLED, R_ALIAS, R_COPY, R_MAILBOX, R_CATCHALL, R_END };

#define REJECT_TEXT "No such user here" /* exim-domains ":fail: No such user here" (files.c) */
#define DISABLED_TEXT "5.0.0 mailbox disabled"
#define UNROUTEABLE_TEXT "Unrouteable address"
#define RELAY_TEXT "5.7.1 relay not permitted"
#define ACL_TEXT "Administrative prohibition"
#define MAX_ANCESTORS 100 /* route.c: "loopcount++ > 100": a routing loop, deferred */

/* An address being routed: Exim's address_item, as far as the loop rule needs it. */
struct node {
	const char *addr;
	const struct node *parent;
	enum router router; /* the router that handled it (Exim's addr->router) */
};

struct strs {
	char **v;
	size_t n, cap;
};

struct walk {
	const struct mr_router *r;
	bool verify; /* RCPT verification: follow a single new address only */
	struct strs mailboxes, remote;
	struct mr_route_bounce *bounces;
	size_t nbounces, bcap;
	size_t discards, steps;
	bool loop, overflow;
	/* verify */
	int code;
	char *text;
};

static const char *const outcome_names[] = { "deliver", "remote", "discard", "reject" };

const char *mr_route_outcome_name(enum mr_route_outcome o)
{
	return outcome_names[o];
}

static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

static void strs_add(struct strs *s, char *v)
{
	s->v = xgrow(s->v, sizeof(*s->v), s->n + 1, &s->cap);
	s->v[s->n++] = v;
}

/* ---- the index -------------------------------------------------------------------------- */

void mr_router_init(struct mr_router *r, const struct mr_model *m)
{
	memset(r, 0, sizeof(*r));
	r->m = m;
	/* the map at its size and its keys in an arena: at 100,000 mailboxes with 45,000
	 * aliases, a key of its own and an array of them took 1.3 MiB more, and the map's
	 * doublings another 1.5 MiB of blocks freed on the way */
	size_t n = 0;
	for (size_t i = 0; i < m->ndomains; i++)
		for (size_t j = 0; j < m->domains[i]->nmailboxes; j++)
			n += m->domains[i]->mailboxes[j]->aliases.n;
	mr_strmap_reserve(&r->aliases, n);
	struct mr_buf key = MR_BUF_INIT;
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		for (size_t j = 0; j < d->nmailboxes; j++) {
			struct mr_mailbox *mb = d->mailboxes[j];
			for (size_t k = 0; k < mb->aliases.n; k++) {
				mr_buf_reset(&key);
				mr_buf_adds(&key, mb->aliases.v[k].s);
				mr_buf_addc(&key, '@');
				mr_buf_adds(&key, d->name);
				for (char *p = key.ptr; *p; p++)
					if (*p >= 'A' && *p <= 'Z')
						*p = (char)(*p - 'A' + 'a');
				/* exim4.conf MR_ALIAS_MAIN: the first fwd line of the alias wins */
				if (mr_strmap_get(&r->aliases, key.ptr, key.len))
					continue;
				mr_strmap_put_new(&r->aliases, mr_arena_strndup(&r->keys, key.ptr, key.len), key.len, mb);
			}
		}
	}
	mr_buf_release(&key);
}

void mr_router_release(struct mr_router *r)
{
	mr_strmap_release(&r->aliases);
	mr_arena_release(&r->keys);
	memset(r, 0, sizeof(*r));
}

static const struct mr_domain *local_domain(const struct mr_router *r, const char *lcdomain)
{
	const struct mr_domain *d = mr_model_domain(r->m, lcdomain);
	/* exim4.conf local_domains: lsearch of exim-domains; a disabled domain's line is
	 * commented out, and a live domain known only from its mailboxes has no line */
	if (!d || d->disabled || d->implicit)
		return NULL;
	return d;
}

bool mr_router_local_domain(const struct mr_router *r, const char *domain)
{
	char *lc = lower_dup(domain);
	bool yes = local_domain(r, lc) != NULL;
	free(lc);
	return yes;
}

const struct mr_mailbox *mr_router_alias(const struct mr_router *r, const char *address)
{
	char *lc = lower_dup(address);
	const struct mr_mailbox *mb = mr_strmap_get(&r->aliases, lc, strlen(lc));
	free(lc);
	return mb;
}

/* exim-passwd disabled=self|domain|user (files.c want_exim_passwd) */
static bool mailbox_disabled(const struct mr_router *r, const struct mr_mailbox *mb)
{
	if (mb->disabled || mb->domain->disabled)
		return true;
	const struct mr_user *u = mb->domain->owner ? mr_model_user(r->m, mb->domain->owner) : NULL;
	return u && u->disabled;
}

/* ---- leaves ----------------------------------------------------------------------------- */

static void bounce(struct walk *w, const char *addr, const char *text)
{
	if (w->verify) {
		w->code = 550;
		w->text = xstrdup(text);
		return;
	}
	w->bounces = xgrow(w->bounces, sizeof(*w->bounces), w->nbounces + 1, &w->bcap);
	w->bounces[w->nbounces].address = lower_dup(addr);
	w->bounces[w->nbounces].text = xstrdup(text);
	w->nbounces++;
}

/* ---- the routers ------------------------------------------------------------------------ */

static void route_addr(struct walk *w, const char *addr, const struct node *parent, enum router start);

/*
 * A redirect router generated n addresses (and, with unseen, the clone of addr that goes
 * on to the next router).  route.c route_unseen: the routed address gets an invented
 * parent with the same address and router, the children hang below the routed address,
 * the clone below the invented parent.
 */
static void redirect(struct walk *w, struct node *self, const char *const *to, size_t n, bool unseen)
{
	if (w->verify) {
		/* verify.c: verification goes on only with exactly one new address */
		if (n + (unseen ? 1 : 0) != 1) {
			w->code = 250;
			return;
		}
		route_addr(w, to[0], self, R_REMOTE);
		return;
	}
	if (!unseen) {
		for (size_t i = 0; i < n; i++)
			route_addr(w, to[i], self, R_REMOTE);
		return;
	}
	struct node invented = *self;
	struct node routed = { self->addr, &invented, self->router };
	for (size_t i = 0; i < n; i++)
		route_addr(w, to[i], &routed, R_REMOTE);
	route_addr(w, self->addr, &invented, R_MAILBOX);
}

/* route.c: skip router rt when an ancestor with the same address (no case) was routed by it */
static bool skipped(const struct node *self, enum router rt)
{
	for (const struct node *p = self->parent; p; p = p->parent)
		if (p->router == rt && strcasecmp(p->addr, self->addr) == 0)
			return true;
	return false;
}

static size_t ancestors(const struct node *n)
{
	size_t k = 0;
	for (const struct node *p = n->parent; p; p = p->parent)
		k++;
	return k;
}

static void route_addr(struct walk *w, const char *addr, const struct node *parent, enum router start)
{
	if (w->overflow)
		return;
	struct node self = { addr, parent, start };
	if (++w->steps > MR_ROUTE_MAX_STEPS || ancestors(&self) > MAX_ANCESTORS) {
		w->overflow = true;
		if (w->verify)
			w->code = 250;
		return;
	}
	const char *at = strrchr(addr, '@');
	char *lc = lower_dup(addr);
	const struct mr_domain *d = at ? local_domain(w->r, lc + (at - addr) + 1) : NULL;
	const struct mr_mailbox *mb = d ? mr_model_mailbox(w->r->m, lc) : NULL;
	/* the data of each router (its condition and data expanded) */
	for (enum router rt = start; rt < R_END; rt++) {
		self.router = rt;
		if (skipped(&self, rt)) {
			w->loop = true;
			continue;
		}
		switch (rt) {
		case R_REMOTE: /* dnslookup / mr_smarthost: domains = ! +local_domains, no_more */
			if (d)
				break;
			if (w->verify)
				w->code = 250;
			else
				strs_add(&w->remote, xstrdup(lc));
			goto done;
		case R_DISABLED: /* mr_disabled: :fail: 5.0.0 mailbox disabled */
			if (!mb || !mailbox_disabled(w->r, mb))
				break;
			bounce(w, addr, DISABLED_TEXT);
			goto done;
		case R_ALIAS: { /* mr_alias: data = the main mailbox of the first fwd line */
			const struct mr_mailbox *main = mr_strmap_get(&w->r->aliases, lc, strlen(lc));
			if (!main)
				break;
			const char *to = main->address;
			redirect(w, &self, &to, 1, false);
			goto done;
		}
		case R_COPY: { /* mr_copy: the copy targets, unseen unless save=no; none: declines */
			if (!mb || mb->copy_to.n == 0)
				break;
			const char **to = xcalloc(mb->copy_to.n, sizeof(*to));
			for (size_t k = 0; k < mb->copy_to.n; k++)
				to[k] = mb->copy_to.v[k].s;
			redirect(w, &self, to, mb->copy_to.n, mb->keep_copy);
			free(to);
			goto done;
		}
		case R_MAILBOX: /* mr_mailbox (mr_mailbox_verify when verifying) */
			if (!mb)
				break;
			if (w->verify)
				w->code = 250;
			else
				strs_add(&w->mailboxes, xstrdup(mb->address));
			goto done;
		case R_CATCHALL: /* mr_catchall: the exim-domains data */
			switch (d->action) {
			case MR_ACTION_REJECT:
				bounce(w, addr, REJECT_TEXT);
				break;
			case MR_ACTION_DISCARD:
				if (w->verify)
					w->code = 250;
				w->discards++;
				break;
			case MR_ACTION_FORWARD: {
				const char *to = d->action_target;
				redirect(w, &self, &to, 1, false);
				break;
			}
			case MR_ACTION_REDIRECT_DOMAIN: {
				/* "@DOMAIN": $local_part (as written) at DOMAIN */
				struct mr_buf b = MR_BUF_INIT;
				mr_buf_add(&b, addr, (size_t)(at - addr));
				mr_buf_addf(&b, "@%s", d->action_target);
				const char *to = b.ptr;
				redirect(w, &self, &to, 1, false);
				mr_buf_release(&b);
				break;
			}
			}
			goto done;
		case R_END:
			break;
		}
	}
	/* route.c: no more routers */
	bounce(w, addr, UNROUTEABLE_TEXT);
done:
	free(lc);
}

/* ---- results ---------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sort_unique(struct strs *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (k && strcmp(s->v[k - 1], s->v[i]) == 0) {
			free(s->v[i]);
			continue;
		}
		s->v[k++] = s->v[i];
	}
	s->n = k;
}

static int cmp_bounce(const void *a, const void *b)
{
	const struct mr_route_bounce *x = a, *y = b;
	int c = strcmp(x->address, y->address);
	return c ? c : strcmp(x->text, y->text);
}

/* The RCPT ACL's first deny: "local_parts = ^.*[@%!/|] : ^\\." */
static bool acl_refused(const char *addr)
{
	const char *at = strrchr(addr, '@');
	if (!at)
		return false;
	if (addr[0] == '.')
		return true;
	for (const char *p = addr; p < at; p++)
		if (strchr("@%!/|", *p))
			return true;
	return false;
}

void mr_route(struct mr_route *out, const struct mr_router *r, const char *address)
{
	memset(out, 0, sizeof(*out));
	struct walk w = { .r = r };
	route_addr(&w, address, NULL, R_REMOTE);
	sort_unique(&w.mailboxes);
	sort_unique(&w.remote);
	if (w.nbounces > 1)
		qsort(w.bounces, w.nbounces, sizeof(*w.bounces), cmp_bounce);
	size_t k = 0;
	for (size_t i = 0; i < w.nbounces; i++) {
		if (k && cmp_bounce(&w.bounces[k - 1], &w.bounces[i]) == 0) {
			free(w.bounces[i].address);
			free(w.bounces[i].text);
			continue;
		}
		w.bounces[k++] = w.bounces[i];
	}
	w.nbounces = k;
	out->mailboxes = w.mailboxes.v;
	out->nmailboxes = w.mailboxes.n;
	out->remote = w.remote.v;
	out->nremote = w.remote.n;
	out->bounces = w.bounces;
	out->nbounces = w.nbounces;
	out->loop = w.loop;
	out->overflow = w.overflow;

	/* the RCPT answer: the ACL, then verify = recipient */
	const char *at = strrchr(address, '@');
	if (!at || !mr_router_local_domain(r, at + 1)) {
		out->smtp_code = 550;
		out->smtp_text = xstrdup(RELAY_TEXT);
	} else if (acl_refused(address)) {
		out->smtp_code = 550;
		out->smtp_text = xstrdup(ACL_TEXT);
	} else {
		struct walk v = { .r = r, .verify = true, .code = 250 };
		route_addr(&v, address, NULL, R_REMOTE);
		out->smtp_code = v.code;
		out->smtp_text = v.code == 550 ? v.text : NULL;
		if (v.code != 550)
			free(v.text);
	}

	if (out->nmailboxes)
		out->outcome = MR_ROUTE_DELIVER;
	else if (out->nremote)
		out->outcome = MR_ROUTE_REMOTE;
	else if (out->nbounces || out->smtp_code == 550)
		out->outcome = MR_ROUTE_REJECT;
	else
		out->outcome = MR_ROUTE_DISCARD;
	if (out->outcome == MR_ROUTE_REJECT)
		out->text = out->smtp_code == 550 ? out->smtp_text : out->bounces[0].text;
}

void mr_route_release(struct mr_route *rt)
{
	for (size_t i = 0; i < rt->nmailboxes; i++)
		free(rt->mailboxes[i]);
	free(rt->mailboxes);
	for (size_t i = 0; i < rt->nremote; i++)
		free(rt->remote[i]);
	free(rt->remote);
	for (size_t i = 0; i < rt->nbounces; i++) {
		free(rt->bounces[i].address);
		free(rt->bounces[i].text);
	}
	free(rt->bounces);
	free(rt->smtp_text);
	memset(rt, 0, sizeof(*rt));
}

static void list(struct mr_buf *out, char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			mr_buf_adds(out, ", ");
		mr_buf_adds(out, v[i]);
	}
}

static void bounces(struct mr_buf *out, const struct mr_route *rt)
{
	for (size_t i = 0; i < rt->nbounces; i++) {
		if (i)
			mr_buf_adds(out, ", ");
		mr_buf_addf(out, "%s (%s)", rt->bounces[i].address, rt->bounces[i].text);
	}
}

void mr_route_format(const struct mr_route *rt, struct mr_buf *out)
{
	mr_buf_adds(out, outcome_names[rt->outcome]);
	switch (rt->outcome) {
	case MR_ROUTE_DELIVER:
	case MR_ROUTE_REMOTE:
		mr_buf_adds(out, ": ");
		if (rt->nmailboxes) {
			list(out, rt->mailboxes, rt->nmailboxes);
			if (rt->nremote)
				mr_buf_adds(out, "; remote: ");
		}
		list(out, rt->remote, rt->nremote);
		if (rt->nbounces) {
			mr_buf_adds(out, "; bounce: ");
			bounces(out, rt);
		}
		break;
	case MR_ROUTE_DISCARD:
		break;
	case MR_ROUTE_REJECT:
		if (rt->smtp_code == 550) {
			mr_buf_addf(out, ": 550 %s", rt->smtp_text);
		} else {
			mr_buf_adds(out, ": accepted, then bounced: ");
			bounces(out, rt);
		}
		break;
	}
	if (rt->overflow)
		mr_buf_addf(out, " (incomplete: over %d routing steps)", MR_ROUTE_MAX_STEPS);
}

static bool s_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool mr_route_equal(const struct mr_route *a, const struct mr_route *b)
{
	if (a->outcome != b->outcome || a->nmailboxes != b->nmailboxes || a->nremote != b->nremote ||
	    a->nbounces != b->nbounces || a->smtp_code != b->smtp_code || !s_eq(a->smtp_text, b->smtp_text) ||
	    a->overflow != b->overflow)
		return false;
	for (size_t i = 0; i < a->nmailboxes; i++)
		if (strcmp(a->mailboxes[i], b->mailboxes[i]))
			return false;
	for (size_t i = 0; i < a->nremote; i++)
		if (strcmp(a->remote[i], b->remote[i]))
			return false;
	for (size_t i = 0; i < a->nbounces; i++)
		if (cmp_bounce(&a->bounces[i], &b->bounces[i]))
			return false;
	return true;
}

/* ---- findings --------------------------------------------------------------------------- */

static void route_text(const struct mr_route *rt, struct mr_buf *b)
{
	mr_buf_reset(b);
	mr_route_format(rt, b);
}

static void mailbox_findings(const struct mr_router *r, const struct mr_mailbox *mb, struct mr_buf *b,
			     struct mr_diags *out)
{
	struct mr_route rt;
	mr_route(&rt, r, mb->address);
	route_text(&rt, b);
	if (rt.outcome == MR_ROUTE_REJECT || rt.outcome == MR_ROUTE_DISCARD)
		mr_diag_warning(out, mb->loc, "mail to '%s' is stored nowhere: %s", mb->address, b->ptr);
	else
		for (size_t i = 0; i < rt.nbounces; i++)
			mr_diag_warning(out, mb->loc, "mail to '%s' bounces at '%s': %s", mb->address,
					rt.bounces[i].address, rt.bounces[i].text);
	if (rt.loop)
		mr_diag_warning(out, mb->loc,
				"mail to '%s' comes back to an address it went through (a copy loop); Exim stops "
				"the loop there, and the mail goes to: %s",
				mb->address, b->ptr);
	mr_route_release(&rt);
}

char *mr_router_unknown(const struct mr_router *a, const struct mr_router *b, const char *domain)
{
	struct mr_buf buf = MR_BUF_INIT;
	for (unsigned n = 0;; n++) {
		mr_buf_reset(&buf);
		if (n)
			mr_buf_addf(&buf, "%s%u@%s", MR_ROUTE_UNKNOWN, n, domain);
		else
			mr_buf_addf(&buf, "%s@%s", MR_ROUTE_UNKNOWN, domain);
		bool taken = false;
		for (const struct mr_router *r = a; r && !taken; r = r == a ? b : NULL)
			taken = mr_model_mailbox(r->m, buf.ptr) || mr_strmap_get(&r->aliases, buf.ptr, buf.len);
		if (!taken)
			break;
	}
	return mr_buf_detach(&buf);
}

/* The mailbox after *i, *j in the model's order, the cursor moved past it; NULL: none. */
static const struct mr_mailbox *next_mailbox(const struct mr_model *m, size_t *i, size_t *j)
{
	for (; *i < m->ndomains; ++*i, *j = 0)
		if (*j < m->domains[*i]->nmailboxes)
			return m->domains[*i]->mailboxes[(*j)++];
	return NULL;
}

void mr_route_findings(const struct mr_router *r, struct mr_diags *out)
{
	struct mr_buf b = MR_BUF_INIT;
	/* each mailbox's route looks its address, and those of its copies, up in the mailbox
	 * and the alias maps: their slots are fetched MR_STRMAP_AHEAD mailboxes ahead (a cursor
	 * that runs ahead of the loop, skipped domains included; only a prefetch, the lookups
	 * hash again) */
	struct mr_strmap_ahead ahead = MR_STRMAP_AHEAD_INIT, copies = MR_STRMAP_AHEAD_INIT;
	size_t ai = 0, aj = 0, pos = 0, cpos = 0;
	for (size_t k = 0; k < MR_STRMAP_AHEAD; k++)
		next_mailbox(r->m, &ai, &aj);
	for (size_t i = 0; i < r->m->ndomains; i++) {
		const struct mr_domain *d = r->m->domains[i];
		if (!local_domain(r, d->name)) {
			for (size_t j = 0; j < d->nmailboxes; j++)
				next_mailbox(r->m, &ai, &aj);
			continue;
		}
		for (size_t j = 0; j < d->nmailboxes; j++) {
			const struct mr_mailbox *n = next_mailbox(r->m, &ai, &aj);
			if (n)
				mr_strmap_ahead(&ahead, pos++, &r->m->mailbox_map, &r->aliases, n->address,
						strlen(n->address));
			for (size_t k = 0; n && k < n->copy_to.n; k++)
				mr_strmap_ahead(&copies, cpos++, &r->m->mailbox_map, &r->aliases, n->copy_to.v[k].s,
						strlen(n->copy_to.v[k].s));
			if (!mailbox_disabled(r, d->mailboxes[j]))
				mailbox_findings(r, d->mailboxes[j], &b, out);
		}
		/* a redirect_domain's unknown addresses are refused when the other domain refuses
		 * them: that is what it means; a forward names one address that should take them */
		if (d->action != MR_ACTION_FORWARD)
			continue;
		char *unknown = mr_router_unknown(r, NULL, d->name);
		struct mr_route rt;
		mr_route(&rt, r, unknown);
		if (rt.outcome == MR_ROUTE_REJECT)
			mr_diag_warning(out, d->action_loc,
					"the default action of '%s' (forward to %s) ends in a refusal: any other "
					"address of the domain is refused (%s)",
					d->name, d->action_target, rt.text);
		mr_route_release(&rt);
		free(unknown);
	}
	mr_buf_release(&b);
}
