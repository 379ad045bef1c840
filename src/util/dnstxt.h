/*
 * dnstxt: ask one DNS server for the TXT records of a name (what `mailrecon dns --check`
 * needs to see whether a DKIM record is published).  Everything in an answer is hostile:
 * the answer must be the reply to the question asked (id, question, QR), every length is
 * checked against the message, at most MR_TXT_MAX_RECORDS records of at most
 * MR_TXT_MAX_LEN bytes each are kept, and a server that does not answer in time is an error.
 * A truncated UDP answer is asked again over TCP.
 *
 *   struct mr_txt_answer a = MR_TXT_ANSWER_INIT;
 *   int r = mr_txt_query(&a, "sel._domainkey.example.com", "127.0.0.1:5353", &err);
 *   // r: 0 answered (a.n records, 0 = none), -1 error (err says why)
 *   mr_txt_answer_release(&a);
 */
#ifndef MR_UTIL_DNSTXT_H
#define MR_UTIL_DNSTXT_H

#include <stddef.h>

#include "util/buf.h"

#define MR_TXT_MAX_RECORDS 16
#define MR_TXT_MAX_LEN 8192
#define MR_DNS_TIMEOUT_MS 3000

struct mr_txt_answer {
	char *v[MR_TXT_MAX_RECORDS]; /* each record's character-strings joined, NUL-terminated */
	size_t len[MR_TXT_MAX_RECORDS];
	size_t n;
	int rcode;     /* the answer's RCODE: 0 NOERROR, 3 NXDOMAIN */
	size_t dropped; /* records over the limits, not kept */
};
#define MR_TXT_ANSWER_INIT { { 0 }, { 0 }, 0, 0, 0 }
void mr_txt_answer_release(struct mr_txt_answer *a);

/*
 * The server to ask: "IP:PORT", "IP" (port 53), "[IPv6]:PORT"; NULL or "" means the first
 * nameserver of /etc/resolv.conf (127.0.0.1 when it has none, as resolv.conf(5) says).
 * 0 with the address in *out (a struct sockaddr_storage) and its length, -1 with err set.
 */
struct sockaddr_storage;
int mr_dns_server(const char *spec, struct sockaddr_storage *out, unsigned *outlen, struct mr_buf *err);

/* The TXT records of name from server spec (as mr_dns_server): 0, or -1 with err set. */
int mr_txt_query(struct mr_txt_answer *out, const char *name, const char *server, struct mr_buf *err);

/*
 * Read a DNS answer msg (len bytes) to the TXT question for name with id: the TXT records
 * of name, or of the names a CNAME chain in the answer leads to from it.  0, or -1 with
 * err set when it is not a well-formed answer to that question.
 */
int mr_txt_parse(struct mr_txt_answer *out, const unsigned char *msg, size_t len, const char *name, unsigned id,
		 struct mr_buf *err);

#endif
