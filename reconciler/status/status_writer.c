#include "config.h"

#include "status/status_writer.h"

#include "core/error.h"
#include "core/log.h"
#include "core/redact.h"
#include "git/known_hosts.h"
#include "git/network_deadline.h"
#include "git/tls_ca.h"
#include "json/json_canonical.h"
#include "status/forge.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_BRANCH "keelson/status"
#define DEFAULT_INTERVAL_MS 30000ULL
#define DEFAULT_HISTORY 20
#define DEFAULT_ATTEMPTS 5
#define DEFAULT_BACKOFF_MS 200
#define DEFAULT_TIMEOUT_MS 120000
#define MAX_HISTORY 1000
#define MAX_ATTEMPTS 50
#define SECRET_MAX_BYTES 4096
#define MAX_ENTRIES KEELSON_STATUS_MAX_SYSTEMS
#define STATUS_DIR "status"
#define API_VERSION "keelson.dev/v1alpha1"
#define REMOTE_REF "refs/keelson/status/remote"
#define LOCAL_REF "refs/keelson/status/local"

struct entry {
	char *cluster, *system, *path;
	cJSON *state;     /* revision, phase, step, lastError, drift: what makes a change */
	cJSON *history;   /* array of transitions, oldest first */
	int64_t observed_ms;
	bool dirty;
	/* The history read from the branch was merged in (first write after
	 * start-up continues the file's history instead of replacing it). */
	bool seeded;
	/* Forge: the state to post for `forge_sha`, and what was posted. */
	bool forge_pending;
	char forge_sha[41];
	char forge_state[16];
	char *forge_desc;
	char posted_sha[41];
	char posted_state[16];
	/* Per-attempt scratch. */
	cJSON *attempt_history;
	bool attempt_written;
};

struct keelson_status_writer {
	char *url, *display_url, *cache_dir, *branch, *remote_ref_name;
	char *author_name, *author_email, *instance;
	unsigned long long interval_ms;
	unsigned history_max, push_attempts, backoff_initial_ms, timeout_ms, max_systems;
	struct keelson_network_deadline deadline; /* armed during a fetch or push */
	char *username_file, *username_env, *token_file, *token_env;
	char *ssh_key_file, *ssh_username, *known_hosts_file, *ca_file;
	bool tls_failed;
	bool insecure_skip_host_key_check;
	struct keelson_forge *forge;
	int64_t (*clock)(void *payload);
	void *clock_payload;

	git_repository *repo;
	struct entry *entries;
	size_t count, cap;
	bool have_committed;
	int64_t last_commit_ms;
	unsigned jitter_seed;

	/* Callback state for one remote operation. */
	unsigned credential_attempts;
	bool auth_failed;
	bool push_rejected;
	char callback_error[1024];
};

/* ---- small helpers ---------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static const char *git_message(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

static int set_redacted(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_redacted(int code, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char *clean = keelson_redact_text(buf);
	keelson_error_set(code, "%s", clean ? clean : "(message withheld: out of memory)");
	free(clean);
	return code;
}

static const char *const phase_names[] = {"Synced", "Progressing", "Blocked", "Degraded", "Failed"};

const char *keelson_status_phase_name(enum keelson_status_phase phase)
{
	if ((unsigned)phase < sizeof(phase_names) / sizeof(phase_names[0]))
		return phase_names[phase];
	return "Unknown";
}

int keelson_status_phase_parse(enum keelson_status_phase *out, const char *name)
{
	for (unsigned i = 0; name && i < sizeof(phase_names) / sizeof(phase_names[0]); i++)
		if (strcmp(name, phase_names[i]) == 0) {
			*out = (enum keelson_status_phase)i;
			return 0;
		}
	return keelson_error_set(KEELSON_EINVALID,
		"\"%s\" is not a status phase (Synced, Progressing, Blocked, Degraded, Failed)",
		name ? name : "");
}

static bool is_dns_label(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

static bool is_hex40(const char *s)
{
	if (!s || strlen(s) != 40)
		return false;
	for (int i = 0; i < 40; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int64_t real_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(const struct keelson_status_writer *w)
{
	return w->clock ? w->clock(w->clock_payload) : real_clock_ms();
}

/* RFC 3339 UTC with milliseconds: fixed width, so it also sorts as text. */
static void format_time(char out[32], int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char base[24];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

/* -1 when not in the format written by format_time (seconds-only accepted). */
static int64_t parse_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int ms = 0;
	if (!s)
		return -1;
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -1;
	if (*rest == '.') {
		int digits = 0;
		for (rest++; isdigit((unsigned char)*rest); rest++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*rest - '0');
		for (; digits < 3; digits++)
			ms *= 10;
	}
	if (strcmp(rest, "Z") != 0)
		return -1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

/* A copy of s cut to KEELSON_STATUS_MAX_TEXT bytes on a UTF-8 boundary and
 * redacted: an error message may quote a URL with credentials. */
static char *clean_text(const char *s)
{
	char *r = keelson_redact_text(s);
	if (!r)
		return NULL;
	size_t n = strlen(r);
	if (n > KEELSON_STATUS_MAX_TEXT) {
		n = KEELSON_STATUS_MAX_TEXT;
		while (n > 0 && ((unsigned char)r[n] & 0xC0) == 0x80)
			n--;
		r[n] = '\0';
	}
	return r;
}

static bool add_text_or_null(cJSON *obj, const char *key, const char *value)
{
	if (!value)
		return cJSON_AddNullToObject(obj, key) != NULL;
	char *c = clean_text(value);
	bool ok = c && cJSON_AddStringToObject(obj, key, c) != NULL;
	free(c);
	return ok;
}

/* ---- options and lifetime -------------------------------------------- */

void keelson_status_writer_free(struct keelson_status_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->count; i++) {
		struct entry *e = &w->entries[i];
		free(e->cluster);
		free(e->system);
		free(e->path);
		free(e->forge_desc);
		cJSON_Delete(e->state);
		cJSON_Delete(e->history);
		cJSON_Delete(e->attempt_history);
	}
	free(w->entries);
	if (w->repo) {
		git_repository_free(w->repo);
		git_libgit2_shutdown();
	}
	free(w->url);
	free(w->display_url);
	free(w->cache_dir);
	free(w->branch);
	free(w->remote_ref_name);
	free(w->author_name);
	free(w->author_email);
	free(w->instance);
	free(w->username_file);
	free(w->username_env);
	free(w->token_file);
	free(w->token_env);
	free(w->ssh_key_file);
	free(w->ssh_username);
	free(w->known_hosts_file);
	free(w->ca_file);
	free(w);
}

