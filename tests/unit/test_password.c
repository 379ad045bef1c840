#include "crypto/password.h"
#include "tests.h"
#include "util/rootfs.h"

#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"

/*
 * Hashes and passwords are secrets even in tests: a failure names the case and the
 * numbers, never a hash or a password (no ck_assert_str_eq on them).
 */
#define EXPECT(expr, want, name)                                                             \
	do {                                                                                 \
		int got_ = (expr);                                                           \
		ck_assert_msg(got_ == (want), "%s: got %d, want %d", (name), got_, (want)); \
	} while (0)

#define VERIFY(hash, clear, want, name) EXPECT(mr_password_verify((hash), (clear), strlen(clear)), (want), (name))

#define DOVEADM "/usr/bin/doveadm"

extern char **environ;

/* doveadm pw -s CRAM-MD5 (shared/reference/test-vectors.md) */
static const struct {
	const char *name, *clear, *hash;
} cram_known[] = {
	{ "cram test", "test", "{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6" },
	{ "cram Secr3t!", "Secr3t!", "{CRAM-MD5}ae16435de5c66bd79e7a1d616cda8454de4f30e0b3ef4c687d8aa62236539367" },
	{ "cram empty", "", "{CRAM-MD5}00747cf2ffaf11c5ea4a64979c3901fc1d20dee13f480bb598f7d8575b23e61b" },
};

/* doveadm pw -s SHA512-CRYPT -p test */
static const char sha512_test[] =
	"{SHA512-CRYPT}$6$ahQr9koTM6fcokGS$daAuycRAjlwaanwmV2h2T0vyO..54CyD3K7mSZsvW8L.8qZwJI6EKDdhs5ZLnd4RLdn1zy01DMAr.1zeOm1TP0";

static const char *const hash_schemes[] = { "SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "CRAM-MD5", NULL };

START_TEST(cram_md5_known_answers)
{
	for (size_t i = 0; i < sizeof(cram_known) / sizeof(cram_known[0]); i++) {
		char *h = NULL;
		const char *clear = cram_known[i].clear;
		EXPECT(mr_password_hash("CRAM-MD5", clear, strlen(clear), &h), 0, cram_known[i].name);
		EXPECT(strcmp(h, cram_known[i].hash) == 0, 1, cram_known[i].name);
		free(h);
		VERIFY(cram_known[i].hash, clear, 1, cram_known[i].name);
		VERIFY(cram_known[i].hash, "wrong", 0, cram_known[i].name);
	}
	/* upper-case hex, the HMAC-MD5 alias, a lower-case scheme name */
	VERIFY("{CRAM-MD5}E02D374FDE0DC75A17A557039A3A5338C7743304777DCCD376F332BEE68D2CF6", "test", 1, "upper-case hex");
	VERIFY("{HMAC-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6", "test", 1, "HMAC-MD5 alias");
	VERIFY("{cram-md5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6", "test", 1, "lower-case scheme");
	/* malformed: not 64 hex digits */
	VERIFY("{CRAM-MD5}e02d374fde0dc75a", "test", -1, "short cram");
	VERIFY("{CRAM-MD5}g02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6", "test", -1, "non-hex cram");
}
END_TEST

START_TEST(sha512_crypt_known_hash)
{
	VERIFY(sha512_test, "test", 1, "sha512 test");
	VERIFY(sha512_test, "Test", 0, "sha512 Test");
	VERIFY(sha512_test, "", 0, "sha512 empty");
	/* the same hash bare and under {CRYPT} */
	VERIFY(strchr(sha512_test, '}') + 1, "test", 1, "sha512 bare");
	VERIFY(strchr(sha512_test, '}') + 1, "Test", 0, "sha512 bare Test");
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_addf(&b, "{CRYPT}%s", strchr(sha512_test, '}') + 1);
	VERIFY(b.ptr, "test", 1, "sha512 under CRYPT");
	mr_buf_release(&b);
}
END_TEST

/* A crypt(3) hash of clear with a fresh setting of prefix, made here by libxcrypt. */
static char *make_crypt(const char *prefix, const char *clear)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	ck_assert_msg(crypt_gensalt_rn(prefix, 0, NULL, 0, setting, (int)sizeof(setting)) != NULL,
		      "gensalt for %s", prefix);
	struct crypt_data cd;
	memset(&cd, 0, sizeof(cd));
	const char *h = crypt_rn(clear, setting, &cd, (int)sizeof(cd));
	ck_assert_msg(h != NULL && h[0] != '*', "crypt_rn for %s", prefix);
	char *res = strdup(h);
	explicit_bzero(&cd, sizeof(cd));
	return res;
}

