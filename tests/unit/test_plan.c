/*
 * Plan golden tests.  Each tests/fixtures/plan/CASE/ holds:
 *   live          one line: the live tree under tests/fixtures/live/ (e.g. debian/hosting)
 *   desired/      the desired state (YAML; password files beside it)
 *   scope         optional: the --scope user
 *   targets       optional: the --target objects, one a line
 * and the expected results, compared byte for byte (MR_UPDATE_GOLDEN=1 rewrites them):
 *   plan.txt      the text plan with its findings, or the errors when the plan is refused
 *   plan.json     the JSON plan (also validated against schema/plan.schema.json by the
 *                 schema test)
 *   files/NAME    the new content of every line file the plan changes (NAME: the path with
 *                 '/' as '_')
 * Every output is also checked to hold no password hash and no clear password, and every
 * live file to be, after the plans, the bytes it was read as: the live model's strings are
 * those bytes (codec/live.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/accounts.h"
#include "codec/live.h"
#include "crypto/digest.h"
#include "crypto/password.h"
#include "load/desired.h"
#include "load/secret.h"
#include "plan/plan.h"
#include "tests.h"
#include "util/rootfs.h"
#include "util/fs.h"

#define PLAN_DIR FIXTURES_DIR "/plan"
#define LIVE_DIR FIXTURES_DIR "/live"

static bool updating(void)
{
	const char *u = getenv("MR_UPDATE_GOLDEN");
	return u && *u == '1';
}

static char *slurp(const char *path)
{
	struct mr_buf b = MR_BUF_INIT, e = MR_BUF_INIT;
	if (mr_read_file(path, 64 << 20, &b, &e) < 0) {
		mr_buf_release(&b);
		mr_buf_release(&e);
		return NULL;
	}
	mr_buf_release(&e);
	return b.ptr ? mr_buf_detach(&b) : calloc(1, 1);
}

static int compare(const char *path, const char *got, size_t len, struct mr_buf *report)
{
	if (updating()) {
		FILE *f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(got, 1, len, f), len);
		ck_assert_int_eq(fclose(f), 0);
		return 0;
	}
	char *want = slurp(path);
	int bad = !want || strlen(want) != len || memcmp(want, got, len) != 0;
	if (bad)
		mr_buf_addf(report, "%s differs:\n--- expected\n%s--- got\n%.*s", path, want ? want : "(missing)\n", (int)len, got);
	free(want);
	return bad;
}

/* Secrets that appear in the fixtures: none may reach any output. */
static const char *const secrets[] = {
	"e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6",
	"daAuycRAjlwaanwmV2h2T0vyO",
	"ae16435de5c66bd79e7a1d616cda8454de4f30e0b3ef4c687d8aa62236539367",
	"hunter2",
	"Secr3t!",
	"correct horse",
	NULL,
};

static int no_secret(const char *what, const char *s, struct mr_buf *report)
{
	for (const char *const *x = secrets; *x; x++)
		if (strstr(s, *x)) {
			mr_buf_addf(report, "%s holds a secret (fixture secret #%d)\n", what, (int)(x - secrets));
			return 1;
		}
	return 0;
}

static int password_same(void *ctx, const struct mr_mailbox *d, const char *live_hash, struct mr_diags *errors)
{
	struct mr_root *root = ctx;
	struct mr_buf clear = MR_BUF_INIT, why = MR_BUF_INIT;
	const struct mr_password pw = mr_mailbox_password(d);
	if (mr_secret_read(root, &pw, &clear, &why) < 0) {
		mr_diag_error(errors, d->password.loc, "cannot read the password of '%s': %s", d->address, why.ptr);
		mr_buf_release(&why);
		mr_secret_wipe(&clear);
		return -1;
	}
	int r = mr_password_verify(live_hash, clear.ptr, clear.len);
	mr_secret_wipe(&clear);
	mr_buf_release(&why);
	return r == 1;
}

/* The bytes of m's domains, their mailbox arrays and mailboxes (with their cold parts), in
 * m's order. */
