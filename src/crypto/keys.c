#include "crypto/keys.h"
#include "crypto/pem.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/xalloc.h"

/* Longer base64 is no DKIM key (a 16384-bit RSA key is about 2,800 characters). */
#define B64_MAX 16384

/* Refuse encrypted keys instead of asking for a passphrase on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict base64 (RFC 4648 alphabet, padded, no white space) into a fresh buffer of *outlen
 * bytes; NULL when malformed.
 */
static unsigned char *b64_decode(const char *s, size_t n, size_t *outlen)
{
	if (n == 0 || n % 4 != 0)
		return NULL;
	size_t pad = 0;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	unsigned char *out = xmalloc(n / 4 * 3);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		unsigned v = 0;
		bool last = i + 4 == n;
		for (size_t j = 0; j < 4; j++) {
			int d;
			if (last && j >= 4 - pad)
				d = 0;
			else if ((d = b64_value((unsigned char)s[i + j])) < 0) {
				free(out);
				return NULL;
			}
			v = v << 6 | (unsigned)d;
		}
		out[o++] = (unsigned char)(v >> 16);
		if (!last || pad < 2)
			out[o++] = (unsigned char)(v >> 8);
		if (!last || pad < 1)
			out[o++] = (unsigned char)v;
	}
	*outlen = o;
	return out;
}

static char *b64_encode(const unsigned char *der, int n)
{
	size_t cap = 4 * (((size_t)n + 2) / 3) + 1;
	char *out = xmalloc(cap);
	EVP_EncodeBlock((unsigned char *)out, der, n);
	return out;
}

static int rsa_bits(const EVP_PKEY *pk)
{
	if (!pk || !EVP_PKEY_is_a(pk, "RSA"))
		return -1;
	int bits = EVP_PKEY_get_bits(pk);
	return bits > 0 ? bits : -1;
}

int mr_pubkey_bits_b64(const char *b64)
{
	if (!b64)
		return -1;
	size_t n = strnlen(b64, B64_MAX + 1);
	if (n > B64_MAX)
		return -1;
	size_t dlen;
	unsigned char *der = b64_decode(b64, n, &dlen);
	if (!der)
		return -1;
	const unsigned char *p = der;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)dlen);
	int bits = -1;
	if (pk && p == der + dlen)
		bits = rsa_bits(pk);
	EVP_PKEY_free(pk);
	free(der);
	ERR_clear_error();
	return bits;
}

static BIO *mem_bio(const char *pem, size_t len)
{
	if (!pem || len > INT_MAX)
		return NULL;
	return BIO_new_mem_buf(pem, (int)len);
}

EVP_PKEY *mr_pem_privkey(const char *pem, size_t len)
{
	BIO *bio = mem_bio(pem, len);
	if (!bio)
		return NULL;
	EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	return pk;
}

X509 *mr_pem_cert(const char *pem, size_t len)
{
	BIO *bio = mem_bio(pem, len);
	if (!bio)
		return NULL;
	X509 *x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	return x;
}

int mr_privkey_bits_pem(const char *pem, size_t len, char **pubkey_b64)
{
	if (pubkey_b64)
		*pubkey_b64 = NULL;
	EVP_PKEY *pk = mr_pem_privkey(pem, len);
	int bits = rsa_bits(pk);
	if (bits > 0 && pubkey_b64) {
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(pk, &der);
		if (n > 0)
			*pubkey_b64 = b64_encode(der, n);
		else
			bits = -1;
		OPENSSL_free(der);
	}
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return bits;
}

