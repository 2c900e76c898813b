#!/usr/bin/env bash
# The test command: installs what the project needs (Debian 12 packages only),
# then for each build variant configures, builds and runs every test with
# ctest. Exits non-zero on the first failure.
#   scripts/test.sh                                  release (build/) then ASan+UBSan (build-asan/)
#   ROUTEMETER_TEST_BUILDS=release scripts/test.sh   only the release build
#   ROUTEMETER_TEST_BUILDS=asan scripts/test.sh      only the sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."

"$(dirname "$0")/bootstrap-deps.sh"

jobs="$(nproc)"
for variant in ${ROUTEMETER_TEST_BUILDS:-release asan}; do
  case "$variant" in
    release) build_dir=build; sanitize=""; extra=() ;;
    asan) build_dir=build-asan; sanitize=address; extra=(-DROUTEMETER_BENCHMARKS=OFF) ;;
    *) echo "test.sh: unknown build variant '$variant' (release|asan)" >&2; exit 2 ;;
  esac
  echo "== $variant build in $build_dir"
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DROUTEMETER_SANITIZE="$sanitize" -DROUTEMETER_WERROR=ON "${extra[@]}"
  cmake --build "$build_dir" -j "$jobs"
  (cd "$build_dir" && ctest --output-on-failure -j "$jobs" --timeout 300)
done
