/* Shared main() for Check test programs: one program per module suite, so
 * `make check` reports each module separately and CK_FORK=no works for gdb
 * and valgrind. */
#ifndef KEELSON_TESTS_CHECK_MAIN_H
#define KEELSON_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define KEELSON_CHECK_MAIN(suite_function)                         \
	int main(void)                                             \
	{                                                          \
		SRunner *runner = srunner_create(suite_function()); \
		srunner_run_all(runner, CK_NORMAL);                \
		int failed = srunner_ntests_failed(runner);        \
		srunner_free(runner);                              \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;  \
	}

#endif
