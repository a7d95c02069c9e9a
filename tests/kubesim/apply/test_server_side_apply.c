#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/apply/fieldpath.h"
#include "tests/kubesim/apply/server_side_apply.h"
#include "tests/kubesim/apply/test_support.h"
#include "tests/unit/check_main.h"

#define T1 "2025-01-02T03:04:05Z"
#define T2 "2025-01-02T03:05:00Z"
#define T3 "2025-01-02T03:06:00Z"

/* What `kubectl apply --server-side` sends for a small StatefulSet. */
static const char *sts_manifest =
	"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web','namespace':'default'},"
	"'spec':{'replicas':2,'serviceName':'web','selector':{'matchLabels':{'app':'web'}},"
	"'template':{'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{'name':'web',"
	"'image':'nginx:1','ports':[{'containerPort':80,'name':'http'}]}]}}}}";

static struct ks_apply_options sts_options(const char *manager, bool force, const char *now)
{
	struct ks_apply_options o = {
		.manager = manager,
		.force = force,
		.api_version = "apps/v1",
		.group = "apps",
		.kind = "StatefulSet",
		.now = now,
	};
	return o;
}

static cJSON *apply_with(const cJSON *live, const char *applied_text, const struct ks_apply_options *o)
{
	cJSON *applied = test_json(applied_text);
	cJSON *out = NULL, *status = NULL;
	int rc = ks_server_side_apply(&out, &status, live, applied, o);
	ck_assert_msg(rc == 0, "apply by %s failed (%d): %s", o->manager, rc, keelson_error_last()->message);
	ck_assert_ptr_null(status);
	ck_assert_ptr_nonnull(out);
	cJSON_Delete(applied);
	return out;
}

static cJSON *apply_ok(const cJSON *live, const char *applied_text, const char *manager, bool force,
		       const char *now)
{
	struct ks_apply_options o = sts_options(manager, force, now);
	return apply_with(live, applied_text, &o);
}

/* Expect a failure; returns the Status body. */
static cJSON *apply_fails(const cJSON *live, const char *applied_text, const struct ks_apply_options *o,
			  int expected_rc)
{
	cJSON *applied = test_json(applied_text);
	cJSON *out = NULL, *status = NULL;
	int rc = ks_server_side_apply(&out, &status, live, applied, o);
	ck_assert_int_eq(rc, expected_rc);
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(status);
	cJSON_Delete(applied);
	return status;
}

/* The server's part of a create: identity fields the apply must ignore. */
static void store(cJSON *object, const char *rv)
{
	cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	cJSON_DeleteItemFromObjectCaseSensitive(metadata, "resourceVersion");
	cJSON_AddStringToObject(metadata, "resourceVersion", rv);
	if (!cJSON_GetObjectItemCaseSensitive(metadata, "uid"))
		cJSON_AddStringToObject(metadata, "uid", "3f1c1f7e-0000-4000-8000-000000000001");
}

static const cJSON *entry_of(const cJSON *object, const char *manager, const char *operation)
{
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(metadata, "managedFields")) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "manager");
		const cJSON *op = cJSON_GetObjectItemCaseSensitive(e, "operation");
		if (strcmp(m->valuestring, manager) == 0 && strcmp(op->valuestring, operation) == 0)
			return e;
	}
	return NULL;
}

static int entry_count(const cJSON *object)
{
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(metadata, "managedFields"));
}

static const char *string_at(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *entry_with_sub(const cJSON *object, const char *manager, const char *operation,
				   const char *subresource)
{
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(metadata, "managedFields")) {
		const char *sub = string_at(e, "subresource");
		if (strcmp(string_at(e, "manager"), manager) == 0 &&
		    strcmp(string_at(e, "operation"), operation) == 0 &&
		    strcmp(sub ? sub : "", subresource ? subresource : "") == 0)
			return e;
	}
	return NULL;
}

static bool entry_owns(const cJSON *e, va_list ap)
{
	if (e == NULL)
		return false;
	struct ks_fieldset *set;
	ck_assert_int_eq(ks_fieldset_decode(&set, cJSON_GetObjectItemCaseSensitive(e, "fieldsV1")), 0);
	const char *path[32];
	size_t n = test_path(path, 32, ap);
	bool found = ks_fieldset_contains(set, path, n);
	ks_fieldset_free(set);
	return found;
}

/* Whether `manager`'s main-resource entry owns the path (NULL-terminated). */
static bool owns(const cJSON *object, const char *manager, const char *operation, ...)
{
	va_list ap;
	va_start(ap, operation);
	bool found = entry_owns(entry_with_sub(object, manager, operation, NULL), ap);
	va_end(ap);
	return found;
}

/* The same for the entry of a subresource. */
static bool owns_sub(const cJSON *object, const char *manager, const char *operation,
		     const char *subresource, ...)
{
	va_list ap;
	va_start(ap, subresource);
	bool found = entry_owns(entry_with_sub(object, manager, operation, subresource), ap);
	va_end(ap);
	return found;
}

static const cJSON *at(const cJSON *object, const char *dotted)
{
	char *copy = strdup(dotted);
	const cJSON *node = object;
	for (char *tok = strtok(copy, "."); tok && node; tok = strtok(NULL, ".")) {
		if (*tok >= '0' && *tok <= '9')
			node = cJSON_GetArrayItem(node, atoi(tok));
		else
			node = cJSON_GetObjectItemCaseSensitive(node, tok);
	}
	free(copy);
	return node;
}

