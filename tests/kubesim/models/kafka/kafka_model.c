#include "config.h"

#include "tests/kubesim/models/kafka/kafka_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tests/kubesim/clock.h"
#include "tests/kubesim/controllers/ctl_util.h"
#include "tests/kubesim/sim.h"

#define LABEL_MODEL "kubesim.keelson.dev/model"
#define LABEL_CLUSTER "kubesim.keelson.dev/kafka-cluster"
#define LABEL_APP_NAME "app.kubernetes.io/name"
#define ANN_CATCHUP "kubesim.keelson.dev/kafka-catchup-ms"
#define ANN_BROKER_STATE "kubesim.keelson.dev/kafka-broker-state"
#define ANN_TOPICS "kubesim.keelson.dev/kafka-topics"
#define ANN_CC_SERVICE "kubesim.keelson.dev/kafka-cruise-control-service"
#define ANN_MOVE "kubesim.keelson.dev/kafka-move-ms"
#define ANN_PROPOSAL "kubesim.keelson.dev/kafka-proposal-ms"

/* ---------------------------------------------------------------------------
 * Partition helpers
 * ------------------------------------------------------------------------- */

int kk_isr_count(const struct kk_partition *p)
{
	return __builtin_popcountll(p->isr);
}

bool kk_hosts(const struct kk_partition *p, int id)
{
	for (int i = 0; i < p->nrep; i++)
		if (p->replicas[i] == id)
			return true;
	return false;
}

static const char *topic_name(const struct kk_cluster *c, const struct kk_partition *p)
{
	return c->topics[p->topic].name;
}

static int part_min_isr(const struct kk_cluster *c, const struct kk_partition *p)
{
	return c->topics[p->topic].min_isr;
}

/* First replica (preferred order) that is in the ISR and serving. */
static int elect_leader(const struct kk_cluster *c, const struct kk_partition *p)
{
	for (int i = 0; i < p->nrep; i++) {
		int id = p->replicas[i];
		if (kk_in_isr(p, id) && c->brokers[id].up)
			return id;
	}
	return -1;
}

void kk_apply_move(struct kk_cluster *c, int pi, int from, int to, double now)
{
	struct kk_partition *p = &c->parts[pi];
	for (int i = 0; i < p->nrep; i++)
		if (p->replicas[i] == from)
			p->replicas[i] = to;
	p->isr &= ~(1ull << from);
	/* The new replica copied the data before the move completed. */
	if (c->brokers[to].in_service)
		p->isr |= 1ull << to;
	if (p->leader == from)
		p->leader = elect_leader(c, p);
	kk_cluster_settle(c, now);
}

/* ---------------------------------------------------------------------------
 * Cluster state
 * ------------------------------------------------------------------------- */

struct kk_cluster *kk_cluster_find(struct ks_kafka_model *model, const char *ns,
	const char *name)
{
	for (int i = 0; i < model->nclusters; i++)
		if (!strcmp(model->clusters[i]->ns, ns) && !strcmp(model->clusters[i]->name, name))
			return model->clusters[i];
	return NULL;
}

static void cluster_free(struct kk_cluster *c)
{
	if (!c)
		return;
	kk_cc_free(c);
	free(c->parts);
	free(c);
}

static int model_register(struct ks_kafka_model *m, const char *ns, const char *kind,
	const char *prefix, int port, ks_proxy_handler_fn fn)
{
	for (int i = 0; i < m->nregs; i++)
		if (!strcmp(m->regs[i].ns, ns) && !strcmp(m->regs[i].kind, kind) &&
		    !strcmp(m->regs[i].prefix, prefix) && m->regs[i].port == port)
			return 0;
	struct kk_reg *r = realloc(m->regs, (size_t)(m->nregs + 1) * sizeof(*r));
	if (!r)
		return KEELSON_ENOMEM;
	m->regs = r;
	struct kk_reg *n = &m->regs[m->nregs];
	snprintf(n->ns, sizeof(n->ns), "%s", ns);
	snprintf(n->kind, sizeof(n->kind), "%s", kind);
	snprintf(n->prefix, sizeof(n->prefix), "%s", prefix);
	n->port = port;
	int rc = ks_proxy_register(ns, kind, prefix, port, fn, m);
	if (rc == 0)
		m->nregs++;
	return rc;
}

