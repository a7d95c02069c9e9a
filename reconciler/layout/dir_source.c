#include "config.h"

#include "layout/dir_source.h"

#include "core/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A checkout deeper than this is a mistake (or hostile). */
#define MAX_DEPTH 64

struct dir_source {
	struct keelson_file_source base;
	char *root;
};

struct entry {
	char *name;
	unsigned char is_dir;
};

/* Git's tree order: a directory sorts as if its name ended with '/', so
 * the walk yields full paths in bytewise order. */
static int compare_entries(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	const unsigned char *p = (const unsigned char *)x->name, *q = (const unsigned char *)y->name;
	while (*p && *p == *q) {
		p++;
		q++;
	}
	unsigned c1 = *p ? *p : (x->is_dir ? '/' : 0);
	unsigned c2 = *q ? *q : (y->is_dir ? '/' : 0);
	return (c1 > c2) - (c1 < c2);
}

struct walk {
	size_t max_file_size;
	keelson_file_visit_fn visit;
	void *payload;
	char path[PATH_MAX];
};

static int read_all(int fd, char *buf, size_t size, const char *path)
{
	size_t done = 0;
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return keelson_error_set(KEELSON_ERROR, "%s: cannot read: %s", path, strerror(errno));
		if (n == 0)
			return keelson_error_set(KEELSON_ERROR, "%s: file shrank while being read; retry", path);
		done += (size_t)n;
	}
	return 0;
}

static int visit_file(struct walk *w, int dirfd, const char *name)
{
	struct stat st;
	int rc = 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return keelson_error_set(KEELSON_ERROR, "%s: cannot stat: %s", w->path, strerror(errno));

	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
		if (n < 0 || (size_t)n >= sizeof(target))
			return keelson_error_set(KEELSON_ERROR, "%s: cannot read symbolic link", w->path);
		struct keelson_file file = {.path = w->path, .data = target, .size = (size_t)n,
					    .kind = KEELSON_FILE_SYMLINK};
		return w->visit(&file, w->payload);
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	if ((size_t)st.st_size > w->max_file_size) {
		struct keelson_file file = {
			.path = w->path, .data = NULL, .size = (size_t)st.st_size,
			.kind = (st.st_mode & S_IXUSR) ? KEELSON_FILE_EXECUTABLE : KEELSON_FILE_REGULAR,
			.too_large = true,
		};
		return w->visit(&file, w->payload);
	}

	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return keelson_error_set(KEELSON_ERROR, "%s: cannot open: %s", w->path, strerror(errno));
	size_t size = (size_t)st.st_size;
	char *data = malloc(size ? size : 1);
	if (data == NULL) {
		close(fd);
		return keelson_error_set(KEELSON_ENOMEM, "%s: out of memory reading %zu bytes", w->path, size);
	}
	rc = read_all(fd, data, size, w->path);
	close(fd);
	if (rc == 0) {
		struct keelson_file file = {
			.path = w->path, .data = data, .size = size,
			.kind = (st.st_mode & S_IXUSR) ? KEELSON_FILE_EXECUTABLE : KEELSON_FILE_REGULAR,
		};
		rc = w->visit(&file, w->payload);
	}
	free(data);
	return rc;
}

static int walk_dir(struct walk *w, int dirfd, size_t path_len, int depth)
{
	if (depth > MAX_DEPTH)
		return keelson_error_set(KEELSON_ELIMIT,
			"%.200s: directories nested deeper than %d levels; the revision is refused: nest the "
			"directories less deeply", w->path, MAX_DEPTH);
	int fd = dup(dirfd);
	if (fd < 0)
		return keelson_error_set(KEELSON_ERROR, "cannot duplicate a descriptor: %s", strerror(errno));
	DIR *dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return keelson_error_set(KEELSON_ERROR, "%s: cannot read directory: %s",
					 path_len ? w->path : ".", strerror(errno));
	}

	struct entry *entries = NULL;
	size_t count = 0, capacity = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || strcmp(de->d_name, ".git") == 0)
			continue;
		if (count == capacity) {
			size_t cap = capacity ? capacity * 2 : 32;
			struct entry *grown = realloc(entries, cap * sizeof(*grown));
			if (grown == NULL) {
				rc = keelson_error_set(KEELSON_ENOMEM, "out of memory listing a directory");
				goto cleanup;
			}
			entries = grown;
			capacity = cap;
		}
		struct stat st;
		unsigned char is_dir = 0;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			is_dir = S_ISDIR(st.st_mode);
		entries[count].name = strdup(de->d_name);
		entries[count].is_dir = is_dir;
		if (entries[count].name == NULL) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory listing a directory");
			goto cleanup;
		}
		count++;
	}
	qsort(entries, count, sizeof(*entries), compare_entries);

	for (size_t i = 0; i < count && rc == 0; i++) {
		size_t name_len = strlen(entries[i].name);
		if (path_len + name_len + 2 > sizeof(w->path)) {
			rc = keelson_error_set(KEELSON_ELIMIT, "%s/%s: path too long", w->path, entries[i].name);
			break;
		}
		size_t len = path_len;
		if (len > 0)
			w->path[len++] = '/';
		memcpy(w->path + len, entries[i].name, name_len + 1);
		if (entries[i].is_dir) {
			int sub = openat(dirfd, entries[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				rc = keelson_error_set(KEELSON_ERROR, "%s: cannot open directory: %s", w->path,
						       strerror(errno));
			} else {
				rc = walk_dir(w, sub, len + name_len, depth + 1);
				close(sub);
			}
		} else {
			rc = visit_file(w, dirfd, entries[i].name);
		}
		w->path[path_len] = '\0';
	}

cleanup:
	for (size_t i = 0; i < count; i++)
		free(entries[i].name);
	free(entries);
	closedir(dir);
	return rc;
}

static int dir_for_each_file(const struct keelson_file_source *source, size_t max_file_size,
			     keelson_file_visit_fn visit, void *payload)
{
	const struct dir_source *ds = source->impl;
	int rootfd = open(ds->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return keelson_error_set(errno == ENOENT ? KEELSON_ENOTFOUND : KEELSON_ERROR,
					 "%s: cannot open directory: %s", ds->root, strerror(errno));
	struct walk *w = malloc(sizeof(*w));
	if (w == NULL) {
		close(rootfd);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	w->max_file_size = max_file_size;
	w->visit = visit;
	w->payload = payload;
	w->path[0] = '\0';
	int rc = walk_dir(w, rootfd, 0, 0);
	free(w);
	close(rootfd);
	return rc;
}

static void dir_free(struct keelson_file_source *source)
{
	if (source == NULL)
		return;
	struct dir_source *ds = source->impl;
	free(ds->root);
	free(ds);
}

int keelson_dir_source_open(struct keelson_file_source **out, const char *path)
{
	struct stat st;
	*out = NULL;
	if (stat(path, &st) != 0)
		return keelson_error_set(errno == ENOENT ? KEELSON_ENOTFOUND : KEELSON_ERROR,
					 "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return keelson_error_set(KEELSON_EINVALID,
			"%s is not a directory; give the root of a checkout of the configuration repository", path);
	struct dir_source *ds = calloc(1, sizeof(*ds));
	if (ds == NULL || (ds->root = strdup(path)) == NULL) {
		free(ds);
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	ds->base.version = KEELSON_FILE_SOURCE_VERSION;
	ds->base.description = ds->root;
	ds->base.for_each_file = dir_for_each_file;
	ds->base.free = dir_free;
	ds->base.impl = ds;
	*out = &ds->base;
	return 0;
}
