/*
 * pwhash: recognising the password hash formats Dovecot reads.
 *
 * Hashes are secrets: nothing here prints or returns a hash.  The reason strings never
 * include any part of the value.
 */
#ifndef MR_CRYPTO_PWHASH_H
#define MR_CRYPTO_PWHASH_H

/*
 * NULL when hash is a form Dovecot accepts in a passwd-file and that is safe in a
 * colon-separated line: "{SCHEME}data" with a known scheme, or a bare crypt(3) hash
 * ($1$, $5$, $6$, $2a$/$2b$/$2y$, $y$).  Otherwise a reason.
 */
const char *mr_pwhash_check(const char *hash);

#endif
