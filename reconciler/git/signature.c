#include "config.h"

#include "git/signature.h"

#include "core/error.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gpgme.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SSH_SIG_HEADER "-----BEGIN SSH SIGNATURE-----"
#define PGP_SIG_HEADER "-----BEGIN PGP SIGNATURE-----"
/* A keyring of a few team keys is kilobytes; refuse anything absurd. */
#define KEYRING_MAX_BYTES (4 * 1024 * 1024)
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

/* Extract the signature and signed payload of a commit; refuse unsigned
 * commits and signatures of the wrong kind. */
static int extract(git_buf *sig, git_buf *data, git_repository *repo, const git_oid *id,
		   const char *sha, const char *header, const char *kind, const char *other)
{
	int grc = git_commit_extract_signature(sig, data, repo, (git_oid *)id, NULL);
	if (grc == GIT_ENOTFOUND)
		return keelson_error_set(KEELSON_EINVALID, "commit %s is not signed", sha);
	if (grc < 0) {
		const git_error *e = git_error_last();
		return keelson_error_set(KEELSON_EINVALID, "reading the signature of commit %s: %s", sha,
					 e && e->message ? e->message : "unknown error");
	}
	if (sig->size < strlen(header) || strncmp(sig->ptr, header, strlen(header)) != 0)
		return keelson_error_set(KEELSON_EINVALID,
			"commit %s carries a signature that is not an %s signature (%s?); only %s "
			"signatures are accepted", sha, kind, other, kind);
	return 0;
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

	if ((rc = extract(&sig, &data, repo, id, sha, SSH_SIG_HEADER, "SSH", "GPG")) < 0)
		goto cleanup;
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

/* ---- OpenPGP through gpgme ------------------------------------------- */

static pthread_once_t gpgme_once = PTHREAD_ONCE_INIT;

static void gpgme_start(void)
{
	gpgme_check_version(NULL);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int keelson_git_verify_gpg_signature(git_repository *repo, const git_oid *id,
				     const char *keyring_file, const char *scratch_dir)
{
	git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t keys = NULL, sig_data = NULL, signed_data = NULL;
	char home[4096] = "";
	char sha[41];
	int rc;
	git_oid_tostr(sha, sizeof(sha), id);
	pthread_once(&gpgme_once, gpgme_start);

	if ((rc = extract(&sig, &data, repo, id, sha, PGP_SIG_HEADER, "OpenPGP", "SSH")) < 0)
		goto cleanup;
	struct stat st;
	if (stat(keyring_file, &st) != 0) {
		rc = keelson_error_set(KEELSON_EINVALID, "cannot read the GPG keyring %s: %s",
				       keyring_file, strerror(errno));
		goto cleanup;
	}
	if (st.st_size > KEYRING_MAX_BYTES) {
		rc = keelson_error_set(KEELSON_ELIMIT, "the GPG keyring %s is over %d bytes",
				       keyring_file, KEYRING_MAX_BYTES);
		goto cleanup;
	}
	/* A fresh home holding only the configured keys: nothing from the
	 * host's keyrings or trust settings takes part. */
	snprintf(home, sizeof(home), "%s/keelson-gnupg-XXXXXX", scratch_dir);
	if (!mkdtemp(home)) {
		home[0] = '\0';
		rc = keelson_error_set(KEELSON_ERROR, "cannot create a GnuPG home in %s: %s",
				       scratch_dir, strerror(errno));
		goto cleanup;
	}
	gpgme_error_t err;
	if ((err = gpgme_new(&ctx)) != 0 ||
	    (err = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP)) != 0 ||
	    (err = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home)) != 0) {
		rc = keelson_error_set(KEELSON_ERROR,
			"cannot start GnuPG through gpgme: %s; install gpg (Debian package gnupg)",
			gpgme_strerror(err));
		goto cleanup;
	}
	if ((err = gpgme_data_new_from_file(&keys, keyring_file, 1)) != 0 ||
	    (err = gpgme_op_import(ctx, keys)) != 0) {
		rc = keelson_error_set(KEELSON_EINVALID, "importing the GPG keyring %s: %s",
				       keyring_file, gpgme_strerror(err));
		goto cleanup;
	}
	gpgme_import_result_t imported = gpgme_op_import_result(ctx);
	if (!imported || imported->imported + imported->unchanged == 0) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"the GPG keyring %s holds no public key; export the allowed keys with "
			"`gpg --export --armor KEYID > %s`", keyring_file, keyring_file);
		goto cleanup;
	}
	if ((err = gpgme_data_new_from_mem(&sig_data, sig.ptr, sig.size, 0)) != 0 ||
	    (err = gpgme_data_new_from_mem(&signed_data, data.ptr, data.size, 0)) != 0) {
		rc = keelson_error_set(KEELSON_ENOMEM, "gpgme: %s", gpgme_strerror(err));
		goto cleanup;
	}
	err = gpgme_op_verify(ctx, sig_data, signed_data, NULL);
	gpgme_verify_result_t vr = err == 0 ? gpgme_op_verify_result(ctx) : NULL;
	if (!vr || !vr->signatures) {
		rc = keelson_error_set(KEELSON_EINVALID, "the OpenPGP signature of commit %s does not "
				       "parse: %s", sha, gpgme_strerror(err));
		goto cleanup;
	}
	/* Only keys from the keyring are known, so a cryptographically good
	 * signature is one by an allowed key; expiry and revocation come back
	 * as a status other than success. */
	rc = keelson_error_set(KEELSON_EINVALID, "commit %s has no good signature", sha);
	for (gpgme_signature_t s = vr->signatures; s; s = s->next) {
		if (gpgme_err_code(s->status) == GPG_ERR_NO_ERROR) {
			keelson_log(KEELSON_LOG_DEBUG, "git commit signature verified", "commit", sha,
				    "signer", s->fpr ? s->fpr : "", NULL);
			rc = 0;
			break;
		}
		if (gpgme_err_code(s->status) == GPG_ERR_NO_PUBKEY)
			rc = keelson_error_set(KEELSON_EINVALID,
				"commit %s is signed by key %s, which is not in %s", sha,
				s->fpr ? s->fpr : "(unknown)", keyring_file);
		else
			rc = keelson_error_set(KEELSON_EINVALID,
				"the signature of commit %s by key %s does not verify: %s", sha,
				s->fpr ? s->fpr : "(unknown)", gpgme_strerror(s->status));
	}
	if (rc == 0)
		keelson_error_clear();
cleanup:
	gpgme_data_release(keys);
	gpgme_data_release(sig_data);
	gpgme_data_release(signed_data);
	gpgme_release(ctx);
	if (home[0])
		remove_tree(home);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return rc;
}
