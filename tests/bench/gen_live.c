/*
 * gen_live ROOT NDOMAINS NMAILBOXES [--layout debian|rhel] [--seed N]: write a synthetic,
 * deterministic live tree below ROOT -- the ten files mailrecon reads (one codec each in
 * src/codec/), as the panel and the operator would have left them -- for the benchmarks in
 * tests/bench.
 *
 *   Debian (default)                          RHEL
 *   ROOT/etc/exim4/passwd                     ROOT/etc/exim/passwd
 *   ROOT/etc/exim4/aliases                    ROOT/etc/exim/aliases
 *   ROOT/etc/exim4/ratelimits                 ROOT/etc/exim/ratelimits
 *   ROOT/etc/exim4/domains                    ROOT/etc/exim/domains
 *   ROOT/etc/exim4/domainips                  ROOT/etc/exim/domainips
 *   ROOT/etc/dovecot/dovecot.passwd           (same)
 *   ROOT/etc/postgrey/whitelist_recipients    ROOT/etc/postfix/postgrey_whitelist_recipients
 *   ROOT/etc/mail/spamassassin/local.cf       (same)
 *   ROOT/etc/clamav.whitelist                 (same)
 *   ROOT/etc/mailrecon/registry               (same)
 *
 * Users u1... (role user; USERS = NDOMAINS/10, at least 1) own the domains d1.example...
 * round-robin (domain d belongs to user (d-1) % USERS + 1); a few resellers r1... (role
 * reseller, no domains) have about a third of the users. The mailboxes m1@... are spread
 * evenly over the domains, numbered in domain order. The files agree with each other: every
 * mailbox has its exim-passwd and dovecot-passwd lines, aliases and copies name existing
 * mailboxes (or an outside address, other.example), catch-alls forward to an enabled
 * mailbox of the domain, "@DOMAIN" redirects only go to a lower-numbered domain (no loops),
 * user limits are at least what the user has, every domain has its registry owner line.
 *
 * Every value is drawn from a 64-bit LCG seeded per (kind, number) from --seed, so the same
 * arguments always give the same bytes. Plain C11 + libc, buffered stdio; no file is read.
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
#define IOBUF_SIZE (1u << 20)            /* per file; ten files are open at once */
#define MAX_COUNT 100000000ul

/* The markers of mailrecon's block in a shared file: MR_BLOCK_BEGIN/MR_BLOCK_END in src/codec/codec.h. */
#define BLOCK_BEGIN "# BEGIN mailrecon managed block: edits inside it are overwritten"
#define BLOCK_END "# END mailrecon managed block"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic pseudo-random numbers: a 64-bit LCG (Knuth's MMIX constants) ---- */

struct rng {
	uint64_t s;
};

static uint64_t base_seed; /* from --seed */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

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

