#include "config.h"

#include "tests/kubesim/models/spark/spark_model.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/controllers.h"
#include "tests/kubesim/controllers/ctl_util.h"
#include "tests/kubesim/sim.h"

#define SP_NAME 256
#define SP_HASH 64
#define SP_MAX_EXECUTORS 64
#define SP_DEFAULT_EXECUTORS 2
/* Executors exit this long (simulated ms) after SIGTERM: Spark executors
 * stop promptly, so a killed driver is gone with its executors in about
 * the driver's own grace period. */
#define SP_EXECUTOR_STOP_MS "1000"
/* Audit for objects that vanished without a DELETED event, every this
 * many ticks (10 ms each). */
#define SP_AUDIT_TICKS 100
/* The simulated spark-operator: a pass over SparkApplications every 10 ticks. */
#define SP_OPERATOR_TICKS 10
#define SP_OPERATOR_ANN "kubesim.keelson.dev/spark-operator"

enum sp_outcome {
	SP_NONE = 0,     /* no attempt yet */
	SP_RUNNING,      /* the latest driver is active */
	SP_SUCCEEDED,
	SP_FAILED,
	SP_KILLED,       /* deleted before it finished: a failure for the policy */
};

static const char *outcome_name(enum sp_outcome o)
{
	switch (o) {
	case SP_NONE: return "none";
	case SP_RUNNING: return "running";
	case SP_SUCCEEDED: return "succeeded";
	case SP_FAILED: return "failed";
	case SP_KILLED: return "was killed";
	}
	return "?";
}

enum sp_policy {
	SP_NEVER = 0,
	SP_ON_FAILURE,
	SP_ALWAYS,
};

static const char *policy_name(enum sp_policy p)
{
	return p == SP_ALWAYS ? "Always" : p == SP_ON_FAILURE ? "OnFailure" : "Never";
}

/* A driver or executor pod of an application, as the events told. */
struct sp_pod {
	char uid[64];
	char name[SP_NAME];
	bool driver;
	char owner_uid[64];      /* executors: the driver's uid; drivers: their
	                            controller's (the SparkApplication), or "" */
	/* drivers */
	char container[SP_NAME];
	char hash[SP_HASH];
	enum sp_policy policy;
	int retries;
	long interval;           /* onFailureRetryInterval, seconds */
	double submitted;        /* creationTimestamp (second precision) */
	int attempt;             /* the model's count for this driver */
	int executors;           /* wanted */
	uint64_t created;        /* executor indexes created (bit i-1) */
	bool running_seen;
	bool must_fail;          /* the model set a failing exit code */
	bool terminal;
	bool terminating;
	enum sp_outcome outcome;
	int missing_audits;
};

struct sp_app {
	char ns[SP_NAME];
	char name[SP_NAME];
	struct sp_pod *pods;
	int npods;
	/* The latest attempt: its spec hash, policy, outcome, and how many
	 * drivers were submitted with this hash in a row. */
	char hash[SP_HASH];
	char latest_uid[64];
	char latest_name[SP_NAME];
	char latest_owner[64];   /* the SparkApplication uid of the latest driver */
	enum sp_policy policy;
	enum sp_outcome outcome;
	double latest_created;
	int attempts;
};

/* What the simulated spark-operator remembers of an application: the spec
 * it last saw, as the real one's update event filter compares old and new. */
struct sp_op_app {
	char uid[64];
	char hash[32];
};

struct ks_spark_model {
	struct ks_store *store;
	struct sp_op_app *ops;   /* simulated spark-operator (operator thread only) */
	int nops;
	const struct ks_resource_type *pods;
	struct ks_controller *controller;
	pthread_mutex_t lock;
	struct sp_app **apps;
	int napps;
	unsigned long ticks;
};

/* ---------------------------------------------------------------------------
 * Bookkeeping
 * ------------------------------------------------------------------------- */

static struct sp_app *app_find(struct ks_spark_model *m, const char *ns, const char *name)
{
	for (int i = 0; i < m->napps; i++)
		if (!strcmp(m->apps[i]->ns, ns) && !strcmp(m->apps[i]->name, name))
			return m->apps[i];
	return NULL;
}

