#include "config.h"

#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/error.h"
#include "tests/kubesim/server.h"
#include "tests/kubesim/sim.h"
#include "tests/kubesim/store.h"
#include "tests/unit/check_main.h"

#define TOKEN "test-token-0123456789"

static struct ks_store *store;
static struct ks_server *server;
static struct ks_controller *crd_ctl;
static char base[64];
static long body_len_override = -1; /* binary bodies (protobuf) */

struct resp {
	long code;
	char *body;
	size_t len;
	char warning[512];
};

static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
	struct resp *r = cls;
	size_t add = size * n;
	char *nb = realloc(r->body, r->len + add + 1);
	if (!nb)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, data, add);
	r->len += add;
	r->body[r->len] = 0;
	return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *cls)
{
	struct resp *r = cls;
	if (!strncasecmp(data, "Warning:", 8))
		snprintf(r->warning, sizeof(r->warning), "%.*s", (int)(size * n - 8), data + 8);
	return size * n;
}

/* One request; `token` NULL sends none. Returns the parsed body (or NULL
 * for non-JSON) and fills *code. */
static cJSON *request(const char *method, const char *path, const char *content_type,
	const char *body, const char *token, long *code, struct resp *keep)
{
	CURL *c = curl_easy_init();
	ck_assert_ptr_nonnull(c);
	char url[2048], auth[128], ct[160];
	snprintf(url, sizeof(url), "%s%s", base, path);
	struct curl_slist *h = NULL;
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (content_type) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		h = curl_slist_append(h, ct);
	}
	struct resp r = {0};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		if (body_len_override >= 0)
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body_len_override);
	}
	CURLcode rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "curl %s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	cJSON *j = r.body ? cJSON_Parse(r.body) : NULL;
	if (keep) {
		*keep = r;
		keep->code = *code;
	} else {
		free(r.body);
	}
	return j;
}

static cJSON *req(const char *method, const char *path, const char *body, long *code)
{
	return request(method, path, body ? "application/json" : NULL, body, TOKEN, code, NULL);
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void setup(void)
{
	ck_assert_int_eq(ks_store_new(&store), 0);
	ck_assert_int_eq(ks_crd_controller_start(store, &crd_ctl), 0);
	struct ks_server_config cfg = {.version = KS_SERVER_CONFIG_VERSION,
		.listen_address = "127.0.0.1", .port = 0, .insecure_http = true, .token = TOKEN,
		.log_level = 0};
	ck_assert_int_eq(ks_server_start(store, &cfg, &server), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", ks_server_port(server));
}

static void teardown(void)
{
	ks_server_stop(server);
	ks_controller_stop(crd_ctl);
	ks_store_free(store);
}

START_TEST(test_auth)
{
	long code;
	cJSON *j = request("GET", "/version", NULL, NULL, NULL, &code, NULL);
	ck_assert_int_eq(code, 401);
	ck_assert_str_eq(str(j, "reason"), "Unauthorized");
	ck_assert_str_eq(str(j, "kind"), "Status");
	cJSON_Delete(j);
	j = request("GET", "/version", NULL, NULL, "wrong", &code, NULL);
	ck_assert_int_eq(code, 401);
	cJSON_Delete(j);
	j = req("GET", "/version", NULL, &code);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(str(j, "gitVersion"), "v1.32.9");
	cJSON_Delete(j);
}
END_TEST

/* One HTTPS request with an optional client certificate (PEM strings);
 * the server's CA verifies the server. Fills *code, returns the body. */
static char *tls_request(int port, const char *path, const char *ca_pem, const char *cert_pem,
	const char *key_pem, const char *token, long *code)
{
	CURL *c = curl_easy_init();
	ck_assert_ptr_nonnull(c);
	char url[256], auth[128];
	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, path);
	struct curl_slist *h = NULL;
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	struct curl_blob ca = {(void *)ca_pem, strlen(ca_pem), CURL_BLOB_COPY};
	curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
	if (cert_pem) {
		struct curl_blob cb = {(void *)cert_pem, strlen(cert_pem), CURL_BLOB_COPY};
		struct curl_blob kb = {(void *)key_pem, strlen(key_pem), CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
	struct resp r = {0};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (!strcmp(path, "/apis/authentication.k8s.io/v1/selfsubjectreviews"))
		curl_easy_setopt(c, CURLOPT_POSTFIELDS,
			"{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}");
	CURLcode rc = curl_easy_perform(c);
	ck_assert_msg(rc == CURLE_OK, "curl %s: %s", path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r.body;
}

/* A TLS server trusting its own CA for client certificates: a certificate
 * from that CA authenticates as its CN/O, a certificate from another CA and
 * no credentials at all get 401, the token still works. */
START_TEST(test_client_cert)
{
	struct ks_tls_material tls, other;
	ck_assert_int_eq(ks_tls_generate(&tls), 0);
	ck_assert_int_eq(ks_tls_generate(&other), 0);
	char *cert, *key, *bad_cert, *bad_key;
	ck_assert_int_eq(ks_tls_client_cert(&tls, "alice", "team-data", &cert, &key), 0);
	ck_assert_int_eq(ks_tls_client_cert(&other, "mallory", "system:masters", &bad_cert, &bad_key),
		0);
	struct ks_server_config cfg = {.version = KS_SERVER_CONFIG_VERSION,
		.listen_address = "127.0.0.1", .port = 0, .tls = &tls, .token = TOKEN,
		.client_ca_pem = tls.ca_pem};
	struct ks_server *srv;
	ck_assert_int_eq(ks_server_start(store, &cfg, &srv), 0);
	int port = ks_server_port(srv);
	long code;
	const char *review = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
	char *body = tls_request(port, review, tls.ca_pem, cert, key, NULL, &code);
	ck_assert_int_eq(code, 201);
	cJSON *j = cJSON_Parse(body);
	const cJSON *ui = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "status"), "userInfo");
	ck_assert_str_eq(str(ui, "username"), "alice");
	ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(ui, "groups"), 0)->valuestring,
		"team-data");
	cJSON_Delete(j);
	free(body);
	free(tls_request(port, "/api/v1/namespaces", tls.ca_pem, bad_cert, bad_key, NULL, &code));
	ck_assert_int_eq(code, 401);
	free(tls_request(port, "/api/v1/namespaces", tls.ca_pem, NULL, NULL, NULL, &code));
	ck_assert_int_eq(code, 401);
	/* signed by the trusted CA but for servers only (EKU serverAuth) */
	free(tls_request(port, "/api/v1/namespaces", tls.ca_pem, tls.cert_pem, tls.key_pem, NULL,
		&code));
	ck_assert_int_eq(code, 401);
	body = tls_request(port, review, tls.ca_pem, NULL, NULL, TOKEN, &code);
	ck_assert_int_eq(code, 201);
	ck_assert_ptr_nonnull(strstr(body, "\"username\":\"kubesim-admin\""));
	free(body);
	/* loaded material has no CA key to sign with */
	struct ks_tls_material loaded = {.ca_pem = tls.ca_pem};
	char *c2, *k2;
	ck_assert_int_eq(ks_tls_client_cert(&loaded, "x", NULL, &c2, &k2), KEELSON_EINVALID);
	ks_server_stop(srv);
	free(cert);
	free(key);
	free(bad_cert);
	free(bad_key);
	ks_tls_material_clear(&tls);
	ks_tls_material_clear(&other);
}
END_TEST

