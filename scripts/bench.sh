#!/usr/bin/env bash
# `make bench`: install the peers when absent, build the simulated network (bench/testnet-up.sh),
# run redsweep and the peers one after another (bench/peers.sh), tear the network down
# (bench/testnet-down.sh, always, via trap) and write the table into BENCHMARKS.md.
#   make bench                      full: 198.18.0.0/16, 2,000 open, 16,384 filtered, 1,000 unreachable,
#                                   10 ms one-way delay, 0.5 % loss each way (issue 6's network)
#   BENCH_QUICK=1 make bench        smoke: a /20 with 300 open, fewer peers (about 1-2 min)
#   full runs end with bench/mem8.sh: peak RSS of a discovery-only /8 sweep (BENCH_MEM8=0 skips it)
#   TN_DELAY_MS=0 TN_LOSS_PCT=0 make bench   LAN-like (veth, no delay)
# Not root / no namespaces: falls back to loopback and says so. See bench/peers.sh for BENCH_* knobs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
QUICK="${BENCH_QUICK:-0}"
export BENCH_QUICK="$QUICK"
if [ "$QUICK" = 1 ]; then
  export TN_PREFIX="${TN_PREFIX:-198.18.0.0/20}" TN_OPEN="${TN_OPEN:-300}" TN_FILTERED="${TN_FILTERED:-1024}" TN_UNREACH="${TN_UNREACH:-100}"
  KEY=quick; TITLE="Quick smoke run (BENCH_QUICK=1)"
else
  export TN_PREFIX="${TN_PREFIX:-198.18.0.0/16}" TN_OPEN="${TN_OPEN:-2000}" TN_FILTERED="${TN_FILTERED:-16384}" TN_UNREACH="${TN_UNREACH:-1000}"
  KEY=full; TITLE="Full run (make bench)"
fi
export TN_DELAY_MS="${TN_DELAY_MS:-10}" TN_LOSS_PCT="${TN_LOSS_PCT:-0.5}" TN_SEED="${TN_SEED:-1}"
start=$SECONDS
. bench/common.sh
take_lock
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then bash bench/install-peers.sh; fi
[ -x bin/redsweep ] || echo "bench: bin/redsweep is missing (make build failed?); peers still run, ratios will be n/a"

trap 'bash bench/testnet-down.sh || echo "bench: teardown reported a problem (see above)" >&2' EXIT
bash bench/testnet-up.sh
bash bench/peers.sh
# Issue 6: peak RSS of a /8 discovery-only sweep (full runs; BENCH_MEM8=0 skips it, 1 forces it).
if [ "${BENCH_MEM8:-$([ "$QUICK" = 1 ] && echo 0 || echo 1)}" = 1 ]; then
  OUT="$(cat .bench/results/latest)" bash bench/mem8.sh || echo "bench: the /8 memory run failed (see above)" >&2
