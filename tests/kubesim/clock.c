#include "config.h"

#include "tests/kubesim/clock.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

/* Simulated time = sim_base + (real - real_base) * factor; rebased on every
 * factor change so simulated time stays continuous. */
static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static double clock_factor = 1.0;
static double clock_real_base = -1.0;
static double clock_sim_base;

static double real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double sim_now_locked(void)
{
	double real = real_now();
	if (clock_real_base < 0) {
		clock_real_base = real;
		clock_sim_base = real;
	}
	return clock_sim_base + (real - clock_real_base) * clock_factor;
}

double ks_clock_now(void)
{
	pthread_mutex_lock(&clock_lock);
	double t = sim_now_locked();
	pthread_mutex_unlock(&clock_lock);
	return t;
}

int ks_clock_set_factor(double factor)
{
	if (!(factor > 0) || factor > 1e6)
		return keelson_error_set(KEELSON_EINVALID,
			"clock factor %g out of range: use a number in (0, 1000000]", factor);
	pthread_mutex_lock(&clock_lock);
	double sim = sim_now_locked();
	clock_real_base = real_now();
	clock_sim_base = sim;
	clock_factor = factor;
	pthread_mutex_unlock(&clock_lock);
	return 0;
}

double ks_clock_factor(void)
{
	pthread_mutex_lock(&clock_lock);
	double f = clock_factor;
	pthread_mutex_unlock(&clock_lock);
	return f;
}

long ks_clock_real_ms(double sim_seconds)
{
	double ms = sim_seconds * 1000.0 / ks_clock_factor();
	if (!(ms >= 1))
		return 1;
	if (ms > 3600e3)
		return 3600000;
	return (long)ceil(ms);
}

void ks_clock_sleep(double sim_seconds)
{
	long ms = ks_clock_real_ms(sim_seconds);
	if (ms > 60000)
		ms = 60000;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

char *ks_clock_format(double t, char *buf)
{
	time_t secs = (time_t)floor(t);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(buf, KS_TIME_BUF, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

char *ks_clock_format_micro(double t, char *buf)
{
	time_t secs = (time_t)floor(t);
	long micros = (long)((t - (double)secs) * 1e6);
	if (micros > 999999)
		micros = 999999;
	if (micros < 0)
		micros = 0;
	struct tm tm;
	gmtime_r(&secs, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, KS_TIME_BUF, "%s.%06ldZ", base, micros);
	return buf;
}

int ks_clock_parse(const char *text, double *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!text)
		return keelson_error_set(KEELSON_EINVALID, "missing timestamp");
	const char *p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		goto bad;
	double frac = 0;
	if (*p == '.') {
		char *end;
		frac = strtod(p, &end);
		if (end == p + 1)
			goto bad;
		p = end;
	}
	long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			goto bad;
		offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		goto bad;
	}
	if (*p)
		goto bad;
	*out = (double)timegm(&tm) - (double)offset + frac;
	return 0;
bad:
	return keelson_error_set(KEELSON_EINVALID,
		"timestamp \"%.64s\" is not RFC 3339 (expected 2006-01-02T15:04:05Z)", text);
}
