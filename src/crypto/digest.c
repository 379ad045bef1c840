#include "crypto/digest.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static void to_hex(const unsigned char md[32], char out[MR_SHA256_HEX])
{
	static const char hex[] = "0123456789abcdef";
	for (unsigned int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

void mr_sha256_raw(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void mr_git_blob_id(const void *data, size_t len, unsigned char out[20])
{
	char head[32];
	int n = snprintf(head, sizeof(head), "blob %zu", len);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int m = 0;
	if (!c || !EVP_DigestInit_ex(c, EVP_sha1(), NULL) || !EVP_DigestUpdate(c, head, (size_t)n + 1) ||
	    !EVP_DigestUpdate(c, data, len) || !EVP_DigestFinal_ex(c, out, &m) || m != 20) {
		ERR_clear_error();
		memset(out, 0, 20); /* matches no blob: the caller reads the file instead */
	}
	EVP_MD_CTX_free(c);
}

void mr_sha256_hex(const void *data, size_t len, char out[MR_SHA256_HEX])
{
	unsigned char md[32];
	mr_sha256_raw(data, len, md);
	to_hex(md, out);
}

void mr_hmac_sha256_hex(const void *key, size_t klen, const void *data, size_t len, char out[MR_SHA256_HEX])
{
	unsigned char md[32];
	unsigned int n = 0;
	if (!HMAC(EVP_sha256(), key, (int)klen, data, len, md, &n) || n != 32) {
		ERR_clear_error();
		memset(md, 0, sizeof(md));
	}
	to_hex(md, out);
}
