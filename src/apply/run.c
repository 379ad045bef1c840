/*
 * run: the apply sequence of steps.h, from the lock to the reloads.  Every write to a
 * managed file or a mailbox home goes through one transaction (txn.c); the only writes
 * outside it are the state directory itself and the state repository.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "apply/history.h"
#include "apply/steps.h"
#include "load/desired.h"
#include "codec/dkim_state.h"
#include "plan/planfile.h"
#include "util/faults.h"
#include "util/xalloc.h"

/* ---- the lock ---- */

int mr_state_lock(struct mr_root *root, const char *state_dir, bool exclusive, double timeout, int *fd_out)
{
	*fd_out = -1;
	char *path = mr_path_join(state_dir, "lock");
	char *shown = mr_root_full(root, path);
	int fd = mr_root_openat(root, path, exclusive ? O_RDWR | O_CREAT : O_RDONLY, 0600);
	int rc = 0;
	if (fd < 0) {
		if (!exclusive && (fd == -ENOENT || fd == -ENOTDIR))
			goto out; /* no apply has ever run: nothing to wait for */
		fprintf(stderr, "mailrecon: cannot open the lock '%s': %s\n", shown, strerror(-fd));
		rc = EXIT_ERROR;
		goto out;
	}
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			fprintf(stderr, "mailrecon: cannot lock '%s': %s\n", shown, strerror(errno));
			close(fd);
			rc = EXIT_ERROR;
			goto out;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double waited = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
		if (timeout >= 0 && waited >= timeout) {
			struct mr_buf who = MR_BUF_INIT;
			if (!mr_lock_holder(fd, &who))
				mr_buf_adds(&who, "another run");
			fprintf(stderr, "mailrecon: %s holds the lock '%s'; gave up after %.1f s (--lock-timeout)\n", who.ptr,
				shown, waited);
			mr_buf_release(&who);
			close(fd);
			rc = EXIT_LOCKED;
			goto out;
		}
		struct timespec nap = { 0, 50 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	*fd_out = fd;
out:
	free(shown);
	free(path);
	return rc;
}

/* ---- the context ---- */

void say(const struct actx *a, const char *fmt, ...)
{
	if (a->o->verbosity < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

char *state_path(const struct actx *a, const char *name)
{
	return mr_path_join(a->state, name);
}

/*
 * The plan's text in a revision's message, up to MSG_PLAN_MAX bytes (cut at a line end):
 * a first apply of 100,000 mailboxes has a plan of some 20 MB, which no one reads in `git
 * log` and which would make the staged record (STATE_DIR/pending-revision) larger than it
 * may be.  The audit log keeps one line for every change, whatever the size.
 */
#define MSG_PLAN_MAX ((size_t)1 << 20)

static void add_plan_text(struct mr_buf *msg, const struct mr_buf *text)
{
	if (text->len <= MSG_PLAN_MAX) {
		mr_buf_add(msg, text->ptr, text->len);
		return;
	}
	size_t n = MSG_PLAN_MAX;
	while (n > 0 && text->ptr[n - 1] != '\n')
		n--;
	size_t more = 0;
	for (size_t i = n; i < text->len; i++)
		more += text->ptr[i] == '\n';
	mr_buf_add(msg, text->ptr, n);
	mr_buf_addf(msg, "\n... and %zu more lines of the plan, not kept here: the audit log has a line for every change.\n",
		    more);
}

const char *actor(const struct actx *a)
{
	static const char *const vars[] = { "SUDO_USER", "GITLAB_USER_LOGIN", "GITHUB_ACTOR", NULL };
	char *clean = ((struct actx *)a)->actor; /* a cache: the run's answer does not change */
	if (clean[0])
		return clean;
	const char *who = a->o->actor;
	for (const char *const *v = vars; !who && *v; v++)
		if (getenv(*v) && *getenv(*v))
			who = getenv(*v);
	if (!who) {
		struct passwd *pw = getpwuid(getuid());
		who = pw ? pw->pw_name : "unknown";
	}
	/* it goes into the audit log and git: one word of printable characters */
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)who; *p && n < sizeof(a->actor) - 1; p++)
		clean[n++] = *p > 0x20 && *p < 0x7f ? (char)*p : '_';
	if (!n)
		memcpy(clean, "unknown", (n = 7));
	clean[n] = '\0';
	return clean;
}

int actx_init(struct actx *a, const struct mr_apply_opts *o)
{
	memset(a, 0, sizeof(*a));
	a->o = o;
	a->root = o->root;
	a->targets = o->targets;
	a->ntargets = o->ntargets;
	const char *sd = o->state_dir && *o->state_dir ? o->state_dir : "/var/lib/mailrecon";
	if (!mr_root_clean(sd) || strcmp(sd, "/") == 0) {
		fprintf(stderr, "mailrecon: --state-dir '%s' is not a clean absolute path below the root\n", sd);
		return -1;
	}
	a->state = xstrdup(sd);
	mr_model_init(&a->m);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(a->iso, sizeof(a->iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	strftime(a->stamp, sizeof(a->stamp), "%Y%m%dT%H%M%SZ", &tm);
	return 0;
}

void actx_release(struct actx *a)
{
	mr_vcs_close(&a->vcs);
	mr_pwcache_free(&a->oc.cache);
	mr_oracle_release(&a->oc);
	if (a->have_acc)
		mr_accounts_release(&a->acc);
	if (a->have_live)
		mr_live_release(&a->lv);
	mr_model_release(&a->m);
	mr_diags_release(&a->d);
	mr_diags_release(&a->errors);
	mr_pathlist_release(&a->files);
	mr_archive_release(&a->archive);
	mr_homes_left_release(&a->homes_left);
	free(a->state);
}

/*
 * The state directory: made root's and 0700 when missing; an existing one must be a
 * directory of this user (reached without a link), and is closed to group and others.
 */
static int state_dir(struct actx *a)
{
	struct mr_buf err = MR_BUF_INIT;
	char *parent = mr_path_dirname(a->state);
	int rc = mr_root_mkdirs(a->root, parent, 0755, &err);
	if (rc == 0) {
		rc = mr_root_mkdir(a->root, a->state, 0700, -1, -1);
		if (rc == -EEXIST)
			rc = 0;
		else if (rc < 0)
			mr_buf_addf(&err, "%s", strerror(-rc));
	}
	struct stat st;
	char *shown = mr_root_full(a->root, a->state);
	if (rc == 0 && (rc = mr_root_lstat(a->root, a->state, &st)) == 0) {
		if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
			mr_buf_addf(&err, "it is not a directory of uid %u", (unsigned)geteuid());
			rc = -EPERM;
		} else if (st.st_mode & 077) {
			int fd = mr_root_openat(a->root, a->state, O_RDONLY | O_DIRECTORY, 0);
			if (fd < 0 || fchmod(fd, 0700) < 0) {
				mr_buf_addf(&err, "it is open to group or others and cannot be closed");
				rc = -EPERM;
			} else {
				fprintf(stderr, "mailrecon: the state directory '%s' was open to group or others; it is 0700 now\n",
					shown);
			}
			if (fd >= 0)
				close(fd);
		}
	}
	if (rc < 0)
		fprintf(stderr, "mailrecon: cannot use the state directory '%s': %s\n", shown,
			err.len ? err.ptr : strerror(-rc));
	free(shown);
	free(parent);
	mr_buf_release(&err);
	return rc < 0 ? -1 : 0;
}

/*
 * Before any write: the state directory, the lock, an interrupted apply finished or
 * undone from its journal, and files staged by a run that died before its journal (never
 * applied) removed.  0, or the exit code.
 */
int take_state(struct actx *a, const char *cmd, int *lockfd)
{
	struct mr_buf err = MR_BUF_INIT, report = MR_BUF_INIT;
	int rc = 0;
	if (state_dir(a) < 0) {
		rc = EXIT_ERROR;
		goto out;
	}
	if ((rc = mr_state_lock(a->root, a->state, true, a->o->lock_timeout, lockfd)) != 0)
		goto out;
	char *journal = state_path(a, "journal");
	int r = mr_txn_recover(a->root, journal, &report, &err);
	free(journal);
	if (report.len)
		fprintf(stderr, "mailrecon: %s", report.ptr);
	if (r < 0) {
		fprintf(stderr, "mailrecon: %s: cannot finish the interrupted apply: %s\n", cmd, err.ptr);
		rc = EXIT_ERROR;
		goto out;
	}
	enum mr_layout lay = a->o->layout;
	if (lay == MR_LAYOUT_AUTO && mr_layout_detect(a->root, &lay, &err) < 0)
		lay = MR_LAYOUT_DEBIAN;
	struct mr_pathlist dirs = MR_PATHLIST_INIT;
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		char *d = mr_path_dirname(mr_codec_path(mr_codecs[i], lay));
		mr_pathlist_add(&dirs, d);
		free(d);
	}
	mr_pathlist_add(&dirs, lay == MR_LAYOUT_RHEL ? "/etc/exim/ssl" : "/etc/exim4/ssl");
	mr_pathlist_add(&dirs, "/etc/dovecot/certs");
	mr_pathlist_add(&dirs, MR_SRVCERT_DOVECOT_DIR);
	mr_pathlist_add(&dirs, "/etc/dovecot/conf.d");
	mr_pathlist_add(&dirs, a->state);
	char *dkim_dir = state_path(a, MR_DKIM_STATE_DIR); /* a staged DKIM key (codec/dkim_state.h) */
	mr_pathlist_add(&dirs, dkim_dir);
	free(dkim_dir);
	mr_pathlist_sort(&dirs);
	mr_buf_reset(&report);
	for (size_t i = 0; i < dirs.n; i++)
		if (i == 0 || strcmp(dirs.v[i], dirs.v[i - 1]) != 0)
			mr_txn_cleanup_temps(a->root, dirs.v[i], &report);
	if (report.len)
		fprintf(stderr, "mailrecon: %s", report.ptr);
	mr_pathlist_release(&dirs);
	mr_homes_left_read(a->root, a->state, &a->homes_left);
	/* what a run that died left below the state directory (revisions materialised, checks) */
	char *tmp = state_path(a, "tmp");
	mr_buf_reset(&err);
	mr_root_remove_tree(a->root, tmp, &err);
	free(tmp);
out:
	mr_buf_release(&err);
	mr_buf_release(&report);
	return rc;
}

int open_history(struct actx *a, bool create, const char *cmd)
{
	char *repo = state_path(a, "repo");
	struct mr_buf err = MR_BUF_INIT;
	char *full = mr_root_full(a->root, repo);
	int rc = 0;
	char *marker = state_path(a, VCS_WRITING);
	struct stat st;
	if (mr_root_lstat(a->root, marker, &st) == 0 && mr_vcs_check_dir(a->root, repo, &err) == 1) {
		/* the last run was killed while it committed (this run holds the state lock, so no
		 * other mailrecon writes the repository): its lock files are stale */
		struct mr_buf done = MR_BUF_INIT;
		if (mr_vcs_clear_stale_locks(a->root, repo, &done) == 0) {
			if (done.len)
				fprintf(stderr, "mailrecon: removed the lock files a killed run left in the state repository: %s\n",
					done.ptr);
			mr_root_unlink(a->root, marker);
		}
		mr_buf_release(&done);
	}
	free(marker);
	if (mr_vcs_check_dir(a->root, repo, &err) < 0 || !(a->vcs = mr_vcs_open(full, create, &err))) {
		fprintf(stderr, "mailrecon: %s: %s; nothing was changed\n", cmd, err.ptr);
		rc = -1;
	}
	mr_buf_release(&err);
	free(full);
	free(repo);
	return rc;
}

/* ---- the archive, as the plan sees it ---- */

struct mr_archive_view archive_view(struct actx *a)
{
	a->archive.root = a->root;
	a->archive.state_dir = a->state;
	return mr_archive_view(&a->archive);
}

/* ---- loading and planning ---- */

struct live_job {
	struct actx *a;
	int rc;
};

static void *live_job_run(void *arg)
{
	struct live_job *j = arg;
	j->rc = mr_live_load(&j->a->lv, &(struct mr_live_opts){ .root = j->a->root, .layout = j->a->o->layout, .state_dir = j->a->state, .blob_ids = true },
			     &j->a->errors);
	return NULL;
}

static int load(struct actx *a, const char *const *sources, size_t n)
{
	a->sources_read = sources;
	a->nsources_read = n;
	struct mr_load_opts lo = { .root = mr_root_dir(a->root), .rootfs = a->root, .sources = sources, .nsources = n,
				   .files_out = &a->files, .read_git = mr_vcs_source, .scoped = a->o->scope != NULL,
				   .host = a->o->host };
	/* the live files are read on a second thread while this one loads the desired state (as
	 * plan does); each side has its own diagnostics */
	struct live_job job = { .a = a, .rc = 0 };
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, live_job_run, &job) == 0;
	if (!threaded)
		live_job_run(&job);
	int lrc = mr_load_desired(&a->m, &lo, &a->d);
	if (threaded)
		pthread_join(th, NULL);
	a->have_live = true;
	memcpy(a->git_commit, lo.git_commit, sizeof(a->git_commit));
	if (lrc < 0) {
		mr_diags_print(&a->d, stderr);
		fprintf(stderr, "mailrecon: apply: %zu error%s in the desired state%s; nothing was changed\n", a->d.errors,
			a->d.errors == 1 ? "" : "s", lo.refused ? ", refused by the rules of --scope" : "");
		return lo.refused ? EXIT_REFUSED : EXIT_ERROR;
	}
	mr_diags_print(&a->d, stderr);
	if (job.rc < 0 || (a->have_acc = true, mr_accounts_load(&a->acc, a->root, &a->errors) < 0)) {
		mr_diags_print(&a->errors, stderr);
		fprintf(stderr, "mailrecon: apply: the live files could not be read; nothing was changed\n");
		return EXIT_ERROR;
	}
	return EXIT_OK;
}

