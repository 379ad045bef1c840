/*
 * The rules of design section 2 that need the whole desired state: references between
 * users and domains, limits, aliases across mailboxes, catch-all targets and loops, and
 * that the secrets a mailbox names can be read.  Syntax was checked while loading.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/keys.h"
#include "crypto/keygen.h"
#include "crypto/pwhash.h"
#include "load/desired.h"
#include "load/secret.h"
#include "model/names.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/strmap.h"
#include "util/strutil.h"
#include "util/xalloc.h"

struct vctx {
	struct mr_model *m;
	struct mr_diags *diags;
	struct mr_root *root;     /* NULL: there is no root (an absolute path cannot be read) */
	bool read_files;          /* false: the files a state names are not read (fuzzing) */
	bool scoped;              /* a --scope run: no absolute path, no environment is read */
	size_t refused;           /* files a --scope file may not name (mr_secret_refused) */
	struct mr_strmap aliases; /* alias@domain -> struct mr_item (the alias) */
	const char *host;         /* a run on this host of a fleet: other hosts' secrets are not read */
};

static void at(struct mr_loc loc, struct mr_buf *b)
{
	mr_buf_reset(b);
	mr_loc_format(loc, b);
}

/* ---- users, owners, limits ----------------------------------------------------------- */

static void check_users(struct vctx *v)
{
	for (size_t i = 0; i < v->m->nusers; i++) {
		struct mr_user *u = v->m->users[i];
		if (!u->reseller)
			continue;
		if (u->role != MR_ROLE_USER) {
			mr_diag_error(v->diags, u->reseller_loc, "user '%s' has role %s: only a user can belong to a reseller",
				      u->name, mr_role_name(u->role));
			continue;
		}
		struct mr_user *r = mr_model_user(v->m, u->reseller);
		if (!r)
			mr_diag_error(v->diags, u->reseller_loc, "reseller '%s' of user '%s' is not declared in users",
				      u->reseller, u->name);
		else if (r->role != MR_ROLE_RESELLER)
			mr_diag_error(v->diags, u->reseller_loc,
				      "'%s' is not a reseller (its role is %s): user '%s' cannot belong to it", r->name,
				      mr_role_name(r->role), u->name);
	}
}

struct counts {
	size_t domains, mailboxes;
};

static void check_owners_and_limits(struct vctx *v)
{
	struct mr_model *m = v->m;
	struct counts *own = xcalloc(m->nusers ? m->nusers : 1, sizeof(*own));
	struct counts *sum = xcalloc(m->nusers ? m->nusers : 1, sizeof(*sum));
	struct mr_strmap index = MR_STRMAP_INIT;
	for (size_t i = 0; i < m->nusers; i++)
		mr_strmap_put_new(&index, m->users[i]->name, strlen(m->users[i]->name), (void *)(i + 1));

	for (size_t i = 0; i < m->ndomains; i++) {
		struct mr_domain *d = m->domains[i];
		if (!d->owner)
			continue; /* reported as missing while loading */
		size_t ui = (size_t)mr_strmap_get(&index, d->owner, strlen(d->owner));
		if (!ui) {
			mr_diag_error(v->diags, d->owner_loc, "owner '%s' of domain '%s' is not declared in users",
				      d->owner, d->name);
			continue;
		}
		struct mr_user *u = m->users[ui - 1];
		if (u->role == MR_ROLE_RESELLER) {
			mr_diag_error(v->diags, d->owner_loc,
				      "owner '%s' of domain '%s' is a reseller: a domain belongs to a user or an admin",
				      d->owner, d->name);
			continue;
		}
		own[ui - 1].domains++;
		own[ui - 1].mailboxes += d->nmailboxes;
		if (u->reseller) {
			size_t ri = (size_t)mr_strmap_get(&index, u->reseller, strlen(u->reseller));
			if (ri) {
				sum[ri - 1].domains++;
				sum[ri - 1].mailboxes += d->nmailboxes;
			}
		}
	}
	for (size_t i = 0; i < m->nusers; i++) {
		struct mr_user *u = m->users[i];
		bool res = u->role == MR_ROLE_RESELLER;
		struct counts c = res ? sum[i] : own[i];
		const char *whose = res ? "the users of reseller" : "user";
		const char *own_verb = res ? "own" : "owns";
		if (u->limits.mail_domains != MR_UNSET && c.domains > (size_t)u->limits.mail_domains)
			mr_diag_error(v->diags, u->limits.mail_domains_loc,
				      "%s '%s' %s %zu mail domains, over the limit of %lld (limits.mail_domains)", whose,
				      u->name, own_verb, c.domains, (long long)u->limits.mail_domains);
		if (u->limits.mailboxes != MR_UNSET && c.mailboxes > (size_t)u->limits.mailboxes)
			mr_diag_error(v->diags, u->limits.mailboxes_loc,
				      "%s '%s' %s %zu mailboxes, over the limit of %lld (limits.mailboxes)", whose,
				      u->name, own_verb, c.mailboxes, (long long)u->limits.mailboxes);
	}
	mr_strmap_release(&index);
	free(own);
	free(sum);
}

