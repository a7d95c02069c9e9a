/*
 * The step executor (see executor.h for what is persisted and why).
 */
#include "config.h"

#include "plugin/executor.h"

#include "core/error.h"
#include "core/log.h"
#include "json/json_canonical.h"
#include "kube/kube_client.h"
#include "layout/layout.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BACKOFF_ENTRIES 1024
/* A step that succeeds this many times in a row without leaving the plan
 * has no effect: stop instead of repeating it forever. */
#define MAX_NO_EFFECT_REPEATS 3
#define MAX_STATE_BYTES 65536

struct backoff {
	char *id;            /* "cluster/system" */
	long long until_ms;
	unsigned failures;
};

struct keelson_executor {
	struct keelson_executor_options opts;
	struct backoff backoffs[MAX_BACKOFF_ENTRIES];
	size_t backoff_count;
};

/* The persisted state of one system. */
struct state {
	char *desired;        /* fingerprint of the system's desired objects and parameters */
	char *revision;       /* the Git revision last seen, for people */
	bool blocked;
	char *reason;
	long long blocked_at;
	char *wait_key;
	long long wait_since;
	char *step_key;       /* the step last started */
	long long attempts;   /* failed or unfinished attempts of step_key */
	char *done_key;       /* the step that last succeeded */
	long long done_count; /* consecutive successes of done_key */
};

void keelson_executor_options_init(struct keelson_executor_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_EXECUTOR_OPTIONS_VERSION;
	opts->default_wait_timeout_ms = 300000;
	opts->max_attempts = 5;
	opts->backoff_initial_ms = 1000;
	opts->backoff_max_ms = 300000;
}

const char *keelson_exec_outcome_name(enum keelson_exec_outcome outcome)
{
	switch (outcome) {
	case KEELSON_EXEC_CONVERGED: return "converged";
	case KEELSON_EXEC_RAN: return "ran";
	case KEELSON_EXEC_WAITING: return "waiting";
	case KEELSON_EXEC_BLOCKED: return "blocked";
	case KEELSON_EXEC_FAILED: return "failed";
	case KEELSON_EXEC_BACKOFF: return "backoff";
	}
	return "unknown";
}

int keelson_executor_new(struct keelson_executor **out, const struct keelson_executor_options *opts)
{
	*out = NULL;
	if (opts == NULL || opts->version != KEELSON_EXECUTOR_OPTIONS_VERSION || opts->env == NULL ||
	    opts->store == NULL)
		return keelson_error_set(KEELSON_EINVALID,
			"executor options need version %d, an environment and a state store",
			KEELSON_EXECUTOR_OPTIONS_VERSION);
	struct keelson_executor *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory creating the executor");
	e->opts = *opts;
	if (e->opts.default_wait_timeout_ms <= 0)
		e->opts.default_wait_timeout_ms = 300000;
	if (e->opts.max_attempts == 0)
		e->opts.max_attempts = 5;
	if (e->opts.backoff_initial_ms <= 0)
		e->opts.backoff_initial_ms = 1000;
	if (e->opts.backoff_max_ms < e->opts.backoff_initial_ms)
		e->opts.backoff_max_ms = e->opts.backoff_initial_ms;
	*out = e;
	return 0;
}

void keelson_executor_free(struct keelson_executor *exec)
{
	if (exec == NULL)
		return;
	for (size_t i = 0; i < exec->backoff_count; i++)
		free(exec->backoffs[i].id);
	free(exec);
}

static long long now_ms(const struct keelson_executor *e)
{
	return e->opts.env->now_ms(e->opts.env->payload);
}

static struct backoff *backoff_for(struct keelson_executor *e, const char *cluster, const char *system)
{
	char id[512];
	snprintf(id, sizeof(id), "%s/%s", cluster, system);
	for (size_t i = 0; i < e->backoff_count; i++)
		if (strcmp(e->backoffs[i].id, id) == 0)
			return &e->backoffs[i];
	if (e->backoff_count >= MAX_BACKOFF_ENTRIES)
		return NULL; /* more systems than that: no back-off memory, attempts still bound retries */
	struct backoff *b = &e->backoffs[e->backoff_count];
	if ((b->id = strdup(id)) == NULL)
		return NULL;
	e->backoff_count++;
	b->until_ms = 0;
	b->failures = 0;
	return b;
}

