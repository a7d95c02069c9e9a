#include "config.h"

/* The client and the cache against kubesim (tests/kubesim), the project's
 * API server simulator: real Status errors, server-side apply conflicts,
 * paging, CRDs, fault injection (429, 500, dropped watches). Skipped (exit
 * 77) when the kubesim binary is not built. */

#include "core/error.h"
#include "kube/kube_cache.h"
#include "kube/kube_client.h"
#include "tests/lib/kubesim_harness.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct keelson_kube_client *new_client(unsigned max_retries)
{
	struct keelson_kube_client_options o;

	keelson_kube_client_options_init(&o);
	o.max_retries = max_retries;
	o.backoff_initial_ms = 20;
	o.backoff_max_ms = 200;
	return kubesim_harness_client(&o);
}

static void set_faults(struct keelson_kube_client *client, const char *json)
{
	struct keelson_kube_request req = {
		.version = KEELSON_KUBE_REQUEST_VERSION, .method = "POST", .path = "/_sim/faults",
		.body = json, .body_len = strlen(json),
	};
	struct keelson_kube_response resp;
	ck_assert_msg(keelson_kube_request(&resp, client, &req) == 0, "setting faults: %s", keelson_error_last()->message);
	keelson_kube_response_dispose(&resp);
}

static cJSON *configmap(const char *name, const char *label, const char *value)
{
	char text[512];
	snprintf(text, sizeof(text),
		"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\","
		"\"labels\":{\"app.kubernetes.io/managed-by\":\"keelson\",\"test\":\"%s\"}},\"data\":{\"key\":\"%s\"}}",
		name, label, value);
	cJSON *obj = cJSON_Parse(text);
	ck_assert_ptr_nonnull(obj);
	return obj;
}

static const char *rv_of(const cJSON *obj)
{
	const cJSON *rv = cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "resourceVersion");
	return cJSON_IsString(rv) ? rv->valuestring : "";
}

/* kubesim gains server-side apply later than the rest: until then the
 * SSA-specific checks are skipped (and say so) and objects are written with
 * create + merge patch. */
static int ssa_state = -1; /* -1 unknown, 0 no, 1 yes */

static bool ssa_supported(struct keelson_kube_client *client)
{
	if (ssa_state < 0) {
		cJSON *probe = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
			"\"metadata\":{\"name\":\"ssa-probe\",\"namespace\":\"default\"}}");
		struct keelson_kube_write_options wo;
		keelson_kube_write_options_init(&wo);
		wo.dry_run = true;
		int rc = keelson_kube_apply(NULL, client, probe, &wo);
		cJSON_Delete(probe);
		ssa_state = rc == 0;
		if (!ssa_state)
			fprintf(stderr, "note: kubesim has no server-side apply yet (%s): SSA checks skipped\n",
				keelson_error_last()->message);
	}
	return ssa_state == 1;
}

static int upsert(struct keelson_kube_client *client, const cJSON *obj)
{
	if (ssa_supported(client))
		return keelson_kube_apply(NULL, client, obj, NULL);
	int rc = keelson_kube_create(NULL, client, obj, NULL);
	if (rc != KEELSON_EEXISTS)
		return rc;
	const cJSON *meta = cJSON_GetObjectItem(obj, "metadata");
	const cJSON *ns = cJSON_GetObjectItem(meta, "namespace");
	char *patch = cJSON_PrintUnformatted(obj);
	rc = keelson_kube_patch(NULL, client, cJSON_GetObjectItem(obj, "apiVersion")->valuestring,
		cJSON_GetObjectItem(obj, "kind")->valuestring, cJSON_IsString(ns) ? ns->valuestring : NULL,
		cJSON_GetObjectItem(meta, "name")->valuestring, KEELSON_KUBE_PATCH_MERGE, patch, NULL);
	free(patch);
	return rc;
}

