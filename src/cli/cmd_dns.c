/*
 * mailrecon dns [DOMAIN]... [--json] [-f PATH]...: the DNS records to publish for the live
 * domains: each DKIM key's TXT record (from ssl/DOMAIN.txt, which apply writes), for a
 * domain with `dmarc: true` the DMARC TXT record made from a template ({domain} replaced):
 * server.dmarc of the desired state given with -f, else the template the last apply
 * recorded (STATE_DIR/dmarc-template, apply.h), and the mail client settings of RFC 6186/8314 as SRV records
 * (submissions 465, submission 587, imaps 993, pop3s 995, on the domain's mail host).
 * mailrecon dns --autoconfig DOMAIN: the same client settings as a Thunderbird autoconfig
 * file (config-v1.1.xml).  Reads only.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "cli/cli.h"
#include "codec/dkim_state.h"
#include "codec/dkim_txt.h"
#include "codec/live.h"
#include "load/desired.h"
#include "model/names.h"
#include "plan/plan.h"
#include "apply/apply.h"
#include "util/dnstxt.h"
#include "util/rootfs.h"
#include "util/xalloc.h"

struct dns_state {
	struct mr_cli_sources src; /* -f */
	bool json, check, nsupdate;
	const char *autoconfig; /* --autoconfig DOMAIN, or NULL */
	const char *resolver;   /* --resolver IP:PORT, or NULL: /etc/resolv.conf's */
};

enum { OPT_JSON = 4000, OPT_AUTOCONFIG, OPT_CHECK, OPT_RESOLVER, OPT_NSUPDATE };

