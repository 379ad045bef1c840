/*
 * src/route on hand-written models: each default action, each redirect chain, each loop
 * shape, disabled mailboxes, domains and users, and local parts in other cases.  The loop
 * answers are the real exim4 -bt's on the same files (tests/e2e/route-cases/loops.yaml
 * holds them for the differential test too).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "route/route.h"
#include "tests.h"

static struct mr_loc at(void)
{
	return mr_loc_at("t.yaml", 1, 1);
}

static struct mr_domain *dom(struct mr_model *m, const char *name, enum mr_action a, const char *target)
{
	struct mr_domain *old;
	struct mr_domain *d = mr_model_add_domain(m, name, at(), &old);
	ck_assert_ptr_nonnull(d);
	d->owner = "alice";
	d->action = a;
	d->action_target = target;
	return d;
}

static void items(struct mr_model *m, struct mr_items *it, const char *csv)
{
	if (!csv || !csv[0])
		return;
	size_t n = 1;
	for (const char *p = csv; *p; p++)
		n += *p == ',';
	it->v = mr_model_items(m, n);
	it->n = n;
	const char *p = csv;
	for (size_t i = 0; i < n; i++) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		it->v[i].s = mr_model_str(m, p, len);
		p += len + 1;
	}
}

static struct mr_mailbox *box(struct mr_model *m, struct mr_domain *d, const char *name, const char *aliases,
			      const char *copies, bool keep)
{
	struct mr_mailbox *old;
	struct mr_mailbox *mb = mr_domain_add_mailbox(m, d, name, at(), &old);
	ck_assert_ptr_nonnull(mb);
	items(m, &mb->aliases, aliases);
	items(m, &mb->copy_to, copies);
	mb->keep_copy = keep;
	return mb;
}

static void expect(const struct mr_model *m, const char *addr, const char *want)
{
	struct mr_router r;
	mr_router_init(&r, m);
	struct mr_route rt;
	mr_route(&rt, &r, addr);
	struct mr_buf b = MR_BUF_INIT;
	mr_route_format(&rt, &b);
	ck_assert_msg(strcmp(b.ptr, want) == 0, "%s: got '%s', want '%s'", addr, b.ptr, want);
	mr_buf_release(&b);
	mr_route_release(&rt);
	mr_router_release(&r);
}

/* the base model of most tests */
static void base(struct mr_model *m)
{
	mr_model_init(m);
	struct mr_user *old;
	mr_model_add_user(m, "alice", at(), &old);
	struct mr_domain *a = dom(m, "a.test", MR_ACTION_REJECT, NULL);
	box(m, a, "info", "sales,contact", NULL, true);
	box(m, a, "boss", NULL, NULL, true);
	dom(m, "discard.test", MR_ACTION_DISCARD, NULL);
	dom(m, "fwd.test", MR_ACTION_FORWARD, "sales@a.test");
	dom(m, "fwdout.test", MR_ACTION_FORWARD, "someone@remote.test");
	dom(m, "r1.test", MR_ACTION_REDIRECT_DOMAIN, "r2.test");
	struct mr_domain *r2 = dom(m, "r2.test", MR_ACTION_REDIRECT_DOMAIN, "a.test");
	box(m, r2, "own", NULL, NULL, true);
	dom(m, "rout.test", MR_ACTION_REDIRECT_DOMAIN, "elsewhere.test");
}

START_TEST(default_actions)
{
	struct mr_model m;
	base(&m);
	expect(&m, "info@a.test", "deliver: info@a.test");
	expect(&m, "nobody@a.test", "reject: 550 No such user here");
	expect(&m, "nobody@discard.test", "discard");
	expect(&m, "nobody@fwd.test", "deliver: info@a.test");
	expect(&m, "nobody@fwdout.test", "remote: someone@remote.test");
	expect(&m, "x@remote.test", "remote: x@remote.test");
	mr_model_release(&m);
}
END_TEST

START_TEST(redirect_chains)
{
	struct mr_model m;
	base(&m);
	/* r1 -> r2 -> a.test: the same local part at each */
	expect(&m, "boss@r1.test", "deliver: boss@a.test");
	expect(&m, "sales@r1.test", "deliver: info@a.test");
	expect(&m, "nobody@r1.test", "reject: 550 No such user here");
	/* a mailbox of r2 is its own; r1's mail for "own" goes to it through r2 */
	expect(&m, "own@r2.test", "deliver: own@r2.test");
	expect(&m, "own@r1.test", "deliver: own@r2.test");
	/* to a domain that is not local: the local part as written */
	expect(&m, "Who@rout.test", "remote: who@elsewhere.test");
	mr_model_release(&m);
}
END_TEST

