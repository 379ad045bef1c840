#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/diag.h"
#include "util/fs.h"
#include "util/strmap.h"
#include "util/strutil.h"
#include "util/xalloc.h"

START_TEST(arena_strings_survive_many_chunks)
{
	struct mr_arena a = MR_ARENA_INIT;
	char *first = mr_arena_strdup(&a, "first");
	char *ptrs[20000];
	for (int i = 0; i < 20000; i++) {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "s%d", i);
		ptrs[i] = mr_arena_strdup(&a, tmp);
		long *n = mr_arena_alloc(&a, sizeof(long));
		*n = i;
		ck_assert_uint_eq((uintptr_t)n % _Alignof(long), 0);
	}
	char *big = mr_arena_alloc(&a, 3 * MR_ARENA_CHUNK);
	memset(big, 'x', 3 * MR_ARENA_CHUNK);
	ck_assert_str_eq(first, "first");
	ck_assert_str_eq(ptrs[0], "s0");
	ck_assert_str_eq(ptrs[19999], "s19999");
	ck_assert_str_eq(mr_arena_printf(&a, "%s-%d", "x", 42), "x-42");
	mr_arena_release(&a);
}
END_TEST

/* What was allocated since a mark is taken back: the next allocation reuses it, within the
 * marked chunk and across chunks made since (the newest is kept and reused). */
START_TEST(arena_rewind_takes_back_what_came_after_the_mark)
{
	struct mr_arena a = MR_ARENA_INIT;
	char *keep = mr_arena_strdup(&a, "kept");
	long *kn = mr_arena_alloc(&a, sizeof(long));
	*kn = 7;
	struct mr_arena_mark m = mr_arena_mark(&a);
	long *p1 = mr_arena_alloc(&a, sizeof(long));
	char *s1 = mr_arena_strdup(&a, "gone");
	mr_arena_rewind(&a, m);
	ck_assert_ptr_eq(mr_arena_alloc(&a, sizeof(long)), p1);
	ck_assert_ptr_eq(mr_arena_strdup(&a, "back"), s1);
	ck_assert_str_eq(s1, "back");
	/* across chunks: 5 MiB of small pieces after the mark, then back */
	m = mr_arena_mark(&a);
	for (int i = 0; i < 5 * 1024 * 16; i++) {
		memset(mr_arena_alloc(&a, 48), 0xa5, 48);
		mr_arena_strdup(&a, "0123456789abcdef");
	}
	mr_arena_rewind(&a, m);
	struct mr_arena_chunk *newest = a.head;
	ck_assert_ptr_ne(newest, m.head); /* the newest chunk is kept, emptied */
	char *reused = mr_arena_alloc(&a, 64);
	ck_assert_ptr_eq(a.head, newest);
	ck_assert_ptr_eq(reused, (char *)a.cur - 64);
	/* a second round of the same size needs no new chunk */
	struct mr_arena_mark m2 = mr_arena_mark(&a);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 1000; i++) {
			memset(mr_arena_alloc(&a, 32), 0x5a, 32);
			mr_arena_strdup(&a, "x");
		}
		ck_assert_ptr_eq(a.head, newest);
		mr_arena_rewind(&a, m2);
	}
	ck_assert_str_eq(keep, "kept");
	ck_assert_int_eq(*kn, 7);
	mr_arena_release(&a);
}
END_TEST

/* mr_arena_zalloc skips the memset only where the memory is known to be zeros: a fresh
 * mapped chunk; memory handed out again after a rewind is cleared */
