#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tests/kubesim/server.h"

cJSON *ks_discovery_api_versions(void)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "kind", "APIVersions");
	cJSON *v = cJSON_AddArrayToObject(r, "versions");
	cJSON_AddItemToArray(v, cJSON_CreateString("v1"));
	cJSON *addrs = cJSON_AddArrayToObject(r, "serverAddressByClientCIDRs");
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "clientCIDR", "0.0.0.0/0");
	cJSON_AddStringToObject(a, "serverAddress", "127.0.0.1:6443");
	cJSON_AddItemToArray(addrs, a);
	return r;
}

struct groups_ctx {
	cJSON *groups;
	bool aggregated;
	bool legacy;
	struct ks_store *store;
};

static bool has_group(cJSON *groups, const char *name)
{
	cJSON *g;
	cJSON_ArrayForEach(g, groups) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(g, "name");
		if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
			return true;
	}
	return false;
}

static int collect_group(const struct ks_resource_type *t, void *payload)
{
	struct groups_ctx *c = payload;
	if (!t->group[0] || has_group(c->groups, t->group))
		return 0;
	cJSON *g = cJSON_CreateObject();
	cJSON_AddStringToObject(g, "name", t->group);
	char gv[160];
	snprintf(gv, sizeof(gv), "%s/%s", t->group, t->api_version);
	cJSON *vs = cJSON_AddArrayToObject(g, "versions");
	cJSON *v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "groupVersion", gv);
	cJSON_AddStringToObject(v, "version", t->api_version);
	cJSON_AddItemToArray(vs, v);
	cJSON_AddItemToObject(g, "preferredVersion", cJSON_Duplicate(v, 1));
	cJSON_AddItemToArray(c->groups, g);
	return 0;
}

cJSON *ks_discovery_api_groups(struct ks_store *store)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "kind", "APIGroupList");
	cJSON_AddStringToObject(r, "apiVersion", "v1");
	struct groups_ctx c = {.groups = cJSON_AddArrayToObject(r, "groups")};
	ks_store_type_foreach(store, collect_group, &c);
	return r;
}

static cJSON *string_array(const char *const *items, size_t max)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < max && items[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
	return a;
}

static const char *const sub_verbs[] = {"get", "patch", "update", NULL};

struct res_ctx {
	const char *group, *version;
	cJSON *list;
	bool aggregated;
};

static void add_legacy_sub(cJSON *list, const struct ks_resource_type *t, const char *sub,
	const char *group, const char *version, const char *kind, const char *const *verbs)
{
	cJSON *r = cJSON_CreateObject();
	char name[160];
	snprintf(name, sizeof(name), "%s/%s", t->resource, sub);
	cJSON_AddStringToObject(r, "name", name);
	cJSON_AddStringToObject(r, "singularName", "");
	cJSON_AddBoolToObject(r, "namespaced", t->namespaced);
	if (group) {
		cJSON_AddStringToObject(r, "group", group);
		cJSON_AddStringToObject(r, "version", version);
	}
	cJSON_AddStringToObject(r, "kind", kind);
	cJSON_AddItemToObject(r, "verbs", string_array(verbs, 8));
	cJSON_AddItemToArray(list, r);
}

static const char *const get_verb[] = {"get", NULL};
static const char *const create_verb[] = {"create", NULL};
static const char *const proxy_verbs[] = {"create", "delete", "get", "patch", "update", NULL};