START_TEST(test_crud_and_errors)
{
	long code;
	const char *cm = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":\"x\"}},\"data\":{\"k\":\"v\"}}";
	cJSON *j = req("POST", "/api/v1/namespaces/default/configmaps", cm, &code);
	ck_assert_int_eq(code, 201);
	char rv[32];
	snprintf(rv, sizeof(rv), "%s", ks_meta_string(j, "resourceVersion"));
	cJSON_Delete(j);
	j = req("POST", "/api/v1/namespaces/default/configmaps", cm, &code);
	ck_assert_int_eq(code, 409);
	ck_assert_str_eq(str(j, "reason"), "AlreadyExists");
	cJSON_Delete(j);
	j = req("POST", "/api/v1/namespaces/nope/configmaps", cm, &code);
	ck_assert_int_eq(code, 404);
	ck_assert_str_eq(str(j, "message"), "namespaces \"nope\" not found");
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/configmaps/missing", NULL, &code);
	ck_assert_int_eq(code, 404);
	ck_assert_str_eq(str(j, "message"), "configmaps \"missing\" not found");
	ck_assert_str_eq(str(cJSON_GetObjectItem(j, "details"), "kind"), "configmaps");
	cJSON_Delete(j);

	/* PUT with the current RV works, then the same RV is stale. */
	char put[512];
	snprintf(put, sizeof(put),
		"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"%s\"},\"data\":{\"k\":\"w\"}}",
		rv);
	j = req("PUT", "/api/v1/namespaces/default/configmaps/a", put, &code);
	ck_assert_int_eq(code, 200);
	cJSON_Delete(j);
	j = req("PUT", "/api/v1/namespaces/default/configmaps/a", put, &code);
	ck_assert_int_eq(code, 409);
	ck_assert_str_eq(str(j, "message"),
		"Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again");
	cJSON_Delete(j);

	/* dry run persists nothing */
	j = req("POST", "/api/v1/namespaces/default/configmaps?dryRun=All",
		"{\"metadata\":{\"name\":\"dry\"}}", &code);
	ck_assert_int_eq(code, 201);
	ck_assert_ptr_nonnull(ks_meta_string(j, "uid"));
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/configmaps/dry", NULL, &code);
	ck_assert_int_eq(code, 404);
	cJSON_Delete(j);

	/* unknown patch type: 415 */
	j = request("PATCH", "/api/v1/namespaces/default/configmaps/a", "text/plain", "{}", TOKEN,
		&code, NULL);
	ck_assert_int_eq(code, 415);
	ck_assert_str_eq(str(j, "reason"), "UnsupportedMediaType");
	cJSON_Delete(j);

	/* delete: Success Status for configmaps */
	j = req("DELETE", "/api/v1/namespaces/default/configmaps/a", NULL, &code);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(str(j, "status"), "Success");
	ck_assert_str_eq(str(cJSON_GetObjectItem(j, "details"), "name"), "a");
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_list_selectors_paging)
{
	long code;
	for (int i = 0; i < 5; i++) {
		char body[256];
		snprintf(body, sizeof(body),
			"{\"metadata\":{\"name\":\"c%d\",\"labels\":{\"tier\":\"%s\"}}}", i,
			i % 2 ? "odd" : "even");
		cJSON_Delete(req("POST", "/api/v1/namespaces/default/configmaps", body, &code));
		ck_assert_int_eq(code, 201);
	}
	cJSON *j = req("GET", "/api/v1/namespaces/default/configmaps?labelSelector=tier%3Deven", NULL,
		&code);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(str(j, "kind"), "ConfigMapList");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 3);
	cJSON_Delete(j);
	j = req("GET", "/api/v1/configmaps?fieldSelector=metadata.name%3Dc3", NULL, &code);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 1);
	cJSON_Delete(j);
	/* Set-based selectors and the kind's registered fields only, as the
	 * apiserver (one selector implementation: patch/selectors.h). */
	j = req("GET", "/api/v1/namespaces/default/configmaps?labelSelector=tier%20notin%20(odd),tier",
		NULL, &code);
	ck_assert_int_eq(code, 200);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 3);
	cJSON_Delete(j);
	j = req("GET", "/api/v1/configmaps?fieldSelector=data.x%3Dy", NULL, &code);
	ck_assert_int_eq(code, 400);
	ck_assert_str_eq(str(j, "message"), "field label not supported: data.x");
	cJSON_Delete(j);
	j = req("GET", "/api/v1/configmaps?labelSelector=tier%20in%20odd", NULL, &code);
	ck_assert_int_eq(code, 400);
	ck_assert_str_eq(str(j, "reason"), "BadRequest");
	ck_assert(strstr(str(j, "message"), "unable to parse requirement") != NULL);
	cJSON_Delete(j);
	/* paging: 2 + 2 + 1 */
	char path[1024] = "/api/v1/namespaces/default/configmaps?limit=2";
	int seen = 0, pages = 0;
	for (;;) {
		j = req("GET", path, NULL, &code);
		ck_assert_int_eq(code, 200);
		seen += cJSON_GetArraySize(cJSON_GetObjectItem(j, "items"));
		pages++;
		const char *cont = str(cJSON_GetObjectItem(j, "metadata"), "continue");
		if (!cont) {
			cJSON_Delete(j);
			break;
		}
		char *esc = curl_easy_escape(NULL, cont, 0);
		snprintf(path, sizeof(path), "/api/v1/namespaces/default/configmaps?limit=2&continue=%s",
			esc);
		curl_free(esc);
		cJSON_Delete(j);
		ck_assert_int_lt(pages, 10);
	}
	ck_assert_int_eq(seen, 5);
	ck_assert_int_eq(pages, 3);
	/* resourceVersion=0 is served whole (watch-cache semantics) */
	j = req("GET", "/api/v1/namespaces/default/configmaps?limit=2&resourceVersion=0", NULL, &code);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "items")), 5);
	ck_assert_ptr_null(str(cJSON_GetObjectItem(j, "metadata"), "continue"));
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/configmaps?resourceVersionMatch=Exact", NULL, &code);
	ck_assert_int_eq(code, 422);
	cJSON_Delete(j);
}
END_TEST

struct bg_write {
	useconds_t delay;
};

