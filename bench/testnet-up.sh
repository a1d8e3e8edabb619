#!/usr/bin/env bash
# Builds the benchmark network (root):
#   [tn-scan]  lo + tn-s 198.19.255.1/24, route 198.18.0.0/16 via .254, NO default route
#      | veth (TN_DELAY_MS=0) or TAP <-> benchnet wire <-> TAP (TN_DELAY_MS one way, queue TN_QLEN)
#   [tn-hosts] lo with AnyIP 198.18.0.0/16, tn-h 198.19.255.254/24, benchnet serve on 0.0.0.0:80,
#              nft: filtered -> drop, unreach -> icmp host-unreachable, closed -> tcp reset,
#              loss -> numgen (TN_LOSS_PCT each way), nothing leaves except to 198.19.255.0/24
#   [root ns]  guard only: nft output + netdev egress on every interface: ip daddr 198.18.0.0/15 counter drop
#              (egress also counts 127.0.0.0/8, which bench/mem8.sh sweeps inside tn-scan)
# Not root or no namespaces: loopback fallback (127.77.0.0/x, one listener per open host; no
# filtered/unreachable state on loopback). Everything created is recorded in $TN_STATE/created
# so bench/testnet-down.sh removes exactly that; on any error up calls down.
# Knobs: TN_PREFIX TN_OPEN TN_IIS TN_FILTERED TN_UNREACH TN_DELAY_MS TN_LOSS_PCT TN_QLEN TN_SEED
#        TN_XADDR (1) TN_MODE (auto | netns | loopback)
set -euo pipefail
. "$(dirname "$0")/common.sh"
take_lock
log() { echo "testnet-up: $*"; }

TN_MODE="${TN_MODE:-auto}"
TN_PREFIX="${TN_PREFIX:-198.18.0.0/16}"
TN_OPEN="${TN_OPEN:-2000}"
TN_IIS="${TN_IIS:-$((TN_OPEN / 4))}"
TN_FILTERED="${TN_FILTERED:-16384}"
TN_UNREACH="${TN_UNREACH:-1000}"
TN_DELAY_MS="${TN_DELAY_MS:-0}"
TN_LOSS_PCT="${TN_LOSS_PCT:-0}"
TN_QLEN="${TN_QLEN:-10000}"
TN_SEED="${TN_SEED:-1}"
TN_XADDR="${TN_XADDR:-1}"          # 1: responses carry X-Testnet-Addr (the address hit)
PORT=80

[[ "$TN_DELAY_MS" =~ ^[0-9]+$ ]] && [ "$TN_DELAY_MS" -le 1000 ] || die "TN_DELAY_MS must be an integer 0..1000"
[[ "$TN_LOSS_PCT" =~ ^[0-9]+(\.[0-9]{1,2})?$ ]] || die "TN_LOSS_PCT must look like 0.5 (0..100, 2 decimals)"
LOSS_PER_10K=$(awk -v p="$TN_LOSS_PCT" 'BEGIN{printf "%d", p*100 + 0.5}')
[ "$LOSS_PER_10K" -le 10000 ] || die "TN_LOSS_PCT above 100"
[[ "$TN_QLEN" =~ ^[0-9]+$ ]] && [ "$TN_QLEN" -ge 100 ] && [ "$TN_QLEN" -le 100000 ] || die "TN_QLEN must be 100..100000"

if [ -s "$TN_STATE/created" ]; then
  log "a previous testnet is still recorded in $TN_STATE; tearing it down first"
  bash "$ROOT/bench/testnet-down.sh"
fi
mkdir -p "$TN_STATE/truth" "$TN_STATE/log"
: >"$TN_STATE/created"
ok=0
trap 'if [ $ok -eq 0 ]; then echo "testnet-up: failed; tearing down what was created" >&2; bash "$ROOT/bench/testnet-down.sh" >&2 || true; fi' EXIT

(cd "$ROOT" && go build -o "$BENCHNET" ./cmd/benchnet) || die "cannot build cmd/benchnet"

