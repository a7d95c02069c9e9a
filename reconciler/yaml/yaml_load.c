/*
 * YAML -> cJSON with source positions. See yaml_load.h for the rules.
 *
 * The loader consumes libyaml events and builds cJSON directly, with an
 * explicit stack (no recursion on input nesting). Aliases are expanded by
 * copying the anchored node, after checking the anchor's recorded size
 * against the expansion budget, so hostile aliasing costs nothing.
 * Scalar resolution follows go-yaml v2's resolve() (the decoder used by
 * sigs.k8s.io/yaml and therefore kubectl), including its quirks.
 */
#include "config.h"

#include "yaml/yaml_load.h"

#include "core/error.h"
#include "json/json_pointer.h"

#include <yaml.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"
#define MAX_EXACT_DOUBLE_INT (INT64_C(1) << 53)

/* ------------------------------------------------------------------ */
/* Locale-independent number parsing                                   */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static double parse_double_c(const char *text)
{
	pthread_once(&c_locale_once, c_locale_init);
	if (c_locale != (locale_t)0)
		return strtod_l(text, NULL, c_locale);
	return strtod(text, NULL);
}

static float parse_float_c(const char *text)
{
	pthread_once(&c_locale_once, c_locale_init);
	if (c_locale != (locale_t)0)
		return strtof_l(text, NULL, c_locale);
	return strtof(text, NULL);
}

/* ------------------------------------------------------------------ */
/* Scalar resolution (go-yaml v2 resolve.go)                           */

enum tag_kind {
	TAG_NONE,
	TAG_STR,
	TAG_BINARY,
	TAG_BOOL,
	TAG_INT,
	TAG_FLOAT,
	TAG_NULL,
	TAG_TIMESTAMP,
	TAG_OTHER, /* custom, "!", merge, collections: go-yaml keeps the text */
};

enum scalar_kind {
	SK_NULL,
	SK_BOOL,
	SK_INT,
	SK_UINT,
	SK_FLOAT,
	SK_STRING,
	SK_TIMESTAMP,
};

struct scalar_in {
	const char *text; /* NUL-terminated, may contain NUL */
	size_t len;
	const char *tag;  /* NULL when untagged */
	bool plain_implicit;
	struct keelson_source_pos pos;
};

struct scalar_out {
	enum scalar_kind kind;
	bool boolean;
	int64_t i;
	uint64_t u;
	double f;
	char *decoded; /* !!binary: decoded text (owned), else NULL */
	size_t decoded_len;
};

static enum tag_kind classify_tag(const char *tag)
{
	static const struct {
		const char *name;
		enum tag_kind kind;
	} known[] = {
		{ "str", TAG_STR }, { "binary", TAG_BINARY }, { "bool", TAG_BOOL },
		{ "int", TAG_INT }, { "float", TAG_FLOAT }, { "null", TAG_NULL },
		{ "timestamp", TAG_TIMESTAMP },
	};
	if (tag == NULL || tag[0] == '\0')
		return TAG_NONE;
	if (strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX)) != 0)
		return TAG_OTHER;
	const char *name = tag + strlen(YAML_TAG_PREFIX);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(name, known[i].name) == 0)
			return known[i].kind;
	return TAG_OTHER;
}

static const char *tag_kind_name(enum tag_kind kind)
{
	switch (kind) {
	case TAG_STR: return "!!str";
	case TAG_BINARY: return "!!binary";
	case TAG_BOOL: return "!!bool";
	case TAG_INT: return "!!int";
	case TAG_FLOAT: return "!!float";
	case TAG_NULL: return "!!null";
	case TAG_TIMESTAMP: return "!!timestamp";
	default: return "(untagged)";
	}
}

static const char *scalar_kind_name(enum scalar_kind kind)
{
	switch (kind) {
	case SK_NULL: return "!!null";
	case SK_BOOL: return "!!bool";
	case SK_INT:
	case SK_UINT: return "!!int";
	case SK_FLOAT: return "!!float";
	case SK_TIMESTAMP: return "!!timestamp";
	default: return "!!str";
	}
}

static bool text_is(const char *text, size_t len, const char *word)
{
	size_t n = strlen(word);
	return len == n && memcmp(text, word, n) == 0;
}

static bool text_in(const char *text, size_t len, const char *const *words)
{
	for (; *words != NULL; words++)
		if (text_is(text, len, *words))
			return true;
	return false;
}

static char lower_ascii(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* strconv.ParseUint(s, 0, 64) on text without underscores. */
static bool go_parse_uint(const char *s, size_t len, uint64_t *out, bool *range_error)
{
	unsigned base = 10;
	size_t i = 0;
	uint64_t n = 0;

	*range_error = false;
	if (len == 0)
		return false;
	if (s[0] == '0') {
		char p = len >= 3 ? lower_ascii(s[1]) : '\0';
		if (p == 'b') {
			base = 2;
			i = 2;
		} else if (p == 'o') {
			base = 8;
			i = 2;
		} else if (p == 'x') {
			base = 16;
			i = 2;
		} else {
			base = 8;
			i = 1;
		}
	}
	for (; i < len; i++) {
		char c = lower_ascii(s[i]);
		unsigned d;
		if (is_digit(c))
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'z')
			d = (unsigned)(c - 'a') + 10;
		else
			return false;
		if (d >= base)
			return false;
		if (n > (UINT64_MAX - d) / base) {
			*range_error = true;
			return false;
		}
		n = n * base + d;
	}
	*out = n;
	return true;
}

/* strconv.ParseInt(s, 0, 64) on text without underscores. */
static bool go_parse_int(const char *s, size_t len, int64_t *out)
{
	bool negative = false;
	bool range_error;
	uint64_t magnitude;

	if (len == 0)
		return false;
	if (s[0] == '+' || s[0] == '-') {
		negative = s[0] == '-';
		s++;
		len--;
	}
	if (!go_parse_uint(s, len, &magnitude, &range_error))
		return false;
	if (!negative && magnitude > (uint64_t)INT64_MAX)
		return false;
	if (negative && magnitude > (uint64_t)INT64_MAX + 1)
		return false;
	if (negative)
		*out = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
	else
		*out = (int64_t)magnitude;
	return true;
}

/* go-yaml's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool matches_yaml_style_float(const char *s, size_t len)
{
	size_t i = 0, digits = 0;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && is_digit(s[i]))
			i++, digits++;
		if (digits == 0)
			return false;
	} else {
		while (i < len && is_digit(s[i]))
			i++, digits++;
		if (digits == 0)
			return false;
		if (i < len && s[i] == '.') {
			i++;
			while (i < len && is_digit(s[i]))
				i++;
		}
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp_digits = 0;
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < len && is_digit(s[i]))
			i++, exp_digits++;
		if (exp_digits == 0)
			return false;
	}
	return i == len;
}

/* Go's strconv.underscoreOK for a decimal literal: '_' only between digits. */
static bool go_underscores_ok(const char *s, size_t len)
{
	char saw = '^';
	size_t i = 0;

	if (len >= 1 && (s[0] == '-' || s[0] == '+'))
		i = 1;
	for (; i < len; i++) {
		if (is_digit(s[i])) {
			saw = '0';
			continue;
		}
		if (s[i] == '_') {
			if (saw != '0')
				return false;
			saw = '_';
			continue;
		}
		if (saw == '_')
			return false;
		saw = '!';
	}
	return saw != '_';
}

/* Parse a validated decimal literal (underscores allowed, dropped). Fails
 * on overflow to infinity, as strconv.ParseFloat does; underflow gives 0. */
static bool parse_decimal_double(const char *s, size_t len, double *out)
{
	char stack_buf[128];
	char *buf = len < sizeof(stack_buf) ? stack_buf : malloc(len + 1);
	size_t n = 0;
	double value;

	if (buf == NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] != '_')
			buf[n++] = s[i];
	buf[n] = '\0';
	value = parse_double_c(buf);
	if (buf != stack_buf)
		free(buf);
	if (isinf(value))
		return false;
	*out = value;
	return true;
}

