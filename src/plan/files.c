/*
 * files: the new content of every live file, from the target model.
 *
 * For each line file, the records the target model needs are made in canonical form and
 * merged into the live lines: a live record that already means what the target says is
 * kept byte for byte (whatever its form: "key: value", an ispmanager 4 line, a quota in
 * KiB), one that differs is replaced where it stands, one the target lacks is dropped, and
 * the rest are added at the end (in a shared file, inside mailrecon's block).  Comments,
 * blank lines and lines mailrecon does not own are never touched.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/codec.h"
#include "load/emit.h"
#include "model/names.h"
#include "codec/dkim_state.h"
#include "plan/plan.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define HASH_AT_APPLY "(hash made at apply)"
#define ID_AT_APPLY "(id at apply)"

struct want {
	struct mr_codec_file f;  /* canonical records, raw NULL; its arena holds their strings */
	bool at_apply;
};

/* A canonical record of the target; its strings must outlive it: the models',
 * literals, or an arena of the caller's.  a: where the line keeps its strings' pointers
 * (they are not in one line of text), an arena that lives as long as it. */
static void record(struct mr_line *l, const struct mr_codec_file *f, struct mr_arena *a, const char *key)
{
	memset(l, 0, sizeof(*l));
	l->kind = MR_LINE_RECORD;
	mr_line_set_key(l, key, a);
	l->in_block = f->codec->flags & MR_CODEC_SHARED;
}

static struct mr_line *rec(struct want *w, const char *key)
{
	struct mr_codec_file *f = &w->f;
	f->lines = xgrow(f->lines, sizeof(*f->lines), f->nlines + 1, &f->cap);
	struct mr_line *l = &f->lines[f->nlines++];
	record(l, f, &f->arena, key); /* callers pass keys that outlive the want: the models' or w's arena */
	return l;
}

static const char *astr(struct mr_arena *a, const char *s)
{
	return s ? mr_arena_strdup(a, s) : NULL;
}

static const char *anum(struct mr_arena *a, long long v)
{
	char buf[24], *p = buf + sizeof(buf);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	*--p = '\0';
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	return mr_arena_strdup(a, p);
}

/* Set field i of a record of w. */
static void wset(struct want *w, struct mr_line *l, unsigned i, const char *v)
{
	mr_line_set_field(l, i, v, &w->f.arena);
}

static const char *wnum(struct want *w, long long v)
{
	return anum(&w->f.arena, v);
}

static const struct mr_line *live_line(const struct mr_plan_input *in, enum mr_file_id id, const char *key)
{
	return mr_codec_find(&in->live->files[id].cf, key);
}

static bool user_disabled(const struct mr_model *t, const struct mr_domain *d)
{
	const struct mr_user *u = d->owner ? mr_model_user(t, d->owner) : NULL;
	return u && u->disabled;
}

/* ---- one builder per file ---- */

/* The exim4 passwd record of a target mailbox (d: its target domain). */
/* The live mailbox of a target mailbox's address; h: its mr_hash(), or NULL. */
static const struct mr_mailbox *live_mailbox(const struct mr_model *lm, const struct mr_mailbox *mb, const uint64_t *h)
{
	if (!h)
		return mr_model_mailbox(lm, mb->address);
	return mr_strmap_get_hashed(&lm->mailbox_map, mb->address, strlen(mb->address), *h);
}

static void passwd_line(struct mr_line *l, const struct mr_codec_file *f, struct mr_arena *a,
			const struct mr_plan_input *in, const struct mr_domain *d, bool udis, const struct mr_mailbox *mb,
			const uint64_t *h)
{
	const struct mr_model *lm = &in->live->model;
	record(l, f, a, mb->address);
	l->nf = MR_F_PASSWD_LEGACY + 1;
	mr_line_set_field(l, MR_F_PASSWD_OWNER, d->owner, a);
	const char *disabled = mb->disabled ? "self" : d->disabled ? "domain" : udis ? "user" : NULL;
	mr_line_set_field(l, MR_F_PASSWD_DISABLED, disabled, a);
	mr_line_set_field(l, MR_F_PASSWD_SAVE, mb->keep_copy ? NULL : "no", a);
	/* a live mailbox knows its line: no second lookup by address */
	const struct mr_mailbox_live *mlp = mr_mailbox_live(mb);
	const struct mr_mailbox *lmb = mlp && mlp->src_exim ? mb : live_mailbox(lm, mb, h);
	const struct mr_line *ll = lmb ? mr_mailbox_live(lmb)->src_exim : NULL;
	if (ll)
		mr_line_set_field(l, MR_F_PASSWD_EXTRA, mr_line_field(ll, MR_F_PASSWD_EXTRA), a);
}

/* The extra fields of a live Dovecot line without the quota and login refusals mailrecon
 * writes itself; the ispmanager 4 "flags:mail" fields are dropped on a rewrite. */
static void other_extras(const char *extra, struct mr_buf *out)
{
	if (!extra || extra[0] == ':')
		return;
	char *copy = xstrdup(extra), *save = NULL;
	for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (strncmp(t, "userdb_quota_rule=", 18) == 0 || strncmp(t, "quota_rule=", 11) == 0 ||
		    strcmp(t, "nologin") == 0 || strncmp(t, "nologin=", 8) == 0 || strncmp(t, "deny=", 5) == 0 ||
		    mr_dovecot_override(t))
			continue;
		if (out->len)
			mr_buf_addc(out, ' ');
		mr_buf_adds(out, t);
	}
	free(copy);
}

static bool has_override(const char *extra)
{
	if (!extra || extra[0] == ':')
		return false;
	char *copy = xstrdup(extra), *save = NULL;
	bool found = false;
	for (char *t = strtok_r(copy, " \t", &save); t && !found; t = strtok_r(NULL, " \t", &save))
		found = mr_dovecot_override(t);
	free(copy);
	return found;
}