static struct kk_cluster *cluster_get(struct ks_kafka_model *m, const char *ns,
	const char *name)
{
	struct kk_cluster *c = kk_cluster_find(m, ns, name);
	if (c)
		return c;
	struct kk_cluster **arr = realloc(m->clusters,
		(size_t)(m->nclusters + 1) * sizeof(*arr));
	if (!arr)
		return NULL;
	m->clusters = arr;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	snprintf(c->ns, sizeof(c->ns), "%s", ns);
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->cc_service, sizeof(c->cc_service), "%s-cruise-control", name);
	c->controller = -1;
	c->running_task = -1;
	c->move_s = KK_DEFAULT_MOVE_S;
	c->proposal_s = KK_DEFAULT_PROPOSAL_S;
	for (int i = 0; i < KK_MAX_BROKERS; i++)
		c->brokers[i].state_override = -1;
	m->clusters[m->nclusters++] = c;
	model_register(m, ns, "services", c->cc_service, KK_CC_PORT, kk_cc_handler);
	return c;
}

static void cluster_drop(struct ks_kafka_model *m, struct kk_cluster *c)
{
	for (int i = 0; i < m->nclusters; i++)
		if (m->clusters[i] == c) {
			m->clusters[i] = m->clusters[--m->nclusters];
			break;
		}
	cluster_free(c);
}

/* "name:partitions:rf:minisr,..." (missing fields take the defaults). */
static void parse_topics(struct kk_cluster *c, const char *spec, int dparts, int drf,
	int dmin)
{
	c->ntopics = 0;
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", spec ? spec : "");
	char *save = NULL;
	for (char *t = strtok_r(buf, ", ", &save); t && c->ntopics < KK_MAX_TOPICS;
	     t = strtok_r(NULL, ", ", &save)) {
		struct kk_topic *tp = &c->topics[c->ntopics];
		char *f[4] = {0};
		int nf = 0;
		char *s2 = NULL;
		for (char *x = strtok_r(t, ":", &s2); x && nf < 4; x = strtok_r(NULL, ":", &s2))
			f[nf++] = x;
		if (!f[0] || !*f[0])
			continue;
		snprintf(tp->name, sizeof(tp->name), "%s", f[0]);
		tp->partitions = f[1] ? atoi(f[1]) : dparts;
		tp->rf = f[2] ? atoi(f[2]) : drf;
		tp->min_isr = f[3] ? atoi(f[3]) : dmin;
		if (tp->partitions < 1)
			tp->partitions = 1;
		if (tp->rf < 1)
			tp->rf = 1;
		if (tp->min_isr < 1)
			tp->min_isr = 1;
		c->ntopics++;
	}
	if (c->ntopics == 0) {
		for (int i = 0; i < 3; i++) {
			struct kk_topic *tp = &c->topics[c->ntopics++];
			snprintf(tp->name, sizeof(tp->name), "topic-%d", i);
			tp->partitions = dparts;
			tp->rf = drf;
			tp->min_isr = dmin;
		}
	}
}

/* Default partitions, replication factor and min.insync.replicas from a
 * server.properties in a ConfigMap the StatefulSet's pods mount. */
