#include "config.h"

#include "git/git_source.h"
#include "git/network_deadline.h"

#include "core/error.h"
#include "core/log.h"
#include "core/redact.h"
#include "git/known_hosts.h"
#include "git/tls_ca.h"
#include "git/signature.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <git2.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Secrets and names read from files: one line, bounded. */
#define SECRET_MAX_BYTES 4096
#define PATH_MAX_BYTES 4096
#define DEFAULT_MAX_FETCH_BYTES (1024ULL * 1024 * 1024)
#define DEFAULT_TIMEOUT_MS 120000

#define TRACK_REF_PREFIX "refs/keelson/track/"
#define ACCEPTED_REF "refs/keelson/accepted"
#define PIN_REF_PREFIX "refs/keelson/pin/"

struct keelson_git_source {
	char *url;
	char *display_url;
	char *cache_dir;
	char *local_path; /* set for local and file:// URLs */
	enum keelson_git_track track;
	char *ref;         /* as configured */
	char *remote_ref;  /* refs/heads/x or refs/tags/x; NULL for a pinned commit */
	char *track_ref;   /* where the fetched remote ref is kept in the cache */
	git_oid pin;       /* pinned commit */
	char *username_file, *username_env, *token_file, *token_env;
	char *ca_file;
	char *ssh_key_file, *ssh_username, *known_hosts_file;
	char *ssh_host;
	int ssh_port;
	bool insecure_skip_host_key_check;
	enum keelson_git_signature_policy signature_policy;
	char *allowed_signers_file;
	char *gpg_keyring_file;
	/* The last refused commit and why, so polls that find it again report
	 * it without running the verifier each time. */
	char refused_sha[41];
	char *refused_message;

	git_repository *repo;
	bool have_good;
	char good_sha[41];
	bool have_reported;
	char reported_sha[41];

	/* Per-poll callback state: why a callback refused, for the message. */
	unsigned credential_attempts;
	bool auth_failed;
	bool host_key_failed;
	bool tls_failed;
	bool fetch_too_big;
	uint64_t max_fetch_bytes;
	unsigned timeout_ms;
	size_t max_tree_entries;
	struct keelson_network_deadline deadline; /* armed during a poll */
	char callback_error[1024];
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* libgit2's message for the last failure, or a fallback. */
static const char *git_message(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

/* Record an error whose text went through redaction, because libgit2
 * messages can quote the URL with its userinfo. */
static int set_redacted(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_redacted(int code, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char *clean = keelson_redact_text(buf);
	keelson_error_set(code, "%s", clean ? clean : "(error message withheld: out of memory)");
	free(clean);
	return code;
}

static const char *good_or_none(const struct keelson_git_source *src)
{
	return src->have_good ? src->good_sha : "(none yet)";
}

/* ---- URL handling ---------------------------------------------------- */

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* scp-like syntax: [user@]host:path with no slash before the colon. */
static bool is_scp_like(const char *url)
{
	const char *colon = strchr(url, ':');
	if (!colon || colon == url)
		return false;
	const char *slash = strchr(url, '/');
	return !slash || slash > colon;
}

/* Host and port of an ssh URL, for the known_hosts lookup (libgit2's
 * certificate callback gets the host but not the port). */
static int parse_ssh_host(struct keelson_git_source *src)
{
	const char *p = src->url;
	bool scp = false;
	if (has_prefix(p, "ssh://"))
		p += 6;
	else if (has_prefix(p, "git+ssh://") || has_prefix(p, "ssh+git://"))
		p += 10;
	else
		scp = true;
	const char *end = scp ? strchr(p, ':') : p + strcspn(p, "/");
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	const char *host_end = end;
	src->ssh_port = 22;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (!close)
			return keelson_error_set(KEELSON_EINVALID, "malformed ssh URL %s", src->display_url);
		host_end = close;
		p++;
		if (!scp && close[1] == ':')
			src->ssh_port = atoi(close + 2);
	} else if (!scp) {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		if (colon) {
			host_end = colon;
			src->ssh_port = atoi(colon + 1);
		}
	}
	if (host_end <= p || src->ssh_port <= 0 || src->ssh_port > 65535)
		return keelson_error_set(KEELSON_EINVALID, "malformed ssh URL %s: no host or bad port",
					 src->display_url);
	src->ssh_host = strndup(p, (size_t)(host_end - p));
	return src->ssh_host ? 0 : KEELSON_ENOMEM;
}

/* "scheme://user:password@host/...": a secret in configuration, where it
 * would be copied into logs, flags and process listings. */
static bool url_has_password(const char *url)
{
	const char *p = strstr(url, "://");
	if (!p)
		return false;
	p += 3;
	size_t authority = strcspn(p, "/?#");
	const char *at = memchr(p, '@', authority);
	return at && memchr(p, ':', (size_t)(at - p)) != NULL;
}

static int classify_url(struct keelson_git_source *src)
{
	const char *url = src->url;
	if (url_has_password(url))
		return keelson_error_set(KEELSON_EINVALID,
			"the Git URL %s carries a password; remove it from the URL and put the "
			"token in a file (token_file) or an environment variable (token_env)",
			src->display_url);
	if (has_prefix(url, "file://")) {
		src->local_path = strdup(url + 7);
		return src->local_path ? 0 : KEELSON_ENOMEM;
	}
	if (has_prefix(url, "git://") || has_prefix(url, "http://") || has_prefix(url, "https://"))
		return 0;
	if (has_prefix(url, "ssh://") || has_prefix(url, "git+ssh://") || has_prefix(url, "ssh+git://"))
		return parse_ssh_host(src);
	if (strstr(url, "://"))
		return keelson_error_set(KEELSON_EINVALID,
			"unsupported Git URL scheme in %s; use a local path, file://, git://, "
			"http://, https:// or ssh://", src->display_url);
	if (url[0] != '/' && url[0] != '.' && is_scp_like(url))
		return parse_ssh_host(src);
	src->local_path = strdup(url);
	return src->local_path ? 0 : KEELSON_ENOMEM;
}

/* ---- network timeout ------------------------------------------------- */

/* ---- credentials and certificates ------------------------------------ */

/* First line of a file, or the value of an environment variable. */
static int read_setting(char **out, const char *file, const char *env, const char *what)
{
	*out = NULL;
	if (file) {
		FILE *f = fopen(file, "r");
		if (!f)
			return keelson_error_set(KEELSON_EINVALID, "cannot read the %s file %s: %s",
						 what, file, strerror(errno));
		char *buf = calloc(1, SECRET_MAX_BYTES + 2);
		if (!buf) {
			fclose(f);
			return KEELSON_ENOMEM;
		}
		size_t n = fread(buf, 1, SECRET_MAX_BYTES + 1, f);
		fclose(f);
		if (n > SECRET_MAX_BYTES) {
			free_secret(buf);
			return keelson_error_set(KEELSON_ELIMIT, "the %s file %s is over %d bytes",
						 what, file, SECRET_MAX_BYTES);
		}
		buf[strcspn(buf, "\r\n")] = '\0';
		*out = buf;
		return 0;
	}
	if (env) {
		const char *v = getenv(env);
		if (!v)
			return keelson_error_set(KEELSON_EINVALID,
				"the environment variable %s (the %s) is not set", env, what);
		*out = strdup(v);
		return *out ? 0 : KEELSON_ENOMEM;
	}
	return 0;
}

static int credentials_cb(git_credential **out, const char *url, const char *username_from_url,
			  unsigned int allowed_types, void *payload)
{
	struct keelson_git_source *src = payload;
	(void)url;
	/* SSH without a user in the URL: libgit2 first asks for the name. */
	if (allowed_types & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, src->ssh_username ? src->ssh_username : "git");
	/* libgit2 asks again after each rejection; one attempt is enough to
	 * know the configured credentials are wrong. */
	if (++src->credential_attempts > 1) {
		src->auth_failed = true;
		snprintf(src->callback_error, sizeof(src->callback_error),
			 "the server rejected the configured credentials");
		git_error_set_str(GIT_ERROR_NET, src->callback_error);
		return GIT_EAUTH;
	}
	if (allowed_types & GIT_CREDENTIAL_SSH_KEY) {
		if (!src->ssh_key_file) {
			src->auth_failed = true;
			snprintf(src->callback_error, sizeof(src->callback_error),
				 "the server asks for an SSH key and none is configured (ssh_key_file)");
			git_error_set_str(GIT_ERROR_NET, src->callback_error);
			return GIT_EAUTH;
		}
		const char *user = username_from_url ? username_from_url
				   : src->ssh_username ? src->ssh_username : "git";
		return git_credential_ssh_key_new(out, user, NULL, src->ssh_key_file, NULL);
	}
	if (allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		char *user = NULL, *token = NULL;
		/* The user name is optional: an unset variable means the default. */
		int rc = src->username_file || (src->username_env && getenv(src->username_env))
			 ? read_setting(&user, src->username_file, src->username_env, "username")
			 : 0;
		if (rc == 0)
			rc = read_setting(&token, src->token_file, src->token_env, "token");
		if (rc == 0 && !token) {
			snprintf(src->callback_error, sizeof(src->callback_error),
				 "the server requires authentication and no token is configured "
				 "(token_file or token_env)");
			rc = -1;
		} else if (rc != 0) {
			snprintf(src->callback_error, sizeof(src->callback_error), "%s",
				 keelson_error_last()->message);
		}
		if (rc != 0) {
			free_secret(user);
			free_secret(token);
			src->auth_failed = true;
			git_error_set_str(GIT_ERROR_NET, src->callback_error);
			return GIT_EAUTH;
		}
		const char *name = user ? user : username_from_url ? username_from_url : "x-access-token";
		rc = git_credential_userpass_plaintext_new(out, name, token);
		free_secret(user);
		free_secret(token);
		return rc;
	}
	src->auth_failed = true;
	snprintf(src->callback_error, sizeof(src->callback_error),
		 "the server asks for an authentication method keelson does not support");
	git_error_set_str(GIT_ERROR_NET, src->callback_error);
	return GIT_EAUTH;
}

static int certificate_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	struct keelson_git_source *src = payload;
	if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2) {
		if (src->insecure_skip_host_key_check)
			return 0;
		const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
		if (!(hk->type & GIT_CERT_SSH_RAW)) {
			snprintf(src->callback_error, sizeof(src->callback_error),
				 "the SSH library did not provide the raw host key of %s", host);
		} else {
			const char *file = src->known_hosts_file;
			char fallback[PATH_MAX_BYTES];
			if (!file) {
				const char *home = getenv("HOME");
				snprintf(fallback, sizeof(fallback), "%s/.ssh/known_hosts", home ? home : "");
				file = fallback;
			}
			if (keelson_git_known_hosts_check(file, src->ssh_host ? src->ssh_host : host,
							  src->ssh_port, (const unsigned char *)hk->hostkey,
							  hk->hostkey_len) == 0)
				return 0;
			snprintf(src->callback_error, sizeof(src->callback_error), "%s",
				 keelson_error_last()->message);
		}
		src->host_key_failed = true;
		git_error_set_str(GIT_ERROR_SSH, src->callback_error);
		return GIT_ECERTIFICATE;
	}
	if (cert->cert_type == GIT_CERT_X509) {
		if (valid)
			return 0;
		if (src->ca_file && keelson_git_cert_trusted_by_ca_file((const git_cert_x509 *)cert, host, src->ca_file))
			return 0;
		src->tls_failed = true;
		snprintf(src->callback_error, sizeof(src->callback_error),
			 "the TLS certificate of %s is not trusted%s%s", host,
			 src->ca_file ? " by the system store or by " : " by the system store; set ca_file",
			 src->ca_file ? src->ca_file : "");
		git_error_set_str(GIT_ERROR_SSL, src->callback_error);
		return GIT_ECERTIFICATE;
	}
	return valid ? 0 : GIT_ECERTIFICATE;
}

