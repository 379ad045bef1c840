#include "load/ytree.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/buf.h"
#include "util/strmap.h"
#include "util/xalloc.h"

struct frame {
	struct mr_ynode *node;
	size_t first; /* index of its first child in the child stack */
	const char *anchor;
	bool streamed; /* its entries go to the stream as they complete */
};

struct builder {
	struct mr_ydoc *doc;
	struct mr_diags *diags;
	struct mr_ynode **kids; /* children of open collections, in order */
	size_t nkids, kids_cap;
	struct frame *frames;
	size_t nframes, frames_cap;
	struct mr_strmap anchors;
	uint64_t expanded;
	struct mr_ynode *root;
	const struct mr_ystream *stream;
	uint64_t anchors_set;          /* anchors registered so far */
	struct mr_arena_mark mark;     /* where the entry being read began ... */
	uint64_t mark_anchors;         /* ... and anchors_set then */
	struct mr_ynode *taken;        /* what a streamed entry's value becomes */
	const struct mr_yinput *in;    /* where the bytes come from (NULL: a buffer) */
	bool in_failed;                /* in->read failed: the reader reports it */
};

static struct mr_ynode *new_node(struct builder *b, enum mr_ykind kind, yaml_mark_t mark)
{
	struct mr_ynode *n = mr_arena_zalloc(&b->doc->arena, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->line = (uint32_t)mark.line + 1;
	n->col = (uint32_t)mark.column + 1;
	n->size = 1;
	return n;
}

static const char *keep_anchor(struct builder *b, const yaml_char_t *anchor)
{
	return anchor ? mr_arena_strdup(&b->doc->arena, (const char *)anchor) : NULL;
}

static void add_size(struct mr_ynode *parent, uint32_t s)
{
	uint64_t t = (uint64_t)parent->size + s;
	parent->size = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/*
 * A streamed mapping's entry is complete: hand it over, leave MR_Y_TAKEN in its place, and
 * take back its nodes unless an anchor was defined among them (a later alias may name it).
 */
static void stream_entry(struct builder *b)
{
	struct mr_ynode *key = b->kids[b->nkids - 2], *val = b->kids[b->nkids - 1];
	b->stream->entry(b->stream->ctx, key, val);
	b->kids[b->nkids - 1] = b->taken;
	if (b->anchors_set == b->mark_anchors)
		mr_arena_rewind(&b->doc->arena, b->mark);
}

/* Attach a finished node to the open collection, or make it the root. */
static void attach(struct builder *b, struct mr_ynode *n)
{
	if (b->nframes == 0) {
		b->root = n;
		return;
	}
	struct frame *f = &b->frames[b->nframes - 1];
	add_size(f->node, n->size);
	b->kids = xgrow(b->kids, sizeof(*b->kids), b->nkids + 1, &b->kids_cap);
	b->kids[b->nkids++] = n;
	if (!f->streamed)
		return;
	if ((b->nkids - f->first) % 2) { /* a key: its value starts here */
		b->mark = mr_arena_mark(&b->doc->arena);
		b->mark_anchors = b->anchors_set;
	} else {
		stream_entry(b);
	}
}

static void register_anchor(struct builder *b, const char *anchor, struct mr_ynode *n)
{
	/* a later anchor of the same name replaces the earlier one (YAML 1.1, 3.2.2.2) */
	if (anchor) {
		mr_strmap_set(&b->anchors, anchor, strlen(anchor), n);
		b->anchors_set++;
	}
}

static void open_collection(struct builder *b, enum mr_ykind kind, yaml_mark_t mark, const yaml_char_t *anchor)
{
	struct mr_ynode *n = new_node(b, kind, mark);
	/* a mapping that is the value of a key of the root mapping: streamed if the stream wants it */
	bool streamed = b->stream && kind == MR_Y_MAP && b->nframes == 1 &&
			b->frames[0].node->kind == MR_Y_MAP && (b->nkids - b->frames[0].first) % 2 == 1 &&
			b->stream->want(b->stream->ctx, (const struct mr_ynode *const *)b->kids + b->frames[0].first,
					(b->nkids - b->frames[0].first) / 2, b->kids[b->nkids - 1]);
	b->frames = xgrow(b->frames, sizeof(*b->frames), b->nframes + 1, &b->frames_cap);
	b->frames[b->nframes++] = (struct frame){ n, b->nkids, keep_anchor(b, anchor), streamed };
}

static void close_collection(struct builder *b)
{
	struct frame f = b->frames[--b->nframes];
	size_t n = b->nkids - f.first;
	f.node->u.items = mr_arena_alloc(&b->doc->arena, (n ? n : 1) * sizeof(struct mr_ynode *));
	if (n)
		memcpy(f.node->u.items, b->kids + f.first, n * sizeof(struct mr_ynode *));
	f.node->len = f.node->kind == MR_Y_MAP ? n / 2 : n;
	b->nkids = f.first;
	register_anchor(b, f.anchor, f.node);
	attach(b, f.node);
}

/*
 * libyaml's read handler for an input.  Like the string input's, it fills buf whole but at
 * the end: libyaml decodes (and checks as UTF-8) all it is given at once, so how the bytes
 * were cut would decide which of two errors it meets first.  A failure ends the parse with
 * a reader error, which is the reader's to report.
 */
static int read_input(void *ctx, unsigned char *buf, size_t n, size_t *got)
{
	struct builder *b = ctx;
	size_t have = 0;
	while (have < n) {
		ptrdiff_t r = b->in->read(b->in->ctx, buf + have, n - have);
		if (r < 0) {
			b->in_failed = true;
			*got = 0;
			return 0;
		}
		if (r == 0)
			break;
		have += (size_t)r;
	}
	*got = have;
	return 1;
}

/*
 * Up to n bytes of the document at off, after a syntax error: from the buffer (data, len)
 * or read again from the input into buf.  *at gets where they are; returns how many.
 */
static size_t bytes_at(const struct builder *b, const char *data, size_t len, size_t off, char *buf, size_t n,
		       const char **at)
{
	if (!b->in) {
		if (off >= len)
			return 0;
		*at = data + off;
		return len - off < n ? len - off : n;
	}
	ptrdiff_t r = b->in->reread ? b->in->reread(b->in->ctx, buf, n, off) : -1;
	*at = buf;
	return r > 0 ? (size_t)r : 0;
}

/* Line and column (1-based, in bytes) of a byte offset, for reader errors. */
static void offset_to_loc(const struct builder *b, const char *data, size_t len, size_t off, uint32_t *line,
			  uint32_t *col)
{
	uint32_t l = 1, c = 1;
	char chunk[16384];
	for (size_t i = 0; i < off;) {
		const char *s;
		size_t n = bytes_at(b, data, len, i, chunk, off - i < sizeof(chunk) ? off - i : sizeof(chunk), &s);
		if (n == 0)
			break;
		for (size_t k = 0; k < n; k++) {
			if (s[k] == '\n') {
				l++;
				c = 1;
			} else {
				c++;
			}
		}
		i += n;
	}
	*line = l;
	*col = c;
}

static void parser_error(struct builder *b, yaml_parser_t *p, const char *data, size_t len)
{
	struct mr_loc loc = mr_loc_make(b->doc->file_id, (uint32_t)p->problem_mark.line + 1,
					(uint32_t)p->problem_mark.column + 1);
	const char *problem = p->problem ? p->problem : "malformed document";
	if (p->error == YAML_READER_ERROR) {
		uint32_t line, col;
		offset_to_loc(b, data, len, p->problem_offset, &line, &col);
		loc = mr_loc_make(b->doc->file_id, line, col);
		if (strstr(problem, "UTF-8") || strstr(problem, "utf-8"))
			mr_diag_error(b->diags, loc, "invalid YAML: %s (the file must be UTF-8 text)", problem);
		else
			mr_diag_error(b->diags, loc, "invalid YAML: %s", problem);
		return;
	}
	if (p->error == YAML_MEMORY_ERROR) {
		mr_diag_error(b->diags, loc, "invalid YAML: out of memory");
		return;
	}
	struct mr_buf msg = MR_BUF_INIT;
	mr_buf_addf(&msg, "invalid YAML: %s", problem);
	if (p->context)
		mr_buf_addf(&msg, " (%s at %zu:%zu)", p->context, p->context_mark.line + 1,
			    p->context_mark.column + 1);
	size_t off = p->problem_mark.index;
	char c;
	const char *at;
	if (bytes_at(b, data, len, off, &c, 1, &at) == 1 && *at == '\t')
		mr_buf_adds(&msg, "; YAML indents with spaces, not tabs");
	mr_diag_error(b->diags, loc, "%s", msg.ptr);
	mr_buf_release(&msg);
}

int mr_ydoc_parse(struct mr_ydoc *doc, const char *file, const char *data, size_t len,
		  struct mr_diags *diags)
{
	return mr_ydoc_parse_stream(doc, file, data, len, NULL, diags);
}

/* The bytes are data, len, or read from in (not NULL). */
static int parse_from(struct mr_ydoc *doc, const char *file, const char *data, size_t len,
		      const struct mr_yinput *in, const struct mr_ystream *stream, struct mr_diags *diags)
{
	memset(doc, 0, sizeof(*doc));
	doc->file = file;
	doc->file_id = mr_loc_file_id(file);
	struct builder b = { .doc = doc, .diags = diags, .stream = stream, .in = in };
	if (stream) {
		b.taken = mr_arena_zalloc(&doc->arena, sizeof(*b.taken));
		b.taken->kind = MR_Y_TAKEN;
		b.taken->size = 1;
	}
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = -1;
	int docs = 0;

	yaml_parser_initialize(&p);
	if (in)
		yaml_parser_set_input(&p, read_input, &b);
	else
		yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			if (!b.in_failed) /* a read error: the reader's to report */
				parser_error(&b, &p, data, len);
			goto out;
		}
		yaml_event_type_t t = ev.type;
		struct mr_loc loc = mr_loc_make(doc->file_id, (uint32_t)ev.start_mark.line + 1,
						(uint32_t)ev.start_mark.column + 1);
		switch (t) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				mr_diag_error(diags, loc, "a second YAML document in one file: put it in a file of its own");
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_SCALAR_EVENT: {
			struct mr_ynode *n = new_node(&b, MR_Y_SCALAR, ev.start_mark);
			n->u.str = mr_arena_strndup(&doc->arena, (const char *)ev.data.scalar.value,
						    ev.data.scalar.length);
			n->len = ev.data.scalar.length;
			n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
			register_anchor(&b, keep_anchor(&b, ev.data.scalar.anchor), n);
			attach(&b, n);
			break;
		}
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (b.nframes >= MR_YAML_MAX_DEPTH) {
				mr_diag_error(diags, loc, "YAML nested deeper than %d levels", MR_YAML_MAX_DEPTH);
				yaml_event_delete(&ev);
				goto out;
			}
			open_collection(&b, t == YAML_MAPPING_START_EVENT ? MR_Y_MAP : MR_Y_SEQ, ev.start_mark,
					t == YAML_MAPPING_START_EVENT ? ev.data.mapping_start.anchor
								      : ev.data.sequence_start.anchor);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			close_collection(&b);
			break;
		case YAML_ALIAS_EVENT: {
			const char *name = (const char *)ev.data.alias.anchor;
			struct mr_ynode *target = mr_strmap_get(&b.anchors, name, strlen(name));
			if (!target) {
				mr_diag_error(diags, loc, "alias '*%s' names no complete anchor before it", name);
				yaml_event_delete(&ev);
				goto out;
			}
			b.expanded += target->size;
			if (b.expanded > MR_YAML_ALIAS_NODES) {
				mr_diag_error(diags, loc,
					      "YAML aliases expand to more than %d nodes; refusing the document",
					      MR_YAML_ALIAS_NODES);
				yaml_event_delete(&ev);
				goto out;
			}
			attach(&b, target);
			break;
		}
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			doc->root = b.root;
			rc = 0;
			goto out;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
out:
	yaml_parser_delete(&p);
	free(b.kids);
	free(b.frames);
	mr_strmap_release(&b.anchors);
	return rc;
}

int mr_ydoc_parse_stream(struct mr_ydoc *doc, const char *file, const char *data, size_t len,
			 const struct mr_ystream *stream, struct mr_diags *diags)
{
	return parse_from(doc, file, data, len, NULL, stream, diags);
}

int mr_ydoc_parse_input(struct mr_ydoc *doc, const char *file, const struct mr_yinput *in,
			const struct mr_ystream *stream, struct mr_diags *diags)
{
	return parse_from(doc, file, NULL, 0, in, stream, diags);
}

void mr_ydoc_release(struct mr_ydoc *doc)
{
	mr_arena_release(&doc->arena);
	doc->root = NULL;
}

bool mr_ynode_is_null(const struct mr_ynode *n)
{
	if (n->kind != MR_Y_SCALAR || n->quoted)
		return false;
	const char *s = n->u.str;
	return n->len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	       strcmp(s, "NULL") == 0;
}

const char *mr_ykind_name(const struct mr_ynode *n)
{
	if (n->kind == MR_Y_MAP)
		return "a mapping";
	if (n->kind == MR_Y_SEQ)
		return "a list";
	return mr_ynode_is_null(n) ? "nothing (null)" : "a scalar";
}
