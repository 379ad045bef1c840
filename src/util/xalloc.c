#include "util/xalloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void oom(size_t n)
{
	fprintf(stderr, "mailrecon: out of memory (allocating %zu bytes)\n", n);
	exit(1);
}

void mr_alloc_init(void)
{
#ifdef M_MMAP_THRESHOLD
	/* a fixed threshold (glibc's own moves up to 32 MiB once a big block is freed): every
	 * block from MR_MMAP_MIN up is a mapping of its own, which free() gives back to the
	 * system and realloc() grows with mremap() in place of a copy.  An array grown by
	 * doubling in the heap leaves its old blocks behind as free but resident holes: at
	 * 2 MiB, the loads of a 100,000-mailbox plan left 6 MiB of them, at its peak. */
	(void)mallopt(M_MMAP_THRESHOLD, (int)MR_MMAP_MIN);
#endif
}

/*
 * Blocks from malloc are not advised to be huge pages (they were, from MR_BIG_MIN up): they
 * are filled in order (a file read, a line array), where a huge page saves page faults but
 * not TLB misses, and with the kernel's usual defrag setting ("madvise") an advised fault
 * compacts memory to find 2 MiB on the spot.  A 1,000,000-mailbox plan spent 3-5 s of
 * system time in that for its 500 MB of live files and lines; without the advice 0.9 s.
 * The maps, probed at random, keep theirs (mr_big_zalloc).
 */
void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		oom(nmemb * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

void *xgrow(void *p, size_t size, size_t need, size_t *cap)
{
	size_t c = *cap;
	if (need <= c)
		return p;
	if (c < 8)
		c = 8;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			oom(SIZE_MAX);
		c *= 2;
	}
	if (c > SIZE_MAX / size)
		oom(SIZE_MAX);
	*cap = c;
	return xrealloc(p, c * size);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xmemdup(const void *p, size_t n)
{
	char *q = xmalloc(n + 1);
	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

static size_t big_round(size_t n)
{
	return (n + MR_BIG_MIN - 1) & ~(MR_BIG_MIN - 1);
}

static void *big_map(size_t n, bool huge_pages)
{
	if (n < MR_BIG_MIN)
		return xcalloc(1, n);
	size_t len = big_round(n);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		oom(n);
#ifdef MADV_HUGEPAGE
	if (huge_pages)
		(void)madvise(p, len, MADV_HUGEPAGE); /* advice only: without it, 4 KiB pages */
#else
	(void)huge_pages;
#endif
	return p;
}

void *mr_big_zalloc(size_t n)
{
	return big_map(n, true);
}

void *mr_big_zalloc_small_pages(size_t n)
{
	return big_map(n, false);
}

void mr_big_free(void *p, size_t n)
{
	if (!p)
		return;
	if (n < MR_BIG_MIN)
		free(p);
	else
		munmap(p, big_round(n));
}