static void quota_rule(int64_t bytes, struct mr_buf *out)
{
	static const char units[] = "kMGT";
	int u = -1;
	while (u < 3 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		mr_buf_addf(out, "userdb_quota_rule=*:bytes=%lld", (long long)bytes);
	else
		mr_buf_addf(out, "userdb_quota_rule=*:bytes=%lld%c", (long long)bytes, units[u]);
}

/* What the Dovecot records of one target domain share. */
struct dom_ctx {
	const struct mr_domain *d, *ld; /* the target domain, the live one of that name */
	bool udis;                      /* its owner is disabled */
	const struct mr_sysaccount *acc;
};

static void dom_ctx(struct dom_ctx *c, const struct mr_model *t, const struct mr_plan_input *in,
		    const struct mr_domain *d)
{
	c->d = d;
	c->ld = mr_model_domain(&in->live->model, d->name);
	c->udis = user_disabled(t, d);
	c->acc = in->accounts && d->owner ? mr_sysaccount_get(in->accounts, d->owner) : NULL;
}

/* Whether a target mailbox has a Dovecot record: not a live mailbox outside the scope that
 * has no Dovecot line. */
static bool has_dovecot(const struct mr_mailbox *mb)
{
	return mb->password_kind != MR_PASSWORD_NONE;
}

/* The dovecot.passwd record of a target mailbox; strings that are not the models' go in a.
 * *at_apply is set when a value is made at apply (a hash, the ids). */
static void dovecot_line(struct mr_line *l, const struct mr_codec_file *f, struct mr_arena *a,
			 const struct mr_plan_input *in, struct mr_strmap *hashes, const struct dom_ctx *c,
			 const struct mr_mailbox *mb, const uint64_t *ah, bool *at_apply)
{
	const struct mr_model *lm = &in->live->model;
	const struct mr_domain *d = c->d, *ld = c->ld;
	const struct mr_mailbox_live *mlp = mr_mailbox_live(mb);
	const struct mr_mailbox *live_mb = mlp && mlp->src_dovecot ? mb : live_mailbox(lm, mb, ah);
	const struct mr_mailbox_live *lmb = live_mb ? mr_mailbox_live(live_mb) : NULL;
	bool same_owner = lmb && ld && ld->owner && d->owner && strcmp(ld->owner, d->owner) == 0;
	record(l, f, a, mb->address);
	l->nf = MR_F_DOVECOT_EXTRA + 1;
	l->disabled = mb->disabled || d->disabled || c->udis;
	const char *h = mb->password_kind == MR_PASSWORD_HASH ? mb->password.value
			: hashes->count				  ? mr_strmap_get(hashes, mb->address, strlen(mb->address))
								  : NULL;
	if (!h) {
		h = HASH_AT_APPLY;
		*at_apply = true;
	}
	mr_line_set_field(l, MR_F_DOVECOT_HASH, h, a); /* in a model's arena, or a literal */
	/* the owner's account's ids; without one, the live ids of the same owner's line
	 * when they are a regular account's -- never root's or a system account's */
	int64_t uid_min = in->accounts ? in->accounts->uid_min : MR_UID_MIN_DEFAULT;
	if (c->acc) {
		mr_line_set_field(l, MR_F_DOVECOT_UID, anum(a, (long long)c->acc->uid), a);
		mr_line_set_field(l, MR_F_DOVECOT_GID, anum(a, (long long)c->acc->gid), a);
	} else if (same_owner && lmb->uid != MR_ID_UNSET && lmb->gid != MR_ID_UNSET && lmb->uid >= uid_min &&
		   lmb->gid > 0) {
		mr_line_set_field(l, MR_F_DOVECOT_UID, anum(a, (long long)lmb->uid), a);
		mr_line_set_field(l, MR_F_DOVECOT_GID, anum(a, (long long)lmb->gid), a);
	} else {
		mr_line_set_field(l, MR_F_DOVECOT_UID, ID_AT_APPLY, a);
		mr_line_set_field(l, MR_F_DOVECOT_GID, ID_AT_APPLY, a);
		*at_apply = true;
	}
	mr_line_set_field(l, MR_F_DOVECOT_GECOS, "", a);
	/* the mailbox's place; a live field naming it (with a final '/') is kept as written,
	 * anything else is data that is replaced, never a path that is used */
	if (same_owner && lmb->home && mr_home_is_place(lmb->home, d->owner, d->name, mb->name)) {
		mr_line_set_field(l, MR_F_DOVECOT_HOME, lmb->home, a);
	} else {
		char *home = mr_home_path(d->owner, d->name, mb->name);
		mr_line_set_field(l, MR_F_DOVECOT_HOME, astr(a, home), a);
		free(home);
	}
	mr_line_set_field(l, MR_F_DOVECOT_SHELL, "", a);
	struct mr_buf extra = MR_BUF_INIT;
	if (mb->max_size > 0)
		quota_rule(mb->max_size, &extra);
	const struct mr_line *ll = lmb ? lmb->src_dovecot : NULL; /* active or commented */
	if (ll)
		other_extras(mr_line_field(ll, MR_F_DOVECOT_EXTRA), &extra);
	mr_line_set_field(l, MR_F_DOVECOT_EXTRA, extra.len ? astr(a, extra.ptr) : "", a);
	mr_buf_release(&extra);
}

static void want_aliases(struct want *w, const struct mr_model *t)
{
	for (size_t i = 0; i < t->ndomains; i++) {
		const struct mr_domain *d = t->domains[i];
		for (size_t j = 0; j < d->nmailboxes; j++) {
			const struct mr_mailbox *mb = d->mailboxes[j];
			for (size_t k = 0; k < mb->aliases.n; k++) {
				char *a = mr_arena_printf(&w->f.arena, "%s@%s", mb->aliases.v[k].s, d->name);
				struct mr_line *l = rec(w, a);
				l->nf = 2;
				wset(w, l, MR_F_ALIAS_MAIN, mb->address);
				wset(w, l, MR_F_ALIAS_TYPE, "fwd");
			}
			for (size_t k = 0; k < mb->copy_to.n; k++) {
				struct mr_line *l = rec(w, mb->copy_to.v[k].s);
				l->nf = 2;
				wset(w, l, MR_F_ALIAS_MAIN, mb->address);
				wset(w, l, MR_F_ALIAS_TYPE, "user");
			}
		}
	}
}

static void want_ratelimits(struct want *w, const struct mr_model *t)
{
	if (t->server.rate_per_hour != MR_UNSET)
		wset(w, rec(w, "*"), MR_F_RATE_VALUE, wnum(w, (long long)t->server.rate_per_hour));
	for (size_t i = 0; i < t->nusers; i++)
		if (t->users[i]->limits.rate_per_hour != MR_UNSET)
			wset(w, rec(w, t->users[i]->name), MR_F_RATE_VALUE,
			     wnum(w, (long long)t->users[i]->limits.rate_per_hour));
	for (size_t i = 0; i < t->ndomains; i++)
		for (size_t j = 0; j < t->domains[i]->nmailboxes; j++) {
			const struct mr_mailbox *mb = t->domains[i]->mailboxes[j];
			if (mb->rate_per_hour != MR_UNSET)
				wset(w, rec(w, mb->address), MR_F_RATE_VALUE, wnum(w, (long long)mb->rate_per_hour));
		}
	for (size_t i = 0; i < w->f.nlines; i++)
		w->f.lines[i].nf = 1;
}

static void want_domains(struct want *w, const struct mr_model *t)
{
	for (size_t i = 0; i < t->ndomains; i++) {
		const struct mr_domain *d = t->domains[i];
		struct mr_line *l = rec(w, d->name);
		l->nf = 1;
		l->disabled = d->disabled;
		switch (d->action) {
		case MR_ACTION_REJECT:
			wset(w, l, MR_F_DOMAIN_DATA, ":fail: No such user here");
			break;
		case MR_ACTION_DISCARD:
			wset(w, l, MR_F_DOMAIN_DATA, ":blackhole:");
			break;
		case MR_ACTION_FORWARD:
			wset(w, l, MR_F_DOMAIN_DATA, d->action_target);
			break;
		case MR_ACTION_REDIRECT_DOMAIN:
			wset(w, l, MR_F_DOMAIN_DATA, mr_arena_printf(&w->f.arena, "@%s", d->action_target));
			break;
		}
	}
}

static void want_domainips(struct want *w, const struct mr_model *t)
{
	for (size_t i = 0; i < t->ndomains; i++)
		if (t->domains[i]->ip) {
			struct mr_line *l = rec(w, t->domains[i]->name);
			l->nf = 1;
			wset(w, l, MR_F_DOMAINIP_IP, t->domains[i]->ip);
		}
}

/* postgrey, spamassassin and clamav: the entries that turn a filter off */
static void want_whitelist(struct want *w, const struct mr_model *t, enum mr_file_id id)
{
	for (size_t i = 0; i < t->ndomains; i++) {
		const struct mr_domain *d = t->domains[i];
		bool off = id == MR_FILE_POSTGREY ? !d->greylisting : id == MR_FILE_SPAMASSASSIN ? !d->spamassassin : !d->antivirus;
		if (off) {
			struct mr_line *l = rec(w, id == MR_FILE_SPAMASSASSIN ? mr_arena_printf(&w->f.arena, "*@%s", d->name) : d->name);
			if (id == MR_FILE_SPAMASSASSIN)
				wset(w, l, MR_F_SA_DIRECTIVE, "whitelist_to"), l->nf = 1;
		}
		if (id == MR_FILE_CLAMAV)
			continue;
		for (size_t j = 0; j < d->nmailboxes; j++) {
			const struct mr_mailbox *mb = d->mailboxes[j];
			if (id == MR_FILE_POSTGREY ? mb->greylisting : mb->spamassassin)
				continue;
			struct mr_line *l = rec(w, mb->address);
			if (id == MR_FILE_SPAMASSASSIN)
				wset(w, l, MR_F_SA_DIRECTIVE, "whitelist_to"), l->nf = 1;
		}
	}
}

/* The key "KIND NAME" of a registry record, made in b (reset first). */
static const char *reg_key(struct mr_buf *b, const char *kind, const char *name)
{
	mr_buf_reset(b);
	mr_buf_adds(b, kind);
	mr_buf_addc(b, ' ');
	mr_buf_adds(b, name);
	return b->ptr;
}

/* Field i of the record whose key is in b, after it in b (NULL: none, off[i] stays 0). */
static void reg_field(struct mr_buf *b, size_t off[MR_LINE_FIELDS], unsigned i, const char *v)
{
	if (!v)
		return;
	mr_buf_addc(b, '\0');
	off[i] = b->len;
	mr_buf_adds(b, v);
}

/*
 * The record made in b (key, then its fields at off) as one block of text in w's arena, its
 * name the key's tail: the line keeps its key and fields as offsets from the block (struct
 * mr_line), not in a list of pointers.  At 19,000 registry lines the lists (80 bytes a
 * line), the separate keys and the copies of the names had taken 2 MiB.
 */
static void reg_rec(struct want *w, struct mr_buf *b, const char *kind, const size_t off[MR_LINE_FIELDS])
{
	const char *block = mr_arena_strndup(&w->f.arena, b->ptr, b->len);
	struct mr_codec_file *f = &w->f;
	f->lines = xgrow(f->lines, sizeof(*f->lines), f->nlines + 1, &f->cap);
	struct mr_line *l = &f->lines[f->nlines++];
	memset(l, 0, sizeof(*l));
	l->kind = MR_LINE_RECORD;
	l->in_block = f->codec->flags & MR_CODEC_SHARED;
	l->nf = MR_LINE_FIELDS;
	mr_line_set_base(l, block);
	mr_line_set_key(l, block, &f->arena);
	mr_line_set_field(l, MR_F_REG_NAME, block + strlen(kind) + 1, &f->arena);
	for (unsigned i = 0; i < MR_LINE_FIELDS; i++)
		if (off[i])
			mr_line_set_field(l, i, block + off[i], &f->arena); /* a pointer list past 64 KiB */
}

/*
 * The registry holds only what no other file says, so that a server the panel laid out
 * gets no registry lines it does not need; a line that exists is kept up to date.  Who
 * disabled an object (disabled_by=) is written while it stays disabled, and goes with it.
 */
static void want_registry(struct want *w, const struct mr_model *t, const struct mr_plan_input *in)
{
	const struct mr_model *lm = &in->live->model;
	struct mr_buf b = MR_BUF_INIT;
	char n1[24], n2[24];
	/* the users that own a domain, found once (not a walk of the domains per user) */
	struct mr_strmap owners = MR_STRMAP_INIT;
	for (size_t j = 0; j < t->ndomains; j++)
		if (t->domains[j]->owner)
			mr_strmap_put_new(&owners, t->domains[j]->owner, strlen(t->domains[j]->owner), (void *)1);
	for (size_t i = 0; i < t->nusers; i++) {
		const struct mr_user *u = t->users[i];
		bool owns = mr_strmap_get(&owners, u->name, strlen(u->name)) != NULL;
		const char *key = reg_key(&b, "user", u->name);
		bool needed = u->role != MR_ROLE_USER || u->reseller || u->account == MR_ACCOUNT_CREATE || u->disabled ||
			      u->limits.mail_domains != MR_UNSET || u->limits.mailboxes != MR_UNSET || !owns;
		if (!needed && !live_line(in, MR_FILE_REGISTRY, key))
			continue;
		size_t off[MR_LINE_FIELDS] = { 0 };
		reg_field(&b, off, MR_F_REG_KIND, "user");
		reg_field(&b, off, MR_F_REG_USER_ROLE, mr_role_name(u->role));
		reg_field(&b, off, MR_F_REG_USER_RESELLER, u->reseller);
		reg_field(&b, off, MR_F_REG_USER_ACCOUNT, u->account == MR_ACCOUNT_CREATE ? "create" : NULL);
		reg_field(&b, off, MR_F_REG_USER_DISABLED, u->disabled ? "yes" : NULL);
		reg_field(&b, off, MR_F_REG_USER_DISABLED_BY, u->disabled ? u->disabled_by : NULL);
		if (u->limits.mail_domains != MR_UNSET)
			snprintf(n1, sizeof(n1), "%lld", (long long)u->limits.mail_domains);
		reg_field(&b, off, MR_F_REG_USER_DOMAINS, u->limits.mail_domains != MR_UNSET ? n1 : NULL);
		if (u->limits.mailboxes != MR_UNSET)
			snprintf(n2, sizeof(n2), "%lld", (long long)u->limits.mailboxes);
		reg_field(&b, off, MR_F_REG_USER_MAILBOXES, u->limits.mailboxes != MR_UNSET ? n2 : NULL);
		reg_rec(w, &b, "user", off);
	}
	mr_strmap_release(&owners);
	for (size_t i = 0; i < t->ndomains; i++) {
		const struct mr_domain *d = t->domains[i];
		const struct mr_domain *ld = mr_model_domain(lm, d->name);
		const char *key = reg_key(&b, "domain", d->name);
		/* the owner is read from the mailbox lines; without mailboxes it must be written,
		 * unless the panel's /var/www/OWNER/data/email/DOMAIN directory already says it */
		bool dir_says = ld && ld->owner_from_dir && d->owner && ld->owner && strcmp(ld->owner, d->owner) == 0;
		const char *by = d->disabled ? d->disabled_by : NULL;
		bool needed = d->dmarc || by || (d->nmailboxes == 0 && !dir_says);
		if (!needed && !live_line(in, MR_FILE_REGISTRY, key))
			continue;
		size_t off[MR_LINE_FIELDS] = { 0 };
		reg_field(&b, off, MR_F_REG_KIND, "domain");
		reg_field(&b, off, MR_F_REG_DOMAIN_OWNER, d->owner);
		reg_field(&b, off, MR_F_REG_DOMAIN_DMARC, d->dmarc ? "yes" : NULL);
		reg_field(&b, off, MR_F_REG_DOMAIN_DISABLED_BY, by);
		reg_rec(w, &b, "domain", off);
	}
	for (size_t i = 0; i < t->ndomains; i++)
		for (size_t j = 0; j < t->domains[i]->nmailboxes; j++) {
			const struct mr_mailbox *mb = t->domains[i]->mailboxes[j];
			const char *by = mb->disabled ? mr_mailbox_disabled_by(mb) : NULL, *note = mr_mailbox_note(mb);
			if (!note && !by)
				continue;
			reg_key(&b, "mailbox", mb->address);
			size_t off[MR_LINE_FIELDS] = { 0 };
			reg_field(&b, off, MR_F_REG_KIND, "mailbox");
			reg_field(&b, off, MR_F_REG_MAILBOX_NOTE, note);
			reg_field(&b, off, MR_F_REG_MAILBOX_DISABLED_BY, by);
			reg_rec(w, &b, "mailbox", off);
		}
	mr_buf_release(&b);
}

/* ---- equality: does a live record already mean what the target wants? ---- */

static bool s_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int64_t quota_of(const char *extra)
{
	int64_t bytes = 0;
	if (!extra || extra[0] == ':')
		return 0;
	char *copy = xstrdup(extra), *save = NULL;
	for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		const char *v = strncmp(t, "userdb_quota_rule=", 18) == 0 ? t + 18 : strncmp(t, "quota_rule=", 11) == 0 ? t + 11 : NULL;
		if (v && !mr_quota_parse(v, &bytes))
			bytes = -1;
	}
	free(copy);
	return bytes;
}

