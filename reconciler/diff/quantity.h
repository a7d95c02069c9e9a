/*
 * Kubernetes resource quantities (resource.Quantity), compared by value.
 *
 * "1024Mi" and "1Gi", "1000m" and "1", "1e3" and "1k" are the same
 * quantity; the API server rewrites them to a canonical form, so a diff that
 * compared text would report drift that is not there. Values are kept as
 * exact integers, never doubles: a quantity is
 *     sign * coefficient * 2^exp2 * 5^exp5
 * with the coefficient divisible by neither 2 nor 5 (0 has both exponents
 * 0), which is unique for every value a quantity can spell, so equality is
 * field equality.
 *
 * Grammar (k8s.io/apimachinery/pkg/api/resource):
 *   quantity  = [+-] number [suffix]
 *   number    = digits | digits "." [digits] | "." digits
 *   suffix    = Ki Mi Gi Ti Pi Ei | m "" k M G T P E | (e|E) [+-] digits
 */
#ifndef KEELSON_DIFF_QUANTITY_H
#define KEELSON_DIFF_QUANTITY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Longest quantity text accepted; Kubernetes quantities are short. */
#define KEELSON_QUANTITY_MAX_TEXT 64

struct keelson_quantity {
	int sign;             /* -1, 0 or 1 */
	uint64_t coefficient; /* odd and not a multiple of 5; 0 for zero */
	int exp2;
	int exp5;
};

/* Parse `text`. KEELSON_EINVALID when it is not a quantity, or when it has
 * more than 19 significant digits or an exponent beyond +-1000 (kept
 * exact or refused, never rounded). */
int keelson_quantity_parse(struct keelson_quantity *out, const char *text);

/* A JSON value as a quantity: a string, or a number (the API server turns
 * `cpu: 2` into "2"). KEELSON_EINVALID for other types and for numbers
 * that are not exactly representable in decimal with 17 digits. */
int keelson_quantity_from_json(struct keelson_quantity *out, const cJSON *value);

bool keelson_quantity_equal(const struct keelson_quantity *a, const struct keelson_quantity *b);

#endif
