/*
 * mailrecon plan [-f PATH]... [--out PLANFILE] [--json] [--detailed-exitcode] [--scope USER]
 *                [--target OBJECT]... [--allow-delete[=N]]
 *
 * Loads the desired state and the live files, and prints what apply would change.  It
 * writes nothing to the live tree; with --out, the plan file.  A clear password is compared
 * by verifying it against the live hash, through the verification cache in STATE_DIR/cache
 * when apply has made that directory (plan never creates it).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply/apply.h"
#include "apply/oracle.h"
#include "cli/cli.h"
#include "cli/fleet_plan.h"
#include "util/rootfs.h"
#include "codec/accounts.h"
#include "codec/live.h"
#include "crypto/password.h"
#include "load/desired.h"
#include "load/secret.h"
#include "model/names.h"
#include "plan/plan.h"
#include "plan/planfile.h"
#include "util/fs.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "vcs/vcs.h"

struct plan_state {
	struct mr_cli_sources src;     /* -f */
	struct mr_cli_sources targets; /* --target, as given (right after src: cli.h) */
	struct mr_cli_sources base;    /* --base (--all-hosts) (right after targets: cli.h) */
	bool all_hosts;
	const char *out;
	const char *scope;
	long allow_delete; /* as apply's: 0 by default, -1 any number */
	bool json, detailed;
};

enum { OPT_OUT = 2000, OPT_JSON, OPT_DETAILED, OPT_SCOPE, OPT_ALLOW_DELETE, OPT_TARGET, OPT_ALL_HOSTS, OPT_BASE };

