#!/usr/bin/env bash
# Installs the benchmark peers when absent: nmap masscan zmap nftables time libpcap-dev from apt,
# naabu v2.4.0 and httpx v1.7.2 built from the Go module proxy into .bench/bin (gitignored).
# Each failure prints one "skip:" line; the script itself only fails on programming errors.
# Idempotent: a second run installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN_DIR="${BENCH_BIN:-$ROOT/.bench/bin}"
NAABU_VERSION="${NAABU_VERSION:-v2.4.0}"
HTTPX_VERSION="${HTTPX_VERSION:-v1.7.2}"
export PATH="/usr/local/go/bin:$PATH"
mkdir -p "$BIN_DIR"

log() { echo "install-peers: $*"; }

# ---- apt packages ---------------------------------------------------------------------------
need=()
command -v nmap >/dev/null 2>&1        || need+=(nmap)
command -v masscan >/dev/null 2>&1     || need+=(masscan)
command -v zmap >/dev/null 2>&1        || need+=(zmap)
command -v nft >/dev/null 2>&1         || need+=(nftables)
[ -x /usr/bin/time ]                   || need+=(time)
[ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ] || need+=(libpcap-dev)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "skip: cannot apt-get install ${need[*]} (not root or no apt-get)"
  else
    log "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout -k 10 300 apt-get update -qq >/dev/null 2>&1; then
      log "warning: apt-get update failed; trying the install anyway"
    fi
    if ! timeout -k 10 600 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
      # One by one, so one missing package does not block the others.
      for p in "${need[@]}"; do
        timeout -k 10 300 apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 \
          || log "skip: apt-get install $p failed; tools needing it will be skipped"
      done
    fi
  fi
fi
for t in nmap masscan zmap nft; do
  if command -v "$t" >/dev/null 2>&1; then log "ok: $t ($(command -v "$t"))"; else log "skip: $t not available"; fi
done

# ---- naabu / httpx (Go, pinned) -------------------------------------------------------------
# `go install pkg@version` fails on this machine kind (the proxy answers 403 for the version list
# and the deprecation lookup), so: throwaway module, `go get pkg@version`, then `go install pkg`.
build_go_tool() { # name pkg version
  local name="$1" pkg="$2" ver="$3" stamp="$BIN_DIR/.$1.version"
  if [ -x "$BIN_DIR/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ver" ]; then
    log "ok: $name $ver (cached in $BIN_DIR)"; return 0
  fi
  if ! command -v go >/dev/null 2>&1; then log "skip: $name (no go toolchain)"; return 0; fi
  local tmp; tmp="$(mktemp -d)"
  log "building $name $ver (first build takes about a minute)"
  if ( cd "$tmp" && go mod init "benchpeer-$name" >/dev/null 2>&1 \
        && timeout -k 10 600 go get "$pkg@$ver" >"$tmp/log" 2>&1 \
        && GOFLAGS=-buildvcs=false GOBIN="$BIN_DIR" timeout -k 10 900 go install "$pkg" >>"$tmp/log" 2>&1 ); then
    echo "$ver" >"$stamp"; log "ok: $name $ver built into $BIN_DIR"
  else
    log "skip: $name $ver could not be built ($(tail -n 1 "$tmp/log" 2>/dev/null))"
  fi
  rm -rf "$tmp"
}
build_go_tool naabu github.com/projectdiscovery/naabu/v2/cmd/naabu "$NAABU_VERSION"
build_go_tool httpx github.com/projectdiscovery/httpx/cmd/httpx "$HTTPX_VERSION"
