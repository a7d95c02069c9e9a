#include "config.h"

#include "core/error.h"
#include "kube/kube_cache.h"
#include "kube/kube_client.h"
#include "mini_server.h"
#include "tests/unit/check_main.h"
#include "tls_fixture.h"

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct tls_fixture tls;

static void tls_setup(void)
{
	ck_assert_int_eq(tls_fixture_generate(&tls), 0);
}

static void tls_teardown(void)
{
	tls_fixture_free(&tls);
}

/* A tiny stateful pods API: objects, a global resourceVersion, an event
 * log that watches replay from, "compaction" (410 for older versions) and
 * a switch that cuts every open watch. */
#define MAX_PODS 16
#define MAX_EVENTS 64

struct fake_api {
	pthread_mutex_t lock;
	unsigned long rv;
	char pods[MAX_PODS][32];
	unsigned long pod_rv[MAX_PODS];
	bool present[MAX_PODS];
	struct {
		unsigned long rv;
		char line[1024];
	} events[MAX_EVENTS];
	unsigned event_count;
	unsigned long compacted_rv; /* watches from an older rv get 410 */
	unsigned drop_generation;   /* bump to cut open watches */
	unsigned end_generation;    /* bump to end open watches cleanly (timeoutSeconds) */
	unsigned lists, watches;
	char last_label_selector[128];
	char last_watch_rv[32], last_watch_bookmarks[16];
	unsigned long last_watch_timeout;
};

struct watch_cursor {
	struct fake_api *api;
	unsigned drop_generation, end_generation;
};

/* A pod as the API server returns it: managedFields of keelson and of
 * another manager, spec and status (what the diff and plugins read), a
 * few values that change with each write. */
static void pod_json(char *buf, size_t size, const char *name, unsigned long rv)
{
	int n = snprintf(buf, size,
		"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"kafka\","
		"\"resourceVersion\":\"%lu\",\"labels\":{\"app.kubernetes.io/managed-by\":\"keelson\",\"rv\":\"r%lu\"},"
		"\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"apiVersion\":\"v1\","
		"\"time\":\"2026-11-26T04:00:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{"
		"\"f:labels\":{\"f:app.kubernetes.io/managed-by\":{}}},\"f:spec\":{\"f:containers\":{"
		"\"k:{\\\"name\\\":\\\"kafka\\\"}\":{\".\":{},\"f:image\":{}}}}}},{\"manager\":\"kubelet\","
		"\"operation\":\"Update\",\"subresource\":\"status\",\"fieldsType\":\"FieldsV1\","
		"\"fieldsV1\":{\"f:status\":{\"f:phase\":{}}}}]},"
		"\"spec\":{\"containers\":[{\"name\":\"kafka\",\"image\":\"kafka:3.%lu\",\"ports\":[{\"containerPort\":9092}]}]},"
		"\"status\":{\"phase\":\"Running\",\"load\":0.1,\"restartCount\":-%lu,\"podIPs\":[]}}",
		name, rv, rv, rv, rv);
	ck_assert(n > 0 && (size_t)n < size);
}

/* Create, update or delete (name, delete) and log the event. */
static void fake_write_locked(struct fake_api *api, const char *name, bool delete)
{
	char obj[900];
	api->rv++;
	int slot = -1, free_slot = -1;
	for (int i = 0; i < MAX_PODS; i++) {
		if (api->present[i] && strcmp(api->pods[i], name) == 0)
			slot = i;
		if (!api->present[i] && free_slot < 0)
			free_slot = i;
	}
	if (delete && slot < 0) { /* nothing to delete */
		api->rv--;
		return;
	}
	const char *type = delete ? "DELETED" : slot >= 0 ? "MODIFIED" : "ADDED";
	if (slot < 0 && !delete) {
		slot = free_slot;
		snprintf(api->pods[slot], sizeof(api->pods[slot]), "%s", name);
		api->present[slot] = true;
	}
	ck_assert_int_ge(slot, 0);
	api->pod_rv[slot] = api->rv;
	if (delete)
		api->present[slot] = false;
	pod_json(obj, sizeof(obj), name, api->rv);
	ck_assert_uint_lt(api->event_count, MAX_EVENTS);
	api->events[api->event_count].rv = api->rv;
	snprintf(api->events[api->event_count].line, sizeof(api->events[0].line),
		"{\"type\":\"%s\",\"object\":%s}", type, obj);
	api->event_count++;
}

