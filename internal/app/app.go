// Package app wires the service together from a validated configuration:
// store, limits, provider (or the built-in simulator in dev mode), challenges,
// Kratos client, JWT keys and issuer, the factor, and the HTTP server.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/internal/tracing"
	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
	"github.com/callpass-kratos/callpass-kratos/webhook"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// App is a wired service, ready to Serve.
type App struct {
	Config  *config.Config
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	Server  *webhook.Server
	// Sim is the built-in simulator (dev mode), nil otherwise.
	Sim  *sim.Simulator
	Keys *jwt.KeySet
	// Challenges runs the challenges (and their background status polling).
	Challenges *challenge.Service
	// TracerProvider exports spans over OTLP; nil when tracing is off.
	TracerProvider trace.TracerProvider
	// Kratos is the client for whoami and the admin API.
	Kratos *kratos.Client

	closers []func() error
	// now is the clock of ReloadKeys (time.Now when nil).
	now func() time.Time
	// publishedAt is when a reload first published each kid the key set
	// holds; the keys loaded at start have no entry (published for all we
	// know).
	publishedAt map[string]time.Time
	// startChecks run once in the background when serving starts (the
	// Redis store's inspection), so their findings are logged at once.
	startChecks []func(context.Context) error
}

// NewLogger builds the slog logger the configuration asks for.
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// New wires everything; ctx bounds only the set-up (the tracing exporter's
// start). It makes no call to Kratos or the provider (those are reported by
// /health/ready), but it does connect to nothing lazily that it cannot
// check: a Redis URL that does not parse is an error here.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	a := &App{Config: cfg, Logger: logger}
	ok := false
	defer func() {
		if !ok {
			_ = a.Close()
		}
	}()
	if cfg.Metrics.Enabled {
		a.Metrics = metrics.New()
	}
	if cfg.Tracing.OTLPEndpoint != "" {
		shutdown, tp, err := tracing.Setup(ctx, cfg.Tracing.OTLPEndpoint, "callpass-kratos", buildVersion())
		if err != nil {
			return nil, fmt.Errorf("tracing.otlp_endpoint: %w", err)
		}
		a.TracerProvider = tp
		// First in, so closed last: spans of everything closed before are flushed.
		a.closers = append(a.closers, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return shutdown(ctx)
		})
	}

	// Store: challenges, limit counters, regulation, gate passes — one store,
	// so a verify reads the ban with the challenge and writes the gate pass
	// with the attempt (docs/architecture.md, "Store semantics").
	var (
		store  challenge.Store
		count  limit.Counter
		blocks limit.Blocks
		passes factor.PassStore
		ready  []webhook.ReadyCheck
	)
	switch cfg.Store.Type {
	case "redis":
		r := cfg.Store.Redis
		// The client of store.redis.mode: one server, a cluster (scripts
		// go to their slot's master) or the master Sentinel names.
		rdb, err := redisstore.NewClient(r.Mode, r.URL, redisstore.Sentinel{
			Master: r.SentinelMaster, Username: r.SentinelUsername, Password: r.SentinelPassword},
			redisstore.TLS{CAFile: r.TLSCAFile, CertFile: r.TLSCertFile, KeyFile: r.TLSKeyFile, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("store.redis.url: %w", err)
		}
		a.closers = append(a.closers, rdb.Close)
		if r.TLSKeyFile != "" {
			warnKeyFileMode(logger, r.TLSKeyFile, "store.redis.tls_key_file is readable by group or others, but it holds "+
				"the Redis client certificate's private key (anyone who reads it connects as this service): "+
				"make it readable by the service's user only (chmod 600)")
		}
		rs := redisstore.New(rdb, cfg.Store.Redis.Prefix)
		store, count, blocks = rs, rs, rs
		passes = rs
		// "store" for either backend, as /health/ready is documented.
		hint := "check store.redis.url's password"
		if r.Mode == redisstore.ModeSentinel {
			// The sentinels refuse with the same WRONGPASS as the master.
			hint = "check store.redis.url's password, store.redis.sentinel_username and store.redis.sentinel_password"
		}
		check := redisReady(rs.Ping, (&redisInspection{inspect: rs.Inspect, logger: logger}).check, hint, r.TLSCAFile != "", logger)
		ready = append(ready, webhook.ReadyCheck{Name: "store", Check: check})
		a.startChecks = append(a.startChecks, check)
	default:
		ms := memory.New(time.Minute)
		a.closers = append(a.closers, ms.Close)
		store, count, blocks = ms, ms, ms
		passes = ms
		ready = append(ready, webhook.ReadyCheck{Name: "store", Check: ms.Ping})
	}

	lcfg := limit.Config{
		PerNumber:         limit.Rule{Limit: cfg.Limits.PerNumber.Limit, Window: cfg.Limits.PerNumber.Window},
		PerIdentity:       limit.Rule{Limit: cfg.Limits.PerIdentity.Limit, Window: cfg.Limits.PerIdentity.Window},
		PerIP:             limit.Rule{Limit: cfg.Limits.PerIP.Limit, Window: cfg.Limits.PerIP.Window},
		GlobalDaily:       limit.Rule{Limit: cfg.Limits.GlobalDaily.Limit, Window: cfg.Limits.GlobalDaily.Window},
		PhoneCheckPercent: cfg.Limits.PhoneCheckPercent,
		AllowPrefixes:     cfg.Limits.AllowPrefixes,
		DenyPrefixes:      cfg.Limits.DenyPrefixes,
		Regulation: limit.Regulation{
			MaxFailures: cfg.Limits.Regulation.MaxFailures,
			FindTime:    cfg.Limits.Regulation.FindTime,
			BanTime:     cfg.Limits.Regulation.BanTime,
		},
	}
	// Numbers in store keys and log lines are named by a hash keyed with the
	// code key, which every instance sharing the store already has.
	numbers, err := phone.NewHasher([]byte(cfg.Challenge.CodeKey))
	if err != nil {
		return nil, fmt.Errorf("challenge.code_key: %w", err)
	}
	lopts := []limit.Option{limit.WithNumberHasher(numbers)}
	if a.Metrics != nil {
		lopts = append(lopts, limit.WithBudgetObserver(a.Metrics))
	}
	limiter, err := limit.New(lcfg, count, blocks, lopts...)
	if err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}

	// Provider: the configured CallPass, which in dev mode is our own simulator.
	if cfg.Sim.Enabled {
		scfg := sim.Config{Tokens: cfg.Sim.Tokens, SettleDelay: cfg.Sim.SettleDelay, Logger: logger.With("component", "sim"),
			Scripts: map[string]sim.Outcome{}}
		if cfg.Sim.DefaultOutcome != "" {
			o, err := sim.ParseOutcome(cfg.Sim.DefaultOutcome)
			if err != nil {
				return nil, fmt.Errorf("sim.default_outcome: %w", err)
			}
			scfg.DefaultOutcome = o
		}
		for dn, name := range cfg.Sim.Scripts {
			o, err := sim.ParseOutcome(name)
			if err != nil {
				return nil, fmt.Errorf("sim.scripts[%s]: %w", dn, err)
			}
			scfg.Scripts[dn] = o
		}
		s, err := sim.New(scfg)
		if err != nil {
			return nil, fmt.Errorf("simulator: %w", err)
		}
		a.Sim = s
		a.closers = append(a.closers, s.Close)
	}
	provider, err := callpass.New(callpass.Config{
		BaseURL:    cfg.CallPass.BaseURL,
		Token:      cfg.CallPass.Token,
		APIVersion: cfg.CallPass.APIVersion,
		Timeout:    cfg.CallPass.Timeout,
		CodeLength: cfg.CallPass.CodeLength,
		Async:      cfg.CallPass.Async,
		Observer:   a.Metrics,
		Logger:     logger.With("component", "callpass"),
		SyncMargin: cfg.CallPass.RequestTimeoutMargin,
		// A nil interface when tracing is off, never a typed nil.
		TracerProvider: a.TracerProvider,
	})
	if err != nil {
		return nil, fmt.Errorf("callpass: %w", err)
	}
	a.Metrics.InitProvider(provider.Name(), cfg.CallPass.APIVersion)

	ccfg := challenge.DefaultConfig()
	ccfg.TTL = cfg.Challenge.TTL
	ccfg.MaxAttempts = cfg.Challenge.MaxAttempts
	ccfg.ResendCooldowns = cfg.Challenge.ResendCooldowns
	ccfg.MaxResends = cfg.Challenge.MaxResends
	ccfg.CodeKey = []byte(cfg.Challenge.CodeKey)
	// The provider's request timeout, and time for the limits' take before it.
	ccfg.StartTimeout = cfg.CallPass.RequestTimeout() + 10*time.Second
	copts := []challenge.Option{challenge.WithLogger(logger.With("component", "challenge"))}
	if a.Metrics != nil {
		copts = append(copts, challenge.WithObserver(a.Metrics))
	}
	if a.TracerProvider != nil {
		copts = append(copts, challenge.WithTracerProvider(a.TracerProvider))
	}
	challenges, err := challenge.NewService(ccfg, store, provider, limiter, copts...)
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	a.closers = append(a.closers, challenges.Close)
	a.Challenges = challenges

	kcfg := kratos.Config{
		PublicURL: cfg.Kratos.PublicURL, AdminURL: cfg.Kratos.AdminURL,
		PhoneTrait: cfg.Kratos.PhoneTrait, Timeout: cfg.Kratos.Timeout,
		SessionCacheTTL: cfg.Kratos.SessionCacheTTL,
		TracerProvider:  a.TracerProvider,
	}
	if a.Metrics != nil {
		kcfg.Observer = a.Metrics
		if cfg.DevMode {
			kcfg.Observer = optionalReady{a.Metrics}
		}
	}
	kc, err := kratos.New(kcfg)
	if err != nil {
		return nil, fmt.Errorf("kratos: %w", err)
	}
	a.Kratos = kc
	ready = append(ready, webhook.ReadyCheck{Name: "kratos", Check: kc.Ready, Optional: cfg.DevMode})

	// JWT keys: --dev keeps a generated key on disk so restarts keep tokens valid.
	var keys *jwt.KeySet
	if cfg.DevMode && !fileExists(cfg.JWT.KeysFile) {
		keys, err = jwt.DevKeySet(filepath.Dir(cfg.JWT.KeysFile), cfg.JWT.Algorithm)
	} else {
		keys, err = jwt.LoadKeySet(cfg.JWT.KeysFile, cfg.JWT.SigningKID)
	}
	if err != nil {
		return nil, fmt.Errorf("jwt.keys_file: %w", err)
	}
	a.Keys = keys
	warnKeyAlgorithm(logger, cfg.JWT, keys)
	warnKeyFileMode(logger, cfg.JWT.KeysFile, "jwt.keys_file is readable by group or others, but it holds the private signing key "+
		"(anyone who reads it can mint tokens every app accepts): make it readable by the service's user only (chmod 600)")
	var mapper *jwt.ClaimsMapper
	if cfg.JWT.ClaimsMapper != "" {
		if mapper, err = jwt.LoadClaimsMapper(cfg.JWT.ClaimsMapper); err != nil {
			return nil, fmt.Errorf("jwt.claims_mapper: %w", err)
		}
	}
	issuer, err := jwt.NewIssuer(jwt.IssuerConfig{
		Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience, TTL: cfg.JWT.TTL,
		Keys: keys, ClaimsMapper: mapper, OmitPhoneNumber: !cfg.JWT.PhoneNumberClaim,
		Logger: logger.With("component", "jwt"),
	})
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}

	fac, err := factor.New(factor.Config{
		PhoneTrait:     cfg.Kratos.PhoneTrait,
		MissingPhone:   factor.MissingPhone(cfg.Webhook.MissingPhone),
		ConfirmCurrent: cfg.Webhook.SettingsConfirmCurrent,
	}, factor.Deps{
		Challenges: challenges, Sessions: kc, Identities: kc, Issuer: issuer, Passes: passes,
		Logger: logger.With("component", "factor"), Observer: a.Metrics, Numbers: numbers,
	})
	if err != nil {
		return nil, err
	}

	renderer, err := ui.NewRenderer()
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	jwksURL := strings.TrimRight(cfg.Serve.BaseURL, "/") + "/.well-known/jwks.json"
	wcfg := webhook.Config{
		Listen:          cfg.Serve.Listen,
		ShutdownTimeout: cfg.Serve.ShutdownTimeout,
		AllowedOrigins:  cfg.Serve.AllowedOrigins,
		WebhookSecret:   cfg.Webhook.Secret,
		TrustedProxies:  prefixesToNets(cfg),
		ClientIPHeader:  cfg.Serve.ClientIPHeader,
		BaseURL:         strings.TrimRight(cfg.Serve.BaseURL, "/"),
		// Followed by the visitor's browser: Kratos as browsers reach it,
		// which kratos.public_url (how this service reaches it) may not be.
		LoginURL: strings.TrimRight(cfg.Kratos.BrowserURL, "/") + "/self-service/login/browser",

		RefusalLogsPerSecond: cfg.Log.RefusalsPerSecond,
	}
	if !cfg.DevMode {
		// Outside --dev the simulator's pages (every call's code) are not
		// open to whoever reaches the port.
		wcfg.SimControlTokens = cfg.Sim.Tokens
	}
	if cfg.JWT.Cookie.Enabled {
		wcfg.JWTCookie = webhook.CookieConfig{Name: cfg.JWT.Cookie.Name, Domain: cfg.JWT.Cookie.Domain,
			Secure: strings.HasPrefix(cfg.Serve.BaseURL, "https://")}
	}
	deps := webhook.Deps{
		Logger:    logger,
		Metrics:   a.Metrics,
		Factor:    fac,
		JWKS:      jwt.JWKSHandler(keys, jwksMaxAge),
		Discovery: jwt.DiscoveryHandler(cfg.JWT.Issuer, jwksURL, keys, time.Hour, issuer.ClaimsSupported()),
		UI:        renderer,
		Ready:     ready,

		TracerProvider: a.TracerProvider,
	}
	if a.Sim != nil {
		deps.Sim = a.Sim.Handler()
	}
	srv, err := webhook.New(wcfg, deps)
	if err != nil {
		return nil, err
	}
	a.Server = srv
	ok = true
	return a, nil
}

