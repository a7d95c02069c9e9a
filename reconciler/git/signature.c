#include "config.h"

#include "git/signature.h"

#include "core/error.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SSH_SIG_HEADER "-----BEGIN SSH SIGNATURE-----"
/* ssh-keygen says a line or two; anything beyond is dropped. */
#define TOOL_OUTPUT_MAX 2048

static int write_temp(char *out_path, size_t cap, const char *dir, const char *data, size_t len)
{
	snprintf(out_path, cap, "%s/keelson-sig-XXXXXX", dir);
	int fd = mkstemp(out_path);
	if (fd < 0)
		return keelson_error_set(KEELSON_ERROR, "cannot create a scratch file in %s: %s", dir,
					 strerror(errno));
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;
			close(fd);
			unlink(out_path);
			out_path[0] = '\0';
			return keelson_error_set(KEELSON_ERROR, "cannot write the scratch file in %s: %s",
						 dir, strerror(e));
		}
		off += (size_t)n;
	}
	close(fd);
	return 0;
}

/* Run argv with stdin from `stdin_path` (or /dev/null); collect stdout and
 * stderr into out (NUL-terminated, truncated). Returns the exit status, or
 * a negative keelson code when the tool could not be run. */
static int run_tool(char *const argv[], const char *stdin_path, char *out, size_t cap)
{
	int pipefd[2];
	out[0] = '\0';
	if (pipe(pipefd) < 0)
		return keelson_error_set(KEELSON_ERROR, "pipe: %s", strerror(errno));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, stdin_path ? stdin_path : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawn_file_actions_addclose(&fa, pipefd[0]);
	posix_spawn_file_actions_addclose(&fa, pipefd[1]);
	pid_t pid;
	int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (err != 0) {
		close(pipefd[0]);
		return keelson_error_set(KEELSON_ERROR,
			"cannot run %s: %s; install OpenSSH's ssh-keygen (Debian package openssh-client)",
			argv[0], strerror(err));
	}
	size_t len = 0;
	char buf[512];
	for (;;) {
		ssize_t n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t take = (size_t)n;
		if (len + take > cap - 1)
			take = cap - 1 - len;
		memcpy(out + len, buf, take);
		len += take;
	}
	out[len] = '\0';
	close(pipefd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return keelson_error_set(KEELSON_ERROR, "waiting for %s: %s", argv[0],
						 strerror(errno));
	}
	if (!WIFEXITED(status))
		return keelson_error_set(KEELSON_ERROR, "%s was killed by signal %d", argv[0],
					 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

int keelson_git_verify_ssh_signature(git_repository *repo, const git_oid *id,
				     const char *allowed_signers, const char *scratch_dir)
{
	git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
	char sig_path[4096] = "", data_path[4096] = "";
	char output[TOOL_OUTPUT_MAX];
	char sha[41];
	int rc = 0;
	git_oid_tostr(sha, sizeof(sha), id);

	int grc = git_commit_extract_signature(&sig, &data, repo, (git_oid *)id, NULL);
	if (grc == GIT_ENOTFOUND) {
		rc = keelson_error_set(KEELSON_EINVALID, "commit %s is not signed", sha);
		goto cleanup;
	}
	if (grc < 0) {
		const git_error *e = git_error_last();
		rc = keelson_error_set(KEELSON_EINVALID, "reading the signature of commit %s: %s", sha,
				       e && e->message ? e->message : "unknown error");
		goto cleanup;
	}
	if (sig.size < strlen(SSH_SIG_HEADER) ||
	    strncmp(sig.ptr, SSH_SIG_HEADER, strlen(SSH_SIG_HEADER)) != 0) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"commit %s carries a signature that is not an SSH signature (GPG?); "
			"only SSH signatures are accepted", sha);
		goto cleanup;
	}
	if ((rc = write_temp(sig_path, sizeof(sig_path), scratch_dir, sig.ptr, sig.size)) < 0 ||
	    (rc = write_temp(data_path, sizeof(data_path), scratch_dir, data.ptr, data.size)) < 0)
		goto cleanup;

	char *find_argv[] = {"ssh-keygen", "-Y", "find-principals", "-s", sig_path,
			     "-f", (char *)allowed_signers, NULL};
	int status = run_tool(find_argv, NULL, output, sizeof(output));
	if (status < 0) {
		rc = status;
		goto cleanup;
	}
	chomp(output);
	if (status != 0 || output[0] == '\0') {
		rc = keelson_error_set(KEELSON_EINVALID,
			"commit %s is signed by a key that is not in %s (ssh-keygen: %s)", sha,
			allowed_signers, output[0] ? output : "no principal matched");
		goto cleanup;
	}
	/* Several principals may share a key; any of them verifies it. */
	char principal[256];
	snprintf(principal, sizeof(principal), "%.*s", (int)strcspn(output, "\n"), output);

	char *verify_argv[] = {"ssh-keygen", "-Y", "verify", "-f", (char *)allowed_signers,
			       "-I", principal, "-n", "git", "-s", sig_path, NULL};
	status = run_tool(verify_argv, data_path, output, sizeof(output));
	if (status < 0) {
		rc = status;
		goto cleanup;
	}
	chomp(output);
	if (status != 0) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"the signature of commit %s by %s does not verify (ssh-keygen: %s)", sha,
			principal, output);
		goto cleanup;
	}
	keelson_log(KEELSON_LOG_DEBUG, "git commit signature verified", "commit", sha,
		    "signer", principal, NULL);
cleanup:
	if (sig_path[0])
		unlink(sig_path);
	if (data_path[0])
		unlink(data_path);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return rc;
}