static void fake_write(struct fake_api *api, const char *name, bool delete)
{
	pthread_mutex_lock(&api->lock);
	fake_write_locked(api, name, delete);
	pthread_mutex_unlock(&api->lock);
}

static char *fake_next(void *payload, unsigned *cursor, enum mini_stream_end *end, const atomic_bool *stopping)
{
	struct watch_cursor *wc = payload;
	struct fake_api *api = wc->api;

	for (;;) {
		pthread_mutex_lock(&api->lock);
		if (*cursor == UINT32_MAX) {
			/* Expired: one ERROR event, then a clean end (as the server). */
			pthread_mutex_unlock(&api->lock);
			*cursor = UINT32_MAX - 1;
			return strdup("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
				"\"status\":\"Failure\",\"message\":\"too old resource version\",\"reason\":\"Expired\",\"code\":410}}");
		}
		if (*cursor == UINT32_MAX - 1) {
			pthread_mutex_unlock(&api->lock);
			*end = MINI_END_CLEAN;
			return NULL;
		}
		if (api->drop_generation != wc->drop_generation) {
			pthread_mutex_unlock(&api->lock);
			*end = MINI_END_DROP;
			return NULL;
		}
		if (api->end_generation != wc->end_generation && *cursor >= api->event_count) {
			pthread_mutex_unlock(&api->lock);
			*end = MINI_END_CLEAN;
			return NULL;
		}
		if (*cursor < api->event_count) {
			char *line = strdup(api->events[*cursor].line);
			(*cursor)++;
			pthread_mutex_unlock(&api->lock);
			return line;
		}
		pthread_mutex_unlock(&api->lock);
		if (atomic_load(stopping)) {
			*end = MINI_END_DROP;
			return NULL;
		}
		usleep(5000);
	}
}

static void fake_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	struct fake_api *api = payload;

	if (strcmp(req->path, "/api/v1") == 0) {
		snprintf(r->body, sizeof(r->body),
			"{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
			"{\"name\":\"pods\",\"singularName\":\"pod\",\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[]}]}");
		return;
	}
	if (strcmp(req->path, "/api/v1/namespaces/kafka/pods") != 0) {
		r->status = 404;
		snprintf(r->body, sizeof(r->body), "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"message\":\"no\",\"code\":404}");
		return;
	}
	const char *sel = mini_arg(req, "labelSelector");
	pthread_mutex_lock(&api->lock);
	snprintf(api->last_label_selector, sizeof(api->last_label_selector), "%s", sel ? sel : "");
	if (mini_arg(req, "watch") == NULL) {
		api->lists++;
		size_t used = (size_t)snprintf(r->body, sizeof(r->body),
			"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"%lu\"},\"items\":[", api->rv);
		bool first = true;
		for (int i = 0; i < MAX_PODS; i++) {
			if (!api->present[i])
				continue;
			char obj[900];
			pod_json(obj, sizeof(obj), api->pods[i], api->pod_rv[i]);
			used += (size_t)snprintf(r->body + used, sizeof(r->body) - used, "%s%s", first ? "" : ",", obj);
			first = false;
		}
		snprintf(r->body + used, sizeof(r->body) - used, "]}");
		pthread_mutex_unlock(&api->lock);
		return;
	}
	api->watches++;
	const char *rv_arg = mini_arg(req, "resourceVersion");
	const char *bm_arg = mini_arg(req, "allowWatchBookmarks");
	const char *to_arg = mini_arg(req, "timeoutSeconds");
	snprintf(api->last_watch_rv, sizeof(api->last_watch_rv), "%s", rv_arg ? rv_arg : "");
	snprintf(api->last_watch_bookmarks, sizeof(api->last_watch_bookmarks), "%s", bm_arg ? bm_arg : "");
	api->last_watch_timeout = to_arg ? strtoul(to_arg, NULL, 10) : 0;
	unsigned long from = rv_arg ? strtoul(rv_arg, NULL, 10) : api->rv;
	struct watch_cursor *wc = calloc(1, sizeof(*wc));
	wc->api = api;
	wc->drop_generation = api->drop_generation;
	wc->end_generation = api->end_generation;
	r->stream = true;
	r->next = fake_next;
	r->next_payload = wc;
	r->next_free = free;
	if (from < api->compacted_rv) {
		r->cursor = UINT32_MAX;
	} else {
		unsigned i = 0;
		while (i < api->event_count && api->events[i].rv <= from)
			i++;
		r->cursor = i;
	}
	pthread_mutex_unlock(&api->lock);
}

