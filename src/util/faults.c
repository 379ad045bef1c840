#include "util/faults.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
	const char *name;
	int value;
} errnos[] = {
	{ "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EINTR", EINTR }, { "EIO", EIO },
	{ "ENXIO", ENXIO }, { "EBADF", EBADF }, { "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM },
	{ "EACCES", EACCES }, { "EBUSY", EBUSY }, { "EEXIST", EEXIST }, { "EXDEV", EXDEV },
	{ "ENODEV", ENODEV }, { "ENOTDIR", ENOTDIR }, { "EISDIR", EISDIR },
	{ "EINVAL", EINVAL }, { "ENFILE", ENFILE }, { "EMFILE", EMFILE },
	{ "ETXTBSY", ETXTBSY }, { "EFBIG", EFBIG }, { "ENOSPC", ENOSPC }, { "EROFS", EROFS },
	{ "EMLINK", EMLINK }, { "ENAMETOOLONG", ENAMETOOLONG }, { "ENOTEMPTY", ENOTEMPTY },
	{ "ELOOP", ELOOP }, { "EDQUOT", EDQUOT }, { "ESTALE", ESTALE },
	{ "EOPNOTSUPP", EOPNOTSUPP }, { "ENOTSUP", ENOTSUP }, { "ETIMEDOUT", ETIMEDOUT },
	{ "ENOSYS", ENOSYS }, { "ECANCELED", ECANCELED },
};

static struct {
	bool loaded;
	bool fault;             /* MAILRECON_FAULT is set */
	char point[64];
	int err;
	unsigned long nth;      /* 0: every matching call */
	unsigned long seen;     /* matching calls so far */
	unsigned long crash_at; /* 0: never */
	unsigned passed;
} F;

static int errno_from_name(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (strlen(errnos[i].name) == n && memcmp(errnos[i].name, s, n) == 0)
			return errnos[i].value;
	if (n > 0 && n < 6) {
		char num[8];
		memcpy(num, s, n);
		num[n] = '\0';
		char *end;
		long v = strtol(num, &end, 10);
		if (*end == '\0' && v > 0)
			return (int)v;
	}
	return EIO;
}

static void load(void)
{
	if (F.loaded)
		return;
	F.loaded = true;
	const char *f = getenv("MAILRECON_FAULT");
	if (f && *f) {
		F.fault = true;
		const char *c1 = strchr(f, ':');
		size_t pl = c1 ? (size_t)(c1 - f) : strlen(f);
		if (pl >= sizeof(F.point))
			pl = sizeof(F.point) - 1;
		memcpy(F.point, f, pl);
		F.point[pl] = '\0';
		F.err = EIO;
		if (c1) {
			const char *e = c1 + 1;
			const char *c2 = strchr(e, ':');
			F.err = errno_from_name(e, c2 ? (size_t)(c2 - e) : strlen(e));
			if (c2)
				F.nth = strtoul(c2 + 1, NULL, 10);
		}
	}
	const char *c = getenv("MAILRECON_CRASH_AT");
	if (c && *c)
		F.crash_at = strtoul(c, NULL, 10);
}

int mr_fault_check(const char *point)
{
	load();
	if (!F.fault || strcmp(point, F.point) != 0)
		return 0;
	F.seen++;
	if (F.nth && F.seen != F.nth)
		return 0;
	errno = F.err;
	return -1;
}

void mr_crash_point(void)
{
	load();
	F.passed++;
	if (F.crash_at && F.passed == F.crash_at)
		_exit(99);
}

unsigned mr_crash_points_passed(void)
{
	return F.passed;
}

void mr_faults_reset(void)
{
	memset(&F, 0, sizeof(F));
}

void mr_test_hook(const char *name)
{
	const char *cmd = getenv(name);
	if (!cmd || !*cmd)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int status;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}