static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(arena_zalloc_is_zeros_after_rewinds)
{
	struct mr_arena a = MR_ARENA_INIT;
	/* small chunks (malloc'd) and big ones (mapped), filled with pieces then rewound */
	for (int big = 0; big < 2; big++) {
		(void)mr_arena_alloc(&a, big ? 3 * MR_ARENA_CHUNK_MAX : 16);
		struct mr_arena_mark m = mr_arena_mark(&a);
		for (int round = 0; round < 3; round++) {
			for (int i = 0; i < 4000; i++) {
				unsigned char *z = mr_arena_zalloc(&a, 40);
				ck_assert(all_zero(z, 40));
				memset(z, 0xa5, 40);
				memset(mr_arena_strdup(&a, "0123456789abcdefghij"), 0x5a, 20);
			}
			mr_arena_rewind(&a, m);
		}
	}
	/* a big chunk freed by one arena and taken again by another (arena.c's spare chunks)
	 * holds what was written in it: zalloc still clears */
	int reused = 0;
	for (int round = 0; round < 3; round++) {
		struct mr_arena x = MR_ARENA_INIT, y = MR_ARENA_INIT;
		memset(mr_arena_alloc(&x, 2 * MR_ARENA_CHUNK_MAX), 0xff, 2 * MR_ARENA_CHUNK_MAX);
		void *first = x.head;
		mr_arena_release(&x);
		unsigned char *z = mr_arena_zalloc(&y, 2 * MR_ARENA_CHUNK_MAX);
		reused += y.head == first; /* the same chunk, kept */
		ck_assert(all_zero(z, 2 * MR_ARENA_CHUNK_MAX));
		mr_arena_release(&y);
	}
	/* a forked test starts with no spare chunks, so the one just freed is the one taken
	 * (in one process, CK_FORK=no, other tests may have filled the spare list) */
	const char *fork_env = getenv("CK_FORK");
	if (!fork_env || strcmp(fork_env, "no") != 0)
		ck_assert_int_eq(reused, 3);
	/* across a new chunk after a rewind into the middle of the marked one */
	struct mr_arena_mark m = mr_arena_mark(&a);
	for (int i = 0; i < 1024 * 64; i++)
		memset(mr_arena_alloc(&a, 256), 0xff, 256);
	mr_arena_rewind(&a, m);
	for (int i = 0; i < 1024 * 64; i++)
		ck_assert(all_zero(mr_arena_zalloc(&a, 256), 256));
	mr_arena_release(&a);
}
END_TEST

START_TEST(buf_formats_and_detaches)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_buf_adds(&b, "a");
	mr_buf_addc(&b, ':');
	mr_buf_addf(&b, "%d/%s", 7, "x");
	ck_assert_str_eq(b.ptr, "a:7/x");
	ck_assert_uint_eq(b.len, 5);
	for (int i = 0; i < 10000; i++)
		mr_buf_adds(&b, "0123456789");
	ck_assert_uint_eq(b.len, 100005);
	char *s = mr_buf_detach(&b);
	ck_assert_ptr_null(b.ptr);
	ck_assert_uint_eq(strlen(s), 100005);
	free(s);
}
END_TEST

START_TEST(strmap_put_get_set)
{
	struct mr_strmap m = MR_STRMAP_INIT;
	static char keys[50000][12];
	for (int i = 0; i < 50000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		ck_assert_ptr_null(mr_strmap_put_new(&m, keys[i], strlen(keys[i]), (void *)(intptr_t)(i + 1)));
	}
	ck_assert_uint_eq(m.count, 50000);
	for (int i = 0; i < 50000; i += 7)
		ck_assert_int_eq((intptr_t)mr_strmap_get(&m, keys[i], strlen(keys[i])), i + 1);
	ck_assert_ptr_null(mr_strmap_get(&m, "nope", 4));
	/* put_new keeps the first value and returns it */
	ck_assert_int_eq((intptr_t)mr_strmap_put_new(&m, "k5", 2, (void *)99), 6);
	ck_assert_int_eq((intptr_t)mr_strmap_get(&m, "k5", 2), 6);
	/* set replaces it */
	ck_assert_int_eq((intptr_t)mr_strmap_set(&m, "k5", 2, (void *)99), 6);
	ck_assert_int_eq((intptr_t)mr_strmap_get(&m, "k5", 2), 99);
	ck_assert_uint_eq(m.count, 50000);
	mr_strmap_release(&m);
}
END_TEST

/* The look-ahead helpers (strmap.h) give mr_strmap_get()'s answers whatever the loop skips:
 * a position never fetched, or fetched for another key pointer, is hashed again; a position
 * fetched MR_STRMAP_AHEAD before its lookup keeps its hash (the ring holds twice that). */
