#include "config.h"

#include "tests/kubesim/models/kafka/kafka_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/kubesim/clock.h"
#include "tests/kubesim/store.h"

#define CC_PREFIX "/kafkacruisecontrol/"
#define LOG_DIR "/var/lib/kafka/data"

/* ---------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------- */

/* Value of `key` in a raw query string into buf; false when absent. */
static bool query_get(const char *query, const char *key, char *buf, size_t size)
{
	size_t kl = strlen(key);
	const char *q = query ? query : "";
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		if (len >= kl && !strncmp(q, key, kl) && (len == kl || q[kl] == '=')) {
			const char *v = len == kl ? "" : q + kl + 1;
			size_t vl = len == kl ? 0 : len - kl - 1;
			if (vl >= size)
				vl = size - 1;
			memcpy(buf, v, vl);
			buf[vl] = 0;
			return true;
		}
		q = amp ? amp + 1 : q + len;
	}
	return false;
}

/* Boolean parameter: 1 true, 0 false, -1 malformed; `dflt` when absent. */
static int query_bool(const char *query, const char *key, int dflt)
{
	char v[16];
	if (!query_get(query, key, v, sizeof(v)))
		return dflt;
	if (!strcasecmp(v, "true"))
		return 1;
	if (!strcasecmp(v, "false"))
		return 0;
	return -1;
}

static void respond_json(struct ks_proxy_response *r, int status, cJSON *body)
{
	char *text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	r->status = text ? status : 500;
	snprintf(r->content_type, sizeof(r->content_type), "application/json");
	r->body = text ? text : strdup("{\"errorMessage\":\"out of memory\",\"version\":1}");
	r->body_len = r->body ? strlen(r->body) : 0;
}

/* Cruise Control's error answer: {"errorMessage": ..., "version": 1}. */
__attribute__((format(printf, 3, 4))) static void respond_error(struct ks_proxy_response *r,
	int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "errorMessage", msg);
	cJSON_AddNumberToObject(o, "version", 1);
	respond_json(r, status, o);
}

static const char *status_name(enum kk_task_status s)
{
	switch (s) {
	case KK_TASK_ACTIVE:
		return "Active";
	case KK_TASK_IN_EXECUTION:
		return "InExecution";
	case KK_TASK_COMPLETED:
		return "Completed";
	case KK_TASK_COMPLETED_WITH_ERROR:
		return "CompletedWithError";
	}
	return "Active";
}

static bool broker_known(const struct kk_cluster *c, int id)
{
	if (id < 0 || id >= KK_MAX_BROKERS)
		return false;
	if (c->brokers[id].registered || c->brokers[id].exists)
		return true;
	for (int i = 0; i < c->nparts; i++)
		if (kk_hosts(&c->parts[i], id))
			return true;
	return false;
}

static void replica_counts(const struct kk_cluster *c, int *replicas, int *leaders)
{
	memset(replicas, 0, KK_MAX_BROKERS * sizeof(int));
	if (leaders)
		memset(leaders, 0, KK_MAX_BROKERS * sizeof(int));
	for (int i = 0; i < c->nparts; i++) {
		const struct kk_partition *p = &c->parts[i];
		for (int r = 0; r < p->nrep; r++)
			replicas[p->replicas[r]]++;
		if (leaders && p->leader >= 0)
			leaders[p->leader]++;
	}
}

/* ---------------------------------------------------------------------------
 * Proposals
 * ------------------------------------------------------------------------- */

/* Replica placement after the planned moves, for balancing decisions. */
static bool planned_hosts(const struct kk_cluster *c, const struct kk_move *moves, int n,
	int pi, int id)
{
	bool h = kk_hosts(&c->parts[pi], id);
	for (int i = 0; i < n; i++)
		if (moves[i].partition == pi) {
			if (moves[i].from == id)
				h = false;
			if (moves[i].to == id)
				h = true;
		}
	return h;
}

/* add_broker: move replicas from the existing brokers to the new ones
 * until each new broker holds its fair share. */
