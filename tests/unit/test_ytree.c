#include <string.h>

#include "load/ytree.h"
#include "tests.h"
#include "util/buf.h"

static int parse(struct mr_ydoc *doc, struct mr_diags *d, const char *text)
{
	return mr_ydoc_parse(doc, "t.yaml", text, strlen(text), d);
}

START_TEST(nodes_remember_line_and_column)
{
	struct mr_ydoc doc;
	struct mr_diags d = MR_DIAGS_INIT;
	ck_assert_int_eq(parse(&doc, &d, "version: 1\nusers:\n  alice:\n    role: \"user\"\n  bob: [a, b]\n"), 0);
	const struct mr_ynode *root = doc.root;
	ck_assert_int_eq(root->kind, MR_Y_MAP);
	ck_assert_uint_eq(root->len, 2);
	const struct mr_ynode *users = root->u.items[3];
	ck_assert_int_eq(users->kind, MR_Y_MAP);
	const struct mr_ynode *alice = users->u.items[1];
	const struct mr_ynode *role = alice->u.items[1];
	ck_assert_str_eq(role->u.str, "user");
	ck_assert_uint_eq(role->line, 4);
	ck_assert_uint_eq(role->col, 11);
	ck_assert(role->quoted);
	const struct mr_ynode *bob = users->u.items[3];
	ck_assert_int_eq(bob->kind, MR_Y_SEQ);
	ck_assert_uint_eq(bob->len, 2);
	ck_assert_uint_eq(bob->u.items[1]->col, 12);
	ck_assert_uint_eq(d.n, 0);
	mr_ydoc_release(&doc);
	mr_diags_release(&d);
}
END_TEST

START_TEST(aliases_share_nodes_and_are_capped)
{
	struct mr_ydoc doc;
	struct mr_diags d = MR_DIAGS_INIT;
	ck_assert_int_eq(parse(&doc, &d, "a: &x {k: v}\nb: *x\n"), 0);
	ck_assert_ptr_eq(doc.root->u.items[1], doc.root->u.items[3]);
	mr_ydoc_release(&doc);

	/* ten levels of ten: 10^10 nodes if expanded */
	struct mr_buf y = MR_BUF_INIT;
	mr_buf_adds(&y, "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 10; i++) {
		mr_buf_addf(&y, "l%d: &l%d [", i, i);
		for (int j = 0; j < 10; j++)
			mr_buf_addf(&y, "%s*l%d", j ? ", " : "", i - 1);
		mr_buf_adds(&y, "]\n");
	}
	ck_assert_int_eq(parse(&doc, &d, y.ptr), -1);
	ck_assert_uint_eq(d.errors, 1);
	ck_assert_ptr_nonnull(strstr(d.v[0].msg, "aliases expand to more than 100000 nodes"));
	mr_ydoc_release(&doc);
	mr_buf_release(&y);
	mr_diags_release(&d);
}
END_TEST

START_TEST(recursive_alias_is_refused)
{
	struct mr_ydoc doc;
	struct mr_diags d = MR_DIAGS_INIT;
	ck_assert_int_eq(parse(&doc, &d, "a: &x [1, *x]\n"), -1);
	ck_assert_str_eq(d.v[0].msg, "alias '*x' names no complete anchor before it");
	mr_ydoc_release(&doc);
	mr_diags_release(&d);
}
END_TEST

START_TEST(depth_is_capped)
{
	struct mr_ydoc doc;
	struct mr_diags d = MR_DIAGS_INIT;
	struct mr_buf y = MR_BUF_INIT;
	for (int i = 0; i < 1000; i++)
		mr_buf_addc(&y, '[');
	for (int i = 0; i < 1000; i++)
		mr_buf_addc(&y, ']');
	ck_assert_int_eq(parse(&doc, &d, y.ptr), -1);
	ck_assert_str_eq(d.v[0].msg, "YAML nested deeper than 64 levels");
	ck_assert_uint_eq(d.v[0].loc.col, 65);
	mr_ydoc_release(&doc);
	mr_buf_release(&y);
	mr_diags_release(&d);
}
END_TEST

