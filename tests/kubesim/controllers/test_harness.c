#include "config.h"

#include "tests/kubesim/controllers/test_harness.h"

#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"

struct ks_store *th_store;
struct ks_controllers *th_controllers;

void th_setup(void)
{
	ck_assert_int_eq(ks_clock_set_factor(TH_FACTOR), 0);
	ck_assert_int_eq(ks_store_new(&th_store), 0);
	int rc = ks_controllers_start(th_store, &th_controllers);
	ck_assert_msg(rc == 0, "controllers: %s", keelson_error_last()->message);
}

void th_teardown(void)
{
	ks_controllers_stop(th_controllers);
	ks_store_free(th_store);
	th_controllers = NULL;
	th_store = NULL;
}

const struct ks_resource_type *th_type(const char *group, const char *resource)
{
	const struct ks_resource_type *t = ks_store_type_find(th_store, group, resource);
	ck_assert_msg(t != NULL, "type %s/%s not served", group, resource);
	return t;
}

cJSON *th_create(const char *group, const char *resource, const char *ns, const char *json)
{
	cJSON *in = cJSON_Parse(json), *out = NULL;
	ck_assert_msg(in != NULL, "bad test JSON: %s", json);
	int rc = ks_store_create(th_store, th_type(group, resource), ns, in, NULL, &out);
	cJSON_Delete(in);
	ck_assert_msg(rc == 0, "create %s: %s", resource, keelson_error_last()->message);
	return out;
}

cJSON *th_get(const char *group, const char *resource, const char *ns, const char *name)
{
	cJSON *out = NULL;
	if (ks_store_get(th_store, th_type(group, resource), ns, name, &out))
		return NULL;
	return out;
}

bool th_exists(const char *group, const char *resource, const char *ns, const char *name)
{
	cJSON *o = th_get(group, resource, ns, name);
	cJSON_Delete(o);
	return o != NULL;
}

int th_count(const char *group, const char *resource, const char *ns)
{
	cJSON *items = ks_ctl_list(th_store, th_type(group, resource), ns, NULL, NULL);
	int n = cJSON_GetArraySize(items);
	cJSON_Delete(items);
	return n;
}

void th_patch(const char *group, const char *resource, const char *ns, const char *name,
	const char *patch, const char *subresource)
{
	cJSON *p = cJSON_Parse(patch);
	ck_assert_msg(p != NULL, "bad patch JSON: %s", patch);
	int rc = ks_ctl_patch(th_store, th_type(group, resource), ns, name, NULL, p, subresource);
	cJSON_Delete(p);
	ck_assert_msg(rc == 0, "patch %s/%s: %s", resource, name, keelson_error_last()->message);
}

static const cJSON *walk(const cJSON *obj, va_list ap)
{
	const char *k;
	while (obj && (k = va_arg(ap, const char *)))
		obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, k) : NULL;
	return obj;
}

long long th_num(const cJSON *obj, ...)
{
	va_list ap;
	va_start(ap, obj);
	const cJSON *v = walk(obj, ap);
	va_end(ap);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

const char *th_str(const cJSON *obj, ...)
{
	va_list ap;
	va_start(ap, obj);
	const cJSON *v = walk(obj, ap);
	va_end(ap);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double th_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}
