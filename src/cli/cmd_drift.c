/*
 * mailrecon drift [-f PATH]... [--json] [--metrics-file PATH]: read-only (but for the metrics file).  Which objects of the live server differ
 * from the desired state, and which managed files changed since the last applied revision
 * (an edit made outside mailrecon).  Exit 0: none; 2: drift; 1: error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply/apply.h"
#include "apply/history.h"
#include "apply/oracle.h"
#include "cli/cli.h"
#include "cli/metrics.h"
#include "codec/accounts.h"
#include "codec/live.h"
#include "load/desired.h"
#include "plan/plan.h"
#include "util/xalloc.h"
#include "vcs/vcs.h"

struct drift_state {
	struct mr_cli_sources src; /* -f */
	bool json;
	const char *metrics_file; /* --metrics-file (cli/metrics.h) */
};

enum { OPT_JSON = 6000, OPT_METRICS_FILE };

static const struct mr_opt options[] = {
	{ "file", 'f', required_argument, "PATH", MR_OPT_REPEAT, "the desired state: a YAML file, a directory of them, or git:REPO[#REF][:SUBDIR]; repeatable (default ROOT/etc/mailrecon/desired)" },
	{ "json", OPT_JSON, no_argument, NULL, 0, "print one JSON object: drift, revision, files changed, plan" },
	{ "metrics-file", OPT_METRICS_FILE, required_argument, "PATH", 0,
	  "write the run's Prometheus textfile metrics to PATH, atomically (the one file drift writes)" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int option(void *state, int opt, const char *arg)
{
	struct drift_state *s = state;
	if (opt == 'f') {
		mr_cli_source_add(&s->src, arg);
		return 0;
	}
	if (opt == OPT_JSON) {
		s->json = true;
		return 0;
	}
	if (opt == OPT_METRICS_FILE) {
		s->metrics_file = arg;
		return 0;
	}
	return MR_EXIT_USAGE;
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct drift_state *s = state;
	if (argc > 0) {
		mr_cli_error("drift: unexpected argument '%s'", argv[0]);
		mr_cli_sources_release(&s->src);
		return MR_EXIT_USAGE;
	}
	int code = MR_EXIT_OK, lockfd = -1;
	struct mr_model m;
	struct mr_live lv;
	struct mr_accounts acc;
	struct mr_plan p;
	struct mr_diags d = MR_DIAGS_INIT, errors = MR_DIAGS_INIT;
	struct mr_pathlist changed = MR_PATHLIST_INIT;
	struct mr_buf err = MR_BUF_INIT, out = MR_BUF_INIT;
	struct mr_vcs *v = NULL;
	char head[41] = "";
	struct mr_metrics metrics = { .command = "drift", .host = g->host };
	memset(&lv, 0, sizeof(lv));
	memset(&acc, 0, sizeof(acc));
	memset(&p, 0, sizeof(p));
	mr_model_init(&m);
	int lrc = mr_state_lock(g->rootfs, g->state_dir, false, g->lock_timeout, &lockfd);
	if (lrc) {
		code = lrc;
		goto out;
	}
	struct mr_load_opts lo = mr_cli_load_opts(g, &s->src);
	if (mr_load_desired(&m, &lo, &d) < 0) {
		mr_diags_print(&d, stderr);
		code = MR_EXIT_ERROR;
		goto out;
	}
	if (mr_live_load(&lv, &(struct mr_live_opts){ .root = g->rootfs, .layout = g->layout, .state_dir = g->state_dir, .blob_ids = true }, &errors) < 0 ||
	    mr_accounts_load(&acc, g->rootfs, &errors) < 0) {
		mr_diags_print(&errors, stderr);
		code = MR_EXIT_ERROR;
		goto out;
	}
	char *cache_dir = mr_path_join(g->state_dir, "cache");
	struct mr_oracle_ctx oc = { .root = g->rootfs, .lv = &lv, .desired = &m,
				    .cache = mr_pwcache_open(g->rootfs, cache_dir, false) };
	free(cache_dir);
	struct mr_homes_left left;
	mr_homes_left_read(g->rootfs, g->state_dir, &left);
	struct mr_plan_input in = { .desired = &m, .live = &lv, .accounts = &acc, .state_dir = g->state_dir,
				    .homes_left = &left.map, .oracle = mr_oracle(&oc, false), .no_content = true };
	int prc = mr_plan_build(&p, &in, &errors);
	mr_homes_left_release(&left);
	mr_pwcache_free(&oc.cache);
	mr_oracle_release(&oc);
	if (prc < 0) {
		mr_diags_print(&errors, stderr);
		code = MR_EXIT_ERROR;
		goto out;
	}
	/* the files since the last revision */
	int hc;
	v = mr_cli_history(g, "drift", &hc);
	if (hc) {
		code = hc;
		goto out;
	}
	if (v) {
		struct mr_snapshot snap;
		mr_buf_reset(&err);
		if (mr_snapshot_take(g->rootfs, lv.layout, &lv, &snap, NULL, &err) < 0 ||
		    mr_history_changed(v, "HEAD", &snap, &changed, &err) < 0) {
			mr_cli_error("drift: %s", err.ptr);
			code = MR_EXIT_ERROR;
			mr_snapshot_release(&snap);
			goto out;
		}
		mr_snapshot_release(&snap);
		struct mr_vcs_entry *e = NULL;
		size_t ne = 0;
		if (mr_vcs_log(v, 1, &e, &ne, &err) == 0 && ne == 1)
			memcpy(head, e[0].id, sizeof(head));
		mr_vcs_entries_free(e, ne);
	}
	bool drift = p.nchanges || p.nfiles || p.nhomes || changed.n;
	metrics.planned = true;
	metrics.pending_changes = p.nchanges;
	metrics.drift_objects = changed.n;
	metrics.findings = lv.findings.n;
	if (s->json) {
		mr_buf_addf(&out, "{\"drift\":%s,\"revision\":", drift ? "true" : "false");
		mr_json_string(&out, head[0] ? head : NULL);
		mr_buf_adds(&out, ",\"files_changed_since_revision\":[");
		for (size_t i = 0; i < changed.n; i++) {
			if (i)
				mr_buf_addc(&out, ',');
			mr_json_string(&out, changed.v[i]);
		}
		mr_buf_adds(&out, "],\"plan\":");
		mr_plan_print_json(&p, &lv.findings, &out);
		mr_buf_adds(&out, "}\n");
	} else if (g->verbosity < 0) { /* -q: the summary lines only */
		if (p.nchanges || p.nfiles || p.nhomes)
			mr_plan_print_summary(&p, false, &out);
		if (v && changed.n)
			mr_buf_addf(&out, "%zu file%s changed outside mailrecon since revision %.12s.\n", changed.n,
				    changed.n == 1 ? "" : "s", head);
	} else {
		if (p.nchanges || p.nfiles || p.nhomes) {
			mr_buf_adds(&out, "The live server differs from the desired state:\n\n");
			mr_plan_print_text_as(&p, &lv.findings, false, MR_PLAN_WOULD, &out);
		} else {
			mr_buf_adds(&out, "The live server matches the desired state.\n");
		}
		if (v && changed.n) {
			mr_buf_addf(&out, "\nFiles changed outside mailrecon since revision %.12s:\n", head);
			for (size_t i = 0; i < changed.n; i++)
				mr_buf_addf(&out, "  %s\n", changed.v[i]);
		} else if (v) {
			mr_buf_addf(&out, "No file changed since revision %.12s.\n", head);
		} else {
			mr_buf_adds(&out, "No revision yet: no apply has run on this server.\n");
		}
	}
	fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout);
	code = drift ? MR_EXIT_CHANGES : MR_EXIT_OK;
out:
	if (lockfd >= 0)
		close(lockfd);
	metrics.exit_code = code;
	metrics.success = code == MR_EXIT_OK || code == MR_EXIT_CHANGES;
	mr_metrics_write(s->metrics_file, &metrics);
	mr_vcs_close(&v);
	mr_plan_release(&p);
	if (acc.path)
		mr_accounts_release(&acc);
	if (lv.root)
		mr_live_release(&lv);
	mr_model_release(&m);
	mr_diags_release(&d);
	mr_diags_release(&errors);
	mr_pathlist_release(&changed);
	mr_buf_release(&err);
	mr_buf_release(&out);
	mr_cli_sources_release(&s->src);
	return code;
}

const struct mr_cmd mr_cmd_drift = {
	.name = "drift",
	.summary = "read-only: what differs from the desired state and the last revision",
	.description = "Read-only: which objects of the live server differ from the desired state, and\n"
		       "which managed files changed since the last applied revision (an edit made outside\n"
		       "mailrecon).\n",
	.opts = options,
	.exits = "0   no drift\n1   error\n2   drift\n4   an apply held the lock longer than --lock-timeout\n",
	.example = "mailrecon drift -f git:/srv/mail-config#main:mx1\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct drift_state),
	.sources = true,
};
