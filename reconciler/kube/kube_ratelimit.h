/*
 * Client-side rate limiting and retry timing for the Kubernetes client.
 *
 * A token bucket (as client-go's flowcontrol.NewTokenBucketRateLimiter):
 * `burst` requests may go at once, then `qps` per second. Time is passed in
 * explicitly (nanoseconds of CLOCK_MONOTONIC) so the arithmetic is testable
 * without sleeping; keelson_kube_ratelimit_wait() is the sleeping wrapper.
 */
#ifndef KEELSON_KUBE_RATELIMIT_H
#define KEELSON_KUBE_RATELIMIT_H

#include <pthread.h>
#include <stdint.h>

struct keelson_kube_ratelimit {
	pthread_mutex_t lock;
	double qps;          /* <= 0: unlimited */
	double burst;        /* bucket size, >= 1 */
	double tokens;       /* may go negative: reservations queue up */
	uint64_t last_ns;    /* when `tokens` was last refilled */
};

/* `qps` <= 0 disables limiting; `burst` 0 is treated as 1. */
void keelson_kube_ratelimit_init(struct keelson_kube_ratelimit *rl, double qps, unsigned burst, uint64_t now_ns);
void keelson_kube_ratelimit_destroy(struct keelson_kube_ratelimit *rl);

/* Take one token at `now_ns`; returns how many nanoseconds the caller must
 * wait before sending (0 when a token was available). Reservations are
 * first come, first served: concurrent callers get increasing waits. */
uint64_t keelson_kube_ratelimit_reserve(struct keelson_kube_ratelimit *rl, uint64_t now_ns);

/* Reserve and sleep. Returns the nanoseconds slept. */
uint64_t keelson_kube_ratelimit_wait(struct keelson_kube_ratelimit *rl);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t keelson_kube_now_ns(void);

/* Delay before retry number `attempt` (1-based): initial * 2^(attempt-1)
 * capped at `max_ms`, minus up to 20% jitter from `jitter` in [0,1) so
 * clients that failed together do not retry together. */
uint64_t keelson_kube_backoff_ms(unsigned attempt, uint64_t initial_ms, uint64_t max_ms, double jitter);

/* Parse a Retry-After header value: delta-seconds ("3") or an HTTP date
 * (relative to `now_epoch`, seconds since 1970). Returns the delay in
 * milliseconds, or -1 when absent or unparsable. Capped at `cap_ms`. */
int64_t keelson_kube_retry_after_ms(const char *value, int64_t now_epoch, int64_t cap_ms);

#endif
