#!/usr/bin/env bash
# Runs redsweep and the peer scanners one after another against the testnet built by
# bench/testnet-up.sh, each inside the scan namespace under `timeout -k` and `/usr/bin/time -v`,
# scores each tool's output against the truth files and prints ONE markdown table.
# Output: .bench/results/<stamp>/ (raw outputs, *.time, results.tsv, table.md); the path of the
# latest is in .bench/results/latest.
# Knobs: BENCH_RATE (10000) BENCH_CONCURRENCY (1000) BENCH_TIMEOUT (1.5s, redsweep's per-probe
# timeout) BENCH_TOOL_TIMEOUT (s per tool) BENCH_BUDGET_S (s for all tools) BENCH_QUICK=1
# BENCH_PEERS="space separated subset" BENCH_REDSWEEP (binary) BENCH_REDSWEEP_ARGS (extra flags)
set -euo pipefail
. "$(dirname "$0")/common.sh"
take_lock
log() { echo "peers: $*"; }
[ -s "$TN_STATE/env" ] || die "no testnet recorded in $TN_STATE; run bench/testnet-up.sh first"
. "$TN_STATE/env"

QUICK="${BENCH_QUICK:-0}"
RATE="${BENCH_RATE:-10000}"
CONC="${BENCH_CONCURRENCY:-1000}"
RS_TIMEOUT="${BENCH_TIMEOUT:-1.5s}"
if [ "$QUICK" = 1 ]; then
  TOOL_TIMEOUT="${BENCH_TOOL_TIMEOUT:-45}"; BUDGET="${BENCH_BUDGET_S:-150}"
  DEFAULT_PEERS="redsweep go-connect nmap-sS-minrate nmap-http-header masscan zmap naabu-connect-httpx"
else
  TOOL_TIMEOUT="${BENCH_TOOL_TIMEOUT:-180}"; BUDGET="${BENCH_BUDGET_S:-1080}"
  DEFAULT_PEERS="redsweep go-connect nmap-sS-T4 nmap-sS-minrate nmap-sT-minrate nmap-http-header masscan zmap naabu-syn naabu-connect-httpx"
fi
PEERS="${BENCH_PEERS:-$DEFAULT_PEERS}"
REDSWEEP="${BENCH_REDSWEEP:-$ROOT/bin/redsweep}"
NAABU="$BENCH_DIR/bin/naabu"; HTTPX="$BENCH_DIR/bin/httpx"

OUT="$BENCH_DIR/results/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
echo "$OUT" >"$BENCH_DIR/results/latest"
RESULTS="$OUT/results.tsv"
: >"$RESULTS"
: >"$OUT/empty-blocklist"
OPEN_TRUTH=$(wc -l <"$TRUTH/open.txt"); IIS_TRUTH=$(wc -l <"$TRUTH/iis.txt")

# ---- safety, again, before anything runs ------------------------------------------------------
if [ "$MODE" = netns ]; then
  for dst in 1.1.1.1 8.8.8.8 192.0.2.1 10.0.0.1; do
    if ip -n "$SCAN_NS" route get "$dst" >/dev/null 2>&1; then die "SAFETY: $SCAN_NS can route to $dst; refusing to run"; fi
  done
  [ -z "$(ip -n "$SCAN_NS" route show default)" ] || die "SAFETY: $SCAN_NS has a default route; refusing to run"
fi

