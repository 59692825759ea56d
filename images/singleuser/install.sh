#!/bin/sh
# Installs dlaas into a single-user environment: the wheel given (with Node.js from PyPI when the
# image has none of 20.18 or later), the JupyterLab it was built for, and FUSE 2 from the
# distribution (fuse, libfuse2 on Debian; libfuse2t64 on Ubuntu 24.04). The image's Dockerfile
# runs it as root; the tests run it in a fresh virtual environment.
#   sh install.sh dist/dlaas-0.1.0-py3-none-any.whl
# Set DLAAS_SKIP_APT=1 where the system packages are installed some other way.
set -eu
wheel=${1:?give the dlaas wheel to install (from npm run build:python)}
[ -f "$wheel" ] || { echo "dlaas: $wheel is not a file; build it with npm run build:python." >&2; exit 1; }
python=${PYTHON:-python3}

if [ "${DLAAS_SKIP_APT:-}" != 1 ]; then
  . /etc/os-release
  case "$ID:$VERSION_ID" in
    ubuntu:24.04 | ubuntu:24.10 | ubuntu:25.*) fuse_lib=libfuse2t64 ;;
    *) fuse_lib=libfuse2 ;;
  esac
  missing=
  for pkg in fuse "$fuse_lib"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || { echo "dlaas: the packages$missing are missing and only root can install them." >&2; exit 1; }
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086 # separate words on purpose
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
    rm -rf /var/lib/apt/lists/*
  fi
fi

# The companion needs Node.js 20.18 or later: the image's own when it has one, else PyPI's.
extra=
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 18) ? 0 : 1)' 2>/dev/null; then
  extra="[node]"
fi
"$python" -m pip install --no-cache-dir --quiet --disable-pip-version-check \
  "dlaas$extra @ file://$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")" 'jupyterlab>=4.6,<4.7'

# The server extension starts the companion with the Jupyter server; say so if it is not enabled.
"$python" -m jupyter server extension list 2>&1 | grep -q 'dlaas.*enabled' ||
  { echo "dlaas: the dlaas server extension is not enabled after the install." >&2; exit 1; }
echo "dlaas: installed $(basename "$wheel")${extra:+ with Node.js from PyPI}."