/* One independent stream per (kind, number), all from the seed. */
static void rng_seed(struct rng *r, uint64_t kind, uint64_t n)
{
	r->s = base_seed ^ (kind * UINT64_C(0xd1b54a32d192ed03)) ^ (n * UINT64_C(0x9e3779b97f4a7c15));
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

enum { KIND_MAILBOX = 1, KIND_DOMAIN = 2, KIND_PICK = 3, KIND_USER = 4, KIND_COPY = 5 };

/* ---- layout: users, domains and mailboxes (0-based numbers internally, 1-based in names) ---- */

struct layout {
	unsigned long domains, mailboxes, users, resellers;
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

static unsigned long dom_owner(const struct layout *l, unsigned long d)
{
	return d % l->users;
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
	bool disabled, save_no, sha512, rate, no_grey, no_spam, note;
	unsigned naliases, ncopies; /* 0-2 each */
	struct rng r;               /* continues with the password characters and the choices below */
};

static void mb_traits(unsigned long k, struct mb_traits *t)
{
	rng_seed(&t->r, KIND_MAILBOX, k);
	struct rng *r = &t->r;
	t->disabled = one_in(r, 100);
	uint32_t c = rng_below(r, 100);
	t->save_no = c < 2;                                 /* 2%: only the copies get the mail */
	t->ncopies = c < 10 ? 1 + (unsigned)one_in(r, 8) : 0; /* 10% send a copy */
	uint32_t a = rng_below(r, 30);
	t->naliases = a < 8 ? 1 : a == 8 ? 2 : 0; /* 10 aliases per 30 mailboxes */
	t->sha512 = one_in(r, 5);
	t->rate = one_in(r, 10);
	t->no_grey = one_in(r, 30);
	t->no_spam = one_in(r, 25);
	t->note = one_in(r, 12);
}

static bool mb_disabled(unsigned long k)
{
	struct rng r;
	rng_seed(&r, KIND_MAILBOX, k);
	return one_in(&r, 100); /* the first draw of mb_traits */
}

/*
 * An enabled mailbox for a copy or a catch-all: a random one of [first, first+count) when
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

/* ---- the output files ---- */

enum {
	F_PASSWD, F_ALIASES, F_RATELIMITS, F_DOMAINS, F_DOMAINIPS, F_DOVECOT, F_POSTGREY, F_SPAMASSASSIN,
	F_CLAMAV, F_REGISTRY, F_COUNT
};

static const struct {
	const char *path[2]; /* debian, rhel; as in the codecs' tables */
	mode_t mode;
} files[F_COUNT] = {
	[F_PASSWD] = { { "/etc/exim4/passwd", "/etc/exim/passwd" }, 0640 },
	[F_ALIASES] = { { "/etc/exim4/aliases", "/etc/exim/aliases" }, 0640 },
	[F_RATELIMITS] = { { "/etc/exim4/ratelimits", "/etc/exim/ratelimits" }, 0640 },
	[F_DOMAINS] = { { "/etc/exim4/domains", "/etc/exim/domains" }, 0640 },
	[F_DOMAINIPS] = { { "/etc/exim4/domainips", "/etc/exim/domainips" }, 0640 },
	[F_DOVECOT] = { { "/etc/dovecot/dovecot.passwd", "/etc/dovecot/dovecot.passwd" }, 0640 },
	[F_POSTGREY] = { { "/etc/postgrey/whitelist_recipients", "/etc/postfix/postgrey_whitelist_recipients" },
			 0644 },
	[F_SPAMASSASSIN] = { { "/etc/mail/spamassassin/local.cf", "/etc/mail/spamassassin/local.cf" }, 0644 },
	[F_CLAMAV] = { { "/etc/clamav.whitelist", "/etc/clamav.whitelist" }, 0644 },
	[F_REGISTRY] = { { "/etc/mailrecon/registry", "/etc/mailrecon/registry" }, 0644 },
};

struct out {
	FILE *f[F_COUNT];
	char *path[F_COUNT];
	char *buf[F_COUNT];
	unsigned long long bytes;
};

static void die_errno(const char *what, const char *path)
{
	fprintf(stderr, "gen_live: cannot %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* mkdir -p of the directory part of path (path is modified and restored) */
static void make_parents(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			die_errno("create", path);
		*p = '/';
	}
}

static void open_all(struct out *o, const char *root, int layout)
{
	for (int i = 0; i < F_COUNT; i++) {
		const char *rel = files[i].path[layout];
		size_t n = strlen(root) + strlen(rel) + 1;
		o->path[i] = malloc(n);
		o->buf[i] = malloc(IOBUF_SIZE);
		if (!o->path[i] || !o->buf[i]) {
			fputs("gen_live: out of memory\n", stderr);
			exit(1);
		}
		snprintf(o->path[i], n, "%s%s", root, rel);
		make_parents(o->path[i]);
		o->f[i] = fopen(o->path[i], "w");
		if (!o->f[i])
			die_errno("create", o->path[i]);
		setvbuf(o->f[i], o->buf[i], _IOFBF, IOBUF_SIZE);
		if (fchmod(fileno(o->f[i]), files[i].mode) != 0)
			die_errno("chmod", o->path[i]);
	}
}

static void close_all(struct out *o)
{
	for (int i = 0; i < F_COUNT; i++) {
		long size = ftell(o->f[i]);
		if (ferror(o->f[i]) || fclose(o->f[i]) != 0)
			die_errno("write", o->path[i]);
		if (size > 0)
			o->bytes += (unsigned long long)size;
		free(o->path[i]);
		free(o->buf[i]);
	}
}

/* ---- text pieces ---- */

static const char crypt_alphabet[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static const char hexdigits[] = "0123456789abcdef";

static void put_crypt_chars(FILE *f, struct rng *r, size_t n)
{
	char buf[128];
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

/* {SHA512-CRYPT}$6$<16 salt>$<86 hash> */
static void put_sha512(FILE *f, struct rng *r)
{
	fputs("{SHA512-CRYPT}$6$", f);
	put_crypt_chars(f, r, 16);
	fputc('$', f);
	put_crypt_chars(f, r, 85);
	/* the last of the 86 characters holds only 2 bits in a real SHA512-CRYPT hash */
	fputc(crypt_alphabet[rng_below(r, 4)], f);
}

/* {CRAM-MD5}<64 lowercase hex> */
static void put_cram_md5(FILE *f, struct rng *r)
{
	char buf[64];
	for (int i = 0; i < 64; i += 16) {
		uint64_t x = rng_next(r);
		for (int j = 0; j < 16; j++, x >>= 4)
			buf[i + j] = hexdigits[x & 15];
	}
	fputs("{CRAM-MD5}", f);
	fwrite(buf, 1, sizeof(buf), f);
}

/* registry values: bytes outside [!-~] and '%', ':', '=', '#' as %XX (mr_codec_pct_encode) */
static void put_pct(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '%' || *p == ':' || *p == '=' || *p == '#')
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	}
}

static const char *const notes[] = {
	"front desk", "billing contact", "shared: sales team", "old address, keep until 2026",
	"newsletter sender", "support queue", "CEO's assistant", "ticket #4711 (migrated from old host)",
	"seasonal staff", "do not delete: used by the shop \"orders\" export", "100% = full mailbox alert",
};
static const char *const quotas[] = { "1G", "5G", "500M", "10G" };
static const unsigned mb_rates[] = { 100, 200, 50, 1000, 0, 300, 2000 };
static const unsigned user_rates[] = { 200, 300, 1000, 100 };

/* ---- the generator ---- */

struct totals {
	unsigned long disabled, save_no, sha512, aliases, copies, ext_copies, rates, user_rates, catchalls,
		blackholes, redirects, ips, grey, spam, clam, notes, limits;
};

struct ctx {
	const struct layout *l;
	struct out *o;
	struct totals tot;
};

#define FP(c, i) ((c)->o->f[i])

static void put_copy_target(FILE *f, struct ctx *c, struct rng *r, unsigned long k, unsigned long d,
			    unsigned i, unsigned long *prev)
{
	const struct layout *l = c->l;
	unsigned long first = dom_first(l, d), count = dom_count(l, d);
	if (l->mailboxes > count && !one_in(r, 4)) {
		unsigned long t = pick_mailbox(l, r, 0, 0, first, count);
		if (i == 0 || t != *prev) {
			*prev = t;
			fprintf(f, "m%lu@d%lu.example", t + 1, mb_domain(l, t) + 1);
			return;
		}
	}
	/* an outside address; one per (mailbox, copy) so that no copy appears twice */
	fprintf(f, "c%lu-%u@other.example", k + 1, i + 1);
	c->tot.ext_copies++;
}

static void put_mailbox(struct ctx *c, unsigned long d, unsigned long u, unsigned long k)
{
	struct mb_traits t;
	mb_traits(k, &t);
	struct rng *r = &t.r;
	struct totals *tot = &c->tot;
	FILE *f;

	/* exim passwd: ADDR:owner=U [disabled=self] [save=no] */
	f = FP(c, F_PASSWD);
	fprintf(f, "m%lu@d%lu.example:owner=u%lu", k + 1, d + 1, u + 1);
	if (t.disabled) {
		fputs(" disabled=self", f);
		tot->disabled++;
	}
	if (t.save_no) {
		fputs(" save=no", f);
		tot->save_no++;
	}
	fputc('\n', f);

	/* dovecot passwd; a disabled mailbox is its line commented out */
	f = FP(c, F_DOVECOT);
	fprintf(f, "%sm%lu@d%lu.example:", t.disabled ? "#" : "", k + 1, d + 1);
	if (t.sha512)
		put_sha512(f, r);
	else
		put_cram_md5(f, r);
	fprintf(f, ":%lu:%lu::/var/www/u%lu/data/email/d%lu.example/m%lu::", 1000 + u + 1, 1000 + u + 1, u + 1,
		d + 1, k + 1);
	if (t.sha512) {
		tot->sha512++;
	} else {
		uint32_t q = rng_below(r, 10);
		fprintf(f, "userdb_quota_rule=*:bytes=%s", q < 7 ? "2G" : quotas[q - 7]);
	}
	fputc('\n', f);

	/* aliases: ALIAS@d:MAIN@d:fwd, then copies TARGET:MAIN@d:user */
	f = FP(c, F_ALIASES);
	for (unsigned i = 0; i < t.naliases; i++)
		fprintf(f, "a%lu%s@d%lu.example:m%lu@d%lu.example:fwd\n", k + 1, i ? "b" : "", d + 1, k + 1, d + 1);
	tot->aliases += t.naliases;
	if (t.ncopies) {
		struct rng cr;
		rng_seed(&cr, KIND_COPY, k);
		unsigned long prev = 0;
		for (unsigned i = 0; i < t.ncopies; i++) {
			put_copy_target(f, c, &cr, k, d, i, &prev);
			fprintf(f, ":m%lu@d%lu.example:user\n", k + 1, d + 1);
		}
		tot->copies += t.ncopies;
	}

	if (t.rate) {
		fprintf(FP(c, F_RATELIMITS), "m%lu@d%lu.example:%u\n", k + 1, d + 1,
			mb_rates[rng_below(r, NELEM(mb_rates))]);
		tot->rates++;
	}
	if (t.no_grey) {
		fprintf(FP(c, F_POSTGREY), "m%lu@d%lu.example\n", k + 1, d + 1);
		tot->grey++;
	}
	if (t.no_spam) {
		fprintf(FP(c, F_SPAMASSASSIN), "whitelist_to m%lu@d%lu.example\n", k + 1, d + 1);
		tot->spam++;
	}
	if (t.note) {
		f = FP(c, F_REGISTRY);
		fprintf(f, "mailbox m%lu@d%lu.example note=", k + 1, d + 1);
		put_pct(f, notes[rng_below(r, NELEM(notes))]);
		fputc('\n', f);
		tot->notes++;
	}
}

static void put_domain(struct ctx *c, unsigned long d)
{
	const struct layout *l = c->l;
	struct totals *tot = &c->tot;
	struct rng r;
	rng_seed(&r, KIND_DOMAIN, d);
	unsigned long u = dom_owner(l, d), first = dom_first(l, d), count = dom_count(l, d);

	/* the default action: reject, discard, forward to a mailbox, or "@DOMAIN" */
	FILE *f = FP(c, F_DOMAINS);
	uint32_t action = rng_below(&r, 100);
	if (action >= 90 && d > 0) {
		/* only to a lower-numbered domain, so redirects never loop */
		fprintf(f, "d%lu.example: @d%lu.example\n", d + 1, (unsigned long)rng_below(&r, (uint32_t)d) + 1);
		tot->redirects++;
	} else if (action >= 75 && count > 0) {
		struct rng pr;
		rng_seed(&pr, KIND_PICK, d);
		unsigned long k = pick_mailbox(l, &pr, first, count, 0, 0);
		fprintf(f, "d%lu.example: m%lu@d%lu.example\n", d + 1, k + 1, d + 1);
		tot->catchalls++;
	} else if (action >= 60) {
		fprintf(f, "d%lu.example: :blackhole:\n", d + 1);
		tot->blackholes++;
	} else {
		fprintf(f, "d%lu.example: :fail: No such user here\n", d + 1);
	}

	if (rng_below(&r, 5) == 0) {
		fprintf(FP(c, F_DOMAINIPS), "d%lu.example :203.0.113.%u\n", d + 1, 1 + rng_below(&r, 254));
		tot->ips++;
	}
	if (one_in(&r, 20)) {
		fprintf(FP(c, F_POSTGREY), "d%lu.example\n", d + 1);
		tot->grey++;
	}
	if (one_in(&r, 20)) {
		fprintf(FP(c, F_SPAMASSASSIN), "whitelist_to *@d%lu.example\n", d + 1);
		tot->spam++;
	}
	if (one_in(&r, 40)) {
		fprintf(FP(c, F_CLAMAV), "d%lu.example\n", d + 1);
		tot->clam++;
	}
	fprintf(FP(c, F_REGISTRY), "domain d%lu.example owner=u%lu%s\n", d + 1, u + 1,
		one_in(&r, 3) ? " dmarc=yes" : "");

	for (unsigned long k = first; k < first + count; k++)
		put_mailbox(c, d, u, k);
}

/* The users and resellers in the registry, the user send limits in ratelimits. */
static void put_users(struct ctx *c)
{
	const struct layout *l = c->l;
	unsigned long *ndom = calloc(l->users, sizeof(*ndom)), *nmb = calloc(l->users, sizeof(*nmb));
	if (!ndom || !nmb) {
		fputs("gen_live: out of memory\n", stderr);
		exit(1);
	}
	for (unsigned long d = 0; d < l->domains; d++) {
		ndom[dom_owner(l, d)]++;
		nmb[dom_owner(l, d)] += dom_count(l, d);
	}
	FILE *reg = FP(c, F_REGISTRY), *rl = FP(c, F_RATELIMITS);
	for (unsigned long s = 0; s < l->resellers; s++)
		fprintf(reg, "user r%lu role=reseller\n", s + 1);
	for (unsigned long u = 0; u < l->users; u++) {
		struct rng r;
		rng_seed(&r, KIND_USER, u);
		fprintf(reg, "user u%lu role=user", u + 1);
		if (one_in(&r, 3))
			fprintf(reg, " reseller=r%lu", (unsigned long)rng_below(&r, (uint32_t)l->resellers) + 1);
		if (one_in(&r, 5)) {
			/* limits the user keeps to: at least what it has */
			fprintf(reg, " mail_domains=%lu mailboxes=%lu", ndom[u] + rng_below(&r, 5),
				nmb[u] + rng_below(&r, 50));
			c->tot.limits++;
		}
		fputc('\n', reg);
		if (one_in(&r, 10)) {
			fprintf(rl, "u%lu:%u\n", u + 1, user_rates[rng_below(&r, NELEM(user_rates))]);
			c->tot.user_rates++;
		}
	}
	free(ndom);
	free(nmb);
}

/* Headers: the operator's and the package's own lines before the blocks, the block starts. */
static void put_headers(struct ctx *c)
{
	fputs("# generated by gen_live (tests/bench)\n", FP(c, F_REGISTRY));
	fputs("*:500\n", FP(c, F_RATELIMITS));
	fputs("# postfix recipients to not greylist\n"
	      "# (see postgrey(8) for details)\n"
	      "postmaster@\n"
	      "abuse@\n"
	      "\n" BLOCK_BEGIN "\n",
	      FP(c, F_POSTGREY));
	fputs("# This is the right place to customize your installation of SpamAssassin.\n"
	      "#\n"
	      "# See 'perldoc Mail::SpamAssassin::Conf' for details of what can be\n"
	      "# tweaked.\n"
	      "#\n"
	      "rewrite_header Subject *****SPAM*****\n"
	      "report_safe 0\n"
	      "required_score 5.0\n"
	      "use_bayes 1\n"
	      "bayes_auto_learn 1\n"
	      "\n" BLOCK_BEGIN "\n",
	      FP(c, F_SPAMASSASSIN));
	fputs("# domains whose mail Exim does not scan with ClamAV\n"
	      "localhost\n"
	      "\n" BLOCK_BEGIN "\n",
	      FP(c, F_CLAMAV));
}

/* Trailers: the block ends, and a few operator lines after them. */
static void put_trailers(struct ctx *c)
{
	fputs(BLOCK_END "\n"
	      "\n"
	      "# local additions\n"
	      "/^noreply@/\n"
	      "hostmaster@\n",
	      FP(c, F_POSTGREY));
	fputs(BLOCK_END "\n"
	      "\n"
	      "# operator: trusted partners\n"
	      "whitelist_from *@partner.example\n"
	      "score URIBL_BLOCKED 0\n",
	      FP(c, F_SPAMASSASSIN));
	fputs(BLOCK_END "\n"
	      "mx.partner.example\n",
	      FP(c, F_CLAMAV));
}

static unsigned long parse_count(const char *s, const char *what, unsigned long min)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > MAX_COUNT) {
		fprintf(stderr, "gen_live: %s must be an integer from %lu to %lu, not '%s'\n", what, min, MAX_COUNT, s);
		exit(64);
	}
	return v;
}

static void usage(void)
{
	fputs("usage: gen_live ROOT NDOMAINS NMAILBOXES [--layout debian|rhel] [--seed N]\n"
	      "  writes the live files (exim, dovecot, postgrey, spamassassin, clamav, registry) below ROOT\n",
	      stderr);
	exit(64);
}

int main(int argc, char **argv)
{
	const char *pos[3];
	int npos = 0, layout = 0;
	uint64_t seed = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--layout") == 0 || strcmp(a, "--seed") == 0) {
			if (i + 1 >= argc)
				usage();
			const char *v = argv[++i];
			if (a[2] == 'l') {
				if (strcmp(v, "debian") == 0)
					layout = 0;
				else if (strcmp(v, "rhel") == 0)
					layout = 1;
				else
					usage();
			} else {
				char *end;
				errno = 0;
				seed = strtoull(v, &end, 10);
				if (errno || end == v || *end || v[0] == '-') {
					fprintf(stderr, "gen_live: --seed must be a non-negative integer, not '%s'\n", v);
					return 64;
				}
			}
		} else if (a[0] == '-' && a[1] == '-') {
			usage();
		} else if (npos < 3) {
			pos[npos++] = a;
		} else {
			usage();
		}
	}
	if (npos != 3)
		usage();

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	const char *root = pos[0];
	struct layout l;
	l.domains = parse_count(pos[1], "NDOMAINS", 1);
	l.mailboxes = parse_count(pos[2], "NMAILBOXES", 0);
	l.users = l.domains / 10 ? l.domains / 10 : 1;
	l.resellers = 1 + l.users / 25;
	l.q = l.mailboxes / l.domains;
	l.r = l.mailboxes % l.domains;
	base_seed = mix64(SEED ^ mix64(seed));

	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		die_errno("create", root);
	struct out o = { 0 };
	open_all(&o, root, layout);
	struct ctx c = { .l = &l, .o = &o };

	put_headers(&c);
	put_users(&c);
	for (unsigned long d = 0; d < l.domains; d++)
		put_domain(&c, d);
	put_trailers(&c);
	close_all(&o);

	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	const struct totals *t = &c.tot;
	fprintf(stderr,
		"gen_live: %s (%s, seed %" PRIu64 "): %lu users (%lu with limits, %lu send limits), %lu resellers, "
		"%lu domains (%lu catch-all, %lu discard, %lu @domain, %lu ip), %lu mailboxes (%lu disabled, "
		"%lu save=no, %lu SHA512-CRYPT, %lu send limits, %lu notes), %lu aliases, %lu copies (%lu outside), "
		"whitelists %lu postgrey / %lu spamassassin / %lu clamav; %.1f MiB in %.3f s\n",
		root, layout ? "rhel" : "debian", seed, l.users, t->limits, t->user_rates, l.resellers, l.domains,
		t->catchalls, t->blackholes, t->redirects, t->ips, l.mailboxes, t->disabled, t->save_no, t->sha512,
		t->rates, t->notes, t->aliases, t->copies, t->ext_copies, t->grey, t->spam, t->clam,
		(double)o.bytes / (1024.0 * 1024.0), secs);
	return 0;
}
