#!/usr/bin/env bash
# Builds a single-node Kubernetes from the Go module proxy into a cache dir, once:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy (one
#   `go build` of k8s.io/kubernetes, so the shared packages compile once), CoreDNS (cluster DNS)
#   and kube-router (the NetworkPolicy engine, run with only its firewall on).
# The kube tests (tests/kube.rs, tests/kube_node.rs) run these real binaries; .ci/run calls this
# script up front so the first test does not pay for the build. Output: binaries in $DEST.
#
# k8s.io/kubernetes requires its staging modules at v0.0.0 with ./staging replaces that Go ignores for a
# dependency, so each staging module is pinned to its published v0.<minor>.<patch> twin (kubernetes#79384).
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.34.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
COREDNS_VERSION="${COREDNS_VERSION:-1.12.4}"
# The only kube-router version the Go module proxy serves here.
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-2.1.0}"
CACHE="${AFTERSHOCK_CACHE_DIR:-$HOME/.cache/aftershock}"
DEST="${DEST:-$CACHE/kube-$KUBE_VERSION}"
KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

ready() {
  for b in etcd "${KUBE_BINS[@]}" coredns kube-router; do [[ -x "$DEST/$b" ]] || return 1; done
}
if ready; then
  echo "control plane ready: $DEST"
  exit 0
fi
command -v go >/dev/null || { echo "error: go is needed to build the Kubernetes binaries" >&2; exit 2; }

mkdir -p "$DEST"
work="$(mktemp -d "$CACHE/kube-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export GOFLAGS="${GOFLAGS:-} -mod=mod"
ldflags="-s -w"

if [[ ! -x "$DEST/etcd" ]]; then
  start=$SECONDS
  mkdir -p "$work/etcd" && cd "$work/etcd"
  go mod init aftershock.local/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go build -trimpath -ldflags "$ldflags" -o "$work/etcd.bin" go.etcd.io/etcd/server/v3
  mv "$work/etcd.bin" "$DEST/etcd"
  echo "built etcd v$ETCD_VERSION in $((SECONDS - start)) s"
fi

missing=()
for b in "${KUBE_BINS[@]}"; do [[ -x "$DEST/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  start=$SECONDS
  mkdir -p "$work/kube" && cd "$work/kube"
  go mod init aftershock.local/kube >/dev/null 2>&1
  gomod="$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
  [[ -f "$gomod" ]] || { echo "error: could not download k8s.io/kubernetes@v$KUBE_VERSION" >&2; exit 3; }
  for m in $(sed -n 's|^\s*k8s.io/\([^ ]*\) => ./staging/src/k8s.io/.*|\1|p' "$gomod"); do
    go mod edit "-replace=k8s.io/$m=k8s.io/$m@v0.${KUBE_VERSION#1.}"
  done
  pkgs=()
  for b in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  go get "${pkgs[@]/%/@v$KUBE_VERSION}"
  mkdir -p "$work/kube-bin"
  go build -trimpath \
    -ldflags "$ldflags -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)" \
    -o "$work/kube-bin/" "${pkgs[@]}"
  mv "$work"/kube-bin/* "$DEST/"
  echo "built ${missing[*]} v$KUBE_VERSION in $((SECONDS - start)) s"
fi

if [[ ! -x "$DEST/coredns" ]]; then
  start=$SECONDS
  mkdir -p "$work/coredns" && cd "$work/coredns"
  go mod init aftershock.local/coredns >/dev/null 2>&1
  go get "github.com/coredns/coredns@v$COREDNS_VERSION"
  go build -trimpath -ldflags "$ldflags" -o "$work/coredns.bin" github.com/coredns/coredns
  mv "$work/coredns.bin" "$DEST/coredns"
  echo "built coredns v$COREDNS_VERSION in $((SECONDS - start)) s"
fi

if [[ ! -x "$DEST/kube-router" ]]; then
  start=$SECONDS
  mkdir -p "$work/kube-router" && cd "$work/kube-router"
  go mod init aftershock.local/kube-router >/dev/null 2>&1
  go get "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@v$KUBE_ROUTER_VERSION"
  go build -trimpath -ldflags "$ldflags" -o "$work/kube-router.bin" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
  mv "$work/kube-router.bin" "$DEST/kube-router"
  echo "built kube-router v$KUBE_ROUTER_VERSION in $((SECONDS - start)) s"
fi
echo "control plane ready: $DEST"
