#include "config.h"

#include "tests/kubesim/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "tests/kubesim/types.h"

/* Events kept for watches that start from an older resourceVersion; a
 * watch further behind gets 410 Expired, like a compacted etcd. */
#define KS_HISTORY 32768
#define KS_MAX_STATE_BYTES (1024L * 1024 * 1024)

/* ---------------------------------------------------------------------------
 * Immutable, reference-counted object snapshots shared by the store and
 * the event history.
 * ------------------------------------------------------------------------- */

struct ks_obj {
	int refs;
	cJSON *json;
	char *text;
};

static struct ks_obj *obj_new(cJSON *json)
{
	struct ks_obj *o = calloc(1, sizeof(*o));
	if (!o) {
		cJSON_Delete(json);
		return NULL;
	}
	o->refs = 1;
	o->json = json;
	o->text = cJSON_PrintUnformatted(json);
	if (!o->text) {
		cJSON_Delete(json);
		free(o);
		return NULL;
	}
	return o;
}

static struct ks_obj *obj_ref(struct ks_obj *o)
{
	if (o)
		__atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
	return o;
}

static void obj_unref(struct ks_obj *o)
{
	if (!o || __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	cJSON_Delete(o->json);
	free(o->text);
	free(o);
}

/* ---------------------------------------------------------------------------
 * A small chained string hash map.
 * ------------------------------------------------------------------------- */

struct hnode {
	char *key;
	uint64_t hash;
	void *value;
	struct hnode *next;
};

struct hmap {
	struct hnode **buckets;
	size_t nbuckets;
	size_t count;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static int hmap_init(struct hmap *m)
{
	m->nbuckets = 1024;
	m->count = 0;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	return m->buckets ? 0 : -1;
}

static void *hmap_get(const struct hmap *m, const char *key)
{
	uint64_t h = hash_str(key);
	for (struct hnode *n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->next)
		if (n->hash == h && strcmp(n->key, key) == 0)
			return n->value;
	return NULL;
}

static void hmap_grow(struct hmap *m)
{
	size_t nb = m->nbuckets * 2;
	struct hnode **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* keep working with longer chains */
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hnode *n = m->buckets[i];
		while (n) {
			struct hnode *next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
			n = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

/* Insert or replace; returns 0 or -1 on allocation failure. */
static int hmap_put(struct hmap *m, const char *key, void *value)
{
	uint64_t h = hash_str(key);
	for (struct hnode *n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->next)
		if (n->hash == h && strcmp(n->key, key) == 0) {
			n->value = value;
			return 0;
		}
	struct hnode *n = malloc(sizeof(*n));
	if (!n || !(n->key = strdup(key))) {
		free(n);
		return -1;
	}
	n->hash = h;
	n->value = value;
	n->next = m->buckets[h & (m->nbuckets - 1)];
	m->buckets[h & (m->nbuckets - 1)] = n;
	if (++m->count > m->nbuckets)
		hmap_grow(m);
	return 0;
}

static void *hmap_remove(struct hmap *m, const char *key)
{
	uint64_t h = hash_str(key);
	struct hnode **pp = &m->buckets[h & (m->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next) {
		struct hnode *n = *pp;
		if (n->hash == h && strcmp(n->key, key) == 0) {
			void *v = n->value;
			*pp = n->next;
			free(n->key);
			free(n);
			m->count--;
			return v;
		}
	}
	return NULL;
}

static void hmap_clear(struct hmap *m, void (*free_value)(void *))
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hnode *n = m->buckets[i];
		while (n) {
			struct hnode *next = n->next;
			if (free_value)
				free_value(n->value);
			free(n->key);
			free(n);
			n = next;
		}
		m->buckets[i] = NULL;
	}
	m->count = 0;
}

static void hmap_destroy(struct hmap *m, void (*free_value)(void *))
{
	if (!m->buckets)
		return;
	hmap_clear(m, free_value);
	free(m->buckets);
	m->buckets = NULL;
}

/* ---------------------------------------------------------------------------
 * Store structures
 * ------------------------------------------------------------------------- */

struct coll;

struct entry {
	char *key;        /* type key \x1f namespace \x1f name */
	char *sort_key;   /* namespace/name, for ordered lists and paging */
	struct coll *coll;
	struct entry *prev, *next;
	struct ks_obj *obj;
};

/* The objects of one type in one namespace, for namespace-scoped lists
 * without scanning everything. */
struct coll {
	char *key;        /* type key \x1f namespace */
	char *namespace;
	struct entry *head;
	size_t count;
	struct coll *next_in_type;
	struct tstate *type_state;
};

struct tstate {
	char key[140];    /* group/resource */
	struct coll *colls;
	size_t count;
};

struct hist_event {
	uint64_t rv;
	enum ks_event_type type;
	const struct ks_resource_type *rt;
	struct ks_obj *obj;
	struct ks_obj *old;
};

struct ks_store {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	uint64_t rv;
	uint64_t hist_start; /* events with rv in (hist_start, rv] are retained */
	struct hist_event *hist;
	uint64_t epoch;      /* bumped by reset; open watches end */
	bool closing;

	struct hmap entries; /* entry key -> struct entry */
	struct hmap colls;   /* coll key -> struct coll */
	struct hmap tstates; /* type key -> struct tstate */
	size_t nobjects;

	struct ks_resource_type **types;
	size_t ntypes, types_cap;
	struct ks_resource_type **retired;
	size_t nretired, retired_cap;
	uint64_t types_epoch;

	ks_write_hook_fn write_hook;
	void *write_hook_payload;

	struct {
		ks_reset_hook_fn fn;
		void *payload;
	} reset_hooks[KS_RESET_HOOKS_MAX];
};

/* ---------------------------------------------------------------------------
 * Status objects
 * ------------------------------------------------------------------------- */

/* The last Status per thread. Kept behind a pthread key so it is freed when
 * a thread ends (the HTTP server runs one thread per connection). */
static pthread_key_t status_key;
static pthread_once_t status_once = PTHREAD_ONCE_INIT;

static void status_destroy(void *p)
{
	cJSON_Delete(p);
}

static void status_key_init(void)
{
	pthread_key_create(&status_key, status_destroy);
}

static cJSON *status_get(void)
{
	pthread_once(&status_once, status_key_init);
	return pthread_getspecific(status_key);
}

static void status_put(cJSON *status)
{
	pthread_once(&status_once, status_key_init);
	cJSON_Delete(pthread_getspecific(status_key));
	pthread_setspecific(status_key, status);
}

const cJSON *ks_status_last(void)
{
	return status_get();
}

int ks_status_last_code(void)
{
	const cJSON *st = status_get();
	const cJSON *c = st ? cJSON_GetObjectItemCaseSensitive(st, "code") : NULL;
	return cJSON_IsNumber(c) ? c->valueint : 500;
}

cJSON *ks_status_new(int http_code, const char *reason, const char *message,
	const struct ks_resource_type *type, const char *name)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "kind", "Status");
	cJSON_AddStringToObject(s, "apiVersion", "v1");
	cJSON_AddItemToObject(s, "metadata", cJSON_CreateObject());
	cJSON_AddStringToObject(s, "status", "Failure");
	cJSON_AddStringToObject(s, "message", message ? message : "");
	if (reason && *reason)
		cJSON_AddStringToObject(s, "reason", reason);
	if (type || name) {
		cJSON *d = cJSON_AddObjectToObject(s, "details");
		if (name)
			cJSON_AddStringToObject(d, "name", name);
		if (type) {
			if (type->group[0])
				cJSON_AddStringToObject(d, "group", type->group);
			cJSON_AddStringToObject(d, "kind", type->resource);
		}
	}
	cJSON_AddNumberToObject(s, "code", http_code);
	return s;
}

int ks_status_set(int code, cJSON *status)
{
	status_put(status);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(status, "message");
	return keelson_error_set(code, "%s", cJSON_IsString(m) ? m->valuestring : "error");
}

static void status_clear(void)
{
	if (status_get())
		status_put(NULL);
}

static int fail(int code, int http, const char *reason, const struct ks_resource_type *t,
	const char *name, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(int code, int http, const char *reason, const struct ks_resource_type *t,
	const char *name, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ks_status_set(code, ks_status_new(http, reason, msg, t, name));
}

static int fail_oom(void)
{
	return fail(KEELSON_ENOMEM, 500, "InternalError", NULL, NULL, "out of memory");
}

/* `<Kind>[.<group>] "<name>" is invalid: <field>: <detail>` with one cause. */
static int fail_invalid(const struct ks_resource_type *t, const char *name,
	const char *field, const char *cause_reason, const char *detail)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s%s%s \"%s\" is invalid: %s: %s", t->kind,
		t->group[0] ? "." : "", t->group, name ? name : "", field, detail);
	cJSON *s = ks_status_new(422, "Invalid", msg, NULL, NULL);
	cJSON *d = cJSON_AddObjectToObject(s, "details");
	cJSON_AddStringToObject(d, "name", name ? name : "");
	if (t->group[0])
		cJSON_AddStringToObject(d, "group", t->group);
	cJSON_AddStringToObject(d, "kind", t->kind);
	cJSON *causes = cJSON_AddArrayToObject(d, "causes");
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "reason", cause_reason);
	/* The cause message is the part after the field, as the API server
	 * prints it. */
	cJSON_AddStringToObject(c, "message", detail);
	cJSON_AddStringToObject(c, "field", field);
	cJSON_AddItemToArray(causes, c);
	return ks_status_set(KEELSON_EINVALID, s);
}

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

