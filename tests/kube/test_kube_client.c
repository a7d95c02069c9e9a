#include "config.h"

#include "core/error.h"
#include "kube/kube_client.h"
#include "kube/kube_ratelimit.h"
#include "mini_server.h"
#include "tests/unit/check_main.h"
#include "tls_fixture.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/socket.h>
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

#define TOKEN "test-token-0123456789"

static const char pod_json[] =
	"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-0\",\"namespace\":\"kafka\","
	"\"resourceVersion\":\"7\"}}";

static const char core_v1[] =
	"{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
	"{\"name\":\"pods\",\"singularName\":\"pod\",\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[\"get\"]},"
	"{\"name\":\"pods/status\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[\"get\"]},"
	"{\"name\":\"namespaces\",\"singularName\":\"namespace\",\"namespaced\":false,\"kind\":\"Namespace\",\"verbs\":[\"get\"]},"
	"{\"name\":\"configmaps\",\"singularName\":\"configmap\",\"namespaced\":true,\"kind\":\"ConfigMap\",\"verbs\":[\"get\"]}]}";

static const char apps_v1[] =
	"{\"kind\":\"APIResourceList\",\"groupVersion\":\"apps/v1\",\"resources\":["
	"{\"name\":\"statefulsets\",\"singularName\":\"statefulset\",\"namespaced\":true,\"kind\":\"StatefulSet\",\"verbs\":[\"get\"]},"
	"{\"name\":\"statefulsets/scale\",\"singularName\":\"\",\"namespaced\":true,\"group\":\"autoscaling\","
	"\"version\":\"v1\",\"kind\":\"Scale\",\"verbs\":[\"get\"]}]}";

static void status_reply(struct mini_reply *r, unsigned code, const char *reason, const char *message)
{
	r->status = code;
	snprintf(r->body, sizeof(r->body),
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
		"\"message\":\"%s\",\"reason\":\"%s\",\"code\":%u}", message, reason, code);
}

/* Serves discovery for v1 and apps/v1; returns true when it answered. */
static bool discovery(const struct mini_request *req, struct mini_reply *r)
{
	if (strcmp(req->path, "/api/v1") == 0) {
		snprintf(r->body, sizeof(r->body), "%s", core_v1);
		return true;
	}
	if (strcmp(req->path, "/apis/apps/v1") == 0) {
		snprintf(r->body, sizeof(r->body), "%s", apps_v1);
		return true;
	}
	return false;
}

struct server_env {
	struct mini_server *server;
	struct keelson_kube_config cfg;
	char server_url[64];
	struct keelson_kube_client *client;
};

static void env_start(struct server_env *env, mini_handler handler, void *payload, bool trust_clients)
{
	struct mini_server_options sopts = {
		.cert_pem = tls.server_cert_pem,
		.key_pem = tls.server_key_pem,
		.trust_pem = trust_clients ? tls.ca_pem : NULL,
		.handler = handler,
		.payload = payload,
	};
	memset(env, 0, sizeof(*env));
	env->server = mini_server_start(&sopts);
	ck_assert_ptr_nonnull(env->server);
	snprintf(env->server_url, sizeof(env->server_url), "https://127.0.0.1:%u", mini_server_port(env->server));
	env->cfg.server = env->server_url;
	env->cfg.namespace = "kafka";
	env->cfg.ca_data = tls.ca_pem;
	env->cfg.ca_data_len = strlen(tls.ca_pem);
	env->cfg.token = TOKEN;
}

/* KEELSON_TEST_TIME_FACTOR (make check-valgrind sets it): the client's
 * timeouts and the time bounds asserted here are for native speed; under
 * valgrind on a loaded machine a TLS handshake alone can take seconds. */
static unsigned time_factor(void)
{
	const char *v = getenv("KEELSON_TEST_TIME_FACTOR");
	long f = v ? strtol(v, NULL, 10) : 1;
	return f >= 1 && f <= 1000 ? (unsigned)f : 1;
}

static void env_client(struct server_env *env, const struct keelson_kube_client_options *opts)
{
	struct keelson_kube_client_options scaled;
	if (opts)
		scaled = *opts;
	else
		keelson_kube_client_options_init(&scaled);
	scaled.timeout_ms *= time_factor();
	scaled.connect_timeout_ms *= time_factor();
	ck_assert_int_eq(keelson_kube_client_new(&env->client, &env->cfg, &scaled), 0);
}

static void env_stop(struct server_env *env)
{
	keelson_kube_client_free(env->client);
	mini_server_stop(env->server);
}

static void fast_options(struct keelson_kube_client_options *o)
{
	keelson_kube_client_options_init(o);
	o->backoff_initial_ms = 10;
	o->backoff_max_ms = 40;
	o->timeout_ms = 5000;
}

/* --- authentication and TLS ------------------------------------------- */

static void auth_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	bool want_cert = payload != NULL;
	bool ok = want_cert ? req->client_cert_verified
			    : (req->authorization && strcmp(req->authorization, "Bearer " TOKEN) == 0);
	if (!ok) {
		status_reply(r, 401, "Unauthorized", "Unauthorized");
		return;
	}
	if (discovery(req, r))
		return;
	if (strcmp(req->path, "/api/v1/namespaces/kafka/pods/web-0") == 0)
		snprintf(r->body, sizeof(r->body), "%s", pod_json);
	else
		status_reply(r, 404, "NotFound", "pods \\\"x\\\" not found");
}

