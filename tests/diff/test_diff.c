#include "config.h"

#include "core/error.h"
#include "diff/diff.h"
#include "diff/list_semantics.h"
#include "json/json_canonical.h"
#include "tests/unit/check_main.h"
#include "yaml/yaml_load.h"

#include <cjson/cJSON.h>
#include <string.h>

struct desired {
	struct keelson_yaml_stream *stream;
	struct keelson_object obj;
};

static void load_desired(struct desired *d, const char *yaml)
{
	int rc = keelson_yaml_load_buffer(&d->stream, yaml, strlen(yaml), "clusters/c/app/obj.yaml", NULL);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	memset(&d->obj, 0, sizeof(d->obj));
	d->obj.body = keelson_yaml_document(d->stream, 0);
	d->obj.stream = d->stream;
	d->obj.file = "clusters/c/app/obj.yaml";
	d->obj.line = 1;
	d->obj.column = 1;
}

/* Diff `yaml` against the live JSON `live_json` (NULL: absent). */
static struct keelson_diff_object *run(struct desired *d, const char *yaml, const char *live_json,
				       const struct keelson_diff_ignore_rules *rules)
{
	struct keelson_diff_object *out = NULL;
	struct keelson_diff_options opts;
	cJSON *live = NULL;
	load_desired(d, yaml);
	if (live_json != NULL) {
		live = cJSON_Parse(live_json);
		ck_assert_msg(live != NULL, "bad live JSON in test");
	}
	keelson_diff_options_init(&opts);
	opts.ignore = rules;
	int rc = keelson_diff_object(&out, &d->obj, live, &opts);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	cJSON_Delete(live);
	return out;
}

static void done(struct desired *d, struct keelson_diff_object *obj)
{
	keelson_diff_object_free(obj);
	keelson_yaml_stream_free(d->stream);
}

static const struct keelson_diff_field *field(const struct keelson_diff_object *obj, const char *pointer)
{
	for (size_t i = 0; i < obj->field_count; i++)
		if (strcmp(obj->fields[i].pointer, pointer) == 0)
			return &obj->fields[i];
	return NULL;
}

static char *canonical(const cJSON *v)
{
	char *s = keelson_json_canonical(v);
	ck_assert_ptr_nonnull(s);
	return s;
}

static void assert_json(const cJSON *v, const char *want)
{
	char *s = canonical(v);
	ck_assert_str_eq(s, want);
	free(s);
}

static const char sts_yaml[] =
	"apiVersion: apps/v1\n"
	"kind: StatefulSet\n"
	"metadata:\n"
	"  name: web\n"
	"  namespace: app\n"
	"  labels:\n"
	"    app: web\n"
	"spec:\n"
	"  replicas: 2\n"
	"  serviceName: web\n"
	"  template:\n"
	"    spec:\n"
	"      containers:\n"
	"        - name: web\n"
	"          image: nginx:1\n"
	"          args: [--a, --b]\n"
	"          ports:\n"
	"            - containerPort: 8080\n"
	"              name: http\n"
	"          env:\n"
	"            - name: A\n"
	"              value: \"1\"\n"
	"            - name: EMPTY\n"
	"              value: \"\"\n"
	"          resources:\n"
	"            requests: {cpu: 1, memory: 1024Mi}\n"
	"            limits: {cpu: \"1.5\", memory: 1Gi}\n"
	"      securityContext: {}\n"
	"status:\n"
	"  replicas: 7\n";

/* The live object as the server returns it: defaults, status, metadata,
 * managedFields, a sidecar another controller injected, containers and
 * env in another order, quantities in canonical form. */
static const char sts_live[] =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\","
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"app\",\"uid\":\"u-1\",\"resourceVersion\":\"42\","
	"\"generation\":3,\"creationTimestamp\":\"2026-01-01T00:00:00Z\","
	"\"labels\":{\"app\":\"web\",\"injected\":\"yes\"},"
	"\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"apiVersion\":\"apps/v1\","
	"\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},"
	"\"f:spec\":{\"f:replicas\":{},\"f:serviceName\":{}}}}]},"
	"\"spec\":{\"replicas\":2,\"serviceName\":\"web\",\"podManagementPolicy\":\"OrderedReady\","
	"\"template\":{\"metadata\":{\"creationTimestamp\":null},\"spec\":{"
	"\"containers\":[{\"name\":\"sidecar\",\"image\":\"envoy\"},"
	"{\"name\":\"web\",\"image\":\"nginx:1\",\"args\":[\"--a\",\"--b\"],\"imagePullPolicy\":\"IfNotPresent\","
	"\"ports\":[{\"containerPort\":8080,\"name\":\"http\",\"protocol\":\"TCP\"}],"
	"\"env\":[{\"name\":\"EMPTY\"},{\"name\":\"A\",\"value\":\"1\"}],"
	"\"resources\":{\"requests\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},\"limits\":{\"cpu\":\"1500m\",\"memory\":\"1Gi\"}}}],"
	"\"securityContext\":{},\"restartPolicy\":\"Always\"}}},"
	"\"status\":{\"replicas\":2,\"readyReplicas\":2}}";

START_TEST(test_in_sync_despite_server_additions)
{
	struct desired d;
	struct keelson_diff_object *obj = run(&d, sts_yaml, sts_live, NULL);
	for (size_t i = 0; i < obj->field_count; i++)
		ck_abort_msg("unexpected difference at %s", obj->fields[i].pointer);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_IN_SYNC);
	ck_assert_str_eq(obj->group, "apps");
	ck_assert_str_eq(obj->kind, "StatefulSet");
	ck_assert_str_eq(obj->namespace_, "app");
	ck_assert_str_eq(obj->name, "web");
	done(&d, obj);
}
END_TEST

static char *live_with(const char *from, const char *to)
{
	const char *at = strstr(sts_live, from);
	ck_assert_ptr_nonnull(at);
	size_t n = strlen(sts_live) - strlen(from) + strlen(to) + 1;
	char *s = malloc(n);
	snprintf(s, n, "%.*s%s%s", (int)(at - sts_live), sts_live, to, at + strlen(from));
	return s;
}