void ks_resource_type_api_version(const struct ks_resource_type *type, char *buf, size_t size)
{
	if (type->group[0])
		snprintf(buf, size, "%s/%s", type->group, type->api_version);
	else
		snprintf(buf, size, "%s", type->api_version);
}

void ks_resource_type_qualified(const struct ks_resource_type *type, char *buf, size_t size)
{
	if (type->group[0])
		snprintf(buf, size, "%s.%s", type->resource, type->group);
	else
		snprintf(buf, size, "%s", type->resource);
}

const char *ks_meta_string(const cJSON *object, const char *field)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, field);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void ks_uuid(char *buf)
{
	unsigned char b[16];
	static __thread unsigned int seed;
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(b, 1, sizeof(b), f) != sizeof(b)) {
		if (!seed)
			seed = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)&seed;
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)rand_r(&seed);
	}
	if (f)
		fclose(f);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(buf, 37,
		"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		b[12], b[13], b[14], b[15]);
}

const char *ks_event_type_name(enum ks_event_type type)
{
	switch (type) {
	case KS_EVENT_ADDED:
		return "ADDED";
	case KS_EVENT_MODIFIED:
		return "MODIFIED";
	case KS_EVENT_DELETED:
		return "DELETED";
	}
	return "ERROR";
}

static void type_key(const struct ks_resource_type *t, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", t->group, t->resource);
}

/* Entry key; returns 0 or -1 when too long (names are bounded by the HTTP
 * layer, so this only trips on garbage). */
static int entry_key(const struct ks_resource_type *t, const char *ns, const char *name,
	char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s\x1f%s\x1f%s", t->group, t->resource,
		t->namespaced && ns ? ns : "", name ? name : "");
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static cJSON *meta_of(cJSON *obj)
{
	cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (!cJSON_IsObject(m)) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "metadata");
		m = cJSON_AddObjectToObject(obj, "metadata");
	}
	return m;
}

static void set_string(cJSON *obj, const char *key, const char *value)
{
	cJSON *item = cJSON_CreateString(value);
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
	else
		cJSON_AddItemToObject(obj, key, item);
}

static void set_number(cJSON *obj, const char *key, double value)
{
	cJSON *item = cJSON_CreateNumber(value);
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
	else
		cJSON_AddItemToObject(obj, key, item);
}

static void set_item(cJSON *obj, const char *key, cJSON *item)
{
	if (!item) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
		return;
	}
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
	else
		cJSON_AddItemToObject(obj, key, item);
}

static void copy_field(cJSON *dst, const cJSON *src, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
	set_item(dst, key, v ? cJSON_Duplicate(v, 1) : NULL);
}

static void set_rv(cJSON *obj, uint64_t rv)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%" PRIu64, rv);
	set_string(meta_of(obj), "resourceVersion", buf);
}

static int64_t get_int(const cJSON *obj, const char *key, int64_t def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

static bool fields_equal(const cJSON *a, const cJSON *b, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, key);
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, key);
	if (!x || !y)
		return !x && !y;
	return cJSON_Compare(x, y, 1);
}

/* M6: whether an update from `old` to `new` bumps generation. */
static bool generation_changes(const struct ks_resource_type *t, const cJSON *old, const cJSON *nw)
{
	if (t->generation == KS_GEN_SPEC)
		return !fields_equal(old, nw, "spec");
	if (t->generation == KS_GEN_CUSTOM) {
		for (const cJSON *c = nw->child; c; c = c->next) {
			if (!strcmp(c->string, "metadata") || !strcmp(c->string, "apiVersion") ||
			    !strcmp(c->string, "kind"))
				continue;
			if ((t->subresources & KS_SUB_STATUS) && !strcmp(c->string, "status"))
				continue;
			if (!fields_equal(old, nw, c->string))
				return true;
		}
		for (const cJSON *c = old->child; c; c = c->next) {
			if (!strcmp(c->string, "metadata") || !strcmp(c->string, "apiVersion") ||
			    !strcmp(c->string, "kind"))
				continue;
			if ((t->subresources & KS_SUB_STATUS) && !strcmp(c->string, "status"))
				continue;
			if (!cJSON_GetObjectItemCaseSensitive(nw, c->string))
				return true;
		}
	}
	return false;
}

static bool string_in_array(const cJSON *arr, const char *s)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it) && !strcmp(it->valuestring, s))
			return true;
	return false;
}

static bool has_finalizers(const struct ks_resource_type *t, const cJSON *obj)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(meta, "finalizers")) > 0)
		return true;
	if (!t->group[0] && !strcmp(t->resource, "namespaces")) {
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
		if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(spec, "finalizers")) > 0)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------------
 * Registry
 * ------------------------------------------------------------------------- */

static const struct ks_resource_type *type_find_locked(struct ks_store *s, const char *group,
	const char *resource)
{
	for (size_t i = 0; i < s->ntypes; i++)
		if (!strcmp(s->types[i]->group, group) && !strcmp(s->types[i]->resource, resource))
			return s->types[i];
	return NULL;
}

const struct ks_resource_type *ks_store_type_find(struct ks_store *store, const char *group,
	const char *resource)
{
	if (!group || !resource)
		return NULL;
	pthread_mutex_lock(&store->lock);
	const struct ks_resource_type *t = type_find_locked(store, group, resource);
	pthread_mutex_unlock(&store->lock);
	return t;
}

const struct ks_resource_type *ks_store_type_find_kind(struct ks_store *store,
	const char *api_version, const char *kind)
{
	if (!api_version || !kind)
		return NULL;
	const struct ks_resource_type *found = NULL;
	pthread_mutex_lock(&store->lock);
	for (size_t i = 0; i < store->ntypes && !found; i++) {
		char av[160];
		ks_resource_type_api_version(store->types[i], av, sizeof(av));
		if (!strcmp(av, api_version) && !strcmp(store->types[i]->kind, kind))
			found = store->types[i];
	}
	pthread_mutex_unlock(&store->lock);
	return found;
}

int ks_store_type_foreach(struct ks_store *store,
	int (*fn)(const struct ks_resource_type *type, void *payload), void *payload)
{
	pthread_mutex_lock(&store->lock);
	size_t n = store->ntypes;
	const struct ks_resource_type **copy = malloc((n ? n : 1) * sizeof(*copy));
	if (!copy) {
		pthread_mutex_unlock(&store->lock);
		return fail_oom();
	}
	memcpy(copy, store->types, n * sizeof(*copy));
	pthread_mutex_unlock(&store->lock);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(copy[i], payload);
	free(copy);
	return rc;
}

uint64_t ks_store_types_epoch(struct ks_store *store)
{
	pthread_mutex_lock(&store->lock);
	uint64_t e = store->types_epoch;
	pthread_mutex_unlock(&store->lock);
	return e;
}

static void free_type(struct ks_resource_type *t)
{
	if (!t)
		return;
	for (int i = 0; i < KS_MAX_NAMES && t->short_names[i]; i++)
		free((char *)t->short_names[i]);
	for (int i = 0; i < KS_MAX_NAMES && t->categories[i]; i++)
		free((char *)t->categories[i]);
	for (int i = 0; i < KS_MAX_NAMES + 2 && t->verbs[i]; i++)
		free((char *)t->verbs[i]);
	cJSON_Delete(t->schema);
	cJSON_Delete(t->printer_columns);
	free(t);
}

static struct ks_resource_type *copy_type(const struct ks_resource_type *src)
{
	struct ks_resource_type *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	*t = *src;
	memset(t->short_names, 0, sizeof(t->short_names));
	memset(t->categories, 0, sizeof(t->categories));
	memset(t->verbs, 0, sizeof(t->verbs));
	t->schema = NULL;
	t->printer_columns = NULL;
	for (int i = 0; i < KS_MAX_NAMES - 1 && src->short_names[i]; i++)
		t->short_names[i] = strdup(src->short_names[i]);
	for (int i = 0; i < KS_MAX_NAMES - 1 && src->categories[i]; i++)
		t->categories[i] = strdup(src->categories[i]);
	for (int i = 0; i < KS_MAX_NAMES + 1 && src->verbs[i]; i++)
		t->verbs[i] = strdup(src->verbs[i]);
	if (src->schema)
		t->schema = cJSON_Duplicate(src->schema, 1);
	if (src->printer_columns)
		t->printer_columns = cJSON_Duplicate(src->printer_columns, 1);
	if (!t->list_kind[0])
		snprintf(t->list_kind, sizeof(t->list_kind), "%sList", t->kind);
	if (!t->api_version[0])
		snprintf(t->api_version, sizeof(t->api_version), "v1");
	t->version = KS_RESOURCE_TYPE_VERSION;
	t->served = true;
	return t;
}

static int grow(void ***arr, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 32;
	while (nc < need)
		nc *= 2;
	void **n = realloc(*arr, nc * sizeof(void *));
	if (!n)
		return -1;
	*arr = n;
	*cap = nc;
	return 0;
}

