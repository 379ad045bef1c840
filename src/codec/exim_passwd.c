/*
 * exim-passwd: /etc/exim4/passwd (Debian), /etc/exim/passwd (RHEL) -- the mailbox list Exim
 * routes by.  Exim lsearch, keyed by the full address in lower case:
 *
 *   info@example.com:owner=alice
 *   sales@example.com:owner=alice disabled=self save=no
 *
 * The data is space-separated key=value words (read with ${extract{owner}{$value}}).
 * disabled= says why mail is refused (self, domain or user); save=no is "do not save
 * incoming mail".  Words mailrecon does not know are kept in order.  A line whose data is
 * not key=value words (an older panel's "address:hash" payload) is read as a mailbox with
 * that payload kept as it is.  See docs/formats.md.
 */
#include <string.h>

#include "codec/codec.h"
#include "model/names.h"

static bool word_is_kv(const char *w)
{
	const char *eq = strchr(w, '=');
	return eq && eq > w;
}

static int parse(struct mr_codec_file *f, struct mr_line *l, char *s, size_t n, const char **why)
{
	(void)n;
	char *key, *data;
	if (!mr_codec_lsearch_split(s, &key, &data)) {
		*why = "expected 'ADDRESS:owner=NAME'";
		return MR_LINE_BAD;
	}
	mr_ascii_lower(key);
	if (mr_check_address(key)) {
		*why = "the key is not a mail address (expected 'ADDRESS:owner=NAME')";
		return MR_LINE_BAD;
	}
	mr_line_set_key(l, key, &f->arena);
	l->nf = MR_F_PASSWD_LEGACY + 1;
	if (!*data)
		return MR_LINE_RECORD;
	if (!word_is_kv(data)) {
		mr_line_set_field(l, MR_F_PASSWD_LEGACY, data, &f->arena);
		return MR_LINE_RECORD;
	}
	struct mr_buf extra = MR_BUF_INIT;
	char *save = NULL;
	for (char *w = strtok_r(data, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (!word_is_kv(w)) {
			*why = "expected key=value words after the address";
			mr_buf_release(&extra);
			return MR_LINE_BAD;
		}
		char *eq = strchr(w, '=');
		*eq = '\0';
		const char *v = eq + 1;
		if (strcmp(w, "owner") == 0) {
			if (mr_check_user_name(v)) {
				*why = "owner= is not a valid user name";
				goto fail;
			}
			mr_line_set_field(l, MR_F_PASSWD_OWNER, v, &f->arena);
		} else if (strcmp(w, "disabled") == 0) {
			if (strcmp(v, "self") && strcmp(v, "domain") && strcmp(v, "user")) {
				*why = "disabled= must be self, domain or user";
				goto fail;
			}
			mr_line_set_field(l, MR_F_PASSWD_DISABLED, v, &f->arena);
		} else if (strcmp(w, "save") == 0) {
			if (strcmp(v, "no") && strcmp(v, "yes")) {
				*why = "save= must be yes or no";
				goto fail;
			}
			mr_line_set_field(l, MR_F_PASSWD_SAVE, v, &f->arena);
		} else {
			*eq = '=';
			if (extra.len)
				mr_buf_addc(&extra, ' ');
			mr_buf_adds(&extra, w);
		}
	}
	if (extra.len) /* not in the line: the line keeps its strings' pointers (ext) */
		mr_line_set_field(l, MR_F_PASSWD_EXTRA, mr_arena_strndup(&f->arena, extra.ptr, extra.len), &f->arena);
	mr_buf_release(&extra);
	return MR_LINE_RECORD;
fail:
	mr_buf_release(&extra);
	return MR_LINE_BAD;
}

static void render(const struct mr_line *l, struct mr_buf *out)
{
	mr_buf_adds(out, mr_line_key(l));
	mr_buf_addc(out, ':');
	const char *legacy = mr_line_field(l, MR_F_PASSWD_LEGACY);
	if (legacy) {
		mr_buf_adds(out, legacy);
		return;
	}
	/* every record read is rendered once to see whether it is canonical: no printf here */
	static const char *const words[] = { "owner=", "disabled=", "save=", "" };
	static const int fields[] = { MR_F_PASSWD_OWNER, MR_F_PASSWD_DISABLED, MR_F_PASSWD_SAVE, MR_F_PASSWD_EXTRA };
	bool first = true;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = mr_line_field(l, (unsigned)fields[i]);
		if (!v)
			continue;
		if (!first)
			mr_buf_addc(out, ' ');
		mr_buf_adds(out, words[i]);
		mr_buf_adds(out, v);
		first = false;
	}
}

const struct mr_codec mr_codec_exim_passwd = {
	.id = MR_FILE_EXIM_PASSWD,
	.name = "exim-passwd",
	.path = { "/etc/exim4/passwd", "/etc/exim/passwd" },
	.owner = "root",
	.group = { "Debian-exim", "exim" },
	.mode = 0640,
	.flags = MR_CODEC_LSEARCH | MR_CODEC_DISABLE,
	.parse = parse,
	.render = render,
};
