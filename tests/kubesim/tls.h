/* TLS material for kubesim: a throw-away CA and a server certificate for
 * 127.0.0.1 / localhost, generated with OpenSSL libcrypto at start. */
#ifndef KUBESIM_TLS_H
#define KUBESIM_TLS_H

#include <stddef.h>

struct ks_tls_material {
	char *ca_pem;     /* CA certificate (goes into the kubeconfig) */
	char *cert_pem;   /* server certificate, signed by the CA */
	char *key_pem;    /* server private key (PKCS#8) */
	char *ca_key_pem; /* CA private key: only when generated (signs client certs) */
};

/* Generate an EC P-256 CA and server certificate (SAN IP 127.0.0.1, DNS
 * localhost), valid for ten years from now. */
int ks_tls_generate(struct ks_tls_material *out);

/* Read PEM files given on the command line; ca_path may be NULL (then the
 * certificate itself is used as the CA for the kubeconfig). */
int ks_tls_load(struct ks_tls_material *out, const char *cert_path, const char *key_path,
	const char *ca_path);

/* Issue a client certificate (EC P-256, extendedKeyUsage clientAuth, ten
 * years) for user `cn` in group `org` (NULL: none), signed by the generated
 * CA of `m`: the API server's user is the CN, its groups the O entries.
 * KEELSON_EINVALID when `m` has no CA key (loaded material). Caller frees
 * both PEM strings. */
int ks_tls_client_cert(const struct ks_tls_material *m, const char *cn, const char *org,
	char **cert_pem, char **key_pem);

void ks_tls_material_clear(struct ks_tls_material *m);

/* Base64 (standard alphabet, padded) of `len` bytes; caller frees. */
char *ks_base64_encode(const unsigned char *data, size_t len);

/* Decode padded standard base64 into `out` (at least len bytes); returns
 * the number of bytes or -1 for invalid input. */
int ks_base64_decode(unsigned char *out, const char *in, size_t len);

#endif