static void reset_callback_state(struct keelson_git_source *src)
{
	src->credential_attempts = 0;
	src->auth_failed = src->host_key_failed = src->tls_failed = src->fetch_too_big = false;
	src->callback_error[0] = '\0';
}

/* Also needed for libgit2 to count received bytes at all. */
static int transfer_progress_cb(const git_indexer_progress *stats, void *payload)
{
	struct keelson_git_source *src = payload;
	/* A server that trickles data never leaves a call blocked for long. */
	if (keelson_network_deadline_passed(&src->deadline)) {
		git_error_set_str(GIT_ERROR_NET, "timed out");
		return GIT_EUSER;
	}
	if (stats->received_bytes > src->max_fetch_bytes) {
		src->fetch_too_big = true;
		git_error_set_str(GIT_ERROR_NET, "fetch size limit exceeded");
		return GIT_EUSER;
	}
	return 0;
}

static void init_callbacks(git_remote_callbacks *cb, struct keelson_git_source *src)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = credentials_cb;
	cb->certificate_check = certificate_cb;
	cb->transfer_progress = transfer_progress_cb;
	cb->payload = src;
}

/* Turn a failed remote operation into a keelson error that says what
 * happened, where, and what to do. */
static int remote_failure(struct keelson_git_source *src, const char *doing, int git_rc)
{
	if (keelson_network_deadline_passed(&src->deadline))
		return set_redacted(KEELSON_ETIMEOUT,
			"%s %s (ref %s): no complete answer within %u ms (%s); check that the "
			"server is healthy, or raise timeout_ms; last good revision %s stays",
			doing, src->display_url, src->ref, src->timeout_ms, git_message(),
			good_or_none(src));
	if (src->fetch_too_big)
		return set_redacted(KEELSON_ELIMIT,
			"%s %s (ref %s): the fetch received more than %llu bytes and was stopped; "
			"raise max_fetch_bytes if the repository really is that large; last good "
			"revision %s stays", doing, src->display_url, src->ref,
			(unsigned long long)src->max_fetch_bytes, good_or_none(src));
	if (src->auth_failed)
		return set_redacted(KEELSON_EINVALID,
			"%s %s (ref %s): authentication failed: %s; check the configured "
			"credentials (token_file/token_env, ssh_key_file); last good revision %s stays",
			doing, src->display_url, src->ref, src->callback_error, good_or_none(src));
	if (src->host_key_failed)
		return set_redacted(KEELSON_EINVALID, "%s %s (ref %s): %s; last good revision %s stays",
			doing, src->display_url, src->ref, src->callback_error, good_or_none(src));
	if (src->tls_failed || git_rc == GIT_ECERTIFICATE)
		return set_redacted(KEELSON_EINVALID, "%s %s (ref %s): %s; last good revision %s stays",
			doing, src->display_url, src->ref,
			src->callback_error[0] ? src->callback_error : git_message(), good_or_none(src));
	const char *m = git_message();
	if (src->local_path && (strstr(m, "safe.directory") || strstr(m, "not owned by current user")))
		return set_redacted(KEELSON_EINVALID,
			"%s %s (ref %s): the repository belongs to another user, and libgit2 opens "
			"such a repository only when its exact path is listed as safe; run `git config "
			"--global --add safe.directory %s` as the user keelson runs as (libgit2 said: "
			"%s); last good revision %s stays",
			doing, src->display_url, src->ref, src->local_path, m, good_or_none(src));
	if (git_rc == GIT_EAUTH)
		return set_redacted(KEELSON_EINVALID,
			"%s %s (ref %s): authentication failed: %s; check the configured "
			"credentials; last good revision %s stays",
			doing, src->display_url, src->ref, git_message(), good_or_none(src));
	return set_redacted(KEELSON_EUNAVAILABLE,
		"%s %s (ref %s) failed: %s; check that the URL is right and the server is "
		"reachable; last good revision %s stays",
		doing, src->display_url, src->ref, git_message(), good_or_none(src));
}

