/*
 * Cruise Control through the API server's service proxy, for the kafka
 * plugin: the per-partition min ISR rule before a restart, and the
 * asynchronous add_broker / remove_broker tasks found again in user_tasks
 * (the plugin keeps no state: a task it started is recognised by its
 * request URL, so a restarted keelson follows the same task).
 */
#ifndef KEELSON_PLUGINS_KAFKA_CC_H
#define KEELSON_PLUGINS_KAFKA_CC_H

#include <keelson/plugin.h>

#include <stddef.h>

struct kafka_cc {
	const struct keelson_host *h;
	struct keelson_plugin_call *call;
	const char *ns;
	const char *service;
	char port[16];
	long long timeout_ms;
	const struct keelson_json *cluster_state; /* read once per plan */
	int cluster_state_read;
	char cluster_state_error[512];
};

enum kafka_cc_task {
	KAFKA_CC_TASK_NONE = 0,
	KAFKA_CC_TASK_ACTIVE,          /* computing the proposal */
	KAFKA_CC_TASK_IN_EXECUTION,    /* moving replicas */
	KAFKA_CC_TASK_COMPLETED,
	KAFKA_CC_TASK_COMPLETED_WITH_ERROR,
};

const char *kafka_cc_task_name(enum kafka_cc_task status);

/* The request path of an operation that moves data:
 * "/kafkacruisecontrol/OP?brokerid=IDS&dryrun=false". */
void kafka_cc_operation_path(char *out, size_t size, const char *op, const char *ids);

/* 0 when broker `broker` may restart: Cruise Control's executor is idle and
 * no partition it replicates would drop below min.insync.replicas (the
 * rule of Strimzi's KafkaAvailability). Otherwise non-zero and why: a
 * refusal, or Cruise Control could not be read (fail closed). */
int kafka_cc_may_restart(struct kafka_cc *cc, long broker, char *why, size_t why_size);

/* 0 when the executor is idle; else why. */
int kafka_cc_idle(struct kafka_cc *cc, char *why, size_t why_size);

/* The newest user task created by POST OP?brokerid=IDS&dryrun=false.
 * 0 with *status (NONE when there is none) and its id; -1 with why. */
int kafka_cc_find_task(struct kafka_cc *cc, const char *op, const char *ids, enum kafka_cc_task *status, char *id,
		       size_t id_size, char *why, size_t why_size);

/* The errorMessage a finished task answered, or a placeholder. */
void kafka_cc_task_error(struct kafka_cc *cc, const char *id, char *out, size_t size);

/* The largest replication factor among all partitions and one partition
 * that has it ("topic-3"). 0, or -1 with why. */
int kafka_cc_max_replication(struct kafka_cc *cc, long *rf, char *partition, size_t partition_size, char *why,
			     size_t why_size);

#endif
