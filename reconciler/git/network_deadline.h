/*
 * A deadline for libgit2 network operations.
 *
 * libgit2 1.5 has no network timeout (GIT_OPT_SET_SERVER_TIMEOUT came in
 * 1.7): a server that accepts and then stays silent would block a fetch or
 * push for ever. While a deadline is armed, a POSIX timer sends the calling
 * thread SIGRTMIN+3 once it passes (and every 100 ms after, so a blocking
 * call entered later is interrupted too). The handler does nothing and is
 * installed without SA_RESTART, so the blocked connect/recv/poll returns
 * EINTR and libgit2 fails the operation; transfer callbacks check
 * keelson_network_deadline_passed() and stop as well.
 *
 * The calling thread must not block SIGRTMIN+3. libssh2 retries on EINTR,
 * so SSH transfers cannot be interrupted this way.
 */
#ifndef KEELSON_GIT_NETWORK_DEADLINE_H
#define KEELSON_GIT_NETWORK_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct keelson_network_deadline {
	timer_t timer;
	int64_t at_ms; /* CLOCK_MONOTONIC milliseconds; 0 while not armed */
};

/* Arm `d` to pass `timeout_ms` from now for the calling thread. `what`
 * names the operation in error messages ("poll", "push"). */
int keelson_network_deadline_start(struct keelson_network_deadline *d, int64_t timeout_ms,
				   const char *what);

/* Disarm. A signal already generated is delivered on return, while no
 * blocking call is in progress: it interrupts nothing. */
void keelson_network_deadline_stop(struct keelson_network_deadline *d);

/* True once an armed deadline has passed. */
bool keelson_network_deadline_passed(const struct keelson_network_deadline *d);

#endif