static void snapshot(const struct mr_model *m, struct mr_buf *out)
{
	if (m->ndomains)
		mr_buf_add(out, m->domains, m->ndomains * sizeof(*m->domains));
	for (size_t i = 0; i < m->ndomains; i++) {
		const struct mr_domain *d = m->domains[i];
		mr_buf_add(out, d, sizeof(*d));
		if (d->nmailboxes)
			mr_buf_add(out, d->mailboxes, d->nmailboxes * sizeof(*d->mailboxes));
		for (size_t j = 0; j < d->nmailboxes; j++) {
			const struct mr_mailbox *mb = d->mailboxes[j];
			mr_buf_add(out, mb, sizeof(*mb));
			if (mb->cold)
				mr_buf_add(out, mb->cold, sizeof(*mb->cold));
		}
	}
}

static int plan_case(const char *name, struct mr_buf *report)
{
	char *dir = mr_path_join(PLAN_DIR, name);
	char *livef = mr_path_join(dir, "live"), *scopef = mr_path_join(dir, "scope");
	char *targetsf = mr_path_join(dir, "targets"), *targets = slurp(targetsf);
	const char *tv[16];
	size_t tn = 0;
	for (char *t = targets, *e; t && *t && tn < 16; t = e + 1) {
		e = strchr(t, '\n');
		ck_assert_ptr_nonnull(e);
		*e = '\0';
		tv[tn++] = t;
	}
	char *desired = mr_path_join(dir, "desired");
	char *live_name = slurp(livef), *scope = slurp(scopef);
	ck_assert_msg(live_name != NULL, "%s: no 'live' file", dir);
	live_name[strcspn(live_name, "\n")] = '\0';
	if (scope)
		scope[strcspn(scope, "\n")] = '\0';
	char *root = mr_path_join(LIVE_DIR, live_name);
	int bad = 0;

	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT, errors = MR_DIAGS_INIT;
	const char *src[] = { desired };
	struct mr_root *rfs;
	struct mr_buf rerr = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&rfs, root, &rerr), 0);
	mr_buf_release(&rerr);
	struct mr_load_opts lo = { .root = root, .rootfs = rfs, .sources = src, .nsources = 1 };
	mr_model_init(&m);
	ck_assert_msg(mr_load_desired(&m, &lo, &d) == 0, "%s: the desired state does not load: %s", name,
		      d.n ? d.v[0].msg : "?");
	struct mr_live lv;
	ck_assert_int_eq(mr_live_load(&lv, &(struct mr_live_opts){ .root = rfs }, &errors), 0);
	struct mr_accounts acc;
	ck_assert_int_eq(mr_accounts_load(&acc, rfs, &errors), 0);
	/* the desired model as loaded, to see that planning writes nothing into it (a target
	 * shares its domains, their mailbox arrays and mailboxes, scope.c) */
	struct mr_buf before = MR_BUF_INIT;
	snapshot(&m, &before);
	struct mr_plan p;
	struct mr_plan_input in = { .desired = &m, .live = &lv, .accounts = &acc, .scope = scope, .state_dir = "/var/lib/mailrecon",
				    .stamp = "STAMP", .oracle = { password_same, NULL, NULL, rfs }, .targets = tv,
				    .ntargets = tn };
	int rc = mr_plan_build(&p, &in, &errors);
	struct mr_buf text = MR_BUF_INIT, json = MR_BUF_INIT;
	if (rc < 0) {
		mr_buf_addf(&text, "refused (%d):\n", rc);
		mr_diags_sort(&errors);
		mr_diags_render(&errors, &text);
	} else {
		mr_plan_print_text(&p, &lv.findings, false, &text);
		mr_plan_print_json(&p, &lv.findings, &json);
	}
	/* paths in messages are the checkout's: make them relative to tests/fixtures/ */
	for (char *at; text.ptr && (at = strstr(text.ptr, FIXTURES_DIR "/")) != NULL;) {
		size_t cut = strlen(FIXTURES_DIR "/");
		memmove(at, at + cut, strlen(at + cut) + 1);
		text.len -= cut;
	}
	char *tp = mr_path_join(dir, "plan.txt"), *jp = mr_path_join(dir, "plan.json");
	bad |= compare(tp, text.ptr ? text.ptr : "", text.len, report);
	bad |= no_secret(tp, text.ptr ? text.ptr : "", report);
	if (rc >= 0) {
		bad |= compare(jp, json.ptr, json.len, report);
		bad |= no_secret(jp, json.ptr, report);
		char *fdir = mr_path_join(dir, "files");
		if (updating())
			mkdir(fdir, 0755);
		for (size_t i = 0; i < p.nfiles; i++) {
			const struct mr_file_change *f = &p.files[i];
			if (!f->content)
				continue;
			char *flat = strdup(f->path + 1);
			for (char *c = flat; *c; c++)
				if (*c == '/')
					*c = '_';
			char *fp = mr_path_join(fdir, flat);
			bad |= compare(fp, f->content, f->len, report);
			/* a hash in the desired state is written; a clear password never is */
			if (strstr(f->content, "correct horse") || strstr(f->content, "Secr3t!") ||
			    strstr(f->content, "hunter2x")) {
				mr_buf_addf(report, "%s holds a clear password\n", fp);
				bad = 1;
			}
			free(fp);
			free(flat);
		}
		free(fdir);
		/* plan and drift measure the new files without keeping them (no_content): the
		 * same files, counts and lengths, and no bytes */
		struct mr_plan q;
		struct mr_diags qerr = MR_DIAGS_INIT;
		struct mr_plan_input qin = in;
		qin.no_content = true;
		ck_assert_int_eq(mr_plan_build(&q, &qin, &qerr), rc);
		ck_assert_uint_eq(q.nfiles, p.nfiles);
		for (size_t i = 0; i < p.nfiles; i++) {
			const struct mr_file_change *a = &p.files[i], *b = &q.files[i];
			ck_assert_str_eq(a->path, b->path);
			ck_assert_msg(a->len == b->len && a->added == b->added && a->changed == b->changed &&
					      a->removed == b->removed && a->create == b->create,
				      "%s: %s measured as %zu bytes (+%zu ~%zu -%zu), written as %zu (+%zu ~%zu -%zu)", name,
				      a->path, b->len, b->added, b->changed, b->removed, a->len, a->added, a->changed,
				      a->removed);
			if (a->file_id >= 0)
				ck_assert_ptr_null(b->content);
		}
		mr_plan_release(&q);
		mr_diags_release(&qerr);
	}
	struct mr_buf after = MR_BUF_INIT;
	snapshot(&m, &after);
	if (after.len != before.len || memcmp(after.ptr, before.ptr, before.len) != 0) {
		mr_buf_addf(report, "%s: the desired model is not as it was loaded after the plan\n", name);
		bad = 1;
	}
	mr_buf_release(&before);
	mr_buf_release(&after);
	/* the live model points into the files' bytes: planning, printing and measuring leave
	 * them as they were read (a file renders to its bytes as read, docs/formats.md) */
	for (size_t i = 0; i < MR_FILE_COUNT; i++) {
		const struct mr_live_file *lf = &lv.files[i];
		if (!lf->exists)
			continue;
		struct mr_buf r = MR_BUF_INIT;
		mr_codec_render(&lf->cf, &r);
		unsigned char sha[32];
		mr_sha256_raw(r.ptr ? r.ptr : "", r.len, sha);
		if (r.len != lf->len || memcmp(sha, lf->sha256, sizeof(sha)) != 0) {
			mr_buf_addf(report, "%s: %s is not the bytes it was read as after the plan\n", name, lf->cf.path);
			bad = 1;
		}
		mr_buf_release(&r);
	}
	free(tp);
	free(jp);
	mr_buf_release(&text);
	mr_buf_release(&json);
	mr_plan_release(&p);
	mr_accounts_release(&acc);
	mr_live_release(&lv);
	mr_model_release(&m);
	mr_diags_release(&d);
	mr_diags_release(&errors);
	mr_root_close(&rfs);
	free(root);
	free(live_name);
	free(scope);
	free(targets);
	free(targetsf);
	free(desired);
	free(livef);
	free(scopef);
	free(dir);
	return bad;
}

