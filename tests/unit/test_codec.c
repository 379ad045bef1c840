/*
 * Codec golden tests and live-tree tests.
 *
 * tests/fixtures/codec/NAME/CASE.in is parsed with codec NAME: rendering it must give the
 * input back byte for byte, and a dump of the lines and findings must equal CASE.out.
 *
 * tests/fixtures/live/LAYOUT/TREE/ is a root: every managed file in it must round-trip;
 * the findings must equal TREE/findings.txt and `import` must print TREE/import.yaml
 * (after its first line); that YAML must load and validate, and give back a model equal
 * to the live one -- import then plan shows no change.
 *
 * MR_UPDATE_GOLDEN=1 rewrites the expected files instead of comparing (review the diff).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/accounts.h"
#include "codec/codec.h"
#include "codec/live.h"
#include "load/desired.h"
#include "load/emit.h"
#include "model_eq.h"
#include "plan/plan.h"
#include "tests.h"
#include "util/rootfs.h"
#include "util/buf.h"
#include "util/fs.h"

#define CODEC_DIR FIXTURES_DIR "/codec"
#define LIVE_DIR FIXTURES_DIR "/live"

static bool updating(void)
{
	const char *u = getenv("MR_UPDATE_GOLDEN");
	return u && *u == '1';
}

static void write_file(const char *path, const struct mr_buf *b)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(b->ptr ? b->ptr : "", 1, b->len, f), b->len);
	ck_assert_int_eq(fclose(f), 0);
}

/* Compare got with the file; on a difference add a report. */
static int compare(const char *path, const struct mr_buf *got, struct mr_buf *report)
{
	if (updating()) {
		write_file(path, got);
		return 0;
	}
	struct mr_buf want = MR_BUF_INIT, err = MR_BUF_INIT;
	int bad = 0;
	if (mr_read_file(path, 64 << 20, &want, &err) < 0) {
		mr_buf_addf(report, "%s\n", err.ptr);
		bad = 1;
	} else if (want.len != got->len || memcmp(want.ptr, got->ptr ? got->ptr : "", got->len) != 0) {
		mr_buf_addf(report, "%s differs:\n--- expected\n%s--- got\n%s", path, want.ptr, got->ptr ? got->ptr : "");
		bad = 1;
	}
	mr_buf_release(&want);
	mr_buf_release(&err);
	return bad;
}

static const char *const kind_names[] = { "blank", "comment", "foreign", "record", "bad", "begin", "end" };

static void dump(const struct mr_codec_file *f, const struct mr_diags *d, struct mr_buf *out)
{
	for (size_t i = 0; i < f->nlines; i++) {
		const struct mr_line *l = &f->lines[i];
		mr_buf_addf(out, "%u %s%s%s%s", l->lineno, kind_names[l->kind], l->disabled ? " disabled" : "",
			    l->shadowed ? " shadowed" : "", l->in_block ? " in-block" : "");
		if (mr_line_key(l))
			mr_buf_addf(out, " key=%s", mr_line_key(l));
		for (unsigned j = 0; j < MR_LINE_FIELDS; j++)
			if (mr_line_field(l, j))
				mr_buf_addf(out, " [%u]=%s", j, mr_line_field(l, j));
		if (l->kind == MR_LINE_RECORD) {
			mr_buf_adds(out, " | ");
			mr_codec_render_line(f, l, out);
		}
		mr_buf_addc(out, '\n');
	}
	mr_diags_render(d, out);
}

static int codec_case(const struct mr_codec *c, const char *dir, const char *name, struct mr_buf *report)
{
	char *in = mr_path_join(dir, name);
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT, out = MR_BUF_INIT, got = MR_BUF_INIT;
	int bad = 0;
	ck_assert_msg(mr_read_file(in, 64 << 20, &data, &err) == 0, "%s", err.ptr);
	struct mr_codec_file f;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_codec_file_init(&f, c, name);
	mr_codec_parse(&f, data.ptr, data.len, &d);
	mr_codec_render(&f, &out);
	if (out.len != data.len || memcmp(out.ptr ? out.ptr : "", data.ptr, data.len) != 0) {
		mr_buf_addf(report, "%s: render(parse(x)) != x\n", in);
		bad = 1;
	}
	mr_diags_sort(&d);
	dump(&f, &d, &got);
	struct mr_buf expected = MR_BUF_INIT;
	mr_buf_add(&expected, in, strlen(in) - 3);
	mr_buf_adds(&expected, ".out");
	bad |= compare(expected.ptr, &got, report);
	mr_buf_release(&expected);
	mr_diags_release(&d);
	mr_codec_file_release(&f);
	mr_buf_release(&data);
	mr_buf_release(&err);
	mr_buf_release(&out);
	mr_buf_release(&got);
	free(in);
	return bad;
}

