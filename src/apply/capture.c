/*
 * capture: history before anything changes (design section 5).  A record an earlier run
 * left pending (its files are switched, its revision or audit lines are not written yet)
 * is finished first; then the baseline of a first apply, or the drift found since the last
 * revision, is committed on its own -- so an edit made outside mailrecon is in history
 * before mailrecon undoes it, and an interrupted apply is never mistaken for drift.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apply/history.h"
#include "apply/steps.h"
#include "crypto/digest.h"
#include "util/faults.h"
#include "util/xalloc.h"

int vcs_commit(struct actx *a, const struct mr_snapshot *snap, const char *message, bool *committed,
	       struct mr_buf *err)
{
	assert(!snap->partial); /* a file known by its id only has no bytes to commit */
	char *marker = state_path(a, VCS_WRITING);
	int fd = mr_root_openat(a->root, marker, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0)
		close(fd);
	int rc = mr_vcs_commit(a->vcs, snap->v, snap->n, message, actor(a), a->rev, committed, err);
	if (fd >= 0)
		mr_root_unlink(a->root, marker);
	free(marker);
	return rc;
}

int commit_snapshot(struct actx *a, const char *message, bool *committed)
{
	struct mr_snapshot snap;
	struct mr_buf err = MR_BUF_INIT, notes = MR_BUF_INIT;
	int rc = mr_snapshot_take(a->root, a->lv.layout, NULL, &snap, &notes, &err);
	if (rc == 0 && mr_fault_check("commit") < 0) { /* test seam: the repository fails now */
		mr_buf_addf(&err, "the state repository: %s", strerror(errno));
		rc = -1;
	}
	if (rc == 0)
		rc = vcs_commit(a, &snap, message, committed, &err);
	if (rc < 0)
		fprintf(stderr, "mailrecon: cannot record the revision: %s\n", err.ptr ? err.ptr : "?");
	mr_snapshot_release(&snap);
	mr_buf_release(&err);
	mr_buf_release(&notes);
	return rc;
}

/* ---- a revision, read back ---- */

struct rev_read {
	enum mr_layout layout;
	struct mr_snapshot *out;
	struct mr_buf *err;
	bool bad;
};

static int rev_cb(void *ctx, const char *path, const void *data, size_t len)
{
	struct rev_read *r = ctx;
	if (mr_history_check_file(path, data, len, r->layout, r->err) < 0) {
		r->bad = true;
		return 1; /* stop: this revision is not used */
	}
	struct mr_snapshot *s = r->out;
	s->v = xgrow(s->v, sizeof(*s->v), s->n + 1, &s->cap);
	s->v[s->n++] = (struct mr_vcs_file){ xstrdup(path), xmemdup(data ? data : "", len + 1), len };
	return 0;
}

int read_revision(struct actx *a, const char *rev, struct mr_snapshot *out, bool *refused, struct mr_buf *err)
{
	memset(out, 0, sizeof(*out));
	struct rev_read r = { a->lv.layout, out, err, false };
	int rc = mr_vcs_read(a->vcs, rev, rev_cb, &r, NULL, err);
	*refused = r.bad;
	if (rc != 0) {
		mr_snapshot_release(out);
		return -1;
	}
	return 0; /* mr_vcs_read gives the files sorted by path */
}

/*
 * The private key a fingerprint names: from STATE_DIR/keys, where apply keeps every key it
 * replaces, or the live key when it is that one.  0 with it in out, -1 when neither has it.
 */
int kept_key(struct actx *a, const struct mr_vcs_file *fp, struct mr_buf *out)
{
	char sha[65] = "";
	if (fp->len > 71 && memcmp(fp->data, "sha256 ", 7) == 0)
		memcpy(sha, (const char *)fp->data + 7, 64);
	if (!sha[0])
		return -1;
	char *dir = state_path(a, "keys"), *file = mr_path_join(dir, sha);
	struct mr_buf e = MR_BUF_INIT;
	struct stat st;
	int rc = mr_root_read(a->root, file, 1u << 20, out, &st, &e) == 0 ? 0 : -1;
	if (rc < 0) {
		/* "etc/exim4/ssl/D.private.fingerprint": the live D.private, if its digest is sha */
		char *live = mr_path_join("/", fp->path);
		live[strlen(live) - 12] = '\0';
		char now[MR_SHA256_HEX];
		mr_buf_reset(&e);
		if (mr_root_read(a->root, live, 1u << 20, out, &st, &e) == 0) {
			mr_sha256_hex(out->ptr ? out->ptr : "", out->len, now);
			rc = strcmp(now, sha) == 0 ? 0 : -1;
			if (rc < 0 && out->ptr)
				explicit_bzero(out->ptr, out->cap);
		}
		free(live);
	}
	mr_buf_release(&e);
	free(file);
	free(dir);
	return rc;
}

