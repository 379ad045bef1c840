/*
 * registry: /etc/mailrecon/registry -- what the panel keeps in its own database and no
 * mail daemon reads: users (role, reseller, account, limits, disabled), the owner of
 * each domain, DMARC publishing, mailbox notes, and who disabled a user, a domain or a
 * mailbox (the --scope user of that run, or root for a run without --scope).  mailrecon's
 * own file:
 *
 *   user alice role=user reseller=bob mail_domains=5 mailboxes=50
 *   user bob role=reseller account=create disabled=yes disabled_by=root
 *   domain example.com owner=alice dmarc=yes
 *   mailbox info@example.com note=front%20desk
 *   mailbox spam@example.com disabled_by=bob
 *
 * Values are percent-encoded (space, '%', ':', '=', '#' and non-ASCII bytes as %XX).
 * The user-level send limit is in exim-ratelimits, where Exim reads it.
 */
#include <string.h>

#include "codec/codec.h"
#include "model/names.h"

struct attr {
	const char *name;
	int field;
};

static const struct attr user_attrs[] = {
	{ "role", MR_F_REG_USER_ROLE }, { "reseller", MR_F_REG_USER_RESELLER },
	{ "account", MR_F_REG_USER_ACCOUNT }, { "disabled", MR_F_REG_USER_DISABLED },
	{ "disabled_by", MR_F_REG_USER_DISABLED_BY }, { "mail_domains", MR_F_REG_USER_DOMAINS },
	{ "mailboxes", MR_F_REG_USER_MAILBOXES }, { NULL, 0 },
};
static const struct attr domain_attrs[] = {
	{ "owner", MR_F_REG_DOMAIN_OWNER }, { "dmarc", MR_F_REG_DOMAIN_DMARC },
	{ "disabled_by", MR_F_REG_DOMAIN_DISABLED_BY }, { NULL, 0 },
};
static const struct attr mailbox_attrs[] = {
	{ "note", MR_F_REG_MAILBOX_NOTE }, { "disabled_by", MR_F_REG_MAILBOX_DISABLED_BY }, { NULL, 0 },
};

