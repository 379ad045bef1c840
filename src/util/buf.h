/*
 * buf: a growable byte string, always NUL-terminated.
 *
 *   struct mr_buf b = MR_BUF_INIT;
 *   mr_buf_addf(&b, "%s:%d", key, n);
 *   ... b.ptr, b.len ...
 *   mr_buf_release(&b);
 *
 * b.ptr is never NULL after the first addition; a released buffer is MR_BUF_INIT again.
 */
#ifndef MR_UTIL_BUF_H
#define MR_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct mr_buf {
	char *ptr;
	size_t len;
	size_t cap;
};

#define MR_BUF_INIT { NULL, 0, 0 }

void mr_buf_grow(struct mr_buf *b, size_t extra);
void mr_buf_add(struct mr_buf *b, const void *data, size_t n);
void mr_buf_adds(struct mr_buf *b, const char *s);
void mr_buf_addc(struct mr_buf *b, char c);
void mr_buf_addf(struct mr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mr_buf_vaddf(struct mr_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/*
 * Append n bytes of s for a person's terminal: every byte below 0x20 (tab and newline
 * too), 0x7f, every C1 control (U+0080..U+009F) and every byte that is not part of valid
 * UTF-8 is written as \xNN, so text read from a file can never move the cursor, change
 * colours or hide what is around it.  Everything else, '\\' included, is kept, so escaping
 * twice gives the same text.  MR_PRINTABLE_LINES keeps '\n' (text of several lines).
 */
#define MR_PRINTABLE_LINES 1u
void mr_buf_add_printable(struct mr_buf *b, const char *s, size_t n, unsigned flags);
/* The same for a string (NULL appends nothing). */
void mr_buf_adds_printable(struct mr_buf *b, const char *s);
void mr_buf_reset(struct mr_buf *b);
/* Hand the string over to the caller (who frees it); b becomes empty. */
char *mr_buf_detach(struct mr_buf *b);
void mr_buf_release(struct mr_buf *b);

#endif
