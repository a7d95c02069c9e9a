# Kafka plugin (issue 6): plugins/kafka and its tests
pkglib_LTLIBRARIES += plugins/kafka/kafka.la
plugins_kafka_kafka_la_SOURCES = \
	plugins/kafka/kafka.c \
	plugins/kafka/cc.c plugins/kafka/cc.h \
	plugins/kafka/prom.c plugins/kafka/prom.h \
	plugins/kafka/util.c plugins/kafka/kafka_internal.h \
	plugins/include/keelson/plugin.h
plugins_kafka_kafka_la_LDFLAGS = $(AM_LDFLAGS) $(PLUGIN_LDFLAGS)
plugins_kafka_kafka_la_LIBADD = -lm

# Scenarios against kubesim through `keelson run` (tests/kafka/*.sh).
kafka_scenarios = \
	tests/kafka/kafka-roll.sh \
	tests/kafka/kafka-blocked.sh \
	tests/kafka/kafka-plan.sh \
	tests/kafka/kafka-sigkill.sh \
	tests/kafka/kafka-scale.sh
TESTS += $(kafka_scenarios)
EXTRA_DIST += \
	$(kafka_scenarios) \
	tests/kafka/kafka-lib.sh \
	plugins/kafka/README.md \
	tests/kafka/repo/keelson.yaml \
	tests/kafka/repo/clusters/sim/cluster.yaml \
	tests/kafka/repo/clusters/sim/kafka/configmap.yaml \
	tests/kafka/repo/clusters/sim/kafka/namespace.yaml \
	tests/kafka/repo/clusters/sim/kafka/services.yaml \
	tests/kafka/repo/clusters/sim/kafka/statefulset.yaml \
	tests/kafka/repo/clusters/sim/kafka/system.yaml

# Planning against a fake host, and the Prometheus parser.
check_PROGRAMS += tests/kafka/test_kafka_plan
TESTS += tests/kafka/test_kafka_plan
tests_kafka_test_kafka_plan_SOURCES = tests/kafka/test_kafka_plan.c plugins/kafka/prom.c plugins/kafka/prom.h \
	tests/plugin/plugin_paths.h tests/unit/check_main.h
tests_kafka_test_kafka_plan_CFLAGS = $(PLUGIN_TEST_CFLAGS)
tests_kafka_test_kafka_plan_LDADD = $(PLUGIN_TEST_LDADD) -lm
