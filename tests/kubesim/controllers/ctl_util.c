#include "config.h"

#include "tests/kubesim/controllers/ctl_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "json/json_canonical.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/patch/selectors.h"

/* ---------------------------------------------------------------------------
 * Hash map
 * ------------------------------------------------------------------------- */

struct map_entry {
	struct map_entry *next;
	uint32_t hash;
	void *value;
	char key[];
};

struct ks_ctl_map {
	struct map_entry **buckets;
	size_t nbuckets;
	size_t count;
	void (*free_value)(void *value);
};

static uint32_t fnv1a(const void *data, size_t len, uint32_t h)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

#define FNV_OFFSET 2166136261u

struct ks_ctl_map *ks_ctl_map_new(void (*free_value)(void *value))
{
	struct ks_ctl_map *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->nbuckets = 64;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		return NULL;
	}
	m->free_value = free_value;
	return m;
}

void ks_ctl_map_free(struct ks_ctl_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct map_entry *e = m->buckets[i];
		while (e) {
			struct map_entry *next = e->next;
			if (m->free_value)
				m->free_value(e->value);
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	free(m);
}

static struct map_entry **map_slot(const struct ks_ctl_map *m, const char *key, uint32_t h)
{
	struct map_entry **pp = &m->buckets[h % m->nbuckets];
	while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key)))
		pp = &(*pp)->next;
	return pp;
}

void *ks_ctl_map_get(const struct ks_ctl_map *m, const char *key)
{
	uint32_t h = fnv1a(key, strlen(key), FNV_OFFSET);
	struct map_entry **pp = map_slot(m, key, h);
	return *pp ? (*pp)->value : NULL;
}

static void map_grow(struct ks_ctl_map *m)
{
	size_t n = m->nbuckets * 4;
	struct map_entry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* keep the longer chains; still correct */
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct map_entry *e = m->buckets[i];
		while (e) {
			struct map_entry *next = e->next;
			e->next = b[e->hash % n];
			b[e->hash % n] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

int ks_ctl_map_put(struct ks_ctl_map *m, const char *key, void *value)
{
	uint32_t h = fnv1a(key, strlen(key), FNV_OFFSET);
	struct map_entry **pp = map_slot(m, key, h);
	if (*pp) {
		if (m->free_value && (*pp)->value != value)
			m->free_value((*pp)->value);
		(*pp)->value = value;
		return 0;
	}
	size_t len = strlen(key);
	struct map_entry *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory in controller map");
	memcpy(e->key, key, len + 1);
	e->hash = h;
	e->value = value;
	e->next = NULL;
	*pp = e;
	if (++m->count > m->nbuckets * 2)
		map_grow(m);
	return 0;
}

bool ks_ctl_map_remove(struct ks_ctl_map *m, const char *key)
{
	uint32_t h = fnv1a(key, strlen(key), FNV_OFFSET);
	struct map_entry **pp = map_slot(m, key, h);
	struct map_entry *e = *pp;
	if (!e)
		return false;
	*pp = e->next;
	if (m->free_value)
		m->free_value(e->value);
	free(e);
	m->count--;
	return true;
}

size_t ks_ctl_map_count(const struct ks_ctl_map *m)
{
	return m->count;
}

char **ks_ctl_map_keys(const struct ks_ctl_map *m, size_t *count)
{
	char **keys = calloc(m->count ? m->count : 1, sizeof(char *));
	size_t n = 0;
	if (!keys) {
		*count = 0;
		return NULL;
	}
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct map_entry *e = m->buckets[i]; e; e = e->next)
			if (n < m->count && (keys[n] = strdup(e->key)))
				n++;
	*count = n;
	return keys;
}

void ks_ctl_keys_free(char **keys, size_t count)
{
	if (!keys)
		return;
	for (size_t i = 0; i < count; i++)
		free(keys[i]);
	free(keys);
}

/* ---------------------------------------------------------------------------
 * cJSON access
 * ------------------------------------------------------------------------- */

const cJSON *ks_ctl_at(const cJSON *node, ...)
{
	va_list ap;
	va_start(ap, node);
	const char *k;
	while (node && (k = va_arg(ap, const char *)))
		node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, k) : NULL;
	va_end(ap);
	return node;
}

const char *ks_ctl_str(const cJSON *node)
{
	return cJSON_IsString(node) ? node->valuestring : NULL;
}

