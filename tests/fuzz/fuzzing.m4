dnl --enable-fuzzing: build the libFuzzer targets of tests/fuzz (make fuzz).
dnl Included from configure.ac with m4_include, before KEELSON_CFLAGS is
dnl substituted. libFuzzer ships with clang only, so CC must be clang; the
dnl whole tree is then instrumented for coverage (fuzzer-no-link) and built
dnl with ASan and UBSan, because a fuzzer without sanitizers finds only
dnl crashes, not the silent corruption before them.
AC_ARG_ENABLE([fuzzing],
  [AS_HELP_STRING([--enable-fuzzing], [build the libFuzzer targets (make fuzz); needs CC=clang, implies --enable-sanitizers])],
  [], [enable_fuzzing=no])
AS_IF([test "x$enable_fuzzing" = xyes], [
  AC_MSG_CHECKING([whether $CC links libFuzzer targets])
  keelson_fuzz_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -fsanitize=fuzzer"
  AC_LINK_IFELSE([AC_LANG_SOURCE([[
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { (void)data; (void)size; return 0; }
]])], [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([--enable-fuzzing needs clang with libFuzzer: install the Debian package clang (scripts/install-deps) and configure with CC=clang])])
  CFLAGS=$keelson_fuzz_save_CFLAGS
  KEELSON_CFLAGS="$KEELSON_CFLAGS -fsanitize=fuzzer-no-link"
  AS_IF([test "x$enable_sanitizers" != xyes], [
    KEELSON_CFLAGS="$KEELSON_CFLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    KEELSON_LDFLAGS="$KEELSON_LDFLAGS -fsanitize=address,undefined"
  ])
])
AM_CONDITIONAL([FUZZING], [test "x$enable_fuzzing" = xyes])
