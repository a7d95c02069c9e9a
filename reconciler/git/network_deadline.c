#include "config.h"

#include "git/network_deadline.h"

#include "core/error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* After the deadline the signal repeats this often, so a blocking call
 * entered after the first one is interrupted too. */
#define REPEAT_MS 100

static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static void do_nothing(int sig)
{
	(void)sig;
}

static void install_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = do_nothing;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: that is the point */
	sigaction(SIGRTMIN + 3, &sa, NULL);
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int keelson_network_deadline_start(struct keelson_network_deadline *d, int64_t timeout_ms,
				   const char *what)
{
	pthread_once(&handler_once, install_handler);
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGRTMIN + 3;
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &d->timer) != 0)
		return keelson_error_set(KEELSON_ERROR, "cannot create the %s timer: %s", what,
					 strerror(errno));
	struct itimerspec its = {
		.it_value = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L},
		.it_interval = {0, REPEAT_MS * 1000000L},
	};
	d->at_ms = monotonic_ms() + timeout_ms;
	if (timer_settime(d->timer, 0, &its, NULL) != 0) {
		timer_delete(d->timer);
		d->at_ms = 0;
		return keelson_error_set(KEELSON_ERROR, "cannot arm the %s timer: %s", what,
					 strerror(errno));
	}
	return 0;
}

void keelson_network_deadline_stop(struct keelson_network_deadline *d)
{
	if (d->at_ms == 0)
		return;
	timer_delete(d->timer);
	d->at_ms = 0;
}

bool keelson_network_deadline_passed(const struct keelson_network_deadline *d)
{
	return d->at_ms > 0 && monotonic_ms() >= d->at_ms;
}
