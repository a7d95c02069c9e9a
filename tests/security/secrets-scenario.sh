#!/bin/sh
# Secrets never leak, TLS is verified by default, state files are private.
#
# A full scenario with every kind of credential keelson handles, each a
# fresh random value: kubesim's bearer token, a Git HTTPS password (Basic
# auth, behind TLS with a private CA), a GitHub webhook secret, the HMAC
# secret of the alert webhook, and a Secret object in the repository. keelson
# sync, run (HTTP endpoint, webhooks, status branch, alerts), diff and the
# error paths (wrong Git password, wrong token) run at debug log level; then
# every output is searched for every secret: keelson's stdout and stderr,
# kubesim's request log, the Git server's request log, the status branch,
# /metrics and webhook answers, and the Git cache's files. Also: a
# kubeconfig without the CA is refused, insecure-skip-tls-verify works but
# is logged, Git over HTTPS without the CA is refused, and the Git cache
# directory is created 0700.
# Needs $KUBECTL, git, curl, openssl and python3 (skipped with 77 without).
set -u
for tool in git curl openssl python3; do
	command -v $tool >/dev/null 2>&1 || { echo "secrets-scenario: no $tool, skipping"; exit 77; }
done
[ -n "${KUBECTL:-}" ] || { echo "secrets-scenario: KUBECTL is empty, skipping"; exit 77; }
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
KEELSON=$builddir/keelson
GIT_HTTP=$builddir/tests/git/git_http_server
[ -x "$KEELSON" ] && [ -x "$GIT_HTTP" ] || { echo "secrets-scenario: keelson or git_http_server not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/keelson-secrets.XXXXXX")
. "$srcdir/tests/lib/kubesim.sh"
daemon=
git_pid=
cleanup() {
	for p in $daemon $git_pid; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	kubesim_stop
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
step=setup
fail() {
	echo "secrets-scenario: FAIL [$step]: $*"
	for f in "$work"/out/*; do
		[ -f "$f" ] && { echo "--- $f (last 15 lines)"; tail -n 15 "$f"; }
	done
	exit 1
}
rand() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
out="$work/out"
mkdir -p "$out" "$work/creds" "$work/tls"

GIT_PASSWORD=gitpw-$(rand)
WRONG_PASSWORD=wrongpw-$(rand)
WEBHOOK_SECRET=whsec-$(rand)
ALERT_SECRET=alertsec-$(rand)
SECRET_VALUE=secretvalue-$(rand)
WRONG_TOKEN=wrongtoken-$(rand)

kubesim_start "$work" --log-level debug || fail "kubesim did not start"
KUBE_TOKEN=$KUBESIM_TOKEN
[ -n "$KUBE_TOKEN" ] || fail "kubesim wrote no token"

# A private CA and a certificate for 127.0.0.1 (the Git server's).
step="certificates"
(cd "$work/tls" &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=keelson test CA' &&
	openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' &&
	printf 'subjectAltName=IP:127.0.0.1\n' > san.ext &&
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
		-extfile san.ext) >"$work/openssl.log" 2>&1 || fail "openssl: $(cat "$work/openssl.log")"

step="repository"
repo="$work/checkout"
mkdir -p "$repo/clusters/sim/web"
cat >"$repo/keelson.yaml" <<EOF
apiVersion: keelson.dev/v1alpha1
kind: Repository
metadata:
  name: secrets-test
spec:
  statusBranch: keelson/status
  policy:
    prune: true
    driftPolicy: alert
    pollInterval: 1s
    driftCheckInterval: 2s
    alertRepeatInterval: 1s
EOF
cat >"$repo/clusters/sim/cluster.yaml" <<EOF
apiVersion: keelson.dev/v1alpha1
kind: Cluster
metadata:
  name: sim
spec:
  kubeContext: kubesim
EOF
cat >"$repo/clusters/sim/web/system.yaml" <<EOF
apiVersion: keelson.dev/v1alpha1
kind: System
metadata:
  name: web
spec:
  plugin: generic
EOF
cat >"$repo/clusters/sim/web/namespace.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: web
EOF
cat >"$repo/clusters/sim/web/secret.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: web-credentials
  namespace: web
stringData:
  password: $SECRET_VALUE
EOF
cat >"$repo/clusters/sim/web/configmap.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: web
data:
  mode: production
EOF
git_in() { git -C "$repo" -c user.name=test -c user.email=test@example.com "$@" >/dev/null 2>&1 || fail "git $*"; }
git init -q -b main "$repo" || fail "git init"
git_in add -A
git_in commit -q -m "web with a Secret"
mkdir -p "$work/srv"
git clone -q --bare "$repo" "$work/srv/config.git" || fail "bare clone"
git -C "$work/srv/config.git" config http.receivepack true
git_in remote add origin "$work/srv/config.git"

step="Git server (HTTPS, Basic auth)"
printf '%s\n' "$GIT_PASSWORD" >"$work/creds/git-password"
"$GIT_HTTP" --root "$work/srv" --port-file "$work/git.port" --log "$out/git-server.log" \
	--user keelson-bot --password-file "$work/creds/git-password" \
	--tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server.key" >"$out/git-server.err" 2>&1 &
git_pid=$!
i=0
until [ -s "$work/git.port" ]; do
	i=$((i + 1))
	[ $i -le 300 ] || fail "git_http_server did not start"
	sleep 0.1
done
git_url="https://127.0.0.1:$(cat "$work/git.port")/config.git"

printf 'keelson-bot\n' >"$work/creds/git-user"
printf '%s\n' "$GIT_PASSWORD" >"$work/creds/git-token"
printf '%s\n' "$WRONG_PASSWORD" >"$work/creds/git-token-wrong"
printf '%s\n' "$WEBHOOK_SECRET" >"$work/creds/github-secret"
printf '%s\n' "$ALERT_SECRET" >"$work/creds/alert-secret"

# write_config FILE TOKEN_FILE [CA_FILE] [KUBECONFIG]
write_config() {
	{
		echo "git:"
		echo "  url: $git_url"
		echo "  ref: main"
		echo "  cacheDir: $work/state/git"
		echo "  pollInterval: 1s"
		echo "  usernameFile: $work/creds/git-user"
		echo "  tokenFile: $2"
		[ -n "${3:-}" ] && echo "  caFile: $3"
		echo "clusters:"
		echo "  - name: sim"
		echo "    kubeconfig: ${4:-$KUBECONFIG}"
		echo "    context: kubesim"
		echo "retry:"
		echo "  initialBackoff: 200ms"
		echo "  maxBackoff: 1s"
		echo "http:"
		echo "  listen: 127.0.0.1:0"
		echo "  githubSecretFile: $work/creds/github-secret"
		echo "status:"
		echo "  interval: 1s"
		echo "alerts:"
		echo "  webhookUrl: http://127.0.0.1:9/keelson-alerts"
		echo "  webhookSecretFile: $work/creds/alert-secret"
		echo "  repeatInterval: 1s"
	} >"$1"
}
write_config "$work/keelson.yaml" "$work/creds/git-token" "$work/tls/ca.pem"
write_config "$work/keelson-wrong-password.yaml" "$work/creds/git-token-wrong" "$work/tls/ca.pem"
write_config "$work/keelson-no-ca.yaml" "$work/creds/git-token"

step="TLS: Git over HTTPS without the CA is refused"
"$KEELSON" --log-level debug sync --once --config "$work/keelson-no-ca.yaml" >"$out/sync-no-ca.out" 2>&1 &&
	fail "sync trusted a Git server whose CA it was not given"
grep -q "not trusted" "$out/sync-no-ca.out" || fail "no 'not trusted' in: $(tail -n 5 "$out/sync-no-ca.out")"
rm -rf "$work/state"

step="a wrong Git password is reported without being shown"
"$KEELSON" --log-level debug sync --once --config "$work/keelson-wrong-password.yaml" \
	>"$out/sync-wrong-password.out" 2>&1 && fail "sync with a wrong Git password succeeded"
grep -qi "credential\|authenticat\|401\|rejected" "$out/sync-wrong-password.out" ||
	fail "the failure does not say the credentials were refused: $(tail -n 5 "$out/sync-wrong-password.out")"
rm -rf "$work/state"

step="sync --once"
"$KEELSON" --log-level debug sync --once --config "$work/keelson.yaml" >"$out/sync.out" 2>&1 ||
	fail "sync --once failed"
# kubesim keeps stringData as written (the apiserver would move it to data).
live_data=$("$KUBECTL" get secret web-credentials -n web -o jsonpath='{.data.password}' 2>/dev/null) ||
	fail "the Secret was not applied"
live_string=$("$KUBECTL" get secret web-credentials -n web -o jsonpath='{.stringData.password}' 2>/dev/null)
[ "$live_string" = "$SECRET_VALUE" ] || [ "$(printf '%s' "$live_data" | base64 -d 2>/dev/null)" = "$SECRET_VALUE" ] ||
	fail "the Secret holds the wrong value"

step="the Git cache is private"
mode=$(stat -c %a "$work/state")
[ "$mode" = 700 ] || fail "keelson created $work/state with mode $mode, expected 700"
for d in "$work"/state/git/*; do
	mode=$(stat -c %a "$d")
	[ "$mode" = 700 ] || fail "Git cache $d has mode $mode, expected 700"
done

step="keelson run: HTTP endpoint, webhooks, drift alert, status branch"
"$KEELSON" --log-level debug run --config "$work/keelson.yaml" >"$out/run.out" 2>&1 &
daemon=$!
i=0
until port=$(sed -n 's/.*HTTP server listening.* port=\([0-9]*\).*/\1/p' "$out/run.out" | head -n 1) && [ -n "$port" ]; do
	i=$((i + 1))
	[ $i -le 300 ] || fail "the daemon did not report its HTTP port"
	kill -0 "$daemon" 2>/dev/null || fail "the daemon exited"
	sleep 0.1
done
base="http://127.0.0.1:$port"
i=0
until curl -sf "$base/readyz" >"$out/readyz.out" 2>&1; do
	i=$((i + 1))
	[ $i -le 300 ] || fail "not ready: $(curl -s "$base/readyz")"
	sleep 0.1
done
push='{"ref":"refs/heads/main","repository":{"clone_url":"'"$git_url"'"}}'
sig=$(printf '%s' "$push" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" -r | cut -d' ' -f1)
code=$(curl -s -o "$out/hook-good.out" -w '%{http_code}' -H 'X-GitHub-Event: push' \
	-H "X-Hub-Signature-256: sha256=$sig" --data-binary "$push" "$base/hooks/github")
[ "$code" = 202 ] || fail "a signed push answered $code: $(cat "$out/hook-good.out")"
code=$(curl -s -o "$out/hook-bad.out" -w '%{http_code}' -H 'X-GitHub-Event: push' \
	-H "X-Hub-Signature-256: sha256=$(printf '%064d' 0)" --data-binary "$push" "$base/hooks/github")
[ "$code" = 401 ] || fail "a push with a wrong signature answered $code"
# Drift on the Secret: reported (alert, whose delivery fails: an error
# path), never shown.
"$KUBECTL" patch secret web-credentials -n web --type merge -p '{"stringData":{"password":"hand-edited"}}' \
	>/dev/null 2>&1 || fail "kubectl patch"
i=0
until grep -q "drift" "$out/run.out"; do
	i=$((i + 1))
	[ $i -le 200 ] || fail "the daemon did not report the drift"
	sleep 0.1
done
curl -sf "$base/metrics" >"$out/metrics.out" || fail "GET /metrics"
grep -q '^keelson_' "$out/metrics.out" || fail "/metrics has no keelson series"
kill -TERM "$daemon"
wait "$daemon"
daemon=

step="keelson diff shows the drifted Secret redacted"
"$KEELSON" --log-level debug diff --repo "$repo" --cluster sim --kubeconfig "$KUBECONFIG" >"$out/diff.out" 2>&1
grep -q 'redacted\|\*\*\*' "$out/diff.out" || fail "the Secret's drift is not shown redacted: $(cat "$out/diff.out")"

step="a wrong bearer token is reported without being shown"
sed "s/$KUBE_TOKEN/$WRONG_TOKEN/" "$KUBECONFIG" >"$work/kubeconfig-wrong-token"
grep -q "$WRONG_TOKEN" "$work/kubeconfig-wrong-token" || fail "could not write the wrong-token kubeconfig"
write_config "$work/keelson-wrong-token.yaml" "$work/creds/git-token" "$work/tls/ca.pem" "$work/kubeconfig-wrong-token"
"$KEELSON" --log-level debug sync --once --config "$work/keelson-wrong-token.yaml" >"$out/sync-wrong-token.out" 2>&1 &&
	fail "sync with a wrong bearer token succeeded"
grep -q "401\|Unauthorized\|unauthorized" "$out/sync-wrong-token.out" ||
	fail "the failure does not say the token was refused: $(tail -n 5 "$out/sync-wrong-token.out")"

step="TLS: the Kubernetes API without the CA is refused, insecure-skip-tls-verify is logged"
grep -v 'certificate-authority-data' "$KUBECONFIG" >"$work/kubeconfig-no-ca"
write_config "$work/keelson-kube-no-ca.yaml" "$work/creds/git-token" "$work/tls/ca.pem" "$work/kubeconfig-no-ca"
"$KEELSON" --log-level debug sync --once --config "$work/keelson-kube-no-ca.yaml" >"$out/sync-kube-no-ca.out" 2>&1 &&
	fail "sync trusted kubesim without its CA"
grep -qi "certificate\|SSL\|TLS" "$out/sync-kube-no-ca.out" ||
	fail "the failure does not name the certificate problem: $(tail -n 5 "$out/sync-kube-no-ca.out")"
sed 's/^\( *\)certificate-authority-data:.*/\1insecure-skip-tls-verify: true/' "$KUBECONFIG" >"$work/kubeconfig-insecure"
grep -q 'insecure-skip-tls-verify: true' "$work/kubeconfig-insecure" || fail "could not write the insecure kubeconfig"
write_config "$work/keelson-insecure.yaml" "$work/creds/git-token" "$work/tls/ca.pem" "$work/kubeconfig-insecure"
# Exit 1 is fine here (the Secret drifted above under driftPolicy alert):
# what counts is that the API was reached and that the choice was logged.
"$KEELSON" --log-level info sync --once --config "$work/keelson-insecure.yaml" >"$out/sync-insecure.out" 2>&1
grep -q "TLS verification of the Kubernetes API server is disabled" "$out/sync-insecure.out" ||
	fail "turning TLS verification off is not logged"
grep -q "revision [0-9a-f]*: .*3 objects" "$out/sync-insecure.out" ||
	fail "sync with insecure-skip-tls-verify did not reach the API: $(tail -n 3 "$out/sync-insecure.out")"

step="the status branch"
git -C "$work/srv/config.git" log -p --all >"$out/git-history.out" 2>&1
# The status writer pushes over HTTPS trusting git.caFile, as the fetches do.
grep -q '^ .*status/sim/web.json\|status/sim/web.json' "$out/git-history.out" ||
	fail "no status commit reached the HTTPS server: $(grep 'status' "$out"/run*.out 2>/dev/null | tail -n 3)"
have_status=yes
cp "$work/kubesim.err" "$out/kubesim.err" 2>/dev/null
cp "$work/kubesim.out" "$out/kubesim.out" 2>/dev/null
# Text files of the caches (config, refs, logs): objects are compressed.
find "$work/state" -type f ! -path '*/objects/*' -exec cat {} + >"$out/cache-files.out" 2>/dev/null

step="no secret in any output"
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
for name in GIT_PASSWORD WRONG_PASSWORD WEBHOOK_SECRET ALERT_SECRET SECRET_VALUE KUBE_TOKEN WRONG_TOKEN; do
	eval "value=\$$name"
	for needle in "$value" "$(b64 "$value")"; do
		for f in "$out"/*; do
			case "$f:$name" in
			# The repository holds the Secret's value by design.
			*/git-history.out:SECRET_VALUE) continue ;;
			esac
			if grep -qF -- "$needle" "$f"; then
				fail "$name appears in $(basename "$f"): $(grep -F -- "$needle" "$f" | head -n 3)"
			fi
		done
	done
done
echo "secrets-scenario: $(ls "$out" | wc -l) outputs checked for 7 secrets (status branch: $have_status); TLS refusals and modes ok"