static struct sp_app *app_get(struct ks_spark_model *m, const char *ns, const char *name)
{
	struct sp_app *a = app_find(m, ns, name);
	if (a)
		return a;
	struct sp_app **arr = realloc(m->apps, (size_t)(m->napps + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	m->apps = arr;
	if (!(a = calloc(1, sizeof(*a))))
		return NULL;
	snprintf(a->ns, sizeof(a->ns), "%s", ns);
	snprintf(a->name, sizeof(a->name), "%s", name);
	m->apps[m->napps++] = a;
	return a;
}

static void app_drop(struct ks_spark_model *m, int index)
{
	free(m->apps[index]->pods);
	free(m->apps[index]);
	m->apps[index] = m->apps[--m->napps];
}

static struct sp_pod *pod_find(struct sp_app *a, const char *uid)
{
	for (int i = 0; i < a->npods; i++)
		if (!strcmp(a->pods[i].uid, uid))
			return &a->pods[i];
	return NULL;
}

static struct sp_pod *pod_add(struct sp_app *a, const char *uid, const char *name)
{
	struct sp_pod *arr = realloc(a->pods, (size_t)(a->npods + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	a->pods = arr;
	struct sp_pod *p = &a->pods[a->npods++];
	memset(p, 0, sizeof(*p));
	snprintf(p->uid, sizeof(p->uid), "%s", uid);
	snprintf(p->name, sizeof(p->name), "%s", name);
	return p;
}

static void pod_remove(struct sp_app *a, struct sp_pod *p)
{
	*p = a->pods[--a->npods];
}

static bool pod_active(const struct sp_pod *p)
{
	return !p->terminal && !p->terminating;
}

/* ---------------------------------------------------------------------------
 * Reading pods
 * ------------------------------------------------------------------------- */

static long parse_count(const char *v, long dflt, long max)
{
	if (!v || !*v)
		return dflt;
	char *end;
	long n = strtol(v, &end, 10);
	if (*end || n < 0)
		return dflt;
	return n > max ? max : n;
}

static enum sp_policy read_policy(const cJSON *pod)
{
	const char *v = ks_ctl_annotation(pod, KS_SPARK_ANN_RESTART_POLICY);
	if (v && !strcmp(v, "OnFailure"))
		return SP_ON_FAILURE;
	if (v && !strcmp(v, "Always"))
		return SP_ALWAYS;
	return SP_NEVER; /* spark-operator's default */
}

static int terminated_exit_code(const cJSON *pod)
{
	const cJSON *cs = cJSON_GetArrayItem(ks_ctl_at(pod, "status", "containerStatuses", NULL), 0);
	return (int)ks_ctl_num(ks_ctl_at(cs, "state", "terminated", "exitCode", NULL), -1);
}

static void driver_log(const struct sp_app *a, const struct sp_pod *d, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void driver_log(const struct sp_app *a, const struct sp_pod *d, const char *fmt, ...)
{
	char ts[KS_TIME_BUF], line[512];
	int n = snprintf(line, sizeof(line), "%s INFO ", ks_clock_format(ks_clock_now(), ts));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	ks_pod_log_append(a->ns, d->name, d->container, line);
}

/* ---------------------------------------------------------------------------
 * Executors
 * ------------------------------------------------------------------------- */

/* Create the driver's missing executors; a name still taken (an executor
 * of an earlier attempt being deleted) is retried on a later tick. */
static void executors_create(struct ks_spark_model *m, struct sp_app *a, struct sp_pod *d)
{
	if (!d->running_seen || !pod_active(d) || !m->pods)
		return;
	uint64_t all = d->executors >= 64 ? UINT64_MAX : ((1ull << d->executors) - 1);
	if ((d->created & all) == all)
		return;
	cJSON *driver = NULL;
	if (ks_store_get(m->store, m->pods, a->ns, d->name, &driver))
		return;
	const char *uid = ks_meta_string(driver, "uid");
	if (!uid || strcmp(uid, d->uid) || ks_ctl_terminating(driver)) {
		cJSON_Delete(driver);
		return;
	}
	const char *image = ks_ctl_str(ks_ctl_at(cJSON_GetArrayItem(ks_ctl_at(driver, "spec",
		"containers", NULL), 0), "image", NULL));
	const char *sub = ks_ctl_label(driver, KS_SPARK_LABEL_SUBMISSION);
	const char *sel = ks_ctl_label(driver, KS_SPARK_LABEL_SELECTOR);
	for (int i = 1; i <= d->executors; i++) {
		if (d->created & (1ull << (i - 1)))
			continue;
		char name[SP_NAME + 32], id[16];
		snprintf(name, sizeof(name), "%s-exec-%d", a->name, i);
		snprintf(id, sizeof(id), "%d", i);
		cJSON *pod = cJSON_CreateObject();
		cJSON_AddStringToObject(pod, "apiVersion", "v1");
		cJSON_AddStringToObject(pod, "kind", "Pod");
		cJSON *meta = cJSON_AddObjectToObject(pod, "metadata");
		cJSON_AddStringToObject(meta, "name", name);
		cJSON_AddStringToObject(meta, "namespace", a->ns);
		cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
		cJSON_AddStringToObject(labels, KS_SPARK_LABEL_APP, a->name);
		cJSON_AddStringToObject(labels, KS_SPARK_LABEL_ROLE, "executor");
		cJSON_AddStringToObject(labels, KS_SPARK_LABEL_EXEC_ID, id);
		cJSON_AddStringToObject(labels, KS_SPARK_LABEL_SPEC_HASH, d->hash);
		if (sub)
			cJSON_AddStringToObject(labels, KS_SPARK_LABEL_SUBMISSION, sub);
		if (sel)
			cJSON_AddStringToObject(labels, KS_SPARK_LABEL_SELECTOR, sel);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "annotations"),
			KS_ANN_STOP_DELAY, SP_EXECUTOR_STOP_MS);
		cJSON *refs = cJSON_AddArrayToObject(meta, "ownerReferences");
		cJSON_AddItemToArray(refs, ks_ctl_controller_ref_new(driver, "v1", "Pod"));
		cJSON *spec = cJSON_AddObjectToObject(pod, "spec");
		cJSON_AddStringToObject(spec, "restartPolicy", "Never");
		cJSON *ctr = cJSON_CreateObject();
		cJSON_AddStringToObject(ctr, "name", "spark-kubernetes-executor");
		cJSON_AddStringToObject(ctr, "image", image ? image : "apache/spark");
		cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "containers"), ctr);
		int rc = ks_store_create(m->store, m->pods, a->ns, pod, NULL, NULL);
		cJSON_Delete(pod);
		if (rc == 0) {
			d->created |= 1ull << (i - 1);
			driver_log(a, d, "ExecutorPodsAllocator: created executor pod %s", name);
		} else if (rc != KEELSON_EEXISTS) {
			break; /* namespace terminating or the like: retried on a tick */
		}
	}
	cJSON_Delete(driver);
}

/* Spark deletes its executors when the driver ends
 * (spark.kubernetes.executor.deleteOnTermination, default true). */
static void executors_delete(struct ks_spark_model *m, struct sp_app *a, const struct sp_pod *d)
{
	for (int i = 0; i < a->npods; i++) {
		const struct sp_pod *e = &a->pods[i];
		if (!e->driver && !strcmp(e->owner_uid, d->uid) && !e->terminating)
			ks_ctl_delete(m->store, m->pods, a->ns, e->name, e->uid,
				KS_PROPAGATION_DEFAULT, -1);
	}
}

/* ---------------------------------------------------------------------------
 * Drivers
 * ------------------------------------------------------------------------- */

/* A new driver: judge the submission against the previous attempt. */
static void driver_submitted(struct ks_spark_model *m, struct sp_app *a, struct sp_pod *d,
	const cJSON *pod)
{
	char obj[2 * SP_NAME + 2];
	snprintf(obj, sizeof(obj), "%s/%s", a->ns, a->name);
	bool two = false;
	for (int i = 0; i < a->npods && !two; i++) {
		const struct sp_pod *o = &a->pods[i];
		if (o != d && o->driver && pod_active(o)) {
			two = true;
			ks_violation_record("spark", obj,
				"driver %s submitted while driver %s of the same application is "
				"still running: two drivers at once", d->name, o->name);
		}
	}
	if (!two) {
		const char *left = NULL;
		int executors = 0;
		for (int i = 0; i < a->npods; i++) {
			const struct sp_pod *o = &a->pods[i];
			if (o == d || !strcmp(o->owner_uid, d->uid))
				continue;
			if (o->driver)
				left = o->name;
			else
				executors++;
		}
		if (left || executors)
			ks_violation_record("spark", obj,
				"driver %s submitted before the previous attempt was gone "
				"(driver pod %s, %d executor pods still exist)", d->name,
				left ? left : "gone", executors);
	}

	/* A driver controlled by another SparkApplication object (removed from
	 * Git and added back) starts the application afresh, as a new object
	 * starts at NEW in spark-operator. */
	bool new_object = d->owner_uid[0] && a->latest_owner[0] && strcmp(d->owner_uid, a->latest_owner);
	bool same = a->attempts > 0 && !strcmp(a->hash, d->hash) && !new_object;
	bool unjustified = false;
	if (same && !two) {
		enum sp_outcome o = a->outcome;
		unjustified = (o == SP_SUCCEEDED && a->policy != SP_ALWAYS) ||
			((o == SP_FAILED || o == SP_KILLED) && a->policy == SP_NEVER);
		if (unjustified)
			ks_violation_record("spark", obj,
				"driver %s resubmitted with an unchanged spec (hash %s) after the "
				"previous attempt %s %s under restartPolicy %s: no spec change and no "
				"restart-policy reason", d->name, d->hash, a->latest_name,
				outcome_name(o), policy_name(a->policy));
	}
	a->attempts = same ? a->attempts + 1 : 1;
	d->attempt = a->attempts;
	bool over = !unjustified && d->policy == SP_ON_FAILURE && a->attempts > d->retries + 1;
	if (over)
		ks_violation_record("spark", obj,
			"driver %s is attempt %d of spec hash %s, more than restartPolicy OnFailure "
			"with onFailureRetries %d allows (%d attempts)", d->name, a->attempts,
			d->hash, d->retries, d->retries + 1);
	/* spark-operator's TimeUntilNextRetryDue: a retry after a failure is
	 * due interval x submissions-so-far after the last submission.
	 * creationTimestamps have second precision, hence the 1 s slack. */
	bool after_failure = a->outcome == SP_FAILED || a->outcome == SP_KILLED;
	if (same && !two && !unjustified && !over && after_failure && d->policy != SP_NEVER &&
	    d->submitted > 0 && a->latest_created > 0) {
		double due = a->latest_created + (double)d->interval * (a->attempts - 1);
		if (d->submitted < due - 1.0)
			ks_violation_record("spark", obj,
				"driver %s (attempt %d) retried %.0f s after the previous submission, "
				"before the retry was due (onFailureRetryInterval %ld s x %d "
				"submissions = %ld s)", d->name, a->attempts,
				d->submitted - a->latest_created, d->interval, a->attempts - 1,
				d->interval * (a->attempts - 1));
	}
	snprintf(a->hash, sizeof(a->hash), "%s", d->hash);
	snprintf(a->latest_uid, sizeof(a->latest_uid), "%s", d->uid);
	snprintf(a->latest_name, sizeof(a->latest_name), "%s", d->name);
	snprintf(a->latest_owner, sizeof(a->latest_owner), "%s", d->owner_uid);
	a->policy = d->policy;
	a->latest_created = d->submitted;
	a->outcome = SP_RUNNING;

	/* Fail the first N attempts: the kubelet reads exit-code when run-ms
	 * ends, so setting it now decides the outcome. keelson's attempt
	 * label counts; the model's own count stands in when it is absent. */
	long first = parse_count(ks_ctl_annotation(pod, KS_SPARK_ANN_FAIL_FIRST), 0, 1000000);
	long attempt = parse_count(ks_ctl_label(pod, KS_SPARK_LABEL_ATTEMPT), d->attempt, 1000000);
	if (first > 0 && attempt <= first) {
		d->must_fail = true;
		long code = parse_count(ks_ctl_annotation(pod, KS_SPARK_ANN_FAIL_EXIT_CODE), 1, 255);
		char text[16];
		snprintf(text, sizeof(text), "%ld", code ? code : 1);
		const char *have = ks_ctl_annotation(pod, KS_ANN_EXIT_CODE);
		if (!have || strcmp(have, text)) {
			cJSON *patch = cJSON_CreateObject();
			cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch,
				"metadata"), "annotations"), KS_ANN_EXIT_CODE, text);
			ks_ctl_patch(m->store, m->pods, a->ns, d->name, d->uid, patch, NULL);
			cJSON_Delete(patch);
		}
	}
	driver_log(a, d, "SparkContext: submitted application %s (spec hash %s, attempt %ld, "
		"restartPolicy %s)", a->name, d->hash, attempt, policy_name(d->policy));
	if (attempt != d->attempt)
		driver_log(a, d, "kubesim: attempt label %ld, but the model saw %d drivers of "
			"spec hash %s in a row", attempt, d->attempt, d->hash);
}