START_TEST(test_changed_field_with_position)
{
	struct desired d;
	char *live = live_with("\"replicas\":2,\"serviceName\"", "\"replicas\":5,\"serviceName\"");
	struct keelson_diff_object *obj = run(&d, sts_yaml, live, NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_DRIFTED);
	ck_assert_uint_eq(obj->field_count, 1);
	const struct keelson_diff_field *f = field(obj, "/spec/replicas");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->change, KEELSON_DIFF_CHANGED);
	assert_json(f->desired, "2");
	assert_json(f->live, "5");
	ck_assert_str_eq(f->file, "clusters/c/app/obj.yaml");
	ck_assert_uint_eq(f->line, 9);
	ck_assert_uint_eq(f->column, 13);
	ck_assert(f->position_exact);
	/* merged = live with the repository's value */
	cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(obj->merged, "spec"), "replicas");
	assert_json(r, "2");
	free(live);
	done(&d, obj);
}
END_TEST

START_TEST(test_keyed_list_item_compared_by_key)
{
	struct desired d;
	/* The web container sits at index 1 live, 0 in the repository. */
	char *live = live_with("\"image\":\"nginx:1\"", "\"image\":\"nginx:2\"");
	struct keelson_diff_object *obj = run(&d, sts_yaml, live, NULL);
	ck_assert_uint_eq(obj->field_count, 1);
	const struct keelson_diff_field *f = field(obj, "/spec/template/spec/containers/0/image");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->live_pointer, "/spec/template/spec/containers/1/image");
	ck_assert_uint_eq(f->line, 15);
	assert_json(f->live, "\"nginx:2\"");
	free(live);
	done(&d, obj);
}
END_TEST

START_TEST(test_keyed_list_missing_item)
{
	struct desired d;
	char *live = live_with("{\"name\":\"A\",\"value\":\"1\"}", "{\"name\":\"B\",\"value\":\"1\"}");
	struct keelson_diff_object *obj = run(&d, sts_yaml, live, NULL);
	ck_assert_uint_eq(obj->field_count, 1);
	const struct keelson_diff_field *f = field(obj, "/spec/template/spec/containers/0/env/0");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->change, KEELSON_DIFF_NOT_LIVE);
	ck_assert_ptr_null(f->live);
	assert_json(f->desired, "{\"name\":\"A\",\"value\":\"1\"}");
	ck_assert_uint_eq(f->line, 21);
	free(live);
	done(&d, obj);
}
END_TEST

START_TEST(test_atomic_list)
{
	struct desired d;
	char *live = live_with("\"args\":[\"--a\",\"--b\"]", "\"args\":[\"--b\",\"--a\"]");
	struct keelson_diff_object *obj = run(&d, sts_yaml, live, NULL);
	/* Order matters in an atomic list: both elements differ. */
	ck_assert_uint_eq(obj->field_count, 2);
	ck_assert_ptr_nonnull(field(obj, "/spec/template/spec/containers/0/args/0"));
	ck_assert_ptr_nonnull(field(obj, "/spec/template/spec/containers/0/args/1"));
	free(live);
	live = live_with("\"args\":[\"--a\",\"--b\"]", "\"args\":[\"--a\"]");
	done(&d, obj);
	obj = run(&d, sts_yaml, live, NULL);
	ck_assert_uint_eq(obj->field_count, 1);
	const struct keelson_diff_field *f = field(obj, "/spec/template/spec/containers/0/args");
	ck_assert_ptr_nonnull(f);
	assert_json(f->live, "[\"--a\"]");
	free(live);
	done(&d, obj);
}
END_TEST

START_TEST(test_quantities_by_value)
{
	struct desired d;
	/* 2Gi is not 1Gi: a real change is still reported. */
	char *live = live_with("\"requests\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}",
			       "\"requests\":{\"cpu\":\"1000m\",\"memory\":\"2Gi\"}");
	struct keelson_diff_object *obj = run(&d, sts_yaml, live, NULL);
	ck_assert_uint_eq(obj->field_count, 1);
	const struct keelson_diff_field *f =
		field(obj, "/spec/template/spec/containers/0/resources/requests/memory");
	ck_assert_ptr_nonnull(f);
	assert_json(f->desired, "\"1024Mi\"");
	assert_json(f->live, "\"2Gi\"");
	free(live);
	done(&d, obj);

	/* Outside quantity fields text is text: ConfigMap data "1Gi" is not "1024Mi". */
	obj = run(&d,
		  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n"
		  "data: {size: 1Gi, limits: 1Gi}\n",
		  "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"a\"},"
		  "\"data\":{\"size\":\"1024Mi\",\"limits\":\"1024Mi\"}}",
		  NULL);
	ck_assert_uint_eq(obj->field_count, 2);
	done(&d, obj);

	/* Other quantity places: PVC storage, emptyDir sizeLimit, HPA targets. */
	obj = run(&d,
		  "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h, namespace: a}\n"
		  "spec:\n  metrics:\n    - type: Pods\n      pods:\n        target: {type: AverageValue, averageValue: 0.5}\n",
		  "{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\",\"metadata\":{\"name\":\"h\","
		  "\"namespace\":\"a\"},\"spec\":{\"metrics\":[{\"type\":\"Pods\",\"pods\":{\"target\":{\"type\":"
		  "\"AverageValue\",\"averageValue\":\"500m\"}}}]}}",
		  NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_IN_SYNC);
	done(&d, obj);
	obj = run(&d,
		  "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n"
		  "spec:\n  volumes:\n    - name: t\n      emptyDir: {sizeLimit: 1000Mi}\n",
		  "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"a\"},"
		  "\"spec\":{\"volumes\":[{\"name\":\"t\",\"emptyDir\":{\"sizeLimit\":\"1000Mi\"}}]}}",
		  NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_IN_SYNC);
	done(&d, obj);
	obj = run(&d,
		  "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n"
		  "spec:\n  volumes:\n    - name: t\n      emptyDir: {sizeLimit: 1000Mi}\n",
		  "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"a\"},"
		  "\"spec\":{\"volumes\":[{\"name\":\"t\",\"emptyDir\":{\"sizeLimit\":\"1G\"}}]}}",
		  NULL);
	ck_assert_uint_eq(obj->field_count, 1);
	ck_assert_ptr_nonnull(field(obj, "/spec/volumes/0/emptyDir/sizeLimit"));
	done(&d, obj);
}
END_TEST

