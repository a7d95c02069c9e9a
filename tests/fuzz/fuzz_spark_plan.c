/*
 * The spark plugin's planning (plugins/spark/ sources compiled in) through the
 * real host, with SparkApplications (desired, and live with the record
 * the plugin keeps in annotations), their driver and executor pods and the
 * SparkApplication CRD from the input (tests/fuzz/fake_host.h). Checked on
 * every plan, reading the input independently of the plugin:
 *   - never two drivers: a driver pod is created at most once per
 *     application and plan, and, unless the plan waits first, only when
 *     the pod list read in this cycle holds no driver or executor of the
 *     application; never when the pods cannot be read;
 *   - operator mode creates and deletes no pod;
 *   - a driver is deleted only with its own UID as precondition, and only
 *     a pod of an application of the system;
 *   - a running driver of the current submission is killed only after
 *     the plan recorded the application INVALIDATING with a spec hash
 *     other than the recorded one (the spec changed), never with
 *     onSpecChange waitForCompletion while the record says it runs;
 *   - a preview probes nothing; planning twice gives the same plan.
 */
#include "config.h"

#include "tests/fuzz/fake_host.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

#define L_APP "sparkoperator.k8s.io~1app-name"

const struct keelson_plugin *keelson_plugin_entry(void);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_quiet_logs();
	return 0;
}

static const char *param_string(const struct fake_host *f, const char *name)
{
	for (size_t i = 0; i < f->params->count; i++)
		if (strcmp(f->params->values[i].name, name) == 0 && f->params->values[i].is_set)
			return f->params->values[i].string;
	return NULL;
}

static void fail(const struct keelson_plan *plan, const char *what, const char *detail)
{
	fprintf(stderr, "spark plan property: %s (%s); the plan:\n", what, detail);
	fake_plan_dump(plan);
}

/* The view's SparkApplication `ns`/`name`, or NULL. */
static const struct keelson_plan_object *app_of(const struct fake_host *f, const char *ns, const char *name)
{
	for (size_t i = 0; i < f->object_count; i++) {
		const cJSON *d = f->objects[i].desired;
		const char *kind = fake_str(d, "/kind"), *api = fake_str(d, "/apiVersion");
		const char *n = fake_str(d, "/metadata/name"), *s = fake_str(d, "/metadata/namespace");
		if (strcmp(kind, "SparkApplication") == 0 && strncmp(api, "sparkoperator.k8s.io/", 21) == 0 &&
		    strcmp(n, name) == 0 && strcmp(s ? s : "", ns ? ns : "") == 0)
			return &f->objects[i];
	}
	return NULL;
}

/* Driver and executor pods of application `name` in `ns` as the cluster
 * lists them. Spark labels every pod it makes with its spark-role; a pod
 * with the application's label and another role is not one of them (it
 * cannot be a second driver), so it does not hold a submission back. */
static size_t app_pods(const struct fake_host *f, const char *ns, const char *name)
{
	size_t n = 0;
	const cJSON *o;
	cJSON_ArrayForEach(o, f->cluster) {
		const char *kind = fake_str(o, "/kind"), *pns = fake_str(o, "/metadata/namespace");
		const char *app = fake_str(o, "/metadata/labels/" L_APP);
		const char *role = fake_str(o, "/metadata/labels/spark-role");
		if (kind != NULL && strcmp(kind, "Pod") == 0 && app != NULL && strcmp(app, name) == 0 &&
		    strcmp(pns ? pns : "", ns ? ns : "") == 0 && role != NULL &&
		    (strcmp(role, "driver") == 0 || strcmp(role, "executor") == 0))
			n++;
	}
	return n;
}

/* Whether a WAIT before step `upto` concerns application ns/name (the
 * plugin's keys name "/NS/NAME/" or end in "/NS/NAME"). */
static int waited_for(const struct keelson_plan *plan, size_t upto, const char *ns, const char *name)
{
	char needle[600];
	snprintf(needle, sizeof(needle), "/%s/%s", ns, name);
	size_t n = strlen(needle);
	for (size_t i = 0; i < upto; i++) {
		const struct keelson_plan_step *s = &plan->steps[i];
		if (s->kind != KEELSON_STEP_WAIT || s->key == NULL)
			continue;
		for (const char *k = strstr(s->key, needle); k != NULL; k = strstr(k + 1, needle))
			if (k[n] == '\0' || k[n] == '/')
				return 1;
	}
	return 0;
}

/* Whether a PATCH before step `upto` records ns/name INVALIDATING with a
 * spec hash other than `recorded`. */
static int invalidated(const struct keelson_plan *plan, size_t upto, const char *ns, const char *name,
		       const char *recorded)
{
	for (size_t i = 0; i < upto; i++) {
		const struct keelson_plan_step *s = &plan->steps[i];
		if (s->kind != KEELSON_STEP_PATCH || s->patch == NULL || s->name == NULL || strcmp(s->name, name) != 0 ||
		    strcmp(s->namespace_ ? s->namespace_ : "", ns) != 0)
			continue;
		cJSON *patch = cJSON_Parse(s->patch);
		const char *state = fake_str(patch, "/metadata/annotations/keelson.dev~1spark-state");
		const char *hash = fake_str(patch, "/metadata/annotations/keelson.dev~1spark-spec-hash");
		int yes = state != NULL && strcmp(state, "INVALIDATING") == 0 && hash != NULL &&
			  (recorded == NULL || strcmp(hash, recorded) != 0);
		cJSON_Delete(patch);
		if (yes)
			return 1;
	}
	return 0;
}

