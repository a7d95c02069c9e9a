/*
 * Coalescing wake-up: a counter under a mutex with a condition variable on
 * CLOCK_MONOTONIC, so a clock change does not stretch a wait.
 */
#include "config.h"

#include "http/nudge.h"
#include "core/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct keelson_nudge {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long pending, total;
};

int keelson_nudge_new(struct keelson_nudge **out)
{
	struct keelson_nudge *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&n->lock, NULL);
	*out = n;
	return 0;
}

void keelson_nudge_free(struct keelson_nudge *n)
{
	if (n == NULL)
		return;
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void keelson_nudge_post(struct keelson_nudge *n)
{
	pthread_mutex_lock(&n->lock);
	n->pending++;
	n->total++;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

unsigned long keelson_nudge_take(struct keelson_nudge *n)
{
	pthread_mutex_lock(&n->lock);
	unsigned long p = n->pending;
	n->pending = 0;
	pthread_mutex_unlock(&n->lock);
	return p;
}

unsigned long keelson_nudge_wait(struct keelson_nudge *n, long max_wait_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (max_wait_ms > 0) {
		deadline.tv_sec += max_wait_ms / 1000;
		deadline.tv_nsec += (max_wait_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&n->lock);
	while (n->pending == 0 && max_wait_ms != 0) {
		int rc = max_wait_ms < 0 ? pthread_cond_wait(&n->cond, &n->lock)
					 : pthread_cond_timedwait(&n->cond, &n->lock, &deadline);
		if (rc != 0)
			break;
	}
	unsigned long p = n->pending;
	n->pending = 0;
	pthread_mutex_unlock(&n->lock);
	return p;
}

unsigned long keelson_nudge_total(struct keelson_nudge *n)
{
	pthread_mutex_lock(&n->lock);
	unsigned long t = n->total;
	pthread_mutex_unlock(&n->lock);
	return t;
}
