#include "crypto/keygen.h"
#include "tests.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "codec/dkim_txt.h"
#include "crypto/keys.h"
#include "util/buf.h"
#include "util/fs.h"

/*
 * Private keys are secrets even in tests: a failure names the case, never key material
 * (no ck_assert_str_eq on a PEM).  RSA key generation is the slow part: the suite makes
 * four keys in all (DKIM 1024 and 2048, two certificates).
 */
#define OPENSSL_BIN "/usr/bin/openssl"
#define DKIM_DIR FIXTURES_DIR "/dkim/"
#define CERT_DIR FIXTURES_DIR "/certs/"
#define PKCS8_HEADER "-----BEGIN PRIVATE KEY-----\n"

static void slurp(const char *path, struct mr_buf *out)
{
	struct mr_buf err = MR_BUF_INIT;
	mr_buf_reset(out);
	int r = mr_read_file(path, 1 << 20, out, &err);
	ck_assert_msg(r == 0, "%s", err.ptr ? err.ptr : path);
	mr_buf_release(&err);
}

static void release_wiped(struct mr_buf *b)
{
	if (b->ptr)
		explicit_bzero(b->ptr, b->cap);
	mr_buf_release(b);
}

/*
 * `openssl SUBCMD -in FILE -noout` on data written to a temporary file, quietly: its exit
 * status, or 0 when there is no openssl program (nothing to check against).
 */
static int openssl_accepts(const char *subcmd, const struct mr_buf *data)
{
	if (access(OPENSSL_BIN, X_OK) != 0)
		return 0;
	const char *tmp = getenv("TMPDIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/mr-keygen-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path); /* 0600 */
	ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
	ck_assert_msg(write(fd, data->ptr, data->len) == (ssize_t)data->len, "write: %s", strerror(errno));
	ck_assert_int_eq(close(fd), 0);

	posix_spawn_file_actions_t fa;
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0), 0);
	char *argv[] = { "openssl", (char *)subcmd, "-in", path, "-noout", NULL };
	pid_t pid;
	int e = posix_spawn(&pid, OPENSSL_BIN, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_msg(e == 0, "cannot run " OPENSSL_BIN ": %s", strerror(e));
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_msg(errno == EINTR, "waitpid: %s", strerror(errno));
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 256;
}

