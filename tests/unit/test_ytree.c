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
	suite_add_tcase(s, tc);
	return s;
}
