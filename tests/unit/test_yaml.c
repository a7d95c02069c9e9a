/* Tests for reconciler/yaml/yaml_load.c: resolution rules (checked against
 * kubectl, see yaml-kubectl-agreement.sh), positions, errors and limits. */
#include "config.h"

#include "core/error.h"
#include "json/json_pointer.h"
#include "yaml/yaml_load.h"
#include "tests/unit/check_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILE_NAME "test.yaml"

static struct keelson_yaml_stream *load_ok(const char *yaml)
{
	struct keelson_yaml_stream *stream = NULL;
	int rc = keelson_yaml_load_buffer(&stream, yaml, strlen(yaml), FILE_NAME, NULL);
	ck_assert_msg(rc == 0, "loading:\n%s\nfailed: %s", yaml, keelson_error_last()->message);
	ck_assert_ptr_nonnull(stream);
	return stream;
}

static int load_rc(const char *yaml, const struct keelson_yaml_limits *limits)
{
	struct keelson_yaml_stream *stream = (struct keelson_yaml_stream *)1;
	int rc = keelson_yaml_load_buffer(&stream, yaml, strlen(yaml), FILE_NAME, limits);
	if (rc == 0)
		keelson_yaml_stream_free(stream);
	else
		ck_assert_ptr_null(stream);
	return rc;
}

static cJSON *at(const struct keelson_yaml_stream *stream, size_t doc, const char *pointer)
{
	cJSON *node = NULL;
	int rc = keelson_json_pointer_get(&node, keelson_yaml_document(stream, doc), pointer);
	ck_assert_msg(rc == 0, "no %s in document %zu", pointer, doc);
	return node;
}

/* ------------------------------------------------------------------ */
/* Scalar resolution: one table, every rule, values as kubectl reads them. */

enum expect { NUL, TRUE_, FALSE_, NUMBER, RAW, STRING };