static void state_dispose(struct state *s)
{
	free(s->desired);
	free(s->revision);
	free(s->reason);
	free(s->wait_key);
	free(s->step_key);
	free(s->done_key);
	memset(s, 0, sizeof(*s));
}

static char *json_dup(const cJSON *obj, const char *name)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
	return v != NULL ? strdup(v) : NULL;
}

static long long json_ll(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static void state_from_json(struct state *s, const cJSON *j)
{
	memset(s, 0, sizeof(*s));
	if (j == NULL)
		return;
	s->desired = json_dup(j, "desired");
	s->revision = json_dup(j, "revision");
	s->blocked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "blocked"));
	s->reason = json_dup(j, "reason");
	s->blocked_at = json_ll(j, "blockedAt");
	s->wait_key = json_dup(j, "waitKey");
	s->wait_since = json_ll(j, "waitSince");
	s->step_key = json_dup(j, "stepKey");
	s->attempts = json_ll(j, "attempts");
	s->done_key = json_dup(j, "doneKey");
	s->done_count = json_ll(j, "doneCount");
}

static cJSON *state_to_json(const struct state *s)
{
	cJSON *j = cJSON_CreateObject();
	if (j == NULL)
		return NULL;
	cJSON_AddStringToObject(j, "desired", s->desired ? s->desired : "");
	cJSON_AddStringToObject(j, "revision", s->revision ? s->revision : "");
	cJSON_AddBoolToObject(j, "blocked", s->blocked);
	if (s->reason)
		cJSON_AddStringToObject(j, "reason", s->reason);
	if (s->blocked)
		cJSON_AddNumberToObject(j, "blockedAt", (double)s->blocked_at);
	if (s->wait_key) {
		cJSON_AddStringToObject(j, "waitKey", s->wait_key);
		cJSON_AddNumberToObject(j, "waitSince", (double)s->wait_since);
	}
	if (s->step_key) {
		cJSON_AddStringToObject(j, "stepKey", s->step_key);
		cJSON_AddNumberToObject(j, "attempts", (double)s->attempts);
	}
	if (s->done_key) {
		cJSON_AddStringToObject(j, "doneKey", s->done_key);
		cJSON_AddNumberToObject(j, "doneCount", (double)s->done_count);
	}
	return j;
}

