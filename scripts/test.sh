#!/usr/bin/env bash
# The test command: installs what the project needs (Debian 12 packages only),
# runs the static checks and the fuzz targets, then for each build variant
# configures, builds and runs every test with ctest. Exits non-zero on the
# first failure. `.ci/run` runs exactly this.
#
#   scripts/test.sh                                   everything below, in this order:
#     format   scripts/format-check.sh (clang-format)
#     tidy     scripts/tidy.sh (clang-tidy on the core library and the mains)
#     fuzz     scripts/fuzz.sh 30: each libFuzzer target for 30 s (build-fuzz/)
#     release  -Werror build in build/, every test
#     asan     ASan+UBSan build in build-asan/, every test
#     tsan     TSan build in build-tsan/, every test
#   ROUTEMETER_TEST_CHECKS="format"  scripts/test.sh    only these checks ("" for none)
#   ROUTEMETER_TEST_BUILDS=release   scripts/test.sh    only these builds ("" for none)
#   ROUTEMETER_FUZZ_SECONDS=600      scripts/test.sh    longer fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

"$(dirname "$0")/bootstrap-deps.sh"

jobs="$(nproc)"
step_start=0
step() {
  step_start=$(date +%s)
  echo "== $*"
}
step_done() { echo "== $1 took $(($(date +%s) - step_start)) s"; }

for check in ${ROUTEMETER_TEST_CHECKS-format tidy fuzz}; do
  case "$check" in
    format) step "format check"; scripts/format-check.sh ;;
    tidy) step "clang-tidy"; scripts/tidy.sh ;;
    fuzz) step "fuzzing"; scripts/fuzz.sh "${ROUTEMETER_FUZZ_SECONDS:-30}" ;;
    *) echo "test.sh: unknown check '$check' (format|tidy|fuzz)" >&2; exit 2 ;;
  esac
  step_done "$check"
done

for variant in ${ROUTEMETER_TEST_BUILDS-release asan tsan}; do
  case "$variant" in
    release) build_dir=build; sanitize=""; extra=() ;;
    asan) build_dir=build-asan; sanitize=address; extra=(-DROUTEMETER_BENCHMARKS=OFF) ;;
    tsan) build_dir=build-tsan; sanitize=thread; extra=(-DROUTEMETER_BENCHMARKS=OFF) ;;
    *) echo "test.sh: unknown build variant '$variant' (release|asan|tsan)" >&2; exit 2 ;;
  esac
  step "$variant build in $build_dir"
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DROUTEMETER_SANITIZE="$sanitize" -DROUTEMETER_WERROR=ON "${extra[@]}"
  cmake --build "$build_dir" -j "$jobs"
  (cd "$build_dir" && ctest --output-on-failure -j "$jobs" --timeout 300)
  step_done "$variant"
done
