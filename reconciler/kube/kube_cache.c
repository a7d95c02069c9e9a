#include "config.h"

#include "kube/kube_cache.h"

#include "core/error.h"
#include "core/log.h"
#include "kube/kube_ratelimit.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- compact form -------------------------------------------------------
 *
 * A cached object is kept as a byte string, not as a cJSON tree: a tree
 * costs a 64-byte node plus a separately allocated key and string per
 * value (about 3.2 KiB in 100 allocations for a small ConfigMap with the
 * managedFields of two managers), the compact form about 460 bytes in one
 * allocation. Reads decode a fresh tree, which costs about what the copy
 * they made before did (bench/RESULTS.md, 2g).
 *
 * The encoding is lossless (numbers keep their exact double, strings their
 * bytes, members their order), so the diff, generic_apply and the plugins'
 * host API read the same object as before: nothing is dropped, not even
 * other managers' managedFields or status.
 *
 *   value  := tag payload
 *   tag 0 null, 1 false, 2 true,
 *       3 integer (zigzag varint; integral doubles of magnitude < 2^53),
 *       4 double (8 bytes, host order: the form never leaves the process),
 *       5 string (varint length, bytes, NUL), 6 dictionary string (varint index),
 *       7 array (varint count, values), 8 object (varint count, key value ...),
 *       9 raw (as 5)
 *   key    := varint (index << 1 | 1) for a dictionary word, or
 *             varint (length << 1), bytes, NUL
 *
 * The dictionary holds the keys and values every Kubernetes object repeats
 * (metadata, managedFields, "f:metadata", "Apply", ...): one byte instead
 * of a string. The form never leaves the process, so the dictionary may
 * change from one version to the next. */

enum {
	TAG_NULL, TAG_FALSE, TAG_TRUE, TAG_INT, TAG_DOUBLE, TAG_STRING, TAG_WORD, TAG_ARRAY, TAG_OBJECT, TAG_RAW,
};

static const char *const dictionary[] = {
	"apiVersion", "kind", "metadata", "name", "namespace", "labels", "annotations", "uid",
	"resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "ownerReferences",
	"finalizers", "managedFields", "manager", "operation", "time", "fieldsType", "fieldsV1", "subresource",
	"Apply", "Update", "FieldsV1", "status", "spec", "data", "binaryData", "stringData", "type", ".",
	"f:metadata", "f:labels", "f:annotations", "f:data", "f:spec", "f:status", "f:ownerReferences",
	"f:finalizers", "f:replicas", "f:selector", "f:template", "f:containers", "f:name", "f:image",
	"f:ports", "f:env", "f:resources", "f:volumeMounts", "f:serviceName", "f:conditions", "f:type",
	"f:binaryData", "f:stringData", "f:app", "f:app.kubernetes.io/managed-by", "f:keelson.dev/system",
	"f:keelson.dev/cluster", "f:keelson.dev/revision", "f:keelson.dev/inventory", "f:value",
	"v1", "apps/v1", "batch/v1", "policy/v1", "keelson", "keelson-ownership", "keelson-executor",
	"kube-controller-manager", "kube-scheduler", "kubelet", "kubectl", "kubectl-client-side-apply",
	"app", "app.kubernetes.io/name", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
	"app.kubernetes.io/component", "app.kubernetes.io/part-of", "keelson.dev/system", "keelson.dev/cluster",
	"keelson.dev/revision", "keelson.dev/inventory", "ConfigMap", "Secret", "Service", "StatefulSet",
	"Deployment", "Pod", "Namespace", "PersistentVolumeClaim", "ServiceAccount", "Opaque",
	"replicas", "selector", "matchLabels", "template", "containers", "image", "ports", "containerPort",
	"protocol", "TCP", "UDP", "env", "value", "valueFrom", "resources", "limits", "requests", "cpu", "memory",
	"volumeMounts", "mountPath", "volumes", "configMap", "serviceName", "podManagementPolicy",
	"updateStrategy", "rollingUpdate", "partition", "revisionHistoryLimit", "conditions",
	"lastTransitionTime", "lastUpdateTime", "lastProbeTime", "reason", "message", "observedGeneration",
	"readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas", "currentRevision",
	"updateRevision", "collisionCount", "True", "False", "Unknown", "Ready", "controller",
	"blockOwnerDeletion", "nodeName", "phase", "Running", "Pending", "Succeeded", "Failed", "podIP",
	"podIPs", "ip", "hostIP", "startTime", "containerStatuses", "ready", "restartCount", "started", "state",
	"running", "startedAt", "imageID", "containerID", "clusterIP", "clusterIPs", "targetPort", "port",
	"ClusterIP", "terminationMessagePath", "terminationMessagePolicy", "/dev/termination-log", "File",
	"imagePullPolicy", "IfNotPresent", "Always", "dnsPolicy", "ClusterFirst", "restartPolicy",
	"schedulerName", "default-scheduler", "securityContext", "terminationGracePeriodSeconds",
	"sessionAffinity", "None", "ipFamilies", "IPv4", "ipFamilyPolicy", "SingleStack",
	"internalTrafficPolicy", "Cluster", "persistentVolumeClaimRetentionPolicy", "whenDeleted",
	"whenScaled", "Retain", "OrderedReady", "RollingUpdate", "qosClass", "BestEffort", "Burstable",
	"volumeClaimTemplates", "accessModes", "ReadWriteOnce", "storage", "storageClassName", "volumeMode",
	"Filesystem", "args", "command", "livenessProbe", "readinessProbe", "httpGet", "path",
	"initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold",
};

