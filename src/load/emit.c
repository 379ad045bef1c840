/*
 * emit: desired-state YAML from a model.  Scalars are written plain when YAML 1.1 and 1.2
 * both read them back as the same string, double-quoted otherwise.
 */
#include "load/emit.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

bool mr_scope_covers(const struct mr_model *m, const char *scope, const char *owner)
{
	if (!scope)
		return true;
	const struct mr_user *s = mr_model_user(m, scope);
	if (s && s->role == MR_ROLE_ADMIN)
		return true;
	if (!owner)
		return false;
	if (strcmp(scope, owner) == 0)
		return true;
	const struct mr_user *o = mr_model_user(m, owner);
	return s && s->role == MR_ROLE_RESELLER && o && o->role == MR_ROLE_USER && o->reseller &&
	       strcmp(o->reseller, scope) == 0;
}

bool mr_scope_covers_domain(const struct mr_model *m, const char *scope, const struct mr_domain *d)
{
	if (!scope)
		return true;
	if (d->owner_from_dir) {
		const struct mr_user *s = mr_model_user(m, scope);
		return s && s->role == MR_ROLE_ADMIN;
	}
	return mr_scope_covers(m, scope, d->owner);
}

static bool plain_ok(const char *s)
{
	static const char *const special[] = { "y", "n", "yes", "no", "true", "false", "on", "off", "null", NULL };
	if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("_.@-", *p)))
			return false;
	for (const char *const *w = special; *w; w++)
		if (strcasecmp(s, *w) == 0)
			return false;
	return true;
}

static void scalar(struct mr_buf *out, const char *s)
{
	if (plain_ok(s)) {
		mr_buf_adds(out, s);
		return;
	}
	mr_buf_addc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			mr_buf_addf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			mr_buf_addf(out, "\\x%02x", *p);
		else
			mr_buf_addc(out, (char)*p);
	}
	mr_buf_addc(out, '"');
}

