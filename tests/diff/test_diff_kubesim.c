/* The diff the way the daemon runs it: objects applied with keelson's own
 * client (server-side apply, field manager "keelson") to kubesim, live
 * state read from the watch cache. Skipped (exit 77) when kubesim is not
 * built. */
#include "config.h"

#include "core/error.h"
#include "diff/diff.h"
#include "kube/kube_cache.h"
#include "kube/kube_client.h"
#include "tests/lib/kubesim_harness.h"
#include "tests/unit/check_main.h"
#include "yaml/yaml_load.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char manifests[] =
	"apiVersion: v1\n"
	"kind: Namespace\n"
	"metadata:\n"
	"  name: diffns\n"
	"---\n"
	"apiVersion: v1\n"
	"kind: ConfigMap\n"
	"metadata:\n"
	"  name: settings\n"
	"  namespace: diffns\n"
	"data:\n"
	"  a: \"1\"\n"
	"  b: \"2\"\n"
	"---\n"
	"apiVersion: apps/v1\n"
	"kind: StatefulSet\n"
	"metadata:\n"
	"  name: db\n"
	"  namespace: diffns\n"
	"spec:\n"
	"  replicas: 3\n"
	"  serviceName: db\n"
	"  selector:\n"
	"    matchLabels: {app: db}\n"
	"  template:\n"
	"    metadata:\n"
	"      labels: {app: db}\n"
	"    spec:\n"
	"      containers:\n"
	"        - name: db\n"
	"          image: db:1\n"
	"          ports: [{containerPort: 5432, name: sql}]\n"
	"          resources:\n"
	"            requests: {cpu: 1, memory: 1024Mi}\n";

struct world {
	struct keelson_kube_client *client;
	struct keelson_kube_cache *cache;
	struct keelson_yaml_stream *stream;
	struct keelson_object objects[3];
	struct keelson_system system;
};

static void fill_object(struct keelson_object *o, const cJSON *body, const struct keelson_yaml_stream *stream,
			const char *group, unsigned line)
{
	memset(o, 0, sizeof(*o));
	o->body = body;
	o->api_version = cJSON_GetObjectItem(body, "apiVersion")->valuestring;
	o->kind = cJSON_GetObjectItem(body, "kind")->valuestring;
	o->group = group;
	const cJSON *md = cJSON_GetObjectItem(body, "metadata");
	o->name = cJSON_GetObjectItem(md, "name")->valuestring;
	const cJSON *ns = cJSON_GetObjectItem(md, "namespace");
	o->namespace_ = ns ? ns->valuestring : "";
	o->stream = stream;
	o->file = "clusters/sim/db/all.yaml";
	o->line = line;
	o->column = 1;
}

static void world_open(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->client = kubesim_harness_client(NULL);
	ck_assert_int_eq(keelson_yaml_load_buffer(&w->stream, manifests, strlen(manifests), "clusters/sim/db/all.yaml",
						  NULL),
			 0);
	fill_object(&w->objects[0], keelson_yaml_document(w->stream, 0), w->stream, "", 1);
	fill_object(&w->objects[1], keelson_yaml_document(w->stream, 1), w->stream, "", 6);
	fill_object(&w->objects[2], keelson_yaml_document(w->stream, 2), w->stream, "apps", 15);
	w->system.name = "db";
	w->system.objects = w->objects;
	w->system.object_count = 3;
	/* Forced: an earlier test may have left another manager's change. */
	struct keelson_kube_write_options wo;
	keelson_kube_write_options_init(&wo);
	wo.force = true;
	for (size_t i = 0; i < 3; i++) {
		cJSON *out = NULL;
		int rc = keelson_kube_apply(&out, w->client, w->objects[i].body, &wo);
		ck_assert_msg(rc == 0, "apply %s: %s", w->objects[i].name, keelson_error_last()->message);
		cJSON_Delete(out);
	}
	ck_assert_int_eq(keelson_kube_cache_new(&w->cache, w->client, NULL), 0);
	ck_assert_int_eq(keelson_kube_cache_add(w->cache, "v1", "Namespace"), 0);
	ck_assert_int_eq(keelson_kube_cache_add(w->cache, "v1", "ConfigMap"), 0);
	ck_assert_int_eq(keelson_kube_cache_add(w->cache, "apps/v1", "StatefulSet"), 0);
	ck_assert_int_eq(keelson_kube_cache_wait_synced(w->cache, 20000), 0);
}

static void world_close(struct world *w)
{
	keelson_kube_cache_free(w->cache);
	keelson_kube_client_free(w->client);
	keelson_yaml_stream_free(w->stream);
}

