package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// Problem is one configuration mistake.
type Problem struct {
	Key     string
	Message string
}

func (p Problem) String() string { return p.Key + ": " + p.Message }

// ValidationError lists every configuration problem found, so a user fixes
// them all in one round instead of one per restart.
type ValidationError struct {
	Problems []Problem
	// Notices name environment variables that look like a misspelt
	// configuration variable (envTypos): ignored, they are often why a key
	// is missing or kept its default, so they are shown with the problems.
	Notices []string
}

// Error prints one line per problem, each starting with the key.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Keys returns the keys with problems, in order (for tests and tooling).
func (e *ValidationError) Keys() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.Key
	}
	return out
}

func asValidation(err error, target **ValidationError) bool { return errors.As(err, target) }

type checker struct {
	problems []Problem
	// hooks is true when the configuration serves Kratos's web hooks
	// (serve, config validate), false for a one-off command (call).
	hooks bool
	// set holds the keys given explicitly; nil when not known.
	set map[string]bool
}

func (v *checker) add(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// has reports whether key already has a problem.
func (v *checker) has(key string) bool {
	return slices.ContainsFunc(v.problems, func(p Problem) bool { return p.Key == key })
}

var (
	tokenRe     = regexp.MustCompile(`^(?:[0-9a-f]{32}|[0-9a-f]{64})$`)
	digitsRe    = regexp.MustCompile(`^[0-9]{1,15}$`)
	headerRe    = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	traitRe     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$`)
	domainRe    = regexp.MustCompile(`^\.?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	logLevels   = []string{"debug", "info", "warn", "error"}
	jwtAlgs     = []string{"ES256", "EdDSA", "RS256"}
	hexTokenMsg = "must be 32 or 64 lower-case hexadecimal characters"
)

// tokenProblem explains why a CallPass token is malformed without echoing
// any part of it; "" means the token is well-formed.
func tokenProblem(tok string) string {
	if tokenRe.MatchString(tok) {
		return ""
	}
	if n := len(tok); n != 32 && n != 64 {
		// A token pasted with a space or a stray line end (a *_file whose
		// editor added "\r\n", a quoted value with a space) is the usual
		// 33 or 65: say so, without showing any of it.
		if t := strings.TrimSpace(tok); t != tok && tokenRe.MatchString(t) {
			return fmt.Sprintf("%s (got %d characters: it starts or ends with a space or line break; remove it)", hexTokenMsg, n)
		}
		return fmt.Sprintf("%s (got %d characters)", hexTokenMsg, n)
	}
	if strings.ContainsAny(tok, "ABCDEF") && tokenRe.MatchString(strings.ToLower(tok)) {
		return hexTokenMsg + " (upper-case letters found)"
	}
	return hexTokenMsg + " (non-hex characters found)"
}

// Validate checks every key and returns a *ValidationError listing all
// problems, or nil.
func (c *Config) Validate() error { return c.validate(true, nil) }

// validate is Validate for Load. hooks false leaves out the checks that
// matter only to a service answering Kratos's web hooks (a one-off command
// such as "call" answers none); set holds the keys given in the file or the
// environment (nil: not known, the checks that need it are skipped).
func (c *Config) validate(hooks bool, set map[string]bool) error {
	v := &checker{hooks: hooks, set: set}
	c.validateServe(v)
	c.validateLog(v)
	c.validateCallPass(v)
	c.validateWebhook(v)
	c.validateChallenge(v)
	c.validateLimits(v)
	c.validateStore(v)
	c.validateKratos(v)
	c.validateOrigins(v) // after serve and kratos: it may derive from them
	c.validateJWT(v)
	c.validateSim(v)
	if c.DevMode && strings.TrimSpace(c.Dev.DataDir) == "" {
		v.add("dev.data_dir", "is required with --dev")
	}
	c.validateTracing(v)
	c.validatePlaceholders(v) // last: it skips keys already reported
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

// validateTracing checks the OTLP endpoint without repeating it: a URL may
// carry the collector's credentials.
func (c *Config) validateTracing(v *checker) {
	ep := c.Tracing.OTLPEndpoint
	if ep == "" {
		return
	}
	var port string
	if strings.Contains(ep, "://") {
		if err := httpURL(ep); err != nil {
			v.add("tracing.otlp_endpoint", "%v", err)
			return
		}
		u, _ := url.Parse(ep)
		// tracing.Setup refuses these (the exporter would drop them
		// silently and a collector that wants them refuse every export):
		// validate says so before serve does.
		if u.User != nil || u.RawQuery != "" || u.ForceQuery {
			v.add("tracing.otlp_endpoint", "must not carry credentials or a query (the exporter would not send them): give the collector's credentials in OTEL_EXPORTER_OTLP_HEADERS (e.g. Authorization=Basic …)")
			return
		}
		port = u.Port()
	} else {
		var host string
		host, port, _ = net.SplitHostPort(ep)
		if strings.Contains(host, "@") {
			// The exporter makes host:port a URL's host (tracing.Setup
			// refuses it too): user info there is no host.
			v.add("tracing.otlp_endpoint", "must not carry credentials (the exporter would not send them): give the collector's credentials in OTEL_EXPORTER_OTLP_HEADERS (e.g. Authorization=Basic …)")
			return
		}
		if !hostPortOK(ep) || !otlpHostOK(host) {
			v.add("tracing.otlp_endpoint", "must be host:port (a port 1-65535) or an http(s) URL")
			return
		}
	}
	// The exporter speaks OTLP over HTTP (internal/tracing). A collector's
	// 4317 is its OTLP/gRPC port, which does not answer OTLP/HTTP: every
	// export would fail, and only at run time.
	if port == "4317" {
		v.add("tracing.otlp_endpoint", "port 4317 is the collector's OTLP/gRPC port, but the exporter speaks OTLP/HTTP: use the collector's OTLP/HTTP port (4318 by default)")
	}
}

// otlpHostOK: the host of a host:port OTLP endpoint is an IP address, a
// host name, or empty (this host), as tracing.Setup accepts: the exporter
// puts it in a URL as is.
func otlpHostOK(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// placeholderMark marks the published example secrets (docker-compose.yml,
// examples/compose/kratos.yml, examples/kratos/kratos.yml).
const placeholderMark = "change-me"

// validatePlaceholders refuses, outside --dev, a secret that still holds a
// published example value: everybody who read the example knows it. Keys
// with a problem already are skipped, so each is reported once.
func (c *Config) validatePlaceholders(v *checker) {
	if c.DevMode {
		return
	}
	for _, e := range keys {
		if e.secret && !v.has(e.key) && holdsPlaceholder(e.field(c)) {
			v.add(e.key, "is a published placeholder (it contains %q): replace it with a secret of your own (e.g. openssl rand -hex 32)%s; "+
				"with docker-compose.yml, the header of examples/compose/real-callpass.yml has the step that replaces it",
				placeholderMark, placeholderHints[e.key])
		}
	}
}

// strict reports whether guessable secrets are refused: by the service
// (serve, config validate) outside --dev. A one-off command (bans, call)
// must work with the key the deployed service has, whatever it is: it
// finds the keyed names of numbers with it.
func (v *checker) strict(c *Config) bool { return v.hooks && !c.DevMode }

// weakSecret explains why a webhook secret or code key is guessable
// whatever its length, without quoting any of it; "" when nothing is
// found. A value holding the published placeholder mark is left to
// validatePlaceholders, which says how to replace the examples' values.
// The checks catch what people type or paste, not what a generator makes:
// 32 random hex, base64 or digits show none of the patterns but for odds
// below 1e-7 (minSecretChars), nor the words.
func weakSecret(s string) string {
	if holdsPlaceholder(&s) {
		return ""
	}
	if n := distinctChars(s); n < minSecretChars && (n <= 4 || repeats(s) || longRuns(s)) {
		return fmt.Sprintf("uses only %d different characters (one repeated, a few, or a short run of them repeated): a generated secret has far more, and this one is easy to guess", n)
	}
	if placeholderWordRe.MatchString(s) {
		return "holds a placeholder word (changeme, replace me, your secret, placeholder, …): it is no secret"
	}
	return ""
}

// unrunSecret is weakSecret for text meant to be replaced by a secret (a
// shell expression, a template's <placeholder>), checked before the
// length: "at least 32 bytes (got 23)" would hide what went wrong.
func unrunSecret(s string) string {
	if holdsPlaceholder(&s) {
		return ""
	}
	if m := unexpandedRe.FindString(s); m != "" {
		// README's `export WEBHOOK_SECRET=$(openssl rand -hex 32)` pasted
		// into an env file, a systemd unit or YAML: nothing runs it there.
		// Only the opener is named: the rest may be the secret's.
		opener := m[:2]
		if m[0] == '`' {
			opener = m[:1]
		}
		return fmt.Sprintf("holds a shell expression (%s…) that was never run: an env file, a systemd unit or the YAML file takes the text as it is", opener)
	}
	if templateRe.MatchString(s) {
		return "is a template's <placeholder>, not a secret"
	}
	return ""
}

// headerSecretProblem explains why Kratos's "Authorization: Bearer
// <secret>" can never equal "Bearer " + s, which the hooks compare it with
// (webhook/hooks.go), without quoting s; "" when it can. Every hook would
// be answered 401 while the configuration read as valid.
func headerSecretProblem(s string) string {
	if s == "" {
		return ""
	}
	ends := s[:1] + s[len(s)-1:]
	switch {
	case strings.ContainsAny(ends, "\r\n"):
		return "starts or ends with a line break, which no HTTP header carries: remove it"
	case strings.ContainsAny(ends, " \t"):
		// HTTP strips a header value's trailing spaces, so the header Kratos
		// sends never ends with one; a leading one would have to follow
		// "Bearer " in kratos.yml exactly, and is nearly always a slip.
		return "starts or ends with a space or tab: HTTP strips a trailing one from the header Kratos sends, and a leading one is easily lost in kratos.yml: remove it"
	case invisibleEnds(s):
		return invisibleEndsProblem
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }):
		return "holds a control character, which no HTTP header carries: use printable characters (openssl rand -hex 32)"
	case bearerCopied(s):
		return `starts with "Bearer ": that is the Authorization scheme Kratos's web-hook config writes in front of the secret; set webhook.secret to the part after it`
	case quotedRe.MatchString(s):
		// docker run --env-file and some .env readers keep quotes as part
		// of the value.
		return "is wrapped in quotes, which the file it came from kept as part of the value (docker run --env-file does): remove them"
	}
	return ""
}

// bearerCopied reports a secret that is Kratos's whole header value,
// "Bearer <token>": the scheme, then one token. A passphrase whose first
// word is "bearer" has more words after it and is a secret of its own.
func bearerCopied(s string) bool {
	const scheme = "Bearer "
	if len(s) <= len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return false
	}
	rest := strings.TrimLeft(s[len(scheme):], " \t")
	return rest != "" && !strings.ContainsAny(rest, " \t")
}

