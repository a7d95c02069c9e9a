/*
 * The reconcile cycle. See reconcile.h.
 */
#include "config.h"

#include "alerts/alerts.h"
#include "core/error.h"
#include "core/log.h"
#include "diff/diff.h"
#include "git/git_source.h"
#include "git/git_trigger.h"
#include "http/nudge.h"
#include "kube/kube_cache.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "layout/layout.h"
#include "layout/problems.h"
#include "metrics/daemon_metrics.h"
#include "plugin/executor.h"
#include "plugin/plugin_host.h"
#include "reconcile/events.h"
#include "reconcile/generic_apply.h"
#include "reconcile/inventory.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"
#include "status/status_writer.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SYNC_TIMEOUT_MS 30000

#define CHECK_RC(expr)                       \
	do {                                 \
		int check_rc_ = (expr);      \
		if (check_rc_ < 0)           \
			return check_rc_;    \
	} while (0)
#define MAX_CACHED_TYPES 512

struct cached_type {
	char *api_version, *kind;
	bool cached; /* false: the server does not serve it (yet); objects are read with GET */
};

/* One managed cluster: its client, watch cache and what is cached. */
struct session {
	char *name;
	struct keelson_kube_config *kube_config;
	struct keelson_kube_client *client;
	struct keelson_kube_cache *cache;
	struct cached_type *types;
	size_t type_count;
	struct keelson_apply_context apply_ctx;
	uint64_t generation_seen; /* cache generation at the end of the last converged cycle */

	/* Plugin systems (created at the first one). Pods are not labelled by
	 * keelson (the workload controller makes them), so they live in a
	 * cache of their own, unselected but restricted to the namespace of
	 * the plugin systems' objects when they share one. */
	struct keelson_kube_cache *pod_cache;
	char *pod_namespace;       /* of pod_cache; NULL: all namespaces */
	struct keelson_plugin_kube_env main_env, pod_env;
	struct keelson_plugin_env env; /* Pods from pod_env, the rest from main_env */
	struct keelson_executor_kube_store store;
	struct keelson_executor *exec;
	/* For the executor's apply hook, during one keelson_executor_cycle. */
	const struct keelson_change_set *hook_cs;
	const char *hook_revision; /* the inventory's revision, kept as it is */
	bool hook_applied;
	bool hook_became_blocked; /* the executor reported the system blocked this cycle */
};

/* What one cycle found for one system, for the status branch, metrics and
 * alerts. */
struct system_outcome {
	bool evaluated; /* its status may be updated */
	bool diffed;    /* every object was compared: drift gauges and alerts may be updated */
	enum keelson_status_phase phase;
	char step[512];
	char error[1024];
};

struct alert_mark {
	char *key;
	long at_ms;
};

/* Per system of the revision in force, by flat index (clusters in order,
 * then their systems): the revision its content last changed in, so that
 * a commit that leaves a system's files alone neither re-diffs it nor
 * rewrites its inventory. */
struct system_mark {
	char sha[41];   /* the revision the system's inventory is written for */
	bool converged; /* it converged when last evaluated */
};

/* Bound on remembered alerts; the table is cleared when full (worst case:
 * one early repeat). */
#define MAX_ALERT_MARKS 10000

