/*
 * Leader election with a coordination.k8s.io/v1 Lease (see election.h).
 * Follows client-go's leaderelection.go: tryAcquireOrRenew, the observed
 * record and observedTime, the step-down at renewDeadline and release.
 */
#include "config.h"

#include "election/election.h"

#include "config/config.h"
#include "core/error.h"
#include "core/log.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "metrics/metrics.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IDENTITY_MAX 254
#define LEASE_API "coordination.k8s.io/v1"

struct keelson_election {
	struct keelson_kube_client *client;
	struct keelson_kube_client *owned_client; /* from keelson_election_from_config */
	char *ns, *name, *identity, *lease; /* lease: "ns/name" */
	char *object_path, *collection_path;
	unsigned long long lease_ms, deadline_ms, retry_ms;
	long long (*monotonic_ms)(void *clock);
	long long (*wall_us)(void *clock);
	void *clock;
	void (*on_change)(bool leading, void *payload);
	void *payload;
	struct keelson_metric *gauge;

	/* Touched only by whoever runs keelson_election_step (the thread, or
	 * a test) and by release after the thread stopped. */
	cJSON *last_lease;       /* the Lease as last read or written */
	char *observed_spec;     /* its spec, printed, to notice changes */
	long long observed_ms;   /* monotonic time the record last changed */

	/* Shared with readers (is_leader, holder). */
	pthread_mutex_t mu;
	bool leading;
	long long renewed_ms;    /* start of the last successful attempt */
	char holder[IDENTITY_MAX + 1];
	char last_error[300];    /* logged at warn once, then at debug */

	pthread_t thread;
	bool thread_started;
	pthread_cond_t wake;
	bool stop_thread;        /* under mu */
};

static long long system_monotonic_ms(void *clock)
{
	(void)clock;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long system_wall_us(void *clock)
{
	(void)clock;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void keelson_election_options_init(struct keelson_election_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->version = KEELSON_ELECTION_OPTIONS_VERSION;
}

void keelson_election_default_identity(char *buf, unsigned long size)
{
	const char *pod = getenv("POD_NAME");
	if (pod != NULL && pod[0] != '\0') {
		snprintf(buf, size, "%s", pod);
		return;
	}
	char host[256];
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, size, "%s_%ld", host, (long)getpid());
}

void keelson_election_format_microtime(char *buf, unsigned long size, long long wall_us)
{
	time_t secs = (time_t)(wall_us / 1000000);
	long long micros = wall_us % 1000000;
	struct tm tm;
	gmtime_r(&secs, &tm);
	char base[24];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%06lldZ", base, micros);
}

/* A DNS-1123 subdomain, as Kubernetes requires of namespace and Lease names. */
static bool dns_subdomain(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && !((c == '-' || c == '.') && i > 0 && i + 1 < n))
			return false;
	}
	return true;
}

static void set_gauge(struct keelson_election *e, bool leading)
{
	if (e->gauge == NULL)
		return;
	const char *values[] = {e->lease, e->identity};
	keelson_metric_set(e->gauge, values, leading ? 1 : 0);
}

