#!/usr/bin/env bash
# Proves the README's test command on a bare Debian 12: builds a minbase root
# with debootstrap, copies a clean export of the committed tree (HEAD) into it
# and runs `scripts/test.sh` there as root, with nothing installed first.
#
#   scripts/fresh-check.sh                 every build variant test.sh runs by default
#   ROUTEMETER_TEST_BUILDS=release scripts/fresh-check.sh   passed through to test.sh
#   ROUTEMETER_TEST_CHECKS= ...                             so is this ("" skips the checks)
#   FRESH_ROOT=/var/tmp/rm-root scripts/fresh-check.sh      where the root goes
#   FRESH_KEEP=1 ...                                        keep the root afterwards
#   FRESH_MIRROR=http://...                                 the Debian mirror
#
# Needs root (debootstrap, chroot, mounts) and the Debian package debootstrap,
# which it installs when missing. The root gets /proc, /sys and /dev from the
# host and a private /tmp. docs/operations.md records how long a run takes.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-check: needs root (debootstrap and chroot)" >&2
  exit 2
fi
if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi

mirror="${FRESH_MIRROR:-http://deb.debian.org/debian}"

root="${FRESH_ROOT:-$(mktemp -d /var/tmp/routemeter-fresh.XXXXXX)}"
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R -l "${mounted[i]}" 2>/dev/null || true; done
  if [ -z "${FRESH_KEEP:-}" ]; then rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT

start=$(date +%s)
echo "fresh-check: debootstrap --variant=minbase bookworm $root ($mirror)"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 || {
  tail -n 30 "$root.debootstrap.log" >&2
  exit 1
}
rm -f "$root.debootstrap.log"
boot_done=$(date +%s)

# The apt sources of a stock Debian 12 install: the release, its updates and
# security (debootstrap writes only the first).
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${FRESH_SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# /dev recursively and as a slave, so nothing mounted below the root's /dev
# propagates back to the host's.
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted+=("$root/dev")
mount -t tmpfs -o size=8g tmpfs "$root/tmp"
mounted+=("$root/tmp")

# A clean export of what is committed: no build directories, no local edits.
mkdir -p "$root/src/routemeter"
git -C "$repo" archive --format=tar HEAD | tar -x -C "$root/src/routemeter"
rev="$(git -C "$repo" rev-parse --short=12 HEAD)"

echo "fresh-check: running scripts/test.sh in the fresh root (commit $rev)"
set +e
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 TERM=dumb ${ROUTEMETER_TEST_BUILDS:+ROUTEMETER_TEST_BUILDS="$ROUTEMETER_TEST_BUILDS"} \
  ${ROUTEMETER_TEST_CHECKS+ROUTEMETER_TEST_CHECKS="$ROUTEMETER_TEST_CHECKS"} \
  /bin/bash -c 'cd /src/routemeter && scripts/test.sh' 2>&1 | tee "/var/tmp/routemeter-fresh-$rev.log"
status=${PIPESTATUS[0]}
set -e
end=$(date +%s)
echo "fresh-check: debootstrap $((boot_done - start)) s, test.sh $((end - boot_done)) s," \
  "total $((end - start)) s; log /var/tmp/routemeter-fresh-$rev.log"
if [ "$status" -ne 0 ]; then
  echo "fresh-check: FAILED (scripts/test.sh exited $status)" >&2
  exit "$status"
fi
echo "fresh-check: ok"
