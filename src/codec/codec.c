/*
 * codec: the line machinery every live-file codec shares, and the codec table.
 */
#include "codec/codec.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/strutil.h"

const struct mr_codec *const mr_codecs[MR_FILE_COUNT] = {
	[MR_FILE_EXIM_PASSWD] = &mr_codec_exim_passwd,
	[MR_FILE_EXIM_ALIASES] = &mr_codec_exim_aliases,
	[MR_FILE_EXIM_RATELIMITS] = &mr_codec_exim_ratelimits,
	[MR_FILE_EXIM_DOMAINS] = &mr_codec_exim_domains,
	[MR_FILE_EXIM_DOMAINIPS] = &mr_codec_exim_domainips,
	[MR_FILE_DOVECOT_PASSWD] = &mr_codec_dovecot_passwd,
	[MR_FILE_POSTGREY] = &mr_codec_postgrey,
	[MR_FILE_SPAMASSASSIN] = &mr_codec_spamassassin,
	[MR_FILE_CLAMAV] = &mr_codec_clamav,
	[MR_FILE_REGISTRY] = &mr_codec_registry,
};

const char *mr_layout_name(enum mr_layout l)
{
	switch (l) {
	case MR_LAYOUT_DEBIAN:
		return "debian";
	case MR_LAYOUT_RHEL:
		return "rhel";
	default:
		return "auto";
	}
}

const struct mr_codec *mr_codec_by_name(const char *name)
{
	for (size_t i = 0; i < MR_FILE_COUNT; i++)
		if (strcmp(mr_codecs[i]->name, name) == 0)
			return mr_codecs[i];
	return NULL;
}

const char *mr_codec_path(const struct mr_codec *c, enum mr_layout layout)
{
	return c->path[layout == MR_LAYOUT_RHEL ? 1 : 0];
}

void mr_codec_file_init(struct mr_codec_file *f, const struct mr_codec *c, const char *path)
{
	memset(f, 0, sizeof(*f));
	f->codec = c;
	f->arena = (struct mr_arena)MR_ARENA_INIT;
	f->path = mr_arena_strdup(&f->arena, path);
	f->path_id = mr_loc_file_id(path);
	f->final_newline = true;
}

void mr_codec_file_release(struct mr_codec_file *f)
{
	free(f->data);
	free(f->lines);
	mr_big_free(f->keys.slots, f->keys.cap * sizeof(*f->keys.slots));
	mr_arena_release(&f->arena);
	memset(f, 0, sizeof(*f));
}

char *mr_codec_strip(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/*
 * Exim's lsearch (src/lookups/lsearch.c): trailing white space is ignored; the key runs to
 * the first ':' or white space (a "quoted" key is not something mailrecon writes, so it is
 * refused here); then white space, one optional ':', white space; the rest is the data.
 */
bool mr_codec_lsearch_split(char *s, char **key, char **data)
{
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (*s == '"' || *s == '\0')
		return false;
	char *p = s;
	while (*p && *p != ':' && !isspace((unsigned char)*p))
		p++;
	char *end = p;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == ':')
		p++;
	while (isspace((unsigned char)*p))
		p++;
	*end = '\0';
	*key = s;
	*data = p;
	return true;
}

bool mr_codec_is_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		/* ASCII runs, the common case, eight bytes at a time */
		while (e - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			p += 8;
		}
		if (p == e)
			break;
		if (*p < 0x80) {
			p++;
			continue;
		}
		size_t k;
		uint32_t c;
		if ((*p & 0xe0) == 0xc0)
			k = 1, c = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			k = 2, c = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			k = 3, c = *p & 0x07;
		else
			return false;
		if ((size_t)(e - p) <= k)
			return false;
		for (size_t i = 1; i <= k; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			c = c << 6 | (p[i] & 0x3f);
		}
		if ((k == 1 && c < 0x80) || (k == 2 && c < 0x800) || (k == 3 && (c < 0x10000 || c > 0x10ffff)) ||
		    (c >= 0xd800 && c <= 0xdfff))
			return false;
		p += k + 1;
	}
	return true;
}

bool mr_codec_parse_uint(const char *s, int64_t max, int64_t *out)
{
	int64_t v = 0;
	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

void mr_codec_pct_encode(const char *s, struct mr_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f || *p == '%' || *p == ':' || *p == '=' || *p == '#') {
			mr_buf_addc(out, '%');
			mr_buf_addc(out, hex[*p >> 4]);
			mr_buf_addc(out, hex[*p & 15]);
		} else {
			mr_buf_addc(out, (char)*p);
		}
	}
}


