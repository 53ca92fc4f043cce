// Command ui is an example Ory Kratos self-service UI (login, registration,
// settings, recovery, verification, error) with the CallPass flash-call code
// step inside the login page. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful stop, which may wait out posts to
	// Kratos (up to relayTimeout); a second one then ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("ui", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.Listen, "listen", envOr("UI_LISTEN", "127.0.0.1:4455"), "address to listen on (env UI_LISTEN)")
	fs.StringVar(&cfg.KratosPublic, "kratos-public", envOr("KRATOS_PUBLIC_URL", "http://127.0.0.1:4433"), "Kratos public API as this server reaches it (env KRATOS_PUBLIC_URL)")
	fs.StringVar(&cfg.KratosBrowser, "kratos-browser-url", envOr("KRATOS_BROWSER_URL", "http://127.0.0.1:4433"), "Kratos public API as the browser reaches it (env KRATOS_BROWSER_URL)")
	fs.StringVar(&cfg.AppURL, "app-url", envOr("APP_URL", "http://127.0.0.1:4480"), "the protected app; /welcome redirects there (env APP_URL)")
	fs.StringVar(&cfg.CallpassURL, "callpass-url", envOr("CALLPASS_URL", "http://127.0.0.1:4477"), "callpass-kratos service (env CALLPASS_URL)")
	fs.StringVar(&cfg.UIURL, "ui-url", os.Getenv("UI_URL"), "this UI's origin as browsers see it, sent as Origin to callpass (env UI_URL; default http://<listen>)")
	ttl := fs.Duration("pending-ttl", 10*time.Minute, "how long a sign-in may stay in the code step (env UI_PENDING_TTL)")
	fs.BoolVar(&cfg.TrustProxy, "trust-proxy", os.Getenv("UI_TRUST_PROXY") == "true", "trust X-Forwarded-For from a reverse proxy in front of this UI (env UI_TRUST_PROXY)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.PendingTTL = *ttl
	if v := os.Getenv("UI_PENDING_TTL"); v != "" && !isSet(fs, "pending-ttl") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("UI_PENDING_TTL: %w", err)
		}
		cfg.PendingTTL = d
	}
	if cfg.UIURL == "" {
		cfg.UIURL = "http://" + cfg.Listen
	}
	return cfg, nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Logger = log
	h, err := newServer(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "ui:", err)
		return 2
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "ui:", err)
		return 1
	}
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
	}
	log.Info("self-service UI listening", "addr", "http://"+ln.Addr().String(), "kratos", cfg.KratosPublic,
		"app", cfg.AppURL, "callpass", cfg.CallpassURL, "pending_ttl", strconv.Quote(cfg.PendingTTL.String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintln(stderr, "ui:", err)
		return 1
	case <-ctx.Done():
	}
	// A post relayed to Kratos runs to its end even without the browser
	// (forward): give it its whole timeout, or exiting cuts Kratos off
	// mid-submit (a code maybe counted, a call maybe placed).
	sctx, cancel := context.WithTimeout(context.Background(), relayTimeout+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(stderr, "ui: shutdown:", err)
		return 1
	}
	return 0
}
