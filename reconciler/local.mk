# The core: a convenience library linked by the keelson binary and the tests.
noinst_LTLIBRARIES += libkeelson-core.la
libkeelson_core_la_SOURCES = \
	reconciler/core/error.c reconciler/core/error.h \
	reconciler/core/log.c reconciler/core/log.h \
	reconciler/core/redact.c reconciler/core/redact.h \
	reconciler/json/json_pointer.c reconciler/json/json_pointer.h \
	reconciler/json/json_canonical.c reconciler/json/json_canonical.h \
	reconciler/cli/command.h
libkeelson_core_la_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS) $(YAML_CFLAGS)
libkeelson_core_la_LIBADD = $(CJSON_LIBS) $(YAML_LIBS) $(PTHREAD_LIBS)

bin_PROGRAMS += keelson
keelson_SOURCES = reconciler/main.c
keelson_CFLAGS = $(AM_CFLAGS) $(CJSON_CFLAGS)
keelson_LDADD = libkeelson-core.la
