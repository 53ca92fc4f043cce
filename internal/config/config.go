// Package config loads the service configuration: a strict YAML file, then
// environment overrides named the Ory way (key path upper-cased, dots to
// underscores), secrets also from files (`x.y_file`, `X_Y_FILE`), then --dev
// defaults for whatever is still unset, then validation that reports every
// problem at once.
//
// One table (keys.go) lists every key; the YAML walk, the environment
// overrides, the redacted printout and the reference documentation all read
// that table, so a key cannot exist in one place and be missing in another.
package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Config is the effective configuration. Load returns it filled and valid.
type Config struct {
	Serve     Serve     `yaml:"serve"`
	Log       Log       `yaml:"log"`
	CallPass  CallPass  `yaml:"callpass"`
	Webhook   Webhook   `yaml:"webhook"`
	Challenge Challenge `yaml:"challenge"`
	Limits    Limits    `yaml:"limits"`
	Store     Store     `yaml:"store"`
	Kratos    Kratos    `yaml:"kratos"`
	JWT       JWT       `yaml:"jwt"`
	Sim       Sim       `yaml:"sim"`
	Dev       Dev       `yaml:"dev"`
	Metrics   Metrics   `yaml:"metrics"`
	Tracing   Tracing   `yaml:"tracing"`

	// DevMode is true when Load ran with --dev. It is not a configuration key.
	DevMode bool `yaml:"-"`
}

