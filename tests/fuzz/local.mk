# Fuzz targets, limits and security tests (keelson issue 11).
#
# Every fuzz target tests/fuzz/fuzz_NAME.c is built two ways:
#   tests/fuzz/replay-NAME  (always; in `make check`): runs the entry point
#       over tests/fuzz/corpus/NAME and tests/fuzz/crashes/NAME, so the
#       seeds and every crash ever found run under gcc + ASan + UBSan;
#   tests/fuzz/fuzz-NAME    (configure CC=clang --enable-fuzzing): the
#       libFuzzer binary; `make fuzz FUZZ_SECONDS=60` builds and runs them.
# See tests/fuzz/README.md.

FUZZ_TARGETS = yaml kubeconfig layout diff kubesim_patch kubesim_request json_api webhook metrics \
	kafka_prom cass_json kafka_plan cassandra_plan spark_plan

FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_SRCDIR='"$(abs_top_srcdir)"'
FUZZ_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS) $(YAML_CFLAGS)
FUZZ_LDADD = libkeelson-core.la $(CJSON_LIBS)
FUZZ_KUBESIM_LDADD = libkubesim-server.la libkubesim-apply.la libkubesim-patch.la libkubesim.la \
	libkeelson-core.la $(CURL_LIBS) $(KUBESIM_HTTP_LIBS) $(CRYPTO_LIBS) $(CJSON_LIBS) \
	$(PTHREAD_LIBS) -lm
FUZZ_COMMON = tests/fuzz/fuzz_common.c tests/fuzz/fuzz.h
FUZZ_REPLAY = tests/fuzz/replay_main.c $(FUZZ_COMMON)

fuzz_replay_programs = \
	tests/fuzz/replay-yaml \
	tests/fuzz/replay-kubeconfig \
	tests/fuzz/replay-layout \
	tests/fuzz/replay-diff \
	tests/fuzz/replay-kubesim_patch \
	tests/fuzz/replay-kubesim_request \
	tests/fuzz/replay-json_api \
	tests/fuzz/replay-webhook \
	tests/fuzz/replay-metrics \
	tests/fuzz/replay-kafka_prom \
	tests/fuzz/replay-cass_json \
	tests/fuzz/replay-kafka_plan \
	tests/fuzz/replay-cassandra_plan \
	tests/fuzz/replay-spark_plan
check_PROGRAMS += $(fuzz_replay_programs)
TESTS += $(fuzz_replay_programs)

tests_fuzz_replay_yaml_SOURCES = tests/fuzz/fuzz_yaml.c $(FUZZ_REPLAY)
tests_fuzz_replay_yaml_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"yaml"'
tests_fuzz_replay_yaml_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_yaml_LDADD = $(FUZZ_LDADD)

tests_fuzz_replay_kubeconfig_SOURCES = tests/fuzz/fuzz_kubeconfig.c $(FUZZ_REPLAY)
tests_fuzz_replay_kubeconfig_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"kubeconfig"'
tests_fuzz_replay_kubeconfig_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_kubeconfig_LDADD = $(FUZZ_LDADD)

tests_fuzz_replay_layout_SOURCES = tests/fuzz/fuzz_layout.c tests/fuzz/mem_source.c \
	tests/fuzz/mem_source.h $(FUZZ_REPLAY)
tests_fuzz_replay_layout_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"layout"'
tests_fuzz_replay_layout_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_layout_LDADD = $(FUZZ_LDADD)

tests_fuzz_replay_diff_SOURCES = tests/fuzz/fuzz_diff.c $(FUZZ_REPLAY)
tests_fuzz_replay_diff_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"diff"'
tests_fuzz_replay_diff_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_diff_LDADD = $(FUZZ_LDADD)

tests_fuzz_replay_kubesim_patch_SOURCES = tests/fuzz/fuzz_kubesim_patch.c $(FUZZ_REPLAY)
tests_fuzz_replay_kubesim_patch_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"kubesim_patch"'
tests_fuzz_replay_kubesim_patch_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_kubesim_patch_LDADD = libkubesim-patch.la $(FUZZ_LDADD)

tests_fuzz_replay_kubesim_request_SOURCES = tests/fuzz/fuzz_kubesim_request.c $(FUZZ_REPLAY)
tests_fuzz_replay_kubesim_request_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"kubesim_request"'
tests_fuzz_replay_kubesim_request_CFLAGS = $(FUZZ_CFLAGS) $(CURL_CFLAGS) $(MHD_CFLAGS)
tests_fuzz_replay_kubesim_request_LDADD = $(FUZZ_KUBESIM_LDADD)

tests_fuzz_replay_json_api_SOURCES = tests/fuzz/fuzz_json_api.c $(FUZZ_REPLAY)
tests_fuzz_replay_json_api_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"json_api"'
tests_fuzz_replay_json_api_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_json_api_LDADD = $(FUZZ_LDADD)

