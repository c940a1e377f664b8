# bulwark — build, test, demo and install targets. Run as root on Debian 12.
CARGO        ?= cargo
HOST_TARGET  := x86_64-unknown-linux-gnu
PROBE        := target/$(HOST_TARGET)/release/bulwark-probe
BULWARK      := target/release/bulwark

# Debian packages the build, the tests and the demo need (see README).
DEB_PACKAGES := libseccomp-dev pkg-config make procps file \
                apparmor jq runc podman conmon umoci skopeo containernetworking-plugins \
                containerd catatonit iproute2 protobuf-compiler

.PHONY: all deps build probe opa policy-test test lint demo bench clean

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
# podman, containerd CRI, OPA.
test: lint build probe policy-test
	BULWARK_PROBE=$(CURDIR)/$(PROBE) BULWARK_OPA_BINDINGS=$(OPA_BINDINGS) \
		$(CARGO) test --release --locked --workspace -- --test-threads=2

# The main job: a hardened container and a refused spec, through the built binary.
demo: build probe
	integration/demo.sh $(BULWARK) $(PROBE)

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