START_TEST(every_plan_case)
{
	DIR *dh = opendir(PLAN_DIR);
	ck_assert_ptr_nonnull(dh);
	struct mr_pathlist names = MR_PATHLIST_INIT;
	struct dirent *de;
	while ((de = readdir(dh)) != NULL)
		if (de->d_name[0] != '.')
			mr_pathlist_add(&names, de->d_name);
	closedir(dh);
	mr_pathlist_sort(&names);
	ck_assert_uint_gt(names.n, 0);
	struct mr_buf report = MR_BUF_INIT;
	int failed = 0;
	for (size_t i = 0; i < names.n; i++)
		failed += plan_case(names.v[i], &report);
	if (failed)
		fprintf(stderr, "%s", report.ptr); /* Check caps its message: the whole report goes to stderr */
	ck_assert_msg(failed == 0, "%d of %zu plan cases failed (report above)", failed, names.n);
	mr_buf_release(&report);
	mr_pathlist_release(&names);
}
END_TEST

/*
 * The longest desired state the validator accepts: every name, address, hash and note at
 * its maximum.  Each line file the plan writes for it must read back without a bad line
 * (a line over MR_LINE_MAX would make the file unreadable for every later run).  A hash
 * over the limit is refused by the validator, never written.
 */
static void longest_state(struct mr_buf *y, size_t hash_len)
{
	char lab[64], dom[254], local[65], user[33], hash[16384], note[257];
	memset(lab, 'l', 63);
	lab[63] = '\0';
	snprintf(dom, sizeof(dom), "%s.%s.%s.%.61s", lab, lab, lab, lab); /* 253 */
	memset(local, 'm', 64);
	local[64] = '\0';
	memset(user, 'u', 32);
	user[32] = '\0';
	ck_assert_uint_lt(hash_len, sizeof(hash));
	memcpy(hash, "{PLAIN}", 7);
	memset(hash + 7, 'x', hash_len - 7);
	hash[hash_len] = '\0';
	note[0] = '\0';
	for (int i = 0; i < 64; i++)
		strcat(note, "\xf0\x9f\x98\x80"); /* 256 bytes: 768 once percent-encoded */
	mr_buf_addf(y, "version: 1\nserver: {rate_per_hour: 1000000000, dmarc: \"v=DMARC1; p=none\"}\nusers:\n");
	mr_buf_addf(y, "  r%.31s: {role: reseller, limits: {mail_domains: 1000000000, mailboxes: 1000000000}}\n", user);
	mr_buf_addf(y, "  %s:\n    reseller: r%.31s\n    account: create\n    disabled: true\n", user, user);
	mr_buf_addf(y, "    limits: {mail_domains: 1000000000, mailboxes: 1000000000, rate_per_hour: 1000000000}\n");
	mr_buf_addf(y, "domains:\n  %s:\n    owner: %s\n", dom, user);
	mr_buf_addf(y, "    ip: \"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255\"\n");
	mr_buf_addf(y, "    default_action: {forward: \"%s@%s\"}\n", local, dom);
	mr_buf_addf(y, "    greylisting: false\n    spamassassin: false\n    antivirus: false\n    disabled: true\n");
	mr_buf_addf(y, "    ssl: {alias: %.60s.com, email: \"%.64s@%.59s.org\"}\n", dom, local, dom);
	mr_buf_addf(y, "    mailboxes:\n      %s:\n        password: {hash: \"%s\"}\n", local, hash);
	mr_buf_addf(y, "        aliases: [a%.63s, b%.63s]\n", local, local);
	mr_buf_addf(y, "        copy_to: [\"%.64s@%s.%.62s\"]\n", local, lab, dom);
	mr_buf_addf(y, "        keep_copy: false\n        max_size: 1125899906842623\n        rate_per_hour: 1000000000\n");
	mr_buf_addf(y, "        greylisting: false\n        spamassassin: false\n        disabled: true\n");
	mr_buf_addf(y, "        note: \"%s\"\n", note);
}

