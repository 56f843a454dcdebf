#!/usr/bin/env bash
# Checks of the packaging that run anywhere (CI included): the systemd unit, sysusers and
# tmpfiles, and the Yocto layer (scripts/yocto-lint.sh).
#   systemd-analyze verify must print nothing (it exits 0 on misspelt settings, printing only
#   "…, ignoring"), on a copy whose binaries are /bin/true; exposure must stay <= 2.0.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
say() { printf '%s\n' "$*"; }
command -v systemd-analyze >/dev/null || { say "packaging-check: systemd-analyze missing: apt-get install systemd"; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 1. The unit.
sed 's#/usr/bin/edgesight#/bin/true#g' systemd/edgesight.service > "$tmp/edgesight.service"
out="$(systemd-analyze verify --man=no "$tmp/edgesight.service" 2>&1 || true)"
if [ -n "$out" ]; then say "packaging-check: FAIL: systemd-analyze verify:"; say "$out"; fail=1; else say "packaging-check: unit verifies cleanly"; fi
if exposure="$(systemd-analyze security --offline=yes --threshold=20 "$tmp/edgesight.service" 2>&1)"; then
    say "packaging-check: $(printf '%s\n' "$exposure" | grep -o 'Overall exposure level.*')"
else
    say "packaging-check: FAIL: exposure above 2.0:"; printf '%s\n' "$exposure" | tail -3; fail=1
fi

# 2. sysusers and tmpfiles applied to an empty root.
root="$tmp/root"
mkdir -p "$root/etc" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d"
touch "$root/etc/passwd" "$root/etc/group" "$root/etc/shadow" "$root/etc/gshadow"
cp systemd/edgesight.sysusers "$root/usr/lib/sysusers.d/edgesight.conf"
cp systemd/edgesight.tmpfiles "$root/usr/lib/tmpfiles.d/edgesight.conf"
if systemd-sysusers --root="$root" >"$tmp/sysusers.log" 2>&1 && grep -q '^edgesight:' "$root/etc/passwd" \
    && grep -q '^video:.*edgesight' "$root/etc/group" && grep -q '^render:.*edgesight' "$root/etc/group"; then
    say "packaging-check: sysusers creates edgesight (groups video, render)"
else
    say "packaging-check: FAIL: sysusers"; cat "$tmp/sysusers.log"; fail=1
fi
if systemd-tmpfiles --root="$root" --create >"$tmp/tmpfiles.log" 2>&1 && [ -d "$root/var/lib/edgesight" ] && [ -d "$root/etc/edgesight/conf.d" ]; then
    say "packaging-check: tmpfiles creates /var/lib/edgesight and /etc/edgesight/conf.d"
else
    say "packaging-check: FAIL: tmpfiles"; cat "$tmp/tmpfiles.log"; fail=1
fi

# 3. The unit's commands exist in this build.
bin="${BIN:-target/release/edgesight}"
if [ -x "$bin" ]; then
    if "$bin" check --help >/dev/null && "$bin" run --help >/dev/null; then
        say "packaging-check: $bin has the commands the unit and the runbook use (check, run)"
    else
        say "packaging-check: FAIL: $bin lacks a command the unit runs"; fail=1
    fi
fi
# 4. The Yocto layer: oelint-adv, the crates file, the licence checksum.
if scripts/yocto-lint.sh; then say "packaging-check: Yocto layer lints cleanly"; else say "packaging-check: FAIL: Yocto layer"; fail=1; fi

[ "$fail" -eq 0 ] && say "packaging-check: PASS" || { say "packaging-check: FAIL"; exit 1; }
