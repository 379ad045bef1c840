#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"
#include "util/buf.h"
#include "crypto/digest.h"
#include "vcs/vcs.h"

static char tmpdir[64];

static void mk_tmp(void)
{
	mr_test_mkdtemp(tmpdir, sizeof(tmpdir), "mr-vcs");
	git_libgit2_init();
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tmp(void)
{
	ck_assert_int_eq(nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	git_libgit2_shutdown();
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

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static struct mr_vcs *open_ok(const char *dir, bool create)
{
	struct mr_buf err = MR_BUF_INIT;
	struct mr_vcs *v = mr_vcs_open(dir, create, &err);
	ck_assert_msg(v != NULL, "open '%s': %s", dir, err.ptr ? err.ptr : "");
	mr_buf_release(&err);
	return v;
}

/* NULL from mr_vcs_open, and the message it gave (a fresh string). */
static char *open_fails(const char *dir, bool create)
{
	struct mr_buf err = MR_BUF_INIT;
	struct mr_vcs *v = mr_vcs_open(dir, create, &err);
	ck_assert_ptr_null(v);
	ck_assert_uint_gt(err.len, 0);
	return mr_buf_detach(&err);
}

#define F(p, s) { (p), (s), sizeof(s) - 1 }

/* Commit and expect success; returns whether a commit was made, its id in id. */
static bool commit_ok(struct mr_vcs *v, const struct mr_vcs_file *f, size_t n, const char *msg, char id[41])
{
	struct mr_buf err = MR_BUF_INIT;
	bool committed = true;
	int rc = mr_vcs_commit(v, f, n, msg, "alice", id, &committed, &err);
	ck_assert_msg(rc == 0, "commit: %s", err.ptr ? err.ptr : "");
	ck_assert_uint_eq(strlen(id), 40);
	mr_buf_release(&err);
	return committed;
}

/* "path=len:content|..." of every file a revision holds. */
static int collect_cb(void *ctx, const char *path, const void *data, size_t len)
{
	struct mr_buf *b = ctx;
	mr_buf_addf(b, "%s=%zu:", path, len);
	mr_buf_add(b, data, len);
	mr_buf_addc(b, '|');
	return 0;
}

static char *read_rev_n(struct mr_vcs *v, const char *rev, int want_rc, char id[41], size_t *len)
{
	struct mr_buf b = MR_BUF_INIT, err = MR_BUF_INIT;
	mr_buf_adds(&b, "");
	int rc = mr_vcs_read(v, rev, collect_cb, &b, id, &err);
	ck_assert_msg(rc == want_rc, "read %s: %d %s", rev ? rev : "HEAD", rc, err.ptr ? err.ptr : "");
	mr_buf_release(&err);
	*len = b.len;
	return mr_buf_detach(&b);
}

static char *read_rev(struct mr_vcs *v, const char *rev, int want_rc, char id[41])
{
	size_t len;
	return read_rev_n(v, rev, want_rc, id, &len);
}

/* The id of PATH in commit ID's tree (the root tree for ""), as hex. */
static void id_at(const char *repo_dir, const char *commit, const char *path, char out[41])
{
	git_repository *r;
	git_oid cid;
	git_commit *c;
	git_tree *t;
	ck_assert_int_eq(git_repository_open_bare(&r, repo_dir), 0);
	ck_assert_int_eq(git_oid_fromstr(&cid, commit), 0);
	ck_assert_int_eq(git_commit_lookup(&c, r, &cid), 0);
	ck_assert_int_eq(git_commit_tree(&t, c), 0);
	if (!*path) {
		git_oid_tostr(out, 41, git_tree_id(t));
	} else {
		git_tree_entry *e;
		ck_assert_int_eq(git_tree_entry_bypath(&e, t, path), 0);
		git_oid_tostr(out, 41, git_tree_entry_id(e));
		git_tree_entry_free(e);
	}
	git_tree_free(t);
	git_commit_free(c);
	git_repository_free(r);
}

/* How many loose objects the repository holds. */
static size_t loose_objects(const char *repo_dir)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/objects", repo_dir);
	DIR *d = opendir(path);
	ck_assert_ptr_nonnull(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 2 || strcmp(de->d_name, "..") == 0)
			continue;
		char sub[1000];
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		DIR *s = opendir(sub);
		ck_assert_ptr_nonnull(s);
		struct dirent *se;
		while ((se = readdir(s)) != NULL)
			n += se->d_name[0] != '.';
		closedir(s);
	}
	closedir(d);
	return n;
}

static const struct mr_vcs_file base_files[] = {
	F("etc/exim4/passwd", "alice@example.com:x:1000\n"),
	F("etc/exim4/domains", "example.com\n"),
	F("etc/exim4/ssl/example.com.txt", "v=DKIM1; k=rsa; p=AAAA\n"),
	F("etc/dovecot/dovecot.passwd", "alice@example.com:{SHA512-CRYPT}$6$x\n"),
	F("etc/exim4/empty", ""),
	{ "var/lib/bin", "a\0b\377c", 5 },
};
#define NBASE (sizeof(base_files) / sizeof(base_files[0]))

START_TEST(create_commit_and_read_back)
{
	mk_tmp();
	const char *repo = at("repo");
	struct mr_vcs *v = open_ok(repo, true);
	struct stat st;
	ck_assert_int_eq(stat(repo, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);

	/* an empty history */
	char id[41], rid[41];
	char *got = read_rev(v, NULL, 1, rid);
	ck_assert_str_eq(got, "");
	free(got);
	struct mr_vcs_entry *e;
	size_t n;
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_vcs_log(v, 0, &e, &n, &err), 0);
	ck_assert_uint_eq(n, 0);

	ck_assert(commit_ok(v, base_files, NBASE, "first\n\nthe body\n", id));
	size_t len;
	got = read_rev_n(v, "HEAD", 0, rid, &len);
	ck_assert_str_eq(rid, id);
	/* sorted by path, byte for byte */
	const char want[] = "etc/dovecot/dovecot.passwd=37:alice@example.com:{SHA512-CRYPT}$6$x\n|"
			    "etc/exim4/domains=12:example.com\n|"
			    "etc/exim4/empty=0:|"
			    "etc/exim4/passwd=25:alice@example.com:x:1000\n|"
			    "etc/exim4/ssl/example.com.txt=23:v=DKIM1; k=rsa; p=AAAA\n|"
			    "var/lib/bin=5:a\0b\377c|";
	ck_assert_uint_eq(len, sizeof(want) - 1);
	ck_assert_int_eq(memcmp(got, want, len), 0);
	free(got);
	mr_vcs_close(&v);
	ck_assert_ptr_null(v);

	/* bare, HEAD on main, and it opens again without create */
	git_repository *r;
	ck_assert_int_eq(git_repository_open_bare(&r, repo), 0);
	ck_assert(git_repository_is_bare(r));
	git_reference *head;
	ck_assert_int_eq(git_reference_lookup(&head, r, "HEAD"), 0);
	ck_assert_str_eq(git_reference_symbolic_target(head), "refs/heads/main");
	git_reference_free(head);
	git_repository_free(r);
	v = open_ok(repo, false);
	got = read_rev(v, NULL, 0, rid);
	ck_assert_str_eq(rid, id);
	free(got);
	mr_vcs_close(&v);
	mr_vcs_close(&v); /* a closed handle is NULL: nothing happens */
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

START_TEST(open_without_a_repository)
{
	mk_tmp();
	/* absent, or an empty directory: no history yet, and nothing is created */
	char *msg = open_fails(at("repo"), false);
	ck_assert_str_eq(msg, "no state repository yet");
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_adds(&b, msg);
	ck_assert(mr_vcs_missing(&b));
	free(msg);
	ck_assert_int_eq(access(at("repo"), F_OK), -1);
	ck_assert_int_eq(mkdir(at("empty"), 0755), 0);
	msg = open_fails(at("empty"), false);
	ck_assert_str_eq(msg, "no state repository yet");
	free(msg);
	/* an empty directory is made a repository, mode 0700 */
	struct mr_vcs *v = open_ok(at("empty"), true);
	mr_vcs_close(&v);
	struct stat st;
	ck_assert_int_eq(stat(at("empty"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);

	/* something else is not taken over */
	ck_assert_int_eq(mkdir(at("other"), 0700), 0);
	put(at("other/notes"), "hello\n");
	msg = open_fails(at("other"), true);
	ck_assert_ptr_nonnull(strstr(msg, "is not a git repository"));
	mr_buf_reset(&b);
	mr_buf_adds(&b, msg);
	ck_assert(!mr_vcs_missing(&b));
	free(msg);
	msg = open_fails(at("other/notes"), true);
	ck_assert_ptr_nonnull(strstr(msg, "is not a directory"));
	free(msg);
	mr_buf_release(&b);
	rm_tmp();
}
END_TEST

START_TEST(an_identical_snapshot_is_not_committed)
{
	mk_tmp();
	struct mr_vcs *v = open_ok(at("repo"), true);
	char id1[41], id2[41];
	ck_assert(commit_ok(v, base_files, NBASE, "first", id1));
	size_t objects = loose_objects(at("repo"));
	/* the same files in another order */
	struct mr_vcs_file rev[NBASE];
	for (size_t i = 0; i < NBASE; i++)
		rev[i] = base_files[NBASE - 1 - i];
	ck_assert(!commit_ok(v, rev, NBASE, "again", id2));
	ck_assert_str_eq(id1, id2);
	ck_assert_uint_eq(loose_objects(at("repo")), objects);
	struct mr_vcs_entry *e;
	size_t n;
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_vcs_log(v, 0, &e, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	mr_vcs_entries_free(e, n);
	mr_vcs_close(&v);
	rm_tmp();
}
END_TEST

static void hex20(const unsigned char id[20], char out[41])
{
	for (int i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static int cmp_vf(const void *a, const void *b)
{
	return strcmp(((const struct mr_vcs_file *)a)->path, ((const struct mr_vcs_file *)b)->path);
}

/* A file known by its blob id alone (not read again) compares as its bytes would. */
START_TEST(files_known_by_blob_id_compare_as_their_bytes)
{
	unsigned char id[20];
	char hex[41];
	mr_git_blob_id("hello\n", 6, id); /* git hash-object of "hello\n" */
	hex20(id, hex);
	ck_assert_str_eq(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
	mr_git_blob_id("", 0, id);
	hex20(id, hex);
	ck_assert_str_eq(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");

	mk_tmp();
	struct mr_vcs *v = open_ok(at("repo"), true);
	char id1[41];
	ck_assert(commit_ok(v, base_files, NBASE, "first", id1));
	struct mr_vcs_file now[NBASE];
	unsigned char ids[NBASE][20];
	for (size_t i = 0; i < NBASE; i++) {
		now[i] = base_files[i];
		if (i % 2 == 0) { /* every other one by id only */
			mr_git_blob_id(now[i].data, now[i].len, ids[i]);
			now[i].data = NULL;
			now[i].id = ids[i];
		}
	}
	qsort(now, NBASE, sizeof(now[0]), cmp_vf);
	struct mr_pathlist changed = MR_PATHLIST_INIT;
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_vcs_changed(v, now, NBASE, &changed, &err), 0);
	ck_assert_uint_eq(changed.n, 0);
	/* one id of other bytes: that file, and only it, changed */
	const char *which = NULL;
	for (size_t i = 0; i < NBASE; i++)
		if (!now[i].data) {
			mr_git_blob_id("other\n", 6, (unsigned char *)now[i].id);
			which = now[i].path;
			break;
		}
	ck_assert_ptr_nonnull(which);
	ck_assert_int_eq(mr_vcs_changed(v, now, NBASE, &changed, &err), 0);
	ck_assert_uint_eq(changed.n, 1);
	ck_assert_str_eq(changed.v[0] + 1, which);
	mr_pathlist_release(&changed);
	mr_buf_release(&err);
	mr_vcs_close(&v);
	rm_tmp();
}
END_TEST

START_TEST(a_one_file_change_reuses_unchanged_trees)
{
	mk_tmp();
	const char *repo = at("repo");
	struct mr_vcs *v = open_ok(repo, true);
	char id1[41], id2[41];
	ck_assert(commit_ok(v, base_files, NBASE, "first", id1));
	size_t objects = loose_objects(repo);

	struct mr_vcs_file f[NBASE];
	memcpy(f, base_files, sizeof(f));
	f[3].data = "alice@example.com:{SHA512-CRYPT}$6$y\n";
	ck_assert(commit_ok(v, f, NBASE, "second", id2));
	ck_assert_str_ne(id1, id2);
	/* one blob, the trees etc/dovecot, etc and the root, and the commit: nothing else */
	ck_assert_uint_eq(loose_objects(repo), objects + 5);

	char a[41], b[41];
	static const char *const same[] = { "etc/exim4", "etc/exim4/ssl", "var", "var/lib", "etc/exim4/passwd" };
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		id_at(repo, id1, same[i], a);
		id_at(repo, id2, same[i], b);
		ck_assert_msg(strcmp(a, b) == 0, "%s changed", same[i]);
	}
	static const char *const changed[] = { "", "etc", "etc/dovecot", "etc/dovecot/dovecot.passwd" };
	for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
		id_at(repo, id1, changed[i], a);
		id_at(repo, id2, changed[i], b);
		ck_assert_msg(strcmp(a, b) != 0, "'%s' did not change", changed[i]);
	}

	/* the parent is the first commit */
	git_repository *r;
	git_oid oid;
	git_commit *c;
	ck_assert_int_eq(git_repository_open_bare(&r, repo), 0);
	ck_assert_int_eq(git_oid_fromstr(&oid, id2), 0);
	ck_assert_int_eq(git_commit_lookup(&c, r, &oid), 0);
	ck_assert_uint_eq(git_commit_parentcount(c), 1);
	char p[41];
	git_oid_tostr(p, sizeof(p), git_commit_parent_id(c, 0));
	ck_assert_str_eq(p, id1);
	ck_assert_str_eq(git_commit_author(c)->name, "alice");
	ck_assert_str_eq(git_commit_author(c)->email, "mailrecon@localhost");
	ck_assert_str_eq(git_commit_message(c), "second\n");
	git_commit_free(c);
	git_repository_free(r);

	/* removing a file removes it from the tree; the snapshot is exact */
	char id3[41];
	ck_assert(commit_ok(v, f, NBASE - 1, "third", id3));
	char *got = read_rev(v, NULL, 0, NULL);
	ck_assert_ptr_null(strstr(got, "var/lib/bin"));
	free(got);
	mr_vcs_close(&v);
	rm_tmp();
}
END_TEST

START_TEST(authors_are_recorded)
{
	mk_tmp();
	struct mr_vcs *v = open_ok(at("repo"), true);
	static const char *const authors[] = { "bob@example.com", "Carol Doe <carol@example.org>", "", NULL };
	static const char *const names[] = { "bob@example.com", "Carol Doe", "mailrecon", "mailrecon" };
	static const char *const emails[] = { "bob@example.com", "carol@example.org", "mailrecon@localhost",
					      "mailrecon@localhost" };
	for (size_t i = 0; i < 4; i++) {
		char data[2] = { (char)('a' + i), 0 };
		struct mr_vcs_file f = { "x", data, 1 };
		struct mr_buf err = MR_BUF_INIT;
		bool committed;
		char id[41];
		ck_assert_int_eq(mr_vcs_commit(v, &f, 1, "m", authors[i], id, &committed, &err), 0);
		ck_assert(committed);
		git_repository *r;
		git_oid oid;
		git_commit *c;
		ck_assert_int_eq(git_repository_open_bare(&r, at("repo")), 0);
		ck_assert_int_eq(git_oid_fromstr(&oid, id), 0);
		ck_assert_int_eq(git_commit_lookup(&c, r, &oid), 0);
		ck_assert_str_eq(git_commit_author(c)->name, names[i]);
		ck_assert_str_eq(git_commit_author(c)->email, emails[i]);
		ck_assert_str_eq(git_commit_committer(c)->name, names[i]);
		git_commit_free(c);
		git_repository_free(r);
	}
	mr_vcs_close(&v);
	rm_tmp();
}
END_TEST

static const char plan_message[] = "Plan: 1 to add, 1 to change, 1 to destroy.\n"
				   "\n"
				   "+ mailbox bob@example.com\n"
				   "--- a separator a patch reader would stop at\n"
				   "- mailbox carol@example.com\n"
				   "\n"
				   "Desired-Source: git:/srv/desired#0123abcd\n"
				   "Host: mx1.example.com\n"
				   "Actor: alice\n";

START_TEST(log_and_show)
{
	mk_tmp();
	struct mr_vcs *v = open_ok(at("repo"), true);
	char id1[41], id2[41], id3[41];
	ck_assert(commit_ok(v, base_files, NBASE, "first\n\nbody one\n", id1));
	/* change one file, remove one, add one */
	struct mr_vcs_file f[NBASE];
	memcpy(f, base_files, sizeof(f));
	f[0].data = "bob@example.com:x:1001\n";
	f[0].len = strlen(f[0].data);
	f[4] = (struct mr_vcs_file)F("etc/exim4/aliases", "a: b\n");
	ck_assert(commit_ok(v, f, NBASE, plan_message, id2));
	f[1].data = "example.org\n";
	ck_assert(commit_ok(v, f, NBASE, "third", id3));

	struct mr_buf err = MR_BUF_INIT;
	struct mr_vcs_entry *e;
	size_t n;
	ck_assert_int_eq(mr_vcs_log(v, 0, &e, &n, &err), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(e[0].id, id3);
	ck_assert_str_eq(e[0].subject, "third");
	ck_assert_str_eq(e[0].body, "");
	ck_assert_str_eq(e[1].id, id2);
	ck_assert_str_eq(e[1].subject, "Plan: 1 to add, 1 to change, 1 to destroy.");
	ck_assert_str_eq(e[2].id, id1);
	ck_assert_str_eq(e[2].subject, "first");
	ck_assert_str_eq(e[2].body, "body one");
	ck_assert_str_eq(e[2].author, "alice");
	ck_assert_int_ge(e[0].time, e[2].time);
	ck_assert_int_gt(e[0].time, 1600000000);
	mr_vcs_entries_free(e, n);
	ck_assert_int_eq(mr_vcs_log(v, 2, &e, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(e[1].id, id2);
	mr_vcs_entries_free(e, n);

	/* exactly the paths the commit changed, by id, abbreviated id or HEAD~1 */
	const char *const revs[] = { id2, NULL, "HEAD~1" };
	char abbrev[8];
	memcpy(abbrev, id2, 7);
	abbrev[7] = '\0';
	for (size_t i = 0; i < 3; i++) {
		struct mr_vcs_entry s;
		char **paths;
		size_t np;
		ck_assert_int_eq(mr_vcs_show(v, revs[i] ? revs[i] : abbrev, &s, &paths, &np, &err), 0);
		ck_assert_str_eq(s.id, id2);
		ck_assert_uint_eq(np, 3);
		ck_assert_str_eq(paths[0], "etc/exim4/aliases");
		ck_assert_str_eq(paths[1], "etc/exim4/empty");
		ck_assert_str_eq(paths[2], "etc/exim4/passwd");
		char val[128];
		ck_assert(mr_vcs_trailer(s.body, "Actor", val, sizeof(val)));
		ck_assert_str_eq(val, "alice");
		ck_assert(mr_vcs_trailer(s.body, "desired-source", val, sizeof(val)));
		ck_assert_str_eq(val, "git:/srv/desired#0123abcd");
		mr_vcs_paths_free(paths, np);
		mr_vcs_entry_release(&s);
	}
	/* a root commit changed every path */
	struct mr_vcs_entry s;
	char **paths;
	size_t np;
	ck_assert_int_eq(mr_vcs_show(v, id1, &s, &paths, &np, &err), 0);
	ck_assert_uint_eq(np, NBASE);
	ck_assert_str_eq(paths[0], "etc/dovecot/dovecot.passwd");
	ck_assert_str_eq(paths[NBASE - 1], "var/lib/bin");
	ck_assert_str_eq(s.subject, "first");
	mr_vcs_paths_free(paths, np);
	mr_vcs_entry_release(&s);
	ck_assert_int_eq(mr_vcs_show(v, "HEAD", &s, &paths, &np, &err), 0);
	ck_assert_uint_eq(np, 1);
	ck_assert_str_eq(paths[0], "etc/exim4/domains");
	mr_vcs_paths_free(paths, np);
	mr_vcs_entry_release(&s);
	ck_assert_int_eq(mr_vcs_show(v, "nosuchrev", &s, &paths, &np, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "unknown revision 'nosuchrev'"));
	mr_buf_release(&err);
	mr_vcs_close(&v);

	/* show on an empty history is an error */
	v = open_ok(at("repo2"), true);
	ck_assert_int_eq(mr_vcs_show(v, NULL, &s, &paths, &np, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.ptr, "no commit yet"));
	mr_buf_release(&err);
	mr_vcs_close(&v);
	rm_tmp();
}
END_TEST

START_TEST(trailers)
{
	char val[64];
	ck_assert(mr_vcs_trailer(plan_message, "Host", val, sizeof(val)));
	ck_assert_str_eq(val, "mx1.example.com");
	ck_assert(mr_vcs_trailer(plan_message, "actor", val, sizeof(val)));
	ck_assert_str_eq(val, "alice");
	ck_assert(!mr_vcs_trailer(plan_message, "Missing", val, sizeof(val)));
	/* too small for the value: not found, rather than cut */
	ck_assert(!mr_vcs_trailer(plan_message, "Desired-Source", val, 8));
	/* trailing blank lines do not matter */
	ck_assert(mr_vcs_trailer("s\n\nbody\n\nActor: bob\n\n\n", "Actor", val, sizeof(val)));
	ck_assert_str_eq(val, "bob");
	/* only the last paragraph holds trailers, and a subject is never one */
	ck_assert(!mr_vcs_trailer("Actor: bob\n", "Actor", val, sizeof(val)));
	ck_assert(!mr_vcs_trailer("s\n\nActor: bob\n\nplain text\n", "Actor", val, sizeof(val)));
	ck_assert(!mr_vcs_trailer("", "Actor", val, sizeof(val)));
}
END_TEST

START_TEST(read_an_old_revision)
{
	mk_tmp();
	struct mr_vcs *v = open_ok(at("repo"), true);
	char id1[41], id2[41], rid[41];
	struct mr_vcs_file f1[] = { F("etc/a", "old\n"), F("etc/b", "same\n") };
	struct mr_vcs_file f2[] = { F("etc/a", "new\n"), F("etc/b", "same\n"), F("etc/c", "added\n") };
	ck_assert(commit_ok(v, f1, 2, "one", id1));
	ck_assert(commit_ok(v, f2, 3, "two", id2));
	char *got = read_rev(v, id1, 0, rid);
	ck_assert_str_eq(got, "etc/a=4:old\n|etc/b=5:same\n|");
	ck_assert_str_eq(rid, id1);
	free(got);
	char abbrev[11];
	memcpy(abbrev, id1, 10);
	abbrev[10] = '\0';
	got = read_rev(v, abbrev, 0, rid);
	ck_assert_str_eq(got, "etc/a=4:old\n|etc/b=5:same\n|");
	free(got);
	got = read_rev(v, "main", 0, rid);
	ck_assert_str_eq(got, "etc/a=4:new\n|etc/b=5:same\n|etc/c=6:added\n|");
	ck_assert_str_eq(rid, id2);
	free(got);
	got = read_rev(v, "0000000000000000000000000000000000000001", -1, rid);
	free(got);
	mr_vcs_close(&v);
	rm_tmp();
}
END_TEST

static int stop_cb(void *ctx, const char *path, const void *data, size_t len)
{
	(void)data;
	(void)len;
	*(int *)ctx += 1;
	return strcmp(path, "b") == 0 ? -1 : 0;
}

START_TEST(a_callback_stops_the_reading)
{
	mk_tmp();
	struct mr_vcs *v = open_ok(at("repo"), true);
	struct mr_vcs_file f[] = { F("a", "1"), F("b", "2"), F("c", "3") };
	char id[41];
	ck_assert(commit_ok(v, f, 3, "m", id));
	struct mr_buf err = MR_BUF_INIT;
	int calls = 0;
	ck_assert_int_eq(mr_vcs_read(v, NULL, stop_cb, &calls, NULL, &err), -1);
	ck_assert_int_eq(calls, 2);
	ck_assert_uint_gt(err.len, 0);
	mr_buf_release(&err);
	mr_vcs_close(&v);
	rm_tmp();
}
END_TEST

/* A repository with one commit, and the path of HEAD's tree object. */
static void commit_one(const char *repo, char tree_obj[700], char commit_id[41])
{
	struct mr_vcs *v = open_ok(repo, true);
	ck_assert(commit_ok(v, base_files, NBASE, "first", commit_id));
	mr_vcs_close(&v);
	char t[41];
	id_at(repo, commit_id, "", t);
	snprintf(tree_obj, 700, "%s/objects/%.2s/%s", repo, t, t + 2);
	ck_assert_int_eq(access(tree_obj, F_OK), 0);
}

START_TEST(a_corrupted_repository_is_refused)
{
	mk_tmp();
	char obj[700], id[41], path[700];

	/* HEAD's tree is gone */
	commit_one(at("r1"), obj, id);
	ck_assert_int_eq(unlink(obj), 0);
	char *msg = open_fails(at("r1"), true);
	ck_assert_ptr_nonnull(strstr(msg, "is corrupted"));
	ck_assert_ptr_nonnull(strstr(msg, at("r1")));
	free(msg);

	/* HEAD's tree is truncated */
	commit_one(at("r2"), obj, id);
	ck_assert_int_eq(chmod(obj, 0600), 0);
	ck_assert_int_eq(truncate(obj, 5), 0);
	msg = open_fails(at("r2"), false);
	ck_assert_ptr_nonnull(strstr(msg, "is corrupted"));
	free(msg);

	/* HEAD's commit is gone */
	commit_one(at("r3"), obj, id);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", at("r3"), id, id + 2);
	ck_assert_int_eq(unlink(path), 0);
	msg = open_fails(at("r3"), true);
	ck_assert_ptr_nonnull(strstr(msg, "is corrupted"));
	free(msg);

	/* main is garbage */
	commit_one(at("r4"), obj, id);
	snprintf(path, sizeof(path), "%s/refs/heads/main", at("r4"));
	put(path, "garbage\n");
	msg = open_fails(at("r4"), true);
	ck_assert_ptr_nonnull(strstr(msg, "is corrupted"));
	free(msg);

	/* HEAD is garbage */
	commit_one(at("r5"), obj, id);
	snprintf(path, sizeof(path), "%s/HEAD", at("r5"));
	put(path, "\x01\x02 not a ref\n");
	msg = open_fails(at("r5"), true);
	ck_assert_ptr_nonnull(strstr(msg, at("r5")));
	free(msg);
	rm_tmp();
}
END_TEST

START_TEST(a_locked_repository_is_refused)
{
	mk_tmp();
	char obj[700], id[41], lock[700], want[1600];
	commit_one(at("repo"), obj, id);
	static const char *const locks[] = { "refs/heads/main.lock", "HEAD.lock", "config.lock" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(lock, sizeof(lock), "%s/%s", at("repo"), locks[i]);
		put(lock, "");
		char *msg = open_fails(at("repo"), false);
		snprintf(want, sizeof(want),
			 "the state repository '%s' is locked by another process (%s/%s exists)", at("repo"),
			 at("repo"), locks[i]);
		ck_assert_str_eq(msg, want);
		free(msg);
		ck_assert_int_eq(unlink(lock), 0);
	}
	struct mr_vcs *v = open_ok(at("repo"), false);
	mr_vcs_close(&v);
	rm_tmp();
}
END_TEST

START_TEST(bad_paths_are_refused)
{
	mk_tmp();
	struct mr_vcs *v = open_ok(at("repo"), true);
	static const char *const bad[] = { "../x", "etc/../x", "etc/..", "/etc/x", "etc//x", "", "etc/",
					   "./etc", "etc/./x", ".." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mr_vcs_file f[] = { F("etc/ok", "x"), { bad[i], "y", 1 } };
		struct mr_buf err = MR_BUF_INIT;
		bool committed = true;
		char id[41];
		ck_assert_int_eq(mr_vcs_commit(v, f, 2, "m", "a", id, &committed, &err), -1);
		ck_assert(!committed);
		ck_assert_msg(strstr(err.ptr, "refused") != NULL, "'%s': %s", bad[i], err.ptr);
		mr_buf_release(&err);
	}
	/* twice, and a file that is also a directory */
	struct mr_vcs_file twice[] = { F("etc/a", "1"), F("etc/b", "2"), F("etc/a", "3") };
	struct mr_vcs_file both[] = { F("etc/a", "1"), F("etc/a.d", "2"), F("etc/a/b", "3") };
	struct mr_buf err = MR_BUF_INIT;
	bool committed;
	char id[41];
	ck_assert_int_eq(mr_vcs_commit(v, twice, 3, "m", "a", id, &committed, &err), -1);
	ck_assert_str_eq(err.ptr, "'etc/a' is given twice; refused");
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_vcs_commit(v, both, 3, "m", "a", id, &committed, &err), -1);
	ck_assert_str_eq(err.ptr, "'etc/a' is both a file and a directory; refused");
	mr_buf_release(&err);
	/* nothing was committed */
	char *got = read_rev(v, NULL, 1, id);
	free(got);
	mr_vcs_close(&v);
	rm_tmp();
}
END_TEST

/* ---- mr_vcs_source ---- */

struct upd {
	const char *path;
	const char *text; /* NULL: remove */
};

/* Commit updates on top of the branch's tip (if any) in a non-bare repository; the commit id. */
static void src_commit(git_repository *r, const struct upd *u, size_t n, char out[41])
{
	git_reference *head = NULL;
	git_commit *parent = NULL;
	git_tree *base = NULL;
	if (git_repository_head(&head, r) == 0) {
		ck_assert_int_eq(git_commit_lookup(&parent, r, git_reference_target(head)), 0);
		ck_assert_int_eq(git_commit_tree(&base, parent), 0);
		git_reference_free(head);
	} else {
		git_treebuilder *tb;
		git_oid empty;
		ck_assert_int_eq(git_treebuilder_new(&tb, r, NULL), 0);
		ck_assert_int_eq(git_treebuilder_write(&empty, tb), 0);
		git_treebuilder_free(tb);
		ck_assert_int_eq(git_tree_lookup(&base, r, &empty), 0);
	}
	git_tree_update ups[16];
	ck_assert_uint_le(n, 16);
	for (size_t i = 0; i < n; i++) {
		memset(&ups[i], 0, sizeof(ups[i]));
		ups[i].path = u[i].path;
		if (u[i].text) {
			ups[i].action = GIT_TREE_UPDATE_UPSERT;
			ups[i].filemode = GIT_FILEMODE_BLOB;
			ck_assert_int_eq(git_blob_create_from_buffer(&ups[i].id, r, u[i].text, strlen(u[i].text)), 0);
		} else {
			ups[i].action = GIT_TREE_UPDATE_REMOVE;
		}
	}
	git_oid tid, cid;
	ck_assert_int_eq(git_tree_create_updated(&tid, r, base, n, ups), 0);
	git_tree *t;
	ck_assert_int_eq(git_tree_lookup(&t, r, &tid), 0);
	git_signature *sig;
	ck_assert_int_eq(git_signature_now(&sig, "test", "test@example.com"), 0);
	const git_commit *parents[1] = { parent };
	ck_assert_int_eq(git_commit_create(&cid, r, "HEAD", sig, sig, NULL, "m\n", t, parent ? 1 : 0, parents), 0);
	git_oid_tostr(out, 41, &cid);
	git_signature_free(sig);
	git_tree_free(t);
	git_tree_free(base);
	git_commit_free(parent);
}

/* "name=content|..." of a source, and its commit; rc as expected. */
static int src_cb(void *ctx, const char *name, const void *data, size_t len)
{
	struct mr_buf *b = ctx;
	mr_buf_addf(b, "%s=", name);
	mr_buf_add(b, data, len);
	mr_buf_addc(b, '|');
	return 0;
}

static char *source(const char *spec, int want_rc, char commit[41], struct mr_buf *err)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_adds(&b, "");
	mr_buf_reset(err);
	int rc = mr_vcs_source(spec, src_cb, &b, commit, err);
	ck_assert_msg(rc == want_rc, "%s: %d %s", spec, rc, err->ptr ? err->ptr : "");
	return mr_buf_detach(&b);
}

START_TEST(source_reads_a_ref_and_a_subdirectory)
{
	mk_tmp();
	const char *dir = at("desired");
	git_repository *r;
	git_repository_init_options o = GIT_REPOSITORY_INIT_OPTIONS_INIT;
	o.flags = GIT_REPOSITORY_INIT_MKPATH;
	o.initial_head = "main";
	ck_assert_int_eq(git_repository_init_ext(&r, dir, &o), 0);
	ck_assert(!git_repository_is_bare(r));

	char c1[41], c2[41];
	static const struct upd first[] = {
		{ "state/a.yaml", "a: 1\n" },          { "state/sub/b.yml", "b: 1\n" },
		{ "state/readme.txt", "not yaml\n" },  { "state/.hidden.yaml", "hidden: 1\n" },
		{ "state/.dir/c.yaml", "c: 1\n" },     { "other/x.yaml", "x: 1\n" },
		{ "top.yaml", "top: 1\n" },            { "docs/readme.txt", "docs\n" },
	};
	src_commit(r, first, sizeof(first) / sizeof(first[0]), c1);
	git_object *target;
	git_oid tag;
	git_signature *sig;
	ck_assert_int_eq(git_signature_now(&sig, "test", "test@example.com"), 0);
	ck_assert_int_eq(git_revparse_single(&target, r, c1), 0);
	ck_assert_int_eq(git_tag_create(&tag, r, "v1", target, sig, "release 1\n", 0), 0);
	git_object_free(target);
	git_signature_free(sig);
	static const struct upd second[] = { { "state/a.yaml", "a: 2\n" }, { "state/new.yaml", "n: 2\n" } };
	src_commit(r, second, 2, c2);
	git_repository_free(r);

	struct mr_buf err = MR_BUF_INIT, want = MR_BUF_INIT;
	char commit[41];
	char spec[600];
	snprintf(spec, sizeof(spec), "git:%s#v1:state", dir);
	char *got = source(spec, 0, commit, &err);
	ck_assert_str_eq(commit, c1);
	mr_buf_addf(&want, "git:%s#%s:state/a.yaml=a: 1\n|git:%s#%s:state/sub/b.yml=b: 1\n|", dir, c1, dir, c1);
	ck_assert_str_eq(got, want.ptr);
	free(got);

	snprintf(spec, sizeof(spec), "git:%s#main:state", dir);
	got = source(spec, 0, commit, &err);
	ck_assert_str_eq(commit, c2);
	mr_buf_reset(&want);
	mr_buf_addf(&want, "git:%s#%s:state/a.yaml=a: 2\n|git:%s#%s:state/new.yaml=n: 2\n|"
		    "git:%s#%s:state/sub/b.yml=b: 1\n|", dir, c2, dir, c2, dir, c2);
	ck_assert_str_eq(got, want.ptr);
	free(got);

	/* default ref HEAD; outer slashes are ignored; a commit id works */
	snprintf(spec, sizeof(spec), "git:%s:/state/", dir);
	got = source(spec, 0, commit, &err);
	ck_assert_str_eq(commit, c2);
	free(got);
	snprintf(spec, sizeof(spec), "git:%s#%.12s:state/sub", dir, c1);
	got = source(spec, 0, commit, &err);
	ck_assert_str_eq(commit, c1);
	mr_buf_reset(&want);
	mr_buf_addf(&want, "git:%s#%s:state/sub/b.yml=b: 1\n|", dir, c1);
	ck_assert_str_eq(got, want.ptr);
	free(got);

	/* the whole tree, through the .git directory */
	snprintf(spec, sizeof(spec), "git:%s/.git#v1", dir);
	got = source(spec, 0, commit, &err);
	mr_buf_reset(&want);
	mr_buf_addf(&want, "git:%s/.git#%s:other/x.yaml=x: 1\n|git:%s/.git#%s:state/a.yaml=a: 1\n|"
		    "git:%s/.git#%s:state/sub/b.yml=b: 1\n|git:%s/.git#%s:top.yaml=top: 1\n|",
		    dir, c1, dir, c1, dir, c1, dir, c1);
	ck_assert_str_eq(got, want.ptr);
	free(got);

	/* errors */
	static const struct {
		const char *pre, *post; /* around the repository's path */
		const char *msg;
	} bad[] = {
		{ "git:", "#nosuchref:state", "unknown ref 'nosuchref'" },
		{ "git:", "#main:missing", "no directory 'missing'" },
		{ "git:", "#main:state/missing", "no directory 'state/missing'" },
		{ "git:", "#main:top.yaml", "'top.yaml' is not a directory" },
		{ "git:", "#main:docs", "no YAML file" },
		{ "git:", "/state:x", "cannot open the git repository" },
		{ "git:", "/nonexistent", "cannot open the git repository" },
		{ "file:", "", "is not a git source" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(spec, sizeof(spec), "%s%s%s", bad[i].pre, dir, bad[i].post);
		commit[0] = 'x';
		got = source(spec, -1, commit, &err);
		ck_assert_str_eq(got, "");
		ck_assert_str_eq(commit, "");
		ck_assert_msg(strstr(err.ptr, bad[i].msg) != NULL, "%s: %s", spec, err.ptr);
		free(got);
	}
	got = source("git:", -1, commit, &err);
	free(got);
	mr_buf_release(&want);
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

START_TEST(source_reads_a_bare_repository)
{
	mk_tmp();
	struct mr_vcs *v = open_ok(at("repo"), true);
	struct mr_vcs_file f[] = { F("d/one.yaml", "one: 1\n"), F("d/two.txt", "two\n") };
	char id[41], commit[41];
	ck_assert(commit_ok(v, f, 2, "m", id));
	mr_vcs_close(&v);
	struct mr_buf err = MR_BUF_INIT, want = MR_BUF_INIT;
	char spec[600];
	snprintf(spec, sizeof(spec), "git:%s", at("repo"));
	char *got = source(spec, 0, commit, &err);
	ck_assert_str_eq(commit, id);
	mr_buf_addf(&want, "git:%s#%s:d/one.yaml=one: 1\n|", at("repo"), id);
	ck_assert_str_eq(got, want.ptr);
	free(got);
	mr_buf_release(&want);
	mr_buf_release(&err);
	rm_tmp();
}
END_TEST

/* mr_vcs_clean_message against libgit2's git_message_prettify (what it replaces): random
 * messages of the characters that matter (the spaces git trims, line ends, '#', text) */
START_TEST(clean_message_is_git_s)
{
	git_libgit2_init();
	static const char alphabet[] = "ab #\n\n\n \t\r\v\f";
	unsigned seed = 12345;
	char msg[200];
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand_r(&seed) % (sizeof(msg) - 1));
		for (size_t i = 0; i < n; i++)
			msg[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		msg[n] = '\0';
		git_buf want = GIT_BUF_INIT_CONST(NULL, 0);
		ck_assert_int_eq(git_message_prettify(&want, msg, 0, '#'), 0);
		struct mr_buf got = MR_BUF_INIT;
		mr_vcs_clean_message(msg, &got);
		ck_assert_uint_eq(got.len, want.size);
		ck_assert_msg(got.len == 0 || memcmp(got.ptr, want.ptr, got.len) == 0, "round %d", round);
		mr_buf_release(&got);
		git_buf_dispose(&want);
	}
	/* appends, and a message of only blank lines is empty */
	struct mr_buf out = MR_BUF_INIT;
	mr_buf_adds(&out, "x");
	mr_vcs_clean_message("\n  \n\t\nsubject  \n\n\n\nbody\n\n", &out);
	ck_assert_str_eq(out.ptr, "xsubject\n\nbody\n");
	mr_buf_reset(&out);
	mr_vcs_clean_message(" \n\n\r\n", &out);
	ck_assert_uint_eq(out.len, 0);
	mr_buf_release(&out);
	git_libgit2_shutdown();
}
END_TEST

Suite *suite_vcs(void)
{
	Suite *s = suite_create("vcs");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, create_commit_and_read_back);
	tcase_add_test(tc, open_without_a_repository);
	tcase_add_test(tc, an_identical_snapshot_is_not_committed);
	tcase_add_test(tc, files_known_by_blob_id_compare_as_their_bytes);
	tcase_add_test(tc, a_one_file_change_reuses_unchanged_trees);
	tcase_add_test(tc, authors_are_recorded);
	tcase_add_test(tc, clean_message_is_git_s);
	tcase_add_test(tc, log_and_show);
	tcase_add_test(tc, trailers);
	tcase_add_test(tc, read_an_old_revision);
	tcase_add_test(tc, a_callback_stops_the_reading);
	tcase_add_test(tc, a_corrupted_repository_is_refused);
	tcase_add_test(tc, a_locked_repository_is_refused);
	tcase_add_test(tc, bad_paths_are_refused);
	tcase_add_test(tc, source_reads_a_ref_and_a_subdirectory);
	tcase_add_test(tc, source_reads_a_bare_repository);
	suite_add_tcase(s, tc);
	return s;
}