/* 1: the state was refused; 0: every line file the plan writes reads back cleanly. */
static int plan_longest(size_t hash_len, struct mr_buf *report)
{
	char dir[] = "/tmp/mr-longest-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char *exim = mr_path_join(dir, "etc/exim4"), *etc = mr_path_join(dir, "etc"), *yaml = mr_path_join(dir, "state.yaml");
	ck_assert_int_eq(mkdir(etc, 0755), 0);
	ck_assert_int_eq(mkdir(exim, 0755), 0);
	struct mr_buf y = MR_BUF_INIT;
	longest_state(&y, hash_len);
	FILE *yf = fopen(yaml, "w");
	ck_assert_ptr_nonnull(yf);
	ck_assert_uint_eq(fwrite(y.ptr, 1, y.len, yf), y.len);
	ck_assert_int_eq(fclose(yf), 0);
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT, errors = MR_DIAGS_INIT;
	const char *src[] = { yaml };
	struct mr_root *rfs;
	struct mr_buf rerr = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&rfs, dir, &rerr), 0);
	mr_buf_release(&rerr);
	struct mr_load_opts lo = { .root = dir, .rootfs = rfs, .sources = src, .nsources = 1 };
	mr_model_init(&m);
	int refused = mr_load_desired(&m, &lo, &d) < 0;
	if (refused && hash_len <= 1024) {
		mr_diags_sort(&d);
		mr_diags_render(&d, report);
	}
	if (!refused) {
		struct mr_live lv;
		ck_assert_int_eq(mr_live_load(&lv, &(struct mr_live_opts){ .root = rfs }, &errors), 0);
		struct mr_plan p;
		struct mr_plan_input in = { .desired = &m, .live = &lv, .state_dir = "/var/lib/mailrecon", .stamp = "STAMP" };
		ck_assert_int_eq(mr_plan_build(&p, &in, &errors), 0);
		size_t nlines = 0;
		for (size_t i = 0; i < p.nfiles; i++) {
			const struct mr_file_change *f = &p.files[i];
			if (!f->content || f->file_id < 0)
				continue;
			struct mr_codec_file cf;
			struct mr_diags findings = MR_DIAGS_INIT;
			mr_codec_file_init(&cf, mr_codecs[f->file_id], f->path);
			mr_codec_parse(&cf, f->content, f->len, &findings);
			nlines += cf.nlines;
			if (cf.nbad) {
				mr_buf_addf(report, "hash of %zu bytes: %s reads back with %zu bad lines: %s\n", hash_len, f->path,
					    cf.nbad, findings.n ? findings.v[0].msg : "?");
			}
			for (size_t k = 0; k < cf.nlines; k++)
				if (cf.lines[k].rawlen > MR_LINE_MAX)
					mr_buf_addf(report, "%s:%u is %u bytes long\n", f->path, cf.lines[k].lineno,
						    cf.lines[k].rawlen);
			mr_codec_file_release(&cf);
			mr_diags_release(&findings);
		}
		ck_assert_uint_ge(nlines, 10); /* the state reached every line file */
		mr_plan_release(&p);
		mr_live_release(&lv);
	}
	mr_root_close(&rfs);
	mr_model_release(&m);
	mr_diags_release(&d);
	mr_diags_release(&errors);
	mr_buf_release(&y);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(exim);
	free(etc);
	free(yaml);
	return refused;
}