START_TEST(every_codec_golden_case)
{
	struct mr_buf report = MR_BUF_INIT;
	int failed = 0, cases = 0;
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		const struct mr_codec *c = mr_codecs[i];
		char *dir = mr_path_join(CODEC_DIR, c->name);
		DIR *dh = opendir(dir);
		ck_assert_msg(dh != NULL, "no golden cases for codec %s in %s", c->name, dir);
		struct mr_pathlist names = MR_PATHLIST_INIT;
		struct dirent *de;
		while ((de = readdir(dh)) != NULL) {
			size_t n = strlen(de->d_name);
			if (n > 3 && strcmp(de->d_name + n - 3, ".in") == 0)
				mr_pathlist_add(&names, de->d_name);
		}
		closedir(dh);
		mr_pathlist_sort(&names);
		ck_assert_msg(names.n > 0, "codec %s has no .in case", c->name);
		for (size_t j = 0; j < names.n; j++, cases++)
			failed += codec_case(c, dir, names.v[j], &report);
		mr_pathlist_release(&names);
		free(dir);
	}
	ck_assert_msg(failed == 0, "%d of %d codec cases failed:\n%s", failed, cases, report.ptr);
	mr_buf_release(&report);
}
END_TEST

/* Every file of a live tree must round-trip byte for byte. */
static int roundtrip_tree(const struct mr_live *lv, struct mr_buf *report)
{
	int bad = 0;
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT, out = MR_BUF_INIT;
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		const struct mr_live_file *lf = &lv->files[i];
		if (!lf->exists)
			continue;
		mr_buf_reset(&data);
		mr_buf_reset(&out);
		struct stat st;
		ck_assert_int_eq(mr_root_read(lv->root, lf->cf.path, 64 << 20, &data, &st, &err), 0);
		mr_codec_render(&lf->cf, &out);
		if (out.len != data.len || memcmp(out.ptr ? out.ptr : "", data.ptr, data.len) != 0) {
			mr_buf_addf(report, "%s: render(parse(x)) != x\n", lf->cf.path);
			bad = 1;
		}
	}
	mr_buf_release(&data);
	mr_buf_release(&err);
	mr_buf_release(&out);
	return bad;
}

