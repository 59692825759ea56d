#!/bin/sh
# Installs the npm packages the repo needs, and only when package-lock.json changed since the last
# install, so that a second `npm start` or `npm test` skips it. Python and Debian packages are
# installed by the tools that need them (devlake installs its own).
set -eu
cd "$(dirname "$0")/.."
stamp=node_modules/.dlaas-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "dlaas: installing npm packages (npm ci)..."
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
