/*
 * mailrecon log [-n N] [--json]: the applied revisions of the state repository, newest
 * first.  mailrecon show REV: one revision: its summary, plan and changed files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apply/history.h"
#include "cli/cli.h"
#include "plan/plan.h"
#include "util/fs.h"
#include "util/strutil.h"
#include "vcs/vcs.h"

struct log_state {
	size_t n;
	bool json;
	const char *object, *actor; /* --object, --actor: NULL for any */
};

enum { OPT_JSON = 5000, OPT_OBJECT, OPT_ACTOR };

static const struct mr_opt log_options[] = {
	{ NULL, 'n', required_argument, "N", 0, "at most N revisions (default 20)" },
	{ "json", OPT_JSON, no_argument, NULL, 0, "print a JSON array of {id, time, actor, subject}" },
	{ "object", OPT_OBJECT, required_argument, "NAME", 0,
	  "only revisions that name the object NAME (a user, domain, mailbox, the last two in any case; a domain also matches its mailboxes)" },
	{ "actor", OPT_ACTOR, required_argument, "NAME", 0, "only revisions whose actor is NAME" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int log_option(void *state, int opt, const char *arg)
{
	struct log_state *s = state;
	uint64_t n;
	if (opt == OPT_JSON) {
		s->json = true;
		return 0;
	}
	if (opt == OPT_OBJECT || opt == OPT_ACTOR) {
		if (!*arg) {
			mr_cli_error("log: --%s: expected a name", opt == OPT_OBJECT ? "object" : "actor");
			return MR_EXIT_USAGE;
		}
		*(opt == OPT_OBJECT ? &s->object : &s->actor) = arg;
		return 0;
	}
	if (opt == 'n' && mr_parse_u64(arg, strlen(arg), 1000000, &n)) {
		s->n = (size_t)n;
		return 0;
	}
	if (opt == 'n')
		mr_cli_error("log: -n %s: expected a number", arg);
	return MR_EXIT_USAGE;
}

static struct mr_vcs *open_repo(const struct mr_globals *g, const char *cmd, int *code)
{
	return mr_cli_history(g, cmd, code);
}

static void iso(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *actor_of(const struct mr_vcs_entry *e, char *buf, size_t n)
{
	struct mr_buf msg = MR_BUF_INIT;
	mr_buf_addf(&msg, "%s\n\n%s", e->subject, e->body);
	bool ok = mr_vcs_trailer(msg.ptr, "Actor", buf, n);
	mr_buf_release(&msg);
	return ok ? buf : e->author;
}

/* A character of an object's name (user, domain, mailbox address) in a revision's message. */
static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
	       c == '_' || c == '@';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The first place from p where name (n bytes) is, in any ASCII letter case when nocase; NULL. */
static const char *find_name(const char *p, const char *name, size_t n, bool nocase)
{
	if (!nocase)
		return strstr(p, name);
	for (; *p; p++) {
		size_t k = 0;
		while (k < n && p[k] && lower(p[k]) == lower(name[k]))
			k++;
		if (k == n)
			return p;
	}
	return NULL;
}

/*
 * Whether text names the object name: as a whole word ("info@example.com", "alice"), or, for
 * a domain, as the domain of a mailbox ("...@example.com").  The subject is capped, so the
 * message's body (the plan it applied, the objects a drift revision found) is searched too.
 * A domain or an address (a name with '.' or '@') matches in any letter case, as DNS and
 * mailrecon's own lower-casing of them do; a user name is matched as it is (it is lower case).
 */
static bool names_object(const char *text, const char *name)
{
	size_t n = strlen(name);
	bool nocase = strchr(name, '.') || strchr(name, '@');
	for (const char *p = text; (p = find_name(p, name, n, nocase)) != NULL; p++) {
		bool start = p == text || !name_char(p[-1]) || (p[-1] == '@' && !strchr(name, '@'));
		/* a word ending with a full stop ("example.com.") still ends at the name */
		bool end = !name_char(p[n]) || (p[n] == '.' && !name_char(p[n + 1]));
		if (start && end)
			return true;
	}
	return false;
}

static int log_run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct log_state *s = state;
	if (argc > 0) {
		mr_cli_error("log: unexpected argument '%s'", argv[0]);
		return MR_EXIT_USAGE;
	}
	int code;
	struct mr_vcs *v = open_repo(g, "log", &code);
	if (!v) {
		if (code == MR_EXIT_OK)
			fputs(s->json ? "[]\n" : "No revisions yet: no apply has run on this server.\n", stdout);
		return code;
	}
	struct mr_vcs_entry *e = NULL;
	size_t n = 0;
	struct mr_buf err = MR_BUF_INIT, out = MR_BUF_INIT;
	size_t want = s->n ? s->n : 20;
	bool filtered = s->object || s->actor;
	/* a filter looks at the whole history, then keeps the newest `want` that match */
	if (mr_vcs_log(v, filtered ? (size_t)-1 : want, &e, &n, &err) < 0) {
		mr_cli_error("log: %s", err.ptr);
		code = MR_EXIT_ERROR;
	} else {
		if (s->json)
			mr_buf_adds(&out, "[");
		size_t shown = 0;
		for (size_t i = 0; i < n && shown < want; i++) {
			char when[32], actor[256];
			iso(e[i].time, when, sizeof(when));
			const char *who = actor_of(&e[i], actor, sizeof(actor));
			if (s->actor && strcmp(who, s->actor) != 0)
				continue;
			if (s->object && !names_object(e[i].subject, s->object) && !names_object(e[i].body, s->object))
				continue;
			if (s->json) {
				mr_buf_addf(&out, "%s\n  {\"id\":\"%s\",\"time\":\"%s\",\"actor\":", shown++ ? "," : "", e[i].id,
					    when);
				mr_json_string(&out, who);
				mr_buf_adds(&out, ",\"subject\":");
				mr_json_string(&out, e[i].subject);
				mr_buf_addc(&out, '}');
			} else {
				/* the actor and the subject are read from the repository: escaped */
				struct mr_buf w = MR_BUF_INIT;
				mr_buf_adds_printable(&w, who);
				shown++;
				mr_buf_addf(&out, "%.12s  %s  %-12s  ", e[i].id, when, w.ptr ? w.ptr : "");
				mr_buf_adds_printable(&out, e[i].subject);
				mr_buf_addc(&out, '\n');
				mr_buf_release(&w);
			}
		}
		if (s->json)
			mr_buf_adds(&out, shown ? "\n]\n" : "]\n");
		fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout);
	}
	mr_vcs_entries_free(e, n);
	mr_buf_release(&err);
	mr_buf_release(&out);
	mr_vcs_close(&v);
	return code;
}

const struct mr_cmd mr_cmd_log = {
	.name = "log",
	.summary = "list the applied revisions, newest first",
	.description = "The revisions of the state repository STATE_DIR/repo, newest first: id, time, actor\n"
		       "and subject. The subject names the objects a revision changed; --object and --actor\n"
		       "keep the revisions that name an object (in the subject or the plan it applied) or\n"
		       "that an actor made.\n",
	.opts = log_options,
	.exits = "0   listed (also when there is none yet)\n1   error\n",
	.example = "mailrecon log -n 5\nmailrecon log --object info@example.com --actor alice\n",
	.option = log_option,
	.run = log_run,
	.state_size = sizeof(struct log_state),
};

struct show_state {
	bool diff;
};

enum { OPT_DIFF = 5100 };

static const struct mr_opt show_options[] = {
	{ "diff", OPT_DIFF, no_argument, NULL, 0,
	  "also print the unified diff of the managed files against the parent revision (hashes masked)" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int show_option(void *state, int opt, const char *arg)
{
	(void)arg;
	struct show_state *s = state;
	if (opt == OPT_DIFF) {
		s->diff = true;
		return 0;
	}
	return MR_EXIT_USAGE;
}

/*
 * The diff of show --diff.  The state repository holds no private key (only its
 * fingerprint and public half, history.h), but dovecot.passwd holds the password hashes:
 * its second field is printed as "{SCHEME}(hash)", and in every other file a "{SCHEME}..."
 * word or a crypt(3) string ("$6$...") is masked the same way, so no hash is ever shown.
 * Everything read from the repository is escaped for the terminal.
 */
struct diff_out {
	struct mr_buf out;
	bool color;
};

/* The length of a "{SCHEME}" at s (letters, digits, '-', '.', '_'), or 0. */
static size_t scheme_len(const char *s, size_t n)
{
	if (n < 3 || s[0] != '{')
		return 0;
	size_t i = 1;
	while (i < n && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.' ||
			 s[i] == '_'))
		i++;
	return i > 1 && i < n && s[i] == '}' ? i + 1 : 0;
}

/* Whether s starts a crypt(3) hash: "$1$", "$5$", "$6$", "$2a$"/"$2b$"/"$2y$", "$y$", "$7$". */
static bool crypt_start(const char *s, size_t n)
{
	return n >= 3 && s[0] == '$' && ((s[2] == '$' && strchr("1567y", s[1])) || (n >= 4 && s[1] == '2' && s[3] == '$'));
}

static void add_masked(struct mr_buf *out, const char *path, const char *s, size_t n)
{
	static const char dp[] = "dovecot.passwd";
	size_t plen = strlen(path), dl = sizeof(dp) - 1;
	bool dovecot = plen >= dl && strcmp(path + plen - dl, dp) == 0 && (plen == dl || path[plen - dl - 1] == '/');
	struct mr_buf m = MR_BUF_INIT;
	if (dovecot && n && s[0] != '#') {
		/* user:password:uid:... -- the whole second field */
		const char *c1 = memchr(s, ':', n);
		if (c1) {
			size_t off = (size_t)(c1 - s) + 1;
			const char *c2 = memchr(c1 + 1, ':', n - off);
			size_t end = c2 ? (size_t)(c2 - s) : n;
			while (end > off && (s[end - 1] == '\n' || s[end - 1] == '\r'))
				end--;
			mr_buf_add(&m, s, off);
			size_t k = scheme_len(s + off, end - off);
			mr_buf_add(&m, s + off, k);
			if (end > off + k)
				mr_buf_adds(&m, "(hash)");
			mr_buf_add(&m, s + end, n - end);
			s = m.ptr;
			n = m.len;
			mr_buf_add_printable(out, s, n, MR_PRINTABLE_LINES);
			mr_buf_release(&m);
			return;
		}
	}
	for (size_t i = 0; i < n;) {
		bool word_start = i == 0 || s[i - 1] == ':' || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '=';
		size_t k = word_start ? scheme_len(s + i, n - i) : 0;
		if (word_start && (k || crypt_start(s + i, n - i))) {
			size_t j = i + k;
			while (j < n && s[j] != ':' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != ',')
				j++;
			mr_buf_add(&m, s + i, k);
			if (j > i + k)
				mr_buf_adds(&m, "(hash)");
			i = j;
		} else {
			mr_buf_addc(&m, s[i++]);
		}
	}
	mr_buf_add_printable(out, m.ptr ? m.ptr : "", m.len, MR_PRINTABLE_LINES);
	mr_buf_release(&m);
}

static void diff_line(void *ctx, const char *path, char origin, const char *text, size_t len)
{
	struct diff_out *d = ctx;
	struct mr_buf *out = &d->out;
	const char *col = NULL;
	switch (origin) {
	case 'F':
		col = d->color ? "\033[1m" : NULL;
		break;
	case 'H':
		col = d->color ? "\033[36m" : NULL;
		break;
	case '+':
		col = d->color ? "\033[32m" : NULL;
		break;
	case '-':
		col = d->color ? "\033[31m" : NULL;
		break;
	default:
		break;
	}
	/* one terminal line at a time: a header may hold several */
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		if (col)
			mr_buf_adds(out, col);
		if (origin == '+' || origin == '-' || origin == ' ')
			mr_buf_addc(out, origin);
		if (origin == '+' || origin == '-' || origin == ' ')
			add_masked(out, path, text + i, n);
		else
			mr_buf_add_printable(out, text + i, n, 0);
		if (col)
			mr_buf_adds(out, "\033[0m");
		mr_buf_addc(out, '\n');
		i += n + (nl ? 1 : 0);
	}
	if (len == 0 && (origin == '+' || origin == '-' || origin == ' '))
		mr_buf_addf(out, "%c\n", origin);
}

static int show_run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct show_state *s = state;
	if (argc != 1) {
		mr_cli_error("show: expected one revision (see mailrecon log)");
		return MR_EXIT_USAGE;
	}
	int code;
	struct mr_vcs *v = open_repo(g, "show", &code);
	if (!v) {
		if (code == MR_EXIT_OK) {
			mr_cli_error("show: no revisions yet");
			code = MR_EXIT_ERROR;
		}
		return code;
	}
	struct mr_vcs_entry e;
	char **paths = NULL;
	size_t np = 0;
	struct mr_buf err = MR_BUF_INIT;
	memset(&e, 0, sizeof(e));
	if (mr_vcs_show(v, argv[0], &e, &paths, &np, &err) < 0) {
		mr_cli_error("show: %s", err.ptr);
		code = MR_EXIT_ERROR;
	} else {
		char when[32], actor[256];
		struct mr_buf out = MR_BUF_INIT;
		iso(e.time, when, sizeof(when));
		/* everything but the id and the time is read from the repository: escaped */
		mr_buf_addf(&out, "revision %s\nDate:  %s\nActor: ", e.id, when);
		mr_buf_adds_printable(&out, actor_of(&e, actor, sizeof(actor)));
		mr_buf_adds(&out, "\n\n");
		mr_buf_adds_printable(&out, e.subject);
		mr_buf_adds(&out, "\n\n");
		/* a revision is what was done: a body written before revisions said so reads
		 * "mailrecon will make these changes:", shown in the past tense */
		const char *will = strstr(e.body, MR_PLAN_WILL "\n");
		while (will && will != e.body && will[-1] != '\n')
			will = strstr(will + 1, MR_PLAN_WILL "\n");
		if (will) {
			mr_buf_add_printable(&out, e.body, (size_t)(will - e.body), MR_PRINTABLE_LINES);
			mr_buf_adds(&out, MR_PLAN_MADE);
			will += strlen(MR_PLAN_WILL);
		} else {
			will = e.body;
		}
		mr_buf_add_printable(&out, will, strlen(will), MR_PRINTABLE_LINES);
		if (e.body[0] && e.body[strlen(e.body) - 1] != '\n')
			mr_buf_addc(&out, '\n');
		mr_buf_addf(&out, "\nFiles changed (%zu):\n", np);
		for (size_t i = 0; i < np; i++) {
			mr_buf_adds(&out, "  /");
			mr_buf_adds_printable(&out, paths[i]);
			mr_buf_addc(&out, '\n');
		}
		if (s->diff) {
			struct diff_out d = { MR_BUF_INIT, mr_cli_color(g) };
			mr_buf_adds(&out, "\nDiff against the parent revision (password hashes masked):\n");
			if (mr_vcs_diff(v, argv[0], diff_line, &d, &err) < 0) {
				mr_cli_error("show: %s", err.ptr);
				code = MR_EXIT_ERROR;
			}
			mr_buf_add(&out, d.out.ptr ? d.out.ptr : "", d.out.len);
			mr_buf_release(&d.out);
		}
		if (code == MR_EXIT_OK)
			fwrite(out.ptr, 1, out.len, stdout);
		mr_buf_release(&out);
	}
	mr_vcs_paths_free(paths, np);
	mr_vcs_entry_release(&e);
	mr_buf_release(&err);
	mr_vcs_close(&v);
	return code;
}

const struct mr_cmd mr_cmd_show = {
	.name = "show",
	.operands = "REV",
	.summary = "show one revision: its summary, plan and changed files",
	.description = "One revision of the state repository: its date, actor, subject, the plan it\n"
		       "applied and the files it changed; with --diff, the unified diff of those files'\n"
		       "contents against the parent revision. The repository holds no private key; the\n"
		       "password hashes of dovecot.passwd are printed as {SCHEME}(hash).\n",
	.opts = show_options,
	.exits = "0   shown\n1   error, or no such revision\n",
	.example = "mailrecon show HEAD~1\nmailrecon show --diff HEAD\n",
	.option = show_option,
	.run = show_run,
	.state_size = sizeof(struct show_state),
};
