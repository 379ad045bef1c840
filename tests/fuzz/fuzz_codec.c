/*
 * Fuzz target for one live-file codec, chosen at build time (-DMR_FUZZ_CODEC="exim-passwd").
 * Properties checked, aborting on a violation:
 *   - render(parse(x)) == x, byte for byte, whatever x is;
 *   - the canonical text of every record parses back to a record with the same key,
 *     fields and canonical text (what mailrecon writes, it reads back unchanged);
 *   - mr_codec_find gives the same line by the key map and, once it is dropped, by a walk;
 *     and both give the first active record whose joined key is the key byte for byte,
 *     found here by strcmp (the map and the walk both compare with key_is(): a fault there
 *     would not show as a difference between them).
 * Built as a libFuzzer binary with clang (-DMAILRECON_FUZZ=ON), and always as a replay
 * program that ctest runs over tests/fuzz/corpus/CODEC and tests/fixtures/codec/CODEC.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "util/buf.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_codec %s: %s\n", MR_FUZZ_CODEC, what);
	abort();
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_canonical(const struct mr_codec *c, const struct mr_codec_file *f, const struct mr_line *l)
{
	struct mr_buf text = MR_BUF_INIT, again = MR_BUF_INIT, line = MR_BUF_INIT;
	bool shared = c->flags & MR_CODEC_SHARED;
	if (shared && l->in_block)
		mr_buf_adds(&text, MR_BLOCK_BEGIN "\n");
	mr_codec_render_line(f, l, &line);
	mr_buf_add(&text, line.ptr, line.len);
	mr_buf_addc(&text, '\n');
	if (shared && l->in_block)
		mr_buf_adds(&text, MR_BLOCK_END "\n");
	struct mr_codec_file g;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_codec_file_init(&g, c, "canonical");
	mr_codec_parse(&g, text.ptr, text.len, &d);
	const struct mr_line *r = &g.lines[shared && l->in_block ? 1 : 0];
	if (r->kind != MR_LINE_RECORD || r->disabled != l->disabled)
		fail("a canonical record does not parse back as a record");
	if (!same_str(mr_line_key(r), mr_line_key(l)))
		fail("a canonical record parses back with another key");
	for (unsigned i = 0; i < MR_LINE_FIELDS; i++)
		if (!same_str(mr_line_field(r, i), mr_line_field(l, i)))
			fail("a canonical record parses back with another field");
	mr_codec_render_line(&g, r, &again);
	if (again.len != line.len || memcmp(again.ptr, line.ptr, line.len) != 0)
		fail("the canonical text is not stable");
	mr_codec_file_release(&g);
	mr_diags_release(&d);
	mr_buf_release(&text);
	mr_buf_release(&again);
	mr_buf_release(&line);
}

/* mr_codec_find answers the same by the key map and, once it is dropped, by walking the
 * lines: for the key of every record (a multi-key file's map key is KEY:F1:F2...) and for
 * names no record has. */
/* A record's key as the key map joins it (a multi-key codec's fields after ':'), malloc'd. */
static char *joined_key(const struct mr_codec *c, const struct mr_line *l)
{
	struct mr_buf k = MR_BUF_INIT;
	mr_buf_adds(&k, mr_line_key(l));
	for (unsigned j = 0; (c->flags & MR_CODEC_MULTIKEY) && j < l->nf; j++) {
		mr_buf_addc(&k, ':');
		mr_buf_adds(&k, mr_line_field(l, j) ? mr_line_field(l, j) : "");
	}
	char *s = mr_buf_detach(&k);
	return s ? s : strdup("");
}

static void check_find(const struct mr_codec *c, struct mr_codec_file *f)
{
	size_t n = 0;
	char **keys = calloc(f->nlines + 6, sizeof(*keys));
	const struct mr_line **want = calloc(f->nlines + 6, sizeof(*want));
	if (!keys || !want)
		fail("out of memory");
	for (size_t i = 0; i < f->nlines; i++) {
		const struct mr_line *l = &f->lines[i];
		if (l->kind != MR_LINE_RECORD || !mr_line_key(l))
			continue;
		keys[n++] = joined_key(c, l);
	}
	/* near misses of the first record's key: one byte short, one more, a field short, a ':' more */
	size_t nrec = n;
	if (nrec) {
		size_t kl = strlen(keys[0]);
		char *a = malloc(kl + 3);
		if (!a)
			fail("out of memory");
		memcpy(a, keys[0], kl + 1);
		keys[n++] = kl ? strndup(a, kl - 1) : strdup("x");
		strcat(a, "x");
		keys[n++] = strdup(a);
		a[kl] = ':';
		a[kl + 1] = '\0';
		keys[n++] = strdup(a);
		char *colon = strrchr(keys[0], ':');
		keys[n++] = colon ? strndup(keys[0], (size_t)(colon - keys[0])) : strdup(":");
		free(a);
	}
	keys[n++] = strdup("no-such-key@example.invalid");
	keys[n++] = strdup("");
	for (size_t i = 0; i < n; i++) {
		want[i] = mr_codec_find(f, keys[i]);
		/* the independent answer: the first active record whose joined key is keys[i] */
		const struct mr_line *first = NULL;
		for (size_t j = 0; j < f->nlines && !first; j++) {
			const struct mr_line *l = &f->lines[j];
			if (l->kind != MR_LINE_RECORD || l->disabled || !mr_line_key(l))
				continue;
			char *k = joined_key(c, l);
			if (strcmp(k, keys[i]) == 0)
				first = l;
			free(k);
		}
		if (want[i] != first)
			fail("mr_codec_find by the key map is not the first active record with that key");
	}
	mr_codec_drop_keys(f);
	for (size_t i = 0; i < n; i++)
		if (mr_codec_find(f, keys[i]) != want[i])
			fail("mr_codec_find differs once the key map is dropped");
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct mr_codec *c = mr_codec_by_name(MR_FUZZ_CODEC);
	if (!c)
		fail("no such codec");
	struct mr_codec_file f;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_codec_file_init(&f, c, "fuzz");
	mr_codec_parse(&f, (const char *)data, size, &d);
	struct mr_buf out = MR_BUF_INIT;
	mr_codec_render(&f, &out);
	if (out.len != size || (size && memcmp(out.ptr, data, size) != 0))
		fail("render(parse(x)) != x");
	for (size_t i = 0; i < f.nlines; i++)
		if (f.lines[i].kind == MR_LINE_RECORD)
			check_canonical(c, &f, &f.lines[i]);
	check_find(c, &f);
	mr_diags_sort(&d);
	mr_buf_reset(&out);
	mr_diags_render(&d, &out);
	mr_buf_release(&out);
	mr_diags_release(&d);
	mr_codec_file_release(&f);
	return 0;
}