static bool same_record(enum mr_file_id id, const struct mr_codec_file *lf, const struct mr_line *l,
			const struct mr_codec_file *wf, const struct mr_line *w)
{
	switch (id) {
	case MR_FILE_EXIM_PASSWD: {
		const char *lowner = mr_line_field(l, MR_F_PASSWD_OWNER), *wowner = mr_line_field(w, MR_F_PASSWD_OWNER);
		const char *lsave = mr_line_field(l, MR_F_PASSWD_SAVE), *wsave = mr_line_field(w, MR_F_PASSWD_SAVE);
		/* the panel suspends a mailbox by commenting its line out; mailrecon reads that as
		 * disabled by the mailbox itself and keeps it while that is what the target says */
		if (l->disabled)
			return !w->disabled && s_eq(mr_line_field(w, MR_F_PASSWD_DISABLED), "self") && s_eq(lowner, wowner) &&
			       !wsave;
		if (w->disabled)
			return false;
		/* an older line without owner= (or with the panel's payload) is kept while it
		 * means the same: not disabled, mail saved */
		return (s_eq(lowner, wowner) || !lowner) &&
		       s_eq(mr_line_field(l, MR_F_PASSWD_DISABLED), mr_line_field(w, MR_F_PASSWD_DISABLED)) &&
		       s_eq(lsave && strcmp(lsave, "no") == 0 ? "no" : NULL, wsave) &&
		       s_eq(mr_line_field(l, MR_F_PASSWD_EXTRA), mr_line_field(w, MR_F_PASSWD_EXTRA));
	}
	case MR_FILE_DOVECOT_PASSWD: {
		if (l->disabled != w->disabled)
			return false;
		if (!s_eq(mr_line_field(l, MR_F_DOVECOT_HASH), mr_line_field(w, MR_F_DOVECOT_HASH)) ||
		    !s_eq(mr_line_field(l, MR_F_DOVECOT_UID), mr_line_field(w, MR_F_DOVECOT_UID)) ||
		    !s_eq(mr_line_field(l, MR_F_DOVECOT_GID), mr_line_field(w, MR_F_DOVECOT_GID)) ||
		    !s_eq(mr_line_field(l, MR_F_DOVECOT_HOME), mr_line_field(w, MR_F_DOVECOT_HOME)))
			return false;
		const char *lextra = mr_line_field(l, MR_F_DOVECOT_EXTRA), *wextra = mr_line_field(w, MR_F_DOVECOT_EXTRA);
		if (quota_of(lextra) != quota_of(wextra))
			return false;
		struct mr_buf a = MR_BUF_INIT, b = MR_BUF_INIT;
		other_extras(lextra, &a);
		other_extras(wextra, &b);
		bool eq = s_eq(a.ptr ? a.ptr : "", b.ptr ? b.ptr : "");
		/* nologin / deny=yes on a live line mean disabled: not what an enabled target wants */
		if (eq && !w->disabled && lextra && (strstr(lextra, "nologin") || strstr(lextra, "deny=")))
			eq = false;
		/* a field that moves the mail or changes whose it is goes (live.c says so) */
		if (eq && has_override(lextra))
			eq = false;
		mr_buf_release(&a);
		mr_buf_release(&b);
		return eq;
	}
	case MR_FILE_EXIM_DOMAINS: {
		if (l->disabled != w->disabled)
			return false;
		const char *x = mr_line_field(l, MR_F_DOMAIN_DATA), *y = mr_line_field(w, MR_F_DOMAIN_DATA);
		if (strncmp(x, ":fail:", 6) == 0 && strncmp(y, ":fail:", 6) == 0)
			return true; /* a reject, whatever its text */
		return strcmp(x, y) == 0;
	}
	default:
		/* the canonical text is a function of the key and fields: compare those */
		(void)lf;
		(void)wf;
		if (l->disabled != w->disabled || !s_eq(mr_line_key(l), mr_line_key(w)))
			return false;
		for (unsigned i = 0; i < MR_LINE_FIELDS; i++)
			if (!s_eq(mr_line_field(l, i), mr_line_field(w, i)))
				return false;
		return true;
	}
}