/* ---- open ------------------------------------------------------------ */

static bool is_hex_sha(const char *s)
{
	if (strlen(s) != 40)
		return false;
	for (int i = 0; i < 40; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool dir_is_empty_or_missing(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT;
	bool empty = true;
	struct dirent *e;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

/* The cache holds every file of the configuration repository and its
 * history: only keelson's user may read it. Missing directories (the
 * cache and its parents) are created 0700, and a cache directory keelson
 * owns is set to 0700, so the looser modes libgit2 uses inside it do not
 * matter. */
static int make_private_dir(const char *path)
{
	char *copy = strdup(path);
	if (copy == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			int rc = keelson_error_set(KEELSON_ERROR, "cannot create the Git cache directory %s: %s",
						   copy, strerror(errno));
			free(copy);
			return rc;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	struct stat st;
	if (stat(path, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 077) != 0 &&
	    chmod(path, 0700) != 0)
		return keelson_error_set(KEELSON_ERROR, "cannot make the Git cache directory %s private: %s",
					 path, strerror(errno));
	return 0;
}

/* Made in a new cache directory before libgit2 initialises it, removed once
 * keelson.url is set. A process killed in between (SIGKILL, a lost node)
 * leaves a directory that is neither empty nor a keelson cache, which
 * open_cache would otherwise refuse at every start from then on: the
 * marker says the contents are keelson's own half-made cache, safe to
 * discard and make again. */
#define CACHE_INIT_MARKER "keelson-cache-init"

static int remove_below_root(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	/* The directory itself stays: it may be a mount point or have a mode
	 * the operator chose. */
	if (ftw->level == 0)
		return 0;
	return remove(path) == 0 ? 0 : -1;
}

static int discard_interrupted_cache(const struct keelson_git_source *src, const char *marker)
{
	if (access(marker, F_OK) != 0)
		return 0;
	keelson_log(KEELSON_LOG_WARN, "discarding a Git cache whose creation was interrupted",
		    "url", src->display_url, "cache_dir", src->cache_dir, NULL);
	if (nftw(src->cache_dir, remove_below_root, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return keelson_error_set(KEELSON_ERROR,
			"cannot remove the half-made Git cache in %s (its creation was interrupted): %s; "
			"remove the directory's contents", src->cache_dir, strerror(errno));
	return 0;
}

static int open_cache(struct keelson_git_source *src)
{
	int rc = 0;
	git_config *cfg = NULL;
	git_buf stored = GIT_BUF_INIT;
	char *marker = NULL;

	if (asprintf(&marker, "%s/" CACHE_INIT_MARKER, src->cache_dir) < 0) {
		marker = NULL;
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	if ((rc = discard_interrupted_cache(src, marker)) < 0)
		goto cleanup;
	if (git_repository_open_ext(&src->repo, src->cache_dir, GIT_REPOSITORY_OPEN_NO_SEARCH |
				    GIT_REPOSITORY_OPEN_BARE, NULL) == 0) {
		if (!git_repository_is_bare(src->repo)) {
			rc = keelson_error_set(KEELSON_EINVALID,
				"cache directory %s is a non-bare Git repository; give keelson a "
				"directory of its own", src->cache_dir);
			goto cleanup;
		}
		if (git_repository_config(&cfg, src->repo) < 0 ||
		    git_config_get_string_buf(&stored, cfg, "keelson.url") < 0) {
			rc = keelson_error_set(KEELSON_EINVALID,
				"cache directory %s is a Git repository keelson did not create; "
				"give keelson a directory of its own", src->cache_dir);
			goto cleanup;
		}
		if (strcmp(stored.ptr, src->display_url) != 0) {
			rc = set_redacted(KEELSON_ECONFLICT,
				"cache directory %s belongs to %s, not %s; use one cache directory per "
				"repository", src->cache_dir, stored.ptr, src->display_url);
			goto cleanup;
		}
		/* A cache made by an older keelson may be world-readable. */
		rc = make_private_dir(src->cache_dir);
		goto cleanup;
	}
	if (!dir_is_empty_or_missing(src->cache_dir)) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"cache directory %s exists and is not an empty directory or a keelson "
			"cache; give keelson a directory of its own", src->cache_dir);
		goto cleanup;
	}
	if ((rc = make_private_dir(src->cache_dir)) < 0)
		goto cleanup;
	int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || close(fd) != 0) {
		rc = keelson_error_set(KEELSON_ERROR, "cannot create the Git cache in %s: %s: %s",
				       src->cache_dir, marker, strerror(errno));
		goto cleanup;
	}
	if (git_repository_init(&src->repo, src->cache_dir, 1) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "cannot create the Git cache in %s: %s",
				       src->cache_dir, git_message());
		goto cleanup;
	}
	/* The redacted URL: enough to tell caches apart, and no secret on disk. */
	if (git_repository_config(&cfg, src->repo) < 0 ||
	    git_config_set_string(cfg, "keelson.url", src->display_url) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "cannot write the config of the Git cache %s: %s",
				       src->cache_dir, git_message());
		goto cleanup;
	}
	if (unlink(marker) != 0) {
		rc = keelson_error_set(KEELSON_ERROR, "cannot finish the Git cache in %s: removing %s: %s",
				       src->cache_dir, marker, strerror(errno));
		goto cleanup;
	}
	keelson_log(KEELSON_LOG_INFO, "created git cache", "url", src->display_url,
		    "cache_dir", src->cache_dir, NULL);
cleanup:
	free(marker);
	git_buf_dispose(&stored);
	git_config_free(cfg);
	if (rc != 0) {
		git_repository_free(src->repo);
		src->repo = NULL;
	}
	return rc;
}

int keelson_git_cache_dir_for_url(char **out, const char *root, const char *url)
{
	*out = NULL;
	if (!root || !*root || !url || !*url)
		return keelson_error_set(KEELSON_EINVALID, "git cache: root directory and URL are required");
	char *display = keelson_redact_text(url);
	if (!display)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	unsigned char digest[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)display, strlen(display), digest);

	/* Readable part: the URL after its scheme and userinfo, with anything
	 * but [A-Za-z0-9._-] folded to '_', bounded. */
	const char *p = strstr(display, "://");
	p = p ? p + 3 : display;
	const char *at = strchr(p, '@');
	const char *slash = strchr(p, '/');
	if (at && (!slash || at < slash))
		p = at + 1;
	char name[65];
	size_t n = 0;
	for (; *p && n < sizeof(name) - 1; p++)
		name[n++] = (isalnum((unsigned char)*p) || *p == '.' || *p == '-') ? *p : '_';
	name[n] = '\0';
	free(display);

	size_t len = strlen(root) + 1 + n + 1 + 16 + 1;
	*out = malloc(len);
	if (!*out)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	int w = snprintf(*out, len, "%s/%s-", root, name);
	for (int i = 0; i < 8; i++)
		w += snprintf(*out + w, len - (size_t)w, "%02x", digest[i]);
	return 0;
}

static void load_last_good(struct keelson_git_source *src)
{
	git_oid oid;
	if (git_reference_name_to_id(&oid, src->repo, ACCEPTED_REF) == 0) {
		git_oid_tostr(src->good_sha, sizeof(src->good_sha), &oid);
		src->have_good = true;
	}
}

int keelson_git_source_open(struct keelson_git_source **out,
			    const struct keelson_git_source_options *opts)
{
	*out = NULL;
	if (!opts || opts->version != KEELSON_GIT_SOURCE_OPTIONS_VERSION)
		return keelson_error_set(KEELSON_EINVALID,
			"git source options version %u is not supported (expected %d)",
			opts ? opts->version : 0, KEELSON_GIT_SOURCE_OPTIONS_VERSION);
	if (!opts->url || !*opts->url)
		return keelson_error_set(KEELSON_EINVALID, "git source: no URL given");
	if (!opts->cache_dir || !*opts->cache_dir)
		return keelson_error_set(KEELSON_EINVALID, "git source: no cache directory given");
	if (!opts->ref || !*opts->ref)
		return keelson_error_set(KEELSON_EINVALID, "git source: no branch, tag or commit given");

	int rc = 0;
	git_libgit2_init();
	struct keelson_git_source *src = calloc(1, sizeof(*src));
	if (!src) {
		git_libgit2_shutdown();
		return keelson_error_set(KEELSON_ENOMEM, "out of memory");
	}
	src->url = strdup(opts->url);
	src->display_url = keelson_redact_text(opts->url);
	src->cache_dir = strdup(opts->cache_dir);
	src->ref = strdup(opts->ref);
	src->track = opts->track;
	src->username_file = dup_or_null(opts->username_file);
	src->username_env = dup_or_null(opts->username_env);
	src->token_file = dup_or_null(opts->token_file);
	src->token_env = dup_or_null(opts->token_env);
	src->ca_file = dup_or_null(opts->ca_file);
	src->ssh_key_file = dup_or_null(opts->ssh_key_file);
	src->ssh_username = dup_or_null(opts->ssh_username);
	src->known_hosts_file = dup_or_null(opts->known_hosts_file);
	src->insecure_skip_host_key_check = opts->insecure_skip_host_key_check;
	if (src->insecure_skip_host_key_check)
		keelson_log(KEELSON_LOG_WARN,
			"SSH host key verification of the Git server is disabled "
			"(insecure_skip_host_key_check): anyone on the network path can serve the revision",
			"url", src->display_url, NULL);
	src->signature_policy = opts->signature_policy;
	src->allowed_signers_file = dup_or_null(opts->ssh_allowed_signers_file);
	src->gpg_keyring_file = dup_or_null(opts->gpg_keyring_file);
	src->max_fetch_bytes = opts->max_fetch_bytes ? opts->max_fetch_bytes : DEFAULT_MAX_FETCH_BYTES;
	src->timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	src->max_tree_entries = opts->max_tree_entries ? opts->max_tree_entries : KEELSON_GIT_DEFAULT_MAX_TREE_ENTRIES;
	if (!src->url || !src->display_url || !src->cache_dir || !src->ref) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = classify_url(src)) < 0)
		goto cleanup;

	switch (src->track) {
	case KEELSON_GIT_TRACK_BRANCH:
	case KEELSON_GIT_TRACK_TAG: {
		const char *kind = src->track == KEELSON_GIT_TRACK_BRANCH ? "heads" : "tags";
		char name[PATH_MAX_BYTES];
		if (has_prefix(src->ref, "refs/") || !git_reference_is_valid_name(
			    (snprintf(name, sizeof(name), "refs/%s/%s", kind, src->ref), name))) {
			rc = keelson_error_set(KEELSON_EINVALID,
				"git source %s: \"%s\" is not a valid %s name; give the short name "
				"(e.g. main or v1.2.0)", src->display_url, src->ref,
				src->track == KEELSON_GIT_TRACK_BRANCH ? "branch" : "tag");
			goto cleanup;
		}
		src->remote_ref = strdup(name);
		snprintf(name, sizeof(name), TRACK_REF_PREFIX "%s/%s", kind, src->ref);
		src->track_ref = strdup(name);
		if (!src->remote_ref || !src->track_ref) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto cleanup;
		}
		break;
	}
	case KEELSON_GIT_TRACK_COMMIT:
		if (!is_hex_sha(src->ref) || git_oid_fromstr(&src->pin, src->ref) < 0) {
			rc = keelson_error_set(KEELSON_EINVALID,
				"git source %s: pinned commit \"%s\" is not a full 40-hex commit id",
				src->display_url, src->ref);
			goto cleanup;
		}
		break;
	default:
		rc = keelson_error_set(KEELSON_EINVALID, "git source %s: unknown track mode %d",
				       src->display_url, (int)src->track);
		goto cleanup;
	}

	if (src->signature_policy == KEELSON_GIT_SIGNATURES_SSH && !src->allowed_signers_file) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"git source %s: SSH signature verification needs ssh_allowed_signers_file",
			src->display_url);
		goto cleanup;
	} else if (src->signature_policy == KEELSON_GIT_SIGNATURES_GPG && !src->gpg_keyring_file) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"git source %s: GPG signature verification needs gpg_keyring_file",
			src->display_url);
		goto cleanup;
	} else if (src->signature_policy != KEELSON_GIT_SIGNATURES_NONE &&
		   src->signature_policy != KEELSON_GIT_SIGNATURES_SSH &&
		   src->signature_policy != KEELSON_GIT_SIGNATURES_GPG) {
		rc = keelson_error_set(KEELSON_EINVALID, "git source %s: unknown signature policy %d",
				       src->display_url, (int)src->signature_policy);
		goto cleanup;
	}

	if ((rc = open_cache(src)) < 0)
		goto cleanup;
	load_last_good(src);
