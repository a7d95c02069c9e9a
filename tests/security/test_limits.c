/*
 * Limits on input from outside that no other suite covers (docs/security.md
 * lists every limit and where it is tested):
 *   - Kubernetes API responses: size (max_response_bytes) and JSON nesting
 *     (cJSON refuses more than CJSON_NESTING_LIMIT levels), error bodies
 *     (first MiB kept), watch events (max_event_bytes), pod/service proxy
 *     replies (max_proxy_response_bytes) and token files (64 KiB), against
 *     a test HTTPS server that sends what no real API server would;
 *   - kubesim's request body size (413) and header count (431);
 *   - the executor's rollout state in its ConfigMap (64 KiB), on kubesim;
 *   - objects per repository revision (keelson_layout_options.max_objects),
 *     clusters per configuration file, differing fields per object and
 *     ignoreDifferences pointers per system.
 * Each limit is met (accepted) and passed by one (refused, KEELSON_ELIMIT
 * or a positioned problem, with a message saying what and where).
 */
#include "config.h"

#include "config/config.h"
#include "core/error.h"
#include "diff/diff.h"
#include "json/json_canonical.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "layout/layout.h"
#include "plugin/executor.h"
#include "status/status_writer.h"
#include "tests/fuzz/mem_source.h"
#include "tests/kube/mini_server.h"
#include "tests/kube/tls_fixture.h"
#include "tests/kubesim/server.h"
#include "tests/kubesim/store.h"
#include "tests/unit/check_main.h"
#include "yaml/yaml_load.h"

#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	ck_assert_int_eq(rc, KEELSON_ELIMIT);
	ck_assert_ptr_null(obj);
	ck_assert_msg(strstr(keelson_error_last()->message, "larger than 4096 bytes") != NULL, "%s",
		      keelson_error_last()->message);
	ck_assert_msg(strstr(keelson_error_last()->message, "GET /api/v1/namespaces/a/configmaps/x") != NULL, "%s",
		      keelson_error_last()->message);
}
END_TEST

/* ---- generated replies: error bodies, watch events, proxy replies, tokens -- */

#define MAX_GENERATED 20

/* What the generated server sends: `count` lines of the given sizes (each
 * followed by '\n'), as watch events when `watch`, else filler. */
struct generated {
	unsigned status;
	bool watch;
	size_t sizes[MAX_GENERATED];
	unsigned count;
	bool hold;               /* then keep the connection open */
	char authorization[160]; /* of the last request */
};

static char *generate_line(void *payload, unsigned *cursor, enum mini_stream_end *end, const atomic_bool *stopping)
{
	const struct generated *g = payload;
	(void)stopping;
	*end = g->hold ? MINI_END_HOLD : MINI_END_CLEAN;
	if (*cursor >= g->count)
		return NULL;
	unsigned i = (*cursor)++;
	size_t size = g->sizes[i];
	char *line = malloc(size + 1);
	if (line == NULL)
		return NULL;
	if (!g->watch) {
		memset(line, 'e', size);
		line[size] = '\0';
		return line;
	}
	size_t n = (size_t)snprintf(line, size + 1,
		"{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\","
		"\"metadata\":{\"name\":\"c%u\",\"namespace\":\"a\",\"resourceVersion\":\"%u\"},\"data\":{\"v\":\"",
		i, i + 1);
	ck_assert_uint_lt(n + 4, size);
	while (n < size - 4)
		line[n++] = 'p';
	memcpy(line + n, "\"}}}", 5);
	return line;
}

static void generated_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	struct generated *g = payload;
	snprintf(g->authorization, sizeof(g->authorization), "%s", req->authorization ? req->authorization : "");
	r->status = g->status ? g->status : 200;
	r->stream = true;
	r->next = generate_line;
	r->next_payload = g;
}

static struct mini_server *generated_server;

static struct keelson_kube_client *generated_client(struct generated *g, const char *token_file,
						    const struct keelson_kube_client_options *o)
{
	struct mini_server_options sopts = {.cert_pem = tls.server_cert_pem, .key_pem = tls.server_key_pem,
					    .handler = generated_handler, .payload = g};
	generated_server = mini_server_start(&sopts);
	ck_assert_ptr_nonnull(generated_server);
	char url[64];
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", mini_server_port(generated_server));
	struct keelson_kube_config cfg = {.server = url, .namespace = "a", .ca_data = tls.ca_pem,
					  .ca_data_len = strlen(tls.ca_pem), .token = token_file ? NULL : "t",
					  .token_file = (char *)token_file};
	struct keelson_kube_client_options opts;
	if (o != NULL) {
		opts = *o;
	} else {
		keelson_kube_client_options_init(&opts);
	}
	opts.max_retries = 0;
	struct keelson_kube_client *client = NULL;
	ck_assert_int_eq(keelson_kube_client_new(&client, &cfg, &opts), 0);
	return client;
}

