/* When a system's change set needs a Kubernetes request at all: the rule
 * that keeps an idle cycle at zero requests without skipping real work. */
#include "config.h"

#include "core/error.h"
#include "diff/diff.h"
#include "reconcile/generic_apply.h"
#include "reconcile/inventory.h"
#include "tests/unit/check_main.h"

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
	return s;
}

KEELSON_CHECK_MAIN(suite_generic_apply)
