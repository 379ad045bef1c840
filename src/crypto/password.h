/*
 * password: checking a clear password against a Dovecot hash, making new hashes, and a
 * cache of positive checks so that planning over thousands of clear passwords stays fast.
 *
 * Clear passwords and hashes are secrets: nothing here prints, logs or returns one (a
 * message names a file, never its content), and every copy of a clear password this
 * module makes is wiped (explicit_bzero) before it is released.
 *
 *   int r = mr_password_verify(hash, clear, strlen(clear));   // 1 match, 0 no, -1 unknown scheme
 *
 *   char *h;
 *   if (mr_password_hash("SHA512-CRYPT", clear, strlen(clear), &h) == 0) { ... free(h); }
 *
 *   struct mr_pwcache *c = mr_pwcache_open(STATE_DIR "/cache", true);
 *   ... mr_pwcache_verify(c, hash, clear, len) for each account ...
 *   if (mr_pwcache_save(c) < 0) warn(mr_pwcache_error(c));
 *   mr_pwcache_free(&c);
 *
 * The verification cache and its threat model
 *
 * Checking a crypt hash costs milliseconds on purpose (SHA512-CRYPT: 5000 rounds; bcrypt,
 * yescrypt: more), so a plan over thousands of desired clear passwords would spend most of
 * its time there on every run.  The cache remembers, across runs, which (hash, password)
 * pairs verified, without storing either: an entry is
 *
 *     HMAC-SHA256(key, hash || '\0' || clear)
 *
 * with a 32-byte random key.  Only positive results are stored (an entry means
 * "verified"); a wrong password is computed again on every run.  Entries not looked up
 * during a run are dropped at its save, so the entry of an old hash or password expires.
 *
 * The cache file alone tells nothing: without the key an entry is indistinguishable from
 * random bytes and cannot be forged.  Someone who has both the key and the cache file can
 * test password guesses against an entry at HMAC speed (billions a second on a GPU)
 * instead of crypt speed, and with write access to both could make a changed password
 * look unchanged to the planner.  That is why both files are root-only (directory 0700,
 * files 0600, owned by the user running mailrecon) in the state directory's cache/, which
 * is never part of the state git repository, and why a key file that is a symbolic link,
 * not a regular file, owned by someone else or readable or writable by group or others is
 * refused: the cache is then not used at all (every check computes), never fatal.
 *
 * Files in DIR:
 *   pwverify.key   32 random bytes (RAND_bytes), created at the first save when allowed
 *   pwverify       "mailrecon-pwverify 1\n", then one HMAC per line, 64 lower-case hex
 * A cache file that is malformed in any way is ignored (treated as empty), never fatal.
 * Both are replaced atomically: a temporary file beside them (O_CREAT|O_EXCL, 0600),
 * written, fsync'd and renamed over the old one.
 */
#ifndef MR_CRYPTO_PASSWORD_H
#define MR_CRYPTO_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/*
 * 1 when the clear password (len bytes; need not be NUL-terminated) matches the stored
 * Dovecot hash, 0 when it does not, -1 when the scheme cannot be verified here or the hash
 * is malformed (CRAM-MD5 data that is not 64 hex digits, a crypt setting libxcrypt refuses,
 * an empty crypt hash).  Thread-safe.
 *
 * Verified: {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}, {MD5-CRYPT}, {CRYPT} and bare
 * crypt(3) hashes ($1$, $5$, $6$, $2a$, $2b$, $2y$, $y$) through libxcrypt;
 * {CRAM-MD5} / {HMAC-MD5} (64 hex digits, either case); {PLAIN} / {CLEAR} / {CLEARTEXT}.
 * Scheme names are case-insensitive, as in Dovecot.  Every comparison is constant-time.
 * A clear password with a NUL byte among its len bytes never matches (0).
 */
int mr_password_verify(const char *hash, const char *clear, size_t len);

/*
 * A new salted hash of the clear password: scheme is "SHA512-CRYPT", "SHA256-CRYPT",
 * "BLF-CRYPT" or "CRAM-MD5" (any case).  *out is a malloc'd "{SCHEME}..." string the
 * caller frees.  Salts come from the OS random source at libxcrypt's default cost.
 * 0, or -1 (*out NULL) for another scheme, a clear password with a NUL byte or a failure
 * of the random source.
 */
int mr_password_hash(const char *scheme, const char *clear, size_t len, char **out);

struct mr_pwcache;

/*
 * A verification cache kept in dir (STATE_DIR/cache); never NULL.  dir may be NULL or may
 * not exist: the cache then lives in memory only (and saving does nothing) unless create
 * is true, in which case the first save creates dir (0700), the key and the cache file
 * (0600).  With create false neither dir nor the key is ever created: the cache file is
 * only rewritten beside a key that already exists.  When dir or the key file cannot be
 * trusted (see above; also a dir that is not a directory of this user closed to group and
 * others) the cache is disabled: mr_pwcache_verify is then exactly mr_password_verify,
 * and mr_pwcache_disabled says why.  A cache is not thread-safe: one per thread.
 */
struct mr_root;
/* dir is below root (util/rootfs.h): every file of the cache is reached without a link. */
struct mr_pwcache *mr_pwcache_open(struct mr_root *root, const char *dir, bool create);

/*
 * mr_password_verify(hash, clear, len), answered from the cache when the pair verified
 * before; a fresh positive result is added.  c may be NULL (no cache).
 */
int mr_pwcache_verify(struct mr_pwcache *c, const char *hash, const char *clear, size_t len);

/*
 * Write the entries used in this run back (dropping the others), only when an entry was
 * added in this run and the cache has a directory to live in.  0 (also when there was
 * nothing to do), or -1 with the reason in mr_pwcache_error.
 */
int mr_pwcache_save(struct mr_pwcache *c);

/* How many mr_pwcache_verify calls were answered by the cache. */
size_t mr_pwcache_hits(const struct mr_pwcache *c);

/* NULL when the cache is in use, else why it is not (a sentence naming the file). */
const char *mr_pwcache_disabled(const struct mr_pwcache *c);

/* Why the last mr_pwcache_save failed; NULL when it did not. */
const char *mr_pwcache_error(const struct mr_pwcache *c);

/* Release the cache, wiping its key; *c becomes NULL (harmless when already NULL). */
void mr_pwcache_free(struct mr_pwcache **c);

#endif
