# Shared names and helpers for bench/*.sh (sourced, not run).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="$ROOT/.bench"                       # gitignored
BENCHNET="$BENCH_DIR/bin/benchnet"
TN_STATE="${TN_STATE:-$BENCH_DIR/tn}"           # what testnet-up created; testnet-down reads it
SCAN_NS=tn-scan
HOSTS_NS=tn-hosts
SCAN_IF=tn-s
HOSTS_IF=tn-h
LINK_NET=198.19.255.0/24
SCAN_IP=198.19.255.1
HOSTS_IP=198.19.255.254
ADAPTER_IP=198.19.255.2                         # masscan's own address (not the kernel's)
GUARD=redsweep_bench_guard                      # nft tables in the root namespace
export PATH="/usr/local/go/bin:$BENCH_DIR/bin:$PATH"

# One benchmark at a time on this machine (the namespace names are fixed). The lock is held on
# fd 9 by the outermost script; children see BENCH_LOCKED=1. Helpers started in the background
# are started with 9>&- so they do not keep the lock after the script ends.
take_lock() {
  [ "${BENCH_LOCKED:-}" = 1 ] && return 0
  mkdir -p "$BENCH_DIR"
  exec 9>"$BENCH_DIR/bench.lock"
  flock -n 9 || die "another benchmark run holds $BENCH_DIR/bench.lock; wait for it to finish"
  export BENCH_LOCKED=1
}

record() { echo "$*" >>"$TN_STATE/created"; }
die() { echo "$(basename "$0"): error: $*" >&2; exit 1; }
