/*
 * The simulated scheduler + kubelet (M15): binds pods to KS_NODE_NAME, takes
 * them Pending -> Running -> Ready on the simulated clock, runs Job-like
 * pods to completion, and finishes graceful deletions once the grace period
 * has elapsed (M13), which is what lets StatefulSet and namespace deletion
 * make progress.
 *
 * Per-pod progress is kept in memory keyed by uid (a recreated pod with the
 * same name starts afresh); pods already present when the controller starts
 * are picked up from their status.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/controllers.h"
#include "tests/kubesim/controllers/ctl_internal.h"
#include "tests/kubesim/controllers/ctl_util.h"

enum stage {
	ST_NEW = 0,    /* not yet accepted by the kubelet */
	ST_PENDING,    /* scheduled, containers being created */
	ST_RUNNING,    /* containers started (maybe not ready) */
	ST_DONE,       /* Succeeded or Failed */
};

struct pod_state {
	char *ns;          /* point into buf */
	char *name;
	char uid[40];
	enum stage stage;
	double start_at;   /* ST_PENDING: when the containers start */
	double ready_at;   /* ST_RUNNING: when they pass readiness (0: done) */
	double end_at;     /* ST_RUNNING: when they exit (0: never) */
	double delete_at;  /* terminating: when the grace period is over */
	double started;    /* when the current containers started */
	bool terminating;
	bool delete_sent;
	bool ready;        /* Ready as last written by us */
	bool crashing;
	bool gone;         /* deleted or replaced: forget at the top level */
	int restarts;
	char ip[20];
	char buf[];
};

struct kubelet {
	const struct ks_resource_type *pods;
	struct ks_ctl_map *states; /* uid -> pod_state (owned) */
	struct ks_ctl_map *active; /* uid -> pod_state with a deadline (borrowed) */
	struct ks_ctl_map *ips;    /* ip -> (void *)1 */
	unsigned next_ip;
};

static const char *const kubelet_resources[] = {"/pods", NULL};

/* ---- per-pod parameters from annotations and spec ---- */

static long long ann_ms(const cJSON *pod, const char *key, long long dflt)
{
	const char *v = ks_ctl_annotation(pod, key);
	if (!v || !*v)
		return dflt;
	char *end;
	long long n = strtoll(v, &end, 10);
	if (*end || n < 0 || n > 1000LL * 3600 * 24 * 365)
		return dflt; /* bad values fall back to the default rather than wedge the pod */
	return n;
}

static const char *restart_policy(const cJSON *pod)
{
	const char *p = ks_ctl_str(ks_ctl_at(pod, "spec", "restartPolicy", NULL));
	return p ? p : "Always";
}

static bool pod_fails(const cJSON *pod)
{
	const char *v = ks_ctl_annotation(pod, KS_ANN_FAIL);
	return v && !strcmp(v, "true");
}

static long long ready_delay_ms(const cJSON *pod)
{
	long long dflt = 0;
	const cJSON *c = cJSON_GetArrayItem(ks_ctl_at(pod, "spec", "containers", NULL), 0);
	const cJSON *probe = ks_ctl_at(c, "readinessProbe", NULL);
	if (probe)
		dflt = ks_ctl_num(ks_ctl_at(probe, "initialDelaySeconds", NULL), 0) * 1000;
	return ann_ms(pod, KS_ANN_READY_DELAY, dflt);
}

static long long run_ms(const cJSON *pod)
{
	if (!strcmp(restart_policy(pod), "Always"))
		return 0;
	return ann_ms(pod, KS_ANN_RUN_MS, 0);
}

static int exit_code(const cJSON *pod, int dflt)
{
	const char *v = ks_ctl_annotation(pod, KS_ANN_EXIT_CODE);
	if (!v)
		return dflt;
	char *end;
	long n = strtol(v, &end, 10);
	if (*end || n < 0 || n > 255)
		return dflt;
	return (int)n;
}

static bool ready_forced_off(const cJSON *pod)
{
	const char *v = ks_ctl_annotation(pod, KS_ANN_READY);
	return v && !strcmp(v, "false");
}

/* ---- status pieces ---- */

