#!/usr/bin/env bash
# Makes sure a Docker engine answers: starts dockerd when it is installed but not running (as root),
# installs docker.io first when CI asks for it (INSTALL_DOCKER=1). Fails with the reason otherwise.
set -euo pipefail
docker info >/dev/null 2>&1 && exit 0
if ! command -v dockerd >/dev/null; then
  if [ "${INSTALL_DOCKER:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  else
    echo "Docker is needed (sam local runs functions in containers): install it, e.g. apt-get install docker.io" >&2
    exit 1
  fi
fi
if [ "$(id -u)" != 0 ]; then
  echo "Docker is installed but not running: start it (e.g. sudo systemctl start docker)" >&2
  exit 1
fi
nohup dockerd >/tmp/dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not start; its log:" >&2
tail -20 /tmp/dockerd.log >&2
exit 1
