#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "tests/kubesim/store.h"
#include "tests/unit/check_main.h"

static struct ks_store *store;

static void setup(void)
{
	ck_assert_int_eq(ks_store_new(&store), 0);
}

static void teardown(void)
{
	ks_store_free(store);
	store = NULL;
}

static const struct ks_resource_type *type(const char *group, const char *resource)
{
	const struct ks_resource_type *t = ks_store_type_find(store, group, resource);
	ck_assert_ptr_nonnull(t);
	return t;
}

static cJSON *parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	ck_assert_ptr_nonnull(j);
	return j;
}

static cJSON *create(const char *group, const char *resource, const char *ns, const char *text)
{
	cJSON *in = parse(text), *out = NULL;
	int rc = ks_store_create(store, type(group, resource), ns, in, NULL, &out);
	cJSON_Delete(in);
	ck_assert_msg(rc == 0, "create failed: %s", keelson_error_last()->message);
	return out;
}

static int64_t num_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
	return cJSON_IsNumber(x) ? (int64_t)x->valuedouble : -1;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

START_TEST(test_create_sets_metadata)
{
	cJSON *cm = create("", "configmaps", "default",
		"{\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":\"v\"}}");
	ck_assert_str_eq(str_at(cm, "metadata", "namespace"), "default");
	ck_assert_int_eq(strlen(ks_meta_string(cm, "uid")), 36);
	const char *ts = ks_meta_string(cm, "creationTimestamp");
	ck_assert_int_eq(strlen(ts), 20);
	ck_assert_int_eq(ts[19], 'Z');
	ck_assert_str_eq(cJSON_GetObjectItem(cm, "kind")->valuestring, "ConfigMap");
	ck_assert_str_eq(cJSON_GetObjectItem(cm, "apiVersion")->valuestring, "v1");
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)ks_store_current_rv(store));
	ck_assert_str_eq(ks_meta_string(cm, "resourceVersion"), buf);
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "metadata"), "generation"));
	cJSON_Delete(cm);

	cJSON *again = parse("{\"metadata\":{\"name\":\"a\"}}");
	ck_assert_int_eq(ks_store_create(store, type("", "configmaps"), "default", again, NULL, NULL),
		KEELSON_EEXISTS);
	ck_assert_int_eq(ks_status_last_code(), 409);
	ck_assert_str_eq(keelson_error_last()->message, "configmaps \"a\" already exists");
	ck_assert_int_eq(ks_store_create(store, type("", "configmaps"), "nope", again, NULL, NULL),
		KEELSON_ENOTFOUND);
	ck_assert_str_eq(keelson_error_last()->message, "namespaces \"nope\" not found");
	cJSON_Delete(again);
}
END_TEST

START_TEST(test_create_defaults_statefulset)
{
	cJSON *sts = create("apps", "statefulsets", "default",
		"{\"metadata\":{\"name\":\"web\"},\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
		"\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x:1\"}]}}},"
		"\"status\":{\"replicas\":7}}");
	ck_assert_int_eq(num_at(sts, "metadata", "generation"), 1);
	ck_assert_int_eq(num_at(sts, "spec", "replicas"), 1);
	ck_assert_int_eq(num_at(sts, "spec", "revisionHistoryLimit"), 10);
	ck_assert_str_eq(str_at(sts, "spec", "podManagementPolicy"), "OrderedReady");
	ck_assert_int_eq(num_at(sts, "status", "replicas"), 0);
	const cJSON *us = cJSON_GetObjectItem(cJSON_GetObjectItem(sts, "spec"), "updateStrategy");
	ck_assert_str_eq(cJSON_GetObjectItem(us, "type")->valuestring, "RollingUpdate");
	ck_assert_int_eq(num_at(us, "rollingUpdate", "partition"), 0);
	cJSON_Delete(sts);
}
END_TEST

