/*
 * Cruise Control for the kafka plugin (see cc.h).
 */
#include "plugins/kafka/cc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/kafkacruisecontrol/"

static const char *const partition_lists[] = {"offline", "with-offline-replicas", "urp", "under-min-isr", "other"};

const char *kafka_cc_task_name(enum kafka_cc_task status)
{
	switch (status) {
	case KAFKA_CC_TASK_NONE: return "none";
	case KAFKA_CC_TASK_ACTIVE: return "Active";
	case KAFKA_CC_TASK_IN_EXECUTION: return "InExecution";
	case KAFKA_CC_TASK_COMPLETED: return "Completed";
	case KAFKA_CC_TASK_COMPLETED_WITH_ERROR: return "CompletedWithError";
	}
	return "unknown";
}

void kafka_cc_operation_path(char *out, size_t size, const char *op, const char *ids)
{
	snprintf(out, size, PREFIX "%s?brokerid=%s&dryrun=false", op, ids);
}

/* GET a JSON answer. NULL with why when unreachable, not 2xx or not JSON. */
static const struct keelson_json *get_json(struct kafka_cc *cc, const char *path, char *why, size_t why_size)
{
	const struct keelson_host *h = cc->h;
	if (!KEELSON_HOST_HAS(h, json_parse)) {
		snprintf(why, why_size, "this keelson cannot parse Cruise Control's JSON (host version %u < 3)",
			 (unsigned)h->version);
		return NULL;
	}
	struct keelson_http_response r;
	if (h->http(cc->call, KEELSON_PROXY_SERVICE, cc->ns, cc->service, cc->port, "GET", path, NULL, cc->timeout_ms,
		    &r) != 0) {
		snprintf(why, why_size, "Cruise Control %s/%s:%s GET %s failed: %s (fails closed)", cc->ns, cc->service,
			 cc->port, path, r.error ? r.error : "no answer");
		return NULL;
	}
	const struct keelson_json *root = h->json_parse(cc->call, r.body, r.body_len);
	if (root == NULL)
		snprintf(why, why_size, "Cruise Control %s/%s GET %s answered something that is not JSON (fails closed)",
			 cc->ns, cc->service, path);
	return root;
}

static const struct keelson_json *cluster_state(struct kafka_cc *cc, char *why, size_t why_size)
{
	if (!cc->cluster_state_read) {
		cc->cluster_state_read = 1;
		cc->cluster_state = get_json(cc, PREFIX "kafka_cluster_state?json=true&verbose=true",
					     cc->cluster_state_error, sizeof(cc->cluster_state_error));
		if (cc->cluster_state != NULL &&
		    cc->h->json_get(cc->cluster_state, "/KafkaPartitionState/other") == NULL) {
			snprintf(cc->cluster_state_error, sizeof(cc->cluster_state_error),
				 "Cruise Control's kafka_cluster_state has no KafkaPartitionState.other (verbose) list");
			cc->cluster_state = NULL;
		}
	}
	if (cc->cluster_state == NULL)
		snprintf(why, why_size, "%s", cc->cluster_state_error);
	return cc->cluster_state;
}

int kafka_cc_idle(struct kafka_cc *cc, char *why, size_t why_size)
{
	const struct keelson_json *st = get_json(cc, PREFIX "state?json=true", why, why_size);
	if (st == NULL)
		return -1;
	const char *state = cc->h->json_string(cc->h->json_get(st, "/ExecutorState/state"));
	if (state == NULL) {
		snprintf(why, why_size, "Cruise Control's state has no ExecutorState.state (fails closed)");
		return -1;
	}
	if (strcmp(state, "NO_TASK_IN_PROGRESS") != 0) {
		const char *task = cc->h->json_string(cc->h->json_get(st, "/ExecutorState/triggeredUserTaskId"));
		snprintf(why, why_size, "Cruise Control's executor is %s%s%s (no restart while it moves data)", state,
			 task ? ", task " : "", task ? task : "");
		return 1;
	}
	return 0;
}

