#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "codec/dkim_txt.h"
#include "crypto/keys.h"
#include "tests.h"
#include "util/buf.h"
#include "util/fs.h"

/*
 * tests/fixtures/dkim: key pairs written by the real opendkim-genkey 2.11.0 (Debian 12),
 * `opendkim-genkey -D DIR -d DOMAIN -s SELECTOR -r -b BITS`.
 * tests/fixtures/certs: test certificates and keys made by `openssl req -x509` (README.md).
 */
#define DKIM_DIR FIXTURES_DIR "/dkim/"
#define CERT_DIR FIXTURES_DIR "/certs/"

static void slurp(const char *path, struct mr_buf *out)
{
	struct mr_buf err = MR_BUF_INIT;
	int r = mr_read_file(path, 1 << 20, out, &err);
	ck_assert_msg(r == 0, "%s", err.ptr ? err.ptr : path);
	mr_buf_release(&err);
}

/* Parse a C string; on success compare the outputs, on failure check they are NULL. */
static int parse_str(const char *s, size_t n, const char *want_sel, const char *want_p)
{
	char *sel = (char *)"x", *p = (char *)"x";
	const char *why = NULL;
	int r = mr_dkim_txt_parse(s, n, &sel, &p, &why);
	if (r == 0) {
		ck_assert_ptr_null(why);
		ck_assert_ptr_nonnull(sel);
		ck_assert_ptr_nonnull(p);
		if (want_sel)
			ck_assert_str_eq(sel, want_sel);
		if (want_p)
			ck_assert_str_eq(p, want_p);
		free(sel);
		free(p);
	} else {
		ck_assert_int_eq(r, -1);
		ck_assert_ptr_nonnull(why);
		ck_assert_ptr_null(sel);
		ck_assert_ptr_null(p);
	}
	return r;
}

static const char *parse_why(const char *s, size_t n)
{
	char *sel, *p;
	const char *why = NULL;
	ck_assert_int_eq(mr_dkim_txt_parse(s, n, &sel, &p, &why), -1);
	ck_assert_ptr_null(sel);
	ck_assert_ptr_null(p);
	ck_assert_ptr_nonnull(why);
	return why;
}

#define PARSE_OK(lit, sel, p) ck_assert_int_eq(parse_str(lit, sizeof(lit) - 1, sel, p), 0)
#define PARSE_WHY(lit) parse_why(lit, sizeof(lit) - 1)

/* The layout of test-vectors.md, with a short stand-in for the base64. */
START_TEST(dkim_txt_parses_the_documented_layout)
{
	PARSE_OK("sel2._domainkey\tIN\tTXT\t( \"v=DKIM1; h=sha256; k=rsa; s=email; \"\n"
		 "\t  \"p=MIIBIjANBgkqAAAA\"\n"
		 "\t  \"BBBBCCCC\" )  ; ----- DKIM key sel2 for example.org\n",
		 "sel2", "MIIBIjANBgkqAAAABBBBCCCC");
}
END_TEST

static const struct {
	const char *name, *selector, *domain;
	int bits;
} genkey[] = {
	{ "sel1", "sel1", "example.com", 1024 },
	{ "sel2", "sel2", "example.org", 2048 },
	{ "mail.k4", "mail.k4", "example.net", 4096 },
};

/* render(selector, domain, p= of the .private) is the real .txt, byte for byte. */
START_TEST(dkim_txt_render_matches_opendkim_genkey)
{
	struct mr_buf txt = MR_BUF_INIT, key = MR_BUF_INIT, out = MR_BUF_INIT;
	char path[512];
	snprintf(path, sizeof(path), DKIM_DIR "%s.txt", genkey[_i].name);
	slurp(path, &txt);
	snprintf(path, sizeof(path), DKIM_DIR "%s.private", genkey[_i].name);
	slurp(path, &key);

	char *p = NULL;
	ck_assert_int_eq(mr_privkey_bits_pem(key.ptr, key.len, &p), genkey[_i].bits);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(strchr(p, '\n'));
	ck_assert_int_eq(mr_pubkey_bits_b64(p), genkey[_i].bits);

	mr_dkim_txt_render(genkey[_i].selector, genkey[_i].domain, p, &out);
	ck_assert_uint_eq(out.len, txt.len);
	ck_assert_mem_eq(out.ptr, txt.ptr, txt.len);

	ck_assert_int_eq(parse_str(txt.ptr, txt.len, genkey[_i].selector, p), 0);

	free(p);
	mr_buf_release(&txt);
	mr_buf_release(&key);
	mr_buf_release(&out);
}
END_TEST

