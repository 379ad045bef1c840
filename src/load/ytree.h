/*
 * ytree: a YAML document as a tree of nodes that remember file:line:col.
 *
 * libyaml's events are turned into mappings, sequences and scalars allocated in one
 * arena.  Aliases share the anchored node (the tree is a DAG, never a cycle: an anchor is
 * usable only after its node is complete), and the nodes that aliases expand to are
 * counted against MR_YAML_ALIAS_NODES, so "billion laughs" is an error, not an OOM.
 * Only one document per file; nesting deeper than MR_YAML_MAX_DEPTH is refused.
 *
 *   struct mr_ydoc doc;
 *   if (mr_ydoc_parse(&doc, "a.yaml", data, len, &diags) == 0) { ... doc.root ... }
 *   mr_ydoc_release(&doc);
 */
#ifndef MR_LOAD_YTREE_H
#define MR_LOAD_YTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/diag.h"

#define MR_YAML_ALIAS_NODES 100000
#define MR_YAML_MAX_DEPTH 64

/* MR_Y_TAKEN: an entry's value already handed to a stream (mr_ydoc_parse_stream) */
enum mr_ykind { MR_Y_SCALAR, MR_Y_MAP, MR_Y_SEQ, MR_Y_TAKEN };

struct mr_ynode {
	uint8_t kind;
	uint8_t quoted; /* scalar written in quotes or as a block scalar */
	uint32_t line, col;
	uint32_t size; /* nodes in this subtree, aliases expanded (saturating) */
	size_t len;    /* scalar: bytes; map: pairs; seq: items */
	union {
		const char *str;         /* scalar, NUL-terminated (may hold NULs inside) */
		struct mr_ynode **items; /* map: key0, value0, key1, ...; seq: items */
	} u;
};

struct mr_ydoc {
	struct mr_arena arena;
	const char *file;
	uint32_t file_id; /* mr_loc_file_id(file), recorded once for all the nodes */
	struct mr_ynode *root; /* NULL: the stream holds no document */
};

/* 0 on success; -1 after adding an error (with its place) to diags. */
int mr_ydoc_parse(struct mr_ydoc *doc, const char *file, const char *data, size_t len,
		  struct mr_diags *diags);
void mr_ydoc_release(struct mr_ydoc *doc);

/*
 * Streaming, so that a big file costs the tree of one entry, not of the whole file: when a
 * mapping opens as the value of a key of the root mapping, want() is asked (with the root's
 * pairs so far and that key) whether to stream it.  If so, each of its entries is handed to
 * entry() as soon as its value is complete (the whole file may still turn out to be invalid
 * YAML later), and in the tree the value is replaced by a node of kind MR_Y_TAKEN.  The
 * entry's nodes are valid only during the call: they are freed after it, unless an anchor
 * was defined among them.
 */
struct mr_ystream {
	bool (*want)(void *ctx, const struct mr_ynode *const *root_pairs, size_t npairs,
		     const struct mr_ynode *key);
	void (*entry)(void *ctx, const struct mr_ynode *key, const struct mr_ynode *value);
	void *ctx;
};

int mr_ydoc_parse_stream(struct mr_ydoc *doc, const char *file, const char *data, size_t len,
			 const struct mr_ystream *stream, struct mr_diags *diags);

/*
 * The same with the bytes read on demand instead of held whole (a file parsed from its
 * descriptor: load/desired.c).  read() puts up to n bytes into buf and returns how many (any
 * number: it is called again until n are there, as a buffer would give them), 0 at the end,
 * or -1 when reading failed: the parse then fails (-1) without a message of its own, the
 * reader's being the one to report.  reread() reads up to n bytes at offset off again,
 * only after a syntax error, for its place (line and column of a bad byte, a tab): how many,
 * or -1.  The tree, the stream and the messages are those of the same bytes in a buffer.
 */
struct mr_yinput {
	ptrdiff_t (*read)(void *ctx, void *buf, size_t n);
	ptrdiff_t (*reread)(void *ctx, void *buf, size_t n, uint64_t off);
	void *ctx;
};

int mr_ydoc_parse_input(struct mr_ydoc *doc, const char *file, const struct mr_yinput *in,
			const struct mr_ystream *stream, struct mr_diags *diags);

static inline struct mr_loc mr_ynode_loc(const struct mr_ydoc *doc, const struct mr_ynode *n)
{
	return mr_loc_make(doc->file_id, n->line, n->col);
}

/* A plain scalar spelling null: empty, ~, null, Null, NULL. */
bool mr_ynode_is_null(const struct mr_ynode *n);
const char *mr_ykind_name(const struct mr_ynode *n);

#endif
