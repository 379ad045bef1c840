#include "vcs/vcs.h"
#include "util/rootfs.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <git2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "load/desired.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define MISSING "no state repository yet"
#define DEFAULT_AUTHOR "mailrecon"
#define DEFAULT_EMAIL "mailrecon@localhost"
#define DEFAULT_MESSAGE "mailrecon snapshot"

struct mr_vcs {
	git_repository *repo;
	char *dir;
	char *label; /* "the state repository 'DIR'", for messages */
};

/* git's own lock files: one left behind means a writer is running, or died mid-write */
static const char *const lock_files[] = {
	"HEAD.lock", MR_VCS_BRANCH ".lock", "config.lock", "packed-refs.lock", NULL,
};

/* The message, then ": " and what libgit2 said went wrong. */
__attribute__((format(printf, 2, 3))) static void git_fail(struct mr_buf *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mr_buf_vaddf(err, fmt, ap);
	va_end(ap);
	const git_error *e = git_error_last();
	mr_buf_addf(err, ": %s", e && e->message ? e->message : "unknown libgit2 error");
}

static void oid_hex(char out[41], const git_oid *id)
{
	git_oid_tostr(out, 41, id);
}

/*
 * Whether the loose object id of repo (when it is one) inflates to its end.  libgit2 1.5
 * loops forever on a truncated loose object (libgit2 issue #7342, fixed long after 1.5), so
 * every object read here is checked first: a damaged repository must give an error, not a
 * hung timer that holds the apply lock.  A packed or absent object is left to libgit2.
 * label names the repository in the message ("the state repository '/x'").
 */