START_TEST(crypt_hashes_made_now_verify)
{
	static const struct {
		const char *prefix, *scheme;
	} kinds[] = {
		{ "$1$", "MD5-CRYPT" }, { "$5$", "SHA256-CRYPT" }, { "$6$", "SHA512-CRYPT" },
		{ "$2b$", "BLF-CRYPT" }, { "$2a$", "BLF-CRYPT" }, { "$2y$", "BLF-CRYPT" }, { "$y$", "CRYPT" },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char *h = make_crypt(kinds[i].prefix, "s3cret pass");
		VERIFY(h, "s3cret pass", 1, kinds[i].prefix);
		VERIFY(h, "s3cret pasS", 0, kinds[i].prefix);
		struct mr_buf b = MR_BUF_INIT;
		mr_buf_addf(&b, "{%s}%s", kinds[i].scheme, h);
		VERIFY(b.ptr, "s3cret pass", 1, kinds[i].scheme);
		VERIFY(b.ptr, "s3cret pas", 0, kinds[i].scheme);
		mr_buf_release(&b);
		free(h);
	}
}
END_TEST

START_TEST(plain_schemes)
{
	VERIFY("{PLAIN}secret", "secret", 1, "PLAIN");
	VERIFY("{PLAIN}secret", "Secret", 0, "PLAIN case");
	VERIFY("{PLAIN}secret", "secret2", 0, "PLAIN longer");
	VERIFY("{PLAIN}secret", "secre", 0, "PLAIN shorter");
	VERIFY("{CLEAR}secret", "secret", 1, "CLEAR");
	VERIFY("{CLEARTEXT}secret", "secret", 1, "CLEARTEXT");
	VERIFY("{plain}secret", "secret", 1, "lower-case plain");
	VERIFY("{PLAIN}", "", 1, "PLAIN empty");
	/* only len bytes count: the clear password need not be NUL-terminated */
	EXPECT(mr_password_verify("{PLAIN}sec", "secret", 3), 1, "PLAIN prefix by len");
}
END_TEST

START_TEST(unsupported_schemes)
{
	VERIFY("{SSHA512}aGVsbG8=", "hello", -1, "SSHA512");
	VERIFY("{SHA256}aGVsbG8=", "hello", -1, "SHA256");
	VERIFY("{ROT13}frperg", "secret", -1, "ROT13");
	VERIFY("{PLAIN-TRUNC}secret", "secret", -1, "PLAIN-TRUNC");
	VERIFY("{PLAIN", "secret", -1, "no closing brace");
	VERIFY("hunter2", "hunter2", -1, "bare word");
	VERIFY("$7$CU..../....abc", "x", -1, "scrypt");
	VERIFY("", "", -1, "empty hash");
	VERIFY("{CRYPT}", "", -1, "empty crypt");
	char *h = (char *)1;
	EXPECT(mr_password_hash("SSHA512", "x", 1, &h), -1, "hash SSHA512");
	EXPECT(h == NULL, 1, "hash SSHA512 out");
	EXPECT(mr_password_hash("MD5-CRYPT", "x", 1, &h), -1, "hash MD5-CRYPT");
}
END_TEST