/* kubesim's count of API requests (admin requests are not counted). */
static double server_requests(struct keelson_kube_client *client)
{
	struct keelson_kube_request req = {.version = KEELSON_KUBE_REQUEST_VERSION, .method = "GET", .path = "/_sim/counters"};
	struct keelson_kube_response resp;
	ck_assert_int_eq(keelson_kube_request(&resp, client, &req), 0);
	cJSON *counters = cJSON_Parse(resp.body);
	keelson_kube_response_dispose(&resp);
	const cJSON *total = cJSON_GetObjectItem(counters, "total");
	ck_assert(cJSON_IsNumber(total));
	double n = total->valuedouble;
	cJSON_Delete(counters);
	return n;
}

START_TEST(apply_get_conflict_delete)
{
	struct keelson_kube_client *client = new_client(3);
	struct keelson_kube_write_options wo;
	cJSON *cm = configmap("crud", "crud", "one"), *out = NULL, *got = NULL;

	bool ssa = ssa_supported(client);
	if (ssa) {
		ck_assert_msg(keelson_kube_apply(&out, client, cm, NULL) == 0, "%s", keelson_error_last()->message);
	} else {
		ck_assert_msg(keelson_kube_create(&out, client, cm, NULL) == 0, "%s", keelson_error_last()->message);
	}
	char rv[64];
	snprintf(rv, sizeof(rv), "%s", rv_of(out));
	ck_assert_str_ne(rv, "");
	cJSON_Delete(out);
	ck_assert_int_eq(keelson_kube_get(&got, client, "v1", "ConfigMap", "default", "crud"), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(got, "data"), "key")->valuestring, "one");
	cJSON_Delete(got);

	ck_assert_int_eq(keelson_kube_create(&out, client, cm, NULL), KEELSON_EEXISTS);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "already exists"));
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "creating ConfigMap default/crud"));

	if (ssa) {
		/* Applying the same thing again changes nothing. */
		ck_assert_int_eq(keelson_kube_apply(&out, client, cm, NULL), 0);
		ck_assert_str_eq(rv_of(out), rv);
		cJSON_Delete(out);
		/* Another manager changing keelson's field conflicts, unless forced. */
		cJSON *theirs = configmap("crud", "crud", "two");
		keelson_kube_write_options_init(&wo);
		wo.field_manager = "someone-else";
		ck_assert_int_eq(keelson_kube_apply(&out, client, theirs, &wo), KEELSON_ECONFLICT);
		ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "conflict"));
		ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "applying ConfigMap default/crud"));
		wo.force = true;
		ck_assert_int_eq(keelson_kube_apply(&out, client, theirs, &wo), 0);
		cJSON_Delete(out);
		cJSON_Delete(theirs);
	}
	/* A stale resourceVersion precondition in a patch is a Conflict. */
	ck_assert_int_eq(keelson_kube_patch(&out, client, "v1", "ConfigMap", "default", "crud", KEELSON_KUBE_PATCH_MERGE,
		"{\"metadata\":{\"resourceVersion\":\"1\"},\"data\":{\"k\":\"v\"}}", NULL), KEELSON_ECONFLICT);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "modified"));

	ck_assert_int_eq(keelson_kube_patch(&out, client, "v1", "ConfigMap", "default", "crud", KEELSON_KUBE_PATCH_MERGE,
		"{\"data\":{\"other\":\"x\"}}", NULL), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "data"), "other")->valuestring, "x");
	cJSON_Delete(out);

	struct keelson_kube_delete_options d;
	keelson_kube_delete_options_init(&d);
	d.propagation = KEELSON_KUBE_PROPAGATION_BACKGROUND;
	ck_assert_int_eq(keelson_kube_delete(client, "v1", "ConfigMap", "default", "crud", &d), 0);
	ck_assert_int_eq(keelson_kube_get(&got, client, "v1", "ConfigMap", "default", "crud"), KEELSON_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "not found"));
	ck_assert_int_eq(keelson_kube_delete(client, "v1", "ConfigMap", "default", "crud", &d), KEELSON_ENOTFOUND);
	/* A missing namespace is the server's 404 too. */
	cJSON *elsewhere = configmap("x", "x", "x");
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(elsewhere, "metadata"), "namespace", cJSON_CreateString("no-such-ns"));
	ck_assert_int_eq(upsert(client, elsewhere), KEELSON_ENOTFOUND);
	cJSON_Delete(elsewhere);
	cJSON_Delete(cm);
	keelson_kube_client_free(client);
}
END_TEST

