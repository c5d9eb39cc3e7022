# gohv: `make run` boots gohv under QEMU with Debian's Linux as dom0 and the
# console on this terminal;
# `make test` runs every test. Both install what they need first.

GO        ?= go
BUILD     := build
# The image runs in the upper half: its text is linked at 0xffff82d040200000
# (given to the linker, whose -T is signed, as -0x7d2fbfe00000) and loaded at
# 0x200000, IMAGE_OFFSET below it. arch/amd64/rt (textBase, imageOffset,
# TEXT_PA) must agree; kmain checks the link address.
TEXT_BASE    := -0x7d2fbfe00000
IMAGE_OFFSET := 0xffff82d040000000
ENTRY     := github.com/gohv/gohv/arch/amd64/rt.entry32
IMAGE_ENV := GOOS=linux GOARCH=amd64 CGO_ENABLED=0 GOAMD64=v1
GOFILES   := $(shell find . -name '*.go' -o -name '*.s' | grep -v '^./build/')

QEMU      := qemu-system-x86_64 -accel tcg -nographic -no-reboot \
             -device isa-debug-exit,iobase=0xf4,iosize=4
RUN_ARGS  ?= console=com1 com1=115200,8n1 loglvl=all
DOM0_ARGS ?= console=hvc0 earlyprintk=xen

.PHONY: all deps run run-xen run-bare run-guest initramfs test test-dom0 vet fuzz bench clean FORCE

all: $(BUILD)/gohv $(BUILD)/gohv.gz

deps:
	@scripts/deps.sh

$(BUILD)/mkimage: $(GOFILES) go.mod
	@mkdir -p $(BUILD)
	$(GO) build -o $@ ./cmd/mkimage

$(BUILD)/gohv: $(GOFILES) go.mod $(BUILD)/mkimage
	@mkdir -p $(BUILD)
	$(IMAGE_ENV) $(GO) build -trimpath -o $(BUILD)/gohv.elf \
		-ldflags='-s -w -E $(ENTRY) -T $(TEXT_BASE)' ./cmd/gohv
	$(BUILD)/mkimage -offset $(IMAGE_OFFSET) -o $@ $(BUILD)/gohv.elf

$(BUILD)/gohv.gz: $(BUILD)/gohv
	gzip -9 -n -c $< > $@

# The dom0 initramfs (cmd/mkinitramfs): u-root's shell and core commands,
# cmd/dom0init as /init, its bench task's fork+exec+exit helper (C, gcc
# -static), and the modules dom0 needs from the kernel's own Debian package
# (scripts/fetch-modules.sh). modules.path names that
# package's lib/modules/<release> and changes only when the kernel does, so
# the archive is rebuilt only when its inputs change.
INITRAMFS := $(BUILD)/initramfs.cpio.xz
INITRAMFS_SRC := $(shell find cmd/dom0init cmd/mkinitramfs \( -name '*.go' -o -name '*.c' \) ! -name '*_test.go')

$(BUILD)/modules.path: FORCE
	@mkdir -p $(BUILD)
	@p=$$(scripts/fetch-modules.sh) && { [ "$$(cat $@ 2>/dev/null)" = "$$p" ] || echo "$$p" > $@; }

$(INITRAMFS): $(BUILD)/modules.path $(INITRAMFS_SRC) go.mod go.sum
	$(GO) run ./cmd/mkinitramfs -modules "$$(cat $(BUILD)/modules.path)" -o $@

initramfs: deps $(INITRAMFS)

FORCE:

# Debian's Linux 6.1 as dom0 (fetched once by scripts/fetch-kernel.sh) with
# the dom0 initramfs as its initrd (boot module 1); README's Status says how
# far it gets. Ctrl-A X quits QEMU; `poweroff` in dom0 ends it through
# isa-debug-exit with status 1 (gohv's clean power-off), `reboot` with 0
# (-no-reboot): neither is an error.
run: deps all $(INITRAMFS)
	$(QEMU) -m 1G -kernel $(BUILD)/gohv -append "$(RUN_ARGS) dom0_mem=512M" \
		-initrd "$$(scripts/fetch-kernel.sh) $(DOM0_ARGS),$(INITRAMFS)"; \
		s=$$?; [ $$s -eq 1 ] || [ $$s -eq 0 ] || { echo "qemu exit status $$s"; exit $$s; }

# The same kernel and initramfs as dom0 of Debian's Xen 4.17: what `make run`
# is aiming at. dom0init gives a shell on hvc0; `poweroff` there ends QEMU
# (Xen enters ACPI S5), so does `reboot` (-no-reboot); Ctrl-A X quits.
XEN_GZ := /boot/xen-4.17-amd64.gz
$(BUILD)/xen/xen-4.17.elf: $(XEN_GZ)
	@mkdir -p $(BUILD)/xen
	gunzip -c $< > $@.tmp && mv $@.tmp $@

