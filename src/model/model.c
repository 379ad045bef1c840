#include "model/model.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/rootfs.h"
#include "util/xalloc.h"

static const char *const role_names[] = { "user", "reseller", "admin" };
static const char *const account_names[] = { "existing", "create" };
static const char *const action_names[] = { "reject", "discard", "forward", "redirect_domain" };
static const char *const scheme_names[] = { "SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "CRAM-MD5" };

const char *mr_role_name(enum mr_role r) { return role_names[r]; }
const char *mr_account_name(enum mr_account a) { return account_names[a]; }
const char *mr_action_name(enum mr_action a) { return action_names[a]; }
const char *mr_scheme_name(enum mr_scheme s) { return scheme_names[s]; }

void mr_server_defaults(struct mr_server *s)
{
	memset(s, 0, sizeof(*s));
	s->password_scheme = MR_SCHEME_SHA512_CRYPT;
	s->rate_per_hour = MR_UNSET;
	s->dkim_grace = MR_DKIM_GRACE_DEFAULT;
}

void mr_model_init(struct mr_model *m)
{
	memset(m, 0, sizeof(*m));
	mr_server_defaults(&m->server);
}

void mr_model_release(struct mr_model *m)
{
	for (size_t i = 0; i < m->nsrcdirs; i++)
		mr_root_close(&m->srcdirs[i]->held);
	free(m->srcdirs);
	for (size_t i = 0; i < m->ndomains; i++)
		free(m->domains[i]->mailboxes);
	free(m->users);
	free(m->domains);
	mr_strmap_release(&m->user_map);
	mr_strmap_release(&m->domain_map);
	mr_strmap_release(&m->mailbox_map);
	mr_strmap_release(&m->elsewhere);
	mr_arena_release(&m->arena);
	mr_arena_release(&m->hashes);
	memset(m, 0, sizeof(*m));
}

const struct mr_srcdir *mr_model_srcdir(struct mr_model *m, const char *path, struct mr_root *held)
{
	struct stat st = { 0 };
	if (held && mr_root_lstat(held, "/", &st) < 0)
		st.st_ino = 0; /* nothing matches it: a read below it is refused (load/secret.c) */
	for (size_t i = 0; i < m->nsrcdirs; i++) {
		struct mr_srcdir *d = m->srcdirs[i];
		if (strcmp(d->path, path) == 0 && !d->held == !held &&
		    (!held || (st.st_ino && d->dev == (uint64_t)st.st_dev && d->ino == (uint64_t)st.st_ino))) {
			mr_root_close(&held);
			return d;
		}
	}
	struct mr_srcdir *d = mr_arena_zalloc(&m->arena, sizeof(*d));
	d->path = mr_model_str(m, path, strlen(path));
	d->held = held;
	d->dev = (uint64_t)st.st_dev;
	d->ino = (uint64_t)st.st_ino;
	m->srcdirs = xgrow(m->srcdirs, sizeof(*m->srcdirs), m->nsrcdirs + 1, &m->srcdirs_cap);
	m->srcdirs[m->nsrcdirs++] = d;
	return d;
}

const char *mr_model_str(struct mr_model *m, const char *s, size_t len)
{
	return mr_arena_strndup(&m->arena, s, len);
}

const char *mr_model_hash_str(struct mr_model *m, const char *s, size_t len)
{
	return mr_arena_strndup(&m->hashes, s, len);
}

const char *mr_model_mailbox_hash(struct mr_model *m, const char *address, const char *s, size_t len)
{
	const char *h = m->hash_from ? m->hash_from(m->hash_from_ctx, address, s) : NULL;
	return h ? h : mr_model_hash_str(m, s, len);
}

const char *mr_model_same_hash(const struct mr_model *m, const char *address, const char *hash)
{
	const struct mr_mailbox *o = mr_model_mailbox(m, address);
	return o && o->password_kind == MR_PASSWORD_HASH && o->password.value && strcmp(o->password.value, hash) == 0
		       ? o->password.value
		       : NULL;
}

size_t mr_model_share_hashes(struct mr_model *m, const struct mr_model *from)
{
	struct mr_arena kept = MR_ARENA_INIT;
	size_t shared = 0;
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		for (size_t j = 0; j < d->nmailboxes; j++) {
			struct mr_mailbox *mb = d->mailboxes[j];
			if (mb->password_kind != MR_PASSWORD_HASH || !mb->password.value)
				continue;
			const char *same = mr_model_same_hash(from, mb->address, mb->password.value);
			if (same) {
				mb->password.value = same;
				shared++;
			} else {
				mb->password.value = mr_arena_strdup(&kept, mb->password.value);
			}
		}
	}
	mr_arena_release(&m->hashes);
	m->hashes = kept;
	return shared;
}

