#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 5s) and prints one line per
# target with its time and result. `make test` runs it briefly; `make fuzz FUZZTIME=10m` runs it
# long. A finding fails the run and leaves the reproducer under the package's testdata/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
mintime=${FUZZMINIMIZETIME:-5s}
status=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$mintime" "$pkg" 2>&1) && ok=1 || ok=0
    execs=$(printf '%s\n' "$out" | grep -o 'execs: [0-9]*' | tail -1 | cut -d' ' -f2)
    # Go's fuzzing coordinator sometimes reports "context deadline exceeded" when -fuzztime ends
    # while a worker is busy; a real finding always writes its input to testdata/fuzz.
    if [ $ok -eq 0 ] && ! printf '%s' "$out" | grep -q 'Failing input written to' &&
       printf '%s' "$out" | grep -q 'context deadline exceeded' && ! printf '%s' "$out" | grep -q 'panic:'; then
      ok=1
    fi
    if [ $ok -eq 1 ]; then
      printf 'fuzz ok    %-28s %-40s %s, %s execs\n' "$target" "${pkg#github.com/eidsp/eidsp}" "$fuzztime" "${execs:-?}"
    else
      printf 'fuzz FAIL  %-28s %s\n%s\n' "$target" "$pkg" "$out"
      status=1
    fi
  done
done
exit $status
