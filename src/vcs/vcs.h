/*
 * vcs: the state repository (design section 5) and desired state read from git.
 *
 * STATE_DIR/repo is a bare git repository (mode 0700) on branch main, whose tree mirrors
 * every managed file under its path below the root ("etc/exim4/passwd").  Each apply that
 * changes something commits the whole set of managed files as one snapshot; log, show and
 * rollback read that history back.  Everything goes through libgit2: no checkout, no git
 * binary.
 *
 *   struct mr_buf err = MR_BUF_INIT;
 *   struct mr_vcs *v = mr_vcs_open(repo_dir, true, &err);
 *   if (!v) ... err says why (not a repository, corrupted, locked) ...
 *   struct mr_vcs_file f[] = { { "etc/exim4/passwd", data, len }, ... };
 *   char id[41];
 *   bool committed;
 *   if (mr_vcs_commit(v, f, n, message, actor, id, &committed, &err) < 0) ...
 *   mr_vcs_close(&v);
 *
 * Functions return 0 on success and -1 with a message appended to err (which the caller
 * owns and releases) on failure; a few return 1 for "empty history", as said below.  Ids
 * are 40 lower-case hex digits plus a NUL.  Strings handed out are the caller's to free
 * with the matching _free/_release function.
 *
 * A one-line change of a server with 100,000 mailboxes must commit fast: only the blobs
 * whose content changed are written (the others are recognised by hashing), and a
 * directory whose entries did not change keeps its tree object from HEAD.
 */
#ifndef MR_VCS_VCS_H
#define MR_VCS_VCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/fs.h"

#define MR_VCS_BRANCH "refs/heads/main"

struct mr_vcs;
struct mr_root;

/*
 * Open the repository in repo_dir.  Without one there (repo_dir absent, or an empty
 * directory): with create, a bare repository is made, repo_dir with mode 0700 (its parent
 * must exist), HEAD on main; without create, NULL with "no state repository yet" in err
 * (callers treat that as an empty history: check with mr_vcs_missing()).  NULL with a
 * message naming repo_dir when repo_dir is something else than a repository, when a lock
 * file of git (HEAD.lock, refs/heads/main.lock, config.lock, packed-refs.lock) exists,
 * or when the repository is corrupted: HEAD unreadable, or its commit or that commit's
 * tree missing or unreadable.  Every object read here is first checked to inflate to its
 * end, since libgit2 1.5 loops forever on a truncated loose object.
 */
struct mr_vcs *mr_vcs_open(const char *repo_dir, bool create, struct mr_buf *err);

/*
 * Remove the lock files libgit2 leaves in repo_dir (a path below root, reached through
 * rootfs) when the process writing it is killed (HEAD.lock, refs/heads/main.lock,
 * config.lock, packed-refs.lock).  Only for a caller that
 * knows the writer is dead (apply holds the state lock, and its own marker says a commit was
 * under way when the last run stopped).  Appends the names removed to done ("a, b"); 0 or -1.
 */
int mr_vcs_clear_stale_locks(struct mr_root *root, const char *repo_dir, struct mr_buf *done);
/*
 * Before the state repository below root is opened by path (libgit2 follows links inside
 * it): repo_dir and what git keeps in it (HEAD, config, objects, refs, ...) must not be
 * symbolic links, and repo_dir must be a directory.  1 when it is fine, 0 when there is
 * none yet, -1 with a message.
 */
int mr_vcs_check_dir(struct mr_root *root, const char *repo_dir, struct mr_buf *err);

/* Whether err (from mr_vcs_open with create false) only says there is no repository yet. */
bool mr_vcs_missing(const struct mr_buf *err);
/* Close *v (NULL is fine); *v becomes NULL. */
void mr_vcs_close(struct mr_vcs **v);

/* One file of a snapshot: path relative to the root, no leading '/'; data is not copied.
 * Only mr_vcs_changed takes one with data NULL and id set: a file not read, known by its
 * blob id (mr_git_blob_id). */
struct mr_vcs_file {
	const char *path;
	const void *data;
	size_t len;
	const unsigned char *id; /* 20 bytes, or NULL */
};

/*
 * Commit a snapshot: the new commit's tree holds exactly these n files (any order), with
 * HEAD as its parent (none for the first commit), on main.  Paths are refused when empty,
 * absolute, with an empty, "." or ".." part, given twice, or both a file and a directory.
 * When the tree equals HEAD's, nothing is committed: *committed is false and id_out is
 * HEAD's id.  Otherwise *committed is true and id_out the new commit's id.  id_out may be
 * NULL.  The author and committer are `author` ("mailrecon" when NULL or empty; "Name
 * <email>" is split) with the e-mail "mailrecon@localhost", or author itself when it holds
 * an '@'; the time is now.  The message is cleaned up as git does (trailing spaces and runs
 * of blank lines go; '#' lines stay).  Objects are fsync'd before main moves.
 */
int mr_vcs_commit(struct mr_vcs *v, const struct mr_vcs_file *files, size_t n, const char *message,
		  const char *author, char id_out[41], bool *committed, struct mr_buf *err);
