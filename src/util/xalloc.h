/*
 * xalloc: allocation that cannot fail.
 *
 * Running out of memory is fatal for a command-line reconciler: there is no useful way
 * to go on, and checking every allocation would bury the real logic.  These wrappers
 * print one line to stderr and exit(1) when the allocator says no.
 */
#ifndef MR_UTIL_XALLOC_H
#define MR_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow an array: returns p resized to hold at least `need` elements of `size`, updating *cap. */
void *xgrow(void *p, size_t size, size_t need, size_t *cap);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A copy of n bytes (plus a NUL, so n may be 0). */
char *xmemdup(const void *p, size_t n);

#endif