/* ---- the merge ---- */

static const char *merge_key(struct mr_arena *a, const struct mr_codec_file *f, const struct mr_line *l, size_t *len)
{
	const char *key = mr_line_key(l);
	if (!(f->codec->flags & MR_CODEC_MULTIKEY)) {
		*len = strlen(key);
		return key;
	}
	const char *main_addr = mr_line_field(l, MR_F_ALIAS_MAIN), *type = mr_line_field(l, MR_F_ALIAS_TYPE);
	size_t n1 = strlen(key), n2 = strlen(main_addr), n3 = strlen(type);
	char *k = mr_arena_alloc(a, n1 + n2 + n3 + 3);
	memcpy(k, key, n1);
	k[n1] = ':';
	memcpy(k + n1 + 1, main_addr, n2);
	k[n1 + 1 + n2] = ':';
	memcpy(k + n1 + n2 + 2, type, n3 + 1);
	*len = n1 + n2 + n3 + 2;
	return k;
}

static bool owned(const struct mr_codec_file *f, const struct mr_line *l)
{
	if (l->kind != MR_LINE_RECORD)
		return false;
	return !(f->codec->flags & MR_CODEC_SHARED) || l->in_block;
}

/* The new file is written out line by line as the merge goes: no second line array.  A
 * sink that only measures (no_content) renders each new line into one scratch buffer. */
struct sink {
	const struct mr_codec_file *codec_file; /* for the canonical form */
	struct mr_buf bytes;
	bool measure_only; /* bytes holds the last rendered line only; len counts the file */
	size_t len;
	bool open_line; /* the last raw line had no line end */
};

static void push(struct sink *o, const struct mr_line *l)
{
	if (!o)
		return; /* counting only */
	if (l->raw) {
		if (!o->measure_only)
			mr_buf_add(&o->bytes, l->raw, l->rawlen);
		o->len += l->rawlen;
		o->open_line = l->rawlen == 0 || l->raw[l->rawlen - 1] != '\n';
		return;
	}
	if (o->measure_only)
		mr_buf_reset(&o->bytes);
	size_t before = o->bytes.len;
	if (o->open_line)
		mr_buf_addc(&o->bytes, '\n');
	mr_codec_render_line(o->codec_file, l, &o->bytes);
	mr_buf_addc(&o->bytes, '\n');
	o->len += o->bytes.len - before;
	o->open_line = false;
}

struct merge_count {
	size_t added, changed, removed;
};

/*
 * The records a file should have, numbered in the target's order, as the merge asks for
 * them: the record wanted under a live record's key, and one by number.  Two kinds:
 *  - a list: every record made up front (struct want), found through a map of merge keys;
 *  - the mailbox files, exim4 passwd and dovecot.passwd: a record per target mailbox, made
 *    only when the merge asks for it (into one line and a scratch arena that the next one
 *    reuses), found through the target model's own mailbox map.  A list of 100,000
 *    mailboxes would take 10 MB of lines and 6 MB of map per file, both files at once.
 * Either way the merge sees the same records in the same order.
 */
