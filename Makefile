# netctl — build, test, lint, bench.
#
# `make test` is the one command CI runs (.ci/run). Kernel integration tests
# need root; each makes its own sandbox namespace (internal/sandbox), so the
# test packages may run in parallel processes (go test's default -p, one per
# CPU) without seeing each other.

GO          ?= go
PREFIX      ?= /usr/local
BIN         := bin/netctl
TESTFLAGS   ?=
# staticcheck 2025.1.1: the module proxy knows it by its semver, v0.6.1.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.6.1

.PHONY: all build install test lint bench bench-watch bench-ports fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/netctl

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/netctl

# Unit and integration tests in one run. -race also builds the netctl binary
# the integration tests exec with -race (internal/sandbox does that).
test:
	$(GO) vet ./... && $(GO) test -race -count=1 -timeout 40m $(TESTFLAGS) ./...

# `go run pkg@version` builds staticcheck outside this module: no go.mod
# changes.
lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench: build
	bench/run.sh

bench-watch: build
	bench/watch.sh

# Published ports: N containers with and without 2 ports each, and the
# same rules loaded by one iptables-restore (docs/benchmarks.md).
bench-ports: build
	bench/ports.sh

fuzz:
	$(GO) test ./spec -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s

clean:
	rm -rf bin bench/.cache
