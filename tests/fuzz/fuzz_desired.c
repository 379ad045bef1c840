/*
 * Fuzz target: one YAML file of the desired state through the loader and the validator.
 * Built as a libFuzzer binary with clang (-DMAILRECON_FUZZ=ON), and always as a replay
 * program that ctest runs over the corpus (tests/fuzz/corpus/desired, the examples and the
 * invalid fixtures), so every input that ever crashed stays a test.
 */
#include <stddef.h>
#include <stdint.h>

#include "load/desired.h"
#include "model/model.h"
#include "util/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_model_init(&m);
	mr_load_yaml_buffer(&m, "fuzz.yaml", (const char *)data, size, &d);
	/* a root that does not exist: secrets named by the input are looked up nowhere real */
	mr_validate_desired(&m, NULL, 0, &d);
	mr_diags_sort(&d);
	struct mr_buf out = MR_BUF_INIT;
	mr_diags_render(&d, &out);
	mr_buf_release(&out);
	mr_diags_release(&d);
	mr_model_release(&m);
	return 0;
}
