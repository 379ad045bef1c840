/*
 * keys: what mailrecon needs to know about DKIM keys and TLS certificates.
 *
 * Key sizes, the DKIM public key a private key implies, and the names, issuer and expiry
 * of a certificate; nothing here writes, prints or logs key material.  Every function
 * leaves OpenSSL's error queue empty when it returns.
 *
 *   char *p;
 *   int bits = mr_privkey_bits_pem(pem, len, &p);   // -1: not an RSA private key
 *   if (bits > 0 && mr_pubkey_bits_b64(txt_p) == bits && strcmp(p, txt_p) == 0) ...
 *   free(p);
 */
#ifndef MR_CRYPTO_KEYS_H
#define MR_CRYPTO_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The size in bits of the RSA public key in b64, the base64 of a DER SubjectPublicKeyInfo
 * (the value of a DKIM "p=" tag, without white space), or -1 when it is not one.
 */
int mr_pubkey_bits_b64(const char *b64);

/*
 * The size in bits of the RSA private key in a PEM buffer ("BEGIN PRIVATE KEY" PKCS#8 or
 * "BEGIN RSA PRIVATE KEY" PKCS#1; an encrypted key is refused, never prompted for), or -1.
 * When pubkey_b64 is not NULL and the key is read, *pubkey_b64 is a freshly allocated
 * base64 string (no newlines) of the DER SubjectPublicKeyInfo of its public half: what
 * the DKIM "p=" tag should be.  On failure *pubkey_b64 is NULL.
 */
int mr_privkey_bits_pem(const char *pem, size_t len, char **pubkey_b64);

struct mr_cert_info {
	char *cn;          /* subject commonName (UTF-8), NULL if none */
	char *email;       /* subject emailAddress, NULL if none */
	char **dns;        /* subjectAltName dNSName entries, in order */
	size_t ndns;
	bool self_signed;  /* issuer == subject and the signature verifies with its own key */
	int64_t not_after; /* unix time */
};

/*
 * Read the first certificate of a PEM buffer into *out (freshly allocated strings).
 * 0, or -1 when there is no readable certificate (out is then zeroed: releasing it is
 * harmless).  A name with an embedded NUL byte makes the certificate unreadable.
 */
int mr_cert_inspect(const char *pem, size_t len, struct mr_cert_info *out);
void mr_cert_info_release(struct mr_cert_info *ci);

/*
 * 1 when the PEM private key is the key of the PEM certificate, 0 when it is not, -1
 * when either cannot be read.
 */
int mr_cert_key_match(const char *cert_pem, size_t clen, const char *key_pem, size_t klen);

/*
 * Whether data holds a private key in PEM form (any "-----BEGIN ... PRIVATE KEY-----"
 * block: PKCS#1, PKCS#8, encrypted, EC, OpenSSH).  What holds one is never committed.
 */
bool mr_pem_has_private_key(const char *data, size_t len);

/*
 * Check a certificate and its key given by a desired state before they are copied or
 * committed: NULL when cert is a PEM X.509 certificate holding no private key and key is a
 * PEM private key that is the certificate's; otherwise a short reason (never quoting the
 * content).
 */
const char *mr_cert_pair_check(const char *cert, size_t clen, const char *key, size_t klen);

#endif