static int intact(git_repository *repo, const git_oid *id, const char *label, struct mr_buf *err)
{
	char hex[41];
	oid_hex(hex, id);
	struct mr_buf path = MR_BUF_INIT;
	mr_buf_addf(&path, "%sobjects/%.2s/%s", git_repository_path(repo), hex, hex + 2);
	int fd = open(path.ptr, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	mr_buf_release(&path);
	if (fd < 0)
		return 0;
	z_stream z;
	memset(&z, 0, sizeof(z));
	int zr = inflateInit(&z);
	unsigned char in[16384], out[16384];
	while (zr == Z_OK) {
		ssize_t n = read(fd, in, sizeof(in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		z.next_in = in;
		z.avail_in = (uInt)n;
		do {
			z.next_out = out;
			z.avail_out = sizeof(out);
			zr = inflate(&z, Z_NO_FLUSH);
		} while (zr == Z_OK && z.avail_out == 0);
		if (zr == Z_BUF_ERROR)
			zr = Z_OK; /* wants more input */
	}
	inflateEnd(&z);
	close(fd);
	if (zr == Z_STREAM_END)
		return 0;
	mr_buf_addf(err, "%s is corrupted: the object %s is truncated or damaged", label, hex);
	return -1;
}

/* The object id of type (checked with intact() first) into *out; err names label. */
static int lookup(git_object **out, git_repository *repo, const git_oid *id, git_object_t type,
		  const char *label, struct mr_buf *err)
{
	*out = NULL;
	if (intact(repo, id, label, err) < 0)
		return -1;
	if (git_object_lookup(out, repo, id, type) < 0) {
		char hex[41];
		oid_hex(hex, id);
		git_fail(err, "%s is corrupted: cannot read the %s %s", label, git_object_type2string(type),
			 hex);
		return -1;
	}
	return 0;
}

static int tree_lookup(git_tree **out, git_repository *repo, const git_oid *id, const char *label,
		       struct mr_buf *err)
{
	return lookup((git_object **)out, repo, id, GIT_OBJECT_TREE, label, err);
}

/* 1 when dir holds nothing, 0 when it holds something, -1 (errno set) when unreadable. */
static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static int check_locks(struct mr_vcs *v, struct mr_buf *err)
{
	const char *gitdir = git_repository_path(v->repo); /* ends with '/' */
	for (size_t i = 0; lock_files[i]; i++) {
		struct mr_buf p = MR_BUF_INIT;
		mr_buf_addf(&p, "%s%s", gitdir, lock_files[i]);
		struct stat st;
		int locked = lstat(p.ptr, &st) == 0;
		if (locked)
			mr_buf_addf(err, "the state repository '%s' is locked by another process (%s exists)",
				    v->dir, p.ptr);
		mr_buf_release(&p);
		if (locked)
			return -1;
	}
	return 0;
}

int mr_vcs_clear_stale_locks(struct mr_root *root, const char *repo_dir, struct mr_buf *done)
{
	int rc = 0;
	for (size_t i = 0; lock_files[i]; i++) {
		struct mr_buf p = MR_BUF_INIT;
		mr_buf_addf(&p, "%s/%s", repo_dir, lock_files[i]);
		struct stat st;
		if (mr_root_lstat(root, p.ptr, &st) == 0 && S_ISREG(st.st_mode)) {
			if (mr_root_unlink(root, p.ptr) == 0)
				mr_buf_addf(done, "%s%s", done->len ? ", " : "", lock_files[i]);
			else
				rc = -1;
		}
		mr_buf_release(&p);
	}
	return rc;
}

/* 0 with *out the commit HEAD names, 1 when there is no commit yet, -1 when HEAD is unreadable. */
static int head_commit(struct mr_vcs *v, git_commit **out, struct mr_buf *err)
{
	*out = NULL;
	git_reference *ref = NULL;
	int rc = git_repository_head(&ref, v->repo);
	if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND)
		return 1;
	if (rc < 0) {
		git_fail(err, "%s is corrupted: cannot read HEAD", v->label);
		return -1;
	}
	if (git_reference_target(ref) && intact(v->repo, git_reference_target(ref), v->label, err) < 0) {
		git_reference_free(ref);
		return -1;
	}
	git_object *o = NULL;
	rc = git_reference_peel(&o, ref, GIT_OBJECT_COMMIT);
	if (rc < 0) {
		char hex[41] = "";
		if (git_reference_target(ref))
			oid_hex(hex, git_reference_target(ref));
		git_fail(err, "%s is corrupted: cannot read HEAD's commit %s", v->label, hex);
	}
	git_reference_free(ref);
	if (rc < 0)
		return -1;
	*out = (git_commit *)o;
	return 0;
}

/* HEAD -> commit -> tree must all be readable in a repository we are about to trust. */
static int verify_head(struct mr_vcs *v, struct mr_buf *err)
{
	git_commit *c = NULL;
	int rc = head_commit(v, &c, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	git_tree *t = NULL;
	if (intact(v->repo, git_commit_tree_id(c), v->label, err) < 0) {
		rc = -1;
	} else if (git_commit_tree(&t, c) < 0) {
		char hex[41];
		oid_hex(hex, git_commit_tree_id(c));
		git_fail(err, "%s is corrupted: cannot read the tree %s of HEAD", v->label, hex);
		rc = -1;
	}
	git_tree_free(t);
	git_commit_free(c);
	return rc;
}

struct mr_vcs *mr_vcs_open(const char *repo_dir, bool create, struct mr_buf *err)
{
	git_libgit2_init();
	/* a commit is what apply records as done: its objects and ref must survive a power loss */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);

	struct mr_vcs *v = xcalloc(1, sizeof(*v));
	v->dir = xstrdup(repo_dir);
	struct mr_buf label = MR_BUF_INIT;
	mr_buf_addf(&label, "the state repository '%s'", repo_dir);
	v->label = mr_buf_detach(&label);
	bool fresh = false;
	struct stat st;
	if (lstat(repo_dir, &st) < 0) {
		if (errno != ENOENT) {
			mr_buf_addf(err, "cannot stat '%s': %s", repo_dir, strerror(errno));
			goto fail;
		}
		if (!create) {
			mr_buf_adds(err, MISSING);
			goto fail;
		}
		if (mkdir(repo_dir, 0700) < 0) {
			mr_buf_addf(err, "cannot create directory '%s': %s", repo_dir, strerror(errno));
			goto fail;
		}
		fresh = true;
	} else if (!S_ISDIR(st.st_mode)) {
		mr_buf_addf(err, "'%s' is not a directory, so it cannot be the state repository", repo_dir);
		goto fail;
	} else {
		int empty = dir_is_empty(repo_dir);
		if (empty < 0) {
			mr_buf_addf(err, "cannot read directory '%s': %s", repo_dir, strerror(errno));
			goto fail;
		}
		if (empty && !create) {
			mr_buf_adds(err, MISSING);
			goto fail;
		}
		fresh = empty;
	}
	/* it holds password hashes: 0700 whatever the umask */
	if (fresh && chmod(repo_dir, 0700) < 0) {
		mr_buf_addf(err, "cannot give '%s' the mode 0700: %s", repo_dir, strerror(errno));
		goto fail;
	}

	if (fresh) {
		git_repository_init_options o = GIT_REPOSITORY_INIT_OPTIONS_INIT;
		o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
		o.initial_head = "main";
		o.description = "mailrecon: the managed files of this server, one commit per change";
		if (git_repository_init_ext(&v->repo, repo_dir, &o) < 0) {
			git_fail(err, "cannot create the state repository '%s'", repo_dir);
			goto fail;
		}
		return v;
	}
	if (git_repository_open_ext(&v->repo, repo_dir,
				    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL) < 0) {
		git_fail(err, "'%s' is not a git repository, so it cannot be the state repository",
			 repo_dir);
		goto fail;
	}
	if (check_locks(v, err) < 0 || verify_head(v, err) < 0)
		goto fail;
	return v;

fail:
	git_repository_free(v->repo);
	free(v->label);
	free(v->dir);
	free(v);
	git_libgit2_shutdown();
	return NULL;
}

int mr_vcs_check_dir(struct mr_root *root, const char *repo_dir, struct mr_buf *err)
{
	struct stat st;
	int r = mr_root_lstat(root, repo_dir, &st);
	char *full = mr_root_full(root, repo_dir);
	int rc = 1;
	char *link = mr_root_is_slash(root) ? NULL : mr_root_any_link_on_path(root, repo_dir);
	if (link) {
		/* libgit2 opens the repository by its full path: a link the layer would follow below
		 * the root, libgit2 would follow from the host's '/' */
		char *ls = mr_root_full(root, link);
		mr_buf_addf(err, "the state repository '%s' is reached through the symbolic link '%s', which libgit2 "
				 "would follow outside --root; refused",
			    full, ls);
		free(ls);
		free(link);
		rc = -1;
	} else if (r == -ENOENT) {
		rc = 0;
	} else if (r < 0) {
		mr_buf_addf(err, "the state repository '%s': %s", full,
			    r == -ELOOP ? "it is reached through a symbolic link" : strerror(-r));
		rc = -1;
	} else if (!S_ISDIR(st.st_mode)) {
		mr_buf_addf(err, "the state repository '%s' is not a directory", full);
		rc = -1;
	}
	static const char *const inside[] = { "HEAD", "config", "objects", "refs", "packed-refs", "info", "hooks", NULL };
	for (const char *const *n = inside; rc == 1 && *n; n++) {
		char *p = mr_path_join(repo_dir, *n);
		if (mr_root_lstat(root, p, &st) == 0 && S_ISLNK(st.st_mode)) {
			mr_buf_addf(err, "'%s/%s' is a symbolic link; the state repository is not used", full, *n);
			rc = -1;
		}
		free(p);
	}
	free(full);
	return rc;
}

bool mr_vcs_missing(const struct mr_buf *err)
{
	size_t n = strlen(MISSING);
	return err->len >= n && strcmp(err->ptr + err->len - n, MISSING) == 0;
}

void mr_vcs_close(struct mr_vcs **v)
{
	if (!v || !*v)
		return;
	git_repository_free((*v)->repo);
	free((*v)->label);
	free((*v)->dir);
	free(*v);
	*v = NULL;
	git_libgit2_shutdown();
}

/* ---- commit ---- */

/* Relative, no empty, "." or ".." part. */
static bool clean_rel_path(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *s = p;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!e)
			return true;
		s = e + 1;
	}
}

