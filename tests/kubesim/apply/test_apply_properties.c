/*
 * Properties of server-side apply checked over pseudo-random sequences of
 * applies and updates by several managers (fixed seed, so every run sees
 * the same cases):
 *   - applying the same configuration twice changes nothing the second time;
 *   - what the configuration says is what the object holds afterwards;
 *   - managedFields never name fields the object does not have, and no
 *     entry is left empty;
 *   - a conflict comes with a Status and never when forced.
 * Part of the test_server_side_apply program.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/apply/fieldpath.h"
#include "tests/kubesim/apply/server_side_apply.h"
#include "tests/kubesim/apply/test_support.h"

#define ITERATIONS 300
#define STEPS 6

static unsigned long long rng_state;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static const char *const field_names[] = { "name", "image", "containerPort", "protocol", "replicas",
					   "a", "b", "labels", "x", "y" };

static cJSON *random_scalar(void)
{
	char buf[8];
	switch (rnd(5)) {
	case 0:
		return cJSON_CreateNumber(rnd(3));
	case 1:
		snprintf(buf, sizeof(buf), "s%u", rnd(3));
		return cJSON_CreateString(buf);
	case 2:
		return cJSON_CreateBool(rnd(2));
	case 3:
		return cJSON_CreateNull();
	default:
		return cJSON_CreateNumber(80 + rnd(2));
	}
}

static cJSON *random_value(int depth);

static cJSON *random_object(int depth)
{
	cJSON *o = cJSON_CreateObject();
	unsigned n = rnd(4);
	for (unsigned i = 0; i < n; i++) {
		const char *k = field_names[rnd(10)];
		if (!cJSON_GetObjectItemCaseSensitive(o, k))
			cJSON_AddItemToObject(o, k, random_value(depth + 1));
	}
	return o;
}

static cJSON *random_value(int depth)
{
	if (depth > 4)
		return random_scalar();
	switch (rnd(5)) {
	case 0:
		return random_object(depth);
	case 1: {
		cJSON *a = cJSON_CreateArray();
		unsigned n = rnd(3);
		for (unsigned i = 0; i < n; i++)
			cJSON_AddItemToArray(a, rnd(2) ? random_scalar() : random_object(depth + 1));
		return a;
	}
	default:
		return random_scalar();
	}
}

static cJSON *random_container(void)
{
	cJSON *c = cJSON_CreateObject();
	char buf[8];
	snprintf(buf, sizeof(buf), "c%u", rnd(3));
	if (rnd(8))
		cJSON_AddStringToObject(c, "name", buf);
	if (rnd(2))
		cJSON_AddItemToObject(c, "image", random_scalar());
	if (rnd(2)) {
		cJSON *ports = cJSON_AddArrayToObject(c, "ports");
		unsigned n = rnd(3);
		for (unsigned i = 0; i < n; i++) {
			cJSON *p = cJSON_CreateObject();
			if (rnd(8))
				cJSON_AddNumberToObject(p, "containerPort", 80 + rnd(3));
			if (rnd(2))
				cJSON_AddStringToObject(p, "protocol", rnd(2) ? "TCP" : "UDP");
			if (rnd(2))
				cJSON_AddItemToObject(p, "name", random_scalar());
			cJSON_AddItemToArray(ports, p);
		}
	}
	return c;
}

static cJSON *random_config(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "apiVersion", "apps/v1");
	cJSON_AddStringToObject(o, "kind", "StatefulSet");
	cJSON *m = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(m, "name", "w");
	if (rnd(2)) {
		cJSON *f = cJSON_AddArrayToObject(m, "finalizers");
		unsigned n = rnd(3);
		for (unsigned i = 0; i < n; i++) {
			char buf[8];
			snprintf(buf, sizeof(buf), "f%u", rnd(3));
			cJSON_AddItemToArray(f, cJSON_CreateString(buf));
		}
	}
	if (rnd(2))
		cJSON_AddItemToObject(m, "labels", random_object(3));
	cJSON *spec = cJSON_AddObjectToObject(o, "spec");
	if (rnd(2))
		cJSON_AddItemToObject(spec, "replicas", random_scalar());
	if (rnd(2))
		cJSON_AddItemToObject(spec, "selector", random_object(3));
	if (rnd(2))
		cJSON_AddItemToObject(spec, "extra", random_value(1));
	if (rnd(3)) {
		cJSON *pod = cJSON_AddObjectToObject(cJSON_AddObjectToObject(spec, "template"), "spec");
		cJSON *containers = cJSON_AddArrayToObject(pod, "containers");
		unsigned n = rnd(3);
		for (unsigned i = 0; i < n; i++)
			cJSON_AddItemToArray(containers, random_container());
	}
	if (rnd(4) == 0)
		cJSON_AddItemToObject(o, "status", random_object(2));
	return o;
}

static const struct ks_type_scope sts_scope = { "apps", "StatefulSet", NULL };

static int node_exists(const char *const *path, size_t length, const cJSON *value, void *payload)
{
	(void)value;
	const struct ks_fieldset *node = payload;
	for (size_t i = 0; i < length && node; i++)
		node = ks_fieldset_child(node, path[i]);
	if (node == NULL) {
		char *shown = NULL;
		ck_assert_int_eq(ks_path_string(&shown, path, length), 0);
		ck_abort_msg("managedFields own %s, which the object does not have", shown);
	}
	return 0;
}

static void assert_ownership_consistent(const cJSON *object)
{
	struct ks_fieldset *all;
	ck_assert_int_eq(ks_fieldset_from_object(&all, object, &sts_scope, false), 0);
	const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
	const cJSON *entry;
	cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(metadata, "managedFields")) {
		struct ks_fieldset *set;
		ck_assert_int_eq(ks_fieldset_decode(&set, cJSON_GetObjectItemCaseSensitive(entry, "fieldsV1")), 0);
		ck_assert_msg(!ks_fieldset_empty(set), "an empty managedFields entry was kept");
		ks_fieldset_iterate(set, node_exists, all);
		ks_fieldset_free(set);
	}
	ks_fieldset_free(all);
}

/* Every value the configuration sets is in the result. Configurations
 * with nulls (dropped) or empty containers (merged into live ones) are
 * not comparable this simply and are skipped. */
