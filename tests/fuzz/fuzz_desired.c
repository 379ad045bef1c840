/*
 * Fuzz target: one YAML file of the desired state through the loader and the validator.
 * Built as a libFuzzer binary with clang (-DMAILRECON_FUZZ=ON), and always as a replay
 * program that ctest runs over the corpus (tests/fuzz/corpus/desired, the examples and the
 * invalid fixtures), so every input that ever crashed stays a test.
 *
 * Each input is loaded three times, converted while it is read (each domain as soon as it is
 * complete, what mailrecon does) and from the whole tree afterwards: both must give the same
 * model (as import would print it) and the same messages, or the target aborts; also for a
 * file that turns out not to be valid YAML after some of its domains were converted.  The
 * third load reads the bytes a few at a time (1 to 7, as a file is read from its descriptor,
 * mr_load_yaml_input) and must give what the first gave from the whole buffer: the same
 * messages, down to the line and column of a bad byte.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/desired.h"
#include "load/emit.h"
#include "load/ytree.h"
#include "model/model.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	int parsed;
	struct mr_buf diags, model;
};

/* The bytes handed over a few at a time, the next count taken from the bytes themselves. */
struct chunks {
	const uint8_t *data;
	size_t size, at;
};

static ptrdiff_t chunk_read(void *ctx, void *buf, size_t n)
{
	struct chunks *c = ctx;
	size_t k = c->at < c->size ? 1 + (c->data[c->at] + c->at) % 7 : 0;
	if (k > n)
		k = n;
	if (k > c->size - c->at)
		k = c->size - c->at;
	memcpy(buf, c->data + c->at, k);
	c->at += k;
	return (ptrdiff_t)k;
}

static ptrdiff_t chunk_reread(void *ctx, void *buf, size_t n, uint64_t off)
{
	struct chunks *c = ctx;
	if (off >= c->size)
		return 0;
	if (n > c->size - off)
		n = c->size - (size_t)off;
	memcpy(buf, c->data + off, n);
	return (ptrdiff_t)n;
}

enum how { STREAM, TREE, CHUNKS };

static void load(const uint8_t *data, size_t size, enum how how, struct result *r)
{
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_model_init(&m);
	struct chunks c = { data, size, 0 };
	struct mr_yinput in = { chunk_read, chunk_reread, &c };
	if (how == CHUNKS)
		r->parsed = mr_load_yaml_input(&m, "fuzz.yaml", &in, size, &d);
	else
		r->parsed = mr_load_yaml_buffer_ex(&m, "fuzz.yaml", (const char *)data, size, how == STREAM, &d);
	/* a root that does not exist: secrets named by the input are looked up nowhere real */
	mr_validate_desired(&m, NULL, 0, &d);
	mr_diags_sort(&d);
	r->diags = (struct mr_buf)MR_BUF_INIT;
	r->model = (struct mr_buf)MR_BUF_INIT;
	mr_diags_render(&d, &r->diags);
	struct mr_emit_opts eo = { 0 };
	mr_emit_yaml(&m, &eo, &r->model);
	mr_diags_release(&d);
	mr_model_release(&m);
}

static bool same(const struct mr_buf *a, const struct mr_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static void compare(const char *what, const struct result *s, const struct result *t)
{
	if (s->parsed != t->parsed || !same(&s->diags, &t->diags) || !same(&s->model, &t->model)) {
		fprintf(stderr, "fuzz_desired: the %s load differs from the streamed one\n--- streamed (%d)\n%s\n%s\n"
				"--- %s (%d)\n%s\n%s\n",
			what, s->parsed, s->diags.ptr ? s->diags.ptr : "", s->model.ptr ? s->model.ptr : "", what,
			t->parsed, t->diags.ptr ? t->diags.ptr : "", t->model.ptr ? t->model.ptr : "");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result r[3];
	load(data, size, STREAM, &r[0]);
	load(data, size, TREE, &r[1]);
	load(data, size, CHUNKS, &r[2]);
	compare("tree", &r[0], &r[1]);
	compare("chunked", &r[0], &r[2]);
	for (int i = 0; i < 3; i++) {
		mr_buf_release(&r[i].diags);
		mr_buf_release(&r[i].model);
	}
	return 0;
}
