/*
 * reload: the services whose inputs changed, once the files are switched (design section
 * 4): postgrey and spamd get a HUP, Dovecot a reload when a certificate or its SNI include
 * changed; Exim re-reads its lookup files by itself.  Each command can be replaced by the
 * operator (MAILRECON_RELOAD_*), and a sandbox --root reloads nothing unless told how.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply/steps.h"

struct reload {
	const char *service, *env, *deflt;
	bool wanted;
};

int reloads(struct actx *a, struct stage *s)
{
	/* postgrey re-reads its whitelists on SIGHUP, and its units (Debian's, EPEL's) have no
	 * ExecReload; spamd's unit is spamd on Debian 12 and spamassassin on RHEL */
	bool rhel = a->lv.layout == MR_LAYOUT_RHEL;
	struct reload r[] = {
		{ "postgrey", "MAILRECON_RELOAD_POSTGREY", "systemctl kill --signal=HUP --kill-who=main postgrey",
		  s->reload_postgrey },
		{ "spamd", "MAILRECON_RELOAD_SPAMD", rhel ? "systemctl reload spamassassin" : "systemctl reload spamd",
		  s->reload_spamd },
		{ "dovecot", "MAILRECON_RELOAD_DOVECOT", "doveadm reload", s->reload_dovecot },
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		if (!r[i].wanted)
			continue;
		const char *cmd = getenv(r[i].env);
		if (a->o->no_reload) {
			say(a, "reload of %s skipped (--no-reload)\n", r[i].service);
			continue;
		}
		if (!cmd || !*cmd) {
			if (!mr_root_is_slash(a->root)) {
				say(a, "reload of %s skipped: --root is not / (set %s to reload a sandbox)\n", r[i].service, r[i].env);
				continue;
			}
			cmd = r[i].deflt;
		}
		char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
		struct mr_buf out = MR_BUF_INIT;
		int x = run_cmd(argv, &out);
		if (x != 0) {
			fprintf(stderr, "mailrecon: reload of %s failed: '%s' exited %d: %s\n", r[i].service, cmd, x,
				out.ptr ? out.ptr : "");
			rc = -1;
		} else {
			say(a, "reloaded %s: %s\n", r[i].service, cmd);
		}
		mr_buf_release(&out);
	}
	return rc;
}