int ks_store_type_register(struct ks_store *store, const struct ks_resource_type *type)
{
	status_clear();
	if (!type || !type->resource[0] || !type->kind[0] || !type->api_version[0])
		return fail(KEELSON_EINVALID, 400, "BadRequest", NULL, NULL,
			"resource type needs a resource name, a kind and a version");
	struct ks_resource_type *t = copy_type(type);
	if (!t)
		return fail_oom();
	pthread_mutex_lock(&store->lock);
	int rc = 0;
	for (size_t i = 0; i < store->ntypes; i++) {
		struct ks_resource_type *old = store->types[i];
		if (!strcmp(old->group, t->group) && !strcmp(old->resource, t->resource)) {
			if (grow((void ***)&store->retired, &store->retired_cap, store->nretired + 1)) {
				rc = -1;
				goto out;
			}
			old->served = false;
			store->retired[store->nretired++] = old;
			store->types[i] = t;
			t = NULL;
			goto out;
		}
	}
	if (grow((void ***)&store->types, &store->types_cap, store->ntypes + 1)) {
		rc = -1;
		goto out;
	}
	store->types[store->ntypes++] = t;
	t = NULL;
out:
	if (rc == 0)
		store->types_epoch++;
	pthread_mutex_unlock(&store->lock);
	free_type(t);
	return rc ? fail_oom() : 0;
}

static void entry_free(void *p);
static void coll_free(void *p);
static void tstate_free(void *p);

/* Remove all objects of a type without events (callers delete them first). */
static void drop_type_objects_locked(struct ks_store *s, const char *tkey)
{
	struct tstate *ts = hmap_get(&s->tstates, tkey);
	if (!ts)
		return;
	for (struct coll *c = ts->colls; c;) {
		struct coll *cn = c->next_in_type;
		for (struct entry *e = c->head; e;) {
			struct entry *en = e->next;
			hmap_remove(&s->entries, e->key);
			s->nobjects--;
			entry_free(e);
			e = en;
		}
		hmap_remove(&s->colls, c->key);
		coll_free(c);
		c = cn;
	}
	hmap_remove(&s->tstates, tkey);
	tstate_free(ts);
}

int ks_store_type_unregister(struct ks_store *store, const char *group, const char *resource)
{
	status_clear();
	pthread_mutex_lock(&store->lock);
	for (size_t i = 0; i < store->ntypes; i++) {
		struct ks_resource_type *t = store->types[i];
		if (strcmp(t->group, group) || strcmp(t->resource, resource))
			continue;
		if (grow((void ***)&store->retired, &store->retired_cap, store->nretired + 1)) {
			pthread_mutex_unlock(&store->lock);
			return fail_oom();
		}
		char tkey[140];
		type_key(t, tkey, sizeof(tkey));
		drop_type_objects_locked(store, tkey);
		t->served = false;
		store->retired[store->nretired++] = t;
		memmove(&store->types[i], &store->types[i + 1],
			(store->ntypes - i - 1) * sizeof(*store->types));
		store->ntypes--;
		store->types_epoch++;
		pthread_mutex_unlock(&store->lock);
		return 0;
	}
	pthread_mutex_unlock(&store->lock);
	return fail(KEELSON_ENOTFOUND, 404, "NotFound", NULL, NULL,
		"the server could not find the requested resource (%s.%s)", resource, group);
}

void ks_store_set_write_hook(struct ks_store *store, ks_write_hook_fn fn, void *payload)
{
	pthread_mutex_lock(&store->lock);
	store->write_hook = fn;
	store->write_hook_payload = payload;
	pthread_mutex_unlock(&store->lock);
}

/* ---------------------------------------------------------------------------
 * Entries and history
 * ------------------------------------------------------------------------- */

static void entry_free(void *p)
{
	struct entry *e = p;
	if (!e)
		return;
	obj_unref(e->obj);
	free(e->key);
	free(e->sort_key);
	free(e);
}

static void coll_free(void *p)
{
	struct coll *c = p;
	if (!c)
		return;
	free(c->key);
	free(c->namespace);
	free(c);
}

static void tstate_free(void *p)
{
	free(p);
}

static struct entry *entry_find(struct ks_store *s, const struct ks_resource_type *t,
	const char *ns, const char *name)
{
	char key[1024];
	if (entry_key(t, ns, name, key, sizeof(key)))
		return NULL;
	return hmap_get(&s->entries, key);
}

/* Insert a new entry holding `obj` (reference taken over). */
static int entry_insert(struct ks_store *s, const struct ks_resource_type *t, const char *ns,
	const char *name, struct ks_obj *obj)
{
	char key[1024], ckey[600], tkey[140];
	if (entry_key(t, ns, name, key, sizeof(key)))
		return -1;
	const char *nsv = t->namespaced && ns ? ns : "";
	type_key(t, tkey, sizeof(tkey));
	snprintf(ckey, sizeof(ckey), "%s\x1f%s", tkey, nsv);
	struct tstate *ts = hmap_get(&s->tstates, tkey);
	if (!ts) {
		ts = calloc(1, sizeof(*ts));
		if (!ts)
			return -1;
		snprintf(ts->key, sizeof(ts->key), "%s", tkey);
		if (hmap_put(&s->tstates, tkey, ts)) {
			free(ts);
			return -1;
		}
	}
	struct coll *c = hmap_get(&s->colls, ckey);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c || !(c->key = strdup(ckey)) || !(c->namespace = strdup(nsv)) ||
		    hmap_put(&s->colls, ckey, c)) {
			coll_free(c);
			return -1;
		}
		c->type_state = ts;
		c->next_in_type = ts->colls;
		ts->colls = c;
	}
	struct entry *e = calloc(1, sizeof(*e));
	size_t sklen = strlen(nsv) + strlen(name) + 2;
	if (!e || !(e->key = strdup(key)) || !(e->sort_key = malloc(sklen))) {
		entry_free(e);
		return -1;
	}
	snprintf(e->sort_key, sklen, "%s/%s", nsv, name);
	if (hmap_put(&s->entries, key, e)) {
		entry_free(e);
		return -1;
	}
	e->obj = obj;
	e->coll = c;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	c->count++;
	ts->count++;
	s->nobjects++;
	return 0;
}

static void entry_remove(struct ks_store *s, struct entry *e)
{
	struct coll *c = e->coll;
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	c->count--;
	c->type_state->count--;
	hmap_remove(&s->entries, e->key);
	s->nobjects--;
	entry_free(e);
}

/* Append an event (references taken over) and wake watchers. */
static void history_append(struct ks_store *s, enum ks_event_type type,
	const struct ks_resource_type *t, struct ks_obj *obj, struct ks_obj *old)
{
	struct hist_event *slot = &s->hist[s->rv % KS_HISTORY];
	if (slot->obj) {
		obj_unref(slot->obj);
		obj_unref(slot->old);
	}
	slot->rv = s->rv;
	slot->type = type;
	slot->rt = t;
	slot->obj = obj;
	slot->old = old;
	if (s->rv - s->hist_start > KS_HISTORY - 1)
		s->hist_start = s->rv - (KS_HISTORY - 1);
	pthread_cond_broadcast(&s->changed);
}

static void history_clear(struct ks_store *s)
{
	for (size_t i = 0; i < KS_HISTORY; i++) {
		obj_unref(s->hist[i].obj);
		obj_unref(s->hist[i].old);
		memset(&s->hist[i], 0, sizeof(s->hist[i]));
	}
	s->hist_start = s->rv;
}

/* ---------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------- */

static int create_default_namespaces(struct ks_store *s)
{
	static const char *const names[] = {"default", "kube-system", "kube-public",
		"kube-node-lease"};
	const struct ks_resource_type *t = ks_store_type_find(s, "", "namespaces");
	if (!t)
		return keelson_error_set(KEELSON_ERROR, "namespaces type missing");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cJSON *ns = cJSON_CreateObject();
		cJSON_AddStringToObject(ns, "apiVersion", "v1");
		cJSON_AddStringToObject(ns, "kind", "Namespace");
		cJSON_AddStringToObject(cJSON_AddObjectToObject(ns, "metadata"), "name", names[i]);
		int rc = ks_store_create(s, t, NULL, ns, NULL, NULL);
		cJSON_Delete(ns);
		if (rc && rc != KEELSON_EEXISTS)
			return rc;
	}
	return 0;
}