struct env {
	struct fake_api api;
	struct mini_server *server;
	char url[64];
	struct keelson_kube_client *client;
	struct keelson_kube_cache *cache;
};

static void env_start(struct env *e)
{
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->api.lock, NULL);
	e->api.rv = 100;
	fake_write(&e->api, "kafka-0", false);
	fake_write(&e->api, "kafka-1", false);
	struct mini_server_options so = {
		.cert_pem = tls.server_cert_pem, .key_pem = tls.server_key_pem, .handler = fake_handler, .payload = &e->api,
	};
	e->server = mini_server_start(&so);
	ck_assert_ptr_nonnull(e->server);
	snprintf(e->url, sizeof(e->url), "https://127.0.0.1:%u", mini_server_port(e->server));
	struct keelson_kube_config cfg = {
		.server = e->url, .namespace = "kafka", .ca_data = tls.ca_pem, .ca_data_len = strlen(tls.ca_pem),
		.token = "t",
	};
	ck_assert_int_eq(keelson_kube_client_new(&e->client, &cfg, NULL), 0);
	struct keelson_kube_cache_options co;
	keelson_kube_cache_options_init(&co);
	co.label_selector = "app.kubernetes.io/managed-by=keelson";
	co.namespace = "kafka";
	co.backoff_initial_ms = 20;
	co.backoff_max_ms = 100;
	ck_assert_int_eq(keelson_kube_cache_new(&e->cache, e->client, &co), 0);
	ck_assert_int_eq(keelson_kube_cache_add(e->cache, "v1", "Pod"), 0);
	ck_assert_int_eq(keelson_kube_cache_wait_synced(e->cache, 10000), 0);
}

static void env_stop(struct env *e)
{
	keelson_kube_cache_free(e->cache);
	keelson_kube_client_free(e->client);
	mini_server_stop(e->server);
	pthread_mutex_destroy(&e->api.lock);
}

/* Wait until the cached pod `name` has resourceVersion `rv` ("" = absent). */
static bool wait_for(struct keelson_kube_cache *cache, const char *name, const char *rv)
{
	for (int i = 0; i < 1500; i++) {
		uint64_t gen = keelson_kube_cache_generation(cache);
		cJSON *pod = NULL;
		int rc = keelson_kube_cache_get(&pod, cache, "v1", "Pod", "kafka", name);
		bool ok;
		if (rv[0] == '\0') {
			ok = rc == KEELSON_ENOTFOUND;
		} else {
			const cJSON *got = rc == 0 ? cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "resourceVersion") : NULL;
			ok = got && strcmp(got->valuestring, rv) == 0;
		}
		cJSON_Delete(pod);
		if (ok)
			return true;
		keelson_kube_cache_wait_change(cache, gen, 20);
	}
	return false;
}

START_TEST(lists_then_serves_reads_without_requests)
{
	struct env e;
	cJSON *pod = NULL, *list = NULL;

	env_start(&e);
	pthread_mutex_lock(&e.api.lock);
	ck_assert_str_eq(e.api.last_label_selector, "app.kubernetes.io/managed-by=keelson");
	pthread_mutex_unlock(&e.api.lock);
	ck_assert_int_eq(keelson_kube_cache_get(&pod, e.cache, "v1", "Pod", "kafka", "kafka-1"), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "resourceVersion")->valuestring, "102");
	cJSON_Delete(pod);
	ck_assert_int_eq(keelson_kube_cache_get(&pod, e.cache, "v1", "Pod", "kafka", "nope"), KEELSON_ENOTFOUND);
	ck_assert_int_eq(keelson_kube_cache_get(&pod, e.cache, "apps/v1", "StatefulSet", "kafka", "x"), KEELSON_EINVALID);

	/* Reads are memory only: the request counter does not move. */
	usleep(200000); /* let the watch request start */
	unsigned long before = keelson_kube_client_request_count(e.client);
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(keelson_kube_cache_list(&list, e.cache, "v1", "Pod", "kafka"), 0);
		cJSON_Delete(list);
	}
	ck_assert_uint_eq(keelson_kube_client_request_count(e.client), before);

	ck_assert_int_eq(keelson_kube_cache_list(&list, e.cache, "v1", "Pod", NULL), 0);
	ck_assert_int_eq(cJSON_GetArraySize(list), 2);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "metadata"), "name")->valuestring, "kafka-0");
	cJSON_Delete(list);
	ck_assert_int_eq(keelson_kube_cache_list(&list, e.cache, "v1", "Pod", "other"), 0);
	ck_assert_int_eq(cJSON_GetArraySize(list), 0);
	cJSON_Delete(list);
	env_stop(&e);
}
END_TEST

