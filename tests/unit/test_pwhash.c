#include "crypto/pwhash.h"
#include "tests.h"

/*
 * Hashes made by the real tools: doveadm (shared/reference/test-vectors.md), a real
 * ispmanager 4 line (ispmanager-formats.md), and libxcrypt's crypt(3) for $5$, $2b$, $y$.
 */
START_TEST(real_hashes_are_accepted)
{
	const char *ok[] = {
		"{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6",
		"{CRAM-MD5}00747cf2ffaf11c5ea4a64979c3901fc1d20dee13f480bb598f7d8575b23e61b",
		"{SHA512-CRYPT}$6$ahQr9koTM6fcokGS$daAuycRAjlwaanwmV2h2T0vyO..54CyD3K7mSZsvW8L.8qZwJI6EKDdhs5ZLnd4RLdn1zy01DMAr.1zeOm1TP0",
		"$6$ahQr9koTM6fcokGS$daAuycRAjlwaanwmV2h2T0vyO..54CyD3K7mSZsvW8L.8qZwJI6EKDdhs5ZLnd4RLdn1zy01DMAr.1zeOm1TP0",
		"$6$rounds=5000$ahQr9koTM6fcokGS$daAuycRAjlwaanwmV2h2T0vyO..54CyD3K7mSZsvW8L.8qZwJI6EKDdhs5ZLnd4RLdn1zy01DMAr.1zeOm1TP0",
		"$1$oC.rOaaJ$hVQuB5Cd8ttTZdHWvvRZA1",
		"{MD5-CRYPT}$1$oC.rOaaJ$hVQuB5Cd8ttTZdHWvvRZA1",
		"{SHA256-CRYPT}$5$7Dp0YzmvSkmXKGSd$ntG9Vr4pPt3sSlvis6Hh3q75o8qf.7H8xGdc92zWpZD",
		"$2b$05$iouBI.nc08zmeF/AaZgvy.RSSCus1ECuz7RNV5IiexX0IiES3LJzC",
		"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$xepEX7DgsiGhAJPJyekJSrQ8hX9NhEaSi66Ij4USOM2",
		"{PLAIN}secret",
		"{SSHA512}aGVsbG8=",
		"{plain}lowercase-scheme",
		NULL,
	};
	for (int i = 0; ok[i]; i++)
		ck_assert_msg(mr_pwhash_check(ok[i]) == NULL, "hash %d rejected: %s", i, mr_pwhash_check(ok[i]));
}
END_TEST

START_TEST(broken_hashes_are_refused_without_echo)
{
	ck_assert_str_eq(mr_pwhash_check(""), "is empty");
	ck_assert_str_eq(mr_pwhash_check("{PLAIN}a:b"), "contains ':', which would break the passwd files");
	ck_assert_str_eq(mr_pwhash_check("{PLAIN}a b"), "contains a space, a control character or a non-ASCII byte");
	ck_assert_str_eq(mr_pwhash_check("{PLAIN}a\nb"), "contains a space, a control character or a non-ASCII byte");
	ck_assert_str_eq(mr_pwhash_check("{CRAM-MD5}abc"), "is a malformed CRAM-MD5 hash (64 hex digits expected)");
	ck_assert_str_eq(mr_pwhash_check("{ROT13}frperg"), "has an unknown scheme");
	ck_assert_str_eq(mr_pwhash_check("{SHA512-CRYPT}$5$x$y"), "is a malformed SHA512-CRYPT hash");
	ck_assert_str_eq(mr_pwhash_check("$6$salt$short"), "is a malformed crypt(3) hash");
	ck_assert_str_eq(mr_pwhash_check("$9$x$y"), "is a crypt(3) hash of an unknown kind (known: $1$, $5$, $6$, $2b$, $y$)");
	ck_assert_str_eq(mr_pwhash_check("hunter2"), "is not a crypt(3) hash ($1$, $5$, $6$, $2b$, $y$)");
	ck_assert_str_eq(mr_pwhash_check("{CRAM-MD5"), "has a '{' scheme prefix without its '}'");
	ck_assert_str_eq(mr_pwhash_check("{PLAIN}"), "is an empty PLAIN password");
}
END_TEST

Suite *suite_pwhash(void)
{
	Suite *s = suite_create("pwhash");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, real_hashes_are_accepted);
	tcase_add_test(tc, broken_hashes_are_refused_without_echo);
	suite_add_tcase(s, tc);
	return s;
}