int ks_store_new(struct ks_store **out)
{
	struct ks_store *s = calloc(1, sizeof(*s));
	if (!s)
		return fail_oom();
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->changed, &ca);
	pthread_condattr_destroy(&ca);
	s->hist = calloc(KS_HISTORY, sizeof(*s->hist));
	/* Start above 0: clients treat RV "0" as "any", so no object may have
	 * it, and small numbers look like a fresh cluster. */
	s->rv = 1;
	s->hist_start = 1;
	if (!s->hist || hmap_init(&s->entries) || hmap_init(&s->colls) || hmap_init(&s->tstates)) {
		ks_store_free(s);
		return fail_oom();
	}
	int rc = ks_builtin_types_register(s);
	if (rc == 0)
		rc = create_default_namespaces(s);
	if (rc) {
		ks_store_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

static void clear_objects_locked(struct ks_store *s)
{
	hmap_clear(&s->entries, entry_free);
	hmap_clear(&s->colls, coll_free);
	hmap_clear(&s->tstates, tstate_free);
	s->nobjects = 0;
}

void ks_store_free(struct ks_store *store)
{
	if (!store)
		return;
	pthread_mutex_lock(&store->lock);
	store->closing = true;
	pthread_cond_broadcast(&store->changed);
	pthread_mutex_unlock(&store->lock);
	if (store->hist)
		history_clear(store);
	free(store->hist);
	hmap_destroy(&store->entries, entry_free);
	hmap_destroy(&store->colls, coll_free);
	hmap_destroy(&store->tstates, tstate_free);
	for (size_t i = 0; i < store->ntypes; i++)
		free_type(store->types[i]);
	for (size_t i = 0; i < store->nretired; i++)
		free_type(store->retired[i]);
	free(store->types);
	free(store->retired);
	pthread_cond_destroy(&store->changed);
	pthread_mutex_destroy(&store->lock);
	free(store);
}

void ks_store_reset(struct ks_store *store)
{
	pthread_mutex_lock(&store->lock);
	clear_objects_locked(store);
	history_clear(store);
	for (size_t i = 0; i < store->ntypes;) {
		struct ks_resource_type *t = store->types[i];
		if (t->custom && !grow((void ***)&store->retired, &store->retired_cap,
			store->nretired + 1)) {
			t->served = false;
			store->retired[store->nretired++] = t;
			memmove(&store->types[i], &store->types[i + 1],
				(store->ntypes - i - 1) * sizeof(*store->types));
			store->ntypes--;
			continue;
		}
		i++;
	}
	store->types_epoch++;
	store->epoch++;
	pthread_cond_broadcast(&store->changed);
	/* Called outside the lock (hooks write to the store); a copy, so a hook
	 * removed meanwhile is at worst called once more. */
	__typeof__(store->reset_hooks) hooks;
	memcpy(hooks, store->reset_hooks, sizeof(hooks));
	pthread_mutex_unlock(&store->lock);
	create_default_namespaces(store);
	for (size_t i = 0; i < KS_RESET_HOOKS_MAX; i++)
		if (hooks[i].fn)
			hooks[i].fn(store, hooks[i].payload);
}

int ks_store_add_reset_hook(struct ks_store *store, ks_reset_hook_fn fn, void *payload)
{
	bool added = false;
	pthread_mutex_lock(&store->lock);
	for (size_t i = 0; i < KS_RESET_HOOKS_MAX && !added; i++) {
		if (!store->reset_hooks[i].fn) {
			store->reset_hooks[i].fn = fn;
			store->reset_hooks[i].payload = payload;
			added = true;
		}
	}
	pthread_mutex_unlock(&store->lock);
	return added ? 0 : keelson_error_set(KEELSON_ELIMIT,
		"more than %d kubesim reset hooks registered", KS_RESET_HOOKS_MAX);
}

void ks_store_remove_reset_hook(struct ks_store *store, ks_reset_hook_fn fn, void *payload)
{
	pthread_mutex_lock(&store->lock);
	for (size_t i = 0; i < KS_RESET_HOOKS_MAX; i++) {
		if (store->reset_hooks[i].fn == fn && store->reset_hooks[i].payload == payload) {
			store->reset_hooks[i].fn = NULL;
			store->reset_hooks[i].payload = NULL;
		}
	}
	pthread_mutex_unlock(&store->lock);
}

uint64_t ks_store_current_rv(struct ks_store *store)
{
	pthread_mutex_lock(&store->lock);
	uint64_t rv = store->rv;
	pthread_mutex_unlock(&store->lock);
	return rv;
}

size_t ks_store_count(struct ks_store *store)
{
	pthread_mutex_lock(&store->lock);
	size_t n = store->nobjects;
	pthread_mutex_unlock(&store->lock);
	return n;
}

/* ---------------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------------- */

static int not_found(const struct ks_resource_type *t, const char *name)
{
	char q[200];
	ks_resource_type_qualified(t, q, sizeof(q));
	return fail(KEELSON_ENOTFOUND, 404, "NotFound", t, name, "%s \"%s\" not found", q,
		name ? name : "");
}

int ks_store_get(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const char *name, cJSON **out)
{
	status_clear();
	pthread_mutex_lock(&store->lock);
	struct entry *e = entry_find(store, type, namespace, name);
	struct ks_obj *o = e ? obj_ref(e->obj) : NULL;
	pthread_mutex_unlock(&store->lock);
	if (!o)
		return not_found(type, name);
	*out = cJSON_Duplicate(o->json, 1);
	obj_unref(o);
	return *out ? 0 : fail_oom();
}

int ks_store_get_text(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const char *name, char **out)
{
	status_clear();
	pthread_mutex_lock(&store->lock);
	struct entry *e = entry_find(store, type, namespace, name);
	struct ks_obj *o = e ? obj_ref(e->obj) : NULL;
	pthread_mutex_unlock(&store->lock);
	if (!o)
		return not_found(type, name);
	*out = strdup(o->text);
	obj_unref(o);
	return *out ? 0 : fail_oom();
}

struct list_item {
	const char *sort_key;
	struct ks_obj *obj;
};

static int cmp_items(const void *a, const void *b)
{
	return strcmp(((const struct list_item *)a)->sort_key,
		((const struct list_item *)b)->sort_key);
}

int ks_store_list(struct ks_store *store, const struct ks_resource_type *type,
	const struct ks_list_options *options, struct ks_list_result *out)
{
	status_clear();
	memset(out, 0, sizeof(*out));
	const char *ns = options && options->namespace && options->namespace[0] &&
			type->namespaced ? options->namespace : NULL;
	char tkey[140];
	type_key(type, tkey, sizeof(tkey));

	pthread_mutex_lock(&store->lock);
	out->resource_version = store->rv;
	struct tstate *ts = hmap_get(&store->tstates, tkey);
	size_t cap = 0;
	struct coll *only = NULL;
	if (ns) {
		char ckey[600];
		snprintf(ckey, sizeof(ckey), "%s\x1f%s", tkey, ns);
		only = hmap_get(&store->colls, ckey);
		cap = only ? only->count : 0;
	} else {
		cap = ts ? ts->count : 0;
	}
	struct list_item *items = malloc((cap ? cap : 1) * sizeof(*items));
	if (!items) {
		pthread_mutex_unlock(&store->lock);
		return fail_oom();
	}
	size_t n = 0;
	/* Sort keys are copied so the lock can be released before sorting. */
	for (struct coll *c = ns ? only : (ts ? ts->colls : NULL); c;
	     c = ns ? NULL : c->next_in_type)
		for (struct entry *e = c->head; e && n < cap; e = e->next) {
			items[n].sort_key = strdup(e->sort_key);
			items[n].obj = obj_ref(e->obj);
			n++;
		}
	pthread_mutex_unlock(&store->lock);

	qsort(items, n, sizeof(*items), cmp_items);
	out->items = cJSON_CreateArray();
	size_t added = 0, remaining = 0;
	const char *after = options ? options->continue_after : NULL;
	size_t limit = options ? options->limit : 0;
	const char *last_key = NULL;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (after && strcmp(items[i].sort_key, after) <= 0)
			continue;
		if (options && options->filter &&
		    !options->filter(items[i].obj->json, options->filter_payload))
			continue;
		if (limit && added >= limit) {
			remaining++;
			continue;
		}
		cJSON *copy = cJSON_Duplicate(items[i].obj->json, 1);
		if (!copy) {
			rc = fail_oom();
			break;
		}
		cJSON_AddItemToArray(out->items, copy);
		added++;
		last_key = items[i].sort_key;
	}
	if (rc == 0 && remaining && last_key)
		out->continue_after = strdup(last_key);
	out->remaining = remaining;
	for (size_t i = 0; i < n; i++) {
		free((char *)items[i].sort_key);
		obj_unref(items[i].obj);
	}
	free(items);
	if (rc)
		ks_list_result_clear(out);
	return rc;
}

void ks_list_result_clear(struct ks_list_result *result)
{
	if (!result)
		return;
	cJSON_Delete(result->items);
	free(result->continue_after);
	memset(result, 0, sizeof(*result));
}

/* ---------------------------------------------------------------------------
 * Writes
 * ------------------------------------------------------------------------- */

static bool valid_dns_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-' && c != '.')
			return false;
		if ((i == 0 || i == n - 1) && !alnum)
			return false;
	}
	return true;
}

static void random_suffix(char *buf, size_t n)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	char uuid[40];
	ks_uuid(uuid);
	for (size_t i = 0; i < n; i++)
		buf[i] = alphabet[(unsigned char)uuid[i * 2 + (i > 3)] % (sizeof(alphabet) - 1)];
	buf[n] = 0;
}

static const struct ks_write_options default_write_options = {
	.version = KS_WRITE_OPTIONS_VERSION,
};

/* Namespace lifecycle admission (M4), under the lock. */
static int check_namespace_locked(struct ks_store *s, const struct ks_resource_type *t,
	const char *ns, const char *name)
{
	if (!t->namespaced)
		return 0;
	const struct ks_resource_type *nst = type_find_locked(s, "", "namespaces");
	struct entry *e = nst ? entry_find(s, nst, NULL, ns) : NULL;
	if (!e)
		return fail(KEELSON_ENOTFOUND, 404, "NotFound", nst, ns, "namespaces \"%s\" not found",
			ns);
	if (ks_meta_string(e->obj->json, "deletionTimestamp")) {
		char q[200], msg[600];
		ks_resource_type_qualified(t, q, sizeof(q));
		snprintf(msg, sizeof(msg),
			"%s \"%s\" is forbidden: unable to create new content in namespace %s because it is being terminated",
			q, name, ns);
		cJSON *st = ks_status_new(403, "Forbidden", msg, t, name);
		cJSON *d = cJSON_GetObjectItemCaseSensitive(st, "details");
		cJSON *causes = cJSON_AddArrayToObject(d, "causes");
		cJSON *c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "reason", "NamespaceTerminating");
		char cm[300];
		snprintf(cm, sizeof(cm), "namespace %s is being terminated", ns);
		cJSON_AddStringToObject(c, "message", cm);
		cJSON_AddStringToObject(c, "field", "metadata.namespace");
		cJSON_AddItemToArray(causes, c);
		return ks_status_set(KEELSON_EINVALID, st);
	}
	return 0;
}

