#!/bin/sh
# Makes the Helm chart's tools ready, and does nothing when they are: prints the path of a `helm`
# (v3.21.4: the one on PATH when it is that version, else one built from the Go module proxy into
# .tools/bin), after copying z2jh 4.4.0 (the chart's dependency, which the chart repository cannot
# give these machines) from the vendored artifacts into helm/dlaas/charts/.
#   sh scripts/ensure-helm.sh        → /path/to/helm
# DLAAS_VENDOR_DIR names the vendored artifacts' folder (default: ../shared/vendor beside the
# repository, else /work/shared/vendor).
set -eu
cd "$(dirname "$0")/.."
version=v3.21.4
chart=jupyterhub-4.4.0.tgz
vendor=${DLAAS_VENDOR_DIR:-}
if [ -z "$vendor" ]; then
  # Beside this checkout, or beside the main one when this is another clone on the same machine.
  for dir in ../shared/vendor /work/shared/vendor; do
    if [ -f "$dir/$chart" ]; then
      vendor=$dir
      break
    fi
  done
fi

if [ ! -f "helm/dlaas/charts/$chart" ]; then
  if [ ! -f "${vendor:-../shared/vendor}/$chart" ]; then
    echo "dlaas: z2jh's chart $chart is not in ${vendor:-../shared/vendor}; set DLAAS_VENDOR_DIR to the folder that holds it." >&2
    exit 1
  fi
  mkdir -p helm/dlaas/charts
  cp "$vendor/$chart" "helm/dlaas/charts/$chart"
fi

found=$(command -v helm 2>/dev/null || true)
if [ -n "$found" ] && "$found" version --template '{{.Version}}' 2>/dev/null | grep -qx "$version"; then
  echo "$found"
  exit 0
fi
bin=$(pwd)/.tools/bin
if [ -x "$bin/helm" ] && "$bin/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$version"; then
  echo "$bin/helm"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "dlaas: helm $version is missing and there is no Go to build it; install helm $version or Go 1.24 or later." >&2
  exit 1
fi
echo "dlaas: building helm $version from the Go module proxy into .tools/bin (a few minutes, once) ..." >&2
# Helm's release builds stamp the version with -ldflags; `go install` alone would say "v3.21".
GOBIN="$bin" go install -ldflags "-X helm.sh/helm/v3/internal/version.version=$version" \
  "helm.sh/helm/v3/cmd/helm@$version" >&2
echo "$bin/helm"