// shellCommand is a command line that makes or reads a secret, by the
// commands the docs and the usual tools name (a name of its own would
// match generated symbols too often) with its arguments; a bare name is
// found only as the whole value. Two-letter names (tr, od, op, …) only in
// $(…), whose opener is one character more: in backquotes they match a
// generated secret too often.
const (
	shellCommand = `(openssl|head|cat|pwgen|uuidgen|base64|xxd|hexdump|shuf|echo|printf|date|` +
		`python3?|perl|ruby|node|vault|kubectl|systemd-creds|pass|gopass|aws|gcloud|gpg|sops|docker) [^)` + "`" + `]*`
	shortCommand = `(tr|od|dd|jq|yq|op|bw|az) [^)]*`
)

// invisibleEnds reports whether text s starts or ends with a character
// that does not show: a byte order mark (a Windows editor's file), a
// no-break, zero-width or other Unicode space (a copied web page or chat).
// The secret file reader trims line ends only and HTTP strips ASCII
// spaces only, so the value differs from the one typed elsewhere (Kratos's
// hook config, another instance's environment). Bytes that are no UTF-8
// text (a raw binary key) are not read as characters.
func invisibleEnds(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	invisible := func(r rune) bool { return r > 0x7f && (unicode.IsSpace(r) || unicode.Is(unicode.Cf, r)) }
	return invisible(first) || invisible(last)
}

const invisibleEndsProblem = "starts or ends with an invisible character (a byte order mark a Windows editor wrote, or a no-break or zero-width space copied from a page): remove it"

// minSecretChars: fewer different characters, in a pattern (weakSecret),
// is a key typed by hand (one repeated, a word repeated), not one
// generated. Fewer alone is not: 32 random digits (106 bits) hold 7 or
// fewer in one draw in 800; 4 or fewer, a run repeated or runs of one
// character averaging 2 below 1e-7.
const minSecretChars = 8

// repeats reports whether s is a run of at most half its length repeated
// (the last copy may be cut short): "secretsecretsecr".
func repeats(s string) bool {
	for p := 1; p <= len(s)/2; p++ {
		if s[p:] == s[:len(s)-p] {
			return true
		}
	}
	return false
}

