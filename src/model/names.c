#include "model/names.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"

static bool is_lower(int c) { return c >= 'a' && c <= 'z'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

void mr_ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

bool mr_has_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return true;
	return false;
}

const char *mr_check_user_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return "is empty";
	if (n > MR_USER_NAME_MAX)
		return "is longer than 32 characters";
	if (!is_lower(s[0]) && s[0] != '_')
		return "must start with a lowercase latin letter or '_'";
	for (size_t i = 1; i < n; i++)
		if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '_' && s[i] != '-')
			return "may only contain lowercase latin letters, digits, '_' and '-'";
	return NULL;
}

const char *mr_check_mailbox_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return "is empty";
	if (n > MR_LOCAL_PART_MAX)
		return "is longer than 64 characters";
	for (size_t i = 0; i < n; i++)
		if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '-' && s[i] != '.')
			return "may only contain lowercase latin letters, digits, '-' and '.'";
	if (s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-')
		return "may not start or end with '.' or '-'";
	if (strstr(s, ".."))
		return "may not contain '..'";
	return NULL;
}

static const char *check_labels(const char *s, bool need_two, bool lower_only)
{
	size_t n = strlen(s);
	if (n == 0)
		return "is empty";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return "is not ASCII: write an internationalized name in punycode (xn--...)";
	if (n > MR_DOMAIN_MAX)
		return "is longer than 253 characters";
	if (s[n - 1] == '.')
		return "may not end with '.'";
	size_t labels = 0;
	const char *p = s;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (len == 0)
			return "has an empty label";
		if (len > 63)
			return "has a label longer than 63 characters";
		for (size_t i = 0; i < len; i++) {
			int c = (unsigned char)p[i];
			if (!is_lower(c) && !is_digit(c) && c != '-') {
				if (!lower_only && c >= 'A' && c <= 'Z')
					continue;
				if (c >= 'A' && c <= 'Z')
					return "must be lower case";
				return "may only contain latin letters, digits, '-' and '.'";
			}
		}
		if (p[0] == '-' || p[len - 1] == '-')
			return "has a label that starts or ends with '-'";
		if (len >= 4 && p[2] == '-' && p[3] == '-' &&
		    !((p[0] == 'x' || p[0] == 'X') && (p[1] == 'n' || p[1] == 'N')))
			return "has '--' in the third and fourth places of a label (reserved for xn--)";
		labels++;
		if (!dot)
			break;
		p = dot + 1;
	}
	if (need_two && labels < 2)
		return "needs at least two labels (such as example.com)";
	return NULL;
}

const char *mr_check_domain(const char *s) { return check_labels(s, true, true); }
const char *mr_check_hostname(const char *s) { return check_labels(s, false, true); }

const char *mr_check_selector(const char *s)
{
	return check_labels(s, false, true);
}

static bool local_char(int c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr(".!#$%&'*+=?^_{}~-", c) != NULL);
}

const char *mr_check_address(const char *s)
{
	const char *at = strrchr(s, '@');
	if (!at)
		return "is not an address (local@domain)";
	size_t n = (size_t)(at - s);
	if (n == 0)
		return "has an empty local part";
	if (n > MR_LOCAL_PART_MAX)
		return "has a local part longer than 64 characters";
	for (size_t i = 0; i < n; i++)
		if (!local_char((unsigned char)s[i]))
			return "has a character in its local part other than latin letters, digits and .!#$%&'*+=?^_{}~-";
	/* "#..." as the first field of an aliases line or as redirect data is a comment to Exim */
	if (s[0] == '#')
		return "has a local part that starts with '#' (Exim's files would read it as a comment)";
	if (s[0] == '.' || s[n - 1] == '.')
		return "has a local part that starts or ends with '.'";
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '.' && s[i + 1] == '.')
			return "has '..' in its local part";
	const char *why = check_labels(at + 1, true, false);
	if (why) {
		if (strcmp(why, "is empty") == 0)
			return "has an empty domain";
		return "has an invalid domain";
	}
	return NULL;
}

const char *mr_check_ip(const char *s)
{
	unsigned char buf[16];
	if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
		return NULL;
	return "is not an IPv4 or IPv6 address";
}

