#include "util/dnstxt.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/xalloc.h"

void mr_txt_answer_release(struct mr_txt_answer *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	memset(a, 0, sizeof(*a));
}

static int parse_addr(const char *host, unsigned port, struct sockaddr_storage *out, unsigned *outlen)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*outlen = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*outlen = sizeof(*s6);
		return 0;
	}
	return -1;
}

int mr_dns_server(const char *spec, struct sockaddr_storage *out, unsigned *outlen, struct mr_buf *err)
{
	char host[64];
	unsigned port = 53;
	if (!spec || !*spec) {
		/* the first nameserver line of /etc/resolv.conf (the host's: DNS is not below --root) */
		struct mr_buf conf = MR_BUF_INIT, e = MR_BUF_INIT;
		snprintf(host, sizeof(host), "127.0.0.1");
		if (mr_read_file("/etc/resolv.conf", 1u << 20, &conf, &e) == 0 && conf.ptr) {
			for (char *l = conf.ptr; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
				char word[16], addr[64];
				if (sscanf(l, "%15s %63s", word, addr) == 2 && strcmp(word, "nameserver") == 0) {
					char *pct = strchr(addr, '%'); /* a scope id: not supported, the address is kept */
					if (pct)
						*pct = '\0';
					snprintf(host, sizeof(host), "%s", addr);
					break;
				}
			}
		}
		mr_buf_release(&conf);
		mr_buf_release(&e);
		if (parse_addr(host, port, out, outlen) < 0) {
			mr_buf_addf(err, "the nameserver of /etc/resolv.conf is not an IP address");
			return -1;
		}
		return 0;
	}
	const char *colon = strrchr(spec, ':'), *h = spec;
	size_t hl = strlen(spec);
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || (close[1] && close[1] != ':'))
			goto bad;
		h = spec + 1;
		hl = (size_t)(close - h);
		colon = close[1] ? close + 1 : NULL;
	} else if (colon && strchr(spec, ':') != colon) {
		colon = NULL; /* a bare IPv6 address */
	} else if (colon) {
		hl = (size_t)(colon - spec);
	}
	if (colon) {
		const char *p = colon + 1;
		size_t n = strspn(p, "0123456789");
		if (n == 0 || n > 5 || p[n])
			goto bad;
		port = (unsigned)strtoul(p, NULL, 10);
		if (port == 0 || port > 65535)
			goto bad;
	}
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (parse_addr(host, port, out, outlen) == 0)
		return 0;
bad:
	mr_buf_addf(err, "'%s' is not a resolver address (IP, IP:PORT or [IPv6]:PORT)", spec);
	return -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait until fd is ready for events or the deadline: 1 ready, 0 timed out, -1 error */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { fd, events, 0 };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -1 : r;
	}
}

static int name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la && a[la - 1] == '.')
		la--;
	while (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

int mr_txt_parse(struct mr_txt_answer *out, const unsigned char *msg, size_t len, const char *name, unsigned id,
		 struct mr_buf *err)
{
	ns_msg h;
	if (len > 65535 || ns_initparse(msg, (int)len, &h) < 0) {
		mr_buf_addf(err, "a malformed DNS answer");
		return -1;
	}
	if (ns_msg_id(h) != id || !ns_msg_getflag(h, ns_f_qr) || ns_msg_count(h, ns_s_qd) != 1) {
		mr_buf_addf(err, "a DNS answer that is not the reply to the question asked");
		return -1;
	}
	ns_rr rr;
	if (ns_parserr(&h, ns_s_qd, 0, &rr) < 0 || !name_eq(ns_rr_name(rr), name) || ns_rr_type(rr) != ns_t_txt) {
		mr_buf_addf(err, "a DNS answer to another question");
		return -1;
	}
	out->rcode = ns_msg_getflag(h, ns_f_rcode);
	if (out->rcode != ns_r_noerror && out->rcode != ns_r_nxdomain) {
		mr_buf_addf(err, "the DNS server answered %s", out->rcode == ns_r_servfail ? "SERVFAIL" :
							    out->rcode == ns_r_refused ? "REFUSED" : "with an error");
		return -1;
	}
	/* the owner names that count: name, and where a CNAME chain in the answer leads */
	char owners[9][NS_MAXDNAME];
	size_t nowners = 1;
	snprintf(owners[0], sizeof(owners[0]), "%s", name);
	int an = ns_msg_count(h, ns_s_an);
	for (int pass = 0; pass < 8; pass++) {
		size_t before = nowners;
		for (int i = 0; i < an && nowners < 9; i++) {
			if (ns_parserr(&h, ns_s_an, i, &rr) < 0) {
				mr_buf_addf(err, "a malformed DNS answer");
				return -1;
			}
			if (ns_rr_type(rr) != ns_t_cname || !name_eq(ns_rr_name(rr), owners[nowners - 1]))
				continue;
			char target[NS_MAXDNAME];
			if (ns_name_uncompress(ns_msg_base(h), ns_msg_end(h), ns_rr_rdata(rr), target, sizeof(target)) < 0) {
				mr_buf_addf(err, "a malformed CNAME in the DNS answer");
				return -1;
			}
			snprintf(owners[nowners++], sizeof(owners[0]), "%s", target);
			break;
		}
		if (nowners == before)
			break;
	}
	for (int i = 0; i < an; i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) < 0) {
			mr_buf_addf(err, "a malformed DNS answer");
			return -1;
		}
		if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in)
			continue;
		bool ours = false;
		for (size_t k = 0; k < nowners && !ours; k++)
			ours = name_eq(ns_rr_name(rr), owners[k]);
		if (!ours)
			continue;
		/* RFC 1035 3.3.14: one or more <character-string>s, each a length byte and data;
		 * a DKIM record's are joined (RFC 6376 3.6.2.2) */
		const unsigned char *p = ns_rr_rdata(rr), *end = p + ns_rr_rdlen(rr);
		struct mr_buf txt = MR_BUF_INIT;
		bool bad = false;
		while (p < end) {
			size_t n = *p++;
			if (n > (size_t)(end - p)) {
				bad = true;
				break;
			}
			mr_buf_add(&txt, p, n);
			p += n;
		}
		if (bad || txt.len > MR_TXT_MAX_LEN || out->n == MR_TXT_MAX_RECORDS) {
			if (bad) {
				mr_buf_release(&txt);
				mr_buf_addf(err, "a malformed TXT record in the DNS answer");
				return -1;
			}
			out->dropped++;
			mr_buf_release(&txt);
			continue;
		}
		out->len[out->n] = txt.len;
		out->v[out->n++] = txt.ptr ? mr_buf_detach(&txt) : xstrdup("");
	}
	return 0;
}