START_TEST(follows_watch_events)
{
	struct env e;
	struct keelson_kube_cache_stats st;

	env_start(&e);
	uint64_t gen = keelson_kube_cache_generation(e.cache);
	fake_write(&e.api, "kafka-2", false);  /* rv 103 */
	fake_write(&e.api, "kafka-0", false);  /* rv 104 */
	fake_write(&e.api, "kafka-1", true);   /* rv 105 */
	ck_assert(wait_for(e.cache, "kafka-2", "103"));
	ck_assert(wait_for(e.cache, "kafka-0", "104"));
	ck_assert(wait_for(e.cache, "kafka-1", ""));
	ck_assert_uint_gt(keelson_kube_cache_generation(e.cache), gen);
	keelson_kube_cache_stats(e.cache, &st);
	ck_assert_uint_eq(st.lists, 1);
	ck_assert_uint_eq(st.objects, 2);
	ck_assert_uint_eq(st.events, 3);
	env_stop(&e);
}
END_TEST

START_TEST(dropped_watch_resumes_without_relist)
{
	struct env e;
	struct keelson_kube_cache_stats st;

	env_start(&e);
	fake_write(&e.api, "kafka-2", false); /* rv 103 */
	ck_assert(wait_for(e.cache, "kafka-2", "103"));
	pthread_mutex_lock(&e.api.lock);
	e.api.drop_generation++;
	pthread_mutex_unlock(&e.api.lock);
	fake_write(&e.api, "kafka-3", false); /* rv 104, while disconnected or after */
	ck_assert(wait_for(e.cache, "kafka-3", "104"));
	keelson_kube_cache_stats(e.cache, &st);
	ck_assert_uint_eq(st.lists, 1);        /* resumed from rv 103, no relist */
	ck_assert_uint_ge(st.watches, 2);
	ck_assert_uint_eq(e.api.lists, 1);
	env_stop(&e);
}
END_TEST

START_TEST(expired_watch_relists)
{
	struct env e;
	struct keelson_kube_cache_stats st;

	env_start(&e);
	/* History is compacted past our resourceVersion and the watch is cut:
	 * the re-watch gets an ERROR 410 event, so the cache lists again. */
	pthread_mutex_lock(&e.api.lock);
	fake_write_locked(&e.api, "kafka-9", false); /* rv 103 */
	e.api.compacted_rv = 103;
	e.api.drop_generation++;
	pthread_mutex_unlock(&e.api.lock);
	ck_assert(wait_for(e.cache, "kafka-9", "103"));
	keelson_kube_cache_stats(e.cache, &st);
	ck_assert_uint_eq(st.lists, 2);
	ck_assert_uint_eq(e.api.lists, 2);
	/* Then it watches from the new list's version and follows events. */
	fake_write(&e.api, "kafka-0", true);
	ck_assert(wait_for(e.cache, "kafka-0", ""));
	keelson_kube_cache_stats(e.cache, &st);
	ck_assert_uint_eq(st.lists, 2);
	env_stop(&e);
}
END_TEST

/* The idle case: no managed object changes for a whole watch, while the
 * rest of the cluster moves the resourceVersion on and the server compacts
 * its history. The watch asks for bookmarks, so when the server ends it
 * (timeoutSeconds) it resumes from the bookmark's version: no 410, no list.
 * A cache that resumed from its list's version would relist on every
 * watch end: the periodic LIST an idle daemon must not make. */
