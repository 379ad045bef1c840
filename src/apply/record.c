/*
 * record: after the switch, the revision and the audit lines (design sections 5 and 6).
 *
 * Both are made from a record staged in the same transaction as the files and homes:
 * STATE_DIR/pending-revision holds the revision's message and the audit lines (with the
 * revision id still to fill in).  So a crash anywhere after the journal leaves the record
 * with the files it describes, and the next run's capture() finishes it -- the interrupted
 * apply is committed as itself, with its audit lines, never as drift.  The audit lines are
 * written once: a run that finishes a record whose lines are already at the end of the log
 * does not write them again.
 *
 *   mailrecon-pending 2
 *   audit 2026-12-05T02:23:23Z rev={rev} actor=alice mailbox info@example.com create
 *   (a --target run: "... create targeted"; in JSON "targeted":true)
 *   message
 *   Plan: 1 to add, ... (the revision's message, to the end)
 *
 * A file without the first line (an older mailrecon's) is a message without audit lines.
 *
 * With --log-format json (mr_apply_opts.log_json) an audit line is one JSON object, for log
 * shippers, with the same fields:
 *   {"time":"2026-12-05T02:23:23Z","rev":"{rev}","actor":"alice","object":"mailbox",
 *    "id":"info@example.com","action":"create"}
 * The line is made when the record is staged, so a record finished by a later run keeps the
 * format of the run that made it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply/history.h"
#include "apply/steps.h"
#include "plan/plan.h"
#include "util/xalloc.h"

#define PENDING_HEADER "mailrecon-pending 2\n"
#define REV_MARK "{rev}"
#define AUDIT_LOG "/var/log/mailrecon.log"
#define PENDING_MAX ((size_t)256 << 20)

static const struct mr_codec pending_meta = { .name = "pending", .owner = "root", .group = { "root", "root" },
					      .mode = 0600 };

/* One staged audit line: "audit " and the line in the run's format. */
static void audit_line(struct mr_buf *b, struct actx *a, const char *object, const char *id, const char *action)
{
	if (!a->o->log_json) {
		mr_buf_addf(b, "audit %s rev=" REV_MARK " actor=%s %s %s %s%s\n", a->iso, actor(a), object, id, action,
			    a->ntargets ? " targeted" : "");
		return;
	}
	mr_buf_adds(b, "audit {\"time\":");
	mr_json_string(b, a->iso);
	mr_buf_adds(b, ",\"rev\":\"" REV_MARK "\",\"actor\":");
	mr_json_string(b, actor(a));
	mr_buf_adds(b, ",\"object\":");
	mr_json_string(b, object);
	mr_buf_adds(b, ",\"id\":");
	mr_json_string(b, id);
	mr_buf_adds(b, ",\"action\":");
	mr_json_string(b, action);
	mr_buf_adds(b, a->ntargets ? ",\"targeted\":true}\n" : "}\n");
}

int stage_record(struct stage *s, const char *message, const struct mr_plan *p, const char *extra_audit)
{
	struct actx *a = s->a;
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_adds(&b, PENDING_HEADER);
	for (size_t i = 0; p && i < p->nchanges; i++) {
		const struct mr_change *c = &p->changes[i];
		audit_line(&b, a, mr_object_name(c->object), c->id, mr_change_action_name(c->action));
	}
	if (extra_audit) { /* "OBJECT ID ACTION" */
		char *words = xstrdup(extra_audit), *save = NULL;
		const char *object = strtok_r(words, " ", &save), *id = strtok_r(NULL, " ", &save),
			   *action = strtok_r(NULL, "", &save);
		audit_line(&b, a, object ? object : "", id ? id : "", action ? action : "");
		free(words);
	}
	mr_buf_adds(&b, "message\n");
	mr_buf_adds(&b, message);
	char *path = state_path(a, "pending-revision");
	int rc = stage_bytes(s, path, b.ptr, b.len, &pending_meta, true);
	s->written--; /* mailrecon's own record is not a file of the server */
	free(path);
	mr_buf_release(&b);
	return rc;
}

/* Whether the log's last 64 KiB hold line (the record was finished before, but its file stayed). */
static bool logged(struct actx *a, const char *line)
{
	int fd = mr_root_openat(a->root, AUDIT_LOG, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return false;
	struct stat st;
	bool found = false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t from = st.st_size > 65536 ? st.st_size - 65536 : 0;
		char *buf = xmalloc(65537);
		ssize_t n = pread(fd, buf, 65536, from);
		if (n > 0) {
			buf[n] = '\0';
			found = memmem(buf, (size_t)n, line, strlen(line)) != NULL;
		}
		free(buf);
	}
	close(fd);
	return found;
}

