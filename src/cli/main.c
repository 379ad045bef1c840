/*
 * mailrecon: keep an Exim + Dovecot mail server (ispmanager 6 layout) in the state
 * declared in YAML.  This file parses the global options and dispatches to a command.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "util/rootfs.h"
#include "util/xalloc.h"
#include "vcs/vcs.h"

#ifndef MAILRECON_VERSION
#define MAILRECON_VERSION "0.0.0"
#endif

static const struct mr_cmd *const commands[] = {
	&mr_cmd_validate,
	&mr_cmd_plan,
	&mr_cmd_apply,
	&mr_cmd_import,
	&mr_cmd_dns,
	&mr_cmd_drift,
	&mr_cmd_log,
	&mr_cmd_show,
	&mr_cmd_rollback,
	&mr_cmd_route,
	NULL,
};

enum {
	OPT_ROOT = 1000,
	OPT_LAYOUT,
	OPT_STATE_DIR,
	OPT_LOCK_TIMEOUT,
	OPT_COLOR,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option global_options[] = {
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "layout", required_argument, NULL, OPT_LAYOUT },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
	{ "color", required_argument, NULL, OPT_COLOR },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void mr_cli_error(const char *fmt, ...)
{
	struct mr_buf msg = MR_BUF_INIT, out = MR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	mr_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	mr_buf_adds(&out, "mailrecon: ");
	mr_buf_add_printable(&out, msg.ptr ? msg.ptr : "", msg.len, 0);
	mr_buf_addc(&out, '\n');
	fwrite(out.ptr, 1, out.len, stderr);
	mr_buf_release(&msg);
	mr_buf_release(&out);
}

void mr_cli_source_add(struct mr_cli_sources *s, const char *path)
{
	s->v = xgrow(s->v, sizeof(*s->v), s->n + 1, &s->cap);
	s->v[s->n++] = path;
}

void mr_cli_sources_release(struct mr_cli_sources *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct mr_vcs *mr_cli_history(const struct mr_globals *g, const char *cmd, int *code)
{
	char *repo = mr_path_join(g->state_dir, "repo");
	char *full = mr_root_full(g->rootfs, repo);
	struct mr_buf err = MR_BUF_INIT;
	struct mr_vcs *v = NULL;
	int r = mr_vcs_check_dir(g->rootfs, repo, &err);
	*code = MR_EXIT_OK;
	if (r > 0)
		v = mr_vcs_open(full, false, &err);
	if (r < 0 || (r > 0 && !v && !mr_vcs_missing(&err))) {
		mr_cli_error("%s: %s", cmd, err.ptr);
		*code = MR_EXIT_ERROR;
	}
	mr_buf_release(&err);
	free(full);
	free(repo);
	return v;
}

struct mr_load_opts mr_cli_load_opts(const struct mr_globals *g, const struct mr_cli_sources *s)
{
	return (struct mr_load_opts){ .root = g->rootfs ? mr_root_dir(g->rootfs) : g->root, .rootfs = g->rootfs,
				      .sources = s->v, .nsources = s->n,
				      .read_git = mr_vcs_source };
}

static void usage(FILE *f)
{
	fputs("usage: mailrecon [global options] COMMAND [options]\n\ncommands:\n", f);
	for (const struct mr_cmd *const *c = commands; *c; c++)
		fprintf(f, "  %-9s %s\n", (*c)->name, (*c)->summary);
	fputs("\nglobal options:\n"
	      "  --root DIR            take every live path below DIR (default /)\n"
	      "  --layout debian|rhel|auto\n"
	      "                        file layout (default auto: /etc/exim4 means debian)\n"
	      "  --state-dir DIR       state directory (default /var/lib/mailrecon, below --root)\n"
	      "  --lock-timeout SECS   how long to wait for the apply lock\n"
	      "  --color auto|always|never\n"
	      "  -q, --quiet           print errors only\n"
	      "  -v, --verbose         print more\n"
	      "  --help, --version\n"
	      "\nexit codes: 0 ok, 1 error, 2 changes pending, 3 refused by a safety rule,\n"
	      "4 lock not taken in time, 64 usage. See mailrecon(1).\n",
	      f);
}

/* Handle a global option; returns -1 when it was not one, else 0 or an exit code + 1. */
static int global_option(struct mr_globals *g, int opt, const char *arg)
{
	switch (opt) {
	case OPT_ROOT:
		if (!arg[0]) {
			mr_cli_error("--root needs a directory");
			return MR_EXIT_USAGE + 1;
		}
		g->root = arg;
		return 0;
	case OPT_STATE_DIR:
		g->state_dir = arg;
		return 0;
	case OPT_LAYOUT:
		if (!strcmp(arg, "debian"))
			g->layout = MR_LAYOUT_DEBIAN;
		else if (!strcmp(arg, "rhel"))
			g->layout = MR_LAYOUT_RHEL;
		else if (!strcmp(arg, "auto"))
			g->layout = MR_LAYOUT_AUTO;
		else {
			mr_cli_error("--layout must be debian, rhel or auto, not '%s'", arg);
			return MR_EXIT_USAGE + 1;
		}
		return 0;
	case OPT_LOCK_TIMEOUT: {
		char *end;
		errno = 0;
		double t = strtod(arg, &end);
		if (errno || end == arg || *end || t < 0 || t > 86400) {
			mr_cli_error("--lock-timeout must be a number of seconds from 0 to 86400, not '%s'", arg);
			return MR_EXIT_USAGE + 1;
		}
		g->lock_timeout = t;
		return 0;
	}
	case OPT_COLOR:
		if (!strcmp(arg, "auto"))
			g->color = MR_COLOR_AUTO;
		else if (!strcmp(arg, "always"))
			g->color = MR_COLOR_ALWAYS;
		else if (!strcmp(arg, "never"))
			g->color = MR_COLOR_NEVER;
		else {
			mr_cli_error("--color must be auto, always or never, not '%s'", arg);
			return MR_EXIT_USAGE + 1;
		}
		return 0;
	case 'q':
		g->verbosity = -1;
		return 0;
	case 'v':
		if (g->verbosity >= 0)
			g->verbosity++;
		return 0;
	case OPT_HELP:
		usage(stdout);
		return MR_EXIT_OK + 1;
	case OPT_VERSION:
		printf("mailrecon %s\n", MAILRECON_VERSION);
		return MR_EXIT_OK + 1;
	default:
		return -1;
	}
}