static int build(struct actx *a, struct mr_plan *p, bool hashing)
{
	struct mr_plan_input in = {
		.desired = &a->m, .live = &a->lv, .accounts = &a->acc, .scope = a->o->scope, .state_dir = a->state,
		.stamp = a->stamp, .purge = a->o->purge, .archive = archive_view(a), .homes_left = &a->homes_left.map,
		.oracle = mr_oracle(&a->oc, hashing), .targets = a->targets, .ntargets = a->ntargets,
		/* the second plan (hashing) is of the same two models: it takes the first's Mail flow */
		.no_flow = hashing,
	};
	int rc = mr_plan_build(p, &in, &a->errors);
	if (rc < 0) {
		mr_diags_sort(&a->errors);
		mr_diags_print(&a->errors, stderr);
		fprintf(stderr, "mailrecon: apply: %s; nothing was changed\n",
			rc == MR_PLAN_REFUSED ? "refused by the rules of --scope" : "no plan");
		return rc == MR_PLAN_REFUSED ? EXIT_REFUSED : rc == MR_PLAN_USAGE ? EXIT_USAGE : EXIT_ERROR;
	}
	return EXIT_OK;
}

static void print_plan(struct actx *a, const struct mr_plan *p)
{
	if (a->o->verbosity < 0 && !a->o->confirm) /* a question comes with what it is about */
		return;
	struct mr_buf out = MR_BUF_INIT;
	mr_plan_print_text(p, &a->lv.findings, a->o->color, &out);
	fwrite(out.ptr, 1, out.len, stdout);
	fflush(stdout);
	mr_buf_release(&out);
}

