#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "load/desired.h"
#include "load/emit.h"
#include "load/ytree.h"
#include "model/model.h"
#include "tests.h"
#include "util/rootfs.h"
#include "util/buf.h"
#include "util/faults.h"
#include "util/fs.h"

static char tmpdir[64];

static void mk_tmp(void)
{
	mr_test_mkdtemp(tmpdir, sizeof(tmpdir), "mr-load");
}

static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	char *dir = mr_path_dirname(path);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	free(dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Load sources; returns the rendered diagnostics (caller frees). */
static char *load(struct mr_model *m, const char *root, const char *const *src, size_t n, int *rc)
{
	struct mr_diags d = MR_DIAGS_INIT;
	struct mr_root *rfs = NULL;
	struct mr_buf err = MR_BUF_INIT;
	mr_root_open(&rfs, root ? root : "/", &err); /* a missing root: no file a state names is read */
	mr_buf_release(&err);
	struct mr_load_opts o = { .root = root, .rootfs = rfs, .sources = src, .nsources = n };
	mr_model_init(m);
	*rc = mr_load_desired(m, &o, &d);
	mr_root_close(&rfs);
	mr_diags_sort(&d);
	struct mr_buf b = MR_BUF_INIT;
	mr_diags_render(&d, &b);
	mr_diags_release(&d);
	return mr_buf_detach(&b);
}

START_TEST(minimal_example_loads)
{
	struct mr_model m;
	int rc;
	const char *src[] = { EXAMPLES_DIR "/minimal.yaml" };
	char *out = load(&m, "/", src, 1, &rc);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(m.nusers, 1);
	ck_assert_uint_eq(m.ndomains, 1);
	struct mr_domain *d = m.domains[0];
	ck_assert_str_eq(d->name, "example.com");
	ck_assert(d->greylisting && d->spamassassin && d->antivirus);
	ck_assert(!d->dkim.enabled && !d->ssl.enabled && !d->dmarc && !d->disabled);
	ck_assert_int_eq(d->action, MR_ACTION_REJECT);
	ck_assert_ptr_null(d->ip);
	struct mr_mailbox *mb = mr_model_mailbox(&m, "info@example.com");
	ck_assert_ptr_nonnull(mb);
	ck_assert_int_eq(mb->password_kind, MR_PASSWORD_HASH);
	ck_assert(mb->keep_copy);
	ck_assert_int_eq(mb->rate_per_hour, MR_UNSET);
	ck_assert_int_eq(mb->max_size, 0);
	ck_assert_int_eq(m.server.password_scheme, MR_SCHEME_SHA512_CRYPT);
	/* none of the rare fields is written: no cold part, and a desired mailbox has no live one */
	ck_assert_ptr_null(mb->cold);
	ck_assert_ptr_null(mr_mailbox_live(mb));
	free(out);
	mr_model_release(&m);
}
END_TEST

/* A mailbox's cold part (struct mr_mailbox_cold) and live part: the accessors' defaults,
 * a cold part made on the first write, and a copy that has its own of both. */
START_TEST(mailbox_cold_and_live_parts)
{
	ck_assert_uint_le(sizeof(struct mr_mailbox), 112);
	ck_assert_uint_le(sizeof(struct mr_mailbox_with_live), 144);
	struct mr_model m;
	mr_model_init(&m);
	struct mr_domain *old_d, *d = mr_model_add_domain(&m, "example.com", MR_LOC_NONE, &old_d);
	struct mr_mailbox *old, *mb = mr_domain_add_mailbox(&m, d, "info", MR_LOC_NONE, &old);
	ck_assert_ptr_nonnull(mb);
	ck_assert_ptr_null(mb->cold);
	ck_assert_ptr_null(mr_mailbox_live(mb));
	ck_assert_ptr_null(mr_mailbox_note(mb));
	ck_assert_ptr_null(mr_mailbox_disabled_by(mb));
	ck_assert_ptr_null(mr_mailbox_password_dir(mb));
	ck_assert_uint_eq(mr_mailbox_rate_loc(mb).line, 0);
	ck_assert_uint_eq(mr_mailbox_keep_copy_loc(mb).line, 0);
	ck_assert_uint_eq(mr_mailbox_disabled_loc(mb).line, 0);
	ck_assert(mb->keep_copy && mb->greylisting && mb->spamassassin && !mb->disabled);

	struct mr_mailbox_cold *cold = mr_mailbox_cold(&m, mb);
	ck_assert_ptr_eq(cold, mb->cold);
	ck_assert_ptr_eq(mr_mailbox_cold(&m, mb), cold); /* made once */
	ck_assert_ptr_null(mr_mailbox_note(mb));
	cold->note = "front desk";
	cold->rate_loc = mr_loc_at("a.yaml", 7, 3);
	ck_assert_str_eq(mr_mailbox_note(mb), "front desk");
	ck_assert_uint_eq(mr_mailbox_rate_loc(mb).line, 7);
	struct mr_password pw = mr_mailbox_password(mb);
	ck_assert_int_eq(pw.kind, MR_PASSWORD_NONE);
	ck_assert_ptr_null(pw.dir);

	/* a copy's cold part is its own: setting it leaves the mailbox copied as it was */
	struct mr_mailbox *copy = mr_mailbox_copy(&m, mb);
	ck_assert_ptr_ne(copy->cold, mb->cold);
	mr_mailbox_cold(&m, copy)->disabled_by = "alice";
	ck_assert_str_eq(mr_mailbox_disabled_by(copy), "alice");
	ck_assert_ptr_null(mr_mailbox_disabled_by(mb));
	ck_assert_str_eq(mr_mailbox_note(copy), "front desk");
	ck_assert_ptr_null(mr_mailbox_live(copy));
	mr_model_release(&m);

	/* a live model's mailbox has its live part, unset, and a copy takes it along */
	mr_model_init(&m);
	m.live = true;
	d = mr_model_add_domain(&m, "example.com", MR_LOC_NONE, &old_d);
	mb = mr_domain_add_mailbox(&m, d, "info", MR_LOC_NONE, &old);
	struct mr_mailbox_live *lp = mr_mailbox_live(mb);
	ck_assert_ptr_nonnull(lp);
	ck_assert_ptr_null(lp->home);
	ck_assert_ptr_null(lp->src_exim);
	ck_assert_ptr_null(lp->src_dovecot);
	ck_assert_uint_eq(lp->uid, MR_ID_UNSET);
	ck_assert_uint_eq(lp->gid, MR_ID_UNSET);
	ck_assert_ptr_null(mb->cold);
	lp->home = "/var/www/alice/data/email/example.com/info";
	lp->uid = 1001;
	copy = mr_mailbox_copy(&m, mb);
	ck_assert_ptr_null(copy->cold);
	struct mr_mailbox_live *clp = mr_mailbox_live(copy);
	ck_assert_ptr_nonnull(clp);
	ck_assert_ptr_ne(clp, lp);
	ck_assert_str_eq(clp->home, lp->home);
	ck_assert_uint_eq(clp->uid, 1001);
	ck_assert_uint_eq(clp->gid, MR_ID_UNSET);
	mr_model_release(&m);
}
END_TEST

START_TEST(hosting_example_loads_every_feature)
{
	struct mr_model m;
	int rc;
	const char *src[] = { EXAMPLES_DIR "/hosting" };
	char *out = load(&m, "/", src, 1, &rc);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(m.ndomains, 4);
	ck_assert(m.server.declared);
	struct mr_user *bob = mr_model_user(&m, "bob");
	ck_assert_ptr_nonnull(bob);
	ck_assert_int_eq(bob->role, MR_ROLE_RESELLER);
	int actions[4] = { 0 };
	for (size_t i = 0; i < m.ndomains; i++)
		actions[m.domains[i]->action]++;
	for (int a = 0; a < 4; a++)
		ck_assert_msg(actions[a] > 0, "default action %d not covered", a);
	struct mr_domain *ex = mr_model_domain(&m, "example.com");
	ck_assert(ex->dkim.enabled);
	ck_assert_str_eq(ex->dkim.selector, "dkim");
	ck_assert_int_eq(ex->dkim.bits, 2048);
	ck_assert(ex->ssl.enabled);
	ck_assert_int_eq(ex->ssl.cert, MR_CERT_SELF_SIGNED);
	ck_assert_str_eq(ex->ssl.alias, "mail.example.com");
	ck_assert_str_eq(ex->ip, "203.0.113.10");
	struct mr_mailbox *info = mr_model_mailbox(&m, "info@example.com");
	ck_assert_int_eq(info->max_size, INT64_C(2) << 30);
	ck_assert_int_eq(info->rate_per_hour, 100);
	ck_assert_uint_eq(info->aliases.n, 2);
	ck_assert_str_eq(info->aliases.v[0].s, "sales");
	ck_assert_str_eq(mr_mailbox_note(info), "front desk");
	struct mr_mailbox *orders = mr_model_mailbox(&m, "orders@shop.example.com");
	ck_assert(!orders->keep_copy);
	ck_assert_uint_eq(orders->copy_to.n, 2);
	struct mr_mailbox *archive = mr_model_mailbox(&m, "archive@example.com");
	ck_assert_int_eq(archive->rate_per_hour, 0);
	ck_assert(!archive->greylisting && !archive->spamassassin);
	struct mr_mailbox *nl = mr_model_mailbox(&m, "newsletter@example.com");
	ck_assert_int_eq(nl->password_kind, MR_PASSWORD_FILE);
	ck_assert_ptr_nonnull(strstr(mr_mailbox_password_dir(nl)->path, "examples/hosting"));
	size_t disabled = 0;
	for (size_t i = 0; i < m.ndomains; i++)
		for (size_t j = 0; j < m.domains[i]->nmailboxes; j++)
			disabled += m.domains[i]->mailboxes[j]->disabled;
	ck_assert_uint_ge(disabled, 1);
	free(out);
	mr_model_release(&m);
}
END_TEST

START_TEST(sizes)
{
	int64_t v;
	ck_assert(mr_parse_size("500M", &v) && v == 500LL << 20);
	ck_assert(mr_parse_size("2G", &v) && v == 2LL << 30);
	ck_assert(mr_parse_size("2g", &v) && v == 2LL << 30);
	ck_assert(mr_parse_size("10GiB", &v) && v == 10LL << 30);
	ck_assert(mr_parse_size("1KB", &v) && v == 1024);
	ck_assert(mr_parse_size("1048576", &v) && v == 1048576);
	ck_assert(mr_parse_size("0", &v) && v == 0);
	ck_assert(mr_parse_size("1024T", &v) && v == 1LL << 50);
	ck_assert(!mr_parse_size("1025T", &v));
	ck_assert(!mr_parse_size("2X", &v));
	ck_assert(!mr_parse_size("-1", &v));
	ck_assert(!mr_parse_size("2 G", &v));
	ck_assert(!mr_parse_size("G", &v));
	ck_assert(!mr_parse_size("1Gi", &v));
	ck_assert(!mr_parse_size("1B", &v));
	ck_assert(!mr_parse_size("99999999999999999999", &v));
}
END_TEST

static const char shared_hash[] = "{CRAM-MD5}ffff";

static const char *hash_from_one(void *ctx, const char *address, const char *hash)
{
	(void)ctx;
	return strcmp(address, "a@example.com") == 0 && strcmp(hash, shared_hash) == 0 ? shared_hash : NULL;
}

/* While a model loads, hash_from's equal string is taken instead of a copy; without one,
 * or for another address or hash, the hash is copied. */
START_TEST(a_loading_hash_is_taken_from_hash_from)
{
	struct mr_model m;
	mr_model_init(&m);
	char buf[] = "{CRAM-MD5}ffff";
	const char *copy = mr_model_mailbox_hash(&m, "a@example.com", buf, strlen(buf));
	ck_assert_ptr_ne(copy, shared_hash);
	ck_assert_str_eq(copy, buf);
	m.hash_from = hash_from_one;
	ck_assert_ptr_eq(mr_model_mailbox_hash(&m, "a@example.com", buf, strlen(buf)), shared_hash);
	const char *other = mr_model_mailbox_hash(&m, "b@example.com", buf, strlen(buf));
	ck_assert_ptr_ne(other, shared_hash);
	ck_assert_ptr_ne(other, buf);
	ck_assert_str_eq(other, buf);
	const char *diff = mr_model_mailbox_hash(&m, "a@example.com", "{CRAM-MD5}eeee", 14);
	ck_assert_str_eq(diff, "{CRAM-MD5}eeee");
	mr_model_release(&m);
}
END_TEST

/* A desired hash equal to its live mailbox's is pointed at the live copy; the others keep
 * their values in a fresh arena; the kinds that are not hashes are left alone. */
START_TEST(hashes_equal_to_live_are_shared)
{
	static const char live_same[] = "{CRAM-MD5}aaaa", live_other[] = "{CRAM-MD5}bbbb";
	struct mr_model d, l;
	mr_model_init(&d);
	mr_model_init(&l);
	struct mr_domain *x, *ld = mr_model_add_domain(&l, "example.com", MR_LOC_NONE, &x);
	struct mr_mailbox *y, *l1 = mr_domain_add_mailbox(&l, ld, "same", MR_LOC_NONE, &y),
			      *l2 = mr_domain_add_mailbox(&l, ld, "other", MR_LOC_NONE, &y);
	l1->password_kind = l2->password_kind = MR_PASSWORD_HASH;
	l1->password.value = live_same;
	l2->password.value = live_other;
	struct mr_domain *dd = mr_model_add_domain(&d, "example.com", MR_LOC_NONE, &x);
	const char *names[] = { "same", "other", "new", "env" };
	const char *vals[] = { "{CRAM-MD5}aaaa", "{CRAM-MD5}cccc", "{CRAM-MD5}dddd", "PW_VAR" };
	struct mr_mailbox *mb[4];
	for (int i = 0; i < 4; i++) {
		mb[i] = mr_domain_add_mailbox(&d, dd, names[i], MR_LOC_NONE, &y);
		ck_assert_ptr_nonnull(mb[i]);
		mb[i]->password_kind = i == 3 ? MR_PASSWORD_ENV : MR_PASSWORD_HASH;
		mb[i]->password.value = i == 3 ? mr_model_str(&d, vals[i], strlen(vals[i]))
					       : mr_model_hash_str(&d, vals[i], strlen(vals[i]));
	}
	const char *env_before = mb[3]->password.value;
	ck_assert_uint_eq(mr_model_share_hashes(&d, &l), 1);
	ck_assert_ptr_eq(mb[0]->password.value, live_same);
	for (int i = 1; i < 4; i++) {
		ck_assert_str_eq(mb[i]->password.value, vals[i]);
		ck_assert_ptr_ne(mb[i]->password.value, live_other);
	}
	ck_assert_ptr_eq(mb[3]->password.value, env_before);
	/* again: nothing more to share, the copies move once more and stay right */
	ck_assert_uint_eq(mr_model_share_hashes(&d, &l), 1);
	ck_assert_str_eq(mb[1]->password.value, vals[1]);
	ck_assert_str_eq(mb[2]->password.value, vals[2]);
	mr_model_release(&d);
	mr_model_release(&l);
}
END_TEST

static const char *const ALICE_DOC = "version: 1\nusers:\n  alice: {}\ndomains:\n  example.com:\n    owner: alice\n";

START_TEST(directory_sources_are_sorted_and_skip_hidden)
{
	mk_tmp();
	write_file("b/20-domains.yaml", "version: 1\ndomains:\n  example.net: {owner: alice}\n");
	write_file("a/10-users.yml", "version: 1\nusers:\n  alice: {}\n");
	write_file(".git/broken.yaml", "this: [is not read\n");
	write_file("notes.txt", "not yaml");
	struct mr_model m;
	int rc;
	const char *src[] = { tmpdir };
	char *out = load(&m, "/", src, 1, &rc);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(m.ndomains, 1);
	free(out);
	mr_model_release(&m);
	rm_tmp();
}
END_TEST

START_TEST(empty_directory_is_an_error)
{
	mk_tmp();
	write_file("README", "no yaml here");
	struct mr_model m;
	int rc;
	const char *src[] = { tmpdir };
	char *out = load(&m, "/", src, 1, &rc);
	char want[256];
	snprintf(want, sizeof(want), "mailrecon: error: no desired state found under '%s' (no *.yaml or *.yml file)\n",
		 tmpdir);
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(rc, -1);
	free(out);
	mr_model_release(&m);
	rm_tmp();
}
END_TEST

START_TEST(default_source_is_below_root)
{
	mk_tmp();
	write_file("etc/mailrecon/desired/alice.yaml", ALICE_DOC);
	struct mr_model m;
	int rc;
	char *out = load(&m, tmpdir, NULL, 0, &rc);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(mr_model_domain(&m, "example.com"));
	free(out);
	mr_model_release(&m);

	char *missing = load(&m, "/nonexistent-root", NULL, 0, &rc);
	ck_assert_str_eq(missing, "mailrecon: error: cannot read desired state "
				  "'/nonexistent-root/etc/mailrecon/desired': No such file or directory\n");
	ck_assert_int_eq(rc, -1);
	free(missing);
	mr_model_release(&m);
	rm_tmp();
}
END_TEST

START_TEST(same_file_twice_is_read_once)
{
	mk_tmp();
	write_file("a.yaml", ALICE_DOC);
	char path[128];
	snprintf(path, sizeof(path), "%s/a.yaml", tmpdir);
	struct mr_model m;
	int rc;
	const char *src[] = { path, tmpdir };
	char *out = load(&m, "/", src, 2, &rc);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(rc, 0);
	free(out);
	mr_model_release(&m);
	rm_tmp();
}
END_TEST

START_TEST(hundred_megabyte_file_is_refused_unread)
{
	mk_tmp();
	char path[128];
	snprintf(path, sizeof(path), "%s/huge.yaml", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 100 << 20), 0); /* sparse: costs no disk */
	close(fd);
	struct mr_model m;
	int rc;
	const char *src[] = { path };
	char *out = load(&m, "/", src, 1, &rc);
	char want[256];
	snprintf(want, sizeof(want), "mailrecon: error: '%s' is too large (104857600 bytes; the limit is 64 MiB)\n",
		 path);
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(rc, -1);
	free(out);
	mr_model_release(&m);
	rm_tmp();
}
END_TEST

