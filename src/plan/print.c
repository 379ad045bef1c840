/*
 * print: a plan as text, the way `terraform plan` shows one: "+" create, "~" update,
 * "-" delete, grouped by domain, a summary line; and as JSON (schema/plan.schema.json).
 * Neither ever holds a secret: the plan has none.
 */
#include <stdlib.h>
#include <string.h>

#include "load/desired.h"
#include "plan/plan.h"
#include "util/xalloc.h"
#include "util/strutil.h"

#define GREEN "\033[32m"
#define YELLOW "\033[33m"
#define RED "\033[31m"
#define BOLD "\033[1m"
#define RESET "\033[0m"

static const char *sign(enum mr_change_action a)
{
	return a == MR_CHANGE_CREATE ? "+" : a == MR_CHANGE_UPDATE ? "~" : "-";
}

static const char *colour(enum mr_change_action a)
{
	return a == MR_CHANGE_CREATE ? GREEN : a == MR_CHANGE_UPDATE ? YELLOW : RED;
}

/* Names, values and paths come from the desired state and the live files: each is added
 * with mr_buf_adds_printable, so no byte of theirs can act on a terminal. */
static void one_change(const struct mr_change *c, bool color, struct mr_buf *out)
{
	mr_buf_addf(out, "  %s%s%s %s", color ? colour(c->action) : "", sign(c->action), color ? RESET : "",
		    mr_object_name(c->object));
	if (c->object != MR_OBJ_SERVER) {
		mr_buf_addc(out, ' ');
		mr_buf_adds_printable(out, c->id);
	}
	if (c->moved_to) {
		mr_buf_adds(out, " (moved to host ");
		mr_buf_adds_printable(out, c->moved_to);
		mr_buf_addc(out, ')');
	}
	mr_buf_addc(out, '\n');
	for (size_t i = 0; i < c->nattrs; i++) {
		const struct mr_attr *a = &c->attrs[i];
		mr_buf_adds(out, "      ");
		mr_buf_adds_printable(out, a->name);
		mr_buf_adds(out, ": ");
		if (c->action == MR_CHANGE_UPDATE && a->old) {
			mr_buf_adds_printable(out, a->old);
			mr_buf_adds(out, " -> ");
			mr_buf_adds_printable(out, a->new);
		} else {
			mr_buf_adds_printable(out, a->new ? a->new : a->old);
		}
		mr_buf_addc(out, '\n');
	}
	if (c->action == MR_CHANGE_DELETE && c->object == MR_OBJ_MAILBOX && !c->storage)
		mr_buf_adds(out, "      storage: none is touched (the domain's owner is unknown)\n");
}

/* The homes section: what happens to mail on disk. */
static void homes(const struct mr_plan *p, bool color, struct mr_buf *out)
{
	if (!p->nhomes)
		return;
	mr_buf_adds(out, "\nMailbox storage:\n");
	for (size_t i = 0; i < p->nhomes; i++) {
		const struct mr_home_change *h = &p->homes[i];
		enum mr_change_action a = h->op == MR_HOME_MAKE || h->op == MR_HOME_RESTORE ? MR_CHANGE_CREATE
					  : h->op == MR_HOME_MOVE ? MR_CHANGE_UPDATE
								  : MR_CHANGE_DELETE;
		mr_buf_addf(out, "  %s%s%s %s ", color ? colour(a) : "", sign(a), color ? RESET : "", h->address);
		switch (h->op) {
		case MR_HOME_MAKE:
			mr_buf_addf(out, "home %s (made, %s's)\n", h->path, h->owner);
			break;
		case MR_HOME_MOVE:
			if (h->also_from)
				mr_buf_addf(out, "home %s (or %s, left behind before) -> %s (moved, given to %s)\n", h->from,
					    h->also_from, h->path, h->owner);
			else
				mr_buf_addf(out, "home %s -> %s (moved, given to %s)\n", h->from, h->path, h->owner);
			break;
		case MR_HOME_RESTORE:
			mr_buf_addf(out, "home %s (restored from the archive %s)\n", h->path, h->from);
			break;
		case MR_HOME_ARCHIVE:
			mr_buf_addf(out, "home %s -> %s (archived; removed only with --purge)\n", h->path, h->to);
			break;
		case MR_HOME_PURGE:
			mr_buf_addf(out, "home %s (purged: --purge)\n", h->path);
			break;
		}
	}
}