static void *write_later(void *arg)
{
	struct bg_write *w = arg;
	usleep(w->delay);
	long code;
	cJSON_Delete(req("POST", "/api/v1/namespaces/default/configmaps",
		"{\"metadata\":{\"name\":\"late\",\"labels\":{\"sel\":\"yes\"}}}", &code));
	cJSON_Delete(request("PATCH", "/api/v1/namespaces/default/configmaps/late",
		"application/merge-patch+json", "{\"metadata\":{\"labels\":{\"sel\":\"no\"}}}",
		TOKEN, &code, NULL));
	return NULL;
}

START_TEST(test_watch)
{
	long code;
	/* synthetic ADDED for existing objects, then live events with a
	 * selector: the object leaving the selection arrives as DELETED. */
	cJSON_Delete(req("POST", "/api/v1/namespaces/default/configmaps",
		"{\"metadata\":{\"name\":\"early\",\"labels\":{\"sel\":\"yes\"}}}", &code));
	pthread_t t;
	struct bg_write w = {.delay = 300000};
	pthread_create(&t, NULL, write_later, &w);
	struct resp r;
	cJSON *j = request("GET",
		"/api/v1/namespaces/default/configmaps?watch=1&labelSelector=sel%3Dyes&timeoutSeconds=3",
		NULL, NULL, TOKEN, &code, &r);
	pthread_join(t, NULL);
	cJSON_Delete(j);
	ck_assert_int_eq(code, 200);
	ck_assert_ptr_nonnull(r.body);
	/* expected lines: ADDED early, ADDED late, DELETED late (label change) */
	char *line = r.body;
	const char *want[] = {"ADDED", "ADDED", "DELETED"};
	const char *names[] = {"early", "late", "late"};
	for (int i = 0; i < 3; i++) {
		char *nl = strchr(line, '\n');
		ck_assert_msg(nl != NULL, "watch body too short: %s", r.body);
		*nl = 0;
		cJSON *ev = cJSON_Parse(line);
		ck_assert_ptr_nonnull(ev);
		ck_assert_str_eq(str(ev, "type"), want[i]);
		ck_assert_str_eq(ks_meta_string(cJSON_GetObjectItem(ev, "object"), "name"), names[i]);
		cJSON_Delete(ev);
		line = nl + 1;
	}
	ck_assert_str_eq(line, "");
	free(r.body);

	/* too old resource version: 200 + one ERROR event (Expired, 410) */
	cJSON_Delete(request("POST", "/_sim/reset", NULL, NULL, TOKEN, &code, NULL));
	ck_assert_int_eq(code, 200);
	j = request("GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2",
		NULL, NULL, TOKEN, &code, &r);
	ck_assert_int_eq(code, 200);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(str(j, "type"), "ERROR");
	cJSON *st = cJSON_GetObjectItem(j, "object");
	ck_assert_str_eq(str(st, "reason"), "Expired");
	ck_assert_int_eq(cJSON_GetObjectItem(st, "code")->valueint, 410);
	ck_assert(strncmp(str(st, "message"), "too old resource version: 2 (", 29) == 0);
	cJSON_Delete(j);
	free(r.body);
}
END_TEST

START_TEST(test_namespaces_and_pods)
{
	long code;
	cJSON_Delete(req("POST", "/api/v1/namespaces", "{\"metadata\":{\"name\":\"gone\"}}", &code));
	ck_assert_int_eq(code, 201);
	cJSON *j = req("DELETE", "/api/v1/namespaces/gone", NULL, &code);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(str(cJSON_GetObjectItem(j, "status"), "phase"), "Terminating");
	cJSON_Delete(j);
	j = req("POST", "/api/v1/namespaces/gone/configmaps", "{\"metadata\":{\"name\":\"x\"}}", &code);
	ck_assert_int_eq(code, 403);
	ck_assert_str_eq(str(j, "reason"), "Forbidden");
	cJSON_Delete(j);

	/* a scheduled pod gets graceful deletion and the object back */
	j = req("POST", "/api/v1/namespaces/default/pods",
		"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"image\":\"i:1\"}]}}",
		&code);
	ck_assert_int_eq(code, 201);
	ck_assert_str_eq(str(cJSON_GetObjectItem(j, "status"), "phase"), "Pending");
	cJSON_Delete(j);
	j = req("DELETE", "/api/v1/namespaces/default/pods/p", "{\"gracePeriodSeconds\":20}", &code);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(str(j, "kind"), "Pod");
	ck_assert_ptr_nonnull(ks_meta_string(j, "deletionTimestamp"));
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"),
		"deletionGracePeriodSeconds")->valueint, 20);
	cJSON_Delete(j);
	j = req("DELETE", "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=0", NULL, &code);
	ck_assert_int_eq(code, 200);
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/pods/p", NULL, &code);
	ck_assert_int_eq(code, 404);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_crd)
{
	long code;
	const char *crd =
		"{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
		"\"metadata\":{\"name\":\"foos.example.com\"},\"spec\":{\"group\":\"example.com\","
		"\"scope\":\"Namespaced\",\"names\":{\"plural\":\"foos\",\"kind\":\"Foo\"},"
		"\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
		"\"subresources\":{\"status\":{}},\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
		"\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":\"integer\"}}},"
		"\"status\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}}}}}]}}";
	cJSON *j = req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd, &code);
	ck_assert_int_eq(code, 201);
	const cJSON *conds = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "status"), "conditions");
	ck_assert_int_eq(cJSON_GetArraySize(conds), 2);
	ck_assert_str_eq(str(cJSON_GetArrayItem(conds, 1), "type"), "Established");
	ck_assert_str_eq(str(cJSON_GetArrayItem(conds, 1), "status"), "True");
	cJSON_Delete(j);
	j = req("GET", "/apis/example.com/v1", NULL, &code);
	ck_assert_int_eq(code, 200);
	cJSON_Delete(j);

	struct resp r;
	j = request("POST", "/apis/example.com/v1/namespaces/default/foos", "application/json",
		"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Foo\",\"metadata\":{\"name\":\"f\"},\"spec\":{\"size\":1,\"junk\":2},\"status\":{\"x\":1}}",
		TOKEN, &code, &r);
	ck_assert_int_eq(code, 201);
	ck_assert_ptr_nonnull(strstr(r.warning, "unknown field"));
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "junk"));
	ck_assert_ptr_null(cJSON_GetObjectItem(j, "status"));
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "generation")->valueint, 1);
	free(r.body);
	cJSON_Delete(j);
	/* PUT without resourceVersion on a CR: 422 */
	j = req("PUT", "/apis/example.com/v1/namespaces/default/foos/f",
		"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Foo\",\"metadata\":{\"name\":\"f\"},\"spec\":{\"size\":2}}",
		&code);
	ck_assert_int_eq(code, 422);
	ck_assert_str_eq(str(j, "message"),
		"Foo.example.com \"f\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update");
	cJSON_Delete(j);
	/* Strict validation: 400 */
	j = req("POST", "/apis/example.com/v1/namespaces/default/foos?fieldValidation=Strict",
		"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Foo\",\"metadata\":{\"name\":\"g\"},\"spec\":{\"junk\":2}}",
		&code);
	ck_assert_int_eq(code, 400);
	cJSON_Delete(j);
	/* schema types: 422 with a cause, on create and on patch */
	j = req("POST", "/apis/example.com/v1/namespaces/default/foos",
		"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Foo\",\"metadata\":{\"name\":\"bad\"},\"spec\":{\"size\":\"big\"}}",
		&code);
	ck_assert_int_eq(code, 422);
	ck_assert_str_eq(str(j, "message"),
		"Foo.example.com \"bad\" is invalid: spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"");
	ck_assert_str_eq(str(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "details"),
		"causes"), 0), "field"), "spec.size");
	cJSON_Delete(j);
	j = request("PATCH", "/apis/example.com/v1/namespaces/default/foos/f",
		"application/merge-patch+json", "{\"spec\":{\"size\":\"big\"}}", TOKEN, &code, NULL);
	ck_assert_int_eq(code, 422);
	cJSON_Delete(j);
	j = req("GET", "/apis/example.com/v1/namespaces/default/foos/f", NULL, &code);
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "size")->valueint, 1);
	cJSON_Delete(j);
	/* SMP on a CR: 415 */
	j = request("PATCH", "/apis/example.com/v1/namespaces/default/foos/f",
		"application/strategic-merge-patch+json", "{\"spec\":{\"size\":3}}", TOKEN, &code, NULL);
	ck_assert_int_eq(code, 415);
	cJSON_Delete(j);
	/* CRD deletion removes the CRs and the type */
	cJSON_Delete(req("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/foos.example.com",
		NULL, &code));
	ck_assert_int_eq(code, 200);
	for (int i = 0; i < 300; i++) {
		cJSON_Delete(req("GET", "/apis/example.com/v1/namespaces/default/foos/f", NULL, &code));
		if (code == 404)
			break;
		usleep(50000);
	}
	ck_assert_int_eq(code, 404);
}
END_TEST

