/*
 * A file source over a directory on disk: `keelson validate PATH` and tests.
 * Symbolic links are reported as KEELSON_FILE_SYMLINK with their target and
 * never followed; `.git` is skipped (it is the repository's metadata, not a
 * revision's content); special files (FIFOs, devices, sockets) are skipped.
 */
#ifndef KEELSON_LAYOUT_DIR_SOURCE_H
#define KEELSON_LAYOUT_DIR_SOURCE_H

#include "layout/file_source.h"

/* Open `path`, which must be a directory. Returns KEELSON_ENOTFOUND when it
 * does not exist, KEELSON_EINVALID when it is not a directory. Free the
 * source with source->free(source). */
int keelson_dir_source_open(struct keelson_file_source **out, const char *path);

#endif
