/*
 * mailrecon validate [-f PATH]... [--json]: load and check the desired state; touches
 * nothing live.  With --json, one JSON object on stdout (schema/validate.schema.json) holds
 * the diagnostics instead of stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "load/desired.h"
#include "model/model.h"
#include "plan/plan.h"
#include "route/route.h"
#include "util/xalloc.h"
#include "vcs/vcs.h"

struct validate_state {
	struct mr_cli_sources src; /* -f */
	bool json;
};

enum { OPT_JSON = 6000 };

static const struct mr_opt options[] = {
	{ "file", 'f', required_argument, "PATH", MR_OPT_REPEAT, "the desired state: a YAML file, a directory of them, or git:REPO[#REF][:SUBDIR]; repeatable (default ROOT/etc/mailrecon/desired)" },
	{ "json", OPT_JSON, no_argument, NULL, 0,
	  "print one JSON object: valid, the counts, and every error and warning with file, line, column, message" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int option(void *state, int opt, const char *arg)
{
	struct validate_state *s = state;
	if (opt == OPT_JSON) {
		s->json = true;
		return 0;
	}
	if (opt != 'f')
		return MR_EXIT_USAGE;
	mr_cli_source_add(&s->src, arg);
	return 0;
}

/* {"valid":..,"errors":N,"warnings":N,"counts":{..}|null,"diagnostics":[..]} */
static void print_json(const struct mr_diags *d, const struct mr_model *m, size_t nfiles)
{
	struct mr_buf out = MR_BUF_INIT;
	size_t warnings = 0;
	for (size_t i = 0; i < d->n; i++)
		warnings += d->v[i].sev == MR_SEV_WARNING;
	mr_buf_addf(&out, "{\"valid\":%s,\"errors\":%zu,\"warnings\":%zu,\"counts\":", m ? "true" : "false", d->errors,
		    warnings);
	if (m)
		mr_buf_addf(&out, "{\"users\":%zu,\"domains\":%zu,\"mailboxes\":%zu,\"files\":%zu}", m->nusers,
			    m->ndomains, mr_model_count_mailboxes(m), nfiles);
	else
		mr_buf_adds(&out, "null");
	mr_buf_adds(&out, ",\"diagnostics\":[");
	for (size_t i = 0; i < d->n; i++) {
		const struct mr_diag *x = &d->v[i];
		mr_buf_adds(&out, i ? ",\n  {\"file\":" : "\n  {\"file\":");
		mr_json_string(&out, mr_loc_file(x->loc));
		if (x->loc.line)
			mr_buf_addf(&out, ",\"line\":%u,\"column\":%u", (unsigned)x->loc.line,
				    (unsigned)x->loc.col);
		else
			mr_buf_adds(&out, ",\"line\":null,\"column\":null");
		mr_buf_addf(&out, ",\"severity\":\"%s\",\"message\":",
			    x->sev == MR_SEV_ERROR ? "error" : x->sev == MR_SEV_WARNING ? "warning" : "note");
		mr_json_string(&out, x->msg);
		mr_buf_addc(&out, '}');
	}
	mr_buf_adds(&out, d->n ? "\n]}\n" : "]}\n");
	fwrite(out.ptr, 1, out.len, stdout);
	mr_buf_release(&out);
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
	o.host = NULL; /* the whole fleet: every host's domains, limits counted across hosts */
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
	if (s->json) {
		print_json(&d, rc == 0 ? &m : NULL, o.nfiles);
		goto out;
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
out:
	mr_diags_release(&d);
	mr_model_release(&m);
	mr_cli_sources_release(&s->src);
	return rc < 0 ? MR_EXIT_ERROR : MR_EXIT_OK;
}

const struct mr_cmd mr_cmd_validate = {
	.name = "validate",
	.summary = "check the desired state; touches nothing live",
	.description = "Load and check the desired state. Every error is printed as FILE:LINE:COL: error:\n"
		       "MESSAGE, all of them in one run; secrets are never printed. With --json, one JSON\n"
		       "object on stdout holds them instead (schema/validate.schema.json).\n",
	.opts = options,
	.exits = "0   valid\n1   errors in the desired state\n",
	.example = "mailrecon validate -f examples/hosting\nmailrecon validate -f alice.yaml -f bob.yaml\n"
		   "mailrecon validate --json -f examples/hosting\n",
	.no_root = true,
	.option = option,
	.run = run,
	.state_size = sizeof(struct validate_state),
	.sources = true,
};
