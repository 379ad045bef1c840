#include "codec/dkim_txt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/names.h"
#include "util/xalloc.h"

/* opendkim-genkey puts at most this many base64 characters in one quoted string. */
#define CHUNK 250

struct cursor {
	const char *p, *end;
};

static bool inline_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool any_space(char c)
{
	return inline_space(c) || c == '\n';
}

static void skip_comment(struct cursor *c)
{
	while (c->p < c->end && *c->p != '\n')
		c->p++;
}

static void skip_inline(struct cursor *c)
{
	while (c->p < c->end && inline_space(*c->p))
		c->p++;
}

/* White space, line ends and ';' comments: between records, and inside "( ... )". */
static void skip_all(struct cursor *c)
{
	while (c->p < c->end) {
		if (any_space(*c->p))
			c->p++;
		else if (*c->p == ';')
			skip_comment(c);
		else
			break;
	}
}

static bool word_end(const struct cursor *c)
{
	return c->p == c->end || any_space(*c->p) || *c->p == '(' || *c->p == '"' || *c->p == ';';
}

/* The word w (ASCII, any case) followed by a separator. */
static bool take_word(struct cursor *c, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) < n || strncasecmp(c->p, w, n) != 0)
		return false;
	struct cursor after = { c->p + n, c->end };
	if (!word_end(&after))
		return false;
	c->p += n;
	return true;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* One quoted string after its opening '"', appended to out. */
static const char *take_string(struct cursor *c, struct mr_buf *out)
{
	const char *start = c->p;
	for (;;) {
		const char *q = start;
		while (q < c->end && *q != '"' && *q != '\\' && *q != '\n')
			q++;
		mr_buf_add(out, start, (size_t)(q - start));
		if (q == c->end)
			return "has an unterminated quoted string";
		if (*q == '\n')
			return "has a line break inside a quoted string";
		if (*q == '"') {
			c->p = q + 1;
			return NULL;
		}
		/* a backslash: \DDD is a byte in decimal, \X is X */
		if (c->end - q < 2)
			return "has an unterminated quoted string";
		if (is_digit(q[1])) {
			if (c->end - q < 4 || !is_digit(q[2]) || !is_digit(q[3]))
				return "has a malformed \\DDD escape";
			int v = (q[1] - '0') * 100 + (q[2] - '0') * 10 + (q[3] - '0');
			if (v > 255)
				return "has a malformed \\DDD escape";
			mr_buf_addc(out, (char)v);
			start = q + 4;
		} else {
			if (q[1] == '\n')
				return "has a line break inside a quoted string";
			mr_buf_addc(out, q[1]);
			start = q + 2;
		}
	}
}

/* The owner name: SELECTOR._domainkey, or SELECTOR._domainkey.DOMAIN. */
static const char *take_owner(struct cursor *c, char **selector)
{
	const char *start = c->p;
	while (!word_end(c))
		c->p++;
	size_t n = (size_t)(c->p - start);
	if (n == 0)
		return "has no record";
	static const char dk[] = "._domainkey";
	const size_t dkn = sizeof(dk) - 1;
	for (size_t i = 0; i + dkn <= n; i++) {
		if (strncasecmp(start + i, dk, dkn) != 0 || !(i + dkn == n || start[i + dkn] == '.'))
			continue;
		if (i == 0)
			return "has an empty selector";
		char *sel = xstrndup(start, i);
		if (mr_check_selector(sel)) {
			free(sel);
			return "has an invalid selector (dot-separated lower-case labels expected)";
		}
		*selector = sel;
		return NULL;
	}
	return "does not start with SELECTOR._domainkey";
}

/* The text of the record: its quoted strings concatenated. */
static const char *take_record(struct cursor *c, struct mr_buf *txt)
{
	skip_inline(c);
	if (!take_word(c, "IN"))
		return "has no IN class after the name";
	skip_inline(c);
	if (!take_word(c, "TXT"))
		return "is not a TXT record";
	skip_inline(c);
	bool paren = c->p < c->end && *c->p == '(';
	if (paren)
		c->p++;
	size_t nstr = 0;
	for (;;) {
		if (paren)
			skip_all(c);
		else
			skip_inline(c);
		if (c->p == c->end || *c->p != '"')
			break;
		c->p++;
		const char *why = take_string(c, txt);
		if (why)
			return why;
		nstr++;
	}
	if (nstr == 0)
		return "has no quoted string";
	if (paren) {
		if (c->p == c->end)
			return "has '(' without its ')'";
		if (*c->p != ')')
			return "has unquoted text inside its ( )";
		c->p++;
	} else if (c->p < c->end && *c->p == ')') {
		return "has ')' without its '('";
	}
	skip_inline(c);
	if (c->p < c->end && *c->p == ';')
		skip_comment(c);
	skip_all(c);
	if (c->p != c->end)
		return "has text after the record";
	return NULL;
}

