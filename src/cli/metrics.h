/*
 * metrics: --metrics-file PATH of apply and drift, in the Prometheus text exposition format
 * for node_exporter's textfile collector (docs/apply.md, "Metrics").
 *
 * Each run replaces the whole file atomically (a temporary file beside it, fsync'd, renamed
 * over it: util/fs.h mr_write_file_atomic), so the collector never reads half a file.  PATH
 * is the operator's, like a plan file's --out: it is not taken below --root.  The counter
 * mailrecon_applied_changes_total is carried over from the file being replaced (the same
 * command and host), so it only grows while the file stays; a lost file restarts it at 0,
 * which Prometheus reads as a counter reset.
 *
 * Calling sequence: fill a struct mr_metrics after the run, then mr_metrics_write().  A file
 * that cannot be written is a warning on stderr; the run's exit status stays its own.
 */
#ifndef MR_CLI_METRICS_H
#define MR_CLI_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "apply/apply.h"

struct mr_metrics {
	const char *command;   /* "apply" or "drift": the command label */
	const char *host;      /* the host label: --host (NULL: the short host name) */
	int exit_code;         /* the run's exit status */
	bool success;          /* apply: exit 0; drift: exit 0 or 2 */
	bool planned;          /* the gauges below are known (else they are left out) */
	size_t pending_changes, drift_objects, findings;
	bool counts_applied;   /* apply: write mailrecon_applied_changes_total */
	size_t applied[MR_APPLY_KINDS][MR_APPLY_ACTIONS];
};

/* Write m to path, replacing it atomically; "" or NULL writes nothing.  0, or -1 (warned). */
int mr_metrics_write(const char *path, const struct mr_metrics *m);

#endif
