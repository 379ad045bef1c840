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

/* Once, first thing in main: blocks from MR_MMAP_MIN up are mappings of their own (see
 * xalloc.c). */
#define MR_MMAP_MIN ((size_t)256 << 10)
void mr_alloc_init(void);
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow an array: returns p resized to hold at least `need` elements of `size`, updating *cap. */
void *xgrow(void *p, size_t size, size_t need, size_t *cap);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A copy of n bytes (plus a NUL, so n may be 0). */
char *xmemdup(const void *p, size_t n);

/*
 * Large zeroed blocks (hash tables, arena chunks of a big model): below MR_BIG_MIN bytes an
 * ordinary calloc; from it up, anonymous pages rounded up to 2 MiB with the kernel advised to
 * back them with transparent huge pages.  A 100,000-mailbox plan otherwise spends a third of
 * its time in page faults (one per 4 KiB, a write after a read of the zero page costing two,
 * each with a TLB flush on every thread).  The block is freed with the same size.
 */
#define MR_BIG_MIN ((size_t)2 << 20)
void *mr_big_zalloc(size_t n);
/*
 * The same without the huge-page advice, for a block filled from both ends (an arena chunk:
 * objects from its front, strings from its back): each end's first write would fault in a
 * whole 2 MiB page, and the two partly filled ones of each live arena cost a 100,000-mailbox
 * plan 7.5 MiB of its peak for no time measured (CPU 1.02 -> 0.96 s, medians of 7).
 */
void *mr_big_zalloc_small_pages(size_t n);
void mr_big_free(void *p, size_t n);

#endif
