#!/usr/bin/env bash
# The proxy benchmark (docs/performance.md): routemeter against nginx and HAProxy.
#
# Everything runs on 127.0.0.1, on free ports the script picks, with configs and
# logs in a fresh temp dir. One fast static origin (a dedicated nginx, 1 worker,
# access log off) serves GET /small (a 33-byte body from `return 200`) and
# GET /64k (a 64 KiB file), so the proxies in front of it are the bottleneck.
# Targets, each with 1 worker:
#   direct       wrk straight to the backend (the ceiling)
#   nginx        nginx reverse proxy, upstream keepalive 64, HTTP/1.1 upstream
#   nginx-ka512  the same with keepalive 512 (only in the 500-connection scenario)
#   haproxy      HAProxy, nbthread 1, mode http, http-reuse always
#   routemeter   $ROUTEMETER_BIN (default build/routemeter) with a config written here:
#                one upstream with max_idle_connections = 512 (like nginx-ka512; the
#                default 64 churns upstream connections at 500 clients), access log off
#   rm-nometrics the same binary and config with ROUTEMETER_BENCH_NO_METRICS=1 (the data
#                path records no metrics; a benchmarking-only switch): what metrics cost
#   rm-log       the same config with [log] access = "<temp dir>/rm-log-access.log",
#                format = "json": what access logging costs (the file is emptied
#                after each run; its line count is noted)
# A target that fails to start, or does not answer GET /small and /64k correctly,
# is skipped with a message; the others still run.
# TLS: nginx, haproxy and routemeter also get an HTTPS listener on a port of its
# own, all with one ECDSA P-256 self-signed certificate made here by openssl, TLS
# 1.3 only: nginx `listen ... ssl`, ssl_protocols TLSv1.3, ssl_session_cache
# shared:SSL:10m and ssl_session_timeout 1d (tickets on, the default); HAProxy
# `bind ... ssl crt <cert+key pem> ssl-min-ver TLSv1.3` (its default session cache
# and tickets); routemeter a [tls] table with min_version = "1.3". Before the runs
# each must answer GET /small over https (curl --tlsv1.3, verifying that very
# certificate), and with `Connection: close` in the answer to a request that asks
# for it; a target that does not is left out of the TLS scenarios with a message.
#
# Scenarios: /small at 50 connections, /64k at 50, /small at 500, and a POST of a
# 1 KiB body (Content-Length) to /small at 50 (post1k-c50: the cost of forwarding
# a request body); each run is `wrk -t1 -cN -dDURATION --latency`. Then two TLS
# scenarios, for nginx, haproxy and routemeter only: tls-small-c50 (GET /small
# over keep-alive HTTPS, 50 connections) and tls-newconn-c50 (the same with
# `-H "Connection: close"`: the proxy closes after each answer and wrk opens a new
# TCP and TLS connection for the next request). wrk keeps each connection's TLS
# session and offers it on the next connection; a proxy that resumes it (all
# three do by default; the report says which do, checked with openssl s_client,
# and which cipher suite and key exchange each negotiates with OpenSSL's defaults)
# makes TLS 1.3 resumptions after a wrk connection's first handshake (PSK with
# ECDHE, no certificate signature): what a returning client costs, not a first
# visit. Every run also records the TCP connections the machine accepted
# (PassiveOpens of /proc/net/snmp); for tls-newconn-c50 the report prints them
# per request, about 1.00 when wrk really reconnects and the proxy keeps its
# upstream connection. Runs are interleaved (for each round, for each scenario,
# for each target) so drift hits every target alike; each target gets one 1 s
# warm-up first (and one over https if it takes part in the TLS scenarios).
# Per run: requests/s, p50 and p99 latency, and the
# proxy's CPU microseconds per request (utime+stime of all its processes and
# threads from /proc/PID/stat, before and after the run, over the requests wrk
# counted). The report is markdown (medians over rounds), pasteable into
# docs/performance.md; the raw runs are a CSV in the temp dir. It ends with the
# cost of metrics (1 - rps(routemeter)/rps(rm-nometrics)) and of access logging
# (1 - rps(rm-log)/rps(routemeter)), each with the CPU us/req difference, and
# with routemeter's rps in the TLS scenarios against the better of nginx and
# HAProxy (issue 10's bar: at least 1.0x).
#
# Usage: scripts/bench.sh [--out FILE.csv] [--targets LIST] [--idle-test] [--no-tls]
#   --out FILE      also copy the raw per-run CSV to FILE
#   --targets LIST  comma-separated subset of
#                   direct,nginx,nginx-ka512,haproxy,routemeter,rm-nometrics,rm-log
#   --idle-test     last, for nginx, haproxy and routemeter if up: open 10,000 idle
#                   keep-alive client connections (one request each), report the RSS growth
#   --no-tls        no HTTPS listeners and no TLS scenarios
# Environment: BENCH_DURATION (wrk -d per run, default 5s), BENCH_ROUNDS (default 3),
#   BENCH_WARMUP (default 1s), ROUTEMETER_BIN (default <repo>/build/routemeter),
#   BENCH_WAIT_QUIET (seconds to wait, before starting, for the machine to be under 15%
#   busy; default 0), BENCH_NICE (e.g. -10: run the whole benchmark at that nice
#   value, so that other work on a shared machine yields to it; needs root for < 0).
#   Every run also records the "other load": CPU used by neither wrk, the backend
#   nor the target; the report prints it, since rps and latency mean little on a
#   busy machine (CPU us/req suffers less).
# Needs: nginx, haproxy, wrk, curl, python3 (standard library only); openssl for
#   the TLS scenarios (without it they are skipped with a message).
set -euo pipefail
export LC_ALL=C  # "." as the decimal point in $EPOCHREALTIME, awk and printf

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
command_line="scripts/bench.sh${*:+ $*}"
for v in ROUTEMETER_BIN BENCH_WAIT_QUIET BENCH_NICE BENCH_WARMUP BENCH_ROUNDS BENCH_DURATION; do
  if [[ -n "${!v:-}" ]]; then command_line="$v=${!v} $command_line"; fi
done

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() {
  echo "bench: error: $*" >&2
  exit 2
}
note() { echo "bench: $*" >&2; }

