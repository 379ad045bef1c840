/*
 * mailrecon route [-f PATH]... [--live] [--json] ADDRESS...
 *
 * Where mail to each ADDRESS goes (design section 8, docs/route.md): from the desired state,
 * or with --live from the live files, as Exim with contrib/exim4/exim4.conf routes it
 * (src/route).  One line per address; --json one object per line (schema/route.schema.json).
 * Reads only; takes no lock.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "codec/live.h"
#include "load/desired.h"
#include "model/model.h"
#include "plan/plan.h" /* mr_route_json */
#include "route/route.h"
#include "util/buf.h"
#include "util/rootfs.h"

struct route_state {
	struct mr_cli_sources src; /* -f */
	bool live, json;
};

enum { OPT_LIVE = 2100, OPT_JSON };

static const struct mr_opt options[] = {
	{ "file", 'f', required_argument, "PATH", MR_OPT_REPEAT, "the desired state: a YAML file, a directory of them, or git:REPO[#REF][:SUBDIR]; repeatable (default ROOT/etc/mailrecon/desired)" },
	{ "live", OPT_LIVE, no_argument, NULL, 0, "route over the live files instead of the desired state" },
	{ "json", OPT_JSON, no_argument, NULL, 0, "one JSON object per address and line (schema/route.schema.json)" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int option(void *state, int opt, const char *arg)
{
	struct route_state *s = state;
	switch (opt) {
	case 'f':
		mr_cli_source_add(&s->src, arg);
		return 0;
	case OPT_LIVE:
		s->live = true;
		return 0;
	case OPT_JSON:
		s->json = true;
		return 0;
	}
	return MR_EXIT_USAGE;
}

/* LOCAL@DOMAIN, both parts non-empty, printable ASCII without white space, at most 320 bytes */
static bool plausible_address(const char *a)
{
	const char *at = strrchr(a, '@');
	size_t n = strlen(a);
	if (!at || at == a || !at[1] || n > 320)
		return false;
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	return true;
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct route_state *s = state;
	int code = MR_EXIT_OK;
	if (argc == 0) {
		mr_cli_error("route: name at least one address (see mailrecon route --help)");
		mr_cli_sources_release(&s->src);
		return MR_EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++)
		if (!plausible_address(argv[i])) {
			mr_cli_error("route: '%s' is not an address (LOCAL@DOMAIN)", argv[i]);
			mr_cli_sources_release(&s->src);
			return MR_EXIT_USAGE;
		}
	if (s->live && s->src.n) {
		mr_cli_error("route: --live reads the live files: it takes no -f");
		mr_cli_sources_release(&s->src);
		return MR_EXIT_USAGE;
	}
	struct mr_model m;
	struct mr_live lv;
	struct mr_diags d = MR_DIAGS_INIT;
	const struct mr_model *model;
	mr_model_init(&m);
	memset(&lv, 0, sizeof(lv));
	if (s->live) {
		if (mr_live_load(&lv, &(struct mr_live_opts){ .root = g->rootfs, .layout = g->layout }, &d) < 0) {
			mr_diags_print(&d, stderr);
			mr_cli_error("route: the live files could not be read");
			code = MR_EXIT_ERROR;
			goto out;
		}
		model = &lv.model;
	} else {
		struct mr_load_opts lo = mr_cli_load_opts(g, &s->src);
		if (mr_load_desired(&m, &lo, &d) < 0) {
			mr_diags_print(&d, stderr);
			mr_cli_error("route: %zu error%s in the desired state", d.errors, d.errors == 1 ? "" : "s");
			code = MR_EXIT_ERROR;
			goto out;
		}
		model = &m;
	}
	struct mr_router r;
	mr_router_init(&r, model);
	struct mr_buf out = MR_BUF_INIT;
	for (int i = 0; i < argc; i++) {
		struct mr_route rt;
		mr_route(&rt, &r, argv[i]);
		if (s->json) {
			mr_route_json(&out, argv[i], &rt);
			mr_buf_addc(&out, '\n');
		} else {
			mr_buf_adds(&out, argv[i]);
			mr_buf_adds(&out, " -> ");
			mr_route_format(&rt, &out);
			mr_buf_addc(&out, '\n');
		}
		mr_route_release(&rt);
	}
	mr_router_release(&r);
	if (fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout) != out.len || fflush(stdout) != 0)
		code = MR_EXIT_ERROR;
	mr_buf_release(&out);
out:
	mr_diags_release(&d);
	if (s->live)
		mr_live_release(&lv);
	mr_model_release(&m);
	mr_cli_sources_release(&s->src);
	return code;
}

const struct mr_cmd mr_cmd_route = {
	.name = "route",
	.operands = "ADDRESS...",
	.summary = "where mail to an address goes",
	.description = "Where mail to each ADDRESS goes, as Exim with contrib/exim4/exim4.conf routes it:\n"
		       "deliver (the mailboxes that store a copy), reject (the SMTP text), discard or\n"
		       "remote; from the desired state, or from the live files with --live. Reads only.\n",
	.opts = options,
	.exits = "0   every address routed\n1   error: the state could not be read\n"
		 "64  usage: no address, or one that is not LOCAL@DOMAIN\n",
	.example = "mailrecon route sales@example.com info@example.com\nmailrecon route --live --json '*@example.org'\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct route_state),
	.sources = true,
};