// jwksMaxAge is the JWKS document's Cache-Control max-age: how long an app
// may hold a key set without a key published since.
const jwksMaxAge = 5 * time.Minute

// ReloadKeys re-reads jwt.keys_file and swaps the key set in place: the JWKS
// document and the signer change at once, without a restart (SIGHUP). The
// signer is the file's first key, or the jwt.signing_kid read at start-up:
// the configuration is not re-read, so a changed signing_kid needs a
// restart, and while it is set, reordering the file (keys activate) does not
// change the signer; that is logged as a warning.
func (a *App) ReloadKeys() error {
	ks, err := jwt.LoadKeySet(a.Config.JWT.KeysFile, a.Config.JWT.SigningKID)
	if err != nil {
		return fmt.Errorf("reload jwt.keys_file: %w", err)
	}
	now := time.Now()
	if a.now != nil {
		now = a.now()
	}
	signer := ks.Signer().KID()
	_, published := a.Keys.Lookup(signer)
	since, known := a.publishedAt[signer]
	fresh := make(map[string]time.Time, len(ks.Keys()))
	for _, k := range ks.Keys() {
		if at, ok := a.publishedAt[k.KID()]; ok {
			fresh[k.KID()] = at
		} else if _, ok := a.Keys.Lookup(k.KID()); !ok {
			fresh[k.KID()] = now
		}
	}
	a.Keys.Replace(ks)
	a.publishedAt = fresh
	a.Logger.Info("JWT keys reloaded", "keys", len(ks.Keys()), "signer", ks.Signer())
	const rotate = "rotate in two reloads: keys generate and SIGHUP, wait 5 minutes, then keys activate and SIGHUP"
	switch {
	case !published:
		// keys generate --activate, or generate and activate between two
		// reloads: apps holding the JWKS of before refuse the new tokens
		// until their cache ends or they refetch on the unknown kid.
		a.Logger.Warn("the new signing key was not published before it signs: apps whose cached JWKS predates this reload "+
			"refuse its tokens until they fetch the key set again (up to its max-age, 5 minutes); "+rotate,
			"kid", signer)
	case known && now.Sub(since) < jwksMaxAge:
		// Published by a reload, but activated without the wait: an app
		// that fetched the JWKS just before that reload still lacks it.
		a.Logger.Warn("the new signing key was published less than the JWKS max-age (5 minutes) before it signs: "+
			"apps whose cached JWKS predates its publication refuse its tokens until they fetch the key set again; "+rotate,
			"kid", signer, "published_ago", now.Sub(since).Round(time.Second).String())
	}
	warnKeyAlgorithm(a.Logger, a.Config.JWT, ks)
	if first := ks.Keys()[0]; first.KID() != ks.Signer().KID() {
		a.Logger.Warn("jwt.signing_kid pins the signer: the key file's first key does not sign; "+
			"to switch, change jwt.signing_kid (or unset it) and restart",
			"signing_kid", a.Config.JWT.SigningKID, "first_kid", first.KID())
	}
	return nil
}