START_TEST(test_protobuf_create)
{
	/* What `kubectl create namespace pns` sends: the k8s envelope with
	 * TypeMeta{v1, Namespace} and raw Namespace{metadata{name: pns}}. */
	static const char body[] = "k8s\0"
		"\x0a\x0f" "\x0a\x02v1" "\x12\x09Namespace"
		"\x12\x07" "\x0a\x05\x0a\x03pns";
	long code;
	body_len_override = (long)sizeof(body) - 1;
	cJSON *j = request("POST", "/api/v1/namespaces", "application/vnd.kubernetes.protobuf",
		body, TOKEN, &code, NULL);
	body_len_override = -1;
	ck_assert_int_eq(code, 201);
	ck_assert_str_eq(ks_meta_string(j, "name"), "pns");
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "generateName"));
	cJSON_Delete(j);
	/* a kind the decoder does not know: 415 naming it */
	static const char dep[] = "k8s\0"
		"\x0a\x15" "\x0a\x07" "apps/v1" "\x12\x0a" "Deployment"
		"\x12\x07" "\x0a\x05\x0a\x03" "dep";
	body_len_override = (long)sizeof(dep) - 1;
	j = request("POST", "/apis/apps/v1/namespaces/default/deployments",
		"application/vnd.kubernetes.protobuf", dep, TOKEN, &code, NULL);
	body_len_override = -1;
	ck_assert_int_eq(code, 415);
	ck_assert_ptr_nonnull(strstr(str(j, "message"), "\"Deployment\""));
	cJSON_Delete(j);
}
END_TEST

static int echo_proxy(const struct ks_proxy_request *rq, struct ks_proxy_response *resp,
	void *payload)
{
	(void)payload;
	char buf[512];
	snprintf(buf, sizeof(buf), "%s %s %s %d %s %s", rq->method, rq->kind, rq->name, rq->port,
		rq->path, rq->query);
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "text/plain");
	resp->body = strdup(buf);
	resp->body_len = strlen(buf);
	return 0;
}

START_TEST(test_proxy)
{
	long code;
	cJSON_Delete(req("POST", "/api/v1/namespaces/default/pods",
		"{\"metadata\":{\"name\":\"broker-0\"},\"spec\":{\"containers\":[]}}", &code));
	ck_assert_int_eq(code, 201);
	cJSON *j = req("GET", "/api/v1/namespaces/default/pods/broker-0:8080/proxy/metrics", NULL,
		&code);
	ck_assert_int_eq(code, 503);
	ck_assert_str_eq(str(j, "reason"), "ServiceUnavailable");
	cJSON_Delete(j);
	ck_assert_int_eq(ks_proxy_register("default", "pods", "broker-", 8080, echo_proxy, NULL), 0);
	struct resp r;
	j = request("GET", "/api/v1/namespaces/default/pods/broker-0:8080/proxy/a/b?x=1", NULL, NULL,
		TOKEN, &code, &r);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(r.body, "GET pods broker-0 8080 /a/b x=1");
	free(r.body);
	cJSON_Delete(j);
	/* wrong port and missing pod */
	j = req("GET", "/api/v1/namespaces/default/pods/broker-0:9090/proxy/", NULL, &code);
	ck_assert_int_eq(code, 503);
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/pods/broker-9:8080/proxy/", NULL, &code);
	ck_assert_int_eq(code, 404);
	cJSON_Delete(j);
	ks_proxy_unregister(echo_proxy, NULL);
}
END_TEST

/* Echoes the request's X-Task header back as X-Task-Echo and reports in the
 * body whether the client's Authorization reached it. */
static int header_proxy(const struct ks_proxy_request *rq, struct ks_proxy_response *resp,
	void *payload)
{
	(void)payload;
	const char *task = NULL;
	bool saw_auth = false;
	for (size_t i = 0; i < rq->nheaders; i++) {
		if (!strcasecmp(rq->headers[i].name, "X-Task"))
			task = rq->headers[i].value;
		if (!strcasecmp(rq->headers[i].name, "Authorization"))
			saw_auth = true;
	}
	if (task) {
		snprintf(resp->headers[0].name, sizeof(resp->headers[0].name), "X-Task-Echo");
		snprintf(resp->headers[0].value, sizeof(resp->headers[0].value), "%s", task);
		resp->nheaders = 1;
	}
	snprintf(resp->content_type, sizeof(resp->content_type), "text/plain");
	resp->body = strdup(saw_auth ? "auth:forwarded" : "auth:none");
	resp->body_len = strlen(resp->body);
	return 0;
}

struct echo_seen {
	char task[256];
};