bool mr_codec_pct_decode(char *s)
{
	char *o = s; /* the bytes written are never ahead of the ones read */
	for (const char *p = s; *p; p++) {
		if (*p != '%') {
			*o++ = *p;
			continue;
		}
		int hi = mr_hexval(p[1]), lo = hi < 0 ? -1 : mr_hexval(p[2]);
		if (lo < 0)
			return false;
		*o++ = (char)(hi << 4 | lo);
		p += 2;
	}
	*o = '\0';
	return mr_codec_is_utf8(s, (size_t)(o - s)) && !memchr(s, '\0', (size_t)(o - s));
}

void mr_line_set_ext_(struct mr_line *l, unsigned i, const char *v, struct mr_arena *a)
{
	if (!l->ext) {
		const char **e = mr_arena_alloc(a, (1 + MR_LINE_FIELDS) * sizeof(*e));
		for (unsigned k = 0; k <= MR_LINE_FIELDS; k++)
			e[k] = mr_line_str_(l, k);
		l->strs.ext = e;
		l->ext = true;
	}
	l->strs.ext[i] = v;
}

static struct mr_line *new_line(struct mr_codec_file *f)
{
	f->lines = xgrow(f->lines, sizeof(*f->lines), f->nlines + 1, &f->cap);
	struct mr_line *l = &f->lines[f->nlines++];
	memset(l, 0, sizeof(*l));
	return l;
}

static struct mr_loc loc_of(const struct mr_codec_file *f, uint32_t line, uint32_t col)
{
	return mr_loc_make(f->path_id, line, col);
}

static void bad(struct mr_codec_file *f, struct mr_line *l, struct mr_diags *d, uint32_t col, const char *why)
{
	l->kind = MR_LINE_BAD;
	mr_line_set_base(l, NULL);
	l->nf = 0;
	f->nbad++;
	mr_diag_warning(d, loc_of(f, l->lineno, col), "cannot read this %s line: %s; the file will not be rewritten",
			f->codec->name, why);
}

/* The key of active record l as the key map has it, to find duplicates: its key, or for a
 * file where a key repeats (multi-key) the key and fields joined by ':' in b. */
static const char *map_key(const struct mr_codec_file *f, const struct mr_line *l, struct mr_buf *b, size_t *len)
{
	const char *key = mr_line_key(l);
	if (!(f->codec->flags & MR_CODEC_MULTIKEY)) {
		*len = strlen(key);
		return key;
	}
	mr_buf_reset(b);
	mr_buf_adds(b, key);
	for (unsigned i = 0; i < l->nf; i++) {
		const char *v = mr_line_field(l, i);
		mr_buf_addc(b, ':');
		mr_buf_adds(b, v ? v : "");
	}
	*len = b->len;
	return b->ptr;
}

/* Whether active record l has the key map's key k (map_key's form, without making it). */
static bool key_is(const struct mr_codec_file *f, const struct mr_line *l, const char *k)
{
	const char *key = mr_line_key(l);
	size_t n = strlen(key);
	if (strncmp(k, key, n) != 0)
		return false;
	k += n;
	if (f->codec->flags & MR_CODEC_MULTIKEY)
		for (unsigned i = 0; i < l->nf; i++) {
			const char *v = mr_line_field(l, i);
			v = v ? v : "";
			n = strlen(v);
			if (*k++ != ':' || strncmp(k, v, n) != 0)
				return false;
			k += n;
		}
	return *k == '\0';
}

/* The slot of key k (NUL-terminated, len bytes, hash h): its record's, or the empty one
 * where it would go. */
static uint64_t *key_slot(const struct mr_codec_file *f, const char *k, uint32_t h)
{
	size_t mask = f->keys.cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		uint64_t *s = &f->keys.slots[i];
		if (!*s || ((uint32_t)(*s >> 32) == h && key_is(f, &f->lines[(uint32_t)*s - 1], k)))
			return s;
	}
}

/* Room for n keys in all: the map is at most four fifths full, as a strmap is. */
static void keys_reserve(struct mr_codec_file *f, size_t n)
{
	size_t cap = f->keys.cap ? f->keys.cap : 16;
	while (n * 5 > cap * 4)
		cap *= 2;
	if (cap <= f->keys.cap)
		return;
	uint64_t *old = f->keys.slots;
	size_t oldcap = f->keys.cap;
	f->keys.slots = mr_big_zalloc(cap * sizeof(*f->keys.slots));
	f->keys.cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i]) /* the keys are distinct: the first empty slot of the probe */
			for (size_t j = (size_t)(old[i] >> 32) & (cap - 1);; j = (j + 1) & (cap - 1))
				if (!f->keys.slots[j]) {
					f->keys.slots[j] = old[i];
					break;
				}
	mr_big_free(old, oldcap * sizeof(*old));
}