START_TEST(test_int_or_string_kept_as_given)
{
	struct desired d;
	/* The API server keeps an IntOrString as written: a number in the
	 * repository and a string live are different, and an apply changes it. */
	const char *svc = "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\n"
			  "spec:\n  ports:\n    - port: 80\n      targetPort: 8080\n    - port: 81\n      targetPort: http\n";
	struct keelson_diff_object *obj =
		run(&d, svc,
		    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\",\"namespace\":\"a\"},"
		    "\"spec\":{\"ports\":[{\"port\":81,\"protocol\":\"TCP\",\"targetPort\":\"http\"},"
		    "{\"port\":80,\"protocol\":\"TCP\",\"targetPort\":\"8080\"}],\"clusterIP\":\"10.0.0.1\"}}",
		    NULL);
	ck_assert_uint_eq(obj->field_count, 1);
	const struct keelson_diff_field *f = field(obj, "/spec/ports/0/targetPort");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->live_pointer, "/spec/ports/1/targetPort");
	assert_json(f->desired, "8080");
	assert_json(f->live, "\"8080\"");
	done(&d, obj);
}
END_TEST

START_TEST(test_zero_values_and_nulls)
{
	struct desired d;
	struct keelson_diff_object *obj =
		run(&d,
		    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n  labels: {}\n"
		    "  annotations: ~\nimmutable: false\ndata:\n  a: \"\"\n  b: x\n",
		    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"a\"},"
		    "\"data\":{\"a\":\"\"}}",
		    NULL);
	/* labels {}, annotations null and immutable false are not drift;
	 * data.b is missing live. */
	ck_assert_uint_eq(obj->field_count, 1);
	const struct keelson_diff_field *f = field(obj, "/data/b");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->change, KEELSON_DIFF_NOT_LIVE);
	ck_assert_uint_eq(f->line, 11);
	ck_assert_uint_eq(f->column, 6);
	done(&d, obj);
}
END_TEST

static const char cm_owned_live[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
	"\"metadata\":{\"name\":\"c\",\"namespace\":\"a\",\"labels\":{\"app\":\"x\",\"team\":\"t\",\"other\":\"o\"},"
	"\"finalizers\":[\"keelson.dev/x\",\"other/y\"],"
	"\"managedFields\":["
	"{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":"
	"{\"f:data\":{\"f:a\":{},\"f:gone\":{}},\"f:metadata\":{\"f:labels\":{\"f:app\":{},\"f:team\":{}},"
	"\"f:finalizers\":{\"v:\\\"keelson.dev/x\\\"\":{}}}}},"
	"{\"manager\":\"kubectl\",\"operation\":\"Update\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":"
	"{\"f:data\":{\"f:manual\":{}},\"f:metadata\":{\"f:labels\":{\"f:other\":{}}}}},"
	"{\"manager\":\"keelson\",\"operation\":\"Apply\",\"subresource\":\"status\",\"fieldsType\":\"FieldsV1\","
	"\"fieldsV1\":{\"f:data\":{\"f:manual\":{}}}}]},"
	"\"data\":{\"a\":\"1\",\"gone\":\"2\",\"manual\":\"3\"}}";

START_TEST(test_removed_fields_from_managed_fields)
{
	struct desired d;
	struct keelson_diff_object *obj =
		run(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n"
			"  labels:\n    app: x\ndata:\n  a: \"1\"\n",
		    cm_owned_live, NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_DRIFTED);
	/* gone, team and the finalizer: owned by keelson, not in the
	 * repository. manual and other belong to other managers. */
	ck_assert_uint_eq(obj->field_count, 3);
	const struct keelson_diff_field *f = field(obj, "/data/gone");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->change, KEELSON_DIFF_REMOVED);
	ck_assert_ptr_null(f->desired);
	assert_json(f->live, "\"2\"");
	ck_assert(!f->position_exact);
	ck_assert_uint_eq(f->line, 9); /* the data map, where it was */
	f = field(obj, "/metadata/labels/team");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->line, 7);
	f = field(obj, "/metadata/finalizers/0");
	ck_assert_ptr_nonnull(f);
	assert_json(f->live, "\"keelson.dev/x\"");
	/* merged: what an apply would leave */
	assert_json(cJSON_GetObjectItem(obj->merged, "data"), "{\"a\":\"1\",\"manual\":\"3\"}");
	assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(obj->merged, "metadata"), "finalizers"),
		    "[\"other/y\"]");
	done(&d, obj);
}
END_TEST

/* A removed field's pointer escapes '/' and '~' in keys (label and
 * annotation names): walk_owned builds it in place, token by token. */
START_TEST(test_removed_field_pointer_escaped)
{
	struct desired d;
	const char *live =
		"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"a\","
		"\"annotations\":{\"example.com/a~b\":\"1\",\"kept\":\"2\"},"
		"\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\","
		"\"fieldsV1\":{\"f:metadata\":{\"f:annotations\":{\"f:example.com/a~b\":{},\"f:kept\":{}}}}}]}}";
	struct keelson_diff_object *obj =
		run(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n"
			"  annotations:\n    kept: \"2\"\n",
		    live, NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_DRIFTED);
	ck_assert_uint_eq(obj->field_count, 1);
	ck_assert_str_eq(obj->fields[0].pointer, "/metadata/annotations/example.com~1a~0b");
	ck_assert_int_eq(obj->fields[0].change, KEELSON_DIFF_REMOVED);
	assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(obj->merged, "metadata"), "annotations"),
		    "{\"kept\":\"2\"}");
	done(&d, obj);
}
END_TEST

