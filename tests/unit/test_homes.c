/*
 * The transaction's home operations (mkhome, mvhome, purge), its re-check of the live files
 * before the switch, and recovery of each from its journal -- on a sandbox root next to a
 * decoy directory nothing may touch.  The tests run as root (chown).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply/txn.h"
#include "codec/live.h"
#include "crypto/digest.h"
#include "tests.h"
#include "util/faults.h"
#include "util/rootfs.h"

static char base[64], rootdir[96];
static struct mr_root *root;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static void setup(void)
{
	unsetenv("MAILRECON_FAULT");
	unsetenv("MAILRECON_CRASH_AT");
	unsetenv("MAILRECON_TEST_BEFORE_SWITCH");
	mr_faults_reset();
	mr_test_mkdtemp(base, sizeof(base), "mr-homes");
	snprintf(rootdir, sizeof(rootdir), "%s/root", base);
	sh("mkdir -p %s/var/lib/mailrecon %s/var/www/alice %s/decoy/sub && echo secret >%s/decoy/f", rootdir, rootdir, base,
	   base);
	sh("chown 5001:5001 %s/var/www/alice && chmod 0750 %s/var/www/alice", rootdir, rootdir);
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&root, rootdir, &err), 0);
	mr_buf_release(&err);
}

static void teardown(void)
{
	/* the decoy is exactly as made */
	sh("test \"$(cat %s/decoy/f)\" = secret && test $(find %s/decoy | wc -l) -eq 3", base, base);
	mr_root_close(&root);
	sh("rm -rf %s", base);
	unsetenv("MAILRECON_FAULT");
	unsetenv("MAILRECON_TEST_BEFORE_SWITCH");
	mr_faults_reset();
}

static void check_owner_mode(const char *rel, unsigned uid, unsigned mode)
{
	struct stat st;
	char p[512];
	snprintf(p, sizeof(p), "%s%s", rootdir, rel);
	ck_assert_msg(lstat(p, &st) == 0 && S_ISDIR(st.st_mode), "%s", rel);
	ck_assert_msg(st.st_uid == uid && (st.st_mode & 07777) == mode, "%s: uid %u mode %o", rel, (unsigned)st.st_uid,
		      (unsigned)(st.st_mode & 07777));
}

static int commit(struct mr_txn **t, struct mr_buf *err)
{
	int rc = mr_txn_commit(*t, err);
	mr_txn_free(t);
	return rc;
}

#define HOME "/var/www/alice/data/email/example.com/info"
#define JOURNAL "/var/lib/mailrecon/journal"

/* mr_home_is_place says what mr_home_is says of the path mr_home_path makes, for homes that
 * are the place, with a final '/', one byte short or long, or another owner's, domain's or
 * mailbox's. */
START_TEST(home_is_place_is_home_is_of_the_path)
{
	static const char *const homes[] = {
		"/var/www/alice/data/email/example.com/info", "/var/www/alice/data/email/example.com/info/",
		"/var/www/alice/data/email/example.com/inf", "/var/www/alice/data/email/example.com/info2",
		"/var/www/alice/data/email/example.com/info//", "/var/www/bob/data/email/example.com/info",
		"/var/www/alice/data/email/example.org/info", "/var/www/alice/data/email/example.com",
		"/var/www/alice/data/mail/example.com/info", "", "/",
	};
	size_t yes = 0;
	for (size_t i = 0; i < sizeof(homes) / sizeof(homes[0]); i++) {
		char *place = mr_home_path("alice", "example.com", "info");
		bool want = mr_home_is(homes[i], place);
		free(place);
		ck_assert_msg(mr_home_is_place(homes[i], "alice", "example.com", "info") == want, "%s", homes[i]);
		yes += want;
	}
	ck_assert_uint_eq(yes, 2);
}
END_TEST

