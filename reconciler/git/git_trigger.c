#include "config.h"

#include "git/git_trigger.h"

#include "core/error.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <inotifytools/inotify.h>
#include <inotifytools/inotifytools.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Longest single sleep, so the clock is re-read now and then. */
#define WAIT_SLICE_MAX_MS 1000
/* Bound on watched directories per repository (refs/ nests by name). */
#define WATCH_MAX_DIRS 4096
#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)

struct keelson_git_trigger {
	unsigned interval_ms;
	unsigned jitter_percent;
	int64_t next_due_ms; /* monotonic; INT64_MAX when there is no interval */
	char *git_dir;       /* watched repository's Git directory, no trailing '/' */
	char **watched;      /* directories this trigger registered */
	size_t watched_count;
	bool pending;        /* an event arrived since the last wake-up */
	struct keelson_git_trigger *next_registered;
	uint64_t rng;
};

/* libinotifytools is one process-wide instance: its users share it here. */
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static bool watch_initialized;
static struct keelson_git_trigger *registered;
/* libinotifytools keeps its inotify descriptor to itself and its
 * next_event() waits in whole seconds (0 blocks); keelson manages watches
 * and names through the library but reads events from the descriptor with
 * poll(), to honour millisecond deadlines and let several threads wait. */
static int watch_fd = -1;
/* Watches the kernel dropped (their directory was removed; `git pack-refs`
 * and branch deletion remove empty ref directories). libinotifytools cannot
 * forget them (its removal fails once the kernel watch is gone), so their
 * names stay taken; see add_watch. */
#define DEAD_WDS_MAX 1024
static int dead_wds[DEAD_WDS_MAX];
static size_t dead_count;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t next_random(struct keelson_git_trigger *t)
{
	/* xorshift64*: jitter needs spread, not secrecy. */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 2685821657736338717ULL;
}

static void schedule_next(struct keelson_git_trigger *t, int64_t from)
{
	if (t->interval_ms == 0) {
		t->next_due_ms = INT64_MAX;
		return;
	}
	int64_t interval = t->interval_ms;
	if (t->jitter_percent > 0) {
		int64_t span = interval * t->jitter_percent / 100;
		if (span > 0)
			interval += (int64_t)(next_random(t) % (uint64_t)(2 * span + 1)) - span;
	}
	t->next_due_ms = from + (interval > 0 ? interval : 1);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The Git directory of a work tree or bare repository. */
static char *find_git_dir(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s/.git", path);
	if (is_dir(buf))
		return strdup(buf);
	snprintf(buf, sizeof(buf), "%s/refs", path);
	if (is_dir(buf))
		return strdup(path);
	return NULL;
}

static bool wd_is_dead(int wd)
{
	for (size_t i = 0; i < dead_count; i++)
		if (dead_wds[i] == wd)
			return true;
	return false;
}

static void forget_name(struct keelson_git_trigger *t, const char *name)
{
	for (size_t i = 0; i < t->watched_count; i++) {
		if (strcmp(t->watched[i], name) == 0) {
			free(t->watched[i]);
			t->watched[i] = t->watched[--t->watched_count];
			return;
		}
	}
}

/* Caller holds watch_lock. */
static int add_watch(struct keelson_git_trigger *t, const char *dir)
{
	if (t->watched_count >= WATCH_MAX_DIRS)
		return keelson_error_set(KEELSON_ELIMIT, "more than %d directories under %s/refs",
					 WATCH_MAX_DIRS, t->git_dir);
	char **w = realloc(t->watched, (t->watched_count + 1) * sizeof(*w));
	if (!w)
		return KEELSON_ENOMEM;
	t->watched = w;
	/* libinotifytools names directories with a trailing '/'; lookups and
	 * removal by name need the same spelling. A name still held by a dead
	 * watch is spelled differently ("parent/./dir"), which the kernel
	 * resolves to the same directory. */
	char path[4096], name[4100];
	snprintf(path, sizeof(path), "%s", dir);
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	for (int attempt = 0;; attempt++) {
		snprintf(name, sizeof(name), "%s/", path);
		int wd = inotifytools_wd_from_filename(name);
		if (wd >= 0 && !wd_is_dead(wd)) {
			/* Already watched, by this or another trigger: inotify has
			 * one watch per inode, so it is shared (adding it again would
			 * replace and leak the library's record). */
			break;
		}
		if (wd < 0) {
			if (!inotifytools_watch_file(path, WATCH_EVENTS))
				return keelson_error_set(KEELSON_ERROR, "cannot watch %s: %s", path,
							 strerror(inotifytools_error()));
			break;
		}
		char *slash = strrchr(path, '/');
		if (attempt >= 8 || !slash || len + 2 >= sizeof(path))
			return keelson_error_set(KEELSON_ELIMIT,
				"%s was removed and re-created too often to watch", dir);
		memmove(slash + 2, slash, strlen(slash) + 1);
		slash[1] = '.';
		len += 2;
	}
	for (size_t i = 0; i < t->watched_count; i++)
		if (strcmp(t->watched[i], name) == 0)
			return 0;
	t->watched[t->watched_count] = strdup(name);
	if (!t->watched[t->watched_count])
		return KEELSON_ENOMEM;
	t->watched_count++;
	return 0;
}

/* Watch dir and every directory below it (refs/heads/team/...). */
static int add_watch_tree(struct keelson_git_trigger *t, const char *dir, int depth)
{
	if (depth > 32)
		return 0;
	int rc = add_watch(t, dir);
	if (rc < 0)
		return rc;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char sub[4096];
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) >= sizeof(sub))
			continue;
		if (is_dir(sub))
			rc = add_watch_tree(t, sub, depth + 1);
	}
	closedir(d);
	return rc;
}