START_TEST(nulls_and_empty_streams)
{
	struct mr_ydoc doc;
	struct mr_diags d = MR_DIAGS_INIT;
	ck_assert_int_eq(parse(&doc, &d, ""), 0);
	ck_assert_ptr_null(doc.root);
	mr_ydoc_release(&doc);
	ck_assert_int_eq(parse(&doc, &d, "a:\nb: ~\nc: null\nd: 'null'\n"), 0);
	ck_assert(mr_ynode_is_null(doc.root->u.items[1]));
	ck_assert(mr_ynode_is_null(doc.root->u.items[3]));
	ck_assert(mr_ynode_is_null(doc.root->u.items[5]));
	ck_assert(!mr_ynode_is_null(doc.root->u.items[7]));
	mr_ydoc_release(&doc);
	mr_diags_release(&d);
}
END_TEST

START_TEST(garbage_gets_a_position)
{
	struct mr_ydoc doc;
	struct mr_diags d = MR_DIAGS_INIT;
	const char bin[] = "version: 1\nx: \"ok\"\n\x00\x01\x02";
	ck_assert_int_eq(mr_ydoc_parse(&doc, "g.yaml", bin, sizeof(bin) - 1, &d), -1);
	ck_assert_uint_eq(d.v[0].loc.line, 3);
	ck_assert_ptr_nonnull(strstr(d.v[0].msg, "invalid YAML"));
	mr_ydoc_release(&doc);
	mr_diags_release(&d);
}
END_TEST

/* Streaming: the entries of the wanted mapping, each as soon as it is complete, in order. */
struct seen {
	int n;
	char keys[8][16];
	char firsts[8][16]; /* the value's first key, or its scalar */
	uint32_t lines[8];
	int wanted;
};

static bool want_b(void *ctx, const struct mr_ynode *const *pairs, size_t npairs, const struct mr_ynode *key)
{
	struct seen *s = ctx;
	s->wanted++;
	(void)pairs;
	(void)npairs;
	return strcmp(key->u.str, "b") == 0;
}

static void take(void *ctx, const struct mr_ynode *key, const struct mr_ynode *value)
{
	struct seen *s = ctx;
	ck_assert_int_lt(s->n, 8);
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key->u.str);
	const struct mr_ynode *v = value->kind == MR_Y_MAP ? value->u.items[1] : value;
	snprintf(s->firsts[s->n], sizeof(s->firsts[0]), "%s", v->kind == MR_Y_SCALAR ? v->u.str : "?");
	s->lines[s->n] = value->line;
	s->n++;
}