static const struct mr_opt options[] = {
	{ "file", 'f', required_argument, "PATH", MR_OPT_REPEAT,
	  "the desired state whose server.dmarc template to use; repeatable (default: the template the last apply used)" },
	{ "json", OPT_JSON, no_argument, NULL, 0, "print a JSON array of {domain, kind, name, type, value}" },
	{ "autoconfig", OPT_AUTOCONFIG, required_argument, "DOMAIN", 0,
	  "print DOMAIN's mail client settings as a Thunderbird autoconfig file (config-v1.1.xml)" },
	{ "check", OPT_CHECK, no_argument, NULL, 0,
	  "ask DNS for each DKIM record (the staged one during a rotation): published, missing or mismatch; "
	  "a published staged key is recorded, and the next apply switches to it" },
	{ "resolver", OPT_RESOLVER, required_argument, "IP:PORT", 0,
	  "the DNS server --check asks (default: the first nameserver of /etc/resolv.conf)" },
	{ "nsupdate", OPT_NSUPDATE, no_argument, NULL, 0,
	  "print the records as nsupdate commands (RFC 2136): a delete and an add per name, a send per domain" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int option(void *state, int opt, const char *arg)
{
	struct dns_state *s = state;
	if (opt == 'f') {
		mr_cli_source_add(&s->src, arg);
		return 0;
	}
	if (opt == OPT_JSON) {
		s->json = true;
		return 0;
	}
	if (opt == OPT_AUTOCONFIG) {
		s->autoconfig = arg;
		return 0;
	}
	if (opt == OPT_CHECK) {
		s->check = true;
		return 0;
	}
	if (opt == OPT_RESOLVER) {
		s->resolver = arg;
		return 0;
	}
	if (opt == OPT_NSUPDATE) {
		s->nsupdate = true;
		return 0;
	}
	return MR_EXIT_USAGE;
}

enum out_form { FORM_ZONE, FORM_JSON, FORM_NSUPDATE };
#define NSUPDATE_TTL 3600

/* A DKIM record that is not simply "publish": a staged key's (pending), or the replaced
 * one's, to remove after remove_after (Unix time). */
struct rec_status {
	bool pending;
	int64_t remove_after; /* 0: not a replaced record */
	bool expired;         /* remove_after has passed */
};

static void iso_date(int64_t when, char *buf, size_t n)
{
	time_t t = (time_t)when;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* type "TXT" (value: the text, printed as zone-file strings) or "SRV" (value: "PRIO WEIGHT
 * PORT TARGET.", printed as it is) */
static void record(struct mr_buf *out, enum out_form form, bool *first, const char *domain, const char *kind,
		   const char *name, const char *type, const char *value, const struct rec_status *st)
{
	char when[32] = "";
	if (st && st->remove_after)
		iso_date(st->remove_after, when, sizeof(when));
	if (form == FORM_JSON) {
		mr_buf_adds(out, *first ? "\n  {\"domain\":" : ",\n  {\"domain\":");
		mr_json_string(out, domain);
		mr_buf_addf(out, ",\"kind\":\"%s\",\"name\":", kind);
		mr_json_string(out, name);
		mr_buf_addf(out, ",\"type\":\"%s\",\"value\":", type);
		mr_json_string(out, value);
		if (st && st->pending)
			mr_buf_adds(out, ",\"status\":\"pending\"");
		else if (st && st->remove_after)
			mr_buf_addf(out, ",\"status\":\"remove\",\"remove_after\":\"%s\"", when);
		mr_buf_addc(out, '}');
	} else if (form == FORM_NSUPDATE) {
		if (st && st->pending)
			mr_buf_addf(out, "; pending: the staged DKIM key of %s; mailrecon dns --check, then apply\n", domain);
		else if (st && st->remove_after)
			mr_buf_addf(out, "; the replaced DKIM key of %s: remove after %s\n", domain, when);
		mr_buf_addf(out, "update delete %s. %s\n", name, type);
		if (st && st->expired)
			return;
		mr_buf_addf(out, "update add %s. %d IN %s ", name, NSUPDATE_TTL, type);
		if (strcmp(type, "TXT") == 0)
			mr_zone_txt(value, strlen(value), out);
		else
			mr_buf_adds(out, value);
		mr_buf_addc(out, '\n');
	} else {
		if (strcmp(type, "TXT") == 0) {
			mr_buf_addf(out, "%s.\tIN\tTXT\t", name);
			mr_zone_txt(value, strlen(value), out);
		} else {
			mr_buf_addf(out, "%s.\tIN\t%s\t%s", name, type, value);
		}
		if (st && st->pending)
			mr_buf_adds(out, "\t; pending: publish it, then mailrecon dns --check");
		else if (st && st->remove_after)
			mr_buf_addf(out, "\t; remove after %s", when);
		mr_buf_addc(out, '\n');
	}
	*first = false;
}

/*
 * The mail client services (RFC 6186 and RFC 8314 section 5.1) and the ports of
 * contrib/exim4 and contrib/dovecot.  Clients compare the priority across services: TLS on
 * connect (submissions) before STARTTLS (submission), IMAP before POP3.
 */
static const struct client_service {
	const char *srv;       /* SRV owner name label */
	int prio, port;
	const char *xml;       /* autoconfig element: incomingServer type=... or outgoingServer */
	const char *socket;    /* autoconfig socketType */
} client_services[] = {
	{ "_submissions", 0, 465, "outgoingServer type=\"smtp\"", "SSL" },
	{ "_submission", 10, 587, "outgoingServer type=\"smtp\"", "STARTTLS" },
	{ "_imaps", 0, 993, "incomingServer type=\"imap\"", "SSL" },
	{ "_pop3s", 10, 995, "incomingServer type=\"pop3\"", "SSL" },
};

/*
 * The host name mail clients are given for a domain: the desired state's ssl.alias, else
 * the name the live certificate was made for (its CN: the alias apply gave it; the live
 * loader keeps a CN only when it is a host name, so nothing read from a file reaches a
 * zone or an XML file unchecked), else mail.DOMAIN (the panel's default alias).
 */
static void client_host(const struct mr_domain *live, const struct mr_domain *desired, struct mr_buf *host)
{
	mr_buf_reset(host);
	if (desired && desired->ssl.enabled && desired->ssl.alias)
		mr_buf_adds(host, desired->ssl.alias);
	else if (live->ssl.enabled && live->ssl.alias && !mr_check_hostname(live->ssl.alias))
		mr_buf_adds(host, live->ssl.alias);
	else
		mr_buf_addf(host, "mail.%s", live->name);
}

/* Thunderbird's autoconfig file (config-v1.1.xml) for domain on host.  The names are
 * checked DNS names, which need no XML escaping. */
static void autoconfig(struct mr_buf *out, const char *domain, const char *host)
{
	mr_buf_adds(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n");
	mr_buf_addf(out, "  <emailProvider id=\"%s\">\n    <domain>%s</domain>\n", domain, domain);
	mr_buf_addf(out, "    <displayName>%s</displayName>\n    <displayShortName>%s</displayShortName>\n", domain, domain);
	/* incoming servers first, as the format's examples have them */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < sizeof client_services / sizeof *client_services; i++) {
			const struct client_service *c = &client_services[i];
			bool incoming = strncmp(c->xml, "incoming", 8) == 0;
			if (incoming != (pass == 0))
				continue;
			const char *elem = incoming ? "incomingServer" : "outgoingServer";
			mr_buf_addf(out, "    <%s>\n", c->xml);
			mr_buf_addf(out, "      <hostname>%s</hostname>\n      <port>%d</port>\n", host, c->port);
			mr_buf_addf(out, "      <socketType>%s</socketType>\n", c->socket);
			mr_buf_adds(out, "      <authentication>password-cleartext</authentication>\n");
			mr_buf_adds(out, "      <username>%EMAILADDRESS%</username>\n");
			mr_buf_addf(out, "    </%s>\n", elem);
		}
	mr_buf_adds(out, "  </emailProvider>\n</clientConfig>\n");
}

/* Write STATE_DIR/dkim/DOMAIN.confirmed for the staged key of d (atomically, root's 0600). */
static int confirm(struct mr_root *root, const char *sd, const struct mr_domain *d)
{
	char *dir = mr_path_join(sd, MR_DKIM_STATE_DIR), *path = mr_dkim_state_path(sd, d->name, ".confirmed");
	struct mr_buf tmp = MR_BUF_INIT, b = MR_BUF_INIT;
	mr_buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	mr_dkim_state_render(d->dkim.pending_selector, d->dkim.pending_public_key, "checked", (int64_t)time(NULL), &b);
	int rc = -1;
	int r = mr_root_mkdir(root, dir, 0700, -1, -1);
	int fd = r == 0 || r == -EEXIST ? mr_root_openat(root, tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
	if (fd >= 0) {
		rc = write(fd, b.ptr, b.len) == (ssize_t)b.len && fsync(fd) == 0 ? 0 : -1;
		close(fd);
		if (rc == 0)
			rc = mr_root_rename(root, tmp.ptr, path, false) == 0 ? 0 : -1;
		if (rc < 0)
			mr_root_unlink(root, tmp.ptr);
	}
	if (rc < 0) {
		char *shown = mr_root_full(root, path);
		mr_cli_error("dns: cannot record the confirmation in '%s'", shown);
		free(shown);
	}
	free(dir);
	free(path);
	mr_buf_release(&tmp);
	mr_buf_release(&b);
	return rc;
}

/*
 * dns --check: each wanted domain's DKIM record as DNS answers it -- the staged key's during
 * a rotation, else the signing key's: "published" (a TXT record there has that p=),
 * "mismatch" (TXT records there, none with that key) or "missing".  A published staged key
 * is recorded (confirm), so the next apply switches to it.  0 all published, 2 some not, 1 a
 * DNS error.
 */
static int check(const struct dns_state *s, const struct mr_globals *g, const char *sd, const struct mr_live *lv,
		 int argc, char **argv)
{
	int code = MR_EXIT_OK;
	size_t asked = 0;
	for (size_t i = 0; i < lv->model.ndomains; i++) {
		const struct mr_domain *d = lv->model.domains[i];
		bool wanted = argc == 0;
		for (int k = 0; k < argc && !wanted; k++)
			wanted = strcmp(argv[k], d->name) == 0;
		if (!wanted || !d->dkim.enabled)
			continue;
		bool staged = d->dkim.pending_selector != NULL;
		const char *sel = staged ? d->dkim.pending_selector : d->dkim.selector;
		const char *want = staged ? d->dkim.pending_public_key : d->dkim.public_key;
		if (!want)
			continue; /* no readable record of its own (a finding): nothing to compare */
		asked++;
		struct mr_buf name = MR_BUF_INIT, err = MR_BUF_INIT;
		mr_buf_addf(&name, "%s._domainkey.%s", sel, d->name);
		struct mr_txt_answer a = MR_TXT_ANSWER_INIT;
		if (mr_txt_query(&a, name.ptr, s->resolver, &err) < 0) {
			struct mr_buf shown = MR_BUF_INIT;
			mr_buf_adds_printable(&shown, err.ptr);
			printf("%s\t%s\terror\t%s\n", d->name, name.ptr, shown.ptr);
			mr_buf_release(&shown);
			code = MR_EXIT_ERROR;
		} else {
			const char *status = "missing";
			for (size_t k = 0; k < a.n; k++) {
				char *p = NULL;
				if (mr_dkim_tags_p(a.v[k], a.len[k], &p) == NULL && strcmp(p, want) == 0)
					status = "published";
				else if (strcmp(status, "missing") == 0)
					status = "mismatch"; /* a record there, not this key's */
				free(p);
				if (strcmp(status, "published") == 0)
					break;
			}
			if (strcmp(status, "missing") == 0 && a.dropped)
				status = "mismatch";
			bool ok = strcmp(status, "published") == 0;
			const char *note = !staged ? "signing key"
					   : ok	    ? "staged key: confirmed, the next apply signs with it"
						    : "staged key: the signing key stays until it is published";
			printf("%s\t%s\t%s\t(%s)\n", d->name, name.ptr, status, note);
			if (!ok && code == MR_EXIT_OK)
				code = MR_EXIT_CHANGES;
			if (ok && staged && !d->dkim.pending_confirmed && confirm(g->rootfs, sd, d) < 0)
				code = MR_EXIT_ERROR;
		}
		mr_txt_answer_release(&a);
		mr_buf_release(&name);
		mr_buf_release(&err);
	}
	if (asked == 0)
		fprintf(stderr, "mailrecon: dns: no DKIM record to check\n");
	return code;
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct dns_state *s = state;
	int code = MR_EXIT_OK;
	if ((s->check && (s->json || s->nsupdate || s->autoconfig)) || (s->resolver && !s->check) ||
	    (s->nsupdate && (s->json || s->autoconfig))) {
		mr_cli_error("dns: --check (with --resolver), --nsupdate, --json and --autoconfig go alone");
		mr_cli_sources_release(&s->src);
		return MR_EXIT_USAGE;
	}
	if (s->resolver) {
		struct sockaddr_storage ss;
		unsigned sl;
		struct mr_buf e = MR_BUF_INIT;
		if (mr_dns_server(s->resolver, &ss, &sl, &e) < 0) {
			mr_cli_error("dns: %s", e.ptr);
			mr_buf_release(&e);
			mr_cli_sources_release(&s->src);
			return MR_EXIT_USAGE;
		}
		mr_buf_release(&e);
	}
	if (s->autoconfig && (argc > 0 || s->json)) {
		mr_cli_error("dns: --autoconfig takes one DOMAIN and no --json");
		mr_cli_sources_release(&s->src);
		return MR_EXIT_USAGE;
	}
	if (s->autoconfig && mr_check_domain(s->autoconfig)) {
		mr_cli_error("dns: '%s' is not a mail domain", s->autoconfig);
		mr_cli_sources_release(&s->src);
		return MR_EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++)
		if (mr_check_domain(argv[i])) {
			mr_cli_error("dns: '%s' is not a mail domain", argv[i]);
			mr_cli_sources_release(&s->src);
			return MR_EXIT_USAGE;
		}
	struct mr_live lv;
	struct mr_diags errors = MR_DIAGS_INIT, d = MR_DIAGS_INIT;
	struct mr_model m;
	mr_model_init(&m);
	char *applied = NULL;
	const char *sd = g->state_dir && *g->state_dir ? g->state_dir : "/var/lib/mailrecon";
	bool sd_ok = mr_root_clean(sd) && strcmp(sd, "/") != 0;
	if (mr_live_load(&lv, &(struct mr_live_opts){ .root = g->rootfs, .layout = g->layout, .state_dir = sd_ok ? sd : NULL },
			 &errors) < 0) {
		mr_diags_print(&errors, stderr);
		code = MR_EXIT_ERROR;
		goto out;
	}
	for (int i = 0; i < argc; i++)
		if (!mr_model_domain(&lv.model, argv[i])) {
			mr_cli_error("dns: '%s' is not a live mail domain", argv[i]);
			code = MR_EXIT_ERROR;
		}
	if (s->check) {
		if (code == MR_EXIT_OK)
			code = sd_ok ? check(s, g, sd, &lv, argc, argv) : MR_EXIT_ERROR;
		goto out;
	}
	/* The DMARC template: with -f, the desired state's; without, the one the last apply
	 * recorded (so both print the same record once applied), else the default desired
	 * state's, else the built-in default -- said on stderr, as is a -f template that differs
	 * from the one applied.  The desired state (the default one without -f) still names
	 * the clients' mail host. */
	struct mr_load_opts lo = mr_cli_load_opts(g, &s->src);
	const char *tmpl = MR_DMARC_DEFAULT;
	bool have_desired = false;
	if (mr_load_desired(&m, &lo, &d) == 0) {
		have_desired = true;
		if (m.server.dmarc)
			tmpl = m.server.dmarc;
	} else if (s->src.n) {
		mr_diags_print(&d, stderr);
		code = MR_EXIT_ERROR;
		goto out;
	}
	applied = sd_ok ? mr_dmarc_applied(g->rootfs, sd) : NULL;
	/* which domains publish DMARC comes from where the template does: the desired state,
	 * or what is live (the registry's dmarc=yes) */
	bool dmarc_desired = have_desired && (s->src.n || !applied);
	if (!s->src.n && applied) {
		tmpl = applied;
	} else if (s->src.n && applied && strcmp(applied, tmpl) != 0) {
		fprintf(stderr, "mailrecon: dns: note: the DMARC template differs from the one last applied ('%s'); "
				"printed from the desired state\n", applied);
	} else if (!s->src.n && !have_desired) {
		fprintf(stderr, "mailrecon: dns: note: no apply recorded a DMARC template and there is no desired state; "
				"using the built-in default '%s'\n", MR_DMARC_DEFAULT);
	}
	struct mr_buf out = MR_BUF_INIT, host = MR_BUF_INIT;
	if (s->autoconfig) {
		const struct mr_domain *dom = mr_model_domain(&lv.model, s->autoconfig);
		if (!dom) {
			mr_cli_error("dns: '%s' is not a live mail domain", s->autoconfig);
			code = MR_EXIT_ERROR;
		} else {
			client_host(dom, mr_model_domain(&m, dom->name), &host);
			autoconfig(&out, dom->name, host.ptr);
			fwrite(out.ptr, 1, out.len, stdout);
		}
		mr_buf_release(&out);
		mr_buf_release(&host);
		goto out;
	}
	bool first = true;
	enum out_form form = s->json ? FORM_JSON : s->nsupdate ? FORM_NSUPDATE : FORM_ZONE;
	int64_t now = (int64_t)time(NULL);
	if (s->json)
		mr_buf_adds(&out, "[");
	if (s->nsupdate)
		mr_buf_adds(&out, "; mailrecon dns --nsupdate: put your server, zone and key lines first "
				  "(docs/apply.md \"mailrecon dns\")\n");
	for (size_t i = 0; i < lv.model.ndomains; i++) {
		const struct mr_domain *dom = lv.model.domains[i];
		bool wanted = argc == 0;
		for (int k = 0; k < argc && !wanted; k++)
			wanted = strcmp(argv[k], dom->name) == 0;
		if (!wanted)
			continue;
		const struct mr_domain *dd = mr_model_domain(&m, dom->name);
		/* the signing key, the staged one, and the one a switch replaced (when it is not the
		 * same name: a new size under the same selector replaces the record itself) */
		for (int k = 0; k < 3; k++) {
			const char *sel = k == 0 ? dom->dkim.selector : k == 1 ? dom->dkim.pending_selector : dom->dkim.retired_selector;
			const char *pub = k == 0 ? dom->dkim.public_key : k == 1 ? dom->dkim.pending_public_key : dom->dkim.retired_public_key;
			if ((k == 0 && !dom->dkim.enabled) || !sel || !pub)
				continue;
			if (k == 2 && ((dom->dkim.enabled && strcmp(sel, dom->dkim.selector) == 0) ||
				       (dom->dkim.pending_selector && strcmp(sel, dom->dkim.pending_selector) == 0)))
				continue;
			if (k == 1 && dom->dkim.enabled && strcmp(sel, dom->dkim.selector) == 0 && form == FORM_NSUPDATE)
				continue; /* same name as the signing record: pushing it would replace that one now */
			struct rec_status st = { .pending = k == 1, .remove_after = k == 2 ? dom->dkim.retired_until : 0,
						 .expired = k == 2 && dom->dkim.retired_until <= now };
			struct mr_buf name = MR_BUF_INIT, value = MR_BUF_INIT;
			mr_buf_addf(&name, "%s._domainkey.%s", sel, dom->name);
			mr_buf_addf(&value, "v=DKIM1; h=sha256; k=rsa; s=email; p=%s", pub);
			record(&out, form, &first, dom->name, "dkim", name.ptr, "TXT", value.ptr, k ? &st : NULL);
			mr_buf_release(&name);
			mr_buf_release(&value);
		}
		if (dd && dmarc_desired ? dd->dmarc : dom->dmarc) {
			struct mr_buf name = MR_BUF_INIT, value = MR_BUF_INIT;
			mr_buf_addf(&name, "_dmarc.%s", dom->name);
			for (const char *p = tmpl; *p; p++) {
				if (strncmp(p, "{domain}", 8) == 0) {
					mr_buf_adds(&value, dom->name);
					p += 7;
				} else {
					mr_buf_addc(&value, *p);
				}
			}
			record(&out, form, &first, dom->name, "dmarc", name.ptr, "TXT", value.ptr, NULL);
			mr_buf_release(&name);
			mr_buf_release(&value);
		}
		client_host(dom, dd, &host);
		for (size_t k = 0; k < sizeof client_services / sizeof *client_services; k++) {
			const struct client_service *c = &client_services[k];
			struct mr_buf name = MR_BUF_INIT, value = MR_BUF_INIT;
			mr_buf_addf(&name, "%s._tcp.%s", c->srv, dom->name);
			mr_buf_addf(&value, "%d 1 %d %s.", c->prio, c->port, host.ptr);
			record(&out, form, &first, dom->name, "client", name.ptr, "SRV", value.ptr, NULL);
			mr_buf_release(&name);
			mr_buf_release(&value);
		}
		if (form == FORM_NSUPDATE)
			mr_buf_adds(&out, "send\n");
	}
	mr_buf_release(&host);
	if (s->json)
		mr_buf_adds(&out, first ? "]\n" : "\n]\n");
	fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout);
	mr_buf_release(&out);
out:
	mr_diags_release(&errors);
	mr_diags_release(&d);
	mr_live_release(&lv);
	mr_model_release(&m);
	free(applied);
	mr_cli_sources_release(&s->src);
	return code;
}

const struct mr_cmd mr_cmd_dns = {
	.name = "dns",
	.operands = "[DOMAIN]...",
	.summary = "print the DKIM, DMARC and mail client records to publish, or check the DKIM ones",
	.description = "Print the records to publish for the live domains (all, or each DOMAIN): each\n"
		       "DKIM key's TXT record (during a rotation also the staged key's, marked pending,\n"
		       "and the replaced key's, marked remove after DATE); for a domain with dmarc: true,\n"
		       "the DMARC TXT record with {domain} replaced in the template (server.dmarc of the\n"
		       "desired state given with -f, else the one the last apply used); and the mail\n"
		       "client SRV records of RFC 6186 (_submissions 465, _submission 587, _imaps 993,\n"
		       "_pop3s 995) on the domain's mail host: its ssl.alias, else mail.DOMAIN. With\n"
		       "--nsupdate, the same records as nsupdate commands. With --autoconfig DOMAIN, the\n"
		       "client settings as Thunderbird's autoconfig file instead. With --check, ask DNS\n"
		       "for each DKIM record (the staged one during a rotation) and say published,\n"
		       "missing or mismatch; a published staged key is recorded in STATE_DIR/dkim, and\n"
		       "the next apply signs with it. Reads only, but for that record.\n",
	.opts = options,
	.exits = "0   printed; --check: every record is published\n1   error, a DOMAIN that is not a live mail domain, or "
		 "(--check) a DNS error\n2   --check: a record is missing or another key's\n",
	.example = "mailrecon dns example.com\nmailrecon dns --autoconfig example.com >config-v1.1.xml\n"
		   "mailrecon dns --check --resolver 192.0.2.53:53\n(cat nsupdate.head; mailrecon dns --nsupdate example.com) | nsupdate\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct dns_state),
	.sources = true,
};
