/*
 * diag: diagnostics with a source position, collected and reported together.
 *
 * Input errors are not printed where they are found: they are collected, so one run
 * shows every bad line and nothing is applied while any remain.  A location is
 * file:line:col (1-based); line 0 means "the whole file", column 0 "the whole line", file 0
 * (MR_LOC_NONE) "no file".
 *
 *   struct mr_diags d = MR_DIAGS_INIT;
 *   mr_diag_error(&d, loc, "unknown field '%s'", name);
 *   if (mr_diags_errors(&d)) { mr_diags_print(&d, stderr); ... }
 *   mr_diags_release(&d);
 */
#ifndef MR_UTIL_DIAG_H
#define MR_UTIL_DIAG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"

/*
 * A location is 8 bytes, as every object of a model carries several: the line and the column
 * as numbers and the file as an id in a process-wide, append-only table of file names:
 * mr_loc_file_id() records a name once (a copy: the caller's string need not outlive the
 * location) and mr_loc_file() gives it back.  Id 0 is "no file".  Limits:
 *   - line: 30 bits, exact for every file mailrecon reads (at most 512 MiB: 2^29 + 1 lines);
 *     a larger one would be recorded as MR_LOC_LINE_MAX;
 *   - column: 14 bits; one past MR_LOC_COL_MAX (16383) is recorded as MR_LOC_COL_MAX (a
 *     live file's lines are at most 8192 bytes, MR_LINE_MAX; a YAML line may be longer);
 *   - file: 20 bits, MR_LOC_FILES_MAX (1,048,574) names in a run -- the desired files, the
 *     live files and each live key file (ssl/DOMAIN.private, .txt, .crt, .key: up to four a
 *     domain); past that, a location names MR_LOC_FILE_LOST, never another file.
 * Make locations with mr_loc_make() (an id from mr_loc_file_id(), taken once per file where
 * a file has many locations) or mr_loc_at(), not by hand: they saturate, where an assignment
 * to a field would wrap.
 */
struct mr_loc {
	uint64_t line : 30;
	uint64_t col : 14;
	uint64_t file : 20; /* mr_loc_file_id(); 0: no file */
};

#define MR_LOC_LINE_MAX ((1u << 30) - 1)
#define MR_LOC_COL_MAX ((1u << 14) - 1)
#define MR_LOC_FILES_MAX ((1u << 20) - 2) /* ids 1..MR_LOC_FILES_MAX; the one after: lost */
#define MR_LOC_FILE_LOST "(a file name not recorded: more than 1048574 files in one run)"

_Static_assert(sizeof(struct mr_loc) == 8, "struct mr_loc is 8 bytes");

#define MR_LOC_NONE ((struct mr_loc){ 0, 0, 0 })

/* The id of a file name, recorded on its first use (thread-safe); NULL: 0, no file. */
uint32_t mr_loc_file_id(const char *name);
/* The file's name, or NULL for none (valid for the life of the process). */
const char *mr_loc_file(struct mr_loc loc);

static inline struct mr_loc mr_loc_make(uint32_t file_id, uint32_t line, uint32_t col)
{
	return (struct mr_loc){ line > MR_LOC_LINE_MAX ? MR_LOC_LINE_MAX : line,
				col > MR_LOC_COL_MAX ? MR_LOC_COL_MAX : col, file_id };
}

/* Records file's name on every call: for places made once, not per line of a file. */
static inline struct mr_loc mr_loc_at(const char *file, uint32_t line, uint32_t col)
{
	return mr_loc_make(mr_loc_file_id(file), line, col);
}

/* The same place: the same file, line and column. */
static inline bool mr_loc_eq(struct mr_loc a, struct mr_loc b)
{
	return a.file == b.file && a.line == b.line && a.col == b.col;
}

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
