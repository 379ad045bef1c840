/*
 * codec: one parser and one writer per live file (design section 3, docs/formats.md).
 *
 * Every managed file is a sequence of lines.  A codec turns each line into a struct
 * mr_line (a record with a key and fields, or a comment, blank, foreign or bad line) and
 * renders a record back to its canonical text.  Rendering an unchanged file gives back
 * exactly the bytes that were read (render(parse(x)) == x), whatever their form:
 * comments, lines mailrecon does not own, "key: value" / "key:value" / "key value", CRLF
 * ends, a missing final newline.  A line keeps the bytes it was read from (raw), except a
 * record whose canonical text is exactly those bytes: it is rendered (raw == NULL), like
 * a line the plan makes.  So a file in canonical form costs one copy of its bytes.
 *
 * Each codec is one source file exporting one struct mr_codec; mr_codecs[] lists them
 * all, indexed by enum mr_file_id.
 *
 *   struct mr_codec_file f;
 *   mr_codec_file_init(&f, mr_codecs[MR_FILE_EXIM_ALIASES], "/etc/exim4/aliases");
 *   mr_codec_parse(&f, bytes, len, &findings);     // findings: warnings with file:line:col
 *   ... f.lines[i] ...
 *   mr_codec_render(&f, &out);                     // == bytes when nothing was changed
 *   mr_codec_file_release(&f);
 */
#ifndef MR_CODEC_CODEC_H
#define MR_CODEC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/strmap.h"

enum mr_layout { MR_LAYOUT_AUTO, MR_LAYOUT_DEBIAN, MR_LAYOUT_RHEL };
const char *mr_layout_name(enum mr_layout l);

enum mr_file_id {
	MR_FILE_EXIM_PASSWD,
	MR_FILE_EXIM_ALIASES,
	MR_FILE_EXIM_RATELIMITS,
	MR_FILE_EXIM_DOMAINS,
	MR_FILE_EXIM_DOMAINIPS,
	MR_FILE_DOVECOT_PASSWD,
	MR_FILE_POSTGREY,
	MR_FILE_SPAMASSASSIN,
	MR_FILE_CLAMAV,
	MR_FILE_REGISTRY,
	MR_FILE_COUNT
};

enum mr_line_kind {
	MR_LINE_BLANK,   /* empty or only white space */
	MR_LINE_COMMENT, /* starts with '#' and is not a disabled record */
	MR_LINE_FOREIGN, /* a well-formed line mailrecon does not own (kept as is) */
	MR_LINE_RECORD,  /* a line mailrecon owns */
	MR_LINE_BAD,     /* could not be read: the file is never rewritten */
	MR_LINE_BEGIN,   /* the start marker of mailrecon's block in a shared file */
	MR_LINE_END,     /* its end marker */
};

#define MR_LINE_FIELDS 9
#define MR_LINE_MAX 8192 /* longer lines are bad lines */

/*
 * A line's key and fields are read with mr_line_key() and mr_line_field() and set with
 * mr_line_set_key() and mr_line_set_field(), never through the members they are kept in.
 * A parsed line's strings are inside its own text, cut up in place in the file's buffer
 * (f->data, never moved before the file is released), and its base is the start of that
 * text: each string is kept as its offset + 1 from the base (0: NULL), 20 bytes for the
 * ten of them, where pointers would take 80.  A line with a string that is not within
 * 64 KiB after its base (a field made in an arena), or without a base (a record the plan
 * makes from the models' strings), keeps all ten as pointers, in an array made in an
 * arena (ext).  300,000 lines of a 100,000-mailbox server take 14 MB, not 31.
 */
struct mr_line {
	const char *raw;  /* the bytes as read, line end included; NULL: the canonical text and
			   * "\n" (a record read in that form, or made by the plan) */
	union {
		const char *base;  /* !ext: where the offsets count from; NULL: none */
		const char **ext;  /* ext: [0] the key, [1 + i] field i */
	} strs;
	uint32_t rawlen;
	uint32_t lineno;  /* 1-based; 0 for a line that was not read */
	uint16_t off[1 + MR_LINE_FIELDS]; /* !ext: [0] the key, [1 + i] field i */
	uint8_t kind;     /* enum mr_line_kind */
	bool disabled : 1; /* a record written as a '#' comment: a disabled object */
	bool in_block : 1; /* shared files: between mailrecon's markers */
	bool shadowed : 1; /* an active record repeating an earlier one: never read */
	bool ext : 1;      /* the strings are in strs.ext */
	uint8_t nf;
};

/*
 * The address is computed as a number: a string of another block (an arena's) that happens
 * to lie within 64 KiB after the base is kept as an offset too, and base + offset would be
 * pointer arithmetic across two objects, which C leaves undefined; the number is the same
 * address either way.
 */