static void assert_config_reflected(const cJSON *out, const cJSON *config, bool status_subresource)
{
	cJSON *c = cJSON_Duplicate(config, 1);
	cJSON *metadata = cJSON_GetObjectItemCaseSensitive(c, "metadata");
	if (status_subresource) {
		cJSON_DeleteItemFromObjectCaseSensitive(c, "spec");
		cJSON_DeleteItemFromObjectCaseSensitive(metadata, "labels");
		cJSON_DeleteItemFromObjectCaseSensitive(metadata, "finalizers");
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(c, "status");
	}
	char *text = cJSON_PrintUnformatted(c);
	bool comparable = !strstr(text, "null") && !strstr(text, "{}") && !strstr(text, "[]");
	free(text);
	if (comparable) {
		struct ks_fieldset *cs, *os, *missing, *different;
		ck_assert_int_eq(ks_fieldset_from_object(&cs, c, &sts_scope, true), 0);
		ck_assert_int_eq(ks_fieldset_from_object(&os, out, &sts_scope, false), 0);
		ck_assert_int_eq(ks_fieldset_compare(NULL, &missing, &different, cs, os), 0);
		ck_assert_msg(ks_fieldset_empty(missing) && ks_fieldset_empty(different),
			      "the applied configuration is not what the object holds");
		ks_fieldset_free(cs);
		ks_fieldset_free(os);
		ks_fieldset_free(missing);
		ks_fieldset_free(different);
	}
	cJSON_Delete(c);
}

static cJSON *random_update(const cJSON *live, const cJSON *config)
{
	static const char *const managers[] = { "m1", "m2", "m3" };
	cJSON *next = cJSON_Duplicate(live, 1);
	const char *sub = rnd(5) ? NULL : "status";
	/* A status write changes only status; the store keeps the rest. */
	const char *part = sub ? "status" : "spec";
	cJSON_DeleteItemFromObjectCaseSensitive(next, part);
	cJSON_AddItemToObject(next, part, sub ? random_object(2)
					      : cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(config, "spec"), 1));
	int rc = ks_managed_fields_record_update(next, live, managers[rnd(3)], "apps/v1", sub,
						 "2025-01-01T00:00:03Z");
	ck_assert_msg(rc == 0, "update failed: %s", keelson_error_last()->message);
	return next;
}

START_TEST(test_random_apply_sequences)
{
	static const char *const managers[] = { "m1", "m2", "m3" };
	rng_state = 88172645463325252ULL;
	int applied = 0, conflicts = 0, updates = 0;
	for (int it = 0; it < ITERATIONS; it++) {
		cJSON *live = NULL;
		for (int step = 0; step < STEPS; step++) {
			cJSON *config = random_config();
			if (live != NULL && rnd(4) == 0) {
				cJSON *next = random_update(live, config);
				assert_ownership_consistent(next);
				cJSON_Delete(live);
				live = next;
				cJSON_Delete(config);
				updates++;
				continue;
			}
			struct ks_apply_options o = {
				.manager = managers[rnd(3)],
				.force = rnd(2),
				.api_version = "apps/v1",
				.group = "apps",
				.kind = "StatefulSet",
				.now = step % 2 ? "2025-01-01T00:00:01Z" : "2025-01-01T00:00:02Z",
				.subresource = rnd(6) ? NULL : "status",
			};
			cJSON *out = NULL, *status = NULL;
			int rc = ks_server_side_apply(&out, &status, live, config, &o);
			if (rc == KEELSON_ECONFLICT || rc == KEELSON_EINVALID) {
				ck_assert_ptr_nonnull(status);
				ck_assert_ptr_null(out);
				ck_assert(!(rc == KEELSON_ECONFLICT && o.force));
				conflicts += rc == KEELSON_ECONFLICT;
				cJSON_Delete(status);
				cJSON_Delete(config);
				continue;
			}
			ck_assert_msg(rc == 0, "apply failed (%d): %s", rc, keelson_error_last()->message);
			applied++;

			cJSON *again = NULL;
			o.force = false;
			o.now = "2025-01-01T00:00:09Z";
			rc = ks_server_side_apply(&again, &status, out, config, &o);
			ck_assert_msg(rc == 0, "re-apply failed (%d): %s", rc, keelson_error_last()->message);
			ck_assert_msg(cJSON_Compare(again, out, 1), "re-applying the same configuration changed the object");
			cJSON_Delete(again);

			assert_config_reflected(out, config, o.subresource != NULL);
			assert_ownership_consistent(out);
			cJSON_Delete(live);
			live = out;
			cJSON_Delete(config);
		}
		cJSON_Delete(live);
	}
	/* The generator must keep exercising every path. */
	ck_assert_int_gt(applied, ITERATIONS);
	ck_assert_int_gt(conflicts, ITERATIONS / 10);
	ck_assert_int_gt(updates, ITERATIONS / 2);
}
END_TEST

TCase *tcase_server_side_apply_properties(void)
{
	TCase *tc = tcase_create("properties");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_random_apply_sequences);
	return tc;
}
