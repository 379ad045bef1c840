/*
 * dkim_state: what mailrecon keeps of a DKIM key rotation in STATE_DIR/dkim (root's, 0700),
 * so that a new key signs only once resolvers can find its record (docs/formats.md).
 *
 *   DOMAIN.private    the staged private key (0600): made by apply, never printed or committed
 *   DOMAIN.txt        its record, as opendkim-genkey writes it (codec/dkim_txt.h)
 *   DOMAIN.confirmed  "selector S\npublic P\nchecked UNIX\n": `dns --check` found the
 *                     record of the staged key published
 *   DOMAIN.retired    "selector S\npublic P\nuntil UNIX\n": the record of the key the last
 *                     switch replaced, listed for removal until UNIX
 *
 * mr_dkim_state_load reads them into the live model's domains (struct mr_dkim's pending_
 * and retired_ fields); what it cannot read or what does not fit together is a finding and
 * is read as absent, so the next apply stages the key again.  Nothing of a private key is
 * kept: only its size and public half.
 */
#ifndef MR_CODEC_DKIM_STATE_H
#define MR_CODEC_DKIM_STATE_H

#include <stdint.h>

#include "codec/live.h"
#include "util/buf.h"

#define MR_DKIM_STATE_DIR "dkim"

/* Read STATE_DIR/dkim (state_dir below lv's root) into lv->model; an absent directory is
 * no rotation in progress. */
void mr_dkim_state_load(struct mr_live *lv, const char *state_dir);

/* The content of a .confirmed (tag "checked") or .retired (tag "until") file. */
void mr_dkim_state_render(const char *selector, const char *public_b64, const char *tag, int64_t when,
			  struct mr_buf *out);

/*
 * Parse what mr_dkim_state_render wrote: 0 with *selector and *public_b64 pointing into
 * data (which is modified: each value is NUL-terminated in place) and *when; -1 when it is
 * not exactly that form (a checked selector, base64 of at most 4096 characters, a decimal
 * time).
 */
int mr_dkim_state_parse(char *data, size_t len, const char *tag, const char **selector, const char **public_b64,
			int64_t *when);

/* STATE_DIR/dkim/DOMAIN + ext, a fresh string */
char *mr_dkim_state_path(const char *state_dir, const char *domain, const char *ext);

#endif
