#!/usr/bin/env bash
# Browser tests of the pages: installs what a fresh machine lacks (Debian's
# chromium, the locked npm packages), builds the runner,
# then runs every *.test.js with node's test runner. Never downloads a browser.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

# The components (wasm) are built by tests/build-components.sh. The runner is a
# native binary; this is the build `cargo test` in tests/run.sh already did (same
# packages, so the same features: nothing is rebuilt there).
target="${CARGO_TARGET_DIR:-$root/target}"
cargo test --locked -q --no-run -p unlatch-core -p pages -p unlatch-runner -p unlatch-e2e
export UNLATCH_RUNNER="${UNLATCH_RUNNER:-$target/debug/unlatch-runner}"
# UNLATCH_SPIN, when set, is the host instead (see tests/browser/lib.js).

cd "$here"
node --test --test-concurrency=1 --test-reporter=spec ./*.test.js
