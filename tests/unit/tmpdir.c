#include <stdio.h>
#include <stdlib.h>

#include "tests.h"

void mr_test_mkdtemp(char *buf, size_t size, const char *name)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int n = snprintf(buf, size, "%s/%s-XXXXXX", dir, name);
	ck_assert_msg(n > 0 && (size_t)n < size, "TMPDIR '%s' is too long for this test's %zu bytes", dir, size);
	ck_assert_msg(mkdtemp(buf) != NULL, "cannot make a directory '%s'", buf);
}