/* keelson's labels go into the object's own apply (field manager
 * keelson): the repository never writes them, yet they are no removed
 * field. Any other label keelson applied and the repository dropped still
 * is, including one that only looks like keelson's. */
START_TEST(test_keelson_labels_not_removed)
{
	struct desired d;
	const char *live =
		"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"a\","
		"\"labels\":{\"app\":\"x\",\"keelson.dev/cluster\":\"prod\",\"keelson.dev/system\":\"web\","
		"\"keelson.dev/systemx\":\"1\",\"old\":\"y\"},"
		"\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\","
		"\"fieldsV1\":{\"f:data\":{\"f:a\":{}},\"f:metadata\":{\"f:labels\":{\"f:app\":{},"
		"\"f:keelson.dev/cluster\":{},\"f:keelson.dev/system\":{},\"f:keelson.dev/systemx\":{},\"f:old\":{}}}}}]},"
		"\"data\":{\"a\":\"1\"}}";
	struct keelson_diff_object *obj =
		run(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n"
			"  labels:\n    app: x\ndata:\n  a: \"1\"\n",
		    live, NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_DRIFTED);
	ck_assert_uint_eq(obj->field_count, 2);
	ck_assert_ptr_nonnull(field(obj, "/metadata/labels/old"));
	ck_assert_ptr_nonnull(field(obj, "/metadata/labels/keelson.dev~1systemx"));
	/* What an apply leaves: keelson's labels stay. */
	assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(obj->merged, "metadata"), "labels"),
		    "{\"app\":\"x\",\"keelson.dev/cluster\":\"prod\",\"keelson.dev/system\":\"web\"}");
	done(&d, obj);

	/* A manifest without labels, the labels only keelson's: in sync. */
	live = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"a\","
	       "\"labels\":{\"keelson.dev/cluster\":\"prod\",\"keelson.dev/system\":\"web\"},"
	       "\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\","
	       "\"fieldsV1\":{\"f:data\":{\"f:a\":{}},\"f:metadata\":{\"f:labels\":{"
	       "\"f:keelson.dev/cluster\":{},\"f:keelson.dev/system\":{}}}}}]},\"data\":{\"a\":\"1\"}}";
	obj = run(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata: {a: \"1\"}\n", live,
		  NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_IN_SYNC);
	ck_assert_uint_eq(obj->field_count, 0);
	done(&d, obj);

	/* Labelled the earlier way (manager keelson-ownership): in sync too. */
	live = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\",\"namespace\":\"a\","
	       "\"labels\":{\"keelson.dev/cluster\":\"prod\",\"keelson.dev/system\":\"web\"},"
	       "\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\","
	       "\"fieldsV1\":{\"f:data\":{\"f:a\":{}}}},"
	       "{\"manager\":\"keelson-ownership\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\","
	       "\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\"f:keelson.dev/cluster\":{},\"f:keelson.dev/system\":{}}}}}]},"
	       "\"data\":{\"a\":\"1\"}}";
	obj = run(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata: {a: \"1\"}\n", live,
		  NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_IN_SYNC);
	done(&d, obj);
}
END_TEST

START_TEST(test_is_keelson_label)
{
	ck_assert(keelson_diff_is_keelson_label("/metadata/labels/keelson.dev~1cluster"));
	ck_assert(keelson_diff_is_keelson_label("/metadata/labels/keelson.dev~1system"));
	ck_assert(!keelson_diff_is_keelson_label("/metadata/labels/keelson.dev~1systemx"));
	ck_assert(!keelson_diff_is_keelson_label("/metadata/labels/keelson.dev~0system"));
	ck_assert(!keelson_diff_is_keelson_label("/metadata/labels/keelson.dev/system"));
	ck_assert(!keelson_diff_is_keelson_label("/metadata/annotations/keelson.dev~1system"));
	ck_assert(!keelson_diff_is_keelson_label("/spec/template/metadata/labels/keelson.dev~1system"));
	ck_assert(!keelson_diff_is_keelson_label("/metadata/labels/"));
	ck_assert(!keelson_diff_is_keelson_label("/metadata/labels/a~"));
	ck_assert(!keelson_diff_is_keelson_label(NULL));
	char long_key[300];
	snprintf(long_key, sizeof(long_key), "/metadata/labels/%0200d", 0);
	ck_assert(!keelson_diff_is_keelson_label(long_key));
}
END_TEST

/* keelson_diff_object_take keeps the caller's live object instead of a
 * copy, and frees it when it fails (ASan checks the leak). */
START_TEST(test_take_keeps_live_object)
{
	struct desired d;
	struct keelson_diff_object *obj = run(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n"
						  "data: {a: \"1\"}\n",
					      "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
					      "\"metadata\":{\"name\":\"c\",\"namespace\":\"a\"},\"data\":{\"a\":\"1\"}}",
					      NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_IN_SYNC);
	cJSON *live = cJSON_Duplicate(obj->live, 1);
	struct keelson_diff_object *taken = NULL;
	ck_assert_int_eq(keelson_diff_object_take(&taken, &d.obj, live, NULL), 0);
	ck_assert_ptr_eq(taken->live, live);
	ck_assert_int_eq(taken->state, KEELSON_DIFF_IN_SYNC);
	keelson_diff_object_free(taken);
	/* Not an object: refused, and the live value is freed. */
	ck_assert_int_eq(keelson_diff_object_take(&taken, &d.obj, cJSON_CreateString("x"), NULL), KEELSON_EINVALID);
	ck_assert_ptr_null(taken);
	done(&d, obj);
}
END_TEST

START_TEST(test_removed_list_item_by_key)
{
	struct desired d;
	const char *live =
		"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\",\"namespace\":\"a\","
		"\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsType\":\"FieldsV1\","
		"\"fieldsV1\":{\"f:spec\":{\"f:ports\":{"
		"\"k:{\\\"port\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},\"f:port\":{},\"f:name\":{}},"
		"\"k:{\\\"port\\\":81,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},\"f:port\":{},\"f:name\":{}}}}}}]},"
		"\"spec\":{\"ports\":[{\"port\":80,\"protocol\":\"TCP\",\"name\":\"a\"},"
		"{\"port\":81,\"protocol\":\"TCP\",\"name\":\"b\"},{\"port\":82,\"protocol\":\"TCP\",\"name\":\"c\"}]}}";
	struct keelson_diff_object *obj =
		run(&d, "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\n"
			"spec:\n  ports:\n    - port: 80\n      name: a\n",
		    live, NULL);
	/* Port 81 was applied by keelson and left the repository; port 82
	 * never was keelson's. Port 80 matches although the repository
	 * leaves the protocol to its default. */
	ck_assert_uint_eq(obj->field_count, 1);
	const struct keelson_diff_field *f = field(obj, "/spec/ports/1");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->change, KEELSON_DIFF_REMOVED);
	ck_assert_uint_eq(f->line, 6);
	assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(obj->merged, "spec"), "ports"),
		    "[{\"name\":\"a\",\"port\":80,\"protocol\":\"TCP\"},{\"name\":\"c\",\"port\":82,\"protocol\":\"TCP\"}]");
	done(&d, obj);
}
END_TEST

