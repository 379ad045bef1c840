/*
 * mailrecon usage [--scope USER] [--json] [--max-entries N]
 *
 * Read-only: each live mailbox's used bytes against its max_size (the panel's mailbox list
 * shows the same).  The use is the size of the regular files of the mailbox's Maildir, read
 * through the confinement layer (util/rootfs.h mr_root_tree_usage) at the one place a home
 * can be, /var/www/OWNER/data/email/DOMAIN/LOCAL (OWNER the domain's live owner; never the
 * home field of dovecot.passwd, which is data).  The home is the tenant's (design section
 * 7): a link is never followed, a hard-linked file is counted once, a FIFO is never opened,
 * and the walk stops after --max-entries names (and 32 levels), which the report says.
 * Dovecot's own count (doveadm quota get) is not asked: it needs the running server and its
 * quota plugin, and reads the same Maildir.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "codec/live.h"
#include "load/emit.h"
#include "model/names.h"
#include "plan/plan.h" /* mr_json_string */
#include "util/buf.h"
#include "util/rootfs.h"
#include "util/strutil.h"
#include "util/xalloc.h"

#define USAGE_MAX_ENTRIES_DEFAULT 1000000
#define USAGE_MAX_DEPTH 32

struct usage_state {
	const char *scope;
	bool json;
	size_t max_entries;
};

enum { OPT_SCOPE = 7100, OPT_JSON, OPT_MAX_ENTRIES };

static const struct mr_opt options[] = {
	{ "scope", OPT_SCOPE, required_argument, "USER", 0, "only USER's mailboxes (a reseller: also its users')" },
	{ "json", OPT_JSON, no_argument, NULL, 0, "print the report as JSON (schema/usage.schema.json)" },
	{ "max-entries", OPT_MAX_ENTRIES, required_argument, "N", 0,
	  "look at no more than N names in one mailbox's home (default 1000000); past it the use is marked partial" },
	{ NULL, 0, 0, NULL, 0, NULL },
};

static int option(void *state, int opt, const char *arg)
{
	struct usage_state *s = state;
	uint64_t n;
	switch (opt) {
	case OPT_SCOPE:
		if (mr_check_user_name(arg)) {
			mr_cli_error("usage: --scope '%s' is not a user name", arg);
			return MR_EXIT_USAGE;
		}
		s->scope = arg;
		return 0;
	case OPT_JSON:
		s->json = true;
		return 0;
	case OPT_MAX_ENTRIES:
		if (!mr_parse_u64(arg, strlen(arg), 1000000000, &n) || n == 0) {
			mr_cli_error("usage: --max-entries=%s: expected a number from 1", arg);
			return MR_EXIT_USAGE;
		}
		s->max_entries = (size_t)n;
		return 0;
	}
	return MR_EXIT_USAGE;
}

/* One mailbox's line of the report. */
struct row {
	const struct mr_mailbox *mb;
	const char *owner;
	char home[512]; /* "" when there is no place for one (owner unknown or not a name) */
	int rc;         /* mr_root_tree_usage's, or 1: no home to look at */
	struct mr_tree_usage u;
};

/* "1.5 MiB": a size for people, one decimal. */
static void human(uint64_t b, struct mr_buf *out)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	int i = 0;
	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		mr_buf_addf(out, "%" PRIu64 " B", b);
	else
		mr_buf_addf(out, "%.1f %s", v, unit[i]);
}

