/* model_eq: field-by-field comparison of two models, for the import round-trip tests. */
#ifndef MR_TESTS_MODEL_EQ_H
#define MR_TESTS_MODEL_EQ_H

#include <stdbool.h>

#include "model/model.h"
#include "util/buf.h"

/*
 * 0 when a (desired, sorted) and b (live, sorted) declare the same state, else 1 with the
 * first difference in why.  With partial, objects of b missing from a are allowed (import
 * left them out with a comment).
 */
int model_diff(const struct mr_model *a, const struct mr_model *b, bool partial, struct mr_buf *why);

#endif
