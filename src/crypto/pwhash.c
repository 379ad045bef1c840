#include "crypto/pwhash.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* The crypt(3) alphabet [./0-9A-Za-z] as a table: checked for every byte of every hash. */
static const unsigned char crypt_alphabet[256] = {
	['.'] = 1, ['/'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
	['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
	['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
	['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
	['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static bool all_crypt_chars(const char *s, size_t n)
{
	unsigned ok = 1;
	for (size_t i = 0; i < n; i++)
		ok &= crypt_alphabet[(unsigned char)s[i]];
	return ok;
}

/* $id$[rounds=N$]salt$hash for SHA-crypt: the hash part has a fixed length. */
static bool sha_crypt(const char *s, size_t hashlen)
{
	const char *p = s + 3;
	if (strncmp(p, "rounds=", 7) == 0) {
		p += 7;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p++ != '$')
			return false;
	}
	const char *d = strchr(p, '$');
	if (!d || d == p || d - p > 16 || !all_crypt_chars(p, (size_t)(d - p)))
		return false;
	return strlen(d + 1) == hashlen && all_crypt_chars(d + 1, hashlen);
}

static bool md5_crypt(const char *s)
{
	const char *p = s + 3;
	const char *d = strchr(p, '$');
	if (!d || d - p > 8 || !all_crypt_chars(p, (size_t)(d - p)))
		return false;
	return strlen(d + 1) == 22 && all_crypt_chars(d + 1, 22);
}

static bool bcrypt(const char *s)
{
	/* $2b$NN$ + 22 salt + 31 hash */
	if (!(s[1] == '2' && (s[2] == 'a' || s[2] == 'b' || s[2] == 'y') && s[3] == '$'))
		return false;
	if (!(s[4] >= '0' && s[4] <= '3' && s[5] >= '0' && s[5] <= '9' && s[6] == '$'))
		return false;
	return strlen(s + 7) == 53 && all_crypt_chars(s + 7, 53);
}

static bool yescrypt(const char *s)
{
	/* $y$params$salt$hash: three non-empty crypt-alphabet parts */
	const char *p = s + 3;
	for (int part = 0; part < 3; part++) {
		size_t n = strcspn(p, "$");
		if (n == 0 || !all_crypt_chars(p, n))
			return false;
		p += n;
		if (part < 2) {
			if (*p != '$')
				return false;
			p++;
		}
	}
	return *p == '\0';
}

static const char *check_crypt(const char *s)
{
	if (s[0] != '$')
		return "is not a crypt(3) hash ($1$, $5$, $6$, $2b$, $y$)";
	bool ok;
	if (strncmp(s, "$6$", 3) == 0)
		ok = sha_crypt(s, 86);
	else if (strncmp(s, "$5$", 3) == 0)
		ok = sha_crypt(s, 43);
	else if (strncmp(s, "$1$", 3) == 0)
		ok = md5_crypt(s);
	else if (strncmp(s, "$y$", 3) == 0)
		ok = yescrypt(s);
	else if (strncmp(s, "$2", 2) == 0)
		ok = bcrypt(s);
	else
		return "is a crypt(3) hash of an unknown kind (known: $1$, $5$, $6$, $2b$, $y$)";
	return ok ? NULL : "is a malformed crypt(3) hash";
}

static bool hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

/* Dovecot's schemes (doveadm pw -l) that carry an encoded digest we do not take apart. */
static const char *const opaque_schemes[] = {
	"SHA", "SHA1", "SHA256", "SHA512", "SSHA", "SSHA256", "SSHA512", "SMD5", "MD5", "PLAIN-MD5",
	"LDAP-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "ARGON2I", "ARGON2ID", "PBKDF2",
	"NTLM", "LANMAN", "OTP", "RPA", NULL,
};

const char *mr_pwhash_check(const char *hash)
{
	if (!hash[0])
		return "is empty";
	if (strnlen(hash, MR_PWHASH_MAX + 1) > MR_PWHASH_MAX)
		return "is longer than 1024 bytes";
	for (const char *p = hash; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == ':')
			return "contains ':', which would break the passwd files";
		if (c <= ' ' || c >= 0x7f)
			return "contains a space, a control character or a non-ASCII byte";
	}
	if (hash[0] != '{')
		return check_crypt(hash);
	const char *close = strchr(hash, '}');
	if (!close)
		return "has a '{' scheme prefix without its '}'";
	size_t sl = (size_t)(close - hash - 1);
	const char *scheme = hash + 1;
	const char *data = close + 1;
	char name[32];
	if (sl == 0 || sl >= sizeof(name))
		return "has an unknown scheme";
	memcpy(name, scheme, sl);
	name[sl] = '\0';
	for (char *p = name; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	if (strcmp(name, "CRAM-MD5") == 0 || strcmp(name, "HMAC-MD5") == 0)
		return hex64(data) ? NULL : "is a malformed CRAM-MD5 hash (64 hex digits expected)";
	if (strcmp(name, "SHA512-CRYPT") == 0)
		return strncmp(data, "$6$", 3) == 0 && !check_crypt(data) ? NULL
									: "is a malformed SHA512-CRYPT hash";
	if (strcmp(name, "SHA256-CRYPT") == 0)
		return strncmp(data, "$5$", 3) == 0 && !check_crypt(data) ? NULL
									: "is a malformed SHA256-CRYPT hash";
	if (strcmp(name, "MD5-CRYPT") == 0 || strcmp(name, "MD5") == 0) {
		if (strcmp(name, "MD5") == 0 && strncmp(data, "$1$", 3) != 0)
			return data[0] ? NULL : "is an empty MD5 hash";
		return strncmp(data, "$1$", 3) == 0 && !check_crypt(data) ? NULL : "is a malformed MD5-CRYPT hash";
	}
	if (strcmp(name, "BLF-CRYPT") == 0)
		return strncmp(data, "$2", 2) == 0 && !check_crypt(data) ? NULL : "is a malformed BLF-CRYPT hash";
	if (strcmp(name, "CRYPT") == 0 || strcmp(name, "DES-CRYPT") == 0)
		return data[0] ? NULL : "is an empty CRYPT hash";
	if (strcmp(name, "PLAIN") == 0 || strcmp(name, "CLEAR") == 0 || strcmp(name, "CLEARTEXT") == 0 ||
	    strcmp(name, "PLAIN-TRUNC") == 0)
		return data[0] ? NULL : "is an empty PLAIN password";
	for (const char *const *s = opaque_schemes; *s; s++)
		if (strcmp(name, *s) == 0)
			return data[0] ? NULL : "has a scheme but no data";
	return "has an unknown scheme";
}
