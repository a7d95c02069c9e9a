/*
 * Limits on input from outside that no other suite covers (docs/security.md
 * lists every limit and where it is tested):
 *   - Kubernetes API responses: size (max_response_bytes) and JSON nesting
 *     (cJSON refuses more than CJSON_NESTING_LIMIT levels), against a test
 *     HTTPS server that sends what no real API server would;
 *   - kubesim's request body size (413) and header count (431);
 *   - objects per repository revision (keelson_layout_options.max_objects).
 */
#include "config.h"

#include "core/error.h"
#include "json/json_canonical.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "layout/layout.h"
#include "tests/fuzz/mem_source.h"
#include "tests/kube/mini_server.h"
#include "tests/kube/tls_fixture.h"
#include "tests/kubesim/server.h"
#include "tests/kubesim/store.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Kubernetes API responses ------------------------------------------ */

static struct tls_fixture tls;

static const char core_v1[] =
	"{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
	"{\"name\":\"configmaps\",\"singularName\":\"configmap\",\"namespaced\":true,\"kind\":\"ConfigMap\","
	"\"verbs\":[\"get\"]}]}";

/* The object served for any ConfigMap: its data nested `depth` levels,
 * or `size` bytes of padding. */
struct hostile {
	unsigned depth;
	size_t size;
};

static void hostile_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	const struct hostile *h = payload;
	if (strcmp(req->path, "/api/v1") == 0) {
		snprintf(r->body, sizeof(r->body), "%s", core_v1);
		return;
	}
	size_t n = (size_t)snprintf(r->body, sizeof(r->body),
		"{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\",\"namespace\":\"a\"},"
		"\"data\":{\"v\":\"");
	for (size_t i = 0; i < h->size && n < sizeof(r->body) - 16; i++)
		r->body[n++] = 'p';
	n += (size_t)snprintf(r->body + n, sizeof(r->body) - n, "\"},\"deep\":");
	for (unsigned i = 0; i < h->depth && n < sizeof(r->body) - 8; i++)
		r->body[n++] = '[';
	for (unsigned i = 0; i < h->depth && n < sizeof(r->body) - 8; i++)
		r->body[n++] = ']';
	if (h->depth == 0)
		r->body[n++] = '0';
	r->body[n++] = '}';
	r->body[n] = '\0';
}

static int get_hostile(cJSON **out, struct hostile *h, size_t max_response_bytes)
{
	struct mini_server_options sopts = {.cert_pem = tls.server_cert_pem, .key_pem = tls.server_key_pem,
					    .handler = hostile_handler, .payload = h};
	struct mini_server *server = mini_server_start(&sopts);
	ck_assert_ptr_nonnull(server);
	char url[64];
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", mini_server_port(server));
	struct keelson_kube_config cfg = {.server = url, .namespace = "a", .ca_data = tls.ca_pem,
					  .ca_data_len = strlen(tls.ca_pem), .token = "t"};
	struct keelson_kube_client_options opts;
	keelson_kube_client_options_init(&opts);
	opts.max_retries = 0;
	if (max_response_bytes)
		opts.max_response_bytes = max_response_bytes;
	struct keelson_kube_client *client = NULL;
	ck_assert_int_eq(keelson_kube_client_new(&client, &cfg, &opts), 0);
	int rc = keelson_kube_get(out, client, "v1", "ConfigMap", "a", "x");
	keelson_kube_client_free(client);
	mini_server_stop(server);
	return rc;
}

static void tls_setup(void)
{
	ck_assert_int_eq(tls_fixture_generate(&tls), 0);
}

static void tls_teardown(void)
{
	tls_fixture_free(&tls);
}

START_TEST(api_response_nesting)
{
	/* Deep but within cJSON's limit: read, and keelson's recursive
	 * functions handle it. */
	struct hostile h = {.depth = 900};
	cJSON *obj = NULL;
	ck_assert_int_eq(get_hostile(&obj, &h, 0), 0);
	char *text = keelson_json_canonical(obj);
	ck_assert_ptr_nonnull(text);
	ck_assert(keelson_json_equal(obj, obj));
	free(text);
	cJSON_Delete(obj);

	/* Past the limit: an error naming the request, not a crash. */
	h.depth = 1500;
	obj = NULL;
	int rc = get_hostile(&obj, &h, 0);
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(obj);
	ck_assert_msg(strstr(keelson_error_last()->message, "configmaps") != NULL, "%s",
		      keelson_error_last()->message);
}
END_TEST

START_TEST(api_response_size)
{
	struct hostile h = {.size = 3000};
	cJSON *obj = NULL;
	ck_assert_int_eq(get_hostile(&obj, &h, 8192), 0);
	cJSON_Delete(obj);
	obj = NULL;
	h.size = 6000;
	int rc = get_hostile(&obj, &h, 4096);
	ck_assert_int_lt(rc, 0);
	ck_assert_ptr_null(obj);
	ck_assert_msg(strstr(keelson_error_last()->message, "larger than 4096 bytes") != NULL, "%s",
		      keelson_error_last()->message);
}
END_TEST

