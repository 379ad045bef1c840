/*
 * rootfs: the confinement layer.  Every test runs twice, with the openat2 resolver and with
 * the O_NOFOLLOW walk (_i = 0, 1), on a sandbox root next to a decoy directory that nothing
 * may touch.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"
#include "util/fs.h"
#include "util/rootfs.h"

static char base[64], rootdir[96], decoy[96];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static struct mr_root *setup_root(int resolver)
{
	mr_test_mkdtemp(base, sizeof(base), "mr-rootfs");
	snprintf(rootdir, sizeof(rootdir), "%s/root", base);
	snprintf(decoy, sizeof(decoy), "%s/decoy", base);
	sh("mkdir -p %s/etc/exim4 %s/var/www/alice/data/email %s/sub && echo secret >%s/file && echo x >%s/sub/y", rootdir,
	   rootdir, decoy, decoy, decoy);
	sh("echo 'a@b:x' >%s/etc/exim4/passwd", rootdir);
	/* a tenant's tree is the tenant's: the links in it are never followed */
	sh("chown -R 5001:5001 %s/var/www/alice", rootdir);
	if (resolver)
		setenv("MAILRECON_RESOLVE", "walk", 1);
	else
		unsetenv("MAILRECON_RESOLVE");
	struct mr_root *r;
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&r, rootdir, &err), 0);
	ck_assert(mr_root_uses_openat2(r) == !resolver);
	mr_buf_release(&err);
	return r;
}

/* the decoy is exactly as made */
static void decoy_intact(void)
{
	sh("test \"$(cat %s/file)\" = secret && test \"$(cat %s/sub/y)\" = x && test $(find %s | wc -l) -eq 4", decoy, decoy,
	   decoy);
}

static void teardown_root(struct mr_root **r)
{
	mr_root_close(r);
	sh("rm -rf %s", base);
	unsetenv("MAILRECON_RESOLVE");
}

START_TEST(clean_paths)
{
	ck_assert(mr_root_clean("/"));
	ck_assert(mr_root_clean("/etc/exim4/passwd"));
	ck_assert(!mr_root_clean("etc/passwd"));
	ck_assert(!mr_root_clean("/etc/../x"));
	ck_assert(!mr_root_clean("/etc/./x"));
	ck_assert(!mr_root_clean("/etc//x"));
	ck_assert(!mr_root_clean("/etc/"));
	ck_assert(!mr_root_clean("/.."));
	ck_assert(!mr_root_clean(""));
}
END_TEST

START_TEST(read_refuses_links_at_every_level)
{
	struct mr_root *r = setup_root(_i);
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	struct stat st;
	ck_assert_int_eq(mr_root_read(r, "/etc/exim4/passwd", 1 << 20, &data, &st, &err), 0);
	ck_assert_str_eq(data.ptr, "a@b:x\n");
	/* the last name a link */
	sh("ln -s %s/file %s/etc/exim4/domains", decoy, rootdir);
	ck_assert_int_eq(mr_root_read(r, "/etc/exim4/domains", 1 << 20, &data, &st, &err), -ELOOP);
	ck_assert_ptr_nonnull(strstr(err.ptr, "symbolic link"));
	/* a directory on the way a link (the case of etc/postgrey): root's own link in root's
	 * /etc is followed -- but below the root, so the decoy is never reached */
	sh("ln -s %s %s/etc/postgrey", decoy, rootdir);
	ck_assert_int_eq(mr_root_read(r, "/etc/postgrey/file", 1 << 20, &data, &st, &err), -ENOENT);
	/* ... one that climbs out with '..' is refused */
	sh("ln -s ../../../../../../../../../..%s %s/etc/postgrey2", decoy, rootdir);
	ck_assert_int_eq(mr_root_read(r, "/etc/postgrey2/file", 1 << 20, &data, &st, &err), -ELOOP);
	/* ... and one made by someone else than root, or in a directory others may write to */
	sh("ln -s exim4 %s/etc/exim && chown -h 5001 %s/etc/exim", rootdir, rootdir);
	ck_assert_int_eq(mr_root_read(r, "/etc/exim/passwd", 1 << 20, &data, &st, &err), -ELOOP);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_root_read(r, "/etc/exim/passwd", 1 << 20, &data, &st, &err), -ELOOP);
	ck_assert_ptr_nonnull(strstr(err.ptr, "is reached through the symbolic link"));
	sh("mkdir -m 1777 %s/etc/open && ln -s ../exim4 %s/etc/open/x", rootdir, rootdir);
	ck_assert_int_eq(mr_root_read(r, "/etc/open/x/passwd", 1 << 20, &data, &st, &err), -ELOOP);
	/* root's link to a directory below the root, in root's /etc: Debian's
	 * /etc/mail/spamassassin -> /etc/spamassassin is followed, at every level */
	sh("mkdir -p %s/etc/spamassassin %s/etc/mail && echo lc >%s/etc/spamassassin/local.cf", rootdir, rootdir, rootdir);
	sh("ln -s /etc/spamassassin %s/etc/mail/spamassassin", rootdir);
	ck_assert_int_eq(mr_root_read(r, "/etc/mail/spamassassin/local.cf", 1 << 20, &data, &st, &err), 0);
	ck_assert_str_eq(data.ptr, "lc\n");
	ck_assert(mr_root_is_dir(r, "/etc/mail/spamassassin"));
	/* but never as the last name of a file */
	sh("ln -s spamassassin/local.cf %s/etc/local.cf", rootdir);
	ck_assert_int_eq(mr_root_read(r, "/etc/local.cf", 1 << 20, &data, &st, &err), -ELOOP);
	/* links that loop */
	sh("ln -s a %s/etc/b && ln -s b %s/etc/a", rootdir, rootdir);
	ck_assert_int_eq(mr_root_read(r, "/etc/a/x", 1 << 20, &data, &st, &err), -ELOOP);
	/* .. is not a path below the root */
	ck_assert_int_eq(mr_root_read(r, "/etc/../../decoy/file", 1 << 20, &data, &st, &err), -EINVAL);
	/* a FIFO is refused without blocking; a file where a directory is expected is ENOTDIR */
	sh("mkfifo %s/etc/fifo", rootdir);
	ck_assert_int_eq(mr_root_read(r, "/etc/fifo", 1 << 20, &data, &st, &err), -EINVAL);
	ck_assert_int_eq(mr_root_read(r, "/etc/exim4/passwd/x", 1 << 20, &data, &st, &err), -ENOTDIR);
	ck_assert_int_eq(mr_root_read(r, "/etc/exim4/passwd", 3, &data, &st, &err), -EFBIG);
	ck_assert_int_eq(mr_root_read(r, "/etc/nothing", 3, &data, &st, &err), -ENOENT);
	mr_buf_release(&data);
	mr_buf_release(&err);
	decoy_intact();
	teardown_root(&r);
}
END_TEST

