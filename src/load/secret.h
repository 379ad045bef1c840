/*
 * secret: the clear text of a password given as {file: PATH} or {env: NAME}.
 *
 * A password file holds the password on its first line (a final CR/LF is not part of it).
 * A relative PATH is taken from the directory of the YAML file that names it, an absolute
 * one below --root.  The caller owns the buffer and must wipe it (mr_secret_wipe) as soon
 * as it is done with it; nothing here prints or logs the value.
 */
#ifndef MR_LOAD_SECRET_H
#define MR_LOAD_SECRET_H

#include "model/model.h"
#include "util/buf.h"

/* The file a {file: PATH} names; a fresh string. */
char *mr_secret_path(const char *root, const char *base_dir, const char *path);

/* 0 with the clear password in out, or -1 with a reason in why (never the value). */
int mr_secret_read(const char *root, const struct mr_password *p, struct mr_buf *out, struct mr_buf *why);

/* Overwrite and release a buffer that held a secret. */
void mr_secret_wipe(struct mr_buf *b);

#endif