// longRuns reports whether s is made of runs of one character 2 long or
// more on average: "aaaabbbbccccdddd".
func longRuns(s string) bool {
	runs := 1
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1] {
			runs++
		}
	}
	return 2*runs <= len(s)
}

var (
	// unexpandedRe finds command substitution or a variable reference a
	// shell would have expanded, as people write them: a command line in
	// $(…) or backquotes (shellCommand), a value of bare commands alone
	// ($(uuidgen)$(uuidgen)), a variable of 6 characters or more in ${…}
	// (upper case and digits, or lower-case letters). A generator's
	// symbols ("pwgen -sy", a password manager, Helm's randAscii) hold a
	// backquote, "$(" or "${" often (half of pwgen -sy 64's secrets a
	// backquote) but such a run seldom: below 1e-6 for 64 characters of
	// printable ASCII (TestGeneratedSecretsAccepted).
	unexpandedRe = regexp.MustCompile(`\$\((` + shellCommand + `|` + shortCommand + `|< ?/[a-z][^)]*)\)|` + "`(" + shellCommand + ")`" +
		"|^(\\$\\([a-z][a-z0-9_.-]*\\)|`[a-z][a-z0-9_.-]*`)+$" +
		`|\$\{([A-Z_][A-Z0-9_]{5,}|[a-z_]{6,})(:[-=?+][^}]*)?\}`)
	// templateRe is a template's placeholder: words in angle brackets,
	// which a generated secret is not but for odds below 1e-12.
	templateRe = regexp.MustCompile(`^<[A-Za-z][A-Za-z0-9 _.:-]*>$`)
	// quotedRe is a secret an env file kept its quotes around: a value of
	// letters, digits, spaces and base64's symbols inside quotes of one
	// kind. A generated secret with symbols may start and end with the
	// same quote (one in 4,400 of pwgen -sy's); its inside then holds
	// other symbols but for odds below 1e-8.
	quotedRe = regexp.MustCompile(`^("[A-Za-z0-9 +/=_.~-]*"|'[A-Za-z0-9 +/=_.~-]*')$`)

	// placeholderWordRe finds the usual "fill this in" words as words (in
	// any case, separated by -, _, . or a space, or not at all): inside
	// another word ("exchangemetrics") they are no placeholder.
	placeholderWordRe = regexp.MustCompile(`(?i)(^|[^a-z])(change[-_. ]?(me|it|this)|replace[-_. ]?(me|this)|your[-_. ]?(secret|key|token|password)|placeholder)([^a-z]|$)`)
)

func distinctChars(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

// placeholderHints add what else changes with a replaced secret.
var placeholderHints = map[string]string{
	"webhook.secret": ", the same value in the Authorization: Bearer header of Kratos's web hooks",
}

// placeholderRe finds placeholderMark as a word, in any case: a Redis host
// named "exchange-metrics" holds no placeholder.
var placeholderRe = regexp.MustCompile(`(?i)(^|[^a-z0-9])` + placeholderMark)

// holdsPlaceholder reports whether the secret field p points to contains
// placeholderMark.
func holdsPlaceholder(p any) bool {
	has := placeholderRe.MatchString
	switch v := p.(type) {
	case *string:
		return has(*v)
	case *[]string:
		return slices.ContainsFunc(*v, has)
	}
	return false
}

func (c *Config) validateServe(v *checker) {
	s := c.Serve
	if !hostPortOK(s.Listen) {
		v.add("serve.listen", "must be host:port with a port 1-65535 (e.g. 127.0.0.1:4477), got %q", s.Listen)
	}
	if err := httpURL(s.BaseURL); err != nil {
		v.add("serve.base_url", "%v", err)
	} else if u, _ := url.Parse(s.BaseURL); u.RawQuery != "" || u.Fragment != "" {
		v.add("serve.base_url", "must not have a query or fragment")
	}
	for _, p := range s.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			v.add("serve.trusted_proxies", "%q is not a CIDR or IP address", p)
		}
	}
	switch h := s.ClientIPHeader; {
	case h != "" && !headerRe.MatchString(h):
		v.add("serve.client_ip_header", "%q is not a valid header name", h)
	case strings.EqualFold(h, "X-Forwarded-For") || strings.EqualFold(h, "Forwarded"):
		// The header is believed from any peer and read as one address:
		// a proxy appends to these, so what the client sent comes first
		// (or the value is a list, no address, and the proxy's is used).
		v.add("serve.client_ip_header", "is %s, which proxies append to instead of overwriting it: the address a client writes there would be believed; "+
			"leave it empty and list the proxies in serve.trusted_proxies (X-Forwarded-For is then read from them only; a proxy on this host is 127.0.0.1 and ::1, trusted only when listed), or name a header your proxy overwrites (X-Real-IP, CF-Connecting-IP, True-Client-IP)", h)
	}
	c.validateBaseURLSet(v)
	positive(v, "serve.shutdown_timeout", s.ShutdownTimeout)
	for i, o := range s.AllowedOrigins {
		if n, err := strictOrigin(o); err != nil || n != o {
			// Named by position, not repeated: an entry with user info
			// would carry a credential into the log.
			v.add("serve.allowed_origins", "entry %d is not an origin (scheme://host[:port] in lower case, no path, no user info)", i+1)
		}
	}
}

// validateOrigins reports an empty serve.allowed_origins. An empty list left
// unset is derived from serve.base_url and kratos.browser_url (Load's
// finalize) and is empty only when neither parses: those are reported
// already, and the admin never wrote this key.
func (c *Config) validateOrigins(v *checker) {
	if len(c.Serve.AllowedOrigins) > 0 {
		return
	}
	if v.has("serve.base_url") && (v.has("kratos.browser_url") || v.has("kratos.public_url")) {
		return
	}
	v.add("serve.allowed_origins", "must list at least one origin")
}

func (c *Config) validateLog(v *checker) {
	if !slices.Contains(logLevels, strings.ToLower(c.Log.Level)) {
		v.add("log.level", "must be one of %s, got %q", strings.Join(logLevels, ", "), c.Log.Level)
	}
	if c.Log.RefusalsPerSecond < 0 {
		v.add("log.refusals_per_second", "must be 0 (log every refusal) or more, got %d", c.Log.RefusalsPerSecond)
	}
	if f := strings.ToLower(c.Log.Format); f != "json" && f != "text" {
		v.add("log.format", "must be json or text, got %q", c.Log.Format)
	}
}

// apiPathRe matches the end of a callpass.base_url path that already holds
// what the client appends: a version (/api/v3.0), a method name, or both.
var apiPathRe = regexp.MustCompile(`(?i)/(api/v\d+(\.\d+)?(/+(start-call-password|get-call-password-status))?|start-call-password|get-call-password-status)/*$`)