/* ---- a file is read a chunk at a time from its descriptor: the same as its bytes in a buffer ---- */

static void write_bytes(const char *path, const char *data, size_t len, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	if (size)
		ck_assert_int_eq(ftruncate(fd, size), 0); /* the rest NUL bytes, sparse */
	close(fd);
}

/* The bytes handed over one at a time, as a reader that never fills libyaml's buffer at once. */
struct bytes_in {
	const char *data;
	size_t len, at;
};

static ptrdiff_t one_byte(void *ctx, void *buf, size_t n)
{
	struct bytes_in *b = ctx;
	if (b->at == b->len || n == 0)
		return 0;
	*(char *)buf = b->data[b->at++];
	return 1;
}

static ptrdiff_t one_byte_again(void *ctx, void *buf, size_t n, uint64_t off)
{
	struct bytes_in *b = ctx;
	size_t k = off < b->len ? b->len - (size_t)off : 0;
	memcpy(buf, b->data + off, k < n ? k : n);
	return (ptrdiff_t)(k < n ? k : n);
}

/*
 * What mr_load_desired gives for one file, from its bytes: as a buffer (bytes 0) or handed
 * over one byte at a time (1); then the whole-state rules as the loader runs them.  The
 * diagnostics, then the model as import would print it; the caller frees.
 */