static void read_broker_config(struct ks_store *store, const cJSON *sts, int *parts, int *rf,
	int *min_isr)
{
	const cJSON *vols = ks_ctl_at(sts, "spec", "template", "spec", "volumes", NULL);
	const struct ks_resource_type *cmt = ks_store_type_find(store, "", "configmaps");
	const cJSON *v;
	cJSON_ArrayForEach(v, vols) {
		const char *cm_name = ks_ctl_str(ks_ctl_at(v, "configMap", "name", NULL));
		if (!cm_name || !cmt)
			continue;
		cJSON *cm = NULL;
		if (ks_store_get(store, cmt, ks_meta_string(sts, "namespace"), cm_name, &cm))
			continue;
		const cJSON *d;
		cJSON_ArrayForEach(d, ks_ctl_at(cm, "data", NULL)) {
			const char *text = ks_ctl_str(d);
			size_t kl = strlen(d->string);
			if (!text || kl < 11 || strcmp(d->string + kl - 11, ".properties"))
				continue;
			const char *line = text;
			while (line && *line) {
				const char *nl = strchr(line, '\n');
				size_t len = nl ? (size_t)(nl - line) : strlen(line);
				char l[256];
				if (len < sizeof(l)) {
					memcpy(l, line, len);
					l[len] = 0;
					if (!strncmp(l, "num.partitions=", 15))
						*parts = atoi(l + 15);
					else if (!strncmp(l, "default.replication.factor=", 27))
						*rf = atoi(l + 27);
					else if (!strncmp(l, "min.insync.replicas=", 20))
						*min_isr = atoi(l + 20);
				}
				line = nl ? nl + 1 : NULL;
			}
		}
		cJSON_Delete(cm);
	}
}

/* All expected brokers are up for the first time: create the topics, every
 * replica in sync, leaders on the preferred (first) replicas. */
static void cluster_form(struct ks_kafka_model *m, struct kk_cluster *c, double now)
{
	int parts = 6, rf = 3, min_isr = 2;
	if (c->have_sts) {
		const struct ks_resource_type *st = ks_store_type_find(m->store, "apps",
			"statefulsets");
		cJSON *sts = NULL;
		if (st && ks_store_get(m->store, st, c->ns, c->name, &sts) == 0) {
			read_broker_config(m->store, sts, &parts, &rf, &min_isr);
			cJSON_Delete(sts);
		}
	}
	parse_topics(c, c->topics_spec, parts, rf, min_isr);
	int n = c->expected;
	int total = 0;
	for (int t = 0; t < c->ntopics; t++) {
		if (c->topics[t].rf > n)
			c->topics[t].rf = n;
		if (c->topics[t].rf > KK_MAX_RF)
			c->topics[t].rf = KK_MAX_RF;
		if (total + c->topics[t].partitions > KK_MAX_PARTITIONS)
			c->topics[t].partitions = KK_MAX_PARTITIONS - total;
		total += c->topics[t].partitions;
	}
	free(c->parts);
	c->parts = calloc((size_t)(total ? total : 1), sizeof(*c->parts));
	if (!c->parts)
		return;
	c->nparts = 0;
	int start = 0;
	for (int t = 0; t < c->ntopics; t++) {
		for (int i = 0; i < c->topics[t].partitions; i++) {
			struct kk_partition *p = &c->parts[c->nparts++];
			p->topic = t;
			p->index = i;
			p->nrep = c->topics[t].rf;
			for (int r = 0; r < p->nrep; r++) {
				p->replicas[r] = (start + i + r) % n;
				p->isr |= 1ull << p->replicas[r];
			}
			p->leader = p->replicas[0];
		}
		start += c->topics[t].partitions;
	}
	c->formed = true;
	kk_cluster_settle(c, now);
}

static int brokers_up(const struct kk_cluster *c)
{
	int n = 0;
	for (int i = 0; i < KK_MAX_BROKERS; i++)
		n += c->brokers[i].up;
	return n;
}