/* Append the audit lines with the revision filled in: 0, or -1 (said). */
static int audit(struct actx *a, const char *lines)
{
	if (!*lines)
		return 0;
	struct mr_buf b = MR_BUF_INIT, err = MR_BUF_INIT;
	for (const char *p = lines; *p;) {
		const char *m = strstr(p, REV_MARK);
		if (!m) {
			mr_buf_adds(&b, p);
			break;
		}
		mr_buf_add(&b, p, (size_t)(m - p));
		mr_buf_addf(&b, "%.12s", a->rev[0] ? a->rev : "-");
		p = m + strlen(REV_MARK);
	}
	const char *nl = strchr(b.ptr, '\n');
	char *first = xstrndup(b.ptr, nl ? (size_t)(nl - b.ptr + 1) : b.len);
	int rc = 0;
	char *shown = mr_root_full(a->root, AUDIT_LOG);
	if (!logged(a, first)) {
		int fd = -1;
		if (mr_root_mkdirs(a->root, "/var/log", 0755, &err) == 0)
			fd = mr_root_openat(a->root, AUDIT_LOG, O_WRONLY | O_APPEND | O_CREAT, 0640);
		if (fd < 0 || write(fd, b.ptr, b.len) != (ssize_t)b.len || fsync(fd) < 0) {
			fprintf(stderr, "mailrecon: cannot write the audit log '%s': %s\n", shown,
				err.len ? err.ptr : strerror(fd < 0 ? -fd : errno));
			rc = -1;
		}
		if (fd >= 0)
			close(fd);
	}
	free(shown);
	free(first);
	mr_buf_release(&b);
	mr_buf_release(&err);
	return rc;
}

int finish_record(struct actx *a, bool from_crash)
{
	char *path = state_path(a, "pending-revision");
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	/* mailrecon's own file (root's, 0600, in root's state directory): an audit line per change
	 * and a message of at most about 1 MiB -- some 70 MB for a first apply of 1,000,000
	 * mailboxes */
	int r = mr_root_read(a->root, path, PENDING_MAX, &data, &st, &err);
	int rc = 0;
	if (r == -ENOENT)
		goto out;
	if (r < 0) {
		fprintf(stderr, "mailrecon: %s\n", err.ptr);
		rc = -1;
		goto out;
	}
	const char *msg = data.ptr ? data.ptr : "";
	struct mr_buf lines = MR_BUF_INIT;
	if (strncmp(msg, PENDING_HEADER, strlen(PENDING_HEADER)) == 0) {
		const char *p = msg + strlen(PENDING_HEADER);
		while (strncmp(p, "audit ", 6) == 0) {
			const char *nl = strchr(p, '\n');
			if (!nl)
				break;
			mr_buf_add(&lines, p + 6, (size_t)(nl + 1 - (p + 6)));
			p = nl + 1;
		}
		if (strncmp(p, "message\n", 8) == 0)
			p += 8;
		msg = p;
	}
	bool committed = false;
	if (commit_snapshot(a, msg, &committed) < 0) {
		fprintf(stderr, "mailrecon: apply: the files are applied but their revision is not recorded; the next run "
				"records it\n");
		rc = -1;
	} else {
		if (from_crash && committed)
			fprintf(stderr, "mailrecon: recorded the revision a previous apply could not commit (%.12s)\n", a->rev);
		else if (from_crash && lines.len)
			fprintf(stderr, "mailrecon: writing the audit lines of revision %.12s, which a previous apply could not "
					"write\n",
				a->rev);
		else if (committed)
			say(a, "recorded revision %.12s\n", a->rev);
		if (audit(a, lines.ptr ? lines.ptr : "") < 0) {
			fprintf(stderr, "mailrecon: the audit lines are kept in '%s' for the next run\n", path);
			rc = -1;
		} else if ((r = mr_root_unlink(a->root, path)) < 0 && r != -ENOENT) {
			fprintf(stderr, "mailrecon: cannot remove '%s': %s\n", path, strerror(-r));
			rc = -1;
		}
	}
	if (from_crash)
		a->rev[0] = '\0';
	mr_buf_release(&lines);
out:
	mr_buf_release(&data);
	mr_buf_release(&err);
	free(path);
	return rc;
}