fi
trap - EXIT
guard_rc=0
bash bench/testnet-down.sh || guard_rc=$?
guard=$(cat .bench/last-guard.txt 2>/dev/null || echo "?")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- BENCHMARKS.md: replace this run kind's section, keep the rest ---------------------------
out="$(cat .bench/results/latest)"
mode=$(awk '{print $1}' "$out/scenario.txt")
ver() { "$@" 2>&1 | grep -Eo '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n 1 || true; }
peers_v="nmap $(ver nmap --version), masscan $(ver masscan --version), zmap $(ver zmap --version), naabu $(cat .bench/bin/.naabu.version 2>/dev/null || echo -), httpx $(cat .bench/bin/.httpx.version 2>/dev/null || echo -)"
sect="$(mktemp)"
{
  echo "<!-- bench:$KEY:begin -->"
  echo "### $TITLE"
  echo
  echo "- Run: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $((SECONDS - start)) s in total."
  echo "- Machine: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r), $(go version | awk '{print $3}'); $peers_v."
  echo "- Load average (1/5/15 min) before: $load_before, after: $load_after. Other work on the machine skews wall times; compare tools within one run only."
  echo "- Network: $(cat "$out/scenario.txt")."
  [ "$mode" = loopback ] && echo "- **Loopback fallback** (no root or no namespaces): no filtered/unreachable hosts, no delay, no loss; raw-socket peers skipped."
  [ "$mode" = netns ] && echo "- Root-namespace guard (nft output + netdev egress, ip daddr 198.18.0.0/15; egress also 127.0.0.0/8, for the /8 memory run): **$guard** packets dropped."
  echo "- redsweep: \`--rate ${BENCH_RATE:-10000} --concurrency ${BENCH_CONCURRENCY:-1000} --timeout ${BENCH_TIMEOUT:-1.5s}\`; one run per tool, no medians (the delay line and responder share the CPUs with the tool under test)."
  echo
  cat "$out/table.md"
  if [ -s "$out/mem8.md" ]; then echo; cat "$out/mem8.md"; fi
  echo "<!-- bench:$KEY:end -->"
} >"$sect"
if [ ! -f BENCHMARKS.md ]; then
  cat >BENCHMARKS.md <<'EOM'
# Benchmarks

redsweep against nmap, masscan, zmap, naabu and httpx on a simulated customer network (issue 6).
The tables below are written by `make bench`; each run replaces its own section.

## How to rerun

```
make bench                    # as root: builds bin/redsweep, installs peers when absent, full /16 run and the /8 memory run (about 15-20 min)
BENCH_QUICK=1 make bench      # smoke: a /20 with 300 open hosts, fewer peers (about 1-2 min)
TN_DELAY_MS=0 TN_LOSS_PCT=0 make bench     # LAN-like: veth, no delay, no loss
```

Knobs: `TN_PREFIX TN_OPEN TN_IIS TN_FILTERED TN_UNREACH TN_DELAY_MS TN_LOSS_PCT TN_QLEN TN_SEED`
(network, bench/testnet-up.sh), `BENCH_RATE BENCH_CONCURRENCY BENCH_TIMEOUT BENCH_PEERS
BENCH_TOOL_TIMEOUT BENCH_BUDGET_S` (tools, bench/peers.sh) and `BENCH_MEM8 BENCH_MEM8_RATE
BENCH_MEM8_SECS` (the /8 memory run, bench/mem8.sh). Raw outputs of every run are kept in
`.bench/results/<stamp>/`.

The network: namespaces `tn-scan` and `tn-hosts` joined by a veth pair, or by two TAP devices and
a user-space delay line (`benchnet wire`) when `TN_DELAY_MS>0` (the kernel has no netem). Every
address of 198.18.0.0/16 is local in `tn-hosts` (AnyIP); nftables makes each one open (a Go server
answering as IIS 5.0 or Apache), closed (TCP RST), filtered (drop) or unreachable (ICMP
host-unreachable), and drops `TN_LOSS_PCT` of packets each way. The scan namespace has no
default route, and a guard in the root namespace counts and drops anything addressed to
198.18.0.0/15. Without root, the benchmark falls back to loopback (127.77.x.y) and says so.

Columns: wall/CPU/peak RSS from `/usr/bin/time -v` (for a pipeline, peak MiB is the largest
process, not the sum); "open found" = distinct true open addresses in the tool's output;
"IIS found" only for tools that fetch HTTP; "false pos." = reported open but not open (plus
unparseable lines); "wall ÷ redsweep" = the tool's wall time over redsweep's.

## Results
EOM
fi
if grep -q "<!-- bench:$KEY:begin -->" BENCHMARKS.md; then
  awk -v k="$KEY" -v f="$sect" '
    $0 == "<!-- bench:" k ":begin -->" { while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == "<!-- bench:" k ":end -->"   { skip = 0; next }
    !skip { print }' BENCHMARKS.md >BENCHMARKS.md.tmp && mv BENCHMARKS.md.tmp BENCHMARKS.md
else
  { echo; cat "$sect"; } >>BENCHMARKS.md
fi
rm -f "$sect"
echo "bench: table written to BENCHMARKS.md ($KEY section); raw outputs in $out; $((SECONDS - start)) s in total"
# Passive evidence (issue 4): sniff vs tshark, ingest vs grep, on generated files; no network.
if [ "$QUICK" != 1 ]; then
  bash bench/passive.sh || echo "bench: the passive-evidence benchmark failed (see above)"
fi
exit "$guard_rc"
