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
	  "only revisions that name the object NAME (a user, domain, mailbox; a domain also matches its mailboxes)" },
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

/*
 * Whether text names the object name: as a whole word ("info@example.com", "alice"), or, for
 * a domain, as the domain of a mailbox ("...@example.com").  The subject is capped, so the
 * message's body (the plan it applied, the objects a drift revision found) is searched too.
 */
static bool names_object(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; (p = strstr(p, name)) != NULL; p++) {
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

static int show_run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	(void)state;
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
		       "applied and the files it changed.\n",
	.exits = "0   shown\n1   error, or no such revision\n",
	.example = "mailrecon show HEAD~1\n",
	.run = show_run,
	.state_size = 1,
};
