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
	/* Since version 3 (zero from an older source): an id of the file's
	 * bytes, equal for equal bytes (a Git blob id), so that a loader can
	 * tell an unchanged file without reading it; NULL when the source has
	 * none. */
	const unsigned char *object_id;
	size_t object_id_size;
	/* Since version 3, set only by for_each_file_lazy: the bytes are not
	 * read yet (data NULL, size 0, too_large false). read() reads them:
	 * *out_data (valid until the visit returns; NULL when the file is over
	 * max_file_size), *out_size (its real size) and *out_too_large. It may
	 * be called more than once. */
	int (*read)(const struct keelson_file *file, const char **out_data, size_t *out_size,
		    bool *out_too_large);
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
	/* Since version 3, optional (NULL: use for_each_file): the same walk,
	 * but a file's bytes are read only when the visitor calls file->read,
	 * so that files known by their object_id are never read. */
	int (*for_each_file_lazy)(const struct keelson_file_source *source, size_t max_file_size,
				  keelson_file_visit_fn visit, void *payload);
};

/* 2: oversized files are visited with too_large instead of failing the
 * walk. 3: keelson_file.object_id and read, for_each_file_lazy. The loader
 * still accepts version 1 sources. */
#define KEELSON_FILE_SOURCE_VERSION 3
#define KEELSON_FILE_SOURCE_VERSION_MIN 1

#endif
