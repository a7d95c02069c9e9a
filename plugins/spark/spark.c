/*
 * spark: the keelson plugin for SparkApplications (sparkoperator.k8s.io/
 * v1beta2), issue 8. User documentation: plugins/spark/README.md.
 *
 * mode native: keelson is the controller. The SparkApplication is applied
 * as the record; the plugin creates the driver pod from it and follows
 * spark-operator's state machine (spark_rules.h), deriving each state from
 * the driver pods it observes and from what it persisted on the live
 * SparkApplication (annotations keelson.dev/spark-*, mirrored in .status).
 * Nothing lives in memory: every plan starts from the cluster again.
 *
 * mode operator: spark-operator is the controller. The plugin applies the
 * SparkApplication and follows its .status.
 *
 * Safety (operator-safety-rules.md section 3): a driver is created only
 * when the pod list, read this cycle, shows no driver and no executor of
 * the application (a list that cannot be read means wait); a spec change
 * kills the running driver, waits until it and its executors are gone, and
 * resubmits once (counters reset); retries follow the restart policy with
 * spark-operator's linear delay.
 *
 * Includes only the SDK, libc and its own libc-only helpers.
 */
#include <keelson/plugin.h>

#include "json_builder.h"
#include "spark_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PODS 4096
#define MAX_MEMBERS 4096
#define MAX_DEPTH 64
#define OBJECT_LIMIT (1024 * 1024)
#define PATCH_LIMIT (64 * 1024)
#define FAILURE_TEXT 400

#define SPARK_GROUP "sparkoperator.k8s.io"
#define DRIVER_CONTAINER "spark-kubernetes-driver"

/* Labels (the kubesim model's contract: tests/kubesim/models/spark/README.md). */
#define L_APP "sparkoperator.k8s.io/app-name"
#define L_SUBMISSION "sparkoperator.k8s.io/submission-id"
#define L_ROLE "spark-role"
#define L_SELECTOR "spark-app-selector"
#define L_SPEC_HASH "keelson.dev/spark-spec-hash"
#define L_ATTEMPT "keelson.dev/spark-attempt"

/* What the plugin persists on the live SparkApplication. */
#define A_STATE "keelson.dev/spark-state"
#define A_HASH "keelson.dev/spark-spec-hash"
#define A_SUBMISSIONS "keelson.dev/spark-submission-attempts"
#define A_EXECUTIONS "keelson.dev/spark-execution-attempts"
#define A_LAST_SUBMISSION "keelson.dev/spark-last-submission-ms"
#define A_SUBMISSION_ID "keelson.dev/spark-submission-id"
#define A_TERMINATION "keelson.dev/spark-termination-ms"
#define A_LAST_FAILURE "keelson.dev/spark-last-failure"
#define ANNOTATIONS_POINTER "/metadata/annotations/keelson.dev~1spark-"

static const char *const modes[] = {"native", "operator", NULL};
static const char *const spec_change_actions[] = {"resubmit", "waitForCompletion", "wait", NULL};

static const struct keelson_param params[] = {
	{.name = "mode", .type = KEELSON_PARAM_ENUM, .flags = KEELSON_PARAM_REQUIRED, .enum_values = modes,
	 .description = "native: keelson creates the driver pods; operator: a spark-operator does, keelson follows "
			"its status"},
	{.name = "onSpecChange", .type = KEELSON_PARAM_ENUM, .default_value = "resubmit",
	 .enum_values = spec_change_actions,
	 .description = "a spec change of a running application: kill and resubmit, or waitForCompletion (alias "
			"wait) of the running attempt first"},
	{.name = "driverPodCreationGracePeriod", .type = KEELSON_PARAM_DURATION, .default_value = "10s",
	 .description = "native: a recorded driver pod missing for longer is \"driver pod not found\", a failed attempt"},
	{.name = "killTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "5m",
	 .description = "how long a killed driver and its executors may take to be gone before the system blocks"},
	{.name = "completionTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "24h",
	 .description = "onSpecChange waitForCompletion: how long the running attempt may take to finish"},
	{.name = "operatorTimeout", .type = KEELSON_PARAM_DURATION, .default_value = "10m",
	 .description = "operator mode: how long spark-operator may take to bring an application to a settled state"},
	{.type = KEELSON_PARAM_END},
};

/* --- Planner state --------------------------------------------------------- */

struct record {
	enum spark_state state;
	char hash[64];
	struct spark_attempts attempts;
	char submission_id[64];
	long long termination_ms;
	char last_failure[FAILURE_TEXT + 1];
};

struct app {
	const struct keelson_view_object *obj;
	const char *ns, *name;
	const struct keelson_json *spec; /* effective: live when in sync, else desired */
	const struct keelson_json *live;
	const char *uid;                 /* of the live SparkApplication, or NULL */
	char hash[17];
	char base_hash[17];              /* preview: the base revision's spec */
	char driver_name[254];
	struct spark_restart_policy policy;
	char invalid[300];               /* why the spec cannot be submitted, or "" */
	struct record rec;
};

struct pods {
	const struct keelson_json *drivers[MAX_PODS];
	size_t driver_count;
	size_t executor_count;
	const struct keelson_json *current; /* the driver of rec.submission_id */
	const struct keelson_json *pending; /* created for the next submission, not yet recorded */
};

struct planner {
	const struct keelson_host *h;
	struct keelson_plugin_call *call;
	const struct keelson_view *view;
	int native, wait_on_change, preview;
	long long now;
	long long grace_ms, kill_timeout_ms, completion_timeout_ms, operator_timeout_ms;
	/* Apps whose next step acts go first, so one application waiting for
	 * its retry delay does not hold up the others: pass 0 only records
	 * each app's first step kind, pass 1 emits. */
	int probing;
	int probe_first_kind; /* 0: no step yet */
	int failed;
};

/* --- Small helpers ----------------------------------------------------------- */

static const char *str_at(const struct planner *p, const struct keelson_json *node, const char *pointer)
{
	return p->h->json_string(p->h->json_get(node, pointer));
}

static long long num_at(const struct planner *p, const struct keelson_json *node, const char *pointer, long long dflt)
{
	double v;
	if (p->h->json_number(p->h->json_get(node, pointer), &v) != 0)
		return dflt;
	/* Clamped: casting 1e300 or NaN is undefined. */
	if (!(v > -1e15))
		return -1000000000000000LL;
	return v < 1e15 ? (long long)v : 1000000000000000LL;
}

/* An annotation of the record as a number; `dflt` when absent or not one. */
static long long annotation_number(const struct planner *p, const struct keelson_json *live, const char *suffix,
				   long long dflt)
{
	char pointer[128];
	snprintf(pointer, sizeof(pointer), ANNOTATIONS_POINTER "%s", suffix);
	const char *s = str_at(p, live, pointer);
	if (s == NULL || *s == '\0')
		return dflt;
	char *end;
	long long v = strtoll(s, &end, 10);
	/* Counters and times in ms: a larger value is an edit by hand, and
	 * arithmetic on it (attempts + 1, interval x attempts) would overflow. */
	if (*end != '\0' || v < -1000000000000000LL || v > 1000000000000000LL)
		return dflt;
	return v;
}

static void annotation_text(char *out, size_t size, const struct planner *p, const struct keelson_json *live,
			    const char *suffix)
{
	char pointer[128];
	snprintf(pointer, sizeof(pointer), ANNOTATIONS_POINTER "%s", suffix);
	const char *s = str_at(p, live, pointer);
	snprintf(out, size, "%s", s ? s : "");
}

static void copy_text(char *out, size_t size, const char *text)
{
	snprintf(out, size, "%s", text ? text : "");
}

static void rfc3339(char *out, size_t size, long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (ms <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		copy_text(out, size, "");
}

/* FNV-1a, 64 bits: the spec hash only tells "the spec changed". */
static void fnv(unsigned long long *h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		*h ^= (unsigned char)s[i];
		*h *= 1099511628211ULL;
	}
}

static void fnv_str(unsigned long long *h, const char *s)
{
	fnv(h, s, strlen(s));
	fnv(h, "", 1);
}

/* A JSON value hashed with object members in key order, so reordering
 * keys in the YAML is not a spec change. */
