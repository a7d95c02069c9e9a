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

int fuzz_has_duplicate_keys(const cJSON *v)
{
	for (const cJSON *c = v->child; c != NULL; c = c->next) {
		if (cJSON_IsObject(v))
			for (const cJSON *d = c->next; d != NULL; d = d->next)
				if (strcmp(c->string, d->string) == 0)
					return 1;
		if (fuzz_has_duplicate_keys(c))
			return 1;
	}
	return 0;
}

int fuzz_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			len = 2;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}