out_file=""
idle_test=0
tls_wanted=1
all_targets="direct,nginx,nginx-ka512,haproxy,routemeter,rm-nometrics,rm-log"
targets_arg="$all_targets"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) [[ $# -ge 2 ]] || die "--out needs a file"; out_file="$2"; shift 2 ;;
    --out=*) out_file="${1#--out=}"; shift ;;
    --targets) [[ $# -ge 2 ]] || die "--targets needs a list"; targets_arg="$2"; shift 2 ;;
    --targets=*) targets_arg="${1#--targets=}"; shift ;;
    --idle-test) idle_test=1; shift ;;
    --no-tls) tls_wanted=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
if [[ -n "$out_file" && "$out_file" != /* ]]; then out_file="$PWD/$out_file"; fi

duration="${BENCH_DURATION:-5s}"
rounds="${BENCH_ROUNDS:-3}"
warmup="${BENCH_WARMUP:-1s}"
routemeter_bin="${ROUTEMETER_BIN:-$repo_root/build/routemeter}"
if [[ "$routemeter_bin" != /* ]]; then routemeter_bin="$PWD/$routemeter_bin"; fi
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer, not '$rounds'"

# wrk duration ("5", "5s", "2m") -> whole seconds.
to_seconds() {
  local d="$1"
  case "$d" in
    *[0-9]s) d="${d%s}" ;;
    *[0-9]m) d="$((${d%m} * 60))" ;;
    *[0-9]) ;;
    *) die "bad duration '$1' (use e.g. 5s or 1m)" ;;
  esac
  [[ "$d" =~ ^[1-9][0-9]*$ ]] || die "bad duration '$1' (use e.g. 5s or 1m)"
  echo "$d"
}
duration_s="$(to_seconds "$duration")"
warmup_s="$(to_seconds "$warmup")"

IFS=',' read -ra requested_targets <<<"$targets_arg"
for t in "${requested_targets[@]}"; do
  [[ ",$all_targets," == *",$t,"* ]] || die "unknown target '$t' (known: $all_targets)"
done
wanted() { [[ ",$targets_arg," == *",$1,"* ]]; }

for tool in nginx wrk curl python3 getconf; do
  command -v "$tool" >/dev/null || die "'$tool' is required (Debian: apt-get install nginx wrk curl python3)"
done
clk_tck="$(getconf CLK_TCK)"

# Scenarios: name connections path.
scenarios=("small-c50 50 /small" "64k-c50 50 /64k" "small-c500 500 /small" "post1k-c50 50 /small"
  "tls-small-c50 50 /small" "tls-newconn-c50 50 /small")
small_body="hello from the benchmark backend"  # + "\n" = 33 bytes

# 10,000 idle client connections need fds in each proxy: go to the hard limit.
hard_nofile="$(ulimit -Hn)"
if [[ "$hard_nofile" == unlimited || "$hard_nofile" -ge 65536 ]]; then
  ulimit -n 65536
else
  ulimit -n "$hard_nofile"
fi
nofile="$(ulimit -n)"
# HAProxy reserves 2 fds per connection (client + server side) and refuses to
# start when maxconn does not fit the fd limit.
haproxy_maxconn=$(((nofile - 100) / 2))
if [[ $haproxy_maxconn -gt 12000 ]]; then haproxy_maxconn=12000; fi
idle_wanted=10000

work="$(mktemp -d /tmp/routemeter-bench.XXXXXX)"
chmod 755 "$work"  # nginx workers run as nobody and serve $work/www
mkdir -p "$work/www" "$work/tmp"
head -c 65536 /dev/zero | tr '\0' 'x' >"$work/www/64k"
cat >"$work/post1k.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
chmod 644 "$work/www/64k"

# TLS: one ECDSA P-256 certificate for every proxy (valid for 127.0.0.1, so curl
# can verify it), and the cert+key file HAProxy wants.
tls_cert="$work/tls/cert.pem" tls_key="$work/tls/key.pem" tls_pem="$work/tls/haproxy.pem"
tls_off_reason=""
if [[ $tls_wanted == 0 ]]; then
  tls_off_reason="--no-tls"
elif ! wanted nginx && ! wanted haproxy && ! wanted routemeter; then
  tls_off_reason="none of nginx, haproxy, routemeter is a target"
elif ! command -v openssl >/dev/null; then
  tls_off_reason="openssl is not installed (Debian: apt-get install openssl)"
else
  mkdir -p "$work/tls"
  if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 7 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$tls_key" -out "$tls_cert" >"$work/tls/openssl.log" 2>&1; then
    cat "$tls_cert" "$tls_key" >"$tls_pem"
    chmod 600 "$tls_key" "$tls_pem"
  else
    tls_off_reason="openssl could not make the certificate: $(tail -n 2 "$work/tls/openssl.log" | tr '\n' ' ')"
  fi
fi
tls_on=0
if [[ -z "$tls_off_reason" ]]; then tls_on=1; fi
csv="$work/runs.csv"
echo "round,scenario,connections,path,target,requests,seconds,rps,p50_ms,p99_ms,cpu_ticks,cpu_us_per_req,non2xx,socket_errors,other_load_pct,tcp_accepts" >"$csv"

# Every process we start, so the trap can stop exactly those.
declare -A target_pid=()  # target -> main pid
started_pids=()
# True while $1 is still a child of this shell: a pid that exited and was
# reused by someone else's process is never signalled.
is_our_child() {
  local stat fields
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  read -ra fields <<<"$stat"
  [[ "${fields[1]}" == "$$" && "${fields[0]}" != Z ]]
}
signal_ours() {  # $1 = signal, then pids
  local sig="$1" pid
  shift
  for pid in "$@"; do
    if is_our_child "$pid"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
  done
}
cleanup() {
  local pid i alive
  signal_ours TERM "${started_pids[@]}"
  for ((i = 0; i < 30; i++)); do
    alive=0
    for pid in "${started_pids[@]}"; do is_our_child "$pid" && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  signal_ours KILL "${started_pids[@]}"
  if [[ -n "${old_autogroup_nice:-}" ]]; then echo "$old_autogroup_nice" >"/proc/$$/autogroup" || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free ports below the ephemeral range (so wrk's and the proxies' outgoing
# connections never take them), checked by binding.
read -r port_backend port_nginx port_nginx512 port_haproxy port_rm port_rm_admin \
  port_rmnm port_rmnm_admin port_rmlog port_rmlog_admin \
  port_nginx_tls port_haproxy_tls port_rm_tls < <(
  python3 - <<'EOF'
import random, socket
socks = []
for _ in range(1000):
    if len(socks) == 13:
        break
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(20000, 32000)))
        socks.append(s)
    except OSError:
        s.close()
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
[[ -n "${port_rm_tls:-}" ]] || die "could not find 13 free ports on 127.0.0.1"
declare -A target_port=([direct]=$port_backend [nginx]=$port_nginx [nginx-ka512]=$port_nginx512
  [haproxy]=$port_haproxy [routemeter]=$port_rm [rm-nometrics]=$port_rmnm [rm-log]=$port_rmlog)
# The HTTPS listeners (only these three targets have one).
declare -A target_tls_port=([nginx]=$port_nginx_tls [haproxy]=$port_haproxy_tls [routemeter]=$port_rm_tls)

# --- configs ---------------------------------------------------------------

nginx_common() {  # $1 = name: pid file and temp paths in $work
  cat <<EOF
worker_processes 1;
pid $work/$1.pid;
error_log $work/$1-error.log warn;
EOF
}
nginx_temp_paths() {
  local p
  for p in client_body proxy fastcgi uwsgi scgi; do echo "  ${p}_temp_path $work/tmp/$1-$p;"; done
}

{
  nginx_common backend
  cat <<EOF
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  open_file_cache max=16 inactive=600s;
  open_file_cache_valid 600s;
$(nginx_temp_paths backend)
  server {
    listen 127.0.0.1:$port_backend backlog=4096;
    location = /small { return 200 "$small_body\n"; }
    location = /64k { root $work/www; }
  }
}
EOF
} >"$work/backend.conf"

write_nginx_proxy() {  # $1 = name, $2 = port, $3 = upstream keepalive, [$4 = HTTPS port]
  local tls_listen="" tls_settings=""
  if [[ -n "${4:-}" ]]; then
    tls_listen="    listen 127.0.0.1:$4 ssl backlog=4096;"
    tls_settings="  ssl_certificate $tls_cert;
  ssl_certificate_key $tls_key;
  ssl_protocols TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_timeout 1d;"
  fi
  {
    nginx_common "$1"
    cat <<EOF
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
$(nginx_temp_paths "$1")
$tls_settings
  upstream backend {
    server 127.0.0.1:$port_backend;
    keepalive $3;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$2 backlog=4096;
$tls_listen
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  } >"$work/$1.conf"
}
if [[ $tls_on == 1 ]]; then
  write_nginx_proxy nginx "$port_nginx" 64 "$port_nginx_tls"
else
  write_nginx_proxy nginx "$port_nginx" 64
fi
write_nginx_proxy nginx-ka512 "$port_nginx512" 512

haproxy_tls_bind=""
if [[ $tls_on == 1 ]]; then
  haproxy_tls_bind="  bind 127.0.0.1:$port_haproxy_tls ssl crt $tls_pem ssl-min-ver TLSv1.3"
fi
cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $haproxy_maxconn
defaults
  mode http
  option http-keep-alive
  http-reuse always
  maxconn $haproxy_maxconn
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 60s
frontend fe
  bind 127.0.0.1:$port_haproxy
$haproxy_tls_bind
  default_backend be
backend be
  server s1 127.0.0.1:$port_backend
EOF

# The routemeter targets differ only in ports and (rm-log) the access log.
# max_idle_connections = 512: with the default 64, 500 clients churn upstream
# connections, as nginx does with keepalive 64.
rm_access_log="$work/rm-log-access.log"
write_routemeter() {  # $1 = name, $2 = port, $3 = admin port, $4 = [log] access value, [$5 = HTTPS port]
  local tls_table=""
  if [[ -n "${5:-}" ]]; then
    tls_table="
[tls]
listen = [\"127.0.0.1:$5\"]
min_version = \"1.3\"

[[tls.certificate]]
cert = \"$tls_cert\"
key = \"$tls_key\"
"
  fi
  cat >"$work/$1.toml" <<EOF
[server]
listen = ["127.0.0.1:$2"]
workers = 1
max_connections = 12000

[admin]
listen = "127.0.0.1:$3"

[log]
access = "$4"
format = "json"
$tls_table
[[upstream]]
name = "bench"
servers = ["127.0.0.1:$port_backend"]
max_idle_connections = 512

[[route]]
name = "all"
path_prefix = "/"
upstream = "bench"
EOF
}
if [[ $tls_on == 1 ]]; then
  write_routemeter routemeter "$port_rm" "$port_rm_admin" off "$port_rm_tls"
else
  write_routemeter routemeter "$port_rm" "$port_rm_admin" off
fi
write_routemeter rm-nometrics "$port_rmnm" "$port_rmnm_admin" off
write_routemeter rm-log "$port_rmlog" "$port_rmlog_admin" "$rm_access_log"

# --- processes -------------------------------------------------------------

# Waits until $2 accepts on 127.0.0.1 while process $1 is alive; 5 s at most.
wait_port() {
  local pid="$1" port="$2" i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

# The pids whose CPU counts for a target: the main process and its children
# (nginx's worker); threads are included in each process's /proc/PID/stat.
target_pids() {
  local pid="${target_pid[$1]}"
  # shellcheck disable=SC2046 # one pid per word
  echo "$pid" $(pgrep -P "$pid" || true)
}

# Sum of utime+stime (fields 14 and 15 of /proc/PID/stat) in clock ticks.
cpu_ticks() {
  local total=0 pid stat fields
  for pid in "$@"; do
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
    stat="${stat##*) }"  # drop "pid (comm) ": comm may hold spaces
    read -ra fields <<<"$stat"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

# CPU busy ticks of the whole machine (all cores), from /proc/stat.
machine_busy_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# CPU ticks of this shell and its waited-for children (wrk included).
self_ticks() {
  local stat fields
  stat="$(cat "/proc/$$/stat")"
  stat="${stat##*) }"
  read -ra fields <<<"$stat"
  echo $((fields[11] + fields[12] + fields[13] + fields[14]))
}

rss_kib() {
  local total=0 pid kib
  for pid in "$@"; do
    kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" || continue
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

declare -A skipped=()  # target -> reason
up_targets=()
declare -A tls_up=()       # target -> 1 when it takes part in the TLS scenarios
declare -A tls_skipped=()  # target -> why it does not
declare -A tls_resumes=()  # target -> yes or no (probe_resumption)
declare -A tls_ciphers=()  # target -> "suite group" (probe_cipher)

stop_target() {
  local pid="${target_pid[$1]:-}"
  [[ -n "$pid" ]] || return 0
  signal_ours TERM "$pid"
  unset "target_pid[$1]"
}

# Answers must be right before anything is timed: a proxy that answers 502
# quickly would otherwise look fast.
check_answers() {  # $1 = port
  local got
  got="$(curl -sS --max-time 3 "http://127.0.0.1:$1/small" 2>&1)" || { echo "GET /small failed: $got"; return 1; }
  [[ "$got" == "$small_body" ]] || { echo "GET /small answered '${got:0:80}'"; return 1; }
  got="$(curl -sS --max-time 3 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$1/64k" 2>&1)" ||
    { echo "GET /64k failed: $got"; return 1; }
  [[ "$got" == "200 65536" ]] || { echo "GET /64k answered status and size '$got', want '200 65536'"; return 1; }
}

# The same over https: TLS 1.3, the bench's certificate (verified, so it is the
# one served), and a request with `Connection: close` must get it back, or the
# new-connection scenario would not make one connection per request.
check_tls_answers() {  # $1 = HTTPS port
  local got head
  local curl_tls=(curl -sS --max-time 3 --tlsv1.3 --cacert "$tls_cert")
  got="$("${curl_tls[@]}" "https://127.0.0.1:$1/small" 2>&1)" || { echo "GET /small over https failed: $got"; return 1; }
  [[ "$got" == "$small_body" ]] || { echo "GET /small over https answered '${got:0:80}'"; return 1; }
  head="$work/tls/check-$1.head"
  got="$("${curl_tls[@]}" -D "$head" -H "Connection: close" "https://127.0.0.1:$1/small" 2>&1)" ||
    { echo "GET /small over https with Connection: close failed: $got"; return 1; }
  [[ "$got" == "$small_body" ]] ||
    { echo "GET /small over https with Connection: close answered '${got:0:80}'"; return 1; }
  tr -d '\r' <"$head" | grep -qi '^connection:.*close' ||
    { echo "a request with Connection: close got no Connection: close back (head: $(tr -d '\r' <"$head" | tr '\n' ' ' | cut -c1-200))"; return 1; }
}

# Does the target resume a TLS 1.3 session (what wrk's reconnections offer it)?
# One connection saves its session (-ign_eof: it reads until the proxy closes, so
# the tickets have come), a second offers it. Prints yes or no; only for the report.
probe_resumption() {  # $1 = HTTPS port
  local sess="$work/tls/session-$1.pem" req=$'GET /small HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
  local s_client=(timeout 5 openssl s_client -connect "127.0.0.1:$1" -servername localhost -tls1_3 -ign_eof)
  if "${s_client[@]}" -sess_out "$sess" <<<"$req" >/dev/null 2>&1 && [[ -s "$sess" ]] &&
    "${s_client[@]}" -sess_in "$sess" <<<"$req" 2>/dev/null | grep -q '^Reused, TLSv1.3'; then
    echo yes
  else
    echo no
  fi
}

# What the target negotiates with a client offering OpenSSL's defaults, as wrk
# does (it sets no cipher list): "<TLS 1.3 suite> <key exchange group>", so the
# report shows every proxy encrypted alike. Only for the report.
probe_cipher() {  # $1 = HTTPS port
  local out suite group
  out="$(timeout 5 openssl s_client -connect "127.0.0.1:$1" -servername localhost -tls1_3 \
    </dev/null 2>/dev/null)" || true
  suite="$(awk '/^New, TLSv1.3, Cipher is/ {print $NF; exit}' <<<"$out")"
  group="$(awk -F'[:,] *' '/^Server Temp Key:/ {print $2; exit}' <<<"$out")"
  echo "${suite:-?} ${group:-?}"
}

# The last lines of the logs that exist, on one line, for a skip message.
log_tail() {
  local f
  for f in "$@"; do
    [[ -s "$f" ]] && tail -n 3 "$f"
  done | tr '\n' ' ' | cut -c1-300 || true
}

start_target() {  # $1 = target; sets target_pid or skipped
  local t="$1" port="${target_port[$1]}" log="$work/$1.log" pid reason
  case "$t" in
    direct) target_pid[$t]="${target_pid[backend]}"; up_targets+=("$t"); return 0 ;;
    nginx | nginx-ka512)
      nginx -p "$work" -e "$work/$t-error.log" -c "$work/$t.conf" -g 'daemon off;' >"$log" 2>&1 &
      ;;
    haproxy)
      if ! command -v haproxy >/dev/null; then skipped[$t]="haproxy is not installed"; return 0; fi
      haproxy -db -f "$work/haproxy.cfg" >"$log" 2>&1 &
      ;;
    routemeter | rm-nometrics | rm-log)
      if [[ ! -x "$routemeter_bin" ]]; then
        skipped[$t]="$routemeter_bin is not an executable (build it, or set ROUTEMETER_BIN)"
        return 0
      fi
      if [[ "$t" == rm-nometrics ]]; then
        ROUTEMETER_BENCH_NO_METRICS=1 "$routemeter_bin" --config "$work/$t.toml" >"$log" 2>&1 &
      else
        "$routemeter_bin" --config "$work/$t.toml" >"$log" 2>&1 &
      fi
      ;;
  esac
  pid=$!
  started_pids+=("$pid")
  target_pid[$t]=$pid
  if ! wait_port "$pid" "$port"; then
    if kill -0 "$pid" 2>/dev/null; then
      reason="not listening on 127.0.0.1:$port after 5 s"
    else
      local rc=0
      wait "$pid" || rc=$?
      reason="exited with status $rc before listening on 127.0.0.1:$port"
    fi
    local tail_text
    tail_text="$(log_tail "$log" "$work/$t-error.log")"
    if [[ -n "$tail_text" ]]; then reason+="; log: $tail_text"; fi
    stop_target "$t"
    skipped[$t]="$reason"
    return 0
  fi
  if ! reason="$(check_answers "$port")"; then
    stop_target "$t"
    skipped[$t]="started, but does not proxy correctly yet: $reason"
    return 0
  fi
  up_targets+=("$t")
  if [[ $tls_on == 1 && -n "${target_tls_port[$t]:-}" ]]; then
    if ! wait_port "$pid" "${target_tls_port[$t]}"; then
      tls_skipped[$t]="not listening on its HTTPS port 127.0.0.1:${target_tls_port[$t]}"
    elif ! reason="$(check_tls_answers "${target_tls_port[$t]}")"; then
      tls_skipped[$t]="does not answer correctly over https: $reason"
    else
      tls_up[$t]=1
      tls_resumes[$t]="$(probe_resumption "${target_tls_port[$t]}")"
      tls_ciphers[$t]="$(probe_cipher "${target_tls_port[$t]}")"
    fi
  fi
}

# --- runs ------------------------------------------------------------------

# Parses wrk --latency output: requests seconds rps p50_ms p99_ms non2xx socket_errors.
parse_wrk() {
  awk '
    function ms(v,   n, u) {
      n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
      if (u == "us") return n / 1000; if (u == "ms") return n; if (u == "s") return n * 1000
      if (u == "m") return n * 60000; if (u == "h") return n * 3600000; return -1
    }
    /requests in/ { req = $1; secs = $4; sub(/s,$/, "", secs) }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(/,/, ""); serr = $4 + $6 + $8 + $10 }
    END {
      if (req == "" || rps == "") { print "NA"; exit }
      printf "%s %s %s %.3f %.3f %d %d\n", req, secs, rps, p50, p99, non2xx, serr
    }'
}

run_wrk() {  # $1 = target, $2 = connections, $3 = path, $4 = duration, $5 = scenario name
  local url="http://127.0.0.1:${target_port[$1]}$3" out extra=()
  case "$5" in
    post*) extra=(-s "$work/post1k.lua") ;;
    tls-newconn*) extra=(-H "Connection: close") ;;
  esac
  if [[ "$5" == tls-* ]]; then url="https://127.0.0.1:${target_tls_port[$1]}$3"; fi
  out="$(timeout $(($(to_seconds "$4") + 30)) wrk -t1 -c"$2" -d"$4" --timeout 5s --latency \
    "${extra[@]}" "$url" 2>&1)" || true
  echo "$out" >>"$work/wrk-$1.log"
  parse_wrk <<<"$out"
}

# Does a target take part in a scenario?
in_scenario() {  # $1 = target, $2 = scenario name
  if [[ "$2" == tls-* ]]; then [[ -n "${tls_up[$1]:-}" ]]; return; fi
  [[ "$1" != nginx-ka512 || "$2" == small-c500 ]]
}

# TCP connections accepted on the machine so far (PassiveOpens of /proc/net/snmp).
tcp_accepts() {
  awk '$1 == "Tcp:" { if (!n) { for (i = 2; i <= NF; i++) if ($i == "PassiveOpens") n = i; next }
         print $n; exit }' /proc/net/snmp
}

start_time=$SECONDS

if [[ -n "${BENCH_NICE:-}" ]]; then
  [[ "$BENCH_NICE" =~ ^-?[0-9]+$ ]] || die "BENCH_NICE must be a number, e.g. -10"
  renice -n "$BENCH_NICE" -p $$ >/dev/null || die "could not renice to $BENCH_NICE"
  # With autogroup scheduling, nice only orders processes within a session;
  # between sessions the session's autogroup nice counts. Restored on exit.
  if [[ -w "/proc/$$/autogroup" ]]; then
    old_autogroup_nice="$(awk '{ print $NF }' "/proc/$$/autogroup")"
    echo "$BENCH_NICE" >"/proc/$$/autogroup" || note "could not set the session's autogroup nice"
  fi
  note "running at nice $BENCH_NICE ($(cat "/proc/$$/autogroup" 2>/dev/null || echo "no autogroup"))"
fi

# Optionally wait for the machine to calm down (other builds, other benchmarks).
wait_quiet="${BENCH_WAIT_QUIET:-0}"
[[ "$wait_quiet" =~ ^[0-9]+$ ]] || die "BENCH_WAIT_QUIET must be a number of seconds"
if [[ $wait_quiet -gt 0 ]]; then
  last_wait_note=-30
  while true; do
    b0="$(machine_busy_ticks)" t0="$(awk '/^cpu / { s = 0; for (i = 2; i <= 9; i++) s += $i; print s; exit }' /proc/stat)"
    sleep 2
    b1="$(machine_busy_ticks)" t1="$(awk '/^cpu / { s = 0; for (i = 2; i <= 9; i++) s += $i; print s; exit }' /proc/stat)"
    busy_pct=$(((b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1)))
    if [[ $busy_pct -lt 15 ]]; then break; fi
    if [[ $((SECONDS - start_time)) -ge $wait_quiet ]]; then
      note "the machine is still ${busy_pct}% busy after ${wait_quiet}s; running anyway"
      break
    fi
    if [[ $((SECONDS - start_time - last_wait_note)) -ge 30 ]]; then
      note "the machine is ${busy_pct}% busy; waiting for it to be under 15%"
      last_wait_note=$((SECONDS - start_time))
    fi
  done
  start_time=$SECONDS
fi

# The backend first: every target needs it.
nginx -p "$work" -e "$work/backend-error.log" -c "$work/backend.conf" -g 'daemon off;' \
  >"$work/backend.log" 2>&1 &
target_pid[backend]=$!
started_pids+=("${target_pid[backend]}")
wait_port "${target_pid[backend]}" "$port_backend" ||
  die "the backend nginx did not start; see $work/backend.log and $work/backend-error.log"
reason="$(check_answers "$port_backend")" || die "the backend answers wrongly: $reason"

for t in direct nginx haproxy routemeter rm-nometrics rm-log nginx-ka512; do
  wanted "$t" || continue
  start_target "$t"
  if [[ -n "${skipped[$t]:-}" ]]; then note "skipping $t: ${skipped[$t]}"; fi
  if [[ -n "${tls_skipped[$t]:-}" ]]; then note "leaving $t out of the TLS scenarios: ${tls_skipped[$t]}"; fi
done
[[ ${#up_targets[@]} -gt 0 ]] || die "no target is up"
if [[ $tls_on == 0 ]]; then note "no TLS scenarios: $tls_off_reason"; fi

runs_per_round=0
for s in "${scenarios[@]}"; do
  read -r name _ _ <<<"$s"
  for t in "${up_targets[@]}"; do in_scenario "$t" "$name" && runs_per_round=$((runs_per_round + 1)); done
done
# About 0.3 s of overhead per wrk run, about 10 s per proxy for the idle test.
estimate=$(((${#up_targets[@]} + ${#tls_up[@]}) * (warmup_s + 1) + rounds * runs_per_round * (10 * duration_s + 3) / 10))
estimate=$((estimate + 5))  # starting the processes, the report
if [[ $idle_test == 1 ]]; then estimate=$((estimate + 10 * ${#up_targets[@]})); fi
note "targets up: ${up_targets[*]}; $rounds rounds x $runs_per_round runs of $duration"
note "estimated run time: ${estimate}s (temp dir: $work)"

for t in "${up_targets[@]}"; do
  run_wrk "$t" 50 /small "$warmup" small-c50 >/dev/null
  if [[ -n "${tls_up[$t]:-}" ]]; then run_wrk "$t" 50 /small "$warmup" tls-small-c50 >/dev/null; fi
done
if [[ -e "$rm_access_log" ]]; then : >"$rm_access_log"; fi  # the warm-up's lines

for ((round = 1; round <= rounds; round++)); do
  for s in "${scenarios[@]}"; do
    read -r name conns path <<<"$s"
    for t in "${up_targets[@]}"; do
      in_scenario "$t" "$name" || continue
      if [[ -n "${skipped[$t]:-}" ]]; then continue; fi
      if ! kill -0 "${target_pid[$t]}" 2>/dev/null; then
        skipped[$t]="died during the benchmark (round $round); log: $work/$t.log"
        note "skipping $t: ${skipped[$t]}"
        continue
      fi
      pids="$(target_pids "$t")"
      backend_pids="$(target_pids backend)"
      if [[ "$t" == direct ]]; then backend_pids=""; fi
      # shellcheck disable=SC2086 # pids is a list
      before="$(cpu_ticks $pids)" backend_before="$(cpu_ticks $backend_pids)"
      accepts_before="$(tcp_accepts)"
      busy_before="$(machine_busy_ticks)" self_before="$(self_ticks)" wall_before="$EPOCHREALTIME"
      result="$(run_wrk "$t" "$conns" "$path" "$duration" "$name")"
      busy_after="$(machine_busy_ticks)" self_after="$(self_ticks)" wall_after="$EPOCHREALTIME"
      accepts=$(($(tcp_accepts) - accepts_before))
      # shellcheck disable=SC2086
      after="$(cpu_ticks $pids)" backend_after="$(cpu_ticks $backend_pids)"
      log_note=""
      if [[ "$t" == rm-log ]]; then
        # Lines still buffered (flushed every 200 ms or 32 KiB) land after this;
        # the count is a sanity check, not an exact match.
        sleep 0.3
        log_note=", access log $(wc -l <"$rm_access_log") lines"
        : >"$rm_access_log"  # opened with O_APPEND: writes go on at offset 0
      fi
      if [[ "$result" == NA ]]; then
        note "round $round $name $t: wrk gave no result (see $work/wrk-$t.log)"
        continue
      fi
      read -r req secs rps p50 p99 non2xx serr <<<"$result"
      ticks=$((after - before))
      # CPU that neither wrk, the backend nor the target used: other load on
      # the machine, which skews rps and latency (less so CPU per request).
      other=$((busy_after - busy_before - ticks - (backend_after - backend_before) - (self_after - self_before)))
      other_pct="$(awk -v o="$other" -v a="$wall_before" -v b="$wall_after" -v hz="$clk_tck" \
        -v n="$(nproc)" 'BEGIN { v = o * 100 / ((b - a) * hz * n); if (v < 0) v = 0; printf "%.1f", v }')"
      if [[ "$t" == direct ]]; then
        ticks="" cpu=""
      else
        cpu="$(awk -v t="$ticks" -v hz="$clk_tck" -v n="$req" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
      fi
      echo "$round,$name,$conns,$path,$t,$req,$secs,$rps,$p50,$p99,$ticks,$cpu,$non2xx,$serr,$other_pct,$accepts" >>"$csv"
      if [[ "$name" == tls-newconn* ]]; then
        log_note+=", $(awk -v a="$accepts" -v n="$req" 'BEGIN { printf "%.2f", n ? a / n : 0 }') TCP accepts/req"
      fi
      if [[ $((non2xx + serr)) -gt 0 ]]; then log_note+=", ERRORS: $non2xx non-2xx, $serr socket errors"; fi
      note "round $round/$rounds $name $t: $rps rps, p50 ${p50} ms, p99 ${p99} ms," \
        "cpu ${cpu:--} us/req, other load ${other_pct}%${log_note}"
    done
  done
done

# --- idle connections ------------------------------------------------------

idle_csv="$work/idle.csv"
if [[ $idle_test == 1 ]]; then
  echo "target,connections_wanted,connections_ok,rss_before_kib,rss_after_kib" >"$idle_csv"
  cat >"$work/idle.py" <<'EOF'
# Opens N keep-alive connections, sends one GET /small on each, reads the answers,
# then holds them open until the shell has read the proxy's RSS (a file appears).
import os, selectors, socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 90
socks, done = [], 0
req = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
try:
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(req)
        s.setblocking(False)
        socks.append(s)
except OSError as e:
    print(f"connect stopped after {len(socks)}: {e}", file=sys.stderr)
sel = selectors.DefaultSelector()
bufs = {}
for s in socks:
    sel.register(s, selectors.EVENT_READ)
    bufs[s] = b""
while bufs and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s); del bufs[s]; continue
        b = bufs[s] + data
        head_end = b.find(b"\r\n\r\n")
        if head_end >= 0:
            length = 0
            for line in b[:head_end].split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            if len(b) >= head_end + 4 + length:
                sel.unregister(s); del bufs[s]; done += 1
                continue
        bufs[s] = b
print(done)
sys.stdout.flush()
with open(ready + ".answered", "w") as f:
    f.write(str(done))
for _ in range(600):  # until the shell says it has measured; 60 s at most
    if os.path.exists(ready):
        break
    time.sleep(0.1)
EOF
  for t in "${up_targets[@]}"; do
    [[ "$t" == nginx || "$t" == haproxy || "$t" == routemeter ]] || continue
    [[ -z "${skipped[$t]:-}" ]] || continue
    pids="$(target_pids "$t")"
    # shellcheck disable=SC2086
    rss_before="$(rss_kib $pids)"
    rm -f "$work/idle-$t.ready" "$work/idle-$t.ready.answered"
    n="$idle_wanted"
    if [[ "$t" == haproxy && $n -gt $((haproxy_maxconn - 10)) ]]; then n=$((haproxy_maxconn - 10)); fi
    timeout 150 python3 "$work/idle.py" "${target_port[$t]}" "$n" "$work/idle-$t.ready" \
      >"$work/idle-$t.log" 2>&1 &
    idle_pid=$!
    started_pids+=("$idle_pid")
    for ((i = 0; i < 1200; i++)); do
      [[ -e "$work/idle-$t.ready.answered" ]] && break
      kill -0 "$idle_pid" 2>/dev/null || break
      sleep 0.1
    done
    sleep 1  # let the proxy settle with all connections idle
    # shellcheck disable=SC2086
    rss_after="$(rss_kib $pids)"
    ok="$(cat "$work/idle-$t.ready.answered" 2>/dev/null || echo 0)"
    touch "$work/idle-$t.ready"
    wait "$idle_pid" 2>/dev/null || true
    echo "$t,$n,$ok,$rss_before,$rss_after" >>"$idle_csv"
    note "idle test $t: $ok/$n answered, RSS ${rss_before} KiB -> ${rss_after} KiB"
    sleep 2  # the closed connections drain before the next proxy's test
  done
fi

# --- report ----------------------------------------------------------------

skip_notes=""
for t in "${!skipped[@]}"; do skip_notes+="$t	${skipped[$t]}"$'\n'; done
for t in "${!tls_skipped[@]}"; do skip_notes+="$t (TLS scenarios)	${tls_skipped[$t]}"$'\n'; done
if [[ $tls_on == 0 ]]; then skip_notes+="TLS scenarios	$tls_off_reason"$'\n'; fi
resume_notes=""
for t in nginx haproxy routemeter; do
  if [[ -n "${tls_resumes[$t]:-}" ]]; then resume_notes+="${resume_notes:+, }$t ${tls_resumes[$t]}"; fi
done
cipher_notes=""
for t in nginx haproxy routemeter; do
  if [[ -n "${tls_ciphers[$t]:-}" ]]; then cipher_notes+="${cipher_notes:+, }$t ${tls_ciphers[$t]}"; fi
done

nginx_version="$(nginx -v 2>&1 | sed 's|.*nginx/||')"
haproxy_version="$(haproxy -v 2>/dev/null | awk 'NR == 1 {print $3}' || true)"
wrk_version="$(wrk -v 2>&1 | awk 'NR == 1 {print $2}' || true)"
openssl_version="$(openssl version 2>/dev/null | awk '{print $2}' || true)"
cpu_model="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
machine="$cpu_model, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r); nginx $nginx_version, HAProxy ${haproxy_version:-?}, wrk ${wrk_version:-?}, OpenSSL ${openssl_version:-?}"

report="$(SKIPS="$skip_notes" RESUMES="$resume_notes" CIPHERS="$cipher_notes" MACHINE="$machine" COMMAND="$command_line" DURATION="$duration" \
  ROUNDS="$rounds" IDLE="$([[ $idle_test == 1 ]] && echo "$idle_csv")" python3 - "$csv" <<'EOF'
import csv, os, statistics, sys
from collections import defaultdict

rows = list(csv.DictReader(open(sys.argv[1])))
order = ["direct", "nginx", "nginx-ka512", "haproxy", "routemeter", "rm-nometrics", "rm-log"]
scen = [("small-c50", "GET /small (33-byte body), 50 connections"),
        ("64k-c50", "GET /64k (64 KiB body), 50 connections"),
        ("small-c500", "GET /small (33-byte body), 500 connections"),
        ("post1k-c50", "POST /small with a 1 KiB body, 50 connections"),
        ("tls-small-c50", "TLS 1.3: GET /small (33-byte body) over keep-alive HTTPS, 50 connections"),
        ("tls-newconn-c50", "TLS 1.3: GET /small with `Connection: close`, a new TCP and TLS "
                            "connection per request (resumed), 50 connections")]
runs = defaultdict(list)
for r in rows:
    runs[(r["scenario"], r["target"])].append(r)

def med(rs, key):
    vals = [float(r[key]) for r in rs if r[key] not in ("", "NA")]
    return statistics.median(vals) if vals else None

out = []
out.append(f"Machine: {os.environ['MACHINE']}.")
out.append(f"Command: `{os.environ['COMMAND']}` (wrk -t1, {os.environ['DURATION']} per run, "
           f"medians of {os.environ['ROUNDS']} interleaved rounds; 1 worker per proxy).")
loads = [float(r["other_load_pct"]) for r in rows if r["other_load_pct"] not in ("", "NA")]
if loads:
    line = (f"Other load on the machine during the runs (CPU used by neither wrk, the backend "
            f"nor the target): median {statistics.median(loads):.0f}%, max {max(loads):.0f}% "
            f"of all cores.")
    if statistics.median(loads) > 5:
        line += (" **The machine was not quiet: rps and latency are low and noisy; "
                 "CPU us/req is less affected.**")
    out.append(line)
if any(r["target"] in ("routemeter", "rm-nometrics", "rm-log") for r in rows):
    out.append("routemeter targets: one upstream with `max_idle_connections = 512` (the "
               "counterpart of nginx-ka512; the default 64 churns upstream connections at "
               "500 clients, as nginx's keepalive 64 does), access log off; rm-nometrics is "
               "the same with `ROUTEMETER_BENCH_NO_METRICS=1` (no metrics recorded), rm-log "
               "the same with a JSON access log to a file.")
if any(r["scenario"].startswith("tls-") for r in rows):
    out.append("TLS scenarios: nginx, HAProxy and routemeter each terminate TLS 1.3 (only) on a "
               "port of their own with the same ECDSA P-256 self-signed certificate, 1 worker, "
               "session cache and tickets as configured by default (nginx: "
               "`ssl_session_cache shared:SSL:10m`). wrk keeps each connection's session and "
               "offers it on the next connection, so in `tls-newconn-c50` a proxy that resumes "
               "sessions makes TLS 1.3 resumptions (PSK with ECDHE, no certificate signature) "
               "after each wrk connection's first handshake: the cost of a returning client.")
    if os.environ.get("RESUMES"):
        out.append("Resumes a TLS 1.3 session offered by a client (checked once with "
                   "`openssl s_client -sess_out`, then `-sess_in`): " + os.environ["RESUMES"] + ".")
    if os.environ.get("CIPHERS"):
        out.append("Negotiated with a client offering OpenSSL's defaults, as wrk does (cipher "
                   "suite, key exchange group): " + os.environ["CIPHERS"] + ".")
out.append("")
summary = {}
for name, title in scen:
    targets = [t for t in order if (name, t) in runs]
    if not targets:
        continue
    m = {t: {k: med(runs[(name, t)], k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")}
         for t in targets}
    errors = {t: sum(int(r["non2xx"]) + int(r["socket_errors"]) for r in runs[(name, t)])
              for t in targets}
    def ratio(t, ref):
        if ref not in m or not m[ref]["rps"] or m[t]["rps"] is None:
            return "-"
        return f"{m[t]['rps'] / m[ref]['rps']:.2f}x"
    out.append(f"**{title}** (`{name}`)")
    out.append("")
    out.append("| target | rps | p50 ms | p99 ms | CPU us/req | rps vs nginx | rps vs haproxy |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for t in targets:
        v = m[t]
        cpu = "-" if v["cpu_us_per_req"] is None else f"{v['cpu_us_per_req']:.1f}"
        label = t + (" *" if errors[t] else "")
        out.append(f"| {label} | {v['rps']:.0f} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | {cpu} | "
                   f"{ratio(t, 'nginx')} | {ratio(t, 'haproxy')} |")
    if name.startswith("tls-newconn"):
        acc = []
        for t in targets:
            n = sum(int(r["requests"]) for r in runs[(name, t)])
            a = sum(int(r["tcp_accepts"]) for r in runs[(name, t)] if r.get("tcp_accepts"))
            if n:
                acc.append(f"{t} {a / n:.2f}")
        if acc:
            out.append("")
            out.append("TCP connections the machine accepted per request in these runs "
                       "(PassiveOpens; about 1.00 when wrk reconnects for every request and the "
                       "proxy keeps its upstream connection): " + ", ".join(acc) + ".")
    if any(errors.values()):
        out.append("")
        out.append("\\* errors in these runs (non-2xx answers or socket errors): " +
                   ", ".join(f"{t} {n}" for t, n in errors.items() if n))
    out.append("")
    summary[name] = m

def cpu_ratio(a, b):
    if a["cpu_us_per_req"] and b["cpu_us_per_req"]:
        return f", CPU/req {a['cpu_us_per_req'] / b['cpu_us_per_req']:.2f}x"
    return ""

parts = []
for name, _ in scen:
    m = summary.get(name, {})
    if "routemeter" not in m:
        continue
    r = m["routemeter"]
    refs = [t for t in ("nginx", "nginx-ka512", "haproxy") if t in m]
    if not refs:
        continue
    s = name + " " + "; ".join(
        f"vs {t}: rps {r['rps'] / m[t]['rps']:.2f}x{cpu_ratio(r, m[t])}" for t in refs)
    parts.append(s)
if parts:
    out.append("Summary, routemeter / the others: " + ". ".join(parts) + ".")
else:
    out.append("Summary, routemeter / the others: not measured (routemeter or no other proxy ran).")

def cost_line(title, base, cheap, bar):
    # cost = 1 - rps(with the feature) / rps(without it); CPU difference in us/req.
    items = []
    for name, _ in scen:
        m = summary.get(name, {})
        if base not in m or cheap not in m or not m[cheap]["rps"]:
            continue
        with_, without = m[base], m[cheap]
        cost = 1 - with_["rps"] / without["rps"]
        item = f"{name} {cost * 100:+.1f}% of throughput"
        if with_["cpu_us_per_req"] and without["cpu_us_per_req"]:
            d = with_["cpu_us_per_req"] - without["cpu_us_per_req"]
            item += f", CPU {d:+.1f} us/req ({d / without['cpu_us_per_req'] * 100:+.0f}%)"
        item += " (within the bar)" if cost <= bar else " (**over the bar**)"
        items.append(item)
    if items:
        out.append("")
        out.append(f"{title} (bar: at most {bar * 100:.0f}% of throughput): " + "; ".join(items) + ".")

tls_items = []
for name, _ in scen:
    m = summary.get(name, {})
    if not name.startswith("tls-") or "routemeter" not in m:
        continue
    peers = [t for t in ("nginx", "haproxy") if t in m and m[t]["rps"]]
    if not peers:
        continue
    best = max(peers, key=lambda t: m[t]["rps"])
    x = m["routemeter"]["rps"] / m[best]["rps"]
    item = f"{name} {x:.2f}x of {best}"
    cpu = m["routemeter"]["cpu_us_per_req"]
    if cpu:
        item += f" (CPU {cpu:.1f} us/req; " + ", ".join(
            f"{t} {m[t]['cpu_us_per_req']:.1f}" for t in peers if m[t]["cpu_us_per_req"]) + ")"
    item += ", meets the bar" if x >= 1.0 else ", **under the bar**"
    tls_items.append(item)
if tls_items:
    out.append("")
    out.append("TLS, routemeter's rps against the better of nginx and HAProxy (issue 10's bar: "
               "at least 1.0x): " + "; ".join(tls_items) + ".")

cost_line("Metrics cost, 1 - rps(routemeter) / rps(rm-nometrics)", "routemeter", "rm-nometrics", 0.10)
cost_line("Access-log cost, 1 - rps(rm-log) / rps(routemeter)", "rm-log", "routemeter", 0.10)

idle = os.environ.get("IDLE")
if idle and os.path.exists(idle):
    irows = list(csv.DictReader(open(idle)))
    if irows:
        out.append("")
        out.append("**Idle keep-alive client connections** (10,000 where the fd limit allows; "
                   "one GET /small each, then held idle; RSS of all the proxy's processes):")
        out.append("")
        out.append("| target | connections answered | RSS before MiB | RSS with them MiB | growth KiB/conn |")
        out.append("|---|---:|---:|---:|---:|")
        for r in irows:
            b, a, ok = int(r["rss_before_kib"]), int(r["rss_after_kib"]), int(r["connections_ok"])
            per = f"{(a - b) / ok:.2f}" if ok else "-"
            out.append(f"| {r['target']} | {ok} of {r['connections_wanted']} | {b / 1024:.1f} | {a / 1024:.1f} | {per} |")
        for r in irows:
            if r["target"] != "routemeter" or not int(r["connections_ok"]):
                continue
            ok = int(r["connections_ok"])
            added = (int(r["rss_after_kib"]) - int(r["rss_before_kib"])) * 1024 * 10000 / ok
            verdict = "within the bar" if added <= 40e6 else "**over the bar**"
            out.append("")
            out.append(f"routemeter adds {added / 1e6:.1f} MB ({added / 2**20:.1f} MiB) of RSS per "
                       f"10,000 idle keep-alive client connections (bar: at most 40 MB): {verdict}.")

skips = [l.split("\t", 1) for l in os.environ.get("SKIPS", "").splitlines() if l]
if skips:
    out.append("")
    for t, why in sorted(skips):
        out.append(f"- {t}: not measured: {why}")
print("\n".join(out))
EOF
)"
echo "$report" | tee "$work/report.md"

if [[ -n "$out_file" ]]; then
  cp "$csv" "$out_file"
  note "raw runs copied to $out_file"
fi
note "raw runs: $csv; report: $work/report.md; logs in $work"
note "total run time: $((SECONDS - start_time))s (estimated ${estimate}s)"