static const struct resolution_case {
	const char *value; /* YAML text after "v: " */
	enum expect kind;
	double number;
	const char *text;  /* RAW digits or STRING value */
} resolution_cases[] = {
	/* booleans: three case forms only */
	{ "y", TRUE_, 0, NULL }, { "Y", TRUE_, 0, NULL }, { "yes", TRUE_, 0, NULL },
	{ "Yes", TRUE_, 0, NULL }, { "YES", TRUE_, 0, NULL }, { "on", TRUE_, 0, NULL },
	{ "On", TRUE_, 0, NULL }, { "ON", TRUE_, 0, NULL }, { "true", TRUE_, 0, NULL },
	{ "True", TRUE_, 0, NULL }, { "TRUE", TRUE_, 0, NULL },
	{ "n", FALSE_, 0, NULL }, { "N", FALSE_, 0, NULL }, { "no", FALSE_, 0, NULL },
	{ "No", FALSE_, 0, NULL }, { "NO", FALSE_, 0, NULL }, { "off", FALSE_, 0, NULL },
	{ "Off", FALSE_, 0, NULL }, { "OFF", FALSE_, 0, NULL }, { "false", FALSE_, 0, NULL },
	{ "False", FALSE_, 0, NULL }, { "FALSE", FALSE_, 0, NULL },
	{ "yEs", STRING, 0, "yEs" }, { "tRUE", STRING, 0, "tRUE" }, { "oN", STRING, 0, "oN" },
	{ "yesterday", STRING, 0, "yesterday" },
	/* nulls */
	{ "~", NUL, 0, NULL }, { "null", NUL, 0, NULL }, { "Null", NUL, 0, NULL },
	{ "NULL", NUL, 0, NULL }, { "", NUL, 0, NULL }, { "nULL", STRING, 0, "nULL" },
	/* integers: Go base-0 syntax after removing '_' */
	{ "0644", NUMBER, 420, NULL }, { "0_644", NUMBER, 420, NULL },
	{ "0o17", NUMBER, 15, NULL }, { "0O17", NUMBER, 15, NULL },
	{ "0x1F", NUMBER, 31, NULL }, { "0X1f", NUMBER, 31, NULL }, { "0x_1F", NUMBER, 31, NULL },
	{ "-0x1F", NUMBER, -31, NULL }, { "+0x1f", NUMBER, 31, NULL },
	{ "0b101", NUMBER, 5, NULL }, { "-0b101", NUMBER, -5, NULL },
	{ "1_000", NUMBER, 1000, NULL }, { "1__0", NUMBER, 10, NULL },
	{ "+12", NUMBER, 12, NULL }, { "-0", NUMBER, 0, NULL }, { "00", NUMBER, 0, NULL },
	{ "08", NUMBER, 8, NULL }, { "09", NUMBER, 9, NULL },
	{ "9007199254740992", NUMBER, 9007199254740992.0, NULL },
	{ "-9007199254740992", NUMBER, -9007199254740992.0, NULL },
	/* int64 beyond 2^53 stays exact, as raw decimal text */
	{ "9007199254740993", RAW, 0, "9007199254740993" },
	{ "-9007199254740993", RAW, 0, "-9007199254740993" },
	{ "9223372036854775807", RAW, 0, "9223372036854775807" },
	{ "-9223372036854775808", RAW, 0, "-9223372036854775808" },
	{ "0x7FFFFFFFFFFFFFFF", RAW, 0, "9223372036854775807" },
	/* beyond int64: kubectl reads a float64 */
	{ "9223372036854775808", NUMBER, 9223372036854775808.0, NULL },
	{ "-9223372036854775809", NUMBER, -9223372036854775808.0, NULL },
	{ "0xFFFFFFFFFFFFFFFF", NUMBER, 18446744073709551615.0, NULL },
	{ "99999999999999999999", NUMBER, 1e20, NULL },
	/* floats */
	{ "1e3", NUMBER, 1000, NULL }, { "1E3", NUMBER, 1000, NULL },
	{ "09.5", NUMBER, 9.5, NULL }, { ".5", NUMBER, 0.5, NULL },
	{ "-.5", NUMBER, -0.5, NULL }, { "+.5", NUMBER, 0.5, NULL },
	{ "1.0", NUMBER, 1, NULL }, { "1.", NUMBER, 1, NULL }, { "0.", NUMBER, 0, NULL },
	{ "0.1", NUMBER, 0.1, NULL }, { "6.02e23", NUMBER, 6.02e23, NULL },
	{ "2.5e-3", NUMBER, 2.5e-3, NULL }, { "1e-400", NUMBER, 0, NULL },
	{ "-0.0", NUMBER, 0, NULL }, { ".5_0", NUMBER, 0.5, NULL },
	{ "1_000.5", NUMBER, 1000.5, NULL }, { "1_000.5e1_0", NUMBER, 1000.5e10, NULL },
	{ "1e400", STRING, 0, "1e400" }, { "0x1p3", STRING, 0, "0x1p3" },
	{ "1.2.3", STRING, 0, "1.2.3" }, { "._5", STRING, 0, "._5" },
	/* strings that look like something else */
	{ "\"0644\"", STRING, 0, "0644" }, { "'12'", STRING, 0, "12" },
	{ "\"true\"", STRING, 0, "true" }, { "'yes'", STRING, 0, "yes" },
	{ "\"~\"", STRING, 0, "~" }, { "\"\"", STRING, 0, "" }, { "'null'", STRING, 0, "null" },
	{ "12:30:00", STRING, 0, "12:30:00" }, { "12:30", STRING, 0, "12:30" },
	{ "2001-12-14", STRING, 0, "2001-12-14" },
	{ "2001-12-14T21:59:43.10-05:00", STRING, 0, "2001-12-14T21:59:43.10-05:00" },
	{ "0x", STRING, 0, "0x" }, { "0b", STRING, 0, "0b" }, { "0o8", STRING, 0, "0o8" },
	{ "1,000", STRING, 0, "1,000" }, { "_1", STRING, 0, "_1" }, { "<<", STRING, 0, "<<" },
	{ "-x", STRING, 0, "-x" }, { "v1.2.3", STRING, 0, "v1.2.3" },
	{ "\"a\\tb\\u00e9\"", STRING, 0, "a\tb\xc3\xa9" }, { "'it''s'", STRING, 0, "it's" },
	{ "plain\n  continued", STRING, 0, "plain continued" },
	/* block scalars are strings, with chomping */
	{ "|\n  x\n  y\n", STRING, 0, "x\ny\n" }, { "|-\n  x\n\n", STRING, 0, "x" },
	{ "|+\n  x\n", STRING, 0, "x\n\n" }, { ">\n  a\n  b\n\n  c\n", STRING, 0, "a b\nc\n" },
	{ ">-\n  a\n  b\n", STRING, 0, "a b" }, { ">+\n  a\n", STRING, 0, "a\n\n" },
	{ "|\n  0644\n", STRING, 0, "0644\n" }, { "|2\n   x\n", STRING, 0, " x\n" },
	/* explicit tags */
	{ "!!int \"12\"", NUMBER, 12, NULL }, { "!!int 0x10", NUMBER, 16, NULL },
	{ "!!float 1", NUMBER, 1, NULL }, { "!!float \"1.5\"", NUMBER, 1.5, NULL },
	{ "!!str 12", STRING, 0, "12" }, { "!!str yes", STRING, 0, "yes" },
	{ "!!str", STRING, 0, "" }, { "!!bool \"yes\"", TRUE_, 0, NULL },
	{ "!!null \"\"", NUL, 0, NULL }, { "!custom 12", STRING, 0, "12" },
	{ "! 12", STRING, 0, "12" }, { "!<tag:yaml.org,2002:int> \"7\"", NUMBER, 7, NULL },
	{ "!!timestamp 2001-12-14", STRING, 0, "2001-12-14" },
	{ "!!binary aGVsbG8=", STRING, 0, "hello" },
	{ "!!binary |\n  aGVs\n  bG8=\n", STRING, 0, "hello" },
	{ "!!binary \"/w==\"", STRING, 0, "\xef\xbf\xbd" }, /* invalid UTF-8 -> U+FFFD, as Go */
};

START_TEST(test_resolution)
{
	const struct resolution_case *c = &resolution_cases[_i];
	char yaml[256];
	snprintf(yaml, sizeof(yaml), "v: %s\n", c->value);
	struct keelson_yaml_stream *stream = load_ok(yaml);
	cJSON *v = at(stream, 0, "/v");

	switch (c->kind) {
	case NUL:
		ck_assert_msg(cJSON_IsNull(v), "`%s` should be null", c->value);
		break;
	case TRUE_:
		ck_assert_msg(cJSON_IsTrue(v), "`%s` should be true", c->value);
		break;
	case FALSE_:
		ck_assert_msg(cJSON_IsFalse(v), "`%s` should be false", c->value);
		break;
	case NUMBER:
		ck_assert_msg(cJSON_IsNumber(v), "`%s` should be a number", c->value);
		ck_assert_msg(v->valuedouble == c->number, "`%s` is %.17g, expected %.17g", c->value,
			v->valuedouble, c->number);
		ck_assert_msg(!signbit(v->valuedouble) || c->number < 0, "`%s` is -0", c->value);
		break;
	case RAW:
		ck_assert_msg(cJSON_IsRaw(v), "`%s` should be a raw exact integer", c->value);
		ck_assert_str_eq(v->valuestring, c->text);
		break;
	case STRING:
		ck_assert_msg(cJSON_IsString(v), "`%s` should be a string", c->value);
		ck_assert_str_eq(v->valuestring, c->text);
		break;
	}
	keelson_yaml_stream_free(stream);
}
END_TEST

