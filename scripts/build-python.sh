#!/bin/sh
# Builds the Python distribution `dlaas` (packages/python) into dist/: bundles the compiled
# companion (packages/companion/lib, from `npm run build`) and its npm dependencies into one ES
# module with esbuild, builds the prebuilt JupyterLab extension (packages/jupyterlab-dlaas-extension,
# with `jupyter-builder build`, which JupyterLab 4.6's `jupyter labextension build` now calls) into packages/python/dlaas/labextension, then
# packs the wheel with hatchling. Both run from a build venv in .venv-build/, created on first use
# (or from DLAAS_BUILD_PYTHON's environment, see below).
# `npm run build:python` runs `npm run build` first.
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
meta=$(mktemp)
trap 'rm -f "$meta"' EXIT
# fuse-native is a native addon that finds its prebuilt binary next to its own files: it stays
# out of the bundle and is copied beside it (below), where the bundle's import finds it.
node_modules/.bin/esbuild "$entry" --bundle --platform=node --format=esm --target=node20 \
  --outfile="$bundle" --log-level=warning --metafile="$meta" --external:fuse-native \
  --banner:js="import { createRequire as __dlaasCreateRequire } from 'node:module'; const require = __dlaasCreateRequire(import.meta.url);"

# fuse-native and what it requires at run time, Linux x64 only (its prebuilt addon links Debian's
# libfuse.so.2; the companion says what to install when that is missing).
modules="$(dirname "$bundle")/node_modules"
rm -rf "$modules"
mkdir -p "$modules"
for pkg in fuse-native fuse-shared-library fuse-shared-library-linux nanoresource inherits node-gyp-build; do
  cp -R "node_modules/$pkg" "$modules/$pkg"
done
# Each keeps its own licence file; what it never loads here stays out (other platforms, the copy of
# libfuse that only fuse-native's `configure` uses, which we never run).
rm -rf "$modules/fuse-native/prebuilds/darwin-x64" "$modules/fuse-native/prebuilds/linux-x64/electron.napi.node" \
  "$modules/fuse-native/test" "$modules/fuse-native/example.js" "$modules/fuse-native/bin.js" \
  "$modules/fuse-shared-library-linux/libfuse" "$modules/fuse-shared-library-linux/example"

# The licences of the npm packages in the bundle travel with it.
node_modules/.bin/tsx scripts/third-party-notices.ts "$meta" "$(dirname "$bundle")/THIRD_PARTY_NOTICES.txt" >/dev/null

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

# JupyterLab in the build venv is the same minor release as the one the UI tests and `npm start`
# run, so the extension is built against the shared packages that JupyterLab provides.
# DLAAS_BUILD_PYTHON names a Python that has JupyterLab 4.6 already (binder/postBuild: the notebook
# environment) and builds with it instead; the build tools are added to it when missing.
if [ -n "${DLAAS_BUILD_PYTHON:-}" ]; then
  build_python=$(command -v "$DLAAS_BUILD_PYTHON")
  build_bin=$(dirname "$build_python")
else
  build_python=$venv/bin/python
  build_bin=$venv/bin
  [ -x "$build_python" ] || "$python" -m venv "$venv"
fi
if ! "$build_python" -c 'import hatchling, jupyterlab, jupyter_builder' 2>/dev/null; then
  echo "dlaas: installing the Python build tools for $build_python..."
  "$build_python" -m pip install --quiet --disable-pip-version-check 'hatchling>=1.27' \
    'jupyterlab>=4.6,<4.7' 'jupyter-builder>=1.3,<2'
fi

labextension=packages/python/dlaas/labextension
rm -rf "$labextension"
# The core package definition of the JupyterLab in the venv, so the build neither downloads one
# nor needs yarn to install @jupyterlab/core-meta.
core=$("$build_python" -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging", "package.json"))')
"$build_bin/jupyter-builder" build --core-package-file="$core" packages/jupyterlab-dlaas-extension >/dev/null
if [ ! -f "$labextension/package.json" ]; then
  echo "dlaas: the JupyterLab extension build left no $labextension/package.json." >&2
  exit 1
fi

mkdir -p dist
rm -f dist/dlaas-*.whl
"$build_python" -m pip wheel --quiet --disable-pip-version-check --no-index --no-deps \
  --no-build-isolation --check-build-dependencies --wheel-dir dist packages/python
echo "dlaas: built $(ls dist/dlaas-*.whl)"
