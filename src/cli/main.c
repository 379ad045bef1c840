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
#include <unistd.h>

#include "cli/cli.h"
#include "model/names.h"
#include "util/rootfs.h"
#include "util/xalloc.h"
#include "vcs/vcs.h"

#ifndef MAILRECON_VERSION
#define MAILRECON_VERSION "0.0.0"
#endif

const struct mr_cmd *const mr_cli_commands[] = {
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
	&mr_cmd_usage,
	&mr_cmd_passwd,
	&mr_cmd_help,
	NULL,
};

enum {
	OPT_ROOT = 1000,
	OPT_LAYOUT,
	OPT_STATE_DIR,
	OPT_LOCK_TIMEOUT,
	OPT_COLOR,
	OPT_HOST,
	OPT_VERSION,
};

const struct mr_opt mr_cli_global_opts[] = {
	{ "root", OPT_ROOT, required_argument, "DIR", 0, "take every live path below DIR (default /)" },
	{ "layout", OPT_LAYOUT, required_argument, "debian|rhel|auto", 0,
	  "the file layout (default auto: /etc/exim4 means debian, /etc/exim rhel)" },
	{ "state-dir", OPT_STATE_DIR, required_argument, "DIR", 0,
	  "the state directory, below --root (default /var/lib/mailrecon)" },
	{ "lock-timeout", OPT_LOCK_TIMEOUT, required_argument, "SECONDS", 0,
	  "how long to wait for the lock, 0 to 86400 (default 60), then exit 4" },
	{ "color", OPT_COLOR, required_argument, "auto|always|never", 0,
	  "colour the output (default auto: on a terminal, unless NO_COLOR is set)" },
	{ "host", OPT_HOST, required_argument, "NAME", 0,
	  "the fleet's host this run reconciles (server.hosts; default: the short host name)" },
	{ "quiet", 'q', no_argument, NULL, 0, "print only errors and the summary line" },
	{ "verbose", 'v', no_argument, NULL, 0, "print more" },
	{ "help", 'h', no_argument, NULL, 0, "print this help (after a command: the command's help)" },
	{ "version", OPT_VERSION, no_argument, NULL, 0, "print the version" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

const struct mr_cmd *mr_cli_command(const char *name)
{
	for (const struct mr_cmd *const *c = mr_cli_commands; *c; c++)
		if (!strcmp((*c)->name, name))
			return *c;
	return NULL;
}

bool mr_cli_color(const struct mr_globals *g)
{
	if (g->color != MR_COLOR_AUTO)
		return g->color == MR_COLOR_ALWAYS;
	const char *no = getenv("NO_COLOR"); /* no-color.org: set and not empty */
	return !(no && *no) && isatty(STDOUT_FILENO);
}

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

int mr_cli_check_target(const char *cmd, const char *arg)
{
	char *low = xstrdup(arg);
	mr_ascii_lower(low);
	const char *why = strchr(low, '@') ? mr_check_address(low)
			: strchr(low, '.') ? mr_check_domain(low)
					   : mr_check_user_name(low);
	free(low);
	if (why)
		mr_cli_error("%s: --target '%s' is not a mailbox address, a mail domain or a user name: %s", cmd, arg, why);
	return why != NULL;
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
				      .read_git = mr_vcs_source, .host = g->host };
}

/* Handle a global option (cmd: the command it follows, or NULL); returns -1 when it was not
 * one, else 0 or an exit code + 1. */
static int global_option(struct mr_globals *g, const struct mr_cmd *cmd, int opt, const char *arg)
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
	case OPT_HOST: {
		const char *why = mr_check_hostname(arg);
		if (why) {
			mr_cli_error("--host '%s' %s (a host name of server.hosts, such as mx1)", arg, why);
			return MR_EXIT_USAGE + 1;
		}
		g->host = arg;
		return 0;
	}
	case 'q':
		g->verbosity = -1;
		return 0;
	case 'v':
		if (g->verbosity >= 0)
			g->verbosity++;
		return 0;
	case 'h':
		if (cmd)
			mr_cli_command_help(cmd, stdout);
		else
			mr_cli_usage(stdout);
		return MR_EXIT_OK + 1;
	case OPT_VERSION:
		printf("mailrecon %s\n", MAILRECON_VERSION);
		return MR_EXIT_OK + 1;
	default:
		return -1;
	}
}

/* The getopt tables of an option table: long options appended to *lo (n of them so far),
 * short ones to the string of the caller's buffer. */
static void getopt_tables(const struct mr_opt *opts, struct option **lo, size_t *n, char *shortopts, size_t size)
{
	for (const struct mr_opt *o = opts; o && (o->name || o->key); o++) {
		if (o->name) {
			*lo = xrealloc(*lo, (*n + 2) * sizeof(**lo));
			(*lo)[(*n)++] = (struct option){ o->name, o->has_arg, NULL, o->key };
			memset(&(*lo)[*n], 0, sizeof(**lo));
		}
		if (o->key > 0 && o->key < 256) {
			size_t len = strlen(shortopts);
			const char *suffix = o->has_arg == required_argument ? ":" : o->has_arg == optional_argument ? "::" : "";
			if (len + 1 + strlen(suffix) < size)
				snprintf(shortopts + len, size - len, "%c%s", o->key, suffix);
		}
	}
}

