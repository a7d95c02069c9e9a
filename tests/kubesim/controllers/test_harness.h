/*
 * Shared fixture for the controller suites: a real ks_store with every
 * controller running and the simulated clock accelerated, plus helpers that
 * wait for a condition with a bounded real-time loop (never a fixed sleep
 * that assumes a speed).
 */
#ifndef KUBESIM_CONTROLLERS_TEST_HARNESS_H
#define KUBESIM_CONTROLLERS_TEST_HARNESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <unistd.h>

#include "tests/kubesim/controllers/controllers.h"
#include "tests/kubesim/controllers/ctl_util.h"
#include "tests/kubesim/store.h"

/* Simulated seconds per real second in the suites. */
#define TH_FACTOR 100.0
/* Upper bound for every wait (real milliseconds). */
#define TH_TIMEOUT_MS 10000

extern struct ks_store *th_store;
extern struct ks_controllers *th_controllers;

void th_setup(void);
void th_teardown(void);

const struct ks_resource_type *th_type(const char *group, const char *resource);
/* Create from JSON text (namespace may be NULL for cluster-scoped); fails
 * the test on error. Returns the stored object (caller frees). */
cJSON *th_create(const char *group, const char *resource, const char *ns, const char *json);
/* The object or NULL when absent (caller frees). */
cJSON *th_get(const char *group, const char *resource, const char *ns, const char *name);
bool th_exists(const char *group, const char *resource, const char *ns, const char *name);
/* Number of objects of a type in `ns`. */
int th_count(const char *group, const char *resource, const char *ns);
/* Apply a merge patch (JSON text) to the main resource or "status". */
void th_patch(const char *group, const char *resource, const char *ns, const char *name,
	const char *patch, const char *subresource);
/* Integer / string at a path of member names (NULL-terminated). */
long long th_num(const cJSON *obj, ...) __attribute__((sentinel));
const char *th_str(const cJSON *obj, ...) __attribute__((sentinel));
/* Real milliseconds since an arbitrary point. */
double th_ms(void);

/* Evaluate `cond` every 2 ms until it holds or `ms` real milliseconds
 * passed; the value is whether it held. */
#define TH_WAIT(cond, ms)                                                  \
	({                                                                 \
		double th_end_ = th_ms() + (ms);                           \
		bool th_ok_ = false;                                       \
		for (;;) {                                                 \
			if (cond) {                                        \
				th_ok_ = true;                             \
				break;                                     \
			}                                                  \
			if (th_ms() > th_end_)                             \
				break;                                     \
			usleep(2000);                                      \
		}                                                          \
		th_ok_;                                                    \
	})

#endif