START_TEST(token_auth_over_tls)
{
	struct server_env env;
	cJSON *pod = NULL;

	env_start(&env, auth_handler, NULL, false);
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", NULL, "web-0"), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "name")->valuestring, "web-0");
	cJSON_Delete(pod);
	keelson_kube_client_free(env.client);

	/* The token may come from a file (service-account style, trailing newline). */
	char token_path[] = "/tmp/keelson-kube-token-XXXXXX";
	int fd = mkstemp(token_path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, TOKEN "\n", strlen(TOKEN) + 1), (ssize_t)strlen(TOKEN) + 1);
	close(fd);
	env.cfg.token = NULL;
	env.cfg.token_file = token_path;
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", NULL, "web-0"), 0);
	cJSON_Delete(pod);
	keelson_kube_client_free(env.client);

	/* A rotated token is picked up after the refresh interval. */
	struct keelson_kube_client_options o;
	keelson_kube_client_options_init(&o);
	o.token_refresh_ms = 100;
	o.max_retries = 0;
	env_client(&env, &o);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", NULL, "web-0"), 0);
	cJSON_Delete(pod);
	FILE *tf = fopen(token_path, "w");
	fputs("rotated-but-wrong", tf);
	fclose(tf);
	usleep(150000);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", NULL, "web-0"), KEELSON_ERROR);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "401"));
	tf = fopen(token_path, "w");
	fputs(TOKEN, tf);
	fclose(tf);
	usleep(150000);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", NULL, "web-0"), 0);
	cJSON_Delete(pod);
	/* A file that disappears keeps the last token (rotation in progress). */
	unlink(token_path);
	usleep(150000);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", NULL, "web-0"), 0);
	cJSON_Delete(pod);
	keelson_kube_client_free(env.client);
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", NULL, "web-0"), KEELSON_ERROR);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "token file"));
	keelson_kube_client_free(env.client);
	env.cfg.token_file = NULL;

	env.cfg.token = "wrong-token-secret";
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), KEELSON_ERROR);
	const char *msg = keelson_error_last()->message;
	ck_assert_ptr_nonnull(strstr(msg, "401"));
	ck_assert_ptr_nonnull(strstr(msg, "token"));
	ck_assert_ptr_null(strstr(msg, "wrong-token-secret"));
	env_stop(&env);
}
END_TEST

START_TEST(client_certificate_auth)
{
	struct server_env env;
	cJSON *pod = NULL;

	env_start(&env, auth_handler, (void *)1, true);
	env.cfg.token = NULL;
	env.cfg.client_cert_data = tls.client_cert_pem;
	env.cfg.client_cert_data_len = strlen(tls.client_cert_pem);
	env.cfg.client_key_data = tls.client_key_pem;
	env.cfg.client_key_data_len = strlen(tls.client_key_pem);
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), 0);
	cJSON_Delete(pod);
	keelson_kube_client_free(env.client);

	/* Without the certificate the server refuses. */
	env.cfg.client_cert_data = NULL;
	env.cfg.client_key_data = NULL;
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), KEELSON_ERROR);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "401"));
	env_stop(&env);
}
END_TEST

START_TEST(tls_verification)
{
	struct server_env env;
	cJSON *pod = NULL;
	char path[] = "/tmp/keelson-kube-ca-XXXXXX";

	env_start(&env, auth_handler, NULL, false);
	/* Not our CA: the system bundle does not know the test CA. */
	env.cfg.ca_data = NULL;
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), KEELSON_ERROR);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "certificate-authority"));
	keelson_kube_client_free(env.client);

	/* insecure-skip-tls-verify is honoured. */
	env.cfg.insecure_skip_tls_verify = true;
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), 0);
	cJSON_Delete(pod);
	keelson_kube_client_free(env.client);

	/* CA from a file, and tls-server-name checked against the certificate. */
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	fputs(tls.ca_pem, f);
	fclose(f);
	env.cfg.insecure_skip_tls_verify = false;
	env.cfg.ca_file = path;
	env.cfg.tls_server_name = "kubernetes";
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), 0);
	cJSON_Delete(pod);
	keelson_kube_client_free(env.client);
	env.cfg.tls_server_name = "not-in-the-certificate";
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), KEELSON_ERROR);
	unlink(path);
	env_stop(&env);
}
END_TEST

START_TEST(connection_refused_names_server)
{
	struct server_env env;
	struct keelson_kube_client_options o;
	cJSON *pod = NULL;

	env_start(&env, auth_handler, NULL, false);
	mini_server_stop(env.server);
	env.server = NULL;
	fast_options(&o);
	o.max_retries = 1;
	env_client(&env, &o);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), KEELSON_EUNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, env.server_url));
	keelson_kube_client_free(env.client);
}
END_TEST

/* --- Status errors and retries --------------------------------------- */

struct script {
	unsigned fail_count;  /* answer with `fail_status` this many times */
	unsigned fail_status;
	const char *reason;
	const char *retry_after;
	unsigned seen;        /* non-discovery requests */
	char last_method[16];
	char last_query[512];
	char last_body[4096];
	char last_content_type[128];
};

