#!/usr/bin/env bash
# Installs the Debian 12 packages routemeter needs to build, test and benchmark.
# Idempotent: only calls apt-get when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libevent-dev prometheus-cpp-dev libtomlplusplus-dev zlib1g-dev libsystemd-dev libssl-dev
  libcurl4-openssl-dev
  catch2 libbenchmark-dev
  prometheus prometheus-pushgateway curl openssl python3-websockets
  systemd strace
  chromium
  file
  clang clang-format clang-tidy libclang-rt-14-dev llvm  # llvm: llvm-symbolizer (fuzz.sh traces)
)
# libssl-dev: OpenSSL 3 for TLS termination; openssl: s_client in the TLS tests.
# python3-websockets: the WebSocket client and server of the tunnel tests.
# libcurl4-openssl-dev: [push] (src/pusher.cpp); prometheus-cpp-dev depends on it
# already, listed because CMake now finds it directly.
# prometheus-pushgateway: the [push] integration tests push to the real one.
# chromium: the browser test of GET /status (headless: loads the page, reads the
# rendered DOM and the console, takes the screenshots).
# file: dpkg-shlibdeps (CPack's .deb) needs it. clang-format: the format check.
# clang-tidy: scripts/tidy.sh. clang + libclang-rt-14-dev: the libFuzzer targets.
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