void kk_cluster_settle(struct kk_cluster *c, double now)
{
	(void)now;
	/* KRaft, combined mode: the voters are the expected brokers; a
	 * controller exists while a majority of them is up. The active one
	 * stays until it goes down (elections are not re-run when a lower id
	 * returns). */
	int voters = c->expected > 0 ? c->expected : 1;
	int up_voters = 0, lowest = -1;
	for (int i = 0; i < KK_MAX_BROKERS && i < voters; i++)
		if (c->brokers[i].up) {
			up_voters++;
			if (lowest < 0)
				lowest = i;
		}
	if (up_voters * 2 <= voters)
		c->controller = -1;
	else if (c->controller < 0 || c->controller >= voters || !c->brokers[c->controller].up)
		c->controller = lowest;

	if (!c->formed)
		return;
	int down = 0;
	for (int i = 0; i < c->expected && i < KK_MAX_BROKERS; i++)
		if (c->brokers[i].registered && !c->brokers[i].up)
			down++;
	if (down >= 2 && !c->flag_two_down)
		ks_violation_record("kafka", c->name,
			"%s/%s: %d brokers down at once (at most one may be down)", c->ns,
			c->name, down);
	c->flag_two_down = down >= 2;

	for (int i = 0; i < c->nparts; i++) {
		struct kk_partition *p = &c->parts[i];
		if (p->leader < 0)
			p->leader = elect_leader(c, p);
		/* Caught-up brokers follow every partition that has a leader
		 * (also one that just came back online). */
		for (int r = 0; p->leader >= 0 && r < p->nrep; r++)
			if (c->brokers[p->replicas[r]].in_service)
				p->isr |= 1ull << p->replicas[r];
		bool offline = p->leader < 0;
		int isr = kk_isr_count(p);
		bool under_min = isr < part_min_isr(c, p);
		if (offline && !p->flag_offline)
			ks_violation_record("kafka", c->name,
				"%s/%s: partition %s-%d offline (no leader; replicas %d, in sync %d)",
				c->ns, c->name, topic_name(c, p), p->index, p->nrep, isr);
		if (under_min && !p->flag_under_min)
			ks_violation_record("kafka", c->name,
				"%s/%s: partition %s-%d below min.insync.replicas (%d in sync, min %d)",
				c->ns, c->name, topic_name(c, p), p->index, isr,
				part_min_isr(c, p));
		p->flag_offline = offline;
		p->flag_under_min = under_min;
	}
}

/* The broker stopped serving: out of every ISR (the last member stays, as
 * in Kafka, and the partition goes offline), leadership moves. */
static void broker_down(struct kk_cluster *c, int id, double now)
{
	struct kk_broker *b = &c->brokers[id];
	b->up = false;
	b->in_service = false;
	for (int i = 0; i < c->nparts; i++) {
		struct kk_partition *p = &c->parts[i];
		if (kk_in_isr(p, id) && kk_isr_count(p) > 1)
			p->isr &= ~(1ull << id);
		if (p->leader == id)
			p->leader = elect_leader(c, p);
	}
	kk_cluster_settle(c, now);
}

static void broker_rejoin(struct kk_cluster *c, int id, double now);

static void broker_up(struct ks_kafka_model *m, struct kk_cluster *c, int id, double now)
{
	struct kk_broker *b = &c->brokers[id];
	b->up = true;
	b->registered = true;
	if (c->formed) {
		/* It still holds what it had: partitions that went offline with
		 * it as the last in-sync replica come back at once; the rest
		 * waits for the catch-up time. */
		b->in_service = false;
		b->catchup_at = now + b->catchup_s;
		for (int i = 0; i < c->nparts; i++)
			if (c->parts[i].leader < 0 && kk_in_isr(&c->parts[i], id))
				c->parts[i].leader = id;
		if (b->catchup_s <= 0) {
			broker_rejoin(c, id, now);
			return;
		}
	} else {
		b->in_service = true;
		b->catchup_at = 0;
	}
	kk_cluster_settle(c, now);
	if (!c->formed) {
		bool all = c->expected > 0;
		for (int i = 0; i < c->expected && i < KK_MAX_BROKERS; i++)
			all = all && c->brokers[i].up;
		if (all)
			cluster_form(m, c, now);
	}
}

/* Caught up: back into the ISR of every partition it replicates (those
 * with a leader to fetch from), then preferred-leader election. */
static void broker_rejoin(struct kk_cluster *c, int id, double now)
{
	struct kk_broker *b = &c->brokers[id];
	b->in_service = true;
	b->catchup_at = 0;
	kk_cluster_settle(c, now); /* back into the ISRs */
	for (int i = 0; i < c->nparts; i++) {
		struct kk_partition *p = &c->parts[i];
		if (p->nrep > 0 && p->replicas[0] == id && kk_in_isr(p, id))
			p->leader = id;
	}
	kk_cluster_settle(c, now);
}

