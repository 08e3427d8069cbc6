package compare

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/gomlx/compute"
)

// Summary is a comparison's outcome (summary.json).
type Summary struct {
	Plan Plan   `json:"plan"`
	Data string `json:"data"` // the data stream of the first seed, in one line
	// Target is the loss that defines steps-to-target, chosen by TargetRule.
	Target     float64      `json:"target_loss"`
	TargetRule string       `json:"target_rule"`
	Window     int          `json:"smoothing_window"` // trailing-mean window of the smoothed loss
	Heads      int          `json:"heads"`            // attention heads per layer of the recipe's model
	Runs       []RunSummary `json:"runs"`
	Arms       []ArmStats   `json:"arms"`
	// Missing lists the runs not finished yet (they are left out of every statistic).
	Missing []string `json:"missing,omitempty"`
	// Resamples is the number of bootstrap resamples behind every interval (paired over seeds).
	Resamples int `json:"bootstrap_resamples"`
	// SVGError says why the figures' SVGs were not written (the HTML page always is).
	SVGError string `json:"-"`
}

// RunSummary is one finished run.
type RunSummary struct {
	RunID
	Steps         int     `json:"steps"`
	FinalLoss     float64 `json:"final_loss"` // smoothed training loss at the last step
	FinalValLoss  float64 `json:"final_val_loss"`
	StepsToTarget int     `json:"steps_to_target"` // −1: never reached
	Seconds       float64 `json:"seconds"`
	TokensPS      float64 `json:"tokens_per_s"`
	Final         *Final  `json:"final"`
	Curve         *Curve  `json:"-"`
}

// Stat is a statistic over seeds.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"` // sample std (n − 1); 0 for one seed
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	N    int     `json:"n"`
}

