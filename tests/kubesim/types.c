#include "config.h"

#include "tests/kubesim/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---------------------------------------------------------------------------
 * Defaulting helpers: set a member only when absent.
 * ------------------------------------------------------------------------- */

static cJSON *obj_child(cJSON *parent, const char *key)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(parent, key);
	if (!cJSON_IsObject(c)) {
		if (c)
			cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
		c = cJSON_AddObjectToObject(parent, key);
	}
	return c;
}

static void def_str(cJSON *o, const char *key, const char *value)
{
	if (!cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_AddStringToObject(o, key, value);
}

static void def_num(cJSON *o, const char *key, double value)
{
	if (!cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_AddNumberToObject(o, key, value);
}

static void def_bool(cJSON *o, const char *key, bool value)
{
	if (!cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_AddBoolToObject(o, key, value);
}

static void def_obj(cJSON *o, const char *key)
{
	if (!cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_AddObjectToObject(o, key);
}

static void defaults_container(cJSON *c)
{
	const cJSON *image = cJSON_GetObjectItemCaseSensitive(c, "image");
	if (cJSON_IsString(image)) {
		const char *img = image->valuestring;
		const char *slash = strrchr(img, '/');
		const char *tag = strchr(slash ? slash : img, ':');
		bool latest = !strchr(img, '@') && (!tag || !strcmp(tag, ":latest"));
		def_str(c, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
	}
	def_str(c, "terminationMessagePath", "/dev/termination-log");
	def_str(c, "terminationMessagePolicy", "File");
	def_obj(c, "resources");
	cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports"))
		if (cJSON_IsObject(p))
			def_str(p, "protocol", "TCP");
}

void ks_defaults_pod_spec(cJSON *spec)
{
	if (!cJSON_IsObject(spec))
		return;
	def_str(spec, "restartPolicy", "Always");
	def_num(spec, "terminationGracePeriodSeconds", 30);
	def_str(spec, "dnsPolicy", "ClusterFirst");
	def_str(spec, "schedulerName", "default-scheduler");
	def_obj(spec, "securityContext");
	cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "containers"))
		if (cJSON_IsObject(c))
			defaults_container(c);
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "initContainers"))
		if (cJSON_IsObject(c))
			defaults_container(c);
}

static void defaults_template(cJSON *spec)
{
	cJSON *tpl = cJSON_GetObjectItemCaseSensitive(spec, "template");
	if (!cJSON_IsObject(tpl))
		return;
	cJSON *tspec = cJSON_GetObjectItemCaseSensitive(tpl, "spec");
	ks_defaults_pod_spec(tspec);
	/* The API server's creationTimestamp: null in templates. */
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(tpl, "metadata");
	if (cJSON_IsObject(meta) && !cJSON_GetObjectItemCaseSensitive(meta, "creationTimestamp"))
		cJSON_AddNullToObject(meta, "creationTimestamp");
}

static void defaults_pod(cJSON *pod)
{
	cJSON *spec = obj_child(pod, "spec");
	ks_defaults_pod_spec(spec);
	def_bool(spec, "enableServiceLinks", true);
	def_str(spec, "preemptionPolicy", "PreemptLowerPriority");
	def_num(spec, "priority", 0);
	cJSON *status = obj_child(pod, "status");
	def_str(status, "phase", "Pending");
	def_str(status, "qosClass", "BestEffort");
}

static void defaults_statefulset(cJSON *sts)
{
	cJSON *spec = obj_child(sts, "spec");
	def_num(spec, "replicas", 1);
	def_str(spec, "podManagementPolicy", "OrderedReady");
	def_num(spec, "revisionHistoryLimit", 10);
	def_str(spec, "serviceName", "");
	cJSON *pvc = obj_child(spec, "persistentVolumeClaimRetentionPolicy");
	def_str(pvc, "whenDeleted", "Retain");
	def_str(pvc, "whenScaled", "Retain");
	cJSON *us = obj_child(spec, "updateStrategy");
	if (!cJSON_GetObjectItemCaseSensitive(us, "type")) {
		/* partition 0 only when the type was defaulted (M6). */
		cJSON_AddStringToObject(us, "type", "RollingUpdate");
		cJSON *ru = obj_child(us, "rollingUpdate");
		def_num(ru, "partition", 0);
	} else {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(us, "type");
		cJSON *ru = cJSON_GetObjectItemCaseSensitive(us, "rollingUpdate");
		if (cJSON_IsString(t) && !strcmp(t->valuestring, "RollingUpdate") && cJSON_IsObject(ru))
			def_num(ru, "partition", 0);
	}
	defaults_template(spec);
	cJSON *status = obj_child(sts, "status");
	def_num(status, "replicas", 0);
	def_num(status, "availableReplicas", 0);
}

static void defaults_deployment(cJSON *d)
{
	cJSON *spec = obj_child(d, "spec");
	def_num(spec, "replicas", 1);
	def_num(spec, "revisionHistoryLimit", 10);
	def_num(spec, "progressDeadlineSeconds", 600);
	cJSON *st = obj_child(spec, "strategy");
	if (!cJSON_GetObjectItemCaseSensitive(st, "type"))
		cJSON_AddStringToObject(st, "type", "RollingUpdate");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(st, "type");
	if (cJSON_IsString(t) && !strcmp(t->valuestring, "RollingUpdate")) {
		cJSON *ru = obj_child(st, "rollingUpdate");
		def_str(ru, "maxUnavailable", "25%");
		def_str(ru, "maxSurge", "25%");
	}
	defaults_template(spec);
	obj_child(d, "status");
}

static void defaults_replicaset(cJSON *rs)
{
	cJSON *spec = obj_child(rs, "spec");
	def_num(spec, "replicas", 1);
	defaults_template(spec);
	cJSON *status = obj_child(rs, "status");
	def_num(status, "replicas", 0);
}

static void defaults_job(cJSON *job)
{
	cJSON *spec = obj_child(job, "spec");
	def_num(spec, "parallelism", 1);
	def_num(spec, "completions", 1);
	def_num(spec, "backoffLimit", 6);
	def_str(spec, "completionMode", "NonIndexed");
	def_bool(spec, "suspend", false);
	def_str(spec, "podReplacementPolicy", "TerminatingOrFailed");
	defaults_template(spec);
	obj_child(job, "status");
}

static void defaults_namespace(cJSON *ns)
{
	cJSON *meta = obj_child(ns, "metadata");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
	if (cJSON_IsString(name)) {
		cJSON *labels = obj_child(meta, "labels");
		def_str(labels, "kubernetes.io/metadata.name", name->valuestring);
	}
	cJSON *spec = obj_child(ns, "spec");
	if (!cJSON_GetObjectItemCaseSensitive(spec, "finalizers") &&
	    !cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp")) {
		cJSON *f = cJSON_AddArrayToObject(spec, "finalizers");
		cJSON_AddItemToArray(f, cJSON_CreateString("kubernetes"));
	}
	cJSON *status = obj_child(ns, "status");
	def_str(status, "phase", "Active");
}

/* Standard padded base64 of `len` bytes (NULL when out of memory). Kept
 * here rather than shared with tls.c: the store library does not link the
 * HTTP layer. */
static char *base64_of(const unsigned char *in, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? abc[v & 63] : '=';
	}
	out[o] = 0;
	return out;
}

