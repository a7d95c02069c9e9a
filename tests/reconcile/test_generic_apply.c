/* When a system's change set needs a Kubernetes request at all: the rule
 * that keeps an idle cycle at zero requests without skipping real work. */
#include "config.h"

#include "core/error.h"
#include "diff/diff.h"
#include "reconcile/generic_apply.h"
#include "reconcile/inventory.h"
#include "tests/unit/check_main.h"

#include <stdio.h>
#include <string.h>

#define REV "1111111111111111111111111111111111111111"

struct fixture {
	struct keelson_system system;
	struct keelson_object object;
	cJSON *body;
	struct keelson_change change;
	struct keelson_change_set cs;
};

static void fixture_init(struct fixture *f, const char *live_json)
{
	memset(f, 0, sizeof(*f));
	f->system.name = "web";
	f->system.policy.prune = true;
	f->body = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
			      "\"namespace\":\"ns\"},\"data\":{\"k\":\"v\"}}");
	f->object.api_version = "v1";
	f->object.group = "";
	f->object.kind = "ConfigMap";
	f->object.namespace_ = "ns";
	f->object.name = "a";
	f->object.body = f->body;
	f->object.file = "clusters/c/web/cm.yaml";
	f->object.system = &f->system;
	cJSON *live = live_json ? cJSON_Parse(live_json) : NULL;
	ck_assert_int_eq(keelson_diff_object(&f->change.diff, &f->object, live, NULL), 0);
	cJSON_Delete(live);
	f->change.object = &f->object;
	f->change.action = f->change.diff->state == KEELSON_DIFF_IN_SYNC ? KEELSON_CHANGE_NONE : KEELSON_CHANGE_APPLY;
	f->change.labelled = true;
	f->cs.system = &f->system;
	f->cs.cluster = "c";
	f->cs.revision = REV;
	f->cs.changes = &f->change;
	f->cs.change_count = 1;
}

static void fixture_dispose(struct fixture *f)
{
	keelson_diff_object_free(f->change.diff);
	cJSON_Delete(f->body);
}

/* The inventory ConfigMap listing `uid` for the object (and an extra entry
 * when `extra`), at `revision`. */
static cJSON *inventory(const char *uid, const char *revision, int extra)
{
	struct keelson_inventory *inv = keelson_inventory_new();
	ck_assert_int_eq(keelson_inventory_put(inv, "v1", "ConfigMap", "ns", "a", uid), 0);
	if (extra)
		ck_assert_int_eq(keelson_inventory_put(inv, "v1", "ConfigMap", "ns", "gone", "u-9"), 0);
	inv->revision = revision ? strdup(revision) : NULL;
	cJSON *cm = keelson_inventory_to_configmap(inv, "keelson-system", "c", "web");
	keelson_inventory_free(inv);
	return cm;
}

static const char live_in_sync[] = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\","
				   "\"namespace\":\"ns\",\"uid\":\"u-1\",\"labels\":{\"keelson.dev/system\":\"web\"}},"
				   "\"data\":{\"k\":\"v\"}}";

START_TEST(test_idle_needs_nothing)
{
	struct fixture f;
	fixture_init(&f, live_in_sync);
	ck_assert_int_eq(f.change.action, KEELSON_CHANGE_NONE);
	cJSON *cm = inventory("u-1", REV, 0);
	ck_assert(!keelson_change_set_needs_work(&f.cs, cm));
	cJSON_Delete(cm);
	fixture_dispose(&f);
}
END_TEST

START_TEST(test_work_when_something_differs)
{
	struct fixture f;
	fixture_init(&f, NULL); /* missing live */
	cJSON *cm = inventory("u-1", REV, 0);
	ck_assert_int_eq(f.change.action, KEELSON_CHANGE_APPLY);
	ck_assert(keelson_change_set_needs_work(&f.cs, cm));
	cJSON_Delete(cm);
	fixture_dispose(&f);

	fixture_init(&f, live_in_sync);
	f.change.labelled = false; /* adopted object without keelson's label */
	cm = inventory("u-1", REV, 0);
	ck_assert(keelson_change_set_needs_work(&f.cs, cm));
	cJSON_Delete(cm);
	fixture_dispose(&f);
}
END_TEST

START_TEST(test_work_when_inventory_is_behind)
{
	struct fixture f;
	fixture_init(&f, live_in_sync);
	ck_assert(keelson_change_set_needs_work(&f.cs, NULL)); /* no inventory yet */
	cJSON *cm = inventory("u-1", "2222222222222222222222222222222222222222", 0);
	ck_assert(keelson_change_set_needs_work(&f.cs, cm)); /* new revision to record */
	cJSON_Delete(cm);
	cm = inventory("u-0", REV, 0);
	ck_assert(keelson_change_set_needs_work(&f.cs, cm)); /* object re-created: uid to record */
	cJSON_Delete(cm);
	cm = inventory("", REV, 0);
	ck_assert(keelson_change_set_needs_work(&f.cs, cm)); /* uid never recorded (crash after apply) */
	cJSON_Delete(cm);
	fixture_dispose(&f);
}
END_TEST

START_TEST(test_prune_policy)
{
	struct fixture f;
	fixture_init(&f, live_in_sync);
	cJSON *cm = inventory("u-1", REV, 1);
	ck_assert(keelson_change_set_needs_work(&f.cs, cm)); /* an entry left the repository: prune it */
	f.system.policy.prune = false;
	ck_assert(!keelson_change_set_needs_work(&f.cs, cm)); /* held by policy: nothing to do */
	cJSON_Delete(cm);
	fixture_dispose(&f);
}
END_TEST