static void fake_digest(const char *text, char out[65])
{
	uint32_t h = 2166136261u;
	for (int part = 0; part < 8; part++) {
		for (const char *p = text; *p; p++) {
			h ^= (unsigned char)*p;
			h *= 16777619u;
		}
		h ^= (uint32_t)part;
		h *= 16777619u;
		snprintf(out + part * 8, 9, "%08x", h);
	}
}

static void random_hex64(char out[65])
{
	char u[40];
	size_t n = 0;
	while (n < 64) {
		ks_uuid(u);
		for (const char *p = u; *p && n < 64; p++)
			if (*p != '-')
				out[n++] = *p;
	}
	out[64] = '\0';
}

static const char *qos_class(const cJSON *pod)
{
	bool best_effort = true, guaranteed = true;
	const char *lists[] = {"containers", "initContainers"};
	const char *res[] = {"cpu", "memory"};
	for (int l = 0; l < 2; l++) {
		const cJSON *c;
		cJSON_ArrayForEach(c, ks_ctl_at(pod, "spec", lists[l], NULL)) {
			const cJSON *req = ks_ctl_at(c, "resources", "requests", NULL);
			const cJSON *lim = ks_ctl_at(c, "resources", "limits", NULL);
			for (int r = 0; r < 2; r++) {
				const cJSON *rq = cJSON_GetObjectItemCaseSensitive(req, res[r]);
				const cJSON *lm = cJSON_GetObjectItemCaseSensitive(lim, res[r]);
				if (rq || lm)
					best_effort = false;
				if (!lm)
					guaranteed = false;
				else if (rq) {
					char *a = cJSON_PrintUnformatted(rq), *b = cJSON_PrintUnformatted(lm);
					if (!a || !b || strcmp(a, b))
						guaranteed = false;
					free(a);
					free(b);
				}
			}
		}
	}
	if (best_effort)
		return "BestEffort";
	return guaranteed ? "Guaranteed" : "Burstable";
}

enum cstate { CS_WAITING, CS_RUNNING, CS_TERMINATED, CS_CRASHLOOP };

