/*
 * Alert state and delivery (libcurl + cJSON).
 */
#include "config.h"

#include "alerts/alerts.h"
#include "core/error.h"
#include "core/log.h"
#include "http/hmac.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { RECV_ALERTMANAGER = 0, RECV_WEBHOOK = 1, RECV_COUNT = 2 };
static const char *const receiver_names[RECV_COUNT] = {"alertmanager", "webhook"};

/* Key fields, in label order. */
enum { K_ALERTNAME, K_CLUSTER, K_SYSTEM, K_KIND, K_NAMESPACE, K_NAME, K_COUNT };
static const char *const key_labels[K_COUNT] = {"alertname", "cluster", "system", "kind", "namespace", "name"};

struct entry {
	char *key[K_COUNT];
	char *severity, *summary, *description;
	long long starts_ms, ends_ms;
	uint64_t epoch;
	bool resolving;
	long long last_ok_ms[RECV_COUNT], last_try_ms[RECV_COUNT];
	bool resolution_sent[RECV_COUNT];
};

struct keelson_alerts {
	char *url[RECV_COUNT];
	char *webhook_secret, *signature_header, *generator_url;
	long long interval_ms, retry_ms, timeout_ms;
	struct keelson_daemon_metrics *metrics;
	keelson_alerts_clock_fn clock;
	void *clock_payload;
	struct entry **entries;
	size_t count, cap;
	uint64_t epoch;
};

static long long real_clock(void *payload)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long now_ms(const struct keelson_alerts *a)
{
	return a->clock(a->clock_payload);
}

static void free_entry(struct entry *e)
{
	for (int i = 0; i < K_COUNT; i++)
		free(e->key[i]);
	free(e->severity);
	free(e->summary);
	free(e->description);
	free(e);
}

void keelson_alerts_free(struct keelson_alerts *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->count; i++)
		free_entry(a->entries[i]);
	free(a->entries);
	for (int r = 0; r < RECV_COUNT; r++)
		free(a->url[r]);
	keelson_secret_free(a->webhook_secret);
	free(a->signature_header);
	free(a->generator_url);
	free(a);
}

static char *dup_or_null(const char *s, bool *oom)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

