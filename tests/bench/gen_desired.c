/*
 * gen_desired OUTDIR DOMAINS MAILBOXES [USERS]: write a synthetic, deterministic desired state
 * (docs/desired-state.md) for the benchmarks in tests/bench.
 *
 * OUTDIR gets 00-server.yaml and one user-NNNNN.yaml per user (USERS defaults to DOMAINS/100,
 * at least 1). Users u00001... (role user, account existing, no limits) own the domains
 * d000001.example... round-robin; each domain is written in its owner's file. The mailboxes
 * mb000001... are spread evenly over the domains, numbered in domain order. Every value is
 * drawn from a fixed-seed LCG, seeded per mailbox and per domain from its number, so the same
 * arguments always give the same bytes and a mailbox's content does not depend on USERS.
 *
 * Plain C11 + libc, buffered stdio; the output passes `mailrecon validate`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SEED UINT64_C(0x6d61696c7265636f) /* "mailreco" */
#define IOBUF_SIZE (4u << 20)
#define FILE_LIMIT (64ull << 20) /* the loader refuses larger files */
#define MAX_COUNT 100000000ul

/* ---- deterministic pseudo-random numbers: a 64-bit LCG (Knuth's MMIX constants) ---- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s = r->s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	/* the low bits of an LCG are weak: mix the state for the output */
	uint64_t x = r->s;
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return x;
}

/* One independent stream per (kind, number), all from the fixed SEED. */
static void rng_seed(struct rng *r, uint64_t kind, uint64_t n)
{
	r->s = SEED ^ (kind * UINT64_C(0xd1b54a32d192ed03)) ^ (n * UINT64_C(0x9e3779b97f4a7c15));
	rng_next(r);
	rng_next(r);
}

/* Uniform enough in [0, n) for n far below 2^32. */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* true with probability 1 in n */
static bool one_in(struct rng *r, uint32_t n)
{
	return rng_below(r, n) == 0;
}

enum { KIND_MAILBOX = 1, KIND_DOMAIN = 2, KIND_PICK = 3 };

/* ---- layout: which mailboxes belong to which domain (0-based numbers internally) ---- */

struct layout {
	unsigned long domains, mailboxes, users;
	unsigned long q, r; /* each domain gets q mailboxes, the first r get one more */
};

static unsigned long dom_first(const struct layout *l, unsigned long d)
{
	return d * l->q + (d < l->r ? d : l->r);
}

static unsigned long dom_count(const struct layout *l, unsigned long d)
{
	return l->q + (d < l->r ? 1 : 0);
}

static unsigned long mb_domain(const struct layout *l, unsigned long k)
{
	unsigned long big = l->r * (l->q + 1);
	if (k < big)
		return k / (l->q + 1);
	return l->r + (k - big) / l->q; /* q > 0 here, since k < mailboxes */
}

/* ---- per-mailbox traits, derivable from the mailbox number alone ---- */

struct mb_traits {
	unsigned naliases; /* 0, 1 or 2 */
	bool copy_to, keep_copy_false, max_size, rate, disabled, note, no_spam, no_grey;
	struct rng r; /* continues with the password characters and the choices below */
};

static void mb_traits(unsigned long k, struct mb_traits *t)
{
	rng_seed(&t->r, KIND_MAILBOX, k);
	struct rng *r = &t->r;
	t->naliases = one_in(r, 3) ? 1 + (unsigned)one_in(r, 2) : 0;
	t->copy_to = one_in(r, 5);
	t->keep_copy_false = t->copy_to && one_in(r, 8);
	t->max_size = one_in(r, 10);
	t->rate = one_in(r, 10);
	t->disabled = one_in(r, 50);
	t->note = one_in(r, 12);
	t->no_spam = one_in(r, 25);
	t->no_grey = one_in(r, 30);
}

static bool mb_disabled(unsigned long k)
{
	struct mb_traits t;
	mb_traits(k, &t);
	return t.disabled;
}

/*
 * An enabled mailbox for a copy or a forward: a random one of [first, first+count) when
 * exclude_count is 0, else a random one outside [exclude_first, exclude_first+exclude_count)
 * among all mailboxes. A few tries avoid disabled targets; the last pick is kept anyway.
 */
static unsigned long pick_mailbox(const struct layout *l, struct rng *r, unsigned long first,
				  unsigned long count, unsigned long exclude_first, unsigned long exclude_count)
{
	unsigned long k = first;
	for (int tries = 0; tries < 4; tries++) {
		if (exclude_count) {
			k = rng_below(r, (uint32_t)(l->mailboxes - exclude_count));
			if (k >= exclude_first)
				k += exclude_count;
		} else {
			k = first + rng_below(r, (uint32_t)count);
		}
		if (!mb_disabled(k))
			break;
	}
	return k;
}

