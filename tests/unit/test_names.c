#include <stdlib.h>
#include <string.h>

#include "model/names.h"
#include "tests.h"

START_TEST(mailbox_names)
{
	const char *good[] = { "info", "a", "first.last", "x-1", "0", "a.b-c.d", NULL };
	const char *bad[] = { "", "Info", ".info", "info.", "-x", "x-", "a..b", "a_b", "a:b", "a/b", "a b",
			      "\xd0\xb8\xd0\xbd", NULL };
	for (int i = 0; good[i]; i++)
		ck_assert_msg(mr_check_mailbox_name(good[i]) == NULL, "%s should be valid", good[i]);
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(mr_check_mailbox_name(bad[i]) != NULL, "%s should be invalid", bad[i]);
	char long_name[66];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	ck_assert_str_eq(mr_check_mailbox_name(long_name), "is longer than 64 characters");
	long_name[64] = '\0';
	ck_assert_ptr_null(mr_check_mailbox_name(long_name));
}
END_TEST

START_TEST(domain_names)
{
	const char *good[] = { "example.com", "a.b.c.example", "xn--e1afmkfd.xn--p1ai", "1-2.example", NULL };
	for (int i = 0; good[i]; i++)
		ck_assert_msg(mr_check_domain(good[i]) == NULL, "%s should be valid", good[i]);
	ck_assert_str_eq(mr_check_domain("localhost"), "needs at least two labels (such as example.com)");
	ck_assert_str_eq(mr_check_domain("Example.com"), "must be lower case");
	ck_assert_str_eq(mr_check_domain("-a.com"), "has a label that starts or ends with '-'");
	ck_assert_str_eq(mr_check_domain("a..com"), "has an empty label");
	ck_assert_str_eq(mr_check_domain("example.com."), "may not end with '.'");
	ck_assert_str_eq(mr_check_domain("ab--cd.com"), "has '--' in the third and fourth places of a label (reserved for xn--)");
	ck_assert_str_eq(mr_check_domain("a:b.com"), "may only contain latin letters, digits, '-' and '.'");
	ck_assert_str_eq(mr_check_domain("a/b.com"), "may only contain latin letters, digits, '-' and '.'");
	char label[80];
	memset(label, 'a', 64);
	strcpy(label + 64, ".com");
	ck_assert_str_eq(mr_check_domain(label), "has a label longer than 63 characters");
	char big[300];
	for (int i = 0; i < 260; i += 2) {
		big[i] = 'a';
		big[i + 1] = '.';
	}
	strcpy(big + 260, "com");
	ck_assert_str_eq(mr_check_domain(big), "is longer than 253 characters");
}
END_TEST

START_TEST(punycode_known_answers)
{
	/* RFC 3492 / IDNA answers as browsers and idn2 give them */
	struct { const char *in, *out; } v[] = {
		{ "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84", "xn--e1afmkfd.xn--p1ai" },
		{ "b\xc3\xbc" "cher.example", "xn--bcher-kva.example" },
		{ "m\xc3\xbcnchen.de", "xn--mnchen-3ya.de" },
		{ "\xe4\xbe\x8b\xe3\x81\x88.jp", "xn--r8jz45g.jp" },
		{ "Example.COM", "example.com" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *a = mr_domain_to_ascii(v[i].in);
		ck_assert_ptr_nonnull(a);
		ck_assert_str_eq(a, v[i].out);
		free(a);
	}
	ck_assert_ptr_null(mr_domain_to_ascii("bad\xff.com"));
}
END_TEST

START_TEST(addresses)
{
	const char *good[] = { "boss@example.org", "Boss.Name+tag@Example.ORG", "o'neil@example.com",
			       "a!#$%&'*+=?^_{}~-z@example.com", NULL };
	const char *bad[] = { "boss", "@example.org", "boss@", "boss@localhost", "a:b@example.org",
			      "|cmd@example.org", "a/b@example.org", "a b@example.org", ".a@example.org",
			      "a..b@example.org", "a\"b@example.org", "a`b@example.org", "a@exa_mple.org", "#x@example.net",
			      "#@example.net", " a@example.org", "a@example.org ", "a@example.org\n", "a\tb@example.org",
			      "a@ex ample.org", NULL };
	for (int i = 0; good[i]; i++)
		ck_assert_msg(mr_check_address(good[i]) == NULL, "%s should be valid", good[i]);
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(mr_check_address(bad[i]) != NULL, "%s should be invalid", bad[i]);
}
END_TEST

START_TEST(users_ips_selectors_env)
{
	ck_assert_ptr_null(mr_check_user_name("alice"));
	ck_assert_ptr_null(mr_check_user_name("_svc-1"));
	ck_assert_ptr_nonnull(mr_check_user_name("1alice"));
	ck_assert_ptr_nonnull(mr_check_user_name("al:ice"));
	ck_assert_ptr_nonnull(mr_check_user_name("al/ice"));
	ck_assert_ptr_nonnull(mr_check_user_name("abcdefghijklmnopqrstuvwxyz0123456"));
	ck_assert_ptr_null(mr_check_ip("203.0.113.10"));
	ck_assert_ptr_null(mr_check_ip("2001:db8::1"));
	ck_assert_ptr_nonnull(mr_check_ip("203.0.113.300"));
	ck_assert_ptr_nonnull(mr_check_ip("203.0.113"));
	ck_assert_ptr_nonnull(mr_check_ip("auto"));
	ck_assert_ptr_null(mr_check_selector("dkim"));
	ck_assert_ptr_null(mr_check_selector("s2024.mail"));
	ck_assert_ptr_nonnull(mr_check_selector("Dkim"));
	ck_assert_ptr_nonnull(mr_check_selector("a_b"));
	ck_assert_ptr_null(mr_check_env_name("MAIL_PW_1"));
	ck_assert_ptr_nonnull(mr_check_env_name("1PW"));
	ck_assert_ptr_nonnull(mr_check_env_name("A-B"));
	ck_assert_ptr_null(mr_check_text("front desk \xe2\x80\x94 caf\xc3\xa9", 256));
	ck_assert_ptr_nonnull(mr_check_text("line\nbreak", 256));
	ck_assert_ptr_nonnull(mr_check_text("caf\xe9", 256));
	ck_assert_ptr_nonnull(mr_check_text("abc", 2));
}
END_TEST

Suite *suite_names(void)
{
	Suite *s = suite_create("names");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, mailbox_names);
	tcase_add_test(tc, domain_names);
	tcase_add_test(tc, punycode_known_answers);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, users_ips_selectors_env);
	suite_add_tcase(s, tc);
	return s;
}