static void generated_done(struct keelson_kube_client *client)
{
	keelson_kube_client_free(client);
	mini_server_stop(generated_server);
	generated_server = NULL;
}

static int plain_get(struct keelson_kube_response *resp, struct keelson_kube_client *client, const char *path)
{
	struct keelson_kube_request req = {.version = KEELSON_KUBE_REQUEST_VERSION, .method = "GET", .path = path};
	return keelson_kube_request(resp, client, &req);
}

/* An error reply keeps its first MiB for the message; the rest is not read. */
START_TEST(api_error_body_kept)
{
	ck_assert_uint_eq(KEELSON_KUBE_ERROR_BODY_MAX, 1024 * 1024);
	struct generated g = {.status = 500, .count = 16};
	for (unsigned i = 0; i < g.count; i++)
		g.sizes[i] = 128 * 1024 - 1; /* with '\n': 2 MiB in all */
	struct keelson_kube_client *client = generated_client(&g, NULL, NULL);
	struct keelson_kube_response resp;
	int rc = plain_get(&resp, client, "/api/v1/namespaces/a/configmaps/big-error");
	ck_assert_int_eq(rc, KEELSON_EUNAVAILABLE);
	ck_assert_int_eq(resp.http_code, 500);
	ck_assert_uint_eq(resp.body_len, KEELSON_KUBE_ERROR_BODY_MAX);
	ck_assert_uint_eq(strlen(resp.body), KEELSON_KUBE_ERROR_BODY_MAX);
	ck_assert_msg(strstr(keelson_error_last()->message, "GET /api/v1/namespaces/a/configmaps/big-error") != NULL &&
			      strstr(keelson_error_last()->message, "(500") != NULL,
		      "%s", keelson_error_last()->message);
	keelson_kube_response_dispose(&resp);

	/* Below the cut, the whole body. */
	g.count = 4;
	rc = plain_get(&resp, client, "/api/v1/namespaces/a/configmaps/small-error");
	ck_assert_int_eq(rc, KEELSON_EUNAVAILABLE);
	ck_assert_uint_eq(resp.body_len, 4 * 128 * 1024);
	keelson_kube_response_dispose(&resp);
	generated_done(client);
}
END_TEST

struct watched {
	unsigned events;
	char last_name[32];
};

static int count_event(enum keelson_kube_event_type type, const cJSON *object, void *payload)
{
	struct watched *w = payload;
	ck_assert_int_eq(type, KEELSON_KUBE_EVENT_ADDED);
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	snprintf(w->last_name, sizeof(w->last_name), "%s",
		 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name")));
	w->events++;
	return 0;
}

/* An event over max_event_bytes ends the watch with KEELSON_ELIMIT; the
 * events before it were delivered, the one over the limit and any after it
 * are not. The limit counts the event's bytes without the '\n'. */
START_TEST(watch_event_size)
{
	struct keelson_kube_watch_options wopts;
	keelson_kube_watch_options_init(&wopts);
	ck_assert_uint_eq(wopts.max_event_bytes, 16u * 1024 * 1024);
	wopts.max_event_bytes = 4096;
	wopts.timeout_seconds = 30;
	struct generated g = {.watch = true, .count = 4, .sizes = {4096, 300, 4097, 300}};
	struct keelson_kube_client *client = generated_client(&g, NULL, NULL);
	const struct keelson_kube_resource res = {.group = "", .version = "v1", .resource = "configmaps",
						  .kind = "ConfigMap", .namespaced = true};
	struct watched w = {0};
	char last_rv[64] = "";
	int rc = keelson_kube_watch(client, &res, "a", &wopts, count_event, &w, last_rv, sizeof(last_rv));
	ck_assert_int_eq(rc, KEELSON_ELIMIT);
	ck_assert_uint_eq(w.events, 2);
	ck_assert_str_eq(w.last_name, "c1");
	ck_assert_str_eq(last_rv, "2");
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "watch /api/v1/namespaces/a/configmaps?watch=true") != NULL &&
			      strstr(m, "a watch event is larger than 4096 bytes") != NULL,
		      "%s", m);

	/* An error reply of a watch is read for its first MiB only, even when
	 * the server never ends it. */
	struct generated endless = {.status = 500, .count = 16, .hold = true};
	for (unsigned i = 0; i < endless.count; i++)
		endless.sizes[i] = 128 * 1024 - 1;
	struct mini_server *first_server = generated_server;
	struct keelson_kube_client *endless_client = generated_client(&endless, NULL, NULL);
	struct mini_server *endless_server = generated_server;
	generated_server = first_server;
	wopts.timeout_seconds = 5; /* without the cut: ~35 s, until libcurl's timeout */
	time_t started = time(NULL);
	rc = keelson_kube_watch(endless_client, &res, "a", &wopts, count_event, &w, NULL, 0);
	ck_assert_int_eq(rc, KEELSON_EUNAVAILABLE);
	ck_assert_int_lt(time(NULL) - started, 20);
	m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "watch /api/v1/namespaces/a/configmaps") != NULL && strstr(m, "(500") != NULL, "%s", m);
	keelson_kube_client_free(endless_client);
	mini_server_stop(endless_server);
	wopts.timeout_seconds = 30;

	/* The same stream within the limit: every event, a clean end. */
	g.sizes[2] = 4096;
	w = (struct watched){0};
	rc = keelson_kube_watch(client, &res, "a", &wopts, count_event, &w, last_rv, sizeof(last_rv));
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_uint_eq(w.events, 4);
	ck_assert_str_eq(last_rv, "4");
	generated_done(client);
}
END_TEST

