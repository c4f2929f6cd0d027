package main

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/eidsp/eidsp/certs"
	"github.com/eidsp/eidsp/config"
	"github.com/eidsp/eidsp/handlers"
	wiring "github.com/eidsp/eidsp/internal/app"
	"github.com/eidsp/eidsp/session"
)

// app is a wired service provider (see internal/app).
type app struct {
	server *handlers.Server
	store  session.Store
	spKey  *certs.KeyPair
	wired  *wiring.App
}

// buildApp wires the service provider through internal/app.
func buildApp(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time) (*app, error) {
	return buildAppWith(ctx, cfg, log, now, wiring.Options{})
}

func buildAppWith(ctx context.Context, cfg *config.Config, log *slog.Logger, now func() time.Time, opt wiring.Options) (*app, error) {
	a, err := wiring.BuildWith(ctx, cfg, log, now, opt)
	if err != nil {
		return nil, err
	}
	return &app{server: a.Server, store: a.Store, spKey: a.SPKey, wired: a}, nil
}

// newLogger builds the one logger. Its ReplaceAttr is the last line of redaction: any 11-digit
// run in a logged string is masked, whatever put it there.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: redact}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

var elevenDigits = regexp.MustCompile(`\d{11}`)

func redact(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindString && elevenDigits.MatchString(a.Value.String()) {
		return slog.String(a.Key, elevenDigits.ReplaceAllString(a.Value.String(), "[redacted]"))
	}
	return a
}
