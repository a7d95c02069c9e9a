/*
 * The environment behind the real plugin host, answered from a fuzz input
 * (see fake_host.h for the input's shape).
 */
#include "config.h"

#include "tests/fuzz/fake_host.h"

#include "core/error.h"
#include "json/json_pointer.h"
#include "layout/problems.h"
#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Far beyond what the plugins plan (256 pods, 8 StatefulSets), small
 * enough that one input stays fast. */
#define FAKE_MAX_OBJECTS 64
#define FAKE_MAX_CLUSTER 600

const char *fake_str(const cJSON *node, const char *pointer)
{
	cJSON *out = NULL;
	if (node == NULL || keelson_json_pointer_get(&out, node, pointer) != 0)
		return NULL;
	return cJSON_GetStringValue(out);
}

int fake_pod_ready(const cJSON *pod)
{
	if (cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "deletionTimestamp"))
		return 0;
	cJSON *conditions = NULL;
	if (keelson_json_pointer_get(&conditions, pod, "/status/conditions") != 0)
		return 0;
	const cJSON *c;
	int ready = 0;
	cJSON_ArrayForEach(c, conditions) {
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));
		const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "status"));
		/* The first Ready condition counts, as the plugins read it. */
		if (type != NULL && strcmp(type, "Ready") == 0) {
			ready = status != NULL && strcmp(status, "True") == 0;
			break;
		}
	}
	return ready;
}

/* Every field `desired` sets is equal in `live`. */
static int subset(const cJSON *desired, const cJSON *live)
{
	if (cJSON_IsObject(desired)) {
		if (!cJSON_IsObject(live))
			return 0;
		const cJSON *m;
		cJSON_ArrayForEach(m, desired)
			if (!subset(m, cJSON_GetObjectItemCaseSensitive(live, m->string)))
				return 0;
		return 1;
	}
	if (cJSON_IsArray(desired)) {
		if (!cJSON_IsArray(live) || cJSON_GetArraySize(desired) != cJSON_GetArraySize(live))
			return 0;
		for (const cJSON *a = desired->child, *b = live->child; a != NULL; a = a->next, b = b->next)
			if (!subset(a, b))
				return 0;
		return 1;
	}
	return live != NULL && cJSON_Compare(desired, live, 1);
}

int fake_host_unreadable(const struct fake_host *f, const char *kind)
{
	const cJSON *k;
	cJSON_ArrayForEach(k, f->unreadable) {
		const char *s = cJSON_GetStringValue(k);
		if (s != NULL && strcmp(s, kind) == 0)
			return 1;
	}
	return 0;
}

static int object_is(const cJSON *o, const char *kind, const char *ns)
{
	const char *k = fake_str(o, "/kind");
	const char *n = fake_str(o, "/metadata/namespace");
	return k != NULL && strcmp(k, kind) == 0 && strcmp(n ? n : "", ns ? ns : "") == 0;
}

const cJSON *fake_host_find(const struct fake_host *f, const char *kind, const char *ns, const char *name)
{
	const cJSON *o;
	cJSON_ArrayForEach(o, f->cluster) {
		const char *n = fake_str(o, "/metadata/name");
		if (object_is(o, kind, ns) && n != NULL && strcmp(n, name) == 0)
			return o;
	}
	for (size_t i = 0; i < f->object_count; i++) {
		const cJSON *live = f->objects[i].live;
		const char *n = fake_str(live, "/metadata/name");
		if (live != NULL && object_is(live, kind, ns) && n != NULL && strcmp(n, name) == 0)
			return live;
	}
	return NULL;
}

static int env_get(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
		   const char *name)
{
	struct fake_host *f = payload;
	(void)api_version;
	*out = NULL;
	if (fake_host_unreadable(f, kind))
		return keelson_error_set(KEELSON_EUNAVAILABLE, "fake: %s cannot be read", kind);
	const cJSON *o = fake_host_find(f, kind, ns, name);
	if (o == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND, "fake: %s %s/%s not found", kind, ns, name);
	*out = cJSON_Duplicate(o, 1);
	return *out != NULL ? 0 : keelson_error_set(KEELSON_ENOMEM, "fake: out of memory");
}