static int file_cmp(const void *a, const void *b)
{
	const struct mr_vcs_file *const *x = a, *const *y = b;
	return strcmp((*x)->path, (*y)->path);
}

struct build {
	git_repository *repo;
	const char *label; /* the repository, for messages */
	const struct mr_vcs_file **f; /* sorted by path */
	struct mr_buf *err;
};

/* One entry of a tree being built. */
struct tent {
	char *name;
	git_oid id;
	git_filemode_t mode;
	bool same; /* HEAD's tree has this very entry */
};

static int tent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tent *)a)->name, ((const struct tent *)b)->name);
}

/*
 * The tree of files f[lo..hi), which all share the first plen bytes of their path (the
 * directory, with its '/'), into *out.  base is HEAD's tree of that directory, or NULL.
 * Blobs are written only when their hash is not the one in base, and base's id is reused
 * when no entry differs, so an unchanged directory costs reading its tree, no write.
 */
static int build_tree(struct build *b, size_t lo, size_t hi, size_t plen, const git_tree *base,
		      git_oid *out)
{
	struct tent *e = NULL;
	size_t ne = 0, cap = 0;
	git_treebuilder *tb = NULL;
	int rc = -1;

	for (size_t i = lo; i < hi;) {
		const char *rest = b->f[i]->path + plen;
		const char *slash = strchr(rest, '/');
		size_t nlen = slash ? (size_t)(slash - rest) : strlen(rest);
		e = xgrow(e, sizeof(*e), ne + 1, &cap);
		struct tent *t = &e[ne++];
		t->name = xstrndup(rest, nlen);
		t->same = false;
		const git_tree_entry *be = base ? git_tree_entry_byname(base, t->name) : NULL;
		if (!slash) {
			const struct mr_vcs_file *f = b->f[i];
			const void *data = f->data ? f->data : "";
			t->mode = GIT_FILEMODE_BLOB;
			if (git_odb_hash(&t->id, data, f->len, GIT_OBJECT_BLOB) < 0) {
				git_fail(b->err, "cannot hash '%s'", f->path);
				goto out;
			}
			t->same = be && git_tree_entry_filemode(be) == GIT_FILEMODE_BLOB &&
				  git_oid_equal(&t->id, git_tree_entry_id(be));
			git_oid written;
			if (!t->same && git_blob_create_from_buffer(&written, b->repo, data, f->len) < 0) {
				git_fail(b->err, "cannot store '%s' in the state repository", f->path);
				goto out;
			}
			i++;
			continue;
		}
		size_t j = i + 1;
		while (j < hi && strncmp(b->f[j]->path + plen, rest, nlen + 1) == 0)
			j++;
		git_tree *sub = NULL;
		if (be && git_tree_entry_type(be) == GIT_OBJECT_TREE &&
		    tree_lookup(&sub, b->repo, git_tree_entry_id(be), b->label, b->err) < 0)
			goto out;
		t->mode = GIT_FILEMODE_TREE;
		int r = build_tree(b, i, j, plen + nlen + 1, sub, &t->id);
		t->same = r == 0 && sub && git_oid_equal(&t->id, git_tree_id(sub));
		git_tree_free(sub);
		if (r < 0)
			goto out;
		i = j;
	}

	/* paths are unique, so one name twice is a file and a directory */
	if (ne > 1) /* qsort's array must not be NULL, even for no element */
		qsort(e, ne, sizeof(*e), tent_cmp);
	for (size_t k = 1; k < ne; k++)
		if (strcmp(e[k - 1].name, e[k].name) == 0) {
			mr_buf_addf(b->err, "'%.*s%s' is both a file and a directory; refused", (int)plen,
				    b->f[lo]->path, e[k].name);
			goto out;
		}

	bool same = base && git_tree_entrycount(base) == ne;
	for (size_t k = 0; same && k < ne; k++)
		same = e[k].same;
	if (same) {
		git_oid_cpy(out, git_tree_id(base));
		rc = 0;
		goto out;
	}
	if (git_treebuilder_new(&tb, b->repo, NULL) < 0) {
		git_fail(b->err, "cannot build a tree");
		goto out;
	}
	for (size_t k = 0; k < ne; k++)
		if (git_treebuilder_insert(NULL, tb, e[k].name, &e[k].id, e[k].mode) < 0) {
			git_fail(b->err, "cannot add '%.*s%s' to a tree", (int)plen, b->f[lo]->path,
				 e[k].name);
			goto out;
		}
	if (git_treebuilder_write(out, tb) < 0) {
		git_fail(b->err, "cannot store the tree of '%.*s' in the state repository", (int)plen,
			 b->f[lo]->path);
		goto out;
	}
	rc = 0;
out:
	git_treebuilder_free(tb);
	for (size_t k = 0; k < ne; k++)
		free(e[k].name);
	free(e);
	return rc;
}