/* ---- plan files ---- */

static int check_planfile(struct actx *a, const struct mr_planfile_saved *saved, const struct mr_plan *p)
{
	struct mr_fingerprints dfp = { 0 }, lfp = { 0 };
	for (size_t i = 0; i < a->files.n; i++) {
		char *abs = mr_path_absolute(a->files.v[i]);
		mr_fingerprint_add(&dfp, abs ? abs : a->files.v[i], a->files.v[i]);
		free(abs);
	}
	for (size_t i = 0; i < a->nsources_read; i++)
		if (strncmp(a->sources_read[i], "git:", 4) == 0 && a->git_commit[0])
			mr_fingerprint_git(&dfp, a->sources_read[i], a->git_commit);
	mr_fingerprint_files(&a->lv, &a->acc, &lfp);
	struct mr_pins pins = { 0 };
	mr_pins_take(a->root, &a->m, a->state, false, &pins);
	struct mr_planfile_meta meta = { .root = mr_root_dir(a->root), .layout = mr_layout_name(a->lv.layout),
					 .scope = a->o->scope, .created = "", .desired = &dfp, .live = &lfp,
					 .pins = &pins };
	struct mr_buf now = MR_BUF_INIT, why = MR_BUF_INIT;
	mr_planfile_write(p, &a->lv.findings, &meta, &now);
	/* compared as JSON values (planfile.h), so a file re-serialised by another tool is the
	 * same plan when its content is */
	int rc = 0;
	if (mr_planfile_compare(saved, now.ptr, &why) < 0) {
		fprintf(stderr, "mailrecon: apply: refused: %s; make a new plan\n", why.ptr);
		rc = EXIT_REFUSED;
	}
	mr_buf_release(&now);
	mr_buf_release(&why);
	mr_fingerprints_release(&dfp);
	mr_fingerprints_release(&lfp);
	mr_pins_release(&pins);
	return rc;
}