int keelson_election_new(struct keelson_election **out, struct keelson_kube_client *client,
			 const struct keelson_election_options *opts)
{
	*out = NULL;
	if (opts == NULL || opts->version != KEELSON_ELECTION_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID, "leader election: options version mismatch");
	if (client == NULL)
		return keelson_error_set(KEELSON_EINVALID, "leader election: no Kubernetes client");
	const char *name = opts->lease_name ? opts->lease_name : KEELSON_ELECTION_DEFAULT_NAME;
	if (opts->lease_namespace == NULL || !dns_subdomain(opts->lease_namespace))
		return keelson_error_set(KEELSON_EINVALID,
					 "leader election: lease namespace \"%s\" is not a valid namespace name",
					 opts->lease_namespace ? opts->lease_namespace : "");
	if (!dns_subdomain(name))
		return keelson_error_set(KEELSON_EINVALID,
					 "leader election: lease name \"%s\" is not a DNS subdomain (lowercase letters, "
					 "digits, '-' and '.')",
					 name);
	unsigned long long lease = opts->lease_duration_ms ? opts->lease_duration_ms : KEELSON_ELECTION_DEFAULT_LEASE_MS;
	unsigned long long deadline =
		opts->renew_deadline_ms ? opts->renew_deadline_ms : KEELSON_ELECTION_DEFAULT_RENEW_DEADLINE_MS;
	unsigned long long retry = opts->retry_period_ms ? opts->retry_period_ms : KEELSON_ELECTION_DEFAULT_RETRY_PERIOD_MS;
	if (lease % 1000 != 0 || lease > 3600000ULL)
		return keelson_error_set(KEELSON_EINVALID,
					 "leader election: leaseDuration %llums must be whole seconds, at most 1h "
					 "(the Lease stores leaseDurationSeconds)",
					 lease);
	/* client-go's checks: the leader must give up before its lease can
	 * expire, and retry often enough to renew before giving up. */
	if (lease <= deadline)
		return keelson_error_set(KEELSON_EINVALID,
					 "leader election: leaseDuration (%llums) must be longer than renewDeadline (%llums)",
					 lease, deadline);
	if (deadline * 10 <= retry * 12)
		return keelson_error_set(KEELSON_EINVALID,
					 "leader election: renewDeadline (%llums) must be longer than 1.2 x retryPeriod "
					 "(%llums)",
					 deadline, retry);
	char identity[IDENTITY_MAX + 1];
	if (opts->identity != NULL)
		snprintf(identity, sizeof(identity), "%s", opts->identity);
	else
		keelson_election_default_identity(identity, sizeof(identity));
	if (identity[0] == '\0')
		return keelson_error_set(KEELSON_EINVALID, "leader election: empty identity");

	struct keelson_election *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	e->client = client;
	e->lease_ms = lease;
	e->deadline_ms = deadline;
	e->retry_ms = retry;
	e->monotonic_ms = opts->monotonic_ms ? opts->monotonic_ms : system_monotonic_ms;
	e->wall_us = opts->wall_us ? opts->wall_us : system_wall_us;
	e->clock = opts->clock;
	e->on_change = opts->on_change;
	e->payload = opts->payload;
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->wake, &ca);
	pthread_condattr_destroy(&ca);
	e->ns = strdup(opts->lease_namespace);
	e->name = strdup(name);
	e->identity = strdup(identity);
	size_t lease_len = strlen(opts->lease_namespace) + strlen(name) + 2;
	size_t path_len = strlen(opts->lease_namespace) + strlen(name) + 64;
	e->lease = malloc(lease_len);
	e->object_path = malloc(path_len);
	e->collection_path = malloc(path_len);
	if (e->ns == NULL || e->name == NULL || e->identity == NULL || e->lease == NULL || e->object_path == NULL ||
	    e->collection_path == NULL) {
		keelson_election_free(e);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	snprintf(e->lease, lease_len, "%s/%s", e->ns, e->name);
	snprintf(e->collection_path, path_len, "/apis/" LEASE_API "/namespaces/%s/leases", e->ns);
	snprintf(e->object_path, path_len, "/apis/" LEASE_API "/namespaces/%s/leases/%s", e->ns, e->name);
	if (opts->metrics != NULL) {
		static const char *const labels[] = {"lease", "identity", NULL};
		if (keelson_metrics_gauge(&e->gauge, opts->metrics, "keelson_leader",
					  "1 while this process holds the leader-election Lease, else 0", labels) < 0) {
			keelson_log(KEELSON_LOG_WARN, "leader election: no keelson_leader gauge", "error",
				    keelson_error_last()->message, (const char *)NULL);
			e->gauge = NULL;
		}
		set_gauge(e, false);
	}
	*out = e;
	return 0;
}

void keelson_election_free(struct keelson_election *e)
{
	if (e == NULL)
		return;
	keelson_election_stop(e, false);
	cJSON_Delete(e->last_lease);
	free(e->observed_spec);
	free(e->ns);
	free(e->name);
	free(e->identity);
	free(e->lease);
	free(e->object_path);
	free(e->collection_path);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->wake);
	keelson_kube_client_free(e->owned_client);
	free(e);
}

const char *keelson_election_identity(const struct keelson_election *e)
{
	return e->identity;
}

const char *keelson_election_lease(const struct keelson_election *e)
{
	return e->lease;
}

void keelson_election_holder(const struct keelson_election *e, char *buf, unsigned long size)
{
	pthread_mutex_lock((pthread_mutex_t *)&e->mu);
	snprintf(buf, size, "%s", e->holder);
	pthread_mutex_unlock((pthread_mutex_t *)&e->mu);
}