void mr_emit_size(int64_t bytes, struct mr_buf *out)
{
	static const char units[] = "KMGT";
	int u = -1;
	while (u < 3 && bytes > 0 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		mr_buf_addf(out, "%lld", (long long)bytes);
	else
		mr_buf_addf(out, "%lld%c", (long long)bytes, units[u]);
}

static void list(struct mr_buf *out, const char *indent, const char *key, const struct mr_items *it)
{
	if (!it->n)
		return;
	mr_buf_addf(out, "%s%s: [", indent, key);
	for (size_t i = 0; i < it->n; i++) {
		if (i)
			mr_buf_adds(out, ", ");
		scalar(out, it->v[i].s);
	}
	mr_buf_adds(out, "]\n");
}

static void emit_user(const struct mr_model *m, const struct mr_user *u, const char *scope, struct mr_buf *out)
{
	mr_buf_adds(out, "  ");
	scalar(out, u->name);
	mr_buf_addf(out, ":\n    role: %s\n", mr_role_name(u->role));
	/* a reseller outside the scope is not declared in this document: leave the link out */
	if (u->reseller && mr_model_user(m, u->reseller) && mr_scope_covers(m, scope, u->reseller)) {
		mr_buf_adds(out, "    reseller: ");
		scalar(out, u->reseller);
		mr_buf_addc(out, '\n');
	}
	if (u->account == MR_ACCOUNT_CREATE)
		mr_buf_adds(out, "    account: create\n");
	if (u->disabled)
		mr_buf_adds(out, "    disabled: true\n");
	const struct mr_limits *l = &u->limits;
	if (l->mail_domains != MR_UNSET || l->mailboxes != MR_UNSET || l->rate_per_hour != MR_UNSET) {
		mr_buf_adds(out, "    limits:\n");
		if (l->mail_domains != MR_UNSET)
			mr_buf_addf(out, "      mail_domains: %lld\n", (long long)l->mail_domains);
		if (l->mailboxes != MR_UNSET)
			mr_buf_addf(out, "      mailboxes: %lld\n", (long long)l->mailboxes);
		if (l->rate_per_hour != MR_UNSET)
			mr_buf_addf(out, "      rate_per_hour: %lld\n", (long long)l->rate_per_hour);
	}
}

static bool emit_mailbox(const struct mr_mailbox *mb, struct mr_buf *out)
{
	if (mb->password_kind != MR_PASSWORD_HASH) {
		mr_buf_addf(out, "      # %s left out: no password hash mailrecon can keep\n", mb->address);
		return false;
	}
	const char *in = "        ";
	mr_buf_adds(out, "      ");
	scalar(out, mb->name);
	mr_buf_addf(out, ":\n%spassword: {hash: ", in);
	scalar(out, mb->password.value);
	mr_buf_adds(out, "}\n");
	list(out, in, "aliases", &mb->aliases);
	list(out, in, "copy_to", &mb->copy_to);
	if (!mb->keep_copy)
		mr_buf_addf(out, "%skeep_copy: false\n", in);
	if (mb->max_size > 0) {
		mr_buf_addf(out, "%smax_size: ", in);
		mr_emit_size(mb->max_size, out);
		mr_buf_addc(out, '\n');
	}
	if (mb->rate_per_hour != MR_UNSET)
		mr_buf_addf(out, "%srate_per_hour: %lld\n", in, (long long)mb->rate_per_hour);
	if (!mb->greylisting)
		mr_buf_addf(out, "%sgreylisting: false\n", in);
	if (!mb->spamassassin)
		mr_buf_addf(out, "%sspamassassin: false\n", in);
	if (mb->disabled)
		mr_buf_addf(out, "%sdisabled: true\n", in);
	if (mr_mailbox_note(mb)) {
		mr_buf_addf(out, "%snote: ", in);
		scalar(out, mr_mailbox_note(mb));
		mr_buf_addc(out, '\n');
	}
	return true;
}

/* An ssl mapping (a domain's, the server's) at indent in: alias, certificate, email. */
static void emit_ssl(const struct mr_ssl *s, const char *in, struct mr_buf *out)
{
	mr_buf_addf(out, "%sssl:\n%s  alias: ", in, in);
	scalar(out, s->alias);
	if (s->cert == MR_CERT_SELF_SIGNED) {
		mr_buf_addf(out, "\n%s  certificate: self-signed\n", in);
	} else if (s->letsencrypt) {
		mr_buf_addf(out, "\n%s  certificate: letsencrypt\n", in);
	} else if (s->cert_path && s->key_path) {
		mr_buf_addf(out, "\n%s  certificate:\n%s    cert: ", in, in);
		scalar(out, s->cert_path);
		mr_buf_addf(out, "\n%s    key: ", in);
		scalar(out, s->key_path);
		mr_buf_addc(out, '\n');
	} else {
		/* a pair without its cert or key (an error of the loader's): nothing to write */
		mr_buf_addc(out, '\n');
	}
	if (s->email) {
		mr_buf_addf(out, "%s  email: ", in);
		scalar(out, s->email);
		mr_buf_addc(out, '\n');
	}
}

static size_t emit_domain(const struct mr_domain *d, struct mr_buf *out)
{
	size_t skipped = 0;
	mr_buf_adds(out, "  ");
	scalar(out, d->name);
	mr_buf_adds(out, ":\n    owner: ");
	scalar(out, d->owner);
	mr_buf_addc(out, '\n');
	if (d->ip)
		mr_buf_addf(out, "    ip: \"%s\"\n", d->ip);
	switch (d->action) {
	case MR_ACTION_REJECT:
		break;
	case MR_ACTION_DISCARD:
		mr_buf_adds(out, "    default_action: discard\n");
		break;
	case MR_ACTION_FORWARD:
	case MR_ACTION_REDIRECT_DOMAIN:
		mr_buf_addf(out, "    default_action: {%s: ", d->action == MR_ACTION_FORWARD ? "forward" : "redirect_domain");
		scalar(out, d->action_target);
		mr_buf_adds(out, "}\n");
		break;
	}
	if (!d->greylisting)
		mr_buf_adds(out, "    greylisting: false\n");
	if (!d->spamassassin)
		mr_buf_adds(out, "    spamassassin: false\n");
	if (!d->antivirus)
		mr_buf_adds(out, "    antivirus: false\n");
	if (d->dkim.enabled) {
		mr_buf_adds(out, "    dkim: {selector: ");
		scalar(out, d->dkim.selector);
		mr_buf_addf(out, ", bits: %d}\n", d->dkim.bits);
	}
	if (d->dmarc)
		mr_buf_adds(out, "    dmarc: true\n");
	if (d->ssl.enabled && d->ssl.alias)
		emit_ssl(&d->ssl, "    ", out);
	if (d->disabled)
		mr_buf_adds(out, "    disabled: true\n");
	if (d->nmailboxes) {
		mr_buf_adds(out, "    mailboxes:\n");
		for (size_t i = 0; i < d->nmailboxes; i++)
			skipped += !emit_mailbox(d->mailboxes[i], out);
	}
	return skipped;
}

void mr_emit_yaml(const struct mr_model *m, struct mr_emit_opts *o, struct mr_buf *out)
{
	o->skipped = 0;
	if (o->header)
		mr_buf_adds(out, o->header);
	mr_buf_adds(out, "version: 1\n");
	bool srv_ssl = m->server.ssl.enabled && m->server.ssl.alias;
	if (!o->scope && (m->server.rate_per_hour != MR_UNSET || srv_ssl)) {
		mr_buf_adds(out, "server:\n");
		if (m->server.rate_per_hour != MR_UNSET)
			mr_buf_addf(out, "  rate_per_hour: %lld\n", (long long)m->server.rate_per_hour);
		if (srv_ssl) /* the server's default certificate: a tenant's scope never sees it */
			emit_ssl(&m->server.ssl, "  ", out);
	}
	bool any = false;
	for (size_t i = 0; i < m->nusers; i++) {
		const struct mr_user *u = m->users[i];
		if (!mr_scope_covers(m, o->scope, u->name))
			continue;
		if (!any)
			mr_buf_adds(out, "users:\n");
		any = true;
		emit_user(m, u, o->scope, out);
	}
	any = false;
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		if (!d->owner) {
			if (!o->scope) {
				mr_buf_addf(out, "# domain %s left out: its owner is unknown\n", d->name);
				o->skipped++;
			}
			continue;
		}
		if (!mr_scope_covers_domain(m, o->scope, d))
			continue;
		if (!any)
			mr_buf_adds(out, "domains:\n");
		any = true;
		o->skipped += emit_domain(d, out);
	}
}