/* author, or "Name <email>", as a signature dated now. */
static int make_signature(git_signature **out, const char *author, struct mr_buf *err)
{
	char *name, *email;
	const char *lt = author ? strchr(author, '<') : NULL;
	size_t alen = author ? strlen(author) : 0;
	if (!author || !*author) {
		name = xstrdup(DEFAULT_AUTHOR);
		email = xstrdup(DEFAULT_EMAIL);
	} else if (lt && author[alen - 1] == '>' && lt < author + alen - 1) {
		size_t n = (size_t)(lt - author);
		while (n && isspace((unsigned char)author[n - 1]))
			n--;
		email = xstrndup(lt + 1, (size_t)(author + alen - 1 - (lt + 1)));
		name = n ? xstrndup(author, n) : xstrdup(email);
	} else {
		name = xstrdup(author);
		email = xstrdup(strchr(author, '@') ? author : DEFAULT_EMAIL);
	}
	int rc = git_signature_now(out, name, email);
	if (rc < 0)
		git_fail(err, "cannot use '%s' as the author of a commit", author);
	free(name);
	free(email);
	return rc < 0 ? -1 : 0;
}

/* Keep HEAD on main, whatever left it elsewhere. */
static int head_on_main(struct mr_vcs *v, struct mr_buf *err)
{
	git_reference *head = NULL;
	int rc = git_reference_lookup(&head, v->repo, "HEAD");
	if (rc == 0 && git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	    strcmp(git_reference_symbolic_target(head), MR_VCS_BRANCH) == 0) {
		git_reference_free(head);
		return 0;
	}
	git_reference_free(head);
	if (git_repository_set_head(v->repo, MR_VCS_BRANCH) < 0) {
		git_fail(err, "cannot point HEAD of '%s' to main", v->dir);
		return -1;
	}
	return 0;
}

/* git's isspace (libgit2's git__isspace): what a line's end loses */
static bool git_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == '\v';
}

void mr_vcs_clean_message(const char *message, struct mr_buf *out)
{
	size_t start = out->len, blank = 0;
	for (const char *p = message; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl + 1 - p) : strlen(p);
		size_t keep = len;
		while (keep && git_space((unsigned char)p[keep - 1]))
			keep--;
		if (keep == 0) {
			blank++; /* a run of blank lines is one, and none at the start or the end */
		} else {
			if (blank && out->len > start)
				mr_buf_addc(out, '\n');
			blank = 0;
			mr_buf_add(out, p, keep);
			mr_buf_addc(out, '\n');
		}
		p += len;
	}
}

int mr_vcs_commit(struct mr_vcs *v, const struct mr_vcs_file *files, size_t n, const char *message,
		  const char *author, char id_out[41], bool *committed, struct mr_buf *err)
{
	const struct mr_vcs_file **f = NULL;
	git_commit *head = NULL;
	git_tree *base = NULL, *tree = NULL;
	git_signature *sig = NULL;
	struct mr_buf msg = MR_BUF_INIT;
	int rc = -1;

	*committed = false;
	if (id_out)
		id_out[0] = '\0';
	f = xcalloc(n ? n : 1, sizeof(*f));
	for (size_t i = 0; i < n; i++) {
		if (!clean_rel_path(files[i].path)) {
			mr_buf_addf(err, "'%s' is not a clean relative path; refused", files[i].path);
			goto out;
		}
		f[i] = &files[i];
	}
	if (n > 1)
		qsort(f, n, sizeof(*f), file_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(f[i - 1]->path, f[i]->path) == 0) {
			mr_buf_addf(err, "'%s' is given twice; refused", f[i]->path);
			goto out;
		}

	int h = head_commit(v, &head, err);
	if (h < 0)
		goto out;
	if (head && tree_lookup(&base, v->repo, git_commit_tree_id(head), v->label, err) < 0)
		goto out;
	struct build b = { v->repo, v->label, f, err };
	git_oid tree_id;
	if (build_tree(&b, 0, n, 0, base, &tree_id) < 0)
		goto out;
	if (base && git_oid_equal(&tree_id, git_tree_id(base))) {
		if (id_out)
			oid_hex(id_out, git_commit_id(head));
		rc = 0;
		goto out;
	}

	if (git_tree_lookup(&tree, v->repo, &tree_id) < 0) {
		git_fail(err, "cannot read the new tree back");
		goto out;
	}
	if (make_signature(&sig, author, err) < 0)
		goto out;
	mr_vcs_clean_message(message ? message : "", &msg);
	const git_commit *parents[1] = { head };
	git_oid cid;
	if (git_commit_create(&cid, v->repo, MR_VCS_BRANCH, sig, sig, NULL,
			      msg.len ? msg.ptr : DEFAULT_MESSAGE "\n", tree, head ? 1 : 0, parents) < 0) {
		git_fail(err, "cannot commit to the state repository '%s'", v->dir);
		goto out;
	}
	if (head_on_main(v, err) < 0)
		goto out;
	*committed = true;
	if (id_out)
		oid_hex(id_out, &cid);
	rc = 0;
out:
	mr_buf_release(&msg);
	git_signature_free(sig);
	git_tree_free(tree);
	git_tree_free(base);
	git_commit_free(head);
	free(f);
	return rc;
}

