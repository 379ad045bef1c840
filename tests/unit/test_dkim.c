/*
 * DKIM rotation (issue 16): the DNS answer reader of dns --check (util/dnstxt.c) on
 * hand-made messages, the resolver address, the STATE_DIR/dkim files (codec/dkim_state.c)
 * and the decision plan and apply share (mr_dkim_step).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "codec/dkim_state.h"
#include "codec/dkim_txt.h"
#include "plan/plan.h"
#include "tests.h"
#include "util/dnstxt.h"

/* ---- a DNS message builder ---- */
struct msg {
	unsigned char b[4096];
	size_t n;
};

static void put8(struct msg *m, unsigned v) { m->b[m->n++] = (unsigned char)v; }
static void put16(struct msg *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}
static void put_name(struct msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		put8(m, (unsigned)l);
		memcpy(m->b + m->n, name, l);
		m->n += l;
		name += l + (dot ? 1 : 0);
	}
	put8(m, 0);
}
/* header and the question (name, TXT, IN); flags 0x8180 = QR RD RA NOERROR */
static void header(struct msg *m, unsigned id, unsigned flags, unsigned an, const char *qname)
{
	m->n = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, 1);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname);
	put16(m, 16);
	put16(m, 1);
}
/* an answer record for owner (NULL: a pointer to the question's name) */
static void rr(struct msg *m, const char *owner, unsigned type, const unsigned char *rdata, size_t rdlen)
{
	if (owner)
		put_name(m, owner);
	else
		put16(m, 0xc00c);
	put16(m, type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	put16(m, (unsigned)rdlen);
	memcpy(m->b + m->n, rdata, rdlen);
	m->n += rdlen;
}
/* TXT rdata from strings */
static size_t txt(unsigned char *out, const char *const *strs)
{
	size_t n = 0;
	for (; *strs; strs++) {
		size_t l = strlen(*strs);
		out[n++] = (unsigned char)l;
		memcpy(out + n, *strs, l);
		n += l;
	}
	return n;
}

#define Q "sel._domainkey.example.com"

START_TEST(txt_strings_joined)
{
	struct msg m;
	unsigned char rd[600];
	header(&m, 0x1234, 0x8180, 2, Q);
	size_t l = txt(rd, (const char *const[]){ "v=DKIM1; p=AAAA", "BBBB", NULL });
	rr(&m, NULL, 16, rd, l);
	l = txt(rd, (const char *const[]){ "other", NULL });
	rr(&m, "x.example.com", 16, rd, l); /* another name: not ours */
	struct mr_txt_answer a = MR_TXT_ANSWER_INIT;
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 0x1234, &err), 0);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_str_eq(a.v[0], "v=DKIM1; p=AAAABBBB");
	char *p = NULL;
	ck_assert_ptr_null(mr_dkim_tags_p(a.v[0], a.len[0], &p));
	ck_assert_str_eq(p, "AAAABBBB");
	free(p);
	mr_txt_answer_release(&a);
	/* the same name in another case, with a final dot */
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, "SEL._DomainKey.Example.com.", 0x1234, &err), 0);
	ck_assert_uint_eq(a.n, 1);
	mr_txt_answer_release(&a);
	mr_buf_release(&err);
}
END_TEST

START_TEST(txt_not_the_answer)
{
	struct msg m;
	unsigned char rd[64];
	size_t l = txt(rd, (const char *const[]){ "v=DKIM1; p=AA", NULL });
	struct mr_txt_answer a = MR_TXT_ANSWER_INIT;
	struct mr_buf err = MR_BUF_INIT;
	header(&m, 0x1234, 0x8180, 1, Q);
	rr(&m, NULL, 16, rd, l);
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 0x4321, &err), -1); /* another id */
	header(&m, 0x1234, 0x0100, 1, Q);                                   /* a query, not a reply */
	rr(&m, NULL, 16, rd, l);
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 0x1234, &err), -1);
	header(&m, 0x1234, 0x8180, 1, "other._domainkey.example.com"); /* another question */
	rr(&m, NULL, 16, rd, l);
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 0x1234, &err), -1);
	header(&m, 0x1234, 0x8182, 0, Q); /* SERVFAIL */
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 0x1234, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "SERVFAIL"));
	ck_assert_int_eq(mr_txt_parse(&a, m.b, 5, Q, 0x1234, &err), -1); /* cut in the header */
	ck_assert_uint_eq(a.n, 0);
	mr_buf_release(&err);
}
END_TEST

