/* kubesim for Check test programs: one kubesim per test case, started by an
 * unchecked fixture and reached through the kubeconfig it writes.
 *
 *	tcase_add_unchecked_fixture(tc, kubesim_harness_start, kubesim_harness_stop);
 *	... keelson_kube_config_load_file(&cfg, kubesim_harness_kubeconfig(), NULL) ...
 *	int main(void) { return kubesim_harness_main(suite_x); }
 *
 * kubesim runs as `kubesim --listen 127.0.0.1:0 --kubeconfig-out DIR/kubeconfig
 * --log-level error` in a fresh directory DIR under /tmp, its stderr in
 * DIR/kubesim.log (quoted when it does not start), and dies with the test
 * process (PR_SET_PDEATHSIG). Link tests/lib/kubesim_harness.c into the
 * program. */
#ifndef KEELSON_TESTS_KUBESIM_HARNESS_H
#define KEELSON_TESTS_KUBESIM_HARNESS_H

#include "kube/kube_client.h"

#include <check.h>
#include <stdbool.h>

/* Looks for $top_builddir/kubesim, then $top_builddir/tests/kubesim/kubesim
 * (top_builddir defaults to "."); true when one is executable. */
bool kubesim_harness_find(void);

/* The path found (or last tried) by kubesim_harness_find. */
const char *kubesim_harness_binary(void);

/* Starts kubesim and waits (at most 120 s: an ASan build on a loaded
 * machine is slow) until it listens; a Check assertion fails otherwise. */
void kubesim_harness_start(void);

/* SIGTERM, wait, and remove the directory. Safe when nothing runs. */
void kubesim_harness_stop(void);

/* The kubeconfig of the running kubesim (context "kubesim"). */
const char *kubesim_harness_kubeconfig(void);

/* A client of the running kubesim built with OPTIONS (NULL: the defaults);
 * a Check assertion fails when it cannot be made. Free it with
 * keelson_kube_client_free. */
struct keelson_kube_client *kubesim_harness_client(const struct keelson_kube_client_options *options);

/* main() of a program whose every test needs kubesim: 77 (skipped) with a
 * message when kubesim is not built, else runs the suite and returns
 * EXIT_SUCCESS or EXIT_FAILURE. */
int kubesim_harness_main(Suite *(*make_suite)(void));

#endif