static void script_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	struct script *sc = payload;
	if (discovery(req, r))
		return;
	sc->seen++;
	snprintf(sc->last_method, sizeof(sc->last_method), "%s", req->method);
	snprintf(sc->last_body, sizeof(sc->last_body), "%.*s", (int)req->body_len, req->body);
	snprintf(sc->last_content_type, sizeof(sc->last_content_type), "%s", req->content_type ? req->content_type : "");
	const char *fm = mini_arg(req, "fieldManager"), *force = mini_arg(req, "force"), *dry = mini_arg(req, "dryRun");
	snprintf(sc->last_query, sizeof(sc->last_query), "fieldManager=%s force=%s dryRun=%s",
		fm ? fm : "-", force ? force : "-", dry ? dry : "-");
	if (sc->seen <= sc->fail_count) {
		status_reply(r, sc->fail_status, sc->reason ? sc->reason : "", "injected failure");
		if (sc->retry_after)
			snprintf(r->retry_after, sizeof(r->retry_after), "%s", sc->retry_after);
		return;
	}
	snprintf(r->body, sizeof(r->body), "%s", pod_json);
}

static int get_with(struct script *sc, const struct keelson_kube_client_options *o, unsigned *requests)
{
	struct server_env env;
	cJSON *pod = NULL;

	env_start(&env, script_handler, sc, false);
	env_client(&env, o);
	int rc = keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0");
	cJSON_Delete(pod);
	*requests = sc->seen;
	env_stop(&env);
	return rc;
}

START_TEST(status_codes_map_to_errors)
{
	static const struct {
		unsigned status;
		const char *reason;
		int code;
	} cases[] = {
		{404, "NotFound", KEELSON_ENOTFOUND},
		{409, "AlreadyExists", KEELSON_EEXISTS},
		{409, "Conflict", KEELSON_ECONFLICT},
		{422, "Invalid", KEELSON_EINVALID},
		{400, "BadRequest", KEELSON_EINVALID},
		{410, "Expired", KEELSON_KUBE_EEXPIRED},
		{403, "Forbidden", KEELSON_ERROR},
	};
	struct keelson_kube_client_options o;
	fast_options(&o);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct script sc = {.fail_count = 100, .fail_status = cases[i].status, .reason = cases[i].reason};
		unsigned requests;
		ck_assert_int_eq(get_with(&sc, &o, &requests), cases[i].code);
		/* The server's message reaches the caller; no retries for 4xx. */
		ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "injected failure"));
		ck_assert_uint_eq(requests, 1);
	}
	struct script sc = {.fail_count = 100, .fail_status = 403, .reason = "Forbidden"};
	unsigned requests;
	get_with(&sc, &o, &requests);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "RBAC"));
}
END_TEST

START_TEST(status_without_body)
{
	struct keelson_kube_status st;

	ck_assert_int_eq(keelson_kube_error_from_status(&st, 404, "", 0, "GET /x", "https://s"), KEELSON_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "the server could not find the requested resource"));
	ck_assert_int_eq(st.http_code, 404);
	ck_assert_str_eq(st.reason, "");
	static const char body[] = "{\"kind\":\"Status\",\"message\":\"too old resource version: 5 (100)\","
				   "\"reason\":\"Expired\",\"code\":410}";
	/* A watch ERROR event has no HTTP code: the Status's code is used. */
	ck_assert_int_eq(keelson_kube_error_from_status(&st, 0, body, strlen(body), "watch", "https://s"),
		KEELSON_KUBE_EEXPIRED);
	ck_assert_int_eq(st.http_code, 410);
	ck_assert_str_eq(st.reason, "Expired");
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "too old resource version"));
	ck_assert_int_eq(keelson_kube_error_from_status(NULL, 503, "<html>", 6, "GET /x", "https://s"),
		KEELSON_EUNAVAILABLE);
}
END_TEST

START_TEST(retry_429_honours_retry_after)
{
	struct keelson_kube_client_options o;
	struct script sc = {.fail_count = 1, .fail_status = 429, .reason = "TooManyRequests", .retry_after = "1"};
	unsigned requests;

	fast_options(&o);
	uint64_t start = keelson_kube_now_ns();
	ck_assert_int_eq(get_with(&sc, &o, &requests), 0);
	uint64_t elapsed_ms = (keelson_kube_now_ns() - start) / 1000000u;
	ck_assert_uint_eq(requests, 2);
	/* Retry-After: 1 beats the 10 ms backoff. */
	ck_assert_uint_ge(elapsed_ms, 950);
}
END_TEST

START_TEST(retry_5xx_with_backoff)
{
	struct keelson_kube_client_options o;
	unsigned requests;

	fast_options(&o);
	struct script sc = {.fail_count = 2, .fail_status = 500, .reason = "InternalError"};
	ck_assert_int_eq(get_with(&sc, &o, &requests), 0);
	ck_assert_uint_eq(requests, 3);

	o.max_retries = 2;
	struct script always = {.fail_count = 100, .fail_status = 503, .reason = "ServiceUnavailable"};
	ck_assert_int_eq(get_with(&always, &o, &requests), KEELSON_EUNAVAILABLE);
	ck_assert_uint_eq(requests, 3);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "after 3 attempts"));
}
END_TEST

START_TEST(create_not_retried_on_500)
{
	struct server_env env;
	struct keelson_kube_client_options o;
	struct script sc = {.fail_count = 1, .fail_status = 500, .reason = "InternalError"};
	cJSON *obj = cJSON_Parse(pod_json), *out = NULL;

	fast_options(&o);
	env_start(&env, script_handler, &sc, false);
	env_client(&env, &o);
	/* A POST may have been processed before the 500: not replayed. */
	ck_assert_int_eq(keelson_kube_create(&out, env.client, obj, NULL), KEELSON_EUNAVAILABLE);
	ck_assert_uint_eq(sc.seen, 1);
	ck_assert_str_eq(sc.last_method, "POST");
	/* 429 means "not processed": retried. */
	sc = (struct script){.fail_count = 1, .fail_status = 429, .reason = "TooManyRequests", .retry_after = "0"};
	ck_assert_int_eq(keelson_kube_create(&out, env.client, obj, NULL), 0);
	ck_assert_uint_eq(sc.seen, 2);
	ck_assert_str_eq(sc.last_query, "fieldManager=keelson force=- dryRun=-");
	cJSON_Delete(out);
	cJSON_Delete(obj);
	env_stop(&env);
}
END_TEST