static int live_tree(const char *layout, const char *tree, struct mr_buf *report)
{
	char *ldir = mr_path_join(LIVE_DIR, layout);
	char *root = mr_path_join(ldir, tree);
	struct mr_live lv;
	struct mr_diags errors = MR_DIAGS_INIT;
	enum mr_layout lay = strcmp(layout, "rhel") == 0 ? MR_LAYOUT_RHEL : MR_LAYOUT_DEBIAN;
	int bad = 0;
	/* auto-detection must agree with the directory the tree is in */
	struct mr_root *rfs;
	struct mr_buf rerr = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&rfs, root, &rerr), 0);
	mr_buf_release(&rerr);
	int rc = mr_live_load(&lv, &(struct mr_live_opts){ .root = rfs, .layout = MR_LAYOUT_AUTO }, &errors);
	ck_assert_msg(rc == 0, "%s: %s", root, errors.n ? errors.v[0].msg : "?");
	ck_assert_int_eq(lv.layout, lay);
	bad |= roundtrip_tree(&lv, report);

	struct mr_buf got = MR_BUF_INIT, yaml = MR_BUF_INIT;
	mr_diags_render(&lv.findings, &got);
	char *fpath = mr_path_join(root, "findings.txt");
	bad |= compare(fpath, &got, report);

	struct mr_emit_opts eo = { 0 };
	mr_emit_yaml(&lv.model, &eo, &yaml);
	char *ypath = mr_path_join(root, "import.yaml");
	bad |= compare(ypath, &yaml, report);

	/* import then plan: the imported document loads into a model equal to the live one */
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	const char *src[] = { ypath };
	struct mr_load_opts o = { .root = root, .rootfs = rfs, .sources = src, .nsources = 1 };
	mr_model_init(&m);
	char *epath = mr_path_join(root, "import.err");
	struct stat st;
	if (stat(epath, &st) == 0) {
		/* a live state that breaks a desired-state rule: the import says so exactly */
		mr_load_desired(&m, &o, &d);
		struct mr_buf e = MR_BUF_INIT;
		mr_diags_sort(&d);
		mr_diags_render(&d, &e);
		/* locations name the file by its full path: compare from the file name on */
		struct mr_buf rel = MR_BUF_INIT;
		for (const char *p = e.ptr ? e.ptr : "", *q; *p; p = q + 1) {
			q = strchr(p, '\n');
			const char *name = strstr(p, "/import.yaml");
			if (name && name < q)
				p = name + 1;
			mr_buf_add(&rel, p, (size_t)(q - p) + 1);
		}
		bad |= compare(epath, &rel, report);
		mr_buf_release(&rel);
		mr_buf_release(&e);
	} else if (mr_load_desired(&m, &o, &d) < 0) {
		struct mr_buf e = MR_BUF_INIT;
		mr_diags_render(&d, &e);
		mr_buf_addf(report, "%s does not load:\n%s", ypath, e.ptr);
		mr_buf_release(&e);
		bad = 1;
	} else {
		mr_model_sort(&m);
		struct mr_buf why = MR_BUF_INIT;
		if (model_diff(&m, &lv.model, eo.skipped > 0, &why)) {
			mr_buf_addf(report, "%s: imported model differs from the live one: %s\n", root, why.ptr);
			bad = 1;
		}
		mr_buf_release(&why);
		/* and the plan from the import to the live files is empty: no object, no line */
		struct mr_accounts acc;
		struct mr_diags perr = MR_DIAGS_INIT;
		ck_assert_int_eq(mr_accounts_load(&acc, rfs, &perr), 0);
		struct mr_plan p;
		struct mr_plan_input pin = { .desired = &m, .live = &lv, .accounts = &acc };
		int prc = mr_plan_build(&p, &pin, &perr);
		if (prc != 0 || p.nchanges || p.nfiles) {
			struct mr_buf t = MR_BUF_INIT;
			mr_diags_render(&perr, &t);
			mr_plan_print_text(&p, NULL, false, &t);
			mr_buf_addf(report, "%s: import then plan is not empty (rc %d):\n%s", root, prc, t.ptr);
			mr_buf_release(&t);
			bad = 1;
		}
		mr_plan_release(&p);
		mr_accounts_release(&acc);
		mr_diags_release(&perr);
	}
	free(epath);
	mr_diags_release(&d);
	mr_model_release(&m);
	mr_buf_release(&got);
	mr_buf_release(&yaml);
	free(fpath);
	free(ypath);
	mr_diags_release(&errors);
	mr_live_release(&lv);
	mr_root_close(&rfs);
	free(root);
	free(ldir);
	return bad;
}

START_TEST(every_live_tree)
{
	static const char *const layouts[] = { "debian", "rhel" };
	struct mr_buf report = MR_BUF_INIT;
	int failed = 0, trees = 0;
	for (size_t i = 0; i < 2; i++) {
		char *dir = mr_path_join(LIVE_DIR, layouts[i]);
		DIR *dh = opendir(dir);
		ck_assert_ptr_nonnull(dh);
		struct mr_pathlist names = MR_PATHLIST_INIT;
		struct dirent *de;
		while ((de = readdir(dh)) != NULL)
			if (de->d_name[0] != '.')
				mr_pathlist_add(&names, de->d_name);
		closedir(dh);
		mr_pathlist_sort(&names);
		ck_assert_msg(names.n > 0, "no live trees in %s", dir);
		for (size_t j = 0; j < names.n; j++, trees++)
			failed += live_tree(layouts[i], names.v[j], &report);
		mr_pathlist_release(&names);
		free(dir);
	}
	ck_assert_msg(failed == 0, "%d of %d live trees failed:\n%s", failed, trees, report.ptr);
	mr_buf_release(&report);
}
END_TEST