static inline const char *mr_line_str_(const struct mr_line *l, unsigned i)
{
	if (l->ext)
		return l->strs.ext[i];
	return l->off[i] ? (const char *)((uintptr_t)l->strs.base + (uintptr_t)(l->off[i] - 1)) : NULL;
}

/* The key, lower case (NULL: none). */
static inline const char *mr_line_key(const struct mr_line *l)
{
	return mr_line_str_(l, 0);
}

/* Field i (an MR_F_* index below, < MR_LINE_FIELDS); NULL when absent. */
static inline const char *mr_line_field(const struct mr_line *l, unsigned i)
{
	return mr_line_str_(l, 1 + i);
}

void mr_line_set_ext_(struct mr_line *l, unsigned i, const char *v, struct mr_arena *a);

static inline void mr_line_set_str_(struct mr_line *l, unsigned i, const char *v, struct mr_arena *a)
{
	uintptr_t d = (uintptr_t)v - (uintptr_t)l->strs.base;
	if (!l->ext && (!v || (l->strs.base && d < UINT16_MAX)))
		l->off[i] = v ? (uint16_t)(d + 1) : 0;
	else
		mr_line_set_ext_(l, i, v, a);
}

/*
 * Set the key or field i to v (NULL: none); v must live as long as the line.  a: where the
 * line's array of pointers is made when v is not within reach of its base, an arena that
 * lives as long as the line.
 */
static inline void mr_line_set_key(struct mr_line *l, const char *v, struct mr_arena *a)
{
	mr_line_set_str_(l, 0, v, a);
}

static inline void mr_line_set_field(struct mr_line *l, unsigned i, const char *v, struct mr_arena *a)
{
	mr_line_set_str_(l, 1 + i, v, a);
}

/* Clear the key and fields of l; the strings set next are offsets when they are within
 * 64 KiB after base (the line's text, or a block a codec made for it; NULL: none). */
static inline void mr_line_set_base(struct mr_line *l, const char *base)
{
	l->strs.base = base;
	l->ext = false;
	for (unsigned i = 0; i <= MR_LINE_FIELDS; i++)
		l->off[i] = 0;
}

/* Field indexes, per codec.  A field that is absent is NULL. */
enum { MR_F_PASSWD_OWNER, MR_F_PASSWD_DISABLED, MR_F_PASSWD_SAVE, MR_F_PASSWD_EXTRA, MR_F_PASSWD_LEGACY };
enum { MR_F_ALIAS_MAIN, MR_F_ALIAS_TYPE };
enum { MR_F_RATE_VALUE };
enum { MR_F_DOMAIN_DATA };
enum { MR_F_DOMAINIP_IP };
enum {
	MR_F_DOVECOT_HASH, MR_F_DOVECOT_UID, MR_F_DOVECOT_GID, MR_F_DOVECOT_GECOS, MR_F_DOVECOT_HOME,
	MR_F_DOVECOT_SHELL, MR_F_DOVECOT_EXTRA
};
enum { MR_F_SA_DIRECTIVE };
enum {
	MR_F_REG_KIND, MR_F_REG_NAME, MR_F_REG_A1, MR_F_REG_A2, MR_F_REG_A3, MR_F_REG_A4, MR_F_REG_A5,
	MR_F_REG_A6, MR_F_REG_A7
};
/* Registry attributes by kind (docs/formats.md "registry"). */
enum { MR_F_REG_USER_ROLE = MR_F_REG_A1, MR_F_REG_USER_RESELLER, MR_F_REG_USER_ACCOUNT,
       MR_F_REG_USER_DISABLED, MR_F_REG_USER_DOMAINS, MR_F_REG_USER_MAILBOXES, MR_F_REG_USER_DISABLED_BY };
enum { MR_F_REG_DOMAIN_OWNER = MR_F_REG_A1, MR_F_REG_DOMAIN_DMARC, MR_F_REG_DOMAIN_DISABLED_BY };
enum { MR_F_REG_MAILBOX_NOTE = MR_F_REG_A1, MR_F_REG_MAILBOX_DISABLED_BY };

/* Codec flags. */
#define MR_CODEC_LSEARCH 1u  /* Exim lsearch rules: a line starting with white space continues a record */
#define MR_CODEC_SHARED 2u   /* other programs write it too: mailrecon owns only its marked block */
#define MR_CODEC_DISABLE 4u  /* a record can be disabled by commenting it out with '#' */
#define MR_CODEC_MULTIKEY 8u /* a key may repeat (aliases: one line per relation) */

struct mr_codec_file;