// Serve is the HTTP listener.
type Serve struct {
	Listen          string        `yaml:"listen"`
	BaseURL         string        `yaml:"base_url"`
	TrustedProxies  []string      `yaml:"trusted_proxies"`
	ClientIPHeader  string        `yaml:"client_ip_header"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	AllowedOrigins  []string      `yaml:"allowed_origins"`
}

// Log selects the slog handler.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
	// RefusalsPerSecond caps the access-log lines per second of each kind
	// of refusal; 0 logs every one.
	RefusalsPerSecond int `yaml:"refusals_per_second"`
}

// CallPass is the flash-call provider.
type CallPass struct {
	BaseURL              string        `yaml:"base_url"`
	Token                string        `yaml:"token"`
	APIVersion           int           `yaml:"api_version"`
	Timeout              time.Duration `yaml:"timeout"`
	CodeLength           int           `yaml:"code_length"`
	Async                bool          `yaml:"async"`
	RequestTimeoutMargin time.Duration `yaml:"request_timeout_margin"`
}

// Webhook is the Kratos web_hook endpoint.
type Webhook struct {
	Secret       string `yaml:"secret"`
	MissingPhone string `yaml:"missing_phone"`
	// SettingsConfirmCurrent: a settings flow changing the number first
	// proves the current one (factor.Config.ConfirmCurrent).
	SettingsConfirmCurrent bool `yaml:"settings_confirm_current"`
}

// Challenge is the one-time-code lifecycle.
type Challenge struct {
	TTL             time.Duration   `yaml:"ttl"`
	MaxAttempts     int             `yaml:"max_attempts"`
	ResendCooldowns []time.Duration `yaml:"resend_cooldowns"`
	MaxResends      int             `yaml:"max_resends"`
	CodeKey         string          `yaml:"code_key"`
}

// Rule is a sliding-window budget: at most Limit events in any span of one Window.
type Rule struct {
	Limit  int           `yaml:"limit"`
	Window time.Duration `yaml:"window"`
}

// Regulation bans a key for BanTime after MaxFailures failures within FindTime.
type Regulation struct {
	MaxFailures int           `yaml:"max_failures"`
	FindTime    time.Duration `yaml:"find_time"`
	BanTime     time.Duration `yaml:"ban_time"`
}

// Limits are the abuse limits; none of them can be switched off.
type Limits struct {
	PerNumber   Rule `yaml:"per_number"`
	PerIdentity Rule `yaml:"per_identity"`
	PerIP       Rule `yaml:"per_ip"`
	GlobalDaily Rule `yaml:"global_daily"`
	// PhoneCheckPercent is the share of GlobalDaily that phone checks
	// (registration, settings) may use; logins and step-up keep the rest.
	PhoneCheckPercent int        `yaml:"phone_check_percent"`
	AllowPrefixes     []string   `yaml:"allow_prefixes"`
	DenyPrefixes      []string   `yaml:"deny_prefixes"`
	Regulation        Regulation `yaml:"regulation"`
}

// Store selects the challenge and counter store.
type Store struct {
	Type  string     `yaml:"type"`
	Redis RedisStore `yaml:"redis"`
}

// RedisStore is the Redis connection.
type RedisStore struct {
	// Mode is standalone, cluster or sentinel: how URL is read.
	Mode   string `yaml:"mode"`
	URL    string `yaml:"url"`
	Prefix string `yaml:"prefix"`
	// SentinelMaster, SentinelUsername and SentinelPassword: sentinel mode
	// only.
	SentinelMaster   string `yaml:"sentinel_master"`
	SentinelUsername string `yaml:"sentinel_username"`
	SentinelPassword string `yaml:"sentinel_password"`
	// TLSCAFile, TLSCertFile and TLSKeyFile: rediss:// only.
	TLSCAFile   string `yaml:"tls_ca_file"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// Kratos is the Ory Kratos instance.
type Kratos struct {
	PublicURL  string        `yaml:"public_url"`
	AdminURL   string        `yaml:"admin_url"`
	PhoneTrait string        `yaml:"phone_trait"`
	Timeout    time.Duration `yaml:"timeout"`
	// BrowserURL is the public API as browsers reach it (the /2fa page's
	// sign-in link); PublicURL may be a name only this service resolves.
	BrowserURL string `yaml:"browser_url"`
	// SessionCacheTTL > 0 caches whoami answers (the revocation window).
	SessionCacheTTL time.Duration `yaml:"session_cache_ttl"`
}

// JWT is the token issued after the second factor.
type JWT struct {
	Issuer       string        `yaml:"issuer"`
	Audience     []string      `yaml:"audience"`
	TTL          time.Duration `yaml:"ttl"`
	Algorithm    string        `yaml:"algorithm"`
	KeysFile     string        `yaml:"keys_file"`
	SigningKID   string        `yaml:"signing_kid"`
	ClaimsMapper string        `yaml:"claims_mapper"`
	// PhoneNumberClaim puts the called number in every token's
	// phone_number claim.
	PhoneNumberClaim bool      `yaml:"phone_number_claim"`
	Cookie           JWTCookie `yaml:"cookie"`
}

// JWTCookie optionally also sets the JWT as a cookie.
type JWTCookie struct {
	Enabled bool   `yaml:"enabled"`
	Name    string `yaml:"name"`
	Domain  string `yaml:"domain"`
}

// Sim is the built-in CallPass simulator.
type Sim struct {
	Enabled        bool              `yaml:"enabled"`
	SettleDelay    time.Duration     `yaml:"settle_delay"`
	DefaultOutcome string            `yaml:"default_outcome"`
	Scripts        map[string]string `yaml:"scripts"`
	Tokens         []string          `yaml:"tokens"`
}

// Dev holds settings used only with --dev.
type Dev struct {
	DataDir string `yaml:"data_dir"`
}

// Metrics toggles the Prometheus endpoint.
type Metrics struct {
	Enabled bool `yaml:"enabled"`
}

// Tracing configures OpenTelemetry export.
type Tracing struct {
	OTLPEndpoint string `yaml:"otlp_endpoint"`
}

// Defaults returns the configuration used for every key nobody set. Derived
// defaults (jwt.issuer, serve.allowed_origins, kratos.browser_url,
// log.format) stay empty here and are filled by Load once the values they
// derive from are known.
func Defaults() *Config {
	return &Config{
		Serve: Serve{
			Listen:          "127.0.0.1:4477",
			BaseURL:         "http://127.0.0.1:4477",
			ShutdownTimeout: 15 * time.Second,
		},
		Log: Log{Level: "info", RefusalsPerSecond: 100},
		CallPass: CallPass{
			BaseURL:              "https://api.callpass.sp-com.ru/",
			APIVersion:           3,
			Timeout:              30 * time.Second,
			CodeLength:           4,
			Async:                true,
			RequestTimeoutMargin: 5 * time.Second,
		},
		Webhook: Webhook{MissingPhone: "deny", SettingsConfirmCurrent: true},
		Challenge: Challenge{
			TTL:             5 * time.Minute,
			MaxAttempts:     3,
			ResendCooldowns: []time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second, 300 * time.Second},
			MaxResends:      5,
		},
		Limits: Limits{
			PerNumber:   Rule{Limit: 5, Window: time.Hour},
			PerIdentity: Rule{Limit: 10, Window: 24 * time.Hour},
			PerIP:       Rule{Limit: 20, Window: time.Hour},
			GlobalDaily: Rule{Limit: 10000, Window: 24 * time.Hour},
			// A flood of sign-ups (anyone can start one with any number)
			// spends at most half the budget; logins keep the rest.
			PhoneCheckPercent: 50,
			Regulation:        Regulation{MaxFailures: 3, FindTime: 10 * time.Minute, BanTime: 15 * time.Minute},
		},
		Store: Store{Type: "memory", Redis: RedisStore{Mode: "standalone", Prefix: "callpass:"}},
		Kratos: Kratos{
			PublicURL:  "http://127.0.0.1:4433",
			AdminURL:   "http://127.0.0.1:4434",
			PhoneTrait: "phone",
			Timeout:    5 * time.Second,
		},
		JWT: JWT{
			Audience:         []string{"callpass-kratos"},
			TTL:              10 * time.Minute,
			Algorithm:        "ES256",
			PhoneNumberClaim: true,
			Cookie:           JWTCookie{Name: "callpass_jwt"},
		},
		Sim:     Sim{SettleDelay: 2 * time.Second, DefaultOutcome: "no_answer"},
		Dev:     Dev{DataDir: ".callpass-dev"},
		Metrics: Metrics{Enabled: true},
	}
}

