#!/usr/bin/env bash
# Builds the single-node Kubernetes' container images here, with nothing pulled from a registry:
#   pause       the pod sandbox (pause.c, built static)
#   kafka       Debian + a JRE + the cached Kafka jars + kafka-entrypoint.sh
#   aftershock  the runtime stage of k8s/Dockerfile, interpreted instruction by instruction
#               (FROM debian:bookworm-slim, RUN apt-get install, COPY of the binary, USER,
#               WORKDIR, ENTRYPOINT), around the binary given in AFTERSHOCK_BIN
# Each is an OCI archive (umoci) that the node imports into containerd. Debian roots come from
# mmdebstrap and are cached by their package list; finished images by a hash of their inputs.
#
# Usage: build-images.sh [pause|kafka|aftershock]...   (default: all three)
# Env: AFTERSHOCK_BIN (for aftershock), KAFKA_VERSION (default 4.4.0), AFTERSHOCK_CACHE_DIR.
# Prints "image NAME REF ARCHIVE" per image and "images ready: DIR".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
CACHE="${AFTERSHOCK_CACHE_DIR:-$HOME/.cache/aftershock}"
OUT="$CACHE/images"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
mkdir -p "$OUT"
for tool in mmdebstrap umoci gcc sha256sum; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed (apt-get install mmdebstrap umoci build-essential)" >&2; exit 2; }
done

