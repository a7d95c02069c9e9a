/*
 * The kafka plugin's Prometheus text parser (plugins/kafka/prom.c, compiled
 * into this target): it reads what broker pods answer through the proxy,
 * and a restart gate decides on it. Checked: a refusal says where; every
 * sample lies inside the input; label lookups are NUL-terminated and
 * bounded; parsing is deterministic (a second parse sees the same
 * samples).
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "plugins/kafka/prom.h"

#include <math.h>
#include <string.h>

struct seen {
	const char *start, *end;
	size_t count;
	double sum; /* of finite values, to compare two parses */
};

static int on_sample(void *ctx, const struct kafka_prom_sample *s)
{
	struct seen *seen = ctx;
	fuzz_assert(s->name != NULL && s->name_len > 0);
	fuzz_assert(s->name >= seen->start && s->name + s->name_len <= seen->end);
	if (s->labels != NULL)
		fuzz_assert(s->labels >= seen->start && s->labels + s->labels_len <= seen->end);
	static const char *const names[] = {"topic", "partition", "le", "quantile", ""};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char out[16];
		memset(out, 'x', sizeof(out));
		if (kafka_prom_label(s, names[i], out, sizeof(out)) == 0)
			fuzz_assert(memchr(out, '\0', sizeof(out)) != NULL);
	}
	char name[64];
	snprintf(name, sizeof(name), "%.*s", (int)(s->name_len < 63 ? s->name_len : 63), s->name);
	if (s->name_len < 63)
		fuzz_assert(kafka_prom_name_is(s, name));
	seen->count++;
	if (isfinite(s->value))
		seen->sum += s->value;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct seen a = {.start = text, .end = text + size}, b = a;
	char err[128];
	memset(err, 'x', sizeof(err));
	int rc = kafka_prom_parse(text, size, on_sample, &a, err, sizeof(err));
	fuzz_assert(rc == 0 || rc == -1);
	if (rc == -1) {
		fuzz_assert(memchr(err, '\0', sizeof(err)) != NULL);
		fuzz_assert(err[0] != '\0');
	}
	int again = kafka_prom_parse(text, size, on_sample, &b, err, sizeof(err));
	fuzz_assert(again == rc && b.count == a.count);
	fuzz_assert(b.sum == a.sum || (isnan(a.sum) && isnan(b.sum)));
	return 0;
}
