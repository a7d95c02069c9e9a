#include "config.h"

#include "tests/kubesim/controllers/controllers.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/ctl_internal.h"
#include "tests/kubesim/controllers/ctl_util.h"

#define NCONTROLLERS 9

struct ks_controllers {
	struct ks_store *store;
	struct ks_controller *running[NCONTROLLERS];
	size_t count;
};

/* Nodes are cluster-scoped objects kubectl shows (`get nodes`, pod NODE
 * column); one Ready node is what a kind cluster looks like. */
static void ensure_node(struct ks_store *store)
{
	const struct ks_resource_type *nodes = ks_store_type_find(store, "", "nodes");
	cJSON *existing = NULL;
	if (!nodes || ks_store_get(store, nodes, NULL, KS_NODE_NAME, &existing) == 0) {
		cJSON_Delete(existing);
		return;
	}
	char ts[KS_TIME_BUF];
	ks_clock_format(ks_clock_now(), ts);
	cJSON *node = cJSON_CreateObject();
	cJSON_AddStringToObject(node, "apiVersion", "v1");
	cJSON_AddStringToObject(node, "kind", "Node");
	cJSON *meta = cJSON_AddObjectToObject(node, "metadata");
	cJSON_AddStringToObject(meta, "name", KS_NODE_NAME);
	cJSON *labels = cJSON_AddObjectToObject(meta, "labels");
	cJSON_AddStringToObject(labels, "kubernetes.io/hostname", KS_NODE_NAME);
	cJSON_AddStringToObject(labels, "kubernetes.io/os", "linux");
	cJSON_AddStringToObject(labels, "kubernetes.io/arch", "amd64");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(node, "spec"), "podCIDR", "10.244.0.0/14");
	struct ks_write_options o = {.version = KS_WRITE_OPTIONS_VERSION};
	if (ks_store_create(store, nodes, NULL, node, &o, NULL) == 0) {
		cJSON *status = cJSON_CreateObject();
		ks_ctl_set_condition(status, "Ready", "True", "KubeletReady",
			"kubelet is posting ready status", ks_clock_now(), false, false);
		cJSON *addrs = cJSON_AddArrayToObject(status, "addresses");
		cJSON *a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "type", "InternalIP");
		cJSON_AddStringToObject(a, "address", KS_NODE_IP);
		cJSON_AddItemToArray(addrs, a);
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "type", "Hostname");
		cJSON_AddStringToObject(a, "address", KS_NODE_NAME);
		cJSON_AddItemToArray(addrs, a);
		cJSON *info = cJSON_AddObjectToObject(status, "nodeInfo");
		cJSON_AddStringToObject(info, "kubeletVersion", "v1.32.9");
		cJSON_AddStringToObject(info, "containerRuntimeVersion", "containerd://1.7.24");
		cJSON_AddStringToObject(info, "operatingSystem", "linux");
		cJSON_AddStringToObject(info, "architecture", "amd64");
		ks_ctl_put_status(store, nodes, NULL, KS_NODE_NAME, NULL, status);
		cJSON_Delete(status);
	}
	cJSON_Delete(node);
}

/* POST /_sim/reset drops every object; the node is part of the cluster,
 * not of the workload, so it comes back. */
static void node_after_reset(struct ks_store *store, void *payload)
{
	(void)payload;
	ensure_node(store);
}

int ks_controllers_start(struct ks_store *store, struct ks_controllers **out)
{
	static int (*const starters[NCONTROLLERS])(struct ks_store *, struct ks_controller **) = {
		ks_ctl_gc_start,
		ks_ctl_namespace_start,
		ks_ctl_kubelet_start,
		ks_ctl_statefulset_start,
		ks_ctl_replicaset_start,
		ks_ctl_deployment_start,
		ks_ctl_job_start,
		ks_ctl_disruption_start,
		ks_ctl_endpoints_start,
	};
	struct ks_controllers *c = calloc(1, sizeof(*c));
	if (!c)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting controllers");
	ensure_node(store);
	c->store = store;
	int hook_rc = ks_store_add_reset_hook(store, node_after_reset, c);
	if (hook_rc) {
		free(c);
		return keelson_error_wrap(hook_rc, "starting kubesim controllers");
	}
	for (size_t i = 0; i < NCONTROLLERS; i++) {
		int rc = starters[i](store, &c->running[c->count]);
		if (rc) {
			keelson_error_wrap(rc, "starting kubesim controllers");
			ks_controllers_stop(c);
			return rc;
		}
		c->count++;
	}
	*out = c;
	return 0;
}

void ks_controllers_stop(struct ks_controllers *c)
{
	if (!c)
		return;
	ks_store_remove_reset_hook(c->store, node_after_reset, c);
	/* Reverse order: workload controllers before the kubelet and GC. */
	while (c->count > 0)
		ks_controller_stop(c->running[--c->count]);
	free(c);
}

int ks_controllers_sync(struct ks_controllers *c, int timeout_ms)
{
	for (size_t i = 0; i < c->count; i++) {
		int rc = ks_controller_sync(c->running[i], timeout_ms);
		if (rc)
			return rc;
	}
	return 0;
}