struct mr_codec {
	enum mr_file_id id;
	const char *name;     /* "exim-passwd": the name in docs, findings and fuzz targets */
	const char *path[2];  /* debian, rhel; absolute, taken below --root */
	const char *owner;    /* for a new file */
	const char *group[2];
	unsigned mode;
	unsigned flags;
	/*
	 * Parse the content of one line (no line end; for a disabled candidate, the text after
	 * the '#').  s is the line in the file's buffer, NUL-terminated, which the codec may cut
	 * up and point into: l's base is the line's start, so a key or field inside s is an
	 * offset.  Return MR_LINE_RECORD or MR_LINE_FOREIGN with the key and fields set
	 * (mr_line_set_key/_field with cf's arena), or MR_LINE_BAD with a short reason in *why
	 * (never quoting a secret).
	 */
	int (*parse)(struct mr_codec_file *cf, struct mr_line *l, char *s, size_t n, const char **why);
	/* Append the canonical text of a record (no line end, no '#' for a disabled one). */
	void (*render)(const struct mr_line *l, struct mr_buf *out);
};

extern const struct mr_codec *const mr_codecs[MR_FILE_COUNT];
const struct mr_codec *mr_codec_by_name(const char *name);
const char *mr_codec_path(const struct mr_codec *c, enum mr_layout layout);

/* Markers of mailrecon's block in a shared file. */
#define MR_BLOCK_BEGIN "# BEGIN mailrecon managed block: edits inside it are overwritten"
#define MR_BLOCK_END "# END mailrecon managed block"

struct mr_codec_file {
	const struct mr_codec *codec;
	const char *path;        /* as shown in findings: the path below the root */
	uint32_t path_id;        /* mr_loc_file_id(path): the file of its lines' locations */
	struct mr_arena arena;   /* fields made while parsing; raw bytes of records cut up by their parser */
	char *data;              /* the bytes as read, cut up in place into the records' fields;
				  * the lines no parser touched point into it */
	struct mr_line *lines;
	size_t nlines, cap;
	size_t nbad;             /* bad lines: the file must not be rewritten */
	bool block;              /* shared files: a complete marked block was found */
	bool final_newline;      /* the last line ends with a newline (or the file is empty) */
	/* The first active record of each key (a multi-key file's key is its key and fields,
	 * "KEY:F0:F1"): open addressing, a slot is hash << 32 | index + 1 (0: empty).  The keys
	 * are the lines' own, compared in place: 8 bytes a record, no copy of a key. */
	struct mr_codec_keys {
		uint64_t *slots;
		size_t cap, count; /* cap: a power of two, or 0 */
	} keys;
	bool keys_dropped;       /* mr_codec_drop_keys: mr_codec_find walks the lines */
};

void mr_codec_file_init(struct mr_codec_file *f, const struct mr_codec *c, const char *path);
void mr_codec_file_release(struct mr_codec_file *f);

/*
 * Parse a whole file.  Problems (bad lines, CRLF ends, shadowed duplicates, a broken
 * block) are added to findings as warnings with file:line:col; it never fails.  A file has
 * fewer than 2^32 - 1 lines (the key map keeps a line's index in 32 bits): the readers cap a
 * live file at 512 MiB, and history blobs are files mailrecon wrote.
 */
void mr_codec_parse(struct mr_codec_file *f, const char *data, size_t len, struct mr_diags *findings);
/* The same, taking data over instead of copying it: malloc'd, with room for len + 1 bytes
 * (a struct mr_buf's bytes are); the records' fields are cut out of it in place. */
void mr_codec_parse_owned(struct mr_codec_file *f, char *data, size_t len, struct mr_diags *findings);

/* The first active record with this key (files where keys are unique), or NULL. */
const struct mr_line *mr_codec_find(const struct mr_codec_file *f, const char *key);
/* Free the key map once lookups by key are over (the live model is made): a file of
 * 100,000 records keeps 2 MB of it.  mr_codec_find still answers, by walking the lines. */
void mr_codec_drop_keys(struct mr_codec_file *f);

/* The file's bytes: raw lines as read, other lines in their canonical form. */
void mr_codec_render(const struct mr_codec_file *f, struct mr_buf *out);

/* Append the canonical text of one line (with its '#' when disabled), no line end. */
void mr_codec_render_line(const struct mr_codec_file *f, const struct mr_line *l, struct mr_buf *out);

/* Helpers shared by the codecs. */
char *mr_codec_strip(char *s);                      /* trim white space at both ends */
bool mr_codec_lsearch_split(char *s, char **key, char **data); /* Exim lsearch key/data rules */
bool mr_codec_is_utf8(const char *s, size_t n);
bool mr_codec_parse_uint(const char *s, int64_t max, int64_t *out);

/* Percent-encoding for registry values: bytes outside [!-~] and '%', ':', '=' become %XX. */
void mr_codec_pct_encode(const char *s, struct mr_buf *out);
/* Decode s in place (the result is never longer); false when malformed. */
bool mr_codec_pct_decode(char *s);

extern const struct mr_codec mr_codec_exim_passwd, mr_codec_exim_aliases, mr_codec_exim_ratelimits,
	mr_codec_exim_domains, mr_codec_exim_domainips, mr_codec_dovecot_passwd, mr_codec_postgrey,
	mr_codec_spamassassin, mr_codec_clamav, mr_codec_registry;

#endif
