#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/patch/strategic_merge.h"
#include "tests/kubesim/patch/test_support.h"
#include "tests/unit/check_main.h"

struct vector {
	const char *comment;
	const char *group;
	const char *kind;
	const char *doc;
	const char *patch;
	const char *expected; /* NULL: must fail */
	const char *error;    /* message substring when failing */
};

#define POD_DOC                                                                                  \
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\",\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}," \
	"\"finalizers\":[\"a\",\"b\"]},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1\","           \
	"\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"                                \
	"\"ports\":[{\"containerPort\":80,\"name\":\"http\"}],\"args\":[\"-x\",\"-y\"]},"                            \
	"{\"name\":\"sidecar\",\"image\":\"busybox\"}],"                                                              \
	"\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}}],\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\"}]}}"

/* Helpers to keep the table readable: a Pod with only the spec part that
 * matters. */
#define CONTAINERS(list) "{\"spec\":{\"containers\":" list "}}"

static const struct vector vectors[] = {
	/* Lists merged by key: new items go first, as the apiserver orders
	 * them (kubernetes.io "kubectl patch" task shows the same). */
	{ "add a container", "", "Pod", CONTAINERS("[{\"name\":\"nginx\",\"image\":\"nginx\"}]"),
	  CONTAINERS("[{\"name\":\"log-tailer\",\"image\":\"log-tailer-1.0\"}]"),
	  CONTAINERS("[{\"name\":\"log-tailer\",\"image\":\"log-tailer-1.0\"},{\"name\":\"nginx\",\"image\":\"nginx\"}]"),
	  NULL },
	{ "merge into a matching container", "", "Pod", POD_DOC,
	  "{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:2\"}]}}",
	  "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-0\",\"labels\":{\"app\":\"web\",\"tier\":\"fe\"},"
	  "\"finalizers\":[\"a\",\"b\"]},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:2\","
	  "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
	  "\"ports\":[{\"containerPort\":80,\"name\":\"http\"}],\"args\":[\"-x\",\"-y\"]},"
	  "{\"name\":\"sidecar\",\"image\":\"busybox\"}],"
	  "\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}}],\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\"}]}}",
	  NULL },
	{ "env: change, add and delete by name", "", "Pod",
	  CONTAINERS("[{\"name\":\"web\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}]}]"),
	  CONTAINERS("[{\"name\":\"web\",\"env\":[{\"name\":\"A\",\"value\":\"10\"},{\"name\":\"C\",\"value\":\"3\"},"
		     "{\"$patch\":\"delete\",\"name\":\"B\"}]}]"),
	  CONTAINERS("[{\"name\":\"web\",\"env\":[{\"name\":\"A\",\"value\":\"10\"},{\"name\":\"C\",\"value\":\"3\"}]}]"),
	  NULL },
	{ "ports merge by containerPort", "", "Pod",
	  CONTAINERS("[{\"name\":\"web\",\"ports\":[{\"containerPort\":80,\"name\":\"http\"},{\"containerPort\":443}]}]"),
	  CONTAINERS("[{\"name\":\"web\",\"ports\":[{\"containerPort\":443,\"name\":\"https\"}]}]"),
	  CONTAINERS("[{\"name\":\"web\",\"ports\":[{\"containerPort\":80,\"name\":\"http\"},{\"containerPort\":443,\"name\":\"https\"}]}]"),
	  NULL },
	{ "volumeMounts merge by mountPath", "", "Pod",
	  CONTAINERS("[{\"name\":\"web\",\"volumeMounts\":[{\"mountPath\":\"/data\",\"name\":\"data\"}]}]"),
	  CONTAINERS("[{\"name\":\"web\",\"volumeMounts\":[{\"mountPath\":\"/data\",\"readOnly\":true}]}]"),
	  CONTAINERS("[{\"name\":\"web\",\"volumeMounts\":[{\"mountPath\":\"/data\",\"name\":\"data\",\"readOnly\":true}]}]"),
	  NULL },
	{ "null deletes a member inside a merged item", "", "Pod",
	  CONTAINERS("[{\"name\":\"web\",\"image\":\"x\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]"),
	  CONTAINERS("[{\"name\":\"web\",\"resources\":null}]"),
	  CONTAINERS("[{\"name\":\"web\",\"image\":\"x\"}]"), NULL },
	{ "lists without a merge key are replaced", "", "Pod",
	  CONTAINERS("[{\"name\":\"web\",\"args\":[\"-x\",\"-y\"],\"command\":[\"run\"]}]"),
	  CONTAINERS("[{\"name\":\"web\",\"args\":[\"-z\"]}]"),
	  CONTAINERS("[{\"name\":\"web\",\"args\":[\"-z\"],\"command\":[\"run\"]}]"), NULL },
	{ "tolerations are replaced", "", "Pod",
	  "{\"spec\":{\"tolerations\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}}",
	  "{\"spec\":{\"tolerations\":[{\"key\":\"b\",\"operator\":\"Exists\",\"effect\":null}]}}",
	  "{\"spec\":{\"tolerations\":[{\"key\":\"b\",\"operator\":\"Exists\"}]}}", NULL },
	{ "volumes with $retainKeys switch the volume source", "", "Pod",
	  "{\"spec\":{\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}},{\"name\":\"other\",\"emptyDir\":{}}]}}",
	  "{\"spec\":{\"$setElementOrder/volumes\":[{\"name\":\"data\"},{\"name\":\"other\"}],"
	  "\"volumes\":[{\"$retainKeys\":[\"configMap\",\"name\"],\"configMap\":{\"name\":\"cfg\"},\"emptyDir\":null,\"name\":\"data\"}]}}",
	  "{\"spec\":{\"volumes\":[{\"name\":\"data\",\"configMap\":{\"name\":\"cfg\"}},{\"name\":\"other\",\"emptyDir\":{}}]}}",
	  NULL },
	{ "$retainKeys must list every patched member", "", "Pod",
	  "{\"spec\":{\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}}]}}",
	  "{\"spec\":{\"volumes\":[{\"$retainKeys\":[\"name\"],\"configMap\":{\"name\":\"cfg\"},\"name\":\"data\"}]}}",
	  NULL, "invalid patch format of retainKeys: \"configMap\"" },
	{ "$retainKeys must be a list", "", "Pod", "{\"spec\":{}}",
	  "{\"spec\":{\"$retainKeys\":\"name\"}}", NULL, "invalid patch format of retainKeys" },
	/* metadata */
	{ "labels: set and delete with null", "", "ConfigMap",
	  "{\"metadata\":{\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}},\"data\":{\"k\":\"v\"}}",
	  "{\"metadata\":{\"labels\":{\"tier\":null,\"team\":\"data\"}}}",
	  "{\"metadata\":{\"labels\":{\"app\":\"web\",\"team\":\"data\"}},\"data\":{\"k\":\"v\"}}", NULL },
	{ "finalizers merge as a union", "", "Pod", "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
	  "{\"metadata\":{\"finalizers\":[\"c\",\"a\"]}}",
	  "{\"metadata\":{\"finalizers\":[\"c\",\"a\",\"b\"]}}", NULL },
	{ "finalizers union deduplicates", "apps", "StatefulSet",
	  "{\"metadata\":{\"finalizers\":[\"a\",\"a\",\"b\"]}}", "{\"metadata\":{\"finalizers\":[\"b\"]}}",
	  "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}", NULL },
	{ "$deleteFromPrimitiveList/finalizers", "", "Pod",
	  "{\"metadata\":{\"finalizers\":[\"a\",\"b\",\"c\"]}}",
	  "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"b\",\"c\"]}}",
	  "{\"metadata\":{\"finalizers\":[\"a\"]}}", NULL },
	{ "$deleteFromPrimitiveList with additions", "", "Pod",
	  "{\"metadata\":{\"finalizers\":[\"a\",\"b\"]}}",
	  "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"a\"],\"finalizers\":[\"c\"]}}",
	  "{\"metadata\":{\"finalizers\":[\"c\",\"b\"]}}", NULL },
	{ "$setElementOrder/finalizers reorders", "", "Pod",
	  "{\"metadata\":{\"finalizers\":[\"a\",\"b\",\"c\"]}}",
	  "{\"metadata\":{\"$setElementOrder/finalizers\":[\"b\",\"c\",\"a\"]}}",
	  "{\"metadata\":{\"finalizers\":[\"b\",\"c\",\"a\"]}}", NULL },
	{ "ownerReferences merge by uid", "", "Pod",
	  "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"u1\",\"kind\":\"StatefulSet\",\"name\":\"web\"}]}}",
	  "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"u1\",\"controller\":true}]}}",
	  "{\"metadata\":{\"ownerReferences\":[{\"uid\":\"u1\",\"kind\":\"StatefulSet\",\"name\":\"web\",\"controller\":true}]}}",
	  NULL },
	/* status */
	{ "conditions merge by type", "apps", "StatefulSet",
	  "{\"status\":{\"conditions\":[{\"type\":\"A\",\"status\":\"True\"},{\"type\":\"B\",\"status\":\"False\"}]}}",
	  "{\"status\":{\"conditions\":[{\"type\":\"B\",\"status\":\"True\"}]}}",
	  "{\"status\":{\"conditions\":[{\"type\":\"A\",\"status\":\"True\"},{\"type\":\"B\",\"status\":\"True\"}]}}",
	  NULL },
	{ "custom resource lists are replaced", "kafka.example.com", "KafkaCluster",
	  "{\"spec\":{\"brokers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},\"status\":{\"conditions\":[{\"type\":\"A\"}]}}",
	  "{\"spec\":{\"brokers\":[{\"name\":\"c\"}]},\"status\":{\"conditions\":[{\"type\":\"B\"}]}}",
	  "{\"spec\":{\"brokers\":[{\"name\":\"c\"}]},\"status\":{\"conditions\":[{\"type\":\"B\"}]}}", NULL },
	/* $patch directives */
	{ "$patch: replace on a merged list", "", "Pod",
	  CONTAINERS("[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"b\",\"image\":\"y\"}]"),
	  CONTAINERS("[{\"name\":\"c\",\"image\":\"z\"},{\"$patch\":\"replace\"}]"),
	  CONTAINERS("[{\"name\":\"c\",\"image\":\"z\"}]"), NULL },
	{ "$patch: replace on a map", "apps", "StatefulSet",
	  "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"web\",\"tier\":\"fe\"}},\"replicas\":1}}",
	  "{\"spec\":{\"selector\":{\"$patch\":\"replace\",\"matchLabels\":{\"app\":\"db\"}}}}",
	  "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"db\"}},\"replicas\":1}}", NULL },
	{ "$patch: replace at the top level", "", "ConfigMap",
	  "{\"metadata\":{\"name\":\"c\"},\"data\":{\"a\":\"1\"}}",
	  "{\"$patch\":\"replace\",\"metadata\":{\"name\":\"c\"},\"data\":{\"b\":\"2\",\"z\":null}}",
	  "{\"metadata\":{\"name\":\"c\"},\"data\":{\"b\":\"2\"}}", NULL },
	{ "$patch: delete on a map empties it", "apps", "StatefulSet",
	  "{\"spec\":{\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"partition\":2}}}}",
	  "{\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"$patch\":\"delete\"}}}}",
	  "{\"spec\":{\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{}}}}", NULL },
	{ "$patch: delete on a list item without its merge key", "", "Pod",
	  CONTAINERS("[{\"name\":\"a\"}]"), CONTAINERS("[{\"$patch\":\"delete\",\"image\":\"x\"}]"), NULL,
	  "does not contain declared merge key: name" },
	{ "$patch: merge on a map is rejected", "", "Pod", "{\"spec\":{}}",
	  "{\"spec\":{\"$patch\":\"merge\",\"hostname\":\"x\"}}", NULL, "unknown patch type: \"merge\" in map" },
	{ "$patch: merge on a list item is rejected", "", "Pod", CONTAINERS("[{\"name\":\"a\"}]"),
	  CONTAINERS("[{\"$patch\":\"merge\"}]"), NULL, "merging lists cannot yet be specified in the patch" },
	{ "unknown $patch value", "", "Pod", CONTAINERS("[{\"name\":\"a\"}]"),
	  CONTAINERS("[{\"$patch\":\"frobnicate\",\"name\":\"a\"}]"), NULL, "unknown patch type: \"frobnicate\"" },
	{ "merged item without its merge key", "", "Pod", CONTAINERS("[{\"name\":\"a\"}]"),
	  CONTAINERS("[{\"image\":\"x\"}]"), NULL,
	  "map: {\"image\":\"x\"} does not contain declared merge key: name" },
	{ "merged list with a primitive item", "", "Pod", CONTAINERS("[{\"name\":\"a\"}]"),
	  CONTAINERS("[{\"name\":\"a\"},\"b\"]"), NULL, "every patch item must be an object" },
	/* $setElementOrder */
	{ "$setElementOrder keeps server-only items in place", "", "Pod",
	  CONTAINERS("[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]"),
	  "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"c\"},{\"name\":\"a\"}],"
	  "\"containers\":[{\"name\":\"c\",\"image\":\"z\"}]}}",
	  CONTAINERS("[{\"name\":\"b\"},{\"name\":\"c\",\"image\":\"z\"},{\"name\":\"a\"}]"), NULL },
	{ "$setElementOrder without the list reorders", "", "Pod",
	  CONTAINERS("[{\"name\":\"a\"},{\"name\":\"b\"}]"),
	  "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"b\"},{\"name\":\"a\"}]}}",
	  CONTAINERS("[{\"name\":\"b\"},{\"name\":\"a\"}]"), NULL },
	{ "$setElementOrder places a new item", "", "Pod",
	  CONTAINERS("[{\"name\":\"a\"},{\"name\":\"c\"}]"),
	  "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}],"
	  "\"containers\":[{\"name\":\"b\",\"image\":\"y\"}]}}",
	  CONTAINERS("[{\"name\":\"a\"},{\"name\":\"b\",\"image\":\"y\"},{\"name\":\"c\"}]"), NULL },
	{ "$setElementOrder must cover the patch list", "", "Pod", CONTAINERS("[{\"name\":\"a\"}]"),
	  "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"a\"}],\"containers\":[{\"name\":\"b\"}]}}",
	  NULL, "doesn't match $setElementOrder list" },
	{ "$setElementOrder must be a list", "", "Pod", CONTAINERS("[{\"name\":\"a\"}]"),
	  "{\"spec\":{\"$setElementOrder/containers\":{\"name\":\"a\"}}}", NULL,
	  "invalid patch format of setElementOrder list" },
	{ "new list under a missing parent drops directives", "", "Pod", "{\"metadata\":{\"name\":\"p\"}}",
	  "{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"a\"}],"
	  "\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"X\",\"value\":\"1\"},{\"$patch\":\"delete\",\"name\":\"Y\"}],\"image\":null}]}}",
	  "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"X\",\"value\":\"1\"}]}]}}",
	  NULL },
	/* What client-side kubectl apply sends (M12). */
	{ "kubectl apply: image bump on a StatefulSet", "apps", "StatefulSet",
	  "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"web\",\"annotations\":"
	  "{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}},\"spec\":{\"replicas\":3,"
	  "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"web\","
	  "\"image\":\"x:1\",\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"A\",\"value\":\"1\"}]},"
	  "{\"name\":\"metrics\",\"image\":\"m:1\"}]}},\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data\"}}]}}",
	  "{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"new\\\":1}\"}},"
	  "\"spec\":{\"replicas\":5,\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"web\"},{\"name\":\"metrics\"}],"
	  "\"containers\":[{\"$setElementOrder/env\":[{\"name\":\"A\"},{\"name\":\"B\"}],\"env\":[{\"name\":\"B\",\"value\":\"2\"}],"
	  "\"image\":\"x:2\",\"name\":\"web\"}]}},\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data2\"}}]}}",
	  "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"web\",\"annotations\":"
	  "{\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"new\\\":1}\"}},\"spec\":{\"replicas\":5,"
	  "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"web\","
	  "\"image\":\"x:2\",\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"A\",\"value\":\"1\"},"
	  "{\"name\":\"B\",\"value\":\"2\"}]},{\"name\":\"metrics\",\"image\":\"m:1\"}]}},"
	  "\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data2\"}}]}}",
	  NULL },
	{ "kubectl apply: container removed from the manifest", "apps", "StatefulSet",
	  "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"x:1\"},{\"name\":\"metrics\",\"image\":\"m:1\"}]}}}}",
	  "{\"spec\":{\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":\"web\"}],"
	  "\"containers\":[{\"$patch\":\"delete\",\"name\":\"metrics\"}]}}}}",
	  "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"x:1\"}]}}}}", NULL },
	{ "kubectl apply: port removed, label removed", "", "Service",
	  "{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}},\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080},{\"port\":443}]}}",
	  "{\"metadata\":{\"labels\":{\"b\":null}},\"spec\":{\"$setElementOrder/ports\":[{\"port\":80}],"
	  "\"ports\":[{\"$patch\":\"delete\",\"port\":443}]}}",
	  "{\"metadata\":{\"labels\":{\"a\":\"1\"}},\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":8080}]}}", NULL },
	{ "CronJob: containers merge inside jobTemplate", "batch", "CronJob",
	  "{\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"b\"}]}}}}}}",
	  "{\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"y\"}]}}}}}}",
	  "{\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"y\"},{\"name\":\"b\"}]}}}}}}",
	  NULL },
	{ "Job: a pod spec at the wrong depth is replaced", "batch", "Job",
	  "{\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}",
	  "{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}",
	  "{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}", NULL },
	{ "Node addresses merge by type", "", "Node",
	  "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.1\"},{\"type\":\"Hostname\",\"address\":\"n1\"}]}}",
	  "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.2\"}]}}",
	  "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.2\"},{\"type\":\"Hostname\",\"address\":\"n1\"}]}}",
	  NULL },
	{ "$patch: delete removes every matching item", "", "Pod",
	  CONTAINERS("[{\"name\":\"a\",\"env\":[{\"name\":\"X\",\"value\":\"1\"},{\"name\":\"X\",\"value\":\"2\"},{\"name\":\"Y\"}]}]"),
	  CONTAINERS("[{\"name\":\"a\",\"env\":[{\"$patch\":\"delete\",\"name\":\"X\"}]}]"),
	  CONTAINERS("[{\"name\":\"a\",\"env\":[{\"name\":\"Y\"}]}]"), NULL },
	{ "empty patch changes nothing", "", "Pod", POD_DOC, "{}", POD_DOC, NULL },
	{ "patch must be an object", "", "Pod", POD_DOC, "[]", NULL,
	  "cannot unmarshal array into Go value of type map[string]interface {}" },
	{ "a scalar replaces a map and vice versa", "", "ConfigMap", "{\"data\":{\"a\":\"1\"},\"x\":1}",
	  "{\"data\":\"s\",\"x\":{\"y\":null,\"z\":2}}", "{\"data\":\"s\",\"x\":{\"z\":2}}", NULL },
};