START_TEST(strmap_ahead_matches_get)
{
	enum { N = 1000 };
	struct mr_strmap m = MR_STRMAP_INIT;
	static char keys[N][12];
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		if (i % 5) /* every fifth key is not in the map */
			mr_strmap_put_new(&m, keys[i], strlen(keys[i]), (void *)(intptr_t)(i + 1));
	}
	struct mr_strmap_ahead a = MR_STRMAP_AHEAD_INIT;
	char other[12];
	for (size_t i = 0; i < N; i++) {
		size_t n = i + MR_STRMAP_AHEAD;
		/* every third position is skipped, as a loop over a file's records skips its comments */
		if (n < N && n % 3)
			mr_strmap_ahead(&a, n, &m, NULL, keys[n], strlen(keys[n]));
		size_t len = strlen(keys[i]);
		bool fetched = i >= MR_STRMAP_AHEAD && i % 3;
		ck_assert(fetched == (mr_strmap_ahead_for(&a, i, keys[i]) != NULL));
		ck_assert_uint_eq(mr_strmap_ahead_hash(&a, i, keys[i], len), mr_hash(keys[i], len));
		ck_assert_ptr_eq(mr_strmap_get_hashed(&m, keys[i], len, mr_strmap_ahead_hash(&a, i, keys[i], len)),
				 mr_strmap_get(&m, keys[i], len));
		ck_assert_uint_eq(mr_strmap_index_hashed(&m, keys[i], len, mr_strmap_ahead_hash(&a, i, keys[i], len)),
				  mr_strmap_index(&m, keys[i], len));
		/* the same bytes under another pointer are not taken for the fetched key */
		memcpy(other, keys[i], len + 1);
		ck_assert_ptr_null(mr_strmap_ahead_for(&a, i, other));
		ck_assert_uint_eq(mr_strmap_ahead_peek(&a, i, &m, other), SIZE_MAX);
	}
	mr_strmap_release(&m);
}
END_TEST

START_TEST(edit_distance_and_closest)
{
	ck_assert_uint_eq(mr_edit_distance("greylistin", "greylisting", 3), 1);
	ck_assert_uint_eq(mr_edit_distance("kitten", "sitting", 5), 3);
	ck_assert_uint_eq(mr_edit_distance("abc", "abc", 2), 0);
	ck_assert_uint_eq(mr_edit_distance("a", "abcdef", 2), 3); /* capped at cap + 1 */
	static const char *const fields[] = { "mail_domains", "mailboxes", "rate_per_hour", NULL };
	ck_assert_str_eq(mr_closest("mailbox", fields), "mailboxes");
	ck_assert_str_eq(mr_closest("domains", fields), "mail_domains");
	ck_assert_ptr_null(mr_closest("colour", fields));
	ck_assert_str_eq(mr_closest("rate", fields), "rate_per_hour"); /* a whole part of one name */
	ck_assert_ptr_null(mr_closest("per", fields)); /* too short to guess from */
}
END_TEST

START_TEST(parse_u64_bounds)
{
	uint64_t v;
	ck_assert(mr_parse_u64("0", 1, 10, &v) && v == 0);
	ck_assert(mr_parse_u64("1000000000", 10, 1000000000, &v) && v == 1000000000);
	ck_assert(!mr_parse_u64("1000000001", 10, 1000000000, &v));
	ck_assert(!mr_parse_u64("5", 1, 0, &v));
	ck_assert(!mr_parse_u64("-1", 2, 10, &v));
	ck_assert(!mr_parse_u64("", 0, 10, &v));
	ck_assert(!mr_parse_u64("99999999999999999999999", 23, UINT64_MAX, &v));
	ck_assert(mr_parse_u64("18446744073709551615", 20, UINT64_MAX, &v) && v == UINT64_MAX);
	ck_assert(!mr_parse_u64("18446744073709551616", 20, UINT64_MAX, &v));
}
END_TEST

START_TEST(diags_sort_and_render)
{
	struct mr_diags d = MR_DIAGS_INIT;
	mr_diag_error(&d, mr_loc_at("b.yaml", 2, 1), "second file");
	mr_diag_error(&d, mr_loc_at("a.yaml", 9, 3), "late");
	mr_diag_warning(&d, mr_loc_at("a.yaml", 2, 5), "early %d", 1);
	mr_diag_error(&d, mr_loc_at("a.yaml", 2, 5), "same place, later");
	mr_diag_error(&d, mr_loc_at("c.yaml", 0, 0), "whole file");
	ck_assert_uint_eq(mr_diags_errors(&d), 4);
	mr_diags_sort(&d);
	struct mr_buf b = MR_BUF_INIT;
	mr_diags_render(&d, &b);
	ck_assert_str_eq(b.ptr, "a.yaml:2:5: warning: early 1\n"
				"a.yaml:2:5: error: same place, later\n"
				"a.yaml:9:3: error: late\n"
				"b.yaml:2:1: error: second file\n"
				"c.yaml: error: whole file\n");
	mr_buf_release(&b);
	mr_diags_release(&d);
}
END_TEST