static int check_branch_name(const char *branch, char **out_ref)
{
	char name[1024];
	snprintf(name, sizeof(name), "refs/heads/%s", branch);
	int valid = 0;
	if (strncmp(branch, "refs/", 5) == 0 || git_reference_name_is_valid(&valid, name) < 0 || !valid)
		return keelson_error_set(KEELSON_EINVALID,
			"status branch \"%s\" is not a valid branch name; give a short name such as "
			"keelson/status", branch);
	*out_ref = strdup(name);
	return *out_ref ? 0 : keelson_error_set(KEELSON_ENOMEM, "out of memory");
}

/* Fill the fields shared by the writer and keelson_status_read(). */
static int init_common(struct keelson_status_writer *w, const struct keelson_status_writer_options *opts)
{
	if (!opts || opts->version != KEELSON_STATUS_WRITER_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID,
			"status writer options version %u is not supported (expected %d)",
			opts ? opts->version : 0, KEELSON_STATUS_WRITER_OPTIONS_VERSION);
	if (!opts->url || !*opts->url)
		return keelson_error_set(KEELSON_EINVALID, "status: no repository URL given");
	w->url = strdup(opts->url);
	w->display_url = keelson_redact_text(opts->url);
	w->branch = strdup(opts->branch && *opts->branch ? opts->branch : DEFAULT_BRANCH);
	w->username_file = dup_or_null(opts->username_file);
	w->username_env = dup_or_null(opts->username_env);
	w->token_file = dup_or_null(opts->token_file);
	w->token_env = dup_or_null(opts->token_env);
	w->ssh_key_file = dup_or_null(opts->ssh_key_file);
	w->ssh_username = dup_or_null(opts->ssh_username);
	w->known_hosts_file = dup_or_null(opts->known_hosts_file);
	w->ca_file = dup_or_null(opts->ca_file);
	w->insecure_skip_host_key_check = opts->insecure_skip_host_key_check;
	w->timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	if (!w->url || !w->display_url || !w->branch)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	/* A password in the URL would end up in the cache's config and logs. */
	const char *p = strstr(w->url, "://");
	if (p) {
		const char *at = strchr(p + 3, '@'), *slash = strchr(p + 3, '/');
		const char *colon = strchr(p + 3, ':');
		if (at && (!slash || at < slash) && colon && colon < at)
			return set_redacted(KEELSON_EINVALID,
				"status: the URL %s carries a password; put the token in token_file "
				"or token_env instead", w->display_url);
	}
	return check_branch_name(w->branch, &w->remote_ref_name);
}

int keelson_status_writer_new(struct keelson_status_writer **out,
			      const struct keelson_status_writer_options *opts)
{
	*out = NULL;
	git_libgit2_init();
	struct keelson_status_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		git_libgit2_shutdown();
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	int rc = init_common(w, opts);
	if (rc < 0)
		goto cleanup;
	if (!opts->cache_dir || !*opts->cache_dir) {
		rc = keelson_error_set(KEELSON_EINVALID, "status writer: no cache directory given");
		goto cleanup;
	}
	if (opts->read_branch && strcmp(opts->read_branch, w->branch) == 0) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"status branch \"%s\" is the branch keelson reads its configuration from; "
			"keelson never writes to that branch: set status.branch of keelson's configuration "
			"(or spec.statusBranch of the repository) to another branch (default keelson/status)", w->branch);
		goto cleanup;
	}
	char host[256] = "keelson";
	if (!opts->instance)
		gethostname(host, sizeof(host) - 1);
	w->cache_dir = strdup(opts->cache_dir);
	w->author_name = strdup(opts->author_name ? opts->author_name : "keelson");
	w->author_email = strdup(opts->author_email ? opts->author_email : "keelson@localhost");
	w->instance = strdup(opts->instance ? opts->instance : host);
	w->interval_ms = opts->interval_ms ? opts->interval_ms : DEFAULT_INTERVAL_MS;
	w->history_max = opts->history_max ? opts->history_max : DEFAULT_HISTORY;
	w->push_attempts = opts->push_attempts ? opts->push_attempts : DEFAULT_ATTEMPTS;
	w->backoff_initial_ms = opts->backoff_initial_ms ? opts->backoff_initial_ms : DEFAULT_BACKOFF_MS;
	w->timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	w->max_systems = opts->max_systems && opts->max_systems < MAX_ENTRIES ? opts->max_systems : MAX_ENTRIES;
	w->forge = opts->forge;
	w->clock = opts->clock;
	w->clock_payload = opts->clock_payload;
	w->jitter_seed = (unsigned)getpid() ^ (unsigned)real_clock_ms();
	if (!w->cache_dir || !w->author_name || !w->author_email || !w->instance) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (w->history_max > MAX_HISTORY || w->push_attempts > MAX_ATTEMPTS) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"status writer: history_max is at most %d and push_attempts at most %d",
			MAX_HISTORY, MAX_ATTEMPTS);
		goto cleanup;
	}
	bool created = false;
	if (git_repository_open_ext(&w->repo, w->cache_dir, GIT_REPOSITORY_OPEN_NO_SEARCH |
				    GIT_REPOSITORY_OPEN_BARE, NULL) < 0) {
		w->repo = NULL;
		if (git_repository_init(&w->repo, w->cache_dir, 1) < 0) {
			rc = keelson_error_set(KEELSON_ERROR,
				"status writer: cannot open or create the bare repository %s: %s; give "
				"keelson a directory of its own", w->cache_dir, git_message());
			w->repo = NULL;
			goto cleanup;
		}
		created = true;
		/* Only keelson's user may read its caches (docs/security.md);
		 * libgit2 creates the directory with the umask's mode. */
		if (chmod(w->cache_dir, 0700) != 0) {
			rc = keelson_error_set(KEELSON_ERROR, "status writer: cannot make %s private: %s",
					       w->cache_dir, strerror(errno));
			goto cleanup;
		}
	}
	if (!git_repository_is_bare(w->repo)) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"status writer: %s is a non-bare repository; give keelson a directory of its own",
			w->cache_dir);
		goto cleanup;
	}
	/* The same mark as the Git source's cache (keelson.url, redacted), so
	 * the two may share a cache and neither takes another URL's. */
	git_config *cfg = NULL;
	git_buf stored = GIT_BUF_INIT;
	if (git_repository_config(&cfg, w->repo) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "status writer: reading the config of %s: %s",
				       w->cache_dir, git_message());
	} else if (created) {
		if (git_config_set_string(cfg, "keelson.url", w->display_url) < 0)
			rc = keelson_error_set(KEELSON_ERROR, "status writer: writing the config of %s: %s",
					       w->cache_dir, git_message());
	} else if (git_config_get_string_buf(&stored, cfg, "keelson.url") < 0) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"status writer: %s is a Git repository keelson did not create; give keelson "
			"a directory of its own", w->cache_dir);
	} else if (strcmp(stored.ptr, w->display_url) != 0) {
		rc = set_redacted(KEELSON_ECONFLICT,
			"status writer: cache directory %s belongs to %s, not %s; use one cache "
			"directory per repository", w->cache_dir, stored.ptr, w->display_url);
	}
	git_buf_dispose(&stored);
	git_config_free(cfg);
