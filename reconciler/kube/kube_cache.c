#include "config.h"

#include "kube/kube_cache.h"

#include "core/error.h"
#include "core/log.h"
#include "kube/kube_ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- hash table: "namespace/name" -> object ---------------------------- */

struct entry {
	char *key;
	cJSON *object;
	struct entry *next;
};

struct table {
	struct entry **buckets;
	size_t bucket_count;
	size_t size;
};

static uint64_t hash_key(const char *key)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ull;
	}
	return h;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->bucket_count; i++) {
		struct entry *e = t->buckets[i];
		while (e) {
			struct entry *next = e->next;
			free(e->key);
			cJSON_Delete(e->object);
			free(e);
			e = next;
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static int table_grow(struct table *t)
{
	size_t count = t->bucket_count ? t->bucket_count * 2 : 64;
	struct entry **buckets = calloc(count, sizeof(*buckets));
	if (buckets == NULL)
		return -1;
	for (size_t i = 0; i < t->bucket_count; i++) {
		struct entry *e = t->buckets[i];
		while (e) {
			struct entry *next = e->next;
			size_t b = hash_key(e->key) & (count - 1);
			e->next = buckets[b];
			buckets[b] = e;
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = buckets;
	t->bucket_count = count;
	return 0;
}

static struct entry **table_find(struct table *t, const char *key)
{
	if (t->bucket_count == 0)
		return NULL;
	struct entry **slot = &t->buckets[hash_key(key) & (t->bucket_count - 1)];
	while (*slot && strcmp((*slot)->key, key) != 0)
		slot = &(*slot)->next;
	return *slot ? slot : NULL;
}

/* Takes ownership of `object` (also on failure). */
static int table_put(struct table *t, const char *key, cJSON *object)
{
	struct entry **slot = table_find(t, key);
	if (slot != NULL) {
		cJSON_Delete((*slot)->object);
		(*slot)->object = object;
		return 0;
	}
	if ((t->size + 1 > t->bucket_count) && table_grow(t) < 0) {
		cJSON_Delete(object);
		return -1;
	}
	struct entry *e = calloc(1, sizeof(*e));
	if (e == NULL || (e->key = strdup(key)) == NULL) {
		free(e);
		cJSON_Delete(object);
		return -1;
	}
	size_t b = hash_key(key) & (t->bucket_count - 1);
	e->object = object;
	e->next = t->buckets[b];
	t->buckets[b] = e;
	t->size++;
	return 0;
}

static bool table_remove(struct table *t, const char *key)
{
	struct entry **slot = table_find(t, key);
	if (slot == NULL)
		return false;
	struct entry *e = *slot;
	*slot = e->next;
	free(e->key);
	cJSON_Delete(e->object);
	free(e);
	t->size--;
	return true;
}

/* --- cache ------------------------------------------------------------- */

struct cache_type {
	struct keelson_kube_cache *cache;
	char api_version[320];
	struct keelson_kube_resource res;
	pthread_t thread;
	pthread_rwlock_t lock;
	struct table table;
	bool synced;
	char last_error[512];
	unsigned long lists, watches, events, errors;
};

struct keelson_kube_cache {
	struct keelson_kube_client *client;
	struct keelson_kube_cache_options opts;
	char *label_selector;
	char *namespace;
	atomic_bool stop;

	pthread_mutex_t lock; /* types array, generation, sleeps */
	pthread_cond_t changed;
	struct cache_type **types;
	size_t type_count, type_cap;
	uint64_t generation;
	unsigned jitter;
};

void keelson_kube_cache_options_init(struct keelson_kube_cache_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_KUBE_CACHE_OPTIONS_VERSION;
	opts->watch_timeout_seconds = 1800;
	opts->page_size = 500;
	opts->backoff_initial_ms = 500;
	opts->backoff_max_ms = 30000;
	/* For clusters behind load balancers that cut long requests, and for
	 * tests that must see watches end within seconds. */
	const char *env = getenv("KEELSON_KUBE_WATCH_TIMEOUT");
	if (env != NULL && env[0] != '\0') {
		char *end;
		unsigned long v = strtoul(env, &end, 10);
		if (*end == '\0' && v >= 1 && v <= 86400)
			opts->watch_timeout_seconds = (unsigned)v;
		else
			keelson_log(KEELSON_LOG_WARN, "KEELSON_KUBE_WATCH_TIMEOUT is not a number of seconds from 1 to "
				"86400; ignored", "value", env, NULL);
	}
}

int keelson_kube_cache_new(struct keelson_kube_cache **out, struct keelson_kube_client *client,
	const struct keelson_kube_cache_options *opts)
{
	struct keelson_kube_cache *c;
	struct keelson_kube_cache_options defaults;

	*out = NULL;
	if (opts == NULL) {
		keelson_kube_cache_options_init(&defaults);
		opts = &defaults;
	}
	if (opts->version != KEELSON_KUBE_CACHE_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "kube cache options: version %u, expected %u",
			opts->version, KEELSON_KUBE_CACHE_OPTIONS_VERSION);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	c->client = client;
	c->opts = *opts;
	if (c->opts.watch_timeout_seconds == 0)
		c->opts.watch_timeout_seconds = 1800;
	if (c->opts.page_size == 0)
		c->opts.page_size = 500;
	if (c->opts.backoff_initial_ms == 0)
		c->opts.backoff_initial_ms = 500;
	if (c->opts.backoff_max_ms < c->opts.backoff_initial_ms)
		c->opts.backoff_max_ms = c->opts.backoff_initial_ms;
	if ((opts->label_selector && (c->label_selector = strdup(opts->label_selector)) == NULL) ||
	    (opts->namespace && (c->namespace = strdup(opts->namespace)) == NULL)) {
		free(c->label_selector);
		free(c);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	c->opts.label_selector = c->label_selector;
	c->opts.namespace = c->namespace;
	c->jitter = (unsigned)keelson_kube_now_ns();
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->changed, &attr);
	pthread_condattr_destroy(&attr);
	*out = c;
	return 0;
}

static void bump_generation(struct keelson_kube_cache *c)
{
	pthread_mutex_lock(&c->lock);
	c->generation++;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

static void deadline_after(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Sleep unless the cache is stopping. */
static void backoff_sleep(struct keelson_kube_cache *c, unsigned attempt)
{
	struct timespec deadline;

	pthread_mutex_lock(&c->lock);
	c->jitter = c->jitter * 1103515245u + 12345u;
	double jitter = (double)((c->jitter >> 8) & 0xffff) / 65536.0;
	uint64_t ms = keelson_kube_backoff_ms(attempt, c->opts.backoff_initial_ms, c->opts.backoff_max_ms, jitter);
	deadline_after(&deadline, (long)ms);
	while (!atomic_load(&c->stop))
		if (pthread_cond_timedwait(&c->changed, &c->lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->lock);
}

/* The configured timeout stretched by a random factor in [1, 2), as the
 * API server does for watches without one: the watches of many types (and
 * of many keelson instances) do not all end and re-open together. */
static unsigned watch_timeout(struct keelson_kube_cache *c)
{
	unsigned base = c->opts.watch_timeout_seconds;
	pthread_mutex_lock(&c->lock);
	c->jitter = c->jitter * 1103515245u + 12345u;
	unsigned r = (c->jitter >> 8) & 0xffff;
	pthread_mutex_unlock(&c->lock);
	return base + (unsigned)(((uint64_t)base * r) >> 16);
}

static int object_key(char *buf, size_t size, const cJSON *object)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
	if (!cJSON_IsString(name))
		return -1;
	int n = snprintf(buf, size, "%s/%s", cJSON_IsString(ns) ? ns->valuestring : "", name->valuestring);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

static void record_error(struct cache_type *t, const char *what)
{
	pthread_rwlock_wrlock(&t->lock);
	t->errors++;
	snprintf(t->last_error, sizeof(t->last_error), "%s: %s", what, keelson_error_last()->message);
	pthread_rwlock_unlock(&t->lock);
	keelson_log(KEELSON_LOG_WARN, "kube cache: will retry", "apiVersion", t->api_version, "kind", t->res.kind,
		"error", keelson_error_last()->message, NULL);
}

/* List the type and replace the table. Fills `rv` with the list's
 * resourceVersion. */
static int relist(struct cache_type *t, char *rv, size_t rv_size)
{
	struct keelson_kube_cache *c = t->cache;
	struct keelson_kube_list_options lo;
	struct table fresh = {0};
	cJSON *list = NULL;
	int error;

	keelson_kube_list_options_init(&lo);
	lo.label_selector = c->opts.label_selector;
	lo.page_size = c->opts.page_size;
	if ((error = keelson_kube_list(&list, c->client, t->api_version, t->res.kind, c->opts.namespace, &lo)) < 0)
		return error;
	cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
	while (cJSON_GetArraySize(items) > 0) {
		char key[600];
		cJSON *item = cJSON_DetachItemFromArray(items, 0);
		if (object_key(key, sizeof(key), item) < 0) {
			cJSON_Delete(item);
			continue;
		}
		if (table_put(&fresh, key, item) < 0) {
			table_free(&fresh);
			cJSON_Delete(list);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory caching %s", t->res.resource);
		}
	}
	const cJSON *list_rv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(list, "metadata"),
		"resourceVersion");
	snprintf(rv, rv_size, "%s", cJSON_IsString(list_rv) ? list_rv->valuestring : "");
	cJSON_Delete(list);

	pthread_rwlock_wrlock(&t->lock);
	table_free(&t->table);
	t->table = fresh;
	t->synced = true;
	t->lists++;
	t->last_error[0] = '\0';
	pthread_rwlock_unlock(&t->lock);
	bump_generation(c);
	return 0;
}

static int apply_event(enum keelson_kube_event_type type, const cJSON *object, void *payload)
{
	struct cache_type *t = payload;
	char key[600];

	if (type == KEELSON_KUBE_EVENT_BOOKMARK || object_key(key, sizeof(key), object) < 0)
		return 0;
	if (type == KEELSON_KUBE_EVENT_DELETED) {
		pthread_rwlock_wrlock(&t->lock);
		table_remove(&t->table, key);
		t->events++;
		pthread_rwlock_unlock(&t->lock);
	} else {
		cJSON *copy = cJSON_Duplicate(object, 1);
		if (copy == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory caching %s", t->res.resource);
		pthread_rwlock_wrlock(&t->lock);
		int rc = table_put(&t->table, key, copy);
		t->events++;
		pthread_rwlock_unlock(&t->lock);
		if (rc < 0)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory caching %s", t->res.resource);
	}
	bump_generation(t->cache);
	return 0;
}

static void *type_thread(void *arg)
{
	struct cache_type *t = arg;
	struct keelson_kube_cache *c = t->cache;
	char rv[128] = "";
	bool need_list = true;
	unsigned attempt = 0;

	while (!atomic_load(&c->stop)) {
		if (need_list) {
			if (relist(t, rv, sizeof(rv)) < 0) {
				record_error(t, "list");
				backoff_sleep(c, ++attempt);
				continue;
			}
			need_list = false;
		}
		struct keelson_kube_watch_options wo;
		char start_rv[128];
		snprintf(start_rv, sizeof(start_rv), "%s", rv);
		keelson_kube_watch_options_init(&wo);
		wo.label_selector = c->opts.label_selector;
		wo.resource_version = start_rv[0] ? start_rv : NULL;
		wo.timeout_seconds = watch_timeout(c);
		wo.stop = &c->stop;
		pthread_rwlock_wrlock(&t->lock);
		t->watches++;
		unsigned long events_before = t->events;
		pthread_rwlock_unlock(&t->lock);
		uint64_t started = keelson_kube_now_ns();
		int rc = keelson_kube_watch(c->client, &t->res, c->opts.namespace, &wo, apply_event, t, rv, sizeof(rv));
		if (atomic_load(&c->stop))
			break;
		pthread_rwlock_rdlock(&t->lock);
		bool progressed = t->events != events_before;
		pthread_rwlock_unlock(&t->lock);
		/* A watch that delivered events or lasted a while was healthy;
		 * one that ends at once, again and again, is backed off from so a
		 * misbehaving server does not get a hot loop of requests. */
		bool healthy = progressed || keelson_kube_now_ns() - started > 1000000000ull;
		if (healthy)
			attempt = 0;
		if (rc == KEELSON_KUBE_EEXPIRED) {
			/* Our resourceVersion left the server's history: only a
			 * fresh list is consistent. */
			keelson_log(KEELSON_LOG_INFO, "kube cache: resourceVersion expired, listing again",
				"kind", t->res.kind, NULL);
			need_list = true;
			if (!healthy)
				backoff_sleep(c, ++attempt);
			continue;
		}
		if (rc == 0) {
			/* A normal end (timeoutSeconds): watch again from rv. */
			if (!healthy)
				backoff_sleep(c, ++attempt);
			continue;
		}
		record_error(t, "watch");
		if (rv[0] == '\0')
			need_list = true;
		backoff_sleep(c, ++attempt);
	}
	return NULL;
}

static struct cache_type *find_type(struct keelson_kube_cache *c, const char *api_version, const char *kind)
{
	struct cache_type *found = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->type_count; i++)
		if (strcmp(c->types[i]->api_version, api_version) == 0 && strcmp(c->types[i]->res.kind, kind) == 0) {
			found = c->types[i];
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return found;
}

int keelson_kube_cache_add(struct keelson_kube_cache *c, const char *api_version, const char *kind)
{
	struct cache_type *t;
	int error;

	if (api_version == NULL || kind == NULL)
		return keelson_error_set(KEELSON_EINVALID, "kube cache: apiVersion and kind are required");
	if (find_type(c, api_version, kind) != NULL)
		return 0;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	t->cache = c;
	snprintf(t->api_version, sizeof(t->api_version), "%s", api_version);
	if ((error = keelson_kube_resolve(&t->res, c->client, api_version, kind)) < 0) {
		free(t);
		return keelson_error_wrap(error, "caching %s %s", api_version, kind);
	}
	pthread_rwlock_init(&t->lock, NULL);

	pthread_mutex_lock(&c->lock);
	if (c->type_count == c->type_cap) {
		size_t cap = c->type_cap ? c->type_cap * 2 : 16;
		struct cache_type **p = realloc(c->types, cap * sizeof(*p));
		if (p == NULL) {
			pthread_mutex_unlock(&c->lock);
			pthread_rwlock_destroy(&t->lock);
			free(t);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
		c->types = p;
		c->type_cap = cap;
	}
	if (pthread_create(&t->thread, NULL, type_thread, t) != 0) {
		pthread_mutex_unlock(&c->lock);
		pthread_rwlock_destroy(&t->lock);
		free(t);
		return keelson_error_set(KEELSON_ERROR, "kube cache: cannot start a thread for %s", kind);
	}
	c->types[c->type_count++] = t;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int keelson_kube_cache_wait_synced(struct keelson_kube_cache *c, long timeout_ms)
{
	struct timespec deadline;
	int error = 0;

	deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct cache_type *pending = NULL;
		for (size_t i = 0; i < c->type_count && pending == NULL; i++) {
			pthread_rwlock_rdlock(&c->types[i]->lock);
			if (!c->types[i]->synced)
				pending = c->types[i];
			pthread_rwlock_unlock(&c->types[i]->lock);
		}
		if (pending == NULL)
			break;
		if (pthread_cond_timedwait(&c->changed, &c->lock, &deadline) == ETIMEDOUT) {
			pthread_rwlock_rdlock(&pending->lock);
			error = keelson_error_set(KEELSON_ETIMEOUT, "kube cache: %s %s not listed after %ld ms%s%s",
				pending->api_version, pending->res.kind, timeout_ms,
				pending->last_error[0] ? "; last error: " : "", pending->last_error);
			pthread_rwlock_unlock(&pending->lock);
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return error;
}

static struct cache_type *type_for_read(struct keelson_kube_cache *c, const char *api_version, const char *kind)
{
	struct cache_type *t = (api_version && kind) ? find_type(c, api_version, kind) : NULL;
	if (t == NULL)
		keelson_error_set(KEELSON_EINVALID, "kube cache: %s %s is not cached; add it with keelson_kube_cache_add",
			api_version ? api_version : "?", kind ? kind : "?");
	return t;
}

int keelson_kube_cache_get(cJSON **out, struct keelson_kube_cache *c, const char *api_version,
	const char *kind, const char *ns, const char *name)
{
	struct cache_type *t;
	char key[600];
	int error = 0;

	*out = NULL;
	if ((t = type_for_read(c, api_version, kind)) == NULL)
		return KEELSON_EINVALID;
	if (name == NULL)
		return keelson_error_set(KEELSON_EINVALID, "kube cache: no name given");
	snprintf(key, sizeof(key), "%s/%s", t->res.namespaced && ns ? ns : "", name);
	pthread_rwlock_rdlock(&t->lock);
	struct entry **slot = table_find(&t->table, key);
	if (slot == NULL)
		error = keelson_error_set(KEELSON_ENOTFOUND, "%s %s%s%s not found in the cache", kind,
			t->res.namespaced && ns ? ns : "", t->res.namespaced && ns ? "/" : "", name);
	else if ((*out = cJSON_Duplicate((*slot)->object, 1)) == NULL)
		error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
	pthread_rwlock_unlock(&t->lock);
	return error;
}

static int compare_entries(const void *a, const void *b)
{
	const struct entry *ea = *(const struct entry *const *)a;
	const struct entry *eb = *(const struct entry *const *)b;
	return strcmp(ea->key, eb->key);
}

int keelson_kube_cache_list(cJSON **out, struct keelson_kube_cache *c, const char *api_version,
	const char *kind, const char *ns)
{
	struct cache_type *t;
	struct entry **sorted = NULL;
	size_t n = 0;
	int error = 0;

	*out = NULL;
	if ((t = type_for_read(c, api_version, kind)) == NULL)
		return KEELSON_EINVALID;
	cJSON *array = cJSON_CreateArray();
	if (array == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	size_t prefix_len = (ns && t->res.namespaced) ? strlen(ns) : 0;
	pthread_rwlock_rdlock(&t->lock);
	sorted = malloc((t->table.size + 1) * sizeof(*sorted));
	if (sorted == NULL) {
		error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto unlock;
	}
	for (size_t i = 0; i < t->table.bucket_count; i++)
		for (struct entry *e = t->table.buckets[i]; e; e = e->next)
			if (prefix_len == 0 || (strncmp(e->key, ns, prefix_len) == 0 && e->key[prefix_len] == '/'))
				sorted[n++] = e;
	qsort(sorted, n, sizeof(*sorted), compare_entries);
	for (size_t i = 0; i < n; i++) {
		cJSON *copy = cJSON_Duplicate(sorted[i]->object, 1);
		if (copy == NULL) {
			error = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			break;
		}
		cJSON_AddItemToArray(array, copy);
	}
unlock:
	pthread_rwlock_unlock(&t->lock);
	free(sorted);
	if (error < 0) {
		cJSON_Delete(array);
		return error;
	}
	*out = array;
	return 0;
}

uint64_t keelson_kube_cache_generation(struct keelson_kube_cache *c)
{
	pthread_mutex_lock(&c->lock);
	uint64_t g = c->generation;
	pthread_mutex_unlock(&c->lock);
	return g;
}

int keelson_kube_cache_wait_change(struct keelson_kube_cache *c, uint64_t since, long timeout_ms)
{
	struct timespec deadline;
	int error = 0;

	deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&c->lock);
	while (c->generation <= since && !atomic_load(&c->stop))
		if (pthread_cond_timedwait(&c->changed, &c->lock, &deadline) == ETIMEDOUT) {
			if (c->generation <= since)
				error = keelson_error_set(KEELSON_ETIMEOUT, "kube cache: no change within %ld ms", timeout_ms);
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return error;
}

void keelson_kube_cache_stats(struct keelson_kube_cache *c, struct keelson_kube_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->type_count; i++) {
		struct cache_type *t = c->types[i];
		pthread_rwlock_rdlock(&t->lock);
		out->lists += t->lists;
		out->watches += t->watches;
		out->events += t->events;
		out->errors += t->errors;
		out->objects += t->table.size;
		pthread_rwlock_unlock(&t->lock);
	}
	pthread_mutex_unlock(&c->lock);
}

void keelson_kube_cache_free(struct keelson_kube_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	atomic_store(&c->stop, true);
	pthread_cond_broadcast(&c->changed);
	size_t count = c->type_count;
	pthread_mutex_unlock(&c->lock);
	keelson_kube_watch_wake(c->client, &c->stop);
	for (size_t i = 0; i < count; i++)
		pthread_join(c->types[i]->thread, NULL);
	for (size_t i = 0; i < count; i++) {
		table_free(&c->types[i]->table);
		pthread_rwlock_destroy(&c->types[i]->lock);
		free(c->types[i]);
	}
	free(c->types);
	free(c->label_selector);
	free(c->namespace);
	pthread_cond_destroy(&c->changed);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
