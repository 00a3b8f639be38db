# Developer shortcuts; CI runs .ci/run.
SQLC := go tool -modfile=tools/go.mod sqlc

.PHONY: help generate verify lint test bench bench-reconciler build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

generate: ## regenerate db/ from migrations/ and queries/ with sqlc
	$(SQLC) generate

verify: ## fail when db/ is stale
	$(SQLC) diff

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	go vet ./...

test: ## the README's test command
	go test -race ./...

bench: ## write-path benchmarks (ratios against in-process baselines; see docs/performance.md)
	.ci/bench

bench-reconciler: ## reconciler on RAC_BENCH_RUNS runs (default 1,000,000; about 3 minutes)
	go test -run '^$$' -bench BenchmarkReconcile -benchtime 1x -timeout 60m ./reconciler/

build: ## build the rac binary into ./bin
	go build -o bin/rac ./cmd/rac