/* ---- reading ---- */

/* rev as a commit: 0, 1 (rev is NULL or HEAD and there is no commit yet), or -1. */
static int resolve(struct mr_vcs *v, const char *rev, git_commit **out, struct mr_buf *err)
{
	*out = NULL;
	if (!rev || strcmp(rev, "HEAD") == 0)
		return head_commit(v, out, err);
	git_object *o = NULL, *c = NULL;
	if (git_revparse_single(&o, v->repo, rev) < 0) {
		git_fail(err, "unknown revision '%s' in the state repository '%s'", rev, v->dir);
		return -1;
	}
	int rc = git_object_peel(&c, o, GIT_OBJECT_COMMIT);
	git_object_free(o);
	if (rc < 0) {
		git_fail(err, "revision '%s' of '%s' is not a commit", rev, v->dir);
		return -1;
	}
	*out = (git_commit *)c;
	return 0;
}

/* A depth-first walk of a tree in git's order, which is the byte order of whole paths. */
struct walk {
	git_repository *repo;
	const char *label; /* the repository, for messages */
	bool yaml_only; /* only *.yaml / *.yml, and no name starting with '.' */
	struct mr_buf path;
	struct mr_buf *err;
	int (*visit)(struct walk *w, const git_oid *id);
	void *ctx;
};