static void check_create(const struct fake_host *f, const struct keelson_plan *plan, size_t i, int native,
			 size_t *created)
{
	const struct keelson_plan_step *s = &plan->steps[i];
	const char *ns = fake_str(s->object, "/metadata/namespace");
	const char *app = fake_str(s->object, "/metadata/labels/" L_APP);
	const char *role = fake_str(s->object, "/metadata/labels/spark-role");
	if (!native)
		fail(plan, "a driver pod is created in operator mode", app ? app : "?");
	fuzz_assert(native);
	fuzz_assert(app != NULL && role != NULL && strcmp(role, "driver") == 0);
	const struct keelson_plan_object *o = app_of(f, ns ? ns : "", app);
	fuzz_assert(o != NULL);
	size_t index = (size_t)(o - f->objects);
	created[index]++;
	if (created[index] > 1)
		fail(plan, "two driver pods created for one application in one plan", app);
	fuzz_assert(created[index] == 1);
	if (fake_host_unreadable(f, "Pod"))
		fail(plan, "a driver is created although the pods cannot be read", app);
	fuzz_assert(!fake_host_unreadable(f, "Pod"));
	if (!waited_for(plan, i, ns ? ns : "", app) && app_pods(f, ns ? ns : "", app) > 0) {
		fail(plan, "a driver is created while a driver or executor of the application exists", app);
		fuzz_assert(0);
	}
}

static void check_delete(const struct fake_host *f, const struct keelson_plan *plan, size_t i, int native,
			 int wait_on_change)
{
	const struct keelson_plan_step *s = &plan->steps[i];
	if (!native)
		fail(plan, "a pod is deleted in operator mode", s->name);
	fuzz_assert(native);
	fuzz_assert(!fake_host_unreadable(f, "Pod"));
	const cJSON *pod = fake_host_find(f, "Pod", s->namespace_, s->name);
	if (pod == NULL)
		fail(plan, "a pod that was not listed is deleted", s->name);
	fuzz_assert(pod != NULL);
	const char *uid = fake_str(pod, "/metadata/uid");
	fuzz_assert(uid != NULL && s->precondition_uid != NULL && strcmp(uid, s->precondition_uid) == 0);
	const char *app = fake_str(pod, "/metadata/labels/" L_APP);
	const struct keelson_plan_object *o = app != NULL ? app_of(f, s->namespace_, app) : NULL;
	if (o == NULL)
		fail(plan, "a pod of no application of the system is deleted", s->name);
	fuzz_assert(o != NULL);
	const char *phase = fake_str(pod, "/status/phase");
	const char *sub = fake_str(pod, "/metadata/labels/sparkoperator.k8s.io~1submission-id");
	const char *current = fake_str(o->live, "/metadata/annotations/keelson.dev~1spark-submission-id");
	const char *recorded_state = fake_str(o->live, "/metadata/annotations/keelson.dev~1spark-state");
	int running = phase != NULL && (strcmp(phase, "Running") == 0 || strcmp(phase, "Pending") == 0) &&
		      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "metadata"),
						       "deletionTimestamp") == NULL;
	if (!running || sub == NULL || current == NULL || current[0] == '\0' || strcmp(sub, current) != 0)
		return;
	const char *recorded_hash = fake_str(o->live, "/metadata/annotations/keelson.dev~1spark-spec-hash");
	if (!invalidated(plan, i, s->namespace_, app, recorded_hash))
		fail(plan, "the running driver is killed without a recorded spec change", s->name);
	fuzz_assert(invalidated(plan, i, s->namespace_, app, recorded_hash));
	int record_runs = recorded_state != NULL &&
			  (strcmp(recorded_state, "RUNNING") == 0 || strcmp(recorded_state, "SUBMITTED") == 0);
	if (wait_on_change && record_runs)
		fail(plan, "the running driver is killed with onSpecChange waitForCompletion", s->name);
	fuzz_assert(!(wait_on_change && record_runs));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct keelson_plugin *plugin = keelson_plugin_entry();
	struct fake_host f;
	if (fake_host_load(&f, plugin, data, size) != 0) {
		fake_host_free(&f);
		return 0;
	}
	struct keelson_plan *first = NULL;
	if (fake_host_plan_checked(&f, plugin, "spark", &first) == 0) {
		int preview = (f.flags & KEELSON_VIEW_PREVIEW) != 0;
		const char *mode = param_string(&f, "mode"), *change = param_string(&f, "onSpecChange");
		int native = mode != NULL && strcmp(mode, "native") == 0;
		int wait_on_change = change != NULL && strcmp(change, "resubmit") != 0;
		size_t *created = calloc(f.object_count, sizeof(*created));
		fuzz_assert(created != NULL);
		for (size_t i = 0; !preview && i < first->count; i++) {
			const struct keelson_plan_step *s = &first->steps[i];
			const char *kind = fake_str(s->object, "/kind");
			if (s->kind == KEELSON_STEP_APPLY && kind != NULL && strcmp(kind, "Pod") == 0)
				check_create(&f, first, i, native, created);
			if (s->kind == KEELSON_STEP_DELETE_POD)
				check_delete(&f, first, i, native, wait_on_change);
		}
		free(created);
	}
	keelson_plan_free(first);
	fake_host_free(&f);
	return 0;
}