static bool tag_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '+' || c == '/';
}

/* The p= value of a DKIM tag list (RFC 6376 3.2), white space removed. */
static const char *find_p(const char *s, size_t n, char **pubkey_b64)
{
	const char *end = s + n;
	bool seen = false;
	struct mr_buf val = MR_BUF_INIT;
	const char *why = NULL;
	while (s < end && !why) {
		const char *semi = memchr(s, ';', (size_t)(end - s));
		const char *spec_end = semi ? semi : end;
		const char *a = s, *b = spec_end;
		s = semi ? semi + 1 : end;
		while (a < b && tag_space(*a))
			a++;
		while (b > a && tag_space(b[-1]))
			b--;
		if (a == b)
			continue; /* an empty spec, such as after the final ';' */
		const char *eq = memchr(a, '=', (size_t)(b - a));
		if (!eq) {
			why = "has a tag without '=' in its text";
			break;
		}
		const char *ne = eq;
		while (ne > a && tag_space(ne[-1]))
			ne--;
		if (!(ne - a == 1 && *a == 'p'))
			continue;
		if (seen) {
			why = "has two p= tags";
			break;
		}
		seen = true;
		size_t pad = 0;
		for (const char *v = eq + 1; v < b; v++) {
			if (tag_space(*v))
				continue;
			if (*v == '=') {
				pad++;
			} else if (!b64_char(*v) || pad) {
				why = "has a p= tag that is not base64";
				break;
			}
			mr_buf_addc(&val, *v);
		}
		if (!why && pad > 2)
			why = "has a p= tag that is not base64";
	}
	if (!why && !seen)
		why = "has no p= tag";
	if (!why && val.len == 0)
		why = "has an empty p= tag (a revoked key)";
	if (why) {
		mr_buf_release(&val);
		return why;
	}
	*pubkey_b64 = mr_buf_detach(&val);
	return NULL;
}

const char *mr_dkim_tags_p(const char *tags, size_t len, char **pubkey_b64)
{
	*pubkey_b64 = NULL;
	return find_p(tags, len, pubkey_b64);
}

int mr_dkim_txt_parse(const char *data, size_t len, char **selector, char **pubkey_b64, const char **why)
{
	*selector = NULL;
	*pubkey_b64 = NULL;
	*why = NULL;
	if (!data || len == 0) {
		*why = "is empty";
		return -1;
	}
	if (memchr(data, '\0', len)) {
		*why = "contains a NUL byte";
		return -1;
	}
	struct cursor c = { data, data + len };
	skip_all(&c);
	if (c.p == c.end) {
		*why = "has no record";
		return -1;
	}
	char *sel = NULL;
	struct mr_buf txt = MR_BUF_INIT;
	const char *w = take_owner(&c, &sel);
	if (!w)
		w = take_record(&c, &txt);
	if (!w)
		w = find_p(txt.ptr, txt.len, pubkey_b64);
	mr_buf_release(&txt);
	if (w) {
		free(sel);
		*why = w;
		return -1;
	}
	*selector = sel;
	return 0;
}

void mr_zone_txt(const char *v, size_t n, struct mr_buf *out)
{
	size_t i = 0;
	do {
		size_t end = n - i < 255 ? n : i + 255;
		mr_buf_adds(out, i ? " \"" : "\"");
		for (; i < end; i++) {
			unsigned char c = (unsigned char)v[i];
			if (c < 0x20 || c >= 0x7f) {
				mr_buf_addf(out, "\\%03u", c);
				continue;
			}
			if (c == '"' || c == '\\')
				mr_buf_addc(out, '\\');
			mr_buf_addc(out, (char)c);
		}
		mr_buf_addc(out, '"');
	} while (i < n);
}

void mr_dkim_txt_render(const char *selector, const char *domain, const char *pubkey_b64, struct mr_buf *out)
{
	/* opendkim-genkey 2.11.0, -r (s=email) with the Debian default h=sha256 */
	mr_buf_adds(out, selector);
	mr_buf_adds(out, "._domainkey\tIN\tTXT\t( \"v=DKIM1; h=sha256; k=rsa; s=email; \"\n\t  \"p=");
	size_t len = strlen(pubkey_b64);
	const char *p = pubkey_b64;
	/* its loop: a full chunk is always followed by a new string, empty after the last one */
	while (len >= CHUNK) {
		mr_buf_add(out, p, CHUNK);
		mr_buf_adds(out, "\"\n\t  \"");
		p += CHUNK;
		len -= CHUNK;
	}
	mr_buf_add(out, p, len);
	mr_buf_adds(out, "\" ) ");
	if (domain && domain[0])
		mr_buf_addf(out, " ; ----- DKIM key %s for %s", selector, domain);
	mr_buf_adds(out, "\n");
}
