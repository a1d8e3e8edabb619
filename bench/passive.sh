#!/usr/bin/env bash
# Passive evidence throughput (issue 4), measured in one run on the same files:
#   redsweep sniff  vs  tshark with an equivalent display filter (packets/s, MB/s)
#   redsweep ingest vs  grep -c default.ida                      (lines/s, MB/s)
# Inputs are synthetic (cmd/benchgen): a pcap of 100,000 TCP flows (500,000 packets) and a
# 2,000,000-line Apache combined log; every 20th flow/line is a real Code Red II request.
# Nothing is sent on any network. Writes its own section of BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
dir=.bench/passive
mkdir -p "$dir"
flows=${BENCH_FLOWS:-100000}
lines=${BENCH_LINES:-2000000}

if ! command -v tshark >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench-passive: installing tshark"
    export DEBIAN_FRONTEND=noninteractive
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    apt-get install -y -qq --no-install-recommends tshark >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq --no-install-recommends tshark >/dev/null 2>&1; } \
      || echo "bench-passive: tshark could not be installed; its row is skipped"
  else
    echo "bench-passive: tshark missing and not root; its row is skipped"
  fi
fi

go build -o "$dir/benchgen" ./cmd/benchgen
[ -x bin/redsweep ] || go build -o bin/redsweep ./cmd/redsweep
"$dir/benchgen" -pcap "$dir/flows.pcap" -flows "$flows" -log "$dir/access.log" -lines "$lines"
pcap_mb=$(awk -v b="$(stat -c %s "$dir/flows.pcap")" 'BEGIN{printf "%.1f", b/1048576}')
log_mb=$(awk -v b="$(stat -c %s "$dir/access.log")" 'BEGIN{printf "%.1f", b/1048576}')
packets=$((flows * 5))

# time_cmd NAME CMD...: runs CMD under /usr/bin/time, leaves wall s, cpu s, peak MiB in $dir/NAME.time
time_cmd() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$dir/$name.time" "$@" >"$dir/$name.out" 2>"$dir/$name.err" || {
    echo "bench-passive: $name failed: $(tail -2 "$dir/$name.err")"; return 1; }
}
row() { # file label unit-count unit size-MiB found base-wall
  read -r wall user sys kb <"$dir/$1.time"
  shift
  awk -v n="$1" -v c="$2" -v u="$3" -v mb="$4" -v w="$wall" -v us="$user" -v sy="$sys" -v kb="$kb" -v f="$5" -v base="$6" \
    'BEGIN{ printf "| %s | %.2f | %.2f | %.0f | %s | %.0f %s/s | %.1f MiB/s | %s |\n", n, w, us+sy, kb/1024, f, c/w, u, mb/w, (base>0? sprintf("%.2fx", w/base) : "1.00x") }'
}

rm -f "$dir/sniff.db" "$dir/ingest.db"
time_cmd sniff bin/redsweep --db "$dir/sniff.db" sniff --pcap "$dir/flows.pcap"
sniff_found=$(grep -o 'evidence on [0-9]* sources' "$dir/sniff.out" | grep -o '[0-9]*' || echo "?")
sniff_wall=$(cut -d' ' -f1 "$dir/sniff.time")
tshark_row=""
if command -v tshark >/dev/null 2>&1; then
  if time_cmd tshark sh -c "tshark -n -o http.desegment_body:FALSE -r '$dir/flows.pcap' -Y 'http.request.uri contains \"default.ida\"' -T fields -e ip.src | sort -u | wc -l"; then
    tshark_row=$(row tshark "tshark -Y 'http.request.uri contains \"default.ida\"'" "$packets" packets "$pcap_mb" "$(tr -d ' ' <"$dir/tshark.out")" "$sniff_wall")
  fi
fi
time_cmd ingest bin/redsweep --db "$dir/ingest.db" ingest "$dir/access.log"
ingest_found=$(grep -o 'worm lines from [0-9]* sources' "$dir/ingest.out" | grep -o '[0-9]* sources' | grep -o '[0-9]*' || echo "?")
ingest_wall=$(cut -d' ' -f1 "$dir/ingest.time")
time_cmd grep grep -c default.ida "$dir/access.log"

sect=$(mktemp)
{
  echo "<!-- bench:passive:begin -->"
  echo "## Passive evidence: sniff and ingest ($(date -u +%Y-%m-%d))"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r). Rerun: \`bash bench/passive.sh\` (also run by \`make bench\`)."
  echo "Inputs from \`cmd/benchgen\`: $packets packets in $flows TCP flows ($pcap_mb MiB pcap) and a $lines-line combined access log ($log_mb MiB); 5% Code Red II from 250 sources."
  echo "\"found\" is infected sources (redsweep: evidence sources; tshark: distinct ip.src of matching requests; grep: matching lines). Ratio = wall time over redsweep's."
  echo
  echo "| tool | wall s | CPU s | peak MiB | found | rate | throughput | wall ÷ redsweep |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  row sniff "redsweep sniff" "$packets" packets "$pcap_mb" "$sniff_found" 0
  if [ -n "$tshark_row" ]; then echo "$tshark_row"; else echo "| tshark | skipped (not installed) | | | | | | |"; fi
  row ingest "redsweep ingest" "$lines" lines "$log_mb" "$ingest_found" 0
  row grep "grep -c default.ida" "$lines" lines "$log_mb" "$(cat "$dir/grep.out")" "$ingest_wall"
  echo "<!-- bench:passive:end -->"
} >"$sect"
cat "$sect"
if [ -f BENCHMARKS.md ] && grep -q "<!-- bench:passive:begin -->" BENCHMARKS.md; then
  awk -v f="$sect" '
    $0 == "<!-- bench:passive:begin -->" { while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == "<!-- bench:passive:end -->"   { skip = 0; next }
    !skip { print }' BENCHMARKS.md >BENCHMARKS.md.tmp && mv BENCHMARKS.md.tmp BENCHMARKS.md
else
  { echo; cat "$sect"; } >>BENCHMARKS.md
fi
rm -f "$sect"