START_TEST(txt_hostile_lengths)
{
	struct msg m;
	struct mr_txt_answer a = MR_TXT_ANSWER_INIT;
	struct mr_buf err = MR_BUF_INIT;
	/* a character-string longer than its record */
	unsigned char rd[] = { 200, 'v', '=' };
	header(&m, 7, 0x8180, 1, Q);
	rr(&m, NULL, 16, rd, sizeof(rd));
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 7, &err), -1);
	/* a record longer than the message */
	header(&m, 7, 0x8180, 1, Q);
	unsigned char ok[] = { 2, 'v', '=' };
	rr(&m, NULL, 16, ok, sizeof(ok));
	m.b[m.n - 4] = 0x0f; /* rdlength 15: 3 bytes follow */
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 7, &err), -1);
	/* more records than kept: the rest counted, not read */
	header(&m, 7, 0x8180, MR_TXT_MAX_RECORDS + 3, Q);
	for (int i = 0; i < MR_TXT_MAX_RECORDS + 3; i++)
		rr(&m, NULL, 16, ok, sizeof(ok));
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 7, &err), 0);
	ck_assert_uint_eq(a.n, MR_TXT_MAX_RECORDS);
	ck_assert_uint_eq(a.dropped, 3);
	mr_txt_answer_release(&a);
	/* an empty record, and an empty answer with NXDOMAIN */
	header(&m, 7, 0x8180, 1, Q);
	rr(&m, NULL, 16, ok, 0);
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 7, &err), 0);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_uint_eq(a.len[0], 0);
	mr_txt_answer_release(&a);
	header(&m, 7, 0x8183, 0, Q);
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 7, &err), 0);
	ck_assert_uint_eq(a.n, 0);
	ck_assert_int_eq(a.rcode, 3);
	mr_buf_release(&err);
}
END_TEST

START_TEST(txt_cname_chain)
{
	struct msg m;
	unsigned char rd[128], cn[128];
	struct msg tmp;
	header(&m, 9, 0x8180, 3, Q);
	tmp.n = 0;
	put_name(&tmp, "keys.example.net");
	memcpy(cn, tmp.b, tmp.n);
	rr(&m, NULL, 5, cn, tmp.n);
	size_t l = txt(rd, (const char *const[]){ "v=DKIM1; p=CC", NULL });
	rr(&m, "keys.example.net", 16, rd, l);
	l = txt(rd, (const char *const[]){ "v=DKIM1; p=DD", NULL });
	rr(&m, "elsewhere.example.net", 16, rd, l); /* not on the chain */
	struct mr_txt_answer a = MR_TXT_ANSWER_INIT;
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_txt_parse(&a, m.b, m.n, Q, 9, &err), 0);
	ck_assert_uint_eq(a.n, 1);
	ck_assert_str_eq(a.v[0], "v=DKIM1; p=CC");
	mr_txt_answer_release(&a);
	mr_buf_release(&err);
}
END_TEST

START_TEST(resolver_address)
{
	struct sockaddr_storage ss;
	unsigned len;
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_dns_server("127.0.0.1:5353", &ss, &len, &err), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5353);
	ck_assert_int_eq(mr_dns_server("192.0.2.1", &ss, &len, &err), 0);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 53);
	ck_assert_int_eq(mr_dns_server("[::1]:5300", &ss, &len, &err), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 5300);
	ck_assert_int_eq(mr_dns_server("::1", &ss, &len, &err), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	const char *bad[] = { "x", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", "[::1", "[::1]5", "1.2.3.4:5x", "ns1.example.com:53" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ck_assert_msg(mr_dns_server(bad[i], &ss, &len, &err) == -1, "'%s' was taken", bad[i]);
	mr_buf_release(&err);
}
END_TEST

/* a server that never answers: an error after the timeout, not a hang */
START_TEST(resolver_timeout)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t sl = sizeof(sa);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	char spec[64];
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", ntohs(sa.sin_port));
	struct mr_txt_answer a;
	struct mr_buf err = MR_BUF_INIT;
	time_t t0 = time(NULL);
	ck_assert_int_eq(mr_txt_query(&a, Q, spec, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "no answer"));
	ck_assert_int_le(time(NULL) - t0, MR_DNS_TIMEOUT_MS / 1000 + 2);
	close(fd);
	mr_buf_release(&err);
}
END_TEST

START_TEST(state_files)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_dkim_state_render("new1", "QUJD", "checked", 1700000000, &b);
	ck_assert_str_eq(b.ptr, "selector new1\npublic QUJD\nchecked 1700000000\n");
	const char *sel, *pub;
	int64_t when;
	char *copy = strdup(b.ptr);
	ck_assert_int_eq(mr_dkim_state_parse(copy, strlen(copy), "checked", &sel, &pub, &when), 0);
	ck_assert_str_eq(sel, "new1");
	ck_assert_str_eq(pub, "QUJD");
	ck_assert_int_eq(when, 1700000000);
	free(copy);
	const char *bad[] = {
		"selector new1\npublic QUJD\nchecked 1700000000",       /* no final newline */
		"selector new1\npublic QUJD\nuntil 1700000000\n",       /* another tag */
		"selector new1\npublic QUJD\nchecked 1700000000\nx\n",  /* a line more */
		"selector NEW 1\npublic QUJD\nchecked 1700000000\n",    /* not a selector */
		"selector new1\npublic QU\"D\nchecked 1700000000\n",    /* not base64 */
		"selector new1\npublic QUJD\nchecked -1\n",             /* not a time */
		"selector new1\npublic \nchecked 1\n",                  /* empty key */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		copy = strdup(bad[i]);
		ck_assert_msg(mr_dkim_state_parse(copy, strlen(copy), "checked", &sel, &pub, &when) == -1, "taken: %s",
			      bad[i]);
		free(copy);
	}
	mr_buf_release(&b);
}
END_TEST