/* ---- output ---- */

static const char crypt_alphabet[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

struct totals {
	unsigned long aliases, copies, forwards, discards, dkim, ips, disabled, files;
	unsigned long long bytes;
};

static void put_crypt_chars(FILE *f, struct rng *r, char *buf, size_t n)
{
	uint64_t x = 0;
	unsigned left = 0;
	for (size_t i = 0; i < n; i++) {
		if (left == 0) {
			x = rng_next(r);
			left = 10; /* 10 x 6 bits of 64 */
		}
		buf[i] = crypt_alphabet[x & 63];
		x >>= 6;
		left--;
	}
	fwrite(buf, 1, n, f);
}

static const char *const notes[] = {
	"front desk", "billing contact", "shared: sales team", "old address, keep until 2026",
	"newsletter sender", "support queue", "CEO's assistant", "ticket #4711 (migrated from old host)",
	"seasonal staff", "do not delete: used by the shop \\\"orders\\\" export",
};
static const char *const sizes[] = { "2G", "1G", "500M", "5G", "10GiB", "250M", "0" };
static const unsigned rates[] = { 100, 200, 50, 1000, 0, 300, 2000 };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void put_mailbox(FILE *f, const struct layout *l, unsigned long d, unsigned long k, struct totals *tot)
{
	struct mb_traits t;
	char buf[128];
	mb_traits(k, &t);
	struct rng *r = &t.r;

	fprintf(f, "      mb%06lu:\n        password: {hash: \"{SHA512-CRYPT}$6$", k + 1);
	put_crypt_chars(f, r, buf, 16);
	fputc('$', f);
	put_crypt_chars(f, r, buf, 85);
	/* the last of the 86 characters holds only 2 bits in a real SHA512-CRYPT hash */
	fputc(crypt_alphabet[rng_below(r, 4)], f);
	fputs("\"}\n", f);

	if (t.naliases == 1)
		fprintf(f, "        aliases: [a%06lux]\n", k + 1);
	else if (t.naliases == 2)
		fprintf(f, "        aliases: [a%06lux, a%06luy]\n", k + 1, k + 1);
	tot->aliases += t.naliases;

	unsigned long first = dom_first(l, d), count = dom_count(l, d);
	if (t.copy_to && l->mailboxes > count) {
		unsigned long c = pick_mailbox(l, r, 0, 0, first, count);
		fprintf(f, "        copy_to: [mb%06lu@d%06lu.example]\n", c + 1, mb_domain(l, c) + 1);
		if (t.keep_copy_false)
			fputs("        keep_copy: false\n", f);
		tot->copies++;
	}
	if (t.max_size)
		fprintf(f, "        max_size: %s\n", sizes[rng_below(r, NELEM(sizes))]);
	if (t.rate)
		fprintf(f, "        rate_per_hour: %u\n", rates[rng_below(r, NELEM(rates))]);
	if (t.no_grey)
		fputs("        greylisting: off\n", f);
	if (t.no_spam)
		fputs("        spamassassin: false\n", f);
	if (t.disabled) {
		fputs("        disabled: true\n", f);
		tot->disabled++;
	}
	if (t.note)
		fprintf(f, "        note: \"%s\"\n", notes[rng_below(r, NELEM(notes))]);
}

static void put_domain(FILE *f, const struct layout *l, unsigned long d, unsigned long u, struct totals *tot)
{
	struct rng r;
	rng_seed(&r, KIND_DOMAIN, d);
	unsigned long first = dom_first(l, d), count = dom_count(l, d);

	fprintf(f, "  d%06lu.example:\n    owner: u%05lu\n", d + 1, u + 1);
	if (one_in(&r, 10)) {
		fprintf(f, "    ip: 192.0.2.%u\n", 1 + rng_below(&r, 254));
		tot->ips++;
	}
	uint32_t action = rng_below(&r, 100);
	if (action < 12 && count > 0) {
		struct rng pr;
		rng_seed(&pr, KIND_PICK, d);
		unsigned long k = pick_mailbox(l, &pr, first, count, 0, 0);
		fprintf(f, "    default_action: {forward: mb%06lu@d%06lu.example}\n", k + 1, d + 1);
		tot->forwards++;
	} else if (action < 25) {
		fputs("    default_action: discard\n", f);
		tot->discards++;
	} else if (action < 60) {
		fputs("    default_action: reject\n", f);
	} /* else: the default, reject */
	if (one_in(&r, 4)) {
		fputs("    dkim: true\n", f);
		tot->dkim++;
	}
	if (one_in(&r, 3))
		fputs("    dmarc: true\n", f);
	if (one_in(&r, 20))
		fputs("    greylisting: false\n", f);
	if (one_in(&r, 40))
		fputs("    antivirus: false\n", f);
	if (count == 0)
		return;
	fputs("    mailboxes:\n", f);
	for (unsigned long k = first; k < first + count; k++)
		put_mailbox(f, l, d, k, tot);
}

static FILE *open_out(const char *dir, const char *name, char *path, size_t pathsize, char *iobuf)
{
	snprintf(path, pathsize, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "gen_desired: cannot create %s: %s\n", path, strerror(errno));
		exit(1);
	}
	setvbuf(f, iobuf, _IOFBF, IOBUF_SIZE);
	return f;
}