START_TEST(streamed_entries_are_handed_over_and_freed)
{
	struct mr_ydoc doc;
	struct mr_diags d = MR_DIAGS_INIT;
	struct seen seen = { 0 };
	struct mr_ystream st = { want_b, take, &seen };
	const char *y = "a: {x: 1}\n"
			"b:\n"
			"  one: {k: v1}\n"
			"  two: &t {k: v2}\n" /* an anchor: kept, a later alias names it */
			"  three: plain\n"
			"  four: *t\n"
			"c: *t\n";
	ck_assert_int_eq(mr_ydoc_parse_stream(&doc, "s.yaml", y, strlen(y), &st, &d), 0);
	ck_assert_int_eq(seen.wanted, 2); /* asked for a and b; c is an alias, no mapping starts there */
	ck_assert_int_eq(seen.n, 4);
	ck_assert_str_eq(seen.keys[0], "one");
	ck_assert_str_eq(seen.firsts[0], "v1");
	ck_assert_str_eq(seen.keys[1], "two");
	ck_assert_str_eq(seen.keys[2], "three");
	ck_assert_str_eq(seen.firsts[2], "plain");
	ck_assert_str_eq(seen.keys[3], "four");
	ck_assert_str_eq(seen.firsts[3], "v2"); /* the alias, after its anchor's entry was handed over */
	ck_assert_uint_eq(seen.lines[1], 4);
	const struct mr_ynode *b = doc.root->u.items[3];
	ck_assert_uint_eq(b->len, 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(b->u.items[2 * i + 1]->kind, MR_Y_TAKEN);
	ck_assert_str_eq(b->u.items[6]->u.str, "four");
	/* a mapping not streamed, and the anchored node, are whole */
	ck_assert_int_eq(doc.root->u.items[1]->kind, MR_Y_MAP);
	const struct mr_ynode *c = doc.root->u.items[5];
	ck_assert_int_eq(c->kind, MR_Y_MAP);
	ck_assert_str_eq(c->u.items[1]->u.str, "v2");
	mr_ydoc_release(&doc);
	mr_diags_release(&d);
}
END_TEST

/* A streamed mapping costs the tree of one entry at a time: per entry only its key stays. */
static void count_entry(void *ctx, const struct mr_ynode *key, const struct mr_ynode *value)
{
	(void)key;
	ck_assert_int_eq(value->kind, MR_Y_MAP);
	ck_assert_uint_eq(value->len, 2);
	(*(int *)ctx)++;
}

static bool want_any(void *ctx, const struct mr_ynode *const *pairs, size_t npairs, const struct mr_ynode *key)
{
	(void)ctx, (void)pairs, (void)npairs, (void)key;
	return true;
}

START_TEST(streamed_memory_is_one_entry)
{
	size_t live[2][2]; /* [streamed][20 or 2,000 entries]: arena bytes still held after the parse */
	for (int stream = 0; stream < 2; stream++)
		for (int k = 0; k < 2; k++) {
			int n = k ? 2000 : 20, got = 0;
			struct mr_buf y = MR_BUF_INIT;
			mr_buf_adds(&y, "b:\n");
			for (int i = 0; i < n; i++)
				mr_buf_addf(&y, "  e%d: {k: [v%d, w, x, y, z], l: long-value-%d}\n", i, i, i);
			struct mr_ydoc doc;
			struct mr_diags d = MR_DIAGS_INIT;
			struct mr_ystream st = { want_any, count_entry, &got };
			ck_assert_int_eq(mr_ydoc_parse_stream(&doc, "m.yaml", y.ptr, y.len, stream ? &st : NULL, &d), 0);
			ck_assert_int_eq(got, stream ? n : 0);
			live[stream][k] = doc.arena.total;
			mr_ydoc_release(&doc);
			mr_buf_release(&y);
			mr_diags_release(&d);
		}
	size_t tree_per_entry = (live[0][1] - live[0][0]) / 1980, stream_per_entry = (live[1][1] - live[1][0]) / 1980;
	ck_assert_uint_gt(tree_per_entry, 300);   /* ten nodes, five strings, two item arrays */
	ck_assert_uint_lt(stream_per_entry, 80);  /* the key's node and string, two item slots */
}
END_TEST

/* ---- the bytes read on demand (mr_ydoc_parse_input) ---- */

/* A tree as text: kinds, places, quoting and scalars, to compare two parses. */
static void dump(const struct mr_ynode *n, int depth, struct mr_buf *out)
{
	if (!n) {
		mr_buf_adds(out, "(none)\n");
		return;
	}
	mr_buf_addf(out, "%*s%d %u:%u q%d size %u len %zu", depth * 2, "", n->kind, n->line, n->col, n->quoted, n->size,
		    n->len);
	if (n->kind == MR_Y_SCALAR) {
		mr_buf_adds(out, " '");
		mr_buf_add(out, n->u.str, n->len);
		mr_buf_adds(out, "'\n");
	} else if (n->kind == MR_Y_MAP || n->kind == MR_Y_SEQ) {
		mr_buf_adds(out, "\n");
		if (depth < 16) /* an alias shares its node: a DAG, printed as a tree, but never deep here */
			for (size_t i = 0; i < (n->kind == MR_Y_MAP ? 2 * n->len : n->len); i++)
				dump(n->u.items[i], depth + 1, out);
	} else {
		mr_buf_adds(out, "\n");
	}
}

/* A document's bytes handed over at most chunk at a time; fail_at: read() fails there (or -1). */
struct mem_in {
	const char *data;
	size_t len, at, chunk;
	long fail_at;
	int reads, rereads;
};

static ptrdiff_t mem_read(void *ctx, void *buf, size_t n)
{
	struct mem_in *m = ctx;
	m->reads++;
	if (m->fail_at >= 0 && m->at >= (size_t)m->fail_at)
		return -1;
	size_t k = m->len - m->at;
	if (k > n)
		k = n;
	if (k > m->chunk)
		k = m->chunk;
	memcpy(buf, m->data + m->at, k);
	m->at += k;
	return (ptrdiff_t)k;
}

static ptrdiff_t mem_reread(void *ctx, void *buf, size_t n, uint64_t off)
{
	struct mem_in *m = ctx;
	m->rereads++;
	if (off >= m->len)
		return 0;
	if (n > m->len - off)
		n = m->len - (size_t)off;
	memcpy(buf, m->data + off, n);
	return (ptrdiff_t)n;
}

/* Every streamed entry's key and value, as text. */
static void record_entry(void *ctx, const struct mr_ynode *key, const struct mr_ynode *value)
{
	struct mr_buf *b = ctx;
	mr_buf_adds(b, "entry\n");
	dump(key, 1, b);
	dump(value, 1, b);
}

static bool want_maps(void *ctx, const struct mr_ynode *const *pairs, size_t npairs, const struct mr_ynode *key)
{
	(void)ctx, (void)pairs, (void)npairs;
	return key->kind == MR_Y_SCALAR && strcmp(key->u.str, "keep") != 0;
}

/* Parse data from the buffer (chunk 0) or through an input giving chunk bytes at a time. */
static int parse_as(const char *data, size_t len, size_t chunk, struct mr_buf *out, int *rereads)
{
	struct mr_ydoc doc;
	struct mr_diags d = MR_DIAGS_INIT;
	struct mr_buf entries = MR_BUF_INIT;
	struct mr_ystream st = { want_maps, record_entry, &entries };
	struct mem_in m = { data, len, 0, chunk, -1, 0, 0 };
	struct mr_yinput in = { mem_read, mem_reread, &m };
	int rc = chunk ? mr_ydoc_parse_input(&doc, "c.yaml", &in, &st, &d)
		       : mr_ydoc_parse_stream(&doc, "c.yaml", data, len, &st, &d);
	mr_buf_addf(out, "rc %d\n", rc);
	mr_diags_render(&d, out);
	if (entries.len)
		mr_buf_add(out, entries.ptr, entries.len);
	if (rc == 0)
		dump(doc.root, 0, out);
	if (chunk)
		ck_assert_int_eq(m.at, rc == 0 ? len : m.at); /* a document that parsed was read to its end */
	if (rereads)
		*rereads = m.rereads;
	mr_ydoc_release(&doc);
	mr_diags_release(&d);
	mr_buf_release(&entries);
	return rc;
}

START_TEST(input_in_tiny_chunks_parses_as_the_buffer)
{
	struct mr_buf big = MR_BUF_INIT, late = MR_BUF_INIT;
	/* a syntax error on line 2, a bad byte 10 KB on: the buffer's reader decodes its first
	 * 16 KiB at once and meets the byte first; an input must not see the line first */
	mr_buf_adds(&big, "version: 1\nx: y: z\n");
	while (big.len < 10000)
		mr_buf_adds(&big, "# a comment line that pads the file out\n");
	mr_buf_adds(&big, "bad: \"\xff\"\n");
	/* a bad byte far on, after streamed entries (line and column counted over 40 KB again) */
	mr_buf_adds(&late, "version: 1\ndomains:\n");
	for (int i = 0; late.len < 40000; i++)
		mr_buf_addf(&late, "  d%d.example: {owner: u%d, mailboxes: {info: {password: {hash: x}}}}\n", i, i);
	mr_buf_adds(&late, "  last.example: {owner: \"\xc3\x28\"}\n");
	static const char bom16[] = "\xff\xfe" "a\0:\0 \0" "1\0\n\0";
	const struct {
		const char *data;
		size_t len;
		bool error;
	} docs[] = {
		{ "version: 1\nkeep: {a: 1}\ndomains:\n  one: {k: &v [1, 2]}\n  two: *v\n  'three': |\n    text\n", 0, false },
		{ "a: 1\n\tb: 2\n", 0, true },                        /* a tab: the hint */
		{ "a:\n  b: 1\n \tc: 2\n", 0, true },
		{ "version: 1\nx: ok\ny: \"\xff\"\n", 0, true },   /* a bad byte on line 3 */
		{ "a: [1, 2\nb: 3\n", 0, true },                      /* an error with its context */
		{ "a: 1\n---\nb: 2\n", 0, true },                    /* a second document */
		{ "a: \xe2\x82", 0, true },                           /* cut in a character at the end */
		{ "a: *nope\n", 0, true },
		{ "\xef\xbb\xbf" "a: \xc3\xa9t\xc3\xa9\n", 0, false }, /* a BOM, UTF-8 */
		{ bom16, sizeof(bom16) - 1, false },                  /* UTF-16 */
		{ "", 0, false },
		{ big.ptr, big.len, true },
		{ late.ptr, late.len, true },
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		size_t len = docs[i].len ? docs[i].len : strlen(docs[i].data);
		struct mr_buf want = MR_BUF_INIT;
		int rc = parse_as(docs[i].data, len, 0, &want, NULL);
		ck_assert_msg((rc < 0) == docs[i].error, "doc %zu: rc %d\n%s", i, rc, want.ptr);
		static const size_t chunks[] = { 1, 2, 7, 4096, 1 << 20 };
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			struct mr_buf got = MR_BUF_INIT;
			int rereads;
			parse_as(docs[i].data, len, chunks[c], &got, &rereads);
			ck_assert_msg(strcmp(want.ptr, got.ptr) == 0, "doc %zu in chunks of %zu:\n--- buffer\n%.1500s--- input\n%.1500s", i,
				      chunks[c], want.ptr, got.ptr);
			if (!docs[i].error)
				ck_assert_int_eq(rereads, 0); /* read again only for an error's place */
			mr_buf_release(&got);
		}
		mr_buf_release(&want);
	}
	/* the places themselves */
	struct mr_buf out = MR_BUF_INIT;
	parse_as(late.ptr, late.len, 1, &out, NULL);
	char want_place[128];
	int lines = 0; /* the bad byte is on the last line: the bad second byte of a pair, 27th */
	for (size_t i = 0; i < late.len; i++)
		lines += late.ptr[i] == '\n';
	snprintf(want_place, sizeof(want_place), "c.yaml:%d:27: error: invalid YAML: invalid trailing UTF-8 octet", lines);
	ck_assert_msg(strstr(out.ptr, want_place), "want %s in %.300s", want_place, out.ptr);
	mr_buf_reset(&out);
	parse_as("a: 1\n\tb: 2\n", 11, 1, &out, NULL);
	ck_assert_msg(strstr(out.ptr, "c.yaml:2:1: error: invalid YAML: found a tab character that violates indentation "
				      "(while scanning a plain scalar at 1:4); YAML indents with spaces, not tabs"),
		      "%.300s", out.ptr);
	mr_buf_release(&out);
	mr_buf_release(&big);
	mr_buf_release(&late);
}
END_TEST