/* The API server never stores stringData: the v1 -> internal conversion
 * writes each entry into data (base64 on the wire), replacing a data key
 * of the same name, and drops stringData (pkg/apis/core/v1/conversion.go,
 * Convert_v1_Secret_To_core_Secret). Runs on create, update, patch and
 * apply alike. */
static void defaults_secret(cJSON *secret)
{
	cJSON *sd = cJSON_DetachItemFromObjectCaseSensitive(secret, "stringData");
	if (!cJSON_IsObject(sd) || !sd->child) {
		cJSON_Delete(sd);
		return;
	}
	cJSON *data = obj_child(secret, "data");
	const cJSON *it;
	cJSON_ArrayForEach(it, sd) {
		if (!cJSON_IsString(it) || !data)
			continue;
		char *enc = base64_of((const unsigned char *)it->valuestring,
			strlen(it->valuestring));
		cJSON *v = enc ? cJSON_CreateString(enc) : NULL;
		free(enc);
		if (!v)
			continue;
		if (cJSON_GetObjectItemCaseSensitive(data, it->string))
			cJSON_ReplaceItemInObjectCaseSensitive(data, it->string, v);
		else
			cJSON_AddItemToObject(data, it->string, v);
	}
	cJSON_Delete(sd);
}

static void defaults_service(cJSON *svc)
{
	cJSON *spec = obj_child(svc, "spec");
	def_str(spec, "type", "ClusterIP");
	def_str(spec, "sessionAffinity", "None");
	def_str(spec, "internalTrafficPolicy", "Cluster");
	if (!cJSON_GetObjectItemCaseSensitive(spec, "clusterIP")) {
		char ip[32];
		char uuid[40];
		ks_uuid(uuid);
		snprintf(ip, sizeof(ip), "10.96.%u.%u", (unsigned char)uuid[0] % 250u,
			2u + (unsigned char)uuid[1] % 250u);
		cJSON_AddStringToObject(spec, "clusterIP", ip);
	}
	if (!cJSON_GetObjectItemCaseSensitive(spec, "clusterIPs")) {
		const cJSON *ip = cJSON_GetObjectItemCaseSensitive(spec, "clusterIP");
		cJSON *a = cJSON_AddArrayToObject(spec, "clusterIPs");
		if (cJSON_IsString(ip))
			cJSON_AddItemToArray(a, cJSON_CreateString(ip->valuestring));
	}
	cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(spec, "ports")) {
		if (!cJSON_IsObject(p))
			continue;
		def_str(p, "protocol", "TCP");
		const cJSON *port = cJSON_GetObjectItemCaseSensitive(p, "port");
		if (cJSON_IsNumber(port))
			def_num(p, "targetPort", port->valuedouble);
	}
	cJSON *status = obj_child(svc, "status");
	def_obj(status, "loadBalancer");
}

