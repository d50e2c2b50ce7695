# rampart — `make demo` generates the dcos-packet example into out/;
# `make test` installs what the tests need and runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/.bin
# The Ignition the tests run is the one go.mod pins, so Butane's output is
# checked by the same Ignition version it was translated for.
IGNITION_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/coreos/ignition/v2)
IGNITION := $(BIN)/ignition-$(IGNITION_VERSION)
DEBS := iptables ipset nftables iproute2 cloud-init libblkid-dev systemd etcd-server etcd-client git dnsmasq-base isc-dhcp-client openssh-server openssh-client qemu-system-x86 mmdebstrap e2fsprogs
TEST_TIMEOUT ?= 30m
comma := ,
space := $(subst ,, )

.PHONY: all build demo test unit bench deps deps-debs deps-moto fuzz fmt vet clean vmtest vm-image

all: build

build:
	$(GO) build -o $(BIN)/rampart ./cmd/rampart

# gen creates the state directory but never a missing parent of it (a
# mistyped --state must not quietly make a new CA): the demo makes state/.
demo: build
	@mkdir -p state
	$(BIN)/rampart gen -f fixtures/dcos-packet.yaml -o out --state state/dcos-packet

# deps installs what the tests need, idempotently: Debian's packages only when
# one is missing, the Ignition binary only when it is not built yet.
deps: deps-debs deps-moto $(IGNITION) vm-image

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

# The VM image of the boot tests (internal/vmlab): a Debian bookworm root that
# stands in for Flatcar and Fedora CoreOS, built by mmdebstrap from the
# packages below plus the stand-in OS's own files (internal/vmlab/image/rootfs:
# Flatcar's preset policy, an etcd-member unit, the lab's canary and first-boot
# init), as a raw ext4 disk (mke2fs -d, no loop mount) with the kernel and
# initramfs beside it. VMs boot it read-only (qemu snapshot=on). It is cached
# under .bin/vm-<key>, the key being the hash of this recipe and of those
# files, so a change of either builds a new one; .bin/vm-image points at the
# current one. The kernel's sound, graphics, wireless, media and USB drivers
# are left out to keep the root small (the VM has none of those devices).
# User core (uid 500, group sudo, passwordless sudo) stands in for Flatcar's.
# Every boot runs under TCG, where each unit and module costs seconds: the
# initramfs carries only what mounts the root (its configuration is copied in
# before the kernel is installed, so the one initramfs built is the small
# one), drivers of emulated devices the lab never uses are blacklisted
# (image/rootfs/etc/modprobe.d), and the units below, which a lab VM never
# needs (timers, gettys, module loaders of unused devices, e2scrub), are
# masked. rampart's own units and the firewall's modules are untouched.
VM_PACKAGES := systemd systemd-sysv udev dbus kmod iproute2 iptables ipset nftables \
	linux-image-amd64 openssh-server cloud-init etcd-server etcd-client procps sudo
VM_SOURCES := $(firstword $(wildcard /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list))
VM_TRIM := sound drivers/gpu drivers/media drivers/net/wireless drivers/net/ethernet drivers/infiniband \
	drivers/staging drivers/usb drivers/bluetooth drivers/isdn net/wireless net/mac80211 net/bluetooth
VM_FILES := $(CURDIR)/internal/vmlab/image/rootfs
VM_MASK := apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
	e2scrub_reap.service getty@tty1.service serial-getty@ttyS0.service systemd-pstore.service \
	systemd-binfmt.service proc-sys-fs-binfmt_misc.automount sys-kernel-debug.mount sys-kernel-tracing.mount \
	dev-hugepages.mount modprobe@drm.service modprobe@fuse.service modprobe@loop.service modprobe@dm_mod.service \
	modprobe@efi_pstore.service cloud-init-hotplugd.socket