tests_fuzz_replay_webhook_SOURCES = tests/fuzz/fuzz_webhook.c $(FUZZ_REPLAY)
tests_fuzz_replay_webhook_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"webhook"'
tests_fuzz_replay_webhook_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_webhook_LDADD = $(FUZZ_LDADD)

tests_fuzz_replay_metrics_SOURCES = tests/fuzz/fuzz_metrics.c plugins/kafka/prom.c $(FUZZ_REPLAY)
tests_fuzz_replay_metrics_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"metrics"'
tests_fuzz_replay_metrics_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_metrics_LDADD = $(FUZZ_LDADD) -lm

# The plugins' readers, compiled into the targets (libc-only sources).
tests_fuzz_replay_kafka_prom_SOURCES = tests/fuzz/fuzz_kafka_prom.c plugins/kafka/prom.c plugins/kafka/prom.h \
	$(FUZZ_REPLAY)
tests_fuzz_replay_kafka_prom_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"kafka_prom"'
tests_fuzz_replay_kafka_prom_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_kafka_prom_LDADD = $(FUZZ_LDADD) -lm

tests_fuzz_replay_cass_json_SOURCES = tests/fuzz/fuzz_cass_json.c plugins/cassandra/cass_json.c \
	plugins/cassandra/cass_json.h $(FUZZ_REPLAY)
tests_fuzz_replay_cass_json_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"cass_json"'
tests_fuzz_replay_cass_json_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_cass_json_LDADD = $(FUZZ_LDADD)

# The plugins' planning through the real host, the cluster answered from
# the input (fake_host.h); each plugin's sources are compiled in.
FUZZ_PLAN_HOST = tests/fuzz/fake_host.c tests/fuzz/fake_host.h
FUZZ_KAFKA_SOURCES = plugins/kafka/kafka.c plugins/kafka/cc.c plugins/kafka/cc.h plugins/kafka/prom.c \
	plugins/kafka/prom.h plugins/kafka/util.c plugins/kafka/kafka_internal.h
FUZZ_CASSANDRA_SOURCES = plugins/cassandra/cassandra.c plugins/cassandra/cass_json.c plugins/cassandra/cass_json.h
FUZZ_SPARK_SOURCES = plugins/spark/spark.c plugins/spark/spark_rules.c plugins/spark/spark_rules.h \
	plugins/spark/json_builder.c plugins/spark/json_builder.h

tests_fuzz_replay_kafka_plan_SOURCES = tests/fuzz/fuzz_kafka_plan.c $(FUZZ_PLAN_HOST) $(FUZZ_KAFKA_SOURCES) \
	$(FUZZ_REPLAY)
tests_fuzz_replay_kafka_plan_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"kafka_plan"'
tests_fuzz_replay_kafka_plan_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_kafka_plan_LDADD = $(FUZZ_LDADD) -lm

tests_fuzz_replay_cassandra_plan_SOURCES = tests/fuzz/fuzz_cassandra_plan.c $(FUZZ_PLAN_HOST) \
	$(FUZZ_CASSANDRA_SOURCES) $(FUZZ_REPLAY)
tests_fuzz_replay_cassandra_plan_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"cassandra_plan"'
tests_fuzz_replay_cassandra_plan_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_cassandra_plan_LDADD = $(FUZZ_LDADD) -lm

tests_fuzz_replay_spark_plan_SOURCES = tests/fuzz/fuzz_spark_plan.c $(FUZZ_PLAN_HOST) $(FUZZ_SPARK_SOURCES) \
	$(FUZZ_REPLAY)
tests_fuzz_replay_spark_plan_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_TARGET_NAME='"spark_plan"'
tests_fuzz_replay_spark_plan_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_replay_spark_plan_LDADD = $(FUZZ_LDADD) -lm

# libFuzzer binaries: built only by `make fuzz` (EXTRA_PROGRAMS), only in a
# clang --enable-fuzzing build.
FUZZ_LINK = -fsanitize=fuzzer
fuzz_programs = \
	tests/fuzz/fuzz-yaml \
	tests/fuzz/fuzz-kubeconfig \
	tests/fuzz/fuzz-layout \
	tests/fuzz/fuzz-diff \
	tests/fuzz/fuzz-kubesim_patch \
	tests/fuzz/fuzz-kubesim_request \
	tests/fuzz/fuzz-json_api \
	tests/fuzz/fuzz-webhook \
	tests/fuzz/fuzz-metrics \
	tests/fuzz/fuzz-kafka_prom \
	tests/fuzz/fuzz-cass_json \
	tests/fuzz/fuzz-kafka_plan \
	tests/fuzz/fuzz-cassandra_plan \
	tests/fuzz/fuzz-spark_plan