static cJSON *created_sts(void)
{
	cJSON *obj = apply_ok(NULL, sts_manifest, "kubectl", false, T1);
	store(obj, "1");
	return obj;
}

#define WEB "k:{\"name\":\"web\"}"
#define PORT80 "k:{\"containerPort\":80,\"protocol\":\"TCP\"}"

/* ---- create, no-op, removal ---- */

START_TEST(test_create_records_apply_entry)
{
	cJSON *obj = apply_ok(NULL, sts_manifest, "kubectl", false, T1);
	ck_assert_int_eq(at(obj, "spec.replicas")->valueint, 2);
	ck_assert_str_eq(at(obj, "spec.template.spec.containers.0.image")->valuestring, "nginx:1");
	ck_assert_int_eq(entry_count(obj), 1);
	const cJSON *e = entry_of(obj, "kubectl", "Apply");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(string_at(e, "apiVersion"), "apps/v1");
	ck_assert_str_eq(string_at(e, "time"), T1);
	ck_assert_str_eq(string_at(e, "fieldsType"), "FieldsV1");
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(e, "subresource"));
	char *fields = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(e, "fieldsV1"));
	ck_assert_str_eq(fields,
			 "{\"f:spec\":{\"f:replicas\":{},\"f:selector\":{},\"f:serviceName\":{},"
			 "\"f:template\":{\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},\"f:spec\":{"
			 "\"f:containers\":{\"k:{\\\"name\\\":\\\"web\\\"}\":{\".\":{},\"f:image\":{},"
			 "\"f:name\":{},\"f:ports\":{\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":"
			 "{\".\":{},\"f:containerPort\":{},\"f:name\":{}}}}}}}}}");
	free(fields);
	/* Entry member order is metav1.ManagedFieldsEntry's. */
	const char *order[] = { "manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1" };
	const cJSON *m = e->child;
	for (size_t i = 0; i < 6; i++, m = m->next)
		ck_assert_str_eq(m->string, order[i]);
	cJSON_Delete(obj);
}
END_TEST