static char *load_bytes(const char *name, const char *data, size_t len, int bytes, int *rc)
{
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	struct mr_root *rfs = NULL;
	struct mr_buf err = MR_BUF_INIT, out = MR_BUF_INIT;
	ck_assert_int_eq(mr_root_open(&rfs, "/", &err), 0);
	mr_model_init(&m);
	struct bytes_in b = { data, len, 0 };
	struct mr_yinput in = { one_byte, one_byte_again, &b };
	if (bytes)
		mr_load_yaml_input(&m, name, &in, len, &d);
	else
		mr_load_yaml_buffer(&m, name, data, len, &d);
	mr_validate_desired(&m, rfs, MR_VALIDATE_READ_FILES, &d);
	*rc = d.errors ? -1 : 0;
	mr_diags_sort(&d);
	mr_diags_render(&d, &out);
	struct mr_emit_opts eo = { 0 };
	mr_buf_adds(&out, "---\n");
	mr_emit_yaml(&m, &eo, &out);
	mr_diags_release(&d);
	mr_model_release(&m);
	mr_root_close(&rfs);
	mr_buf_release(&err);
	return mr_buf_detach(&out);
}

/* The same file through mr_load_desired: from its descriptor, a chunk at a time. */
static char *load_file(const char *const *src, size_t n, int *rc)
{
	struct mr_model m;
	char *diags = load(&m, "/", src, n, rc);
	struct mr_buf out = MR_BUF_INIT;
	struct mr_emit_opts eo = { 0 };
	mr_buf_adds(&out, diags);
	mr_buf_adds(&out, "---\n");
	mr_emit_yaml(&m, &eo, &out);
	free(diags);
	mr_model_release(&m);
	return mr_buf_detach(&out);
}

