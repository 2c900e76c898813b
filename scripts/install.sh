#!/usr/bin/env bash
# Builds routemeter from source and installs it: /usr/bin/routemeter and
# routemeter-demo-backend, the systemd unit in /lib/systemd/system, docs and
# examples under /usr/share, and /etc/routemeter/routemeter.toml only if there
# is none yet (an existing config is never overwritten).
#
#   sudo scripts/install.sh                     build in build-release/, install, daemon-reload
#   DESTDIR=/tmp/stage scripts/install.sh       dry run: install under /tmp/stage only
#   scripts/install.sh --no-deps                skip scripts/bootstrap-deps.sh
#   scripts/install.sh --build-dir DIR          build somewhere else
#
# Remove a from-source install with: xargs rm -v < build-release/install_manifest.txt
# (that list includes /etc/routemeter/routemeter.toml only if this run created it).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="$root/build-release"
deps=1
while (($#)); do
  case "$1" in
    --no-deps) deps=0 ;;
    --build-dir)
      [ $# -ge 2 ] || { echo "install.sh: --build-dir needs a directory" >&2; exit 2; }
      build_dir="$2"
      shift
      ;;
    -h | --help)
      sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install.sh: unknown argument: $1" >&2
      exit 2
      ;;
  esac
  shift
done

destdir="${DESTDIR:-}"
sudo=""
if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

if ((deps)); then
  "$root/scripts/bootstrap-deps.sh"
fi

echo "install.sh: configuring $build_dir"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DBUILD_TESTING=OFF -DROUTEMETER_BENCHMARKS=OFF >/dev/null
echo "install.sh: building"
cmake --build "$build_dir" -j "$(nproc)" --target routemeter routemeter-demo-backend

config="$destdir/etc/routemeter/routemeter.toml"
config_existed=0
[ -e "$config" ] && config_existed=1

echo "install.sh: installing${destdir:+ into $destdir}"
DESTDIR="$destdir" $sudo cmake --install "$build_dir"

if ((config_existed)); then
  echo "install.sh: kept the existing $config (the shipped one is /usr/share/routemeter/routemeter.toml)"
else
  echo "install.sh: created $config"
fi
if ! "$destdir/usr/bin/routemeter" --check-config --config "$config"; then
  echo "install.sh: $config does not validate; fix it before starting the service" >&2
fi

if [ -n "$destdir" ]; then
  echo "install.sh: DESTDIR set: systemd not touched"
elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  $sudo systemctl daemon-reload
  echo "install.sh: systemd reloaded its units"
else
  echo "install.sh: systemd is not running here (container?): skipped daemon-reload"
fi

cat <<EOF

Next steps:
  edit /etc/routemeter/routemeter.toml (docs: /usr/share/doc/routemeter/configuration.md)
  routemeter --check-config --config /etc/routemeter/routemeter.toml
  systemctl enable --now routemeter
  curl -s 127.0.0.1:9901/readyz; curl -s 127.0.0.1:9901/metrics | head
  after editing the config: systemctl reload routemeter
Operations guide: /usr/share/doc/routemeter/operations.md
EOF
