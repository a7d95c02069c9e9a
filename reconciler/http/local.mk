# HTTP endpoint (webhooks, /metrics, /healthz, /readyz), metrics registry and
# alert senders (keelson issue 9: "Triggers", "Observability", alerts).
# One fragment for reconciler/http, reconciler/metrics and reconciler/alerts.
libkeelson_core_la_SOURCES += \
	reconciler/metrics/metrics.c reconciler/metrics/metrics.h \
	reconciler/metrics/daemon_metrics.c reconciler/metrics/daemon_metrics.h \
	reconciler/http/hmac.c reconciler/http/hmac.h \
	reconciler/http/nudge.c reconciler/http/nudge.h \
	reconciler/http/readiness.c reconciler/http/readiness.h \
	reconciler/http/webhook.c reconciler/http/webhook.h \
	reconciler/http/http_server.c reconciler/http/http_server.h \
	reconciler/alerts/alerts.c reconciler/alerts/alerts.h
libkeelson_core_la_CFLAGS += $(MHD_CFLAGS) $(CRYPTO_CFLAGS) $(CURL_CFLAGS)
libkeelson_core_la_LIBADD += $(MHD_LIBS) $(CRYPTO_LIBS) $(CURL_LIBS) -lm

HTTP_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS)
HTTP_TEST_LDADD = libkeelson-core.la $(CHECK_LIBS) $(CJSON_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(PTHREAD_LIBS)

http_unit_tests = \
	tests/http/test_metrics \
	tests/http/test_http_server
check_PROGRAMS += $(http_unit_tests) tests/http/metrics_sample
TESTS += $(http_unit_tests) tests/http/promtool-check.sh
dist_noinst_SCRIPTS += tests/http/promtool-check.sh

tests_http_test_metrics_SOURCES = tests/http/test_metrics.c tests/unit/check_main.h
tests_http_test_metrics_CFLAGS = $(HTTP_TEST_CFLAGS)
tests_http_test_metrics_LDADD = $(HTTP_TEST_LDADD)

tests_http_test_http_server_SOURCES = tests/http/test_http_server.c tests/unit/check_main.h
tests_http_test_http_server_CFLAGS = $(HTTP_TEST_CFLAGS)
tests_http_test_http_server_LDADD = $(HTTP_TEST_LDADD)

tests_http_metrics_sample_SOURCES = tests/http/metrics_sample.c
tests_http_metrics_sample_CFLAGS = $(HTTP_TEST_CFLAGS)
tests_http_metrics_sample_LDADD = $(HTTP_TEST_LDADD)

# Alerts: a capture server in the suite (intervals on a fake clock), and the
# real Alertmanager on loopback (skipped when not installed).
check_PROGRAMS += tests/alerts/test_alerts tests/alerts/test_alertmanager
TESTS += tests/alerts/test_alerts tests/alerts/alertmanager.sh tests/alerts/daemon-drift-alertmanager.sh
dist_noinst_SCRIPTS += tests/alerts/alertmanager.sh tests/alerts/daemon-drift-alertmanager.sh

tests_alerts_test_alerts_SOURCES = tests/alerts/test_alerts.c tests/unit/check_main.h
tests_alerts_test_alerts_CFLAGS = $(HTTP_TEST_CFLAGS) $(MHD_CFLAGS)
tests_alerts_test_alerts_LDADD = $(HTTP_TEST_LDADD) $(MHD_LIBS)

tests_alerts_test_alertmanager_SOURCES = tests/alerts/test_alertmanager.c tests/unit/check_main.h
tests_alerts_test_alertmanager_CFLAGS = $(HTTP_TEST_CFLAGS)
tests_alerts_test_alertmanager_LDADD = $(HTTP_TEST_LDADD)