/* The clean-up of a commit message mr_vcs_commit makes: what git_message_prettify(out,
 * message, 0, '#') gives, in one pass (libgit2's measures the whole message again for every
 * line: a second of a first apply's 1 MiB message).  Appends to out. */
void mr_vcs_clean_message(const char *message, struct mr_buf *out);

/*
 * Call cb for every file of revision rev (NULL means "HEAD"; an id, abbreviated or not, or
 * anything git_revparse_single takes), sorted by path.  data lives until cb returns.  cb
 * returns 0 to go on; anything else stops the reading and mr_vcs_read returns -1.  id_out
 * (may be NULL) gets the commit id.  Returns 1, with no call of cb, when rev is NULL or
 * "HEAD" and there is no commit yet.
 */
int mr_vcs_read(struct mr_vcs *v, const char *rev,
		int (*cb)(void *ctx, const char *path, const void *data, size_t len), void *ctx,
		char id_out[41], struct mr_buf *err);

/*
 * The paths (with a leading '/') whose content differs between HEAD and the n files (sorted
 * by path), found by comparing object ids (a file's id when it has one, else the id of its
 * data): no blob is read.  0, 1 when there is no commit
 * yet, -1 with err.
 */
int mr_vcs_changed(struct mr_vcs *v, const struct mr_vcs_file *files, size_t n, struct mr_pathlist *changed,
		   struct mr_buf *err);

/* One commit. */
struct mr_vcs_entry {
	char id[41];
	int64_t time;   /* seconds since the epoch, committer time */
	char *author;   /* the author's name */
	char *subject;  /* the first paragraph of the message, as one line */
	char *body;     /* the rest of the message ("" when none), trailers included */
};

/*
 * The history from HEAD along first parents, newest first, at most max commits (0: all).
 * *out is an array of *n entries (NULL and 0 for an empty history), freed with
 * mr_vcs_entries_free().
 */
int mr_vcs_log(struct mr_vcs *v, size_t max, struct mr_vcs_entry **out, size_t *n,
	       struct mr_buf *err);
void mr_vcs_entries_free(struct mr_vcs_entry *e, size_t n);
/* Free the strings of one entry (such as mr_vcs_show() fills) and zero it. */
void mr_vcs_entry_release(struct mr_vcs_entry *e);

/*
 * Commit rev (as for mr_vcs_read; NULL is HEAD) into *out (release it with
 * mr_vcs_entry_release()), and the paths it changed against its first parent (every path
 * for a root commit), sorted, in *changed_paths (free with mr_vcs_paths_free()).  An empty
 * history is an error here.
 */
int mr_vcs_show(struct mr_vcs *v, const char *rev, struct mr_vcs_entry *out, char ***changed_paths,
		size_t *nchanged, struct mr_buf *err);
void mr_vcs_paths_free(char **paths, size_t n);

/*
 * The unified diff (3 lines of context) of rev against its first parent (against nothing for
 * a root commit), one call of line per line of it, in path order: origin is 'F' for a file's
 * header lines ("diff --git ...", "--- a/...", "+++ b/..."), 'H' for a hunk header, '+', '-'
 * or ' ' for a line of content (without the origin character), 'B' for "Binary files
 * differ", '=' / '<' / '>' for the "\ No newline at end of file" markers.  path is the file's
 * path in the tree; text is not NUL-terminated and may hold any byte (the caller escapes and
 * masks it).  0, or -1 with err.
 */
typedef void (*mr_vcs_diff_line)(void *ctx, const char *path, char origin, const char *text, size_t len);
int mr_vcs_diff(struct mr_vcs *v, const char *rev, mr_vcs_diff_line line, void *ctx, struct mr_buf *err);

/*
 * The value of trailer key (compared without case: "Desired-Source") in the last paragraph
 * of message, the first if it occurs more than once, copied into value.  False when it is
 * absent or its value does not fit in cap bytes with the NUL.
 */
bool mr_vcs_trailer(const char *message, const char *key, char *value, size_t cap);

/*
 * The desired state straight from a git repository, without a checkout.  spec is
 * "git:PATH[#REF][:SUBDIR]": PATH a repository (bare, or a work tree's top; PATH ends at the
 * first '#', or without one at the first ':' after "git:"), REF a branch, tag or commit
 * (default HEAD), SUBDIR a directory of that commit's tree (default the root).  cb is called
 * for every *.yaml and *.yml blob below SUBDIR, recursively, sorted by path, skipping names
 * that start with '.', with name "git:PATH#COMMITID:PATH/IN/TREE.yaml" (the path from the
 * tree's root) for diagnostics.  cb returns 0 to go on; anything else stops and gives -1.
 * commit_out (may be NULL) gets the commit id.  -1 with err when PATH is not a repository,
 * REF is unknown, SUBDIR is missing or not a directory, a file is larger than
 * MR_DESIRED_MAX_FILE, or no YAML file is found.
 */
int mr_vcs_source(const char *spec,
		  int (*cb)(void *ctx, const char *name, const void *data, size_t len), void *ctx,
		  char commit_out[41], struct mr_buf *err);

#endif
