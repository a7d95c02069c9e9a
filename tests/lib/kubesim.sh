# Shared start/stop plumbing for shell tests that run kubesim.
# POSIX sh; source it with  . "$top_srcdir/tests/lib/kubesim.sh"
# (AM_TESTS_ENVIRONMENT exports top_srcdir and top_builddir, so this works
# under both `make check` and `make distcheck`).
#
# kubesim_start WORKDIR [extra kubesim args...]
#	Starts $KUBESIM (default $top_builddir/kubesim) on 127.0.0.1:0 with
#	WORKDIR/kubeconfig and WORKDIR/kubecache, stdout/stderr in
#	WORKDIR/kubesim.out and WORKDIR/kubesim.err (tests tail the latter on
#	failure). Exports KUBECONFIG and KUBECACHEDIR; sets KUBESIM_PID,
#	KUBESIM_SERVER, KUBESIM_TOKEN (empty with --kubeconfig-client-cert) and
#	KUBESIM_CA (a PEM file). Returns non-zero after printing kubesim's
#	stderr when it exits or does not listen within 180 s.
# kubesim_stop
#	SIGTERM, wait, and return kubesim's exit status (non-zero under ASan
#	when it leaks), so a test can fail on a dirty shutdown. Safe to call
#	twice and from an EXIT trap.
# kubesim_curl PATH [curl args...]
#	curl the running kubesim's PATH (e.g. /_sim/counters) with its CA and
#	bearer token; extra args go before the URL.

KUBESIM_PID=

kubesim_start() {
	if [ $# -lt 1 ] || [ -z "$1" ]; then
		echo "kubesim_start: usage: kubesim_start WORKDIR [kubesim args...]" >&2
		return 2
	fi
	kubesim_workdir=$1
	shift
	kubesim_bin=${KUBESIM:-${top_builddir:-.}/kubesim}
	if [ ! -x "$kubesim_bin" ]; then
		echo "kubesim_start: $kubesim_bin is not built (run make first)" >&2
		return 1
	fi
	KUBECONFIG="$kubesim_workdir/kubeconfig"
	KUBECACHEDIR="$kubesim_workdir/kubecache"
	export KUBECONFIG KUBECACHEDIR
	"$kubesim_bin" --listen 127.0.0.1:0 --kubeconfig-out "$KUBECONFIG" "$@" \
		>"$kubesim_workdir/kubesim.out" 2>"$kubesim_workdir/kubesim.err" &
	KUBESIM_PID=$!
	# No short fixed limit: under a loaded parallel `make check` an ASan
	# kubesim can take well over 10 s to listen. Give up when it exits,
	# or after 3 minutes.
	kubesim_i=0
	until grep -q "kubesim listening on https://127.0.0.1:" "$kubesim_workdir/kubesim.out" 2>/dev/null; do
		kubesim_i=$((kubesim_i + 1))
		if ! kill -0 "$KUBESIM_PID" 2>/dev/null; then
			kubesim_status=0
			wait "$KUBESIM_PID" || kubesim_status=$?
			KUBESIM_PID=
			echo "kubesim_start: kubesim exited with status $kubesim_status during start-up" \
				"($kubesim_bin $*); its stderr:" >&2
			cat "$kubesim_workdir/kubesim.err" >&2
			return 1
		fi
		if [ $kubesim_i -gt 1800 ]; then
			echo "kubesim_start: kubesim did not report listening within 180 s; its stderr:" >&2
			cat "$kubesim_workdir/kubesim.err" >&2
			kubesim_stop
			return 1
		fi
		sleep 0.1
	done
	KUBESIM_SERVER=$(sed -n 's/^ *server: //p' "$KUBECONFIG" | head -n 1)
	KUBESIM_TOKEN=$(sed -n 's/^ *token: //p' "$KUBECONFIG" | head -n 1)
	KUBESIM_CA="$kubesim_workdir/kubesim-ca.pem"
	sed -n 's/^ *certificate-authority-data: //p' "$KUBECONFIG" | head -n 1 |
		base64 -d >"$KUBESIM_CA"
	if [ -z "$KUBESIM_SERVER" ] || [ ! -s "$KUBESIM_CA" ]; then
		echo "kubesim_start: $KUBECONFIG lacks server or certificate-authority-data" >&2
		kubesim_stop
		return 1
	fi
	return 0
}

kubesim_stop() {
	[ -n "$KUBESIM_PID" ] || return 0
	kill -TERM "$KUBESIM_PID" 2>/dev/null || :
	kubesim_status=0
	wait "$KUBESIM_PID" 2>/dev/null || kubesim_status=$?
	KUBESIM_PID=
	return $kubesim_status
}

kubesim_curl() {
	kubesim_path=$1
	shift
	curl -s --cacert "$KUBESIM_CA" -H "Authorization: Bearer $KUBESIM_TOKEN" "$@" \
		"$KUBESIM_SERVER$kubesim_path"
}
