#!/usr/bin/env bash
# The reference setup end to end (docs/operations.md, "The demo services"):
# starts the simulated car (127.0.0.1:9001) and shop (127.0.0.1:9002)
# services, starts routemeter with conf/routemeter.toml (proxy
# 127.0.0.1:8080, admin 127.0.0.1:9901), sends a bounded stream of requests
# through it, prints the status codes per service and the car/shop series of
# /metrics, and the URL of the live /status page. Everything it started is
# stopped on exit.
#
#   scripts/demo.sh                       40 requests per service, 8 in parallel
#   DEMO_LIVE=1 scripts/demo.sh           then keep traffic flowing until Ctrl-C:
#                                         open http://127.0.0.1:9901/status
#   DEMO_REQUESTS=200 DEMO_PARALLEL=16 scripts/demo.sh
#   BUILD_DIR=build-asan scripts/demo.sh  use another build directory
set -euo pipefail
cd "$(dirname "$0")/.."

requests="${DEMO_REQUESTS:-40}"
live="${DEMO_LIVE:-0}"
parallel="${DEMO_PARALLEL:-8}"
build_dir="${BUILD_DIR:-build}"
proxy="127.0.0.1:8080"
admin="127.0.0.1:9901"
declare -A backend_addr=([car]="127.0.0.1:9001" [shop]="127.0.0.1:9002")

if [ ! -x "$build_dir/routemeter" ] || [ ! -x "$build_dir/routemeter-demo-backend" ]; then
  echo "demo: building in $build_dir/"
  cmake -S . -B "$build_dir" >/dev/null
  cmake --build "$build_dir" -j2 --target routemeter routemeter-demo-backend
fi

logs="$(mktemp -d "${TMPDIR:-/tmp}/routemeter-demo.XXXXXX")"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_line FILE PATTERN PID SECONDS: until FILE has a line matching
# PATTERN; fails early if PID exits.
wait_for_line() {
  local file="$1" pattern="$2" pid="$3" deadline=$((SECONDS + $4))
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

for service in car shop; do
  log="$logs/$service.log"
  "$build_dir/routemeter-demo-backend" --service "$service" --listen "${backend_addr[$service]}" \
    2>"$log" &
  pids+=($!)
  if ! wait_for_line "$log" "routemeter-demo-backend: listening" $! 5; then
    echo "demo: the $service backend did not start on ${backend_addr[$service]}:" >&2
    cat "$log" >&2
    exit 1
  fi
  echo "demo: $(head -n1 "$log")"
done

proxy_log="$logs/routemeter.log"
"$build_dir/routemeter" --config conf/routemeter.toml >"$logs/access.log" 2>"$proxy_log" &
pids+=($!)
declare -A target=([car]="$proxy" [shop]="$proxy")
if wait_for_line "$proxy_log" "routemeter: info: listening" $! 10; then
  echo "demo: $(grep -m1 'routemeter: info: listening' "$proxy_log")"
else
  echo "demo: routemeter did not start; sending traffic to the backends directly. Its stderr:" >&2
  sed 's/^/  /' "$proxy_log" >&2
  target=([car]="${backend_addr[car]}" [shop]="${backend_addr[shop]}")
fi

for service in car shop; do
  url="http://${target[$service]}/api/$service/random"
  echo "demo: $requests x GET $url ($parallel in parallel)"
  seq "$requests" |
    xargs -P "$parallel" -I{} curl -s -o /dev/null --max-time 10 -w '%{http_code}\n' "$url" |
    sort | uniq -c | awk -v s="$service" '{ printf "  %-5s %s x %s\n", s, $2, $1 }'
done

if metrics="$(curl -sf --max-time 5 "http://$admin/metrics")"; then
  echo "demo: car/shop series on http://$admin/metrics:"
  grep -E 'car|shop' <<<"$metrics" || echo "  (none)"
else
  echo "demo: the admin listener http://$admin/metrics does not answer"
fi

echo "demo: live status page: http://$admin/status (in a terminal: $build_dir/routemeter top --admin $admin)"
if [ "$live" != "0" ]; then
  echo "demo: DEMO_LIVE: sending traffic until Ctrl-C ($parallel clients per service)"
  for service in car shop; do
    for _ in $(seq "$parallel"); do
      # A client per loop: each sends its requests one after another.
      (while :; do
        curl -s -o /dev/null --max-time 10 "http://${target[$service]}/api/$service/random" || sleep 1
      done) &
      pids+=($!)
    done
  done
  wait
fi