/* Keys become strings the way sigs.k8s.io/yaml converts them. */
static const struct {
	const char *key;
	const char *expected;
} key_cases[] = {
	{ "on", "true" }, { "n", "false" }, { "Y", "true" }, { "NO", "false" },
	{ "0644", "420" }, { "0x10", "16" }, { "1234567890123456789", "1234567890123456789" },
	{ "1.5", "1.5" }, { "1000000.0", "1e+06" }, { "100000.0", "100000" },
	{ "0.00001", "1e-05" }, { "0.0001", "0.0001" }, { "3.14159265358979", "3.1415927" },
	{ "1e3", "1000" }, { "08", "8" }, { "-0.0", "-0" }, { "2.50", "2.5" },
	{ "123456789.0", "1.2345679e+08" }, { "1e-7", "1e-07" },
	{ ".inf", ".inf" }, { "-.inf", "-.inf" }, { ".nan", ".nan" }, { "1e39", ".inf" },
	{ "2001-12-14", "2001-12-14" }, { "\"<<\"", "<<" }, { "'on'", "on" },
	{ "!!str 12", "12" }, { "plain key", "plain key" },
};

START_TEST(test_key_conversion)
{
	char yaml[128];
	snprintf(yaml, sizeof(yaml), "%s: x\n", key_cases[_i].key);
	struct keelson_yaml_stream *stream = load_ok(yaml);
	cJSON *member = keelson_yaml_document(stream, 0)->child;
	ck_assert_ptr_nonnull(member);
	ck_assert_str_eq(member->string, key_cases[_i].expected);
	keelson_yaml_stream_free(stream);
}
END_TEST

/* Errors: exact file:line:column and the gist of the message. */
static const struct {
	const char *yaml;
	int code;
	const char *prefix;
	const char *contains;
} error_cases[] = {
	{ "a: .inf\n", KEELSON_EINVALID, "test.yaml:1:4: ", "unsupported value: +Inf" },
	{ "a:\n  b: -.INF\n", KEELSON_EINVALID, "test.yaml:2:6: ", "unsupported value: -Inf" },
	{ "a: [1, .nan]\n", KEELSON_EINVALID, "test.yaml:1:8: ", "unsupported value: NaN" },
	{ "a: 1\nb: [1, 2\n", KEELSON_EINVALID, "test.yaml:3:1: ",
		"did not find expected ',' or ']' (while parsing a flow sequence at line 2, column 4)" },
	{ "a:\n  b: 1\n c: 2\n", KEELSON_EINVALID, "test.yaml:3:2: ", "did not find expected key" },
	{ "a: b: c\n", KEELSON_EINVALID, "test.yaml:1:5: ", "mapping values are not allowed" },
	{ "a: \"open\n", KEELSON_EINVALID, "test.yaml:2:1: ", "found unexpected end of stream" },
	{ "a: 1\n\xff\n", KEELSON_EINVALID, "test.yaml:2:1: ", "invalid leading UTF-8 octet" },
	{ "a:\n\t- 1\n", KEELSON_EINVALID, "test.yaml:2:1: ", "found character that cannot start" },
	{ "a: *nowhere\n", KEELSON_EINVALID, "test.yaml:1:4: ", "unknown anchor 'nowhere'" },
	{ "a: &x [1, *x]\n", KEELSON_EINVALID, "test.yaml:1:11: ", "contains it" },
	{ "a: !!int three\n", KEELSON_EINVALID, "test.yaml:1:4: ",
		"cannot read `three` as !!int: it resolves to !!str" },
	{ "a: !!bool 1\n", KEELSON_EINVALID, "test.yaml:1:4: ", "as !!bool: it resolves to !!int" },
	{ "a: !!int 1.5\n", KEELSON_EINVALID, "test.yaml:1:4: ", "as !!int: it resolves to !!float" },
	{ "a: !!null x\n", KEELSON_EINVALID, "test.yaml:1:4: ", "as !!null" },
	{ "a: !!float 1e400\n", KEELSON_EINVALID, "test.yaml:1:4: ", "as !!float" },
	{ "a: !!timestamp 2001-13-01\n", KEELSON_EINVALID, "test.yaml:1:4: ", "as !!timestamp" },
	{ "a: !!binary \"!!\"\n", KEELSON_EINVALID, "test.yaml:1:4: ", "not valid base64" },
	{ "~: x\n", KEELSON_EINVALID, "test.yaml:1:1: ", "mapping key `~` is null" },
	{ "9223372036854775808: x\n", KEELSON_EINVALID, "test.yaml:1:1: ",
		"does not fit in a signed 64-bit integer" },
	{ "? [a]\n: 1\n", KEELSON_EINVALID, "test.yaml:1:3: ", "mapping key must be a scalar" },
	{ "{a: 1}: x\n", KEELSON_EINVALID, "test.yaml:1:1: ", "mapping key must be a scalar" },
	{ "a: &l [1]\n*l : x\n", KEELSON_EINVALID, "test.yaml:2:1: ", "mapping key must be a scalar" },
	{ "a: \"x\\0y\"\n", KEELSON_EINVALID, "test.yaml:1:4: ", "NUL character" },
	/* merge keys */
	{ "<<: [1]\n", KEELSON_EINVALID, "test.yaml:1:6: ", "merge key (<<) needs a mapping" },
	{ "<<: text\n", KEELSON_EINVALID, "test.yaml:1:5: ", "merge key (<<) needs a mapping" },
	{ "<<: [[a]]\n", KEELSON_EINVALID, "test.yaml:1:6: ", "merge key (<<) needs a mapping" },
	{ "s: &s [1]\nm:\n  <<: *s\n", KEELSON_EINVALID, "test.yaml:3:7: ",
		"merge key (<<) needs a mapping" },
	{ "m: &m {a: 1}\nt:\n  <<: &l [*m]\nu: *l\n", KEELSON_EINVALID, "test.yaml:4:4: ",
		"list of a merge key" },
	/* keelson refuses what a reviewer cannot read unambiguously */
	{ "a: 1\nb: 2\na: 3\n", KEELSON_EINVALID, "test.yaml:3:1: ",
		"duplicate key \"a\" (first at line 1, column 1)" },
	{ "on: 1\ntrue: 2\n", KEELSON_EINVALID, "test.yaml:2:1: ",
		"duplicate key \"true\" (first at line 1, column 1)" },
	{ "x: {k: 1, k: 2}\n", KEELSON_EINVALID, "test.yaml:1:11: ", "duplicate key \"k\"" },
	{ "b: &b {r: 1}\nt:\n  r: 5\n  <<: *b\n", KEELSON_EINVALID, "test.yaml:4:3: ",
		"also sets key \"r\", written before it at line 3, column 3" },
	{ "a: &a {x: 1}\nb: &b {y: 1}\nt:\n  <<: *a\n  <<: *b\n", KEELSON_EINVALID,
		"test.yaml:5:3: ", "second merge key (<<) in this mapping (first at line 4, column 3)" },
	/* anchors are local to their document */
	{ "a: &x 1\n---\nb: *x\n", KEELSON_EINVALID, "test.yaml:3:4: ", "unknown anchor 'x'" },
};

