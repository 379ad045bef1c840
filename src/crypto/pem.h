/*
 * pem: the PEM readers keys.c and keygen.c share. OpenSSL types, so this header stays inside
 * src/crypto; the public interfaces are keys.h and keygen.h.
 */
#ifndef MR_CRYPTO_PEM_H
#define MR_CRYPTO_PEM_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* The private key or certificate in pem[0..len); NULL when there is none, and for an
 * encrypted key (never a passphrase prompt on the terminal). The caller frees it. */
EVP_PKEY *mr_pem_privkey(const char *pem, size_t len);
X509 *mr_pem_cert(const char *pem, size_t len);

#endif