cleanup:
	if (rc < 0) {
		keelson_git_source_free(src);
		return rc;
	}
	*out = src;
	return 0;
}

void keelson_git_source_free(struct keelson_git_source *src)
{
	if (!src)
		return;
	git_repository_free(src->repo);
	free_secret(src->url);
	free(src->display_url);
	free(src->cache_dir);
	free(src->local_path);
	free(src->ref);
	free(src->remote_ref);
	free(src->track_ref);
	free(src->username_file);
	free(src->username_env);
	free(src->token_file);
	free(src->token_env);
	free(src->ca_file);
	free(src->ssh_key_file);
	free(src->ssh_username);
	free(src->known_hosts_file);
	free(src->ssh_host);
	free(src->allowed_signers_file);
	free(src->gpg_keyring_file);
	free(src->refused_message);
	free(src);
	git_libgit2_shutdown();
}

const char *keelson_git_source_last_good(const struct keelson_git_source *src)
{
	return src->have_good ? src->good_sha : NULL;
}

int keelson_git_source_first_parent(char out[41], struct keelson_git_source *src, const char *sha)
{
	git_oid oid;
	git_commit *commit = NULL, *parent = NULL;
	out[0] = '\0';
	if (src->signature_policy != KEELSON_GIT_SIGNATURES_NONE)
		return keelson_error_set(KEELSON_ENOTFOUND, "ancestors of %.12s are not signature-verified", sha);
	if (!sha || !is_hex_sha(sha) || git_oid_fromstr(&oid, sha) < 0)
		return keelson_error_set(KEELSON_EINVALID, "\"%s\" is not a full 40-hex commit id",
					 sha ? sha : "(null)");
	if (git_commit_lookup(&commit, src->repo, &oid) < 0)
		return set_redacted(KEELSON_ENOTFOUND, "commit %s is not in the cache of %s", sha, src->display_url);
	int rc = 0;
	if (git_commit_parentcount(commit) == 0 || git_commit_parent(&parent, commit, 0) < 0)
		rc = keelson_error_set(KEELSON_ENOTFOUND, "commit %.12s has no parent in the cache", sha);
	else
		git_oid_tostr(out, 41, git_commit_id(parent));
	git_commit_free(parent);
	git_commit_free(commit);
	return rc;
}

