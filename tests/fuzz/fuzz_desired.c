/*
 * Fuzz target: one YAML file of the desired state through the loader and the validator.
 * Built as a libFuzzer binary with clang (-DMAILRECON_FUZZ=ON), and always as a replay
 * program that ctest runs over the corpus (tests/fuzz/corpus/desired, the examples and the
 * invalid fixtures), so every input that ever crashed stays a test.
 *
 * Each input is loaded twice, converted while it is read (each domain as soon as it is
 * complete, what mailrecon does) and from the whole tree afterwards: both must give the same
 * model (as import would print it) and the same messages, or the target aborts; also for a
 * file that turns out not to be valid YAML after some of its domains were converted.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/desired.h"
#include "load/emit.h"
#include "model/model.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	int parsed;
	struct mr_buf diags, model;
};

static void load(const uint8_t *data, size_t size, bool stream, struct result *r)
{
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_model_init(&m);
	r->parsed = mr_load_yaml_buffer_ex(&m, "fuzz.yaml", (const char *)data, size, stream, &d);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result s, t;
	load(data, size, true, &s);
	load(data, size, false, &t);
	if (s.parsed != t.parsed || !same(&s.diags, &t.diags) || !same(&s.model, &t.model)) {
		fprintf(stderr, "fuzz_desired: the streamed load differs from the tree's\n--- streamed (%d)\n%s\n%s\n"
				"--- tree (%d)\n%s\n%s\n",
			s.parsed, s.diags.ptr ? s.diags.ptr : "", s.model.ptr ? s.model.ptr : "", t.parsed,
			t.diags.ptr ? t.diags.ptr : "", t.model.ptr ? t.model.ptr : "");
		abort();
	}
	mr_buf_release(&s.diags);
	mr_buf_release(&s.model);
	mr_buf_release(&t.diags);
	mr_buf_release(&t.model);
	return 0;
}