START_TEST(test_update_rv_and_generation)
{
	const struct ks_resource_type *t = type("apps", "statefulsets");
	cJSON *sts = create("apps", "statefulsets", "default",
		"{\"metadata\":{\"name\":\"web\"},\"spec\":{\"replicas\":1}}");
	uint64_t rv0 = ks_store_current_rv(store);
	cJSON *out = NULL;
	/* label change: RV bump, no generation bump */
	cJSON *labels = cJSON_AddObjectToObject(cJSON_GetObjectItem(sts, "metadata"), "labels");
	cJSON_AddStringToObject(labels, "x", "y");
	ck_assert_int_eq(ks_store_update(store, t, "default", sts, NULL, &out), 0);
	ck_assert_int_eq(ks_store_current_rv(store), rv0 + 1);
	ck_assert_int_eq(num_at(out, "metadata", "generation"), 1);
	/* stale RV: 409 with the real message */
	ck_assert_int_eq(ks_store_update(store, t, "default", sts, NULL, NULL), KEELSON_ECONFLICT);
	ck_assert_str_eq(keelson_error_last()->message,
		"Operation cannot be fulfilled on statefulsets.apps \"web\": the object has been modified; please apply your changes to the latest version and try again");
	/* spec change: generation 2 */
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(out, "spec"), "replicas", cJSON_CreateNumber(3));
	cJSON *out2 = NULL;
	ck_assert_int_eq(ks_store_update(store, t, "default", out, NULL, &out2), 0);
	ck_assert_int_eq(num_at(out2, "metadata", "generation"), 2);
	/* no-op write: no RV bump */
	uint64_t rv1 = ks_store_current_rv(store);
	cJSON *out3 = NULL;
	ck_assert_int_eq(ks_store_update(store, t, "default", out2, NULL, &out3), 0);
	ck_assert_int_eq(ks_store_current_rv(store), rv1);
	ck_assert_str_eq(ks_meta_string(out3, "resourceVersion"), ks_meta_string(out2, "resourceVersion"));
	/* status via main resource ignored; via subresource taken, no generation bump */
	cJSON *st = cJSON_CreateObject();
	cJSON_AddNumberToObject(st, "replicas", 3);
	cJSON_ReplaceItemInObject(out3, "status", st);
	cJSON *out4 = NULL;
	ck_assert_int_eq(ks_store_update(store, t, "default", out3, NULL, &out4), 0);
	ck_assert_int_eq(num_at(out4, "status", "replicas"), 0);
	ck_assert_int_eq(ks_store_current_rv(store), rv1);
	struct ks_write_options so = {.version = KS_WRITE_OPTIONS_VERSION, .subresource = "status"};
	cJSON *out5 = NULL;
	ck_assert_int_eq(ks_store_update(store, t, "default", out3, &so, &out5), 0);
	ck_assert_int_eq(num_at(out5, "status", "replicas"), 3);
	ck_assert_int_eq(num_at(out5, "metadata", "generation"), 2);
	ck_assert_int_eq(ks_store_current_rv(store), rv1 + 1);
	cJSON_Delete(sts);
	cJSON_Delete(out);
	cJSON_Delete(out2);
	cJSON_Delete(out3);
	cJSON_Delete(out4);
	cJSON_Delete(out5);
}
END_TEST

