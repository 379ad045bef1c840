/*
 * pwhash: recognising the password hash formats Dovecot reads.
 *
 * Hashes are secrets: nothing here prints or returns a hash.  The reason strings never
 * include any part of the value.
 */
#ifndef MR_CRYPTO_PWHASH_H
#define MR_CRYPTO_PWHASH_H

#include <stddef.h>

/*
 * The longest hash mailrecon writes or keeps, in bytes.  The real ones are far shorter
 * (SHA512-CRYPT about 120, BLF-CRYPT 60); the bound keeps a dovecot.passwd line well below
 * MR_LINE_MAX (codec/codec.h), so no valid desired state makes the file unreadable.
 */
#define MR_PWHASH_MAX 1024

/*
 * NULL when hash is a form Dovecot accepts in a passwd-file and that is safe in a
 * colon-separated line: "{SCHEME}data" with a known scheme, or a bare crypt(3) hash
 * ($1$, $5$, $6$, $2a$/$2b$/$2y$, $y$), at most MR_PWHASH_MAX bytes.  Otherwise a reason.
 */
const char *mr_pwhash_check(const char *hash);

#endif