/* The "Mail flow" section: "~ ADDRESS: OLD -> NEW", then the warnings. */
static void mail_flow(const struct mr_plan *p, bool color, struct mr_buf *out)
{
	mr_buf_adds(out, "Mail flow:\n");
	struct mr_buf b = MR_BUF_INIT;
	for (size_t i = 0; i < p->nflows; i++) {
		const struct mr_flow *f = &p->flows[i];
		mr_buf_addf(out, "  %s~%s ", color ? colour(MR_CHANGE_UPDATE) : "", color ? RESET : "");
		mr_buf_adds_printable(out, f->address);
		mr_buf_adds(out, ": ");
		mr_buf_reset(&b);
		mr_route_format(&f->old, &b);
		mr_buf_adds_printable(out, b.ptr);
		mr_buf_adds(out, " -> ");
		mr_buf_reset(&b);
		mr_route_format(&f->new, &b);
		mr_buf_adds_printable(out, b.ptr);
		mr_buf_addc(out, '\n');
	}
	if (p->flow_warnings.n) {
		mr_buf_reset(&b);
		mr_diags_render(&p->flow_warnings, &b);
		for (const char *s = b.ptr, *e; s && *s; s = e + 1) {
			e = strchr(s, '\n');
			mr_buf_addf(out, "  %.*s\n", (int)(e - s), s);
		}
	}
	mr_buf_release(&b);
}

void mr_plan_print_text(const struct mr_plan *p, const struct mr_diags *findings, bool color, struct mr_buf *out)
{
	mr_plan_print_text_as(p, findings, color, MR_PLAN_WILL, out);
}

/* A targeted plan's last line: what it was targeted at and how many changes it left out. */
static void targeted_note(const struct mr_plan *p, struct mr_buf *out)
{
	if (!p->targeted)
		return;
	mr_buf_adds(out, "\nTargeted (");
	for (size_t i = 0; i < p->ntargets; i++) {
		mr_buf_addf(out, "%s--target ", i ? ", " : "");
		mr_buf_adds_printable(out, p->targets[i].name);
		mr_buf_addf(out, " (%s)", mr_object_name(p->targets[i].object));
	}
	mr_buf_addf(out, "): only these objects and what they need were planned; %zu other change%s of the desired "
			 "state %s left out (a plan without --target shows %s).\n",
		    p->left_out, p->left_out == 1 ? "" : "s", p->left_out == 1 ? "was" : "were",
		    p->left_out == 1 ? "it" : "them");
}