START_TEST(rate_limit_spaces_requests)
{
	struct keelson_kube_client_options o;
	struct server_env env;
	struct script sc = {0};
	cJSON *pod = NULL;

	fast_options(&o);
	o.qps = 10;
	o.burst = 1;
	env_start(&env, script_handler, &sc, false);
	env_client(&env, &o);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), 0); /* + discovery */
	cJSON_Delete(pod);
	uint64_t start = keelson_kube_now_ns();
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), 0);
		cJSON_Delete(pod);
	}
	uint64_t elapsed_ms = (keelson_kube_now_ns() - start) / 1000000u;
	/* Discovery is cached: 2 + 4 requests, the last 4 at 10 per second. */
	ck_assert_uint_eq(keelson_kube_client_request_count(env.client), 6);
	ck_assert_uint_ge(elapsed_ms, 350);
	env_stop(&env);
}
END_TEST

static void hold_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	(void)payload;
	if (discovery(req, r))
		return;
	r->stream = true;
	r->end = MINI_END_HOLD;
}

START_TEST(request_timeout)
{
	struct keelson_kube_client_options o;
	struct server_env env;
	cJSON *pod = NULL;

	fast_options(&o);
	o.timeout_ms = 300;
	o.max_retries = 0;
	env_start(&env, hold_handler, NULL, false);
	env_client(&env, &o);
	ck_assert_int_eq(keelson_kube_get(&pod, env.client, "v1", "Pod", "kafka", "web-0"), KEELSON_ETIMEOUT);
	env_stop(&env);
}
END_TEST

/* --- discovery -------------------------------------------------------- */

struct crd_state {
	bool established;
	unsigned discovery_requests;
};

static void crd_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	struct crd_state *st = payload;
	if (strncmp(req->path, "/api", 4) == 0 && strstr(req->path, "/namespaces/") == NULL)
		st->discovery_requests++;
	if (discovery(req, r))
		return;
	if (strcmp(req->path, "/apis/kafka.example.com/v1") == 0) {
		if (!st->established) {
			status_reply(r, 404, "NotFound", "the server could not find the requested resource");
			return;
		}
		snprintf(r->body, sizeof(r->body),
			"{\"kind\":\"APIResourceList\",\"groupVersion\":\"kafka.example.com/v1\",\"resources\":["
			"{\"name\":\"topics\",\"singularName\":\"topic\",\"namespaced\":true,\"kind\":\"Topic\",\"verbs\":[]}]}");
		return;
	}
	status_reply(r, 404, "NotFound", "not found");
}

START_TEST(discovery_resolves_and_refreshes)
{
	struct server_env env;
	struct crd_state st = {0};
	struct keelson_kube_resource res;

	env_start(&env, crd_handler, &st, false);
	env_client(&env, NULL);
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "apps/v1", "StatefulSet"), 0);
	ck_assert_str_eq(res.group, "apps");
	ck_assert_str_eq(res.version, "v1");
	ck_assert_str_eq(res.resource, "statefulsets");
	ck_assert(res.namespaced);
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "v1", "Namespace"), 0);
	ck_assert_str_eq(res.group, "");
	ck_assert(!res.namespaced);
	unsigned before = st.discovery_requests;
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "apps/v1", "StatefulSet"), 0);
	ck_assert_uint_eq(st.discovery_requests, before); /* cached */

	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "v1", "Namespace"), 0);
	char *path = keelson_kube_resource_path(&res, "ignored", "kube-system");
	ck_assert_str_eq(path, "/api/v1/namespaces/kube-system");
	free(path);
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "apps/v1", "StatefulSet"), 0);
	path = keelson_kube_resource_path(&res, "kafka", "web");
	ck_assert_str_eq(path, "/apis/apps/v1/namespaces/kafka/statefulsets/web");
	free(path);
	path = keelson_kube_resource_path(&res, NULL, NULL);
	ck_assert_str_eq(path, "/apis/apps/v1/statefulsets");
	free(path);

	/* A CRD not yet established, then established: the miss refetches. */
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "kafka.example.com/v1", "Topic"), KEELSON_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "CustomResourceDefinition"));
	st.established = true;
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "kafka.example.com/v1", "Topic"), 0);
	ck_assert_str_eq(res.resource, "topics");
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "apps/v1", "Deployment"), KEELSON_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "no kind Deployment"));
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "a/b/c", "X"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "Apps/v1", "X"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "apps/v1?x=1", "X"), KEELSON_EINVALID);

	/* Dot segments never climb: ".." as a name is sent encoded. */
	ck_assert_int_eq(keelson_kube_resolve(&res, env.client, "v1", "Pod"), 0);
	path = keelson_kube_resource_path(&res, "kafka", "..");
	ck_assert_str_eq(path, "/api/v1/namespaces/kafka/pods/%2E%2E");
	free(path);
	path = keelson_kube_resource_path(&res, ".", "a b/c");
	ck_assert_str_eq(path, "/api/v1/namespaces/%2E/pods/a%20b%2Fc");
	free(path);
	env_stop(&env);
}
END_TEST

