/*
 * Endpoints controller: for every Service with a selector, an Endpoints
 * object of the same name listing the matching pods that have an IP, ready
 * ones under `addresses`, the others under `notReadyAddresses` (all under
 * `addresses` with publishNotReadyAddresses), with hostname for pods whose
 * spec.subdomain is the service (StatefulSet DNS), and ports resolved from
 * targetPort (a number, or a container port name looked up in the pod).
 * Upstream splits subsets by distinct port sets; here one subset takes the
 * ports as resolved on the first pod. Services without a selector keep
 * their hand-written Endpoints. No EndpointSlices.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "json/json_canonical.h"
#include "tests/kubesim/controllers/ctl_internal.h"
#include "tests/kubesim/controllers/ctl_util.h"

struct epctl {
	const struct ks_resource_type *services, *endpoints, *pods;
	struct ks_ctl_map *dirty; /* namespace -> mark */
};

static const char *const ep_resources[] = {"/services", "/pods", NULL};

static void ep_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	struct epctl *c = payload;
	const char *ns = ks_meta_string(ev->object, "namespace");
	if (!ns)
		return;
	if (ev->resource_type == c->services && ev->type == KS_EVENT_DELETED) {
		/* Endpoints of a selector service go with it. */
		const cJSON *sel = ks_ctl_at(ev->object, "spec", "selector", NULL);
		if (cJSON_IsObject(sel) && sel->child)
			ks_ctl_delete(store, c->endpoints, ns, ks_meta_string(ev->object, "name"),
				NULL, KS_PROPAGATION_BACKGROUND, -1);
		ks_ctl_release_status();
		return;
	}
	ks_ctl_map_put(c->dirty, ns, (void *)1);
}

/* The container port a service port targets on `pod`, or -1. */
static long long target_port(const cJSON *svc_port, const cJSON *pod)
{
	const cJSON *tp = cJSON_GetObjectItemCaseSensitive(svc_port, "targetPort");
	if (cJSON_IsNumber(tp))
		return (long long)tp->valuedouble;
	const char *name = ks_ctl_str(tp);
	if (!name)
		return ks_ctl_num(cJSON_GetObjectItemCaseSensitive(svc_port, "port"), -1);
	const cJSON *c, *p;
	cJSON_ArrayForEach(c, ks_ctl_at(pod, "spec", "containers", NULL))
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports")) {
			const char *pn = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(p, "name"));
			if (pn && !strcmp(pn, name))
				return ks_ctl_num(cJSON_GetObjectItemCaseSensitive(p, "containerPort"), -1);
		}
	return -1;
}

static cJSON *address(const cJSON *pod, const char *svc_name)
{
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "ip", ks_ctl_str(ks_ctl_at(pod, "status", "podIP", NULL)));
	const char *host = ks_ctl_str(ks_ctl_at(pod, "spec", "hostname", NULL));
	const char *sub = ks_ctl_str(ks_ctl_at(pod, "spec", "subdomain", NULL));
	if (host && sub && !strcmp(sub, svc_name))
		cJSON_AddStringToObject(a, "hostname", host);
	const char *node = ks_ctl_str(ks_ctl_at(pod, "spec", "nodeName", NULL));
	if (node)
		cJSON_AddStringToObject(a, "nodeName", node);
	cJSON *ref = cJSON_AddObjectToObject(a, "targetRef");
	cJSON_AddStringToObject(ref, "kind", "Pod");
	cJSON_AddStringToObject(ref, "namespace", ks_meta_string(pod, "namespace"));
	cJSON_AddStringToObject(ref, "name", ks_meta_string(pod, "name"));
	cJSON_AddStringToObject(ref, "uid", ks_meta_string(pod, "uid"));
	return a;
}

