#!/usr/bin/env bash
# Runs the whole test suite: Rust unit and integration tests (header gate included), the C
# tests through ctest (against real nats-server processes the tests start), the install
# consumer test, and the C tests again under valgrind to catch memory errors and leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== cargo test"
cargo test --release 2>&1 | tail -n 40

echo "== cmake build + ctest"
# Share cargo's target directory with the step above so nothing is compiled twice.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNATS_CARGO_TARGET_DIR="$(pwd)/target" >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
ctest --test-dir build --output-on-failure -j2

echo "== ctest under valgrind (memcheck, leaks)"
ctest --test-dir build --output-on-failure -L memcheck -T memcheck \
  --overwrite MemoryCheckCommandOptions="--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=$(pwd)/c_tests/valgrind.supp" \
  -E install
