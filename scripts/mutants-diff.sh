#!/usr/bin/env bash
# Mutation testing of what a change touched (issue 15, docs/testing/mutants.md): cargo-mutants
# --in-diff over the Rust files of the covered modules that differ between a base commit and HEAD,
# each mutant built and tested with the tests that cover its module, within a hard time budget.
# Fails when a mutant is missed (its tests still pass); a mutant that breaks the build (unviable)
# or hangs the tests (timeout) is not a failure.
#
#   scripts/mutants-diff.sh                    # base: HEAD's first parent (see below)
#   MUTANTS_BASE=origin/main scripts/mutants-diff.sh
#   MUTANTS_BUDGET_S=300 scripts/mutants-diff.sh
#   MUTANTS_LIST_ONLY=1 scripts/mutants-diff.sh  # only list the mutants it would test
#
# Base: $MUTANTS_BASE when set, else HEAD^1: the commit before HEAD, or for a merge commit main
# before the merge, so the whole merged branch. CI runs on a clean clone of main after each session;
# a session that lands several commits without a merge commit gets only its last one checked unless
# the caller sets MUTANTS_BASE (e.g. to the commit CI checked last time).
#
# Covered modules and their tests (the tests that exercise them; a module's mutants run against
# these only, so a miss means "these tests do not notice", see docs/testing/mutants.md). Other Rust
# files are not mutated here: with no test set that covers them a miss would mean nothing.
# src/preprocess/cuda/ is compiled only with a CUDA feature: its mutants cannot be tested here.
#
# Needs the warm target/release of `make test` (it runs after it in .ci/run) and a clean work tree:
# mutants are applied in place (copying the tree would rebuild every dependency) and undone after.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

MUTANTS_VERSION="27.1.0"
BUDGET_S="${MUTANTS_BUDGET_S:-480}"
OUT="target/mutants-diff"

declare -A TESTS=(
    [src/preprocess/]="--lib --test conformance --test no_alloc"
    [src/detect/]="--lib --test yolo_families --test labels_fuzz --test reference"
    [src/config/]="--lib --test config_files --test config_fuzz --test check --test errors"
    [src/runtime/supervise.rs]="--lib --test stream_policies --test file_sources"
)

say() { printf 'mutants-diff: %s\n' "$*" >&2; }
start=$SECONDS

if [ -n "${MUTANTS_BASE:-}" ]; then
    base="$MUTANTS_BASE"
else
    base="HEAD^1"
fi
if ! base_commit="$(git rev-parse -q --verify "$base^{commit}")"; then
    say "base $base is not in this clone (a shallow clone?): nothing tested; set MUTANTS_BASE"
    exit 0
fi
say "base $base = $(git log -1 --format='%h %s' "$base_commit" | cut -c1-100)"

# The vector kernels of another architecture (src/preprocess/simd/) are not compiled here: their
# mutants would build, pass every test and count as missed. aarch64-smoke.sh runs their tests.
case "$(uname -m)" in
    x86_64) foreign='^src/preprocess/simd/neon\.rs$' ;;
    aarch64) foreign='^src/preprocess/simd/x86\.rs$' ;;
    *) foreign='^src/preprocess/simd/(neon|x86)\.rs$' ;;
esac
mapfile -t files < <(git diff --name-only --diff-filter=AMR "$base_commit" HEAD -- "${!TESTS[@]}" \
    | grep '\.rs$' | grep -v '^src/preprocess/cuda/' | grep -Ev "$foreign" || true)
if [ ${#files[@]} -eq 0 ]; then
    say "no Rust file of the covered modules (${!TESTS[*]}) changed since $base: nothing to test"
    exit 0
fi
say "changed: ${files[*]}"

# The union of the test targets of the touched modules, as cargo args for build and test alike
# (cargo-mutants passes positional test args only to `cargo test`, not to its `--no-run` build,
# which would then build every test target).
declare -A want=()
for f in "${files[@]}"; do
    for area in "${!TESTS[@]}"; do
        case "$f" in "$area"*) for t in ${TESTS[$area]}; do want[$t]=1; done ;; esac
    done
done
target_args=()
for t in "${!want[@]}"; do
    case "$t" in
        --lib) target_args+=(--cargo-arg=--lib) ;;
        --test) ;;
        *) target_args+=("--cargo-arg=--test=$t") ;;
    esac
