/*
 * Dovecot's CRAM-MD5 format is the raw intermediate MD5 state after one block of the
 * HMAC inner and outer pads, which no EVP API exposes: only the deprecated MD5_CTX has
 * the A, B, C, D words.  Hence the deprecated MD5 functions, in this file only.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "crypto/password.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/rootfs.h"
#include "util/xalloc.h"
#include "util/strutil.h"

#define CRAM_LEN 32 /* two MD5 states of 16 bytes: outer pad first, then inner */
#define MAC_LEN 32  /* HMAC-SHA256 */
#define KEY_LEN 32
#define CACHE_HEADER "mailrecon-pwverify 1\n"
#define CACHE_NAME "pwverify"
#define KEY_NAME "pwverify.key"
#define CACHE_MAX ((size_t)64 << 20)

static const char hexdigits[] = "0123456789abcdef";


/* Exactly 2 * n hex digits (either case) into out; -1 when s is anything else. */
static int hex_decode(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = mr_hexval(s[2 * i]), lo = mr_hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- schemes ---- */

enum kind { K_UNKNOWN, K_CRYPT, K_CRAM, K_PLAIN };

static bool name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* The kind of a stored hash and, in *data, where its scheme-specific part starts. */
static enum kind classify(const char *hash, const char **data)
{
	if (hash[0] != '{') {
		static const char *const bare[] = { "$1$", "$5$", "$6$", "$2a$", "$2b$", "$2y$", "$y$", NULL };
		*data = hash;
		for (const char *const *b = bare; *b; b++)
			if (strncmp(hash, *b, strlen(*b)) == 0)
				return K_CRYPT;
		return K_UNKNOWN;
	}
	const char *close = strchr(hash, '}');
	if (!close)
		return K_UNKNOWN;
	const char *name = hash + 1;
	size_t n = (size_t)(close - name);
	*data = close + 1;
	if (name_is(name, n, "SHA512-CRYPT") || name_is(name, n, "SHA256-CRYPT") ||
	    name_is(name, n, "BLF-CRYPT") || name_is(name, n, "MD5-CRYPT") || name_is(name, n, "CRYPT"))
		return K_CRYPT;
	if (name_is(name, n, "CRAM-MD5") || name_is(name, n, "HMAC-MD5"))
		return K_CRAM;
	if (name_is(name, n, "PLAIN") || name_is(name, n, "CLEAR") || name_is(name, n, "CLEARTEXT"))
		return K_PLAIN;
	return K_UNKNOWN;
}

/*
 * crypt(3) of the clear password with setting into a fresh string (the full hash), or NULL
 * when libxcrypt refuses the setting.  The NUL-terminated copy of the password and the
 * work area are wiped.
 */
static char *crypt_clear(const char *setting, const char *clear, size_t len)
{
	char *phrase = xmemdup(clear, len);
	struct crypt_data cd;
	memset(&cd, 0, sizeof(cd));
	const char *h = crypt_rn(phrase, setting, &cd, (int)sizeof(cd));
	char *res = h && h[0] != '*' ? xstrdup(h) : NULL;
	explicit_bzero(&cd, sizeof(cd));
	explicit_bzero(phrase, len);
	free(phrase);
	return res;
}

static int crypt_verify(const char *data, const char *clear, size_t len)
{
	if (!data[0])
		return -1;
	char *h = crypt_clear(data, clear, len);
	if (!h)
		return -1;
	size_t n = strlen(h);
	int r = n == strlen(data) && CRYPTO_memcmp(h, data, n) == 0;
	explicit_bzero(h, n);
	free(h);
	return r;
}

static void put_le32(unsigned char *p, MD5_LONG v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)(v >> 8 & 0xff);
	p[2] = (unsigned char)(v >> 16 & 0xff);
	p[3] = (unsigned char)(v >> 24 & 0xff);
}

/*
 * Dovecot's CRAM-MD5 (src/lib/hmac-cram-md5.c): the HMAC-MD5 key (the password, or its MD5
 * when longer than a block) padded to 64 bytes, XORed with the outer and the inner pad,
 * one MD5 block each; the result is the two intermediate states, outer first, each word
 * little-endian.
 */
