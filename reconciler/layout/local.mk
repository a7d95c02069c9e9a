# Repository layout: directory file source, loader and validation of a
# revision, `keelson validate` (keelson issue 4).
libkeelson_core_la_SOURCES += \
	reconciler/layout/file_source.h \
	reconciler/layout/problems.c reconciler/layout/problems.h \
	reconciler/layout/schema_table.c reconciler/layout/schema_table.h \
	reconciler/layout/dir_source.c reconciler/layout/dir_source.h \
	reconciler/layout/layout.c reconciler/layout/layout.h \
	reconciler/cli/cmd_validate.c
# SHA-256 of each file decides whether an earlier revision's parse is reused.
libkeelson_core_la_CFLAGS += $(CRYPTO_CFLAGS)
libkeelson_core_la_LIBADD += $(CRYPTO_LIBS)

LAYOUT_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
LAYOUT_TEST_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS)

layout_tests = \
	tests/layout/test_layout \
	tests/layout/test_schema_table
check_PROGRAMS += $(layout_tests)
TESTS += $(layout_tests) \
	tests/layout/validate-cli.sh \
	tests/layout/schema-check.py \
	tests/layout/dist-lists.sh

# Explicit list (no wildcards); tests/layout/dist-lists.sh checks it is complete.
EXTRA_DIST += \
	reconciler/layout/README.md \
	tests/layout/validate-cli.sh \
	tests/layout/schema-check.py \
	tests/layout/dist-lists.sh \
	tests/layout/broken/claimed-twice/clusters/prod/app/configmap.yaml \
	tests/layout/broken/claimed-twice/clusters/prod/app/deployment.yaml \
	tests/layout/broken/claimed-twice/clusters/prod/app/system.yaml \
	tests/layout/broken/claimed-twice/clusters/prod/cluster.yaml \
	tests/layout/broken/claimed-twice/clusters/prod/web/deployment.yaml \
	tests/layout/broken/claimed-twice/clusters/prod/web/system.yaml \
	tests/layout/broken/claimed-twice/expected-problems \
	tests/layout/broken/claimed-twice/keelson.yaml \
	tests/layout/broken/duplicate-object/clusters/prod/app/configmap.yaml \
	tests/layout/broken/duplicate-object/clusters/prod/app/more.yaml \
	tests/layout/broken/duplicate-object/clusters/prod/app/system.yaml \
	tests/layout/broken/duplicate-object/clusters/prod/cluster.yaml \
	tests/layout/broken/duplicate-object/expected-problems \
	tests/layout/broken/duplicate-object/keelson.yaml \
	tests/layout/broken/ignore-differences/clusters/prod/app/statefulset.yaml \
	tests/layout/broken/ignore-differences/clusters/prod/app/system.yaml \
	tests/layout/broken/ignore-differences/clusters/prod/cluster.yaml \
	tests/layout/broken/ignore-differences/expected-problems \
	tests/layout/broken/ignore-differences/keelson.yaml \
	tests/layout/broken/ignore-paths/clusters/prod/app/configmap.yaml \
	tests/layout/broken/ignore-paths/clusters/prod/app/examples/pod.yaml \
	tests/layout/broken/ignore-paths/clusters/prod/app/system.yaml \
	tests/layout/broken/ignore-paths/clusters/prod/cluster.yaml \
	tests/layout/broken/ignore-paths/docs/broken.yaml \
	tests/layout/broken/ignore-paths/docs/pod.yaml \
	tests/layout/broken/ignore-paths/expected-problems \
	tests/layout/broken/ignore-paths/keelson.yaml \
	tests/layout/broken/misplaced/clusters/prod/app/configmap.yaml \
	tests/layout/broken/misplaced/clusters/prod/app/system.yaml \
	tests/layout/broken/misplaced/clusters/prod/cluster.yaml \
	tests/layout/broken/misplaced/clusters/prod/namespace.yaml \
	tests/layout/broken/misplaced/expected-problems \
	tests/layout/broken/misplaced/extra.yaml \
	tests/layout/broken/misplaced/keelson.yaml \
	tests/layout/broken/missing-files/clusters/prod/app/configmap.yaml \
	tests/layout/broken/missing-files/clusters/prod/cluster.yaml \
	tests/layout/broken/missing-files/clusters/staging/app/configmap.yaml \
	tests/layout/broken/missing-files/expected-problems \
	tests/layout/broken/missing-identity/clusters/prod/app/configmap.yaml \
	tests/layout/broken/missing-identity/clusters/prod/app/objects.yaml \
	tests/layout/broken/missing-identity/clusters/prod/app/system.yaml \
	tests/layout/broken/missing-identity/clusters/prod/cluster.yaml \
	tests/layout/broken/missing-identity/expected-problems \
	tests/layout/broken/missing-identity/keelson.yaml \
	tests/layout/broken/name-mismatch/clusters/Prod_EU/app/configmap.yaml \
	tests/layout/broken/name-mismatch/clusters/prod/app/configmap.yaml \
	tests/layout/broken/name-mismatch/clusters/prod/app/system.yaml \
	tests/layout/broken/name-mismatch/clusters/prod/cluster.yaml \
	tests/layout/broken/name-mismatch/expected-problems \
	tests/layout/broken/name-mismatch/keelson.yaml \
	tests/layout/broken/namespaces/clusters/prod/app/configmap.yaml \
	tests/layout/broken/namespaces/clusters/prod/app/objects.yaml \
	tests/layout/broken/namespaces/clusters/prod/app/system.yaml \
	tests/layout/broken/namespaces/clusters/prod/cluster.yaml \
	tests/layout/broken/namespaces/expected-problems \
	tests/layout/broken/namespaces/keelson.yaml \
	tests/layout/broken/not-object/clusters/prod/app/configmap.yaml \
	tests/layout/broken/not-object/clusters/prod/app/list.yaml \
	tests/layout/broken/not-object/clusters/prod/app/system.yaml \
	tests/layout/broken/not-object/clusters/prod/cluster.yaml \
	tests/layout/broken/not-object/expected-problems \
	tests/layout/broken/not-object/keelson.yaml \
	tests/layout/broken/object-names/clusters/prod/app/objects.yaml \
	tests/layout/broken/object-names/clusters/prod/app/system.yaml \
	tests/layout/broken/object-names/clusters/prod/cluster.yaml \
	tests/layout/broken/object-names/expected-problems \
	tests/layout/broken/object-names/keelson.yaml \
	tests/layout/broken/plugin-parameters/clusters/prod/app/configmap.yaml \
	tests/layout/broken/plugin-parameters/clusters/prod/app/system.yaml \
	tests/layout/broken/plugin-parameters/clusters/prod/cluster.yaml \
	tests/layout/broken/plugin-parameters/clusters/prod/jobs/system.yaml \
	tests/layout/broken/plugin-parameters/expected-problems \
	tests/layout/broken/plugin-parameters/keelson.yaml \
	tests/layout/broken/unknown-key/clusters/prod/app/configmap.yaml \
	tests/layout/broken/unknown-key/clusters/prod/app/system.yaml \
	tests/layout/broken/unknown-key/clusters/prod/cluster.yaml \
	tests/layout/broken/unknown-key/expected-problems \
	tests/layout/broken/unknown-key/keelson.yaml \
	tests/layout/broken/unknown-plugin/clusters/prod/app/configmap.yaml \
	tests/layout/broken/unknown-plugin/clusters/prod/app/system.yaml \
	tests/layout/broken/unknown-plugin/clusters/prod/cluster.yaml \
	tests/layout/broken/unknown-plugin/expected-problems \
	tests/layout/broken/unknown-plugin/keelson.yaml \
	tests/layout/broken/unknown-reference/clusters/prod/cluster.yaml \
	tests/layout/broken/unknown-reference/clusters/prod/events/kafka.yaml \
	tests/layout/broken/unknown-reference/clusters/prod/events/system.yaml \
	tests/layout/broken/unknown-reference/expected-problems \
	tests/layout/broken/unknown-reference/keelson.yaml \
	tests/layout/broken/unsupported-version/clusters/prod/app/configmap.yaml \
	tests/layout/broken/unsupported-version/clusters/prod/app/system.yaml \
	tests/layout/broken/unsupported-version/clusters/prod/cluster.yaml \
	tests/layout/broken/unsupported-version/expected-problems \
	tests/layout/broken/unsupported-version/keelson.yaml \
	tests/layout/broken/wrong-type/clusters/prod/app/configmap.yaml \
	tests/layout/broken/wrong-type/clusters/prod/app/system.yaml \
	tests/layout/broken/wrong-type/clusters/prod/cluster.yaml \
	tests/layout/broken/wrong-type/expected-problems \
	tests/layout/broken/wrong-type/keelson.yaml \
	tests/layout/broken/yaml-limit/clusters/prod/app/bomb.yaml \
	tests/layout/broken/yaml-limit/clusters/prod/app/system.yaml \
	tests/layout/broken/yaml-limit/clusters/prod/cluster.yaml \
	tests/layout/broken/yaml-limit/expected-problems \
	tests/layout/broken/yaml-limit/keelson.yaml \
	tests/layout/broken/yaml-syntax/clusters/prod/app/configmap.yaml \
	tests/layout/broken/yaml-syntax/clusters/prod/app/system.yaml \
	tests/layout/broken/yaml-syntax/clusters/prod/cluster.yaml \
	tests/layout/broken/yaml-syntax/expected-problems \
	tests/layout/broken/yaml-syntax/keelson.yaml

tests_layout_test_layout_SOURCES = tests/layout/test_layout.c tests/unit/check_main.h
tests_layout_test_layout_CFLAGS = $(LAYOUT_TEST_CFLAGS)
tests_layout_test_layout_LDADD = $(LAYOUT_TEST_LDADD)

tests_layout_test_schema_table_SOURCES = tests/layout/test_schema_table.c tests/unit/check_main.h
tests_layout_test_schema_table_CFLAGS = $(LAYOUT_TEST_CFLAGS)
tests_layout_test_schema_table_LDADD = $(LAYOUT_TEST_LDADD)

# Benchmark (keelson issue 12 targets), never part of `make check`. Built
# with everything else so it cannot rot; run with `make bench-layout` from a
# build configured without --enable-sanitizers.
noinst_PROGRAMS += bench/layout-load
bench_layout_load_SOURCES = bench/layout-load.c
bench_layout_load_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
bench_layout_load_LDADD = libkeelson-core.la

.PHONY: bench-layout
bench-layout: bench/layout-load$(EXEEXT)
	./bench/layout-load$(EXEEXT)