START_TEST(test_delete_finalizers)
{
	const struct ks_resource_type *t = type("", "configmaps");
	cJSON *cm = create("", "configmaps", "default",
		"{\"metadata\":{\"name\":\"f\",\"finalizers\":[\"x/y\"]}}");
	cJSON *out = NULL;
	bool removed = true;
	ck_assert_int_eq(ks_store_delete(store, t, "default", "f", NULL, &out, &removed), 0);
	ck_assert(!removed);
	ck_assert_ptr_nonnull(ks_meta_string(out, "deletionTimestamp"));
	/* new finalizers refused */
	cJSON *fin = cJSON_GetObjectItem(cJSON_GetObjectItem(out, "metadata"), "finalizers");
	cJSON_AddItemToArray(fin, cJSON_CreateString("other"));
	ck_assert_int_eq(ks_store_update(store, t, "default", out, NULL, NULL), KEELSON_EINVALID);
	ck_assert_int_eq(ks_status_last_code(), 422);
	/* removing the last finalizer deletes */
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(out, "metadata"), "finalizers");
	ck_assert_int_eq(ks_store_update(store, t, "default", out, NULL, NULL), 0);
	cJSON *gone = NULL;
	ck_assert_int_eq(ks_store_get(store, t, "default", "f", &gone), KEELSON_ENOTFOUND);
	ck_assert_str_eq(keelson_error_last()->message, "configmaps \"f\" not found");
	cJSON_Delete(cm);
	cJSON_Delete(out);
}
END_TEST

START_TEST(test_watch_events)
{
	const struct ks_resource_type *t = type("", "configmaps");
	uint64_t start = ks_store_current_rv(store);
	struct ks_watch_options wo = {.version = KS_WATCH_OPTIONS_VERSION, .type = t,
		.since_rv = start};
	struct ks_watch *w = NULL;
	ck_assert_int_eq(ks_watch_open(store, &wo, &w), 0);
	cJSON *cm = create("", "configmaps", "default", "{\"metadata\":{\"name\":\"w\"}}");
	/* an event of another type is skipped */
	cJSON_Delete(create("", "secrets", "default", "{\"metadata\":{\"name\":\"s\"}}"));
	ck_assert_int_eq(ks_store_delete(store, t, "default", "w", NULL, NULL, NULL), 0);
	struct ks_event ev;
	ck_assert_int_eq(ks_watch_next(w, 1000, &ev), 0);
	ck_assert_int_eq(ev.type, KS_EVENT_ADDED);
	ck_assert_str_eq(ks_meta_string(ev.object, "name"), "w");
	ks_event_release(&ev);
	ck_assert_int_eq(ks_watch_next(w, 1000, &ev), 0);
	ck_assert_int_eq(ev.type, KS_EVENT_DELETED);
	ck_assert_uint_eq(ev.resource_version, ks_store_current_rv(store));
	ks_event_release(&ev);
	ck_assert_int_eq(ks_watch_next(w, 10, &ev), KEELSON_ETIMEOUT);
	ks_watch_close(w);
	cJSON_Delete(cm);
}
END_TEST

START_TEST(test_watch_expired_after_reset)
{
	uint64_t old = ks_store_current_rv(store);
	ks_store_reset(store);
	struct ks_watch_options wo = {.version = KS_WATCH_OPTIONS_VERSION, .since_rv = old - 1};
	struct ks_watch *w = NULL;
	ck_assert_int_eq(ks_watch_open(store, &wo, &w), KEELSON_ELIMIT);
	ck_assert_int_eq(ks_status_last_code(), 410);
	ck_assert(strncmp(keelson_error_last()->message, "too old resource version: ", 26) == 0);
	/* namespaces are back after a reset */
	cJSON *ns = NULL;
	ck_assert_int_eq(ks_store_get(store, type("", "namespaces"), NULL, "default", &ns), 0);
	cJSON_Delete(ns);
}
END_TEST

static int set_replicas(cJSON *obj, void *payload)
{
	cJSON *spec = cJSON_GetObjectItem(obj, "spec");
	cJSON_ReplaceItemInObject(spec, "replicas", cJSON_CreateNumber(*(int *)payload));
	return 0;
}