START_TEST(test_reapply_unchanged_is_noop)
{
	cJSON *live = created_sts();
	cJSON *again = apply_ok(live, sts_manifest, "kubectl", false, T2);
	ck_assert_msg(cJSON_Compare(live, again, 1), "a no-op apply changed the object");
	ck_assert_str_eq(string_at(entry_of(again, "kubectl", "Apply"), "time"), T1);
	cJSON_Delete(again);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_reapply_with_server_fields_is_noop)
{
	/* kubectl sends back what it read: RV, uid, status are ignored. */
	cJSON *live = created_sts();
	cJSON_AddItemToObject(live, "status", test_json("{'replicas':2,'readyReplicas':1}"));
	const char *manifest =
		"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web','namespace':'default',"
		"'resourceVersion':'1','uid':'x','creationTimestamp':'2025-01-01T00:00:00Z','generation':1},"
		"'spec':{'replicas':2,'serviceName':'web','selector':{'matchLabels':{'app':'web'}},"
		"'template':{'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{'name':'web',"
		"'image':'nginx:1','ports':[{'containerPort':80,'name':'http'}]}]}}},'status':{'replicas':9}}";
	cJSON *again = apply_ok(live, manifest, "kubectl", false, T2);
	ck_assert(cJSON_Compare(live, again, 1));
	cJSON_Delete(again);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_apply_change_updates_time)
{
	cJSON *live = created_sts();
	char *changed = strdup(sts_manifest);
	memcpy(strstr(changed, "nginx:1"), "nginx:2", 7);
	cJSON *out = apply_ok(live, changed, "kubectl", false, T2);
	ck_assert_str_eq(at(out, "spec.template.spec.containers.0.image")->valuestring, "nginx:2");
	ck_assert_str_eq(string_at(entry_of(out, "kubectl", "Apply"), "time"), T2);
	free(changed);
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_apply_removes_omitted_fields)
{
	cJSON *live = created_sts();
	const char *fewer =
		"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web','namespace':'default'},"
		"'spec':{'serviceName':'web','selector':{'matchLabels':{'app':'web'}},"
		"'template':{'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{'name':'web',"
		"'image':'nginx:1'}]}}}}";
	cJSON *out = apply_ok(live, fewer, "kubectl", false, T2);
	ck_assert_ptr_null(at(out, "spec.replicas"));
	ck_assert_ptr_null(at(out, "spec.template.spec.containers.0.ports"));
	ck_assert_str_eq(at(out, "spec.template.spec.containers.0.name")->valuestring, "web");
	ck_assert(!owns(out, "kubectl", "Apply", "f:spec", "f:replicas", NULL));
	ck_assert(!owns(out, "kubectl", "Apply", "f:spec", "f:template", "f:spec", "f:containers", WEB, "f:ports", PORT80, NULL));
	ck_assert(owns(out, "kubectl", "Apply", "f:spec", "f:template", "f:spec", "f:containers", WEB, "f:image", NULL));
	ck_assert_str_eq(string_at(entry_of(out, "kubectl", "Apply"), "time"), T2);
	/* Server-set metadata survives. */
	ck_assert_str_eq(at(out, "metadata.uid")->valuestring, "3f1c1f7e-0000-4000-8000-000000000001");
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

/* ---- conflicts and force ---- */

static const char *replicas_5 =
	"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web','namespace':'default'},"
	"'spec':{'replicas':5}}";

START_TEST(test_second_manager_conflict)
{
	cJSON *live = created_sts();
	struct ks_apply_options o = sts_options("autoscaler", false, T2);
	cJSON *status = apply_fails(live, replicas_5, &o, KEELSON_ECONFLICT);
	char *text = cJSON_PrintUnformatted(status);
	ck_assert_str_eq(text,
			 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
			 "\"message\":\"Apply failed with 1 conflict: conflict with \\\"kubectl\\\": .spec.replicas\","
			 "\"reason\":\"Conflict\",\"details\":{\"causes\":[{\"reason\":\"FieldManagerConflict\","
			 "\"message\":\"conflict with \\\"kubectl\\\"\",\"field\":\".spec.replicas\"}]},\"code\":409}");
	ck_assert_str_eq(keelson_error_last()->message,
			 "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas");
	free(text);
	cJSON_Delete(status);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_same_value_is_shared)
{
	cJSON *live = created_sts();
	const char *same = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
			   "'spec':{'replicas':2}}";
	cJSON *out = apply_ok(live, same, "autoscaler", false, T2);
	ck_assert(owns(out, "kubectl", "Apply", "f:spec", "f:replicas", NULL));
	ck_assert(owns(out, "autoscaler", "Apply", "f:spec", "f:replicas", NULL));
	store(out, "2");
	/* kubectl lets go: the field stays because autoscaler still owns it. */
	const char *without = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
			      "'spec':{'serviceName':'web','selector':{'matchLabels':{'app':'web'}},"
			      "'template':{'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{'name':'web',"
			      "'image':'nginx:1','ports':[{'containerPort':80,'name':'http'}]}]}}}}";
	cJSON *out2 = apply_ok(out, without, "kubectl", false, T3);
	ck_assert_int_eq(at(out2, "spec.replicas")->valueint, 2);
	ck_assert(!owns(out2, "kubectl", "Apply", "f:spec", "f:replicas", NULL));
	ck_assert(owns(out2, "autoscaler", "Apply", "f:spec", "f:replicas", NULL));
	cJSON_Delete(out2);
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_force_takes_ownership)
{
	cJSON *live = created_sts();
	cJSON *out = apply_ok(live, replicas_5, "autoscaler", true, T2);
	ck_assert_int_eq(at(out, "spec.replicas")->valueint, 5);
	ck_assert(owns(out, "autoscaler", "Apply", "f:spec", "f:replicas", NULL));
	ck_assert(!owns(out, "kubectl", "Apply", "f:spec", "f:replicas", NULL));
	ck_assert(owns(out, "kubectl", "Apply", "f:spec", "f:serviceName", NULL));
	/* The loser's time is untouched; Apply entries sort by time. */
	ck_assert_str_eq(string_at(entry_of(out, "kubectl", "Apply"), "time"), T1);
	ck_assert_str_eq(string_at(at(out, "metadata.managedFields.0"), "manager"), "kubectl");
	ck_assert_str_eq(string_at(at(out, "metadata.managedFields.1"), "manager"), "autoscaler");
	store(out, "2");
	/* Now kubectl is the one in conflict, with an Apply manager: no "using". */
	struct ks_apply_options o = sts_options("kubectl", false, T3);
	cJSON *status = apply_fails(out, sts_manifest, &o, KEELSON_ECONFLICT);
	ck_assert_str_eq(string_at(status, "message"),
			 "Apply failed with 1 conflict: conflict with \"autoscaler\": .spec.replicas");
	cJSON_Delete(status);
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

static cJSON *created_by_client_side_apply(void)
{
	cJSON *obj = test_json(sts_manifest);
	ck_assert_int_eq(ks_managed_fields_record_update(obj, NULL, "kubectl-client-side-apply", "apps/v1",
							 NULL, T1), 0);
	store(obj, "1");
	return obj;
}

START_TEST(test_conflict_with_update_manager_names_api_version)
{
	cJSON *live = created_by_client_side_apply();
	const cJSON *e = entry_of(live, "kubectl-client-side-apply", "Update");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(string_at(e, "time"), T1);
	ck_assert(owns(live, "kubectl-client-side-apply", "Update", "f:spec", "f:replicas", NULL));

	struct ks_apply_options o = sts_options("kubectl", false, T2);
	const char *three = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
			    "'spec':{'replicas':3}}";
	cJSON *status = apply_fails(live, three, &o, KEELSON_ECONFLICT);
	ck_assert_str_eq(string_at(status, "message"),
			 "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas");
	const cJSON *cause = at(status, "details.causes.0");
	ck_assert_str_eq(string_at(cause, "reason"), "FieldManagerConflict");
	ck_assert_str_eq(string_at(cause, "message"), "conflict with \"kubectl-client-side-apply\" using apps/v1");
	ck_assert_str_eq(string_at(cause, "field"), ".spec.replicas");
	cJSON_Delete(status);

	const char *two_changes =
		"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},'spec':{'replicas':3,"
		"'template':{'spec':{'containers':[{'name':'web','image':'nginx:2'}]}}}}";
	status = apply_fails(live, two_changes, &o, KEELSON_ECONFLICT);
	ck_assert_str_eq(string_at(status, "message"),
			 "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n"
			 "- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image");
	ck_assert_int_eq(cJSON_GetArraySize(at(status, "details.causes")), 2);
	ck_assert_str_eq(string_at(at(status, "details.causes.1"), "field"),
			 ".spec.template.spec.containers[name=\"web\"].image");
	cJSON_Delete(status);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_conflicts_with_several_managers)
{
	cJSON *live = created_by_client_side_apply();
	cJSON *out = apply_ok(live, replicas_5, "autoscaler", true, T2);
	store(out, "2");
	struct ks_apply_options o = sts_options("kubectl", false, T3);
	const char *both = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
			   "'spec':{'replicas':3,'serviceName':'other'}}";
	cJSON *status = apply_fails(out, both, &o, KEELSON_ECONFLICT);
	ck_assert_str_eq(string_at(status, "message"),
			 "Apply failed with 2 conflicts: conflicts with \"autoscaler\":\n- .spec.replicas\n"
			 "conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.serviceName");
	cJSON_Delete(status);
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

/* ---- lists ---- */

START_TEST(test_containers_merge_by_name_ports_by_port_and_protocol)
{
	cJSON *live = created_sts();
	const char *sidecar =
		"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},'spec':{'template':{"
		"'spec':{'containers':[{'name':'log','image':'busybox'},{'name':'web','ports':["
		"{'containerPort':9090,'name':'metrics'},{'containerPort':80,'protocol':'UDP','name':'dns'}]}]}}}}";
	cJSON *out = apply_ok(live, sidecar, "sidecar-injector", false, T2);
	const cJSON *containers = at(out, "spec.template.spec.containers");
	ck_assert_int_eq(cJSON_GetArraySize(containers), 2);
	ck_assert_str_eq(at(out, "spec.template.spec.containers.0.name")->valuestring, "log");
	ck_assert_str_eq(at(out, "spec.template.spec.containers.1.name")->valuestring, "web");
	ck_assert_str_eq(at(out, "spec.template.spec.containers.1.image")->valuestring, "nginx:1");
	const cJSON *ports = at(out, "spec.template.spec.containers.1.ports");
	ck_assert_int_eq(cJSON_GetArraySize(ports), 3);
	ck_assert_str_eq(at(out, "spec.template.spec.containers.1.ports.0.name")->valuestring, "http");
	ck_assert_str_eq(at(out, "spec.template.spec.containers.1.ports.1.name")->valuestring, "metrics");
	ck_assert_str_eq(at(out, "spec.template.spec.containers.1.ports.2.name")->valuestring, "dns");
	ck_assert(owns(out, "sidecar-injector", "Apply", "f:spec", "f:template", "f:spec", "f:containers",
		       "k:{\"name\":\"log\"}", NULL));
	ck_assert(owns(out, "sidecar-injector", "Apply", "f:spec", "f:template", "f:spec", "f:containers", WEB,
		       "f:ports", "k:{\"containerPort\":80,\"protocol\":\"UDP\"}", "f:protocol", NULL));
	ck_assert(owns(out, "kubectl", "Apply", "f:spec", "f:template", "f:spec", "f:containers", WEB,
		       "f:ports", PORT80, "f:name", NULL));
	store(out, "2");

	/* The injector drops its sidecar: only its own item goes. */
	const char *none = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
			   "'spec':{'template':{'spec':{'containers':[{'name':'web','ports':["
			   "{'containerPort':9090,'name':'metrics'}]}]}}}}";
	cJSON *out2 = apply_ok(out, none, "sidecar-injector", false, T3);
	ck_assert_int_eq(cJSON_GetArraySize(at(out2, "spec.template.spec.containers")), 1);
	ck_assert_str_eq(at(out2, "spec.template.spec.containers.0.name")->valuestring, "web");
	ck_assert_int_eq(cJSON_GetArraySize(at(out2, "spec.template.spec.containers.0.ports")), 2);
	cJSON_Delete(out2);
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_removed_item_keeps_fields_others_own)
{
	cJSON *live = created_sts();
	/* Another manager sets the same image on container web. */
	const char *img = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
			  "'spec':{'template':{'spec':{'containers':[{'name':'web','image':'nginx:1'}]}}}}";
	cJSON *out = apply_ok(live, img, "pinner", false, T2);
	store(out, "2");
	/* kubectl drops the container entirely; the item and pinner's image stay,
	 * kubectl's ports go, the key stays. */
	const char *no_containers =
		"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},'spec':{'replicas':2}}";
	cJSON *out2 = apply_ok(out, no_containers, "kubectl", false, T3);
	ck_assert_str_eq(at(out2, "spec.template.spec.containers.0.name")->valuestring, "web");
	ck_assert_str_eq(at(out2, "spec.template.spec.containers.0.image")->valuestring, "nginx:1");
	ck_assert_ptr_null(at(out2, "spec.template.spec.containers.0.ports"));
	ck_assert_ptr_null(at(out2, "spec.serviceName"));
	cJSON_Delete(out2);
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_kept_item_keeps_its_key)
{
	cJSON *live = created_sts();
	/* An Update owns only the image it changed, not the item or its key. */
	cJSON *put = cJSON_Duplicate(live, 1);
	cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)at(put, "spec.template.spec.containers.0"), "image",
					       cJSON_CreateString("nginx:debug"));
	ck_assert_int_eq(ks_managed_fields_record_update(put, live, "kubectl-edit", "apps/v1", NULL, T2), 0);
	ck_assert(!owns(put, "kubectl-edit", "Update", "f:spec", "f:template", "f:spec", "f:containers", WEB,
			"f:name", NULL));
	store(put, "2");
	const char *no_containers =
		"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},'spec':{'replicas':2}}";
	cJSON *out = apply_ok(put, no_containers, "kubectl", false, T3);
	ck_assert_str_eq(at(out, "spec.template.spec.containers.0.name")->valuestring, "web");
	ck_assert_str_eq(at(out, "spec.template.spec.containers.0.image")->valuestring, "nginx:debug");
	ck_assert_ptr_null(at(out, "spec.template.spec.containers.0.ports"));
	cJSON_Delete(out);
	cJSON_Delete(put);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_finalizers_are_a_set)
{
	const char *with_a = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web',"
			     "'finalizers':['example.com/a']},'spec':{'replicas':1}}";
	cJSON *live = apply_ok(NULL, with_a, "kubectl", false, T1);
	store(live, "1");
	const char *with_b = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web',"
			     "'finalizers':['example.com/b']}}";
	cJSON *out = apply_ok(live, with_b, "controller", false, T2);
	ck_assert_int_eq(cJSON_GetArraySize(at(out, "metadata.finalizers")), 2);
	ck_assert_str_eq(at(out, "metadata.finalizers.0")->valuestring, "example.com/a");
	ck_assert_str_eq(at(out, "metadata.finalizers.1")->valuestring, "example.com/b");
	ck_assert(owns(out, "controller", "Apply", "f:metadata", "f:finalizers", "v:\"example.com/b\"", NULL));
	ck_assert(!owns(out, "controller", "Apply", "f:metadata", "f:finalizers", "v:\"example.com/a\"", NULL));
	store(out, "2");
	const char *none = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
			   "'spec':{'replicas':1}}";
	cJSON *out2 = apply_ok(out, none, "kubectl", false, T3);
	ck_assert_int_eq(cJSON_GetArraySize(at(out2, "metadata.finalizers")), 1);
	ck_assert_str_eq(at(out2, "metadata.finalizers.0")->valuestring, "example.com/b");
	cJSON_Delete(out2);
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

static const char *widget_schema =
	"{'type':'object','properties':{'apiVersion':{'type':'string'},'kind':{'type':'string'},"
	"'metadata':{'type':'object'},'spec':{'type':'object','properties':{"
	"'plain':{'type':'array','items':{'type':'object','properties':{'name':{'type':'string'},"
	"  'size':{'type':'integer'}}}},"
	"'keyed':{'type':'array','x-kubernetes-list-type':'map','x-kubernetes-list-map-keys':['name'],"
	"  'items':{'type':'object','properties':{'name':{'type':'string'},'size':{'type':'integer'}}}}}},"
	"'status':{'type':'object','properties':{'phase':{'type':'string'}}}}}";

static struct ks_apply_options widget_options(const cJSON *schema, const char *manager, const char *now)
{
	struct ks_apply_options o = {
		.manager = manager,
		.api_version = "example.com/v1",
		.group = "example.com",
		.kind = "Widget",
		.crd_schema = schema,
		.now = now,
	};
	return o;
}

START_TEST(test_custom_resource_atomic_and_map_lists)
{
	cJSON *schema = test_json(widget_schema);
	struct ks_apply_options a = widget_options(schema, "team-a", T1);
	cJSON *live = apply_with(NULL,
				 "{'apiVersion':'example.com/v1','kind':'Widget','metadata':{'name':'w'},"
				 "'spec':{'plain':[{'name':'a','size':1}],'keyed':[{'name':'a','size':1}]}}",
				 &a);
	store(live, "1");
	ck_assert(owns(live, "team-a", "Apply", "f:spec", "f:plain", NULL));
	ck_assert(owns(live, "team-a", "Apply", "f:spec", "f:keyed", "k:{\"name\":\"a\"}", "f:size", NULL));

	struct ks_apply_options b = widget_options(schema, "team-b", T2);
	/* Without x-kubernetes-list-type the list is atomic: a whole-list conflict. */
	cJSON *status = apply_fails(live,
				    "{'apiVersion':'example.com/v1','kind':'Widget','metadata':{'name':'w'},"
				    "'spec':{'plain':[{'name':'b','size':2}]}}",
				    &b, KEELSON_ECONFLICT);
	ck_assert_str_eq(string_at(status, "message"),
			 "Apply failed with 1 conflict: conflict with \"team-a\": .spec.plain");
	cJSON_Delete(status);

	/* With list-type map, items merge by key and different items never conflict. */
	cJSON *out = apply_with(live,
				"{'apiVersion':'example.com/v1','kind':'Widget','metadata':{'name':'w'},"
				"'spec':{'keyed':[{'name':'b','size':2}]}}",
				&b);
	ck_assert_int_eq(cJSON_GetArraySize(at(out, "spec.keyed")), 2);
	ck_assert_str_eq(at(out, "spec.keyed.0.name")->valuestring, "a");
	ck_assert_str_eq(at(out, "spec.keyed.1.name")->valuestring, "b");
	store(out, "2");
	status = apply_fails(out,
			     "{'apiVersion':'example.com/v1','kind':'Widget','metadata':{'name':'w'},"
			     "'spec':{'keyed':[{'name':'a','size':5}]}}",
			     &b, KEELSON_ECONFLICT);
	ck_assert_str_eq(string_at(status, "message"),
			 "Apply failed with 1 conflict: conflict with \"team-a\": .spec.keyed[name=\"a\"].size");
	cJSON_Delete(status);
	cJSON_Delete(out);
	cJSON_Delete(live);
	cJSON_Delete(schema);
}
END_TEST

/* ---- status subresource ---- */

START_TEST(test_status_subresource_is_separate)
{
	cJSON *live = created_sts();
	cJSON_AddItemToObject(live, "status", test_json("{'replicas':0}"));
	struct ks_apply_options o = sts_options("sts-controller", false, T2);
	o.subresource = "status";
	cJSON *out = apply_with(live,
				"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web','labels':{'x':'y'}},"
				"'spec':{'replicas':9},'status':{'replicas':2,'readyReplicas':2}}",
				&o);
	ck_assert_int_eq(at(out, "status.replicas")->valueint, 2);
	ck_assert_int_eq(at(out, "status.readyReplicas")->valueint, 2);
	ck_assert_int_eq(at(out, "spec.replicas")->valueint, 2);
	ck_assert_ptr_null(at(out, "metadata.labels"));
	const cJSON *e = entry_of(out, "sts-controller", "Apply");
	ck_assert_str_eq(string_at(e, "subresource"), "status");
	ck_assert(owns_sub(out, "sts-controller", "Apply", "status", "f:status", "f:readyReplicas", NULL));
	ck_assert(!owns_sub(out, "sts-controller", "Apply", "status", "f:spec", "f:replicas", NULL));
	ck_assert(!owns_sub(out, "sts-controller", "Apply", "status", "f:metadata", "f:labels", "f:x", NULL));
	store(out, "2");

	/* The same manager applying the main resource gets its own entry and
	 * cannot touch status. */
	struct ks_apply_options main = sts_options("sts-controller", false, T3);
	cJSON *out2 = apply_with(out,
				 "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
				 "'spec':{'minReadySeconds':3},'status':{'replicas':7}}",
				 &main);
	ck_assert_int_eq(at(out2, "status.replicas")->valueint, 2);
	ck_assert_int_eq(at(out2, "spec.minReadySeconds")->valueint, 3);
	ck_assert_int_eq(entry_count(out2), 3);
	ck_assert(owns(out2, "sts-controller", "Apply", "f:spec", "f:minReadySeconds", NULL));
	ck_assert(!owns(out2, "sts-controller", "Apply", "f:status", "f:replicas", NULL));
	ck_assert(owns_sub(out2, "sts-controller", "Apply", "status", "f:status", "f:replicas", NULL));
	ck_assert(!owns_sub(out2, "sts-controller", "Apply", "status", "f:spec", "f:minReadySeconds", NULL));
	cJSON_Delete(out2);

	/* A status Update (PUT /status) is recorded with its subresource. */
	cJSON *put = cJSON_Duplicate(out, 1);
	cJSON_ReplaceItemInObjectCaseSensitive(put, "status", test_json("{'replicas':2,'readyReplicas':1}"));
	ck_assert_int_eq(ks_managed_fields_record_update(put, out, "kubelet-sim", "apps/v1", "status", T3), 0);
	const cJSON *u = entry_of(put, "kubelet-sim", "Update");
	ck_assert_ptr_nonnull(u);
	ck_assert_str_eq(string_at(u, "subresource"), "status");
	ck_assert(owns_sub(put, "kubelet-sim", "Update", "status", "f:status", "f:readyReplicas", NULL));
	ck_assert(!owns_sub(put, "sts-controller", "Apply", "status", "f:status", "f:readyReplicas", NULL));
	ck_assert(owns_sub(put, "sts-controller", "Apply", "status", "f:status", "f:replicas", NULL));
	cJSON_Delete(put);
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

/* ---- bad requests ---- */

START_TEST(test_managed_fields_in_request_rejected)
{
	struct ks_apply_options o = sts_options("kubectl", false, T1);
	cJSON *status = apply_fails(NULL,
				    "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web',"
				    "'managedFields':[{'manager':'x'}]}}",
				    &o, KEELSON_EINVALID);
	ck_assert_str_eq(string_at(status, "reason"), "BadRequest");
	ck_assert_str_eq(string_at(status, "message"), "metadata.managedFields must be nil");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(status, "code")->valueint, 400);
	cJSON_Delete(status);
}
END_TEST

START_TEST(test_missing_key_is_typed_patch_error)
{
	struct ks_apply_options o = sts_options("kubectl", false, T1);
	cJSON *status = apply_fails(NULL,
				    "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web',"
				    "'namespace':'default'},'spec':{'template':{'spec':{'containers':[{'image':'x'}]}}}}",
				    &o, KEELSON_EINVALID);
	ck_assert_str_eq(string_at(status, "message"),
			 "failed to create typed patch object (default/web; apps/v1, Kind=StatefulSet): "
			 ".spec.template.spec.containers: element 0: associative list with keys has an element "
			 "that omits key field \"name\" (and doesn't have default value)");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(status, "code")->valueint, 500);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(status, "reason"));
	cJSON_Delete(status);
}
END_TEST

