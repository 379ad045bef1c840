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

#endif
