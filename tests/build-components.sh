#!/usr/bin/env bash
# Builds every component spin.toml names (the same packages its [component.*.build]
# commands build), in one cargo call so shared crates compile once.
set -euo pipefail
cd "$(dirname "$0")/.."
# rustup does not add rust-toolchain.toml's targets to a toolchain that is
# already installed, so a fresh checkout may lack the wasm target.
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
packages=$(grep -o 'wasm32-wasip2 --release -p [a-z0-9-]*' spin.toml | awk '{print "-p", $4}' | sort -u)
# shellcheck disable=SC2086
cargo build --locked --target wasm32-wasip2 --release $packages "$@"