START_TEST(test_bad_options_rejected)
{
	struct ks_apply_options o = sts_options("", false, T1);
	cJSON *applied = test_json(sts_manifest);
	cJSON *out = NULL, *status = NULL;
	ck_assert_int_eq(ks_server_side_apply(&out, &status, NULL, applied, &o), KEELSON_EINVALID);
	ck_assert_ptr_null(out);
	ck_assert_ptr_null(status);
	cJSON_Delete(applied);
}
END_TEST

/* ---- objects without managedFields ---- */

START_TEST(test_before_first_apply_owns_existing_fields)
{
	cJSON *live = test_json(sts_manifest);
	store(live, "1");
	struct ks_apply_options o = sts_options("kubectl", false, T2);
	const char *three = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
			    "'spec':{'replicas':3}}";
	cJSON *status = apply_fails(live, three, &o, KEELSON_ECONFLICT);
	ck_assert_str_eq(string_at(status, "message"),
			 "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas");
	cJSON_Delete(status);
	cJSON *out = apply_ok(live, sts_manifest, "kubectl", false, T2);
	ck_assert_int_eq(entry_count(out), 2);
	ck_assert(owns(out, "before-first-apply", "Update", "f:spec", "f:replicas", NULL));
	ck_assert(owns(out, "kubectl", "Apply", "f:spec", "f:replicas", NULL));
	cJSON_Delete(out);
	cJSON_Delete(live);
}
END_TEST

