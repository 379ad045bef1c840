/*
 * mailrecon apply [-f PATH]... | --plan PLANFILE  [--allow-delete[=N]] [--purge] [--no-reload]
 *                 [--scope USER] [--target OBJECT]... [--actor NAME] [--yes] [--metrics-file PATH] [--log-format text|json]
 *
 * On a terminal (stdin and stdout) apply and rollback print the plan and ask before they
 * write; --yes, or no terminal (CI, a timer), does not ask.
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
	struct mr_cli_sources src;     /* -f */
	struct mr_cli_sources targets; /* --target, as given (right after src: cli.h) */
	const char *plan, *scope, *actor;
	const char *metrics_file; /* --metrics-file (cli/metrics.h) */
	long allow_delete;
	bool purge, no_reload, yes;
	bool log_json; /* --log-format json: audit lines as JSON objects */
};

enum { OPT_PLAN = 3000, OPT_ALLOW_DELETE, OPT_PURGE, OPT_NO_RELOAD, OPT_SCOPE, OPT_ACTOR, OPT_YES, OPT_METRICS_FILE,
       OPT_LOG_FORMAT, OPT_TARGET };

#define ALLOW_DELETE_HELP "allow up to N deletions of users, domains and mailboxes (default 0; no N: any number)"
#define NO_RELOAD_HELP "do not reload postgrey, spamd or dovecot after the switch"
#define ACTOR_HELP "who to name in the revision and the audit log (default SUDO_USER, the CI user or the login)"
#define YES_HELP "do not ask; on a terminal (stdin and stdout) it asks 'Apply these changes? (yes/no)'"
#define LOG_FORMAT_HELP "the audit log's lines: text (default) or json, one JSON object a line for log shippers"

static const struct mr_opt options[] = {
	{ "file", 'f', required_argument, "PATH", MR_OPT_REPEAT, "the desired state: a YAML file, a directory of them, or git:REPO[#REF][:SUBDIR]; repeatable (default ROOT/etc/mailrecon/desired)" },
	{ "plan", OPT_PLAN, required_argument, "PLANFILE", 0,
	  "apply exactly this saved plan (plan --out); refused (exit 3) if anything changed since; not with -f" },
	{ "allow-delete", OPT_ALLOW_DELETE, optional_argument, "N", MR_OPT_NEXT_NUMBER, ALLOW_DELETE_HELP },
	{ "purge", OPT_PURGE, no_argument, NULL, 0, "delete a removed mailbox's mail instead of archiving it" },
	{ "no-reload", OPT_NO_RELOAD, no_argument, NULL, 0, NO_RELOAD_HELP },
	{ "scope", OPT_SCOPE, required_argument, "USER", 0,
	  "only USER's objects (a reseller: also its users'); nothing else is touched" },
	{ "target", OPT_TARGET, required_argument, "OBJECT", MR_OPT_REPEAT, MR_CLI_TARGET_HELP },
	{ "actor", OPT_ACTOR, required_argument, "NAME", 0, ACTOR_HELP },
	{ "yes", OPT_YES, no_argument, NULL, 0, YES_HELP },
	{ "metrics-file", OPT_METRICS_FILE, required_argument, "PATH", 0,
	  "write the run's Prometheus textfile metrics to PATH, atomically (node_exporter's textfile collector)" },
	{ "log-format", OPT_LOG_FORMAT, required_argument, "text|json", 0, LOG_FORMAT_HELP },
	{ NULL, 0, 0, NULL, 0, NULL },
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
	case OPT_TARGET:
		if (mr_cli_check_target("apply", arg))
			return MR_EXIT_USAGE;
		mr_cli_source_add(&s->targets, arg);
		return 0;
	case OPT_ACTOR:
		s->actor = arg;
		return 0;
	case OPT_YES:
		s->yes = true;
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

/* The question of an apply on a terminal: only "yes" goes on (the plan is printed above it). */
static bool confirm(void)
{
	char line[64];
	fputs("\nApply these changes? (yes/no) ", stdout);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcmp(line, "yes") == 0;
}

/* Ask only a person: stdin and stdout on a terminal (not CI, not a timer), and no --yes. */
static bool (*asker(const struct apply_state *s))(void)
{
	return !s->yes && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) ? confirm : NULL;
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
			.nsources = s->src.n, .planfile = s->plan, .scope = s->scope, .targets = s->targets.v,
			.ntargets = s->targets.n, .allow_delete = s->allow_delete,
			.purge = s->purge, .no_reload = s->no_reload, .lock_timeout = g->lock_timeout,
			.color = mr_cli_color(g), .verbosity = g->verbosity, .actor = s->actor, .confirm = asker(s),
			.report = &report, .log_json = s->log_json, .host = g->host,
		};
		rc = mr_apply_run(&o);
		struct mr_metrics m = { .command = "apply", .host = g->host, .exit_code = rc, .success = rc == MR_EXIT_OK,
					.planned = report.planned, .pending_changes = report.pending,
					.drift_objects = report.drift_files, .findings = report.findings,
					.counts_applied = true };
		memcpy(m.applied, report.applied, sizeof(m.applied));
		mr_metrics_write(s->metrics_file, &m);
	}
	mr_cli_sources_release(&s->src);
	mr_cli_sources_release(&s->targets);
	return rc;
}