static void defaults_pvc(cJSON *pvc)
{
	cJSON *spec = obj_child(pvc, "spec");
	def_str(spec, "volumeMode", "Filesystem");
	cJSON *status = obj_child(pvc, "status");
	/* No storage provisioner: claims bind at once so pods can start. */
	if (!cJSON_GetObjectItemCaseSensitive(status, "phase")) {
		cJSON_AddStringToObject(status, "phase", "Bound");
		const cJSON *modes = cJSON_GetObjectItemCaseSensitive(spec, "accessModes");
		if (modes)
			cJSON_AddItemToObject(status, "accessModes", cJSON_Duplicate(modes, 1));
		const cJSON *req = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(spec, "resources"), "requests");
		if (cJSON_IsObject(req))
			cJSON_AddItemToObject(status, "capacity", cJSON_Duplicate(req, 1));
	}
}

static void defaults_pdb(cJSON *pdb)
{
	cJSON *status = obj_child(pdb, "status");
	def_num(status, "currentHealthy", 0);
	def_num(status, "desiredHealthy", 0);
	def_num(status, "disruptionsAllowed", 0);
	def_num(status, "expectedPods", 0);
}

/* kube-apiserver's defaulting for scheduling.k8s.io/v1 PriorityClass;
 * globalDefault false is omitted like the real (omitempty) field. */
static void defaults_priorityclass(cJSON *pc)
{
	def_str(pc, "preemptionPolicy", "PreemptLowerPriority");
	def_num(pc, "value", 0);
}