START_TEST(idle_watch_end_resumes_from_bookmark)
{
	struct env e;
	struct keelson_kube_cache_stats st;

	env_start(&e);
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&e.api.lock);
		unsigned watches = e.api.watches;
		pthread_mutex_unlock(&e.api.lock);
		if (watches > 0)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&e.api.lock);
	ck_assert_uint_eq(e.api.watches, 1);
	ck_assert_str_eq(e.api.last_watch_bookmarks, "true");
	ck_assert_str_eq(e.api.last_watch_rv, "102"); /* the list's version */
	/* Default 1800 s, stretched by [1, 2) like the API server's own. */
	ck_assert_uint_ge(e.api.last_watch_timeout, 1800);
	ck_assert_uint_lt(e.api.last_watch_timeout, 3600);
	/* Others' writes (not ours to see) move the version to 150; the server
	 * bookmarks it, forgets everything before it, then ends the watch. */
	e.api.rv = 150;
	ck_assert_uint_lt(e.api.event_count, MAX_EVENTS);
	snprintf(e.api.events[e.api.event_count].line, sizeof(e.api.events[0].line),
		"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
		"\"metadata\":{\"resourceVersion\":\"150\"}}}");
	e.api.events[e.api.event_count++].rv = 150;
	e.api.compacted_rv = 150;
	e.api.end_generation++;
	pthread_mutex_unlock(&e.api.lock);
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&e.api.lock);
		unsigned watches = e.api.watches;
		pthread_mutex_unlock(&e.api.lock);
		if (watches >= 2)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&e.api.lock);
	ck_assert_uint_eq(e.api.watches, 2);
	ck_assert_str_eq(e.api.last_watch_rv, "150");
	pthread_mutex_unlock(&e.api.lock);
	/* And it still follows events from there. */
	fake_write(&e.api, "kafka-5", false); /* rv 151 */
	ck_assert(wait_for(e.cache, "kafka-5", "151"));
	keelson_kube_cache_stats(e.cache, &st);
	ck_assert_uint_eq(st.lists, 1);
	ck_assert_uint_eq(e.api.lists, 1);
	env_stop(&e);
}
END_TEST

START_TEST(watch_timeout_from_environment)
{
	struct keelson_kube_cache_options o;
	setenv("KEELSON_KUBE_WATCH_TIMEOUT", "7", 1);
	keelson_kube_cache_options_init(&o);
	ck_assert_uint_eq(o.watch_timeout_seconds, 7);
	setenv("KEELSON_KUBE_WATCH_TIMEOUT", "7s", 1); /* not a number: ignored */
	keelson_kube_cache_options_init(&o);
	ck_assert_uint_eq(o.watch_timeout_seconds, 1800);
	setenv("KEELSON_KUBE_WATCH_TIMEOUT", "0", 1);
	keelson_kube_cache_options_init(&o);
	ck_assert_uint_eq(o.watch_timeout_seconds, 1800);
	unsetenv("KEELSON_KUBE_WATCH_TIMEOUT");
	keelson_kube_cache_options_init(&o);
	ck_assert_uint_eq(o.watch_timeout_seconds, 1800);
}
END_TEST

struct reader {
	struct keelson_kube_cache *cache;
	atomic_bool *stop;
	unsigned long reads;
	int failures;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	while (!atomic_load(r->stop)) {
		cJSON *list = NULL, *pod = NULL;
		if (keelson_kube_cache_list(&list, r->cache, "v1", "Pod", "kafka") != 0)
			r->failures++;
		/* Every object read is whole: a name and a resourceVersion. */
		const cJSON *item;
		cJSON_ArrayForEach(item, list) {
			const cJSON *meta = cJSON_GetObjectItem(item, "metadata");
			if (!cJSON_IsString(cJSON_GetObjectItem(meta, "name")) ||
			    !cJSON_IsString(cJSON_GetObjectItem(meta, "resourceVersion")))
				r->failures++;
		}
		cJSON_Delete(list);
		int rc = keelson_kube_cache_get(&pod, r->cache, "v1", "Pod", "kafka", "kafka-0");
		if (rc != 0 && rc != KEELSON_ENOTFOUND)
			r->failures++;
		cJSON_Delete(pod);
		r->reads++;
	}
	return NULL;
}

START_TEST(concurrent_reads_during_updates)
{
	struct env e;
	atomic_bool stop = false;
	struct reader readers[4];
	pthread_t threads[4];

	env_start(&e);
	for (int i = 0; i < 4; i++) {
		readers[i] = (struct reader){.cache = e.cache, .stop = &stop};
		ck_assert_int_eq(pthread_create(&threads[i], NULL, read_loop, &readers[i]), 0);
	}
	char name[32];
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "kafka-%d", i % 6);
		fake_write(&e.api, name, i % 5 == 4);
		usleep(2000);
	}
	/* The last write: kafka-3 (i = 39, 39 % 6 == 3), a delete (39 % 5 == 4). */
	ck_assert(wait_for(e.cache, "kafka-3", ""));
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		ck_assert_int_eq(readers[i].failures, 0);
		ck_assert_uint_gt(readers[i].reads, 0);
	}
	env_stop(&e);
}
END_TEST