/* Cheap refusals: nothing is generated and the outputs are left alone. */
START_TEST(keygen_refuses_bad_arguments)
{
	struct mr_buf pem = MR_BUF_INIT, crt = MR_BUF_INIT, err = MR_BUF_INIT;
	static const int bad_bits[] = { 512, 0, -1, 1023, 3072, 4096 };
	for (size_t i = 0; i < sizeof(bad_bits) / sizeof(bad_bits[0]); i++) {
		char *p = (char *)"x";
		mr_buf_reset(&err);
		ck_assert_int_eq(mr_dkim_generate(bad_bits[i], &pem, &p, &err), -1);
		ck_assert_ptr_null(p);
		ck_assert_uint_eq(pem.len, 0);
		ck_assert_uint_gt(err.len, 0);
	}
	ck_assert_ptr_nonnull(strstr(err.ptr, "4096"));

	static const char long_name[] = "a123456789.b123456789.c123456789.d123456789.e123456789.f12345678.x";
	static const struct {
		const char *alias, *domain, *email;
		int days;
	} bad[] = {
		{ NULL, "example.org", NULL, 365 },
		{ "", "example.org", NULL, 365 },
		{ "mail example.org", "example.org", NULL, 365 },
		{ "mail.example.org,DNS:evil.example", "example.org", NULL, 365 },
		{ "mail.example.org", "example.org/CN=x", NULL, 365 },
		{ "mail.exämple.org", NULL, NULL, 365 },
		{ long_name, NULL, NULL, 365 },
		{ "mail.example.org", "example.org", "post master@example.org", 365 },
		{ "mail.example.org", "example.org", "postmaster@example.org\n", 365 },
		{ "mail.example.org", "example.org", NULL, 0 },
		{ "mail.example.org", "example.org", NULL, -5 },
		{ "mail.example.org", "example.org", NULL, 36501 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mr_buf_reset(&err);
		ck_assert_msg(mr_cert_self_signed(bad[i].alias, bad[i].domain, bad[i].email, bad[i].days, &crt, &pem,
						  &err) == -1,
			      "case %zu accepted", i);
		ck_assert_uint_eq(crt.len, 0);
		ck_assert_uint_eq(pem.len, 0);
		ck_assert_msg(err.len > 0, "case %zu: no reason", i);
	}
	ck_assert_uint_eq(ERR_peek_error(), 0);
	mr_buf_release(&pem);
	mr_buf_release(&crt);
	mr_buf_release(&err);
}
END_TEST

/* The renewal check and the self-test on the fixtures (keys from the real tools). */
START_TEST(expiry_and_selftest_on_fixtures)
{
	struct mr_buf pem = MR_BUF_INIT, key = MR_BUF_INIT;

	/* self.crt: notAfter Nov 18 21:44:50 2036 GMT */
	slurp(CERT_DIR "self.crt", &pem);
	int64_t left = 2110657490 - (int64_t)time(NULL);
	ck_assert_int_gt(left, 40 * 86400);
	int days_left = (int)(left / 86400);
	ck_assert_int_eq(mr_cert_expires_within(pem.ptr, pem.len, 30), 0);
	ck_assert_int_eq(mr_cert_expires_within(pem.ptr, pem.len, 0), 0);
	ck_assert_int_eq(mr_cert_expires_within(pem.ptr, pem.len, days_left - 1), 0);
	ck_assert_int_eq(mr_cert_expires_within(pem.ptr, pem.len, days_left + 1), 1);
	ck_assert_int_eq(mr_cert_expires_within(pem.ptr, pem.len, 36500), 1);
	ck_assert_int_eq(mr_cert_expires_within(pem.ptr, pem.len, -1), -1);
	ck_assert_int_eq(mr_cert_expires_within(pem.ptr, pem.len / 2, 30), -1);
	ck_assert_int_eq(mr_cert_expires_within("", 0, 30), -1);
	ck_assert_int_eq(mr_cert_expires_within(NULL, 0, 30), -1);
	slurp(CERT_DIR "self.key", &key);
	ck_assert_int_eq(mr_cert_expires_within(key.ptr, key.len, 30), -1);
	ck_assert_uint_eq(ERR_peek_error(), 0);

	/* opendkim-genkey's pairs, and one against the other */
	struct mr_buf k1 = MR_BUF_INIT, k2 = MR_BUF_INIT;
	char *p1 = NULL, *p2 = NULL, *pc = NULL;
	slurp(DKIM_DIR "sel1.private", &k1);
	slurp(DKIM_DIR "sel2.private", &k2);
	ck_assert_int_eq(mr_privkey_bits_pem(k1.ptr, k1.len, &p1), 1024);
	ck_assert_int_eq(mr_privkey_bits_pem(k2.ptr, k2.len, &p2), 2048);
	ck_assert_int_eq(mr_privkey_bits_pem(key.ptr, key.len, &pc), 2048);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k1.ptr, k1.len, p1), 1);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k2.ptr, k2.len, p2), 1);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(key.ptr, key.len, pc), 1);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k1.ptr, k1.len, p2), 0);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k2.ptr, k2.len, p1), 0);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k2.ptr, k2.len, pc), 0); /* same size */
	ck_assert_uint_eq(ERR_peek_error(), 0);

	/* PKCS#1 works as well as PKCS#8 */
	slurp(CERT_DIR "self-pkcs1.key", &pem);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(pem.ptr, pem.len, pc), 1);

	/* what cannot be read: -1 */
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k1.ptr, k1.len / 2, p1), -1);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(NULL, 0, p1), -1);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k1.ptr, k1.len, NULL), -1);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k1.ptr, k1.len, ""), -1);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k1.ptr, k1.len, "QUJD"), -1);
	p1[10] = '!';
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k1.ptr, k1.len, p1), -1);
	static const char *unreadable[] = { CERT_DIR "ec.key", CERT_DIR "encrypted.key", CERT_DIR "self.crt" };
	for (size_t i = 0; i < sizeof(unreadable) / sizeof(unreadable[0]); i++) {
		slurp(unreadable[i], &pem);
		ck_assert_msg(mr_dkim_sign_verify_selftest(pem.ptr, pem.len, p2) == -1, "%s accepted", unreadable[i]);
	}
	ck_assert_uint_eq(ERR_peek_error(), 0);

	free(p1);
	free(p2);
	free(pc);
	mr_buf_release(&k1);
	mr_buf_release(&k2);
	mr_buf_release(&key);
	mr_buf_release(&pem);
}
END_TEST

