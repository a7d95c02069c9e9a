/*
 * A read-only set of files, as the repository layout loader sees a
 * revision: a directory on disk (keelson validate PATH) or the tree of a Git
 * commit read straight from the object database (reconciler/git).
 *
 * Paths are relative to the repository root, '/'-separated, never starting
 * with '/' and never containing "." or ".." segments; a source refuses to
 * yield anything that would leave the repository (symlinks pointing
 * outside, traversal). Files are yielded in bytewise path order so that
 * loading and error reports are deterministic.
 */
#ifndef KEELSON_LAYOUT_FILE_SOURCE_H
#define KEELSON_LAYOUT_FILE_SOURCE_H

#include <stddef.h>

enum keelson_file_kind {
	KEELSON_FILE_REGULAR = 0,
	KEELSON_FILE_EXECUTABLE = 1,
	KEELSON_FILE_SYMLINK = 2, /* data is the link target; the loader decides */
};

struct keelson_file {
	const char *path;     /* relative, '/'-separated */
	const char *data;     /* file contents, not NUL-terminated */
	size_t size;
	enum keelson_file_kind kind;
};

/* Called once per file; return 0 to continue, a negative keelson error code
 * to stop the walk (the walk then returns that code). */
typedef int (*keelson_file_visit_fn)(const struct keelson_file *file, void *payload);

struct keelson_file_source {
	unsigned version; /* KEELSON_FILE_SOURCE_VERSION */
	/* Human-readable origin for messages: a path, or "URL@abbreviated-sha". */
	const char *description;
	/* Visit every file. Files larger than max_file_size are not read: the
	 * walk fails with KEELSON_ELIMIT naming the file. */
	int (*for_each_file)(const struct keelson_file_source *source, size_t max_file_size,
			     keelson_file_visit_fn visit, void *payload);
	void (*free)(struct keelson_file_source *source);
	void *impl;
};

#define KEELSON_FILE_SOURCE_VERSION 1

#endif