/* containerStatuses for every container of the pod. */
static cJSON *container_statuses(const cJSON *pod, const struct pod_state *st,
	enum cstate cs, bool ready, int code, double now)
{
	char ts_start[KS_TIME_BUF], ts_now[KS_TIME_BUF];
	ks_clock_format(st->started, ts_start);
	ks_clock_format(now, ts_now);
	cJSON *arr = cJSON_CreateArray();
	const cJSON *c;
	const cJSON *old = ks_ctl_at(pod, "status", "containerStatuses", NULL);
	int i = 0;
	cJSON_ArrayForEach(c, ks_ctl_at(pod, "spec", "containers", NULL)) {
		const char *name = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "name"));
		const char *image = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "image"));
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "name", name ? name : "");
		cJSON_AddStringToObject(s, "image", image ? image : "");
		char digest[65], idbuf[160];
		const char *cid = ks_ctl_str(ks_ctl_at(cJSON_GetArrayItem(old, i), "containerID", NULL));
		char rnd[65];
		if (cs != CS_WAITING) {
			fake_digest(image ? image : "", digest);
			snprintf(idbuf, sizeof(idbuf), "docker.io/library/%.60s@sha256:%s",
				image ? image : "", digest);
			cJSON_AddStringToObject(s, "imageID", idbuf);
			if (!cid || cs == CS_CRASHLOOP) {
				random_hex64(rnd);
				snprintf(idbuf, sizeof(idbuf), "containerd://%s", rnd);
				cid = idbuf;
			}
			cJSON_AddStringToObject(s, "containerID", cid);
		} else {
			cJSON_AddStringToObject(s, "imageID", "");
		}
		cJSON_AddBoolToObject(s, "ready", ready);
		cJSON_AddBoolToObject(s, "started", cs == CS_RUNNING);
		cJSON_AddNumberToObject(s, "restartCount", st->restarts);
		cJSON *state = cJSON_AddObjectToObject(s, "state");
		cJSON *last = cJSON_AddObjectToObject(s, "lastState");
		if (cs == CS_WAITING) {
			cJSON_AddStringToObject(cJSON_AddObjectToObject(state, "waiting"), "reason",
				"ContainerCreating");
		} else if (cs == CS_RUNNING) {
			cJSON_AddStringToObject(cJSON_AddObjectToObject(state, "running"), "startedAt",
				ts_start);
			if (st->restarts > 0) {
				cJSON *t = cJSON_AddObjectToObject(last, "terminated");
				cJSON_AddNumberToObject(t, "exitCode", code);
				cJSON_AddStringToObject(t, "reason", "Error");
				cJSON_AddStringToObject(t, "startedAt", ts_start);
				cJSON_AddStringToObject(t, "finishedAt", ts_start);
			}
		} else if (cs == CS_TERMINATED) {
			cJSON *t = cJSON_AddObjectToObject(state, "terminated");
			cJSON_AddNumberToObject(t, "exitCode", code);
			cJSON_AddStringToObject(t, "reason", code == 0 ? "Completed" : "Error");
			cJSON_AddStringToObject(t, "startedAt", ts_start);
			cJSON_AddStringToObject(t, "finishedAt", ts_now);
			cJSON_AddStringToObject(t, "containerID", cid);
		} else {
			cJSON *w = cJSON_AddObjectToObject(state, "waiting");
			char msg[800];
			snprintf(msg, sizeof(msg),
				"back-off 10s restarting failed container=%.100s pod=%.250s_%.250s(%s)",
				name ? name : "", st->name, st->ns, st->uid);
			cJSON_AddStringToObject(w, "reason", "CrashLoopBackOff");
			cJSON_AddStringToObject(w, "message", msg);
			cJSON *t = cJSON_AddObjectToObject(last, "terminated");
			cJSON_AddNumberToObject(t, "exitCode", code);
			cJSON_AddStringToObject(t, "reason", "Error");
			cJSON_AddStringToObject(t, "startedAt", ts_start);
			cJSON_AddStringToObject(t, "finishedAt", ts_now);
			cJSON_AddStringToObject(t, "containerID", cid);
		}
		cJSON_AddItemToArray(arr, s);
		i++;
	}
	return arr;
}

static void unready_message(const cJSON *pod, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "containers with unready status: [");
	const cJSON *c;
	bool first = true;
	cJSON_ArrayForEach(c, ks_ctl_at(pod, "spec", "containers", NULL)) {
		const char *name = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "name"));
		if (n < size)
			n += (size_t)snprintf(buf + n, size - n, "%s%s", first ? "" : " ",
				name ? name : "");
		first = false;
	}
	if (n < size)
		snprintf(buf + n, size - n, "]");
}

/* The pod's status for the state `st` is in; existing conditions keep their
 * lastTransitionTime when unchanged. */