static const struct mr_opt options[] = {
	{ "file", 'f', required_argument, "PATH", MR_OPT_REPEAT, "the desired state: a YAML file, a directory of them, or git:REPO[#REF][:SUBDIR]; repeatable (default ROOT/etc/mailrecon/desired)" },
	{ "out", OPT_OUT, required_argument, "PLANFILE", 0,
	  "also save the plan, with fingerprints of every file read, for apply --plan" },
	{ "json", OPT_JSON, no_argument, NULL, 0, "print the plan as JSON (schema/plan.schema.json)" },
	{ "detailed-exitcode", OPT_DETAILED, no_argument, NULL, 0, "exit 2 when something would change" },
	{ "scope", OPT_SCOPE, required_argument, "USER", 0,
	  "only USER's objects (a reseller: also its users'); nothing else is planned" },
	{ "target", OPT_TARGET, required_argument, "OBJECT", MR_OPT_REPEAT, MR_CLI_TARGET_HELP },
	{ "allow-delete", OPT_ALLOW_DELETE, optional_argument, "N", MR_OPT_NEXT_NUMBER,
	  "the deletions apply will be allowed (default 0; no N: any number): more are marked 'apply will refuse'" },
	{ "all-hosts", OPT_ALL_HOSTS, no_argument, NULL, 0,
	  "with --json: what the desired state places on every host of server.hosts, from desired states only" },
	{ "base", OPT_BASE, required_argument, "PATH", MR_OPT_REPEAT,
	  "with --all-hosts: the desired state before the change (file, directory or git:REPO#REF); repeatable" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int option(void *state, int opt, const char *arg)
{
	struct plan_state *s = state;
	switch (opt) {
	case 'f':
		mr_cli_source_add(&s->src, arg);
		return 0;
	case OPT_OUT:
		s->out = arg;
		return 0;
	case OPT_JSON:
		s->json = true;
		return 0;
	case OPT_DETAILED:
		s->detailed = true;
		return 0;
	case OPT_ALL_HOSTS:
		s->all_hosts = true;
		return 0;
	case OPT_BASE:
		mr_cli_source_add(&s->base, arg);
		return 0;
	case OPT_SCOPE:
		if (mr_check_user_name(arg)) {
			mr_cli_error("plan: --scope '%s' is not a user name", arg);
			return MR_EXIT_USAGE;
		}
		s->scope = arg;
		return 0;
	case OPT_TARGET:
		if (mr_cli_check_target("plan", arg))
			return MR_EXIT_USAGE;
		mr_cli_source_add(&s->targets, arg);
		return 0;
	case OPT_ALLOW_DELETE: {
		uint64_t n;
		if (!arg) {
			s->allow_delete = -1; /* any number */
			return 0;
		}
		if (!mr_parse_u64(arg, strlen(arg), 1000000000, &n)) {
			mr_cli_error("plan: --allow-delete=%s: expected a number", arg);
			return MR_EXIT_USAGE;
		}
		s->allow_delete = (long)n;
		return 0;
	}
	}
	return MR_EXIT_USAGE;
}

struct live_job {
	struct mr_live *lv;
	struct mr_live_opts opts;
	struct mr_diags *errors;
	int rc;
	atomic_bool ready; /* lv is read whole and is not written again */
};

static void *live_job_run(void *arg)
{
	struct live_job *j = arg;
	j->rc = mr_live_load(j->lv, &j->opts, j->errors);
	if (j->rc == 0)
		atomic_store_explicit(&j->ready, true, memory_order_release);
	return NULL;
}

/*
 * The desired model's hash_from while it loads: once the live files are read (they mostly
 * are, well before a big desired state), a hash equal to the live one is not copied -- at
 * 100,000 mailboxes the copies were 8 MiB of the load's peak.  The live model is only read
 * here, after the release above; mr_model_share_hashes takes the rest once both are loaded.
 */
static const char *live_hash(void *ctx, const char *address, const char *hash)
{
	struct live_job *j = ctx;
	if (!atomic_load_explicit(&j->ready, memory_order_acquire))
		return NULL;
	return mr_model_same_hash(&j->lv->model, address, hash);
}

static void now_stamps(char *stamp, size_t n, char *iso, size_t isolen)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, n, "%Y%m%dT%H%M%SZ", &tm);
	strftime(iso, isolen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int write_planfile(const char *path, const struct mr_buf *b)
{
	struct mr_buf err = MR_BUF_INIT;
	int rc = mr_write_file_atomic(path, b->ptr ? b->ptr : "", b->len, 0644, &err);
	if (rc < 0)
		mr_cli_error("plan: %s", err.ptr);
	mr_buf_release(&err);
	return rc;
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct plan_state *s = state;
	if (argc > 0) {
		mr_cli_error("plan: unexpected argument '%s' (use -f PATH)", argv[0]);
		mr_cli_sources_release(&s->src);
		mr_cli_sources_release(&s->targets);
		return MR_EXIT_USAGE;
	}
	if (s->all_hosts || s->base.n) {
		int rc = MR_EXIT_USAGE;
		if (!s->all_hosts)
			mr_cli_error("plan: --base goes with --all-hosts");
		else if (!s->json)
			mr_cli_error("plan: --all-hosts prints JSON only: add --json");
		else if (s->out || s->scope || s->allow_delete || s->targets.n)
			mr_cli_error("plan: --all-hosts reads no live tree: --out, --scope, --target and --allow-delete do not apply");
		else
			rc = mr_cli_fleet_plan(g, &s->src, &s->base, s->detailed);
		mr_cli_sources_release(&s->base);
		mr_cli_sources_release(&s->targets);
		mr_cli_sources_release(&s->src);
		return rc;
	}
	int code = MR_EXIT_OK;
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT, errors = MR_DIAGS_INIT;
	struct mr_pathlist files = MR_PATHLIST_INIT;
	struct mr_load_opts lo = mr_cli_load_opts(g, &s->src);
	lo.files_out = &files;
	lo.scoped = s->scope != NULL;
	struct mr_live lv;
	struct mr_accounts acc;
	struct mr_plan p;
	memset(&p, 0, sizeof(p));
	memset(&acc, 0, sizeof(acc));
	mr_model_init(&m);
	/* an apply switching files holds the lock: wait for it, so the plan never reads a
	 * half-switched set (no state directory: no apply has ever run) */
	int lockfd = -1, lrc0 = mr_state_lock(g->rootfs, g->state_dir, false, g->lock_timeout, &lockfd);
	char *journal = mr_path_join(g->state_dir, "journal");
	struct stat jst;
	if (lrc0 == 0 && mr_root_lstat(g->rootfs, journal, &jst) == 0)
		mr_cli_error("plan: warning: an interrupted apply left its journal (%s); the next apply finishes it, "
			     "and this plan may show its files half switched", journal);
	free(journal);
	if (lrc0) {
		memset(&lv, 0, sizeof(lv));
		mr_model_release(&m);
		mr_cli_sources_release(&s->src);
		mr_cli_sources_release(&s->targets);
		return lrc0;
	}
	/* the live files are read on a second thread while this one loads the desired state */
	struct live_job job = { .lv = &lv, .opts = { .root = g->rootfs, .layout = g->layout, .state_dir = g->state_dir }, .errors = &errors };
	atomic_init(&job.ready, false);
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, live_job_run, &job) == 0;
	if (!threaded)
		live_job_run(&job);
	m.hash_from = live_hash;
	m.hash_from_ctx = &job;
	int drc = mr_load_desired(&m, &lo, &d);
	m.hash_from = NULL;
	m.hash_from_ctx = NULL;
	if (threaded)
		pthread_join(th, NULL);
	int lrc = job.rc;
	if (drc < 0) {
		mr_diags_print(&d, stderr);
		mr_cli_error("plan: %zu error%s in the desired state%s; no plan", d.errors, d.errors == 1 ? "" : "s",
			     lo.refused ? ", refused by the rules of --scope" : "");
		code = lo.refused ? MR_EXIT_REFUSED : MR_EXIT_ERROR;
		goto out;
	}
	mr_diags_print(&d, stderr); /* warnings */
	if (lrc < 0 || mr_accounts_load(&acc, g->rootfs, &errors) < 0) {
		mr_diags_print(&errors, stderr);
		mr_cli_error("plan: the live files could not be read; no plan");
		code = MR_EXIT_ERROR;
		goto out;
	}
	if (s->scope && !mr_model_user(&m, s->scope) && !mr_model_user(&lv.model, s->scope)) {
		mr_cli_error("plan: --scope '%s': no such user in the desired or the live state", s->scope);
		code = MR_EXIT_ERROR;
		goto out;
	}
	/* lv outlives m's use of the hashes it now shares (both are released at out) */
	mr_model_share_hashes(&m, &lv.model);
	char *cache_dir = mr_path_join(g->state_dir, "cache");
	struct mr_oracle_ctx oc = { .root = g->rootfs, .lv = &lv, .desired = &m,
				    .cache = mr_pwcache_open(g->rootfs, cache_dir, false) };
	char stamp[32], iso[40];
	now_stamps(stamp, sizeof(stamp), iso, sizeof(iso));
	struct mr_homes_left left;
	mr_homes_left_read(g->rootfs, g->state_dir, &left);
	struct mr_archive archive = { g->rootfs, g->state_dir, MR_PATHLIST_INIT };
	struct mr_plan_input in = {
		.desired = &m, .live = &lv, .accounts = &acc, .scope = s->scope, .state_dir = g->state_dir,
		.stamp = stamp, .archive = mr_archive_view(&archive), .homes_left = &left.map,
		.oracle = mr_oracle(&oc, false), .targets = s->targets.v, .ntargets = s->targets.n,
		.no_content = true,
	};
	int prc = mr_plan_build(&p, &in, &errors);
	mr_homes_left_release(&left);
	mr_archive_release(&archive); /* the plan keeps its own copies of the entries */
	mr_pwcache_save(oc.cache);
	mr_pwcache_free(&oc.cache);
	mr_oracle_release(&oc);
	free(cache_dir);
	if (prc < 0) {
		mr_diags_sort(&errors);
		mr_diags_print(&errors, stderr);
		mr_cli_error("plan: %s", prc == MR_PLAN_REFUSED ? "refused by the rules of --scope"
								: "no plan");
		code = prc == MR_PLAN_REFUSED ? MR_EXIT_REFUSED : prc == MR_PLAN_USAGE ? MR_EXIT_USAGE : MR_EXIT_ERROR;
		goto out;
	}
	struct mr_buf out = MR_BUF_INIT;
	bool color = mr_cli_color(g), changes = p.nchanges || p.nfiles || p.nhomes;
	if (s->json) {
		mr_plan_print_json_refusals(&p, &lv.findings, s->allow_delete, &out);
	} else {
		if (g->verbosity >= 0)
			mr_plan_print_text(&p, &lv.findings, color, &out);
		else if (changes) /* -q: the summary line only */
			mr_plan_print_summary(&p, color, &out);
		/* what apply would refuse, so that a reviewer does not approve a plan that cannot apply */
		struct mr_buf note = MR_BUF_INIT;
		if (changes && mr_plan_refusals(&p, s->allow_delete, &note, NULL))
			mr_buf_addf(&out, "%s%s", g->verbosity >= 0 ? "\n" : "", note.ptr);
		mr_buf_release(&note);
	}
	if (fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout) != out.len || fflush(stdout) != 0)
		code = MR_EXIT_ERROR;
	mr_buf_release(&out);
	if (s->out) {
		struct mr_fingerprints dfp = { 0 }, lfp = { 0 };
		for (size_t i = 0; i < files.n; i++) {
			char *abs = mr_path_absolute(files.v[i]);
			mr_fingerprint_add(&dfp, abs ? abs : files.v[i], files.v[i]);
			free(abs);
		}
		for (size_t i = 0; i < s->src.n; i++)
			if (strncmp(s->src.v[i], "git:", 4) == 0 && lo.git_commit[0])
				mr_fingerprint_git(&dfp, s->src.v[i], lo.git_commit);
		mr_fingerprint_files(&lv, &acc, &lfp);
		struct mr_pins pins = { 0 };
		mr_pins_take(g->rootfs, &m, g->state_dir, true, &pins);
		struct mr_planfile_meta meta = { .root = mr_root_dir(g->rootfs), .layout = mr_layout_name(lv.layout),
						 .scope = s->scope, .created = iso, .desired = &dfp, .live = &lfp,
						 .pins = &pins };
		struct mr_buf pf = MR_BUF_INIT;
		mr_planfile_write(&p, &lv.findings, &meta, &pf);
		if (write_planfile(s->out, &pf) < 0)
			code = MR_EXIT_ERROR;
		mr_buf_release(&pf);
		mr_fingerprints_release(&dfp);
		mr_fingerprints_release(&lfp);
		mr_pins_release(&pins);
	}
	if (mr_plan_blocked(&p, &errors)) {
		mr_diags_print(&errors, stderr);
		code = MR_EXIT_ERROR;
	}
	if (code == MR_EXIT_OK && s->detailed && (p.nchanges || p.nfiles || p.nhomes))
		code = MR_EXIT_CHANGES;
out:
	if (lockfd >= 0)
		close(lockfd);
	mr_plan_release(&p);
	mr_accounts_release(&acc);
	mr_live_release(&lv);
	mr_model_release(&m);
	mr_diags_release(&d);
	mr_diags_release(&errors);
	mr_pathlist_release(&files);
	mr_cli_sources_release(&s->src);
	mr_cli_sources_release(&s->targets);
	mr_cli_sources_release(&s->base);
	return code;
}

const struct mr_cmd mr_cmd_plan = {
	.name = "plan",
	.summary = "show what apply would change",
	.description = "Load the desired state and the live files and print what apply would change:\n"
		       "+ create, ~ update, - delete, grouped by domain, the files that would change and a\n"
		       "summary line. Secrets are never shown. Writes nothing to the live tree.\n",
	.opts = options,
	.exits = "0   planned (with changes too, without --detailed-exitcode)\n"
		 "1   error: the desired state or the live files could not be read, a BLOCKED file\n"
		 "2   changes pending (--detailed-exitcode)\n"
		 "3   refused by the rules of --scope\n"
		 "4   an apply held the lock longer than --lock-timeout\n",
	.example = "mailrecon plan --detailed-exitcode --out change.plan\nmailrecon plan --json --allow-delete=2\n"
		   "mailrecon plan --target info@example.com --target example.org\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct plan_state),
	.sources = true,
	.more_sources = 2,
};