/* One new DKIM key: its size, p=, the .txt round trip, the self-test, and openssl's opinion. */
static void check_dkim_key(int bits, const char *selector, const char *domain, struct mr_buf *pem, char **p)
{
	struct mr_buf err = MR_BUF_INIT, txt = MR_BUF_INIT;
	*p = NULL;
	int r = mr_dkim_generate(bits, pem, p, &err);
	ck_assert_msg(r == 0, "%d bits: %s", bits, err.ptr ? err.ptr : "?");
	ck_assert_uint_eq(err.len, 0);
	ck_assert_ptr_nonnull(*p);
	ck_assert_ptr_null(strpbrk(*p, "\r\n \t"));
	ck_assert_msg(strncmp(pem->ptr, PKCS8_HEADER, strlen(PKCS8_HEADER)) == 0, "%d bits: not PKCS#8 PEM", bits);
	ck_assert_ptr_null(strstr(pem->ptr, "ENCRYPTED"));
	ck_assert_ptr_nonnull(strstr(pem->ptr, "-----END PRIVATE KEY-----\n"));
	ck_assert_uint_eq(strlen(pem->ptr), pem->len);

	char *again = NULL;
	ck_assert_int_eq(mr_privkey_bits_pem(pem->ptr, pem->len, &again), bits);
	ck_assert_msg(again && strcmp(again, *p) == 0, "%d bits: p= differs from the private key's", bits);
	free(again);
	ck_assert_int_eq(mr_pubkey_bits_b64(*p), bits);

	mr_dkim_txt_render(selector, domain, *p, &txt);
	char *sel = NULL, *p2 = NULL;
	const char *why = NULL;
	ck_assert_msg(mr_dkim_txt_parse(txt.ptr, txt.len, &sel, &p2, &why) == 0, "%d bits: %s", bits, why);
	ck_assert_str_eq(sel, selector);
	ck_assert_msg(strcmp(p2, *p) == 0, "%d bits: the .txt gives another p=", bits);
	free(sel);
	free(p2);

	ck_assert_int_eq(mr_dkim_sign_verify_selftest(pem->ptr, pem->len, *p), 1);
	ck_assert_msg(openssl_accepts("pkey", pem) == 0, "%d bits: openssl pkey refuses the key", bits);
	mr_buf_release(&txt);
	mr_buf_release(&err);
}

START_TEST(dkim_generate_makes_consistent_keys)
{
	struct mr_buf k1 = MR_BUF_INIT, k2 = MR_BUF_INIT;
	char *p1, *p2;
	check_dkim_key(1024, "sel1", "example.com", &k1, &p1);
	check_dkim_key(2048, "mail", "example.org", &k2, &p2);
	ck_assert_msg(strcmp(p1, p2) != 0, "two keys alike");

	/* the self-test tells the keys apart */
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k1.ptr, k1.len, p2), 0);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(k2.ptr, k2.len, p1), 0);

	ck_assert_uint_eq(ERR_peek_error(), 0);
	free(p1);
	free(p2);
	release_wiped(&k1);
	release_wiped(&k2);
}
END_TEST

