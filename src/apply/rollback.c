/*
 * rollback: an apply whose target is a revision (design section 7).
 *
 * The revision is untrusted input: every file of it is checked (history.h) before anything
 * is written, and a revision with a file mailrecon does not manage, or one that is not what
 * its name says, is refused (exit 3).  It is then read into a model of its own (below the
 * state directory), and the plan from the live server to that model gives the typed
 * changes, the delete cap and the mailbox homes -- archived when a mailbox goes, restored
 * from the archive when one comes back.  The files themselves become the revision's bytes;
 * the SNI include and map are made from its model; private keys come back from
 * STATE_DIR/keys by their fingerprint.  Everything goes through the same lock, capture
 * (drift is committed first), checks, transaction and record as an apply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply/history.h"
#include "apply/steps.h"
#include "util/xalloc.h"

static size_t count_lines(const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += s[i] == '\n';
	return k;
}

static bool is_fingerprint(const char *path)
{
	size_t n = strlen(path);
	return n > 12 && strcmp(path + n - 12, ".fingerprint") == 0;
}

static const struct mr_codec *meta_of(enum mr_layout lay, const char *path)
{
	const struct mr_codec *c;
	if (mr_history_kind(path + 1, lay, &c) == MR_HIST_LINES)
		return c;
	/* the key directories: Dovecot's copies are root:dovecot; NULL is the Exim user (ssl/) */
	if (strncmp(path, "/etc/dovecot/certs/", 19) == 0 || strncmp(path, MR_SRVCERT_DOVECOT_DIR "/", 21) == 0)
		return &dovecot_cert_meta;
	return NULL;
}

/* The reloads a restored file calls for. */
static void wants_reload(struct stage *s, const char *path, const struct mr_vcs_file *w)
{
	const struct mr_codec *c = meta_of(s->a->lv.layout, path);
	if (c == &mr_codec_postgrey)
		s->reload_postgrey = true;
	if (c == &mr_codec_spamassassin) {
		s->reload_spamd = true;
		if (w) {
			s->local_cf = w->data;
			s->local_cf_len = w->len;
		}
	}
	if (strstr(path, "/certs/") || strstr(path, "/ssl/") || strncmp(path, MR_SRVCERT_DOVECOT_DIR "/", 21) == 0)
		s->reload_dovecot = true;
}

