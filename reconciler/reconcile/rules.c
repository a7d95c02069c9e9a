/*
 * Apply order and immutable fields. The immutable table follows the API
 * server's validation (ValidateStatefulSetUpdate, ValidatePersistentVolume-
 * ClaimUpdate, ...): a change there would be refused, and "forcing" it by
 * deleting the object loses data (a StatefulSet's claims, a Service's
 * clusterIP), so keelson reports it as needing a planned operation instead.
 */
#include "config.h"

#include "reconcile/rules.h"

#include <stdbool.h>
#include <string.h>

struct rank_rule {
	const char *group, *kind;
	int rank;
};

static const struct rank_rule rank_rules[] = {
	{"", "Namespace", 0},
	{"apiextensions.k8s.io", "CustomResourceDefinition", 1},
	{"", "ServiceAccount", 2},
	{"rbac.authorization.k8s.io", "Role", 2},
	{"rbac.authorization.k8s.io", "ClusterRole", 2},
	{"rbac.authorization.k8s.io", "RoleBinding", 2},
	{"rbac.authorization.k8s.io", "ClusterRoleBinding", 2},
	{"", "ConfigMap", 3},
	{"", "Secret", 3},
	{"", "Service", 4},
	{"", "PersistentVolumeClaim", 5},
	{"apps", "StatefulSet", 6},
	{"apps", "Deployment", 6},
	{"apps", "DaemonSet", 6},
	{"apps", "ReplicaSet", 6},
	{"batch", "Job", 6},
	{"batch", "CronJob", 6},
	{"", "Pod", 6},
	{"", "ReplicationController", 6},
};

int keelson_apply_rank(const char *group, const char *kind)
{
	for (size_t i = 0; i < sizeof(rank_rules) / sizeof(rank_rules[0]); i++)
		if (strcmp(rank_rules[i].group, group) == 0 && strcmp(rank_rules[i].kind, kind) == 0)
			return rank_rules[i].rank;
	return 7;
}

/* `pointer` is `prefix` or below it. */
static bool under(const char *pointer, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(pointer, prefix, n) == 0 && (pointer[n] == '\0' || pointer[n] == '/');
}

static bool under_any(const char *pointer, const char *const *prefixes)
{
	for (; *prefixes != NULL; prefixes++)
		if (under(pointer, *prefixes))
			return true;
	return false;
}

static const char *const statefulset_mutable[] = {
	"/spec/replicas", "/spec/template", "/spec/updateStrategy", "/spec/persistentVolumeClaimRetentionPolicy",
	"/spec/minReadySeconds", "/spec/ordinals", "/spec/revisionHistoryLimit", NULL,
};

static const char *const pvc_mutable[] = {
	"/spec/resources/requests", "/spec/volumeAttributesClassName", NULL,
};

static const char *const service_immutable[] = {"/spec/clusterIP", "/spec/clusterIPs", NULL};

static const char *const job_immutable[] = {"/spec/selector", "/spec/template", "/spec/completionMode", NULL};

const char *keelson_immutable_field(const char *group, const char *kind, const char *pointer, const cJSON *live)
{
	if (strcmp(group, "apps") == 0 && strcmp(kind, "StatefulSet") == 0) {
		if (under(pointer, "/spec") && !under_any(pointer, statefulset_mutable)) {
			if (under(pointer, "/spec/volumeClaimTemplates"))
				return "a StatefulSet's volumeClaimTemplates cannot change in place: resizing or "
				       "replacing the claims is a planned operation (expand each PVC, then recreate "
				       "the StatefulSet with --cascade=orphan)";
			return "only replicas, template, updateStrategy, minReadySeconds, ordinals, "
			       "revisionHistoryLimit and persistentVolumeClaimRetentionPolicy of a StatefulSet "
			       "spec can change in place";
		}
		return NULL;
	}
	if (strcmp(group, "apps") == 0 &&
	    (strcmp(kind, "Deployment") == 0 || strcmp(kind, "DaemonSet") == 0 || strcmp(kind, "ReplicaSet") == 0)) {
		return under(pointer, "/spec/selector") ? "the label selector of a workload cannot change in place" : NULL;
	}
	if (strcmp(group, "batch") == 0 && strcmp(kind, "Job") == 0)
		return under_any(pointer, job_immutable) ? "a Job's selector, template and completionMode cannot change"
							 : NULL;
	if (strcmp(group, "") == 0 && strcmp(kind, "PersistentVolumeClaim") == 0) {
		if (under(pointer, "/spec") && !under_any(pointer, pvc_mutable))
			return "only the storage request (expansion) of a PersistentVolumeClaim can change";
		return NULL;
	}
	if (strcmp(group, "") == 0 && strcmp(kind, "Service") == 0)
		return under_any(pointer, service_immutable) ? "a Service's clusterIP cannot change in place" : NULL;
	if (strcmp(group, "rbac.authorization.k8s.io") == 0 &&
	    (strcmp(kind, "RoleBinding") == 0 || strcmp(kind, "ClusterRoleBinding") == 0))
		return under(pointer, "/roleRef") ? "the roleRef of a binding cannot change" : NULL;
	if (strcmp(group, "") == 0 && (strcmp(kind, "ConfigMap") == 0 || strcmp(kind, "Secret") == 0)) {
		const cJSON *imm = cJSON_GetObjectItemCaseSensitive(live, "immutable");
		if (cJSON_IsTrue(imm) && (under(pointer, "/data") || under(pointer, "/binaryData") ||
					  under(pointer, "/stringData") || under(pointer, "/immutable")))
			return "the live object is marked immutable: its data cannot change";
		return NULL;
	}
	return NULL;
}