START_TEST(test_vectors)
{
	const struct vector *v = &vectors[_i];
	cJSON *doc = ks_test_json(v->doc);
	cJSON *patch = ks_test_json(v->patch);
	char *before = cJSON_PrintUnformatted(doc);
	cJSON *out = (cJSON *)0x1;
	keelson_error_clear();
	int rc = ks_strategic_merge_apply(&out, doc, patch, v->group, v->kind);
	if (v->expected) {
		ck_assert_msg(rc == 0, "%s: failed: %s", v->comment, keelson_error_last()->message);
		ks_assert_json_eq(out, v->expected);
		/* Directive keys never reach the stored object. */
		char *text = cJSON_PrintUnformatted(out);
		ck_assert_msg(strstr(text, "\"$") == NULL, "%s: directive left in %s", v->comment, text);
		free(text);
		cJSON_Delete(out);
	} else {
		ck_assert_msg(rc == KEELSON_EINVALID, "%s: expected EINVALID, got %d", v->comment, rc);
		ck_assert_ptr_eq(out, (cJSON *)0x1);
		ck_assert_msg(strstr(keelson_error_last()->message, v->error) != NULL,
			      "%s: message \"%s\" lacks \"%s\"", v->comment, keelson_error_last()->message,
			      v->error);
	}
	char *after = cJSON_PrintUnformatted(doc);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}
