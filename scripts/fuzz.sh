#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 5s) and prints one line per
# target with its time and result. `make test` runs it briefly; `make fuzz FUZZTIME=10m` runs it
# long. A finding fails the run and leaves the reproducer under the package's testdata/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
status=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    start=$(date +%s)
    if out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg" 2>&1); then
      execs=$(printf '%s\n' "$out" | grep -o 'execs: [0-9]*' | tail -1 | cut -d' ' -f2)
      printf 'fuzz ok    %-28s %-40s %s, %s execs\n' "$target" "${pkg#github.com/eidsp/eidsp}" "$fuzztime" "${execs:-?}"
    else
      printf 'fuzz FAIL  %-28s %s\n%s\n' "$target" "$pkg" "$out"
      status=1
    fi
    : "$start"
  done
done
exit $status