START_TEST(list_pages)
{
	struct keelson_kube_client *client = new_client(3);
	struct keelson_kube_list_options lo;
	cJSON *list = NULL;

	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "page-%d", i);
		cJSON *cm = configmap(name, "paging", "v");
		ck_assert_int_eq(upsert(client, cm), 0);
		cJSON_Delete(cm);
	}
	keelson_kube_list_options_init(&lo);
	lo.page_size = 2;
	lo.label_selector = "test=paging";
	ck_assert_int_eq(keelson_kube_list(&list, client, "v1", "ConfigMap", "default", &lo), 0);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 5);
	ck_assert_str_ne(rv_of(list), "");
	cJSON_Delete(list);
	keelson_kube_client_free(client);
}
END_TEST

START_TEST(crd_appears_in_discovery)
{
	struct keelson_kube_client *client = new_client(3);
	struct keelson_kube_resource res;
	cJSON *out = NULL;

	ck_assert_int_eq(keelson_kube_resolve(&res, client, "keelson.test/v1", "Widget"), KEELSON_ENOTFOUND);
	cJSON *crd = cJSON_Parse(
		"{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
		"\"metadata\":{\"name\":\"widgets.keelson.test\"},"
		"\"spec\":{\"group\":\"keelson.test\",\"scope\":\"Namespaced\","
		"\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\",\"kind\":\"Widget\",\"listKind\":\"WidgetList\"},"
		"\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":{\"openAPIV3Schema\":"
		"{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}}}]}}");
	ck_assert_msg(upsert(client, crd) == 0, "%s", keelson_error_last()->message);
	cJSON_Delete(crd);
	/* Established can take a moment. */
	int rc = KEELSON_ENOTFOUND;
	for (int i = 0; i < 100 && rc != 0; i++) {
		rc = keelson_kube_resolve(&res, client, "keelson.test/v1", "Widget");
		if (rc != 0)
			usleep(50000);
	}
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_str_eq(res.resource, "widgets");
	ck_assert(res.namespaced);
	cJSON *w = cJSON_Parse("{\"apiVersion\":\"keelson.test/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w1\"},"
		"\"spec\":{\"size\":3}}");
	ck_assert_msg(keelson_kube_create(&out, client, w, NULL) == 0, "%s", keelson_error_last()->message);
	/* The context's namespace was used. */
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "metadata"), "namespace")->valuestring, "default");
	cJSON_Delete(out);
	cJSON_Delete(w);
	keelson_kube_client_free(client);
}
END_TEST

static bool cache_has(struct keelson_kube_cache *cache, const char *name, bool want)
{
	for (int i = 0; i < 500; i++) {
		uint64_t gen = keelson_kube_cache_generation(cache);
		cJSON *obj = NULL;
		int rc = keelson_kube_cache_get(&obj, cache, "v1", "ConfigMap", "default", name);
		cJSON_Delete(obj);
		if ((rc == 0) == want)
			return true;
		keelson_kube_cache_wait_change(cache, gen, 50);
	}
	return false;
}

