#!/bin/sh
# Makes v2.db, the fixture of TestMigrateFromV2: a database written by the store as it was at
# schema version 2 (commit 74a6043, before documents and the audit trail), holding one session,
# one pending login and one claim. The old code is taken from git, not rebuilt from today's
# migrations, so the test still sees a real v2 file if someone edits a released migration.
#
# The IDs, keys and times written here are repeated in migrate_test.go; change them together.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
old=74a60435dfdea1f2626a43160033927d4ad03213

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$repo" archive "$old" | tar -x -C "$work"

mkdir "$work/genv2"
cat > "$work/genv2/main.go" <<'GO'
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/eidsp/eidsp/identity"
	"github.com/eidsp/eidsp/session"
	"github.com/eidsp/eidsp/session/sqlite"
)

func main() {
	now := time.Date(2026, time.March, 14, 9, 26, 53, 589_000_000, time.UTC)
	s, err := sqlite.Open(os.Args[1], sqlite.Options{Now: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	must(s.CreateSession(ctx, &session.Session{
		ID: "v2-fixture-session",
		Identity: identity.Identity{
			NationalID: "12345678901", Kind: identity.KindSyntheticFNR, Level: 4, IdP: "idporten",
			SessionIndex: "v2-index", NameID: "v2-nameid", NameIDFormat: "transient",
		},
		Profile:   "idporten",
		ExpiresAt: now.Add(8 * time.Hour),
	}))
	must(s.PutPending(ctx, &session.PendingLogin{
		Key: "v2-fixture-relay", RequestID: "_v2-request", IdP: "idporten",
		Purpose: session.PurposeLogout, ExpiresAt: now.Add(10 * time.Minute),
	}))
	must(s.Claim(ctx, "v2-fixture-assertion", now.Add(time.Hour)))
	// Close checkpoints the WAL into the file and removes it: v2.db is the whole database.
	must(s.Close())
}
GO

rm -f "$here/v2.db"
(cd "$work" && go run ./genv2 "$here/v2.db")
chmod 0644 "$here/v2.db"
