/*
 * help: the usage of the program and of each command, made from the command table and the
 * option tables the parser uses (cli.h struct mr_opt), so that what the help lists is what
 * the parser accepts.  Also the `help [COMMAND]` command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/buf.h"

#define WIDTH 79 /* the width of the help text */
#define COL 26   /* where an option's help starts */

static bool has_short(const struct mr_opt *o)
{
	return o->key > 0 && o->key < 256;
}

/* "-f, --file PATH", "--allow-delete[=N]", "-n N" */
static void opt_left(const struct mr_opt *o, struct mr_buf *b)
{
	if (has_short(o))
		mr_buf_addf(b, "-%c", o->key);
	if (has_short(o) && o->name)
		mr_buf_adds(b, ", ");
	if (o->name)
		mr_buf_addf(b, "--%s", o->name);
	if (o->has_arg == required_argument)
		mr_buf_addf(b, " %s", o->arg ? o->arg : "VALUE");
	else if (o->has_arg == optional_argument)
		mr_buf_addf(b, "[=%s]", o->arg ? o->arg : "VALUE");
}

/* "[-f PATH]...", "[--json]", "[--allow-delete[=N]]" */
static void opt_synopsis(const struct mr_opt *o, struct mr_buf *b)
{
	mr_buf_addc(b, '[');
	if (has_short(o)) /* the short form is the one people type: -f PATH */
		mr_buf_addf(b, "-%c", o->key);
	else
		mr_buf_addf(b, "--%s", o->name);
	if (o->has_arg == required_argument)
		mr_buf_addf(b, " %s", o->arg ? o->arg : "VALUE");
	else if (o->has_arg == optional_argument)
		mr_buf_addf(b, "[=%s]", o->arg ? o->arg : "VALUE");
	mr_buf_addc(b, ']');
	if (o->flags & MR_OPT_REPEAT)
		mr_buf_adds(b, "...");
}

/* Words of text into b, lines of at most WIDTH columns, the first starting at column col
 * (already written), the others indented by indent. */
static void wrap(struct mr_buf *b, size_t col, size_t indent, const char *text)
{
	const char *p = text;
	bool first = true;
	while (*p) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (!n)
			break;
		if (!first && col + 1 + n > WIDTH) {
			mr_buf_addf(b, "\n%*s", (int)indent, "");
			col = indent;
		} else if (!first) {
			mr_buf_addc(b, ' ');
			col++;
		}
		mr_buf_add(b, p, n);
		col += n;
		p += n;
		first = false;
	}
	mr_buf_addc(b, '\n');
}

static void opt_lines(const struct mr_opt *opts, struct mr_buf *b)
{
	for (const struct mr_opt *o = opts; o && (o->name || o->key); o++) {
		struct mr_buf left = MR_BUF_INIT;
		opt_left(o, &left);
		mr_buf_addf(b, "  %s", left.ptr);
		size_t col = 2 + left.len;
		if (col + 2 > COL) {
			mr_buf_addf(b, "\n%*s", COL, "");
		} else {
			mr_buf_addf(b, "%*s", (int)(COL - col), "");
		}
		wrap(b, COL, COL, o->help);
		mr_buf_release(&left);
	}
}

static void emit(struct mr_buf *b, FILE *f)
{
	fwrite(b->ptr ? b->ptr : "", 1, b->len, f);
	mr_buf_release(b);
}

void mr_cli_usage(FILE *f)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_adds(&b, "usage: mailrecon [global options] COMMAND [options]\n"
			"       mailrecon help [COMMAND]   (or COMMAND --help, COMMAND -h)\n\ncommands:\n");
	for (const struct mr_cmd *const *c = mr_cli_commands; *c; c++) {
		mr_buf_addf(&b, "  %-10s", (*c)->name);
		wrap(&b, 12, 12, (*c)->summary);
	}
	mr_buf_adds(&b, "\nglobal options (before or after the command):\n");
	opt_lines(mr_cli_global_opts, &b);
	mr_buf_adds(&b, "\nexit codes:\n"
			"  0   success, nothing to change\n"
			"  1   error: bad input, I/O, a failed check\n"
			"  2   changes pending (plan --detailed-exitcode, drift)\n"
			"  3   refused by a safety rule (deletions over the cap, a stale plan, --scope),\n"
			"      or a prompt not answered yes\n"
			"  4   the lock was not taken in time (--lock-timeout)\n"
			"  64  usage\n"
			"\nexample:\n"
			"  mailrecon validate -f examples/hosting\n"
			"  mailrecon plan --detailed-exitcode --out change.plan\n"
			"\nmailrecon help COMMAND shows a command's options; see also mailrecon(1).\n");
	emit(&b, f);
}