static const char *check_value(int kind, int field, const char *v)
{
	int64_t n;
	switch (kind * 16 + field) {
	case 'u' * 16 + MR_F_REG_USER_ROLE:
		return strcmp(v, "user") && strcmp(v, "reseller") && strcmp(v, "admin") ? "role= must be user, reseller or admin" : NULL;
	case 'u' * 16 + MR_F_REG_USER_RESELLER:
		return mr_check_user_name(v) ? "reseller= is not a user name" : NULL;
	case 'u' * 16 + MR_F_REG_USER_ACCOUNT:
		return strcmp(v, "existing") && strcmp(v, "create") ? "account= must be existing or create" : NULL;
	case 'u' * 16 + MR_F_REG_USER_DISABLED:
	case 'd' * 16 + MR_F_REG_DOMAIN_DMARC:
		return strcmp(v, "yes") && strcmp(v, "no") ? "expected yes or no" : NULL;
	case 'u' * 16 + MR_F_REG_USER_DOMAINS:
	case 'u' * 16 + MR_F_REG_USER_MAILBOXES:
		return mr_codec_parse_uint(v, 1000000000, &n) ? NULL : "a limit must be a whole number";
	case 'd' * 16 + MR_F_REG_DOMAIN_OWNER:
		return mr_check_user_name(v) ? "owner= is not a user name" : NULL;
	case 'u' * 16 + MR_F_REG_USER_DISABLED_BY:
	case 'd' * 16 + MR_F_REG_DOMAIN_DISABLED_BY:
	case 'm' * 16 + MR_F_REG_MAILBOX_DISABLED_BY:
		return mr_check_user_name(v) ? "disabled_by= is not a user name" : NULL;
	case 'm' * 16 + MR_F_REG_MAILBOX_NOTE:
		return mr_check_text(v, MR_NOTE_MAX) ? "note= is not valid text" : NULL;
	}
	return "unknown attribute";
}

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	char *save = NULL;
	char *kind = strtok_r(s, " \t", &save), *name = strtok_r(NULL, " \t", &save);
	if (!kind || !name) {
		*why = "expected 'user|domain|mailbox NAME key=value...'";
		return MR_LINE_BAD;
	}
	const struct attr *attrs;
	const char *bad;
	if (strcmp(kind, "user") == 0)
		attrs = user_attrs, bad = mr_check_user_name(name);
	else if (strcmp(kind, "domain") == 0)
		attrs = domain_attrs, bad = mr_check_domain(name);
	else if (strcmp(kind, "mailbox") == 0)
		attrs = mailbox_attrs, bad = mr_check_address(name);
	else {
		*why = "a registry line starts with user, domain or mailbox";
		return MR_LINE_BAD;
	}
	if (bad) {
		*why = "the name is not valid for its kind";
		return MR_LINE_BAD;
	}
	char *val[MR_LINE_FIELDS] = { 0 }; /* by field: the values, decoded in place */
	size_t vlen = 0;
	for (char *w = strtok_r(NULL, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(w, '=');
		if (!eq) {
			*why = "expected key=value after the name";
			return MR_LINE_BAD;
		}
		*eq = '\0';
		const struct attr *a = attrs;
		while (a->name && strcmp(a->name, w) != 0)
			a++;
		if (!a->name) {
			*why = "unknown attribute for this kind";
			return MR_LINE_BAD;
		}
		if (val[a->field]) {
			*why = "an attribute is given twice";
			return MR_LINE_BAD;
		}
		char *v = eq + 1;
		if (!mr_codec_pct_decode(v)) {
			*why = "a value has a bad %-escape";
			return MR_LINE_BAD;
		}
		if ((*why = check_value(kind[0], a->field, v)) != NULL)
			return MR_LINE_BAD;
		val[a->field] = v;
		vlen += strlen(v) + 1;
	}
	/* The key "KIND NAME" is not in the line: one block of the arena holds it (its end is
	 * the name), the kind and the values, so that the line's strings are offsets from it. */
	size_t kl = strlen(kind), nl = strlen(name);
	char *key = mr_arena_alloc(&f->arena, kl + 1 + nl + 1 + kl + 1 + vlen), *p = key + kl + 1 + nl + 1;
	memcpy(key, kind, kl);
	key[kl] = ' ';
	memcpy(key + kl + 1, name, nl + 1);
	memcpy(p, kind, kl + 1);
	mr_line_set_base(l, key);
	mr_line_set_key(l, key, &f->arena);
	mr_line_set_field(l, MR_F_REG_NAME, key + kl + 1, &f->arena);
	mr_line_set_field(l, MR_F_REG_KIND, p, &f->arena);
	p += kl + 1;
	for (unsigned i = MR_F_REG_A1; i < MR_LINE_FIELDS; i++)
		if (val[i]) {
			size_t len = strlen(val[i]) + 1;
			memcpy(p, val[i], len);
			mr_line_set_field(l, i, p, &f->arena);
			p += len;
		}
	l->nf = MR_LINE_FIELDS;
	return MR_LINE_RECORD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	const char *kind = mr_line_field(l, MR_F_REG_KIND);
	const struct attr *a = kind[0] == 'u' ? user_attrs : kind[0] == 'd' ? domain_attrs : mailbox_attrs;
	mr_buf_addf(out, "%s %s", kind, mr_line_field(l, MR_F_REG_NAME));
	for (; a->name; a++) {
		if (!mr_line_field(l, a->field))
			continue;
		mr_buf_addf(out, " %s=", a->name);
		mr_codec_pct_encode(mr_line_field(l, a->field), out);
	}
}

const struct mr_codec mr_codec_registry = {
	.id = MR_FILE_REGISTRY,
	.name = "registry",
	.path = { "/etc/mailrecon/registry", "/etc/mailrecon/registry" },
	.owner = "root",
	.group = { "root", "root" },
	.mode = 0644,
	.flags = 0,
	.parse = parse,
	.render = render,
};
