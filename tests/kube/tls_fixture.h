/* Throw-away TLS material for the client tests, made with libcrypto at
 * test start: a CA, a server certificate for 127.0.0.1/localhost and a
 * client certificate, all signed by the CA. */
#ifndef KEELSON_TESTS_KUBE_TLS_FIXTURE_H
#define KEELSON_TESTS_KUBE_TLS_FIXTURE_H

struct tls_fixture {
	char *ca_pem;
	char *server_cert_pem;
	char *server_key_pem;
	char *client_cert_pem;
	char *client_key_pem;
};

/* Returns 0 on success. */
int tls_fixture_generate(struct tls_fixture *out);
void tls_fixture_free(struct tls_fixture *f);

#endif
