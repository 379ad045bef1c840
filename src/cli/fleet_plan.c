/*
 * plan --all-hosts --json: for a merge request to a fleet's repository, what the change
 * touches on every host (docs/fleet.md, schema/fleet-plan.schema.json).
 *
 * It reads desired states only, never a live tree: the new state (-f), and with --base the
 * state before the change (a directory, a file or git:REPO#REF).  Per host of server.hosts
 * it lists what is placed there and, with --base, the domains added, removed, moved in or
 * out and changed, and the users whose declaration changed.  What only a server knows (its
 * live files, hand edits, whether a {file:} or {env:} password's content changed, keys and
 * certificates made at apply) is not known here: each server's own plan says it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/fleet_plan.h"
#include "load/desired.h"
#include "plan/plan.h"
#include "util/buf.h"
#include "util/xalloc.h"

static void items(struct mr_buf *b, const struct mr_items *it)
{
	for (size_t i = 0; i < it->n; i++)
		mr_buf_addf(b, "%s,", it->v[i].s);
	mr_buf_addc(b, ';');
}

/*
 * Every field of a domain and its mailboxes as one string, to compare two declarations: a
 * password by its kind and value as written (a hash, a path or a variable name), never
 * its content.  A field added to struct mr_domain or mr_mailbox belongs here too.  The
 * string holds hashes: it is compared, never printed.
 */
static void domain_key(const struct mr_domain *d, struct mr_buf *b)
{
	mr_buf_reset(b);
	mr_buf_addf(b, "owner=%s;ip=%s;action=%d:%s;flags=%d%d%d%d%d;", d->owner ? d->owner : "",
		    d->ip ? d->ip : "", (int)d->action, d->action_target ? d->action_target : "", d->greylisting,
		    d->spamassassin, d->antivirus, d->dmarc, d->disabled);
	mr_buf_addf(b, "dkim=%d:%s:%d;", d->dkim.enabled, d->dkim.enabled ? d->dkim.selector : "",
		    d->dkim.enabled ? d->dkim.bits : 0);
	mr_buf_addf(b, "ssl=%d:%s:%d:%s:%s:%s;", d->ssl.enabled, d->ssl.alias ? d->ssl.alias : "", (int)d->ssl.cert,
		    d->ssl.cert_path ? d->ssl.cert_path : "", d->ssl.key_path ? d->ssl.key_path : "",
		    d->ssl.email ? d->ssl.email : "");
	for (size_t i = 0; i < d->nmailboxes; i++) {
		const struct mr_mailbox *mb = d->mailboxes[i];
		mr_buf_addf(b, "mb=%s:%d:%s:", mb->name, (int)mb->password_kind, mb->password.value ? mb->password.value : "");
		items(b, &mb->aliases);
		items(b, &mb->copy_to);
		mr_buf_addf(b, "%d:%lld:%lld:%d%d%d:%s;", mb->keep_copy, (long long)mb->max_size,
			    (long long)mb->rate_per_hour, mb->greylisting, mb->spamassassin, mb->disabled,
			    mr_mailbox_note(mb) ? mr_mailbox_note(mb) : "");
	}
}

static void user_key(const struct mr_user *u, struct mr_buf *b)
{
	mr_buf_reset(b);
	mr_buf_addf(b, "%d:%s:%d:%d:%lld:%lld:%lld", (int)u->role, u->reseller ? u->reseller : "", (int)u->account,
		    u->disabled, (long long)u->limits.mail_domains, (long long)u->limits.mailboxes,
		    (long long)u->limits.rate_per_hour);
}

static bool on_host(const struct mr_domain *d, const char *host)
{
	return d->host && strcmp(d->host, host) == 0;
}

/* Whether user u is reconciled on host in m: it owns a domain there, or is the reseller of
 * a user who does (the rule of mr_model_keep_host). */
