#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "core/log.h"

#include <string.h>

char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

void fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a, size_t *a_len,
		const uint8_t **b, size_t *b_len)
{
	size_t n = strlen(sep);
	for (size_t i = 0; n <= size && i <= size - n; i++) {
		if (memcmp(data + i, sep, n) == 0) {
			*a = data;
			*a_len = i;
			*b = data + i + n;
			*b_len = size - i - n;
			return;
		}
	}
	*a = data;
	*a_len = size;
	*b = data + size;
	*b_len = 0;
}

void fuzz_quiet_logs(void)
{
	/* Still formatted and redacted (that code runs on hostile values too),
	 * only not shown. */
	static FILE *devnull;
	if (devnull == NULL)
		devnull = fopen("/dev/null", "w");
	keelson_log_configure(KEELSON_LOG_DEBUG, KEELSON_LOG_LOGFMT, devnull);
}
