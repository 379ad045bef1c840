/*
 * spamassassin: /etc/mail/spamassassin/local.cf -- recipients SpamAssassin lets through.
 * Shared with the operator's own settings: mailrecon owns only the lines between its
 * markers, one directive per line:
 *
 *   whitelist_to info@example.com      SpamAssassin off for the mailbox
 *   whitelist_to *@example.com         SpamAssassin off for the domain
 *
 * mailrecon writes whitelist_to; it reads welcomelist_to, more_spam_to and all_spam_to
 * inside the block as the same thing.
 */
#include <string.h>

#include "codec/codec.h"
#include "model/names.h"

static const char *const directives[] = { "whitelist_to", "welcomelist_to", "more_spam_to", "all_spam_to", NULL };

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	s = mr_codec_strip(s);
	char *sp = strpbrk(s, " \t");
	if (!sp) {
		*why = "expected 'whitelist_to ADDRESS'";
		return MR_LINE_BAD;
	}
	*sp = '\0';
	char *v = mr_codec_strip(sp + 1);
	const char *const *d = directives;
	while (*d && strcmp(*d, s) != 0)
		d++;
	if (!*d) {
		*why = "only whitelist_to, welcomelist_to, more_spam_to and all_spam_to belong in the block";
		return MR_LINE_BAD;
	}
	mr_ascii_lower(v);
	bool ok = strncmp(v, "*@", 2) == 0 ? !mr_check_domain(v + 2) : !mr_check_address(v);
	if (!ok) {
		*why = "expected one mail address or '*@DOMAIN'";
		return MR_LINE_BAD;
	}
	mr_line_set_key(l, v, &f->arena);
	mr_line_set_field(l, MR_F_SA_DIRECTIVE, s, &f->arena); /* *d, in the line */
	l->nf = 1;
	return MR_LINE_RECORD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	const char *d = mr_line_field(l, MR_F_SA_DIRECTIVE);
	mr_buf_addf(out, "%s %s", d ? d : "whitelist_to", mr_line_key(l));
}

const struct mr_codec mr_codec_spamassassin = {
	.id = MR_FILE_SPAMASSASSIN,
	.name = "spamassassin",
	.path = { "/etc/mail/spamassassin/local.cf", "/etc/mail/spamassassin/local.cf" },
	.owner = "root",
	.group = { "root", "root" },
	.mode = 0644,
	.flags = MR_CODEC_SHARED,
	.parse = parse,
	.render = render,
};
