#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply/txn.h"
#include "tests.h"
#include "util/rootfs.h"
#include "util/buf.h"
#include "util/faults.h"
#include "util/fs.h"

static char tmpdir[64];
static struct mr_root *troot; /* the transaction's root: tmpdir */

/*
 * The tests name files by their full path (at()); the transaction takes them below its
 * root.  These wrappers take the root's part off, so every case reads as before.
 */
static const char *R(const char *full)
{
	size_t n = strlen(tmpdir);
	return strncmp(full, tmpdir, n) == 0 && full[n] == '/' ? full + n : full;
}
#define mr_txn_begin(j) (mr_txn_begin)(troot, R(j))
#define mr_txn_write(t, p, ...) (mr_txn_write)(t, R(p), __VA_ARGS__)
#define mr_txn_unlink(t, p, e) (mr_txn_unlink)(t, R(p), e)
#define mr_txn_replace_link(t, p) (mr_txn_replace_link)(t, R(p))
#define mr_txn_move(t, f, to, e) (mr_txn_mvhome)(t, R(f), R(to), -1, -1, NULL, e)
#define mr_txn_recover(j, r, e) (mr_txn_recover)(troot, R(j), r, e)
#define mr_txn_cleanup_temps(d, r) (mr_txn_cleanup_temps)(troot, strcmp(d, tmpdir) == 0 ? "/" : R(d), r)

static void mk_tmp(void)
{
	unsetenv("MAILRECON_FAULT");
	unsetenv("MAILRECON_CRASH_AT");
	mr_faults_reset();
	mr_test_mkdtemp(tmpdir, sizeof(tmpdir), "mr-txn");
	struct mr_buf rerr = MR_BUF_INIT;
	mr_root_close(&troot);
	ck_assert_int_eq(mr_root_open(&troot, tmpdir, &rerr), 0);
	mr_buf_release(&rerr);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	ck_assert_int_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void rm_tmp(void)
{
	rm_tree(tmpdir);
}

/* TMPDIR/REL, in a buffer that lives until the next few calls. */
static const char *at(const char *rel)
{
	static char bufs[8][512];
	static unsigned next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, rel);
	return b;
}

/* The mailbox homes the tests move: only a home moves, to a home or an archive entry. */
#define HOMES "var/www/u/data/email/d.example"

static void mkdir_p(const char *rel)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", tmpdir, rel);
	ck_assert_int_eq(system(cmd), 0);
}

