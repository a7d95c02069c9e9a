/* keelson's configuration file: defaults, every key, unknown keys and bad
 * values refused with file:line:column. */
#include "config.h"

#include "config/config.h"
#include "core/error.h"
#include "git/git_source.h"
#include "tests/unit/check_main.h"

#include <stdio.h>
#include <string.h>

static struct keelson_config *load(const char *text, int *rc)
{
	struct keelson_config *cfg = NULL;
	*rc = keelson_config_load_buffer(&cfg, text, strlen(text), "keelson.yaml");
	return cfg;
}

START_TEST(test_load_full_and_defaults)
{
	int rc;
	struct keelson_config *cfg = load("git:\n"
					  "  url: file:///srv/config.git\n"
					  "  cacheDir: /var/lib/keelson\n"
					  "  pollInterval: 1m30s\n"
					  "  track: tag\n"
					  "  tokenFile: /etc/keelson/token\n"
					  "clusters:\n"
					  "  - name: prod\n"
					  "    kubeconfig: /etc/kc\n"
					  "    context: admin\n"
					  "  - name: staging\n"
					  "kubernetes:\n"
					  "  qps: 20\n"
					  "  burst: 40\n"
					  "retry:\n"
					  "  maxBackoff: 1m\n"
					  "inventoryNamespace: ops\n"
					  "pluginDir: /opt/keelson/plugins\n"
					  "alerts:\n"
					  "  alertmanagerUrl: http://127.0.0.1:9093\n"
					  "  webhookSecretEnv: HOOK_SECRET\n"
					  "  repeatInterval: 10m\n",
					  &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(cfg->git_url, "file:///srv/config.git");
	ck_assert_str_eq(cfg->git_ref, "main");
	ck_assert_int_eq(cfg->git_track, KEELSON_GIT_TRACK_TAG);
	ck_assert_uint_eq(cfg->poll_interval_ms, 90000);
	ck_assert_str_eq(cfg->git_token_file, "/etc/keelson/token");
	ck_assert_uint_eq(cfg->cluster_count, 2);
	ck_assert_str_eq(keelson_config_cluster(cfg, "prod")->context, "admin");
	ck_assert_ptr_null(keelson_config_cluster(cfg, "staging")->kubeconfig);
	ck_assert_ptr_null(keelson_config_cluster(cfg, "nope"));
	ck_assert(cfg->kube_qps == 20.0);
	ck_assert_uint_eq(cfg->kube_burst, 40);
	ck_assert_uint_eq(cfg->kube_timeout_ms, 30000);
	ck_assert_uint_eq(cfg->retry_initial_ms, 1000);
	ck_assert_uint_eq(cfg->retry_max_ms, 60000);
	ck_assert_str_eq(cfg->inventory_namespace, "ops");
	ck_assert_str_eq(cfg->plugin_dir, "/opt/keelson/plugins");
	ck_assert_str_eq(cfg->alerts_alertmanager_url, "http://127.0.0.1:9093");
	ck_assert_ptr_null(cfg->alerts_webhook_url);
	ck_assert_str_eq(cfg->alerts_webhook_secret_env, "HOOK_SECRET");
	ck_assert_uint_eq(cfg->alerts_repeat_interval_ms, 600000);
	ck_assert_uint_eq(cfg->crd_established_timeout_ms, 60000);
	keelson_config_free(cfg);
}
END_TEST

START_TEST(test_load_rejects)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{"git:\n  url: x\n  cacheDir: /c\n  pollIntreval: 1m\nclusters: [{name: a}]\n",
		 "keelson.yaml:4:3: unknown key \"pollIntreval\" in git"},
		{"git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a}]\nfoo: 1\n",
		 "keelson.yaml:5:1: unknown key \"foo\" at the top level"},
		{"git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a, contxt: b}]\n",
		 "unknown key \"contxt\" in clusters[]"},
		{"git:\n  url: x\n  cacheDir: /c\n  pollInterval: 5 minutes\nclusters: [{name: a}]\n",
		 "keelson.yaml:4:17: git.pollInterval: malformed duration"},
		{"git:\n  cacheDir: /c\nclusters: [{name: a}]\n", "git.url is required"},
		{"git:\n  url: x\nclusters: [{name: a}]\n", "git.cacheDir is required"},
		{"git:\n  url: x\n  cacheDir: /c\n", "clusters is required"},
		{"git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a}, {name: a}]\n", "cluster \"a\" is listed twice"},
		{"git:\n  url: x\n  cacheDir: /c\n  track: trunk\nclusters: [{name: a}]\n",
		 "git.track must be branch, tag or commit"},
		{"git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a}]\nkubernetes: {burst: -1}\n",
		 "kubernetes.burst must be a whole number"},
		{"git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a}]\npluginDir: [a]\n",
		 "keelson.yaml:5:12: pluginDir"},
		{"git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a}]\nalerts:\n  webhookURL: http://h\n",
		 "keelson.yaml:6:3: unknown key \"webhookURL\" in alerts"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		struct keelson_config *cfg = load(cases[i].text, &rc);
		ck_assert_msg(rc == KEELSON_EINVALID, "case %zu: rc %d", i, rc);
		ck_assert_ptr_null(cfg);
		ck_assert_msg(strstr(keelson_error_last()->message, cases[i].message) != NULL,
			      "case %zu: message \"%s\" lacks \"%s\"", i, keelson_error_last()->message,
			      cases[i].message);
	}
}
END_TEST

