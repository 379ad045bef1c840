#include <stdlib.h>

#include "tests.h"

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
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
