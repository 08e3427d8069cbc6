package transformer

import (
	"math"
	"testing"
)

// refModel is a plain-Go float64 forward pass written from the equations, used to check the graph
// version on the options HF transformers has no counterpart for (HeadNorm, gated and sigmoid
// attention, the learnable key/value sink). It supports RMSNorm + RoPE + SwiGLU + GQA models.
type refModel struct {
	cfg *Config
	w   map[string][]float64
}

func newRefModel(t *testing.T, m *Model) *refModel {
	r := &refModel{cfg: m.Config, w: map[string][]float64{}}
	for name := range m.Config.ParamShapes() {
		v, _, err := m.Param(name)
		if err != nil {
			t.Fatal(err)
		}
		f := make([]float64, len(v))
		for i, x := range v {
			f[i] = float64(x)
		}
		r.w[name] = f
	}
	return r
}

// linear: x [T][in] · W[out][in]ᵀ.
func linear(x [][]float64, w []float64, out int) [][]float64 {
	in := len(x[0])
	y := make([][]float64, len(x))
	for t := range x {
		y[t] = make([]float64, out)
		for o := 0; o < out; o++ {
			s := 0.0
			for i := 0; i < in; i++ {
				s += x[t][i] * w[o*in+i]
			}
			y[t][o] = s
		}
	}
	return y
}

func rmsVec(v, gamma []float64, eps float64) []float64 {
	ms := 0.0
	for _, x := range v {
		ms += x * x
	}
	ms /= float64(len(v))
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / math.Sqrt(ms+eps) * gamma[i]
	}
	return out
}

