/*
 * mailrecon import [--scope USER]: the live server as desired-state YAML on stdout.
 * Findings about the live files go to stderr; the document is valid on its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "codec/live.h"
#include "load/desired.h"
#include "load/emit.h"
#include "model/names.h"
#include "plan/plan.h"

struct import_state {
	const char *scope;
};

enum { OPT_SCOPE = 7000 };

static const struct mr_opt options[] = {
	{ "scope", OPT_SCOPE, required_argument, "USER", 0, "only USER's objects (a reseller: also its users')" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int option(void *state, int opt, const char *arg)
{
	struct import_state *s = state;
	if (opt != OPT_SCOPE)
		return MR_EXIT_USAGE;
	if (mr_check_user_name(arg)) {
		mr_cli_error("import: --scope '%s' is not a user name", arg);
		return MR_EXIT_USAGE;
	}
	s->scope = arg;
	return 0;
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct import_state *s = state;
	if (argc > 0) {
		mr_cli_error("import: unexpected argument '%s'", argv[0]);
		return MR_EXIT_USAGE;
	}
	struct mr_live lv;
	struct mr_diags errors = MR_DIAGS_INIT;
	int rc = mr_live_load(&lv, &(struct mr_live_opts){ .root = g->rootfs, .layout = g->layout }, &errors);
	if (g->verbosity >= 0 && s->scope) { /* only what is about the scope's objects */
		struct mr_diags shown = MR_DIAGS_INIT;
		mr_plan_scope_findings(&lv, s->scope, &shown);
		mr_diags_print(&shown, stderr);
		mr_diags_release(&shown);
	} else if (g->verbosity >= 0) {
		mr_diags_print(&lv.findings, stderr);
	}
	mr_diags_print(&errors, stderr);
	int code = MR_EXIT_OK;
	if (rc < 0) {
		mr_cli_error("import: the live files could not be read; nothing was printed");
		code = MR_EXIT_ERROR;
		goto out;
	}
	if (s->scope && !mr_model_user(&lv.model, s->scope)) {
		mr_cli_error("import: --scope '%s': no such user in the live state", s->scope);
		code = MR_EXIT_ERROR;
		goto out;
	}
	struct mr_buf header = MR_BUF_INIT, out = MR_BUF_INIT;
	mr_buf_addf(&header, "# mailrecon import: the live state of %s (layout %s)%s%s\n", mr_root_dir(g->rootfs),
		    mr_layout_name(lv.layout), s->scope ? ", scope " : "", s->scope ? s->scope : "");
	struct mr_emit_opts eo = { .scope = s->scope, .header = header.ptr };
	mr_emit_yaml(&lv.model, &eo, &out);
	if (fwrite(out.ptr, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		mr_cli_error("import: cannot write the output");
		code = MR_EXIT_ERROR;
	}
	/* the document must stand on its own: load and validate it as `validate` would */
	struct mr_model chk;
	struct mr_diags cd = MR_DIAGS_INIT;
	mr_model_init(&chk);
	mr_load_yaml_buffer(&chk, "(import)", out.ptr, out.len, &cd);
	if (!cd.errors)
		mr_validate_desired(&chk, g->rootfs, MR_VALIDATE_READ_FILES, &cd);
	if (cd.errors) {
		mr_cli_error("import: the live state breaks %zu rule%s of the desired state; the output will not "
			     "validate until the live files or the output are fixed:",
			     cd.errors, cd.errors == 1 ? "" : "s");
		mr_diags_sort(&cd);
		mr_diags_print(&cd, stderr);
		code = MR_EXIT_ERROR;
	}
	mr_diags_release(&cd);
	mr_model_release(&chk);
	if (eo.skipped)
		mr_cli_error("import: %zu object%s left out (see the comments in the output)", eo.skipped,
			     eo.skipped == 1 ? "" : "s");
	mr_buf_release(&header);
	mr_buf_release(&out);
out:
	mr_diags_release(&errors);
	mr_live_release(&lv);
	return code;
}

const struct mr_cmd mr_cmd_import = {
	.name = "import",
	.summary = "print the live server as desired-state YAML",
	.description = "Read every live file and print the live server as one desired-state YAML document\n"
		       "on standard output, which validates and which plan turns into no change. Passwords\n"
		       "are kept as {hash: ...}; findings in the live files go to standard error.\n",
	.opts = options,
	.exits = "0   printed\n1   a live file could not be read, or the live state breaks a rule\n",
	.example = "mailrecon import > /etc/mailrecon/desired/imported.yaml\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct import_state),
};
