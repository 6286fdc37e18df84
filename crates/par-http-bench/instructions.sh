#!/usr/bin/env bash
# User-space instructions per request of each client, counted by valgrind's callgrind:
# stable on a noisy machine, where requests per second move by 10-30% between runs.
#
#   crates/par-http-bench/instructions.sh [CLIENT ...]      (needs valgrind)
#
# Each client runs S1's job (GETs of /small, 64 in flight) twice under callgrind, with
# N1 and N2 requests; (I(N2) - I(N1)) / (N2 - N1) is the cost of one request, start-up
# excluded. Kernel time (system calls, the loopback TCP path) is not counted: compare
# with the benchmark's CPU figures for that.
set -euo pipefail

cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
cargo build --release -p par-http-bench >&2
bench=target/release/par-http-bench
if [ -n "${CARGO_TARGET_DIR:-}" ]; then bench="$CARGO_TARGET_DIR/release/par-http-bench"; fi

clients=("$@")
if [ ${#clients[@]} -eq 0 ]; then
  clients=(par-http-blocking par-http-blocking-tokio par-http-smol par-http-tokio-ct par-http-tokio-mt hyper-util-ct reqwest-ct ureq)
fi
n1=2000
n2=6000

log=$(mktemp)
"$bench" server >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 100); do
  port=$(awk '/^listening/ {print $2}' "$log")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "the server did not start" >&2; exit 1; }

count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" measure \
    --client "$1" --url "http://127.0.0.1:$port/small" --n "$2" --c 64 --body-len 13 2>&1 \
    | awk '/I *refs/ {gsub(",", "", $NF); print $NF}'
}

echo "| client | user-space instructions per request |"
echo "|---|---:|"
for client in "${clients[@]}"; do
  a=$(count "$client" "$n1")
  b=$(count "$client" "$n2")
  echo "| $client | $(( (b - a) / (n2 - n1) )) |"
done
