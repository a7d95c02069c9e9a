#include "config.h"

#include "core/error.h"
#include "kube/kube_config.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "-----BEGIN CERTIFICATE-----\nabc\n" and "key-bytes" in base64. */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmFiYwo="
#define CA_TEXT "-----BEGIN CERTIFICATE-----\nabc\n"
#define KEY_B64 "a2V5LWJ5dGVz"

static const char kubeconfig[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: dev\n"
	"clusters:\n"
	"- name: dev-cluster\n"
	"  cluster:\n"
	"    server: https://127.0.0.1:6443/\n"
	"    certificate-authority-data: " CA_B64 "\n"
	"- name: prod-cluster\n"
	"  cluster:\n"
	"    server: https://prod.example:443\n"
	"    certificate-authority: certs/ca.pem\n"
	"    tls-server-name: kubernetes\n"
	"    proxy-url: http://proxy.corp:3128\n"
	"- name: lab-cluster\n"
	"  cluster:\n"
	"    server: https://lab:6443\n"
	"    insecure-skip-tls-verify: true\n"
	"users:\n"
	"- name: dev-user\n"
	"  user:\n"
	"    token: s3cr3t-token\n"
	"- name: prod-user\n"
	"  user:\n"
	"    client-certificate: /etc/keelson/client.crt\n"
	"    client-key: client.key\n"
	"- name: lab-user\n"
	"  user:\n"
	"    client-certificate-data: " CA_B64 "\n"
	"    client-key-data: " KEY_B64 "\n"
	"    tokenFile: tok\n"
	"- name: exec-user\n"
	"  user:\n"
	"    exec: {command: aws}\n"
	"- name: half-user\n"
	"  user:\n"
	"    client-certificate: a.crt\n"
	"contexts:\n"
	"- name: dev\n"
	"  context: {cluster: dev-cluster, user: dev-user}\n"
	"- name: prod\n"
	"  context: {cluster: prod-cluster, user: prod-user, namespace: kafka}\n"
	"- name: lab\n"
	"  context: {cluster: lab-cluster, user: lab-user}\n"
	"- name: exec\n"
	"  context: {cluster: dev-cluster, user: exec-user}\n"
	"- name: half\n"
	"  context: {cluster: dev-cluster, user: half-user}\n"
	"- name: nocluster\n"
	"  context: {cluster: missing, user: dev-user}\n";

static int load(struct keelson_kube_config **out, const char *context)
{
	struct keelson_kube_config_options opts;
	keelson_kube_config_options_init(&opts);
	opts.context = context;
	return keelson_kube_config_load_buffer(out, kubeconfig, strlen(kubeconfig), "/home/u/.kube/config", &opts);
}

START_TEST(current_context_token_and_ca_data)
{
	struct keelson_kube_config *cfg = NULL;

	ck_assert_int_eq(load(&cfg, NULL), 0);
	ck_assert_str_eq(cfg->context, "dev");
	ck_assert_str_eq(cfg->server, "https://127.0.0.1:6443"); /* trailing '/' dropped */
	ck_assert_str_eq(cfg->namespace, "default");
	ck_assert_str_eq(cfg->token, "s3cr3t-token");
	ck_assert_ptr_nonnull(cfg->ca_data);
	ck_assert_uint_eq(cfg->ca_data_len, strlen(CA_TEXT));
	ck_assert_mem_eq(cfg->ca_data, CA_TEXT, cfg->ca_data_len);
	ck_assert_ptr_null(cfg->ca_file);
	ck_assert_ptr_null(cfg->proxy_url);
	ck_assert(!cfg->insecure_skip_tls_verify);
	keelson_kube_config_free(cfg);
}
END_TEST

START_TEST(named_context_files_relative_to_kubeconfig)
{
	struct keelson_kube_config *cfg = NULL;

	ck_assert_int_eq(load(&cfg, "prod"), 0);
	ck_assert_str_eq(cfg->server, "https://prod.example:443");
	ck_assert_str_eq(cfg->namespace, "kafka");
	ck_assert_str_eq(cfg->ca_file, "/home/u/.kube/certs/ca.pem");
	ck_assert_str_eq(cfg->client_cert_file, "/etc/keelson/client.crt");
	ck_assert_str_eq(cfg->client_key_file, "/home/u/.kube/client.key");
	ck_assert_str_eq(cfg->tls_server_name, "kubernetes");
	ck_assert_str_eq(cfg->proxy_url, "http://proxy.corp:3128");
	ck_assert_ptr_null(cfg->token);
	keelson_kube_config_free(cfg);
}
END_TEST

START_TEST(insecure_and_inline_client_cert)
{
	struct keelson_kube_config *cfg = NULL, *copy = NULL;

	ck_assert_int_eq(load(&cfg, "lab"), 0);
	ck_assert(cfg->insecure_skip_tls_verify);
	ck_assert_uint_eq(cfg->client_key_data_len, 9);
	ck_assert_mem_eq(cfg->client_key_data, "key-bytes", 9);
	ck_assert_mem_eq(cfg->client_cert_data, CA_TEXT, cfg->client_cert_data_len);
	ck_assert_str_eq(cfg->token_file, "/home/u/.kube/tok");
	ck_assert_int_eq(keelson_kube_config_dup(&copy, cfg), 0);
	keelson_kube_config_free(cfg);
	ck_assert_mem_eq(copy->client_key_data, "key-bytes", 9);
	ck_assert(copy->insecure_skip_tls_verify);
	ck_assert_str_eq(copy->server, "https://lab:6443");
	keelson_kube_config_free(copy);
}
END_TEST

START_TEST(errors_name_the_problem)
{
	struct keelson_kube_config *cfg = NULL;

	ck_assert_int_eq(load(&cfg, "nope"), KEELSON_ENOTFOUND);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "context \"nope\" not found"));
	ck_assert_int_eq(load(&cfg, "nocluster"), KEELSON_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "cluster \"missing\""));
	ck_assert_int_eq(load(&cfg, "exec"), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "exec"));
	ck_assert_int_eq(load(&cfg, "half"), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "no client key"));

	static const char bad_b64[] =
		"current-context: x\n"
		"clusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: '!!notbase64'}}]\n"
		"contexts: [{name: x, context: {cluster: c}}]\n";
	ck_assert_int_eq(keelson_kube_config_load_buffer(&cfg, bad_b64, strlen(bad_b64), "kc", NULL), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "certificate-authority-data"));

	static const char no_server[] =
		"current-context: x\n"
		"clusters: [{name: c, cluster: {}}]\n"
		"contexts: [{name: x, context: {cluster: c}}]\n";
	ck_assert_int_eq(keelson_kube_config_load_buffer(&cfg, no_server, strlen(no_server), "kc", NULL), KEELSON_EINVALID);
	ck_assert_ptr_nonnull(strstr(keelson_error_last()->message, "has no server"));

	static const char no_current[] = "clusters: []\n";
	ck_assert_int_eq(keelson_kube_config_load_buffer(&cfg, no_current, strlen(no_current), "kc", NULL), KEELSON_ENOTFOUND);

	static const char not_yaml[] = "a: [\n";
	ck_assert_int_eq(keelson_kube_config_load_buffer(&cfg, not_yaml, strlen(not_yaml), "kc", NULL), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_kube_config_load_file(&cfg, "/nonexistent/kubeconfig", NULL), KEELSON_ENOTFOUND);
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(in_cluster_files)
{
	char dir[] = "/tmp/keelson-sa-XXXXXX";
	char path[256];
	struct keelson_kube_config *cfg = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	unsetenv("KUBERNETES_SERVICE_HOST");
	ck_assert_int_eq(keelson_kube_config_in_cluster(&cfg, dir), KEELSON_ENOTFOUND);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	/* No token file: not a usable in-cluster setup. */
	ck_assert_int_eq(keelson_kube_config_in_cluster(&cfg, dir), KEELSON_ENOTFOUND);
	snprintf(path, sizeof(path), "%s/token", dir);
	write_file(path, "tok\n");
	snprintf(path, sizeof(path), "%s/namespace", dir);
	write_file(path, "keelson-system\n");
	ck_assert_int_eq(keelson_kube_config_in_cluster(&cfg, dir), 0);
	ck_assert_str_eq(cfg->server, "https://10.96.0.1:443");
	ck_assert_str_eq(cfg->namespace, "keelson-system");
	snprintf(path, sizeof(path), "%s/token", dir);
	ck_assert_str_eq(cfg->token_file, path);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	ck_assert_str_eq(cfg->ca_file, path);
	keelson_kube_config_free(cfg);

	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	ck_assert_int_eq(keelson_kube_config_in_cluster(&cfg, dir), 0);
	ck_assert_str_eq(cfg->server, "https://[fd00::1]:443");
	keelson_kube_config_free(cfg);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");

	snprintf(path, sizeof(path), "%s/token", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/namespace", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(default_uses_kubeconfig_env)
{
	char dir[] = "/tmp/keelson-kc-XXXXXX";
	char path[256], env[600];
	struct keelson_kube_config *cfg = NULL;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/config", dir);
	write_file(path, kubeconfig);
	/* The first existing file of the list wins. */
	snprintf(env, sizeof(env), "%s/missing:%s", dir, path);
	setenv("KUBECONFIG", env, 1);
	ck_assert_int_eq(keelson_kube_config_load_default(&cfg, NULL), 0);
	ck_assert_str_eq(cfg->context, "dev");
	char expect[300];
	keelson_kube_config_free(cfg);
	struct keelson_kube_config_options opts;
	keelson_kube_config_options_init(&opts);
	opts.context = "prod";
	ck_assert_int_eq(keelson_kube_config_load_default(&cfg, &opts), 0);
	snprintf(expect, sizeof(expect), "%s/certs/ca.pem", dir);
	ck_assert_str_eq(cfg->ca_file, expect);
	keelson_kube_config_free(cfg);
	setenv("KUBECONFIG", "/nonexistent/a:/nonexistent/b", 1);
	ck_assert_int_eq(keelson_kube_config_load_default(&cfg, NULL), KEELSON_ENOTFOUND);
	unsetenv("KUBECONFIG");
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(base64)
{
	char *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(keelson_kube_base64_decode(&out, &len, "aGVsbG8="), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_str_eq(out, "hello");
	free(out);
	ck_assert_int_eq(keelson_kube_base64_decode(&out, &len, "aGVs\nbG8"), 0); /* no padding, newline */
	ck_assert_str_eq(out, "hello");
	free(out);
	ck_assert_int_eq(keelson_kube_base64_decode(&out, &len, ""), 0);
	ck_assert_uint_eq(len, 0);
	free(out);
	ck_assert_int_eq(keelson_kube_base64_decode(&out, &len, "aGV*"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_kube_base64_decode(&out, &len, "aGVsb"), KEELSON_EINVALID);
	ck_assert_int_eq(keelson_kube_base64_decode(&out, &len, "aG=Vs"), KEELSON_EINVALID);
}
END_TEST

Suite *suite_kube_config(void);
Suite *suite_kube_config(void)
{
	Suite *s = suite_create("kube_config");
	TCase *tc;

	tc = tcase_create("keelson_kube_config_load_buffer");
	tcase_add_test(tc, current_context_token_and_ca_data);
	tcase_add_test(tc, named_context_files_relative_to_kubeconfig);
	tcase_add_test(tc, insecure_and_inline_client_cert);
	tcase_add_test(tc, errors_name_the_problem);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_kube_config_in_cluster");
	tcase_add_test(tc, in_cluster_files);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_kube_config_load_default");
	tcase_add_test(tc, default_uses_kubeconfig_env);
	suite_add_tcase(s, tc);
	tc = tcase_create("keelson_kube_base64_decode");
	tcase_add_test(tc, base64);
	suite_add_tcase(s, tc);
	return s;
}

KEELSON_CHECK_MAIN(suite_kube_config)
