// Package hf loads Hugging Face format model directories (config.json plus safetensors weights)
// into sinkscope: ParseConfig maps config.json onto transformer.Config for the llama, mistral,
// qwen2, qwen3 and gpt2 model types, LoadWeights maps the checkpoint tensors onto the canonical
// parameter names of transformer.Config.ParamShapes (transposing GPT-2's Conv1D weights and
// splitting its fused q/k/v projection), ResolveModel finds a model given a directory or a hub
// repo id (through the standard HF hub cache, downloading only when allowed), and Load does all
// three. Save writes the inverse; sinkscope's own attention options (HeadNorm, gated and sigmoid
// attention, a learnable key/value sink) travel in a "sinkscope" object of config.json (see
// SinkscopeConfigKey), so training checkpoints of every arm load back as they were trained.
//
// Loading is strict by design: a checkpoint that does not match its config exactly is an error
// that names the offending tensor, never a silently re-initialised parameter.
package hf
