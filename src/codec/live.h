/*
 * live: read every live file below the root into the same model type the YAML loader
 * builds (design section 3).  A mailbox is put together from exim-passwd, dovecot-passwd,
 * exim-aliases, exim-ratelimits, the whitelists and the registry; a domain from
 * exim-domains, exim-domainips, the whitelists, the registry and its ssl/ files.
 *
 * Two kinds of trouble are told apart:
 *   - errors (the errors argument): a file that exists but cannot be read -- a symbolic
 *     link, a directory, no permission, too large.  mr_live_load() returns -1 and the model
 *     must not be used to change anything.
 *   - findings (lv->findings, warnings with file:line:col): lines that cannot be read, files
 *     that disagree (a mailbox in dovecot.passwd but not in the Exim list, an alias to a
 *     missing mailbox, a domainips line for an unknown domain, a shadowed duplicate key).
 *     The model is still usable; a file with a bad line is marked so it is never rewritten
 *     (lv->files[i].cf.nbad).
 *
 *   struct mr_live lv;
 *   struct mr_diags errors = MR_DIAGS_INIT;
 *   if (mr_live_load(&lv, &(struct mr_live_opts){ .root = "/", .layout = MR_LAYOUT_AUTO }, &errors) < 0)
 *           ...
 *   mr_diags_print(&lv.findings, stderr);
 *   ... lv.model ...
 *   mr_live_release(&lv);
 */
#ifndef MR_CODEC_LIVE_H
#define MR_CODEC_LIVE_H

#include <stdbool.h>
#include <sys/stat.h>

#include "codec/codec.h"
#include "model/model.h"
#include "util/diag.h"
#include "util/rootfs.h"

/* The largest live file read: a server's dovecot.passwd is about 19 MiB for 100,000
 * mailboxes and 191 MiB for 1,000,000, and memory grows with the size of what is read.  A
 * larger file is an error naming it and this limit; apply never writes one (stage.c), so
 * what it writes can always be read back. */
#define MR_LIVE_MAX_FILE (512u << 20)

struct mr_live_file {
	struct mr_codec_file cf;
	bool exists;
	struct stat st;   /* when it exists */
	size_t len;       /* its size as read */
	unsigned char sha256[32]; /* of its bytes as read (the parser cuts cf.data up) */
	/* with mr_live_opts.blob_ids: the Git blob id of those bytes, for apply's record of the
	 * live state (apply/capture.c), which then need not read an unchanged file again; none
	 * for a file holding a private key, which history never records (it is read again) */
	bool has_blob_id;
	unsigned char blob_id[20];
};

/* Files mailrecon writes whole from the model, not line by line (docs/formats.md): the
 * certificate of each TLS server name, for Dovecot and for Exim. */
enum mr_conf_id { MR_CONF_DOVECOT_SNI, MR_CONF_EXIM_SNI, MR_CONF_COUNT };
#define MR_SNI_INCLUDE "/etc/dovecot/conf.d/99-mailrecon-sni.conf"
#define MR_EXIM_SNI_DEBIAN "/etc/exim4/mailrecon-sni"
#define MR_EXIM_SNI_RHEL "/etc/exim/mailrecon-sni"
const char *mr_conf_path(enum mr_conf_id id, enum mr_layout layout);

/*
 * The server's default certificate (server.ssl, docs/formats.md): what Exim gives a client
 * that names no server or a name without its own certificate (contrib/exim4/exim4.conf
 * MR_TLS_CERT/MR_TLS_KEY: ssl/exim.crt and exim.key), and Dovecot's ssl_cert/ssl_key
 * (contrib/dovecot/dovecot.conf).  Exim's pair is the one read into the live model;
 * Dovecot's is a copy of it.  On stock Debian Dovecot's two are root's symbolic links to the
 * snakeoil pair: apply replaces such a link by a file (the link itself, never what it
 * points at), and refuses any other link.
 */