static int run_hook_locked(struct ks_store *s, const struct ks_resource_type *t,
	const cJSON *old, cJSON *nw, const struct ks_write_options *o)
{
	if (!s->write_hook)
		return 0;
	return s->write_hook(t, old, nw, o, s->write_hook_payload);
}

int ks_store_create(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const cJSON *object,
	const struct ks_write_options *options, cJSON **out)
{
	status_clear();
	const struct ks_write_options *o = options ? options : &default_write_options;
	if (!cJSON_IsObject(object))
		return fail(KEELSON_EINVALID, 400, "BadRequest", NULL, NULL,
			"the body of the request was not a JSON object");
	cJSON *obj = cJSON_Duplicate(object, 1);
	if (!obj)
		return fail_oom();
	cJSON *meta = meta_of(obj);
	char av[160];
	ks_resource_type_api_version(type, av, sizeof(av));
	set_string(obj, "apiVersion", av);
	set_string(obj, "kind", type->kind);

	const char *body_ns = ks_meta_string(obj, "namespace");
	const char *ns = NULL;
	if (type->namespaced) {
		if (namespace && *namespace && body_ns && *body_ns && strcmp(namespace, body_ns)) {
			cJSON_Delete(obj);
			return fail(KEELSON_EINVALID, 400, "BadRequest", NULL, NULL,
				"the namespace of the provided object does not match the namespace sent on the request");
		}
		ns = namespace && *namespace ? namespace : body_ns;
		if (!ns || !*ns)
			ns = "default";
		set_string(meta, "namespace", ns);
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
	}

	int rc = 0;
	char namebuf[300];
	const char *name = ks_meta_string(obj, "name");
	const char *gen_name = ks_meta_string(obj, "generateName");
	if ((!name || !*name) && gen_name && *gen_name) {
		char sfx[8];
		random_suffix(sfx, 5);
		snprintf(namebuf, sizeof(namebuf), "%.247s%s", gen_name, sfx);
		set_string(meta, "name", namebuf);
		name = ks_meta_string(obj, "name");
	}
	if (!name || !*name) {
		rc = fail_invalid(type, "", "metadata.name", "FieldValueRequired",
			"Required value: name or generateName is required");
		goto done;
	}
	if (!valid_dns_subdomain(name)) {
		char detail[700];
		snprintf(detail, sizeof(detail),
			"Invalid value: \"%.253s\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
			name);
		rc = fail_invalid(type, name, "metadata.name", "FieldValueInvalid", detail);
		goto done;
	}
	snprintf(namebuf, sizeof(namebuf), "%s", name);
	name = namebuf;

	/* Server-owned metadata is never taken from a create body. */
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "uid");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "creationTimestamp");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionTimestamp");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionGracePeriodSeconds");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "generation");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "selfLink");
	if (type->subresources & KS_SUB_STATUS)
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	if (type->apply_defaults)
		type->apply_defaults(obj);
	meta = meta_of(obj);
	char uid[40], ts[KS_TIME_BUF];
	ks_uuid(uid);
	set_string(meta, "uid", uid);
	set_string(meta, "creationTimestamp", ks_clock_format(ks_clock_now(), ts));
	if (type->generation != KS_GEN_NONE)
		set_number(meta, "generation", 1);

	pthread_mutex_lock(&store->lock);
	if (!type->namespaced || strcmp(type->resource, "namespaces") || type->group[0])
		rc = check_namespace_locked(store, type, ns, name);
	if (rc == 0 && entry_find(store, type, ns, name)) {
		char q[200];
		ks_resource_type_qualified(type, q, sizeof(q));
		rc = fail(KEELSON_EEXISTS, 409, "AlreadyExists", type, name,
			"%s \"%s\" already exists", q, name);
	}
	if (rc == 0)
		rc = run_hook_locked(store, type, NULL, obj, o);
	if (rc == 0 && !o->dry_run) {
		set_rv(obj, store->rv + 1);
		struct ks_obj *so = obj_new(cJSON_Duplicate(obj, 1));
		if (!so || entry_insert(store, type, ns, name, so)) {
			obj_unref(so);
			rc = fail_oom();
		} else {
			store->rv++;
			history_append(store, KS_EVENT_ADDED, type, obj_ref(so), NULL);
		}
	}
	pthread_mutex_unlock(&store->lock);
done:
	if (rc == 0 && out)
		*out = obj;
	else
		cJSON_Delete(obj);
	return rc;
}

/* Shared by update and modify: `nw` (owned) is the requested new state of
 * entry `e`; applies M5/M6/M7/M13 rules and commits. Under the lock. */
static int commit_update_locked(struct ks_store *s, const struct ks_resource_type *t,
	struct entry *e, cJSON *nw, const struct ks_write_options *o, bool rv_checked,
	cJSON **out)
{
	const cJSON *old = e->obj->json;
	const char *name = ks_meta_string(old, "name");
	int rc = 0;
	cJSON *meta = meta_of(nw);

	if (!rv_checked) {
		const char *rv = ks_meta_string(nw, "resourceVersion");
		if (rv && *rv) {
			if (strcmp(rv, ks_meta_string(old, "resourceVersion"))) {
				char q[200];
				ks_resource_type_qualified(t, q, sizeof(q));
				rc = fail(KEELSON_ECONFLICT, 409, "Conflict", t, name,
					"Operation cannot be fulfilled on %s \"%s\": the object has been modified; please apply your changes to the latest version and try again",
					q, name);
				goto out;
			}
		} else if (t->custom) {
			rc = fail_invalid(t, name, "metadata.resourceVersion", "FieldValueInvalid",
				"Invalid value: 0x0: must be specified for an update");
			goto out;
		}
	}

	const char *uid = ks_meta_string(nw, "uid");
	if (uid && *uid && strcmp(uid, ks_meta_string(old, "uid") ? ks_meta_string(old, "uid") : "")) {
		char q[200];
		ks_resource_type_qualified(t, q, sizeof(q));
		rc = fail(KEELSON_ECONFLICT, 409, "Conflict", t, name,
			"Operation cannot be fulfilled on %s \"%s\": Precondition failed: UID in precondition: %s, UID in object meta: %s",
			q, name, uid, ks_meta_string(old, "uid"));
		goto out;
	}

	const cJSON *old_meta = cJSON_GetObjectItemCaseSensitive(old, "metadata");
	bool status_sub = o->subresource && !strcmp(o->subresource, "status");
	if (status_sub) {
		/* Status writes take only status (and, for built-ins, labels and
		 * annotations); everything else comes from the stored object. */
		cJSON *merged = cJSON_Duplicate(old, 1);
		copy_field(merged, nw, "status");
		cJSON *mm = meta_of(merged);
		copy_field(mm, meta, "managedFields");
		if (!t->custom) {
			copy_field(mm, meta, "labels");
			copy_field(mm, meta, "annotations");
		}
		cJSON_Delete(nw);
		nw = merged;
		meta = mm;
	} else {
		if (t->subresources & KS_SUB_STATUS)
			copy_field(nw, old, "status");
		if (t->apply_defaults)
			t->apply_defaults(nw);
		meta = meta_of(nw);
	}
	char av[160];
	ks_resource_type_api_version(t, av, sizeof(av));
	set_string(nw, "apiVersion", av);
	set_string(nw, "kind", t->kind);
	static const char *const kept[] = {"name", "namespace", "uid", "creationTimestamp",
		"deletionTimestamp", "deletionGracePeriodSeconds", "generation", "resourceVersion"};
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		copy_field(meta, old_meta, kept[i]);
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "selfLink");

	bool deleting = ks_meta_string(old, "deletionTimestamp") != NULL;
	if (deleting) {
		const cJSON *of = cJSON_GetObjectItemCaseSensitive(old_meta, "finalizers");
		const cJSON *nf = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
		const cJSON *it;
		cJSON_ArrayForEach(it, nf) {
			if (cJSON_IsString(it) && !string_in_array(of, it->valuestring)) {
				char detail[400];
				snprintf(detail, sizeof(detail),
					"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"%.200s\"}",
					it->valuestring);
				rc = fail_invalid(t, name, "metadata.finalizers", "FieldValueForbidden",
					detail);
				goto out;
			}
		}
	}

	if (o->validate && !status_sub) {
		char field[64], detail[600];
		if (ks_validate_update(t, old, nw, field, sizeof(field), detail, sizeof(detail))) {
			rc = fail_invalid(t, name, field, "FieldValueForbidden", detail);
			goto out;
		}
	}

	if (!status_sub && t->generation != KS_GEN_NONE && generation_changes(t, old, nw))
		set_number(meta, "generation", (double)(get_int(old_meta, "generation", 0) + 1));

	rc = run_hook_locked(s, t, old, nw, o);
	if (rc)
		goto out;

	/* An update that leaves managedFields out keeps the stored ones, as
	 * the API server does (the hook already does so for writes it records). */
	if (!cJSON_GetObjectItemCaseSensitive(meta_of(nw), "managedFields"))
		copy_field(meta_of(nw), old_meta, "managedFields");
	/* M5: nothing changed, nothing written. managedFields count: a write
	 * that only changes them (a second manager sharing a value, kubectl
	 * migrating client-side apply ownership) is a real write. The
	 * managedFields library leaves them byte-identical, times included,
	 * when nothing else changed. */
	if (cJSON_Compare(old, nw, 1)) {
		cJSON_Delete(nw);
		nw = cJSON_Duplicate(old, 1);
		goto out;
	}
	if (o->dry_run)
		goto out;

	bool finish_delete = deleting && !has_finalizers(t, nw) &&
		get_int(meta, "deletionGracePeriodSeconds", 0) == 0;
	s->rv++;
	set_rv(nw, s->rv);
	struct ks_obj *so = obj_new(cJSON_Duplicate(nw, 1));
	if (!so) {
		s->rv--;
		rc = fail_oom();
		goto out;
	}
	struct ks_obj *prev = e->obj;
	if (finish_delete) {
		e->obj = NULL;
		entry_remove(s, e);
		history_append(s, KS_EVENT_DELETED, t, so, prev);
	} else {
		e->obj = so;
		history_append(s, KS_EVENT_MODIFIED, t, obj_ref(so), prev);
	}