const struct mr_cmd mr_cmd_apply = {
	.name = "apply",
	.summary = "make the live server what the desired state says",
	.description = "Plan, print the plan, and make the live server match it as one transaction:\n"
		       "files staged and checked with the installed tools, then switched; homes made,\n"
		       "moved or archived; the services whose inputs changed reloaded; one revision and\n"
		       "audit lines recorded. A second apply of the same state changes nothing.\n",
	.opts = options,
	.exits = "0   applied, or nothing to change\n"
		 "1   error: bad input, I/O, a failed check, a mailbox home left alone\n"
		 "3   refused: deletions over --allow-delete, a stale --plan, --scope\n"
		 "4   another run held the lock longer than --lock-timeout\n",
	.example = "mailrecon apply --plan change.plan\nmailrecon apply -f /etc/mailrecon/desired --allow-delete=2\n"
		   "mailrecon apply --target info@example.com\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct apply_state),
	.sources = true,
	.more_sources = 1,
};

static const struct mr_opt rollback_options[] = {
	{ "allow-delete", OPT_ALLOW_DELETE, optional_argument, "N", MR_OPT_NEXT_NUMBER, ALLOW_DELETE_HELP },
	{ "no-reload", OPT_NO_RELOAD, no_argument, NULL, 0, NO_RELOAD_HELP },
	{ "actor", OPT_ACTOR, required_argument, "NAME", 0, ACTOR_HELP },
	{ "yes", OPT_YES, no_argument, NULL, 0, YES_HELP },
	{ "log-format", OPT_LOG_FORMAT, required_argument, "text|json", 0, LOG_FORMAT_HELP },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int rollback_option(void *state, int opt, const char *arg)
{
	if (opt != OPT_ALLOW_DELETE && opt != OPT_NO_RELOAD && opt != OPT_ACTOR && opt != OPT_YES &&
	    opt != OPT_LOG_FORMAT)
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
		.color = mr_cli_color(g), .verbosity = g->verbosity, .confirm = asker(s), .host = g->host,
	};
	return mr_rollback_run(&o, argv[0]);
}

const struct mr_cmd mr_cmd_rollback = {
	.name = "rollback",
	.operands = "REV",
	.summary = "make the live files those of a revision, as a new revision",
	.description = "An apply whose target is revision REV of the state repository (see mailrecon log):\n"
		       "the same lock, delete cap, archive, checks and transaction, recorded as a new\n"
		       "revision. A revision mailrecon did not make, or with files it would never write,\n"
		       "is refused.\n",
	.opts = rollback_options,
	.exits = "0   rolled back, or the live files are already REV's\n"
		 "1   error\n"
		 "3   refused: deletions over --allow-delete, a revision that cannot be used\n"
		 "4   another run held the lock longer than --lock-timeout\n",
	.example = "mailrecon rollback 2002ec53da9a --allow-delete=1\n",
	.option = rollback_option,
	.run = rollback_run,
	.state_size = sizeof(struct apply_state),
	.sources = true,
};
