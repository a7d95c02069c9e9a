/*
 * The kafka plugin's helpers: text buffer, metrics of one scrape, the
 * ConfigMap hash, JSON subset and rewrite over the host's accessors, time.
 */
#define _GNU_SOURCE /* timegm */
#include "plugins/kafka/kafka_internal.h"
#include "plugins/kafka/prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONFIG_KEYS 4096

void kafka_buf_add(struct kafka_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *grown = realloc(b->text, cap);
		if (grown == NULL) {
			b->oom = 1;
			return;
		}
		b->text = grown;
		b->cap = cap;
	}
	memcpy(b->text + b->len, s, n);
	b->len += n;
	b->text[b->len] = '\0';
}

void kafka_buf_printf(struct kafka_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		kafka_buf_add(b, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (big == NULL) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	kafka_buf_add(b, big, (size_t)n);
	free(big);
}

void kafka_buf_json_string(struct kafka_buf *b, const char *s)
{
	kafka_buf_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			char esc[2] = {'\\', (char)*p};
			kafka_buf_add(b, esc, 2);
		} else if (*p < 0x20) {
			kafka_buf_printf(b, "\\u%04x", *p);
		} else {
			kafka_buf_add(b, (const char *)p, 1);
		}
	}
	kafka_buf_add(b, "\"", 1);
}

void kafka_buf_free(struct kafka_buf *b)
{
	free(b->text);
	memset(b, 0, sizeof(*b));
}

/* --- metrics ------------------------------------------------------------- */

struct scrape {
	struct kafka_metrics *m;
	char *why;
	size_t why_size;
};

static int add_gauge(struct scrape *s, const struct kafka_prom_sample *x, const char *name, int *has, double *sum)
{
	if (!kafka_prom_name_is(x, name))
		return 0;
	if (isnan(x->value) || isinf(x->value) || x->value < 0) {
		snprintf(s->why, s->why_size, "%s is %g", name, x->value);
		return -2;
	}
	*has = 1;
	*sum += x->value;
	return 1;
}

static int on_sample(void *ctx, const struct kafka_prom_sample *x)
{
	struct scrape *s = ctx;
	struct kafka_metrics *m = s->m;
	int rc;
	if ((rc = add_gauge(s, x, "kafka_server_replicamanager_underreplicatedpartitions", &m->has_urp, &m->urp)) ||
	    (rc = add_gauge(s, x, "kafka_server_replicamanager_underminisrpartitioncount", &m->has_umi, &m->umi)) ||
	    (rc = add_gauge(s, x, "kafka_controller_kafkacontroller_offlinepartitionscount", &m->has_offline,
			    &m->offline)) ||
	    (rc = add_gauge(s, x, "kafka_controller_kafkacontroller_activecontrollercount", &m->has_active,
			    &m->active)) ||
	    (rc = add_gauge(s, x, "kafka_server_replicamanager_partitioncount", &m->has_partitions, &m->partitions)) ||
	    (rc = add_gauge(s, x, "kafka_server_kafkaserver_brokerstate", &m->has_state, &m->state)))
		return rc < 0 ? rc : 0;
	return 0;
}

int kafka_metrics_parse(struct kafka_metrics *out, const char *body, size_t len, char *why, size_t why_size)
{
	memset(out, 0, sizeof(*out));
	struct scrape s = {.m = out, .why = why, .why_size = why_size};
	char err[200];
	int rc = kafka_prom_parse(body, len, on_sample, &s, err, sizeof(err));
	if (rc == -1) {
		snprintf(why, why_size, "unparsable metrics (%s)", err);
		return -1;
	}
	if (rc != 0)
		return -1; /* why set by add_gauge */
	return 0;
}

/* --- ConfigMap hash ---------------------------------------------------- */

static void fnv(unsigned long long *h, const char *s)
{
	for (; s != NULL && *s; s++) {
		*h ^= (unsigned char)*s;
		*h *= 1099511628211ULL;
	}
	*h ^= 0xff; /* separator: "ab"+"c" differs from "a"+"bc" */
	*h *= 1099511628211ULL;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int kafka_hash_configmap(const struct keelson_host *h, const struct keelson_json *cm, unsigned long long *hash)
{
	static const char *const sections[] = {"data", "binaryData"};
	fnv(hash, h->json_string(h->json_get(cm, "/metadata/name")));
	for (size_t s = 0; s < 2; s++) {
		char pointer[32];
		snprintf(pointer, sizeof(pointer), "/%s", sections[s]);
		const struct keelson_json *section = h->json_get(cm, pointer);
		size_t n = h->json_count(section);
		if (n > MAX_CONFIG_KEYS)
			return -1;
		if (n == 0)
			continue;
		const char **keys = malloc(n * sizeof(*keys));
		if (keys == NULL)
			return -1;
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const char *key = h->json_key(h->json_at(section, i));
			if (key != NULL)
				keys[k++] = key;
		}
		qsort(keys, k, sizeof(*keys), by_key);
		fnv(hash, sections[s]);
		for (size_t i = 0; i < k; i++) {
			fnv(hash, keys[i]);
			/* The member by key again: json_get needs the key escaped. */
			for (size_t j = 0; j < n; j++) {
				const struct keelson_json *member = h->json_at(section, j);
				if (h->json_key(member) == keys[i]) {
					fnv(hash, h->json_string(member));
					break;
				}
			}
		}
		free(keys);
	}
	return 0;
}

/* --- JSON subset and rewrite ------------------------------------------- */