START_TEST(file_read_in_chunks_loads_as_its_bytes)
{
	mk_tmp();
	struct mr_buf late = MR_BUF_INIT, many = MR_BUF_INIT;
	/* domains converted while the file is read, then bad YAML 40 KB on: nothing of it is kept */
	mr_buf_adds(&late, "version: 1\nusers:\n  u: {}\ndomains:\n");
	for (int i = 0; late.len < 40000; i++)
		mr_buf_addf(&late, "  d%d.example: {owner: u, mailboxes: {info: {password: {hash: '{BLF-CRYPT}x'}}}}\n", i);
	mr_buf_adds(&late, "  last.example: {owner: u\n  x: [\n");
	/* a valid one of some size, with errors of the state in it */
	mr_buf_adds(&many, "version: 1\nusers:\n  u: {}\ndomains:\n");
	for (int i = 0; i < 500; i++)
		mr_buf_addf(&many, "  d%d.example:\n    owner: %s\n    mailboxes:\n      info: {}\n", i, i % 97 ? "u" : "nobody");
	const struct {
		const char *data;
		size_t len;
	} docs[] = {
		{ "version: 1\nusers:\n  alice: {}\ndomains:\n  example.com:\n    owner: alice\n    bogus: 1\n"
		  "    mailboxes:\n      info: {}\n      info: {}\n", 0 },
		{ "version: 1\nusers:\n  alice: {}\n\tdomains: {}\n", 0 },           /* a tab */
		{ "version: 1\nusers:\n  alice: {}\n  \"b\xff" "b\": {}\n", 0 },     /* a bad byte on line 4 */
		{ "version: 1\nusers:\n  alice: {}\n---\nversion: 1\n", 0 },          /* two documents */
		{ "version: 1\nusers: [\n", 0 },
		{ "\xef\xbb\xbfversion: 1\nusers:\n  alice: {}\n", 0 },
		{ late.ptr, late.len },
		{ many.ptr, many.len },
	};
	char path[128];
	snprintf(path, sizeof(path), "%s/c.yaml", tmpdir);
	const char *src[] = { path };
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		size_t len = docs[i].len ? docs[i].len : strlen(docs[i].data);
		write_bytes(path, docs[i].data, len, 0);
		int frc, brc, crc;
		char *file = load_file(src, 1, &frc), *buffer = load_bytes(path, docs[i].data, len, 0, &brc),
		     *bytes = load_bytes(path, docs[i].data, len, 1, &crc);
		ck_assert_msg(strcmp(file, buffer) == 0, "doc %zu:\n--- file\n%.1000s\n--- buffer\n%.1000s", i, file, buffer);
		ck_assert_msg(strcmp(bytes, buffer) == 0, "doc %zu:\n--- bytes\n%.1000s\n--- buffer\n%.1000s", i, bytes, buffer);
		ck_assert_int_eq(frc, brc);
		ck_assert_int_eq(crc, brc);
		ck_assert_int_eq(brc, i == 5 ? 0 : -1);
		free(file);
		free(buffer);
		free(bytes);
	}
	/* two files: parsed on a second thread into trees, converted after, in order */
	char a[128], b[128];
	snprintf(a, sizeof(a), "%s/d/a.yaml", tmpdir);
	snprintf(b, sizeof(b), "%s/d/b.yaml", tmpdir);
	write_file("d/a.yaml", many.ptr);
	write_file("d/b.yaml", late.ptr);
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/d", tmpdir);
	const char *dsrc[] = { dir };
	int rc;
	char *file = load_file(dsrc, 1, &rc);
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	struct mr_buf buffer = MR_BUF_INIT, err = MR_BUF_INIT;
	struct mr_root *rfs;
	ck_assert_int_eq(mr_root_open(&rfs, "/", &err), 0);
	mr_model_init(&m);
	mr_load_yaml_buffer(&m, a, many.ptr, many.len, &d);
	mr_load_yaml_buffer(&m, b, late.ptr, late.len, &d);
	mr_validate_desired(&m, rfs, MR_VALIDATE_READ_FILES, &d);
	mr_diags_sort(&d);
	mr_diags_render(&d, &buffer);
	struct mr_emit_opts eo = { 0 };
	mr_buf_adds(&buffer, "---\n");
	mr_emit_yaml(&m, &eo, &buffer);
	ck_assert_msg(strcmp(file, buffer.ptr) == 0, "--- files\n%.1000s\n--- buffers\n%.1000s", file, buffer.ptr);
	ck_assert_ptr_nonnull(strstr(file, "b.yaml:"));
	free(file);
	mr_diags_release(&d);
	mr_model_release(&m);
	mr_root_close(&rfs);
	mr_buf_release(&buffer);
	mr_buf_release(&err);
	mr_buf_release(&late);
	mr_buf_release(&many);
	rm_tmp();
}
END_TEST

