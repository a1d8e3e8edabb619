#!/usr/bin/env bash
# make demo: the main job end to end on the simulated customer network.
# simnet serves customer hosts on loopback; redsweep imports the roster, sweeps
# and prints the call list. Nothing is left running (the trap stops simnet).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=demo
rm -rf "$dir"; mkdir -p "$dir"
db="$dir/redsweep.db"
port=${DEMO_PORT:-8080}

bin/simnet -out "$dir" -port "$port" -ready-file "$dir/ready" >"$dir/simnet.out" 2>&1 &
simnet_pid=$!
cleanup() { kill "$simnet_pid" 2>/dev/null || true; wait "$simnet_pid" 2>/dev/null || true; }
trap cleanup EXIT

for _ in $(seq 1 100); do [ -e "$dir/ready" ] && break; kill -0 "$simnet_pid" 2>/dev/null || break; sleep 0.1; done
if [ ! -e "$dir/ready" ]; then echo "demo: simnet did not start:"; cat "$dir/simnet.out"; exit 1; fi
cat "$dir/simnet.out"

run() { echo; echo "\$ redsweep $*"; bin/redsweep --db "$db" "$@"; }
run customers import "$dir/roster.csv"
# Exit code 3 means "new infections found": expected on a first sweep.
run sweep --ports "$port" --timeout 2s || [ $? -eq 3 ]
run calls
echo
echo "demo: database $db; try: bin/redsweep --db $db calls --format html > $dir/sheet.html"