static size_t on_echo_header(char *data, size_t size, size_t n, void *cls)
{
	struct echo_seen *e = cls;
	size_t len = size * n;
	if (len > 12 && !strncasecmp(data, "X-Task-Echo:", 12)) {
		const char *v = data + 12;
		while (*v == ' ')
			v++;
		int vl = (int)(data + len - v);
		while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
			vl--;
		snprintf(e->task, sizeof(e->task), "%.*s", vl, v);
	}
	return len;
}

START_TEST(test_proxy_headers)
{
	long code;
	cJSON_Delete(req("POST", "/api/v1/namespaces/default/pods",
		"{\"metadata\":{\"name\":\"cc-0\"},\"spec\":{\"containers\":[]}}", &code));
	ck_assert_int_eq(code, 201);
	ck_assert_int_eq(ks_proxy_register("default", "pods", "cc-", 0, header_proxy, NULL), 0);
	CURL *c = curl_easy_init();
	char url[512];
	snprintf(url, sizeof(url), "%s/api/v1/namespaces/default/pods/cc-0:9090/proxy/state", base);
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
	h = curl_slist_append(h, "X-Task: 5f1c-task");
	struct resp r = {0};
	struct echo_seen e = {{0}};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_echo_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &e);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	ks_proxy_unregister(header_proxy, NULL);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(e.task, "5f1c-task");
	ck_assert_str_eq(r.body, "auth:none");
	free(r.body);
}
END_TEST

static void *log_later(void *arg)
{
	(void)arg;
	usleep(400000);
	ks_pod_log_append("default", "logger", "main", "third");
	usleep(400000);
	long code;
	cJSON_Delete(req("DELETE", "/api/v1/namespaces/default/pods/logger", NULL, &code));
	return NULL;
}

START_TEST(test_pod_log)
{
	long code;
	cJSON_Delete(req("POST", "/api/v1/namespaces/default/pods",
		"{\"metadata\":{\"name\":\"logger\"},\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"x:1\"}]}}",
		&code));
	ck_assert_int_eq(code, 201);
	ks_pod_log_append("default", "logger", "main", "first");
	ks_pod_log_append("default", "logger", "main", "second");
	struct resp r;
	cJSON_Delete(request("GET", "/api/v1/namespaces/default/pods/logger/log?tailLines=1", NULL,
		NULL, TOKEN, &code, &r));
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(r.body, "second\n");
	free(r.body);
	pthread_t t;
	pthread_create(&t, NULL, log_later, NULL);
	cJSON_Delete(request("GET", "/api/v1/namespaces/default/pods/logger/log?follow=true", NULL,
		NULL, TOKEN, &code, &r));
	pthread_join(t, NULL);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(r.body, "first\nsecond\nthird\n");
	free(r.body);
}
END_TEST

START_TEST(test_admin)
{
	long code;
	/* counters are process-wide: start clean (CK_FORK=no runs share them) */
	cJSON_Delete(req("POST", "/_sim/reset", NULL, &code));
	cJSON *j = req("POST", "/_sim/faults", "{\"throttleRate\":1,\"retryAfterSeconds\":2}", &code);
	ck_assert_int_eq(code, 200);
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/configmaps", NULL, &code);
	ck_assert_int_eq(code, 429);
	ck_assert_str_eq(str(j, "reason"), "TooManyRequests");
	cJSON_Delete(j);
	j = req("POST", "/_sim/faults", "{\"errorRate\":{\"list\":1}}", &code);
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/configmaps", NULL, &code);
	ck_assert_int_eq(code, 500);
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/configmaps/x", NULL, &code);
	ck_assert_int_eq(code, 404); /* "get" is not faulted */
	cJSON_Delete(j);
	j = req("POST", "/_sim/faults", "{\"bogus\":1}", &code);
	ck_assert_int_eq(code, 400);
	cJSON_Delete(j);
	cJSON_Delete(req("POST", "/_sim/faults", "{}", &code));
	j = req("GET", "/api/v1/namespaces/default/configmaps", NULL, &code);
	ck_assert_int_eq(code, 200);
	cJSON_Delete(j);

	j = req("GET", "/_sim/counters", NULL, &code);
	ck_assert_int_eq(code, 200);
	const cJSON *byres = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "byResource"), "configmaps");
	ck_assert_int_eq(cJSON_GetObjectItem(byres, "list")->valueint, 3);
	ck_assert_int_eq(cJSON_GetObjectItem(byres, "get")->valueint, 1);
	cJSON_Delete(j);

	j = req("POST", "/_sim/clock", "{\"factor\":100}", &code);
	ck_assert_int_eq(code, 200);
	ck_assert_int_eq(cJSON_GetObjectItem(j, "factor")->valueint, 100);
	cJSON_Delete(j);
	ks_violation_record("test", "pod/x", "broke rule %d", 7);
	j = req("GET", "/_sim/violations", NULL, &code);
	const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "violations"), 0);
	ck_assert_str_eq(str(v, "message"), "broke rule 7");
	ck_assert_str_eq(str(v, "object"), "pod/x");
	cJSON_Delete(j);
	cJSON_Delete(req("POST", "/_sim/reset", NULL, &code));
	ck_assert_int_eq(code, 200);
	ck_assert(ks_clock_factor() == 1.0);
	ck_assert_int_eq((int)ks_violations_count(), 0);
}
END_TEST

static long fault_counter(const char *kind)
{
	long code;
	cJSON *j = req("GET", "/_sim/counters", NULL, &code);
	ck_assert_int_eq(code, 200);
	const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "faults"), kind);
	ck_assert_msg(cJSON_IsNumber(n), "counters.faults.%s missing", kind);
	long v = (long)n->valuedouble;
	cJSON_Delete(j);
	return v;
}

/* conflictRate answers 409 only where the real API server can: writes
 * that carry a precondition, on an existing object. */