/* The archive stamp of a plan file: its "created" time, so apply --plan names the
 * entries the plan showed. */
static void planfile_stamp(const char *created, char stamp[32])
{
	char out[32];
	size_t n = 0;
	for (const char *c = created; *c && n < sizeof(out) - 1; c++)
		if (*c != '-' && *c != ':')
			out[n++] = *c;
	out[n] = '\0';
	if (n == 16 && out[8] == 'T' && out[15] == 'Z')
		memcpy(stamp, out, n + 1);
}

/* ---- the run ---- */

/* The Desired-Source trailer: the -f sources (a git source with its commit), or the plan file. */
static void source_name(const struct actx *a, struct mr_buf *out)
{
	for (size_t i = 0; i < a->o->nsources; i++) {
		const char *s = a->o->sources[i];
		if (strncmp(s, "git:", 4) == 0 && a->git_commit[0]) {
			mr_buf_addf(out, "%s%s (commit %s)", i ? ", " : "", s, a->git_commit);
		} else {
			char *abs = mr_path_absolute(s);
			mr_buf_addf(out, "%s%s", i ? ", " : "", abs ? abs : s);
			free(abs);
		}
	}
	if (a->o->planfile)
		mr_buf_addf(out, "%splan file %s", out->len ? ", " : "", a->o->planfile);
	if (!out->len)
		mr_buf_adds(out, MR_DESIRED_DEFAULT);
}