func (c *Config) validateCallPass(v *checker) {
	p := c.CallPass
	if err := httpURL(p.BaseURL); err != nil {
		v.add("callpass.base_url", "%v", err)
	} else if u, _ := url.Parse(p.BaseURL); u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		v.add("callpass.base_url", "must not contain credentials, a query or a fragment (the token goes in callpass.token)")
	} else if api := apiPathRe.FindString(u.Path); api != "" {
		// The provider's document shows whole method URLs; pasted here,
		// every request would go to <it>/api/v3.0/… and be answered 404.
		// Only the API part is quoted: the path in front of it may carry a
		// credential (a proxy's), and configuration errors never repeat a URL.
		v.add("callpass.base_url", "names an API method or version path (%s): give the API's root, e.g. %s; the client adds /api/v%d.0/<method>/ itself (callpass.api_version)",
			api, Defaults().CallPass.BaseURL, p.APIVersion)
	}
	switch {
	case p.Token == "" && c.DevMode && (v.set["callpass.base_url"] || p.BaseURL != Defaults().CallPass.BaseURL):
		// Set explicitly, even to the default (the real API's) URL: that is
		// what turned the simulator off (dev.go).
		v.add("callpass.token", "is required (set CALLPASS_TOKEN or callpass.token_file): callpass.base_url is configured, so calls go there and --dev generates no token for them (leave callpass.base_url unset to call the built-in simulator)")
	case p.Token == "" && c.DevMode:
		v.add("callpass.token", "is required (set CALLPASS_TOKEN or callpass.token_file): sim.enabled is false, so --dev runs no built-in simulator and generates no token")
	case p.Token == "":
		v.add("callpass.token", "is required (set CALLPASS_TOKEN or callpass.token_file); use --dev for the built-in simulator")
	default:
		if msg := tokenProblem(p.Token); msg != "" {
			v.add("callpass.token", "%s", msg)
		}
	}
	if p.APIVersion < 1 || p.APIVersion > 3 {
		v.add("callpass.api_version", "must be 1, 2 or 3, got %d", p.APIVersion)
	}
	switch {
	case p.Timeout%time.Second != 0:
		v.add("callpass.timeout", "must be a whole number of seconds (the provider takes an integer 2..99), got %s", formatDuration(p.Timeout))
	case p.Timeout < 2*time.Second || p.Timeout > 99*time.Second:
		v.add("callpass.timeout", "must be between 2s and 99s (the provider's range), got %s", formatDuration(p.Timeout))
	}
	if p.CodeLength < 4 || p.CodeLength > 7 {
		v.add("callpass.code_length", "must be between 4 and 7, got %d", p.CodeLength)
	}
	positive(v, "callpass.request_timeout_margin", p.RequestTimeoutMargin)
	// A synchronous start holds Kratos's web-hook request until the call
	// ends. Past Kratos's own client timeout the user gets a 504 and Kratos
	// sends the hook again: a second paid call.
	if v.hooks && p.Synchronous() && p.Timeout >= 2*time.Second && p.RequestTimeout() > MaxSynchronousWait {
		v.add("callpass.timeout", "with a synchronous start (api_version 1, or async: false) the login waits up to timeout + request_timeout_margin = %s for the provider, "+
			"longer than Kratos's %s web-hook timeout allows (at most %s); lower them, or use api_version 2 or 3 with async: true",
			formatDuration(p.RequestTimeout()), formatDuration(KratosWebhookTimeout), formatDuration(MaxSynchronousWait))
	}
	// The same hook is an in-flight request at SIGTERM: a graceful shutdown
	// shorter than its longest wait cuts the login while its call is placed.
	// (A wait past MaxSynchronousWait is reported above and must shrink
	// first, so the shutdown is measured against a wait that can stay.)
	if sd := c.Serve.ShutdownTimeout; v.hooks && p.Synchronous() && sd > 0 && p.RequestTimeoutMargin > 0 &&
		p.RequestTimeout() <= MaxSynchronousWait && sd < p.RequestTimeout() {
		v.add("serve.shutdown_timeout", "is %s, but with a synchronous start (api_version 1, or async: false) a login may wait up to callpass.timeout + callpass.request_timeout_margin = %s for the provider, "+
			"and a shutdown (SIGTERM) would cut it while its call is placed; set it to at least %s, or use api_version 2 or 3 with async: true",
			formatDuration(sd), formatDuration(p.RequestTimeout()), formatDuration(p.RequestTimeout()))
	}
}

// KratosWebhookTimeout is the HTTP client timeout Kratos (v1.3) uses for a
// web hook; MaxSynchronousWait leaves room under it for the rest of the hook.
const (
	KratosWebhookTimeout = 30 * time.Second
	MaxSynchronousWait   = 25 * time.Second
)

func (c *Config) validateWebhook(v *checker) {
	w := c.Webhook
	switch {
	case w.Secret == "":
		v.add("webhook.secret", "is required (set WEBHOOK_SECRET or webhook.secret_file); use --dev to generate one")
	case headerSecretProblem(w.Secret) != "":
		v.add("webhook.secret", "%s", headerSecretProblem(w.Secret))
	case v.strict(c) && unrunSecret(w.Secret) != "":
		v.add("webhook.secret", "%s; generate one with openssl rand -hex 32 and put the same value in the Authorization: Bearer header of Kratos's web hooks", unrunSecret(w.Secret))
	case len(w.Secret) < 32:
		v.add("webhook.secret", "must be at least 32 bytes (got %d)", len(w.Secret))
	case v.strict(c) && weakSecret(w.Secret) != "":
		v.add("webhook.secret", "%s; generate one with openssl rand -hex 32 and put the same value in the Authorization: Bearer header of Kratos's web hooks", weakSecret(w.Secret))
	}
	if w.MissingPhone != "deny" && w.MissingPhone != "allow" {
		v.add("webhook.missing_phone", "must be deny or allow, got %q", w.MissingPhone)
	}
}