static int collect_resources(const struct ks_resource_type *t, void *payload)
{
	struct res_ctx *c = payload;
	if (strcmp(t->group, c->group) || strcmp(t->api_version, c->version))
		return 0;
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "name", t->resource);
	cJSON_AddStringToObject(r, "singularName", t->singular);
	cJSON_AddBoolToObject(r, "namespaced", t->namespaced);
	cJSON_AddStringToObject(r, "kind", t->kind);
	cJSON_AddItemToObject(r, "verbs", string_array(t->verbs, KS_MAX_NAMES + 2));
	if (t->short_names[0])
		cJSON_AddItemToObject(r, "shortNames", string_array(t->short_names, KS_MAX_NAMES));
	if (t->categories[0])
		cJSON_AddItemToObject(r, "categories", string_array(t->categories, KS_MAX_NAMES));
	cJSON_AddItemToArray(c->list, r);
	if (t->subresources & KS_SUB_STATUS)
		add_legacy_sub(c->list, t, "status", NULL, NULL, t->kind, sub_verbs);
	if (t->subresources & KS_SUB_SCALE)
		add_legacy_sub(c->list, t, "scale", "autoscaling", "v1", "Scale", sub_verbs);
	if (t->subresources & KS_SUB_LOG)
		add_legacy_sub(c->list, t, "log", NULL, NULL, "Pod", get_verb);
	if (t->subresources & KS_SUB_EXEC)
		add_legacy_sub(c->list, t, "exec", NULL, NULL, "PodExecOptions", create_verb);
	if (t->subresources & KS_SUB_EVICTION)
		add_legacy_sub(c->list, t, "eviction", "policy", "v1", "Eviction", create_verb);
	if (t->subresources & KS_SUB_FINALIZE)
		add_legacy_sub(c->list, t, "finalize", NULL, NULL, t->kind, sub_verbs + 2);
	if (t->subresources & KS_SUB_PROXY)
		add_legacy_sub(c->list, t, "proxy", NULL, NULL,
			!strcmp(t->resource, "pods") ? "PodProxyOptions" : "ServiceProxyOptions",
			proxy_verbs);
	return 0;
}

cJSON *ks_discovery_resources(struct ks_store *store, const char *group, const char *version)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "kind", "APIResourceList");
	cJSON_AddStringToObject(r, "apiVersion", "v1");
	char gv[160];
	if (group[0])
		snprintf(gv, sizeof(gv), "%s/%s", group, version);
	else
		snprintf(gv, sizeof(gv), "%s", version);
	cJSON_AddStringToObject(r, "groupVersion", gv);
	struct res_ctx c = {.group = group, .version = version,
		.list = cJSON_AddArrayToObject(r, "resources")};
	ks_store_type_foreach(store, collect_resources, &c);
	if (cJSON_GetArraySize(c.list) == 0) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

/* ---- aggregated discovery v2 ---- */

static cJSON *response_kind(const char *group, const char *version, const char *kind)
{
	cJSON *k = cJSON_CreateObject();
	cJSON_AddStringToObject(k, "group", group);
	cJSON_AddStringToObject(k, "version", version);
	cJSON_AddStringToObject(k, "kind", kind);
	return k;
}

static void add_agg_sub(cJSON *subs, const char *sub, cJSON *kind, const char *const *verbs)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "subresource", sub);
	cJSON_AddItemToObject(s, "responseKind", kind);
	cJSON_AddItemToObject(s, "verbs", string_array(verbs, 8));
	cJSON_AddItemToArray(subs, s);
}

struct agg_ctx {
	bool legacy;
	cJSON *items;
};

static cJSON *agg_group(cJSON *items, const char *group, const char *version)
{
	cJSON *g;
	g = cJSON_CreateObject();
	cJSON *m = cJSON_AddObjectToObject(g, "metadata");
	cJSON_AddStringToObject(m, "name", group);
	cJSON_AddStringToObject(m, "creationTimestamp", "2025-01-01T00:00:00Z");
	cJSON *vs = cJSON_AddArrayToObject(g, "versions");
	cJSON *v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "version", version);
	cJSON_AddArrayToObject(v, "resources");
	cJSON_AddStringToObject(v, "freshness", "Current");
	cJSON_AddItemToArray(vs, v);
	cJSON_AddItemToArray(items, g);
	return g;
}

static cJSON *agg_resources(cJSON *items, const char *group, const char *version)
{
	cJSON *g;
	cJSON_ArrayForEach(g, items) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(g, "metadata"), "name");
		if (cJSON_IsString(n) && !strcmp(n->valuestring, group))
			goto found;
	}
	g = agg_group(items, group, version);
found:
	return cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g, "versions"), 0), "resources");
}