/* opendkim-genkey's loop: 250 base64 characters per string, the first after "p=". */
START_TEST(dkim_txt_chunks_like_opendkim_genkey)
{
	static const size_t lens[] = { 1, 4, 249, 250, 251, 392, 499, 500, 501, 736, 1000 };
	char b64[1001];
	for (size_t i = 0; i < sizeof(b64) - 1; i++)
		b64[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64];
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t n = lens[k];
		char *p = strndup(b64, n);
		struct mr_buf out = MR_BUF_INIT, want = MR_BUF_INIT;
		mr_dkim_txt_render("s1.x", NULL, p, &out);
		mr_buf_adds(&want, "s1.x._domainkey\tIN\tTXT\t( \"v=DKIM1; h=sha256; k=rsa; s=email; \"\n\t  \"p=");
		size_t off = 0;
		for (; n - off >= 250; off += 250) {
			mr_buf_add(&want, p + off, 250);
			mr_buf_adds(&want, "\"\n\t  \"");
		}
		mr_buf_adds(&want, p + off);
		mr_buf_adds(&want, "\" ) \n");
		ck_assert_str_eq(out.ptr, want.ptr);
		ck_assert_int_eq(parse_str(out.ptr, out.len, "s1.x", p), 0);
		free(p);
		mr_buf_release(&out);
		mr_buf_release(&want);
	}
	/* an exact multiple of 250 ends with an empty string, as opendkim-genkey writes it */
	struct mr_buf out = MR_BUF_INIT;
	char *p = strndup(b64, 500);
	mr_dkim_txt_render("a", "example.org", p, &out);
	ck_assert_ptr_nonnull(strstr(out.ptr, "\"\n\t  \"\" )  ; ----- DKIM key a for example.org\n"));
	free(p);
	mr_buf_release(&out);
}
END_TEST

START_TEST(dkim_txt_reads_other_spellings)
{
	/* one line, no parentheses, no comment, no final newline */
	PARSE_OK("sel._domainkey IN TXT \"v=DKIM1; k=rsa; p=ABCD\"", "sel", "ABCD");
	/* any case for IN and TXT, CRLF ends, comments inside the parentheses */
	PARSE_OK("; made by hand\r\n\r\nsel._DomainKey in txt (\r\n  \"v=DKIM1; p=AB\" ; first\r\n"
		 "  \"CD==\" ; second\r\n) ; done\r\n; trailing comment\r\n\r\n",
		 "sel", "ABCD==");
	/* opendkim-genkey -a: the domain appended to the owner name */
	PARSE_OK("2024._domainkey.example.org.\tIN\tTXT\t( \"v=DKIM1; k=rsa; \"\n\t  \"p=QUJD\" )\n", "2024", "QUJD");
	/* white space inside p=, p= not last, no final ';', escapes */
	PARSE_OK("s._domainkey IN TXT \"p = AB CD\\065F GH ; v=DKIM1; n=a\\\"b\\061c\"", "s", "ABCDAFGH");
	PARSE_OK("s._domainkey IN TXT \"k=rsa\\; p=QUJD\" \"\"", "s", "QUJD");
	PARSE_OK("a.b.c._domainkey IN TXT \"p=QUJD;\"", "a.b.c", "QUJD");
}
END_TEST

