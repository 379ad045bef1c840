/*
 * exim-domainips: /etc/exim4/domainips, /etc/exim/domainips -- the address Exim sends a
 * domain's mail from.  Exim lsearch, written the way the panel writes it (a real line):
 *
 *   example.com :203.0.113.10
 *
 * No line: the system chooses (auto).
 */
#include "codec/codec.h"
#include "model/names.h"

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	char *key, *data;
	if (!mr_codec_lsearch_split(s, &key, &data)) {
		*why = "expected 'DOMAIN :IP'";
		return MR_LINE_BAD;
	}
	mr_ascii_lower(key);
	if (mr_check_domain(key)) {
		*why = "the key is not a mail domain (expected 'DOMAIN :IP')";
		return MR_LINE_BAD;
	}
	mr_ascii_lower(data);
	if (mr_check_ip(data)) {
		*why = "the data is not an IPv4 or IPv6 address (expected 'DOMAIN :IP')";
		return MR_LINE_BAD;
	}
	mr_line_set_key(l, key, &f->arena);
	mr_line_set_field(l, MR_F_DOMAINIP_IP, data, &f->arena);
	l->nf = 1;
	return MR_LINE_RECORD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	mr_buf_addf(out, "%s :%s", mr_line_key(l), mr_line_field(l, MR_F_DOMAINIP_IP));
}

const struct mr_codec mr_codec_exim_domainips = {
	.id = MR_FILE_EXIM_DOMAINIPS,
	.name = "exim-domainips",
	.path = { "/etc/exim4/domainips", "/etc/exim/domainips" },
	.owner = "root",
	.group = { "Debian-exim", "exim" },
	.mode = 0640,
	.flags = MR_CODEC_LSEARCH,
	.parse = parse,
	.render = render,
};
