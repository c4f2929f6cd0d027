# eidsp — `make test` is the one command that sets up and runs the tests (CI runs exactly it).
GO      ?= go
PKGS    := ./...
FUZZTIME ?= 30s

.PHONY: test deps lint vet fmt-check unit fuzz fuzz-smoke bench build run clean

## test: install the test tools, check formatting and vet, run every test with the race detector,
## then every fuzz target briefly
test: deps fmt-check vet unit fuzz-smoke

deps:
	./scripts/install-test-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# CI=true makes a missing external tool a failure instead of a skip.
unit:
	CI=true $(GO) test -race -count=1 -timeout 20m $(PKGS)

lint: fmt-check vet
	@command -v staticcheck >/dev/null && staticcheck $(PKGS) || echo "staticcheck not installed; skipped"
	@command -v govulncheck >/dev/null && govulncheck $(PKGS) || echo "govulncheck not installed; skipped"

## fuzz: run every fuzz target for FUZZTIME each (long runs: make fuzz FUZZTIME=10m)
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# fuzz-smoke: what CI runs — every target for a few seconds.
fuzz-smoke:
	FUZZTIME=4s FUZZMINIMIZETIME=1s ./scripts/fuzz.sh

## bench: the four benchmarks of docs/BENCHMARKS.md (about 12 min; needs redis-server, see make deps)
bench:
	./scripts/bench.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/eidsp ./cmd/eidsp

run:
	$(GO) run ./cmd/eidsp dev

clean:
	rm -rf bin .eidsp-dev