// warnKeyAlgorithm logs a warning when the signing key's algorithm is not
// jwt.algorithm: that setting only chooses the algorithm of a key --dev
// generates; a key file's signer signs with its own algorithm, and verifiers
// pinned to jwt.algorithm would refuse its tokens.
func warnKeyAlgorithm(logger *slog.Logger, cfg config.JWT, ks *jwt.KeySet) {
	signer := ks.Signer()
	if signer == nil || signer.Algorithm() == cfg.Algorithm {
		return
	}
	logger.Warn("jwt.algorithm differs from the signing key's algorithm; the key decides: tokens are signed with "+signer.Algorithm()+
		" (jwt.algorithm only chooses the algorithm of a key --dev generates)",
		"jwt_algorithm", cfg.Algorithm, "key_algorithm", signer.Algorithm(), "kid", signer.KID(), "keys_file", cfg.KeysFile)
}

// warnKeyFileMode logs msg as a warning when the file at path, which holds
// a private key, is readable by its group or by others.
func warnKeyFileMode(logger *slog.Logger, path, msg string) {
	if runtime.GOOS == "windows" {
		return // no Unix permission bits
	}
	fi, err := os.Stat(path)
	if err != nil {
		return // it was just loaded; a race is not this warning's business
	}
	if perm := fi.Mode().Perm(); perm&0o044 != 0 {
		logger.Warn(msg, "file", path, "mode", fmt.Sprintf("%#o", perm))
	}
}