static bool is_yaml(const char *name)
{
	size_t n = strlen(name);
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int walk_tree(struct walk *w, const git_tree *t)
{
	size_t n = git_tree_entrycount(t);
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		bool blob = mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE;
		/* symbolic links and submodules are neither files nor directories here */
		if (!blob && mode != GIT_FILEMODE_TREE)
			continue;
		if (w->yaml_only && (name[0] == '.' || (blob && !is_yaml(name))))
			continue;
		size_t keep = w->path.len;
		if (keep)
			mr_buf_addc(&w->path, '/');
		mr_buf_adds(&w->path, name);
		int rc = 0;
		if (blob) {
			rc = w->visit(w, git_tree_entry_id(e));
		} else {
			git_tree *sub = NULL;
			if (tree_lookup(&sub, w->repo, git_tree_entry_id(e), w->label, w->err) < 0) {
				rc = -1;
			} else {
				rc = walk_tree(w, sub);
			}
			git_tree_free(sub);
		}
		w->path.len = keep;
		w->path.ptr[keep] = '\0';
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct read_ctx {
	int (*cb)(void *ctx, const char *path, const void *data, size_t len);
	void *ctx;
	const char *rev;
};

static int read_visit(struct walk *w, const git_oid *id)
{
	struct read_ctx *r = w->ctx;
	git_blob *blob = NULL;
	if (lookup((git_object **)&blob, w->repo, id, GIT_OBJECT_BLOB, w->label, w->err) < 0) {
		mr_buf_addf(w->err, " (the file '%s' at %s)", w->path.ptr, r->rev);
		return -1;
	}
	int rc = r->cb(r->ctx, w->path.ptr, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (rc != 0) {
		if (!w->err->len)
			mr_buf_addf(w->err, "reading '%s' at %s was stopped", w->path.ptr, r->rev);
		return -1;
	}
	return 0;
}

int mr_vcs_read(struct mr_vcs *v, const char *rev,
		int (*cb)(void *ctx, const char *path, const void *data, size_t len), void *ctx,
		char id_out[41], struct mr_buf *err)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	if (id_out)
		id_out[0] = '\0';
	int rc = resolve(v, rev, &c, err);
	if (rc != 0)
		return rc;
	char hex[41];
	oid_hex(hex, git_commit_id(c));
	if (id_out)
		memcpy(id_out, hex, 41);
	if (tree_lookup(&t, v->repo, git_commit_tree_id(c), v->label, err) < 0) {
		rc = -1;
	} else {
		struct read_ctx r = { cb, ctx, hex };
		struct walk w = { v->repo, v->label, false, MR_BUF_INIT, err, read_visit, &r };
		rc = walk_tree(&w, t) < 0 ? -1 : 0;
		mr_buf_release(&w.path);
	}
	git_tree_free(t);
	git_commit_free(c);
	return rc;
}

void mr_vcs_entry_release(struct mr_vcs_entry *e)
{
	free(e->author);
	free(e->subject);
	free(e->body);
	memset(e, 0, sizeof(*e));
}

void mr_vcs_entries_free(struct mr_vcs_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mr_vcs_entry_release(&e[i]);
	free(e);
}

void mr_vcs_paths_free(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

static void fill_entry(struct mr_vcs_entry *e, git_commit *c)
{
	oid_hex(e->id, git_commit_id(c));
	e->time = (int64_t)git_commit_time(c);
	const git_signature *a = git_commit_author(c);
	e->author = xstrdup(a && a->name ? a->name : "");
	const char *s = git_commit_summary(c);
	e->subject = xstrdup(s ? s : "");
	const char *body = git_commit_body(c);
	e->body = xstrdup(body ? body : "");
}

int mr_vcs_log(struct mr_vcs *v, size_t max, struct mr_vcs_entry **out, size_t *n,
	       struct mr_buf *err)
{
	*out = NULL;
	*n = 0;
	git_commit *c = NULL;
	int rc = head_commit(v, &c, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	struct mr_vcs_entry *e = NULL;
	size_t ne = 0, cap = 0;
	for (;;) {
		e = xgrow(e, sizeof(*e), ne + 1, &cap);
		fill_entry(&e[ne++], c);
		if ((max && ne == max) || git_commit_parentcount(c) == 0)
			break;
		git_commit *p = NULL;
		if (lookup((git_object **)&p, v->repo, git_commit_parent_id(c, 0), GIT_OBJECT_COMMIT, v->label,
			   err) < 0) {
			git_commit_free(c);
			mr_vcs_entries_free(e, ne);
			return -1;
		}
		git_commit_free(c);
		c = p;
	}
	git_commit_free(c);
	*out = e;
	*n = ne;
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The diff of revision rev against its parent (the empty tree for the first one); *c is the
 * commit.  0, or -1 with err (nothing to free then). */
static int diff_parent(struct mr_vcs *v, const char *rev, const git_diff_options *o, git_commit **c, git_diff **d,
		       struct mr_buf *err)
{
	git_commit *parent = NULL;
	git_tree *t = NULL, *pt = NULL;
	*c = NULL;
	*d = NULL;
	int rc = resolve(v, rev, c, err);
	if (rc != 0) {
		if (rc > 0)
			mr_buf_addf(err, "the state repository '%s' has no commit yet", v->dir);
		return -1;
	}
	rc = -1;
	if (tree_lookup(&t, v->repo, git_commit_tree_id(*c), v->label, err) < 0)
		goto out;
	if (git_commit_parentcount(*c) > 0 &&
	    (lookup((git_object **)&parent, v->repo, git_commit_parent_id(*c, 0), GIT_OBJECT_COMMIT, v->label,
		    err) < 0 ||
	     tree_lookup(&pt, v->repo, git_commit_tree_id(parent), v->label, err) < 0))
		goto out;
	if (git_diff_tree_to_tree(d, v->repo, pt, t, o) < 0) {
		char hex[41];
		oid_hex(hex, git_commit_id(*c));
		git_fail(err, "cannot compare %s with its parent", hex);
		goto out;
	}
	rc = 0;
out:
	git_tree_free(pt);
	git_tree_free(t);
	git_commit_free(parent);
	if (rc < 0) {
		git_commit_free(*c);
		*c = NULL;
	}
	return rc;
}

int mr_vcs_show(struct mr_vcs *v, const char *rev, struct mr_vcs_entry *out, char ***changed_paths,
		size_t *nchanged, struct mr_buf *err)
{
	git_commit *c;
	git_diff *d;
	memset(out, 0, sizeof(*out));
	*changed_paths = NULL;
	*nchanged = 0;
	git_diff_options o = GIT_DIFF_OPTIONS_INIT;
	if (diff_parent(v, rev, &o, &c, &d, err) < 0)
		return -1;
	size_t n = git_diff_num_deltas(d);
	char **paths = xcalloc(n ? n : 1, sizeof(*paths));
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *dd = git_diff_get_delta(d, i);
		paths[i] = xstrdup(dd->new_file.path ? dd->new_file.path : dd->old_file.path);
	}
	if (n > 1)
		qsort(paths, n, sizeof(*paths), str_cmp);
	fill_entry(out, c);
	*changed_paths = paths;
	*nchanged = n;
	git_diff_free(d);
	git_commit_free(c);
	return 0;
}

struct diff_ctx {
	mr_vcs_diff_line line;
	void *ctx;
};

static int diff_print_cb(const git_diff_delta *delta, const git_diff_hunk *hunk, const git_diff_line *l, void *payload)
{
	(void)hunk;
	struct diff_ctx *dc = payload;
	const char *path = delta->new_file.path ? delta->new_file.path : delta->old_file.path;
	char origin = l->origin;
	if (origin == GIT_DIFF_LINE_FILE_HDR)
		origin = 'F';
	else if (origin == GIT_DIFF_LINE_HUNK_HDR)
		origin = 'H';
	else if (origin == GIT_DIFF_LINE_BINARY)
		origin = 'B';
	else if (origin == GIT_DIFF_LINE_ADD_EOFNL || origin == GIT_DIFF_LINE_DEL_EOFNL ||
		 origin == GIT_DIFF_LINE_CONTEXT_EOFNL)
		origin = origin == GIT_DIFF_LINE_ADD_EOFNL ? '>' : origin == GIT_DIFF_LINE_DEL_EOFNL ? '<' : '=';
	dc->line(dc->ctx, path ? path : "", origin, l->content, l->content_len);
	return 0;
}

int mr_vcs_diff(struct mr_vcs *v, const char *rev, mr_vcs_diff_line line, void *ctx, struct mr_buf *err)
{
	git_commit *c;
	git_diff *d;
	git_diff_options o = GIT_DIFF_OPTIONS_INIT;
	o.context_lines = 3;
	if (diff_parent(v, rev, &o, &c, &d, err) < 0)
		return -1;
	int rc = 0;
	struct diff_ctx dc = { line, ctx };
	if (git_diff_print(d, GIT_DIFF_FORMAT_PATCH, diff_print_cb, &dc) < 0) {
		char hex[41];
		oid_hex(hex, git_commit_id(c));
		git_fail(err, "cannot make the diff of %s", hex);
		rc = -1;
	}
	git_diff_free(d);
	git_commit_free(c);
	return rc;
}

bool mr_vcs_trailer(const char *message, const char *key, char *value, size_t cap)
{
	if (!message || !key || !cap)
		return false;
	/* the start of the last paragraph; a message of one paragraph (a subject) has no trailer */
	size_t len = strlen(message), start = 0;
	while (len && isspace((unsigned char)message[len - 1]))
		len--;
	bool text = false;
	for (size_t i = 0; i < len;) {
		size_t eol = i;
		bool blank = true;
		for (; eol < len && message[eol] != '\n'; eol++)
			if (!isspace((unsigned char)message[eol]))
				blank = false;
		if (blank && text)
			start = eol + 1;
		text = text || !blank;
		i = eol + 1;
	}
	if (start == 0 || start >= len)
		return false;

	/*
	 * git_message_trailers() ends the message at the first line starting with "---" (a
	 * patch), and a plan in the body may have one: hand it a title and the last paragraph.
	 */
	struct mr_buf m = MR_BUF_INIT;
	mr_buf_adds(&m, "subject\n\n");
	mr_buf_add(&m, message + start, len - start);
	mr_buf_addc(&m, '\n');
	bool found = false;
	git_libgit2_init();
	git_message_trailer_array arr = { 0 };
	if (git_message_trailers(&arr, m.ptr) == 0) {
		for (size_t i = 0; i < arr.count; i++)
			if (strcasecmp(arr.trailers[i].key, key) == 0) {
				size_t vl = strlen(arr.trailers[i].value);
				if (vl < cap) {
					memcpy(value, arr.trailers[i].value, vl + 1);
					found = true;
				}
				break;
			}
		git_message_trailer_array_free(&arr);
	}
	git_libgit2_shutdown();
	mr_buf_release(&m);
	return found;
}

/* ---- the desired state from a git repository ---- */

struct source_ctx {
	int (*cb)(void *ctx, const char *name, const void *data, size_t len);
	void *ctx;
	const char *path; /* the repository, as the spec says */
	const char *hex;  /* the commit */
	git_odb *odb;
	size_t files;
	struct mr_buf name;
};

static int source_visit(struct walk *w, const git_oid *id)
{
	struct source_ctx *s = w->ctx;
	mr_buf_reset(&s->name);
	mr_buf_addf(&s->name, "git:%s#%s:%s", s->path, s->hex, w->path.ptr);
	size_t size = 0;
	git_object_t type;
	if (git_odb_read_header(&size, &type, s->odb, id) < 0) {
		git_fail(w->err, "cannot read '%s'", s->name.ptr);
		return -1;
	}
	if (size > MR_DESIRED_MAX_FILE) {
		mr_buf_addf(w->err, "'%s' is too large (%zu bytes; the limit is %u MiB)", s->name.ptr,
			    size, MR_DESIRED_MAX_FILE >> 20);
		return -1;
	}
	git_blob *blob = NULL;
	if (lookup((git_object **)&blob, w->repo, id, GIT_OBJECT_BLOB, w->label, w->err) < 0) {
		mr_buf_addf(w->err, " (the file '%s')", s->name.ptr);
		return -1;
	}
	s->files++;
	int rc = s->cb(s->ctx, s->name.ptr, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (rc != 0) {
		if (!w->err->len)
			mr_buf_addf(w->err, "reading '%s' was stopped", s->name.ptr);
		return -1;
	}
	return 0;
}

int mr_vcs_source(const char *spec,
		  int (*cb)(void *ctx, const char *name, const void *data, size_t len), void *ctx,
		  char commit_out[41], struct mr_buf *err)
{
	char *path = NULL, *ref = NULL, *sub = NULL;
	git_repository *repo = NULL;
	git_object *o = NULL, *c = NULL;
	git_tree *root = NULL, *dir = NULL;
	git_tree_entry *te = NULL;
	struct source_ctx s = { cb, ctx, NULL, NULL, NULL, 0, MR_BUF_INIT };
	struct walk w = { NULL, NULL, true, MR_BUF_INIT, err, source_visit, &s };
	struct mr_buf label = MR_BUF_INIT;
	int rc = -1;

	if (commit_out)
		commit_out[0] = '\0';
	git_libgit2_init();
	if (strncmp(spec, "git:", 4) != 0) {
		mr_buf_addf(err, "'%s' is not a git source (git:PATH[#REF][:SUBDIR])", spec);
		goto out;
	}
	const char *p = spec + 4, *hash = strchr(p, '#');
	const char *colon = strchr(hash ? hash + 1 : p, ':');
	const char *path_end = hash ? hash : colon ? colon : p + strlen(p);
	path = xstrndup(p, (size_t)(path_end - p));
	if (hash)
		ref = colon ? xstrndup(hash + 1, (size_t)(colon - hash - 1)) : xstrdup(hash + 1);
	/* SUBDIR without its outer slashes; "" and "." are the root */
	const char *sb = colon ? colon + 1 : "";
	while (*sb == '/')
		sb++;
	size_t sl = strlen(sb);
	while (sl && sb[sl - 1] == '/')
		sl--;
	sub = xstrndup(sb, sl);
	if (strcmp(sub, ".") == 0)
		sub[0] = '\0';
	if (!*path) {
		mr_buf_addf(err, "'%s' names no repository (git:PATH[#REF][:SUBDIR])", spec);
		goto out;
	}
	const char *refname = ref && *ref ? ref : "HEAD";
	mr_buf_addf(&label, "the git repository '%s'", path);

	if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		git_fail(err, "cannot open the git repository '%s' (from '%s')", path, spec);
		goto out;
	}
	if (git_revparse_single(&o, repo, refname) < 0) {
		git_fail(err, "unknown ref '%s' in the git repository '%s'", refname, path);
		goto out;
	}
	if (git_object_peel(&c, o, GIT_OBJECT_COMMIT) < 0) {
		git_fail(err, "ref '%s' of the git repository '%s' is not a commit", refname, path);
		goto out;
	}
	char hex[41];
	oid_hex(hex, git_object_id(c));
	if (tree_lookup(&root, repo, git_commit_tree_id((git_commit *)c), label.ptr, err) < 0)
		goto out;
	if (*sub) {
		int r = git_tree_entry_bypath(&te, root, sub);
		if (r == GIT_ENOTFOUND) {
			mr_buf_addf(err, "no directory '%s' in git:%s#%s (%s)", sub, path, hex, refname);
			goto out;
		}
		if (r < 0) {
			git_fail(err, "cannot find '%s' in git:%s#%s", sub, path, hex);
			goto out;
		}
		if (git_tree_entry_type(te) != GIT_OBJECT_TREE) {
			mr_buf_addf(err, "'%s' is not a directory in git:%s#%s (%s)", sub, path, hex, refname);
			goto out;
		}
		if (tree_lookup(&dir, repo, git_tree_entry_id(te), label.ptr, err) < 0)
			goto out;
	}
	if (git_repository_odb(&s.odb, repo) < 0) {
		git_fail(err, "cannot open the objects of '%s'", path);
		goto out;
	}
	s.path = path;
	s.hex = hex;
	w.repo = repo;
	w.label = label.ptr;
	mr_buf_adds(&w.path, sub);
	if (walk_tree(&w, dir ? dir : root) < 0)
		goto out;
	if (!s.files) {
		mr_buf_addf(err, "no YAML file (*.yaml, *.yml) in git:%s#%s:%s (%s)", path, hex, sub,
			    refname);
		goto out;
	}
	if (commit_out)
		memcpy(commit_out, hex, 41);
	rc = 0;
out:
	mr_buf_release(&label);
	mr_buf_release(&w.path);
	mr_buf_release(&s.name);
	git_odb_free(s.odb);
	git_tree_entry_free(te);
	git_tree_free(dir);
	git_tree_free(root);
	git_object_free(c);
	git_object_free(o);
	git_repository_free(repo);
	git_libgit2_shutdown();
	free(sub);
	free(ref);
	free(path);
	return rc;
}

/* ---- which files differ from HEAD, by object id: no blob is read ---- */

struct walk_ctx {
	const struct mr_vcs_file *files;
	size_t n;
	struct mr_pathlist *changed;
	struct mr_strmap seen;
};

static int walk_cb(const char *root, const git_tree_entry *entry, void *payload)
{
	struct walk_ctx *w = payload;
	if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
		return 0;
	struct mr_buf path = MR_BUF_INIT;
	mr_buf_addf(&path, "%s%s", root, git_tree_entry_name(entry));
	/* the files are sorted by path */
	size_t lo = 0, hi = w->n;
	const struct mr_vcs_file *f = NULL;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(w->files[mid].path, path.ptr);
		if (c == 0) {
			f = &w->files[mid];
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	git_oid id;
	bool same = false;
	if (f && !f->data && f->id) /* not read: its id was taken when it was */
		same = git_oid_fromraw(&id, f->id) == 0 && git_oid_equal(&id, git_tree_entry_id(entry));
	else if (f)
		same = git_odb_hash(&id, f->data, f->len, GIT_OBJECT_BLOB) == 0 &&
		       git_oid_equal(&id, git_tree_entry_id(entry));
	if (!same) {
		char *p = mr_path_join("/", path.ptr);
		mr_pathlist_add(w->changed, p);
		free(p);
	}
	if (f)
		mr_strmap_put_new(&w->seen, f->path, strlen(f->path), (void *)f);
	mr_buf_release(&path);
	return 0;
}

int mr_vcs_changed(struct mr_vcs *v, const struct mr_vcs_file *files, size_t n, struct mr_pathlist *changed,
		   struct mr_buf *err)
{
	git_commit *c = NULL;
	int rc = head_commit(v, &c, err);
	if (rc != 0)
		return rc;
	git_tree *t = NULL;
	if (git_commit_tree(&t, c) < 0) {
		git_fail(err, "%s is corrupted: cannot read HEAD's tree", v->label);
		git_commit_free(c);
		return -1;
	}
	struct walk_ctx w = { files, n, changed, MR_STRMAP_INIT };
	rc = git_tree_walk(t, GIT_TREEWALK_PRE, walk_cb, &w) < 0 ? -1 : 0;
	if (rc < 0)
		git_fail(err, "%s: cannot walk HEAD's tree", v->label);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (!mr_strmap_get(&w.seen, files[i].path, strlen(files[i].path))) {
			char *p = mr_path_join("/", files[i].path);
			mr_pathlist_add(changed, p);
			free(p);
		}
	mr_strmap_release(&w.seen);
	git_tree_free(t);
	git_commit_free(c);
	mr_pathlist_sort(changed);
	return rc;
}