START_TEST(nul_in_clear_never_matches)
{
	/* "test\0x": crypt(3) alone would stop at the NUL and say yes */
	static const char clear[] = "test\0x";
	size_t len = sizeof(clear) - 1;
	EXPECT(mr_password_verify(sha512_test, clear, len), 0, "nul sha512");
	EXPECT(mr_password_verify(cram_known[0].hash, clear, len), 0, "nul cram");
	EXPECT(mr_password_verify("{PLAIN}test", clear, len), 0, "nul plain");
	EXPECT(mr_password_verify("{PLAIN}test", clear, 5), 0, "nul plain at end");
	char *h = NULL;
	EXPECT(mr_password_verify(strchr(sha512_test, '}') + 1, clear, len), 0, "nul bare");
	for (int i = 0; hash_schemes[i]; i++) {
		EXPECT(mr_password_hash(hash_schemes[i], clear, len, &h), -1, hash_schemes[i]);
		EXPECT(h == NULL, 1, hash_schemes[i]);
	}
	struct mr_pwcache *c = mr_pwcache_open(NULL, NULL, false);
	EXPECT(mr_pwcache_verify(c, sha512_test, clear, len), 0, "nul cache");
	EXPECT(mr_pwcache_verify(c, sha512_test, clear, len), 0, "nul cache again");
	EXPECT((int)mr_pwcache_hits(c), 0, "nul cache hits");
	mr_pwcache_free(&c);
}
END_TEST

START_TEST(hash_round_trip)
{
	static const char longpw[] = "a password that is longer than one MD5 block of sixty-four bytes, surely";
	const char *clears[] = { "round trip", "", longpw, NULL };
	for (int i = 0; hash_schemes[i]; i++) {
		for (int j = 0; clears[j]; j++) {
			char *h = NULL;
			EXPECT(mr_password_hash(hash_schemes[i], clears[j], strlen(clears[j]), &h), 0, hash_schemes[i]);
			ck_assert_ptr_nonnull(h);
			EXPECT(h[0] == '{' && strncmp(h + 1, hash_schemes[i], strlen(hash_schemes[i])) == 0 &&
				       h[strlen(hash_schemes[i]) + 1] == '}',
			       1, hash_schemes[i]);
			VERIFY(h, clears[j], 1, hash_schemes[i]);
			VERIFY(h, "wrong", 0, hash_schemes[i]);
			free(h);
		}
	}
	/* scheme names are case-insensitive; the output uses Dovecot's spelling */
	char *h = NULL;
	EXPECT(mr_password_hash("sha256-crypt", "x", 1, &h), 0, "lower-case scheme");
	EXPECT(strncmp(h, "{SHA256-CRYPT}$5$", 17) == 0, 1, "lower-case scheme prefix");
	free(h);
}
END_TEST

START_TEST(hashes_are_salted)
{
	for (int i = 0; hash_schemes[i]; i++) {
		char *a = NULL, *b = NULL;
		EXPECT(mr_password_hash(hash_schemes[i], "same", 4, &a), 0, hash_schemes[i]);
		EXPECT(mr_password_hash(hash_schemes[i], "same", 4, &b), 0, hash_schemes[i]);
		/* CRAM-MD5 has no salt: it must come out the same every time */
		int salted = strcmp(hash_schemes[i], "CRAM-MD5") != 0;
		EXPECT(strcmp(a, b) != 0, salted, hash_schemes[i]);
		free(a);
		free(b);
	}
}
END_TEST