static int hash_json(const struct planner *p, unsigned long long *h, const struct keelson_json *node, int depth)
{
	const struct keelson_host *H = p->h;
	if (depth > MAX_DEPTH)
		return -1;
	const char *s = H->json_string(node);
	double num;
	if (s != NULL) {
		fnv_str(h, "s");
		fnv_str(h, s);
		return 0;
	}
	if (H->json_number(node, &num) == 0) {
		char text[64];
		snprintf(text, sizeof(text), "n%.17g", num);
		fnv_str(h, text);
		return 0;
	}
	int b = H->json_bool(node);
	if (b >= 0) {
		fnv_str(h, b ? "true" : "false");
		return 0;
	}
	size_t n = H->json_count(node);
	if (n > MAX_MEMBERS)
		return -1;
	const struct keelson_json *first = n > 0 ? H->json_at(node, 0) : NULL;
	if (first != NULL && H->json_key(first) != NULL) {
		const struct keelson_json **members = malloc(n * sizeof(*members));
		if (members == NULL)
			return -1;
		for (size_t i = 0; i < n; i++)
			members[i] = H->json_at(node, i);
		/* Insertion sort: objects in a spec are small. */
		for (size_t i = 1; i < n; i++) {
			const struct keelson_json *m = members[i];
			size_t j = i;
			while (j > 0 && strcmp(H->json_key(members[j - 1]), H->json_key(m)) > 0) {
				members[j] = members[j - 1];
				j--;
			}
			members[j] = m;
		}
		fnv_str(h, "{");
		int rc = 0;
		for (size_t i = 0; i < n && rc == 0; i++) {
			fnv_str(h, H->json_key(members[i]));
			rc = hash_json(p, h, members[i], depth + 1);
		}
		fnv_str(h, "}");
		free(members);
		return rc;
	}
	if (first != NULL) {
		fnv_str(h, "[");
		for (size_t i = 0; i < n; i++)
			if (hash_json(p, h, H->json_at(node, i), depth + 1) != 0)
				return -1;
		fnv_str(h, "]");
		return 0;
	}
	/* Empty object, empty array or null. */
	const char *text = H->json_text(p->call, node);
	fnv_str(h, text ? text : "null");
	return 0;
}

static int spec_hash(const struct planner *p, char out[17], const struct keelson_json *spec)
{
	unsigned long long h = 14695981039346656037ULL;
	if (hash_json(p, &h, spec, 0) != 0)
		return -1;
	snprintf(out, 17, "%016llx", h);
	return 0;
}

/* The submission id of the next attempt (rule 3.1.2: fresh per attempt),
 * shaped like a UUID. Derived from the application's uid, its spec hash
 * and the submission number, not from the clock: a keelson killed after
 * creating the driver and before recording it finds the pod by this id
 * and records it, instead of creating another. */
static void next_submission_id(char out[37], const struct app *a)
{
	unsigned long long h1 = 14695981039346656037ULL, h2;
	char text[64];
	fnv_str(&h1, a->ns);
	fnv_str(&h1, a->name);
	fnv_str(&h1, a->uid ? a->uid : "");
	fnv_str(&h1, a->hash);
	snprintf(text, sizeof(text), "%lld", a->rec.attempts.submission_attempts + 1);
	fnv_str(&h1, text);
	h2 = h1;
	fnv_str(&h2, "second half");
	snprintf(out, 37, "%08llx-%04llx-4%03llx-a%03llx-%012llx", h1 >> 32, (h1 >> 16) & 0xffff, h1 & 0xfff,
		 (h2 >> 52) & 0xfff, h2 & 0xffffffffffffULL);
}

/* --- Steps --------------------------------------------------------------- */

static int add(struct planner *p, struct keelson_step *step)
{
	step->struct_size = sizeof(*step);
	if (p->probing) {
		if (p->probe_first_kind == 0)
			p->probe_first_kind = (int)step->kind;
		return 0;
	}
	if (p->h->add_step(p->call, step) != 0) {
		p->failed = 1;
		return -1;
	}
	return 0;
}

static int wait_step(struct planner *p, const char *description, const char *key, const char *gate,
		     long long timeout_ms)
{
	struct keelson_step s = {.kind = KEELSON_STEP_WAIT, .description = description, .key = key, .gate = gate,
				 .timeout_ms = timeout_ms};
	return add(p, &s);
}

static int blocked_step(struct planner *p, const char *reason)
{
	struct keelson_step s = {.kind = KEELSON_STEP_BLOCKED,
				 .description = "stop: a SparkApplication cannot be handled safely", .reason = reason};
	return add(p, &s);
}

/* .status in spark-operator's shape, from the record: what people read
 * (kubectl get sparkapplication -o yaml, dashboards). */
static void status_member(struct jb *b, const struct app *a, const struct record *r)
{
	char when[40];
	jb_key(b, "status");
	jb_begin_object(b);
	jb_key(b, "applicationState");
	jb_begin_object(b);
	jb_kv_string(b, "state", spark_state_name(r->state));
	jb_kv_string(b, "errorMessage", r->last_failure);
	jb_end_object(b);
	jb_kv_int(b, "submissionAttempts", r->attempts.submission_attempts);
	jb_kv_int(b, "executionAttempts", r->attempts.execution_attempts);
	rfc3339(when, sizeof(when), r->attempts.last_submission_ms);
	jb_key(b, "lastSubmissionAttemptTime");
	jb_string(b, when[0] ? when : NULL);
	rfc3339(when, sizeof(when), r->termination_ms);
	jb_key(b, "terminationTime");
	jb_string(b, when[0] ? when : NULL);
	jb_kv_string(b, "submissionID", r->submission_id);
	jb_key(b, "driverInfo");
	jb_begin_object(b);
	jb_kv_string(b, "podName", r->submission_id[0] ? a->driver_name : "");
	jb_end_object(b);
	jb_end_object(b);
}

/* The record as a merge patch of the live SparkApplication: annotations
 * (what the plugin reads back) and .status in spark-operator's shape (what
 * people read). */
static int patch_record(struct planner *p, const struct app *a, const struct record *r, const char *description,
			const char *gate)
{
	char number[32];
	struct jb b;
	jb_init(&b, PATCH_LIMIT);
	jb_begin_object(&b);
	jb_key(&b, "metadata");
	jb_begin_object(&b);
	jb_key(&b, "annotations");
	jb_begin_object(&b);
	jb_kv_string(&b, A_STATE, spark_state_name(r->state));
	jb_kv_string(&b, A_HASH, r->hash);
	snprintf(number, sizeof(number), "%lld", r->attempts.submission_attempts);
	jb_kv_string(&b, A_SUBMISSIONS, number);
	snprintf(number, sizeof(number), "%lld", r->attempts.execution_attempts);
	jb_kv_string(&b, A_EXECUTIONS, number);
	snprintf(number, sizeof(number), "%lld", r->attempts.last_submission_ms);
	jb_kv_string(&b, A_LAST_SUBMISSION, number);
	jb_kv_string(&b, A_SUBMISSION_ID, r->submission_id);
	snprintf(number, sizeof(number), "%lld", r->termination_ms);
	jb_kv_string(&b, A_TERMINATION, number);
	jb_kv_string(&b, A_LAST_FAILURE, r->last_failure);
	jb_end_object(&b);
	jb_end_object(&b);
	status_member(&b, a, r);
	jb_end_object(&b);
	int rc = -1;
	const char *text = jb_text(&b);
	if (text != NULL) {
		struct keelson_step s = {.kind = KEELSON_STEP_PATCH, .description = description, .gate = gate,
					 .api_version = a->obj->api_version, .kind_name = a->obj->kind,
					 .namespace_ = a->ns, .name = a->name, .patch_type = KEELSON_PATCH_MERGE,
					 .patch = text};
		rc = add(p, &s);
	} else {
		p->h->log(p->call, KEELSON_PLUGIN_LOG_ERROR, "the status patch of %s/%s is larger than %d bytes",
			  a->ns, a->name, PATCH_LIMIT);
		p->failed = 1;
	}
	jb_dispose(&b);
	return rc;
}

/* Whether the CRD serves .status of SparkApplications of this version as a
 * subresource (spark-operator's CRD does): then the server drops the .status
 * of patch_record and the record reaches .status only through /status.
 * 1 yes, 0 no, -1 unknown (the CRD cannot be read). */
static int status_is_subresource(const struct planner *p, const struct app *a)
{
	const struct keelson_json *crd = NULL;
	if (p->h->live_get(p->call, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "",
			   "sparkapplications." SPARK_GROUP, &crd) != 0)
		return -1;
	const char *slash = strchr(a->obj->api_version, '/');
	const char *version = slash != NULL ? slash + 1 : a->obj->api_version;
	const struct keelson_json *versions = p->h->json_get(crd, "/spec/versions");
	for (size_t i = 0; i < p->h->json_count(versions); i++) {
		const struct keelson_json *v = p->h->json_at(versions, i);
		const char *name = p->h->json_string(p->h->json_get(v, "/name"));
		if (name != NULL && strcmp(name, version) == 0)
			return p->h->json_get(v, "/subresources/status") != NULL;
	}
	return 0;
}

