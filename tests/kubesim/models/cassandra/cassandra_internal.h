/*
 * Internals shared by the Cassandra model's files: rings and nodes (guarded
 * by the model's mutex), the state machine entry points the Management API
 * and nodetool handlers call, and decommission jobs.
 */
#ifndef KUBESIM_MODELS_CASSANDRA_INTERNAL_H
#define KUBESIM_MODELS_CASSANDRA_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tests/kubesim/models/cassandra/cassandra_model.h"
#include "tests/kubesim/sim.h"

#define KC_NAME 128
#define KC_SHORT 64
#define KC_MAX_KEYSPACES 16
#define KC_MAX_DCS 16
#define KC_MAX_JOBS 256
#define KC_MGMT_PORT 8080
#define KC_RELEASE_VERSION "4.1.5"

#define KC_DEFAULT_KEYSPACES "system_auth:3,app:3"
#define KC_DEFAULT_JOIN_S 30.0
#define KC_DEFAULT_DRAIN_S 10.0
#define KC_DEFAULT_DECOMMISSION_S 60.0
#define KC_DEFAULT_START_S 5.0
/* Longest a synchronous drain or decommission call blocks (real seconds),
 * like cass-operator's HTTP timeout. */
#define KC_SYNC_TIMEOUT_REAL_S 120.0

/* Knobs: annotations on the pod (template) or its StatefulSet. */
#define KC_ANN_PREFIX "kubesim.keelson.dev/cassandra-"
#define KC_ANN_JOIN KC_ANN_PREFIX "join-s"
#define KC_ANN_DRAIN KC_ANN_PREFIX "drain-s"
#define KC_ANN_DECOMMISSION KC_ANN_PREFIX "decommission-s"
#define KC_ANN_START KC_ANN_PREFIX "start-s"
#define KC_ANN_KEYSPACES KC_ANN_PREFIX "keyspaces"
#define KC_ANN_AUTOSTART KC_ANN_PREFIX "autostart"
#define KC_ANN_EXIT_AFTER_DRAIN KC_ANN_PREFIX "exit-after-drain"
#define KC_ANN_READINESS KC_ANN_PREFIX "readiness"
#define KC_ANN_MGMT_PORT KC_ANN_PREFIX "mgmt-api-port"
/* The simulated kubelet's readiness override (controllers.h KS_ANN_READY). */
#define KC_ANN_KUBELET_READY "kubesim.keelson.dev/ready"

enum kc_state {
	KC_NONE = 0, /* not in the ring (never started, or join aborted) */
	KC_UJ,       /* bootstrapping */
	KC_UN,
	KC_UL,       /* decommissioning */
	KC_DN,       /* member whose process is down or still starting */
	KC_LEFT,     /* decommissioned */
};

struct kc_keyspace {
	char name[KC_SHORT];
	int rf_all;                 /* same RF in every DC, or 0 */
	int ndcs;
	char dc[KC_MAX_DCS][KC_SHORT];
	int rf_dc[KC_MAX_DCS];
};

struct kc_ring {
	char ns[KC_NAME];
	char name[KC_NAME];
	char schema[40];
	char keyspace_spec[1024];
	struct kc_keyspace keyspaces[KC_MAX_KEYSPACES];
	int nkeyspaces;
	struct {
		char dc[KC_SHORT];
		bool two_down;      /* violation recorded for this episode */
	} dcflags[KC_MAX_DCS];
	int ndcflags;
};

struct kc_knobs {
	double join_s, drain_s, decommission_s, start_s;
	bool autostart;
	bool exit_after_drain;
	bool ring_readiness;
};

struct kc_node {
	char ns[KC_NAME];
	char pod[KC_NAME];
	char uid[64];               /* current pod incarnation */
	char sts[KC_NAME];          /* owning StatefulSet or "" */
	char sts_uid[64];
	char ring[KC_NAME];
	char dc[KC_SHORT];
	char rack[KC_SHORT];
	char ip[48];
	char host_id[40];
	int64_t token;
	int ordinal;                /* StatefulSet ordinal, -1 */
	bool seed;
	bool prestop_drain;
	int mgmt_port;              /* 0: no Management API */
	double grace_s;
	struct kc_knobs knobs;

	bool pod_exists;
	bool terminating;
	bool teardown;              /* the whole StatefulSet is going */
	bool process_up;
	bool stopped_by_api;        /* lifecycle/stop: stay down until start */
	bool bootstrapped;
	enum kc_state state;
	bool draining, drained;
	double drain_end, join_end, leave_end, start_end;
	bool flag_removed;
	bool exit_pending;          /* process exited: remove the terminating pod */
	int ready_written;          /* readiness annotation last written, -1 */
};

enum kc_job_status { KC_JOB_WAITING, KC_JOB_COMPLETED, KC_JOB_ERROR };

struct kc_job {
	char id[40];
	char ns[KC_NAME], pod[KC_NAME], uid[64];
	enum kc_job_status status;
	double submit, end;
	char error[256];
};

struct kc_reg {
	char ns[KC_NAME];
	char prefix[KC_NAME];
	int port;                   /* 0: the exec registration */
};

struct ks_cassandra_model {
	pthread_mutex_t mu;
	struct ks_store *store;
	const struct ks_resource_type *pods, *statefulsets, *configmaps;
	struct ks_controller *controller;
	struct kc_ring **rings;
	int nrings;
	struct kc_node **nodes;
	int nnodes;
	struct kc_job jobs[KC_MAX_JOBS];
	int njobs;                  /* ring buffer fill */
	int job_next;
	struct kc_reg *regs;
	int nregs;
	int inflight;               /* handlers inside the model */
	bool stopping;
	unsigned long ticks;
};

/* cassandra_model.c */
const cJSON *kc_at(const cJSON *node, ...) __attribute__((sentinel));
struct kc_ring *kc_ring_find(struct ks_cassandra_model *m, const char *ns, const char *name);
struct kc_node *kc_node_find(struct ks_cassandra_model *m, const char *ns, const char *pod);
int kc_keyspace_rf(const struct kc_keyspace *k, const char *dc);
const char *kc_state_name(enum kc_state s);
bool kc_node_alive(const struct kc_node *n);
bool kc_node_member(const struct kc_node *n);
void kc_check_two_down(struct ks_cassandra_model *m, struct kc_node *trigger);
void kc_process_start(struct ks_cassandra_model *m, struct kc_node *n, double now);
void kc_process_stop(struct ks_cassandra_model *m, struct kc_node *n, const char *why);
void kc_drain_begin(struct kc_node *n, double now);

/* cassandra_api.c */
int kc_mgmt_handler(const struct ks_proxy_request *request,
	struct ks_proxy_response *response, void *payload);
int kc_exec_handler(const struct ks_exec_request *request, struct ks_exec_result *result,
	void *payload);
/* Register the proxy (Management API port) and exec handlers covering pod
 * `name` of node `n` once per namespace and prefix. Model lock held. */
void kc_register_pod(struct ks_cassandra_model *m, const struct kc_node *n, const char *name);
/* UL -> LEFT: RF check, job completion. Model lock held. */
void kc_decommission_finish(struct ks_cassandra_model *m, struct kc_node *n, double now);
/* Mark the running decommission job of `n` failed. Model lock held. */
void kc_job_fail_for(struct ks_cassandra_model *m, struct kc_node *n, const char *why);

#endif
