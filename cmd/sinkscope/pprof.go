package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof" // the profiles served under /debug/pprof/
	"os"
)

// servePprof serves Go's profiles (CPU, heap, goroutines) on $SINKSCOPE_PPROF (e.g. localhost:6060)
// when it is set, so a slow or memory-hungry run can be inspected with `go tool pprof` while it runs.
func servePprof() {
	addr := os.Getenv("SINKSCOPE_PPROF")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			fmt.Fprintf(os.Stderr, "SINKSCOPE_PPROF=%s: %v\n", addr, err)
		}
	}()
	fmt.Fprintf(os.Stderr, "profiles: http://%s/debug/pprof/\n", addr)
}