done
say "tests: ${target_args[*]//--cargo-arg=/}"

if ! git diff --quiet HEAD -- src; then
    say "src/ has uncommitted changes; mutants are applied in place: commit or stash them first"
    exit 1
fi

if [ "$(cargo mutants --version 2>/dev/null)" != "cargo-mutants $MUTANTS_VERSION" ]; then
    t0=$SECONDS
    say "installing cargo-mutants $MUTANTS_VERSION (crates.io, a few minutes on 2 cores)"
    cargo install --locked --quiet "cargo-mutants@$MUTANTS_VERSION"
    say "installed in $((SECONDS - t0)) s"
fi

rm -rf "$OUT"
mkdir -p "$OUT"
git diff "$base_commit" HEAD -- "${files[@]}" > "$OUT/change.diff"

# The release profile of `make test` (its dependencies are reused as they are), with edgesight
# itself at opt-level 1, incremental and without debug info: a mutant then rebuilds in seconds
# instead of a minute. The baseline is skipped: `make test` has just passed on this tree.
# Each test binary runs under `timeout` (cargo's runner): a mutant that hangs a test is otherwise
# stopped by cargo-mutants' SIGTERM only, which a test binary ignores once a test has installed
# the daemon's signal handlers (the first SIGTERM asks for a graceful stop), and then it spins
# for many minutes. Killed that way the mutant counts as caught rather than as a timeout.
host="$(rustc -vV | sed -n 's/^host: //p')"
args=(--in-place --baseline skip --in-diff "$OUT/change.diff" -o "$OUT"
    --timeout 150 --build-timeout 400 --profile release
    "--cargo-arg=--config=target.$host.runner=[\"timeout\",\"-k\",\"5\",\"120\"]"
    --cargo-arg=--locked
    --cargo-arg=--config=profile.release.incremental=true
    --cargo-arg=--config=profile.release.package.edgesight.opt-level=1
    --cargo-arg=--config=profile.release.package.edgesight.debug=false
    "${target_args[@]}")

cargo mutants --list "${args[@]}" > "$OUT/list.txt"
total=$(wc -l < "$OUT/list.txt")
say "$total mutants in the changed lines:"
sed 's/^/  /' "$OUT/list.txt" >&2
[ "$total" -eq 0 ] && exit 0
[ -n "${MUTANTS_LIST_ONLY:-}" ] && exit 0

# The budget: SIGINT lets cargo-mutants undo the mutant in place and write its results; -k is the
# last resort, after which the tree is restored from git below.
t0=$SECONDS
rc=0
timeout -s INT -k 30 "$BUDGET_S" cargo mutants "${args[@]}" || rc=$?
if ! git diff --quiet HEAD -- src; then
    say "a mutant was left in src/ (killed hard): restoring src/ from HEAD"
    git checkout -q HEAD -- src
fi

mo="$OUT/mutants.out"
count() { cat "$mo/$1.txt" 2>/dev/null | grep -c . || true; }
caught=$(count caught); missed=$(count missed); unviable=$(count unviable); timeouts=$(count timeout)
tested=$((caught + missed + unviable + timeouts))
say "$tested of $total tested in $((SECONDS - t0)) s: caught $caught, missed $missed, unviable $unviable, timeout $timeouts"
if [ "$tested" -lt "$total" ]; then
    say "time budget (${BUDGET_S} s) reached: $((total - tested)) mutants not tested:"
    cat "$mo"/{caught,missed,unviable,timeout}.txt 2>/dev/null | sort > "$OUT/done.txt"
    sort "$OUT/list.txt" | comm -23 - "$OUT/done.txt" | sed 's/^/  /' >&2
fi
say "done in $((SECONDS - start)) s (cargo-mutants exit $rc)"
if [ "$missed" -gt 0 ]; then
    say "MISSED (the tests still pass with these changes; add a test, or see docs/testing/mutants.md):"
    sed 's/^/  /' "$mo/missed.txt" >&2
    exit 1
fi
