#ifndef MR_TESTS_H
#define MR_TESTS_H

#include <check.h>
#include <stddef.h>

Suite *suite_util(void);
Suite *suite_names(void);
Suite *suite_pwhash(void);
Suite *suite_keys(void);
Suite *suite_keygen(void);
Suite *suite_password(void);
Suite *suite_ytree(void);
Suite *suite_load(void);
Suite *suite_fixtures(void);
Suite *suite_codec(void);
Suite *suite_plan(void);
Suite *suite_txn(void);
Suite *suite_vcs(void);
Suite *suite_rootfs(void);
Suite *suite_homes(void);
Suite *suite_route(void);
Suite *suite_dkim(void);

/*
 * A new directory for a test, "DIR/NAME-XXXXXX" made with mkdtemp(3) into buf: DIR is $TMPDIR
 * when it is set (scripts/quickstart points it at a tmpfs; these suites are mostly fsync and
 * rename) and /tmp otherwise. The test fails when the name does not fit in size bytes.
 */
void mr_test_mkdtemp(char *buf, size_t size, const char *name);

#endif
