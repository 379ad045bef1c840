/*
 * mailrecon validate [-f PATH]...: load and check the desired state; touches nothing live.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "load/desired.h"
#include "model/model.h"
#include "route/route.h"
#include "util/xalloc.h"
#include "vcs/vcs.h"

struct validate_state {
	struct mr_cli_sources src; /* -f */
};

static const struct mr_opt options[] = {
	{ "file", 'f', required_argument, "PATH", MR_OPT_REPEAT, "the desired state: a YAML file, a directory of them, or git:REPO[#REF][:SUBDIR]; repeatable (default ROOT/etc/mailrecon/desired)" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int option(void *state, int opt, const char *arg)
{
	struct validate_state *s = state;
	if (opt != 'f')
		return MR_EXIT_USAGE;
	mr_cli_source_add(&s->src, arg);
	return 0;
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct validate_state *s = state;
	(void)argv;
	if (argc > 0) {
		mr_cli_error("validate: unexpected argument '%s' (use -f PATH)", argv[0]);
		mr_cli_sources_release(&s->src);
		return MR_EXIT_USAGE;
	}
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	struct mr_load_opts o = mr_cli_load_opts(g, &s->src);
	mr_model_init(&m);
	int rc = mr_load_desired(&m, &o, &d);
	if (rc == 0) {
		/* the mail flow: copy loops, mail stored nowhere (warnings, docs/route.md) */
		struct mr_router r;
		mr_router_init(&r, &m);
		mr_route_findings(&r, &d);
		mr_router_release(&r);
		mr_diags_sort(&d);
	}
	mr_diags_print(&d, stderr);
	if (rc < 0) {
		mr_cli_error("%zu error%s in the desired state", d.errors, d.errors == 1 ? "" : "s");
	} else if (g->verbosity >= 0) {
		size_t nmb = mr_model_count_mailboxes(&m);
		printf("valid: %zu user%s, %zu domain%s, %zu mailbox%s in %zu file%s\n", m.nusers,
		       m.nusers == 1 ? "" : "s", m.ndomains, m.ndomains == 1 ? "" : "s", nmb, nmb == 1 ? "" : "es",
		       o.nfiles, o.nfiles == 1 ? "" : "s");
	}
	mr_diags_release(&d);
	mr_model_release(&m);
	mr_cli_sources_release(&s->src);
	return rc < 0 ? MR_EXIT_ERROR : MR_EXIT_OK;
}

const struct mr_cmd mr_cmd_validate = {
	.name = "validate",
	.summary = "check the desired state; touches nothing live",
	.description = "Load and check the desired state. Every error is printed as FILE:LINE:COL: error:\n"
		       "MESSAGE, all of them in one run; secrets are never printed.\n",
	.opts = options,
	.exits = "0   valid\n1   errors in the desired state\n",
	.example = "mailrecon validate -f examples/hosting\nmailrecon validate -f alice.yaml -f bob.yaml\n",
	.no_root = true,
	.option = option,
	.run = run,
	.state_size = sizeof(struct validate_state),
	.sources = true,
};