/* ---- kubesim --------------------------------------------------------------- */

static struct ks_store *store;
static struct ks_server *server;
static char base[64];

static void kubesim_setup(void)
{
	ck_assert_int_eq(ks_store_new(&store), 0);
	struct ks_server_config cfg = {.version = KS_SERVER_CONFIG_VERSION, .listen_address = "127.0.0.1",
				       .port = 0, .insecure_http = true, .log_level = 0};
	ck_assert_int_eq(ks_server_start(store, &cfg, &server), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", ks_server_port(server));
}

static void kubesim_teardown(void)
{
	ks_server_stop(server);
	ks_store_free(store);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

static long post(const char *path, const char *body, size_t len, unsigned extra_headers)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	for (unsigned i = 0; i < extra_headers; i++) {
		char h[64];
		snprintf(h, sizeof(h), "X-Fuzz-%u: %u", i, i);
		headers = curl_slist_append(headers, h);
	}
	char url[256];
	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	long code = 0;
	ck_assert_int_eq(curl_easy_perform(curl), CURLE_OK);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return code;
}

static const char cm[] = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c%u\"}}";

START_TEST(kubesim_body_limit)
{
	char small[128];
	int n = snprintf(small, sizeof(small), cm, 1u);
	ck_assert_int_eq(post("/api/v1/namespaces/default/configmaps", small, (size_t)n, 0), 201);
	size_t big = 8u * 1024 * 1024 + 1;
	char *body = malloc(big);
	ck_assert_ptr_nonnull(body);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	ck_assert_int_eq(post("/api/v1/namespaces/default/configmaps", body, big, 0), 413);
	free(body);
}
END_TEST

START_TEST(kubesim_header_limit)
{
	char body[128];
	int n = snprintf(body, sizeof(body), cm, 2u);
	ck_assert_int_eq(post("/api/v1/namespaces/default/configmaps", body, (size_t)n, 80), 201);
	n = snprintf(body, sizeof(body), cm, 3u);
	ck_assert_int_eq(post("/api/v1/namespaces/default/configmaps", body, (size_t)n, 120), 431);
}
END_TEST

/* ---- objects per repository ---------------------------------------------- */

static const char repository[] =
	"=== keelson.yaml\n"
	"apiVersion: keelson.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: limits\n"
	"spec:\n  statusBranch: keelson/status\n  policy:\n    prune: true\n    driftPolicy: alert\n"
	"    pollInterval: 1m\n    driftCheckInterval: 10m\n    alertRepeatInterval: 1h\n"
	"=== clusters/c/cluster.yaml\n"
	"apiVersion: keelson.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: c\nspec:\n  kubeContext: c\n"
	"=== clusters/c/app/system.yaml\n"
	"apiVersion: keelson.dev/v1alpha1\nkind: System\nmetadata:\n  name: app\nspec:\n  plugin: generic\n"
	"=== clusters/c/app/configmaps.yaml\n"
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: app}\n---\n"
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: app}\n---\n"
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: app}\n---\n"
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: app}\n";

START_TEST(objects_per_repository)
{
	struct keelson_file_source *source = NULL;
	ck_assert_int_eq(fuzz_mem_source_new(&source, repository, strlen(repository)), 0);
	struct keelson_layout_options options;
	keelson_layout_options_init(&options);
	ck_assert_uint_eq(options.max_objects, 1000000);
	struct keelson_desired_state *state = NULL;
	struct keelson_problem_list *problems = NULL;

	options.max_objects = 4;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, source, &options), 0);
	ck_assert_uint_eq(state->object_count, 4);
	keelson_desired_state_free(state);
	keelson_problem_list_free(problems);

	options.max_objects = 3;
	state = NULL;
	ck_assert_int_eq(keelson_layout_load(&state, &problems, source, &options), KEELSON_EINVALID);
	ck_assert_ptr_null(state);
	ck_assert_uint_eq(problems->count, 1);
	ck_assert_int_eq(problems->items[0].code, KEELSON_PROBLEM_TOO_LARGE);
	ck_assert_str_eq(problems->items[0].file, "clusters/c/app/configmaps.yaml");
	ck_assert_uint_eq(problems->items[0].line, 13); /* the fourth document */
	ck_assert_msg(strstr(problems->items[0].message, "more than 3 objects") != NULL, "%s",
		      problems->items[0].message);
	keelson_problem_list_free(problems);
	source->free(source);
}
END_TEST

static Suite *suite_limits(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("kube client responses");
	tcase_add_unchecked_fixture(tc, tls_setup, tls_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, api_response_nesting);
	tcase_add_test(tc, api_response_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("kubesim requests");
	tcase_add_checked_fixture(tc, kubesim_setup, kubesim_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, kubesim_body_limit);
	tcase_add_test(tc, kubesim_header_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("repository");
	tcase_add_test(tc, objects_per_repository);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_limits)