START_TEST(longest_valid_state_reads_back)
{
	struct mr_buf report = MR_BUF_INIT;
	ck_assert_msg(plan_longest(1024, &report) == 0, "the longest valid state is refused:\n%s", report.ptr);
	ck_assert_msg(report.len == 0, "%s", report.ptr);
	/* 9000 bytes would make a dovecot.passwd line over MR_LINE_MAX: refused, never planned */
	ck_assert_msg(plan_longest(9000, &report) == 1 || report.len == 0, "%s", report.ptr);
	ck_assert_msg(report.len == 0, "%s", report.ptr);
	mr_buf_release(&report);
}
END_TEST

/* The text plan escapes what it shows; the JSON plan is valid UTF-8 JSON whatever the bytes. */
/* A scoped run sees the findings about its objects, named in the message, and no other. */
START_TEST(scoped_findings)
{
	char *root = mr_path_join(LIVE_DIR, "debian/findings");
	struct mr_root *rfs;
	struct mr_buf rerr = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&rfs, root, &rerr), 0);
	struct mr_live lv;
	struct mr_diags errors = MR_DIAGS_INIT;
	ck_assert_int_eq(mr_live_load(&lv, &(struct mr_live_opts){ .root = rfs }, &errors), 0);
	struct mr_diags all = MR_DIAGS_INIT, eve = MR_DIAGS_INIT, zed = MR_DIAGS_INIT;
	mr_plan_scope_findings(&lv, NULL, &all);
	mr_plan_scope_findings(&lv, "eve", &eve);
	mr_plan_scope_findings(&lv, "zed", &zed); /* not a live user */
	ck_assert_uint_eq(all.n, lv.findings.n);
	ck_assert_uint_gt(eve.n, 0);
	ck_assert_uint_lt(eve.n, all.n);
	ck_assert_uint_eq(zed.n, 0);
	struct mr_buf shown = MR_BUF_INIT;
	mr_diags_render(&eve, &shown);
	/* eve's domain a.example, her mailbox in b.example, her registry line */
	ck_assert_ptr_nonnull(strstr(shown.ptr, "mailbox 'saveno@a.example' keeps no copy"));
	ck_assert_ptr_nonnull(strstr(shown.ptr, "mailbox 'orphan@b.example' is in domain 'b.example'"));
	ck_assert_ptr_nonnull(strstr(shown.ptr, "user 'eve' names reseller 'ghostreseller'"));
	/* a domain with no known owner, a user that is not hers, a line that cannot be read, a
	 * finding about a file as a whole (CRLF) at the line of a record */
	ck_assert_ptr_null(strstr(shown.ptr, "c.example"));
	ck_assert_ptr_null(strstr(shown.ptr, "'nobody'"));
	ck_assert_ptr_null(strstr(shown.ptr, "cannot read this"));
	ck_assert_ptr_null(strstr(shown.ptr, "CRLF"));
	mr_buf_release(&shown);
	mr_diags_release(&all);
	mr_diags_release(&eve);
	mr_diags_release(&zed);
	mr_diags_release(&errors);
	mr_buf_release(&rerr);
	mr_live_release(&lv);
	mr_root_close(&rfs);
	free(root);
}
END_TEST