START_TEST(test_conflict_faults)
{
	long code;
	cJSON_Delete(req("POST", "/_sim/reset", NULL, &code));
	cJSON *j = req("POST", "/api/v1/namespaces/default/configmaps",
		"{\"metadata\":{\"name\":\"c\"},\"data\":{\"k\":\"v\"}}", &code);
	ck_assert_int_eq(code, 201);
	char rv[32];
	snprintf(rv, sizeof(rv), "%s", ks_meta_string(j, "resourceVersion"));
	cJSON_Delete(j);

	j = req("POST", "/_sim/faults", "{\"conflictRate\":{\"*\":2}}", &code);
	ck_assert_int_eq(code, 400);
	cJSON_Delete(j);
	j = req("POST", "/_sim/faults", "{\"conflictRate\":{\"*\":1}}", &code);
	ck_assert_int_eq(code, 200);
	cJSON_Delete(j);

	/* Unconditional writes: the real server retries internally. */
	j = req("PUT", "/api/v1/namespaces/default/configmaps/c",
		"{\"metadata\":{\"name\":\"c\"},\"data\":{\"k\":\"w\"}}", &code);
	ck_assert_int_eq(code, 200);
	snprintf(rv, sizeof(rv), "%s", ks_meta_string(j, "resourceVersion"));
	cJSON_Delete(j);
	j = request("PATCH", "/api/v1/namespaces/default/configmaps/c", "application/merge-patch+json",
		"{\"data\":{\"k\":\"x\"}}", TOKEN, &code, NULL);
	ck_assert_int_eq(code, 200);
	snprintf(rv, sizeof(rv), "%s", ks_meta_string(j, "resourceVersion"));
	cJSON_Delete(j);
	j = request("PATCH", "/api/v1/namespaces/default/configmaps/c?fieldManager=t&force=true",
		"application/apply-patch+yaml", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"data\":{\"k\":\"y\"}}",
		TOKEN, &code, NULL);
	ck_assert_int_eq(code, 200);
	snprintf(rv, sizeof(rv), "%s", ks_meta_string(j, "resourceVersion"));
	cJSON_Delete(j);
	ck_assert_int_eq(fault_counter("conflict"), 0);

	/* An update with the current resourceVersion: the stale-RV answer. */
	char body[512];
	snprintf(body, sizeof(body),
		"{\"metadata\":{\"name\":\"c\",\"resourceVersion\":\"%s\"},\"data\":{\"k\":\"z\"}}", rv);
	j = req("PUT", "/api/v1/namespaces/default/configmaps/c", body, &code);
	ck_assert_int_eq(code, 409);
	ck_assert_str_eq(str(j, "kind"), "Status");
	ck_assert_str_eq(str(j, "status"), "Failure");
	ck_assert_str_eq(str(j, "reason"), "Conflict");
	ck_assert_int_eq(cJSON_GetObjectItem(j, "code")->valueint, 409);
	ck_assert_str_eq(str(j, "message"),
		"Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again");
	const cJSON *d = cJSON_GetObjectItem(j, "details");
	ck_assert_str_eq(str(d, "name"), "c");
	ck_assert_str_eq(str(d, "kind"), "configmaps");
	cJSON_Delete(j);
	/* Same on a missing object: 404 first, as on the real server. */
	j = req("PUT", "/api/v1/namespaces/default/configmaps/gone",
		"{\"metadata\":{\"name\":\"gone\",\"resourceVersion\":\"1\"}}", &code);
	ck_assert_int_eq(code, 404);
	cJSON_Delete(j);

	/* A merge patch carrying a resourceVersion, and a JSON patch testing it. */
	snprintf(body, sizeof(body), "{\"metadata\":{\"resourceVersion\":\"%s\"},\"data\":{\"k\":\"z\"}}", rv);
	j = request("PATCH", "/api/v1/namespaces/default/configmaps/c", "application/merge-patch+json",
		body, TOKEN, &code, NULL);
	ck_assert_int_eq(code, 409);
	ck_assert_str_eq(str(j, "reason"), "Conflict");
	cJSON_Delete(j);
	snprintf(body, sizeof(body), "[{\"op\":\"test\",\"path\":\"/metadata/resourceVersion\",\"value\":\"%s\"}]", rv);
	j = request("PATCH", "/api/v1/namespaces/default/configmaps/c", "application/json-patch+json",
		body, TOKEN, &code, NULL);
	ck_assert_int_eq(code, 409);
	cJSON_Delete(j);

	/* An unforced server-side apply: the field-manager conflict (S3). */
	j = request("PATCH", "/api/v1/namespaces/default/configmaps/c?fieldManager=t",
		"application/apply-patch+yaml",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: z\n", TOKEN, &code, NULL);
	ck_assert_int_eq(code, 409);
	ck_assert_str_eq(str(j, "reason"), "Conflict");
	ck_assert_str_eq(str(j, "message"),
		"Apply failed with 1 conflict: conflict with \"" KS_INJECTED_CONFLICT_MANAGER "\" using v1: .data.k");
	d = cJSON_GetObjectItem(j, "details");
	ck_assert_ptr_null(cJSON_GetObjectItem(d, "name"));
	const cJSON *cause = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "causes"), 0);
	ck_assert_str_eq(str(cause, "reason"), "FieldManagerConflict");
	ck_assert_str_eq(str(cause, "message"), "conflict with \"" KS_INJECTED_CONFLICT_MANAGER "\" using v1");
	ck_assert_str_eq(str(cause, "field"), ".data.k");
	cJSON_Delete(j);
	/* An apply that creates the object cannot conflict. */
	j = request("PATCH", "/api/v1/namespaces/default/configmaps/new?fieldManager=t",
		"application/apply-patch+yaml", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"new\"},\"data\":{\"a\":\"b\"}}",
		TOKEN, &code, NULL);
	ck_assert_int_eq(code, 201);
	cJSON_Delete(j);

	/* A delete with only a UID precondition (the right one) is never a
	 * candidate; one with a resourceVersion precondition is, and the
	 * object stays. */
	j = req("GET", "/api/v1/namespaces/default/configmaps/new", NULL, &code);
	snprintf(body, sizeof(body), "{\"preconditions\":{\"uid\":\"%s\"}}", ks_meta_string(j, "uid"));
	cJSON_Delete(j);
	j = req("DELETE", "/api/v1/namespaces/default/configmaps/new", body, &code);
	ck_assert_int_eq(code, 200);
	cJSON_Delete(j);
	snprintf(body, sizeof(body), "{\"preconditions\":{\"resourceVersion\":\"%s\"}}", rv);
	j = req("DELETE", "/api/v1/namespaces/default/configmaps/c", body, &code);
	ck_assert_int_eq(code, 409);
	ck_assert_str_eq(str(j, "reason"), "Conflict");
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/configmaps/c", NULL, &code);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(ks_meta_string(j, "resourceVersion"), rv); /* nothing was written */
	ck_assert_str_eq(str(cJSON_GetObjectItem(j, "data"), "k"), "y");
	cJSON_Delete(j);
	ck_assert_int_eq(fault_counter("conflict"), 5);
	j = req("GET", "/_sim/counters", NULL, &code);
	const cJSON *by = cJSON_GetObjectItem(j, "faultsByRequest");
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(by, "update configmaps"), "conflict")->valueint, 1);
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(by, "patch configmaps"), "conflict")->valueint, 3);
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(by, "delete configmaps"), "conflict")->valueint, 1);
	cJSON_Delete(j);

	/* Per verb: only deletes conflict now. */
	cJSON_Delete(req("POST", "/_sim/faults", "{\"conflictRate\":{\"delete\":1}}", &code));
	snprintf(body, sizeof(body),
		"{\"metadata\":{\"name\":\"c\",\"resourceVersion\":\"%s\"},\"data\":{\"k\":\"q\"}}", rv);
	j = req("PUT", "/api/v1/namespaces/default/configmaps/c", body, &code);
	ck_assert_int_eq(code, 200);
	snprintf(rv, sizeof(rv), "%s", ks_meta_string(j, "resourceVersion"));
	cJSON_Delete(j);
	snprintf(body, sizeof(body), "{\"preconditions\":{\"resourceVersion\":\"%s\"}}", rv);
	j = req("DELETE", "/api/v1/namespaces/default/configmaps/c", body, &code);
	ck_assert_int_eq(code, 409);
	cJSON_Delete(j);

	/* Cleared: the same delete goes through. */
	cJSON_Delete(req("POST", "/_sim/faults", "{}", &code));
	j = req("DELETE", "/api/v1/namespaces/default/configmaps/c", body, &code);
	ck_assert_int_eq(code, 200);
	cJSON_Delete(j);
	ck_assert_int_eq(fault_counter("conflict"), 6);
	/* The 6 conflicts; the others (unconditional, missing objects,
	 * creating applies) were never candidates. */
	ck_assert_int_eq(fault_counter("conflictEligible"), 6);
}
END_TEST