/* ---- updates ---- */

START_TEST(test_update_moves_ownership)
{
	cJSON *live = created_sts();
	cJSON *put = cJSON_Duplicate(live, 1);
	cJSON *c0 = (cJSON *)at(put, "spec.template.spec.containers.0");
	cJSON_ReplaceItemInObjectCaseSensitive(c0, "image", cJSON_CreateString("nginx:debug"));
	cJSON_DeleteItemFromObjectCaseSensitive((cJSON *)at(put, "spec"), "serviceName");
	ck_assert_int_eq(ks_managed_fields_record_update(put, live, "kubectl-edit", "apps/v1", NULL, T2), 0);
	ck_assert(owns(put, "kubectl-edit", "Update", "f:spec", "f:template", "f:spec", "f:containers", WEB,
		       "f:image", NULL));
	ck_assert(!owns(put, "kubectl", "Apply", "f:spec", "f:template", "f:spec", "f:containers", WEB,
			"f:image", NULL));
	ck_assert(!owns(put, "kubectl", "Apply", "f:spec", "f:serviceName", NULL));
	ck_assert(!owns(put, "kubectl-edit", "Update", "f:spec", "f:serviceName", NULL));
	ck_assert_str_eq(string_at(entry_of(put, "kubectl-edit", "Update"), "time"), T2);
	ck_assert_str_eq(string_at(entry_of(put, "kubectl", "Apply"), "time"), T1);
	/* Apply entries sort before Update entries. */
	ck_assert_str_eq(string_at(at(put, "metadata.managedFields.0"), "operation"), "Apply");
	store(put, "2");

	/* kubectl re-applies its image: conflict with the Update manager. */
	struct ks_apply_options o = sts_options("kubectl", false, T3);
	cJSON *status = apply_fails(put, sts_manifest, &o, KEELSON_ECONFLICT);
	ck_assert_str_eq(string_at(status, "message"),
			 "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: "
			 ".spec.template.spec.containers[name=\"web\"].image");
	cJSON_Delete(status);
	cJSON_Delete(put);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_update_entry_owns_created_maps_and_lists)
{
	cJSON *live = created_by_client_side_apply();
	char *fields = cJSON_PrintUnformatted(
		cJSON_GetObjectItemCaseSensitive(entry_of(live, "kubectl-client-side-apply", "Update"), "fieldsV1"));
	/* As kube-apiserver records a create: maps (labels) and omitempty lists
	 * (ports) it created carry ".", structs and containers do not. */
	ck_assert_str_eq(fields,
			 "{\"f:spec\":{\"f:replicas\":{},\"f:selector\":{},\"f:serviceName\":{},"
			 "\"f:template\":{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":{}}},\"f:spec\":{"
			 "\"f:containers\":{\"k:{\\\"name\\\":\\\"web\\\"}\":{\".\":{},\"f:image\":{},"
			 "\"f:name\":{},\"f:ports\":{\".\":{},\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":"
			 "{\".\":{},\"f:containerPort\":{},\"f:name\":{}}}}}}}}}");
	free(fields);
	cJSON_Delete(live);

	/* Custom resources are unstructured: every created object counts. */
	cJSON *cr = test_json("{'apiVersion':'example.com/v1','kind':'Widget','metadata':{'name':'w'},"
			      "'spec':{'size':1,'opts':{'a':1}}}");
	cJSON *schema = test_json("{'type':'object','x-kubernetes-preserve-unknown-fields':true}");
	struct ks_apply_options o = widget_options(schema, "creator", T1);
	ck_assert_int_eq(ks_managed_fields_update(cr, NULL, &o), 0);
	fields = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(entry_of(cr, "creator", "Update"), "fieldsV1"));
	ck_assert_str_eq(fields, "{\"f:spec\":{\".\":{},\"f:opts\":{\".\":{},\"f:a\":{}},\"f:size\":{}}}");
	free(fields);
	cJSON_Delete(schema);
	cJSON_Delete(cr);
}
END_TEST