/* Why a row has no number, or what it left out; NULL when nothing to say. */
static const char *note(const struct row *r, struct mr_buf *b)
{
	mr_buf_reset(b);
	if (r->rc == 1)
		return "no home: the domain's owner is not known";
	if (r->rc == -ENOENT)
		return "no home yet";
	if (r->rc == -ELOOP)
		return "not counted: a symbolic link on the way to the home or at it";
	if (r->rc == -ENOTDIR)
		return "not counted: the home is not a directory";
	if (r->rc < 0) {
		mr_buf_addf(b, "not counted: %s", strerror(-r->rc));
		return b->ptr;
	}
	const char *sep = "";
	if (!r->u.complete) {
		mr_buf_addf(b, "partial: the walk stopped after %zu names (--max-entries) or %d levels", r->u.entries,
			    USAGE_MAX_DEPTH);
		sep = "; ";
	}
	if (r->u.links || r->u.other || r->u.hardlinked || r->u.unreadable) {
		mr_buf_addf(b, "%snot counted:", sep);
		const char *c = " ";
		if (r->u.links)
			mr_buf_addf(b, "%s%" PRIu64 " symbolic link%s", c, r->u.links, r->u.links == 1 ? "" : "s"), c = ", ";
		if (r->u.other)
			mr_buf_addf(b, "%s%" PRIu64 " FIFO, socket, device or mount point%s", c, r->u.other,
				    r->u.other == 1 ? "" : "s"),
				c = ", ";
		if (r->u.hardlinked)
			mr_buf_addf(b, "%s%" PRIu64 " more hard link%s of a file counted once", c, r->u.hardlinked,
				    r->u.hardlinked == 1 ? "" : "s"),
				c = ", ";
		if (r->u.unreadable)
			mr_buf_addf(b, "%s%" PRIu64 " director%s that could not be entered", c, r->u.unreadable,
				    r->u.unreadable == 1 ? "y" : "ies");
	}
	return b->len ? b->ptr : NULL;
}

static void percent(const struct row *r, struct mr_buf *out, bool json)
{
	if (r->rc != 0 || r->mb->max_size <= 0) {
		mr_buf_adds(out, json ? "null" : "-");
		return;
	}
	double p = (double)r->u.bytes * 100.0 / (double)r->mb->max_size;
	mr_buf_addf(out, json ? "%.1f" : "%.1f%%", p);
}

static void print_json(const struct usage_state *s, const struct row *rows, size_t n, struct mr_buf *out)
{
	struct mr_buf nb = MR_BUF_INIT;
	mr_buf_adds(out, "{\"format_version\":1,\"scope\":");
	mr_json_string(out, s->scope);
	mr_buf_addf(out, ",\"max_entries\":%zu,\"mailboxes\":[", s->max_entries);
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		mr_buf_adds(out, i ? ",\n {\"address\":" : "\n {\"address\":");
		mr_json_string(out, r->mb->address);
		mr_buf_adds(out, ",\"owner\":");
		mr_json_string(out, r->owner);
		mr_buf_adds(out, ",\"home\":");
		mr_json_string(out, r->home[0] ? r->home : NULL);
		if (r->rc == 0)
			mr_buf_addf(out, ",\"used_bytes\":%" PRIu64 ",\"files\":%" PRIu64 ",\"complete\":%s", r->u.bytes,
				    r->u.files, r->u.complete ? "true" : "false");
		else
			mr_buf_adds(out, ",\"used_bytes\":null,\"files\":null,\"complete\":false");
		if (r->mb->max_size > 0)
			mr_buf_addf(out, ",\"max_bytes\":%lld", (long long)r->mb->max_size);
		else
			mr_buf_adds(out, ",\"max_bytes\":null");
		mr_buf_adds(out, ",\"percent\":");
		percent(r, out, true);
		mr_buf_addf(out, ",\"not_counted\":{\"links\":%" PRIu64 ",\"other\":%" PRIu64 ",\"hard_links\":%" PRIu64
				 ",\"unreadable_dirs\":%" PRIu64 "},\"note\":",
			    r->u.links, r->u.other, r->u.hardlinked, r->u.unreadable);
		mr_json_string(out, note(r, &nb));
		mr_buf_addc(out, '}');
	}
	mr_buf_adds(out, "\n]}\n");
	mr_buf_release(&nb);
}

static void print_text(const struct row *rows, size_t n, struct mr_buf *out)
{
	struct mr_buf a = MR_BUF_INIT, nb = MR_BUF_INIT;
	size_t w = 7;
	for (size_t i = 0; i < n; i++)
		if (strlen(rows[i].mb->address) > w)
			w = strlen(rows[i].mb->address);
	mr_buf_addf(out, "%-*s %15s %11s %11s %7s\n", (int)w, "MAILBOX", "USED (BYTES)", "USED", "MAX", "USE");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		mr_buf_reset(&a);
		mr_buf_adds_printable(&a, r->mb->address);
		mr_buf_addf(out, "%-*s ", (int)w, a.ptr);
		if (r->rc == 0) {
			mr_buf_reset(&a);
			human(r->u.bytes, &a);
			mr_buf_addf(out, "%15" PRIu64 " %11s", r->u.bytes, a.ptr);
		} else {
			mr_buf_addf(out, "%15s %11s", "-", "-");
		}
		mr_buf_reset(&a);
		if (r->mb->max_size > 0)
			human((uint64_t)r->mb->max_size, &a);
		else
			mr_buf_adds(&a, "unlimited");
		mr_buf_addf(out, " %11s ", a.ptr);
		mr_buf_reset(&a);
		percent(r, &a, false);
		mr_buf_addf(out, "%7s\n", a.ptr);
		const char *why = note(r, &nb);
		if (why) {
			mr_buf_adds(out, "  ");
			mr_buf_adds_printable(out, why);
			mr_buf_addc(out, '\n');
		}
	}
	mr_buf_release(&a);
	mr_buf_release(&nb);
}

