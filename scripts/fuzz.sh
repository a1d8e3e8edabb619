#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each.
# go test accepts one -fuzz target per run, so this finds them and loops.
set -euo pipefail
cd "$(dirname "$0")/.."
time_per_target=${1:-20s}
status=0
while IFS= read -r line; do
  file=${line%%:*}
  fn=$(sed -E 's/.*func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")
  pkg=./$(dirname "$file")
  echo "== $pkg $fn ($time_per_target)"
  if ! go test "$pkg" -run '^$' -fuzz "^${fn}\$" -fuzztime "$time_per_target"; then
    echo "FAIL: $pkg $fn (a crasher is saved under $pkg/testdata/fuzz/$fn; commit it as a regression test)"
    status=1
  fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | sort)
exit $status