const char *keelson_git_source_display_url(const struct keelson_git_source *src)
{
	return src->display_url;
}

const char *keelson_git_source_local_path(const struct keelson_git_source *src)
{
	return src->local_path;
}

/* ---- poll ------------------------------------------------------------ */

static void fill_revision(struct keelson_git_revision *rev, const git_commit *commit)
{
	git_oid_tostr(rev->sha, sizeof(rev->sha), git_commit_id(commit));
	rev->commit_time = (int64_t)git_commit_time(commit);
	const git_signature *a = git_commit_author(commit);
	snprintf(rev->author, sizeof(rev->author), "%s <%s>", a && a->name ? a->name : "",
		 a && a->email ? a->email : "");
	const char *summary = git_commit_summary((git_commit *)commit);
	snprintf(rev->subject, sizeof(rev->subject), "%s", summary ? summary : "");
}

/* Fetch `refspecs` over an already connected remote and record the
 * transfer in rev. */
static int download(struct keelson_git_source *src, git_remote *remote, const char *const *refspecs,
		    size_t count, struct keelson_git_revision *rev)
{
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	init_callbacks(&fo.callbacks, src);
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.update_fetchhead = 0;
	fo.prune = GIT_FETCH_NO_PRUNE;
	git_strarray specs = {(char **)refspecs, count};
	int grc = git_remote_download(remote, &specs, &fo);
	rev->fetched = true;
	const git_indexer_progress *stats = git_remote_stats(remote);
	if (stats) {
		rev->received_bytes += stats->received_bytes;
		rev->received_objects += stats->received_objects;
	}
	if (grc < 0)
		return remote_failure(src, "fetching from", grc);
	grc = git_remote_update_tips(remote, &fo.callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE,
				     "keelson: fetch");
	if (grc < 0)
		return set_redacted(KEELSON_ERROR, "updating the cache %s for %s: %s", src->cache_dir,
				    src->display_url, git_message());
	return 0;
}

static int connect_remote(git_remote **out, struct keelson_git_source *src)
{
	git_remote_callbacks cb;
	init_callbacks(&cb, src);
	/* Skipping url.*.insteadOf: the cache's config is keelson's, and the
	 * lookup leaks in libgit2 1.5 (git_regexp_match on a non-match). */
	git_remote_create_options ro;
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = src->repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	int grc = git_remote_create_with_opts(out, src->url, &ro);
	if (grc < 0)
		return set_redacted(KEELSON_EINVALID, "git source %s: %s", src->display_url, git_message());
	grc = git_remote_connect(*out, GIT_DIRECTION_FETCH, &cb, NULL, NULL);
	if (grc < 0)
		return remote_failure(src, "connecting to", grc);
	return 0;
}

/* Ask the remote where the tracked ref points and fetch only if the cache
 * does not already hold exactly that. Leaves the commit in *out_commit. */
static int poll_ref(git_oid *out_commit, struct keelson_git_source *src,
		    struct keelson_git_revision *rev)
{
	git_remote *remote = NULL;
	git_object *peeled = NULL;
	int rc = connect_remote(&remote, src);
	if (rc < 0)
		goto cleanup;

	const git_remote_head **heads = NULL;
	size_t n = 0;
	if (git_remote_ls(&heads, &n, remote) < 0) {
		rc = remote_failure(src, "listing refs of", GIT_ERROR);
		goto cleanup;
	}
	const git_oid *advertised = NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(heads[i]->name, src->remote_ref) == 0)
			advertised = &heads[i]->oid;
	if (!advertised) {
		rc = set_redacted(KEELSON_ENOTFOUND,
			"%s %s not found on %s; check the %s name (last good revision %s stays)",
			src->track == KEELSON_GIT_TRACK_BRANCH ? "branch" : "tag", src->ref,
			src->display_url, src->track == KEELSON_GIT_TRACK_BRANCH ? "branch" : "tag",
			good_or_none(src));
		goto cleanup;
	}

	git_oid local;
	bool have_local = git_reference_name_to_id(&local, src->repo, src->track_ref) == 0;
	if (!have_local || !git_oid_equal(&local, advertised)) {
		char spec[PATH_MAX_BYTES * 2];
		snprintf(spec, sizeof(spec), "+%s:%s", src->remote_ref, src->track_ref);
		const char *specs[] = {spec};
		if ((rc = download(src, remote, specs, 1, rev)) < 0)
			goto cleanup;
	}
	if (git_revparse_single(&peeled, src->repo, src->track_ref) < 0) {
		rc = set_redacted(KEELSON_ERROR, "reading %s from the cache %s: %s", src->track_ref,
				  src->cache_dir, git_message());
		goto cleanup;
	}
	git_object *commit = NULL;
	if (git_object_peel(&commit, peeled, GIT_OBJECT_COMMIT) < 0) {
		rc = set_redacted(KEELSON_EINVALID, "%s %s of %s does not point to a commit: %s",
				  src->track == KEELSON_GIT_TRACK_BRANCH ? "branch" : "tag", src->ref,
				  src->display_url, git_message());
		goto cleanup;
	}
	git_oid_cpy(out_commit, git_object_id(commit));
	git_object_free(commit);
cleanup:
	git_object_free(peeled);
	if (remote) {
		git_remote_disconnect(remote);
		git_remote_free(remote);
	}
	return rc;
}

/* A pinned commit never moves: once it is in the cache, the remote is not
 * contacted again. Servers need not allow fetching an unadvertised id, so
 * fetch every branch and tag and look for it there. */
static int poll_pinned(struct keelson_git_source *src, struct keelson_git_revision *rev)
{
	git_odb *odb = NULL;
	git_remote *remote = NULL;
	int rc = 0;
	if (git_repository_odb(&odb, src->repo) < 0)
		return set_redacted(KEELSON_ERROR, "opening the cache %s: %s", src->cache_dir,
				    git_message());
	if (git_odb_exists(odb, &src->pin))
		goto cleanup;
	if ((rc = connect_remote(&remote, src)) < 0)
		goto cleanup;
	const char *specs[] = {"+refs/heads/*:" PIN_REF_PREFIX "heads/*",
			       "+refs/tags/*:" PIN_REF_PREFIX "tags/*"};
	if ((rc = download(src, remote, specs, 2, rev)) < 0)
		goto cleanup;
	git_odb_refresh(odb);
	if (!git_odb_exists(odb, &src->pin))
		rc = set_redacted(KEELSON_ENOTFOUND,
			"pinned commit %s is not on any branch or tag of %s; check the commit id",
			src->ref, src->display_url);
cleanup:
	if (remote) {
		git_remote_disconnect(remote);
		git_remote_free(remote);
	}
	git_odb_free(odb);
	return rc;
}