static int collect_aggregated(const struct ks_resource_type *t, void *payload)
{
	struct agg_ctx *c = payload;
	if (c->legacy != !t->group[0])
		return 0;
	cJSON *list = agg_resources(c->items, t->group, t->api_version);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "resource", t->resource);
	cJSON_AddItemToObject(r, "responseKind", response_kind(t->group, t->api_version, t->kind));
	cJSON_AddStringToObject(r, "scope", t->namespaced ? "Namespaced" : "Cluster");
	cJSON_AddStringToObject(r, "singularResource", t->singular);
	cJSON_AddItemToObject(r, "verbs", string_array(t->verbs, KS_MAX_NAMES + 2));
	if (t->short_names[0])
		cJSON_AddItemToObject(r, "shortNames", string_array(t->short_names, KS_MAX_NAMES));
	if (t->categories[0])
		cJSON_AddItemToObject(r, "categories", string_array(t->categories, KS_MAX_NAMES));
	cJSON *subs = cJSON_CreateArray();
	if (t->subresources & KS_SUB_STATUS)
		add_agg_sub(subs, "status", response_kind(t->group, t->api_version, t->kind),
			sub_verbs);
	if (t->subresources & KS_SUB_SCALE)
		add_agg_sub(subs, "scale", response_kind("autoscaling", "v1", "Scale"), sub_verbs);
	if (t->subresources & KS_SUB_LOG)
		add_agg_sub(subs, "log", response_kind("", "v1", "Pod"), get_verb);
	if (t->subresources & KS_SUB_EXEC)
		add_agg_sub(subs, "exec", response_kind("", "v1", "PodExecOptions"), create_verb);
	if (t->subresources & KS_SUB_EVICTION)
		add_agg_sub(subs, "eviction", response_kind("policy", "v1", "Eviction"), create_verb);
	if (t->subresources & KS_SUB_PROXY)
		add_agg_sub(subs, "proxy", response_kind("", "v1",
			!strcmp(t->resource, "pods") ? "PodProxyOptions" : "ServiceProxyOptions"),
			proxy_verbs);
	if (cJSON_GetArraySize(subs))
		cJSON_AddItemToObject(r, "subresources", subs);
	else
		cJSON_Delete(subs);
	cJSON_AddItemToArray(list, r);
	return 0;
}

cJSON *ks_discovery_aggregated(struct ks_store *store, bool legacy)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "kind", "APIGroupDiscoveryList");
	cJSON_AddStringToObject(r, "apiVersion", "apidiscovery.k8s.io/v2");
	cJSON_AddObjectToObject(r, "metadata");
	struct agg_ctx c = {.legacy = legacy, .items = cJSON_AddArrayToObject(r, "items")};
	ks_store_type_foreach(store, collect_aggregated, &c);
	return r;
}

/* ---- OpenAPI v3 ---- */

struct oa_ctx {
	cJSON *paths;
	const char *group, *version;
	struct ks_store *store;
};

static int collect_oa_index(const struct ks_resource_type *t, void *payload)
{
	struct oa_ctx *c = payload;
	char key[200], url[300];
	if (t->group[0])
		snprintf(key, sizeof(key), "apis/%s/%s", t->group, t->api_version);
	else
		snprintf(key, sizeof(key), "api/%s", t->api_version);
	if (cJSON_GetObjectItemCaseSensitive(c->paths, key))
		return 0;
	/* The hash changes whenever the served types change, so kubectl's
	 * HTTP cache never serves a document without a new CRD. */
	snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%016" PRIX64, key,
		(uint64_t)(ks_store_types_epoch(c->store) * 0x9E3779B97F4A7C15ULL));
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "serverRelativeURL", url);
	cJSON_AddItemToObject(c->paths, key, e);
	return 0;
}

cJSON *ks_openapi_v3_index(struct ks_store *store)
{
	cJSON *r = cJSON_CreateObject();
	struct oa_ctx c = {.paths = cJSON_AddObjectToObject(r, "paths"), .store = store};
	ks_store_type_foreach(store, collect_oa_index, &c);
	return r;
}

static cJSON *param(const char *name, const char *in)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddStringToObject(p, "in", in);
	cJSON_AddBoolToObject(p, "required", !strcmp(in, "path"));
	cJSON_AddItemToObject(p, "schema", cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(p, "schema"), "type", "string");
	cJSON_AddBoolToObject(p, "uniqueItems", true);
	return p;
}

