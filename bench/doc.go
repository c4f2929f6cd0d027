// Package bench holds eidsp's benchmark programs (docs/BENCHMARKS.md): the in-process wiring
// of an SP and the development IdP over loopback, a bounded HTTP load generator, the RSA
// private-key floor, and a Redis server for the store benchmarks. `go test ./bench` only runs
// quick positive controls; the figures come from `go test -bench` (ACS verification, ours vs
// crewjam) and from bench/cmd/eidspbench (logins, /auth, bytes per session), driven by
// scripts/bench.sh (`make bench`). Product code never imports this package.
package bench