static void put(const char *rel, const char *text, mode_t mode)
{
	const char *p = at(rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* The content of TMPDIR/REL, or NULL when it does not exist; a fresh string. */
static char *get(const char *rel)
{
	struct mr_buf b = MR_BUF_INIT, err = MR_BUF_INIT;
	int rc = mr_read_file(at(rel), 1 << 20, &b, &err);
	mr_buf_release(&err);
	if (rc == -ENOENT) {
		mr_buf_release(&b);
		return NULL;
	}
	ck_assert_int_eq(rc, 0);
	return mr_buf_detach(&b);
}

static int is(const char *rel, const char *want)
{
	char *got = get(rel);
	int same = want ? got && strcmp(got, want) == 0 : !got;
	free(got);
	return same;
}

static unsigned mode_of(const char *rel)
{
	struct stat st;
	ck_assert_int_eq(lstat(at(rel), &st), 0);
	return st.st_mode & 07777;
}

/* The names in TMPDIR/REL, sorted, joined with '|'. */
static char *listing(const char *rel)
{
	DIR *d = opendir(at(rel));
	ck_assert_ptr_nonnull(d);
	struct mr_pathlist l = MR_PATHLIST_INIT;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			mr_pathlist_add(&l, de->d_name);
	closedir(d);
	mr_pathlist_sort(&l);
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_adds(&b, "");
	for (size_t i = 0; i < l.n; i++)
		mr_buf_addf(&b, "%s%s", i ? "|" : "", l.v[i]);
	mr_pathlist_release(&l);
	return mr_buf_detach(&b);
}

static void assert_listing(const char *rel, const char *want)
{
	char *got = listing(rel);
	ck_assert_str_eq(got, want);
	free(got);
}

static size_t count_temps(const char *rel)
{
	char *l = listing(rel);
	size_t n = 0;
	for (const char *s = l; (s = strstr(s, ".mailrecon-tmp.")) != NULL; s++)
		n++;
	free(l);
	return n;
}

/* A PID no process has: a child that is gone. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

static int64_t test_uid(void)
{
	return getuid() == 0 ? 1234 : (int64_t)getuid();
}

static int64_t test_gid(void)
{
	return getuid() == 0 ? 5678 : (int64_t)getgid();
}

START_TEST(commit_applies_writes_unlinks_and_moves)
{
	mk_tmp();
	mkdir(at("state"), 0700);
	mkdir_p(HOMES "/info");
	chmod(at(HOMES "/info"), 0700);
	put(HOMES "/info/msg", "hello\n", 0600);
	put("a", "A-old\n", 0644);
	put("b", "B-old\n", 0600);
	put("gone", "x\n", 0644);
	struct mr_buf err = MR_BUF_INIT;
	struct mr_txn *t = mr_txn_begin(at("state/journal"));
	ck_assert_int_eq(mr_txn_write(t, at("a"), "A-new\n", 6, 0600, test_uid(), test_gid(), &err), 0);
	ck_assert_int_eq(mr_txn_write(t, at("b"), "B-new\n", 6, 0644, -1, -1, &err), 0);
	ck_assert_int_eq(mr_txn_write(t, at("c"), "C-new\n", 6, 0640, -1, test_gid(), &err), 0);
	ck_assert_int_eq(mr_txn_unlink(t, at("gone"), &err), 0);
	ck_assert_int_eq(mr_txn_move(t, at(HOMES "/info"), at("archive/2024-01-01/info@example.com"), &err), 0);
	ck_assert_msg(err.len == 0, "%s", err.ptr);
	/* staged beside the targets, nothing live changed yet */
	ck_assert_uint_eq(count_temps("."), 3);
	ck_assert(is("a", "A-old\n") && is("b", "B-old\n") && is("c", NULL) && is("gone", "x\n"));
	assert_listing("state", "");

	ck_assert_int_eq(mr_txn_commit(t, &err), 0);
	ck_assert_msg(err.len == 0, "%s", err.ptr);
	mr_txn_free(&t);
	ck_assert_ptr_null(t);

	assert_listing(".", "a|archive|b|c|state|var");
	assert_listing("state", "");
	assert_listing(HOMES, "");
	ck_assert(is("a", "A-new\n") && is("b", "B-new\n") && is("c", "C-new\n") && is("gone", NULL));
	ck_assert(is("archive/2024-01-01/info@example.com/msg", "hello\n"));
	ck_assert_uint_eq(mode_of("a"), 0600);
	ck_assert_uint_eq(mode_of("b"), 0644);
	ck_assert_uint_eq(mode_of("c"), 0640);
	ck_assert_uint_eq(mode_of("archive"), 0700);
	ck_assert_uint_eq(mode_of("archive/2024-01-01"), 0700);
	ck_assert_uint_eq(mode_of("archive/2024-01-01/info@example.com"), 0700);
	struct stat st;
	ck_assert_int_eq(lstat(at("a"), &st), 0);
	ck_assert_int_eq(st.st_uid, test_uid());
	ck_assert_int_eq(st.st_gid, test_gid());
	ck_assert_int_eq(lstat(at("b"), &st), 0);
	ck_assert_int_eq(st.st_uid, getuid());
	ck_assert_int_eq(lstat(at("c"), &st), 0);
	ck_assert_int_eq(st.st_uid, getuid());
	ck_assert_int_eq(st.st_gid, test_gid());

	/* a committed transaction takes nothing more */
	t = mr_txn_begin(at("state/journal"));
	ck_assert_int_eq(mr_txn_commit(t, &err), 0); /* empty: no journal at all */
	ck_assert_int_eq(mr_txn_write(t, at("a"), "x", 1, 0600, -1, -1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "already committed"));
	mr_txn_free(&t);
	assert_listing("state", "");
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

START_TEST(refusals_stage_nothing)
{
	mk_tmp();
	put("a", "A\n", 0644);
	mkdir(at("dir"), 0755);
	ck_assert_int_eq(symlink("a", at("link")), 0);
	ck_assert_int_eq(mkfifo(at("fifo"), 0600), 0);
	mkdir_p(HOMES "/dir");
	mkdir_p(HOMES "/taken");
	char *before = listing(".");
	struct mr_buf err = MR_BUF_INIT;
	struct mr_txn *t = mr_txn_begin(at("journal"));
	static const struct {
		const char *target, *msg;
	} bad[] = {
		{ "link", "is a symbolic link; refused" },
		{ "dir", "is a directory" },
		{ "fifo", "is not a regular file" },
		{ "nope/a", "/nope' does not exist" },
		{ "a/b", "is not a directory" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mr_buf_reset(&err);
		ck_assert_int_eq(mr_txn_write(t, at(bad[i].target), "x", 1, 0600, -1, -1, &err), -1);
		ck_assert_msg(strstr(err.ptr, bad[i].msg), "%s: %s", bad[i].target, err.ptr);
		ck_assert_msg(strstr(err.ptr, tmpdir), "%s", err.ptr);
	}
	static const char *const unclean[] = { "relative", "/", "/etc/../x", "/etc//x", "/etc/x/", "/./x" };
	for (size_t i = 0; i < sizeof(unclean) / sizeof(unclean[0]); i++) {
		mr_buf_reset(&err);
		ck_assert_int_eq(mr_txn_write(t, unclean[i], "x", 1, 0600, -1, -1, &err), -1);
		ck_assert_ptr_nonnull(strstr(err.ptr, "not a clean absolute path"));
	}
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_write(t, at("a"), "x", 1, 010000, -1, -1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "not a file mode"));
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_unlink(t, at("link"), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "symbolic link"));
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_unlink(t, at("dir"), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "is a directory"));
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_move(t, at(HOMES "/dir"), at(HOMES "/taken"), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "already exists"));
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_move(t, at(HOMES "/dir"), at(HOMES "/dir/sub"), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "inside the other"));
	mr_buf_reset(&err);
	/* only a home moves, and only to a home or an archive entry; only a home is purged */
	ck_assert_int_eq(mr_txn_move(t, at("dir"), at("archive/x/y@d.example"), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "a home moves only to a home or an archive entry"));
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_move(t, at(HOMES "/dir"), at("etc/x"), &err), -1);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_purge(t, at("dir"), &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "only a mailbox home is ever purged"));
	ck_assert_int_eq(mr_txn_move(t, at(HOMES "/dir"), at("archive/dir@d.example/1"), &err), 0);
	/* one path, one operation */
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_write(t, at(HOMES "/dir/x"), "x", 1, 0600, -1, -1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "changed twice"));
	ck_assert_int_eq(mr_txn_unlink(t, at("a"), &err), 0);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_write(t, at("a"), "x", 1, 0600, -1, -1, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "changed twice"));
	/* nothing was staged by any refusal */
	char *now = listing(".");
	ck_assert_str_eq(now, before);
	free(now);
	mr_txn_abort(&t);
	ck_assert_ptr_null(t);
	now = listing(".");
	ck_assert_str_eq(now, before);
	free(now);
	free(before);
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

/* Debian's dovecot.pem -> snakeoil: a root-owned link at a target given to
 * mr_txn_replace_link is replaced by the file, never followed; any other link stays refused. */