static bool user_on_host(const struct mr_model *m, const struct mr_user *u, const char *host)
{
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		if (!on_host(d, host) || !d->owner)
			continue;
		if (strcmp(d->owner, u->name) == 0)
			return true;
		const struct mr_user *o = mr_model_user(m, d->owner);
		if (o && o->reseller && strcmp(o->reseller, u->name) == 0)
			return true;
	}
	return false;
}

static void json_names_open(struct mr_buf *out, const char *key, bool *first)
{
	mr_buf_addf(out, ",\"%s\":[", key);
	*first = true;
}

static void json_name(struct mr_buf *out, const char *name, bool *first)
{
	if (!*first)
		mr_buf_addc(out, ',');
	*first = false;
	mr_json_string(out, name);
}

/* One host's object; returns whether the change touches it (with a base). */
static bool host_json(const struct mr_model *m, const struct mr_model *base, const char *host, struct mr_buf *out)
{
	struct mr_buf ka = MR_BUF_INIT, kb = MR_BUF_INIT;
	bool first, touched = false;
	size_t nmb = 0;
	mr_buf_adds(out, "{\"host\":");
	mr_json_string(out, host);
	mr_buf_addf(out, ",\"basis\":\"desired\"");
	json_names_open(out, "domains", &first);
	for (size_t i = 0; i < m->ndomains; i++)
		if (on_host(m->domains[i], host)) {
			json_name(out, m->domains[i]->name, &first);
			nmb += m->domains[i]->nmailboxes;
		}
	mr_buf_adds(out, "]");
	json_names_open(out, "users", &first);
	for (size_t i = 0; i < m->nusers; i++)
		if (user_on_host(m, m->users[i], host))
			json_name(out, m->users[i]->name, &first);
	mr_buf_addf(out, "],\"mailboxes\":%zu", nmb);
	if (!base) {
		mr_buf_adds(out, ",\"change\":null}");
		goto done;
	}
	mr_buf_adds(out, ",\"change\":{\"domains_added\":[");
	/* new here: not in the base at all, or in it without a host (a state before the fleet) */
	first = true;
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i], *b = mr_model_domain(base, d->name);
		if (on_host(d, host) && (!b || !b->host))
			json_name(out, d->name, &first), touched = true;
	}
	mr_buf_adds(out, "],\"domains_removed\":[");
	first = true;
	for (size_t i = 0; i < base->ndomains; i++) {
		const struct mr_domain *b = base->domains[i];
		if (on_host(b, host) && !mr_model_domain(m, b->name))
			json_name(out, b->name, &first), touched = true;
	}
	mr_buf_adds(out, "],\"domains_moved_in\":[");
	first = true;
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i], *b = mr_model_domain(base, d->name);
		if (on_host(d, host) && b && b->host && !on_host(b, host)) {
			mr_buf_adds(out, first ? "{\"domain\":" : ",{\"domain\":");
			mr_json_string(out, d->name);
			mr_buf_adds(out, ",\"from\":");
			mr_json_string(out, b->host);
			mr_buf_addc(out, '}');
			first = false;
			touched = true;
		}
	}
	mr_buf_adds(out, "],\"domains_moved_out\":[");
	first = true;
	for (size_t i = 0; i < base->ndomains; i++) {
		const struct mr_domain *b = base->domains[i], *d = mr_model_domain(m, b->name);
		if (on_host(b, host) && d && !on_host(d, host)) {
			mr_buf_adds(out, first ? "{\"domain\":" : ",{\"domain\":");
			mr_json_string(out, b->name);
			mr_buf_adds(out, ",\"to\":");
			mr_json_string(out, d->host);
			mr_buf_addc(out, '}');
			first = false;
			touched = true;
		}
	}
	mr_buf_adds(out, "],\"domains_changed\":[");
	first = true;
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i], *b = mr_model_domain(base, d->name);
		if (!on_host(d, host) || !b || !on_host(b, host))
			continue;
		domain_key(d, &ka);
		domain_key(b, &kb);
		if (strcmp(ka.ptr, kb.ptr) != 0)
			json_name(out, d->name, &first), touched = true;
	}
	/* the users reconciled here in either state whose declaration differs (or who come or go) */
	mr_buf_adds(out, "],\"users_changed\":[");
	first = true;
	for (size_t pass = 0; pass < 2; pass++) {
		const struct mr_model *x = pass ? base : m, *y = pass ? m : base;
		for (size_t i = 0; i < x->nusers; i++) {
			const struct mr_user *u = x->users[i], *v = mr_model_user(y, u->name);
			bool here_x = user_on_host(x, u, host), here_y = v && user_on_host(y, v, host);
			if (!here_x || (pass && here_y))
				continue; /* not here in x; or, on the second pass, seen on the first */
			bool differs = !here_y;
			if (!differs) {
				user_key(u, &ka);
				user_key(v, &kb);
				differs = strcmp(ka.ptr, kb.ptr) != 0;
			}
			if (differs)
				json_name(out, u->name, &first), touched = true;
		}
	}
	mr_buf_addf(out, "],\"touched\":%s}}", touched ? "true" : "false");