static cJSON *build_status(const cJSON *pod, struct pod_state *st, enum cstate cs,
	bool ready, const char *phase, int code, double now)
{
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(pod, "status");
	cJSON *status = cJSON_IsObject(old) ? cJSON_Duplicate(old, 1) : cJSON_CreateObject();
	char ts[KS_TIME_BUF], msg[512];
	ks_clock_format(now, ts);
	bool finished = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
	bool sandbox = cs != CS_WAITING && !finished;
	const char *unready_reason = finished ? "PodCompleted" : "ContainersNotReady";
	unready_message(pod, msg, sizeof(msg));

	ks_ctl_set_str(status, "phase", phase);
	ks_ctl_set_condition(status, "PodReadyToStartContainers", sandbox ? "True" : "False",
		NULL, NULL, now, true, false);
	ks_ctl_set_condition(status, "Initialized", "True", finished ? "PodCompleted" : NULL,
		NULL, now, true, false);
	ks_ctl_set_condition(status, "Ready", ready ? "True" : "False",
		ready ? NULL : unready_reason, ready || finished ? NULL : msg, now, true, false);
	ks_ctl_set_condition(status, "ContainersReady", ready ? "True" : "False",
		ready ? NULL : unready_reason, ready || finished ? NULL : msg, now, true, false);
	ks_ctl_set_condition(status, "PodScheduled", "True", NULL, NULL, now, true, false);
	ks_ctl_set_str(status, "hostIP", KS_NODE_IP);
	cJSON *hips = cJSON_CreateArray();
	cJSON *hip = cJSON_CreateObject();
	cJSON_AddStringToObject(hip, "ip", KS_NODE_IP);
	cJSON_AddItemToArray(hips, hip);
	ks_ctl_set(status, "hostIPs", hips);
	if (st->ip[0]) {
		ks_ctl_set_str(status, "podIP", st->ip);
		cJSON *ips = cJSON_CreateArray();
		cJSON *ip = cJSON_CreateObject();
		cJSON_AddStringToObject(ip, "ip", st->ip);
		cJSON_AddItemToArray(ips, ip);
		ks_ctl_set(status, "podIPs", ips);
	}
	if (!cJSON_GetObjectItemCaseSensitive(status, "startTime"))
		ks_ctl_set_str(status, "startTime", ts);
	ks_ctl_set_str(status, "qosClass", qos_class(pod));
	ks_ctl_set(status, "containerStatuses", container_statuses(pod, st, cs, ready, code, now));
	const cJSON *inits = ks_ctl_at(pod, "spec", "initContainers", NULL);
	if (cJSON_GetArraySize(inits) > 0) {
		cJSON *arr = cJSON_CreateArray();
		const cJSON *c;
		cJSON_ArrayForEach(c, inits) {
			cJSON *s = cJSON_CreateObject();
			const char *name = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "name"));
			const char *image = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(c, "image"));
			cJSON_AddStringToObject(s, "name", name ? name : "");
			cJSON_AddStringToObject(s, "image", image ? image : "");
			cJSON_AddStringToObject(s, "imageID", "");
			cJSON_AddBoolToObject(s, "ready", true);
			cJSON_AddBoolToObject(s, "started", false);
			cJSON_AddNumberToObject(s, "restartCount", 0);
			cJSON *t = cJSON_AddObjectToObject(cJSON_AddObjectToObject(s, "state"), "terminated");
			cJSON_AddNumberToObject(t, "exitCode", 0);
			cJSON_AddStringToObject(t, "reason", "Completed");
			cJSON_AddStringToObject(t, "startedAt", ts);
			cJSON_AddStringToObject(t, "finishedAt", ts);
			cJSON_AddItemToArray(arr, s);
		}
		ks_ctl_set(status, "initContainerStatuses", arr);
	}
	return status;
}

/* ---- state ---- */

static void allocate_ip(struct kubelet *k, struct pod_state *st)
{
	if (st->ip[0])
		return;
	/* 10.244.0.0/14: room for every pod of the 100k-object benchmark. */
	for (unsigned tries = 0; tries < (1u << 18); tries++) {
		unsigned n = k->next_ip++ % (1u << 18);
		if ((n & 255) == 0 || (n & 255) == 255)
			continue;
		char ip[20];
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", 244 + (n >> 16), (n >> 8) & 255, n & 255);
		if (!ks_ctl_map_get(k->ips, ip) && ks_ctl_map_put(k->ips, ip, (void *)1) == 0) {
			snprintf(st->ip, sizeof(st->ip), "%s", ip);
			return;
		}
	}
}

static void state_free(void *p)
{
	free(p);
}

static void forget(struct kubelet *k, const char *uid)
{
	struct pod_state *st = ks_ctl_map_get(k->states, uid);
	if (!st)
		return;
	if (st->ip[0])
		ks_ctl_map_remove(k->ips, st->ip);
	ks_ctl_map_remove(k->active, uid);
	ks_ctl_map_remove(k->states, uid);
}

static int write_status(struct kubelet *k, struct ks_store *store, const cJSON *pod,
	struct pod_state *st, enum cstate cs, bool ready, const char *phase, int code,
	double now)
{
	cJSON *status = build_status(pod, st, cs, ready, phase, code, now);
	int rc = ks_ctl_put_status(store, k->pods, st->ns, st->name, st->uid, status);
	cJSON_Delete(status);
	if (rc == KEELSON_ENOTFOUND || rc == KEELSON_ECONFLICT)
		st->gone = true;
	else if (rc == 0)
		st->ready = ready;
	return rc;
}

