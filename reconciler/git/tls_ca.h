/*
 * Trust in a Git server's TLS certificate beyond the system store.
 */
#ifndef KEELSON_GIT_TLS_CA_H
#define KEELSON_GIT_TLS_CA_H

#include <git2.h>
#include <stdbool.h>

/* Whether `cert` (the server's leaf, as libgit2 hands it to a
 * certificate_check callback) chains to a CA of the PEM file `ca_file` and
 * names `host` (a DNS name or an IP literal). libgit2's TLS backend has
 * already checked the chain against the system store; this accepts servers
 * signed by a private CA the configuration names. */
bool keelson_git_cert_trusted_by_ca_file(const git_cert_x509 *cert, const char *host, const char *ca_file);

#endif
