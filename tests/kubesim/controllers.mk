# kubesim controllers: StatefulSet, ReplicaSet, Deployment, Job, simulated
# kubelet, garbage collector, namespace termination, PodDisruptionBudget
# status, Endpoints (controllers/controllers.h, controllers/README.md).
# kubesim's server links libkubesim-controllers.la and calls
# ks_controllers_start() after creating the store.
KS_CTL_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)

noinst_LTLIBRARIES += libkubesim-controllers.la
libkubesim_controllers_la_SOURCES = \
	tests/kubesim/controllers/controllers.c tests/kubesim/controllers/controllers.h \
	tests/kubesim/controllers/ctl_internal.h \
	tests/kubesim/controllers/ctl_util.c tests/kubesim/controllers/ctl_util.h \
	tests/kubesim/controllers/kubelet.c \
	tests/kubesim/controllers/gc.c \
	tests/kubesim/controllers/namespace.c \
	tests/kubesim/controllers/statefulset.c \
	tests/kubesim/controllers/replicaset.c \
	tests/kubesim/controllers/deployment.c \
	tests/kubesim/controllers/job.c \
	tests/kubesim/controllers/disruption.c \
	tests/kubesim/controllers/endpoints.c
libkubesim_controllers_la_CFLAGS = $(KS_CTL_CFLAGS)
libkubesim_controllers_la_LIBADD = libkubesim.la libkubesim-patch.la libkeelson-core.la $(CJSON_LIBS) $(PTHREAD_LIBS) -lm

KS_CTL_TEST_CFLAGS = $(KS_CTL_CFLAGS) $(CHECK_CFLAGS)
KS_CTL_TEST_LDADD = libkubesim-controllers.la libkubesim.la libkubesim-patch.la libkeelson-core.la \
	$(CHECK_LIBS) $(CJSON_LIBS) $(PTHREAD_LIBS)

ks_ctl_tests = \
	tests/kubesim/controllers/test_ctl_util \
	tests/kubesim/controllers/test_kubelet \
	tests/kubesim/controllers/test_statefulset \
	tests/kubesim/controllers/test_gc \
	tests/kubesim/controllers/test_namespace \
	tests/kubesim/controllers/test_deployment \
	tests/kubesim/controllers/test_disruption \
	tests/kubesim/controllers/test_endpoints
check_PROGRAMS += $(ks_ctl_tests)
TESTS += $(ks_ctl_tests)

tests_kubesim_controllers_test_ctl_util_SOURCES = tests/kubesim/controllers/test_ctl_util.c
tests_kubesim_controllers_test_ctl_util_CFLAGS = $(KS_CTL_TEST_CFLAGS)
tests_kubesim_controllers_test_ctl_util_LDADD = $(KS_CTL_TEST_LDADD)

tests_kubesim_controllers_test_kubelet_SOURCES = tests/kubesim/controllers/test_kubelet.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_controllers_test_kubelet_CFLAGS = $(KS_CTL_TEST_CFLAGS)
tests_kubesim_controllers_test_kubelet_LDADD = $(KS_CTL_TEST_LDADD)

tests_kubesim_controllers_test_statefulset_SOURCES = tests/kubesim/controllers/test_statefulset.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_controllers_test_statefulset_CFLAGS = $(KS_CTL_TEST_CFLAGS)
tests_kubesim_controllers_test_statefulset_LDADD = $(KS_CTL_TEST_LDADD)

tests_kubesim_controllers_test_gc_SOURCES = tests/kubesim/controllers/test_gc.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_controllers_test_gc_CFLAGS = $(KS_CTL_TEST_CFLAGS)
tests_kubesim_controllers_test_gc_LDADD = $(KS_CTL_TEST_LDADD)

tests_kubesim_controllers_test_namespace_SOURCES = tests/kubesim/controllers/test_namespace.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_controllers_test_namespace_CFLAGS = $(KS_CTL_TEST_CFLAGS)
tests_kubesim_controllers_test_namespace_LDADD = $(KS_CTL_TEST_LDADD)

tests_kubesim_controllers_test_deployment_SOURCES = tests/kubesim/controllers/test_deployment.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_controllers_test_deployment_CFLAGS = $(KS_CTL_TEST_CFLAGS)
tests_kubesim_controllers_test_deployment_LDADD = $(KS_CTL_TEST_LDADD)

tests_kubesim_controllers_test_disruption_SOURCES = tests/kubesim/controllers/test_disruption.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_controllers_test_disruption_CFLAGS = $(KS_CTL_TEST_CFLAGS)
tests_kubesim_controllers_test_disruption_LDADD = $(KS_CTL_TEST_LDADD)

tests_kubesim_controllers_test_endpoints_SOURCES = tests/kubesim/controllers/test_endpoints.c \
	tests/kubesim/controllers/test_harness.c tests/kubesim/controllers/test_harness.h
tests_kubesim_controllers_test_endpoints_CFLAGS = $(KS_CTL_TEST_CFLAGS)
tests_kubesim_controllers_test_endpoints_LDADD = $(KS_CTL_TEST_LDADD)


# Real kubectl against the kubesim binary (skipped, exit 77, without either).
TESTS += tests/kubesim/kubectl-controllers.sh
dist_noinst_SCRIPTS += tests/kubesim/kubectl-controllers.sh

EXTRA_DIST += tests/kubesim/controllers/README.md