static void set_active(struct kubelet *k, struct pod_state *st)
{
	ks_ctl_map_put(k->active, st->uid, st);
}

/* Pod first seen: continue from whatever its status says. */
static struct pod_state *state_new(struct kubelet *k, const cJSON *pod, double now)
{
	const char *ns = ks_meta_string(pod, "namespace");
	const char *name = ks_meta_string(pod, "name");
	ns = ns ? ns : "";
	name = name ? name : "";
	size_t nl = strlen(ns) + 1, ml = strlen(name) + 1;
	struct pod_state *st = calloc(1, sizeof(*st) + nl + ml);
	if (!st)
		return NULL;
	st->ns = st->buf;
	st->name = st->buf + nl;
	memcpy(st->ns, ns, nl);
	memcpy(st->name, name, ml);
	snprintf(st->uid, sizeof(st->uid), "%s", ks_meta_string(pod, "uid"));
	const char *phase = ks_ctl_pod_phase(pod);
	const char *ip = ks_ctl_str(ks_ctl_at(pod, "status", "podIP", NULL));
	if (ip && strlen(ip) < sizeof(st->ip) && !ks_ctl_map_get(k->ips, ip) &&
	    ks_ctl_map_put(k->ips, ip, (void *)1) == 0)
		snprintf(st->ip, sizeof(st->ip), "%s", ip);
	const cJSON *cs = cJSON_GetArrayItem(ks_ctl_at(pod, "status", "containerStatuses", NULL), 0);
	st->restarts = (int)ks_ctl_num(ks_ctl_at(cs, "restartCount", NULL), 0);
	st->started = now;
	if (!strcmp(phase, "Running")) {
		st->stage = ST_RUNNING;
		st->ready = ks_ctl_pod_ready(pod);
		st->crashing = ks_ctl_at(cs, "state", "waiting", NULL) != NULL;
		if (!st->ready && !st->crashing)
			st->ready_at = now + (double)ready_delay_ms(pod) / 1000.0;
		long long run = run_ms(pod);
		if (run > 0 && !st->crashing)
			st->end_at = now + (double)run / 1000.0;
	} else if (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) {
		st->stage = ST_DONE;
	} else if (ks_ctl_condition(cJSON_GetObjectItemCaseSensitive(pod, "status"),
			"PodScheduled")) {
		st->stage = ST_PENDING;
		st->start_at = now + (double)ann_ms(pod, KS_ANN_START_DELAY, 100) / 1000.0;
	} else {
		st->stage = ST_NEW;
	}
	if (ks_ctl_map_put(k->states, st->uid, st)) {
		free(st);
		return NULL;
	}
	if (st->stage == ST_PENDING || st->ready_at > 0 || st->end_at > 0)
		set_active(k, st);
	return st;
}

/* ---- transitions ---- */

static void go_running(struct kubelet *k, struct ks_store *store, const cJSON *pod,
	struct pod_state *st, double now)
{
	const char *policy = restart_policy(pod);
	st->started = now;
	allocate_ip(k, st);
	if (pod_fails(pod)) {
		int code = exit_code(pod, 1);
		if (!strcmp(policy, "Never")) {
			st->stage = ST_DONE;
			write_status(k, store, pod, st, CS_TERMINATED, false, "Failed", code, now);
		} else {
			st->stage = ST_RUNNING;
			st->crashing = true;
			st->restarts++;
			write_status(k, store, pod, st, CS_CRASHLOOP, false, "Running", code, now);
		}
		return;
	}
	st->stage = ST_RUNNING;
	long long rd = ready_delay_ms(pod);
	st->ready_at = rd > 0 ? now + (double)rd / 1000.0 : 0;
	long long run = run_ms(pod);
	st->end_at = run > 0 ? now + (double)run / 1000.0 : 0;
	bool ready = rd == 0 && !ready_forced_off(pod);
	write_status(k, store, pod, st, CS_RUNNING, ready, "Running", 0, now);
}