START_TEST(test_other_field_manager)
{
	struct desired d;
	struct keelson_diff_object *obj = NULL;
	struct keelson_diff_options opts;
	cJSON *live = cJSON_Parse(cm_owned_live);
	load_desired(&d, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: a\n"
			 "  labels:\n    app: x\ndata:\n  a: \"1\"\n");
	keelson_diff_options_init(&opts);
	opts.field_manager = "someone-else";
	ck_assert_int_eq(keelson_diff_object(&obj, &d.obj, live, &opts), 0);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_IN_SYNC);
	opts.version = 99;
	keelson_diff_object_free(obj);
	ck_assert_int_eq(keelson_diff_object(&obj, &d.obj, live, &opts), KEELSON_EINVALID);
	ck_assert_ptr_null(obj);
	cJSON_Delete(live);
	done(&d, NULL);
}
END_TEST

START_TEST(test_missing_and_not_in_repo)
{
	struct desired d;
	struct keelson_diff_object *obj = run(&d, sts_yaml, NULL, NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_MISSING);
	ck_assert_ptr_null(obj->live);
	ck_assert_uint_eq(obj->field_count, 0);
	done(&d, obj);

	cJSON *live = cJSON_Parse(sts_live);
	ck_assert_int_eq(keelson_diff_not_in_repo(&obj, live), 0);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_NOT_IN_REPO);
	ck_assert_str_eq(obj->group, "apps");
	ck_assert_str_eq(obj->name, "web");
	ck_assert_ptr_null(obj->desired);
	keelson_diff_object_free(obj);
	cJSON_Delete(live);
	ck_assert_int_eq(keelson_diff_not_in_repo(&obj, NULL), KEELSON_EINVALID);
}
END_TEST

static struct keelson_diff_ignore_rules *rules_from(const char *yaml)
{
	struct keelson_yaml_stream *stream = NULL;
	struct keelson_diff_ignore_rules *rules = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, yaml, strlen(yaml), "system.yaml", NULL), 0);
	int rc = keelson_diff_ignore_rules_parse(&rules, keelson_yaml_document(stream, 0), stream);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	keelson_yaml_stream_free(stream);
	return rules;
}

START_TEST(test_ignore_rules_parse_and_match)
{
	struct keelson_diff_ignore_rules *rules =
		rules_from("- group: apps\n  kind: StatefulSet\n  jsonPointers: [/spec/replicas]\n"
			   "- jsonPointers: [/metadata/annotations/a~1b, /spec/template/spec/containers/*/image]\n");
	ck_assert_uint_eq(rules->count, 3);
	ck_assert(keelson_diff_ignore_rules_match(rules, "apps", "StatefulSet", "/spec/replicas"));
	ck_assert(!keelson_diff_ignore_rules_match(rules, "apps", "Deployment", "/spec/replicas"));
	ck_assert(!keelson_diff_ignore_rules_match(rules, "", "StatefulSet", "/spec/replicas"));
	ck_assert(!keelson_diff_ignore_rules_match(rules, "apps", "StatefulSet", "/spec/replicasX"));
	ck_assert(keelson_diff_ignore_rules_match(rules, "", "Pod", "/metadata/annotations/a~1b"));
	ck_assert(keelson_diff_ignore_rules_match(rules, "", "Pod", "/metadata/annotations/a~1b/deeper"));
	ck_assert(!keelson_diff_ignore_rules_match(rules, "", "Pod", "/metadata/annotations/a"));
	ck_assert(keelson_diff_ignore_rules_match(rules, "apps", "Deployment",
						  "/spec/template/spec/containers/3/image"));
	ck_assert(!keelson_diff_ignore_rules_match(rules, "apps", "Deployment",
						   "/spec/template/spec/containers/3/name"));
	keelson_diff_ignore_rules_free(rules);
}
END_TEST

START_TEST(test_ignore_rules_errors)
{
	const char *bad[] = {
		"{jsonPointers: [/a]}",
		"- kind: X\n",
		"- jsonPointers: [no-slash]\n",
		"- jsonPointers: [/a]\n  kinds: X\n",
		"- jsonPointers: [/a]\n  kind: [X]\n",
	};
	const char *where[] = {"system.yaml:1:1", "system.yaml:1:3", "system.yaml:1:18", "system.yaml:2:3",
			       "system.yaml:2:9"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct keelson_yaml_stream *stream = NULL;
		struct keelson_diff_ignore_rules *rules = NULL;
		ck_assert_int_eq(keelson_yaml_load_buffer(&stream, bad[i], strlen(bad[i]), "system.yaml", NULL), 0);
		ck_assert_int_eq(keelson_diff_ignore_rules_parse(&rules, keelson_yaml_document(stream, 0), stream),
				 KEELSON_EINVALID);
		ck_assert_ptr_null(rules);
		ck_assert_msg(strstr(keelson_error_last()->message, where[i]) != NULL, "case %zu: %s", i,
			      keelson_error_last()->message);
		keelson_yaml_stream_free(stream);
	}
	struct keelson_diff_ignore_rules *none = NULL;
	ck_assert_int_eq(keelson_diff_ignore_rules_parse(&none, NULL, NULL), 0);
	ck_assert_uint_eq(none->count, 0);
	keelson_diff_ignore_rules_free(none);
}
END_TEST