/* --- verbs ------------------------------------------------------------ */

struct pager {
	unsigned pages;
	bool expire_once;
	char last_selector[128];
};

static void list_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	struct pager *p = payload;
	if (discovery(req, r))
		return;
	const char *cont = mini_arg(req, "continue");
	const char *sel = mini_arg(req, "labelSelector");
	snprintf(p->last_selector, sizeof(p->last_selector), "%s", sel ? sel : "");
	p->pages++;
	ck_assert_str_eq(mini_arg(req, "limit"), "2");
	if (cont == NULL) {
		snprintf(r->body, sizeof(r->body),
			"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"100\",\"continue\":\"page2\"},"
			"\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}");
	} else if (strcmp(cont, "page2") == 0) {
		if (p->expire_once) {
			p->expire_once = false;
			status_reply(r, 410, "Expired", "The provided continue parameter is too old");
			return;
		}
		snprintf(r->body, sizeof(r->body),
			"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"100\"},"
			"\"items\":[{\"metadata\":{\"name\":\"c\"}}]}");
	} else {
		status_reply(r, 400, "BadRequest", "bad continue");
	}
}

START_TEST(list_follows_continue)
{
	struct server_env env;
	struct pager p = {0};
	struct keelson_kube_list_options lo;
	cJSON *list = NULL;

	env_start(&env, list_handler, &p, false);
	env_client(&env, NULL);
	keelson_kube_list_options_init(&lo);
	lo.page_size = 2;
	lo.label_selector = "app.kubernetes.io/managed-by=keelson";
	ck_assert_int_eq(keelson_kube_list(&list, env.client, "v1", "Pod", "kafka", &lo), 0);
	ck_assert_uint_eq(p.pages, 2);
	ck_assert_str_eq(p.last_selector, "app.kubernetes.io/managed-by=keelson");
	cJSON *items = cJSON_GetObjectItem(list, "items");
	ck_assert_int_eq(cJSON_GetArraySize(items), 3);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 2), "metadata"), "name")->valuestring, "c");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "kind")->valuestring, "Pod");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "apiVersion")->valuestring, "v1");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(list, "metadata"), "resourceVersion")->valuestring, "100");
	ck_assert_str_eq(cJSON_GetObjectItem(list, "kind")->valuestring, "PodList");
	cJSON_Delete(list);

	/* An expired continue token restarts the list from the beginning. */
	p.pages = 0;
	p.expire_once = true;
	ck_assert_int_eq(keelson_kube_list(&list, env.client, "v1", "Pod", "kafka", &lo), 0);
	ck_assert_uint_eq(p.pages, 4);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(list, "items")), 3);
	cJSON_Delete(list);

	lo.max_items = 2;
	ck_assert_int_eq(keelson_kube_list(&list, env.client, "v1", "Pod", "kafka", &lo), KEELSON_ERROR);
	ck_assert_ptr_null(list);
	env_stop(&env);
}
END_TEST

START_TEST(apply_patch_delete_requests)
{
	struct server_env env;
	struct script sc = {0};
	struct keelson_kube_write_options wo;
	cJSON *out = NULL;

	env_start(&env, script_handler, &sc, false);
	env_client(&env, NULL);
	cJSON *sts = cJSON_Parse("{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\","
		"\"metadata\":{\"name\":\"web\",\"managedFields\":[{}]},\"spec\":{\"replicas\":3}}");
	ck_assert_int_eq(keelson_kube_apply(&out, env.client, sts, NULL), 0);
	cJSON_Delete(out);
	ck_assert_str_eq(sc.last_method, "PATCH");
	ck_assert_str_eq(sc.last_content_type, "application/apply-patch+yaml");
	ck_assert_str_eq(sc.last_query, "fieldManager=keelson force=false dryRun=-");
	ck_assert_ptr_null(strstr(sc.last_body, "managedFields"));
	ck_assert_ptr_nonnull(strstr(sc.last_body, "\"replicas\":3"));

	keelson_kube_write_options_init(&wo);
	wo.force = true;
	wo.dry_run = true;
	ck_assert_int_eq(keelson_kube_apply(NULL, env.client, sts, &wo), 0);
	ck_assert_str_eq(sc.last_query, "fieldManager=keelson force=true dryRun=All");
	cJSON_Delete(sts);

	ck_assert_int_eq(keelson_kube_patch(&out, env.client, "apps/v1", "StatefulSet", NULL, "web",
		KEELSON_KUBE_PATCH_MERGE, "{\"spec\":{\"replicas\":1}}", NULL), 0);
	cJSON_Delete(out);
	ck_assert_str_eq(sc.last_content_type, "application/merge-patch+json");
	ck_assert_str_eq(sc.last_body, "{\"spec\":{\"replicas\":1}}");

	struct keelson_kube_delete_options d;
	keelson_kube_delete_options_init(&d);
	d.propagation = KEELSON_KUBE_PROPAGATION_FOREGROUND;
	d.grace_period_seconds = 0;
	d.precondition_uid = "uid-1";
	ck_assert_int_eq(keelson_kube_delete(env.client, "v1", "Pod", "kafka", "web-0", &d), 0);
	ck_assert_str_eq(sc.last_method, "DELETE");
	cJSON *body = cJSON_Parse(sc.last_body);
	ck_assert_str_eq(cJSON_GetObjectItem(body, "propagationPolicy")->valuestring, "Foreground");
	ck_assert_int_eq(cJSON_GetObjectItem(body, "gracePeriodSeconds")->valueint, 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(body, "preconditions"), "uid")->valuestring, "uid-1");
	cJSON_Delete(body);
	env_stop(&env);
}
END_TEST