struct wanted {
	size_t n;   /* records, numbered 0 to n - 1 */
	bool *used; /* by number: a live record took it */
	/* a list */
	struct want *w;
	struct mr_strmap wmap; /* merge key -> number + 1 */
	struct mr_arena tmp;   /* the merge keys of a file with several records per key */
	/* the mailbox files (lazy) */
	bool lazy;
	enum mr_file_id id;
	const struct mr_codec_file *f; /* the live file: its codec and flags */
	const struct mr_model *t;
	const struct mr_plan_input *in;
	struct mr_strmap *hashes;
	/* record k: mailbox mj of target domain di, as numbers (8 bytes a record where two
	 * pointers and a number took 24: 1.6 MiB less for each of the two passwd files of
	 * 100,000 mailboxes), in an array of the exact size -- 32 bits, as by_slot's record
	 * numbers, hold any model that fits in memory; the aliases file: alias[k] is which of
	 * the mailbox's names it is, its alias number or MB_COPY | its copy number */
	struct mb_rec {
		uint32_t di, mj;
	} *recs;
	uint32_t *alias;
	/* slot of the address in t->mailbox_map -> number + 1 of its record (the aliases file:
	 * of its first record, its aliases then its copies) */
	uint32_t *by_slot;
	struct mr_strmap strays; /* address -> number + 1, for one not in that map */
	struct dom_ctx dc;       /* of the domain of the last record made */
	struct mr_arena scratch;
	struct mr_arena_mark clean;
	struct mr_line cur;
	bool at_apply; /* a record made had a value made at apply */
};

static void wanted_list(struct wanted *wn, struct want *w)
{
	memset(wn, 0, sizeof(*wn));
	wn->w = w;
	wn->n = w->f.nlines;
	mr_strmap_reserve(&wn->wmap, w->f.nlines);
	for (size_t i = 0; i < w->f.nlines; i++) {
		size_t len;
		const char *k = merge_key(&wn->tmp, &w->f, &w->f.lines[i], &len);
		mr_strmap_put_new(&wn->wmap, k, len, (void *)(uintptr_t)(i + 1));
	}
	wn->used = xcalloc(wn->n ? wn->n : 1, sizeof(*wn->used));
	wn->at_apply = w->at_apply;
}

/* The start of a lazy one: its records are then added to recs, and lazy_done() ends it. */
static void lazy_init(struct wanted *wn, enum mr_file_id id, const struct mr_codec_file *f, const struct mr_model *t)
{
	memset(wn, 0, sizeof(*wn));
	wn->lazy = true;
	wn->id = id;
	wn->f = f;
	wn->t = t;
	wn->by_slot = xcalloc(t->mailbox_map.cap ? t->mailbox_map.cap : 1, sizeof(*wn->by_slot));
}

static void lazy_done(struct wanted *wn)
{
	wn->used = xcalloc(wn->n ? wn->n : 1, sizeof(*wn->used));
	wn->clean = mr_arena_mark(&wn->scratch);
}

#define MB_COPY (UINT32_C(1) << 31)

static const struct mr_domain *rec_domain(const struct wanted *wn, size_t k)
{
	return wn->t->domains[wn->recs[k].di];
}

static const struct mr_mailbox *rec_mailbox(const struct wanted *wn, size_t k)
{
	return wn->t->domains[wn->recs[k].di]->mailboxes[wn->recs[k].mj];
}

static void wanted_mailboxes(struct wanted *wn, enum mr_file_id id, const struct mr_codec_file *f,
			     const struct mr_model *t, const struct mr_plan_input *in, struct mr_strmap *hashes)
{
	lazy_init(wn, id, f, t);
	wn->in = in;
	wn->hashes = hashes;
	size_t n = 0;
	for (size_t i = 0; i < t->ndomains; i++)
		for (size_t j = 0; j < t->domains[i]->nmailboxes; j++)
			n += id != MR_FILE_DOVECOT_PASSWD || has_dovecot(t->domains[i]->mailboxes[j]);
	wn->recs = xmalloc((n ? n : 1) * sizeof(*wn->recs));
	for (size_t i = 0; i < t->ndomains; i++) {
		const struct mr_domain *d = t->domains[i];
		for (size_t j = 0; j < d->nmailboxes; j++)
			if (id != MR_FILE_DOVECOT_PASSWD || has_dovecot(d->mailboxes[j]))
				wn->recs[wn->n++] = (struct mb_rec){ (uint32_t)i, (uint32_t)j };
	}
	struct mr_strmap_ahead ahead = MR_STRMAP_AHEAD_INIT;
	for (size_t k = 0; k < wn->n; k++) {
		if (k + MR_STRMAP_AHEAD < wn->n) {
			const char *na = rec_mailbox(wn, k + MR_STRMAP_AHEAD)->address;
			mr_strmap_ahead(&ahead, k + MR_STRMAP_AHEAD, &t->mailbox_map, NULL, na, strlen(na));
		}
		if (k + MR_STRMAP_AHEAD / 2 < wn->n) {
			size_t s = mr_strmap_ahead_peek(&ahead, k + MR_STRMAP_AHEAD / 2, &t->mailbox_map,
							rec_mailbox(wn, k + MR_STRMAP_AHEAD / 2)->address);
			if (s != SIZE_MAX)
				__builtin_prefetch(&wn->by_slot[s]);
		}
		const char *a = rec_mailbox(wn, k)->address;
		size_t len = strlen(a);
		size_t slot = mr_strmap_index_hashed(&t->mailbox_map, a, len, mr_strmap_ahead_hash(&ahead, k, a, len));
		if (slot == SIZE_MAX) /* the first record of an address takes it, as a list's map does */
			mr_strmap_put_new(&wn->strays, a, len, (void *)(uintptr_t)(k + 1));
		else if (!wn->by_slot[slot])
			wn->by_slot[slot] = (uint32_t)(k + 1);
	}
	lazy_done(wn);
}

static void wanted_release(struct wanted *wn);

/*
 * The aliases file the same way: a record per alias and per copy of each target mailbox, in
 * want_aliases()'s order, found from a live line's main address through the target's
 * mailbox map and then among that mailbox's few aliases or copies.  A live line means the
 * record when its key, main address and type are the record's (no part of either has a
 * ':', so that is what the list's joined merge key compared).  false: a target mailbox is
 * not in the target's map (none is expected); the caller makes the list instead.
 */
static bool wanted_aliases(struct wanted *wn, const struct mr_codec_file *f, const struct mr_model *t)
{
	lazy_init(wn, MR_FILE_EXIM_ALIASES, f, t);
	size_t total = 0;
	for (size_t i = 0; i < t->ndomains; i++)
		for (size_t j = 0; j < t->domains[i]->nmailboxes; j++) {
			const struct mr_mailbox *mb = t->domains[i]->mailboxes[j];
			if (mb->aliases.n >= MB_COPY || mb->copy_to.n >= MB_COPY) {
				wanted_release(wn);
				return false;
			}
			total += mb->aliases.n + mb->copy_to.n;
		}
	wn->recs = xmalloc((total ? total : 1) * sizeof(*wn->recs));
	wn->alias = xmalloc((total ? total : 1) * sizeof(*wn->alias));
	for (size_t i = 0; i < t->ndomains; i++) {
		const struct mr_domain *d = t->domains[i];
		for (size_t j = 0; j < d->nmailboxes; j++) {
			const struct mr_mailbox *mb = d->mailboxes[j];
			size_t n = mb->aliases.n + mb->copy_to.n;
			if (n == 0)
				continue;
			size_t slot = mr_strmap_index(&t->mailbox_map, mb->address, strlen(mb->address));
			if (slot == SIZE_MAX) {
				wanted_release(wn);
				return false;
			}
			if (!wn->by_slot[slot]) /* the first of an address, as the list's map keeps */
				wn->by_slot[slot] = (uint32_t)(wn->n + 1);
			for (size_t k = 0; k < n; k++) {
				wn->alias[wn->n] = k < mb->aliases.n ? (uint32_t)k : MB_COPY | (uint32_t)(k - mb->aliases.n);
				wn->recs[wn->n++] = (struct mb_rec){ (uint32_t)i, (uint32_t)j };
			}
		}
	}
	lazy_done(wn);
	return true;
}