VM_RECIPE := v4 bookworm variant=minbase $(sort $(VM_PACKAGES)) trim=$(VM_TRIM) mask=$(VM_MASK) \
	files=$(shell cd $(VM_FILES) && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
VM_KEY := $(shell printf '%s' '$(VM_RECIPE)' | sha256sum | cut -c1-12)
VM_IMAGE := $(BIN)/vm-$(VM_KEY)
VM_DISK_SIZE := 3G
VM_TIMEOUT ?= 40m

vm-image: $(VM_IMAGE)/done
	@ln -sfn vm-$(VM_KEY) $(BIN)/vm-image

$(VM_IMAGE)/done:
	@rm -rf $(VM_IMAGE).tmp && mkdir -p $(VM_IMAGE).tmp
	mmdebstrap --variant=minbase --format=directory --include='$(subst $(space),$(comma),$(VM_PACKAGES))' \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--setup-hook='mkdir -p "$$1"/etc/initramfs-tools "$$1"/usr/share/initramfs-tools' \
		--setup-hook='cp -R $(VM_FILES)/etc/initramfs-tools/. "$$1"/etc/initramfs-tools/' \
		--setup-hook='cp -R $(VM_FILES)/usr/share/initramfs-tools/. "$$1"/usr/share/initramfs-tools/' \
		--customize-hook='cd "$$1"/usr/lib/modules/* && rm -rf $(addprefix kernel/,$(VM_TRIM))' \
		--customize-hook='cp -L "$$1"/vmlinuz $(VM_IMAGE).tmp/vmlinuz && cp -L "$$1"/initrd.img $(VM_IMAGE).tmp/initrd.img' \
		--customize-hook='cp -R $(VM_FILES)/. "$$1"/' \
		--customize-hook='chroot "$$1" systemctl enable --quiet systemd-networkd.service' \
		--customize-hook='chroot "$$1" systemctl disable --quiet etcd.service' \
		--customize-hook='chroot "$$1" systemctl mask --quiet $(VM_MASK)' \
		--customize-hook='chroot "$$1" useradd --create-home --uid 500 --user-group --groups sudo --shell /bin/bash core' \
		--customize-hook='echo "%sudo ALL=(ALL) NOPASSWD: ALL" >"$$1"/etc/sudoers.d/90-vmlab-core && chmod 0440 "$$1"/etc/sudoers.d/90-vmlab-core' \
		--customize-hook='rm -f "$$1"/etc/ssh/ssh_host_* "$$1"/etc/apt/sources.list "$$1"/etc/apt/sources.list.d/* && : >"$$1"/etc/machine-id' \
		bookworm $(VM_IMAGE).tmp/root $(VM_SOURCES)
	truncate -s $(VM_DISK_SIZE) $(VM_IMAGE).tmp/root.raw
	mke2fs -q -F -t ext4 -L root -d $(VM_IMAGE).tmp/root $(VM_IMAGE).tmp/root.raw
	rm -rf $(VM_IMAGE).tmp/root
	printf '%s\n' '$(VM_RECIPE)' >$(VM_IMAGE).tmp/recipe
	rm -rf $(VM_IMAGE) && mv $(VM_IMAGE).tmp $(VM_IMAGE) && touch $(VM_IMAGE)/done
	@# images of older recipes are not used any more
	find $(BIN) -maxdepth 1 -name 'vm-*' ! -name 'vm-$(VM_KEY)*' ! -name vm-image -exec rm -rf {} +

# vmtest runs the boot proofs alone: qemu VMs booted from generated userdata.
# The packages that boot virtual machines: the boot proofs and apply's
# rollback on a VM with systemd.
VM_PKGS := ./internal/vmlab/... ./providers/apply/vmproof

vmtest: deps-debs $(IGNITION) vm-image
	RAMPART_REAL=1 RAMPART_IGNITION=$(IGNITION) RAMPART_VM_IMAGE=$(BIN)/vm-image $(GO) test -count=1 -timeout $(VM_TIMEOUT) -parallel $(VM_PARALLEL) -v $(VM_PKGS)

# RAMPART_REAL=1: a test that needs a real component fails when it is missing
# instead of skipping.
# The VM image (mostly downloads and unpacking) is built while Ignition is
# built, the code vetted and the packages that need no VM run; the VM
# packages run after both, with their own timeout
# (VM_TIMEOUT: under TCG on two cores a VM boots in one to three minutes):
# qemu takes both cores, and the namespace tests that count every connection
# (the re-apply without a gap, the packet matrices) must not share them with
# it. The image build's output goes to .bin/image-build.log and is printed when
# it fails.
# The packages that take longest start first (go test runs them in the
# order given, two at a time on two cores), so that none of them is left
# running alone at the end.
SLOW_PKGS := ./generator/firewall ./providers/apply ./generator/gen ./cmd/rampart/cli ./generator/drift \
	./providers/rollout ./providers/aws
# VM tests two at a time per package (go test's default on two cores): they
# are bound by the CPU qemu's TCG takes, and with every one at once (eight
# VMs) each boot took over five minutes and timed out.
VM_PARALLEL := 2
test: deps-debs deps-moto
	@mkdir -p $(BIN); ( $(MAKE) --no-print-directory vm-image >$(BIN)/image-build.log 2>&1 ) & img=$$!; \
	$(MAKE) --no-print-directory $(IGNITION) vet || { kill $$img; wait; exit 1; }; \
	export RAMPART_REAL=1 RAMPART_IGNITION=$(IGNITION) RAMPART_VM_IMAGE=$(BIN)/vm-image; \
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(SLOW_PKGS) $$($(GO) list ./... | grep -v -e '/internal/vmlab' -e '/providers/apply/vmproof' $(foreach p,$(SLOW_PKGS),-e '$(patsubst .%,%,$(p))$$')); rc=$$?; \
	wait $$img || { cat $(BIN)/image-build.log; echo "make vm-image failed"; exit 1; }; \
	$(GO) test -count=1 -timeout $(VM_TIMEOUT) -parallel $(VM_PARALLEL) $(VM_PKGS); vmrc=$$?; \
	[ $$rc = 0 ] && [ $$vmrc = 0 ]

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./generator/spec
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./generator/drift
	$(GO) test -run '^$$' -fuzz FuzzAgree -fuzztime $(FUZZTIME) ./providers/aws

clean:
	rm -rf $(BIN) out
