/*
 * postgrey: /etc/postgrey/whitelist_recipients (Debian),
 * /etc/postfix/postgrey_whitelist_recipients (RHEL) -- recipients that are never
 * greylisted.  Shared with the package and the operator: mailrecon owns only the lines
 * between its markers.  One entry per line (postgrey's read_recipients_whitelists):
 *
 *   example.com          greylisting off for the domain
 *   info@example.com     greylisting off for the mailbox
 *
 * Outside the block any postgrey entry is kept ("/regex/", "user@"); inside it only a
 * domain or an address is mailrecon's.
 */
#include <string.h>

#include "codec/codec.h"
#include "model/names.h"

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	char *hash = strchr(s, '#'); /* postgrey: '#' starts a comment anywhere */
	if (hash)
		*hash = '\0';
	s = mr_codec_strip(s);
	mr_ascii_lower(s);
	if (!*s || strpbrk(s, " \t")) {
		*why = "expected one domain or mail address";
		return MR_LINE_BAD;
	}
	if (strchr(s, '@') ? mr_check_address(s) != NULL : mr_check_domain(s) != NULL) {
		*why = "expected a mail domain or a mail address";
		return MR_LINE_BAD;
	}
	mr_line_set_key(l, s, &f->arena);
	l->nf = 0;
	return MR_LINE_RECORD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	mr_buf_adds(out, mr_line_key(l));
}

const struct mr_codec mr_codec_postgrey = {
	.id = MR_FILE_POSTGREY,
	.name = "postgrey",
	.path = { "/etc/postgrey/whitelist_recipients", "/etc/postfix/postgrey_whitelist_recipients" },
	.owner = "root",
	.group = { "root", "root" },
	.mode = 0644,
	.flags = MR_CODEC_SHARED,
	.parse = parse,
	.render = render,
};
