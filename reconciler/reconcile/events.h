/*
 * Kubernetes Events (core/v1 Event) about the objects keelson acts on: each
 * plugin step that ran, a rollout that became blocked or a step that
 * failed, and drift that was healed. They show in `kubectl describe` and
 * `kubectl get events` next to the controllers' own events, so whoever
 * looks at a pod sees that keelson restarted it, why and for which commit.
 *
 * Source component "keelson" (reportingComponent too), one new Event per
 * occurrence (count 1): keelson acts rarely, so aggregation is not worth a
 * read-modify-write per event. Posting is best effort: a failure is logged
 * and never changes the outcome of the cycle.
 */
#ifndef KEELSON_RECONCILE_EVENTS_H
#define KEELSON_RECONCILE_EVENTS_H

#include <stdbool.h>

struct keelson_kube_client;

struct keelson_event {
	/* The object the event is about (involvedObject); uid may be NULL. */
	const char *api_version, *kind, *namespace_, *name, *uid;
	bool warning;        /* type Warning; else Normal */
	const char *reason;  /* UpperCamelCase, e.g. RolloutStep, DriftHealed */
	const char *message; /* cut to 1024 bytes */
};

/* Create the Event in the object's namespace ("default" for a cluster-scoped
 * object). Returns 0 or the client's error (message set). */
int keelson_event_post(struct keelson_kube_client *client, const struct keelson_event *ev);

/* Event name for `object_name` at `now_ms`: "<name>.<hex ns>" as kubectl
 * and the kubelet do, the object name cut so the whole fits 253 bytes. */
void keelson_event_name(char *out, unsigned long size, const char *object_name, long long now_ns);

#endif
