#include "config.h"

#include "diff/list_semantics.h"

#include <stdbool.h>
#include <string.h>

struct keyed_list {
	const char *name;
	enum keelson_list_type type;
	const char *keys[KEELSON_LIST_MAX_KEYS];
};

/* Lists directly in a PodSpec (k8s.io/api/core/v1 PodSpec, OpenAPI). */
static const struct keyed_list pod_spec_lists[] = {
	{"containers", KEELSON_LIST_MAP, {"name", NULL}},
	{"initContainers", KEELSON_LIST_MAP, {"name", NULL}},
	{"ephemeralContainers", KEELSON_LIST_MAP, {"name", NULL}},
	{"volumes", KEELSON_LIST_MAP, {"name", NULL}},
	{"imagePullSecrets", KEELSON_LIST_MAP, {"name", NULL}},
	{"hostAliases", KEELSON_LIST_MAP, {"ip", NULL}},
	{"topologySpreadConstraints", KEELSON_LIST_MAP, {"topologyKey", "whenUnsatisfiable"}},
	{"resourceClaims", KEELSON_LIST_MAP, {"name", NULL}},
	{"schedulingGates", KEELSON_LIST_MAP, {"name", NULL}},
};

/* Lists in a Container. */
static const struct keyed_list container_lists[] = {
	{"ports", KEELSON_LIST_MAP, {"containerPort", "protocol"}},
	{"env", KEELSON_LIST_MAP, {"name", NULL}},
	{"volumeMounts", KEELSON_LIST_MAP, {"mountPath", NULL}},
	{"volumeDevices", KEELSON_LIST_MAP, {"devicePath", NULL}},
	{"resizePolicy", KEELSON_LIST_MAP, {"resourceName", NULL}},
};

static bool has_prefix(const char *const *tokens, size_t count, const char *const *prefix, size_t n)
{
	if (count < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(tokens[i], prefix[i]) != 0)
			return false;
	return true;
}

static bool is_index(const char *token)
{
	if (*token == '\0')
		return false;
	for (; *token; token++)
		if (*token < '0' || *token > '9')
			return false;
	return true;
}

static void set(struct keelson_list_semantics *out, const struct keyed_list *entry)
{
	out->type = entry->type;
	out->key_count = 0;
	for (size_t i = 0; i < KEELSON_LIST_MAX_KEYS && entry->keys[i] != NULL; i++)
		out->keys[out->key_count++] = entry->keys[i];
}

/* Length of the path to the PodSpec in objects of this kind, or 0. */
static size_t pod_spec_depth(const char *group, const char *kind, const char *const *tokens,
			     size_t count)
{
	static const char *const pod[] = {"spec"};
	static const char *const workload[] = {"spec", "template", "spec"};
	static const char *const pod_template[] = {"template", "spec"};
	static const char *const cron_job[] = {"spec", "jobTemplate", "spec", "template", "spec"};

	if (strcmp(group, "") == 0) {
		if (strcmp(kind, "Pod") == 0 && has_prefix(tokens, count, pod, 1))
			return 1;
		if (strcmp(kind, "ReplicationController") == 0 && has_prefix(tokens, count, workload, 3))
			return 3;
		if (strcmp(kind, "PodTemplate") == 0 && has_prefix(tokens, count, pod_template, 2))
			return 2;
		return 0;
	}
	if (strcmp(group, "apps") == 0) {
		if ((strcmp(kind, "Deployment") == 0 || strcmp(kind, "StatefulSet") == 0 ||
		     strcmp(kind, "DaemonSet") == 0 || strcmp(kind, "ReplicaSet") == 0) &&
		    has_prefix(tokens, count, workload, 3))
			return 3;
		return 0;
	}
	if (strcmp(group, "batch") == 0) {
		if (strcmp(kind, "Job") == 0 && has_prefix(tokens, count, workload, 3))
			return 3;
		if (strcmp(kind, "CronJob") == 0 && has_prefix(tokens, count, cron_job, 5))
			return 5;
	}
	return 0;
}

void keelson_list_semantics_lookup(struct keelson_list_semantics *out, const char *group,
				   const char *kind, const char *const *tokens, size_t count)
{
	out->type = KEELSON_LIST_ATOMIC;
	out->key_count = 0;
	out->keys[0] = out->keys[1] = NULL;
	if (group == NULL || kind == NULL || count == 0)
		return;

	/* ObjectMeta is the same in every kind, custom resources included. */
	if (count == 2 && strcmp(tokens[0], "metadata") == 0) {
		if (strcmp(tokens[1], "finalizers") == 0) {
			out->type = KEELSON_LIST_SET;
		} else if (strcmp(tokens[1], "ownerReferences") == 0) {
			out->type = KEELSON_LIST_MAP;
			out->keys[0] = "uid";
			out->key_count = 1;
		}
		return;
	}
	if (strcmp(group, "") == 0 && strcmp(kind, "Service") == 0 && count == 2 &&
	    strcmp(tokens[0], "spec") == 0 && strcmp(tokens[1], "ports") == 0) {
		out->type = KEELSON_LIST_MAP;
		out->keys[0] = "port";
		out->keys[1] = "protocol";
		out->key_count = 2;
		return;
	}

	size_t depth = pod_spec_depth(group, kind, tokens, count);
	if (depth == 0)
		return;
	if (count == depth + 1) {
		for (size_t i = 0; i < sizeof(pod_spec_lists) / sizeof(pod_spec_lists[0]); i++)
			if (strcmp(tokens[depth], pod_spec_lists[i].name) == 0)
				set(out, &pod_spec_lists[i]);
		return;
	}
	if (count == depth + 3 && is_index(tokens[depth + 1]) &&
	    (strcmp(tokens[depth], "containers") == 0 || strcmp(tokens[depth], "initContainers") == 0 ||
	     strcmp(tokens[depth], "ephemeralContainers") == 0)) {
		for (size_t i = 0; i < sizeof(container_lists) / sizeof(container_lists[0]); i++)
			if (strcmp(tokens[depth + 2], container_lists[i].name) == 0)
				set(out, &container_lists[i]);
	}
}
