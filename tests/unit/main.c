#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests.h"

/* With CK_FORK=no (the ASan+UBSan build's ctest, tests/CMakeLists.txt says why) every test
 * runs in this process: a test whose code calls exit() would end the run early, with the
 * status it gives and the rest of the tests not run. Check reports that as an error when it
 * forks; here this handler makes it a failure. */
static int all_run;
static void exit_before_the_end(void)
{
	if (!all_run) {
		fputs("unit_tests: the process exited in the middle of a test (CK_FORK=no): "
		      "not every test ran\n", stderr);
		_exit(70);
	}
}

int main(void)
{
	SRunner *sr = srunner_create(suite_util());
	srunner_add_suite(sr, suite_names());
	srunner_add_suite(sr, suite_pwhash());
	srunner_add_suite(sr, suite_keys());
	srunner_add_suite(sr, suite_keygen());
	srunner_add_suite(sr, suite_password());
	srunner_add_suite(sr, suite_ytree());
	srunner_add_suite(sr, suite_load());
	srunner_add_suite(sr, suite_fixtures());
	srunner_add_suite(sr, suite_codec());
	srunner_add_suite(sr, suite_plan());
	srunner_add_suite(sr, suite_txn());
	srunner_add_suite(sr, suite_vcs());
	srunner_add_suite(sr, suite_rootfs());
	srunner_add_suite(sr, suite_homes());
	srunner_add_suite(sr, suite_route());
	srunner_add_suite(sr, suite_dkim());
	if (srunner_fork_status(sr) == CK_NOFORK)
		atexit(exit_before_the_end);
	srunner_run_all(sr, CK_NORMAL);
	all_run = 1;
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
