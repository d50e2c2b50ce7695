# rampart — `make demo` generates the dcos-packet example into out/;
# `make test` installs what the tests need and runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.bin
# The Ignition the tests run is the one go.mod pins, so Butane's output is
# checked by the same Ignition version it was translated for.
IGNITION_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/coreos/ignition/v2)
IGNITION := $(BIN)/ignition-$(IGNITION_VERSION)
DEBS := iptables ipset nftables iproute2 cloud-init libblkid-dev systemd etcd-server etcd-client git dnsmasq-base isc-dhcp-client openssh-server openssh-client
TEST_TIMEOUT ?= 14m

.PHONY: all build demo test unit bench deps deps-debs deps-moto fuzz fmt vet clean

all: build

build:
	$(GO) build -o $(BIN)/rampart ./cmd/rampart

demo: build
	$(BIN)/rampart gen -f fixtures/dcos-packet.yaml -o out --state state/dcos-packet

# deps installs what the tests need, idempotently: Debian's packages only when
# one is missing, the Ignition binary only when it is not built yet.
deps: deps-debs deps-moto $(IGNITION)

deps-debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# moto is not a Debian package; the AWS tests need its moto_server, which the
# machine image carries. Say so plainly where it is missing.
deps-moto:
	@command -v moto_server >/dev/null 2>&1 || python3 -c 'import moto.server' 2>/dev/null || \
		{ echo "moto_server is missing: the AWS tests run against it (pip install 'moto[server]')"; exit 1; }

$(IGNITION):
	@mkdir -p $(BIN)/ignition-build
	GOBIN=$(BIN)/ignition-build CGO_ENABLED=1 $(GO) install github.com/coreos/ignition/v2/internal@$(IGNITION_VERSION)
	mv $(BIN)/ignition-build/internal $@

# RAMPART_REAL=1: a test that needs a real component fails when it is missing
# instead of skipping.
test: deps vet
	RAMPART_REAL=1 RAMPART_IGNITION=$(IGNITION) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./generator/spec
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./generator/drift
	$(GO) test -run '^$$' -fuzz FuzzAgree -fuzztime $(FUZZTIME) ./providers/aws

clean:
	rm -rf $(BIN) out
