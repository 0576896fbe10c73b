# dicomgate — build, test and run. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/dicomgate
SHARED ?= ../shared
CORPUS ?= $(SHARED)/corpus
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOTEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: help build test test-go deps demo bench lint conformance fuzz chaos clean generate

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/dicomgate
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/dicomgate

deps: ## install the Debian packages and test servers the tests use (needs root for apt-get)
	scripts/deps.sh

test: deps test-go ## install test dependencies, then run every test

test-go: ## run every Go test (unit, integration, real tools, real S3)
	$(GO) vet ./...
	$(GO) test $(GOTEST_FLAGS) ./...

demo: ## run the whole product on embedded defaults with generated studies
	$(GO) run ./cmd/dicomgate demo

bench: build ## anonymisation benchmark against gdcmanon, dcmodify and cp (BENCHMARKS.md)
	bench/anonymize.sh

lint: ## gofmt + go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

conformance: build ## run the product against the independent kit in ../shared/corpus
	scripts/conformance.sh $(CORPUS)

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	scripts/fuzz.sh $${FUZZTIME:-30s}

chaos: deps ## reliability suites with full counts (100 kills, 1,000 files, 30-minute soak); rewrites RELIABILITY.md
	scripts/reliability.sh

generate: ## regenerate the PS3.15 tables from ../shared (go generate)
	$(GO) generate ./anonymize

clean:
	rm -rf bin