/* Wait until the cache shows `pointer` of the StatefulSet equal to `want`. */
static void wait_for(struct world *w, const char *kind, const char *name, const char *member, int want)
{
	for (int i = 0; i < 200; i++) {
		cJSON *live = NULL;
		const char *api = strcmp(kind, "StatefulSet") == 0 ? "apps/v1" : "v1";
		if (keelson_kube_cache_get(&live, w->cache, api, kind, "diffns", name) == 0) {
			const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(live, "spec"), member);
			bool done = cJSON_IsNumber(v) && v->valueint == want;
			cJSON_Delete(live);
			if (done)
				return;
		}
		usleep(50 * 1000);
	}
	ck_abort_msg("the cache never showed %s %s %s=%d", kind, name, member, want);
}

START_TEST(in_sync_after_apply_then_drift)
{
	struct world w;
	struct keelson_diff_report *report = NULL;
	world_open(&w);

	ck_assert_int_eq(keelson_diff_system(&report, &w.system, keelson_diff_live_from_cache, w.cache, NULL), 0);
	for (size_t i = 0; i < report->count; i++)
		for (size_t j = 0; j < report->objects[i]->field_count; j++)
			ck_abort_msg("false drift: %s %s", report->objects[i]->kind,
				     report->objects[i]->fields[j].pointer);
	ck_assert_uint_eq(report->in_sync, 3);
	ck_assert(keelson_diff_report_in_sync(report));
	keelson_diff_report_free(report);

	/* Someone scales the StatefulSet by hand. */
	struct keelson_kube_write_options wo;
	keelson_kube_write_options_init(&wo);
	wo.field_manager = "kubectl-scale";
	cJSON *out = NULL;
	ck_assert_int_eq(keelson_kube_patch(&out, w.client, "apps/v1", "StatefulSet", "diffns", "db",
					    KEELSON_KUBE_PATCH_MERGE, "{\"spec\":{\"replicas\":5}}", &wo),
			 0);
	cJSON_Delete(out);
	wait_for(&w, "StatefulSet", "db", "replicas", 5);
	ck_assert_int_eq(keelson_diff_system(&report, &w.system, keelson_diff_live_from_cache, w.cache, NULL), 0);
	ck_assert_uint_eq(report->drifted, 1);
	const struct keelson_diff_object *sts = report->objects[2];
	ck_assert_int_eq(sts->state, KEELSON_DIFF_DRIFTED);
	ck_assert_uint_eq(sts->field_count, 1);
	ck_assert_str_eq(sts->fields[0].pointer, "/spec/replicas");
	ck_assert_uint_eq(sts->fields[0].line, 21);
	ck_assert_uint_eq(sts->fields[0].column, 13);
	keelson_diff_report_free(report);
	world_close(&w);
}
END_TEST

START_TEST(removed_from_repository)
{
	struct world w;
	world_open(&w);
	/* The next revision drops data.b of the ConfigMap keelson applied. */
	const char *next = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: diffns\n"
			   "data:\n  a: \"1\"\n";
	struct keelson_yaml_stream *stream = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, next, strlen(next), "clusters/sim/db/cm.yaml", NULL), 0);
	struct keelson_object o;
	fill_object(&o, keelson_yaml_document(stream, 0), stream, "", 1);
	cJSON *live = NULL;
	ck_assert_int_eq(keelson_diff_live_from_cache(&live, &o, w.cache), 0);
	ck_assert_ptr_nonnull(live);
	struct keelson_diff_object *d = NULL;
	ck_assert_int_eq(keelson_diff_object(&d, &o, live, NULL), 0);
	ck_assert_int_eq(d->state, KEELSON_DIFF_DRIFTED);
	ck_assert_uint_eq(d->field_count, 1);
	ck_assert_int_eq(d->fields[0].change, KEELSON_DIFF_REMOVED);
	ck_assert_str_eq(d->fields[0].pointer, "/data/b");
	ck_assert_uint_eq(d->fields[0].line, 7);
	keelson_diff_object_free(d);
	cJSON_Delete(live);

	/* A missing object reads as NULL, not as an error. */
	o.name = "not-there";
	ck_assert_int_eq(keelson_diff_live_from_cache(&live, &o, w.cache), 0);
	ck_assert_ptr_null(live);
	ck_assert_int_eq(keelson_diff_live_from_client(&live, &o, w.client), 0);
	ck_assert_ptr_null(live);
	keelson_yaml_stream_free(stream);
	world_close(&w);
}
END_TEST

Suite *suite_diff_kubesim(void);
Suite *suite_diff_kubesim(void)
{
	Suite *s = suite_create("diff_kubesim");
	TCase *tc = tcase_create("keelson_diff_system_against_kubesim");
	tcase_add_unchecked_fixture(tc, kubesim_harness_start, kubesim_harness_stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, in_sync_after_apply_then_drift);
	tcase_add_test(tc, removed_from_repository);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kubesim_harness_main(suite_diff_kubesim);
}
