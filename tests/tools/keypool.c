/*
 * keypool: a test-only stand-in for OpenSSL's RSA key generation, preloaded into mailrecon
 * (LD_PRELOAD) by tests/cli/crash.sh. It is not linked into mailrecon and nothing of it is
 * installed.
 *
 * Why: the crash test's 'examples' scenario applies examples/hosting on a new server a few
 * hundred times (a crash at every step, then the recovery), and every one of those applies
 * generates two RSA 2048 keys (alice's DKIM key and the self-signed certificate) and two
 * RSA 1024 keys: about 0.4 s of CPU per apply, most of that test's time, spent on finding
 * primes, which is not what the crash test is about. Every other step of making a key (the
 * PEM and the DKIM record of mailrecon's own code, the staged 0600 files, the journal)
 * still runs; tests/unit/test_keygen.c, tests/cli/apply.sh and the end-to-end tests make
 * real keys.
 *
 * EVP_PKEY_Q_keygen(ctx, propq, "RSA", bits) returns a key of that size read from
 * $MR_TEST_KEYPOOL/rsa-BITS-N.pem (N from 1 to the number of keys there): the first call of
 * a process takes a key at random, each next call the next one, so one process never gets
 * the same key twice and two runs get different keys unless the draw repeats (1 in the
 * pool's size): a key file and its DKIM record from two runs do not match, which the crash
 * test checks. Any other call (another type, a size without a pool, MR_TEST_KEYPOOL unset,
 * an unreadable key) goes to the real function.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

typedef EVP_PKEY *keygen_fn(OSSL_LIB_CTX *, const char *, const char *, ...);

static EVP_PKEY *from_pool(size_t bits)
{
	static unsigned next;
	static int started;
	const char *dir = getenv("MR_TEST_KEYPOOL");
	if (!dir || !*dir)
		return NULL;
	char path[4096];
	unsigned n = 0;
	for (;;) { /* the pool's size for these bits: rsa-BITS-1.pem, rsa-BITS-2.pem, ... */
		snprintf(path, sizeof(path), "%s/rsa-%zu-%u.pem", dir, bits, n + 1);
		if (access(path, R_OK) != 0)
			break;
		n++;
	}
	if (n == 0)
		return NULL;
	if (!started) {
		if (getrandom(&next, sizeof(next), 0) != (ssize_t)sizeof(next))
			next = (unsigned)getpid();
		started = 1;
	}
	snprintf(path, sizeof(path), "%s/rsa-%zu-%u.pem", dir, bits, next++ % n + 1);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	EVP_PKEY *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pk && (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA || EVP_PKEY_get_bits(pk) != (int)bits)) {
		fprintf(stderr, "keypool: %s is not an RSA %zu key\n", path, bits);
		abort();
	}
	return pk;
}

EVP_PKEY *EVP_PKEY_Q_keygen(OSSL_LIB_CTX *libctx, const char *propq, const char *type, ...)
{
	keygen_fn *real = (keygen_fn *)dlsym(RTLD_NEXT, "EVP_PKEY_Q_keygen");
	va_list ap;
	va_start(ap, type);
	EVP_PKEY *pk = NULL;
	if (type && strcmp(type, "RSA") == 0) { /* the only type that takes a size_t */
		size_t bits = va_arg(ap, size_t);
		pk = from_pool(bits);
		if (!pk)
			pk = real(libctx, propq, type, bits);
	} else if (type && (strcmp(type, "EC") == 0 || strcmp(type, "SM2") == 0)) { /* a curve name */
		const char *curve = va_arg(ap, const char *);
		pk = real(libctx, propq, type, curve);
	} else { /* X25519, X448, ED25519, ED448: nothing more */
		pk = real(libctx, propq, type);
	}
	va_end(ap);
	return pk;
}
