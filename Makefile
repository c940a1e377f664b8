# bulwark — build, test and install targets. Every target runs as root on Debian 12.
CARGO        ?= cargo
HOST_TARGET  := x86_64-unknown-linux-gnu
PROBE        := target/$(HOST_TARGET)/release/bulwark-probe
BULWARK      := target/release/bulwark

.PHONY: all build probe test lint clean

all: build probe

build:
	$(CARGO) build --release --locked -p bulwark

# The probe runs inside test containers whose rootfs holds nothing else, so it
# is linked statically. Building it for an explicit --target keeps crt-static
# away from build scripts and from the bulwark binary itself.
probe:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked \
		-p bulwark-probe --target $(HOST_TARGET)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

test: build probe
	BULWARK_PROBE=$(CURDIR)/$(PROBE) $(CARGO) test --release --locked -- --test-threads=2

clean:
	$(CARGO) clean