/* Apply the signature policy to a commit that is not the accepted one. */
static int check_signature(struct keelson_git_source *src, const git_oid *target, const char *sha)
{
	if (src->signature_policy == KEELSON_GIT_SIGNATURES_NONE ||
	    (src->have_good && strcmp(src->good_sha, sha) == 0))
		return 0;
	if (src->refused_message && strcmp(src->refused_sha, sha) == 0)
		return keelson_error_set(KEELSON_EINVALID, "%s", src->refused_message);
	const char *policy_file;
	int rc;
	if (src->signature_policy == KEELSON_GIT_SIGNATURES_SSH) {
		policy_file = src->allowed_signers_file;
		rc = keelson_git_verify_ssh_signature(src->repo, target, policy_file, src->cache_dir);
	} else {
		policy_file = src->gpg_keyring_file;
		rc = keelson_git_verify_gpg_signature(src->repo, target, policy_file, src->cache_dir);
	}
	if (rc == 0)
		return 0;
	keelson_error_wrap(rc, "commit %s on %s of %s refused (last good revision %s stays; "
			   "push a commit signed by a key in %s)", sha, src->ref, src->display_url,
			   good_or_none(src), policy_file);
	keelson_log(KEELSON_LOG_ERROR, "git commit refused: signature check failed", "url",
		    src->display_url, "ref", src->ref, "commit", sha, "last_good", good_or_none(src),
		    "reason", keelson_error_last()->message, NULL);
	/* Only a verdict about the commit is remembered; a verifier that
	 * could not run is tried again on the next poll. */
	if (rc == KEELSON_EINVALID) {
		free(src->refused_message);
		src->refused_message = strdup(keelson_error_last()->message);
		memcpy(src->refused_sha, sha, sizeof(src->refused_sha));
	}
	return rc;
}

int keelson_git_source_poll(struct keelson_git_revision *out_rev, bool *out_changed,
			    struct keelson_git_source *src)
{
	struct keelson_git_revision rev;
	memset(&rev, 0, sizeof(rev));
	*out_changed = false;
	reset_callback_state(src);
	git_error_clear();

	git_oid target;
	git_commit *commit = NULL;
	int rc;
	if ((rc = keelson_network_deadline_start(&src->deadline, src->timeout_ms, "poll")) < 0)
		goto failed;
	if (src->track == KEELSON_GIT_TRACK_COMMIT) {
		rc = poll_pinned(src, &rev);
		git_oid_cpy(&target, &src->pin);
	} else {
		rc = poll_ref(&target, src, &rev);
	}
	keelson_network_deadline_stop(&src->deadline);
	if (rc < 0)
		goto failed;

	char sha[41];
	git_oid_tostr(sha, sizeof(sha), &target);
	if (git_commit_lookup(&commit, src->repo, &target) < 0) {
		rc = set_redacted(KEELSON_EINVALID, "%s of %s points to %s, which is not a commit: %s",
				  src->ref, src->display_url, sha, git_message());
		goto failed;
	}

	if ((rc = check_signature(src, &target, sha)) < 0)
		goto cleanup;

	fill_revision(&rev, commit);
	if (src->have_good && strcmp(src->good_sha, sha) != 0) {
		git_oid good;
		git_oid_fromstr(&good, src->good_sha);
		if (git_graph_descendant_of(src->repo, &target, &good) != 1) {
			rev.forced = true;
			keelson_log(KEELSON_LOG_WARN,
				    "git ref was rewritten (force-push): taking the new commit",
				    "url", src->display_url, "ref", src->ref, "previous", src->good_sha,
				    "commit", sha, NULL);
		}
	}
	if (!src->have_good || strcmp(src->good_sha, sha) != 0) {
		git_reference *r = NULL;
		if (git_reference_create(&r, src->repo, ACCEPTED_REF, &target, 1,
					 "keelson: accepted") < 0) {
			rc = set_redacted(KEELSON_ERROR, "recording the accepted revision in %s: %s",
					  src->cache_dir, git_message());
			goto cleanup;
		}
		git_reference_free(r);
		memcpy(src->good_sha, sha, sizeof(sha));
		src->have_good = true;
	}
	*out_changed = !src->have_reported || strcmp(src->reported_sha, sha) != 0;
	if (*out_changed)
		keelson_log(KEELSON_LOG_INFO, "git revision", "url", src->display_url, "ref", src->ref,
			    "commit", sha, "subject", rev.subject, "forced", rev.forced ? "true" : "false",
			    NULL);
	memcpy(src->reported_sha, sha, sizeof(sha));
	src->have_reported = true;
	*out_rev = rev;
	rc = 0;
	goto cleanup;
failed:
	keelson_log(KEELSON_LOG_WARN, "git poll failed", "url", src->display_url, "ref", src->ref,
		    "last_good", good_or_none(src), "error", keelson_error_last()->message, NULL);
cleanup:
	git_commit_free(commit);
	return rc;
}

/* ---- files of a commit ----------------------------------------------- */

struct tree_entry {
	char *path;
	git_oid oid;
	enum keelson_file_kind kind;
};

struct tree_source {
	struct keelson_file_source base;
	git_repository *repo;
	git_oid tree_id;
	char *description;
	size_t max_entries;
};

struct walk_state {
	struct tree_entry *items;
	size_t count, cap;
	size_t max_entries;
	int rc;
	const char *description;
};

static bool safe_entry_name(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       strchr(name, '/') == NULL && strchr(name, '\\') == NULL;
}

static int walk_cb(const char *root, const git_tree_entry *entry, void *payload)
{
	struct walk_state *w = payload;
	const char *name = git_tree_entry_name(entry);
	if (!safe_entry_name(name)) {
		/* Git itself never writes such an entry; only a crafted tree
		 * (git mktree, a hostile server) has one. */
		w->rc = keelson_error_set(KEELSON_EINVALID,
			"%s: tree entry \"%s%s\" has an unsafe name (empty, \".\", \"..\" or containing a slash "
			"or backslash) and could name a file outside the repository; the revision is refused: "
			"remove the entry (git rm) or rewrite the commit",
			w->description, root, name);
		return -1;
	}
	/* Checked for trees too, before libgit2 descends into them: a crafted
	 * chain of nested trees must not recurse without bound. */
	size_t len = strlen(root) + strlen(name);
	if (len >= PATH_MAX_BYTES) {
		w->rc = keelson_error_set(KEELSON_ELIMIT,
			"%s: a path is longer than %d bytes (%.120s...); the revision is refused: "
			"nest the directories less deeply", w->description, PATH_MAX_BYTES, root);
		return -1;
	}
	git_filemode_t mode = git_tree_entry_filemode(entry);
	enum keelson_file_kind kind;
	switch (mode) {
	case GIT_FILEMODE_TREE:
		return 0;
	case GIT_FILEMODE_BLOB:
		kind = KEELSON_FILE_REGULAR;
		break;
	case GIT_FILEMODE_BLOB_EXECUTABLE:
		kind = KEELSON_FILE_EXECUTABLE;
		break;
	case GIT_FILEMODE_LINK:
		kind = KEELSON_FILE_SYMLINK;
		break;
	case GIT_FILEMODE_COMMIT: {
		/* A submodule's files live in another repository that keelson
		 * does not fetch: ignoring it would apply a revision without
		 * files its author can see in their checkout, and fetching it
		 * would let the config repository pull content from anywhere. */
		char id[GIT_OID_HEXSZ + 1];
		git_oid_tostr(id, sizeof(id), git_tree_entry_id(entry));
		w->rc = keelson_error_set(KEELSON_EINVALID,
			"%s: %s%s is a Git submodule (commit %.12s of another repository); keelson does not "
			"fetch submodules, so the revision is refused: commit the files themselves instead "
			"(git rm --cached %s%s, then add the files) or remove the submodule",
			w->description, root, name, id, root, name);
		return -1;
	}
	default:
		w->rc = keelson_error_set(KEELSON_EINVALID, "%s: %s%s has unknown file mode %o",
					  w->description, root, name, (unsigned)mode);
		return -1;
	}
	if (w->count >= w->max_entries) {
		w->rc = keelson_error_set(KEELSON_ELIMIT,
			"%s: the tree has more than %zu files (the Git source's limit on tree entries); "
			"the revision is refused and the last good one stays: a configuration repository "
			"that large is a mistake, split it", w->description, w->max_entries);
		return -1;
	}
	if (w->count == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct tree_entry *items = realloc(w->items, cap * sizeof(*items));
		if (!items) {
			w->rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			return -1;
		}
		w->items = items;
		w->cap = cap;
	}
	struct tree_entry *e = &w->items[w->count];
	e->path = malloc(len + 1);
	if (!e->path) {
		w->rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		return -1;
	}
	snprintf(e->path, len + 1, "%s%s", root, name);
	git_oid_cpy(&e->oid, git_tree_entry_id(entry));
	e->kind = kind;
	w->count++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tree_entry *)a)->path, ((const struct tree_entry *)b)->path);
}

