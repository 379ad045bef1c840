#ifndef MR_TESTS_H
#define MR_TESTS_H

#include <check.h>

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

#endif
