/*
 * accounts: the commands apply runs -- useradd for `account: create` users, before the
 * second plan -- and how every child is started: with a scrubbed environment, so that a
 * password given as {env: NAME} (or anything else of the caller's) never reaches a check,
 * a reload or useradd.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply/steps.h"
#include "util/xalloc.h"

/* The variables a child may see: where programs are, the locale and time zone. */
static const char *const kept_vars[] = { "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", NULL };

static char **child_env(void)
{
	size_t n = 0;
	char **env = xcalloc(sizeof(kept_vars) / sizeof(kept_vars[0]) + 1, sizeof(*env));
	for (const char *const *v = kept_vars; *v; v++) {
		const char *val = getenv(*v);
		if (!val && strcmp(*v, "PATH") == 0)
			val = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
		if (!val)
			continue;
		size_t len = strlen(*v) + 1 + strlen(val) + 1;
		env[n] = xmalloc(len);
		snprintf(env[n], len, "%s=%s", *v, val);
		n++;
	}
	return env;
}

static void env_free(char **env)
{
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	free(env);
}

int run_cmd(char *const argv[], struct mr_buf *output)
{
	int pipefd[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (output && pipe(pipefd) == 0) {
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
		posix_spawn_file_actions_addclose(&fa, pipefd[0]);
	}
	pid_t pid;
	char **env = child_env();
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
	env_free(env);
	posix_spawn_file_actions_destroy(&fa);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (rc != 0) {
		if (pipefd[0] >= 0)
			close(pipefd[0]);
		if (output)
			mr_buf_addf(output, "cannot run %s: %s", argv[0], strerror(rc));
		return -1;
	}
	if (pipefd[0] >= 0) {
		char buf[4096];
		ssize_t n;
		while ((n = read(pipefd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
			if (n > 0 && output->len < 65536)
				mr_buf_add(output, buf, (size_t)n);
		close(pipefd[0]);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int create_accounts(struct actx *a, const struct mr_plan *p)
{
	int made = 0;
	for (size_t i = 0; i < a->m.nusers; i++) {
		const struct mr_user *u = a->m.users[i];
		if (u->account != MR_ACCOUNT_CREATE || mr_sysaccount_get(&a->acc, u->name))
			continue;
		if (!mr_plan_user_planned(p, u->name))
			continue; /* --target: a user left out gets no account either */
		struct mr_buf home = MR_BUF_INIT, out = MR_BUF_INIT;
		mr_buf_addf(&home, "/var/www/%s", u->name);
		char *argv[12];
		int n = 0;
		argv[n++] = "useradd";
		if (!mr_root_is_slash(a->root)) {
			argv[n++] = "--prefix";
			argv[n++] = (char *)mr_root_dir(a->root);
		}
		argv[n++] = "-d";
		argv[n++] = home.ptr;
		argv[n++] = "-m";
		argv[n++] = "-s";
		argv[n++] = "/usr/sbin/nologin";
		argv[n++] = (char *)u->name;
		argv[n] = NULL;
		int rc = run_cmd(argv, &out);
		if (rc != 0) {
			fprintf(stderr, "mailrecon: useradd %s failed (exit %d): %s\n", u->name, rc, out.ptr ? out.ptr : "");
			mr_buf_release(&home);
			mr_buf_release(&out);
			return -1;
		}
		say(a, "created the system account %s (home %s)\n", u->name, home.ptr);
		mr_buf_release(&home);
		mr_buf_release(&out);
		made++;
	}
	return made;
}