# ---- mode ------------------------------------------------------------------------------------
if [ "$TN_MODE" = auto ]; then
  TN_MODE=loopback
  if [ "$(id -u)" -eq 0 ] && command -v nft >/dev/null 2>&1; then
    probe="tn-probe-$$"
    if ip netns add "$probe" 2>/dev/null; then ip netns del "$probe"; TN_MODE=netns; fi
  fi
  if [ "$TN_MODE" = loopback ]; then
    echo "testnet-up: *** no root, no nft or no network namespaces: the benchmark FALLS BACK TO LOOPBACK ***"
    echo "testnet-up: *** (127.77.x.y, listeners for open hosts only; loopback has no filtered, unreachable, delay or loss) ***"
  fi
fi

write_env() { # everything peers.sh needs
  cat >"$TN_STATE/env" <<EOV
MODE=$TN_MODE
PREFIX=$TN_PREFIX
PORT=$PORT
TRUTH=$TN_STATE/truth
NSEXEC="$1"
SCAN_IF=$SCAN_IF
SCAN_IP=$SCAN_IP
ADAPTER_IP=$ADAPTER_IP
GW_IP=$HOSTS_IP
GW_MAC=${2:-}
DELAY_MS=$TN_DELAY_MS
LOSS_PCT=$TN_LOSS_PCT
OPEN=$TN_OPEN
IIS=$TN_IIS
FILTERED=$TN_FILTERED
UNREACH=$TN_UNREACH
SEED=$TN_SEED
EOV
}

start_bg() { # name cmd... : start a benchnet helper, record its PID
  local name="$1"; shift
  nohup "$@" >"$TN_STATE/log/$name.log" 2>&1 </dev/null 9>&- &
  record "pid $! $name"
}

