#!/usr/bin/env bash
# Removes exactly what bench/testnet-up.sh recorded in $TN_STATE/created, newest first: helper
# PIDs (only if they still run benchnet), the namespaces, and last the root-namespace guard,
# whose drop counters are printed first (must be 0). Idempotent; exits 1 if the guard counted
# anything. Writes the guard count to .bench/last-guard.txt.
set -euo pipefail
. "$(dirname "$0")/common.sh"
take_lock
log() { echo "testnet-down: $*"; }
created="$TN_STATE/created"
if [ ! -s "$created" ]; then log "nothing recorded in $TN_STATE; nothing to remove"; exit 0; fi

guard_pkts=0
while read -r kind a b; do
  case "$kind" in
    pid)
      if [ -r "/proc/$a/cmdline" ] && tr '\0' ' ' <"/proc/$a/cmdline" | grep -q benchnet; then
        kill -TERM "$a" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$a" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$a" 2>/dev/null && kill -KILL "$a" 2>/dev/null || true
        log "stopped $b (pid $a): $(tail -n 1 "$TN_STATE/log/$b.log" 2>/dev/null)"
      fi ;;
    netns)
      if ip netns list | awk '{print $1}' | grep -qx "$a"; then
        left=$(ip netns pids "$a" 2>/dev/null | tr '\n' ' ')
        [ -z "$left" ] || log "warning: processes still in $a (not ours to kill): $left"
        ip netns del "$a" && log "removed namespace $a"
      fi ;;
    guard)
      if nft list table inet "$GUARD" >/dev/null 2>&1; then
        n=$( { nft list table inet "$GUARD"; nft list table netdev "$GUARD" 2>/dev/null || true; } \
              | grep -o 'packets [0-9]*' | awk '{s+=$2} END{print s+0}')
        guard_pkts=$n
        nft delete table inet "$GUARD" || true
        nft delete table netdev "$GUARD" 2>/dev/null || true
        log "root-namespace guard (output + egress, ip daddr 198.18.0.0/15; egress also 127.0.0.0/8): $n packets dropped$([ "$n" -eq 0 ] && echo ' (ok)' || echo ' *** SOMETHING TRIED TO LEAVE ***')"
      fi ;;
  esac
done < <(tac "$created")
echo "$guard_pkts" >"$BENCH_DIR/last-guard.txt"
rm -rf "$TN_STATE"
[ "$guard_pkts" -eq 0 ] || exit 1