void mr_plan_print_text_as(const struct mr_plan *p, const struct mr_diags *findings, bool color, const char *heading,
			   struct mr_buf *out)
{
	if (p->findings_scoped)
		findings = &p->findings;
	if (findings && findings->n) {
		mr_buf_adds(out, "Findings in the live files:\n");
		struct mr_buf f = MR_BUF_INIT;
		mr_diags_render(findings, &f);
		for (const char *s = f.ptr, *e; s && *s; s = e + 1) {
			e = strchr(s, '\n');
			mr_buf_addf(out, "  %.*s\n", (int)(e - s), s);
		}
		mr_buf_release(&f);
		mr_buf_addc(out, '\n');
	}
	if (p->nchanges == 0 && p->nfiles == 0 && p->nhomes == 0) {
		mr_buf_addf(out, "%sNo changes.%s The live server matches the desired state%s%s.\n", color ? BOLD : "",
			    color ? RESET : "", p->scope ? " in this scope" : "", p->targeted ? " for the targets" : "");
		if (p->flow_warnings.n) {
			mr_buf_adds(out, "\n");
			mail_flow(p, color, out);
		}
		targeted_note(p, out);
		return;
	}
	if (p->nchanges) {
		mr_buf_addf(out, "%s\n", heading);
		const char *group = "";
		for (size_t i = 0; i < p->nchanges; i++) {
			const struct mr_change *c = &p->changes[i];
			const char *g = c->domain ? c->domain : "";
			if (strcmp(g, group) != 0 || i == 0) {
				mr_buf_addc(out, '\n');
				if (*g) {
					mr_buf_adds(out, "  # ");
					mr_buf_adds_printable(out, g);
					mr_buf_addc(out, '\n');
				}
				group = g;
			}
			one_change(c, color, out);
		}
	}
	homes(p, color, out);
	if (p->nflows || p->flow_warnings.n) {
		mr_buf_adds(out, p->nchanges || p->nhomes ? "\n" : "");
		mail_flow(p, color, out);
	}
	if (p->nfiles) {
		mr_buf_adds(out, p->nchanges ? "\nFiles:\n" : "Files:\n");
		for (size_t i = 0; i < p->nfiles; i++) {
			const struct mr_file_change *f = &p->files[i];
			enum mr_change_action a = f->create ? MR_CHANGE_CREATE : f->remove ? MR_CHANGE_DELETE : MR_CHANGE_UPDATE;
			mr_buf_addf(out, "  %s%s%s ", color ? colour(a) : "", sign(a), color ? RESET : "");
			mr_buf_adds_printable(out, f->path);
			if (f->file_id >= 0)
				mr_buf_addf(out, ": %zu line%s added, %zu changed, %zu removed", f->added, f->added == 1 ? "" : "s",
					    f->changed, f->removed);
			if (f->at_apply && !f->remove)
				mr_buf_adds(out, f->file_id >= 0 ? " (hashes or ids made at apply)" : " (made at apply)");
			if (f->file_id == MR_FILE_ID_CONFIG)
				mr_buf_adds(out, f->conf_id == MR_CONF_EXIM_SNI ? " (Exim's certificates by server name)"
									: " (Dovecot's certificates by server name)");
			if (f->blocked)
				mr_buf_adds(out, " (BLOCKED: it has lines mailrecon cannot read)");
			mr_buf_addc(out, '\n');
		}
	}
	if (p->nchanges == 0 && p->nfiles == 0)
		mr_buf_adds(out, "\nNo object changes; the mailbox homes above are made again (an earlier apply had to leave them).\n");
	else if (p->nchanges == 0)
		mr_buf_adds(out, "\nNo object changes; the files above are rewritten to match the desired state.\n");
	mr_buf_addc(out, '\n');
	mr_plan_print_summary(p, color, out);
	targeted_note(p, out);
}

void mr_plan_print_summary(const struct mr_plan *p, bool color, struct mr_buf *out)
{
	mr_buf_addf(out, "%sPlan:%s %zu to add, %zu to change, %zu to destroy.\n", color ? BOLD : "", color ? RESET : "",
		    p->add, p->change, p->destroy);
}

/* ---- the subject of a revision ---- */

/* A value short and plain enough for a subject line: one printable word, not a secret's
 * placeholder. */
static bool subject_word(const char *v)
{
	size_t n = v ? strlen(v) : 0;
	if (n == 0 || n > 32 || v[0] == '(')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f || v[i] == ',' || v[i] == ';')
			return false;
	return true;
}

/* What one update changes: "+alias sales, -alias contact, max_size=2G, password". */
static void subject_attrs(const struct mr_change *c, struct mr_buf *out)
{
	for (size_t i = 0; i < c->nattrs; i++) {
		const struct mr_attr *a = &c->attrs[i];
		const char *item = strcmp(a->name, "aliases") == 0 ? "alias" : strcmp(a->name, "copy_to") == 0 ? "copy" : NULL;
		if (i)
			mr_buf_adds(out, ", ");
		if (item && !a->old && a->new) {
			/* a list's delta, "+ x, - y" (diff.c): its items are names, printed one by one */
			bool first = true;
			for (const char *p = a->new; *p;) {
				size_t n = strcspn(p, ",");
				if (n > 2 && (p[0] == '+' || p[0] == '-') && p[1] == ' ') {
					mr_buf_addf(out, "%s%c%s ", first ? "" : ", ", p[0], item);
					mr_buf_add_printable(out, p + 2, n - 2, 0);
					first = false;
				}
				p += n;
				while (*p == ',' || *p == ' ')
					p++;
			}
			continue;
		}
		mr_buf_adds_printable(out, a->name);
		if (strcmp(a->name, "password") != 0 && subject_word(a->new)) {
			mr_buf_addc(out, '=');
			mr_buf_adds(out, a->new);
		}
	}
}

