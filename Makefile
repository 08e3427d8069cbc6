# sinkscope: the two commands a newcomer runs are `make reproduce` and `make test`; both install
# what they need first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
ENV := source scripts/env.sh &&
MODEL ?=
ARGS ?=

.PHONY: setup reproduce test bench bench-cpu bench-notebook build vet

setup:
	@scripts/setup.sh

# bin/sinkscope with the ECharts bundle beside it: the binary draws its HTML figures anywhere.
build:
	@scripts/setup.sh --no-notebooks
	@$(ENV) scripts/build.sh

# The main job: every finding of the paper on the planted, random-init and paper-152m models, written
# to out/reproduce/<model>/ (ids.json, results.json, report.md, figures as SVG + HTML).
# MODEL=path/to/hf_dir or MODEL=org/name (HF hub cache) adds your own model; ARGS="--layer 3 --bos off"
# passes flags to its run (see bin/sinkscope reproduce -h).
reproduce: build
	@$(ENV) scripts/reproduce.sh $(if $(MODEL),"$(MODEL)") $(ARGS)

vet:
	@$(ENV) unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@$(ENV) go vet ./...

# All Go tests: unit tests, the seeded fuzz corpora, the parity tests against transformers, and every
# notebook executed headless through Jupyter and the GoNB kernel, exported to HTML and opened in
# headless Chromium (SINKSCOPE_REQUIRE_NOTEBOOKS=1 turns a missing tool into a failure, not a skip).
# Then the tests of concurrent runs again under the race detector (checkptr off: the pure-Go
# backend's assembly trips it), and a short real fuzzing pass of every fuzz target (scripts/fuzz.sh,
# FUZZTIME=5s each).
test: setup vet
	@$(ENV) SINKSCOPE_REQUIRE_NOTEBOOKS=1 go test -count=1 -timeout 60m ./...
	@$(ENV) go test -count=1 -race -gcflags=all=-d=checkptr=0 -run 'TestConcurrent|TestRunOverlapped|TestReproduceLayeredMatchesWhole' ./sinks/transformer/ ./sinks/findings/
	@scripts/fuzz.sh

bench:
	@scripts/setup.sh --no-notebooks
	@$(ENV) go test -run '^$$' -bench . -benchtime 3s ./sinks/transformer/

# sinkscope against a PyTorch CPU twin of the same model (logits, attention patterns, full capture,
# one AdamW step); installs python3-torch if missing. The last line is the tokens/s ratios.
bench-cpu:
	@scripts/setup.sh --no-notebooks
	@$(ENV) scripts/bench-cpu.sh

# Warm-cell latency of the notebooks' GoNB kernel through Jupyter (median, split into goimports,
# go get, go build and the run); ARGS=--compare also measures the kernel without -ldflags=-w.
bench-notebook: setup
	@$(ENV) scripts/bench-notebook.sh $(ARGS)