START_TEST(replace_link_renames_over_roots_link_only)
{
	mk_tmp();
	put("snakeoil", "S\n", 0644);
	ck_assert_int_eq(symlink("snakeoil", at("pem")), 0);
	ck_assert_int_eq(symlink("snakeoil", at("key")), 0);
	ck_assert_int_eq(symlink("snakeoil", at("other")), 0);
	struct mr_buf err = MR_BUF_INIT;
	struct mr_txn *t = mr_txn_begin(at("journal"));
	/* not named: refused as always */
	ck_assert_int_eq(mr_txn_write(t, at("other"), "x", 1, 0600, -1, -1, &err), -1);
	ck_assert_msg(strstr(err.ptr, "is a symbolic link; refused"), "%s", err.ptr);
	mr_txn_replace_link(t, at("pem"));
	mr_txn_replace_link(t, at("key"));
	mr_buf_reset(&err);
	if (getuid() != 0) {
		/* the links are this user's, not root's: still refused */
		ck_assert_int_eq(mr_txn_write(t, at("pem"), "P\n", 2, 0600, -1, -1, &err), -1);
		ck_assert_msg(strstr(err.ptr, "is a symbolic link; refused"), "%s", err.ptr);
		mr_txn_abort(&t);
		mr_buf_release(&err);
		rm_tmp();
		return;
	}
	ck_assert_int_eq(mr_txn_write(t, at("pem"), "P\n", 2, 0600, -1, -1, &err), 0);
	/* a link someone else owns, at a named target: refused */
	ck_assert_int_eq(lchown(at("key"), 65534, 65534), 0);
	ck_assert_int_eq(mr_txn_write(t, at("key"), "K\n", 2, 0600, -1, -1, &err), -1);
	ck_assert_msg(strstr(err.ptr, "is a symbolic link; refused"), "%s", err.ptr);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_commit(t, &err), 0);
	ck_assert_msg(err.len == 0, "%s", err.ptr);
	mr_txn_free(&t);
	struct stat st;
	ck_assert_int_eq(lstat(at("pem"), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(mode_of("pem"), 0600);
	ck_assert(is("pem", "P\n"));
	/* what the link pointed at is untouched, and the other links are still links */
	ck_assert(is("snakeoil", "S\n"));
	ck_assert_int_eq(lstat(at("key"), &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(lstat(at("other"), &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

/* Crash right after the temp file got its owner and mode: it is there, empty, already narrow. */
START_TEST(owner_and_mode_come_before_content)
{
	static const unsigned modes[] = { 0600, 0640, 0644 };
	for (size_t i = 0; i < 3; i++) {
		mk_tmp();
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			setenv("MAILRECON_CRASH_AT", "1", 1);
			mr_faults_reset();
			struct mr_buf err = MR_BUF_INIT;
			struct mr_txn *t = mr_txn_begin(at("journal"));
			mr_txn_write(t, at("secret"), "s3cret\n", 7, modes[i], test_uid(), test_gid(), &err);
			_exit(1);
		}
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 99);
		char *l = listing(".");
		ck_assert_msg(strncmp(l, ".secret.mailrecon-tmp.", 22) == 0 && !strchr(l, '|'), "%s", l);
		struct stat st;
		ck_assert_int_eq(lstat(at(l), &st), 0);
		ck_assert(S_ISREG(st.st_mode));
		ck_assert_int_eq(st.st_size, 0);
		ck_assert_uint_eq(st.st_mode & 07777, modes[i]);
		ck_assert_int_eq(st.st_uid, test_uid());
		ck_assert_int_eq(st.st_gid, test_gid());
		free(l);
		/* the leftover goes at the next run */
		struct mr_buf report = MR_BUF_INIT;
		ck_assert_int_eq(mr_txn_cleanup_temps(tmpdir, &report), 1);
		ck_assert_ptr_nonnull(strstr(report.ptr, ".secret.mailrecon-tmp."));
		assert_listing(".", "");
		mr_buf_release(&report);
		rm_tmp();
	}
}
END_TEST

/* What changed between staging and commit is caught before the journal: nothing is touched. */
START_TEST(commit_checks_again_before_the_journal)
{
	for (int round = 0; round < 4; round++) {
		mk_tmp();
		put("a", "A\n", 0644);
		put("b", "B\n", 0644);
		mkdir_p(HOMES "/from");
		struct mr_buf err = MR_BUF_INIT;
		struct mr_txn *t = mr_txn_begin(at("journal"));
		ck_assert_int_eq(mr_txn_write(t, at("a"), "A2\n", 3, 0644, -1, -1, &err), 0);
		ck_assert_int_eq(mr_txn_unlink(t, at("b"), &err), 0);
		ck_assert_int_eq(mr_txn_move(t, at(HOMES "/from"), at(HOMES "/to"), &err), 0);
		const char *msg = NULL;
		if (round == 0) {
			unlink(at("a"));
			ck_assert_int_eq(symlink("b", at("a")), 0);
			msg = "/a' is a symbolic link";
		} else if (round == 1) {
			unlink(at("b"));
			mkdir(at("b"), 0700);
			msg = "/b' is a directory";
		} else if (round == 2) {
			/* a home's target made meanwhile: never a reason to stop -- the home is left
			 * where it is, and the commit says so */
			mkdir_p(HOMES "/to");
			ck_assert_int_eq(mr_txn_commit(t, &err), 0);
			size_t n;
			const char *notes = mr_txn_notes(t, &n);
			ck_assert_uint_eq(n, 1);
			ck_assert_msg(notes && strstr(notes, "/to' already exists"), "%s", notes ? notes : "(none)");
			mr_txn_free(&t);
			ck_assert(is("a", "A2\n") && is("b", NULL));
			struct stat st;
			ck_assert(lstat(at(HOMES "/from"), &st) == 0 && S_ISDIR(st.st_mode));
			mr_buf_release(&err);
			rm_tmp();
			continue;
		} else {
			char *l = listing(".");
			char *tmp = strstr(l, ".a.mailrecon-tmp.");
			*strchr(tmp, '|') = '\0';
			unlink(at(tmp));
			free(l);
			msg = "/a' (staged as";
		}
		ck_assert_int_eq(mr_txn_commit(t, &err), -1);
		char want[256];
		snprintf(want, sizeof(want), "%s%s", tmpdir, msg);
		ck_assert_msg(strstr(err.ptr, want), "%d: %s", round, err.ptr);
		ck_assert(is("journal", NULL));
		mr_txn_abort(&t);
		ck_assert_uint_eq(count_temps("."), 0);
		ck_assert(round == 1 || is("b", "B\n"));
		ck_assert(round == 0 || round == 3 || is("a", "A\n"));
		struct stat st;
		ck_assert(lstat(at(HOMES "/from"), &st) == 0 && S_ISDIR(st.st_mode));
		mr_buf_release(&err);
		rm_tmp();
	}
}
END_TEST

START_TEST(abort_and_free_remove_what_was_staged)
{
	mk_tmp();
	put("a", "A\n", 0644);
	put("b", "B\n", 0644);
	struct mr_buf err = MR_BUF_INIT;
	for (int round = 0; round < 2; round++) {
		struct mr_txn *t = mr_txn_begin(at("journal"));
		ck_assert_int_eq(mr_txn_write(t, at("a"), "A2\n", 3, 0644, -1, -1, &err), 0);
		ck_assert_int_eq(mr_txn_write(t, at("new"), "N\n", 2, 0644, -1, -1, &err), 0);
		ck_assert_int_eq(mr_txn_unlink(t, at("b"), &err), 0);
		ck_assert_uint_eq(count_temps("."), 2);
		if (round == 0)
			mr_txn_abort(&t);
		else
			mr_txn_free(&t);
		ck_assert_ptr_null(t);
		assert_listing(".", "a|b");
		ck_assert(is("a", "A\n") && is("b", "B\n"));
	}
	mr_txn_free(&(struct mr_txn *){ NULL });
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

START_TEST(a_home_gone_before_the_switch_does_not_stop_the_commit)
{
	/* a tenant removes a home between staging and the switch: the archive directory is never
	 * made, and the commit (and the journal) must not stop on syncing it */
	mk_tmp();
	mkdir(at("state"), 0700);
	mkdir_p(HOMES "/info");
	chmod(at(HOMES "/info"), 0700);
	put("a", "A-old\n", 0644);
	struct mr_buf err = MR_BUF_INIT;
	struct mr_txn *t = mr_txn_begin(at("state/journal"));
	ck_assert_int_eq(mr_txn_write(t, at("a"), "A-new\n", 6, 0644, -1, -1, &err), 0);
	ck_assert_int_eq(mr_txn_move(t, at(HOMES "/info"), at("archive/2024-01-01/info@example.com"), &err), 0);
	ck_assert_int_eq(rmdir(at(HOMES "/info")), 0);
	ck_assert_int_eq(mr_txn_commit(t, &err), 0);
	ck_assert_msg(err.len == 0, "%s", err.ptr);
	/* nothing was there to archive: nothing said, nothing left alone */
	size_t n;
	ck_assert_ptr_null(mr_txn_notes(t, &n));
	ck_assert_ptr_null(mr_txn_done(t));
	mr_txn_free(&t);
	assert_listing("state", "");
	ck_assert(is("a", "A-new\n"));
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

START_TEST(abort_removes_the_directories_staging_made)
{
	mk_tmp();
	mkdir(at("keep"), 0755);
	struct mr_buf err = MR_BUF_INIT;
	for (int round = 0; round < 2; round++) {
		struct mr_txn *t = mr_txn_begin(at("journal"));
		ck_assert_int_eq((mr_txn_mkdirs)(t, "/keep/x/y", 0755, &err), 0);
		ck_assert_int_eq((mr_txn_mkdirs)(t, "/new/z", 0755, &err), 0);
		ck_assert_int_eq(mr_txn_write(t, at("keep/x/y/f"), "F\n", 2, 0644, -1, -1, &err), 0);
		ck_assert_int_eq(mr_txn_write(t, at("new/z/g"), "G\n", 2, 0644, -1, -1, &err), 0);
		if (round == 0) {
			mr_txn_abort(&t);
			/* the directories that were there stay; the ones staging made are gone */
			assert_listing(".", "keep");
			assert_listing("keep", "");
		} else {
			ck_assert_int_eq(mr_txn_commit(t, &err), 0);
			mr_txn_free(&t);
			assert_listing(".", "keep|new");
			ck_assert(is("keep/x/y/f", "F\n") && is("new/z/g", "G\n"));
		}
	}
	/* a directory someone filled meanwhile is not removed */
	struct mr_txn *t = mr_txn_begin(at("journal"));
	ck_assert_int_eq((mr_txn_mkdirs)(t, "/other/d", 0755, &err), 0);
	put("other/d/theirs", "T\n", 0644);
	mr_txn_abort(&t);
	ck_assert(is("other/d/theirs", "T\n"));
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

START_TEST(torn_journal_is_rolled_back)
{
	mk_tmp();
	put("a", "A-old\n", 0644);
	put("b", "B-old\n", 0644);
	pid_t dead = dead_pid();
	char ta[64], tb[64], journal[2048];
	snprintf(ta, sizeof(ta), ".a.mailrecon-tmp.%d.1", (int)dead);
	snprintf(tb, sizeof(tb), ".b.mailrecon-tmp.%d.2", (int)dead);
	put(ta, "A-new\n", 0644);
	put(tb, "B-new\n", 0644);
	/* cut inside the third line: the crash came while the journal was written */
	snprintf(journal, sizeof(journal),
		 "mailrecon-journal 1\nwrite %s %s\nwrite %s %s\nunlink %s/g", at(ta), at("a"), at(tb),
		 at("b"), tmpdir);
	put("journal", journal, 0600);
	struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT;
	ck_assert_int_eq(mr_txn_recover(at("journal"), &report, &err), 0);
	ck_assert_msg(err.len == 0, "%s", err.ptr);
	ck_assert_ptr_nonnull(strstr(report.ptr, "an interrupted apply was undone"));
	ck_assert_ptr_nonnull(strstr(report.ptr, "2 staged files were removed"));
	assert_listing(".", "a|b");
	ck_assert(is("a", "A-old\n") && is("b", "B-old\n"));
	/* again: nothing to do, nothing said */
	mr_buf_reset(&report);
	ck_assert_int_eq(mr_txn_recover(at("journal"), &report, &err), 0);
	ck_assert_uint_eq(report.len, 0);

	/* a journal cut anywhere, even in its first line, is undone */
	static const char *const torn[] = { "", "mailrec", "mailrecon-journal 1", "mailrecon-journal 1\n",
					    "mailrecon-journal 1\nen", "mailrecon-journal 1\nend" };
	for (size_t i = 0; i < sizeof(torn) / sizeof(torn[0]); i++) {
		put("journal", torn[i], 0600);
		mr_buf_reset(&report);
		ck_assert_int_eq(mr_txn_recover(at("journal"), &report, &err), 0);
		ck_assert_ptr_nonnull(strstr(report.ptr, "undone"));
		assert_listing(".", "a|b");
	}
	mr_buf_release(&report);
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

START_TEST(complete_journal_is_rolled_forward)
{
	mk_tmp();
	put("a", "A-old\n", 0644);
	put("we ird%\nname", "W-old\n", 0644);
	put("c", "C-new\n", 0644); /* renamed before the crash */
	put("gone", "x\n", 0644);
	mkdir_p(HOMES "/m");
	put(HOMES "/m/m", "mail\n", 0600);
	pid_t dead = dead_pid();
	char ta[64], tw[64], tc[64];
	snprintf(ta, sizeof(ta), ".a.mailrecon-tmp.%d.1", (int)dead);
	snprintf(tw, sizeof(tw), ".we ird%%\nname.mailrecon-tmp.%d.2", (int)dead);
	snprintf(tc, sizeof(tc), ".c.mailrecon-tmp.%d.3", (int)dead);
	put(ta, "A-new\n", 0640);
	put(tw, "W-new\n", 0600);
	struct mr_buf j = MR_BUF_INIT;
	mr_buf_addf(&j, "mailrecon-journal 1\nwrite %s %s\n", at(ta), at("a"));
	mr_buf_addf(&j, "write %s/.we%%20ird%%25%%0Aname.mailrecon-tmp.%d.2 %s/we%%20ird%%25%%0aname\n",
		    tmpdir, (int)dead, tmpdir);
	mr_buf_addf(&j, "write %s %s\nunlink %s\nmove %s %s\nend\n", at(tc), at("c"), at("gone"),
		    at(HOMES "/m"), at("archive/m@d.example/1"));
	put("journal", j.ptr, 0600);
	mr_buf_release(&j);

	struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT;
	ck_assert_int_eq(mr_txn_recover(at("journal"), &report, &err), 0);
	ck_assert_msg(err.len == 0, "%s", err.ptr);
	ck_assert_ptr_nonnull(strstr(report.ptr, "an interrupted apply was finished"));
	ck_assert_ptr_nonnull(strstr(report.ptr, "we ird%\nname"));
	ck_assert_ptr_nonnull(strstr(report.ptr, "removed '"));
	ck_assert_ptr_nonnull(strstr(report.ptr, "moved '"));
	ck_assert(is("a", "A-new\n") && is("we ird%\nname", "W-new\n") && is("c", "C-new\n"));
	ck_assert(is("gone", NULL) && is("archive/m@d.example/1/m", "mail\n"));
	ck_assert_uint_eq(mode_of("a"), 0640);
	ck_assert_uint_eq(mode_of("archive/m@d.example"), 0700);
	assert_listing(".", "a|archive|c|var|we ird%\nname");
	/* idempotent: a second run finds nothing */
	mr_buf_reset(&report);
	ck_assert_int_eq(mr_txn_recover(at("journal"), &report, &err), 0);
	ck_assert_uint_eq(report.len, 0);
	ck_assert(is("a", "A-new\n") && is("archive/m@d.example/1/m", "mail\n"));

	/* the same journal again, all done already (and the mailbox recreated meanwhile) */
	mkdir_p(HOMES "/m");
	j = (struct mr_buf)MR_BUF_INIT;
	mr_buf_addf(&j, "mailrecon-journal 1\nwrite %s %s\nmove %s %s\nend\n", at(ta), at("a"),
		    at(HOMES "/m"), at("archive/m@d.example/1"));
	put("journal", j.ptr, 0600);
	mr_buf_release(&j);
	mr_buf_reset(&report);
	ck_assert_int_eq(mr_txn_recover(at("journal"), &report, &err), 0);
	ck_assert_ptr_nonnull(strstr(report.ptr, "was left in place"));
	ck_assert(is("a", "A-new\n") && is("archive/m@d.example/1/m", "mail\n"));
	assert_listing(".", "a|archive|c|var|we ird%\nname");
	mr_buf_release(&report);
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

START_TEST(odd_journals_are_refused_and_kept)
{
	mk_tmp();
	put("a", "A\n", 0644);
	char line[1024];
	snprintf(line, sizeof(line), "write %s/.a.mailrecon-tmp.1.1 %s\n", tmpdir, at("a"));
	static const struct {
		const char *head, *tail, *msg;
	} bad[] = {
		{ "mailrecon-journal 1\nwrite /x\n", "end\n", "damaged (line 2)" },
		{ "mailrecon-journal 1\n", "end\nend\n", "damaged (line 4)" },
		{ "mailrecon-journal 1\nfrobnicate /x\n", "end\n", "damaged" },
		{ "mailrecon-journal 1\nunlink x\n", "end\n", "damaged" },
		{ "mailrecon-journal 1\nunlink /a%zz\n", "end\n", "damaged" },
		{ "mailrecon-journal 1\nwrite /etc/.x.mailrecon-tmp.1.1 /var/x\n", "end\n", "damaged" },
		{ "mailrecon-journal 1\nwrite /etc/passwd /etc/shadow\n", "end\n", "damaged" },
		{ "mailrecon-journal 1\nmove /a /a/b\n", "end\n", "damaged" },
		{ "mailrecon-journal 1\n", "end\ntrailing", "damaged" },
		{ "mailrecon-journal 3\n", "end\n", "of another mailrecon version" },
		{ "#!/bin/sh\n", "end\n", "not a mailrecon journal" },
	};
	struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT, j = MR_BUF_INIT;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mr_buf_reset(&j);
		mr_buf_addf(&j, "%s%s%s", bad[i].head, i == 1 ? line : "", bad[i].tail);
		put("journal", j.ptr, 0600);
		mr_buf_reset(&err);
		ck_assert_int_eq(mr_txn_recover(at("journal"), &report, &err), -1);
		ck_assert_msg(strstr(err.ptr, bad[i].msg), "%zu: %s", i, err.ptr);
		ck_assert_ptr_nonnull(strstr(err.ptr, "refused"));
		ck_assert(is("journal", j.ptr));
		ck_assert(is("a", "A\n"));
	}
	ck_assert_uint_eq(report.len, 0);
	/* a journal that is a symbolic link is not followed */
	unlink(at("journal"));
	ck_assert_int_eq(symlink("a", at("journal")), 0);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_recover(at("journal"), &report, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "symbolic link"));
	/* and a commit never writes over an existing journal */
	unlink(at("journal"));
	put("journal", "mailrecon-journal 1\nend\n", 0600);
	struct mr_txn *t = mr_txn_begin(at("journal"));
	ck_assert_int_eq(mr_txn_write(t, at("a"), "new\n", 4, 0644, -1, -1, &err), 0);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_commit(t, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "already exists: an interrupted apply must be finished"));
	mr_txn_free(&t);
	ck_assert(is("a", "A\n") && is("journal", "mailrecon-journal 1\nend\n"));
	assert_listing(".", "a|journal");
	mr_buf_release(&report);
	mr_buf_release(&err);
	mr_buf_release(&j);
	rm_tmp();
}
END_TEST

START_TEST(fault_seams_follow_the_environment)
{
	mk_tmp();
	ck_assert_int_eq(mr_fault_check("write"), 0);
	setenv("MAILRECON_FAULT", "write:ENOSPC", 1);
	ck_assert_int_eq(mr_fault_check("write"), 0); /* cached until reset */
	mr_faults_reset();
	errno = 0;
	ck_assert_int_eq(mr_fault_check("write"), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_int_eq(mr_fault_check("write"), -1);
	ck_assert_int_eq(mr_fault_check("fsync"), 0);
	setenv("MAILRECON_FAULT", "rename:EXDEV:3", 1);
	mr_faults_reset();
	ck_assert_int_eq(mr_fault_check("rename"), 0);
	ck_assert_int_eq(mr_fault_check("write"), 0);
	ck_assert_int_eq(mr_fault_check("rename"), 0);
	ck_assert_int_eq(mr_fault_check("rename"), -1);
	ck_assert_int_eq(errno, EXDEV);
	ck_assert_int_eq(mr_fault_check("rename"), 0);
	setenv("MAILRECON_FAULT", "fsync:EBOGUS", 1);
	mr_faults_reset();
	ck_assert_int_eq(mr_fault_check("fsync"), -1);
	ck_assert_int_eq(errno, EIO);
	setenv("MAILRECON_FAULT", "fsync:28", 1);
	mr_faults_reset();
	ck_assert_int_eq(mr_fault_check("fsync"), -1);
	ck_assert_int_eq(errno, 28);
	unsetenv("MAILRECON_FAULT");
	mr_faults_reset();
	ck_assert_int_eq(mr_fault_check("fsync"), 0);
	for (int i = 0; i < 5; i++)
		mr_crash_point();
	ck_assert_uint_eq(mr_crash_points_passed(), 5);
	mr_faults_reset();
	ck_assert_uint_eq(mr_crash_points_passed(), 0);
	rm_tmp();
}
END_TEST

static void set_fault(const char *spec)
{
	if (spec)
		setenv("MAILRECON_FAULT", spec, 1);
	else
		unsetenv("MAILRECON_FAULT");
	mr_faults_reset();
}

static void put_old_set(void)
{
	mkdir(at("state"), 0700);
	put("a", "A-old\n", 0644);
	put("b", "B-old\n", 0600);
	put("gone", "G\n", 0644);
}

static void assert_old_set(void)
{
	assert_listing(".", "a|b|gone|state");
	assert_listing("state", "");
	ck_assert(is("a", "A-old\n") && is("b", "B-old\n") && is("gone", "G\n"));
	ck_assert_uint_eq(mode_of("a"), 0644);
	ck_assert_uint_eq(mode_of("b"), 0600);
}

static void stage_new_set(struct mr_txn *t)
{
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_txn_write(t, at("a"), "A-new\n", 6, 0640, -1, -1, &err), 0);
	ck_assert_int_eq(mr_txn_write(t, at("b"), "B-new\n", 6, 0640, -1, -1, &err), 0);
	ck_assert_int_eq(mr_txn_write(t, at("c"), "C-new\n", 6, 0640, -1, -1, &err), 0);
	ck_assert_int_eq(mr_txn_unlink(t, at("gone"), &err), 0);
	ck_assert_msg(err.len == 0, "%s", err.ptr);
	mr_buf_release(&err);
}

static void assert_new_set(void)
{
	assert_listing(".", "a|b|c|state");
	assert_listing("state", "");
	ck_assert(is("a", "A-new\n") && is("b", "B-new\n") && is("c", "C-new\n"));
	ck_assert(mode_of("a") == 0640 && mode_of("b") == 0640 && mode_of("c") == 0640);
}

START_TEST(staging_faults_fail_cleanly)
{
	static const struct {
		const char *fault, *msg;
		int err;
	} faults[] = {
		{ "write:ENOSPC", "cannot write the new '", ENOSPC },
		{ "fsync:EIO", "cannot sync the new '", EIO },
		{ "fchmod:EPERM", "the mode 0640", EPERM },
		{ "fchown:EPERM", "the owner", EPERM },
		{ "open:EACCES", "cannot create '", EACCES },
	};
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		mk_tmp();
		put_old_set();
		set_fault(faults[i].fault);
		int e = faults[i].err;
		struct mr_buf err = MR_BUF_INIT;
		struct mr_txn *t = mr_txn_begin(at("state/journal"));
		ck_assert_int_eq(mr_txn_write(t, at("b"), "B-new\n", 6, 0640, test_uid(), test_gid(), &err), -1);
		ck_assert_msg(strstr(err.ptr, faults[i].msg), "%s: %s", faults[i].fault, err.ptr);
		ck_assert_msg(strstr(err.ptr, strerror(e)), "%s: %s", faults[i].fault, err.ptr);
		ck_assert_msg(strstr(err.ptr, at("b")), "%s", err.ptr);
		assert_old_set(); /* nothing staged */
		mr_txn_abort(&t);
		set_fault(NULL);
		struct mr_buf report = MR_BUF_INIT;
		ck_assert_int_eq(mr_txn_recover(at("state/journal"), &report, &err), 0);
		ck_assert_uint_eq(report.len, 0);
		assert_old_set();
		mr_buf_release(&report);
		mr_buf_release(&err);
		rm_tmp();
	}
}
END_TEST

START_TEST(commit_faults_before_any_change_leave_the_old_files)
{
	static const struct {
		const char *fault, *msg;
	} faults[] = {
		{ "rename:EXDEV", "Invalid cross-device link; nothing was changed" },
		{ "fsync:EIO", "cannot sync directory" },            /* the staged files' directory */
		{ "fsync:EIO:2", "cannot sync the journal" },       /* the journal */
		{ "fsync:EIO:3", "cannot sync directory" },         /* the journal's directory */
		{ "write:ENOSPC", "cannot write the journal" },
		{ "open:EACCES", "cannot create the journal" },
		{ "unlink:EIO:1", "Input/output error; nothing was changed" }, /* the first operation */
	};
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		mk_tmp();
		put_old_set();
		struct mr_txn *t = mr_txn_begin(at("state/journal"));
		struct mr_buf err = MR_BUF_INIT;
		if (strncmp(faults[i].fault, "unlink:", 7) == 0)
			ck_assert_int_eq(mr_txn_unlink(t, at("gone"), &err), 0);
		else
			stage_new_set(t);
		set_fault(faults[i].fault);
		ck_assert_int_eq(mr_txn_commit(t, &err), -1);
		ck_assert_msg(strstr(err.ptr, faults[i].msg), "%s: %s", faults[i].fault, err.ptr);
		set_fault(NULL);
		char *l = listing("state");
		ck_assert_msg(*l == '\0', "%s: the journal is left: %s", faults[i].fault, l);
		free(l);
		mr_txn_abort(&t);
		assert_old_set();
		struct mr_buf report = MR_BUF_INIT;
		ck_assert_int_eq(mr_txn_recover(at("state/journal"), &report, &err), 0);
		ck_assert_uint_eq(report.len, 0);
		assert_old_set();
		mr_buf_release(&report);
		mr_buf_release(&err);
		rm_tmp();
	}
}
END_TEST

START_TEST(commit_faults_after_a_change_are_finished_by_recover)
{
	static const struct {
		const char *fault, *msg;
	} faults[] = {
		{ "rename:EXDEV:2", "Invalid cross-device link; the journal '" },
		{ "rename:EXDEV:3", "is kept, and the next run finishes the apply" },
		{ "unlink:EIO", "cannot remove '" },   /* the unlink, after three renames */
		{ "fsync:EIO:4", "cannot sync directory" }, /* the touched directory */
		{ "unlink:EROFS:2", "the changes are applied, but cannot remove the journal" },
	};
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		mk_tmp();
		put_old_set();
		struct mr_txn *t = mr_txn_begin(at("state/journal"));
		stage_new_set(t);
		set_fault(faults[i].fault);
		struct mr_buf err = MR_BUF_INIT;
		ck_assert_int_eq(mr_txn_commit(t, &err), -1);
		ck_assert_msg(strstr(err.ptr, faults[i].msg), "%s: %s", faults[i].fault, err.ptr);
		set_fault(NULL);
		assert_listing("state", "journal");
		mr_txn_free(&t); /* keeps what the journal needs */
		struct mr_buf report = MR_BUF_INIT;
		ck_assert_int_eq(mr_txn_recover(at("state/journal"), &report, &err), 0);
		ck_assert_ptr_nonnull(strstr(report.ptr, "an interrupted apply was finished"));
		ck_assert_ptr_nonnull(strstr(report.ptr, at("c")));
		assert_new_set();
		mr_buf_release(&report);
		mr_buf_release(&err);
		rm_tmp();
	}
	/* recovery itself failing: the journal stays, the next try finishes */
	mk_tmp();
	put_old_set();
	struct mr_txn *t = mr_txn_begin(at("state/journal"));
	stage_new_set(t);
	set_fault("rename:EXDEV:2");
	struct mr_buf err = MR_BUF_INIT, report = MR_BUF_INIT;
	ck_assert_int_eq(mr_txn_commit(t, &err), -1);
	mr_txn_free(&t);
	set_fault("rename:EIO");
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_recover(at("state/journal"), &report, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "cannot finish the interrupted apply"));
	ck_assert_ptr_nonnull(strstr(err.ptr, "Input/output error"));
	ck_assert_uint_eq(report.len, 0);
	assert_listing("state", "journal");
	set_fault(NULL);
	ck_assert_int_eq(mr_txn_recover(at("state/journal"), &report, &err), 0);
	assert_new_set();
	mr_buf_release(&report);
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

START_TEST(cleanup_temps_removes_only_dead_leftovers)
{
	mk_tmp();
	char dead[64], mine[64], deaddir[64];
	pid_t d = dead_pid();
	snprintf(dead, sizeof(dead), ".a.mailrecon-tmp.%d.3", (int)d);
	snprintf(mine, sizeof(mine), ".b.mailrecon-tmp.%d.1", (int)getpid());
	snprintf(deaddir, sizeof(deaddir), ".c.mailrecon-tmp.%d.1", (int)d);
	put(dead, "x", 0600);
	put(mine, "x", 0600);
	mkdir(at(deaddir), 0700);
	put(".mailrecon-tmp.1.1", "x", 0600);
	put("x.mailrecon-tmp.1.1", "x", 0600);
	put(".x.mailrecon-tmp.1.1.bak", "x", 0600);
	put(".x.mailrecon-tmp.1.", "x", 0600);
	put("keep", "x", 0600);
	char *before = listing(".");
	struct mr_buf report = MR_BUF_INIT;
	ck_assert_int_eq(mr_txn_cleanup_temps(tmpdir, &report), 1);
	ck_assert_ptr_nonnull(strstr(report.ptr, dead));
	ck_assert(is(dead, NULL) && is(mine, "x") && is("keep", "x"));
	char *after = listing(".");
	ck_assert_uint_eq(strlen(after) + strlen(dead) + 1, strlen(before));
	mr_buf_reset(&report);
	ck_assert_int_eq(mr_txn_cleanup_temps(tmpdir, &report), 0);
	ck_assert_uint_eq(report.len, 0);
	ck_assert_int_eq(mr_txn_cleanup_temps(at("absent"), &report), 0);
	free(before);
	free(after);
	mr_buf_release(&report);
	rm_tmp();
}
END_TEST

/*
 * The crash test: a child stages and commits five files (one new, one with a name that
 * needs escaping), removes one and archives a mailbox, and dies at crash point k; the
 * parent then does what the next apply does first.  Every k must leave the whole old set
 * or the whole new set, and nothing behind.
 */
#define NFILES 5
static const char *const crash_files[NFILES] = { "f0", "f1", "we ird%\nf2", "f3", "f4-new" };

static void crash_setup(void)
{
	mkdir(at("state"), 0700);
	mkdir_p(HOMES "/info");
	put(HOMES "/info/msg", "hello\n", 0600);
	put("gone", "G\n", 0644);
	for (int i = 0; i < NFILES - 1; i++) {
		char text[32];
		snprintf(text, sizeof(text), "old %d\n", i);
		put(crash_files[i], text, 0644);
	}
}

static void crash_apply(void)
{
	struct mr_buf err = MR_BUF_INIT;
	struct mr_txn *t = mr_txn_begin(at("state/journal"));
	for (int i = 0; i < NFILES; i++) {
		char text[32];
		snprintf(text, sizeof(text), "new %d, a little longer\n", i);
		if (mr_txn_write(t, at(crash_files[i]), text, strlen(text), 0640, -1, -1, &err) < 0)
			_exit(2);
	}
	if (mr_txn_unlink(t, at("gone"), &err) < 0 ||
	    mr_txn_move(t, at(HOMES "/info"), at("archive/2024/info@example.com"), &err) < 0)
		_exit(3);
	int rc = mr_txn_commit(t, &err);
	mr_txn_free(&t);
	_exit(rc == 0 ? 0 : 4);
}

/* 'o' all old, 'n' all new; a failed assertion otherwise. */
static char crash_state(unsigned k)
{
	int olds = 0, news = 0;
	for (int i = 0; i < NFILES; i++) {
		char o[32], n[32];
		snprintf(o, sizeof(o), "old %d\n", i);
		snprintf(n, sizeof(n), "new %d, a little longer\n", i);
		if (is(crash_files[i], i < NFILES - 1 ? o : NULL))
			olds++;
		else if (is(crash_files[i], n) && mode_of(crash_files[i]) == 0640)
			news++;
		else
			ck_abort_msg("crash at %u: '%s' is neither old nor new", k, crash_files[i]);
	}
	if (is("gone", "G\n") && is(HOMES "/info/msg", "hello\n") && is("archive/2024/info@example.com/msg", NULL))
		olds++;
	else if (is("gone", NULL) && is(HOMES "/info/msg", NULL) &&
		 is("archive/2024/info@example.com/msg", "hello\n"))
		news++;
	else
		ck_abort_msg("crash at %u: the removal and the move are half done", k);
	ck_assert_msg(olds == 0 || news == 0, "crash at %u: %d old and %d new: a mix", k, olds, news);
	ck_assert_uint_eq(count_temps("."), 0);
	assert_listing("state", "");
	return news ? 'n' : 'o';
}

static int run_child(const char *crash_at, void (*fn)(void))
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (crash_at)
			setenv("MAILRECON_CRASH_AT", crash_at, 1);
		mr_faults_reset();
		fn();
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int count_pipe[2];

static void counting_apply(void)
{
	struct mr_buf err = MR_BUF_INIT;
	struct mr_txn *t = mr_txn_begin(at("state/journal"));
	for (int i = 0; i < NFILES; i++)
		mr_txn_write(t, at(crash_files[i]), "x", 1, 0640, -1, -1, &err);
	mr_txn_unlink(t, at("gone"), &err);
	mr_txn_move(t, at(HOMES "/info"), at("archive/2024/info@example.com"), &err);
	int rc = mr_txn_commit(t, &err);
	unsigned n = rc == 0 ? mr_crash_points_passed() : 0;
	_exit(write(count_pipe[1], &n, sizeof(n)) == (ssize_t)sizeof(n) ? 0 : 6);
}

static void next_run(void)
{
	struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT;
	if (mr_txn_recover(at("state/journal"), &report, &err) < 0)
		ck_abort_msg("recover: %s", err.ptr);
	ck_assert_int_ge(mr_txn_cleanup_temps(tmpdir, &report), 0);
	mr_buf_release(&report);
	mr_buf_release(&err);
}

static void crash_recover(void)
{
	struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT;
	_exit(mr_txn_recover(at("state/journal"), &report, &err) == 0 ? 0 : 5);
}

static unsigned crash_points(void)
{
	mk_tmp();
	crash_setup();
	ck_assert_int_eq(pipe(count_pipe), 0);
	ck_assert_int_eq(run_child(NULL, counting_apply), 0);
	unsigned n = 0;
	ck_assert_int_eq(read(count_pipe[0], &n, sizeof(n)), (ssize_t)sizeof(n));
	close(count_pipe[0]);
	close(count_pipe[1]);
	rm_tmp();
	/* two per staged file, six in the commit, one per operation */
	ck_assert_uint_eq(n, 2 * NFILES + 6 + NFILES + 2);
	return n;
}

START_TEST(a_crash_at_any_point_leaves_old_or_new)
{
	unsigned K = crash_points() + 1;
	unsigned first_new = 0;
	for (unsigned k = 1; k <= K; k++) {
		mk_tmp();
		crash_setup();
		char num[16];
		snprintf(num, sizeof(num), "%u", k);
		int code = run_child(num, crash_apply);
		ck_assert_int_eq(code, k < K ? 99 : 0);
		next_run();
		char s = crash_state(k);
		if (s == 'n' && !first_new)
			first_new = k;
		/* once the journal is durable, every later crash gives the new set */
		ck_assert_msg(s == 'n' || !first_new, "crash at %u: old again after new at %u", k, first_new);
		rm_tmp();
	}
	/* staging, the directory sync and the torn journal give the old set; then the new */
	ck_assert_uint_eq(first_new, 2 * NFILES + 3);
}
END_TEST

/* A crash of the recovery itself (at every point of it) is recovered by the run after. */
START_TEST(a_crash_during_recovery_is_recovered_too)
{
	unsigned K = crash_points() + 1;
	unsigned runs = 0;
	/* the commit's crash points from the torn journal on: where a journal is left */
	for (unsigned k = 2 * NFILES + 2; k < K; k++) {
		for (unsigned j = 1;; j++) {
			mk_tmp();
			crash_setup();
			char num[16];
			snprintf(num, sizeof(num), "%u", k);
			ck_assert_int_eq(run_child(num, crash_apply), 99);
			snprintf(num, sizeof(num), "%u", j);
			int code = run_child(num, crash_recover);
			ck_assert_int_ne(code, 5);
			next_run();
			crash_state(k * 100 + j);
			rm_tmp();
			runs++;
			if (code == 0)
				break;
			ck_assert_uint_lt(j, 50);
		}
	}
	ck_assert_uint_gt(runs, K);
}
END_TEST

/* Two switches within one second, same size: the file must still look newer by the
 * whole-second mtime that Dovecot's passwd-file compares. */
START_TEST(a_rewrite_in_the_same_second_looks_newer)
{
	mk_tmp();
	char *target = mr_path_join(tmpdir, "dovecot.passwd"), *journal = mr_path_join(tmpdir, "journal");
	struct mr_buf err = MR_BUF_INIT;
	for (int round = 0; round < 3; round++) {
		struct stat before, after;
		bool existed = stat(target, &before) == 0;
		struct mr_txn *t = mr_txn_begin(journal);
		const char *data = round % 2 ? "a@b.example:{PLAIN}x1\n" : "a@b.example:{PLAIN}x2\n";
		ck_assert_int_eq(mr_txn_write(t, target, data, strlen(data), 0640, -1, -1, &err), 0);
		ck_assert_int_eq(mr_txn_commit(t, &err), 0);
		mr_txn_free(&t);
		ck_assert_int_eq(stat(target, &after), 0);
		if (existed)
			ck_assert_int_gt(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	}
	mr_buf_release(&err);
	free(target);
	free(journal);
	rm_tree(tmpdir);
}
END_TEST

Suite *suite_txn(void)
{
	Suite *s = suite_create("txn");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, commit_applies_writes_unlinks_and_moves);
	tcase_add_test(tc, a_rewrite_in_the_same_second_looks_newer);
	tcase_add_test(tc, refusals_stage_nothing);
	tcase_add_test(tc, replace_link_renames_over_roots_link_only);
	tcase_add_test(tc, owner_and_mode_come_before_content);
	tcase_add_test(tc, commit_checks_again_before_the_journal);
	tcase_add_test(tc, abort_and_free_remove_what_was_staged);
	tcase_add_test(tc, abort_removes_the_directories_staging_made);
	tcase_add_test(tc, a_home_gone_before_the_switch_does_not_stop_the_commit);
	tcase_add_test(tc, torn_journal_is_rolled_back);
	tcase_add_test(tc, complete_journal_is_rolled_forward);
	tcase_add_test(tc, odd_journals_are_refused_and_kept);
	tcase_add_test(tc, fault_seams_follow_the_environment);
	tcase_add_test(tc, staging_faults_fail_cleanly);
	tcase_add_test(tc, commit_faults_before_any_change_leave_the_old_files);
	tcase_add_test(tc, commit_faults_after_a_change_are_finished_by_recover);
	tcase_add_test(tc, cleanup_temps_removes_only_dead_leftovers);
	tcase_add_test(tc, a_crash_at_any_point_leaves_old_or_new);
	tcase_add_test(tc, a_crash_during_recovery_is_recovered_too);
	suite_add_tcase(s, tc);
	return s;
}