/* A broker's pod starts terminating (or vanishes): judge the deletion. */
static void broker_deleting(struct kk_cluster *c, int id)
{
	if (!c->formed)
		return;
	char obj[2 * KK_NAME + 8];
	snprintf(obj, sizeof(obj), "%s/%s", c->ns, c->brokers[id].pod);
	bool removed = id >= c->expected;
	if (removed) {
		int held = 0;
		for (int i = 0; i < c->nparts; i++)
			held += kk_hosts(&c->parts[i], id);
		if (held)
			ks_violation_record("kafka", obj,
				"broker %d removed (scale-down) while it still held %d partition "
				"replicas", id, held);
		return;
	}
	for (int i = 0; i < c->expected && i < KK_MAX_BROKERS; i++) {
		if (i == id)
			continue;
		const struct kk_broker *o = &c->brokers[i];
		if (!o->up)
			ks_violation_record("kafka", obj,
				"broker %d deleted while broker %d was not ready", id, i);
	}
	/* Partitions short of a replica other than the deleted broker itself
	 * (a broker already down may be replaced: it is its own gap). */
	int urp = 0;
	for (int i = 0; i < c->nparts; i++) {
		const struct kk_partition *p = &c->parts[i];
		for (int r = 0; r < p->nrep; r++)
			if (p->replicas[r] != id && !kk_in_isr(p, p->replicas[r])) {
				urp++;
				break;
			}
	}
	if (urp)
		ks_violation_record("kafka", obj,
			"broker %d deleted while %d partitions were under-replicated", id, urp);
}

/* ---------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------- */

static bool is_broker_pod(const cJSON *pod)
{
	const char *model = ks_ctl_label(pod, LABEL_MODEL);
	if (model)
		return !strcmp(model, "kafka");
	const char *app = ks_ctl_label(pod, LABEL_APP_NAME);
	return app && !strcmp(app, "kafka") && ks_ctl_controller_ref(pod);
}

/* Cluster name and broker id of a broker pod; false when it has none. */
static bool pod_identity(const cJSON *pod, char *cluster, size_t size, int *id)
{
	const char *name = ks_meta_string(pod, "name");
	if (!name)
		return false;
	const char *dash = strrchr(name, '-');
	if (!dash || !dash[1])
		return false;
	char *end;
	long ord = strtol(dash + 1, &end, 10);
	if (*end || ord < 0 || ord >= KK_MAX_BROKERS)
		return false;
	*id = (int)ord;
	const char *label = ks_ctl_label(pod, LABEL_CLUSTER);
	const cJSON *ref = ks_ctl_controller_ref(pod);
	const char *kind = ref ? ks_ctl_str(cJSON_GetObjectItemCaseSensitive(ref, "kind")) : NULL;
	const char *owner = ref ? ks_ctl_str(cJSON_GetObjectItemCaseSensitive(ref, "name")) : NULL;
	if (label)
		snprintf(cluster, size, "%s", label);
	else if (kind && owner && !strcmp(kind, "StatefulSet"))
		snprintf(cluster, size, "%s", owner);
	else
		snprintf(cluster, size, "%.*s", (int)(dash - name), name);
	return true;
}

static int pod_metrics_port(const cJSON *pod)
{
	const cJSON *ctrs = ks_ctl_at(pod, "spec", "containers", NULL);
	const cJSON *ct;
	cJSON_ArrayForEach(ct, ctrs) {
		const cJSON *port;
		cJSON_ArrayForEach(port, cJSON_GetObjectItemCaseSensitive(ct, "ports")) {
			const char *pn = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(port, "name"));
			if (pn && !strcmp(pn, "metrics"))
				return (int)ks_ctl_num(
					cJSON_GetObjectItemCaseSensitive(port, "containerPort"),
					KK_DEFAULT_METRICS_PORT);
		}
	}
	return KK_DEFAULT_METRICS_PORT;
}

/* A container waiting (CrashLoopBackOff, ...) runs no JVM: no exporter. */
static bool container_waiting(const cJSON *pod)
{
	const cJSON *cs;
	cJSON_ArrayForEach(cs, ks_ctl_at(pod, "status", "containerStatuses", NULL))
		if (ks_ctl_at(cs, "state", "waiting", NULL))
			return true;
	return false;
}

