/*
 * clamav: /etc/clamav.whitelist -- mail domains whose mail is not scanned for viruses
 * (Exim looks $domain up in it).  Shared: mailrecon owns only its marked block, one
 * domain per line:
 *
 *   example.com
 */
#include "codec/codec.h"
#include "model/names.h"

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	char *key, *data;
	if (!mr_codec_lsearch_split(s, &key, &data) || *data) {
		*why = "expected one mail domain";
		return MR_LINE_BAD;
	}
	mr_ascii_lower(key);
	if (mr_check_domain(key)) {
		*why = "expected one mail domain";
		return MR_LINE_BAD;
	}
	mr_line_set_key(l, key, &f->arena);
	l->nf = 0;
	return MR_LINE_RECORD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	mr_buf_adds(out, mr_line_key(l));
}

const struct mr_codec mr_codec_clamav = {
	.id = MR_FILE_CLAMAV,
	.name = "clamav",
	.path = { "/etc/clamav.whitelist", "/etc/clamav.whitelist" },
	.owner = "root",
	.group = { "Debian-exim", "exim" },
	.mode = 0644,
	.flags = MR_CODEC_SHARED | MR_CODEC_LSEARCH,
	.parse = parse,
	.render = render,
};
