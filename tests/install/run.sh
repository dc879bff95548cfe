#!/usr/bin/env bash
# Install test: installs the project into a scratch prefix and checks that a
# C program can be built against it the ways cnats users do it:
#   1. CMake find_package(cnats) + cnats::nats        (shared)
#   2. CMake find_package(cnats) + cnats::nats_static (static)
#   3. pkg-config libnats
#   4. legacy `#include <nats.h>` forwarder
# plus the installed file layout, the SONAME and relocatability of the
# CMake package.
#
# Usage:
#   tests/install/run.sh                   configure + build + install from scratch
#   tests/install/run.sh --build-dir DIR   reuse an already built CMake build dir
#                                          (what ctest does)
#   --keep                                 keep the scratch directory
#
# Environment: CMAKE_GENERATOR, CC, NATS_CARGO_TARGET_DIR (reuse a cargo
# target dir in the from-scratch mode to avoid a full rebuild).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"

build_dir=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build_dir="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

step() { printf '\n=== %s\n' "$*"; }
fail() { printf '\nINSTALL TEST FAILED: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "required tool '$1' not found (apt-get install $2)"; }

need cmake cmake
need pkg-config pkgconf
need readelf binutils
CC="${CC:-cc}"
need "$CC" gcc

work="$(mktemp -d "${TMPDIR:-/tmp}/nats-install-test.XXXXXX")"
cleanup() {
    if [ "$keep" = 1 ]; then echo "(kept $work)"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'fail "command failed (line $LINENO): $BASH_COMMAND"' ERR

prefix="$work/prefix"

#--------------------------------------------------------------------------
if [ -z "$build_dir" ]; then
    build_dir="$work/build"
    step "configure project in $build_dir"
    extra=()
    if [ -n "${NATS_CARGO_TARGET_DIR:-}" ]; then
        extra+=("-DNATS_CARGO_TARGET_DIR=$NATS_CARGO_TARGET_DIR")
    fi
    cmake -S "$src" -B "$build_dir" \
        -DNATS_BUILD_TESTS=OFF -DNATS_BUILD_EXAMPLES=OFF \
        -DCMAKE_INSTALL_LIBDIR=lib "${extra[@]}" \
        || fail "cmake configure of the project failed"
    step "build project"
    cmake --build "$build_dir" || fail "build of the project failed"
else
    [ -f "$build_dir/CMakeCache.txt" ] || fail "--build-dir $build_dir is not a configured CMake build directory"
    [ -e "$build_dir/lib/libnats.so.3.13.0" ] || fail "$build_dir/lib/libnats.so.3.13.0 missing: build the project first (cmake --build $build_dir)"
fi

step "install to $prefix"
cmake --install "$build_dir" --prefix "$prefix" || fail "cmake --install failed"

#--------------------------------------------------------------------------
step "check installed layout"
so_real="$(find "$prefix" -name 'libnats.so.3.13.0' | head -n1)"
[ -n "$so_real" ] || fail "libnats.so.3.13.0 not installed"
libdir="$(dirname "$so_real")"
echo "libdir: $libdir"
incdir="$prefix/include"
for f in "$incdir/nats.h" "$incdir/nats/nats.h" "$incdir/nats/status.h" "$incdir/nats/version.h" \
         "$incdir/nats/adapters/libevent.h" "$incdir/nats/adapters/libuv.h" \
         "$libdir/libnats_static.a" \
         "$libdir/cmake/cnats/cnats-config.cmake" "$libdir/cmake/cnats/cnats-config-version.cmake" \
         "$libdir/pkgconfig/libnats.pc"; do
    [ -f "$f" ] || fail "missing installed file: ${f#$prefix/}"
done
[ -L "$so_real" ] && fail "libnats.so.3.13.0 must be a regular file, not a symlink"
[ -L "$libdir/libnats.so.3.13" ] || fail "libnats.so.3.13 is not a symlink"
[ "$(readlink "$libdir/libnats.so.3.13")" = "libnats.so.3.13.0" ] || fail "libnats.so.3.13 -> $(readlink "$libdir/libnats.so.3.13"), expected libnats.so.3.13.0"
[ -L "$libdir/libnats.so" ] || fail "libnats.so is not a symlink"
[ "$(readlink "$libdir/libnats.so")" = "libnats.so.3.13" ] || fail "libnats.so -> $(readlink "$libdir/libnats.so"), expected libnats.so.3.13"
[ "$(readlink -f "$libdir/libnats.so")" = "$(readlink -f "$so_real")" ] || fail "libnats.so does not resolve to libnats.so.3.13.0"
find "$prefix" \( -type f -o -type l \) | sed "s|^$prefix/||" | sort

step "check SONAME"
soname="$(readelf -d "$so_real" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')"
echo "SONAME: ${soname:-<none>}"
[ "$soname" = "libnats.so.3.13" ] || fail "SONAME of libnats.so.3.13.0 is '${soname:-<none>}', expected libnats.so.3.13 (set by build.rs)"

export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

run_app() {  # run_app NAME BINARY
    echo "--- running $1"
    "$2" || fail "$1: program exited with status $?"
}

needs_libnats() { readelf -d "$1" | grep -q 'NEEDED.*\[libnats\.so\.3\.13\]'; }

#--------------------------------------------------------------------------
consumer_cmake() {  # consumer_cmake PREFIX BUILDDIR
    cmake -S "$here/find_package" -B "$2" -DCMAKE_PREFIX_PATH="$1" -DCMAKE_BUILD_TYPE=Release \
        || fail "find_package consumer: configure failed (CMAKE_PREFIX_PATH=$1)"
    cmake --build "$2" || fail "find_package consumer: build failed"
}

step "find_package(cnats) consumer"
consumer_cmake "$prefix" "$work/consumer"
needs_libnats "$work/consumer/app" || fail "app (cnats::nats) is not linked against libnats.so.3.13"
needs_libnats "$work/consumer/app_static" && fail "app_static (cnats::nats_static) depends on libnats.so"
run_app "find_package cnats::nats" "$work/consumer/app"
run_app "find_package cnats::nats_static" "$work/consumer/app_static"

#--------------------------------------------------------------------------
step "pkg-config consumer"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pcver="$(pkg-config --modversion libnats)" || fail "pkg-config cannot find libnats"
[ "$pcver" = "3.13.0" ] || fail "pkg-config libnats version is $pcver, expected 3.13.0"
flags="$(pkg-config --cflags --libs libnats)"
echo "pkg-config --cflags --libs libnats: $flags"
# shellcheck disable=SC2086
"$CC" -std=c99 -Wall -Wextra -Werror "$here/find_package/main.c" $flags -o "$work/app_pc" \
    || fail "pkg-config consumer: compile/link failed"
needs_libnats "$work/app_pc" || fail "app_pc is not linked against libnats.so.3.13"
run_app "pkg-config" "$work/app_pc"

step "legacy #include <nats.h>"
printf '#include <nats.h>\nint main(void) { return nats_GetVersionNumber() == NATS_VERSION_NUMBER ? 0 : 1; }\n' \
    > "$work/legacy.c"
# shellcheck disable=SC2086
"$CC" "$work/legacy.c" $flags -o "$work/legacy" || fail "#include <nats.h> does not compile against the installed headers"
run_app "legacy include" "$work/legacy"

if command -v c++ >/dev/null 2>&1; then
    step "installed header compiles as C++"
    printf '#include <nats/nats.h>\nint main() { natsStatus s = NATS_OK; return (int) s; }\n' > "$work/cxx.cpp"
    # shellcheck disable=SC2086
    c++ -Wall -Wextra -Werror "$work/cxx.cpp" $flags -o "$work/cxx" || fail "<nats/nats.h> does not compile as C++"
    run_app "C++ consumer" "$work/cxx"
fi

#--------------------------------------------------------------------------
step "relocated prefix"
moved="$work/moved-prefix"
cp -a "$prefix" "$moved"
rm -rf "$prefix"   # make sure nothing still points at the original location
consumer_cmake "$moved" "$work/consumer-moved"
LD_LIBRARY_PATH="${libdir/#$prefix/$moved}" run_app "relocated cnats::nats" "$work/consumer-moved/app"
run_app "relocated cnats::nats_static" "$work/consumer-moved/app_static"

printf '\nINSTALL TEST PASSED\n'