START_TEST(copies)
{
	struct mr_model m;
	base(&m);
	struct mr_domain *c = dom(&m, "c.test", MR_ACTION_REJECT, NULL);
	box(&m, c, "keeper", NULL, "boss@a.test", true);
	box(&m, c, "orders", NULL, "boss@a.test,sales@a.test,out@remote.test", false);
	box(&m, c, "half", NULL, "nobody@a.test,boss@a.test", false);
	box(&m, c, "drop", NULL, "x@discard.test", false);
	expect(&m, "keeper@c.test", "deliver: boss@a.test, keeper@c.test");
	expect(&m, "orders@c.test", "deliver: boss@a.test, info@a.test; remote: out@remote.test");
	expect(&m, "half@c.test", "deliver: boss@a.test; bounce: nobody@a.test (No such user here)");
	expect(&m, "drop@c.test", "discard");
	mr_model_release(&m);
}
END_TEST

START_TEST(loops)
{
	/* the shapes of tests/e2e/route-cases/loops.yaml, with exim4 -bt's answers */
	struct mr_model m;
	base(&m);
	struct mr_domain *l = dom(&m, "l.test", MR_ACTION_REJECT, NULL);
	/* two mailboxes copy to each other, one keeps no copy */
	box(&m, l, "orders", "shop", "audit@l.test", true);
	box(&m, l, "audit", NULL, "orders@l.test", false);
	/* three in a ring, two keep nothing */
	box(&m, l, "p", NULL, "q@l.test", true);
	box(&m, l, "q", NULL, "s@l.test", false);
	box(&m, l, "s", NULL, "p@l.test", false);
	/* a copy to an unknown address of a domain that leads back through its default action */
	box(&m, l, "x", NULL, "zz@back.test", true);
	dom(&m, "back.test", MR_ACTION_REDIRECT_DOMAIN, "fw.test");
	dom(&m, "fw.test", MR_ACTION_FORWARD, "x@l.test");
	expect(&m, "orders@l.test", "deliver: orders@l.test");
	expect(&m, "shop@l.test", "deliver: orders@l.test");
	expect(&m, "audit@l.test", "deliver: audit@l.test, orders@l.test");
	expect(&m, "p@l.test", "deliver: p@l.test");
	expect(&m, "q@l.test", "deliver: p@l.test, q@l.test");
	expect(&m, "s@l.test", "deliver: p@l.test, s@l.test");
	expect(&m, "x@l.test", "deliver: x@l.test");
	expect(&m, "any@back.test", "deliver: x@l.test");

	struct mr_router r;
	mr_router_init(&r, &m);
	struct mr_route rt;
	mr_route(&rt, &r, "audit@l.test");
	ck_assert(rt.loop);
	mr_route_release(&rt);
	mr_route(&rt, &r, "info@a.test");
	ck_assert(!rt.loop);
	mr_route_release(&rt);
	mr_router_release(&r);
	mr_model_release(&m);
}
END_TEST

START_TEST(disabled)
{
	struct mr_model m;
	base(&m);
	struct mr_user *old;
	struct mr_user *bob = mr_model_add_user(&m, "bob", at(), &old);
	bob->disabled = true;
	struct mr_domain *d = dom(&m, "d.test", MR_ACTION_FORWARD, "closed@d.test");
	box(&m, d, "closed", "shut", NULL, true)->disabled = true;
	box(&m, d, "lone", NULL, "closed@d.test", false);
	box(&m, d, "two", NULL, "closed@d.test,nobody@a.test", false);
	struct mr_domain *off = dom(&m, "off.test", MR_ACTION_FORWARD, "info@a.test");
	off->disabled = true;
	box(&m, off, "m", NULL, NULL, true);
	struct mr_domain *bobs = dom(&m, "bob.test", MR_ACTION_REJECT, NULL);
	bobs->owner = "bob";
	box(&m, bobs, "b", NULL, NULL, true);
	expect(&m, "closed@d.test", "reject: 550 5.0.0 mailbox disabled");
	expect(&m, "shut@d.test", "reject: 550 5.0.0 mailbox disabled");
	expect(&m, "nobody@d.test", "reject: 550 5.0.0 mailbox disabled");
	/* one copy: verification follows it; two: accepted, then both bounce */
	expect(&m, "lone@d.test", "reject: 550 5.0.0 mailbox disabled");
	expect(&m, "two@d.test",
	       "reject: accepted, then bounced: closed@d.test (5.0.0 mailbox disabled), nobody@a.test (No such user here)");
	/* a disabled domain is not local: its mail goes out as a remote domain's */
	expect(&m, "m@off.test", "remote: m@off.test");
	expect(&m, "b@bob.test", "reject: 550 5.0.0 mailbox disabled");
	mr_model_release(&m);
}
END_TEST