START_TEST(test_ignore_rules_applied)
{
	struct desired d;
	struct keelson_diff_ignore_rules *rules =
		rules_from("- kind: StatefulSet\n  jsonPointers: [/spec/replicas, /metadata/labels/team]\n");
	char *live = live_with("\"replicas\":2,\"serviceName\"", "\"replicas\":5,\"serviceName\"");
	struct keelson_diff_object *obj = run(&d, sts_yaml, live, rules);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_IN_SYNC);
	ck_assert_uint_eq(obj->ignored_count, 1);
	ck_assert_ptr_null(obj->merged); /* in sync: nothing to render */
	ck_assert_ptr_nonnull(obj->live);
	done(&d, obj);
	/* With another difference, the ignored value stays as it is live in
	 * `merged`. */
	char *live2 = NULL;
	{
		const char *from = "\"image\":\"nginx:1\"", *to = "\"image\":\"nginx:0\"";
		const char *at = strstr(live, from);
		size_t n = strlen(live) + strlen(to) + 1;
		live2 = malloc(n);
		snprintf(live2, n, "%.*s%s%s", (int)(at - live), live, to, at + strlen(from));
	}
	obj = run(&d, sts_yaml, live2, rules);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_DRIFTED);
	ck_assert_uint_eq(obj->field_count, 1);
	ck_assert_uint_eq(obj->ignored_count, 1);
	ck_assert_ptr_nonnull(field(obj, "/spec/template/spec/containers/0/image"));
	assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(obj->merged, "spec"), "replicas"), "5");
	free(live);
	free(live2);
	done(&d, obj);
	keelson_diff_ignore_rules_free(rules);
}
END_TEST

START_TEST(test_object_to_json)
{
	struct desired d;
	char *live = live_with("\"replicas\":2,\"serviceName\"", "\"replicas\":5,\"serviceName\"");
	struct keelson_diff_object *obj = run(&d, sts_yaml, live, NULL);
	cJSON *j = keelson_diff_object_to_json(obj);
	char *text = canonical(j);
	ck_assert_str_eq(text,
			 "{\"apiVersion\":\"apps/v1\",\"fields\":[{\"change\":\"changed\",\"column\":13,\"desired\":2,"
			 "\"exact\":true,\"file\":\"clusters/c/app/obj.yaml\",\"line\":9,\"live\":5,"
			 "\"livePointer\":\"/spec/replicas\",\"pointer\":\"/spec/replicas\"}],\"file\":"
			 "\"clusters/c/app/obj.yaml\",\"ignored\":0,\"kind\":\"StatefulSet\",\"line\":1,\"name\":\"web\","
			 "\"namespace\":\"app\",\"state\":\"drifted\"}");
	free(text);
	cJSON_Delete(j);
	free(live);
	done(&d, obj);
}
END_TEST

START_TEST(test_list_semantics_table)
{
	struct keelson_list_semantics s;
	const char *containers[] = {"spec", "template", "spec", "containers"};
	const char *ports[] = {"spec", "template", "spec", "initContainers", "0", "ports"};
	const char *cron_env[] = {"spec", "jobTemplate", "spec", "template", "spec", "containers", "2", "env"};
	const char *svc_ports[] = {"spec", "ports"};
	const char *finalizers[] = {"metadata", "finalizers"};
	const char *tolerations[] = {"spec", "template", "spec", "tolerations"};
	keelson_list_semantics_lookup(&s, "apps", "StatefulSet", containers, 4);
	ck_assert_int_eq(s.type, KEELSON_LIST_MAP);
	ck_assert_str_eq(s.keys[0], "name");
	keelson_list_semantics_lookup(&s, "apps", "Deployment", ports, 6);
	ck_assert_int_eq(s.type, KEELSON_LIST_MAP);
	ck_assert_uint_eq(s.key_count, 2);
	ck_assert_str_eq(s.keys[1], "protocol");
	keelson_list_semantics_lookup(&s, "batch", "CronJob", cron_env, 8);
	ck_assert_int_eq(s.type, KEELSON_LIST_MAP);
	keelson_list_semantics_lookup(&s, "", "Service", svc_ports, 2);
	ck_assert_int_eq(s.type, KEELSON_LIST_MAP);
	ck_assert_str_eq(s.keys[0], "port");
	keelson_list_semantics_lookup(&s, "example.com", "Widget", finalizers, 2);
	ck_assert_int_eq(s.type, KEELSON_LIST_SET);
	keelson_list_semantics_lookup(&s, "apps", "StatefulSet", tolerations, 4);
	ck_assert_int_eq(s.type, KEELSON_LIST_ATOMIC);
	/* Custom resources: atomic, even where a built-in would be keyed. */
	keelson_list_semantics_lookup(&s, "sparkoperator.k8s.io", "SparkApplication", containers, 4);
	ck_assert_int_eq(s.type, KEELSON_LIST_ATOMIC);
	keelson_list_semantics_lookup(&s, "", "ConfigMap", svc_ports, 2);
	ck_assert_int_eq(s.type, KEELSON_LIST_ATOMIC);
}
END_TEST

static const char secret_yaml[] =
	"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\n"
	"stringData:\n  password: hunter2\ndata:\n  user: YWRtaW4=\n";