/* What mr_cert_inspect does not show: the version, serial, extensions and signature. */
static void check_x509_details(const struct mr_buf *crt, const char *alias, const char *domain)
{
	BIO *bio = BIO_new_mem_buf(crt->ptr, (int)crt->len);
	ck_assert_ptr_nonnull(bio);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ck_assert_ptr_nonnull(x);

	ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
	BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	ck_assert_ptr_nonnull(serial);
	ck_assert(!BN_is_negative(serial));
	ck_assert(!BN_is_zero(serial));
	ck_assert_int_le(BN_num_bits(serial), 128);
	ck_assert_int_gt(BN_num_bits(serial), 64); /* random: 2^-64 odds of a false alarm */
	BN_free(serial);

	ck_assert_int_eq(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);
	ck_assert_int_eq(X509_check_ca(x), 0);
	ck_assert_uint_eq(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	ck_assert_uint_eq(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	ck_assert_ptr_nonnull(X509_get0_subject_key_id(x));
	ck_assert_int_eq(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	int i = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(X509_EXTENSION_get_critical(X509_get_ext(x, i)), 1);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
	ck_assert_int_eq(X509_check_host(x, alias, 0, 0, NULL), 1);
	if (domain)
		ck_assert_int_eq(X509_check_host(x, domain, 0, 0, NULL), 1);
	ck_assert_int_eq(X509_check_host(x, "other.example", 0, 0, NULL), 0);

	/* a client that trusts exactly this certificate accepts it for a TLS server */
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	ck_assert_int_eq(X509_STORE_add_cert(store, x), 1);
	ck_assert_int_eq(X509_STORE_CTX_init(ctx, store, x, NULL), 1);
	ck_assert_int_eq(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
	int ok = X509_verify_cert(ctx);
	ck_assert_msg(ok == 1, "verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(x);
	ERR_clear_error();
}

START_TEST(cert_self_signed_makes_a_server_certificate)
{
	struct mr_buf crt = MR_BUF_INIT, key = MR_BUF_INIT, crt2 = MR_BUF_INIT, key2 = MR_BUF_INIT;
	struct mr_buf err = MR_BUF_INIT;
	struct mr_cert_info ci;

	/* a mail host name, its domain and a postmaster; a year */
	time_t now = time(NULL);
	ck_assert_msg(mr_cert_self_signed("mail.example.org", "example.org", "postmaster@example.org", 365, &crt,
					  &key, &err) == 0,
		      "%s", err.ptr ? err.ptr : "?");
	ck_assert_uint_eq(err.len, 0);
	ck_assert_ptr_nonnull(strstr(crt.ptr, "-----BEGIN CERTIFICATE-----\n"));
	ck_assert_msg(strncmp(key.ptr, PKCS8_HEADER, strlen(PKCS8_HEADER)) == 0, "key not PKCS#8 PEM");
	ck_assert_int_eq(mr_cert_inspect(crt.ptr, crt.len, &ci), 0);
	ck_assert_str_eq(ci.cn, "mail.example.org");
	ck_assert_str_eq(ci.email, "postmaster@example.org");
	ck_assert_uint_eq(ci.ndns, 2);
	ck_assert_str_eq(ci.dns[0], "mail.example.org");
	ck_assert_str_eq(ci.dns[1], "example.org");
	ck_assert(ci.self_signed);
	int64_t want = (int64_t)now + 365 * 86400;
	ck_assert_msg(ci.not_after >= want - 5 && ci.not_after <= want + 120, "not_after %lld, want about %lld",
		      (long long)ci.not_after, (long long)want);
	mr_cert_info_release(&ci);
	ck_assert_int_eq(mr_cert_key_match(crt.ptr, crt.len, key.ptr, key.len), 1);
	ck_assert_int_eq(mr_privkey_bits_pem(key.ptr, key.len, NULL), 2048);
	ck_assert_int_eq(mr_cert_expires_within(crt.ptr, crt.len, 30), 0);
	ck_assert_int_eq(mr_cert_expires_within(crt.ptr, crt.len, 366), 1);
	check_x509_details(&crt, "mail.example.org", "example.org");
	ck_assert_msg(openssl_accepts("pkey", &key) == 0, "openssl pkey refuses the key");
	ck_assert_msg(openssl_accepts("x509", &crt) == 0, "openssl x509 refuses the certificate");

	/* the same name twice, no e-mail address, ten days: due for renewal at once */
	now = time(NULL);
	ck_assert_msg(mr_cert_self_signed("mx.example.net", "MX.Example.NET", NULL, 10, &crt2, &key2, &err) == 0,
		      "%s", err.ptr ? err.ptr : "?");
	ck_assert_int_eq(mr_cert_inspect(crt2.ptr, crt2.len, &ci), 0);
	ck_assert_str_eq(ci.cn, "mx.example.net");
	ck_assert_ptr_null(ci.email);
	ck_assert_uint_eq(ci.ndns, 1);
	ck_assert_str_eq(ci.dns[0], "mx.example.net");
	ck_assert(ci.self_signed);
	want = (int64_t)now + 10 * 86400;
	ck_assert_msg(ci.not_after >= want - 5 && ci.not_after <= want + 120, "not_after %lld, want about %lld",
		      (long long)ci.not_after, (long long)want);
	mr_cert_info_release(&ci);
	ck_assert_int_eq(mr_cert_expires_within(crt2.ptr, crt2.len, 30), 1);
	ck_assert_int_eq(mr_cert_expires_within(crt2.ptr, crt2.len, 9), 0);
	ck_assert_int_eq(mr_cert_key_match(crt2.ptr, crt2.len, key2.ptr, key2.len), 1);
	check_x509_details(&crt2, "mx.example.net", NULL);

	/* two new keys of the same size: each only matches its own */
	ck_assert_int_eq(mr_cert_key_match(crt.ptr, crt.len, key2.ptr, key2.len), 0);
	ck_assert_int_eq(mr_cert_key_match(crt2.ptr, crt2.len, key.ptr, key.len), 0);
	char *p = NULL, *p2 = NULL;
	ck_assert_int_eq(mr_privkey_bits_pem(key.ptr, key.len, &p), 2048);
	ck_assert_int_eq(mr_privkey_bits_pem(key2.ptr, key2.len, &p2), 2048);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(key.ptr, key.len, p), 1);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(key.ptr, key.len, p2), 0);
	ck_assert_int_eq(mr_dkim_sign_verify_selftest(key2.ptr, key2.len, p), 0);
	free(p);
	free(p2);

	ck_assert_uint_eq(ERR_peek_error(), 0);
	mr_buf_release(&crt);
	mr_buf_release(&crt2);
	release_wiped(&key);
	release_wiped(&key2);
	mr_buf_release(&err);
}
END_TEST

Suite *suite_keygen(void)
{
	Suite *s = suite_create("keygen");
	TCase *tc = tcase_create("keygen");
	tcase_add_test(tc, keygen_refuses_bad_arguments);
	tcase_add_test(tc, expiry_and_selftest_on_fixtures);
	tcase_add_test(tc, dkim_generate_makes_consistent_keys);
	tcase_add_test(tc, cert_self_signed_makes_a_server_certificate);
	tcase_set_timeout(tc, 60); /* RSA key generation under the sanitizers */
	suite_add_tcase(s, tc);
	return s;
}