int load_revision(struct actx *a, const struct mr_snapshot *files, const char *dir, struct mr_root **rroot,
		  struct mr_live *out, struct mr_diags *d, struct mr_buf *err)
{
	*rroot = NULL;
	mr_root_remove_tree(a->root, dir, err);
	if (mr_root_mkdirs(a->root, dir, 0700, err) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < files->n && rc == 0; i++) {
		const struct mr_vcs_file *f = &files->v[i];
		struct mr_buf p = MR_BUF_INIT, key = MR_BUF_INIT;
		const void *bytes = f->data;
		size_t n = f->len;
		mr_buf_addf(&p, "%s/%s", dir, f->path);
		if (p.len > 12 && strcmp(p.ptr + p.len - 12, ".fingerprint") == 0) {
			/* the key itself when apply kept it; else none (the domain reads without it) */
			p.ptr[p.len - 12] = '\0';
			bytes = kept_key(a, f, &key) == 0 ? key.ptr : NULL;
			n = key.len;
		}
		char *parent = mr_path_dirname(p.ptr);
		if (bytes && mr_root_mkdirs(a->root, parent, 0700, err) == 0) {
			int fd = mr_root_openat(a->root, p.ptr, O_WRONLY | O_CREAT | O_EXCL, 0600);
			if (fd < 0 || write(fd, bytes, n) != (ssize_t)n) {
				mr_buf_addf(err, "cannot write '%s' below the state directory", p.ptr);
				rc = -1;
			}
			if (fd >= 0)
				close(fd);
		}
		free(parent);
		if (key.ptr)
			explicit_bzero(key.ptr, key.cap);
		mr_buf_release(&key);
		mr_buf_release(&p);
	}
	char *full = mr_root_full(a->root, dir);
	if (rc == 0 && (rc = mr_root_open(rroot, full, err)) == 0 &&
	    mr_live_load(out, &(struct mr_live_opts){ .root = *rroot, .layout = a->lv.layout }, d) < 0) {
		mr_live_release(out);
		mr_buf_adds(err, "the revision's files cannot be read as a server");
		rc = -1;
	}
	free(full);
	return rc < 0 ? -1 : 0;
}

/*
 * Name the objects a revision's files differ in from the live ones: the revision is checked
 * and written below STATE_DIR/tmp (root's, 0700; never /tmp), read into a model of its own,
 * and the plan from the live files back to it lists them.  DKIM keys and certificates are
 * left out (a key not kept would look gone).
 */
void rev_objects(struct actx *a, const char *rev, bool drift, struct mr_buf *m)
{
	char *tmp = state_path(a, "tmp");
	struct mr_buf dir = MR_BUF_INIT, err = MR_BUF_INIT;
	mr_buf_addf(&dir, "%s/rev.%ld", tmp, (long)getpid());
	free(tmp);
	struct mr_snapshot files;
	struct mr_root *rroot = NULL;
	struct mr_live head;
	struct mr_diags d = MR_DIAGS_INIT;
	struct mr_plan p;
	memset(&p, 0, sizeof(p));
	bool refused = false, loaded = false;
	if (read_revision(a, rev, &files, &refused, &err) == 0) {
		loaded = load_revision(a, &files, dir.ptr, &rroot, &head, &d, &err) == 0;
		mr_snapshot_release(&files);
	}
	if (loaded) {
		struct mr_plan_input in = { .desired = &head.model, .live = &a->lv, .state_dir = a->state,
					    .no_content = true };
		if (mr_plan_build(&p, &in, &d) >= 0) {
			size_t shown = 0;
			for (size_t i = 0; i < p.nchanges; i++) {
				const struct mr_change *c = &p.changes[i];
				if (c->object == MR_OBJ_DKIM || c->object == MR_OBJ_CERT)
					continue;
				/* the plan restores the revision: for a drift, its create is what the
				 * edit removed; for a rollback, it is what the rollback brings back */
				const char *what = drift ? (c->action == MR_CHANGE_CREATE   ? " removed"
							    : c->action == MR_CHANGE_DELETE ? " added"
											    : " changed")
							 : "";
				const char *sign = drift ? ""
						   : c->action == MR_CHANGE_CREATE ? "+ "
						   : c->action == MR_CHANGE_DELETE ? "- "
										   : "~ ";
				mr_buf_addf(m, "%s  %s%s %s%s", shown++ ? "" : "\nObjects:\n", sign, mr_object_name(c->object),
					    c->object == MR_OBJ_SERVER ? "" : c->id, what);
				for (size_t k = 0; k < c->nattrs && c->action == MR_CHANGE_UPDATE; k++)
					mr_buf_addf(m, "%s%s", k ? ", " : " (", c->attrs[k].name);
				mr_buf_adds(m, c->action == MR_CHANGE_UPDATE && c->nattrs ? ")\n" : "\n");
			}
		}
		mr_live_release(&head);
	} else if (refused) {
		mr_buf_addf(m, "\n(The objects are not listed: %s.)\n", err.ptr);
	}
	mr_plan_release(&p);
	mr_root_close(&rroot);
	mr_diags_release(&d);
	mr_buf_reset(&err);
	mr_root_remove_tree(a->root, dir.ptr, &err);
	mr_buf_release(&err);
	mr_buf_release(&dir);
}