/* UID_MIN as useradd reads ROOT/etc/login.defs; 1000 when it does not say; never 0. */
static int64_t uid_min_of(const char *dir, const char *content, bool *set)
{
	char *etc = mr_path_join(dir, "etc"), *defs = mr_path_join(dir, "etc/login.defs");
	mkdir(etc, 0755);
	unlink(defs);
	if (content) {
		FILE *f = fopen(defs, "w");
		ck_assert_ptr_nonnull(f);
		fputs(content, f);
		ck_assert_int_eq(fclose(f), 0);
	}
	struct mr_root *r;
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&r, dir, &err), 0);
	int64_t v = mr_uid_min(r, set);
	mr_root_close(&r);
	mr_buf_release(&err);
	free(etc);
	free(defs);
	return v;
}

START_TEST(uid_min_from_login_defs)
{
	char dir[] = "/tmp/mr-logindefs-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	bool set = true;
	ck_assert_int_eq(uid_min_of(dir, NULL, &set), 1000);
	ck_assert(!set);
	ck_assert_int_eq(uid_min_of(dir, "# UID_MIN 10\nMAIL_DIR /var/mail\nUID_MIN\t\t 500\nUID_MAX 60000\n", &set), 500);
	ck_assert(set);
	ck_assert_int_eq(uid_min_of(dir, "UID_MIN 0x3e8\r\n", &set), 1000);
	ck_assert_int_eq(uid_min_of(dir, "UID_MIN 0\n", &set), 1); /* uid 0 is never a regular account */
	ck_assert_int_eq(uid_min_of(dir, "UID_MIN 700\nUID_MIN 2000\n", &set), 2000);
	ck_assert_int_eq(uid_min_of(dir, "UID_MIN -5\nUID_MIN 12x\nUID_MIN\nUID_MINIMUM 5\n", &set), 1000);
	ck_assert(!set);
	/* a symbolic link is not followed: the default */
	char *defs = mr_path_join(dir, "etc/login.defs"), *other = mr_path_join(dir, "other.defs");
	unlink(defs);
	FILE *f = fopen(other, "w");
	ck_assert_ptr_nonnull(f);
	fputs("UID_MIN 5\n", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(symlink(other, defs), 0);
	struct mr_root *r;
	struct mr_buf err = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&r, dir, &err), 0);
	ck_assert_int_eq(mr_uid_min(r, &set), 1000);
	/* and the accounts carry it */
	struct mr_accounts a;
	struct mr_diags d = MR_DIAGS_INIT;
	unlink(defs);
	uid_min_of(dir, "UID_MIN 1500\n", NULL);
	ck_assert_int_eq(mr_accounts_load(&a, r, &d), 0);
	mr_root_close(&r);
	mr_buf_release(&err);
	ck_assert_int_eq(a.uid_min, 1500);
	ck_assert(a.uid_min_set);
	mr_accounts_release(&a);
	free(defs);
	free(other);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- struct mr_line: the key and fields as offsets in the line, or pointers (ext) ---- */

_Static_assert(sizeof(struct mr_line) <= 48, "a line record is 48 bytes: 300,000 of them in a 100,000-mailbox plan");

/* Whether p points into f's buffer (the file's bytes, cut up in place). */
static bool in_data(const struct mr_codec_file *f, const char *p, size_t len)
{
	return p && (uintptr_t)p >= (uintptr_t)f->data && (uintptr_t)p <= (uintptr_t)f->data + len;
}

static void parse_text(struct mr_codec_file *f, enum mr_file_id id, const char *text)
{
	struct mr_diags d = MR_DIAGS_INIT;
	mr_codec_file_init(f, mr_codecs[id], "test");
	mr_codec_parse(f, text, strlen(text), &d);
	ck_assert_int_eq((int)f->nbad, 0);
	mr_diags_release(&d);
}

/* Every index set and read back on line l, and set again to NULL: the others keep theirs.
 * near: strings inside the line's reach (offsets), far: strings that are not (ext). */