static void update_expected(struct kk_cluster *c)
{
	if (c->have_sts)
		return;
	int n = 0;
	for (int i = 0; i < KK_MAX_BROKERS; i++)
		if (c->brokers[i].exists)
			n = i + 1;
	if (!c->formed || n > c->expected)
		c->expected = n;
}

static void on_pod(struct ks_kafka_model *m, const struct ks_event *ev, double now)
{
	const cJSON *pod = ev->object;
	if (!is_broker_pod(pod))
		return;
	char cname[KK_NAME];
	int id;
	if (!pod_identity(pod, cname, sizeof(cname), &id))
		return;
	const char *ns = ks_meta_string(pod, "namespace");
	const char *uid = ks_meta_string(pod, "uid");
	if (!ns || !uid)
		return;
	bool terminating = ks_ctl_terminating(pod) || ev->type == KS_EVENT_DELETED;
	struct kk_cluster *c = kk_cluster_find(m, ns, cname);
	if (!c) {
		if (terminating)
			return; /* leftovers of a cluster we dropped */
		if (!(c = cluster_get(m, ns, cname)))
			return;
	}
	struct kk_broker *b = &c->brokers[id];
	if (b->exists && strcmp(b->uid, uid)) {
		/* The end of an older pod than the one tracked: nothing to do. */
		if (terminating)
			return;
		/* A pod we missed the end of (should not happen with ordered
		 * events): close the old one first. */
		if (b->up)
			broker_down(c, id, now);
		b->exists = false;
		b->terminating = false;
	}
	if (ev->type == KS_EVENT_DELETED && !b->exists)
		return;
	if (!b->exists) {
		b->exists = true;
		b->terminating = false;
		snprintf(b->uid, sizeof(b->uid), "%s", uid);
		snprintf(b->pod, sizeof(b->pod), "%s", ks_meta_string(pod, "name"));
		b->metrics_port = pod_metrics_port(pod);
		model_register(m, ns, "pods", "", b->metrics_port, kk_metrics_handler);
		update_expected(c);
	}
	const char *cu = ks_ctl_annotation(pod, ANN_CATCHUP);
	b->catchup_s = cu ? atof(cu) / 1000.0 : KK_DEFAULT_CATCHUP_S;
	const char *bs = ks_ctl_annotation(pod, ANN_BROKER_STATE);
	b->state_override = bs ? atoi(bs) : -1;

	if (terminating && !b->terminating) {
		b->terminating = true;
		broker_deleting(c, id);
	}
	const char *phase = ks_ctl_pod_phase(pod);
	b->running = !terminating && phase && !strcmp(phase, "Running") && !container_waiting(pod);
	bool up = b->running && ks_ctl_pod_ready(pod);
	if (b->up && !up)
		broker_down(c, id, now);
	else if (!b->up && up)
		broker_up(m, c, id, now);

	if (ev->type == KS_EVENT_DELETED) {
		b->exists = false;
		b->terminating = false;
		b->running = false;
		if (id >= c->expected)
			b->registered = false; /* removed for good */
		update_expected(c);
		kk_cluster_settle(c, now);
	}
}