/* --- requests -------------------------------------------------------------- */

/* Send `method` with `body` to `path`; *out is the Lease answered. */
static int lease_request(cJSON **out, struct keelson_election *e, const char *method, const char *path,
			 const char *body, long timeout_ms)
{
	struct keelson_kube_request req = {.version = KEELSON_KUBE_REQUEST_VERSION, .method = method, .path = path,
					   .body = body, .body_len = body ? strlen(body) : 0, .timeout_ms = timeout_ms};
	struct keelson_kube_response resp;
	memset(&resp, 0, sizeof(resp));
	*out = NULL;
	int rc = keelson_kube_request(&resp, e->client, &req);
	if (rc == 0) {
		if (resp.body_len > KEELSON_ELECTION_MAX_LEASE_BYTES)
			rc = keelson_error_set(KEELSON_ELIMIT, "%s %s: the Lease is %zu bytes; at most %u", method, path,
					       resp.body_len, KEELSON_ELECTION_MAX_LEASE_BYTES);
		else if ((*out = cJSON_ParseWithLength(resp.body, resp.body_len)) == NULL || !cJSON_IsObject(*out)) {
			cJSON_Delete(*out);
			*out = NULL;
			rc = keelson_error_set(KEELSON_EINVALID, "%s %s: the answer is not a JSON object", method, path);
		}
	}
	keelson_kube_response_dispose(&resp);
	return rc;
}