/* The other injected faults are counted by type too. */
START_TEST(test_fault_counters)
{
	long code;
	cJSON_Delete(req("POST", "/_sim/reset", NULL, &code));
	ck_assert_int_eq(fault_counter("error"), 0);
	ck_assert_int_eq(fault_counter("throttle"), 0);
	ck_assert_int_eq(fault_counter("droppedWatch"), 0);
	cJSON_Delete(req("POST", "/_sim/faults", "{\"errorRate\":{\"list\":1}}", &code));
	cJSON_Delete(req("GET", "/api/v1/namespaces/default/configmaps", NULL, &code));
	ck_assert_int_eq(code, 500);
	cJSON_Delete(req("GET", "/api/v1/namespaces/default/configmaps", NULL, &code));
	cJSON_Delete(req("POST", "/_sim/faults", "{\"throttleRate\":1}", &code));
	cJSON_Delete(req("GET", "/api/v1/namespaces/default/configmaps", NULL, &code));
	ck_assert_int_eq(code, 429);
	cJSON_Delete(req("POST", "/_sim/faults", "{}", &code));
	ck_assert_int_eq(fault_counter("error"), 2);
	ck_assert_int_eq(fault_counter("throttle"), 1);
	ck_assert_int_eq(fault_counter("conflict"), 0);
	cJSON_Delete(req("POST", "/_sim/reset", NULL, &code));
	ck_assert_int_eq(fault_counter("error"), 0);
}
END_TEST

static const char *data_at(const cJSON *obj, const char *key)
{
	return str(cJSON_GetObjectItem(obj, "data"), key);
}

/* stringData is merged into data (base64) and never stored. */
START_TEST(test_secret_string_data)
{
	long code;
	cJSON *j = req("POST", "/api/v1/namespaces/default/secrets",
		"{\"metadata\":{\"name\":\"s\"},\"data\":{\"keep\":\"eA==\",\"over\":\"eA==\"},"
		"\"stringData\":{\"over\":\"hello\",\"new\":\"ab\"}}", &code);
	ck_assert_int_eq(code, 201);
	ck_assert_ptr_null(cJSON_GetObjectItem(j, "stringData"));
	cJSON_Delete(j);
	j = req("GET", "/api/v1/namespaces/default/secrets/s", NULL, &code);
	ck_assert_int_eq(code, 200);
	ck_assert_ptr_null(cJSON_GetObjectItem(j, "stringData"));
	ck_assert_str_eq(data_at(j, "keep"), "eA==");
	ck_assert_str_eq(data_at(j, "over"), "aGVsbG8=");
	ck_assert_str_eq(data_at(j, "new"), "YWI=");
	cJSON_Delete(j);

	j = req("PUT", "/api/v1/namespaces/default/secrets/s",
		"{\"metadata\":{\"name\":\"s\"},\"stringData\":{\"only\":\"abc\"}}", &code);
	ck_assert_int_eq(code, 200);
	ck_assert_ptr_null(cJSON_GetObjectItem(j, "stringData"));
	ck_assert_str_eq(data_at(j, "only"), "YWJj");
	ck_assert_ptr_null(data_at(j, "keep")); /* PUT replaces data */
	cJSON_Delete(j);

	j = request("PATCH", "/api/v1/namespaces/default/secrets/s", "application/merge-patch+json",
		"{\"stringData\":{\"p\":\"\"}}", TOKEN, &code, NULL);
	ck_assert_int_eq(code, 200);
	ck_assert_ptr_null(cJSON_GetObjectItem(j, "stringData"));
	ck_assert_str_eq(data_at(j, "p"), "");
	ck_assert_str_eq(data_at(j, "only"), "YWJj");
	cJSON_Delete(j);

	/* Server-side apply twice: the second is a no-op (no new RV), also
	 * when the clock moved on between them (managedFields times). */
	cJSON_Delete(req("POST", "/_sim/clock", "{\"factor\":1000}", &code));
	ck_assert_int_eq(code, 200);
	const char *apply = "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\"},"
			    "\"stringData\":{\"user\":\"admin\"}}";
	j = request("PATCH", "/api/v1/namespaces/default/secrets/a?fieldManager=t",
		"application/apply-patch+yaml", apply, TOKEN, &code, NULL);
	ck_assert_int_eq(code, 201);
	ck_assert_ptr_null(cJSON_GetObjectItem(j, "stringData"));
	ck_assert_str_eq(data_at(j, "user"), "YWRtaW4=");
	char rv[32];
	snprintf(rv, sizeof(rv), "%s", ks_meta_string(j, "resourceVersion"));
	cJSON_Delete(j);
	j = request("PATCH", "/api/v1/namespaces/default/secrets/a?fieldManager=t",
		"application/apply-patch+yaml", apply, TOKEN, &code, NULL);
	ck_assert_int_eq(code, 200);
	ck_assert_ptr_null(cJSON_GetObjectItem(j, "stringData"));
	ck_assert_str_eq(data_at(j, "user"), "YWRtaW4=");
	ck_assert_str_eq(ks_meta_string(j, "resourceVersion"), rv);
	cJSON_Delete(j);
	cJSON_Delete(req("POST", "/_sim/clock", "{\"factor\":1}", &code));
}
END_TEST

static int set_running(cJSON *pod, void *payload)
{
	(void)payload;
	cJSON *st = cJSON_GetObjectItem(pod, "status");
	cJSON_ReplaceItemInObject(st, "phase", cJSON_CreateString("Running"));
	return 0;
}

