/*
 * A thread-safe "something changed, poll now" signal between the HTTP
 * server's thread (webhook pushes) and the reconcile loop.
 *
 * Posts coalesce: any number of pushes before the loop looks is one wake-up
 * and one fetch. The loop either blocks in keelson_nudge_wait, or checks
 * keelson_nudge_take between the slices of its own wait (the Git trigger).
 */
#ifndef KEELSON_HTTP_NUDGE_H
#define KEELSON_HTTP_NUDGE_H

#include <stdbool.h>

struct keelson_nudge;

int keelson_nudge_new(struct keelson_nudge **out);
void keelson_nudge_free(struct keelson_nudge *n); /* accepts NULL */

/* Record one push and wake a waiter. Any thread. */
void keelson_nudge_post(struct keelson_nudge *n);

/* The number of posts since the last take (0: none), and reset to 0. */
unsigned long keelson_nudge_take(struct keelson_nudge *n);

/* Wait at most max_wait_ms (< 0: no limit) for a post; consumes pending
 * posts. Returns the number taken, 0 on timeout. */
unsigned long keelson_nudge_wait(struct keelson_nudge *n, long max_wait_ms);

/* Total posts since creation (for tests and status). */
unsigned long keelson_nudge_total(struct keelson_nudge *n);

#endif