static void driver_update(struct ks_spark_model *m, struct sp_app *a, struct sp_pod *d,
	const cJSON *pod, bool deleted)
{
	bool latest = !strcmp(a->latest_uid, d->uid);
	const char *phase = ks_ctl_pod_phase(pod);
	bool terminating = deleted || ks_ctl_terminating(pod);
	if (!d->terminal && phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))) {
		d->terminal = true;
		int code = terminated_exit_code(pod);
		/* spark-operator: a Failed driver whose container exited 0 succeeded. */
		d->outcome = !strcmp(phase, "Succeeded") || code == 0 ? SP_SUCCEEDED : SP_FAILED;
		driver_log(a, d, "SparkContext: application %s finished, exit code %d (%s)",
			a->name, code, outcome_name(d->outcome));
		if (latest)
			a->outcome = d->outcome;
		if (d->must_fail && d->outcome == SP_SUCCEEDED)
			fprintf(stderr, "kubesim: spark model: driver %s/%s ended before the model "
				"could make it fail (run-ms too short for this machine?)\n", a->ns,
				d->name);
		executors_delete(m, a, d);
	}
	if (!d->terminal && !d->terminating && terminating) {
		d->outcome = SP_KILLED;
		driver_log(a, d, "SparkContext: received SIGTERM, stopping application %s", a->name);
		if (latest)
			a->outcome = SP_KILLED;
	}
	d->terminating = terminating;
	if (!d->running_seen && !terminating && phase && !strcmp(phase, "Running")) {
		d->running_seen = true;
		driver_log(a, d, "SparkContext: application %s running, requesting %d executors",
			a->name, d->executors);
		executors_create(m, a, d);
	}
}

