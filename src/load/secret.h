/*
 * secret: the files a desired state names -- a password's {file: PATH}, a certificate's
 * cert and key -- and the clear text of a password given as {file: PATH} or {env: NAME}.
 *
 * A path in a desired state is data, and with --scope it is the data of a tenant: it is a
 * name looked up through the confinement layer (util/rootfs.h), never a path opened as it
 * is.  An absolute PATH is taken below --root; a relative one below the directory of the
 * YAML file that names it (struct mr_srcdir).  Either way no symbolic link is followed and
 * no '..' is allowed, so a file outside those trees (/etc/shadow of the host, another
 * tenant's key) cannot be reached through a link or a relative path.  One exception:
 * below /etc/letsencrypt (MR_LETSENCRYPT_DIR) certbot's relative links are followed while
 * they stay in that tree (mr_root_resolve_within), never to anything outside it.  In a
 * --scope run that directory is the one the loader holds open since it read the file (never looked up by
 * name again, so swapping it for a link does nothing), it must still be the same directory
 * (device and inode; -ESTALE otherwise), and no link at all is followed below it, not even
 * root's own (-ELOOP): mr_secret_refused says which errors those are, refusals of --scope.
 *
 * A password file holds the password on its first line (a final CR/LF is not part of it).
 * The caller owns the buffers and must wipe a secret (mr_secret_wipe) as soon as it is done
 * with it; nothing here prints or logs a value.
 */
#ifndef MR_LOAD_SECRET_H
#define MR_LOAD_SECRET_H

#include <stdbool.h>

#include "model/model.h"
#include "util/buf.h"
#include "util/rootfs.h"

#define MR_SECRET_FILE_MAX (1u << 20)

/* The file as shown in messages: ROOT + PATH, or DIR/PATH; a fresh string. */
char *mr_secret_path(struct mr_root *root, const struct mr_srcdir *dir, const char *path);

/*
 * Read such a file (at most max bytes): 0, or -errno with a message in err naming the file
 * (never its content).
 */
int mr_secret_file_read(struct mr_root *root, const struct mr_srcdir *dir, const char *path, size_t max,
			struct mr_buf *out, struct mr_buf *err);

/*
 * Whether rc, from reading path below dir, is a refusal of --scope: a relative path below a
 * held directory (a --scope run) reached through a link (-ELOOP), or that directory no longer
 * the one its file was read from (-ESTALE).  Callers make it exit 3, like the plan's scope
 * refusals.  mr_secret_refused_why adds to why what a --scope file may name, when it is one.
 */
bool mr_secret_refused(const struct mr_srcdir *dir, const char *path, int rc);
void mr_secret_refused_why(const struct mr_srcdir *dir, const char *path, int rc, struct mr_buf *why);

/*
 * 0 with the clear password in out, or a negative value with a reason in why (never the
 * value): the file's -errno when it could not be read (see mr_secret_refused), else -1.
 */
int mr_secret_read(struct mr_root *root, const struct mr_password *p, struct mr_buf *out, struct mr_buf *why);

/* Overwrite and release a buffer that held a secret. */
void mr_secret_wipe(struct mr_buf *b);

#endif
