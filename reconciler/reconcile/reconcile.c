/*
 * The reconcile cycle. See reconcile.h.
 */
#include "config.h"

#include "core/error.h"
#include "core/log.h"
#include "diff/diff.h"
#include "git/git_source.h"
#include "git/git_trigger.h"
#include "kube/kube_cache.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "layout/layout.h"
#include "reconcile/generic_apply.h"
#include "reconcile/inventory.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SYNC_TIMEOUT_MS 30000
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
};

struct alert_mark {
	char *key;
	long at_ms;
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
	char rejected_sha[41];               /* newest invalid revision, reported once */
	char converged_sha[41];              /* state's sha when the last cycle converged */
	struct session *sessions;
	size_t session_count;
	long last_full_ms;
	unsigned trigger_interval_ms;
	/* Drift reported under driftPolicy alert: the same drift is not
	 * reported again before the system's alertRepeatInterval. */
	struct alert_mark *alerts;
	size_t alert_count;
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void session_dispose(struct session *s)
{
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
	keelson_git_trigger_free(r->trigger);
	keelson_git_source_free(r->git);
	free(r);
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

static int poll_git(struct keelson_cycle_report *rep, struct keelson_reconciler *r)
{
	struct keelson_git_revision rev;
	bool changed = false;
	int rc = keelson_git_source_poll(&rev, &changed, r->git);
	if (rc < 0) {
		rep->git_failed = true;
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
		rep->revision_rejected = true;
		return 0;
	}
	keelson_desired_state_free(r->state);
	r->state = state;
	snprintf(r->sha, sizeof(r->sha), "%s", rev.sha);
	r->rejected_sha[0] = '\0';
	rep->new_revision = true;
	follow_repository_poll_interval(r);
	keelson_log(KEELSON_LOG_INFO, "new revision", "revision", rev.sha, "author", rev.author, "subject",
		    rev.subject, (const char *)NULL);
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

/* Cache every type the cluster's objects use, plus ConfigMaps (inventories).
 * A type the server does not serve yet (its CRD comes later) is retried on
 * the next cycle. */
static int cache_types(struct session *s, const struct keelson_cluster *cluster)
{
	bool added = false;
	for (size_t i = 0; i <= cluster->object_count; i++) {
		const char *av = "v1", *kind = "ConfigMap";
		if (i < cluster->object_count) {
			/* objects are per system; walk them in order */
			size_t k = i;
			for (size_t j = 0; j < cluster->system_count; j++) {
				if (k < cluster->systems[j].object_count) {
					av = cluster->systems[j].objects[k].api_version;
					kind = cluster->systems[j].objects[k].kind;
					break;
				}
				k -= cluster->systems[j].object_count;
			}
		}
		struct cached_type *t = find_type(s, av, kind);
		if (t != NULL && t->cached)
			continue;
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
			continue;
		}
		if (rc < 0)
			return keelson_error_wrap(rc, "watching %s %s in cluster %s", av, kind, cluster->name);
		t->cached = true;
		added = true;
	}
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
		rc = keelson_diff_object(&c->diff, o, live, &dopts);
		cJSON_Delete(live);
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
	return keelson_kube_cache_generation(s->cache);
}

static bool stopping(const struct keelson_reconciler *r)
{
	return r->stop != NULL && *r->stop;
}

static int reconcile_cluster(struct keelson_cycle_report *rep, struct keelson_reconciler *r,
			     const struct keelson_cluster *cluster, const struct keelson_config_cluster *cc,
			     bool *cluster_converged)
{
	struct session *s = NULL;
	int rc = open_session(&s, r, cluster, cc);
	*cluster_converged = false;
	if (rc == 0)
		rc = cache_types(s, cluster);
	if (rc < 0) {
		rep->clusters_failed++;
		keelson_log(KEELSON_LOG_ERROR, "cluster not reconciled; will retry", "cluster", cluster->name, "error",
			    keelson_error_last()->message, (const char *)NULL);
		return 0;
	}
	bool all = true;
	for (size_t i = 0; i < cluster->system_count && !stopping(r); i++) {
		const struct keelson_system *sys = &cluster->systems[i];
		struct elsewhere_ctx ectx = {.cluster = cluster, .system = sys};
		struct keelson_change_set cs = {
			.system = sys,
			.cluster = cluster->name,
			.revision = r->sha,
			.desired_elsewhere = desired_elsewhere,
			.payload = &ectx,
		};
		char inv_name[300];
		cJSON *inventory_cm = NULL;
		keelson_inventory_name(inv_name, sizeof(inv_name), cluster->name, sys->name);
		rc = keelson_kube_cache_get(&inventory_cm, s->cache, "v1", "ConfigMap", r->cfg->inventory_namespace,
					    inv_name);
		if (rc < 0 && rc != KEELSON_ENOTFOUND) {
			rep->clusters_failed++;
			all = false;
			keelson_log(KEELSON_LOG_ERROR, "reading the inventory from the cache failed", "cluster",
				    cluster->name, "system", sys->name, "error", keelson_error_last()->message,
				    (const char *)NULL);
			continue;
		}
		rc = build_change_set(r, &cs, rep, s, sys, inventory_cm, r->sha);
		if (rc == KEELSON_ENOMEM) {
			cJSON_Delete(inventory_cm);
			keelson_change_set_dispose(&cs);
			return rc;
		}
		if (rc < 0) {
			rep->failed++;
			all = false;
			keelson_log(KEELSON_LOG_ERROR, "system not reconciled; will retry", "cluster", cluster->name,
				    "system", sys->name, "error", keelson_error_last()->message, (const char *)NULL);
		} else {
			bool reported = false;
			for (size_t k = 0; k < cs.change_count; k++)
				if (cs.changes[k].action == KEELSON_CHANGE_REPORT)
					reported = true;
			if (keelson_change_set_needs_work(&cs, inventory_cm)) {
				/* Objects of other plugins come here too until the plugin host
				 * takes their change sets (generic owns everything for now). */
				struct keelson_apply_result res;
				rc = keelson_generic_apply(&res, &s->apply_ctx, &cs);
				if (rc == KEELSON_ENOMEM) {
					cJSON_Delete(inventory_cm);
					keelson_change_set_dispose(&cs);
					return rc;
				}
				rep->applied += res.applied;
				rep->pruned += res.pruned;
				rep->prune_held += res.prune_held;
				rep->blocked += res.blocked;
				rep->failed += res.failed + (rc < 0 ? 1 : 0);
				if (rc < 0 || !res.converged)
					all = false;
				if (res.applied || res.pruned || res.failed || res.blocked)
					keelson_log(KEELSON_LOG_INFO, "system reconciled", "cluster", cluster->name,
						    "system", sys->name, "revision", r->sha, "converged",
						    rc == 0 && res.converged ? "true" : "false", (const char *)NULL);
			} else {
				for (size_t k = 0; k < cs.change_count; k++)
					if (cs.changes[k].action == KEELSON_CHANGE_BLOCKED) {
						rep->blocked++;
						all = false;
					}
			}
			if (reported)
				all = false;
		}
		cJSON_Delete(inventory_cm);
		keelson_change_set_dispose(&cs);
	}
	if (stopping(r))
		all = false;
	*cluster_converged = all;
	s->generation_seen = session_generation(s);
	return 0;
}

int keelson_reconciler_cycle(struct keelson_cycle_report *out, struct keelson_reconciler *r, bool full)
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
	if (!full && !out->new_revision && strcmp(r->converged_sha, r->sha) == 0) {
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
		if ((rc = reconcile_cluster(out, r, cluster, cc, &ok)) < 0)
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
	out->converged = converged && !out->revision_rejected && !out->git_failed;
	if (converged)
		snprintf(r->converged_sha, sizeof(r->converged_sha), "%s", r->sha);
	else
		r->converged_sha[0] = '\0';
	r->last_full_ms = now_ms();
	keelson_log(out->converged ? KEELSON_LOG_INFO : KEELSON_LOG_WARN, "reconcile cycle done", "revision", r->sha,
		    "converged", out->converged ? "true" : "false", (const char *)NULL);
	return 0;
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
		long left = deadline - now_ms();
		if (left <= 0)
			return 0;
		enum keelson_git_trigger_reason why;
		/* Short slices: signals and cache changes are noticed within 200 ms. */
		if (keelson_git_trigger_wait(&why, r->trigger, left < 200 ? (int)left : 200) == 0 &&
		    why != KEELSON_GIT_TRIGGER_TIMEOUT)
			return 1;
	}
}