long long ks_ctl_num(const cJSON *node, long long dflt)
{
	if (cJSON_IsNumber(node))
		return (long long)node->valuedouble;
	return dflt;
}

bool ks_ctl_true(const cJSON *node)
{
	return cJSON_IsTrue(node);
}

cJSON *ks_ctl_obj(cJSON *parent, const char *key)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(parent, key);
	if (cJSON_IsObject(c))
		return c;
	cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
	return cJSON_AddObjectToObject(parent, key);
}

void ks_ctl_set(cJSON *object, const char *key, cJSON *item)
{
	if (!item)
		return;
	if (cJSON_GetObjectItemCaseSensitive(object, key))
		cJSON_ReplaceItemInObjectCaseSensitive(object, key, item);
	else
		cJSON_AddItemToObject(object, key, item);
}

void ks_ctl_set_str(cJSON *object, const char *key, const char *value)
{
	ks_ctl_set(object, key, cJSON_CreateString(value ? value : ""));
}

void ks_ctl_set_num(cJSON *object, const char *key, double value)
{
	ks_ctl_set(object, key, cJSON_CreateNumber(value));
}

const char *ks_ctl_label(const cJSON *object, const char *key)
{
	return ks_ctl_str(ks_ctl_at(object, "metadata", "labels", key, NULL));
}

const char *ks_ctl_annotation(const cJSON *object, const char *key)
{
	return ks_ctl_str(ks_ctl_at(object, "metadata", "annotations", key, NULL));
}

void ks_ctl_merge_patch(cJSON *target, const cJSON *patch)
{
	const cJSON *p;
	cJSON_ArrayForEach(p, patch) {
		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
			continue;
		}
		cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);
		if (cJSON_IsObject(p) && cJSON_IsObject(t)) {
			ks_ctl_merge_patch(t, p);
			continue;
		}
		if (cJSON_IsObject(p)) {
			cJSON *fresh = cJSON_CreateObject();
			ks_ctl_merge_patch(fresh, p);
			ks_ctl_set(target, p->string, fresh);
		} else {
			ks_ctl_set(target, p->string, cJSON_Duplicate(p, 1));
		}
	}
}

void ks_ctl_key(char *buf, size_t size, const char *ns, const char *name)
{
	snprintf(buf, size, "%s/%s", ns ? ns : "", name ? name : "");
}

/* ---------------------------------------------------------------------------
 * Selectors and ownership
 * ------------------------------------------------------------------------- */

/* One parser and matcher for LabelSelectors in kubesim: the API's
 * ?labelSelector= and the controllers must agree on what a selector means. */
bool ks_ctl_selector_matches(const cJSON *selector, const cJSON *labels)
{
	if (!cJSON_IsObject(selector))
		return false;
	struct ks_label_selector *parsed = NULL;
	if (ks_label_selector_from_object(&parsed, selector) != 0)
		return false; /* a selector the API would reject selects nothing */
	bool match = ks_label_selector_matches(parsed, labels);
	ks_label_selector_free(parsed);
	return match;
}

const cJSON *ks_ctl_controller_ref(const cJSON *object)
{
	const cJSON *ref;
	cJSON_ArrayForEach(ref, ks_ctl_at(object, "metadata", "ownerReferences", NULL))
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")))
			return ref;
	return NULL;
}

bool ks_ctl_controlled_by(const cJSON *object, const char *uid)
{
	const char *u = ks_ctl_str(ks_ctl_at(ks_ctl_controller_ref(object), "uid", NULL));
	return u && uid && !strcmp(u, uid);
}

cJSON *ks_ctl_controller_ref_new(const cJSON *owner, const char *api_version, const char *kind)
{
	cJSON *ref = cJSON_CreateObject();
	cJSON_AddStringToObject(ref, "apiVersion", api_version);
	cJSON_AddStringToObject(ref, "kind", kind);
	cJSON_AddStringToObject(ref, "name", ks_meta_string(owner, "name"));
	cJSON_AddStringToObject(ref, "uid", ks_meta_string(owner, "uid"));
	cJSON_AddTrueToObject(ref, "controller");
	cJSON_AddTrueToObject(ref, "blockOwnerDeletion");
	return ref;
}

/* ---------------------------------------------------------------------------
 * Pods and conditions
 * ------------------------------------------------------------------------- */