START_TEST(output_escapes_data)
{
	struct mr_attr attrs[] = { { "note", "a\x1b[2Jb", "c\xc2\x9b" "d" } };
	struct mr_change ch = { .action = MR_CHANGE_UPDATE, .object = MR_OBJ_MAILBOX, .id = "x\x1b]0;t\x07@example.com",
				.domain = "example.com\x1b", .attrs = attrs, .nattrs = 1 };
	struct mr_plan p = { .changes = &ch, .nchanges = 1, .change = 1 };
	struct mr_buf out = MR_BUF_INIT;
	mr_plan_print_text(&p, NULL, false, &out);
	ck_assert_ptr_nonnull(strstr(out.ptr, "  # example.com\\x1b\n"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "  ~ mailbox x\\x1b]0;t\\x07@example.com\n"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "      note: a\\x1b[2Jb -> c\\xc2\\x9bd\n"));
	for (const char *c = out.ptr; *c; c++)
		ck_assert_msg((unsigned char)*c >= 0x20 || *c == '\n', "a raw control byte in the text plan");
	mr_buf_reset(&out);
	mr_json_string(&out, "a\xff" "b\x1b\xc3\xa9\xe2\x82\"\\");
	ck_assert_str_eq(out.ptr, "\"a\\ufffdb\\u001b\xc3\xa9\\ufffd\\ufffd\\\"\\\\\"");
	mr_buf_release(&out);
}
END_TEST

/* A plan whose new content for a live file is over what mailrecon reads of one is refused:
 * apply never writes a file the next run could not read back. */
START_TEST(file_over_the_read_limit_is_refused)
{
	struct mr_file_change f[2] = {
		{ .path = "/etc/dovecot/dovecot.passwd", .file_id = MR_FILE_DOVECOT_PASSWD, .len = MR_LIVE_MAX_FILE + 1 },
		{ .path = "/etc/exim4/passwd", .file_id = MR_FILE_EXIM_PASSWD, .len = MR_LIVE_MAX_FILE },
	};
	struct mr_plan p = { .files = f, .nfiles = 2 };
	struct mr_diags errors = { 0 };
	ck_assert_uint_eq(mr_plan_blocked(&p, &errors), 1);
	ck_assert_uint_eq(errors.errors, 1);
	struct mr_buf out = MR_BUF_INIT;
	mr_diags_render(&errors, &out);
	ck_assert_ptr_nonnull(strstr(out.ptr, "/etc/dovecot/dovecot.passwd"));
	ck_assert_ptr_nonnull(strstr(out.ptr, "over the 512 MiB mailrecon reads of a live file"));
	ck_assert_ptr_null(strstr(out.ptr, "/etc/exim4/passwd"));
	mr_buf_release(&out);
	mr_diags_release(&errors);
}
END_TEST

Suite *suite_plan(void)
{
	Suite *s = suite_create("plan");
	TCase *t = tcase_create("golden");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, every_plan_case);
	tcase_add_test(t, longest_valid_state_reads_back);
	tcase_add_test(t, output_escapes_data);
	tcase_add_test(t, scoped_findings);
	tcase_add_test(t, file_over_the_read_limit_is_refused);
	suite_add_tcase(s, t);
	return s;
}
