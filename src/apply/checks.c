/*
 * checks: the real tools' checks of what is staged, before anything switches (design
 * section 4): exim -bV -C on Exim's configuration, spamassassin --lint on a copy of
 * SpamAssassin's configuration with the new local.cf, doveconf -n when a certificate
 * changed.  A tool that is not installed is skipped (said); a failing one aborts the apply.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply/steps.h"
#include "util/xalloc.h"

/* Run a check tool: 0 ok or not installed (said), -1 failed (with the tool's message). */
static int check_tool(struct actx *a, char *const argv[], const char *what)
{
	struct mr_buf out = MR_BUF_INIT;
	int r = run_cmd(argv, &out), rc = 0;
	if (r == 0)
		say(a, "check: %s: ok\n", what);
	else if (r == 127 || (out.ptr && strncmp(out.ptr, "cannot run", 10) == 0))
		say(a, "check: %s: %s is not installed; skipped\n", what, argv[0]);
	else {
		fprintf(stderr, "mailrecon: check failed: %s (exit %d):\n%s\n", what, r, out.ptr ? out.ptr : "");
		rc = -1;
	}
	mr_buf_release(&out);
	return rc;
}

/* A regular file below the root, reached without a link: what an external tool may be given. */
static bool plain_file(struct actx *a, const char *path)
{
	struct stat st;
	return mr_root_lstat(a->root, path, &st) == 0 && S_ISREG(st.st_mode);
}

static int put_file(struct actx *a, const char *path, const void *data, size_t len)
{
	int fd = mr_root_openat(a->root, path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	int rc = write(fd, data, len) == (ssize_t)len ? 0 : -1;
	close(fd);
	return rc;
}

/*
 * SpamAssassin's configuration in a private copy below the state directory, with the
 * staged local.cf.  Without the .pre files no plugin is loaded and every lint fails ("no
 * loaded plugin implements check_main"): a sandbox --root that has only local.cf borrows
 * them from this host's directory, the one the spamassassin binary being run was installed
 * with.
 */
static int spamassassin_check(struct actx *a, const struct stage *s)
{
	if (!s->local_cf)
		return 0;
	char *tmp = state_path(a, "tmp");
	struct mr_buf dir = MR_BUF_INIT, err = MR_BUF_INIT, data = MR_BUF_INIT;
	mr_buf_addf(&dir, "%s/sa.%ld", tmp, (long)getpid());
	free(tmp);
	mr_root_remove_tree(a->root, dir.ptr, &err);
	if (mr_root_mkdirs(a->root, dir.ptr, 0700, &err) < 0) {
		fprintf(stderr, "mailrecon: check skipped: %s\n", err.ptr);
		mr_buf_release(&err);
		mr_buf_release(&dir);
		return 0;
	}
	struct mr_pathlist names = MR_PATHLIST_INIT;
	bool have_pre = false;
	mr_root_list(a->root, "/etc/mail/spamassassin", &names);
	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.v[i];
		size_t l = strlen(n);
		bool cf = l > 3 && strcmp(n + l - 3, ".cf") == 0, pre = l > 4 && strcmp(n + l - 4, ".pre") == 0;
		if ((!cf && !pre) || strcmp(n, "local.cf") == 0 || n[0] == '.')
			continue;
		char *src = mr_path_join("/etc/mail/spamassassin", n), *dst = mr_path_join(dir.ptr, n);
		struct stat st;
		mr_buf_reset(&err);
		if (mr_root_read(a->root, src, 16u << 20, &data, &st, &err) == 0 && put_file(a, dst, data.ptr, data.len) == 0)
			have_pre |= pre;
		free(src);
		free(dst);
	}
	mr_pathlist_release(&names);
	if (!have_pre && !mr_root_is_slash(a->root)) {
		struct mr_pathlist host = MR_PATHLIST_INIT;
		static const char *const suffixes[] = { ".cf", ".pre", NULL };
		mr_find_files("/etc/mail/spamassassin", suffixes, &host, &err);
		for (size_t i = 0; i < host.n; i++) {
			const char *base = strrchr(host.v[i], '/') + 1;
			struct stat st;
			if (strchr(host.v[i] + strlen("/etc/mail/spamassassin") + 1, '/') || strcmp(base, "local.cf") == 0)
				continue;
			mr_buf_reset(&err);
			char *dst = mr_path_join(dir.ptr, base);
			if (mr_read_file_ex(host.v[i], 16u << 20, MR_READ_NOFOLLOW, &data, &st, &err) == 0)
				put_file(a, dst, data.ptr, data.len);
			free(dst);
		}
		mr_pathlist_release(&host);
	}
	char *lc = mr_path_join(dir.ptr, "local.cf");
	put_file(a, lc, s->local_cf, s->local_cf_len);
	free(lc);
	char *full = mr_root_full(a->root, dir.ptr);
	struct mr_buf opt = MR_BUF_INIT;
	mr_buf_addf(&opt, "--siteconfigpath=%s", full);
	char *argv[] = { "spamassassin", "--lint", opt.ptr, NULL };
	int rc = check_tool(a, argv, "spamassassin --lint with the new local.cf");
	mr_buf_reset(&err);
	mr_root_remove_tree(a->root, dir.ptr, &err);
	free(full);
	mr_buf_release(&opt);
	mr_buf_release(&err);
	mr_buf_release(&data);
	mr_buf_release(&dir);
	return rc;
}

int checks(struct actx *a, struct stage *s)
{
	const char *exim = a->lv.layout == MR_LAYOUT_RHEL ? "exim" : "exim4";
	const char *conf = a->lv.layout == MR_LAYOUT_RHEL ? "/etc/exim/exim.conf" : "/etc/exim4/exim4.conf";
	int rc = 0;
	if (plain_file(a, conf)) {
		char *fconf = mr_root_full(a->root, conf);
		char *argv[] = { (char *)exim, "-bV", "-C", fconf, NULL };
		char what[256];
		snprintf(what, sizeof(what), "%s -bV -C %s", exim, conf);
		rc |= check_tool(a, argv, what);
		free(fconf);
	}
	if (spamassassin_check(a, s) < 0)
		rc = -1;
	/* Dovecot's configuration, when it is below the root and a certificate changed */
	if (s->reload_dovecot && plain_file(a, "/etc/dovecot/dovecot.conf")) {
		char *dconf = mr_root_full(a->root, "/etc/dovecot/dovecot.conf");
		char *argv[] = { "doveconf", "-n", "-c", dconf, NULL };
		if (check_tool(a, argv, "doveconf -n") < 0)
			rc = -1;
		free(dconf);
	}
	return rc;
}