static size_t count_options(const struct option *o)
{
	size_t n = 0;
	while (o && o[n].name)
		n++;
	return n;
}

int main(int argc, char **argv)
{
	struct mr_globals g = { .root = "/", .state_dir = "/var/lib/mailrecon", .lock_timeout = 60 };
	int rc;

	/* global options before the command */
	opterr = 0;
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "+qv", global_options, NULL)) != -1) {
		if (opt == '?' || opt == ':') {
			mr_cli_error("unknown or incomplete option '%s' (see mailrecon --help)", argv[optind - 1]);
			return MR_EXIT_USAGE;
		}
		if ((rc = global_option(&g, opt, optarg)) > 0)
			return rc - 1;
	}
	if (optind >= argc) {
		usage(stderr);
		return MR_EXIT_USAGE;
	}
	const char *name = argv[optind];
	const struct mr_cmd *cmd = NULL;
	for (const struct mr_cmd *const *c = commands; *c; c++)
		if (!strcmp((*c)->name, name))
			cmd = *c;
	if (!cmd) {
		mr_cli_error("unknown command '%s' (see mailrecon --help)", name);
		return MR_EXIT_USAGE;
	}

	/* the command's options, with the global ones accepted there too */
	size_t nc = count_options(cmd->options), ng = count_options(global_options);
	struct option *all = xcalloc(nc + ng + 1, sizeof(*all));
	if (nc)
		memcpy(all, cmd->options, nc * sizeof(*all));
	memcpy(all + nc, global_options, ng * sizeof(*all));
	char shortopts[64];
	snprintf(shortopts, sizeof(shortopts), ":qv%s", cmd->shortopts ? cmd->shortopts : "");

	void *state = xcalloc(1, cmd->state_size ? cmd->state_size : 1);
	int cargc = argc - optind;
	char **cargv = argv + optind;
	optind = 0; /* 0, not 1: glibc's getopt starts afresh, so options may follow operands */
	rc = -1;
	while ((opt = getopt_long(cargc, cargv, shortopts, all, NULL)) != -1) {
		if (opt == '?') {
			mr_cli_error("%s: unknown option '%s' (usage: mailrecon %s %s)", cmd->name, cargv[optind - 1],
				     cmd->name, cmd->usage);
			rc = MR_EXIT_USAGE;
			break;
		}
		if (opt == ':') {
			mr_cli_error("%s: option '%s' needs a value", cmd->name, cargv[optind - 1]);
			rc = MR_EXIT_USAGE;
			break;
		}
		int r = global_option(&g, opt, optarg);
		if (r > 0) {
			rc = r - 1;
			break;
		}
		if (r == 0)
			continue;
		r = cmd->option ? cmd->option(state, opt, optarg) : MR_EXIT_USAGE;
		if (r) {
			rc = r;
			break;
		}
	}
	if (rc < 0) {
		struct mr_buf err = MR_BUF_INIT;
		/* validate touches nothing live: it runs without a root (a missing default source or
		 * secret file is then its own error) */
		if (mr_root_open(&g.rootfs, g.root, &err) < 0 && strcmp(cmd->name, "validate") != 0) {
			mr_cli_error("%s", err.ptr);
			rc = MR_EXIT_ERROR;
		} else {
			rc = cmd->run(state, &g, cargc - optind, cargv + optind);
		}
		mr_root_close(&g.rootfs);
		mr_buf_release(&err);
	}
	free(state);
	free(all);
	return rc;
}
