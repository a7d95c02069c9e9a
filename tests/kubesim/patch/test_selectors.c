#include "config.h"

#include <string.h>

#include "core/error.h"
#include "tests/kubesim/patch/selectors.h"
#include "tests/kubesim/patch/test_support.h"
#include "tests/unit/check_main.h"

struct match_vector {
	const char *selector;
	const char *labels; /* JSON object or NULL */
	bool matches;
};

static const struct match_vector label_matches[] = {
	{ "", NULL, true },
	{ "", "{\"a\":\"b\"}", true },
	{ "app=web", "{\"app\":\"web\"}", true },
	{ "app=web", "{\"app\":\"db\"}", false },
	{ "app=web", NULL, false },
	{ "app==web", "{\"app\":\"web\"}", true },
	{ "app!=web", "{\"app\":\"db\"}", true },
	{ "app!=web", "{\"app\":\"web\"}", false },
	{ "app!=web", "{}", true },
	{ "app!=web", NULL, true },
	{ "tier in (fe,be)", "{\"tier\":\"be\"}", true },
	{ "tier in (fe,be)", "{\"tier\":\"db\"}", false },
	{ "tier in (fe,be)", "{}", false },
	{ "tier notin (fe,be)", "{\"tier\":\"db\"}", true },
	{ "tier notin (fe,be)", "{\"tier\":\"fe\"}", false },
	{ "tier notin (fe,be)", "{}", true },
	{ "canary", "{\"canary\":\"\"}", true },
	{ "canary", "{\"app\":\"web\"}", false },
	{ "!canary", "{\"app\":\"web\"}", true },
	{ "!canary", "{\"canary\":\"yes\"}", false },
	{ "app=web,tier in (fe),!canary", "{\"app\":\"web\",\"tier\":\"fe\"}", true },
	{ "app=web,tier in (fe),!canary", "{\"app\":\"web\",\"tier\":\"fe\",\"canary\":\"1\"}", false },
	{ "  app = web ,  tier   notin(db)  ", "{\"app\":\"web\",\"tier\":\"fe\"}", true },
	{ "app=", "{\"app\":\"\"}", true },
	{ "app=", "{\"app\":\"x\"}", false },
	{ "app in ()", "{\"app\":\"\"}", true },
	{ "app in (a,)", "{\"app\":\"\"}", true },
	{ "mode=in", "{\"mode\":\"in\"}", true },
	{ "app.kubernetes.io/name=web", "{\"app.kubernetes.io/name\":\"web\"}", true },
	{ "replicas>2", "{\"replicas\":\"3\"}", true },
	{ "replicas>2", "{\"replicas\":\"2\"}", false },
	{ "replicas<2", "{\"replicas\":\"1\"}", true },
	{ "replicas<2", "{\"replicas\":\"x\"}", false },
	{ "replicas<2", "{}", false },
	{ "app=web", "{\"app\":5}", false },
};

START_TEST(test_label_matches)
{
	const struct match_vector *v = &label_matches[_i];
	struct ks_label_selector *sel = NULL;
	ck_assert_msg(ks_label_selector_parse(&sel, v->selector) == 0, "%s: %s", v->selector,
		      keelson_error_last()->message);
	cJSON *labels = v->labels ? ks_test_json(v->labels) : NULL;
	ck_assert_msg(ks_label_selector_matches(sel, labels) == v->matches, "\"%s\" against %s", v->selector,
		      v->labels ? v->labels : "no labels");
	cJSON_Delete(labels);
	ks_label_selector_free(sel);
}
END_TEST

