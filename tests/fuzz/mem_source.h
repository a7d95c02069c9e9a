/*
 * A layout file source (reconciler/layout/file_source.h) over files held in
 * memory, read from one text: the fuzz input format of the layout target.
 *
 *   === keelson.yaml
 *   apiVersion: keelson.dev/v1alpha1
 *   ...
 *   === clusters/prod/link.yaml -> ../other.yaml
 *   === bin/tool (x)
 *   #!/bin/sh
 *
 * A line "=== PATH" starts a file whose content runs up to and including
 * the newline before the next "=== " line. "=== PATH -> TARGET" is a
 * symbolic link, "=== PATH (x)" an executable file. Paths are yielded in
 * bytewise order, each once (the first wins), as real sources do; paths
 * are passed as written, so "..", "/abs" and "a//b" reach the loader.
 */
#ifndef KEELSON_TESTS_FUZZ_MEM_SOURCE_H
#define KEELSON_TESTS_FUZZ_MEM_SOURCE_H

#include "layout/file_source.h"

#include <stddef.h>

/* *out is freed through its free callback. Returns 0 or KEELSON_ENOMEM. */
int fuzz_mem_source_new(struct keelson_file_source **out, const char *text, size_t len);

#endif