int capture(struct actx *a)
{
	struct mr_buf err = MR_BUF_INIT, notes = MR_BUF_INIT;
	int rc = 0;
	bool committed = false;
	/* an interrupted run's record: its revision and audit lines come first */
	int f = finish_record(a, true);
	if (f < 0)
		return -1;
	/*
	 * The line files as the live load read them, by their blob ids: when every file is as
	 * HEAD has it (a run with no drift, the usual one), none is read a second time -- a
	 * 100,000-mailbox server's 24 MB, a sixth of a no-op apply.  Anything else to record
	 * (drift, or no revision yet) reads them all again, as they are now, and commits that.
	 */
	struct mr_snapshot snap;
	struct mr_pathlist changed = MR_PATHLIST_INIT;
	int r = 0;
	if (mr_snapshot_take(a->root, a->lv.layout, &a->lv, &snap, &notes, &err) < 0) {
		r = -2; /* the full read below says why */
	} else {
		r = mr_history_changed(a->vcs, "HEAD", &snap, &changed, &err);
		if (r != 0 || changed.n || !snap.partial)
			r = -2;
	}
	if (r == -2) {
		mr_snapshot_release(&snap);
		mr_pathlist_release(&changed);
		mr_buf_reset(&err);
		mr_buf_reset(&notes);
		if (mr_snapshot_take(a->root, a->lv.layout, NULL, &snap, &notes, &err) < 0) {
			fprintf(stderr, "mailrecon: %s\n", err.ptr);
			mr_buf_release(&err);
			mr_buf_release(&notes);
			return -1;
		}
		r = mr_history_changed(a->vcs, "HEAD", &snap, &changed, &err);
	}
	/* one warning a line, escaped (a name in ssl/ is whatever was put there) */
	for (const char *l = notes.ptr, *e; l && *l; l = e + 1) {
		e = strchr(l, '\n');
		if (!e)
			e = l + strlen(l) - 1;
		struct mr_buf w = MR_BUF_INIT;
		mr_buf_add_printable(&w, l, (size_t)(e - l) + (*e != '\n'), 0);
		fprintf(stderr, "mailrecon: warning: %s\n", w.ptr ? w.ptr : "");
		mr_buf_release(&w);
	}
	struct mr_buf m = MR_BUF_INIT;
	if (r == 1) {
		mr_buf_adds(&m, "baseline: the live files before mailrecon's first apply\n");
	} else if (r < 0) {
		fprintf(stderr, "mailrecon: cannot read the state repository: %s\n", err.ptr);
		rc = -1;
	} else if (changed.n) {
		a->drift_files = changed.n;
		mr_buf_addf(&m, "drift: %zu file%s changed outside mailrecon\n\nFiles:\n", changed.n, changed.n == 1 ? "" : "s");
		for (size_t i = 0; i < changed.n; i++)
			mr_buf_addf(&m, "  %s\n", changed.v[i]);
		rev_objects(a, "HEAD", true, &m);
	}
	if (rc == 0 && m.len) {
		mr_history_trailers(&m, NULL, actor(a), a->o->host);
		rc = vcs_commit(a, &snap, m.ptr, &committed, &err);
		if (rc < 0)
			fprintf(stderr, "mailrecon: cannot record the live state: %s\n", err.ptr);
		else if (committed)
			say(a, "recorded %s as revision %.12s\n", r == 1 ? "the live files (baseline)" : "drift", a->rev);
	}
	a->rev[0] = '\0';
	mr_buf_release(&m);
	mr_pathlist_release(&changed);
	mr_snapshot_release(&snap);
	mr_buf_release(&err);
	mr_buf_release(&notes);
	return rc;
}
