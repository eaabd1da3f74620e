#!/usr/bin/env bash
# The whole test suite: builds the components, then runs the core's unit tests,
# the runner's own tests and the end-to-end tests against the built components,
# then the browser tests of the pages.
#
# The e2e and browser suites start the app with `spin up`'s command line. The
# host is the repository's runner, or a real Spin when UNLATCH_SPIN names one:
#   UNLATCH_SPIN=$(command -v spin) bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's redis-server, for the runner's Redis store tests and the two-host e2e
# suite; each test starts its own on a free loopback port (no persistence).
if ! command -v redis-server >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi
bash tests/build-components.sh
cargo build --locked --target wasm32-wasip2 --release -p runner-probe
# Formatting and lints first: native crates natively, components for wasm.
for component in rustfmt clippy; do
  rustup component list --installed | grep -q "^$component" || rustup component add "$component"
done
cargo fmt --all --check
cargo clippy --locked -q -p unlatch-core -p unlatch-runner -p unlatch-e2e -p pages -p unlatch-bench --all-targets -- -D warnings
wasm_packages=$(grep -o 'wasm32-wasip2 --release -p [a-z0-9-]*' spin.toml | awk '{print "-p", $4}' | sort -u)
# shellcheck disable=SC2086
cargo clippy --locked -q --target wasm32-wasip2 $wasm_packages -p unlatch-web -p runner-probe -p argon-probe -- -D warnings
# Testing unlatch-runner also builds its binary (target/debug/unlatch-runner),
# the host the e2e harness starts unless UNLATCH_SPIN is set.
cargo test --locked -p unlatch-core -p pages -p unlatch-runner -p unlatch-e2e "$@"
# The pages in headless chromium (Debian's), against the same built components.
bash tests/browser/run.sh