cleanup:
	if (rc < 0) {
		if (!w->repo)
			git_libgit2_shutdown();
		keelson_status_writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int keelson_status_writer_set_branch(struct keelson_status_writer *w, const char *branch)
{
	if (branch == NULL || *branch == '\0')
		branch = DEFAULT_BRANCH;
	if (strcmp(branch, w->branch) == 0)
		return 0;
	char *ref = NULL;
	int rc = check_branch_name(branch, &ref);
	if (rc < 0)
		return rc;
	char *copy = strdup(branch);
	if (copy == NULL) {
		free(ref);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	free(w->branch);
	free(w->remote_ref_name);
	w->branch = copy;
	w->remote_ref_name = ref;
	/* The new branch has none of our files yet: write them all, and let
	 * the first commit there go out without waiting for the interval. */
	w->have_committed = false;
	for (size_t i = 0; i < w->count; i++) {
		w->entries[i].dirty = true;
		w->entries[i].seeded = false;
	}
	return 0;
}

const char *keelson_status_writer_branch(const struct keelson_status_writer *w)
{
	return w->branch;
}

/* ---- updates --------------------------------------------------------- */

static struct entry *find_entry(struct keelson_status_writer *w, const char *cluster, const char *system)
{
	for (size_t i = 0; i < w->count; i++)
		if (strcmp(w->entries[i].cluster, cluster) == 0 && strcmp(w->entries[i].system, system) == 0)
			return &w->entries[i];
	return NULL;
}

static cJSON *build_state(const struct keelson_system_status *st)
{
	cJSON *s = cJSON_CreateObject();
	cJSON *drift = cJSON_CreateObject();
	cJSON *objects = cJSON_CreateArray();
	if (!s || !drift || !objects)
		goto fail;
	if (!add_text_or_null(s, "revision", st->revision) ||
	    !cJSON_AddStringToObject(s, "phase", keelson_status_phase_name(st->phase)) ||
	    !add_text_or_null(s, "step", st->step) || !add_text_or_null(s, "lastError", st->last_error))
		goto fail;
	size_t listed = st->drift_count < KEELSON_STATUS_MAX_DRIFT_LISTED ? st->drift_count
									  : KEELSON_STATUS_MAX_DRIFT_LISTED;
	for (size_t i = 0; i < listed; i++) {
		char *c = st->drift && st->drift[i] ? clean_text(st->drift[i]) : NULL;
		cJSON *item = c ? cJSON_CreateString(c) : NULL;
		free(c);
		if (!item)
			goto fail;
		cJSON_AddItemToArray(objects, item);
	}
	if (!cJSON_AddNumberToObject(drift, "count", (double)st->drifted_objects))
		goto fail;
	cJSON_AddItemToObject(drift, "objects", objects);
	objects = NULL;
	cJSON_AddItemToObject(s, "drift", drift);
	return s;
fail:
	cJSON_Delete(objects);
	cJSON_Delete(drift);
	cJSON_Delete(s);
	return NULL;
}

static bool field_equal(const cJSON *a, const cJSON *b, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, key);
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, key);
	if (!x || !y)
		return x == y;
	return keelson_json_equal(x, y);
}

/* A transition is a change of what a person follows in the history: the
 * revision, the phase, the step or the error (not the drift count). */
static bool is_transition(const cJSON *old_state, const cJSON *new_state)
{
	return !old_state || !field_equal(old_state, new_state, "revision") ||
	       !field_equal(old_state, new_state, "phase") || !field_equal(old_state, new_state, "step") ||
	       !field_equal(old_state, new_state, "lastError");
}

static void trim_history(cJSON *history, unsigned max)
{
	while (cJSON_GetArraySize(history) > (int)max)
		cJSON_DeleteItemFromArray(history, 0);
}

