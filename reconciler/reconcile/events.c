/*
 * Kubernetes Events. See events.h.
 */
#include "config.h"

#include "core/error.h"
#include "kube/kube_client.h"
#include "reconcile/events.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EVENT_MESSAGE_MAX 1024

void keelson_event_name(char *out, unsigned long size, const char *object_name, long long now_ns)
{
	/* An object name is at most 253 bytes; the suffix is "." + 16 hex. */
	snprintf(out, size, "%.*s.%016llx", 236, object_name, (unsigned long long)now_ns);
}

static void rfc3339_now(char out[32])
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int keelson_event_post(struct keelson_kube_client *client, const struct keelson_event *ev)
{
	/* Distinct names for events posted within one clock tick. */
	static atomic_ullong sequence;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec + (long long)atomic_fetch_add(&sequence, 1);
	const char *ns_name = ev->namespace_ && ev->namespace_[0] ? ev->namespace_ : "default";
	char name[300], when[32], host[256] = "keelson", message[EVENT_MESSAGE_MAX + 1];
	keelson_event_name(name, sizeof(name), ev->name, ns);
	rfc3339_now(when);
	gethostname(host, sizeof(host) - 1);
	snprintf(message, sizeof(message), "%s", ev->message ? ev->message : "");

	cJSON *obj = cJSON_CreateObject(), *meta = NULL, *involved = NULL, *source = NULL;
	int rc = 0;
	if (obj == NULL || (meta = cJSON_AddObjectToObject(obj, "metadata")) == NULL ||
	    (involved = cJSON_AddObjectToObject(obj, "involvedObject")) == NULL ||
	    (source = cJSON_AddObjectToObject(obj, "source")) == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	bool ok = cJSON_AddStringToObject(obj, "apiVersion", "v1") && cJSON_AddStringToObject(obj, "kind", "Event") &&
		  cJSON_AddStringToObject(meta, "name", name) && cJSON_AddStringToObject(meta, "namespace", ns_name) &&
		  cJSON_AddStringToObject(involved, "apiVersion", ev->api_version) &&
		  cJSON_AddStringToObject(involved, "kind", ev->kind) &&
		  cJSON_AddStringToObject(involved, "name", ev->name) &&
		  (ev->namespace_ == NULL || ev->namespace_[0] == '\0' ||
		   cJSON_AddStringToObject(involved, "namespace", ev->namespace_)) &&
		  (ev->uid == NULL || ev->uid[0] == '\0' || cJSON_AddStringToObject(involved, "uid", ev->uid)) &&
		  cJSON_AddStringToObject(obj, "reason", ev->reason) && cJSON_AddStringToObject(obj, "message", message) &&
		  cJSON_AddStringToObject(obj, "type", ev->warning ? "Warning" : "Normal") &&
		  cJSON_AddStringToObject(source, "component", "keelson") &&
		  cJSON_AddStringToObject(obj, "reportingComponent", "keelson") &&
		  cJSON_AddStringToObject(obj, "reportingInstance", host) &&
		  cJSON_AddStringToObject(obj, "firstTimestamp", when) &&
		  cJSON_AddStringToObject(obj, "lastTimestamp", when) && cJSON_AddNumberToObject(obj, "count", 1);
	if (!ok) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	cJSON *created = NULL;
	rc = keelson_kube_create(&created, client, obj, NULL);
	cJSON_Delete(created);
	if (rc < 0)
		keelson_error_wrap(rc, "creating Event %s/%s about %s %s", ns_name, name, ev->kind, ev->name);
cleanup:
	cJSON_Delete(obj);
	return rc;
}