START_TEST(test_load_http_status_forge)
{
	int rc;
	struct keelson_config *cfg = load("git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a}]\n", &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert(!cfg->http_enabled);
	ck_assert(!cfg->status_enabled);
	ck_assert_str_eq(cfg->http_address, "0.0.0.0");
	ck_assert_uint_eq(cfg->http_port, 8080);
	keelson_config_free(cfg);

	cfg = load("git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a}]\nhttp: {}\nstatus:\n", &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert(cfg->http_enabled);
	ck_assert(cfg->status_enabled);
	ck_assert_ptr_null(cfg->status_branch);
	ck_assert_uint_eq(cfg->http_port, 8080);
	keelson_config_free(cfg);

	cfg = load("git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a}]\n"
		   "http:\n  listen: \"[::1]:0\"\n  maxBodyBytes: 65536\n  githubSecretFile: /s/gh\n"
		   "  gitlabTokenFile: /s/gl\n  genericSecretFile: /s/gen\n  genericHeader: X-Sig\n"
		   "status:\n  branch: ops/status\n  interval: 5s\n  authorName: bot\n  authorEmail: bot@x\n"
		   "  instance: k-0\n  history: 7\n  cacheDir: /c/status\n"
		   "forge:\n  apiUrl: http://127.0.0.1:1\n  repository: o/r\n  tokenFile: /s/t\n  timeout: 2s\n"
		   "alerts:\n  webhookUrl: http://h\n  webhookSecretFile: /s/w\n",
		   &rc);
	ck_assert_msg(rc == 0, "%s", keelson_error_last()->message);
	ck_assert_str_eq(cfg->http_address, "::1");
	ck_assert_uint_eq(cfg->http_port, 0);
	ck_assert_uint_eq(cfg->http_max_body_bytes, 65536);
	ck_assert_str_eq(cfg->http_github_secret_file, "/s/gh");
	ck_assert_str_eq(cfg->http_gitlab_token_file, "/s/gl");
	ck_assert_str_eq(cfg->http_generic_secret_file, "/s/gen");
	ck_assert_str_eq(cfg->http_generic_header, "X-Sig");
	ck_assert_str_eq(cfg->status_branch, "ops/status");
	ck_assert_uint_eq(cfg->status_interval_ms, 5000);
	ck_assert_str_eq(cfg->status_author_name, "bot");
	ck_assert_str_eq(cfg->status_author_email, "bot@x");
	ck_assert_str_eq(cfg->status_instance, "k-0");
	ck_assert_uint_eq(cfg->status_history, 7);
	ck_assert_str_eq(cfg->status_cache_dir, "/c/status");
	ck_assert_str_eq(cfg->forge_repository, "o/r");
	ck_assert_uint_eq(cfg->forge_timeout_ms, 2000);
	ck_assert_str_eq(cfg->alerts_webhook_secret_file, "/s/w");
	keelson_config_free(cfg);

	static const struct {
		const char *text, *message;
	} bad[] = {
		{"http:\n  listen: localhost:8080\n", "keelson.yaml:6:11: http.listen must be ADDRESS:PORT"},
		{"http:\n  listen: 127.0.0.1:70000\n", "http.listen must be ADDRESS:PORT"},
		{"http:\n  listen: 8080\n", "http.listen must be ADDRESS:PORT"},
		{"http:\n  maxBodyBytes: 10\n", "http.maxBodyBytes must be a whole number of bytes"},
		{"http:\n  githubSecret: x\n", "unknown key \"githubSecret\" in http"},
		{"status:\n  branch: main\n", "status.branch \"main\" is the branch keelson reads"},
		{"forge:\n  apiUrl: http://f\n  repository: o/r\n  tokenFile: /t\n", "forge needs a status section"},
		{"status: {}\nforge:\n  apiUrl: http://f\n  repository: or\n  tokenFile: /t\n",
		 "forge.repository must be owner/repo"},
		{"status: {}\nforge:\n  apiUrl: http://f\n", "forge needs apiUrl, repository"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "git:\n  url: x\n  cacheDir: /c\nclusters: [{name: a}]\n%s", bad[i].text);
		cfg = load(text, &rc);
		ck_assert_msg(rc == KEELSON_EINVALID, "case %zu: rc %d", i, rc);
		ck_assert_ptr_null(cfg);
		ck_assert_msg(strstr(keelson_error_last()->message, bad[i].message) != NULL,
			      "case %zu: message \"%s\" lacks \"%s\"", i, keelson_error_last()->message, bad[i].message);
	}
}
END_TEST

START_TEST(test_parse_duration)
{
	unsigned long long ms = 0;
	ck_assert_int_eq(keelson_config_parse_duration(&ms, "1h30m"), 0);
	ck_assert_uint_eq(ms, 5400000);
	ck_assert_int_eq(keelson_config_parse_duration(&ms, "2m500ms"), 0);
	ck_assert_uint_eq(ms, 120500);
	ck_assert_int_eq(keelson_config_parse_duration(&ms, "45s"), 0);
	ck_assert_uint_eq(ms, 45000);
	ck_assert_int_eq(keelson_config_parse_duration(&ms, "5s1m"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_config_parse_duration(&ms, "0s"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_config_parse_duration(&ms, "10"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_config_parse_duration(&ms, ""), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_config_parse_duration(&ms, "1d"), KEELSON_EINVALID);
}
END_TEST

START_TEST(test_load_missing_file)
{
	struct keelson_config *cfg = NULL;
	ck_assert_int_eq(keelson_config_load(&cfg, "/nonexistent/keelson.yaml"), KEELSON_ENOTFOUND);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "/nonexistent/keelson.yaml"));
}
END_TEST

static Suite *suite_config(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("keelson_config_load_buffer");
	tcase_add_test(tc, test_load_full_and_defaults);
	tcase_add_test(tc, test_load_rejects);
	tcase_add_test(tc, test_load_http_status_forge);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_config_parse_duration");
	tcase_add_test(tc, test_parse_duration);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_config_load");
	tcase_add_test(tc, test_load_missing_file);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_config)
