#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/patch/merge_keys.h"
#include "tests/unit/check_main.h"

static struct ks_list_semantics lookup(const char *group, const char *kind, const char *path)
{
	struct ks_list_semantics sem;
	ck_assert_int_eq(ks_list_semantics_lookup(&sem, group, kind, path), 0);
	return sem;
}

static void assert_map1(const char *group, const char *kind, const char *path,
			const char *key, const char *strategy)
{
	struct ks_list_semantics sem = lookup(group, kind, path);
	ck_assert_msg(sem.kind == KS_LIST_MAP, "%s %s: expected a list-map", kind, path);
	ck_assert_str_eq(sem.smp_merge_key, key);
	ck_assert_str_eq(sem.smp_strategy, strategy);
	ck_assert_uint_eq(sem.ssa_key_count, 1);
	ck_assert_str_eq(sem.ssa_keys[0], key);
}

static void assert_atomic(const char *group, const char *kind, const char *path)
{
	struct ks_list_semantics sem = lookup(group, kind, path);
	ck_assert_msg(sem.kind == KS_LIST_ATOMIC, "%s %s: expected atomic", kind, path);
	ck_assert_ptr_null(sem.smp_merge_key);
	ck_assert_ptr_null(sem.smp_strategy);
	ck_assert_uint_eq(sem.ssa_key_count, 0);
	ck_assert(!ks_list_semantics_smp_merges(&sem));
}

/* Pod specs live at different depths depending on the kind. */
static const struct {
	const char *group, *kind, *spec;
} pod_specs[] = {
	{ "", "Pod", "/spec" },
	{ "", "PodTemplate", "/template/spec" },
	{ "", "ReplicationController", "/spec/template/spec" },
	{ "apps", "StatefulSet", "/spec/template/spec" },
	{ "apps", "Deployment", "/spec/template/spec" },
	{ "apps", "ReplicaSet", "/spec/template/spec" },
	{ "apps", "DaemonSet", "/spec/template/spec" },
	{ "batch", "Job", "/spec/template/spec" },
	{ "batch", "CronJob", "/spec/jobTemplate/spec/template/spec" },
};

START_TEST(test_pod_spec_lists)
{
	const char *g = pod_specs[_i].group, *k = pod_specs[_i].kind;
	char path[256];
#define P(suffix) (snprintf(path, sizeof(path), "%s%s", pod_specs[_i].spec, suffix), path)
	assert_map1(g, k, P("/containers"), "name", "merge");
	assert_map1(g, k, P("/initContainers"), "name", "merge");
	assert_map1(g, k, P("/ephemeralContainers"), "name", "merge");
	assert_map1(g, k, P("/volumes"), "name", "merge,retainKeys");
	assert_map1(g, k, P("/imagePullSecrets"), "name", "merge");
	assert_map1(g, k, P("/hostAliases"), "ip", "merge");
	assert_map1(g, k, P("/schedulingGates"), "name", "merge");
	assert_atomic(g, k, P("/tolerations"));
	assert_atomic(g, k, P("/readinessGates"));
	assert_atomic(g, k, P("/hostAliases/*/hostnames"));

	struct ks_list_semantics sem = lookup(g, k, P("/topologySpreadConstraints"));
	ck_assert_int_eq(sem.kind, KS_LIST_MAP);
	ck_assert_str_eq(sem.smp_merge_key, "topologyKey");
	ck_assert_uint_eq(sem.ssa_key_count, 2);
	ck_assert_str_eq(sem.ssa_keys[0], "topologyKey");
	ck_assert_str_eq(sem.ssa_keys[1], "whenUnsatisfiable");

	static const char *const containers[] = { "/containers/*", "/initContainers/*",
						  "/ephemeralContainers/*" };
	for (size_t c = 0; c < 3; c++) {
		char base[160];
		snprintf(base, sizeof(base), "%s%s", pod_specs[_i].spec, containers[c]);
#define C(suffix) (snprintf(path, sizeof(path), "%s%s", base, suffix), path)
		assert_map1(g, k, C("/env"), "name", "merge");
		assert_map1(g, k, C("/volumeMounts"), "mountPath", "merge");
		assert_map1(g, k, C("/volumeDevices"), "devicePath", "merge");
		assert_atomic(g, k, C("/envFrom"));
		assert_atomic(g, k, C("/args"));
		assert_atomic(g, k, C("/command"));
		sem = lookup(g, k, C("/ports"));
		ck_assert_int_eq(sem.kind, KS_LIST_MAP);
		ck_assert_str_eq(sem.smp_merge_key, "containerPort");
		ck_assert_str_eq(sem.smp_strategy, "merge");
		ck_assert_uint_eq(sem.ssa_key_count, 2);
		ck_assert_str_eq(sem.ssa_keys[0], "containerPort");
		ck_assert_str_eq(sem.ssa_keys[1], "protocol");
#undef C
	}
	/* Template metadata is ObjectMeta too. */
	if (strcmp(k, "Pod") != 0) {
		char meta[160];
		snprintf(meta, sizeof(meta), "%s", pod_specs[_i].spec);
		meta[strlen(meta) - strlen("/spec")] = '\0';
		snprintf(path, sizeof(path), "%s/metadata/finalizers", meta);
		ck_assert_int_eq(lookup(g, k, path).kind, KS_LIST_SET);
	}
#undef P
}
END_TEST

