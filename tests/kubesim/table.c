#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/kubesim/server.h"

/* Column sets after the real server's printers (K pkg/printers/
 * internalversion/printers.go), reduced to what the cells below fill. */
struct column {
	const char *name, *type, *format;
	int priority;
};

static const struct column name_col = {"Name", "string", "name", 0};
static const struct column age_col = {"Age", "string", "", 0};

static const struct column pod_cols[] = {{"Ready", "string", "", 0},
	{"Status", "string", "", 0}, {"Restarts", "string", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column ready_cols[] = {{"Ready", "string", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column deploy_cols[] = {{"Ready", "string", "", 0},
	{"Up-to-date", "integer", "", 0}, {"Available", "integer", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column status_cols[] = {{"Status", "string", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column data_cols[] = {{"Data", "integer", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column secret_cols[] = {{"Type", "string", "", 0},
	{"Data", "integer", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column svc_cols[] = {{"Type", "string", "", 0},
	{"Cluster-IP", "string", "", 0}, {"External-IP", "string", "", 0},
	{"Port(s)", "string", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column lease_cols[] = {{"Holder", "string", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column node_cols[] = {{"Status", "string", "", 0},
	{"Roles", "string", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column job_cols[] = {{"Status", "string", "", 0},
	{"Completions", "string", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column event_cols[] = {{"Type", "string", "", 0},
	{"Reason", "string", "", 0}, {"Object", "string", "", 0}, {"Message", "string", "", 0},
	{NULL, NULL, NULL, 0}};
static const struct column pc_cols[] = {{"Value", "integer", "", 0},
	{"Global-Default", "boolean", "", 0}, {NULL, NULL, NULL, 0}};
static const struct column none_cols[] = {{NULL, NULL, NULL, 0}};

static bool is(const struct ks_resource_type *t, const char *group, const char *resource)
{
	return !strcmp(t->group, group) && !strcmp(t->resource, resource);
}

static const struct column *extra_columns(const struct ks_resource_type *t)
{
	if (is(t, "", "pods"))
		return pod_cols;
	if (is(t, "apps", "statefulsets") || is(t, "apps", "replicasets"))
		return ready_cols;
	if (is(t, "apps", "deployments"))
		return deploy_cols;
	if (is(t, "", "namespaces") || is(t, "", "persistentvolumeclaims"))
		return status_cols;
	if (is(t, "", "configmaps"))
		return data_cols;
	if (is(t, "", "secrets"))
		return secret_cols;
	if (is(t, "", "services"))
		return svc_cols;
	if (is(t, "coordination.k8s.io", "leases"))
		return lease_cols;
	if (is(t, "scheduling.k8s.io", "priorityclasses"))
		return pc_cols;
	if (is(t, "", "nodes"))
		return node_cols;
	if (is(t, "batch", "jobs"))
		return job_cols;
	if (is(t, "", "events") || is(t, "events.k8s.io", "events"))
		return event_cols;
	return none_cols;
}

static void add_column(cJSON *cols, const struct column *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", c->name);
	cJSON_AddStringToObject(o, "type", c->type);
	cJSON_AddStringToObject(o, "format", c->format);
	cJSON_AddStringToObject(o, "description", "");
	cJSON_AddNumberToObject(o, "priority", c->priority);
	cJSON_AddItemToArray(cols, o);
}

/* additionalPrinterColumns JSONPath subset: ".a.b", "[N]" indexes and
 * "[?(@.key==\"value\")]" filters. Returns a borrowed node or NULL. */
static const cJSON *jsonpath_get(const cJSON *root, const char *path)
{
	const cJSON *cur = root;
	const char *p = path;
	if (*p == '{')
		p++;
	while (cur && *p && *p != '}') {
		if (*p == '.') {
			p++;
			char name[128];
			size_t n = 0;
			while (*p && *p != '.' && *p != '[' && *p != '}' && n < sizeof(name) - 1)
				name[n++] = *p++;
			name[n] = 0;
			if (n)
				cur = cJSON_GetObjectItemCaseSensitive(cur, name);
		} else if (*p == '[') {
			const char *end = strchr(p, ']');
			if (!end)
				return NULL;
			if (p[1] == '?') {
				/* [?(@.key=="value")] */
				char key[128] = "", val[128] = "";
				if (sscanf(p, "[?(@.%127[^=]==\"%127[^\"]\")]", key, val) != 2 &&
				    sscanf(p, "[?(@.%127[^=]=='%127[^']')]", key, val) != 2)
					return NULL;
				const cJSON *found = NULL, *el;
				cJSON_ArrayForEach(el, cur) {
					const cJSON *k = cJSON_GetObjectItemCaseSensitive(el, key);
					if (cJSON_IsString(k) && !strcmp(k->valuestring, val)) {
						found = el;
						break;
					}
				}
				cur = found;
			} else {
				cur = cJSON_GetArrayItem(cur, atoi(p + 1));
			}
			p = end + 1;
		} else {
			return NULL;
		}
	}
	return cur;
}

static void human_duration(double secs, char *buf, size_t size);

static cJSON *printer_cell(const cJSON *col, const cJSON *obj)
{
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(col, "jsonPath");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(col, "type");
	const cJSON *v = cJSON_IsString(path) ? jsonpath_get(obj, path->valuestring) : NULL;
	if (!v || cJSON_IsNull(v))
		return cJSON_CreateNull();
	if (cJSON_IsString(type) && !strcmp(type->valuestring, "date") && cJSON_IsString(v)) {
		double t;
		char buf[64];
		if (ks_clock_parse(v->valuestring, &t) == 0) {
			human_duration(ks_clock_now() - t, buf, sizeof(buf));
			return cJSON_CreateString(buf);
		}
	}
	if (cJSON_IsString(v) || cJSON_IsNumber(v) || cJSON_IsBool(v))
		return cJSON_Duplicate(v, 0);
	char *text = cJSON_PrintUnformatted(v);
	cJSON *cell = cJSON_CreateString(text ? text : "");
	free(text);
	return cell;
}

cJSON *ks_table_columns(const struct ks_resource_type *type)
{
	cJSON *cols = cJSON_CreateArray();
	if (type->printer_columns) {
		add_column(cols, &name_col);
		const cJSON *pc;
		cJSON_ArrayForEach(pc, type->printer_columns) {
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(pc, "name");
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(pc, "type");
			const cJSON *pr = cJSON_GetObjectItemCaseSensitive(pc, "priority");
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(pc, "description");
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", cJSON_IsString(n) ? n->valuestring : "");
			cJSON_AddStringToObject(o, "type", cJSON_IsString(t) && strcmp(t->valuestring, "date")
				? t->valuestring : "string");
			cJSON_AddStringToObject(o, "format", "");
			cJSON_AddStringToObject(o, "description", cJSON_IsString(d) ? d->valuestring : "");
			cJSON_AddNumberToObject(o, "priority", cJSON_IsNumber(pr) ? pr->valuedouble : 0);
			cJSON_AddItemToArray(cols, o);
		}
		return cols;
	}
	add_column(cols, &name_col);
	for (const struct column *c = extra_columns(type); c->name; c++)
		add_column(cols, c);
	add_column(cols, &age_col);
	return cols;
}

/* apimachinery duration.HumanDuration. */
static void human_duration(double secs, char *buf, size_t size)
{
	if (secs < 0)
		secs = 0;
	long s = (long)secs;
	if (s < 120)
		snprintf(buf, size, "%lds", s);
	else if (s < 600)
		snprintf(buf, size, s % 60 ? "%ldm%lds" : "%ldm", s / 60, s % 60);
	else if (s < 3 * 3600)
		snprintf(buf, size, "%ldm", s / 60);
	else if (s < 8 * 3600)
		snprintf(buf, size, (s % 3600) / 60 ? "%ldh%ldm" : "%ldh", s / 3600, (s % 3600) / 60);
	else if (s < 48 * 3600)
		snprintf(buf, size, "%ldh", s / 3600);
	else if (s < 8 * 86400)
		snprintf(buf, size, (s % 86400) / 3600 ? "%ldd%ldh" : "%ldd", s / 86400,
			(s % 86400) / 3600);
	else
		snprintf(buf, size, "%ldd", s / 86400);
}

static const cJSON *at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
	return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static long num(const cJSON *v)
{
	return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

static const char *text(const cJSON *v, const char *def)
{
	return cJSON_IsString(v) ? v->valuestring : def;
}

static void pod_cells(cJSON *cells, const cJSON *pod)
{
	const cJSON *containers = at(pod, "spec", "containers");
	const cJSON *statuses = at(pod, "status", "containerStatuses");
	int total = cJSON_GetArraySize(containers), ready = 0;
	long restarts = 0;
	const cJSON *cs;
	const char *reason = text(at(pod, "status", "phase"), "Pending");
	cJSON_ArrayForEach(cs, statuses) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "ready")))
			ready++;
		restarts += num(cJSON_GetObjectItemCaseSensitive(cs, "restartCount"));
		const cJSON *waiting = at(cJSON_GetObjectItemCaseSensitive(cs, "state"), "waiting",
			"reason");
		if (cJSON_IsString(waiting))
			reason = waiting->valuestring;
	}
	if (ks_meta_string(pod, "deletionTimestamp"))
		reason = "Terminating";
	char buf[32];
	snprintf(buf, sizeof(buf), "%d/%d", ready, total);
	cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
	cJSON_AddItemToArray(cells, cJSON_CreateString(reason));
	cJSON_AddItemToArray(cells, cJSON_CreateNumber((double)restarts));
}

static void service_cells(cJSON *cells, const cJSON *svc)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(svc, "spec");
	cJSON_AddItemToArray(cells, cJSON_CreateString(text(at(spec, "type", NULL), "ClusterIP")));
	cJSON_AddItemToArray(cells, cJSON_CreateString(text(at(spec, "clusterIP", NULL), "<none>")));
	cJSON_AddItemToArray(cells, cJSON_CreateString("<none>"));
	char ports[256] = "";
	size_t off = 0;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(spec, "ports")) {
		int w = snprintf(ports + off, sizeof(ports) - off, "%s%ld/%s", off ? "," : "",
			num(cJSON_GetObjectItemCaseSensitive(p, "port")),
			text(cJSON_GetObjectItemCaseSensitive(p, "protocol"), "TCP"));
		if (w < 0 || (size_t)w >= sizeof(ports) - off)
			break;
		off += (size_t)w;
	}
	cJSON_AddItemToArray(cells, cJSON_CreateString(off ? ports : "<none>"));
}

cJSON *ks_table_row(const struct ks_resource_type *t, const cJSON *obj)
{
	cJSON *row = cJSON_CreateObject();
	cJSON *cells = cJSON_AddArrayToObject(row, "cells");
	const char *name = ks_meta_string(obj, "name");
	cJSON_AddItemToArray(cells, cJSON_CreateString(name ? name : ""));
	char buf[64];
	if (t->printer_columns) {
		const cJSON *pc;
		cJSON_ArrayForEach(pc, t->printer_columns)
			cJSON_AddItemToArray(cells, printer_cell(pc, obj));
		goto object;
	}
	if (is(t, "", "pods")) {
		pod_cells(cells, obj);
	} else if (is(t, "apps", "statefulsets") || is(t, "apps", "replicasets")) {
		snprintf(buf, sizeof(buf), "%ld/%ld", num(at(obj, "status", "readyReplicas")),
			num(at(obj, "spec", "replicas")));
		cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
	} else if (is(t, "apps", "deployments")) {
		snprintf(buf, sizeof(buf), "%ld/%ld", num(at(obj, "status", "readyReplicas")),
			num(at(obj, "spec", "replicas")));
		cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
		cJSON_AddItemToArray(cells, cJSON_CreateNumber(
			(double)num(at(obj, "status", "updatedReplicas"))));
		cJSON_AddItemToArray(cells, cJSON_CreateNumber(
			(double)num(at(obj, "status", "availableReplicas"))));
	} else if (is(t, "", "namespaces") || is(t, "", "persistentvolumeclaims")) {
		cJSON_AddItemToArray(cells, cJSON_CreateString(text(at(obj, "status", "phase"), "")));
	} else if (is(t, "", "configmaps")) {
		int n = cJSON_GetArraySize(at(obj, "data", NULL)) +
			cJSON_GetArraySize(at(obj, "binaryData", NULL));
		cJSON_AddItemToArray(cells, cJSON_CreateNumber(n));
	} else if (is(t, "", "secrets")) {
		cJSON_AddItemToArray(cells, cJSON_CreateString(text(at(obj, "type", NULL), "Opaque")));
		cJSON_AddItemToArray(cells, cJSON_CreateNumber(cJSON_GetArraySize(at(obj, "data", NULL))));
	} else if (is(t, "", "services")) {
		service_cells(cells, obj);
	} else if (is(t, "", "nodes")) {
		const char *ready = "Unknown";
		const cJSON *cond;
		cJSON_ArrayForEach(cond, at(obj, "status", "conditions")) {
			const char *ct = text(cJSON_GetObjectItemCaseSensitive(cond, "type"), "");
			if (!strcmp(ct, "Ready"))
				ready = !strcmp(text(cJSON_GetObjectItemCaseSensitive(cond, "status"), ""),
					"True") ? "Ready" : "NotReady";
		}
		bool unsched = cJSON_IsTrue(at(obj, "spec", "unschedulable"));
		snprintf(buf, sizeof(buf), "%s%s", ready, unsched ? ",SchedulingDisabled" : "");
		cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
		cJSON_AddItemToArray(cells, cJSON_CreateString("<none>"));
	} else if (is(t, "batch", "jobs")) {
		const char *status = "Running";
		const cJSON *cond;
		cJSON_ArrayForEach(cond, at(obj, "status", "conditions")) {
			const char *ct = text(cJSON_GetObjectItemCaseSensitive(cond, "type"), "");
			bool on = !strcmp(text(cJSON_GetObjectItemCaseSensitive(cond, "status"), ""), "True");
			if (on && !strcmp(ct, "Complete"))
				status = "Complete";
			else if (on && !strcmp(ct, "Failed"))
				status = "Failed";
			else if (on && !strcmp(ct, "Suspended"))
				status = "Suspended";
		}
		cJSON_AddItemToArray(cells, cJSON_CreateString(status));
		snprintf(buf, sizeof(buf), "%ld/%ld", num(at(obj, "status", "succeeded")),
			cJSON_IsNumber(at(obj, "spec", "completions")) ? num(at(obj, "spec", "completions"))
								      : 1);
		cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
	} else if (is(t, "", "events") || is(t, "events.k8s.io", "events")) {
		const cJSON *inv = cJSON_GetObjectItemCaseSensitive(obj, "involvedObject");
		if (!inv)
			inv = cJSON_GetObjectItemCaseSensitive(obj, "regarding");
		cJSON_AddItemToArray(cells, cJSON_CreateString(text(at(obj, "type", NULL), "Normal")));
		cJSON_AddItemToArray(cells, cJSON_CreateString(text(at(obj, "reason", NULL), "")));
		char ob[320];
		const char *k = text(cJSON_GetObjectItemCaseSensitive(inv, "kind"), "");
		char lower[64];
		size_t i = 0;
		for (; k[i] && i < sizeof(lower) - 1; i++)
			lower[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] - 'A' + 'a' : k[i]);
		lower[i] = 0;
		snprintf(ob, sizeof(ob), "%s/%s", lower,
			text(cJSON_GetObjectItemCaseSensitive(inv, "name"), ""));
		cJSON_AddItemToArray(cells, cJSON_CreateString(ob));
		const char *msg = text(at(obj, "message", NULL), text(at(obj, "note", NULL), ""));
		cJSON_AddItemToArray(cells, cJSON_CreateString(msg));
	} else if (is(t, "coordination.k8s.io", "leases")) {
		cJSON_AddItemToArray(cells, cJSON_CreateString(
			text(at(obj, "spec", "holderIdentity"), "")));
	} else if (is(t, "scheduling.k8s.io", "priorityclasses")) {
		cJSON_AddItemToArray(cells, cJSON_CreateNumber((double)num(at(obj, "value", NULL))));
		cJSON_AddItemToArray(cells,
			cJSON_CreateBool(cJSON_IsTrue(at(obj, "globalDefault", NULL))));
	}
	double created = 0;
	const char *ct = ks_meta_string(obj, "creationTimestamp");
	if (ct && ks_clock_parse(ct, &created) == 0)
		human_duration(ks_clock_now() - created, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "<unknown>");
	cJSON_AddItemToArray(cells, cJSON_CreateString(buf));
object:;
	cJSON *pom = cJSON_AddObjectToObject(row, "object");
	cJSON_AddStringToObject(pom, "kind", "PartialObjectMetadata");
	cJSON_AddStringToObject(pom, "apiVersion", "meta.k8s.io/v1");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *m = meta ? cJSON_Duplicate(meta, 1) : cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(m, "managedFields");
	cJSON_AddItemToObject(pom, "metadata", m);
	return row;
}

cJSON *ks_table_new(const struct ks_resource_type *type, bool with_columns)
{
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "kind", "Table");
	cJSON_AddStringToObject(t, "apiVersion", "meta.k8s.io/v1");
	cJSON_AddObjectToObject(t, "metadata");
	cJSON_AddItemToObject(t, "columnDefinitions",
		with_columns ? ks_table_columns(type) : cJSON_CreateArray());
	cJSON_AddArrayToObject(t, "rows");
	return t;
}