static int env_list(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
		    const char *selector)
{
	struct fake_host *f = payload;
	(void)api_version;
	*out = NULL;
	if (fake_host_unreadable(f, kind))
		return keelson_error_set(KEELSON_EUNAVAILABLE, "fake: %s cannot be listed", kind);
	cJSON *list = cJSON_CreateArray();
	const cJSON *o;
	cJSON_ArrayForEach(o, f->cluster) {
		if (!object_is(o, kind, ns))
			continue;
		const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "metadata"),
									"labels");
		int match = selector == NULL || selector[0] == '\0' ? 1 : keelson_label_selector_match(selector, labels);
		if (match < 0) {
			cJSON_Delete(list);
			return match;
		}
		if (match == 1)
			cJSON_AddItemToArray(list, cJSON_Duplicate(o, 1));
	}
	*out = list;
	return 0;
}

static int path_matches(const char *entry, const char *path)
{
	if (strcmp(entry, path) == 0)
		return 1;
	size_t n = strlen(entry);
	return strchr(entry, '?') == NULL && strncmp(entry, path, n) == 0 && path[n] == '?';
}

const cJSON *fake_host_http_entry(const struct fake_host *f, enum keelson_proxy_target target, const char *name,
				  const char *method, const char *path)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, f->http) {
		const char *t = fake_str(e, "/target"), *n = fake_str(e, "/name"), *p = fake_str(e, "/path");
		const char *m = fake_str(e, "/method");
		if (t == NULL || n == NULL || p == NULL)
			continue;
		if (strcmp(t, target == KEELSON_PROXY_POD ? "pod" : "service") != 0 || strcmp(n, name) != 0)
			continue;
		if (strcmp(m ? m : "GET", method) != 0 || !path_matches(p, path))
			continue;
		return e;
	}
	return NULL;
}

static long entry_status(const cJSON *e)
{
	if (e == NULL || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "timeout")))
		return 0;
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "status");
	if (!cJSON_IsNumber(s))
		return 200;
	return s->valuedouble >= 100 && s->valuedouble < 600 ? (long)s->valuedouble : 500;
}

static char *entry_body(const cJSON *e, size_t *len)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "body");
	char *text;
	if (b == NULL)
		text = strdup("");
	else if (cJSON_IsString(b))
		text = strdup(b->valuestring);
	else
		text = cJSON_PrintUnformatted(b);
	if (text != NULL && len != NULL)
		*len = strlen(text);
	return text;
}

char *fake_host_http_body(const struct fake_host *f, enum keelson_proxy_target target, const char *name,
			  const char *path)
{
	const cJSON *e = fake_host_http_entry(f, target, name, "GET", path);
	long status = entry_status(e);
	if (status < 200 || status > 299)
		return NULL;
	return entry_body(e, NULL);
}

static int env_http(long *status, char **body, size_t *len, void *payload, enum keelson_proxy_target target,
		    const char *ns, const char *name, const char *port, const char *method, const char *path,
		    const char *req_body, long long timeout_ms)
{
	struct fake_host *f = payload;
	(void)ns, (void)port, (void)req_body, (void)timeout_ms;
	f->http_calls++;
	const cJSON *e = fake_host_http_entry(f, target, name, method, path);
	*status = entry_status(e);
	if (*status == 0)
		return keelson_error_set(KEELSON_ETIMEOUT, e ? "fake: timed out" : "fake: connection refused");
	*body = entry_body(e, len);
	if (*body == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "fake: out of memory");
	if (*status < 200 || *status > 299)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "fake: status %ld", *status);
	return 0;
}

static long long env_now(void *payload)
{
	return ((struct fake_host *)payload)->now;
}

static int named(const cJSON *o)
{
	return cJSON_IsObject(o) && fake_str(o, "/apiVersion") != NULL && fake_str(o, "/kind") != NULL &&
	       fake_str(o, "/metadata/name") != NULL;
}

/* Same kind, namespace and name. */
static int same_object(const cJSON *a, const cJSON *b)
{
	const char *an = fake_str(a, "/metadata/name"), *bn = fake_str(b, "/metadata/name");
	const char *ans = fake_str(a, "/metadata/namespace");
	return an != NULL && bn != NULL && strcmp(an, bn) == 0 && object_is(b, fake_str(a, "/kind"), ans);
}

/* Numbers the host's parameter parser casts to long long without a range
 * check (reconciler/layout/schema_table.c: undefined beyond +-9.2e18;
 * reported, patch /tmp/patch-fuzzplugins-schema-integer.diff). Such
 * inputs are skipped until the host checks the range first: they test
 * the host, not the plugin. */
