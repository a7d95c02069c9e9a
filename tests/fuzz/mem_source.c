#include "config.h"

#include "tests/fuzz/mem_source.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

struct mem_file {
	char *path;
	const char *data; /* into the copy of the text */
	size_t size;
	enum keelson_file_kind kind;
};

struct mem_source {
	struct keelson_file_source base;
	char *text;
	struct mem_file *files;
	size_t count;
};

static int mem_for_each(const struct keelson_file_source *source, size_t max_file_size,
			keelson_file_visit_fn visit, void *payload)
{
	const struct mem_source *m = source->impl;
	for (size_t i = 0; i < m->count; i++) {
		const struct mem_file *f = &m->files[i];
		struct keelson_file file = {.path = f->path, .data = f->data, .size = f->size, .kind = f->kind};
		if (f->size > max_file_size) {
			file.data = NULL;
			file.too_large = true;
		}
		int rc = visit(&file, payload);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void mem_free(struct keelson_file_source *source)
{
	if (source == NULL)
		return;
	struct mem_source *m = source->impl;
	for (size_t i = 0; i < m->count; i++)
		free(m->files[i].path);
	free(m->files);
	free(m->text);
	free(m);
}

static int compare_files(const void *a, const void *b)
{
	return strcmp(((const struct mem_file *)a)->path, ((const struct mem_file *)b)->path);
}

static const char *find_header(const char *from, const char *end)
{
	for (const char *p = from; p < end; p++) {
		if ((p == from || p[-1] == '\n') && (size_t)(end - p) >= 4 && memcmp(p, "=== ", 4) == 0)
			return p;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return NULL;
		p = nl;
	}
	return NULL;
}

int fuzz_mem_source_new(struct keelson_file_source **out, const char *text, size_t len)
{
	*out = NULL;
	struct mem_source *m = calloc(1, sizeof(*m));
	if (m == NULL || (m->text = malloc(len + 1)) == NULL) {
		free(m);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	m->base.impl = m;
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	const char *end = m->text + len;
	size_t cap = 0;
	for (const char *h = find_header(m->text, end); h != NULL;) {
		const char *line_end = memchr(h, '\n', (size_t)(end - h));
		if (line_end == NULL)
			line_end = end;
		const char *content = line_end < end ? line_end + 1 : end;
		const char *next = find_header(content, end);
		const char *content_end = next ? next : end;

		const char *name = h + 4;
		size_t name_len = (size_t)(line_end - name);
		struct mem_file f = {.kind = KEELSON_FILE_REGULAR, .data = content,
				     .size = (size_t)(content_end - content)};
		const char *arrow = NULL;
		for (const char *p = name; p + 4 <= line_end; p++)
			if (memcmp(p, " -> ", 4) == 0) {
				arrow = p;
				break;
			}
		if (arrow != NULL) {
			f.kind = KEELSON_FILE_SYMLINK;
			f.data = arrow + 4;
			f.size = (size_t)(line_end - f.data);
			name_len = (size_t)(arrow - name);
		} else if (name_len >= 4 && memcmp(line_end - 4, " (x)", 4) == 0) {
			f.kind = KEELSON_FILE_EXECUTABLE;
			name_len -= 4;
		}
		/* A path with a NUL cannot come from Git or a directory. */
		if (memchr(name, '\0', name_len) == NULL) {
			if (m->count == cap) {
				cap = cap ? cap * 2 : 16;
				struct mem_file *bigger = realloc(m->files, cap * sizeof(*bigger));
				if (bigger == NULL)
					goto nomem;
				m->files = bigger;
			}
			if ((f.path = strndup(name, name_len)) == NULL)
				goto nomem;
			m->files[m->count++] = f;
		}
		h = next;
	}
	if (m->count > 0)
		qsort(m->files, m->count, sizeof(*m->files), compare_files);
	/* Each path once; the sort is not stable, so "first" is the smallest
	 * content pointer among equals. */
	size_t kept = 0;
	for (size_t i = 0; i < m->count; i++) {
		if (kept > 0 && strcmp(m->files[kept - 1].path, m->files[i].path) == 0) {
			if (m->files[i].data < m->files[kept - 1].data) {
				struct mem_file tmp = m->files[kept - 1];
				m->files[kept - 1] = m->files[i];
				m->files[i] = tmp;
			}
			free(m->files[i].path);
			continue;
		}
		m->files[kept++] = m->files[i];
	}
	m->count = kept;
	m->base = (struct keelson_file_source){
		.version = KEELSON_FILE_SOURCE_VERSION,
		.description = "fuzz",
		.for_each_file = mem_for_each,
		.free = mem_free,
		.impl = m,
	};
	*out = &m->base;
	return 0;
nomem:
	mem_free(&m->base);
	return keelson_error_set(KEELSON_ENOMEM, "out of memory");
}