void mr_plan_subject(const struct mr_plan *p, struct mr_buf *out)
{
	size_t start = out->len;
	if (p->nchanges == 0) {
		mr_buf_addf(out, "Plan: %zu to add, %zu to change, %zu to destroy.", p->add, p->change, p->destroy);
		return;
	}
	if (p->nchanges == 1) {
		const struct mr_change *c = &p->changes[0];
		mr_buf_adds(out, mr_object_name(c->object));
		if (c->object != MR_OBJ_SERVER) {
			mr_buf_addc(out, ' ');
			mr_buf_adds_printable(out, c->id);
		}
		if (c->action == MR_CHANGE_UPDATE) {
			mr_buf_adds(out, ": ");
			subject_attrs(c, out);
		} else {
			mr_buf_adds(out, c->action == MR_CHANGE_CREATE ? " created" : " deleted");
		}
		if (out->len - start > MR_PLAN_SUBJECT_MAX) {
			/* cut at a character boundary (printable ASCII here) and say so */
			out->len = start + MR_PLAN_SUBJECT_MAX - 3;
			out->ptr[out->len] = '\0';
			mr_buf_adds(out, "...");
		}
		return;
	}
	/* room kept at the end for ", and NNNNNN more" */
	const size_t room = MR_PLAN_SUBJECT_MAX - 18;
	struct mr_buf one = MR_BUF_INIT;
	size_t i = 0;
	for (; i < p->nchanges; i++) {
		const struct mr_change *c = &p->changes[i];
		mr_buf_reset(&one);
		mr_buf_addf(&one, "%s%s%s", i ? ", " : "", sign(c->action), mr_object_name(c->object));
		if (c->object != MR_OBJ_SERVER) {
			mr_buf_addc(&one, ' ');
			mr_buf_adds_printable(&one, c->id);
		}
		if (out->len - start + one.len > room)
			break;
		mr_buf_add(out, one.ptr, one.len);
	}
	if (i == 0) /* the first name alone is too long: cut it */
		mr_buf_addf(out, "%.*s...", (int)(room - 3), one.ptr);
	if (i < p->nchanges)
		mr_buf_addf(out, ", and %zu more", p->nchanges - (i ? i : 1));
	mr_buf_release(&one);
}

static void plural(struct mr_buf *b, bool *first, size_t n, const char *one, const char *many)
{
	if (!n)
		return;
	mr_buf_addf(b, "%s%zu %s", *first ? "" : ", ", n, n == 1 ? one : many);
	*first = false;
}

size_t mr_plan_refusals(const struct mr_plan *p, long allow_delete, struct mr_buf *text, struct mr_buf *json)
{
	size_t n = 0, dels = p->del_users + p->del_domains + p->del_mailboxes;
	if (json)
		mr_buf_addc(json, '[');
	if (allow_delete >= 0 && dels > (size_t)allow_delete) {
		struct mr_buf what = MR_BUF_INIT;
		bool first = true;
		plural(&what, &first, p->del_users, "user", "users");
		plural(&what, &first, p->del_domains, "domain", "domains");
		plural(&what, &first, p->del_mailboxes, "mailbox", "mailboxes");
		struct mr_buf msg = MR_BUF_INIT;
		mr_buf_addf(&msg, "%zu deletion%s (%s), --allow-delete=%ld", dels, dels == 1 ? "" : "s", what.ptr, allow_delete);
		if (text)
			mr_buf_addf(text, "apply will refuse: %s\n", msg.ptr);
		if (json) {
			mr_buf_addf(json, "{\"rule\":\"allow-delete\",\"message\":");
			mr_json_string(json, msg.ptr);
			mr_buf_addf(json, ",\"deletions\":%zu,\"allowed\":%ld}", dels, allow_delete);
		}
		mr_buf_release(&what);
		mr_buf_release(&msg);
		n++;
	}
	for (size_t i = 0; i < p->nfiles; i++) {
		const struct mr_file_change *f = &p->files[i];
		if (!f->blocked)
			continue;
		struct mr_buf msg = MR_BUF_INIT;
		mr_buf_adds_printable(&msg, f->path);
		mr_buf_adds(&msg, " is BLOCKED: it has lines mailrecon cannot read");
		if (text)
			mr_buf_addf(text, "apply will refuse: %s\n", msg.ptr);
		if (json) {
			mr_buf_adds(json, n ? ",{\"rule\":\"blocked\",\"message\":" : "{\"rule\":\"blocked\",\"message\":");
			mr_json_string(json, msg.ptr);
			mr_buf_adds(json, ",\"file\":");
			mr_json_string(json, f->path);
			mr_buf_addc(json, '}');
		}
		mr_buf_release(&msg);
		n++;
	}
	if (json)
		mr_buf_addc(json, ']');
	return n;
}