START_TEST(test_modify_and_dry_run)
{
	const struct ks_resource_type *t = type("apps", "statefulsets");
	cJSON_Delete(create("apps", "statefulsets", "default",
		"{\"metadata\":{\"name\":\"m\"},\"spec\":{\"replicas\":1}}"));
	uint64_t rv = ks_store_current_rv(store);
	int five = 5;
	struct ks_write_options dry = {.version = KS_WRITE_OPTIONS_VERSION, .dry_run = true};
	cJSON *out = NULL;
	ck_assert_int_eq(ks_store_modify(store, t, "default", "m", set_replicas, &five, &dry, &out), 0);
	ck_assert_int_eq(num_at(out, "spec", "replicas"), 5);
	ck_assert_int_eq(num_at(out, "metadata", "generation"), 2);
	ck_assert_int_eq(ks_store_current_rv(store), rv);
	cJSON_Delete(out);
	ck_assert_int_eq(ks_store_modify(store, t, "default", "m", set_replicas, &five, NULL, &out), 0);
	ck_assert_int_eq(ks_store_current_rv(store), rv + 1);
	cJSON_Delete(out);
	/* the same change again is a no-op */
	ck_assert_int_eq(ks_store_modify(store, t, "default", "m", set_replicas, &five, NULL, NULL), 0);
	ck_assert_int_eq(ks_store_current_rv(store), rv + 1);
	/* dry-run create returns uid but stores nothing */
	cJSON *in = parse("{\"metadata\":{\"name\":\"d\"}}");
	ck_assert_int_eq(ks_store_create(store, type("", "configmaps"), "default", in, &dry, &out), 0);
	ck_assert_ptr_nonnull(ks_meta_string(out, "uid"));
	ck_assert_ptr_null(ks_meta_string(out, "resourceVersion"));
	cJSON_Delete(out);
	cJSON_Delete(in);
	ck_assert_int_eq(ks_store_get(store, type("", "configmaps"), "default", "d", &out),
		KEELSON_ENOTFOUND);
}
END_TEST

START_TEST(test_pod_grace)
{
	const struct ks_resource_type *t = type("", "pods");
	cJSON_Delete(create("", "pods", "default",
		"{\"metadata\":{\"name\":\"unscheduled\"},\"spec\":{\"containers\":[]}}"));
	cJSON_Delete(create("", "pods", "default",
		"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"nodeName\":\"n\",\"containers\":[]}}"));
	bool removed = false;
	/* unscheduled pods go at once */
	ck_assert_int_eq(ks_store_delete(store, t, "default", "unscheduled", NULL, NULL, &removed), 0);
	ck_assert(removed);
	/* scheduled: default grace 30 from the spec default */
	cJSON *out = NULL;
	ck_assert_int_eq(ks_store_delete(store, t, "default", "p", NULL, &out, &removed), 0);
	ck_assert(!removed);
	ck_assert_int_eq(num_at(out, "metadata", "deletionGracePeriodSeconds"), 30);
	cJSON_Delete(out);
	/* grace 0 finishes it (what the kubelet does) */
	struct ks_delete_options now = {.version = KS_DELETE_OPTIONS_VERSION,
		.has_grace_period = true, .grace_period_seconds = 0};
	ck_assert_int_eq(ks_store_delete(store, t, "default", "p", &now, NULL, &removed), 0);
	ck_assert(removed);
}
END_TEST

