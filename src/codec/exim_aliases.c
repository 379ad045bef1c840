/*
 * exim-aliases: /etc/exim4/aliases, /etc/exim/aliases -- aliases and "send a copy to".
 * Three colon-separated fields, no spaces, lower case (ispmanager 6 documentation):
 *
 *   sales@example.com:info@example.com:fwd    alias sales -> main mailbox info
 *   boss@example.org:info@example.com:user    a copy of info's mail goes to boss
 *
 * A key repeats (one line per copy target), so every relation is one record.  Lines of
 * another type are not mailrecon's and are kept as they are.
 */
#include <string.h>

#include "codec/codec.h"
#include "model/names.h"

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	s = mr_codec_strip(s);
	char *fields[4];
	size_t nf = 0;
	for (char *p = s;;) {
		if (nf == 4)
			break;
		fields[nf++] = p;
		char *c = strchr(p, ':');
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	const char *type = fields[nf - 1];
	bool ours = strcmp(type, "fwd") == 0 || strcmp(type, "user") == 0;
	if (nf != 3) {
		if (!ours && nf < 4)
			return MR_LINE_FOREIGN;
		*why = "expected 'ALIAS:MAIN:fwd' or 'TARGET:MAIN:user' (three fields)";
		return MR_LINE_BAD;
	}
	if (!ours)
		return MR_LINE_FOREIGN;
	mr_ascii_lower(fields[0]);
	mr_ascii_lower(fields[1]);
	if (mr_check_address(fields[0]) || mr_check_address(fields[1])) {
		*why = strcmp(type, "fwd") == 0 ? "expected 'ALIAS:MAIN:fwd' with two mail addresses"
						: "expected 'TARGET:MAIN:user' with two mail addresses";
		return MR_LINE_BAD;
	}
	mr_line_set_key(l, fields[0], &f->arena);
	mr_line_set_field(l, MR_F_ALIAS_MAIN, fields[1], &f->arena);
	mr_line_set_field(l, MR_F_ALIAS_TYPE, type, &f->arena);
	l->nf = 2;
	return MR_LINE_RECORD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	mr_buf_adds(out, mr_line_key(l));
	mr_buf_addc(out, ':');
	mr_buf_adds(out, mr_line_field(l, MR_F_ALIAS_MAIN));
	mr_buf_addc(out, ':');
	mr_buf_adds(out, mr_line_field(l, MR_F_ALIAS_TYPE));
}

const struct mr_codec mr_codec_exim_aliases = {
	.id = MR_FILE_EXIM_ALIASES,
	.name = "exim-aliases",
	.path = { "/etc/exim4/aliases", "/etc/exim/aliases" },
	.owner = "root",
	.group = { "Debian-exim", "exim" },
	.mode = 0640,
	.flags = MR_CODEC_LSEARCH | MR_CODEC_MULTIKEY,
	.parse = parse,
	.render = render,
};