static int text_equal(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static int number_equal(const struct planner *p, const struct keelson_json *node, long long want)
{
	double have;
	return p->h->json_number(node, &have) == 0 && have == (double)want;
}

/* Whether live .status already says what the record says. */
static int status_current(const struct planner *p, const struct app *a)
{
	const struct record *r = &a->rec;
	const struct keelson_json *st = p->h->json_get(a->live, "/status");
	return text_equal(p->h->json_string(p->h->json_get(st, "/applicationState/state")), spark_state_name(r->state)) &&
	       text_equal(p->h->json_string(p->h->json_get(st, "/applicationState/errorMessage")), r->last_failure) &&
	       text_equal(p->h->json_string(p->h->json_get(st, "/submissionID")), r->submission_id) &&
	       number_equal(p, p->h->json_get(st, "/submissionAttempts"), r->attempts.submission_attempts) &&
	       number_equal(p, p->h->json_get(st, "/executionAttempts"), r->attempts.execution_attempts);
}

/* With the status subresource, copy the record (kept in annotations) into
 * .status through /status when they differ; informational, so a CRD that
 * cannot be read or an older host only leaves .status behind. */
static int plan_status_subresource(struct planner *p, const struct app *a)
{
	if (p->h->version < 5 || a->live == NULL || a->rec.state == SPARK_NEW || a->rec.state == SPARK_UNKNOWN ||
	    status_current(p, a) || status_is_subresource(p, a) != 1)
		return 0;
	struct jb b;
	jb_init(&b, PATCH_LIMIT);
	jb_begin_object(&b);
	status_member(&b, a, &a->rec);
	jb_end_object(&b);
	int rc = -1;
	const char *text = jb_text(&b);
	if (text != NULL) {
		char description[600];
		snprintf(description, sizeof(description), "record state %s of SparkApplication %s/%s in its status",
			 spark_state_name(a->rec.state), a->ns, a->name);
		struct keelson_step s = {.kind = KEELSON_STEP_PATCH, .description = description,
					 .api_version = a->obj->api_version, .kind_name = a->obj->kind,
					 .namespace_ = a->ns, .name = a->name, .patch_type = KEELSON_PATCH_MERGE,
					 .patch = text, .subresource = "status"};
		rc = add(p, &s);
	} else {
		p->failed = 1;
	}
	jb_dispose(&b);
	return rc;
}

/* --- The driver pod ---------------------------------------------------------- */

static void conf_arg(struct jb *b, const char *key, const char *value)
{
	char text[2048];
	if (value == NULL || snprintf(text, sizeof(text), "%s=%s", key, value) >= (int)sizeof(text))
		return;
	jb_string(b, "--conf");
	jb_string(b, text);
}

static void conf_arg_num(struct jb *b, const char *key, long long value)
{
	char text[32];
	snprintf(text, sizeof(text), "%lld", value);
	conf_arg(b, key, text);
}

/* A scalar of the spec as text (numbers as written: cores 1 -> "1"). */
static const char *scalar_text(const struct planner *p, const struct keelson_json *node, char *buf, size_t size)
{
	const char *s = p->h->json_string(node);
	if (s != NULL)
		return s;
	double v;
	if (p->h->json_number(node, &v) == 0) {
		snprintf(buf, size, "%.15g", v);
		return buf;
	}
	return NULL;
}

static int has_member(const struct planner *p, const struct keelson_json *obj, const char *key)
{
	for (size_t i = 0; i < p->h->json_count(obj); i++) {
		const char *k = p->h->json_key(p->h->json_at(obj, i));
		if (k != NULL && strcmp(k, key) == 0)
			return 1;
	}
	return 0;
}

/* The spec.volumes entry named `name`, or NULL. */
static const struct keelson_json *spec_volume(const struct planner *p, const struct keelson_json *spec,
					      const char *name)
{
	const struct keelson_json *volumes = p->h->json_get(spec, "/volumes");
	for (size_t i = 0; i < p->h->json_count(volumes); i++) {
		const struct keelson_json *v = p->h->json_at(volumes, i);
		const char *n = str_at(p, v, "/name");
		if (n != NULL && strcmp(n, name) == 0)
			return v;
	}
	return NULL;
}

static void raw_member(const struct planner *p, struct jb *b, const char *key, const struct keelson_json *node)
{
	if (node == NULL)
		return;
	jb_key(b, key);
	jb_raw(b, p->h->json_text(p->call, node));
}

/* The container's volumes and mounts: driver.volumeMounts of spec.volumes,
 * driver.configMaps and driver.secrets mounted at their paths (as
 * spark-operator's webhook does, volume "<name>-vol"). */
static void driver_volumes(const struct planner *p, struct jb *b, const struct keelson_json *spec, int mounts)
{
	const struct keelson_host *H = p->h;
	const struct keelson_json *vm = H->json_get(spec, "/driver/volumeMounts");
	const struct keelson_json *cms = H->json_get(spec, "/driver/configMaps");
	const struct keelson_json *secrets = H->json_get(spec, "/driver/secrets");
	char vol[300];
	jb_key(b, mounts ? "volumeMounts" : "volumes");
	jb_begin_array(b);
	for (size_t i = 0; i < H->json_count(vm); i++) {
		const struct keelson_json *m = H->json_at(vm, i);
		const char *name = str_at(p, m, "/name");
		if (name == NULL)
			continue;
		if (mounts) {
			jb_raw(b, H->json_text(p->call, m));
		} else {
			/* Mounted twice is one volume. */
			int seen = 0;
			for (size_t k = 0; k < i; k++) {
				const char *other = str_at(p, H->json_at(vm, k), "/name");
				if (other != NULL && strcmp(other, name) == 0)
					seen = 1;
			}
			const struct keelson_json *v = spec_volume(p, spec, name);
			if (!seen && v != NULL)
				jb_raw(b, H->json_text(p->call, v));
		}
	}
	for (int kind = 0; kind < 2; kind++) {
		const struct keelson_json *list = kind == 0 ? cms : secrets;
		for (size_t i = 0; i < H->json_count(list); i++) {
			const struct keelson_json *e = H->json_at(list, i);
			const char *name = str_at(p, e, "/name"), *path = str_at(p, e, "/path");
			if (name == NULL || path == NULL)
				continue;
			snprintf(vol, sizeof(vol), "%s-vol", name);
			jb_begin_object(b);
			jb_kv_string(b, "name", vol);
			if (mounts) {
				jb_kv_string(b, "mountPath", path);
			} else if (kind == 0) {
				jb_key(b, "configMap");
				jb_begin_object(b);
				jb_kv_string(b, "name", name);
				jb_end_object(b);
			} else {
				jb_key(b, "secret");
				jb_begin_object(b);
				jb_kv_string(b, "secretName", name);
				jb_end_object(b);
			}
			jb_end_object(b);
		}
	}
	jb_end_array(b);
}

/* Executor settings Spark takes as configuration (the driver creates the
 * executors). */
static void executor_conf(const struct planner *p, struct jb *b, const struct app *a, const char *submission,
			  const char *image)
{
	const struct keelson_host *H = p->h;
	const struct keelson_json *spec = a->spec;
	char key[512], buf[64];
	conf_arg_num(b, "spark.executor.instances", num_at(p, spec, "/executor/instances", 2));
	conf_arg(b, "spark.executor.cores", scalar_text(p, H->json_get(spec, "/executor/cores"), buf, sizeof(buf)));
	conf_arg(b, "spark.executor.memory", str_at(p, spec, "/executor/memory"));
	conf_arg(b, "spark.executor.memoryOverhead", str_at(p, spec, "/executor/memoryOverhead"));
	conf_arg(b, "spark.kubernetes.executor.request.cores", str_at(p, spec, "/executor/coreRequest"));
	conf_arg(b, "spark.kubernetes.executor.limit.cores", str_at(p, spec, "/executor/coreLimit"));
	conf_arg(b, "spark.kubernetes.executor.container.image",
		 str_at(p, spec, "/executor/image") ? str_at(p, spec, "/executor/image") : image);
	conf_arg(b, "spark.kubernetes.executor.label." L_APP, a->name);
	conf_arg(b, "spark.kubernetes.executor.label." L_SUBMISSION, submission);
	conf_arg(b, "spark.kubernetes.executor.label." L_SPEC_HASH, a->hash);
	const struct keelson_json *labels = H->json_get(spec, "/executor/labels");
	for (size_t i = 0; i < H->json_count(labels); i++) {
		const struct keelson_json *m = H->json_at(labels, i);
		snprintf(key, sizeof(key), "spark.kubernetes.executor.label.%s", H->json_key(m));
		conf_arg(b, key, scalar_text(p, m, buf, sizeof(buf)));
	}
	const struct keelson_json *annotations = H->json_get(spec, "/executor/annotations");
	for (size_t i = 0; i < H->json_count(annotations); i++) {
		const struct keelson_json *m = H->json_at(annotations, i);
		snprintf(key, sizeof(key), "spark.kubernetes.executor.annotation.%s", H->json_key(m));
		conf_arg(b, key, scalar_text(p, m, buf, sizeof(buf)));
	}
	const struct keelson_json *secrets = H->json_get(spec, "/executor/secrets");
	for (size_t i = 0; i < H->json_count(secrets); i++) {
		const struct keelson_json *e = H->json_at(secrets, i);
		const char *name = str_at(p, e, "/name");
		if (name == NULL)
			continue;
		snprintf(key, sizeof(key), "spark.kubernetes.executor.secrets.%s", name);
		conf_arg(b, key, str_at(p, e, "/path"));
	}
	/* Volume types Spark mounts on executors by configuration. */
	static const char *const types[] = {"persistentVolumeClaim", "hostPath", "emptyDir", "nfs", NULL};
	const struct keelson_json *mounts = H->json_get(spec, "/executor/volumeMounts");
	for (size_t i = 0; i < H->json_count(mounts); i++) {
		const struct keelson_json *m = H->json_at(mounts, i);
		const char *name = str_at(p, m, "/name"), *path = str_at(p, m, "/mountPath");
		const struct keelson_json *v = name ? spec_volume(p, spec, name) : NULL;
		for (size_t t = 0; v != NULL && path != NULL && types[t] != NULL; t++) {
			if (!has_member(p, v, types[t]))
				continue;
			snprintf(key, sizeof(key), "spark.kubernetes.executor.volumes.%s.%s.mount.path", types[t], name);
			conf_arg(b, key, path);
			if (strcmp(types[t], "persistentVolumeClaim") == 0) {
				snprintf(key, sizeof(key), "spark.kubernetes.executor.volumes.%s.%s.options.claimName",
					 types[t], name);
				conf_arg(b, key, str_at(p, v, "/persistentVolumeClaim/claimName"));
			} else if (strcmp(types[t], "hostPath") == 0) {
				snprintf(key, sizeof(key), "spark.kubernetes.executor.volumes.%s.%s.options.path", types[t],
					 name);
				conf_arg(b, key, str_at(p, v, "/hostPath/path"));
			}
		}
	}
}

/* Container memory: driver.memory (default 1g) plus memoryOverhead, or
 * spark-operator's default overhead. */
static long long driver_memory_mib(const struct planner *p, const struct keelson_json *spec)
{
	const char *mem = str_at(p, spec, "/driver/memory");
	long long mib = spark_memory_mib(mem ? mem : "1g");
	const char *overhead = str_at(p, spec, "/driver/memoryOverhead");
	long long extra = overhead ? spark_memory_mib(overhead) : spark_memory_overhead_mib(mib, str_at(p, spec, "/type"));
	return mib < 0 || extra < 0 ? -1 : mib + extra;
}

/* The driver pod of attempt `attempt`, as JSON text in *b. */
static void build_driver(const struct planner *p, struct jb *b, const struct app *a, const char *submission,
			 long long attempt)
{
	const struct keelson_host *H = p->h;
	const struct keelson_json *spec = a->spec;
	char buf[64], selector[48], attempt_text[32];
	const char *image = str_at(p, spec, "/driver/image") ? str_at(p, spec, "/driver/image") : str_at(p, spec, "/image");
	snprintf(attempt_text, sizeof(attempt_text), "%lld", attempt);
	snprintf(selector, sizeof(selector), "spark-");
	for (size_t i = 0, o = 6; submission[i] && o < sizeof(selector) - 1; i++)
		if (submission[i] != '-')
			selector[o++] = submission[i], selector[o] = '\0';

	jb_begin_object(b);
	jb_kv_string(b, "apiVersion", "v1");
	jb_kv_string(b, "kind", "Pod");
	jb_key(b, "metadata");
	jb_begin_object(b);
	jb_kv_string(b, "name", a->driver_name);
	jb_kv_string(b, "namespace", a->ns);
	jb_key(b, "labels");
	jb_begin_object(b);
	/* The user's labels first; keelson's own cannot be overridden. */
	const struct keelson_json *labels = H->json_get(spec, "/driver/labels");
	for (size_t i = 0; i < H->json_count(labels); i++) {
		const struct keelson_json *m = H->json_at(labels, i);
		const char *k = H->json_key(m);
		if (k && strcmp(k, L_APP) && strcmp(k, L_ROLE) && strcmp(k, L_SUBMISSION) && strcmp(k, L_SELECTOR) &&
		    strcmp(k, L_SPEC_HASH) && strcmp(k, L_ATTEMPT) && scalar_text(p, m, buf, sizeof(buf)))
			jb_kv_string(b, k, scalar_text(p, m, buf, sizeof(buf)));
	}
	jb_kv_string(b, L_APP, a->name);
	jb_kv_string(b, L_ROLE, "driver");
	jb_kv_string(b, L_SUBMISSION, submission);
	jb_kv_string(b, L_SELECTOR, selector);
	jb_kv_string(b, L_SPEC_HASH, a->hash);
	jb_kv_string(b, L_ATTEMPT, attempt_text);
	jb_end_object(b);
	jb_key(b, "annotations");
	jb_begin_object(b);
	const struct keelson_json *annotations = H->json_get(spec, "/driver/annotations");
	for (size_t i = 0; i < H->json_count(annotations); i++) {
		const struct keelson_json *m = H->json_at(annotations, i);
		const char *k = H->json_key(m);
		if (k && strncmp(k, "keelson.dev/spark-", 18) != 0 && scalar_text(p, m, buf, sizeof(buf)))
			jb_kv_string(b, k, scalar_text(p, m, buf, sizeof(buf)));
	}
	jb_kv_string(b, "keelson.dev/spark-restart-policy", spark_restart_type_name(a->policy.type));
	snprintf(buf, sizeof(buf), "%lld", a->policy.on_failure_retries < 0 ? 0 : a->policy.on_failure_retries);
	jb_kv_string(b, "keelson.dev/spark-on-failure-retries", buf);
	snprintf(buf, sizeof(buf), "%lld", a->policy.on_failure_retry_interval_s < 0 ? 5 : a->policy.on_failure_retry_interval_s);
	jb_kv_string(b, "keelson.dev/spark-on-failure-retry-interval", buf);
	snprintf(buf, sizeof(buf), "%lld", num_at(p, spec, "/executor/instances", 2));
	jb_kv_string(b, "keelson.dev/spark-executor-instances", buf);
	jb_end_object(b);
	/* Garbage-collected with the application, as spark-operator's are. */
	jb_key(b, "ownerReferences");
	jb_begin_array(b);
	jb_begin_object(b);
	jb_kv_string(b, "apiVersion", a->obj->api_version);
	jb_kv_string(b, "kind", a->obj->kind);
	jb_kv_string(b, "name", a->name);
	jb_kv_string(b, "uid", a->uid ? a->uid : "(the uid of the live SparkApplication)");
	jb_key(b, "controller");
	jb_bool(b, 1);
	jb_key(b, "blockOwnerDeletion");
	jb_bool(b, 1);
	jb_end_object(b);
	jb_end_array(b);
	jb_end_object(b);

	jb_key(b, "spec");
	jb_begin_object(b);
	jb_kv_string(b, "restartPolicy", "Never");
	const char *sa = str_at(p, spec, "/driver/serviceAccount");
	if (sa != NULL)
		jb_kv_string(b, "serviceAccountName", sa);
	const struct keelson_json *grace = H->json_get(spec, "/driver/terminationGracePeriodSeconds");
	if (grace != NULL)
		raw_member(p, b, "terminationGracePeriodSeconds", grace);
	const struct keelson_json *ns_sel = H->json_get(spec, "/driver/nodeSelector");
	raw_member(p, b, "nodeSelector", ns_sel ? ns_sel : H->json_get(spec, "/nodeSelector"));
	raw_member(p, b, "tolerations", H->json_get(spec, "/driver/tolerations"));
	raw_member(p, b, "affinity", H->json_get(spec, "/driver/affinity"));
	raw_member(p, b, "securityContext", H->json_get(spec, "/driver/podSecurityContext"));
	raw_member(p, b, "hostAliases", H->json_get(spec, "/driver/hostAliases"));
	raw_member(p, b, "dnsConfig", H->json_get(spec, "/driver/dnsConfig"));
	const char *sched = str_at(p, spec, "/driver/schedulerName");
	if (sched != NULL)
		jb_kv_string(b, "schedulerName", sched);
	const char *prio = str_at(p, spec, "/driver/priorityClassName");
	if (prio != NULL)
		jb_kv_string(b, "priorityClassName", prio);
	const struct keelson_json *pull = H->json_get(spec, "/imagePullSecrets");
	if (H->json_count(pull) > 0) {
		jb_key(b, "imagePullSecrets");
		jb_begin_array(b);
		for (size_t i = 0; i < H->json_count(pull); i++) {
			const char *n = H->json_string(H->json_at(pull, i));
			if (n == NULL)
				continue;
			jb_begin_object(b);
			jb_kv_string(b, "name", n);
			jb_end_object(b);
		}
		jb_end_array(b);
	}
	driver_volumes(p, b, spec, 0);

	jb_key(b, "containers");
	jb_begin_array(b);
	jb_begin_object(b);
	jb_kv_string(b, "name", DRIVER_CONTAINER);
	jb_kv_string(b, "image", image);
	const char *pull_policy = str_at(p, spec, "/imagePullPolicy");
	if (pull_policy != NULL)
		jb_kv_string(b, "imagePullPolicy", pull_policy);
	jb_key(b, "args");
	jb_begin_array(b);
	jb_string(b, "driver");
	conf_arg(b, "spark.master", "k8s://https://kubernetes.default.svc:443");
	conf_arg(b, "spark.app.name", a->name);
	conf_arg(b, "spark.kubernetes.namespace", a->ns);
	conf_arg(b, "spark.kubernetes.driver.pod.name", a->driver_name);
	/* Kubernetes expands $(VAR) in args: the pod's own IP. */
	conf_arg(b, "spark.driver.host", "$(SPARK_DRIVER_BIND_ADDRESS)");
	conf_arg(b, "spark.kubernetes.authenticate.driver.serviceAccountName", sa);
	conf_arg(b, "spark.driver.cores", scalar_text(p, H->json_get(spec, "/driver/cores"), buf, sizeof(buf)));
	conf_arg(b, "spark.driver.memory", str_at(p, spec, "/driver/memory"));
	executor_conf(p, b, a, submission, image);
	const struct keelson_json *conf = H->json_get(spec, "/sparkConf");
	for (size_t i = 0; i < H->json_count(conf); i++) {
		const struct keelson_json *m = H->json_at(conf, i);
		conf_arg(b, H->json_key(m), scalar_text(p, m, buf, sizeof(buf)));
	}
	const char *main_class = str_at(p, spec, "/mainClass");
	if (main_class != NULL) {
		jb_string(b, "--class");
		jb_string(b, main_class);
	}
	jb_string(b, str_at(p, spec, "/mainApplicationFile"));
	const struct keelson_json *args = H->json_get(spec, "/arguments");
	for (size_t i = 0; i < H->json_count(args); i++) {
		const char *arg = scalar_text(p, H->json_at(args, i), buf, sizeof(buf));
		if (arg != NULL)
			jb_string(b, arg);
	}
	jb_end_array(b);
	jb_key(b, "env");
	jb_begin_array(b);
	jb_begin_object(b);
	jb_kv_string(b, "name", "SPARK_DRIVER_BIND_ADDRESS");
	jb_key(b, "valueFrom");
	jb_raw(b, "{\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"status.podIP\"}}");
	jb_end_object(b);
	const struct keelson_json *env = H->json_get(spec, "/driver/env");
	for (size_t i = 0; i < H->json_count(env); i++)
		jb_raw(b, H->json_text(p->call, H->json_at(env, i)));
	const struct keelson_json *env_vars = H->json_get(spec, "/driver/envVars");
	for (size_t i = 0; i < H->json_count(env_vars); i++) {
		const struct keelson_json *m = H->json_at(env_vars, i);
		jb_begin_object(b);
		jb_kv_string(b, "name", H->json_key(m));
		jb_kv_string(b, "value", scalar_text(p, m, buf, sizeof(buf)));
		jb_end_object(b);
	}
	jb_end_array(b);
	raw_member(p, b, "envFrom", H->json_get(spec, "/driver/envFrom"));
	jb_key(b, "ports");
	jb_raw(b, "[{\"name\":\"driver-rpc-port\",\"containerPort\":7078},{\"name\":\"blockmanager\",\"containerPort\":7079},"
		  "{\"name\":\"spark-ui\",\"containerPort\":4040}]");
	jb_key(b, "resources");
	jb_begin_object(b);
	char cpu[64] = "", memory[32] = "";
	const char *req = str_at(p, spec, "/driver/coreRequest");
	const char *cores = scalar_text(p, H->json_get(spec, "/driver/cores"), buf, sizeof(buf));
	copy_text(cpu, sizeof(cpu), req ? req : cores ? cores : "1");
	snprintf(memory, sizeof(memory), "%lldMi", driver_memory_mib(p, spec));
	jb_key(b, "requests");
	jb_begin_object(b);
	jb_kv_string(b, "cpu", cpu);
	jb_kv_string(b, "memory", memory);
	jb_end_object(b);
	jb_key(b, "limits");
	jb_begin_object(b);
	jb_kv_string(b, "memory", memory);
	const char *limit = str_at(p, spec, "/driver/coreLimit");
	if (limit != NULL)
		jb_kv_string(b, "cpu", limit);
	jb_end_object(b);
	jb_end_object(b);
	raw_member(p, b, "securityContext", H->json_get(spec, "/driver/securityContext"));
	driver_volumes(p, b, spec, 1);
	jb_end_object(b);
	jb_end_array(b);
	jb_end_object(b);
	jb_end_object(b);
}

/* --- Reading the application ------------------------------------------------- */

static void read_policy(const struct planner *p, struct app *a)
{
	const struct keelson_json *rp = p->h->json_get(a->spec, "/restartPolicy");
	const char *type = str_at(p, rp, "/type");
	if (spark_restart_type_parse(type, &a->policy.type) != 0)
		snprintf(a->invalid, sizeof(a->invalid), "spec.restartPolicy.type \"%s\" is not Never, OnFailure or Always",
			 type);
	/* spark-operator's defaults (defaults.go): intervals of 5 s unless Never. */
	long long dflt_interval = a->policy.type == SPARK_RESTART_NEVER ? -1 : 5;
	a->policy.on_failure_retries = num_at(p, rp, "/onFailureRetries", -1);
	a->policy.on_failure_retry_interval_s = num_at(p, rp, "/onFailureRetryInterval", dflt_interval);
	a->policy.on_submission_failure_retries = num_at(p, rp, "/onSubmissionFailureRetries", -1);
	a->policy.on_submission_failure_retry_interval_s = num_at(p, rp, "/onSubmissionFailureRetryInterval", dflt_interval);
}

/* What spark-submit would refuse, so the attempt is a submission failure. */
static void validate_spec(const struct planner *p, struct app *a)
{
	const char *type = str_at(p, a->spec, "/type");
	const char *mode = str_at(p, a->spec, "/mode");
	if (a->invalid[0])
		return;
	if (str_at(p, a->spec, "/image") == NULL && str_at(p, a->spec, "/driver/image") == NULL)
		snprintf(a->invalid, sizeof(a->invalid), "neither spec.image nor spec.driver.image is set");
	else if (str_at(p, a->spec, "/mainApplicationFile") == NULL)
		snprintf(a->invalid, sizeof(a->invalid), "spec.mainApplicationFile is not set");
	else if ((type == NULL || !strcmp(type, "Java") || !strcmp(type, "Scala")) &&
		 str_at(p, a->spec, "/mainClass") == NULL)
		snprintf(a->invalid, sizeof(a->invalid), "spec.mainClass is required for a %s application",
			 type ? type : "Java");
	else if (mode != NULL && strcmp(mode, "cluster") != 0)
		snprintf(a->invalid, sizeof(a->invalid), "spec.mode %s is not supported in native mode (only cluster)",
			 mode);
	else if (driver_memory_mib(p, a->spec) < 0)
		snprintf(a->invalid, sizeof(a->invalid), "spec.driver.memory or memoryOverhead is not a memory size");
}

static void read_record(const struct planner *p, struct app *a)
{
	struct record *r = &a->rec;
	memset(r, 0, sizeof(*r));
	if (a->live == NULL)
		return;
	char state[40];
	annotation_text(state, sizeof(state), p, a->live, "state");
	r->state = spark_state_parse(state);
	annotation_text(r->hash, sizeof(r->hash), p, a->live, "spec-hash");
	r->attempts.submission_attempts = annotation_number(p, a->live, "submission-attempts", 0);
	r->attempts.execution_attempts = annotation_number(p, a->live, "execution-attempts", 0);
	r->attempts.last_submission_ms = annotation_number(p, a->live, "last-submission-ms", 0);
	annotation_text(r->submission_id, sizeof(r->submission_id), p, a->live, "submission-id");
	/* A submission is recorded but not its state (the annotation was lost
	 * or edited): the application is not new, and a NEW one would kill its
	 * running driver to submit again. Follow the driver instead. */
	if (r->state == SPARK_NEW && r->submission_id[0] != '\0')
		r->state = SPARK_UNKNOWN;
	r->termination_ms = annotation_number(p, a->live, "termination-ms", 0);
	annotation_text(r->last_failure, sizeof(r->last_failure), p, a->live, "last-failure");
}

static int prepare_app(const struct planner *p, struct app *a, const struct keelson_view_object *o)
{
	memset(a, 0, sizeof(*a));
	a->obj = o;
	a->ns = o->namespace_;
	a->name = o->name;
	a->live = o->live;
	a->uid = a->live ? str_at(p, a->live, "/metadata/uid") : NULL;
	const struct keelson_json *desired_spec = p->h->json_get(o->desired, "/spec");
	a->spec = o->state == KEELSON_OBJECT_IN_SYNC && a->live != NULL ? p->h->json_get(a->live, "/spec") : desired_spec;
	if (spec_hash(p, a->hash, a->spec) != 0)
		return -1;
	if (a->live != NULL && spec_hash(p, a->base_hash, p->h->json_get(a->live, "/spec")) != 0)
		return -1;
	const char *pod = str_at(p, a->spec, "/driver/podName");
	if (pod == NULL)
		pod = str_at(p, a->spec, "/sparkConf/spark.kubernetes.driver.pod.name");
	if (pod != NULL)
		copy_text(a->driver_name, sizeof(a->driver_name), pod);
	else
		snprintf(a->driver_name, sizeof(a->driver_name), "%s-driver", a->name);
	read_policy(p, a);
	validate_spec(p, a);
	read_record(p, a);
	return 0;
}

/* Driver and executor pods of the application. -1 when they cannot be read. */
static int read_pods(const struct planner *p, const struct app *a, struct pods *out)
{
	char selector[400], next[37];
	const struct keelson_json *list = NULL;
	memset(out, 0, sizeof(*out));
	next_submission_id(next, a);
	snprintf(selector, sizeof(selector), L_APP "=%s", a->name);
	if (p->h->live_list(p->call, "v1", "Pod", a->ns, selector, &list) != 0)
		return -1;
	size_t n = p->h->json_count(list);
	if (n > MAX_PODS)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct keelson_json *pod = p->h->json_at(list, i);
		const char *role = str_at(p, pod, "/metadata/labels/" L_ROLE);
		if (role != NULL && strcmp(role, "executor") == 0) {
			out->executor_count++;
		} else if (role != NULL && strcmp(role, "driver") == 0) {
			out->drivers[out->driver_count++] = pod;
			const char *sub = str_at(p, pod, "/metadata/labels/sparkoperator.k8s.io~1submission-id");
			if (a->rec.submission_id[0] && sub != NULL && strcmp(sub, a->rec.submission_id) == 0)
				out->current = pod;
			else if (sub != NULL && strcmp(sub, next) == 0 &&
				 p->h->json_get(pod, "/metadata/deletionTimestamp") == NULL)
				out->pending = pod;
		}
	}
	return 0;
}