static bool watched_by_registered(const char *path)
{
	for (struct keelson_git_trigger *o = registered; o; o = o->next_registered)
		for (size_t i = 0; i < o->watched_count; i++)
			if (strcmp(o->watched[i], path) == 0)
				return true;
	return false;
}

/* Caller holds watch_lock and has unregistered t. inotify gives one watch
 * per inode, shared by every trigger on the same repository, so a watch
 * goes only when no other trigger still uses it. */
static void remove_watches(struct keelson_git_trigger *t)
{
	for (size_t i = 0; i < t->watched_count; i++) {
		if (!watched_by_registered(t->watched[i]))
			inotifytools_remove_watch_by_filename(t->watched[i]);
		free(t->watched[i]);
	}
	free(t->watched);
	t->watched = NULL;
	t->watched_count = 0;
}

static bool path_is_under(const char *path, size_t len, const char *dir)
{
	size_t n = strlen(dir);
	return len >= n && strncmp(path, dir, n) == 0 && (len == n || path[n] == '/');
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

#define MAX_SCANNED_FDS 1024

/* The inotify descriptors open in this process, as a bitmap over fd numbers. */
static void inotify_fds(unsigned char *seen)
{
	memset(seen, 0, MAX_SCANNED_FDS / 8);
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd < 0 || fd >= MAX_SCANNED_FDS)
			continue;
		char link[64], target[64];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:inotify") == 0)
			seen[fd / 8] |= (unsigned char)(1u << (fd % 8));
	}
	closedir(d);
}

/* Start libinotifytools and find the descriptor it opened. Caller holds
 * watch_lock. */
