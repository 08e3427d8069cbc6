#!/usr/bin/env bash
# Mutation check of the findings and metrics tests (sinks/findings/MUTATIONS.md): applies each
# mutation below, one at a time, to a temporary clone of the committed tree, runs
# `go test ./sinks/findings/ ./sinks/metrics/`, and prints which top-level tests fail ("caught
# by") or MISSED. Exits 1 if a mutation is missed or does not apply.
#
#   scripts/mutate.sh            every mutation
#   scripts/mutate.sh M5a M17    only these
#
# A mutation is one line: id|file|old|new, where old must occur exactly once in file and is
# replaced by new, both literal text with \n and \t escapes. Fields are separated by " ¦ ".
set -u
cd "$(dirname "$0")/.." || exit 1
source scripts/env.sh
repo=$(pwd)

mutations=$(
	cat <<'EOF'
M1 ¦ sinks/findings/findings.go ¦ metrics.AcrossSampleStd, len(s.Random) ¦ metrics.WithinTokenStd, len(s.Random)
M2 ¦ sinks/findings/findings.go ¦ c, err := s.run(s.Main, fmt.Sprintf("blocks.%d.attn.hook_z", l), fmt.Sprintf("blocks.%d.hook_attn_out", l)) ¦ l = 0\n\tc, err := s.run(s.Main, fmt.Sprintf("blocks.%d.attn.hook_z", l), fmt.Sprintf("blocks.%d.hook_attn_out", l))
M3 ¦ sinks/findings/findings.go ¦ metrics.DominanceRatio(c.MustGet("resid_pre", l), 0) ¦ metrics.DominanceRatio(c.MustGet("resid_pre", l), 1)
M4 ¦ sinks/findings/findings.go ¦ a = c.MustGet("resid_pre", l) ¦ a = c.MustGet("resid_pre", 0)
M5a ¦ sinks/metrics/sink.go ¦ NormRatio: n0 / nRest ¦ NormRatio: nRest / n0
M5b ¦ sinks/metrics/sink.go ¦ n0 /= float64(B) ¦ n0 /= float64(B * T)
M6 ¦ sinks/metrics/sink.go ¦ const SinkOnsetThreshold = 0.8 ¦ const SinkOnsetThreshold = 0.5
M7 ¦ sinks/metrics/qklock.go ¦ hl.Alignment = math.Abs(dot64(u, kdir)) ¦ hl.Alignment = math.Max(dot64(u, kdir), -1)
M8a ¦ sinks/findings/reproduce.go ¦ batchRecord(s.Main, s.MainBOS, true) ¦ batchRecord(s.Main, s.MainBOS, false)
M8b ¦ sinks/findings/reproduce.go ¦ r.NeuronLayer, r.Scan = s.NeuronLayer, s.Scan ¦ r.NeuronLayer, r.Scan = 0, s.Scan
M8c ¦ sinks/findings/reproduce.go ¦ json.Marshal(map[string][][]int{"main": s.Main, "random": s.Random}) ¦ json.Marshal(map[string][][]int{"main": s.Main})
M9 ¦ sinks/findings/findings.go ¦ metrics.MassiveDim(c.MustGet("resid_post", nl), 0) ¦ metrics.MassiveDim(c.MustGet("resid_post", nl), 1)
M10 ¦ sinks/findings/findings.go ¦ {{d.Dim, &d.Disparity, &d.Pooled} ¦ {{d.Dim, &d.Pooled, &d.Disparity}
M11 ¦ sinks/metrics/disparity.go ¦ row := x.Data[(b*P+pos)*D : (b*P+pos+1)*D] ¦ row := x.Data[(b*P)*D : (b*P+1)*D]
M12 ¦ sinks/findings/findings.go ¦ cand.Strength > scan.Layers[scan.Best].Strength) ¦ cand.Strength < scan.Layers[scan.Best].Strength)
M13 ¦ sinks/metrics/gu.go ¦ out.Share = float64(above) / float64(total)\n\tout.SharePerSample = float64(aboveS) / float64(totalS) ¦ out.Share = float64(aboveS) / float64(totalS)\n\tout.SharePerSample = float64(above) / float64(total)
M14 ¦ sinks/metrics/sink.go ¦ AttnToFirstAllRows: (first + row0) / float64(nFirst+B*H) ¦ AttnToFirstAllRows: (first + row0) / float64(nFirst+B)
M15 ¦ sinks/metrics/variance.go ¦ return math.Sqrt(float64(n) / float64(n-1)) ¦ return float64(n) / float64(n-1)
M16 ¦ sinks/findings/findings.go ¦ layerCurve(z, l, metrics.WithinTokenStd, z.Shape[2]*z.Shape[3]) ¦ layerCurve(z, l, metrics.WithinTokenStd, z.Shape[3])
M17 ¦ sinks/findings/findings.go ¦ r.Contrast.OrderByDiff[0], r.Contrast.Order[0], r.UpNorm.Order[0] ¦ r.Contrast.Order[0], r.Contrast.OrderByDiff[0], r.UpNorm.Order[0]
M18 ¦ sinks/findings/findings.go ¦ row[n*D:(n+1)*D], n) ¦ row[r.ByNorm*D:(r.ByNorm+1)*D], n)
M19 ¦ sinks/metrics/qklock.go ¦ if signs[b]*w > 0 { ¦ if w > 0 {
M20a ¦ sinks/findings/findings.go ¦ layers = []int{0, 1, 2} ¦ layers = []int{1, 2, 3}
M20b ¦ sinks/findings/findings.go ¦ z := c.MustGet("z", l)\n\t\tcurve ¦ z := c.MustGet("z", layers[0])\n\t\tcurve
M21 ¦ sinks/findings/prepare.go ¦ BOS: "off", N: p.Random ¦ BOS: p.BOS, N: p.Random
M22 ¦ sinks/metrics/sink.go ¦ for k := 1; k <= q; k++ { ¦ for k := 1; k < q; k++ {
M23 ¦ sinks/metrics/sink.go ¦ nRest /= float64(B * (T - 1)) ¦ nRest /= float64(B * T)
M24 ¦ sinks/findings/findings.go ¦ norm = fmt.Sprintf("blocks.%d.ln1.hook_normalized", next) ¦ norm = fmt.Sprintf("blocks.%d.ln1.hook_normalized", nl)
M25 ¦ sinks/findings/findings.go ¦ metrics.MassiveDim(c.MustGet("resid_post", nl), 0) ¦ metrics.MassiveDim(x, 0)
M26 ¦ sinks/findings/findings.go ¦ for l := 0; l <= L; l++ { ¦ for l := 0; l < L; l++ {
M27 ¦ sinks/findings/definitions.go ¦ num("population (÷ n)", first(c.Std)), num("Bessel (÷ n − 1)", first(c.StdBessel)) ¦ num("population (÷ n)", first(c.StdBessel)), num("Bessel (÷ n − 1)", first(c.Std))
M28 ¦ sinks/findings/definitions.go ¦ num("α thresholded per sample", g.SharePerSample), num("α averaged over samples, then thresholded", g.Share) ¦ num("α thresholded per sample", g.Share), num("α averaged over samples, then thresholded", g.SharePerSample)
M29 ¦ sinks/findings/findings.go ¦ cand.Strength = (cand.First - cand.Rest) * cand.DownMax * cand.Selectivity ¦ cand.Strength = (cand.First - cand.Rest) * cand.DownMax
M30 ¦ sinks/findings/findings.go ¦ metrics.AcrossSampleStd, len(s.Random) ¦ metrics.AcrossSampleStd, len(s.Main)
M31 ¦ sinks/metrics/qklock.go ¦ scale := cfg.Scale() ¦ scale := 1.0
M32 ¦ sinks/metrics/disparity.go ¦ for j, v := range x.Data[(b*P+pos)*D : (b*P+pos+1)*D] { ¦ for j, v := range x.Data[(b*P)*D : (b*P+1)*D] {
M33 ¦ sinks/findings/findings.go ¦ return RunQKLock(s, d.Layer, d.Dim) ¦ return RunQKLock(s, d.Layer, d.DimAfterNorm)
M34 ¦ sinks/findings/findings.go ¦ row, preHook, r.SelectiveRow = gate, "mlp.hook_up", "gate" ¦ row, preHook, r.SelectiveRow = gate, "mlp.hook_gate", "gate"
M35 ¦ sinks/metrics/neurons.go ¦ c.Rest[n] /= float64(B * (P - 1)) ¦ c.Rest[n] /= float64(B * P)
M36 ¦ sinks/findings/reproduce.go ¦ fmt.Sprintf("%.2f; %.2f", d.Pooled, d.Disparity) ¦ fmt.Sprintf("%.2f; %.2f", d.Disparity, d.Pooled)
M37 ¦ sinks/findings/reproduce.go ¦ toy, progress := o.Toy, o.Progress ¦ toy, progress := true, o.Progress
M38 ¦ sinks/metrics/sink.go ¦ if l.AttnToFirst > SinkOnsetThreshold { ¦ if l.AttnToFirst >= SinkOnsetThreshold {
M39 ¦ sinks/metrics/gu.go ¦ for i := k; i < T; i++ { ¦ for i := k + 1; i < T; i++ {
M40 ¦ sinks/metrics/qklock.go ¦ for i := 1; i < T; i++ { ¦ for i := 0; i < T; i++ {
M41 ¦ sinks/findings/findings.go ¦ FeedsAttention: l < L-1 || L == 1} ¦ FeedsAttention: true}
M42 ¦ sinks/findings/findings.go ¦ cand.Selectivity = (cand.First - cand.Rest) / sum ¦ cand.Selectivity = cand.First / sum
EOF
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q "$repo" "$tmp/m" || exit 1
# Some plot tests need the npm packages: link the checkout's.
if [ -d "$repo/node_modules" ]; then
	ln -s "$(readlink -f "$repo/node_modules")" "$tmp/m/node_modules"
fi
cd "$tmp/m" || exit 1
if ! out=$(go test ./sinks/findings/ ./sinks/metrics/ 2>&1); then
	printf '%s\n' "$out" | tail -20
	echo "the tests fail without any mutation: nothing to measure"
	exit 2
fi

bad=0
while IFS= read -r line; do
	[ -z "$line" ] && continue
	id=${line%% ¦ *}
	rest=${line#* ¦ }
	file=${rest%% ¦ *}
	rest=${rest#* ¦ }
	old=$(printf '%b' "${rest%% ¦ *}")
	new=$(printf '%b' "${rest#* ¦ }")
	if [ $# -gt 0 ] && [[ " $* " != *" $id "* ]]; then
		continue
	fi
	n=$(OLD="$old" perl -0ne 'BEGIN { $o = $ENV{OLD} } $c = () = /\Q$o\E/g; print $c' "$file")
	if [ "$n" != 1 ]; then
		echo "$id  $file: the text to mutate occurs $n times (want 1): not applied"
		bad=1
		continue
	fi
	OLD="$old" NEW="$new" perl -0pi -e 'BEGIN { $o = $ENV{OLD}; $n = $ENV{NEW} } s/\Q$o\E/$n/' "$file"
	out=$(go test ./sinks/findings/ ./sinks/metrics/ 2>&1)
	git checkout -q -- "$file"
	failed=$(printf '%s\n' "$out" | sed -n 's/^--- FAIL: \(Test[A-Za-z0-9_]*\).*/\1/p' | sort -u | tr '\n' ' ')
	if [ -n "$failed" ]; then
		echo "$id  $file: caught by $failed"
	elif printf '%s\n' "$out" | grep -q '^panic:'; then
		echo "$id  $file: caught (panic) in $(printf '%s\n' "$out" | grep -m1 -o 'Test[A-Za-z0-9_]*(')"
	elif printf '%s\n' "$out" | grep -q '^FAIL'; then
		echo "$id  $file: caught (build or package failure)"
	else
		echo "$id  $file: MISSED"
		bad=1
	fi
done <<<"$mutations"
exit $bad