/* Whether key is LOCAL@DOMAIN. */
static bool is_at(const char *key, const char *local, const char *domain)
{
	size_t n = strlen(local);
	return strncmp(key, local, n) == 0 && key[n] == '@' && strcmp(key + n + 1, domain) == 0;
}

/* h: the mr_hash() of the line's main address */
static size_t alias_find(struct wanted *wn, const struct mr_line *l, uint64_t h)
{
	const char *main_addr = mr_line_field(l, MR_F_ALIAS_MAIN), *type = mr_line_field(l, MR_F_ALIAS_TYPE);
	if (!main_addr || !type || (strcmp(type, "fwd") != 0 && strcmp(type, "user") != 0))
		return SIZE_MAX;
	size_t slot = mr_strmap_index_hashed(&wn->t->mailbox_map, main_addr, strlen(main_addr), h);
	if (slot == SIZE_MAX || !wn->by_slot[slot])
		return SIZE_MAX;
	size_t base = wn->by_slot[slot] - 1;
	const struct mr_mailbox *mb = rec_mailbox(wn, base);
	if (type[0] == 'f') {
		const struct mr_domain *d = rec_domain(wn, base);
		for (size_t k = 0; k < mb->aliases.n; k++)
			if (is_at(mr_line_key(l), mb->aliases.v[k].s, d->name))
				return base + k;
	} else {
		for (size_t k = 0; k < mb->copy_to.n; k++)
			if (strcmp(mr_line_key(l), mb->copy_to.v[k].s) == 0)
				return base + mb->aliases.n + k;
	}
	return SIZE_MAX;
}

static void wanted_release(struct wanted *wn)
{
	free(wn->used);
	mr_strmap_release(&wn->wmap);
	mr_arena_release(&wn->tmp);
	free(wn->recs);
	free(wn->alias);
	free(wn->by_slot);
	mr_strmap_release(&wn->strays);
	mr_arena_release(&wn->scratch);
}

/* The number of the record wanted under a live record's key, or SIZE_MAX; h: the mr_hash()
 * of find_key(), for a lazy one. */
static size_t wanted_find(struct wanted *wn, const struct mr_codec_file *live, const struct mr_line *l, uint64_t h)
{
	size_t len;
	if (!wn->lazy) {
		const char *k = merge_key(&wn->tmp, live, l, &len);
		uintptr_t v = (uintptr_t)mr_strmap_get(&wn->wmap, k, len);
		return v ? v - 1 : SIZE_MAX;
	}
	if (wn->id == MR_FILE_EXIM_ALIASES)
		return alias_find(wn, l, h);
	len = strlen(mr_line_key(l));
	size_t slot = mr_strmap_index_hashed(&wn->t->mailbox_map, mr_line_key(l), len, h);
	if (slot != SIZE_MAX && wn->by_slot[slot])
		return wn->by_slot[slot] - 1;
	uintptr_t v = wn->strays.count ? (uintptr_t)mr_strmap_get_hashed(&wn->strays, mr_line_key(l), len, h) : 0;
	return v ? v - 1 : SIZE_MAX;
}

/* What a lazy one looks a live line up by in the target's mailbox map: the aliases file, its
 * main address; the mailbox files, its key.  NULL: nothing. */
static const char *find_key(const struct wanted *wn, const struct mr_line *l)
{
	return wn->id == MR_FILE_EXIM_ALIASES ? mr_line_field(l, MR_F_ALIAS_MAIN) : mr_line_key(l);
}

/* Record k; a lazy one is good until the next call.  h: the mr_hash() of its address (a
 * mailbox file's record), or NULL. */
static const struct mr_line *wanted_line(struct wanted *wn, size_t k, const uint64_t *h)
{
	if (!wn->lazy)
		return &wn->w->f.lines[k];
	const struct mr_domain *d = rec_domain(wn, k);
	const struct mr_mailbox *mb = rec_mailbox(wn, k);
	mr_arena_rewind(&wn->scratch, wn->clean);
	if (wn->id == MR_FILE_EXIM_ALIASES) {
		bool copy = wn->alias[k] & MB_COPY;
		uint32_t i = wn->alias[k] & ~MB_COPY;
		const char *key = copy ? mb->copy_to.v[i].s : mr_arena_printf(&wn->scratch, "%s@%s", mb->aliases.v[i].s, d->name);
		record(&wn->cur, wn->f, &wn->scratch, key);
		wn->cur.nf = 2;
		mr_line_set_field(&wn->cur, MR_F_ALIAS_MAIN, mb->address, &wn->scratch);
		mr_line_set_field(&wn->cur, MR_F_ALIAS_TYPE, copy ? "user" : "fwd", &wn->scratch);
		return &wn->cur;
	}
	if (wn->dc.d != d)
		dom_ctx(&wn->dc, wn->t, wn->in, d);
	if (wn->id == MR_FILE_EXIM_PASSWD)
		passwd_line(&wn->cur, wn->f, &wn->scratch, wn->in, d, wn->dc.udis, mb, h);
	else
		dovecot_line(&wn->cur, wn->f, &wn->scratch, wn->in, wn->hashes, &wn->dc, mb, h, &wn->at_apply);
	return &wn->cur;
}

/*
 * One pass of the merge of the live file with the wanted records, counting what is added,
 * changed and removed, and writing the new file to out when it is given.  Without out
 * nothing is copied and no record is made that no live record asks for: a file with
 * nothing to change (every file of a no-op plan) costs one walk and no buffer.
 */
static struct merge_count merge_pass(const struct mr_codec_file *live, struct wanted *wn, enum mr_file_id id,
				     struct sink *out)
{
	size_t added = 0, changed = 0, removed = 0, taken = 0;
	bool shared = live->codec->flags & MR_CODEC_SHARED;
	bool *used = wn->used;
	/* a lazy one looks each line up in the target's map (find_key), then the mailbox files
	 * the record's address in the live one: both slots are fetched a few lines ahead, with
	 * one hash */
	bool by_address = wn->lazy && wn->id != MR_FILE_EXIM_ALIASES;
	const struct mr_strmap *tmap = wn->lazy ? &wn->t->mailbox_map : NULL;
	const struct mr_strmap *lmap = by_address ? &wn->in->live->model.mailbox_map : NULL;
	struct mr_strmap_ahead ahead = MR_STRMAP_AHEAD_INIT;
	for (size_t i = 0; i < live->nlines; i++) {
		const struct mr_line *l = &live->lines[i];
		if (wn->lazy && i + MR_STRMAP_AHEAD < live->nlines) {
			const struct mr_line *n = l + MR_STRMAP_AHEAD;
			const char *nk = owned(live, n) ? find_key(wn, n) : NULL;
			if (nk)
				mr_strmap_ahead(&ahead, i + MR_STRMAP_AHEAD, tmap, lmap, nk, strlen(nk));
		}
		if (wn->lazy && i + MR_STRMAP_AHEAD / 2 < live->nlines) {
			/* half way: the slots are in, fetch what they lead to */
			const struct mr_line *n = l + MR_STRMAP_AHEAD / 2;
			const char *nk = owned(live, n) ? find_key(wn, n) : NULL;
			size_t s = nk ? mr_strmap_ahead_peek(&ahead, i + MR_STRMAP_AHEAD / 2, tmap, nk) : SIZE_MAX;
			if (s != SIZE_MAX)
				__builtin_prefetch(&wn->by_slot[s]);
			s = nk && lmap ? mr_strmap_ahead_peek(&ahead, i + MR_STRMAP_AHEAD / 2, lmap, nk) : SIZE_MAX;
			if (s != SIZE_MAX)
				__builtin_prefetch(lmap->slots[s].value);
		}
		if (shared && l->kind == MR_LINE_END) {
			/* the rest of the block goes before its end marker */
			for (size_t j = 0; j < wn->n; j++)
				if (!used[j]) {
					if (out)
						push(out, wanted_line(wn, j, NULL));
					used[j] = true;
					taken++;
					added++;
				}
		}
		if (!owned(live, l)) {
			push(out, l);
			continue;
		}
		const char *fk = wn->lazy ? find_key(wn, l) : NULL;
		uint64_t h = fk ? mr_strmap_ahead_hash(&ahead, i, fk, strlen(fk)) : 0;
		size_t k = wanted_find(wn, live, l, h);
		if (k == SIZE_MAX || used[k]) {
			removed++;
			continue;
		}
		used[k] = true;
		taken++;
		const struct mr_line *wl = wanted_line(wn, k, by_address ? &h : NULL);
		if (same_record(id, live, l, live, wl)) {
			push(out, l);
		} else {
			push(out, wl);
			changed++;
		}
	}
	if (taken < wn->n) {
		struct mr_line begin = { .kind = MR_LINE_BEGIN }, end = { .kind = MR_LINE_END };
		if (shared)
			push(out, &begin);
		for (size_t j = 0; j < wn->n; j++)
			if (!used[j]) {
				if (out)
					push(out, wanted_line(wn, j, NULL));
				added++;
			}
		if (shared)
			push(out, &end);
	}
	return (struct merge_count){ added, changed, removed };
}

