#include "config.h"

#include "diff/quantity.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIGNIFICANT_DIGITS 19
#define MAX_EXPONENT 1000

struct suffix {
	const char *text;
	int exp2;  /* binary SI: Ki = 2^10 */
	int exp10; /* decimal SI: k = 10^3, m = 10^-3 */
};

static const struct suffix suffixes[] = {
	{"", 0, 0},    {"m", 0, -3},  {"k", 0, 3},   {"M", 0, 6},   {"G", 0, 9},
	{"T", 0, 12},  {"P", 0, 15},  {"E", 0, 18},  {"Ki", 10, 0}, {"Mi", 20, 0},
	{"Gi", 30, 0}, {"Ti", 40, 0}, {"Pi", 50, 0}, {"Ei", 60, 0},
};

static int not_a_quantity(const char *text, const char *why)
{
	return keelson_error_set(KEELSON_EINVALID, "\"%.*s\" is not a quantity: %s",
				 KEELSON_QUANTITY_MAX_TEXT, text, why);
}

/* (e|E)[+-]digits, the whole rest of the text. */
static int parse_exponent(int *out, const char *s)
{
	int sign = 1;
	long value = 0;
	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		value = value * 10 + (*s - '0');
		if (value > MAX_EXPONENT)
			return -1;
	}
	if (*s != '\0')
		return -1;
	*out = sign * (int)value;
	return 0;
}

int keelson_quantity_parse(struct keelson_quantity *out, const char *text)
{
	const char *s = text;
	char digits[MAX_SIGNIFICANT_DIGITS + 1];
	size_t ndigits = 0, total_digits = 0;
	int sign = 1, exp10 = 0, exp2 = 0;
	/* Zeros seen after the last significant digit; they become exponent
	 * when no non-zero digit follows. */
	int pending_zeros = 0;
	bool seen_point = false;

	if (text == NULL || strlen(text) > KEELSON_QUANTITY_MAX_TEXT)
		return keelson_error_set(KEELSON_EINVALID, "quantity missing or longer than %d characters",
					 KEELSON_QUANTITY_MAX_TEXT);
	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	for (;; s++) {
		if (*s == '.' && !seen_point) {
			seen_point = true;
			continue;
		}
		if (*s < '0' || *s > '9')
			break;
		total_digits++;
		if (seen_point)
			exp10--;
		if (*s == '0') {
			if (ndigits > 0)
				pending_zeros++;
			continue;
		}
		if (ndigits + (size_t)pending_zeros + 1 > MAX_SIGNIFICANT_DIGITS)
			return not_a_quantity(text, "more than 19 significant digits");
		for (; pending_zeros > 0; pending_zeros--)
			digits[ndigits++] = '0';
		digits[ndigits++] = *s;
	}
	if (total_digits == 0)
		return not_a_quantity(text, "no digits");
	exp10 += pending_zeros;

	if ((*s == 'e' || *s == 'E') && s[1] != '\0' && s[1] != 'i') {
		int e;
		if (parse_exponent(&e, s + 1) < 0)
			return not_a_quantity(text, "malformed exponent");
		exp10 += e;
	} else {
		size_t i;
		for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
			if (strcmp(s, suffixes[i].text) == 0)
				break;
		if (i == sizeof(suffixes) / sizeof(suffixes[0]))
			return not_a_quantity(text, "unknown suffix");
		exp10 += suffixes[i].exp10;
		exp2 += suffixes[i].exp2;
	}

	uint64_t c = 0;
	for (size_t i = 0; i < ndigits; i++)
		c = c * 10 + (uint64_t)(digits[i] - '0');
	if (c == 0) {
		*out = (struct keelson_quantity){0, 0, 0, 0};
		return 0;
	}
	int p2 = exp10 + exp2, p5 = exp10;
	while (c % 2 == 0) {
		c /= 2;
		p2++;
	}
	while (c % 5 == 0) {
		c /= 5;
		p5++;
	}
	*out = (struct keelson_quantity){sign, c, p2, p5};
	return 0;
}

int keelson_quantity_from_json(struct keelson_quantity *out, const cJSON *value)
{
	char buf[64];
	if (cJSON_IsString(value))
		return keelson_quantity_parse(out, value->valuestring);
	if (cJSON_IsRaw(value))
		return keelson_quantity_parse(out, value->valuestring);
	if (!cJSON_IsNumber(value))
		return keelson_error_set(KEELSON_EINVALID, "a quantity is a string or a number");
	double d = value->valuedouble;
	if (!isfinite(d))
		return keelson_error_set(KEELSON_EINVALID, "a quantity is finite");
	if (d == floor(d) && fabs(d) < 9007199254740992.0) {
		snprintf(buf, sizeof(buf), "%.0f", d);
		return keelson_quantity_parse(out, buf);
	}
	/* The shortest decimal that reads back as the same double is what the
	 * YAML author wrote (0.5, not 0.5000000000000000). */
	for (int precision = 1; precision <= 17; precision++) {
		snprintf(buf, sizeof(buf), "%.*g", precision, d);
		if (strtod(buf, NULL) == d)
			return keelson_quantity_parse(out, buf);
	}
	return keelson_error_set(KEELSON_EINVALID, "number %.17g has no exact decimal form", d);
}

bool keelson_quantity_equal(const struct keelson_quantity *a, const struct keelson_quantity *b)
{
	return a->sign == b->sign && a->coefficient == b->coefficient && a->exp2 == b->exp2 &&
	       a->exp5 == b->exp5;
}
