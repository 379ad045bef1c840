/*
 * fleet: one desired state for many servers (design section 9).  A server reconciles the
 * domains placed on its host and the users they need; the rest of the fleet is known only
 * by name (which host each of its domains is on), so a plan can say where a domain went.
 */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/xalloc.h"

bool mr_model_is_fleet(const struct mr_model *m)
{
	return m->server.hosts.n > 0;
}

bool mr_model_has_host(const struct mr_model *m, const char *host)
{
	for (size_t i = 0; i < m->server.hosts.n; i++)
		if (strcmp(m->server.hosts.v[i].s, host) == 0)
			return true;
	return false;
}

const char *mr_model_elsewhere(const struct mr_model *m, const char *domain)
{
	return mr_strmap_get(&m->elsewhere, domain, strlen(domain));
}

static void keep_user(struct mr_model *m, struct mr_strmap *keep, const char *name)
{
	struct mr_user *u = name ? mr_model_user(m, name) : NULL;
	if (u)
		mr_strmap_set(keep, u->name, strlen(u->name), u);
}

void mr_model_keep_host(struct mr_model *m, const char *host)
{
	if (!mr_model_is_fleet(m))
		return;
	struct mr_strmap users = MR_STRMAP_INIT; /* the users kept: owners here and their resellers */
	size_t nd = 0;
	for (size_t i = 0; i < m->ndomains; i++) {
		struct mr_domain *d = m->domains[i];
		if (d->host && strcmp(d->host, host) == 0) {
			m->domains[nd++] = d;
			keep_user(m, &users, d->owner);
			const struct mr_user *o = d->owner ? mr_model_user(m, d->owner) : NULL;
			if (o)
				keep_user(m, &users, o->reseller);
			continue;
		}
		if (d->host)
			mr_strmap_put_new(&m->elsewhere, d->name, strlen(d->name), (void *)d->host);
		free(d->mailboxes); /* the domain itself stays in the arena, unreachable */
		d->mailboxes = NULL;
		d->nmailboxes = d->mailboxes_cap = 0;
	}
	m->ndomains = nd;
	size_t nu = 0;
	for (size_t i = 0; i < m->nusers; i++)
		if (mr_strmap_get(&users, m->users[i]->name, strlen(m->users[i]->name)))
			m->users[nu++] = m->users[i];
	m->nusers = nu;
	mr_strmap_release(&users);

	mr_model_reindex(m); /* the maps again, of what is left */
}