START_TEST(test_custom_generation)
{
	struct ks_resource_type ct;
	memset(&ct, 0, sizeof(ct));
	ct.version = KS_RESOURCE_TYPE_VERSION;
	strcpy(ct.group, "example.com");
	strcpy(ct.api_version, "v1");
	strcpy(ct.resource, "foos");
	strcpy(ct.kind, "Foo");
	ct.namespaced = true;
	ct.custom = true;
	ct.generation = KS_GEN_CUSTOM;
	ct.subresources = KS_SUB_STATUS;
	ck_assert_int_eq(ks_store_type_register(store, &ct), 0);
	const struct ks_resource_type *t = type("example.com", "foos");
	cJSON *f = create("example.com", "foos", "default",
		"{\"metadata\":{\"name\":\"f\"},\"spec\":{\"a\":1},\"extra\":1,\"status\":{\"s\":1}}");
	ck_assert_ptr_null(cJSON_GetObjectItem(f, "status"));
	ck_assert_int_eq(num_at(f, "metadata", "generation"), 1);
	/* a change outside spec and metadata bumps generation for CRs */
	cJSON_ReplaceItemInObject(f, "extra", cJSON_CreateNumber(2));
	cJSON *out = NULL;
	ck_assert_int_eq(ks_store_update(store, t, "default", f, NULL, &out), 0);
	ck_assert_int_eq(num_at(out, "metadata", "generation"), 2);
	/* status writes take only status, metadata changes dropped, no bump */
	cJSON *labels = cJSON_AddObjectToObject(cJSON_GetObjectItem(out, "metadata"), "labels");
	cJSON_AddStringToObject(labels, "l", "v");
	cJSON_AddItemToObject(out, "status", parse("{\"s\":2}"));
	struct ks_write_options so = {.version = KS_WRITE_OPTIONS_VERSION, .subresource = "status"};
	cJSON *out2 = NULL;
	ck_assert_int_eq(ks_store_update(store, t, "default", out, &so, &out2), 0);
	ck_assert_int_eq(num_at(out2, "status", "s"), 2);
	ck_assert_int_eq(num_at(out2, "metadata", "generation"), 2);
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(out2, "metadata"), "labels"));
	/* PUT without resourceVersion: 422 for custom resources */
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(out2, "metadata"), "resourceVersion");
	ck_assert_int_eq(ks_store_update(store, t, "default", out2, NULL, NULL), KEELSON_EINVALID);
	ck_assert_int_eq(ks_status_last_code(), 422);
	cJSON_Delete(f);
	cJSON_Delete(out);
	cJSON_Delete(out2);
}
END_TEST

struct seen {
	int added, modified, deleted;
	int ticks;
};

static void count_event(struct ks_store *s, const struct ks_event *ev, void *payload)
{
	(void)s;
	struct seen *seen = payload;
	if (strcmp(ev->resource_type->resource, "configmaps"))
		return;
	if (ev->type == KS_EVENT_ADDED)
		seen->added++;
	else if (ev->type == KS_EVENT_MODIFIED)
		seen->modified++;
	else
		seen->deleted++;
}

static void count_tick(struct ks_store *s, void *payload)
{
	(void)s;
	((struct seen *)payload)->ticks++;
}

START_TEST(test_controller_runtime)
{
	cJSON_Delete(create("", "configmaps", "default", "{\"metadata\":{\"name\":\"before\"}}"));
	static const char *const resources[] = {"/configmaps", NULL};
	struct seen seen = {0};
	struct ks_controller_def def = {.version = KS_CONTROLLER_DEF_VERSION, .name = "counter",
		.resources = resources, .on_event = count_event, .tick_ms = 10, .on_tick = count_tick};
	struct ks_controller *c = NULL;
	ck_assert_int_eq(ks_controller_start(store, &def, &seen, &c), 0);
	cJSON_Delete(create("", "configmaps", "default", "{\"metadata\":{\"name\":\"after\"}}"));
	cJSON_Delete(create("", "secrets", "default", "{\"metadata\":{\"name\":\"ignored\"}}"));
	ck_assert_int_eq(ks_store_delete(store, type("", "configmaps"), "default", "before", NULL,
		NULL, NULL), 0);
	ck_assert_int_eq(ks_controller_sync(c, 5000), 0);
	usleep(50000);
	ks_controller_stop(c);
	ck_assert_int_eq(seen.added, 2); /* initial "before" + live "after" */
	ck_assert_int_eq(seen.deleted, 1);
	ck_assert_int_eq(seen.modified, 0);
	ck_assert_int_gt(seen.ticks, 0);
}
END_TEST