enum mr_srvcert { MR_SRVCERT_EXIM_CRT, MR_SRVCERT_EXIM_KEY, MR_SRVCERT_DOVECOT_CRT, MR_SRVCERT_DOVECOT_KEY, MR_SRVCERT_COUNT };
#define MR_SRVCERT_DOVECOT_DIR "/etc/dovecot/private"
const char *mr_srvcert_path(enum mr_srvcert which, enum mr_layout layout);
/* which of them path is, or -1 */
int mr_srvcert_which(const char *path, enum mr_layout layout);

struct mr_live {
	/* Its strings are mostly the files' own (files[].cf: the bytes cut up in place and the
	 * file's arena), not copies: names, addresses, hashes, homes, owners, targets.  Those
	 * bytes are never written after mr_live_load, and mr_live_release frees the model and
	 * the files together: nothing may keep the model, or a string of it, longer. */
	struct mr_model model;
	enum mr_layout layout; /* as resolved */
	struct mr_root *root;  /* borrowed: every file is read through it */
	struct mr_live_file files[MR_FILE_COUNT];
	struct mr_diags findings;
	/* "/etc/exim4/ssl/NAME" of every entry of the key directories: listing them once saves
	 * six failed opens per domain on a server with thousands of domains */
	struct mr_strmap key_files;
	/* which of the server's default certificate files (enum mr_srvcert) are there, as
	 * anything (a link too) */
	bool srvcert_exists[MR_SRVCERT_COUNT];
	/* the files mailrecon writes whole (enum mr_conf_id) as read; NULL: absent */
	char *conf[MR_CONF_COUNT];
	size_t conf_len[MR_CONF_COUNT];
	bool blob_ids; /* mr_live_opts.blob_ids */
};

struct mr_live_opts {
	struct mr_root *root;  /* the root handle (util/rootfs.h); it must outlive the model */
	enum mr_layout layout; /* MR_LAYOUT_AUTO: /etc/exim4 means debian, /etc/exim rhel */
	/* when set, the DKIM rotation kept in STATE_DIR/dkim is read too (codec/dkim_state.h) */
	const char *state_dir;
	bool blob_ids; /* the files' Git blob ids too (struct mr_live_file) */
};

/* Resolve MR_LAYOUT_AUTO; -1 with a message in err when the tree does not tell. */
int mr_layout_detect(struct mr_root *root, enum mr_layout *out, struct mr_buf *err);

/* 0, or -1 with errors added (lv is initialised either way: release it). */
int mr_live_load(struct mr_live *lv, const struct mr_live_opts *o, struct mr_diags *errors);
void mr_live_release(struct mr_live *lv);

/* Owner of a home /var/www/OWNER/data/email/DOMAIN/LOCAL, if it has that form, else NULL:
 * known when it is that owner (a domain's owner, NULL: none), else a copy in m's arena. */
const char *mr_home_owner(struct mr_model *m, const char *home, const char *domain, const char *local,
			  const char *known);
/* The home ispmanager gives a mailbox; a fresh string. */
char *mr_home_path(const char *owner, const char *domain, const char *local);
/* Whether a live home field names exactly place (a final '/' aside). */
bool mr_home_is(const char *home, const char *place);
/* mr_home_is(home, mr_home_path(owner, domain, local)), without making the path. */
bool mr_home_is_place(const char *home, const char *owner, const char *domain, const char *local);

/*
 * Whether an extra field of a dovecot.passwd line overrides where a mailbox's mail is or
 * whose it is (userdb_uid=, userdb_home=, userdb_mail=, ...).  Such a field is data nobody
 * but mailrecon should set: it is a finding, mailrecon drops it when it rewrites the line,
 * and a revision holding one is never rolled back to.
 */
bool mr_dovecot_override(const char *word);

/* Dovecot quota sizes ("2G", "100M", "12345"; storage= counts KiB without a unit). */
bool mr_quota_parse(const char *rule, int64_t *bytes);

#endif