const char *ks_ctl_pod_phase(const cJSON *pod)
{
	const char *p = ks_ctl_str(ks_ctl_at(pod, "status", "phase", NULL));
	return p ? p : "";
}

bool ks_ctl_terminating(const cJSON *object)
{
	return ks_meta_string(object, "deletionTimestamp") != NULL;
}

static const cJSON *find_condition(const cJSON *status, const char *type)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(status, "conditions")) {
		const char *t = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "type"));
		if (t && !strcmp(t, type))
			return c;
	}
	return NULL;
}

const char *ks_ctl_condition(const cJSON *status, const char *type)
{
	return ks_ctl_str(cJSON_GetObjectItemCaseSensitive(find_condition(status, type), "status"));
}

bool ks_ctl_pod_ready(const cJSON *pod)
{
	const char *s = ks_ctl_condition(cJSON_GetObjectItemCaseSensitive(pod, "status"), "Ready");
	return s && !strcmp(s, "True");
}

bool ks_ctl_pod_running_ready(const cJSON *pod)
{
	return !strcmp(ks_ctl_pod_phase(pod), "Running") && ks_ctl_pod_ready(pod);
}

bool ks_ctl_pod_available(const cJSON *pod, long long min_ready, double now, double *available_at)
{
	if (!ks_ctl_pod_running_ready(pod))
		return false;
	if (min_ready <= 0)
		return true;
	const cJSON *c = find_condition(cJSON_GetObjectItemCaseSensitive(pod, "status"), "Ready");
	double since;
	const char *lt = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "lastTransitionTime"));
	if (!lt || ks_clock_parse(lt, &since))
		return false;
	double at = since + (double)min_ready;
	if (available_at)
		*available_at = at;
	return at <= now;
}

bool ks_ctl_pod_finished(const cJSON *pod)
{
	const char *p = ks_ctl_pod_phase(pod);
	return !strcmp(p, "Succeeded") || !strcmp(p, "Failed");
}

void ks_ctl_set_condition(cJSON *status, const char *type, const char *value,
	const char *reason, const char *message, double now, bool probe, bool update_time)
{
	char ts[KS_TIME_BUF];
	ks_clock_format(now, ts);
	cJSON *conds = cJSON_GetObjectItemCaseSensitive(status, "conditions");
	if (!cJSON_IsArray(conds)) {
		cJSON_DeleteItemFromObjectCaseSensitive(status, "conditions");
		conds = cJSON_AddArrayToObject(status, "conditions");
	}
	cJSON *c = (cJSON *)find_condition(status, type);
	const char *old = c ? ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "status")) : NULL;
	bool changed = !old || strcmp(old, value);
	bool reason_changed = false;
	if (c) {
		const char *r = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "reason"));
		const char *m = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "message"));
		reason_changed = strcmp(r ? r : "", reason ? reason : "") ||
			strcmp(m ? m : "", message ? message : "");
	}
	if (!c) {
		c = cJSON_CreateObject();
		cJSON_AddItemToArray(conds, c);
	}
	ks_ctl_set_str(c, "type", type);
	ks_ctl_set_str(c, "status", value);
	if (probe)
		ks_ctl_set(c, "lastProbeTime", cJSON_CreateNull());
	if (update_time && (changed || reason_changed || !cJSON_GetObjectItemCaseSensitive(c, "lastUpdateTime")))
		ks_ctl_set_str(c, "lastUpdateTime", ts);
	if (changed || !cJSON_GetObjectItemCaseSensitive(c, "lastTransitionTime"))
		ks_ctl_set_str(c, "lastTransitionTime", ts);
	if (reason)
		ks_ctl_set_str(c, "reason", reason);
	else
		cJSON_DeleteItemFromObjectCaseSensitive(c, "reason");
	if (message)
		ks_ctl_set_str(c, "message", message);
	else
		cJSON_DeleteItemFromObjectCaseSensitive(c, "message");
}

/* ---------------------------------------------------------------------------
 * Store wrappers
 * ------------------------------------------------------------------------- */

struct patch_ctx {
	const char *uid;
	const cJSON *patch;
	bool whole_status;
};

static int apply_patch_fn(cJSON *object, void *payload)
{
	struct patch_ctx *p = payload;
	const char *uid = ks_meta_string(object, "uid");
	if (p->uid && (!uid || strcmp(uid, p->uid)))
		return keelson_error_set(KEELSON_ECONFLICT,
			"object was replaced (uid %s, expected %s)", uid ? uid : "none", p->uid);
	if (p->whole_status)
		ks_ctl_set(object, "status", cJSON_Duplicate(p->patch, 1));
	else
		ks_ctl_merge_patch(object, p->patch);
	return 0;
}