/* One visited file whose blob is read on demand; `file` first, so that
 * read() finds the rest from the pointer it is given. */
struct lazy_file {
	struct keelson_file file;
	const struct tree_source *ts;
	git_odb *odb;
	const git_oid *oid;
	size_t max_file_size;
	git_blob *blob;  /* once read */
	size_t size;
	bool too_large;
	bool read_done;
};

static int lazy_read(const struct keelson_file *file, const char **out_data, size_t *out_size,
		     bool *out_too_large)
{
	struct lazy_file *lf = (struct lazy_file *)file;
	if (!lf->read_done) {
		size_t size = 0;
		git_object_t type;
		if (git_odb_read_header(&size, &type, lf->odb, lf->oid) < 0 || type != GIT_OBJECT_BLOB)
			return keelson_error_set(KEELSON_ERROR, "%s: %s: cannot read the blob: %s",
						 lf->ts->description, file->path, git_message());
		lf->size = size;
		lf->too_large = size > lf->max_file_size;
		if (!lf->too_large) {
			if (git_blob_lookup(&lf->blob, lf->ts->repo, lf->oid) < 0)
				return keelson_error_set(KEELSON_ERROR, "%s: %s: cannot read the blob: %s",
							 lf->ts->description, file->path, git_message());
			lf->size = (size_t)git_blob_rawsize(lf->blob);
		}
		lf->read_done = true;
	}
	*out_data = lf->blob ? git_blob_rawcontent(lf->blob) : NULL;
	*out_size = lf->size;
	*out_too_large = lf->too_large;
	return 0;
}

static int tree_walk_files(const struct keelson_file_source *source, size_t max_file_size,
			   keelson_file_visit_fn visit, void *payload, bool lazy)
{
	const struct tree_source *ts = source->impl;
	struct walk_state w = {.description = ts->description, .max_entries = ts->max_entries};
	git_tree *tree = NULL;
	git_odb *odb = NULL;
	int rc = 0;
	if (git_tree_lookup(&tree, ts->repo, &ts->tree_id) < 0 ||
	    git_repository_odb(&odb, ts->repo) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "%s: reading the tree: %s", ts->description,
				       git_message());
		goto cleanup;
	}
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, walk_cb, &w) < 0) {
		rc = w.rc < 0 ? w.rc : keelson_error_set(KEELSON_ERROR, "%s: walking the tree: %s",
							 ts->description, git_message());
		goto cleanup;
	}
	/* Git's own tree order equals bytewise path order for well-formed
	 * trees, but a crafted tree need not be sorted. */
	qsort(w.items, w.count, sizeof(*w.items), entry_cmp);
	/* Nor need its names be unique; a path is yielded once or not at all. */
	for (size_t i = 1; i < w.count; i++) {
		if (strcmp(w.items[i - 1].path, w.items[i].path) == 0) {
			rc = keelson_error_set(KEELSON_EINVALID,
				"%s: the tree has two entries named %s (Git never writes that; the commit was "
				"crafted); the revision is refused: rewrite the commit",
				ts->description, w.items[i].path);
			goto cleanup;
		}
	}
	for (size_t i = 0; i < w.count && rc == 0; i++) {
		struct lazy_file lf = {
			.file = {
				.path = w.items[i].path,
				.kind = w.items[i].kind,
				.object_id = w.items[i].oid.id,
				.object_id_size = GIT_OID_RAWSZ,
				.read = lazy ? lazy_read : NULL,
			},
			.ts = ts, .odb = odb, .oid = &w.items[i].oid, .max_file_size = max_file_size,
		};
		if (!lazy) {
			const char *data;
			if ((rc = lazy_read(&lf.file, &data, &lf.file.size, &lf.file.too_large)) < 0)
				break;
			lf.file.data = data;
		}
		rc = visit(&lf.file, payload);
		git_blob_free(lf.blob);
	}
cleanup:
	for (size_t i = 0; i < w.count; i++)
		free(w.items[i].path);
	free(w.items);
	git_odb_free(odb);
	git_tree_free(tree);
	return rc;
}

static int tree_for_each_file(const struct keelson_file_source *source, size_t max_file_size,
			      keelson_file_visit_fn visit, void *payload)
{
	return tree_walk_files(source, max_file_size, visit, payload, false);
}

static int tree_for_each_file_lazy(const struct keelson_file_source *source, size_t max_file_size,
				   keelson_file_visit_fn visit, void *payload)
{
	return tree_walk_files(source, max_file_size, visit, payload, true);
}

static void tree_source_free(struct keelson_file_source *source)
{
	if (!source)
		return;
	struct tree_source *ts = source->impl;
	git_repository_free(ts->repo);
	free(ts->description);
	free(ts);
	git_libgit2_shutdown();
}

static int lookup_commit_tree(git_tree **out, git_repository *repo, const char *sha,
			      const struct keelson_git_source *src)
{
	git_oid oid;
	git_commit *commit = NULL;
	*out = NULL;
	if (!sha || !is_hex_sha(sha) || git_oid_fromstr(&oid, sha) < 0)
		return keelson_error_set(KEELSON_EINVALID, "\"%s\" is not a full 40-hex commit id",
					 sha ? sha : "(null)");
	if (git_commit_lookup(&commit, repo, &oid) < 0)
		return set_redacted(KEELSON_ENOTFOUND,
			"commit %s is not in the cache of %s; poll the source first", sha,
			src->display_url);
	int rc = git_commit_tree(out, commit) < 0
		 ? keelson_error_set(KEELSON_ERROR, "reading the tree of %s: %s", sha, git_message())
		 : 0;
	git_commit_free(commit);
	return rc;
}