static void cram_md5(const char *clear, size_t len, unsigned char out[CRAM_LEN])
{
	unsigned char key[MD5_CBLOCK], pad[MD5_CBLOCK];
	MD5_CTX ctx;
	memset(key, 0, sizeof(key));
	if (len > MD5_CBLOCK)
		MD5((const unsigned char *)clear, len, key);
	else
		memcpy(key, clear, len);
	static const unsigned char pads[2] = { 0x5c, 0x36 };
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < sizeof(pad); i++)
			pad[i] = key[i] ^ pads[k];
		MD5_Init(&ctx);
		MD5_Update(&ctx, pad, sizeof(pad));
		unsigned char *o = out + 16 * k;
		put_le32(o, ctx.A);
		put_le32(o + 4, ctx.B);
		put_le32(o + 8, ctx.C);
		put_le32(o + 12, ctx.D);
	}
	explicit_bzero(&ctx, sizeof(ctx));
	explicit_bzero(pad, sizeof(pad));
	explicit_bzero(key, sizeof(key));
}

static int cram_verify(const char *data, const char *clear, size_t len)
{
	unsigned char want[CRAM_LEN], got[CRAM_LEN];
	if (hex_decode(data, want, sizeof(want)) < 0)
		return -1;
	cram_md5(clear, len, got);
	int r = CRYPTO_memcmp(want, got, sizeof(got)) == 0;
	explicit_bzero(got, sizeof(got));
	explicit_bzero(want, sizeof(want));
	return r;
}

int mr_password_verify(const char *hash, const char *clear, size_t len)
{
	const char *data;
	enum kind k = classify(hash, &data);
	if (k == K_UNKNOWN)
		return -1;
	/* a NUL cannot reach Dovecot inside a password (SASL PLAIN separates with it) */
	if (memchr(clear, '\0', len))
		return 0;
	switch (k) {
	case K_CRYPT:
		return crypt_verify(data, clear, len);
	case K_CRAM:
		return cram_verify(data, clear, len);
	case K_PLAIN:
		return strlen(data) == len && CRYPTO_memcmp(data, clear, len) == 0;
	default:
		return -1;
	}
}

int mr_password_hash(const char *scheme, const char *clear, size_t len, char **out)
{
	static const struct {
		const char *name;
		const char *prefix; /* NULL: CRAM-MD5 */
	} schemes[] = {
		{ "SHA512-CRYPT", "$6$" },
		{ "SHA256-CRYPT", "$5$" },
		{ "BLF-CRYPT", "$2y$" }, /* what doveadm pw -s BLF-CRYPT writes */
		{ "CRAM-MD5", NULL },
	};
	*out = NULL;
	size_t i;
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strcasecmp(scheme, schemes[i].name) == 0)
			break;
	if (i == sizeof(schemes) / sizeof(schemes[0]) || memchr(clear, '\0', len))
		return -1;
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_addf(&b, "{%s}", schemes[i].name);
	if (!schemes[i].prefix) {
		unsigned char st[CRAM_LEN];
		char hex[2 * CRAM_LEN + 1];
		cram_md5(clear, len, st);
		hex_encode(st, sizeof(st), hex);
		mr_buf_adds(&b, hex);
		explicit_bzero(st, sizeof(st));
		explicit_bzero(hex, sizeof(hex));
		*out = mr_buf_detach(&b);
		return 0;
	}
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	/* count 0: the default cost; NULL random bytes: libxcrypt reads the OS random source */
	if (!crypt_gensalt_rn(schemes[i].prefix, 0, NULL, 0, setting, (int)sizeof(setting)) ||
	    setting[0] == '*') {
		mr_buf_release(&b);
		return -1;
	}
	char *h = crypt_clear(setting, clear, len);
	explicit_bzero(setting, sizeof(setting));
	if (!h) {
		mr_buf_release(&b);
		return -1;
	}
	mr_buf_adds(&b, h);
	explicit_bzero(h, strlen(h));
	free(h);
	*out = mr_buf_detach(&b);
	return 0;
}

/* ---- the verification cache ---- */

enum { E_EMPTY, E_LOADED, E_USED };

struct entry {
	unsigned char mac[MAC_LEN];
	unsigned char state;
};

struct mr_pwcache {
	struct mr_root *root; /* borrowed: dir and its files are reached through it */
	char *dir;        /* below root; NULL: in memory only */
	bool create;      /* may create dir, the key and the cache file */
	bool key_on_disk; /* key was read from dir or written there */
	bool added;       /* an entry was added since the last save */
	char *disabled;   /* why the cache is not used; NULL when it is */
	char *error;      /* why the last save failed */
	unsigned char key[KEY_LEN];
	EVP_MAC_CTX *mac; /* HMAC-SHA256 keyed with key, duplicated for each lookup */
	struct entry *tab;
	size_t cap;       /* a power of two; at most half full */
	size_t n;
	size_t hits;
};