static void on_sts(struct ks_kafka_model *m, const struct ks_event *ev, double now)
{
	const cJSON *sts = ev->object;
	const char *ns = ks_meta_string(sts, "namespace");
	const char *name = ks_meta_string(sts, "name");
	if (!ns || !name)
		return;
	const cJSON *labels = ks_ctl_at(sts, "spec", "template", "metadata", "labels", NULL);
	const char *model = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(labels, LABEL_MODEL));
	const char *app = ks_ctl_str(cJSON_GetObjectItemCaseSensitive(labels, LABEL_APP_NAME));
	const char *label_cluster = ks_ctl_str(
		cJSON_GetObjectItemCaseSensitive(labels, LABEL_CLUSTER));
	bool kafka = model ? !strcmp(model, "kafka") : (app && !strcmp(app, "kafka"));
	if (!kafka)
		return;
	const char *cname = label_cluster ? label_cluster : name;
	if (ev->type == KS_EVENT_DELETED) {
		/* The whole cluster goes away: that is not a scale-down. */
		struct kk_cluster *c = kk_cluster_find(m, ns, cname);
		if (c)
			cluster_drop(m, c);
		return;
	}
	struct kk_cluster *c = cluster_get(m, ns, cname);
	if (!c)
		return;
	const char *uid = ks_meta_string(sts, "uid");
	if (c->have_sts && uid && strcmp(c->sts_uid, uid)) {
		/* Same name, new StatefulSet: start over. */
		cluster_drop(m, c);
		if (!(c = cluster_get(m, ns, cname)))
			return;
	}
	c->have_sts = true;
	snprintf(c->sts_uid, sizeof(c->sts_uid), "%s", uid ? uid : "");
	long long replicas = ks_ctl_num(ks_ctl_at(sts, "spec", "replicas", NULL), 1);
	if (replicas < 0)
		replicas = 0;
	if (replicas > KK_MAX_BROKERS)
		replicas = KK_MAX_BROKERS;
	c->expected = (int)replicas;
	const char *topics = ks_ctl_annotation(sts, ANN_TOPICS);
	snprintf(c->topics_spec, sizeof(c->topics_spec), "%s", topics ? topics : "");
	const char *mv = ks_ctl_annotation(sts, ANN_MOVE);
	c->move_s = mv ? atof(mv) / 1000.0 : KK_DEFAULT_MOVE_S;
	const char *pr = ks_ctl_annotation(sts, ANN_PROPOSAL);
	c->proposal_s = pr ? atof(pr) / 1000.0 : KK_DEFAULT_PROPOSAL_S;
	const char *svc = ks_ctl_annotation(sts, ANN_CC_SERVICE);
	if (svc && *svc && strcmp(svc, c->cc_service)) {
		snprintf(c->cc_service, sizeof(c->cc_service), "%s", svc);
		model_register(m, ns, "services", c->cc_service, KK_CC_PORT, kk_cc_handler);
	}
	if (!c->formed) {
		bool all = c->expected > 0;
		for (int i = 0; i < c->expected; i++)
			all = all && c->brokers[i].up;
		if (all)
			cluster_form(m, c, now);
	}
	kk_cluster_settle(c, now);
}

static void model_event(struct ks_store *store, const struct ks_event *ev, void *payload)
{
	(void)store;
	struct ks_kafka_model *m = payload;
	double now = ks_clock_now();
	pthread_mutex_lock(&m->lock);
	if (!strcmp(ev->resource_type->resource, "pods"))
		on_pod(m, ev, now);
	else if (!strcmp(ev->resource_type->resource, "statefulsets"))
		on_sts(m, ev, now);
	pthread_mutex_unlock(&m->lock);
	ks_ctl_release_status();
}

/* Objects can vanish without a DELETED event (POST /_sim/reset re-lists
 * the store): drop clusters whose StatefulSet is gone and brokers whose
 * pod is gone, without judging them. Only what two audits a second apart
 * found missing counts, so an event still queued is never pre-empted. */
static void model_audit(struct ks_kafka_model *m, double now)
{
	const struct ks_resource_type *st = ks_store_type_find(m->store, "apps", "statefulsets");
	const struct ks_resource_type *pt = ks_store_type_find(m->store, "", "pods");
	for (int ci = 0; ci < m->nclusters; ci++) {
		struct kk_cluster *c = m->clusters[ci];
		cJSON *o = NULL;
		if (c->have_sts && st) {
			bool gone = ks_store_get(m->store, st, c->ns, c->name, &o) != 0;
			const char *uid = o ? ks_meta_string(o, "uid") : NULL;
			gone = gone || !uid || strcmp(uid, c->sts_uid);
			cJSON_Delete(o);
			o = NULL;
			c->missing_audits = gone ? c->missing_audits + 1 : 0;
			if (c->missing_audits >= 2) {
				cluster_drop(m, c);
				ci--;
				continue;
			}
		}
		for (int i = 0; pt && i < KK_MAX_BROKERS; i++) {
			struct kk_broker *b = &c->brokers[i];
			if (!b->exists)
				continue;
			bool gone = ks_store_get(m->store, pt, c->ns, b->pod, &o) != 0;
			const char *uid = o ? ks_meta_string(o, "uid") : NULL;
			gone = gone || !uid || strcmp(uid, b->uid);
			cJSON_Delete(o);
			o = NULL;
			b->missing_audits = gone ? b->missing_audits + 1 : 0;
			if (b->missing_audits < 2)
				continue;
			b->missing_audits = 0;
			b->exists = false;
			b->terminating = false;
			b->running = false;
			if (b->up) {
				b->up = false;
				b->in_service = false;
				for (int k = 0; k < c->nparts; k++) {
					struct kk_partition *p = &c->parts[k];
					if (kk_in_isr(p, i) && kk_isr_count(p) > 1)
						p->isr &= ~(1ull << i);
					if (p->leader == i)
						p->leader = elect_leader(c, p);
				}
			}
		}
		(void)now;
	}
}