wait_ready() { # file pid name
  for _ in $(seq 1 100); do
    [ -e "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited: $(tail -n 3 "$TN_STATE/log/$3.log")"
    sleep 0.1
  done
  die "$3 not ready after 10 s"
}

# ---- loopback fallback -----------------------------------------------------------------------
if [ "$TN_MODE" = loopback ]; then
  bits="${TN_PREFIX#*/}"
  TN_PREFIX="127.77.0.0/$bits"
  [ "$(id -u)" -eq 0 ] || PORT=18080
  [ "$TN_OPEN" -le 15000 ] || die "loopback fallback: at most 15000 open hosts (fd limit)"
  TN_FILTERED=0; TN_UNREACH=0; TN_DELAY_MS=0; TN_LOSS_PCT=0
  "$BENCHNET" roles -prefix "$TN_PREFIX" -open "$TN_OPEN" -iis "$TN_IIS" -filtered 0 -unreach 0 -seed "$TN_SEED" -out "$TN_STATE/truth"
  rm -f "$TN_STATE/serve.ready"
  start_bg serve "$BENCHNET" serve -truth "$TN_STATE/truth" -per-addr -port "$PORT" -ready "$TN_STATE/serve.ready"
  wait_ready "$TN_STATE/serve.ready" "$(awk '/ serve$/{p=$2} END{print p}' "$TN_STATE/created")" serve
  write_env ""
  ok=1
  log "loopback testnet up: $TN_PREFIX port $PORT, $TN_OPEN open ($TN_IIS IIS), all others closed"
  exit 0
fi

# ---- namespaces ------------------------------------------------------------------------------
[[ "$TN_PREFIX" =~ ^198\.18\.[0-9]{1,3}\.[0-9]{1,3}/(1[6-9]|2[0-9]|3[0-2])$ ]] \
  || die "TN_PREFIX $TN_PREFIX: must lie inside 198.18.0.0/16 (/16../32)"
"$BENCHNET" roles -prefix "$TN_PREFIX" -open "$TN_OPEN" -iis "$TN_IIS" -filtered "$TN_FILTERED" \
  -unreach "$TN_UNREACH" -seed "$TN_SEED" -out "$TN_STATE/truth"

for ns in "$SCAN_NS" "$HOSTS_NS"; do
  if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    die "namespace $ns exists but was not created by this testnet run; remove it yourself (ip netns del $ns)"
  fi
done

# Root-namespace guard first, so it is removed last. Counted drops must stay 0.
record "guard"
{
  echo "table inet $GUARD {"
  echo "  chain out { type filter hook output priority -300; policy accept; ip daddr 198.18.0.0/15 counter drop; }"
  echo "}"
  echo "table netdev $GUARD {"
  for dev in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//'); do
    [ "$dev" = lo ] && continue
    # 127.0.0.0/8 too: bench/mem8.sh sweeps it inside tn-scan (never counted here; see there).
    echo "  chain eg_$(echo "$dev" | tr -c 'a-zA-Z0-9_\n' _) { type filter hook egress device \"$dev\" priority -300; policy accept; ip daddr 198.18.0.0/15 counter drop; ip daddr 127.0.0.0/8 counter drop; }"
  done
  echo "}"
} >"$TN_STATE/guard.nft"
nft -f "$TN_STATE/guard.nft" || die "cannot install the root-namespace guard"

record "netns $SCAN_NS"; ip netns add "$SCAN_NS"
record "netns $HOSTS_NS"; ip netns add "$HOSTS_NS"
ip -n "$SCAN_NS" link set lo up
ip -n "$HOSTS_NS" link set lo up

if [ "$TN_DELAY_MS" -gt 0 ]; then
  ip -n "$SCAN_NS" tuntap add dev "$SCAN_IF" mode tap
  ip -n "$HOSTS_NS" tuntap add dev "$HOSTS_IF" mode tap
  start_bg wire ip netns exec "$HOSTS_NS" "$BENCHNET" wire -ns-a "/run/netns/$SCAN_NS" -tap-a "$SCAN_IF" \
    -ns-b "/run/netns/$HOSTS_NS" -tap-b "$HOSTS_IF" -delay "${TN_DELAY_MS}ms" -queue "$TN_QLEN"
  LINK="TAP + benchnet wire, ${TN_DELAY_MS} ms one way, queue $TN_QLEN"
else
  ip -n "$SCAN_NS" link add "$SCAN_IF" type veth peer name "$HOSTS_IF" netns "$HOSTS_NS"
  LINK="veth, no delay"
fi
ip -n "$SCAN_NS" link set "$SCAN_IF" txqueuelen "$TN_QLEN" up
ip -n "$HOSTS_NS" link set "$HOSTS_IF" txqueuelen "$TN_QLEN" up
ip -n "$SCAN_NS" addr add "$SCAN_IP/24" dev "$SCAN_IF"
ip -n "$SCAN_NS" route add 198.18.0.0/16 via "$HOSTS_IP" dev "$SCAN_IF"
ip -n "$HOSTS_NS" addr add "$HOSTS_IP/24" dev "$HOSTS_IF"
ip -n "$HOSTS_NS" route add local 198.18.0.0/16 dev lo
for kv in net.ipv4.ip_forward=0 net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=1000000 \
          net.ipv4.icmp_msgs_burst=1000000 net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535; do
  ip netns exec "$HOSTS_NS" sysctl -qw "$kv" 2>/dev/null || log "note: sysctl $kv not settable in $HOSTS_NS"
done
# The scan namespace keeps the default ephemeral range (32768-60999): redsweep's SYN discovery
# uses a fixed source port outside it (61234) and refuses to run if the range covers it.

# Roles and loss in the hosts namespace.
set_elems() { # file -> "elements = { ... }" or nothing
  [ -s "$1" ] && { printf '    elements = { '; paste -sd, "$1"; printf '    }\n'; } || true
}
loss_in="" ; loss_out=""
if [ "$LOSS_PER_10K" -gt 0 ]; then
  loss_in="iifname \"$HOSTS_IF\" numgen random mod 10000 < $LOSS_PER_10K counter drop"
  loss_out="oifname \"$HOSTS_IF\" numgen random mod 10000 < $LOSS_PER_10K counter drop"
fi
{
  echo "table inet tn {"
  for s in open filtered unreach; do
    f="$TN_STATE/truth/$s.txt"; [ "$s" = unreach ] && f="$TN_STATE/truth/unreach.txt"
    echo "  set $s { type ipv4_addr;"; set_elems "$f"; echo "  }"
  done
  cat <<EON
  chain in {
    type filter hook input priority 0; policy accept;
    iif "lo" accept
    $loss_in
    ip daddr @filtered drop
    ip daddr @unreach reject with icmp type host-unreachable
    ip daddr @open tcp dport $PORT accept
    ip daddr 198.18.0.0/16 meta l4proto tcp reject with tcp reset
  }
  chain out {
    type filter hook output priority 0; policy accept;
    oif "lo" accept
    oifname != "$HOSTS_IF" drop
    ip daddr != $LINK_NET drop
    $loss_out
  }
  chain forward_drop { type filter hook forward priority 0; policy drop; }
}
EON
} >"$TN_STATE/hosts.nft"
ip netns exec "$HOSTS_NS" nft -f "$TN_STATE/hosts.nft" || die "nft rules in $HOSTS_NS failed"

