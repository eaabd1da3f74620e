#!/usr/bin/env bash
# Key-value cost per operation, as the app sees it: wrk against the probe
# component (one `get`, one `set`, one `increment` per request), on the runner
# or, with UNLATCH_SPIN=<spin>, on a real Spin. Same shape as the numbers in
# README.md: 2 threads, 16 connections, 10 s per operation.
#   bash tests/runner/bench-kv.sh            # the runner
#   UNLATCH_SPIN=../shared/spin/bin/spin bash tests/runner/bench-kv.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq wrk >/dev/null; }
cargo build --locked -q --target wasm32-wasip2 --release -p runner-probe
cargo build --locked -q --release -p unlatch-runner
host="${UNLATCH_SPIN:-target/release/unlatch-runner}"
duration="${DURATION:-10s}"
dir="$(mktemp -d)"
trap 'kill -9 -- -$pid 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "kv-bench"
[[trigger.http]]
route = "/probe/..."
component = "probe"
[component.probe]
source = "$PWD/target/wasm32-wasip2/release/runner_probe.wasm"
key_value_stores = ["default"]
TOML
printf '[key_value_store.default]\ntype = "spin"\npath = "%s/kv.db"\n' "$dir" > "$dir/rc.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
setsid "$host" up -f "$dir/spin.toml" --listen "127.0.0.1:$port" --runtime-config-file "$dir/rc.toml" \
  --state-dir "$dir/state" >/dev/null 2>&1 &
pid=$!
disown "$pid"
until curl -s -o /dev/null "http://127.0.0.1:$port/probe"; do sleep 0.1; done
curl -s -o /dev/null "http://127.0.0.1:$port/probe?op=kv-set&key=k&value=v"
echo "host: $host"
echo "| operation | req/s |"
echo "|---|---:|"
for op in "kv-get&key=k" "kv-set&key=k&value=v" "incr&key=n"; do
  rps=$(wrk -t2 -c16 -d"$duration" "http://127.0.0.1:$port/probe?op=$op" | awk '/Requests\/sec/ {print $2}')
  echo "| ${op%%&*} | $rps |"
done
