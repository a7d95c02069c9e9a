/*
 * kubesim's in-process controllers: what kube-controller-manager, the
 * scheduler and a kubelet would do to the objects in the store.
 *
 *  - statefulset: ordinal pods, PVCs, ControllerRevisions, OrderedReady and
 *    Parallel, RollingUpdate with partition, OnDelete, status (M14);
 *  - deployment + replicaset: Deployments own ReplicaSets named
 *    <deployment>-<pod-template-hash>, ReplicaSets own pods; RollingUpdate
 *    (maxSurge/maxUnavailable) and Recreate; status for rollout status;
 *  - job: batch/v1 Jobs run pods until `completions` succeeded or more than
 *    `backoffLimit` failed;
 *  - kubelet: schedules pods to KS_NODE_NAME and takes them through
 *    Pending -> Running -> Ready (M15), finishes graceful deletions, runs
 *    Job-like pods to completion; timing from the annotations below,
 *    measured on the simulated clock (clock.h);
 *  - garbage collector: ownerReferences with Background, Foreground and
 *    Orphan propagation (M13);
 *  - namespace: deletes the contents of a terminating namespace, then
 *    removes its "kubernetes" finalizer so the store drops it;
 *  - disruption: PodDisruptionBudget status (currentHealthy, desiredHealthy,
 *    expectedPods, disruptionsAllowed, DisruptionAllowed condition);
 *  - endpoints: an Endpoints object per Service with a selector (ready and
 *    not-ready pod addresses, hostnames, resolved target ports).
 */
#ifndef KUBESIM_CONTROLLERS_H
#define KUBESIM_CONTROLLERS_H

#include "tests/kubesim/store.h"

/* The one simulated node every pod is scheduled to. */
#define KS_NODE_NAME "kubesim-node-1"
#define KS_NODE_IP "10.0.0.10"

/* Pod annotations read by the simulated kubelet (values are decimal
 * integers unless noted; all delays in simulated milliseconds):
 *  start-delay-ms  scheduled -> Running (default 100)
 *  ready-delay-ms  Running -> Ready (default: the first container's
 *                  readinessProbe.initialDelaySeconds, else 0)
 *  fail            "true": the containers fail on start; restartPolicy
 *                  Never -> phase Failed, else Running but never Ready
 *                  (CrashLoopBackOff)
 *  run-ms          restartPolicy Never/OnFailure: the containers exit after
 *                  running this long (default: they run until deleted)
 *  exit-code       exit code for fail and run-ms (default 0, 1 for fail)
 *  ready           "false": a Running pod reports Ready=False until the
 *                  annotation is removed or set to "true" (simulates a
 *                  failing readiness probe at run time)
 *  stop-delay-ms   once deleted, the containers exit after this long and the
 *                  pod goes then, if that is before the grace period ends
 *                  (default: they use the whole grace period) */
#define KS_ANN_START_DELAY "kubesim.keelson.dev/start-delay-ms"
#define KS_ANN_READY_DELAY "kubesim.keelson.dev/ready-delay-ms"
#define KS_ANN_FAIL "kubesim.keelson.dev/fail"
#define KS_ANN_RUN_MS "kubesim.keelson.dev/run-ms"
#define KS_ANN_EXIT_CODE "kubesim.keelson.dev/exit-code"
#define KS_ANN_READY "kubesim.keelson.dev/ready"
#define KS_ANN_STOP_DELAY "kubesim.keelson.dev/stop-delay-ms"

struct ks_controllers;

/* Start every controller on `store` (which must outlive them). Creates the
 * Node object KS_NODE_NAME when it does not exist. Stop with
 * ks_controllers_stop() before freeing the store. */
int ks_controllers_start(struct ks_store *store, struct ks_controllers **out);

/* Stop and free every controller. Accepts NULL. */
void ks_controllers_stop(struct ks_controllers *controllers);

/* Wait until every controller has seen the store's events up to its
 * current resourceVersion (effects of the events may still be pending).
 * KEELSON_ETIMEOUT after `timeout_ms`. */
int ks_controllers_sync(struct ks_controllers *controllers, int timeout_ms);

#endif
