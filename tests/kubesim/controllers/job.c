/*
 * Job controller (batch/v1), minimal: NonIndexed jobs run up to
 * `parallelism` pods at a time until `completions` pods Succeeded
 * (conditions SuccessCriteriaMet + Complete) or more than `backoffLimit`
 * failed (FailureTarget + Failed, reason BackoffLimitExceeded; restarts of
 * restartPolicy OnFailure pods count as failures). `suspend` deletes the
 * active pods. Pods finish through the kubelet's run-ms / exit-code / fail
 * annotations (controllers.h). Not simulated: indexed jobs, pod failure
 * policies, activeDeadlineSeconds, TTL, backoff delays.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "json/json_canonical.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/ctl_internal.h"
#include "tests/kubesim/controllers/ctl_util.h"

struct jobctl {
	const struct ks_resource_type *jobs, *pods;
	struct ks_ctl_map *dirty;
};

static const char *const job_resources[] = {"batch/jobs", "/pods", NULL};

static void job_mark(struct jobctl *c, const char *ns, const char *name)
{
	char key[600];
	if (!name)
		return;
	ks_ctl_key(key, sizeof(key), ns, name);
	ks_ctl_map_put(c->dirty, key, (void *)1);
}

static void job_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct jobctl *c = payload;
	if (ev->resource_type == c->jobs) {
		if (ev->type != KS_EVENT_DELETED)
			job_mark(c, ks_meta_string(ev->object, "namespace"),
				ks_meta_string(ev->object, "name"));
		return;
	}
	const cJSON *ref = ks_ctl_controller_ref(ev->object);
	const char *kind = ks_ctl_str(ks_ctl_at(ref, "kind", NULL));
	if (kind && !strcmp(kind, "Job"))
		job_mark(c, ks_meta_string(ev->object, "namespace"),
			ks_ctl_str(ks_ctl_at(ref, "name", NULL)));
}

static bool condition_true(const cJSON *job, const char *type)
{
	const char *v = ks_ctl_condition(cJSON_GetObjectItemCaseSensitive(job, "status"), type);
	return v && !strcmp(v, "True");
}

static void create_pod(struct jobctl *c, struct ks_store *store, const cJSON *job)
{
	const cJSON *tmpl = ks_ctl_at(job, "spec", "template", NULL);
	const char *name = ks_meta_string(job, "name");
	const char *uid = ks_meta_string(job, "uid");
	cJSON *pod = cJSON_CreateObject();
	cJSON_AddStringToObject(pod, "apiVersion", "v1");
	cJSON_AddStringToObject(pod, "kind", "Pod");
	cJSON *meta = cJSON_AddObjectToObject(pod, "metadata");
	char pname[300], prefix[260], suffix[8];
	ks_ctl_random_suffix(suffix, 5);
	snprintf(pname, sizeof(pname), "%.200s-%s", name, suffix);
	snprintf(prefix, sizeof(prefix), "%.200s-", name);
	cJSON_AddStringToObject(meta, "name", pname);
	cJSON_AddStringToObject(meta, "generateName", prefix);
	cJSON *labels = cJSON_Duplicate(ks_ctl_at(tmpl, "metadata", "labels", NULL), 1);
	if (!labels)
		labels = cJSON_CreateObject();
	ks_ctl_set_str(labels, "batch.kubernetes.io/controller-uid", uid);
	ks_ctl_set_str(labels, "batch.kubernetes.io/job-name", name);
	ks_ctl_set_str(labels, "controller-uid", uid);
	ks_ctl_set_str(labels, "job-name", name);
	cJSON_AddItemToObject(meta, "labels", labels);
	const cJSON *ann = ks_ctl_at(tmpl, "metadata", "annotations", NULL);
	if (ann)
		cJSON_AddItemToObject(meta, "annotations", cJSON_Duplicate(ann, 1));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"),
		ks_ctl_controller_ref_new(job, "batch/v1", "Job"));
	const cJSON *spec = ks_ctl_at(tmpl, "spec", NULL);
	cJSON_AddItemToObject(pod, "spec", spec ? cJSON_Duplicate(spec, 1) : cJSON_CreateObject());
	ks_store_create(store, c->pods, ks_meta_string(job, "namespace"), pod, NULL, NULL);
	cJSON_Delete(pod);
}

static void sync_job(struct jobctl *c, struct ks_store *store, const char *ns, const char *name)
{
	cJSON *job = NULL;
	if (ks_store_get(store, c->jobs, ns, name, &job))
		return;
	const char *uid = ks_meta_string(job, "uid");
	cJSON *pods = ks_ctl_list(store, c->pods, ns, ks_ctl_filter_controlled, (void *)uid);
	long long active = 0, ready = 0, succeeded = 0, failed = 0, terminating = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, pods) {
		const char *phase = ks_ctl_pod_phase(p);
		if (!strcmp(phase, "Succeeded"))
			succeeded++;
		else if (!strcmp(phase, "Failed"))
			failed++;
		else if (ks_ctl_terminating(p))
			terminating++;
		else {
			active++;
			if (ks_ctl_pod_ready(p))
				ready++;
		}
		const cJSON *cs;
		cJSON_ArrayForEach(cs, ks_ctl_at(p, "status", "containerStatuses", NULL))
			failed += ks_ctl_num(ks_ctl_at(cs, "restartCount", NULL), 0);
	}
	bool finished = condition_true(job, "Complete") || condition_true(job, "Failed");
	long long completions = ks_ctl_num(ks_ctl_at(job, "spec", "completions", NULL), 1);
	long long parallelism = ks_ctl_num(ks_ctl_at(job, "spec", "parallelism", NULL), 1);
	long long backoff = ks_ctl_num(ks_ctl_at(job, "spec", "backoffLimit", NULL), 6);
	bool suspended = ks_ctl_true(ks_ctl_at(job, "spec", "suspend", NULL));
	double now = ks_clock_now();
	char ts[KS_TIME_BUF];
	ks_clock_format(now, ts);

	const cJSON *old = cJSON_GetObjectItemCaseSensitive(job, "status");
	cJSON *status = cJSON_IsObject(old) ? cJSON_Duplicate(old, 1) : cJSON_CreateObject();
	bool kill_active = false;
	if (!finished && !ks_ctl_terminating(job)) {
		if (failed > backoff) {
			ks_ctl_set_condition(status, "FailureTarget", "True", "BackoffLimitExceeded",
				"Job has reached the specified backoff limit", now, true, false);
			ks_ctl_set_condition(status, "Failed", "True", "BackoffLimitExceeded",
				"Job has reached the specified backoff limit", now, true, false);
			kill_active = true;
		} else if (succeeded >= completions) {
			ks_ctl_set_condition(status, "SuccessCriteriaMet", "True", "CompletionsReached",
				"Reached expected number of succeeded pods", now, true, false);
			ks_ctl_set_condition(status, "Complete", "True", "CompletionsReached",
				"Reached expected number of succeeded pods", now, true, false);
			ks_ctl_set_str(status, "completionTime", ts);
			kill_active = true;
		} else if (suspended) {
			ks_ctl_set_condition(status, "Suspended", "True", "JobSuspended",
				"Job suspended", now, true, false);
			kill_active = true;
		} else {
			if (ks_ctl_condition(status, "Suspended"))
				ks_ctl_set_condition(status, "Suspended", "False", "JobResumed",
					"Job resumed", now, true, false);
			if (!cJSON_GetObjectItemCaseSensitive(status, "startTime"))
				ks_ctl_set_str(status, "startTime", ts);
			long long want = completions - succeeded;
			if (want > parallelism)
				want = parallelism;
			for (long long i = active; i < want; i++) {
				create_pod(c, store, job);
				active++;
			}
		}
	}
	if (kill_active) {
		cJSON_ArrayForEach(p, pods)
			if (!ks_ctl_pod_finished(p) && !ks_ctl_terminating(p))
				ks_ctl_delete(store, c->pods, ns, ks_meta_string(p, "name"),
					ks_meta_string(p, "uid"), KS_PROPAGATION_BACKGROUND, -1);
		active = 0;
		ready = 0;
	}
	ks_ctl_set_num(status, "active", (double)active);
	ks_ctl_set_num(status, "ready", (double)ready);
	ks_ctl_set_num(status, "succeeded", (double)succeeded);
	ks_ctl_set_num(status, "failed", (double)failed);
	ks_ctl_set_num(status, "terminating", (double)terminating);
	ks_ctl_set(status, "uncountedTerminatedPods", cJSON_CreateObject());
	if (!keelson_json_equal(old, status))
		ks_ctl_put_status(store, c->jobs, ns, name, uid, status);
	cJSON_Delete(status);
	cJSON_Delete(pods);
	cJSON_Delete(job);
}

static void job_tick(struct ks_store *store, void *payload)
{
	struct jobctl *c = payload;
	if (!ks_ctl_map_count(c->dirty))
		return;
	size_t n;
	char **keys = ks_ctl_map_keys(c->dirty, &n);
	for (size_t i = 0; i < n; i++) {
		ks_ctl_map_remove(c->dirty, keys[i]);
		char *slash = strchr(keys[i], '/');
		if (!slash)
			continue;
		*slash = '\0';
		sync_job(c, store, keys[i], slash + 1);
	}
	ks_ctl_keys_free(keys, n);
	ks_ctl_release_status();
}

static void job_stop(void *payload)
{
	struct jobctl *c = payload;
	ks_ctl_map_free(c->dirty);
	free(c);
}

int ks_ctl_job_start(struct ks_store *store, struct ks_controller **out)
{
	struct jobctl *c = calloc(1, sizeof(*c));
	if (!c)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the job controller");
	c->jobs = ks_store_type_find(store, "batch", "jobs");
	c->pods = ks_store_type_find(store, "", "pods");
	c->dirty = ks_ctl_map_new(NULL);
	if (!c->jobs || !c->pods || !c->dirty) {
		job_stop(c);
		return keelson_error_set(KEELSON_ERROR,
			"cannot start the job controller: the store lacks jobs or pods");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "job",
		.resources = job_resources,
		.on_event = job_event,
		.tick_ms = 10,
		.on_tick = job_tick,
		.on_stop = job_stop,
	};
	int rc = ks_controller_start(store, &def, c, out);
	if (rc)
		job_stop(c);
	return rc;
}