int keelson_alerts_new(struct keelson_alerts **out, const struct keelson_alerts_options *opts)
{
	if (opts == NULL || opts->version != KEELSON_ALERTS_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "alerts options: version %u, expected %d",
					 opts ? opts->version : 0, KEELSON_ALERTS_OPTIONS_VERSION);
	const char *urls[RECV_COUNT] = {opts->alertmanager_url, opts->webhook_url};
	for (int r = 0; r < RECV_COUNT; r++)
		if (urls[r] != NULL && strncmp(urls[r], "http://", 7) != 0 && strncmp(urls[r], "https://", 8) != 0)
			return keelson_error_set(KEELSON_EINVALID,
						 "alerts: the %s URL must start with http:// or https://",
						 receiver_names[r]);
	struct keelson_alerts *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	bool oom = false;
	if (opts->alertmanager_url != NULL) {
		size_t n = strlen(opts->alertmanager_url);
		while (n > 0 && opts->alertmanager_url[n - 1] == '/')
			n--;
		a->url[RECV_ALERTMANAGER] = malloc(n + sizeof("/api/v2/alerts"));
		if (a->url[RECV_ALERTMANAGER] == NULL)
			oom = true;
		else
			snprintf(a->url[RECV_ALERTMANAGER], n + sizeof("/api/v2/alerts"), "%.*s/api/v2/alerts", (int)n,
				 opts->alertmanager_url);
	}
	a->url[RECV_WEBHOOK] = dup_or_null(opts->webhook_url, &oom);
	a->webhook_secret = dup_or_null(opts->webhook_secret, &oom);
	a->signature_header = dup_or_null(
		opts->webhook_signature_header ? opts->webhook_signature_header : "X-Keelson-Signature-256", &oom);
	a->generator_url = dup_or_null(opts->generator_url, &oom);
	if (oom) {
		keelson_alerts_free(a);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	a->interval_ms = opts->repeat_interval_ms ? (long long)opts->repeat_interval_ms : 5LL * 60 * 1000;
	a->retry_ms = a->interval_ms < 10000 ? a->interval_ms : 10000;
	a->timeout_ms = opts->timeout_ms ? (long long)opts->timeout_ms : 5000;
	a->metrics = opts->metrics;
	a->clock = opts->clock ? opts->clock : real_clock;
	a->clock_payload = opts->clock_payload;
	*out = a;
	return 0;
}

static const char *field(const struct keelson_alert *al, int k)
{
	const char *v[K_COUNT] = {al->alertname, al->cluster, al->system, al->kind, al->namespace_, al->name};
	return v[k] ? v[k] : "";
}

static struct entry *find(struct keelson_alerts *a, const struct keelson_alert *al, size_t *index)
{
	for (size_t i = 0; i < a->count; i++) {
		int k = 0;
		while (k < K_COUNT && strcmp(a->entries[i]->key[k], field(al, k)) == 0)
			k++;
		if (k == K_COUNT) {
			if (index)
				*index = i;
			return a->entries[i];
		}
	}
	return NULL;
}

static void format_time(char *buf, size_t size, long long ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%03lldZ", ms % 1000);
}

static cJSON *alert_json(const struct keelson_alerts *a, const struct entry *e, long long now, bool webhook)
{
	cJSON *o = cJSON_CreateObject();
	if (webhook)
		cJSON_AddStringToObject(o, "status", e->resolving ? "resolved" : "firing");
	cJSON *labels = cJSON_AddObjectToObject(o, "labels");
	for (int k = 0; k < K_COUNT; k++)
		if (e->key[k][0] != '\0')
			cJSON_AddStringToObject(labels, key_labels[k], e->key[k]);
	cJSON_AddStringToObject(labels, "severity", e->severity);
	cJSON *ann = cJSON_AddObjectToObject(o, "annotations");
	if (e->summary != NULL)
		cJSON_AddStringToObject(ann, "summary", e->summary);
	if (e->description != NULL)
		cJSON_AddStringToObject(ann, "description", e->description);
	char t[40];
	format_time(t, sizeof(t), e->starts_ms);
	cJSON_AddStringToObject(o, "startsAt", t);
	format_time(t, sizeof(t), e->resolving ? e->ends_ms : now + 4 * a->interval_ms);
	cJSON_AddStringToObject(o, "endsAt", t);
	if (a->generator_url != NULL)
		cJSON_AddStringToObject(o, "generatorURL", a->generator_url);
	return o;
}

struct sink {
	char text[256];
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct sink *s = userdata;
	size_t len = size * n;
	for (size_t i = 0; i < len && s->len + 1 < sizeof(s->text); i++)
		s->text[s->len++] = (p[i] == '\n' || p[i] == '\r') ? ' ' : p[i];
	s->text[s->len] = '\0';
	return len;
}

static int post_json(struct keelson_alerts *a, int r, const char *body)
{
	CURL *c = curl_easy_init();
	if (c == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "cannot create a curl handle");
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	char sig[256];
	if (r == RECV_WEBHOOK && a->webhook_secret != NULL) {
		char hex[65];
		if (keelson_hmac_sha256_hex(hex, a->webhook_secret, body, strlen(body)) < 0) {
			curl_slist_free_all(h);
			curl_easy_cleanup(c);
			return KEELSON_ERROR;
		}
		snprintf(sig, sizeof(sig), "%s: sha256=%s", a->signature_header, hex);
		h = curl_slist_append(h, sig);
	}
	struct sink sink = {{0}, 0};
	curl_easy_setopt(c, CURLOPT_URL, a->url[r]);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)a->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "sending alerts to %s (%s): %s", receiver_names[r],
					 a->url[r], curl_easy_strerror(rc));
	if (status < 200 || status > 299)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "sending alerts to %s (%s): HTTP %ld: %s",
					 receiver_names[r], a->url[r], status, sink.text);
	return 0;
}