/* A strict root (the directories of a --scope run's files): reached from "/" without any
 * link, not even root's own safe one; no link below it is followed either; and it holds its
 * directory, whatever is renamed later. */
START_TEST(strict_roots_follow_no_link)
{
	struct mr_root *r = setup_root(_i), *s = NULL, *all = NULL, *held = NULL, *again = NULL;
	struct mr_buf err = MR_BUF_INIT, data = MR_BUF_INIT;
	struct stat st, want;
	char real[PATH_MAX], p[PATH_MAX + 64], q[PATH_MAX + 64];
	ck_assert_ptr_nonnull(realpath(rootdir, real)); /* /tmp itself may be a link elsewhere */
	ck_assert_int_eq(mr_root_open_strict(&s, "tmp/x", &err), -EINVAL);
	ck_assert_int_eq(mr_root_open_strict(&s, "/tmp/../x", &err), -EINVAL);
	ck_assert_ptr_null(s);
	sh("mkdir -p %s/var/www/alice/mr/keys && echo own >%s/var/www/alice/mr/pw && echo k >%s/var/www/alice/mr/keys/k",
	   real, real, real);
	/* without a link: a strict root there */
	snprintf(p, sizeof(p), "%s/var/www/alice/mr", real);
	ck_assert_int_eq(mr_root_open_strict(&s, p, &err), 0);
	ck_assert(mr_root_is_strict(s) && !mr_root_is_strict(r));
	ck_assert_str_eq(mr_root_dir(s), p);
	ck_assert(mr_root_uses_openat2(s) == !_i);
	ck_assert_int_eq(mr_root_read(s, "/pw", 1 << 20, &data, &st, &err), 0);
	ck_assert_str_eq(data.ptr, "own\n");
	mr_root_close(&s);
	/* a link at any level on the way is -ELOOP, naming it */
	sh("ln -s %s/var/www/alice/mr %s/var/www/alice/mrlink", real, real);
	snprintf(p, sizeof(p), "%s/var/www/alice/mrlink/keys", real);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_root_open_strict(&s, p, &err), -ELOOP);
	snprintf(q, sizeof(q), "is reached through the symbolic link '%s/var/www/alice/mrlink'", real);
	ck_assert_msg(strstr(err.ptr, q) != NULL, "%s", err.ptr);
	snprintf(p, sizeof(p), "%s/var/www/alice/mrlink", real);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_root_open_strict(&s, p, &err), -ELOOP);
	ck_assert_msg(strstr(err.ptr, "mrlink' is a symbolic link") != NULL, "%s", err.ptr);
	ck_assert_ptr_null(s);
	/* root's own link in root's directory: a root follows it, a strict one never */
	sh("mkdir -p %s/etc/spamassassin %s/etc/mail && echo lc >%s/etc/spamassassin/local.cf", real, real, real);
	sh("ln -s /etc/spamassassin %s/etc/mail/spamassassin", real);
	ck_assert_int_eq(mr_root_read(r, "/etc/mail/spamassassin/local.cf", 1 << 20, &data, &st, &err), 0);
	snprintf(p, sizeof(p), "%s/etc/mail/spamassassin", real);
	ck_assert_int_eq(mr_root_open_strict(&s, p, &err), -ELOOP);
	ck_assert_int_eq(mr_root_open_strict(&all, real, &err), 0);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_root_read(all, "/etc/mail/spamassassin/local.cf", 1 << 20, &data, &st, &err), -ELOOP);
	snprintf(q, sizeof(q), "is reached through the symbolic link '%s/etc/mail/spamassassin'", real);
	ck_assert_msg(strstr(err.ptr, q) != NULL, "%s", err.ptr);
	ck_assert_int_eq(mr_root_dirfd(all, "/etc/mail/spamassassin"), -ELOOP);
	ck_assert_int_eq(mr_root_read(all, "/var/www/alice/mr/keys/k", 1 << 20, &data, &st, &err), 0);
	/* a sub-root holds its directory: renamed away and replaced by a link to the decoy, it
	 * still reads the files it had, and only those */
	ck_assert_int_eq(mr_root_sub(all, "/var/www/alice/mr", &held, &err), 0);
	ck_assert(mr_root_is_strict(held));
	snprintf(p, sizeof(p), "%s/var/www/alice/mr", real);
	ck_assert_str_eq(mr_root_dir(held), p);
	sh("cd %s/var/www/alice && mv mr mr.old && ln -s %s mr && cp %s/file %s/pw", real, decoy, decoy, decoy);
	ck_assert_int_eq(mr_root_read(held, "/pw", 1 << 20, &data, &st, &err), 0);
	ck_assert_str_eq(data.ptr, "own\n");
	snprintf(p, sizeof(p), "%s/var/www/alice/mr.old", real);
	ck_assert_int_eq(stat(p, &want), 0);
	ck_assert_int_eq(mr_root_lstat(held, "/", &st), 0);
	ck_assert(st.st_dev == want.st_dev && st.st_ino == want.st_ino);
	ck_assert_int_eq(mr_root_sub(held, "/", &again, &err), 0); /* itself, opened again */
	ck_assert_int_eq(mr_root_lstat(again, "/", &st), 0);
	ck_assert(st.st_dev == want.st_dev && st.st_ino == want.st_ino);
	ck_assert_int_eq(mr_root_read(again, "/keys/k", 1 << 20, &data, &st, &err), 0);
	/* by the name, the link is refused */
	mr_root_close(&again);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_root_sub(all, "/var/www/alice/mr", &again, &err), -ELOOP);
	ck_assert_int_eq(mr_root_sub(all, "/var/www/alice/mr/keys", &again, &err), -ELOOP);
	ck_assert_ptr_null(again);
	sh("rm %s/pw", decoy);
	mr_root_close(&held);
	mr_root_close(&all);
	mr_buf_release(&data);
	mr_buf_release(&err);
	decoy_intact();
	teardown_root(&r);
}
END_TEST

