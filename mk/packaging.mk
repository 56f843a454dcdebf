# Packaging: the systemd unit checks (in `make test`).
.PHONY: packaging-check

packaging-check:
	scripts/packaging-check.sh

# The aarch64 build without containers, run under qemu (in CI).
.PHONY: aarch64-smoke jetson

aarch64-smoke:
	scripts/aarch64-smoke.sh

# The Jetson build with `cross` (Docker or Podman). Never on machines without an engine: cross
# cannot build there and, in 0.2.5, replaced the stable toolchain (cross-rs/cross#1678).
jetson:
	@if ! { docker info >/dev/null 2>&1 || podman info >/dev/null 2>&1; }; then \
		echo "make jetson: no Docker/Podman engine here; use 'make aarch64-smoke' (no containers)" >&2; exit 1; fi
	CROSS_CONFIG=cross.toml PKG_CONFIG_ALLOW_CROSS=1 \
		PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=/ \
		cross build --release --locked --target aarch64-unknown-linux-gnu
