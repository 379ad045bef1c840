#include "util/arena.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

struct mr_arena_chunk {
	struct mr_arena_chunk *next;
	size_t size; /* of the whole chunk, header included, for mr_big_free() */
	alignas(max_align_t) char data[];
};

#define ALIGN (alignof(max_align_t))

/*
 * Big chunks freed are kept for the next arena that needs one of the same size, up to
 * SPARE_MAX bytes in all, instead of going back to the system: with several desired files
 * the parse thread builds a document per file while this thread converts and frees the one
 * before, and at 1,000,000 mailboxes (100 files of 1.7 MiB) each document took ~10 MiB of
 * fresh mappings, every page of them faulted in and cleared by the kernel again.  A kept
 * chunk's pages stay resident and are not zeros (mr_arena_zalloc clears them).
 */
#define SPARE_MAX (64u << 20)
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mr_arena_chunk *spare;
static size_t spare_bytes;

static struct mr_arena_chunk *spare_take(size_t whole)
{
	struct mr_arena_chunk *c = NULL;
	pthread_mutex_lock(&spare_mu);
	for (struct mr_arena_chunk **pp = &spare; *pp; pp = &(*pp)->next)
		if ((*pp)->size == whole) {
			c = *pp;
			*pp = c->next;
			spare_bytes -= whole;
			break;
		}
	pthread_mutex_unlock(&spare_mu);
	return c;
}

static bool spare_keep(struct mr_arena_chunk *c)
{
	bool kept = false;
	pthread_mutex_lock(&spare_mu);
	if (spare_bytes + c->size <= SPARE_MAX) {
		c->next = spare;
		spare = c;
		spare_bytes += c->size;
		kept = true;
	}
	pthread_mutex_unlock(&spare_mu);
	return kept;
}

/* Aligned objects are taken from the front of the current chunk, strings from its back. */
/*
 * Each chunk is twice the one before, from MR_ARENA_CHUNK up to MR_ARENA_CHUNK_MAX: a small
 * model stays in a few hundred KiB, a big one takes few chunks, and those from 2 MiB up are
 * mappings of their own (mr_big_zalloc_small_pages: not huge pages, as a chunk is filled
 * from both ends), given back whole when freed.
 */
static void new_chunk(struct mr_arena *a, size_t need)
{
	size_t size = a->head ? (a->head->size - sizeof(struct mr_arena_chunk)) * 2 : MR_ARENA_CHUNK;
	if (size > MR_ARENA_CHUNK_MAX)
		size = MR_ARENA_CHUNK_MAX;
	if (size < need)
		size = need;
	size_t whole = sizeof(struct mr_arena_chunk) + size;
	if (whole >= MR_BIG_MIN) /* use all of the mapping: mr_big_free() rounds it up too */
		size = ((whole + MR_BIG_MIN - 1) & ~(MR_BIG_MIN - 1)) - sizeof(struct mr_arena_chunk);
	whole = sizeof(struct mr_arena_chunk) + size;
	struct mr_arena_chunk *c = whole >= MR_BIG_MIN ? spare_take(whole) : NULL;
	bool zeros = false;
	if (!c) {
		zeros = whole >= MR_BIG_MIN; /* mapped zeros */
		c = zeros ? mr_big_zalloc_small_pages(whole) : xmalloc(whole);
	}
	c->size = whole;
	c->next = a->head;
	a->head = c;
	a->cur = c->data;
	a->end = c->data + size;
	a->zero = zeros ? c->data : a->end;
}

void *mr_arena_alloc(struct mr_arena *a, size_t n)
{
	size_t need = (n + ALIGN - 1) & ~(ALIGN - 1);
	if (need == 0)
		need = ALIGN;
	if (!a->cur || (size_t)(a->end - a->cur) < need)
		new_chunk(a, need);
	void *p = a->cur;
	a->cur += need;
	a->total += need;
	return p;
}

void *mr_arena_zalloc(struct mr_arena *a, size_t n)
{
	void *p = mr_arena_alloc(a, n);
	if ((char *)p < a->zero) /* not known to be zeros */
		memset(p, 0, n);
	return p;
}

char *mr_arena_strndup(struct mr_arena *a, const char *s, size_t n)
{
	if (!a->cur || (size_t)(a->end - a->cur) < n + 1)
		new_chunk(a, n + 1);
	a->end -= n + 1;
	char *p = a->end;
	memcpy(p, s, n);
	p[n] = '\0';
	a->total += n + 1;
	return p;
}

char *mr_arena_strdup(struct mr_arena *a, const char *s)
{
	return mr_arena_strndup(a, s, strlen(s));
}

char *mr_arena_printf(struct mr_arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = mr_arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static void free_chunk(struct mr_arena_chunk *c)
{
	if (c->size < MR_BIG_MIN)
		free(c);
	else if (!spare_keep(c))
		mr_big_free(c, c->size);
}

void mr_arena_release(struct mr_arena *a)
{
	struct mr_arena_chunk *c = a->head;
	while (c) {
		struct mr_arena_chunk *next = c->next;
		free_chunk(c);
		c = next;
	}
	a->head = NULL;
	a->cur = a->end = a->zero = NULL;
	a->total = 0;
}

void mr_arena_rewind(struct mr_arena *a, struct mr_arena_mark m)
{
	a->total = m.total;
	if (a->head == m.head) {
		a->cur = m.cur;
		a->end = m.end;
		a->zero = a->end; /* what was handed out since the mark is written on */
		return;
	}
	/* keep the newest chunk, emptied; free those between it and the marked one */
	struct mr_arena_chunk *keep = a->head, *c = keep->next;
	while (c != m.head) {
		struct mr_arena_chunk *next = c->next;
		free_chunk(c);
		c = next;
	}
	keep->next = m.head;
	a->cur = keep->data;
	a->end = (char *)keep + keep->size;
	a->zero = a->end;
}
