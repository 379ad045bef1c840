/*
 * Golden tests: every tests/fixtures/invalid/NAME.yaml (or directory NAME/) is loaded as
 * `mailrecon validate -f NAME` would, from that directory, and its diagnostics must equal
 * NAME.err byte for byte: the exact message and file:line:col of every error.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "load/desired.h"
#include "tests.h"
#include "util/rootfs.h"
#include "util/buf.h"
#include "util/fs.h"

#define INVALID_DIR FIXTURES_DIR "/invalid"

static int check_one(const char *name, struct mr_buf *report)
{
	char expected_path[512];
	const char *dot = strrchr(name, '.');
	size_t base = dot && strcmp(dot, ".yaml") == 0 ? (size_t)(dot - name) : strlen(name);
	snprintf(expected_path, sizeof(expected_path), "%.*s.err", (int)base, name);
	struct mr_buf want = MR_BUF_INIT, err = MR_BUF_INIT, got = MR_BUF_INIT;
	int bad = 0;
	if (mr_read_file(expected_path, 1 << 20, &want, &err) < 0) {
		mr_buf_addf(report, "%s: no expected output: %s\n", name, err.ptr);
		bad = 1;
		goto out;
	}
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	const char *src[] = { name };
	struct mr_root *rfs;
	ck_assert_int_eq(mr_root_open(&rfs, "/", &err), 0);
	struct mr_load_opts o = { .root = "/", .rootfs = rfs, .sources = src, .nsources = 1 };
	mr_model_init(&m);
	int rc = mr_load_desired(&m, &o, &d);
	mr_root_close(&rfs);
	mr_diags_sort(&d);
	mr_diags_render(&d, &got);
	if (rc != -1 || d.errors == 0) {
		mr_buf_addf(report, "%s: loaded without error\n", name);
		bad = 1;
	} else if (strcmp(got.ptr, want.ptr) != 0) {
		mr_buf_addf(report, "%s:\n--- expected\n%s--- got\n%s", name, want.ptr, got.ptr);
		bad = 1;
	}
	mr_diags_release(&d);
	mr_model_release(&m);
out:
	mr_buf_release(&want);
	mr_buf_release(&err);
	mr_buf_release(&got);
	return bad;
}

START_TEST(every_invalid_fixture_gives_its_exact_errors)
{
	char cwd[4096];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(INVALID_DIR), 0);
	/* fixtures name these variables; they must not leak in from the caller */
	unsetenv("X");
	unsetenv("MAILRECON_TEST_UNSET_PASSWORD");
	DIR *dir = opendir(".");
	ck_assert_ptr_nonnull(dir);
	struct mr_pathlist names = MR_PATHLIST_INIT;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' || stat(de->d_name, &st) < 0)
			continue;
		size_t n = strlen(de->d_name);
		if (S_ISDIR(st.st_mode) || (n > 5 && strcmp(de->d_name + n - 5, ".yaml") == 0))
			mr_pathlist_add(&names, de->d_name);
	}
	closedir(dir);
	mr_pathlist_sort(&names);
	struct mr_buf report = MR_BUF_INIT;
	int failed = 0;
	for (size_t i = 0; i < names.n; i++)
		failed += check_one(names.v[i], &report);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_msg(names.n >= 30, "only %zu invalid fixtures", names.n);
	ck_assert_msg(failed == 0, "%d of %zu fixtures differ:\n%s", failed, names.n, report.ptr ? report.ptr : "");
	mr_buf_release(&report);
	mr_pathlist_release(&names);
}
END_TEST

Suite *suite_fixtures(void)
{
	Suite *s = suite_create("fixtures");
	TCase *tc = tcase_create("invalid");
	tcase_add_test(tc, every_invalid_fixture_gives_its_exact_errors);
	suite_add_tcase(s, tc);
	return s;
}
