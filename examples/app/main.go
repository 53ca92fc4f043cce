// Command app is a small Echo app protected by the callpass-kratos JWT: it
// trusts a request only if it carries a token issued after the flash-call
// factor, and shows the caller's claims.
//
//	go run ./examples/app --listen 127.0.0.1:4480 \
//	  --jwks http://127.0.0.1:4477/.well-known/jwks.json \
//	  --issuer http://127.0.0.1:4477 --audience callpass-kratos
//
// Every flag has an environment variable (CALLPASS_APP_LISTEN, _JWKS,
// _ISSUER, _AUDIENCE, _COOKIE); flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

type config struct {
	Listen   string
	JWKSURL  string
	Issuer   string
	Audience string
	Cookie   string
}

func main() {
	if err := run(os.Args[1:], os.Stderr); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	cfg, err := parseConfig(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	e, err := newServer(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: cfg.Listen, Handler: e, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("example app listening", "addr", cfg.Listen, "jwks", cfg.JWKSURL)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// parseConfig reads flags with defaults taken from the environment.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(name, def string) string {
		if v := getenv("CALLPASS_APP_" + name); v != "" {
			return v
		}
		return def
	}
	var cfg config
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Listen, "listen", env("LISTEN", "127.0.0.1:4480"), "listen address (CALLPASS_APP_LISTEN)")
	fs.StringVar(&cfg.JWKSURL, "jwks", env("JWKS", "http://127.0.0.1:4477"+jwt.JWKSPath), "JWKS URL of callpass-kratos (CALLPASS_APP_JWKS)")
	fs.StringVar(&cfg.Issuer, "issuer", env("ISSUER", "http://127.0.0.1:4477"), "expected iss (CALLPASS_APP_ISSUER)")
	fs.StringVar(&cfg.Audience, "audience", env("AUDIENCE", "callpass-kratos"), "expected aud (CALLPASS_APP_AUDIENCE)")
	fs.StringVar(&cfg.Cookie, "cookie", env("COOKIE", "callpass_jwt"), "cookie carrying the token when there is no Authorization header; empty: header only (CALLPASS_APP_COOKIE)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return cfg, nil
}

// newServer builds the app: /healthz is open, everything else needs a token.
func newServer(cfg config, log *slog.Logger) (*echo.Echo, error) {
	v, err := jwt.NewVerifier(jwt.VerifierConfig{
		JWKSURL:    cfg.JWKSURL,
		Issuer:     cfg.Issuer,
		Audience:   cfg.Audience,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Logger:     log,
	})
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })

	opts := []jwt.MiddlewareOption{jwt.WithRealm("callpass-example")}
	if cfg.Cookie != "" {
		opts = append(opts, jwt.WithCookie(cfg.Cookie))
	}
	g := e.Group("", jwt.EchoMiddleware(v, opts...))
	g.GET("/", handlePage)
	g.GET("/api/me", handleMe)
	return e, nil
}

// me is the JSON view of the caller.
type me struct {
	Subject             string         `json:"sub"`
	SessionID           string         `json:"sid,omitempty"`
	Issuer              string         `json:"iss"`
	Audience            []string       `json:"aud"`
	ExpiresAt           time.Time      `json:"exp"`
	AuthTime            time.Time      `json:"auth_time"`
	AMR                 []string       `json:"amr"`
	PhoneNumber         string         `json:"phone_number"`
	PhoneNumberVerified bool           `json:"phone_number_verified"`
	FlashCallPassed     bool           `json:"flash_call_passed"`
	Extra               map[string]any `json:"extra,omitempty"`
}

func meFrom(c echo.Context) (me, bool) {
	cl, ok := jwt.ClaimsFromContext(c)
	if !ok {
		return me{}, false
	}
	return me{
		Subject: cl.Subject, SessionID: cl.Sid, Issuer: cl.Issuer, Audience: cl.Audience,
		ExpiresAt: cl.ExpiresAt.UTC(), AuthTime: cl.AuthTime.UTC(), AMR: cl.AMR,
		PhoneNumber: cl.PhoneNumber, PhoneNumberVerified: cl.PhoneNumberVerified,
		FlashCallPassed: cl.HasAMR(jwt.AMRPhone), Extra: cl.Extra,
	}, true
}

func handleMe(c echo.Context) error {
	m, ok := meFrom(c)
	if !ok {
		return echo.NewHTTPError(http.StatusUnauthorized)
	}
	return c.JSON(http.StatusOK, m)
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>callpass-kratos example app</title>
<style>
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f1f4f8;color:#111827;margin:0;padding:2rem 1rem}
main{max-width:40rem;margin:0 auto;background:#fff;border:1px solid #d5dbe5;border-radius:12px;padding:1.5rem 2rem}
h1{font-size:1.4rem;margin:0 0 .25rem;word-break:break-all}
.ok{color:#166534;background:#dcfce7;border-radius:8px;padding:.5rem .75rem}
.warn{color:#92400e;background:#fef3c7;border-radius:8px;padding:.5rem .75rem}
table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{width:12rem;color:#4b5563;font-weight:600}
td{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.92rem;word-break:break-all}
a{color:#1d4ed8}
</style></head>
<body><main>
<h1>Hello, {{.Subject}}</h1>
<p class="{{if .FlashCallPassed}}ok{{else}}warn{{end}}">{{if .FlashCallPassed}}You passed the flash-call factor.{{else}}This token does not show the flash-call factor.{{end}}</p>
<table>
<tr><th>Phone</th><td>{{.PhoneNumber}}{{if .PhoneNumberVerified}} (verified){{end}}</td></tr>
<tr><th>Session</th><td>{{.SessionID}}</td></tr>
<tr><th>Methods (amr)</th><td>{{range $i, $m := .AMR}}{{if $i}}, {{end}}{{$m}}{{end}}</td></tr>
<tr><th>Authenticated at</th><td>{{.AuthTime.Format "2006-01-02 15:04:05 MST"}}</td></tr>
<tr><th>Token expires</th><td>{{.ExpiresAt.Format "2006-01-02 15:04:05 MST"}}</td></tr>
<tr><th>Issuer</th><td>{{.Issuer}}</td></tr>
{{range .ExtraKeys}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
<p><a href="/api/me">These claims as JSON</a></p>
</main></body></html>
`))

type extraRow struct {
	Name  string
	Value any
}

func handlePage(c echo.Context) error {
	m, ok := meFrom(c)
	if !ok {
		return echo.NewHTTPError(http.StatusUnauthorized)
	}
	rows := make([]extraRow, 0, len(m.Extra))
	for k, v := range m.Extra {
		rows = append(rows, extraRow{k, v})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(http.StatusOK)
	return page.Execute(c.Response(), struct {
		me
		ExtraKeys []extraRow
	}{m, rows})
}