START_TEST(test_errors)
{
	int rc = load_rc(error_cases[_i].yaml, NULL);
	const char *message = keelson_error_last()->message;
	ck_assert_msg(rc == error_cases[_i].code, "case %d: rc %d (%s)", _i, rc, message);
	ck_assert_msg(strncmp(message, error_cases[_i].prefix, strlen(error_cases[_i].prefix)) == 0,
		"case %d: message \"%s\" should start with \"%s\"", _i, message, error_cases[_i].prefix);
	ck_assert_msg(strstr(message, error_cases[_i].contains) != NULL,
		"case %d: message \"%s\" should contain \"%s\"", _i, message, error_cases[_i].contains);
}
END_TEST

START_TEST(test_multi_document)
{
	struct keelson_yaml_stream *stream = load_ok(
		"# comment only\n"
		"---\n"
		"kind: A\n"
		"---\n"
		"---\n"
		"~\n"
		"--- # comment\n"
		"null\n"
		"---\n"
		"- 1\n"
		"- 2\n"
		"...\n"
		"---\n"
		"just a string\n"
		"---\n"
		"kind: B\n"
		"---\n"
		"# trailing\n");

	/* empty and null documents are skipped; non-mappings are kept */
	ck_assert_uint_eq(keelson_yaml_document_count(stream), 4);
	ck_assert_str_eq(cJSON_GetObjectItem(keelson_yaml_document(stream, 0), "kind")->valuestring, "A");
	ck_assert(cJSON_IsArray(keelson_yaml_document(stream, 1)));
	ck_assert_int_eq(cJSON_GetArraySize(keelson_yaml_document(stream, 1)), 2);
	ck_assert_str_eq(keelson_yaml_document(stream, 2)->valuestring, "just a string");
	ck_assert_str_eq(cJSON_GetObjectItem(keelson_yaml_document(stream, 3), "kind")->valuestring, "B");
	ck_assert_uint_eq(keelson_yaml_position(stream, keelson_yaml_document(stream, 3))->line, 16);
	ck_assert_ptr_null(keelson_yaml_document(stream, 4));
	keelson_yaml_stream_free(stream);

	stream = load_ok("# nothing here\n");
	ck_assert_uint_eq(keelson_yaml_document_count(stream), 0);
	keelson_yaml_stream_free(stream);
	stream = load_ok("");
	ck_assert_uint_eq(keelson_yaml_document_count(stream), 0);
	keelson_yaml_stream_free(stream);
}
END_TEST

START_TEST(test_anchors_and_merges)
{
	struct keelson_yaml_stream *stream = load_ok(
		"defaults: &defaults\n"
		"  replicas: 3\n"
		"  image: &image \"app:1.0\"\n"
		"  ports: &ports [80, 443]\n"
		"extra: &extra {debug: true, replicas: 5}\n"
		"scalar: *image\n"
		"list: *ports\n"
		"one:\n"
		"  <<: *defaults\n"
		"  replicas: 4\n"
		"many:\n"
		"  <<: [*extra, *defaults]\n"
		"inline:\n"
		"  <<: [{a: 1}, {a: 2, c: 3}]\n"
		"keyed:\n"
		"  &k name : v1\n"
		"  other: *k\n"
		"quoted:\n"
		"  \"<<\": not a merge\n"
		"tagged:\n"
		"  !!merge <<: *extra\n"
		"redefined: &image other\n"
		"after: *image\n"
		"typed: &n 0644\n"
		"typed_alias: *n\n"
		"anchored_merge:\n"
		"  <<: &m {p: 1}\n"
		"merge_anchor_alias: *m\n");
	cJSON *doc = keelson_yaml_document(stream, 0);
	char *text = cJSON_PrintUnformatted(doc);
	ck_assert_str_eq(text,
		"{\"defaults\":{\"replicas\":3,\"image\":\"app:1.0\",\"ports\":[80,443]},"
		"\"extra\":{\"debug\":true,\"replicas\":5},"
		"\"scalar\":\"app:1.0\",\"list\":[80,443],"
		"\"one\":{\"image\":\"app:1.0\",\"ports\":[80,443],\"replicas\":4},"
		"\"many\":{\"debug\":true,\"replicas\":5,\"image\":\"app:1.0\",\"ports\":[80,443]},"
		"\"inline\":{\"a\":1,\"c\":3},"
		"\"keyed\":{\"name\":\"v1\",\"other\":\"name\"},"
		"\"quoted\":{\"<<\":\"not a merge\"},"
		"\"tagged\":{\"debug\":true,\"replicas\":5},"
		"\"redefined\":\"other\",\"after\":\"other\","
		"\"typed\":420,\"typed_alias\":420,"
		"\"anchored_merge\":{\"p\":1},\"merge_anchor_alias\":{\"p\":1}}");
	cJSON_free(text);

	/* only a written `<<` merges; an alias of the word "<<" is a plain key */
	keelson_yaml_stream_free(stream);
	stream = load_ok("w: &w <<\nm:\n  *w : 1\n");
	ck_assert(cJSON_IsNumber(at(stream, 0, "/m/<<")));
	keelson_yaml_stream_free(stream);
	stream = load_ok(
		"defaults: &defaults\n"
		"  ports: &ports [80, 443]\n"
		"list: *ports\n"
		"one:\n"
		"  <<: *defaults\n");

	/* aliases are copies, never shared nodes */
	ck_assert_ptr_ne(at(stream, 0, "/list"), at(stream, 0, "/defaults/ports"));
	ck_assert_ptr_ne(at(stream, 0, "/one/ports"), at(stream, 0, "/defaults/ports"));
	keelson_yaml_stream_free(stream);
}
END_TEST