START_TEST(test_secret_string_data)
{
	struct desired d;
	/* A real API server moves stringData into data, base64-encoded. */
	struct keelson_diff_object *obj =
		run(&d, secret_yaml,
		    "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"namespace\":\"a\"},"
		    "\"type\":\"Opaque\",\"data\":{\"user\":\"YWRtaW4=\",\"password\":\"aHVudGVyMg==\"}}",
		    NULL);
	ck_assert_int_eq(obj->state, KEELSON_DIFF_IN_SYNC);
	done(&d, obj);

	obj = run(&d, secret_yaml,
		  "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"namespace\":\"a\"},"
		  "\"data\":{\"user\":\"YWRtaW4=\",\"password\":\"b3RoZXI=\"}}",
		  NULL);
	ck_assert_uint_eq(obj->field_count, 1);
	const struct keelson_diff_field *f = field(obj, "/stringData/password");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->live_pointer, "/data/password");
	ck_assert_uint_eq(f->line, 5);
	ck_assert(keelson_diff_is_secret_value(obj->group, obj->kind, f->pointer));
	ck_assert(!keelson_diff_is_secret_value("", "ConfigMap", "/data/x"));
	/* The field itself holds no value (the daemon logged it: issue 11). */
	ck_assert_str_eq(f->desired->valuestring, KEELSON_DIFF_REDACTED);
	ck_assert_str_eq(f->live->valuestring, KEELSON_DIFF_REDACTED);
	/* Machines get no secret values either. */
	cJSON *j = keelson_diff_object_to_json(obj);
	char *text = canonical(j);
	ck_assert_ptr_null(strstr(text, "hunter2"));
	ck_assert_ptr_null(strstr(text, "b3RoZXI="));
	ck_assert_ptr_nonnull(strstr(text, KEELSON_DIFF_REDACTED));
	free(text);
	cJSON_Delete(j);
	/* Nor people. */
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	ck_assert_int_eq(keelson_diff_render_unified(out, obj, false), 0);
	fclose(out);
	ck_assert_ptr_null(strstr(buf, "hunter2"));
	ck_assert_ptr_null(strstr(buf, "b3RoZXI="));
	ck_assert_ptr_null(strstr(buf, "YWRtaW4="));
	ck_assert_ptr_nonnull(strstr(buf, "-  password: \"*** (before)\""));
	ck_assert_ptr_nonnull(strstr(buf, "+  password: \"*** (after)\""));
	ck_assert_ptr_nonnull(strstr(buf, "   user: \"***\""));
	free(buf);
	/* merged holds what the server would store. */
	assert_json(cJSON_GetObjectItem(cJSON_GetObjectItem(obj->merged, "data"), "password"), "\"aHVudGVyMg==\"");
	done(&d, obj);
}
END_TEST

struct fake_cluster {
	const char *live_by_name[3];
	int fail_name_index;
	int calls;
};

static int fake_live(cJSON **out, const struct keelson_object *desired, void *payload)
{
	struct fake_cluster *fc = payload;
	fc->calls++;
	*out = NULL;
	for (int i = 0; i < 3; i++) {
		char name[8];
		snprintf(name, sizeof(name), "c%d", i);
		if (strcmp(desired->name, name) != 0)
			continue;
		if (i == fc->fail_name_index)
			return keelson_error_set(KEELSON_EUNAVAILABLE, "server down");
		if (fc->live_by_name[i] != NULL)
			*out = cJSON_Parse(fc->live_by_name[i]);
	}
	return 0;
}

START_TEST(test_diff_system)
{
	const char *yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c0, namespace: a}\ndata: {k: v}\n"
			   "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1, namespace: a}\ndata: {k: v}\n"
			   "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c2, namespace: a}\ndata: {k: v}\n";
	struct keelson_yaml_stream *stream = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, yaml, strlen(yaml), "s.yaml", NULL), 0);
	struct keelson_object objects[3];
	const char *names[] = {"c0", "c1", "c2"};
	memset(objects, 0, sizeof(objects));
	for (size_t i = 0; i < 3; i++) {
		objects[i].api_version = "v1";
		objects[i].group = "";
		objects[i].kind = "ConfigMap";
		objects[i].namespace_ = "a";
		objects[i].name = names[i];
		objects[i].body = keelson_yaml_document(stream, i);
		objects[i].stream = stream;
		objects[i].file = "s.yaml";
		objects[i].line = 1 + 5 * (unsigned)i;
	}
	struct keelson_system system = {.name = "app", .objects = objects, .object_count = 3};
	struct fake_cluster fc = {
		{"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c0\",\"namespace\":\"a\"},\"data\":{\"k\":\"v\"}}",
		 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c1\",\"namespace\":\"a\"},\"data\":{\"k\":\"w\"}}",
		 NULL},
		-1, 0};
	struct keelson_diff_report *report = NULL;
	ck_assert_int_eq(keelson_diff_system(&report, &system, fake_live, &fc, NULL), 0);
	ck_assert_ptr_eq(report->system, &system);
	ck_assert_uint_eq(report->count, 3);
	ck_assert_uint_eq(report->in_sync, 1);
	ck_assert_uint_eq(report->drifted, 1);
	ck_assert_uint_eq(report->missing, 1);
	ck_assert(!keelson_diff_report_in_sync(report));
	ck_assert_int_eq(report->objects[1]->state, KEELSON_DIFF_DRIFTED);
	ck_assert_str_eq(report->objects[1]->fields[0].pointer, "/data/k");
	ck_assert_uint_eq(report->objects[1]->fields[0].line, 9);
	ck_assert_int_eq(report->objects[2]->state, KEELSON_DIFF_MISSING);

	/* An owned object that left the repository counts too. */
	cJSON *orphan = cJSON_Parse(fc.live_by_name[0]);
	struct keelson_diff_object *o = NULL;
	ck_assert_int_eq(keelson_diff_not_in_repo(&o, orphan), 0);
	ck_assert_int_eq(keelson_diff_report_add(report, o), 0);
	ck_assert_uint_eq(report->not_in_repo, 1);
	cJSON_Delete(orphan);
	keelson_diff_report_free(report);

	/* A live read that fails fails the system, naming the object. */
	fc.fail_name_index = 1;
	ck_assert_int_eq(keelson_diff_system(&report, &system, fake_live, &fc, NULL), KEELSON_EUNAVAILABLE);
	ck_assert_ptr_null(report);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "s.yaml:6: ConfigMap a/c1"));
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "server down"));

	/* All in sync. */
	fc.fail_name_index = -1;
	fc.live_by_name[1] = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c1\",\"namespace\":\"a\"},\"data\":{\"k\":\"v\"}}";
	fc.live_by_name[2] = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c2\",\"namespace\":\"a\"},\"data\":{\"k\":\"v\",\"x\":\"y\"}}";
	ck_assert_int_eq(keelson_diff_system(&report, &system, fake_live, &fc, NULL), 0);
	ck_assert(keelson_diff_report_in_sync(report));
	ck_assert_uint_eq(report->in_sync, 3);
	keelson_diff_report_free(report);
	keelson_yaml_stream_free(stream);
}
END_TEST

