#!/usr/bin/env bash
# User-space instructions per request of each client, counted by valgrind's callgrind:
# stable on a noisy machine, where requests per second move by 10-30% between runs.
#
#   crates/par-http-bench/instructions.sh [CLIENT ...]   the table (every client, peers too)
#   crates/par-http-bench/instructions.sh --check        the guard of .ci/run: par-http's
#                                                        clients against their thresholds
#   crates/par-http-bench/instructions.sh --update       re-measure, rewrite the thresholds
#
# The thresholds live in crates/par-http-bench/instructions-thresholds.txt. Each client
# runs S1's job (GETs of /small, 64 in flight; the one-off requests one after the other)
# under callgrind with N1 requests once and N2 requests three times; (median I(N2) -
# I(N1)) / (N2 - N1) is the cost of one request, start-up excluded. Kernel time (system
# calls, the loopback TCP path) is not counted: compare with the benchmark's CPU figures
# for that. --check and --update build without the peers (--no-default-features) and
# with the TLS crates unoptimized (below), which keeps the guard, build included, under
# two minutes on a 2-core machine. Installs valgrind (apt-get) when it is missing.
set -euo pipefail

cd "$(dirname "$0")/../.."
thresholds=crates/par-http-bench/instructions-thresholds.txt

# The guard's build: no peers, and the TLS crates at opt-level 0. Those are the longest
# path of the build (rustls alone takes a third of it optimized), and no request of the
# guard uses TLS: its figures are those of the optimized build, to the instruction.
guard_build=(--no-default-features)
for tls in ring rustls rustls-webpki webpki-roots; do
  guard_build+=(--config "profile.release.package.$tls.opt-level=0")
done
mode=()
build=()
case "${1:-}" in
  --check) mode=(--check "$thresholds"); build=("${guard_build[@]}"); shift ;;
  --update) mode=(--update "$thresholds"); build=("${guard_build[@]}"); shift ;;
esac

if ! command -v valgrind >/dev/null; then
  echo "valgrind is missing: installing it (apt-get install -y valgrind)" >&2
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  if ! "${sudo[@]}" apt-get install -y valgrind >&2; then
    "${sudo[@]}" apt-get update >&2
    "${sudo[@]}" apt-get install -y valgrind >&2
  fi
  command -v valgrind >/dev/null || { echo "valgrind could not be installed" >&2; exit 1; }
fi

cargo build --release -p par-http-bench "${build[@]}" >&2
bench="${CARGO_TARGET_DIR:-target}/release/par-http-bench"
"$bench" instructions "${mode[@]}" "$@"
