#include "util/diag.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/strmap.h" /* mr_hash */
#include "util/xalloc.h"

/*
 * The file names of locations: name(id) is names[id >> CHUNK_SHIFT][id & CHUNK_MASK], id 1
 * the first; slots is an open-addressing hash of the ids by name (0: empty), hashes[id] the
 * hash of name(id).  Recording takes the lock.  Reading a name does not: a chunk and then a
 * name are published with release stores before the id is handed out, and read with acquire
 * loads, so a thread that got a location by any means (not only through a lock or a thread
 * start) reads a name that is there; a chunk, once made, never moves or changes.  The table
 * lives as long as the process (reachable: not a leak).
 */
#define CHUNK_SHIFT 12
#define CHUNK_MASK ((1u << CHUNK_SHIFT) - 1)
#define FILE_LOST (MR_LOC_FILES_MAX + 1)

static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;
static const char **names[(FILE_LOST >> CHUNK_SHIFT) + 1];
static uint32_t *hashes[(FILE_LOST >> CHUNK_SHIFT) + 1];
static uint32_t nnames;
static uint32_t *slots;
static size_t nslots; /* a power of two, or 0 */
static struct mr_arena name_store = MR_ARENA_INIT;

static const char *name_of(uint32_t id)
{
	const char **chunk = __atomic_load_n(&names[id >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);
	return __atomic_load_n(&chunk[id & CHUNK_MASK], __ATOMIC_ACQUIRE);
}

/* The slot of name (hash h): its id, or the empty slot where it goes. */
static uint32_t *slot_of(const char *name, uint32_t h)
{
	for (size_t i = h & (nslots - 1);; i = (i + 1) & (nslots - 1)) {
		uint32_t id = slots[i];
		if (!id || (hashes[id >> CHUNK_SHIFT][id & CHUNK_MASK] == h && strcmp(name_of(id), name) == 0))
			return &slots[i];
	}
}

static void grow_slots(void)
{
	uint32_t *old = slots;
	size_t nold = nslots;
	nslots = nslots ? nslots * 2 : 64;
	slots = xcalloc(nslots, sizeof(*slots));
	for (size_t i = 0; i < nold; i++)
		if (old[i]) {
			uint32_t id = old[i];
			*slot_of(name_of(id), hashes[id >> CHUNK_SHIFT][id & CHUNK_MASK]) = id;
		}
	free(old);
}

uint32_t mr_loc_file_id(const char *name)
{
	if (!name)
		return 0;
	size_t len = strlen(name);
	uint32_t h = (uint32_t)mr_hash(name, len);
	pthread_mutex_lock(&names_mu);
	if ((nnames + 1) * 2 > nslots)
		grow_slots();
	uint32_t *slot = slot_of(name, h);
	if (!*slot && nnames < MR_LOC_FILES_MAX) {
		uint32_t id = nnames + 1;
		if (!names[id >> CHUNK_SHIFT]) {
			hashes[id >> CHUNK_SHIFT] = xcalloc(CHUNK_MASK + 1, sizeof(**hashes));
			__atomic_store_n(&names[id >> CHUNK_SHIFT], xcalloc(CHUNK_MASK + 1, sizeof(**names)),
					 __ATOMIC_RELEASE);
		}
		__atomic_store_n(&names[id >> CHUNK_SHIFT][id & CHUNK_MASK], mr_arena_strndup(&name_store, name, len),
				 __ATOMIC_RELEASE);
		hashes[id >> CHUNK_SHIFT][id & CHUNK_MASK] = h;
		nnames = *slot = id;
	}
	uint32_t id = *slot ? *slot : FILE_LOST;
	pthread_mutex_unlock(&names_mu);
	return id;
}

const char *mr_loc_file(struct mr_loc loc)
{
	if (!loc.file)
		return NULL;
	if (loc.file == FILE_LOST)
		return MR_LOC_FILE_LOST;
	return name_of((uint32_t)loc.file);
}

void mr_diag_add(struct mr_diags *d, enum mr_severity sev, struct mr_loc loc, const char *fmt, ...)
{
	struct mr_buf b = MR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	mr_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	d->v = xgrow(d->v, sizeof(*d->v), d->n + 1, &d->cap);
	d->v[d->n] = (struct mr_diag){ loc, sev, mr_buf_detach(&b), d->n };
	d->n++;
	if (sev == MR_SEV_ERROR)
		d->errors++;
}

static int cmp(const void *a, const void *b)
{
	const struct mr_diag *x = a, *y = b;
	if (x->loc.file != y->loc.file) {
		/* by name, as read, not by when the name was first seen */
		const char *fx = mr_loc_file(x->loc), *fy = mr_loc_file(y->loc);
		int c = strcmp(fx ? fx : "", fy ? fy : "");
		if (c)
			return c;
	}
	if (x->loc.line != y->loc.line)
		return x->loc.line < y->loc.line ? -1 : 1;
	if (x->loc.col != y->loc.col)
		return x->loc.col < y->loc.col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void mr_diags_sort(struct mr_diags *d)
{
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), cmp);
}

void mr_loc_format(struct mr_loc loc, struct mr_buf *out)
{
	const char *file = mr_loc_file(loc);
	if (!file) {
		mr_buf_adds(out, "mailrecon");
		return;
	}
	mr_buf_adds(out, file);
	if (loc.line) {
		mr_buf_addf(out, ":%u", (unsigned)loc.line);
		if (loc.col)
			mr_buf_addf(out, ":%u", (unsigned)loc.col);
	}
}

static const char *sevname[] = { "error", "warning", "note" };

void mr_diags_render(const struct mr_diags *d, struct mr_buf *out)
{
	struct mr_buf at = MR_BUF_INIT;
	for (size_t i = 0; i < d->n; i++) {
		/* names and values in messages come from files: never raw bytes to a terminal */
		mr_buf_reset(&at);
		mr_loc_format(d->v[i].loc, &at);
		mr_buf_add_printable(out, at.ptr, at.len, 0);
		mr_buf_addf(out, ": %s: ", sevname[d->v[i].sev]);
		mr_buf_adds_printable(out, d->v[i].msg);
		mr_buf_addc(out, '\n');
	}
	mr_buf_release(&at);
}

void mr_diags_print(struct mr_diags *d, FILE *f)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_diags_sort(d);
	mr_diags_render(d, &b);
	if (b.len)
		fwrite(b.ptr, 1, b.len, f);
	mr_buf_release(&b);
}

void mr_diags_release(struct mr_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].msg);
	free(d->v);
	d->v = NULL;
	d->n = d->cap = d->errors = 0;
}