START_TEST(test_noop_update_keeps_managed_fields)
{
	cJSON *live = created_sts();
	/* Stored entries written in another member order stay byte for byte. */
	cJSON *entry = (cJSON *)at(live, "metadata.managedFields.0");
	cJSON_AddItemToObject(entry, "manager", cJSON_DetachItemFromObjectCaseSensitive(entry, "manager"));
	char *before = cJSON_PrintUnformatted(live);
	cJSON *put = cJSON_Duplicate(live, 1);
	ck_assert_int_eq(ks_managed_fields_record_update(put, live, "kubectl-edit", "apps/v1", NULL, T2), 0);
	char *after = cJSON_PrintUnformatted(put);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	/* Without managedFields in the request the stored ones are kept too. */
	ks_managed_fields_strip(put);
	ck_assert_int_eq(ks_managed_fields_record_update(put, live, "kubectl-edit", "apps/v1", NULL, T2), 0);
	ck_assert(cJSON_Compare(put, live, 1));
	cJSON_Delete(put);
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_update_reset_clears_managed_fields)
{
	cJSON *live = created_sts();
	cJSON *put = cJSON_Duplicate(live, 1);
	cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)at(put, "metadata"), "managedFields", cJSON_Parse("[{}]"));
	ck_assert(ks_managed_fields_is_reset(put));
	ck_assert_int_eq(ks_managed_fields_record_update(put, live, "kubectl-edit", "apps/v1", NULL, T2), 0);
	ck_assert_ptr_null(at(put, "metadata.managedFields"));
	cJSON_Delete(put);

	/* Reset and a change together: the writer owns just its change. */
	put = cJSON_Duplicate(live, 1);
	cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)at(put, "metadata"), "managedFields", cJSON_Parse("[{}]"));
	cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)at(put, "spec"), "replicas", cJSON_CreateNumber(4));
	ck_assert_int_eq(ks_managed_fields_record_update(put, live, "kubectl-edit", "apps/v1", NULL, T2), 0);
	ck_assert_int_eq(entry_count(put), 1);
	ck_assert(owns(put, "kubectl-edit", "Update", "f:spec", "f:replicas", NULL));
	ck_assert(!owns(put, "kubectl-edit", "Update", "f:spec", "f:serviceName", NULL));
	cJSON_Delete(put);

	/* An empty list is not a reset: the stored entries stay. */
	put = cJSON_Duplicate(live, 1);
	cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)at(put, "metadata"), "managedFields", cJSON_Parse("[]"));
	ck_assert(!ks_managed_fields_is_reset(put));
	ck_assert_int_eq(ks_managed_fields_record_update(put, live, "kubectl-edit", "apps/v1", NULL, T2), 0);
	ck_assert(cJSON_Compare(put, live, 1));
	cJSON_Delete(put);
	ck_assert(!ks_managed_fields_is_reset(live));
	cJSON_Delete(live);
}
END_TEST

