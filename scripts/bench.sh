#!/usr/bin/env bash
# make bench: runs eidsp's four benchmarks (docs/BENCHMARKS.md) over loopback and prints their
# figures. Every figure is a ratio to a reference measured in the same run, because the machine
# may be shared; each is repeated (REPS, default 3) and reported with its spread. Profiles and the
# raw output go to BENCH_OUT (default bench-results/, not committed).
#
#   1. complete artifact logins/s vs the RSA-2048 private-key floor (SQLite on disk with
#      synchronous FULL and NORMAL, SQLite on tmpfs, Redis), with a CPU profile split by party
#      (pprof label role=sp|idp|client)
#   2. ACS verification of a ~10 KB signed + encrypted Response: ours vs crewjam vs one RSA op
#   3. GET /auth with a valid session (SQLite, Redis) vs a bare Echo handler, p50/p99
#   4. bytes per session (SQLite, Redis) and the SP's RSS at 100,000 sessions
#
# Needs redis-server (make deps installs it). Takes about 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-bench-results}
reps=${REPS:-3}
login_reps=$((3 * reps)) # benchmark 1: short runs (3 s), each between two floor measurements
mkdir -p "$out"
out=$(cd "$out" && pwd)

go build -o "$out/eidspbench" ./bench/cmd/eidspbench
go test -c -o "$out/bench.test" ./bench

echo "== Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), $(go version | cut -d' ' -f3-), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
echo

# profile_summary BINARY PROFILE: CPU share per party, then where each party's time goes.
profile_summary() {
  local bin=$1 prof=$2
  go tool pprof -tags "$bin" "$prof" 2>/dev/null | sed -n '/role:/,/^ *$/p'
  local pat='fips140/rsa\.decrypt$|fips140/rsa\.encrypt$|saml\.ParseUntrusted$|roundtrip-validator\.Validate$|saml\.scanTokens$|etree\.\(\*Document\)\.ReadFrom|saml\.verifyEnveloped$|saml\.Signer\.SignEnveloped$|saml\.excC14N$|saml/xenc\.Decrypt$|saml/xenc\.Encrypt$|compress/flate\.NewWriter$|compress/flate\.\(\*Writer\)\.Close$|html/template\.\(\*Template\)\.Execute|session/sqlite\.\(\*Store\)\.runCommitter$|session/sqlite\.\(\*walSync\)\.run$|session/sqlite\.\(\*Store\)\.GetSession$|go-redis.*\(\*baseClient\)\._process$|runtime\.mallocgc$|runtime\.gcBgMarkWorker$|net/http\.\(\*conn\)\.serve$|net/http\.\(\*persistConn\)\.(readLoop|writeLoop)$|log/slog\.\(\*Logger\)\.log$'
  for role in sp idp client; do
    echo "-- role=$role (cumulative seconds, % of all samples)"
    go tool pprof -top -cum -nodecount 5000 -tagfocus "role=$role" "$bin" "$prof" 2>/dev/null |
      { grep -E "$pat" || true; } | awk '{printf "   %8s %7s  %s\n", $4, $5, $6}'
  done
  echo "-- unlabelled runtime (GC workers)"
  go tool pprof -top -cum -nodecount 5000 "$bin" "$prof" 2>/dev/null |
    { grep -E 'runtime\.gcBgMarkWorker$' || true; } | awk '{printf "   %8s %7s  %s\n", $4, $5, $6}'
}

echo "######## Benchmark 1: complete artifact logins"
"$out/eidspbench" login -reps "$login_reps" -store sqlite -cpuprofile "$out/login-disk.pprof" | tee "$out/login-sqlite-disk.txt"
echo "(SQLite in \$TMPDIR=${TMPDIR:-/tmp}: the production default, synchronous=FULL: an fsync per durable write, shared by the writes committed meanwhile, made outside the write lock; pending logins, artifact claims and touches wait for none)"
echo
"$out/eidspbench" login -reps "$login_reps" -store sqlite -sync normal | tee "$out/login-sqlite-disk-normal.txt"
echo "(SQLite in \$TMPDIR with synchronous=NORMAL (sqlite.SyncNormal): no fsync per commit; survives a crash of the process, not of the OS)"
echo
"$out/eidspbench" login -reps "$login_reps" -store sqlite -dir /dev/shm -cpuprofile "$out/login.pprof" | tee "$out/login-sqlite-tmpfs.txt"
echo "(SQLite on tmpfs: the same code without the disk's fsync latency)"
echo
"$out/eidspbench" login -reps "$login_reps" -store redis | tee "$out/login-redis.txt"
echo
echo "-- CPU profile of the tmpfs run ($out/login.pprof):"
profile_summary "$out/eidspbench" "$out/login.pprof"
echo "-- CPU profile of the run on disk at FULL ($out/login-disk.pprof):"
profile_summary "$out/eidspbench" "$out/login-disk.pprof"
echo