func (c *Config) validateChallenge(v *checker) {
	ch := c.Challenge
	if positive(v, "challenge.ttl", ch.TTL) && ch.TTL <= c.CallPass.Timeout {
		v.add("challenge.ttl", "must be longer than callpass.timeout (%s), got %s",
			formatDuration(c.CallPass.Timeout), formatDuration(ch.TTL))
	}
	if ch.MaxAttempts < 1 {
		v.add("challenge.max_attempts", "must be at least 1, got %d", ch.MaxAttempts)
	}
	if len(ch.ResendCooldowns) == 0 {
		v.add("challenge.resend_cooldowns", "must list at least one duration")
	}
	for i, d := range ch.ResendCooldowns {
		if d <= 0 {
			v.add("challenge.resend_cooldowns", "every cooldown must be positive, got %s", formatDuration(d))
			break
		}
		if i > 0 && d < ch.ResendCooldowns[i-1] {
			v.add("challenge.resend_cooldowns", "must not decrease: %s after %s (each resend waits at least as long as the one before)",
				formatDuration(d), formatDuration(ch.ResendCooldowns[i-1]))
			break
		}
	}
	if ch.MaxResends < 0 {
		v.add("challenge.max_resends", "must not be negative, got %d", ch.MaxResends)
	}
	switch {
	case ch.CodeKey == "":
		v.add("challenge.code_key", "is required (set CHALLENGE_CODE_KEY or challenge.code_key_file); use --dev to generate one")
	case v.strict(c) && invisibleEnds(ch.CodeKey):
		// Another instance given the key without it would key codes and
		// limits differently.
		v.add("challenge.code_key", "%s", invisibleEndsProblem)
	case v.strict(c) && unrunSecret(ch.CodeKey) != "":
		v.add("challenge.code_key", "%s; generate one with openssl rand -hex 32 (the same on every instance)", unrunSecret(ch.CodeKey))
	case len(ch.CodeKey) < 32:
		v.add("challenge.code_key", "must be at least 32 bytes (got %d)", len(ch.CodeKey))
	case v.strict(c) && weakSecret(ch.CodeKey) != "":
		v.add("challenge.code_key", "%s; generate one with openssl rand -hex 32 (the same on every instance)", weakSecret(ch.CodeKey))
	}
}

func (c *Config) validateLimits(v *checker) {
	l := c.Limits
	rule := func(name string, r Rule) {
		if r.Limit <= 0 {
			v.add("limits."+name+".limit", "must be positive, got %d: limits cannot be disabled; set a very large value instead", r.Limit)
		}
		if r.Window <= 0 {
			v.add("limits."+name+".window", "must be positive, got %s: limits cannot be disabled; set a very large limit instead", formatDuration(r.Window))
		} else if r.Window < minLimitTime {
			v.add("limits."+name+".window", "must be at least %s, got %s: the stores count in whole milliseconds, and a shorter window limits nothing", formatDuration(minLimitTime), formatDuration(r.Window))
		}
	}
	rule("per_number", l.PerNumber)
	rule("per_identity", l.PerIdentity)
	rule("per_ip", l.PerIP)
	rule("global_daily", l.GlobalDaily)
	if l.PhoneCheckPercent < 1 || l.PhoneCheckPercent > 100 {
		v.add("limits.phone_check_percent", "must be 1..100, got %d: the share of limits.global_daily that phone checks may use (100: no separate share)", l.PhoneCheckPercent)
	}
	for _, list := range []struct {
		key string
		v   []string
	}{{"limits.allow_prefixes", l.AllowPrefixes}, {"limits.deny_prefixes", l.DenyPrefixes}} {
		for _, p := range list.v {
			if !digitsRe.MatchString(p) {
				v.add(list.key, "%q is not a digit prefix (E.164 without +, e.g. 79)", p)
			}
		}
	}
	r := l.Regulation
	if r.MaxFailures <= 0 {
		v.add("limits.regulation.max_failures", "must be positive, got %d: limits cannot be disabled; set a very large value instead", r.MaxFailures)
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"limits.regulation.find_time", r.FindTime}, {"limits.regulation.ban_time", r.BanTime}} {
		if positive(v, d.key, d.d) && d.d < minLimitTime {
			v.add(d.key, "must be at least %s, got %s: the stores keep it in whole milliseconds", formatDuration(minLimitTime), formatDuration(d.d))
		}
	}
}

// minLimitTime is the shortest limit window, find_time and ban_time: Redis
// keeps them in milliseconds (a ban of 500µs would be 0 there, which Redis
// refuses), and anything near it is a mistyped unit.
const minLimitTime = time.Second

func (c *Config) validateStore(v *checker) {
	s := c.Store
	switch s.Type {
	case "memory":
		if s.Redis.URL != "" {
			v.add("store.redis.url", "is set, but store.type is memory: set store.type: redis (STORE_TYPE=redis) or remove it")
		}
		if s.Redis.Mode != "" && s.Redis.Mode != redisstore.ModeStandalone {
			v.add("store.redis.mode", "is %s, but store.type is memory: set store.type: redis (STORE_TYPE=redis) or remove it", s.Redis.Mode)
		}
		for _, f := range s.Redis.tlsFiles() {
			if f.path != "" {
				v.add(f.key, "is set, but store.type is memory: set store.type: redis (STORE_TYPE=redis) or remove it")
			}
		}
	case "redis":
		c.validateRedisMode(v)
		c.validateRedisTLS(v)
		if s.Redis.URL == "" {
			v.add("store.redis.url", "is required when store.type is redis (set STORE_REDIS_URL or store.redis.url_file)")
		} else if msg := redisURLProblem(s.Redis.Mode, s.Redis.URL); msg != "" {
			// Never echo the URL: it may carry a password.
			v.add("store.redis.url", "%s", msg)
		}
		if s.Redis.Prefix == "" {
			v.add("store.redis.prefix", "must not be empty")
		} else if s.Redis.Mode == redisstore.ModeCluster && strings.ContainsAny(s.Redis.Prefix, "{}") {
			// The store's keys put their hash tag right after the prefix
			// (P{tag}:...): a brace in P moves or empties the tag ("a{}"
			// hashes whole keys, so an identity's keys fall in different
			// slots and every script fails with CROSSSLOT; "{x}" puts every
			// key in one slot, on one master).
			v.add("store.redis.prefix", "must not contain { or } when store.redis.mode is cluster: the store's own hash tags follow it")
		}
	default:
		v.add("store.type", "must be memory or redis, got %q", s.Type)
	}
}

