#!/bin/sh
# Installs the Debian packages named on the command line that are not installed yet, and nothing
# when all are: `sh scripts/ensure-debian.sh chromium r-base-core`. Needs root (or sudo) only when
# something is missing; updates the package lists once if the first attempt fails on stale lists.
set -eu

missing=
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing="$missing $pkg"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
  sudo=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=sudo
else
  echo "dlaas: the Debian packages$missing are missing; install them with \"sudo apt-get install$missing\" and run this again." >&2
  exit 1
fi

echo "dlaas: installing Debian packages$missing ..."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
install() {
  # shellcheck disable=SC2086 # the package names are separate words on purpose
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1
}
if ! install; then
  $sudo apt-get update -q >/dev/null 2>&1 || true
  if ! install; then
    tail -n 10 "$log" >&2
    echo "dlaas: apt-get could not install$missing (its last lines are above); install them by hand and run this again." >&2
    exit 1
  fi
fi
