#!/usr/bin/env bash
# `make fresh-check`: the README's two commands, `make demo` then `make test`, run from nothing on
# a minimal Debian 12 (mmdebstrap --variant=minbase): every apt, pip and build step they promise
# happens inside it. The one thing these machines cannot download is Rust, so the host's
# toolchain is mounted read-only (rustup's home and ~/.cargo/bin); crates come from crates.io.
# Before the two commands it installs `make`, the one prerequisite the README names.
#
# Needs root (chroot and mounts). The pristine root is cached as a tarball in .cache/fresh, as the
# arm64 sysroot is in .cache/aarch64; each run unpacks a new copy and throws it away afterwards.
# Everything inside runs in its own mount and PID namespaces, so no mount or process outlives it.
#   FRESH_KEEP=1   keep the root (its path is printed) to look at a failure
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
CACHE="$REPO/.cache/fresh"
TARBALL="$CACHE/bookworm-minbase.tar"
MIRROR="http://deb.debian.org/debian"
start=$SECONDS
say() { printf '\033[1m==> fresh-check: %s\033[0m\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    echo "fresh-check: needs root for chroot and mounts; run: sudo make fresh-check" >&2
    exit 1
fi
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if [ ! -x "$cargo_bin/cargo" ] || [ ! -d "$rustup_home/toolchains" ]; then
    echo "fresh-check: no rustup toolchain in $rustup_home and $cargo_bin to lend the fresh root; run scripts/setup.sh build first" >&2
    exit 1
fi
for p in mmdebstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
        say "installing $p"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
    }
done

if [ ! -s "$TARBALL" ]; then
    say "building a minimal Debian 12 root (mmdebstrap --variant=minbase, about 40 MB)"
    mkdir -p "$CACHE"
    mmdebstrap --quiet --variant=minbase --format=tar bookworm "$TARBALL.part" \
        "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main"
    mv "$TARBALL.part" "$TARBALL"
fi

ROOT="$(mktemp -d /var/tmp/edgesight-fresh.XXXXXX)"
cleanup() {
    if [ "${FRESH_KEEP:-0}" = 1 ]; then say "kept the root in $ROOT"; else rm -rf --one-file-system "$ROOT"; fi
}
trap cleanup EXIT
tar -xf "$TARBALL" -C "$ROOT"

# The working tree as a clone would have it (tracked and untracked-but-not-ignored files), so
# nothing built here (target/, .cache/) leaks in.
mkdir -p "$ROOT/root/edgesight"
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$ROOT/root/edgesight"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The site's network trust, as the host has it (an egress proxy's CA, a pip index setting): not
# something the README's commands install, but what any machine on this network is given.
# update-ca-certificates picks the CAs up when setup.sh installs ca-certificates.
mkdir -p "$ROOT/usr/local/share/ca-certificates"
cp -a /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
mkdir -p "$ROOT/root/.rustup" "$ROOT/root/.cargo/bin"

say "running make demo and make test inside $ROOT"
# shellcheck disable=SC2016
unshare --mount --pid --fork --propagation private bash -euo pipefail -c '
    root="$1" rustup_home="$2" cargo_bin="$3"
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o size=4g tmpfs "$root/tmp"
    mount --bind "$rustup_home" "$root/root/.rustup"
    mount -o remount,bind,ro "$root/root/.rustup"
    mount --bind "$cargo_bin" "$root/root/.cargo/bin"
    mount -o remount,bind,ro "$root/root/.cargo/bin"
    exec chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 CI="${CI:-}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        bash -euo pipefail -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null && cd /root/edgesight && make demo && make test"
' fresh-check "$ROOT" "$rustup_home" "$cargo_bin"
say "make demo and make test passed on a fresh Debian 12 in $((SECONDS - start)) s"
