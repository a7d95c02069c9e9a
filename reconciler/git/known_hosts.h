/*
 * SSH host key checking against an OpenSSH known_hosts file, for the Git
 * source's libgit2 certificate callback. Internal to reconciler/git.
 */
#ifndef KEELSON_GIT_KNOWN_HOSTS_H
#define KEELSON_GIT_KNOWN_HOSTS_H

#include <stddef.h>

/* 0 when `file` lists exactly this key for host (and port; 22 is written
 * without brackets), plain or hashed (|1|salt|hash). KEELSON_ENOTFOUND when
 * the host is not listed, KEELSON_EINVALID when it is listed with other keys
 * only or the key is marked @revoked, with a message saying what to do. */
int keelson_git_known_hosts_check(const char *file, const char *host, int port,
				  const unsigned char *key, size_t key_len);

#endif
