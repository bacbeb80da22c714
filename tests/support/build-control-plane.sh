#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy into a cache dir, once.
# The kube tests (tests/kube.rs) run these real binaries on loopback; .ci/run calls this script up front
# so the first test does not pay for the build. Output: $DEST/kube-apiserver and $DEST/etcd.
#
# k8s.io/kubernetes requires its staging modules at v0.0.0 with ./staging replaces that Go ignores for a
# dependency, so each staging module is pinned to its published v0.<minor>.<patch> twin (kubernetes#79384).
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.34.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
CACHE="${AFTERSHOCK_CACHE_DIR:-$HOME/.cache/aftershock}"
DEST="${DEST:-$CACHE/kube-$KUBE_VERSION}"

if [[ -x "$DEST/kube-apiserver" && -x "$DEST/etcd" ]]; then
  echo "control plane ready: $DEST"
  exit 0
fi
command -v go >/dev/null || { echo "error: go is needed to build kube-apiserver and etcd" >&2; exit 2; }

mkdir -p "$DEST"
work="$(mktemp -d "$CACHE/kube-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export GOFLAGS="${GOFLAGS:-} -mod=mod"

if [[ ! -x "$DEST/etcd" ]]; then
  mkdir -p "$work/etcd" && cd "$work/etcd"
  go mod init aftershock.local/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$work/etcd.bin" go.etcd.io/etcd/server/v3
  mv "$work/etcd.bin" "$DEST/etcd"
  echo "built etcd v$ETCD_VERSION"
fi

if [[ ! -x "$DEST/kube-apiserver" ]]; then
  mkdir -p "$work/kas" && cd "$work/kas"
  go mod init aftershock.local/kas >/dev/null 2>&1
  gomod="$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
  [[ -f "$gomod" ]] || { echo "error: could not download k8s.io/kubernetes@v$KUBE_VERSION" >&2; exit 3; }
  for m in $(sed -n 's|^\s*k8s.io/\([^ ]*\) => ./staging/src/k8s.io/.*|\1|p' "$gomod"); do
    go mod edit "-replace=k8s.io/$m=k8s.io/$m@v0.${KUBE_VERSION#1.}"
  done
  go get "k8s.io/kubernetes/cmd/kube-apiserver@v$KUBE_VERSION"
  go build -trimpath \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)" \
    -o "$work/kas.bin" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$work/kas.bin" "$DEST/kube-apiserver"
  echo "built kube-apiserver v$KUBE_VERSION"
fi
echo "control plane ready: $DEST"
