# Spark plugin (issue 8): plugins/spark and its tests.
# User documentation: plugins/spark/README.md.
pkglib_LTLIBRARIES += plugins/spark/spark.la
plugins_spark_spark_la_SOURCES = \
	plugins/spark/spark.c \
	plugins/spark/spark_rules.c plugins/spark/spark_rules.h \
	plugins/spark/json_builder.c plugins/spark/json_builder.h \
	plugins/include/keelson/plugin.h
plugins_spark_spark_la_LDFLAGS = $(AM_LDFLAGS) $(PLUGIN_LDFLAGS)

# Unit tests: the rules, the JSON builder, and plan() through the real host
# with a fake environment (the plugin's sources are compiled in).
check_PROGRAMS += tests/spark/test_spark
TESTS += tests/spark/test_spark
tests_spark_test_spark_SOURCES = tests/spark/test_spark.c \
	plugins/spark/spark.c \
	plugins/spark/spark_rules.c plugins/spark/spark_rules.h \
	plugins/spark/json_builder.c plugins/spark/json_builder.h \
	tests/plugin/fake_view.h tests/unit/check_main.h
tests_spark_test_spark_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
tests_spark_test_spark_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)

# Scenario tests: keelson run against kubesim's Spark model.
spark_scenario_tests = \
	tests/spark/spark-submit.sh \
	tests/spark/spark-spec-change.sh \
	tests/spark/spark-retries.sh \
	tests/spark/spark-always.sh \
	tests/spark/spark-operator.sh
TESTS += $(spark_scenario_tests)
EXTRA_DIST += plugins/spark/README.md tests/spark/spark-lib.sh $(spark_scenario_tests)