// Load builds the configuration: defaults, then the YAML file at path (if
// path is not empty), then env (os.Environ() form), then --dev defaults for
// what is still unset, then validation. It returns notices to print: what --dev
// did, and environment variables that look like misspelt configuration
// variables (envTypos). Configuration mistakes come back as one *ValidationError listing
// all of them; I/O failures (unreadable config file, dev data dir) as plain
// wrapped errors.
func Load(path string, env []string, dev bool) (*Config, []string, error) {
	return load(path, env, dev, nil)
}

// LoadSections is Load for commands that use only some sections (e.g. "call"
// needs only callpass.*): problems of keys outside the given prefixes are
// ignored, so a one-off command does not demand the webhook secret, and so
// are the limits that only a Kratos web hook's wait must fit (a synchronous
// call longer than Kratos's hook timeout is fine for "call").
func LoadSections(path string, env []string, dev bool, prefixes ...string) (*Config, []string, error) {
	return load(path, env, dev, prefixes)
}

func load(path string, env []string, dev bool, prefixes []string) (*Config, []string, error) {
	c := Defaults()
	c.DevMode = dev
	l := &loader{cfg: c, set: map[string]bool{}}

	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		if err := l.applyYAML(data); err != nil {
			return nil, nil, fmt.Errorf("config: parse %s: %w", path, err)
		}
	}
	l.applyEnv(envMap(env))

	var notices []string
	if dev {
		var err error
		if notices, err = applyDev(c, l.set); err != nil {
			return nil, nil, err
		}
	}
	if !dev {
		notices = append(notices, followListen(c, l.set)...)
	}
	notices = append(notices, envTypos(env)...)
	if n := codeKeyEndsNotice(c.Challenge.CodeKey); n != "" {
		notices = append(notices, n)
	}
	c.finalize()

	problems := l.problems
	var verr *ValidationError
	// A one-off command (LoadSections) answers no Kratos web hook.
	if err := c.validate(prefixes == nil, l.set); err != nil {
		if !asValidation(err, &verr) {
			return nil, nil, err
		}
		// A key the loader already reported (an unreadable secret file, a
		// value set twice) would also be "required" or invalid here: one
		// line per key is clearer.
		reported := map[string]bool{}
		for _, p := range l.problems {
			reported[strings.TrimSuffix(p.Key, "_file")] = true
		}
		for _, p := range verr.Problems {
			if !reported[p.Key] {
				problems = append(problems, p)
			}
		}
	}
	if prefixes != nil {
		problems = slices.DeleteFunc(problems, func(p Problem) bool {
			return !slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(p.Key, pre) })
		})
	}
	if len(problems) > 0 {
		return nil, nil, &ValidationError{Problems: problems, Notices: envTypos(env)}
	}
	return c, notices, nil
}