START_TEST(sync_timeout_names_type)
{
	struct keelson_kube_config cfg = {.server = "https://127.0.0.1:9", .token = "t", .insecure_skip_tls_verify = true};
	struct keelson_kube_client *client = NULL;
	struct keelson_kube_client_options o;
	struct keelson_kube_cache *cache = NULL;

	keelson_kube_client_options_init(&o);
	o.max_retries = 0;
	ck_assert_int_eq(keelson_kube_client_new(&client, &cfg, &o), 0);
	ck_assert_int_eq(keelson_kube_cache_new(&cache, client, NULL), 0);
	/* Discovery itself fails: nothing to watch. */
	ck_assert_int_eq(keelson_kube_cache_add(cache, "v1", "Pod"), KEELSON_EUNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "https://127.0.0.1:9"));
	ck_assert_int_eq(keelson_kube_cache_wait_synced(cache, 10), 0); /* nothing added */
	keelson_kube_cache_free(cache);
	keelson_kube_client_free(client);
}
END_TEST

/* --- compact form ---------------------------------------------------- */

/* Same shape, same member order, same bits in every number (cJSON_Compare
 * accepts doubles within an epsilon; the diff must see the exact value). */
static void assert_identical(const cJSON *a, const cJSON *b)
{
	ck_assert_int_eq(a->type & 0xff, b->type & 0xff);
	if (a->string != NULL || b->string != NULL) {
		ck_assert_ptr_nonnull(a->string);
		ck_assert_ptr_nonnull(b->string);
		ck_assert_str_eq(a->string, b->string);
	}
	if (cJSON_IsNumber(a)) {
		ck_assert(memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) == 0);
		ck_assert_int_eq(a->valueint, b->valueint);
	}
	if (cJSON_IsString(a) || cJSON_IsRaw(a))
		ck_assert_str_eq(a->valuestring, b->valuestring);
	const cJSON *ca = a->child, *cb = b->child;
	for (; ca && cb; ca = ca->next, cb = cb->next)
		assert_identical(ca, cb);
	ck_assert(ca == NULL && cb == NULL);
}

static cJSON *round_trip(const cJSON *object, size_t *size)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	cJSON *back = NULL;
	ck_assert_int_eq(keelson_kube_cache_encode(&bytes, &len, object), 0);
	ck_assert_int_eq(keelson_kube_cache_decode(&back, bytes, len), 0);
	free(bytes);
	if (size != NULL)
		*size = len;
	return back;
}