echo "######## Benchmark 2: ACS verification of one ~10 KB signed + encrypted POST Response"
for i in $(seq 1 "$reps"); do
  prof=()
  [ "$i" = "$reps" ] && prof=(-test.cpuprofile "$out/acs.pprof")
  (cd "$out" && ./bench.test -test.run '^$' -test.bench . -test.benchmem -test.benchtime 2s -test.count 1 "${prof[@]}") |
    tee "$out/acs-$i.txt" | grep '^Benchmark'
done
echo
echo "-- Interleaved medians per run (RSA op, ours, crewjam back to back in each iteration):"
for i in $(seq 1 "$reps"); do
  awk -v run="$i" '/^BenchmarkACSInterleaved/ {
      for (k = 1; k <= NF; k++) v[$k] = $(k-1)
      printf "run %d: RSA-2048 private-key op %.0f µs; ours %.0f µs = %.2f private-key ops; crewjam %.0f µs = %.2f private-key ops; crewjam/ours %.2f×; by thread CPU time: ours %.2f ops, crewjam %.2f ops, crewjam/ours %.2f×\n",
        run, v["rsa-ns"]/1000, v["ours-ns"]/1000, v["ours-privkeyops"], v["crewjam-ns"]/1000, v["crewjam-privkeyops"], v["crewjam/ours"],
        v["ours-privkeyops-cpu"], v["crewjam-privkeyops-cpu"], v["crewjam/ours-cpu"] }' "$out/acs-$i.txt"
done | tee "$out/acs-summary.txt"
# median_of: the median, min and max of the numbers on stdin.
median_of() { sort -g | awk '{ v[NR] = $1 } END { printf "%s %s %s\n", v[int((NR+1)/2)], v[1], v[NR] }'; }
read -r om omin omax < <(awk '{ for (k = 1; k <= NF; k++) if ($k == "ours" && $(k+2) == "µs") print $(k+4) }' "$out/acs-summary.txt" | median_of)
read -r rm rmin rmax < <(awk '{ for (k = 1; k <= NF; k++) if ($k == "crewjam/ours") { x = $(k+1); gsub(/[^0-9.]/, "", x); print x } }' "$out/acs-summary.txt" | median_of)
met() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { ok = (op == "<=") ? (a <= b) : (a >= b); print (ok ? "MET" : "NOT MET") }'; }
echo "ours, private-key ops per Response: median $om (min $omin, max $omax) — target ≤ 1.6: $(met "$om" "<=" 1.6)"
echo "speed-up over crewjam: median ${rm}× (min ${rmin}×, max ${rmax}×) — target ≥ 2×: $(met "$rm" ">=" 2)"
read -r cm cmin cmax < <(awk '{ for (k = 1; k <= NF; k++) if ($k == "CPU" && $(k+1) == "time:") print $(k+3) }' "$out/acs-summary.txt" | median_of)
read -r cr crmin crmax < <(awk '{ x = $NF; gsub(/[^0-9.]/, "", x); print x }' "$out/acs-summary.txt" | median_of)
echo "by thread CPU time: ours $cm private-key ops (min $cmin, max $cmax) — target ≤ 1.6: $(met "$cm" "<=" 1.6); speed-up ${cr}× (min ${crmin}×, max ${crmax}×) — target ≥ 2×: $(met "$cr" ">=" 2)"
echo "-- CPU profile of the last run ($out/acs.pprof), ours (bench.verifyOurs) and crewjam (bench.verifyCrewjam):"
for f in verifyOurs verifyCrewjam; do
  echo "   $f:"
  go tool pprof -top -cum -nodecount 5000 -focus "bench\.$f\$" "$out/bench.test" "$out/acs.pprof" 2>/dev/null |
    grep -E "bench\.$f\$|ParseUntrusted$|roundtrip-validator\.Validate$|saml\.scanTokens$|etree\.\(\*Document\)\.ReadFromBytes$|saml\.verifyEnveloped$|crewjam/saml\.\(\*ServiceProvider\)\.validateSignature$|ValidationContext\)\.Validate$|Canonicalize$|xenc\.Decrypt$|xenc\.checkElement$|crewjam/saml\.unmarshalElement$|fips140/rsa\.decrypt$|runtime\.mallocgc$" |
    awk '{printf "   %8s %7s  %s\n", $4, $5, $6}'
done
echo

echo "######## Benchmark 3: GET /auth"
"$out/eidspbench" auth -reps "$reps" -cpuprofile "$out/auth" | tee "$out/auth.txt"
echo

echo "######## Benchmark 4: bytes per session and RSS at 100,000 sessions"
"$out/eidspbench" store -backend sqlite | tee "$out/store-sqlite.txt"
"$out/eidspbench" store -backend redis | tee "$out/store-redis.txt"
echo
echo "Raw output and profiles: $out"
