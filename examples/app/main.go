// Command app is a small Echo app protected by the callpass-kratos JWT: it
// trusts a request only if it carries a token issued after the flash-call
// factor, and shows the caller's claims.
//
//	go run ./examples/app --listen 127.0.0.1:4480 \
//	  --jwks http://127.0.0.1:4477/.well-known/jwks.json \
//	  --issuer http://127.0.0.1:4477 --audience callpass-kratos \
//	  --algorithms ES256 --login-url http://127.0.0.1:4455/welcome
//
// The verifier accepts only the listed algorithms (the README's advice: a
// fixed list, the signing key's; ES256 unless keys were generated with
// another --alg). A browser without a valid token (none yet, or expired) is
// sent to --login-url, the example UI's /welcome, which exchanges the Kratos
// session for a new token and comes back; API clients get a JSON 401.
//
// Every flag has an environment variable (CALLPASS_APP_LISTEN, _JWKS,
// _ISSUER, _AUDIENCE, _ALGORITHMS, _COOKIE, _LOGIN_URL); flags win.
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
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

type config struct {
	Listen     string
	JWKSURL    string
	Issuer     string
	Audience   string
	Algorithms string // comma-separated allow-list
	Cookie     string
	LoginURL   string // where a browser without a valid token gets one; empty: JSON 401 only
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
	fs.StringVar(&cfg.Algorithms, "algorithms", env("ALGORITHMS", jwt.AlgES256), "accepted signing algorithms, comma-separated: those of the service's keys (CALLPASS_APP_ALGORITHMS)")
	fs.StringVar(&cfg.Cookie, "cookie", env("COOKIE", "callpass_jwt"), "cookie carrying the token when there is no Authorization header; empty: header only (CALLPASS_APP_COOKIE)")
	fs.StringVar(&cfg.LoginURL, "login-url", env("LOGIN_URL", "http://127.0.0.1:4455/welcome"), "where a browser without a valid token is sent to get one (the example UI's /welcome); empty: a JSON 401 (CALLPASS_APP_LOGIN_URL)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if len(algorithms(cfg.Algorithms)) == 0 {
		return config{}, errors.New("--algorithms: name at least one algorithm (e.g. ES256)")
	}
	return cfg, nil
}

// algorithms splits a comma-separated list.
func algorithms(list string) []string {
	var out []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// newServer builds the app: /healthz is open, everything else needs a token.
func newServer(cfg config, log *slog.Logger) (*echo.Echo, error) {
	algs := algorithms(cfg.Algorithms)
	if len(algs) == 0 {
		// Never the verifier's broad default: pin what the service signs with.
		algs = []string{jwt.AlgES256}
	}
	v, err := jwt.NewVerifier(jwt.VerifierConfig{
		JWKSURL:    cfg.JWKSURL,
		Issuer:     cfg.Issuer,
		Audience:   cfg.Audience,
		Algorithms: algs,
		// The verifier's own client: FetchTimeout bounds each fetch, and it
		// follows no redirect (the keys come from JWKSURL's host only).
		Logger: log,
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
	mw := []echo.MiddlewareFunc{noStore, jwt.EchoMiddleware(v, opts...)}
	if cfg.Cookie != "" {
		// Only a cookie brings a browser back with the new token.
		mw = append([]echo.MiddlewareFunc{signInBrowsers(cfg.LoginURL)}, mw...)
	}
	g := e.Group("", mw...)
	g.GET("/", handlePage)
	g.GET("/api/me", handleMe)
	return e, nil
}

// noStore keeps every answer behind the token (the caller's phone number,
// session and claims) out of shared caches: a proxy or CDN in front of the
// app must not hand one visitor's page to the next.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return next(c)
	}
}

// signInCookie marks a browser just sent to the login URL, for a short while:
// coming back still without a token (say the UI sets its cookie for another
// host name) gets the page with a link instead of a redirect loop.
const signInCookie = "callpass_app_signin"

// signInBrowsers turns the middleware's 401 into something a person can act
// on when a browser loads a page: no token yet, or an expired one (the
// cookie lasts as long as the token), sends it to loginURL, which issues a
// new token and comes back; any other refused token gets a page with a link
// (following it automatically could loop on a misconfigured issuer).
// Requests with an Authorization header or without text/html in Accept
// (API clients) keep the JSON 401 and its WWW-Authenticate challenge.
func signInBrowsers(loginURL string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			var he *echo.HTTPError
			if loginURL == "" || !errors.As(err, &he) || he.Code != http.StatusUnauthorized || !wantsHTML(c.Request()) {
				return err
			}
			msg, _ := he.Message.(string)
			// EchoMiddleware keeps the cause on the error (HTTPError.Internal,
			// which Unwrap returns): decide on it, never on the wording.
			_, cerr := c.Cookie(signInCookie)
			if (errors.Is(err, jwt.ErrTokenMissing) || errors.Is(err, jwt.ErrTokenExpired)) && cerr != nil {
				c.SetCookie(&http.Cookie{Name: signInCookie, Value: "1", Path: "/", MaxAge: 30, HttpOnly: true, SameSite: http.SameSiteLaxMode})
				c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
				return c.Redirect(http.StatusSeeOther, loginURL)
			}
			c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
			c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
			c.Response().WriteHeader(http.StatusUnauthorized)
			return signInPage.Execute(c.Response(), struct{ Reason, LoginURL string }{msg, loginURL})
		}
	}
}

// wantsHTML: a browser loading a page, not an API client.
func wantsHTML(r *http.Request) bool {
	return r.Header.Get(echo.HeaderAuthorization) == "" && strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html")
}

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — callpass-kratos example app</title></head>
<body><main>
<h1>Please sign in again</h1>
<p>Your app token was not accepted ({{.Reason}}).</p>
<p><a href="{{.LoginURL}}">Get a new token</a></p>
</main></body></html>
`))

// me is the JSON view of the caller.
type me struct {
	Subject             string         `json:"sub"`
	SessionID           string         `json:"sid,omitempty"`
	Issuer              string         `json:"iss"`
	Audience            []string       `json:"aud"`
	ExpiresAt           time.Time      `json:"exp"`
	AuthTime            time.Time      `json:"auth_time"`
	AMR                 []string       `json:"amr"`
	PhoneNumber         string         `json:"phone_number,omitempty"` // absent with jwt.phone_number_claim: false
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
<tr><th>Phone</th><td>{{if .PhoneNumber}}{{.PhoneNumber}}{{else}}not in the token{{end}}{{if .PhoneNumberVerified}} (verified){{end}}</td></tr>
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