static bool due(const struct keelson_alerts *a, const struct entry *e, int r, long long now)
{
	if (e->resolving)
		return !e->resolution_sent[r] && (e->last_try_ms[r] == 0 || now - e->last_try_ms[r] >= a->retry_ms);
	bool failed_since = e->last_try_ms[r] > e->last_ok_ms[r];
	if (failed_since && now - e->last_try_ms[r] < a->retry_ms)
		return false;
	return e->last_ok_ms[r] == 0 || now - e->last_ok_ms[r] >= a->interval_ms;
}

/* Deliver what is due, for `only` or (NULL) every entry; then forget
 * alerts whose resolution reached every receiver. */
static int deliver(struct keelson_alerts *a, struct entry *only)
{
	long long now = now_ms(a);
	int result = 0;
	for (int r = 0; r < RECV_COUNT; r++) {
		if (a->url[r] == NULL)
			continue;
		cJSON *list = cJSON_CreateArray();
		size_t n = 0;
		for (size_t i = 0; i < a->count; i++) {
			struct entry *e = a->entries[i];
			if ((only == NULL || e == only) && due(a, e, r, now)) {
				cJSON_AddItemToArray(list, alert_json(a, e, now, r == RECV_WEBHOOK));
				n++;
			}
		}
		if (n == 0) {
			cJSON_Delete(list);
			continue;
		}
		cJSON *doc = list;
		if (r == RECV_WEBHOOK) {
			doc = cJSON_CreateObject();
			cJSON_AddNumberToObject(doc, "version", 1);
			cJSON_AddStringToObject(doc, "source", "keelson");
			cJSON_AddItemToObject(doc, "alerts", list);
		}
		char *body = cJSON_PrintUnformatted(doc);
		cJSON_Delete(doc);
		int rc = body ? post_json(a, r, body) : keelson_error_set(KEELSON_ENOMEM, "out of memory");
		free(body);
		keelson_metrics_record_alert_send(a->metrics, receiver_names[r], rc == 0);
		char count[24];
		snprintf(count, sizeof(count), "%zu", n);
		if (rc < 0) {
			keelson_log(KEELSON_LOG_WARN, "alert delivery failed; will retry", "receiver", receiver_names[r],
				    "alerts", count, "error", keelson_error_last()->message, (const char *)NULL);
			result = rc;
		}
		for (size_t i = 0; i < a->count; i++) {
			struct entry *e = a->entries[i];
			if ((only != NULL && e != only) || !due(a, e, r, now))
				continue;
			e->last_try_ms[r] = now;
			if (rc == 0) {
				if (e->resolving)
					e->resolution_sent[r] = true;
				else
					e->last_ok_ms[r] = now;
			}
		}
	}
	for (size_t i = 0; i < a->count;) {
		struct entry *e = a->entries[i];
		bool done = e->resolving;
		for (int r = 0; r < RECV_COUNT && done; r++)
			done = a->url[r] == NULL || e->resolution_sent[r];
		if (done) {
			free_entry(e);
			a->entries[i] = a->entries[--a->count];
		} else
			i++;
	}
	return result;
}

static void start_firing(struct entry *e, long long now)
{
	e->starts_ms = now;
	e->resolving = false;
	for (int r = 0; r < RECV_COUNT; r++) {
		e->last_ok_ms[r] = e->last_try_ms[r] = 0;
		e->resolution_sent[r] = false;
	}
}