/* A managed file's change, made on either thread, appended to the plan in file order. */
struct merged {
	bool differs;
	struct mr_file_change fc; /* all but path */
};

static void merge_file(struct merged *res, const struct mr_live_file *lf, struct wanted *wn, enum mr_file_id id,
		       bool keep_content)
{
	const struct mr_codec_file *live = &lf->cf;
	struct merge_count n = merge_pass(live, wn, id, NULL);
	size_t added = n.added, changed = n.changed, removed = n.removed;
	/* an absent file is made only when it has lines: the new content decides */
	bool differs = added || changed || removed;
	struct sink out = { .codec_file = live, .bytes = MR_BUF_INIT, .measure_only = !keep_content };
	if (differs || !lf->exists) {
		memset(wn->used, 0, (wn->n ? wn->n : 1) * sizeof(*wn->used));
		merge_pass(live, wn, id, &out);
		if (!lf->exists)
			differs = out.len > 0;
	}
	res->differs = differs;
	if (differs) {
		struct mr_file_change *fc = &res->fc;
		memset(fc, 0, sizeof(*fc));
		fc->create = !lf->exists;
		fc->at_apply = wn->at_apply && (id == MR_FILE_DOVECOT_PASSWD);
		fc->blocked = live->nbad > 0;
		fc->added = added;
		fc->changed = changed;
		fc->removed = removed;
		fc->len = out.len;
		fc->content = keep_content ? mr_buf_detach(&out.bytes) : NULL;
		fc->file_id = (int)id;
	}
	mr_buf_release(&out.bytes);
}

static void key_file(struct mr_plan *p, const char *path, bool create, bool remove)
{
	p->files = xgrow(p->files, sizeof(*p->files), p->nfiles + 1, &p->fcap);
	struct mr_file_change *fc = &p->files[p->nfiles++];
	memset(fc, 0, sizeof(*fc));
	fc->path = mr_arena_strdup(&p->arena, path);
	fc->create = create;
	fc->remove = remove;
	fc->at_apply = !remove;
	fc->file_id = MR_FILE_ID_KEY;
}

/* A file mailrecon writes whole (enum mr_conf_id): a change when the live bytes differ. An
 * empty content and an absent file are the same: nothing is created for nothing. */
static void conf_file(struct mr_plan *p, enum mr_conf_id id, struct mr_buf *b, const struct mr_plan_input *in)
{
	const char *live = in->live->conf[id];
	bool same = live ? in->live->conf_len[id] == b->len && memcmp(live, b->ptr ? b->ptr : "", b->len) == 0
			 : b->len == 0;
	if (!same) {
		p->files = xgrow(p->files, sizeof(*p->files), p->nfiles + 1, &p->fcap);
		struct mr_file_change *fc = &p->files[p->nfiles++];
		memset(fc, 0, sizeof(*fc));
		fc->path = mr_conf_path(id, in->live->layout);
		fc->create = !live;
		fc->file_id = MR_FILE_ID_CONFIG;
		fc->conf_id = (int)id;
		fc->len = b->len;
		fc->content = b->ptr ? mr_buf_detach(b) : xstrdup("");
	}
	mr_buf_release(b);
}

/* The certificate of each TLS server name, from the target model: Dovecot's SNI include
 * (local_name blocks) and Exim's map (NAME: DOMAIN, read by contrib/exim4/exim4.conf to
 * pick ssl/DOMAIN.crt). Exim's map has the domain's own name and its alias; a name already
 * taken by an earlier domain is not repeated (lsearch would read the first anyway). */
static void sni_files(struct mr_plan *p, const struct mr_model *t, const struct mr_plan_input *in)
{
	struct mr_buf dov = MR_BUF_INIT, exim = MR_BUF_INIT;
	struct mr_strmap seen = MR_STRMAP_INIT;
	for (size_t i = 0; i < t->ndomains; i++) {
		const struct mr_domain *d = t->domains[i];
		if (!d->ssl.enabled)
			continue;
		if (d->ssl.alias) {
			if (dov.len == 0)
				mr_buf_adds(&dov, "# Managed by mailrecon: Dovecot's certificate per server name (SNI).\n"
						  "# Rewritten on every apply that changes a certificate; do not edit.\n");
			mr_buf_addf(&dov, "local_name %s {\n  ssl_cert = </etc/dovecot/certs/%s.crt\n  ssl_key = </etc/dovecot/certs/%s.key\n}\n",
				    d->ssl.alias, d->name, d->name);
		}
		const char *names[2] = { d->name, d->ssl.alias };
		for (int k = 0; k < 2; k++) {
			if (!names[k] || mr_strmap_put_new(&seen, names[k], strlen(names[k]), (void *)d))
				continue;
			if (exim.len == 0)
				mr_buf_adds(&exim, "# Managed by mailrecon: Exim's certificate per server name (SNI).\n"
						   "# NAME: DOMAIN means ssl/DOMAIN.crt and ssl/DOMAIN.key. Rewritten on every apply\n"
						   "# that changes a certificate; do not edit.\n");
			mr_buf_addf(&exim, "%s: %s\n", names[k], d->name);
		}
	}
	mr_strmap_release(&seen);
	conf_file(p, MR_CONF_DOVECOT_SNI, &dov, in);
	conf_file(p, MR_CONF_EXIM_SNI, &exim, in);
}

/* DKIM keys and certificates: made or copied at apply, never in a plan.  A DKIM rotation
 * also writes STATE_DIR/dkim (codec/dkim_state.h). */
