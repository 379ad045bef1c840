/*
 * route: where mail to an address goes, as Exim with contrib/exim4/exim4.conf decides it
 * from the files mailrecon writes for a model (design section 8, docs/route.md).
 *
 * The module reads a model (desired or live) and nothing else: no file, no clock.  It
 * follows exim4.conf's routers in their order -- the remote router for a domain that is
 * not local (no exim-domains line, a disabled domain), mr_disabled, mr_alias, mr_copy
 * (unseen unless save=no), mr_mailbox, mr_catchall -- and Exim's loop rule (route.c: a
 * router is skipped for an address when an ancestor with the same address, compared
 * without case, was routed by that router), so copy loops end where Exim ends them.  The
 * RCPT answer is Exim's verification: a redirection to exactly one address is followed,
 * to more than one (an unseen copy counts) is accepted.
 *
 *   struct mr_router r;
 *   mr_router_init(&r, &model);          // model must outlive r
 *   struct mr_route rt;
 *   mr_route(&rt, &r, "Sales@Example.com");
 *   mr_route_format(&rt, &buf);          // "deliver: info@example.com"
 *   mr_route_release(&rt);
 *   mr_router_release(&r);
 *
 * Everything in a struct mr_route is owned by it (heap strings), freed by _release.
 */
#ifndef MR_ROUTE_ROUTE_H
#define MR_ROUTE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/strmap.h"

enum mr_route_outcome {
	MR_ROUTE_DELIVER, /* at least one local mailbox stores a copy */
	MR_ROUTE_REMOTE,  /* no local mailbox; sent to other servers */
	MR_ROUTE_DISCARD, /* accepted and dropped (":blackhole:"), no error */
	MR_ROUTE_REJECT,  /* stored nowhere and refused: at RCPT, or bounced after it */
};

const char *mr_route_outcome_name(enum mr_route_outcome o); /* "deliver" ... */

struct mr_route_bounce {
	char *address; /* lower case */
	char *text;    /* Exim's error text, e.g. "5.0.0 mailbox disabled" */
};

struct mr_route {
	enum mr_route_outcome outcome;
	char **mailboxes;  /* the mailboxes that store a copy: sorted, unique */
	size_t nmailboxes;
	char **remote;     /* addresses sent to other servers: sorted, unique, lower case */
	size_t nremote;
	struct mr_route_bounce *bounces; /* copies that fail, sorted by address then text, unique */
	size_t nbounces;
	const char *text;  /* reject: the error (the RCPT's when refused there); NULL otherwise */
	int smtp_code;     /* Exim's answer to RCPT TO from a client that may not relay: 250 or 550 */
	char *smtp_text;   /* with 550: the text after the code; NULL with 250 */
	bool loop;         /* Exim skipped a router for an address it had routed before (a loop) */
	bool overflow;     /* more than MR_ROUTE_MAX_STEPS steps, or Exim's 100 ancestors: the
			    * result is what was found until then (Exim would defer) */
};

#define MR_ROUTE_MAX_STEPS 20000

/* An index of a model for routing: alias -> mailbox.  Keeps pointers into the model. */
struct mr_router {
	const struct mr_model *m;
	struct mr_strmap aliases; /* "alias@domain" -> struct mr_mailbox (the main mailbox) */
	struct mr_arena keys;     /* the map's keys */
};

void mr_router_init(struct mr_router *r, const struct mr_model *m);
void mr_router_release(struct mr_router *r);

/* Whether Exim treats domain (any case) as local: declared, not disabled, with an
 * exim-domains line (a live domain known only from its mailboxes has none). */
bool mr_router_local_domain(const struct mr_router *r, const char *domain);
/* The main mailbox of alias address (any case), or NULL. */
const struct mr_mailbox *mr_router_alias(const struct mr_router *r, const char *address);

/*
 * An address of domain that is no mailbox or alias in a nor in b (b may be NULL): it stands
 * for "any other address" of the domain ("mailrecon-unknown@DOMAIN", or with a number).
 * Owned by the caller.
 */
#define MR_ROUTE_UNKNOWN "mailrecon-unknown"
char *mr_router_unknown(const struct mr_router *a, const struct mr_router *b, const char *domain);

/* Route one address ("local@domain"; no '@' is routed as an address of no local domain). */
void mr_route(struct mr_route *out, const struct mr_router *r, const char *address);
void mr_route_release(struct mr_route *rt);

/* One line without the address: "deliver: a@x, b@x; remote: r@y; bounce: c@x (TEXT)",
 * "remote: r@y", "discard", "reject: 550 TEXT", "reject: accepted, then bounced: c@x (TEXT)". */
void mr_route_format(const struct mr_route *rt, struct mr_buf *out);

/* Two routes mean the same for mail. */
bool mr_route_equal(const struct mr_route *a, const struct mr_route *b);

/*
 * Warnings about the mail flow of a model (validate and plan show them): a mailbox whose
 * mail loops through copies, a mailbox or alias whose mail is stored nowhere, a copy that
 * bounces, and a default action whose target refuses the mail.  Each at the place of the
 * mailbox or domain (its loc).
 */
void mr_route_findings(const struct mr_router *r, struct mr_diags *out);

#endif