static void proxy_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	(void)payload;
	if (strcmp(req->path, "/api/v1/namespaces/kafka/pods/web-0:9404/proxy/metrics") == 0 &&
	    mini_arg(req, "name") && strcmp(mini_arg(req, "name"), "x") == 0) {
		snprintf(r->body, sizeof(r->body), "kafka_under_replicated 0\n");
		return;
	}
	if (strcmp(req->path, "/api/v1/namespaces/kafka/services/cc:http/proxy/state") == 0) {
		r->status = 503;
		snprintf(r->body, sizeof(r->body), "busy");
		return;
	}
	status_reply(r, 404, "NotFound", "no such path");
}

START_TEST(proxy_paths)
{
	struct server_env env;
	struct keelson_kube_client_options o;
	struct keelson_kube_response resp;

	fast_options(&o);
	o.max_retries = 0;
	env_start(&env, proxy_handler, NULL, false);
	env_client(&env, &o);
	ck_assert_int_eq(keelson_kube_proxy(&resp, env.client, KEELSON_KUBE_PROXY_POD, "kafka", "web-0", "9404",
		"GET", "/metrics?name=x", NULL, 0, 2000 * time_factor()), 0);
	ck_assert_str_eq(resp.body, "kafka_under_replicated 0\n");
	keelson_kube_response_dispose(&resp);
	ck_assert_int_eq(keelson_kube_proxy(&resp, env.client, KEELSON_KUBE_PROXY_SERVICE, "kafka", "cc", "http",
		"GET", "/state", NULL, 0, 2000 * time_factor()), KEELSON_EUNAVAILABLE);
	ck_assert_int_eq(resp.http_code, 503);
	ck_assert_str_eq(resp.body, "busy");
	keelson_kube_response_dispose(&resp);
	ck_assert_int_eq(keelson_kube_proxy(&resp, env.client, KEELSON_KUBE_PROXY_POD, "kafka", "web-0", "9404",
		"GET", "metrics", NULL, 0, 2000 * time_factor()), KEELSON_EINVALID);
	static const char *const bad[] = {"/../../secrets", "/a/..", "/./x", "/%2e%2e/x", "/a/../b?x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(keelson_kube_proxy(&resp, env.client, KEELSON_KUBE_PROXY_POD, "kafka", "web-0", NULL,
			"GET", bad[i], NULL, 0, 2000 * time_factor()), KEELSON_EINVALID);
	/* Dots inside names are fine. */
	ck_assert_int_eq(keelson_kube_proxy(&resp, env.client, KEELSON_KUBE_PROXY_POD, "kafka", "web-0", "9404",
		"GET", "/.well-known/x..y", NULL, 0, 2000 * time_factor()), KEELSON_ENOTFOUND);
	keelson_kube_response_dispose(&resp);
	env_stop(&env);
}
END_TEST

/* --- watch ------------------------------------------------------------ */

struct watch_script {
	enum mini_stream_end end;
	bool error_event;
	bool http_410;
	char resource_version[32];
};

static void watch_handler(const struct mini_request *req, struct mini_reply *r, void *payload)
{
	struct watch_script *ws = payload;
	if (discovery(req, r))
		return;
	const char *rv = mini_arg(req, "resourceVersion");
	snprintf(ws->resource_version, sizeof(ws->resource_version), "%s", rv ? rv : "");
	ck_assert_str_eq(mini_arg(req, "watch"), "true");
	if (ws->http_410) {
		status_reply(r, 410, "Expired", "too old resource version: 1 (50)");
		return;
	}
	r->stream = true;
	r->end = ws->end;
	r->lines[r->line_count++] =
		"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"11\"}}}";
	r->lines[r->line_count++] =
		"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"12\"}}}";
	r->lines[r->line_count++] =
		"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"15\"}}}";
	if (ws->error_event)
		r->lines[r->line_count++] =
			"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
			"\"message\":\"too old resource version: 12 (40)\",\"reason\":\"Expired\",\"code\":410}}";
	else
		r->lines[r->line_count++] =
			"{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"16\"}}}";
}

struct seen_events {
	unsigned count[4];
	char names[8][16];
	unsigned n;
	atomic_bool *stop_after_first;
};

static int record_event(enum keelson_kube_event_type type, const cJSON *object, void *payload)
{
	struct seen_events *se = payload;
	const cJSON *name = cJSON_GetObjectItem(cJSON_GetObjectItem(object, "metadata"), "name");
	se->count[type]++;
	if (se->n < 8)
		snprintf(se->names[se->n++], 16, "%s", cJSON_IsString(name) ? name->valuestring : "");
	if (se->stop_after_first)
		atomic_store(se->stop_after_first, true);
	return 0;
}

static int run_watch(struct server_env *env, struct watch_script *ws, struct seen_events *se, char *rv, atomic_bool *stop)
{
	struct keelson_kube_resource res;
	struct keelson_kube_watch_options wo;

	ck_assert_int_eq(keelson_kube_resolve(&res, env->client, "v1", "Pod"), 0);
	keelson_kube_watch_options_init(&wo);
	wo.resource_version = "10";
	wo.stop = stop;
	(void)ws;
	return keelson_kube_watch(env->client, &res, "kafka", &wo, record_event, se, rv, 32);
}

