#include "config.h"

#include "kube/kube_ratelimit.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t keelson_kube_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void keelson_kube_ratelimit_init(struct keelson_kube_ratelimit *rl, double qps, unsigned burst, uint64_t now_ns)
{
	pthread_mutex_init(&rl->lock, NULL);
	rl->qps = qps;
	rl->burst = burst == 0 ? 1.0 : (double)burst;
	rl->tokens = rl->burst;
	rl->last_ns = now_ns;
}

void keelson_kube_ratelimit_destroy(struct keelson_kube_ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

uint64_t keelson_kube_ratelimit_reserve(struct keelson_kube_ratelimit *rl, uint64_t now_ns)
{
	uint64_t wait_ns = 0;

	if (rl->qps <= 0)
		return 0;
	pthread_mutex_lock(&rl->lock);
	if (now_ns > rl->last_ns) {
		rl->tokens += (double)(now_ns - rl->last_ns) / 1e9 * rl->qps;
		if (rl->tokens > rl->burst)
			rl->tokens = rl->burst;
		rl->last_ns = now_ns;
	}
	rl->tokens -= 1.0;
	if (rl->tokens < 0)
		wait_ns = (uint64_t)(-rl->tokens / rl->qps * 1e9);
	pthread_mutex_unlock(&rl->lock);
	return wait_ns;
}

uint64_t keelson_kube_ratelimit_wait(struct keelson_kube_ratelimit *rl)
{
	uint64_t wait_ns = keelson_kube_ratelimit_reserve(rl, keelson_kube_now_ns());

	if (wait_ns > 0) {
		struct timespec ts = {(time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u)};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	return wait_ns;
}

uint64_t keelson_kube_backoff_ms(unsigned attempt, uint64_t initial_ms, uint64_t max_ms, double jitter)
{
	uint64_t delay = initial_ms;

	if (attempt == 0)
		attempt = 1;
	for (unsigned i = 1; i < attempt && delay < max_ms; i++)
		delay *= 2;
	if (delay > max_ms)
		delay = max_ms;
	if (jitter < 0)
		jitter = 0;
	if (jitter >= 1)
		jitter = 0.999;
	return delay - (uint64_t)((double)delay * 0.2 * jitter);
}

int64_t keelson_kube_retry_after_ms(const char *value, int64_t now_epoch, int64_t cap_ms)
{
	int64_t ms;

	if (value == NULL)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (*value == '\0')
		return -1;
	if (isdigit((unsigned char)*value)) {
		char *end;
		errno = 0;
		unsigned long long secs = strtoull(value, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (*end != '\0')
			return -1;
		if (errno == ERANGE || secs > (unsigned long long)(INT64_MAX / 1000))
			return cap_ms;
		ms = (int64_t)secs * 1000;
	} else {
		time_t when = curl_getdate(value, NULL);
		if (when == (time_t)-1)
			return -1;
		ms = ((int64_t)when - now_epoch) * 1000;
		if (ms < 0)
			ms = 0;
	}
	return ms > cap_ms ? cap_ms : ms;
}
