/*
 * homes: the plan's mailbox homes (plan.h struct mr_home_change) as operations of the same
 * journal as the files (txn.c), so a crash at any point converges and a home is never lost
 * or left half made.  Before the files switch: homes made, moved to a new owner, restored
 * from the archive; after: homes archived or purged.
 *
 * Every path here is exactly /var/www/OWNER/data/email/DOMAIN/LOCAL of a mailbox of the
 * model or an entry STATE_DIR/archive/ADDRESS/STAMP -- the plan computes them from names,
 * never from a live line -- and is reached without following a link a tenant could make
 * (rootfs).  A home that cannot be reached that way (a tenant made a directory on the way a
 * link, or put a file where the home should be) is a finding: that mailbox's storage is
 * left alone, the rest of the apply goes on, the run ends with exit 1, and STATE_DIR/
 * homes-left makes the next plans try again.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply/steps.h"
#include "util/xalloc.h"

/* The owner's uid and gid, or -1 with a message. */
static int owner_ids(struct stage *s, const char *owner, int64_t *uid, int64_t *gid)
{
	const struct mr_sysaccount *acc = owner ? mr_sysaccount_get(&s->a->acc, owner) : NULL;
	if (!acc) {
		mr_buf_addf(&s->err, "the owner '%s' has no system account in /etc/passwd: its mailbox homes cannot be made",
			    owner ? owner : "(unknown)");
		return -1;
	}
	if (acc->uid == 0 || acc->gid == 0) {
		mr_buf_addf(&s->err, "the owner '%s' is root's (uid %lld, gid %lld): mail never belongs to root", owner,
			    (long long)acc->uid, (long long)acc->gid);
		return -1;
	}
	*uid = acc->uid;
	*gid = acc->gid;
	return 0;
}

/* 1: a directory is at path, reached without a link; 0: nothing is there; -1: something
 * else (a link on the way, a file, a FIFO): refused, said. */
static int look(struct stage *s, const struct mr_home_change *h, const char *path, const char *what)
{
	struct stat st;
	int r = mr_root_lstat(s->a->root, path, &st);
	if (r == -ENOENT)
		return 0;
	if (r == 0 && S_ISDIR(st.st_mode))
		return 1;
	char *shown = mr_root_full(s->a->root, path);
	fprintf(stderr, "mailrecon: warning: the storage of '%s' is left alone: %s '%s' %s\n", h->address, what, shown,
		r == -ELOOP	 ? "is a symbolic link or is reached through one"
		: r == -ENOTDIR ? "is reached through something that is not a directory"
		: r < 0		 ? strerror(-r)
				 : "is not a directory");
	free(shown);
	s->refused_homes++;
	return -1;
}

/* Whether a home was made at path: a directory there, reached without a link (a tenant's
 * link or file at a home's place is not one, whatever it points at). */