static void on_driver(struct ks_spark_model *m, const struct ks_event *ev, const char *ns,
	const char *app, const char *uid, const char *name)
{
	const cJSON *pod = ev->object;
	bool deleted = ev->type == KS_EVENT_DELETED;
	struct sp_app *a = deleted ? app_find(m, ns, app) : app_get(m, ns, app);
	if (!a)
		return;
	struct sp_pod *d = pod_find(a, uid);
	if (!d) {
		if (deleted)
			return;
		if (!(d = pod_add(a, uid, name)))
			return;
		d->driver = true;
		const cJSON *ref = ks_ctl_controller_ref(pod);
		const char *owner = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(ref, "uid"));
		snprintf(d->owner_uid, sizeof(d->owner_uid), "%s", owner ? owner : "");
		const char *hash = ks_ctl_label(pod, KS_SPARK_LABEL_SPEC_HASH);
		snprintf(d->hash, sizeof(d->hash), "%s", hash ? hash : "");
		d->policy = read_policy(pod);
		/* spark-operator defaults the interval to 5 s when the type is
		 * not Never (defaults.go). */
		d->interval = parse_count(ks_ctl_annotation(pod, KS_SPARK_ANN_RETRY_INTERVAL), 5,
			1000000);
		const char *ct = ks_meta_string(pod, "creationTimestamp");
		if (!ct || ks_clock_parse(ct, &d->submitted))
			d->submitted = 0;
		d->retries = (int)parse_count(ks_ctl_annotation(pod, KS_SPARK_ANN_ON_FAILURE_RETRIES),
			0, 1000000);
		d->executors = (int)parse_count(ks_ctl_annotation(pod, KS_SPARK_ANN_EXECUTORS),
			SP_DEFAULT_EXECUTORS, SP_MAX_EXECUTORS);
		const char *ctr = ks_ctl_str(ks_ctl_at(cJSON_GetArrayItem(ks_ctl_at(pod, "spec",
			"containers", NULL), 0), "name", NULL));
		snprintf(d->container, sizeof(d->container), "%s",
			ctr ? ctr : "spark-kubernetes-driver");
		driver_submitted(m, a, d, pod);
	}
	driver_update(m, a, d, pod, deleted);
	if (deleted)
		pod_remove(a, d);
}

