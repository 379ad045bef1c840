/*
 * mailrecon apply [-f PATH]... | --plan PLANFILE  [--allow-delete[=N]] [--purge] [--no-reload]
 *                 [--scope USER] [--actor NAME] [--metrics-file PATH] [--log-format text|json]
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply/apply.h"
#include "cli/cli.h"
#include "cli/metrics.h"
#include "model/names.h"
#include "util/strutil.h"
#include "util/xalloc.h"

struct apply_state {
	struct mr_cli_sources src; /* -f */
	const char *plan, *scope, *actor;
	const char *metrics_file; /* --metrics-file (cli/metrics.h) */
	long allow_delete;
	bool purge, no_reload;
	bool log_json; /* --log-format json: audit lines as JSON objects */
};

enum { OPT_PLAN = 3000, OPT_ALLOW_DELETE, OPT_PURGE, OPT_NO_RELOAD, OPT_SCOPE, OPT_ACTOR, OPT_METRICS_FILE,
       OPT_LOG_FORMAT };

static const struct option options[] = {
	{ "file", required_argument, NULL, 'f' },
	{ "plan", required_argument, NULL, OPT_PLAN },
	{ "allow-delete", optional_argument, NULL, OPT_ALLOW_DELETE },
	{ "purge", no_argument, NULL, OPT_PURGE },
	{ "no-reload", no_argument, NULL, OPT_NO_RELOAD },
	{ "scope", required_argument, NULL, OPT_SCOPE },
	{ "actor", required_argument, NULL, OPT_ACTOR },
	{ "metrics-file", required_argument, NULL, OPT_METRICS_FILE },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ NULL, 0, NULL, 0 },
};

static int option(void *state, int opt, const char *arg)
{
	struct apply_state *s = state;
	uint64_t n;
	switch (opt) {
	case 'f':
		mr_cli_source_add(&s->src, arg);
		return 0;
	case OPT_PLAN:
		s->plan = arg;
		return 0;
	case OPT_ALLOW_DELETE:
		if (!arg) {
			s->allow_delete = -1; /* any number */
			return 0;
		}
		if (!mr_parse_u64(arg, strlen(arg), 1000000000, &n)) {
			mr_cli_error("apply: --allow-delete=%s: expected a number", arg);
			return MR_EXIT_USAGE;
		}
		s->allow_delete = (long)n;
		return 0;
	case OPT_PURGE:
		s->purge = true;
		return 0;
	case OPT_NO_RELOAD:
		s->no_reload = true;
		return 0;
	case OPT_SCOPE:
		if (mr_check_user_name(arg)) {
			mr_cli_error("apply: --scope '%s' is not a user name", arg);
			return MR_EXIT_USAGE;
		}
		s->scope = arg;
		return 0;
	case OPT_ACTOR:
		s->actor = arg;
		return 0;
	case OPT_METRICS_FILE:
		s->metrics_file = arg;
		return 0;
	case OPT_LOG_FORMAT:
		if (strcmp(arg, "text") && strcmp(arg, "json")) {
			mr_cli_error("--log-format must be text or json, not '%s'", arg);
			return MR_EXIT_USAGE;
		}
		s->log_json = !strcmp(arg, "json");
		return 0;
	}
	return MR_EXIT_USAGE;
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct apply_state *s = state;
	int rc;
	if (argc > 0) {
		mr_cli_error("apply: unexpected argument '%s' (use -f PATH or --plan PLANFILE)", argv[0]);
		rc = MR_EXIT_USAGE;
	} else if (s->plan && s->src.n) {
		mr_cli_error("apply: --plan and -f exclude each other: a plan file names its own sources");
		rc = MR_EXIT_USAGE;
	} else {
		struct mr_apply_report report = { 0 };
		struct mr_apply_opts o = {
			.root = g->rootfs, .state_dir = g->state_dir, .layout = g->layout, .sources = s->src.v,
			.nsources = s->src.n, .planfile = s->plan, .scope = s->scope, .allow_delete = s->allow_delete,
			.purge = s->purge, .no_reload = s->no_reload, .lock_timeout = g->lock_timeout,
			.color = g->color == MR_COLOR_ALWAYS || (g->color == MR_COLOR_AUTO && isatty(STDOUT_FILENO)),
			.verbosity = g->verbosity, .actor = s->actor, .report = &report, .log_json = s->log_json,
		};
		rc = mr_apply_run(&o);
		struct mr_metrics m = { .command = "apply", .exit_code = rc, .success = rc == MR_EXIT_OK,
					.planned = report.planned, .pending_changes = report.pending,
					.drift_objects = report.drift_files, .findings = report.findings,
					.counts_applied = true };
		memcpy(m.applied, report.applied, sizeof(m.applied));
		mr_metrics_write(s->metrics_file, &m);
	}
	mr_cli_sources_release(&s->src);
	return rc;
}

const struct mr_cmd mr_cmd_apply = {
	.name = "apply",
	.usage = "[-f PATH]... | --plan PLANFILE [--allow-delete[=N]] [--purge] [--no-reload] [--scope USER] [--actor NAME] "
		 "[--metrics-file PATH] [--log-format text|json]",
	.summary = "make the live server what the desired state says",
	.options = options,
	.shortopts = "f:",
	.option = option,
	.run = run,
	.state_size = sizeof(struct apply_state),
};

static const struct option rollback_options[] = {
	{ "allow-delete", optional_argument, NULL, OPT_ALLOW_DELETE },
	{ "no-reload", no_argument, NULL, OPT_NO_RELOAD },
	{ "actor", required_argument, NULL, OPT_ACTOR },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ NULL, 0, NULL, 0 },
};

static int rollback_option(void *state, int opt, const char *arg)
{
	if (opt != OPT_ALLOW_DELETE && opt != OPT_NO_RELOAD && opt != OPT_ACTOR && opt != OPT_LOG_FORMAT)
		return MR_EXIT_USAGE;
	return option(state, opt, arg);
}

static int rollback_run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct apply_state *s = state;
	if (argc != 1) {
		mr_cli_error("rollback: expected one revision (see mailrecon log)");
		return MR_EXIT_USAGE;
	}
	struct mr_apply_opts o = {
		.root = g->rootfs, .state_dir = g->state_dir, .layout = g->layout, .lock_timeout = g->lock_timeout,
		.allow_delete = s->allow_delete, .no_reload = s->no_reload, .actor = s->actor, .log_json = s->log_json,
		.color = g->color == MR_COLOR_ALWAYS || (g->color == MR_COLOR_AUTO && isatty(STDOUT_FILENO)),
		.verbosity = g->verbosity,
	};
	return mr_rollback_run(&o, argv[0]);
}

const struct mr_cmd mr_cmd_rollback = {
	.name = "rollback",
	.usage = "REV [--allow-delete[=N]] [--no-reload] [--actor NAME] [--log-format text|json]",
	.summary = "make the live files equal a revision's, as a new revision (an apply: the same delete cap)",
	.options = rollback_options,
	.option = rollback_option,
	.run = rollback_run,
	.state_size = sizeof(struct apply_state),
};