static void set_each(struct mr_line *l, struct mr_arena *a, const char *const near[1 + MR_LINE_FIELDS],
		     const char *const far[1 + MR_LINE_FIELDS])
{
	const char *want[1 + MR_LINE_FIELDS];
	for (unsigned i = 0; i <= MR_LINE_FIELDS; i++)
		want[i] = i == 0 ? mr_line_key(l) : mr_line_field(l, i - 1);
	for (int round = 0; round < 3; round++)
		for (unsigned i = 0; i <= MR_LINE_FIELDS; i++) {
			const char *v = round == 0 ? near[i] : round == 1 ? NULL : far[i];
			if (i == 0)
				mr_line_set_key(l, v, a);
			else
				mr_line_set_field(l, i - 1, v, a);
			want[i] = v;
			for (unsigned k = 0; k <= MR_LINE_FIELDS; k++)
				ck_assert_ptr_eq(k == 0 ? mr_line_key(l) : mr_line_field(l, k - 1), want[k]);
		}
}

START_TEST(line_fields_in_the_line)
{
	/* dovecot.passwd: the key and seven fields, all in the line; the second one disabled */
	static const char text[] =
		"info@example.com:{PLAIN}x:1001:1002:gecos:/var/www/u/data/email/example.com/info:/bin/false:quota=1 a:b\n"
		"#off@example.com:{PLAIN}y:1001:1002::/h::\n"
		"bare@example.com:{PLAIN}z\n";
	struct mr_codec_file f;
	parse_text(&f, MR_FILE_DOVECOT_PASSWD, text);
	ck_assert_uint_eq(f.nlines, 3);
	const struct mr_line *l = &f.lines[0];
	static const char *const want[] = { "{PLAIN}x", "1001", "1002", "gecos",
					    "/var/www/u/data/email/example.com/info", "/bin/false", "quota=1 a:b" };
	ck_assert_int_eq(l->kind, MR_LINE_RECORD);
	ck_assert(!l->ext);
	ck_assert_str_eq(mr_line_key(l), "info@example.com");
	ck_assert(in_data(&f, mr_line_key(l), sizeof(text)));
	for (unsigned i = 0; i <= MR_F_DOVECOT_EXTRA; i++) {
		ck_assert_str_eq(mr_line_field(l, i), want[i]);
		ck_assert(in_data(&f, mr_line_field(l, i), sizeof(text)));
	}
	for (unsigned i = MR_F_DOVECOT_EXTRA + 1; i < MR_LINE_FIELDS; i++)
		ck_assert_ptr_null(mr_line_field(l, i));
	/* the disabled one: parsed after its '#' */
	l = &f.lines[1];
	ck_assert(l->disabled && !l->ext);
	ck_assert_str_eq(mr_line_key(l), "off@example.com");
	ck_assert_str_eq(mr_line_field(l, MR_F_DOVECOT_HOME), "/h");
	ck_assert_str_eq(mr_line_field(l, MR_F_DOVECOT_GECOS), "");
	/* absent fields are NULL */
	l = &f.lines[2];
	ck_assert_str_eq(mr_line_field(l, MR_F_DOVECOT_HASH), "{PLAIN}z");
	ck_assert_ptr_null(mr_line_field(l, MR_F_DOVECOT_UID));
	ck_assert_ptr_null(mr_line_field(l, MR_F_DOVECOT_EXTRA));
	/* a line's last byte is within reach: a field at the end of a line of MR_LINE_MAX bytes */
	struct mr_buf big = MR_BUF_INIT;
	mr_buf_adds(&big, "long@example.com:{PLAIN}");
	while (big.len < MR_LINE_MAX - 2)
		mr_buf_addc(&big, 'p');
	mr_buf_adds(&big, ":7\n");
	ck_assert_uint_eq(big.len, MR_LINE_MAX + 1);
	struct mr_codec_file g;
	parse_text(&g, MR_FILE_DOVECOT_PASSWD, big.ptr);
	ck_assert(!g.lines[0].ext);
	ck_assert_str_eq(mr_line_field(&g.lines[0], MR_F_DOVECOT_UID), "7");
	ck_assert_uint_eq(strlen(mr_line_field(&g.lines[0], MR_F_DOVECOT_HASH)), MR_LINE_MAX - 2 - 17);
	mr_codec_file_release(&g);
	mr_buf_release(&big);
	/* a copy of a line reads the same */
	struct mr_line c = f.lines[0];
	ck_assert_ptr_eq(mr_line_field(&c, MR_F_DOVECOT_HOME), mr_line_field(&f.lines[0], MR_F_DOVECOT_HOME));
	/* set and read back every index: strings in the line, none, then an arena's */
	const char *line = mr_line_key(&f.lines[0]); /* the start of the line */
	const char *near[1 + MR_LINE_FIELDS], *far[1 + MR_LINE_FIELDS];
	for (unsigned i = 0; i <= MR_LINE_FIELDS; i++) {
		near[i] = line + 3 * i;
		far[i] = mr_arena_printf(&f.arena, "far %u", i);
	}
	set_each(&c, &f.arena, near, far);
	ck_assert(c.ext);
	ck_assert_str_eq(mr_line_field(&c, 4), "far 5");
	ck_assert_str_eq(mr_line_key(&f.lines[0]), "info@example.com"); /* the original is untouched */
	mr_codec_file_release(&f);
}
END_TEST

