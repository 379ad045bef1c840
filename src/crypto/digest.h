/* digest: SHA-256 of bytes and of files, as lower-case hex, for plan-file fingerprints. */
#ifndef MR_CRYPTO_DIGEST_H
#define MR_CRYPTO_DIGEST_H

#include <stddef.h>

#define MR_SHA256_HEX 65 /* 64 hex digits and a NUL */

void mr_sha256_hex(const void *data, size_t len, char out[MR_SHA256_HEX]);
void mr_sha256_raw(const void *data, size_t len, unsigned char out[32]);
/* The id Git gives these bytes as a blob: SHA-1 of "blob LEN\0" and the bytes. */
void mr_git_blob_id(const void *data, size_t len, unsigned char out[20]);

/* HMAC-SHA256 of data under key, as hex (plan files pin secrets this way: a guessable
 * password cannot be found from its plain hash). */
void mr_hmac_sha256_hex(const void *key, size_t klen, const void *data, size_t len, char out[MR_SHA256_HEX]);

#endif