static bool is_marker(const char *s, size_t n, const char *marker)
{
	size_t m = strlen(marker);
	if (n < m || memcmp(s, marker, m) != 0)
		return false;
	for (size_t i = m; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static bool has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return true;
	return false;
}

/*
 * The bytes of one line while it is parsed.  A codec parses a line in place, in the file's
 * own buffer (f->data), cutting it up into its fields: no second copy of the file.  The
 * line as read is saved first, and afterwards kept (in the arena) only when rendering the
 * record would not give it back byte for byte: on a real file, almost no line.
 */
struct cut {
	char *w;           /* the line in f->data, n bytes; NUL-terminated at n once cut */
	size_t n, rawlen;  /* without and with its line end */
	struct mr_buf orig; /* the line as read, line end included, once cut */
	bool cut;
};

/* Save the line, then NUL-terminate it for the codec's parser; returns the line to parse. */
static char *cut(struct cut *x)
{
	if (!x->cut) {
		mr_buf_reset(&x->orig);
		mr_buf_add(&x->orig, x->w, x->rawlen);
		x->w[x->n] = '\0';
		x->cut = true;
	}
	return x->w;
}

static void parse_content(struct mr_codec_file *f, struct mr_line *l, const char *s, struct cut *x, size_t n,
			  bool in_block, struct mr_diags *d)
{
	const struct mr_codec *c = f->codec;
	bool shared = c->flags & MR_CODEC_SHARED;
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n) {
		l->kind = MR_LINE_BLANK;
		return;
	}
	if (s[0] == '#') {
		l->kind = MR_LINE_COMMENT;
		/* "#info@example.com:..." is a disabled record; "# text" stays a comment */
		if ((c->flags & MR_CODEC_DISABLE) && n > 1 && s[1] != ' ' && s[1] != '\t' && s[1] != '#' &&
		    mr_codec_is_utf8(s, n) && !has_control(s, n)) {
			char *copy = cut(x) + 1;
			const char *why = NULL;
			struct mr_line t = *l;
			mr_line_set_base(&t, x->w);
			if (c->parse(f, &t, copy, n - 1, &why) == MR_LINE_RECORD) {
				*l = t;
				l->kind = MR_LINE_RECORD;
				l->disabled = true;
			}
		}
		return;
	}
	if (shared && !in_block) {
		/* outside the block nothing is owned; an entry that parses is kept for findings */
		l->kind = MR_LINE_FOREIGN;
		if (mr_codec_is_utf8(s, n)) {
			char *copy = cut(x);
			const char *why = NULL;
			struct mr_line t = *l;
			mr_line_set_base(&t, x->w);
			if (c->parse(f, &t, copy, n, &why) == MR_LINE_RECORD) {
				/* its key and fields only */
				l->strs = t.strs;
				l->ext = t.ext;
				memcpy(l->off, t.off, sizeof(l->off));
				l->nf = t.nf;
			}
		}
		return;
	}
	if ((c->flags & MR_CODEC_LSEARCH) && i > 0) {
		bad(f, l, d, 1, "it starts with white space, so Exim would join it to the record above");
		return;
	}
	if (!mr_codec_is_utf8(s, n)) {
		bad(f, l, d, 1, "it is not valid UTF-8");
		return;
	}
	for (size_t k = 0; k < n; k++)
		if (((unsigned char)s[k] < 0x20 && s[k] != '\t') || s[k] == 0x7f) {
			bad(f, l, d, (uint32_t)k + 1, "it has a control character");
			return;
		}
	char *copy = cut(x);
	const char *why = "it is malformed";
	mr_line_set_base(l, x->w);
	int k = c->parse(f, l, copy, n, &why);
	l->in_block = in_block;
	if (k == MR_LINE_BAD) {
		bad(f, l, d, 1, why);
		return;
	}
	l->kind = (uint8_t)k;
}

void mr_codec_parse(struct mr_codec_file *f, const char *data, size_t len, struct mr_diags *d)
{
	char *copy = xmalloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';
	mr_codec_parse_owned(f, copy, len, d);
}

/* A record whose canonical text, '#' and "\n" included, is the line as read: rendering it
 * gives the same bytes, so they need not be kept. */