START_TEST(input_failure_is_left_to_the_reader)
{
	const char *y = "version: 1\ndomains:\n  a.example: {owner: u}\n  b.example: {owner: v}\n";
	for (long fail_at = 0; fail_at <= (long)strlen(y); fail_at += 7) {
		struct mr_ydoc doc;
		struct mr_diags d = MR_DIAGS_INIT;
		struct mem_in m = { y, strlen(y), 0, 3, fail_at, 0, 0 };
		struct mr_yinput in = { mem_read, mem_reread, &m };
		struct mr_buf entries = MR_BUF_INIT;
		struct mr_ystream st = { want_maps, record_entry, &entries };
		ck_assert_int_eq(mr_ydoc_parse_input(&doc, "f.yaml", &in, &st, &d), -1);
		ck_assert_uint_eq(d.n, 0); /* no "input error" of libyaml's: the reader says why */
		ck_assert_int_eq(m.rereads, 0);
		mr_ydoc_release(&doc);
		mr_buf_release(&entries);
	}
}
END_TEST

Suite *suite_ytree(void)
{
	Suite *s = suite_create("ytree");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, nodes_remember_line_and_column);
	tcase_add_test(tc, aliases_share_nodes_and_are_capped);
	tcase_add_test(tc, recursive_alias_is_refused);
	tcase_add_test(tc, depth_is_capped);
	tcase_add_test(tc, nulls_and_empty_streams);
	tcase_add_test(tc, garbage_gets_a_position);
	tcase_add_test(tc, streamed_entries_are_handed_over_and_freed);
	tcase_add_test(tc, streamed_memory_is_one_entry);
	tcase_add_test(tc, input_in_tiny_chunks_parses_as_the_buffer);
	tcase_add_test(tc, input_failure_is_left_to_the_reader);
	suite_add_tcase(s, tc);
	return s;
}