START_TEST(mkhome_makes_the_chain_owners)
{
	setup();
	struct mr_buf err = MR_BUF_INIT;
	struct mr_txn *t = mr_txn_begin(root, JOURNAL);
	ck_assert_int_eq(mr_txn_mkhome(t, HOME, 5001, 5002, &err), 0);
	/* the same home twice, or its domain directory beside it, is one operation each */
	ck_assert_int_eq(mr_txn_mkhome(t, HOME, 5001, 5002, &err), 0);
	ck_assert_int_eq(mr_txn_mkhome(t, "/var/www/alice/data/email/example.com", 5001, 5002, &err), 0);
	ck_assert_int_eq(commit(&t, &err), 0);
	check_owner_mode("/var/www/alice/data", 5001, 0750);
	check_owner_mode("/var/www/alice/data/email/example.com", 5001, 0750);
	check_owner_mode(HOME, 5001, 0700);
	/* not a home path, or no owner: refused */
	t = mr_txn_begin(root, JOURNAL);
	ck_assert_int_eq(mr_txn_mkhome(t, "/etc/x", 5001, 5001, &err), -1);
	ck_assert_int_eq(mr_txn_mkhome(t, "/var/www/alice/data/email/d/x/y", 5001, 5001, &err), -1);
	ck_assert_int_eq(mr_txn_mkhome(t, "/var/www/alice/data/email/example.com/new", -1, 5001, &err), -1);
	/* a directory on the way that belongs to someone else: refused at staging */
	sh("mkdir -p %s/var/www/alice/data/email/other.com && chown 6666 %s/var/www/alice/data/email/other.com", rootdir,
	   rootdir);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_mkhome(t, "/var/www/alice/data/email/other.com/info", 5001, 5001, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "belongs to another user"));
	/* a link on the way (the tenant's own doing): refused, nothing made through it */
	sh("ln -s %s/decoy %s/var/www/alice/data/email/evil.com", base, rootdir);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_mkhome(t, "/var/www/alice/data/email/evil.com/info", 5001, 5001, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "symbolic link"));
	mr_txn_free(&t);
	mr_buf_release(&err);
	teardown();
}
END_TEST

/* A home with mail, owned by 5001: HOME/Maildir/cur/1 and a file another uid owns. */
static void plant_mail(const char *home)
{
	sh("mkdir -p %s%s/Maildir/cur && echo mail >%s%s/Maildir/cur/1 && echo x >%s%s/Maildir/other", rootdir, home,
	   rootdir, home, rootdir, home);
	sh("chown -R 5001:5001 %s/var/www/alice/data && chown 7777 %s%s/Maildir/other", rootdir, rootdir, home);
}

START_TEST(mvhome_moves_and_gives_the_new_owner)
{
	setup();
	plant_mail(HOME);
	sh("mkdir -p %s/var/www/bob && chown 6001:6001 %s/var/www/bob", rootdir, rootdir);
	struct mr_buf err = MR_BUF_INIT;
	const char *to = "/var/www/bob/data/email/example.com/info";
	bool moved = false;
	/* across "filesystems" for every round but the first: the copy, verified, then the original removed */
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			setenv("MAILRECON_FAULT", "rename:EXDEV:1", 1);
			mr_faults_reset();
		}
		struct mr_txn *t = mr_txn_begin(root, JOURNAL);
		const char *from = round == 0 ? HOME : to, *dest = round == 0 ? to : "/var/lib/mailrecon/archive/info@example.com/1";
		if (round == 0)
			ck_assert_int_eq(mr_txn_mkhome(t, "/var/www/bob/data/email/example.com", 6001, 6001, &err), 0);
		ck_assert_int_eq(mr_txn_mvhome(t, from, dest, round == 0 ? 6001 : -1, round == 0 ? 6001 : -1, &moved, &err), 0);
		ck_assert(moved);
		ck_assert_msg(commit(&t, &err) == 0, "%s", err.ptr);
		char p[512];
		snprintf(p, sizeof(p), "%s%s/Maildir/cur/1", rootdir, dest);
		struct stat st;
		ck_assert_int_eq(lstat(p, &st), 0);
		ck_assert_uint_eq(st.st_uid, 6001); /* moved to bob's, then archived as it was */
		snprintf(p, sizeof(p), "%s%s/Maildir/other", rootdir, dest);
		ck_assert_int_eq(lstat(p, &st), 0);
		ck_assert_uint_eq(st.st_uid, 7777); /* not alice's: left as it was */
		snprintf(p, sizeof(p), "%s%s", rootdir, from);
		ck_assert_int_eq(lstat(p, &st), -1);
	}
	/* an absent from is nothing to move; a to that exists is refused */
	struct mr_txn *t = mr_txn_begin(root, JOURNAL);
	ck_assert_int_eq(mr_txn_mvhome(t, HOME, "/var/lib/mailrecon/archive/x@example.com/1", -1, -1, &moved, &err), 0);
	ck_assert(!moved);
	plant_mail(HOME);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_txn_mvhome(t, HOME, "/var/lib/mailrecon/archive/info@example.com/1", -1, -1, &moved, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "already exists"));
	mr_txn_free(&t);
	mr_buf_release(&err);
	teardown();
}
END_TEST

