#!/usr/bin/env bash
# Makes sure Debian's Chromium is there for tests/integration/test_swagger_ui.py (GET /swagger rendered
# in a real headless browser): installs it as root with apt when missing. Fails with the reason otherwise.
set -euo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "Chromium is needed by the Swagger UI test: install it, e.g. sudo apt-get install chromium" >&2
exit 1