/* Read one server frame: returns opcode, payload in buf (len in *n). */
static int read_frame(int fd, unsigned char *buf, size_t cap, size_t *n)
{
	unsigned char h[2];
	if (recv(fd, h, 2, MSG_WAITALL) != 2)
		return -1;
	size_t len = h[1] & 0x7f;
	if (len == 126) {
		unsigned char e[2];
		if (recv(fd, e, 2, MSG_WAITALL) != 2)
			return -1;
		len = ((size_t)e[0] << 8) | e[1];
	}
	if (len > cap || (len && recv(fd, buf, len, MSG_WAITALL) != (ssize_t)len))
		return -1;
	*n = len;
	return h[0] & 0x0f;
}

START_TEST(test_exec_websocket)
{
	long code;
	cJSON_Delete(req("POST", "/api/v1/namespaces/default/pods",
		"{\"metadata\":{\"name\":\"sh\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x:1\"}]}}",
		&code));
	ck_assert_int_eq(code, 201);
	struct ks_write_options so = {.version = KS_WRITE_OPTIONS_VERSION, .subresource = "status"};
	ck_assert_int_eq(ks_store_modify(store, ks_store_type_find(store, "", "pods"), "default", "sh",
		set_running, NULL, &so, NULL), 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ks_server_port(server))};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	const char *hs =
		"GET /api/v1/namespaces/default/pods/sh/exec?command=echo&command=hi&stdout=true HTTP/1.1\r\n"
		"Host: 127.0.0.1\r\nAuthorization: Bearer " TOKEN "\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v4.channel.k8s.io, v5.channel.k8s.io\r\n\r\n";
	ck_assert_int_eq(send(fd, hs, strlen(hs), 0), (ssize_t)strlen(hs));
	char head[2048];
	size_t hl = 0;
	while (hl < sizeof(head) - 1 && !(hl >= 4 && !memcmp(head + hl - 4, "\r\n\r\n", 4))) {
		ck_assert_int_eq(recv(fd, head + hl, 1, 0), 1);
		hl++;
	}
	head[hl] = 0;
	ck_assert_msg(strstr(head, " 101 ") != NULL, "handshake: %s", head);
	/* RFC 6455's example key and accept value */
	ck_assert_ptr_nonnull(strstr(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	ck_assert_ptr_nonnull(strstr(head, "v5.channel.k8s.io"));
	unsigned char buf[1024];
	size_t n;
	ck_assert_int_eq(read_frame(fd, buf, sizeof(buf), &n), 2);
	ck_assert_int_eq(buf[0], 1);
	ck_assert_int_eq(n, 4);
	ck_assert(memcmp(buf + 1, "hi\n", 3) == 0);
	ck_assert_int_eq(read_frame(fd, buf, sizeof(buf) - 1, &n), 2);
	ck_assert_int_eq(buf[0], 3);
	buf[n] = 0;
	ck_assert_ptr_nonnull(strstr((char *)buf + 1, "\"status\":\"Success\""));
	ck_assert_int_eq(read_frame(fd, buf, sizeof(buf), &n), 8);
	close(fd);
}
END_TEST

static cJSON *get_table(const char *path, long *code)
{
	CURL *c = curl_easy_init();
	char url[512];
	snprintf(url, sizeof(url), "%s%s", base, path);
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " TOKEN);
	h = curl_slist_append(h,
		"Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json");
	struct resp r = {0};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	cJSON *j = cJSON_Parse(r.body);
	free(r.body);
	return j;
}

START_TEST(test_table)
{
	long code;
	cJSON_Delete(req("POST", "/api/v1/namespaces/default/configmaps",
		"{\"metadata\":{\"name\":\"t\"},\"data\":{\"a\":\"1\",\"b\":\"2\"}}", &code));
	cJSON *j = get_table("/api/v1/namespaces/default/configmaps", &code);
	ck_assert_int_eq(code, 200);
	ck_assert_str_eq(str(j, "kind"), "Table");
	const cJSON *cols = cJSON_GetObjectItem(j, "columnDefinitions");
	ck_assert_int_eq(cJSON_GetArraySize(cols), 3);
	ck_assert_str_eq(str(cJSON_GetArrayItem(cols, 1), "name"), "Data");
	const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0);
	const cJSON *cells = cJSON_GetObjectItem(row, "cells");
	ck_assert_str_eq(cJSON_GetArrayItem(cells, 0)->valuestring, "t");
	ck_assert_int_eq(cJSON_GetArrayItem(cells, 1)->valueint, 2);
	ck_assert_str_eq(str(cJSON_GetObjectItem(row, "object"), "kind"), "PartialObjectMetadata");
	cJSON_Delete(j);

	const char *crd =
		"{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
		"\"metadata\":{\"name\":\"bars.example.com\"},\"spec\":{\"group\":\"example.com\","
		"\"scope\":\"Namespaced\",\"names\":{\"plural\":\"bars\",\"kind\":\"Bar\"},"
		"\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
		"\"additionalPrinterColumns\":[{\"name\":\"Phase\",\"type\":\"string\",\"jsonPath\":\".status.conditions[?(@.type==\\\"Ready\\\")].status\"}],"
		"\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}}}]}}";
	cJSON_Delete(req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd, &code));
	ck_assert_int_eq(code, 201);
	cJSON_Delete(req("POST", "/apis/example.com/v1/namespaces/default/bars",
		"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Bar\",\"metadata\":{\"name\":\"b\"},"
		"\"status\":{\"conditions\":[{\"type\":\"Other\",\"status\":\"False\"},{\"type\":\"Ready\",\"status\":\"True\"}]}}",
		&code));
	ck_assert_int_eq(code, 201);
	j = get_table("/apis/example.com/v1/namespaces/default/bars/b", &code);
	ck_assert_int_eq(code, 200);
	cols = cJSON_GetObjectItem(j, "columnDefinitions");
	ck_assert_int_eq(cJSON_GetArraySize(cols), 2);
	ck_assert_str_eq(str(cJSON_GetArrayItem(cols, 1), "name"), "Phase");
	cells = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0), "cells");
	ck_assert_str_eq(cJSON_GetArrayItem(cells, 1)->valuestring, "True");
	cJSON_Delete(j);
}
END_TEST

Suite *suite_server(void);
Suite *suite_server(void)
{
	Suite *s = suite_create("kubesim_server");
	struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"auth", test_auth},
		{"client_cert", test_client_cert},
		{"crud", test_crud_and_errors},
		{"list", test_list_selectors_paging},
		{"watch", test_watch},
		{"namespaces_pods", test_namespaces_and_pods},
		{"crd", test_crd},
		{"protobuf", test_protobuf_create},
		{"proxy", test_proxy},
		{"proxy_headers", test_proxy_headers},
		{"pod_log", test_pod_log},
		{"admin", test_admin},
		{"conflict_faults", test_conflict_faults},
		{"fault_counters", test_fault_counters},
		{"secret_string_data", test_secret_string_data},
		{"exec", test_exec_websocket},
		{"table", test_table},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 30);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

KEELSON_CHECK_MAIN(suite_server)
