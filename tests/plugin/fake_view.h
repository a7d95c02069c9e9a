/* A fake environment for planning tests: pods and objects in memory, a
 * clock the test moves, and a switch that makes every live read fail. */
#ifndef KEELSON_TESTS_PLUGIN_FAKE_VIEW_H
#define KEELSON_TESTS_PLUGIN_FAKE_VIEW_H

#include "core/error.h"
#include "plugin/plugin_host.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

struct fake {
	struct keelson_plugin_env env;
	cJSON *pods;        /* array */
	long long now;
	int fail_reads;
	unsigned list_calls;
};

static inline int fake_live_get(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
			 const char *name)
{
	struct fake *f = payload;
	(void)api_version;
	*out = NULL;
	if (f->fail_reads)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "fake: the API server is unreachable");
	const cJSON *pod;
	cJSON_ArrayForEach(pod, f->pods) {
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
		if (strcmp(kind, "Pod") == 0 &&
		    strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name")), name) == 0 &&
		    strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace")), ns) == 0) {
			*out = cJSON_Duplicate(pod, 1);
			return 0;
		}
	}
	return keelson_error_set(KEELSON_ENOTFOUND, "fake: %s %s/%s not found", kind, ns, name);
}

static inline int fake_live_list(cJSON **out, void *payload, const char *api_version, const char *kind, const char *ns,
			  const char *selector)
{
	struct fake *f = payload;
	(void)api_version;
	f->list_calls++;
	*out = NULL;
	if (f->fail_reads)
		return keelson_error_set(KEELSON_EUNAVAILABLE, "fake: the API server is unreachable");
	cJSON *list = cJSON_CreateArray();
	const cJSON *pod;
	cJSON_ArrayForEach(pod, f->pods) {
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
		if (strcmp(kind, "Pod") != 0 ||
		    strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace")), ns) != 0)
			continue;
		if (keelson_label_selector_match(selector, cJSON_GetObjectItemCaseSensitive(md, "labels")) == 1)
			cJSON_AddItemToArray(list, cJSON_Duplicate(pod, 1));
	}
	*out = list;
	return 0;
}

static inline long long fake_now(void *payload)
{
	return ((struct fake *)payload)->now;
}

static inline void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->pods = cJSON_CreateArray();
	f->now = 1700000000000LL;
	f->env = (struct keelson_plugin_env){.version = KEELSON_PLUGIN_ENV_VERSION, .payload = f,
					     .live_get = fake_live_get, .live_list = fake_live_list,
					     .now_ms = fake_now};
}

static inline void fake_dispose(struct fake *f)
{
	cJSON_Delete(f->pods);
}

/* Pod NAME of StatefulSet web in namespace web. */
static inline cJSON *fake_pod(struct fake *f, const char *name, const char *uid, const char *hash, int ready)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"web\","
		 "\"uid\":\"%s\",\"labels\":{\"app\":\"web\",\"controller-revision-hash\":\"%s\"}},"
		 "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		 name, uid, hash, ready ? "True" : "False");
	cJSON *pod = cJSON_Parse(text);
	cJSON_AddItemToArray(f->pods, pod);
	return pod;
}

static const char fake_sts_desired[] =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"web\",\"namespace\":\"web\"},"
	"\"spec\":{\"replicas\":3,\"updateStrategy\":{\"type\":\"OnDelete\"},"
	"\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
	"\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"web\","
	"\"image\":\"nginx:1.28\"}]}}}}";

static const char fake_sts_live[] =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"web\",\"namespace\":\"web\","
	"\"generation\":2},\"spec\":{\"replicas\":3},"
	"\"status\":{\"observedGeneration\":2,\"updateRevision\":\"rev2\",\"currentRevision\":\"rev1\"}}";

#endif