static int append_transition(cJSON *history, const cJSON *state, int64_t at_ms, unsigned max)
{
	char at[32];
	format_time(at, at_ms);
	cJSON *h = cJSON_CreateObject();
	if (!h || !cJSON_AddStringToObject(h, "at", at)) {
		cJSON_Delete(h);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	static const char *const keys[] = {"revision", "phase", "step", "lastError"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(state, keys[i]);
		cJSON *copy = v ? cJSON_Duplicate(v, 1) : NULL;
		if (!copy) {
			cJSON_Delete(h);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
		cJSON_AddItemToObject(h, keys[i], copy);
	}
	cJSON_AddItemToArray(history, h);
	trim_history(history, max);
	return 0;
}

static const char *forge_state_for(enum keelson_status_phase phase)
{
	switch (phase) {
	case KEELSON_PHASE_SYNCED: return "success";
	case KEELSON_PHASE_PROGRESSING: return "pending";
	case KEELSON_PHASE_BLOCKED: return "failure";
	case KEELSON_PHASE_DEGRADED: return "failure";
	case KEELSON_PHASE_FAILED: return "error";
	}
	return "error";
}

static void queue_forge(struct entry *e, const struct keelson_system_status *st)
{
	if (!is_hex40(st->revision))
		return;
	const char *state = forge_state_for(st->phase);
	char desc[512];
	const char *detail = st->phase == KEELSON_PHASE_SYNCED ? NULL
			     : st->last_error ? st->last_error : st->step;
	snprintf(desc, sizeof(desc), "%s%s%s", keelson_status_phase_name(st->phase),
		 detail ? ": " : "", detail ? detail : "");
	char *clean = clean_text(desc);
	if (!clean)
		return;
	if (strcmp(e->posted_sha, st->revision) == 0 && strcmp(e->posted_state, state) == 0 &&
	    !e->forge_pending) {
		free(clean);
		return;
	}
	free(e->forge_desc);
	e->forge_desc = clean;
	snprintf(e->forge_sha, sizeof(e->forge_sha), "%s", st->revision);
	snprintf(e->forge_state, sizeof(e->forge_state), "%s", state);
	e->forge_pending = true;
}

int keelson_status_writer_update(struct keelson_status_writer *w, const char *cluster,
				 const char *system, const struct keelson_system_status *st)
{
	if (!st || st->version != KEELSON_SYSTEM_STATUS_VERSION)
		return keelson_error_set(KEELSON_EINVALID,
			"system status version %u is not supported (expected %d)",
			st ? st->version : 0, KEELSON_SYSTEM_STATUS_VERSION);
	if (!is_dns_label(cluster) || !is_dns_label(system))
		return keelson_error_set(KEELSON_EINVALID,
			"status: cluster \"%s\" / system \"%s\": names must be DNS labels",
			cluster ? cluster : "", system ? system : "");
	if ((unsigned)st->phase > KEELSON_PHASE_FAILED)
		return keelson_error_set(KEELSON_EINVALID, "status %s/%s: unknown phase %d", cluster,
					 system, (int)st->phase);
	if (st->revision && !is_hex40(st->revision))
		return keelson_error_set(KEELSON_EINVALID,
			"status %s/%s: revision \"%s\" is not a 40-hex commit id", cluster, system,
			st->revision);
	cJSON *state = build_state(st);
	if (!state)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	struct entry *e = find_entry(w, cluster, system);
	if (!e) {
		if (w->count >= w->max_systems) {
			cJSON_Delete(state);
			return keelson_error_set(KEELSON_ELIMIT,
				"status %s/%s: not recorded, keelson already records the status of %u systems (the "
				"limit); the systems recorded before keep their status", cluster, system, w->max_systems);
		}
		if (w->count == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 16;
			struct entry *n = realloc(w->entries, cap * sizeof(*n));
			if (!n) {
				cJSON_Delete(state);
				return keelson_error_set(KEELSON_ENOMEM, "out of memory");
			}
			w->entries = n;
			w->cap = cap;
		}
		e = &w->entries[w->count];
		memset(e, 0, sizeof(*e));
		e->cluster = strdup(cluster);
		e->system = strdup(system);
		size_t len = strlen(STATUS_DIR) + strlen(cluster) + strlen(system) + 8;
		e->path = malloc(len);
		e->history = cJSON_CreateArray();
		if (!e->cluster || !e->system || !e->path || !e->history) {
			free(e->cluster);
			free(e->system);
			free(e->path);
			cJSON_Delete(e->history);
			cJSON_Delete(state);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
		snprintf(e->path, len, STATUS_DIR "/%s/%s.json", cluster, system);
		w->count++;
	}
	if (w->forge)
		queue_forge(e, st);
	if (e->state && keelson_json_equal(e->state, state)) {
		cJSON_Delete(state);
		return 0;
	}
	int64_t at = st->observed_at_ms > 0 ? st->observed_at_ms : now_ms(w);
	if (is_transition(e->state, state)) {
		int rc = append_transition(e->history, state, at, w->history_max);
		if (rc < 0) {
			cJSON_Delete(state);
			return rc;
		}
	}
	cJSON_Delete(e->state);
	e->state = state;
	e->observed_ms = at;
	e->dirty = true;
	return 0;
}

long long keelson_status_writer_next_flush_ms(const struct keelson_status_writer *w)
{
	bool pending = false;
	for (size_t i = 0; i < w->count && !pending; i++)
		pending = w->entries[i].dirty || w->entries[i].forge_pending;
	if (!pending)
		return -1;
	if (!w->have_committed)
		return 0;
	int64_t due = w->last_commit_ms + (int64_t)w->interval_ms - now_ms(w);
	return due > 0 ? (long long)due : 0;
}

/* ---- remote operations ----------------------------------------------- */

static int transfer_progress_cb(const git_indexer_progress *stats, void *payload)
{
	const struct keelson_status_writer *w = payload;
	(void)stats;
	if (keelson_network_deadline_passed(&w->deadline)) {
		git_error_set_str(GIT_ERROR_NET, "timed out");
		return GIT_EUSER;
	}
	return 0;
}

static int read_setting(char **out, const char *file, const char *env, const char *what)
{
	*out = NULL;
	if (file) {
		FILE *f = fopen(file, "r");
		if (!f)
			return keelson_error_set(KEELSON_EINVALID, "cannot read the %s file %s: %s",
						 what, file, strerror(errno));
		char *buf = calloc(1, SECRET_MAX_BYTES + 2);
		if (!buf) {
			fclose(f);
			return KEELSON_ENOMEM;
		}
		size_t n = fread(buf, 1, SECRET_MAX_BYTES + 1, f);
		fclose(f);
		if (n > SECRET_MAX_BYTES) {
			explicit_bzero(buf, SECRET_MAX_BYTES + 2);
			free(buf);
			return keelson_error_set(KEELSON_ELIMIT, "the %s file %s is over %d bytes",
						 what, file, SECRET_MAX_BYTES);
		}
		buf[strcspn(buf, "\r\n")] = '\0';
		*out = buf;
		return 0;
	}
	if (env) {
		const char *v = getenv(env);
		if (!v)
			return keelson_error_set(KEELSON_EINVALID,
				"the environment variable %s (the %s) is not set", env, what);
		*out = strdup(v);
		return *out ? 0 : KEELSON_ENOMEM;
	}
	return 0;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* Same policy as the Git source (reconciler/git/README.md): one attempt,
 * secrets read when asked and wiped after use. */
static int credentials_cb(git_credential **out, const char *url, const char *username_from_url,
			  unsigned int allowed_types, void *payload)
{
	struct keelson_status_writer *w = payload;
	(void)url;
	if (allowed_types & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, w->ssh_username ? w->ssh_username : "git");
	if (++w->credential_attempts > 1) {
		w->auth_failed = true;
		snprintf(w->callback_error, sizeof(w->callback_error),
			 "the server rejected the configured credentials");
		git_error_set_str(GIT_ERROR_NET, w->callback_error);
		return GIT_EAUTH;
	}
	if ((allowed_types & GIT_CREDENTIAL_SSH_KEY) && w->ssh_key_file) {
		const char *user = username_from_url ? username_from_url
				   : w->ssh_username ? w->ssh_username : "git";
		return git_credential_ssh_key_new(out, user, NULL, w->ssh_key_file, NULL);
	}
	if (allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		char *user = NULL, *token = NULL;
		int rc = w->username_file || (w->username_env && getenv(w->username_env))
			 ? read_setting(&user, w->username_file, w->username_env, "username") : 0;
		if (rc == 0)
			rc = read_setting(&token, w->token_file, w->token_env, "token");
		if (rc == 0 && token) {
			const char *name = user ? user : username_from_url ? username_from_url
									   : "x-access-token";
			rc = git_credential_userpass_plaintext_new(out, name, token);
			free_secret(user);
			free_secret(token);
			return rc;
		}
		snprintf(w->callback_error, sizeof(w->callback_error), "%s",
			 rc != 0 ? keelson_error_last()->message
				 : "the server requires authentication and no token is configured "
				   "(token_file or token_env)");
		free_secret(user);
		free_secret(token);
	} else {
		snprintf(w->callback_error, sizeof(w->callback_error),
			 "the server asks for an authentication method that is not configured");
	}
	w->auth_failed = true;
	git_error_set_str(GIT_ERROR_NET, w->callback_error);
	return GIT_EAUTH;
}

static int ssh_port_of(const char *url)
{
	if (strncmp(url, "ssh://", 6) != 0)
		return 22;
	const char *host = url + 6;
	const char *at = strchr(host, '@'), *slash = strchr(host, '/');
	if (at && (!slash || at < slash))
		host = at + 1;
	const char *colon = strchr(host, ':');
	if (colon && (!slash || colon < slash))
		return atoi(colon + 1);
	return 22;
}

static int certificate_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	struct keelson_status_writer *w = payload;
	if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2) {
		if (w->insecure_skip_host_key_check)
			return 0;
		const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
		char fallback[1024];
		const char *file = w->known_hosts_file;
		if (!file) {
			const char *home = getenv("HOME");
			snprintf(fallback, sizeof(fallback), "%s/.ssh/known_hosts", home ? home : "");
			file = fallback;
		}
		if ((hk->type & GIT_CERT_SSH_RAW) &&
		    keelson_git_known_hosts_check(file, host, ssh_port_of(w->url),
						  (const unsigned char *)hk->hostkey, hk->hostkey_len) == 0)
			return 0;
		snprintf(w->callback_error, sizeof(w->callback_error), "SSH host key of %s: %s", host,
			 keelson_error_last()->message);
		git_error_set_str(GIT_ERROR_SSH, w->callback_error);
		return GIT_ECERTIFICATE;
	}
	if (valid)
		return 0;
	if (cert->cert_type == GIT_CERT_X509 && w->ca_file != NULL &&
	    keelson_git_cert_trusted_by_ca_file((const git_cert_x509 *)cert, host, w->ca_file))
		return 0;
	w->tls_failed = true;
	snprintf(w->callback_error, sizeof(w->callback_error),
		 "the TLS certificate of %s is not trusted by the system store%s%s", host,
		 w->ca_file ? " or by " : "; set git.caFile to the CA that signed it", w->ca_file ? w->ca_file : "");
	git_error_set_str(GIT_ERROR_SSL, w->callback_error);
	return GIT_ECERTIFICATE;
}

static int push_update_cb(const char *refname, const char *status, void *payload)
{
	struct keelson_status_writer *w = payload;
	if (status) {
		w->push_rejected = true;
		snprintf(w->callback_error, sizeof(w->callback_error), "the server refused %s: %s",
			 refname, status);
	}
	return 0;
}

static void init_callbacks(git_remote_callbacks *cb, struct keelson_status_writer *w)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = credentials_cb;
	cb->certificate_check = certificate_cb;
	cb->push_update_reference = push_update_cb;
	cb->transfer_progress = transfer_progress_cb;
	cb->payload = w;
	w->credential_attempts = 0;
	w->auth_failed = w->push_rejected = w->tls_failed = false;
	w->callback_error[0] = '\0';
}

static int remote_failure(struct keelson_status_writer *w, const char *doing, int grc)
{
	if (keelson_network_deadline_passed(&w->deadline))
		return set_redacted(KEELSON_ETIMEOUT,
			"status: %s %s (branch %s): no complete answer within %u ms (%s); check that "
			"the server is healthy; status stays pending and is retried", doing,
			w->display_url, w->branch, w->timeout_ms, git_message());
	if (w->tls_failed)
		return set_redacted(KEELSON_EINVALID, "status: %s %s (branch %s): %s; status stays pending", doing,
				    w->display_url, w->branch, w->callback_error);
	if (w->auth_failed || grc == GIT_EAUTH || grc == GIT_ECERTIFICATE)
		return set_redacted(KEELSON_EINVALID,
			"status: %s %s (branch %s): %s; check the configured credentials "
			"(token_file/token_env, ssh_key_file, known_hosts_file); status stays pending",
			doing, w->display_url, w->branch,
			w->callback_error[0] ? w->callback_error : git_message());
	return set_redacted(KEELSON_EUNAVAILABLE,
		"status: %s %s (branch %s) failed: %s; check that the server is reachable; "
		"status stays pending and is retried", doing, w->display_url, w->branch, git_message());
}

static int open_remote(git_remote **out, struct keelson_status_writer *w, git_direction dir,
		       git_remote_callbacks *cb)
{
	git_remote_create_options ro;
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = w->repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	init_callbacks(cb, w);
	if (git_remote_create_with_opts(out, w->url, &ro) < 0)
		return set_redacted(KEELSON_EINVALID, "status: %s: %s", w->display_url, git_message());
	int grc = git_remote_connect(*out, dir, cb, NULL, NULL);
	if (grc < 0)
		return remote_failure(w, "connecting to", grc);
	return 0;
}

/* Bring the remote status branch into REMOTE_REF. *out_found is false when
 * the branch does not exist yet (REMOTE_REF is then removed). */
static int fetch_status_branch_timed(struct keelson_status_writer *w, bool *out_found, git_oid *out_tip)
{
	git_remote *remote = NULL;
	git_remote_callbacks cb;
	*out_found = false;
	int rc = open_remote(&remote, w, GIT_DIRECTION_FETCH, &cb);
	if (rc < 0)
		goto cleanup;
	const git_remote_head **heads = NULL;
	size_t n = 0;
	if (git_remote_ls(&heads, &n, remote) < 0) {
		rc = remote_failure(w, "listing refs of", GIT_ERROR);
		goto cleanup;
	}
	const git_oid *advertised = NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(heads[i]->name, w->remote_ref_name) == 0)
			advertised = &heads[i]->oid;
	if (!advertised) {
		git_reference *ref = NULL;
		if (git_reference_lookup(&ref, w->repo, REMOTE_REF) == 0) {
			git_reference_delete(ref);
			git_reference_free(ref);
		}
		goto cleanup;
	}
	git_oid tip = *advertised;
	git_object *obj = NULL;
	if (git_object_lookup(&obj, w->repo, &tip, GIT_OBJECT_COMMIT) == 0) {
		/* Already here (usually our own last push): no pack to fetch. */
		git_object_free(obj);
	} else {
		char spec[1200];
		snprintf(spec, sizeof(spec), "+%s:%s", w->remote_ref_name, REMOTE_REF);
		char *specs[] = {spec};
		git_strarray arr = {specs, 1};
		git_fetch_options fo;
		git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
		fo.callbacks = cb;
		fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
		fo.update_fetchhead = 0;
		int grc = git_remote_download(remote, &arr, &fo);
		if (grc < 0) {
			rc = remote_failure(w, "fetching the status branch from", grc);
			goto cleanup;
		}
	}
	git_reference *ref = NULL;
	if (git_reference_create(&ref, w->repo, REMOTE_REF, &tip, 1, "keelson: status fetch") < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "status: updating %s in %s: %s", REMOTE_REF,
				       w->cache_dir, git_message());
		goto cleanup;
	}
	git_reference_free(ref);
	*out_found = true;
	*out_tip = tip;
