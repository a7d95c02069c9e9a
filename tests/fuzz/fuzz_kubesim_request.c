/*
 * kubesim's request handling (tests/kubesim/server.c): routing, query
 * parameters (selectors, dry run, field manager, pagination), bodies
 * (JSON, YAML-less JSON patches, apply configurations, protobuf) and
 * responses, through a real in-process server on 127.0.0.1. Input:
 *
 *   METHOD PATH[?QUERY]
 *   CONTENT-TYPE
 *   BODY...
 *
 * The admin API (/_sim/) and watches are left out: one resets or reconfigures
 * the simulator (faults, clock), the other streams until a timeout. Checked:
 * kubesim answers every request, never with 500 (a malformed request is
 * the client's fault, as the apiserver says with a 4xx; the one 500 the
 * apiserver gives for a bad apply body is allowed), and every JSON answer
 * is valid JSON.
 *
 * Objects created by earlier inputs stay in the store, so a crash may need
 * the inputs before it; libFuzzer's crash file plus -runs on the corpus
 * reproduce it.
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "core/error.h"
#include "tests/kubesim/server.h"
#include "tests/kubesim/store.h"

#include <ctype.h>
#include <curl/curl.h>
#include <string.h>

static struct ks_store *store;
static struct ks_server *server;
static struct ks_controller *crd_controller;
static CURL *curl;
static char base[64];

struct response {
	char *data;
	size_t len;
	char content_type[128];
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct response *r = userdata;
	size_t n = size * nmemb;
	char *bigger = realloc(r->data, r->len + n + 1);
	if (bigger == NULL)
		return 0;
	r->data = bigger;
	memcpy(r->data + r->len, ptr, n);
	r->len += n;
	r->data[r->len] = '\0';
	return n;
}

static void stop(void)
{
	curl_easy_cleanup(curl);
	ks_server_stop(server);
	ks_controller_stop(crd_controller);
	ks_store_free(store);
	curl_global_cleanup();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct ks_server_config cfg = {.version = KS_SERVER_CONFIG_VERSION, .listen_address = "127.0.0.1",
				       .port = 0, .insecure_http = true, .token = NULL, .log_level = 0};
	if (ks_store_new(&store) != 0 || ks_crd_controller_start(store, &crd_controller) != 0 ||
	    ks_server_start(store, &cfg, &server) != 0) {
		fprintf(stderr, "fuzz_kubesim_request: cannot start kubesim: %s\n", keelson_error_last()->message);
		abort();
	}
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", ks_server_port(server));
	curl = curl_easy_init();
	atexit(stop);
	return 0;
}

/* The URL as the server will route it (percent-decoded, lower case). */
static int excluded(const char *url)
{
	char decoded[8192];
	size_t n = 0;
	for (const char *p = url; *p && n + 1 < sizeof(decoded); p++) {
		if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
			char hex[3] = {p[1], p[2], 0};
			decoded[n++] = (char)tolower((int)strtol(hex, NULL, 16));
			p += 2;
		} else {
			decoded[n++] = (char)tolower((unsigned char)*p);
		}
	}
	decoded[n] = '\0';
	return strstr(decoded, "_sim") != NULL || strstr(decoded, "watch") != NULL ||
	       strstr(decoded, "follow") != NULL || strstr(decoded, "proxy") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *line1, *rest, *line2, *body;
	size_t line1_len, rest_len, line2_len, body_len;
	fuzz_split(data, size, "\n", &line1, &line1_len, &rest, &rest_len);
	fuzz_split(rest, rest_len, "\n", &line2, &line2_len, &body, &body_len);
	char *request_line = fuzz_strndup(line1, line1_len);
	char *content_type = fuzz_strndup(line2, line2_len);
	char *path = strchr(request_line, ' ');
	if (path == NULL || path[1] != '/' || strlen(request_line) > 4000)
		goto out;
	*path++ = '\0';
	const char *method = request_line;
	/* Methods curl can send as they are; anything else is not routed. */
	if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "PUT") &&
	    strcmp(method, "PATCH") && strcmp(method, "DELETE") && strcmp(method, "HEAD"))
		goto out;
	for (char *p = path; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '#' || (unsigned char)*p >= 0x7f)
			goto out; /* not sendable on a request line */
	if (excluded(path))
		goto out;
	char url[8192];
	snprintf(url, sizeof(url), "%s%s", base, path);

	curl_easy_reset(curl);
	struct response r = {0};
	struct curl_slist *headers = NULL;
	char header[300];
	if (strlen(content_type) < 200 && strpbrk(content_type, "\r") == NULL) {
		snprintf(header, sizeof(header), "Content-Type: %s", content_type);
		headers = curl_slist_append(headers, header);
	}
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
	CURLcode cc = curl_easy_perform(curl);
	long code = 0;
	char *ct = NULL;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
	if (cc != CURLE_OK)
		fprintf(stderr, "kubesim did not answer %s %s: %s\n", method, path, curl_easy_strerror(cc));
	fuzz_assert(cc == CURLE_OK);
	/* The apiserver itself answers 500 when server-side apply cannot
	 * build a typed object from the body; kubesim copies that. */
	if (code == 500 && r.data != NULL && strstr(r.data, "failed to create typed patch object") != NULL)
		code = 422;
	if (code == 500)
		fprintf(stderr, "500 for %s %s: %.*s\n", method, path, (int)(r.len > 500 ? 500 : r.len),
			r.data ? r.data : "");
	fuzz_assert(code >= 200 && code < 600 && code != 500);
	if (ct != NULL && strncmp(ct, "application/json", 16) == 0 && r.len > 0) {
		cJSON *json = cJSON_ParseWithLength(r.data, r.len);
		fuzz_assert(json != NULL);
		cJSON_Delete(json);
	}
	free(r.data);
	curl_slist_free_all(headers);
out:
	free(request_line);
	free(content_type);
	return 0;
}
