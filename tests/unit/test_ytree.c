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
	suite_add_tcase(s, tc);
	return s;
}
