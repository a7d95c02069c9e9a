#include "config.h"

#include "merge_keys.h"

#include <string.h>

#include "core/error.h"

/* Source of truth: the struct tags and +listType markers in
 * k8s.io/api core/v1, apps/v1, batch/v1 and apimachinery meta/v1 types.go
 * (v1.32). Where a type has patchMergeKey but no +listType, the OpenAPI
 * converter treats it as a list-map keyed by the merge key, so both views
 * agree there. */
struct list_rule {
	const char *path; /* relative to the table's root */
	enum ks_list_kind kind;
	const char *smp_merge_key;
	const char *smp_strategy;
	const char *ssa_keys[KS_LIST_MAX_KEYS];
};

#define MAP1(k) KS_LIST_MAP, (k), "merge", { (k), NULL, NULL }
#define RULES_END { NULL, KS_LIST_ATOMIC, NULL, NULL, { NULL, NULL, NULL } }

static const struct list_rule object_meta_rules[] = {
	{ "/finalizers", KS_LIST_SET, NULL, "merge", { NULL, NULL, NULL } },
	{ "/ownerReferences", MAP1("uid") },
	{ "/managedFields", KS_LIST_ATOMIC, NULL, NULL, { NULL, NULL, NULL } },
	RULES_END,
};

static const struct list_rule pod_spec_rules[] = {
	{ "/containers", MAP1("name") },
	{ "/initContainers", MAP1("name") },
	{ "/ephemeralContainers", MAP1("name") },
	{ "/volumes", KS_LIST_MAP, "name", "merge,retainKeys", { "name", NULL, NULL } },
	{ "/imagePullSecrets", MAP1("name") },
	{ "/hostAliases", MAP1("ip") },
	{ "/topologySpreadConstraints", KS_LIST_MAP, "topologyKey", "merge",
	  { "topologyKey", "whenUnsatisfiable", NULL } },
	{ "/schedulingGates", MAP1("name") },
	{ "/resourceClaims", KS_LIST_MAP, "name", "merge,retainKeys", { "name", NULL, NULL } },
	RULES_END,
};

/* Relative to one container ("/containers/ *" and its siblings). */
static const struct list_rule container_rules[] = {
	{ "/env", MAP1("name") },
	{ "/ports", KS_LIST_MAP, "containerPort", "merge", { "containerPort", "protocol", NULL } },
	{ "/volumeMounts", MAP1("mountPath") },
	{ "/volumeDevices", MAP1("devicePath") },
	/* ResourceRequirements.claims: +listType=map without SMP tags. */
	{ "/resources/claims", KS_LIST_MAP, NULL, NULL, { "name", NULL, NULL } },
	RULES_END,
};

static const struct list_rule pod_rules[] = {
	{ "/status/podIPs", MAP1("ip") },
	{ "/status/hostIPs", MAP1("ip") },
	{ "/status/resourceClaimStatuses", KS_LIST_MAP, "name", "merge,retainKeys",
	  { "name", NULL, NULL } },
	RULES_END,
};

static const struct list_rule service_rules[] = {
	{ "/spec/ports", KS_LIST_MAP, "port", "merge", { "port", "protocol", NULL } },
	RULES_END,
};

static const struct list_rule node_rules[] = {
	{ "/status/addresses", MAP1("type") },
	{ "/spec/podCIDRs", KS_LIST_SET, NULL, "merge", { NULL, NULL, NULL } },
	RULES_END,
};

static const struct list_rule status_conditions_rules[] = {
	{ "/status/conditions", MAP1("type") },
	RULES_END,
};

enum pod_template_location {
	TEMPLATE_NONE,
	TEMPLATE_SPEC,          /* /spec/template: workloads */
	TEMPLATE_ROOT,          /* /template: PodTemplate */
	TEMPLATE_JOB_TEMPLATE,  /* /spec/jobTemplate/spec/template: CronJob */
};

struct kind_rules {
	const char *group;
	const char *kind;
	enum pod_template_location pod_template;
	const struct list_rule *rules; /* kind-specific, may be NULL */
};

static const struct kind_rules kinds[] = {
	{ "", "Pod", TEMPLATE_NONE, pod_rules },
	{ "", "PodTemplate", TEMPLATE_ROOT, NULL },
	{ "", "ReplicationController", TEMPLATE_SPEC, NULL },
	{ "", "Service", TEMPLATE_NONE, service_rules },
	{ "", "Node", TEMPLATE_NONE, node_rules },
	{ "apps", "StatefulSet", TEMPLATE_SPEC, NULL },
	{ "apps", "Deployment", TEMPLATE_SPEC, NULL },
	{ "apps", "ReplicaSet", TEMPLATE_SPEC, NULL },
	{ "apps", "DaemonSet", TEMPLATE_SPEC, NULL },
	{ "batch", "Job", TEMPLATE_SPEC, NULL },
	{ "batch", "CronJob", TEMPLATE_JOB_TEMPLATE, NULL },
};

/* Groups served by kube-apiserver itself: their types have Go struct tags,
 * so their status conditions are keyed by type. Custom resources have no
 * such tags and stay atomic unless their schema says otherwise. */