START_TEST(test_blocked_needs_no_request)
{
	struct fixture f;
	fixture_init(&f, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"namespace\":"
			 "\"ns\",\"uid\":\"u-1\",\"labels\":{\"keelson.dev/system\":\"web\"}},\"data\":{\"k\":\"old\"}}");
	ck_assert_int_eq(f.change.action, KEELSON_CHANGE_APPLY);
	f.change.action = KEELSON_CHANGE_BLOCKED;
	cJSON *cm = inventory("u-1", REV, 0);
	ck_assert(!keelson_change_set_needs_work(&f.cs, cm));
	f.change.action = KEELSON_CHANGE_REPORT;
	ck_assert(!keelson_change_set_needs_work(&f.cs, cm));
	cJSON_Delete(cm);
	fixture_dispose(&f);
}
END_TEST

/* The inventory's identity index: every entry found at its place through
 * growth, removals (later entries move down) and re-adds; the version of
 * apiVersion is not part of the identity, the group is. */
START_TEST(test_inventory_index)
{
	struct keelson_inventory *inv = keelson_inventory_new();
	char name[64], uid[64];
	const size_t n = 3000;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "obj-%zu", i);
		snprintf(uid, sizeof(uid), "u-%zu", i);
		ck_assert_int_eq(keelson_inventory_put(inv, i % 2 ? "apps/v1" : "v1", i % 3 ? "ConfigMap" : "StatefulSet",
						       i % 5 ? "ns" : NULL, name, uid),
				 0);
	}
	ck_assert_uint_eq(inv->count, n);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "obj-%zu", i);
		ck_assert_int_eq(keelson_inventory_find(inv, i % 2 ? "apps/v1beta2" : "v1", i % 3 ? "ConfigMap" : "StatefulSet",
							i % 5 ? "ns" : "", name),
				 (long)i);
		/* Another group, another namespace, another kind: not the entry. */
		ck_assert_int_eq(keelson_inventory_find(inv, i % 2 ? "example.com/v1" : "apps/v1",
							i % 3 ? "ConfigMap" : "StatefulSet", i % 5 ? "ns" : "", name),
				 -1);
		ck_assert_int_eq(keelson_inventory_find(inv, i % 2 ? "apps/v1" : "v1", i % 3 ? "ConfigMap" : "StatefulSet",
							i % 5 ? "other" : "ns", name),
				 -1);
	}
	/* Put of an existing identity updates apiVersion and uid in place. */
	ck_assert_int_eq(keelson_inventory_put(inv, "apps/v2", "ConfigMap", "ns", "obj-1", "u-new"), 0);
	ck_assert_uint_eq(inv->count, n);
	ck_assert_str_eq(inv->items[1].api_version, "apps/v2");
	ck_assert_str_eq(inv->items[1].uid, "u-new");
	ck_assert_int_eq(keelson_inventory_put(inv, "apps/v1", "ConfigMap", "ns", "obj-1", NULL), 0);
	ck_assert_str_eq(inv->items[1].uid, "u-new");

	keelson_inventory_remove(inv, 10);
	keelson_inventory_remove(inv, 0);
	ck_assert_uint_eq(inv->count, n - 2);
	ck_assert_int_eq(keelson_inventory_find(inv, "v1", "StatefulSet", "", "obj-0"), -1);
	ck_assert_int_eq(keelson_inventory_find(inv, "v1", "ConfigMap", "", "obj-10"), -1);
	ck_assert_int_eq(keelson_inventory_find(inv, "apps/v1", "ConfigMap", "ns", "obj-11"), 9);
	ck_assert_int_eq(keelson_inventory_find(inv, "v1", "ConfigMap", "ns", "obj-2998"), (long)n - 4);
	/* Re-added after the removals: found, and so is everything else. */
	ck_assert_int_eq(keelson_inventory_put(inv, "v1", "ConfigMap", "", "obj-10", "u-10"), 0);
	ck_assert_int_eq(keelson_inventory_find(inv, "v1", "ConfigMap", NULL, "obj-10"), (long)n - 2);
	for (size_t i = 1; i < n; i++) {
		if (i == 10)
			continue;
		snprintf(name, sizeof(name), "obj-%zu", i);
		ck_assert_int_eq(keelson_inventory_find(inv, i % 2 ? "apps/v1" : "v1", i % 3 ? "ConfigMap" : "StatefulSet",
							i % 5 ? "ns" : "", name),
				 (long)(i < 10 ? i - 1 : i - 2));
	}
	/* The bound holds. */
	for (size_t i = inv->count; i < KEELSON_INVENTORY_MAX_ENTRIES; i++) {
		snprintf(name, sizeof(name), "more-%zu", i);
		ck_assert_int_eq(keelson_inventory_put(inv, "v1", "Secret", "ns", name, NULL), 0);
	}
	ck_assert_int_eq(keelson_inventory_put(inv, "v1", "Secret", "ns", "one-too-many", NULL), KEELSON_ELIMIT);
	ck_assert_int_eq(keelson_inventory_find(inv, "v1", "Secret", "ns", "one-too-many"), -1);
	ck_assert_int_eq(keelson_inventory_put(inv, "v1", "Secret", "ns", "more-4999", "u"), 0); /* an update still works */
	keelson_inventory_free(inv);
}
END_TEST

static Suite *suite_generic_apply(void)
{
	Suite *s = suite_create("generic_apply");
	TCase *tc = tcase_create("keelson_change_set_needs_work");
	tcase_add_test(tc, test_idle_needs_nothing);
	tcase_add_test(tc, test_work_when_something_differs);
	tcase_add_test(tc, test_work_when_inventory_is_behind);
	tcase_add_test(tc, test_prune_policy);
	tcase_add_test(tc, test_blocked_needs_no_request);
	suite_add_tcase(s, tc);
	tc = tcase_create("inventory");
	tcase_add_test(tc, test_inventory_index);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_generic_apply)
