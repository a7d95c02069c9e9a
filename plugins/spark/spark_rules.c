/* spark-operator's rules as pure functions; see spark_rules.h. */
#include "spark_rules.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
	[SPARK_NEW] = "",
	[SPARK_SUBMITTED] = "SUBMITTED",
	[SPARK_RUNNING] = "RUNNING",
	[SPARK_SUCCEEDING] = "SUCCEEDING",
	[SPARK_COMPLETED] = "COMPLETED",
	[SPARK_FAILING] = "FAILING",
	[SPARK_FAILED] = "FAILED",
	[SPARK_SUBMISSION_FAILED] = "SUBMISSION_FAILED",
	[SPARK_PENDING_RERUN] = "PENDING_RERUN",
	[SPARK_INVALIDATING] = "INVALIDATING",
	[SPARK_UNKNOWN] = "UNKNOWN",
};

const char *spark_state_name(enum spark_state state)
{
	if ((size_t)state >= sizeof(state_names) / sizeof(state_names[0]))
		return "UNKNOWN";
	return state_names[state];
}

enum spark_state spark_state_parse(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return SPARK_NEW;
	for (size_t i = 1; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(state_names[i], name) == 0)
			return (enum spark_state)i;
	return SPARK_UNKNOWN;
}

int spark_state_terminal(enum spark_state state)
{
	return state == SPARK_COMPLETED || state == SPARK_FAILED;
}

int spark_restart_type_parse(const char *name, enum spark_restart_type *out)
{
	if (name == NULL || name[0] == '\0' || strcmp(name, "Never") == 0)
		*out = SPARK_RESTART_NEVER;
	else if (strcmp(name, "OnFailure") == 0)
		*out = SPARK_RESTART_ON_FAILURE;
	else if (strcmp(name, "Always") == 0)
		*out = SPARK_RESTART_ALWAYS;
	else
		return -1;
	return 0;
}

const char *spark_restart_type_name(enum spark_restart_type type)
{
	switch (type) {
	case SPARK_RESTART_ON_FAILURE: return "OnFailure";
	case SPARK_RESTART_ALWAYS: return "Always";
	case SPARK_RESTART_NEVER: break;
	}
	return "Never";
}

int spark_should_retry(enum spark_state state, const struct spark_restart_policy *policy,
		       const struct spark_attempts *attempts)
{
	switch (state) {
	case SPARK_SUCCEEDING:
		return policy->type == SPARK_RESTART_ALWAYS;
	case SPARK_FAILING:
		if (policy->type == SPARK_RESTART_ALWAYS)
			return 1;
		return policy->type == SPARK_RESTART_ON_FAILURE && policy->on_failure_retries >= 0 &&
		       attempts->execution_attempts <= policy->on_failure_retries;
	case SPARK_SUBMISSION_FAILED:
		if (policy->type == SPARK_RESTART_ALWAYS)
			return 1;
		return policy->type == SPARK_RESTART_ON_FAILURE && policy->on_submission_failure_retries >= 0 &&
		       attempts->submission_attempts <= policy->on_submission_failure_retries;
	default:
		return 0;
	}
}

int spark_retry_due_in_ms(long long *out, enum spark_state state, const struct spark_restart_policy *policy,
			  const struct spark_attempts *attempts, long long now_ms)
{
	long long interval_s;
	if (state == SPARK_FAILING)
		interval_s = policy->on_failure_retry_interval_s;
	else if (state == SPARK_SUBMISSION_FAILED)
		interval_s = policy->on_submission_failure_retry_interval_s;
	else
		return -1;
	if (interval_s < 0 || attempts->last_submission_ms <= 0 || attempts->submission_attempts <= 0)
		return -1;
	*out = interval_s * 1000 * attempts->submission_attempts - (now_ms - attempts->last_submission_ms);
	return 0;
}

enum spark_state spark_state_from_driver(const struct spark_driver_observation *d)
{
	const char *phase = d->phase ? d->phase : "";
	if (strcmp(phase, "Succeeded") == 0)
		return SPARK_SUCCEEDING;
	if (strcmp(phase, "Failed") == 0)
		return d->container_terminated && d->exit_code == 0 ? SPARK_SUCCEEDING : SPARK_FAILING;
	if (strcmp(phase, "Running") == 0 && d->container_terminated)
		return d->exit_code == 0 ? SPARK_SUCCEEDING : SPARK_FAILING;
	/* Deleted before it ended: the attempt is lost ("driver pod not found"). */
	if (d->terminating)
		return SPARK_FAILING;
	if (strcmp(phase, "Pending") == 0 || phase[0] == '\0')
		return SPARK_SUBMITTED;
	if (strcmp(phase, "Running") == 0)
		return SPARK_RUNNING;
	return SPARK_UNKNOWN;
}

long long spark_memory_mib(const char *text)
{
	/* Spark's suffixes are binary (k, m, g, t, optionally with b);
	 * Kubernetes' are Ki, Mi, Gi, Ti (binary) and K, M, G, T (decimal). */
	static const struct {
		const char *suffix;
		double bytes;
	} units[] = {
		{"", 1.0}, {"k", 1024.0}, {"kb", 1024.0}, {"Ki", 1024.0}, {"K", 1e3},
		{"m", 1048576.0}, {"mb", 1048576.0}, {"Mi", 1048576.0}, {"M", 1e6},
		{"g", 1073741824.0}, {"gb", 1073741824.0}, {"Gi", 1073741824.0}, {"G", 1e9},
		{"t", 1099511627776.0}, {"tb", 1099511627776.0}, {"Ti", 1099511627776.0}, {"T", 1e12},
	};
	if (text == NULL || !isdigit((unsigned char)*text))
		return -1;
	char *end;
	double v = strtod(text, &end);
	if (!(v >= 0 && v <= 1e15))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		double mib = v * units[i].bytes / 1048576.0;
		if (mib > 1e12)
			return -1;
		long long whole = (long long)mib;
		return (double)whole < mib ? whole + 1 : whole;
	}
	return -1;
}

long long spark_memory_overhead_mib(long long memory_mib, const char *type)
{
	int non_jvm = type != NULL && (strcmp(type, "Python") == 0 || strcmp(type, "R") == 0);
	long long factor_tenths = non_jvm ? 4 : 1;
	long long overhead = (memory_mib * factor_tenths + 9) / 10;
	return overhead < 384 ? 384 : overhead;
}
