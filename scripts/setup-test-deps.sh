#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine, and nothing when it is already there.
# Tests that need a tool still skip with a clear message when it could not be installed.
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdfinfo  >/dev/null 2>&1 || need+=(poppler-utils)
command -v gcc      >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
      || echo "setup: could not install ${need[*]}; the tests that need them will skip"
  else
    echo "setup: missing ${need[*]} and not root; the tests that need them will skip"
  fi
fi