static void key_files(struct mr_plan *p, const struct mr_model *t, const struct mr_plan_input *in)
{
	const char *ssl = in->live->layout == MR_LAYOUT_RHEL ? "/etc/exim/ssl" : "/etc/exim4/ssl";
	const char *sd = in->state_dir ? in->state_dir : "/var/lib/mailrecon";
	int64_t now = in->now ? in->now : (int64_t)time(NULL);
	for (size_t i = 0; i < p->nchanges; i++) {
		const struct mr_change *c = &p->changes[i];
		if (c->object != MR_OBJ_DKIM && c->object != MR_OBJ_CERT)
			continue;
		bool create = c->action == MR_CHANGE_CREATE, remove = c->action == MR_CHANGE_DELETE;
		if (c->object == MR_OBJ_DKIM) {
			const struct mr_domain *ld = mr_model_domain(&in->live->model, c->id), *td = mr_model_domain(t, c->id);
			enum mr_dkim_step step = mr_dkim_plan_step(in, ld, td);
			bool pending = ld && ld->dkim.pending_selector;
			static const char *const ext[] = { ".private", ".txt" };
			for (int e = 0; e < 2; e++) {
				const char *sp = mr_arena_printf(&p->arena, "%s/" MR_DKIM_STATE_DIR "/%s%s", sd, c->id, ext[e]);
				if (step == MR_DKIM_CREATE || step == MR_DKIM_DELETE || step == MR_DKIM_SWITCH || step == MR_DKIM_REPLACE)
					key_file(p, mr_arena_printf(&p->arena, "%s/%s%s", ssl, c->id, ext[e]), create, remove);
				if (step == MR_DKIM_STAGE)
					key_file(p, sp, !pending, false);
				else if (pending && step != MR_DKIM_KEEP && step != MR_DKIM_WAIT)
					key_file(p, sp, false, true);
			}
			if (step == MR_DKIM_SWITCH)
				key_file(p, mr_arena_printf(&p->arena, "%s/" MR_DKIM_STATE_DIR "/%s.retired", sd, c->id),
					 !ld->dkim.retired_selector, false);
			else if (mr_dkim_retired_expired(ld, td, now))
				key_file(p, mr_arena_printf(&p->arena, "%s/" MR_DKIM_STATE_DIR "/%s.retired", sd, c->id), false,
					 true);
		} else if (mr_change_server_cert(c)) {
			/* Exim's default pair and Dovecot's copy of it */
			for (int w = mr_change_cert_copy_only(c) ? MR_SRVCERT_DOVECOT_CRT : 0; w < MR_SRVCERT_COUNT; w++)
				key_file(p, mr_srvcert_path((enum mr_srvcert)w, in->live->layout), !in->live->srvcert_exists[w],
					 false);
		} else {
			static const char *const ext[] = { ".crt", ".key" };
			for (int e = 0; e < 2; e++) {
				key_file(p, mr_arena_printf(&p->arena, "%s/%s%s", ssl, c->id, ext[e]), create, remove);
				key_file(p, mr_arena_printf(&p->arena, "/etc/dovecot/certs/%s%s", c->id, ext[e]), create, remove);
			}
		}
	}
}

/*
 * The managed files are independent of each other and of the Mail flow (flow.c): two
 * threads take them in turn, reading the models, the live files and the hashes and writing
 * only their own want and result (the flow: only its part of the plan).  The results go
 * into the plan in file order, so the plan is the same whatever thread made which.
 *
 * Two jobs at a time, not a third thread for the flow: the machine this is timed on has two
 * cores, and each job's temporaries (a mailbox file's records, the registry's list, the
 * flow's alias map) are a few MiB at 100,000 mailboxes, so a third at once only raised the
 * peak.  The longest first, so that both threads end together, and so that the flow's map
 * of aliases is gone before the registry's list is made: in a no-op plan of 100,000
 * mailboxes dovecot.passwd took ~40% of the jobs' time, the flow ~30%, exim4/passwd and
 * aliases ~15% and ~10%, the registry and the small files the rest.
 */
#define JOB_FLOW MR_FILE_COUNT
static const int job_order[] = {
	MR_FILE_DOVECOT_PASSWD, JOB_FLOW,         MR_FILE_EXIM_PASSWD,    MR_FILE_EXIM_ALIASES,
	MR_FILE_REGISTRY,       MR_FILE_EXIM_DOMAINS, MR_FILE_POSTGREY, MR_FILE_SPAMASSASSIN,
	MR_FILE_EXIM_RATELIMITS, MR_FILE_EXIM_DOMAINIPS, MR_FILE_CLAMAV,
};
_Static_assert(sizeof(job_order) / sizeof(job_order[0]) == MR_FILE_COUNT + 1, "every file and the flow, once");

struct files_job {
	struct mr_plan *p; /* the flow's part only, while the workers run */
	const struct mr_model *t;
	const struct mr_plan_input *in;
	struct mr_strmap *hashes; /* read only here */
	atomic_size_t next;
	struct merged res[MR_FILE_COUNT];
};

static void plan_file(struct files_job *j, size_t id);

static void *files_worker(void *arg)
{
	struct files_job *j = arg;
	for (size_t k; (k = atomic_fetch_add(&j->next, 1)) < sizeof(job_order) / sizeof(job_order[0]);) {
		if (job_order[k] != JOB_FLOW)
			plan_file(j, (size_t)job_order[k]);
		else if (!j->in->no_flow)
			mr_plan_flow(j->p, &j->in->live->model, j->t);
	}
	return NULL;
}

void mr_plan_files(struct mr_plan *p, const struct mr_model *t, const struct mr_plan_input *in,
		   struct mr_strmap *hashes)
{
	struct files_job *j = xcalloc(1, sizeof(*j));
	j->p = p;
	j->t = t;
	j->in = in;
	j->hashes = hashes;
	atomic_init(&j->next, 0);
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, files_worker, j) == 0;
	files_worker(j);
	if (threaded)
		pthread_join(th, NULL);
	for (size_t id = 0; id < MR_FILE_COUNT; id++) {
		if (!j->res[id].differs)
			continue;
		p->files = xgrow(p->files, sizeof(*p->files), p->nfiles + 1, &p->fcap);
		struct mr_file_change *fc = &p->files[p->nfiles++];
		*fc = j->res[id].fc;
		fc->path = mr_arena_strdup(&p->arena, in->live->files[id].cf.path);
	}
	free(j);
	key_files(p, t, in);
	sni_files(p, t, in);
}

static void plan_file(struct files_job *j, size_t id)
{
	const struct mr_model *t = j->t;
	const struct mr_plan_input *in = j->in;
	struct mr_strmap *hashes = j->hashes;
	const struct mr_live_file *lf = &in->live->files[id];
	struct wanted wn;
	bool lazy = false;
	if (id == MR_FILE_EXIM_PASSWD || id == MR_FILE_DOVECOT_PASSWD) {
		wanted_mailboxes(&wn, (enum mr_file_id)id, &lf->cf, t, in, hashes);
		lazy = true;
	} else if (id == MR_FILE_EXIM_ALIASES) {
		lazy = wanted_aliases(&wn, &lf->cf, t);
	}
	if (lazy) {
		merge_file(&j->res[id], lf, &wn, (enum mr_file_id)id, !in->no_content);
		wanted_release(&wn);
		return;
	}
	struct want w;
	memset(&w, 0, sizeof(w));
	mr_codec_file_init(&w.f, lf->cf.codec, lf->cf.path);
	switch ((enum mr_file_id)id) {
	case MR_FILE_EXIM_ALIASES:
		want_aliases(&w, t);
		break;
	case MR_FILE_EXIM_RATELIMITS:
		want_ratelimits(&w, t);
		break;
	case MR_FILE_EXIM_DOMAINS:
		want_domains(&w, t);
		break;
	case MR_FILE_EXIM_DOMAINIPS:
		want_domainips(&w, t);
		break;
	case MR_FILE_POSTGREY:
	case MR_FILE_SPAMASSASSIN:
	case MR_FILE_CLAMAV:
		want_whitelist(&w, t, (enum mr_file_id)id);
		break;
	case MR_FILE_REGISTRY:
		want_registry(&w, t, in);
		break;
	default:
		break;
	}
	wanted_list(&wn, &w);
	merge_file(&j->res[id], lf, &wn, (enum mr_file_id)id, !in->no_content);
	wanted_release(&wn);
	mr_codec_file_release(&w.f);
}