START_TEST(case_insensitive)
{
	struct mr_model m;
	base(&m);
	expect(&m, "INFO@A.TEST", "deliver: info@a.test");
	expect(&m, "Sales@a.test", "deliver: info@a.test");
	expect(&m, "Nobody@Discard.Test", "discard");
	expect(&m, "BOSS@r1.test", "deliver: boss@a.test");
	mr_model_release(&m);
}
END_TEST

START_TEST(smtp_answers)
{
	struct mr_model m;
	base(&m);
	struct mr_router r;
	mr_router_init(&r, &m);
	struct mr_route rt;
	mr_route(&rt, &r, "x@remote.test");
	ck_assert_int_eq(rt.smtp_code, 550);
	ck_assert_str_eq(rt.smtp_text, "5.7.1 relay not permitted");
	mr_route_release(&rt);
	mr_route(&rt, &r, ".dot@a.test");
	ck_assert_int_eq(rt.smtp_code, 550);
	ck_assert_str_eq(rt.smtp_text, "Administrative prohibition");
	mr_route_release(&rt);
	mr_route(&rt, &r, "nobody@discard.test");
	ck_assert_int_eq(rt.smtp_code, 250);
	ck_assert_ptr_null(rt.smtp_text);
	ck_assert_int_eq(rt.outcome, MR_ROUTE_DISCARD);
	mr_route_release(&rt);
	mr_route(&rt, &r, "nobody@a.test");
	ck_assert_int_eq(rt.outcome, MR_ROUTE_REJECT);
	ck_assert_str_eq(rt.text, "No such user here");
	mr_route_release(&rt);
	mr_router_release(&r);
	mr_model_release(&m);
}
END_TEST

START_TEST(findings)
{
	struct mr_model m;
	base(&m);
	struct mr_domain *d = dom(&m, "d.test", MR_ACTION_FORWARD, "closed@d.test");
	box(&m, d, "closed", NULL, NULL, true)->disabled = true;
	box(&m, d, "lone", NULL, "closed@d.test", false);
	box(&m, d, "half", NULL, "closed@d.test", true);
	box(&m, d, "p", NULL, "q@d.test", true);
	box(&m, d, "q", NULL, "p@d.test", false);
	struct mr_router r;
	mr_router_init(&r, &m);
	struct mr_diags diags = MR_DIAGS_INIT;
	mr_route_findings(&r, &diags);
	struct mr_buf b = MR_BUF_INIT;
	mr_diags_render(&diags, &b);
	ck_assert_msg(strstr(b.ptr, "mail to 'lone@d.test' is stored nowhere: reject: 550 5.0.0 mailbox disabled"), "%s", b.ptr);
	ck_assert_msg(strstr(b.ptr, "mail to 'half@d.test' bounces at 'closed@d.test': 5.0.0 mailbox disabled"), "%s", b.ptr);
	ck_assert_msg(strstr(b.ptr, "mail to 'q@d.test' comes back to an address it went through"), "%s", b.ptr);
	ck_assert_msg(strstr(b.ptr, "the default action of 'd.test' (forward to closed@d.test) ends in a refusal"), "%s", b.ptr);
	ck_assert_msg(!strstr(b.ptr, "'info@a.test'"), "%s", b.ptr);
	ck_assert_int_eq(diags.errors, 0);
	mr_buf_release(&b);
	mr_diags_release(&diags);
	mr_router_release(&r);
	mr_model_release(&m);
}
END_TEST

Suite *suite_route(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("route");
	tcase_add_test(tc, default_actions);
	tcase_add_test(tc, redirect_chains);
	tcase_add_test(tc, copies);
	tcase_add_test(tc, loops);
	tcase_add_test(tc, disabled);
	tcase_add_test(tc, case_insensitive);
	tcase_add_test(tc, smtp_answers);
	tcase_add_test(tc, findings);
	suite_add_tcase(s, tc);
	return s;
}