// forward returns the logits [T][V] and, per layer, the pattern [h][q][k], the W_O input [T][h·dh]
// and (SinkKV) the sink's weight [h][q].
func (r *refModel) forward(tokens []int) (logits [][]float64, patterns [][][][]float64, woIn [][][]float64, sinkWeights [][][]float64) {
	c := r.cfg
	T, D, H, KV, dh := len(tokens), c.DModel, c.NHeads, c.KVHeads(), c.HeadDim()
	x := make([][]float64, T)
	for t, tok := range tokens {
		x[t] = append([]float64(nil), r.w["embed/weights"][tok*D:(tok+1)*D]...)
	}
	inv := RopeInvFreq(c)
	rope := func(v []float64, pos int) []float64 { // v [dh]
		out := make([]float64, dh)
		for i := 0; i < dh/2; i++ {
			a := float64(pos) * float64(inv[i])
			x1, x2 := v[i], v[i+dh/2]
			out[i] = x1*math.Cos(a) - x2*math.Sin(a)
			out[i+dh/2] = x2*math.Cos(a) + x1*math.Sin(a)
		}
		return out
	}
	for l := 0; l < c.NLayers; l++ {
		p := func(s string) []float64 { return r.w[blockName(l, s)] }
		h := make([][]float64, T)
		for t := range x {
			h[t] = rmsVec(x[t], p("ln1/scale"), c.NormEps)
		}
		q, k, v := linear(h, p("attn/q/weights"), H*dh), linear(h, p("attn/k/weights"), KV*dh), linear(h, p("attn/v/weights"), KV*dh)
		pat := make([][][]float64, H)
		sinkW := make([][]float64, H)
		z := make([][]float64, T)
		for t := range z {
			z[t] = make([]float64, H*dh)
		}
		for hh := 0; hh < H; hh++ {
			g := hh / (H / KV)
			pat[hh] = make([][]float64, T)
			sinkW[hh] = make([]float64, T)
			for qi := 0; qi < T; qi++ {
				qv := rope(q[qi][hh*dh:(hh+1)*dh], qi)
				scores := make([]float64, qi+1)
				for ki := 0; ki <= qi; ki++ {
					kv := rope(k[ki][g*dh:(g+1)*dh], ki)
					s := 0.0
					for i := range qv {
						s += qv[i] * kv[i]
					}
					scores[ki] = s / math.Sqrt(float64(dh))
				}
				w := make([]float64, T)
				if c.Attention == SigmoidAttention {
					b := 0.0
					if c.SigmoidBiasLogN {
						b = -math.Log(float64(T))
					}
					for ki, s := range scores {
						w[ki] = 1 / (1 + math.Exp(-(s + b)))
					}
				} else {
					// With SinkKV the softmax also covers the sink's score q·k_sink/√dh (k_sink unrotated).
					sinkScore := math.Inf(-1)
					if c.SinkKV {
						ks := p("attn/sink/key")[g*dh : (g+1)*dh]
						sinkScore = 0
						for i := range qv {
							sinkScore += qv[i] * ks[i]
						}
						sinkScore /= math.Sqrt(float64(dh))
					}
					mx := sinkScore
					for _, s := range scores {
						mx = math.Max(mx, s)
					}
					sum := math.Exp(sinkScore - mx)
					for ki, s := range scores {
						w[ki] = math.Exp(s - mx)
						sum += w[ki]
					}
					for ki := range scores {
						w[ki] /= sum
					}
					sinkW[hh][qi] = math.Exp(sinkScore-mx) / sum
				}
				pat[hh][qi] = w
				o := make([]float64, dh)
				for ki := 0; ki <= qi; ki++ {
					for i := 0; i < dh; i++ {
						o[i] += w[ki] * v[ki][g*dh+i]
					}
				}
				if c.SinkKV {
					vs := p("attn/sink/value")[g*dh : (g+1)*dh]
					for i := range o {
						o[i] += sinkW[hh][qi] * vs[i]
					}
				}
				if c.HeadNorm.Enabled {
					gamma := p("attn/head_norm/scale")
					if !c.HeadNorm.SharedGamma {
						gamma = gamma[hh*dh : (hh+1)*dh]
					}
					o = rmsVec(o, gamma, 1e-6)
				}
				copy(z[qi][hh*dh:], o)
			}
		}
		if c.GatedAttention {
			gate := linear(h, p("attn/gate/weights"), H*dh)
			for t := range z {
				for i := range z[t] {
					z[t][i] *= 1 / (1 + math.Exp(-gate[t][i]))
				}
			}
		}
		patterns = append(patterns, pat)
		sinkWeights = append(sinkWeights, sinkW)
		woIn = append(woIn, z)
		attn := linear(z, p("attn/o/weights"), D)
		for t := range x {
			for i := range x[t] {
				x[t][i] += attn[t][i]
			}
			h[t] = rmsVec(x[t], p("ln2/scale"), c.NormEps)
		}
		gate, up := linear(h, p("mlp/gate/weights"), c.DMLP), linear(h, p("mlp/up/weights"), c.DMLP)
		for t := range gate {
			for i := range gate[t] {
				gate[t][i] = gate[t][i] / (1 + math.Exp(-gate[t][i])) * up[t][i]
			}
		}
		down := linear(gate, p("mlp/down/weights"), D)
		for t := range x {
			for i := range x[t] {
				x[t][i] += down[t][i]
			}
		}
	}
	for t := range x {
		x[t] = rmsVec(x[t], r.w["ln_final/scale"], c.NormEps)
	}
	unembed := r.w["unembed/weights"]
	if c.TiedEmbeddings {
		unembed = r.w["embed/weights"]
	}
	return linear(x, unembed, c.VocabSize), patterns, woIn, sinkWeights
}

func blockName(l int, s string) string {
	return "blocks/" + string(rune('0'+l)) + "/" + s
}