END_TEST

START_TEST(test_member_order_is_kept)
{
	cJSON *doc = ks_test_json("{\"a\":1,\"spec\":{\"x\":1,\"y\":2},\"z\":3}");
	cJSON *patch = ks_test_json("{\"spec\":{\"x\":10,\"w\":0},\"new\":true}");
	cJSON *out = NULL;
	ck_assert_int_eq(ks_strategic_merge_apply(&out, doc, patch, "", "ConfigMap"), 0);
	ks_assert_json_text(out, "{\"a\":1,\"spec\":{\"x\":10,\"y\":2,\"w\":0},\"z\":3,\"new\":true}");
	cJSON_Delete(out);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}
END_TEST

/* kubectl apply on a long list: every item patched, $setElementOrder
 * reversing the server's order. Also guards against quadratic-per-item
 * costs creeping back into the ordering code. */
START_TEST(test_large_list_reordered)
{
	enum { N = 1500 };
	cJSON *doc = ks_test_json("{\"spec\":{\"containers\":[{\"name\":\"c\",\"env\":[]}]}}");
	cJSON *patch = ks_test_json("{\"spec\":{\"containers\":[{\"name\":\"c\",\"env\":[]}]}}");
	cJSON *env = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "spec"), "containers"), 0), "env");
	cJSON *pc = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(patch, "spec"), "containers"), 0);
	cJSON *penv = cJSON_GetObjectItem(pc, "env");
	cJSON *order = cJSON_CreateArray();
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "V%d", i);
		cJSON *item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "name", name);
		cJSON_AddStringToObject(item, "value", "old");
		cJSON_AddItemToArray(env, item);
		snprintf(name, sizeof(name), "V%d", N - 1 - i);
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "name", name);
		cJSON_AddStringToObject(item, "value", "new");
		cJSON_AddItemToArray(penv, item);
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "name", name);
		cJSON_AddItemToArray(order, item);
	}
	cJSON_AddItemToObject(pc, "$setElementOrder/env", order);
	cJSON *out = NULL;
	ck_assert_int_eq(ks_strategic_merge_apply(&out, doc, patch, "", "Pod"), 0);
	cJSON *result = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "spec"), "containers"), 0), "env");
	ck_assert_int_eq(cJSON_GetArraySize(result), N);
	int i = 0;
	for (cJSON *item = result->child; item; item = item->next, i++) {
		char name[16];
		snprintf(name, sizeof(name), "V%d", N - 1 - i);
		ck_assert_str_eq(cJSON_GetObjectItem(item, "name")->valuestring, name);
		ck_assert_str_eq(cJSON_GetObjectItem(item, "value")->valuestring, "new");
	}
	cJSON_Delete(out);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}