/* ---- the fleet (design section 9) ----------------------------------------------------- */

/* The hosts as one string for messages ("mx1, mx2"). */
static void host_list(const struct mr_server *srv, struct mr_buf *out)
{
	mr_buf_reset(out);
	for (size_t i = 0; i < srv->hosts.n; i++)
		mr_buf_addf(out, "%s%s", i ? ", " : "", srv->hosts.v[i].s);
}

/*
 * With server.hosts, every domain is placed on one of them (one host: 'host' is a single
 * value, and a domain is declared once); without it, no domain names a host.
 */
static void check_hosts(struct vctx *v, struct mr_buf *tmp)
{
	const struct mr_server *srv = &v->m->server;
	bool fleet = srv->hosts_loc.line != 0;
	const char **names = xcalloc(srv->hosts.n + 1, sizeof(*names));
	for (size_t i = 0; i < srv->hosts.n; i++)
		names[i] = srv->hosts.v[i].s;
	host_list(srv, tmp);
	for (size_t i = 0; i < v->m->ndomains; i++) {
		const struct mr_domain *d = v->m->domains[i];
		if (!fleet) {
			if (d->host)
				mr_diag_error(v->diags, d->host_loc,
					      "domain '%s' is placed on host '%s', but server.hosts is not declared "
					      "(list the fleet's hosts there, or leave 'host' out)",
					      d->name, d->host);
			continue;
		}
		if (srv->hosts.n == 0)
			continue; /* the list itself was wrong: said where it is */
		if (!d->host && d->host_loc.line)
			continue; /* written, and wrong: said while loading */
		if (!d->host) {
			mr_diag_error(v->diags, d->loc, "domain '%s' has no 'host': server.hosts is set, so each domain is "
				      "placed on one of %s", d->name, tmp->ptr);
			continue;
		}
		size_t j = 0;
		while (j < srv->hosts.n && strcmp(srv->hosts.v[j].s, d->host) != 0)
			j++;
		if (j < srv->hosts.n)
			continue;
		const char *close = mr_closest(d->host, names);
		if (close)
			mr_diag_error(v->diags, d->host_loc, "host '%s' of domain '%s' is not in server.hosts (did you mean '%s'?)",
				      d->host, d->name, close);
		else
			mr_diag_error(v->diags, d->host_loc, "host '%s' of domain '%s' is not in server.hosts (%s)", d->host,
				      d->name, tmp->ptr);
	}
	free(names);
}

/* ---- mailboxes ----------------------------------------------------------------------- */

static char *join_addr(struct mr_model *m, const char *local, const char *domain)
{
	size_t a = strlen(local), b = strlen(domain);
	char *s = mr_arena_alloc(&m->arena, a + b + 2);
	memcpy(s, local, a);
	s[a] = '@';
	memcpy(s + a + 1, domain, b + 1);
	return s;
}