START_TEST(loc_file_names_are_interned)
{
	ck_assert_uint_eq(sizeof(struct mr_loc), 8);
	ck_assert_uint_eq(mr_loc_file_id(NULL), 0);
	ck_assert_ptr_null(mr_loc_file(MR_LOC_NONE));
	/* the same name, the same id, from whatever buffer; another name, another id */
	char *buf = xstrdup("interned/one.yaml");
	uint32_t one = mr_loc_file_id(buf);
	ck_assert_uint_ne(one, 0);
	ck_assert_uint_eq(mr_loc_file_id("interned/one.yaml"), one);
	uint32_t two = mr_loc_file_id("interned/two.yaml");
	ck_assert_uint_ne(two, 0);
	ck_assert_uint_ne(two, one);
	ck_assert_uint_ne(mr_loc_file_id("interned/one.yam"), one);
	/* the table keeps its own copy: the caller's buffer may go */
	struct mr_loc at = mr_loc_make(one, 7, 9);
	memset(buf, 'x', strlen(buf));
	free(buf);
	ck_assert_str_eq(mr_loc_file(at), "interned/one.yaml");
	ck_assert_str_eq(mr_loc_file(mr_loc_at("interned/two.yaml", 1, 1)), "interned/two.yaml");
	ck_assert(mr_loc_eq(at, mr_loc_at("interned/one.yaml", 7, 9)));
	ck_assert(!mr_loc_eq(at, mr_loc_at("interned/two.yaml", 7, 9)));
	ck_assert(!mr_loc_eq(at, mr_loc_at("interned/one.yaml", 7, 8)));
	/* a column past MR_LOC_COL_MAX saturates, one at it or below is exact; so is a line */
	ck_assert_uint_eq(mr_loc_make(one, 3, 8193).col, 8193);
	ck_assert_uint_eq(mr_loc_make(one, 3, MR_LOC_COL_MAX).col, MR_LOC_COL_MAX);
	ck_assert_uint_eq(mr_loc_make(one, 3, MR_LOC_COL_MAX + 1).col, MR_LOC_COL_MAX);
	ck_assert_uint_eq(mr_loc_make(one, 3, 70000).col, MR_LOC_COL_MAX);
	ck_assert_uint_eq(mr_loc_make(one, 3, UINT32_MAX).col, MR_LOC_COL_MAX);
	ck_assert_uint_eq(mr_loc_make(one, (1u << 29) + 1, 1).line, (1u << 29) + 1);
	ck_assert_uint_eq(mr_loc_make(one, MR_LOC_LINE_MAX + 1, 1).line, MR_LOC_LINE_MAX);
	ck_assert_uint_eq(mr_loc_make(one, UINT32_MAX, 1).line, MR_LOC_LINE_MAX);
	struct mr_buf b = MR_BUF_INIT;
	mr_loc_format(mr_loc_make(one, 3, 70000), &b);
	ck_assert_str_eq(b.ptr, "interned/one.yaml:3:16383");
	mr_buf_reset(&b);
	mr_loc_format(MR_LOC_NONE, &b);
	ck_assert_str_eq(b.ptr, "mailrecon");
	/* diagnostics sort by the file's name, not by the order names were first seen */
	struct mr_diags d = MR_DIAGS_INIT;
	mr_diag_error(&d, mr_loc_at("interned/z.yaml", 1, 1), "z");
	mr_diag_error(&d, mr_loc_at("interned/y.yaml", 2, 1), "y");
	mr_diag_error(&d, MR_LOC_NONE, "none");
	ck_assert_uint_lt(mr_loc_file_id("interned/z.yaml"), mr_loc_file_id("interned/y.yaml"));
	mr_diags_sort(&d);
	mr_buf_reset(&b);
	mr_diags_render(&d, &b);
	ck_assert_str_eq(b.ptr, "mailrecon: error: none\n"
				"interned/y.yaml:2:1: error: y\n"
				"interned/z.yaml:1:1: error: z\n");
	mr_diags_release(&d);
	mr_buf_release(&b);
}
END_TEST

#define INTERN_N 20000 /* past several chunks of the table and several growths of its hash */