static void on_executor(struct ks_spark_model *m, const struct ks_event *ev, const char *ns,
	const char *app, const char *uid, const char *name)
{
	const cJSON *ref = ks_ctl_controller_ref(ev->object);
	const char *owner = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(ref, "uid"));
	bool deleted = ev->type == KS_EVENT_DELETED;
	struct sp_app *a = deleted ? app_find(m, ns, app) : app_get(m, ns, app);
	if (!a)
		return;
	struct sp_pod *e = pod_find(a, uid);
	if (!e) {
		if (deleted || !(e = pod_add(a, uid, name)))
			return;
		snprintf(e->owner_uid, sizeof(e->owner_uid), "%s", owner ? owner : "");
	}
	e->terminating = ks_ctl_terminating(ev->object);
	if (deleted)
		pod_remove(a, e);
}

static void model_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct ks_spark_model *m = payload;
	const cJSON *pod = ev->object;
	const char *role = ks_ctl_label(pod, KS_SPARK_LABEL_ROLE);
	const char *app = ks_ctl_label(pod, KS_SPARK_LABEL_APP);
	const char *ns = ks_meta_string(pod, "namespace");
	const char *uid = ks_meta_string(pod, "uid");
	const char *name = ks_meta_string(pod, "name");
	/* Only drivers keelson labelled (a spec hash): spark-operator's own
	 * drivers (operator mode) are not judged. */
	if (!role || !app || !ns || !uid || !name ||
	    strlen(app) >= SP_NAME || strlen(ns) >= SP_NAME || strlen(name) >= SP_NAME ||
	    !ks_ctl_label(pod, KS_SPARK_LABEL_SPEC_HASH))
		return;
	pthread_mutex_lock(&m->lock);
	if (!strcmp(role, "driver"))
		on_driver(m, ev, ns, app, uid, name);
	else if (!strcmp(role, "executor"))
		on_executor(m, ev, ns, app, uid, name);
	pthread_mutex_unlock(&m->lock);
	ks_ctl_release_status();
}

/* Objects can vanish without a DELETED event (POST /_sim/reset): forget
 * pods that two audits a second apart found gone, and an application
 * that lost every pod that way (a reset starts its history afresh). */
static void model_audit(struct ks_spark_model *m)
{
	for (int ai = 0; ai < m->napps; ai++) {
		struct sp_app *a = m->apps[ai];
		bool vanished = false;
		for (int i = 0; i < a->npods; i++) {
			struct sp_pod *p = &a->pods[i];
			cJSON *o = NULL;
			bool gone = ks_store_get(m->store, m->pods, a->ns, p->name, &o) != 0;
			const char *uid = o ? ks_meta_string(o, "uid") : NULL;
			gone = gone || !uid || strcmp(uid, p->uid);
			cJSON_Delete(o);
			p->missing_audits = gone ? p->missing_audits + 1 : 0;
			if (p->missing_audits >= 2) {
				pod_remove(a, p);
				i--;
				vanished = true;
			}
		}
		if (vanished && a->npods == 0) {
			app_drop(m, ai);
			ai--;
		}
	}
}


