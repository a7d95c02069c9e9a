#!/bin/sh
# keelson(8) stays truthful to the binary: every command `keelson --help`
# lists has its own subsection, every option a command's --help shows is in
# the page, and so is every global option. Both man pages format without
# groff warnings (when groff is installed), and keelson.yaml(5) names every
# top-level section the configuration parser accepts.
set -u
srcdir=${top_srcdir:-.}
KEELSON=${top_builddir:-.}/keelson
page="$srcdir/docs/man/keelson.8"
page5="$srcdir/docs/man/keelson.yaml.5"
[ -x "$KEELSON" ] || { echo "man-check: $KEELSON not built"; exit 1; }
[ -f "$page" ] || { echo "man-check: $page missing"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/man-check.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# The page with roff's "\-" as "-", so options can be searched for.
sed 's/\\-/-/g' "$page" >"$work/page"

"$KEELSON" --help >"$work/help" || fail "keelson --help exited non-zero"
commands=$(sed -n '/^Commands:/,/^$/p' "$work/help" | awk 'NF >= 2 && $1 != "Commands:" { print $1 }')
[ -n "$commands" ] || fail "no commands in keelson --help"
for c in $commands; do
	grep -q "^\.SS $c\$" "$work/page" || fail "keelson.8 has no subsection for command $c"
	"$KEELSON" "$c" --help >"$work/cmd" 2>&1 || fail "keelson $c --help exited non-zero"
	for opt in $(grep -o -- '--[a-z][a-z-]*' "$work/cmd" | sort -u); do
		grep -q -- "$opt" "$work/page" || fail "keelson.8 does not mention $opt of keelson $c"
	done
done
for opt in $(sed -n '/^Global options:/,/^$/p' "$work/help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	grep -q -- "$opt" "$work/page" || fail "keelson.8 does not mention the global option $opt"
done
for section in "EXIT STATUS" ENVIRONMENT SIGNALS FILES; do
	grep -q "^\.SH $section" "$work/page" || fail "keelson.8 has no $section section"
done

# keelson.yaml(5): every top-level section the parser allows (its error
# message lists them) has a subsection or an entry.
printf 'git: {url: /x, cacheDir: /y}\nclusters: [{name: a}]\nnoSuchKey: 1\n' >"$work/k.yaml"
"$KEELSON" sync --once --config "$work/k.yaml" >"$work/out" 2>&1
allowed=$(sed -n 's/.*at the top level (allowed: \([^)]*\)).*/\1/p' "$work/out" | tr -d ',')
[ -n "$allowed" ] || fail "could not read the allowed top-level keys from: $(cat "$work/out")"
for key in $allowed; do
	grep -q -E "^\.(SS|B|BR) $key( |\$)" "$page5" || fail "keelson.yaml.5 does not document $key"
done

if command -v groff >/dev/null 2>&1; then
	for p in "$page" "$page5"; do
		groff -man -ww -z "$p" >"$work/groff" 2>&1 || fail "groff failed on $p"
		[ -s "$work/groff" ] && fail "groff warns about $p: $(cat "$work/groff")"
	done
else
	echo "man-check: no groff; formatting not checked"
fi
[ $fails -eq 0 ] || exit 1
echo "man-check: ok"
