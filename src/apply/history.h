/*
 * history: what apply, drift and rollback record in the state repository (design §5).
 *
 * A snapshot is every managed file as it is on disk, under its path relative to the root:
 * the line files, the SNI include and map, and the entries of the key directories -- but a
 * private key (ssl/DOMAIN.private, DOMAIN.key) is never stored: in its place goes
 * PATH.fingerprint, its SHA-256 and public half.
 */
#ifndef MR_APPLY_HISTORY_H
#define MR_APPLY_HISTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "codec/codec.h"
#include "util/buf.h"
#include "util/fs.h"
#include "vcs/vcs.h"

struct mr_snapshot {
	struct mr_vcs_file *v;
	size_t n, cap;
};

/* Read the managed files below root (layout resolved); 0 or -1 with err. */
int mr_snapshot_take(const char *root, enum mr_layout layout, struct mr_snapshot *s, struct mr_buf *err);
void mr_snapshot_release(struct mr_snapshot *s);
/* The content of path in s, or NULL. */
const struct mr_vcs_file *mr_snapshot_get(const struct mr_snapshot *s, const char *path);

/* Paths whose content differs between a revision's files and a snapshot (sorted, owned):
 * 0, 1 when there is no revision yet (rev "HEAD" of an empty history), -1 with err. */
int mr_history_changed(struct mr_vcs *v, const char *rev, const struct mr_snapshot *now, struct mr_pathlist *out,
		       struct mr_buf *err);

/* The trailers every mailrecon commit carries, after a blank line. */
void mr_history_trailers(struct mr_buf *msg, const char *source, const char *actor);

#define MR_HISTORY_TRAILER "Mailrecon-Version"

#endif
