/*
 * keygen: new DKIM keys and self-signed TLS certificates, and the checks apply runs on them.
 *
 * Everything here makes or reads secrets: nothing prints, logs or returns key material in
 * a message, every temporary copy of a private key this module makes is wiped before it is
 * released, and every function leaves OpenSSL's error queue empty when it returns.
 * Private keys are unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), as
 * opendkim-genkey and `openssl req -noenc` write them; the caller stores them 0600.
 *
 *   struct mr_buf key = MR_BUF_INIT, err = MR_BUF_INIT;
 *   char *p;
 *   if (mr_dkim_generate(2048, &key, &p, &err) == 0) {
 *           mr_dkim_txt_render(selector, domain, p, &txt);        // codec/dkim_txt.h
 *           ... write key.ptr (0600) and txt ...
 *           free(p);
 *   }
 *   if (key.ptr)
 *           explicit_bzero(key.ptr, key.cap);
 *   mr_buf_release(&key);
 *
 *   if (mr_cert_expires_within(pem, len, 30) != 0)   // 1: due, -1: unreadable
 *           mr_cert_self_signed(alias, domain, postmaster, 365, &crt, &key, &err);
 */
#ifndef MR_CRYPTO_KEYGEN_H
#define MR_CRYPTO_KEYGEN_H

#include <stddef.h>

#include "util/buf.h"

/*
 * A new RSA key of `bits` bits (1024 or 2048; anything else is refused) with public
 * exponent 65537.  On success 0: the private key is appended to private_pem as
 * unencrypted PKCS#8 PEM, and *pubkey_b64 is a freshly allocated base64 string (no
 * newlines) of the DER SubjectPublicKeyInfo of its public half: the DKIM "p=" value that
 * mr_dkim_txt_render takes.  On failure -1, a reason appended to err, private_pem
 * untouched and *pubkey_b64 NULL.
 */
int mr_dkim_generate(int bits, struct mr_buf *private_pem, char **pubkey_b64, struct mr_buf *err);

/*
 * A new RSA 2048 key and a self-signed X.509 v3 certificate for it, signed with SHA-256:
 *   subject = issuer = CN=alias (+ emailAddress=email when email is not NULL or empty),
 *   serial a random positive number of at most 128 bits, valid from now for `days` days,
 *   subjectAltName DNS:alias, DNS:domain (once when equal, ignoring case; domain may be
 *   NULL), basicConstraints critical CA:FALSE, keyUsage critical digitalSignature +
 *   keyEncipherment, extendedKeyUsage serverAuth, subjectKeyIdentifier (SHA-1 of the key).
 * alias and domain must be host names (ASCII letters, digits, '-', '.', '_', '*'; alias at
 * most 64 characters, the longest common name there is), email printable ASCII without
 * white space (at most 128), days 1 to 36500.
 * On success 0, the certificate appended to cert_pem and the key (PKCS#8 PEM) to key_pem.
 * On failure -1, a reason appended to err and both outputs untouched.
 */
#define MR_CERT_CN_MAX 64     /* ub-common-name (RFC 5280): the longest alias */
#define MR_CERT_EMAIL_MAX 128 /* the longest email */
int mr_cert_self_signed(const char *alias, const char *domain, const char *email, int days,
			struct mr_buf *cert_pem, struct mr_buf *key_pem, struct mr_buf *err);

/*
 * Whether the first certificate of a PEM buffer is due for renewal: 1 when its notAfter
 * is at most `days` days from now (or already past), 0 when it is later, -1 when there is
 * no readable certificate or days is negative.
 */
int mr_cert_expires_within(const char *pem, size_t len, int days);

/*
 * Prove that a private key (PEM, PKCS#8 or PKCS#1, unencrypted) and a DKIM "p=" value
 * (base64 DER SubjectPublicKeyInfo, no white space) are halves of the same RSA key: a fixed
 * message is signed with the private key (RSA PKCS#1 v1.5 with SHA-256, as DKIM's
 * rsa-sha256) and the signature verified with the public key.  1 when it verifies, 0 when
 * it does not (another key), -1 when either key cannot be read or is not RSA, or signing
 * fails.
 */
int mr_dkim_sign_verify_selftest(const char *private_pem, size_t len, const char *pubkey_b64);

#endif