NADDR=$((1 << (32 - ${PREFIX#*/})))
FLOOR=$(awk -v n="$NADDR" -v r="$RATE" -v t="$RS_TIMEOUT" 'BEGIN{s = t + 0; if (t ~ /ms$/) s /= 1000; printf "%.1f", n/r + s}')
SCEN="$MODE $PREFIX port $PORT: $OPEN open ($IIS IIS), $FILTERED filtered, $UNREACH unreachable; delay ${DELAY_MS} ms one way, loss ${LOSS_PCT}% each way; rate $RATE (floor $NADDR/$RATE + $RS_TIMEOUT = ${FLOOR} s), seed $SEED"
echo "$SCEN" >"$OUT/scenario.txt"
log "$SCEN"
log "tools: $PEERS (each bounded by ${TOOL_TIMEOUT}s; all by ${BUDGET}s)"

T0=$SECONDS
TRICKLE_PID=""
start_trickle() { # keeps masscan/naabu's pcap read from hanging on an idle link (facts file)
  [ "$MODE" = netns ] || return 0
  $NSEXEC "$BENCHNET" trickle -to "$GW_IP:9" -pps 4 -ttl "$((TOOL_TIMEOUT + 30))s" >/dev/null 2>&1 9>&- &
  TRICKLE_PID=$!
}
stop_trickle() {
  if [ -n "$TRICKLE_PID" ]; then kill "$TRICKLE_PID" 2>/dev/null || true; wait "$TRICKLE_PID" 2>/dev/null || true; TRICKLE_PID=""; fi
}
trap stop_trickle EXIT

# row NAME WALL CPU MIB OPENHIT OPENFP IISHIT IISFP NOTE
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
skip() { log "skip: $1: $2"; row "$1" - - - - - - - "skipped: $2"; }

# timed NAME CMD... : runs CMD in the scan namespace; sets WALL CPU MIB RC
timed() {
  local name="$1"; shift
  local tf="$OUT/$name.time"
  set +e
  /usr/bin/time -v -o "$tf" timeout -k 5 "$TOOL_TIMEOUT" $NSEXEC "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" 9>&-
  RC=$?
  set -e
  WALL=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; printf "%.1f", s}' "$tf")
  CPU=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.1f", u+s}' "$tf")
  MIB=$(awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$tf")
  NOTE=""
  if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then NOTE="TIMED OUT after ${TOOL_TIMEOUT}s (partial output scored)"
  elif [ "$RC" -ne 0 ]; then NOTE="exit $RC: $(grep -v '^\s*$' "$OUT/$name.stderr" | tail -n 1 | cut -c1-80)"; fi
  log "$name: ${WALL}s wall, ${CPU}s CPU, ${MIB} MiB${NOTE:+; $NOTE}"
}

# score FORMAT FILE : sets OH OF IH IF
score() {
  if [ ! -s "$2" ]; then OH=0; OF=0; IH=0; IF=0; return; fi
  read -r OH OF IH IF < <("$BENCHNET" score -format "$1" -truth "$TRUTH" -port "$PORT" "$2") || { OH='?'; OF='?'; IH='?'; IF='?'; }
}

have() { command -v "$1" >/dev/null 2>&1; }
raw_ok() { [ "$MODE" = netns ] && [ "$(id -u)" -eq 0 ]; }

run_tool() {
  local t="$1" f
  case "$t" in
    redsweep)
      if [ ! -x "$REDSWEEP" ]; then skip redsweep "$REDSWEEP missing (make build); ratios are n/a"; return; fi
      local db="$OUT/redsweep.db"
      # `redsweep sweep` opens only an existing database; a roster would change the scope.
      "$BENCHNET" initdb "$db" || { skip redsweep "cannot create $db"; return; }
      # shellcheck disable=SC2086
      timed redsweep "$REDSWEEP" --db "$db" sweep --targets "$PREFIX" --allow-outside-roster --ports "$PORT" \
        --rate "$RATE" --concurrency "$CONC" --timeout "$RS_TIMEOUT" --quiet ${BENCH_REDSWEEP_ARGS:-}
      # exit 3 = "sweep found new infections": a normal outcome here.
      if [ "$RC" -eq 3 ]; then RC=0; NOTE=""; fi
      log "redsweep: $(cat "$OUT/redsweep.stdout" "$OUT/redsweep.stderr" 2>/dev/null | grep -v '^\s*$' | tail -n 1 | cut -c1-160)"
      if [ "$RC" -ne 0 ]; then
        log "redsweep: sweep failed ($NOTE); its row and the ratios are n/a"
        row redsweep "$WALL" "$CPU" "$MIB" - - - - "failed: $NOTE"; return
      fi
      if ! timeout -k 5 120 "$REDSWEEP" --db "$db" export --format csv --sweep latest >"$OUT/redsweep.csv" 2>"$OUT/redsweep-export.stderr"; then
        log "redsweep: export failed: $(tail -n 1 "$OUT/redsweep-export.stderr")"
        row redsweep "$WALL" "$CPU" "$MIB" - - - - "export failed"; return
      fi
      score redsweep-csv "$OUT/redsweep.csv"
      row redsweep "$WALL" "$CPU" "$MIB" "$OH" "$OF" "$IH" "$IF" "$NOTE" ;;
    go-connect) # reference: naive Go worker-pool connect scan with redsweep's rate, concurrency, timeout
      timed go-connect "$BENCHNET" scan -prefix "$PREFIX" -port "$PORT" -c "$CONC" -rate "$RATE" -timeout "$RS_TIMEOUT"
      score ips "$OUT/go-connect.stdout"; row go-connect "$WALL" "$CPU" "$MIB" "$OH" "$OF" - - "$NOTE" ;;
    nmap-sS-T4|nmap-sS-minrate|nmap-sT-minrate)
      have nmap || { skip "$t" "nmap not installed"; return; }
      local scan=-sS timing=(-T4)
      [[ "$t" == *sT* ]] && scan=-sT
      [[ "$t" == *minrate ]] && timing=(--min-rate "$RATE")
      if [ "$scan" = -sS ] && ! raw_ok; then skip "$t" "SYN scan needs root and the namespace testnet"; return; fi
      f="$OUT/$t.gnmap"
      timed "$t" nmap -n -Pn "$scan" "${timing[@]}" -p "$PORT" -oG "$f" "$PREFIX"
      score nmap-grep "$f"; row "$t" "$WALL" "$CPU" "$MIB" "$OH" "$OF" - - "$NOTE" ;;
    nmap-http-header)
      have nmap || { skip "$t" "nmap not installed"; return; }
      local scan=-sS; raw_ok || scan=-sT
      f="$OUT/$t.nmap"
      timed "$t" nmap -n -Pn "$scan" --min-rate "$RATE" -p "$PORT" --script http-server-header -oN "$f" "$PREFIX"
      score nmap-normal "$f"; row "$t" "$WALL" "$CPU" "$MIB" "$OH" "$OF" "$IH" "$IF" "$NOTE" ;;
    masscan)
      have masscan || { skip masscan "masscan not installed"; return; }
      raw_ok || { skip masscan "needs root and the namespace testnet"; return; }
      f="$OUT/masscan.txt"; start_trickle
      timed masscan masscan "$PREFIX" -p "$PORT" --rate "$RATE" -e "$SCAN_IF" --adapter-ip "$ADAPTER_IP" \
        --router-mac "$GW_MAC" --wait 2 -oL "$f"
      stop_trickle
      score masscan "$f"; row masscan "$WALL" "$CPU" "$MIB" "$OH" "$OF" - - "$NOTE" ;;
    zmap)
      have zmap || { skip zmap "zmap not installed"; return; }
      raw_ok || { skip zmap "needs root and the namespace testnet"; return; }
      f="$OUT/zmap.txt"
      timed zmap zmap -p "$PORT" -r "$RATE" -i "$SCAN_IF" -G "$GW_MAC" -b "$OUT/empty-blocklist" -c 2 \
        -o "$f" -q "$PREFIX"
      score ips "$f"; row zmap "$WALL" "$CPU" "$MIB" "$OH" "$OF" - - "$NOTE" ;;
    naabu-syn)
      [ -x "$NAABU" ] || { skip "$t" "naabu not built (bench/install-peers.sh)"; return; }
      raw_ok || { skip "$t" "SYN scan needs root and the namespace testnet"; return; }
      f="$OUT/$t.txt"; start_trickle
      timed "$t" "$NAABU" -host "$PREFIX" -p "$PORT" -s s -rate "$RATE" -c 500 -duc -silent -interface "$SCAN_IF" -o "$f"
      stop_trickle
      score ips "$f"; row "$t" "$WALL" "$CPU" "$MIB" "$OH" "$OF" - - "$NOTE" ;;
    naabu-connect-httpx)
      [ -x "$NAABU" ] || { skip "$t" "naabu not built (bench/install-peers.sh)"; return; }
      # httpx sets up public DNS resolvers (seen: connect to 2001:4860:4860::8888:53); only run it
      # where nothing can leave, i.e. inside the scan namespace.
      [ "$MODE" = netns ] || { skip "$t" "loopback fallback: httpx/naabu may contact public resolvers outside a namespace"; return; }
      [ -x "$HTTPX" ] || { skip "$t" "httpx not built (bench/install-peers.sh)"; return; }
      f="$OUT/$t.naabu.txt"
      timed "$t" sh -c "'$NAABU' -host '$PREFIX' -p '$PORT' -s c -rate '$RATE' -c 500 -duc -silent | tee '$f' \
        | '$HTTPX' -silent -duc -server -no-color -t 200 -rl 5000 -timeout 3 -retries 0 -o '$OUT/$t.httpx.txt'"
      score ips "$f"; local oh=$OH of=$OF
      score httpx "$OUT/$t.httpx.txt"
      row "$t" "$WALL" "$CPU" "$MIB" "$oh" "$of" "$IH" "$IF" "$NOTE" ;;
    *) skip "$t" "unknown tool name" ;;
  esac
}

