/*
 * cli: the command table and what every command shares.
 *
 * Each command is one file cmd_<name>.c exporting one struct mr_cmd, whose option table
 * (struct mr_opt) is both what the parser accepts and what the help prints.  main() parses
 * the global options (accepted before or after the command name), then calls the command's
 * run() with the remaining arguments; run() returns the process exit code.
 */
#ifndef MR_CLI_CLI_H
#define MR_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit codes of design section 1. */
enum {
	MR_EXIT_OK = 0,
	MR_EXIT_ERROR = 1,
	MR_EXIT_CHANGES = 2,
	MR_EXIT_REFUSED = 3,
	MR_EXIT_LOCKED = 4,
	MR_EXIT_USAGE = 64,
};

enum mr_color { MR_COLOR_AUTO, MR_COLOR_ALWAYS, MR_COLOR_NEVER };
#include "codec/codec.h" /* enum mr_layout */
#include "load/desired.h" /* struct mr_load_opts */

struct mr_globals {
	const char *root;             /* as given */
	struct mr_root *rootfs;       /* opened once: every path below the root goes through it */
	const char *state_dir;
	enum mr_layout layout;
	double lock_timeout;
	enum mr_color color;
	int verbosity; /* -1 quiet, 0 normal, 1+ verbose */
	const char *host; /* --host: the fleet's host this run reconciles (default: the short host name) */
};

/*
 * One option of a command, or a global one.  The parser's getopt tables and every help text
 * (mailrecon help, CMD --help, -h) are made from these tables: there is no other list of
 * the options.  A table ends with an entry whose name and key are both 0.
 */
enum {
	MR_OPT_REPEAT = 1, /* may be given more than once ("[-f PATH]...") */
	MR_OPT_NEXT_NUMBER = 2, /* an optional value may also be the next word when it is a number */
};
struct mr_opt {
	const char *name; /* the long name without "--", or NULL for a short-only option */
	int key;          /* a letter: also the short option -KEY; else an id >= 256 */
	int has_arg;      /* no_argument, required_argument or optional_argument */
	const char *arg;  /* the value's name in the help ("PATH"), or NULL */
	unsigned flags;   /* MR_OPT_* */
	const char *help; /* one line */
};

struct mr_cmd {
	const char *name;
	const char *operands; /* what follows the options in the usage line ("REV"), or NULL */
	const char *summary;  /* one line, in the command list */
	const char *description; /* a few lines of help, each ending with \n */
	const struct mr_opt *opts; /* the command's own options, or NULL */
	const char *exits;   /* the exit codes, one "N  meaning\n" a line */
	const char *example; /* one or more example lines, each ending with \n */
	/* Called for each of the command's own options (key as in the table); returns 0, or an
	 * exit code to stop. */
	int (*option)(void *state, int opt, const char *arg);
	int (*run)(void *state, const struct mr_globals *g, int argc, char **argv);
	size_t state_size;
	bool no_root; /* runs without opening --root (validate, help, passwd) */
	/* the state starts with a struct mr_cli_sources (-f): main releases it when an option
	 * is refused before run (run releases it otherwise) */
	bool sources;
	/* ... and this many more right after it (plan: --target and --base; apply: --target),
	 * released alike */
	unsigned char more_sources;
};

/* The command table (main.c), NULL-terminated, and the global options. */
extern const struct mr_cmd *const mr_cli_commands[];
extern const struct mr_opt mr_cli_global_opts[];
const struct mr_cmd *mr_cli_command(const char *name);

/* help.c: the usage of the whole program (the commands and the global options) and of one
 * command, made from the tables. */
void mr_cli_usage(FILE *f);
void mr_cli_command_help(const struct mr_cmd *c, FILE *f);

/* Whether to colour standard output: --color always, or auto on a terminal without a
 * non-empty NO_COLOR in the environment. */
bool mr_cli_color(const struct mr_globals *g);

extern const struct mr_cmd mr_cmd_validate;
extern const struct mr_cmd mr_cmd_import;
extern const struct mr_cmd mr_cmd_plan;
extern const struct mr_cmd mr_cmd_apply;
extern const struct mr_cmd mr_cmd_dns;
extern const struct mr_cmd mr_cmd_log;
extern const struct mr_cmd mr_cmd_show;
extern const struct mr_cmd mr_cmd_drift;
extern const struct mr_cmd mr_cmd_rollback;
extern const struct mr_cmd mr_cmd_route;
extern const struct mr_cmd mr_cmd_usage;
extern const struct mr_cmd mr_cmd_passwd;
extern const struct mr_cmd mr_cmd_help;

/* The -f sources of a command, in the order given. */
struct mr_cli_sources {
	const char **v;
	size_t n, cap;
};
void mr_cli_source_add(struct mr_cli_sources *s, const char *path);
void mr_cli_sources_release(struct mr_cli_sources *s);
/*
 * --target OBJECT (plan, apply): a mailbox address, a mail domain or a user name, in any
 * letter case; whether it is one is checked here (a usage error, said, returns nonzero),
 * whether the state knows it by the plan (plan/target.c).
 */
#define MR_CLI_TARGET_HELP                                                                                    \
	"only this mailbox address, mail domain (with its mailboxes) or user, and what it needs; "            \
	"repeatable; the rest is left as it is live"
int mr_cli_check_target(const char *cmd, const char *arg);

/* Load options for the desired state of every command: the root, the -f sources (none:
 * ROOT/etc/mailrecon/desired), git: sources read with libgit2, and --host (the part of a
 * fleet this run reconciles; validate sets it to NULL: the whole fleet). */
struct mr_load_opts mr_cli_load_opts(const struct mr_globals *g, const struct mr_cli_sources *s);

/*
 * The state repository (STATE_DIR/repo) for reading: NULL with *code 0 when there is none
 * yet, NULL with *code 1 (said) when it cannot be used -- it is reached through a link, or
 * is not a repository.
 */
struct mr_vcs;
struct mr_vcs *mr_cli_history(const struct mr_globals *g, const char *cmd, int *code);

/* Print "mailrecon: " + message + newline to stderr (for usage and fatal errors), the
 * message escaped for a terminal (mr_buf_add_printable): it may quote a file's data. */
void mr_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
