/*
 * When to poll a Git source: every interval (with jitter, so many keelson
 * instances polling one forge do not synchronise), and for a repository on
 * the local disk as soon as one of its refs changes (an inotify watch via
 * libinotifytools), so a local commit is seen within a second.
 *
 * A wake-up only means "something may have changed": the caller polls, and
 * the poll decides. Watch events are coalesced, and spurious wake-ups are
 * harmless because a poll without a change fetches nothing.
 */
#ifndef KEELSON_GIT_GIT_TRIGGER_H
#define KEELSON_GIT_GIT_TRIGGER_H

struct keelson_git_trigger;

#define KEELSON_GIT_TRIGGER_OPTIONS_VERSION 1

struct keelson_git_trigger_options {
	unsigned version;        /* KEELSON_GIT_TRIGGER_OPTIONS_VERSION */
	unsigned interval_ms;    /* poll interval; 0 = only watch events */
	unsigned jitter_percent; /* each interval is drawn from interval +- this %, max 50 */
	/* A local repository (work tree or bare) whose refs to watch, e.g.
	 * keelson_git_source_local_path(); NULL for none. */
	const char *watch_path;
};

enum keelson_git_trigger_reason {
	KEELSON_GIT_TRIGGER_INTERVAL = 0, /* the poll interval elapsed */
	KEELSON_GIT_TRIGGER_WATCH = 1,    /* a ref of the watched repository changed */
	KEELSON_GIT_TRIGGER_TIMEOUT = 2,  /* max_wait_ms elapsed first */
};

int keelson_git_trigger_new(struct keelson_git_trigger **out,
			    const struct keelson_git_trigger_options *opts);

/* Wait until the interval (counted from the previous wake-up) elapses, a
 * watched ref changes, or max_wait_ms passes (< 0: no limit), whichever is
 * first. Watch events that arrived while the caller was busy are not lost:
 * the next wait returns at once. */
int keelson_git_trigger_wait(enum keelson_git_trigger_reason *out, struct keelson_git_trigger *trigger,
			     int max_wait_ms);

/* Milliseconds until the next interval wake-up (for tests and status). */
long keelson_git_trigger_next_due_ms(const struct keelson_git_trigger *trigger);

void keelson_git_trigger_free(struct keelson_git_trigger *trigger);

#endif
