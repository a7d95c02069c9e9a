/*
 * Status committed back to Git (DESIGN.md principle 5, "Git in, Git out").
 *
 * keelson owns one branch of the configuration repository (default
 * keelson/status) and keeps there one JSON file per cluster and system,
 * status/<cluster>/<system>.json: the revision applied, the phase, the
 * current rollout step, the last error, drift and a short history. The
 * format is documented in docs/status-branch.md.
 *
 * The reconcile loop calls keelson_status_writer_update() once per cycle
 * and system, then keelson_status_writer_flush(): an update identical to the
 * last one changes nothing; changes are coalesced into at most one commit
 * per interval. A commit is built in a bare cache with libgit2 on top of the
 * freshly fetched tip of the status branch and pushed without force; when
 * the push is refused (another instance pushed first) the branch is fetched
 * again, the files are merged (each instance writes its own files; for one
 * file the newer observedAt wins) and the push retried, a bounded number of
 * times with backoff. The branch keelson reads is never written.
 *
 * A writer is not thread-safe: one thread uses it at a time.
 */
#ifndef KEELSON_STATUS_STATUS_WRITER_H
#define KEELSON_STATUS_STATUS_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

enum keelson_status_phase {
	KEELSON_PHASE_SYNCED = 0,      /* the live cluster matches the revision */
	KEELSON_PHASE_PROGRESSING = 1, /* a rollout is under way */
	KEELSON_PHASE_BLOCKED = 2,     /* a gate refuses the next step */
	KEELSON_PHASE_DEGRADED = 3,    /* applied, but the system is not healthy or drifted */
	KEELSON_PHASE_FAILED = 4,      /* the revision could not be applied */
};

/* "Synced", "Progressing", ...; "Unknown" for a value out of range. */
const char *keelson_status_phase_name(enum keelson_status_phase phase);

/* Parse a phase name (exact case). KEELSON_EINVALID otherwise. */
int keelson_status_phase_parse(enum keelson_status_phase *out, const char *name);

#define KEELSON_SYSTEM_STATUS_VERSION 1

/* What the reconcile loop knows about one system after a cycle. Strings are
 * borrowed for the duration of the call. */
struct keelson_system_status {
	unsigned version;           /* KEELSON_SYSTEM_STATUS_VERSION */
	const char *revision;       /* source commit applied (40 hex), NULL when none yet */
	enum keelson_status_phase phase;
	const char *step;           /* current rollout step, NULL when none */
	const char *last_error;     /* NULL when none */
	size_t drifted_objects;
	/* Up to the first KEELSON_STATUS_MAX_DRIFT_LISTED of them as
	 * "group/Kind/namespace/name" (may be NULL with drift_count 0). */
	const char *const *drift;
	size_t drift_count;
	/* When this was observed (ms since the epoch); 0: the writer's clock. */
	int64_t observed_at_ms;
};

#define KEELSON_STATUS_MAX_DRIFT_LISTED 50
/* Strings in a status file are cut to this many bytes. */
#define KEELSON_STATUS_MAX_TEXT 2048
/* Status files read from the branch larger than this are ignored. */
#define KEELSON_STATUS_MAX_FILE_BYTES (1024 * 1024)

struct keelson_forge;

#define KEELSON_STATUS_WRITER_OPTIONS_VERSION 1

struct keelson_status_writer_options {
	unsigned version;            /* KEELSON_STATUS_WRITER_OPTIONS_VERSION */
	const char *url;             /* the configuration repository */
	/* A bare repository for status commits (created when missing). It may
	 * be the Git source's cache of the same URL; a separate one keeps the
	 * source's and the writer's threads apart. */
	const char *cache_dir;
	const char *branch;          /* default "keelson/status" */
	/* The branch keelson reads: refused when equal to `branch`. */
	const char *read_branch;
	const char *author_name;     /* default "keelson" */
	const char *author_email;    /* default "keelson@localhost" */
	/* Tells instances apart in the files (default: the host name). */
	const char *instance;
	unsigned long long interval_ms;  /* at most one commit per interval (0: 30 s) */
	unsigned history_max;            /* transitions kept per file (0: 20) */
	unsigned push_attempts;          /* (0: 5) */
	unsigned backoff_initial_ms;     /* doubled per attempt, with jitter (0: 200 ms) */
	/* A fetch or push that has not finished after this long is abandoned
	 * with KEELSON_ETIMEOUT (0: 120 s). Same mechanism as the Git source
	 * (git_source.h, timeout_ms): the real-time signal SIGRTMIN+3 with a
	 * do-nothing handler interrupts the thread's blocking calls. */
	unsigned timeout_ms;

