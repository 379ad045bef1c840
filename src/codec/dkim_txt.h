/*
 * dkim_txt: the DNS record file opendkim-genkey writes beside a DKIM key (SELECTOR.txt;
 * ispmanager keeps it as /etc/exim4/ssl/DOMAIN.txt).
 *
 *   sel._domainkey<TAB>IN<TAB>TXT<TAB>( "v=DKIM1; h=sha256; k=rsa; s=email; "
 *   <TAB>  "p=<250 base64 characters>"
 *   <TAB>  "<up to 250 more>" )  ; ----- DKIM key sel for example.org
 *
 * The reader takes any zone-file spelling of one such record; the writer gives exactly
 * the bytes of `opendkim-genkey -r -d DOMAIN -s SELECTOR`.
 */
#ifndef MR_CODEC_DKIM_TXT_H
#define MR_CODEC_DKIM_TXT_H

#include <stddef.h>

#include "util/buf.h"

/*
 * Read one record: "SELECTOR._domainkey" (optionally followed by ".DOMAIN." as
 * opendkim-genkey -a writes it), "IN", "TXT" (any case), an optional "(", one or more
 * quoted strings (concatenated; \X and \DDD escapes), the ")" that matches, and
 * ';' comments.  The p= tag of the concatenated tag list, white space removed, must be
 * non-empty base64.  0 with freshly allocated *selector and *pubkey_b64; or -1 with a
 * short static reason in *why (which never quotes the input) and both outputs NULL.
 */
int mr_dkim_txt_parse(const char *data, size_t len, char **selector, char **pubkey_b64, const char **why);

/*
 * The p= value of a DKIM tag list (RFC 6376 3.2: the TXT data of a record, its strings
 * joined), white space removed: NULL with a fresh *pubkey_b64, or a short static reason
 * (no p=, two, empty, not base64) with *pubkey_b64 NULL.
 */
const char *mr_dkim_tags_p(const char *tags, size_t len, char **pubkey_b64);

/*
 * Append the file opendkim-genkey -r writes for this key to out, byte for byte: the p=
 * value in quoted strings of 250 base64 characters (the first one after "p="), and the
 * "; ----- DKIM key SELECTOR for DOMAIN" comment unless domain is NULL or empty.
 */
void mr_dkim_txt_render(const char *selector, const char *domain, const char *pubkey_b64, struct mr_buf *out);

/*
 * Append the TXT data v (n bytes) in zone-file syntax (RFC 1035 5.1): quoted
 * character-strings of at most 255 bytes of data each, separated by a space, with '"' and
 * '\' escaped by a '\' and every byte outside printable ASCII as \DDD; "" when n is 0.
 * Whatever the bytes, the result is one well-formed TXT value of exactly those bytes.
 */
void mr_zone_txt(const char *v, size_t n, struct mr_buf *out);

#endif