/* ---------------------------------------------------------------------------
 * A simulated spark-operator (keelson's operator mode)
 *
 * For SparkApplications annotated kubesim.keelson.dev/spark-operator:
 * "true" only: it submits a driver pod (spark-operator's labels, no keelson
 * spec hash, so the judge above ignores it), follows it through
 * spark-operator's states in .status, applies the restart policy with the
 * linear retry delay, and on a spec change goes INVALIDATING: kill, reset,
 * PENDING_RERUN, resubmit. One transition per application per pass, level-
 * triggered from .status and the driver pod (its memory of the last spec
 * aside, like the real operator's event filter).
 * ------------------------------------------------------------------------- */

static struct sp_op_app *op_app(struct ks_spark_model *m, const char *uid)
{
	for (int i = 0; i < m->nops; i++)
		if (!strcmp(m->ops[i].uid, uid))
			return &m->ops[i];
	struct sp_op_app *arr = realloc(m->ops, (size_t)(m->nops + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	m->ops = arr;
	struct sp_op_app *o = &m->ops[m->nops++];
	memset(o, 0, sizeof(*o));
	snprintf(o->uid, sizeof(o->uid), "%s", uid);
	return o;
}

static long long op_num(const cJSON *v, long long dflt)
{
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : dflt;
}

/* Merge `status` into the application's status (through the status
 * subresource when the CRD has one). */
static void op_status(struct ks_spark_model *m, const struct ks_resource_type *type, const cJSON *app,
	cJSON *status)
{
	cJSON *patch = cJSON_CreateObject();
	cJSON_AddItemToObject(patch, "status", status);
	ks_ctl_patch(m->store, type, ks_meta_string(app, "namespace"), ks_meta_string(app, "name"),
		ks_meta_string(app, "uid"), patch,
		(type->subresources & KS_SUB_STATUS) ? "status" : NULL);
	cJSON_Delete(patch);
}

static cJSON *op_state(const char *state, const char *error)
{
	cJSON *status = cJSON_CreateObject();
	cJSON *st = cJSON_AddObjectToObject(status, "applicationState");
	cJSON_AddStringToObject(st, "state", state);
	cJSON_AddStringToObject(st, "errorMessage", error ? error : "");
	return status;
}

static int op_submit(struct ks_spark_model *m, const cJSON *app, const char *driver_name,
	const char *submission)
{
	const char *ns = ks_meta_string(app, "namespace"), *name = ks_meta_string(app, "name");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(app, "spec");
	const char *image = ks_ctl_str(ks_ctl_at(spec, "driver", "image", NULL));
	if (!image)
		image = ks_ctl_str(ks_ctl_at(spec, "image", NULL));
	cJSON *pod = cJSON_CreateObject();
	cJSON_AddStringToObject(pod, "apiVersion", "v1");
	cJSON_AddStringToObject(pod, "kind", "Pod");
	cJSON *meta = cJSON_AddObjectToObject(pod, "metadata");
	cJSON_AddStringToObject(meta, "name", driver_name);
	cJSON_AddStringToObject(meta, "namespace", ns);
	cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
	cJSON_AddStringToObject(labels, KS_SPARK_LABEL_APP, name);
	cJSON_AddStringToObject(labels, KS_SPARK_LABEL_ROLE, "driver");
	cJSON_AddStringToObject(labels, KS_SPARK_LABEL_SUBMISSION, submission);
	cJSON_AddStringToObject(labels, "sparkoperator.k8s.io/launched-by-spark-operator", "true");
	const cJSON *ann = ks_ctl_at(spec, "driver", "annotations", NULL);
	cJSON_AddItemToObject(meta, "annotations", ann ? cJSON_Duplicate(ann, 1) : cJSON_CreateObject());
	cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"),
		ks_ctl_controller_ref_new(app, "sparkoperator.k8s.io/v1beta2", "SparkApplication"));
	cJSON *pspec = cJSON_AddObjectToObject(pod, "spec");
	cJSON_AddStringToObject(pspec, "restartPolicy", "Never");
	cJSON_AddNumberToObject(pspec, "terminationGracePeriodSeconds",
		(double)op_num(ks_ctl_at(spec, "driver", "terminationGracePeriodSeconds", NULL), 30));
	cJSON *ctr = cJSON_CreateObject();
	cJSON_AddStringToObject(ctr, "name", "spark-kubernetes-driver");
	cJSON_AddStringToObject(ctr, "image", image ? image : "apache/spark");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(pspec, "containers"), ctr);
	int rc = ks_store_create(m->store, m->pods, ns, pod, NULL, NULL);
	cJSON_Delete(pod);
	return rc;
}