static int plan_add(const struct kk_cluster *c, const bool *target, struct kk_move *moves,
	int *nmoves)
{
	int count[KK_MAX_BROKERS];
	replica_counts(c, count, NULL);
	int nbrokers = 0, total = 0;
	for (int i = 0; i < KK_MAX_BROKERS; i++) {
		if (target[i] || (c->brokers[i].up && i < c->expected))
			nbrokers++;
		total += count[i];
	}
	int share = nbrokers ? total / nbrokers : 0;
	*nmoves = 0;
	for (int nb = 0; nb < KK_MAX_BROKERS; nb++) {
		if (!target[nb])
			continue;
		while (count[nb] < share && *nmoves < KK_MAX_MOVES) {
			/* From the fullest existing broker, a partition the new
			 * broker does not hold yet. */
			int best_from = -1, best_pi = -1;
			for (int from = 0; from < KK_MAX_BROKERS; from++) {
				if (target[from] || count[from] <= share)
					continue;
				if (best_from >= 0 && count[from] <= count[best_from])
					continue;
				for (int pi = 0; pi < c->nparts; pi++)
					if (planned_hosts(c, moves, *nmoves, pi, from) &&
					    !planned_hosts(c, moves, *nmoves, pi, nb)) {
						best_from = from;
						best_pi = pi;
						break;
					}
			}
			if (best_from < 0)
				break;
			moves[*nmoves].partition = best_pi;
			moves[*nmoves].from = best_from;
			moves[*nmoves].to = nb;
			(*nmoves)++;
			count[best_from]--;
			count[nb]++;
		}
	}
	return 0;
}

/* remove_broker: every replica of the removed brokers goes to the least
 * loaded live broker that does not hold the partition yet. */
