/*
 * Internals shared by the Kafka model's files: the cluster state (guarded
 * by the model's mutex) and the functions the Cruise Control and metrics
 * handlers call on it.
 */
#ifndef KUBESIM_MODELS_KAFKA_INTERNAL_H
#define KUBESIM_MODELS_KAFKA_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tests/kubesim/models/kafka/kafka_model.h"
#include "tests/kubesim/sim.h"

/* Broker ids are StatefulSet ordinals; ISRs are bit masks over them. */
#define KK_MAX_BROKERS 64
#define KK_MAX_RF 8
#define KK_MAX_TOPICS 64
#define KK_MAX_PARTITIONS 4096
#define KK_MAX_TASKS 64
#define KK_MAX_MOVES 4096
#define KK_NAME 128

#define KK_DEFAULT_METRICS_PORT 9404
#define KK_CC_PORT 9090
#define KK_DEFAULT_CATCHUP_S 5.0
#define KK_DEFAULT_MOVE_S 1.0
#define KK_DEFAULT_PROPOSAL_S 0.5
#define KK_MOVE_CONCURRENCY 5

struct kk_broker {
	bool exists;          /* a pod for this id is in the store */
	char pod[KK_NAME];
	char uid[64];
	bool running;         /* phase Running, not terminating */
	bool terminating;
	bool up;              /* running, Ready, not terminating */
	bool in_service;      /* up and caught up (rejoined the ISRs) */
	bool registered;      /* was up at least once since it was added */
	double catchup_at;    /* simulated time it rejoins the ISRs */
	double catchup_s;
	int state_override;   /* brokerstate while not Ready (annotation), -1 */
	int metrics_port;
	int missing_audits;   /* audits that found the pod gone */
};

struct kk_topic {
	char name[KK_NAME];
	int partitions;
	int rf;
	int min_isr;
};

struct kk_partition {
	int topic;
	int index;
	int nrep;
	int replicas[KK_MAX_RF];
	uint64_t isr;          /* bit per broker id */
	int leader;            /* -1: offline */
	bool flag_offline;     /* violation recorded for this episode */
	bool flag_under_min;
	bool moving;           /* part of a running Cruise Control execution */
};

enum kk_task_status {
	KK_TASK_ACTIVE,          /* computing the proposal */
	KK_TASK_IN_EXECUTION,    /* moving replicas */
	KK_TASK_COMPLETED,
	KK_TASK_COMPLETED_WITH_ERROR,
};

struct kk_move {
	int partition;          /* index into cluster partitions */
	int from, to;
};

struct kk_task {
	char id[40];
	char url[512];          /* path?query as requested */
	char operation[32];     /* "add_broker" / "remove_broker" */
	double start;           /* simulated seconds */
	enum kk_task_status status;
	bool dryrun;
	struct kk_move *moves;
	int nmoves;
	int done;               /* moves applied */
	double batch_end;       /* when the current batch of moves completes */
	int batch_size;
	int http_status;        /* final response */
	char *result;           /* final response body (JSON), malloc'ed */
};

struct kk_cluster {
	char ns[KK_NAME];
	char name[KK_NAME];
	char sts_uid[64];
	int expected;           /* StatefulSet replicas (or pods seen) */
	bool have_sts;
	bool formed;
	struct kk_broker brokers[KK_MAX_BROKERS];
	struct kk_topic topics[KK_MAX_TOPICS];
	int ntopics;
	struct kk_partition *parts;
	int nparts;
	int controller;
	bool flag_two_down;
	/* knobs from StatefulSet annotations */
	char topics_spec[1024];
	char cc_service[KK_NAME];
	double move_s;
	double proposal_s;
	/* Cruise Control */
	struct kk_task tasks[KK_MAX_TASKS];
	int ntasks;
	int running_task;       /* index of the executing task, -1 */
	uint64_t task_seq;
	int missing_audits;     /* audits that found the StatefulSet gone */
};

struct ks_kafka_model {
	struct ks_store *store;
	struct ks_controller *controller;
	pthread_mutex_t lock;
	struct kk_cluster **clusters;
	int nclusters;
	/* proxy registrations made (namespace, kind, port) */
	struct kk_reg {
		char ns[KK_NAME];
		char kind[16];
		char prefix[KK_NAME];
		int port;
	} *regs;
	int nregs;
	unsigned long ticks;
};

/* Locking: every kk_* function below expects model->lock held. */

/* Cluster by namespace and name, or NULL. */
struct kk_cluster *kk_cluster_find(struct ks_kafka_model *model, const char *ns,
	const char *name);

/* Recompute leaders, controller and violation episodes after a change. */
void kk_cluster_settle(struct kk_cluster *c, double now);

/* Replicas of a partition that are in the ISR. */
int kk_isr_count(const struct kk_partition *p);
static inline bool kk_in_isr(const struct kk_partition *p, int id)
{
	return id >= 0 && id < KK_MAX_BROKERS && (p->isr >> id) & 1u;
}
bool kk_hosts(const struct kk_partition *p, int id);

/* Apply one replica move (from -> to) to partition `pi`. */
void kk_apply_move(struct kk_cluster *c, int pi, int from, int to, double now);

/* Advance the Cruise Control tasks of a cluster to `now`. */
void kk_cc_tick(struct kk_cluster *c, double now);

/* Free the Cruise Control task storage of a cluster. */
void kk_cc_free(struct kk_cluster *c);

/* Proxy handlers (payload: the model). */
int kk_metrics_handler(const struct ks_proxy_request *request,
	struct ks_proxy_response *response, void *payload);
int kk_cc_handler(const struct ks_proxy_request *request,
	struct ks_proxy_response *response, void *payload);

/* Cruise Control request with the User-Task-ID header made explicit:
 * `task_id_in` is the request header (NULL when absent) and the response
 * header is written to `task_id_out` (>= 40 bytes, "" for none). The proxy
 * handler calls it; tests may call it directly. */
int kk_cc_request(struct ks_kafka_model *model, const struct ks_proxy_request *request,
	const char *task_id_in, struct ks_proxy_response *response, char *task_id_out);

/* Answer helpers: `body` is copied. */
void kk_respond(struct ks_proxy_response *response, int status, const char *content_type,
	const char *body);

#endif
