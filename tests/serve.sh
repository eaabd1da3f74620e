#!/usr/bin/env bash
# Builds the components and serves the app with the Spin-compatible runner, as
# `spin build --up` would. Extra arguments go to the runner (e.g. --listen 0.0.0.0:3000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/build-components.sh
exec cargo run --locked -q -p unlatch-runner -- up -f spin.toml "$@"