int keelson_git_commit_files(struct keelson_file_source **out, const char *repository_path,
			     const char *sha, const char *display, size_t max_tree_entries)
{
	*out = NULL;
	git_oid oid;
	if (!sha || !is_hex_sha(sha) || git_oid_fromstr(&oid, sha) < 0)
		return keelson_error_set(KEELSON_EINVALID, "\"%s\" is not a full 40-hex commit id",
					 sha ? sha : "(null)");
	git_libgit2_init();
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	int rc = 0;
	struct tree_source *ts = calloc(1, sizeof(*ts));
	if (!ts) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	ts->max_entries = max_tree_entries ? max_tree_entries : KEELSON_GIT_DEFAULT_MAX_TREE_ENTRIES;
	size_t len = strlen(display) + 1 + 12 + 1;
	ts->description = malloc(len);
	if (!ts->description) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	snprintf(ts->description, len, "%s@%.12s", display, sha);
	/* Its own handle: the file source may outlive whoever made it. */
	if (git_repository_open(&ts->repo, repository_path) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "opening the Git repository %s: %s", repository_path,
				       git_message());
		goto cleanup;
	}
	if (git_commit_lookup(&commit, ts->repo, &oid) < 0) {
		rc = set_redacted(KEELSON_ENOTFOUND, "commit %s is not in %s (%s); fetch it first", sha,
				  display, git_message());
		goto cleanup;
	}
	if (git_commit_tree(&tree, commit) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "reading the tree of %s: %s", sha, git_message());
		goto cleanup;
	}
	git_oid_cpy(&ts->tree_id, git_tree_id(tree));
	ts->base.version = KEELSON_FILE_SOURCE_VERSION;
	ts->base.description = ts->description;
	ts->base.for_each_file = tree_for_each_file;
	ts->base.for_each_file_lazy = tree_for_each_file_lazy;
	ts->base.free = tree_source_free;
	ts->base.impl = ts;
	*out = &ts->base;
	ts = NULL;
cleanup:
	git_tree_free(tree);
	git_commit_free(commit);
	if (ts)
		tree_source_free(&ts->base); /* also balances git_libgit2_init */
	else if (rc < 0)
		git_libgit2_shutdown();
	return rc;
}

int keelson_git_source_files(struct keelson_file_source **out, struct keelson_git_source *src,
			     const char *sha)
{
	*out = NULL;
	git_tree *tree = NULL;
	/* Checked on the source's own handle first, for its message. */
	int rc = lookup_commit_tree(&tree, src->repo, sha, src);
	git_tree_free(tree);
	if (rc < 0)
		return rc;
	return keelson_git_commit_files(out, src->cache_dir, sha, src->display_url, src->max_tree_entries);
}

int keelson_git_source_read_file(char **out_data, size_t *out_size, enum keelson_file_kind *out_kind,
				 struct keelson_git_source *src, const char *sha, const char *path,
				 size_t max_file_size)
{
	*out_data = NULL;
	*out_size = 0;
	git_tree *tree = NULL;
	git_tree_entry *entry = NULL;
	git_odb *odb = NULL;
	git_blob *blob = NULL;
	int rc = lookup_commit_tree(&tree, src->repo, sha, src);
	if (rc < 0)
		return rc;
	if (!path || !*path || path[0] == '/') {
		rc = keelson_error_set(KEELSON_EINVALID, "\"%s\" is not a repository-relative path",
				       path ? path : "(null)");
		goto cleanup;
	}
	if (git_tree_entry_bypath(&entry, tree, path) < 0) {
		rc = set_redacted(KEELSON_ENOTFOUND, "%s@%.12s: %s does not exist", src->display_url,
				  sha, path);
		goto cleanup;
	}
	switch (git_tree_entry_filemode(entry)) {
	case GIT_FILEMODE_BLOB:
		*out_kind = KEELSON_FILE_REGULAR;
		break;
	case GIT_FILEMODE_BLOB_EXECUTABLE:
		*out_kind = KEELSON_FILE_EXECUTABLE;
		break;
	case GIT_FILEMODE_LINK:
		*out_kind = KEELSON_FILE_SYMLINK;
		break;
	default:
		rc = set_redacted(KEELSON_ENOTFOUND, "%s@%.12s: %s is not a file", src->display_url,
				  sha, path);
		goto cleanup;
	}
	size_t size = 0;
	git_object_t type;
	if (git_repository_odb(&odb, src->repo) < 0 ||
	    git_odb_read_header(&size, &type, odb, git_tree_entry_id(entry)) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "%s: cannot read the blob: %s", path, git_message());
		goto cleanup;
	}
	if (size > max_file_size) {
		rc = set_redacted(KEELSON_ELIMIT,
			"%s@%.12s: %s is %zu bytes, over the limit of %zu bytes; make the file smaller "
			"or raise the limit", src->display_url, sha, path, size, max_file_size);
		goto cleanup;
	}
	if (git_blob_lookup(&blob, src->repo, git_tree_entry_id(entry)) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "%s: cannot read the blob: %s", path, git_message());
		goto cleanup;
	}
	size = (size_t)git_blob_rawsize(blob);
	*out_data = malloc(size + 1);
	if (!*out_data) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory reading %s", path);
		goto cleanup;
	}
	memcpy(*out_data, git_blob_rawcontent(blob), size);
	(*out_data)[size] = '\0';
	*out_size = size;
cleanup:
	git_blob_free(blob);
	git_odb_free(odb);
	git_tree_entry_free(entry);
	git_tree_free(tree);
	return rc;
}

/* ---- changed paths ---------------------------------------------------- */

static int change_cmp(const void *a, const void *b)
{
	return strcmp(((const struct keelson_git_change *)a)->path,
		      ((const struct keelson_git_change *)b)->path);
}

int keelson_git_changed_paths(struct keelson_git_changes *out, struct keelson_git_source *src,
			      const char *old_sha, const char *new_sha)
{
	out->items = NULL;
	out->count = 0;
	git_tree *old_tree = NULL, *new_tree = NULL;
	git_diff *diff = NULL;
	int rc = 0;
	if (old_sha && (rc = lookup_commit_tree(&old_tree, src->repo, old_sha, src)) < 0)
		goto cleanup;
	if ((rc = lookup_commit_tree(&new_tree, src->repo, new_sha, src)) < 0)
		goto cleanup;
	git_diff_options opts;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.flags = GIT_DIFF_INCLUDE_TYPECHANGE;
	if (git_diff_tree_to_tree(&diff, src->repo, old_tree, new_tree, &opts) < 0) {
		rc = keelson_error_set(KEELSON_ERROR, "diffing %s..%s of %s: %s",
				       old_sha ? old_sha : "(empty)", new_sha, src->display_url,
				       git_message());
		goto cleanup;
	}
	size_t n = git_diff_num_deltas(diff);
	if (n == 0)
		goto cleanup;
	out->items = calloc(n, sizeof(*out->items));
	if (!out->items) {
		rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		struct keelson_git_change *c = &out->items[out->count];
		const char *path = d->new_file.path;
		switch (d->status) {
		case GIT_DELTA_ADDED:
			c->kind = KEELSON_GIT_CHANGE_ADDED;
			break;
		case GIT_DELTA_DELETED:
			c->kind = KEELSON_GIT_CHANGE_DELETED;
			path = d->old_file.path;
			break;
		case GIT_DELTA_TYPECHANGE:
			c->kind = KEELSON_GIT_CHANGE_TYPECHANGE;
			break;
		default:
			c->kind = KEELSON_GIT_CHANGE_MODIFIED;
			break;
		}
		c->path = strdup(path);
		if (!c->path) {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
			goto cleanup;
		}
		out->count++;
	}
	qsort(out->items, out->count, sizeof(*out->items), change_cmp);
cleanup:
	git_diff_free(diff);
	git_tree_free(old_tree);
	git_tree_free(new_tree);
	if (rc < 0)
		keelson_git_changes_free(out);
	return rc;
}

void keelson_git_changes_free(struct keelson_git_changes *changes)
{
	if (!changes)
		return;
	for (size_t i = 0; i < changes->count; i++)
		free(changes->items[i].path);
	free(changes->items);
	changes->items = NULL;
	changes->count = 0;
}