/* Whether the plan's files hold a value only apply makes (a new hash, an account's ids, a
 * key): then the second plan, with them made, is the one applied. */
static bool made_at_apply(const struct mr_plan *p)
{
	for (size_t i = 0; i < p->nfiles; i++)
		if (p->files[i].at_apply)
			return true;
	return false;
}

static int apply_plan(struct actx *a, struct mr_plan *p)
{
	/* the second plan: with system accounts made and new passwords hashed.  Without any
	 * (no account made, nothing in the first plan's files left to apply) it would be the
	 * first one again, made from the same two models: the first is applied (a first apply
	 * of 100,000 mailboxes planned them twice) */
	int made = create_accounts(a, p);
	if (made < 0)
		return EXIT_ERROR;
	struct mr_plan second, *fp = p;
	int rc = EXIT_OK;
	if (made > 0 || made_at_apply(p)) {
		mr_accounts_release(&a->acc);
		if (mr_accounts_load(&a->acc, a->root, &a->errors) < 0)
			return EXIT_ERROR;
		rc = build(a, &second, true);
		if (rc)
			return rc;
		mr_plan_take_flow(&second, p);
		fp = &second;
		if (second.nchanges != p->nchanges || second.add != p->add || second.destroy != p->destroy) {
			fprintf(stderr, "mailrecon: apply: the plan changed while applying; nothing was changed\n");
			mr_plan_release(&second);
			return EXIT_ERROR;
		}
	}
	struct stage s;
	stage_init(&s, a);
	stage_expect_live(&s);
	struct mr_buf msg = MR_BUF_INIT, text = MR_BUF_INIT;
	/* the subject names the objects (log --object finds them); the counts open the body,
	 * which a long plan's text may not end with */
	mr_plan_subject(fp, &msg);
	mr_buf_adds(&msg, "\n\n");
	if (fp->nchanges)
		mr_buf_addf(&msg, "Plan: %zu to add, %zu to change, %zu to destroy.\n\n", fp->add, fp->change,
			    fp->destroy);
	mr_plan_print_text_as(fp, NULL, false, MR_PLAN_MADE, &text); /* read later: what was done */
	add_plan_text(&msg, &text);
	mr_buf_release(&text);
	struct mr_buf src = MR_BUF_INIT;
	source_name(a, &src);
	mr_history_trailers(&msg, src.ptr, actor(a), a->o->host);
	mr_buf_release(&src);
	if (stage_homes(&s, fp, HOMES_BEFORE_FILES) < 0 || stage_plan_files(&s, fp) < 0 ||
	    stage_homes(&s, fp, HOMES_AFTER_FILES) < 0 || stage_record(&s, msg.ptr, fp, NULL) < 0) {
		fprintf(stderr, "mailrecon: apply: %s; %snothing was changed\n", s.err.ptr ? s.err.ptr : "staging failed",
			s.refused ? "refused by the rules of --scope; " : "");
		rc = s.refused ? EXIT_REFUSED : EXIT_ERROR;
	} else if (checks(a, &s) < 0) {
		fprintf(stderr, "mailrecon: apply: a check failed; nothing was changed\n");
		rc = EXIT_ERROR;
	} else {
		int c = mr_txn_commit(s.t, &s.err);
		if (c < 0) {
			fprintf(stderr, "mailrecon: apply: %s\n", s.err.ptr); /* txn says whether anything changed */
			rc = c == MR_TXN_CHANGED ? EXIT_REFUSED : EXIT_ERROR;
		} else if (a->o->report) {
			a->o->report->pending = 0;
			for (size_t i = 0; i < fp->nchanges; i++)
				a->o->report->applied[fp->changes[i].object][fp->changes[i].action]++;
		}
	}
	mr_buf_release(&msg);
	if (rc != EXIT_OK) {
		mr_txn_abort(&s.t);
	} else {
		homes_left_alone(&s);
		homes_left_save(a, fp, s.t);
		mr_txn_free(&s.t);
		if (finish_record(a, false) < 0)
			rc = EXIT_ERROR;
		if (reloads(a, &s) < 0)
			rc = EXIT_ERROR;
		if (s.refused_homes) {
			fprintf(stderr, "mailrecon: apply: the storage of %zu mailbox%s was left alone (see above)\n",
				s.refused_homes, s.refused_homes == 1 ? "" : "es");
			rc = EXIT_ERROR;
		}
		/* the summary line: printed with -q too */
		printf("%sApply complete: %zu added, %zu changed, %zu destroyed; %zu file%s written.\n",
		       a->o->verbosity < 0 ? "" : "\n", fp->add, fp->change,
		    fp->destroy, s.written, s.written == 1 ? "" : "s");
	}
	mr_buf_release(&s.err);
	if (fp == &second)
		mr_plan_release(&second);
	return rc;
}