cleanup:
	if (remote)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	return rc;
}

/* Push LOCAL_REF to the status branch without force. *out_rejected when the
 * server (or libgit2's own check) refused a non-fast-forward. */
static int push_status_timed(struct keelson_status_writer *w, bool *out_rejected)
{
	git_remote *remote = NULL;
	git_remote_callbacks cb;
	*out_rejected = false;
	int rc = open_remote(&remote, w, GIT_DIRECTION_PUSH, &cb);
	if (rc < 0)
		goto cleanup;
	char spec[1200];
	snprintf(spec, sizeof(spec), "%s:%s", LOCAL_REF, w->remote_ref_name);
	char *specs[] = {spec};
	git_strarray arr = {specs, 1};
	git_push_options po;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks = cb;
	int grc = git_remote_push(remote, &arr, &po);
	if (grc == GIT_ENONFASTFORWARD || (grc == 0 && w->push_rejected) ||
	    (grc < 0 && w->push_rejected)) {
		*out_rejected = true;
		goto cleanup;
	}
	if (grc < 0)
		rc = remote_failure(w, "pushing to", grc);
cleanup:
	if (remote)
		git_remote_disconnect(remote);
	git_remote_free(remote);
	return rc;
}

static int fetch_status_branch(struct keelson_status_writer *w, bool *out_found, git_oid *out_tip)
{
	*out_found = false;
	int rc = keelson_network_deadline_start(&w->deadline, w->timeout_ms, "status fetch");
	if (rc < 0)
		return rc;
	rc = fetch_status_branch_timed(w, out_found, out_tip);
	keelson_network_deadline_stop(&w->deadline);
	return rc;
}