static void observe_driver(const struct planner *p, const struct keelson_json *pod,
			   struct spark_driver_observation *d, char *failure, size_t size)
{
	const struct keelson_host *H = p->h;
	memset(d, 0, sizeof(*d));
	d->phase = str_at(p, pod, "/status/phase");
	d->terminating = H->json_get(pod, "/metadata/deletionTimestamp") != NULL;
	const struct keelson_json *statuses = H->json_get(pod, "/status/containerStatuses");
	const struct keelson_json *cs = NULL;
	for (size_t i = 0; i < H->json_count(statuses); i++) {
		const struct keelson_json *c = H->json_at(statuses, i);
		const char *name = str_at(p, c, "/name");
		if (cs == NULL || (name != NULL && strcmp(name, DRIVER_CONTAINER) == 0))
			cs = c;
	}
	const struct keelson_json *term = H->json_get(cs, "/state/terminated");
	const char *reason = NULL;
	if (term != NULL) {
		d->container_terminated = 1;
		d->exit_code = num_at(p, term, "/exitCode", 1);
		reason = str_at(p, term, "/reason");
	}
	const char *name = str_at(p, pod, "/metadata/name");
	if (d->terminating && !d->container_terminated)
		snprintf(failure, size, "driver pod %s was deleted before it finished", name ? name : "?");
	else if (d->container_terminated)
		snprintf(failure, size, "driver pod %s failed: exit code %lld%s%s%s", name ? name : "?", d->exit_code,
			 reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
	else
		snprintf(failure, size, "driver pod %s ended in phase %s", name ? name : "?",
			 d->phase ? d->phase : "(none)");
}

/* --- Native mode ------------------------------------------------------------- */

static const char *policy_text(char *buf, size_t size, const struct app *a, int submission)
{
	if (a->policy.type == SPARK_RESTART_ON_FAILURE)
		snprintf(buf, size, "OnFailure, %s %lld", submission ? "onSubmissionFailureRetries" : "onFailureRetries",
			 submission ? a->policy.on_submission_failure_retries : a->policy.on_failure_retries);
	else
		snprintf(buf, size, "%s", spark_restart_type_name(a->policy.type));
	return buf;
}

/* Record the driver created for the next submission: SUBMITTED, with the
 * submission time taken now (at or after the pod's creation, so a retry is
 * never due early). */
static int plan_record_submission(struct planner *p, const struct app *a, const char *gate)
{
	char text[1024];
	struct record next = a->rec;
	copy_text(next.hash, sizeof(next.hash), a->hash);
	next.state = SPARK_SUBMITTED;
	next.attempts.submission_attempts++;
	next.attempts.execution_attempts++;
	next.attempts.last_submission_ms = p->now;
	next.termination_ms = 0;
	next_submission_id(next.submission_id, a);
	snprintf(text, sizeof(text), "record the submission of %s/%s: attempt %lld is SUBMITTED (submission %lld, "
		 "spec %s)", a->ns, a->name, next.attempts.execution_attempts, next.attempts.submission_attempts,
		 a->hash);
	return patch_record(p, a, &next, text, gate);
}

/* Kill or remove every driver of the application (none is the current
 * one in the states that submit), wait until no driver and no executor is
 * left, create the next driver, record it. The gate of the creation is
 * this very observation. */
static int plan_clear_and_submit(struct planner *p, const struct app *a, const struct pods *pods)
{
	char text[1024], key[512], gate[512];
	if (pods->pending != NULL)
		return plan_record_submission(p, a, "the driver pod of the next submission exists");
	int left = 0;
	for (size_t i = 0; i < pods->driver_count; i++) {
		const struct keelson_json *pod = pods->drivers[i];
		const char *name = str_at(p, pod, "/metadata/name"), *uid = str_at(p, pod, "/metadata/uid");
		const char *phase = str_at(p, pod, "/status/phase");
		const char *attempt = str_at(p, pod, "/metadata/labels/keelson.dev~1spark-attempt");
		left = 1;
		if (p->h->json_get(pod, "/metadata/deletionTimestamp") != NULL)
			continue;
		if (name == NULL || uid == NULL)
			return blocked_step(p, "a driver pod without name or uid; cannot delete it safely");
		int finished = phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
		snprintf(text, sizeof(text), "%s driver pod %s/%s of %s (attempt %s, %s) before submitting again",
			 finished ? "delete the finished" : "kill the running", a->ns, name, a->name,
			 attempt ? attempt : "?", phase ? phase : "no phase");
		struct keelson_step s = {.kind = KEELSON_STEP_DELETE_POD, .description = text,
					 .gate = "the application's record no longer points at this driver",
					 .api_version = "v1", .kind_name = "Pod", .namespace_ = a->ns, .name = name,
					 .precondition_uid = uid, .grace_seconds = -1};
		if (add(p, &s) != 0)
			return -1;
	}
	if (left || pods->executor_count > 0) {
		snprintf(text, sizeof(text), "wait until the %zu driver and %zu executor pods of %s/%s are gone before "
			 "submitting (never two drivers at once)", pods->driver_count, pods->executor_count, a->ns,
			 a->name);
		snprintf(key, sizeof(key), "spark-gone/%s/%s/%s/%lld", a->ns, a->name, a->hash,
			 a->rec.attempts.submission_attempts);
		if (wait_step(p, text, key, "no driver or executor pod of the application", p->kill_timeout_ms) != 0)
			return -1;
	}
	if (a->invalid[0]) {
		struct record next = a->rec;
		copy_text(next.hash, sizeof(next.hash), a->hash);
		next.attempts.submission_attempts++;
		next.attempts.last_submission_ms = p->now;
		next.termination_ms = 0;
		next.state = SPARK_SUBMISSION_FAILED;
		next.submission_id[0] = '\0';
		snprintf(next.last_failure, sizeof(next.last_failure), "submission failed: %s", a->invalid);
		snprintf(text, sizeof(text), "submission %lld of %s/%s failed: %s", next.attempts.submission_attempts,
			 a->ns, a->name, a->invalid);
		return patch_record(p, a, &next, text, NULL);
	}
	char id[37];
	next_submission_id(id, a);
	long long attempt = a->rec.attempts.execution_attempts + 1;
	struct jb b;
	jb_init(&b, OBJECT_LIMIT);
	build_driver(p, &b, a, id, attempt);
	snprintf(gate, sizeof(gate), "pods of %s/%s read this cycle: no driver and no executor exists", a->ns, a->name);
	snprintf(text, sizeof(text), "submit %s/%s: create driver pod %s, attempt %lld (spec %s, submission %lld, "
		 "restartPolicy %s)", a->ns, a->name, a->driver_name, attempt, a->hash,
		 a->rec.attempts.submission_attempts + 1, spark_restart_type_name(a->policy.type));
	struct keelson_step s = {.kind = KEELSON_STEP_APPLY, .description = text,
				 .gate = left || pods->executor_count ? NULL : gate, .object_json = jb_text(&b)};
	int rc = -1;
	if (s.object_json != NULL) {
		rc = add(p, &s);
	} else {
		p->h->log(p->call, KEELSON_PLUGIN_LOG_ERROR, "the driver pod of %s/%s is larger than 1 MiB", a->ns, a->name);
		p->failed = 1;
	}
	jb_dispose(&b);
	if (rc != 0)
		return rc;
	/* What follows once the pod is seen. */
	return plan_record_submission(p, a, NULL);
}

/* FAILING or SUBMISSION_FAILED: retry when the policy allows and the
 * linear delay has passed, else FAILED. */
static int plan_failure(struct planner *p, const struct app *a, const struct pods *pods)
{
	char text[1024], key[512], policy[128];
	int submission = a->rec.state == SPARK_SUBMISSION_FAILED;
	if (!spark_should_retry(a->rec.state, &a->policy, &a->rec.attempts)) {
		struct record next = a->rec;
		next.state = SPARK_FAILED;
		if (next.termination_ms == 0)
			next.termination_ms = p->now;
		snprintf(text, sizeof(text), "%s/%s FAILED after %lld attempts (%lld submissions; restartPolicy %s): %s",
			 a->ns, a->name, a->rec.attempts.execution_attempts, a->rec.attempts.submission_attempts,
			 policy_text(policy, sizeof(policy), a, submission),
			 a->rec.last_failure[0] ? a->rec.last_failure : "no failure recorded");
		return patch_record(p, a, &next, text, NULL);
	}
	long long due_in = 0;
	if (spark_retry_due_in_ms(&due_in, a->rec.state, &a->policy, &a->rec.attempts, p->now) != 0)
		due_in = 0; /* spark-operator errors out and retries; nothing to wait for */
	long long interval = submission ? a->policy.on_submission_failure_retry_interval_s
					: a->policy.on_failure_retry_interval_s;
	if (due_in > 0) {
		char since[40];
		rfc3339(since, sizeof(since), a->rec.attempts.last_submission_ms);
		snprintf(text, sizeof(text), "retry %s/%s in %llds: %s %llds x %lld submissions after the last one at %s "
			 "(last failure: %s)", a->ns, a->name, (due_in + 999) / 1000,
			 submission ? "onSubmissionFailureRetryInterval" : "onFailureRetryInterval", interval,
			 a->rec.attempts.submission_attempts, since, a->rec.last_failure);
		snprintf(key, sizeof(key), "spark-retry/%s/%s/%s/%lld", a->ns, a->name, a->rec.hash,
			 a->rec.attempts.submission_attempts);
		if (wait_step(p, text, key, "the retry is due (spark-operator's TimeUntilNextRetryDue)",
			      interval * 1000 * a->rec.attempts.submission_attempts + p->kill_timeout_ms) != 0)
			return -1;
	}
	if (submission) /* spark-operator resubmits straight from SUBMISSION_FAILED */
		return plan_clear_and_submit(p, a, pods);
	struct record next = a->rec;
	next.state = SPARK_PENDING_RERUN;
	next.submission_id[0] = '\0';
	snprintf(text, sizeof(text), "rerun %s/%s after attempt %lld failed (restartPolicy %s): %s", a->ns, a->name,
		 a->rec.attempts.execution_attempts, policy_text(policy, sizeof(policy), a, 0), a->rec.last_failure);
	if (patch_record(p, a, &next, text, due_in > 0 ? NULL : "the retry is due") != 0)
		return -1;
	struct app rerun = *a;
	rerun.rec = next;
	return plan_clear_and_submit(p, &rerun, pods);
}

static int plan_native_app(struct planner *p, struct app *a)
{
	char text[1024], key[512], failure[FAILURE_TEXT + 1];
	struct pods *pods = calloc(1, sizeof(*pods));
	if (pods == NULL) {
		p->failed = 1;
		return -1;
	}
	int rc = 0;
	if (read_pods(p, a, pods) != 0) {
		snprintf(text, sizeof(text), "wait: the pods of %s/%s cannot be read (fail closed: no driver is created "
			 "or killed without them)", a->ns, a->name);
		snprintf(key, sizeof(key), "spark-read-pods/%s/%s", a->ns, a->name);
		rc = wait_step(p, text, key, NULL, p->kill_timeout_ms);
		goto done;
	}
	const struct keelson_json *current = pods->current;
	struct spark_driver_observation d;
	enum spark_state observed = SPARK_UNKNOWN;
	failure[0] = '\0';
	if (current != NULL) {
		observe_driver(p, current, &d, failure, sizeof(failure));
		observed = spark_state_from_driver(&d);
	}

	/* A spec change (in Git, or by hand on the live application). */
	if (a->rec.hash[0] && strcmp(a->rec.hash, a->hash) != 0 && !spark_state_terminal(a->rec.state) &&
	    a->rec.state != SPARK_NEW && p->wait_on_change && current != NULL &&
	    (observed == SPARK_SUBMITTED || observed == SPARK_RUNNING)) {
		snprintf(text, sizeof(text), "wait for attempt %lld of %s/%s (spec %s) to finish before submitting spec %s "
			 "(onSpecChange waitForCompletion)", a->rec.attempts.execution_attempts, a->ns, a->name,
			 a->rec.hash, a->hash);
		snprintf(key, sizeof(key), "spark-finish/%s/%s/%s", a->ns, a->name, a->rec.submission_id);
		rc = wait_step(p, text, key, "the running driver ended", p->completion_timeout_ms);
		goto done;
	}
	if (a->rec.hash[0] && strcmp(a->rec.hash, a->hash) != 0 && a->rec.state != SPARK_NEW) {
		struct record next = a->rec;
		next.state = SPARK_INVALIDATING;
		copy_text(next.hash, sizeof(next.hash), a->hash);
		next.attempts = (struct spark_attempts){0};
		next.submission_id[0] = '\0';
		next.termination_ms = 0;
		snprintf(text, sizeof(text), "invalidate %s/%s: spec changed (%s -> %s); %s, then resubmit once", a->ns,
			 a->name, a->rec.hash, a->hash,
			 current && (observed == SPARK_SUBMITTED || observed == SPARK_RUNNING) ? "kill the running driver"
											      : "remove the old driver");
		if ((rc = patch_record(p, a, &next, text, NULL)) != 0)
			goto done;
		a->rec = next;
		rc = plan_clear_and_submit(p, a, pods);
		goto done;
	}

	struct record next = a->rec;
	switch (a->rec.state) {
	case SPARK_NEW:
	case SPARK_INVALIDATING:
	case SPARK_PENDING_RERUN:
		rc = plan_clear_and_submit(p, a, pods);
		break;
	case SPARK_SUBMITTED:
	case SPARK_RUNNING:
	case SPARK_UNKNOWN:
		if (current == NULL) {
			/* Recorded only once seen, so it was deleted (or the cache
			 * lags): spark-operator's grace, then "driver pod not found". */
			if (p->now - a->rec.attempts.last_submission_ms < p->grace_ms) {
				snprintf(text, sizeof(text), "wait: driver pod %s/%s of submission %s is not in the pod "
					 "list", a->ns, a->driver_name, a->rec.submission_id);
				snprintf(key, sizeof(key), "spark-missing/%s/%s/%s", a->ns, a->name, a->rec.submission_id);
				rc = wait_step(p, text, key, NULL, p->grace_ms + p->kill_timeout_ms);
				break;
			}
			next.state = SPARK_FAILING;
			next.termination_ms = p->now;
			snprintf(next.last_failure, sizeof(next.last_failure), "driver pod %s of submission %s not found",
				 a->driver_name, a->rec.submission_id);
			snprintf(text, sizeof(text), "%s/%s attempt %lld failed: %s", a->ns, a->name,
				 a->rec.attempts.execution_attempts, next.last_failure);
			if ((rc = patch_record(p, a, &next, text, NULL)) != 0)
				break;
			a->rec = next;
			goto settle;
		}
		if (observed == a->rec.state)
			break; /* nothing changed: converged while it runs */
		next.state = observed;
		if (observed == SPARK_SUCCEEDING || observed == SPARK_FAILING) {
			next.termination_ms = p->now;
			if (observed == SPARK_FAILING)
				copy_text(next.last_failure, sizeof(next.last_failure), failure);
			snprintf(text, sizeof(text), "%s/%s attempt %lld %s%s%s", a->ns, a->name,
				 a->rec.attempts.execution_attempts, observed == SPARK_FAILING ? "failed: " : "succeeded",
				 observed == SPARK_FAILING ? failure : "", "");
		} else {
			snprintf(text, sizeof(text), "%s/%s attempt %lld is %s", a->ns, a->name,
				 a->rec.attempts.execution_attempts, spark_state_name(observed));
		}
		if ((rc = patch_record(p, a, &next, text, NULL)) != 0)
			break;
		if (observed == SPARK_SUCCEEDING || observed == SPARK_FAILING) {
			a->rec = next;
			goto settle;
		}
		break;
	case SPARK_SUCCEEDING:
	case SPARK_FAILING:
	case SPARK_SUBMISSION_FAILED:
		goto settle;
	case SPARK_COMPLETED:
	case SPARK_FAILED:
		break;
	}
	goto done;
settle:
	if (a->rec.state == SPARK_SUCCEEDING) {
		next = a->rec;
		if (spark_should_retry(SPARK_SUCCEEDING, &a->policy, &a->rec.attempts)) {
			next.state = SPARK_PENDING_RERUN;
			next.submission_id[0] = '\0';
			snprintf(text, sizeof(text), "rerun %s/%s after attempt %lld succeeded (restartPolicy Always)", a->ns,
				 a->name, a->rec.attempts.execution_attempts);
			if ((rc = patch_record(p, a, &next, text, NULL)) != 0)
				goto done;
			a->rec = next;
			rc = plan_clear_and_submit(p, a, pods);
		} else {
			next.state = SPARK_COMPLETED;
			snprintf(text, sizeof(text), "%s/%s COMPLETED (attempt %lld)", a->ns, a->name,
				 a->rec.attempts.execution_attempts);
			rc = patch_record(p, a, &next, text, NULL);
		}
	} else {
		rc = plan_failure(p, a, pods);
	}
done:
	free(pods);
	return rc;
}

/* --- Operator mode ----------------------------------------------------------- */

static int plan_operator_app(struct planner *p, const struct app *a)
{
	char text[1024], key[512];
	if (a->live == NULL || a->obj->state != KEELSON_OBJECT_IN_SYNC)
		return 0; /* the apply step comes first; spark-operator takes it from there */
	const char *state_name = str_at(p, a->live, "/status/applicationState/state");
	enum spark_state state = spark_state_parse(state_name);
	const char *error = str_at(p, a->live, "/status/applicationState/errorMessage");
	long long subs = num_at(p, a->live, "/status/submissionAttempts", 0);
	long long execs = num_at(p, a->live, "/status/executionAttempts", 0);
	if (state == SPARK_RUNNING || state == SPARK_COMPLETED)
		return 0;
	if (state == SPARK_FAILED) {
		p->h->log(p->call, KEELSON_PLUGIN_LOG_WARN, "SparkApplication %s/%s FAILED after %lld attempts: %s", a->ns,
			  a->name, execs, error ? error : "(no error message)");
		return 0;
	}
	snprintf(text, sizeof(text), "wait for spark-operator: %s/%s is %s (%lld submissions, %lld executions%s%s)",
		 a->ns, a->name, state_name && *state_name ? state_name : "NEW (not picked up yet)", subs, execs,
		 error && *error ? "; last error: " : "", error && *error ? error : "");
	snprintf(key, sizeof(key), "spark-operator/%s/%s/%s/%s", a->ns, a->name, state_name ? state_name : "",
		 str_at(p, a->live, "/status/submissionID") ? str_at(p, a->live, "/status/submissionID") : "");
	return wait_step(p, text, key, "spark-operator reports RUNNING, COMPLETED or FAILED", p->operator_timeout_ms);
}

/* --- Preview ----------------------------------------------------------------- */

static int plan_preview_app(struct planner *p, struct app *a)
{
	char text[1024], key[512];
	int missing = a->obj->state == KEELSON_OBJECT_MISSING;
	/* live is the base revision's declaration. */
	if (!missing && strcmp(a->base_hash, a->hash) == 0)
		return 0;
	if (!p->native) {
		snprintf(text, sizeof(text), "spark-operator %s %s/%s", missing ? "submits" : "kills and resubmits",
			 a->ns, a->name);
		snprintf(key, sizeof(key), "spark-operator/%s/%s", a->ns, a->name);
		return wait_step(p, text, key, "spark-operator reports RUNNING, COMPLETED or FAILED",
				 p->operator_timeout_ms);
	}
	if (a->invalid[0]) {
		snprintf(text, sizeof(text), "submission of %s/%s will fail: %s", a->ns, a->name, a->invalid);
		return blocked_step(p, text);
	}
	memset(&a->rec, 0, sizeof(a->rec));
	struct pods none;
	memset(&none, 0, sizeof(none));
	if (!missing) {
		if (p->wait_on_change) {
			snprintf(text, sizeof(text), "wait for the running attempt of %s/%s to finish (onSpecChange "
				 "waitForCompletion)", a->ns, a->name);
			snprintf(key, sizeof(key), "spark-finish/%s/%s", a->ns, a->name);
			if (wait_step(p, text, key, "the running driver ended", p->completion_timeout_ms) != 0)
				return -1;
		}
		snprintf(text, sizeof(text), "invalidate %s/%s: spec changed (%s -> %s); kill the running driver, then "
			 "resubmit once", a->ns, a->name, a->base_hash, a->hash);
		struct record next = {.state = SPARK_INVALIDATING};
		copy_text(next.hash, sizeof(next.hash), a->hash);
		if (patch_record(p, a, &next, text, NULL) != 0)
			return -1;
		a->rec = next;
		snprintf(text, sizeof(text), "kill driver pod %s/%s of %s (if it runs)", a->ns, a->driver_name, a->name);
		struct keelson_step s = {.kind = KEELSON_STEP_DELETE_POD, .description = text,
					 .gate = "the application's record no longer points at this driver",
					 .api_version = "v1", .kind_name = "Pod", .namespace_ = a->ns,
					 .name = a->driver_name, .precondition_uid = "(the running driver's uid)",
					 .grace_seconds = -1};
		if (add(p, &s) != 0)
			return -1;
		snprintf(text, sizeof(text), "wait until the driver and executor pods of %s/%s are gone before "
			 "submitting (never two drivers at once)", a->ns, a->name);
		snprintf(key, sizeof(key), "spark-gone/%s/%s", a->ns, a->name);
		if (wait_step(p, text, key, "no driver or executor pod of the application", p->kill_timeout_ms) != 0)
			return -1;
	}
	return plan_clear_and_submit(p, a, &none);
}

/* --- plan() ------------------------------------------------------------------ */

static int is_spark_application(const struct keelson_view_object *o)
{
	return strcmp(o->kind, "SparkApplication") == 0 && strncmp(o->api_version, SPARK_GROUP "/", 21) == 0;
}

static int plan_app(struct planner *p, const struct keelson_view_object *o)
{
	struct app *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		p->failed = 1;
		return -1;
	}
	int rc;
	if (prepare_app(p, a, o) != 0) {
		char reason[512];
		snprintf(reason, sizeof(reason), "SparkApplication %s/%s (%s:%u) nests deeper than %d levels or has more "
			 "than %d members in an object", o->namespace_, o->name, o->file, o->line, MAX_DEPTH, MAX_MEMBERS);
		rc = blocked_step(p, reason);
	} else if (p->preview) {
		rc = plan_preview_app(p, a);
	} else if (!p->native) {
		rc = plan_operator_app(p, a);
	} else if ((rc = plan_status_subresource(p, a)) == 0) {
		rc = plan_native_app(p, a);
	}
	free(a);
	return rc;
}

