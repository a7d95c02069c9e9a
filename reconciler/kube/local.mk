# Kubernetes client: kubeconfig, HTTP (libcurl), discovery, verbs, watch
# cache (keelson issue 5, "Kubernetes client").
libkeelson_core_la_SOURCES += \
	reconciler/kube/kube_config.c reconciler/kube/kube_config.h \
	reconciler/kube/kube_ratelimit.c reconciler/kube/kube_ratelimit.h \
	reconciler/kube/kube_client.c reconciler/kube/kube_client.h
libkeelson_core_la_CFLAGS += $(CURL_CFLAGS)
libkeelson_core_la_LIBADD += $(CURL_LIBS)

KUBE_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS) $(CURL_CFLAGS)
KUBE_TEST_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS) $(CURL_LIBS) $(PTHREAD_LIBS)

kube_unit_tests = \
	tests/kube/test_kube_config \
	tests/kube/test_kube_ratelimit
check_PROGRAMS += $(kube_unit_tests)
TESTS += $(kube_unit_tests)

tests_kube_test_kube_config_SOURCES = tests/kube/test_kube_config.c tests/unit/check_main.h
tests_kube_test_kube_config_CFLAGS = $(KUBE_TEST_CFLAGS)
tests_kube_test_kube_config_LDADD = $(KUBE_TEST_LDADD)

tests_kube_test_kube_ratelimit_SOURCES = tests/kube/test_kube_ratelimit.c tests/unit/check_main.h
tests_kube_test_kube_ratelimit_CFLAGS = $(KUBE_TEST_CFLAGS)
tests_kube_test_kube_ratelimit_LDADD = $(KUBE_TEST_LDADD)