// codeKeyEndsNotice says, never quoting the key, that challenge.code_key
// starts or ends with spaces or tabs ("" when it does not). Helm's
// randAscii makes such keys (about one in fifty), and a copy of one easily
// loses them (a YAML plain value, systemd's EnvironmentFile, a terminal):
// an instance given the key without them keys codes and limits differently
// from the others. The key is kept as given: trimming it changed a key
// every instance shared, on upgrade (codes sent before were wrong guesses
// after, counters and bans started afresh, old and new instances of a
// rolling upgrade disagreed).
func codeKeyEndsNotice(key string) string {
	n := len(key) - len(strings.Trim(key, " \t"))
	if n == 0 || !utf8.ValidString(key) {
		// A raw binary key from a file is no text a copy trims.
		return ""
	}
	return fmt.Sprintf("challenge.code_key starts or ends with spaces or tabs (%d bytes in all): they are part of the key, so every instance must be given them "+
		"(quote the value in YAML and in systemd's EnvironmentFile, which drop them otherwise)", n)
}

// followListen gives serve.base_url, when it is not set, serve.listen's
// address if that is a loopback one: the issuer, the discovery document's
// JWKS URL and the /2fa page's links then name the port the service listens
// on, not the default's 4477 where nothing may answer. (A listen reachable
// from other hosts needs base_url set: validateBaseURLSet. --dev follows any
// listen: applyDev.)
func followListen(c *Config, set map[string]bool) []string {
	if !set["serve.listen"] || set["serve.base_url"] || c.Serve.BaseURL != Defaults().Serve.BaseURL ||
		!loopbackListen(c.Serve.Listen) {
		return nil
	}
	u, ok := localURL(c.Serve.Listen)
	// localhost:4477 is reached at the default's 127.0.0.1:4477 (Go listens
	// on localhost's IPv4 address): the issuer stays what it was.
	if !ok || u == c.Serve.BaseURL || strings.EqualFold(u, "http://localhost:4477") {
		return nil
	}
	c.Serve.BaseURL = u
	return []string{fmt.Sprintf("serve.base_url %s (from serve.listen; set serve.base_url to the URL apps reach this service at)", u)}
}

// finalize fills the defaults that derive from other keys and normalises
// spellings that have one canonical form.
func (c *Config) finalize() {
	c.Log.Level = strings.ToLower(c.Log.Level)
	c.Log.Format = strings.ToLower(c.Log.Format)
	if c.Log.Format == "" {
		if c.DevMode {
			c.Log.Format = "text"
		} else {
			c.Log.Format = "json"
		}
	}
	if c.JWT.Issuer == "" {
		// Apps compare iss exactly, and "https://x/" is not "https://x":
		// the default is the base URL without its trailing slash, the form
		// apps write. An issuer set explicitly is used as written.
		c.JWT.Issuer = strings.TrimRight(c.Serve.BaseURL, "/")
	}
	if c.Kratos.BrowserURL == "" {
		c.Kratos.BrowserURL = c.Kratos.PublicURL
	}
	if len(c.Serve.AllowedOrigins) == 0 {
		// Both origins a browser legitimately posts from: our own pages and
		// the Kratos public UI, as the browser reaches it. Unparseable URLs
		// are reported by Validate.
		for _, u := range []string{c.Serve.BaseURL, c.Kratos.BrowserURL} {
			if o, err := originOf(u); err == nil && !slices.Contains(c.Serve.AllowedOrigins, o) {
				c.Serve.AllowedOrigins = append(c.Serve.AllowedOrigins, o)
			}
		}
	} else {
		for i, o := range c.Serve.AllowedOrigins {
			if n, err := strictOrigin(o); err == nil {
				c.Serve.AllowedOrigins[i] = n
			}
		}
	}
}

// RequestTimeout is the HTTP client timeout for a CallPass request: the call
// timeout the provider may wait (synchronous mode) plus the margin.
func (c CallPass) RequestTimeout() time.Duration { return c.Timeout + c.RequestTimeoutMargin }

// Synchronous reports whether a start waits for the call's outcome: API v1
// has no asynchronous mode.
func (c CallPass) Synchronous() bool { return c.APIVersion == 1 || !c.Async }

// TrustedProxyPrefixes returns serve.trusted_proxies parsed; a bare address
// counts as a single-host prefix. Entries that do not parse are skipped
// (Validate reports them).
func (s Serve) TrustedProxyPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(s.TrustedProxies))
	for _, p := range s.TrustedProxies {
		if pfx, err := parsePrefix(p); err == nil {
			out = append(out, pfx)
		}
	}
	return out
}

// SlogLevel returns log.level as a slog.Level (info when unparseable).
func (l Log) SlogLevel() slog.Level {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return lv
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