func TestAgainstPlainGoReference(t *testing.T) {
	for _, variant := range []string{"baseline", "headnorm-per-head", "headnorm-shared", "gated", "sigmoid", "sigmoid-no-bias", "sink-kv", "sink-kv-headnorm-gated"} {
		t.Run(variant, func(t *testing.T) {
			cfg := tinyConfig()
			switch variant {
			case "headnorm-per-head":
				cfg.HeadNorm = HeadNormConfig{Enabled: true}
			case "headnorm-shared":
				cfg.HeadNorm = HeadNormConfig{Enabled: true, SharedGamma: true}
			case "gated":
				cfg.GatedAttention = true
			case "sigmoid":
				cfg.Attention, cfg.SigmoidBiasLogN = SigmoidAttention, true
			case "sigmoid-no-bias":
				cfg.Attention = SigmoidAttention
			case "sink-kv":
				cfg.SinkKV = true
			case "sink-kv-headnorm-gated":
				cfg.SinkKV, cfg.GatedAttention, cfg.HeadNorm = true, true, HeadNormConfig{Enabled: true}
			}
			m := tinyModel(t, cfg)
			// Non-zero sink vectors (they start at zero) so a wrong head, axis or scale shows.
			if cfg.SinkKV {
				for l := 0; l < cfg.NLayers; l++ {
					for j, name := range []string{"attn/sink/key", "attn/sink/value"} {
						s, _, _ := m.Param(blockName(l, name))
						for i := range s {
							s[i] = float32(math.Sin(float64(3*i+j+l))) * 2
						}
						if err := m.SetParam(blockName(l, name), s); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			// Non-trivial γ so a wrong axis or a shared/per-head mix-up shows.
			if cfg.HeadNorm.Enabled {
				for l := 0; l < cfg.NLayers; l++ {
					g, _, _ := m.Param(blockName(l, "attn/head_norm/scale"))
					for i := range g {
						g[i] = 0.5 + float32(i%7)*0.1
					}
					if err := m.SetParam(blockName(l, "attn/head_norm/scale"), g); err != nil {
						t.Fatal(err)
					}
				}
			}
			ref := newRefModel(t, m)
			toks := seqs(2, 11, cfg.VocabSize)
			names := []string{"*.hook_pattern", "*.hook_z"}
			if cfg.HeadNorm.Enabled {
				names = append(names, "*.hook_z_normed")
			}
			if cfg.GatedAttention {
				names = append(names, "*.attn.hook_gate")
			}
			if cfg.SinkKV {
				names = append(names, "*.hook_sink_weight")
			}
			res, err := m.Run(toks, Capture(names...))
			if err != nil {
				t.Fatal(err)
			}
			for b := range toks {
				logits, pats, woIn, sinkWs := ref.forward(toks[b])
				maxDiff := 0.0
				for p := range logits {
					for v := range logits[p] {
						got, _ := res.Logits.At(b, p, v)
						maxDiff = math.Max(maxDiff, math.Abs(float64(got)-logits[p][v]))
					}
				}
				if maxDiff > 1e-4 {
					t.Errorf("sequence %d: logits differ from the reference by %g", b, maxDiff)
				}
				for l := 0; l < cfg.NLayers; l++ {
					pat := res.Cache.MustGet("pattern", l)
					// The W_O input: hook_z, then hook_z_normed, then times hook_gate.
					z := res.Cache.MustGet("z", l)
					if cfg.HeadNorm.Enabled {
						z = res.Cache.MustGet("z_normed", l)
					}
					var gate, sinkW *Activation
					if cfg.GatedAttention {
						gate = res.Cache.MustGet("attn.gate", l)
					}
					if cfg.SinkKV {
						sinkW = res.Cache.MustGet("sink_weight", l)
					}
					dp, dz := 0.0, 0.0
					for h := 0; h < cfg.NHeads; h++ {
						for q := 0; q < 11; q++ {
							if sinkW != nil {
								got, _ := sinkW.At(b, h, q)
								dp = math.Max(dp, math.Abs(float64(got)-sinkWs[l][h][q]))
							}
							for k := 0; k < 11; k++ {
								got, _ := pat.At(b, h, q, k)
								dp = math.Max(dp, math.Abs(float64(got)-pats[l][h][q][k]))
							}
							for i := 0; i < cfg.HeadDim(); i++ {
								got, _ := z.At(b, q, h, i)
								if gate != nil {
									gv, _ := gate.At(b, q, h, i)
									got *= gv
								}
								dz = math.Max(dz, math.Abs(float64(got)-woIn[l][q][h*cfg.HeadDim()+i]))
							}
						}
					}
					if dp > 1e-5 || dz > 1e-4 {
						t.Errorf("sequence %d layer %d: pattern differs by %g, W_O input by %g", b, l, dp, dz)
					}
				}
			}
		})
	}
}
