# imgx — the two commands a new machine needs: `make demo` and `make test`.
SHELL   := /bin/bash
GO      ?= go
# bash, for pipefail in the test recipe (Debian's /bin/sh is dash).
SHELL   := /bin/bash
BIN     := bin/imgx
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
PKGS    := ./...

.PHONY: all build test test-short vet lint fmt-check deps demo bench fuzz clean man docs

all: build

build:
	$(GO) build -ldflags "-X main.Version=$(VERSION)" -o $(BIN) ./cmd/imgx

# Man pages generated from the commands' help (not committed): bin/man/imgx*.1.
# Read one with: man -l bin/man/imgx-save.1
man: build
	$(BIN) __gendocs --format man bin/man

# The Markdown command reference in docs/cli/ (committed; TestCLIDocsCurrent fails in CI
# when a command's help changed and this was not run).
docs:
	$(GO) run ./cmd/imgx __gendocs --format markdown docs/cli

deps:
	./scripts/install-deps.sh

vet:
	$(GO) vet $(PKGS)

# staticcheck, pinned, built through the Go module proxy on first use (cached after).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) run $(STATICCHECK) $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The full suite, with the real peers (skopeo, umoci, podman, sshd, vsftpd, docker-registry,
# cosign) installed and enabled: a missing peer fails its test, and skipcheck fails the run
# if any test skipped. It prints what plain go test prints (ok/FAIL per package), then
# one closing line: skipcheck: N passed, N failed, N skipped.
test: deps fmt-check vet lint
	$(GO) build -o bin/skipcheck ./internal/testutil/skipcheck
	set -o pipefail; IMGX_REAL_TESTS=1 $(GO) test -json -count=1 -timeout 25m $(PKGS) 2>&1 | bin/skipcheck -fail-on-skip

# Fast tests only (-short): no real peers, fewer SIGKILL campaign points.
test-short:
	$(GO) test -short -count=1 $(PKGS)

# The demo's peers only (no cosign build): after they are installed it runs in seconds.
demo: build
	./scripts/install-deps.sh --demo
	./scripts/demo.sh

# One table of imgx against its peers and the floor (docs/benchmarks.md): about 6 minutes
# on an idle 2-core machine (26 when shared, load average 16). SIZE=300 make bench for a
# quick run, ROWS=save,load,verify for some rows.
bench: build
	./scripts/bench.sh

# Short fuzzing runs of every fuzz target; corpora live in each package's testdata/fuzz.
fuzz:
	./scripts/fuzz.sh 20s

clean:
	rm -rf bin demo-out