static cJSON *operation(const struct ks_resource_type *t, const char *id, bool write,
	bool patch)
{
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "operationId", id);
	cJSON *params = cJSON_AddArrayToObject(op, "parameters");
	if (write) {
		cJSON_AddItemToArray(params, param("dryRun", "query"));
		cJSON_AddItemToArray(params, param("fieldManager", "query"));
		cJSON_AddItemToArray(params, param("fieldValidation", "query"));
	}
	if (patch) {
		cJSON_AddItemToArray(params, param("force", "query"));
		cJSON *body = cJSON_AddObjectToObject(op, "requestBody");
		cJSON *content = cJSON_AddObjectToObject(body, "content");
		static const char *const types[] = {"application/apply-patch+yaml",
			"application/json-patch+json", "application/merge-patch+json"};
		for (size_t i = 0; i < 3; i++) {
			cJSON *ct = cJSON_AddObjectToObject(content, types[i]);
			cJSON *schema = cJSON_AddObjectToObject(ct, "schema");
			cJSON_AddStringToObject(schema, "type", "object");
		}
		cJSON_AddBoolToObject(body, "required", true);
	}
	cJSON *resp = cJSON_AddObjectToObject(op, "responses");
	cJSON *ok = cJSON_AddObjectToObject(resp, "200");
	cJSON_AddStringToObject(ok, "description", "OK");
	cJSON *gvk = cJSON_AddObjectToObject(op, "x-kubernetes-group-version-kind");
	cJSON_AddStringToObject(gvk, "group", t->group);
	cJSON_AddStringToObject(gvk, "version", t->api_version);
	cJSON_AddStringToObject(gvk, "kind", t->kind);
	cJSON_AddStringToObject(op, "x-kubernetes-action", patch ? "patch" : write ? "put" : "get");
	return op;
}

static int collect_oa_paths(const struct ks_resource_type *t, void *payload)
{
	struct oa_ctx *c = payload;
	if (strcmp(t->group, c->group) || strcmp(t->api_version, c->version))
		return 0;
	char prefix[200], coll[400], item[420], id[200];
	if (t->group[0])
		snprintf(prefix, sizeof(prefix), "/apis/%s/%s", t->group, t->api_version);
	else
		snprintf(prefix, sizeof(prefix), "/api/%s", t->api_version);
	snprintf(coll, sizeof(coll), "%s%s/%s", prefix,
		t->namespaced ? "/namespaces/{namespace}" : "", t->resource);
	snprintf(item, sizeof(item), "%s/{name}", coll);
	cJSON *pc = cJSON_CreateObject();
	snprintf(id, sizeof(id), "list%s", t->kind);
	cJSON_AddItemToObject(pc, "get", operation(t, id, false, false));
	snprintf(id, sizeof(id), "create%s", t->kind);
	cJSON_AddItemToObject(pc, "post", operation(t, id, true, false));
	cJSON_AddItemToObject(c->paths, coll, pc);
	cJSON *pi = cJSON_CreateObject();
	snprintf(id, sizeof(id), "read%s", t->kind);
	cJSON_AddItemToObject(pi, "get", operation(t, id, false, false));
	snprintf(id, sizeof(id), "replace%s", t->kind);
	cJSON_AddItemToObject(pi, "put", operation(t, id, true, false));
	snprintf(id, sizeof(id), "patch%s", t->kind);
	cJSON_AddItemToObject(pi, "patch", operation(t, id, true, true));
	snprintf(id, sizeof(id), "delete%s", t->kind);
	cJSON_AddItemToObject(pi, "delete", operation(t, id, false, false));
	cJSON_AddItemToObject(c->paths, item, pi);
	return 0;
}

cJSON *ks_openapi_v3_document(struct ks_store *store, const char *group, const char *version)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "openapi", "3.0.0");
	cJSON *info = cJSON_AddObjectToObject(r, "info");
	cJSON_AddStringToObject(info, "title", "Kubernetes");
	cJSON_AddStringToObject(info, "version", "v1.32.9");
	struct oa_ctx c = {.paths = cJSON_AddObjectToObject(r, "paths"), .group = group,
		.version = version, .store = store};
	ks_store_type_foreach(store, collect_oa_paths, &c);
	if (!c.paths->child) {
		cJSON_Delete(r);
		return NULL;
	}
	cJSON_AddObjectToObject(cJSON_AddObjectToObject(r, "components"), "schemas");
	return r;
}
