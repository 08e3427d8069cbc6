// Package transformer is sinkscope's hookable decoder-only language model: one readable forward pass
// for the LLaMA family (Llama-2, Llama-3, Mistral, Qwen2, Qwen3) and GPT-2, written with GoMLX.
//
// Attention is explicit (scores → mask → softmax → ·V) so every intermediate tensor can be observed
// through a named hook point (see hooks.go for the names and their shapes). Statistics are float32.
// The model never adds a BOS token: callers decide.
//
// Parameters live in a GoMLX model.Store under canonical names (Config.ParamShapes documents them);
// checkpoint formats are mapped onto those names by the loader in package sinks/hf. A model larger
// than one device splits its weights over several devices of an XLA backend with Model.ShardOver;
// runs and their results stay the same.
//
// A run compiles one graph of the whole model per run structure; Model.SetLayered (or, for the runs
// of at least n blocks, Model.SetLayeredFrom) runs stage by stage instead, one graph per distinct
// block shared by every layer (layered.go), Model.SetMatmulDType runs the matrix products in
// bfloat16 with everything else in float32, and Model.ObserveRuns reports where each run's time
// went (compiling, device calls, copies to the host).
package transformer