static const char *const label_errors[][2] = {
	{ "app=web,", "found '', expected: identifier after ','" },
	{ "=web", "found '=', expected: !, identifier, or 'end of string'" },
	{ "app web", "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt" },
	{ "app in web", "unable to parse requirement: found 'web' expected: '('" },
	{ "app in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'" },
	{ "app in (a", "found '', expected: ',' or ')'" },
	{ "app=(x)", "unable to parse requirement: found '(', expected: identifier" },
	{ "app=a b", "found 'b', expected: ',' or 'end of string'" },
	{ "!", "unable to parse requirement: found '', expected: identifier" },
	{ "-app=web", "unable to parse requirement: key: Invalid value: \"-app\": name part must consist of "
		      "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" },
	{ "Example.com/app=web", "key: Invalid value: \"Example.com/app\": prefix part a lowercase RFC 1123 subdomain" },
	{ "/app=web", "prefix part must be non-empty" },
	{ "a/b/c=web", "a qualified name must consist of" },
	{ "example.com/=web", "name part must be non-empty" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=x",
	  "name part must be no more than 63 characters" },
	{ "app=-web", "values[0][app]: Invalid value: \"-web\": a valid label must be an empty string or consist of" },
	{ "app in (ok,bad-)", "values[0][app]: Invalid value: \"bad-\"" },
	{ "app=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "must be no more than 63 characters" },
	{ "replicas>x", "for 'Gt', 'Lt' operators, the value must be an integer" },
};

START_TEST(test_label_parse_errors)
{
	struct ks_label_selector *sel = NULL;
	ck_assert_int_eq(ks_label_selector_parse(&sel, label_errors[_i][0]), KEELSON_EINVALID);
	ck_assert_ptr_null(sel);
	ck_assert_msg(strstr(keelson_error_last()->message, label_errors[_i][1]) != NULL,
		      "\"%s\": message \"%s\" lacks \"%s\"", label_errors[_i][0], keelson_error_last()->message,
		      label_errors[_i][1]);
}
END_TEST

START_TEST(test_label_length_limit)
{
	char *text = malloc(KS_SELECTOR_MAX_LENGTH + 2);
	memset(text, 'a', KS_SELECTOR_MAX_LENGTH + 1);
	text[KS_SELECTOR_MAX_LENGTH + 1] = '\0';
	struct ks_label_selector *sel = NULL;
	ck_assert_int_eq(ks_label_selector_parse(&sel, text), KEELSON_ELIMIT);
	ck_assert_ptr_null(sel);
	free(text);
}
END_TEST

static const char *const formats[][2] = {
	{ "", "" },
	{ "app=web", "app=web" },
	{ "tier in (fe,be),app=web", "app=web,tier in (be,fe)" },
	{ "b!=1,a==2", "a==2,b!=1" },
	{ "x notin (c,a,b,a)", "x notin (a,b,c)" },
	{ "!canary,app", "app,!canary" },
	{ "n>3", "n>3" },
};

START_TEST(test_label_format)
{
	struct ks_label_selector *sel = NULL;
	ck_assert_int_eq(ks_label_selector_parse(&sel, formats[_i][0]), 0);
	char *text = ks_label_selector_format(sel);
	ck_assert_str_eq(text, formats[_i][1]);
	/* The formatted form parses back to the same selector. */
	struct ks_label_selector *again = NULL;
	ck_assert_int_eq(ks_label_selector_parse(&again, text), 0);
	char *text2 = ks_label_selector_format(again);
	ck_assert_str_eq(text, text2);
	ck_assert(ks_label_selector_is_empty(sel) == (formats[_i][1][0] == '\0'));
	free(text);
	free(text2);
	ks_label_selector_free(sel);
	ks_label_selector_free(again);
}
END_TEST

START_TEST(test_label_from_object)
{
	cJSON *obj = ks_test_json("{\"matchLabels\":{\"app\":\"web\",\"app.kubernetes.io/part-of\":\"kafka\"},"
				  "\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"fe\",\"be\"]},"
				  "{\"key\":\"canary\",\"operator\":\"DoesNotExist\"},"
				  "{\"key\":\"zone\",\"operator\":\"Exists\"},"
				  "{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"dev\"]}]}");
	struct ks_label_selector *sel = NULL;
	ck_assert_int_eq(ks_label_selector_from_object(&sel, obj), 0);
	char *text = ks_label_selector_format(sel);
	ck_assert_str_eq(text, "app=web,app.kubernetes.io/part-of=kafka,!canary,env notin (dev),tier in (be,fe),zone");
	free(text);
	cJSON *labels = ks_test_json("{\"app\":\"web\",\"app.kubernetes.io/part-of\":\"kafka\",\"tier\":\"fe\",\"zone\":\"a\"}");
	ck_assert(ks_label_selector_matches(sel, labels));
	cJSON_ReplaceItemInObject(labels, "tier", cJSON_CreateString("db"));
	ck_assert(!ks_label_selector_matches(sel, labels));
	cJSON_Delete(labels);
	ks_label_selector_free(sel);
	cJSON_Delete(obj);

	/* Scale status.selector for a StatefulSet. */
	obj = ks_test_json("{\"matchLabels\":{\"app\":\"web\"}}");
	ck_assert_int_eq(ks_label_selector_from_object(&sel, obj), 0);
	text = ks_label_selector_format(sel);
	ck_assert_str_eq(text, "app=web");
	free(text);
	ks_label_selector_free(sel);
	cJSON_Delete(obj);

	obj = ks_test_json("{}");
	ck_assert_int_eq(ks_label_selector_from_object(&sel, obj), 0);
	ck_assert(ks_label_selector_is_empty(sel));
	ck_assert(ks_label_selector_matches(sel, NULL));
	ks_label_selector_free(sel);
	cJSON_Delete(obj);
}
END_TEST

static const char *const object_errors[][2] = {
	{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Equals\",\"values\":[\"x\"]}]}",
	  "\"Equals\" is not a valid label selector operator" },
	{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}",
	  "for 'in', 'notin' operators, values set can't be empty" },
	{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}",
	  "values set must be empty for exists and does not exist" },
	{ "{\"matchLabels\":{\"a\":\"-x\"}}", "values[0][a]: Invalid value: \"-x\"" },
	{ "{\"matchLabels\":{\"a\":1}}", "matchLabels[a] must be a string" },
	{ "{\"matchLabels\":[]}", "matchLabels must be an object" },
};