#define DICTIONARY_SIZE (sizeof(dictionary) / sizeof(dictionary[0]))
#define DICTIONARY_SLOTS 512 /* power of two, more than twice the words */
#define COMPACT_MAX_DEPTH 1000 /* cJSON's own nesting limit: what parsed fits */

static uint16_t dictionary_slots[DICTIONARY_SLOTS]; /* index + 1, 0 = empty */
static pthread_once_t dictionary_once = PTHREAD_ONCE_INIT;

static uint64_t hash_key(const char *key)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ull;
	}
	return h;
}

static void dictionary_build(void)
{
	_Static_assert(DICTIONARY_SIZE * 2 <= DICTIONARY_SLOTS, "dictionary hash too full");
	for (size_t i = 0; i < DICTIONARY_SIZE; i++) {
		size_t s = hash_key(dictionary[i]) & (DICTIONARY_SLOTS - 1);
		while (dictionary_slots[s] != 0)
			s = (s + 1) & (DICTIONARY_SLOTS - 1);
		dictionary_slots[s] = (uint16_t)(i + 1);
	}
}

/* Index of `word` in the dictionary, or -1. */
static long dictionary_find(const char *word)
{
	size_t s = hash_key(word) & (DICTIONARY_SLOTS - 1);
	for (; dictionary_slots[s] != 0; s = (s + 1) & (DICTIONARY_SLOTS - 1))
		if (strcmp(dictionary[dictionary_slots[s] - 1], word) == 0)
			return dictionary_slots[s] - 1;
	return -1;
}

struct buf {
	unsigned char *data;
	size_t len, cap;
	bool failed;
};

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->failed || b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + more)
		cap *= 2;
	unsigned char *p = realloc(b->data, cap);
	if (p == NULL) {
		b->failed = true;
		return;
	}
	b->data = p;
	b->cap = cap;
}

static void buf_put(struct buf *b, const void *bytes, size_t n)
{
	buf_reserve(b, n);
	if (!b->failed) {
		memcpy(b->data + b->len, bytes, n);
		b->len += n;
	}
}

