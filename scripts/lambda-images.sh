#!/usr/bin/env bash
# Usage: scripts/lambda-images.sh run|build
# Prints the image `sam local` should run functions in (run) or `sam build --use-container`
# should build in (build).
#
# SAM's own images (public.ecr.aws/lambda/python:3.13, public.ecr.aws/sam/build-python3.13) are
# used when Docker has them or can pull them. Where no container registry is reachable
# (air-gapped machines, this project's CI), stand-ins are built once from Debian 13's Python 3.13
# and reused afterwards. Needs root (debootstrap); progress goes to stderr.
set -euo pipefail

mode=${1:-run}
case "$mode" in
  run) OFFICIAL=public.ecr.aws/lambda/python:3.13; STANDIN=local/lambda-python:3.13 ;;
  build) OFFICIAL=public.ecr.aws/sam/build-python3.13; STANDIN=local/sam-build-python:3.13 ;;
  *) echo "usage: $0 run|build" >&2; exit 2 ;;
esac
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/messaging-service
ROOTFS=$CACHE/python-3.13-rootfs
# What a real Lambda python3.13 runtime gives the functions: the runtime client and the SDK.
RUNTIME_PACKAGES="awslambdaric==4.2.2 boto3==1.44.8"
BUILD_PACKAGES="aws-lambda-builders==1.67.0"

log() { echo "lambda-images: $*" >&2; }

if docker image inspect "$OFFICIAL" >/dev/null 2>&1; then echo "$OFFICIAL"; exit 0; fi
if docker image inspect "$STANDIN" >/dev/null 2>&1; then echo "$STANDIN"; exit 0; fi
if [ "${LAMBDA_IMAGE_PULL:-1}" = 1 ] && timeout 120 docker pull -q "$OFFICIAL" >/dev/null 2>&1; then
  echo "$OFFICIAL"; exit 0
fi
log "$OFFICIAL cannot be had; building the stand-in $STANDIN (about a minute, once)"

make_rootfs() {
  [ -x "$ROOTFS/usr/bin/python3" ] && return 0
  if ! command -v debootstrap >/dev/null; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || { log "debootstrap is needed: apt-get install debootstrap"; exit 1; }
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  fi
  # The Debian mirror this machine's apt already uses.
  local mirror=${DEBIAN_MIRROR:-}
  [ -n "$mirror" ] || mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { log "no Debian mirror in apt's sources; set DEBIAN_MIRROR"; exit 1; }
  rm -rf "$ROOTFS.tmp" && mkdir -p "$CACHE"
  debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates,make trixie "$ROOTFS.tmp" "$mirror" >&2
  cp /etc/resolv.conf "$ROOTFS.tmp/etc/resolv.conf"
  # Networks that intercept TLS need the host's certificate authorities inside too.
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS.tmp/etc/ssl/certs/ca-certificates.crt"
  pip_in "$ROOTFS.tmp" $RUNTIME_PACKAGES
  mkdir -p "$ROOTFS.tmp/var/runtime" "$ROOTFS.tmp/var/task" "$ROOTFS.tmp/opt"
  # SAM's emulator runs /var/runtime/bootstrap with the handler in _HANDLER.
  printf '#!/bin/sh\nexec /usr/bin/python3 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"\n' \
    > "$ROOTFS.tmp/var/runtime/bootstrap"
  chmod +x "$ROOTFS.tmp/var/runtime/bootstrap"
  rm -rf "$ROOTFS" && mv "$ROOTFS.tmp" "$ROOTFS"
}

pip_in() {
  local root=$1; shift
  # Only the host's certificate settings reach the chroot, not its local package mirrors.
  chroot "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    python3 -m pip install -q --no-cache-dir --break-system-packages --root-user-action=ignore "$@" >&2
}

import_image() {
  tar -C "$1" -c . | docker import \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
    --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'ENV PYTHONPATH=/var/task:/opt/python:/opt/python/lib/python3.13/site-packages' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'WORKDIR /var/task' \
    - "$STANDIN" >&2
}

make_rootfs
if [ "$mode" = run ]; then
  import_image "$ROOTFS"
else
  # SAM runs `lambda-builders` inside the build image, which pip-installs the requirements there.
  rm -rf "$ROOTFS.build" && cp -a "$ROOTFS" "$ROOTFS.build"
  rm -f "$ROOTFS.build"/usr/lib/python3.*/EXTERNALLY-MANAGED
  pip_in "$ROOTFS.build" $BUILD_PACKAGES
  import_image "$ROOTFS.build"
  rm -rf "$ROOTFS.build"
fi
log "built $STANDIN"
echo "$STANDIN"