static void close_out(FILE *f, const char *path, struct totals *tot)
{
	long size = ftell(f);
	if (ferror(f) || fclose(f) != 0) {
		fprintf(stderr, "gen_desired: cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (size > 0) {
		tot->bytes += (unsigned long long)size;
		if ((unsigned long long)size > FILE_LIMIT)
			fprintf(stderr, "gen_desired: warning: %s has %ld bytes, more than the loader's 64 MiB limit "
					"(use more USERS)\n",
				path, size);
	}
	tot->files++;
}

static unsigned long parse_count(const char *s, const char *what, unsigned long min)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > MAX_COUNT) {
		fprintf(stderr, "gen_desired: %s must be an integer from %lu to %lu, not '%s'\n", what, min, MAX_COUNT,
			s);
		exit(64);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fputs("usage: gen_desired OUTDIR DOMAINS MAILBOXES [USERS]\n"
		      "  writes OUTDIR/00-server.yaml and OUTDIR/user-NNNNN.yaml (USERS default: DOMAINS/100, at least 1)\n",
		      stderr);
		return 64;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	const char *dir = argv[1];
	struct layout l;
	l.domains = parse_count(argv[2], "DOMAINS", 1);
	l.mailboxes = parse_count(argv[3], "MAILBOXES", 0);
	l.users = argc > 4 ? parse_count(argv[4], "USERS", 1) : (l.domains / 100 ? l.domains / 100 : 1);
	l.q = l.mailboxes / l.domains;
	l.r = l.mailboxes % l.domains;

	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen_desired: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	char *iobuf = malloc(IOBUF_SIZE);
	size_t pathsize = strlen(dir) + 64;
	char *path = malloc(pathsize);
	if (!iobuf || !path) {
		fputs("gen_desired: out of memory\n", stderr);
		return 1;
	}
	struct totals tot = { 0 };

	FILE *f = open_out(dir, "00-server.yaml", path, pathsize, iobuf);
	fputs("# generated by gen_desired (tests/bench): server-wide defaults\n"
	      "version: 1\n"
	      "server:\n"
	      "  password_scheme: CRAM-MD5\n"
	      "  rate_per_hour: 500\n"
	      "  dmarc: \"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}\"\n",
	      f);
	close_out(f, path, &tot);

	for (unsigned long u = 0; u < l.users; u++) {
		char name[32];
		snprintf(name, sizeof(name), "user-%05lu.yaml", u + 1);
		f = open_out(dir, name, path, pathsize, iobuf);
		fprintf(f,
			"# generated by gen_desired (tests/bench)\n"
			"version: 1\n"
			"users:\n"
			"  u%05lu:\n"
			"    role: user\n"
			"    account: existing\n",
			u + 1);
		if (u < l.domains) {
			fputs("domains:\n", f);
			for (unsigned long d = u; d < l.domains; d += l.users)
				put_domain(f, &l, d, u, &tot);
		}
		close_out(f, path, &tot);
	}

	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr,
		"gen_desired: %s: %lu users, %lu domains, %lu mailboxes, %lu aliases, %lu copy_to, "
		"%lu forward / %lu discard catch-alls, %lu dkim, %lu ip, %lu disabled; %lu files, %.1f MiB in %.3f s\n",
		dir, l.users, l.domains, l.mailboxes, tot.aliases, tot.copies, tot.forwards, tot.discards, tot.dkim,
		tot.ips, tot.disabled, tot.files, (double)tot.bytes / (1024.0 * 1024.0), secs);
	free(path);
	free(iobuf);
	return 0;
}