/* Pod and service proxy replies (plugin probes) have their own, smaller
 * limit; other requests of the same client keep the general one. */
START_TEST(proxy_response_size)
{
	struct keelson_kube_client_options opts;
	keelson_kube_client_options_init(&opts);
	ck_assert_uint_eq(opts.max_proxy_response_bytes, 16u * 1024 * 1024);
	ck_assert_uint_eq(opts.max_response_bytes, 256u * 1024 * 1024);
	opts.max_proxy_response_bytes = 4096;
	struct generated g = {.count = 1, .sizes = {4095}}; /* 4096 bytes with the '\n' */
	struct keelson_kube_client *client = generated_client(&g, NULL, &opts);
	struct keelson_kube_response resp;
	int rc = keelson_kube_proxy(&resp, client, KEELSON_KUBE_PROXY_POD, "kafka", "broker-0", "9404", "GET",
				    "/metrics", NULL, 0, 0);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_uint_eq(resp.body_len, 4096);
	keelson_kube_response_dispose(&resp);

	g.sizes[0] = 4096;
	rc = keelson_kube_proxy(&resp, client, KEELSON_KUBE_PROXY_SERVICE, "kafka", "cruise-control", "9090",
				"GET", "/kafkacruisecontrol/state", NULL, 0, 0);
	ck_assert_int_eq(rc, KEELSON_ELIMIT);
	ck_assert_ptr_null(resp.body);
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "/api/v1/namespaces/kafka/services/cruise-control:9090/proxy/kafkacruisecontrol/state") !=
				      NULL &&
			      strstr(m, "larger than 4096 bytes") != NULL,
		      "%s", m);
	keelson_kube_response_dispose(&resp);

	/* Not a proxy request: the client's limit. */
	g.sizes[0] = 100000;
	rc = plain_get(&resp, client, "/api/v1/namespaces/kafka/configmaps/x");
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_uint_eq(resp.body_len, 100001);
	keelson_kube_response_dispose(&resp);
	generated_done(client);
}
END_TEST

static void write_token_file(const char *path, const char *token, size_t total)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fputs(token, f);
	for (size_t n = strlen(token); n < total; n++)
		fputc(n + 1 == total ? '\n' : ' ', f);
	ck_assert_int_eq(fclose(f), 0);
}

/* A token file is read whole up to 64 KiB (trailing white space
 * included); one byte more is refused before anything is sent. */