struct intern_run {
	bool backwards;
	uint32_t ids[INTERN_N];
};

static void *intern_all(void *arg)
{
	struct intern_run *r = arg;
	char name[64];
	for (size_t k = 0; k < INTERN_N; k++) {
		size_t i = r->backwards ? INTERN_N - 1 - k : k;
		snprintf(name, sizeof(name), "interned/thread/%zu.yaml", i);
		r->ids[i] = mr_loc_file_id(name);
	}
	return NULL;
}

START_TEST(loc_file_ids_agree_across_threads)
{
	struct intern_run *r = xcalloc(2, sizeof(*r));
	r[1].backwards = true;
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, intern_all, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	char name[64];
	struct mr_strmap seen = MR_STRMAP_INIT;
	for (size_t i = 0; i < INTERN_N; i++) {
		ck_assert_uint_eq(r[0].ids[i], r[1].ids[i]);
		ck_assert_uint_ne(r[0].ids[i], 0);
		ck_assert_ptr_null(mr_strmap_put_new(&seen, (const char *)&r[0].ids[i], sizeof(uint32_t), r));
		snprintf(name, sizeof(name), "interned/thread/%zu.yaml", i);
		ck_assert_str_eq(mr_loc_file(mr_loc_make(r[0].ids[i], 1, 1)), name);
		ck_assert_uint_eq(mr_loc_file_id(name), r[0].ids[i]);
	}
	mr_strmap_release(&seen);
	free(r);
}
END_TEST

/* A full table: a new name gets the id that says so, never another file's; the names
 * recorded keep theirs.  In a child: the table is the process's. */
