/*
 * kubesim Kafka model: pods labelled as Kafka brokers become simulated
 * brokers with topics, partitions, leaders and ISRs; each broker serves
 * JMX-exporter metrics through the pod proxy and a simulated Cruise Control
 * answers through the service proxy. Violations of the operating rules
 * (broker deleted while partitions were under-replicated, ...) go to
 * kubesim's invariant log (sim.h, source "kafka"). See README.md in this
 * directory for labels, ports, knobs and the meaning of each violation.
 */
#ifndef KUBESIM_MODELS_KAFKA_MODEL_H
#define KUBESIM_MODELS_KAFKA_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/kubesim/store.h"

struct ks_kafka_model;

/* Start the model on `store` (which must outlive it): a ks_controller
 * watching pods and StatefulSets, plus proxy registrations. Returns 0 or a
 * keelson error code with a message. */
int ks_kafka_model_start(struct ks_store *store, struct ks_kafka_model **out);

/* Stop the controller, drop the proxy registrations, free. Accepts NULL. */
void ks_kafka_model_stop(struct ks_kafka_model *model);

/* Wait until the model has processed the store's events up to its current
 * resourceVersion (tests). KEELSON_ETIMEOUT after `timeout_ms`. */
int ks_kafka_model_sync(struct ks_kafka_model *model, int timeout_ms);

/* A snapshot of one cluster's health, for tests and the README's examples. */
struct ks_kafka_cluster_summary {
	bool formed;                 /* topics exist (all brokers were up once) */
	int brokers_up;              /* brokers whose pod is Running+Ready */
	int controller;              /* active controller id, -1 for none */
	int partitions;
	int under_replicated;        /* |ISR| < |replicas| */
	int under_min_isr;           /* |ISR| < min.insync.replicas */
	int offline;                 /* no leader */
	int replicas_on[64];         /* replicas hosted per broker id */
	bool task_running;           /* a Cruise Control execution is running */
};

/* Fill `out` for cluster `name` in `namespace`: 0, or KEELSON_ENOTFOUND
 * when the model knows no such cluster. */
int ks_kafka_model_summary(struct ks_kafka_model *model, const char *namespace,
	const char *name, struct ks_kafka_cluster_summary *out);

#endif