static int huge_number(const cJSON *v)
{
	if (cJSON_IsNumber(v) && !(v->valuedouble > -9.2e18 && v->valuedouble < 9.2e18))
		return 1;
	for (const cJSON *c = v != NULL ? v->child : NULL; c != NULL; c = c->next)
		if (huge_number(c))
			return 1;
	return 0;
}

int fake_host_load(struct fake_host *f, const struct keelson_plugin *plugin, const uint8_t *data, size_t size)
{
	memset(f, 0, sizeof(*f));
	f->env = (struct keelson_plugin_env){.version = KEELSON_PLUGIN_ENV_VERSION, .payload = f,
					     .live_get = env_get, .live_list = env_list, .http = env_http,
					     .now_ms = env_now};
	f->input = cJSON_ParseWithLength((const char *)data, size);
	/* The repository loader refuses a key written twice and the API
	 * server never sends one (cJSON keeps both: equality is undefined). */
	if (!cJSON_IsObject(f->input) || fuzz_has_duplicate_keys(f->input))
		return -1;
	const cJSON *now = cJSON_GetObjectItemCaseSensitive(f->input, "now");
	/* Within a few centuries: the plugins do arithmetic on it. */
	f->now = cJSON_IsNumber(now) && now->valuedouble >= 0 && now->valuedouble < 1e13 ? (long long)now->valuedouble
											    : 1700000000000LL;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f->input, "preview")))
		f->flags |= KEELSON_VIEW_PREVIEW;
	f->cluster = cJSON_GetObjectItemCaseSensitive(f->input, "cluster");
	f->http = cJSON_GetObjectItemCaseSensitive(f->input, "http");
	f->unreadable = cJSON_GetObjectItemCaseSensitive(f->input, "unreadable");
	if (cJSON_GetArraySize(f->cluster) > FAKE_MAX_CLUSTER)
		return -1;
	/* An API server never lists one object twice; the properties look
	 * objects up by name. */
	const cJSON *a, *b;
	cJSON_ArrayForEach(a, f->cluster) {
		const char *ak = fake_str(a, "/kind"), *an = fake_str(a, "/metadata/name");
		const char *ans = fake_str(a, "/metadata/namespace");
		if (ak == NULL || an == NULL)
			continue;
		for (b = a->next; b != NULL; b = b->next) {
			const char *bn = fake_str(b, "/metadata/name");
			if (bn != NULL && strcmp(an, bn) == 0 && object_is(b, ak, ans))
				return -1;
		}
	}
	const cJSON *objects = cJSON_GetObjectItemCaseSensitive(f->input, "objects");
	int n = cJSON_GetArraySize(objects);
	if (!cJSON_IsArray(objects) || n == 0 || n > FAKE_MAX_OBJECTS)
		return -1;
	f->objects = calloc((size_t)n, sizeof(*f->objects));
	if (f->objects == NULL)
		return -1;
	const cJSON *o;
	cJSON_ArrayForEach(o, objects) {
		const cJSON *desired = cJSON_GetObjectItemCaseSensitive(o, "desired");
		const cJSON *live = cJSON_GetObjectItemCaseSensitive(o, "live");
		/* The host reads live by the desired object's identity, and the
		 * repository loader refuses an object written twice. */
		if (!named(desired) || (live != NULL && (!named(live) || !same_object(desired, live))))
			return -1;
		for (size_t i = 0; i < f->object_count; i++)
			if (same_object(f->objects[i].desired, desired))
				return -1;
		struct keelson_plan_object *po = &f->objects[f->object_count++];
		po->desired = desired;
		po->live = live;
		po->state = live == NULL ? KEELSON_OBJECT_MISSING
					 : subset(desired, live) ? KEELSON_OBJECT_IN_SYNC : KEELSON_OBJECT_DRIFTED;
		po->file = "fuzz.yaml";
		po->line = (unsigned)f->object_count;
	}
	if (huge_number(cJSON_GetObjectItemCaseSensitive(f->input, "params")))
		return -1;
	struct keelson_problem_list *problems = keelson_problem_list_new();
	if (problems == NULL)
		return -1;
	int rc = keelson_plugin_params_parse(&f->params, problems, plugin,
					     cJSON_GetObjectItemCaseSensitive(f->input, "params"), NULL, "system.yaml");
	keelson_problem_list_free(problems);
	return rc == 0 ? 0 : -1;
}

