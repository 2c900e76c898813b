#!/usr/bin/env bash
# The test command: installs what the project needs (Debian 12 packages only),
# configures, builds and runs every test with ctest. Exits non-zero on failure.
#   scripts/test.sh                 release build in build/
#   ROUTEMETER_SANITIZE=address scripts/test.sh   ASan+UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

"$(dirname "$0")/bootstrap-deps.sh"

sanitize="${ROUTEMETER_SANITIZE:-}"
build_dir="build${sanitize:+-$sanitize}"
jobs="$(nproc)"

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DROUTEMETER_SANITIZE="$sanitize" -DROUTEMETER_WERROR=ON
cmake --build "$build_dir" -j "$jobs"
cd "$build_dir"
ctest --output-on-failure -j "$jobs" --timeout 300