START_TEST(test_hostile_live_objects)
{
	/* Whatever the server (or something in front of it) sends, the diff
	 * neither crashes nor invents removals. */
	const char *yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata: {a: \"1\"}\n";
	const char *lives[] = {
		"{\"metadata\":{\"name\":\"c\",\"namespace\":\"a\",\"managedFields\":\"nope\"},\"data\":{\"a\":\"1\"}}",
		"{\"metadata\":{\"name\":\"c\",\"namespace\":\"a\",\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsV1\":[1,2]}]},\"data\":{\"a\":\"1\"}}",
		"{\"metadata\":{\"name\":\"c\",\"namespace\":\"a\",\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsV1\":"
		"{\"f:data\":{\"k:{bad json\":{\".\":{}},\"v:[\":{},\"i:3\":{},\"f:a\":{}}}}]},\"data\":{\"a\":\"1\"}}",
		"{\"metadata\":{\"name\":\"c\",\"namespace\":\"a\",\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsV1\":"
		"{\"f:data\":{\"f:a\":{\"f:deeper\":{}}}}}]},\"data\":{\"a\":\"1\"}}",
		"{\"data\":\"not a map\"}",
		"{\"data\":[\"a\",\"1\"]}",
		"{\"metadata\":null,\"data\":{\"a\":1}}",
	};
	/* 4-6: metadata and data differ (1 is not "1" outside quantities). */
	size_t want_fields[] = {0, 0, 0, 0, 2, 2, 2};
	for (size_t i = 0; i < sizeof(lives) / sizeof(lives[0]); i++) {
		struct desired d;
		struct keelson_diff_object *obj = run(&d, yaml, lives[i], NULL);
		ck_assert_msg(obj->field_count == want_fields[i], "case %zu: %zu fields", i, obj->field_count);
		done(&d, obj);
	}

	/* A live "object" that is not one is refused. */
	{
		struct desired d;
		struct keelson_diff_object *obj = NULL;
		cJSON *arr = cJSON_CreateArray();
		load_desired(&d, yaml);
		ck_assert_int_eq(keelson_diff_object(&obj, &d.obj, arr, NULL), KEELSON_EINVALID);
		ck_assert_ptr_null(obj);
		cJSON_Delete(arr);
		keelson_yaml_stream_free(d.stream);
	}

	/* managedFields nested deeper than any object: refused, not followed. */
	size_t depth = 300;
	char *live = malloc(depth * 10 + 256);
	size_t n = (size_t)sprintf(live, "{\"metadata\":{\"managedFields\":[{\"manager\":\"keelson\",\"operation\":\"Apply\",\"fieldsV1\":");
	for (size_t i = 0; i < depth; i++)
		n += (size_t)sprintf(live + n, "{\"f:x\":");
	n += (size_t)sprintf(live + n, "{}");
	for (size_t i = 0; i < depth; i++)
		live[n++] = '}';
	n += (size_t)sprintf(live + n, "}]},\"x\":{}}");
	cJSON *parsed = cJSON_Parse(live);
	if (parsed != NULL) {
		/* Build a live object as deep as the fields, so the walk follows. */
		cJSON *node = cJSON_GetObjectItem(parsed, "x");
		for (size_t i = 0; i < depth; i++)
			node = cJSON_AddObjectToObject(node, "x");
		cJSON_AddStringToObject(node, "leaf", "v");
		struct desired d;
		struct keelson_diff_object *obj = NULL;
		load_desired(&d, yaml);
		ck_assert_int_eq(keelson_diff_object(&obj, &d.obj, parsed, NULL), KEELSON_ELIMIT);
		ck_assert_ptr_null(obj);
		keelson_yaml_stream_free(d.stream);
		cJSON_Delete(parsed);
	}
	free(live);
}
END_TEST

Suite *suite_diff(void);
Suite *suite_diff(void)
{
	Suite *s = suite_create("diff");
	TCase *tc = tcase_create("keelson_diff_object");
	tcase_add_test(tc, test_in_sync_despite_server_additions);
	tcase_add_test(tc, test_changed_field_with_position);
	tcase_add_test(tc, test_keyed_list_item_compared_by_key);
	tcase_add_test(tc, test_keyed_list_missing_item);
	tcase_add_test(tc, test_atomic_list);
	tcase_add_test(tc, test_quantities_by_value);
	tcase_add_test(tc, test_int_or_string_kept_as_given);
	tcase_add_test(tc, test_zero_values_and_nulls);
	tcase_add_test(tc, test_removed_fields_from_managed_fields);
	tcase_add_test(tc, test_removed_field_pointer_escaped);
	tcase_add_test(tc, test_take_keeps_live_object);
	tcase_add_test(tc, test_removed_list_item_by_key);
	tcase_add_test(tc, test_other_field_manager);
	tcase_add_test(tc, test_missing_and_not_in_repo);
	tcase_add_test(tc, test_ignore_rules_applied);
	tcase_add_test(tc, test_secret_string_data);
	tcase_add_test(tc, test_hostile_live_objects);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_diff_ignore_rules_parse");
	tcase_add_test(tc, test_ignore_rules_parse_and_match);
	tcase_add_test(tc, test_ignore_rules_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_diff_system");
	tcase_add_test(tc, test_diff_system);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_diff_object_to_json");
	tcase_add_test(tc, test_object_to_json);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_list_semantics_lookup");
	tcase_add_test(tc, test_list_semantics_table);
	tcase_add_test(tc, test_keelson_labels_not_removed);
	tcase_add_test(tc, test_is_keelson_label);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_diff)