static void go_finished(struct kubelet *k, struct ks_store *store, const cJSON *pod,
	struct pod_state *st, double now)
{
	int code = exit_code(pod, 0);
	st->end_at = 0;
	st->ready_at = 0;
	if (code != 0 && !strcmp(restart_policy(pod), "OnFailure")) {
		/* The container restarts in place and runs again. */
		st->restarts++;
		st->started = now;
		long long run = run_ms(pod);
		st->end_at = run > 0 ? now + (double)run / 1000.0 : 0;
		write_status(k, store, pod, st, CS_RUNNING, false, "Running", code, now);
		return;
	}
	st->stage = ST_DONE;
	write_status(k, store, pod, st, CS_TERMINATED, false, code == 0 ? "Succeeded" : "Failed",
		code, now);
}

/* Advance one pod as far as the clock allows; returns true while it still
 * has a deadline ahead. `pod` is the latest state. */
static bool advance(struct kubelet *k, struct ks_store *store, const cJSON *pod,
	struct pod_state *st, double now)
{
	if (st->terminating) {
		if (!st->delete_sent && now >= st->delete_at) {
			st->delete_sent = true;
			int rc = ks_ctl_delete(store, k->pods, st->ns, st->name, st->uid,
				KS_PROPAGATION_DEFAULT, 0);
			if (rc == KEELSON_ENOTFOUND || rc == KEELSON_ECONFLICT) {
				st->gone = true;
				return false;
			}
		}
		return !st->delete_sent;
	}
	if (st->stage == ST_PENDING) {
		if (now < st->start_at)
			return true;
		go_running(k, store, pod, st, now);
		if (st->gone)
			return false;
	}
	if (st->stage == ST_RUNNING && !st->crashing) {
		if (st->end_at > 0 && now >= st->end_at) {
			go_finished(k, store, pod, st, now);
			return !st->gone && st->end_at > 0;
		}
		bool want = (st->ready_at == 0 || now >= st->ready_at) && !ready_forced_off(pod);
		if (st->ready_at > 0 && now >= st->ready_at)
			st->ready_at = 0;
		if (want != st->ready)
			write_status(k, store, pod, st, CS_RUNNING, want, "Running", 0, now);
		if (st->gone)
			return false;
		return st->ready_at > 0 || st->end_at > 0;
	}
	return false;
}

static void accept_pod(struct kubelet *k, struct ks_store *store, const cJSON *pod,
	struct pod_state *st, double now)
{
	const char *node = ks_ctl_str(ks_ctl_at(pod, "spec", "nodeName", NULL));
	cJSON *fresh = NULL;
	if (!node || !*node) {
		/* The scheduler's binding. */
		cJSON *patch = cJSON_CreateObject();
		cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "spec"), "nodeName",
			KS_NODE_NAME);
		int rc = ks_ctl_patch(store, k->pods, st->ns, st->name, st->uid, patch, NULL);
		cJSON_Delete(patch);
		if (rc) {
			if (rc == KEELSON_ENOTFOUND || rc == KEELSON_ECONFLICT)
				st->gone = true;
			return;
		}
		if (ks_store_get(store, k->pods, st->ns, st->name, &fresh))
			return;
		pod = fresh;
	}
	st->stage = ST_PENDING;
	st->start_at = now + (double)ann_ms(pod, KS_ANN_START_DELAY, 100) / 1000.0;
	if (write_status(k, store, pod, st, CS_WAITING, false, "Pending", 0, now) == 0) {
		if (advance(k, store, pod, st, now))
			set_active(k, st);
	}
	cJSON_Delete(fresh);
}

