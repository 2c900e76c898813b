#!/usr/bin/env bash
# Runs clang-tidy (the checks of .clang-tidy) on the core library and the
# mains, src/*.cpp, and through them on our headers; any finding fails.
#
#   scripts/tidy.sh                        configures build-tidy/ if it has no
#                                          compile_commands.json, then checks
#   TIDY_BUILD_DIR=build scripts/tidy.sh   use another build directory's database
#   scripts/tidy.sh src/router.cpp ...     check only these files
#
# Only CMake's configure step runs (it writes compile_commands.json and the
# generated build_info.hpp); nothing is compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
build_dir="${TIDY_BUILD_DIR:-build-tidy}"

run_tidy=""
for candidate in run-clang-tidy-14 run-clang-tidy; do
  if command -v "$candidate" >/dev/null; then
    run_tidy="$candidate"
    break
  fi
done
tidy_bin=""
for candidate in clang-tidy-14 clang-tidy; do
  if command -v "$candidate" >/dev/null; then
    tidy_bin="$(command -v "$candidate")"
    break
  fi
done
if [[ -z "$run_tidy" || -z "$tidy_bin" ]]; then
  echo "tidy: clang-tidy and run-clang-tidy are missing (Debian package clang-tidy;" \
    "scripts/bootstrap-deps.sh installs it)" >&2
  exit 2
fi

if [[ ! -f "$build_dir/compile_commands.json" ]]; then
  echo "tidy: configuring $build_dir/ for its compile_commands.json"
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROUTEMETER_BENCHMARKS=OFF \
    >/dev/null
fi

# Files: the arguments, or every src/*.cpp, as anchored regexes for run-clang-tidy.
patterns=()
if (($#)); then
  for f in "$@"; do
    patterns+=("^$(realpath "$f")\$")
  done
else
  patterns+=("^$root/src/[^/]*\\.cpp\$")
fi

echo "tidy: $("$tidy_bin" --version | grep -o 'version [0-9.]*'), $(nproc) jobs, database $build_dir/"
start=$SECONDS
# The compile commands are GCC's: clang-tidy's clang does not know every GCC
# warning flag (-Wno-maybe-uninitialized in sanitizer builds), hence
# -Wno-unknown-warning-option. The invocation and "N warnings generated."
# lines are dropped; findings and errors are kept.
# run-clang-tidy 14 has no -warnings-as-errors: .clang-tidy's
# `WarningsAsErrors: '*'` makes every finding fail its file, and any failed
# file makes run-clang-tidy exit 1.
colors='s/\x1b\[[0-9;]*m//g'
[[ -t 1 ]] && colors=''
set +e
"$run_tidy" -p "$build_dir" -clang-tidy-binary "$tidy_bin" -j "$(nproc)" -quiet \
  -extra-arg=-Wno-unknown-warning-option "${patterns[@]}" 2>&1 |
  sed -e "$colors" |
  grep -v -E "^$tidy_bin |^[0-9]+ (warning|error)s? (and [0-9]+ (warning|error)s? )?generated\.$"
status=${PIPESTATUS[0]}
set -e
elapsed=$((SECONDS - start))
if ((status != 0)); then
  echo "tidy: findings (above) after ${elapsed}s; fix them, or NOLINT(check-name) with the reason" >&2
  exit 1
fi
echo "tidy: no findings (${elapsed}s)"