START_TEST(dkim_txt_refuses_broken_input)
{
	ck_assert_str_eq(parse_why("", 0), "is empty");
	ck_assert_str_eq(parse_why(NULL, 0), "is empty");
	ck_assert_str_eq(PARSE_WHY(" \n\t\n; only a comment\n"), "has no record");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=AB\0CD\""), "contains a NUL byte");
	ck_assert_str_eq(PARSE_WHY("\0"), "contains a NUL byte");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT ( \"v=DKIM1; p=ABCD )"), "has an unterminated quoted string");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT ( \"v=DKIM1; \"p=ABCD\" )"), "has unquoted text inside its ( )");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"v=DKIM1; \"p=ABCD\""), "has text after the record");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT ( \"v=DKIM1;\n p=ABCD\" )"),
			 "has a line break inside a quoted string");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=ABCD\\"), "has an unterminated quoted string");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=ABCD\\99\""), "has a malformed \\DDD escape");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=ABCD\\999\""), "has a malformed \\DDD escape");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT ( \"v=DKIM1; k=rsa\" )"), "has no p= tag");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"v=DKIM1; p=\""), "has an empty p= tag (a revoked key)");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=QUJD; p=QUJD\""), "has two p= tags");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=QU!D\""), "has a p= tag that is not base64");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=QU=D\""), "has a p= tag that is not base64");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=Q===\""), "has a p= tag that is not base64");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"v=DKIM1; junk; p=QUJD\""),
			 "has a tag without '=' in its text");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT ( \"p=QUJD\""), "has '(' without its ')'");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=QUJD\" )"), "has ')' without its '('");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT \"p=QUJD\"\n\"p=QUJD\""), "has text after the record");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT"), "has no quoted string");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN TXT ()"), "has no quoted string");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey IN A 192.0.2.1"), "is not a TXT record");
	ck_assert_str_eq(PARSE_WHY("sel._domainkey TXT \"p=QUJD\""), "has no IN class after the name");
	ck_assert_str_eq(PARSE_WHY("sel._domainkeyX IN TXT \"p=QUJD\""), "does not start with SELECTOR._domainkey");
	ck_assert_str_eq(PARSE_WHY("sel IN TXT \"p=QUJD\""), "does not start with SELECTOR._domainkey");
	ck_assert_str_eq(PARSE_WHY("._domainkey IN TXT \"p=QUJD\""), "has an empty selector");
	ck_assert_str_eq(PARSE_WHY("Sel._domainkey IN TXT \"p=QUJD\""),
			 "has an invalid selector (dot-separated lower-case labels expected)");
	ck_assert_str_eq(PARSE_WHY("a..b._domainkey IN TXT \"p=QUJD\""),
			 "has an invalid selector (dot-separated lower-case labels expected)");
	ck_assert_str_eq(PARSE_WHY("a/b._domainkey IN TXT \"p=QUJD\""),
			 "has an invalid selector (dot-separated lower-case labels expected)");
}
END_TEST

/* Every prefix and every one-byte change of a real file: no crash, outputs consistent. */
START_TEST(dkim_txt_survives_mutations)
{
	struct mr_buf txt = MR_BUF_INIT;
	slurp(DKIM_DIR "sel2.txt", &txt);
	size_t ok = 0;
	for (size_t n = 0; n <= txt.len; n++) {
		/* a copy of exactly n bytes, so that ASan sees any read past the end */
		char *copy = malloc(n ? n : 1);
		memcpy(copy, txt.ptr, n);
		if (parse_str(copy, n, "sel2", NULL) == 0)
			ok++;
		free(copy);
	}
	/* the prefixes from the ')' on parse: ")", ") ", ")  ", ")  ;...", up to the full file */
	const char *close = strstr(txt.ptr, "\" )");
	ck_assert_ptr_nonnull(close);
	ck_assert_uint_eq(ok, txt.len - (size_t)(close + 2 - txt.ptr));
	static const char bytes[] = { '\0', '"', '\\', '(', ')', ';', '\n', '=', ' ', '\xff' };
	char *copy = malloc(txt.len);
	for (size_t i = 0; i < txt.len; i++) {
		for (size_t b = 0; b < sizeof(bytes); b++) {
			memcpy(copy, txt.ptr, txt.len);
			copy[i] = bytes[b];
			parse_str(copy, txt.len, NULL, NULL);
		}
	}
	free(copy);
	mr_buf_release(&txt);
}
END_TEST

START_TEST(dkim_txt_handles_huge_input)
{
	/* a few MB of quoted strings: read in one pass */
	struct mr_buf in = MR_BUF_INIT;
	mr_buf_adds(&in, "big._domainkey IN TXT ( \"p=\"\n");
	for (int i = 0; i < 400000; i++)
		mr_buf_adds(&in, " \"QUJD\"\n");
	mr_buf_adds(&in, ")\n");
	char *sel, *p;
	const char *why;
	ck_assert_int_eq(mr_dkim_txt_parse(in.ptr, in.len, &sel, &p, &why), 0);
	ck_assert_uint_eq(strlen(p), 4u * 400000);
	ck_assert_int_eq(mr_pubkey_bits_b64(p), -1);
	free(sel);
	free(p);
	/* and a few MB of one unterminated string */
	mr_buf_reset(&in);
	mr_buf_adds(&in, "big._domainkey IN TXT \"p=");
	for (int i = 0; i < 1000000; i++)
		mr_buf_adds(&in, "QUJD");
	ck_assert_str_eq(parse_why(in.ptr, in.len), "has an unterminated quoted string");
	mr_buf_release(&in);
}
END_TEST