static bool canonical(const struct mr_codec_file *f, const struct mr_line *l, const struct mr_buf *orig,
		      struct mr_buf *tmp)
{
	size_t n = orig->len;
	if (n < 2 || orig->ptr[n - 1] != '\n' || orig->ptr[n - 2] == '\r')
		return false;
	mr_buf_reset(tmp);
	mr_codec_render_line(f, l, tmp);
	return tmp->len == n - 1 && memcmp(tmp->ptr, orig->ptr, n - 1) == 0;
}

/*
 * The key map's slots are cache misses in a file of a million lines, one per record as it
 * is parsed: the slot of a line's key is fetched KEY_AHEAD lines before the line is parsed,
 * from a guess of its key -- the bytes up to the first ':' or blank, the whole line for a
 * multi-key codec (whose map key joins the fields with ':').  A wrong guess (a comment, a
 * key in capitals, another syntax) only costs a useless fetch; the line's own key decides.
 * Returns where the next line starts.
 */
#define KEY_AHEAD 16

static size_t fetch_key_slot(const struct mr_codec_file *f, const char *data, size_t len, size_t pos)
{
	const char *s = data + pos, *e = memchr(s, '\n', len - pos);
	size_t n = e ? (size_t)(e - s) : len - pos, next = e ? pos + n + 1 : len;
	if (n && s[n - 1] == '\r')
		n--;
	if (!n || s[0] == '#')
		return next;
	size_t k = 0;
	if (f->codec->flags & MR_CODEC_MULTIKEY)
		k = n;
	else
		while (k < n && s[k] != ':' && s[k] != ' ' && s[k] != '\t')
			k++;
	uint32_t h = (uint32_t)mr_hash(s, k);
	__builtin_prefetch(&f->keys.slots[(size_t)h & (f->keys.cap - 1)]);
	return next;
}

