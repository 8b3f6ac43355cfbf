#!/bin/sh
# Run every fuzz target of the module for $FUZZTIME each (default 20s).
#
#   scripts/fuzz.sh                 # all targets, 20s each
#   FUZZTIME=5m scripts/fuzz.sh     # longer
#   scripts/fuzz.sh ./onnx/         # only the targets of some packages
#
# Targets are found by grepping for `func FuzzX(` in *_test.go, so new ones
# are picked up without editing this script. A crash makes go test write
# the input to <pkg>/testdata/fuzz/FuzzX/ and this script exit non-zero:
# commit that file as a regression seed once the bug is fixed.
set -eu
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20s}
if [ "$#" -eq 0 ]; then
	set -- ./...
fi
# -e: a package that does not build still has its targets tried (and
# fails them), rather than hiding every other package's.
pkgs=$(go list -e -f '{{.Dir}}' "$@")
status=0
ran=0
for pkg in $pkgs; do
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$pkg"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		rel=./$(realpath --relative-to="$PWD" "$pkg")
		echo "== $rel $target ($FUZZTIME)"
		ran=$((ran + 1))
		if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$rel"; then
			echo "FAIL: $rel $target"
			status=1
		fi
	done
done
echo "$ran fuzz targets run"
if [ "$ran" -eq 0 ]; then
	echo "no fuzz targets found in $*" >&2
	exit 1
fi
exit $status