/* Stage the revision's files: what differs from the live ones, what the revision has not. */
static int stage_revision(struct stage *s, const char *id, const struct mr_snapshot *want, const struct mr_snapshot *cur,
			  struct mr_buf *shown, size_t *nchanged, size_t *kept_keys)
{
	struct actx *a = s->a;
	enum mr_layout lay = a->lv.layout;
	for (size_t i = 0; i < want->n; i++) {
		const struct mr_vcs_file *w = &want->v[i];
		const struct mr_vcs_file *c = mr_snapshot_get(cur, w->path);
		if (mr_history_kind(w->path, lay, NULL) == MR_HIST_CONF)
			continue; /* made from the revision's model (the plan's files) */
		if (c && c->len == w->len && memcmp(c->data, w->data, w->len) == 0)
			continue;
		char *path = mr_path_join("/", w->path);
		int rc = 0;
		if (is_fingerprint(w->path)) {
			/* a private key is not in history: it comes back from STATE_DIR/keys by its
			 * fingerprint, where apply kept it before replacing it */
			path[strlen(path) - 12] = '\0';
			struct mr_buf key = MR_BUF_INIT;
			if (kept_key(a, w, &key) == 0) {
				if (c)
					keep_key(a, path);
				mr_buf_addf(shown, "  ~ %s (the key of %.12s, kept in STATE_DIR/keys)\n", path, id);
				if (mr_srvcert_which(path, lay) >= 0)
					mr_txn_replace_link(s->t, path); /* Dovecot's default: the distribution's link */
				rc = stage_bytes(s, path, key.ptr, key.len, meta_of(lay, path), true);
				(*nchanged)++;
				wants_reload(s, path, NULL);
			} else {
				(*kept_keys)++;
				mr_buf_addf(shown, "  ! %s: the key of %.12s is not kept in STATE_DIR/keys; the live one stays\n",
					    path, id);
			}
			if (key.ptr)
				explicit_bzero(key.ptr, key.cap);
			mr_buf_release(&key);
		} else {
			mr_buf_addf(shown, "  %s %s (%zu lines in %.12s, %zu now)\n", c ? "~" : "+", path,
				    count_lines(w->data, w->len), id, c ? count_lines(c->data, c->len) : 0);
			if (mr_srvcert_which(path, lay) >= 0)
				mr_txn_replace_link(s->t, path);
			rc = stage_bytes(s, path, w->data, w->len, meta_of(lay, path), false);
			(*nchanged)++;
			wants_reload(s, path, w);
		}
		free(path);
		if (rc < 0)
			return -1;
	}
	for (size_t i = 0; i < cur->n; i++) {
		const struct mr_vcs_file *c = &cur->v[i];
		/* a revision without the server's certificate had it unmanaged (or was made before
		 * mailrecon recorded it): the live one stays */
		if (mr_snapshot_get(want, c->path) || mr_history_kind(c->path, lay, NULL) == MR_HIST_CONF ||
		    mr_history_is_server_cert(c->path, lay))
			continue;
		char *path = mr_path_join("/", c->path);
		if (is_fingerprint(c->path)) {
			/* a key made after the revision: kept in the store, then removed */
			path[strlen(path) - 12] = '\0';
			keep_key(a, path);
			mr_buf_addf(shown, "  - %s (not in %.12s; kept in STATE_DIR/keys)\n", path, id);
		} else {
			mr_buf_addf(shown, "  - %s (not in %.12s)\n", path, id);
		}
		int rc = mr_txn_unlink(s->t, path, &s->err);
		(*nchanged)++;
		wants_reload(s, path, NULL);
		free(path);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/*
 * The revision's dovecot.passwd, line by line: its bytes are what Dovecot runs deliveries and
 * logins with, so every mailbox line must say what apply itself would write -- the owner's
 * uid and gid (a regular account), the mailbox's place as its home, no field that moves the
 * mail or changes whose it is.  0, or -1 with the first line that does not.
 */
static int check_dovecot(struct actx *a, const struct mr_live *rev, struct mr_buf *err)
{
	const struct mr_live_file *f = &rev->files[MR_FILE_DOVECOT_PASSWD];
	for (size_t i = 0; i < f->cf.nlines; i++) {
		const struct mr_line *l = &f->cf.lines[i];
		if (l->kind != MR_LINE_RECORD)
			continue;
		const char *key = mr_line_key(l), *at = strrchr(key, '@');
		const struct mr_domain *d = at ? mr_model_domain(&rev->model, at + 1) : NULL;
		const struct mr_sysaccount *acc = d && d->owner ? mr_sysaccount_get(&a->acc, d->owner) : NULL;
		const char *why = NULL;
		struct mr_buf place = MR_BUF_INIT;
		int64_t uid = -1, gid = -1;
		const char *uids = mr_line_field(l, MR_F_DOVECOT_UID), *gids = mr_line_field(l, MR_F_DOVECOT_GID);
		if (uids)
			mr_codec_parse_uint(uids, 4294967294LL, &uid);
		if (gids)
			mr_codec_parse_uint(gids, 4294967294LL, &gid);
		if (!acc)
			why = "its domain's owner has no system account";
		else if (uid != acc->uid || gid != acc->gid || uid < a->acc.uid_min)
			why = "its uid and gid are not those of its domain's owner (a regular account)";
		if (!why) {
			/* the place: /var/www/OWNER/data/email/DOMAIN/LOCAL */
			mr_buf_addf(&place, "/var/www/%s/data/email/%s/%.*s", d->owner, d->name, (int)(at - key), key);
			const char *home = mr_line_field(l, MR_F_DOVECOT_HOME), *extra = mr_line_field(l, MR_F_DOVECOT_EXTRA);
			if (!home || !mr_home_is(home, place.ptr))
				why = "its home is not the mailbox's place";
			else if (extra && extra[0] == ':')
				why = "it has the old nine-field form, which names a mail location";
			else if (extra) {
				char *copy = xstrdup(extra), *save = NULL;
				for (char *t = strtok_r(copy, " \t", &save); t && !why; t = strtok_r(NULL, " \t", &save))
					if (mr_dovecot_override(t))
						why = "a field of it moves the mail or changes whose it is";
				free(copy);
			}
		}
		mr_buf_release(&place);
		if (why) {
			mr_buf_addf(err, "'%s' line %u (mailbox '%s'): %s", f->cf.path, l->lineno, key, why);
			return -1;
		}
	}
	return 0;
}

int mr_rollback_run(const struct mr_apply_opts *o, const char *rev)
{
	struct actx a;
	if (actx_init(&a, o) < 0)
		return EXIT_ERROR;
	int rc = EXIT_OK, lockfd = -1;
	struct mr_buf err = MR_BUF_INIT;
	struct mr_snapshot want = { NULL, 0, 0 }, cur = { NULL, 0, 0 };
	struct mr_vcs_entry e;
	char **paths = NULL;
	size_t np = 0;
	struct mr_root *rroot = NULL;
	struct mr_live revlive;
	bool have_rev = false, refused = false;
	struct mr_diags rd = MR_DIAGS_INIT;
	struct mr_plan p;
	struct stage s;
	memset(&s, 0, sizeof(s));
	memset(&p, 0, sizeof(p));
	memset(&e, 0, sizeof(e));
	char *tmpdir = NULL;
	if ((rc = take_state(&a, "rollback", &lockfd)) != 0)
		goto out;
	if (open_history(&a, false, "rollback") < 0) {
		rc = EXIT_ERROR;
		goto out;
	}
	/* only a revision mailrecon made: it has mailrecon's trailer */
	if (mr_vcs_show(a.vcs, rev, &e, &paths, &np, &err) < 0) {
		fprintf(stderr, "mailrecon: rollback: %s\n", err.ptr);
		rc = EXIT_ERROR;
		goto out;
	}
	struct mr_buf msg = MR_BUF_INIT;
	mr_buf_addf(&msg, "%s\n\n%s", e.subject, e.body);
	char ver[64];
	bool ours = mr_vcs_trailer(msg.ptr, MR_HISTORY_TRAILER, ver, sizeof(ver));
	mr_buf_release(&msg);
	if (!ours) {
		fprintf(stderr, "mailrecon: rollback: refused: %.12s is not a mailrecon revision (no %s trailer)\n", e.id,
			MR_HISTORY_TRAILER);
		rc = EXIT_REFUSED;
		goto out;
	}
	/* the live server as it is, recorded first (drift committed on its own) */
	a.have_live = true;
	a.have_acc = true;
	if (mr_live_load(&a.lv, &(struct mr_live_opts){ .root = a.root, .layout = o->layout }, &a.errors) < 0 ||
	    mr_accounts_load(&a.acc, a.root, &a.errors) < 0) {
		mr_diags_print(&a.errors, stderr);
		fprintf(stderr, "mailrecon: rollback: the live files could not be read; nothing was changed\n");
		rc = EXIT_ERROR;
		goto out;
	}
	if (capture(&a) < 0) {
		rc = EXIT_ERROR;
		goto out;
	}
	/* the revision, checked file by file before a byte of it is written */
	mr_buf_reset(&err);
	if (read_revision(&a, e.id, &want, &refused, &err) < 0) {
		fprintf(stderr, "mailrecon: rollback: %s%s; nothing was changed\n",
			refused ? "refused: the revision cannot be used: " : "", err.ptr ? err.ptr : "cannot read it");
		rc = refused ? EXIT_REFUSED : EXIT_ERROR;
		goto out;
	}
	struct mr_buf notes = MR_BUF_INIT;
	if (mr_snapshot_take(a.root, a.lv.layout, NULL, &cur, &notes, &err) < 0) {
		fprintf(stderr, "mailrecon: rollback: %s\n", err.ptr);
		mr_buf_release(&notes);
		rc = EXIT_ERROR;
		goto out;
	}
	mr_buf_release(&notes);
	char *t = state_path(&a, "tmp");
	struct mr_buf d = MR_BUF_INIT;
	mr_buf_addf(&d, "%s/rollback.%ld", t, (long)getpid());
	free(t);
	tmpdir = mr_buf_detach(&d);
	if (load_revision(&a, &want, tmpdir, &rroot, &revlive, &rd, &err) < 0) {
		fprintf(stderr, "mailrecon: rollback: %s; nothing was changed\n", err.ptr);
		rc = EXIT_ERROR;
		goto out;
	}
	have_rev = true;
	mr_buf_reset(&err);
	if (check_dovecot(&a, &revlive, &err) < 0) {
		fprintf(stderr, "mailrecon: rollback: refused: the revision cannot be used: %s; nothing was changed\n", err.ptr);
		rc = EXIT_REFUSED;
		goto out;
	}
	/* the typed changes, the delete cap and the homes: a plan whose target is the revision */
	struct mr_plan_input in = { .desired = &revlive.model, .live = &a.lv, .accounts = &a.acc, .state_dir = a.state,
				    .stamp = a.stamp, .restore = true, .archive = archive_view(&a),
				    .homes_left = &a.homes_left.map };
	int prc = mr_plan_build(&p, &in, &a.errors);
	if (prc < 0) {
		mr_diags_sort(&a.errors);
		mr_diags_print(&a.errors, stderr);
		fprintf(stderr, "mailrecon: rollback: no plan to %.12s; nothing was changed\n", e.id);
		rc = EXIT_ERROR;
		goto out;
	}
	stage_init(&s, &a);
	stage_expect_live(&s);
	struct mr_buf shown = MR_BUF_INIT, text = MR_BUF_INIT, made = MR_BUF_INIT;
	size_t nchanged = 0, kept_keys = 0;
	struct mr_plan view = p;
	view.nfiles = 0; /* the files are the revision's, listed below */
	if (p.nchanges || p.nhomes) {
		mr_plan_print_text(&view, NULL, o->color, &text);
		mr_plan_print_text_as(&view, NULL, false, MR_PLAN_MADE, &made); /* for the revision */
	}
	bool staged = stage_homes(&s, &p, HOMES_BEFORE_FILES) == 0 &&
		      stage_revision(&s, e.id, &want, &cur, &shown, &nchanged, &kept_keys) == 0 &&
		      stage_drop_staged_keys(&s, &shown, &nchanged) == 0;
	for (size_t i = 0; staged && i < p.nfiles; i++) {
		const struct mr_file_change *f = &p.files[i];
		if (f->file_id != MR_FILE_ID_CONFIG)
			continue;
		mr_buf_addf(&shown, "  ~ %s (made from %.12s's certificates)\n", f->path, e.id);
		staged = stage_bytes(&s, f->path, f->content, f->len, &conf_meta, false) == 0;
		s.reload_dovecot |= f->conf_id == MR_CONF_DOVECOT_SNI;
		nchanged++;
	}
	staged = staged && stage_homes(&s, &p, HOMES_AFTER_FILES) == 0;
	if (o->verbosity >= 0 || o->confirm) { /* a question comes with what it is about */
		struct mr_buf subj = MR_BUF_INIT;
		mr_buf_adds_printable(&subj, e.subject); /* the repository's text: escaped */
		printf("Rollback to revision %.12s: %s\n\n%s", e.id, subj.ptr ? subj.ptr : "", text.len ? text.ptr : "");
		mr_buf_release(&subj);
		if (nchanged || kept_keys)
			printf("\nFiles:\n%s\n", shown.ptr);
		if (nchanged || p.nhomes)
			printf("%zu file%s to restore.\n", nchanged, nchanged == 1 ? "" : "s");
		else
			printf("No changes: the live files are those of %.12s.\n", e.id);
		fflush(stdout);
	}
	size_t dels = p.del_users + p.del_domains + p.del_mailboxes;
	if (!staged) {
		fprintf(stderr, "mailrecon: rollback: %s; nothing was changed\n", s.err.ptr ? s.err.ptr : "staging failed");
		rc = EXIT_ERROR;
	} else if (o->allow_delete >= 0 && dels > (size_t)o->allow_delete) {
		fprintf(stderr,
			"mailrecon: rollback: refused: going back to %.12s deletes %zu user%s, %zu domain%s and %zu mailbox%s "
			"(shown above); --allow-delete=%ld allows %ld; nothing was changed\n",
			e.id, p.del_users, p.del_users == 1 ? "" : "s", p.del_domains, p.del_domains == 1 ? "" : "s",
			p.del_mailboxes, p.del_mailboxes == 1 ? "" : "es", o->allow_delete, o->allow_delete);
		rc = EXIT_REFUSED;
	} else if ((nchanged || p.nhomes) && o->confirm && !o->confirm()) {
		fprintf(stderr, "mailrecon: rollback cancelled; nothing was changed\n");
		rc = EXIT_REFUSED;
	} else if (nchanged || p.nhomes) {
		struct mr_buf m = MR_BUF_INIT, src = MR_BUF_INIT, line = MR_BUF_INIT;
		mr_buf_addf(&m, "rollback to %.12s\n\n%s\n\n%s\nFiles:\n%s", e.id, e.subject, made.len ? made.ptr : "",
			    shown.ptr ? shown.ptr : "");
		mr_buf_addf(&src, "revision %s", e.id);
		mr_history_trailers(&m, src.ptr, actor(&a), o->host);
		mr_buf_addf(&line, "revision %.12s rollback", e.id);
		if (stage_record(&s, m.ptr, &p, line.ptr) < 0) {
			fprintf(stderr, "mailrecon: rollback: %s; nothing was changed\n", s.err.ptr);
			rc = EXIT_ERROR;
		} else if (checks(&a, &s) < 0) {
			fprintf(stderr, "mailrecon: rollback: a check failed; nothing was changed\n");
			rc = EXIT_ERROR;
		} else {
			int c = mr_txn_commit(s.t, &s.err);
			if (c < 0) {
				fprintf(stderr, "mailrecon: rollback: %s\n", s.err.ptr);
				rc = c == MR_TXN_CHANGED ? EXIT_REFUSED : EXIT_ERROR;
			} else {
				homes_left_alone(&s);
				homes_left_save(&a, &p, s.t);
				mr_txn_free(&s.t);
				if (finish_record(&a, false) < 0)
					rc = EXIT_ERROR;
				if (reloads(&a, &s) < 0)
					rc = EXIT_ERROR;
				/* the summary line: printed with -q too */
				printf("%sRollback complete: the state of revision %.12s; %zu file%s written.\n",
				       o->verbosity < 0 ? "" : "\n", e.id, s.written,
				    s.written == 1 ? "" : "s");
				if (s.refused_homes) {
					fprintf(stderr, "mailrecon: rollback: the storage of %zu mailbox%s was left alone (see above)\n",
						s.refused_homes, s.refused_homes == 1 ? "" : "es");
					rc = EXIT_ERROR;
				}
			}
		}
		mr_buf_release(&m);
		mr_buf_release(&src);
		mr_buf_release(&line);
	}
	mr_buf_release(&shown);
	mr_buf_release(&text);
	mr_buf_release(&made);
out:
	if (s.t)
		mr_txn_abort(&s.t);
	mr_buf_release(&s.err);
	mr_plan_release(&p);
	if (have_rev)
		mr_live_release(&revlive);
	mr_root_close(&rroot);
	if (tmpdir) {
		mr_buf_reset(&err);
		mr_root_remove_tree(a.root, tmpdir, &err);
		free(tmpdir);
	}
	mr_diags_release(&rd);
	mr_vcs_paths_free(paths, np);
	mr_vcs_entry_release(&e);
	mr_snapshot_release(&want);
	mr_snapshot_release(&cur);
	actx_release(&a);
	mr_buf_release(&err);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