START_TEST(cache_follows_and_idles)
{
	struct keelson_kube_client *client = new_client(3);
	struct keelson_kube_cache *cache = NULL;
	struct keelson_kube_cache_options co;

	cJSON *before = configmap("cache-0", "cache", "v");
	ck_assert_int_eq(upsert(client, before), 0);
	cJSON_Delete(before);
	keelson_kube_cache_options_init(&co);
	co.label_selector = "test=cache";
	ck_assert_int_eq(keelson_kube_cache_new(&cache, client, &co), 0);
	ck_assert_int_eq(keelson_kube_cache_add(cache, "v1", "ConfigMap"), 0);
	ck_assert_int_eq(keelson_kube_cache_wait_synced(cache, 10000), 0);
	ck_assert(cache_has(cache, "cache-0", true));

	cJSON *cm = configmap("cache-1", "cache", "v");
	ck_assert_int_eq(upsert(client, cm), 0);
	ck_assert(cache_has(cache, "cache-1", true));
	/* Objects outside the selector are not cached. */
	cJSON *other = configmap("not-cached", "elsewhere", "v");
	ck_assert_int_eq(upsert(client, other), 0);
	cJSON_Delete(other);

	/* Idle: reads cost no request. */
	usleep(300000);
	unsigned long requests = keelson_kube_client_request_count(client);
	double served = server_requests(client);
	for (int i = 0; i < 100; i++) {
		cJSON *list = NULL;
		ck_assert_int_eq(keelson_kube_cache_list(&list, cache, "v1", "ConfigMap", NULL), 0);
		ck_assert_int_eq(cJSON_GetArraySize(list), 2);
		cJSON_Delete(list);
	}
	usleep(300000);
	/* +1: the counters request itself goes through the client. */
	ck_assert_uint_eq(keelson_kube_client_request_count(client), requests + 1);
	ck_assert(server_requests(client) == served); /* and kubesim saw none */

	ck_assert_int_eq(keelson_kube_delete(client, "v1", "ConfigMap", "default", "cache-1", NULL), 0);
	ck_assert(cache_has(cache, "cache-1", false));
	cJSON_Delete(cm);
	keelson_kube_cache_free(cache);
	keelson_kube_client_free(client);
}
END_TEST

START_TEST(injected_429_and_500)
{
	struct keelson_kube_client *client = new_client(1);
	cJSON *got = NULL;
	cJSON *cm = configmap("faults", "faults", "v");

	ck_assert_int_eq(upsert(client, cm), 0);
	set_faults(client, "{\"throttleRate\":1.0,\"retryAfterSeconds\":1}");
	uint64_t start = (uint64_t)time(NULL);
	ck_assert_int_eq(keelson_kube_get(&got, client, "v1", "ConfigMap", "default", "faults"), KEELSON_EUNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "429"));
	ck_assert_uint_ge((uint64_t)time(NULL) - start, 1); /* Retry-After honoured between the two attempts */
	set_faults(client, "{\"errorRate\":{\"*\":1.0}}");
	ck_assert_int_eq(keelson_kube_get(&got, client, "v1", "ConfigMap", "default", "faults"), KEELSON_EUNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "injected fault"));
	/* With half the requests failing, retries get every call through. */
	keelson_kube_client_free(client);
	client = new_client(30);
	set_faults(client, "{\"errorRate\":{\"get\":0.5}}");
	for (int i = 0; i < 5; i++) {
		ck_assert_msg(keelson_kube_get(&got, client, "v1", "ConfigMap", "default", "faults") == 0, "%s",
			keelson_error_last()->message);
		cJSON_Delete(got);
	}
	set_faults(client, "{}");
	cJSON_Delete(cm);
	keelson_kube_client_free(client);
}
END_TEST