void mr_codec_parse_owned(struct mr_codec_file *f, char *data, size_t len, struct mr_diags *d)
{
	const struct mr_codec *c = f->codec;
	bool shared = c->flags & MR_CODEC_SHARED;
	const char *copy = data;
	f->data = data;
	data[len] = '\0';
	/* one line record per line end, allocated once: no regrowth of a 100,000-line array,
	 * and no power-of-two slack */
	size_t nlines = 1;
	for (const char *p = data, *e = data + len; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
		nlines++;
	if (!f->lines) {
		f->lines = xmalloc(nlines * sizeof(*f->lines));
		f->cap = nlines;
	} else {
		f->lines = xgrow(f->lines, sizeof(*f->lines), f->nlines + nlines, &f->cap);
	}
	struct cut x = { .orig = MR_BUF_INIT };
	struct mr_buf tmp = MR_BUF_INIT;
	struct mr_buf kbuf = MR_BUF_INIT; /* a multi-key record's key */
	keys_reserve(f, f->keys.count + nlines);
	uint32_t lineno = 0, crlf_line = 0;
	bool in_block = false;
	uint32_t begin_line = 0;
	size_t pos = 0;
	f->final_newline = len == 0 || data[len - 1] == '\n';
	size_t ahead_pos = 0;    /* the start of the first line whose slot is not fetched yet */
	unsigned ahead_lines = 0; /* the lines from pos to there */
	while (pos < len) {
		for (; ahead_lines < KEY_AHEAD && ahead_pos < len; ahead_lines++)
			ahead_pos = fetch_key_slot(f, copy, len, ahead_pos);
		ahead_lines--; /* this one */
		const char *s = copy + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t rawlen = nl ? (size_t)(nl - s) + 1 : len - pos;
		size_t n = nl ? (size_t)(nl - s) : rawlen;
		pos += rawlen;
		lineno++;
		struct mr_line *l = new_line(f);
		l->raw = s;
		l->rawlen = (uint32_t)rawlen;
		l->lineno = lineno;
		if (n > 0 && s[n - 1] == '\r') {
			n--;
			if (!crlf_line)
				crlf_line = lineno;
		}
		if (memchr(s, '\0', n)) {
			bad(f, l, d, (uint32_t)((const char *)memchr(s, '\0', n) - s) + 1, "it has a NUL byte");
			continue;
		}
		if (n > MR_LINE_MAX) {
			bad(f, l, d, MR_LINE_MAX + 1, "it is longer than 8192 bytes");
			continue;
		}
		if (shared && is_marker(s, n, MR_BLOCK_BEGIN)) {
			if (in_block || begin_line)
				bad(f, l, d, 1, "a second start of mailrecon's block");
			else
				l->kind = MR_LINE_BEGIN, in_block = true, begin_line = lineno;
			continue;
		}
		if (shared && is_marker(s, n, MR_BLOCK_END)) {
			if (!in_block)
				bad(f, l, d, 1, "an end of mailrecon's block without its start");
			else
				l->kind = MR_LINE_END, in_block = false, f->block = true;
			continue;
		}
		x.w = data + (s - copy);
		x.n = n;
		x.rawlen = rawlen;
		x.cut = false;
		parse_content(f, l, s, &x, n, in_block, d);
		if (x.cut) {
			/* s was cut up by the parser: keep the line as read unless rendering gives it */
			if (l->kind == MR_LINE_RECORD && canonical(f, l, &x.orig, &tmp))
				l->raw = NULL;
			else
				l->raw = mr_arena_strndup(&f->arena, x.orig.ptr, x.orig.len);
		}
		if (l->kind == MR_LINE_RECORD && !l->disabled) {
			size_t klen;
			const char *k = map_key(f, l, &kbuf, &klen);
			uint32_t h = (uint32_t)mr_hash(k, klen);
			uint64_t *slot = key_slot(f, k, h);
			if (!*slot) {
				*slot = (uint64_t)h << 32 | (uint64_t)f->nlines; /* l's index + 1 */
				f->keys.count++;
			} else {
				l->shadowed = true;
				size_t fi = (uint32_t)*slot - 1;
				mr_diag_warning(d, loc_of(f, lineno, 1),
						"'%s' is already on line %u; this line is never read", mr_line_key(l),
						f->lines[fi].lineno);
			}
		}
	}
	if (in_block) {
		struct mr_line *b = NULL;
		for (size_t i = 0; i < f->nlines; i++)
			if (f->lines[i].kind == MR_LINE_BEGIN)
				b = &f->lines[i];
		if (b)
			bad(f, b, d, 1, "mailrecon's block has no end marker");
	}
	if (crlf_line)
		mr_diag_warning(d, loc_of(f, crlf_line, 1),
				"CRLF line end (and maybe more below); read as LF, rewritten lines get LF");
	mr_buf_release(&x.orig);
	mr_buf_release(&tmp);
	mr_buf_release(&kbuf);
}

const struct mr_line *mr_codec_find(const struct mr_codec_file *f, const char *key)
{
	if (f->keys_dropped) {
		for (size_t i = 0; i < f->nlines; i++) {
			const struct mr_line *l = &f->lines[i];
			if (l->kind == MR_LINE_RECORD && !l->disabled && !l->shadowed && key_is(f, l, key))
				return l;
		}
		return NULL;
	}
	if (!f->keys.cap)
		return NULL;
	const uint64_t *s = key_slot(f, key, (uint32_t)mr_hash(key, strlen(key)));
	return *s ? &f->lines[(uint32_t)*s - 1] : NULL;
}

void mr_codec_drop_keys(struct mr_codec_file *f)
{
	mr_big_free(f->keys.slots, f->keys.cap * sizeof(*f->keys.slots));
	f->keys.slots = NULL;
	f->keys.cap = f->keys.count = 0;
	f->keys_dropped = true;
}

void mr_codec_render_line(const struct mr_codec_file *f, const struct mr_line *l, struct mr_buf *out)
{
	switch (l->kind) {
	case MR_LINE_BEGIN:
		mr_buf_adds(out, MR_BLOCK_BEGIN);
		break;
	case MR_LINE_END:
		mr_buf_adds(out, MR_BLOCK_END);
		break;
	case MR_LINE_RECORD:
		if (l->disabled)
			mr_buf_addc(out, '#');
		f->codec->render(l, out);
		break;
	default:
		/* a line mailrecon does not own has no canonical form: its bytes are it */
		if (l->raw) {
			size_t n = l->rawlen;
			while (n > 0 && (l->raw[n - 1] == '\n' || l->raw[n - 1] == '\r'))
				n--;
			mr_buf_add(out, l->raw, n);
		}
		break;
	}
}

void mr_codec_render(const struct mr_codec_file *f, struct mr_buf *out)
{
	bool open_line = false; /* the last raw line had no line end */
	for (size_t i = 0; i < f->nlines; i++) {
		const struct mr_line *l = &f->lines[i];
		if (l->raw) {
			mr_buf_add(out, l->raw, l->rawlen);
			open_line = l->rawlen == 0 || l->raw[l->rawlen - 1] != '\n';
			continue;
		}
		if (open_line)
			mr_buf_addc(out, '\n');
		mr_codec_render_line(f, l, out);
		mr_buf_addc(out, '\n');
		open_line = false;
	}
}
