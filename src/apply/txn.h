/*
 * txn: every change of one apply -- files and mailbox homes -- as one transaction.
 *
 * A crash at any moment leaves either the old set of files or the new one, never a mix,
 * and loses nothing: new contents are staged beside their targets, an intent journal
 * listing every operation is made durable, and only then is anything live touched.  The
 * next run reads the journal and finishes the work (or, when the journal was never
 * completed, removes what was staged).  Mailbox homes are operations of the same journal,
 * so a home is created, moved, archived or purged exactly when the files that name it
 * change, and a crash cannot lose one.
 *
 *   struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT;
 *   if (mr_txn_recover(root, journal, &report, &err) < 0) ... stop: the journal is kept ...
 *   mr_txn_cleanup_temps(root, dir, &report);     // for every directory apply writes in
 *   struct mr_txn *t = mr_txn_begin(root, journal);
 *   mr_txn_expect(t, "/etc/exim4/passwd", data, len, &st);   // every live file read
 *   if (mr_txn_write(t, "/etc/exim4/passwd", data, len, 0640, 0, 8, &err) < 0 || ...) {
 *           mr_txn_abort(&t);                     // removes what was staged
 *           ...
 *   }
 *   rc = mr_txn_commit(t, &err);                  // MR_TXN_CHANGED: a live file changed
 *   mr_txn_free(&t);
 *
 * Every path is below the root (struct mr_root, util/rootfs.h: no link is followed but
 * root's own on the way, below the root) and written as a clean absolute path
 * ("/etc/exim4/passwd").  One path (or a
 * directory holding it) takes part in at most one operation of a transaction, mkhome
 * aside, so that every operation can be redone at recovery without harm.  Staging calls
 * return 0, or -1 with a message in err and nothing staged; the transaction stays usable.
 *
 * The journal ("mailrecon-journal 2", then one line per operation, then "end"; paths
 * percent-escaped) lives at the caller's path, in a directory the caller creates.
 *
 * Between every two steps on disk the code calls mr_crash_point(), and before every open,
 * fchown, fchmod, write, fsync, rename, unlink and mkdir mr_fault_check() with that name
 * (util/faults.h), so tests can crash it anywhere or make any of those calls fail.
 */
#ifndef MR_APPLY_TXN_H
#define MR_APPLY_TXN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/rootfs.h"

struct mr_txn;

/* mr_txn_commit(): a file expected with mr_txn_expect() is not as it was; nothing was changed. */
#define MR_TXN_CHANGED (-2)

/* A new, empty transaction whose journal will be journal_path; never NULL. */
struct mr_txn *mr_txn_begin(struct mr_root *root, const char *journal_path);

/*
 * Promise that path is, at commit, exactly as it was read: len bytes whose SHA-256 is
 * sha256, with st's mode, owner and group; sha256 NULL: that it does not exist.  The
 * commit re-reads every expected file just before it writes the journal and refuses
 * (MR_TXN_CHANGED) when one differs, so an edit made by another writer since the plan
 * was made is never overwritten.
 */
void mr_txn_expect(struct mr_txn *t, const char *path, const unsigned char *sha256, size_t len, const struct stat *st);

/*
 * Makes the missing directories of dir (mode, root's), as mr_root_mkdirs() does, and
 * remembers them: mr_txn_abort() of an open transaction removes them again when they are
 * empty, so a refused apply leaves no new directory behind.  0, or -1 with err set.
 */
int mr_txn_mkdirs(struct mr_txn *t, const char *dir, unsigned mode, struct mr_buf *err);

/*
 * Stage data as the new content of target: a temp file beside it
 * (".BASENAME.mailrecon-tmp.PID.N"), created 0600, given the owner (uid and gid when >= 0)
 * and mode before any content is written, then written and fsync'd.  Refused when target
 * exists and is a symbolic link or not a regular file, and when its directory does not
 * exist (the caller creates it, with mr_txn_mkdirs()).
 */
int mr_txn_write(struct mr_txn *t, const char *target, const void *data, size_t len,
		 unsigned mode, int64_t uid, int64_t gid, struct mr_buf *err);

/* Remove target at commit; refused when it is a symbolic link or a directory; an absent target is fine. */
int mr_txn_unlink(struct mr_txn *t, const char *target, struct mr_buf *err);

/*
 * A later mr_txn_write of target may replace a symbolic link there when root owns it (a
 * distribution's default, such as Dovecot's dovecot.pem -> the snakeoil certificate): the
 * new file is renamed over the link itself, which is never followed, and what it pointed at
 * is left alone.  Any other link stays refused.  Call before mr_txn_write.
 */