START_TEST(directories_and_names)
{
	struct mr_root *r = setup_root(_i);
	struct mr_buf err = MR_BUF_INIT;
	struct stat st;
	/* mkdir gives the mode exactly (whatever the umask) and the owner through a descriptor */
	mode_t old = umask(077);
	ck_assert_int_eq(mr_root_mkdir(r, "/var/www/alice/data/email/x.org", 0750, 4321, 4322), 0);
	umask(old);
	ck_assert_int_eq(mr_root_lstat(r, "/var/www/alice/data/email/x.org", &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0750);
	ck_assert_uint_eq(st.st_uid, 4321);
	ck_assert_uint_eq(st.st_gid, 4322);
	ck_assert_int_eq(mr_root_mkdir(r, "/var/www/alice/data/email/x.org", 0750, -1, -1), -EEXIST);
	/* a link on the way: nothing is made through it */
	sh("ln -s %s %s/var/www/alice/data/email/evil.org", decoy, rootdir);
	ck_assert_int_eq(mr_root_mkdir(r, "/var/www/alice/data/email/evil.org/info", 0700, 4321, 4321), -ELOOP);
	ck_assert_int_eq(mr_root_mkdirs(r, "/var/www/alice/data/email/evil.org/info", 0755, &err), -ELOOP);
	ck_assert_ptr_nonnull(strstr(err.ptr, "symbolic link"));
	/* mkdirs makes what is missing, root's */
	ck_assert_int_eq(mr_root_mkdirs(r, "/var/lib/mailrecon/archive", 0700, &err), 0);
	ck_assert_int_eq(mr_root_lstat(r, "/var/lib/mailrecon/archive", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	/* root's link in root's /etc is followed by mkdirs, which makes what the path names
	 * after it ... */
	sh("mkdir -p %s/srv/spool && ln -s /srv/spool %s/etc/spool", rootdir, rootdir);
	ck_assert_int_eq(mr_root_mkdirs(r, "/etc/spool/a/b", 0755, &err), 0);
	ck_assert_int_eq(mr_root_lstat(r, "/srv/spool/a/b", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	/* ... but never what the link's target names: a dangling link stays dangling */
	sh("ln -s /srv/gone/deeper %s/etc/dangling && ln -s ../srv/gone2 %s/etc/dangling2", rootdir, rootdir);
	ck_assert_int_eq(mr_root_mkdirs(r, "/etc/dangling/x", 0755, &err), -ENOENT);
	ck_assert_int_eq(mr_root_mkdirs(r, "/etc/dangling2", 0755, &err), -ENOENT);
	ck_assert_int_eq(mr_root_lstat(r, "/srv/gone", &st), -ENOENT);
	ck_assert_int_eq(mr_root_lstat(r, "/srv/gone2", &st), -ENOENT);
	/* a link within a link's target: what follows the inner link's target is still the
	 * first link's, and made by nobody */
	sh("mkdir -p %s/srv/hop && ln -s /srv/hop/in/more %s/etc/outer && ln -s /srv/nowhere %s/srv/hop/in", rootdir, rootdir,
	   rootdir);
	ck_assert_int_eq(mr_root_mkdirs(r, "/etc/outer/mine", 0755, &err), -ENOENT);
	ck_assert_int_eq(mr_root_lstat(r, "/srv/nowhere", &st), -ENOENT);
	sh("mkdir %s/srv/nowhere", rootdir);
	ck_assert_int_eq(mr_root_mkdirs(r, "/etc/outer/mine", 0755, &err), -ENOENT); /* 'more' is the link's */
	sh("mkdir %s/srv/nowhere/more", rootdir);
	ck_assert_int_eq(mr_root_mkdirs(r, "/etc/outer/mine", 0755, &err), 0);
	ck_assert_int_eq(mr_root_lstat(r, "/srv/nowhere/more/mine", &st), 0);
	/* rename, unlink, list */
	ck_assert_int_eq(mr_root_rename(r, "/etc/exim4/passwd", "/etc/exim4/passwd2", true), 0);
	sh("touch %s/etc/exim4/passwd", rootdir);
	ck_assert_int_eq(mr_root_rename(r, "/etc/exim4/passwd2", "/etc/exim4/passwd", true), -EEXIST);
	ck_assert_int_eq(mr_root_rename(r, "/etc/exim4/passwd2", "/var/www/alice/data/email/evil.org/p", true), -ELOOP);
	struct mr_pathlist names = MR_PATHLIST_INIT;
	ck_assert_int_eq(mr_root_list(r, "/etc/exim4", &names), 0);
	ck_assert_uint_eq(names.n, 2);
	ck_assert_str_eq(names.v[0], "passwd");
	ck_assert_str_eq(names.v[1], "passwd2");
	mr_pathlist_release(&names);
	ck_assert_int_eq(mr_root_list(r, "/var/www/alice/data/email/evil.org", &names), -ELOOP);
	ck_assert_int_eq(mr_root_unlink(r, "/etc/exim4/passwd2"), 0);
	/* unlinking a link removes the link, not its target */
	ck_assert_int_eq(mr_root_unlink(r, "/var/www/alice/data/email/evil.org"), 0);
	ck_assert_int_eq(mr_root_sync_dir(r, "/etc/exim4"), 0);
	/* O_CREAT through the layer: a new file, never through a link */
	sh("ln -s %s/file %s/etc/exim4/aliases", decoy, rootdir);
	ck_assert_int_eq(mr_root_openat(r, "/etc/exim4/aliases", O_WRONLY | O_CREAT | O_TRUNC, 0600), -ELOOP);
	int fd = mr_root_openat(r, "/etc/exim4/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* an O_PATH open of a final link is refused too */
	ck_assert_int_eq(mr_root_openat(r, "/etc/exim4/aliases", O_PATH, 0), -ELOOP);
	/* root's link in root's directory is followed as a directory would be -- below the root */
	ck_assert_int_eq(mr_root_dirfd(r, "/etc/exim4/aliases"), -ENOENT);
	mr_buf_release(&err);
	decoy_intact();
	teardown_root(&r);
}
END_TEST

/* below a held directory descriptor: one name, never followed, nothing made through a link */
START_TEST(names_below_a_held_directory)
{
	struct mr_root *r = setup_root(_i);
	struct stat st;
	int dfd = mr_root_dirfd(r, "/var/www/alice/data/email");
	ck_assert_int_ge(dfd, 0);
	sh("ln -s %s %s/var/www/alice/data/email/evil.org", decoy, rootdir);
	ck_assert_int_eq(mr_root_mkdir_in(dfd, "x.org", 0750, 4321, 4322), 0);
	ck_assert_int_eq(mr_root_lstat_in(dfd, "x.org", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0750);
	ck_assert_uint_eq(st.st_uid, 4321);
	ck_assert_uint_eq(st.st_gid, 4322);
	ck_assert_int_eq(mr_root_mkdir_in(dfd, "x.org", 0750, -1, -1), -EEXIST);
	/* the link itself, never its target */
	ck_assert_int_eq(mr_root_lstat_in(dfd, "evil.org", &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(mr_root_open_in(dfd, "evil.org", O_RDONLY), -ELOOP);
	ck_assert_int_eq(mr_root_open_in(dfd, "evil.org", O_RDONLY | O_DIRECTORY), -ENOTDIR); /* the kernel's word */
	ck_assert_int_eq(mr_root_mkdir_in(dfd, "evil.org", 0700, 4321, 4321), -EEXIST);
	/* more than one name, "." and "..": refused before any call */
	ck_assert_int_eq(mr_root_mkdir_in(dfd, "evil.org/info", 0700, 4321, 4321), -EINVAL);
	ck_assert_int_eq(mr_root_mkdir_in(dfd, "..", 0700, 4321, 4321), -EINVAL);
	ck_assert_int_eq(mr_root_lstat_in(dfd, ".", &st), -EINVAL);
	ck_assert_int_eq(mr_root_lstat_in(dfd, "", &st), -EINVAL);
	ck_assert_int_eq(mr_root_open_in(dfd, "../../../../../../etc", O_RDONLY), -EINVAL);
	int fd = mr_root_open_in(dfd, "x.org", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	close(fd);
	close(dfd);
	/* the filesystem of a directory is synced, and named by its device */
	dev_t dev = 0;
	ck_assert_int_eq(mr_root_sync_fs(r, "/var/www", &dev), 0);
	ck_assert_int_eq(lstat(rootdir, &st), 0);
	ck_assert_uint_eq(dev, st.st_dev);
	ck_assert_int_eq(mr_root_sync_fs(r, "/var/www/alice/data/email/evil.org", &dev), -ELOOP);
	decoy_intact();
	teardown_root(&r);
}
END_TEST

/* homes made as their owner: born uid:gid 0700, one name each, never through a link, with
 * the owner's rights only, and root's ids back afterwards */
START_TEST(dirs_made_as_their_owner)
{
	struct mr_root *r = setup_root(_i);
	struct stat st;
	int dfd = mr_root_dirfd(r, "/var/www/alice/data/email");
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(mr_root_mkdir_in(dfd, "x.org", 0750, 4321, 4322), 0);
	int xfd = mr_root_open_in(dfd, "x.org", O_PATH | O_DIRECTORY);
	ck_assert_int_ge(xfd, 0);
	sh("ln -s %s %s/var/www/alice/data/email/x.org/evil", decoy, rootdir);
	const char *names[] = { "m1", "m2", "evil" };
	int rc[3] = { 7, 7, 7 };
	int ret = mr_root_mkdirs_as(xfd, names, 3, 0700, 4321, 4322, rc);
	if (geteuid() != 0) {
		ck_assert_int_eq(ret, -ENOTSUP); /* the caller makes them as root would */
		goto out;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(rc[0], 0);
	ck_assert_int_eq(rc[1], 0);
	ck_assert_int_eq(rc[2], -EEXIST); /* the link is left as it is */
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(mr_root_lstat_in(xfd, names[k], &st), 0);
		ck_assert(S_ISDIR(st.st_mode));
		ck_assert_uint_eq(st.st_mode & 07777, 0700);
		ck_assert_uint_eq(st.st_uid, 4321);
		ck_assert_uint_eq(st.st_gid, 4322);
	}
	/* root's filesystem ids are back: a new file is root's */
	int fd = mr_root_openat(r, "/etc/exim4/after", O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_uint_eq(st.st_gid, 0);
	close(fd);
	/* the owner's rights only: where the tenant took its own write permission away, it fails
	 * (root would have made it) */
	sh("chmod 0500 %s/var/www/alice/data/email/x.org", rootdir);
	const char *one[] = { "m3" };
	ck_assert_int_eq(mr_root_mkdirs_as(xfd, one, 1, 0700, 4321, 4322, rc), 0);
	ck_assert_int_eq(rc[0], -EACCES);
	ck_assert_int_eq(mr_root_lstat_in(xfd, "m3", &st), -ENOENT);
	/* refused before anything is made: another's directory, a set-group-ID one, root's ids */
	sh("chmod 0750 %s/var/www/alice/data/email/x.org", rootdir);
	ck_assert_int_eq(mr_root_mkdirs_as(xfd, one, 1, 0700, 4320, 4322, rc), -EPERM);
	sh("chmod 2750 %s/var/www/alice/data/email/x.org", rootdir);
	ck_assert_int_eq(mr_root_mkdirs_as(xfd, one, 1, 0700, 4321, 4322, rc), -EPERM);
	sh("chmod g-s %s/var/www/alice/data/email/x.org", rootdir); /* chmod 0750 keeps it on a directory */
	ck_assert_int_eq(mr_root_mkdirs_as(xfd, one, 1, 0700, 0, 0, rc), -EINVAL);
	const char *bad[] = { ".." };
	ck_assert_int_eq(mr_root_mkdirs_as(xfd, bad, 1, 0700, 4321, 4322, rc), -EINVAL);
	ck_assert_int_eq(mr_root_lstat_in(xfd, "m3", &st), -ENOENT);
out:
	close(xfd);
	close(dfd);
	decoy_intact();
	teardown_root(&r);
}
END_TEST

START_TEST(remove_tree_stays_inside)
{
	struct mr_root *r = setup_root(_i);
	struct mr_buf err = MR_BUF_INIT;
	const char *home = "/var/www/alice/data/email/example.com/info";
	sh("mkdir -p %s%s/Maildir/cur %s%s/Maildir/new && echo m >%s%s/Maildir/cur/1", rootdir, home, rootdir, home,
	   rootdir, home);
	/* links inside the tree to the decoy: removed as links, their targets untouched */
	sh("ln -s %s %s%s/Maildir/outside && ln -s %s/file %s%s/Maildir/new/f", decoy, rootdir, home, decoy, rootdir, home);
	sh("mkfifo %s%s/Maildir/fifo", rootdir, home);
	ck_assert_int_eq(mr_root_remove_tree(r, home, &err), 0);
	struct stat st;
	ck_assert_int_eq(mr_root_lstat(r, home, &st), -ENOENT);
	ck_assert_int_eq(mr_root_lstat(r, "/var/www/alice/data/email/example.com", &st), 0);
	/* absent: fine */
	ck_assert_int_eq(mr_root_remove_tree(r, home, &err), 0);
	/* the domain directory a link to the decoy: the tree below it is not reached */
	sh("rmdir %s/var/www/alice/data/email/example.com && ln -s %s %s/var/www/alice/data/email/example.com", rootdir,
	   decoy, rootdir);
	ck_assert_int_eq(mr_root_remove_tree(r, "/var/www/alice/data/email/example.com/sub", &err), -ELOOP);
	ck_assert_int_lt(mr_root_remove_tree(r, "/", &err), 0);
	mr_buf_release(&err);
	decoy_intact();
	teardown_root(&r);
}
END_TEST

START_TEST(chown_tree_takes_only_the_owners)
{
	struct mr_root *r = setup_root(_i);
	struct mr_buf err = MR_BUF_INIT;
	const char *home = "/var/www/alice/data/email/example.com/info";
	sh("mkdir -p %s%s/Maildir/cur && echo m >%s%s/Maildir/cur/1 && echo n >%s%s/Maildir/cur/2", rootdir, home, rootdir,
	   home, rootdir, home);
	sh("chown -R 5001:5001 %s%s", rootdir, home);
	/* a hard link (another file's other name), a file of another uid, a link to the decoy */
	sh("ln %s%s/Maildir/cur/2 %s/etc/hardlinked && echo o >%s%s/Maildir/cur/3 && chown 5009 %s%s/Maildir/cur/3", rootdir,
	   home, rootdir, rootdir, home, rootdir, home);
	sh("ln -s %s/file %s%s/Maildir/l && chown -h 5001:5001 %s%s/Maildir/l", decoy, rootdir, home, rootdir, home);
	size_t skipped = 0;
	ck_assert_int_eq(mr_root_chown_tree(r, home, 5001, 6001, 6001, &skipped, &err), 0);
	ck_assert_uint_eq(skipped, 1); /* the other uid's file */
	sh("test $(stat -c %%u %s%s) = 6001 && test $(stat -c %%u %s%s/Maildir/cur/1) = 6001", rootdir, home, rootdir, home);
	sh("test $(stat -c %%u %s%s/Maildir/cur/3) = 5009", rootdir, home);
	/* the hard-linked file: a copy of its own, the new owner's; its other name stays the old
	 * owner's file and no longer reaches into the new owner's mail */
	sh("test $(stat -c %%u:%%h %s%s/Maildir/cur/2) = 6001:1 && test $(stat -c %%u:%%h %s/etc/hardlinked) = 5001:1",
	   rootdir, home, rootdir);
	sh("test \"$(cat %s%s/Maildir/cur/2)\" = n && echo changed >%s/etc/hardlinked && test \"$(cat %s%s/Maildir/cur/2)\" = n",
	   rootdir, home, rootdir, rootdir, home);
	sh("test $(stat -c %%u %s%s/Maildir/l) = 6001 && test $(stat -c %%u %s/file) = 0", rootdir, home, decoy);
	/* again: idempotent, nothing more to do */
	skipped = 0;
	ck_assert_int_eq(mr_root_chown_tree(r, home, 5001, 6001, 6001, &skipped, &err), 0);
	ck_assert_uint_eq(skipped, 1);
	mr_buf_release(&err);
	decoy_intact();
	teardown_root(&r);
}
END_TEST

START_TEST(copy_tree_and_compare)
{
	struct mr_root *r = setup_root(_i);
	struct mr_buf err = MR_BUF_INIT;
	const char *home = "/var/www/alice/data/email/example.com/info";
	sh("mkdir -p %s%s/Maildir/cur %s%s/Maildir/tmp && echo m >%s%s/Maildir/cur/1 && ln -s cur %s%s/Maildir/c", rootdir,
	   home, rootdir, home, rootdir, home, rootdir, home);
	sh("chown -R 5001:5002 %s%s && chmod 0700 %s%s && chmod 0640 %s%s/Maildir/cur/1", rootdir, home, rootdir, home,
	   rootdir, home);
	sh("mkdir -p %s/var/lib/mailrecon/archive", rootdir);
	size_t skipped = 0;
	ck_assert_int_eq(mr_root_copy_tree(r, home, "/var/lib/mailrecon/archive/info", &skipped, &err), 0);
	ck_assert_uint_eq(skipped, 0);
	ck_assert_int_eq(mr_root_same_tree(r, home, "/var/lib/mailrecon/archive/info"), 1);
	sh("echo changed >%s/var/lib/mailrecon/archive/info/Maildir/cur/1", rootdir);
	ck_assert_int_eq(mr_root_same_tree(r, home, "/var/lib/mailrecon/archive/info"), 0);
	/* the target must not exist */
	ck_assert_int_lt(mr_root_copy_tree(r, home, "/var/lib/mailrecon/archive/info", &skipped, &err), 0);
	mr_buf_release(&err);
	decoy_intact();
	teardown_root(&r);
}
END_TEST

START_TEST(tree_usage_counts_what_is_the_homes)
{
	struct mr_root *r = setup_root(_i);
	const char *home = "/var/www/alice/data/email/example.com/info";
	sh("mkdir -p %s%s/cur %s%s/.Sent/cur && printf 12345 >%s%s/cur/1 && printf 123 >%s%s/.Sent/cur/2", rootdir, home,
	   rootdir, home, rootdir, home, rootdir, home);
	/* a second name of a file (counted once), links out and in a loop, a FIFO: none counted */
	sh("ln %s%s/cur/1 %s%s/cur/1b && ln -s %s/file %s%s/cur/out && ln -s %s %s%s/.Out && ln -s . %s%s/loop && "
	   "mkfifo %s%s/cur/fifo && chown -R -h 5001:5001 %s/var/www/alice",
	   rootdir, home, rootdir, home, decoy, rootdir, home, decoy, rootdir, home, rootdir, home, rootdir, home, rootdir);
	struct mr_tree_usage u;
	ck_assert_int_eq(mr_root_tree_usage(r, home, 1000, 32, &u), 0);
	ck_assert_uint_eq(u.bytes, 8);
	ck_assert_uint_eq(u.files, 2);
	ck_assert_uint_eq(u.dirs, 3); /* cur, .Sent, .Sent/cur */
	ck_assert_uint_eq(u.links, 3);
	ck_assert_uint_eq(u.other, 1);
	ck_assert_uint_eq(u.hardlinked, 1);
	ck_assert(u.complete);
	/* the caps: names, then levels */
	ck_assert_int_eq(mr_root_tree_usage(r, home, 2, 32, &u), 0);
	ck_assert(!u.complete);
	ck_assert_uint_eq(u.entries, 2);
	ck_assert_int_eq(mr_root_tree_usage(r, home, 1000, 1, &u), 0);
	ck_assert(!u.complete);
	ck_assert_uint_eq(u.bytes, 5); /* cur/1 only: .Sent/cur is two levels down */
	/* the home itself a link, or a FIFO: refused, nothing opened */
	sh("ln -s %s %s/var/www/alice/data/email/example.com/linked && mkfifo %s/var/www/alice/data/email/example.com/fifo && "
	   "chown -h 5001:5001 %s/var/www/alice/data/email/example.com/linked",
	   decoy, rootdir, rootdir, rootdir);
	ck_assert_int_eq(mr_root_tree_usage(r, "/var/www/alice/data/email/example.com/linked", 1000, 32, &u), -ELOOP);
	ck_assert_int_eq(mr_root_tree_usage(r, "/var/www/alice/data/email/example.com/fifo", 1000, 32, &u), -ENOTDIR);
	ck_assert_int_eq(mr_root_tree_usage(r, "/var/www/alice/data/email/example.com/none", 1000, 32, &u), -ENOENT);
	decoy_intact();
	teardown_root(&r);
}
END_TEST

/* certbot's layout: live/NAME/ files are relative links into ../../archive/NAME/ */
START_TEST(resolve_within_follows_links_only_inside_the_tree)
{
	struct mr_root *r = setup_root(_i);
	const char *le = "/etc/letsencrypt";
	sh("cd %s/etc && mkdir -p letsencrypt/live/mail.a.test letsencrypt/archive/mail.a.test letsencrypt/live/x "
	   "letsencrypt/dir && echo c1 >letsencrypt/archive/mail.a.test/fullchain1.pem && "
	   "echo c2 >letsencrypt/archive/mail.a.test/fullchain2.pem && "
	   "ln -s ../../archive/mail.a.test/fullchain2.pem letsencrypt/live/mail.a.test/fullchain.pem && "
	   "echo outside >secret.pem",
	   rootdir);
	struct mr_buf out = MR_BUF_INIT, err = MR_BUF_INIT, data = MR_BUF_INIT;
	struct stat st;
	/* the certbot link is followed, and the result holds no link */
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/mail.a.test/fullchain.pem", &out, &err), 0);
	ck_assert_str_eq(out.ptr, "/etc/letsencrypt/archive/mail.a.test/fullchain2.pem");
	ck_assert_int_eq(mr_root_read(r, out.ptr, 1024, &data, &st, &err), 0);
	ck_assert_str_eq(data.ptr, "c2\n");
	/* a plain file resolves to itself; a directory link on the way is followed too */
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/archive/mail.a.test/fullchain1.pem", &out, &err), 0);
	ck_assert_str_eq(out.ptr, "/etc/letsencrypt/archive/mail.a.test/fullchain1.pem");
	sh("ln -s ../archive/mail.a.test %s/etc/letsencrypt/live/dirlink", rootdir);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/dirlink/fullchain1.pem", &out, &err), 0);
	ck_assert_str_eq(out.ptr, "/etc/letsencrypt/archive/mail.a.test/fullchain1.pem");
	ck_assert_uint_eq(err.len, 0);

	/* a relative link that climbs out of the tree (to a file of the root, or out of the root) */
	sh("ln -s ../../../secret.pem %s/etc/letsencrypt/live/x/escape.pem && "
	   "ln -s ../../../../../../../../../../decoy/file %s/etc/letsencrypt/live/x/far.pem",
	   rootdir, rootdir);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/x/escape.pem", &out, &err), -EXDEV);
	ck_assert_msg(strstr(err.ptr, "the symbolic link '") && strstr(err.ptr, "/live/x/escape.pem' climbs above '") &&
			      strstr(err.ptr, "/etc/letsencrypt'"),
		      "%s", err.ptr);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/x/far.pem", &out, &err), -EXDEV);
	mr_buf_reset(&err);
	/* an absolute link, even to a file inside the tree */
	sh("ln -s /etc/letsencrypt/archive/mail.a.test/fullchain1.pem %s/etc/letsencrypt/live/x/abs.pem", rootdir);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/x/abs.pem", &out, &err), -EXDEV);
	ck_assert_msg(strstr(err.ptr, "/etc/letsencrypt/live/x/abs.pem' is absolute"), "%s", err.ptr);
	mr_buf_reset(&err);
	/* a loop, and a link to itself */
	sh("cd %s/etc/letsencrypt/live/x && ln -s b.pem a.pem && ln -s a.pem b.pem && ln -s self.pem self.pem", rootdir);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/x/a.pem", &out, &err), -ELOOP);
	ck_assert_msg(strstr(err.ptr, "is met twice (a loop)"), "%s", err.ptr);
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/x/self.pem", &out, &err), -ELOOP);
	mr_buf_reset(&err);
	/* a chain of 9 distinct links is too long; 8 are followed */
	sh("cd %s/etc/letsencrypt/live/x && echo end >l0 && for i in 1 2 3 4 5 6 7 8 9; do ln -s l$((i - 1)) l$i; done",
	   rootdir);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/x/l8", &out, &err), 0);
	ck_assert_str_eq(out.ptr, "/etc/letsencrypt/live/x/l0");
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/x/l9", &out, &err), -ELOOP);
	ck_assert_msg(strstr(err.ptr, "more than 8 symbolic links"), "%s", err.ptr);
	mr_buf_reset(&err);
	/* missing, a file as a directory, an empty target, a path outside the tree */
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/none/fullchain.pem", &out, &err), -ENOENT);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/x/l0/y", &out, &err), -ENOTDIR);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/secret.pem", &out, &err), -EINVAL);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/../secret.pem", &out, &err), -EINVAL);
	mr_buf_reset(&err);
	/* a link to a directory that climbs out, used on the way */
	sh("ln -s ../.. %s/etc/letsencrypt/live/up", rootdir);
	ck_assert_int_eq(mr_root_resolve_within(r, le, "/etc/letsencrypt/live/up/secret.pem", &out, &err), -EXDEV);
	decoy_intact();
	mr_buf_release(&out);
	mr_buf_release(&err);
	mr_buf_release(&data);
	teardown_root(&r);
}
END_TEST

/*
 * A file opened to be read a chunk at a time (util/fs.h struct mr_file_in): refused where the
 * whole readers refuse, with their messages, below a root and by an operator's path, and past
 * the limit when it grows while it is read.
 */
static void whole_vs_chunks(struct mr_root *r, const char *path, size_t max)
{
	struct mr_buf whole = MR_BUF_INIT, werr = MR_BUF_INIT, cerr = MR_BUF_INIT, got = MR_BUF_INIT;
	struct stat wst, cst;
	char full[512], chunk[1000];
	snprintf(full, sizeof(full), "%s%s", rootdir, path);
	for (int how = 0; how < 3; how++) { /* below the root; a path, links refused; a path, followed */
		struct mr_file_in in = MR_FILE_IN_INIT;
		mr_buf_reset(&werr);
		mr_buf_reset(&cerr);
		mr_buf_reset(&got);
		int wrc = how == 0 ? mr_root_read(r, path, max, &whole, &wst, &werr)
				   : mr_read_file_ex(full, max, how == 1 ? MR_READ_NOFOLLOW : 0, &whole, &wst, &werr);
		int crc = how == 0 ? mr_root_open_file_in(r, path, max, &in, &cst, &cerr)
				   : mr_open_file_in(full, max, how == 1 ? MR_READ_NOFOLLOW : 0, &in, &cst, &cerr);
		ck_assert_msg(wrc == crc, "%s (%d): %d, opened %d", path, how, wrc, crc);
		ck_assert_str_eq(werr.len ? werr.ptr : "", cerr.len ? cerr.ptr : "");
		if (crc == 0) {
			ck_assert_int_eq(in.size, (uint64_t)cst.st_size);
			ck_assert_int_eq(wst.st_ino, cst.st_ino);
			ssize_t n;
			while ((n = mr_file_in_read(&in, chunk, sizeof(chunk), &cerr)) > 0)
				mr_buf_add(&got, chunk, (size_t)n);
			ck_assert_int_eq(n, 0);
			ck_assert_uint_eq(got.len, whole.len);
			ck_assert(memcmp(got.ptr ? got.ptr : "", whole.ptr ? whole.ptr : "", got.len) == 0);
			ck_assert_int_eq(in.len, whole.len);
			if (got.len) {
				ck_assert_int_eq(mr_file_in_pread(&in, chunk, 2, got.len - 1), 1); /* read again: the last byte */
				ck_assert_int_eq(chunk[0], got.ptr[got.len - 1]);
			}
		} else {
			ck_assert_int_eq(in.fd, -1);
		}
		mr_file_in_close(&in);
		mr_file_in_close(&in); /* again: nothing */
	}
	mr_buf_release(&whole);
	mr_buf_release(&werr);
	mr_buf_release(&cerr);
	mr_buf_release(&got);
}

START_TEST(file_in_refuses_what_the_readers_refuse)
{
	struct mr_root *r = setup_root(_i);
	sh("mkfifo %s/etc/fifo && ln -s exim4/passwd %s/etc/link && mkdir %s/etc/dir", rootdir, rootdir, rootdir);
	sh("truncate -s 1048576 %s/etc/exact && truncate -s 1048577 %s/etc/over && : >%s/etc/empty", rootdir, rootdir,
	   rootdir);
	sh("ln -s %s/file %s/etc/out", decoy, rootdir);
	const char *paths[] = { "/etc/exim4/passwd", "/etc/fifo", "/etc/link", "/etc/dir", "/etc/exact", "/etc/over",
				"/etc/empty", "/etc/out", "/etc/nothing", "/etc/exim4/passwd/x" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		whole_vs_chunks(r, paths[i], 1 << 20);

	/* a file that grows past the limit while it is read: refused once the bytes pass it */
	char full[512], want[600];
	snprintf(full, sizeof(full), "%s/etc/exact", rootdir);
	snprintf(want, sizeof(want), "'%s' is too large (the limit is 1 MiB)", full);
	for (int how = 0; how < 2; how++) {
		struct mr_file_in in = MR_FILE_IN_INIT;
		struct mr_buf err = MR_BUF_INIT;
		ck_assert_int_eq(how ? mr_open_file_in(full, 1 << 20, MR_READ_NOFOLLOW, &in, NULL, &err)
				     : mr_root_open_file_in(r, "/etc/exact", 1 << 20, &in, NULL, &err),
				 0);
		sh("printf x >>%s", full);
		char chunk[65536];
		ssize_t n;
		while ((n = mr_file_in_read(&in, chunk, sizeof(chunk), &err)) > 0)
			continue;
		ck_assert_int_eq(n, -EFBIG);
		ck_assert_str_eq(err.ptr, want);
		ck_assert_int_eq(mr_file_in_read(&in, chunk, sizeof(chunk), &err), -EFBIG); /* and stays so */
		mr_file_in_close(&in);
		mr_buf_release(&err);
		sh("truncate -s 1048576 %s", full);
	}
	decoy_intact();
	teardown_root(&r);
}
END_TEST

Suite *suite_rootfs(void)
{
	Suite *s = suite_create("rootfs");
	TCase *tc = tcase_create("rootfs");
	tcase_set_timeout(tc, 60); /* trees made with sh and synced, under the sanitizers, with ctest -j2 */
	tcase_add_test(tc, clean_paths);
	tcase_add_loop_test(tc, file_in_refuses_what_the_readers_refuse, 0, 2);
	tcase_add_loop_test(tc, read_refuses_links_at_every_level, 0, 2);
	tcase_add_loop_test(tc, strict_roots_follow_no_link, 0, 2);
	tcase_add_loop_test(tc, directories_and_names, 0, 2);
	tcase_add_loop_test(tc, names_below_a_held_directory, 0, 2);
	tcase_add_loop_test(tc, dirs_made_as_their_owner, 0, 2);
	tcase_add_loop_test(tc, remove_tree_stays_inside, 0, 2);
	tcase_add_loop_test(tc, chown_tree_takes_only_the_owners, 0, 2);
	tcase_add_loop_test(tc, copy_tree_and_compare, 0, 2);
	tcase_add_loop_test(tc, tree_usage_counts_what_is_the_homes, 0, 2);
	tcase_add_loop_test(tc, resolve_within_follows_links_only_inside_the_tree, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