static void check_aliases(struct vctx *v, struct mr_domain *d, struct mr_buf *tmp)
{
	for (size_t j = 0; j < d->nmailboxes; j++) {
		struct mr_mailbox *mb = d->mailboxes[j];
		for (size_t k = 0; k < mb->aliases.n; k++) {
			struct mr_item *it = &mb->aliases.v[k];
			char *addr = join_addr(v->m, it->s, d->name);
			if (mr_model_mailbox(v->m, addr)) {
				mr_diag_error(v->diags, it->loc, "alias '%s' of '%s' is also a mailbox of %s", it->s,
					      mb->address, d->name);
				continue;
			}
			struct mr_item *first = mr_strmap_put_new(&v->aliases, addr, strlen(addr), it);
			if (first) {
				at(first->loc, tmp);
				mr_diag_error(v->diags, it->loc, "alias '%s' of '%s' is declared twice in %s (first at %s)",
					      it->s, mb->address, d->name, tmp->ptr);
			}
		}
	}
}

static bool local_exists(struct vctx *v, const char *address)
{
	return mr_model_mailbox(v->m, address) || mr_strmap_get(&v->aliases, address, strlen(address));
}

/*
 * A file the desired state names, read through the confinement layer (load/secret.h):
 * absolute below the root, relative below the YAML file, never through a link.  0 with
 * the bytes in out (the caller wipes them), or -1 with an error at loc.
 */
static int read_named(struct vctx *v, struct mr_loc loc, const char *what, const struct mr_srcdir *dir,
		      const char *path, struct mr_buf *out)
{
	struct mr_buf why = MR_BUF_INIT;
	if (!v->root && path[0] == '/') {
		mr_diag_error(v->diags, loc, "cannot read %s file '%s': --root does not exist", what, path);
		return -1;
	}
	int rc = mr_secret_file_read(v->root, dir, path, MR_SECRET_FILE_MAX, out, &why);
	if (rc < 0 && mr_secret_refused(dir, path, rc)) {
		/* a --scope refusal: what the link is, and where the file may be */
		mr_secret_refused_why(dir, path, rc, &why);
		mr_diag_error(v->diags, loc, "cannot read %s file '%s': %s", what, path, why.ptr);
		v->refused++;
	} else if (rc < 0 && path[0] == '/' && strncmp(path, MR_LETSENCRYPT_DIR "/", sizeof(MR_LETSENCRYPT_DIR)) == 0 &&
		   why.ptr) {
		/* certbot's tree: which link was refused, or which name is missing, is in why */
		mr_diag_error(v->diags, loc, "cannot read %s file: %s", what, why.ptr);
	} else if (rc < 0) {
		char *shown = mr_secret_path(v->root, dir, path);
		mr_diag_error(v->diags, loc, "cannot read %s file '%s': %s", what, shown,
			      rc == -ELOOP    ? "it is a symbolic link or is reached through one; refused"
			      : rc == -EINVAL ? why.ptr
			      : rc == -EISDIR ? "it is a directory"
			      : rc == -EFBIG  ? "it is too large"
					      : strerror(-rc));
		free(shown);
	}
	mr_buf_release(&why);
	return rc < 0 ? -1 : 0;
}

/* Whether a path the state names is read here: in a --scope run an absolute one is not (the
 * plan refuses it, before anything is read: no answer about root's files). */
static bool readable(const struct vctx *v, const char *path)
{
	return v->read_files && !(v->scoped && path[0] == '/');
}

static void check_password_file(struct vctx *v, const struct mr_password *p)
{
	struct mr_buf data = MR_BUF_INIT;
	if (readable(v, p->value) && read_named(v, p->loc, "password", p->dir, p->value, &data) == 0 &&
	    (!data.ptr || data.ptr[0] == '\n' || data.ptr[0] == '\r' || data.ptr[0] == '\0'))
		mr_diag_error(v->diags, p->loc, "cannot read password file '%s': the first line is empty", p->value);
	mr_secret_wipe(&data);
}