START_TEST(loc_file_table_full_names_no_other_file)
{
	uint32_t kept = mr_loc_file_id("interned/before-full.yaml");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char name[64], prev[64] = "";
		uint32_t last = 0, id;
		for (size_t i = 0;; i++) {
			snprintf(name, sizeof(name), "interned/full/%zu", i);
			if ((id = mr_loc_file_id(name)) == MR_LOC_FILES_MAX + 1)
				break;
			if (last && id != last + 1)
				_exit(2); /* ids are handed out in order */
			last = id;
			memcpy(prev, name, sizeof(name));
		}
		int bad = last != MR_LOC_FILES_MAX;
		bad |= strcmp(mr_loc_file(mr_loc_make(id, 1, 1)), MR_LOC_FILE_LOST) != 0;
		bad |= mr_loc_file_id(name) != MR_LOC_FILES_MAX + 1;
		bad |= mr_loc_file_id("interned/another.yaml") != MR_LOC_FILES_MAX + 1;
		bad |= strcmp(mr_loc_file(mr_loc_make(last, 1, 1)), prev) != 0;
		bad |= mr_loc_file_id(prev) != last;
		bad |= mr_loc_file_id("interned/before-full.yaml") != kept;
		bad |= strcmp(mr_loc_file(mr_loc_make(kept, 1, 1)), "interned/before-full.yaml") != 0;
		_exit(bad ? 3 : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ck_assert_msg(errno == EINTR, "waitpid: %s", strerror(errno));
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %d", st);
}
END_TEST

START_TEST(printable_escapes_what_a_terminal_acts_on)
{
	struct mr_buf b = MR_BUF_INIT;
	const char in[] = "a\x1b[31mb\tc\nd\x7f\xc2\x9b\xff\xc3\xa9\xe2\x82\xac\\x1b\xf0\x9f\x98\x80\xe2\x82";
	mr_buf_add_printable(&b, in, sizeof(in) - 1, 0);
	ck_assert_str_eq(b.ptr, "a\\x1b[31mb\\x09c\\x0ad\\x7f\\xc2\\x9b\\xff\xc3\xa9\xe2\x82\xac\\x1b\xf0\x9f\x98\x80"
				"\\xe2\\x82");
	/* escaping twice changes nothing more */
	struct mr_buf again = MR_BUF_INIT;
	mr_buf_add_printable(&again, b.ptr, b.len, 0);
	ck_assert_str_eq(again.ptr, b.ptr);
	/* text of several lines keeps its line ends, nothing else */
	mr_buf_reset(&b);
	mr_buf_add_printable(&b, "one\ntwo\r\n", 9, MR_PRINTABLE_LINES);
	ck_assert_str_eq(b.ptr, "one\ntwo\\x0d\n");
	/* a NUL inside the given length is escaped, not an end */
	mr_buf_reset(&b);
	mr_buf_add_printable(&b, "a\0b", 3, 0);
	ck_assert_str_eq(b.ptr, "a\\x00b");
	mr_buf_reset(&b);
	mr_buf_adds_printable(&b, NULL);
	ck_assert_uint_eq(b.len, 0);
	/* and the diagnostics use it, file names included */
	struct mr_diags d = MR_DIAGS_INIT;
	mr_diag_error(&d, mr_loc_at("f\x1b.yaml", 2, 3), "unknown field '%s'", "k\x1b]0;x\x07");
	mr_buf_reset(&b);
	mr_diags_render(&d, &b);
	ck_assert_str_eq(b.ptr, "f\\x1b.yaml:2:3: error: unknown field 'k\\x1b]0;x\\x07'\n");
	mr_diags_release(&d);
	mr_buf_release(&again);
	mr_buf_release(&b);
}
END_TEST

START_TEST(paths)
{
	char *p = mr_path_join_root("/", "/etc/exim4/passwd");
	ck_assert_str_eq(p, "/etc/exim4/passwd");
	free(p);
	p = mr_path_join_root("build/sandbox/", "/etc/exim4/passwd");
	ck_assert_str_eq(p, "build/sandbox/etc/exim4/passwd");
	free(p);
	p = mr_path_dirname("a/b/c.yaml");
	ck_assert_str_eq(p, "a/b");
	free(p);
	p = mr_path_dirname("c.yaml");
	ck_assert_str_eq(p, ".");
	free(p);
	p = mr_path_join("dir/", "f");
	ck_assert_str_eq(p, "dir/f");
	free(p);
}
END_TEST

/* A --scope -f path made absolute as text: '.', '..', '//' and a final '/' resolved without
 * asking the file system (a link in it is then refused by the strict walk, never followed). */
START_TEST(clean_absolute_paths)
{
	static const char *const cases[][2] = {
		{ "/", "/" },
		{ "/a/b/c.yaml", "/a/b/c.yaml" },
		{ "//a///b/", "/a/b" },
		{ "/a/./b/.", "/a/b" },
		{ "/a/b/../c", "/a/c" },
		{ "/a/link/../../../x", "/x" },
		{ "/..", "/" },
		{ "/a/..", "/" },
		{ "/a/...", "/a/..." },
		{ "/a/.b/..c", "/a/.b/..c" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = mr_path_clean_absolute(cases[i][0]);
		ck_assert_msg(p && strcmp(p, cases[i][1]) == 0, "%s -> %s, wanted %s", cases[i][0], p ? p : "NULL",
			      cases[i][1]);
		free(p);
	}
	/* relative: from the working directory, which getcwd gives without links */
	char dir[] = "/tmp/mr-test-XXXXXX", *cwd = getcwd(NULL, 0), want[512];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_ptr_nonnull(cwd);
	ck_assert_int_eq(chdir(dir), 0);
	char *here = getcwd(NULL, 0);
	ck_assert_ptr_nonnull(here);
	char *p = mr_path_clean_absolute("conf/../x.yaml");
	snprintf(want, sizeof(want), "%s/x.yaml", here);
	ck_assert_str_eq(p, want);
	free(p);
	p = mr_path_clean_absolute(".");
	ck_assert_str_eq(p, here);
	free(p);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	free(here);
	free(cwd);
}
END_TEST

START_TEST(read_file_refuses_large_and_dirs)
{
	char dir[] = "/tmp/mr-test-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/big", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("0123456789", f);
	fclose(f);
	struct mr_buf out = MR_BUF_INIT, err = MR_BUF_INIT;
	ck_assert_int_lt(mr_read_file(path, 5, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.ptr, "too large"));
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_read_file(path, 10, &out, &err), 0);
	ck_assert_str_eq(out.ptr, "0123456789");
	ck_assert_int_lt(mr_read_file(dir, 10, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.ptr, "is a directory"));
	remove(path);
	remove(dir);
	mr_buf_release(&out);
	mr_buf_release(&err);
}
END_TEST

/* A directory walk never follows a link: a link with a wanted name is an error naming it, a
 * link to a directory is not entered, the other files are still listed. */
START_TEST(find_files_never_follows_links)
{
	char dir[] = "/tmp/mr-test-XXXXXX", p[512], q[512];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	const char *const sfx[] = { ".yaml", NULL };
	snprintf(p, sizeof(p), "%s/top", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/elsewhere", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/elsewhere/secret.yaml", dir);
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/top/b.yaml", dir);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/elsewhere", dir);
	snprintf(q, sizeof(q), "%s/top/sub", dir);
	ck_assert_int_eq(symlink(p, q), 0);
	struct mr_pathlist l = MR_PATHLIST_INIT;
	struct mr_buf err = MR_BUF_INIT;
	snprintf(p, sizeof(p), "%s/top", dir);
	ck_assert_int_eq(mr_find_files(p, sfx, &l, &err), 0); /* sub/ is not entered */
	ck_assert_uint_eq(l.n, 1);
	ck_assert_ptr_nonnull(strstr(l.v[0], "/top/b.yaml"));
	mr_pathlist_release(&l);
	snprintf(p, sizeof(p), "%s/elsewhere/secret.yaml", dir);
	snprintf(q, sizeof(q), "%s/top/a.yaml", dir);
	ck_assert_int_eq(symlink(p, q), 0);
	snprintf(p, sizeof(p), "%s/top", dir);
	ck_assert_int_eq(mr_find_files(p, sfx, &l, &err), -ELOOP);
	ck_assert_msg(strstr(err.ptr, "/top/a.yaml' is a symbolic link; refused") != NULL, "%s", err.ptr);
	ck_assert_uint_eq(l.n, 1); /* b.yaml: the caller may still use what is there */
	mr_pathlist_release(&l);
	mr_buf_reset(&err);
	/* the top itself: followed unless MR_FIND_NOFOLLOW */
	snprintf(q, sizeof(q), "%s/toplink", dir);
	snprintf(p, sizeof(p), "%s/elsewhere", dir);
	ck_assert_int_eq(symlink(p, q), 0);
	ck_assert_int_eq(mr_find_files_ex(q, sfx, 0, &l, &err), 0);
	ck_assert_uint_eq(l.n, 1);
	mr_pathlist_release(&l);
	ck_assert_int_eq(mr_find_files_ex(q, sfx, MR_FIND_NOFOLLOW, &l, &err), -ELOOP);
	ck_assert_msg(strstr(err.ptr, "toplink' is a symbolic link; refused") != NULL, "%s", err.ptr);
	ck_assert_uint_eq(l.n, 0);
	/* from a descriptor: the walk starts there, whatever the name leads to now */
	snprintf(p, sizeof(p), "%s/top", dir);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	snprintf(q, sizeof(q), "%s/top.old", dir);
	ck_assert_int_eq(rename(p, q), 0);
	snprintf(q, sizeof(q), "%s/elsewhere", dir);
	ck_assert_int_eq(symlink(q, p), 0); /* top is now a link to elsewhere */
	mr_buf_reset(&err);
	ck_assert_int_eq(mr_find_files_fd(fd, "shown", sfx, &l, &err), -ELOOP); /* a.yaml, still */
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.v[0], "shown/b.yaml");
	ck_assert_msg(strstr(err.ptr, "'shown/a.yaml' is a symbolic link") != NULL, "%s", err.ptr);
	mr_pathlist_release(&l);
	mr_buf_release(&err);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *suite_util(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, arena_strings_survive_many_chunks);
	tcase_add_test(tc, arena_rewind_takes_back_what_came_after_the_mark);
	tcase_add_test(tc, arena_zalloc_is_zeros_after_rewinds);
	tcase_add_test(tc, buf_formats_and_detaches);
	tcase_add_test(tc, strmap_put_get_set);
	tcase_add_test(tc, strmap_ahead_matches_get);
	tcase_add_test(tc, edit_distance_and_closest);
	tcase_add_test(tc, parse_u64_bounds);
	tcase_add_test(tc, diags_sort_and_render);
	tcase_add_test(tc, loc_file_names_are_interned);
	tcase_add_test(tc, loc_file_ids_agree_across_threads);
	tcase_add_test(tc, loc_file_table_full_names_no_other_file);
	tcase_add_test(tc, paths);
	tcase_add_test(tc, clean_absolute_paths);
	tcase_add_test(tc, printable_escapes_what_a_terminal_acts_on);
	tcase_add_test(tc, read_file_refuses_large_and_dirs);
	tcase_add_test(tc, find_files_never_follows_links);
	suite_add_tcase(s, tc);
	return s;
}