int ks_ctl_patch(struct ks_store *store, const struct ks_resource_type *type,
	const char *ns, const char *name, const char *uid, const cJSON *patch,
	const char *subresource)
{
	struct patch_ctx ctx = {uid, patch, false};
	struct ks_write_options o = {
		.version = KS_WRITE_OPTIONS_VERSION,
		.subresource = subresource,
		.field_manager = "kube-controller-manager",
	};
	return ks_store_modify(store, type, ns, name, apply_patch_fn, &ctx, &o, NULL);
}

int ks_ctl_put_status(struct ks_store *store, const struct ks_resource_type *type,
	const char *ns, const char *name, const char *uid, const cJSON *status)
{
	struct patch_ctx ctx = {uid, status, true};
	struct ks_write_options o = {
		.version = KS_WRITE_OPTIONS_VERSION,
		.subresource = "status",
		.field_manager = "kube-controller-manager",
	};
	return ks_store_modify(store, type, ns, name, apply_patch_fn, &ctx, &o, NULL);
}

int ks_ctl_delete(struct ks_store *store, const struct ks_resource_type *type,
	const char *ns, const char *name, const char *uid,
	enum ks_propagation propagation, long long grace)
{
	struct ks_delete_options o = {
		.version = KS_DELETE_OPTIONS_VERSION,
		.has_grace_period = grace >= 0,
		.grace_period_seconds = grace >= 0 ? grace : 0,
		.propagation = propagation,
		.precondition_uid = uid,
	};
	return ks_store_delete(store, type, ns, name, &o, NULL, NULL);
}

cJSON *ks_ctl_list(struct ks_store *store, const struct ks_resource_type *type,
	const char *ns, ks_filter_fn filter, void *payload)
{
	struct ks_list_options o = {
		.version = KS_LIST_OPTIONS_VERSION,
		.namespace = ns,
		.filter = filter,
		.filter_payload = payload,
	};
	struct ks_list_result r = {0};
	if (!type || ks_store_list(store, type, &o, &r))
		return cJSON_CreateArray();
	cJSON *items = r.items;
	r.items = NULL;
	ks_list_result_clear(&r);
	return items ? items : cJSON_CreateArray();
}

bool ks_ctl_filter_controlled(const cJSON *object, void *uid)
{
	return ks_ctl_controlled_by(object, uid);
}

void ks_ctl_release_status(void)
{
	if (ks_status_last())
		ks_status_set(0, NULL);
}

/* ---------------------------------------------------------------------------
 * Hashing
 * ------------------------------------------------------------------------- */

static const char safe_alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

void ks_ctl_template_hash(const cJSON *value, long long collision, char *buf, size_t size)
{
	char *text = keelson_json_canonical(value);
	uint32_t h = fnv1a(text ? text : "", text ? strlen(text) : 0, FNV_OFFSET);
	free(text);
	if (collision > 0) {
		uint32_t c = (uint32_t)collision;
		unsigned char bytes[4] = {(unsigned char)(c >> 24), (unsigned char)(c >> 16),
			(unsigned char)(c >> 8), (unsigned char)c};
		h = fnv1a(bytes, sizeof(bytes), h);
	}
	char digits[16];
	snprintf(digits, sizeof(digits), "%u", h);
	size_t i = 0;
	for (; digits[i] && i + 1 < size; i++)
		buf[i] = safe_alphabet[(unsigned char)digits[i] % (sizeof(safe_alphabet) - 1)];
	buf[i] = '\0';
}

void ks_ctl_random_suffix(char *buf, size_t n)
{
	char uuid[40];
	size_t out = 0;
	while (out < n) {
		ks_uuid(uuid);
		for (size_t i = 0; uuid[i] && uuid[i + 1] && out < n; i += 2) {
			if (uuid[i] == '-' || uuid[i + 1] == '-')
				continue;
			unsigned v = (unsigned)strtoul((char[]){uuid[i], uuid[i + 1], 0}, NULL, 16);
			buf[out++] = safe_alphabet[v % (sizeof(safe_alphabet) - 1)];
		}
	}
	buf[n] = '\0';
}