struct mr_item *mr_model_items(struct mr_model *m, size_t n)
{
	return mr_arena_zalloc(&m->arena, n * sizeof(struct mr_item));
}

struct mr_user *mr_model_add_user(struct mr_model *m, const char *name, struct mr_loc loc,
				  struct mr_user **existing)
{
	return mr_model_add_user_borrowed(m, mr_model_str(m, name, strlen(name)), loc, existing);
}

struct mr_user *mr_model_add_user_borrowed(struct mr_model *m, const char *name, struct mr_loc loc,
					   struct mr_user **existing)
{
	struct mr_user *u = mr_arena_zalloc(&m->arena, sizeof(*u));
	u->name = name;
	struct mr_user *old = mr_strmap_put_new(&m->user_map, name, strlen(name), u);
	if (old) {
		*existing = old;
		return NULL;
	}
	u->loc = loc;
	u->role = MR_ROLE_USER;
	u->account = MR_ACCOUNT_EXISTING;
	u->limits.mail_domains = u->limits.mailboxes = u->limits.rate_per_hour = MR_UNSET;
	m->users = xgrow(m->users, sizeof(*m->users), m->nusers + 1, &m->users_cap);
	m->users[m->nusers++] = u;
	return u;
}

struct mr_domain *mr_model_add_domain(struct mr_model *m, const char *name, struct mr_loc loc,
				      struct mr_domain **existing)
{
	return mr_model_add_domain_borrowed(m, mr_model_str(m, name, strlen(name)), loc, existing);
}

struct mr_domain *mr_model_add_domain_borrowed(struct mr_model *m, const char *name, struct mr_loc loc,
					       struct mr_domain **existing)
{
	struct mr_domain *d = mr_arena_zalloc(&m->arena, sizeof(*d));
	d->name = name;
	struct mr_domain *old = mr_strmap_put_new(&m->domain_map, name, strlen(name), d);
	if (old) {
		*existing = old;
		return NULL;
	}
	d->loc = loc;
	d->action = MR_ACTION_REJECT;
	d->greylisting = d->spamassassin = d->antivirus = true;
	m->domains = xgrow(m->domains, sizeof(*m->domains), m->ndomains + 1, &m->domains_cap);
	m->domains[m->ndomains++] = d;
	return d;
}

void mr_model_reindex(struct mr_model *m)
{
	mr_strmap_release(&m->user_map);
	mr_strmap_release(&m->domain_map);
	mr_strmap_release(&m->mailbox_map);
	size_t nmb = 0;
	for (size_t i = 0; i < m->ndomains; i++)
		nmb += m->domains[i]->nmailboxes;
	mr_strmap_reserve(&m->user_map, m->nusers);
	mr_strmap_reserve(&m->domain_map, m->ndomains);
	mr_strmap_reserve(&m->mailbox_map, nmb);
	for (size_t i = 0; i < m->nusers; i++)
		mr_strmap_put_new(&m->user_map, m->users[i]->name, strlen(m->users[i]->name), m->users[i]);
	for (size_t i = 0; i < m->ndomains; i++) {
		struct mr_domain *d = m->domains[i];
		mr_strmap_put_new(&m->domain_map, d->name, strlen(d->name), d);
	}
	mr_model_put_mailboxes(m);
}

/* The mailbox after *i, *j in the model's order, the cursor moved past it; NULL: none. */
static struct mr_mailbox *next_mailbox(const struct mr_model *m, size_t *i, size_t *j)
{
	for (; *i < m->ndomains; ++*i, *j = 0)
		if (*j < m->domains[*i]->nmailboxes)
			return m->domains[*i]->mailboxes[(*j)++];
	return NULL;
}

