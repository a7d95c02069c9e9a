/* Apply order, immutable fields and the inventory encoding. */
#include "config.h"

#include "core/error.h"
#include "reconcile/inventory.h"
#include "reconcile/rules.h"
#include "tests/unit/check_main.h"

#include <string.h>

START_TEST(test_apply_rank)
{
	ck_assert_int_lt(keelson_apply_rank("", "Namespace"),
			 keelson_apply_rank("apiextensions.k8s.io", "CustomResourceDefinition"));
	ck_assert_int_lt(keelson_apply_rank("apiextensions.k8s.io", "CustomResourceDefinition"),
			 keelson_apply_rank("", "ServiceAccount"));
	ck_assert_int_eq(keelson_apply_rank("", "ServiceAccount"),
			 keelson_apply_rank("rbac.authorization.k8s.io", "RoleBinding"));
	ck_assert_int_lt(keelson_apply_rank("rbac.authorization.k8s.io", "Role"), keelson_apply_rank("", "ConfigMap"));
	ck_assert_int_eq(keelson_apply_rank("", "Secret"), keelson_apply_rank("", "ConfigMap"));
	ck_assert_int_lt(keelson_apply_rank("", "ConfigMap"), keelson_apply_rank("", "Service"));
	ck_assert_int_lt(keelson_apply_rank("", "Service"), keelson_apply_rank("", "PersistentVolumeClaim"));
	ck_assert_int_lt(keelson_apply_rank("", "PersistentVolumeClaim"), keelson_apply_rank("apps", "StatefulSet"));
	ck_assert_int_lt(keelson_apply_rank("apps", "StatefulSet"), keelson_apply_rank("policy", "PodDisruptionBudget"));
	ck_assert_int_lt(keelson_apply_rank("batch", "CronJob"),
			 keelson_apply_rank("sparkoperator.k8s.io", "SparkApplication"));
	/* A kind with the same name in another group is not the built-in one. */
	ck_assert_int_eq(keelson_apply_rank("example.com", "Namespace"), keelson_apply_rank("x", "Other"));
}
END_TEST

START_TEST(test_immutable_field)
{
	ck_assert_ptr_nonnull(keelson_immutable_field("apps", "StatefulSet", "/spec/volumeClaimTemplates/0/spec/resources/requests/storage", NULL));
	ck_assert_ptr_nonnull(strstr(keelson_immutable_field("apps", "StatefulSet", "/spec/volumeClaimTemplates", NULL),
				     "planned operation"));
	ck_assert_ptr_nonnull(keelson_immutable_field("apps", "StatefulSet", "/spec/serviceName", NULL));
	ck_assert_ptr_nonnull(keelson_immutable_field("apps", "StatefulSet", "/spec/selector/matchLabels/app", NULL));
	ck_assert_ptr_null(keelson_immutable_field("apps", "StatefulSet", "/spec/replicas", NULL));
	ck_assert_ptr_null(keelson_immutable_field("apps", "StatefulSet", "/spec/template/spec/containers/0/image", NULL));
	ck_assert_ptr_null(keelson_immutable_field("apps", "StatefulSet", "/metadata/labels/x", NULL));
	/* A prefix must end at a token boundary. */
	ck_assert_ptr_nonnull(keelson_immutable_field("apps", "StatefulSet", "/spec/replicasX", NULL));
	ck_assert_ptr_nonnull(keelson_immutable_field("apps", "Deployment", "/spec/selector", NULL));
	ck_assert_ptr_null(keelson_immutable_field("apps", "Deployment", "/spec/replicas", NULL));
	ck_assert_ptr_nonnull(keelson_immutable_field("", "Service", "/spec/clusterIP", NULL));
	ck_assert_ptr_null(keelson_immutable_field("", "Service", "/spec/ports/0/port", NULL));
	ck_assert_ptr_null(keelson_immutable_field("", "PersistentVolumeClaim", "/spec/resources/requests/storage", NULL));
	ck_assert_ptr_nonnull(keelson_immutable_field("", "PersistentVolumeClaim", "/spec/storageClassName", NULL));
	ck_assert_ptr_nonnull(keelson_immutable_field("rbac.authorization.k8s.io", "RoleBinding", "/roleRef/name", NULL));
	cJSON *cm = cJSON_Parse("{\"immutable\":true,\"data\":{\"a\":\"b\"}}");
	ck_assert_ptr_nonnull(keelson_immutable_field("", "ConfigMap", "/data/a", cm));
	ck_assert_ptr_null(keelson_immutable_field("", "ConfigMap", "/data/a", NULL));
	ck_assert_ptr_null(keelson_immutable_field("", "ConfigMap", "/metadata/labels/a", cm));
	cJSON_Delete(cm);
}
END_TEST

