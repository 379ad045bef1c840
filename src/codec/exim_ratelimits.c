/*
 * exim-ratelimits: /etc/exim4/ratelimits, /etc/exim/ratelimits -- messages per hour.
 * Exim lsearch; the key is a mailbox address (its own limit), a panel user name (the
 * user's limit for mailboxes without one) or '*' (the server default):
 *
 *   info@example.com:100
 *   alice:200
 *   *:500
 *
 * 0 or 1 means the mailbox cannot send.  No line means "not set".
 */
#include <string.h>

#include "codec/codec.h"
#include "model/names.h"

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	char *key, *data;
	if (!mr_codec_lsearch_split(s, &key, &data)) {
		*why = "expected 'KEY:N'";
		return MR_LINE_BAD;
	}
	mr_ascii_lower(key);
	if (strcmp(key, "*") != 0 && mr_check_address(key) && mr_check_user_name(key)) {
		*why = "the key is neither a mail address, a user name nor '*'";
		return MR_LINE_BAD;
	}
	int64_t v;
	if (!mr_codec_parse_uint(data, 1000000000, &v)) {
		*why = "the limit is not a whole number of messages per hour (0 to 1000000000)";
		return MR_LINE_BAD;
	}
	mr_line_set_key(l, key, &f->arena);
	mr_line_set_field(l, MR_F_RATE_VALUE, data, &f->arena);
	l->nf = 1;
	return MR_LINE_RECORD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	mr_buf_adds(out, mr_line_key(l));
	mr_buf_addc(out, ':');
	mr_buf_adds(out, mr_line_field(l, MR_F_RATE_VALUE));
}

const struct mr_codec mr_codec_exim_ratelimits = {
	.id = MR_FILE_EXIM_RATELIMITS,
	.name = "exim-ratelimits",
	.path = { "/etc/exim4/ratelimits", "/etc/exim/ratelimits" },
	.owner = "root",
	.group = { "Debian-exim", "exim" },
	.mode = 0640,
	.flags = MR_CODEC_LSEARCH,
	.parse = parse,
	.render = render,
};
