/*
 * The individual kubesim controllers, started by ks_controllers_start().
 * Each returns 0 or a keelson error code and hands back a running
 * ks_controller (stop it with ks_controller_stop, which frees its state).
 */
#ifndef KUBESIM_CONTROLLERS_CTL_INTERNAL_H
#define KUBESIM_CONTROLLERS_CTL_INTERNAL_H

#include "tests/kubesim/store.h"

int ks_ctl_statefulset_start(struct ks_store *store, struct ks_controller **out);
int ks_ctl_replicaset_start(struct ks_store *store, struct ks_controller **out);
int ks_ctl_deployment_start(struct ks_store *store, struct ks_controller **out);
int ks_ctl_job_start(struct ks_store *store, struct ks_controller **out);
int ks_ctl_kubelet_start(struct ks_store *store, struct ks_controller **out);
int ks_ctl_gc_start(struct ks_store *store, struct ks_controller **out);
int ks_ctl_namespace_start(struct ks_store *store, struct ks_controller **out);
int ks_ctl_disruption_start(struct ks_store *store, struct ks_controller **out);
int ks_ctl_endpoints_start(struct ks_store *store, struct ks_controller **out);

#endif