static void model_tick(struct ks_store *store, void *payload)
{
	(void)store;
	struct ks_kafka_model *m = payload;
	double now = ks_clock_now();
	pthread_mutex_lock(&m->lock);
	if (++m->ticks % 100 == 0)
		model_audit(m, now);
	for (int ci = 0; ci < m->nclusters; ci++) {
		struct kk_cluster *c = m->clusters[ci];
		for (int i = 0; i < KK_MAX_BROKERS; i++) {
			struct kk_broker *b = &c->brokers[i];
			if (b->up && !b->in_service && c->formed && now >= b->catchup_at)
				broker_rejoin(c, i, now);
		}
		kk_cc_tick(c, now);
	}
	pthread_mutex_unlock(&m->lock);
	ks_ctl_release_status();
}

/* ---------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------- */

static const char *const model_resources[] = {"/pods", "apps/statefulsets", NULL};

int ks_kafka_model_start(struct ks_store *store, struct ks_kafka_model **out)
{
	*out = NULL;
	struct ks_kafka_model *m = calloc(1, sizeof(*m));
	if (!m)
		return keelson_error_set(KEELSON_ENOMEM, "kafka model: out of memory");
	m->store = store;
	pthread_mutex_init(&m->lock, NULL);
	struct ks_controller_def def = {
		.version = KS_CONTROLLER_DEF_VERSION,
		.name = "kafka-model",
		.resources = model_resources,
		.on_event = model_event,
		.tick_ms = 10,
		.on_tick = model_tick,
	};
	int rc = ks_controller_start(store, &def, m, &m->controller);
	if (rc) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return keelson_error_wrap(rc, "kafka model: starting its controller");
	}
	*out = m;
	return 0;
}

void ks_kafka_model_stop(struct ks_kafka_model *m)
{
	if (!m)
		return;
	ks_controller_stop(m->controller);
	ks_proxy_unregister(kk_metrics_handler, m);
	ks_proxy_unregister(kk_cc_handler, m);
	for (int i = 0; i < m->nclusters; i++)
		cluster_free(m->clusters[i]);
	free(m->clusters);
	free(m->regs);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int ks_kafka_model_sync(struct ks_kafka_model *m, int timeout_ms)
{
	return ks_controller_sync(m->controller, timeout_ms);
}

int ks_kafka_model_summary(struct ks_kafka_model *m, const char *ns, const char *name,
	struct ks_kafka_cluster_summary *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->lock);
	struct kk_cluster *c = kk_cluster_find(m, ns, name);
	if (!c) {
		pthread_mutex_unlock(&m->lock);
		return keelson_error_set(KEELSON_ENOTFOUND,
			"kafka model: no cluster %s/%s (no broker pod seen with that cluster)", ns,
			name);
	}
	out->formed = c->formed;
	out->brokers_up = brokers_up(c);
	out->controller = c->controller;
	out->partitions = c->nparts;
	for (int i = 0; i < c->nparts; i++) {
		const struct kk_partition *p = &c->parts[i];
		int isr = kk_isr_count(p);
		out->under_replicated += isr < p->nrep;
		out->under_min_isr += isr < part_min_isr(c, p);
		out->offline += p->leader < 0;
		for (int r = 0; r < p->nrep; r++)
			out->replicas_on[p->replicas[r]]++;
	}
	out->task_running = c->running_task >= 0;
	pthread_mutex_unlock(&m->lock);
	return 0;
}