static void defaults_crd(cJSON *crd)
{
	cJSON *spec = obj_child(crd, "spec");
	cJSON *names = obj_child(spec, "names");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(names, "kind");
	const cJSON *plural = cJSON_GetObjectItemCaseSensitive(names, "plural");
	if (cJSON_IsString(kind) && !cJSON_GetObjectItemCaseSensitive(names, "listKind")) {
		char lk[160];
		snprintf(lk, sizeof(lk), "%sList", kind->valuestring);
		cJSON_AddStringToObject(names, "listKind", lk);
	}
	if (cJSON_IsString(kind) && !cJSON_GetObjectItemCaseSensitive(names, "singular")) {
		char sg[128];
		snprintf(sg, sizeof(sg), "%s", kind->valuestring);
		for (char *p = sg; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		cJSON_AddStringToObject(names, "singular", sg);
	}
	(void)plural;
	cJSON *conv = obj_child(spec, "conversion");
	def_str(conv, "strategy", "None");
	obj_child(crd, "status");
}

/* ---------------------------------------------------------------------------
 * Built-in registry
 * ------------------------------------------------------------------------- */

#define ALL_VERBS {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL}

struct builtin {
	const char *group, *resource, *kind, *singular;
	bool namespaced;
	const char *short_names[4];
	const char *category;
	unsigned sub;
	enum ks_generation_policy gen;
	void (*defaults)(cJSON *);
};

static const struct builtin builtins[] = {
	{"", "namespaces", "Namespace", "namespace", false, {"ns"}, NULL,
		KS_SUB_STATUS | KS_SUB_FINALIZE, KS_GEN_NONE, defaults_namespace},
	{"", "pods", "Pod", "pod", true, {"po"}, "all",
		KS_SUB_STATUS | KS_SUB_LOG | KS_SUB_EXEC | KS_SUB_PROXY | KS_SUB_EVICTION,
		KS_GEN_NONE, defaults_pod},
	{"", "services", "Service", "service", true, {"svc"}, "all",
		KS_SUB_STATUS | KS_SUB_PROXY, KS_GEN_NONE, defaults_service},
	{"", "endpoints", "Endpoints", "endpoints", true, {"ep"}, NULL, 0, KS_GEN_NONE, NULL},
	{"", "configmaps", "ConfigMap", "configmap", true, {"cm"}, NULL, 0, KS_GEN_NONE, NULL},
	{"", "secrets", "Secret", "secret", true, {NULL}, NULL, 0, KS_GEN_NONE, defaults_secret},
	{"", "serviceaccounts", "ServiceAccount", "serviceaccount", true, {"sa"}, NULL, 0,
		KS_GEN_NONE, NULL},
	{"", "persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim", true,
		{"pvc"}, NULL, KS_SUB_STATUS, KS_GEN_NONE, defaults_pvc},
	{"", "events", "Event", "event", true, {"ev"}, NULL, 0, KS_GEN_NONE, NULL},
	{"", "nodes", "Node", "node", false, {"no"}, NULL, KS_SUB_STATUS, KS_GEN_NONE, NULL},
	{"apps", "statefulsets", "StatefulSet", "statefulset", true, {"sts"}, "all",
		KS_SUB_STATUS | KS_SUB_SCALE, KS_GEN_SPEC, defaults_statefulset},
	{"apps", "deployments", "Deployment", "deployment", true, {"deploy"}, "all",
		KS_SUB_STATUS | KS_SUB_SCALE, KS_GEN_SPEC, defaults_deployment},
	{"apps", "replicasets", "ReplicaSet", "replicaset", true, {"rs"}, "all",
		KS_SUB_STATUS | KS_SUB_SCALE, KS_GEN_SPEC, defaults_replicaset},
	{"apps", "controllerrevisions", "ControllerRevision", "controllerrevision", true, {NULL},
		NULL, 0, KS_GEN_NONE, NULL},
	{"batch", "jobs", "Job", "job", true, {NULL}, "all", KS_SUB_STATUS, KS_GEN_SPEC,
		defaults_job},
	{"policy", "poddisruptionbudgets", "PodDisruptionBudget", "poddisruptionbudget", true,
		{"pdb"}, NULL, KS_SUB_STATUS, KS_GEN_SPEC, defaults_pdb},
	{"coordination.k8s.io", "leases", "Lease", "lease", true, {NULL}, NULL, 0, KS_GEN_NONE,
		NULL},
	{"rbac.authorization.k8s.io", "roles", "Role", "role", true, {NULL}, NULL, 0,
		KS_GEN_NONE, NULL},
	{"rbac.authorization.k8s.io", "rolebindings", "RoleBinding", "rolebinding", true, {NULL},
		NULL, 0, KS_GEN_NONE, NULL},
	{"rbac.authorization.k8s.io", "clusterroles", "ClusterRole", "clusterrole", false, {NULL},
		NULL, 0, KS_GEN_NONE, NULL},
	{"rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding",
		"clusterrolebinding", false, {NULL}, NULL, 0, KS_GEN_NONE, NULL},
	{"events.k8s.io", "events", "Event", "event", true, {NULL}, NULL, 0, KS_GEN_NONE, NULL},
	{"storage.k8s.io", "storageclasses", "StorageClass", "storageclass", false, {"sc"}, NULL, 0,
		KS_GEN_NONE, NULL},
	{"scheduling.k8s.io", "priorityclasses", "PriorityClass", "priorityclass", false, {"pc"},
		NULL, 0, KS_GEN_NONE, defaults_priorityclass},
	{"authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview", "", false,
		{NULL}, NULL, 0, KS_GEN_NONE, NULL},
	{"authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview", "", false, {NULL},
		NULL, 0, KS_GEN_NONE, NULL},
	{"authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview", "", false, {NULL}, NULL,
		0, KS_GEN_NONE, NULL},
	{"apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition",
		"customresourcedefinition", false, {"crd", "crds"}, "api-extensions", KS_SUB_STATUS,
		KS_GEN_SPEC, defaults_crd},
};

int ks_builtin_types_register(struct ks_store *store)
{
	static const char *const verbs[] = ALL_VERBS;
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		const struct builtin *b = &builtins[i];
		struct ks_resource_type t;
		memset(&t, 0, sizeof(t));
		t.version = KS_RESOURCE_TYPE_VERSION;
		snprintf(t.group, sizeof(t.group), "%s", b->group);
		snprintf(t.api_version, sizeof(t.api_version), "v1");
		snprintf(t.resource, sizeof(t.resource), "%s", b->resource);
		snprintf(t.kind, sizeof(t.kind), "%s", b->kind);
		snprintf(t.singular, sizeof(t.singular), "%s", b->singular);
		t.namespaced = b->namespaced;
		for (int k = 0; k < 4 && b->short_names[k]; k++)
			t.short_names[k] = b->short_names[k];
		t.categories[0] = b->category;
		/* reviews: POST answers, nothing is stored */
		if (!strcmp(b->group, "authorization.k8s.io") ||
		    !strcmp(b->group, "authentication.k8s.io")) {
			t.verbs[0] = "create";
			t.review = true;
		} else {
			for (int k = 0; verbs[k]; k++)
				t.verbs[k] = verbs[k];
		}
		t.subresources = b->sub;
		t.generation = b->gen;
		t.apply_defaults = b->defaults;
		t.returns_object_on_delete = !strcmp(b->resource, "pods") ||
			!strcmp(b->resource, "namespaces") ||
			!strcmp(b->resource, "customresourcedefinitions");
		if (b->sub & KS_SUB_SCALE) {
			snprintf(t.scale_spec_replicas, sizeof(t.scale_spec_replicas), "/spec/replicas");
			snprintf(t.scale_status_replicas, sizeof(t.scale_status_replicas),
				"/status/replicas");
			snprintf(t.scale_label_selector, sizeof(t.scale_label_selector),
				"/spec/selector");
		}
		int rc = ks_store_type_register(store, &t);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * CRDs
 * ------------------------------------------------------------------------- */

static const char *str_at(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* JSONPath ".spec.replicas" -> JSON pointer "/spec/replicas". */
static void jsonpath_to_pointer(const char *path, char *buf, size_t size)
{
	buf[0] = 0;
	if (!path || path[0] != '.')
		return;
	size_t n = 0;
	for (const char *p = path; *p && n + 1 < size; p++)
		buf[n++] = *p == '.' ? '/' : *p;
	buf[n] = 0;
}

int ks_crd_register_types(struct ks_store *store, const cJSON *crd)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(crd, "spec");
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(spec, "names");
	const char *group = str_at(spec, "group");
	const char *plural = str_at(names, "plural");
	const char *kind = str_at(names, "kind");
	if (!group || !plural || !kind)
		return keelson_error_set(KEELSON_EINVALID,
			"CustomResourceDefinition needs spec.group, spec.names.plural and spec.names.kind");
	const cJSON *versions = cJSON_GetObjectItemCaseSensitive(spec, "versions");
	const cJSON *chosen = NULL, *v;
	cJSON_ArrayForEach(v, versions) {
		const cJSON *served = cJSON_GetObjectItemCaseSensitive(v, "served");
		const cJSON *storage = cJSON_GetObjectItemCaseSensitive(v, "storage");
		if (cJSON_IsFalse(served))
			continue;
		if (!chosen || cJSON_IsTrue(storage))
			chosen = v;
	}
	if (!chosen || !str_at(chosen, "name"))
		return keelson_error_set(KEELSON_EINVALID,
			"CustomResourceDefinition %s.%s has no served version", plural, group);

	struct ks_resource_type t;
	memset(&t, 0, sizeof(t));
	t.version = KS_RESOURCE_TYPE_VERSION;
	snprintf(t.group, sizeof(t.group), "%s", group);
	snprintf(t.api_version, sizeof(t.api_version), "%s", str_at(chosen, "name"));
	snprintf(t.resource, sizeof(t.resource), "%s", plural);
	snprintf(t.kind, sizeof(t.kind), "%s", kind);
	const char *lk = str_at(names, "listKind");
	if (lk)
		snprintf(t.list_kind, sizeof(t.list_kind), "%s", lk);
	const char *sg = str_at(names, "singular");
	if (sg) {
		snprintf(t.singular, sizeof(t.singular), "%s", sg);
	} else {
		snprintf(t.singular, sizeof(t.singular), "%s", kind);
		for (char *p = t.singular; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	const char *scope = str_at(spec, "scope");
	t.namespaced = !scope || strcmp(scope, "Cluster") != 0;
	int k = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(names, "shortNames"))
		if (cJSON_IsString(it) && k < KS_MAX_NAMES - 1)
			t.short_names[k++] = it->valuestring;
	k = 0;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(names, "categories"))
		if (cJSON_IsString(it) && k < KS_MAX_NAMES - 1)
			t.categories[k++] = it->valuestring;
	static const char *const verbs[] = ALL_VERBS;
	for (k = 0; verbs[k]; k++)
		t.verbs[k] = verbs[k];
	const cJSON *subs = cJSON_GetObjectItemCaseSensitive(chosen, "subresources");
	if (!subs)
		subs = cJSON_GetObjectItemCaseSensitive(spec, "subresources");
	if (cJSON_GetObjectItemCaseSensitive(subs, "status"))
		t.subresources |= KS_SUB_STATUS;
	const cJSON *scale = cJSON_GetObjectItemCaseSensitive(subs, "scale");
	if (cJSON_IsObject(scale)) {
		t.subresources |= KS_SUB_SCALE;
		jsonpath_to_pointer(str_at(scale, "specReplicasPath"), t.scale_spec_replicas,
			sizeof(t.scale_spec_replicas));
		jsonpath_to_pointer(str_at(scale, "statusReplicasPath"), t.scale_status_replicas,
			sizeof(t.scale_status_replicas));
		jsonpath_to_pointer(str_at(scale, "labelSelectorPath"), t.scale_label_selector,
			sizeof(t.scale_label_selector));
	}
	t.generation = KS_GEN_CUSTOM;
	t.custom = true;
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(chosen, "schema"), "openAPIV3Schema");
	t.schema = (cJSON *)schema; /* copied by register */
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(chosen, "additionalPrinterColumns");
	if (cJSON_GetArraySize(cols) > 0)
		t.printer_columns = (cJSON *)cols;
	return ks_store_type_register(store, &t);
}

/* ---------------------------------------------------------------------------
 * Update validation
 * ------------------------------------------------------------------------- */

static bool spec_equal_except(const cJSON *old_spec, const cJSON *new_spec,
	const char *const *allowed)
{
	cJSON *a = old_spec ? cJSON_Duplicate(old_spec, 1) : cJSON_CreateObject();
	cJSON *b = new_spec ? cJSON_Duplicate(new_spec, 1) : cJSON_CreateObject();
	for (const char *const *k = allowed; *k; k++) {
		cJSON_DeleteItemFromObjectCaseSensitive(a, *k);
		cJSON_DeleteItemFromObjectCaseSensitive(b, *k);
	}
	bool eq = cJSON_Compare(a, b, 1);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return eq;
}

/* Pods: only container images, activeDeadlineSeconds, tolerations and
 * terminationGracePeriodSeconds may change. */
static bool pod_spec_update_allowed(const cJSON *old_spec, const cJSON *new_spec)
{
	cJSON *a = old_spec ? cJSON_Duplicate(old_spec, 1) : cJSON_CreateObject();
	cJSON *b = new_spec ? cJSON_Duplicate(new_spec, 1) : cJSON_CreateObject();
	static const char *const free_fields[] = {"activeDeadlineSeconds", "tolerations",
		"terminationGracePeriodSeconds", NULL};
	for (const char *const *k = free_fields; *k; k++) {
		cJSON_DeleteItemFromObjectCaseSensitive(a, *k);
		cJSON_DeleteItemFromObjectCaseSensitive(b, *k);
	}
	/* nodeName may be set once (binding); it is never cleared. */
	const cJSON *on = cJSON_GetObjectItemCaseSensitive(a, "nodeName");
	if (!cJSON_IsString(on) || !*on->valuestring) {
		cJSON_DeleteItemFromObjectCaseSensitive(a, "nodeName");
		cJSON_DeleteItemFromObjectCaseSensitive(b, "nodeName");
	}
	static const char *const lists[] = {"containers", "initContainers", NULL};
	for (const char *const *l = lists; *l; l++) {
		cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(a, *l))
			cJSON_DeleteItemFromObjectCaseSensitive(c, "image");
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(b, *l))
			cJSON_DeleteItemFromObjectCaseSensitive(c, "image");
	}
	bool eq = cJSON_Compare(a, b, 1);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return eq;
}

int ks_validate_update(const struct ks_resource_type *type, const cJSON *old_object,
	const cJSON *new_object, char *field, size_t field_size, char *detail,
	size_t detail_size)
{
	const cJSON *os = cJSON_GetObjectItemCaseSensitive(old_object, "spec");
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(new_object, "spec");
	if (!strcmp(type->group, "apps") && !strcmp(type->resource, "statefulsets")) {
		static const char *const allowed[] = {"replicas", "ordinals", "template",
			"updateStrategy", "revisionHistoryLimit", "persistentVolumeClaimRetentionPolicy",
			"minReadySeconds", NULL};
		if (!spec_equal_except(os, ns, allowed)) {
			snprintf(field, field_size, "spec");
			snprintf(detail, detail_size,
				"Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden");
			return KEELSON_EINVALID;
		}
	} else if (!type->group[0] && !strcmp(type->resource, "pods")) {
		if (!pod_spec_update_allowed(os, ns)) {
			snprintf(field, field_size, "spec");
			snprintf(detail, detail_size,
				"Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)");
			return KEELSON_EINVALID;
		}
	}
	return 0;
}