START_TEST(test_large_mapping)
{
	/* 100,000 keys in one mapping: duplicate detection must stay linear. */
	size_t count = 100000, len = 0;
	char *yaml = malloc(count * 24);
	ck_assert_ptr_nonnull(yaml);
	for (size_t i = 0; i < count; i++)
		len += (size_t)sprintf(yaml + len, "key%zu: %zu\n", i, i);
	struct keelson_yaml_stream *stream = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, yaml, len, FILE_NAME, NULL), 0);
	ck_assert_int_eq(cJSON_GetArraySize(keelson_yaml_document(stream, 0)), (int)count);
	ck_assert_uint_eq(keelson_yaml_position(stream, at(stream, 0, "/key99999"))->line, 100000);
	keelson_yaml_stream_free(stream);

	/* the same with a duplicate at the end */
	len += (size_t)sprintf(yaml + len, "key5: again\n");
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, yaml, len, FILE_NAME, NULL), KEELSON_EINVALID);
	ck_assert_str_eq(keelson_error_last()->message,
		"test.yaml:100001:1: duplicate key \"key5\" (first at line 6, column 1); Kubernetes "
		"would silently keep the last one, so keelson refuses the file: remove one of them");
	free(yaml);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits */

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

START_TEST(test_limits_billion_laughs)
{
	static const char yaml[] =
		"a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
		"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
		"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
		"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
		"h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
		"i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	struct keelson_yaml_limits limits;
	struct timespec start;

	/* Only the alias budget stands between this file and 10^9 nodes. */
	keelson_yaml_limits_init(&limits);
	limits.max_nodes = (size_t)-1;
	clock_gettime(CLOCK_MONOTONIC, &start);
	ck_assert_int_eq(load_rc(yaml, &limits), KEELSON_ELIMIT);
	ck_assert_msg(seconds_since(&start) < 1.0, "took %.3f s", seconds_since(&start));
	/* a=10 nodes, b=91, c=820, d=7381: b..d copy 8289 nodes; the first *d
	 * on line 5 would bring it to 15670 > 10000. */
	ck_assert_str_eq(keelson_error_last()->message,
		"test.yaml:5:8: alias *d would expand the document beyond 10000 aliased nodes "
		"(keelson_yaml_limits.max_alias_expansions); this looks like a \"billion laughs\" "
		"file: write the values out instead of nesting aliases");

	/* The same attack through merge keys. */
	ck_assert_int_eq(load_rc(
		"a: &a {a0: [1,2,3,4,5,6,7,8,9], a1: [1,2,3,4,5,6,7,8,9], a2: [1,2,3,4,5,6,7,8,9]}\n"
		"b: &b {b0: *a, b1: *a, b2: *a, b3: *a, b4: *a, b5: *a, b6: *a, b7: *a, b8: *a}\n"
		"c: &c {c0: *b, c1: *b, c2: *b, c3: *b, c4: *b, c5: *b, c6: *b, c7: *b, c8: *b}\n"
		"d: &d {<<: *c, d0: *c, d1: *c, d2: *c}\n", &limits), KEELSON_ELIMIT);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "max_alias_expansions"));
}
END_TEST

START_TEST(test_limits_alias_budget_exact)
{
	struct keelson_yaml_limits limits;
	keelson_yaml_limits_init(&limits);
	limits.max_alias_expansions = 6;
	/* [1, 2] is 3 nodes: two copies fit exactly, a third does not */
	ck_assert_int_eq(load_rc("a: &a [1, 2]\nb: *a\nc: *a\n", &limits), 0);
	ck_assert_int_eq(load_rc("a: &a [1, 2]\nb: *a\nc: *a\nd: *a\n", &limits), KEELSON_ELIMIT);
	ck_assert_str_eq(keelson_error_last()->message,
		"test.yaml:4:4: alias *a would expand the document beyond 6 aliased nodes "
		"(keelson_yaml_limits.max_alias_expansions); this looks like a \"billion laughs\" "
		"file: write the values out instead of nesting aliases");
	/* the budget is per document */
	ck_assert_int_eq(load_rc("a: &a [1, 2]\nb: *a\nc: *a\n---\na: &a [1, 2]\nb: *a\nc: *a\n",
				 &limits), 0);
}
END_TEST

