/*
 * faults: seams for testing how mailrecon handles failing system calls and crashes.
 *
 * A fault: MAILRECON_FAULT=POINT:ERRNO[:N] (POINT a name such as "write", "fsync",
 * "rename"; ERRNO a name such as ENOSPC, or a number) makes mr_fault_check(POINT) return
 * -1 with errno set to ERRNO: at every call with that point, or only at the Nth one when N
 * is given.  Code checks the seam just before the real call and treats -1 as a failure of
 * that call:
 *
 *	if (mr_fault_check("fsync") < 0 || fsync(fd) < 0)
 *		... errno says why ...
 *
 * An unknown errno name gives EIO, so a misspelt fault still fails rather than vanishing.
 *
 * A crash: MAILRECON_CRASH_AT=N makes the Nth call of mr_crash_point() end the process at
 * once with _exit(99), as a power loss between two steps would: no cleanup, no atexit.
 * Code calls mr_crash_point() between every two steps that leave something on disk.
 *
 * Both variables are read once, at the first call; without them the seams cost a branch.
 */
#ifndef MR_UTIL_FAULTS_H
#define MR_UTIL_FAULTS_H

/* 0, or -1 with errno set when MAILRECON_FAULT names this point (and this call). */
int mr_fault_check(const char *point);

/* Counts the call; the Nth call exits with 99 when MAILRECON_CRASH_AT=N. */
void mr_crash_point(void);

/* How many times mr_crash_point() was called since the start (or the last reset). */
unsigned mr_crash_points_passed(void);

/*
 * A test seam for races: when the environment variable `name` is set (e.g.
 * MAILRECON_TEST_BEFORE_SWITCH), run its value with /bin/sh -c and wait for it, so a test
 * can act at that exact point (edit a live file just before apply switches them).
 */
void mr_test_hook(const char *name);

/* For tests: forget the cached variables and the counters; the next call reads them again. */
void mr_faults_reset(void);

#endif
