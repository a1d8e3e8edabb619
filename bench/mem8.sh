#!/usr/bin/env bash
# Issue 6: "Peak RSS sweeping a /8 target range (discovery only) stays under 150 MiB; the
# benchmark prints it." Runs `redsweep sweep --discovery-only` over 127.0.0.0/8 inside the scan
# namespace of the testnet built by bench/testnet-up.sh, under /usr/bin/time -v, and writes one
# result block to $OUT/mem8.md (OUT = the peers run's result directory).
#
# Why 127.0.0.0/8: it is the only /8 that exists only inside each network namespace. The kernel
# never routes it off a namespace's own loopback (it is "martian" on every other interface), so
# the 16.7 M SYNs cannot leave tn-scan whatever the routes say. An nft rule in tn-scan drops them
# on input before the kernel could answer, so every target is silent: the worst case for the
# engine's memory (every target stays in flight for its retry and its full wait). The rule also
# counts them. The root-namespace guard counts 127.0.0.0/8 on the egress of every real
# interface too (it must stay 0, as for 198.18.0.0/15). Not 10.0.0.0/8 routed to a dummy device:
# this machine's resolver is 10.255.255.53, so a guard dropping 10/8 would cut DNS, and one that
# only counted would count DNS.
#
# Every target's result is written to SQLite, as in a real sweep (export needs the failure rows),
# and on this machine the single writer is far slower than discovery at 100,000 pps (random-order
# upserts into three indexes: about 9,800 rows/s, steady over 8 minutes, 190 bytes a row). The
# sweep then waits on the writer (back-pressure; memory stays flat), so a whole /8 would take
# about half an hour and 3 GiB of disk. The run is therefore capped at BENCH_MEM8_SECS: redsweep
# gets SIGINT, records the sweep as interrupted, and the block says how far it got, the RSS over
# time, the rows written and what a whole /8 would take at that pace.
# Knobs: BENCH_MEM8_RATE (100000) BENCH_MEM8_SECS (480) BENCH_MEM8_PREFIX (127.0.0.0/8; must lie
# inside 127.0.0.0/8).
set -euo pipefail
. "$(dirname "$0")/common.sh"
take_lock
log() { echo "mem8: $*"; }
[ -s "$TN_STATE/env" ] || die "no testnet recorded in $TN_STATE; run bench/testnet-up.sh first"
. "$TN_STATE/env"
OUT="${OUT:-$(cat "$BENCH_DIR/results/latest")}"
RATE="${BENCH_MEM8_RATE:-100000}"
SECS="${BENCH_MEM8_SECS:-480}"
PFX="${BENCH_MEM8_PREFIX:-127.0.0.0/8}"
REDSWEEP="${BENCH_REDSWEEP:-$ROOT/bin/redsweep}"
MD="$OUT/mem8.md"
LIMIT_MIB=150

skip() { log "skip: $*"; printf -- '- /8 memory run: skipped (%s).\n' "$*" >"$MD"; exit 0; }
[ "$MODE" = netns ] || skip "needs the namespace testnet (root)"
[ -x "$REDSWEEP" ] || skip "$REDSWEEP missing"
[[ "$PFX" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}/([89]|[12][0-9]|3[0-2])$ ]] || die "BENCH_MEM8_PREFIX $PFX must lie inside 127.0.0.0/8"
[[ "$RATE" =~ ^[0-9]+$ && "$SECS" =~ ^[0-9]+$ ]] || die "BENCH_MEM8_RATE and BENCH_MEM8_SECS must be integers"

# ---- safety: the scan namespace still has no way out, and 127/8 stays on its loopback ----------
for dst in 1.1.1.1 8.8.8.8 192.0.2.1 10.0.0.1; do
  if ip -n "$SCAN_NS" route get "$dst" >/dev/null 2>&1; then die "SAFETY: $SCAN_NS can route to $dst; refusing to run"; fi
done
[ -z "$(ip -n "$SCAN_NS" route show default)" ] || die "SAFETY: $SCAN_NS has a default route; refusing to run"
dev=$(ip -n "$SCAN_NS" -o route get "${PFX%/*}" | grep -o 'dev [^ ]*' | awk '{print $2}')
[ "$dev" = lo ] || die "SAFETY: $SCAN_NS routes ${PFX%/*} via '$dev', not its loopback; refusing to run"

