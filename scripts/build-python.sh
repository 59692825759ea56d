#!/bin/sh
# Builds the Python distribution `dlaas` (packages/python) into dist/: bundles the compiled
# companion (packages/companion/lib, from `npm run build`) and its npm dependencies into one ES
# module with esbuild, then packs the wheel with hatchling from a build venv in .venv-build/,
# created on first use. `npm run build:python` runs `npm run build` first.
set -eu
cd "$(dirname "$0")/.."

entry=packages/companion/lib/main.js
bundle=packages/python/dlaas/companion/companion.mjs
venv=.venv-build
python=${PYTHON:-python3}

if [ ! -f "$entry" ]; then
  echo "dlaas: $entry is missing; run \`npm run build\` first (or \`npm run build:python\`)." >&2
  exit 1
fi

mkdir -p "$(dirname "$bundle")"
# The companion's CommonJS dependencies (express) call require() for Node's built-in modules,
# which an ES module lacks: the banner gives them one.
node_modules/.bin/esbuild "$entry" --bundle --platform=node --format=esm --target=node20 \
  --outfile="$bundle" --log-level=warning \
  --banner:js="import { createRequire as __dlaasCreateRequire } from 'node:module'; const require = __dlaasCreateRequire(import.meta.url);"

# Started with no place to listen, the companion loads every module and then stops with its own
# "dlaas-companion: ..." sentence; a bundle that cannot load dies with a stack trace instead.
smoke=$( (unset DLAAS_SOCKET DLAAS_PORT; node "$bundle" 2>&1) || true)
case "$smoke" in
  dlaas-companion:*) ;;
  *)
    echo "dlaas: the bundled companion $bundle does not load:" >&2
    echo "$smoke" >&2
    exit 1
    ;;
esac

if ! "$venv/bin/python" -c 'import hatchling' 2>/dev/null; then
  echo "dlaas: creating the Python build environment in $venv..."
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'hatchling>=1.27'
fi

mkdir -p dist
rm -f dist/dlaas-*.whl
"$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-index --no-deps \
  --no-build-isolation --check-build-dependencies --wheel-dir dist packages/python
echo "dlaas: built $(ls dist/dlaas-*.whl)"
