#!/usr/bin/env bash
# A short real fuzzing pass over every fuzz target of the repository (every `func FuzzX` in a
# _test.go file), one `go test -fuzz` run per target since Go fuzzes one target at a time.
# `go test` alone only replays the seed corpora; this explores new inputs for a few seconds each.
#
#   scripts/fuzz.sh                  every target, FUZZTIME (default 5s) each
#   scripts/fuzz.sh ./sinks/...      only the targets of these package directories
#   FUZZTIME=1m scripts/fuzz.sh      a longer pass
#
# A failing input is written by Go under the package's testdata/fuzz/FuzzX/ (where it then
# stays as a regression seed, replayed by every `go test`); the script prints its path and
# exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

fuzztime="${FUZZTIME:-5s}"
dirs=("$@")
[ ${#dirs[@]} -eq 0 ] && dirs=(.)

# "package-dir target" lines, sorted, for every func FuzzX(f *testing.F) outside node_modules.
targets="$(
	grep -rE --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git \
		'^func Fuzz[A-Za-z0-9_]*\(' "${dirs[@]}" |
		sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*$|\1 \2|' |
		sed -E 's|^\./||' | sort -u
)"
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz targets found under ${dirs[*]}" >&2
	exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
start=$SECONDS
failed=0
while read -r dir target; do
	t0=$SECONDS
	if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -timeout 5m "./$dir" >"$log" 2>&1; then
		echo "fuzz: ok   ${dir} ${target} ($((SECONDS - t0))s)"
		continue
	fi
	failed=1
	cat "$log"
	input="$(sed -nE 's/.*Failing input written to (testdata\/fuzz\/[^ ]+).*/\1/p' "$log" | head -n1)"
	if [ -z "$input" ]; then
		# A stored corpus entry that fails again is reported by its file name, not written anew.
		name="$(sed -nE "s/.*failure while testing seed corpus entry: ${target}\/([^ ]+).*/\1/p" "$log" | head -n1)"
		[ -n "$name" ] && [ -f "$dir/testdata/fuzz/$target/$name" ] && input="testdata/fuzz/$target/$name"
	fi
	if [ -n "$input" ]; then
		echo "fuzz: FAIL ${dir} ${target}: failing input ${dir}/${input}" >&2
		echo "      replay it with: go test -run '^${target}/$(basename "$input")\$' ./${dir}" >&2
	else
		echo "fuzz: FAIL ${dir} ${target} (no failing input was written; see the output above)" >&2
	fi
done <<<"$targets"
echo "fuzz: $(wc -l <<<"$targets") targets in $((SECONDS - start))s, ${fuzztime} each"
exit $failed
