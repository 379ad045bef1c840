/*
 * exim-domains: /etc/exim4/domains, /etc/exim/domains -- the local mail domains and what
 * happens to mail for an address that does not exist (the default action).  Exim lsearch;
 * the data is ready for a redirect router:
 *
 *   example.com: :fail: No such user here     reject
 *   example.net: :blackhole:                  discard
 *   example.org: catchall@example.com         forward to an address
 *   alias.example: @example.com               forward to the same name in another domain
 *
 * A disabled domain is its line commented out ("#example.com: ...").  The colon must
 * follow the key directly: "example.com :fail:" would lose the data's own colon in Exim.
 */
#include <string.h>

#include "codec/codec.h"
#include "model/names.h"

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	char *key, *data;
	if (!mr_codec_lsearch_split(s, &key, &data)) {
		*why = "expected 'DOMAIN: ACTION'";
		return MR_LINE_BAD;
	}
	mr_ascii_lower(key);
	if (mr_check_domain(key)) {
		*why = "the key is not a mail domain";
		return MR_LINE_BAD;
	}
	bool ok = strncmp(data, ":fail:", 6) == 0 || strcmp(data, ":blackhole:") == 0 ||
		  (data[0] == '@' && !mr_check_domain(data + 1)) || !mr_check_address(data);
	if (!ok) {
		*why = data[0] == ':' || strncmp(data, "fail:", 5) == 0 || strncmp(data, "blackhole:", 10) == 0
			       ? "the default action lost its leading ':' (write 'DOMAIN: :fail: TEXT')"
			       : "the default action is not ':fail: TEXT', ':blackhole:', an address or '@DOMAIN'";
		return MR_LINE_BAD;
	}
	if (data[0] == '@' || data[0] != ':')
		mr_ascii_lower(data);
	mr_line_set_key(l, key, &f->arena);
	mr_line_set_field(l, MR_F_DOMAIN_DATA, data, &f->arena);
	l->nf = 1;
	return MR_LINE_RECORD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	mr_buf_adds(out, mr_line_key(l));
	mr_buf_adds(out, ": ");
	mr_buf_adds(out, mr_line_field(l, MR_F_DOMAIN_DATA));
}

const struct mr_codec mr_codec_exim_domains = {
	.id = MR_FILE_EXIM_DOMAINS,
	.name = "exim-domains",
	.path = { "/etc/exim4/domains", "/etc/exim/domains" },
	.owner = "root",
	.group = { "Debian-exim", "exim" },
	.mode = 0640,
	.flags = MR_CODEC_LSEARCH | MR_CODEC_DISABLE,
	.parse = parse,
	.render = render,
};