static int is_object(const struct keelson_host *h, struct keelson_plugin_call *call, const struct keelson_json *n)
{
	const char *t = h->json_text(call, n);
	return t != NULL && t[0] == '{';
}

int kafka_json_subset(const struct keelson_host *h, struct keelson_plugin_call *call,
		      const struct keelson_json *desired, const struct keelson_json *live)
{
	if (desired == NULL)
		return 1;
	if (live == NULL)
		return 0;
	size_t n = h->json_count(desired);
	if (n == 0) {
		/* {} asks only for an object (the server may fill it in) */
		if (is_object(h, call, desired))
			return is_object(h, call, live);
		return h->json_equal(desired, live);
	}
	if (h->json_key(h->json_at(desired, 0)) == NULL) { /* an array */
		if (h->json_count(live) != n || h->json_key(h->json_at(live, 0)) != NULL)
			return 0;
		for (size_t i = 0; i < n; i++)
			if (!kafka_json_subset(h, call, h->json_at(desired, i), h->json_at(live, i)))
				return 0;
		return 1;
	}
	size_t ln = h->json_count(live);
	for (size_t i = 0; i < n; i++) {
		const struct keelson_json *d = h->json_at(desired, i);
		const char *key = h->json_key(d);
		const struct keelson_json *l = NULL;
		for (size_t j = 0; j < ln && l == NULL; j++) {
			const struct keelson_json *c = h->json_at(live, j);
			const char *lk = h->json_key(c);
			if (lk != NULL && strcmp(lk, key) == 0)
				l = c;
		}
		if (l == NULL || !kafka_json_subset(h, call, d, l))
			return 0;
	}
	return 1;
}

/* Whether override `o` lies strictly below `prefix` (depth plen). */
static int below(const struct kafka_override *o, const char *const *prefix, size_t plen)
{
	if (o->depth <= plen)
		return 0;
	for (size_t i = 0; i < plen; i++)
		if (strcmp(o->path[i], prefix[i]) != 0)
			return 0;
	return 1;
}

static void rewrite(const struct keelson_host *h, struct keelson_plugin_call *call, struct kafka_buf *out,
		    const struct keelson_json *node, const char **prefix, size_t plen,
		    const struct kafka_override *ov, size_t count)
{
	int touched = 0;
	for (size_t i = 0; i < count; i++)
		touched |= below(&ov[i], prefix, plen);
	if (!touched) {
		const char *text = h->json_text(call, node);
		if (text == NULL)
			out->oom = 1;
		else
			kafka_buf_add(out, text, strlen(text));
		return;
	}
	if (node != NULL && !is_object(h, call, node))
		node = NULL; /* an override through a non-object replaces it */
	kafka_buf_add(out, "{", 1);
	int first = 1;
	size_t n = h->json_count(node);
	for (size_t i = 0; i < n && plen < 8; i++) {
		const struct keelson_json *member = h->json_at(node, i);
		const char *key = h->json_key(member);
		if (key == NULL)
			continue;
		if (!first)
			kafka_buf_add(out, ",", 1);
		first = 0;
		kafka_buf_json_string(out, key);
		kafka_buf_add(out, ":", 1);
		prefix[plen] = key;
		const struct kafka_override *exact = NULL;
		for (size_t k = 0; k < count; k++)
			if (ov[k].depth == plen + 1 && below(&ov[k], prefix, plen) && strcmp(ov[k].path[plen], key) == 0)
				exact = &ov[k];
		if (exact != NULL)
			kafka_buf_add(out, exact->json, strlen(exact->json));
		else
			rewrite(h, call, out, member, prefix, plen + 1, ov, count);
	}
	/* Overrides whose next key the node lacks: added, once per key. */
	for (size_t k = 0; k < count; k++) {
		if (!below(&ov[k], prefix, plen))
			continue;
		const char *key = ov[k].path[plen];
		int present = 0;
		for (size_t i = 0; i < n && !present; i++) {
			const char *mk = h->json_key(h->json_at(node, i));
			present = mk != NULL && strcmp(mk, key) == 0;
		}
		for (size_t e = 0; e < k && !present; e++)
			present = below(&ov[e], prefix, plen) && strcmp(ov[e].path[plen], key) == 0;
		if (present)
			continue;
		if (!first)
			kafka_buf_add(out, ",", 1);
		first = 0;
		kafka_buf_json_string(out, key);
		kafka_buf_add(out, ":", 1);
		if (ov[k].depth == plen + 1) {
			kafka_buf_add(out, ov[k].json, strlen(ov[k].json));
		} else {
			prefix[plen] = key;
			rewrite(h, call, out, NULL, prefix, plen + 1, ov, count);
		}
	}
	kafka_buf_add(out, "}", 1);
}

void kafka_json_rewrite(const struct keelson_host *h, struct keelson_plugin_call *call, struct kafka_buf *out,
			const struct keelson_json *node, const struct kafka_override *overrides, size_t count)
{
	const char *prefix[8] = {0};
	rewrite(h, call, out, node, prefix, 0, overrides, count);
}

/* --- time ---------------------------------------------------------------- */

long long kafka_parse_time(const char *text)
{
	if (text == NULL)
		return -1;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int consumed = 0;
	if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec, &consumed) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	long long t = (long long)timegm(&tm);
	const char *p = text + consumed;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z')
		return t;
	int oh = 0, om = 0;
	if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
		return *p == '+' ? t - (oh * 3600 + om * 60) : t + (oh * 3600 + om * 60);
	return -1;
}
