#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "tests/kubesim/server.h"
#include "tests/kubesim/store.h"
#include "tests/kubesim/tls.h"
#include "tests/kubesim/controllers/controllers.h"
#include "tests/kubesim/models/kafka/kafka_model.h"
#include "tests/kubesim/models/cassandra/cassandra_model.h"
#include "tests/kubesim/models/spark/spark_model.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kubesim [--listen 127.0.0.1:PORT] [--kubeconfig-out FILE] [--state FILE]\n"
		"               [--tls-cert FILE --tls-key FILE [--ca-cert FILE]]\n"
		"               [--insecure-http (plain HTTP, no authentication)]\n"
		"               [--client-ca FILE] [--kubeconfig-client-cert]\n"
		"               [--pid-file FILE] [--log-level error|info|debug] [--clock-factor N]\n"
		"\n"
		"A Kubernetes API server simulator. PORT 0 picks a free port; the kubeconfig\n"
		"written to --kubeconfig-out names the real one, the CA and a bearer token.\n"
		"Prints \"kubesim listening on URL\" when ready; SIGTERM/SIGINT stop it\n"
		"(saving --state first).\n"
		"--client-ca FILE: client certificates signed by a CA in FILE authenticate\n"
		"too (user = CN, group = O). --kubeconfig-client-cert: issue a client\n"
		"certificate (CN kubesim-client, O system:masters) from kubesim's own CA and\n"
		"write it into the kubeconfig instead of the token.\n");
}

/* `token`, or when client_cert is set a client certificate and key. */
static int write_kubeconfig(const char *path, const char *url, const char *ca_pem,
	const char *token, const char *client_cert, const char *client_key)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return keelson_error_set(KEELSON_ERROR, "cannot write kubeconfig %s: %s", tmp,
			strerror(errno));
	char *ca64 = ca_pem ? ks_base64_encode((const unsigned char *)ca_pem, strlen(ca_pem)) : NULL;
	fprintf(f,
		"apiVersion: v1\n"
		"kind: Config\n"
		"clusters:\n"
		"- name: kubesim\n"
		"  cluster:\n"
		"    server: %s\n", url);
	if (ca64)
		fprintf(f, "    certificate-authority-data: %s\n", ca64);
	fprintf(f,
		"contexts:\n"
		"- name: kubesim\n"
		"  context:\n"
		"    cluster: kubesim\n"
		"    user: kubesim\n"
		"    namespace: default\n"
		"current-context: kubesim\n"
		"preferences: {}\n"
		"users:\n"
		"- name: kubesim\n"
		"  user:\n");
	if (client_cert) {
		char *c64 = ks_base64_encode((const unsigned char *)client_cert, strlen(client_cert));
		char *k64 = ks_base64_encode((const unsigned char *)client_key, strlen(client_key));
		fprintf(f, "    client-certificate-data: %s\n    client-key-data: %s\n",
			c64 ? c64 : "", k64 ? k64 : "");
		free(c64);
		free(k64);
	} else {
		fprintf(f, "    token: %s\n", token);
	}
	free(ca64);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return keelson_error_set(KEELSON_ERROR, "cannot write kubeconfig %s: %s", path,
			strerror(errno));
	return 0;
}

/* A PEM bundle from --client-ca; bounded like any file read from outside. */
static char *read_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		keelson_error_set(KEELSON_ENOTFOUND, "cannot read --client-ca %s: %s", path,
			strerror(errno));
		return NULL;
	}
	size_t cap = 256 * 1024;
	char *buf = malloc(cap);
	size_t n = buf ? fread(buf, 1, cap - 1, f) : 0;
	bool more = buf && !feof(f);
	fclose(f);
	if (!buf || more || !strstr(buf ? (buf[n] = 0, buf) : "", "-----BEGIN CERTIFICATE-----")) {
		free(buf);
		keelson_error_set(KEELSON_EINVALID,
			"--client-ca %s: expected PEM certificates (at most 256 KiB)", path);
		return NULL;
	}
	return buf;
}

