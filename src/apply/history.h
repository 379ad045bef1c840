/*
 * history: what apply, drift and rollback record in the state repository (design §5, §7).
 *
 * What is recorded is an allow-list: the line files, the SNI include and map, and in the
 * key directories only the names mailrecon manages -- ssl/DOMAIN.txt, .crt, .private,
 * .key and certs/DOMAIN.crt, .key, for a valid DOMAIN, and the server's default certificate
 * (ssl/exim.crt, exim.key, Dovecot's private/dovecot.pem, dovecot.key when they are regular
 * files) -- each checked to be what it claims.
 * A private key (ssl/DOMAIN.private, DOMAIN.key) is never stored: in its place goes
 * PATH.fingerprint, its SHA-256 and public half.  Nothing that holds a private key
 * elsewhere is stored at all.  Anything else in those directories (another name, a
 * sub-directory, a link, a certificate that is not one) is not recorded and is said as a
 * note: a finding, never a reason to stop.
 *
 * A revision read back from the repository is input as untrusted as any other: before
 * rollback or drift writes a byte of it anywhere, every path must be one of the above and
 * every content what its name says (mr_history_check_file).
 */
#ifndef MR_APPLY_HISTORY_H
#define MR_APPLY_HISTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "codec/codec.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/rootfs.h"
#include "vcs/vcs.h"

struct mr_live;

struct mr_snapshot {
	struct mr_vcs_file *v;
	size_t n, cap;
	bool partial; /* some files are known by id only (data NULL): for mr_history_changed
		       * against HEAD alone, never to commit */
};

/*
 * Read the managed files below root (layout resolved); 0 or -1 with err (a managed file that
 * cannot be read).  notes (may be NULL) gets one line per thing in the key directories that
 * is not recorded, and why.  known (may be NULL): the live files as loaded with blob ids
 * (mr_live_opts.blob_ids); each of those is taken by its id, as it was read then, and not
 * read again.
 */
int mr_snapshot_take(struct mr_root *root, enum mr_layout layout, const struct mr_live *known,
		     struct mr_snapshot *s, struct mr_buf *notes, struct mr_buf *err);
void mr_snapshot_release(struct mr_snapshot *s);
/* The content of path in s, or NULL. */
const struct mr_vcs_file *mr_snapshot_get(const struct mr_snapshot *s, const char *path);

/* What a recorded path is. */
enum mr_hist_kind {
	MR_HIST_NONE,        /* not a path mailrecon records */
	MR_HIST_LINES,       /* a line file (codec *codec_out) */
	MR_HIST_CONF,        /* the SNI include or map */
	MR_HIST_TXT,         /* ssl/DOMAIN.txt, the DKIM record */
	MR_HIST_CRT,         /* a certificate */
	MR_HIST_FINGERPRINT, /* PATH.fingerprint of a private key */
};

/*
 * The kind of a path as recorded (no leading '/': "etc/exim4/ssl/example.com.crt"), for
 * this layout; codec_out (may be NULL) gets the codec of a line file.
 */
enum mr_hist_kind mr_history_kind(const char *path, enum mr_layout layout, const struct mr_codec **codec_out);

/* Whether a recorded path is one of the server's default certificate (server.ssl): its
 * certificates or its keys' fingerprints, in Exim's ssl/ and Dovecot's private/. */
bool mr_history_is_server_cert(const char *path, enum mr_layout layout);

/*
 * A file of a revision, checked before it is written anywhere: a recorded path; a line file
 * every line of which its codec reads; a DKIM record that parses; a PEM certificate; a
 * fingerprint of the form apply writes; nothing holding a private key.  0, or -1 with the
 * reason in err.
 */
int mr_history_check_file(const char *path, const void *data, size_t len, enum mr_layout layout, struct mr_buf *err);

/* Paths whose content differs between a revision's files and a snapshot (sorted, owned):
 * 0, 1 when there is no revision yet (rev "HEAD" of an empty history), -1 with err. */
int mr_history_changed(struct mr_vcs *v, const char *rev, const struct mr_snapshot *now, struct mr_pathlist *out,
		       struct mr_buf *err);

/* The trailers every mailrecon commit carries, after a blank line; Host: is host (--host), or
 * the machine's host name when NULL. */
void mr_history_trailers(struct mr_buf *msg, const char *source, const char *actor, const char *host);

#define MR_HISTORY_TRAILER "Mailrecon-Version"

#endif