	/* Credentials for HTTP(S) and SSH, as for the Git source: files or
	 * environment variables, read when the server asks. */
	const char *username_file, *username_env, *token_file, *token_env;
	const char *ssh_key_file, *ssh_username, *known_hosts_file;
	/* PEM file of a CA trusted besides the system store for HTTPS (the
	 * Git source's caFile: the status branch lives on the same server). */
	const char *ca_file;
	bool insecure_skip_host_key_check;

	/* Optional commit statuses on the source commit (borrowed; must outlive
	 * the writer). A failed call is logged and retried at the next flush. */
	struct keelson_forge *forge;

	/* Clock in ms since the epoch (NULL: the real clock); for tests. */
	int64_t (*clock)(void *payload);
	void *clock_payload;

	/* Systems recorded at most; one more is KEELSON_ELIMIT (0:
	 * KEELSON_STATUS_MAX_SYSTEMS; tests pass a small number). */
	unsigned max_systems;
};

#define KEELSON_STATUS_MAX_SYSTEMS 100000u

struct keelson_status_writer;

/* Validate the options and open (or create) the cache. Contacts nothing. */
int keelson_status_writer_new(struct keelson_status_writer **out,
			      const struct keelson_status_writer_options *opts);

void keelson_status_writer_free(struct keelson_status_writer *w); /* accepts NULL */

/* Record the status of one system. Marks it for the next commit only when
 * something other than the observation time changed. KEELSON_EINVALID for
 * a bad cluster or system name (not a DNS label) or struct version. */
int keelson_status_writer_update(struct keelson_status_writer *w, const char *cluster,
				 const char *system, const struct keelson_system_status *status);

/* Write to `branch` from now on (NULL or "": keelson/status), e.g. the
 * repository's spec.statusBranch once a revision is loaded. Every system
 * recorded so far is written to the new branch at the next flush (its
 * history continues the file found there). 0 also when unchanged;
 * KEELSON_EINVALID for a name that is not a valid branch (the writer keeps
 * its branch). The caller checks that it is not the branch keelson reads. */
int keelson_status_writer_set_branch(struct keelson_status_writer *w, const char *branch);

/* The branch written to (borrowed). */
const char *keelson_status_writer_branch(const struct keelson_status_writer *w);

struct keelson_status_flush_report {
	bool committed;         /* a commit was pushed */
	bool deferred;          /* changes wait for the interval to pass */
	char commit[41];        /* the commit pushed */
	unsigned attempts;      /* push attempts made */
	size_t files_written;
	size_t forge_posted, forge_failed;
};

/* Commit and push pending changes if the interval since the last commit has
 * passed; otherwise report them deferred. `out` may be NULL. Errors
 * (KEELSON_EUNAVAILABLE, KEELSON_EINVALID for refused credentials,
 * KEELSON_ECONFLICT when every attempt was refused) leave the changes
 * pending for the next flush. Never blocks on the forge beyond its timeout. */
int keelson_status_writer_flush(struct keelson_status_writer *w,
				struct keelson_status_flush_report *out);

/* Same, ignoring the interval (shutdown, `keelson sync --once`). */
int keelson_status_writer_flush_now(struct keelson_status_writer *w,
				    struct keelson_status_flush_report *out);

/* Milliseconds until a deferred flush may commit (0: now, or nothing pending
 * returns -1). */
long long keelson_status_writer_next_flush_ms(const struct keelson_status_writer *w);

/* Read every status file of `branch` of the repository at `url` into a
 * JSON array (sorted by cluster, then system). The branch is fetched into a
 * fresh temporary bare repository under `tmp_root` (NULL: $TMPDIR or /tmp),
 * removed afterwards; credentials as in the writer options (the other
 * fields are ignored). KEELSON_ENOTFOUND when the branch does not exist. */
int keelson_status_read(cJSON **out, const struct keelson_status_writer_options *opts,
			const char *tmp_root);

#endif