static void buf_varint(struct buf *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;
	do {
		tmp[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	buf_put(b, tmp, n);
}

static void buf_text(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	buf_varint(b, n);
	buf_put(b, s, n + 1);
}

static void buf_key(struct buf *b, const char *key)
{
	long w = dictionary_find(key);
	if (w >= 0) {
		buf_varint(b, ((uint64_t)w << 1) | 1);
		return;
	}
	size_t n = strlen(key);
	buf_varint(b, (uint64_t)n << 1);
	buf_put(b, key, n + 1);
}

static int encode_value(struct buf *b, const cJSON *v, unsigned depth)
{
	unsigned char tag;

	if (depth > COMPACT_MAX_DEPTH)
		return keelson_error_set(KEELSON_ELIMIT, "object nested deeper than %d levels", COMPACT_MAX_DEPTH);
	switch (v->type & 0xff) {
	case cJSON_False: tag = TAG_FALSE; buf_put(b, &tag, 1); break;
	case cJSON_True: tag = TAG_TRUE; buf_put(b, &tag, 1); break;
	case cJSON_Number: {
		double d = v->valuedouble;
		/* 2^53: every integer below is exact in a double and in int64. */
		if (d > -9007199254740992.0 && d < 9007199254740992.0 && d == (double)(int64_t)d &&
		    !(d == 0 && signbit(d))) {
			int64_t i = (int64_t)d;
			tag = TAG_INT;
			buf_put(b, &tag, 1);
			buf_varint(b, ((uint64_t)i << 1) ^ (uint64_t)(i >> 63));
		} else {
			tag = TAG_DOUBLE;
			buf_put(b, &tag, 1);
			buf_put(b, &d, sizeof(d));
		}
		break;
	}
	case cJSON_String:
	case cJSON_Raw: {
		const char *s = v->valuestring ? v->valuestring : "";
		long w = (v->type & 0xff) == cJSON_String ? dictionary_find(s) : -1;
		if (w >= 0) {
			tag = TAG_WORD;
			buf_put(b, &tag, 1);
			buf_varint(b, (uint64_t)w);
		} else {
			tag = (v->type & 0xff) == cJSON_String ? TAG_STRING : TAG_RAW;
			buf_put(b, &tag, 1);
			buf_text(b, s);
		}
		break;
	}
	case cJSON_Array:
	case cJSON_Object: {
		bool object = (v->type & 0xff) == cJSON_Object;
		uint64_t count = 0;
		const cJSON *c;
		for (c = v->child; c; c = c->next)
			count++;
		tag = object ? TAG_OBJECT : TAG_ARRAY;
		buf_put(b, &tag, 1);
		buf_varint(b, count);
		for (c = v->child; c; c = c->next) {
			if (object)
				buf_key(b, c->string ? c->string : "");
			int rc = encode_value(b, c, depth + 1);
			if (rc < 0)
				return rc;
		}
		break;
	}
	default: /* cJSON_NULL, and cJSON_Invalid, which a parse never makes */
		tag = TAG_NULL;
		buf_put(b, &tag, 1);
		break;
	}
	return 0;
}

int keelson_kube_cache_encode(unsigned char **out, size_t *out_len, const cJSON *object)
{
	struct buf b = {0};

	*out = NULL;
	*out_len = 0;
	pthread_once(&dictionary_once, dictionary_build);
	int rc = encode_value(&b, object, 0);
	if (rc == 0 && b.failed)
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
	if (rc < 0) {
		free(b.data);
		return rc;
	}
	*out = b.data;
	*out_len = b.len;
	return 0;
}

struct reader {
	const unsigned char *p, *end;
	bool out_of_memory; /* else a failure is damaged bytes */
};

static cJSON *made(struct reader *r, cJSON *v)
{
	if (v == NULL)
		r->out_of_memory = true;
	return v;
}

static bool read_varint(struct reader *r, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64 && r->p < r->end; shift += 7) {
		unsigned char c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* An inline NUL-terminated text of `n` bytes at the read position. */
static const char *read_text(struct reader *r, uint64_t n)
{
	if ((uint64_t)(r->end - r->p) < n + 1 || r->p[n] != '\0')
		return NULL;
	const char *s = (const char *)r->p;
	r->p += n + 1;
	return s;
}

static const char *read_word(struct reader *r)
{
	uint64_t w;
	return read_varint(r, &w) && w < DICTIONARY_SIZE ? dictionary[w] : NULL;
}

static cJSON *decode_value(struct reader *r, unsigned depth)
{
	uint64_t n;
	const char *s;

	if (r->p >= r->end || depth > COMPACT_MAX_DEPTH)
		return NULL;
	switch (*r->p++) {
	case TAG_NULL: return made(r, cJSON_CreateNull());
	case TAG_FALSE: return made(r, cJSON_CreateFalse());
	case TAG_TRUE: return made(r, cJSON_CreateTrue());
	case TAG_INT:
		if (!read_varint(r, &n))
			return NULL;
		return made(r, cJSON_CreateNumber((double)(int64_t)((n >> 1) ^ (~(n & 1) + 1))));
	case TAG_DOUBLE: {
		double d;
		if ((size_t)(r->end - r->p) < sizeof(d))
			return NULL;
		memcpy(&d, r->p, sizeof(d));
		r->p += sizeof(d);
		return made(r, cJSON_CreateNumber(d));
	}
	case TAG_STRING:
		return read_varint(r, &n) && (s = read_text(r, n)) ? made(r, cJSON_CreateString(s)) : NULL;
	case TAG_RAW:
		return read_varint(r, &n) && (s = read_text(r, n)) ? made(r, cJSON_CreateRaw(s)) : NULL;
	case TAG_WORD:
		return (s = read_word(r)) ? made(r, cJSON_CreateString(s)) : NULL;
	case TAG_ARRAY:
	case TAG_OBJECT: {
		bool object = r->p[-1] == TAG_OBJECT;
		cJSON *v = made(r, object ? cJSON_CreateObject() : cJSON_CreateArray());
		if (v == NULL || !read_varint(r, &n)) {
			cJSON_Delete(v);
			return NULL;
		}
		for (uint64_t i = 0; i < n; i++) {
			const char *key = NULL;
			uint64_t k;
			if (object) {
				if (!read_varint(r, &k) ||
				    (key = (k & 1) ? (k >> 1 < DICTIONARY_SIZE ? dictionary[k >> 1] : NULL)
						   : read_text(r, k >> 1)) == NULL) {
					cJSON_Delete(v);
					return NULL;
				}
			}
			cJSON *c = decode_value(r, depth + 1);
			if (c == NULL) {
				cJSON_Delete(v);
				return NULL;
			}
			/* Not cJSON_AddItemToObject: it would drop a member
			 * whose key repeats, and a parse keeps both. */
			if (object && (c->string = strdup(key)) == NULL) {
				r->out_of_memory = true;
				cJSON_Delete(c);
				cJSON_Delete(v);
				return NULL;
			}
			cJSON_AddItemToArray(v, c);
		}
		return v;
	}
	default:
		return NULL;
	}
}

int keelson_kube_cache_decode(cJSON **out, const unsigned char *data, size_t len)
{
	struct reader r = {data, data + len, false};

	pthread_once(&dictionary_once, dictionary_build);
	*out = decode_value(&r, 0);
	if (*out == NULL || r.p != r.end) {
		cJSON_Delete(*out);
		*out = NULL;
		if (r.out_of_memory)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory decoding a cached object");
		/* Not KEELSON_EINVALID: readers take that for "type not
		 * cached" and would ask the server instead. */
		return keelson_error_set(KEELSON_ERROR, "kube cache: a cached object does not decode at byte %zu "
			"of %zu (a keelson bug: please report it)", (size_t)(r.p - data), len);
	}
	return 0;
}

/* --- hash table: "namespace/name" -> compact object ---------------------- */

/* One allocation: the key, its NUL, then the compact form. */
struct entry {
	struct entry *next;
	uint32_t key_len, size; /* size: of the compact form */
	char bytes[];
};

static const char *entry_key(const struct entry *e)
{
	return e->bytes;
}

static const unsigned char *entry_data(const struct entry *e)
{
	return (const unsigned char *)e->bytes + e->key_len + 1;
}

/* The entry for `key` holding the compact form of `object`. */
static struct entry *entry_new(const char *key, const cJSON *object, struct buf *scratch)
{
	size_t key_len = strlen(key);
	struct entry *e = NULL;
	pthread_once(&dictionary_once, dictionary_build);
	scratch->len = 0;
	scratch->failed = false;
	if (encode_value(scratch, object, 0) == 0 && !scratch->failed && scratch->len <= UINT32_MAX &&
	    key_len <= UINT32_MAX && (e = malloc(sizeof(*e) + key_len + 1 + scratch->len)) != NULL) {
		e->next = NULL;
		e->key_len = (uint32_t)key_len;
		e->size = (uint32_t)scratch->len;
		memcpy(e->bytes, key, key_len + 1);
		memcpy(e->bytes + key_len + 1, scratch->data, scratch->len);
	}
	/* One large object must not pin its size for the daemon's life. */
	if (scratch->cap > 64 * 1024) {
		free(scratch->data);
		memset(scratch, 0, sizeof(*scratch));
	}
	return e;
}

struct table {
	struct entry **buckets;
	size_t bucket_count;
	size_t size;
	size_t bytes; /* allocated for entries */
};

static size_t entry_bytes(const struct entry *e)
{
	return sizeof(*e) + e->key_len + 1 + e->size;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->bucket_count; i++) {
		struct entry *e = t->buckets[i];
		while (e) {
			struct entry *next = e->next;
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
			size_t b = hash_key(entry_key(e)) & (count - 1);
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
	while (*slot && strcmp(entry_key(*slot), key) != 0)
		slot = &(*slot)->next;
	return *slot ? slot : NULL;
}

/* Takes ownership of `e` (also on failure): replaces the entry with the
 * same key, if any. */
static int table_put(struct table *t, struct entry *e)
{
	struct entry **slot = table_find(t, entry_key(e));
	if (slot != NULL) {
		struct entry *old = *slot;
		e->next = old->next;
		*slot = e;
		t->bytes = t->bytes - entry_bytes(old) + entry_bytes(e);
		free(old);
		return 0;
	}
	if ((t->size + 1 > t->bucket_count) && table_grow(t) < 0) {
		free(e);
		return -1;
	}
	size_t b = hash_key(entry_key(e)) & (t->bucket_count - 1);
	e->next = t->buckets[b];
	t->buckets[b] = e;
	t->size++;
	t->bytes += entry_bytes(e);
	return 0;
}

static bool table_remove(struct table *t, const char *key)
{
	struct entry **slot = table_find(t, key);
	if (slot == NULL)
		return false;
	struct entry *e = *slot;
	*slot = e->next;
	t->bytes -= entry_bytes(e);
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
	struct buf scratch; /* encoding buffer of this type's thread */
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
		/* Each item freed once encoded: the list does not stay
		 * beside its compact copy until the end. */
		cJSON *item = cJSON_DetachItemFromArray(items, 0);
		if (object_key(key, sizeof(key), item) < 0) {
			cJSON_Delete(item);
			continue;
		}
		struct entry *e = entry_new(key, item, &t->scratch);
		cJSON_Delete(item);
		if (e == NULL || table_put(&fresh, e) < 0) {
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
		struct entry *e = entry_new(key, object, &t->scratch);
		if (e == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory caching %s", t->res.resource);
		pthread_rwlock_wrlock(&t->lock);
		int rc = table_put(&t->table, e);
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
	else
		error = keelson_kube_cache_decode(out, entry_data(*slot), (*slot)->size);
	pthread_rwlock_unlock(&t->lock);
	return error;
}

static int compare_entries(const void *a, const void *b)
{
	const struct entry *ea = *(const struct entry *const *)a;
	const struct entry *eb = *(const struct entry *const *)b;
	return strcmp(entry_key(ea), entry_key(eb));
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
			if (prefix_len == 0 ||
			    (strncmp(entry_key(e), ns, prefix_len) == 0 && entry_key(e)[prefix_len] == '/'))
				sorted[n++] = e;
	qsort(sorted, n, sizeof(*sorted), compare_entries);
	for (size_t i = 0; i < n; i++) {
		cJSON *copy = NULL;
		if ((error = keelson_kube_cache_decode(&copy, entry_data(sorted[i]), sorted[i]->size)) < 0)
			break;
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
		out->bytes += t->table.bytes;
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
		free(c->types[i]->scratch.data);
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