START_TEST(test_limits_depth)
{
	struct keelson_yaml_limits limits;
	char yaml[512];
	size_t n = 0;

	keelson_yaml_limits_init(&limits);
	limits.max_depth = 100;
	/* 100 nested lists load, 101 do not */
	for (int i = 0; i < 100; i++)
		yaml[n++] = '[';
	for (int i = 0; i < 100; i++)
		yaml[n++] = ']';
	yaml[n] = '\0';
	ck_assert_int_eq(load_rc(yaml, &limits), 0);
	n = 0;
	for (int i = 0; i < 101; i++)
		yaml[n++] = '[';
	for (int i = 0; i < 101; i++)
		yaml[n++] = ']';
	yaml[n] = '\0';
	ck_assert_int_eq(load_rc(yaml, &limits), KEELSON_ELIMIT);
	ck_assert_str_eq(keelson_error_last()->message,
		"test.yaml:1:101: collections nested more than 100 deep "
		"(keelson_yaml_limits.max_depth)");

	/* depth reached through an alias counts too */
	limits.max_depth = 3;
	ck_assert_int_eq(load_rc("a: &a [[1]]\n", &limits), 0);
	ck_assert_int_eq(load_rc("a: &a [[1]]\nb: [*a]\n", &limits), KEELSON_ELIMIT);
	ck_assert_str_eq(keelson_error_last()->message,
		"test.yaml:2:5: collections nested more than 3 deep (keelson_yaml_limits.max_depth)");
	/* and through a merge */
	ck_assert_int_eq(load_rc("a: &a {x: [1]}\nb: {c: {<<: *a}}\n", &limits), KEELSON_ELIMIT);
	ck_assert_int_eq(load_rc("a: &a {x: 1}\nb: {c: {<<: *a}}\n", &limits), 0);
}
END_TEST

START_TEST(test_limits_size_nodes_documents)
{
	struct keelson_yaml_limits limits;
	keelson_yaml_limits_init(&limits);

	limits.max_bytes = 10;
	ck_assert_int_eq(load_rc("a: 1234567\n", &limits), KEELSON_ELIMIT); /* 11 bytes */
	ck_assert_str_eq(keelson_error_last()->message,
		"test.yaml: 11 bytes is more than the 10 allowed for a YAML file "
		"(keelson_yaml_limits.max_bytes); split it");
	ck_assert_int_eq(load_rc("a: 123456\n", &limits), 0);

	keelson_yaml_limits_init(&limits);
	limits.max_nodes = 4; /* root, 1, 2, 3 */
	ck_assert_int_eq(load_rc("[1, 2, 3]\n", &limits), 0);
	ck_assert_int_eq(load_rc("[1, 2, 3, 4]\n", &limits), KEELSON_ELIMIT);
	ck_assert_str_eq(keelson_error_last()->message,
		"test.yaml:1:11: more than 4 YAML nodes in this stream "
		"(keelson_yaml_limits.max_nodes); split the file");

	keelson_yaml_limits_init(&limits);
	limits.max_documents = 2;
	ck_assert_int_eq(load_rc("a: 1\n---\nb: 2\n", &limits), 0);
	ck_assert_int_eq(load_rc("a: 1\n---\nb: 2\n---\nc: 3\n", &limits), KEELSON_ELIMIT);
	ck_assert_str_eq(keelson_error_last()->message,
		"test.yaml:4:1: more than 2 documents (keelson_yaml_limits.max_documents); split the file");

	limits.version = 99;
	ck_assert_int_eq(load_rc("a: 1\n", &limits), KEELSON_EINVALID);
}
END_TEST