static void sync_service(struct epctl *c, struct ks_store *store, const cJSON *svc,
	const cJSON *pods)
{
	const cJSON *selector = ks_ctl_at(svc, "spec", "selector", NULL);
	if (!cJSON_IsObject(selector) || !selector->child)
		return;
	const char *ns = ks_meta_string(svc, "namespace");
	const char *name = ks_meta_string(svc, "name");
	bool publish_all = ks_ctl_true(ks_ctl_at(svc, "spec", "publishNotReadyAddresses", NULL));
	/* Service selectors are plain label maps. */
	cJSON *label_selector = cJSON_CreateObject();
	cJSON_AddItemToObject(label_selector, "matchLabels", cJSON_Duplicate(selector, 1));
	cJSON *ready = cJSON_CreateArray(), *not_ready = cJSON_CreateArray();
	const cJSON *first = NULL, *p;
	cJSON_ArrayForEach(p, pods) {
		if (!ks_ctl_selector_matches(label_selector, ks_ctl_at(p, "metadata", "labels", NULL)))
			continue;
		if (!ks_ctl_str(ks_ctl_at(p, "status", "podIP", NULL)) || ks_ctl_pod_finished(p))
			continue;
		if (!first)
			first = p;
		bool is_ready = ks_ctl_pod_ready(p) && !ks_ctl_terminating(p);
		cJSON_AddItemToArray(is_ready || publish_all ? ready : not_ready, address(p, name));
	}
	cJSON_Delete(label_selector);

	cJSON *ep = cJSON_CreateObject();
	cJSON_AddStringToObject(ep, "apiVersion", "v1");
	cJSON_AddStringToObject(ep, "kind", "Endpoints");
	cJSON *meta = cJSON_AddObjectToObject(ep, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	cJSON_AddStringToObject(meta, "namespace", ns);
	const cJSON *labels = ks_ctl_at(svc, "metadata", "labels", NULL);
	if (labels)
		cJSON_AddItemToObject(meta, "labels", cJSON_Duplicate(labels, 1));
	cJSON *subsets = cJSON_AddArrayToObject(ep, "subsets");
	if (first) {
		cJSON *subset = cJSON_CreateObject();
		if (cJSON_GetArraySize(ready) > 0)
			cJSON_AddItemToObject(subset, "addresses", ready);
		else
			cJSON_Delete(ready);
		if (cJSON_GetArraySize(not_ready) > 0)
			cJSON_AddItemToObject(subset, "notReadyAddresses", not_ready);
		else
			cJSON_Delete(not_ready);
		cJSON *ports = cJSON_AddArrayToObject(subset, "ports");
		const cJSON *sp;
		cJSON_ArrayForEach(sp, ks_ctl_at(svc, "spec", "ports", NULL)) {
			long long port = target_port(sp, first);
			if (port < 0)
				continue;
			cJSON *o = cJSON_CreateObject();
			const char *pn = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(sp, "name"));
			if (pn)
				cJSON_AddStringToObject(o, "name", pn);
			cJSON_AddNumberToObject(o, "port", (double)port);
			const char *proto = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(sp, "protocol"));
			cJSON_AddStringToObject(o, "protocol", proto ? proto : "TCP");
			cJSON_AddItemToArray(ports, o);
		}
		cJSON_AddItemToArray(subsets, subset);
	} else {
		cJSON_Delete(ready);
		cJSON_Delete(not_ready);
	}

	cJSON *old = NULL;
	if (ks_store_get(store, c->endpoints, ns, name, &old)) {
		ks_store_create(store, c->endpoints, ns, ep, NULL, NULL);
	} else if (!keelson_json_equal(cJSON_GetObjectItemCaseSensitive(old, "subsets"), subsets) ||
		   !keelson_json_equal(ks_ctl_at(old, "metadata", "labels", NULL), labels)) {
		cJSON *patch = cJSON_CreateObject();
		cJSON_AddItemToObject(patch, "subsets", cJSON_Duplicate(subsets, 1));
		cJSON_AddItemToObject(cJSON_AddObjectToObject(patch, "metadata"), "labels",
			labels ? cJSON_Duplicate(labels, 1) : cJSON_CreateNull());
		ks_ctl_patch(store, c->endpoints, ns, name, ks_meta_string(old, "uid"), patch, NULL);
		cJSON_Delete(patch);
	}
	cJSON_Delete(old);
	cJSON_Delete(ep);
}

static void ep_tick(struct ks_store *store, void *payload)
{
	struct epctl *c = payload;
	if (!ks_ctl_map_count(c->dirty))
		return;
	size_t n;
	char **namespaces = ks_ctl_map_keys(c->dirty, &n);
	for (size_t i = 0; i < n; i++) {
		ks_ctl_map_remove(c->dirty, namespaces[i]);
		cJSON *services = ks_ctl_list(store, c->services, namespaces[i], NULL, NULL);
		if (cJSON_GetArraySize(services) > 0) {
			cJSON *pods = ks_ctl_list(store, c->pods, namespaces[i], NULL, NULL);
			const cJSON *svc;
			cJSON_ArrayForEach(svc, services)
				if (!ks_ctl_terminating(svc))
					sync_service(c, store, svc, pods);
			cJSON_Delete(pods);
		}
		cJSON_Delete(services);
	}
	ks_ctl_keys_free(namespaces, n);
	ks_ctl_release_status();
}

static void ep_stop(void *payload)
{
	struct epctl *c = payload;
	ks_ctl_map_free(c->dirty);
	free(c);
}

int ks_ctl_endpoints_start(struct ks_store *store, struct ks_controller **out)
{
	struct epctl *c = calloc(1, sizeof(*c));
	if (!c)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the endpoints controller");
	c->services = ks_store_type_find(store, "", "services");
	c->endpoints = ks_store_type_find(store, "", "endpoints");
	c->pods = ks_store_type_find(store, "", "pods");
	c->dirty = ks_ctl_map_new(NULL);
	if (!c->services || !c->endpoints || !c->pods || !c->dirty) {
		ep_stop(c);
		return keelson_error_set(KEELSON_ERROR,
			"cannot start the endpoints controller: the store lacks services, endpoints or pods");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "endpoints",
		.resources = ep_resources,
		.on_event = ep_event,
		.tick_ms = 20,
		.on_tick = ep_tick,
		.on_stop = ep_stop,
	};
	int rc = ks_controller_start(store, &def, c, out);
	if (rc)
		ep_stop(c);
	return rc;
}