EXTRA_PROGRAMS = $(fuzz_programs)
CLEANFILES += $(fuzz_programs)

tests_fuzz_fuzz_yaml_SOURCES = tests/fuzz/fuzz_yaml.c $(FUZZ_COMMON)
tests_fuzz_fuzz_yaml_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_yaml_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_yaml_LDADD = $(FUZZ_LDADD)

tests_fuzz_fuzz_kubeconfig_SOURCES = tests/fuzz/fuzz_kubeconfig.c $(FUZZ_COMMON)
tests_fuzz_fuzz_kubeconfig_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_kubeconfig_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_kubeconfig_LDADD = $(FUZZ_LDADD)

tests_fuzz_fuzz_layout_SOURCES = tests/fuzz/fuzz_layout.c tests/fuzz/mem_source.c \
	tests/fuzz/mem_source.h $(FUZZ_COMMON)
tests_fuzz_fuzz_layout_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_layout_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_layout_LDADD = $(FUZZ_LDADD)

tests_fuzz_fuzz_diff_SOURCES = tests/fuzz/fuzz_diff.c $(FUZZ_COMMON)
tests_fuzz_fuzz_diff_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_diff_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_diff_LDADD = $(FUZZ_LDADD)

tests_fuzz_fuzz_kubesim_patch_SOURCES = tests/fuzz/fuzz_kubesim_patch.c $(FUZZ_COMMON)
tests_fuzz_fuzz_kubesim_patch_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_kubesim_patch_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_kubesim_patch_LDADD = libkubesim-patch.la $(FUZZ_LDADD)

tests_fuzz_fuzz_kubesim_request_SOURCES = tests/fuzz/fuzz_kubesim_request.c $(FUZZ_COMMON)
tests_fuzz_fuzz_kubesim_request_CFLAGS = $(FUZZ_CFLAGS) $(CURL_CFLAGS) $(MHD_CFLAGS)
tests_fuzz_fuzz_kubesim_request_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_kubesim_request_LDADD = $(FUZZ_KUBESIM_LDADD)

tests_fuzz_fuzz_json_api_SOURCES = tests/fuzz/fuzz_json_api.c $(FUZZ_COMMON)
tests_fuzz_fuzz_json_api_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_json_api_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_json_api_LDADD = $(FUZZ_LDADD)

tests_fuzz_fuzz_webhook_SOURCES = tests/fuzz/fuzz_webhook.c $(FUZZ_COMMON)
tests_fuzz_fuzz_webhook_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_webhook_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_webhook_LDADD = $(FUZZ_LDADD)

tests_fuzz_fuzz_metrics_SOURCES = tests/fuzz/fuzz_metrics.c plugins/kafka/prom.c $(FUZZ_COMMON)
tests_fuzz_fuzz_metrics_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_metrics_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_metrics_LDADD = $(FUZZ_LDADD) -lm

tests_fuzz_fuzz_kafka_prom_SOURCES = tests/fuzz/fuzz_kafka_prom.c plugins/kafka/prom.c plugins/kafka/prom.h \
	$(FUZZ_COMMON)
tests_fuzz_fuzz_kafka_prom_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_kafka_prom_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_kafka_prom_LDADD = $(FUZZ_LDADD) -lm

tests_fuzz_fuzz_cass_json_SOURCES = tests/fuzz/fuzz_cass_json.c plugins/cassandra/cass_json.c \
	plugins/cassandra/cass_json.h $(FUZZ_COMMON)
tests_fuzz_fuzz_cass_json_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_cass_json_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_cass_json_LDADD = $(FUZZ_LDADD)

tests_fuzz_fuzz_kafka_plan_SOURCES = tests/fuzz/fuzz_kafka_plan.c $(FUZZ_PLAN_HOST) $(FUZZ_KAFKA_SOURCES) \
	$(FUZZ_COMMON)
tests_fuzz_fuzz_kafka_plan_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_kafka_plan_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_kafka_plan_LDADD = $(FUZZ_LDADD) -lm

tests_fuzz_fuzz_cassandra_plan_SOURCES = tests/fuzz/fuzz_cassandra_plan.c $(FUZZ_PLAN_HOST) \
	$(FUZZ_CASSANDRA_SOURCES) $(FUZZ_COMMON)
tests_fuzz_fuzz_cassandra_plan_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_cassandra_plan_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_cassandra_plan_LDADD = $(FUZZ_LDADD) -lm

tests_fuzz_fuzz_spark_plan_SOURCES = tests/fuzz/fuzz_spark_plan.c $(FUZZ_PLAN_HOST) $(FUZZ_SPARK_SOURCES) \
	$(FUZZ_COMMON)
