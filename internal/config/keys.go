package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
)

// KeyDoc documents one configuration key.
type KeyDoc struct {
	Key         string // YAML path, e.g. "callpass.token"
	Env         string // environment variable, e.g. "CALLPASS_TOKEN"
	Type        string // "string", "integer", "boolean", "duration", "list of strings", ...
	Default     string // human-readable default ("" when there is none)
	Description string
	Secret      bool   // redacted when printed; also readable from FileKey / FileEnv
	FileKey     string // "callpass.token_file" for secrets, else ""
	FileEnv     string // "CALLPASS_TOKEN_FILE" for secrets, else ""
}

// entry is one row of the key table. field returns a pointer to the bound
// Config field; its Go type decides how values are parsed and printed.
type entry struct {
	key     string
	desc    string
	secret  bool
	defText string // overrides the default shown in the reference
	field   func(c *Config) any
}

func (e entry) env() string     { return envName(e.key) }
func (e entry) fileKey() string { return e.key + "_file" }
func (e entry) fileEnv() string { return envName(e.key) + "_FILE" }

// envName maps a key path to its environment variable the Ory way.
func envName(key string) string {
	return strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// keys is the single list of configuration keys.
var keys = []entry{
	// serve
	{key: "serve.listen", desc: "Address the HTTP server listens on (host:port).",
		field: func(c *Config) any { return &c.Serve.Listen }},
	{key: "serve.base_url", desc: "Public URL of this service, as browsers and Kratos reach it.",
		defText: "http://127.0.0.1:4477 (with only serve.listen set to a loopback address: that address; --dev: any serve.listen, on 127.0.0.1 if unspecified)",
		field:   func(c *Config) any { return &c.Serve.BaseURL }},
	{key: "serve.trusted_proxies", desc: "CIDRs (or single addresses) of reverse proxies whose X-Forwarded-For is believed (the step-up API, pages and access log; the hooks use the client_ip of the hook body).",
		field: func(c *Config) any { return &c.Serve.TrustedProxies }},
	{key: "serve.client_ip_header", desc: "Header carrying the client IP set by the proxy in front of this service, which must overwrite it (e.g. CF-Connecting-IP; not X-Forwarded-For or Forwarded, which proxies append to: those are refused). Empty: X-Forwarded-For from serve.trusted_proxies, else the TCP peer. Applies to the step-up API, pages and access log; the hooks use the client_ip of the hook body (SECURITY.md, limits.per_ip).",
		field: func(c *Config) any { return &c.Serve.ClientIPHeader }},
	{key: "serve.shutdown_timeout", desc: "How long a graceful shutdown waits for in-flight requests. With a synchronous start (callpass.api_version 1 or callpass.async: false) at least callpass.timeout + callpass.request_timeout_margin, or SIGTERM cuts a login whose call is being placed.",
		field: func(c *Config) any { return &c.Serve.ShutdownTimeout }},
	{key: "serve.allowed_origins", desc: "Origins allowed to make cookie-authenticated POSTs (CSRF Origin check).",
		defText: "origin of serve.base_url + origin of kratos.browser_url",
		field:   func(c *Config) any { return &c.Serve.AllowedOrigins }},

	// log
	{key: "log.level", desc: "Log level: debug, info, warn or error.",
		field: func(c *Config) any { return &c.Log.Level }},
	{key: "log.format", desc: "Log format: json or text.",
		defText: "text with --dev, json otherwise",
		field:   func(c *Config) any { return &c.Log.Format }},
	{key: "log.refusals_per_second", desc: "Access-log lines written per second for each kind of refusal (route, status, error code; e.g. wrong codes at the login hook). Past it, a flood's refusals are counted, not logged, and the next line of that kind carries skipped_similar. Failures of the service (5xx) and successes are always logged; metrics count every request. 0 logs every refusal.",
		field: func(c *Config) any { return &c.Log.RefusalsPerSecond }},

	// callpass
	{key: "callpass.base_url", desc: "CallPass API base URL: the root (a path prefix is kept); the client adds /api/v<api_version>.0/<method>/.",
		field: func(c *Config) any { return &c.CallPass.BaseURL }},
	{key: "callpass.token", secret: true, desc: "CallPass API bearer token: 32 or 64 lower-case hex characters. Required unless --dev runs the built-in simulator.",
		field: func(c *Config) any { return &c.CallPass.Token }},
	{key: "callpass.api_version", desc: "CallPass API version, 1 to 3.",
		field: func(c *Config) any { return &c.CallPass.APIVersion }},
	{key: "callpass.timeout", desc: "How long the provider waits for the call outcome: whole seconds, 2s to 99s. With a synchronous start (api_version 1 or async: false) the hook waits for it, so timeout + request_timeout_margin must stay within 25s (Kratos gives a web hook 30s).",
		field: func(c *Config) any { return &c.CallPass.Timeout }},
	{key: "callpass.code_length", desc: "Digits of the caller ID that form the code (API v3), 4 to 7.",
		field: func(c *Config) any { return &c.CallPass.CodeLength }},
	{key: "callpass.async", desc: "Start calls asynchronously (API v2/v3; API v1 is always synchronous and ignores it).",
		field: func(c *Config) any { return &c.CallPass.Async }},
	{key: "callpass.request_timeout_margin", desc: "Added to callpass.timeout to get the HTTP request timeout.",
		field: func(c *Config) any { return &c.CallPass.RequestTimeoutMargin }},

	// webhook
	{key: "webhook.secret", secret: true, desc: "Bearer secret Kratos sends to the hooks (`Authorization: Bearer <secret>`: the part after `Bearer `, without quotes or outer spaces); at least 32 bytes.",
		field: func(c *Config) any { return &c.Webhook.Secret }},
	{key: "webhook.missing_phone", desc: "What the login hook does for an identity without a phone trait: deny or allow. With deny the registration and settings hooks also refuse to save an identity without one.",
		field: func(c *Config) any { return &c.Webhook.MissingPhone }},
	{key: "webhook.settings_confirm_current", desc: "A settings flow that changes the phone number away from the identity's current one (the stored trait, read through kratos.admin_url), or removes it, first calls the current number and saves nothing until its code is typed; then the new number is called as before. A second factor is needed to change the second factor: with false, whoever holds any Kratos session (a recovery code from an e-mail or the admin API) replaces the number every login calls. The cost: a user who lost the phone cannot change the number alone; an admin changes it through Kratos's admin API (which runs no hooks).",
		field: func(c *Config) any { return &c.Webhook.SettingsConfirmCurrent }},

	// challenge
	{key: "challenge.ttl", desc: "Lifetime of a challenge (one placed call and its code); longer than callpass.timeout.",
		field: func(c *Config) any { return &c.Challenge.TTL }},
	{key: "challenge.max_attempts", desc: "Wrong codes allowed per challenge.",
		field: func(c *Config) any { return &c.Challenge.MaxAttempts }},
	{key: "challenge.resend_cooldowns", desc: "Wait before the 1st, 2nd, … new call; the last value repeats. Each at least the one before.",
		field: func(c *Config) any { return &c.Challenge.ResendCooldowns }},
	{key: "challenge.max_resends", desc: "New calls allowed per challenge.",
		field: func(c *Config) any { return &c.Challenge.MaxResends }},
	{key: "challenge.code_key", secret: true, desc: "HMAC key for code hashes, and the key the names of numbers and client addresses in store keys derive from (rotating it resets per-number and per-IP counters and phone-check bans); at least 32 bytes, the same on every instance. Spaces or tabs at its ends are part of the key, with a notice (a copy of the key easily loses them: quote it).",
		field: func(c *Config) any { return &c.Challenge.CodeKey }},

	// limits
	{key: "limits.per_number.limit", desc: "Calls per destination number in any span of one window (sliding window).",
		field: func(c *Config) any { return &c.Limits.PerNumber.Limit }},
	{key: "limits.per_number.window", desc: "Window of limits.per_number (at least 1s).",
		field: func(c *Config) any { return &c.Limits.PerNumber.Window }},
	{key: "limits.per_identity.limit", desc: "Calls per Kratos identity (a phone check counts per number, and in settings per account as well) in any span of one window (sliding window).",
		field: func(c *Config) any { return &c.Limits.PerIdentity.Limit }},
	{key: "limits.per_identity.window", desc: "Window of limits.per_identity (at least 1s).",
		field: func(c *Config) any { return &c.Limits.PerIdentity.Window }},
	{key: "limits.per_ip.limit", desc: "Calls per client IP in any span of one window (sliding window).",
		field: func(c *Config) any { return &c.Limits.PerIP.Limit }},
	{key: "limits.per_ip.window", desc: "Window of limits.per_ip (at least 1s).",
		field: func(c *Config) any { return &c.Limits.PerIP.Window }},
	{key: "limits.global_daily.limit", desc: "Calls in total in any span of one window (the spending cap; sliding window).",
		field: func(c *Config) any { return &c.Limits.GlobalDaily.Limit }},
	{key: "limits.global_daily.window", desc: "Window of limits.global_daily (at least 1s).",
		field: func(c *Config) any { return &c.Limits.GlobalDaily.Window }},
	{key: "limits.phone_check_percent", desc: "Share of limits.global_daily, in percent (same window), that calls verifying a number at registration or in settings may use; logins and step-up keep the rest, so a flood of sign-ups cannot refuse every login. 100: no separate share.",
		field: func(c *Config) any { return &c.Limits.PhoneCheckPercent }},
	{key: "limits.allow_prefixes", desc: "If set, only numbers starting with one of these digit prefixes (E.164 without +) are called.",
		field: func(c *Config) any { return &c.Limits.AllowPrefixes }},
	{key: "limits.deny_prefixes", desc: "Numbers starting with one of these digit prefixes are never called. Premium-rate and shared-cost numbers (`+7 803`, `+7 809`) are never called whatever either list says (SECURITY.md).",
		field: func(c *Config) any { return &c.Limits.DenyPrefixes }},
	{key: "limits.regulation.max_failures", desc: "Failed verifications before a ban.",
		field: func(c *Config) any { return &c.Limits.Regulation.MaxFailures }},
	{key: "limits.regulation.find_time", desc: "Sliding window: a ban follows when limits.regulation.max_failures failures fall within any span this long (at least 1s).",
		field: func(c *Config) any { return &c.Limits.Regulation.FindTime }},
	{key: "limits.regulation.ban_time", desc: "How long a ban lasts (at least 1s).",
		field: func(c *Config) any { return &c.Limits.Regulation.BanTime }},

	// store
	{key: "store.type", desc: "Challenge and counter store: memory (one instance) or redis.",
		field: func(c *Config) any { return &c.Store.Type }},
	{key: "store.redis.mode", desc: "How store.redis.url is read: standalone (one server, or an address that follows the primary), cluster (Redis Cluster) or sentinel (a master that Redis Sentinel watches). docs/operations.md, \"Running several instances\", says what each survives.",
		field: func(c *Config) any { return &c.Store.Redis.Mode }},
	{key: "store.redis.url", secret: true, desc: "Redis URL; required when store.type is redis. standalone: redis://[[user]:password@]host:port/db, rediss:// or unix://. cluster: seed nodes, redis://[[user]:password@]host1:port?addr=host2:port&addr=host3:port (or rediss://; database 0 only). sentinel: the sentinels, redis://[[user]:password@]sentinel1:26379/db?addr=sentinel2:26379, the user and password being the data nodes' (the sentinels' are store.redis.sentinel_username and store.redis.sentinel_password).",
		field: func(c *Config) any { return &c.Store.Redis.URL }},
	{key: "store.redis.prefix", desc: "Prefix of every Redis key.",
		field: func(c *Config) any { return &c.Store.Redis.Prefix }},
	{key: "store.redis.sentinel_master", desc: "Name Redis Sentinel monitors the master under (`sentinel monitor <name> ...`); required when store.redis.mode is sentinel.",
		field: func(c *Config) any { return &c.Store.Redis.SentinelMaster }},
	{key: "store.redis.sentinel_username", desc: "ACL user the sentinels are reached as (a `user` line or `ACL SETUSER` on each sentinel, Redis 6.2+); its password is store.redis.sentinel_password, required with it. Unset: the sentinels' default user. store.redis.mode sentinel only. The data nodes' user is store.redis.url's.",
		field: func(c *Config) any { return &c.Store.Redis.SentinelUsername }},
	{key: "store.redis.sentinel_password", secret: true, desc: "Password of the sentinels: their requirepass, or store.redis.sentinel_username's when that is set; store.redis.mode sentinel only. The data nodes' password is store.redis.url's.",
		field: func(c *Config) any { return &c.Store.Redis.SentinelPassword }},
	{key: "store.redis.tls_ca_file", desc: "PEM file of the CA certificates Redis servers' certificates must chain to (a private CA), instead of the system's; rediss:// only. Every connection checks its server's certificate against the host it dials: in sentinel mode each sentinel's name in store.redis.url and the master's address the sentinels announce, in cluster mode the address each node announces. Read again by the next new connection when it changes (a CA rotation needs no restart; a file that does not load keeps the CAs read before).",
		field: func(c *Config) any { return &c.Store.Redis.TLSCAFile }},
	{key: "store.redis.tls_cert_file", desc: "PEM file of the client certificate presented to Redis (`tls-auth-clients yes`, Redis's default; in sentinel mode to the sentinels too); needs store.redis.tls_key_file. rediss:// only. Read again when the file or the key file changes (by the next new connection, no restart); a renewal that does not load leaves the previous certificate in use, with a warning.",
		field: func(c *Config) any { return &c.Store.Redis.TLSCertFile }},
	{key: "store.redis.tls_key_file", desc: "PEM file of store.redis.tls_cert_file's private key (readable by the service only; the path is shown by `config validate --print`, never the key). rediss:// only.",
		field: func(c *Config) any { return &c.Store.Redis.TLSKeyFile }},

	// kratos
	{key: "kratos.public_url", desc: "Kratos public API URL.",
		field: func(c *Config) any { return &c.Kratos.PublicURL }},
	{key: "kratos.browser_url", desc: "Kratos public URL as browsers reach it: the /2fa page's sign-in link goes to its `/self-service/login/browser?return_to=<serve.base_url>/2fa`, a return URL Kratos's `selfservice.allowed_return_urls` must admit. Set it when kratos.public_url is a name only this service resolves (compose's http://kratos:4433).",
		defText: "kratos.public_url",
		field:   func(c *Config) any { return &c.Kratos.BrowserURL }},
	{key: "kratos.admin_url", desc: "Kratos admin API URL.",
		field: func(c *Config) any { return &c.Kratos.AdminURL }},
	{key: "kratos.phone_trait", desc: "Identity trait that holds the phone number, relative to traits (`phone`, not `traits.phone`); a dotted path such as `contact.phone` walks nested traits. The hook templates (`examples/kratos/hooks/*.jsonnet`) send the service only this trait: set `phonePath` in each (`['contact', 'phone']`) to match; a hook whose template keeps another trait is refused, and logged as `the Kratos hook template sends another trait than kratos.phone_trait`.",
		field: func(c *Config) any { return &c.Kratos.PhoneTrait }},
	{key: "kratos.timeout", desc: "Timeout of each Kratos API request.",
		field: func(c *Config) any { return &c.Kratos.Timeout }},
	{key: "kratos.session_cache_ttl", desc: "Cache Kratos whoami answers this long (0: off). At most 1m: a session revoked in Kratos stays usable for step-up and /v1/token for at most this long; `SIGHUP` empties the cache at once. It keeps at most 10 000 answers and 32 MiB of them; an answer over 64 KiB (an identity with a large trait) is asked of Kratos each time.",
		field: func(c *Config) any { return &c.Kratos.SessionCacheTTL }},

	// jwt
	{key: "jwt.issuer", desc: "JWT iss claim. Apps compare it exactly; set explicitly, it is used as written. The discovery document is served at serve.base_url; libraries that find keys from the issuer (OIDC Discovery §4.3) want it at <issuer>/.well-known/openid-configuration, so an issuer other than serve.base_url needs a proxy route there, or apps configured with the JWKS URL.", defText: "serve.base_url without its trailing slash",
		field: func(c *Config) any { return &c.JWT.Issuer }},
	{key: "jwt.audience", desc: "Audiences tokens are issued for (the aud claim). A token asked without `audience` names them all; `/v1/token` or the step-up verify with `{\"audience\":\"x\"}`, x one of these, names x alone (one token per app); any other audience is 400 invalid_target.",
		field: func(c *Config) any { return &c.JWT.Audience }},
	{key: "jwt.ttl", desc: "JWT lifetime.",
		field: func(c *Config) any { return &c.JWT.TTL }},
	{key: "jwt.algorithm", desc: "Algorithm of the signing key --dev generates: ES256, EdDSA or RS256. It does not change a key file: the signing key decides what signs (`callpass-kratos keys generate --alg` picks it), and a signer of another algorithm is logged as a warning at start-up.",
		field: func(c *Config) any { return &c.JWT.Algorithm }},
	{key: "jwt.keys_file", desc: "Signing keys (PEM or JWKS file); each key carries its algorithm, and the signing key's decides what signs. Required and must exist (`callpass-kratos keys generate --out <file>`); --dev uses dev.data_dir/jwt-keys.json, created if missing.",
		field: func(c *Config) any { return &c.JWT.KeysFile }},
	{key: "jwt.signing_kid", desc: "Key id to sign with; empty: the keys file's default.",
		field: func(c *Config) any { return &c.JWT.SigningKID }},
	{key: "jwt.claims_mapper", desc: "Optional Jsonnet file that maps identity and session to extra claims. No imports, no tailstrict, call depth 200, 1s and 16 KiB of output per token; reserved claims (iss, sub, aud, exp, amr, ...) are kept from the issuer.",
		field: func(c *Config) any { return &c.JWT.ClaimsMapper }},
	{key: "jwt.phone_number_claim", desc: "Put the called number (E.164) in every token's phone_number claim. A JWT is signed, not encrypted: every app that receives it reads the number. false leaves the claim out (phone_number_verified stays, and the claims mapper cannot add it back); the discovery document then does not list it.",
		field: func(c *Config) any { return &c.JWT.PhoneNumberClaim }},
	{key: "jwt.cookie.enabled", desc: "Also set the JWT as a cookie (only a token asked without `audience`: one app's token never replaces the cookie every app reads).",
		field: func(c *Config) any { return &c.JWT.Cookie.Enabled }},
	{key: "jwt.cookie.name", desc: "Name of the JWT cookie.",
		field: func(c *Config) any { return &c.JWT.Cookie.Name }},
	{key: "jwt.cookie.domain", desc: "Domain attribute of the JWT cookie; empty: host-only.",
		field: func(c *Config) any { return &c.JWT.Cookie.Domain }},

	// sim
	{key: "sim.enabled", desc: "Mount the built-in CallPass simulator (its CallPass API under /api/, its control API and phone page under /sim/, which show every call's code). --dev turns it on when callpass.base_url is not configured; outside --dev /sim/ also requires Authorization: Bearer <one of sim.tokens>.",
		defText: "false (--dev: true unless callpass.base_url is set)",
		field:   func(c *Config) any { return &c.Sim.Enabled }},
	{key: "sim.settle_delay", desc: "Simulated time until a call reaches its outcome.",
		field: func(c *Config) any { return &c.Sim.SettleDelay }},
	{key: "sim.default_outcome", desc: "Simulated outcome for numbers without a script: " + simOutcomeNames() + ".",
		field: func(c *Config) any { return &c.Sim.DefaultOutcome }},
	{key: "sim.scripts", desc: "Simulated outcome per destination number (digits → outcome, one of those of sim.default_outcome).",
		field: func(c *Config) any { return &c.Sim.Scripts }},
	{key: "sim.tokens", secret: true, desc: "Bearer tokens the simulator accepts (32 or 64 lower-case hex); required when sim.enabled outside --dev, which adds the generated callpass.token.",
		field: func(c *Config) any { return &c.Sim.Tokens }},

	// dev
	{key: "dev.data_dir", desc: "Where --dev keeps generated keys and secrets.",
		field: func(c *Config) any { return &c.Dev.DataDir }},

	// observability
	{key: "metrics.enabled", desc: "Serve Prometheus metrics on /metrics.",
		field: func(c *Config) any { return &c.Metrics.Enabled }},
	{key: "tracing.otlp_endpoint", desc: "OTLP/HTTP endpoint for traces (host:port, usually port 4318, or an http(s) URL); empty: tracing off. Port 4317 (the collector's OTLP/gRPC port) is refused, and so are credentials or a query in it: put them in OTEL_EXPORTER_OTLP_HEADERS.",
		field: func(c *Config) any { return &c.Tracing.OTLPEndpoint }},
}

// simOutcomeNames lists the simulator's outcomes, as its parser accepts them.
func simOutcomeNames() string {
	var names []string
	for _, o := range sim.Outcomes() {
		names = append(names, string(o))
	}
	return strings.Join(names, ", ")
}

// Reference documents every configuration key, in table order.
func Reference() []KeyDoc {
	def := Defaults()
	out := make([]KeyDoc, 0, len(keys))
	for _, e := range keys {
		d := KeyDoc{
			Key:         e.key,
			Env:         e.env(),
			Type:        typeName(e.field(def)),
			Default:     e.defText,
			Description: e.desc,
			Secret:      e.secret,
		}
		if d.Default == "" {
			d.Default = formatValue(e.field(def))
		}
		if e.secret {
			d.FileKey, d.FileEnv = e.fileKey(), e.fileEnv()
		}
		out = append(out, d)
	}
	return out
}

// MarkdownReference renders Reference as a Markdown table for the README.
func MarkdownReference() string {
	var b strings.Builder
	b.WriteString("Environment variables override the file. Lists are comma-separated in the environment;\n")
	b.WriteString("maps are `key=value,key=value`. Durations use Go syntax (`30s`, `5m`, `1h`). An empty\n")
	b.WriteString("environment variable counts as unset. Every secret can also be read from a file\n")
	b.WriteString("(`<key>_file` / `<ENV>_FILE`, trailing newline trimmed; a byte order mark or a no-break or zero-width space at either\n")
	b.WriteString("end of a webhook secret or code key is refused); setting both forms is an error.\n")
	b.WriteString("Without --dev a secret with a word starting `change-me` (any case; the examples' published placeholders) is refused,\n")
	b.WriteString("and so is a webhook secret or code key that is easy to guess: fewer than 8 different characters in a pattern (one repeated,\n")
	b.WriteString("a word repeated, runs of one), a word such as\n")
	b.WriteString("`changeme`, `replace_me` or `your-secret`, a `<placeholder>`, or a `$(…)`, `${…}` or backquoted shell expression\n")
	b.WriteString("copied into a file that never ran it. Generate them with `openssl rand -hex 32`.\n")
	b.WriteString("A relative file path is read from the working directory (systemd's is `/`), not from the configuration file's.\n\n")
	b.WriteString("| Key | Environment | Type | Default | Description |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, d := range Reference() {
		desc := d.Description
		if d.Secret {
			desc += fmt.Sprintf(" Secret; also `%s` / `%s`.", d.FileKey, d.FileEnv)
		}
		def := "—"
		if d.Default != "" {
			def = "`" + d.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n",
			d.Key, d.Env, d.Type, mdEscape(def), mdEscape(desc))
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func typeName(p any) string {
	switch p.(type) {
	case *string:
		return "string"
	case *int:
		return "integer"
	case *bool:
		return "boolean"
	case *time.Duration:
		return "duration"
	case *[]string:
		return "list of strings"
	case *[]time.Duration:
		return "list of durations"
	case *map[string]string:
		return "map of strings"
	}
	panic(fmt.Sprintf("config: unsupported field type %T", p))
}

// formatValue prints a field the way a user would write it.
func formatValue(p any) string {
	switch v := p.(type) {
	case *string:
		return *v
	case *int:
		return fmt.Sprint(*v)
	case *bool:
		return fmt.Sprint(*v)
	case *time.Duration:
		return formatDuration(*v)
	case *[]string:
		return strings.Join(*v, ",")
	case *[]time.Duration:
		parts := make([]string, len(*v))
		for i, d := range *v {
			parts[i] = formatDuration(d)
		}
		return strings.Join(parts, ",")
	case *map[string]string:
		parts := make([]string, 0, len(*v))
		for _, k := range sortedKeys(*v) {
			parts = append(parts, k+"="+(*v)[k])
		}
		return strings.Join(parts, ",")
	}
	panic(fmt.Sprintf("config: unsupported field type %T", p))
}

// formatDuration drops Go's trailing zero units: "1h" rather than "1h0m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
