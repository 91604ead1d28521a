#!/usr/bin/env bash
# npm test: build, then run unit tests (next to the code, and test/model) and integration tests
# (real etcd processes on 127.0.0.1).
#   bash test/run-tests.sh [unit|integration] [node --test flags...]
set -euo pipefail
cd "$(dirname "$0")/.."

which=all
case "${1:-}" in
  unit | integration) which=$1; shift ;;
esac

[ -d node_modules ] || npm ci --no-audit --no-fund
rm -rf dist   # no compiled test of a moved or deleted file may run
npm run --silent build

files=()
if [ "$which" != integration ]; then
  # unit tests beside the code, and the model test of the reconcile (no etcd)
  mapfile -t -O "${#files[@]}" files < <(find dist/src dist/test/model -name '*.test.js' | sort)
fi
if [ "$which" != unit ]; then
  if ! command -v "${ETCD_BIN:-etcd}" >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
    echo "etcd is not installed: the integration tests run a real etcd." >&2
    echo "Install it with: apt-get install -y etcd-server   (or set ETCD_BIN=/path/to/etcd)" >&2
    exit 1
  fi
  mapfile -t -O "${#files[@]}" files < <(find dist/test/integration -name '*.test.js' | sort)
fi

# Node's runner runs each file in its own process; two at a time fits a 2-core machine.
node --test --test-concurrency=2 --test-reporter=spec "${files[@]}" "$@"
