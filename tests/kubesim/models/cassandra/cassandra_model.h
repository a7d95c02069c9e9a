/*
 * kubesim Cassandra model: pods labelled as Cassandra nodes become simulated
 * nodes of a ring (datacenters, racks, keyspaces with replication factors)
 * in the states UN, UJ, UL, DN and LEFT. Each node serves the Management API
 * for Apache Cassandra through the pod proxy (when its pod declares the
 * port) and `nodetool status|drain|decommission` through pods/exec; a
 * preStop `nodetool drain` is honoured when a pod is deleted with a grace
 * period. Violations of the operating rules (stopped without drain, two
 * nodes of a datacenter down, two nodes joining, removed without
 * decommission, decommission below the replication factor) go to kubesim's
 * invariant log (sim.h, source "cassandra"). See README.md in this
 * directory for labels, ports, knobs and each violation.
 */
#ifndef KUBESIM_MODELS_CASSANDRA_MODEL_H
#define KUBESIM_MODELS_CASSANDRA_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/kubesim/store.h"

struct ks_cassandra_model;

/* Start the model on `store` (which must outlive it): a ks_controller
 * watching pods and StatefulSets, plus proxy and exec registrations made
 * as Cassandra pods appear. Returns 0 or a keelson error code. */
int ks_cassandra_model_start(struct ks_store *store, struct ks_cassandra_model **out);

/* Stop the controller, wait for blocked Management API calls to return,
 * drop the registrations, free. Accepts NULL. */
void ks_cassandra_model_stop(struct ks_cassandra_model *model);

/* Wait until the model has processed the store's events up to its current
 * resourceVersion (tests). KEELSON_ETIMEOUT after `timeout_ms`. */
int ks_cassandra_model_sync(struct ks_cassandra_model *model, int timeout_ms);

/* One node as the ring sees it, for tests. */
struct ks_cassandra_node_info {
	char state[8];      /* "UN", "UJ", "UL", "DN", "LEFT" or "" (not in ring) */
	char dc[64];
	char rack[64];
	char host_id[40];
	bool process_up;    /* the Cassandra process runs */
	bool drained;       /* drain completed (the node accepts no writes) */
	bool bootstrapped;  /* owns data (joined, not decommissioned) */
};

/* Fill `out` for the node of pod `pod` in `namespace`: 0, or
 * KEELSON_ENOTFOUND when the model knows no such node. */
int ks_cassandra_model_node(struct ks_cassandra_model *model, const char *namespace,
	const char *pod, struct ks_cassandra_node_info *out);

/* Count the nodes of `namespace` (all rings) in state `state` ("UN", ...). */
int ks_cassandra_model_count(struct ks_cassandra_model *model, const char *namespace,
	const char *state);

#endif