START_TEST(line_fields_outside_the_line)
{
	/* exim passwd: the words mailrecon does not know are joined in the arena: the line keeps
	 * pointers, and still the fields that are in it */
	static const char text[] = "info@example.com:x=1 owner=alice save=no y=2\nplain@example.com:owner=bob\n";
	struct mr_codec_file f;
	parse_text(&f, MR_FILE_EXIM_PASSWD, text);
	const struct mr_line *l = &f.lines[0];
	ck_assert(l->ext);
	ck_assert_str_eq(mr_line_key(l), "info@example.com");
	ck_assert(in_data(&f, mr_line_key(l), sizeof(text)));
	ck_assert_str_eq(mr_line_field(l, MR_F_PASSWD_OWNER), "alice");
	ck_assert(in_data(&f, mr_line_field(l, MR_F_PASSWD_OWNER), sizeof(text)));
	ck_assert_ptr_null(mr_line_field(l, MR_F_PASSWD_DISABLED));
	ck_assert_str_eq(mr_line_field(l, MR_F_PASSWD_SAVE), "no");
	ck_assert_str_eq(mr_line_field(l, MR_F_PASSWD_EXTRA), "x=1 y=2");
	ck_assert(!in_data(&f, mr_line_field(l, MR_F_PASSWD_EXTRA), sizeof(text)));
	ck_assert_ptr_null(mr_line_field(l, MR_F_PASSWD_LEGACY));
	ck_assert(!f.lines[1].ext);
	ck_assert_str_eq(mr_line_field(&f.lines[1], MR_F_PASSWD_OWNER), "bob");
	struct mr_buf out = MR_BUF_INIT;
	mr_codec_render_line(&f, l, &out);
	ck_assert_str_eq(out.ptr, "info@example.com:owner=alice save=no x=1 y=2");
	mr_buf_release(&out);
	mr_codec_file_release(&f);

	/* registry: the key "KIND NAME" and the decoded values are made in the arena, after one
	 * another: within reach of one base, no pointers */
	static const char reg[] = "domain example.com\towner=alice dmarc=yes\nmailbox a@example.com note=front%20desk\n";
	parse_text(&f, MR_FILE_REGISTRY, reg);
	l = &f.lines[0];
	ck_assert(!l->ext);
	ck_assert_str_eq(mr_line_key(l), "domain example.com");
	ck_assert_str_eq(mr_line_field(l, MR_F_REG_KIND), "domain");
	ck_assert_str_eq(mr_line_field(l, MR_F_REG_NAME), "example.com");
	ck_assert_str_eq(mr_line_field(l, MR_F_REG_DOMAIN_OWNER), "alice");
	ck_assert_str_eq(mr_line_field(l, MR_F_REG_DOMAIN_DMARC), "yes");
	ck_assert_ptr_null(mr_line_field(l, MR_F_REG_DOMAIN_DISABLED_BY));
	ck_assert_str_eq(mr_line_field(&f.lines[1], MR_F_REG_MAILBOX_NOTE), "front desk");
	ck_assert_ptr_eq(mr_codec_find(&f, "mailbox a@example.com"), &f.lines[1]);
	mr_codec_file_release(&f);
}
END_TEST

