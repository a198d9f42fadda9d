# imgx — the two commands a new machine needs: `make demo` and `make test`.
GO      ?= go
BIN     := bin/imgx
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
PKGS    := ./...

.PHONY: all build test test-short vet fmt-check deps demo bench fuzz clean

all: build

build:
	$(GO) build -ldflags "-X main.Version=$(VERSION)" -o $(BIN) ./cmd/imgx

deps:
	./scripts/install-deps.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The full suite, with the real peers (skopeo, umoci, sshd, vsftpd) installed and enabled.
test: deps fmt-check vet
	IMGX_REAL_TESTS=1 $(GO) test -count=1 -timeout 25m $(PKGS)

# Fast tests only: no real servers or external tools.
test-short:
	$(GO) test -count=1 $(PKGS)

demo: deps build
	./scripts/demo.sh

bench: build
	./scripts/bench.sh

# Short fuzzing runs of every fuzz target; corpora live in each package's testdata/fuzz.
fuzz:
	./scripts/fuzz.sh 20s

clean:
	rm -rf bin demo-out