void mr_model_put_mailboxes(struct mr_model *m)
{
	/* a cursor MR_STRMAP_AHEAD mailboxes ahead fetches the slots (util/strmap.h) */
	struct mr_strmap_ahead a = MR_STRMAP_AHEAD_INIT;
	size_t ai = 0, aj = 0, ahead = 0, pos = 0;
	for (size_t i = 0, j = 0;; pos++) {
		for (const struct mr_mailbox *n; ahead < pos + MR_STRMAP_AHEAD && (n = next_mailbox(m, &ai, &aj)); ahead++)
			mr_strmap_ahead(&a, ahead, &m->mailbox_map, NULL, n->address, strlen(n->address));
		struct mr_mailbox *mb = next_mailbox(m, &i, &j);
		if (!mb)
			break;
		size_t len = strlen(mb->address);
		mr_strmap_put_new_hashed(&m->mailbox_map, mb->address, len, mb, mr_strmap_ahead_hash(&a, pos, mb->address, len));
	}
}

void mr_model_drop_domains(struct mr_model *m, size_t n)
{
	if (n >= m->ndomains)
		return;
	for (size_t i = n; i < m->ndomains; i++)
		free(m->domains[i]->mailboxes);
	m->ndomains = n;
	mr_model_reindex(m); /* the maps have no removal (a failure path only) */
}

/* A new mailbox name@d->name (address, alen bytes), both kept as they are; a live model's
 * has its live part in the same block.  NULL with *existing set when the address is taken
 * (the block stays unused in the arena: callers that look first never get there). */
static struct mr_mailbox *new_mailbox(struct mr_model *m, struct mr_domain *d, const char *name,
				      const char *address, size_t alen, uint64_t h, struct mr_loc loc,
				      struct mr_mailbox **existing)
{
	struct mr_mailbox *mb;
	if (m->live) {
		struct mr_mailbox_with_live *x = mr_arena_zalloc(&m->arena, sizeof(*x));
		mb = &x->mb;
		mb->has_live = true;
		x->live.uid = x->live.gid = MR_ID_UNSET;
	} else {
		mb = mr_arena_zalloc(&m->arena, sizeof(*mb));
	}
	struct mr_mailbox *old = mr_strmap_put_new_hashed(&m->mailbox_map, address, alen, mb, h);
	if (old) {
		*existing = old;
		return NULL;
	}
	mb->address = address;
	mb->name = name;
	mb->loc = loc;
	mb->domain = d;
	mb->keep_copy = true;
	mb->rate_per_hour = MR_UNSET;
	mb->greylisting = mb->spamassassin = true;
	d->mailboxes = xgrow(d->mailboxes, sizeof(*d->mailboxes), d->nmailboxes + 1, &d->mailboxes_cap);
	d->mailboxes[d->nmailboxes++] = mb;
	return mb;
}

/* name@domain in small (size bytes) or in a new block; the caller frees one that is not small. */
static char *join_address(const char *name, size_t nl, const char *domain, size_t dl, char *small, size_t size)
{
	char *probe = nl + dl + 2 <= size ? small : xmalloc(nl + dl + 2);
	memcpy(probe, name, nl);
	probe[nl] = '@';
	memcpy(probe + nl + 1, domain, dl + 1);
	return probe;
}

/* mr_domain_add_mailbox(); h: the address's mr_hash(), or NULL */
static struct mr_mailbox *add_mailbox(struct mr_model *m, struct mr_domain *d, const char *name, struct mr_loc loc,
				      struct mr_mailbox **existing, const uint64_t *h)
{
	size_t nl = strlen(name), dl = strlen(d->name);
	/* look the address up before allocating anything: callers add the same mailbox from
	 * several files, and most calls on a big live server find it there already */
	char small[256], *probe = join_address(name, nl, d->name, dl, small, sizeof(small));
	uint64_t hash = h ? *h : mr_hash(probe, nl + 1 + dl);
	struct mr_mailbox *old = mr_strmap_get_hashed(&m->mailbox_map, probe, nl + 1 + dl, hash);
	if (probe != small)
		free(probe);
	if (old) {
		*existing = old;
		return NULL;
	}
	char *addr = mr_arena_alloc(&m->arena, nl + 1 + dl + 1);
	memcpy(addr, name, nl);
	addr[nl] = '@';
	memcpy(addr + nl + 1, d->name, dl + 1);
	return new_mailbox(m, d, mr_model_str(m, name, nl), addr, nl + 1 + dl, hash, loc, existing);
}

struct mr_mailbox *mr_domain_add_mailbox(struct mr_model *m, struct mr_domain *d, const char *name,
					 struct mr_loc loc, struct mr_mailbox **existing)
{
	return add_mailbox(m, d, name, loc, existing, NULL);
}

