#include "config.h"

#include "tests/lib/kubesim_harness.h"

#include "core/error.h"
#include "kube/kube_config.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_MS 120000

static pid_t kubesim_pid = -1;
static char binary[1024];
static char dir[256];
static char kubeconfig_path[300];
static char log_path[300];

bool kubesim_harness_find(void)
{
	const char *builddir = getenv("top_builddir");
	const char *candidates[] = {"kubesim", "tests/kubesim/kubesim"};
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		snprintf(binary, sizeof(binary), "%s/%s", builddir ? builddir : ".", candidates[i]);
		if (access(binary, X_OK) == 0)
			return true;
	}
	return false;
}

const char *kubesim_harness_binary(void)
{
	return binary;
}

const char *kubesim_harness_kubeconfig(void)
{
	return kubeconfig_path;
}

/* The end of kubesim's stderr, for the message of a failed start. */
static void read_log_tail(char *out, size_t size)
{
	out[0] = '\0';
	FILE *f = fopen(log_path, "r");
	if (f == NULL)
		return;
	if (fseek(f, 0, SEEK_END) == 0) {
		long end = ftell(f);
		if (end > (long)size - 1)
			fseek(f, end - (long)size + 1, SEEK_SET);
		else
			rewind(f);
	}
	size_t n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	fclose(f);
}

void kubesim_harness_start(void)
{
	int out[2];

	ck_assert_msg(kubesim_harness_find(), "%s is not built (make kubesim)", binary);
	snprintf(dir, sizeof(dir), "/tmp/keelson-kubesim-XXXXXX");
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s failed", dir);
	snprintf(kubeconfig_path, sizeof(kubeconfig_path), "%s/kubeconfig", dir);
	snprintf(log_path, sizeof(log_path), "%s/kubesim.log", dir);
	ck_assert_int_eq(pipe(out), 0);
	kubesim_pid = fork();
	ck_assert_int_ge(kubesim_pid, 0);
	if (kubesim_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
		int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (log >= 0)
			dup2(log, STDERR_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execl(binary, binary, "--listen", "127.0.0.1:0", "--kubeconfig-out", kubeconfig_path, "--log-level",
		      "error", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	/* Started once stdout has a whole "kubesim listening on URL" line (the
	 * kubeconfig is written before it). */
	char buf[512];
	size_t len = 0;
	bool ready = false, exited = false;
	while (!ready && len < sizeof(buf) - 1) {
		struct pollfd p = {out[0], POLLIN, 0};
		if (poll(&p, 1, START_TIMEOUT_MS) <= 0)
			break;
		ssize_t n = read(out[0], buf + len, sizeof(buf) - 1 - len);
		if (n <= 0) {
			exited = n == 0;
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		const char *line = strstr(buf, "listening on");
		ready = line != NULL && strchr(line, '\n') != NULL;
	}
	buf[len] = '\0';
	close(out[0]);
	if (!ready) {
		/* Check runs no teardown after a failed unchecked setup: clean up
		 * here, after reading what kubesim said. */
		char tail[1024];
		read_log_tail(tail, sizeof(tail));
		kubesim_harness_stop();
		ck_abort_msg("kubesim (%s) %s; stdout: %s; stderr: %s", binary,
			     exited ? "exited before listening" : "did not listen within 120 s", buf, tail);
	}
}

void kubesim_harness_stop(void)
{
	if (kubesim_pid > 0) {
		kill(kubesim_pid, SIGTERM);
		waitpid(kubesim_pid, NULL, 0);
		kubesim_pid = -1;
	}
	if (dir[0] != '\0') {
		unlink(kubeconfig_path);
		unlink(log_path);
		rmdir(dir);
		dir[0] = '\0';
	}
}

struct keelson_kube_client *kubesim_harness_client(const struct keelson_kube_client_options *options)
{
	struct keelson_kube_config *cfg = NULL;
	struct keelson_kube_client *client = NULL;
	ck_assert_msg(keelson_kube_config_load_file(&cfg, kubeconfig_path, NULL) == 0, "loading %s: %s", kubeconfig_path,
		      keelson_error_last()->message);
	int rc = keelson_kube_client_new(&client, cfg, options);
	keelson_kube_config_free(cfg);
	ck_assert_msg(rc == 0, "a client of kubesim: %s", keelson_error_last()->message);
	return client;
}

int kubesim_harness_main(Suite *(*make_suite)(void))
{
	if (!kubesim_harness_find()) {
		fprintf(stderr, "kubesim not built (looked for %s): skipping\n", binary);
		return 77;
	}
	SRunner *runner = srunner_create(make_suite());
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