__attribute__((format(printf, 2, 3))) static void disable(struct mr_pwcache *c, const char *fmt, ...)
{
	struct mr_buf b = MR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	mr_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	free(c->disabled);
	c->disabled = mr_buf_detach(&b);
}

static size_t slot_of(const struct mr_pwcache *c, const unsigned char *mac)
{
	/* the MAC is uniformly random: its first bytes are a fine hash */
	uint64_t h = 0;
	for (int i = 0; i < 8; i++)
		h = h << 8 | mac[i];
	return (size_t)h & (c->cap - 1);
}

static struct entry *find(struct mr_pwcache *c, const unsigned char *mac)
{
	if (!c->cap)
		return NULL;
	for (size_t i = slot_of(c, mac);; i = (i + 1) & (c->cap - 1)) {
		struct entry *e = &c->tab[i];
		if (e->state == E_EMPTY)
			return NULL;
		if (CRYPTO_memcmp(e->mac, mac, MAC_LEN) == 0)
			return e;
	}
}

static void insert(struct mr_pwcache *c, const unsigned char *mac, unsigned char state);

static void grow(struct mr_pwcache *c)
{
	struct entry *old = c->tab;
	size_t oldcap = c->cap;
	c->cap = oldcap ? oldcap * 2 : 64;
	c->tab = xcalloc(c->cap, sizeof(*c->tab));
	c->n = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].state != E_EMPTY)
			insert(c, old[i].mac, old[i].state);
	if (old)
		explicit_bzero(old, oldcap * sizeof(*old));
	free(old);
}

static void insert(struct mr_pwcache *c, const unsigned char *mac, unsigned char state)
{
	struct entry *e = find(c, mac);
	if (e) {
		if (state > e->state)
			e->state = state;
		return;
	}
	if (2 * (c->n + 1) > c->cap)
		grow(c);
	size_t i = slot_of(c, mac);
	while (c->tab[i].state != E_EMPTY)
		i = (i + 1) & (c->cap - 1);
	memcpy(c->tab[i].mac, mac, MAC_LEN);
	c->tab[i].state = state;
	c->n++;
}

/* HMAC-SHA256(key, hash || '\0' || clear) into mac; -1 when OpenSSL fails. */
static int entry_mac(struct mr_pwcache *c, const char *hash, const char *clear, size_t len,
		     unsigned char mac[MAC_LEN])
{
	EVP_MAC_CTX *m = EVP_MAC_CTX_dup(c->mac);
	size_t outl = 0;
	int ok = m && EVP_MAC_update(m, (const unsigned char *)hash, strlen(hash) + 1) &&
		 EVP_MAC_update(m, (const unsigned char *)clear, len) && EVP_MAC_final(m, mac, &outl, MAC_LEN) &&
		 outl == MAC_LEN;
	EVP_MAC_CTX_free(m);
	if (!ok) {
		ERR_clear_error();
		explicit_bzero(mac, MAC_LEN);
		return -1;
	}
	return 0;
}

static int mac_setup(struct mr_pwcache *c)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (hmac)
		c->mac = EVP_MAC_CTX_new(hmac);
	EVP_MAC_free(hmac); /* the context keeps its own reference */
	if (!c->mac || !EVP_MAC_init(c->mac, c->key, KEY_LEN, params)) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/*
 * The directory: 1 a directory we own that nobody else may write to, 0 absent, -1 anything
 * else (c->disabled says what).
 */