static const char *const builtin_groups[] = {
	"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io",
	"coordination.k8s.io", "rbac.authorization.k8s.io", "storage.k8s.io",
	"apiextensions.k8s.io", "apiregistration.k8s.io", "discovery.k8s.io",
	"events.k8s.io", "scheduling.k8s.io", "node.k8s.io",
	"admissionregistration.k8s.io", "certificates.k8s.io",
	"flowcontrol.apiserver.k8s.io", "resource.k8s.io",
};

static void set_atomic(struct ks_list_semantics *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = KS_LIST_ATOMIC;
}

static void set_from_rule(struct ks_list_semantics *out, const struct list_rule *rule)
{
	memset(out, 0, sizeof(*out));
	out->kind = rule->kind;
	out->smp_merge_key = rule->smp_merge_key;
	out->smp_strategy = rule->smp_strategy;
	if (rule->kind != KS_LIST_MAP)
		return;
	for (size_t i = 0; i < KS_LIST_MAX_KEYS && rule->ssa_keys[i]; i++) {
		out->ssa_keys[i] = rule->ssa_keys[i];
		out->ssa_key_count = i + 1;
	}
}

/* When `path` starts with `prefix` at a token boundary, return the rest
 * ("" or "/..."); else NULL. */
static const char *strip_prefix(const char *path, const char *prefix)
{
	size_t len = strlen(prefix);
	if (strncmp(path, prefix, len) != 0)
		return NULL;
	if (path[len] != '\0' && path[len] != '/')
		return NULL;
	return path + len;
}

static int match_rules(struct ks_list_semantics *out, const struct list_rule *rules,
		       const char *rel)
{
	if (!rules || !rel)
		return 0;
	for (const struct list_rule *r = rules; r->path; r++) {
		if (strcmp(r->path, rel) == 0) {
			set_from_rule(out, r);
			return 1;
		}
	}
	return 0;
}

static int match_container(struct ks_list_semantics *out, const char *pod_spec_rel)
{
	static const char *const lists[] = { "/containers/*", "/initContainers/*",
					     "/ephemeralContainers/*" };
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		const char *rel = strip_prefix(pod_spec_rel, lists[i]);
		if (rel && match_rules(out, container_rules, rel))
			return 1;
	}
	return 0;
}

/* `rel` is relative to a PodTemplateSpec (metadata + spec). */
static int match_pod_template(struct ks_list_semantics *out, const char *rel)
{
	const char *sub = strip_prefix(rel, "/metadata");
	if (sub)
		return match_rules(out, object_meta_rules, sub);
	sub = strip_prefix(rel, "/spec");
	if (!sub)
		return 0;
	return match_rules(out, pod_spec_rules, sub) || match_container(out, sub);
}

static int is_builtin_group(const char *group)
{
	for (size_t i = 0; i < sizeof(builtin_groups) / sizeof(builtin_groups[0]); i++)
		if (strcmp(group, builtin_groups[i]) == 0)
			return 1;
	return 0;
}

int ks_list_semantics_lookup(struct ks_list_semantics *out, const char *group,
			     const char *kind, const char *path)
{
	if (!out || !group || !kind || !path)
		return keelson_error_set(KEELSON_EINVALID,
					 "list semantics lookup: group, kind and path are required");
	set_atomic(out);

	const char *rel = strip_prefix(path, "/metadata");
	if (rel) {
		match_rules(out, object_meta_rules, rel);
		return 0;
	}

	if (!is_builtin_group(group))
		return 0;
	if (match_rules(out, status_conditions_rules, path))
		return 0;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct kind_rules *k = &kinds[i];
		if (strcmp(k->group, group) != 0 || strcmp(k->kind, kind) != 0)
			continue;
		if (match_rules(out, k->rules, path))
			return 0;
		switch (k->pod_template) {
		case TEMPLATE_NONE:
			/* Only Pod has its pod spec at /spec. */
			if (strcmp(kind, "Pod") == 0) {
				rel = strip_prefix(path, "/spec");
				if (rel && !match_rules(out, pod_spec_rules, rel))
					match_container(out, rel);
			}
			break;
		case TEMPLATE_SPEC:
			rel = strip_prefix(path, "/spec/template");
			if (rel)
				match_pod_template(out, rel);
			break;
		case TEMPLATE_ROOT:
			rel = strip_prefix(path, "/template");
			if (rel)
				match_pod_template(out, rel);
			break;
		case TEMPLATE_JOB_TEMPLATE:
			rel = strip_prefix(path, "/spec/jobTemplate/spec/template");
			if (rel)
				match_pod_template(out, rel);
			break;
		}
		return 0;
	}
	return 0;
}

int ks_list_semantics_smp_merges(const struct ks_list_semantics *sem)
{
	return sem && sem->smp_strategy && strncmp(sem->smp_strategy, "merge", 5) == 0 &&
	       (sem->smp_strategy[5] == '\0' || sem->smp_strategy[5] == ',');
}

int ks_list_semantics_smp_retain_keys(const struct ks_list_semantics *sem)
{
	return sem && sem->smp_strategy && strstr(sem->smp_strategy, "retainKeys") != NULL;
}
