#include "crypto/keygen.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/keys.h"
#include "crypto/pem.h"
#include "util/xalloc.h"

#define CERT_BITS 2048
#define CERT_DAYS_MAX 36500
#define CN_MAX MR_CERT_CN_MAX
#define HOST_MAX 253
#define EMAIL_MAX MR_CERT_EMAIL_MAX

/* What the self-test signs: any fixed bytes do. */
static const char selftest_msg[] = "mailrecon DKIM key self-test\r\n";

/* ": REASON" of OpenSSL's last error, when it has one; the queue is emptied either way. */
static void add_reason(struct mr_buf *err)
{
	const char *why = ERR_reason_error_string(ERR_peek_last_error());
	if (why)
		mr_buf_addf(err, ": %s", why);
	ERR_clear_error();
}

static void fail(struct mr_buf *err, const char *what)
{
	mr_buf_adds(err, what);
	add_reason(err);
}

/* Free a memory BIO, wiping what it holds (it may hold a private key). */
static void bio_free_wiped(BIO *b)
{
	if (!b)
		return;
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	if (n > 0 && data)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free(b);
}

/*
 * Append what a memory BIO holds to out and free it wiped.  The room is made first, so
 * that out is never reallocated (leaving a copy behind) once the key is in it.
 */
static void bio_move(BIO *b, struct mr_buf *out)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	if (n > 0 && data) {
		mr_buf_grow(out, (size_t)n);
		mr_buf_add(out, data, (size_t)n);
	}
	bio_free_wiped(b);
}

/* The private key as unencrypted PKCS#8 PEM in a fresh BIO (secure heap when there is one). */
static BIO *pkcs8_pem(EVP_PKEY *pk)
{
	BIO *b = BIO_new(BIO_s_secmem());
	if (b && PEM_write_bio_PKCS8PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		bio_free_wiped(b);
		b = NULL;
	}
	return b;
}

static EVP_PKEY *rsa_keygen(int bits, struct mr_buf *err)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (!pk) {
		mr_buf_addf(err, "cannot generate a %d-bit RSA key", bits);
		add_reason(err);
	}
	return pk;
}

/* Base64 (no newlines) of the DER SubjectPublicKeyInfo of pk, or NULL. */
static char *pubkey_b64_of(EVP_PKEY *pk)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pk, &der);
	char *out = NULL;
	if (n > 0) {
		out = xmalloc(4 * (((size_t)n + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)out, der, n);
	}
	OPENSSL_free(der);
	return out;
}

int mr_dkim_generate(int bits, struct mr_buf *private_pem, char **pubkey_b64, struct mr_buf *err)
{
	*pubkey_b64 = NULL;
	if (bits != 1024 && bits != 2048) {
		mr_buf_addf(err, "a DKIM key has 1024 or 2048 bits, not %d", bits);
		return -1;
	}
	EVP_PKEY *pk = rsa_keygen(bits, err);
	if (!pk)
		return -1;
	int r = -1;
	char *p = pubkey_b64_of(pk);
	BIO *pem = p ? pkcs8_pem(pk) : NULL;
	if (!p) {
		fail(err, "cannot encode the DKIM public key");
	} else if (!pem) {
		fail(err, "cannot encode the DKIM private key as PEM");
	} else {
		bio_move(pem, private_pem);
		*pubkey_b64 = p;
		p = NULL;
		r = 0;
	}
	free(p);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return r;
}

static bool host_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.' || c == '_' || c == '*'))
			return false;
	}
	return true;
}