START_TEST(pubkey_bits_refuses_what_is_not_an_rsa_key)
{
	static const char rsa2048[] =
		"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzjjes/4Fi5fe2IhUZd4QZQiOccZWGdhl8o7UlrtC4Rt+o6E3Y2CR"
		"cfvan9KbwnLmXGDK1XkIHRK+8LuXYT6mvtuQJVeN48OjABqbsFvymnUHqf355GaOolzSizovc7KGlW6KEittPPF+YXc9U+QN"
		"+2Nnj9PqQr9JSSDROmY1/8BFvsDA1gm1unQJ0lPmV6nWTzIhdG1uLFa7bDA2qUK1bLIzAT8zBpsppFyeFSwo5gCfOO9y8rIY"
		"MITaLn3iwZ2blRC5T0mO0HvYT+sVWMRLyR6jdWfL6VZq6oTeB0KDkoE28FvRUTAPRm+auA6Rd6mUBXkcZgUyU3EJq+XoOXmW"
		"1QIDAQAB";
	ck_assert_int_eq(mr_pubkey_bits_b64(rsa2048), 2048);
	/* a P-256 key is no RSA key */
	ck_assert_int_eq(mr_pubkey_bits_b64("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE35of3QCFR6LO8PPhJQB0pqmF2MK2rjSs"
					    "5fRIx5+lFU87v2hze+ipOGwPyHnFzPn4UkcCIz6SAAJKyI8QakJrxw=="),
			 -1);
	char buf[sizeof(rsa2048) + 8];
	snprintf(buf, sizeof(buf), "%sAAAA", rsa2048); /* trailing bytes after the DER */
	ck_assert_int_eq(mr_pubkey_bits_b64(buf), -1);
	snprintf(buf, sizeof(buf), "%.200s", rsa2048); /* truncated */
	ck_assert_int_eq(mr_pubkey_bits_b64(buf), -1);
	snprintf(buf, sizeof(buf), "%s", rsa2048);
	buf[100] = '!';
	ck_assert_int_eq(mr_pubkey_bits_b64(buf), -1);
	ck_assert_int_eq(mr_pubkey_bits_b64(""), -1);
	ck_assert_int_eq(mr_pubkey_bits_b64(NULL), -1);
	ck_assert_int_eq(mr_pubkey_bits_b64("QUJD"), -1);
	ck_assert_int_eq(mr_pubkey_bits_b64("===="), -1);
	ck_assert_int_eq(mr_pubkey_bits_b64("A==="), -1);
	ck_assert_int_eq(mr_pubkey_bits_b64("MIIB IjAN"), -1);
	ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(privkey_bits_reads_both_pem_forms)
{
	struct mr_buf pkcs8 = MR_BUF_INIT, pkcs1 = MR_BUF_INIT, other = MR_BUF_INIT;
	slurp(CERT_DIR "self.key", &pkcs8);
	slurp(CERT_DIR "self-pkcs1.key", &pkcs1);
	ck_assert_ptr_nonnull(strstr(pkcs1.ptr, "BEGIN RSA PRIVATE KEY"));
	char *p8 = NULL, *p1 = NULL;
	ck_assert_int_eq(mr_privkey_bits_pem(pkcs8.ptr, pkcs8.len, &p8), 2048);
	ck_assert_int_eq(mr_privkey_bits_pem(pkcs1.ptr, pkcs1.len, &p1), 2048);
	ck_assert_str_eq(p8, p1);
	ck_assert_int_eq(mr_privkey_bits_pem(pkcs8.ptr, pkcs8.len, NULL), 2048);
	free(p8);
	free(p1);

	/* refused, with no public key handed out and OpenSSL's error queue left empty */
	const char *bad[] = { CERT_DIR "ec.key", CERT_DIR "encrypted.key", CERT_DIR "self.crt", NULL };
	for (int i = 0; bad[i]; i++) {
		slurp(bad[i], &other);
		char *p = (char *)"x";
		ck_assert_msg(mr_privkey_bits_pem(other.ptr, other.len, &p) == -1, "%s accepted", bad[i]);
		ck_assert_ptr_null(p);
		ck_assert_uint_eq(ERR_peek_error(), 0);
	}
	char *p = (char *)"x";
	ck_assert_int_eq(mr_privkey_bits_pem(pkcs8.ptr, pkcs8.len / 2, &p), -1);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(mr_privkey_bits_pem("", 0, NULL), -1);
	ck_assert_int_eq(mr_privkey_bits_pem(NULL, 0, NULL), -1);
	static const char fake[] = "-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n";
	ck_assert_int_eq(mr_privkey_bits_pem(fake, sizeof(fake) - 1, NULL), -1);
	ck_assert_uint_eq(ERR_peek_error(), 0);
	mr_buf_release(&pkcs8);
	mr_buf_release(&pkcs1);
	mr_buf_release(&other);
}
END_TEST

START_TEST(cert_inspect_reads_names_issuer_and_expiry)
{
	struct mr_buf pem = MR_BUF_INIT;
	struct mr_cert_info ci;

	slurp(CERT_DIR "self.crt", &pem);
	ck_assert_int_eq(mr_cert_inspect(pem.ptr, pem.len, &ci), 0);
	ck_assert_str_eq(ci.cn, "mail.example.org");
	ck_assert_str_eq(ci.email, "postmaster@example.org");
	ck_assert_uint_eq(ci.ndns, 3); /* the IP address entry is not a DNS name */
	ck_assert_str_eq(ci.dns[0], "mail.example.org");
	ck_assert_str_eq(ci.dns[1], "smtp.example.org");
	ck_assert_str_eq(ci.dns[2], "imap.example.org");
	ck_assert(ci.self_signed);
	ck_assert_int_eq(ci.not_after, 2110657490); /* Nov 18 21:44:50 2036 GMT */
	mr_cert_info_release(&ci);
	ck_assert_ptr_null(ci.cn);

	slurp(CERT_DIR "leaf.crt", &pem);
	ck_assert_int_eq(mr_cert_inspect(pem.ptr, pem.len, &ci), 0);
	ck_assert_str_eq(ci.cn, "www.example.com");
	ck_assert_ptr_null(ci.email);
	ck_assert_uint_eq(ci.ndns, 2);
	ck_assert_str_eq(ci.dns[0], "www.example.com");
	ck_assert_str_eq(ci.dns[1], "example.com");
	ck_assert(!ci.self_signed);
	ck_assert_int_eq(ci.not_after, 1866577491); /* Feb 23 21:44:51 2029 GMT */
	mr_cert_info_release(&ci);

	slurp(CERT_DIR "ca.crt", &pem);
	ck_assert_int_eq(mr_cert_inspect(pem.ptr, pem.len, &ci), 0);
	ck_assert_str_eq(ci.cn, "Test CA");
	ck_assert_uint_eq(ci.ndns, 0);
	ck_assert(ci.self_signed);
	mr_cert_info_release(&ci);

	/* issuer == subject, but signed by another key: not self-signed */
	slurp(CERT_DIR "fake-self.crt", &pem);
	ck_assert_int_eq(mr_cert_inspect(pem.ptr, pem.len, &ci), 0);
	ck_assert_str_eq(ci.cn, "Test CA");
	ck_assert(!ci.self_signed);
	mr_cert_info_release(&ci);

	/* a certificate after a key in the same file */
	struct mr_buf both = MR_BUF_INIT;
	slurp(CERT_DIR "self.key", &both);
	slurp(CERT_DIR "self.crt", &pem);
	mr_buf_add(&both, pem.ptr, pem.len);
	ck_assert_int_eq(mr_cert_inspect(both.ptr, both.len, &ci), 0);
	ck_assert_str_eq(ci.cn, "mail.example.org");
	mr_cert_info_release(&ci);

	ck_assert_int_eq(mr_cert_inspect(pem.ptr, pem.len / 2, &ci), -1);
	ck_assert_ptr_null(ci.cn);
	ck_assert_ptr_null(ci.dns);
	mr_cert_info_release(&ci);
	ck_assert_int_eq(mr_cert_inspect("", 0, &ci), -1);
	ck_assert_int_eq(mr_cert_inspect(NULL, 0, &ci), -1);
	slurp(CERT_DIR "self.key", &pem);
	ck_assert_int_eq(mr_cert_inspect(pem.ptr, pem.len, &ci), -1);
	ck_assert_uint_eq(ERR_peek_error(), 0);
	mr_buf_release(&pem);
	mr_buf_release(&both);
}
END_TEST

static int match(const char *crt, const char *key)
{
	struct mr_buf c = MR_BUF_INIT, k = MR_BUF_INIT;
	char path[512];
	snprintf(path, sizeof(path), CERT_DIR "%s", crt);
	slurp(path, &c);
	snprintf(path, sizeof(path), CERT_DIR "%s", key);
	slurp(path, &k);
	int r = mr_cert_key_match(c.ptr, c.len, k.ptr, k.len);
	mr_buf_release(&c);
	mr_buf_release(&k);
	ck_assert_uint_eq(ERR_peek_error(), 0);
	return r;
}

START_TEST(cert_key_match_detects_a_mismatch)
{
	ck_assert_int_eq(match("self.crt", "self.key"), 1);
	ck_assert_int_eq(match("self.crt", "self-pkcs1.key"), 1);
	ck_assert_int_eq(match("leaf.crt", "leaf.key"), 1);
	ck_assert_int_eq(match("ca.crt", "ca.key"), 1);
	ck_assert_int_eq(match("self.crt", "other.key"), 0);
	ck_assert_int_eq(match("leaf.crt", "ca.key"), 0);
	ck_assert_int_eq(match("fake-self.crt", "ca.key"), 0);
	ck_assert_int_eq(match("fake-self.crt", "other.key"), 1);
	ck_assert_int_eq(match("self.crt", "ec.key"), 0);
	ck_assert_int_eq(match("self.crt", "encrypted.key"), -1);
	ck_assert_int_eq(match("self.key", "self.key"), -1);
	ck_assert_int_eq(match("self.crt", "self.crt"), -1);
	ck_assert_int_eq(mr_cert_key_match("", 0, "", 0), -1);
}
END_TEST

/* `mailrecon dns` prints TXT values this way: any bytes give one well-formed value of them. */
START_TEST(zone_txt_escapes_and_splits)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_zone_txt("", 0, &b);
	ck_assert_str_eq(b.ptr, "\"\"");
	mr_buf_reset(&b);
	const char v[] = "v=DMARC1; rua=\"x\\y\";\x01\n\x7f\xc3\xa9";
	mr_zone_txt(v, sizeof(v) - 1, &b);
	ck_assert_str_eq(b.ptr, "\"v=DMARC1; rua=\\\"x\\\\y\\\";\\001\\010\\127\\195\\169\"");
	/* 255 bytes of data per string, escapes not counted */
	char q[300];
	memset(q, '"', sizeof(q));
	mr_buf_reset(&b);
	mr_zone_txt(q, sizeof(q), &b);
	ck_assert_uint_eq(b.len, 2 + 255 * 2 + 1 + 2 + 45 * 2);
	ck_assert_int_eq(b.ptr[1 + 255 * 2], '"');
	ck_assert_int_eq(b.ptr[2 + 255 * 2], ' ');
	/* the strings concatenate back: a DKIM record through the record reader */
	char p[601];
	for (int i = 0; i < 600; i++)
		p[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64];
	p[600] = '\0';
	struct mr_buf val = MR_BUF_INIT, rec = MR_BUF_INIT;
	mr_buf_addf(&val, "v=DKIM1; k=rsa; p=%s", p);
	mr_buf_adds(&rec, "sel._domainkey\tIN\tTXT\t");
	mr_zone_txt(val.ptr, val.len, &rec);
	char *sel, *pub;
	const char *why;
	ck_assert_msg(mr_dkim_txt_parse(rec.ptr, rec.len, &sel, &pub, &why) == 0, "%s", why);
	ck_assert_str_eq(pub, p);
	free(sel);
	free(pub);
	mr_buf_release(&val);
	mr_buf_release(&rec);
	mr_buf_release(&b);
}
END_TEST

Suite *suite_keys(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("dkim_txt");
	tcase_add_test(tc, dkim_txt_parses_the_documented_layout);
	tcase_add_loop_test(tc, dkim_txt_render_matches_opendkim_genkey, 0, (int)(sizeof(genkey) / sizeof(genkey[0])));
	tcase_add_test(tc, dkim_txt_chunks_like_opendkim_genkey);
	tcase_add_test(tc, dkim_txt_reads_other_spellings);
	tcase_add_test(tc, dkim_txt_refuses_broken_input);
	tcase_add_test(tc, dkim_txt_survives_mutations);
	tcase_add_test(tc, dkim_txt_handles_huge_input);
	tcase_add_test(tc, zone_txt_escapes_and_splits);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("crypto");
	tcase_add_test(tc, pubkey_bits_refuses_what_is_not_an_rsa_key);
	tcase_add_test(tc, privkey_bits_reads_both_pem_forms);
	tcase_add_test(tc, cert_inspect_reads_names_issuer_and_expiry);
	tcase_add_test(tc, cert_key_match_detects_a_mismatch);
	suite_add_tcase(s, tc);
	return s;
}
