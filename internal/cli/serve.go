package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/app"
	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/liblog"
	"github.com/callpass-kratos/callpass-kratos/jwt"
)

const serveUsage = `usage: callpass-kratos serve [--config file] [--dev]

Runs the service: the Kratos webhooks (/hooks/kratos/login, /registration,
/registered, /settings), the step-up API (/v1/challenges), the token exchange
(/v1/token), the step-up page (/2fa), JWKS (/.well-known/jwks.json),
/health/alive, /health/ready and /metrics. Default listen address
127.0.0.1:4477.

--dev fills safe local defaults for whatever is not configured: the built-in
CallPass simulator (virtual phone at /sim/phone), generated secrets and JWT key
kept in .callpass-dev/, the in-memory store. Never use --dev in production.`

func runServe(ctx context.Context, e env, args []string) error {
	fs := newFlags("serve", serveUsage, e)
	path := fs.String("config", "", "configuration file (YAML)")
	dev := fs.Bool("dev", false, "development mode: simulator, generated secrets and keys")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	// SIGHUP is caught before anything else: Go's default for it ends the
	// process, so a reload sent while the service starts (systemctl reload
	// right after start) stopped it, and systemd, counting SIGHUP a clean
	// exit, did not restart it. One that comes now reloads once it runs.
	hup := catchHUP()
	defer signal.Stop(hup)
	cfg, notices, err := config.Load(*path, e.vars, *dev)
	if err != nil {
		return reportConfigError(e, err)
	}
	logger := app.NewLogger(cfg.Log, e.stderr)
	// go-redis and OpenTelemetry print on process-wide loggers; one service
	// runs per process, so its logger takes them.
	defer liblog.Route(logger, liblog.Period)()
	if !cfg.DevMode {
		for _, n := range notices {
			logger.Warn("configuration notice", "notice", n)
		}
	}
	if cfg.DevMode {
		bar := strings.Repeat("=", 72)
		fmt.Fprintln(e.stderr, bar)
		fmt.Fprintln(e.stderr, "DEV MODE — not for production. Calls go to the built-in simulator unless configured.")
		for _, n := range notices {
			fmt.Fprintln(e.stderr, "  "+n)
		}
		if cfg.Sim.Enabled {
			fmt.Fprintf(e.stderr, "  Virtual phone: %s/sim/phone\n", strings.TrimRight(cfg.Serve.BaseURL, "/"))
		}
		fmt.Fprintln(e.stderr, bar)
	}
	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	stopReload := reloadOnHUP(hup, a, logger)
	defer stopReload()
	if err := a.Serve(ctx); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

const tokenUsage = `usage: callpass-kratos token verify --jwks <url|file> [--issuer iss] [--audience aud] <jwt>

Verifies a JWT against a JWKS (an URL such as
http://127.0.0.1:4477/.well-known/jwks.json, or a file) and prints its claims,
or the reason it is refused with exit status 1. Without --issuer/--audience
(or JWT_ISSUER / JWT_AUDIENCE) the token's own values are used and a warning
says they were not pinned.`

func runToken(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(e.stdout, tokenUsage)
			return nil
		}
		return &usageError{msg: "expected a subcommand: verify"}
	}
	fs := newFlags("token verify", tokenUsage, e)
	jwks := fs.String("jwks", "", "JWKS URL or file")
	iss := fs.String("issuer", lookup(e.vars, "JWT_ISSUER"), "expected iss")
	aud := fs.String("audience", firstOf(lookup(e.vars, "JWT_AUDIENCE")), "expected audience")
	pos, err := parseFlagsAround(fs, args[1:])
	if err != nil {
		return err
	}
	if *jwks == "" || len(pos) != 1 {
		return &usageError{msg: "need --jwks and exactly one token"}
	}
	raw := strings.TrimSpace(pos[0])
	// A paste gone wrong is named as such, before any complaint about the
	// issuer and audience that would have come from it.
	payload, ok := jwtPayload(raw)
	if !ok {
		return fmt.Errorf("token refused: not a JWT (expected three base64url parts, header.payload.signature, the payload a JSON object)")
	}
	if *iss == "" || *aud == "" {
		uiss, uaud := unverifiedIssAud(raw)
		// Say which one is taken from the token: the other was pinned.
		var from []string
		if *iss == "" {
			*iss, from = uiss, append(from, "issuer")
		}
		if *aud == "" {
			*aud, from = uaud, append(from, "audience")
		}
		fmt.Fprintf(e.stderr, "warning: %s not pinned; using the token's own\n", strings.Join(from, " and "))
	}
	vc := jwt.VerifierConfig{Issuer: *iss, Audience: *aud}
	if strings.HasPrefix(*jwks, "http://") || strings.HasPrefix(*jwks, "https://") {
		vc.JWKSURL = *jwks
	} else {
		vc.JWKSFile = *jwks
	}
	v, err := jwt.NewVerifier(vc)
	if err != nil {
		return err
	}
	vctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := v.Verify(vctx, raw); err != nil {
		return fmt.Errorf("token refused: %w", err)
	}
	// The verified token's own claims (iss, sub, amr, ...), as apps read
	// them, not the verifier's Go struct.
	var out bytes.Buffer
	if err := json.Indent(&out, payload, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = e.stdout.Write(out.Bytes())
	return err
}

// jwtPayload returns the decoded payload of a compact JWS whose three parts
// are base64url and whose header and payload are JSON objects; nothing is
// verified.
func jwtPayload(raw string) ([]byte, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[2] == "" {
		return nil, false
	}
	var dec [2][]byte
	for i := range 2 {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		var obj map[string]json.RawMessage
		if err != nil || json.Unmarshal(b, &obj) != nil {
			return nil, false
		}
		dec[i] = b
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, false
	}
	return dec[1], true
}

func firstOf(list string) string {
	if l := splitList(list); len(l) > 0 {
		return l[0]
	}
	return ""
}

// unverifiedIssAud reads iss and the first aud without checking anything;
// only used to fill defaults that the signature check then relies on.
func unverifiedIssAud(raw string) (string, string) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", ""
	}
	var c struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(b, &c) != nil {
		return "", ""
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return c.Iss, one
	}
	var many []string
	if json.Unmarshal(c.Aud, &many) == nil && len(many) > 0 {
		return c.Iss, many[0]
	}
	return c.Iss, ""
}

// reloadKeysOnHUP re-reads the JWT key file on SIGHUP, so a rotation
// (keys generate, then keys activate, then keys remove) needs no restart
// while jwt.signing_kid is unset (the configuration itself is not re-read:
// a changed signing_kid needs a restart), and drops the
// session cache, so sessions just revoked in Kratos are refused at once, and
// the regulation bans remembered in process (a ban lifted with `bans lift`
// or deleted from the store by hand stops refusing at once, not within the
// 30 s re-read).
func reloadKeysOnHUP(a *app.App, logger *slog.Logger) func() {
	return reloadOnHUP(catchHUP(), a, logger)
}

// catchHUP delivers SIGHUP to the returned channel (one pending at most:
// several reloads asked at once are one).
func catchHUP() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadOnHUP is reloadKeysOnHUP on the signals of hup (catchHUP).
func reloadOnHUP(hup chan os.Signal, a *app.App, logger *slog.Logger) func() {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				a.Kratos.ForgetSessions()
				a.Challenges.ForgetBans()
				if err := a.ReloadKeys(); err != nil {
					logger.Error("key reload failed; keeping the current keys", "error", err.Error())
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}