static int has_id(const struct keelson_host *h, const struct keelson_json *list, long id)
{
	for (size_t i = 0; i < h->json_count(list); i++) {
		double v;
		if (h->json_number(h->json_at(list, i), &v) == 0 && v == (double)id)
			return 1;
	}
	return 0;
}

int kafka_cc_may_restart(struct kafka_cc *cc, long broker, char *why, size_t why_size)
{
	const struct keelson_host *h = cc->h;
	int rc = kafka_cc_idle(cc, why, why_size);
	if (rc != 0)
		return rc;
	const struct keelson_json *state = cluster_state(cc, why, why_size);
	if (state == NULL)
		return -1;
	for (size_t l = 0; l < sizeof(partition_lists) / sizeof(partition_lists[0]); l++) {
		char pointer[64];
		snprintf(pointer, sizeof(pointer), "/KafkaPartitionState/%s", partition_lists[l]);
		const struct keelson_json *list = h->json_get(state, pointer);
		for (size_t i = 0; i < h->json_count(list); i++) {
			const struct keelson_json *ps = h->json_at(list, i);
			const struct keelson_json *replicas = h->json_get(ps, "/replicas");
			const struct keelson_json *isr = h->json_get(ps, "/in-sync");
			const char *topic = h->json_string(h->json_get(ps, "/topic"));
			double partition = -1, min_isr = -1;
			h->json_number(h->json_get(ps, "/partition"), &partition);
			if (!has_id(h, replicas, broker))
				continue;
			if (h->json_number(h->json_get(ps, "/min-isr"), &min_isr) != 0 || topic == NULL || isr == NULL) {
				snprintf(why, why_size, "Cruise Control's kafka_cluster_state lacks topic, in-sync or min-isr "
					 "of a partition of broker %ld (fails closed)", broker);
				return -1;
			}
			size_t r = h->json_count(replicas), in_sync = h->json_count(isr);
			if (min_isr < 0 || (double)r <= min_isr)
				continue; /* unavailable for acks=all anyway (Strimzi skips it too) */
			if ((double)in_sync < min_isr) {
				snprintf(why, why_size, "partition %s-%.0f has %zu in-sync replicas, below its "
					 "min.insync.replicas %.0f (Cruise Control)", topic, partition, in_sync, min_isr);
				return 1;
			}
			if ((double)in_sync == min_isr && has_id(h, isr, broker)) {
				snprintf(why, why_size, "partition %s-%.0f has exactly min.insync.replicas %.0f in sync, "
					 "broker %ld among them: restarting it would stop acks=all writes (Cruise Control)",
					 topic, partition, min_isr, broker);
				return 1;
			}
		}
	}
	return 0;
}