# A tool starts only if it can finish (hit its own timeout) within the budget.
for t in $PEERS; do
  if [ $((SECONDS - T0 + TOOL_TIMEOUT)) -gt "$BUDGET" ]; then
    skip "$t" "time budget: ${BUDGET}s for all tools, $((SECONDS - T0))s used, this one may take ${TOOL_TIMEOUT}s"; continue
  fi
  run_tool "$t"
done

# ---- the table ---------------------------------------------------------------------------------
RS_WALL=$(awk -F'\t' '$1=="redsweep" && $2 ~ /^[0-9.]+$/ && $5 ~ /^[0-9]+$/ {print $2}' "$RESULTS")
{
  echo "| tool | wall s | CPU s | peak MiB | open found / $OPEN_TRUTH | IIS found / $IIS_TRUTH | false pos. | wall ÷ redsweep | notes |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
  while IFS=$'\t' read -r name wall cpu mib oh of ih if note; do
    ratio=n/a
    if [ -n "$RS_WALL" ] && [[ "$wall" =~ ^[0-9.]+$ ]]; then ratio=$(awk -v a="$wall" -v b="$RS_WALL" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a"}'); fi
    fp="$of"; [ "$if" != - ] && [ "$if" != 0 ] && fp="$of (+$if IIS)"
    echo "| $name | $wall | $cpu | $mib | $oh | $ih | $fp | $ratio | $note |"
  done <"$RESULTS"
  # Issue 6's "done when" targets, read off this run (they are stated for the full scenario).
  awk -F'\t' -v floor="$FLOOR" -v ot="$OPEN_TRUTH" -v it="$IIS_TRUTH" '
    { w[$1] = $2; o[$1] = $5; i[$1] = $7 }
    function num(x) { return x ~ /^[0-9.]+$/ }
    function mark(ok) { return ok ? "yes" : "**no**" }
    END {
      if (!num(w["redsweep"]) || !num(o["redsweep"])) { print ""; print "Issue 6 targets: n/a (no redsweep result)."; exit }
      r = w["redsweep"]
      print ""
      printf "Issue 6 targets, this run: within 1.3x the floor (%.1f s): %s (%.2fx)", floor, mark(r <= 1.3 * floor), r / floor
      printf "; all open and IIS found: %s (%d/%d, %d/%d)", mark(o["redsweep"] == ot && i["redsweep"] == it), o["redsweep"], ot, i["redsweep"], it
      if (num(w["naabu-connect-httpx"])) printf "; faster than naabu | httpx: %s", mark(r < w["naabu-connect-httpx"])
      if (num(w["nmap-sS-minrate"])) printf "; >= 2.5x faster than nmap -sS --min-rate: %s (%.2fx)", mark(w["nmap-sS-minrate"] >= 2.5 * r), w["nmap-sS-minrate"] / r
      if (num(o["masscan"]) && num(o["zmap"])) printf "; at least as complete as masscan and zmap: %s", mark(o["redsweep"] >= o["masscan"] && o["redsweep"] >= o["zmap"])
      print "."
    }' "$RESULTS"
} >"$OUT/table.md"
echo
echo "Scenario: $SCEN"
cat "$OUT/table.md"
echo
log "raw outputs in $OUT"
