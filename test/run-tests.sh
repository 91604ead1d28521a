#!/usr/bin/env bash
# npm test: build, check the generated CRD is current, then run unit tests
# (next to the code) and integration tests (real etcd processes on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build

if ! command -v "${ETCD_BIN:-etcd}" >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  echo "etcd is not installed: the integration tests run a real etcd." >&2
  echo "Install it with: apt-get install -y etcd-server   (or set ETCD_BIN=/path/to/etcd)" >&2
  exit 1
fi

mapfile -t unit < <(find dist/src -name '*.test.js' | sort)
mapfile -t integration < <(find dist/test -name '*.test.js' | sort)

# Node's runner runs each file in its own process; two at a time fits a 2-core machine.
node --test --test-concurrency=2 --test-reporter=spec "${unit[@]}" "${integration[@]}" "$@"