/* doveadm pw -t HASH -p PASSWORD, quietly (it prints the hash): its exit status. */
static int doveadm_test(const char *hash, const char *clear)
{
	posix_spawn_file_actions_t fa;
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0), 0);
	char *argv[] = { "doveadm", "pw", "-t", (char *)hash, "-p", (char *)clear, NULL };
	pid_t pid;
	int e = posix_spawn(&pid, DOVEADM, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_msg(e == 0, "cannot run " DOVEADM ": %s", strerror(e));
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_msg(errno == EINTR, "waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 256;
}

START_TEST(doveadm_accepts_our_hashes)
{
	const char *clears[] = { "Secr3t!", "with space", "", NULL };
	for (int i = 0; hash_schemes[i]; i++) {
		for (int j = 0; clears[j]; j++) {
			char *h = NULL;
			EXPECT(mr_password_hash(hash_schemes[i], clears[j], strlen(clears[j]), &h), 0, hash_schemes[i]);
			EXPECT(doveadm_test(h, clears[j]), 0, hash_schemes[i]);
			EXPECT(doveadm_test(h, "not it") != 0, 1, hash_schemes[i]);
			free(h);
		}
	}
}
END_TEST

/* ---- the verification cache ---- */

static char tmpdir[64];
static char cachedir[96];

static struct mr_root *troot; /* the cache's root: tmpdir */

static void cache_setup(void)
{
	mr_test_mkdtemp(tmpdir, sizeof(tmpdir), "mr-pwcache");
	snprintf(cachedir, sizeof(cachedir), "%s/cache", tmpdir);
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&troot, tmpdir, &err), 0);
	mr_buf_release(&err);
}

/* The cache below tmpdir (the root handle), as the state directory's cache is. */
static struct mr_pwcache *open_cache(const char *dir, bool create)
{
	if (!dir)
		return mr_pwcache_open(NULL, NULL, create);
	return mr_pwcache_open(troot, dir + strlen(tmpdir), create);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void cache_teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	mr_root_close(&troot);
}

static char *cache_path(const char *name)
{
	return mr_path_join(cachedir, name);
}

/* The cache file's bytes (empty when absent). */
static void read_cache_file(const char *name, struct mr_buf *out)
{
	char *p = cache_path(name);
	struct mr_buf err = MR_BUF_INIT;
	struct stat st;
	mr_buf_reset(out);
	mr_buf_adds(out, "");
	mr_read_file_ex(p, 1 << 20, MR_READ_NOFOLLOW, out, &st, &err);
	mr_buf_release(&err);
	free(p);
}

static int cache_lines(void)
{
	struct mr_buf b = MR_BUF_INIT;
	read_cache_file("pwverify", &b);
	int n = 0;
	for (size_t i = 0; i < b.len; i++)
		n += b.ptr[i] == '\n';
	mr_buf_release(&b);
	return n - 1; /* the header */
}