static int save(struct keelson_executor *e, const char *cluster, const char *system, const struct state *s)
{
	cJSON *j = state_to_json(s);
	if (j == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory saving the state of %s", system);
	int rc = e->opts.store->save(e->opts.store->payload, cluster, system, j);
	cJSON_Delete(j);
	if (rc != 0)
		return keelson_error_wrap(rc, "saving the rollout state of %s/%s", cluster, system);
	return 0;
}

static void replace(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? strdup(value) : NULL;
}

static int block(struct keelson_exec_result *out, struct keelson_executor *e, struct state *s,
		 const char *cluster, const char *system, const char *reason)
{
	s->blocked = true;
	replace(&s->reason, reason);
	s->blocked_at = now_ms(e);
	int rc = save(e, cluster, system, s);
	if (rc != 0)
		return rc;
	keelson_log(KEELSON_LOG_ERROR, "system blocked: no further step runs until its desired state changes",
		    "cluster", cluster, "system", system, "reason", reason, NULL);
	if (e->opts.on_blocked != NULL)
		e->opts.on_blocked(e->opts.on_blocked_payload, cluster, system, reason);
	out->outcome = KEELSON_EXEC_BLOCKED;
	snprintf(out->description, sizeof(out->description), "%s", reason);
	return 0;
}

/* A delete with a UID precondition answered 409: done only when the
 * incarnation the plan observed is really gone (404) or replaced (another
 * UID). kube-apiserver answers such a delete 409 only on a UID mismatch,
 * but the 409 itself is not proof (an aggregated API server or a proxy
 * may answer Conflict for other reasons, and the step would then be
 * counted done without anything deleted), so it is re-read: when the
 * observed UID is still there, or the read fails, the step failed and is
 * retried with backoff (fail closed). */
static int delete_conflict_outcome(struct keelson_kube_client *client, const char *api_version, const char *kind,
				   const char *ns, const char *name, const char *uid)
{
	char conflict[512];
	snprintf(conflict, sizeof(conflict), "%s", keelson_error_last()->message);
	cJSON *live = NULL;
	int rc = keelson_kube_get(&live, client, api_version, kind, ns, name);
	if (rc == KEELSON_ENOTFOUND)
		return 0;
	if (rc < 0)
		return keelson_error_wrap(rc, "delete of %s %s/%s answered 409 (%s) and the re-read failed", kind,
					  ns ? ns : "", name, conflict);
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(live, "metadata");
	const cJSON *live_uid = cJSON_GetObjectItemCaseSensitive(meta, "uid");
	bool same = uid == NULL || (cJSON_IsString(live_uid) && strcmp(live_uid->valuestring, uid) == 0);
	cJSON_Delete(live);
	if (!same)
		return 0;
	return keelson_error_set(KEELSON_ECONFLICT,
				 "delete of %s %s/%s answered 409 but uid %s is still there (%s); retrying", kind,
				 ns ? ns : "", name, uid ? uid : "(none)", conflict);
}

/* Run an acting step. 0 when done (or already done: the pod is gone or
 * was replaced), else an error with the message set. */
static int run_step(struct keelson_executor *e, const char *cluster, const char *system,
		    const struct keelson_plan_step *st)
{
	if (st->kind == KEELSON_STEP_APPLY && e->opts.apply != NULL)
		return e->opts.apply(e->opts.apply_payload, cluster, system, st->object);
	struct keelson_kube_client *client = e->opts.client;
	if (client == NULL)
		return keelson_error_set(KEELSON_ERROR, "no Kubernetes client to run \"%s\"", st->description);
	int rc = 0;
	cJSON *result = NULL;
	switch (st->kind) {
	case KEELSON_STEP_APPLY:
		rc = keelson_kube_apply(&result, client, st->object, NULL);
		break;
	case KEELSON_STEP_PATCH: {
		struct keelson_kube_write_options wo;
		keelson_kube_write_options_init(&wo);
		wo.subresource = st->subresource;
		rc = keelson_kube_patch(&result, client, st->api_version, st->kind_name, st->namespace_, st->name,
					(enum keelson_kube_patch_type)st->patch_type, st->patch, &wo);
		break;
	}
	case KEELSON_STEP_DELETE_POD: {
		struct keelson_kube_delete_options opts;
		keelson_kube_delete_options_init(&opts);
		opts.grace_period_seconds = st->grace_seconds < 0 ? -1 : (long)st->grace_seconds;
		opts.precondition_uid = st->precondition_uid;
		rc = keelson_kube_delete(client, "v1", "Pod", st->namespace_, st->name, &opts);
		/* Gone, or another incarnation (the UID precondition failed):
		 * this pod was restarted already; the next plan sees it. */
		if (rc == KEELSON_ENOTFOUND)
			rc = 0;
		else if (rc == KEELSON_ECONFLICT)
			rc = delete_conflict_outcome(client, "v1", "Pod", st->namespace_, st->name,
						     st->precondition_uid);
		break;
	}
	case KEELSON_STEP_DELETE: {
		struct keelson_kube_delete_options opts;
		keelson_kube_delete_options_init(&opts);
		opts.precondition_uid = st->precondition_uid;
		opts.propagation = strcmp(st->propagation, "Orphan") == 0 ? KEELSON_KUBE_PROPAGATION_ORPHAN
				 : strcmp(st->propagation, "Foreground") == 0 ? KEELSON_KUBE_PROPAGATION_FOREGROUND
				 : KEELSON_KUBE_PROPAGATION_BACKGROUND;
		rc = keelson_kube_delete(client, st->api_version, st->kind_name, st->namespace_, st->name, &opts);
		if (rc == KEELSON_ENOTFOUND) {
			rc = 0; /* gone already: what the step wanted */
		} else if (rc == KEELSON_ECONFLICT &&
			   (rc = delete_conflict_outcome(client, st->api_version, st->kind_name, st->namespace_,
							 st->name, st->precondition_uid)) == 0) {
			/* Another incarnation (the UID precondition failed): the
			 * plan was made from an older observation. Nothing was
			 * deleted; the next cycle plans from what is there now. */
			keelson_log(KEELSON_LOG_INFO, "delete skipped: the object was re-created since the plan "
				    "observed it; re-planning", "cluster", cluster, "system", system, "kind",
				    st->kind_name, "name", st->name, "uid", st->precondition_uid, NULL);
		}
		break;
	}
	case KEELSON_STEP_HTTP: {
		struct keelson_kube_response resp = {0};
		rc = keelson_kube_proxy(&resp, client,
					st->http_target == KEELSON_PROXY_SERVICE ? KEELSON_KUBE_PROXY_SERVICE
										 : KEELSON_KUBE_PROXY_POD,
					st->namespace_, st->name, st->http_port, st->http_method, st->http_path,
					st->http_body, st->http_body ? strlen(st->http_body) : 0,
					st->timeout_ms > 0 ? (long)st->timeout_ms : 10000);
		keelson_kube_response_dispose(&resp);
		break;
	}
	case KEELSON_STEP_WAIT:
	case KEELSON_STEP_BLOCKED:
		break;
	}
	cJSON_Delete(result);
	return rc;
}

/* FNV-1a: the fingerprint only tells "the system's desired state changed",
 * it guards nothing against an adversary. */
static void hash_bytes(uint64_t *h, const char *s)
{
	for (; s != NULL && *s; s++) {
		*h ^= (unsigned char)*s;
		*h *= 1099511628211ULL;
	}
	*h ^= 0xff; /* separator: "ab"+"c" differs from "a"+"bc" */
	*h *= 1099511628211ULL;
}

static int hash_json(uint64_t *h, const cJSON *value)
{
	char *text = keelson_json_canonical(value);
	if (text == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory fingerprinting the desired state");
	hash_bytes(h, text);
	free(text);
	return 0;
}

static void hash_params(uint64_t *h, const struct keelson_plugin_params *params)
{
	char number[32];
	for (size_t i = 0; params != NULL && i < params->count; i++) {
		const struct keelson_param_value *v = &params->values[i];
		hash_bytes(h, v->name);
		snprintf(number, sizeof(number), "%d:%lld", v->is_set, v->integer);
		hash_bytes(h, number);
		hash_bytes(h, v->string);
		for (size_t j = 0; j < v->list_count; j++)
			hash_bytes(h, v->list[j]);
	}
}

static void fingerprint_text(char out[17], uint64_t h)
{
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void copy_field(char *dst, size_t size, const char *value)
{
	snprintf(dst, size, "%s", value != NULL ? value : "");
}

/* The step's kind and the object it acts on. */
static void result_target(struct keelson_exec_result *out, const struct keelson_plan_step *st)
{
	copy_field(out->step_kind, sizeof(out->step_kind), keelson_step_kind_name(st->kind));
	copy_field(out->gate, sizeof(out->gate), st->gate);
	const char *api_version = st->api_version, *kind = st->kind_name, *ns = st->namespace_, *name = st->name;
	/* The host fills an APPLY step's target from its object. */
	if (st->kind == KEELSON_STEP_DELETE_POD) {
		api_version = "v1";
		kind = "Pod";
	} else if (st->kind == KEELSON_STEP_HTTP && (kind == NULL || *kind == '\0') && name != NULL) {
		api_version = "v1";
		kind = st->http_target == KEELSON_PROXY_SERVICE ? "Service" : "Pod";
	}
	if (name == NULL || *name == '\0')
		api_version = kind = ns = name = NULL;
	copy_field(out->target_api_version, sizeof(out->target_api_version), api_version);
	copy_field(out->target_kind, sizeof(out->target_kind), kind);
	copy_field(out->target_namespace, sizeof(out->target_namespace), ns);
	copy_field(out->target_name, sizeof(out->target_name), name);
}

static int cycle(struct keelson_exec_result *out, struct keelson_executor *e, const struct keelson_plugin *plugin,
		 const struct keelson_plugin_params *params, const char *cluster, const char *system,
		 const char *revision, const char *fingerprint, const struct keelson_plan_object *objects,
		 size_t object_count, const char *observe_error)
{
	memset(out, 0, sizeof(*out));
	revision = revision != NULL ? revision : "";
	long long now = now_ms(e);
	struct backoff *b = backoff_for(e, cluster, system);
	if (b != NULL && now < b->until_ms) {
		out->outcome = KEELSON_EXEC_BACKOFF;
		out->backoff_ms = b->until_ms - now;
		snprintf(out->description, sizeof(out->description), "retrying in %lld ms", out->backoff_ms);
		return 0;
	}

	cJSON *saved = NULL;
	int rc = e->opts.store->load(&saved, e->opts.store->payload, cluster, system);
	if (rc != 0)
		return keelson_error_wrap(rc, "reading the rollout state of %s/%s", cluster, system);
	struct state s;
	state_from_json(&s, saved);
	cJSON_Delete(saved);
	struct keelson_plan *plan = NULL;

	if (s.desired == NULL || strcmp(s.desired, fingerprint) != 0) {
		/* The system's desired state changed (a commit that touches only
		 * other systems does not count): a new rollout, an old block no
		 * longer applies, and waits start afresh. */
		if (s.blocked)
			keelson_log(KEELSON_LOG_INFO, "desired state changed: clearing the blocked state", "cluster",
				    cluster, "system", system, "revision", revision, NULL);
		state_dispose(&s);
		s.desired = strdup(fingerprint);
		if (s.desired == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto done;
		}
	}
	replace(&s.revision, revision);
	if (s.blocked) {
		out->outcome = KEELSON_EXEC_BLOCKED;
		snprintf(out->description, sizeof(out->description), "%s", s.reason ? s.reason : "blocked");
		goto done;
	}
	if (observe_error != NULL) {
		rc = 0;
		out->outcome = KEELSON_EXEC_FAILED;
		snprintf(out->description, sizeof(out->description), "observing: %s", observe_error);
		goto failed;
	}

	if (keelson_plugin_plan(&plan, plugin, &(struct keelson_plan_input){
			.cluster = cluster, .system = system, .revision = revision, .objects = objects,
			.object_count = object_count, .params = params, .env = e->opts.env}) != 0) {
		char reason[512];
		snprintf(reason, sizeof(reason), "%s", keelson_error_last()->message);
		rc = block(out, e, &s, cluster, system, reason);
		goto done;
	}
	out->steps_left = plan->count;
	if (plan->count == 0) {
		out->outcome = KEELSON_EXEC_CONVERGED;
		snprintf(out->description, sizeof(out->description), "converged");
		if (s.wait_key || s.step_key || s.done_key) {
			replace(&s.wait_key, NULL);
			replace(&s.step_key, NULL);
			replace(&s.done_key, NULL);
			s.attempts = s.done_count = 0;
			rc = save(e, cluster, system, &s);
		}
		if (b != NULL)
			b->failures = 0;
		goto done;
	}

	const struct keelson_plan_step *st = &plan->steps[0];
	snprintf(out->description, sizeof(out->description), "%s", st->description);
	result_target(out, st);
	if (st->kind == KEELSON_STEP_BLOCKED) {
		rc = block(out, e, &s, cluster, system, st->reason);
		goto done;
	}
	if (st->kind == KEELSON_STEP_WAIT) {
		long long timeout = st->timeout_ms > 0 ? st->timeout_ms : e->opts.default_wait_timeout_ms;
		if (s.wait_key == NULL || strcmp(s.wait_key, st->key) != 0) {
			replace(&s.wait_key, st->key);
			s.wait_since = now;
			rc = save(e, cluster, system, &s);
		} else if (now - s.wait_since >= timeout) {
			char reason[768];
			snprintf(reason, sizeof(reason), "timed out after %llds: %s", timeout / 1000, st->description);
			rc = block(out, e, &s, cluster, system, reason);
			goto done;
		}
		out->outcome = KEELSON_EXEC_WAITING;
		goto done;
	}

	/* An acting step: record the attempt before acting, so a keelson
	 * killed during the step counts it after the restart. */
	if (s.step_key != NULL && strcmp(s.step_key, st->key) == 0) {
		s.attempts++;
	} else {
		replace(&s.step_key, st->key);
		s.attempts = 1;
	}
	/* Deleting the same pod or object again (a cache that has not seen
	 * the first delete yet, an orphaning delete waiting for the garbage
	 * collector) is harmless, and the UID precondition bounds it. */
	if (st->kind != KEELSON_STEP_DELETE_POD && st->kind != KEELSON_STEP_DELETE && s.done_key != NULL && strcmp(s.done_key, st->key) == 0 &&
	    s.done_count >= MAX_NO_EFFECT_REPEATS) {
		char reason[768];
		snprintf(reason, sizeof(reason), "step ran %lld times without effect: %s", s.done_count,
			 st->description);
		rc = block(out, e, &s, cluster, system, reason);
		goto done;
	}
	if (s.attempts > (long long)e->opts.max_attempts) {
		char reason[768];
		snprintf(reason, sizeof(reason), "step failed %lld times: %s", s.attempts - 1, st->description);
		rc = block(out, e, &s, cluster, system, reason);
		goto done;
	}
	replace(&s.wait_key, NULL);
	if ((rc = save(e, cluster, system, &s)) != 0)
		goto done;
	keelson_log(KEELSON_LOG_INFO, "running step", "cluster", cluster, "system", system, "plugin", plugin->name,
		    "step", keelson_step_kind_name(st->kind), "description", st->description, NULL);
	if (run_step(e, cluster, system, st) != 0) {
		keelson_log(KEELSON_LOG_WARN, "step failed", "cluster", cluster, "system", system, "description",
			    st->description, "error", keelson_error_last()->message, NULL);
		out->outcome = KEELSON_EXEC_FAILED;
		snprintf(out->description, sizeof(out->description), "%s: %s", st->description,
			 keelson_error_last()->message);
		goto failed;
	}
	if (s.done_key != NULL && strcmp(s.done_key, st->key) == 0) {
		s.done_count++;
	} else {
		replace(&s.done_key, st->key);
		s.done_count = 1;
	}
	replace(&s.step_key, NULL);
	s.attempts = 0;
	rc = save(e, cluster, system, &s);
	out->outcome = KEELSON_EXEC_RAN;
	if (b != NULL)
		b->failures = 0;
	goto done;

failed:
	if (b != NULL) {
		long long delay = e->opts.backoff_initial_ms;
		for (unsigned i = 0; i < b->failures && delay < e->opts.backoff_max_ms; i++)
			delay *= 2;
		if (delay > e->opts.backoff_max_ms)
			delay = e->opts.backoff_max_ms;
		b->failures++;
		b->until_ms = now + delay;
		out->backoff_ms = delay;
	}
done:
	keelson_plan_free(plan);
	state_dispose(&s);
	return rc;
}

int keelson_executor_cycle_objects(struct keelson_exec_result *out, struct keelson_executor *exec,
				   const struct keelson_plugin *plugin, const struct keelson_plugin_params *params,
				   const char *cluster, const char *system, const char *revision,
				   const struct keelson_plan_object *objects, size_t object_count)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < object_count; i++)
		if (hash_json(&h, objects[i].desired) != 0)
			return KEELSON_ENOMEM;
	hash_params(&h, params);
	char fingerprint[17];
	fingerprint_text(fingerprint, h);
	return cycle(out, exec, plugin, params, cluster, system, revision, fingerprint, objects, object_count, NULL);
}

int keelson_executor_cycle(struct keelson_exec_result *out, struct keelson_executor *exec,
			   const struct keelson_plugin *plugin, const struct keelson_plugin_params *params,
			   const char *cluster, const struct keelson_system *system, const char *revision,
			   const struct keelson_diff_options *diff)
{
	struct keelson_plan_object *objects = NULL;
	size_t count = 0;
	const char *observe_error = NULL;
	char why[512];
	if (keelson_plan_objects_build(&objects, &count, system, exec->opts.env, diff) != 0) {
		snprintf(why, sizeof(why), "%s", keelson_error_last()->message);
		observe_error = why;
	}
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < system->object_count; i++) {
		if (hash_json(&h, system->objects[i].body) != 0) {
			keelson_plan_objects_free(objects, count);
			return KEELSON_ENOMEM;
		}
	}
	hash_params(&h, params);
	char fingerprint[17];
	fingerprint_text(fingerprint, h);
	int rc = cycle(out, exec, plugin, params, cluster, system->name, revision, fingerprint, objects, count,
		       observe_error);
	keelson_plan_objects_free(objects, count);
	return rc;
}