void mr_json_string(struct mr_buf *out, const char *s)
{
	if (!s) {
		mr_buf_adds(out, "null");
		return;
	}
	mr_buf_addc(out, '"');
	const unsigned char *end = (const unsigned char *)s + strlen(s);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			mr_buf_adds(out, "\\\"");
			break;
		case '\\':
			mr_buf_adds(out, "\\\\");
			break;
		case '\n':
			mr_buf_adds(out, "\\n");
			break;
		case '\t':
			mr_buf_adds(out, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				mr_buf_addf(out, "\\u%04x", *p);
			} else if (*p >= 0x80) {
				/* JSON is UTF-8: a byte of no character (a file name, a commit subject) is U+FFFD */
				uint32_t c;
				size_t k = mr_utf8_seq(p, (size_t)(end - p), &c);
				if (k) {
					mr_buf_add(out, p, k);
					p += k - 1;
				} else {
					mr_buf_adds(out, "\\ufffd");
				}
			} else {
				mr_buf_addc(out, (char)*p);
			}
		}
	}
	mr_buf_addc(out, '"');
}

static const char *sev_name(enum mr_severity s)
{
	return s == MR_SEV_ERROR ? "error" : s == MR_SEV_WARNING ? "warning" : "note";
}

static void print_json(const struct mr_plan *p, const struct mr_diags *findings, const struct mr_buf *refusals,
		       struct mr_buf *out);

void mr_plan_print_json(const struct mr_plan *p, const struct mr_diags *findings, struct mr_buf *out)
{
	print_json(p, findings, NULL, out);
}

void mr_plan_print_json_refusals(const struct mr_plan *p, const struct mr_diags *findings, long allow_delete,
				 struct mr_buf *out)
{
	struct mr_buf r = MR_BUF_INIT;
	mr_plan_refusals(p, allow_delete, NULL, &r);
	print_json(p, findings, &r, out);
	mr_buf_release(&r);
}

/* The items of a list attribute's display text, "[a, b]" (diff.c list_s) or "+ a, - b"
 * (list_delta), into added and removed JSON arrays: want '+' or '-' picks the items of the
 * delta form, 0 every item of the bracketed form. */
static void json_items(const char *text, char want, struct mr_buf *out)
{
	mr_buf_addc(out, '[');
	bool first = true;
	if (text && want == 0 && text[0] == '[') {
		const char *p = text + 1, *end = text + strlen(text);
		if (end > p && end[-1] == ']')
			end--;
		while (p < end) {
			size_t n = 0;
			while (p + n < end && !(p[n] == ',' && p[n + 1] == ' '))
				n++;
			if (n) {
				char *item = xstrndup(p, n);
				mr_buf_adds(out, first ? "" : ",");
				mr_json_string(out, item);
				free(item);
				first = false;
			}
			p += n + (p + n < end ? 2 : 0);
		}
	} else if (text && want) {
		for (const char *p = text; *p;) {
			size_t n = 0;
			while (p[n] && !(p[n] == ',' && p[n + 1] == ' '))
				n++;
			if (n > 2 && p[0] == want && p[1] == ' ') {
				char *item = xstrndup(p + 2, n - 2);
				mr_buf_adds(out, first ? "" : ",");
				mr_json_string(out, item);
				free(item);
				first = false;
			}
			p += n + (p[n] ? 2 : 0);
		}
	}
	mr_buf_addc(out, ']');
}

