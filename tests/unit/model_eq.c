#include "model_eq.h"

#include <string.h>

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool items_eq(const struct mr_items *a, const struct mr_items *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].s, b->v[i].s) != 0)
			return false;
	return true;
}

#define DIFF(cond, ...)                               \
	do {                                          \
		if (cond) {                           \
			mr_buf_addf(why, __VA_ARGS__); \
			return 1;                     \
		}                                     \
	} while (0)

static int mailbox_diff(const struct mr_mailbox *a, const struct mr_mailbox *b, struct mr_buf *why)
{
	const char *n = a->address;
	DIFF(a->password_kind != b->password_kind || !str_eq(a->password.value, b->password.value),
	     "%s: password", n);
	DIFF(!items_eq(&a->aliases, &b->aliases), "%s: aliases", n);
	DIFF(!items_eq(&a->copy_to, &b->copy_to), "%s: copy_to", n);
	DIFF(a->keep_copy != b->keep_copy, "%s: keep_copy", n);
	DIFF(a->max_size != b->max_size, "%s: max_size %lld != %lld", n, (long long)a->max_size, (long long)b->max_size);
	DIFF(a->rate_per_hour != b->rate_per_hour, "%s: rate_per_hour", n);
	DIFF(a->greylisting != b->greylisting, "%s: greylisting", n);
	DIFF(a->spamassassin != b->spamassassin, "%s: spamassassin", n);
	DIFF(a->disabled != b->disabled, "%s: disabled", n);
	DIFF(!str_eq(mr_mailbox_note(a), mr_mailbox_note(b)), "%s: note", n);
	return 0;
}

static int domain_diff(const struct mr_domain *a, const struct mr_domain *b, bool partial, struct mr_buf *why)
{
	const char *n = a->name;
	DIFF(!str_eq(a->owner, b->owner), "%s: owner", n);
	DIFF(!str_eq(a->ip, b->ip), "%s: ip", n);
	DIFF(a->action != b->action || !str_eq(a->action_target, b->action_target), "%s: default_action", n);
	DIFF(a->greylisting != b->greylisting, "%s: greylisting", n);
	DIFF(a->spamassassin != b->spamassassin, "%s: spamassassin", n);
	DIFF(a->antivirus != b->antivirus, "%s: antivirus", n);
	DIFF(a->dmarc != b->dmarc, "%s: dmarc", n);
	DIFF(a->disabled != b->disabled, "%s: disabled", n);
	DIFF(a->dkim.enabled != b->dkim.enabled, "%s: dkim", n);
	if (a->dkim.enabled)
		DIFF(!str_eq(a->dkim.selector, b->dkim.selector) || a->dkim.bits != b->dkim.bits, "%s: dkim selector/bits", n);
	DIFF(a->ssl.enabled != b->ssl.enabled, "%s: ssl", n);
	if (a->ssl.enabled)
		DIFF(!str_eq(a->ssl.alias, b->ssl.alias) || a->ssl.cert != b->ssl.cert || !str_eq(a->ssl.email, b->ssl.email),
		     "%s: ssl alias/certificate/email", n);
	size_t j = 0;
	for (size_t i = 0; i < b->nmailboxes; i++) {
		const struct mr_mailbox *mb = b->mailboxes[i];
		if (j < a->nmailboxes && strcmp(a->mailboxes[j]->name, mb->name) == 0) {
			if (mailbox_diff(a->mailboxes[j], mb, why))
				return 1;
			j++;
			continue;
		}
		DIFF(!partial, "%s: mailbox %s missing from the import", n, mb->address);
	}
	DIFF(j != a->nmailboxes, "%s: the import has a mailbox the live state lacks", n);
	return 0;
}

int model_diff(const struct mr_model *a, const struct mr_model *b, bool partial, struct mr_buf *why)
{
	DIFF(a->server.rate_per_hour != b->server.rate_per_hour, "server rate_per_hour");
	DIFF(a->nusers != b->nusers, "%zu users imported, %zu live", a->nusers, b->nusers);
	for (size_t i = 0; i < a->nusers; i++) {
		const struct mr_user *x = a->users[i], *y = b->users[i];
		DIFF(strcmp(x->name, y->name) != 0, "user %s != %s", x->name, y->name);
		DIFF(x->role != y->role, "user %s: role", x->name);
		DIFF(!str_eq(x->reseller, y->reseller), "user %s: reseller", x->name);
		DIFF(x->account != y->account, "user %s: account", x->name);
		DIFF(x->disabled != y->disabled, "user %s: disabled", x->name);
		DIFF(x->limits.mail_domains != y->limits.mail_domains || x->limits.mailboxes != y->limits.mailboxes ||
			     x->limits.rate_per_hour != y->limits.rate_per_hour,
		     "user %s: limits", x->name);
	}
	size_t j = 0;
	for (size_t i = 0; i < b->ndomains; i++) {
		const struct mr_domain *d = b->domains[i];
		if (j < a->ndomains && strcmp(a->domains[j]->name, d->name) == 0) {
			if (domain_diff(a->domains[j], d, partial, why))
				return 1;
			j++;
			continue;
		}
		DIFF(!partial, "domain %s missing from the import", d->name);
	}
	DIFF(j != a->ndomains, "the import has a domain the live state lacks");
	return 0;
}