START_TEST(compact_form_is_lossless)
{
	/* What the diff and plugins read: managedFields of every manager
	 * (keelson's fieldsV1 drives removals), spec, status; and the values
	 * a lossy encoding would get wrong. */
	static const char json[] =
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"kafka\",\"namespace\":\"kafka\","
		"\"uid\":\"0f6c1c1e\",\"generation\":7,\"labels\":{\"app\":\"kafka\",\"keelson.dev/system\":\"events\"},"
		"\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"apiVersion\":\"apps/v1\","
		"\"time\":\"2026-11-26T04:00:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{},"
		"\"f:template\":{\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"kafka\\\"}\":{\".\":{},\"f:image\":{}}}}}}}},"
		"{\"manager\":\"keelson-ownership\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\","
		"\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:keelson.dev/system\":{}}}}},"
		"{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\",\"subresource\":\"status\","
		"\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:status\":{\"f:replicas\":{},\"f:readyReplicas\":{}}}}]},"
		"\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":[{\"name\":\"kafka\",\"image\":\"kafka:3.7\","
		"\"resources\":{\"limits\":{\"cpu\":\"2\",\"memory\":\"4Gi\"}},\"env\":[]}]}}},"
		"\"status\":{\"replicas\":3,\"readyReplicas\":2,\"conditions\":[],\"observedGeneration\":7},"
		"\"numbers\":[0,-0.0,1,-1,2147483647,2147483648,-2147483649,9007199254740991,-9007199254740991,"
		"9007199254740993,18446744073709551616,1e300,-1e-300,5e-324,0.1,0.30000000000000004,3.141592653589793,"
		"1.7976931348623157e308],"
		"\"strings\":[\"\",\"caf\\u00e9 \\u2603 \\ud83d\\ude00\",\"tab\\tnewline\\nquote\\\"backslash\\\\\",\"Apply\","
		"\"metadata\",\"f:spec\"],"
		"\"literals\":[null,true,false,{},[],[[[]]],{\"\":{\"\":\"\"}}],"
		"\"a key that is in no dictionary\":\"a value that is in no dictionary either\"}";
	cJSON *object = cJSON_Parse(json);
	ck_assert_ptr_nonnull(object);
	size_t size = 0;
	cJSON *back = round_trip(object, &size);
	ck_assert(cJSON_Compare(object, back, true));
	assert_identical(object, back);
	char *a = cJSON_PrintUnformatted(object), *b = cJSON_PrintUnformatted(back);
	ck_assert_str_eq(a, b);
	/* Smaller than even the unformatted JSON (the tree is about 5 times
	 * that). */
	ck_assert_uint_lt(size, strlen(a));
	/* -0.0 stays negative (an integer encoding would lose the sign). */
	const cJSON *zero = cJSON_GetArrayItem(cJSON_GetObjectItem(back, "numbers"), 1);
	ck_assert(signbit(zero->valuedouble));
	free(a);
	free(b);
	cJSON_Delete(back);
	cJSON_Delete(object);
}
END_TEST

/* A parse keeps a repeated key (both members, in order); so does the
 * compact form, and a non-string "Raw" value stays raw. */
START_TEST(compact_form_keeps_repeated_keys_and_raw)
{
	cJSON *object = cJSON_Parse("{\"a\":1,\"a\":\"two\",\"name\":3}");
	ck_assert_ptr_nonnull(object);
	cJSON_AddItemToObject(object, "raw", cJSON_CreateRaw("{\"x\":[1,2]}"));
	cJSON *back = round_trip(object, NULL);
	assert_identical(object, back);
	ck_assert_int_eq(cJSON_GetArraySize(back), 4);
	ck_assert_str_eq(cJSON_GetArrayItem(back, 1)->valuestring, "two");
	ck_assert(cJSON_IsRaw(cJSON_GetObjectItem(back, "raw")));
	cJSON_Delete(back);
	cJSON_Delete(object);
}
END_TEST

START_TEST(compact_form_nesting_limit)
{
	/* 1,000 levels (what cJSON_Parse accepts) round-trip; 1,002 do not. */
	cJSON *root = cJSON_CreateArray(), *inner = root;
	for (int i = 0; i < 1000; i++) {
		cJSON *next = cJSON_CreateArray();
		cJSON_AddItemToArray(inner, next);
		inner = next;
	}
	cJSON *back = round_trip(root, NULL);
	ck_assert(cJSON_Compare(root, back, true));
	cJSON_Delete(back);
	cJSON_AddItemToArray(inner, cJSON_CreateArray());
	unsigned char *bytes = NULL;
	size_t len = 0;
	ck_assert_int_eq(keelson_kube_cache_encode(&bytes, &len, root), KEELSON_ELIMIT);
	ck_assert_ptr_null(bytes);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "1000 levels"));
	cJSON_Delete(root);
}
END_TEST

/* The decoder checks every length and index, so a cut or damaged form is
 * an error, never a read past the end (ASan watches). */
START_TEST(compact_form_refuses_damaged_bytes)
{
	char obj[900];
	pod_json(obj, sizeof(obj), "kafka-0", 7);
	cJSON *object = cJSON_Parse(obj);
	unsigned char *bytes = NULL;
	size_t len = 0;
	ck_assert_int_eq(keelson_kube_cache_encode(&bytes, &len, object), 0);
	for (size_t cut = 0; cut < len; cut++) {
		unsigned char *copy = malloc(cut + 1); /* exact size for ASan */
		memcpy(copy, bytes, cut);
		cJSON *back = (cJSON *)1;
		ck_assert_int_eq(keelson_kube_cache_decode(&back, copy, cut), KEELSON_ERROR);
		ck_assert_ptr_null(back);
		free(copy);
	}
	unsigned char bad_tag = 0xee;
	cJSON *back = NULL;
	ck_assert_int_eq(keelson_kube_cache_decode(&back, &bad_tag, 1), KEELSON_ERROR);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "keelson bug"));
	free(bytes);
	cJSON_Delete(object);
}
END_TEST

static void assert_cached_is_served(struct keelson_kube_cache *cache, const char *name, unsigned long rv)
{
	char obj[900];
	cJSON *got = NULL;
	pod_json(obj, sizeof(obj), name, rv);
	cJSON *served = cJSON_Parse(obj);
	ck_assert_ptr_nonnull(served);
	ck_assert_int_eq(keelson_kube_cache_get(&got, cache, "v1", "Pod", "kafka", name), 0);
	assert_identical(served, got);
	cJSON_Delete(got);
	cJSON_Delete(served);
}

