# bulwark — build, test, demo and install targets. Run as root on Debian 12.
CARGO        ?= cargo
HOST_TARGET  := x86_64-unknown-linux-gnu
PROBE        := target/$(HOST_TARGET)/release/bulwark-probe
BULWARK      := target/release/bulwark

# Debian packages the build, the tests, the demo and the bench need (see README; `time`:
# the bench measures create's peak RSS with GNU time).
DEB_PACKAGES := libseccomp-dev pkg-config make procps file g++ \
                apparmor jq runc podman conmon umoci skopeo containernetworking-plugins \
                containerd catatonit iproute2 protobuf-compiler time

.PHONY: all deps vm-deps build probe opa policy-test test vm-test lint demo bench fuzz install uninstall clean

# make install: DESTDIR for staging, PREFIX for the binary and shared files.
DESTDIR ?=
PREFIX  ?= /usr/local
SHARE   := $(DESTDIR)$(PREFIX)/share/bulwark
ETC     := $(DESTDIR)/etc/bulwark
POLICY_FILES := decision.rego lib.rego secrets.rego shape.rego task.rego data.json

# The real OPA evaluator (PyPI), for the policy tests and the OPA test server.
OPA_BINDINGS := $(CURDIR)/target/opa-bindings

all: build probe

# Installs only what is missing, so `make test` on a prepared machine stays offline.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The VM lane (integration/vm/, issue #17) boots Debian's own kernel under qemu (TCG) to
# test where users run: pure cgroup v2, AppArmor enforcing. qemu-system-x86 comes from
# bookworm-backports because the preinstalled qemu-utils is the backports build and
# conflicts with bookworm's qemu; bookworm-backports is added as a deb822 source with
# the same URI and key as the Debian source. busybox-static and cpio build the initramfs;
# debootstrap the systemd guest's Debian root (stage 2, `make vm-test` only).
VM_PACKAGES  := qemu-system-x86 busybox-static cpio debootstrap
BACKPORTS_SOURCES := /etc/apt/sources.list.d/bookworm-backports.sources
vm-deps: deps
	@missing=$$(for p in $(VM_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		if [ ! -e $(BACKPORTS_SOURCES) ]; then \
			printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
				> $(BACKPORTS_SOURCES); \
		fi; \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends -t bookworm-backports $$missing; \
	fi

build: deps
	$(CARGO) build --release --locked -p bulwark

# The probe runs inside test containers whose rootfs holds nothing else, so it is
# linked statically. Building it for an explicit --target keeps crt-static away from
# build scripts and from the bulwark binary itself.
probe:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked \
		-p bulwark-probe --target $(HOST_TARGET)

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

opa:
	integration/opa/install.sh $(OPA_BINDINGS)

# policies/ through the real OPA evaluator: the Rego test rules and every decision case.
policy-test: opa
	python3 integration/opa/run_policy_tests.py --bindings $(OPA_BINDINGS)

# The whole suite: policy tests, unit tests, real containers through the built binary,
# podman, containerd CRI, OPA, the VM lane (cgroup v2 + AppArmor; its tests are
# #[ignore]d in a plain `cargo test`, so they run once, here), then a bounded fuzzing run.
# The VM lane runs with --workspace like the step before, so cargo reuses that build of
# bulwark (a `-p bulwark` build unifies features differently and relinks it).
test: lint build probe policy-test vm-deps
	BULWARK_PROBE=$(CURDIR)/$(PROBE) BULWARK_OPA_BINDINGS=$(OPA_BINDINGS) \
		$(CARGO) test --release --locked --workspace -- --test-threads=2
	BULWARK_PROBE=$(CURDIR)/$(PROBE) $(CARGO) test --release --locked --workspace --test vm -- \
		--ignored --nocapture --test-threads=2
	$(MAKE) fuzz

# The VM lane alone (integration/vm.rs; README, "VM lane"): Debian 12's kernel under
# qemu TCG, AppArmor enforcing, cgroup v2 only; `make test` runs it too. The kernel is
# fetched once into target/vm/kernel. Then the systemd guest (integration/vm_systemd.rs,
# issue #17 stage 2: --systemd-cgroup under systemd as PID 1), here only: about 90 s
# more, and a debootstrap into target/vm/debian-root (about 100 s) the first time.
vm-test: vm-deps build probe
	BULWARK_PROBE=$(CURDIR)/$(PROBE) $(CARGO) test --release --locked --test vm -- \
		--ignored --nocapture --test-threads=2
	BULWARK_PROBE=$(CURDIR)/$(PROBE) $(CARGO) test --release --locked --test vm_systemd -- \
		--ignored --nocapture --test-threads=2

# Fuzzing (README, "Fuzzing"): builds the four targets in fuzz/ (a workspace of its own,
# built into fuzz/target, so the main build is untouched), then runs each for
# FUZZ_SECONDS after replaying its corpus (fuzz/corpus/<target>); any crash fails.
# New inputs libFuzzer finds go to fuzz/target/found/, never into the committed corpus;
# a crash is written to fuzz/artifacts/<target>/. Each target has a dictionary in
# fuzz/dict/ (the spec's keys, mount options, rule triggers).
# - No sanitizer: bulwark and the code it fuzzes are safe Rust, where ASan finds nothing
#   a panic would not, and instrumenting every dependency for it would double the build.
# - Stable toolchain: without a sanitizer cargo-fuzz 0.13.2 passes rustc no -Z flag
#   (only -C sancov options and --cfg fuzzing), so no RUSTC_BOOTSTRAP is needed.
# - --dev (unoptimized, fuzz/Cargo.toml's profile.dev): the release build of the
#   instrumented tree (libcontainer, regorus, tokio, hyper) costs several minutes more
#   CPU than a 20-second run gains from optimized code.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := spec_admission host_config exec_process opa_response
FUZZ_FLAGS   := --dev --sanitizer none
fuzz:
	@$(CARGO) fuzz --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' || \
		$(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)
	@# cargo fuzz has no --locked: fail here if fuzz/Cargo.lock would change.
	cd fuzz && $(CARGO) metadata --locked --format-version 1 >/dev/null
	cd fuzz && $(CARGO) fuzz build $(FUZZ_FLAGS)
	@for target in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/target/found/$$target; \
		echo "== fuzz $$target ($(FUZZ_SECONDS) s)"; \
		(cd fuzz && $(CARGO) fuzz run $(FUZZ_FLAGS) $$target \
			target/found/$$target corpus/$$target -- \
			-dict=dict/$$target.dict -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-print_final_stats=1) || exit 1; \
	done

# The main job: a hardened container and a refused spec, through the built binary.
demo: build probe
	integration/demo.sh $(BULWARK) $(PROBE)

# Installs the built binary (run `make build` first), the seccomp profiles, the
# AppArmor profile, the Rego policies and a default host config. Files under /etc/bulwark
# that already exist are the operator's and are never overwritten.
install:
	@test -x $(BULWARK) || { echo "no $(BULWARK): run make build first" >&2; exit 1; }
	install -D -m 0755 $(BULWARK) $(DESTDIR)$(PREFIX)/bin/bulwark
	install -d -m 0755 $(SHARE)/seccomp-profiles $(SHARE)/apparmor $(SHARE)/policies $(SHARE)/engines
	install -m 0644 seccomp-profiles/*.json $(SHARE)/seccomp-profiles/
	install -m 0644 apparmor/bulwark-default $(SHARE)/apparmor/
	install -m 0644 $(addprefix policies/,$(POLICY_FILES)) $(SHARE)/policies/
	install -m 0644 packaging/containerd-1.x.toml packaging/containerd-2.x.toml \
		packaging/runtimeclass.yaml packaging/containers.conf $(SHARE)/engines/
	install -d -m 0755 $(ETC) $(ETC)/policies
	@for f in $(POLICY_FILES); do \
		if [ -e $(ETC)/policies/$$f ]; then echo "kept $(ETC)/policies/$$f"; \
		else install -m 0644 policies/$$f $(ETC)/policies/$$f; fi; \
	done
	@if [ -e $(ETC)/config.toml ]; then echo "kept $(ETC)/config.toml"; \
	else install -m 0644 packaging/config.toml $(ETC)/config.toml; fi

# Removes what install put in place; files under /etc/bulwark stay if the operator
# changed them.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/bulwark
	rm -rf $(SHARE)
	@for f in $(POLICY_FILES); do \
		if cmp -s policies/$$f $(ETC)/policies/$$f; then rm -f $(ETC)/policies/$$f; \
		elif [ -e $(ETC)/policies/$$f ]; then echo "kept edited $(ETC)/policies/$$f"; fi; \
	done
	@if cmp -s packaging/config.toml $(ETC)/config.toml; then rm -f $(ETC)/config.toml; \
	elif [ -e $(ETC)/config.toml ]; then echo "kept edited $(ETC)/config.toml"; fi
	-@rmdir $(ETC)/policies $(ETC) 2>/dev/null || true

# Benchmarks (docs/benchmarks.md): bulwark against Debian's runc and bare libcontainer,
# end to end, in parallel, and its stages in-process (criterion). As root; about 4
# minutes on a 2-core host once built (BENCH_ITERATIONS, default 100). The OPA round
# trip is measured when the OPA bindings install, and skipped with a note otherwise.
BENCH_ITERATIONS ?= 100
bench: build probe
	-integration/opa/install.sh $(OPA_BINDINGS)
	$(CARGO) build --release --locked -p bare-libcontainer
	$(CARGO) bench --locked -p bulwark --bench components --no-run
	python3 bench/bench.py --bulwark $(BULWARK) --bare target/release/bare-libcontainer \
		--runc /usr/sbin/runc --probe $(PROBE) --opa-bindings $(OPA_BINDINGS) \
		--iterations $(BENCH_ITERATIONS) --out docs/benchmarks.md

clean:
	$(CARGO) clean
