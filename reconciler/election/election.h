/*
 * Leader election with a coordination.k8s.io/v1 Lease, with client-go's
 * semantics (k8s.io/client-go/tools/leaderelection):
 *
 *   - one attempt (keelson_election_step) reads the Lease and, when it is
 *     free, expired or already ours, writes it back with holderIdentity,
 *     acquireTime, renewTime (MicroTime) and leaseTransitions (incremented
 *     when the holder changes), using the resourceVersion read: a 409 means
 *     another candidate won the race;
 *   - expiry is judged on the local monotonic clock from when this process
 *     last saw the Lease record change (observedTime + leaseDurationSeconds),
 *     never from the timestamps another host wrote, so clock skew between
 *     hosts does not matter;
 *   - a leader renews every retry period; when no renewal succeeded for
 *     renew_deadline it steps down, before the lease (lease_duration >
 *     renew_deadline) can expire and let a standby take over;
 *   - on a clean stop the leader releases the Lease (client-go
 *     ReleaseOnCancel): holder cleared, leaseDurationSeconds 1, so a standby
 *     takes over at once.
 *
 * keelson_election_is_leader() is the fence the daemon checks before it
 * acts: it is true only while the last successful renewal is younger than
 * renew_deadline, whatever the background thread is doing (a request to a
 * hung API server cannot keep a stale leader acting).
 *
 * Time comes from the options' clock callbacks so tests can drive
 * expiry and renew deadlines without waiting.
 */
#ifndef KEELSON_ELECTION_ELECTION_H
#define KEELSON_ELECTION_ELECTION_H

#include <signal.h>
#include <stdbool.h>

struct keelson_kube_client;
struct keelson_metrics;
struct keelson_election;

/* client-go's defaults (LeaseDuration, RenewDeadline, RetryPeriod). */
#define KEELSON_ELECTION_DEFAULT_LEASE_MS 15000ULL
#define KEELSON_ELECTION_DEFAULT_RENEW_DEADLINE_MS 10000ULL
#define KEELSON_ELECTION_DEFAULT_RETRY_PERIOD_MS 2000ULL
#define KEELSON_ELECTION_DEFAULT_NAME "keelson"
/* Bound on a Lease body read from the server. */
#define KEELSON_ELECTION_MAX_LEASE_BYTES (64u * 1024u)

#define KEELSON_ELECTION_OPTIONS_VERSION 1

struct keelson_election_options {
	unsigned version;     /* KEELSON_ELECTION_OPTIONS_VERSION */
	const char *lease_namespace; /* required */
	const char *lease_name;      /* NULL: "keelson" */
	const char *identity;        /* NULL: $POD_NAME, else HOSTNAME_PID */
	unsigned long long lease_duration_ms; /* 0: 15 s; written in whole seconds */
	unsigned long long renew_deadline_ms; /* 0: 10 s */
	unsigned long long retry_period_ms;   /* 0: 2 s */
	/* Monotonic milliseconds (expiry, deadlines) and wall-clock
	 * microseconds since the epoch (the MicroTime fields); NULL: the
	 * system clocks. `clock` is passed to both. */
	long long (*monotonic_ms)(void *clock);
	long long (*wall_us)(void *clock);
	void *clock;
	/* Called on the electing thread when this process starts or stops
	 * leading (after the log line). May be NULL. */
	void (*on_change)(bool leading, void *payload);
	void *payload;
	/* Gauge keelson_leader{lease="NS/NAME",identity=ID} (1 leading, 0 not)
	 * is registered here; NULL: no metric. */
	struct keelson_metrics *metrics;
};

void keelson_election_options_init(struct keelson_election_options *opts);

/* Check the options (durations: lease > renew deadline > 1.2 x retry
 * period, as client-go requires; names are DNS subdomains) and create an
 * elector that uses `client` (borrowed; must outlive it). Sends nothing. */
int keelson_election_new(struct keelson_election **out, struct keelson_kube_client *client,
			 const struct keelson_election_options *opts);

/* Stops the thread if running (without releasing); accepts NULL. */
void keelson_election_free(struct keelson_election *e);

/* One attempt to acquire or renew, as client-go's tryAcquireOrRenew, then
 * the step-down rule: a leader whose last renewal is renew_deadline old
 * stops leading. Returns 1 when leading afterwards, 0 when not, and a
 * negative code (message in keelson_error_last()) when the API server could
 * not be asked or answered an error other than a lost race; that attempt
 * then counts as a failed renewal. */
int keelson_election_step(struct keelson_election *e);

/* Leading, and the last successful renewal is younger than renew_deadline
 * (checked against the clock now, not only when the thread last ran). */
bool keelson_election_is_leader(struct keelson_election *e);

/* Run keelson_election_step every retry period (with client-go's jitter
 * while standing by) on a thread of its own. */
int keelson_election_start(struct keelson_election *e);

/* Stop the thread (waits for the attempt in flight, bounded by its
 * timeout) and, when `release` and still leading, release the Lease.
 * Returns the release's result (0 when nothing to release). Accepts NULL. */
int keelson_election_stop(struct keelson_election *e, bool release);

/* Release the Lease when this process holds it: holderIdentity cleared,
 * leaseDurationSeconds 1, leaseTransitions kept. Stops leading first. */
int keelson_election_release(struct keelson_election *e);

/* Sleep until leading, `max_wait_ms` passed or `*stop` is set (may be
 * NULL). Returns keelson_election_is_leader(). */
bool keelson_election_wait_leader(struct keelson_election *e, long max_wait_ms, const volatile sig_atomic_t *stop);

struct keelson_config;

/* The elector keelson.yaml's leaderElection section asks for (*out NULL
 * when the section is absent): the Lease in the section's namespace
 * (default inventoryNamespace) on the section's cluster (default the
 * first), reached with that cluster's kubeconfig and context (without a
 * context: the kubeconfig's current one; spec.kubeContext of the
 * repository is not known yet at start) through a client of its own that
 * does not retry (the election loop does) and is freed with the elector.
 * Callbacks and metrics as in the options. Sends nothing. */
int keelson_election_from_config(struct keelson_election **out, const struct keelson_config *cfg,
				 void (*on_change)(bool leading, void *payload), void *payload,
				 struct keelson_metrics *metrics);

const char *keelson_election_identity(const struct keelson_election *e);

/* The lease's "namespace/name", for messages. */
const char *keelson_election_lease(const struct keelson_election *e);

/* Copy the holder last observed ("" when none) into buf. */
void keelson_election_holder(const struct keelson_election *e, char *buf, unsigned long size);

/* The default identity: $POD_NAME when set and non-empty, else
 * "HOSTNAME_PID". Writes at most `size` bytes. */
void keelson_election_default_identity(char *buf, unsigned long size);

/* Format a MicroTime ("2006-01-02T15:04:05.000000Z") from wall-clock
 * microseconds; buf holds at least 32 bytes. */
void keelson_election_format_microtime(char *buf, unsigned long size, long long wall_us);

#endif