/* The DMARC template of this desired state, for `mailrecon dns` (apply.h); a --scope file
 * speaks for one user, not for the server, so a scoped run keeps the one recorded, and so
 * does a targeted one (the server's settings are never a target). */
static void record_dmarc(struct actx *a)
{
	if (!a->o->scope && !a->ntargets)
		mr_dmarc_record(a->root, a->state, a->m.server.dmarc ? a->m.server.dmarc : MR_DMARC_DEFAULT);
}

int mr_apply_run(const struct mr_apply_opts *o)
{
	struct actx a;
	if (actx_init(&a, o) < 0)
		return EXIT_ERROR;
	int rc = EXIT_OK, lockfd = -1;
	struct mr_planfile_saved saved = { 0 }; /* a plan file, and its sources, alive to the end */
	struct mr_plan p;
	memset(&p, 0, sizeof(p));

	struct mr_buf err = MR_BUF_INIT;
	if ((rc = take_state(&a, "apply", &lockfd)) != 0)
		goto out;
	char *cache_dir = state_path(&a, "cache");
	a.oc.cache = mr_pwcache_open(a.root, cache_dir, true);
	free(cache_dir);

	if (o->planfile) {
		struct mr_buf pf = MR_BUF_INIT;
		if (mr_read_file(o->planfile, 512u << 20, &pf, &err) < 0) {
			fprintf(stderr, "mailrecon: apply: %s\n", err.ptr);
			rc = EXIT_ERROR;
			goto out;
		}
		mr_buf_reset(&err);
		int r = mr_planfile_read(&saved, pf.ptr ? pf.ptr : "", pf.len, &err);
		mr_buf_release(&pf);
		if (r < 0) {
			struct mr_buf shown = MR_BUF_INIT;
			mr_buf_adds_printable(&shown, err.ptr);
			fprintf(stderr, "mailrecon: apply: '%s' is not a mailrecon plan file: %s\n", o->planfile, shown.ptr);
			mr_buf_release(&shown);
			rc = EXIT_ERROR;
			goto out;
		}
		planfile_stamp(saved.created, a.stamp);
		if (!o->ntargets && saved.ntargets) { /* the plan's own targets */
			a.targets = saved.targets;
			a.ntargets = saved.ntargets;
		}
		rc = load(&a, saved.sources, saved.nsources);
	} else {
		rc = load(&a, o->sources, o->nsources);
	}
	if (rc)
		goto out;
	if (open_history(&a, true, "apply") < 0) {
		rc = EXIT_ERROR;
		goto out;
	}
	if (capture(&a) < 0) {
		fprintf(stderr, "mailrecon: apply: the live state could not be recorded; nothing was changed\n");
		rc = EXIT_ERROR;
		goto out;
	}
	a.oc.root = a.root;
	a.oc.lv = &a.lv;
	a.oc.desired = &a.m;
	rc = build(&a, &p, false);
	if (rc)
		goto out;
	if (o->report) {
		o->report->planned = true;
		o->report->pending = p.nchanges;
		o->report->findings = p.findings_scoped ? p.findings.n : a.lv.findings.n;
		o->report->drift_files = a.drift_files;
	}
	if (saved.doc && (rc = check_planfile(&a, &saved, &p)) != 0)
		goto out;
	print_plan(&a, &p);
	if (mr_plan_blocked(&p, &a.errors)) {
		mr_diags_print(&a.errors, stderr);
		fprintf(stderr, "mailrecon: apply: refused; nothing was changed\n");
		rc = EXIT_ERROR;
		goto out;
	}
	size_t dels = p.del_users + p.del_domains + p.del_mailboxes;
	if (o->allow_delete >= 0 && dels > (size_t)o->allow_delete) {
		fprintf(stderr,
			"mailrecon: apply: refused: the plan deletes %zu user%s, %zu domain%s and %zu mailbox%s (shown above); "
			"--allow-delete=%ld allows %ld; nothing was changed\n",
			p.del_users, p.del_users == 1 ? "" : "s", p.del_domains, p.del_domains == 1 ? "" : "s",
			p.del_mailboxes, p.del_mailboxes == 1 ? "" : "es", o->allow_delete, o->allow_delete);
		rc = EXIT_REFUSED;
		goto out;
	}
	if (p.nchanges == 0 && p.nfiles == 0 && p.nhomes == 0) {
		record_dmarc(&a); /* the template alone may have changed: `dns` prints it */
		goto out; /* "No changes." was printed: no live file is written, nothing reloaded */
	}
	if (o->confirm && !o->confirm()) {
		fprintf(stderr, "mailrecon: apply cancelled; nothing was changed\n");
		rc = EXIT_REFUSED;
		goto out;
	}
	rc = apply_plan(&a, &p);
	if (rc == EXIT_OK)
		record_dmarc(&a);
	mr_pwcache_save(a.oc.cache);
out:
	mr_plan_release(&p);
	actx_release(&a);
	mr_buf_release(&err);
	if (lockfd >= 0)
		close(lockfd);
	mr_planfile_saved_release(&saved);
	return rc;
}