out:
	if (rc == 0 && out)
		*out = nw;
	else
		cJSON_Delete(nw);
	return rc;
}

int ks_store_update(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const cJSON *object,
	const struct ks_write_options *options, cJSON **out)
{
	status_clear();
	const struct ks_write_options *o = options ? options : &default_write_options;
	if (!cJSON_IsObject(object))
		return fail(KEELSON_EINVALID, 400, "BadRequest", NULL, NULL,
			"the body of the request was not a JSON object");
	const char *name = ks_meta_string(object, "name");
	const char *body_ns = ks_meta_string(object, "namespace");
	const char *ns = type->namespaced ? (namespace && *namespace ? namespace : body_ns) : NULL;
	if (type->namespaced && body_ns && *body_ns && ns && strcmp(ns, body_ns))
		return fail(KEELSON_EINVALID, 400, "BadRequest", NULL, NULL,
			"the namespace of the provided object does not match the namespace sent on the request");
	if (!name || !*name)
		return fail_invalid(type, "", "metadata.name", "FieldValueRequired",
			"Required value: name or generateName is required");
	cJSON *nw = cJSON_Duplicate(object, 1);
	if (!nw)
		return fail_oom();
	pthread_mutex_lock(&store->lock);
	struct entry *e = entry_find(store, type, ns, name);
	int rc;
	if (!e) {
		cJSON_Delete(nw);
		rc = not_found(type, name);
	} else {
		rc = commit_update_locked(store, type, e, nw, o, false, out);
	}
	pthread_mutex_unlock(&store->lock);
	return rc;
}

int ks_store_modify(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const char *name, ks_mutate_fn fn, void *payload,
	const struct ks_write_options *options, cJSON **out)
{
	status_clear();
	const struct ks_write_options *o = options ? options : &default_write_options;
	pthread_mutex_lock(&store->lock);
	struct entry *e = entry_find(store, type, namespace, name);
	int rc;
	if (!e) {
		rc = not_found(type, name);
		goto out;
	}
	cJSON *nw = cJSON_Duplicate(e->obj->json, 1);
	if (!nw) {
		rc = fail_oom();
		goto out;
	}
	rc = fn(nw, payload);
	if (rc) {
		cJSON_Delete(nw);
		goto out;
	}
	if (!cJSON_IsObject(nw)) {
		cJSON_Delete(nw);
		rc = fail(KEELSON_EINVALID, 422, "Invalid", type, name,
			"the patched object is not a JSON object");
		goto out;
	}
	/* A resourceVersion removed by the mutation means "unconditional"; keep
	 * the stored one so custom resources do not demand it. */
	if (!ks_meta_string(nw, "resourceVersion") || !*ks_meta_string(nw, "resourceVersion"))
		set_string(meta_of(nw), "resourceVersion", ks_meta_string(e->obj->json,
			"resourceVersion"));
	const char *nname = ks_meta_string(nw, "name");
	if (!nname || strcmp(nname, name)) {
		cJSON_Delete(nw);
		rc = fail_invalid(type, name, "metadata.name", "FieldValueInvalid",
			"Invalid value: the name of the object cannot be changed");
		goto out;
	}
	rc = commit_update_locked(store, type, e, nw, o, false, out);
out:
	pthread_mutex_unlock(&store->lock);
	return rc;
}

static void add_finalizer(cJSON *meta, const char *f)
{
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
	if (!cJSON_IsArray(arr)) {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
		arr = cJSON_AddArrayToObject(meta, "finalizers");
	}
	if (!string_in_array(arr, f))
		cJSON_AddItemToArray(arr, cJSON_CreateString(f));
}

static const struct ks_delete_options default_delete_options = {
	.version = KS_DELETE_OPTIONS_VERSION,
};

/* M13 pod grace: option, else spec value (default 30); 0 when unscheduled
 * or finished; negative -> 1. */
static int64_t pod_grace(const cJSON *pod, const struct ks_delete_options *o)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(pod, "status");
	int64_t g = o->has_grace_period ? o->grace_period_seconds
		: get_int(spec, "terminationGracePeriodSeconds", 30);
	const cJSON *node = cJSON_GetObjectItemCaseSensitive(spec, "nodeName");
	const cJSON *phase = cJSON_GetObjectItemCaseSensitive(status, "phase");
	if (!cJSON_IsString(node) || !*node->valuestring)
		return 0;
	if (cJSON_IsString(phase) && (!strcmp(phase->valuestring, "Succeeded") ||
		!strcmp(phase->valuestring, "Failed")))
		return 0;
	if (g < 0)
		g = 1;
	return g;
}

