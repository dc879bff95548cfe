#!/usr/bin/env bash
# Runs every fuzz target for the given number of seconds each (default 60)
# and prints, per target, the executions done and the crashes found.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, sancov); on a stable
# toolchain RUSTC_BOOTSTRAP=1 unlocks them. Each target runs on a working
# corpus under fuzz/work/<target> (seeded from the committed fuzz/corpus/<target>,
# which libFuzzer only reads), so the committed seeds never change.
# Crash reproducers land in fuzz/artifacts/<target>/; rerun one with
#   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> artifacts/<target>/<file>
# The code fuzzed is safe Rust, so by default no sanitizer is used (4x more
# executions); FUZZ_SANITIZER=address (or any cargo-fuzz -s value) enables one.
# Debug assertions and overflow checks are always on (cargo-fuzz's default).
# Exit status: 0 when no target crashed, 1 otherwise.
set -u
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(parser info_err_hmsg)

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
san=${FUZZ_SANITIZER:-none}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found: installing it from crates.io" >&2
    cargo install --locked cargo-fuzz >&2 || { echo "cannot install cargo-fuzz" >&2; exit 2; }
fi
cargo fuzz build -s "$san" >&2 || { echo "fuzz build failed" >&2; exit 2; }

status=0
for t in "${targets[@]}"; do
    mkdir -p "work/$t" "artifacts/$t"
    log="work/$t.log"
    before=$(ls "artifacts/$t" | wc -l)
    cargo fuzz run -s "$san" "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    after=$(ls "artifacts/$t" | wc -l)
    crashes=$((after - before))
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
    echo "$t: ${secs}s sanitizer=$san executions=${execs:-?} crashes=$crashes ${cov} (exit $rc, log fuzz/$log)"
    if [ "$crashes" -gt 0 ] || [ "$rc" -ne 0 ]; then
        status=1
        ls "artifacts/$t" | tail -n "$crashes" | sed "s|^|  reproducer: fuzz/artifacts/$t/|"
        grep -m1 -A3 "panicked at\|ERROR: " "$log" | sed 's/^/  /'
    fi
done
exit $status
