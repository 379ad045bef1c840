#include "util/strutil.h"

#include <string.h>
#include <strings.h>

size_t mr_edit_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0], best;
		row[0] = i;
		best = row[0];
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t v = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			if (up + 1 < v)
				v = up + 1;
			row[j] = v;
			diag = up;
			if (v < best)
				best = v;
		}
		if (best > cap)
			return cap + 1;
	}
	return row[lb] > cap ? cap + 1 : row[lb];
}

const char *mr_closest(const char *word, const char *const *candidates)
{
	size_t len = strlen(word);
	size_t cap = len < 4 ? 1 : len < 8 ? 2 : 3;
	const char *best = NULL, *part = NULL;
	size_t bestd = cap + 1, parts = 0;
	for (const char *const *c = candidates; *c; c++) {
		size_t d = mr_edit_distance(word, *c, cap);
		if (d < bestd) {
			bestd = d;
			best = *c;
		}
		/* "domains" for "mail_domains": the word is a whole '_'-separated part */
		const char *hit = len >= 4 ? strstr(*c, word) : NULL;
		if (hit && (hit == *c || hit[-1] == '_') && (hit[len] == '\0' || hit[len] == '_')) {
			part = *c;
			parts++;
		}
	}
	if (best)
		return best;
	return parts == 1 ? part : NULL;
}

bool mr_streq_nocase(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool mr_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	if (len == 0 || len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

int mr_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t mr_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t k;
	uint32_t c, min;
	if ((p[0] & 0xe0) == 0xc0)
		k = 2, c = p[0] & 0x1f, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		k = 3, c = p[0] & 0x0f, min = 0x800;
	else if ((p[0] & 0xf8) == 0xf0)
		k = 4, c = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return k;
}