START_TEST(test_save_load)
{
	cJSON_Delete(create("", "configmaps", "default", "{\"metadata\":{\"name\":\"kept\"},\"data\":{\"a\":\"b\"}}"));
	uint64_t rv = ks_store_current_rv(store);
	char path[] = "/tmp/kubesim-state-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(ks_store_save(store, path), 0);
	struct ks_store *other = NULL;
	ck_assert_int_eq(ks_store_new(&other), 0);
	ck_assert_int_eq(ks_store_load(other, path), 0);
	unlink(path);
	cJSON *cm = NULL;
	const struct ks_resource_type *t = ks_store_type_find(other, "", "configmaps");
	ck_assert_int_eq(ks_store_get(other, t, "default", "kept", &cm), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "data"), "a")->valuestring, "b");
	ck_assert_uint_ge(ks_store_current_rv(other), rv);
	cJSON_Delete(cm);
	ks_store_free(other);
}
END_TEST

static int change_service_name(cJSON *obj, void *payload)
{
	(void)payload;
	cJSON *spec = cJSON_GetObjectItem(obj, "spec");
	cJSON_ReplaceItemInObject(spec, "serviceName", cJSON_CreateString("other"));
	return 0;
}

static int set_node(cJSON *obj, void *payload)
{
	cJSON *spec = cJSON_GetObjectItem(obj, "spec");
	cJSON_DeleteItemFromObject(spec, "nodeName");
	cJSON_AddStringToObject(spec, "nodeName", (const char *)payload);
	return 0;
}

START_TEST(test_update_validation)
{
	const struct ks_resource_type *sts = type("apps", "statefulsets");
	cJSON_Delete(create("apps", "statefulsets", "default",
		"{\"metadata\":{\"name\":\"v\"},\"spec\":{\"serviceName\":\"a\",\"replicas\":1}}"));
	struct ks_write_options api = {.version = KS_WRITE_OPTIONS_VERSION, .validate = true};
	ck_assert_int_eq(ks_store_modify(store, sts, "default", "v", change_service_name, NULL, &api,
		NULL), KEELSON_EINVALID);
	ck_assert_int_eq(ks_status_last_code(), 422);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message,
		"StatefulSet.apps \"v\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas'"));
	/* controllers (no validate) are not restricted */
	ck_assert_int_eq(ks_store_modify(store, sts, "default", "v", change_service_name, NULL, NULL,
		NULL), 0);
	/* pods: binding a node once is allowed, moving it is not */
	const struct ks_resource_type *pods = type("", "pods");
	cJSON_Delete(create("", "pods", "default",
		"{\"metadata\":{\"name\":\"pv\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i:1\"}]}}"));
	ck_assert_int_eq(ks_store_modify(store, pods, "default", "pv", set_node, "n1", &api, NULL), 0);
	ck_assert_int_eq(ks_store_modify(store, pods, "default", "pv", set_node, "n2", &api, NULL),
		KEELSON_EINVALID);
}
END_TEST

/* Only managedFields differ: still a write (shared ownership, kubectl's
 * client-side to server-side apply migration); an identical object is not;
 * an update without managedFields keeps the stored ones. */
