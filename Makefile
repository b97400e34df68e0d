# netctl — build, test, lint, bench.
#
# `make test` is the one command CI runs (.ci/run). Kernel integration tests
# need root; each makes its own sandbox namespace (internal/sandbox), so the
# test packages may run in parallel processes (go test's default -p, one per
# CPU) without seeing each other.

GO          ?= go
PREFIX      ?= /usr/local
# Generated files (man pages, completions) and the .deb go here.
BUILD       ?= build
BIN         ?= bin/netctl
# The program behind `netctl convert` (compose-go lives there, not in netctl).
CONVERT_BIN ?= $(dir $(BIN))netctl-convert
TESTFLAGS   ?=
# staticcheck 2025.1.1: the module proxy knows it by its semver, v0.6.1.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.6.1
# nfpm builds the .deb; `go run pkg@version` builds it from the module
# proxy, outside this module: no binary download, no go.mod change.
NFPM        ?= github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
VERSION     ?= $(shell packaging/version.sh)
DEB_ARCH    ?= $(shell $(GO) env GOARCH)
# Reproducible man pages and package: dated by the last commit.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# -s -w: no symbol table nor DWARF (stack traces keep working). version and
# commit are what `netctl --version` prints; builds without them fall back
# to Go's build info.
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build install test lint bench bench-watch bench-ports bench-nftables bench-overlay bench-ipv6 fuzz fuzz-short clean man completions schema deb

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/netctl
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(CONVERT_BIN) ./cmd/netctl-convert

# Man pages (section 8) generated from the commands by cobra's doc
# generator, which only this build of netctl holds (-tags mangen).
man:
	rm -rf $(BUILD)/man
	$(GO) run -tags mangen ./cmd/netctl man $(BUILD)/man

completions: build
	mkdir -p $(BUILD)/completion
	$(BIN) completion bash > $(BUILD)/completion/netctl.bash
	$(BIN) completion zsh > $(BUILD)/completion/_netctl
	$(BIN) completion fish > $(BUILD)/completion/netctl.fish

# The committed JSON Schema (spec/schema's test fails when it is stale).
schema:
	$(GO) run ./cmd/netctl schema > schema/netctl.schema.json

# Binary, man pages, completions, systemd units and schema; the units are
# installed, not enabled. PREFIX=/usr/local puts the units in
# /usr/local/lib/systemd/system, which systemd reads too.
install: build man completions
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/netctl
	install -D -m 0755 $(CONVERT_BIN) $(DESTDIR)$(PREFIX)/bin/netctl-convert
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 $(BUILD)/man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -D -m 0644 $(BUILD)/completion/netctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/netctl
	install -D -m 0644 $(BUILD)/completion/_netctl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_netctl
	install -D -m 0644 $(BUILD)/completion/netctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/netctl.fish
	install -D -m 0644 schema/netctl.schema.json $(DESTDIR)$(PREFIX)/share/netctl/netctl.schema.json
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	for u in packaging/systemd/*.service; do \
		sed 's|/usr/bin/netctl|$(PREFIX)/bin/netctl|' $$u > $(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$u); \
	done

# The Debian package: $(BUILD)/netctl_$(VERSION)_$(DEB_ARCH).deb.
deb: man completions
	rm -rf $(BUILD)/man-gz && mkdir -p $(BUILD)/man-gz
	for m in $(BUILD)/man/*.8; do gzip -9n < $$m > $(BUILD)/man-gz/$$(basename $$m).gz; done
	BUILD=$(BUILD) NETCTL_BIN=$(BIN) NETCTL_CONVERT_BIN=$(CONVERT_BIN) VERSION=$(VERSION) DEB_ARCH=$(DEB_ARCH) \
		$(GO) run $(NFPM) package -f packaging/nfpm.yaml -p deb -t $(BUILD)/netctl_$(VERSION)_$(DEB_ARCH).deb

# The integration tests whose outcome depends on the firewall backend: after
# the full run (auto: iptables where installed), they run again on nftables
# and, where installed, on iptables-legacy. Tests of one backend in
# particular (coexistence, switching, legacy) pin it themselves and run once.
FIREWALL_TESTS := ^Test(PublishedPorts|IsolationAndOutbound|ICCAndLinks|UDPRetargetFlushesConntrack|ProjectsShareTheDefaultNetwork|DockerGuidePorts|DockerGuide|WatchRepairsFirewall|OverlayVXLANFilter|SeparateRootsDoNotCollide|PortInUseIsRefused|DualStack|OverlayDualStack|HairpinModeOfEndpoint|PublishedDNSPortKeepsNamesResolving|FlushedDNATChainIsRepaired|VXLANFilterIsPerVNI|OverlayPublishedDNSPortKeepsNamesResolving)$$

# Unit and integration tests in one run. -race also builds the netctl binary
# the integration tests exec with -race (internal/sandbox does that).
test:
	$(GO) vet ./... && $(GO) test -race -count=1 -timeout 40m $(TESTFLAGS) ./...
	NETCTL_FIREWALL=nftables $(GO) test -race -count=1 -timeout 20m $(TESTFLAGS) -run '$(FIREWALL_TESTS)' ./integration/
	if command -v iptables-legacy >/dev/null 2>&1; then \
		NETCTL_FIREWALL=iptables NETCTL_IPTABLES=legacy $(GO) test -race -count=1 -timeout 20m $(TESTFLAGS) -run '$(FIREWALL_TESTS)' ./integration/; \
	fi

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

# Firewall backends: the same topology with 2 ports per container applied
# with nftables and with iptables, and one iptables-restore of the same
# rules (docs/benchmarks.md).
bench-nftables: build
	bench/nftables.sh

# Overlay networks at scale: one node of 3 against a bridge, and 2-16
# nodes (docs/benchmarks.md). A test binary, only built with this tag.
bench-overlay:
	$(GO) test -tags overlaybench -count=1 -v -timeout 60m ./bench/overlay/

# Dual stack against IPv4 only at N=1000, the same run (docs/benchmarks.md).
bench-ipv6: build
	bench/ipv6.sh

# Every fuzz target: what a user or a container controls (the topology
# file, DNS packets), the builders of the restore input netctl feeds
# iptables-restore and of its nftables table, and the decoders of what
# netctl reads back from live hosts (rule comments, link marks) and of the
# namespace readings it keeps under --root. `make fuzz-short` runs each for FUZZSHORT;
# `make fuzz` for FUZZTIME (docs/benchmarks.md has a long run's figures).
FUZZ_TARGETS := ./spec:FuzzParse ./actuators/dns:FuzzPacket ./actuators/firewall/iptables:FuzzRestoreInput ./actuators/firewall/nftables:FuzzTableInput ./model:FuzzPersistedEncodings ./actuators/netlink:FuzzDecodeReadings ./actuators/files:FuzzDecodeFiles
# FUZZSHORT counts executions (Nx): a duration races the Go 1.26 fuzz
# coordinator's deadline on a loaded machine and fails with "context
# deadline exceeded" and no input (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME     ?= 5m
FUZZSHORT    ?= 20000x

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZSHORT)

clean:
	rm -rf bin $(BUILD) bench/.cache