int ks_store_delete(struct ks_store *store, const struct ks_resource_type *type,
	const char *namespace, const char *name,
	const struct ks_delete_options *options, cJSON **out, bool *out_removed)
{
	status_clear();
	const struct ks_delete_options *o = options ? options : &default_delete_options;
	int rc = 0;
	cJSON *nw = NULL;
	bool removed = false;
	char q[200];
	ks_resource_type_qualified(type, q, sizeof(q));
	pthread_mutex_lock(&store->lock);
	struct entry *e = entry_find(store, type, namespace, name);
	if (!e) {
		rc = not_found(type, name);
		goto out;
	}
	const cJSON *old = e->obj->json;
	if (o->precondition_uid && strcmp(o->precondition_uid, ks_meta_string(old, "uid"))) {
		rc = fail(KEELSON_ECONFLICT, 409, "Conflict", type, name,
			"Operation cannot be fulfilled on %s \"%s\": Precondition failed: UID in precondition: %s, UID in object meta: %s",
			q, name, o->precondition_uid, ks_meta_string(old, "uid"));
		goto out;
	}
	if (o->precondition_rv &&
	    strcmp(o->precondition_rv, ks_meta_string(old, "resourceVersion"))) {
		rc = fail(KEELSON_ECONFLICT, 409, "Conflict", type, name,
			"Operation cannot be fulfilled on %s \"%s\": Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s",
			q, name, o->precondition_rv, ks_meta_string(old, "resourceVersion"));
		goto out;
	}
	nw = cJSON_Duplicate(old, 1);
	if (!nw) {
		rc = fail_oom();
		goto out;
	}
	cJSON *meta = meta_of(nw);
	bool is_pod = !type->group[0] && !strcmp(type->resource, "pods");
	bool is_ns = !type->group[0] && !strcmp(type->resource, "namespaces");
	bool already = ks_meta_string(old, "deletionTimestamp") != NULL;
	int64_t grace = is_pod ? pod_grace(old, o) : 0;
	double now = ks_clock_now();
	char ts[KS_TIME_BUF];

	if (o->propagation == KS_PROPAGATION_FOREGROUND)
		add_finalizer(meta, "foregroundDeletion");
	else if (o->propagation == KS_PROPAGATION_ORPHAN)
		add_finalizer(meta, "orphan");
	if (is_ns) {
		cJSON *status = cJSON_GetObjectItemCaseSensitive(nw, "status");
		if (!cJSON_IsObject(status)) {
			cJSON_DeleteItemFromObjectCaseSensitive(nw, "status");
			status = cJSON_AddObjectToObject(nw, "status");
		}
		set_string(status, "phase", "Terminating");
	}

	bool pending = has_finalizers(type, nw) || grace > 0;
	if (already) {
		int64_t cur = get_int(meta, "deletionGracePeriodSeconds", 0);
		if (is_pod && grace < cur) {
			set_number(meta, "deletionGracePeriodSeconds", (double)grace);
			set_string(meta, "deletionTimestamp", ks_clock_format(now + (double)grace, ts));
		}
		pending = has_finalizers(type, nw) || get_int(meta, "deletionGracePeriodSeconds", 0) > 0;
	} else if (pending) {
		set_string(meta, "deletionTimestamp", ks_clock_format(now + (double)grace, ts));
		set_number(meta, "deletionGracePeriodSeconds", (double)grace);
		int64_t gen = get_int(meta, "generation", 0);
		if (gen > 0)
			set_number(meta, "generation", (double)(gen + 1));
	}

	if (o->dry_run) {
		removed = !pending;
		goto out;
	}
	if (pending) {
		if (cJSON_Compare(old, nw, 1))
			goto out; /* deleting again changes nothing */
		store->rv++;
		set_rv(nw, store->rv);
		struct ks_obj *so = obj_new(cJSON_Duplicate(nw, 1));
		if (!so) {
			store->rv--;
			rc = fail_oom();
			goto out;
		}
		struct ks_obj *prev = e->obj;
		e->obj = so;
		history_append(store, KS_EVENT_MODIFIED, type, obj_ref(so), prev);
	} else {
		store->rv++;
		set_rv(nw, store->rv);
		struct ks_obj *so = obj_new(cJSON_Duplicate(nw, 1));
		if (!so) {
			store->rv--;
			rc = fail_oom();
			goto out;
		}
		struct ks_obj *prev = e->obj;
		e->obj = NULL;
		entry_remove(store, e);
		history_append(store, KS_EVENT_DELETED, type, so, prev);
		removed = true;
	}
out:
	pthread_mutex_unlock(&store->lock);
	if (rc == 0) {
		if (out_removed)
			*out_removed = removed;
		if (out) {
			*out = nw;
			nw = NULL;
		}
	}
	cJSON_Delete(nw);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Watch
 * ------------------------------------------------------------------------- */

struct ks_watch {
	struct ks_store *store;
	char type_key[140];     /* "" = every type */
	char **type_keys;       /* controllers: several types; NULL = use type_key */
	size_t ntype_keys;
	char namespace[256];
	uint64_t cursor;        /* last RV examined */
	uint64_t epoch;
	bool interrupted;
};

static bool watch_matches(const struct ks_watch *w, const struct hist_event *ev)
{
	char tkey[140];
	type_key(ev->rt, tkey, sizeof(tkey));
	if (w->type_keys) {
		bool any = false;
		for (size_t i = 0; i < w->ntype_keys && !any; i++)
			any = !strcmp(w->type_keys[i], "*") || !strcmp(w->type_keys[i], tkey);
		if (!any)
			return false;
	} else if (w->type_key[0] && strcmp(w->type_key, tkey)) {
		return false;
	}
	if (w->namespace[0]) {
		const char *ns = ks_meta_string(ev->obj->json, "namespace");
		if (!ns || strcmp(ns, w->namespace))
			return false;
	}
	return true;
}

int ks_watch_open(struct ks_store *store, const struct ks_watch_options *options,
	struct ks_watch **out)
{
	status_clear();
	struct ks_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return fail_oom();
	w->store = store;
	if (options && options->type)
		type_key(options->type, w->type_key, sizeof(w->type_key));
	if (options && options->namespace)
		snprintf(w->namespace, sizeof(w->namespace), "%s", options->namespace);
	pthread_mutex_lock(&store->lock);
	w->epoch = store->epoch;
	uint64_t since = options ? options->since_rv : 0;
	if (since == 0 || since > store->rv) {
		w->cursor = store->rv;
	} else if (since < store->hist_start) {
		uint64_t cur = store->rv;
		pthread_mutex_unlock(&store->lock);
		free(w);
		return fail(KEELSON_ELIMIT, 410, "Expired", NULL, NULL,
			"too old resource version: %" PRIu64 " (%" PRIu64 ")", since, cur);
	} else {
		w->cursor = since;
	}
	pthread_mutex_unlock(&store->lock);
	*out = w;
	return 0;
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int ks_watch_next(struct ks_watch *w, int timeout_ms, struct ks_event *event)
{
	struct ks_store *s = w->store;
	struct timespec deadline;
	if (timeout_ms > 0)
		deadline_after(&deadline, timeout_ms);
	memset(event, 0, sizeof(*event));
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (w->interrupted || s->closing || w->epoch != s->epoch) {
			pthread_mutex_unlock(&s->lock);
			return keelson_error_set(KEELSON_ENOTFOUND, "watch closed");
		}
		if (w->cursor < s->hist_start) {
			uint64_t cur = s->rv, pos = w->cursor;
			pthread_mutex_unlock(&s->lock);
			return fail(KEELSON_ELIMIT, 410, "Expired", NULL, NULL,
				"too old resource version: %" PRIu64 " (%" PRIu64 ")", pos, cur);
		}
		while (w->cursor < s->rv) {
			struct hist_event *ev = &s->hist[(w->cursor + 1) % KS_HISTORY];
			w->cursor++;
			if (ev->rv != w->cursor || !ev->obj || !watch_matches(w, ev))
				continue;
			event->type = ev->type;
			event->resource_type = ev->rt;
			event->resource_version = ev->rv;
			struct ks_obj **refs = malloc(2 * sizeof(*refs));
			if (!refs) {
				pthread_mutex_unlock(&s->lock);
				return fail_oom();
			}
			refs[0] = obj_ref(ev->obj);
			refs[1] = obj_ref(ev->old);
			event->object = refs[0]->json;
			event->object_text = refs[0]->text;
			event->old_object = refs[1] ? refs[1]->json : NULL;
			event->internal_ = refs;
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
		if (timeout_ms == 0)
			break;
		if (timeout_ms < 0) {
			pthread_cond_wait(&s->changed, &s->lock);
		} else if (pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == ETIMEDOUT) {
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return KEELSON_ETIMEOUT;
}

void ks_event_release(struct ks_event *event)
{
	if (!event || !event->internal_)
		return;
	struct ks_obj **refs = event->internal_;
	obj_unref(refs[0]);
	obj_unref(refs[1]);
	free(refs);
	memset(event, 0, sizeof(*event));
}

uint64_t ks_watch_position(struct ks_watch *watch)
{
	pthread_mutex_lock(&watch->store->lock);
	uint64_t c = watch->cursor;
	pthread_mutex_unlock(&watch->store->lock);
	return c;
}

void ks_watch_interrupt(struct ks_watch *watch)
{
	pthread_mutex_lock(&watch->store->lock);
	watch->interrupted = true;
	pthread_cond_broadcast(&watch->store->changed);
	pthread_mutex_unlock(&watch->store->lock);
}

void ks_watch_close(struct ks_watch *watch)
{
	if (!watch)
		return;
	for (size_t i = 0; i < watch->ntype_keys; i++)
		free(watch->type_keys[i]);
	free(watch->type_keys);
	free(watch);
}

/* ---------------------------------------------------------------------------
 * Controllers
 * ------------------------------------------------------------------------- */

struct ks_controller {
	struct ks_store *store;
	struct ks_controller_def def;
	void *payload;
	pthread_t thread;
	struct ks_watch *watch;
	pthread_mutex_t lock;
	pthread_cond_t progressed;
	uint64_t processed;     /* RV up to which events were handled */
	uint64_t epoch;
	bool stop;
	/* initial synthetic ADDED events */
	struct ks_obj **initial;
	const struct ks_resource_type **initial_types;
	size_t ninitial;
};

/* Snapshot existing objects of the watched types, under the store lock. */
static int controller_snapshot_locked(struct ks_controller *c)
{
	struct ks_store *s = c->store;
	free(c->initial);
	free(c->initial_types);
	c->initial = NULL;
	c->initial_types = NULL;
	c->ninitial = 0;
	size_t cap = s->nobjects ? s->nobjects : 1;
	c->initial = malloc(cap * sizeof(*c->initial));
	c->initial_types = malloc(cap * sizeof(*c->initial_types));
	if (!c->initial || !c->initial_types)
		return -1;
	for (size_t i = 0; i < s->ntypes; i++) {
		char tkey[140];
		type_key(s->types[i], tkey, sizeof(tkey));
		bool want = false;
		for (size_t k = 0; k < c->watch->ntype_keys && !want; k++)
			want = !strcmp(c->watch->type_keys[k], "*") ||
				!strcmp(c->watch->type_keys[k], tkey);
		if (!want)
			continue;
		struct tstate *ts = hmap_get(&s->tstates, tkey);
		for (struct coll *cl = ts ? ts->colls : NULL; cl; cl = cl->next_in_type)
			for (struct entry *e = cl->head; e; e = e->next) {
				if (c->ninitial >= cap)
					break;
				c->initial[c->ninitial] = obj_ref(e->obj);
				c->initial_types[c->ninitial] = s->types[i];
				c->ninitial++;
			}
	}
	c->watch->cursor = s->rv;
	c->watch->epoch = s->epoch;
	return 0;
}

static void controller_deliver_initial(struct ks_controller *c)
{
	for (size_t i = 0; i < c->ninitial; i++) {
		struct ks_event ev = {
			.type = KS_EVENT_ADDED,
			.resource_type = c->initial_types[i],
			.object = c->initial[i]->json,
			.object_text = c->initial[i]->text,
		};
		const char *rv = ks_meta_string(ev.object, "resourceVersion");
		ev.resource_version = rv ? strtoull(rv, NULL, 10) : 0;
		if (c->def.on_event)
			c->def.on_event(c->store, &ev, c->payload);
		obj_unref(c->initial[i]);
	}
	free(c->initial);
	free(c->initial_types);
	c->initial = NULL;
	c->initial_types = NULL;
	c->ninitial = 0;
}

static void controller_mark(struct ks_controller *c, uint64_t rv)
{
	pthread_mutex_lock(&c->lock);
	if (rv > c->processed)
		c->processed = rv;
	pthread_cond_broadcast(&c->progressed);
	pthread_mutex_unlock(&c->lock);
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void *controller_main(void *arg)
{
	struct ks_controller *c = arg;
	controller_deliver_initial(c);
	controller_mark(c, ks_watch_position(c->watch));
	double next_tick = mono_ms() + c->def.tick_ms;
	for (;;) {
		pthread_mutex_lock(&c->lock);
		bool stop = c->stop;
		pthread_mutex_unlock(&c->lock);
		if (stop)
			break;
		int timeout = 200;
		if (c->def.tick_ms && c->def.on_tick) {
			double left = next_tick - mono_ms();
			if (left <= 0) {
				c->def.on_tick(c->store, c->payload);
				next_tick = mono_ms() + c->def.tick_ms;
				left = c->def.tick_ms;
			}
			if (left < timeout)
				timeout = (int)left + 1;
		}
		struct ks_event ev;
		int rc = ks_watch_next(c->watch, timeout, &ev);
		if (rc == 0) {
			if (c->def.on_event)
				c->def.on_event(c->store, &ev, c->payload);
			uint64_t rv = ev.resource_version;
			ks_event_release(&ev);
			controller_mark(c, rv);
		} else if (rc == KEELSON_ETIMEOUT) {
			controller_mark(c, ks_watch_position(c->watch));
		} else if (rc == KEELSON_ENOTFOUND || rc == KEELSON_ELIMIT) {
			struct ks_store *s = c->store;
			pthread_mutex_lock(&s->lock);
			bool closing = s->closing || c->watch->interrupted;
			int snap = closing ? 0 : controller_snapshot_locked(c);
			pthread_mutex_unlock(&s->lock);
			if (closing)
				break;
			if (snap == 0)
				controller_deliver_initial(c);
		}
	}
	return NULL;
}

int ks_controller_start(struct ks_store *store, const struct ks_controller_def *def,
	void *payload, struct ks_controller **out)
{
	status_clear();
	if (!def || def->version != KS_CONTROLLER_DEF_VERSION)
		return fail(KEELSON_EINVALID, 500, "InternalError", NULL, NULL,
			"controller definition version %d, expected %d", def ? def->version : -1,
			KS_CONTROLLER_DEF_VERSION);
	struct ks_controller *c = calloc(1, sizeof(*c));
	if (!c)
		return fail_oom();
	c->store = store;
	c->def = *def;
	c->payload = payload;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->progressed, NULL);
	c->watch = calloc(1, sizeof(*c->watch));
	size_t n = 0;
	while (def->resources && def->resources[n])
		n++;
	if (c->watch) {
		c->watch->store = store;
		c->watch->type_keys = calloc(n ? n : 1, sizeof(char *));
		c->watch->ntype_keys = n;
	}
	if (!c->watch || !c->watch->type_keys)
		goto oom;
	for (size_t i = 0; i < n; i++)
		if (!(c->watch->type_keys[i] = strdup(def->resources[i])))
			goto oom;
	pthread_mutex_lock(&store->lock);
	int snap = controller_snapshot_locked(c);
	pthread_mutex_unlock(&store->lock);
	if (snap)
		goto oom;
	if (pthread_create(&c->thread, NULL, controller_main, c)) {
		ks_watch_close(c->watch);
		free(c->initial);
		free(c->initial_types);
		free(c);
		return fail(KEELSON_ERROR, 500, "InternalError", NULL, NULL,
			"cannot start controller thread %s", def->name ? def->name : "?");
	}
	*out = c;
	return 0;
oom:
	for (size_t i = 0; i < c->ninitial; i++)
		obj_unref(c->initial[i]);
	free(c->initial);
	free(c->initial_types);
	ks_watch_close(c->watch);
	free(c);
	return fail_oom();
}

int ks_controller_sync(struct ks_controller *c, int timeout_ms)
{
	uint64_t target = ks_store_current_rv(c->store);
	struct timespec deadline;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	deadline.tv_sec = tv.tv_sec + timeout_ms / 1000;
	deadline.tv_nsec = (long)tv.tv_usec * 1000 + (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	int rc = 0;
	pthread_mutex_lock(&c->lock);
	while (c->processed < target) {
		if (pthread_cond_timedwait(&c->progressed, &c->lock, &deadline) == ETIMEDOUT) {
			rc = keelson_error_set(KEELSON_ETIMEOUT,
				"controller %s did not catch up with resourceVersion %" PRIu64
				" within %d ms (at %" PRIu64 ")",
				c->def.name ? c->def.name : "?", target, timeout_ms, c->processed);
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void ks_controller_stop(struct ks_controller *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_mutex_unlock(&c->lock);
	ks_watch_interrupt(c->watch);
	pthread_join(c->thread, NULL);
	for (size_t i = 0; i < c->ninitial; i++)
		obj_unref(c->initial[i]);
	free(c->initial);
	free(c->initial_types);
	ks_watch_close(c->watch);
	if (c->def.on_stop)
		c->def.on_stop(c->payload);
	pthread_cond_destroy(&c->progressed);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---------------------------------------------------------------------------
 * Persistence
 * ------------------------------------------------------------------------- */

int ks_store_save(struct ks_store *store, const char *path)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *objs = cJSON_AddArrayToObject(root, "objects");
	pthread_mutex_lock(&store->lock);
	cJSON_AddNumberToObject(root, "resourceVersion", (double)store->rv);
	/* CRDs first so loading can register their types before the CRs. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < store->ntypes; i++) {
			const struct ks_resource_type *t = store->types[i];
			bool is_crd = !strcmp(t->group, "apiextensions.k8s.io") &&
				!strcmp(t->resource, "customresourcedefinitions");
			if ((pass == 0) != is_crd)
				continue;
			char tkey[140];
			type_key(t, tkey, sizeof(tkey));
			struct tstate *ts = hmap_get(&store->tstates, tkey);
			for (struct coll *c = ts ? ts->colls : NULL; c; c = c->next_in_type)
				for (struct entry *e = c->head; e; e = e->next) {
					cJSON *item = cJSON_CreateObject();
					cJSON_AddStringToObject(item, "group", t->group);
					cJSON_AddStringToObject(item, "resource", t->resource);
					cJSON_AddItemToObject(item, "object", cJSON_Duplicate(e->obj->json, 1));
					cJSON_AddItemToArray(objs, item);
				}
		}
	pthread_mutex_unlock(&store->lock);
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return fail_oom();
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	int rc = 0;
	if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
		rc = keelson_error_set(KEELSON_ERROR, "cannot write state file %s: %s", tmp,
			strerror(errno));
		f = NULL;
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		rc = keelson_error_set(KEELSON_ERROR, "cannot rename %s to %s: %s", tmp, path,
			strerror(errno));
		unlink(tmp);
	}
	free(text);
	return rc;
}

int ks_store_load(struct ks_store *store, const char *path)
{
	status_clear();
	FILE *f = fopen(path, "r");
	if (!f)
		return keelson_error_set(errno == ENOENT ? KEELSON_ENOTFOUND : KEELSON_ERROR,
			"cannot open state file %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size > KS_MAX_STATE_BYTES) {
		fclose(f);
		return keelson_error_set(KEELSON_ELIMIT,
			"state file %s is larger than %ld bytes", path, KS_MAX_STATE_BYTES);
	}
	char *text = malloc((size_t)st.st_size + 1);
	size_t n = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (!text)
		return fail_oom();
	text[n] = 0;
	cJSON *root = cJSON_Parse(text);
	free(text);
	if (!root)
		return keelson_error_set(KEELSON_EINVALID,
			"state file %s is not valid JSON; delete it to start empty", path);
	int rc = 0;
	uint64_t max_rv = 0;
	cJSON *item;
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "objects")) {
		const cJSON *g = cJSON_GetObjectItemCaseSensitive(item, "group");
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(item, "resource");
		cJSON *obj = cJSON_GetObjectItemCaseSensitive(item, "object");
		if (!cJSON_IsString(g) || !cJSON_IsString(r) || !cJSON_IsObject(obj))
			continue;
		if (!strcmp(g->valuestring, "apiextensions.k8s.io") &&
		    !strcmp(r->valuestring, "customresourcedefinitions"))
			ks_crd_register_types(store, obj);
		const struct ks_resource_type *t = ks_store_type_find(store, g->valuestring,
			r->valuestring);
		if (!t)
			continue;
		const char *rvs = ks_meta_string(obj, "resourceVersion");
		uint64_t rv = rvs ? strtoull(rvs, NULL, 10) : 0;
		if (rv > max_rv)
			max_rv = rv;
		const char *ns = ks_meta_string(obj, "namespace");
		const char *name = ks_meta_string(obj, "name");
		if (!name)
			continue;
		pthread_mutex_lock(&store->lock);
		struct entry *e = entry_find(store, t, ns, name);
		struct ks_obj *so = obj_new(cJSON_Duplicate(obj, 1));
		if (!so) {
			rc = -1;
		} else if (e) {
			obj_unref(e->obj);
			e->obj = so;
		} else if (entry_insert(store, t, ns, name, so)) {
			obj_unref(so);
			rc = -1;
		}
		pthread_mutex_unlock(&store->lock);
		if (rc)
			break;
	}
	const cJSON *saved_rv = cJSON_GetObjectItemCaseSensitive(root, "resourceVersion");
	if (cJSON_IsNumber(saved_rv) && (uint64_t)saved_rv->valuedouble > max_rv)
		max_rv = (uint64_t)saved_rv->valuedouble;
	cJSON_Delete(root);
	pthread_mutex_lock(&store->lock);
	if (max_rv > store->rv) {
		store->rv = max_rv;
		history_clear(store);
	}
	pthread_mutex_unlock(&store->lock);
	return rc ? fail_oom() : 0;
}
