/*
 * dovecot-passwd: /etc/dovecot/dovecot.passwd -- Dovecot's passdb and userdb (passwd-file),
 * keyed by the full address in lower case (username_format=%Lu):
 *
 *   info@example.com:{CRAM-MD5}e02d...:1001:1001::/var/www/alice/data/email/example.com/info::userdb_quota_rule=*:bytes=2G
 *   user:password:uid:gid:gecos:home:shell:extra fields
 *
 * The extra fields are space-separated key=value words; the quota is
 * userdb_quota_rule=*:bytes=SIZE.  A disabled mailbox is its line commented out.  The
 * ispmanager 4 layout (nine fields, "...:home:::maildir:PATH") is read and kept as is.
 */
#include <string.h>

#include "codec/codec.h"
#include "model/names.h"

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	size_t len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	enum { NFLD = MR_F_DOVECOT_EXTRA + 2 }; /* the user, then the codec's fields */
	char *fld[NFLD] = { 0 };
	size_t nf = 0;
	char *p = s;
	for (;;) {
		fld[nf++] = p;
		if (nf == NFLD)
			break; /* the extra fields keep their colons */
		char *c = strchr(p, ':');
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	/* fld[0] is the user; the codec fields start at the password */
	if (nf < 2) {
		*why = "expected 'ADDRESS:PASSWORD:UID:GID::HOME::EXTRA'";
		return MR_LINE_BAD;
	}
	mr_ascii_lower(fld[0]);
	if (mr_check_address(fld[0])) {
		*why = "the user is not a mail address";
		return MR_LINE_BAD;
	}
	if (strpbrk(fld[1], " \t")) {
		*why = "the password field has white space";
		return MR_LINE_BAD;
	}
	int64_t id;
	for (size_t i = 2; i <= 3 && i < nf; i++)
		if (*fld[i] && !mr_codec_parse_uint(fld[i], 4294967294LL, &id)) {
			*why = i == 2 ? "the uid is not a number" : "the gid is not a number";
			return MR_LINE_BAD;
		}
	if (nf > 5 && *fld[5] && fld[5][0] != '/') {
		*why = "the home directory is not an absolute path";
		return MR_LINE_BAD;
	}
	mr_line_set_key(l, fld[0], &f->arena);
	l->nf = MR_F_DOVECOT_EXTRA + 1;
	for (size_t i = 1; i < nf; i++)
		mr_line_set_field(l, (unsigned)(i - 1), fld[i], &f->arena);
	return MR_LINE_RECORD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	unsigned last = 0;
	for (unsigned i = 0; i <= MR_F_DOVECOT_EXTRA; i++)
		if (mr_line_field(l, i))
			last = i + 1;
	mr_buf_adds(out, mr_line_key(l));
	for (unsigned i = 0; i < last; i++) {
		const char *v = mr_line_field(l, i);
		mr_buf_addc(out, ':');
		if (v)
			mr_buf_adds(out, v);
	}
}

const struct mr_codec mr_codec_dovecot_passwd = {
	.id = MR_FILE_DOVECOT_PASSWD,
	.name = "dovecot-passwd",
	.path = { "/etc/dovecot/dovecot.passwd", "/etc/dovecot/dovecot.passwd" },
	.owner = "root",
	.group = { "dovecot", "dovecot" },
	.mode = 0640,
	.flags = MR_CODEC_DISABLE,
	.parse = parse,
	.render = render,
};