static bool email_ok(const char *s)
{
	size_t n = strlen(s);
	if (n > EMAIL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool add_dns(GENERAL_NAMES *gens, const char *host)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	if (!g || !s || !ASN1_STRING_set(s, host, (int)strlen(host))) {
		GENERAL_NAME_free(g);
		ASN1_IA5STRING_free(s);
		return false;
	}
	GENERAL_NAME_set0_value(g, GEN_DNS, s);
	if (sk_GENERAL_NAME_push(gens, g) <= 0) {
		GENERAL_NAME_free(g);
		return false;
	}
	return true;
}

/* subjectAltName from the names themselves (never through a config string). */
static bool add_san(X509 *x, const char *alias, const char *domain)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	bool ok = gens && add_dns(gens, alias);
	if (ok && domain && *domain && strcasecmp(domain, alias) != 0)
		ok = add_dns(gens, domain);
	ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
	GENERAL_NAMES_free(gens);
	return ok;
}

/* An extension from a fixed value string. */
static bool add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	bool ok = ext && X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

static bool set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	bool ok = bn && BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1;
	if (ok && BN_is_zero(bn))
		ok = BN_one(bn) == 1;
	ASN1_INTEGER *ai = ok ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	ok = ai && X509_set_serialNumber(x, ai) == 1;
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return ok;
}

static bool set_name(X509 *x, const char *alias, const char *email)
{
	X509_NAME *name = X509_NAME_new();
	bool ok = name &&
		  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC, (const unsigned char *)alias, -1, -1,
					     0) == 1;
	if (ok && email && *email)
		ok = X509_NAME_add_entry_by_NID(name, NID_pkcs9_emailAddress, MBSTRING_ASC,
						(const unsigned char *)email, -1, -1, 0) == 1;
	ok = ok && X509_set_subject_name(x, name) == 1 && X509_set_issuer_name(x, name) == 1;
	X509_NAME_free(name);
	return ok;
}

/* Fill in and sign x for pk; NULL, or what failed. */
static const char *build_cert(X509 *x, EVP_PKEY *pk, const char *alias, const char *domain, const char *email,
			      int days)
{
	if (X509_set_version(x, X509_VERSION_3) != 1 || !set_serial(x))
		return "cannot make a certificate serial number";
	if (!set_name(x, alias, email))
		return "cannot set the certificate subject";
	if (!X509_gmtime_adj(X509_getm_notBefore(x), 0) || !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL))
		return "cannot set the certificate validity";
	if (X509_set_pubkey(x, pk) != 1)
		return "cannot set the certificate key";
	if (!add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
	    !add_ext(x, NID_ext_key_usage, "serverAuth") || !add_san(x, alias, domain) ||
	    !add_ext(x, NID_subject_key_identifier, "hash"))
		return "cannot add the certificate extensions";
	if (X509_sign(x, pk, EVP_sha256()) <= 0)
		return "cannot sign the certificate";
	return NULL;
}

int mr_cert_self_signed(const char *alias, const char *domain, const char *email, int days,
			struct mr_buf *cert_pem, struct mr_buf *key_pem, struct mr_buf *err)
{
	if (!alias || !host_ok(alias, CN_MAX)) {
		mr_buf_addf(err, "the certificate name must be a host name of at most %d characters", CN_MAX);
		return -1;
	}
	if (domain && *domain && !host_ok(domain, HOST_MAX)) {
		mr_buf_adds(err, "the certificate domain must be a host name");
		return -1;
	}
	if (email && !email_ok(email)) {
		mr_buf_addf(err, "the certificate e-mail address must be printable ASCII of at most %d characters",
			    EMAIL_MAX);
		return -1;
	}
	if (days < 1 || days > CERT_DAYS_MAX) {
		mr_buf_addf(err, "a certificate is valid for 1 to %d days, not %d", CERT_DAYS_MAX, days);
		return -1;
	}
	EVP_PKEY *pk = rsa_keygen(CERT_BITS, err);
	if (!pk)
		return -1;
	int r = -1;
	X509 *x = X509_new();
	const char *what = x ? build_cert(x, pk, alias, domain, email, days) : "cannot make a certificate";
	BIO *crt = NULL, *key = NULL;
	if (!what) {
		crt = BIO_new(BIO_s_mem());
		if (!crt || PEM_write_bio_X509(crt, x) != 1)
			what = "cannot encode the certificate as PEM";
	}
	if (!what && !(key = pkcs8_pem(pk)))
		what = "cannot encode the certificate key as PEM";
	if (what) {
		fail(err, what);
		bio_free_wiped(crt);
	} else {
		bio_move(crt, cert_pem);
		bio_move(key, key_pem);
		r = 0;
	}
	X509_free(x);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return r;
}