START_TEST(cached_object_is_the_served_object)
{
	struct env e;
	struct keelson_kube_cache_stats st;
	cJSON *list = NULL;
	char obj[900];

	env_start(&e);
	assert_cached_is_served(e.cache, "kafka-0", 101);
	assert_cached_is_served(e.cache, "kafka-1", 102);
	/* Spelled out, what the diff reads: keelson's Apply entry and its
	 * fieldsV1 (removals), beside the other manager's. */
	cJSON *pod = NULL;
	ck_assert_int_eq(keelson_kube_cache_get(&pod, e.cache, "v1", "Pod", "kafka", "kafka-0"), 0);
	const cJSON *mf = cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "managedFields");
	ck_assert_int_eq(cJSON_GetArraySize(mf), 2);
	const cJSON *ours = cJSON_GetArrayItem(mf, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(ours, "manager")->valuestring, "keelson");
	ck_assert_str_eq(cJSON_GetObjectItem(ours, "operation")->valuestring, "Apply");
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
		ours, "fieldsV1"), "f:spec"), "f:containers"), "k:{\"name\":\"kafka\"}"));
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(mf, 1), "manager")->valuestring, "kubelet");
	ck_assert_double_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "status"), "load")->valuedouble, 0.1);
	cJSON_Delete(pod);
	ck_assert_int_eq(keelson_kube_cache_list(&list, e.cache, "v1", "Pod", "kafka"), 0);
	ck_assert_int_eq(cJSON_GetArraySize(list), 2);
	pod_json(obj, sizeof(obj), "kafka-1", 102);
	cJSON *served = cJSON_Parse(obj);
	assert_identical(served, cJSON_GetArrayItem(list, 1));
	cJSON_Delete(served);
	cJSON_Delete(list);
	/* What the cache holds per object: less than the JSON text. */
	keelson_kube_cache_stats(e.cache, &st);
	ck_assert_uint_eq(st.objects, 2);
	ck_assert_uint_gt(st.bytes, 0);
	ck_assert_uint_lt(st.bytes / st.objects, strlen(obj));
	env_stop(&e);
}
END_TEST

START_TEST(watch_update_replaces_compact_entry)
{
	struct env e;
	struct keelson_kube_cache_stats st;

	env_start(&e);
	keelson_kube_cache_stats(e.cache, &st);
	size_t bytes_before = st.bytes;
	fake_write(&e.api, "kafka-0", false); /* rv 103: MODIFIED */
	ck_assert(wait_for(e.cache, "kafka-0", "103"));
	/* The new object, all of it (image, status, labels), not a merge. */
	assert_cached_is_served(e.cache, "kafka-0", 103);
	assert_cached_is_served(e.cache, "kafka-1", 102);
	keelson_kube_cache_stats(e.cache, &st);
	ck_assert_uint_eq(st.objects, 2);
	/* Replaced, not added beside: the same size (same digit counts). */
	ck_assert_uint_eq(st.bytes, bytes_before);
	fake_write(&e.api, "kafka-0", true);
	fake_write(&e.api, "kafka-1", true);
	ck_assert(wait_for(e.cache, "kafka-0", ""));
	ck_assert(wait_for(e.cache, "kafka-1", ""));
	keelson_kube_cache_stats(e.cache, &st);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_uint_eq(st.bytes, 0);
	env_stop(&e);
}
END_TEST

Suite *suite_kube_cache(void);
Suite *suite_kube_cache(void)
{
	Suite *s = suite_create("kube_cache");
	TCase *tc;

	tc = tcase_create("keelson_kube_cache_get");
	tcase_add_unchecked_fixture(tc, tls_setup, tls_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, lists_then_serves_reads_without_requests);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_kube_cache_add");
	tcase_add_unchecked_fixture(tc, tls_setup, tls_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, follows_watch_events);
	tcase_add_test(tc, dropped_watch_resumes_without_relist);
	tcase_add_test(tc, expired_watch_relists);
	tcase_add_test(tc, concurrent_reads_during_updates);
	tcase_add_test(tc, idle_watch_end_resumes_from_bookmark);
	suite_add_tcase(s, tc);
	tc = tcase_create("compact form");
	tcase_add_unchecked_fixture(tc, tls_setup, tls_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, compact_form_is_lossless);
	tcase_add_test(tc, compact_form_keeps_repeated_keys_and_raw);
	tcase_add_test(tc, compact_form_nesting_limit);
	tcase_add_test(tc, compact_form_refuses_damaged_bytes);
	tcase_add_test(tc, cached_object_is_the_served_object);
	tcase_add_test(tc, watch_update_replaces_compact_entry);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_kube_cache_options_init");
	tcase_add_test(tc, watch_timeout_from_environment);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_kube_cache_wait_synced");
	tcase_add_test(tc, sync_timeout_names_type);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_kube_cache)
