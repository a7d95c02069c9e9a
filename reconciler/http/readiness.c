/*
 * Readiness state under a mutex: written by the loop, read by /readyz.
 */
#include "config.h"

#include "http/readiness.h"
#include "core/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct keelson_readiness {
	pthread_mutex_t lock;
	bool synced, git_ok, api_ok;
	char git_why[200], api_why[200];
};

int keelson_readiness_new(struct keelson_readiness **out)
{
	struct keelson_readiness *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	pthread_mutex_init(&r->lock, NULL);
	/* Unknown until tried: only "first sync not done" is reported. */
	r->git_ok = r->api_ok = true;
	*out = r;
	return 0;
}

void keelson_readiness_free(struct keelson_readiness *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void keelson_readiness_set_synced(struct keelson_readiness *r)
{
	pthread_mutex_lock(&r->lock);
	r->synced = true;
	pthread_mutex_unlock(&r->lock);
}

static void set(struct keelson_readiness *r, bool *flag, char *buf, size_t size, bool ok, const char *why)
{
	pthread_mutex_lock(&r->lock);
	*flag = ok;
	snprintf(buf, size, "%s", why ? why : "");
	pthread_mutex_unlock(&r->lock);
}

void keelson_readiness_set_git(struct keelson_readiness *r, bool ok, const char *why)
{
	set(r, &r->git_ok, r->git_why, sizeof(r->git_why), ok, why);
}

void keelson_readiness_set_api(struct keelson_readiness *r, bool ok, const char *why)
{
	set(r, &r->api_ok, r->api_why, sizeof(r->api_why), ok, why);
}

bool keelson_readiness_check(void *payload, char *reason, size_t reason_size)
{
	struct keelson_readiness *r = payload;
	pthread_mutex_lock(&r->lock);
	bool ready = r->synced && r->git_ok && r->api_ok;
	if (!r->synced)
		snprintf(reason, reason_size, "first sync not done");
	else if (!r->git_ok)
		snprintf(reason, reason_size, "Git source unreachable: %s", r->git_why);
	else if (!r->api_ok)
		snprintf(reason, reason_size, "Kubernetes API unreachable: %s", r->api_why);
	pthread_mutex_unlock(&r->lock);
	return ready;
}