void mr_domain_mailbox_ahead(const struct mr_model *m, const struct mr_domain *d, const char *name,
			     struct mr_strmap_ahead *a, size_t i)
{
	size_t nl = strlen(name), dl = strlen(d->name);
	char small[256], *probe = join_address(name, nl, d->name, dl, small, sizeof(small));
	/* kept under name, the string the add is given */
	mr_strmap_ahead(a, i, &m->mailbox_map, NULL, probe, nl + 1 + dl);
	mr_strmap_ahead_rekey(a, i, name);
	if (probe != small)
		free(probe);
}

struct mr_mailbox *mr_domain_add_mailbox_ahead(struct mr_model *m, struct mr_domain *d, const char *name,
					       struct mr_loc loc, struct mr_mailbox **existing,
					       const struct mr_strmap_ahead *a, size_t i)
{
	return add_mailbox(m, d, name, loc, existing, mr_strmap_ahead_for(a, i, name));
}

struct mr_mailbox *mr_domain_add_mailbox_borrowed(struct mr_model *m, struct mr_domain *d, const char *name,
						  const char *address, struct mr_loc loc,
						  struct mr_mailbox **existing)
{
	size_t nl = strlen(name), alen = strlen(address);
	assert(alen == nl + 1 + strlen(d->name) && memcmp(address, name, nl) == 0 && address[nl] == '@' &&
	       strcmp(address + nl + 1, d->name) == 0);
	(void)nl;
	/* one probe of the map: the live codec has looked the address up already */
	return new_mailbox(m, d, name, address, alen, mr_hash(address, alen), loc, existing);
}

struct mr_mailbox_cold *mr_mailbox_cold(struct mr_model *m, struct mr_mailbox *mb)
{
	if (!mb->cold)
		mb->cold = mr_arena_zalloc(&m->arena, sizeof(*mb->cold)); /* zero: NULL and MR_LOC_NONE */
	return mb->cold;
}

struct mr_mailbox *mr_mailbox_copy(struct mr_model *m, const struct mr_mailbox *mb)
{
	struct mr_mailbox *x;
	if (mb->has_live) {
		struct mr_mailbox_with_live *w = mr_arena_alloc(&m->arena, sizeof(*w));
		*w = *(const struct mr_mailbox_with_live *)mb;
		x = &w->mb;
	} else {
		x = mr_arena_alloc(&m->arena, sizeof(*x));
		*x = *mb;
	}
	if (mb->cold) {
		x->cold = mr_arena_alloc(&m->arena, sizeof(*x->cold));
		*x->cold = *mb->cold;
	}
	return x;
}

struct mr_user *mr_model_user(const struct mr_model *m, const char *name)
{
	return mr_strmap_get(&m->user_map, name, strlen(name));
}

struct mr_domain *mr_model_domain(const struct mr_model *m, const char *name)
{
	return mr_strmap_get(&m->domain_map, name, strlen(name));
}

struct mr_mailbox *mr_model_mailbox(const struct mr_model *m, const char *address)
{
	return mr_strmap_get(&m->mailbox_map, address, strlen(address));
}

static int cmp_user(const void *a, const void *b)
{
	return strcmp((*(struct mr_user *const *)a)->name, (*(struct mr_user *const *)b)->name);
}

static int cmp_domain(const void *a, const void *b)
{
	return strcmp((*(struct mr_domain *const *)a)->name, (*(struct mr_domain *const *)b)->name);
}

static int cmp_mailbox(const void *a, const void *b)
{
	return strcmp((*(struct mr_mailbox *const *)a)->name, (*(struct mr_mailbox *const *)b)->name);
}

/* qsort's array must not be NULL, even for zero elements */
void mr_model_sort_top(struct mr_model *m)
{
	if (m->nusers > 1)
		qsort(m->users, m->nusers, sizeof(*m->users), cmp_user);
	if (m->ndomains > 1)
		qsort(m->domains, m->ndomains, sizeof(*m->domains), cmp_domain);
}

void mr_domain_sort_mailboxes(struct mr_domain *d)
{
	if (d->nmailboxes > 1)
		qsort(d->mailboxes, d->nmailboxes, sizeof(*d->mailboxes), cmp_mailbox);
}

void mr_model_sort(struct mr_model *m)
{
	mr_model_sort_top(m);
	for (size_t i = 0; i < m->ndomains; i++)
		mr_domain_sort_mailboxes(m->domains[i]);
}

size_t mr_model_count_mailboxes(const struct mr_model *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->ndomains; i++)
		n += m->domains[i]->nmailboxes;
	return n;
}