START_TEST(purge_removes_only_the_home)
{
	setup();
	plant_mail(HOME);
	/* a link inside the home to the decoy: removed as a link */
	sh("ln -s %s/decoy %s%s/Maildir/out", base, rootdir, HOME);
	struct mr_buf err = MR_BUF_INIT;
	struct mr_txn *t = mr_txn_begin(root, JOURNAL);
	ck_assert_int_eq(mr_txn_purge(t, HOME, &err), 0);
	ck_assert_int_eq(commit(&t, &err), 0);
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s%s", rootdir, HOME);
	ck_assert_int_eq(lstat(p, &st), -1);
	/* the domain directory stays */
	snprintf(p, sizeof(p), "%s/var/www/alice/data/email/example.com", rootdir);
	ck_assert(lstat(p, &st) == 0 && S_ISDIR(st.st_mode));
	mr_buf_release(&err);
	teardown();
}
END_TEST

START_TEST(a_live_file_changed_before_the_switch_is_never_overwritten)
{
	setup();
	sh("mkdir -p %s/etc/exim4 && printf 'a@b.c:owner=alice\\n' >%s/etc/exim4/passwd", rootdir, rootdir);
	struct mr_buf err = MR_BUF_INIT, data = MR_BUF_INIT;
	struct stat st;
	ck_assert_int_eq(mr_root_read(root, "/etc/exim4/passwd", 1 << 20, &data, &st, &err), 0);
	unsigned char sha[32];
	mr_sha256_raw(data.ptr, data.len, sha);
	for (int round = 0; round < 3; round++) {
		struct mr_txn *t = mr_txn_begin(root, JOURNAL);
		mr_txn_expect(t, "/etc/exim4/passwd", sha, data.len, &st);
		mr_txn_expect(t, "/etc/exim4/aliases", NULL, 0, NULL);
		ck_assert_int_eq(mr_txn_write(t, "/etc/exim4/passwd", "new\n", 4, 0640, -1, -1, &err), 0);
		ck_assert_int_eq(mr_txn_mkhome(t, HOME, 5001, 5001, &err), 0);
		char cmd[512];
		if (round == 0)
			snprintf(cmd, sizeof(cmd), "echo 'x@b.c:owner=alice' >>%s/etc/exim4/passwd", rootdir);
		else if (round == 1)
			snprintf(cmd, sizeof(cmd), "echo 'x@b.c:a@b.c:fwd' >%s/etc/exim4/aliases", rootdir);
		else
			snprintf(cmd, sizeof(cmd), "chmod 0666 %s/etc/exim4/passwd", rootdir);
		setenv("MAILRECON_TEST_BEFORE_SWITCH", cmd, 1);
		mr_buf_reset(&err);
		ck_assert_int_eq(mr_txn_commit(t, &err), MR_TXN_CHANGED);
		ck_assert_msg(strstr(err.ptr, "changed during apply; nothing was changed"), "%s", err.ptr);
		mr_txn_abort(&t);
		/* nothing switched, no journal, no home, the other writer's line kept */
		char p[512];
		snprintf(p, sizeof(p), "%s%s", rootdir, HOME);
		ck_assert_int_eq(lstat(p, &st), -1);
		snprintf(p, sizeof(p), "%s%s", rootdir, JOURNAL);
		ck_assert_int_eq(lstat(p, &st), -1);
		if (round == 0)
			sh("grep -q '^x@b.c:owner=alice$' %s/etc/exim4/passwd && sed -i '/^x@/d' %s/etc/exim4/passwd", rootdir,
			   rootdir);
		else if (round == 1)
			sh("rm %s/etc/exim4/aliases", rootdir);
		sh("test $(find %s/etc/exim4 -name '*mailrecon-tmp*' | wc -l) -eq 0", rootdir);
		ck_assert_int_eq(mr_root_lstat(root, "/etc/exim4/passwd", &st), 0);
		unsetenv("MAILRECON_TEST_BEFORE_SWITCH");
	}
	mr_buf_release(&err);
	mr_buf_release(&data);
	teardown();
}
END_TEST

