package backend

import (
	"os"
	"strings"
)

// onDemandAllocator is the XLA CUDA allocator of AllocateOnDemand: CUDA's stream-ordered allocator
// (cudaMallocAsync), which takes memory as buffers need it and gives it back, instead of XLA's
// default best-fit pool, which grows in regions and keeps them.
const onDemandAllocator = "allocator=cuda_async"

// AllocateOnDemand makes an XLA CUDA backend created later in this process take GPU memory as
// buffers need it (onDemandAllocator): it adds the option to $GOMLX_BACKEND when that names an XLA
// CUDA plugin ("xla:cuda", or a plugin path with "cuda" in it) and sets no allocator, and returns
// what it added ("" when nothing). On one H200 a Llama-2-7B-shaped `reproduce --bf16
// --bf16-products` peaked at 17,015 MiB with the default pool and 13,719 MiB with it, and was not
// slower (BENCHMARKS.md). Other backends, and a configuration that chooses an allocator, are left
// alone; it must be called before the backend is created.
func AllocateOnDemand() (string, error) {
	config := strings.TrimSpace(os.Getenv(EnvVar))
	name, opts, _ := strings.Cut(config, ":")
	plugin, _, _ := strings.Cut(opts, ",")
	if name != "xla" || !strings.Contains(plugin, "cuda") || strings.Contains(opts, "allocator") {
		return "", nil
	}
	return onDemandAllocator, os.Setenv(EnvVar, config+","+onDemandAllocator)
}