START_TEST(test_update_takes_requested_managed_fields)
{
	/* kubectl's migration from client-side apply: a JSON patch rewrites
	 * managedFields so the SSA manager owns what CSA owned. */
	cJSON *live = created_by_client_side_apply();
	cJSON *patched = cJSON_Duplicate(live, 1);
	cJSON *entry = (cJSON *)at(patched, "metadata.managedFields.0");
	cJSON_ReplaceItemInObjectCaseSensitive(entry, "manager", cJSON_CreateString("kubectl"));
	cJSON_ReplaceItemInObjectCaseSensitive(entry, "operation", cJSON_CreateString("Apply"));
	ck_assert_int_eq(ks_managed_fields_record_update(patched, live, "kubectl", "apps/v1", NULL, T2), 0);
	ck_assert(owns(patched, "kubectl", "Apply", "f:spec", "f:replicas", NULL));
	ck_assert_ptr_null(entry_of(patched, "kubectl-client-side-apply", "Update"));
	store(patched, "2");
	const char *three = "{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'web'},"
			    "'spec':{'replicas':3,'serviceName':'web','selector':{'matchLabels':{'app':'web'}},"
			    "'template':{'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{'name':'web',"
			    "'image':'nginx:1','ports':[{'containerPort':80,'name':'http'}]}]}}}}";
	cJSON *out = apply_ok(patched, three, "kubectl", false, T3);
	ck_assert_int_eq(at(out, "spec.replicas")->valueint, 3);
	cJSON_Delete(out);
	cJSON_Delete(patched);
	cJSON_Delete(live);
}
END_TEST

