#!/bin/sh
# kubectl is the oracle for YAML resolution: for every fixture, keelson's
# loader (yaml_dump) must produce the same values kubectl decodes.
#   yaml-fixtures/*.yaml                 both accept, values must agree
#   yaml-fixtures/reject/*.yaml          both must reject
#   yaml-fixtures/keelson-rejects/*.yaml kubectl accepts, keelson refuses on
#                                        purpose (see yaml_load.h)
# kubectl runs offline: `label --local` prints the object as it decoded it.
set -u

# dash's echo expands backslashes; messages go through say().
say() { printf '%s\n' "$*"; }

if [ -z "${KUBECTL:-}" ]; then
	say "SKIP: kubectl not found at configure time"
	exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
	say "SKIP: python3 is needed to compare the decoded values"
	exit 77
fi
: "${top_srcdir:?top_srcdir must be set (run through make check)}"
: "${top_builddir:?top_builddir must be set (run through make check)}"
fixtures="$top_srcdir/tests/unit/yaml-fixtures"
dump="$top_builddir/tests/unit/yaml_dump"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0

kubectl_decode() {
	KUBECONFIG=/dev/null "$KUBECTL" label --local -f "$1" -o json probe=1
}

for fixture in "$fixtures"/*.yaml; do
	name=$(basename "$fixture")
	if ! kubectl_decode "$fixture" >"$tmp/kubectl.json" 2>"$tmp/kubectl.err"; then
		say "FAIL $name: kubectl rejected the fixture: $(cat "$tmp/kubectl.err")"
		failures=$((failures + 1))
		continue
	fi
	if ! "$dump" "$fixture" >"$tmp/keelson.jsonl" 2>"$tmp/keelson.err"; then
		say "FAIL $name: keelson rejected the fixture: $(cat "$tmp/keelson.err")"
		failures=$((failures + 1))
		continue
	fi
	if python3 - "$tmp/kubectl.json" "$tmp/keelson.jsonl" "$name" <<'PY'
import json, sys
from decimal import Decimal

kubectl_path, keelson_path, name = sys.argv[1:4]
# kubectl prints one JSON object per document, back to back.
with open(kubectl_path) as f:
    text = f.read()
decoder, pos, kubectl_docs = json.JSONDecoder(), 0, []
while text[pos:].strip():
    while text[pos].isspace():
        pos += 1
    doc, pos = decoder.raw_decode(text, pos)
    kubectl_docs.append(doc)
with open(keelson_path) as f:
    keelson_docs = [json.loads(line) for line in f if line.strip()]
# kubectl added the probe label; add it to keelson's view the same way.
for doc in keelson_docs:
    if isinstance(doc, dict):
        doc.setdefault("metadata", {}).setdefault("labels", {})["probe"] = "1"

def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)

def same_number(k, v):
    # kubectl prints int64 exactly and float64 in Go's shortest form, which
    # Python may read as an int (9223372036854776000); compare the decimal
    # text so a lost digit is never hidden by float rounding.
    if isinstance(k, int) and isinstance(v, int):
        return k == v
    return Decimal(repr(float(k))) == Decimal(repr(float(v))) and (
        not isinstance(k, int) or Decimal(repr(float(v))) == Decimal(k))

def diff(k, v, path):
    if is_number(k) and is_number(v):
        return [] if same_number(k, v) else ["%s: kubectl %r, keelson %r" % (path, k, v)]
    if type(k) is not type(v):
        return ["%s: kubectl %r (%s), keelson %r (%s)" % (path, k, type(k).__name__, v, type(v).__name__)]
    if isinstance(k, dict):
        out = []
        for key in sorted(set(k) | set(v)):
            if key not in v:
                out.append("%s/%s: missing in keelson" % (path, key))
            elif key not in k:
                out.append("%s/%s: missing in kubectl" % (path, key))
            else:
                out += diff(k[key], v[key], "%s/%s" % (path, key))
        return out
    if isinstance(k, list):
        if len(k) != len(v):
            return ["%s: kubectl has %d items, keelson %d" % (path, len(k), len(v))]
        out = []
        for i, (a, b) in enumerate(zip(k, v)):
            out += diff(a, b, "%s/%d" % (path, i))
        return out
    return [] if k == v else ["%s: kubectl %r, keelson %r" % (path, k, v)]

problems = diff(kubectl_docs, keelson_docs, "")
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
PY
	then
		say "ok   $name"
	else
		say "FAIL $name: values differ (above)"
		failures=$((failures + 1))
	fi
done

for fixture in "$fixtures"/reject/*.yaml; do
	[ -e "$fixture" ] || continue
	name=reject/$(basename "$fixture")
	if kubectl_decode "$fixture" >/dev/null 2>&1; then
		say "FAIL $name: kubectl accepted a fixture that must be rejected"
		failures=$((failures + 1))
	elif "$dump" "$fixture" >/dev/null 2>"$tmp/keelson.err"; then
		say "FAIL $name: keelson accepted a file kubectl rejects"
		failures=$((failures + 1))
	else
		say "ok   $name: $(cat "$tmp/keelson.err")"
	fi
done

for fixture in "$fixtures"/keelson-rejects/*.yaml; do
	[ -e "$fixture" ] || continue
	name=keelson-rejects/$(basename "$fixture")
	if ! kubectl_decode "$fixture" >/dev/null 2>"$tmp/kubectl.err"; then
		say "FAIL $name: kubectl rejected it too: $(cat "$tmp/kubectl.err")"
		failures=$((failures + 1))
	elif "$dump" "$fixture" >/dev/null 2>"$tmp/keelson.err"; then
		say "FAIL $name: keelson accepted a file it must refuse"
		failures=$((failures + 1))
	else
		say "ok   $name: $(cat "$tmp/keelson.err")"
	fi
done

[ "$failures" -eq 0 ] || { say "$failures fixture(s) disagree"; exit 1; }
exit 0
