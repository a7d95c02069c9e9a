#include "config.h"

#include "tests/kubesim/models/kafka/kafka_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing text buffer; on allocation failure it stops growing and the
 * handler answers 500. */
struct kk_buf {
	char *data;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static void buf_printf(struct kk_buf *b,
	const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0,
			fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->data && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
}

static void gauge(struct kk_buf *b, const char *name, const char *help, long value)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %ld\n", name, help, name, name, value);
}

void kk_respond(struct ks_proxy_response *response, int status, const char *content_type,
	const char *body)
{
	response->status = status;
	snprintf(response->content_type, sizeof(response->content_type), "%s", content_type);
	response->body = strdup(body ? body : "");
	response->body_len = response->body ? strlen(response->body) : 0;
}

/* Kafka's BrokerState values: 1 STARTING, 2 RECOVERY, 3 RUNNING. */
static int broker_state(const struct kk_broker *b)
{
	if (b->up)
		return 3;
	return b->state_override >= 0 ? b->state_override : 1;
}

static void render(const struct kk_cluster *c, int id, struct kk_buf *b)
{
	const struct kk_broker *br = &c->brokers[id];
	long urp = 0, under_min = 0, offline = 0, leaders = 0, hosted = 0;
	for (int i = 0; i < c->nparts; i++) {
		const struct kk_partition *p = &c->parts[i];
		int isr = kk_isr_count(p);
		offline += p->leader < 0;
		hosted += kk_hosts(p, id);
		if (p->leader != id)
			continue;
		leaders++;
		urp += isr < p->nrep;
		under_min += isr < c->topics[p->topic].min_isr;
	}
	bool active = c->controller == id;
	gauge(b, "kafka_server_replicamanager_underreplicatedpartitions",
		"Attribute exposed for management kafka.server:name=UnderReplicatedPartitions,type=ReplicaManager,attribute=Value",
		br->up ? urp : 0);
	gauge(b, "kafka_server_replicamanager_underminisrpartitioncount",
		"Attribute exposed for management kafka.server:name=UnderMinIsrPartitionCount,type=ReplicaManager,attribute=Value",
		br->up ? under_min : 0);
	gauge(b, "kafka_server_replicamanager_partitioncount",
		"Attribute exposed for management kafka.server:name=PartitionCount,type=ReplicaManager,attribute=Value",
		hosted);
	gauge(b, "kafka_server_replicamanager_leadercount",
		"Attribute exposed for management kafka.server:name=LeaderCount,type=ReplicaManager,attribute=Value",
		leaders);
	gauge(b, "kafka_controller_kafkacontroller_offlinepartitionscount",
		"Attribute exposed for management kafka.controller:name=OfflinePartitionsCount,type=KafkaController,attribute=Value",
		active ? offline : 0);
	gauge(b, "kafka_controller_kafkacontroller_activecontrollercount",
		"Attribute exposed for management kafka.controller:name=ActiveControllerCount,type=KafkaController,attribute=Value",
		active ? 1 : 0);
	gauge(b, "kafka_server_kafkaserver_brokerstate",
		"Attribute exposed for management kafka.server:name=BrokerState,type=KafkaServer,attribute=Value",
		broker_state(br));
	gauge(b, "kafka_log_logmanager_offlinelogdirectorycount",
		"Attribute exposed for management kafka.log:name=OfflineLogDirectoryCount,type=LogManager,attribute=Value",
		0);
	gauge(b, "kafka_server_raftmetrics_current_leader",
		"The current quorum leader's id; -1 indicates unknown", c->controller);
	/* Per-partition gauges exist for every partition the broker hosts and
	 * are non-zero only on the leader, as Kafka registers them. */
	static const char *const per[2] = {"underminisr", "atminisr"};
	for (int k = 0; k < 2; k++) {
		buf_printf(b,
			"# HELP kafka_cluster_partition_%s Attribute exposed for management kafka.cluster:name=%s,type=Partition,attribute=Value\n"
			"# TYPE kafka_cluster_partition_%s gauge\n",
			per[k], k ? "AtMinIsr" : "UnderMinIsr", per[k]);
		for (int i = 0; i < c->nparts; i++) {
			const struct kk_partition *p = &c->parts[i];
			if (!kk_hosts(p, id))
				continue;
			int isr = kk_isr_count(p), min = c->topics[p->topic].min_isr;
			bool v = p->leader == id && (k ? isr == min : isr < min);
			buf_printf(b, "kafka_cluster_partition_%s{topic=\"%s\",partition=\"%d\"} %d\n",
				per[k], c->topics[p->topic].name, p->index, v ? 1 : 0);
		}
	}
}

int kk_metrics_handler(const struct ks_proxy_request *request,
	struct ks_proxy_response *response, void *payload)
{
	struct ks_kafka_model *m = payload;
	pthread_mutex_lock(&m->lock);
	const struct kk_cluster *c = NULL;
	int id = -1;
	for (int ci = 0; ci < m->nclusters && id < 0; ci++) {
		const struct kk_cluster *cc = m->clusters[ci];
		if (strcmp(cc->ns, request->namespace))
			continue;
		for (int i = 0; i < KK_MAX_BROKERS; i++)
			if (cc->brokers[i].exists && !strcmp(cc->brokers[i].pod, request->name)) {
				c = cc;
				id = i;
				break;
			}
	}
	/* The exporter is a JVM agent: nothing listens unless the container
	 * runs; a terminating pod is refused by the proxy anyway. */
	if (!c || !c->brokers[id].running ||
	    (request->port && request->port != c->brokers[id].metrics_port)) {
		pthread_mutex_unlock(&m->lock);
		return -1;
	}
	if (strcmp(request->path, "/metrics") && strcmp(request->path, "/")) {
		pthread_mutex_unlock(&m->lock);
		kk_respond(response, 404, "text/plain; charset=utf-8", "404 page not found\n");
		return 0;
	}
	struct kk_buf b = {0};
	render(c, id, &b);
	pthread_mutex_unlock(&m->lock);
	if (b.failed) {
		free(b.data);
		kk_respond(response, 500, "text/plain; charset=utf-8", "out of memory\n");
		return 0;
	}
	response->status = 200;
	snprintf(response->content_type, sizeof(response->content_type), "%s",
		"text/plain; version=0.0.4; charset=utf-8");
	response->body = b.data;
	response->body_len = b.len;
	return 0;
}