// redisAuthLogEvery is how often a refused Redis password is logged at
// most: /health/ready is public and probed often.
const redisAuthLogEvery = time.Minute

// optionalReady counts every request to Kratos but a failed readiness
// check: in --dev Kratos is optional (the service runs for the simulator
// without one, and readiness says "degraded"), and each probe's check of a
// Kratos that is not there counted result="error", which fired
// CallPassKratosErrors (critical) on a healthy setup. Users' requests to a
// Kratos that fails are still counted.
type optionalReady struct{ kratos.Observer }

func (o optionalReady) ObserveKratos(op string, err error, d time.Duration) {
	if op == "ready" && err != nil {
		return
	}
	o.Observer.ObserveKratos(op, err, d)
}

// redisReady is the Redis readiness check. A wrong or missing password
// (WRONGPASS, NOAUTH) is no outage that passes by itself: it is logged at
// ERROR, at most once a minute, with a hint to the key to fix (never the
// URL, which holds the password), and hint (the keys to check) is added to
// the error the readiness log line carries. caFile says whether
// store.redis.tls_ca_file is set (see redisTLSHint).
func redisReady(ping, inspect func(context.Context) error, hint string, caFile bool, logger *slog.Logger) func(context.Context) error {
	var (
		mu     sync.Mutex
		logged time.Time
	)
	return func(ctx context.Context) error {
		err := ping(ctx)
		if err == nil {
			return inspect(ctx)
		}
		if h := redisTLSHint(err, caFile); h != "" {
			return fmt.Errorf("%w (%s)", err, h)
		}
		if !isRedisAuthError(err) {
			return err
		}
		mu.Lock()
		now := time.Now()
		due := logged.IsZero() || now.Sub(logged) >= redisAuthLogEvery
		if due {
			logged = now
		}
		mu.Unlock()
		if due {
			logger.Error("Redis refused the store's credentials: check store.redis.url's password (and, with Sentinel, store.redis.sentinel_username and store.redis.sentinel_password)", "error", err.Error())
		}
		return fmt.Errorf("%w (%s)", err, hint)
	}
}

