/*
 * metrics: the --metrics-file of apply and drift (metrics.h).
 *
 *   # HELP mailrecon_last_run_success ...
 *   # TYPE mailrecon_last_run_success gauge
 *   mailrecon_last_run_success{command="apply",host="mx1"} 1
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/metrics.h"
#include "plan/plan.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/strutil.h"

#define METRICS_MAX ((size_t)1 << 20) /* the file being replaced, read for its counters */

/* A label value, escaped as the text format wants: \\, \" and \n. */
static void label_value(struct mr_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			mr_buf_addc(b, '\\');
		if (*v == '\n') {
			mr_buf_adds(b, "\\n");
			continue;
		}
		mr_buf_addc(b, *v);
	}
}

static void labels(struct mr_buf *b, const struct mr_metrics *m, const char *host)
{
	mr_buf_adds(b, "{command=\"");
	label_value(b, m->command);
	mr_buf_adds(b, "\",host=\"");
	label_value(b, host);
	mr_buf_addc(b, '"');
}

static void family(struct mr_buf *b, const char *name, const char *type, const char *help)
{
	mr_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(struct mr_buf *b, const struct mr_metrics *m, const char *host, const char *name,
		  const char *help, long long value)
{
	family(b, name, "gauge", help);
	mr_buf_adds(b, name);
	labels(b, m, host);
	mr_buf_addf(b, "} %lld\n", value);
}

/* The value of the sample line "series VALUE" in prev, or 0. */
static unsigned long long previous(const char *prev, const char *series)
{
	size_t n = strlen(series);
	for (const char *l = prev; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		uint64_t v;
		if (len > n + 1 && memcmp(l, series, n) == 0 && l[n] == ' ' &&
		    mr_parse_u64(l + n + 1, len - n - 1, UINT64_MAX / 2, &v))
			return v;
		l = e ? e + 1 : l + len;
	}
	return 0;
}

/* m for host as the file's text, appended to out; prev is the file being replaced (NULL:
 * none), whose counters are carried over. */
static void render(const struct mr_metrics *m, const char *host, long long now, const char *prev, struct mr_buf *out)
{
	gauge(out, m, host, "mailrecon_last_run_timestamp_seconds", "When the last run of the command ended (Unix time).",
	      now);
	gauge(out, m, host, "mailrecon_last_run_success",
	      "1 when the last run succeeded (apply: exit 0; drift: exit 0 or 2), else 0.", m->success ? 1 : 0);
	gauge(out, m, host, "mailrecon_last_run_exit_code", "The exit status of the last run (mailrecon(1), EXIT STATUS).",
	      m->exit_code);
	if (m->planned) {
		gauge(out, m, host, "mailrecon_pending_changes",
		      "Changes between the live server and the desired state that the last run left unapplied.",
		      (long long)m->pending_changes);
		gauge(out, m, host, "mailrecon_drift_objects",
		      "Managed files the last run found changed outside mailrecon since the last applied revision.",
		      (long long)m->drift_objects);
		gauge(out, m, host, "mailrecon_findings", "Findings (lines that disagree) in the live files, as the last run read them.",
		      (long long)m->findings);
	}
	if (m->counts_applied) {
		family(out, "mailrecon_applied_changes_total", "counter", "Changes applied, by object kind and action.");
		struct mr_buf series = MR_BUF_INIT;
		for (int k = 0; k < MR_APPLY_KINDS; k++) {
			for (int a = 0; a < MR_APPLY_ACTIONS; a++) {
				mr_buf_reset(&series);
				mr_buf_adds(&series, "mailrecon_applied_changes_total");
				labels(&series, m, host);
				mr_buf_addf(&series, ",kind=\"%s\",action=\"%s\"}", mr_object_name((enum mr_object)k),
					    mr_change_action_name((enum mr_change_action)a));
				unsigned long long v = previous(prev, series.ptr) + m->applied[k][a];
				mr_buf_addf(out, "%s %llu\n", series.ptr, v);
			}
		}
		mr_buf_release(&series);
	}
}

int mr_metrics_write(const char *path, const struct mr_metrics *m)
{
	if (!path || !*path)
		return 0;
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		strcpy(host, "localhost");
	host[strcspn(host, ".")] = '\0'; /* the short name, as --host defaults to (design section 9) */
	if (m->host)
		snprintf(host, sizeof(host), "%s", m->host);
	struct mr_buf prev = MR_BUF_INIT, out = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	if (mr_read_file_ex(path, METRICS_MAX, MR_READ_NOFOLLOW, &prev, &st, &err) < 0)
		mr_buf_release(&prev); /* none yet, or unreadable: the counters start at 0 */
	render(m, host, (long long)time(NULL), prev.ptr, &out);
	mr_buf_reset(&err);
	int rc = mr_write_file_atomic(path, out.ptr, out.len, 0644, &err);
	if (rc < 0) {
		struct mr_buf shown = MR_BUF_INIT;
		mr_buf_add_printable(&shown, err.ptr, err.len, 0);
		fprintf(stderr, "mailrecon: warning: metrics: %s\n", shown.ptr);
		mr_buf_release(&shown);
	}
	mr_buf_release(&prev);
	mr_buf_release(&out);
	mr_buf_release(&err);
	return rc;
}
