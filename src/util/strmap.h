/*
 * strmap: an open-addressing hash map from byte strings to pointers.
 *
 * Keys are not copied: the caller keeps them alive (usually in the same arena as the
 * values) for the life of the map.  Used for every "is this name declared already"
 * question, so lookups are O(1) even for 100,000 mailboxes.
 *
 *   struct mr_strmap m = MR_STRMAP_INIT;
 *   void *old = mr_strmap_put(&m, key, len, value);   // returns the previous value or NULL
 *   void *v = mr_strmap_get(&m, key, len);
 *   mr_strmap_release(&m);
 */
#ifndef MR_UTIL_STRMAP_H
#define MR_UTIL_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct mr_strmap_slot {
	const char *key;
	void *value;
	uint32_t len;  /* keys are shorter than 4 GiB */
	uint32_t hash; /* the low half of mr_hash(), to skip most key comparisons */
};

struct mr_strmap {
	struct mr_strmap_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t count;
};

#define MR_STRMAP_INIT { NULL, 0, 0 }

uint64_t mr_hash(const void *data, size_t len);
void *mr_strmap_get(const struct mr_strmap *m, const char *key, size_t len);
/* The slot a key is in, from 0 to cap - 1, or SIZE_MAX when absent: a number for each
 * key that stays the same until the map is changed (a table indexed by it needs no second
 * map of the same keys). */
size_t mr_strmap_index(const struct mr_strmap *m, const char *key, size_t len);
/* Insert only when absent; returns the existing value (and changes nothing) or NULL. */
void *mr_strmap_put_new(struct mr_strmap *m, const char *key, size_t len, void *value);
/* Insert or replace; returns the previous value or NULL. */
void *mr_strmap_set(struct mr_strmap *m, const char *key, size_t len, void *value);
/* Make room for n keys in all, so that filling the map never rehashes. */
void mr_strmap_reserve(struct mr_strmap *m, size_t n);
void mr_strmap_release(struct mr_strmap *m);

/*
 * Lookups in an order known ahead (a file's lines, a model's mailboxes): a big map's slots
 * are all cache misses, so a loop asks for the slot of the key it will look up some keys
 * later, and looks it up then with the hash it was given.  A struct mr_strmap_ahead keeps
 * those hashes by position, with the key each was for (a position whose key differs is
 * hashed again, so a loop that skips a prefetch stays right):
 *
 *   struct mr_strmap_ahead a = MR_STRMAP_AHEAD_INIT;
 *   for (i = 0; i < n; i++) {
 *           if (i + MR_STRMAP_AHEAD < n)
 *                   mr_strmap_ahead(&a, i + MR_STRMAP_AHEAD, &map, NULL, key[i + MR_STRMAP_AHEAD],
 *                                   strlen(key[i + MR_STRMAP_AHEAD]));
 *           size_t len = strlen(key[i]);
 *           v = mr_strmap_get_hashed(&map, key[i], len, mr_strmap_ahead_hash(&a, i, key[i], len));
 *   }
 *
 * A second map of the same keys (the live and the target mailbox maps) is fetched by the
 * same call.  Results are those of mr_strmap_get() and mr_strmap_index().
 */
#define MR_STRMAP_AHEAD 16 /* a power of two */
/* positions kept: twice the distance, so that a loop may fetch i + MR_STRMAP_AHEAD before
 * it looks up i */
#define MR_STRMAP_RING_ (2 * MR_STRMAP_AHEAD)

struct mr_strmap_ahead {
	const char *key[MR_STRMAP_RING_];
	uint64_t hash[MR_STRMAP_RING_];
};

#define MR_STRMAP_AHEAD_INIT { { NULL }, { 0 } }

/* A macro: GCC finds that a function doing nothing but prefetches has no effect, and drops
 * its calls before it inlines them. */
#define MR_STRMAP_FETCH_(m, h)                                                                 \
	do {                                                                                   \
		if ((m) && (m)->cap) {                                                         \
			const char *s_ = (const char *)&(m)->slots[(size_t)(h) & ((m)->cap - 1)]; \
			__builtin_prefetch(s_);                                                \
			__builtin_prefetch(s_ + sizeof(struct mr_strmap_slot) - 1);            \
		}                                                                              \
	} while (0)

/* Start fetching key's slot in m (and in m2, unless NULL) for the lookup at position i. */
static inline void mr_strmap_ahead(struct mr_strmap_ahead *a, size_t i, const struct mr_strmap *m,
				   const struct mr_strmap *m2, const char *key, size_t len)
{
	uint64_t h = mr_hash(key, len);
	a->key[i & (MR_STRMAP_RING_ - 1)] = key;
	a->hash[i & (MR_STRMAP_RING_ - 1)] = h;
	MR_STRMAP_FETCH_(m, h);
	MR_STRMAP_FETCH_(m2, h);
}

/*
 * A second step, some keys after the first and before the lookup, when the slot has come:
 * the slot where key (prefetched for position i) probably is -- the first of its probe with
 * the same hash half -- with that slot's key fetched for the comparison; SIZE_MAX when none
 * is (or the prefetch was not for key).  A caller fetches what it keeps by slot (a table
 * indexed by mr_strmap_index(), the value) from it.  Only a guess: the lookup decides.
 */
static inline size_t mr_strmap_ahead_peek(const struct mr_strmap_ahead *a, size_t i, const struct mr_strmap *m,
					  const char *key)
{
	if (!m->cap || a->key[i & (MR_STRMAP_RING_ - 1)] != key)
		return SIZE_MAX;
	uint64_t h = a->hash[i & (MR_STRMAP_RING_ - 1)];
	size_t mask = m->cap - 1;
	for (size_t j = (size_t)h & mask;; j = (j + 1) & mask) {
		const struct mr_strmap_slot *s = &m->slots[j];
		if (!s->key)
			return SIZE_MAX;
		if (s->hash == (uint32_t)h) {
			__builtin_prefetch(s->key);
			return j;
		}
	}
}

/* The hash kept for position i when its prefetch was for key, else NULL. */
static inline const uint64_t *mr_strmap_ahead_for(const struct mr_strmap_ahead *a, size_t i, const char *key)
{
	return a->key[i & (MR_STRMAP_RING_ - 1)] == key ? &a->hash[i & (MR_STRMAP_RING_ - 1)] : NULL;
}

/* Keep position i's hash under another key pointer: a caller that hashed a string made
 * from key (model.h: mr_domain_mailbox_ahead) finds it by key then. */
static inline void mr_strmap_ahead_rekey(struct mr_strmap_ahead *a, size_t i, const char *key)
{
	a->key[i & (MR_STRMAP_RING_ - 1)] = key;
}

/* mr_hash(key, len), from the prefetch for position i when it was for this key. */
static inline uint64_t mr_strmap_ahead_hash(const struct mr_strmap_ahead *a, size_t i, const char *key, size_t len)
{
	const uint64_t *h = mr_strmap_ahead_for(a, i, key);
	return h ? *h : mr_hash(key, len);
}

/* mr_strmap_get(), mr_strmap_index() and mr_strmap_put_new() with h == mr_hash(key, len)
 * given. */
void *mr_strmap_get_hashed(const struct mr_strmap *m, const char *key, size_t len, uint64_t h);
size_t mr_strmap_index_hashed(const struct mr_strmap *m, const char *key, size_t len, uint64_t h);
void *mr_strmap_put_new_hashed(struct mr_strmap *m, const char *key, size_t len, void *value, uint64_t h);

#endif