static int plan_remove(const struct kk_cluster *c, const bool *target, struct kk_move *moves,
	int *nmoves, int *failed_partition)
{
	int count[KK_MAX_BROKERS];
	replica_counts(c, count, NULL);
	*nmoves = 0;
	for (int pi = 0; pi < c->nparts; pi++) {
		const struct kk_partition *p = &c->parts[pi];
		for (int r = 0; r < p->nrep; r++) {
			int from = p->replicas[r];
			if (!target[from])
				continue;
			int best = -1;
			for (int to = 0; to < KK_MAX_BROKERS; to++) {
				if (target[to] || !c->brokers[to].up ||
				    planned_hosts(c, moves, *nmoves, pi, to))
					continue;
				if (best < 0 || count[to] < count[best])
					best = to;
			}
			if (best < 0 || *nmoves >= KK_MAX_MOVES) {
				*failed_partition = pi;
				return -1;
			}
			moves[*nmoves].partition = pi;
			moves[*nmoves].from = from;
			moves[*nmoves].to = best;
			(*nmoves)++;
			count[best]++;
			count[from]--;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * Tasks
 * ------------------------------------------------------------------------- */

static cJSON *int_array(const int *v, int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	return a;
}

/* The optimization result Cruise Control answers when a task finishes. */
static char *task_result(const struct kk_cluster *c, const struct kk_task *t)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *s = cJSON_AddObjectToObject(o, "summary");
	int leader_moves = 0;
	for (int i = 0; i < t->nmoves; i++) {
		const struct kk_partition *p = &c->parts[t->moves[i].partition];
		leader_moves += p->nrep > 0 && p->replicas[0] == (t->dryrun ? t->moves[i].from
									     : t->moves[i].to);
	}
	cJSON_AddNumberToObject(s, "numReplicaMovements", t->nmoves);
	cJSON_AddNumberToObject(s, "numIntraBrokerReplicaMovements", 0);
	cJSON_AddNumberToObject(s, "numLeaderMovements", leader_moves);
	cJSON_AddNumberToObject(s, "dataToMoveMB", t->nmoves * 100);
	cJSON_AddNumberToObject(s, "recentWindows", 5);
	cJSON_AddNumberToObject(s, "monitoredPartitionsPercentage", 100.0);
	cJSON_AddItemToObject(s, "excludedTopics", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "goalSummary", cJSON_CreateArray());
	cJSON *props = cJSON_AddArrayToObject(o, "proposals");
	for (int i = 0; i < t->nmoves; i++) {
		const struct kk_move *mv = &t->moves[i];
		const struct kk_partition *p = &c->parts[mv->partition];
		int oldr[KK_MAX_RF], newr[KK_MAX_RF];
		for (int r = 0; r < p->nrep; r++) {
			int cur = p->replicas[r];
			/* Executed moves are already in the replica list. */
			bool applied = !t->dryrun && i < t->done;
			oldr[r] = applied && cur == mv->to ? mv->from : cur;
			newr[r] = !applied && cur == mv->from ? mv->to : cur;
		}
		cJSON *pr = cJSON_CreateObject();
		cJSON *tp = cJSON_AddObjectToObject(pr, "topicPartition");
		cJSON_AddStringToObject(tp, "topic", c->topics[p->topic].name);
		cJSON_AddNumberToObject(tp, "partition", p->index);
		cJSON_AddNumberToObject(pr, "oldLeader", oldr[0]);
		cJSON_AddItemToObject(pr, "oldReplicas", int_array(oldr, p->nrep));
		cJSON_AddItemToObject(pr, "newReplicas", int_array(newr, p->nrep));
		cJSON_AddItemToArray(props, pr);
	}
	int count[KK_MAX_BROKERS], leaders[KK_MAX_BROKERS];
	replica_counts(c, count, leaders);
	cJSON *load = cJSON_AddObjectToObject(o, "loadAfterOptimization");
	cJSON *brokers = cJSON_AddArrayToObject(load, "brokers");
	for (int i = 0; i < KK_MAX_BROKERS; i++) {
		if (!broker_known(c, i))
			continue;
		int n = count[i];
		if (t->dryrun)
			for (int k = 0; k < t->nmoves; k++)
				n += (t->moves[k].to == i) - (t->moves[k].from == i);
		cJSON *b = cJSON_CreateObject();
		cJSON_AddNumberToObject(b, "Broker", i);
		cJSON_AddStringToObject(b, "BrokerState", c->brokers[i].up ? "ALIVE" : "DEAD");
		cJSON_AddNumberToObject(b, "Replicas", n);
		cJSON_AddNumberToObject(b, "Leaders", leaders[i]);
		cJSON_AddItemToArray(brokers, b);
	}
	cJSON_AddNumberToObject(o, "version", 1);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static char *task_progress(const struct kk_task *t, double now)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "progress");
	cJSON *op = cJSON_CreateObject();
	cJSON_AddStringToObject(op, "operation",
		!strcmp(t->operation, "add_broker") ? "Add brokers" : "Remove brokers");
	cJSON *steps = cJSON_AddArrayToObject(op, "operationProgress");
	cJSON *st = cJSON_CreateObject();
	bool exec = t->status == KK_TASK_IN_EXECUTION;
	cJSON_AddStringToObject(st, "step", exec ? "EXECUTING_PROPOSALS" : "OPTIMIZING");
	cJSON_AddStringToObject(st, "description",
		exec ? "Executing the replica movements of the proposal."
		     : "Optimizing the cluster model for the goals.");
	cJSON_AddNumberToObject(st, "time-in-ms", floor((now - t->start) * 1000.0));
	cJSON_AddNumberToObject(st, "completionPercentage",
		exec && t->nmoves ? 100.0 * t->done / t->nmoves : 0.0);
	cJSON_AddItemToArray(steps, st);
	cJSON_AddItemToArray(arr, op);
	cJSON_AddNumberToObject(o, "version", 1);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static void task_finish(struct kk_cluster *c, struct kk_task *t, enum kk_task_status status,
	int http_status, char *body)
{
	t->status = status;
	t->http_status = http_status;
	free(t->result);
	t->result = body;
	if (c->running_task >= 0 && &c->tasks[c->running_task] == t) {
		c->running_task = -1;
		for (int i = 0; i < c->nparts; i++)
			c->parts[i].moving = false;
	}
}

static char *error_body(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "errorMessage", msg);
	cJSON_AddNumberToObject(o, "version", 1);
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

void kk_cc_tick(struct kk_cluster *c, double now)
{
	for (int ti = 0; ti < c->ntasks; ti++) {
		struct kk_task *t = &c->tasks[ti];
		if (t->status == KK_TASK_ACTIVE && now >= t->start + c->proposal_s) {
			if (t->dryrun) {
				task_finish(c, t, KK_TASK_COMPLETED, 200, task_result(c, t));
				continue;
			}
			if (c->running_task >= 0) {
				task_finish(c, t, KK_TASK_COMPLETED_WITH_ERROR, 500,
					error_body("java.lang.IllegalStateException: Cannot start a "
						   "new execution while there is an ongoing execution."));
				continue;
			}
			t->status = KK_TASK_IN_EXECUTION;
			c->running_task = ti;
			for (int i = 0; i < t->nmoves; i++)
				c->parts[t->moves[i].partition].moving = true;
			t->batch_size = t->nmoves < KK_MOVE_CONCURRENCY ? t->nmoves
									: KK_MOVE_CONCURRENCY;
			t->batch_end = now + c->move_s;
		}
		while (t->status == KK_TASK_IN_EXECUTION) {
			if (t->done >= t->nmoves) {
				task_finish(c, t, KK_TASK_COMPLETED, 200, task_result(c, t));
				break;
			}
			if (now < t->batch_end)
				break;
			for (int k = 0; k < t->batch_size && t->done < t->nmoves; k++, t->done++) {
				const struct kk_move *mv = &t->moves[t->done];
				kk_apply_move(c, mv->partition, mv->from, mv->to, now);
				c->parts[mv->partition].moving = false;
			}
			int left = t->nmoves - t->done;
			t->batch_size = left < KK_MOVE_CONCURRENCY ? left : KK_MOVE_CONCURRENCY;
			t->batch_end += c->move_s;
		}
	}
}

static void task_clear(struct kk_task *t)
{
	free(t->moves);
	free(t->result);
	memset(t, 0, sizeof(*t));
}

void kk_cc_free(struct kk_cluster *c)
{
	for (int i = 0; i < c->ntasks; i++)
		task_clear(&c->tasks[i]);
	c->ntasks = 0;
}

/* A slot for a new task: the oldest finished one goes when all are used. */
static struct kk_task *task_slot(struct kk_cluster *c)
{
	if (c->ntasks < KK_MAX_TASKS)
		return &c->tasks[c->ntasks++];
	for (int i = 0; i < c->ntasks; i++) {
		struct kk_task *t = &c->tasks[i];
		if (t->status == KK_TASK_COMPLETED || t->status == KK_TASK_COMPLETED_WITH_ERROR) {
			task_clear(t);
			/* Keep creation order: move it to the end. */
			memmove(&c->tasks[i], &c->tasks[i + 1],
				(size_t)(c->ntasks - i - 1) * sizeof(*t));
			if (c->running_task > i)
				c->running_task--;
			memset(&c->tasks[c->ntasks - 1], 0, sizeof(*t));
			return &c->tasks[c->ntasks - 1];
		}
	}
	return NULL;
}

static struct kk_task *task_find(struct kk_cluster *c, const char *id)
{
	for (int i = 0; i < c->ntasks; i++)
		if (!strcmp(c->tasks[i].id, id))
			return &c->tasks[i];
	return NULL;
}

/* Answer for a task in its current state. */
static void task_answer(const struct kk_task *t, double now, struct ks_proxy_response *r)
{
	if (t->status == KK_TASK_COMPLETED || t->status == KK_TASK_COMPLETED_WITH_ERROR) {
		kk_respond(r, t->http_status, "application/json", t->result);
		return;
	}
	char *p = task_progress(t, now);
	kk_respond(r, 202, "application/json", p);
	free(p);
}

static void request_url(const struct ks_proxy_request *req, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", req->path, req->query && *req->query ? "?" : "",
		req->query ? req->query : "");
}

/* add_broker / remove_broker. */
static void handle_broker_op(struct ks_kafka_model *m, struct kk_cluster *c, bool add,
	const struct ks_proxy_request *req, const char *task_id_in,
	struct ks_proxy_response *r, char *task_id_out, double now)
{
	(void)m;
	char url[512];
	request_url(req, url, sizeof(url));
	if (task_id_in && *task_id_in) {
		struct kk_task *t = task_find(c, task_id_in);
		if (!t) {
			respond_error(r, 400,
				"com.linkedin.kafka.cruisecontrol.servlet.UserRequestException: "
				"User task %s does not exist or has expired.", task_id_in);
			return;
		}
		if (strcmp(t->url, url)) {
			respond_error(r, 400,
				"com.linkedin.kafka.cruisecontrol.servlet.UserRequestException: "
				"User task %s was created for %s, not for %s.", t->id, t->url, url);
			return;
		}
		snprintf(task_id_out, 40, "%s", t->id);
		task_answer(t, now, r);
		return;
	}
	char ids[256];
	if (!query_get(req->query, "brokerid", ids, sizeof(ids)) || !*ids) {
		respond_error(r, 400,
			"com.linkedin.kafka.cruisecontrol.servlet.UserRequestException: "
			"Missing required parameter brokerid (comma-separated broker ids).");
		return;
	}
	int dryrun = query_bool(req->query, "dryrun", 1);
	if (dryrun < 0) {
		respond_error(r, 400,
			"com.linkedin.kafka.cruisecontrol.servlet.UserRequestException: "
			"dryrun must be true or false.");
		return;
	}
	bool target[KK_MAX_BROKERS] = {0};
	char *save = NULL;
	for (char *tok = strtok_r(ids, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long id = strtol(tok, &end, 10);
		if (*end || end == tok || id < 0) {
			respond_error(r, 400,
				"com.linkedin.kafka.cruisecontrol.servlet.UserRequestException: "
				"brokerid must be a comma-separated list of broker ids, got \"%s\".",
				tok);
			return;
		}
		if (!broker_known(c, (int)id) || (add && !c->brokers[id].up)) {
			respond_error(r, 500,
				"java.lang.IllegalArgumentException: Broker %ld does not exist%s.", id,
				add && id < KK_MAX_BROKERS && broker_known(c, (int)id) ? " or is not alive"
										 : "");
			return;
		}
		target[id] = true;
	}
	if (!c->formed) {
		respond_error(r, 500,
			"com.linkedin.kafka.cruisecontrol.exception.NotEnoughValidWindowsException: "
			"There is no window available in range [-1, %.0f] (the cluster has not formed "
			"yet: not every broker has been up).", now * 1000.0);
		return;
	}
	if (!dryrun && c->running_task >= 0) {
		respond_error(r, 500,
			"java.lang.IllegalStateException: Cannot start a new execution while there is "
			"an ongoing execution (user task %s).", c->tasks[c->running_task].id);
		return;
	}
	struct kk_move *moves = calloc(KK_MAX_MOVES, sizeof(*moves));
	if (!moves) {
		respond_error(r, 500, "out of memory");
		return;
	}
	int nmoves = 0, failed = -1;
	if (add)
		plan_add(c, target, moves, &nmoves);
	else if (plan_remove(c, target, moves, &nmoves, &failed)) {
		const struct kk_partition *p = &c->parts[failed];
		respond_error(r, 500,
			"com.linkedin.kafka.cruisecontrol.exception.OptimizationFailureException: "
			"[ReplicaDistributionGoal] Insufficient number of live brokers to move the "
			"replicas of %s-%d off the removed brokers (replication factor %d).",
			c->topics[p->topic].name, p->index, p->nrep);
		free(moves);
		return;
	}
	struct kk_task *t = task_slot(c);
	if (!t) {
		free(moves);
		respond_error(r, 500,
			"com.linkedin.kafka.cruisecontrol.servlet.UserRequestException: "
			"There are already %d active user tasks, which has reached the servlet "
			"capacity.", KK_MAX_TASKS);
		return;
	}
	ks_uuid(t->id);
	snprintf(t->url, sizeof(t->url), "%s", url);
	snprintf(t->operation, sizeof(t->operation), "%s", add ? "add_broker" : "remove_broker");
	t->start = now;
	t->status = KK_TASK_ACTIVE;
	t->dryrun = dryrun;
	t->moves = moves;
	t->nmoves = nmoves;
	snprintf(task_id_out, 40, "%s", t->id);
	task_answer(t, now, r);
}

static void handle_stop(struct kk_cluster *c, struct ks_proxy_response *r)
{
	cJSON *o = cJSON_CreateObject();
	if (c->running_task >= 0) {
		struct kk_task *t = &c->tasks[c->running_task];
		char msg[160];
		snprintf(msg, sizeof(msg),
			"Proposal execution stopped by the user after %d of %d replica movements.",
			t->done, t->nmoves);
		task_finish(c, t, KK_TASK_COMPLETED_WITH_ERROR, 500, error_body(msg));
		cJSON_AddStringToObject(o, "message", "Proposal execution stopped.");
	} else {
		cJSON_AddStringToObject(o, "message", "No ongoing proposal execution to stop.");
	}
	cJSON_AddNumberToObject(o, "version", 1);
	respond_json(r, 200, o);
}

static void handle_state(const struct kk_cluster *c, struct ks_proxy_response *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *ex = cJSON_AddObjectToObject(o, "ExecutorState");
	if (c->running_task >= 0) {
		const struct kk_task *t = &c->tasks[c->running_task];
		cJSON_AddStringToObject(ex, "state", "INTER_BROKER_REPLICA_MOVEMENT_TASK_IN_PROGRESS");
		cJSON_AddStringToObject(ex, "triggeredUserTaskId", t->id);
		cJSON_AddStringToObject(ex, "triggeredTaskReason", t->operation);
		cJSON_AddNumberToObject(ex, "numTotalPartitionMovements", t->nmoves);
		cJSON_AddNumberToObject(ex, "numFinishedPartitionMovements", t->done);
		cJSON_AddNumberToObject(ex, "numInProgressPartitionMovements", t->batch_size);
		cJSON_AddNumberToObject(ex, "numPendingPartitionMovements",
			t->nmoves - t->done - t->batch_size);
	} else {
		cJSON_AddStringToObject(ex, "state", "NO_TASK_IN_PROGRESS");
	}
	cJSON *mon = cJSON_AddObjectToObject(o, "MonitorState");
	cJSON_AddStringToObject(mon, "state", "RUNNING");
	cJSON_AddNumberToObject(mon, "numMonitoredWindows", c->formed ? 5 : 0);
	cJSON_AddNumberToObject(mon, "numValidPartitions", c->nparts);
	cJSON_AddNumberToObject(mon, "monitoringCoveragePct", c->formed ? 100.0 : 0.0);
	cJSON *an = cJSON_AddObjectToObject(o, "AnalyzerState");
	cJSON_AddBoolToObject(an, "isProposalReady", c->formed);
	cJSON_AddItemToObject(an, "readyGoals", cJSON_CreateArray());
	cJSON_AddNumberToObject(o, "version", 1);
	respond_json(r, 200, o);
}

static void add_ps(const struct kk_cluster *c, const struct kk_partition *p, cJSON *arr)
{
	int isr[KK_MAX_RF], oos[KK_MAX_RF], off[KK_MAX_RF];
	int ni = 0, no = 0, nf = 0;
	for (int r = 0; r < p->nrep; r++) {
		int id = p->replicas[r];
		if (kk_in_isr(p, id))
			isr[ni++] = id;
		else
			oos[no++] = id;
		if (!c->brokers[id].up)
			off[nf++] = id;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "topic", c->topics[p->topic].name);
	cJSON_AddNumberToObject(o, "partition", p->index);
	cJSON_AddNumberToObject(o, "leader", p->leader);
	cJSON_AddItemToObject(o, "replicas", int_array(p->replicas, p->nrep));
	cJSON_AddItemToObject(o, "in-sync", int_array(isr, ni));
	cJSON_AddItemToObject(o, "out-of-sync", int_array(oos, no));
	cJSON_AddItemToObject(o, "offline", int_array(off, nf));
	cJSON_AddNumberToObject(o, "min-isr", c->topics[p->topic].min_isr);
	cJSON_AddItemToArray(arr, o);
}

static void handle_cluster_state(const struct kk_cluster *c, const struct ks_proxy_request *req,
	struct ks_proxy_response *r)
{
	int verbose = query_bool(req->query, "verbose", 0);
	char pattern[256];
	bool have_re = query_get(req->query, "topic", pattern, sizeof(pattern)) && *pattern;
	regex_t re;
	if (have_re) {
		char anchored[300];
		snprintf(anchored, sizeof(anchored), "^(%s)$", pattern);
		if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB)) {
			respond_error(r, 400,
				"com.linkedin.kafka.cruisecontrol.servlet.UserRequestException: "
				"topic is not a valid regular expression: %s", pattern);
			return;
		}
	}
	int count[KK_MAX_BROKERS], leaders[KK_MAX_BROKERS];
	replica_counts(c, count, leaders);
	cJSON *o = cJSON_CreateObject();
	cJSON *bs = cJSON_AddObjectToObject(o, "KafkaBrokerState");
	cJSON *lc = cJSON_AddObjectToObject(bs, "LeaderCountByBrokerId");
	cJSON *oc = cJSON_AddObjectToObject(bs, "OutOfSyncCountByBrokerId");
	cJSON *rc = cJSON_AddObjectToObject(bs, "ReplicaCountByBrokerId");
	cJSON *ofc = cJSON_AddObjectToObject(bs, "OfflineReplicaCountByBrokerId");
	cJSON *ic = cJSON_AddObjectToObject(bs, "IsController");
	cJSON *on = cJSON_AddObjectToObject(bs, "OnlineLogDirsByBrokerId");
	cJSON *off = cJSON_AddObjectToObject(bs, "OfflineLogDirsByBrokerId");
	cJSON *set = cJSON_AddObjectToObject(bs, "BrokerSetByBrokerId");
	int nb = 0, maxr = 0, maxl = 0, replicas = 0, leaders_total = 0;
	double sumr = 0, sumr2 = 0, suml = 0, suml2 = 0;
	for (int i = 0; i < KK_MAX_BROKERS; i++) {
		if (!broker_known(c, i))
			continue;
		char key[16];
		snprintf(key, sizeof(key), "%d", i);
		int oos = 0, offr = 0;
		for (int k = 0; k < c->nparts; k++)
			if (kk_hosts(&c->parts[k], i)) {
				oos += !kk_in_isr(&c->parts[k], i);
				offr += !c->brokers[i].up;
			}
		bool up = c->brokers[i].up;
		cJSON_AddNumberToObject(lc, key, leaders[i]);
		cJSON_AddNumberToObject(oc, key, oos);
		cJSON_AddNumberToObject(rc, key, count[i]);
		cJSON_AddNumberToObject(ofc, key, offr);
		cJSON_AddBoolToObject(ic, key, c->controller == i);
		cJSON *dirs = cJSON_CreateArray(), *odirs = cJSON_CreateArray();
		cJSON_AddItemToArray(up ? dirs : odirs, cJSON_CreateString(LOG_DIR));
		cJSON_AddItemToObject(on, key, dirs);
		cJSON_AddItemToObject(off, key, odirs);
		cJSON_AddStringToObject(set, key, "default");
		nb++;
		sumr += count[i];
		sumr2 += (double)count[i] * count[i];
		suml += leaders[i];
		suml2 += (double)leaders[i] * leaders[i];
		if (count[i] > maxr)
			maxr = count[i];
		if (leaders[i] > maxl)
			maxl = leaders[i];
	}
	for (int k = 0; k < c->nparts; k++) {
		replicas += c->parts[k].nrep;
		leaders_total += c->parts[k].leader >= 0;
	}
	cJSON *sum = cJSON_AddObjectToObject(bs, "Summary");
	double avgr = nb ? sumr / nb : 0, avgl = nb ? suml / nb : 0;
	cJSON_AddNumberToObject(sum, "Brokers", nb);
	cJSON_AddNumberToObject(sum, "Topics", c->ntopics);
	cJSON_AddNumberToObject(sum, "Replicas", replicas);
	cJSON_AddNumberToObject(sum, "Leaders", leaders_total);
	cJSON_AddNumberToObject(sum, "AvgReplicationFactor",
		c->nparts ? (double)replicas / c->nparts : 0.0);
	cJSON_AddNumberToObject(sum, "AvgReplicasPerBroker", avgr);
	cJSON_AddNumberToObject(sum, "AvgLeadersPerBroker", avgl);
	cJSON_AddNumberToObject(sum, "MaxReplicasPerBroker", maxr);
	cJSON_AddNumberToObject(sum, "MaxLeadersPerBroker", maxl);
	cJSON_AddNumberToObject(sum, "StdReplicasPerBroker",
		nb ? sqrt(fmax(0.0, sumr2 / nb - avgr * avgr)) : 0.0);
	cJSON_AddNumberToObject(sum, "StdLeadersPerBroker",
		nb ? sqrt(fmax(0.0, suml2 / nb - avgl * avgl)) : 0.0);

	cJSON *ps = cJSON_AddObjectToObject(o, "KafkaPartitionState");
	cJSON *a_off = cJSON_AddArrayToObject(ps, "offline");
	cJSON *a_wor = cJSON_AddArrayToObject(ps, "with-offline-replicas");
	cJSON *a_urp = cJSON_AddArrayToObject(ps, "urp");
	cJSON *a_umi = cJSON_AddArrayToObject(ps, "under-min-isr");
	cJSON *a_oth = verbose == 1 ? cJSON_AddArrayToObject(ps, "other") : NULL;
	for (int k = 0; k < c->nparts; k++) {
		const struct kk_partition *p = &c->parts[k];
		if (have_re && regexec(&re, c->topics[p->topic].name, 0, NULL, 0))
			continue;
		int isr = kk_isr_count(p);
		bool offline_rep = false;
		for (int i = 0; i < p->nrep; i++)
			offline_rep = offline_rep || !c->brokers[p->replicas[i]].up;
		bool listed = false;
		if (isr < c->topics[p->topic].min_isr) {
			add_ps(c, p, a_umi);
			listed = true;
		}
		if (offline_rep) {
			add_ps(c, p, a_wor);
			listed = true;
		}
		if (p->leader < 0) {
			add_ps(c, p, a_off);
			listed = true;
		} else if (isr != p->nrep) {
			add_ps(c, p, a_urp);
			listed = true;
		}
		if (!listed && a_oth)
			add_ps(c, p, a_oth);
	}
	if (have_re)
		regfree(&re);
	cJSON_AddNumberToObject(o, "version", 1);
	respond_json(r, 200, o);
}