done:
	mr_buf_release(&ka);
	mr_buf_release(&kb);
	return touched;
}

static int load_whole(struct mr_model *m, const struct mr_globals *g, const struct mr_cli_sources *src,
		      const char *what)
{
	struct mr_diags d = MR_DIAGS_INIT;
	struct mr_load_opts lo = mr_cli_load_opts(g, src);
	lo.host = NULL; /* the whole fleet */
	mr_model_init(m);
	int rc = mr_load_desired(m, &lo, &d);
	mr_diags_print(&d, stderr);
	if (rc < 0)
		mr_cli_error("plan --all-hosts: %zu error%s in the %s desired state; no plan", d.errors,
			     d.errors == 1 ? "" : "s", what);
	mr_diags_release(&d);
	if (rc == 0)
		mr_model_sort(m);
	return rc;
}

int mr_cli_fleet_plan(const struct mr_globals *g, const struct mr_cli_sources *src, const struct mr_cli_sources *base,
		      bool detailed)
{
	struct mr_model m, b;
	bool have_base = base->n > 0;
	int code = MR_EXIT_ERROR;
	if (load_whole(&m, g, src, "new") < 0) {
		mr_model_release(&m);
		return MR_EXIT_ERROR;
	}
	if (!mr_model_is_fleet(&m)) {
		mr_cli_error("plan --all-hosts: the desired state has no server.hosts: it is not a fleet (see docs/fleet.md)");
		mr_model_release(&m);
		return MR_EXIT_ERROR;
	}
	mr_model_init(&b);
	if (have_base && load_whole(&b, g, base, "base (--base)") < 0)
		goto out;
	struct mr_buf out = MR_BUF_INIT;
	bool touched = false;
	mr_buf_addf(&out, "{\"format_version\":1,\"base\":%s,\"hosts\":[", have_base ? "true" : "false");
	for (size_t i = 0; i < m.server.hosts.n; i++) {
		if (i)
			mr_buf_addc(&out, ',');
		touched |= host_json(&m, have_base ? &b : NULL, m.server.hosts.v[i].s, &out);
	}
	/* hosts of the base that the new state drops: everything there goes */
	mr_buf_adds(&out, "],\"hosts_removed\":[");
	bool first = true;
	for (size_t i = 0; have_base && i < b.server.hosts.n; i++)
		if (!mr_model_has_host(&m, b.server.hosts.v[i].s)) {
			json_name(&out, b.server.hosts.v[i].s, &first);
			touched = true;
		}
	mr_buf_adds(&out, "]}\n");
	code = fwrite(out.ptr, 1, out.len, stdout) == out.len && fflush(stdout) == 0 ? MR_EXIT_OK : MR_EXIT_ERROR;
	if (code == MR_EXIT_OK && detailed && touched)
		code = MR_EXIT_CHANGES;
	mr_buf_release(&out);
out:
	mr_model_release(&b);
	mr_model_release(&m);
	return code;
}
