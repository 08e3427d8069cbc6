//go:build tools

// Package tools pins the versions of the programs the notebooks need: the GoNB Jupyter kernel,
// goimports and gopls. scripts/setup.sh installs them with `go install` from this module.
package tools

import (
	_ "github.com/janpfeifer/gonb"
	_ "golang.org/x/tools/cmd/goimports"
	_ "golang.org/x/tools/gopls"
)