static Suite *suite_server_side_apply(void)
{
	Suite *s = suite_create("server_side_apply");
	TCase *tc = tcase_create("ks_server_side_apply");
	tcase_add_test(tc, test_create_records_apply_entry);
	tcase_add_test(tc, test_reapply_unchanged_is_noop);
	tcase_add_test(tc, test_reapply_with_server_fields_is_noop);
	tcase_add_test(tc, test_apply_change_updates_time);
	tcase_add_test(tc, test_apply_removes_omitted_fields);
	tcase_add_test(tc, test_second_manager_conflict);
	tcase_add_test(tc, test_same_value_is_shared);
	tcase_add_test(tc, test_force_takes_ownership);
	tcase_add_test(tc, test_conflict_with_update_manager_names_api_version);
	tcase_add_test(tc, test_conflicts_with_several_managers);
	tcase_add_test(tc, test_containers_merge_by_name_ports_by_port_and_protocol);
	tcase_add_test(tc, test_removed_item_keeps_fields_others_own);
	tcase_add_test(tc, test_kept_item_keeps_its_key);
	tcase_add_test(tc, test_finalizers_are_a_set);
	tcase_add_test(tc, test_custom_resource_atomic_and_map_lists);
	tcase_add_test(tc, test_status_subresource_is_separate);
	tcase_add_test(tc, test_managed_fields_in_request_rejected);
	tcase_add_test(tc, test_missing_key_is_typed_patch_error);
	tcase_add_test(tc, test_bad_options_rejected);
	tcase_add_test(tc, test_before_first_apply_owns_existing_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("ks_managed_fields_record_update");
	tcase_add_test(tc, test_update_moves_ownership);
	tcase_add_test(tc, test_update_entry_owns_created_maps_and_lists);
	tcase_add_test(tc, test_noop_update_keeps_managed_fields);
	tcase_add_test(tc, test_update_reset_clears_managed_fields);
	tcase_add_test(tc, test_update_takes_requested_managed_fields);
	suite_add_tcase(s, tc);

	suite_add_tcase(s, tcase_server_side_apply_properties());
	return s;
}

KEELSON_CHECK_MAIN(suite_server_side_apply)