// redisInspection checks what the Redis store's guarantees depend on
// (redisstore.Store.Inspect) when serving starts and then at most every
// redisInspectEvery from /health/ready: a server the store cannot run on
// (a cluster node without store.redis.mode cluster) fails readiness with
// the reason; an eviction policy that
// may drop keys, or a clock far from Redis's, is logged as a warning.
type redisInspection struct {
	inspect func(context.Context) (redisstore.ServerInfo, error)
	logger  *slog.Logger

	mu      sync.Mutex
	at      time.Time
	problem error
}

const redisInspectEvery = time.Hour

func (r *redisInspection) check(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < redisInspectEvery {
		return r.problem
	}
	info, err := r.inspect(ctx)
	// Tried again after redisInspectEvery either way: an ACL that refuses
	// INFO refuses it every time.
	r.at, r.problem = time.Now(), info.Problem()
	if err != nil {
		// PING just answered, so this is no outage: what could not be read
		// is said once, and readiness is not failed for it.
		r.logger.Warn("could not inspect the Redis server fully (cluster mode, eviction policy, clock); the store still works", "error", err.Error())
	}
	if r.problem != nil {
		r.logger.Error("the Redis store cannot run on this server", "error", r.problem.Error())
	}
	for _, w := range info.Warnings() {
		r.logger.Warn("Redis store: "+w, "redis_version", info.Version)
	}
	return r.problem
}