START_TEST(token_file_size)
{
	ck_assert_uint_eq(KEELSON_KUBE_TOKEN_MAX_BYTES, 64 * 1024);
	char dir[] = "/tmp/keelson-token-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/token", dir);
	write_token_file(path, "s3cr3t-token", KEELSON_KUBE_TOKEN_MAX_BYTES);

	struct generated g = {.count = 1, .sizes = {10}};
	struct keelson_kube_client *client = generated_client(&g, path, NULL);
	struct keelson_kube_response resp;
	int rc = plain_get(&resp, client, "/api/v1/namespaces/a/configmaps/x");
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_str_eq(g.authorization, "Bearer s3cr3t-token");
	keelson_kube_response_dispose(&resp);
	generated_done(client);

	write_token_file(path, "s3cr3t-token", KEELSON_KUBE_TOKEN_MAX_BYTES + 1);
	g.authorization[0] = '\0';
	client = generated_client(&g, path, NULL);
	rc = plain_get(&resp, client, "/api/v1/namespaces/a/configmaps/x");
	ck_assert_int_eq(rc, KEELSON_ELIMIT);
	ck_assert_str_eq(g.authorization, ""); /* nothing was sent */
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, path) != NULL && strstr(m, "larger than 65536 bytes") != NULL, "%s", m);
	ck_assert_msg(strstr(m, "s3cr3t") == NULL, "the token is in the message: %s", m);
	keelson_kube_response_dispose(&resp);
	generated_done(client);
	unlink(path);
	rmdir(dir);
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

/* ---- rollout state in a ConfigMap (kubesim) -------------------------------- */

static struct keelson_kube_client *kubesim_client(void)
{
	struct keelson_kube_config cfg = {.server = base, .namespace = "default"};
	struct keelson_kube_client *client = NULL;
	ck_assert_int_eq(keelson_kube_client_new(&client, &cfg, NULL), 0);
	return client;
}

/* {"desired":"ppp..."}: `size` bytes of JSON text. */
static cJSON *state_of_size(size_t size)
{
	size_t pad = size - strlen("{\"desired\":\"\"}");
	char *text = malloc(pad + 1);
	ck_assert_ptr_nonnull(text);
	memset(text, 'p', pad);
	text[pad] = '\0';
	cJSON *state = cJSON_CreateObject();
	cJSON_AddStringToObject(state, "desired", text);
	free(text);
	char *printed = cJSON_PrintUnformatted(state);
	ck_assert_uint_eq(strlen(printed), size);
	free(printed);
	return state;
}

static size_t saved_size(struct keelson_executor_kube_store *ks)
{
	cJSON *saved = NULL;
	int rc = ks->store.load(&saved, ks->store.payload, "c", "app");
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_ptr_nonnull(saved);
	char *text = cJSON_PrintUnformatted(saved);
	size_t n = strlen(text);
	free(text);
	cJSON_Delete(saved);
	return n;
}

/* The executor's state of a system is at most 64 KiB: a larger one is not
 * written (the previous state stays), and one found larger in the
 * ConfigMap stops the system (fail closed) with what to do. */
START_TEST(rollout_state_size)
{
	struct keelson_kube_client *client = kubesim_client();
	struct keelson_executor_kube_store ks;
	keelson_executor_store_kube(&ks, client, "default");

	cJSON *at_limit = state_of_size(65536);
	int rc = ks.store.save(ks.store.payload, "c", "app", at_limit);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_uint_eq(saved_size(&ks), 65536);

	cJSON *small = state_of_size(100);
	ck_assert_int_eq(ks.store.save(ks.store.payload, "c", "app", small), 0);
	cJSON *over = state_of_size(65537);
	ck_assert_int_eq(ks.store.save(ks.store.payload, "c", "app", over), KEELSON_ELIMIT);
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "the rollout state of c/app is 65537 bytes, more than the 65536 allowed") != NULL &&
			      strstr(m, "default/keelson-rollout-c-app keeps the previous state") != NULL,
		      "%s", m);
	ck_assert_uint_eq(saved_size(&ks), 100);

	/* Larger in the ConfigMap (written by hand): refused when read. */
	char *text = cJSON_PrintUnformatted(over);
	cJSON *configmap = cJSON_CreateObject();
	cJSON_AddStringToObject(configmap, "apiVersion", "v1");
	cJSON_AddStringToObject(configmap, "kind", "ConfigMap");
	cJSON *md = cJSON_AddObjectToObject(configmap, "metadata");
	cJSON_AddStringToObject(md, "name", "keelson-rollout-c-app");
	cJSON_AddStringToObject(md, "namespace", "default");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(configmap, "data"), "state", text);
	free(text);
	struct keelson_kube_write_options wo;
	keelson_kube_write_options_init(&wo);
	wo.field_manager = "by-hand";
	wo.force = true;
	cJSON *result = NULL;
	ck_assert_int_eq(keelson_kube_apply(&result, client, configmap, &wo), 0);
	cJSON_Delete(result);
	cJSON_Delete(configmap);
	cJSON *loaded = NULL;
	ck_assert_int_eq(ks.store.load(&loaded, ks.store.payload, "c", "app"), KEELSON_ELIMIT);
	ck_assert_ptr_null(loaded);
	m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "ConfigMap default/keelson-rollout-c-app: data.state is 65537 bytes") != NULL &&
			      strstr(m, "delete the ConfigMap") != NULL,
		      "%s", m);

	cJSON_Delete(at_limit);
	cJSON_Delete(small);
	cJSON_Delete(over);
	keelson_kube_client_free(client);
}
END_TEST