/* --- State in a ConfigMap ----------------------------------------------------- */

static void configmap_name(char *out, size_t size, const char *cluster, const char *system)
{
	snprintf(out, size, "keelson-rollout-%s-%s", cluster, system);
}

static int kube_load(cJSON **out, void *payload, const char *cluster, const char *system)
{
	struct keelson_executor_kube_store *k = payload;
	*out = NULL;
	char name[254];
	configmap_name(name, sizeof(name), cluster, system);
	cJSON *cm = NULL;
	int rc = keelson_kube_get(&cm, k->client, "v1", "ConfigMap", k->ns, name);
	if (rc == KEELSON_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	const char *text = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cm, "data"), "state"));
	size_t len = text != NULL ? strlen(text) : 0;
	if (text != NULL && len <= MAX_STATE_BYTES)
		*out = cJSON_Parse(text);
	cJSON_Delete(cm);
	/* Unreadable state could hide a block: fail closed. */
	if (len > MAX_STATE_BYTES)
		return keelson_error_set(KEELSON_ELIMIT,
			"ConfigMap %s/%s: data.state is %zu bytes, more than the %d a rollout state may have; "
			"delete the ConfigMap (this clears a blocked state)", k->ns, name,
			len, MAX_STATE_BYTES);
	if (text != NULL && *out == NULL)
		return keelson_error_set(KEELSON_EINVALID,
			"ConfigMap %s/%s has an unreadable data.state; fix or delete it (deleting clears a "
			"blocked state)", k->ns, name);
	return 0;
}

