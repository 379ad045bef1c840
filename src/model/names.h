/*
 * names: the syntax of every name that reaches a live file.
 *
 * A name that could break a colon-separated file (':', a newline, '/', '..') or be taken
 * as a command by Exim ('|') must never reach one: the YAML validator and every live-file
 * reader go through these checks.  Each returns NULL for a valid name, or a short reason
 * ("has a character other than ...") that never repeats the offending value itself (the
 * caller quotes the name when it is not a secret).
 */
#ifndef MR_MODEL_NAMES_H
#define MR_MODEL_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define MR_USER_NAME_MAX 32
#define MR_LOCAL_PART_MAX 64
#define MR_DOMAIN_MAX 253
#define MR_NOTE_MAX 256

/* The name the registry's disabled_by= gives to a run without --scope: no user may have it. */
#define MR_USER_RESERVED "root"

/* System account: [a-z_][a-z0-9_-]*, at most 32 characters. */
const char *mr_check_user_name(const char *s);
/* Mailbox or alias: [a-z0-9.-], no leading/trailing '.' or '-', no "..", at most 64. */
const char *mr_check_mailbox_name(const char *s);
/* Mail domain: lowercase DNS name with at least two labels. */
const char *mr_check_domain(const char *s);
/* A DNS host name such as an SSL alias (one label allowed too). */
const char *mr_check_hostname(const char *s);
/* DKIM selector: dot-separated lowercase labels. */
const char *mr_check_selector(const char *s);
/*
 * An address local@domain (any letter case: callers lower it after the check).  The local
 * part is at most 64 of [A-Za-z0-9.!#$%&'*+=?^_{}~-], not starting with '#' or '.', not
 * ending with '.', no "..": nothing that a colon-separated or lsearch file, or Exim's
 * redirect data, would read as a separator, a quote, white space or a comment.
 */
const char *mr_check_address(const char *s);
/* IPv4 or IPv6 literal. */
const char *mr_check_ip(const char *s);
/* Environment variable name. */
const char *mr_check_env_name(const char *s);
/* Free text for people: valid UTF-8, at most max bytes, no control character (C0, DEL, C1). */
const char *mr_check_text(const char *s, size_t max);

/* Lower-case ASCII in place. */
void mr_ascii_lower(char *s);
bool mr_has_upper(const char *s);

/*
 * The punycode (RFC 3492 / IDNA) form of a UTF-8 domain name, each non-ASCII label as
 * "xn--...", lower-cased; NULL when s is not valid UTF-8.  Freshly allocated.
 */
char *mr_domain_to_ascii(const char *s);

#endif