/* ---- configuration: clusters ------------------------------------------------ */

static char *config_with_clusters(unsigned n, size_t *len)
{
	size_t cap = 256 + (size_t)n * 64;
	char *text = malloc(cap);
	ck_assert_ptr_nonnull(text);
	size_t at = (size_t)snprintf(text, cap, "git:\n  url: file:///nowhere/repo\n  cacheDir: /nowhere/cache\nclusters:\n");
	for (unsigned i = 0; i < n; i++)
		at += (size_t)snprintf(text + at, cap - at, "  - name: c%u\n    kubeconfig: /nowhere/kc\n", i + 1);
	*len = at;
	return text;
}

START_TEST(configuration_clusters)
{
	ck_assert_uint_eq(KEELSON_CONFIG_MAX_CLUSTERS, 256);
	size_t len;
	char *text = config_with_clusters(256, &len);
	struct keelson_config *cfg = NULL;
	int rc = keelson_config_load_buffer(&cfg, text, len, "keelson.yaml");
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_ptr_nonnull(keelson_config_cluster(cfg, "c256"));
	keelson_config_free(cfg);
	free(text);

	text = config_with_clusters(257, &len);
	cfg = NULL;
	ck_assert_int_eq(keelson_config_load_buffer(&cfg, text, len, "keelson.yaml"), KEELSON_EINVALID);
	ck_assert_ptr_null(cfg);
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "keelson.yaml:5:3: clusters lists 257 entries; at most 256") != NULL &&
			      strstr(m, "instances") != NULL,
		      "%s", m);
	free(text);
}
END_TEST

/* ---- diff --------------------------------------------------------------------- */

/* A ConfigMap with `n` data keys in the repository and each of them
 * different in the cluster. */
static int diff_configmap(unsigned n, struct keelson_diff_object **out)
{
	size_t cap = 256 + (size_t)n * 32;
	char *yaml = malloc(cap), *live = malloc(cap);
	ck_assert_ptr_nonnull(yaml);
	ck_assert_ptr_nonnull(live);
	size_t y = (size_t)snprintf(yaml, cap, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: app\ndata:\n");
	size_t l = (size_t)snprintf(live, cap, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"big\","
					       "\"namespace\":\"app\"},\"data\":{");
	for (unsigned i = 0; i < n; i++) {
		y += (size_t)snprintf(yaml + y, cap - y, "  k%u: repo\n", i);
		l += (size_t)snprintf(live + l, cap - l, "%s\"k%u\":\"cluster\"", i ? "," : "", i);
	}
	snprintf(live + l, cap - l, "}}");
	struct keelson_yaml_stream *stream = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, yaml, y, "clusters/c/app/big.yaml", NULL), 0);
	struct keelson_object obj = {.api_version = "v1", .group = "", .kind = "ConfigMap", .namespace_ = "app",
				     .name = "big", .body = keelson_yaml_document(stream, 0), .stream = stream,
				     .file = "clusters/c/app/big.yaml", .line = 1, .column = 1};
	cJSON *parsed = cJSON_Parse(live);
	ck_assert_ptr_nonnull(parsed);
	struct keelson_diff_options opts;
	keelson_diff_options_init(&opts);
	ck_assert_uint_eq(opts.max_fields, 10000);
	*out = NULL;
	int rc = keelson_diff_object(out, &obj, parsed, &opts);
	cJSON_Delete(parsed);
	keelson_yaml_stream_free(stream);
	free(yaml);
	free(live);
	return rc;
}

START_TEST(diff_fields_per_object)
{
	struct keelson_diff_object *obj = NULL;
	int rc = diff_configmap(10000, &obj);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_DRIFTED);
	ck_assert_uint_eq(obj->field_count, 10000);
	keelson_diff_object_free(obj);

	ck_assert_int_eq(diff_configmap(10001, &obj), KEELSON_ELIMIT);
	ck_assert_ptr_null(obj);
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "ConfigMap app/big: more than 10000 differing fields") != NULL, "%s", m);
}
END_TEST