run-xen: deps $(INITRAMFS)
	$(MAKE) -s $(BUILD)/xen/xen-4.17.elf
	$(QEMU) -m 1G -kernel $(BUILD)/xen/xen-4.17.elf -append "$(RUN_ARGS) dom0_mem=512M" \
		-initrd "$$(scripts/fetch-kernel.sh) $(DOM0_ARGS),$(INITRAMFS)"

# gohv alone: boot log, the ready line, power-off (QEMU's isa-debug-exit
# turns it into exit status 1).
run-bare: deps all
	$(QEMU) -m 512M -kernel $(BUILD)/gohv -append "$(RUN_ARGS)"; s=$$?; [ $$s -eq 1 ] || { echo "qemu exit status $$s"; exit $$s; }

# A PV test guest (tests/guests) as dom0: make run-guest GUEST=events
GUEST ?= hello
run-guest: deps all
	$(MAKE) -s -C tests/guests all
	$(QEMU) -m 512M -kernel $(BUILD)/gohv -append "$(RUN_ARGS) dom0_mem=64M" -initrd $(BUILD)/guests/$(GUEST).elf; s=$$?; [ $$s -eq 1 ] || { echo "qemu exit status $$s"; exit $$s; }

# The metal (rt, and cmd/gohv that wires it) is vetted for the image's
# target without unsafeptr and framepointer: its unsafe.Pointer arithmetic
# on physical and upper-half addresses and its entry stubs are on purpose.
vet:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './build/*')); \
		[ -z "$$unformatted" ] || { echo "gofmt needed: $$unformatted"; exit 1; }
	$(GO) vet $$($(GO) list ./... | grep -v -e /arch/amd64/rt -e /cmd/gohv)
	$(IMAGE_ENV) $(GO) vet -unsafeptr=false -framepointer=false ./arch/amd64/rt ./cmd/gohv

# `make test` runs every test and skips none: GOHV_REQUIRE=1 turns a missing
# tool or input into a failure (internal/testenv). First every package
# plainly (unit tests, fuzz seeds, the QEMU and Xen boots), then the pure
# packages (everything but arch/amd64, arch/amd64/rt, the commands and the
# QEMU tests) again under the race detector; that pass leaves out the
# single-goroutine tests that decode a whole Debian kernel (//go:build
# !race) and builds 50 domains instead of 1,000 in hv's teardown test.
# GOHV_VMLINUZ: Debian's Linux 6.1 bzImage; GOHV_GRUB_XEN: Debian's GRUB for
# Xen PV (a 64-bit PV kernel).
PURE_PKGS = $(shell $(GO) list ./... | grep -v -e '/arch/amd64$$' -e '/arch/amd64/rt$$' -e '/cmd/' -e '/tests$$')

test: deps vet all $(INITRAMFS)
	@vmlinuz=$$(scripts/fetch-kernel.sh) && grubxen=$$(scripts/fetch-grub-xen.sh) && \
	export GOHV_REQUIRE=1 GOHV_VMLINUZ="$$vmlinuz" GOHV_GRUB_XEN="$$grubxen" && \
	echo "GOHV_REQUIRE=1 GOHV_VMLINUZ=$$vmlinuz GOHV_GRUB_XEN=$$grubxen" && \
	$(GO) test -timeout 30m ./... && \
	$(GO) test -race -timeout 30m $(PURE_PKGS)

# Only the dom0 userland tests (tests/dom0_test.go, also part of `make
# test`), with their timings.
test-dom0: deps all $(INITRAMFS)
	GOHV_VMLINUZ=$$(scripts/fetch-kernel.sh) $(GO) test -timeout 30m -v -run TestDom0Userland ./tests/

# Each fuzz target for FUZZTIME (not part of `make test`).
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# Every benchmark of tests/ against Debian's Xen 4.17 (and, for dom0, plain
# Linux), medians of 5 interleaved runs (GOHV_BENCH_RUNS=n for another
# count); GOHV_REQUIRE=1: a missing tool or input fails instead of
# skipping. The README's Status gives the figures and how long it takes.
bench: deps all $(INITRAMFS)
	@vmlinuz=$$(scripts/fetch-kernel.sh) && \
	export GOHV_REQUIRE=1 GOHV_VMLINUZ="$$vmlinuz" && \
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 150m ./tests/

clean:
	rm -rf $(BUILD)