START_TEST(test_label_from_object_errors)
{
	cJSON *obj = ks_test_json(object_errors[_i][0]);
	struct ks_label_selector *sel = NULL;
	ck_assert_int_eq(ks_label_selector_from_object(&sel, obj), KEELSON_EINVALID);
	ck_assert_ptr_null(sel);
	ck_assert_msg(strstr(keelson_error_last()->message, object_errors[_i][1]) != NULL,
		      "message \"%s\" lacks \"%s\"", keelson_error_last()->message, object_errors[_i][1]);
	cJSON_Delete(obj);
}
END_TEST

#define POD                                                                                         \
	"{\"metadata\":{\"name\":\"web-0\",\"namespace\":\"kafka\"},\"spec\":{\"nodeName\":\"n1\","   \
	"\"restartPolicy\":\"Always\",\"schedulerName\":\"default-scheduler\",\"serviceAccountName\":\"sa\"," \
	"\"hostNetwork\":false},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\","           \
	"\"podIPs\":[{\"ip\":\"10.0.0.5\"}]}}"
#define EVENT                                                                                       \
	"{\"metadata\":{\"name\":\"web-0.1\",\"namespace\":\"kafka\"},\"involvedObject\":{\"kind\":\"Pod\"," \
	"\"name\":\"web-0\",\"namespace\":\"kafka\",\"uid\":\"u-1\"},\"reason\":\"Started\",\"type\":\"Normal\"," \
	"\"source\":{\"component\":\"kubelet\"}}"

struct field_vector {
	const char *kind;
	const char *selector;
	const char *object;
	bool matches;
};

static const struct field_vector field_matches[] = {
	{ "Pod", "", POD, true },
	{ "Pod", "metadata.name=web-0", POD, true },
	{ "Pod", "metadata.name==web-0", POD, true },
	{ "Pod", "metadata.name=web-1", POD, false },
	{ "Pod", "metadata.name!=web-1", POD, true },
	{ "Pod", "metadata.namespace=kafka,metadata.name=web-0", POD, true },
	{ "Pod", "metadata.namespace=kafka,metadata.name=web-1", POD, false },
	{ "Pod", "spec.nodeName=n1", POD, true },
	{ "Pod", "spec.nodeName=", POD, false },
	{ "Pod", "spec.nodeName=", "{\"metadata\":{\"name\":\"p\"}}", true },
	{ "Pod", "status.phase=Running", POD, true },
	{ "Pod", "status.phase!=Running", POD, false },
	{ "Pod", "spec.restartPolicy=Always", POD, true },
	{ "Pod", "spec.schedulerName=default-scheduler", POD, true },
	{ "Pod", "spec.serviceAccountName=sa", POD, true },
	{ "Pod", "spec.hostNetwork=false", POD, true },
	{ "Pod", "status.podIP=10.0.0.5", POD, true },
	{ "Event", "involvedObject.kind=Pod,involvedObject.name=web-0", EVENT, true },
	{ "Event", "involvedObject.namespace=kafka,involvedObject.uid=u-1", EVENT, true },
	{ "Event", "reason=Started,type=Normal", EVENT, true },
	{ "Event", "type=Warning", EVENT, false },
	{ "Event", "source=kubelet", EVENT, true },
	{ "Secret", "type=kubernetes.io/tls", "{\"type\":\"kubernetes.io/tls\"}", true },
	{ "Secret", "type=Opaque", "{\"type\":\"kubernetes.io/tls\"}", false },
	{ "Namespace", "status.phase=Active", "{\"status\":{\"phase\":\"Active\"}}", true },
	{ "Namespace", "status.phase=Terminating", "{\"status\":{\"phase\":\"Active\"}}", false },
	{ "ConfigMap", "metadata.name=a\\,b", "{\"metadata\":{\"name\":\"a,b\"}}", true },
	{ "ReplicaSet", "status.replicas=3", "{\"status\":{\"replicas\":3}}", true },
	{ "Node", "spec.unschedulable=true", "{\"spec\":{\"unschedulable\":true}}", true },
};

