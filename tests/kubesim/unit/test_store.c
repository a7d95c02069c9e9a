#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		{"delete", test_delete_finalizers},
		{"watch", test_watch_events},
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