void mr_cli_command_help(const struct mr_cmd *c, FILE *f)
{
	struct mr_buf b = MR_BUF_INIT, syn = MR_BUF_INIT;
	mr_buf_addf(&syn, "mailrecon %s", c->name);
	if (c->operands)
		mr_buf_addf(&syn, " %s", c->operands);
	for (const struct mr_opt *o = c->opts; o && (o->name || o->key); o++) {
		mr_buf_addc(&syn, ' ');
		opt_synopsis(o, &syn);
	}
	/* the usage line wrapped at an option, never inside one */
	mr_buf_adds(&b, "usage:");
	size_t col = 6;
	for (const char *p = syn.ptr; *p;) {
		size_t n = strcspn(p, " ");
		/* keep "[--out PLANFILE]" in one piece: up to the closing bracket */
		if (*p == '[') {
			int depth = 0;
			n = 0;
			do {
				depth += p[n] == '[';
				depth -= p[n] == ']';
				n++;
			} while (p[n] && depth > 0);
			n += strspn(p + n, ".");
		}
		if (col + 1 + n > WIDTH && col > 6) {
			mr_buf_adds(&b, "\n        ");
			col = 8;
		} else {
			mr_buf_addc(&b, ' ');
			col++;
		}
		mr_buf_add(&b, p, n);
		col += n;
		p += n;
		p += strspn(p, " ");
	}
	mr_buf_adds(&b, "\n\n");
	if (c->description)
		mr_buf_adds(&b, c->description);
	if (c->opts && (c->opts->name || c->opts->key)) {
		mr_buf_adds(&b, "\noptions:\n");
		opt_lines(c->opts, &b);
	}
	mr_buf_adds(&b, "\nglobal options (before or after the command):\n");
	opt_lines(mr_cli_global_opts, &b);
	mr_buf_adds(&b, "\nexit codes:\n");
	for (const char *p = c->exits; p && *p;) {
		size_t n = strcspn(p, "\n");
		mr_buf_addf(&b, "  %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
	mr_buf_adds(&b, "  64  usage\n");
	if (c->example) {
		mr_buf_adds(&b, "\nexample:\n");
		for (const char *p = c->example; *p;) {
			size_t n = strcspn(p, "\n");
			mr_buf_addf(&b, "  %.*s\n", (int)n, p);
			p += n + (p[n] == '\n');
		}
	}
	mr_buf_adds(&b, "\nSee mailrecon(1).\n");
	mr_buf_release(&syn);
	emit(&b, f);
}

/* ---- mailrecon help [COMMAND] ---- */

static int help_run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	(void)state;
	(void)g;
	if (argc == 0) {
		mr_cli_usage(stdout);
		return MR_EXIT_OK;
	}
	if (argc > 1) {
		mr_cli_error("help: expected one command, not %d words", argc);
		return MR_EXIT_USAGE;
	}
	const struct mr_cmd *c = mr_cli_command(argv[0]);
	if (!c) {
		mr_cli_error("help: unknown command '%s' (see mailrecon help)", argv[0]);
		return MR_EXIT_USAGE;
	}
	mr_cli_command_help(c, stdout);
	return MR_EXIT_OK;
}

const struct mr_cmd mr_cmd_help = {
	.name = "help",
	.operands = "[COMMAND]",
	.summary = "this list, or a command's usage, options, exit codes and an example",
	.description = "Print the commands and the global options, or with COMMAND that command's usage,\n"
		       "options, exit codes and an example (also COMMAND --help and COMMAND -h).\n",
	.exits = "0   the help was printed\n",
	.example = "mailrecon help apply\n",
	.run = help_run,
	.no_root = true,
};