void mr_txn_replace_link(struct mr_txn *t, const char *target);

/*
 * Make a mailbox home at commit: /var/www/OWNER/data/email/DOMAIN[/LOCAL].  Missing
 * directories are made: /var/www root's (0755), the others uid:gid, 0700 for LOCAL and
 * 0750 above it.  An existing directory at or below /var/www/OWNER must belong to uid or to
 * root (checked at staging and again at commit); existing ones are left as they are.
 */
int mr_txn_mkhome(struct mr_txn *t, const char *home, int64_t uid, int64_t gid, struct mr_buf *err);

/*
 * Move the directory from to `to` at commit (a home to the archive, a home to its new
 * owner, an archived home back): a rename, or across filesystems a copy that is verified
 * before the original is removed.  Missing parents of `to` are made root's, 0700.  With
 * uid >= 0, every entry the old owner had is then given uid:gid (util/rootfs.h
 * mr_root_chown_tree).  Refused when `to` exists, or when from is not a directory; an
 * absent from is fine (nothing is moved, *moved says so when not NULL).
 */
int mr_txn_mvhome(struct mr_txn *t, const char *from, const char *to, int64_t uid, int64_t gid, bool *moved,
		  struct mr_buf *err);

/* Remove the tree at path at commit (a deleted mailbox's home with --purge); absent is fine. */
int mr_txn_purge(struct mr_txn *t, const char *path, struct mr_buf *err);

/*
 * Make it happen: the expected files are re-read and compared (MR_TXN_CHANGED, with the
 * file named in err, when one changed: nothing is touched, mr_txn_abort() removes what was
 * staged); what staging checked is checked again (a target that became a symbolic link, a
 * staged file that vanished: refused, nothing touched); the journal is written and fsync'd
 * (with its directory); the operations run in the order they were staged; every touched
 * directory is fsync'd; and the journal is removed.  0, or -1 with a message in err:
 *  - when nothing live was touched yet, the commit is undone (no journal is left) and
 *    mr_txn_abort() removes what was staged;
 *  - otherwise the journal and the staged files are kept, and mr_txn_recover() finishes the
 *    apply (err says so).
 * A transaction is committed once.
 */
int mr_txn_commit(struct mr_txn *t, struct mr_buf *err);

/*
 * After a commit: the home operations that were left alone (a tenant made their tree
 * impossible to move, copy or remove), one sentence each, or NULL.  They never fail the
 * commit: what was there stays there.
 */
const char *mr_txn_notes(const struct mr_txn *t, size_t *count);
/* After a commit: the home operations done ("made the home P", "moved A to B", "purged P"),
 * one line each, or NULL. */
const char *mr_txn_done(const struct mr_txn *t);
/* After a commit: whether this transaction made the home (mr_txn_mkhome) or found it in place
 * as a directory of its owner.  False for a home it had no operation for, or left alone. */
bool mr_txn_home_ready(const struct mr_txn *t, const char *home);

/* Before commit (or after a commit that was undone): remove every staged file; then free *t. */
void mr_txn_abort(struct mr_txn **t);
/* Free *t (NULL is fine); an uncommitted transaction is aborted first.  *t becomes NULL. */
void mr_txn_free(struct mr_txn **t);

/*
 * At the start of every apply: finish or undo an interrupted one.
 *  - no journal: 0, and nothing is said;
 *  - a complete journal (it ends with "end"): every operation is redone where it was not
 *    yet done, the journal is removed, and report gets a sentence naming what was done;
 *  - a torn journal (no "end": the crash came while it was written, so nothing live was
 *    touched): the staged files it names are removed, then the journal, and report says
 *    the interrupted apply was undone.
 * -1 with a message in err when that cannot be done (an operation fails, the journal is
 * damaged or of an unknown version); the journal is then kept for the next run.  A journal
 * of version 1 (full paths, before the root handle) is read too.
 */
int mr_txn_recover(struct mr_root *root, const char *journal_path, struct mr_buf *report, struct mr_buf *err);

/*
 * Remove leftover staged files (".*.mailrecon-tmp.PID.N") in dir, staged by a run that died
 * before it wrote its journal; files of a process still running are kept.  Call it only
 * after mr_txn_recover() succeeded: a complete journal needs its staged files.  Returns how
 * many files were removed (each is named in report), or -1 when dir cannot be read (the
 * reason is in report); an absent dir gives 0.
 */
int mr_txn_cleanup_temps(struct mr_root *root, const char *dir, struct mr_buf *report);

#endif