// isRedisAuthError reports a password Redis refuses (WRONGPASS) or one it
// requires but did not get (NOAUTH).
func isRedisAuthError(err error) bool {
	if redis.IsAuthError(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "NOAUTH")
}

// redisTLSHint names the keys to check for a TLS failure of the store's
// connection ("" for any other error): a server certificate this side
// could not verify, or a client certificate Redis refused (an alert it
// sent: tls-auth-clients wants one, or one of its CA). caFile: whether
// store.redis.tls_ca_file is set.
func redisTLSHint(err error, caFile bool) string {
	var verify *tls.CertificateVerificationError
	if errors.As(err, &verify) {
		// The CA file is read again when it changes (7869d4f): a rotation
		// needs the new CA in the file, not a restart. Unset, the system's
		// CAs are used, and setting it is a change of the configuration.
		if !caFile {
			return "check store.redis.tls_ca_file: it is not set, so the system's CAs are used; set it to the PEM file of the servers' private CA and restart, and check that each server's certificate names the host it is dialed at"
		}
		return "check store.redis.tls_ca_file (it must hold the CA of the servers' certificates; the next connection reads it again, no restart needed), and that each server's certificate names the host it is dialed at"
	}
	msg := err.Error()
	// Every alert about a certificate is about the client's: the server's
	// is checked here. OpenSSL (Redis) says "certificate required" for none
	// (TLS 1.3), "unknown certificate authority" for another CA's, "expired
	// certificate", "revoked certificate", "unsupported certificate" (no
	// clientAuth use) and "bad certificate" or "unknown certificate" for
	// the rest: an expired one, a renewal that never reached the files, was
	// the one operators met without a hint.
	for _, alert := range []string{"certificate required", "unknown certificate authority", "bad certificate",
		"unknown certificate", "unsupported certificate", "revoked certificate", "expired certificate"} {
		if strings.Contains(msg, "remote error: tls: "+alert) {
			h := "Redis refused the client certificate: check store.redis.tls_cert_file and store.redis.tls_key_file"
			if alert == "expired certificate" {
				// The files are read again when they change: an expired one
				// in use means the renewal has not reached them, or does
				// not load (a warning said so).
				h += " (expired: renew the files; the next connection reads them, no restart needed)"
			}
			return h
		}
	}
	return ""
}

// Serve listens on the configured address and serves until ctx ends.
func (a *App) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Config.Serve.Listen)
	if err != nil {
		return fmt.Errorf("serve.listen %s: %w", a.Config.Serve.Listen, err)
	}
	return a.ServeListener(ctx, ln)
}

// ServeListener serves on ln (tests pass a listener on a free port).
func (a *App) ServeListener(ctx context.Context, ln net.Listener) error {
	a.Logger.Info("listening", "addr", ln.Addr().String(), "base_url", a.Config.Serve.BaseURL,
		"store", a.Config.Store.Type, "callpass_api", a.Config.CallPass.APIVersion, "dev", a.Config.DevMode)
	for _, check := range a.startChecks {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = check(cctx) // it logs what it finds
		}()
	}
	return a.Server.Serve(ctx, ln)
}

// Handler is the HTTP handler (for in-process tests).
func (a *App) Handler() http.Handler { return a.Server.Handler() }

// Close releases what New opened, in reverse order.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil && !errors.Is(err, redis.ErrClosed) {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}

func prefixesToNets(cfg *config.Config) []*net.IPNet {
	var out []*net.IPNet
	for _, p := range cfg.Serve.TrustedProxyPrefixes() {
		_, n, err := net.ParseCIDR(p.String())
		if err == nil {
			out = append(out, n)
		}
	}
	return out
}

// buildVersion is the module version stamped by `go build`/`go install`,
// for the service.version of exported spans.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
