// Command eidspbench runs eidsp's loopback benchmarks and prints their figures
// (docs/BENCHMARKS.md; scripts/bench.sh runs all of them):
//
//	eidspbench login   complete artifact logins per second against the RSA private-key floor
//	eidspbench auth    GET /auth with a valid session (SQLite, Redis) against a bare Echo handler
//	eidspbench store   bytes per session in SQLite and Redis, and the SP's RSS, at N sessions
//
// Every load is bounded by a count and a duration, and everything listens on 127.0.0.1 only.
package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "login":
		err = runLogin(os.Args[2:])
	case "auth":
		err = runAuth(os.Args[2:])
	case "store":
		err = runStore(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eidspbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: eidspbench login|auth|store [flags]  (-h for the flags of each)")
	os.Exit(2)
}

// spread describes repeated measurements: median and range.
func spread(xs []float64, format string) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return fmt.Sprintf("median "+format+" (min "+format+", max "+format+"; runs: %s)",
		s[len(s)/2], s[0], s[len(s)-1], strings.Join(parts, ", "))
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

// tempDir makes a scratch directory below base ("" for the default).
func tempDir(base, pattern string) (string, func(), error) {
	d, err := os.MkdirTemp(base, pattern)
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}