START_TEST(test_field_matches)
{
	const struct field_vector *v = &field_matches[_i];
	struct ks_field_selector *sel = NULL;
	ck_assert_msg(ks_field_selector_parse(&sel, v->selector, v->kind) == 0, "%s: %s", v->selector,
		      keelson_error_last()->message);
	cJSON *object = ks_test_json(v->object);
	ck_assert_msg(ks_field_selector_matches(sel, object) == v->matches, "%s \"%s\"", v->kind, v->selector);
	cJSON_Delete(object);
	ks_field_selector_free(sel);
}
END_TEST

static const char *const field_errors[][3] = {
	{ "Pod", "spec.containers=x", "field label not supported: spec.containers" },
	{ "StatefulSet", "spec.replicas=3", "field label not supported: spec.replicas" },
	{ "Secret", "status.phase=x", "field label not supported: status.phase" },
	{ "Namespace", "metadata.namespace=x", "field label not supported: metadata.namespace" },
	{ "Pod", "metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'" },
	{ "Pod", "metadata.name=a=b", "invalid field selector: unescaped character in value: =" },
	{ "Pod", "metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x" },
};

START_TEST(test_field_parse_errors)
{
	struct ks_field_selector *sel = NULL;
	ck_assert_int_eq(ks_field_selector_parse(&sel, field_errors[_i][1], field_errors[_i][0]),
			 KEELSON_EINVALID);
	ck_assert_ptr_null(sel);
	ck_assert_msg(strstr(keelson_error_last()->message, field_errors[_i][2]) != NULL,
		      "message \"%s\" lacks \"%s\"", keelson_error_last()->message, field_errors[_i][2]);
}
END_TEST

START_TEST(test_field_exact_name)
{
	struct ks_field_selector *sel = NULL;
	ck_assert_int_eq(ks_field_selector_parse(&sel, "metadata.namespace=ns,metadata.name=web-0", "Pod"), 0);
	ck_assert_str_eq(ks_field_selector_exact_name(sel), "web-0");
	ks_field_selector_free(sel);
	ck_assert_int_eq(ks_field_selector_parse(&sel, "metadata.name!=web-0", "Pod"), 0);
	ck_assert_ptr_null(ks_field_selector_exact_name(sel));
	ks_field_selector_free(sel);
	ck_assert_ptr_null(ks_field_selector_exact_name(NULL));
}
END_TEST

static Suite *suite_selectors(void)
{
	Suite *s = suite_create("selectors");
	TCase *parse = tcase_create("ks_label_selector_parse");
	tcase_add_loop_test(parse, test_label_matches, 0, (int)(sizeof(label_matches) / sizeof(label_matches[0])));
	tcase_add_loop_test(parse, test_label_parse_errors, 0, (int)(sizeof(label_errors) / sizeof(label_errors[0])));
	tcase_add_test(parse, test_label_length_limit);
	suite_add_tcase(s, parse);
	TCase *format = tcase_create("ks_label_selector_format");
	tcase_add_loop_test(format, test_label_format, 0, (int)(sizeof(formats) / sizeof(formats[0])));
	suite_add_tcase(s, format);
	TCase *object = tcase_create("ks_label_selector_from_object");
	tcase_add_test(object, test_label_from_object);
	tcase_add_loop_test(object, test_label_from_object_errors, 0,
			    (int)(sizeof(object_errors) / sizeof(object_errors[0])));
	suite_add_tcase(s, object);
	TCase *field = tcase_create("ks_field_selector_parse");
	tcase_add_loop_test(field, test_field_matches, 0, (int)(sizeof(field_matches) / sizeof(field_matches[0])));
	tcase_add_loop_test(field, test_field_parse_errors, 0, (int)(sizeof(field_errors) / sizeof(field_errors[0])));
	suite_add_tcase(s, field);
	TCase *exact = tcase_create("ks_field_selector_exact_name");
	tcase_add_test(exact, test_field_exact_name);
	suite_add_tcase(s, exact);
	return s;
}

KEELSON_CHECK_MAIN(suite_selectors)