START_TEST(watch_events_and_clean_end)
{
	struct server_env env;
	struct watch_script ws = {.end = MINI_END_CLEAN};
	struct seen_events se = {0};
	char rv[32] = "";

	env_start(&env, watch_handler, &ws, false);
	env_client(&env, NULL);
	ck_assert_int_eq(run_watch(&env, &ws, &se, rv, NULL), 0);
	ck_assert_str_eq(ws.resource_version, "10");
	ck_assert_uint_eq(se.count[KEELSON_KUBE_EVENT_ADDED], 1);
	ck_assert_uint_eq(se.count[KEELSON_KUBE_EVENT_MODIFIED], 1);
	ck_assert_uint_eq(se.count[KEELSON_KUBE_EVENT_BOOKMARK], 1);
	ck_assert_uint_eq(se.count[KEELSON_KUBE_EVENT_DELETED], 1);
	ck_assert_str_eq(rv, "16");
	env_stop(&env);
}
END_TEST

START_TEST(watch_error_event_is_expired)
{
	struct server_env env;
	struct watch_script ws = {.end = MINI_END_HOLD, .error_event = true};
	struct seen_events se = {0};
	char rv[32] = "";

	env_start(&env, watch_handler, &ws, false);
	env_client(&env, NULL);
	ck_assert_int_eq(run_watch(&env, &ws, &se, rv, NULL), KEELSON_KUBE_EEXPIRED);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "too old resource version"));
	ck_assert_str_eq(rv, "15"); /* the bookmark before the error */
	ws.http_410 = true;
	ck_assert_int_eq(run_watch(&env, &ws, &se, rv, NULL), KEELSON_KUBE_EEXPIRED);
	env_stop(&env);
}
END_TEST

START_TEST(watch_dropped_connection)
{
	struct server_env env;
	struct watch_script ws = {.end = MINI_END_DROP};
	struct seen_events se = {0};
	char rv[32] = "";

	env_start(&env, watch_handler, &ws, false);
	env_client(&env, NULL);
	ck_assert_int_eq(run_watch(&env, &ws, &se, rv, NULL), KEELSON_EUNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "dropped"));
	/* Events before the drop were delivered, and the caller can resume. */
	ck_assert_uint_eq(se.count[KEELSON_KUBE_EVENT_DELETED], 1);
	ck_assert_str_eq(rv, "16");
	env_stop(&env);
}
END_TEST

START_TEST(watch_stop_flag)
{
	struct server_env env;
	struct watch_script ws = {.end = MINI_END_HOLD};
	atomic_bool stop = false;
	struct seen_events se = {.stop_after_first = &stop};
	char rv[32] = "";

	env_start(&env, watch_handler, &ws, false);
	env_client(&env, NULL);
	uint64_t start = keelson_kube_now_ns();
	ck_assert_int_eq(run_watch(&env, &ws, &se, rv, &stop), 0);
	ck_assert_uint_lt((keelson_kube_now_ns() - start) / 1000000u, 5000u * time_factor());
	ck_assert_uint_ge(se.count[KEELSON_KUBE_EVENT_ADDED], 1);
	env_stop(&env);
}
END_TEST

/* --- concurrency ------------------------------------------------------ */

struct getter {
	struct keelson_kube_client *client;
	int failures;
};

static void *get_many(void *arg)
{
	struct getter *g = arg;
	for (int i = 0; i < 25; i++) {
		cJSON *pod = NULL;
		if (keelson_kube_get(&pod, g->client, "v1", "Pod", "kafka", "web-0") != 0)
			g->failures++;
		else if (strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "name")->valuestring, "web-0") != 0)
			g->failures++;
		cJSON_Delete(pod);
	}
	return NULL;
}

