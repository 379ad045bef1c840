/*
 * benchrun [-n RUNS] [-w WARMUP] -- CMD ARGS...: run a command WARMUP times untimed, then RUNS
 * times timed, and print one line:
 *
 *   median_s=0.123456 min_s=0.120001 max_s=0.130002 maxrss_mib=12.3 runs=7 exit=0
 *
 * Each run is fork + execvp with stdin, stdout and stderr on /dev/null. The wall clock is
 * CLOCK_MONOTONIC around fork..wait4; maxrss_mib is the largest ru_maxrss (KiB) that wait4()
 * reports for the timed runs. benchrun stops at the first run that does not exit 0, still
 * prints the line for the runs done (exit= then holds its status, 128+N for signal N) and exits 1.
 * Exit 64 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 100000

static void usage(void)
{
	fputs("usage: benchrun [-n RUNS] [-w WARMUP] -- CMD ARGS...\n"
	      "  RUNS timed runs (default 7) after WARMUP untimed ones (default 1); prints\n"
	      "  median_s= min_s= max_s= maxrss_mib= runs= exit=\n",
	      stderr);
	exit(64);
}

static int parse_int(const char *s, const char *opt, int min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > MAX_RUNS) {
		fprintf(stderr, "benchrun: %s must be an integer from %d to %d, not '%s'\n", opt, min, MAX_RUNS, s);
		exit(64);
	}
	return (int)v;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Run argv once; store the wall time and ru_maxrss (KiB). Returns the exit status, 128+N
 * when killed by signal N, or 127 when the command could not be started.
 */
static int run_once(char **argv, int devnull, double *secs, long *maxrss_kib)
{
	fflush(NULL);
	double t0 = now();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "benchrun: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		/* keep a way to report an exec failure once stderr is /dev/null */
		int err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
		if (dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
		    dup2(devnull, STDERR_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		if (err >= 0)
			dprintf(err, "benchrun: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "benchrun: wait4: %s\n", strerror(errno));
			exit(1);
		}
	}
	*secs = now() - t0;
	*maxrss_kib = ru.ru_maxrss;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int runs = 7, warmup = 1, opt;
	while ((opt = getopt(argc, argv, "+n:w:h")) != -1) {
		switch (opt) {
		case 'n':
			runs = parse_int(optarg, "-n", 1);
			break;
		case 'w':
			warmup = parse_int(optarg, "-w", 0);
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	char **cmd = argv + optind;

	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		fprintf(stderr, "benchrun: /dev/null: %s\n", strerror(errno));
		return 1;
	}
	double *times = calloc((size_t)runs, sizeof(*times));
	if (!times) {
		fputs("benchrun: out of memory\n", stderr);
		return 1;
	}

	int rc = 0, done = 0;
	long peak = 0;
	for (int i = 0; i < warmup + runs && rc == 0; i++) {
		double secs;
		long rss;
		rc = run_once(cmd, devnull, &secs, &rss);
		if (rc != 0) {
			fprintf(stderr, "benchrun: %s run %d of %s exited with status %d%s\n",
				i < warmup ? "warmup" : "timed", i < warmup ? i + 1 : i - warmup + 1, cmd[0], rc,
				rc > 128 && rc < 128 + NSIG ? " (killed by a signal)" : "");
		}
		if (i >= warmup) {
			times[done++] = secs;
			if (rss > peak)
				peak = rss;
		}
	}

	double median = 0, min = 0, max = 0;
	if (done > 0) {
		qsort(times, (size_t)done, sizeof(*times), cmp_double);
		median = done % 2 ? times[done / 2] : (times[done / 2 - 1] + times[done / 2]) / 2;
		min = times[0];
		max = times[done - 1];
	}
	printf("median_s=%.6f min_s=%.6f max_s=%.6f maxrss_mib=%.1f runs=%d exit=%d\n", median, min, max,
	       (double)peak / 1024.0, done, rc);
	free(times);
	close(devnull);
	return rc == 0 ? 0 : 1;
}
