# deploy/: Kubernetes base, systemd unit, container build file (issue 10).
# Data files only; the tests check them (tests/deploy/).
EXTRA_DIST += \
	deploy/README.md \
	deploy/local.mk \
	deploy/kubernetes/kustomization.yaml \
	deploy/kubernetes/namespace.yaml \
	deploy/kubernetes/serviceaccount.yaml \
	deploy/kubernetes/clusterrole.yaml \
	deploy/kubernetes/clusterrolebinding.yaml \
	deploy/kubernetes/role.yaml \
	deploy/kubernetes/rolebinding.yaml \
	deploy/kubernetes/configmap.yaml \
	deploy/kubernetes/deployment.yaml \
	deploy/kubernetes/service.yaml \
	deploy/systemd/keelson.service \
	deploy/container/Containerfile

DEPLOY_TESTS = \
	tests/deploy/deploy-kubesim.sh \
	tests/deploy/systemd-verify.sh \
	tests/deploy/containerfile-check.sh
TESTS += $(DEPLOY_TESTS)
dist_noinst_SCRIPTS += $(DEPLOY_TESTS)
