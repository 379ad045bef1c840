/*
 * diag: diagnostics with a source position, collected and reported together.
 *
 * Input errors are not printed where they are found: they are collected, so one run
 * shows every bad line and nothing is applied while any remain.  A location is
 * file:line:col (1-based); line 0 means "the whole file", a NULL file "no file".
 *
 *   struct mr_diags d = MR_DIAGS_INIT;
 *   mr_diag_error(&d, loc, "unknown field '%s'", name);
 *   if (mr_diags_errors(&d)) { mr_diags_print(&d, stderr); ... }
 *   mr_diags_release(&d);
 */
#ifndef MR_UTIL_DIAG_H
#define MR_UTIL_DIAG_H

#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"

struct mr_loc {
	const char *file; /* not owned: the loader keeps file names alive */
	uint32_t line;
	uint32_t col;
};

#define MR_LOC_NONE ((struct mr_loc){ NULL, 0, 0 })

enum mr_severity { MR_SEV_ERROR, MR_SEV_WARNING, MR_SEV_NOTE };

struct mr_diag {
	struct mr_loc loc;
	enum mr_severity sev;
	char *msg;
	size_t seq; /* insertion order: ties keep it */
};

struct mr_diags {
	struct mr_diag *v;
	size_t n, cap;
	size_t errors;
};

#define MR_DIAGS_INIT { NULL, 0, 0, 0 }

void mr_diag_add(struct mr_diags *d, enum mr_severity sev, struct mr_loc loc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define mr_diag_error(d, loc, ...) mr_diag_add((d), MR_SEV_ERROR, (loc), __VA_ARGS__)
#define mr_diag_warning(d, loc, ...) mr_diag_add((d), MR_SEV_WARNING, (loc), __VA_ARGS__)

static inline size_t mr_diags_errors(const struct mr_diags *d) { return d->errors; }

/*
 * Sort by file, line, column (stable), then render one line per diagnostic, its file name
 * and message escaped for a terminal (mr_buf_add_printable): one diagnostic, one line.
 */
void mr_diags_sort(struct mr_diags *d);
void mr_diags_render(const struct mr_diags *d, struct mr_buf *out);
void mr_diags_print(struct mr_diags *d, FILE *f);
/* Format a location the way diagnostics do ("file:3:7"), for "first defined at ..." texts. */
void mr_loc_format(struct mr_loc loc, struct mr_buf *out);
void mr_diags_release(struct mr_diags *d);

#endif