static const char *string_field(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double number_field(const cJSON *obj, const char *name, double fallback)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* Remember `lease` as the record last seen; restart the expiry clock when
 * its spec differs from the previous one (client-go's observedRawRecord). */
static int observe(struct keelson_election *e, cJSON *lease, long long now)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
	char *printed = spec ? cJSON_PrintUnformatted(spec) : strdup("{}");
	if (printed == NULL) {
		cJSON_Delete(lease);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	if (e->observed_spec == NULL || strcmp(printed, e->observed_spec) != 0) {
		free(e->observed_spec);
		e->observed_spec = printed;
		e->observed_ms = now;
	} else {
		free(printed);
	}
	cJSON_Delete(e->last_lease);
	e->last_lease = lease;
	const char *holder = spec ? string_field(spec, "holderIdentity") : NULL;
	if (holder == NULL)
		holder = "";
	pthread_mutex_lock(&e->mu);
	bool changed = strncmp(e->holder, holder, sizeof(e->holder)) != 0;
	if (changed)
		snprintf(e->holder, sizeof(e->holder), "%s", holder);
	pthread_mutex_unlock(&e->mu);
	if (changed && holder[0] != '\0' && strcmp(holder, e->identity) != 0)
		keelson_log(KEELSON_LOG_INFO, "leader election: lease held by another instance", "lease", e->lease,
			    "holder", holder, "identity", e->identity, (const char *)NULL);
	return 0;
}

static cJSON *make_spec(struct keelson_election *e, const char *holder, double duration_s, const char *acquire,
			const char *renew, double transitions)
{
	cJSON *spec = cJSON_CreateObject();
	if (spec == NULL)
		return NULL;
	if ((holder != NULL && cJSON_AddStringToObject(spec, "holderIdentity", holder) == NULL) ||
	    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", duration_s) == NULL ||
	    cJSON_AddStringToObject(spec, "acquireTime", acquire) == NULL ||
	    cJSON_AddStringToObject(spec, "renewTime", renew) == NULL ||
	    cJSON_AddNumberToObject(spec, "leaseTransitions", transitions) == NULL) {
		cJSON_Delete(spec);
		return NULL;
	}
	(void)e;
	return spec;
}

/* client-go's tryAcquireOrRenew. 1: we hold the Lease now; 0: someone
 * else does, or won the race (409); < 0: the request failed. */
static int try_acquire_or_renew(struct keelson_election *e, long long now, long timeout_ms)
{
	double lease_s = (double)(e->lease_ms / 1000);
	cJSON *lease = NULL, *written = NULL;
	char *body = NULL;
	int rc = lease_request(&lease, e, "GET", e->object_path, NULL, timeout_ms);
	/* Read between the GET and the write (tests use the clock callback to
	 * make another candidate write in that window). */
	char now_text[40];
	keelson_election_format_microtime(now_text, sizeof(now_text), e->wall_us(e->clock));
	if (rc == KEELSON_ENOTFOUND) {
		lease = cJSON_CreateObject();
		cJSON *meta = cJSON_CreateObject();
		cJSON *spec = make_spec(e, e->identity, lease_s, now_text, now_text, 0);
		if (lease == NULL || meta == NULL || spec == NULL) {
			cJSON_Delete(meta);
			cJSON_Delete(spec);
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto cleanup;
		}
		cJSON_AddStringToObject(lease, "apiVersion", LEASE_API);
		cJSON_AddStringToObject(lease, "kind", "Lease");
		cJSON_AddItemToObject(lease, "metadata", meta);
		cJSON_AddStringToObject(meta, "name", e->name);
		cJSON_AddStringToObject(meta, "namespace", e->ns);
		cJSON_AddItemToObject(lease, "spec", spec);
		if ((body = cJSON_PrintUnformatted(lease)) == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto cleanup;
		}
		rc = lease_request(&written, e, "POST", e->collection_path, body, timeout_ms);
		if (rc == KEELSON_EEXISTS || rc == KEELSON_ECONFLICT) {
			keelson_log(KEELSON_LOG_DEBUG, "leader election: another instance created the lease first", "lease",
				    e->lease, (const char *)NULL);
			rc = 0;
			goto cleanup;
		}
		if (rc < 0) {
			keelson_error_wrap(rc, "leader election: creating Lease %s", e->lease);
			goto cleanup;
		}
		if ((rc = observe(e, written, now)) < 0) {
			written = NULL;
			goto cleanup;
		}
		written = NULL;
		rc = 1;
		goto cleanup;
	}
	if (rc < 0) {
		keelson_error_wrap(rc, "leader election: reading Lease %s", e->lease);
		goto cleanup;
	}
	cJSON *old_spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(lease, "metadata");
	if (string_field(meta, "resourceVersion") == NULL) {
		rc = keelson_error_set(KEELSON_EINVALID, "leader election: Lease %s has no resourceVersion", e->lease);
		goto cleanup;
	}
	char old_holder[IDENTITY_MAX + 1];
	snprintf(old_holder, sizeof(old_holder), "%s",
		 old_spec && string_field(old_spec, "holderIdentity") ? string_field(old_spec, "holderIdentity") : "");
	bool ours = strcmp(old_holder, e->identity) == 0;
	double old_duration_s = old_spec ? number_field(old_spec, "leaseDurationSeconds", lease_s) : lease_s;
	double old_transitions = old_spec ? number_field(old_spec, "leaseTransitions", 0) : 0;
	char old_acquire[40];
	snprintf(old_acquire, sizeof(old_acquire), "%s",
		 old_spec && string_field(old_spec, "acquireTime") ? string_field(old_spec, "acquireTime") : now_text);
	/* observe() takes the object; keep a copy to write back. */
	cJSON *update = cJSON_Duplicate(lease, true);
	if (update == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = observe(e, lease, now);
	lease = update;
	if (rc < 0)
		goto cleanup;
	if (old_holder[0] != '\0' && !ours &&
	    e->observed_ms + (long long)(old_duration_s * 1000) > now) {
		rc = 0; /* held, and not expired as far as we have watched it */
		goto cleanup;
	}
	cJSON *spec = ours ? make_spec(e, e->identity, lease_s, old_acquire, now_text, old_transitions)
			   : make_spec(e, e->identity, lease_s, now_text, now_text, old_transitions + 1);
	if (spec == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "metadata"), "managedFields");
	if (cJSON_GetObjectItemCaseSensitive(lease, "spec") != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(lease, "spec", spec);
	else
		cJSON_AddItemToObject(lease, "spec", spec);
	if ((body = cJSON_PrintUnformatted(lease)) == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	/* PUT with the resourceVersion read: optimistic concurrency. */
	rc = lease_request(&written, e, "PUT", e->object_path, body, timeout_ms);
	if (rc == KEELSON_ECONFLICT) {
		keelson_log(KEELSON_LOG_DEBUG, "leader election: lost the race to update the lease (409)", "lease", e->lease,
			    "identity", e->identity, (const char *)NULL);
		rc = 0;
		goto cleanup;
	}
	if (rc < 0) {
		keelson_error_wrap(rc, "leader election: updating Lease %s", e->lease);
		goto cleanup;
	}
	rc = observe(e, written, now);
	written = NULL;
	if (rc == 0) {
		if (!ours)
			keelson_log(KEELSON_LOG_INFO, "leader election: acquired the lease", "lease", e->lease, "identity",
				    e->identity, "previousHolder", old_holder[0] ? old_holder : "(none)",
				    (const char *)NULL);
		rc = 1;
	}
cleanup:
	cJSON_Delete(lease);
	cJSON_Delete(written);
	free(body);
	return rc;
}

/* --- state machine ----------------------------------------------------------- */

static void announce(struct keelson_election *e, bool leading, const char *why)
{
	if (leading)
		keelson_log(KEELSON_LOG_INFO, "leader election: leading; this instance reconciles", "lease", e->lease,
			    "identity", e->identity, (const char *)NULL);
	else
		keelson_log(KEELSON_LOG_WARN, "leader election: stopped leading; standing by", "lease", e->lease,
			    "identity", e->identity, "reason", why, (const char *)NULL);
	set_gauge(e, leading);
	if (e->on_change != NULL)
		e->on_change(leading, e->payload);
}

int keelson_election_step(struct keelson_election *e)
{
	long long start = e->monotonic_ms(e->clock);
	pthread_mutex_lock(&e->mu);
	/* Past the deadline already (the process was frozen, or the last
	 * attempt took that long): stop acting before asking the server. */
	bool expired = e->leading && start - e->renewed_ms >= (long long)e->deadline_ms;
	if (expired)
		e->leading = false;
	pthread_mutex_unlock(&e->mu);
	if (expired) {
		char why[96];
		snprintf(why, sizeof(why), "no renewal within renewDeadline %llums", e->deadline_ms);
		announce(e, false, why);
	}
	pthread_mutex_lock(&e->mu);
	bool was_leading = e->leading;
	long long renewed = e->renewed_ms;
	pthread_mutex_unlock(&e->mu);
	/* A leader's attempt may not outlast its renew deadline. */
	long timeout = (long)e->deadline_ms;
	if (was_leading) {
		long long left = renewed + (long long)e->deadline_ms - start;
		timeout = left < 100 ? 100 : (long)left;
	}
	int rc = try_acquire_or_renew(e, start, timeout);
	int err = rc < 0 ? rc : 0;
	char why[300];
	why[0] = '\0';
	if (rc < 0)
		snprintf(why, sizeof(why), "%s", keelson_error_last()->message);
	long long now = e->monotonic_ms(e->clock);
	pthread_mutex_lock(&e->mu);
	bool held_by_other = e->holder[0] != '\0' && strcmp(e->holder, e->identity) != 0;
	if (rc == 1) {
		e->leading = true;
		e->renewed_ms = start;
	} else if (e->leading && rc == 0 && held_by_other) {
		e->leading = false;
		snprintf(why, sizeof(why), "the lease is held by %s", e->holder);
	} else if (e->leading && now - e->renewed_ms >= (long long)e->deadline_ms) {
		e->leading = false;
		char failed[200];
		snprintf(failed, sizeof(failed), "%s", why[0] ? why : "lost the race to update the lease");
		snprintf(why, sizeof(why), "no renewal within renewDeadline %llums (last: %s)", e->deadline_ms, failed);
	}
	bool leading = e->leading;
	pthread_mutex_unlock(&e->mu);
	if (rc < 0) {
		/* A standby that cannot read the Lease (no namespace, forbidden)
		 * says so once, not every retry period. */
		bool repeated = strcmp(e->last_error, keelson_error_last()->message) == 0;
		keelson_log(leading || !repeated ? KEELSON_LOG_WARN : KEELSON_LOG_DEBUG, "leader election: attempt failed",
			    "lease", e->lease, "identity", e->identity, "error", keelson_error_last()->message,
			    (const char *)NULL);
		snprintf(e->last_error, sizeof(e->last_error), "%s", keelson_error_last()->message);
	} else {
		e->last_error[0] = '\0';
	}
	if (leading != was_leading)
		announce(e, leading, why);
	if (err < 0) {
		keelson_error_set(err, "%s", why);
		return err;
	}
	return leading ? 1 : 0;
}

bool keelson_election_is_leader(struct keelson_election *e)
{
	long long now = e->monotonic_ms(e->clock);
	pthread_mutex_lock(&e->mu);
	bool leading = e->leading && now - e->renewed_ms < (long long)e->deadline_ms;
	pthread_mutex_unlock(&e->mu);
	return leading;
}

/* One release attempt: PUT e->last_lease with holder cleared and a 1 s
 * duration, using its resourceVersion. */
static int put_release(struct keelson_election *e, cJSON **written)
{
	const cJSON *old_spec = cJSON_GetObjectItemCaseSensitive(e->last_lease, "spec");
	char now_text[40];
	keelson_election_format_microtime(now_text, sizeof(now_text), e->wall_us(e->clock));
	cJSON *spec = make_spec(e, NULL, 1, now_text, now_text, number_field(old_spec, "leaseTransitions", 0));
	if (spec == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(e->last_lease, "metadata"),
						"managedFields");
	if (cJSON_GetObjectItemCaseSensitive(e->last_lease, "spec") != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(e->last_lease, "spec", spec);
	else
		cJSON_AddItemToObject(e->last_lease, "spec", spec);
	char *body = cJSON_PrintUnformatted(e->last_lease);
	if (body == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	int rc = lease_request(written, e, "PUT", e->object_path, body, (long)e->retry_ms);
	free(body);
	return rc;
}

static bool held_by_us(const struct keelson_election *e, const cJSON *lease)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
	const char *holder = spec ? string_field(spec, "holderIdentity") : NULL;
	return holder != NULL && strcmp(holder, e->identity) == 0;
}

int keelson_election_release(struct keelson_election *e)
{
	pthread_mutex_lock(&e->mu);
	bool was_leading = e->leading;
	e->leading = false;
	pthread_mutex_unlock(&e->mu);
	if (!was_leading || e->last_lease == NULL)
		return 0;
	announce(e, false, "released the lease (stopping)");
	if (!held_by_us(e, e->last_lease))
		return 0;
	cJSON *written = NULL;
	int rc = put_release(e, &written);
	if (rc == KEELSON_ECONFLICT) {
		/* The Lease changed since we last wrote it (a 409 never means
		 * success). Re-read it once: still ours, release that version;
		 * someone else's, there is nothing left to release. Without
		 * this a standby would wait out the whole lease duration. */
		cJSON *lease = NULL;
		rc = lease_request(&lease, e, "GET", e->object_path, NULL, (long)e->retry_ms);
		if (rc == 0) {
			bool ours = held_by_us(e, lease);
			const cJSON *spec = cJSON_GetObjectItemCaseSensitive(lease, "spec");
			char holder[IDENTITY_MAX + 1];
			snprintf(holder, sizeof(holder), "%s",
				 spec && string_field(spec, "holderIdentity") ? string_field(spec, "holderIdentity") : "");
			if ((rc = observe(e, lease, e->monotonic_ms(e->clock))) == 0 && !ours) {
				keelson_log(KEELSON_LOG_INFO, "leader election: the lease already has another holder; "
					    "nothing to release", "lease", e->lease, "holder", holder[0] ? holder : "(none)",
					    (const char *)NULL);
				return 0;
			}
			if (rc == 0)
				rc = put_release(e, &written);
		}
	}
	if (rc < 0) {
		keelson_error_wrap(rc, "leader election: releasing Lease %s", e->lease);
		keelson_log(KEELSON_LOG_WARN, "leader election: lease not released; a standby takes over when it expires",
			    "lease", e->lease, "error", keelson_error_last()->message, (const char *)NULL);
		return rc;
	}
	keelson_log(KEELSON_LOG_INFO, "leader election: lease released", "lease", e->lease, "identity", e->identity,
		    (const char *)NULL);
	return observe(e, written, e->monotonic_ms(e->clock));
}

/* --- thread ------------------------------------------------------------------ */

static void *elect_thread(void *arg)
{
	struct keelson_election *e = arg;
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (;;) {
		pthread_mutex_lock(&e->mu);
		bool stop = e->stop_thread;
		pthread_mutex_unlock(&e->mu);
		if (stop)
			break;
		keelson_election_step(e);
		/* client-go: a leader renews every retryPeriod; a candidate
		 * waits retryPeriod plus up to 1.2 x retryPeriod of jitter so
		 * candidates do not collide. */
		unsigned long long wait = e->retry_ms;
		if (!keelson_election_is_leader(e))
			wait += (unsigned long long)((double)e->retry_ms * 1.2 * ((double)rand_r(&seed) / RAND_MAX));
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)(wait / 1000);
		until.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&e->mu);
		while (!e->stop_thread && pthread_cond_timedwait(&e->wake, &e->mu, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&e->mu);
	}
	return NULL;
}

int keelson_election_start(struct keelson_election *e)
{
	if (e->thread_started)
		return 0;
	e->stop_thread = false;
	int err = pthread_create(&e->thread, NULL, elect_thread, e);
	if (err != 0)
		return keelson_error_set(KEELSON_ERROR, "leader election: cannot start its thread: %s", strerror(err));
	e->thread_started = true;
	keelson_log(KEELSON_LOG_INFO, "leader election: standing by until this instance holds the lease", "lease",
		    e->lease, "identity", e->identity, (const char *)NULL);
	return 0;
}

int keelson_election_stop(struct keelson_election *e, bool release)
{
	if (e == NULL)
		return 0;
	if (e->thread_started) {
		pthread_mutex_lock(&e->mu);
		e->stop_thread = true;
		pthread_cond_broadcast(&e->wake);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->thread, NULL);
		e->thread_started = false;
	}
	return release ? keelson_election_release(e) : 0;
}

bool keelson_election_wait_leader(struct keelson_election *e, long max_wait_ms, const volatile sig_atomic_t *stop)
{
	long long end = system_monotonic_ms(NULL) + max_wait_ms;
	while (!keelson_election_is_leader(e)) {
		if (stop != NULL && *stop)
			return false;
		long long left = end - system_monotonic_ms(NULL);
		if (left <= 0)
			return false;
		struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return true;
}

int keelson_election_from_config(struct keelson_election **out, const struct keelson_config *cfg,
				 void (*on_change)(bool leading, void *payload), void *payload,
				 struct keelson_metrics *metrics)
{
	*out = NULL;
	if (!cfg->leader_election)
		return 0;
	const struct keelson_config_cluster *cc =
		cfg->leader_election_cluster ? keelson_config_cluster(cfg, cfg->leader_election_cluster) : &cfg->clusters[0];
	if (cc == NULL)
		return keelson_error_set(KEELSON_EINVALID, "%s: leaderElection.cluster \"%s\" is not listed in clusters",
					 cfg->file, cfg->leader_election_cluster);
	struct keelson_kube_config *kc = NULL;
	struct keelson_kube_client *client = NULL;
	struct keelson_kube_config_options co;
	keelson_kube_config_options_init(&co);
	co.context = cc->context;
	int rc = cc->kubeconfig ? keelson_kube_config_load_file(&kc, cc->kubeconfig, &co)
				: keelson_kube_config_load_default(&kc, &co);
	if (rc < 0)
		return keelson_error_wrap(rc, "%s: leaderElection: cluster %s", cfg->file, cc->name);
	struct keelson_kube_client_options ko;
	keelson_kube_client_options_init(&ko);
	ko.max_retries = 0;
	ko.timeout_ms = (long)(cfg->leader_election_renew_ms ? cfg->leader_election_renew_ms
							      : KEELSON_ELECTION_DEFAULT_RENEW_DEADLINE_MS);
	rc = keelson_kube_client_new(&client, kc, &ko);
	keelson_kube_config_free(kc);
	if (rc < 0)
		return keelson_error_wrap(rc, "%s: leaderElection: cluster %s", cfg->file, cc->name);
	struct keelson_election_options o;
	keelson_election_options_init(&o);
	o.lease_namespace = cfg->leader_election_namespace ? cfg->leader_election_namespace : cfg->inventory_namespace;
	o.lease_name = cfg->leader_election_lease_name;
	o.identity = cfg->leader_election_identity;
	o.lease_duration_ms = cfg->leader_election_lease_ms;
	o.renew_deadline_ms = cfg->leader_election_renew_ms;
	o.retry_period_ms = cfg->leader_election_retry_ms;
	o.on_change = on_change;
	o.payload = payload;
	o.metrics = metrics;
	if ((rc = keelson_election_new(out, client, &o)) < 0) {
		keelson_kube_client_free(client);
		return keelson_error_wrap(rc, "%s", cfg->file);
	}
	(*out)->owned_client = client;
	return 0;
}