/* one exchange over UDP (tcp false) or TCP: 0 with the answer in ans, -1 with err set */
static int exchange(const struct sockaddr_storage *sa, unsigned salen, const unsigned char *q, size_t qlen, bool tcp,
		    unsigned char *ans, size_t anscap, size_t *anslen, struct mr_buf *err)
{
	int fd = socket(sa->ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		mr_buf_addf(err, "cannot make a socket: %s", strerror(errno));
		return -1;
	}
	int64_t deadline = now_ms() + MR_DNS_TIMEOUT_MS;
	int rc = -1;
	if (connect(fd, (const struct sockaddr *)sa, salen) < 0 && errno != EINPROGRESS) {
		mr_buf_addf(err, "cannot reach the DNS server: %s", strerror(errno));
		goto out;
	}
	if (tcp) {
		if (wait_fd(fd, POLLOUT, deadline) <= 0) {
			mr_buf_addf(err, "the DNS server did not accept a TCP connection in %d ms", MR_DNS_TIMEOUT_MS);
			goto out;
		}
		unsigned char hdr[2] = { (unsigned char)(qlen >> 8), (unsigned char)qlen };
		struct iovec iov[2] = { { hdr, 2 }, { (void *)q, qlen } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
		if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)(qlen + 2)) {
			mr_buf_addf(err, "cannot send to the DNS server: %s", strerror(errno));
			goto out;
		}
		size_t got = 0, want = 2;
		unsigned char lenb[2];
		while (got < want) {
			if (wait_fd(fd, POLLIN, deadline) <= 0) {
				mr_buf_addf(err, "no answer from the DNS server in %d ms (TCP)", MR_DNS_TIMEOUT_MS);
				goto out;
			}
			ssize_t r = want == 2 && got < 2 ? read(fd, lenb + got, 2 - got) : read(fd, ans + got - 2, want - got);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				mr_buf_addf(err, "the DNS server closed the TCP connection early");
				goto out;
			}
			got += (size_t)r;
			if (want == 2 && got == 2) {
				want = 2 + ((size_t)lenb[0] << 8 | lenb[1]);
				if (want - 2 > anscap) {
					mr_buf_addf(err, "a DNS answer over %zu bytes", anscap);
					goto out;
				}
			}
		}
		*anslen = want - 2;
		rc = 0;
	} else {
		if (send(fd, q, qlen, 0) != (ssize_t)qlen) {
			mr_buf_addf(err, "cannot send to the DNS server: %s", strerror(errno));
			goto out;
		}
		for (;;) {
			if (wait_fd(fd, POLLIN, deadline) <= 0) {
				mr_buf_addf(err, "no answer from the DNS server in %d ms", MR_DNS_TIMEOUT_MS);
				goto out;
			}
			ssize_t r = recv(fd, ans, anscap, 0);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r < 0) {
				mr_buf_addf(err, "no answer from the DNS server: %s", strerror(errno));
				goto out;
			}
			/* a datagram that is not even a header, or of another id, is not the answer */
			if (r >= 12 && ans[0] == q[0] && ans[1] == q[1]) {
				*anslen = (size_t)r;
				rc = 0;
				break;
			}
		}
	}
out:
	close(fd);
	return rc;
}

int mr_txt_query(struct mr_txt_answer *out, const char *name, const char *server, struct mr_buf *err)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_storage sa;
	unsigned salen;
	if (mr_dns_server(server, &sa, &salen, err) < 0)
		return -1;
	unsigned char q[NS_PACKETSZ];
	int qlen = res_mkquery(ns_o_query, name, ns_c_in, ns_t_txt, NULL, 0, NULL, q, sizeof(q));
	if (qlen < 12) {
		mr_buf_addf(err, "'%s' cannot be asked for (not a DNS name)", name);
		return -1;
	}
	q[2] |= 0x01; /* RD: a recursive resolver is asked to find it */
	unsigned id = (unsigned)q[0] << 8 | q[1];
	unsigned char *ans = xmalloc(65536);
	size_t alen = 0;
	int rc = exchange(&sa, salen, q, (size_t)qlen, false, ans, 65536, &alen, err);
	if (rc == 0 && alen >= 12 && (ans[2] & 0x02)) /* TC: the whole answer over TCP */
		rc = exchange(&sa, salen, q, (size_t)qlen, true, ans, 65536, &alen, err);
	if (rc == 0)
		rc = mr_txt_parse(out, ans, alen, name, id, err);
	if (rc < 0)
		mr_txt_answer_release(out);
	free(ans);
	return rc;
}
