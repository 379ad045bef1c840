/*
 * desired: load the desired state (YAML files) into a model and validate it.
 *
 * Sources are files or directories (every *.yaml / *.yml below, sorted, merged); with no
 * source, ROOT/etc/mailrecon/desired.  Below a directory no symbolic link is followed (a
 * YAML-named one is an error); with opts->scoped an argument with a link at any level, from
 * "/" (a relative one from the working directory, '..' taken as text), is refused too, and
 * the model holds each file's directory open until it is released (struct mr_srcdir).
 * Every problem, from a YAML syntax error to a reseller over its limits, is added to diags
 * with its file:line:col; the model is only meaningful when no error was added.
 *
 *   struct mr_model m;
 *   struct mr_diags d = MR_DIAGS_INIT;
 *   struct mr_load_opts o = { .root = "/", .sources = paths, .nsources = n };
 *   mr_model_init(&m);
 *   if (mr_load_desired(&m, &o, &d) < 0) { mr_diags_print(&d, stderr); ... }
 */
#ifndef MR_LOAD_DESIRED_H
#define MR_LOAD_DESIRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "util/diag.h"
#include "util/fs.h"
#include "util/rootfs.h"

#define MR_DESIRED_DEFAULT "/etc/mailrecon/desired"
#define MR_DESIRED_MAX_FILE (64u << 20)

struct mr_load_opts {
	const char *root;            /* where the default source is: ROOT/etc/mailrecon/desired */
	struct mr_root *rootfs;      /* absolute paths a state names are read below it (NULL: no root) */
	bool skip_files;             /* do not read the files a state names at all (fuzzing) */
	bool scoped;                 /* a --scope run: the state speaks for a tenant, so an absolute
				      * {file:} or certificate path and {env:} are not read (the plan
				      * refuses them, plan/scope.c); an -f argument is reached from "/"
				      * without a symbolic link at any level (without --scope links are
				      * followed; a link a directory walk finds never is), and each
				      * file's directory is held open for the files it names
				      * (struct mr_srcdir) */
	bool refused;                /* out: some errors are refusals of --scope (a named file
				      * reached through a link: mr_validate_desired); exit 3 */
	const char *const *sources;  /* -f arguments; none: ROOT/etc/mailrecon/desired */
	size_t nsources;
	size_t nfiles;               /* out: YAML files read */
	struct mr_pathlist *files_out; /* when not NULL: receives the path of every file read */
	/*
	 * Sources named "git:PATH[#REF][:SUBDIR]" are read through this callback (the vcs layer
	 * provides it): it calls emit once per YAML file, with a name diagnostics can show, and
	 * writes the commit id it read into commit_out.  NULL: such a source is an error.
	 */
	int (*read_git)(const char *spec, int (*emit)(void *ectx, const char *name, const void *data, size_t len),
			void *ectx, char commit_out[41], struct mr_buf *err);
	char git_commit[41];           /* out: the commit a git source was read at, or "" */
	/*
	 * The host this run reconciles (--host; design section 9), or NULL for the whole fleet
	 * (validate).  With server.hosts, the whole fleet is validated, then the model is cut
	 * to host's part (mr_model_keep_host); the files and variables other hosts' mailboxes
	 * and certificates name are not read here (they are that host's).  A host that is not
	 * in server.hosts is an error.  Without server.hosts it changes nothing.
	 */
	const char *host;
};

/* 0 when the state loaded and validated without error, -1 otherwise. */
int mr_load_desired(struct mr_model *m, struct mr_load_opts *opts, struct mr_diags *diags);

/* Parse one file's bytes into m (used by the loader and by the fuzz targets). */
void mr_load_yaml_buffer(struct mr_model *m, const char *file, const char *data, size_t len,
			 struct mr_diags *diags);

/*
 * The same, saying how: stream converts each entry of 'domains' while the file is read, so
 * a big file never has its whole YAML tree in memory (what the loader does); without it the
 * tree is parsed first and converted after (the fuzz target checks that both give the same
 * model and the same messages).  0, or -1 when the bytes are not valid YAML.
 */
int mr_load_yaml_buffer_ex(struct mr_model *m, const char *file, const char *data, size_t len, bool stream,
			   struct mr_diags *diags);

/*
 * The same (converted while it is read), the bytes read a chunk at a time through in
 * (load/ytree.h) as the loader reads a file, so that they are never all in memory; size is
 * the file's size (or a guess), which sizes the model's maps.  0, or -1 when the bytes are
 * not valid YAML, or when in->read failed: then without a message of its own (the reader
 * has the reason) and, as for bad YAML, nothing of the file is kept.
 */
struct mr_yinput;
int mr_load_yaml_input(struct mr_model *m, const char *file, const struct mr_yinput *in, uint64_t size,
		       struct mr_diags *diags);

/*
 * The whole-state rules of design section 2 (cross references, limits, loops, secrets).
 * Flags: MR_VALIDATE_READ_FILES reads the files a state names (without it, nothing is read:
 * fuzzing); MR_VALIDATE_SCOPED (a --scope run) reads neither an absolute path nor the
 * environment, which are root's, not the tenant's: the plan refuses them instead.  Returns
 * how many of the errors added are refusals of --scope (a file named through a link, or not
 * below the directory its YAML file was read from: load/secret.h mr_secret_refused).
 */
#define MR_VALIDATE_READ_FILES 1u
#define MR_VALIDATE_SCOPED 2u
size_t mr_validate_desired(struct mr_model *m, struct mr_root *root, unsigned flags, struct mr_diags *diags);
/* The same for a run on one host of a fleet: the secrets and certificate files of domains
 * placed on another host are not read (host NULL: every one is). */
size_t mr_validate_desired_on(struct mr_model *m, struct mr_root *root, unsigned flags, const char *host,
			      struct mr_diags *diags);

/* Parse a size ("500M", "2G", "1048576"); false when malformed or over 1 PiB. */
int mr_parse_size(const char *s, int64_t *out);

#endif