/* A certificate and its key: what they claim to be, and a pair (never copied otherwise).
 * whose: "'example.com'" or "the server". */
static void check_cert_files(struct vctx *v, const struct mr_ssl *s, const char *whose)
{
	if (!v->read_files)
		return;
	struct mr_buf crt = MR_BUF_INIT, key = MR_BUF_INIT;
	bool have_crt = s->cert_path && readable(v, s->cert_path) &&
			read_named(v, s->cert_loc, "certificate", s->dir, s->cert_path, &crt) == 0;
	bool have_key = s->key_path && readable(v, s->key_path) &&
			read_named(v, s->key_loc, "certificate key", s->dir, s->key_path, &key) == 0;
	if (have_crt && have_key) {
		const char *why = mr_cert_pair_check(crt.ptr ? crt.ptr : "", crt.len, key.ptr ? key.ptr : "", key.len);
		if (why)
			mr_diag_error(v->diags, strstr(why, "key file") || strstr(why, "the key is") ? s->key_loc : s->cert_loc,
				      "the certificate of %s: %s (cert: %s, key: %s); it is never copied", whose, why,
				      s->cert_path, s->key_path);
	}
	mr_secret_wipe(&crt);
	mr_secret_wipe(&key);
}

static void check_password(struct vctx *v, struct mr_mailbox *mb)
{
	const struct mr_password pw = mr_mailbox_password(mb), *p = &pw;
	switch (p->kind) {
	case MR_PASSWORD_HASH: {
		const char *why = mr_pwhash_check(p->value);
		if (why)
			mr_diag_error(v->diags, p->loc, "the password hash of '%s' %s", mb->address, why);
		break;
	}
	case MR_PASSWORD_FILE:
		check_password_file(v, p);
		break;
	case MR_PASSWORD_ENV: {
		if (v->scoped)
			break; /* root's environment is not the tenant's: the plan refuses it */
		const char *val = getenv(p->value);
		if (!val)
			mr_diag_error(v->diags, p->loc, "environment variable '%s' (password of '%s') is not set", p->value,
				      mb->address);
		else if (!val[0])
			mr_diag_error(v->diags, p->loc, "environment variable '%s' (password of '%s') is empty", p->value,
				      mb->address);
		break;
	}
	case MR_PASSWORD_NONE:
		break;
	}
}

static void check_mailbox(struct vctx *v, struct mr_mailbox *mb, bool secrets)
{
	if (secrets)
		check_password(v, mb);
	for (size_t k = 0; k < mb->copy_to.n; k++) {
		struct mr_item *it = &mb->copy_to.v[k];
		if (strcmp(it->s, mb->address) == 0) {
			mr_diag_error(v->diags, it->loc, "'%s' sends a copy to itself", mb->address);
			continue;
		}
		for (size_t j = 0; j < k; j++)
			if (strcmp(mb->copy_to.v[j].s, it->s) == 0) {
				mr_diag_error(v->diags, it->loc, "copy_to '%s' of '%s' is listed twice", it->s, mb->address);
				break;
			}
	}
	if (!mb->keep_copy && mb->copy_to.n == 0)
		mr_diag_error(v->diags, mr_mailbox_keep_copy_loc(mb),
			      "keep_copy: false without copy_to would drop all mail of '%s'", mb->address);
}

/* ---- domains ------------------------------------------------------------------------- */