rm -f "$TN_STATE/serve.ready"
start_bg serve ip netns exec "$HOSTS_NS" "$BENCHNET" serve -truth "$TN_STATE/truth" -listen "0.0.0.0:$PORT" \
  -xaddr="$([ "$TN_XADDR" = 1 ] && echo true || echo false)" -ready "$TN_STATE/serve.ready"
wait_ready "$TN_STATE/serve.ready" "$(awk '/ serve$/{p=$2} END{print p}' "$TN_STATE/created")" serve

# ---- safety checks (route lookups only; nothing is sent) -------------------------------------
for dst in 1.1.1.1 8.8.8.8 192.0.2.1 10.0.0.1 172.16.0.1 192.168.0.1; do
  if ip -n "$SCAN_NS" route get "$dst" >/dev/null 2>&1; then die "SAFETY: $SCAN_NS can route to $dst"; fi
done
[ -z "$(ip -n "$SCAN_NS" route show default)" ] || die "SAFETY: $SCAN_NS has a default route"
for ns in "$SCAN_NS" "$HOSTS_NS"; do
  n=$(ip -n "$ns" -o link show | wc -l)
  [ "$n" -eq 2 ] || die "SAFETY: $ns has $n links, expected 2 (lo + link)"
done
log "safety: $SCAN_NS has no default route; 1.1.1.1 8.8.8.8 192.0.2.1 10.0.0.1 172.16.0.1 192.168.0.1 unroutable; 2 links per namespace"

# ---- smoke: one open, one closed host ---------------------------------------------------------
first_open=$(head -n 1 "$TN_STATE/truth/open.txt")
ans=$(ip netns exec "$SCAN_NS" timeout -k 2 5 bash -c "exec 3<>/dev/tcp/$first_open/$PORT; printf 'GET / HTTP/1.0\r\n\r\n' >&3; head -n 1 <&3" 2>&1 | tr -d '\r' || true)
[[ "$ans" == HTTP/1.0\ 200* ]] || die "smoke test: $first_open:$PORT answered '$ans'"
t0=$(date +%s%N)
ip netns exec "$SCAN_NS" timeout -k 2 5 bash -c "exec 3<>/dev/tcp/$first_open/$PORT" 2>/dev/null
t1=$(date +%s%N)
GW_MAC=$(ip -n "$HOSTS_NS" -br link show "$HOSTS_IF" | awk '{print $3}')
write_env "ip netns exec $SCAN_NS" "$GW_MAC"
ok=1
log "up: $TN_PREFIX, $LINK, loss ${TN_LOSS_PCT}% each way; $TN_OPEN open ($TN_IIS IIS), $TN_FILTERED filtered, $TN_UNREACH unreachable, seed $TN_SEED"
log "smoke: $first_open:$PORT answers '$ans'; one TCP connect took $(( (t1 - t0) / 1000000 )) ms (incl. bash start-up)"
