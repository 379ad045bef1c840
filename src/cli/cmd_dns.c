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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "codec/dkim_txt.h"
#include "codec/live.h"
#include "load/desired.h"
#include "model/names.h"
#include "plan/plan.h"
#include "apply/apply.h"
#include "util/rootfs.h"
#include "util/xalloc.h"

struct dns_state {
	struct mr_cli_sources src; /* -f */
	bool json;
	const char *autoconfig; /* --autoconfig DOMAIN, or NULL */
};

enum { OPT_JSON = 4000, OPT_AUTOCONFIG };

static const struct mr_opt options[] = {
	{ "file", 'f', required_argument, "PATH", MR_OPT_REPEAT,
	  "the desired state whose server.dmarc template to use; repeatable (default: the template the last apply used)" },
	{ "json", OPT_JSON, no_argument, NULL, 0, "print a JSON array of {domain, kind, name, type, value}" },
	{ "autoconfig", OPT_AUTOCONFIG, required_argument, "DOMAIN", 0,
	  "print DOMAIN's mail client settings as a Thunderbird autoconfig file (config-v1.1.xml)" },
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
	return MR_EXIT_USAGE;
}

/* type "TXT" (value: the text, printed as zone-file strings) or "SRV" (value: "PRIO WEIGHT
 * PORT TARGET.", printed as it is) */
static void record(struct mr_buf *out, bool json, bool *first, const char *domain, const char *kind, const char *name,
		   const char *type, const char *value)
{
	if (json) {
		mr_buf_adds(out, *first ? "\n  {\"domain\":" : ",\n  {\"domain\":");
		mr_json_string(out, domain);
		mr_buf_addf(out, ",\"kind\":\"%s\",\"name\":", kind);
		mr_json_string(out, name);
		mr_buf_addf(out, ",\"type\":\"%s\",\"value\":", type);
		mr_json_string(out, value);
		mr_buf_addc(out, '}');
	} else if (strcmp(type, "TXT") == 0) {
		mr_buf_addf(out, "%s.\tIN\tTXT\t", name);
		mr_zone_txt(value, strlen(value), out);
		mr_buf_addc(out, '\n');
	} else {
		mr_buf_addf(out, "%s.\tIN\t%s\t%s\n", name, type, value);
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

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct dns_state *s = state;
	int code = MR_EXIT_OK;
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
	if (mr_live_load(&lv, &(struct mr_live_opts){ .root = g->rootfs, .layout = g->layout }, &errors) < 0) {
		mr_diags_print(&errors, stderr);
		code = MR_EXIT_ERROR;
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
	const char *sd = g->state_dir && *g->state_dir ? g->state_dir : "/var/lib/mailrecon";
	applied = mr_root_clean(sd) ? mr_dmarc_applied(g->rootfs, sd) : NULL;
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
	if (s->json)
		mr_buf_adds(&out, "[");
	for (int i = 0; i < argc; i++)
		if (!mr_model_domain(&lv.model, argv[i])) {
			mr_cli_error("dns: '%s' is not a live mail domain", argv[i]);
			code = MR_EXIT_ERROR;
		}
	for (size_t i = 0; i < lv.model.ndomains; i++) {
		const struct mr_domain *dom = lv.model.domains[i];
		bool wanted = argc == 0;
		for (int k = 0; k < argc && !wanted; k++)
			wanted = strcmp(argv[k], dom->name) == 0;
		if (!wanted)
			continue;
		const struct mr_domain *dd = mr_model_domain(&m, dom->name);
		if (dom->dkim.enabled && dom->dkim.public_key) {
			struct mr_buf name = MR_BUF_INIT, value = MR_BUF_INIT;
			mr_buf_addf(&name, "%s._domainkey.%s", dom->dkim.selector, dom->name);
			mr_buf_addf(&value, "v=DKIM1; h=sha256; k=rsa; s=email; p=%s", dom->dkim.public_key);
			record(&out, s->json, &first, dom->name, "dkim", name.ptr, "TXT", value.ptr);
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
			record(&out, s->json, &first, dom->name, "dmarc", name.ptr, "TXT", value.ptr);
			mr_buf_release(&name);
			mr_buf_release(&value);
		}
		client_host(dom, dd, &host);
		for (size_t k = 0; k < sizeof client_services / sizeof *client_services; k++) {
			const struct client_service *c = &client_services[k];
			struct mr_buf name = MR_BUF_INIT, value = MR_BUF_INIT;
			mr_buf_addf(&name, "%s._tcp.%s", c->srv, dom->name);
			mr_buf_addf(&value, "%d 1 %d %s.", c->prio, c->port, host.ptr);
			record(&out, s->json, &first, dom->name, "client", name.ptr, "SRV", value.ptr);
			mr_buf_release(&name);
			mr_buf_release(&value);
		}
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
	.summary = "print the DKIM, DMARC and mail client records to publish",
	.description = "Print the records to publish for the live domains (all, or each DOMAIN): each\n"
		       "DKIM key's TXT record; for a domain with dmarc: true, the DMARC TXT record with\n"
		       "{domain} replaced in the template (server.dmarc of the desired state given with\n"
		       "-f, else the one the last apply used); and the mail client SRV records of RFC 6186\n"
		       "(_submissions 465, _submission 587, _imaps 993, _pop3s 995) on the domain's mail\n"
		       "host: its ssl.alias, else mail.DOMAIN. With --autoconfig DOMAIN, the same client\n"
		       "settings as Thunderbird's autoconfig file instead. Reads only.\n",
	.opts = options,
	.exits = "0   printed\n1   error, or a DOMAIN that is not a live mail domain\n",
	.example = "mailrecon dns example.com\nmailrecon dns --autoconfig example.com >config-v1.1.xml\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct dns_state),
	.sources = true,
};