struct keelson_reconciler {
	const struct keelson_config *cfg;
	const volatile sig_atomic_t *stop;
	struct keelson_git_source *git;
	struct keelson_git_trigger *trigger;
	struct keelson_desired_state *state; /* last good revision */
	char sha[41];                        /* of state */
	struct system_mark *marks;           /* state->system_count of them */
	char rejected_sha[41];               /* newest invalid revision, reported once */
	char rejected_why[600];              /* its first problem, for the status */
	bool rejection_unreported;           /* the next cycle records it in every system's status */
	char converged_sha[41];              /* state's sha when the last cycle converged */
	struct session *sessions;
	size_t session_count;
	long last_full_ms;
	unsigned trigger_interval_ms;
	/* Drift reported under driftPolicy alert: the same drift is not
	 * reported again before the system's alertRepeatInterval. */
	struct alert_mark *alerts;
	size_t alert_count;
	const struct keelson_plugin_registry *plugins;
	struct keelson_alerts *alert_sender; /* NULL: log lines only */
	struct keelson_nudge *nudge;         /* webhook pushes; NULL: none */
	struct keelson_status_writer *status; /* NULL: no status branch */
	bool events_off;
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void session_dispose(struct session *s)
{
	keelson_executor_free(s->exec);
	keelson_kube_cache_free(s->pod_cache);
	free(s->pod_namespace);
	keelson_kube_cache_free(s->cache);
	keelson_kube_client_free(s->client);
	keelson_kube_config_free(s->kube_config);
	for (size_t i = 0; i < s->type_count; i++) {
		free(s->types[i].api_version);
		free(s->types[i].kind);
	}
	free(s->types);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

static int make_trigger(struct keelson_reconciler *r, unsigned interval_ms)
{
	struct keelson_git_trigger *trigger = NULL;
	struct keelson_git_trigger_options to = {
		.version = KEELSON_GIT_TRIGGER_OPTIONS_VERSION,
		.interval_ms = interval_ms,
		.jitter_percent = 10,
		.watch_path = keelson_git_source_local_path(r->git),
	};
	int rc = keelson_git_trigger_new(&trigger, &to);
	if (rc < 0)
		return rc;
	keelson_git_trigger_free(r->trigger);
	r->trigger = trigger;
	r->trigger_interval_ms = interval_ms;
	return 0;
}

/* Without git.pollInterval in the configuration, poll as often as the
 * repository's most demanding system asks (policy.pollInterval). */
static void follow_repository_poll_interval(struct keelson_reconciler *r)
{
	unsigned long long best = 0;
	if (r->cfg->poll_interval_ms != 0 || r->state == NULL)
		return;
	for (size_t c = 0; c < r->state->cluster_count; c++) {
		const struct keelson_cluster *cluster = &r->state->clusters[c];
		if (keelson_config_cluster(r->cfg, cluster->name) == NULL)
			continue;
		for (size_t s = 0; s < cluster->system_count; s++) {
			unsigned long long v = cluster->systems[s].policy.poll_interval_s * 1000ULL;
			if (v > 0 && (best == 0 || v < best))
				best = v;
		}
	}
	if (best == 0 || best > 86400000ULL || best == r->trigger_interval_ms)
		return;
	if (make_trigger(r, (unsigned)best) < 0)
		keelson_log(KEELSON_LOG_WARN, "keeping the previous poll interval", "error",
			    keelson_error_last()->message, (const char *)NULL);
}

int keelson_reconciler_new(struct keelson_reconciler **out, const struct keelson_config *cfg,
			   const volatile sig_atomic_t *stop)
{
	struct keelson_reconciler *r = calloc(1, sizeof(*r));
	char *cache_dir = NULL;
	int rc;
	*out = NULL;
	if (r == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	r->cfg = cfg;
	r->stop = stop;
	r->sessions = calloc(cfg->cluster_count, sizeof(*r->sessions));
	if (r->sessions == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = keelson_git_cache_dir_for_url(&cache_dir, cfg->git_cache_dir, cfg->git_url)) < 0)
		goto fail;
	struct keelson_git_source_options go = {
		.version = KEELSON_GIT_SOURCE_OPTIONS_VERSION,
		.url = cfg->git_url,
		.cache_dir = cache_dir,
		.track = (enum keelson_git_track)cfg->git_track,
		.ref = cfg->git_ref,
		.username_file = cfg->git_username_file,
		.username_env = cfg->git_username_env,
		.token_file = cfg->git_token_file,
		.token_env = cfg->git_token_env,
		.ca_file = cfg->git_ca_file,
		.ssh_key_file = cfg->git_ssh_key_file,
		.ssh_username = cfg->git_ssh_username,
		.known_hosts_file = cfg->git_known_hosts_file,
	};
	/* For tests of the tree entry limit; unset in production. */
	const char *max_entries = getenv("KEELSON_GIT_MAX_TREE_ENTRIES");
	if (max_entries != NULL && *max_entries != '\0') {
		char *end;
		unsigned long long v = strtoull(max_entries, &end, 10);
		if (*end == '\0' && v > 0 && v <= KEELSON_GIT_DEFAULT_MAX_TREE_ENTRIES)
			go.max_tree_entries = (size_t)v;
	}
	if ((rc = keelson_git_source_open(&r->git, &go)) < 0)
		goto fail;
	if ((rc = make_trigger(r, (unsigned)(cfg->poll_interval_ms ? cfg->poll_interval_ms : 60000))) < 0)
		goto fail;
	free(cache_dir);
	*out = r;
	return 0;
fail:
	free(cache_dir);
	keelson_reconciler_free(r);
	return rc;
}

void keelson_reconciler_free(struct keelson_reconciler *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->session_count; i++)
		session_dispose(&r->sessions[i]);
	free(r->sessions);
	for (size_t i = 0; i < r->alert_count; i++)
		free(r->alerts[i].key);
	free(r->alerts);
	keelson_desired_state_free(r->state);
	free(r->marks);
	keelson_git_trigger_free(r->trigger);
	keelson_git_source_free(r->git);
	free(r);
}

void keelson_reconciler_set_plugins(struct keelson_reconciler *r, const struct keelson_plugin_registry *plugins)
{
	r->plugins = plugins;
}

void keelson_reconciler_set_alerts(struct keelson_reconciler *r, struct keelson_alerts *alerts)
{
	r->alert_sender = alerts;
}

void keelson_reconciler_set_nudge(struct keelson_reconciler *r, struct keelson_nudge *nudge)
{
	r->nudge = nudge;
}

/* Without status.branch in the configuration, status goes to the
 * repository's spec.statusBranch (the branch keelson reads is refused). */
static void follow_status_branch(struct keelson_reconciler *r)
{
	if (r->status == NULL || r->cfg->status_branch != NULL || r->state == NULL || r->state->status_branch == NULL)
		return;
	const char *branch = r->state->status_branch;
	if (strcmp(branch, keelson_status_writer_branch(r->status)) == 0)
		return;
	if (r->cfg->git_track == KEELSON_GIT_TRACK_BRANCH && strcmp(branch, r->cfg->git_ref) == 0) {
		keelson_log(KEELSON_LOG_ERROR,
			    "spec.statusBranch of the repository is the branch keelson reads; status stays on its "
			    "current branch",
			    "statusBranch", branch, "writing", keelson_status_writer_branch(r->status), (const char *)NULL);
		return;
	}
	if (keelson_status_writer_set_branch(r->status, branch) < 0) {
		keelson_log(KEELSON_LOG_ERROR, "spec.statusBranch of the repository not used", "statusBranch", branch,
			    "error", keelson_error_last()->message, (const char *)NULL);
		return;
	}
	keelson_log(KEELSON_LOG_INFO, "status branch from the repository", "branch", branch, (const char *)NULL);
}

void keelson_reconciler_set_status(struct keelson_reconciler *r, struct keelson_status_writer *status)
{
	r->status = status;
	follow_status_branch(r);
}

void keelson_reconciler_set_events(struct keelson_reconciler *r, bool on)
{
	r->events_off = !on;
}

static double seconds_since(long start_ms)
{
	return (double)(now_ms() - start_ms) / 1000.0;
}

/* Level-triggered: fired on every blocked cycle (the sender dedups and
 * re-sends), so a restart re-raises it from the persisted blocked state. */
static void alert_blocked(struct keelson_reconciler *r, const char *cluster, const char *system, const char *reason,
			  bool blocked)
{
	if (r->alert_sender == NULL)
		return;
	struct keelson_alert a = {
		.alertname = KEELSON_ALERT_BLOCKED,
		.cluster = cluster,
		.system = system,
		.severity = "critical",
		.summary = "keelson rollout blocked; a person must act",
		.description = reason,
	};
	int rc = blocked ? keelson_alerts_fire(r->alert_sender, &a) : keelson_alerts_resolve(r->alert_sender, &a);
	if (rc < 0)
		keelson_log(KEELSON_LOG_WARN, "alert not delivered; retried later", "cluster", cluster, "system", system,
			    "error", keelson_error_last()->message, (const char *)NULL);
}

unsigned long long keelson_reconciler_drift_check_ms(const struct keelson_reconciler *r)
{
	unsigned long long best = 0;
	if (r->state == NULL)
		return 600000ULL;
	for (size_t c = 0; c < r->state->cluster_count; c++)
		for (size_t s = 0; s < r->state->clusters[c].system_count; s++) {
			unsigned long long v = r->state->clusters[c].systems[s].policy.drift_check_interval_s * 1000ULL;
			if (v > 0 && (best == 0 || v < best))
				best = v;
		}
	return best ? best : 600000ULL;
}

/* --- Git ----------------------------------------------------------------- */

static void log_problems(const struct keelson_problem_list *problems, const char *sha)
{
	for (size_t i = 0; i < problems->count; i++) {
		const struct keelson_problem *p = &problems->items[i];
		char where[600];
		snprintf(where, sizeof(where), "%s:%u:%u", p->file, p->line, p->column);
		keelson_log(KEELSON_LOG_ERROR, "invalid revision", "revision", sha, "file", where, "code",
			    keelson_problem_code_name(p->code), "problem", p->message, (const char *)NULL);
	}
}

/* Systems of the old revision that the new one no longer has: their
 * alerts are resolved and their metric series dropped (nothing would
 * evaluate them again). */
static void forget_removed_systems(struct keelson_reconciler *r, const struct keelson_desired_state *next)
{
	if (r->state == NULL)
		return;
	for (size_t c = 0; c < r->state->cluster_count; c++) {
		const struct keelson_cluster *old = &r->state->clusters[c];
		const struct keelson_cluster *now = keelson_desired_state_cluster(next, old->name);
		for (size_t i = 0; i < old->system_count; i++) {
			const char *name = old->systems[i].name;
			if (now != NULL && keelson_cluster_system(now, name) != NULL)
				continue;
			keelson_metrics_forget_system(NULL, old->name, name);
			if (r->alert_sender != NULL &&
			    keelson_alerts_resolve_stale(r->alert_sender, NULL, old->name, name,
							 keelson_alerts_mark(r->alert_sender)) < 0)
				keelson_log(KEELSON_LOG_WARN, "resolution not delivered; retried later", "cluster", old->name,
					    "system", name, "error", keelson_error_last()->message, (const char *)NULL);
		}
	}
}

static size_t system_slot(const struct keelson_desired_state *state, const struct keelson_cluster *cluster,
			  size_t index)
{
	size_t slot = 0;
	for (const struct keelson_cluster *c = state->clusters; c < cluster; c++)
		slot += c->system_count;
	return slot + index;
}

/* Put `next` (revision `sha`) in force. A system whose content id is the
 * same as in the revision it replaces keeps that revision's mark: it did
 * not change, so its inventory's revision and convergence still hold. */
static int install_state(struct keelson_reconciler *r, struct keelson_desired_state *next, const char *sha)
{
	struct system_mark *marks = calloc(next->system_count ? next->system_count : 1, sizeof(*marks));
	if (marks == NULL) {
		keelson_desired_state_free(next);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	size_t slot = 0;
	for (size_t c = 0; c < next->cluster_count; c++) {
		const struct keelson_cluster *cluster = &next->clusters[c];
		const struct keelson_cluster *old_cluster =
			r->state != NULL ? keelson_desired_state_cluster(r->state, cluster->name) : NULL;
		for (size_t i = 0; i < cluster->system_count; i++, slot++) {
			const struct keelson_system *sys = &cluster->systems[i];
			const struct keelson_system *old = old_cluster ? keelson_cluster_system(old_cluster, sys->name)
								       : NULL;
			if (old != NULL && memcmp(old->content_id, sys->content_id, sizeof(sys->content_id)) == 0) {
				marks[slot] = r->marks[system_slot(r->state, old_cluster,
								   (size_t)(old - old_cluster->systems))];
				continue;
			}
			snprintf(marks[slot].sha, sizeof(marks[slot].sha), "%s", sha);
			marks[slot].converged = false;
		}
	}
	keelson_desired_state_free(r->state);
	free(r->marks);
	r->state = next;
	r->marks = marks;
	snprintf(r->sha, sizeof(r->sha), "%s", sha);
	return 0;
}

/* How far back a daemon that starts on an invalid commit looks for the
 * last valid one. */
#define FALLBACK_MAX_COMMITS 64

/* A daemon that starts (no revision in force) while the newest commit is
 * invalid puts the newest valid first-parent ancestor in force: the last
 * good revision of the previous run, so an interrupted rollout goes on and
 * status can report the rejected commit. Nothing newer than `sha` is
 * considered; under a signature policy only the verified tip counts. */
static void load_last_valid_ancestor(struct keelson_reconciler *r, const char *sha)
{
	char at[41];
	snprintf(at, sizeof(at), "%s", sha);
	for (int i = 0; i < FALLBACK_MAX_COMMITS; i++) {
		char parent[41];
		if (keelson_git_source_first_parent(parent, r->git, at) < 0)
			return;
		snprintf(at, sizeof(at), "%s", parent);
		struct keelson_file_source *files = NULL;
		struct keelson_problem_list *problems = NULL;
		struct keelson_desired_state *state = NULL;
		struct keelson_layout_options lo;
		keelson_layout_options_init(&lo);
		int rc = keelson_git_source_files(&files, r->git, at);
		if (rc == 0)
			rc = keelson_layout_load(&state, &problems, files, &lo);
		if (files != NULL)
			files->free(files);
		keelson_problem_list_free(problems);
		if (rc == 0) {
			if (install_state(r, state, at) < 0)
				return;
			follow_repository_poll_interval(r);
			follow_status_branch(r);
			keelson_log(KEELSON_LOG_WARN, "started on an invalid commit: the last valid one is in force",
				    "revision", at, "rejected", sha, (const char *)NULL);
			return;
		}
		keelson_desired_state_free(state);
	}
}

static int poll_git(struct keelson_cycle_report *rep, struct keelson_reconciler *r)
{
	struct keelson_git_revision rev;
	bool changed = false;
	long started = now_ms();
	int rc = keelson_git_source_poll(&rev, &changed, r->git);
	keelson_metrics_record_git_fetch(NULL, seconds_since(started),
					 rc < 0 ? "error" : changed ? "fetched" : "unchanged");
	if (rc < 0) {
		rep->git_failed = true;
		snprintf(rep->git_error, sizeof(rep->git_error), "%s", keelson_error_last()->message);
		keelson_log(KEELSON_LOG_ERROR, "Git poll failed; the last good revision stays in force", "url",
			    keelson_git_source_display_url(r->git), "revision", r->sha, "error",
			    keelson_error_last()->message, (const char *)NULL);
		return 0;
	}
	if (strcmp(rev.sha, r->sha) == 0 || strcmp(rev.sha, r->rejected_sha) == 0)
		return 0;
	struct keelson_file_source *files = NULL;
	struct keelson_problem_list *problems = NULL;
	struct keelson_desired_state *state = NULL;
	struct keelson_layout_options lo;
	keelson_layout_options_init(&lo);
	lo.previous = r->state;
	rc = keelson_git_source_files(&files, r->git, rev.sha);
	if (rc == 0)
		rc = keelson_layout_load(&state, &problems, files, &lo);
	if (files != NULL)
		files->free(files);
	if (rc == KEELSON_EINVALID && problems != NULL && problems->count > 0)
		snprintf(r->rejected_why, sizeof(r->rejected_why), "%s:%u:%u: %s%s", problems->items[0].file,
			 problems->items[0].line, problems->items[0].column, problems->items[0].message,
			 problems->count > 1 ? " (and more problems, see the log)" : "");
	else if (rc < 0)
		snprintf(r->rejected_why, sizeof(r->rejected_why), "%s", keelson_error_last()->message);
	if (rc == KEELSON_EINVALID && problems != NULL) {
		log_problems(problems, rev.sha);
		keelson_log(KEELSON_LOG_ERROR, "revision rejected: it does not validate; nothing of it is applied",
			    "revision", rev.sha, "problems", problems->count ? "see above" : "", "inForce",
			    r->sha[0] ? r->sha : "(none)", (const char *)NULL);
	} else if (rc < 0) {
		keelson_log(KEELSON_LOG_ERROR, "revision could not be read; the last good revision stays", "revision",
			    rev.sha, "error", keelson_error_last()->message, (const char *)NULL);
	}
	keelson_problem_list_free(problems);
	if (rc < 0) {
		snprintf(r->rejected_sha, sizeof(r->rejected_sha), "%s", rev.sha);
		r->rejection_unreported = true;
		rep->revision_rejected = true;
		if (r->state == NULL && rc == KEELSON_EINVALID)
			load_last_valid_ancestor(r, rev.sha);
		return 0;
	}
	forget_removed_systems(r, state);
	if ((rc = install_state(r, state, rev.sha)) < 0)
		return rc;
	r->rejected_sha[0] = '\0';
	r->rejected_why[0] = '\0';
	r->rejection_unreported = false;
	rep->new_revision = true;
	follow_repository_poll_interval(r);
	follow_status_branch(r);
	char files_parsed[32], files_unread[32], systems_reused[32];
	snprintf(files_parsed, sizeof(files_parsed), "%zu", state->files_parsed);
	snprintf(files_unread, sizeof(files_unread), "%zu", state->files_unread);
	snprintf(systems_reused, sizeof(systems_reused), "%zu", state->systems_reused);
	keelson_log(KEELSON_LOG_INFO, "new revision", "revision", rev.sha, "author", rev.author, "subject",
		    rev.subject, "filesParsed", files_parsed, "filesUnchanged", files_unread, "systemsUnchanged",
		    systems_reused, (const char *)NULL);
	return 0;
}

/* --- sessions ------------------------------------------------------------ */

static struct session *find_session(struct keelson_reconciler *r, const char *name)
{
	for (size_t i = 0; i < r->session_count; i++)
		if (strcmp(r->sessions[i].name, name) == 0)
			return &r->sessions[i];
	return NULL;
}

static int open_session(struct session **out, struct keelson_reconciler *r, const struct keelson_cluster *cluster,
			const struct keelson_config_cluster *cc)
{
	struct session *s = find_session(r, cluster->name);
	int rc;
	if (s != NULL) {
		*out = s;
		return 0;
	}
	s = &r->sessions[r->session_count];
	memset(s, 0, sizeof(*s));
	if ((s->name = strdup(cluster->name)) == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	struct keelson_kube_config_options co;
	keelson_kube_config_options_init(&co);
	co.context = cc->context ? cc->context : cluster->kube_context;
	rc = cc->kubeconfig ? keelson_kube_config_load_file(&s->kube_config, cc->kubeconfig, &co)
			    : keelson_kube_config_load_default(&s->kube_config, &co);
	if (rc < 0)
		goto fail;
	struct keelson_kube_client_options ko;
	keelson_kube_client_options_init(&ko);
	ko.qps = r->cfg->kube_qps;
	ko.burst = r->cfg->kube_burst;
	ko.timeout_ms = (long)r->cfg->kube_timeout_ms;
	if ((rc = keelson_kube_client_new(&s->client, s->kube_config, &ko)) < 0)
		goto fail;
	struct keelson_kube_cache_options cao;
	keelson_kube_cache_options_init(&cao);
	cao.label_selector = KEELSON_LABEL_SYSTEM; /* only objects keelson labelled */
	if ((rc = keelson_kube_cache_new(&s->cache, s->client, &cao)) < 0)
		goto fail;
	s->apply_ctx.client = s->client;
	s->apply_ctx.cache = s->cache;
	s->apply_ctx.inventory_namespace = r->cfg->inventory_namespace;
	s->apply_ctx.crd_established_timeout_ms = (long)r->cfg->crd_established_timeout_ms;
	s->apply_ctx.stop = r->stop;
	keelson_plugin_env_kube(&s->main_env, s->client, s->cache);
	r->session_count++;
	*out = s;
	return 0;
fail:
	keelson_error_wrap(rc, "cluster %s (context %s)", cluster->name, co.context);
	session_dispose(s);
	return rc;
}

static struct cached_type *find_type(struct session *s, const char *api_version, const char *kind)
{
	for (size_t i = 0; i < s->type_count; i++)
		if (strcmp(s->types[i].api_version, api_version) == 0 && strcmp(s->types[i].kind, kind) == 0)
			return &s->types[i];
	return NULL;
}

/* Watch (av, kind) unless it is watched already; *added when it now is. */
static int cache_type(struct session *s, const struct keelson_cluster *cluster, const char *av, const char *kind,
		      bool *added)
{
	struct cached_type *t = find_type(s, av, kind);
	if (t != NULL && t->cached)
		return 0;
	if (t == NULL) {
		if (s->type_count >= MAX_CACHED_TYPES)
			return keelson_error_set(KEELSON_ELIMIT, "more than %d object types in cluster %s",
						 MAX_CACHED_TYPES, cluster->name);
		void *p = realloc(s->types, (s->type_count + 1) * sizeof(*s->types));
		if (p == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		s->types = p;
		t = &s->types[s->type_count];
		t->api_version = strdup(av);
		t->kind = strdup(kind);
		t->cached = false;
		if (t->api_version == NULL || t->kind == NULL) {
			free(t->api_version);
			free(t->kind);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
		s->type_count++;
	}
	int rc = keelson_kube_cache_add(s->cache, av, kind);
	if (rc == KEELSON_ENOTFOUND) {
		keelson_log(KEELSON_LOG_DEBUG, "type not served yet; read with GET until it is", "cluster",
			    cluster->name, "apiVersion", av, "kind", kind, (const char *)NULL);
		return 0;
	}
	if (rc < 0)
		return keelson_error_wrap(rc, "watching %s %s in cluster %s", av, kind, cluster->name);
	t->cached = true;
	*added = true;
	return 0;
}

/* Cache every type the cluster's objects use, plus ConfigMaps (inventories).
 * A type the server does not serve yet (its CRD comes later) is retried on
 * the next cycle. Runs every cycle over every object: consecutive objects
 * of one type (the common case) are looked up once. */
static int cache_types(struct session *s, const struct keelson_cluster *cluster)
{
	bool added = false;
	for (size_t j = 0; j < cluster->system_count; j++) {
		const struct keelson_system *sys = &cluster->systems[j];
		const char *last_av = NULL, *last_kind = NULL;
		for (size_t k = 0; k < sys->object_count; k++) {
			const char *av = sys->objects[k].api_version, *kind = sys->objects[k].kind;
			if (last_av != NULL && strcmp(av, last_av) == 0 && strcmp(kind, last_kind) == 0)
				continue;
			last_av = av;
			last_kind = kind;
			CHECK_RC(cache_type(s, cluster, av, kind, &added));
		}
	}
	CHECK_RC(cache_type(s, cluster, "v1", "ConfigMap", &added));
	if (added) {
		int rc = keelson_kube_cache_wait_synced(s->cache, CACHE_SYNC_TIMEOUT_MS);
		if (rc < 0)
			return keelson_error_wrap(rc, "listing the objects of cluster %s", cluster->name);
	}
	return 0;
}

static int read_live(cJSON **out, struct session *s, const struct keelson_object *o)
{
	struct cached_type *t = find_type(s, o->api_version, o->kind);
	const char *ns = o->namespace_[0] ? o->namespace_ : NULL;
	int rc;
	*out = NULL;
	if (t != NULL && t->cached)
		rc = keelson_kube_cache_get(out, s->cache, o->api_version, o->kind, ns, o->name);
	else
		rc = keelson_kube_get(out, s->client, o->api_version, o->kind, ns, o->name);
	if (rc == KEELSON_ENOTFOUND) {
		*out = NULL;
		return 0;
	}
	return rc;
}

/* --- change sets --------------------------------------------------------- */

struct elsewhere_ctx {
	const struct keelson_cluster *cluster;
	const struct keelson_system *system;
};

static bool desired_elsewhere(void *payload, const char *api_version, const char *kind, const char *ns,
			      const char *name)
{
	const struct elsewhere_ctx *e = payload;
	char group[256];
	keelson_api_group(group, sizeof(group), api_version);
	for (size_t j = 0; j < e->cluster->system_count; j++) {
		const struct keelson_system *sys = &e->cluster->systems[j];
		if (sys == e->system)
			continue;
		for (size_t k = 0; k < sys->object_count; k++) {
			const struct keelson_object *o = &sys->objects[k];
			if (strcmp(o->kind, kind) == 0 && strcmp(o->name, name) == 0 && strcmp(o->namespace_, ns) == 0 &&
			    strcmp(o->group, group) == 0)
				return true;
		}
	}
	return false;
}

static void log_drift(const struct keelson_change_set *cs, const struct keelson_change *c, const char *what)
{
	const struct keelson_diff_object *d = c->diff;
	const struct keelson_object *o = c->object;
	if (d->state == KEELSON_DIFF_MISSING) {
		keelson_log(KEELSON_LOG_WARN, what, "cluster", cs->cluster, "system", cs->system->name, "kind", o->kind,
			    "namespace", o->namespace_, "name", o->name, "state", "missing", "policy",
			    keelson_drift_policy_name(cs->system->policy.drift_policy), (const char *)NULL);
		return;
	}
	for (size_t i = 0; i < d->field_count; i++) {
		const struct keelson_diff_field *f = &d->fields[i];
		char where[600];
		char *want = f->desired ? cJSON_PrintUnformatted(f->desired) : NULL;
		char *have = f->live ? cJSON_PrintUnformatted(f->live) : NULL;
		snprintf(where, sizeof(where), "%s:%u:%u", f->file ? f->file : o->file, f->line, f->column);
		keelson_log(KEELSON_LOG_WARN, what, "cluster", cs->cluster, "system", cs->system->name, "kind", o->kind,
			    "namespace", o->namespace_, "name", o->name, "field", f->pointer, "change",
			    keelson_diff_change_name(f->change), "file", where, "repository", want ? want : "(absent)",
			    "live", have ? have : "(absent)", "policy",
			    keelson_drift_policy_name(cs->system->policy.drift_policy), (const char *)NULL);
		free(want);
		free(have);
	}
}

/* Whether the drift of `c` is to be reported now: not reported with the same
 * live values within the system's alertRepeatInterval. */
static bool alert_due(struct keelson_reconciler *r, const struct keelson_change_set *cs,
		      const struct keelson_change *c)
{
	char key[4096];
	size_t used = (size_t)snprintf(key, sizeof(key), "%s|%s|%s|%s|%s|%s", cs->cluster, cs->system->name,
				       c->object->kind, c->object->namespace_, c->object->name,
				       keelson_diff_state_name(c->diff->state));
	for (size_t i = 0; i < c->diff->field_count && used < sizeof(key); i++) {
		char *live = c->diff->fields[i].live ? cJSON_PrintUnformatted(c->diff->fields[i].live) : NULL;
		used += (size_t)snprintf(key + used, sizeof(key) - used, "|%s=%s", c->diff->fields[i].pointer,
					 live ? live : "");
		free(live);
	}
	long now = now_ms();
	long repeat_ms = (long)(cs->system->policy.alert_repeat_interval_s * 1000ULL);
	for (size_t i = 0; i < r->alert_count; i++) {
		if (strcmp(r->alerts[i].key, key) != 0)
			continue;
		if (now - r->alerts[i].at_ms < repeat_ms)
			return false;
		r->alerts[i].at_ms = now;
		return true;
	}
	if (r->alert_count == MAX_ALERT_MARKS) {
		for (size_t i = 0; i < r->alert_count; i++)
			free(r->alerts[i].key);
		r->alert_count = 0;
	}
	void *p = realloc(r->alerts, (r->alert_count + 1) * sizeof(*r->alerts));
	char *copy = strdup(key);
	if (p == NULL || copy == NULL) {
		if (p != NULL)
			r->alerts = p;
		free(copy);
		return true; /* report rather than stay silent */
	}
	r->alerts = p;
	r->alerts[r->alert_count].key = copy;
	r->alerts[r->alert_count].at_ms = now;
	r->alert_count++;
	return true;
}

static const char *label_value(const cJSON *obj)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
							      "labels");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, KEELSON_LABEL_SYSTEM);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *inventory_revision(const cJSON *cm)
{
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cm, "metadata"),
							   "annotations");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, KEELSON_ANNOTATION_REVISION);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int build_change_set(struct keelson_reconciler *r, struct keelson_change_set *cs,
			    struct keelson_cycle_report *rep, struct session *s,
			    const struct keelson_system *sys, const cJSON *inventory_cm, const char *sha)
{
	const char *inv_rev = inventory_revision(inventory_cm);
	/* The inventory says this revision converged: differences now are drift. */
	bool at_converged_revision = inv_rev != NULL && strcmp(inv_rev, sha) == 0;
	cs->changes = calloc(sys->object_count ? sys->object_count : 1, sizeof(*cs->changes));
	if (cs->changes == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	for (size_t i = 0; i < sys->object_count; i++) {
		const struct keelson_object *o = &sys->objects[i];
		struct keelson_change *c = &cs->changes[cs->change_count];
		cJSON *live = NULL;
		int rc = read_live(&live, s, o);
		if (rc < 0)
			return keelson_error_wrap(rc, "reading %s %s%s%s", o->kind, o->namespace_,
						  o->namespace_[0] ? "/" : "", o->name);
		struct keelson_diff_options dopts;
		keelson_diff_options_init(&dopts);
		dopts.ignore = sys->ignore_rules;
		rc = keelson_diff_object_take(&c->diff, o, live, &dopts); /* live is a private copy from the cache */
		if (rc < 0)
			return keelson_error_wrap(rc, "comparing %s %s", o->kind, o->name);
		c->object = o;
		cs->change_count++;
		const char *label = c->diff->live ? label_value(c->diff->live) : NULL;
		c->labelled = label != NULL && strcmp(label, sys->name) == 0;
		rep->objects++;
		if (c->diff->state == KEELSON_DIFF_IN_SYNC) {
			c->action = KEELSON_CHANGE_NONE;
			continue;
		}
		c->action = KEELSON_CHANGE_APPLY;
		c->force = true;
		if (c->diff->state == KEELSON_DIFF_DRIFTED) {
			for (size_t f = 0; f < c->diff->field_count; f++) {
				const struct keelson_diff_field *field = &c->diff->fields[f];
				const char *why = keelson_immutable_field(o->group, o->kind, field->pointer, c->diff->live);
				if (why == NULL && field->live_pointer != NULL)
					why = keelson_immutable_field(o->group, o->kind, field->live_pointer, c->diff->live);
				if (why != NULL) {
					c->action = KEELSON_CHANGE_BLOCKED;
					c->blocked_reason = why;
					c->blocked_pointer = field->pointer;
					break;
				}
			}
		}
		if (at_converged_revision && c->action == KEELSON_CHANGE_APPLY) {
			rep->drifted++;
			c->drifted = true;
			switch (sys->policy.drift_policy) {
			case KEELSON_DRIFT_HEAL:
				log_drift(cs, c, "drift detected; healing (driftPolicy heal)");
				break;
			case KEELSON_DRIFT_ALERT:
				if (alert_due(r, cs, c))
					log_drift(cs, c, "drift detected; not healed (driftPolicy alert)");
				c->action = KEELSON_CHANGE_REPORT;
				break;
			case KEELSON_DRIFT_IGNORE:
				c->action = KEELSON_CHANGE_REPORT;
				break;
			}
		}
	}
	return 0;
}

/* --- the cycle ----------------------------------------------------------- */

static uint64_t session_generation(struct session *s)
{
	return keelson_kube_cache_generation(s->cache) +
	       (s->pod_cache != NULL ? keelson_kube_cache_generation(s->pod_cache) : 0);
}

static bool stopping(const struct keelson_reconciler *r)
{
	return r->stop != NULL && *r->stop;
}

/* --- systems run by a plugin --------------------------------------------- */

static bool is_generic(const struct keelson_system *sys)
{
	return sys->plugin == NULL || strcmp(sys->plugin, "generic") == 0;
}

static bool is_pod(const char *api_version, const char *kind)
{
	return strcmp(api_version, "v1") == 0 && strcmp(kind, "Pod") == 0;
}

static struct keelson_plugin_kube_env *env_for(struct session *s, const char *api_version, const char *kind)
{
	return s->pod_cache != NULL && is_pod(api_version, kind) ? &s->pod_env : &s->main_env;
}

static int session_live_get(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
			    const char *name)
{
	struct keelson_plugin_kube_env *e = env_for(payload, api_version, kind);
	return e->env.live_get(out, e->env.payload, api_version, kind, ns, name);
}

static int session_live_list(cJSON **out, void *payload, const char *api_version, const char *kind,
			     const char *ns, const char *selector)
{
	struct keelson_plugin_kube_env *e = env_for(payload, api_version, kind);
	return e->env.live_list(out, e->env.payload, api_version, kind, ns, selector);
}

static int session_http(long *out_status, char **out_body, size_t *out_len, void *payload,
			enum keelson_proxy_target target, const char *ns, const char *name, const char *port,
			const char *method, const char *path, const char *body, long long timeout_ms)
{
	struct session *s = payload;
	return s->main_env.env.http(out_status, out_body, out_len, s->main_env.env.payload, target, ns, name, port,
				    method, path, body, timeout_ms);
}

static long long session_now_ms(void *payload)
{
	struct session *s = payload;
	return s->main_env.env.now_ms(s->main_env.env.payload);
}

/* The executor reports a system blocked once, when it becomes so. */
static void plugin_blocked(void *payload, const char *cluster, const char *system, const char *reason)
{
	struct session *s = payload;
	s->hook_became_blocked = true;
	keelson_metrics_record_rollout_step(NULL, cluster, system, "blocked");
	keelson_log(KEELSON_LOG_ERROR,
		    "system blocked: no further step until its objects or parameters change in Git or its "
		    "rollout state ConfigMap is deleted",
		    "cluster", cluster, "system", system, "reason", reason, (const char *)NULL);
}

static const char *json_string_at(const cJSON *obj, const char *section, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		section ? cJSON_GetObjectItemCaseSensitive(obj, section) : obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Whether `object` names, as its controller (ownerReferences with
 * controller true), an object of the system's repository documents in its
 * own namespace: a Spark driver pod built from a SparkApplication. */
static bool owned_by_system_object(const cJSON *object, const struct keelson_change_set *cs)
{
	const char *ns = json_string_at(object, "metadata", "namespace");
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(object, "metadata"),
							     "ownerReferences");
	const cJSON *ref;
	cJSON_ArrayForEach(ref, refs) {
		const char *av = json_string_at(ref, NULL, "apiVersion"), *kind = json_string_at(ref, NULL, "kind");
		const char *name = json_string_at(ref, NULL, "name");
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")) || av == NULL || kind == NULL ||
		    name == NULL)
			continue;
		char group[256];
		keelson_api_group(group, sizeof(group), av);
		for (size_t i = 0; i < cs->change_count; i++) {
			const struct keelson_object *o = cs->changes[i].object;
			if (strcmp(o->group, group) == 0 && strcmp(o->kind, kind) == 0 && strcmp(o->name, name) == 0 &&
			    strcmp(o->namespace_, ns ? ns : "") == 0)
				return true;
		}
	}
	return false;
}

/* An object a plugin built, controlled by one of the system's objects, is
 * applied as it is and not recorded in the inventory: the garbage
 * collector removes it with its owner, and a prune of it (it is in no
 * repository document) would kill, say, a running Spark driver. */
static int apply_owned(struct session *s, const char *system, const cJSON *object)
{
	cJSON *result = NULL;
	int rc = keelson_kube_apply(&result, s->client, object, NULL);
	cJSON_Delete(result);
	if (rc < 0)
		return keelson_error_wrap(rc, "system %s: applying %s %s/%s", system,
					  json_string_at(object, NULL, "kind"),
					  json_string_at(object, "metadata", "namespace"),
					  json_string_at(object, "metadata", "name"));
	return 0;
}

/* APPLY steps of plugins go through the generic path with one object to
 * apply, so the object is in the system's inventory (written before the
 * apply), labelled, and prunable later. Only objects of the system's
 * repository documents are applied: anything else could not be pruned. */
static int plugin_apply(void *payload, const char *cluster, const char *system, const cJSON *object)
{
	struct session *s = payload;
	const struct keelson_change_set *cs = s->hook_cs;
	const char *av = json_string_at(object, NULL, "apiVersion"), *kind = json_string_at(object, NULL, "kind");
	const char *ns = json_string_at(object, "metadata", "namespace"), *name = json_string_at(object, "metadata", "name");
	if (cs == NULL)
		return keelson_error_set(KEELSON_ERROR, "apply outside a reconcile cycle of %s/%s", cluster, system);
	if (av == NULL || kind == NULL || name == NULL)
		return keelson_error_set(KEELSON_EINVALID,
					 "a step of system %s applies an object without apiVersion, kind or metadata.name",
					 system);
	char group[256];
	keelson_api_group(group, sizeof(group), av);
	size_t at = cs->change_count;
	for (size_t i = 0; i < cs->change_count && at == cs->change_count; i++) {
		const struct keelson_object *o = cs->changes[i].object;
		if (strcmp(o->group, group) == 0 && strcmp(o->kind, kind) == 0 && strcmp(o->name, name) == 0 &&
		    strcmp(o->namespace_, ns ? ns : "") == 0)
			at = i;
	}
	if (at == cs->change_count && owned_by_system_object(object, cs))
		return apply_owned(s, system, object);
	if (at == cs->change_count)
		return keelson_error_set(KEELSON_EINVALID,
					 "a step of system %s applies %s %s%s%s, which is not one of the system's objects "
					 "in the repository; refused, since keelson could not record and prune it",
					 system, kind, ns ? ns : "", ns ? "/" : "", name);
	struct keelson_change *changes = calloc(cs->change_count, sizeof(*changes));
	if (changes == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	struct keelson_object applied = *cs->changes[at].object;
	applied.body = object;
	/* Only the step's object is applied; the others are only kept in the
	 * inventory (and labelled), whatever their diff says: the plugin
	 * decides when they change. */
	for (size_t i = 0; i < cs->change_count; i++) {
		changes[i] = cs->changes[i];
		changes[i].action = KEELSON_CHANGE_NONE;
	}
	changes[at].object = &applied;
	changes[at].action = KEELSON_CHANGE_APPLY;
	changes[at].force = true;
	struct keelson_change_set one = *cs;
	one.changes = changes;
	/* The revision converges only when the plan is empty. */
	one.revision = s->hook_revision;
	struct keelson_apply_result res;
	int rc = keelson_generic_apply(&res, &s->apply_ctx, &one);
	free(changes);
	if (rc < 0)
		return rc;
	if (res.stopped)
		return keelson_error_set(KEELSON_ERROR, "stopping: %s %s not applied", kind, name);
	if (res.failed > 0)
		return keelson_error_set(KEELSON_ERROR, "applying %s %s%s%s failed (see the log line before)", kind,
					 ns ? ns : "", ns ? "/" : "", name);
	s->hook_applied = true;
	return 0;
}

/* The namespace of the plugin systems' namespaced objects when they share
 * one, else NULL (all namespaces). *out is allocated ("" means none). */
static int plugin_pod_namespace(char **out, const struct keelson_cluster *cluster)
{
	const char *found = NULL;
	bool several = false;
	*out = NULL;
	for (size_t i = 0; i < cluster->system_count; i++) {
		const struct keelson_system *sys = &cluster->systems[i];
		if (is_generic(sys))
			continue;
		for (size_t k = 0; k < sys->object_count; k++) {
			const char *ns = sys->objects[k].namespace_;
			if (ns[0] == '\0')
				continue;
			if (found == NULL)
				found = ns;
			else if (strcmp(found, ns) != 0)
				several = true;
		}
	}
	if (found != NULL && !several && (*out = strdup(found)) == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	return 0;
}

static int ensure_plugin_session(struct keelson_reconciler *r, struct session *s,
				 const struct keelson_cluster *cluster)
{
	char *ns = NULL;
	int rc = plugin_pod_namespace(&ns, cluster);
	if (rc < 0)
		return rc;
	bool same = s->pod_cache != NULL && ((ns == NULL && s->pod_namespace == NULL) ||
					     (ns != NULL && s->pod_namespace != NULL && strcmp(ns, s->pod_namespace) == 0));
	if (!same) {
		keelson_kube_cache_free(s->pod_cache);
		s->pod_cache = NULL;
		free(s->pod_namespace);
		s->pod_namespace = ns;
		ns = NULL;
		struct keelson_kube_cache_options o;
		keelson_kube_cache_options_init(&o);
		o.namespace = s->pod_namespace;
		struct keelson_kube_cache *cache = NULL;
		if ((rc = keelson_kube_cache_new(&cache, s->client, &o)) == 0 &&
		    (rc = keelson_kube_cache_add(cache, "v1", "Pod")) == 0)
			rc = keelson_kube_cache_wait_synced(cache, CACHE_SYNC_TIMEOUT_MS);
		if (rc < 0) {
			keelson_kube_cache_free(cache);
			return keelson_error_wrap(rc, "watching the pods of cluster %s%s%s", cluster->name,
						  s->pod_namespace ? " in namespace " : "",
						  s->pod_namespace ? s->pod_namespace : "");
		}
		s->pod_cache = cache;
		keelson_plugin_env_kube(&s->pod_env, s->client, s->pod_cache);
	}
	free(ns);
	if (s->exec != NULL)
		return 0;
	if ((rc = keelson_apply_ensure_inventory_namespace(&s->apply_ctx)) < 0)
		return rc;
	s->env = (struct keelson_plugin_env){
		.version = KEELSON_PLUGIN_ENV_VERSION,
		.payload = s,
		.live_get = session_live_get,
		.live_list = session_live_list,
		.http = session_http,
		.now_ms = session_now_ms,
	};
	keelson_executor_store_kube(&s->store, s->client, r->cfg->inventory_namespace);
	struct keelson_executor_options opts;
	keelson_executor_options_init(&opts);
	opts.env = &s->env;
	opts.client = s->client;
	opts.store = &s->store.store;
	opts.backoff_initial_ms = (long long)r->cfg->retry_initial_ms;
	opts.backoff_max_ms = (long long)r->cfg->retry_max_ms;
	opts.on_blocked = plugin_blocked;
	opts.on_blocked_payload = s;
	opts.apply = plugin_apply;
	opts.apply_payload = s;
	return keelson_executor_new(&s->exec, &opts);
}

/* Whether a cached resourceVersion is `want` or later. Opaque by the API,
 * but etcd's (and kubesim's) are increasing integers: compared as such
 * when both are, so a later write to the object does not hide ours. */
static bool rv_reached(const char *have, const char *want)
{
	char *end_h, *end_w;
	unsigned long long h = strtoull(have, &end_h, 10), w = strtoull(want, &end_w, 10);
	if (*have != '\0' && *want != '\0' && *end_h == '\0' && *end_w == '\0')
		return h >= w;
	return strcmp(have, want) == 0;
}

/* Wait (bounded) until the caches show the effect of a step that did not
 * go through the generic path (a pod deleted or created, a patch, an HTTP
 * call), so the next cycle does not plan the same step from stale state:
 * three re-plans of a step whose effect was not seen yet would block the
 * system. A step with a target: the target is read from the API server
 * once and the cache that holds it must show that resourceVersion (or the
 * object gone); any other change (pod churn, the executor's own state
 * ConfigMap) proves nothing. Without a target, any change of the caches. */
static void wait_step_visible(struct session *s, const struct keelson_exec_result *res, uint64_t pod_gen,
			      uint64_t main_gen)
{
	long deadline = now_ms() + 5000;
	const char *av = res->target_api_version, *kind = res->target_kind, *ns = res->target_namespace;
	const char *name = res->target_name;
	if (kind[0] != '\0' && name[0] != '\0') {
		struct keelson_kube_cache *cache = s->pod_cache != NULL && is_pod(av, kind) ? s->pod_cache : s->cache;
		cJSON *server = NULL;
		int rc = keelson_kube_get(&server, s->client, av, kind, ns, name);
		if (rc == 0 || rc == KEELSON_ENOTFOUND) {
			const char *want = server ? json_string_at(server, "metadata", "resourceVersion") : NULL;
			for (;;) {
				uint64_t gen = keelson_kube_cache_generation(cache);
				cJSON *cached = NULL;
				int crc = keelson_kube_cache_get(&cached, cache, av, kind, ns, name);
				const char *have = cached ? json_string_at(cached, "metadata", "resourceVersion") : NULL;
				bool seen = crc == KEELSON_EINVALID || /* not cached: nothing to wait for */
					    (want == NULL && crc == KEELSON_ENOTFOUND) ||
					    (want != NULL && have != NULL && rv_reached(have, want));
				cJSON_Delete(cached);
				if (seen || now_ms() >= deadline)
					break;
				keelson_kube_cache_wait_change(cache, gen, 100);
			}
			cJSON_Delete(server);
			return;
		}
		cJSON_Delete(server);
	}
	while (now_ms() < deadline) {
		if ((s->pod_cache != NULL && keelson_kube_cache_generation(s->pod_cache) != pod_gen) ||
		    keelson_kube_cache_generation(s->cache) != main_gen)
			return;
		keelson_kube_cache_wait_change(s->pod_cache ? s->pod_cache : s->cache,
					       s->pod_cache ? pod_gen : main_gen, 100);
	}
}

/* An Event on the object a plugin step acts on (nothing when the step
 * names none). The uid comes from the caches (no request) except after a
 * pod deletion, whose replacement may already carry the name. */
static void step_event(struct keelson_reconciler *r, struct session *s, const struct keelson_exec_result *res,
		       const char *system, const char *reason, bool warning)
{
	if (r->events_off || res->target_kind[0] == '\0' || res->target_name[0] == '\0')
		return;
	const char *av = res->target_api_version[0] ? res->target_api_version : "v1";
	const char *ns = res->target_namespace[0] ? res->target_namespace : NULL;
	cJSON *live = NULL;
	const char *uid = NULL;
	if (strcmp(res->step_kind, "delete-pod") != 0) {
		struct keelson_kube_cache *cache = s->pod_cache != NULL && is_pod(av, res->target_kind) ? s->pod_cache
												  : s->cache;
		if (keelson_kube_cache_get(&live, cache, av, res->target_kind, ns, res->target_name) == 0)
			uid = json_string_at(live, "metadata", "uid");
	}
	char message[1024];
	snprintf(message, sizeof(message), "%s%s%s (system %s, revision %.12s)", res->step_kind,
		 res->step_kind[0] ? ": " : "", res->description, system, r->sha);
	struct keelson_event ev = {
		.api_version = av,
		.kind = res->target_kind,
		.namespace_ = ns,
		.name = res->target_name,
		.uid = uid,
		.warning = warning,
		.reason = reason,
		.message = message,
	};
	if (keelson_event_post(s->client, &ev) < 0)
		keelson_log(KEELSON_LOG_WARN, "Kubernetes Event not posted", "cluster", s->name, "system", system,
			    "reason", reason, "error", keelson_error_last()->message, (const char *)NULL);
	cJSON_Delete(live);
}

/* One executor cycle for a plugin system; when its plan is empty, the
 * generic path finishes the inventory (uids, revision) and prunes. */
static int reconcile_plugin_system(struct keelson_cycle_report *rep, struct keelson_reconciler *r,
				   struct session *s, const struct keelson_cluster *cluster,
				   const struct keelson_system *sys, struct keelson_change_set *cs,
				   const cJSON *inventory_cm, bool *converged, struct system_outcome *out)
{
	const struct keelson_plugin *plugin = r->plugins ? keelson_plugin_registry_find(r->plugins, sys->plugin) : NULL;
	struct keelson_problem_list *problems = NULL;
	struct keelson_plugin_params *params = NULL;
	int rc;
	*converged = false;
	out->evaluated = true;
	out->phase = KEELSON_PHASE_FAILED;
	if (plugin == NULL) {
		snprintf(out->error, sizeof(out->error), "plugin %s is not loaded", sys->plugin);
		rep->failed++;
		keelson_log(KEELSON_LOG_ERROR, "plugin not loaded; start keelson with --plugin-dir (or pluginDir) naming "
			    "the directory that holds it", "cluster", cluster->name, "system", sys->name, "plugin",
			    sys->plugin, "file", sys->file, (const char *)NULL);
		return 0;
	}
	if ((rc = ensure_plugin_session(r, s, cluster)) < 0)
		goto fail;
	if ((problems = keelson_problem_list_new()) == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = keelson_plugin_params_parse(&params, problems, plugin, sys->parameters, NULL, sys->file)) < 0) {
		if (problems->count > 0)
			keelson_error_set(rc, "%s:%u:%u: %s", problems->items[0].file, problems->items[0].line,
					  problems->items[0].column, problems->items[0].message);
		goto fail;
	}
	struct keelson_diff_options diff;
	keelson_diff_options_init(&diff);
	diff.ignore = sys->ignore_rules;
	const char *inv_rev = inventory_revision(inventory_cm);
	s->hook_cs = cs;
	s->hook_revision = inv_rev ? inv_rev : "";
	s->hook_applied = false;
	s->hook_became_blocked = false;
	uint64_t pod_gen = s->pod_cache ? keelson_kube_cache_generation(s->pod_cache) : 0;
	uint64_t main_gen = keelson_kube_cache_generation(s->cache);
	struct keelson_exec_result res;
	rc = keelson_executor_cycle(&res, s->exec, plugin, params, cluster->name, sys, r->sha, &diff);
	s->hook_cs = NULL;
	if (rc < 0)
		goto fail;
	char left[32];
	snprintf(left, sizeof(left), "%zu", res.steps_left);
	if (res.outcome == KEELSON_EXEC_CONVERGED || res.outcome == KEELSON_EXEC_RAN ||
	    res.outcome == KEELSON_EXEC_WAITING)
		alert_blocked(r, cluster->name, sys->name, "", false);
	switch (res.outcome) {
	case KEELSON_EXEC_CONVERGED: {
		for (size_t k = 0; k < cs->change_count; k++)
			if (cs->changes[k].action != KEELSON_CHANGE_BLOCKED)
				cs->changes[k].action = KEELSON_CHANGE_NONE;
		bool blocked = false;
		for (size_t k = 0; k < cs->change_count; k++)
			if (cs->changes[k].action == KEELSON_CHANGE_BLOCKED)
				blocked = true;
		if (!keelson_change_set_needs_work(cs, inventory_cm)) {
			*converged = !blocked;
			rep->blocked += blocked ? 1 : 0;
			out->phase = blocked ? KEELSON_PHASE_BLOCKED : KEELSON_PHASE_SYNCED;
			break;
		}
		struct keelson_apply_result ar;
		rc = keelson_generic_apply(&ar, &s->apply_ctx, cs);
		if (rc == KEELSON_ENOMEM)
			goto done;
		rep->pruned += ar.pruned;
		rep->prune_held += ar.prune_held;
		rep->blocked += ar.blocked;
		rep->failed += ar.failed + (rc < 0 ? 1 : 0);
		*converged = rc == 0 && ar.converged;
		if (rc < 0 || ar.failed > 0)
			snprintf(out->error, sizeof(out->error), "%s",
				 rc < 0 ? keelson_error_last()->message : "objects could not be applied; see the log");
		out->phase = *converged        ? KEELSON_PHASE_SYNCED
			     : ar.blocked > 0   ? KEELSON_PHASE_BLOCKED
			     : rc < 0 || ar.failed ? KEELSON_PHASE_FAILED
						 : KEELSON_PHASE_PROGRESSING;
		rc = 0;
		if (*converged)
			keelson_log(KEELSON_LOG_INFO, "plugin rollout converged", "cluster", cluster->name, "system",
				    sys->name, "plugin", sys->plugin, "revision", r->sha, (const char *)NULL);
		break;
	}
	case KEELSON_EXEC_RAN:
		rep->steps_run++;
		out->phase = KEELSON_PHASE_PROGRESSING;
		snprintf(out->step, sizeof(out->step), "%s", res.description);
		keelson_metrics_record_rollout_step(NULL, cluster->name, sys->name, "done");
		step_event(r, s, &res, sys->name, "RolloutStep", false);
		keelson_log(KEELSON_LOG_INFO, "plugin step ran", "cluster", cluster->name, "system", sys->name, "step",
			    res.description, "gate", res.gate[0] ? res.gate : "-", "stepsLeft", left, (const char *)NULL);
		if (!s->hook_applied)
			wait_step_visible(s, &res, pod_gen, main_gen);
		break;
	case KEELSON_EXEC_WAITING:
		rep->waiting++;
		out->phase = KEELSON_PHASE_PROGRESSING;
		snprintf(out->step, sizeof(out->step), "%s", res.description);
		keelson_log(KEELSON_LOG_INFO, "plugin waiting", "cluster", cluster->name, "system", sys->name, "step",
			    res.description, "stepsLeft", left, (const char *)NULL);
		break;
	case KEELSON_EXEC_BLOCKED:
		rep->blocked++;
		out->phase = KEELSON_PHASE_BLOCKED;
		snprintf(out->error, sizeof(out->error), "%s", res.description);
		if (s->hook_became_blocked)
			step_event(r, s, &res, sys->name, "RolloutBlocked", true);
		alert_blocked(r, cluster->name, sys->name, res.description, true);
		keelson_log(KEELSON_LOG_WARN, "system stays blocked", "cluster", cluster->name, "system", sys->name,
			    "reason", res.description, (const char *)NULL);
		break;
	case KEELSON_EXEC_FAILED:
	case KEELSON_EXEC_BACKOFF:
		rep->failed++;
		out->phase = KEELSON_PHASE_FAILED;
		snprintf(out->error, sizeof(out->error), "%s", res.description);
		if (res.outcome == KEELSON_EXEC_FAILED) {
			keelson_metrics_record_rollout_step(NULL, cluster->name, sys->name, "failed");
			step_event(r, s, &res, sys->name, "RolloutStepFailed", true);
		}
		keelson_log(KEELSON_LOG_ERROR, "plugin step failed; retried after a back-off", "cluster", cluster->name,
			    "system", sys->name, "step", res.description, "outcome",
			    keelson_exec_outcome_name(res.outcome), (const char *)NULL);
		break;
	}
	goto done;
fail:
	if (rc != KEELSON_ENOMEM) {
		rep->failed++;
		out->phase = KEELSON_PHASE_FAILED;
		snprintf(out->error, sizeof(out->error), "%s", keelson_error_last()->message);
		keelson_log(KEELSON_LOG_ERROR, "system not reconciled; will retry", "cluster", cluster->name, "system",
			    sys->name, "plugin", sys->plugin, "error", keelson_error_last()->message, (const char *)NULL);
		rc = 0;
	}
done:
	keelson_plugin_params_free(params);
	keelson_problem_list_free(problems);
	return rc;
}

static void drift_description(char *out, size_t size, const struct keelson_change *c)
{
	size_t used = 0;
	out[0] = '\0';
	if (c->diff->state == KEELSON_DIFF_MISSING) {
		snprintf(out, size, "%s %s%s%s is missing from the cluster (defined in %s)", c->object->kind,
			 c->object->namespace_, c->object->namespace_[0] ? "/" : "", c->object->name, c->object->file);
		return;
	}
	used = (size_t)snprintf(out, size, "%s %s%s%s differs from Git (%s) in", c->object->kind, c->object->namespace_,
				c->object->namespace_[0] ? "/" : "", c->object->name, c->object->file);
	for (size_t i = 0; i < c->diff->field_count && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s %s", i ? "," : "", c->diff->fields[i].pointer);
}

/* Drift gauges and alerts, the blocked gauge and alert of generic systems,
 * and the status of one system after a cycle evaluated it. */
static void report_system(struct keelson_reconciler *r, const struct keelson_cluster *cluster,
			  const struct keelson_system *sys, const struct keelson_change_set *cs,
			  struct system_outcome *out)
{
	if (!out->evaluated)
		return;
	size_t drifted = 0, listed = 0;
	char *drift_list[KEELSON_STATUS_MAX_DRIFT_LISTED];
	bool alerting = sys->policy.drift_policy == KEELSON_DRIFT_ALERT;
	uint64_t mark = r->alert_sender ? keelson_alerts_mark(r->alert_sender) : 0;
	for (size_t k = 0; out->diffed && k < cs->change_count; k++) {
		const struct keelson_change *c = &cs->changes[k];
		/* Healed drift is gone after this cycle; ignored drift is not ours to report. */
		if (!c->drifted || c->action != KEELSON_CHANGE_REPORT || !alerting)
			continue;
		drifted++;
		char group[256];
		keelson_api_group(group, sizeof(group), c->object->api_version);
		if (listed < KEELSON_STATUS_MAX_DRIFT_LISTED) {
			size_t n = strlen(group) + strlen(c->object->kind) + strlen(c->object->namespace_) +
				   strlen(c->object->name) + 8;
			char *item = malloc(n);
			if (item != NULL) {
				snprintf(item, n, "%s/%s/%s/%s", group[0] ? group : "core", c->object->kind,
					 c->object->namespace_, c->object->name);
				drift_list[listed++] = item;
			}
		}
		if (r->alert_sender != NULL) {
			char description[1024];
			drift_description(description, sizeof(description), c);
			struct keelson_alert a = {
				.alertname = KEELSON_ALERT_DRIFT,
				.cluster = cluster->name,
				.system = sys->name,
				.kind = c->object->kind,
				.namespace_ = c->object->namespace_,
				.name = c->object->name,
				.summary = "live object drifted from Git (driftPolicy alert: not healed)",
				.description = description,
			};
			if (keelson_alerts_fire(r->alert_sender, &a) < 0)
				keelson_log(KEELSON_LOG_WARN, "drift alert not delivered; retried later", "cluster",
					    cluster->name, "system", sys->name, "error", keelson_error_last()->message,
					    (const char *)NULL);
		}
	}
	if (out->diffed) {
		keelson_metrics_set_drift(NULL, cluster->name, sys->name, drifted);
		if (r->alert_sender != NULL &&
		    keelson_alerts_resolve_stale(r->alert_sender, KEELSON_ALERT_DRIFT, cluster->name, sys->name, mark) < 0)
			keelson_log(KEELSON_LOG_WARN, "drift resolution not delivered; retried later", "cluster",
				    cluster->name, "system", sys->name, "error", keelson_error_last()->message,
				    (const char *)NULL);
	}
	if (drifted > 0 && out->phase == KEELSON_PHASE_SYNCED)
		out->phase = KEELSON_PHASE_DEGRADED;
	if (out->diffed) {
		keelson_metrics_set_blocked(NULL, cluster->name, sys->name, out->phase == KEELSON_PHASE_BLOCKED);
		if (is_generic(sys))
			alert_blocked(r, cluster->name, sys->name, out->error, out->phase == KEELSON_PHASE_BLOCKED);
	}
	if (r->status != NULL) {
		/* A newer commit that does not validate: the status is about that
		 * commit (so its author sees it, on the forge too), Failed with
		 * the first problem, while the last good revision stays applied. */
		char rejected[1024];
		if (r->rejected_sha[0] != '\0')
			snprintf(rejected, sizeof(rejected),
				 "revision rejected, nothing of it applied (%.12s stays in force): %s", r->sha,
				 r->rejected_why);
		struct keelson_system_status st = {
			.version = KEELSON_SYSTEM_STATUS_VERSION,
			.revision = r->rejected_sha[0] ? r->rejected_sha : r->sha[0] ? r->sha : NULL,
			.phase = r->rejected_sha[0] ? KEELSON_PHASE_FAILED : out->phase,
			.step = out->step[0] ? out->step : NULL,
			.last_error = r->rejected_sha[0] ? rejected : out->error[0] ? out->error : NULL,
			.drifted_objects = drifted,
			.drift = (const char *const *)drift_list,
			.drift_count = listed,
		};
		if (keelson_status_writer_update(r->status, cluster->name, sys->name, &st) < 0)
			keelson_log(KEELSON_LOG_WARN, "status not recorded", "cluster", cluster->name, "system", sys->name,
				    "error", keelson_error_last()->message, (const char *)NULL);
	}
	for (size_t i = 0; i < listed; i++)
		free(drift_list[i]);
}

/* Events on the objects whose drift the generic path just re-applied. */
static void heal_events(struct keelson_reconciler *r, struct session *s, const struct keelson_change_set *cs)
{
	for (size_t k = 0; !r->events_off && k < cs->change_count; k++) {
		const struct keelson_change *c = &cs->changes[k];
		if (!c->drifted || c->action != KEELSON_CHANGE_APPLY)
			continue;
		char message[1024];
		drift_description(message, sizeof(message), c);
		size_t used = strlen(message);
		snprintf(message + used, sizeof(message) - used, "; re-applied from revision %.12s (driftPolicy heal)",
			 r->sha);
		const cJSON *live = c->diff->live;
		struct keelson_event ev = {
			.api_version = c->object->api_version,
			.kind = c->object->kind,
			.namespace_ = c->object->namespace_,
			.name = c->object->name,
			.uid = live ? json_string_at(live, "metadata", "uid") : NULL,
			.reason = "DriftHealed",
			.message = message,
		};
		if (keelson_event_post(s->client, &ev) < 0)
			keelson_log(KEELSON_LOG_WARN, "Kubernetes Event not posted", "cluster", s->name, "system",
				    cs->system->name, "reason", "DriftHealed", "error", keelson_error_last()->message,
				    (const char *)NULL);
	}
}

/* "Kind namespace/name: reason (field)" of the first blocked change. */
static void blocked_text(char *out, size_t size, const struct keelson_change_set *cs)
{
	for (size_t k = 0; k < cs->change_count; k++) {
		const struct keelson_change *c = &cs->changes[k];
		if (c->action != KEELSON_CHANGE_BLOCKED)
			continue;
		snprintf(out, size, "%s %s%s%s: %s (%s); needs a planned operation", c->object->kind,
			 c->object->namespace_, c->object->namespace_[0] ? "/" : "", c->object->name,
			 c->blocked_reason ? c->blocked_reason : "blocked", c->blocked_pointer ? c->blocked_pointer : "");
		return;
	}
}

static int reconcile_cluster(struct keelson_cycle_report *rep, struct keelson_reconciler *r,
			     const struct keelson_cluster *cluster, const struct keelson_config_cluster *cc,
			     bool only_changed, bool *cluster_converged)
{
	struct session *s = NULL;
	int rc = open_session(&s, r, cluster, cc);
	*cluster_converged = false;
	if (rc == 0)
		rc = cache_types(s, cluster);
	if (rc < 0) {
		rep->clusters_failed++;
		snprintf(rep->api_error, sizeof(rep->api_error), "%s", keelson_error_last()->message);
		keelson_log(KEELSON_LOG_ERROR, "cluster not reconciled; will retry", "cluster", cluster->name, "error",
			    keelson_error_last()->message, (const char *)NULL);
		/* Every system of the cluster: Failed with the reason (drift and
		 * alerts stay as they were: nothing was compared). */
		for (size_t i = 0; i < cluster->system_count && !stopping(r); i++) {
			struct system_outcome outcome;
			memset(&outcome, 0, sizeof(outcome));
			outcome.evaluated = true;
			outcome.phase = KEELSON_PHASE_FAILED;
			snprintf(outcome.error, sizeof(outcome.error), "%s", rep->api_error);
			struct keelson_change_set none = {.system = &cluster->systems[i], .cluster = cluster->name};
			report_system(r, cluster, &cluster->systems[i], &none, &outcome);
		}
		return 0;
	}
	bool all = true;
	size_t applied_before = rep->applied;
	size_t first_slot = system_slot(r->state, cluster, 0);
	/* After a new commit, the systems it changed come first: their first
	 * API request does not wait for the diffs of the others. */
	size_t *order = malloc((cluster->system_count ? cluster->system_count : 1) * sizeof(*order));
	if (order == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	size_t ordered = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < cluster->system_count; i++)
			if ((strcmp(r->marks[first_slot + i].sha, r->sha) == 0) == (pass == 0))
				order[ordered++] = i;
	for (size_t n = 0; n < ordered && !stopping(r); n++) {
		size_t i = order[n];
		const struct keelson_system *sys = &cluster->systems[i];
		struct system_mark *mark = &r->marks[first_slot + i];
		/* Plugin systems keep following the revision in force (their
		 * rollout state is keyed by it); generic ones the revision their
		 * content last changed in. */
		const char *sys_sha = is_generic(sys) ? mark->sha : r->sha;
		if (only_changed && is_generic(sys) && mark->converged && strcmp(mark->sha, r->sha) != 0) {
			/* Unchanged by the new commit and converged: the drift check
			 * and watch events still cover it. */
			rep->systems_unchanged++;
			/* Its status follows the revision in force (and clears a
			 * rejection it showed): Synced, as it was; drift gauges and
			 * alerts stay as the last comparison left them. */
			struct system_outcome unchanged = {.evaluated = true, .phase = KEELSON_PHASE_SYNCED};
			struct keelson_change_set none = {.system = sys, .cluster = cluster->name, .revision = sys_sha};
			report_system(r, cluster, sys, &none, &unchanged);
			continue;
		}
		rep->systems_diffed++;
		bool sys_ok = true;
		struct elsewhere_ctx ectx = {.cluster = cluster, .system = sys};
		struct keelson_change_set cs = {
			.system = sys,
			.cluster = cluster->name,
			.revision = sys_sha,
			.desired_elsewhere = desired_elsewhere,
			.payload = &ectx,
		};
		char inv_name[300];
		cJSON *inventory_cm = NULL;
		struct system_outcome outcome;
		memset(&outcome, 0, sizeof(outcome));
		keelson_inventory_name(inv_name, sizeof(inv_name), cluster->name, sys->name);
		rc = keelson_kube_cache_get(&inventory_cm, s->cache, "v1", "ConfigMap", r->cfg->inventory_namespace,
					    inv_name);
		if (rc < 0 && rc != KEELSON_ENOTFOUND) {
			rep->clusters_failed++;
			snprintf(rep->api_error, sizeof(rep->api_error), "%s", keelson_error_last()->message);
			sys_ok = false;
			keelson_log(KEELSON_LOG_ERROR, "reading the inventory from the cache failed", "cluster",
				    cluster->name, "system", sys->name, "error", keelson_error_last()->message,
				    (const char *)NULL);
			mark->converged = false;
			all = false;
			continue;
		}
		rc = build_change_set(r, &cs, rep, s, sys, inventory_cm, sys_sha);
		if (rc == KEELSON_ENOMEM) {
			cJSON_Delete(inventory_cm);
			keelson_change_set_dispose(&cs);
			free(order);
			return rc;
		}
		if (rc < 0) {
			rep->failed++;
			sys_ok = false;
			outcome.evaluated = true;
			outcome.phase = KEELSON_PHASE_FAILED;
			snprintf(outcome.error, sizeof(outcome.error), "%s", keelson_error_last()->message);
			keelson_log(KEELSON_LOG_ERROR, "system not reconciled; will retry", "cluster", cluster->name,
				    "system", sys->name, "error", keelson_error_last()->message, (const char *)NULL);
		} else {
			outcome.diffed = true;
			bool reported = false;
			for (size_t k = 0; k < cs.change_count; k++)
				if (cs.changes[k].action == KEELSON_CHANGE_REPORT)
					reported = true;
			const char *inv_rev = inventory_revision(inventory_cm);
			if (!is_generic(sys) && reported && inv_rev != NULL && strcmp(inv_rev, sys_sha) == 0) {
				/* This revision converged and the system's driftPolicy only
				 * reports drift (logged above): the plugin must not heal it. */
				sys_ok = false;
				outcome.evaluated = true;
				outcome.phase = KEELSON_PHASE_SYNCED; /* Degraded by the drift */
			} else if (!is_generic(sys)) {
				bool ok = false;
				rc = reconcile_plugin_system(rep, r, s, cluster, sys, &cs, inventory_cm, &ok, &outcome);
				if (rc == KEELSON_ENOMEM) {
					cJSON_Delete(inventory_cm);
					keelson_change_set_dispose(&cs);
					free(order);
					return rc;
				}
				if (!ok)
					sys_ok = false;
				reported = false; /* the plugin owns how differences are handled */
			} else if (keelson_change_set_needs_work(&cs, inventory_cm)) {
				struct keelson_apply_result res;
				rc = keelson_generic_apply(&res, &s->apply_ctx, &cs);
				if (rc == KEELSON_ENOMEM) {
					cJSON_Delete(inventory_cm);
					keelson_change_set_dispose(&cs);
					free(order);
					return rc;
				}
				rep->applied += res.applied;
				rep->pruned += res.pruned;
				rep->prune_held += res.prune_held;
				rep->blocked += res.blocked;
				rep->failed += res.failed + (rc < 0 ? 1 : 0);
				if (rc < 0 || !res.converged)
					sys_ok = false;
				outcome.evaluated = true;
				if (rc < 0 || res.failed > 0) {
					outcome.phase = KEELSON_PHASE_FAILED;
					snprintf(outcome.error, sizeof(outcome.error), "%s",
						 rc < 0 ? keelson_error_last()->message
							: "objects could not be applied; see the log");
				} else if (res.blocked > 0) {
					outcome.phase = KEELSON_PHASE_BLOCKED;
					blocked_text(outcome.error, sizeof(outcome.error), &cs);
				} else {
					outcome.phase = res.converged ? KEELSON_PHASE_SYNCED : KEELSON_PHASE_PROGRESSING;
					if (rc == 0)
						heal_events(r, s, &cs);
				}
				if (res.applied || res.pruned || res.failed || res.blocked)
					keelson_log(KEELSON_LOG_INFO, "system reconciled", "cluster", cluster->name,
						    "system", sys->name, "revision", sys_sha, "converged",
						    rc == 0 && res.converged ? "true" : "false", (const char *)NULL);
			} else {
				outcome.evaluated = true;
				outcome.phase = KEELSON_PHASE_SYNCED;
				for (size_t k = 0; k < cs.change_count; k++)
					if (cs.changes[k].action == KEELSON_CHANGE_BLOCKED) {
						rep->blocked++;
						sys_ok = false;
						outcome.phase = KEELSON_PHASE_BLOCKED;
					}
				if (outcome.phase == KEELSON_PHASE_BLOCKED)
					blocked_text(outcome.error, sizeof(outcome.error), &cs);
			}
			if (reported)
				sys_ok = false;
		}
		if (!stopping(r))
			report_system(r, cluster, sys, &cs, &outcome);
		cJSON_Delete(inventory_cm);
		keelson_change_set_dispose(&cs);
		mark->converged = sys_ok && !stopping(r);
		if (!sys_ok)
			all = false;
	}
	free(order);
	/* A CRD applied in this cycle serves its kind now: watch it within this
	 * cycle, not one drift-check interval later when the cluster is idle. */
	if (rep->applied > applied_before && !stopping(r) && cache_types(s, cluster) < 0)
		keelson_log(KEELSON_LOG_WARN, "watching newly served types failed; will retry", "cluster", cluster->name,
			    "error", keelson_error_last()->message, (const char *)NULL);
	if (stopping(r))
		all = false;
	*cluster_converged = all;
	if (all)
		keelson_metrics_set_last_sync(NULL, cluster->name, time(NULL));
	s->generation_seen = session_generation(s);
	return 0;
}

static int cycle(struct keelson_cycle_report *out, struct keelson_reconciler *r, bool full)
{
	memset(out, 0, sizeof(*out));
	int rc = poll_git(out, r);
	if (rc < 0)
		return rc;
	snprintf(out->revision, sizeof(out->revision), "%s", r->sha);
	if (r->state == NULL) {
		keelson_log(KEELSON_LOG_ERROR, "no valid revision yet; nothing applied", "url",
			    keelson_git_source_display_url(r->git), "ref", r->cfg->git_ref, (const char *)NULL);
		return 0;
	}
	/* Nothing new in Git and no cached object changed since the last
	 * converged cycle: there is nothing to recompute. */
	if (!full && !out->new_revision && !r->rejection_unreported && strcmp(r->converged_sha, r->sha) == 0) {
		bool changed = false;
		for (size_t i = 0; i < r->session_count; i++)
			if (session_generation(&r->sessions[i]) != r->sessions[i].generation_seen)
				changed = true;
		if (!changed) {
			out->skipped = true;
			out->converged = !out->revision_rejected;
			return 0;
		}
	}
	/* A cycle caused only by a new commit diffs the systems it changed;
	 * a system it left alone converged at its revision and nothing in the
	 * cache moved since, so there is nothing new to compare. A drift
	 * check (full) or a watch event compares everything. */
	bool only_changed = !full && out->new_revision && !r->rejection_unreported;
	for (size_t i = 0; i < r->session_count && only_changed; i++)
		if (session_generation(&r->sessions[i]) != r->sessions[i].generation_seen)
			only_changed = false;
	bool converged = true;
	size_t managed = 0;
	for (size_t i = 0; i < r->state->cluster_count && !stopping(r); i++) {
		const struct keelson_cluster *cluster = &r->state->clusters[i];
		const struct keelson_config_cluster *cc = keelson_config_cluster(r->cfg, cluster->name);
		if (cc == NULL) {
			keelson_log(KEELSON_LOG_DEBUG, "cluster not managed by this instance (not in the configuration)",
				    "cluster", cluster->name, (const char *)NULL);
			continue;
		}
		managed++;
		bool ok = false;
		if ((rc = reconcile_cluster(out, r, cluster, cc, only_changed, &ok)) < 0)
			return rc;
		if (!ok)
			converged = false;
	}
	for (size_t i = 0; i < r->cfg->cluster_count; i++)
		if (keelson_desired_state_cluster(r->state, r->cfg->clusters[i].name) == NULL) {
			keelson_log(KEELSON_LOG_WARN, "configured cluster is not in the repository", "cluster",
				    r->cfg->clusters[i].name, "revision", r->sha, (const char *)NULL);
		}
	if (managed == 0) {
		keelson_log(KEELSON_LOG_ERROR, "none of the configured clusters is in the repository", "revision", r->sha,
			    (const char *)NULL);
		converged = false;
	}
	if (stopping(r))
		converged = false;
	else
		r->rejection_unreported = false;
	out->converged = converged && !out->revision_rejected && !out->git_failed;
	if (converged)
		snprintf(r->converged_sha, sizeof(r->converged_sha), "%s", r->sha);
	else
		r->converged_sha[0] = '\0';
	r->last_full_ms = now_ms();
	char diffed[32], unchanged[32];
	snprintf(diffed, sizeof(diffed), "%zu", out->systems_diffed);
	snprintf(unchanged, sizeof(unchanged), "%zu", out->systems_unchanged);
	keelson_log(out->converged ? KEELSON_LOG_INFO : KEELSON_LOG_WARN, "reconcile cycle done", "revision", r->sha,
		    "converged", out->converged ? "true" : "false", "systemsDiffed", diffed, "systemsUnchanged",
		    unchanged, (const char *)NULL);
	return 0;
}

int keelson_reconciler_cycle(struct keelson_cycle_report *out, struct keelson_reconciler *r, bool full)
{
	long started = now_ms();
	int rc = cycle(out, r, full);
	/* A cycle that loaded a revision or applied objects leaves glibc with
	 * free pages it keeps for later: 28 MiB of 142 MiB at 10,000 objects
	 * (bench/RESULTS.md, steady-state RSS). Hand them back. */
	if (rc == 0 && !out->skipped && (out->new_revision || out->applied > 0 || out->steps_run > 0))
		malloc_trim(0);
	if (rc == 0)
		keelson_metrics_record_reconcile(NULL, seconds_since(started),
						 out->skipped     ? "skipped"
						 : out->converged ? "converged"
								  : "not_converged");
	return rc;
}

int keelson_reconciler_wait(struct keelson_reconciler *r, long max_wait_ms, const volatile sig_atomic_t *wake)
{
	long deadline = now_ms() + max_wait_ms;
	for (;;) {
		if (stopping(r) || (wake != NULL && *wake))
			return 0;
		for (size_t i = 0; i < r->session_count; i++)
			if (session_generation(&r->sessions[i]) != r->sessions[i].generation_seen)
				return 2;
		if (r->nudge != NULL && keelson_nudge_take(r->nudge) > 0)
			return 1;
		long left = deadline - now_ms();
		if (left <= 0)
			return 0;
		enum keelson_git_trigger_reason why;
		/* Short slices: signals and cache changes are noticed within 200 ms. */
		int slice = left < 200 ? (int)left : 200;
		/* A network remote with webhooks: block on the nudge, which a
		 * push wakes at once (looking at it only between the trigger's
		 * slices added 0-200 ms to every webhook push), up to the next
		 * interval poll; then look at the trigger without waiting. A
		 * local repository keeps the trigger's own wait (inotify). */
		if (r->nudge != NULL && keelson_git_source_local_path(r->git) == NULL) {
			long due = keelson_git_trigger_next_due_ms(r->trigger);
			if (due >= 0 && due < slice)
				slice = (int)due;
			if (keelson_nudge_wait(r->nudge, slice) > 0)
				return 1;
			slice = 0;
		}
		if (keelson_git_trigger_wait(&why, r->trigger, slice) == 0 && why != KEELSON_GIT_TRIGGER_TIMEOUT)
			return 1;
	}
}
