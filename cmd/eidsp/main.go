// Command eidsp is the login service: `eidsp dev` runs the SP with a development IdP and SQLite
// on embedded defaults; `eidsp serve -config FILE` runs it in production. This package is wiring
// only: it loads configuration, builds the one logger, connects the packages and shuts down
// gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `eidsp — SAML service provider for Norwegian eID (ID-porten, Buypass IPS)

Usage:
  eidsp dev [-listen :8080] [-idp-listen :8081] [-data DIR]   SP + development IdP + SQLite, nothing to install
  eidsp serve -config FILE                                     run with a configuration file
  eidsp check-config -config FILE                              validate a configuration and its keys
  eidsp metadata -config FILE                                  print the SP metadata to upload to the IdP
  eidsp keygen -cn NAME -out PREFIX                            make a self-signed key pair for test environments
  eidsp rollover -config FILE                                  switch signing to the next key pair now (every instance)
  eidsp admin-token -out FILE                                  write a new bearer token for the admin API
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "eidsp:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, stderr)
	case "check-config":
		return runCheckConfig(rest, stdout)
	case "metadata":
		return runMetadata(rest, stdout)
	case "keygen":
		return runKeygen(rest, stdout)
	case "rollover":
		return runRollover(rest, stdout)
	case "admin-token":
		return runAdminToken(rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
