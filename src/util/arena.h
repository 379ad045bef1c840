/*
 * arena: a bump allocator for objects that live and die together.
 *
 * A loaded model (hundreds of thousands of small strings and records) is freed in one
 * call.  Memory comes from chunks of MR_ARENA_CHUNK bytes, each twice the last up to
 * MR_ARENA_CHUNK_MAX (or one as big as a large request); nothing is freed
 * before mr_arena_release().  Returned memory is aligned for any scalar type.
 *
 *   struct mr_arena a = MR_ARENA_INIT;
 *   char *s = mr_arena_strndup(&a, p, n);
 *   ...
 *   mr_arena_release(&a);
 */
#ifndef MR_UTIL_ARENA_H
#define MR_UTIL_ARENA_H

#include <stddef.h>

#define MR_ARENA_CHUNK (256 * 1024)
#define MR_ARENA_CHUNK_MAX (16 * 1024 * 1024)

struct mr_arena_chunk;

struct mr_arena {
	struct mr_arena_chunk *head;
	char *cur;
	char *end;
	size_t total; /* bytes handed out, for statistics */
	/* [cur, end) holds zeros from here on: a chunk that is a fresh mapping is all zeros, and
	 * mr_arena_zalloc() need not write them again (the first write is a page fault anyway) */
	char *zero;
};

#define MR_ARENA_INIT { NULL, NULL, NULL, 0, NULL }

void *mr_arena_alloc(struct mr_arena *a, size_t n);
void *mr_arena_zalloc(struct mr_arena *a, size_t n);
char *mr_arena_strndup(struct mr_arena *a, const char *s, size_t n);
char *mr_arena_strdup(struct mr_arena *a, const char *s);
char *mr_arena_printf(struct mr_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mr_arena_release(struct mr_arena *a);

/*
 * A point to go back to: mr_arena_rewind() takes back everything allocated since
 * mr_arena_mark(), so a short-lived part (a parsed subtree, once converted) costs no more
 * than its biggest instance.  Chunks made since the mark are freed except the newest, which
 * is kept empty for what comes next (filling it again costs no page faults); the rest of the
 * marked chunk is then not used again.  Marks taken after a rewound one are invalid.
 */
struct mr_arena_mark {
	struct mr_arena_chunk *head;
	char *cur, *end;
	size_t total;
};

static inline struct mr_arena_mark mr_arena_mark(const struct mr_arena *a)
{
	return (struct mr_arena_mark){ a->head, a->cur, a->end, a->total };
}

void mr_arena_rewind(struct mr_arena *a, struct mr_arena_mark m);

#endif