static void random_token(char *buf, size_t n)
{
	char uuid[40];
	size_t off = 0;
	while (off + 1 < n) {
		ks_uuid(uuid);
		for (const char *p = uuid; *p && off + 1 < n; p++)
			if (*p != '-')
				buf[off++] = *p;
	}
	buf[off] = 0;
}

int main(int argc, char **argv)
{
	const char *listen = "127.0.0.1:0", *kubeconfig = NULL, *state = NULL, *pid_file = NULL;
	const char *cert = NULL, *key = NULL, *ca = NULL;
	const char *client_ca_path = NULL;
	bool insecure = false, kubeconfig_client_cert = false;
	int log_level = 1;
	double clock_factor = 1.0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--insecure-http")) {
			insecure = true;
			continue;
		} else if (!strcmp(a, "--kubeconfig-client-cert")) {
			kubeconfig_client_cert = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "kubesim: %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--listen"))
			listen = v;
		else if (!strcmp(a, "--kubeconfig-out"))
			kubeconfig = v;
		else if (!strcmp(a, "--state"))
			state = v;
		else if (!strcmp(a, "--pid-file"))
			pid_file = v;
		else if (!strcmp(a, "--tls-cert"))
			cert = v;
		else if (!strcmp(a, "--tls-key"))
			key = v;
		else if (!strcmp(a, "--ca-cert"))
			ca = v;
		else if (!strcmp(a, "--client-ca"))
			client_ca_path = v;
		else if (!strcmp(a, "--clock-factor"))
			clock_factor = atof(v);
		else if (!strcmp(a, "--log-level"))
			log_level = !strcmp(v, "error") ? 0 : !strcmp(v, "debug") ? 2 : !strcmp(v, "info") ? 1 : atoi(v);
		else {
			fprintf(stderr, "kubesim: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	char host[256];
	snprintf(host, sizeof(host), "%s", listen);
	char *colon = strrchr(host, ':');
	if (!colon) {
		fprintf(stderr, "kubesim: --listen %s: expected HOST:PORT, e.g. 127.0.0.1:0\n", listen);
		return 2;
	}
	*colon = 0;
	int port = atoi(colon + 1);
	if ((cert == NULL) != (key == NULL)) {
		fprintf(stderr, "kubesim: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (ks_clock_set_factor(clock_factor)) {
		fprintf(stderr, "kubesim: --clock-factor: %s\n", keelson_error_last()->message);
		return 2;
	}

	/* Signals are taken with sigwait below; block them before any thread
	 * starts so only the main thread sees them. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct ks_store *store = NULL;
	if (ks_store_new(&store)) {
		fprintf(stderr, "kubesim: %s\n", keelson_error_last()->message);
		return 1;
	}
	if (state && access(state, F_OK) == 0 && ks_store_load(store, state)) {
		fprintf(stderr, "kubesim: loading --state: %s\n", keelson_error_last()->message);
		ks_store_free(store);
		return 1;
	}
	struct ks_tls_material tls = {0};
	int rc = 0;
	if (!insecure)
		rc = cert ? ks_tls_load(&tls, cert, key, ca) : ks_tls_generate(&tls);
	if (rc) {
		fprintf(stderr, "kubesim: %s\n", keelson_error_last()->message);
		ks_store_free(store);
		return 1;
	}
	char token[48];
	random_token(token, sizeof(token));
	/* Client CAs: --client-ca, plus kubesim's own CA when it issues the
	 * kubeconfig's client certificate. */
	char *client_ca = NULL, *client_cert = NULL, *client_key = NULL;
	if (rc == 0 && (client_ca_path || kubeconfig_client_cert) && insecure) {
		rc = keelson_error_set(KEELSON_EINVALID,
			"--client-ca and --kubeconfig-client-cert need TLS (drop --insecure-http)");
	}
	if (rc == 0 && client_ca_path && !(client_ca = read_pem(client_ca_path)))
		rc = KEELSON_EINVALID;
	if (rc == 0 && kubeconfig_client_cert)
		rc = ks_tls_client_cert(&tls, "kubesim-client", "system:masters", &client_cert,
			&client_key);
	if (rc == 0 && kubeconfig_client_cert) {
		size_t a = client_ca ? strlen(client_ca) : 0, b = strlen(tls.ca_pem);
		char *both = malloc(a + b + 2);
		if (both) {
			snprintf(both, a + b + 2, "%s%s%s", client_ca ? client_ca : "",
				a && client_ca[a - 1] != '\n' ? "\n" : "", tls.ca_pem);
			free(client_ca);
			client_ca = both;
		} else {
			rc = keelson_error_set(KEELSON_ENOMEM, "out of memory");
		}
	}
	if (rc) {
		fprintf(stderr, "kubesim: %s\n", keelson_error_last()->message);
		free(client_ca);
		free(client_cert);
		free(client_key);
		ks_tls_material_clear(&tls);
		ks_store_free(store);
		return 1;
	}
	struct ks_controller *crd_ctl = NULL;
	ks_crd_controller_start(store, &crd_ctl);
	struct ks_controllers *controllers = NULL;
	if (ks_controllers_start(store, &controllers)) {
		fprintf(stderr, "kubesim: starting controllers: %s\n", keelson_error_last()->message);
		ks_controller_stop(crd_ctl);
		ks_store_free(store);
		free(client_ca);
		free(client_cert);
		free(client_key);
		ks_tls_material_clear(&tls);
		return 1;
	}
	/* kubectl does not send bearer tokens over plain HTTP, so the
	 * explicitly requested insecure mode runs without authentication. */
	if (insecure)
		fprintf(stderr, "kubesim: --insecure-http: plain HTTP without authentication\n");
	struct ks_kafka_model *kafka = NULL;
	if (ks_kafka_model_start(store, &kafka))
		fprintf(stderr, "kubesim: Kafka model not started: %s\n",
			keelson_error_last()->message);
	struct ks_cassandra_model *cassandra = NULL;
	if (ks_cassandra_model_start(store, &cassandra))
		fprintf(stderr, "kubesim: Cassandra model not started: %s\n",
			keelson_error_last()->message);
	struct ks_spark_model *spark = NULL;
	if (ks_spark_model_start(store, &spark))
		fprintf(stderr, "kubesim: Spark model not started: %s\n",
			keelson_error_last()->message);
	struct ks_server_config cfg = {.version = KS_SERVER_CONFIG_VERSION,
		.listen_address = host, .port = port, .insecure_http = insecure, .tls = &tls,
		.token = insecure ? NULL : token, .log_level = log_level, .client_ca_pem = client_ca};
	struct ks_server *srv = NULL;
	rc = ks_server_start(store, &cfg, &srv);
	if (rc == 0) {
		char url[300];
		snprintf(url, sizeof(url), "%s://%s:%d", insecure ? "http" : "https", host,
			ks_server_port(srv));
		if (kubeconfig)
			rc = write_kubeconfig(kubeconfig, url, insecure ? NULL : tls.ca_pem, token,
				client_cert, client_key);
		if (rc == 0 && pid_file) {
			FILE *f = fopen(pid_file, "w");
			if (f) {
				fprintf(f, "%ld\n", (long)getpid());
				fclose(f);
			}
		}
		if (rc == 0) {
			printf("kubesim listening on %s\n", url);
			fflush(stdout);
			int sig = 0;
			sigwait(&sigs, &sig);
			if (log_level >= 1)
				fprintf(stderr, "kubesim: signal %d, shutting down\n", sig);
		}
	}
	if (rc)
		fprintf(stderr, "kubesim: %s\n", keelson_error_last()->message);
	ks_server_stop(srv);
	ks_spark_model_stop(spark);
	ks_cassandra_model_stop(cassandra);
	ks_kafka_model_stop(kafka);
	ks_controllers_stop(controllers);
	ks_controller_stop(crd_ctl);
	if (state && rc == 0 && ks_store_save(store, state)) {
		fprintf(stderr, "kubesim: saving --state: %s\n", keelson_error_last()->message);
		rc = 1;
	}
	if (pid_file)
		unlink(pid_file);
	ks_store_free(store);
	free(client_ca);
	free(client_cert);
	free(client_key);
	ks_tls_material_clear(&tls);
	return rc ? 1 : 0;
}
