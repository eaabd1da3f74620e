#!/usr/bin/env bash
# The whole test suite: builds the components, then runs the core's unit tests,
# the runner's own tests and the end-to-end tests against the built components,
# then the browser tests of the pages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/build-components.sh
cargo build --locked --target wasm32-wasip2 --release -p runner-probe
cargo test --locked -p unlatch-core -p pages -p unlatch-runner -p unlatch-e2e "$@"
# The pages in headless chromium (Debian's), against the same built components.
bash tests/browser/run.sh