// validateRedisMode checks store.redis.mode and the keys only one mode
// reads.
func (c *Config) validateRedisMode(v *checker) {
	r := c.Store.Redis
	switch r.Mode {
	case redisstore.ModeStandalone, redisstore.ModeCluster:
	case redisstore.ModeSentinel:
		if r.SentinelMaster == "" {
			v.add("store.redis.sentinel_master", "is required when store.redis.mode is sentinel: the name the sentinels monitor the master under")
		}
		if r.SentinelUsername != "" && r.SentinelPassword == "" {
			// The client would send no AUTH at all: the sentinels would be
			// reached as their default user, the username ignored.
			v.add("store.redis.sentinel_username", "is set without store.redis.sentinel_password: an ACL user is reached with its password; set store.redis.sentinel_password (or store.redis.sentinel_password_file)")
		}
	default:
		v.add("store.redis.mode", "must be standalone, cluster or sentinel, got %q", r.Mode)
		return
	}
	if r.Mode != redisstore.ModeSentinel {
		if r.SentinelMaster != "" {
			v.add("store.redis.sentinel_master", "is set, but store.redis.mode is %s: set store.redis.mode: sentinel or remove it", r.Mode)
		}
		if r.SentinelUsername != "" {
			v.add("store.redis.sentinel_username", "is set, but store.redis.mode is %s: set store.redis.mode: sentinel or remove it", r.Mode)
		}
		if r.SentinelPassword != "" {
			v.add("store.redis.sentinel_password", "is set, but store.redis.mode is %s: set store.redis.mode: sentinel or remove it", r.Mode)
		}
	}
}

// tlsFiles lists store.redis.tls_* with their values.
func (r RedisStore) tlsFiles() []struct{ key, path string } {
	return []struct{ key, path string }{
		{"store.redis.tls_ca_file", r.TLSCAFile},
		{"store.redis.tls_cert_file", r.TLSCertFile},
		{"store.redis.tls_key_file", r.TLSKeyFile},
	}
}

// validateRedisTLS checks store.redis.tls_*: a rediss:// URL, files that
// can be read and hold what they should, a client certificate with its
// key, as redisstore.NewClient reads them. The messages name the files,
// never the URL nor a key.
func (c *Config) validateRedisTLS(v *checker) {
	r := c.Store.Redis
	if (redisstore.TLS{CAFile: r.TLSCAFile, CertFile: r.TLSCertFile, KeyFile: r.TLSKeyFile}).IsZero() {
		return
	}
	if scheme, _, ok := strings.Cut(r.URL, "://"); ok && !strings.EqualFold(scheme, "rediss") {
		for _, f := range r.tlsFiles() {
			if f.path != "" {
				v.add(f.key, "is set, but store.redis.url is not a rediss:// URL: it is read for TLS connections only; use rediss:// or remove it")
			}
		}
		return
	}
	if r.TLSCAFile != "" {
		if _, err := redisstore.LoadCA(r.TLSCAFile); err != nil {
			v.add("store.redis.tls_ca_file", "%v%s", err, relativeNote(r.TLSCAFile, err))
		} else if skipsVerify(r.URL) {
			v.add("store.redis.tls_ca_file", "is set, but store.redis.url's skip_verify option turns certificate checks off: remove skip_verify")
		}
	}
	switch {
	case r.TLSCertFile != "" && r.TLSKeyFile == "":
		v.add("store.redis.tls_key_file", "is required with store.redis.tls_cert_file: the client certificate's private key (PEM)")
	case r.TLSKeyFile != "" && r.TLSCertFile == "":
		v.add("store.redis.tls_cert_file", "is required with store.redis.tls_key_file: the client certificate (PEM) the key belongs to")
	case r.TLSCertFile != "":
		unreadable := false
		for _, f := range r.tlsFiles()[1:] {
			if _, err := os.ReadFile(f.path); err != nil {
				unreadable = true
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				v.add(f.key, "cannot read %s: %v%s", f.path, err, relativeNote(f.path, err))
			}
		}
		if !unreadable {
			if _, err := redisstore.LoadClientCert(r.TLSCertFile, r.TLSKeyFile); err != nil {
				v.add("store.redis.tls_cert_file", "%v", err)
			}
		}
	}
}

// relativeNote says where a missing file named by a relative path was
// looked for: the working directory (systemd's is /), not the directory of
// the configuration file that names it.
func relativeNote(path string, err error) string {
	if path == "" || filepath.IsAbs(path) || !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	wd, werr := os.Getwd()
	if werr != nil {
		return " (a relative path, read from the working directory)"
	}
	return " (a relative path, read from the working directory " + wd + ")"
}

// skipsVerify reports whether a Redis URL's skip_verify option (any of its
// values) turns certificate checks off.
func skipsVerify(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	for _, val := range u.Query()["skip_verify"] {
		if on, err := strconv.ParseBool(val); err == nil && on {
			return true
		}
	}
	return false
}

// redisURLProblem explains what is wrong with a Redis URL in a mode
// (store.redis.mode), "" when nothing is. It never repeats the URL, nor an
// error of a parser that quotes it: it may carry a password.
func redisURLProblem(mode, s string) string {
	want, schemes := "must be a redis://, rediss:// or unix:// URL", "redis, rediss or unix"
	if mode == redisstore.ModeCluster || mode == redisstore.ModeSentinel {
		want, schemes = "must be a redis:// or rediss:// URL", "redis or rediss"
	}
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return want + " (no scheme:// in front?)"
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss":
	case "unix":
		if mode == redisstore.ModeCluster || mode == redisstore.ModeSentinel {
			return fmt.Sprintf("is a unix:// socket, which store.redis.mode %s cannot use: it reaches %s over TCP; use redis:// or rediss://", mode,
				map[string]string{redisstore.ModeCluster: "every node of the cluster", redisstore.ModeSentinel: "the sentinels and the master they name"}[mode])
		}
	default:
		return want + " (its scheme is not " + schemes + ")"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "does not parse as a URL: check the host, the port and any %-escapes (a password with @, : or / must be %-escaped)"
	case u.Scheme == "unix" && u.Path == "":
		return "has no socket path (unix:///path/to/redis.sock)"
	case u.Scheme != "unix" && u.Host == "":
		switch mode {
		case redisstore.ModeCluster:
			return "has no host (redis://[:password@]host1:port?addr=host2:port&addr=host3:port)"
		case redisstore.ModeSentinel:
			return "has no host (redis://[:password@]sentinel1:26379/db?addr=sentinel2:26379)"
		}
		return "has no host (redis://[:password@]host:port/db)"
	}
	if strings.Contains(u.Host, ",") {
		// go-redis reads one host from the URL, hosts listed with commas
		// as one ("[r1:6379,r2]:6379"), which fails only at the first dial.
		switch mode {
		case redisstore.ModeCluster:
			return "lists hosts with commas, which the client reads as one host: give the first as the host and the others as options, redis://[:password@]host1:port?addr=host2:port&addr=host3:port"
		case redisstore.ModeSentinel:
			return "lists sentinels with commas, which the client reads as one host: give the first as the host and the others as options, redis://[:password@]sentinel1:26379/db?addr=sentinel2:26379"
		}
		return "lists hosts with commas, which the client reads as one host: standalone takes one host:port (a cluster or sentinels: store.redis.mode cluster or sentinel, the other hosts as ?addr=host:port)"
	}
	if u.User != nil && u.User.Username() != "" {
		// go-redis authenticates only with a password: a user name alone
		// (most often a password written without its colon) sends no AUTH,
		// so the service reached Redis as its default user, or met NOAUTH
		// on every request, while the URL read as fine. Not quoted: it may
		// be the password. An empty user info (redis://@host) names no
		// user and asks for no AUTH.
		if _, ok := u.User.Password(); !ok {
			return "has a user name but no password, so the client would send none and reach Redis as its default user: " +
				"a password alone is written with a colon before it, redis://:password@host:port; an ACL user as redis://user:password@host:port"
		}
	}
	q := u.Query()
	switch mode {
	case redisstore.ModeCluster:
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			return "names a database (" + u.Path + "), but Redis Cluster has database 0 only: remove the path or use /0"
		}
		if q.Has("db") {
			return "has a db option, but Redis Cluster has database 0 only: remove it"
		}
	case redisstore.ModeSentinel:
		for _, o := range []struct{ name, where string }{
			{"master_name", "store.redis.sentinel_master"},
			{"password", "the URL's user info (redis://:password@sentinel:26379)"},
			{"username", "the URL's user info (redis://user:password@sentinel:26379)"},
		} {
			if q.Has(o.name) {
				return "has the option " + o.name + ": give it in " + o.where
			}
		}
	}
	for _, o := range []string{"read_only", "replica_only", "route_by_latency", "route_randomly"} {
		// Every value: go-redis reads a repeated option's last, Get the first.
		for _, val := range q[o] {
			if on, err := strconv.ParseBool(val); err == nil && on && mode != redisstore.ModeStandalone && mode != "" {
				return "has the option " + o + ", which sends reads to replicas: they lag behind the master, and a lookup there could miss a challenge just created; remove it"
			}
		}
	}
	// The client's own parser (database number, options), as serve uses it.
	var perr error
	switch mode {
	case redisstore.ModeCluster:
		_, perr = redis.ParseClusterURL(s)
	case redisstore.ModeSentinel:
		_, perr = redis.ParseFailoverURL(s)
	default:
		_, perr = redis.ParseURL(s)
	}
	if perr != nil {
		return redisParseProblem(perr)
	}
	return ""
}

