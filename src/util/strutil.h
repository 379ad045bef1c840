/*
 * strutil: small string helpers with no mail knowledge.
 */
#ifndef MR_UTIL_STRUTIL_H
#define MR_UTIL_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Levenshtein distance, capped: returns at most cap + 1. */
size_t mr_edit_distance(const char *a, const char *b, size_t cap);
/* Among the NULL-terminated candidates, the closest to word if it is close enough. */
const char *mr_closest(const char *word, const char *const *candidates);
bool mr_streq_nocase(const char *a, const char *b);
/* Parse a plain non-negative decimal integer of at most max; false on anything else. */
bool mr_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);
/* The value of one hex digit (either case), or -1. */
int mr_hexval(char c);
/* The length (2 to 4) of the valid multi-byte UTF-8 sequence at p, of at most n bytes,
 * with its code point in *cp; 0 when p[0] does not start one (ASCII included). */
size_t mr_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp);

#endif
