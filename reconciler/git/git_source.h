/*
 * The Git source: a remote repository followed through a bare cache.
 *
 * A source tracks one ref (branch, tag or pinned commit) of one URL. A poll
 * first asks the remote where the ref points (the ref advertisement only);
 * when it has not moved, no pack is fetched. When it has, the cache fetches
 * incrementally, and the commit is read straight from the object database:
 * there is never a working tree.
 *
 * URLs: local paths, file://, git://, http(s):// (smart protocol) and ssh://
 * or scp-like "user@host:path". Credentials come from files or environment
 * variables named in the options, never from the URL (a URL with a password
 * is refused) or the command line; every message and log line shows the URL
 * with credentials redacted.
 *
 * A source is not thread-safe: one thread polls it at a time.
 */
#ifndef KEELSON_GIT_GIT_SOURCE_H
#define KEELSON_GIT_GIT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout/file_source.h"

struct keelson_git_source;

enum keelson_git_track {
	KEELSON_GIT_TRACK_BRANCH = 0,
	KEELSON_GIT_TRACK_TAG = 1,
	KEELSON_GIT_TRACK_COMMIT = 2, /* ref is a full 40-hex commit id */
};

enum keelson_git_signature_policy {
	KEELSON_GIT_SIGNATURES_NONE = 0,
	/* Commits must carry an SSH signature (namespace "git") by a key listed
	 * in ssh_allowed_signers_file (ssh-keygen ALLOWED SIGNERS format);
	 * verified with `ssh-keygen -Y verify`. */
	KEELSON_GIT_SIGNATURES_SSH = 1,
	/* Commits must carry an OpenPGP signature by a key in gpg_keyring_file
	 * (exported public keys); verified with gpgme in a private GnuPG home
	 * that holds only those keys. */
	KEELSON_GIT_SIGNATURES_GPG = 2,
};

#define KEELSON_GIT_SOURCE_OPTIONS_VERSION 1

struct keelson_git_source_options {
	unsigned version; /* KEELSON_GIT_SOURCE_OPTIONS_VERSION */
	const char *url;
	/* This repository's own cache directory (a bare repository, created
	 * when missing). A cache created for another URL is refused. */
	const char *cache_dir;
	enum keelson_git_track track;
	const char *ref; /* branch name, tag name, or commit id */

	/* HTTP(S) credentials: the username (default: the URL's user, else
	 * "x-access-token") and the password or token, each read from a file
	 * (first line) or an environment variable, when the server asks. A
	 * file wins over a variable; an unset username variable means the
	 * default, an unset token variable is an error. */
	const char *username_file;
	const char *username_env;
	const char *token_file;
	const char *token_env;
	/* PEM file of extra certificate authorities trusted for HTTPS. */
	const char *ca_file;

	/* SSH: private key file (no passphrase), user when the URL has none
	 * (default "git"), known_hosts file (default ~/.ssh/known_hosts).
	 * Host keys are checked unless insecure_skip_host_key_check. */
	const char *ssh_key_file;
	const char *ssh_username;
	const char *known_hosts_file;
	bool insecure_skip_host_key_check;

	/* Commit signatures: a commit that fails the policy is refused and
	 * the last good revision stays. Already accepted commits are not
	 * verified again. */
	enum keelson_git_signature_policy signature_policy;
	const char *ssh_allowed_signers_file;
	const char *gpg_keyring_file;

	/* A fetch that receives more than this is aborted with KEELSON_ELIMIT
	 * (0: 1 GiB). Guards the cache's disk against a runaway remote. */
	uint64_t max_fetch_bytes;

	/* A poll that has not finished after this long is abandoned with
	 * KEELSON_ETIMEOUT (0: 120 s). libgit2 1.5 has no network timeout of
	 * its own: keelson interrupts the polling thread's blocking calls with
	 * the real-time signal SIGRTMIN+3, whose process-wide handler (installed
	 * on first use, without SA_RESTART) does nothing. This covers file://,
	 * git:// and HTTP(S); libssh2 retries interrupted waits, so an SSH
	 * server that stops answering still blocks the poll. */
	unsigned timeout_ms;

	/* A commit whose tree has more files than this is refused (the
	 * revision is invalid; the last good one stays). 0: the default,
	 * KEELSON_GIT_DEFAULT_MAX_TREE_ENTRIES. Bounds the memory of the tree
	 * walk against a hostile or runaway repository. */
	size_t max_tree_entries;
};

#define KEELSON_GIT_DEFAULT_MAX_TREE_ENTRIES 1000000

/* Fixed-size fields: a revision is a plain value, copied and compared freely. */
struct keelson_git_revision {
	char sha[41];          /* commit id, 40 hex digits + NUL */
	int64_t commit_time;   /* committer time, seconds since the epoch */
	char author[256];      /* "Name <email>", truncated */
	char subject[256];     /* first line of the message, truncated */
	bool forced;           /* the new commit does not descend from the previous one */
	bool fetched;          /* a pack was requested during this poll */
	uint64_t received_bytes;   /* pack bytes received during this poll */
	unsigned received_objects; /* objects received during this poll */
};