// redisParseProblem names what go-redis refused in a URL whose scheme and
// host are fine, without quoting the URL or any option's value.
func redisParseProblem(err error) string {
	msg := err.Error()
	if m := redisOptionRe.FindStringSubmatch(msg); m != nil && m[1] != "database" {
		return fmt.Sprintf("has an invalid value for the option %s (want a %s)", m[1], m[2])
	}
	switch {
	case strings.Contains(msg, "invalid database number"):
		return "has a database that is not a number: the path must be /<db>, e.g. /0"
	case strings.Contains(msg, "invalid URL path"):
		return "has a path that is not a database number: the path must be /<db>, e.g. /0"
	case strings.Contains(msg, "unable to parse addr param"):
		return "has an addr option that is not host:port"
	case strings.Contains(msg, "unexpected option: "):
		// go-redis lists the option names only, never their values.
		_, names, _ := strings.Cut(msg, "unexpected option: ")
		return "has an option the Redis client does not know: " + names
	}
	return "is refused by the Redis client's URL parser (check the database number and the query options)"
}

// redisOptionRe matches go-redis's error for an option's value; the value
// itself, which it may quote, is not captured.
var redisOptionRe = regexp.MustCompile(`invalid ([a-z_]+) (number|duration|boolean)`)

// validateBaseURLSet reports, outside --dev, a serve.base_url left at its
// loopback default while serve.listen takes connections from elsewhere:
// the JWT issuer, the JWKS URL of the discovery document and the /2fa
// page's links would all name 127.0.0.1. A default written out explicitly
// (v.set) is a choice, e.g. a port published on the host's loopback only.
func (c *Config) validateBaseURLSet(v *checker) {
	def := Defaults().Serve.BaseURL
	if v.set == nil || c.DevMode || v.set["serve.base_url"] || c.Serve.BaseURL != def || loopbackListen(c.Serve.Listen) {
		return
	}
	v.add("serve.base_url", "is the default %s but serve.listen is %s: set it to the URL browsers and apps reach this service at (SERVE_BASE_URL, e.g. https://2fa.example.com)",
		def, c.Serve.Listen)
}

