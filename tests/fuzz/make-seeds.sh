#!/usr/bin/env bash
# Regenerates the seed corpora tests/fuzz/corpus/* from the project's test
# fixtures and a few hand-written inputs. The output is committed; run this
# again after fixtures change, then review `git status tests/fuzz/corpus`.
#   bash tests/fuzz/make-seeds.sh [SRCDIR]
set -euo pipefail
top=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
out="$top/tests/fuzz/corpus"
rm -rf "$out"
mkdir -p "$out"/{yaml,kubeconfig,layout,diff,kubesim_patch,kubesim_request,json_api,webhook,metrics,kafka_prom,cass_json,kafka_plan,cassandra_plan,spark_plan}

# --- yaml: the loader's fixtures and a few manifests of the example.
for f in "$top"/tests/unit/yaml-fixtures/*.yaml "$top"/tests/unit/yaml-fixtures/*/*.yaml; do
  cp "$f" "$out/yaml/$(basename "$(dirname "$f")")-$(basename "$f")"
done
for f in keelson.yaml clusters/prod-chicago/kafka-events/statefulset.yaml \
         clusters/prod-chicago/cassandra-chicago/system.yaml; do
  cp "$top/repo-layout/example/$f" "$out/yaml/example-$(echo "$f" | tr / -)"
done
printf 'a: &a [x, y]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n' > "$out/yaml/alias-chain.yaml"
printf 'base: &base {a: 1, b: 2}\nm:\n  <<: *base\n  c: 3\n' > "$out/yaml/merge-key.yaml"