/* `ignoreDifferences` of one system: at most 1000 pointers in all. */
static int parse_ignore(unsigned first, unsigned second, struct keelson_diff_ignore_rules **rules)
{
	size_t cap = 256 + (size_t)(first + second) * 32;
	char *yaml = malloc(cap);
	ck_assert_ptr_nonnull(yaml);
	size_t n = (size_t)snprintf(yaml, cap, "ignoreDifferences:\n  - kind: ConfigMap\n    jsonPointers:\n");
	for (unsigned i = 0; i < first; i++)
		n += (size_t)snprintf(yaml + n, cap - n, "      - /data/a%u\n", i);
	n += (size_t)snprintf(yaml + n, cap - n, "  - kind: Secret\n    jsonPointers:\n");
	for (unsigned i = 0; i < second; i++)
		n += (size_t)snprintf(yaml + n, cap - n, "      - /data/b%u\n", i);
	struct keelson_yaml_stream *stream = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, yaml, n, "clusters/c/app/system.yaml", NULL), 0);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(keelson_yaml_document(stream, 0), "ignoreDifferences");
	*rules = NULL;
	int rc = keelson_diff_ignore_rules_parse(rules, list, stream);
	keelson_yaml_stream_free(stream);
	free(yaml);
	return rc;
}

START_TEST(diff_ignore_pointers)
{
	ck_assert_uint_eq(KEELSON_DIFF_MAX_IGNORE_RULES, 1000);
	struct keelson_diff_ignore_rules *rules = NULL;
	int rc = parse_ignore(600, 400, &rules);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_uint_eq(rules->count, 1000);
	keelson_diff_ignore_rules_free(rules);

	ck_assert_int_eq(parse_ignore(600, 401, &rules), KEELSON_EINVALID);
	ck_assert_ptr_null(rules);
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "clusters/c/app/system.yaml:2:3: ignoreDifferences: more than 1000 pointers") != NULL,
		      "%s", m);
}
END_TEST

/* ---- status writer: systems --------------------------------------------------- */

START_TEST(status_systems)
{
	ck_assert_uint_eq(KEELSON_STATUS_MAX_SYSTEMS, 100000);
	char dir[] = "/tmp/keelson-status-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char cache[128];
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	struct keelson_status_writer_options o = {.version = KEELSON_STATUS_WRITER_OPTIONS_VERSION,
						  .url = "file:///nowhere/config.git", .cache_dir = cache,
						  .instance = "test", .max_systems = 3};
	struct keelson_status_writer *w = NULL;
	ck_assert_msg(keelson_status_writer_new(&w, &o) == 0, "%s", keelson_error_last()->message);
	struct keelson_system_status st = {.version = KEELSON_SYSTEM_STATUS_VERSION,
					   .phase = KEELSON_PHASE_SYNCED};
	ck_assert_int_eq(keelson_status_writer_update(w, "c", "a", &st), 0);
	ck_assert_int_eq(keelson_status_writer_update(w, "c", "b", &st), 0);
	ck_assert_int_eq(keelson_status_writer_update(w, "d", "a", &st), 0);
	ck_assert_int_eq(keelson_status_writer_update(w, "d", "b", &st), KEELSON_ELIMIT);
	const char *m = keelson_error_last()->message;
	ck_assert_msg(strstr(m, "status d/b: not recorded, keelson already records the status of 3 systems") != NULL,
		      "%s", m);
	/* The systems recorded keep being updated. */
	st.phase = KEELSON_PHASE_PROGRESSING;
	ck_assert_int_eq(keelson_status_writer_update(w, "c", "a", &st), 0);
	keelson_status_writer_free(w);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
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
	tcase_add_test(tc, api_error_body_kept);
	tcase_add_test(tc, watch_event_size);
	tcase_add_test(tc, proxy_response_size);
	tcase_add_test(tc, token_file_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("kubesim requests");
	tcase_add_checked_fixture(tc, kubesim_setup, kubesim_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, kubesim_body_limit);
	tcase_add_test(tc, kubesim_header_limit);
	tcase_add_test(tc, rollout_state_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("repository");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, objects_per_repository);
	tcase_add_test(tc, configuration_clusters);
	tcase_add_test(tc, diff_fields_per_object);
	tcase_add_test(tc, diff_ignore_pointers);
	tcase_add_test(tc, status_systems);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_limits)