const char *mr_check_env_name(const char *s)
{
	if (!s[0])
		return "is empty";
	if (!is_alpha(s[0]) && s[0] != '_')
		return "must start with a latin letter or '_'";
	for (const char *p = s + 1; *p; p++)
		if (!is_alpha(*p) && !is_digit(*p) && *p != '_')
			return "may only contain latin letters, digits and '_'";
	return NULL;
}

/* Decode one UTF-8 sequence; returns its length or 0 when invalid. */
static size_t utf8_decode(const unsigned char *p, uint32_t *cp)
{
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	size_t n;
	uint32_t c, min;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2, c = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3, c = p[0] & 0x0f, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

const char *mr_check_text(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	if (strlen(s) > max)
		return "is too long";
	while (*p) {
		uint32_t c;
		size_t n = utf8_decode(p, &c);
		if (!n)
			return "is not valid UTF-8";
		if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) /* C0, DEL and C1, as the schema says */
			return "has a control character";
		p += n;
	}
	return NULL;
}

/* RFC 3492 punycode of one label given as code points. */
static bool punycode_label(const uint32_t *in, size_t n, struct mr_buf *out)
{
	enum { base = 36, tmin = 1, tmax = 26, skew = 38, damp = 700, initial_bias = 72, initial_n = 128 };
	uint32_t code = initial_n, delta = 0, bias = initial_bias;
	size_t h, b = 0;
	for (size_t j = 0; j < n; j++)
		if (in[j] < 0x80) {
			mr_buf_addc(out, (char)(in[j] >= 'A' && in[j] <= 'Z' ? in[j] - 'A' + 'a' : in[j]));
			b++;
		}
	h = b;
	if (b > 0)
		mr_buf_addc(out, '-');
	while (h < n) {
		uint32_t m = UINT32_MAX;
		for (size_t j = 0; j < n; j++)
			if (in[j] >= code && in[j] < m)
				m = in[j];
		if ((uint64_t)(m - code) * (h + 1) + delta > UINT32_MAX)
			return false;
		delta += (m - code) * (uint32_t)(h + 1);
		code = m;
		for (size_t j = 0; j < n; j++) {
			if (in[j] < code)
				delta++;
			if (in[j] == code) {
				uint32_t q = delta;
				for (uint32_t k = base;; k += base) {
					uint32_t t = k <= bias ? tmin : k >= bias + tmax ? tmax : k - bias;
					if (q < t)
						break;
					uint32_t d = t + (q - t) % (base - t);
					mr_buf_addc(out, (char)(d < 26 ? 'a' + d : '0' + d - 26));
					q = (q - t) / (base - t);
				}
				mr_buf_addc(out, (char)(q < 26 ? 'a' + q : '0' + q - 26));
				/* adapt */
				uint32_t dl = h == b ? delta / damp : delta / 2;
				dl += dl / (uint32_t)(h + 1);
				uint32_t k = 0;
				while (dl > ((base - tmin) * tmax) / 2) {
					dl /= base - tmin;
					k += base;
				}
				bias = k + (base - tmin + 1) * dl / (dl + skew);
				delta = 0;
				h++;
			}
		}
		delta++;
		code++;
	}
	return true;
}

char *mr_domain_to_ascii(const char *s)
{
	struct mr_buf out = MR_BUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	uint32_t *cps = xmalloc((strlen(s) + 1) * sizeof(*cps));
	for (;;) {
		size_t n = 0;
		bool ascii = true;
		while (*p && *p != '.') {
			size_t k = utf8_decode(p, &cps[n]);
			if (!k) {
				free(cps);
				mr_buf_release(&out);
				return NULL;
			}
			if (cps[n] >= 0x80)
				ascii = false;
			n++;
			p += k;
		}
		if (ascii) {
			for (size_t j = 0; j < n; j++)
				mr_buf_addc(&out, (char)(cps[j] >= 'A' && cps[j] <= 'Z' ? cps[j] - 'A' + 'a' : cps[j]));
		} else {
			mr_buf_adds(&out, "xn--");
			if (!punycode_label(cps, n, &out)) {
				free(cps);
				mr_buf_release(&out);
				return NULL;
			}
		}
		if (!*p)
			break;
		mr_buf_addc(&out, '.');
		p++;
	}
	free(cps);
	return mr_buf_detach(&out);
}