int keelson_alerts_fire(struct keelson_alerts *a, const struct keelson_alert *al)
{
	if (al->alertname == NULL || al->alertname[0] == '\0')
		return keelson_error_set(KEELSON_EINVALID, "alert without alertname");
	long long now = now_ms(a);
	struct entry *e = find(a, al, NULL);
	bool oom = false;
	if (e == NULL) {
		if (a->count >= KEELSON_ALERTS_MAX_ACTIVE)
			return keelson_error_set(KEELSON_ELIMIT, "more than %d active alerts; %s for %s/%s not raised",
						 KEELSON_ALERTS_MAX_ACTIVE, al->alertname, field(al, K_CLUSTER),
						 field(al, K_SYSTEM));
		if (a->count == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 16;
			struct entry **grown = realloc(a->entries, cap * sizeof(*grown));
			if (grown == NULL)
				return keelson_error_set(KEELSON_ENOMEM, "out of memory");
			a->entries = grown;
			a->cap = cap;
		}
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		for (int k = 0; k < K_COUNT; k++)
			e->key[k] = dup_or_null(field(al, k), &oom);
		if (oom) {
			free_entry(e);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
		start_firing(e, now);
		a->entries[a->count++] = e;
		keelson_log(KEELSON_LOG_INFO, "alert raised", "alertname", e->key[K_ALERTNAME], "cluster",
			    e->key[K_CLUSTER], "system", e->key[K_SYSTEM], "kind", e->key[K_KIND], "namespace",
			    e->key[K_NAMESPACE], "name", e->key[K_NAME], (const char *)NULL);
	} else if (e->resolving) {
		/* Came back before its resolution was delivered: a new episode. */
		start_firing(e, now);
	}
	char *sev = dup_or_null(al->severity ? al->severity : "warning", &oom);
	char *sum = dup_or_null(al->summary, &oom);
	char *desc = dup_or_null(al->description, &oom);
	if (oom) {
		free(sev);
		free(sum);
		free(desc);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	free(e->severity);
	free(e->summary);
	free(e->description);
	e->severity = sev;
	e->summary = sum;
	e->description = desc;
	e->epoch = a->epoch;
	return deliver(a, e);
}

static void begin_resolution(struct keelson_alerts *a, struct entry *e)
{
	if (e->resolving)
		return;
	e->resolving = true;
	e->ends_ms = now_ms(a);
	/* Sent even to a receiver that never took the firing alert: it may
	 * have received it while the answer was lost. */
	for (int r = 0; r < RECV_COUNT; r++) {
		e->last_try_ms[r] = 0;
		e->resolution_sent[r] = false;
	}
	keelson_log(KEELSON_LOG_INFO, "alert resolved", "alertname", e->key[K_ALERTNAME], "cluster",
		    e->key[K_CLUSTER], "system", e->key[K_SYSTEM], "kind", e->key[K_KIND], "namespace",
		    e->key[K_NAMESPACE], "name", e->key[K_NAME], (const char *)NULL);
}

int keelson_alerts_resolve(struct keelson_alerts *a, const struct keelson_alert *al)
{
	struct entry *e = find(a, al, NULL);
	if (e == NULL)
		return 0;
	begin_resolution(a, e);
	return deliver(a, e);
}

uint64_t keelson_alerts_mark(struct keelson_alerts *a)
{
	return ++a->epoch;
}

int keelson_alerts_resolve_stale(struct keelson_alerts *a, const char *alertname, const char *cluster,
				 const char *system, uint64_t mark)
{
	bool any = false;
	for (size_t i = 0; i < a->count; i++) {
		struct entry *e = a->entries[i];
		if (e->epoch >= mark || e->resolving)
			continue;
		if ((alertname && strcmp(e->key[K_ALERTNAME], alertname) != 0) ||
		    (cluster && strcmp(e->key[K_CLUSTER], cluster) != 0) ||
		    (system && strcmp(e->key[K_SYSTEM], system) != 0))
			continue;
		begin_resolution(a, e);
		any = true;
	}
	return any ? deliver(a, NULL) : 0;
}

int keelson_alerts_tick(struct keelson_alerts *a)
{
	return deliver(a, NULL);
}

size_t keelson_alerts_active_count(const struct keelson_alerts *a)
{
	return a->count;
}