/* A size's display text ("2G", "1536", "unlimited") as bytes, or "null". */
static void json_bytes(const char *text, struct mr_buf *out)
{
	int64_t n;
	if (text && strcmp(text, "unlimited") != 0 && mr_parse_size(text, &n) && n > 0)
		mr_buf_addf(out, "%lld", (long long)n);
	else
		mr_buf_adds(out, "null");
}

/*
 * What a program needs besides the display text (docs/plan.md): a list attribute's
 * "added" and "removed" items, and a size's "old_bytes" and "new_bytes" (null: absent or
 * unlimited).
 */
static void json_attr_values(const struct mr_change *c, const struct mr_attr *a, struct mr_buf *out)
{
	if (strcmp(a->name, "aliases") == 0 || strcmp(a->name, "copy_to") == 0) {
		bool delta = c->action == MR_CHANGE_UPDATE;
		mr_buf_adds(out, ",\"added\":");
		json_items(delta ? a->new : c->action == MR_CHANGE_CREATE ? a->new : NULL, delta ? '+' : 0, out);
		mr_buf_adds(out, ",\"removed\":");
		json_items(delta ? a->new : c->action == MR_CHANGE_DELETE ? a->old : NULL, delta ? '-' : 0, out);
	} else if (strcmp(a->name, "max_size") == 0) {
		mr_buf_adds(out, ",\"old_bytes\":");
		json_bytes(a->old, out);
		mr_buf_adds(out, ",\"new_bytes\":");
		json_bytes(a->new, out);
	}
}