static void kubelet_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	struct kubelet *k = payload;
	const char *uid = ks_meta_string(ev->object, "uid");
	if (!uid)
		return;
	if (ev->type == KS_EVENT_DELETED) {
		forget(k, uid);
		return;
	}
	double now = ks_clock_now();
	struct pod_state *st = ks_ctl_map_get(k->states, uid);
	if (!st && !(st = state_new(k, ev->object, now)))
		return;
	if (ks_ctl_terminating(ev->object)) {
		if (st->delete_sent)
			return;
		const cJSON *fin = ks_ctl_at(ev->object, "metadata", "finalizers", NULL);
		long long grace = ks_ctl_num(ks_ctl_at(ev->object, "metadata",
			"deletionGracePeriodSeconds", NULL), 0);
		if (cJSON_GetArraySize(fin) > 0 && grace == 0) {
			/* Only finalizers hold it; deleting again would change nothing. */
			st->terminating = true;
			st->delete_sent = true;
			ks_ctl_map_remove(k->active, uid);
			return;
		}
		double at = now;
		const char *dts = ks_meta_string(ev->object, "deletionTimestamp");
		if (!dts || ks_clock_parse(dts, &at))
			at = now;
		long long stop = ann_ms(ev->object, KS_ANN_STOP_DELAY, -1);
		if (stop >= 0 && now + (double)stop / 1000.0 < at)
			at = now + (double)stop / 1000.0; /* the containers exited early */
		/* A second delete may shorten the grace period, never extend it. */
		if (!st->terminating || at < st->delete_at)
			st->delete_at = at;
		st->terminating = true;
		if (advance(k, store, ev->object, st, now))
			set_active(k, st);
		else
			ks_ctl_map_remove(k->active, uid);
	} else if (st->stage == ST_NEW) {
		accept_pod(k, store, ev->object, st, now);
	} else if (advance(k, store, ev->object, st, now)) {
		set_active(k, st);
	} else {
		ks_ctl_map_remove(k->active, uid);
	}
	if (st->gone)
		forget(k, uid);
	ks_ctl_release_status();
}

static void kubelet_tick(struct ks_store *store, void *payload)
{
	struct kubelet *k = payload;
	if (ks_ctl_map_count(k->active) == 0)
		return;
	double now = ks_clock_now();
	size_t n;
	char **uids = ks_ctl_map_keys(k->active, &n);
	for (size_t i = 0; i < n; i++) {
		struct pod_state *st = ks_ctl_map_get(k->active, uids[i]);
		if (!st)
			continue;
		bool due = (st->terminating && !st->delete_sent && now >= st->delete_at) ||
			(!st->terminating && ((st->stage == ST_PENDING && now >= st->start_at) ||
			(st->ready_at > 0 && now >= st->ready_at) ||
			(st->end_at > 0 && now >= st->end_at)));
		if (!due)
			continue;
		cJSON *pod = NULL;
		int rc = ks_store_get(store, k->pods, st->ns, st->name, &pod);
		const char *uid = pod ? ks_meta_string(pod, "uid") : NULL;
		if (rc || !uid || strcmp(uid, st->uid)) {
			cJSON_Delete(pod);
			forget(k, uids[i]);
			continue;
		}
		if (!advance(k, store, pod, st, now))
			ks_ctl_map_remove(k->active, uids[i]);
		if (st->gone)
			forget(k, uids[i]);
		cJSON_Delete(pod);
	}
	ks_ctl_keys_free(uids, n);
	ks_ctl_release_status();
}

static void kubelet_stop(void *payload)
{
	struct kubelet *k = payload;
	ks_ctl_map_free(k->active);
	ks_ctl_map_free(k->states);
	ks_ctl_map_free(k->ips);
	free(k);
}

int ks_ctl_kubelet_start(struct ks_store *store, struct ks_controller **out)
{
	struct kubelet *k = calloc(1, sizeof(*k));
	if (!k)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the kubelet");
	k->pods = ks_store_type_find(store, "", "pods");
	k->states = ks_ctl_map_new(state_free);
	k->active = ks_ctl_map_new(NULL);
	k->ips = ks_ctl_map_new(NULL);
	k->next_ip = 2;
	if (!k->pods || !k->states || !k->active || !k->ips) {
		bool no_pods = !k->pods;
		kubelet_stop(k);
		return keelson_error_set(no_pods ? KEELSON_ERROR : KEELSON_ENOMEM,
			"cannot start the kubelet: %s",
			no_pods ? "the store serves no pods" : "out of memory");
	}
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "kubelet",
		.resources = kubelet_resources,
		.on_event = kubelet_event,
		.tick_ms = 10,
		.on_tick = kubelet_tick,
		.on_stop = kubelet_stop,
	};
	int rc = ks_controller_start(store, &def, k, out);
	if (rc)
		kubelet_stop(k);
	return rc;
}