START_TEST(concurrent_requests_share_client)
{
	struct server_env env;
	struct getter g[6];
	pthread_t threads[6];

	env_start(&env, auth_handler, NULL, false);
	env_client(&env, NULL);
	for (int i = 0; i < 6; i++) {
		g[i] = (struct getter){env.client, 0};
		ck_assert_int_eq(pthread_create(&threads[i], NULL, get_many, &g[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(threads[i], NULL);
		ck_assert_int_eq(g[i].failures, 0);
	}
	/* 150 GETs plus discovery (fetched at least once, at most once per thread). */
	ck_assert_uint_ge(keelson_kube_client_request_count(env.client), 151);
	ck_assert_uint_le(keelson_kube_client_request_count(env.client), 156);
	env_stop(&env);
}
END_TEST

/* --- HTTP/2 offer -------------------------------------------------------- */

/* A one-shot TLS server (OpenSSL) that records the ALPN protocols the client
 * offers, picks http/1.1 (no HTTP/2 server is available here) and answers
 * one request: the client must offer h2 and fall back cleanly. */
struct alpn_server {
	int listen_fd;
	unsigned short port;
	pthread_t thread;
	unsigned char offered[256];
	unsigned offered_len;
	char selected[32];
};

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
	unsigned int inlen, void *arg)
{
	struct alpn_server *as = arg;
	static const unsigned char http11[] = "\x08http/1.1";
	(void)ssl;
	as->offered_len = inlen < sizeof(as->offered) ? inlen : sizeof(as->offered);
	memcpy(as->offered, in, as->offered_len);
	if (SSL_select_next_proto((unsigned char **)out, outlen, http11, sizeof(http11) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	snprintf(as->selected, sizeof(as->selected), "%.*s", (int)*outlen, (const char *)*out);
	return SSL_TLSEXT_ERR_OK;
}

static void *alpn_serve(void *arg)
{
	struct alpn_server *as = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO *cert_bio = BIO_new_mem_buf(tls.server_cert_pem, -1);
	BIO *key_bio = BIO_new_mem_buf(tls.server_key_pem, -1);
	X509 *cert = PEM_read_bio_X509(cert_bio, NULL, NULL, NULL);
	EVP_PKEY *key = PEM_read_bio_PrivateKey(key_bio, NULL, NULL, NULL);
	SSL_CTX_use_certificate(ctx, cert);
	SSL_CTX_use_PrivateKey(ctx, key);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, as);
	int fd = accept(as->listen_fd, NULL, NULL);
	if (fd >= 0) {
		SSL *ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			char req[4096];
			size_t len = 0;
			while (len < sizeof(req) - 1) {
				int n = SSL_read(ssl, req + len, (int)(sizeof(req) - 1 - len));
				if (n <= 0)
					break;
				len += (size_t)n;
				req[len] = '\0';
				if (strstr(req, "\r\n\r\n"))
					break;
			}
			static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
						    "Content-Length: 16\r\nConnection: close\r\n\r\n{\"major\":\"1\"}\n\n\n";
			SSL_write(ssl, reply, (int)strlen(reply));
			SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		close(fd);
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	BIO_free(cert_bio);
	BIO_free(key_bio);
	SSL_CTX_free(ctx);
	return NULL;
}

START_TEST(offers_http2)
{
	struct alpn_server as = {0};
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(addr);

	as.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(as.listen_fd, 0);
	ck_assert_int_eq(bind(as.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(as.listen_fd, 1), 0);
	ck_assert_int_eq(getsockname(as.listen_fd, (struct sockaddr *)&addr, &alen), 0);
	as.port = ntohs(addr.sin_port);
	ck_assert_int_eq(pthread_create(&as.thread, NULL, alpn_serve, &as), 0);

	char url[64];
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", as.port);
	struct keelson_kube_config cfg = {.server = url, .ca_data = tls.ca_pem, .ca_data_len = strlen(tls.ca_pem)};
	struct keelson_kube_client *client = NULL;
	ck_assert_int_eq(keelson_kube_client_new(&client, &cfg, NULL), 0);
	struct keelson_kube_request req = {.version = KEELSON_KUBE_REQUEST_VERSION, .method = "GET", .path = "/version"};
	struct keelson_kube_response resp;
	ck_assert_msg(keelson_kube_request(&resp, client, &req) == 0, "%s", keelson_error_last()->message);
	ck_assert_str_eq(resp.body, "{\"major\":\"1\"}\n\n\n");
	keelson_kube_response_dispose(&resp);
	keelson_kube_client_free(client);
	pthread_join(as.thread, NULL);
	close(as.listen_fd);
	/* ALPN wire format: length-prefixed names; h2 must be among them. */
	bool h2 = false;
	for (unsigned i = 0; i < as.offered_len; i += 1u + as.offered[i])
		if (as.offered[i] == 2 && i + 3 <= as.offered_len && memcmp(as.offered + i + 1, "h2", 2) == 0)
			h2 = true;
	ck_assert_msg(h2, "the client did not offer HTTP/2 (h2) in ALPN");
	ck_assert_str_eq(as.selected, "http/1.1");
}
END_TEST

Suite *suite_kube_client(void);
Suite *suite_kube_client(void)
{
	Suite *s = suite_create("kube_client");
	TCase *tc;

#define NEW_TCASE(name)                                           \
	do {                                                      \
		tc = tcase_create(name);                          \
		tcase_add_unchecked_fixture(tc, tls_setup, tls_teardown); \
		tcase_set_timeout(tc, 60);                        \
		suite_add_tcase(s, tc);                           \
	} while (0)

	NEW_TCASE("keelson_kube_client_new");
	tcase_add_test(tc, token_auth_over_tls);
	tcase_add_test(tc, client_certificate_auth);
	tcase_add_test(tc, tls_verification);
	tcase_add_test(tc, connection_refused_names_server);
	NEW_TCASE("keelson_kube_request");
	tcase_add_test(tc, offers_http2);
	tcase_add_test(tc, concurrent_requests_share_client);
	tcase_add_test(tc, status_codes_map_to_errors);
	tcase_add_test(tc, retry_429_honours_retry_after);
	tcase_add_test(tc, retry_5xx_with_backoff);
	tcase_add_test(tc, create_not_retried_on_500);
	tcase_add_test(tc, rate_limit_spaces_requests);
	tcase_add_test(tc, request_timeout);
	NEW_TCASE("keelson_kube_error_from_status");
	tcase_add_test(tc, status_without_body);
	NEW_TCASE("keelson_kube_resolve");
	tcase_add_test(tc, discovery_resolves_and_refreshes);
	NEW_TCASE("keelson_kube_list");
	tcase_add_test(tc, list_follows_continue);
	NEW_TCASE("keelson_kube_apply");
	tcase_add_test(tc, apply_patch_delete_requests);
	NEW_TCASE("keelson_kube_proxy");
	tcase_add_test(tc, proxy_paths);
	NEW_TCASE("keelson_kube_watch");
	tcase_add_test(tc, watch_events_and_clean_end);
	tcase_add_test(tc, watch_error_event_is_expired);
	tcase_add_test(tc, watch_dropped_connection);
	tcase_add_test(tc, watch_stop_flag);
	return s;
}

KEELSON_CHECK_MAIN(suite_kube_client)