/* A journal of version 2 written by hand: each home operation is redone where it was not. */
START_TEST(home_operations_are_redone_from_the_journal)
{
	setup();
	plant_mail(HOME);
	sh("mkdir -p %s/var/www/bob && chown 6001:6001 %s/var/www/bob", rootdir, rootdir);
	sh("mkdir -p %s/var/www/alice/data/email/example.com/gone && chown 5001 %s/var/www/alice/data/email/example.com/gone",
	   rootdir, rootdir);
	char j[2048];
	snprintf(j, sizeof(j),
		 "printf 'mailrecon-journal 2\\nmkhome /var/www/bob/data/email/example.com 6001 6001\\n"
		 "mvhome " HOME " /var/www/bob/data/email/example.com/info 5001 6001 6001\\n"
		 "mkhome /var/www/alice/data/email/example.com/new 5001 5001\\n"
		 "purge /var/www/alice/data/email/example.com/gone\\nend\\n' >%s" JOURNAL,
		 rootdir);
	sh("%s", j);
	struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT;
	ck_assert_msg(mr_txn_recover(root, JOURNAL, &report, &err) == 0, "%s", err.ptr);
	ck_assert_ptr_nonnull(strstr(report.ptr, "moved"));
	struct stat st;
	char p[512];
	snprintf(p, sizeof(p), "%s/var/www/bob/data/email/example.com/info/Maildir/cur/1", rootdir);
	ck_assert(lstat(p, &st) == 0 && st.st_uid == 6001);
	snprintf(p, sizeof(p), "%s" HOME, rootdir);
	ck_assert_int_eq(lstat(p, &st), -1);
	check_owner_mode("/var/www/bob/data/email/example.com", 6001, 0750);
	check_owner_mode("/var/www/alice/data/email/example.com/new", 5001, 0700);
	snprintf(p, sizeof(p), "%s/var/www/alice/data/email/example.com/gone", rootdir);
	ck_assert_int_eq(lstat(p, &st), -1);
	/* done: the journal is gone, and a second recovery has nothing to do */
	mr_buf_reset(&report);
	ck_assert_int_eq(mr_txn_recover(root, JOURNAL, &report, &err), 0);
	ck_assert_uint_eq(report.len, 0);
	mr_buf_release(&report);
	mr_buf_release(&err);
	teardown();
}
END_TEST

START_TEST(odd_home_journals_are_refused)
{
	setup();
	static const char *const bad[] = {
		"mkhome /etc/x 5001 5001",                          /* not a home */
		"mkhome /var/www/a/data/email/d/l 5001",            /* a number missing */
		"mkhome /var/www/a/data/email/d/l -1 5001",         /* no owner */
		"mvhome /var/www/a/data/email/d/l /var/www/a/data/email/d/l/x 1 2 3", /* inside itself */
		"mvhome /var/www/../etc /x 1 2 3",                 /* not clean */
		"purge relative/path",
		"move /a /b",                                      /* version 1 only */
	};
	struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sh("printf 'mailrecon-journal 2\\n%s\\nend\\n' >%s" JOURNAL, bad[i], rootdir);
		mr_buf_reset(&err);
		ck_assert_msg(mr_txn_recover(root, JOURNAL, &report, &err) == -1, "%zu: %s", i, bad[i]);
		ck_assert_ptr_nonnull(strstr(err.ptr, "damaged"));
	}
	mr_buf_release(&report);
	mr_buf_release(&err);
	teardown();
}
END_TEST

/* What a tenant can put in its tree never blocks the transaction: a FIFO across filesystems,
 * a tree nested too deep to purge -- each is left alone, said, and the commit completes. */
START_TEST(a_tenant_cannot_block_the_transaction)
{
	setup();
	plant_mail(HOME);
	sh("mkfifo %s%s/Maildir/fifo && chown 5001 %s%s/Maildir/fifo", rootdir, HOME, rootdir, HOME);
	const char *deep = "/var/www/alice/data/email/example.com/deep";
	sh("mkdir -p %s%s && cd %s%s && for i in $(seq 1 140); do mkdir d && cd d; done && echo x >f", rootdir, deep,
	   rootdir, deep);
	sh("mkdir -p %s/etc/x && echo old >%s/etc/x/f", rootdir, rootdir);
	struct mr_buf err = MR_BUF_INIT;
	setenv("MAILRECON_FAULT", "rename:EXDEV:2", 1); /* the first rename is the file's; the home's goes across */
	mr_faults_reset();
	struct mr_txn *t = mr_txn_begin(root, JOURNAL);
	ck_assert_int_eq(mr_txn_write(t, "/etc/x/f", "new\n", 4, 0644, -1, -1, &err), 0);
	ck_assert_int_eq(mr_txn_mvhome(t, HOME, "/var/lib/mailrecon/archive/info@example.com/1", -1, -1, NULL, &err), 0);
	ck_assert_int_eq(mr_txn_purge(t, deep, &err), 0);
	ck_assert_msg(mr_txn_commit(t, &err) == 0, "%s", err.ptr);
	size_t n;
	const char *notes = mr_txn_notes(t, &n);
	ck_assert_uint_eq(n, 1); /* the deep tree; the FIFO is nothing of mail and does not count */
	ck_assert_msg(strstr(notes, "left alone"), "%s", notes);
	mr_txn_free(&t);
	sh("test \"$(cat %s/etc/x/f)\" = new", rootdir);
	sh("test \"$(cat %s/var/lib/mailrecon/archive/info@example.com/1/Maildir/cur/1)\" = mail && test ! -e %s%s",
	   rootdir, rootdir, HOME);
	sh("test ! -e %s" JOURNAL, rootdir);
	mr_buf_release(&err);
	teardown();
}
END_TEST