work="$(mktemp -d "$OUT/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# A Debian root with these packages, as a tarball cached by the package list.
rootfs() {
  local variant="$1"; shift
  local key; key="$(echo "$SUITE $variant $*" | sha256sum | cut -c1-16)"
  local tar="$OUT/rootfs-$key.tar"
  if [[ ! -s "$tar" ]]; then
    local start=$SECONDS includes=""
    [[ $# -gt 0 ]] && includes="--include=$(IFS=,; echo "$*")"
    # The JRE's postinst links its man page, so man dirs stay; docs and apt lists go.
    mmdebstrap --quiet --variant="$variant" $includes \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
      "$SUITE" "$work/rootfs.tar" "deb $MIRROR $SUITE main" >&2
    mv "$work/rootfs.tar" "$tar"
    echo "built a Debian $SUITE root ($variant: ${*:-no extra packages}) in $((SECONDS - start)) s" >&2
  fi
  echo "$tar"
}

# An OCI layout with tag `image` at $1 whose one layer is the tarball $2 (or an empty root).
new_layout() {
  local layout="$1" tar="${2:-}"
  umoci init --layout "$layout"
  umoci new --image "$layout:image"
  if [[ -n "$tar" ]]; then
    umoci unpack --image "$layout:image" "$work/bundle"
    tar -C "$work/bundle/rootfs" -xf "$tar"
    umoci repack --image "$layout:image" "$work/bundle"
    rm -rf "$work/bundle"
  fi
}

# Adds a layer holding what the function $2 puts into the root dir it is given.
add_layer() {
  local layout="$1" fill="$2"
  umoci unpack --image "$layout:image" "$work/bundle"
  "$fill" "$work/bundle/rootfs"
  umoci repack --image "$layout:image" "$work/bundle"
  rm -rf "$work/bundle"
}

# Packs the layout as an OCI archive whose one tag is $ref's tag, into $OUT/$name-$key.tar.
finish() {
  local layout="$1" name="$2" ref="$3" key="$4"
  umoci tag --image "$layout:image" "${ref##*:}"
  umoci rm --image "$layout:image"
  umoci gc --layout "$layout"
  tar -C "$layout" -cf "$OUT/$name-$key.tar.tmp" .
  mv "$OUT/$name-$key.tar.tmp" "$OUT/$name-$key.tar"
}

image_pause() {
  local ref="localhost/aftershock/pause:3.10"
  local key; key="$(hash_of "$here/pause.c" "$0")"
  if [[ ! -s "$OUT/pause-$key.tar" ]]; then
    gcc -static -O2 -o "$work/pause" "$here/pause.c"
    new_layout "$work/pause-oci"
    fill() { install -D -m 0755 "$work/pause" "$1/pause"; }
    add_layer "$work/pause-oci" fill
    umoci config --image "$work/pause-oci:image" --config.entrypoint /pause --config.user 65535:65535
    finish "$work/pause-oci" pause "$ref" "$key"
  fi
  echo "image pause $ref $OUT/pause-$key.tar"
}

image_kafka() {
  local ref="localhost/aftershock/kafka:$KAFKA_VERSION"
  local libs="$CACHE/kafka-$KAFKA_VERSION/libs"
  [[ -f "$CACHE/kafka-$KAFKA_VERSION/.complete" ]] || {
    echo "error: no Kafka $KAFKA_VERSION jars in $libs; run \`aftershock cluster fetch\` first" >&2; exit 2; }
  local key; key="$( (ls "$libs"; cat "$here/kafka-entrypoint.sh" "$root/src/cluster/props.rs" "$0") | sha256sum | cut -c1-16)"
  if [[ ! -s "$OUT/kafka-$key.tar" ]]; then
    local base; base="$(rootfs minbase openjdk-17-jre-headless ca-certificates)"
    new_layout "$work/kafka-oci" "$base"
    fill() {
      mkdir -p "$1/opt/kafka" "$1/var/lib/kafka/data"
      cp -r "$libs" "$1/opt/kafka/libs"
      install -m 0755 "$here/kafka-entrypoint.sh" "$1/opt/kafka/entrypoint.sh"
      # The same logging as a local cluster's nodes: src/cluster/props.rs's LOG4J2_PROPERTIES.
      sed -n '/^pub const LOG4J2_PROPERTIES: &str = "\\$/,/^";$/p' "$root/src/cluster/props.rs" | sed '1d;$d' \
        >"$1/opt/kafka/log4j2.properties"
      grep -q '^rootLogger.level' "$1/opt/kafka/log4j2.properties" || {
        echo "error: no LOG4J2_PROPERTIES in src/cluster/props.rs" >&2; exit 3; }
    }
    add_layer "$work/kafka-oci" fill
    umoci config --image "$work/kafka-oci:image" --config.entrypoint /opt/kafka/entrypoint.sh \
      --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    finish "$work/kafka-oci" kafka "$ref" "$key"
  fi
  echo "image kafka $ref $OUT/kafka-$key.tar"
}

# The runtime stage of k8s/Dockerfile: the lines from `FROM debian:... AS runtime` to the end.
image_aftershock() {
  local ref="localhost/aftershock/aftershock:test"
  local bin="${AFTERSHOCK_BIN:?set AFTERSHOCK_BIN to the aftershock binary to pack}"
  local dockerfile="$root/k8s/Dockerfile"
  local stage; stage="$(sed -n '/^FROM .* AS runtime$/,$p' "$dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')"
  [[ -n "$stage" ]] || { echo "error: $dockerfile has no \`FROM ... AS runtime\` stage" >&2; exit 3; }
  local key; key="$( (echo "$stage"; cat "$bin" "$0") | sha256sum | cut -c1-16)"
  if [[ ! -s "$OUT/aftershock-$key.tar" ]]; then
    local packages=() copy_to="" user="" workdir="" entrypoint=""
    while read -r instr rest; do
      case "$instr" in
        ''|'#'*) ;;
        FROM) [[ "$rest" == "debian:$SUITE-slim AS runtime" ]] || { echo "error: unexpected base: FROM $rest" >&2; exit 3; } ;;
        ARG) ;;
        RUN)
          # Only `apt-get update && apt-get install -y --no-install-recommends PKGS && rm ...`.
          local install; install="$(echo "$rest" | grep -o 'apt-get install [^&]*' | sed 's/apt-get install//')"
          [[ -n "$install" ]] || { echo "error: RUN other than apt-get install in the runtime stage: $rest" >&2; exit 3; }
          for w in $install; do [[ "$w" == -* ]] || packages+=("$w"); done ;;
        COPY) copy_to="${rest##* }" ;;
        USER) user="$rest" ;;
        WORKDIR) workdir="$rest" ;;
        ENTRYPOINT) entrypoint="$(echo "$rest" | tr -d '[]" ')" ;;
        *) echo "error: build-images.sh does not interpret \`$instr\` in k8s/Dockerfile's runtime stage" >&2; exit 3 ;;
      esac
    done <<<"$stage"
    [[ -n "$copy_to" && -n "$entrypoint" ]] || { echo "error: the runtime stage needs COPY and ENTRYPOINT" >&2; exit 3; }
    # debian:bookworm-slim is Debian's minbase variant with docs and apt lists removed.
    local base; base="$(rootfs minbase "${packages[@]}")"
    new_layout "$work/as-oci" "$base"
    fill() {
      install -D -m 0755 "$bin" "$1$copy_to"
      [[ -z "$workdir" ]] || install -d -m 0755 "$1$workdir"
    }
    add_layer "$work/as-oci" fill
    local eps args=()
    IFS=' ' read -r -a eps <<<"${entrypoint//,/ }"
    for e in "${eps[@]}"; do args+=(--config.entrypoint "$e"); done
    [[ -z "$user" ]] || args+=(--config.user "$user")
    [[ -z "$workdir" ]] || args+=(--config.workingdir "$workdir")
    umoci config --image "$work/as-oci:image" "${args[@]}" \
      --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    finish "$work/as-oci" aftershock "$ref" "$key"
  fi
  echo "image aftershock $ref $OUT/aftershock-$key.tar"
}

wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(pause kafka aftershock)
for w in "${wanted[@]}"; do
  case "$w" in
    pause|kafka|aftershock) "image_$w" ;;
    *) echo "error: unknown image $w (pause, kafka, aftershock)" >&2; exit 2 ;;
  esac
done
echo "images ready: $OUT"