END_TEST

START_TEST(test_invalid_arguments)
{
	cJSON *doc = ks_test_json("{}");
	cJSON *out = NULL;
	ck_assert_int_eq(ks_strategic_merge_apply(&out, doc, doc, NULL, "Pod"), KEELSON_EINVALID);
	ck_assert_int_eq(ks_strategic_merge_apply(&out, NULL, doc, "", "Pod"), KEELSON_EINVALID);
	cJSON *arr = ks_test_json("[]");
	ck_assert_int_eq(ks_strategic_merge_apply(&out, arr, doc, "", "Pod"), KEELSON_EINVALID);
	ck_assert_ptr_null(out);
	cJSON_Delete(arr);
	cJSON_Delete(doc);
}
END_TEST

static Suite *suite_strategic_merge(void)
{
	Suite *s = suite_create("strategic_merge");
	TCase *tc = tcase_create("ks_strategic_merge_apply");
	/* Sanitizers and a busy 2-core CI machine slow the large-list case. */
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_vectors, 0, (int)(sizeof(vectors) / sizeof(vectors[0])));
	tcase_add_test(tc, test_member_order_is_kept);
	tcase_add_test(tc, test_invalid_arguments);
	tcase_add_test(tc, test_large_list_reordered);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_strategic_merge)