static void op_reconcile(struct ks_spark_model *m, const struct ks_resource_type *type, const cJSON *app)
{
	const char *ns = ks_meta_string(app, "namespace"), *name = ks_meta_string(app, "name");
	const char *uid = ks_meta_string(app, "uid");
	if (!ns || !name || !uid || ks_ctl_terminating(app))
		return;
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(app, "spec");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(app, "status");
	const char *state = ks_ctl_str(ks_ctl_at(status, "applicationState", "state", NULL));
	if (!state)
		state = "";
	char hash[32], driver_name[SP_NAME + 8], submission[96], now_text[KS_TIME_BUF];
	ks_ctl_template_hash(spec, 0, hash, sizeof(hash));
	struct sp_op_app *o = op_app(m, uid);
	if (!o)
		return;
	/* A spec change of a started application invalidates it. */
	if (o->hash[0] && strcmp(o->hash, hash) && *state && strcmp(state, "INVALIDATING")) {
		snprintf(o->hash, sizeof(o->hash), "%s", hash);
		op_status(m, type, app, op_state("INVALIDATING", NULL));
		return;
	}
	snprintf(o->hash, sizeof(o->hash), "%s", hash);
	double now = ks_clock_now();
	ks_clock_format(now, now_text);
	const char *sub_name = ks_ctl_str(ks_ctl_at(spec, "driver", "podName", NULL));
	snprintf(driver_name, sizeof(driver_name), "%s%s", sub_name ? sub_name : name, sub_name ? "" : "-driver");
	cJSON *pod = NULL;
	if (ks_store_get(m->store, m->pods, ns, driver_name, &pod))
		pod = NULL;
	const char *pod_uid = pod ? ks_meta_string(pod, "uid") : NULL;
	const char *phase = pod ? ks_ctl_pod_phase(pod) : NULL;
	long long subs = op_num(cJSON_GetObjectItemCaseSensitive(status, "submissionAttempts"), 0);
	long long execs = op_num(cJSON_GetObjectItemCaseSensitive(status, "executionAttempts"), 0);
	const char *last_text = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(status, "lastSubmissionAttemptTime"));
	double last = 0;
	if (!last_text || ks_clock_parse(last_text, &last))
		last = 0;
	const char *policy = ks_ctl_str(ks_ctl_at(spec, "restartPolicy", "type", NULL));
	if (!policy)
		policy = "Never";
	long long retries = op_num(ks_ctl_at(spec, "restartPolicy", "onFailureRetries", NULL), -1);
	long long interval = op_num(ks_ctl_at(spec, "restartPolicy", "onFailureRetryInterval", NULL), 5);
	bool pod_gone_or_going = !pod || ks_ctl_terminating(pod);

	if (!strcmp(state, "") || !strcmp(state, "PENDING_RERUN")) {
		/* Submit once the previous driver is verifiably gone. */
		if (pod) {
			if (!ks_ctl_terminating(pod))
				ks_ctl_delete(m->store, m->pods, ns, driver_name, pod_uid, KS_PROPAGATION_DEFAULT, -1);
		} else {
			snprintf(submission, sizeof(submission), "%.8s-%lld", uid, subs + 1);
			cJSON *st = op_state("SUBMITTED", NULL);
			if (op_submit(m, app, driver_name, submission) == 0) {
				cJSON_AddNumberToObject(st, "executionAttempts", (double)(execs + 1));
				cJSON_AddStringToObject(cJSON_AddObjectToObject(st, "driverInfo"), "podName", driver_name);
			} else {
				cJSON_Delete(st);
				st = op_state("SUBMISSION_FAILED", "the driver pod could not be created");
			}
			cJSON_AddNumberToObject(st, "submissionAttempts", (double)(subs + 1));
			cJSON_AddStringToObject(st, "lastSubmissionAttemptTime", now_text);
			cJSON_AddStringToObject(st, "submissionID", submission);
			op_status(m, type, app, st);
		}
	} else if (!strcmp(state, "INVALIDATING")) {
		if (pod && !ks_ctl_terminating(pod))
			ks_ctl_delete(m->store, m->pods, ns, driver_name, pod_uid, KS_PROPAGATION_DEFAULT, -1);
		cJSON *st = op_state("PENDING_RERUN", NULL);
		cJSON_AddNumberToObject(st, "submissionAttempts", 0);
		cJSON_AddNumberToObject(st, "executionAttempts", 0);
		op_status(m, type, app, st);
	} else if (!strcmp(state, "SUBMITTED") || !strcmp(state, "RUNNING") || !strcmp(state, "UNKNOWN")) {
		const char *next = NULL;
		char error[SP_NAME + 64] = "";
		if (!pod || (ks_ctl_terminating(pod) && !ks_ctl_pod_finished(pod))) {
			if (!pod && !strcmp(state, "SUBMITTED") && now - last < 10.0)
				next = NULL; /* --driver-pod-creation-grace-period */
			else {
				next = "FAILING";
				snprintf(error, sizeof(error), "driver pod %s not found", driver_name);
			}
		} else if (phase && !strcmp(phase, "Running")) {
			next = strcmp(state, "RUNNING") ? "RUNNING" : NULL;
		} else if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))) {
			int code = terminated_exit_code(pod);
			next = code == 0 ? "SUCCEEDING" : "FAILING";
			if (code != 0)
				snprintf(error, sizeof(error), "driver container failed with ExitCode: %d", code);
		}
		if (next) {
			cJSON *st = op_state(next, error);
			if (strcmp(next, "RUNNING"))
				cJSON_AddStringToObject(st, "terminationTime", now_text);
			op_status(m, type, app, st);
		}
	} else if (!strcmp(state, "SUCCEEDING")) {
		if (!strcmp(policy, "Always")) {
			if (!pod_gone_or_going)
				ks_ctl_delete(m->store, m->pods, ns, driver_name, pod_uid, KS_PROPAGATION_DEFAULT, -1);
			op_status(m, type, app, op_state("PENDING_RERUN", NULL));
		} else {
			op_status(m, type, app, op_state("COMPLETED", NULL));
		}
	} else if (!strcmp(state, "FAILING")) {
		const char *error = ks_ctl_str(ks_ctl_at(status, "applicationState", "errorMessage", NULL));
		bool retry = !strcmp(policy, "Always") ||
			(!strcmp(policy, "OnFailure") && retries >= 0 && execs <= retries);
		if (!retry) {
			op_status(m, type, app, op_state("FAILED", error));
		} else if (last > 0 && now >= last + (double)(interval * subs)) {
			if (!pod_gone_or_going)
				ks_ctl_delete(m->store, m->pods, ns, driver_name, pod_uid, KS_PROPAGATION_DEFAULT, -1);
			op_status(m, type, app, op_state("PENDING_RERUN", error));
		}
	}
	cJSON_Delete(pod);
}

