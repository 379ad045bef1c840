#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"
#include "util/xalloc.h"

void mr_buf_grow(struct mr_buf *b, size_t extra)
{
	b->ptr = xgrow(b->ptr, 1, b->len + extra + 1, &b->cap);
}

void mr_buf_add(struct mr_buf *b, const void *data, size_t n)
{
	mr_buf_grow(b, n);
	memcpy(b->ptr + b->len, data, n);
	b->len += n;
	b->ptr[b->len] = '\0';
}

void mr_buf_adds(struct mr_buf *b, const char *s)
{
	mr_buf_add(b, s, strlen(s));
}

void mr_buf_addc(struct mr_buf *b, char c)
{
	mr_buf_add(b, &c, 1);
}

void mr_buf_vaddf(struct mr_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	mr_buf_grow(b, (size_t)n);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void mr_buf_addf(struct mr_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mr_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

static void hex_byte(struct mr_buf *b, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
	mr_buf_add(b, e, 4);
}

void mr_buf_add_printable(struct mr_buf *b, const char *s, size_t n, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	mr_buf_grow(b, n);
	while (p < e) {
		const unsigned char *run = p;
		while (p < e && *p >= 0x20 && *p < 0x7f)
			p++;
		if (p > run)
			mr_buf_add(b, run, (size_t)(p - run));
		if (p == e)
			break;
		if (*p == '\n' && (flags & MR_PRINTABLE_LINES)) {
			mr_buf_addc(b, '\n');
			p++;
			continue;
		}
		uint32_t c = 0;
		size_t k = *p >= 0x80 ? mr_utf8_seq(p, (size_t)(e - p), &c) : 0;
		if (k && c >= 0xa0) {
			mr_buf_add(b, p, k);
			p += k;
			continue;
		}
		/* a control character, a C1 control (every byte of it), or a byte of no character */
		for (size_t i = 0; i < (k ? k : 1); i++)
			hex_byte(b, p[i]);
		p += k ? k : 1;
	}
}

void mr_buf_adds_printable(struct mr_buf *b, const char *s)
{
	if (s)
		mr_buf_add_printable(b, s, strlen(s), 0);
}

void mr_buf_reset(struct mr_buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

char *mr_buf_detach(struct mr_buf *b)
{
	char *p = b->ptr ? b->ptr : xstrdup("");
	b->ptr = NULL;
	b->len = b->cap = 0;
	return p;
}

void mr_buf_release(struct mr_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}