static void check_action(struct vctx *v, struct mr_domain *d)
{
	if (d->action == MR_ACTION_FORWARD) {
		const char *at_sign = strrchr(d->action_target, '@');
		struct mr_domain *t = mr_model_domain(v->m, at_sign + 1);
		if (t && !local_exists(v, d->action_target))
			mr_diag_error(v->diags, d->action_loc,
				      "default_action of '%s' forwards to '%s', which is neither a mailbox nor an alias of %s",
				      d->name, d->action_target, t->name);
		return;
	}
	if (d->action != MR_ACTION_REDIRECT_DOMAIN)
		return;
	if (strcmp(d->action_target, d->name) == 0) {
		mr_diag_error(v->diags, d->action_loc, "domain '%s' redirects to itself", d->name);
		return;
	}
	/* follow the chain of declared redirecting domains; a return to d is a loop */
	struct mr_buf chain = MR_BUF_INIT;
	mr_buf_adds(&chain, d->name);
	struct mr_domain *cur = d;
	for (size_t steps = 0; steps <= v->m->ndomains; steps++) {
		struct mr_domain *next = mr_model_domain(v->m, cur->action_target);
		mr_buf_addf(&chain, " -> %s", cur->action_target);
		if (next == d) {
			mr_diag_error(v->diags, d->action_loc, "redirect_domain loop: %s", chain.ptr);
			break;
		}
		if (!next || next->action != MR_ACTION_REDIRECT_DOMAIN || next == cur)
			break;
		cur = next;
	}
	mr_buf_release(&chain);
}

/*
 * Names that are each valid but too long together: the DNS names of the records `mailrecon
 * dns` prints (at most 253 characters), and the names a self-signed certificate holds
 * (RFC 5280's upper bounds, which OpenSSL enforces at apply).
 */
/* What a self-signed certificate can hold: its alias as the common name, its email. */
static void check_cert_lengths(struct vctx *v, const struct mr_ssl *s)
{
	if (!s->enabled || s->cert != MR_CERT_SELF_SIGNED)
		return;
	if (s->alias && strlen(s->alias) > MR_CERT_CN_MAX)
		mr_diag_error(v->diags, s->alias_loc,
			      "ssl alias '%s' is longer than %d characters, the most a self-signed certificate's name holds",
			      s->alias, MR_CERT_CN_MAX);
	if (s->email && strlen(s->email) > MR_CERT_EMAIL_MAX)
		mr_diag_error(v->diags, s->email_loc,
			      "ssl email '%s' is longer than %d characters, the most a certificate holds", s->email,
			      MR_CERT_EMAIL_MAX);
}

static void check_lengths(struct vctx *v, struct mr_domain *d)
{
	size_t n = strlen(d->name);
	if (d->dkim.enabled && strlen(d->dkim.selector) + strlen("._domainkey.") + n > MR_DOMAIN_MAX)
		mr_diag_error(v->diags, d->dkim.selector_loc.file ? d->dkim.selector_loc : d->dkim.loc,
			      "the DKIM record name '%s._domainkey.%s' is longer than %d characters", d->dkim.selector,
			      d->name, MR_DOMAIN_MAX);
	if (d->dmarc && strlen("_dmarc.") + n > MR_DOMAIN_MAX)
		mr_diag_error(v->diags, d->loc,
			      "the DMARC record name '_dmarc.%s' is longer than %d characters", d->name, MR_DOMAIN_MAX);
	check_cert_lengths(v, &d->ssl);
}

/*
 * A TLS server name picks one certificate (the SNI files, docs/formats.md): an ssl alias is
 * no other domain's alias, and no other declared domain's name.
 */
static void check_ssl_aliases(struct vctx *v, struct mr_buf *tmp)
{
	struct mr_strmap seen = MR_STRMAP_INIT; /* alias -> the domain that has it first */
	for (size_t i = 0; i < v->m->ndomains; i++) {
		struct mr_domain *d = v->m->domains[i];
		const char *a = d->ssl.enabled ? d->ssl.alias : NULL;
		if (!a)
			continue;
		struct mr_domain *named = mr_model_domain(v->m, a);
		if (named && named != d) {
			mr_diag_error(v->diags, d->ssl.alias_loc, "ssl alias '%s' of '%s' is the name of the declared domain '%s'",
				      a, d->name, named->name);
			continue;
		}
		struct mr_domain *first = mr_strmap_put_new(&seen, a, strlen(a), d);
		if (first) {
			at(first->ssl.alias_loc, tmp);
			mr_diag_error(v->diags, d->ssl.alias_loc, "ssl alias '%s' is also the alias of '%s' (at %s)", a,
				      first->name, tmp->ptr);
		}
	}
	mr_strmap_release(&seen);
}