static void operator_pass(struct ks_spark_model *m)
{
	const struct ks_resource_type *type = ks_store_type_find(m->store, "sparkoperator.k8s.io",
		"sparkapplications");
	if (!type)
		return;
	cJSON *apps = ks_ctl_list(m->store, type, NULL, NULL, NULL);
	const cJSON *app;
	cJSON_ArrayForEach(app, apps) {
		const char *on = ks_ctl_annotation(app, SP_OPERATOR_ANN);
		if (on && !strcmp(on, "true"))
			op_reconcile(m, type, app);
	}
	cJSON_Delete(apps);
}

static void model_tick(struct ks_store *store, void *payload)
{
	(void)store;
	struct ks_spark_model *m = payload;
	pthread_mutex_lock(&m->lock);
	if (++m->ticks % SP_AUDIT_TICKS == 0)
		model_audit(m);
	for (int ai = 0; ai < m->napps; ai++) {
		struct sp_app *a = m->apps[ai];
		for (int i = 0; i < a->npods; i++)
			if (a->pods[i].driver)
				executors_create(m, a, &a->pods[i]);
	}
	pthread_mutex_unlock(&m->lock);
	if (m->ticks % SP_OPERATOR_TICKS == 0)
		operator_pass(m);
	ks_ctl_release_status();
}

/* ---------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------- */

static const char *const model_resources[] = {"/pods", NULL};

int ks_spark_model_start(struct ks_store *store, struct ks_spark_model **out)
{
	*out = NULL;
	struct ks_spark_model *m = calloc(1, sizeof(*m));
	if (!m)
		return keelson_error_set(KEELSON_ENOMEM, "spark model: out of memory");
	m->store = store;
	m->pods = ks_store_type_find(store, "", "pods");
	if (!m->pods) {
		free(m);
		return keelson_error_set(KEELSON_ERROR,
			"spark model: the store serves no pods; start it on a kubesim store");
	}
	pthread_mutex_init(&m->lock, NULL);
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "spark-model",
		.resources = model_resources,
		.on_event = model_event,
		.tick_ms = 10,
		.on_tick = model_tick,
	};
	int rc = ks_controller_start(store, &def, m, &m->controller);
	if (rc) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return keelson_error_wrap(rc, "spark model: starting its controller");
	}
	*out = m;
	return 0;
}

void ks_spark_model_stop(struct ks_spark_model *m)
{
	if (!m)
		return;
	ks_controller_stop(m->controller);
	while (m->napps > 0)
		app_drop(m, 0);
	free(m->apps);
	free(m->ops);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int ks_spark_model_sync(struct ks_spark_model *m, int timeout_ms)
{
	return ks_controller_sync(m->controller, timeout_ms);
}

int ks_spark_model_attempts(struct ks_spark_model *m, const char *ns, const char *app)
{
	pthread_mutex_lock(&m->lock);
	const struct sp_app *a = app_find(m, ns, app);
	int n = a ? a->attempts : -1;
	pthread_mutex_unlock(&m->lock);
	return n;
}