static void handle_user_tasks(const struct kk_cluster *c, const struct ks_proxy_request *req,
	struct ks_proxy_response *r, double now)
{
	char ids[1024] = "";
	bool filter = query_get(req->query, "user_task_ids", ids, sizeof(ids)) && *ids;
	bool completed = query_bool(req->query, "fetch_completed_task", 0) == 1;
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(o, "userTasks");
	for (int i = 0; i < c->ntasks; i++) {
		const struct kk_task *t = &c->tasks[i];
		if (filter) {
			/* Whole entries of the comma-separated list only. */
			const char *hit = strstr(ids, t->id);
			size_t l = strlen(t->id);
			if (!hit || (hit != ids && hit[-1] != ',') || (hit[l] && hit[l] != ','))
				continue;
		}
		cJSON *e = cJSON_CreateObject();
		char url[600], start[32];
		snprintf(url, sizeof(url), "POST %s", t->url);
		snprintf(start, sizeof(start), "%.0f", floor(t->start * 1000.0));
		cJSON_AddStringToObject(e, "UserTaskId", t->id);
		cJSON_AddStringToObject(e, "RequestURL", url);
		cJSON_AddStringToObject(e, "ClientIdentity", "127.0.0.1");
		cJSON_AddStringToObject(e, "StartMs", start);
		cJSON_AddStringToObject(e, "Status", status_name(t->status));
		if (completed) {
			bool done = t->status == KK_TASK_COMPLETED ||
				t->status == KK_TASK_COMPLETED_WITH_ERROR;
			char *progress = done ? NULL : task_progress(t, now);
			cJSON_AddStringToObject(e, "originalResponse",
				done ? (t->result ? t->result : "") : (progress ? progress : ""));
			free(progress);
		}
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddNumberToObject(o, "version", 1);
	respond_json(r, 200, o);
}

/* ---------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------- */

static struct kk_cluster *cluster_for_service(struct ks_kafka_model *m, const char *ns,
	const char *service)
{
	for (int i = 0; i < m->nclusters; i++)
		if (!strcmp(m->clusters[i]->ns, ns) && !strcmp(m->clusters[i]->cc_service, service))
			return m->clusters[i];
	return NULL;
}

int kk_cc_request(struct ks_kafka_model *m, const struct ks_proxy_request *req,
	const char *task_id_in, struct ks_proxy_response *r, char *task_id_out)
{
	task_id_out[0] = 0;
	double now = ks_clock_now();
	pthread_mutex_lock(&m->lock);
	struct kk_cluster *c = cluster_for_service(m, req->namespace, req->name);
	if (!c) {
		pthread_mutex_unlock(&m->lock);
		return -1;
	}
	kk_cc_tick(c, now);
	const char *ep = req->path;
	if (strncmp(ep, CC_PREFIX, strlen(CC_PREFIX))) {
		pthread_mutex_unlock(&m->lock);
		respond_error(r, 404, "Unrecognized endpoint %s (Cruise Control serves %s...).",
			req->path, CC_PREFIX);
		return 0;
	}
	ep += strlen(CC_PREFIX);
	bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
	if (get && !strcmp(ep, "state"))
		handle_state(c, r);
	else if (get && !strcmp(ep, "kafka_cluster_state"))
		handle_cluster_state(c, req, r);
	else if (get && !strcmp(ep, "user_tasks"))
		handle_user_tasks(c, req, r, now);
	else if (post && !strcmp(ep, "add_broker"))
		handle_broker_op(m, c, true, req, task_id_in, r, task_id_out, now);
	else if (post && !strcmp(ep, "remove_broker"))
		handle_broker_op(m, c, false, req, task_id_in, r, task_id_out, now);
	else if (post && !strcmp(ep, "stop_proposal_execution"))
		handle_stop(c, r);
	else
		respond_error(r, 404,
			"Unsupported %s request for endpoint %s (GET: state, kafka_cluster_state, "
			"user_tasks; POST: add_broker, remove_broker, stop_proposal_execution).",
			req->method, req->path);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* The real protocol: the task's ID travels in the User-Task-ID header. */
int kk_cc_handler(const struct ks_proxy_request *req, struct ks_proxy_response *r,
	void *payload)
{
	const char *task_in = NULL;
	for (size_t i = 0; i < req->nheaders; i++)
		if (!strcasecmp(req->headers[i].name, "User-Task-ID"))
			task_in = req->headers[i].value;
	char out[40];
	int rc = kk_cc_request(payload, req, task_in, r, out);
	if (rc == 0 && out[0] && r->nheaders < KS_PROXY_MAX_HEADERS) {
		struct ks_proxy_header *h = &r->headers[r->nheaders++];
		snprintf(h->name, sizeof(h->name), "User-Task-ID");
		snprintf(h->value, sizeof(h->value), "%s", out);
	}
	return rc;
}