tests_fuzz_fuzz_spark_plan_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_spark_plan_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_spark_plan_LDADD = $(FUZZ_LDADD) -lm

# make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="yaml layout"]
FUZZ_SECONDS = 60
.PHONY: fuzz
if FUZZING
fuzz: $(fuzz_programs)
	$(SHELL) $(srcdir)/tests/fuzz/run-fuzzers.sh '$(abs_top_srcdir)' '$(abs_top_builddir)' \
		'$(FUZZ_SECONDS)' $(FUZZ_TARGETS)
else
fuzz:
	@echo "make fuzz: the libFuzzer targets need a clang build: configure with CC=clang --enable-fuzzing (see tests/fuzz/README.md)" >&2; exit 1
endif

EXTRA_DIST += tests/fuzz/fuzzing.m4 tests/fuzz/README.md tests/fuzz/run-fuzzers.sh \
	tests/fuzz/make-seeds.sh tests/fuzz/corpus tests/fuzz/crashes \
	tests/fuzz/kafka_plan.dict tests/fuzz/cassandra_plan.dict tests/fuzz/spark_plan.dict

# Security tests (tests/security): Git content cannot escape the
# repository; secrets never leak, TLS verified by default, private caches.
TESTS += tests/security/git-escape.sh tests/security/secrets-scenario.sh tests/security/limits-cli.sh
dist_noinst_SCRIPTS += tests/security/git-escape.sh tests/security/secrets-scenario.sh tests/security/limits-cli.sh

# Limits on outside input not covered by the modules' own suites.
check_PROGRAMS += tests/security/test_limits
TESTS += tests/security/test_limits
tests_security_test_limits_SOURCES = tests/security/test_limits.c \
	tests/fuzz/mem_source.c tests/fuzz/mem_source.h \
	tests/kube/mini_server.c tests/kube/mini_server.h \
	tests/kube/tls_fixture.c tests/kube/tls_fixture.h tests/unit/check_main.h
tests_security_test_limits_CFLAGS = $(KUBESIM_CFLAGS) $(CHECK_CFLAGS) $(CURL_CFLAGS) $(MHD_CFLAGS)
tests_security_test_limits_LDADD = libkubesim-server.la libkubesim-apply.la libkubesim-patch.la libkubesim.la \
	libkeelson-core.la $(CHECK_LIBS) $(CURL_LIBS) $(KUBESIM_HTTP_LIBS) $(CRYPTO_LIBS) -lssl \
	$(CJSON_LIBS) $(PTHREAD_LIBS) -lm

# make check-valgrind (plain build, no sanitizers): Check suites and the
# keelson CLI/daemon scenario tests under valgrind memcheck. Slow; not in
# CI's default path. VALGRIND_ONLY="NAME..." runs just those tests (paths
# of suites or scripts). The script keeps, of check_PROGRAMS, the Check
# suites (test_*) and replay programs, without kubesim's own. The daemon
# scenarios: two daemons with leader election running the example plugin
# (HTTP, Lease, SIGKILL, SIGTERM), and the kafka and cassandra plugins
# (they run inside keelson, so their leaks are keelson's) rolling and
# scaling, SIGKILLed mid-roll; the whole daemon (daemon-kubesim: HTTP,
# webhooks, status, forge, drift events, SIGTERM). tests/spark/spark-submit.sh
# runs under valgrind with 0 reports but its idle check is timed for native
# speed (see tests/security/README.md).
VALGRIND_SCENARIOS = \
	tests/layout/validate-cli.sh \
	tests/plugin/plugins-cli.sh \
	tests/security/git-escape.sh \
	tests/security/limits-cli.sh \
	tests/diff/diff-kubesim.sh \
	tests/reconcile/reconcile-kubesim.sh \
	tests/security/secrets-scenario.sh \
	tests/plugin/executor-kubesim.sh \
	tests/reconcile/plugin-rollout-kubesim.sh \
	tests/status/daemon-kubesim.sh \
	tests/election/ha-kubesim.sh \
	tests/kafka/kafka-roll.sh \
	tests/kafka/kafka-scale.sh \
	tests/cassandra/roll-one-rack.sh \
	tests/cassandra/scale.sh
.PHONY: check-valgrind
check-valgrind: all $(check_PROGRAMS) $(check_LTLIBRARIES)
	VALGRIND_ONLY='$(VALGRIND_ONLY)' $(SHELL) $(srcdir)/tests/security/check-valgrind.sh \
		'$(abs_top_srcdir)' '$(abs_top_builddir)' '$(KUBECTL)' '$(KEELSON_CFLAGS)' \
		-- $(check_PROGRAMS) -- $(VALGRIND_SCENARIOS)
EXTRA_DIST += tests/security/check-valgrind.sh tests/security/valgrind.supp tests/security/README.md