/* Whether RequestURL `url` is POST .../OP?brokerid=IDS&dryrun=false. */
static int url_matches(const char *url, const char *op, const char *ids)
{
	char needle[96];
	snprintf(needle, sizeof(needle), "/%s?", op);
	const char *q = strstr(url, needle);
	if (q == NULL)
		return 0;
	q += strlen(needle);
	int brokers = 0, execute = 0;
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		char param[512];
		if (n < sizeof(param)) {
			/* decode %2C, the one escape a comma list gets */
			size_t o = 0;
			for (size_t i = 0; i < n && o + 1 < sizeof(param); i++) {
				if (q[i] == '%' && i + 2 < n && q[i + 1] == '2' && (q[i + 2] == 'C' || q[i + 2] == 'c')) {
					param[o++] = ',';
					i += 2;
				} else {
					param[o++] = q[i];
				}
			}
			param[o] = '\0';
			if (strncmp(param, "brokerid=", 9) == 0)
				brokers = strcmp(param + 9, ids) == 0;
			else if (strcmp(param, "dryrun=false") == 0)
				execute = 1;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return brokers && execute;
}

int kafka_cc_find_task(struct kafka_cc *cc, const char *op, const char *ids, enum kafka_cc_task *status, char *id,
		       size_t id_size, char *why, size_t why_size)
{
	const struct keelson_host *h = cc->h;
	*status = KAFKA_CC_TASK_NONE;
	id[0] = '\0';
	const struct keelson_json *root = get_json(cc, PREFIX "user_tasks?json=true", why, why_size);
	if (root == NULL)
		return -1;
	const struct keelson_json *tasks = h->json_get(root, "/userTasks");
	if (tasks == NULL) {
		snprintf(why, why_size, "Cruise Control's user_tasks has no userTasks list (fails closed)");
		return -1;
	}
	double newest = -1;
	for (size_t i = 0; i < h->json_count(tasks); i++) {
		const struct keelson_json *t = h->json_at(tasks, i);
		const char *url = h->json_string(h->json_get(t, "/RequestURL"));
		const char *task_id = h->json_string(h->json_get(t, "/UserTaskId"));
		const char *st = h->json_string(h->json_get(t, "/Status"));
		if (url == NULL || task_id == NULL || st == NULL || !url_matches(url, op, ids))
			continue;
		const char *start_text = h->json_string(h->json_get(t, "/StartMs"));
		double start = 0;
		if (start_text != NULL)
			start = strtod(start_text, NULL);
		else
			h->json_number(h->json_get(t, "/StartMs"), &start);
		if (start < newest)
			continue;
		newest = start;
		snprintf(id, id_size, "%s", task_id);
		*status = strcmp(st, "Active") == 0 ? KAFKA_CC_TASK_ACTIVE
			: strcmp(st, "InExecution") == 0 ? KAFKA_CC_TASK_IN_EXECUTION
			: strcmp(st, "Completed") == 0 ? KAFKA_CC_TASK_COMPLETED
			: KAFKA_CC_TASK_COMPLETED_WITH_ERROR;
	}
	return 0;
}

void kafka_cc_task_error(struct kafka_cc *cc, const char *id, char *out, size_t size)
{
	const struct keelson_host *h = cc->h;
	char path[256], why[256];
	snprintf(out, size, "no error message available");
	snprintf(path, sizeof(path), PREFIX "user_tasks?json=true&fetch_completed_task=true&user_task_ids=%s", id);
	const struct keelson_json *root = get_json(cc, path, why, sizeof(why));
	const char *original = h->json_string(h->json_get(root, "/userTasks/0/originalResponse"));
	if (original == NULL)
		return;
	const struct keelson_json *answer = h->json_parse(cc->call, original, strlen(original));
	const char *message = h->json_string(h->json_get(answer, "/errorMessage"));
	if (message != NULL)
		snprintf(out, size, "%s", message);
}

int kafka_cc_max_replication(struct kafka_cc *cc, long *rf, char *partition, size_t partition_size, char *why,
			     size_t why_size)
{
	const struct keelson_host *h = cc->h;
	*rf = 0;
	partition[0] = '\0';
	const struct keelson_json *state = cluster_state(cc, why, why_size);
	if (state == NULL)
		return -1;
	for (size_t l = 0; l < sizeof(partition_lists) / sizeof(partition_lists[0]); l++) {
		char pointer[64];
		snprintf(pointer, sizeof(pointer), "/KafkaPartitionState/%s", partition_lists[l]);
		const struct keelson_json *list = h->json_get(state, pointer);
		for (size_t i = 0; i < h->json_count(list); i++) {
			const struct keelson_json *ps = h->json_at(list, i);
			long n = (long)h->json_count(h->json_get(ps, "/replicas"));
			if (n <= *rf)
				continue;
			double p = -1;
			h->json_number(h->json_get(ps, "/partition"), &p);
			const char *topic = h->json_string(h->json_get(ps, "/topic"));
			*rf = n;
			snprintf(partition, partition_size, "%s-%.0f", topic ? topic : "?", p);
		}
	}
	return 0;
}
