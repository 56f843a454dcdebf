#!/usr/bin/env bash
# Checks of the Yocto layer that run without its sources (CI included); the BitBake parse needs
# openembedded-core and meta-tegra checked out and is done by hand (yocto/README.md).
#   1. oelint-adv over the layer for each release it claims: no errors, no warnings.
#   2. edgesight-crates.inc is what scripts/gen-crates-inc.py makes from Cargo.lock now
#      (tests/yocto_layer.rs checks the same from the other side, without the script).
#   3. LIC_FILES_CHKSUM matches LICENSE.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'yocto-lint: %s\n' "$*"; }
fail=0
layer=yocto/meta-edgesight
inc=$layer/recipes-edgesight/edgesight/edgesight-crates.inc
recipe=$layer/recipes-edgesight/edgesight/edgesight_0.1.0.bb

# oelint-adv from PyPI, pinned, in a venv of its own.
OELINT_VERSION=9.11.2
venv=.cache/oelint
if ! "$venv/bin/oelint-adv" --version 2>/dev/null | grep -q "$OELINT_VERSION"; then
    say "installing oelint-adv $OELINT_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "oelint-adv==$OELINT_VERSION"
fi

# Suppressed, with reasons:
#   oelint.vars.homepageping  it fetches HOMEPAGE over the network (CI has none to that host).
#   oelint.var.bbclassextend  (info) edgesight is a target daemon: a -native or nativesdk build
#                             of it has no use, so the recipe sets no BBCLASSEXTEND.
# Unknown-variable warnings are answered by declaring the recipe's own variables in
# yocto/oelint-constants.json (and oe-core's PRIVATE_LIBS, which oelint does not know), not by
# suppressing the rule.
files=$(find "$layer" -name '*.bb' -o -name '*.bbappend' -o -name '*.inc' -o -name '*.conf' | sort)
for release in $(sed -n 's/^LAYERSERIES_COMPAT_edgesight = "\(.*\)"/\1/p' $layer/conf/layer.conf); do
    if out=$("$venv/bin/oelint-adv" --quiet --release "$release" --constantmods +yocto/oelint-constants.json \
        --suppress oelint.vars.homepageping --suppress oelint.var.bbclassextend $files 2>&1) \
        && ! grep -q ':\(error\|warning\|info\):' <<<"$out"; then
        say "oelint-adv --release $release: clean"
    else
        say "FAIL: oelint-adv --release $release:"; grep ':\(error\|warning\|info\):' <<<"$out" || printf '%s\n' "$out"; fail=1
    fi
done

diff_out=$(mktemp)
trap 'rm -f "$diff_out"' EXIT
if diff -u "$inc" <(python3 scripts/gen-crates-inc.py Cargo.lock) >"$diff_out" 2>&1; then
    say "$(basename "$inc") matches Cargo.lock ($(grep -c '^    crate://' "$inc") crates)"
else
    say "FAIL: $(basename "$inc") is stale: python3 scripts/gen-crates-inc.py > $inc"; head -20 "$diff_out"; fail=1
fi

want=$(sed -n 's/^LIC_FILES_CHKSUM = "file:\/\/LICENSE;md5=\([0-9a-f]*\)"/\1/p' "$recipe")
have=$(md5sum LICENSE | cut -d' ' -f1)
if [ -n "$want" ] && [ "$want" = "$have" ]; then say "LIC_FILES_CHKSUM matches LICENSE"; else say "FAIL: LIC_FILES_CHKSUM md5 '$want', LICENSE is $have"; fail=1; fi

[ "$fail" -eq 0 ] || exit 1