static int check_dir(struct mr_pwcache *c)
{
	struct stat st;
	int r = mr_root_lstat(c->root, c->dir, &st);
	if (r < 0) {
		if (r == -ENOENT)
			return 0;
		disable(c, "cannot inspect the password cache directory '%s'; the cache is not used", c->dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		disable(c, "the password cache directory '%s' is not a directory (or is a symbolic link); "
			   "the cache is not used", c->dir);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		disable(c, "the password cache directory '%s' is not owned by this user or is writable by "
			   "group or others; the cache is not used", c->dir);
		return -1;
	}
	return 1;
}

/* The key file: 1 read into c->key, 0 absent, -1 refused (c->disabled says why). */
static int load_key(struct mr_pwcache *c)
{
	char *path = mr_path_join(c->dir, KEY_NAME);
	int r = -1;
	int fd = mr_root_openat(c->root, path, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0) {
		if (fd == -ENOENT)
			r = 0;
		else if (fd == -ELOOP)
			disable(c, "the password cache key '%s' is a symbolic link; the cache is not used", path);
		else
			disable(c, "cannot open the password cache key '%s'; the cache is not used", path);
		free(path);
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		disable(c, "cannot inspect the password cache key '%s'; the cache is not used", path);
	else if (!S_ISREG(st.st_mode))
		disable(c, "the password cache key '%s' is not a regular file; the cache is not used", path);
	else if (st.st_uid != geteuid())
		disable(c, "the password cache key '%s' is not owned by this user; the cache is not used", path);
	else if (st.st_mode & 077)
		disable(c, "the password cache key '%s' is readable or writable by group or others "
			   "(it must be 0600); the cache is not used", path);
	else if (st.st_size != KEY_LEN)
		disable(c, "the password cache key '%s' is not 32 bytes long; the cache is not used", path);
	else {
		size_t got = 0;
		while (got < KEY_LEN) {
			ssize_t n = read(fd, c->key + got, KEY_LEN - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got == KEY_LEN)
			r = 1;
		else {
			explicit_bzero(c->key, sizeof(c->key));
			disable(c, "cannot read the password cache key '%s'; the cache is not used", path);
		}
	}
	close(fd);
	free(path);
	return r;
}

/* The entries of the cache file as E_LOADED; a file that is malformed in any way adds none. */
static void load_entries(struct mr_pwcache *c)
{
	char *path = mr_path_join(c->dir, CACHE_NAME);
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	if (mr_root_read(c->root, path, CACHE_MAX, &data, &st, &err) < 0)
		goto out;
	size_t hl = strlen(CACHE_HEADER);
	if (data.len < hl || memcmp(data.ptr, CACHE_HEADER, hl) != 0)
		goto out;
	size_t line = 2 * MAC_LEN + 1;
	if ((data.len - hl) % line != 0)
		goto out;
	/* check everything before taking anything */
	for (size_t p = hl; p < data.len; p += line) {
		if (data.ptr[p + 2 * MAC_LEN] != '\n')
			goto out;
		for (size_t i = 0; i < 2 * MAC_LEN; i++) {
			unsigned char ch = (unsigned char)data.ptr[p + i];
			if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
				goto out;
		}
	}
	for (size_t p = hl; p < data.len; p += line) {
		unsigned char mac[MAC_LEN];
		data.ptr[p + 2 * MAC_LEN] = '\0';
		if (hex_decode(data.ptr + p, mac, sizeof(mac)) == 0)
			insert(c, mac, E_LOADED);
	}
out:
	mr_buf_release(&data);
	mr_buf_release(&err);
	free(path);
}

struct mr_pwcache *mr_pwcache_open(struct mr_root *root, const char *dir, bool create)
{
	struct mr_pwcache *c = xcalloc(1, sizeof(*c));
	c->create = create;
	c->root = root;
	if (dir && root) {
		c->dir = xstrdup(dir);
		int d = check_dir(c);
		if (d < 0)
			return c;
		int k = d > 0 ? load_key(c) : 0;
		if (k < 0)
			return c;
		if (k > 0) {
			c->key_on_disk = true;
			/* without the key the file's entries mean nothing: read it only with one */
			load_entries(c);
		}
	}
	if (!c->key_on_disk && RAND_bytes(c->key, KEY_LEN) != 1) {
		ERR_clear_error();
		disable(c, "%s", "no random bytes for a password cache key; the cache is not used");
		return c;
	}
	if (mac_setup(c) < 0)
		disable(c, "%s", "cannot set up HMAC-SHA256 for the password cache; the cache is not used");
	return c;
}

int mr_pwcache_verify(struct mr_pwcache *c, const char *hash, const char *clear, size_t len)
{
	unsigned char mac[MAC_LEN];
	if (!c || c->disabled || memchr(clear, '\0', len) || entry_mac(c, hash, clear, len, mac) < 0)
		return mr_password_verify(hash, clear, len);
	struct entry *e = find(c, mac);
	if (e) {
		e->state = E_USED;
		c->hits++;
		explicit_bzero(mac, sizeof(mac));
		return 1;
	}
	int r = mr_password_verify(hash, clear, len);
	if (r == 1) {
		insert(c, mac, E_USED);
		c->added = true;
	}
	explicit_bzero(mac, sizeof(mac));
	return r;
}

static void save_error(struct mr_pwcache *c, const char *what, const char *path, int e)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_addf(&b, "cannot %s '%s': %s", what, path, strerror(e));
	free(c->error);
	c->error = mr_buf_detach(&b);
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Replace DIR/NAME with data: a new 0600 file beside it, fsync'd, renamed over it. */
static int write_atomic(struct mr_pwcache *c, const char *name, const void *data, size_t n)
{
	static unsigned serial;
	char *path = mr_path_join(c->dir, name);
	struct mr_buf tmp = MR_BUF_INIT;
	int fd = -1, r = -1;
	for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
		mr_buf_reset(&tmp);
		mr_buf_addf(&tmp, "%s/.%s.%ld.%u", c->dir, name, (long)getpid(), serial++);
		fd = mr_root_openat(c->root, tmp.ptr, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 && fd != -EEXIST)
			break;
	}
	if (fd < 0) {
		save_error(c, "create a temporary file beside", path, -fd);
		goto out;
	}
	if (fchmod(fd, 0600) < 0 || write_all(fd, data, n) < 0 || fsync(fd) < 0) {
		save_error(c, "write", tmp.ptr, errno);
		close(fd);
		mr_root_unlink(c->root, tmp.ptr);
		goto out;
	}
	if (close(fd) < 0) {
		save_error(c, "write", tmp.ptr, errno);
		mr_root_unlink(c->root, tmp.ptr);
		goto out;
	}
	int e = mr_root_rename(c->root, tmp.ptr, path, false);
	if (e < 0) {
		save_error(c, "replace", path, -e);
		mr_root_unlink(c->root, tmp.ptr);
		goto out;
	}
	if ((e = mr_root_sync_dir(c->root, c->dir)) < 0) {
		save_error(c, "sync the directory", c->dir, -e);
		goto out;
	}
	r = 0;
out:
	mr_buf_release(&tmp);
	free(path);
	return r;
}

int mr_pwcache_save(struct mr_pwcache *c)
{
	if (!c)
		return 0;
	free(c->error);
	c->error = NULL;
	if (c->disabled || !c->dir || !c->added)
		return 0;
	if (!c->key_on_disk) {
		if (!c->create)
			return 0; /* in memory only */
		int e = mr_root_mkdir(c->root, c->dir, 0700, -1, -1);
		if (e < 0 && e != -EEXIST) {
			save_error(c, "create", c->dir, -e);
			return -1;
		}
		if (check_dir(c) <= 0) {
			/* it changed under us: stop using it */
			free(c->error);
			c->error = xstrdup(c->disabled ? c->disabled : "the password cache directory vanished");
			return -1;
		}
		if (write_atomic(c, KEY_NAME, c->key, KEY_LEN) < 0)
			return -1;
		c->key_on_disk = true;
	}
	struct mr_buf b = MR_BUF_INIT;
	char hex[2 * MAC_LEN + 1];
	mr_buf_adds(&b, CACHE_HEADER);
	for (size_t i = 0; i < c->cap; i++) {
		if (c->tab[i].state != E_USED)
			continue;
		hex_encode(c->tab[i].mac, MAC_LEN, hex);
		mr_buf_adds(&b, hex);
		mr_buf_addc(&b, '\n');
	}
	int r = write_atomic(c, CACHE_NAME, b.ptr, b.len);
	explicit_bzero(b.ptr, b.len);
	mr_buf_release(&b);
	if (r == 0)
		c->added = false;
	return r;
}

size_t mr_pwcache_hits(const struct mr_pwcache *c)
{
	return c ? c->hits : 0;
}

const char *mr_pwcache_disabled(const struct mr_pwcache *c)
{
	return c ? c->disabled : "there is no password cache";
}

const char *mr_pwcache_error(const struct mr_pwcache *c)
{
	return c ? c->error : NULL;
}

void mr_pwcache_free(struct mr_pwcache **cp)
{
	struct mr_pwcache *c = *cp;
	if (!c)
		return;
	EVP_MAC_CTX_free(c->mac);
	explicit_bzero(c->key, sizeof(c->key));
	if (c->tab)
		explicit_bzero(c->tab, c->cap * sizeof(*c->tab));
	free(c->tab);
	free(c->dir);
	free(c->disabled);
	free(c->error);
	free(c);
	*cp = NULL;
}