START_TEST(test_update_managed_fields_only)
{
	const struct ks_resource_type *t = type("", "configmaps");
	cJSON *cm = create("", "configmaps", "default",
		"{\"metadata\":{\"name\":\"m\",\"managedFields\":[{\"manager\":\"a\","
		"\"operation\":\"Apply\",\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\","
		"\"fieldsV1\":{\"f:data\":{\"f:k\":{}}}}]},\"data\":{\"k\":\"v\"}}");
	uint64_t rv0 = ks_store_current_rv(store);
	cJSON *entries = cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "metadata"), "managedFields");
	cJSON *second = cJSON_Duplicate(cJSON_GetArrayItem(entries, 0), 1);
	cJSON_ReplaceItemInObject(second, "manager", cJSON_CreateString("b"));
	cJSON_AddItemToArray(entries, second);
	cJSON *out = NULL;
	ck_assert_int_eq(ks_store_update(store, t, "default", cm, NULL, &out), 0);
	ck_assert_int_eq(ks_store_current_rv(store), rv0 + 1);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "metadata"),
		"managedFields")), 2);
	cJSON *got = NULL;
	ck_assert_int_eq(ks_store_get(store, t, "default", "m", &got), 0);
	ck_assert(cJSON_Compare(got, out, 1));
	/* the same object again: no write */
	cJSON *out2 = NULL;
	ck_assert_int_eq(ks_store_update(store, t, "default", out, NULL, &out2), 0);
	ck_assert_int_eq(ks_store_current_rv(store), rv0 + 1);
	/* managedFields left out: the stored ones stay, nothing to write */
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(out2, "metadata"), "managedFields");
	cJSON *out3 = NULL;
	ck_assert_int_eq(ks_store_update(store, t, "default", out2, NULL, &out3), 0);
	ck_assert_int_eq(ks_store_current_rv(store), rv0 + 1);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(out3, "metadata"),
		"managedFields")), 2);
	cJSON_Delete(cm);
	cJSON_Delete(out);
	cJSON_Delete(got);
	cJSON_Delete(out2);
	cJSON_Delete(out3);
}
END_TEST

static void recreate_marker(struct ks_store *s, void *payload)
{
	int *calls = payload;
	(*calls)++;
	const struct ks_resource_type *cms = ks_store_type_find(s, "", "configmaps");
	cJSON *cm = cJSON_Parse("{\"metadata\":{\"name\":\"marker\"}}");
	/* the default namespaces are back before hooks run */
	ck_assert_int_eq(ks_store_create(s, cms, "kube-system", cm, NULL, NULL), 0);
	cJSON_Delete(cm);
}

START_TEST(test_reset_hook)
{
	int calls = 0;
	ck_assert_int_eq(ks_store_add_reset_hook(store, recreate_marker, &calls), 0);
	cJSON_Delete(create("", "configmaps", "default", "{\"metadata\":{\"name\":\"gone\"}}"));
	ks_store_reset(store);
	ck_assert_int_eq(calls, 1);
	cJSON *got = NULL;
	ck_assert_int_eq(ks_store_get(store, type("", "configmaps"), "default", "gone", &got),
		KEELSON_ENOTFOUND);
	ck_assert_int_eq(ks_store_get(store, type("", "configmaps"), "kube-system", "marker", &got), 0);
	cJSON_Delete(got);
	ks_store_remove_reset_hook(store, recreate_marker, &calls);
	ks_store_reset(store);
	ck_assert_int_eq(calls, 1);
	for (int i = 0; i < KS_RESET_HOOKS_MAX; i++)
		ck_assert_int_eq(ks_store_add_reset_hook(store, recreate_marker, &calls), 0);
	ck_assert_int_eq(ks_store_add_reset_hook(store, recreate_marker, &calls), KEELSON_ELIMIT);
	ks_store_remove_reset_hook(store, recreate_marker, &calls);
	ks_store_reset(store);
	ck_assert_int_eq(calls, 1);
}
END_TEST

Suite *suite_store(void);
Suite *suite_store(void)
{
	Suite *s = suite_create("kubesim_store");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"create", test_create_sets_metadata},
		{"defaults", test_create_defaults_statefulset},
		{"update", test_update_rv_and_generation},
		{"update_managed_fields", test_update_managed_fields_only},
		{"delete", test_delete_finalizers},
		{"watch", test_watch_events},
		{"watch_expired", test_watch_expired_after_reset},
		{"reset_hook", test_reset_hook},
		{"modify", test_modify_and_dry_run},
		{"pod_grace", test_pod_grace},
		{"custom_generation", test_custom_generation},
		{"controller", test_controller_runtime},
		{"save_load", test_save_load},
		{"validation", test_update_validation},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_store)