/* A cache directory for url under root: "<root>/<host-and-path>-<hash>",
 * readable for people and distinct per URL (the hash is over the URL with
 * credentials redacted, so rotating a password keeps the cache). Caller
 * frees *out. */
int keelson_git_cache_dir_for_url(char **out, const char *root, const char *url);

/* Open (and create when missing) the cache for opts->url and validate the
 * options. Does not contact the remote. Free with keelson_git_source_free. */
int keelson_git_source_open(struct keelson_git_source **out,
			    const struct keelson_git_source_options *opts);

void keelson_git_source_free(struct keelson_git_source *src);

/* Ask the remote for the tracked ref and fetch only when it moved. On
 * success *out_rev is the current revision and *out_changed tells whether
 * it differs from the previous successful poll (the first poll after open
 * always reports a change). On failure the last good revision stays (see
 * keelson_git_source_last_good) and the message names the URL, the ref and
 * what to do. Codes: KEELSON_EUNAVAILABLE (remote unreachable), KEELSON_EINVALID
 * (authentication or host key refused, bad or missing signature),
 * KEELSON_ENOTFOUND (ref or commit not on the remote), KEELSON_ELIMIT (the
 * fetch exceeded max_fetch_bytes), KEELSON_ETIMEOUT (no answer within
 * timeout_ms). */
int keelson_git_source_poll(struct keelson_git_revision *out_rev, bool *out_changed,
			    struct keelson_git_source *src);

/* The last revision a poll accepted (kept across restarts in the cache);
 * NULL when there is none. Borrowed; valid until the next poll. */
const char *keelson_git_source_last_good(const struct keelson_git_source *src);

/* The first parent of commit `sha` (40 hex) in the cache, into `out`
 * (41 bytes), so a daemon that starts on an invalid newest commit can
 * find the last valid one. KEELSON_ENOTFOUND for a root commit, a commit
 * not in the cache, or under a signature policy (ancestors were never
 * verified: nothing but the verified tip may be put in force). */
int keelson_git_source_first_parent(char out[41], struct keelson_git_source *src, const char *sha);

/* The URL with credentials redacted, for messages. Borrowed. */
const char *keelson_git_source_display_url(const struct keelson_git_source *src);

/* The local repository directory a trigger may watch (the path of a local
 * or file:// URL), or NULL for a network remote. Borrowed. */
const char *keelson_git_source_local_path(const struct keelson_git_source *src);

/* The files of commit `sha` (40 hex), read from the cache's object
 * database, as a layout file source (version 3: each file carries its blob
 * id as object_id, and for_each_file_lazy reads a blob only when the loader
 * asks for it). The source keeps its own handle on the cache and may
 * outlive `src`. */
int keelson_git_source_files(struct keelson_file_source **out, struct keelson_git_source *src,
			     const char *sha);

/* The same file source over any repository on disk: `repository_path` a
 * bare repository or a working tree's .git directory, `sha` a full commit
 * id in it, `display` the origin shown in messages (the description is
 * "display@abbreviated-sha"). max_tree_entries 0 means the default. The
 * source opens its own handle. KEELSON_ENOTFOUND when the commit is not
 * there. */
int keelson_git_commit_files(struct keelson_file_source **out, const char *repository_path,
			     const char *sha, const char *display, size_t max_tree_entries);

/* One file of commit `sha` (40 hex) by its repository path, for re-reading
 * only what keelson_git_changed_paths() reported. *out_data is malloc'd
 * (NUL-terminated for convenience; *out_size excludes the NUL); a symlink
 * yields its target. KEELSON_ENOTFOUND when the path is not a file in that
 * commit, KEELSON_ELIMIT when it is larger than max_file_size. */
int keelson_git_source_read_file(char **out_data, size_t *out_size, enum keelson_file_kind *out_kind,
				 struct keelson_git_source *src, const char *sha, const char *path,
				 size_t max_file_size);

enum keelson_git_change_kind {
	KEELSON_GIT_CHANGE_ADDED = 0,
	KEELSON_GIT_CHANGE_MODIFIED = 1,
	KEELSON_GIT_CHANGE_DELETED = 2,
	KEELSON_GIT_CHANGE_TYPECHANGE = 3, /* e.g. regular file <-> symlink */
};

struct keelson_git_change {
	char *path;
	enum keelson_git_change_kind kind;
};

struct keelson_git_changes {
	struct keelson_git_change *items; /* bytewise path order */
	size_t count;
};

/* Paths that differ between the trees of two commits (no rename detection:
 * a rename is a deletion plus an addition). old_sha may be NULL for "every
 * path of new_sha is added". Free with keelson_git_changes_free. */
int keelson_git_changed_paths(struct keelson_git_changes *out, struct keelson_git_source *src,
			      const char *old_sha, const char *new_sha);

void keelson_git_changes_free(struct keelson_git_changes *changes);

#endif