static void print_json(const struct mr_plan *p, const struct mr_diags *findings, const struct mr_buf *refusals,
		       struct mr_buf *out)
{
	if (p->findings_scoped)
		findings = &p->findings;
	mr_buf_addf(out, "{\"format_version\":%d,\"mailrecon_version\":", MR_PLAN_FORMAT_VERSION);
	mr_json_string(out, MAILRECON_VERSION);
	mr_buf_adds(out, ",\"scope\":");
	mr_json_string(out, p->scope);
	mr_buf_adds(out, ",\"targeted\":");
	if (!p->targeted) {
		mr_buf_adds(out, "null");
	} else {
		mr_buf_adds(out, "{\"targets\":[");
		for (size_t i = 0; i < p->ntargets; i++) {
			mr_buf_adds(out, i ? ",{\"object\":" : "{\"object\":");
			mr_json_string(out, mr_object_name(p->targets[i].object));
			mr_buf_adds(out, ",\"name\":");
			mr_json_string(out, p->targets[i].name);
			mr_buf_addc(out, '}');
		}
		mr_buf_addf(out, "],\"left_out\":%zu}", p->left_out);
	}
	mr_buf_addf(out, ",\"summary\":{\"add\":%zu,\"change\":%zu,\"destroy\":%zu,\"changes\":%s}", p->add, p->change,
		    p->destroy, p->nchanges || p->nfiles || p->nhomes ? "true" : "false");
	mr_buf_adds(out, ",\"findings\":[");
	for (size_t i = 0; findings && i < findings->n; i++) {
		const struct mr_diag *d = &findings->v[i];
		mr_buf_adds(out, i ? ",{\"file\":" : "{\"file\":");
		mr_json_string(out, mr_loc_file(d->loc));
		mr_buf_addf(out, ",\"line\":%u,\"column\":%u,\"severity\":\"%s\",\"message\":", (unsigned)d->loc.line,
			    (unsigned)d->loc.col, sev_name(d->sev));
		mr_json_string(out, d->msg);
		mr_buf_addc(out, '}');
	}
	mr_buf_adds(out, "],\"changes\":[");
	for (size_t i = 0; i < p->nchanges; i++) {
		const struct mr_change *c = &p->changes[i];
		mr_buf_addf(out, "%s{\"action\":\"%s\",\"object\":\"%s\",\"id\":", i ? "," : "", mr_change_action_name(c->action),
			    mr_object_name(c->object));
		mr_json_string(out, c->id);
		mr_buf_adds(out, ",\"domain\":");
		mr_json_string(out, c->domain);
		mr_buf_adds(out, ",\"attributes\":[");
		for (size_t j = 0; j < c->nattrs; j++) {
			mr_buf_adds(out, j ? ",{\"name\":" : "{\"name\":");
			mr_json_string(out, c->attrs[j].name);
			mr_buf_adds(out, ",\"old\":");
			mr_json_string(out, c->attrs[j].old);
			mr_buf_adds(out, ",\"new\":");
			mr_json_string(out, c->attrs[j].new);
			json_attr_values(c, &c->attrs[j], out);
			mr_buf_addc(out, '}');
		}
		mr_buf_addc(out, ']');
		if (c->storage) {
			mr_buf_adds(out, ",\"storage\":");
			mr_json_string(out, c->storage);
			mr_buf_adds(out, ",\"archive\":");
			mr_json_string(out, c->archive); /* null when purged */
		}
		if (c->moved_to) {
			mr_buf_adds(out, ",\"moved_to\":");
			mr_json_string(out, c->moved_to);
		}
		mr_buf_addc(out, '}');
	}
	mr_buf_adds(out, "],\"homes\":[");
	for (size_t i = 0; i < p->nhomes; i++) {
		const struct mr_home_change *h = &p->homes[i];
		mr_buf_addf(out, "%s{\"op\":\"%s\",\"address\":", i ? "," : "", mr_home_op_name(h->op));
		mr_json_string(out, h->address);
		mr_buf_adds(out, ",\"path\":");
		mr_json_string(out, h->path);
		if (h->owner) {
			mr_buf_adds(out, ",\"owner\":");
			mr_json_string(out, h->owner);
		}
		if (h->from) {
			mr_buf_adds(out, ",\"from\":");
			mr_json_string(out, h->from);
		}
		if (h->to) {
			mr_buf_adds(out, ",\"to\":");
			mr_json_string(out, h->to);
		}
		if (h->also_from) {
			mr_buf_adds(out, ",\"also_from\":");
			mr_json_string(out, h->also_from);
		}
		mr_buf_addc(out, '}');
	}
	mr_buf_adds(out, "],\"mail_flow\":{\"changes\":[");
	for (size_t i = 0; i < p->nflows; i++) {
		const struct mr_flow *f = &p->flows[i];
		mr_buf_adds(out, i ? ",{\"address\":" : "{\"address\":");
		mr_json_string(out, f->address);
		mr_buf_adds(out, ",\"old\":");
		mr_route_json(out, f->address, &f->old);
		mr_buf_adds(out, ",\"new\":");
		mr_route_json(out, f->address, &f->new);
		mr_buf_addc(out, '}');
	}
	mr_buf_adds(out, "],\"warnings\":[");
	for (size_t i = 0; i < p->flow_warnings.n; i++) {
		const struct mr_diag *d = &p->flow_warnings.v[i];
		mr_buf_adds(out, i ? ",{\"file\":" : "{\"file\":");
		mr_json_string(out, mr_loc_file(d->loc));
		mr_buf_addf(out, ",\"line\":%u,\"column\":%u,\"severity\":\"%s\",\"message\":", (unsigned)d->loc.line,
			    (unsigned)d->loc.col, sev_name(d->sev));
		mr_json_string(out, d->msg);
		mr_buf_addc(out, '}');
	}
	mr_buf_adds(out, "]},\"files\":[");
	for (size_t i = 0; i < p->nfiles; i++) {
		const struct mr_file_change *f = &p->files[i];
		mr_buf_adds(out, i ? ",{\"path\":" : "{\"path\":");
		mr_json_string(out, f->path);
		mr_buf_addf(out, ",\"action\":\"%s\",\"kind\":\"%s\"", f->create ? "create" : f->remove ? "delete" : "update",
			    f->file_id >= 0 ? "lines" : f->file_id == MR_FILE_ID_KEY ? "key" : "config");
		if (f->file_id >= 0)
			mr_buf_addf(out, ",\"added\":%zu,\"changed\":%zu,\"removed\":%zu", f->added, f->changed, f->removed);
		mr_buf_addf(out, ",\"at_apply\":%s,\"blocked\":%s}", f->at_apply ? "true" : "false",
			    f->blocked ? "true" : "false");
	}
	mr_buf_addc(out, ']');
	if (refusals) {
		mr_buf_adds(out, ",\"refusals\":");
		mr_buf_add(out, refusals->ptr, refusals->len);
	}
	mr_buf_adds(out, "}\n");
}
