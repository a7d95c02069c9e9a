/*
 * kubesim's simulated clock.
 *
 * Every timing decision in kubesim (pod start delays, grace periods,
 * timestamps written into objects, lease expiry) reads ks_clock_now(), so a
 * test can run "30 s" of pod behaviour in 0.3 s by setting the factor to 100.
 * With factor 1 (the default) the simulated time is the real wall clock.
 * Changing the factor never makes time jump backwards: the simulated time at
 * the moment of the change becomes the new base.
 */
#ifndef KUBESIM_CLOCK_H
#define KUBESIM_CLOCK_H

#include <stddef.h>

/* Simulated wall-clock time, seconds since the Unix epoch. Thread-safe. */
double ks_clock_now(void);

/* Set the acceleration factor (> 0; 100 runs simulated time 100x faster
 * than real time). Returns KEELSON_EINVALID for factors <= 0 or > 1e6. */
int ks_clock_set_factor(double factor);

/* The current acceleration factor. */
double ks_clock_factor(void);

/* Sleep for `sim_seconds` of simulated time (real time / factor), at most
 * 60 real seconds per call. */
void ks_clock_sleep(double sim_seconds);

/* Real milliseconds that `sim_seconds` of simulated time take right now
 * (for condition-variable timeouts); at least 1. */
long ks_clock_real_ms(double sim_seconds);

/* Format `t` as RFC 3339 UTC with second precision ("2025-01-02T03:04:05Z",
 * metav1.Time). `buf` must hold KS_TIME_BUF bytes. Returns `buf`. */
#define KS_TIME_BUF 40
char *ks_clock_format(double t, char *buf);

/* Format `t` as metav1.MicroTime ("2025-01-02T03:04:05.123456Z"). */
char *ks_clock_format_micro(double t, char *buf);

/* Parse an RFC 3339 timestamp (with or without fractional seconds, "Z" or a
 * numeric offset). Returns 0, or KEELSON_EINVALID for anything else. */
int ks_clock_parse(const char *text, double *out);

#endif
