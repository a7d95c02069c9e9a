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

#include <stdbool.h>
#include <stddef.h>

enum keelson_file_kind {
	KEELSON_FILE_REGULAR = 0,
	KEELSON_FILE_EXECUTABLE = 1,
	KEELSON_FILE_SYMLINK = 2, /* data is the link target; the loader decides */
};

struct keelson_file {
	const char *path;     /* relative, '/'-separated */
	const char *data;     /* file contents, not NUL-terminated; NULL when too_large */
	size_t size;          /* the file's size, also when too_large */
	enum keelson_file_kind kind;
	/* Since version 2: a file (for a link, its target) above
	 * max_file_size, not read. Read this member only from a source of
	 * version >= 2. */
	bool too_large;
};

/* Called once per file; return 0 to continue, a negative keelson error code
 * to stop the walk (the walk then returns that code). */
typedef int (*keelson_file_visit_fn)(const struct keelson_file *file, void *payload);

struct keelson_file_source {
	unsigned version; /* KEELSON_FILE_SOURCE_VERSION */
	/* Human-readable origin for messages: a path, or "URL@abbreviated-sha". */
	const char *description;
	/* Visit every file. Files larger than max_file_size are not read:
	 * from version 2 on they are visited with too_large set (data NULL,
	 * size the real size) and the walk goes on, so that a caller can
	 * report them among everything else; a version 1 source fails the
	 * walk with KEELSON_ELIMIT naming the file instead. */
	int (*for_each_file)(const struct keelson_file_source *source, size_t max_file_size,
			     keelson_file_visit_fn visit, void *payload);
	void (*free)(struct keelson_file_source *source);
	void *impl;
};

/* 2: oversized files are visited with too_large instead of failing the
 * walk. The loader still accepts version 1 sources. */
#define KEELSON_FILE_SOURCE_VERSION 2
#define KEELSON_FILE_SOURCE_VERSION_MIN 1

#endif