static int push_status(struct keelson_status_writer *w, bool *out_rejected)
{
	*out_rejected = false;
	int rc = keelson_network_deadline_start(&w->deadline, w->timeout_ms, "status push");
	if (rc < 0)
		return rc;
	rc = push_status_timed(w, out_rejected);
	keelson_network_deadline_stop(&w->deadline);
	return rc;
}

/* ---- building a commit ------------------------------------------------ */

/* The JSON document of a status file on the branch, or NULL when absent or
 * unreadable (then it is simply replaced). */
static cJSON *read_branch_file(git_repository *repo, git_tree *tree, const char *path)
{
	git_tree_entry *te = NULL;
	git_blob *blob = NULL;
	cJSON *doc = NULL;
	if (!tree || git_tree_entry_bypath(&te, tree, path) < 0)
		return NULL;
	if (git_tree_entry_type(te) == GIT_OBJECT_BLOB &&
	    git_blob_lookup(&blob, repo, git_tree_entry_id(te)) == 0 &&
	    git_blob_rawsize(blob) <= KEELSON_STATUS_MAX_FILE_BYTES)
		doc = cJSON_ParseWithLength(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	git_tree_entry_free(te);
	if (doc && !cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	return doc;
}

/* The state part of a status document, for comparison with an entry's. */
static bool same_state(const cJSON *doc, const cJSON *state)
{
	static const char *const keys[] = {"revision", "phase", "step", "lastError", "drift"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!field_equal(doc, state, keys[i]))
			return false;
	return true;
}

static char *render(const struct keelson_status_writer *w, const struct entry *e, const cJSON *history)
{
	char observed[32];
	format_time(observed, e->observed_ms);
	cJSON *doc = cJSON_CreateObject();
	char *text = NULL;
	if (!doc || !cJSON_AddStringToObject(doc, "apiVersion", API_VERSION) ||
	    !cJSON_AddStringToObject(doc, "kind", "SystemStatus") ||
	    !cJSON_AddStringToObject(doc, "cluster", e->cluster) ||
	    !cJSON_AddStringToObject(doc, "system", e->system))
		goto cleanup;
	for (const cJSON *f = e->state->child; f; f = f->next) {
		cJSON *copy = cJSON_Duplicate(f, 1);
		if (!copy)
			goto cleanup;
		cJSON_AddItemToObject(doc, f->string, copy);
	}
	cJSON *h = cJSON_Duplicate(history, 1);
	if (!h || !cJSON_AddStringToObject(doc, "observedAt", observed) ||
	    !cJSON_AddStringToObject(doc, "instance", w->instance)) {
		cJSON_Delete(h);
		goto cleanup;
	}
	cJSON_AddItemToObject(doc, "history", h);
	text = cJSON_Print(doc);
cleanup:
	cJSON_Delete(doc);
	return text;
}

static void add_source_commit(char (*seen)[41], size_t *n, size_t max, const cJSON *state)
{
	const cJSON *rev = cJSON_GetObjectItemCaseSensitive(state, "revision");
	if (!cJSON_IsString(rev))
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(seen[i], rev->valuestring) == 0)
			return;
	if (*n < max)
		snprintf(seen[(*n)++], 41, "%s", rev->valuestring);
}

/* Build the commit for the pending entries on top of `tip` (or a root
 * commit). *out_none when the branch already says all of it. */
static int build_commit(struct keelson_status_writer *w, bool have_tip, const git_oid *tip,
			bool *out_none, size_t *out_files)
{
	int rc = 0;
	git_commit *parent = NULL;
	git_tree *base = NULL, *tree = NULL;
	git_signature *sig = NULL;
	git_tree_update *updates = NULL;
	size_t nupdates = 0;
	char *message = NULL;
	size_t msg_cap = 0, msg_len = 0;
	FILE *msg = NULL;
	char seen[16][41];
	size_t nseen = 0;
	*out_none = true;
	*out_files = 0;

	if (have_tip && (git_commit_lookup(&parent, w->repo, tip) < 0 || git_commit_tree(&base, parent) < 0)) {
		rc = keelson_error_set(KEELSON_ERROR, "status: reading the tip of %s: %s", w->branch,
				       git_message());
		goto cleanup;
	}
	updates = calloc(w->count ? w->count : 1, sizeof(*updates));
	msg = open_memstream(&message, &msg_cap);
	if (!updates || !msg) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < w->count; i++) {
		struct entry *e = &w->entries[i];
		cJSON_Delete(e->attempt_history);
		e->attempt_history = NULL;
		e->attempt_written = false;
		if (!e->dirty)
			continue;
		cJSON *remote = read_branch_file(w->repo, base, e->path);
		const cJSON *robs = cJSON_GetObjectItemCaseSensitive(remote, "observedAt");
		int64_t rms = cJSON_IsString(robs) ? parse_time(robs->valuestring) : -1;
		if (remote && rms > e->observed_ms) {
			/* Another instance saw this system later: its word stands. */
			keelson_log(KEELSON_LOG_WARN, "status file on the branch is newer; not overwriting",
				    "path", e->path, "branch", w->branch, NULL);
			cJSON_Delete(remote);
			continue;
		}
		const cJSON *rhist = cJSON_GetObjectItemCaseSensitive(remote, "history");
		if (!e->seeded && remote && same_state(remote, e->state)) {
			/* After a restart: the branch already says this. */
			e->attempt_history = cJSON_IsArray(rhist) ? cJSON_Duplicate(rhist, 1) : cJSON_CreateArray();
			cJSON_Delete(remote);
			if (!e->attempt_history) {
				rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
				goto cleanup;
			}
			continue;
		}
		cJSON *history;
		if (!e->seeded && cJSON_IsArray(rhist)) {
			history = cJSON_Duplicate(rhist, 1);
			for (cJSON *h = e->history ? e->history->child : NULL; history && h; h = h->next) {
				cJSON *c = cJSON_Duplicate(h, 1);
				if (c)
					cJSON_AddItemToArray(history, c);
			}
			if (history)
				trim_history(history, w->history_max);
		} else {
			history = cJSON_Duplicate(e->history, 1);
		}
		cJSON_Delete(remote);
		char *text = history ? render(w, e, history) : NULL;
		if (!text) {
			cJSON_Delete(history);
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto cleanup;
		}
		git_oid blob;
		int grc = git_blob_create_from_buffer(&blob, w->repo, text, strlen(text));
		free(text);
		if (grc < 0) {
			cJSON_Delete(history);
			rc = keelson_error_set(KEELSON_ERROR, "status: writing a blob in %s: %s",
					       w->cache_dir, git_message());
			goto cleanup;
		}
		e->attempt_history = history;
		e->attempt_written = true;
		updates[nupdates].action = GIT_TREE_UPDATE_UPSERT;
		updates[nupdates].id = blob;
		updates[nupdates].filemode = GIT_FILEMODE_BLOB;
		updates[nupdates].path = e->path;
		nupdates++;
		const cJSON *rev = cJSON_GetObjectItemCaseSensitive(e->state, "revision");
		const cJSON *phase = cJSON_GetObjectItemCaseSensitive(e->state, "phase");
		const cJSON *step = cJSON_GetObjectItemCaseSensitive(e->state, "step");
		fprintf(msg, "%s/%s: %s at %.12s%s%s%s\n", e->cluster, e->system,
			cJSON_IsString(phase) ? phase->valuestring : "?",
			cJSON_IsString(rev) ? rev->valuestring : "(no revision)",
			cJSON_IsString(step) ? " (" : "", cJSON_IsString(step) ? step->valuestring : "",
			cJSON_IsString(step) ? ")" : "");
		add_source_commit(seen, &nseen, sizeof(seen) / sizeof(seen[0]), e->state);
	}
	if (nupdates == 0)
		goto cleanup;
	git_oid tree_id;
	if (git_tree_create_updated(&tree_id, w->repo, base, nupdates, updates) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "status: building the tree in %s: %s",
				       w->cache_dir, git_message());
		goto cleanup;
	}
	if (base && git_oid_equal(&tree_id, git_tree_id(base)))
		goto cleanup;
	*out_files = nupdates;
	*out_none = false;
	if (git_tree_lookup(&tree, w->repo, &tree_id) < 0 ||
	    git_signature_now(&sig, w->author_name, w->author_email) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "status: preparing the commit: %s", git_message());
		goto cleanup;
	}
	fflush(msg);
	char *body = strdup(message ? message : "");
	fclose(msg);
	msg = NULL;
	free(message);
	message = NULL;
	if (!body) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	char subject[256];
	if (nupdates == 1)
		snprintf(subject, sizeof(subject), "keelson status: %.*s", (int)strcspn(body, "\n"), body);
	else
		snprintf(subject, sizeof(subject), "keelson status: %zu systems%s%.12s", nupdates,
			 nseen ? " at " : "", nseen ? seen[0] : "");
	msg = open_memstream(&message, &msg_cap);
	if (!msg) {
		free(body);
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	fprintf(msg, "%s\n\n%s\n", subject, body);
	for (size_t i = 0; i < nseen; i++)
		fprintf(msg, "Source-Commit: %s\n", seen[i]);
	fprintf(msg, "Keelson-Instance: %s\n", w->instance);
	free(body);
	fclose(msg);
	msg = NULL;
	(void)msg_len;
	git_oid commit_id;
	const git_commit *parents[1] = {parent};
	if (git_commit_create(&commit_id, w->repo, NULL, sig, sig, NULL, message, tree,
			      parent ? 1 : 0, parents) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "status: creating the commit in %s: %s",
				       w->cache_dir, git_message());
		goto cleanup;
	}
	git_reference *ref = NULL;
	if (git_reference_create(&ref, w->repo, LOCAL_REF, &commit_id, 1, "keelson: status commit") < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "status: updating %s: %s", LOCAL_REF, git_message());
		goto cleanup;
	}
	git_reference_free(ref);