static int plan(const struct keelson_host *h, struct keelson_plugin_call *call, const struct keelson_view *view)
{
	struct planner p = {.h = h, .call = call, .view = view};
	const struct keelson_param_value *v = keelson_view_param(view, "mode");
	if (v == NULL || v->string == NULL) {
		h->log(call, KEELSON_PLUGIN_LOG_ERROR, "parameter mode is not set (native or operator)");
		return -1;
	}
	p.native = strcmp(v->string, "native") == 0;
	v = keelson_view_param(view, "onSpecChange");
	p.wait_on_change = v != NULL && v->string != NULL && strcmp(v->string, "resubmit") != 0;
	v = keelson_view_param(view, "driverPodCreationGracePeriod");
	p.grace_ms = v && v->is_set ? v->integer : 10000;
	v = keelson_view_param(view, "killTimeout");
	p.kill_timeout_ms = v && v->is_set ? v->integer : 300000;
	v = keelson_view_param(view, "completionTimeout");
	p.completion_timeout_ms = v && v->is_set ? v->integer : 86400000LL;
	v = keelson_view_param(view, "operatorTimeout");
	p.operator_timeout_ms = v && v->is_set ? v->integer : 600000;
	p.preview = KEELSON_VIEW_HAS(view, flags) && (view->flags & KEELSON_VIEW_PREVIEW) != 0;
	p.now = h->now_ms(call);

	/* The repository's objects in the view's order: the host sorts it in
	 * apply order (Namespaces and CRDs first, then ServiceAccounts and RBAC,
	 * ConfigMaps and Secrets the driver mounts, ...). */
	char text[1024];
	for (size_t i = 0; i < view->object_count; i++) {
		const struct keelson_view_object *o = &view->objects[i];
		if (o->state == KEELSON_OBJECT_IN_SYNC)
			continue;
		snprintf(text, sizeof(text), "apply %s %s%s%s (%s)", o->kind, o->namespace_, o->namespace_[0] ? "/" : "",
			 o->name, o->state == KEELSON_OBJECT_MISSING ? "missing" : "changed");
		struct keelson_step s = {.kind = KEELSON_STEP_APPLY, .description = text, .object = o->desired};
		if (add(&p, &s) != 0)
			return -1;
	}

	/* Applications whose next step acts first, then those that wait. */
	for (int order = 0; order < 2; order++) {
		for (size_t i = 0; i < view->object_count; i++) {
			const struct keelson_view_object *o = &view->objects[i];
			if (!is_spark_application(o))
				continue;
			p.probing = 1;
			p.probe_first_kind = 0;
			plan_app(&p, o);
			p.probing = 0;
			int waits = p.probe_first_kind == KEELSON_STEP_WAIT;
			if (waits != order)
				continue;
			plan_app(&p, o);
			if (p.failed)
				return -1;
		}
	}
	return p.failed ? -1 : 0;
}

static const struct keelson_plugin descriptor = {
	.abi_version = KEELSON_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct keelson_plugin),
	.name = "spark",
	.version = "1.0",
	.description = "SparkApplications: submit, kill and resubmit on spec change, restart policy and retries as "
		       "spark-operator",
	.params = params,
	.plan = plan,
};

KEELSON_PLUGIN_DEFINE(descriptor)