/* 64 MiB is read (and its bad byte found where the buffer finds it); one byte more is not. */
START_TEST(file_at_the_limit_is_read_one_over_is_not)
{
	mk_tmp();
	char path[128];
	snprintf(path, sizeof(path), "%s/limit.yaml", tmpdir);
	const char *head = "version: 1\nusers:\n  alice: {}\n";
	write_bytes(path, head, strlen(head), MR_DESIRED_MAX_FILE);
	const char *src[] = { path };
	int frc, brc;
	char *file = load_file(src, 1, &frc);
	char *data = calloc(MR_DESIRED_MAX_FILE, 1);
	ck_assert_ptr_nonnull(data);
	memcpy(data, head, strlen(head));
	char *buffer = load_bytes(path, data, MR_DESIRED_MAX_FILE, 0, &brc);
	ck_assert_str_eq(file, buffer);
	ck_assert_int_eq(frc, -1);
	char want[256];
	snprintf(want, sizeof(want), "%s:4:1: error: invalid YAML: control characters are not allowed\n", path);
	ck_assert_msg(strncmp(file, want, strlen(want)) == 0, "%s", file);
	free(file);
	free(buffer);
	free(data);

	write_bytes(path, head, strlen(head), MR_DESIRED_MAX_FILE + 1);
	file = load_file(src, 1, &frc);
	snprintf(want, sizeof(want),
		 "mailrecon: error: '%s' is too large (67108865 bytes; the limit is 64 MiB)\n---\nversion: 1\n", path);
	ck_assert_str_eq(file, want);
	ck_assert_int_eq(frc, -1);
	free(file);
	rm_tmp();
}
END_TEST

/*
 * A file that cannot be read to its end is refused for that, whatever its YAML said before,
 * and nothing of it is kept: as when it was read whole before it was parsed.  The Nth read
 * fails (MAILRECON_FAULT=read:EIO:N): libyaml reads 16 KiB at a time, the rest after bad
 * YAML is read 64 KiB at a time.
 */
START_TEST(read_error_is_the_files_error)
{
	mk_tmp();
	struct mr_buf bad = MR_BUF_INIT, good = MR_BUF_INIT;
	mr_buf_adds(&bad, "version: 1\nusers: a: b\n"); /* bad YAML on line 2 */
	mr_buf_adds(&good, "version: 1\nusers:\n  u: {}\ndomains:\n");
	for (int i = 0; good.len < (1 << 20); i++) {
		mr_buf_adds(&bad, "# a comment line that pads the file to a megabyte\n");
		mr_buf_addf(&good, "  d%d.example: {owner: u, mailboxes: {info: {password: {hash: '{PLAIN}x'}}}}\n", i);
	}
	write_file("bad.yaml", bad.ptr);
	write_file("good.yaml", good.ptr);
	write_file("d/a.yaml", "version: 1\nusers:\n  a: {}\n");
	write_file("d/b.yaml", good.ptr);
	char badp[128], goodp[128], dir[128], bp[128], want[256];
	snprintf(badp, sizeof(badp), "%s/bad.yaml", tmpdir);
	snprintf(goodp, sizeof(goodp), "%s/good.yaml", tmpdir);
	snprintf(dir, sizeof(dir), "%s/d", tmpdir);
	snprintf(bp, sizeof(bp), "%s/d/b.yaml", tmpdir);
	const struct {
		const char *src, *fault, *shown;
		size_t users, domains;
	} cases[] = {
		{ badp, NULL, NULL, 0, 0 },        /* its YAML error */
		{ badp, "read:EIO:10", badp, 0, 0 }, /* a read after the error fails: that is the error */
		{ goodp, NULL, NULL, 1, 0 },       /* loads (the domains counted below) */
		{ goodp, "read:EIO:10", goodp, 0, 0 }, /* fails 150 KB in: the domains read are dropped */
		{ dir, "read:EIO:10", bp, 1, 0 },  /* the second of two files, parsed on the worker thread */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].fault)
			setenv("MAILRECON_FAULT", cases[i].fault, 1);
		mr_faults_reset();
		struct mr_model m;
		int rc;
		const char *src[] = { cases[i].src };
		char *out = load(&m, "/", src, 1, &rc);
		unsetenv("MAILRECON_FAULT");
		mr_faults_reset();
		if (cases[i].shown) {
			snprintf(want, sizeof(want), "mailrecon: error: cannot read '%s': Input/output error\n", cases[i].shown);
			ck_assert_msg(strcmp(out, want) == 0, "case %zu: %.600s", i, out);
			ck_assert_int_eq(rc, -1);
		} else if (cases[i].src == badp) {
			snprintf(want, sizeof(want), "%s:2:9: error: invalid YAML: mapping values are not allowed in this context\n",
				 badp);
			ck_assert_msg(strcmp(out, want) == 0, "case %zu: %.600s", i, out);
		} else {
			ck_assert_msg(strcmp(out, "") == 0, "case %zu: %.600s", i, out);
			ck_assert_uint_gt(m.ndomains, 13000);
		}
		ck_assert_uint_eq(m.nusers, cases[i].users);
		if (cases[i].shown)
			ck_assert_uint_eq(m.ndomains, cases[i].domains);
		free(out);
		mr_model_release(&m);
	}
	mr_buf_release(&bad);
	mr_buf_release(&good);
	rm_tmp();
}
END_TEST

START_TEST(secrets_are_checked_but_never_printed)
{
	mk_tmp();
	write_file("secrets/info", "S3cret-Value\n");
	write_file("secrets/empty", "\n");
	write_file("s.yaml", "version: 1\nusers:\n  alice: {}\ndomains:\n  example.com:\n    owner: alice\n"
			     "    mailboxes:\n"
			     "      info: {password: {file: secrets/info}}\n"
			     "      abs: {password: {file: /secrets/info}}\n"
			     "      empty: {password: {file: secrets/empty}}\n"
			     "      env: {password: {env: MR_TEST_PW}}\n"
			     "      blank: {password: {env: MR_TEST_BLANK}}\n");
	setenv("MR_TEST_PW", "Env-Secret", 1);
	setenv("MR_TEST_BLANK", "", 1);
	char path[128];
	snprintf(path, sizeof(path), "%s/s.yaml", tmpdir);
	struct mr_model m;
	int rc;
	const char *src[] = { path };
	/* the absolute path is taken below the root: here the temp dir */
	char *out = load(&m, tmpdir, src, 1, &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_null(strstr(out, "S3cret"));
	ck_assert_ptr_null(strstr(out, "Env-Secret"));
	ck_assert_ptr_nonnull(strstr(out, "s.yaml:10:32: error: cannot read password file"));
	ck_assert_ptr_nonnull(strstr(out, "the first line is empty"));
	ck_assert_ptr_nonnull(strstr(out, "s.yaml:12:31: error: environment variable 'MR_TEST_BLANK' (password of "
					  "'blank@example.com') is empty"));
	/* exactly those two */
	int lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, 2);
	free(out);
	mr_model_release(&m);
	unsetenv("MR_TEST_PW");
	unsetenv("MR_TEST_BLANK");
	rm_tmp();
}
END_TEST