int mr_cert_expires_within(const char *pem, size_t len, int days)
{
	if (days < 0)
		return -1;
	X509 *x = mr_pem_cert(pem, len);
	int r = -1;
	int pday, psec;
	if (x && ASN1_TIME_diff(&pday, &psec, NULL, X509_get0_notAfter(x)) == 1)
		r = (int64_t)pday * 86400 + psec <= (int64_t)days * 86400;
	X509_free(x);
	ERR_clear_error();
	return r;
}

/* The public key of a DKIM "p=" value (already checked by mr_pubkey_bits_b64), or NULL. */
static EVP_PKEY *decode_pubkey(const char *b64)
{
	size_t n = strlen(b64);
	if (n < 4 || n > INT_MAX)
		return NULL;
	unsigned char *der = xmalloc(n / 4 * 3);
	int dn = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)n);
	EVP_PKEY *pk = NULL;
	if (dn > 0) {
		/* EVP_DecodeBlock counts the bytes of the padding too */
		dn -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
		const unsigned char *p = der;
		pk = d2i_PUBKEY(NULL, &p, dn);
		if (pk && p != der + dn) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
	}
	free(der);
	return pk;
}

/* RSA PKCS#1 v1.5 with SHA-256 (DKIM's rsa-sha256) on a fresh context. */
static EVP_MD_CTX *rsa_sha256_ctx(EVP_PKEY *pk, bool sign)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = m ? sign ? EVP_DigestSignInit_ex(m, &pctx, "SHA256", NULL, NULL, pk, NULL)
			  : EVP_DigestVerifyInit_ex(m, &pctx, "SHA256", NULL, NULL, pk, NULL)
		   : 0;
	if (ok != 1 || !pctx || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
		EVP_MD_CTX_free(m);
		return NULL;
	}
	return m;
}

/* 0 with a fresh signature in *sig, or -1. */
static int selftest_sign(EVP_PKEY *priv, unsigned char **sig, size_t *siglen)
{
	const unsigned char *msg = (const unsigned char *)selftest_msg;
	size_t mlen = sizeof(selftest_msg) - 1;
	*sig = NULL;
	EVP_MD_CTX *m = rsa_sha256_ctx(priv, true);
	size_t n = 0;
	int r = -1;
	if (m && EVP_DigestSign(m, NULL, &n, msg, mlen) == 1 && n > 0) {
		*sig = xmalloc(n);
		if (EVP_DigestSign(m, *sig, &n, msg, mlen) == 1) {
			*siglen = n;
			r = 0;
		} else {
			free(*sig);
			*sig = NULL;
		}
	}
	EVP_MD_CTX_free(m);
	return r;
}

int mr_dkim_sign_verify_selftest(const char *private_pem, size_t len, const char *pubkey_b64)
{
	int r = -1;
	EVP_PKEY *priv = mr_pem_privkey(private_pem, len);
	EVP_PKEY *pub = priv && mr_pubkey_bits_b64(pubkey_b64) > 0 ? decode_pubkey(pubkey_b64) : NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	if (pub && EVP_PKEY_is_a(priv, "RSA") && selftest_sign(priv, &sig, &siglen) == 0) {
		EVP_MD_CTX *m = rsa_sha256_ctx(pub, false);
		if (m)
			/* any failure to verify (a signature of another length, too) is "another key" */
			r = EVP_DigestVerify(m, sig, siglen, (const unsigned char *)selftest_msg,
					     sizeof(selftest_msg) - 1) == 1;
		EVP_MD_CTX_free(m);
	}
	free(sig);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
	ERR_clear_error();
	return r;
}