/* A name entry as a fresh UTF-8 string; *ok = false when it cannot be converted safely. */
static char *name_entry(const X509_NAME *name, int nid, bool *ok)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	if (i < 0)
		return NULL;
	const ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	unsigned char *utf8 = NULL;
	int n = data ? ASN1_STRING_to_UTF8(&utf8, data) : -1;
	char *s = NULL;
	if (n < 0 || memchr(utf8, '\0', (size_t)n))
		*ok = false;
	else
		s = xstrndup((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	return s;
}

static bool san_dns(const X509 *x, struct mr_cert_info *out)
{
	int crit = -1;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (!gens)
		return crit == -1; /* -1: absent; -2: repeated; otherwise undecodable */
	bool ok = true;
	int n = sk_GENERAL_NAME_num(gens);
	if (n > 0)
		out->dns = xcalloc((size_t)n, sizeof(*out->dns));
	for (int i = 0; i < n && ok; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
		int len = ASN1_STRING_length(g->d.dNSName);
		if (len < 0 || (len > 0 && memchr(d, '\0', (size_t)len))) {
			ok = false;
			break;
		}
		out->dns[out->ndns++] = xstrndup((const char *)d, (size_t)len);
	}
	GENERAL_NAMES_free(gens);
	return ok;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int mr_cert_inspect(const char *pem, size_t len, struct mr_cert_info *out)
{
	memset(out, 0, sizeof(*out));
	X509 *x = mr_pem_cert(pem, len);
	if (!x) {
		ERR_clear_error();
		return -1;
	}
	bool ok = true;
	const X509_NAME *subj = X509_get_subject_name(x);
	out->cn = name_entry(subj, NID_commonName, &ok);
	out->email = name_entry(subj, NID_pkcs9_emailAddress, &ok);
	if (ok)
		ok = san_dns(x, out);
	struct tm tm;
	if (ok && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		out->not_after = days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
				 tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	else
		ok = false;
	if (ok && X509_NAME_cmp(X509_get_issuer_name(x), subj) == 0) {
		EVP_PKEY *pk = X509_get0_pubkey(x);
		out->self_signed = pk && X509_verify(x, pk) == 1;
	}
	X509_free(x);
	ERR_clear_error();
	if (!ok) {
		mr_cert_info_release(out);
		return -1;
	}
	return 0;
}

void mr_cert_info_release(struct mr_cert_info *ci)
{
	free(ci->cn);
	free(ci->email);
	for (size_t i = 0; i < ci->ndns; i++)
		free(ci->dns[i]);
	free(ci->dns);
	memset(ci, 0, sizeof(*ci));
}

bool mr_pem_has_private_key(const char *data, size_t len)
{
	static const char mark[] = "PRIVATE KEY-----";
	const size_t ml = sizeof(mark) - 1;
	for (const char *p = data, *end = data + len; p && (size_t)(end - p) >= ml;) {
		p = memmem(p, (size_t)(end - p), "-----BEGIN ", 11);
		if (!p)
			break;
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (n >= ml && memmem(p, n, mark, ml))
			return true;
		p += 11;
	}
	return false;
}

const char *mr_cert_pair_check(const char *cert, size_t clen, const char *key, size_t klen)
{
	if (mr_pem_has_private_key(cert, clen))
		return "the certificate file holds a private key";
	struct mr_cert_info ci;
	if (mr_cert_inspect(cert, clen, &ci) < 0)
		return "the certificate file is not a PEM X.509 certificate";
	mr_cert_info_release(&ci);
	EVP_PKEY *k = mr_pem_privkey(key, klen);
	EVP_PKEY_free(k);
	ERR_clear_error();
	if (!k)
		return "the key file is not a PEM private key (an encrypted key is not read)";
	if (mr_cert_key_match(cert, clen, key, klen) != 1)
		return "the key is not the key of the certificate";
	return NULL;
}

int mr_cert_key_match(const char *cert_pem, size_t clen, const char *key_pem, size_t klen)
{
	int r = -1;
	X509 *x = mr_pem_cert(cert_pem, clen);
	EVP_PKEY *key = x ? mr_pem_privkey(key_pem, klen) : NULL;
	EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
	if (key && pub) {
		int eq = EVP_PKEY_eq(pub, key);
		r = eq == 1 ? 1 : eq == 0 || eq == -1 ? 0 : -1; /* -1: other key types; -2: cannot compare */
	}
	EVP_PKEY_free(key);
	X509_free(x);
	ERR_clear_error();
	return r;
}