// Interval is a point estimate with a 95% percentile-bootstrap interval over seeds (paired: the
// arm and the baseline are resampled with the same seeds).
type Interval struct {
	Value float64 `json:"value"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// String prints "v [lo, hi]".
func (i *Interval) String() string {
	if i == nil {
		return "—"
	}
	return fmt.Sprintf("%.4g [%.4g, %.4g]", i.Value, i.Lo, i.Hi)
}

// ArmStats are an arm's statistics over its finished seeds.
type ArmStats struct {
	Arm           string `json:"arm"`
	Seeds         int    `json:"seeds"`
	FinalLoss     Stat   `json:"final_loss"`
	FinalValLoss  Stat   `json:"final_val_loss"`
	StepsToTarget Stat   `json:"steps_to_target"` // over the seeds that reached the target
	Reached       int    `json:"reached_target"`  // seeds that reached it
	// AttnToFirst is per layer the mean over seeds of the final attention to token 0.
	AttnToFirst    []float64 `json:"attn_to_first"`
	MaxAttnToFirst Stat      `json:"max_attn_to_first"`
	GuSink         Stat      `json:"gu_sink"`
	Dominance      []float64 `json:"dominance"` // per layer, mean over seeds
	MaxDisparity   Stat      `json:"max_disparity"`
	EffectiveRank  Stat      `json:"mean_effective_rank"`
	NeuronStrength Stat      `json:"super_neuron_strength"`
	TokensPS       Stat      `json:"tokens_per_s"`
	// SpeedUp is the baseline's mean steps-to-target over the arm's (> 1: the arm gets there
	// sooner), over the seeds both finished; nil with SpeedUpNote when a seed did not reach the
	// target. ValLossDelta is the arm's final validation loss minus the baseline's (paired).
	SpeedUp      *Interval `json:"speed_up,omitempty"`
	SpeedUpNote  string    `json:"speed_up_note,omitempty"`
	ValLossDelta *Interval `json:"val_loss_delta,omitempty"`
}

// Resamples is the number of bootstrap resamples.
const Resamples = 4000

// Report reads every run of the plan (log.jsonl and the final analysis, computed on be when
// missing), writes summary.json, summary.md and the figures into p.Dir, and returns the summary.
// Unfinished runs are listed in Missing and left out.
func Report(be compute.Backend, p Plan) (*Summary, error) {
	s, err := Summarize(be, p)
	if err != nil {
		return nil, err
	}
	if err := s.write(p.Dir); err != nil {
		return nil, err
	}
	return s, nil
}

// Summarize is Report without writing anything.
func Summarize(be compute.Backend, p Plan) (*Summary, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	s := &Summary{Plan: p, Resamples: Resamples}
	for _, r := range p.Runs() {
		opts, data, err := p.Recipe(r)
		if err != nil {
			return nil, err
		}
		if s.Data == "" {
			s.Data = data.Name()
		}
		s.Window, s.Heads = SmoothingWindow(opts.Opt.Steps), opts.Model.NHeads
		f, err := finalOf(be, p, r)
		if errors.Is(err, errUnfinished) {
			s.Missing = append(s.Missing, err.Error())
			continue
		}
		if err != nil {
			return nil, err
		}
		c, err := ReadCurve(p.RunDir(r), s.Window)
		if err != nil {
			return nil, err
		}
		val := math.NaN()
		if n := len(c.ValLoss); n > 0 {
			val = c.ValLoss[n-1]
		}
		s.Runs = append(s.Runs, RunSummary{RunID: r, Steps: opts.Opt.Steps, FinalLoss: c.FinalLoss(), FinalValLoss: val,
			Seconds: c.Seconds, TokensPS: c.TokensPS, Final: f, Curve: c})
	}
	if len(s.Runs) == 0 {
		return nil, fmt.Errorf("compare: no finished run in %s (missing: %v)", p.Dir, s.Missing)
	}
	s.Target, s.TargetRule = s.target()
	for i := range s.Runs {
		s.Runs[i].StepsToTarget = s.Runs[i].Curve.StepsToTarget(s.Target)
	}
	for _, a := range p.Arms {
		if st := s.armStats(a); st != nil {
			s.Arms = append(s.Arms, *st)
		}
	}
	return s, nil
}

// presetTargets are the target losses of presets whose final loss sits on a floor, where the
// baseline's final loss would be crossed at a step decided by noise.
var presetTargets = map[string]struct {
	loss float64
	why  string
}{
	"bb-compare": {1.02, "the bb-compare preset's target: 1.5% above the Bigram-Backcopy process's entropy floor (≈1.005 nats), crossed while the loss still falls; every arm ends on the floor, so the final loss itself cannot separate them"},
}

// target is the plan's target loss, or else the preset's (presetTargets), or else the baseline's mean final smoothed loss, or else (no
// baseline) the worst arm's mean final smoothed loss: a level every arm that trains at least as
// well as that arm reaches.
func (s *Summary) target() (float64, string) {
	if s.Plan.Target > 0 {
		return s.Plan.Target, "given (--target)"
	}
	if t, ok := presetTargets[s.Plan.Preset]; ok && t.loss > 0 {
		return t.loss, t.why
	}
	if runs := s.runsOf(Baseline); len(runs) > 0 {
		return mean(field(runs, func(r *RunSummary) float64 { return r.FinalLoss })),
			"the baseline's final smoothed training loss, mean over its seeds: the speed-up is how much sooner an arm gets where the baseline ends"
	}
	worst := math.Inf(-1)
	for _, a := range s.Plan.Arms {
		if runs := s.runsOf(a); len(runs) > 0 {
			worst = math.Max(worst, mean(field(runs, func(r *RunSummary) float64 { return r.FinalLoss })))
		}
	}
	return worst, "no baseline: the worst arm's final smoothed training loss, mean over its seeds"
}

// runsOf are arm's finished runs, by seed order of the plan.
func (s *Summary) runsOf(arm string) []*RunSummary {
	var out []*RunSummary
	for i := range s.Runs {
		if s.Runs[i].Arm == arm {
			out = append(out, &s.Runs[i])
		}
	}
	return out
}

// run is the finished run of arm and seed, or nil.
func (s *Summary) run(arm string, seed uint64) *RunSummary {
	for i := range s.Runs {
		if s.Runs[i].Arm == arm && s.Runs[i].Seed == seed {
			return &s.Runs[i]
		}
	}
	return nil
}

func (s *Summary) armStats(arm string) *ArmStats {
	runs := s.runsOf(arm)
	if len(runs) == 0 {
		return nil
	}
	st := &ArmStats{Arm: arm, Seeds: len(runs)}
	st.FinalLoss = stat(field(runs, func(r *RunSummary) float64 { return r.FinalLoss }))
	st.FinalValLoss = stat(field(runs, func(r *RunSummary) float64 { return r.FinalValLoss }))
	var reached []float64
	for _, r := range runs {
		if r.StepsToTarget >= 0 {
			reached = append(reached, float64(r.StepsToTarget))
		}
	}
	st.Reached = len(reached)
	st.StepsToTarget = stat(reached)
	st.MaxAttnToFirst = stat(field(runs, func(r *RunSummary) float64 { return r.Final.MaxAttnToFirst }))
	st.GuSink = stat(field(runs, func(r *RunSummary) float64 { return r.Final.GuSink }))
	st.MaxDisparity = stat(field(runs, func(r *RunSummary) float64 { return r.Final.MaxDisparity() }))
	st.EffectiveRank = stat(field(runs, func(r *RunSummary) float64 { return r.Final.MeanEffectiveRank() }))
	st.NeuronStrength = stat(field(runs, func(r *RunSummary) float64 { return r.Final.SuperNeuron.Strength }))
	st.TokensPS = stat(field(runs, func(r *RunSummary) float64 { return r.TokensPS }))
	st.AttnToFirst = meanPerLayer(runs, func(f *Final) []float64 { return f.AttnToFirst })
	st.Dominance = meanPerLayer(runs, func(f *Final) []float64 { return f.Dominance })
	if arm == Baseline {
		return st
	}
	// Paired over the seeds both arms finished.
	var base, mine []*RunSummary
	for _, r := range runs {
		if b := s.run(Baseline, r.Seed); b != nil {
			base, mine = append(base, b), append(mine, r)
		}
	}
	if len(base) == 0 {
		st.SpeedUpNote = "no baseline run with the same seed"
		return st
	}
	st.ValLossDelta = pairedBootstrap(len(mine), func(idx []int) float64 {
		var d float64
		for _, i := range idx {
			d += mine[i].FinalValLoss - base[i].FinalValLoss
		}
		return d / float64(len(idx))
	})
	for i := range mine {
		if mine[i].StepsToTarget < 0 || base[i].StepsToTarget < 0 {
			st.SpeedUpNote = fmt.Sprintf("the target %.4g was not reached by %s seed %d", s.Target, map[bool]string{true: arm, false: Baseline}[mine[i].StepsToTarget < 0], mine[i].Seed)
			return st
		}
	}
	st.SpeedUp = pairedBootstrap(len(mine), func(idx []int) float64 {
		var b, a float64
		for _, i := range idx {
			b += float64(base[i].StepsToTarget)
			a += float64(mine[i].StepsToTarget)
		}
		return b / a
	})
	return st
}

// pairedBootstrap is estimate on all n seeds with a 95% percentile interval over Resamples
// resamples of the seed indices (with replacement, one fixed random stream: reports are
// reproducible).
func pairedBootstrap(n int, estimate func(idx []int) float64) *Interval {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	out := &Interval{Value: estimate(all)}
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]float64, Resamples)
	idx := make([]int, n)
	for k := range vals {
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		vals[k] = estimate(idx)
	}
	sort.Float64s(vals)
	out.Lo, out.Hi = quantile(vals, 0.025), quantile(vals, 0.975)
	return out
}

// quantile of sorted values, linear between order statistics.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

func field(runs []*RunSummary, f func(*RunSummary) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

func meanPerLayer(runs []*RunSummary, f func(*Final) []float64) []float64 {
	var out []float64
	for _, r := range runs {
		v := f(r.Final)
		if out == nil {
			out = make([]float64, len(v))
		}
		for l := range out {
			out[l] += v[l] / float64(len(runs))
		}
	}
	return out
}

func stat(x []float64) Stat {
	if len(x) == 0 {
		return Stat{Mean: math.NaN(), Std: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := Stat{Mean: mean(x), Min: x[0], Max: x[0], N: len(x)}
	for _, v := range x {
		s.Min, s.Max = math.Min(s.Min, v), math.Max(s.Max, v)
	}
	if len(x) > 1 {
		var ss float64
		for _, v := range x {
			ss += (v - s.Mean) * (v - s.Mean)
		}
		s.Std = math.Sqrt(ss / float64(len(x)-1))
	}
	return s
}

func mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	y := append([]float64(nil), x...)
	sort.Float64s(y)
	return quantile(y, 0.5)
}

// Layers are the layer indices of the final analyses (0..L−1).
func (s *Summary) Layers() []int {
	var out []int
	if len(s.Runs) > 0 {
		for l := range s.Runs[0].Final.AttnToFirst {
			out = append(out, l)
		}
	}
	return out
}

// PerLayer is arm's disparity at the massive dimension (mean of per-sequence ratios) and effective
// rank per layer, each the mean over the arm's finished seeds.
func (s *Summary) PerLayer(arm string) (disparity, rank []float64) {
	runs := s.runsOf(arm)
	return meanPerLayer(runs, func(f *Final) []float64 { return f.Disparity }),
		meanPerLayer(runs, func(f *Final) []float64 { return f.EffectiveRank })
}

// Agrees checks that every run of s that other also holds ended the same: final training and
// validation loss, steps to target and the final attention to token 0 per layer within tol (runs on
// the CPU backend are deterministic, so a rerun of a committed comparison must match it). It returns
// the number of runs compared.
func (s *Summary) Agrees(other *Summary, tol float64) (int, error) {
	n := 0
	for _, r := range s.Runs {
		o := other.run(r.Arm, r.Seed)
		if o == nil {
			continue
		}
		n++
		check := func(what string, a, b float64) error {
			if math.Abs(a-b) > tol || math.IsNaN(a) != math.IsNaN(b) {
				return fmt.Errorf("compare: run %s: %s %.6g here, %.6g in %s", r.Name(), what, a, b, other.Plan.Dir)
			}
			return nil
		}
		if err := check("final training loss", r.FinalLoss, o.FinalLoss); err != nil {
			return n, err
		}
		if err := check("final validation loss", r.FinalValLoss, o.FinalValLoss); err != nil {
			return n, err
		}
		for l := range r.Final.AttnToFirst {
			if err := check(fmt.Sprintf("layer %d attention to token 0", l), r.Final.AttnToFirst[l], o.Final.AttnToFirst[l]); err != nil {
				return n, err
			}
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("compare: %s and %s share no run", s.Plan.Dir, other.Plan.Dir)
	}
	return n, nil
}
