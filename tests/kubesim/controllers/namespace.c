/*
 * Namespace termination (M13): a namespace with a deletionTimestamp has
 * every namespaced object in it deleted (pods with their grace periods, so
 * the kubelet finishes them); once nothing is left, the "kubernetes"
 * finalizer is removed from spec.finalizers and the store drops the
 * namespace. Terminating namespaces are re-swept on the tick until empty.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/ctl_internal.h"
#include "tests/kubesim/controllers/ctl_util.h"

struct nsctl {
	const struct ks_resource_type *namespaces;
	struct ks_ctl_map *terminating; /* namespace name -> mark */
};

static const char *const ns_resources[] = {"/namespaces", NULL};

static void ns_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct nsctl *c = payload;
	const char *name = ks_meta_string(ev->object, "name");
	if (!name)
		return;
	if (ev->type == KS_EVENT_DELETED)
		ks_ctl_map_remove(c->terminating, name);
	else if (ks_ctl_terminating(ev->object))
		ks_ctl_map_put(c->terminating, name, (void *)1);
}

struct sweep {
	struct ks_store *store;
	const char *ns;
	size_t remaining;
	char content[1024];    /* "pods has 2 resource instances, ..." */
	struct ks_ctl_map *finalizers; /* finalizer -> count (as a pointer) */
};

static void append(char *buf, size_t size, const char *text)
{
	size_t n = strlen(buf);
	if (n + 1 < size)
		snprintf(buf + n, size - n, "%s%s", n ? ", " : "", text);
}

static int sweep_type(const struct ks_resource_type *type, void *payload)
{
	struct sweep *s = payload;
	if (!type->namespaced)
		return 0;
	cJSON *items = ks_ctl_list(s->store, type, s->ns, NULL, NULL);
	int n = cJSON_GetArraySize(items);
	if (n > 0) {
		/* The real controller's wording (GroupResource, then count). */
		char q[160], text[256];
		ks_resource_type_qualified(type, q, sizeof(q));
		snprintf(text, sizeof(text), "%s has %d resource instances", q, n);
		append(s->content, sizeof(s->content), text);
		s->remaining += (size_t)n;
	}
	const cJSON *obj, *f;
	cJSON_ArrayForEach(obj, items) {
		cJSON_ArrayForEach(f, ks_ctl_at(obj, "metadata", "finalizers", NULL)) {
			if (!cJSON_IsString(f) || !s->finalizers)
				continue;
			uintptr_t count = (uintptr_t)ks_ctl_map_get(s->finalizers, f->valuestring);
			ks_ctl_map_put(s->finalizers, f->valuestring, (void *)(count + 1));
		}
		if (!ks_ctl_terminating(obj))
			ks_ctl_delete(s->store, type, s->ns, ks_meta_string(obj, "name"),
				ks_meta_string(obj, "uid"), KS_PROPAGATION_BACKGROUND, -1);
	}
	cJSON_Delete(items);
	return 0;
}

static int drop_kubernetes_finalizer(cJSON *ns, void *payload)
{
	(void)payload;
	cJSON *fins = (cJSON *)ks_ctl_at(ns, "spec", "finalizers", NULL);
	for (int i = cJSON_GetArraySize(fins) - 1; i >= 0; i--) {
		const char *f = ks_ctl_str(cJSON_GetArrayItem(fins, i));
		if (f && !strcmp(f, "kubernetes"))
			cJSON_DeleteItemFromArray(fins, i);
	}
	return 0;
}

static void set_content_conditions(struct ks_store *store, struct nsctl *c, const cJSON *ns,
	const struct sweep *s)
{
	cJSON *status = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(ns, "status"), 1);
	if (!status)
		status = cJSON_CreateObject();
	double now = ks_clock_now();
	char msg[1200];
	snprintf(msg, sizeof(msg), "Some resources are remaining: %s", s->content);
	ks_ctl_set_condition(status, "NamespaceContentRemaining", "True", "SomeResourcesRemain",
		msg, now, false, false);
	char fins[1024] = "";
	size_t n = 0;
	char **keys = s->finalizers ? ks_ctl_map_keys(s->finalizers, &n) : NULL;
	for (size_t i = 0; i < n; i++) {
		char text[300];
		snprintf(text, sizeof(text), "%.200s in %lu resource instances", keys[i],
			(unsigned long)(uintptr_t)ks_ctl_map_get(s->finalizers, keys[i]));
		append(fins, sizeof(fins), text);
	}
	ks_ctl_keys_free(keys, n);
	if (fins[0]) {
		snprintf(msg, sizeof(msg), "Some content in the namespace has finalizers remaining: %s",
			fins);
		ks_ctl_set_condition(status, "NamespaceFinalizersRemaining", "True",
			"SomeFinalizersRemain", msg, now, false, false);
	} else {
		ks_ctl_set_condition(status, "NamespaceFinalizersRemaining", "False",
			"ContentHasNoFinalizers", "All content-preserving finalizers finished", now,
			false, false);
	}
	ks_ctl_put_status(store, c->namespaces, NULL, ks_meta_string(ns, "name"),
		ks_meta_string(ns, "uid"), status);
	cJSON_Delete(status);
}

static void finish(struct ks_store *store, struct nsctl *c, const char *name)
{
	cJSON *ns = NULL;
	if (ks_store_get(store, c->namespaces, NULL, name, &ns)) {
		ks_ctl_map_remove(c->terminating, name);
		return;
	}
	if (!ks_ctl_terminating(ns)) {
		ks_ctl_map_remove(c->terminating, name);
		cJSON_Delete(ns);
		return;
	}
	struct sweep s = {.store = store, .ns = name, .finalizers = ks_ctl_map_new(NULL)};
	ks_store_type_foreach(store, sweep_type, &s);
	if (s.remaining > 0)
		set_content_conditions(store, c, ns, &s);
	ks_ctl_map_free(s.finalizers);
	if (s.remaining > 0) {
		cJSON_Delete(ns);
		return;
	}
	struct ks_write_options o = {
		.version = KS_WRITE_OPTIONS_VERSION,
		.field_manager = "namespace-controller",
	};
	/* Without finalizers left the store removes the namespace. */
	ks_store_modify(store, c->namespaces, NULL, name, drop_kubernetes_finalizer, NULL, &o, NULL);
	cJSON_Delete(ns);
}

static void ns_tick(struct ks_store *store, void *payload)
{
	struct nsctl *c = payload;
	if (ks_ctl_map_count(c->terminating) == 0)
		return;
	size_t n;
	char **names = ks_ctl_map_keys(c->terminating, &n);
	for (size_t i = 0; i < n; i++)
		finish(store, c, names[i]);
	ks_ctl_keys_free(names, n);
	ks_ctl_release_status();
}

static void ns_stop(void *payload)
{
	struct nsctl *c = payload;
	ks_ctl_map_free(c->terminating);
	free(c);
}

int ks_ctl_namespace_start(struct ks_store *store, struct ks_controller **out)
{
	struct nsctl *c = calloc(1, sizeof(*c));
	if (!c)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the namespace controller");
	c->namespaces = ks_store_type_find(store, "", "namespaces");
	c->terminating = ks_ctl_map_new(NULL);
	if (!c->namespaces || !c->terminating) {
		ns_stop(c);
		return keelson_error_set(KEELSON_ENOMEM, "cannot start the namespace controller");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "namespace",
		.resources = ns_resources,
		.on_event = ns_event,
		.tick_ms = 50,
		.on_tick = ns_tick,
		.on_stop = ns_stop,
	};
	int rc = ks_controller_start(store, &def, c, out);
	if (rc)
		ns_stop(c);
	return rc;
}