static int start_watching(void)
{
	unsigned char before[MAX_SCANNED_FDS / 8], after[MAX_SCANNED_FDS / 8];
	inotify_fds(before);
	if (!inotifytools_initialize())
		return keelson_error_set(KEELSON_ERROR,
			"cannot start inotify (%s); raise fs.inotify.max_user_instances or rely "
			"on the poll interval", strerror(inotifytools_error()));
	inotify_fds(after);
	watch_fd = -1;
	for (int fd = 0; fd < MAX_SCANNED_FDS; fd++) {
		if ((after[fd / 8] & ~before[fd / 8]) & (1u << (fd % 8))) {
			watch_fd = fd;
			break;
		}
	}
	if (watch_fd < 0) {
		inotifytools_cleanup();
		return keelson_error_set(KEELSON_ERROR,
			"cannot find the inotify descriptor of libinotifytools; rely on the poll interval");
	}
	watch_initialized = true;
	return 0;
}

/* Route one event to the trigger watching it. Caller holds watch_lock. */
static void dispatch(struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		/* Events were lost: anything may have changed. */
		for (struct keelson_git_trigger *t = registered; t; t = t->next_registered)
			t->pending = true;
		return;
	}
	if (ev->mask & IN_IGNORED) {
		/* The kernel dropped the watch: its directory is gone. */
		const char *name = inotifytools_filename_from_wd(ev->wd);
		if (!name || wd_is_dead(ev->wd))
			return;
		for (struct keelson_git_trigger *t = registered; t; t = t->next_registered)
			forget_name(t, name);
		if (dead_count == DEAD_WDS_MAX)
			memmove(dead_wds, dead_wds + 1, (DEAD_WDS_MAX - 1) * sizeof(*dead_wds));
		else
			dead_count++;
		dead_wds[dead_count - 1] = ev->wd;
		return;
	}
	const char *dir = inotifytools_filename_from_wd(ev->wd);
	if (!dir)
		return;
	size_t len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	const char *name = ev->len > 0 ? ev->name : "";
	for (struct keelson_git_trigger *t = registered; t; t = t->next_registered) {
		if (!path_is_under(dir, len, t->git_dir))
			continue;
		bool top = len == strlen(t->git_dir);
		/* In the Git directory itself only the shared ref files matter;
		 * the index and logs change on every commit in a work tree. */
		if (top && strcmp(name, "packed-refs") != 0 && strcmp(name, "HEAD") != 0)
			continue;
		if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && !top) {
			char sub[4096];
			if ((size_t)snprintf(sub, sizeof(sub), "%.*s/%s", (int)len, dir, name) < sizeof(sub))
				add_watch_tree(t, sub, 0);
		}
		if (has_suffix(name, ".lock"))
			continue; /* the rename that follows is the change */
		t->pending = true;
	}
}

/* Read and route every queued event without blocking. Caller holds
 * watch_lock. */
static void drain_events(void)
{
	/* Aligned for struct inotify_event; room for several names. */
	char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		struct pollfd pfd = {.fd = watch_fd, .events = POLLIN};
		if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
			return;
		ssize_t n = read(watch_fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (char *p = buf; p + sizeof(struct inotify_event) <= buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			dispatch(ev);
			p += sizeof(struct inotify_event) + ev->len;
		}
	}
}