static bool made_home(struct mr_root *root, const char *path)
{
	struct stat st;
	return mr_root_lstat(root, path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *domain_dir(const char *home)
{
	return mr_path_dirname(home);
}

/* The last domain directory found missing, for look_home (homes come domain by domain). */
struct missing_dir {
	struct mr_buf path;
};

/*
 * look() of a home to make, for which a missing domain directory says enough: every home of
 * a domain that is not there yet (a first apply) costs one lookup per domain, not one per
 * mailbox.  The transaction checks each home again (mr_txn_mkhome, and at commit), so this
 * is only the early "left alone" of a home a tenant made impossible to reach.
 */
static int look_home(struct stage *s, const struct mr_home_change *h, struct missing_dir *md)
{
	const char *slash = strrchr(h->path, '/');
	size_t dl = slash ? (size_t)(slash - h->path) : 0;
	if (dl && md->path.len == dl && memcmp(md->path.ptr, h->path, dl) == 0)
		return 0;
	struct stat st;
	if (dl) {
		mr_buf_reset(&md->path);
		mr_buf_add(&md->path, h->path, dl);
		if (mr_root_lstat(s->a->root, md->path.ptr, &st) == -ENOENT)
			return 0;
		mr_buf_reset(&md->path); /* there (or not a directory): each home is looked at */
	}
	return look(s, h, h->path, "the home");
}

static int before_files(struct stage *s, const struct mr_home_change *h, struct missing_dir *md)
{
	int64_t uid, gid;
	if (owner_ids(s, h->owner, &uid, &gid) < 0)
		return -1;
	int there = h->op == MR_HOME_MAKE ? look_home(s, h, md) : look(s, h, h->path, "the home");
	if (there < 0)
		return 0;
	bool moved = false;
	struct stat fst;
	const char *src = h->from;
	if (h->op == MR_HOME_MOVE && h->also_from && mr_root_lstat(s->a->root, h->also_from, &fst) != -ENOENT) {
		if (!made_home(s->a->root, h->from)) {
			/* the live home was never made (what a tenant put at its place, a link or a
			 * file, is no home): the mail is where it was left.  What is at the live
			 * place is left as it is, and said: mail Dovecot delivered through a link
			 * there went where it points, which is not moved */
			struct stat lst;
			int lr = mr_root_lstat(s->a->root, h->from, &lst);
			if (lr == 0 || lr == -ELOOP || lr == -ENOTDIR) { /* ELOOP: a link on the way */
				char *f = mr_root_full(s->a->root, h->from);
				fprintf(stderr,
					"mailrecon: warning: '%s', the live home of '%s', is %s, not a home: it is left as "
					"it is, and what was delivered through it is not moved\n",
					f, h->address,
					lr == -ELOOP		 ? "reached through a symbolic link"
					: lr == -ENOTDIR	 ? "reached through something that is not a directory"
					: S_ISLNK(lst.st_mode) ? "a symbolic link"
								 : "not a directory");
				free(f);
			}
			src = h->also_from;
		} else {
			char *a = mr_root_full(s->a->root, h->also_from), *b = mr_root_full(s->a->root, h->from);
			fprintf(stderr, "mailrecon: warning: the storage of '%s' is left alone: '%s', left behind by an "
					"earlier apply, is not moved: its mail is in '%s' now too\n",
				h->address, a, b);
			free(a);
			free(b);
			s->refused_homes++;
		}
	}
	if (h->op != MR_HOME_MAKE && there == 0) {
		/* the home's domain directory first (the new owner's), then the move itself */
		int from = look(s, h, src, h->op == MR_HOME_MOVE ? "the old home" : "the archive entry");
		if (from < 0)
			return 0;
		char *dir = domain_dir(h->path);
		int rc = mr_txn_mkhome(s->t, dir, uid, gid, &s->err);
		free(dir);
		if (rc < 0 || (from > 0 && mr_txn_mvhome(s->t, src, h->path, uid, gid, &moved, &s->err) < 0))
			return -1;

	} else if (h->op != MR_HOME_MAKE && mr_root_lstat(s->a->root, src, &fst) != -ENOENT) {
		/* the new place was made by someone else first and the old one is still there: the
		 * mail stays where it is, said, and the run ends with exit 1 (the new home is not
		 * where the mail is).  With nothing at the old place there is nothing to move. */
		char *shown = mr_root_full(s->a->root, h->path), *f = mr_root_full(s->a->root, src);
		fprintf(stderr, "mailrecon: warning: the storage of '%s' is left alone: '%s' exists already, so '%s' is "
				"not moved there\n",
			h->address, shown, f);
		free(shown);
		free(f);
		s->refused_homes++;
	}
	if (!moved && mr_txn_mkhome(s->t, h->path, uid, gid, &s->err) < 0)
		return -1;
	return 0;
}

static int after_files(struct stage *s, const struct mr_home_change *h)
{
	int there = look(s, h, h->path, "the home");
	if (there <= 0)
		return 0; /* nothing there (or refused, said): nothing to archive */
	if (h->op == MR_HOME_PURGE)
		return mr_txn_purge(s->t, h->path, &s->err);
	return mr_txn_mvhome(s->t, h->path, h->to, -1, -1, NULL, &s->err);
}

void homes_left_alone(struct stage *s)
{
	size_t n;
	const char *notes = mr_txn_notes(s->t, &n), *done = mr_txn_done(s->t);
	if (done)
		say(s->a, "%s", done);
	if (!notes)
		return;
	s->refused_homes += n;
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_adds_printable(&b, notes);
	fprintf(stderr, "mailrecon: warning:%s\n", b.ptr);
	mr_buf_release(&b);
}

int stage_homes(struct stage *s, const struct mr_plan *p, int when)
{
	struct missing_dir md = { MR_BUF_INIT };
	int rc = 0;
	for (size_t i = 0; i < p->nhomes && rc == 0; i++) {
		const struct mr_home_change *h = &p->homes[i];
		bool before = h->op == MR_HOME_MAKE || h->op == MR_HOME_MOVE || h->op == MR_HOME_RESTORE;
		if (before != (when == HOMES_BEFORE_FILES))
			continue;
		if ((before ? before_files(s, h, &md) : after_files(s, h)) < 0)
			rc = -1;
	}
	mr_buf_release(&md.path);
	return rc;
}

/* ---- homes left for a later apply ---- */

#define HOMES_LEFT "homes-left"

void mr_homes_left_read(struct mr_root *root, const char *state_dir, struct mr_homes_left *out)
{
	memset(out, 0, sizeof(*out));
	char *path = mr_path_join(state_dir, HOMES_LEFT);
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	if (mr_root_read(root, path, 16u << 20, &data, &st, &err) == 0 && data.ptr) {
		out->data = mr_buf_detach(&data);
		for (char *l = out->data, *e; *l; l = e + 1) {
			e = strchr(l, '\n');
			if (!e)
				break;
			*e = '\0';
			char *sp = strchr(l, ' ');
			if (sp)
				*sp = '\0';
			if (*l && !mr_strmap_get(&out->map, l, strlen(l))) {
				mr_strmap_put_new(&out->map, l, strlen(l), sp ? sp + 1 : e);
				out->addr = xrealloc(out->addr, (out->n + 1) * sizeof(*out->addr));
				out->addr[out->n++] = l;
			}
		}
	}
	mr_buf_release(&data);
	mr_buf_release(&err);
	free(path);
}

void mr_homes_left_release(struct mr_homes_left *h)
{
	mr_strmap_release(&h->map);
	free(h->addr);
	free(h->data);
	memset(h, 0, sizeof(*h));
}

/*
 * After the commit: every home the plan made, moved or restored that is not a directory at its
 * place now, and every move or restore whose source is still there (left alone: a tenant's
 * tree was in the way, or the new place was taken), is written down, so the next plan tries
 * again -- and says so again, with exit 1, until it is done; an empty set removes the file.
 */
int homes_left_save(struct actx *a, const struct mr_plan *p, const struct mr_txn *t)
{
	struct mr_buf b = MR_BUF_INIT, err = MR_BUF_INIT;
	for (size_t k = 0; (a->o->scope || a->ntargets) && k < a->homes_left.n; k++) {
		/* a scoped or targeted run leaves the others' entries as they are: those it had no operation for */
		const char *l = a->homes_left.addr[k];
		bool planned = false;
		for (size_t i = 0; i < p->nhomes && !planned; i++)
			planned = strcmp(p->homes[i].address, l) == 0;
		const char *rest = mr_strmap_get(&a->homes_left.map, l, strlen(l));
		if (!planned && rest)
			mr_buf_addf(&b, "%s%s%s\n", l, *rest ? " " : "", rest);
	}
	for (size_t i = 0; i < p->nhomes; i++) {
		const struct mr_home_change *h = &p->homes[i];
		struct stat st;
		/* a home this commit made or found in place is not looked at again */
		bool missing = !(h->op == MR_HOME_MAKE && mr_txn_home_ready(t, h->path)) && !made_home(a->root, h->path);
		/* a move or restore whose source is still there did not happen, whatever is at the
		 * new place now (another directory, which the mail was not moved into) */
		bool stuck = (h->op == MR_HOME_MOVE || h->op == MR_HOME_RESTORE) && h->from &&
			     mr_root_lstat(a->root, h->from, &st) != -ENOENT;
		/* the source still there: the live home, or else the one left behind before (a live
		 * place that holds no home, a tenant's link or file, is not where the mail is) */
		const char *src = h->from;
		if (h->op == MR_HOME_MOVE && h->also_from && mr_root_lstat(a->root, h->also_from, &st) != -ENOENT) {
			stuck = true;
			if (!made_home(a->root, h->from) || !missing)
				src = h->also_from;
		}
		if ((h->op == MR_HOME_MAKE && missing) || ((h->op == MR_HOME_MOVE || h->op == MR_HOME_RESTORE) &&
							   (missing || stuck))) {
			/* the old owner's name out of /var/www/OWNER/data/email/... (the plan made it) */
			const char *o = h->op == MR_HOME_MOVE && src && strncmp(src, "/var/www/", 9) == 0 ? src + 9 : NULL;
			const char *oe = o ? strchr(o, '/') : NULL;
			if (oe)
				mr_buf_addf(&b, "%s move %.*s\n", h->address, (int)(oe - o), o);
			else
				mr_buf_addf(&b, "%s%s\n", h->address, h->op == MR_HOME_RESTORE ? " restore" : "");
		}
	}
	char *path = state_path(a, HOMES_LEFT);
	int rc = 0;
	if (!b.len) {
		int r = mr_root_unlink(a->root, path);
		rc = r == 0 || r == -ENOENT ? 0 : -1;
	} else {
		char *tmp = state_path(a, HOMES_LEFT ".tmp");
		mr_root_unlink(a->root, tmp);
		int fd = mr_root_openat(a->root, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
		rc = fd >= 0 && write(fd, b.ptr, b.len) == (ssize_t)b.len && fsync(fd) == 0 ? 0 : -1;
		if (fd >= 0)
			close(fd);
		if (rc == 0)
			rc = mr_root_rename(a->root, tmp, path, false) == 0 ? 0 : -1;
		free(tmp);
	}
	if (rc < 0)
		fprintf(stderr, "mailrecon: warning: cannot keep the list of homes left for the next apply in '%s'\n", path);
	free(path);
	mr_buf_release(&b);
	mr_buf_release(&err);
	return rc;
}

/* ---- the archive, as the plan sees it ---- */

static const char *archive_newest(void *ctx, const char *address)
{
	struct mr_archive *a = ctx;
	struct mr_buf dir = MR_BUF_INIT;
	mr_buf_addf(&dir, "%s/archive/%s", a->state_dir, address);
	struct mr_pathlist names = MR_PATHLIST_INIT;
	const char *newest = NULL;
	if (mr_root_list(a->root, dir.ptr, &names) == 0) {
		/* entries are STAMP or STAMP-N: the newest is the greatest stamp, then N */
		const char *best = NULL;
		long best_n = 0;
		for (size_t i = 0; i < names.n; i++) {
			const char *s = names.v[i];
			if (strlen(s) < 16 || s[8] != 'T' || s[0] == '.')
				continue;
			const char *dash = strchr(s, '-');
			long n = dash ? strtol(dash + 1, NULL, 10) : 1;
			int c = best ? strncmp(s, best, 16) : 1;
			if (c > 0 || (c == 0 && n > best_n)) {
				best = s;
				best_n = n;
			}
		}
		if (best) {
			char *e = mr_path_join(dir.ptr, best);
			mr_pathlist_add(&a->names, e);
			free(e);
			newest = a->names.v[a->names.n - 1];
		}
	}
	mr_pathlist_release(&names);
	mr_buf_release(&dir);
	return newest;
}

static bool archive_taken(void *ctx, const char *entry)
{
	struct mr_archive *a = ctx;
	struct stat st;
	return mr_root_lstat(a->root, entry, &st) != -ENOENT;
}

struct mr_archive_view mr_archive_view(struct mr_archive *ar)
{
	return (struct mr_archive_view){ archive_newest, archive_taken, ar };
}

void mr_archive_release(struct mr_archive *ar)
{
	mr_pathlist_release(&ar->names);
}

/* ---- the DMARC template the last apply used (apply.h) ---- */

static bool dmarc_template_ok(const char *s, size_t n)
{
	if (n == 0 || n > 1024 || strncmp(s, "v=DMARC1", 8) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

char *mr_dmarc_applied(struct mr_root *root, const char *state_dir)
{
	char *path = mr_path_join(state_dir, MR_DMARC_STATE);
	struct mr_buf b = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	char *out = NULL;
	if (mr_root_read(root, path, 4096, &b, &st, &err) == 0 && b.len && b.ptr[b.len - 1] == '\n' &&
	    dmarc_template_ok(b.ptr, b.len - 1))
		out = xstrndup(b.ptr, b.len - 1);
	mr_buf_release(&b);
	mr_buf_release(&err);
	free(path);
	return out;
}

int mr_dmarc_record(struct mr_root *root, const char *state_dir, const char *tmpl)
{
	char *now = mr_dmarc_applied(root, state_dir);
	bool same = now && strcmp(now, tmpl) == 0;
	free(now);
	if (same || !dmarc_template_ok(tmpl, strlen(tmpl)))
		return 0;
	char *path = mr_path_join(state_dir, MR_DMARC_STATE), *tmp = mr_path_join(state_dir, MR_DMARC_STATE ".tmp");
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_addf(&b, "%s\n", tmpl);
	mr_root_unlink(root, tmp);
	int fd = mr_root_openat(root, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	int rc = fd >= 0 && write(fd, b.ptr, b.len) == (ssize_t)b.len && fsync(fd) == 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		rc = mr_root_rename(root, tmp, path, false) == 0 ? 0 : -1;
	else
		mr_root_unlink(root, tmp);
	if (rc < 0)
		fprintf(stderr, "mailrecon: warning: cannot record the DMARC template in '%s'\n", path);
	free(path);
	free(tmp);
	mr_buf_release(&b);
	return rc;
}