/* strconv.ParseFloat(in, 64) for text that starts with '.'. */
static bool go_parse_float_dot(const char *s, size_t len, double *out)
{
	size_t i = 1, digits = 0;

	while (i < len && (is_digit(s[i]) || s[i] == '_')) {
		if (s[i] != '_')
			digits++;
		i++;
	}
	if (digits == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= len || !is_digit(s[i]))
			return false;
		while (i < len && (is_digit(s[i]) || s[i] == '_'))
			i++;
	}
	if (i != len || !go_underscores_ok(s, len))
		return false;
	return parse_decimal_double(s, len, out);
}

static bool is_leap_year(long year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Up to two digits, as Go's time.Parse reads "1", "2", "15", "4", "5". */
static bool read_1or2_digits(const char *s, size_t len, size_t *i, int *out)
{
	if (*i >= len || !is_digit(s[*i]))
		return false;
	*out = s[(*i)++] - '0';
	if (*i < len && is_digit(s[*i]))
		*out = *out * 10 + (s[(*i)++] - '0');
	return true;
}

/* go-yaml's parseTimestamp: the layouts 2006-1-2T15:4:5.999999999Z07:00
 * (T or t), "2006-1-2 15:4:5.999999999" and 2006-1-2. */
static bool is_go_yaml_timestamp(const char *s, size_t len)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	size_t i = 0;
	int month, day, hour, minute, second;
	long year;
	char separator;

	for (i = 0; i < 4; i++)
		if (i >= len || !is_digit(s[i]))
			return false;
	if (i >= len || s[i] != '-')
		return false;
	year = strtol(s, NULL, 10);
	i++;
	if (!read_1or2_digits(s, len, &i, &month) || month < 1 || month > 12)
		return false;
	if (i >= len || s[i++] != '-')
		return false;
	if (!read_1or2_digits(s, len, &i, &day) || day < 1)
		return false;
	if (day > days[month - 1] + (month == 2 && is_leap_year(year) ? 1 : 0))
		return false;
	if (i == len)
		return true;
	separator = s[i++];
	if (separator != 'T' && separator != 't' && separator != ' ')
		return false;
	if (!read_1or2_digits(s, len, &i, &hour) || hour > 23)
		return false;
	if (i >= len || s[i++] != ':')
		return false;
	if (!read_1or2_digits(s, len, &i, &minute) || minute > 59)
		return false;
	if (i >= len || s[i++] != ':')
		return false;
	if (!read_1or2_digits(s, len, &i, &second) || second > 59)
		return false;
	if (i + 1 < len && (s[i] == '.' || s[i] == ',') && is_digit(s[i + 1])) {
		i++;
		while (i < len && is_digit(s[i]))
			i++;
	}
	if (i == len)
		return true;
	if (separator == ' ')
		return false;
	if (s[i] == 'Z')
		return i + 1 == len;
	if (len - i != 6 || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
		return false;
	return is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 4]) && is_digit(s[i + 5]);
}

