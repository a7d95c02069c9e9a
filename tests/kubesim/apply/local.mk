# Server-side apply for kubesim: field sets (FieldsV1), managedFields,
# ownership and conflicts. Called by the kubesim PATCH handler and by every
# create/update to record Update entries.
noinst_LTLIBRARIES += libkubesim-apply.la
libkubesim_apply_la_SOURCES = \
	tests/kubesim/apply/typeinfo.c tests/kubesim/apply/typeinfo.h \
	tests/kubesim/apply/fieldpath.c tests/kubesim/apply/fieldpath.h \
	tests/kubesim/apply/server_side_apply.c tests/kubesim/apply/server_side_apply.h
libkubesim_apply_la_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
libkubesim_apply_la_LIBADD = libkubesim-patch.la libkeelson-core.la $(CJSON_LIBS)

kubesim_apply_tests = \
	tests/kubesim/apply/test_typeinfo \
	tests/kubesim/apply/test_fieldpath \
	tests/kubesim/apply/test_server_side_apply
check_PROGRAMS += $(kubesim_apply_tests)
TESTS += $(kubesim_apply_tests)

tests_kubesim_apply_test_typeinfo_SOURCES = tests/kubesim/apply/test_typeinfo.c \
	tests/kubesim/apply/test_support.h tests/unit/check_main.h
tests_kubesim_apply_test_typeinfo_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
tests_kubesim_apply_test_typeinfo_LDADD = libkubesim-apply.la $(CHECK_LIBS) $(CJSON_LIBS)

tests_kubesim_apply_test_fieldpath_SOURCES = tests/kubesim/apply/test_fieldpath.c \
	tests/kubesim/apply/test_support.h tests/unit/check_main.h
tests_kubesim_apply_test_fieldpath_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
tests_kubesim_apply_test_fieldpath_LDADD = libkubesim-apply.la $(CHECK_LIBS) $(CJSON_LIBS)

tests_kubesim_apply_test_server_side_apply_SOURCES = tests/kubesim/apply/test_server_side_apply.c \
	tests/kubesim/apply/test_apply_properties.c \
	tests/kubesim/apply/test_support.h tests/unit/check_main.h
tests_kubesim_apply_test_server_side_apply_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CJSON_CFLAGS)
tests_kubesim_apply_test_server_side_apply_LDADD = libkubesim-apply.la $(CHECK_LIBS) $(CJSON_LIBS)

EXTRA_DIST += tests/kubesim/apply/README.md
