/*
 * emit: a model as desired-state YAML (version 1), the output of `mailrecon import`.
 *
 * The document is what a user commits: valid against schema/desired.schema.json, loaded
 * back by the YAML loader into an equal model, passwords as {hash: ...}, fields at their
 * default left out.  Objects that cannot be written validly (a domain whose owner is
 * unknown, a mailbox without a usable password) are left out with a comment saying why,
 * and counted in *skipped.
 */
#ifndef MR_LOAD_EMIT_H
#define MR_LOAD_EMIT_H

#include <stddef.h>

#include "model/model.h"
#include "util/buf.h"

struct mr_emit_opts {
	const char *scope;  /* NULL: everything; else only this user's objects (design section 2) */
	const char *header; /* a comment put first, or NULL */
	size_t skipped;     /* out */
};

void mr_emit_yaml(const struct mr_model *m, struct mr_emit_opts *o, struct mr_buf *out);

/* Whether objects owned by owner are in the scope of user scope (NULL: all) in model m, the
 * live one: scope's own, and for a reseller those of its users (role user), for an admin all. */
bool mr_scope_covers(const struct mr_model *m, const char *scope, const char *owner);

/* Whether live domain d of model m is in the scope of user scope (NULL: all).  An owner known
 * only from a /var/www/OWNER/data/email/DOMAIN directory (d->owner_from_dir), which any tenant
 * can make in its own tree, puts the domain in no scope but an admin's. */
bool mr_scope_covers_domain(const struct mr_model *m, const char *scope, const struct mr_domain *d);

/* A size in the largest unit that states it exactly: 2147483648 -> "2G". */
void mr_emit_size(int64_t bytes, struct mr_buf *out);

#endif