START_TEST(cache_survives_dropped_watches)
{
	struct keelson_kube_client *client = new_client(3);
	struct keelson_kube_cache *cache = NULL;
	struct keelson_kube_cache_options co;
	struct keelson_kube_cache_stats st;

	keelson_kube_cache_options_init(&co);
	co.label_selector = "test=drops";
	co.backoff_initial_ms = 20;
	co.backoff_max_ms = 200;
	ck_assert_int_eq(keelson_kube_cache_new(&cache, client, &co), 0);
	ck_assert_int_eq(keelson_kube_cache_add(cache, "v1", "ConfigMap"), 0);
	ck_assert_int_eq(keelson_kube_cache_wait_synced(cache, 10000), 0);
	/* Every watch is cut after its first event. */
	set_faults(client, "{\"dropWatches\":true}");
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "drop-%d", i);
		cJSON *cm = configmap(name, "drops", "v");
		ck_assert_int_eq(upsert(client, cm), 0);
		cJSON_Delete(cm);
	}
	ck_assert(cache_has(cache, "drop-0", true));
	ck_assert(cache_has(cache, "drop-3", true));
	keelson_kube_cache_stats(cache, &st);
	ck_assert_uint_ge(st.watches, 2);
	ck_assert_uint_eq(st.objects, 4);
	set_faults(client, "{}");
	keelson_kube_cache_free(cache);
	keelson_kube_client_free(client);
}
END_TEST

/* 40 objects applied with 8 requests in flight, one of them invalid: every
 * valid one lands with its own result, the invalid one reports the
 * server's message, and nothing is applied twice. */
START_TEST(apply_batch_concurrent)
{
	struct keelson_kube_client *client = new_client(3);
	enum { N = 40 };
	struct keelson_kube_apply_item items[N];
	cJSON *objects[N];

	if (!ssa_supported(client)) {
		keelson_kube_client_free(client);
		return;
	}
	memset(items, 0, sizeof(items));
	for (int i = 0; i < N; i++) {
		char name[32], value[32];
		snprintf(name, sizeof(name), "batch-%02d", i);
		snprintf(value, sizeof(value), "v%d", i);
		objects[i] = configmap(name, "batch", value);
		items[i].object = objects[i];
	}
	/* A name the server refuses (uppercase): 422 Invalid. */
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(objects[7], "metadata"), "name", cJSON_CreateString("Batch-BAD"));
	double before = server_requests(client);
	ck_assert_int_eq(keelson_kube_apply_batch(client, items, N, 8), 0);
	double after = server_requests(client);
	for (int i = 0; i < N; i++) {
		if (i == 7) {
			ck_assert_int_eq(items[i].rc, KEELSON_EINVALID);
			ck_assert_ptr_null(items[i].result);
			ck_assert_msg(strstr(items[i].error, "Batch-BAD") != NULL, "message: %s", items[i].error);
			continue;
		}
		ck_assert_msg(items[i].rc == 0, "item %d: %s", i, items[i].error);
		const cJSON *meta = cJSON_GetObjectItem(items[i].result, "metadata");
		ck_assert_str_eq(cJSON_GetObjectItem(meta, "name")->valuestring,
			cJSON_GetObjectItem(cJSON_GetObjectItem(objects[i], "metadata"), "name")->valuestring);
		ck_assert_str_ne(rv_of(items[i].result), "");
		cJSON_Delete(items[i].result);
	}
	/* One request per item (the counters request itself is not counted). */
	ck_assert_double_eq(after - before, N);
	for (int i = 0; i < N; i++)
		cJSON_Delete(objects[i]);
	keelson_kube_client_free(client);
}
END_TEST

Suite *suite_kube_kubesim(void);
Suite *suite_kube_kubesim(void)
{
	Suite *s = suite_create("kube_kubesim");
	TCase *tc = tcase_create("keelson_kube_client_against_kubesim");

	tcase_add_unchecked_fixture(tc, kubesim_harness_start, kubesim_harness_stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, apply_get_conflict_delete);
	tcase_add_test(tc, list_pages);
	tcase_add_test(tc, crd_appears_in_discovery);
	tcase_add_test(tc, cache_follows_and_idles);
	tcase_add_test(tc, injected_429_and_500);
	tcase_add_test(tc, cache_survives_dropped_watches);
	tcase_add_test(tc, apply_batch_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kubesim_harness_main(suite_kube_kubesim);
}