static struct mr_domain dom(bool on, const char *sel, int bits)
{
	struct mr_domain d;
	memset(&d, 0, sizeof(d));
	d.name = "example.com";
	d.dkim.enabled = on;
	d.dkim.selector = sel;
	d.dkim.bits = bits;
	return d;
}

START_TEST(step)
{
	struct mr_domain live = dom(true, "old", 1024), want = dom(true, "new", 2048), none = dom(false, NULL, 0);
	ck_assert_int_eq(mr_dkim_step(&live, &live), MR_DKIM_KEEP); /* outside a scope: the live domain itself */
	struct mr_domain same = dom(true, "old", 1024);
	ck_assert_int_eq(mr_dkim_step(&live, &same), MR_DKIM_KEEP);
	ck_assert_int_eq(mr_dkim_step(&none, &want), MR_DKIM_CREATE);
	ck_assert_int_eq(mr_dkim_step(NULL, &want), MR_DKIM_CREATE);
	ck_assert_int_eq(mr_dkim_step(&live, &none), MR_DKIM_DELETE);
	ck_assert_int_eq(mr_dkim_step(&live, NULL), MR_DKIM_DELETE);
	ck_assert_int_eq(mr_dkim_step(&live, &want), MR_DKIM_STAGE);
	live.dkim.pending_selector = "new";
	live.dkim.pending_bits = 2048;
	live.dkim.pending_public_key = "QUJD";
	ck_assert_int_eq(mr_dkim_step(&live, &want), MR_DKIM_WAIT);
	live.dkim.pending_confirmed = true;
	ck_assert_int_eq(mr_dkim_step(&live, &want), MR_DKIM_SWITCH);
	struct mr_domain other = dom(true, "new", 1024); /* same selector, another size */
	ck_assert_int_eq(mr_dkim_step(&live, &other), MR_DKIM_STAGE);
	ck_assert_int_eq(mr_dkim_step(&live, &same), MR_DKIM_DROP);
	ck_assert_int_eq(mr_dkim_step(&live, &none), MR_DKIM_DELETE);
	live.dkim.retired_selector = "older";
	live.dkim.retired_until = 1000;
	ck_assert(mr_dkim_retired_expired(&live, &want, 1000));
	ck_assert(!mr_dkim_retired_expired(&live, &want, 999));
	ck_assert(!mr_dkim_retired_expired(&live, &live, 5000));
}
END_TEST

Suite *suite_dkim(void)
{
	Suite *s = suite_create("dkim");
	TCase *tc = tcase_create("rotation");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, txt_strings_joined);
	tcase_add_test(tc, txt_not_the_answer);
	tcase_add_test(tc, txt_hostile_lengths);
	tcase_add_test(tc, txt_cname_chain);
	tcase_add_test(tc, resolver_address);
	tcase_add_test(tc, resolver_timeout);
	tcase_add_test(tc, state_files);
	tcase_add_test(tc, step);
	suite_add_tcase(s, tc);
	return s;
}
