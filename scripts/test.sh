#!/usr/bin/env bash
# Runs the whole test suite: Rust unit and integration tests (header gate included), the C
# tests through ctest (against real nats-server processes the tests start), the install
# consumer test, the C tests again under valgrind to catch memory errors and leaks, the
# Rust core tests under AddressSanitizer, and a time-bounded run of each fuzz target.
#
#   FUZZ_SECONDS=60   seconds per fuzz target (0 skips the fuzz run)
#   NATS_TEST_ASAN=1  0 skips the AddressSanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== cargo test"
cargo test --release 2>&1 | tail -n 40

echo "== cmake build + ctest"
# Share cargo's target directory with the step above so nothing is compiled twice.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNATS_CARGO_TARGET_DIR="$(pwd)/target" \
  -DNATS_TEST_REQUIRE_EVENT_LOOPS=ON >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
ctest --test-dir build --output-on-failure -j2

echo "== benchmark sources compile against this library and against cnats (nothing is timed)"
bench_out=$(mktemp -d)
cc -O2 -Wall -Wextra -Werror -I include -o "$bench_out/natsbench_ours" bench/natsbench.c -L build/lib -lnats -lpthread
# shellcheck disable=SC2046
cc -O2 -Wall -Werror -o "$bench_out/natsbench_cnats" bench/natsbench.c $(pkg-config --cflags --libs libnats) -lpthread
cc -O2 -Wall -Wextra -Werror -o "$bench_out/rawclient" bench/rawclient.c -lpthread
rm -rf "$bench_out"
echo "== benchmark report: its targets table on made-up results"
python3 bench/test_report.py

echo "== ctest under valgrind (memcheck, leaks)"
ctest --test-dir build --output-on-failure -L memcheck -T memcheck \
  --overwrite MemoryCheckCommandOptions="--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=$(pwd)/c_tests/valgrind.supp" \
  -E install

echo "== Rust core tests under AddressSanitizer"
if [ "${NATS_TEST_ASAN:-1}" != 0 ]; then
  # -Zsanitizer is nightly-only; RUSTC_BOOTSTRAP=1 unlocks it on the stable toolchain. A
  # target of its own keeps the instrumented build apart from the normal one.
  RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS=detect_leaks=1 NATS_TEST_SANITIZER=address \
    CARGO_TARGET_DIR="$(pwd)/target/asan" \
    cargo test --release --target x86_64-unknown-linux-gnu \
      --lib --tests 2>&1 | grep -E "^test result|FAILED|panicked|ERROR: AddressSanitizer|SUMMARY"
fi

echo "== fuzzing (${FUZZ_SECONDS:-60} s per target)"
if [ "${FUZZ_SECONDS:-60}" != 0 ]; then
  fuzz/run.sh "${FUZZ_SECONDS:-60}"
fi