static int base64_value(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Bytes that are not valid UTF-8 become U+FFFD one by one, as Go's JSON
 * encoder does. Returns the new length; `out` needs 3 * len + 1 bytes. */
static size_t coerce_utf8(char *out, const unsigned char *in, size_t len)
{
	size_t o = 0, i = 0;

	while (i < len) {
		unsigned char c = in[i];
		size_t need = 0;
		uint32_t cp = 0, min = 0;
		bool valid;
		if (c < 0x80) {
			out[o++] = (char)c;
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
			need = 1, cp = c & 0x1F, min = 0x80;
		else if ((c & 0xF0) == 0xE0)
			need = 2, cp = c & 0x0F, min = 0x800;
		else if ((c & 0xF8) == 0xF0)
			need = 3, cp = c & 0x07, min = 0x10000;
		valid = need > 0 && need < len - i;
		for (size_t k = 1; valid && k <= need; k++) {
			if ((in[i + k] & 0xC0) != 0x80)
				valid = false;
			else
				cp = (cp << 6) | (in[i + k] & 0x3F);
		}
		if (valid && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
			valid = false;
		if (valid) {
			memcpy(out + o, in + i, need + 1);
			o += need + 1;
			i += need + 1;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	return o;
}

static int error_at(int code, const struct keelson_source_pos *pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int error_at(int code, const struct keelson_source_pos *pos, const char *fmt, ...)
{
	char message[1024];
	va_list args;

	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);
	return keelson_error_set(code, "%s:%u:%u: %s", pos->file, pos->line, pos->column, message);
}

/* Shorten a scalar for quoting in a message. */
static void excerpt(char *out, size_t size, const char *text, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 4 < size; i++)
		out[n++] = (text[i] == '\n' || text[i] == '\0') ? ' ' : text[i];
	if (n < len)
		memcpy(out + n, "...", 4);
	else
		out[n] = '\0';
}

static int decode_binary(struct scalar_out *out, const struct scalar_in *in)
{
	unsigned char *bytes = malloc(in->len / 4 * 3 + 3);
	size_t n = 0, quad_len = 0, padding = 0;
	int quad[4];

	if (bytes == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory decoding !!binary");
	for (size_t i = 0; i < in->len; i++) {
		char c = in->text[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			if (quad_len < 2)
				goto invalid;
			padding++;
			quad[quad_len++] = 0;
		} else {
			int v = base64_value(c);
			if (v < 0 || padding > 0)
				goto invalid;
			quad[quad_len++] = v;
		}
		if (quad_len == 4) {
			uint32_t bits = (uint32_t)quad[0] << 18 | (uint32_t)quad[1] << 12 |
				(uint32_t)quad[2] << 6 | (uint32_t)quad[3];
			bytes[n++] = (unsigned char)(bits >> 16);
			if (padding < 2)
				bytes[n++] = (unsigned char)(bits >> 8);
			if (padding < 1)
				bytes[n++] = (unsigned char)bits;
			quad_len = 0;
			if (padding > 0) {
				/* Only line breaks may follow the padding. */
				for (size_t k = i + 1; k < in->len; k++)
					if (in->text[k] != '\r' && in->text[k] != '\n')
						goto invalid;
				break;
			}
		}
	}
	if (quad_len != 0)
		goto invalid;
	out->decoded = malloc(n * 3 + 1);
	if (out->decoded == NULL) {
		free(bytes);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory decoding !!binary");
	}
	out->decoded_len = coerce_utf8(out->decoded, bytes, n);
	free(bytes);
	return 0;
invalid:
	free(bytes);
	return error_at(KEELSON_EINVALID, &in->pos,
		"!!binary value is not valid base64; fix the data or drop the tag");
}

/* go-yaml v2 resolve(tag, in) plus decoder.scalar()'s handling of untagged
 * quoted scalars and !!binary. */
static int resolve_scalar(struct scalar_out *out, const struct scalar_in *in)
{
	static const char *const true_words[] = { "y", "Y", "yes", "Yes", "YES", "true",
		"True", "TRUE", "on", "On", "ON", NULL };
	static const char *const false_words[] = { "n", "N", "no", "No", "NO", "false",
		"False", "FALSE", "off", "Off", "OFF", NULL };
	static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const nan_words[] = { ".nan", ".NaN", ".NAN", NULL };
	static const char *const inf_words[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf",
		"+.INF", NULL };
	static const char *const minus_inf_words[] = { "-.inf", "-.Inf", "-.INF", NULL };
	enum tag_kind tag = classify_tag(in->tag);
	const char *s = in->text;
	size_t len = in->len;
	char hint;

	memset(out, 0, sizeof(*out));
	out->kind = SK_STRING;
	if (tag == TAG_NONE && !in->plain_implicit)
		return 0;
	if (tag == TAG_OTHER)
		return 0;
	if (tag == TAG_BINARY)
		return decode_binary(out, in);

	if (len == 0)
		hint = 'N';
	else if (s[0] == '+' || s[0] == '-')
		hint = 'S';
	else if (is_digit(s[0]))
		hint = 'D';
	else if (strchr("yYnNtTfFoO~", s[0]) != NULL)
		hint = 'M';
	else if (s[0] == '.')
		hint = '.';
	else
		hint = 0;

	if (hint != 0 && tag != TAG_STR) {
		if (text_in(s, len, true_words)) {
			out->kind = SK_BOOL;
			out->boolean = true;
		} else if (text_in(s, len, false_words)) {
			out->kind = SK_BOOL;
		} else if (text_in(s, len, null_words)) {
			out->kind = SK_NULL;
		} else if (text_in(s, len, nan_words)) {
			out->kind = SK_FLOAT;
			out->f = NAN;
		} else if (text_in(s, len, inf_words)) {
			out->kind = SK_FLOAT;
			out->f = INFINITY;
		} else if (text_in(s, len, minus_inf_words)) {
			out->kind = SK_FLOAT;
			out->f = -INFINITY;
		} else if (hint == '.') {
			if (go_parse_float_dot(s, len, &out->f))
				out->kind = SK_FLOAT;
		} else if (hint == 'D' || hint == 'S') {
			char stack_buf[128];
			char *plain = len < sizeof(stack_buf) ? stack_buf : malloc(len + 1);
			size_t plain_len = 0;
			bool range_error;
			if (plain == NULL)
				return keelson_error_set(KEELSON_ENOMEM, "out of memory resolving a scalar");
			for (size_t i = 0; i < len; i++)
				if (s[i] != '_')
					plain[plain_len++] = s[i];
			plain[plain_len] = '\0';
			if ((tag == TAG_NONE || tag == TAG_TIMESTAMP) && is_go_yaml_timestamp(s, len))
				out->kind = SK_TIMESTAMP;
			else if (go_parse_int(plain, plain_len, &out->i))
				out->kind = SK_INT;
			else if (go_parse_uint(plain, plain_len, &out->u, &range_error))
				out->kind = SK_UINT;
			else if (matches_yaml_style_float(plain, plain_len) &&
				 parse_decimal_double(plain, plain_len, &out->f))
				out->kind = SK_FLOAT;
			if (plain != stack_buf)
				free(plain);
		}
	}

	/* go-yaml's deferred check that the value fits an explicit tag. */
	switch (tag) {
	case TAG_NONE:
	case TAG_STR:
		return 0;
	case TAG_FLOAT:
		if (out->kind == SK_FLOAT)
			return 0;
		if (out->kind == SK_INT) {
			out->kind = SK_FLOAT;
			out->f = (double)out->i;
			return 0;
		}
		break;
	case TAG_INT:
		if (out->kind == SK_INT || out->kind == SK_UINT)
			return 0;
		break;
	case TAG_BOOL:
		if (out->kind == SK_BOOL)
			return 0;
		break;
	case TAG_NULL:
		if (out->kind == SK_NULL)
			return 0;
		break;
	case TAG_TIMESTAMP:
		if (out->kind == SK_TIMESTAMP)
			return 0;
		break;
	default:
		return 0;
	}
	char shown[64];
	excerpt(shown, sizeof(shown), s, len);
	return error_at(KEELSON_EINVALID, &in->pos,
		"cannot read `%s` as %s: it resolves to %s (kubectl fails the same way); "
		"fix the value or remove the tag",
		shown, tag_kind_name(tag), scalar_kind_name(out->kind));
}

/* strconv.FormatFloat(v, 'g', -1, 32): how sigs.k8s.io/yaml names float keys. */
static void format_go_float32_g(char *buf, size_t size, double value)
{
	float f = (float)value;
	char digits[32], tmp[64];
	int nd = 0, exp10 = 0;
	size_t o = 0;

	if (isnan(f)) {
		snprintf(buf, size, ".nan");
		return;
	}
	if (isinf(f)) {
		snprintf(buf, size, f > 0 ? ".inf" : "-.inf");
		return;
	}
	if (f == 0) {
		snprintf(buf, size, signbit(f) ? "-0" : "0");
		return;
	}
	float magnitude = fabsf(f);
	for (int precision = 1; precision <= 9; precision++) {
		const char *e;
		snprintf(tmp, sizeof(tmp), "%.*e", precision - 1, (double)magnitude);
		nd = 0;
		for (e = tmp; *e != '\0' && *e != 'e'; e++)
			if (is_digit(*e))
				digits[nd++] = *e;
		exp10 = *e == 'e' ? atoi(e + 1) : 0;
		/* Round-trip check through float32, in the C locale. */
		char check[64];
		snprintf(check, sizeof(check), "0.%.*se%d", nd, digits, exp10 + 1);
		if (parse_float_c(check) == magnitude)
			break;
	}
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (signbit(f))
		buf[o++] = '-';
	int dp = exp10 + 1;
	if (exp10 < -4 || exp10 >= 6) {
		buf[o++] = digits[0];
		if (nd > 1) {
			buf[o++] = '.';
			for (int k = 1; k < nd; k++)
				buf[o++] = digits[k];
		}
		snprintf(buf + o, size - o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
		return;
	}
	if (dp > 0) {
		for (int k = 0; k < dp; k++)
			buf[o++] = k < nd ? digits[k] : '0';
	} else {
		buf[o++] = '0';
	}
	int fraction = nd - dp > 0 ? nd - dp : 0;
	if (fraction > 0) {
		buf[o++] = '.';
		for (int k = 1; k <= fraction; k++) {
			int j = dp + k - 1;
			buf[o++] = (j >= 0 && j < nd) ? digits[j] : '0';
		}
	}
	buf[o] = '\0';
}

/* ------------------------------------------------------------------ */
/* Position table: node address -> positions, open addressing          */

struct pos_entry {
	const cJSON *node;
	struct keelson_source_pos value;
	struct keelson_source_pos key; /* key.file == NULL: not an object member */
};

struct keelson_yaml_stream {
	char *file;
	cJSON **documents;
	size_t document_count;
	size_t document_cap;
	struct pos_entry *entries;
	size_t entry_count;
	size_t entry_cap;
	uint32_t *slots; /* entry index + 1; 0 = empty */
	size_t slot_count; /* power of two */
	/* Nodes that are no longer in any document (emptied merge sources,
	 * overridden merged members, null documents). They stay allocated so no
	 * address in the position table is ever reused. */
	cJSON *graveyard;
};

static size_t hash_address(const void *address)
{
	uint64_t x = (uint64_t)(uintptr_t)address;
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return (size_t)x;
}

static struct pos_entry *find_entry(const struct keelson_yaml_stream *stream, const cJSON *node)
{
	if (stream == NULL || node == NULL || stream->slot_count == 0)
		return NULL;
	size_t mask = stream->slot_count - 1;
	for (size_t i = hash_address(node) & mask;; i = (i + 1) & mask) {
		uint32_t slot = stream->slots[i];
		if (slot == 0)
			return NULL;
		if (stream->entries[slot - 1].node == node)
			return &stream->entries[slot - 1];
	}
}

static int grow_slots(struct keelson_yaml_stream *stream)
{
	size_t count = stream->slot_count ? stream->slot_count * 2 : 1024;
	uint32_t *slots = calloc(count, sizeof(*slots));
	if (slots == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory for YAML positions");
	for (size_t e = 0; e < stream->entry_count; e++) {
		size_t i = hash_address(stream->entries[e].node) & (count - 1);
		while (slots[i] != 0)
			i = (i + 1) & (count - 1);
		slots[i] = (uint32_t)(e + 1);
	}
	free(stream->slots);
	stream->slots = slots;
	stream->slot_count = count;
	return 0;
}

static int add_entry(struct keelson_yaml_stream *stream, const cJSON *node,
	const struct keelson_source_pos *value, const struct keelson_source_pos *key)
{
	if (stream->entry_count >= UINT32_MAX - 1)
		return keelson_error_set(KEELSON_ELIMIT, "%s: too many YAML nodes", stream->file);
	if (stream->entry_count == stream->entry_cap) {
		size_t cap = stream->entry_cap ? stream->entry_cap * 2 : 256;
		struct pos_entry *entries = realloc(stream->entries, cap * sizeof(*entries));
		if (entries == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory for YAML positions");
		stream->entries = entries;
		stream->entry_cap = cap;
	}
	if ((stream->entry_count + 1) * 4 > stream->slot_count * 3) {
		int rc = grow_slots(stream);
		if (rc < 0)
			return rc;
	}
	struct pos_entry *entry = &stream->entries[stream->entry_count];
	entry->node = node;
	entry->value = *value;
	if (key != NULL)
		entry->key = *key;
	else
		memset(&entry->key, 0, sizeof(entry->key));
	size_t mask = stream->slot_count - 1;
	size_t i = hash_address(node) & mask;
	while (stream->slots[i] != 0)
		i = (i + 1) & mask;
	stream->slots[i] = (uint32_t)(++stream->entry_count);
	return 0;
}

/* ------------------------------------------------------------------ */
/* String-keyed index (anchors, mapping keys)                           */

struct strindex {
	uint32_t *slots; /* item index + 1 */
	size_t cap;      /* power of two or 0 */
	size_t count;
};

typedef const char *(*strindex_key_fn)(const void *ctx, size_t item);

static size_t hash_string(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return (size_t)h;
}

/* Returns the slot holding `key`, or the empty slot where it would go. */
static size_t strindex_slot(const struct strindex *index, const char *key,
	strindex_key_fn key_of, const void *ctx)
{
	size_t mask = index->cap - 1;
	for (size_t i = hash_string(key) & mask;; i = (i + 1) & mask) {
		uint32_t slot = index->slots[i];
		if (slot == 0 || strcmp(key_of(ctx, slot - 1), key) == 0)
			return i;
	}
}

static long strindex_find(const struct strindex *index, const char *key,
	strindex_key_fn key_of, const void *ctx)
{
	if (index->cap == 0)
		return -1;
	uint32_t slot = index->slots[strindex_slot(index, key, key_of, ctx)];
	return slot == 0 ? -1 : (long)slot - 1;
}

/* Map `key` to `item`, replacing an existing mapping. */
static int strindex_put(struct strindex *index, const char *key, size_t item,
	strindex_key_fn key_of, const void *ctx)
{
	if ((index->count + 1) * 2 > index->cap) {
		size_t cap = index->cap ? index->cap * 2 : 16;
		uint32_t *slots = calloc(cap, sizeof(*slots));
		if (slots == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory indexing YAML keys");
		for (size_t i = 0; i < index->cap; i++) {
			uint32_t slot = index->slots[i];
			if (slot == 0)
				continue;
			size_t j = hash_string(key_of(ctx, slot - 1)) & (cap - 1);
			while (slots[j] != 0)
				j = (j + 1) & (cap - 1);
			slots[j] = slot;
		}
		free(index->slots);
		index->slots = slots;
		index->cap = cap;
	}
	size_t i = strindex_slot(index, key, key_of, ctx);
	if (index->slots[i] == 0)
		index->count++;
	index->slots[i] = (uint32_t)(item + 1);
	return 0;
}

static void strindex_free(struct strindex *index)
{
	free(index->slots);
	memset(index, 0, sizeof(*index));
}

/* ------------------------------------------------------------------ */
/* Builder                                                              */

struct anchor {
	char *name;
	bool complete;
	bool is_scalar;
	cJSON *node;            /* collections: the original */
	size_t size;            /* nodes in the subtree */
	unsigned height;        /* collection nesting; 0 for scalars */
	size_t start_nodes;     /* node counter when the collection started */
	/* scalars: kept as text so an alias can be re-resolved as key or value */
	char *text;
	size_t text_len;
	char *tag;
	bool plain_implicit;
	struct keelson_source_pos pos;
};

struct key_record {
	cJSON *member;
	struct keelson_source_pos key_pos;
	bool merged; /* copied by `<<`; a later explicit key may override it */
};

struct merge_source {
	cJSON *map;
	bool from_alias;
	size_t size;
	unsigned height;
};

struct frame {
	cJSON *container; /* NULL for a merge list */
	bool is_map;
	bool is_merge_list;
	struct keelson_source_pos pos;
	long anchor; /* index into builder.anchors or -1 */
	unsigned child_height;
	/* mappings */
	bool have_key;
	bool key_is_merge;
	char *key;
	struct keelson_source_pos key_pos;
	bool seen_merge;
	struct keelson_source_pos merge_pos;
	struct key_record *records;
	size_t record_count;
	size_t record_cap;
	struct strindex record_index;
	/* merge lists */
	struct merge_source *sources;
	size_t source_count;
	size_t source_cap;
};

struct builder {
	struct keelson_yaml_stream *stream;
	struct keelson_yaml_limits limits;
	struct frame *frames;
	size_t depth; /* frames in use */
	size_t frame_cap;
	struct anchor *anchors;
	size_t anchor_count;
	size_t anchor_cap;
	struct strindex anchor_index;
	cJSON *root;
	size_t nodes;            /* whole stream */
	size_t alias_expansions; /* this document */
	size_t documents_seen;
};

static const char *anchor_name_of(const void *ctx, size_t item)
{
	const struct builder *b = ctx;
	return b->anchors[item].name;
}

static const char *record_key_of(const void *ctx, size_t item)
{
	const struct frame *f = ctx;
	return f->records[item].member->string;
}

static struct keelson_source_pos mark_pos(const struct builder *b, const yaml_mark_t *mark)
{
	struct keelson_source_pos pos = {
		.file = b->stream->file,
		.line = (unsigned)(mark->line + 1),
		.column = (unsigned)(mark->column + 1),
	};
	return pos;
}

static int to_graveyard(struct builder *b, cJSON *node)
{
	if (node != NULL)
		cJSON_AddItemToArray(b->stream->graveyard, node);
	return 0;
}

static int count_node(struct builder *b, const struct keelson_source_pos *pos)
{
	if (++b->nodes > b->limits.max_nodes)
		return error_at(KEELSON_ELIMIT, pos,
			"more than %zu YAML nodes in this stream (keelson_yaml_limits.max_nodes); "
			"split the file",
			b->limits.max_nodes);
	return 0;
}

/* Register a node created by the builder. On failure the node is freed. */
static int adopt(struct builder *b, cJSON *node, const struct keelson_source_pos *pos)
{
	int rc;
	if (node == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory building YAML nodes");
	rc = add_entry(b->stream, node, pos, NULL);
	if (rc < 0) {
		cJSON_Delete(node);
		return rc;
	}
	return 0;
}

static void free_scalar_out(struct scalar_out *out)
{
	free(out->decoded);
	out->decoded = NULL;
}

static int make_value(struct builder *b, cJSON **out, const struct scalar_in *in,
	const struct keelson_source_pos *pos)
{
	struct scalar_out value;
	cJSON *node = NULL;
	int rc;

	*out = NULL;
	rc = count_node(b, pos);
	if (rc < 0)
		return rc;
	rc = resolve_scalar(&value, in);
	if (rc < 0)
		return rc;
	switch (value.kind) {
	case SK_NULL:
		node = cJSON_CreateNull();
		break;
	case SK_BOOL:
		node = cJSON_CreateBool(value.boolean);
		break;
	case SK_INT:
		if (value.i >= -MAX_EXACT_DOUBLE_INT && value.i <= MAX_EXACT_DOUBLE_INT) {
			node = cJSON_CreateNumber((double)value.i);
		} else {
			char digits[32];
			snprintf(digits, sizeof(digits), "%" PRId64, value.i);
			node = cJSON_CreateRaw(digits);
		}
		break;
	case SK_UINT:
		node = cJSON_CreateNumber((double)value.u);
		break;
	case SK_FLOAT:
		if (isnan(value.f) || isinf(value.f)) {
			char shown[64];
			excerpt(shown, sizeof(shown), in->text, in->len);
			return error_at(KEELSON_EINVALID, pos,
				"`%s` is %s, which JSON cannot represent: kubectl fails with "
				"\"json: unsupported value: %s\"; quote it if you meant a string",
				shown, isnan(value.f) ? "not a number" : "infinite",
				isnan(value.f) ? "NaN" : value.f > 0 ? "+Inf" : "-Inf");
		}
		node = cJSON_CreateNumber(value.f == 0 ? 0.0 : value.f);
		break;
	case SK_STRING:
	case SK_TIMESTAMP: {
		const char *text = value.decoded ? value.decoded : in->text;
		size_t len = value.decoded ? value.decoded_len : in->len;
		if (memchr(text, '\0', len) != NULL) {
			free_scalar_out(&value);
			return error_at(KEELSON_EINVALID, pos,
				"string contains a NUL character, which keelson cannot hold; "
				"remove the \\0 escape");
		}
		node = cJSON_CreateString(text);
		free_scalar_out(&value);
		break;
	}
	}
	rc = adopt(b, node, pos);
	if (rc < 0)
		return rc;
	*out = node;
	return 0;
}

/* The string a scalar becomes as a mapping key (sigs.k8s.io/yaml). */
static int make_key(char **out, const struct scalar_in *in, const struct keelson_source_pos *pos)
{
	struct scalar_out value;
	char buf[64], shown[64];
	int rc;

	*out = NULL;
	rc = resolve_scalar(&value, in);
	if (rc < 0)
		return rc;
	switch (value.kind) {
	case SK_NULL:
		excerpt(shown, sizeof(shown), in->text, in->len);
		return error_at(KEELSON_EINVALID, pos,
			"mapping key `%s` is null, which Kubernetes rejects (unsupported map key); "
			"quote it if you meant a string",
			shown);
	case SK_UINT:
		excerpt(shown, sizeof(shown), in->text, in->len);
		return error_at(KEELSON_EINVALID, pos,
			"mapping key `%s` does not fit in a signed 64-bit integer, which Kubernetes "
			"rejects (unsupported map key of type uint64); quote it",
			shown);
	case SK_BOOL:
		*out = strdup(value.boolean ? "true" : "false");
		break;
	case SK_INT:
		snprintf(buf, sizeof(buf), "%" PRId64, value.i);
		*out = strdup(buf);
		break;
	case SK_FLOAT:
		format_go_float32_g(buf, sizeof(buf), value.f);
		*out = strdup(buf);
		break;
	case SK_STRING:
	case SK_TIMESTAMP: {
		const char *text = value.decoded ? value.decoded : in->text;
		size_t len = value.decoded ? value.decoded_len : in->len;
		if (memchr(text, '\0', len) != NULL) {
			free_scalar_out(&value);
			return error_at(KEELSON_EINVALID, pos,
				"mapping key contains a NUL character, which keelson cannot hold");
		}
		*out = strdup(text);
		free_scalar_out(&value);
		break;
	}
	}
	if (*out == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory building a YAML key");
	return 0;
}

static bool is_merge_key(const struct scalar_in *in)
{
	return text_is(in->text, in->len, "<<") &&
	       (in->plain_implicit || (in->tag != NULL && strcmp(in->tag, YAML_TAG_PREFIX "merge") == 0));
}

/* Copy `src` and its subtree, giving every copy the position of its
 * original. `expansion` counts the copies against the alias budget. */
static int copy_tree(struct builder *b, cJSON **out, const cJSON *src, bool expansion)
{
	const struct pos_entry *entry = find_entry(b->stream, src);
	struct keelson_source_pos value_pos, key_pos;
	cJSON *copy;
	int rc;

	*out = NULL;
	/* Every node the builder creates is registered. */
	value_pos = entry->value;
	key_pos = entry->key;
	rc = count_node(b, &value_pos);
	if (rc < 0)
		return rc;
	if (expansion)
		b->alias_expansions++;
	copy = cJSON_Duplicate(src, false);
	if (copy == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory expanding a YAML alias");
	rc = add_entry(b->stream, copy, &value_pos, key_pos.file ? &key_pos : NULL);
	if (rc < 0) {
		cJSON_Delete(copy);
		return rc;
	}
	for (const cJSON *child = src->child; child != NULL; child = child->next) {
		cJSON *child_copy;
		rc = copy_tree(b, &child_copy, child, expansion);
		if (rc < 0) {
			cJSON_Delete(copy);
			return rc;
		}
		cJSON_AddItemToArray(copy, child_copy);
	}
	*out = copy;
	return 0;
}

static int check_expansion(struct builder *b, size_t size, const struct keelson_source_pos *pos,
	const char *name)
{
	if (size > b->limits.max_alias_expansions ||
	    b->alias_expansions > b->limits.max_alias_expansions - size)
		return error_at(KEELSON_ELIMIT, pos,
			"alias *%s would expand the document beyond %zu aliased nodes "
			"(keelson_yaml_limits.max_alias_expansions); this looks like a "
			"\"billion laughs\" file: write the values out instead of nesting aliases",
			name, b->limits.max_alias_expansions);
	return 0;
}

static int check_depth(struct builder *b, size_t depth, const struct keelson_source_pos *pos)
{
	if (depth > b->limits.max_depth)
		return error_at(KEELSON_ELIMIT, pos,
			"collections nested more than %u deep (keelson_yaml_limits.max_depth)",
			b->limits.max_depth);
	return 0;
}

static struct key_record *find_record(struct frame *f, const char *key)
{
	long item = strindex_find(&f->record_index, key, record_key_of, f);
	return item < 0 ? NULL : &f->records[item];
}

static int add_record(struct frame *f, cJSON *member, const struct keelson_source_pos *key_pos,
	bool merged)
{
	if (f->record_count == f->record_cap) {
		size_t cap = f->record_cap ? f->record_cap * 2 : 8;
		struct key_record *records = realloc(f->records, cap * sizeof(*records));
		if (records == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory indexing YAML keys");
		f->records = records;
		f->record_cap = cap;
	}
	f->records[f->record_count] = (struct key_record){ member, *key_pos, merged };
	return strindex_put(&f->record_index, member->string, f->record_count++, record_key_of, f);
}

/* Attach a finished value to the mapping frame under its pending key. */
static int attach_member(struct builder *b, struct frame *f, cJSON *node, unsigned height)
{
	struct key_record *record = find_record(f, f->key);
	struct pos_entry *entry;

	if (record != NULL && !record->merged) {
		int rc = error_at(KEELSON_EINVALID, &f->key_pos,
			"duplicate key \"%s\" (first at line %u, column %u); Kubernetes would "
			"silently keep the last one, so keelson refuses the file: remove one of them",
			f->key, record->key_pos.line, record->key_pos.column);
		cJSON_Delete(node);
		return rc;
	}
	if (!cJSON_AddItemToObject(f->container, f->key, node)) {
		cJSON_Delete(node);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory building a YAML mapping");
	}
	entry = find_entry(b->stream, node);
	entry->key = f->key_pos;
	if (record != NULL) {
		/* A key written after `<<` overrides the merged value. */
		to_graveyard(b, cJSON_DetachItemViaPointer(f->container, record->member));
		record->member = node;
		record->key_pos = f->key_pos;
		record->merged = false;
	} else {
		int rc = add_record(f, node, &f->key_pos, false);
		if (rc < 0)
			return rc;
	}
	free(f->key);
	f->key = NULL;
	f->have_key = false;
	if (height > f->child_height)
		f->child_height = height;
	return 0;
}

/* Apply `<<` to mapping frame `f`: earlier sources win over later ones, as
 * go-yaml v2 does by applying the list backwards. */
static int merge_into(struct builder *b, struct frame *f, const struct merge_source *sources,
	size_t count)
{
	int rc;

	for (size_t s = 0; s < count; s++) {
		const struct merge_source *source = &sources[s];
		if (source->from_alias) {
			rc = check_expansion(b, source->size, &f->merge_pos, "(merged)");
			if (rc < 0)
				return rc;
			if (source->height > 0) {
				rc = check_depth(b, b->depth + source->height - 1, &f->merge_pos);
				if (rc < 0)
					return rc;
			}
		}
		for (cJSON *member = source->map->child; member != NULL; member = member->next) {
			struct key_record *record = find_record(f, member->string);
			const struct pos_entry *original;
			cJSON *copy;
			if (record != NULL && record->merged)
				continue;
			if (record != NULL) {
				return error_at(KEELSON_EINVALID, &f->merge_pos,
					"this merge (<<) also sets key \"%s\", written before it at line %u, "
					"column %u: kubectl would take the merged value, YAML says the "
					"written key wins; put `<<` first or remove one of them",
					member->string, record->key_pos.line, record->key_pos.column);
			}
			rc = copy_tree(b, &copy, member, source->from_alias);
			if (rc < 0)
				return rc;
			cJSON_AddItemToArray(f->container, copy);
			original = find_entry(b->stream, member);
			rc = add_record(f, copy, &original->key, true);
			if (rc < 0)
				return rc;
		}
		if (source->height > 0 && source->height - 1 > f->child_height)
			f->child_height = source->height - 1;
	}
	return 0;
}

static int merge_requires_map(const struct keelson_source_pos *pos)
{
	return error_at(KEELSON_EINVALID, pos,
		"a merge key (<<) needs a mapping, an alias of one, or a list of them "
		"as its value (kubectl: \"map merge requires map or sequence of maps\")");
}

static int key_must_be_scalar(const struct keelson_source_pos *pos)
{
	return error_at(KEELSON_EINVALID, pos,
		"a mapping key must be a scalar: Kubernetes cannot use a list or a map "
		"as a key (kubectl: \"invalid map key\")");
}

/* A finished node (not a key) arrives at the top of the stack. `alias` is
 * set when the node is an anchored collection referenced by an alias; then
 * `node` is the borrowed original. */
static int deliver(struct builder *b, cJSON *node, const struct anchor *alias,
	const struct keelson_source_pos *pos, unsigned height)
{
	struct frame *f = b->depth ? &b->frames[b->depth - 1] : NULL;
	int rc;

	if (f != NULL && f->is_merge_list) {
		if (!cJSON_IsObject(node))
			return merge_requires_map(pos);
		if (f->source_count == f->source_cap) {
			size_t cap = f->source_cap ? f->source_cap * 2 : 4;
			struct merge_source *sources = realloc(f->sources, cap * sizeof(*sources));
			if (sources == NULL) {
				if (alias == NULL)
					cJSON_Delete(node);
				return keelson_error_set(KEELSON_ENOMEM, "out of memory merging YAML");
			}
			f->sources = sources;
			f->source_cap = cap;
		}
		f->sources[f->source_count++] = (struct merge_source){
			node, alias != NULL, alias ? alias->size : 0, height };
		if (alias == NULL)
			to_graveyard(b, node);
		return 0;
	}
	if (f != NULL && f->is_map && f->key_is_merge) {
		struct merge_source source = { node, alias != NULL, alias ? alias->size : 0, height };
		if (!cJSON_IsObject(node))
			return merge_requires_map(pos);
		if (alias == NULL)
			to_graveyard(b, node);
		rc = merge_into(b, f, &source, 1);
		f->have_key = false;
		f->key_is_merge = false;
		return rc;
	}
	if (alias != NULL) {
		cJSON *copy;
		rc = check_expansion(b, alias->size, pos, alias->name);
		if (rc < 0)
			return rc;
		rc = check_depth(b, b->depth + alias->height, pos);
		if (rc < 0)
			return rc;
		rc = copy_tree(b, &copy, node, true);
		if (rc < 0)
			return rc;
		find_entry(b->stream, copy)->value = *pos;
		node = copy;
	}
	if (f == NULL) {
		b->root = node;
		return 0;
	}
	if (f->is_map)
		return attach_member(b, f, node, height);
	cJSON_AddItemToArray(f->container, node);
	if (height > f->child_height)
		f->child_height = height;
	return 0;
}

/* `from_alias`: go-yaml only treats a written `<<` as a merge key, never an
 * alias whose anchored value is "<<". */
static int take_key(struct builder *b, struct frame *f, const struct scalar_in *in,
	const struct keelson_source_pos *pos, bool from_alias)
{
	if (!from_alias && is_merge_key(in)) {
		if (f->seen_merge)
			return error_at(KEELSON_EINVALID, pos,
				"second merge key (<<) in this mapping (first at line %u, column %u); "
				"merge several maps with one `<<: [*a, *b]`",
				f->merge_pos.line, f->merge_pos.column);
		f->seen_merge = true;
		f->merge_pos = *pos;
		f->key_is_merge = true;
		f->have_key = true;
		return 0;
	}
	int rc = make_key(&f->key, in, pos);
	if (rc < 0)
		return rc;
	f->key_pos = *pos;
	f->have_key = true;
	return 0;
}

static struct anchor *new_anchor(struct builder *b, const char *name,
	const struct keelson_source_pos *pos, long *index_out)
{
	if (b->anchor_count == b->anchor_cap) {
		size_t cap = b->anchor_cap ? b->anchor_cap * 2 : 16;
		struct anchor *anchors = realloc(b->anchors, cap * sizeof(*anchors));
		if (anchors == NULL)
			return NULL;
		b->anchors = anchors;
		b->anchor_cap = cap;
	}
	struct anchor *a = &b->anchors[b->anchor_count];
	memset(a, 0, sizeof(*a));
	a->name = strdup(name);
	a->pos = *pos;
	if (a->name == NULL)
		return NULL;
	/* Redefining an anchor is allowed; later aliases see the new one. */
	if (strindex_put(&b->anchor_index, name, b->anchor_count, anchor_name_of, b) < 0) {
		free(a->name);
		return NULL;
	}
	*index_out = (long)b->anchor_count++;
	return a;
}

static void free_anchors(struct builder *b)
{
	for (size_t i = 0; i < b->anchor_count; i++) {
		free(b->anchors[i].name);
		free(b->anchors[i].text);
		free(b->anchors[i].tag);
	}
	b->anchor_count = 0;
	strindex_free(&b->anchor_index);
}

static void free_frame(struct frame *f)
{
	cJSON_Delete(f->container);
	free(f->key);
	free(f->records);
	strindex_free(&f->record_index);
	free(f->sources);
	memset(f, 0, sizeof(*f));
}

static int on_scalar(struct builder *b, const yaml_event_t *event)
{
	struct keelson_source_pos pos = mark_pos(b, &event->start_mark);
	struct scalar_in in = {
		.text = (const char *)event->data.scalar.value,
		.len = event->data.scalar.length,
		.tag = (const char *)event->data.scalar.tag,
		.plain_implicit = event->data.scalar.plain_implicit,
		.pos = pos,
	};
	struct frame *f = b->depth ? &b->frames[b->depth - 1] : NULL;
	cJSON *node;
	int rc;

	if (event->data.scalar.anchor != NULL) {
		long index;
		struct anchor *a = new_anchor(b, (const char *)event->data.scalar.anchor, &pos, &index);
		if (a == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory recording a YAML anchor");
		a->is_scalar = true;
		a->complete = true;
		a->size = 1;
		a->text = malloc(in.len + 1);
		a->tag = in.tag ? strdup(in.tag) : NULL;
		if (a->text == NULL || (in.tag && a->tag == NULL))
			return keelson_error_set(KEELSON_ENOMEM, "out of memory recording a YAML anchor");
		memcpy(a->text, in.text, in.len + 1);
		a->text_len = in.len;
		a->plain_implicit = in.plain_implicit;
	}
	if (f != NULL && f->is_map && !f->have_key)
		return take_key(b, f, &in, &pos, false);
	if ((f != NULL && f->is_merge_list) || (f != NULL && f->is_map && f->key_is_merge))
		return merge_requires_map(&pos);
	rc = make_value(b, &node, &in, &pos);
	if (rc < 0)
		return rc;
	return deliver(b, node, NULL, &pos, 0);
}

static int on_alias(struct builder *b, const yaml_event_t *event)
{
	struct keelson_source_pos pos = mark_pos(b, &event->start_mark);
	const char *name = (const char *)event->data.alias.anchor;
	long index = strindex_find(&b->anchor_index, name, anchor_name_of, b);
	struct frame *f = b->depth ? &b->frames[b->depth - 1] : NULL;
	const struct anchor *a;

	if (index < 0)
		return error_at(KEELSON_EINVALID, &pos,
			"unknown anchor '%s' referenced: define `&%s` before this alias, in the "
			"same document",
			name, name);
	a = &b->anchors[index];
	if (!a->complete)
		return error_at(KEELSON_EINVALID, &pos,
			"alias *%s refers to the node that contains it (anchor at line %u, column %u)",
			name, a->pos.line, a->pos.column);
	if (a->is_scalar) {
		struct scalar_in in = {
			.text = a->text,
			.len = a->text_len,
			.tag = a->tag,
			.plain_implicit = a->plain_implicit,
			.pos = pos,
		};
		cJSON *node;
		int rc;
		if (f != NULL && f->is_map && !f->have_key)
			return take_key(b, f, &in, &pos, true);
		if ((f != NULL && f->is_merge_list) || (f != NULL && f->is_map && f->key_is_merge))
			return merge_requires_map(&pos);
		rc = check_expansion(b, 1, &pos, name);
		if (rc < 0)
			return rc;
		rc = make_value(b, &node, &in, &pos);
		if (rc < 0)
			return rc;
		b->alias_expansions++;
		return deliver(b, node, NULL, &pos, 0);
	}
	if (f != NULL && f->is_map && !f->have_key)
		return key_must_be_scalar(&pos);
	if (a->node == NULL)
		return error_at(KEELSON_EINVALID, &pos,
			"alias *%s refers to the list of a merge key (<<), which has no value "
			"of its own; anchor the merged maps instead",
			name);
	return deliver(b, a->node, a, &pos, a->height);
}

static int on_collection_start(struct builder *b, const yaml_event_t *event, bool is_map)
{
	struct keelson_source_pos pos = mark_pos(b, &event->start_mark);
	struct frame *parent = b->depth ? &b->frames[b->depth - 1] : NULL;
	const char *anchor = is_map ? (const char *)event->data.mapping_start.anchor
				    : (const char *)event->data.sequence_start.anchor;
	struct frame *f;
	int rc;

	if (parent != NULL && parent->is_map && !parent->have_key)
		return key_must_be_scalar(&pos);
	if (parent != NULL && parent->is_merge_list && !is_map)
		return merge_requires_map(&pos);
	rc = check_depth(b, b->depth + 1, &pos);
	if (rc < 0)
		return rc;
	bool is_merge_list = !is_map && parent != NULL && parent->is_map && parent->key_is_merge;
	parent = NULL; /* the realloc below may move it */
	if (b->depth == b->frame_cap) {
		size_t cap = b->frame_cap ? b->frame_cap * 2 : 16;
		struct frame *frames = realloc(b->frames, cap * sizeof(*frames));
		if (frames == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory parsing YAML");
		b->frames = frames;
		b->frame_cap = cap;
	}
	f = &b->frames[b->depth];
	memset(f, 0, sizeof(*f));
	f->is_map = is_map;
	f->pos = pos;
	f->anchor = -1;
	f->is_merge_list = is_merge_list;
	b->depth++;
	if (anchor != NULL) {
		struct anchor *a = new_anchor(b, anchor, &pos, &f->anchor);
		if (a == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory recording a YAML anchor");
		a->start_nodes = b->nodes;
	}
	if (f->is_merge_list)
		return 0;
	rc = count_node(b, &pos);
	if (rc < 0)
		return rc;
	f->container = is_map ? cJSON_CreateObject() : cJSON_CreateArray();
	rc = adopt(b, f->container, &pos);
	if (rc < 0)
		f->container = NULL;
	return rc;
}

static int on_collection_end(struct builder *b)
{
	struct frame f = b->frames[b->depth - 1];
	unsigned height = f.child_height + 1;
	int rc;

	b->depth--;
	if (f.anchor >= 0) {
		struct anchor *a = &b->anchors[f.anchor];
		a->complete = true;
		a->node = f.container;
		a->size = b->nodes - a->start_nodes;
		a->height = height;
	}
	if (f.is_merge_list) {
		struct frame *parent = &b->frames[b->depth - 1];
		rc = merge_into(b, parent, f.sources, f.source_count);
		parent->have_key = false;
		parent->key_is_merge = false;
		free_frame(&f);
		return rc;
	}
	cJSON *node = f.container;
	struct keelson_source_pos pos = f.pos;
	f.container = NULL;
	free_frame(&f);
	return deliver(b, node, NULL, &pos, height);
}

static void builder_reset_document(struct builder *b)
{
	while (b->depth > 0)
		free_frame(&b->frames[--b->depth]);
	free_anchors(b);
	cJSON_Delete(b->root);
	b->root = NULL;
	b->alias_expansions = 0;
}

static int on_document_end(struct builder *b)
{
	struct keelson_yaml_stream *s = b->stream;
	cJSON *root = b->root;

	b->root = NULL;
	free_anchors(b);
	b->alias_expansions = 0;
	if (root == NULL || cJSON_IsNull(root)) {
		/* kubectl skips empty and null documents. */
		return to_graveyard(b, root);
	}
	if (s->document_count == s->document_cap) {
		size_t cap = s->document_cap ? s->document_cap * 2 : 8;
		cJSON **documents = realloc(s->documents, cap * sizeof(*documents));
		if (documents == NULL) {
			cJSON_Delete(root);
			return keelson_error_set(KEELSON_ENOMEM, "out of memory loading YAML");
		}
		s->documents = documents;
		s->document_cap = cap;
	}
	s->documents[s->document_count++] = root;
	return 0;
}

/* 1-based line and column of byte `offset`, for reader errors that carry
 * only an offset. */
static void offset_pos(struct keelson_source_pos *pos, const char *data, size_t len, size_t offset)
{
	pos->line = 1;
	pos->column = 1;
	for (size_t i = 0; i < offset && i < len; i++) {
		if (data[i] == '\n') {
			pos->line++;
			pos->column = 1;
		} else if (((unsigned char)data[i] & 0xC0) != 0x80) {
			pos->column++;
		}
	}
}

static int parser_error(struct builder *b, const yaml_parser_t *parser, const char *data, size_t len)
{
	struct keelson_source_pos pos = { .file = b->stream->file };

	switch (parser->error) {
	case YAML_MEMORY_ERROR:
		return keelson_error_set(KEELSON_ENOMEM, "%s: out of memory parsing YAML", b->stream->file);
	case YAML_READER_ERROR:
		offset_pos(&pos, data, len, parser->problem_offset);
		return error_at(KEELSON_EINVALID, &pos, "%s; YAML files must be UTF-8 (or UTF-16 with a BOM)",
			parser->problem ? parser->problem : "cannot read the input");
	default:
		pos = mark_pos(b, &parser->problem_mark);
		if (parser->context != NULL)
			return error_at(KEELSON_EINVALID, &pos, "%s (%s at line %zu, column %zu)",
				parser->problem ? parser->problem : "syntax error", parser->context,
				parser->context_mark.line + 1, parser->context_mark.column + 1);
		return error_at(KEELSON_EINVALID, &pos, "%s",
			parser->problem ? parser->problem : "syntax error");
	}
}

static int run_parser(struct builder *b, const char *data, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t event;
	bool done = false;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return keelson_error_set(KEELSON_ENOMEM, "out of memory starting the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &event)) {
			rc = parser_error(b, &parser, data, len);
			break;
		}
		switch (event.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++b->documents_seen > b->limits.max_documents) {
				struct keelson_source_pos pos = mark_pos(b, &event.start_mark);
				rc = error_at(KEELSON_ELIMIT, &pos,
					"more than %zu documents (keelson_yaml_limits.max_documents); "
					"split the file",
					b->limits.max_documents);
			}
			break;
		case YAML_DOCUMENT_END_EVENT:
			rc = on_document_end(b);
			break;
		case YAML_SCALAR_EVENT:
			rc = on_scalar(b, &event);
			break;
		case YAML_ALIAS_EVENT:
			rc = on_alias(b, &event);
			break;
		case YAML_SEQUENCE_START_EVENT:
			rc = on_collection_start(b, &event, false);
			break;
		case YAML_MAPPING_START_EVENT:
			rc = on_collection_start(b, &event, true);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			rc = on_collection_end(b);
			break;
		default:
			break;
		}
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Public API                                                           */

void keelson_yaml_limits_init(struct keelson_yaml_limits *limits)
{
	limits->version = KEELSON_YAML_LIMITS_VERSION;
	limits->max_bytes = 8u * 1024 * 1024;
	limits->max_depth = 100;
	limits->max_alias_expansions = 10000;
	limits->max_nodes = 1000000;
	limits->max_documents = 10000;
}

static int resolve_limits(struct keelson_yaml_limits *out, const struct keelson_yaml_limits *in)
{
	if (in == NULL) {
		keelson_yaml_limits_init(out);
		return 0;
	}
	if (in->version != KEELSON_YAML_LIMITS_VERSION)
		return keelson_error_set(KEELSON_EINVALID,
			"keelson_yaml_limits version %u is not supported (expected %u); "
			"fill the struct with keelson_yaml_limits_init()",
			in->version, KEELSON_YAML_LIMITS_VERSION);
	*out = *in;
	return 0;
}

static int too_big(const char *file, size_t size, size_t max)
{
	return keelson_error_set(KEELSON_ELIMIT,
		"%s: %zu bytes is more than the %zu allowed for a YAML file "
		"(keelson_yaml_limits.max_bytes); split it",
		file, size, max);
}

int keelson_yaml_load_buffer(struct keelson_yaml_stream **out, const char *data, size_t len,
	const char *file_name, const struct keelson_yaml_limits *limits)
{
	struct builder b;
	int rc;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	rc = resolve_limits(&b.limits, limits);
	if (rc < 0)
		return rc;
	if (file_name == NULL)
		file_name = "<input>";
	if (len > b.limits.max_bytes)
		return too_big(file_name, len, b.limits.max_bytes);
	if (data == NULL && len > 0)
		return keelson_error_set(KEELSON_EINVALID, "%s: no data", file_name);
	b.stream = calloc(1, sizeof(*b.stream));
	if (b.stream == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory loading %s", file_name);
	b.stream->file = strdup(file_name);
	b.stream->graveyard = cJSON_CreateArray();
	if (b.stream->file == NULL || b.stream->graveyard == NULL) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory loading %s", file_name);
		goto cleanup;
	}
	rc = run_parser(&b, data ? data : "", len);

cleanup:
	builder_reset_document(&b);
	free(b.frames);
	free(b.anchors);
	if (rc < 0) {
		keelson_yaml_stream_free(b.stream);
		return rc;
	}
	*out = b.stream;
	return 0;
}

int keelson_yaml_load_file(struct keelson_yaml_stream **out, const char *path,
	const struct keelson_yaml_limits *limits)
{
	struct keelson_yaml_limits effective;
	struct stat st;
	char *data = NULL;
	size_t len = 0, cap = 0;
	int fd = -1, rc;

	*out = NULL;
	rc = resolve_limits(&effective, limits);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		return keelson_error_set(err == ENOENT ? KEELSON_ENOTFOUND : KEELSON_ERROR,
			"%s: cannot open: %s", path, strerror(err));
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uintmax_t)st.st_size > effective.max_bytes) {
		rc = too_big(path, (size_t)st.st_size, effective.max_bytes);
		goto cleanup;
	}
	/* Read at most max_bytes + 1 so a growing file or a pipe stays bounded. */
	for (;;) {
		if (len == cap) {
			size_t want = cap ? cap * 2 : 64 * 1024;
			if (want > effective.max_bytes + 1)
				want = effective.max_bytes + 1;
			if (want <= cap) {
				rc = too_big(path, len, effective.max_bytes);
				goto cleanup;
			}
			char *grown = realloc(data, want);
			if (grown == NULL) {
				rc = keelson_error_set(KEELSON_ENOMEM, "%s: out of memory reading", path);
				goto cleanup;
			}
			data = grown;
			cap = want;
		}
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = keelson_error_set(KEELSON_ERROR, "%s: cannot read: %s", path, strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > effective.max_bytes) {
			rc = too_big(path, len, effective.max_bytes);
			goto cleanup;
		}
	}
	rc = keelson_yaml_load_buffer(out, data, len, path, &effective);

cleanup:
	free(data);
	if (fd >= 0)
		close(fd);
	return rc;
}

size_t keelson_yaml_document_count(const struct keelson_yaml_stream *stream)
{
	return stream ? stream->document_count : 0;
}

cJSON *keelson_yaml_document(const struct keelson_yaml_stream *stream, size_t index)
{
	if (stream == NULL || index >= stream->document_count)
		return NULL;
	return stream->documents[index];
}

const struct keelson_source_pos *keelson_yaml_position(const struct keelson_yaml_stream *stream,
	const cJSON *node)
{
	const struct pos_entry *entry = find_entry(stream, node);
	return entry ? &entry->value : NULL;
}

const struct keelson_source_pos *keelson_yaml_key_position(const struct keelson_yaml_stream *stream,
	const cJSON *node)
{
	const struct pos_entry *entry = find_entry(stream, node);
	return entry && entry->key.file ? &entry->key : NULL;
}

int keelson_yaml_position_at(struct keelson_source_pos *out, const struct keelson_yaml_stream *stream,
	size_t document, const char *json_pointer)
{
	const struct keelson_source_pos *pos;
	cJSON *node;
	int rc;

	if (stream == NULL || document >= stream->document_count)
		return keelson_error_set(KEELSON_ENOTFOUND, "%s: no document %zu",
			stream ? stream->file : "(null)", document);
	rc = keelson_json_pointer_get(&node, stream->documents[document], json_pointer);
	if (rc < 0)
		return rc;
	pos = keelson_yaml_position(stream, node);
	if (pos == NULL)
		return keelson_error_set(KEELSON_ENOTFOUND, "%s: no position recorded for %s",
			stream->file, json_pointer);
	*out = *pos;
	return 0;
}

int keelson_yaml_position_nearest(struct keelson_source_pos *out, int *out_exact,
	const struct keelson_yaml_stream *stream, size_t document, const char *json_pointer)
{
	char **tokens = NULL;
	size_t count = 0;
	int rc;

	if (out_exact != NULL)
		*out_exact = 0;
	if (stream == NULL || document >= stream->document_count)
		return keelson_error_set(KEELSON_ENOTFOUND, "%s: no document %zu",
			stream ? stream->file : "(null)", document);
	rc = keelson_json_pointer_parse(&tokens, &count, json_pointer);
	if (rc < 0)
		return rc;
	const cJSON *node = stream->documents[document];
	size_t matched = 0;
	for (; matched < count; matched++) {
		const cJSON *child = NULL;
		if (cJSON_IsObject(node)) {
			child = cJSON_GetObjectItemCaseSensitive(node, tokens[matched]);
		} else if (cJSON_IsArray(node)) {
			/* RFC 6901 index: digits, no leading zero; "-" never exists. */
			const char *t = tokens[matched];
			size_t index = 0;
			bool valid = t[0] != '\0' && (t[0] != '0' || t[1] == '\0');
			for (const char *c = t; valid && *c != '\0'; c++) {
				if (!is_digit(*c) || index > (size_t)INT_MAX / 10)
					valid = false;
				else
					index = index * 10 + (size_t)(*c - '0');
			}
			if (valid && index < (size_t)INT_MAX)
				child = cJSON_GetArrayItem(node, (int)index);
		}
		if (child == NULL)
			break;
		node = child;
	}
	const struct keelson_source_pos *pos = keelson_yaml_position(stream, node);
	if (pos == NULL) {
		rc = keelson_error_set(KEELSON_ENOTFOUND, "%s: no position recorded for %s",
			stream->file, json_pointer);
		goto cleanup;
	}
	*out = *pos;
	if (out_exact != NULL)
		*out_exact = matched == count;
	rc = 0;
cleanup:
	keelson_json_pointer_tokens_free(tokens, count);
	return rc;
}

const char *keelson_yaml_file_name(const struct keelson_yaml_stream *stream)
{
	return stream ? stream->file : NULL;
}

void keelson_yaml_stream_free(struct keelson_yaml_stream *stream)
{
	if (stream == NULL)
		return;
	for (size_t i = 0; i < stream->document_count; i++)
		cJSON_Delete(stream->documents[i]);
	cJSON_Delete(stream->graveyard);
	free(stream->documents);
	free(stream->entries);
	free(stream->slots);
	free(stream->file);
	free(stream);
}