cleanup:
	if (msg)
		fclose(msg);
	free(message);
	free(updates);
	git_signature_free(sig);
	git_tree_free(tree);
	git_tree_free(base);
	git_commit_free(parent);
	return rc;
}

static void settle_entries(struct keelson_status_writer *w)
{
	for (size_t i = 0; i < w->count; i++) {
		struct entry *e = &w->entries[i];
		if (!e->dirty)
			continue;
		if (e->attempt_history) {
			cJSON_Delete(e->history);
			e->history = e->attempt_history;
			e->attempt_history = NULL;
			e->seeded = true;
		}
		e->dirty = false;
	}
}

static void backoff(struct keelson_status_writer *w, unsigned attempt)
{
	unsigned long long ms = (unsigned long long)w->backoff_initial_ms << (attempt < 10 ? attempt : 10);
	/* Jitter, so two instances refused together do not retry together. */
	ms += (unsigned long long)rand_r(&w->jitter_seed) % (ms + 1);
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void post_forge(struct keelson_status_writer *w, struct keelson_status_flush_report *r)
{
	if (!w->forge)
		return;
	for (size_t i = 0; i < w->count; i++) {
		struct entry *e = &w->entries[i];
		if (!e->forge_pending)
			continue;
		char context[160];
		snprintf(context, sizeof(context), "keelson/%s/%s", e->cluster, e->system);
		if (keelson_forge_post_status(w->forge, e->forge_sha, e->forge_state, context,
					      e->forge_desc) < 0) {
			r->forge_failed++;
			keelson_log(KEELSON_LOG_WARN, "commit status not posted; retried next cycle",
				    "context", context, "sha", e->forge_sha, "error",
				    keelson_error_last()->message, NULL);
			continue;
		}
		r->forge_posted++;
		e->forge_pending = false;
		memcpy(e->posted_sha, e->forge_sha, sizeof(e->posted_sha));
		memcpy(e->posted_state, e->forge_state, sizeof(e->posted_state));
	}
}

static int flush(struct keelson_status_writer *w, bool force, struct keelson_status_flush_report *out)
{
	struct keelson_status_flush_report local;
	struct keelson_status_flush_report *r = out ? out : &local;
	memset(r, 0, sizeof(*r));
	post_forge(w, r);
	bool dirty = false;
	for (size_t i = 0; i < w->count && !dirty; i++)
		dirty = w->entries[i].dirty;
	if (!dirty)
		return 0;
	int64_t now = now_ms(w);
	if (!force && w->have_committed && now - w->last_commit_ms < (int64_t)w->interval_ms) {
		r->deferred = true;
		return 0;
	}
	int rc = 0;
	for (unsigned attempt = 0; attempt < w->push_attempts; attempt++) {
		if (attempt > 0)
			backoff(w, attempt - 1);
		r->attempts = attempt + 1;
		bool found = false, none = false, rejected = false;
		git_oid tip;
		size_t files = 0;
		if ((rc = fetch_status_branch(w, &found, &tip)) < 0)
			return rc;
		if ((rc = build_commit(w, found, &tip, &none, &files)) < 0)
			return rc;
		if (none) {
			settle_entries(w);
			return 0;
		}
		if ((rc = push_status(w, &rejected)) < 0)
			return rc;
		if (rejected) {
			keelson_log(KEELSON_LOG_INFO, "status push refused (another writer was first); merging and retrying",
				    "branch", w->branch, "url", w->display_url, NULL);
			continue;
		}
		git_oid pushed;
		git_reference_name_to_id(&pushed, w->repo, LOCAL_REF);
		git_oid_tostr(r->commit, sizeof(r->commit), &pushed);
		r->committed = true;
		r->files_written = files;
		w->have_committed = true;
		w->last_commit_ms = now;
		settle_entries(w);
		keelson_log(KEELSON_LOG_INFO, "status committed", "branch", w->branch, "commit", r->commit,
			    "url", w->display_url, NULL);
		return 0;
	}
	return set_redacted(KEELSON_ECONFLICT,
		"status: %u pushes to %s (branch %s) were refused because other writers kept "
		"moving the branch; status stays pending and is retried at the next flush",
		w->push_attempts, w->display_url, w->branch);
}

int keelson_status_writer_flush(struct keelson_status_writer *w, struct keelson_status_flush_report *out)
{
	return flush(w, false, out);
}

int keelson_status_writer_flush_now(struct keelson_status_writer *w, struct keelson_status_flush_report *out)
{
	return flush(w, true, out);
}

/* ---- reading --------------------------------------------------------- */

static int remove_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int collect_cb(const char *root, const git_tree_entry *te, void *payload)
{
	cJSON *arr = ((void **)payload)[0];
	git_repository *repo = ((void **)payload)[1];
	if (strcmp(root, "") == 0 || git_tree_entry_type(te) != GIT_OBJECT_BLOB)
		return 0;
	size_t n = strlen(git_tree_entry_name(te));
	if (strncmp(root, STATUS_DIR "/", strlen(STATUS_DIR) + 1) != 0 || n < 6 ||
	    strcmp(git_tree_entry_name(te) + n - 5, ".json") != 0)
		return 0;
	git_blob *blob = NULL;
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(te)) < 0)
		return 0;
	cJSON *doc = NULL;
	if (git_blob_rawsize(blob) <= KEELSON_STATUS_MAX_FILE_BYTES)
		doc = cJSON_ParseWithLength(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (doc && cJSON_IsObject(doc) && (unsigned)cJSON_GetArraySize(arr) < MAX_ENTRIES)
		cJSON_AddItemToArray(arr, doc);
	else
		cJSON_Delete(doc);
	return 0;
}

