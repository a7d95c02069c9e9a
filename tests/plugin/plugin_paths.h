/* Where the tests find the plugins the build made and the fixtures. */
#ifndef KEELSON_TESTS_PLUGIN_PATHS_H
#define KEELSON_TESTS_PLUGIN_PATHS_H

#include <stdio.h>
#include <stdlib.h>

static inline const char *test_builddir(void)
{
	const char *d = getenv("top_builddir");
	return d != NULL ? d : ".";
}

static inline const char *test_srcdir(void)
{
	const char *d = getenv("top_srcdir");
	return d != NULL ? d : ".";
}

/* "<builddir>/plugins/<dir>/.libs/<name>.so" */
static inline const char *test_plugin_path(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/plugins/%s/.libs/%s.so", test_builddir(), dir, name);
	return buf;
}

#endif