START_TEST(line_fields_made_by_the_plan)
{
	/* a line the plan makes has no base: its strings are pointers from the first one */
	struct mr_arena a = MR_ARENA_INIT;
	struct mr_line l;
	memset(&l, 0, sizeof(l));
	for (unsigned i = 0; i < MR_LINE_FIELDS; i++)
		ck_assert_ptr_null(mr_line_field(&l, i));
	ck_assert_ptr_null(mr_line_key(&l));
	mr_line_set_field(&l, MR_F_REG_KIND, NULL, &a);
	ck_assert(!l.ext);
	mr_line_set_key(&l, "k", &a);
	ck_assert(l.ext);
	ck_assert_str_eq(mr_line_key(&l), "k");
	ck_assert_ptr_null(mr_line_field(&l, MR_F_REG_KIND));
	/* every index: literals, none, and an arena's */
	memset(&l, 0, sizeof(l));
	static const char *const lit[1 + MR_LINE_FIELDS] = { "k", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8" };
	const char *far[1 + MR_LINE_FIELDS];
	for (unsigned i = 0; i <= MR_LINE_FIELDS; i++)
		far[i] = mr_arena_printf(&a, "arena %u", i);
	set_each(&l, &a, lit, far);
	/* a base (a codec's block): offsets up to 65,534 bytes after it */
	char *buf = mr_arena_alloc(&a, 70000);
	memset(buf, 'x', 70000);
	buf[0] = buf[65534] = buf[65535] = buf[69999] = '\0';
	memset(&l, 0, sizeof(l));
	mr_line_set_base(&l, buf);
	mr_line_set_key(&l, buf, &a);
	mr_line_set_field(&l, 0, buf + 65534, &a); /* the farthest offset there is */
	ck_assert(!l.ext);
	ck_assert_ptr_eq(mr_line_key(&l), buf);
	ck_assert_ptr_eq(mr_line_field(&l, 0), buf + 65534);
	mr_line_set_field(&l, 1, buf + 65535, &a); /* one more: pointers, the others kept */
	ck_assert(l.ext);
	ck_assert_ptr_eq(mr_line_key(&l), buf);
	ck_assert_ptr_eq(mr_line_field(&l, 0), buf + 65534);
	ck_assert_ptr_eq(mr_line_field(&l, 1), buf + 65535);
	/* below the base: pointers too */
	mr_line_set_base(&l, buf + 10);
	ck_assert(!l.ext);
	ck_assert_ptr_null(mr_line_key(&l));
	mr_line_set_key(&l, buf + 10, &a);
	mr_line_set_field(&l, 8, buf + 9, &a);
	ck_assert(l.ext);
	ck_assert_ptr_eq(mr_line_key(&l), buf + 10);
	ck_assert_ptr_eq(mr_line_field(&l, 8), buf + 9);
	/* every index of a line with a base, whose strings all fit, then do not */
	const char *near[1 + MR_LINE_FIELDS];
	for (unsigned i = 0; i <= MR_LINE_FIELDS; i++)
		near[i] = buf + 1 + 7000 * i;
	mr_line_set_base(&l, buf);
	for (unsigned i = 0; i <= MR_LINE_FIELDS; i++) {
		if (i == 0)
			mr_line_set_key(&l, near[i], &a);
		else
			mr_line_set_field(&l, i - 1, near[i], &a);
		ck_assert(!l.ext);
	}
	ck_assert_ptr_eq(mr_line_field(&l, 8), buf + 1 + 7000 * 9);
	set_each(&l, &a, near, far);
	ck_assert(l.ext);
	mr_arena_release(&a);
}
END_TEST

Suite *suite_codec(void)
{
	Suite *s = suite_create("codec");
	TCase *t = tcase_create("golden");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, every_codec_golden_case);
	tcase_add_test(t, every_live_tree);
	tcase_add_test(t, uid_min_from_login_defs);
	suite_add_tcase(s, t);
	t = tcase_create("lines");
	tcase_add_test(t, line_fields_in_the_line);
	tcase_add_test(t, line_fields_outside_the_line);
	tcase_add_test(t, line_fields_made_by_the_plan);
	suite_add_tcase(s, t);
	return s;
}
