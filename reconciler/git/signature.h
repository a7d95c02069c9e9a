/*
 * Commit signature verification for the Git source. Internal to
 * reconciler/git.
 */
#ifndef KEELSON_GIT_SIGNATURE_H
#define KEELSON_GIT_SIGNATURE_H

#include <git2.h>

/* 0 when commit `id` carries an SSH signature (namespace "git") made by a
 * key listed in `allowed_signers` (ssh-keygen ALLOWED SIGNERS format),
 * checked with `ssh-keygen -Y find-principals` and `-Y verify`. Otherwise
 * KEELSON_EINVALID saying why (unsigned, GPG-signed, unknown key, bad
 * signature). Scratch files go to `scratch_dir` and are removed. */
int keelson_git_verify_ssh_signature(git_repository *repo, const git_oid *id,
				     const char *allowed_signers, const char *scratch_dir);

/* 0 when commit `id` carries an OpenPGP signature that verifies against a
 * key in `keyring_file` (exported public keys, armored or binary), checked
 * with gpgme in a fresh GnuPG home under `scratch_dir` that holds only
 * those keys. Otherwise KEELSON_EINVALID saying why (unsigned, SSH-signed,
 * unknown key, bad signature, expired or revoked key). */
int keelson_git_verify_gpg_signature(git_repository *repo, const git_oid *id,
				     const char *keyring_file, const char *scratch_dir);

#endif