/* Whether the files and variables d's objects name are read in this run: not those of a
 * domain of the fleet placed on another host (that host reads them). */
static bool secrets_here(const struct vctx *v, const struct mr_domain *d)
{
	return !v->host || !mr_model_is_fleet(v->m) || !d->host || strcmp(d->host, v->host) == 0;
}

static void check_domain(struct vctx *v, struct mr_domain *d)
{
	bool here = secrets_here(v, d);
	check_action(v, d);
	check_lengths(v, d);
	if (here && d->ssl.enabled && d->ssl.cert == MR_CERT_FILES) {
		char whose[MR_DOMAIN_MAX + 3];
		snprintf(whose, sizeof(whose), "'%s'", d->name);
		check_cert_files(v, &d->ssl, whose);
	}
	for (size_t j = 0; j < d->nmailboxes; j++)
		check_mailbox(v, d->mailboxes[j], here);
}

static void check_server(struct vctx *v)
{
	const struct mr_server *s = &v->m->server;
	check_cert_lengths(v, &s->ssl);
	if (s->ssl.enabled && s->ssl.cert == MR_CERT_FILES)
		check_cert_files(v, &s->ssl, "the server");
	if (!s->dmarc)
		return;
	if (strncmp(s->dmarc, "v=DMARC1", 8) != 0) {
		mr_diag_error(v->diags, s->dmarc_loc, "the dmarc template must start with 'v=DMARC1'");
		return;
	}
	const char *why = mr_check_text(s->dmarc, 1024);
	if (why) {
		mr_diag_error(v->diags, s->dmarc_loc, "the dmarc template %s", why);
		return;
	}
	/* a DMARC record is printable ASCII (RFC 7489); a quote or a backslash would need escaping in a zone file */
	for (const unsigned char *p = (const unsigned char *)s->dmarc; *p; p++)
		if (*p >= 0x7f || *p == '"' || *p == '\\') {
			mr_diag_error(v->diags, s->dmarc_loc, "the dmarc template has %s: a DMARC record is printable ASCII "
				      "without '\"' and '\\'", *p >= 0x7f ? "a non-ASCII character" : *p == '"' ? "a '\"'" : "a '\\'");
			return;
		}
	for (const char *p = strchr(s->dmarc, '{'); p; p = strchr(p + 1, '{'))
		if (strncmp(p, "{domain}", 8) != 0) {
			mr_diag_error(v->diags, s->dmarc_loc,
				      "the dmarc template has a placeholder other than {domain}");
			return;
		}
}

size_t mr_validate_desired(struct mr_model *m, struct mr_root *root, unsigned flags, struct mr_diags *diags)
{
	return mr_validate_desired_on(m, root, flags, NULL, diags);
}

size_t mr_validate_desired_on(struct mr_model *m, struct mr_root *root, unsigned flags, const char *host,
			      struct mr_diags *diags)
{
	struct vctx v = { m, diags, root, flags & MR_VALIDATE_READ_FILES, flags & MR_VALIDATE_SCOPED, 0, MR_STRMAP_INIT,
			  host };
	struct mr_buf tmp = MR_BUF_INIT;
	check_server(&v);
	check_hosts(&v, &tmp);
	check_users(&v);
	check_owners_and_limits(&v);
	for (size_t i = 0; i < m->ndomains; i++)
		check_aliases(&v, m->domains[i], &tmp);
	for (size_t i = 0; i < m->ndomains; i++)
		check_domain(&v, m->domains[i]);
	check_ssl_aliases(&v, &tmp);
	mr_buf_release(&tmp);
	mr_strmap_release(&v.aliases);
	return v.refused;
}