// loopbackListen reports whether listen accepts connections from this host
// only (a loopback address or localhost); an unparseable value counts as
// loopback here (serve.listen reports it).
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// exists reports whether path names an existing file or directory.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// hostPortOK reports whether s is host:port with a numeric port 1-65535
// (the host may be empty: all interfaces).
func hostPortOK(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

func (c *Config) validateKratos(v *checker) {
	k := c.Kratos
	if k.SessionCacheTTL < 0 || k.SessionCacheTTL > time.Minute {
		v.add("kratos.session_cache_ttl", "must be between 0 (off) and 1m: it is how long a revoked session stays usable, got %s", formatDuration(k.SessionCacheTTL))
	}
	urls := []struct{ key, url string }{{"kratos.public_url", k.PublicURL}, {"kratos.admin_url", k.AdminURL}}
	if k.BrowserURL != k.PublicURL {
		// Equal, it is (or repeats) kratos.public_url's value, whose
		// problem is reported once, under kratos.public_url.
		urls = append(urls, struct{ key, url string }{"kratos.browser_url", k.BrowserURL})
	}
	for _, u := range urls {
		if err := httpURL(u.url); err != nil {
			v.add(u.key, "%v", err)
		} else if pu, _ := url.Parse(u.url); pu.RawQuery != "" || pu.Fragment != "" {
			// The paths are appended to it. Not repeated: a query may
			// carry an api_key.
			v.add(u.key, "must not have a query or fragment (the API paths are appended to it)")
		}
	}
	if !traitRe.MatchString(k.PhoneTrait) {
		v.add("kratos.phone_trait", "must be a trait name such as phone, or a dotted path such as contact.phone, got %q", k.PhoneTrait)
	} else if strings.HasPrefix(k.PhoneTrait, "traits.") {
		v.add("kratos.phone_trait", "is relative to the identity's traits: write %q, not %q", strings.TrimPrefix(k.PhoneTrait, "traits."), k.PhoneTrait)
	}
	positive(v, "kratos.timeout", k.Timeout)
}

func (c *Config) validateJWT(v *checker) {
	j := c.JWT
	if strings.TrimSpace(j.Issuer) == "" {
		v.add("jwt.issuer", "must not be empty")
	} else if strings.TrimSpace(j.Issuer) != j.Issuer {
		// Apps compare iss exactly: a space or "\r" an env file left there
		// would make every app refuse every token.
		v.add("jwt.issuer", "%q starts or ends with a space or line break: apps compare iss exactly and would refuse every token", j.Issuer)
	}
	if len(j.Audience) == 0 {
		v.add("jwt.audience", "must list at least one audience")
	}
	for _, a := range j.Audience {
		if strings.TrimSpace(a) == "" {
			v.add("jwt.audience", "must not contain an empty audience")
			break
		}
		if strings.TrimSpace(a) != a {
			v.add("jwt.audience", "%q starts or ends with a space or line break: apps compare aud exactly and would refuse every token", a)
			break
		}
	}
	positive(v, "jwt.ttl", j.TTL)
	if !slices.Contains(jwtAlgs, j.Algorithm) {
		v.add("jwt.algorithm", "must be one of %s, got %q", strings.Join(jwtAlgs, ", "), j.Algorithm)
	}
	switch {
	case j.KeysFile == "":
		v.add("jwt.keys_file", "is required (generate one with `callpass-kratos keys generate`); --dev uses dev.data_dir/jwt-keys.json")
	case c.DevMode && !exists(j.KeysFile):
		// --dev creates a missing key file (an existing one is loaded, as
		// serve --dev does).
	default:
		// serve loads the file at start-up; what it would refuse must not
		// pass here.
		switch fi, err := os.Stat(j.KeysFile); {
		case errors.Is(err, fs.ErrNotExist):
			v.add("jwt.keys_file", "no such file: %s%s (generate one with `callpass-kratos keys generate --out %s`)", j.KeysFile, relativeNote(j.KeysFile, err), j.KeysFile)
		case err != nil:
			v.add("jwt.keys_file", "%v", err)
		case fi.IsDir():
			v.add("jwt.keys_file", "%s is a directory, not a key file (generate one with `callpass-kratos keys generate --out <file>`)", j.KeysFile)
		default:
			c.validateKeySet(v)
		}
	}
	if j.ClaimsMapper != "" {
		if _, err := jwt.LoadClaimsMapper(j.ClaimsMapper); err != nil {
			v.add("jwt.claims_mapper", "%v%s", err, relativeNote(j.ClaimsMapper, err))
		}
	}
	if j.Cookie.Enabled && !headerRe.MatchString(j.Cookie.Name) {
		v.add("jwt.cookie.name", "%q is not a valid cookie name", j.Cookie.Name)
	}
	if j.Cookie.Domain != "" && !domainRe.MatchString(j.Cookie.Domain) {
		v.add("jwt.cookie.domain", "%q is not a domain name", j.Cookie.Domain)
	}
}

// validateKeySet loads jwt.keys_file as serve does. A jwt.signing_kid the
// file does not hold (or holds without its private key) is reported under
// jwt.signing_kid, with the file's kids (public: the JWKS lists them).
func (c *Config) validateKeySet(v *checker) {
	j := c.JWT
	_, err := jwt.LoadKeySet(j.KeysFile, j.SigningKID)
	if err == nil {
		return
	}
	if j.SigningKID != "" {
		if data, rerr := os.ReadFile(j.KeysFile); rerr == nil {
			if keys, perr := jwt.ParseKeys(data); perr == nil && len(keys) > 0 {
				kids := make([]string, len(keys))
				found := false
				for i, k := range keys {
					kids[i] = k.KID()
					found = found || k.KID() == j.SigningKID
				}
				if !found {
					v.add("jwt.signing_kid", "%q is not a kid of %s (its kids: %s)", j.SigningKID, j.KeysFile, strings.Join(kids, ", "))
				} else {
					v.add("jwt.signing_kid", "%v", err)
				}
				return
			}
		}
	}
	v.add("jwt.keys_file", "%v", err)
}

func (c *Config) validateSim(v *checker) {
	s := c.Sim
	if s.SettleDelay < 0 {
		v.add("sim.settle_delay", "must not be negative, got %s", formatDuration(s.SettleDelay))
	}
	// The simulator's own parser, so validate accepts exactly what serve does.
	if _, err := sim.ParseOutcome(s.DefaultOutcome); err != nil {
		v.add("sim.default_outcome", "%v", err)
	}
	for _, dn := range sortedKeys(s.Scripts) {
		if !digitsRe.MatchString(dn) {
			v.add("sim.scripts", "%q is not a destination number (digits, E.164 without +)", dn)
		}
		if _, err := sim.ParseOutcome(s.Scripts[dn]); err != nil {
			v.add("sim.scripts", "outcome for %s: %v", dn, err)
		}
	}
	for i, t := range s.Tokens {
		if msg := tokenProblem(t); msg != "" {
			v.add("sim.tokens", "token #%d %s", i+1, msg)
		}
	}
	if s.Enabled && len(s.Tokens) == 0 {
		v.add("sim.tokens", "is required when sim.enabled is true (the CallPass tokens the simulator accepts); --dev generates one")
	}
}

// positive reports a non-positive duration and says whether d was positive.
func positive(v *checker, key string, d time.Duration) bool {
	if d <= 0 {
		v.add(key, "must be positive, got %s", formatDuration(d))
		return false
	}
	return true
}

// httpURL checks an absolute http(s) URL with a host. Its message never
// repeats the URL, nor url.Parse's error, which quotes it whole: a URL may
// carry credentials (user info, an api_key in the query).
func httpURL(s string) error {
	if s != "" && !strings.Contains(s, "://") {
		return errors.New("must be an absolute http(s) URL (no http:// or https:// in front?)")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("must be an absolute http(s) URL (it does not parse: check the host, the port and any %-escapes)")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute http(s) URL (its scheme is not http or https)")
	case u.Host == "":
		return errors.New("must be an absolute http(s) URL (it has no host)")
	}
	return nil
}

// originOf returns scheme://host[:port] of an http(s) URL the way browsers
// send the Origin header: lower case, without the scheme's default port
// (RFC 6454 §6.1: :443 kept would never match); any path is dropped.
func originOf(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("not an http(s) URL")
	}
	host := u.Host
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil && n == map[string]int{"http": 80, "https": 443}[u.Scheme] {
			host = strings.TrimSuffix(host, ":"+p)
		}
	}
	// ASCII letters only, as the webhook compares hosts: Unicode case
	// mapping folds some letters into others ("İ" into "i"), which browsers
	// do not (a configured "bİng.example" would have allowed bing.example).
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, u.Scheme+"://"+host), nil
}

// strictOrigin is originOf for a value meant to be an origin already: a
// path other than "/", a query, a fragment or user info is refused.
func strictOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("not an origin")
	}
	return originOf(s)
}