ip netns exec "$SCAN_NS" nft -f - <<EON
table ip tn_mem8 {
  chain in {
    type filter hook input priority -300; policy accept;
    iifname "lo" ip daddr $PFX tcp dport $PORT tcp flags & (syn | ack) == syn counter drop
  }
}
EON
cleanup() { ip netns exec "$SCAN_NS" nft delete table ip tn_mem8 2>/dev/null || true; }
trap cleanup EXIT

db="$OUT/mem8.db"
rm -f "$db" "$db-wal" "$db-shm"
"$BENCHNET" initdb "$db"
naddr=$((1 << (32 - ${PFX#*/})))
log "redsweep --discovery-only over $PFX ($naddr addresses, all silent) at $RATE pps, capped at ${SECS}s"
rss="$OUT/mem8.rss"
: >"$rss"
t0=$(date +%s)
set +e
/usr/bin/time -v -o "$OUT/mem8.time" timeout -s INT -k 60 "$SECS" $NSEXEC "$REDSWEEP" --db "$db" sweep \
  --targets "$PFX" --allow-outside-roster --ports "$PORT" --rate "$RATE" --discovery-only --quiet \
  >"$OUT/mem8.stdout" 2>"$OUT/mem8.stderr" 9>&- &
tpid=$!
# RSS every 5 s (the redsweep process: `ip netns exec` execs it, so it is timeout's child).
while kill -0 "$tpid" 2>/dev/null; do
  sleep 5
  pid=$(pgrep -f -n -- "--db $db sweep") || continue
  r=$(awk '/^VmRSS/{print int($2/1024)}' "/proc/$pid/status" 2>/dev/null) || continue
  [ -n "$r" ] && echo "$(($(date +%s) - t0)) $r" >>"$rss"
done
wait "$tpid"; rc=$?
set -e
wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; printf "%.0f", s}' "$OUT/mem8.time")
cpu=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.0f", u+s}' "$OUT/mem8.time")
peak=$(awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$OUT/mem8.time")
syns=$(ip netns exec "$SCAN_NS" nft list table ip tn_mem8 | grep -o 'packets [0-9]*' | awk '{s+=$2} END{print s+0}')
rows=$(sqlite3 "$db" "SELECT probed FROM sweeps ORDER BY id DESC LIMIT 1" 2>/dev/null || echo '?')
state=$(sqlite3 "$db" "SELECT state FROM sweeps ORDER BY id DESC LIMIT 1" 2>/dev/null || echo '?')
dbmib=$(du -cm "$db"* | awk 'END{print $1}')
case "$rc" in
  0) how="finished" ;;
  130|124) how="stopped by the ${SECS}s cap (SIGINT; sweep recorded as $state)" ;;
  *) how="exit $rc: $(tail -n 1 "$OUT/mem8.stderr" | cut -c1-100)" ;;
esac
under=$([ -n "$peak" ] && [ "$peak" -lt "$LIMIT_MIB" ] && echo yes || echo "**no**")
curve=$(awk 'NR==1 || NR%12==0 {printf "%s%s s: %s", (n++ ? ", " : ""), $1, $2}' "$rss")
last=$(tail -n 1 "$rss" | awk '{print $2}')
rate_rows=$(awk -v r="$rows" -v w="$wall" 'BEGIN{ if (w > 0 && r ~ /^[0-9]+$/) printf "%.0f", r / w; else print "?" }')
{
  echo "- Memory run over $PFX ($naddr addresses; discovery only, \`--rate $RATE\`) inside the scan namespace, every address silent (dropped in tn-scan; 127/8 never leaves it)."
  echo "  Peak RSS **${peak} MiB**: under ${LIMIT_MIB} MiB: $under. Wall ${wall} s, CPU ${cpu} s; $how."
  echo "  Targets finished and written: ${rows} of ${naddr} (${rate_rows}/s, bound by the SQLite writer; at that pace all ${naddr} would take $(awk -v n="$naddr" -v r="$rate_rows" 'BEGIN{ if (r > 0) printf "%.0f", n / r / 60; else print "?" }') min); SYNs counted in tn-scan: ${syns}; database ${dbmib} MiB."
  echo "  RSS (MiB) over time: ${curve}${last:+, last $last}."
} >"$MD"
cat "$MD"