static void write_file(const char *name, const char *data, size_t n, mode_t mode)
{
	char *p = cache_path(name);
	unlink(p);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	free(p);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	ck_assert_int_eq(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* One run: open, verify each (hash, clear), save, free; the number of cache hits. */
static int cache_run(const char *const *pairs, int want)
{
	struct mr_pwcache *c = open_cache(cachedir, true);
	ck_assert_msg(mr_pwcache_disabled(c) == NULL, "cache disabled");
	for (int i = 0; pairs[i]; i += 2)
		EXPECT(mr_pwcache_verify(c, pairs[i], pairs[i + 1], strlen(pairs[i + 1])), want, "cache run");
	EXPECT(mr_pwcache_save(c), 0, "cache save");
	ck_assert_msg(mr_pwcache_error(c) == NULL, "cache save error");
	int hits = (int)mr_pwcache_hits(c);
	mr_pwcache_free(&c);
	ck_assert_ptr_null(c);
	return hits;
}

START_TEST(cache_second_run_hits)
{
	const char *pairs[] = { sha512_test, "test", NULL };
	EXPECT(cache_run(pairs, 1), 0, "first run computes");
	EXPECT(cache_lines(), 1, "first run saved one entry");
	EXPECT(cache_run(pairs, 1), 1, "second run hits");
	EXPECT(cache_run(pairs, 1), 1, "third run hits");
	/* the same password under another hash is another entry */
	const char *other[] = { "{PLAIN}test", "test", NULL };
	EXPECT(cache_run(other, 1), 0, "other hash computes");
	/* the answer is the same with and without the cache */
	struct mr_pwcache *c = open_cache(cachedir, true);
	EXPECT(mr_pwcache_verify(c, sha512_test, "Test", 4), 0, "cache wrong case");
	EXPECT(mr_pwcache_verify(c, "{ROT13}grfg", "test", 4), -1, "cache unsupported");
	EXPECT(mr_pwcache_verify(NULL, sha512_test, "test", 4), 1, "no cache");
	mr_pwcache_free(&c);
	mr_pwcache_free(&c);
}
END_TEST

START_TEST(cache_never_stores_a_wrong_password)
{
	const char *wrong[] = { sha512_test, "Test", cram_known[0].hash, "tesT", NULL };
	EXPECT(cache_run(wrong, 0), 0, "wrong passwords");
	/* nothing added: nothing written, not even the directory */
	EXPECT(access(cachedir, F_OK), -1, "no directory for nothing");
	EXPECT(cache_run(wrong, 0), 0, "wrong passwords again");
	const char *mixed[] = { cram_known[1].hash, "Secr3t!", NULL };
	EXPECT(cache_run(mixed, 1), 0, "right password");
	EXPECT(cache_run(wrong, 0), 0, "wrong passwords after a right one");
	EXPECT(cache_lines(), 1, "only the right password is stored");
}
END_TEST

START_TEST(cache_file_modes)
{
	mode_t old = umask(0);
	const char *pairs[] = { cram_known[0].hash, "test", NULL };
	cache_run(pairs, 1);
	umask(old);
	char *key = cache_path("pwverify.key"), *cache = cache_path("pwverify");
	EXPECT((int)mode_of(cachedir), 0700, "directory mode");
	EXPECT((int)mode_of(key), 0600, "key mode");
	EXPECT((int)mode_of(cache), 0600, "cache mode");
	struct stat st;
	ck_assert_int_eq(lstat(key, &st), 0);
	EXPECT((int)st.st_size, 32, "key size");
	/* no temporary file left behind */
	DIR *d = opendir(cachedir);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	EXPECT(n, 2, "files in the cache directory");
	free(key);
	free(cache);
}
END_TEST

START_TEST(cache_holds_no_secret)
{
	static const char clear[] = "Correct-Horse-Battery-Staple";
	char *hashes[5] = { NULL };
	const char *pairs[9];
	int n = 0;
	for (int i = 0; hash_schemes[i]; i++) {
		EXPECT(mr_password_hash(hash_schemes[i], clear, strlen(clear), &hashes[i]), 0, hash_schemes[i]);
		pairs[n++] = hashes[i];
		pairs[n++] = clear;
	}
	pairs[n] = NULL;
	cache_run(pairs, 1);
	EXPECT(cache_run(pairs, 1), 4, "all four cached");
	const char *files[] = { "pwverify", "pwverify.key", NULL };
	for (int f = 0; files[f]; f++) {
		struct mr_buf b = MR_BUF_INIT;
		read_cache_file(files[f], &b);
		EXPECT(b.len > 0, 1, files[f]);
		EXPECT(memmem(b.ptr, b.len, clear, strlen(clear)) == NULL, 1, "clear password in a cache file");
		for (int i = 0; hashes[i]; i++) {
			const char *data = strchr(hashes[i], '}') + 1;
			EXPECT(memmem(b.ptr, b.len, hashes[i], strlen(hashes[i])) == NULL, 1, hash_schemes[i]);
			EXPECT(memmem(b.ptr, b.len, data, strlen(data)) == NULL, 1, hash_schemes[i]);
		}
		mr_buf_release(&b);
	}
	for (int i = 0; hashes[i]; i++)
		free(hashes[i]);
}
END_TEST

START_TEST(corrupt_cache_is_ignored)
{
	const char *pairs[] = { cram_known[0].hash, "test", NULL };
	cache_run(pairs, 1);
	struct mr_buf good = MR_BUF_INIT;
	read_cache_file("pwverify", &good);
	EXPECT(cache_run(pairs, 1), 1, "valid cache hits");
	const char *const corrupt[] = {
		"",
		"mailrecon-pwverify 2\n",
		"garbage\n",
		"\x01\x02\x03\xff",
		NULL,
	};
	for (int i = 0; corrupt[i]; i++) {
		write_file("pwverify", corrupt[i], strlen(corrupt[i]), 0600);
		EXPECT(cache_run(pairs, 1), 0, "corrupt cache computes");
		EXPECT(cache_run(pairs, 1), 1, "rewritten cache hits");
	}
	/* a valid file spoilt in one place: the whole file is ignored */
	struct mr_buf bad = MR_BUF_INIT;
	mr_buf_add(&bad, good.ptr, good.len - 1); /* no final newline */
	write_file("pwverify", bad.ptr, bad.len, 0600);
	EXPECT(cache_run(pairs, 1), 0, "truncated line");
	mr_buf_reset(&bad);
	mr_buf_add(&bad, good.ptr, good.len);
	bad.ptr[bad.len - 2] = 'g';
	write_file("pwverify", bad.ptr, bad.len, 0600);
	EXPECT(cache_run(pairs, 1), 0, "non-hex digit");
	mr_buf_reset(&bad);
	mr_buf_add(&bad, good.ptr, good.len);
	mr_buf_adds(&bad, "abc\n");
	write_file("pwverify", bad.ptr, bad.len, 0600);
	EXPECT(cache_run(pairs, 1), 0, "short line");
	/* a symbolic link instead of the file */
	char *p = cache_path("pwverify"), *elsewhere = mr_path_join(tmpdir, "elsewhere");
	write_file("pwverify", good.ptr, good.len, 0600);
	ck_assert_int_eq(rename(p, elsewhere), 0);
	ck_assert_int_eq(symlink(elsewhere, p), 0);
	EXPECT(cache_run(pairs, 1), 0, "symlinked cache file");
	free(p);
	free(elsewhere);
	mr_buf_release(&bad);
	mr_buf_release(&good);
}
END_TEST

START_TEST(untrusted_key_disables_cache)
{
	const char *pairs[] = { cram_known[0].hash, "test", NULL };
	cache_run(pairs, 1);
	struct mr_buf before = MR_BUF_INIT, after = MR_BUF_INIT;
	read_cache_file("pwverify", &before);
	char *key = cache_path("pwverify.key"), *moved = mr_path_join(tmpdir, "key");
	static const mode_t loose[] = { 0640, 0604, 0620, 0602 };
	for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		ck_assert_int_eq(chmod(key, loose[i]), 0);
		struct mr_pwcache *c = open_cache(cachedir, true);
		EXPECT(mr_pwcache_disabled(c) != NULL, 1, "loose key refused");
		EXPECT(mr_pwcache_verify(c, pairs[0], "test", 4), 1, "disabled verify");
		EXPECT(mr_pwcache_verify(c, pairs[0], "test", 4), 1, "disabled verify again");
		EXPECT((int)mr_pwcache_hits(c), 0, "disabled hits");
		EXPECT(mr_pwcache_save(c), 0, "disabled save");
		mr_pwcache_free(&c);
		read_cache_file("pwverify", &after);
		EXPECT(after.len == before.len && memcmp(after.ptr, before.ptr, after.len) == 0, 1,
		       "disabled cache file untouched");
	}
	ck_assert_int_eq(chmod(key, 0600), 0);
	EXPECT(cache_run(pairs, 1), 1, "strict key used again");
	/* a symbolic link to a good key */
	ck_assert_int_eq(rename(key, moved), 0);
	ck_assert_int_eq(symlink(moved, key), 0);
	struct mr_pwcache *c = open_cache(cachedir, true);
	EXPECT(mr_pwcache_disabled(c) != NULL, 1, "symlinked key refused");
	mr_pwcache_free(&c);
	/* not a regular file */
	ck_assert_int_eq(unlink(key), 0);
	ck_assert_int_eq(mkdir(key, 0700), 0);
	c = open_cache(cachedir, true);
	EXPECT(mr_pwcache_disabled(c) != NULL, 1, "directory key refused");
	mr_pwcache_free(&c);
	ck_assert_int_eq(rmdir(key), 0);
	/* the wrong size */
	write_file("pwverify.key", "short", 5, 0600);
	c = open_cache(cachedir, true);
	EXPECT(mr_pwcache_disabled(c) != NULL, 1, "short key refused");
	mr_pwcache_free(&c);
	/* a directory others may write to */
	ck_assert_int_eq(unlink(key), 0);
	ck_assert_int_eq(chmod(cachedir, 0777), 0);
	c = open_cache(cachedir, true);
	EXPECT(mr_pwcache_disabled(c) != NULL, 1, "open directory refused");
	mr_pwcache_free(&c);
	ck_assert_int_eq(chmod(cachedir, 0700), 0);
	/* no key at all: a new one, and the old entries mean nothing */
	EXPECT(cache_run(pairs, 1), 0, "new key computes");
	EXPECT(cache_run(pairs, 1), 1, "new key hits");
	free(key);
	free(moved);
	mr_buf_release(&before);
	mr_buf_release(&after);
}
END_TEST

START_TEST(unused_entries_expire)
{
	const char *a = cram_known[0].hash, *b = cram_known[1].hash, *cc = cram_known[2].hash;
	const char *ab[] = { a, "test", b, "Secr3t!", NULL };
	const char *ac[] = { a, "test", cc, "", NULL };
	const char *just_a[] = { a, "test", NULL };
	const char *just_b[] = { b, "Secr3t!", NULL };
	EXPECT(cache_run(ab, 1), 0, "run 1");
	EXPECT(cache_lines(), 2, "run 1 entries");
	EXPECT(cache_run(ac, 1), 1, "run 2: a hits, c added");
	EXPECT(cache_lines(), 2, "run 2 entries: b dropped");
	/* nothing added: the file is not rewritten, so c survives a run that did not use it */
	EXPECT(cache_run(just_a, 1), 1, "run 3: a hits");
	EXPECT(cache_lines(), 2, "run 3 wrote nothing");
	EXPECT(cache_run(just_b, 1), 0, "run 4: b was dropped");
	/* run 4 added b and kept only what it used: a and c are gone */
	EXPECT(cache_run(ac, 1), 0, "run 5: a and c dropped by run 4");
	EXPECT(cache_lines(), 2, "run 5 entries");
}
END_TEST

START_TEST(cache_in_memory_only)
{
	/* the directory does not exist and may not be created */
	struct mr_pwcache *c = open_cache(cachedir, false);
	EXPECT(mr_pwcache_disabled(c) == NULL, 1, "memory cache enabled");
	EXPECT(mr_pwcache_verify(c, cram_known[0].hash, "test", 4), 1, "memory first");
	EXPECT(mr_pwcache_verify(c, cram_known[0].hash, "test", 4), 1, "memory second");
	EXPECT((int)mr_pwcache_hits(c), 1, "memory hits");
	EXPECT(mr_pwcache_save(c), 0, "memory save");
	EXPECT(access(cachedir, F_OK), -1, "memory save creates nothing");
	mr_pwcache_free(&c);
	/* the directory exists but holds no key, and create is false: nothing is written */
	ck_assert_int_eq(mkdir(cachedir, 0700), 0);
	c = open_cache(cachedir, false);
	EXPECT(mr_pwcache_verify(c, cram_known[0].hash, "test", 4), 1, "no key first");
	EXPECT(mr_pwcache_save(c), 0, "no key save");
	mr_pwcache_free(&c);
	char *key = cache_path("pwverify.key");
	EXPECT(access(key, F_OK), -1, "no key created");
	free(key);
	/* no directory at all */
	c = open_cache(NULL, true);
	EXPECT(mr_pwcache_verify(c, cram_known[0].hash, "test", 4), 1, "null dir first");
	EXPECT(mr_pwcache_verify(c, cram_known[0].hash, "test", 4), 1, "null dir second");
	EXPECT((int)mr_pwcache_hits(c), 1, "null dir hits");
	EXPECT(mr_pwcache_save(c), 0, "null dir save");
	mr_pwcache_free(&c);
	/* the parent of a directory to create is missing: save fails, says why, nothing else */
	char *deep = mr_path_join(cachedir, "a/b");
	c = open_cache(deep, true);
	EXPECT(mr_pwcache_verify(c, cram_known[0].hash, "test", 4), 1, "deep first");
	EXPECT(mr_pwcache_save(c), -1, "deep save");
	EXPECT(mr_pwcache_error(c) != NULL, 1, "deep save error");
	mr_pwcache_free(&c);
	free(deep);
}
END_TEST

START_TEST(many_entries)
{
	/* enough entries to grow the table several times, all found again */
	enum { N = 3000 };
	char *hashes[N];
	char clear[N][16];
	struct mr_pwcache *c = open_cache(cachedir, true);
	for (int i = 0; i < N; i++) {
		snprintf(clear[i], sizeof(clear[i]), "pw-%d", i);
		struct mr_buf b = MR_BUF_INIT;
		mr_buf_addf(&b, "{PLAIN}%s", clear[i]);
		hashes[i] = mr_buf_detach(&b);
		EXPECT(mr_pwcache_verify(c, hashes[i], clear[i], strlen(clear[i])), 1, "many first");
	}
	EXPECT(mr_pwcache_save(c), 0, "many save");
	mr_pwcache_free(&c);
	EXPECT(cache_lines(), N, "many lines");
	c = open_cache(cachedir, true);
	for (int i = 0; i < N; i++)
		EXPECT(mr_pwcache_verify(c, hashes[i], clear[i], strlen(clear[i])), 1, "many second");
	EXPECT((int)mr_pwcache_hits(c), N, "many hits");
	mr_pwcache_free(&c);
	for (int i = 0; i < N; i++)
		free(hashes[i]);
}
END_TEST

Suite *suite_password(void)
{
	Suite *s = suite_create("password");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cram_md5_known_answers);
	tcase_add_test(tc, sha512_crypt_known_hash);
	tcase_add_test(tc, crypt_hashes_made_now_verify);
	tcase_add_test(tc, plain_schemes);
	tcase_add_test(tc, unsupported_schemes);
	tcase_add_test(tc, nul_in_clear_never_matches);
	tcase_add_test(tc, hash_round_trip);
	tcase_add_test(tc, hashes_are_salted);
	suite_add_tcase(s, tc);

	TCase *dv = tcase_create("doveadm");
	tcase_set_timeout(dv, 120);
	if (access(DOVEADM, X_OK) == 0)
		tcase_add_test(dv, doveadm_accepts_our_hashes);
	else
		fprintf(stderr, "doveadm not installed: comparison skipped\n");
	suite_add_tcase(s, dv);

	TCase *cache = tcase_create("cache");
	tcase_set_timeout(cache, 60);
	tcase_add_checked_fixture(cache, cache_setup, cache_teardown);
	tcase_add_test(cache, cache_second_run_hits);
	tcase_add_test(cache, cache_never_stores_a_wrong_password);
	tcase_add_test(cache, cache_file_modes);
	tcase_add_test(cache, cache_holds_no_secret);
	tcase_add_test(cache, corrupt_cache_is_ignored);
	tcase_add_test(cache, untrusted_key_disables_cache);
	tcase_add_test(cache, unused_entries_expire);
	tcase_add_test(cache, cache_in_memory_only);
	tcase_add_test(cache, many_entries);
	suite_add_tcase(s, cache);
	return s;
}