START_TEST(buffer_parser_accepts_anchors_for_shared_settings)
{
	const char *y = "version: 1\nusers:\n  alice: {}\ndomains:\n  example.com:\n    owner: alice\n"
			"    mailboxes:\n"
			"      info: &box {password: {hash: \"{PLAIN}x\"}, max_size: 1G}\n"
			"      sales: *box\n";
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_model_init(&m);
	mr_load_yaml_buffer(&m, "anchors.yaml", y, strlen(y), &d);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_int_eq(mr_model_mailbox(&m, "sales@example.com")->max_size, 1LL << 30);
	mr_diags_release(&d);
	mr_model_release(&m);
}
END_TEST

/* A fleet: server.hosts and each domain's host are kept, from whichever file declares them. */
START_TEST(fleet_hosts_and_placement_load)
{
	mk_tmp();
	write_file("fleet/server.yaml", "version: 1\nserver:\n  hosts: [mx1, mx2.example.net]\nusers:\n  alice: {}\n");
	write_file("fleet/domains.yaml", "version: 1\ndomains:\n  example.com: {owner: alice, host: mx2.example.net}\n"
					 "  example.org:\n    owner: alice\n    host: mx1\n");
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/fleet", tmpdir);
	const char *src[] = { dir };
	struct mr_model m;
	int rc;
	char *out = load(&m, tmpdir, src, 1, &rc);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(m.server.hosts.n, 2);
	ck_assert_str_eq(m.server.hosts.v[0].s, "mx1");
	ck_assert_str_eq(m.server.hosts.v[1].s, "mx2.example.net");
	ck_assert_uint_eq(m.server.hosts.v[1].loc.line, 3);
	ck_assert_str_eq(mr_model_domain(&m, "example.com")->host, "mx2.example.net");
	ck_assert_str_eq(mr_model_domain(&m, "example.org")->host, "mx1");
	ck_assert_uint_eq(mr_model_domain(&m, "example.org")->host_loc.line, 6);
	free(out);
	mr_model_release(&m);

	/* without server.hosts: no fleet, no host */
	const char *min[] = { EXAMPLES_DIR "/minimal.yaml" };
	out = load(&m, "/", min, 1, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(m.server.hosts.n, 0);
	ck_assert_uint_eq(m.server.hosts_loc.line, 0);
	ck_assert_ptr_null(m.domains[0]->host);
	free(out);
	mr_model_release(&m);
	rm_tmp();
}
END_TEST

/* A run on one host: that host's domains, their owners and the owners' resellers; the rest
 * of the fleet known only by where each domain is. */
START_TEST(fleet_cut_to_one_host)
{
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	const char *src[] = { EXAMPLES_DIR "/fleet" };
	struct mr_load_opts o = { .root = "/", .sources = src, .nsources = 1, .host = "mx2" };
	mr_model_init(&m);
	ck_assert_int_eq(mr_load_desired(&m, &o, &d), 0);
	ck_assert_uint_eq(m.ndomains, 2);
	ck_assert_ptr_nonnull(mr_model_domain(&m, "example.info"));
	ck_assert_ptr_nonnull(mr_model_domain(&m, "example.net"));
	ck_assert_ptr_null(mr_model_domain(&m, "example.com"));
	ck_assert_ptr_null(mr_model_mailbox(&m, "info@example.com"));
	ck_assert_ptr_nonnull(mr_model_mailbox(&m, "archive@example.net"));
	ck_assert_str_eq(mr_model_elsewhere(&m, "example.com"), "mx1");
	ck_assert_str_eq(mr_model_elsewhere(&m, "example.org"), "mx1");
	ck_assert_ptr_null(mr_model_elsewhere(&m, "example.net")); /* here */
	ck_assert_ptr_null(mr_model_elsewhere(&m, "unknown.example"));
	ck_assert_uint_eq(m.nusers, 3); /* alice, carol (owners here) and bob (their reseller) */
	mr_model_release(&m);

	/* the same state with only alice's domain on mx2: carol is not needed there */
	mr_model_init(&m);
	const char *y = "version: 1\nserver: {hosts: [mx1, mx2]}\nusers:\n  bob: {role: reseller}\n"
			"  alice: {reseller: bob}\n  carol: {}\n  dave: {}\ndomains:\n"
			"  a.example: {owner: alice, host: mx2}\n  c.example: {owner: carol, host: mx1}\n";
	mr_load_yaml_buffer(&m, "cut.yaml", y, strlen(y), &d);
	ck_assert_uint_eq(d.errors, 0);
	mr_model_keep_host(&m, "mx2");
	ck_assert_uint_eq(m.nusers, 2);
	ck_assert_ptr_nonnull(mr_model_user(&m, "alice"));
	ck_assert_ptr_nonnull(mr_model_user(&m, "bob"));
	ck_assert_ptr_null(mr_model_user(&m, "carol"));
	ck_assert_ptr_null(mr_model_user(&m, "dave")); /* owns nothing anywhere: on no host */
	mr_model_release(&m);

	/* without server.hosts nothing is cut, whatever the host */
	mr_model_init(&m);
	const char *plain = "version: 1\nusers:\n  alice: {}\ndomains:\n  a.example: {owner: alice}\n";
	mr_load_yaml_buffer(&m, "plain.yaml", plain, strlen(plain), &d);
	mr_model_keep_host(&m, "mx2");
	ck_assert_uint_eq(m.ndomains, 1);
	ck_assert_uint_eq(m.nusers, 1);
	mr_model_release(&m);

	/* a host outside the fleet is an error, and nothing is cut */
	mr_model_init(&m);
	o.host = "mx3";
	ck_assert_int_eq(mr_load_desired(&m, &o, &d), -1);
	ck_assert_uint_eq(m.ndomains, 4);
	mr_model_release(&m);
	mr_diags_release(&d);
}
END_TEST

START_TEST(ssl_true_and_a_mapping_without_alias_default_to_mail_domain)
{
	const char *y = "version: 1\nusers:\n  alice: {}\ndomains:\n"
			"  a.example: {owner: alice, ssl: true}\n"
			"  b.example: {owner: alice, ssl: {email: admin@b.example}}\n"
			"  c.example: {owner: alice, ssl: {alias: smtp.c.example}}\n"
			"  d.example: {owner: alice, ssl: false}\n"
			"  e.example: {owner: alice, ssl: {alias: 'bad..name'}}\n"
			"  f.example: {owner: alice}\n";
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_model_init(&m);
	mr_load_yaml_buffer(&m, "ssl.yaml", y, strlen(y), &d);
	const struct mr_domain *a = mr_model_domain(&m, "a.example"), *b = mr_model_domain(&m, "b.example"),
			       *c = mr_model_domain(&m, "c.example");
	ck_assert(a->ssl.enabled);
	ck_assert_int_eq(a->ssl.cert, MR_CERT_SELF_SIGNED);
	ck_assert_str_eq(a->ssl.alias, "mail.a.example");
	ck_assert_ptr_null(a->ssl.email);
	/* the implied alias is shown at the 'ssl' value */
	ck_assert_int_eq(a->ssl.alias_loc.line, 5);
	ck_assert_int_eq(a->ssl.alias_loc.col, 34);
	ck_assert(b->ssl.enabled);
	ck_assert_int_eq(b->ssl.cert, MR_CERT_SELF_SIGNED);
	ck_assert_str_eq(b->ssl.alias, "mail.b.example");
	ck_assert_str_eq(b->ssl.email, "admin@b.example");
	ck_assert_str_eq(c->ssl.alias, "smtp.c.example");
	ck_assert(!mr_model_domain(&m, "d.example")->ssl.enabled);
	ck_assert(!mr_model_domain(&m, "f.example")->ssl.enabled);
	/* a bad alias is one error, and no default stands in for it */
	ck_assert_uint_eq(d.n, 1);
	ck_assert_ptr_null(mr_model_domain(&m, "e.example")->ssl.alias);
	mr_diags_release(&d);
	mr_model_release(&m);
}
END_TEST

START_TEST(ssl_default_alias_too_long_is_an_error)
{
	/* a 253-character domain: mail.DOMAIN is no DNS name, and the error says to give 'alias' */
	struct mr_buf y = MR_BUF_INIT, name = MR_BUF_INIT;
	for (int i = 0; i < 4; i++)
		mr_buf_addf(&name, "%.62s.", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	mr_buf_adds(&name, "e");
	ck_assert_uint_eq(name.len, 253);
	mr_buf_addf(&y, "version: 1\nusers:\n  alice: {}\ndomains:\n  %s: {owner: alice, ssl: true}\n", name.ptr);
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_model_init(&m);
	mr_load_yaml_buffer(&m, "long.yaml", y.ptr, y.len, &d);
	struct mr_buf out = MR_BUF_INIT;
	mr_diags_render(&d, &out);
	ck_assert_msg(strstr(out.ptr, "error: the default ssl alias 'mail.") && strstr(out.ptr, "give 'alias'"), "%s",
		      out.ptr);
	mr_buf_release(&out);
	mr_buf_release(&y);
	mr_buf_release(&name);
	mr_diags_release(&d);
	mr_model_release(&m);
}
END_TEST

START_TEST(ssl_letsencrypt_names_certbots_live_files_for_the_alias)
{
	const char *y = "version: 1\nusers:\n  alice: {}\ndomains:\n"
			"  a.example: {owner: alice, ssl: {certificate: letsencrypt}}\n"
			"  b.example: {owner: alice, ssl: {alias: smtp.b.example, certificate: letsencrypt}}\n"
			"  c.example: {owner: alice, ssl: {certificate: letsencrypt-staging}}\n";
	struct mr_model m;
	struct mr_diags d = MR_DIAGS_INIT;
	mr_model_init(&m);
	mr_load_yaml_buffer(&m, "le.yaml", y, strlen(y), &d);
	const struct mr_domain *a = mr_model_domain(&m, "a.example"), *b = mr_model_domain(&m, "b.example");
	ck_assert_int_eq(a->ssl.cert, MR_CERT_FILES);
	ck_assert(a->ssl.letsencrypt);
	ck_assert_str_eq(a->ssl.cert_path, "/etc/letsencrypt/live/mail.a.example/fullchain.pem");
	ck_assert_str_eq(a->ssl.key_path, "/etc/letsencrypt/live/mail.a.example/privkey.pem");
	ck_assert_int_eq(a->ssl.cert_loc.line, 5);
	ck_assert_int_eq(a->ssl.key_loc.col, a->ssl.cert_loc.col);
	ck_assert_str_eq(b->ssl.cert_path, "/etc/letsencrypt/live/smtp.b.example/fullchain.pem");
	ck_assert_str_eq(b->ssl.key_path, "/etc/letsencrypt/live/smtp.b.example/privkey.pem");
	ck_assert_uint_eq(d.n, 1);
	struct mr_buf out = MR_BUF_INIT;
	mr_diags_render(&d, &out);
	ck_assert_msg(strstr(out.ptr, "le.yaml:7:48: error: 'certificate' must be self-signed, letsencrypt or {cert: PATH, "
				      "key: PATH}, not 'letsencrypt-staging'"),
		      "%s", out.ptr);
	mr_buf_release(&out);
	mr_diags_release(&d);
	mr_model_release(&m);
}
END_TEST

/* server.ssl: load y, the diagnostics rendered into out (the caller releases both) */
static void load_server(struct mr_model *m, const char *y, struct mr_buf *out)
{
	struct mr_diags d = MR_DIAGS_INIT;
	mr_model_init(m);
	mr_load_yaml_buffer(m, "srv.yaml", y, strlen(y), &d);
	mr_diags_render(&d, out);
	if (!out->ptr)
		mr_buf_adds(out, "");
	mr_diags_release(&d);
}

START_TEST(server_ssl_takes_a_domains_forms)
{
	struct mr_model m;
	struct mr_buf out = MR_BUF_INIT;
	load_server(&m, "version: 1\nserver:\n  ssl: {alias: mx.example.net, email: Hostmaster@Example.net}\n", &out);
	ck_assert_msg(out.len == 0, "%s", out.ptr);
	const struct mr_ssl *s = &m.server.ssl;
	ck_assert(s->enabled);
	ck_assert_int_eq(s->cert, MR_CERT_SELF_SIGNED);
	ck_assert_str_eq(s->alias, "mx.example.net");
	ck_assert_str_eq(s->email, "hostmaster@example.net");
	ck_assert_int_eq(s->loc.line, 3);
	ck_assert_int_eq(s->loc.col, 8);
	mr_model_release(&m);
	mr_buf_reset(&out);

	load_server(&m, "version: 1\nserver:\n  ssl:\n    alias: mx.example.net\n    certificate: letsencrypt\n", &out);
	ck_assert_msg(out.len == 0, "%s", out.ptr);
	ck_assert(m.server.ssl.letsencrypt);
	ck_assert_int_eq(m.server.ssl.cert, MR_CERT_FILES);
	ck_assert_str_eq(m.server.ssl.cert_path, "/etc/letsencrypt/live/mx.example.net/fullchain.pem");
	ck_assert_str_eq(m.server.ssl.key_path, "/etc/letsencrypt/live/mx.example.net/privkey.pem");
	ck_assert_int_eq(m.server.ssl.cert_loc.line, 5);
	ck_assert_int_eq(m.server.ssl.cert_loc.col, 18);
	mr_model_release(&m);
	mr_buf_reset(&out);

	load_server(&m, "version: 1\nserver:\n  ssl: {alias: mx.example.net, certificate: {cert: c.pem, key: k.pem}}\n",
		    &out);
	ck_assert_msg(out.len == 0, "%s", out.ptr);
	ck_assert_int_eq(m.server.ssl.cert, MR_CERT_FILES);
	ck_assert(!m.server.ssl.letsencrypt);
	ck_assert_str_eq(m.server.ssl.cert_path, "c.pem");
	ck_assert_str_eq(m.server.ssl.key_path, "k.pem");
	ck_assert_ptr_nonnull(m.server.ssl.dir); /* relative to the file's directory */
	mr_model_release(&m);
	mr_buf_reset(&out);

	/* false, null and left out: unmanaged */
	const char *off[] = { "version: 1\nserver:\n  ssl: false\n", "version: 1\nserver:\n  ssl:\n",
			      "version: 1\nserver: {rate_per_hour: 10}\n" };
	for (size_t i = 0; i < 3; i++) {
		load_server(&m, off[i], &out);
		ck_assert_msg(out.len == 0, "%s", out.ptr);
		ck_assert(!m.server.ssl.enabled);
		mr_model_release(&m);
		mr_buf_reset(&out);
	}
	mr_buf_release(&out);
}
END_TEST

START_TEST(server_ssl_errors_name_their_place)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{ "version: 1\nserver:\n  ssl: true\n",
		  "srv.yaml:3:8: error: 'ssl: true' gives the server's certificate no name: write {alias: NAME}" },
		{ "version: 1\nserver:\n  ssl: {certificate: self-signed}\n",
		  "srv.yaml:3:8: error: the server's ssl has no 'alias'" },
		{ "version: 1\nserver:\n  ssl: {alias: }\n", "srv.yaml:3:16: error: 'alias' of the server's ssl has no value" },
		{ "version: 1\nserver:\n  ssl: mx.example.net\n", "srv.yaml:3:8: error: 'ssl' must be true or false (also yes/no, on/off, without quotes), not 'mx.example.net'" },
		{ "version: 1\nserver:\n  ssl: [mx.example.net]\n",
		  "srv.yaml:3:8: error: the server's 'ssl' must be false or {alias: NAME, certificate: ..., email: ...}, not a list" },
		{ "version: 1\nserver:\n  ssl: {alias: mx.example.net, cert: x}\n",
		  "srv.yaml:3:32: error: unknown field 'cert' in the server's ssl" },
		{ "version: 1\nserver:\n  ssl: {alias: MX.example.net}\n",
		  "srv.yaml:3:16: error: invalid ssl alias 'MX.example.net': must be lower case" },
		{ "version: 1\nserver:\n  ssl: {alias: mx.example.net, certificate: letsencrypt-staging}\n",
		  "srv.yaml:3:45: error: 'certificate' must be self-signed, letsencrypt or {cert: PATH, key: PATH}" },
		{ "version: 1\nserver:\n  ssl: {alias: mx.example.net, certificate: {cert: c.pem}}\n",
		  "srv.yaml:3:45: error: the ssl certificate has no 'key'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mr_model m;
		struct mr_buf out = MR_BUF_INIT;
		load_server(&m, cases[i].yaml, &out);
		ck_assert_msg(strstr(out.ptr, cases[i].want), "case %zu: wanted '%s', got '%s'", i, cases[i].want, out.ptr);
		mr_buf_release(&out);
		mr_model_release(&m);
	}
}
END_TEST

Suite *suite_load(void)
{
	Suite *s = suite_create("load");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, minimal_example_loads);
	tcase_add_test(tc, mailbox_cold_and_live_parts);
	tcase_add_test(tc, hosting_example_loads_every_feature);
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, hashes_equal_to_live_are_shared);
	tcase_add_test(tc, a_loading_hash_is_taken_from_hash_from);
	tcase_add_test(tc, directory_sources_are_sorted_and_skip_hidden);
	tcase_add_test(tc, empty_directory_is_an_error);
	tcase_add_test(tc, default_source_is_below_root);
	tcase_add_test(tc, same_file_twice_is_read_once);
	tcase_add_test(tc, hundred_megabyte_file_is_refused_unread);
	tcase_add_test(tc, file_read_in_chunks_loads_as_its_bytes);
	tcase_add_test(tc, file_at_the_limit_is_read_one_over_is_not);
	tcase_add_test(tc, read_error_is_the_files_error);
	tcase_add_test(tc, secrets_are_checked_but_never_printed);
	tcase_add_test(tc, buffer_parser_accepts_anchors_for_shared_settings);
	tcase_add_test(tc, fleet_hosts_and_placement_load);
	tcase_add_test(tc, fleet_cut_to_one_host);
	tcase_add_test(tc, ssl_true_and_a_mapping_without_alias_default_to_mail_domain);
	tcase_add_test(tc, ssl_default_alias_too_long_is_an_error);
	tcase_add_test(tc, ssl_letsencrypt_names_certbots_live_files_for_the_alias);
	tcase_add_test(tc, server_ssl_takes_a_domains_forms);
	tcase_add_test(tc, server_ssl_errors_name_their_place);
	suite_add_tcase(s, tc);
	return s;
}
