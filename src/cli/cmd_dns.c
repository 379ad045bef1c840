/*
 * mailrecon dns [DOMAIN]... [--json] [-f PATH]...: the DNS records to publish for the live
 * domains: each DKIM key's TXT record (from ssl/DOMAIN.txt, which apply writes) and, for a
 * domain with `dmarc: true`, the DMARC TXT record made from server.dmarc of the desired
 * state ({domain} replaced).  Reads only.
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
#include "util/xalloc.h"

struct dns_state {
	struct mr_cli_sources src; /* -f */
	bool json;
};

enum { OPT_JSON = 4000 };

static const struct mr_opt options[] = {
	{ "file", 'f', required_argument, "PATH", MR_OPT_REPEAT,
	  "the desired state whose server.dmarc template to use; repeatable (default ROOT/etc/mailrecon/desired)" },
	{ "json", OPT_JSON, no_argument, NULL, 0, "print a JSON array of {domain, kind, name, type, value}" },
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
	return MR_EXIT_USAGE;
}

static void record(struct mr_buf *out, bool json, bool *first, const char *domain, const char *kind, const char *name,
		   const char *value)
{
	if (json) {
		mr_buf_adds(out, *first ? "\n  {\"domain\":" : ",\n  {\"domain\":");
		mr_json_string(out, domain);
		mr_buf_addf(out, ",\"kind\":\"%s\",\"name\":", kind);
		mr_json_string(out, name);
		mr_buf_adds(out, ",\"type\":\"TXT\",\"value\":");
		mr_json_string(out, value);
		mr_buf_addc(out, '}');
	} else {
		mr_buf_addf(out, "%s.\tIN\tTXT\t", name);
		mr_zone_txt(value, strlen(value), out);
		mr_buf_addc(out, '\n');
	}
	*first = false;
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct dns_state *s = state;
	int code = MR_EXIT_OK;
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
	if (mr_live_load(&lv, &(struct mr_live_opts){ .root = g->rootfs, .layout = g->layout }, &errors) < 0) {
		mr_diags_print(&errors, stderr);
		code = MR_EXIT_ERROR;
		goto out;
	}
	/* the DMARC template is in the desired state; without one, the built-in default */
	struct mr_load_opts lo = mr_cli_load_opts(g, &s->src);
	const char *tmpl = MR_DMARC_DEFAULT;
	if (mr_load_desired(&m, &lo, &d) == 0) {
		if (m.server.dmarc)
			tmpl = m.server.dmarc;
	} else if (s->src.n) {
		mr_diags_print(&d, stderr);
		code = MR_EXIT_ERROR;
		goto out;
	}
	struct mr_buf out = MR_BUF_INIT;
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
			record(&out, s->json, &first, dom->name, "dkim", name.ptr, value.ptr);
			mr_buf_release(&name);
			mr_buf_release(&value);
		}
		if (dd ? dd->dmarc : dom->dmarc) {
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
			record(&out, s->json, &first, dom->name, "dmarc", name.ptr, value.ptr);
			mr_buf_release(&name);
			mr_buf_release(&value);
		}
	}
	if (s->json)
		mr_buf_adds(&out, first ? "]\n" : "\n]\n");
	fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout);
	mr_buf_release(&out);
out:
	mr_diags_release(&errors);
	mr_diags_release(&d);
	mr_live_release(&lv);
	mr_model_release(&m);
	mr_cli_sources_release(&s->src);
	return code;
}

const struct mr_cmd mr_cmd_dns = {
	.name = "dns",
	.operands = "[DOMAIN]...",
	.summary = "print the DKIM and DMARC records to publish",
	.description = "Print the TXT records to publish for the live domains (all, or each DOMAIN): each\n"
		       "DKIM key's record and, for a domain with dmarc: true, the DMARC record from\n"
		       "server.dmarc with {domain} replaced. Reads only.\n",
	.opts = options,
	.exits = "0   printed\n1   error, or a DOMAIN that is not a live mail domain\n",
	.example = "mailrecon dns example.com\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct dns_state),
};
