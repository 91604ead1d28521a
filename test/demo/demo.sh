#!/usr/bin/env bash
# npm run demo: install what is missing, build, then run the end-to-end demo.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -d node_modules ]; then
  echo "==> installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

find_etcd() {
  if [ -n "${ETCD_BIN:-}" ]; then [ -x "$ETCD_BIN" ] && return 0; echo "ETCD_BIN=$ETCD_BIN is not an executable" >&2; return 1; fi
  command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ]
}
if ! find_etcd; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing etcd (Debian package etcd-server) to play Chainfire"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
  else
    cat >&2 <<'MSG'
The demo needs etcd (3.4 or later) to play Chainfire, and it is not installed.
  - on Debian/Ubuntu, as root:  apt-get install -y etcd-server
  - or point ETCD_BIN at an etcd binary:  ETCD_BIN=/path/to/etcd npm run demo
MSG
    exit 1
  fi
fi

echo "==> building"
npm run --silent build
exec node dist/test/demo/demo.js
