#!/bin/sh
# Installs the npm packages the repo needs, and only when package-lock.json changed since the last
# install, so that a second `npm start` or `npm test` skips it. Python and Debian packages are
# installed by the tools that need them (devlake installs its own), except FUSE 2 (Debian's fuse
# and libfuse2), which the companion's data lake folder needs: installed here when missing and
# allowed; without it the companion says why it cannot mount and uses prefix mappings.
# DLAAS_FUSE=off skips that (binder/postBuild: Binder's containers have no FUSE).
set -eu
cd "$(dirname "$0")/.."
if [ "${DLAAS_FUSE:-}" != off ]; then
  sh scripts/ensure-debian.sh fuse libfuse2 ||
    echo "dlaas: without FUSE the data lake folder cannot be mounted; paths come from prefix mappings." >&2
fi
stamp=node_modules/.dlaas-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "dlaas: installing npm packages..."
# Not `npm ci`: npm 11 records only this platform's optional packages (rollup's, esbuild's) in the
# lock file and then `npm ci` refuses it as out of sync. `npm install --no-save` installs the locked
# versions and leaves package-lock.json as it is.
npm install --no-save --no-audit --no-fund --loglevel=error
# npm has been seen to give up on a network failure ("Exit handler never called!") and still exit 0.
if [ ! -x node_modules/.bin/tsc ]; then
  echo "dlaas: npm install did not install the packages (see npm's messages above). Check the network and npm's registry settings, then run this again." >&2
  exit 1
fi
echo "$want" > "$stamp"
