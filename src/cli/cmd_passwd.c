/*
 * mailrecon passwd [--scheme SCHEME] [--stdin]: a new salted hash of a password, printed as
 * "{SCHEME}hash", the form of {hash: ...} in the desired state and of dovecot.passwd.
 *
 * The password is read from the terminal twice without echo, or once (one line) from
 * standard input with --stdin.  It is never printed; every copy is wiped before release.
 * Touches nothing below --root.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h> /* TCSANOW, not TCSAFLUSH: what was typed ahead is kept */
#include <unistd.h>

#include "cli/cli.h"
#include "crypto/password.h"
#include "crypto/pwhash.h"

/* bytes of a password, the newline excluded: libxcrypt hashes a phrase shorter than
 * CRYPT_MAX_PASSPHRASE_SIZE (512) only */
#define PW_MAX 511

struct passwd_state {
	const char *scheme;
	bool from_stdin;
};

enum { OPT_SCHEME = 8000, OPT_STDIN };

static const char *const schemes[] = { "SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "CRAM-MD5", NULL };

static const struct mr_opt options[] = {
	{ "scheme", OPT_SCHEME, required_argument, "SCHEME", 0,
	  "SHA512-CRYPT (default), SHA256-CRYPT, BLF-CRYPT or CRAM-MD5 (for panel compatibility)" },
	{ "stdin", OPT_STDIN, no_argument, NULL, 0, "read the password once, one line, from standard input" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int option(void *state, int opt, const char *arg)
{
	struct passwd_state *s = state;
	if (opt == OPT_STDIN) {
		s->from_stdin = true;
		return 0;
	}
	if (opt != OPT_SCHEME)
		return MR_EXIT_USAGE;
	for (const char *const *k = schemes; *k; k++)
		if (strcasecmp(*k, arg) == 0) {
			s->scheme = *k;
			return 0;
		}
	mr_cli_error("passwd: --scheme must be SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT or CRAM-MD5, not '%s'", arg);
	return MR_EXIT_USAGE;
}

/* The terminal's settings while echo is off, to put back on a signal. */
static struct termios saved_tio;
static volatile sig_atomic_t echo_off;

static void restore_and_die(int sig)
{
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * One line from fd into buf (at most PW_MAX bytes, the newline and a CR before it dropped).
 * Returns its length, -1 at end of input before a newline with nothing read, -2 when too
 * long or holding a NUL byte, -3 on a read error.  Read a byte at a time: nothing after the
 * line is consumed.
 */
static long read_line(int fd, char *buf, bool *more)
{
	size_t n = 0;
	bool nul = false, got = false;
	*more = false;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -3;
		if (r == 0)
			break;
		got = true;
		if (c == '\n') {
			*more = true;
			break;
		}
		if (c == '\0')
			nul = true;
		if (n >= PW_MAX) {
			explicit_bzero(buf, PW_MAX + 1);
			return -2;
		}
		buf[n++] = c;
	}
	if (!got)
		return -1;
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (nul) {
		explicit_bzero(buf, PW_MAX + 1);
		return -2;
	}
	return (long)n;
}

/* The password typed at the terminal, with echo off; prompt on standard error. */
static long read_tty(const char *prompt, char *buf)
{
	struct termios t;
	bool more;
	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -3;
	t = saved_tio;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	fputs(prompt, stderr);
	fflush(stderr);
	echo_off = 1;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0) {
		echo_off = 0;
		return -3;
	}
	long n = read_line(STDIN_FILENO, buf, &more);
	tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	echo_off = 0;
	fputc('\n', stderr);
	return n;
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct passwd_state *s = state;
	(void)g;
	if (argc > 0) {
		mr_cli_error("passwd: unexpected argument '%s' (the password is read, never an argument)", argv[0]);
		return MR_EXIT_USAGE;
	}
	const char *scheme = s->scheme ? s->scheme : "SHA512-CRYPT";
	char pw[PW_MAX + 1], again[PW_MAX + 1];
	long n;
	int code = MR_EXIT_OK;
	if (s->from_stdin) {
		bool more;
		n = read_line(STDIN_FILENO, pw, &more);
		if (n >= 0 && more) { /* one line: nothing may follow it */
			char c;
			ssize_t r;
			while ((r = read(STDIN_FILENO, &c, 1)) < 0 && errno == EINTR)
				;
			if (r > 0) {
				mr_cli_error("passwd: --stdin reads one line; more followed it");
				code = MR_EXIT_ERROR;
			}
		}
	} else if (!isatty(STDIN_FILENO)) {
		mr_cli_error("passwd: standard input is not a terminal: use --stdin to read the password from it");
		return MR_EXIT_USAGE;
	} else {
		signal(SIGINT, restore_and_die);
		signal(SIGTERM, restore_and_die);
		signal(SIGHUP, restore_and_die);
		n = read_tty("Password: ", pw);
		if (n > 0) {
			long m = read_tty("Retype password: ", again);
			if (m != n || memcmp(pw, again, (size_t)n) != 0) {
				mr_cli_error("passwd: the passwords do not match; nothing was printed");
				code = MR_EXIT_ERROR;
			}
			explicit_bzero(again, sizeof(again));
		}
	}
	if (code == MR_EXIT_OK) {
		if (n == -2) {
			mr_cli_error("passwd: the password is longer than %d bytes or holds a NUL byte", PW_MAX);
			code = MR_EXIT_ERROR;
		} else if (n == -3) {
			mr_cli_error("passwd: cannot read the password: %s", strerror(errno));
			code = MR_EXIT_ERROR;
		} else if (n <= 0) {
			mr_cli_error("passwd: the password is empty; nothing was printed");
			code = MR_EXIT_ERROR;
		}
	}
	if (code == MR_EXIT_OK) {
		char *hash = NULL;
		if (mr_password_hash(scheme, pw, (size_t)n, &hash) < 0 || mr_pwhash_check(hash) != NULL) {
			mr_cli_error("passwd: cannot make a %s hash", scheme);
			code = MR_EXIT_ERROR;
		} else {
			printf("%s\n", hash);
			if (fflush(stdout) != 0)
				code = MR_EXIT_ERROR;
		}
		if (hash) {
			explicit_bzero(hash, strlen(hash));
			free(hash);
		}
	}
	explicit_bzero(pw, sizeof(pw));
	return code;
}

const struct mr_cmd mr_cmd_passwd = {
	.name = "passwd",
	.summary = "print the {SCHEME}hash of a password read without echo",
	.description = "Read a password twice from the terminal without echo (or once, one line, from\n"
		       "standard input with --stdin) and print a new salted hash as {SCHEME}hash, the form\n"
		       "of password: {hash: ...} in the desired state; doveadm pw -t accepts it. The\n"
		       "password is never printed.\n",
	.opts = options,
	.exits = "0   the hash was printed\n"
		 "1   the passwords differ, the password is empty, too long or has a NUL byte\n",
	.example = "mailrecon passwd\nprintf '%s\\n' \"$PW\" | mailrecon passwd --stdin --scheme CRAM-MD5\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct passwd_state),
	.no_root = true,
};