/* A move across filesystems interrupted after the original was set aside, with a message
 * delivered to the old path meanwhile: the next run finishes the move and keeps the new one. */
START_TEST(an_interrupted_move_across_filesystems_loses_nothing)
{
	setup();
	plant_mail(HOME);
	sh("mv %s%s %s/var/www/alice/data/email/example.com/.info.mailrecon-moving", rootdir, HOME, rootdir);
	sh("mkdir -p %s%s/Maildir/new && echo late >%s%s/Maildir/new/2", rootdir, HOME, rootdir, HOME);
	sh("printf 'mailrecon-journal 2\nmvhome " HOME " /var/lib/mailrecon/archive/info@example.com/1 -1 -1 -1\nend\n' >%s" JOURNAL,
	   rootdir);
	setenv("MAILRECON_FAULT", "rename:EXDEV", 1);
	mr_faults_reset();
	struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT;
	ck_assert_msg(mr_txn_recover(root, JOURNAL, &report, &err) == 0, "%s", err.ptr);
	ck_assert_msg(strstr(report.ptr, "was made again while it moved"), "%s", report.ptr);
	sh("test \"$(cat %s/var/lib/mailrecon/archive/info@example.com/1/Maildir/cur/1)\" = mail", rootdir);
	sh("test \"$(cat %s%s/Maildir/new/2)\" = late", rootdir, HOME);
	sh("test ! -e %s/var/www/alice/data/email/example.com/.info.mailrecon-moving", rootdir);
	mr_buf_release(&report);
	mr_buf_release(&err);
	teardown();
}
END_TEST

/* A home made just before a crash is root's until it is given away: the next run gives it. */
START_TEST(a_home_left_root_s_by_a_crash_is_given_to_its_owner)
{
	setup();
	sh("mkdir -p %s/var/www/alice/data/email && chown -R 5001:5001 %s/var/www/alice/data", rootdir, rootdir);
	sh("mkdir -m 700 %s/var/www/alice/data/email/example.com && mkdir -m 700 %s%s", rootdir, rootdir, HOME);
	sh("printf 'mailrecon-journal 2\nmkhome " HOME " 5001 5002\nend\n' >%s" JOURNAL, rootdir);
	struct mr_buf report = MR_BUF_INIT, err = MR_BUF_INIT;
	ck_assert_msg(mr_txn_recover(root, JOURNAL, &report, &err) == 0, "%s", err.ptr);
	check_owner_mode("/var/www/alice/data/email/example.com", 5001, 0750);
	check_owner_mode(HOME, 5001, 0700);
	mr_buf_release(&report);
	mr_buf_release(&err);
	teardown();
}
END_TEST

Suite *suite_homes(void)
{
	Suite *s = suite_create("homes");
	TCase *tc = tcase_create("homes");
	/* Check's default is 4 s: a 140-deep tree and fsyncs under the sanitizers, on a loaded
	 * 2-core machine with the other tests alongside (ctest -j2), took longer */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, home_is_place_is_home_is_of_the_path);
	tcase_add_test(tc, mkhome_makes_the_chain_owners);
	tcase_add_test(tc, mvhome_moves_and_gives_the_new_owner);
	tcase_add_test(tc, purge_removes_only_the_home);
	tcase_add_test(tc, a_live_file_changed_before_the_switch_is_never_overwritten);
	tcase_add_test(tc, home_operations_are_redone_from_the_journal);
	tcase_add_test(tc, odd_home_journals_are_refused);
	tcase_add_test(tc, a_tenant_cannot_block_the_transaction);
	tcase_add_test(tc, an_interrupted_move_across_filesystems_loses_nothing);
	tcase_add_test(tc, a_home_left_root_s_by_a_crash_is_given_to_its_owner);
	suite_add_tcase(s, tc);
	return s;
}