static int kube_save(void *payload, const char *cluster, const char *system, const cJSON *state)
{
	struct keelson_executor_kube_store *k = payload;
	char name[254];
	configmap_name(name, sizeof(name), cluster, system);
	char *text = cJSON_PrintUnformatted(state);
	size_t len = text != NULL ? strlen(text) : 0;
	if (len > MAX_STATE_BYTES) {
		/* Written, it could not be read back: the system would stop. The
		 * state saved before stays in force instead. */
		free(text);
		return keelson_error_set(KEELSON_ELIMIT,
			"the rollout state of %s/%s is %zu bytes, more than the %d allowed; ConfigMap %s/%s "
			"keeps the previous state", cluster, system, len, MAX_STATE_BYTES, k->ns, name);
	}
	cJSON *cm = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(cm, "metadata");
	cJSON *labels = cJSON_AddObjectToObject(md, "labels");
	cJSON *data = cJSON_AddObjectToObject(cm, "data");
	if (text == NULL || labels == NULL || data == NULL) {
		free(text);
		cJSON_Delete(cm);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	cJSON_AddStringToObject(cm, "apiVersion", "v1");
	cJSON_AddStringToObject(cm, "kind", "ConfigMap");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", k->ns);
	cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", "keelson");
	cJSON_AddStringToObject(labels, "keelson.dev/cluster", cluster);
	cJSON_AddStringToObject(labels, "keelson.dev/system", system);
	cJSON_AddStringToObject(data, "state", text);
	free(text);
	struct keelson_kube_write_options opts;
	keelson_kube_write_options_init(&opts);
	opts.field_manager = "keelson-executor";
	opts.force = true;
	cJSON *result = NULL;
	int rc = keelson_kube_apply(&result, k->client, cm, &opts);
	cJSON_Delete(result);
	cJSON_Delete(cm);
	return rc;
}

void keelson_executor_store_kube(struct keelson_executor_kube_store *out, struct keelson_kube_client *client,
				 const char *ns)
{
	out->client = client;
	snprintf(out->ns, sizeof(out->ns), "%s", ns);
	out->store = (struct keelson_executor_store){.payload = out, .load = kube_load, .save = kube_save};
}