static const struct mr_opt *find_opt(const struct mr_opt *opts, int key)
{
	for (const struct mr_opt *o = opts; o && (o->name || o->key); o++)
		if (o->key == key)
			return o;
	return NULL;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * The default of --host: the host name up to its first dot, in lower case (hostname -s), or
 * "localhost" when there is none.  Static storage.
 */
static const char *default_host(void)
{
	static char host[256];
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, ".")] = '\0';
	mr_ascii_lower(host);
	return host;
}

int main(int argc, char **argv)
{
	struct mr_globals g = { .root = "/", .state_dir = "/var/lib/mailrecon", .lock_timeout = 60 };
	int rc;
	struct option *lo = NULL;
	size_t nlo = 0;
	char shortopts[64] = "+";

	mr_alloc_init();

	/* global options before the command */
	getopt_tables(mr_cli_global_opts, &lo, &nlo, shortopts, sizeof(shortopts));
	opterr = 0;
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		if (opt == '?' || opt == ':') {
			mr_cli_error("unknown or incomplete option '%s' (see mailrecon help)", argv[optind - 1]);
			free(lo);
			return MR_EXIT_USAGE;
		}
		if ((rc = global_option(&g, NULL, opt, optarg)) > 0) {
			free(lo);
			return rc - 1;
		}
	}
	free(lo);
	lo = NULL;
	nlo = 0;
	if (optind >= argc) {
		mr_cli_usage(stderr);
		return MR_EXIT_USAGE;
	}
	const char *name = argv[optind];
	const struct mr_cmd *cmd = mr_cli_command(name);
	if (!cmd) {
		mr_cli_error("unknown command '%s' (see mailrecon help)", name);
		return MR_EXIT_USAGE;
	}

	/* the command's options, with the global ones accepted there too */
	snprintf(shortopts, sizeof(shortopts), ":");
	getopt_tables(cmd->opts, &lo, &nlo, shortopts, sizeof(shortopts));
	getopt_tables(mr_cli_global_opts, &lo, &nlo, shortopts, sizeof(shortopts));

	void *state = xcalloc(1, cmd->state_size ? cmd->state_size : 1);
	int cargc = argc - optind;
	char **cargv = argv + optind;
	optind = 0; /* 0, not 1: glibc's getopt starts afresh, so options may follow operands */
	rc = -1;
	while ((opt = getopt_long(cargc, cargv, shortopts, lo, NULL)) != -1) {
		if (opt == '?') {
			mr_cli_error("%s: unknown option '%s' (see mailrecon %s --help)", cmd->name, cargv[optind - 1],
				     cmd->name);
			rc = MR_EXIT_USAGE;
			break;
		}
		if (opt == ':') {
			mr_cli_error("%s: option '%s' needs a value", cmd->name, cargv[optind - 1]);
			rc = MR_EXIT_USAGE;
			break;
		}
		int r = global_option(&g, cmd, opt, optarg);
		if (r > 0) {
			rc = r - 1;
			break;
		}
		if (r == 0)
			continue;
		/* "--allow-delete 2": an optional value given as the next word, when it is a number
		 * (getopt takes an optional value only after '='); glibc's permutation keeps the
		 * word with its option, as for a required value */
		const struct mr_opt *o = find_opt(cmd->opts, opt);
		const char *arg = optarg;
		if (o && o->has_arg == optional_argument && !arg && (o->flags & MR_OPT_NEXT_NUMBER) && optind < cargc &&
		    all_digits(cargv[optind]))
			arg = cargv[optind++];
		r = cmd->option ? cmd->option(state, opt, arg) : MR_EXIT_USAGE;
		if (r) {
			rc = r;
			break;
		}
	}
	if (!g.host)
		g.host = default_host();
	bool ran = false;
	if (rc < 0) {
		struct mr_buf err = MR_BUF_INIT;
		/* validate touches nothing live: it runs without a root (a missing default source or
		 * secret file is then its own error); help and passwd need none */
		if (cmd->no_root) {
			if (mr_root_open(&g.rootfs, g.root, &err) < 0)
				g.rootfs = NULL;
			rc = cmd->run(state, &g, cargc - optind, cargv + optind);
			ran = true;
		} else if (mr_root_open(&g.rootfs, g.root, &err) < 0) {
			mr_cli_error("%s", err.ptr);
			rc = MR_EXIT_ERROR;
		} else {
			rc = cmd->run(state, &g, cargc - optind, cargv + optind);
			ran = true;
		}
		mr_root_close(&g.rootfs);
		mr_buf_release(&err);
	}
	if (!ran && cmd->sources)
		mr_cli_sources_release((struct mr_cli_sources *)state); /* run releases them itself */
	for (unsigned i = 1; !ran && cmd->sources && i <= cmd->more_sources; i++)
		mr_cli_sources_release((struct mr_cli_sources *)state + i);
	free(state);
	free(lo);
	return rc;
}