# --- layout: whole repositories in mem_source.h's format.
repo_to_mem() { # DIR -> stdout
  (cd "$1" && find . \( -type f -o -type l \) -name '*' | LC_ALL=C sort | while read -r p; do
    p=${p#./}
    case "$p" in expected-problems|*.md) continue ;; esac
    if [ -L "$p" ]; then
      echo "=== $p -> $(readlink "$p")"
    else
      echo "=== $p"
      cat "$p"
    fi
  done)
}
repo_to_mem "$top/repo-layout/example" > "$out/layout/example"
for d in "$top"/tests/layout/broken/*/; do
  name=$(basename "$d")
  [ "$name" = yaml-limit ] && continue   # 1 MiB bomb: too big for a seed
  repo_to_mem "$d" > "$out/layout/broken-$name"
done
# The smallest valid repository, then hostile paths and links.
cat > "$out/layout/minimal" <<'EOF'
=== keelson.yaml
apiVersion: keelson.dev/v1alpha1
kind: Repository
metadata:
  name: fuzz
spec:
  statusBranch: keelson/status
  policy:
    prune: true
    driftPolicy: alert
    pollInterval: 1m
    driftCheckInterval: 10m
    alertRepeatInterval: 1h
=== clusters/c/cluster.yaml
apiVersion: keelson.dev/v1alpha1
kind: Cluster
metadata:
  name: c
spec:
  kubeContext: c
=== clusters/c/app/system.yaml
apiVersion: keelson.dev/v1alpha1
kind: System
metadata:
  name: app
spec:
  plugin: generic
=== clusters/c/app/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: app
data:
  a: "1"
EOF
{ cat "$out/layout/minimal"; printf '=== clusters/c/app/../../../etc/passwd.yaml\nroot: x\n=== clusters/c/app/link.yaml -> ../../../../etc/shadow\n=== clusters/c/app/dir -> ../app\n=== /abs.yaml\na: 1\n=== tool.sh (x)\n#!/bin/sh\n'; } \
  > "$out/layout/escapes"

# --- kubeconfig
cat > "$out/kubeconfig/token" <<'EOF'
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmFiYwo=
- name: lab
  cluster:
    server: https://lab:6443
    insecure-skip-tls-verify: true
    tls-server-name: kubernetes
    proxy-url: http://proxy:3128
users:
- name: dev-user
  user:
    token: s3cr3t-token
- name: cert-user
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmFiYwo=
    client-key-data: a2V5LWJ5dGVz
- name: exec-user
  user:
    exec: {command: aws}
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: apps}
- name: lab
  context: {cluster: lab, user: cert-user}
EOF
{ echo '#context: lab'; cat "$out/kubeconfig/token"; } > "$out/kubeconfig/named-context"
cat > "$out/kubeconfig/files" <<'EOF'
apiVersion: v1
kind: Config
current-context: f
clusters:
- {name: c, cluster: {server: "https://[::1]:6443", certificate-authority: certs/ca.pem}}
users:
- {name: u, user: {client-certificate: /etc/keelson/client.crt, client-key: client.key, tokenFile: tok}}
contexts:
- {name: f, context: {cluster: c, user: u}}
EOF

# --- diff: desired YAML %% live JSON [%% ignoreDifferences YAML]
cat > "$out/diff/statefulset" <<'EOF'
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources: {requests: {cpu: 500m, memory: 1Gi}}
        ports: [{containerPort: 80, name: http}]
%%
{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"web","namespace":"shop","labels":{"app":"web"},"resourceVersion":"12","uid":"u-1","managedFields":[{"manager":"keelson","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:env":{}}}}}}}}]},"spec":{"replicas":5,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.26","env":[{"name":"A","value":"1"}],"resources":{"requests":{"cpu":"0.5","memory":"1024Mi"}},"ports":[{"containerPort":80,"name":"http","protocol":"TCP"}]}]}}},"status":{"replicas":5}}
%%
- group: apps
  kind: StatefulSet
  jsonPointers: [/spec/replicas, /metadata/annotations/x~1y]
EOF
cat > "$out/diff/secret" <<'EOF'
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData: {password: hunter2}
data: {token: c2VjcmV0}
%%
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"creds","namespace":"shop"},"data":{"token":"b2xk","password":"aHVudGVyMg=="},"type":"Opaque"}
EOF
cat > "$out/diff/configmap-missing" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: a}
data: {"k": "multi\nline\n", "n": "0644", "b": "true", "e": ""}
EOF

# --- kubesim_patch: doc %% patch [%% group/kind]
cat > "$out/kubesim_patch/json-patch" <<'EOF'
{"metadata":{"name":"a","labels":{"x":"1"}},"spec":{"list":[1,2,3]}}
%%
[{"op":"add","path":"/spec/list/-","value":4},{"op":"remove","path":"/metadata/labels/x"},{"op":"test","path":"/metadata/name","value":"a"},{"op":"move","from":"/spec/list/0","path":"/spec/first"},{"op":"copy","from":"/spec","path":"/spec2"},{"op":"replace","path":"/metadata/name","value":"b"}]
EOF
cat > "$out/kubesim_patch/merge" <<'EOF'
{"metadata":{"name":"a","labels":{"x":"1","y":"2"}},"spec":{"replicas":1}}
%%
{"metadata":{"labels":{"x":null,"z":"3"}},"spec":{"replicas":3}}
EOF
cat > "$out/kubesim_patch/strategic" <<'EOF'
{"metadata":{"name":"p","finalizers":["a"]},"spec":{"containers":[{"name":"a","image":"x","env":[{"name":"E","value":"1"}]},{"name":"b","image":"y"}],"volumes":[{"name":"v","emptyDir":{}}]}}
%%
{"metadata":{"finalizers":["b"]},"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}],"containers":[{"name":"a","image":"x2","$patch":"merge"},{"name":"c","image":"z"},{"name":"b","$patch":"delete"}],"volumes":[{"name":"v","$retainKeys":["name"],"configMap":{"name":"c"}}],"$deleteFromPrimitiveList/finalizers":["a"]}}
%%
/Pod
EOF
cat > "$out/kubesim_patch/statefulset" <<'EOF'
{"apiVersion":"apps/v1","kind":"StatefulSet","spec":{"template":{"spec":{"containers":[{"name":"k","ports":[{"containerPort":9092,"protocol":"TCP"}]}]}}}}
%%
{"spec":{"template":{"spec":{"containers":[{"name":"k","ports":[{"containerPort":9404,"name":"metrics"}],"$retainKeys":["name","ports"]}]}}}}
%%
apps/StatefulSet
EOF

# --- kubesim_request: METHOD PATH \n CONTENT-TYPE \n BODY
req() { printf '%s\n%s\n%s' "$2" "$3" "$4" > "$out/kubesim_request/$1"; }
req get-namespaces 'GET /api/v1/namespaces?limit=2&labelSelector=a%3Db,c!%3Dd' '' ''
req create-configmap 'POST /api/v1/namespaces/default/configmaps?fieldManager=fuzz' application/json \
  '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","labels":{"app":"x"}},"data":{"a":"1"}}'
req merge-patch 'PATCH /api/v1/namespaces/default/configmaps/c1' application/merge-patch+json '{"data":{"b":"2","a":null}}'
req json-patch 'PATCH /api/v1/namespaces/default/configmaps/c1?dryRun=All' application/json-patch+json \
  '[{"op":"add","path":"/data/c","value":"3"}]'
req strategic 'PATCH /api/v1/namespaces/default/configmaps/c1' application/strategic-merge-patch+json '{"metadata":{"labels":{"b":"c"}}}'
req apply 'PATCH /apis/apps/v1/namespaces/default/statefulsets/s1?fieldManager=keelson&force=true' application/apply-patch+yaml \
  '{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"s1","namespace":"default"},"spec":{"replicas":1,"serviceName":"s1","selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}'
req list-field-selector 'GET /api/v1/pods?fieldSelector=metadata.name%3Dx,status.phase!%3DRunning&resourceVersion=0' '' ''
req delete 'DELETE /api/v1/namespaces/default/configmaps/c1?propagationPolicy=Foreground' application/json \
  '{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"x"},"gracePeriodSeconds":0}'
req crd 'POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions' application/json \
  '{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"widgets.example.com"},"spec":{"group":"example.com","scope":"Namespaced","names":{"plural":"widgets","singular":"widget","kind":"Widget"},"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","properties":{"size":{"type":"integer","minimum":1}}}}}}}]}}'
req discovery 'GET /apis/apps/v1' '' ''
req openapi 'GET /openapi/v3/api/v1' '' ''
req table 'GET /api/v1/namespaces/default/configmaps' '' ''
req put-status 'PUT /apis/apps/v1/namespaces/default/statefulsets/s1/status' application/json '{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"s1","resourceVersion":"1"},"status":{"replicas":1}}'
req scale 'PATCH /apis/apps/v1/namespaces/default/statefulsets/s1/scale' application/merge-patch+json '{"spec":{"replicas":2}}'

# --- json_api: JSON pointer line, then a document the plugins or the client read.
printf '/executorState/state\n%s' '{"ExecutorState":{"state":"NO_TASK_IN_PROGRESS"},"AnalyzerState":{"isProposalReady":true,"readyGoals":["RackAwareGoal"]},"MonitorState":{"state":"RUNNING","numMonitoredWindows":5,"monitoringCoveragePct":100.0},"version":1}' > "$out/json_api/cruise-control-state"
printf '/userTasks/0/Status\n%s' '{"userTasks":[{"UserTaskId":"7e3f","RequestURL":"POST /kafkacruisecontrol/rebalance?dryrun=false","ClientIdentity":"127.0.0.1","StartMs":1700000000000,"Status":"Completed","originalResponse":"{\"summary\":{}}"}],"version":1}' > "$out/json_api/cruise-control-user-tasks"
printf '/entity/0/STATUS\n%s' '{"entity":[{"DC":"dc1","RACK":"r1","HOST_ID":"9f1c","IS_ALIVE":"true","ENDPOINT_IP":"10.0.0.1","STATUS":"NORMAL,-9223372036854775808","LOAD":"1.2E9","TOKENS":"-9223372036854775808,0"}]}' > "$out/json_api/cassandra-endpoints"
printf '/status_changes/0/status\n%s' '{"id":"j1","type":"decommission","status":"COMPLETED","submit_time":1700000000000,"end_time":1700000001000,"error":null,"status_changes":[{"status":"WAITING","change_time":1700000000000,"message":""}]}' > "$out/json_api/cassandra-job"
printf '/items/0/metadata/name\n%s' '{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"eyJ2IjoxfQ"},"items":[{"metadata":{"name":"kafka-0","namespace":"kafka","labels":{"a~b/c":"1"}},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}]}' > "$out/json_api/pod-list"
printf '/details/causes/0\n%s' '{"kind":"Status","apiVersion":"v1","status":"Failure","message":"x","reason":"Invalid","details":{"causes":[{"reason":"FieldValueInvalid","field":"spec.replicas"}]},"code":422,"n":[1e308,-0,0.1,123456789012345678]}' > "$out/json_api/status"

# --- webhook: signature header line, then the body (signed with the target's secret).
sign() { printf '%s' "$1" | openssl dgst -sha256 -hmac fuzz-webhook-secret -r | cut -d' ' -f1; }
gh='{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567","repository":{"clone_url":"https://github.com/example/config.git","ssh_url":"git@github.com:example/config.git","html_url":"https://github.com/example/config","full_name":"example/config"}}'
printf 'sha256=%s\n%s' "$(sign "$gh")" "$gh" > "$out/webhook/github-push"
gl='{"object_kind":"push","ref":"refs/heads/main","project":{"git_http_url":"https://gitlab.com/example/config.git","git_ssh_url":"git@gitlab.com:example/config.git","path_with_namespace":"example/config"}}'
printf '%s\n%s' "$(sign "$gl")" "$gl" > "$out/webhook/gitlab-push"
ge='{"repository":"ssh://git@github.com:22/Example/Config.git/","ref":"refs/tags/v1"}'
printf 'sha256=%s\n%s' "$(sign "$ge")" "$ge" > "$out/webhook/generic"
printf 'sha256=00\n{"zen":"ping"}' > "$out/webhook/bad-signature"

# --- metrics: label values, help, value.
printf 'kafka-events\nkafka-0\nBroker "restarts" \\ with\\nescapes\n3.5\n' > "$out/metrics/escapes"
printf 'a\nb\n\n-Inf\n' > "$out/metrics/inf"
printf 'sp\xc3\xa4rk\n\n\n1e-300\n' > "$out/metrics/utf8"
# --- kafka_prom: what the JMX exporter (and kubesim's Kafka model) serves.
cat > "$out/kafka_prom/broker" <<'EOF'
# HELP kafka_server_replicamanager_underreplicatedpartitions Attribute exposed for management kafka.server:name=UnderReplicatedPartitions,type=ReplicaManager,attribute=Value
# TYPE kafka_server_replicamanager_underreplicatedpartitions gauge
kafka_server_replicamanager_underreplicatedpartitions 0.0
# TYPE kafka_controller_kafkacontroller_activecontrollercount gauge
kafka_controller_kafkacontroller_activecontrollercount 1
kafka_server_raftmetrics_current_leader -1
# TYPE kafka_cluster_partition_underminisr gauge
kafka_cluster_partition_underminisr{topic="orders",partition="0"} 0
kafka_cluster_partition_underminisr{topic="we\"ird\\ \n",partition="12",} 1 1700000000000
jvm_memory_bytes_used{area="heap"} 1.2345e+08
process_cpu_seconds_total +Inf
go_gc_duration_seconds{quantile="0.5"} NaN
EOF
printf 'a{b="c"} 1\n\n# comment\nb -Inf\n' > "$out/kafka_prom/small"

# --- cass_json: Management API answers.
printf '%s' '{"entity":[{"DC":"dc1","RACK":"r1","HOST_ID":"9f1c","IS_ALIVE":"true","STATUS":"NORMAL,-9223372036854775808","LOAD":"1.2E9"}]}' \
  > "$out/cass_json/endpoints"
printf '%s' '{"id":"j1","status":"COMPLETED","end_time":1.7e12,"error":null,"status_changes":[{"message":"a\u00e9\n\"b\""}],"ok":true,"no":false,"neg":-0.5e-3}' \
  > "$out/cass_json/job"
printf '%s' '{"[-9223372036854775808, 0]":["2 replicas required, but only 1 nodes in the ring"]}' > "$out/cass_json/cluster-probe"
printf '%s' '[]' > "$out/cass_json/empty-array"

# --- kafka_plan: a cluster for the kafka plugin (fake_host.h), after the
# fixtures of tests/kafka/test_kafka_plan.c: 3 brokers of StatefulSet
# kafka, pods at revision rev1 while the StatefulSet is at rev2.
k_metrics() { # URP PARTITIONS ACTIVE -> JSON string of a scrape
  printf '"kafka_server_replicamanager_underreplicatedpartitions %s\\nkafka_server_replicamanager_underminisrpartitioncount 0.0\\nkafka_controller_kafkacontroller_offlinepartitionscount 0\\nkafka_controller_kafkacontroller_activecontrollercount %s\\nkafka_server_replicamanager_partitioncount %s\\nkafka_server_kafkaserver_brokerstate 3\\n"' "$1" "$3" "$2"
}
k_pod() { # ORDINAL HASH READY [WAITING]
  local state='"running":{}'
  [ -n "${4:-}" ] && state="\"waiting\":{\"reason\":\"$4\"}"
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kafka-%s","namespace":"kafka","uid":"u%s","labels":{"app":"kafka","controller-revision-hash":"%s"}},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"%s","lastTransitionTime":"2023-11-14T22:14:00Z"}],"containerStatuses":[{"name":"kafka","state":{%s}}]}}' \
    "$1" "$1" "$2" "$3" "$state"
}
k_sts() { # REPLICAS [live]
  local extra=''
  [ "${2:-}" = live ] && extra=',"status":{"observedGeneration":2,"updateRevision":"rev2","currentRevision":"rev1"}'
  local md='"name":"kafka","namespace":"kafka"'
  [ "${2:-}" = live ] && md="$md"',"generation":2'
  printf '{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{%s},"spec":{"replicas":%s,"updateStrategy":{"type":"OnDelete"},"selector":{"matchLabels":{"app":"kafka"}},"template":{"metadata":{"labels":{"app":"kafka"}},"spec":{"containers":[{"name":"kafka","image":"apache/kafka:3.7.1"}]}}}%s}' \
    "$md" "$1" "$extra"
}
k_ns='{"desired":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kafka"}},"live":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kafka"}}}'
k_http() { # NAME BODY
  printf '{"target":"pod","name":"%s","path":"/metrics","status":200,"body":%s}' "$1" "$2"
}
k_cc='{"target":"service","name":"cc","path":"/kafkacruisecontrol/state","body":{"ExecutorState":{"state":"NO_TASK_IN_PROGRESS"},"version":1}},{"target":"service","name":"cc","path":"/kafkacruisecontrol/kafka_cluster_state","body":{"KafkaPartitionState":{"other":[{"topic":"orders","partition":0,"leader":1,"replicas":[0,1,2],"in-sync":[0,1,2],"out-of-sync":[],"offline":[],"min-isr":2}],"urp":[],"offline":[]}}},{"target":"service","name":"cc","path":"/kafkacruisecontrol/user_tasks","body":{"userTasks":[{"UserTaskId":"t1","RequestURL":"POST /kafkacruisecontrol/remove_broker?brokerid=2&dryrun=false","Status":"InExecution","StartMs":"1700000000000"}],"version":1}}'
k_cluster() { # DESIRED_REPLICAS LIVE_REPLICAS PARAMS PODS HTTP [preview]
  printf '{"now":1700000100000,"preview":%s,"params":%s,"objects":[%s,{"desired":%s,"live":%s}],"cluster":[%s],"http":[%s]}\n' \
    "${6:-false}" "$3" "$k_ns" "$(k_sts "$1")" "$(k_sts "$2" live)" "$4" "$5"
}
k_params='{"statefulSets":["kafka"],"metricsPort":9404}'
k_params_cc='{"statefulSets":["kafka"],"metricsPort":9404,"cruiseControlService":"cc"}'
k_pods="$(k_pod 0 rev1 True),$(k_pod 1 rev1 True),$(k_pod 2 rev1 True)"
k_ok="$(k_http kafka-0 "$(k_metrics 0 18 0)"),$(k_http kafka-1 "$(k_metrics 0 18 1)"),$(k_http kafka-2 "$(k_metrics 0 18 0)")"
k_cluster 3 3 "$k_params" "$k_pods" "$k_ok" > "$out/kafka_plan/roll"
k_cluster 3 3 "$k_params_cc" "$k_pods" "$k_ok,$k_cc" > "$out/kafka_plan/roll-cruise-control"
k_urp="$(k_http kafka-0 "$(k_metrics 2 18 0)"),$(k_http kafka-1 "$(k_metrics 0 18 1)"),$(k_http kafka-2 "$(k_metrics 0 18 0)")"
k_cluster 3 3 "$k_params" "$k_pods" "$k_urp" > "$out/kafka_plan/urp"
k_cluster 3 3 "$k_params" "$(k_pod 0 rev1 True),$(k_pod 1 rev2 False CrashLoopBackOff),$(k_pod 2 rev1 True)" "$k_ok" \
  > "$out/kafka_plan/stuck-new"
k_cluster 3 3 "$k_params" "$(k_pod 0 rev1 True),$(k_pod 1 rev1 False ImagePullBackOff),$(k_pod 2 rev2 True)" "$k_ok" \
  > "$out/kafka_plan/stuck-old"
k_up="$(k_pod 0 rev2 True),$(k_pod 1 rev2 True),$(k_pod 2 rev2 True)"
k_cluster 2 3 "$k_params_cc" "$k_up" "$k_ok,$k_cc" > "$out/kafka_plan/scale-down-cruise-control"
k_empty="$(k_http kafka-0 "$(k_metrics 0 18 0)"),$(k_http kafka-1 "$(k_metrics 0 18 1)"),$(k_http kafka-2 "$(k_metrics 0 0 0)")"
k_cluster 2 3 "$k_params" "$k_up" "$k_empty" > "$out/kafka_plan/scale-down-empty"
k_cluster 3 3 "$k_params_cc" "$k_up" "$k_empty,$k_cc" > "$out/kafka_plan/scale-up-cruise-control"
k_cluster 4 3 "$k_params_cc" "$k_pods" "" true > "$out/kafka_plan/preview"
printf '{"params":%s,"objects":[%s,{"desired":%s}],"unreadable":["Pod"]}\n' "$k_params" "$k_ns" "$(k_sts 3)" \
  > "$out/kafka_plan/create"
k_cluster 3 3 "$k_params" "$k_pods" "$k_ok" | sed 's/"cluster":\[/"unreadable":["Pod"],"cluster":[/' > "$out/kafka_plan/pods-unreadable"

# --- cassandra_plan: a datacenter for the cassandra plugin (fake_host.h),
# after the fixtures of tests/cassandra/test_cassandra_plan.c: StatefulSet
# cass, 3 nodes 10.0.4.1-3, the Management API on 8080.
c_pod() { # ORDINAL HASH READY
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"cass-%s","namespace":"cass","uid":"uid-cass-%s","labels":{"app":"cassandra","rack":"cass","controller-revision-hash":"%s"}},"spec":{"terminationGracePeriodSeconds":1800},"status":{"podIP":"10.0.4.%s","conditions":[{"type":"Ready","status":"%s"}]}}' \
    "$1" "$1" "$2" "$(($1 + 1))" "$3"
}
c_sts() { # REPLICAS IMAGE [live PARTITION]
  local md='"name":"cass","namespace":"cass"' strategy='' status='' ann=''
  if [ "${3:-}" = live ]; then
    md="$md"',"generation":2,"uid":"uid-sts-cass"'
    strategy="\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"partition\":$4}},"
    status=',"status":{"observedGeneration":2,"updateRevision":"rev2","currentRevision":"rev1"}'
    ann=',"annotations":{"cassandra.keelson.dev/config-hash":"cbf29ce484222325"}'
  fi
  printf '{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{%s},"spec":{"replicas":%s,"serviceName":"cass",%s"selector":{"matchLabels":{"app":"cassandra","rack":"cass"}},"template":{"metadata":{"labels":{"app":"cassandra","rack":"cass"}%s},"spec":{"terminationGracePeriodSeconds":1800,"containers":[{"name":"cassandra","image":"%s"}]}},"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"resources":{"requests":{"storage":"10Gi"}}}}]}%s}' \
    "$md" "$1" "$strategy" "$ann" "$2" "$status"
}
c_ring() { # STATUS:ALIVE for nodes 1..3 -> endpoints, schema and keyspace answers of every pod
  local entity='' i=1 sep='' n
  for node in "$@"; do
    entity="$entity$sep{\"DC\":\"dc1\",\"RACK\":\"rack1\",\"ENDPOINT_IP\":\"10.0.4.$i\",\"IS_ALIVE\":\"${node#*:}\",\"STATUS\":\"${node%%:*},-1234\",\"HOST_ID\":\"h$i\"}"
    sep=, i=$((i + 1))
  done
  sep=''
  for n in 0 1 2; do
    printf '%s{"target":"pod","name":"cass-%s","path":"/api/v0/metadata/endpoints","body":{"entity":[%s]}}' "$sep" "$n" "$entity"
    printf ',{"target":"pod","name":"cass-%s","path":"/api/v1/ops/node/schema/versions","body":{"a1":["10.0.4.1","10.0.4.2","10.0.4.3"]}}' "$n"
    printf ',{"target":"pod","name":"cass-%s","path":"/api/v0/ops/keyspace","body":["system","app"]}' "$n"
    printf ',{"target":"pod","name":"cass-%s","path":"/api/v0/ops/keyspace/replication?keyspaceName=system","body":{"class":"org.apache.cassandra.locator.LocalStrategy"}}' "$n"
    printf ',{"target":"pod","name":"cass-%s","path":"/api/v0/ops/keyspace/replication?keyspaceName=app","body":{"class":"org.apache.cassandra.locator.NetworkTopologyStrategy","dc1":"2"}}' "$n"
    sep=,
  done
}
c_mgmt='{"statefulSets":["cass"],"datacenter":"dc1","managementApiPort":8080,"restartTimeout":"5m"}'
c_cluster() { # PARAMS DESIRED LIVE PODS HTTP [preview]
  printf '{"now":1700000000000,"preview":%s,"params":%s,"objects":[{"desired":%s,"live":%s}],"cluster":[%s],"http":[%s]}\n' \
    "${6:-false}" "$1" "$2" "$3" "$4" "$5"
}
c_old="$(c_pod 0 rev1 True),$(c_pod 1 rev1 True),$(c_pod 2 rev1 True)"
c_new="$(c_pod 0 rev2 True),$(c_pod 1 rev2 True),$(c_pod 2 rev2 True)"
c_un=$(c_ring NORMAL:true NORMAL:true NORMAL:true)
c_cluster "$c_mgmt" "$(c_sts 3 cassandra:4.1.6)" "$(c_sts 3 cassandra:4.1.5 live 0)" "$c_old" "$c_un" \
  > "$out/cassandra_plan/new-template"
c_cluster "$c_mgmt" "$(c_sts 3 cassandra:4.1.6)" "$(c_sts 3 cassandra:4.1.6 live 0)" "$c_old" "$c_un" \
  > "$out/cassandra_plan/roll"
c_cluster "$c_mgmt" "$(c_sts 3 cassandra:4.1.6)" "$(c_sts 3 cassandra:4.1.6 live 0)" \
  "$(c_pod 0 rev1 True),$(c_pod 1 rev1 False),$(c_pod 2 rev1 True)" "$(c_ring NORMAL:true NORMAL:false NORMAL:true)" \
  > "$out/cassandra_plan/one-down"
c_cluster "$c_mgmt" "$(c_sts 3 cassandra:4.1.6)" "$(c_sts 3 cassandra:4.1.6 live 0)" "$c_old" \
  "$(c_ring NORMAL:true NORMAL:true LEAVING:true)" > "$out/cassandra_plan/leaving"
c_cluster "$c_mgmt" "$(c_sts 2 cassandra:4.1.6)" "$(c_sts 3 cassandra:4.1.6 live 0)" "$c_new" "$c_un" \
  > "$out/cassandra_plan/scale-down"
c_cluster "$c_mgmt" "$(c_sts 2 cassandra:4.1.6)" "$(c_sts 3 cassandra:4.1.6 live 0)" "$c_new" \
  "$(c_ring NORMAL:true NORMAL:true LEFT:false)" > "$out/cassandra_plan/scale-down-left"
c_cluster "$c_mgmt" "$(c_sts 4 cassandra:4.1.6)" "$(c_sts 3 cassandra:4.1.6 live 0)" "$c_new" "$c_un" \
  > "$out/cassandra_plan/scale-up"
c_cluster '{"statefulSets":["cass"],"datacenter":"dc1"}' "$(c_sts 3 cassandra:4.1.6)" \
  "$(c_sts 3 cassandra:4.1.6 live 0)" "$c_old" "" > "$out/cassandra_plan/no-management-api"
c_cluster "$c_mgmt" "$(c_sts 2 cassandra:4.1.7)" "$(c_sts 3 cassandra:4.1.6 live 0)" "" "" true \
  > "$out/cassandra_plan/preview"

# --- spark_plan: SparkApplications for the spark plugin (fake_host.h),
# after the fixtures of tests/spark/test_spark.c. The record's spec hash
# a6aed523b9b34907 is what the plugin computes for s_spec (a spec change
# is any other spec), 9dbf255c-... the id of its first submission.
s_spec() { # IMAGE
  printf '{"type":"Scala","mode":"cluster","image":"apache/spark:%s","mainClass":"com.acme.Etl","mainApplicationFile":"local:///opt/etl.jar","restartPolicy":{"type":"OnFailure","onFailureRetries":2,"onFailureRetryInterval":10},"driver":{"cores":1,"memory":"2g","serviceAccount":"spark"},"executor":{"instances":2,"cores":1,"memory":"2g"}}' "$1"
}
s_sub=9dbf255c-3e00-4558-a049-754c11f8812f
s_app() { # IMAGE [STATE]
  local ann=''
  [ -n "${2:-}" ] && ann=",\"annotations\":{\"keelson.dev/spark-state\":\"$2\",\"keelson.dev/spark-spec-hash\":\"a6aed523b9b34907\",\"keelson.dev/spark-submission-attempts\":\"1\",\"keelson.dev/spark-execution-attempts\":\"1\",\"keelson.dev/spark-last-submission-ms\":\"1700000000000\",\"keelson.dev/spark-submission-id\":\"$s_sub\",\"keelson.dev/spark-termination-ms\":\"0\",\"keelson.dev/spark-last-failure\":\"\"}"
  printf '{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication","metadata":{"name":"etl","namespace":"jobs","uid":"app-uid"%s},"spec":%s}' "$ann" "$(s_spec "$1")"
}
s_desired() { printf '{"apiVersion":"sparkoperator.k8s.io/v1beta2","kind":"SparkApplication","metadata":{"name":"etl","namespace":"jobs"},"spec":%s}' "$(s_spec "$1")"; }
s_pod() { # ROLE NAME PHASE [EXIT_CODE]
  local state='"running":{}'
  [ -n "${4:-}" ] && state="\"terminated\":{\"exitCode\":$4,\"reason\":\"Error\"}"
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"jobs","uid":"uid-%s","labels":{"sparkoperator.k8s.io/app-name":"etl","spark-role":"%s","sparkoperator.k8s.io/submission-id":"%s","keelson.dev/spark-attempt":"1"}},"status":{"phase":"%s","containerStatuses":[{"name":"spark-kubernetes-driver","state":{%s}}]}}' \
    "$2" "$2" "$1" "$s_sub" "$3" "$state"
}
s_ns='{"desired":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"jobs"}},"live":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"jobs"}}}'
s_cluster() { # PARAMS DESIRED LIVE PODS [preview]
  local live=''
  [ -n "$3" ] && live=",\"live\":$3"
  printf '{"now":1700000060000,"preview":%s,"params":%s,"objects":[%s,{"desired":%s%s}],"cluster":[%s]}\n' \
    "${5:-false}" "$1" "$s_ns" "$2" "$live" "$4"
}
s_native='{"mode":"native","driverPodCreationGracePeriod":"10s","killTimeout":"1m"}'
s_running="$(s_pod driver etl-driver Running),$(s_pod executor etl-exec-1 Running)"
s_cluster "$s_native" "$(s_desired 3.5.1)" "" "" > "$out/spark_plan/missing"
s_cluster "$s_native" "$(s_desired 3.5.1)" "$(s_app 3.5.1)" "" > "$out/spark_plan/submit"
s_cluster "$s_native" "$(s_desired 3.5.1)" "$(s_app 3.5.1)" "$(s_pod executor etl-exec-1 Running)" \
  > "$out/spark_plan/submit-executor-left"
s_cluster "$s_native" "$(s_desired 3.5.1)" "$(s_app 3.5.1 SUBMITTED)" "$s_running" > "$out/spark_plan/running"
s_cluster "$s_native" "$(s_desired 3.5.2)" "$(s_app 3.5.1 RUNNING)" "$s_running" > "$out/spark_plan/spec-change"
s_cluster '{"mode":"native","onSpecChange":"waitForCompletion"}' "$(s_desired 3.5.2)" "$(s_app 3.5.1 RUNNING)" \
  "$s_running" > "$out/spark_plan/spec-change-wait"
s_cluster "$s_native" "$(s_desired 3.5.1)" "$(s_app 3.5.1 RUNNING)" "$(s_pod driver etl-driver Failed 1)" \
  > "$out/spark_plan/failed-retry"
s_cluster "$s_native" "$(s_desired 3.5.1)" "$(s_app 3.5.1 RUNNING)" "$(s_pod driver etl-driver Succeeded 0)" \
  > "$out/spark_plan/succeeded"
s_cluster "$s_native" "$(s_desired 3.5.1)" "$(s_app 3.5.1 RUNNING)" "" > "$out/spark_plan/driver-missing"
s_cluster "$s_native" "$(s_desired 3.5.1)" "$(s_app 3.5.1)" "" | sed 's/"cluster":\[/"unreadable":["Pod"],"cluster":[/' \
  > "$out/spark_plan/pods-unreadable"
s_cluster '{"mode":"operator"}' "$(s_desired 3.5.2)" "$(s_app 3.5.1 RUNNING)" "$s_running" > "$out/spark_plan/operator"
s_cluster "$s_native" "$(s_desired 3.5.2)" "$(s_app 3.5.1)" "" true > "$out/spark_plan/preview"

echo "seeds: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1)"
