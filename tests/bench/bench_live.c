/*
 * bench_live ROOT: read every live file below ROOT into the live model once, the work that
 * plan, drift and import start with, and exit.  Timed from outside by benchrun.  Exits 1 when
 * the tree cannot be read or gives any finding (the generated trees are consistent, so a
 * finding means the generator and the codecs disagree), printing the counts otherwise.
 */
#include <stdio.h>

#include "codec/live.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: bench_live ROOT\n", stderr);
		return 64;
	}
	struct mr_live lv;
	struct mr_diags errors = MR_DIAGS_INIT;
	struct mr_root *root;
	struct mr_buf err = MR_BUF_INIT;
	if (mr_root_open(&root, argv[1], &err) < 0) {
		fprintf(stderr, "bench_live: %s\n", err.ptr);
		return 1;
	}
	int rc = mr_live_load(&lv, &(struct mr_live_opts){ .root = root, .layout = MR_LAYOUT_AUTO }, &errors);
	mr_diags_print(&errors, stderr);
	mr_diags_print(&lv.findings, stderr);
	int status = rc < 0 || lv.findings.n > 0 ? 1 : 0;
	printf("%zu users, %zu domains, %zu mailboxes, %zu findings\n", lv.model.nusers, lv.model.ndomains,
	       mr_model_count_mailboxes(&lv.model), lv.findings.n);
	mr_diags_release(&errors);
	mr_live_release(&lv);
	mr_root_close(&root);
	return status;
}