void fake_host_free(struct fake_host *f)
{
	keelson_plugin_params_free(f->params);
	free(f->objects);
	cJSON_Delete(f->input);
	memset(f, 0, sizeof(*f));
}

int fake_host_plan(struct fake_host *f, const struct keelson_plugin *plugin, struct keelson_plan **out)
{
	struct keelson_plan_input in = {.cluster = "fuzz", .system = "sys", .revision = "0123abcd",
					.objects = f->objects, .object_count = f->object_count,
					.params = f->params, .env = &f->env, .view_flags = f->flags};
	int rc = keelson_plugin_plan(out, plugin, &in);
	if (getenv("FUZZ_PLAN_DUMP") != NULL) {
		fprintf(stderr, "plan (rc %d, %u probes):\n", rc, f->http_calls);
		fake_plan_dump(*out);
	}
	return rc;
}

int fake_host_plan_checked(struct fake_host *f, const struct keelson_plugin *plugin, const char *name,
			   struct keelson_plan **out)
{
	struct keelson_plan *again = NULL;
	int rc = fake_host_plan(f, plugin, out);
	unsigned calls = f->http_calls;
	int rc2 = fake_host_plan(f, plugin, &again);
	fuzz_assert(rc == rc2);
	if (rc == 0) {
		if (!fake_plan_equal(*out, again)) {
			fprintf(stderr, "%s plan property: a second plan on the same observation differs; the first:\n",
				name);
			fake_plan_dump(*out);
			fprintf(stderr, "the second:\n");
			fake_plan_dump(again);
		}
		fuzz_assert(fake_plan_equal(*out, again));
		if (f->flags & KEELSON_VIEW_PREVIEW)
			fuzz_assert(calls == 0);
	}
	keelson_plan_free(again);
	return rc;
}

static int text_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int step_differs(size_t i, const char *field)
{
	fprintf(stderr, "plans differ at step %zu: %s\n", i + 1, field);
	return 0;
}

int fake_plan_equal(const struct keelson_plan *a, const struct keelson_plan *b)
{
	if (a->count != b->count)
		return step_differs(a->count < b->count ? a->count : b->count, "the number of steps");
	for (size_t i = 0; i < a->count; i++) {
		const struct keelson_plan_step *x = &a->steps[i], *y = &b->steps[i];
		if (x->kind != y->kind)
			return step_differs(i, "kind");
		if (!text_eq(x->description, y->description))
			return step_differs(i, "description");
		if (!text_eq(x->gate, y->gate))
			return step_differs(i, "gate");
		if (!text_eq(x->key, y->key))
			return step_differs(i, "key");
		if (!text_eq(x->name, y->name) || !text_eq(x->precondition_uid, y->precondition_uid))
			return step_differs(i, "target");
		if (!text_eq(x->patch, y->patch))
			return step_differs(i, "patch");
		if (!text_eq(x->http_path, y->http_path))
			return step_differs(i, "http path");
		if (!text_eq(x->reason, y->reason))
			return step_differs(i, "reason");
		if (x->timeout_ms != y->timeout_ms)
			return step_differs(i, "timeout");
		/* As text: cJSON_Compare finds a number that overflowed to
		 * infinity (1e3001) unequal to itself. */
		if ((x->object == NULL) != (y->object == NULL))
			return step_differs(i, "object");
		if (x->object != NULL) {
			char *tx = cJSON_PrintUnformatted(x->object), *ty = cJSON_PrintUnformatted(y->object);
			int same = tx != NULL && ty != NULL && strcmp(tx, ty) == 0;
			free(tx);
			free(ty);
			if (!same)
				return step_differs(i, "object");
		}
	}
	return 1;
}

void fake_plan_dump(const struct keelson_plan *plan)
{
	for (size_t i = 0; plan != NULL && i < plan->count; i++) {
		const struct keelson_plan_step *s = &plan->steps[i];
		fprintf(stderr, "  %zu. %s %s%s%s%s\n", i + 1, keelson_step_kind_name(s->kind), s->description,
			s->gate ? " [gate: " : "", s->gate ? s->gate : "", s->gate ? "]" : "");
		if (s->patch != NULL)
			fprintf(stderr, "     patch %s\n", s->patch);
		if (s->reason != NULL)
			fprintf(stderr, "     reason %s\n", s->reason);
	}
}
