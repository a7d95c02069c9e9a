/*
 * kubesim GET throughput: fills an in-process kubesim store with N
 * ConfigMaps (default 100000) spread over 10 namespaces, serves it over
 * loopback and issues single-object GETs on one keep-alive connection for
 * a few seconds. Prints objects, requests, seconds and GETs per second.
 *
 *   bench/kubesim-get [--objects N] [--seconds S] [--tls]
 *
 * Never a timed test: run it by hand (target: >= 2000 GETs/s).
 */
#include "config.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "tests/kubesim/server.h"
#include "tests/kubesim/store.h"
#include "tests/kubesim/tls.h"

static size_t sink(char *d, size_t s, size_t n, void *u)
{
	(void)d;
	(void)u;
	return s * n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long objects = 100000;
	double seconds = 5;
	int tls = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--objects") && i + 1 < argc)
			objects = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--tls"))
			tls = 1;
		else {
			fprintf(stderr, "usage: kubesim-get [--objects N] [--seconds S] [--tls]\n");
			return 2;
		}
	}
	struct ks_store *store;
	if (ks_store_new(&store)) {
		fprintf(stderr, "kubesim-get: %s\n", keelson_error_last()->message);
		return 1;
	}
	const struct ks_resource_type *ns_t = ks_store_type_find(store, "", "namespaces");
	const struct ks_resource_type *cm_t = ks_store_type_find(store, "", "configmaps");
	for (int n = 0; n < 10; n++) {
		char body[128];
		snprintf(body, sizeof(body), "{\"metadata\":{\"name\":\"bench-%d\"}}", n);
		cJSON *o = cJSON_Parse(body);
		ks_store_create(store, ns_t, NULL, o, NULL, NULL);
		cJSON_Delete(o);
	}
	double t0 = now_s();
	for (long i = 0; i < objects; i++) {
		char body[256], ns[32];
		snprintf(ns, sizeof(ns), "bench-%ld", i % 10);
		snprintf(body, sizeof(body),
			"{\"metadata\":{\"name\":\"cm-%ld\",\"labels\":{\"app\":\"bench\"}},\"data\":{\"key\":\"value-%ld\"}}",
			i, i);
		cJSON *o = cJSON_Parse(body);
		if (ks_store_create(store, cm_t, ns, o, NULL, NULL)) {
			fprintf(stderr, "kubesim-get: create: %s\n", keelson_error_last()->message);
			return 1;
		}
		cJSON_Delete(o);
	}
	double fill = now_s() - t0;
	struct ks_tls_material mat = {0};
	if (tls && ks_tls_generate(&mat)) {
		fprintf(stderr, "kubesim-get: %s\n", keelson_error_last()->message);
		return 1;
	}
	struct ks_server_config cfg = {.version = KS_SERVER_CONFIG_VERSION,
		.listen_address = "127.0.0.1", .insecure_http = !tls, .tls = &mat, .token = "bench"};
	struct ks_server *srv;
	if (ks_server_start(store, &cfg, &srv)) {
		fprintf(stderr, "kubesim-get: %s\n", keelson_error_last()->message);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer bench");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	long count = 0, errors = 0;
	unsigned seed = 42;
	t0 = now_s();
	double end = t0 + seconds;
	while (now_s() < end) {
		for (int k = 0; k < 100; k++) {
			long i = rand_r(&seed) % (objects ? objects : 1);
			char url[256];
			snprintf(url, sizeof(url),
				"%s://127.0.0.1:%d/api/v1/namespaces/bench-%ld/configmaps/cm-%ld",
				tls ? "https" : "http", ks_server_port(srv), i % 10, i);
			curl_easy_setopt(c, CURLOPT_URL, url);
			long code = 0;
			if (curl_easy_perform(c) != CURLE_OK ||
			    (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code), code != 200))
				errors++;
			count++;
		}
	}
	double took = now_s() - t0;
	printf("objects %ld (filled in %.1f s), GETs %ld, errors %ld, %.1f s, %.0f GETs/s (%s, one connection)\n",
		objects, fill, count, errors, took, (double)count / took, tls ? "https" : "http");
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	ks_server_stop(srv);
	ks_store_free(store);
	ks_tls_material_clear(&mat);
	return errors ? 1 : 0;
}