static int run(void *state, const struct mr_globals *g, int argc, char **argv)
{
	struct usage_state *s = state;
	if (argc > 0) {
		mr_cli_error("usage: unexpected argument '%s'", argv[0]);
		return MR_EXIT_USAGE;
	}
	if (!s->max_entries)
		s->max_entries = USAGE_MAX_ENTRIES_DEFAULT;
	struct mr_live lv;
	struct mr_diags errors = MR_DIAGS_INIT;
	int rc = mr_live_load(&lv, &(struct mr_live_opts){ .root = g->rootfs, .layout = g->layout }, &errors);
	mr_diags_print(&errors, stderr);
	int code = MR_EXIT_OK;
	struct row *rows = NULL;
	if (rc < 0) {
		mr_cli_error("usage: the live files could not be read");
		code = MR_EXIT_ERROR;
		goto out;
	}
	const struct mr_model *m = &lv.model;
	if (s->scope && !mr_model_user(m, s->scope)) {
		mr_cli_error("usage: --scope '%s': no such user in the live state", s->scope);
		code = MR_EXIT_ERROR;
		goto out;
	}
	size_t n = 0, cap = mr_model_count_mailboxes(m);
	rows = xcalloc(cap ? cap : 1, sizeof(*rows));
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		if (s->scope && !mr_scope_covers_domain(m, s->scope, d))
			continue;
		for (size_t j = 0; j < d->nmailboxes && n < cap; j++) {
			struct row *r = &rows[n++];
			r->mb = d->mailboxes[j];
			r->owner = d->owner;
			r->rc = 1;
			/* the one place a home can be, made of names only (design section 7) */
			if (!d->owner || mr_check_user_name(d->owner) || mr_check_domain(d->name) ||
			    mr_check_mailbox_name(r->mb->name))
				continue;
			snprintf(r->home, sizeof(r->home), "/var/www/%s/data/email/%s/%s", d->owner, d->name, r->mb->name);
			r->rc = mr_root_tree_usage(g->rootfs, r->home, s->max_entries, USAGE_MAX_DEPTH, &r->u);
		}
	}
	struct mr_buf out = MR_BUF_INIT;
	if (s->json)
		print_json(s, rows, n, &out);
	else if (n == 0)
		mr_buf_adds(&out, "No mailboxes.\n");
	else
		print_text(rows, n, &out);
	if (fwrite(out.ptr, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
		code = MR_EXIT_ERROR;
	mr_buf_release(&out);
out:
	free(rows);
	mr_live_release(&lv);
	mr_diags_release(&errors);
	return code;
}

const struct mr_cmd mr_cmd_usage = {
	.name = "usage",
	.summary = "each mailbox's used bytes against its max_size (read-only)",
	.description = "Read-only: the size of each live mailbox's Maildir (its regular files, at\n"
		       "/var/www/OWNER/data/email/DOMAIN/LOCAL) against its max_size, with the percentage.\n"
		       "A home is the tenant's: a symbolic link is never followed, a hard-linked file is\n"
		       "counted once, a FIFO is never opened, and the walk stops after --max-entries\n"
		       "names, which the report says. Dovecot's own count is not asked.\n",
	.opts = options,
	.exits = "0   reported (a mailbox without a home, or only partly counted, says so)\n"
		 "1   error: the live files could not be read, --scope names no live user\n",
	.example = "mailrecon usage --scope alice\nmailrecon usage --json\n",
	.option = option,
	.run = run,
	.state_size = sizeof(struct usage_state),
};