START_TEST(test_pod_spec_wrong_depth_is_atomic)
{
	/* A StatefulSet has no pod spec at /spec, a Pod none at /spec/template. */
	assert_atomic("apps", "StatefulSet", "/spec/containers");
	assert_atomic("", "Pod", "/spec/template/spec/containers");
	assert_atomic("apps", "StatefulSet", "/spec/template/spec/containers/ports");
	assert_atomic("apps", "StatefulSet", "/spec/template/spec/containersX");
	/* Kind and group must both match. */
	assert_atomic("", "StatefulSet", "/spec/template/spec/containers");
	assert_atomic("example.com", "Pod", "/spec/containers");
}
END_TEST

START_TEST(test_statefulset_volume_claim_templates_atomic)
{
	assert_atomic("apps", "StatefulSet", "/spec/volumeClaimTemplates");
}
END_TEST

START_TEST(test_service_ports)
{
	struct ks_list_semantics sem = lookup("", "Service", "/spec/ports");
	ck_assert_int_eq(sem.kind, KS_LIST_MAP);
	ck_assert_str_eq(sem.smp_merge_key, "port");
	ck_assert_str_eq(sem.smp_strategy, "merge");
	ck_assert_uint_eq(sem.ssa_key_count, 2);
	ck_assert_str_eq(sem.ssa_keys[0], "port");
	ck_assert_str_eq(sem.ssa_keys[1], "protocol");
	assert_atomic("", "Service", "/spec/ipFamilies");
}
END_TEST

START_TEST(test_status_lists)
{
	assert_map1("", "Pod", "/status/conditions", "type", "merge");
	assert_map1("apps", "StatefulSet", "/status/conditions", "type", "merge");
	assert_map1("batch", "Job", "/status/conditions", "type", "merge");
	assert_map1("", "Namespace", "/status/conditions", "type", "merge");
	assert_map1("", "Node", "/status/conditions", "type", "merge");
	assert_map1("", "Node", "/status/addresses", "type", "merge");
	assert_map1("", "Pod", "/status/podIPs", "ip", "merge");
	assert_map1("", "Pod", "/status/hostIPs", "ip", "merge");
	assert_atomic("", "Pod", "/status/containerStatuses");
	/* Custom resources have no struct tags: conditions stay atomic. */
	assert_atomic("kafka.example.com", "KafkaCluster", "/status/conditions");
}
END_TEST

START_TEST(test_metadata_lists)
{
	static const char *const kinds[][2] = {
		{ "", "Pod" }, { "apps", "StatefulSet" }, { "", "ConfigMap" },
		{ "kafka.example.com", "KafkaCluster" },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct ks_list_semantics sem = lookup(kinds[i][0], kinds[i][1], "/metadata/finalizers");
		ck_assert_int_eq(sem.kind, KS_LIST_SET);
		ck_assert_ptr_null(sem.smp_merge_key);
		ck_assert_str_eq(sem.smp_strategy, "merge");
		ck_assert_uint_eq(sem.ssa_key_count, 0);
		ck_assert(ks_list_semantics_smp_merges(&sem));
		ck_assert(!ks_list_semantics_smp_retain_keys(&sem));
		assert_map1(kinds[i][0], kinds[i][1], "/metadata/ownerReferences", "uid", "merge");
		assert_atomic(kinds[i][0], kinds[i][1], "/metadata/managedFields");
	}
}
END_TEST

START_TEST(test_unknown_paths_atomic)
{
	assert_atomic("", "ConfigMap", "/data");
	assert_atomic("", "Pod", "/spec/unknown");
	assert_atomic("", "Pod", "");
	assert_atomic("kafka.example.com", "KafkaCluster", "/spec/brokers");
}
END_TEST

START_TEST(test_strategy_helpers)
{
	struct ks_list_semantics sem = lookup("", "Pod", "/spec/volumes");
	ck_assert(ks_list_semantics_smp_merges(&sem));
	ck_assert(ks_list_semantics_smp_retain_keys(&sem));
	sem = lookup("", "Pod", "/spec/containers/*/resources/claims");
	ck_assert_int_eq(sem.kind, KS_LIST_MAP);
	ck_assert(!ks_list_semantics_smp_merges(&sem));
	ck_assert(!ks_list_semantics_smp_merges(NULL));
}
END_TEST

START_TEST(test_invalid_arguments)
{
	struct ks_list_semantics sem;
	ck_assert_int_eq(ks_list_semantics_lookup(&sem, "", "Pod", NULL), KEELSON_EINVALID);
	ck_assert_int_eq(ks_list_semantics_lookup(NULL, "", "Pod", "/spec"), KEELSON_EINVALID);
	ck_assert_int_eq(ks_list_semantics_lookup(&sem, NULL, "Pod", "/spec"), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "required"));
}
END_TEST

static Suite *suite_merge_keys(void)
{
	Suite *s = suite_create("merge_keys");
	TCase *tc = tcase_create("ks_list_semantics_lookup");
	tcase_add_loop_test(tc, test_pod_spec_lists, 0, (int)(sizeof(pod_specs) / sizeof(pod_specs[0])));
	tcase_add_test(tc, test_pod_spec_wrong_depth_is_atomic);
	tcase_add_test(tc, test_statefulset_volume_claim_templates_atomic);
	tcase_add_test(tc, test_service_ports);
	tcase_add_test(tc, test_status_lists);
	tcase_add_test(tc, test_metadata_lists);
	tcase_add_test(tc, test_unknown_paths_atomic);
	tcase_add_test(tc, test_invalid_arguments);
	suite_add_tcase(s, tc);
	TCase *helpers = tcase_create("ks_list_semantics_smp");
	tcase_add_test(helpers, test_strategy_helpers);
	suite_add_tcase(s, helpers);
	return s;
}

KEELSON_CHECK_MAIN(suite_merge_keys)