START_TEST(test_inventory_roundtrip)
{
	struct keelson_inventory *inv = keelson_inventory_new();
	ck_assert_ptr_nonnull(inv);
	ck_assert_int_eq(keelson_inventory_put(inv, "apps/v1", "StatefulSet", "kafka", "kafka", NULL), 0);
	ck_assert_int_eq(keelson_inventory_put(inv, "v1", "Namespace", "", "kafka", "u-1"), 0);
	/* Same identity in another version of the group: updated, not added. */
	ck_assert_int_eq(keelson_inventory_put(inv, "apps/v1beta2", "StatefulSet", "kafka", "kafka", "u-2"), 0);
	ck_assert_uint_eq(inv->count, 2);
	ck_assert_int_eq(keelson_inventory_find(inv, "apps/v1", "StatefulSet", "kafka", "kafka"), 0);
	ck_assert_int_eq(keelson_inventory_find(inv, "example.com/v1", "StatefulSet", "kafka", "kafka"), -1);
	ck_assert_str_eq(inv->items[0].uid, "u-2");
	inv->revision = strdup("0123456789012345678901234567890123456789");

	cJSON *cm = keelson_inventory_to_configmap(inv, "keelson-system", "prod", "kafka-events");
	ck_assert_ptr_nonnull(cm);
	const cJSON *meta = cJSON_GetObjectItem(cm, "metadata");
	ck_assert_str_eq(cJSON_GetObjectItem(meta, "name")->valuestring, "keelson-inventory-prod-kafka-events");
	ck_assert_str_eq(cJSON_GetObjectItem(meta, "namespace")->valuestring, "keelson-system");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(meta, "labels"), KEELSON_LABEL_SYSTEM)->valuestring,
			 "kafka-events");

	struct keelson_inventory *back = NULL;
	ck_assert_int_eq(keelson_inventory_from_configmap(&back, cm), 0);
	ck_assert(back->exists);
	ck_assert_uint_eq(back->count, 2);
	ck_assert_str_eq(back->revision, inv->revision);
	ck_assert_str_eq(back->items[0].api_version, "apps/v1beta2");
	ck_assert_str_eq(back->items[1].namespace_, "");
	ck_assert_str_eq(back->items[1].uid, "u-1");
	keelson_inventory_remove(back, 0);
	ck_assert_uint_eq(back->count, 1);
	ck_assert_str_eq(back->items[0].kind, "Namespace");
	keelson_inventory_free(back);
	cJSON_Delete(cm);
	keelson_inventory_free(inv);

	ck_assert_int_eq(keelson_inventory_from_configmap(&back, NULL), 0);
	ck_assert(!back->exists);
	ck_assert_uint_eq(back->count, 0);
	keelson_inventory_free(back);
}
END_TEST

START_TEST(test_inventory_malformed)
{
	struct keelson_inventory *inv = NULL;
	cJSON *cm = cJSON_Parse("{\"metadata\":{\"name\":\"keelson-inventory-a-b\"},\"data\":{\"objects\":\"{oops\"}}");
	ck_assert_int_eq(keelson_inventory_from_configmap(&inv, cm), KEELSON_EINVALID);
	ck_assert_ptr_null(inv);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "keelson-inventory-a-b"));
	cJSON_Delete(cm);
	cm = cJSON_Parse("{\"metadata\":{\"name\":\"x\"},\"data\":{\"objects\":\"[{\\\"kind\\\":\\\"A\\\"}]\"}}");
	ck_assert_int_eq(keelson_inventory_from_configmap(&inv, cm), KEELSON_EINVALID);
	cJSON_Delete(cm);
}
END_TEST

static Suite *suite_reconcile_rules(void)
{
	Suite *s = suite_create("reconcile_rules");
	TCase *tc = tcase_create("keelson_apply_rank");
	tcase_add_test(tc, test_apply_rank);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_immutable_field");
	tcase_add_test(tc, test_immutable_field);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_inventory_from_configmap");
	tcase_add_test(tc, test_inventory_roundtrip);
	tcase_add_test(tc, test_inventory_malformed);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_reconcile_rules)
