/*
 * planfile: the file `plan --out PLANFILE` writes and `apply --plan PLANFILE` checks.
 *
 * JSON, versioned ("format": "mailrecon-plan", "format_version": 2; schema/planfile.schema.json):
 * the mailrecon version, the root, layout and scope, the desired-state sources with their
 * SHA-256, the secrets they name pinned by HMAC (struct mr_pins), a fingerprint (exists,
 * SHA-256, size, mode, uid, gid) of every live file the plan read, and the plan itself as
 * `plan --json` prints it.  No secret is in it: a clear password is named by its source (a
 * file path or variable name), never by value.
 */
#ifndef MR_PLAN_PLANFILE_H
#define MR_PLAN_PLANFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/digest.h"
#include "plan/plan.h"

#define MR_PLANFILE_FORMAT "mailrecon-plan"
#define MR_PLANFILE_VERSION 2

struct mr_fingerprint {
	char *path;   /* below the root for live files; as given for desired sources */
	bool exists;
	char sha256[MR_SHA256_HEX];
	uint64_t size;
	unsigned mode; /* permission bits and type */
	int64_t uid, gid;
};

struct mr_fingerprints {
	struct mr_fingerprint *v;
	size_t n, cap;
};

/* Fingerprint full (the path on disk) as shown; never follows a symlink (lstat). */
void mr_fingerprint_add(struct mr_fingerprints *l, const char *shown, const char *full);
void mr_fingerprints_release(struct mr_fingerprints *l);

/* A desired-state source in git, pinned: "git:PATH#COMMIT[:SUBDIR]" (no file to hash: the
 * commit id is the fingerprint), so apply --plan reads exactly that commit. */
void mr_fingerprint_git(struct mr_fingerprints *l, const char *spec, const char *commit);

/* Every file a plan reads: the managed files (present or not), /etc/passwd and every entry
 * of the key directories, sorted. */
void mr_fingerprint_files(const struct mr_live *lv, const struct mr_accounts *acc, struct mr_fingerprints *fp);

/*
 * The secrets a desired state names, pinned so that apply --plan applies exactly what was
 * planned: every {file:} password and certificate/key file by its bytes, every {env:}
 * password by its value -- each as HMAC-SHA256 under a key kept in STATE_DIR/pin-key (0600,
 * made by `plan --out` when create is true), never in clear and never as a plain hash a
 * guessable password could be found from.  An unreadable source is pinned as such.
 */
struct mr_pin {
	char *source; /* "password of ADDRESS: file PATH", "certificate key of DOMAIN: file PATH", ... */
	char hmac[MR_SHA256_HEX];
};
struct mr_pins {
	struct mr_pin *v;
	size_t n, cap;
};
struct mr_root;
void mr_pins_take(struct mr_root *root, const struct mr_model *m, const char *state_dir, bool create,
		  struct mr_pins *out);
void mr_pins_release(struct mr_pins *p);

struct mr_planfile_meta {
	const char *root;
	const char *layout;
	const char *scope;
	const char *created; /* ISO 8601 UTC */
	const struct mr_fingerprints *desired;
	const struct mr_pins *pins;
	const struct mr_fingerprints *live;
};

void mr_planfile_write(const struct mr_plan *p, const struct mr_diags *findings, const struct mr_planfile_meta *m,
		       struct mr_buf *out);

/*
 * A plan file read back (apply --plan), with a JSON parser (jansson): the same content
 * re-serialised by another JSON tool -- other spacing, key order or escapes -- is the same
 * plan.  A duplicate key, trailing data or a value of the wrong type is an error.
 *
 *   struct mr_planfile_saved s;
 *   if (mr_planfile_read(&s, text, len, &err) < 0) ... "not a mailrecon plan file: ERR"
 *   ... load s.sources (the desired sources it names), use s.created ...
 *   mr_buf_reset(&why);
 *   if (mr_planfile_compare(&s, now, &why) < 0) ... "refused: WHY; make a new plan"
 *   mr_planfile_saved_release(&s);
 *
 * now is mr_planfile_write's output for the state as it is; the parts are compared in the
 * order the file holds them, and why names the first that differs (for the lists of
 * sources, secrets and live files, also the first entry that differs).
 */
struct mr_planfile_saved {
	void *doc;           /* json_t *, owned */
	const char **sources; /* desired_sources[].path, in the file's order (strings of doc) */
	size_t nsources;
	const char *created; /* "created" (a string of doc) */
	const char **targets; /* plan.targeted.targets[].name: the plan's --target (strings of doc) */
	size_t ntargets;
};
int mr_planfile_read(struct mr_planfile_saved *out, const char *text, size_t len, struct mr_buf *err);
int mr_planfile_compare(const struct mr_planfile_saved *saved, const char *now, struct mr_buf *why);
void mr_planfile_saved_release(struct mr_planfile_saved *s);

#endif