int keelson_git_trigger_new(struct keelson_git_trigger **out,
			    const struct keelson_git_trigger_options *opts)
{
	*out = NULL;
	if (!opts || opts->version != KEELSON_GIT_TRIGGER_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID,
			"git trigger options version %u is not supported (expected %d)",
			opts ? opts->version : 0, KEELSON_GIT_TRIGGER_OPTIONS_VERSION);
	if (opts->jitter_percent > 50)
		return keelson_error_set(KEELSON_EINVALID,
			"git trigger: jitter of %u%% is over the maximum of 50%%", opts->jitter_percent);
	if (opts->interval_ms == 0 && !opts->watch_path)
		return keelson_error_set(KEELSON_EINVALID,
			"git trigger: neither a poll interval nor a local repository to watch");

	struct keelson_git_trigger *t = calloc(1, sizeof(*t));
	if (!t)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	t->interval_ms = opts->interval_ms;
	t->jitter_percent = opts->jitter_percent;
	t->rng = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)t;
	if (t->rng == 0)
		t->rng = 1;
	schedule_next(t, now_ms());
	if (!opts->watch_path) {
		*out = t;
		return 0;
	}

	int rc = 0;
	t->git_dir = find_git_dir(opts->watch_path);
	if (!t->git_dir) {
		free(t);
		return keelson_error_set(KEELSON_EINVALID,
			"git trigger: %s is not a Git repository (no .git or refs directory)",
			opts->watch_path);
	}
	pthread_mutex_lock(&watch_lock);
	if (!watch_initialized && (rc = start_watching()) < 0) {
		keelson_error_wrap(rc, "git trigger for %s", t->git_dir);
		goto unlock;
	}
	char refs[4096];
	snprintf(refs, sizeof(refs), "%s/refs", t->git_dir);
	if ((rc = add_watch(t, t->git_dir)) < 0 || (rc = add_watch_tree(t, refs, 0)) < 0) {
		keelson_error_wrap(rc, "git trigger: watching %s", t->git_dir);
		remove_watches(t);
		goto unlock;
	}
	t->next_registered = registered;
	registered = t;
unlock:
	pthread_mutex_unlock(&watch_lock);
	if (rc < 0) {
		free(t->git_dir);
		free(t);
		return rc;
	}
	keelson_log(KEELSON_LOG_DEBUG, "watching git refs", "git_dir", t->git_dir, NULL);
	*out = t;
	return 0;
}

int keelson_git_trigger_wait(enum keelson_git_trigger_reason *out, struct keelson_git_trigger *t,
			     int max_wait_ms)
{
	int64_t start = now_ms();
	int64_t limit = max_wait_ms < 0 ? INT64_MAX : start + max_wait_ms;
	for (;;) {
		if (t->git_dir) {
			pthread_mutex_lock(&watch_lock);
			drain_events();
			bool fired = t->pending;
			t->pending = false;
			pthread_mutex_unlock(&watch_lock);
			if (fired) {
				*out = KEELSON_GIT_TRIGGER_WATCH;
				schedule_next(t, now_ms());
				return 0;
			}
		}
		int64_t now = now_ms();
		if (now >= t->next_due_ms) {
			*out = KEELSON_GIT_TRIGGER_INTERVAL;
			schedule_next(t, now);
			return 0;
		}
		if (now >= limit) {
			*out = KEELSON_GIT_TRIGGER_TIMEOUT;
			return 0;
		}
		int64_t until = t->next_due_ms < limit ? t->next_due_ms : limit;
		int64_t slice = until - now;
		if (slice > WAIT_SLICE_MAX_MS)
			slice = WAIT_SLICE_MAX_MS;
		if (t->git_dir) {
			struct pollfd pfd = {.fd = watch_fd, .events = POLLIN};
			if (poll(&pfd, 1, (int)slice) < 0 && errno != EINTR)
				sleep_ms((long)slice);
		} else {
			sleep_ms((long)slice);
		}
	}
}

long keelson_git_trigger_next_due_ms(const struct keelson_git_trigger *t)
{
	if (t->next_due_ms == INT64_MAX)
		return -1;
	int64_t d = t->next_due_ms - now_ms();
	return d > 0 ? (long)d : 0;
}

void keelson_git_trigger_free(struct keelson_git_trigger *t)
{
	if (!t)
		return;
	if (t->git_dir) {
		pthread_mutex_lock(&watch_lock);
		for (struct keelson_git_trigger **p = &registered; *p; p = &(*p)->next_registered) {
			if (*p == t) {
				*p = t->next_registered;
				break;
			}
		}
		remove_watches(t);
		if (!registered && watch_initialized) {
			inotifytools_cleanup();
			watch_initialized = false;
			watch_fd = -1;
			dead_count = 0;
		}
		pthread_mutex_unlock(&watch_lock);
		free(t->git_dir);
	}
	free(t);
}
