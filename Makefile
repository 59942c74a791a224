# strata — build and test entry points. `make test` is what CI runs.
GO        ?= go
BIN       := $(CURDIR)/.bin
# (gcc: the race detector needs cgo.)
TOOLS     := docker-registry skopeo umoci gcc
STATICCHECK_VERSION := v0.8.2
# cosign and oras check strata's signatures and referrers in the tests.
# cosign v3.1.3 is the newest that builds with Go 1.26 (its go.mod says go
# 1.26.0); building it from a clean module cache takes about 9 minutes here.
COSIGN_VERSION      := v3.1.3
ORAS_VERSION        := v1.3.6

.PHONY: all build test tools vet lint unit race fuzz bench clean

all: build

build:
	$(GO) build ./...

## test: everything CI checks — tools, vet, staticcheck, unit + e2e tests (fuzz seed corpora included), the push's concurrency under the race detector.
test: tools vet lint unit race

## tools: install the external checkers the tests drive (real registry, skopeo, umoci; cosign and oras into .bin).
tools: $(BIN)/cosign $(BIN)/oras
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing missing tools:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make: need root to apt-get install$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $$missing >/dev/null || { echo "make: apt-get install failed" >&2; exit 1; }; \
	fi; \
	for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || { echo "make: $$t still missing" >&2; exit 1; }; done

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

lint: $(BIN)/staticcheck
	$(BIN)/staticcheck ./...

$(BIN)/cosign:
	GOBIN=$(BIN) $(GO) install github.com/sigstore/cosign/v3/cmd/cosign@$(COSIGN_VERSION)

$(BIN)/oras:
	GOBIN=$(BIN) $(GO) install oras.land/oras/cmd/oras@$(ORAS_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## unit: all Go tests. Fuzz targets run their seed corpora here.
unit:
	$(GO) test -count=1 -timeout 12m ./...

## race: the packages whose requests run side by side (push, base fetches and their read-ahead, registry cache, the streamed layers' tee), under the race detector.
race:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 5m ./compose/registry/ ./compose/base/ ./compose/remotecache/ ./internal/readahead/
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 5m -run 'TestCLI_Stream|TestLazyTee' ./cmd/strata/

## fuzz: a short real fuzzing run of every target (not part of `make test`).
fuzz:
	$(GO) test ./spec -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 30s -fuzzminimizetime 10s
	$(GO) test ./spec -run '^$$' -fuzz '^FuzzNormalizeTarget$$' -fuzztime 30s -fuzzminimizetime 10s
	$(GO) test ./compose/layer -run '^$$' -fuzz '^FuzzLayerRoundTrip$$' -fuzztime 30s -fuzzminimizetime 10s
	$(GO) test ./spec -run '^$$' -fuzz '^FuzzParseLocation$$' -fuzztime 30s -fuzzminimizetime 10s
	$(GO) test ./compose/basetree -run '^$$' -fuzz '^FuzzBaseLayerHeaders$$' -fuzztime 30s -fuzzminimizetime 10s
	$(GO) test ./spec/lock -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s -fuzzminimizetime 10s

## bench: layer benchmarks and the crane comparison.
bench:
	$(GO) test ./compose/... -run '^$$' -bench . -benchmem
	bash bench/compare.sh

clean:
	rm -rf $(BIN)