START_TEST(test_limits_init)
{
	struct keelson_yaml_limits limits;
	memset(&limits, 0xff, sizeof(limits));
	keelson_yaml_limits_init(&limits);
	ck_assert_uint_eq(limits.version, KEELSON_YAML_LIMITS_VERSION);
	ck_assert_uint_eq(limits.max_bytes, 8u * 1024 * 1024);
	ck_assert_uint_eq(limits.max_depth, 100);
	ck_assert_uint_eq(limits.max_alias_expansions, 10000);
	ck_assert_uint_eq(limits.max_nodes, 1000000);
	ck_assert_uint_eq(limits.max_documents, 10000);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Positions */

static const char position_yaml[] =
	"apiVersion: v1\n"                   /* 1 */
	"kind: ConfigMap\n"                  /* 2 */
	"metadata:\n"                        /* 3 */
	"  name: &s demo\n"                  /* 4 */
	"  labels: {app: web, tier: \"db\"}\n" /* 5 */
	"spec:\n"                            /* 6 */
	"  list:\n"                          /* 7 */
	"    - a\n"                          /* 8 */
	"    - [1, {x: y}]\n"                /* 9 */
	"  text: |\n"                        /* 10 */
	"    hello\n"                        /* 11 */
	"  anchor: &a\n"                     /* 12 */
	"    k: v\n"                         /* 13 */
	"  alias: *a\n"                      /* 14 */
	"  \xc3\xa9t\xc3\xa9: \"\xc3\xa9\"\n" /* 15: columns count characters */
	"  merged:\n"                        /* 16 */
	"    <<: *a\n"                       /* 17 */
	"    z: 1\n"                         /* 18 */
	"  salias: *s\n";                    /* 19 */

static const struct {
	const char *pointer;
	unsigned line, column;
	unsigned key_line, key_column; /* 0: no key position */
} position_cases[] = {
	{ "", 1, 1, 0, 0 },
	{ "/apiVersion", 1, 13, 1, 1 },
	{ "/kind", 2, 7, 2, 1 },
	{ "/metadata", 4, 3, 3, 1 }, /* a block mapping starts at its first key */
	{ "/metadata/name", 4, 9, 4, 3 },
	{ "/metadata/labels", 5, 11, 5, 3 },
	{ "/metadata/labels/app", 5, 17, 5, 12 },
	{ "/metadata/labels/tier", 5, 28, 5, 22 },
	{ "/spec/list", 8, 5, 7, 3 }, /* a block sequence starts at its first '-' */
	{ "/spec/list/0", 8, 7, 0, 0 },
	{ "/spec/list/1", 9, 7, 0, 0 },
	{ "/spec/list/1/0", 9, 8, 0, 0 },
	{ "/spec/list/1/1", 9, 11, 0, 0 },
	{ "/spec/list/1/1/x", 9, 15, 9, 12 },
	{ "/spec/text", 10, 9, 10, 3 },
	{ "/spec/anchor", 12, 11, 12, 3 },
	{ "/spec/anchor/k", 13, 8, 13, 5 },
	{ "/spec/alias", 14, 10, 14, 3 },  /* the alias itself: where `*a` is */
	{ "/spec/alias/k", 13, 8, 13, 5 }, /* inside it: where the text is */
	{ "/spec/\xc3\xa9t\xc3\xa9", 15, 8, 15, 3 },
	{ "/spec/merged/k", 13, 8, 13, 5 }, /* merged members: where they are written */
	{ "/spec/merged/z", 18, 8, 18, 5 },
	{ "/spec/salias", 19, 11, 19, 3 }, /* a scalar alias: where `*s` is */
};

START_TEST(test_position)
{
	struct keelson_yaml_stream *stream = load_ok(position_yaml);
	cJSON *node = at(stream, 0, position_cases[_i].pointer);
	const struct keelson_source_pos *pos = keelson_yaml_position(stream, node);
	const struct keelson_source_pos *key = keelson_yaml_key_position(stream, node);

	ck_assert_ptr_nonnull(pos);
	ck_assert_str_eq(pos->file, FILE_NAME);
	ck_assert_msg(pos->line == position_cases[_i].line && pos->column == position_cases[_i].column,
		"%s at %u:%u, expected %u:%u", position_cases[_i].pointer, pos->line, pos->column,
		position_cases[_i].line, position_cases[_i].column);
	if (position_cases[_i].key_line == 0) {
		ck_assert_ptr_null(key);
	} else {
		ck_assert_ptr_nonnull(key);
		ck_assert_msg(key->line == position_cases[_i].key_line &&
				      key->column == position_cases[_i].key_column,
			"key of %s at %u:%u, expected %u:%u", position_cases[_i].pointer, key->line,
			key->column, position_cases[_i].key_line, position_cases[_i].key_column);
	}
	keelson_yaml_stream_free(stream);
}
END_TEST

START_TEST(test_position_foreign_nodes)
{
	struct keelson_yaml_stream *stream = load_ok("a: 1\n");
	struct keelson_yaml_stream *other = load_ok("a: 1\n");
	cJSON *mine = at(stream, 0, "/a");
	cJSON *foreign = cJSON_CreateNull();

	ck_assert_ptr_null(keelson_yaml_position(stream, foreign));
	ck_assert_ptr_null(keelson_yaml_key_position(stream, foreign));
	ck_assert_ptr_null(keelson_yaml_position(other, mine));
	ck_assert_ptr_null(keelson_yaml_position(stream, NULL));
	ck_assert_ptr_null(keelson_yaml_position(NULL, mine));
	ck_assert_str_eq(keelson_yaml_file_name(stream), FILE_NAME);
	cJSON_Delete(foreign);
	keelson_yaml_stream_free(other);
	keelson_yaml_stream_free(stream);
}
END_TEST

START_TEST(test_position_at)
{
	struct keelson_yaml_stream *stream = load_ok("a: 1\n---\nb:\n  - x\n  - {\"c/d\": 2, \"e~f\": 3}\n");
	struct keelson_source_pos pos;

	ck_assert_int_eq(keelson_yaml_position_at(&pos, stream, 1, "/b/1/c~1d"), 0);
	ck_assert_uint_eq(pos.line, 5);
	ck_assert_uint_eq(pos.column, 13);
	ck_assert_str_eq(pos.file, FILE_NAME);
	ck_assert_int_eq(keelson_yaml_position_at(&pos, stream, 1, "/b/1/e~0f"), 0);
	ck_assert_uint_eq(pos.column, 23);
	ck_assert_int_eq(keelson_yaml_position_at(&pos, stream, 1, ""), 0);
	ck_assert_uint_eq(pos.line, 3);
	ck_assert_uint_eq(pos.column, 1);
	ck_assert_int_eq(keelson_yaml_position_at(&pos, stream, 0, "/a"), 0);
	ck_assert_uint_eq(pos.line, 1);
	ck_assert_uint_eq(pos.column, 4);
	ck_assert_int_eq(keelson_yaml_position_at(&pos, stream, 1, "/b/2"), KEELSON_ENOTFOUND);
	ck_assert_int_eq(keelson_yaml_position_at(&pos, stream, 2, ""), KEELSON_ENOTFOUND);
	ck_assert_int_eq(keelson_yaml_position_at(&pos, stream, 0, "a"), KEELSON_EINVALID);
	keelson_yaml_stream_free(stream);
}
END_TEST

START_TEST(test_position_nearest)
{
	struct keelson_yaml_stream *stream = load_ok(
		"spec:\n"
		"  containers:\n"
		"    - name: a\n"
		"      env: [{name: X}]\n");
	struct keelson_source_pos pos;
	int exact = -1;

	ck_assert_int_eq(keelson_yaml_position_nearest(&pos, &exact, stream, 0, "/spec/containers/0/name"), 0);
	ck_assert_int_eq(exact, 1);
	ck_assert_uint_eq(pos.line, 3);
	ck_assert_uint_eq(pos.column, 13);
	/* a missing field points at the mapping it would go into */
	ck_assert_int_eq(keelson_yaml_position_nearest(&pos, &exact, stream, 0,
				 "/spec/containers/0/image/tag"), 0);
	ck_assert_int_eq(exact, 0);
	ck_assert_uint_eq(pos.line, 3);
	ck_assert_uint_eq(pos.column, 7);
	/* past the end of a list, or not an index: the list */
	ck_assert_int_eq(keelson_yaml_position_nearest(&pos, &exact, stream, 0, "/spec/containers/1"), 0);
	ck_assert_int_eq(exact, 0);
	ck_assert_uint_eq(pos.line, 3);
	ck_assert_uint_eq(pos.column, 5);
	ck_assert_int_eq(keelson_yaml_position_nearest(&pos, NULL, stream, 0,
				 "/spec/containers/0/env/01"), 0);
	ck_assert_uint_eq(pos.line, 4);
	ck_assert_uint_eq(pos.column, 12);
	ck_assert_int_eq(keelson_yaml_position_nearest(&pos, &exact, stream, 0, "/nothing"), 0);
	ck_assert_int_eq(exact, 0);
	ck_assert_uint_eq(pos.line, 1);
	ck_assert_int_eq(keelson_yaml_position_nearest(&pos, &exact, stream, 1, ""), KEELSON_ENOTFOUND);
	ck_assert_int_eq(keelson_yaml_position_nearest(&pos, &exact, stream, 0, "x"), KEELSON_EINVALID);
	keelson_yaml_stream_free(stream);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Files */

static char *write_temp(const char *content)
{
	char *path = strdup("/tmp/keelson-test-yaml-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

START_TEST(test_load_file)
{
	struct keelson_yaml_stream *stream = NULL;
	struct keelson_yaml_limits limits;
	char *path = write_temp("kind: A\nspec: {mode: 0644}\n");

	ck_assert_int_eq(keelson_yaml_load_file(&stream, path, NULL), 0);
	ck_assert_uint_eq(keelson_yaml_document_count(stream), 1);
	ck_assert_str_eq(keelson_yaml_file_name(stream), path);
	ck_assert_int_eq((int)at(stream, 0, "/spec/mode")->valuedouble, 420);
	ck_assert_str_eq(keelson_yaml_position(stream, at(stream, 0, "/spec/mode"))->file, path);
	keelson_yaml_stream_free(stream);

	/* a huge (sparse) file is refused from its size, without reading it */
	keelson_yaml_limits_init(&limits);
	ck_assert_int_eq(truncate(path, (off_t)1 << 40), 0);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	ck_assert_int_eq(keelson_yaml_load_file(&stream, path, &limits), KEELSON_ELIMIT);
	ck_assert_msg(seconds_since(&start) < 1.0, "took %.3f s", seconds_since(&start));
	ck_assert_ptr_null(stream);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "1099511627776 bytes is more than"));
	unlink(path);
	free(path);

	ck_assert_int_eq(keelson_yaml_load_file(&stream, "/nonexistent/keelson.yaml", NULL),
		KEELSON_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "/nonexistent/keelson.yaml"));

	/* syntax errors name the file */
	path = write_temp("a: [\n");
	ck_assert_int_eq(keelson_yaml_load_file(&stream, path, NULL), KEELSON_EINVALID);
	ck_assert_msg(strncmp(keelson_error_last()->message, path, strlen(path)) == 0,
		"%s", keelson_error_last()->message);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_many_documents)
{
	/* 10,000 small objects: the shape of a big generated bundle */
	size_t count = 10000, len = 0;
	char *yaml = malloc(count * 128);
	ck_assert_ptr_nonnull(yaml);
	for (size_t i = 0; i < count; i++)
		len += (size_t)sprintf(yaml + len,
			"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%zu}\ndata: {k: \"%zu\"}\n",
			i, i);
	struct keelson_yaml_stream *stream = NULL;
	ck_assert_int_eq(keelson_yaml_load_buffer(&stream, yaml, len, FILE_NAME, NULL), 0);
	ck_assert_uint_eq(keelson_yaml_document_count(stream), count);
	struct keelson_source_pos pos;
	ck_assert_int_eq(keelson_yaml_position_at(&pos, stream, count - 1, "/data/k"), 0);
	ck_assert_uint_eq(pos.line, (count - 1) * 5 + 5);
	ck_assert_str_eq(at(stream, count - 1, "/metadata/name")->valuestring, "cm-9999");
	keelson_yaml_stream_free(stream);
	free(yaml);
}
END_TEST

START_TEST(test_stream_free_null)
{
	keelson_yaml_stream_free(NULL);
	ck_assert_uint_eq(keelson_yaml_document_count(NULL), 0);
	ck_assert_ptr_null(keelson_yaml_document(NULL, 0));
}
END_TEST

Suite *suite_yaml(void);

Suite *suite_yaml(void)
{
	Suite *s = suite_create("yaml");
	TCase *tc;

	tc = tcase_create("keelson_yaml_load_buffer");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_resolution, 0,
		(int)(sizeof(resolution_cases) / sizeof(resolution_cases[0])));
	tcase_add_loop_test(tc, test_key_conversion, 0, (int)(sizeof(key_cases) / sizeof(key_cases[0])));
	tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(error_cases) / sizeof(error_cases[0])));
	tcase_add_test(tc, test_multi_document);
	tcase_add_test(tc, test_anchors_and_merges);
	tcase_add_test(tc, test_large_mapping);
	tcase_add_test(tc, test_many_documents);
	tcase_add_test(tc, test_limits_billion_laughs);
	tcase_add_test(tc, test_limits_alias_budget_exact);
	tcase_add_test(tc, test_limits_depth);
	tcase_add_test(tc, test_limits_size_nodes_documents);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_yaml_limits_init");
	tcase_add_test(tc, test_limits_init);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_yaml_load_file");
	tcase_add_test(tc, test_load_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_yaml_position");
	tcase_add_loop_test(tc, test_position, 0,
		(int)(sizeof(position_cases) / sizeof(position_cases[0])));
	tcase_add_test(tc, test_position_foreign_nodes);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_yaml_position_at");
	tcase_add_test(tc, test_position_at);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_yaml_position_nearest");
	tcase_add_test(tc, test_position_nearest);
	suite_add_tcase(s, tc);

	tc = tcase_create("keelson_yaml_stream_free");
	tcase_add_test(tc, test_stream_free_null);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_yaml)