static const char *str_field(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static int doc_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	int c = strcmp(str_field(x, "cluster"), str_field(y, "cluster"));
	return c ? c : strcmp(str_field(x, "system"), str_field(y, "system"));
}

int keelson_status_read(cJSON **out, const struct keelson_status_writer_options *opts, const char *tmp_root)
{
	*out = NULL;
	git_libgit2_init();
	int rc = 0;
	char dir[4096] = "";
	git_tree *tree = NULL;
	git_commit *commit = NULL;
	cJSON *arr = NULL;
	struct keelson_status_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		git_libgit2_shutdown();
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	if ((rc = init_common(w, opts)) < 0)
		goto cleanup;
	const char *tmp = tmp_root ? tmp_root : getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/keelson-status-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		rc = keelson_error_set(KEELSON_ERROR, "status: cannot create a temporary directory %s: %s",
				       dir, strerror(errno));
		dir[0] = '\0';
		goto cleanup;
	}
	w->cache_dir = strdup(dir);
	if (!w->cache_dir) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (git_repository_init(&w->repo, dir, 1) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "status: cannot create a repository in %s: %s", dir,
				       git_message());
		goto cleanup;
	}
	bool found = false;
	git_oid tip;
	if ((rc = fetch_status_branch(w, &found, &tip)) < 0)
		goto cleanup;
	if (!found) {
		rc = set_redacted(KEELSON_ENOTFOUND,
			"status: %s has no branch %s: keelson has not written status there yet, or "
			"it writes to another branch (spec.statusBranch)", w->display_url, w->branch);
		goto cleanup;
	}
	if (git_commit_lookup(&commit, w->repo, &tip) < 0 || git_commit_tree(&tree, commit) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "status: reading the tip of %s: %s", w->branch,
				       git_message());
		goto cleanup;
	}
	arr = cJSON_CreateArray();
	if (!arr) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	void *payload[2] = {arr, w->repo};
	git_tree_walk(tree, GIT_TREEWALK_PRE, collect_cb, payload);
	int n = cJSON_GetArraySize(arr);
	if (n > 1) {
		cJSON **items = malloc((size_t)n * sizeof(*items));
		if (!items) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto cleanup;
		}
		for (int i = n - 1; i >= 0; i--)
			items[i] = cJSON_DetachItemFromArray(arr, i);
		qsort(items, (size_t)n, sizeof(*items), doc_cmp);
		for (int i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, items[i]);
		free(items);
	}
	*out = arr;
	arr = NULL;
cleanup:
	cJSON_Delete(arr);
	git_tree_free(tree);
	git_commit_free(commit);
	if (w->repo) {
		git_repository_free(w->repo);
		w->repo = NULL;
	}
	if (dir[0])
		nftw(dir, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
	keelson_status_writer_free(w);
	git_libgit2_shutdown();
	return rc;
}
