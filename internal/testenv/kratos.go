package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// KratosVersion is the Kratos release scripts/kratos.sh builds.
const KratosVersion = "v1.3.1"

// KratosBinary returns the path of the cached Kratos binary, building it with
// scripts/kratos.sh on first use (the script is quick once the binary is
// cached, and its lock keeps concurrent test packages from building twice).
// Set CALLPASS_KRATOS_BIN to use another binary.
func KratosBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CALLPASS_KRATOS_BIN"); p != "" {
		return p
	}
	root := kratosRepoRoot(t)
	cmd := exec.Command(filepath.Join(root, "scripts", "kratos.sh"), "path")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testenv: scripts/kratos.sh path: %v\n%s", err, stderr.String())
	}
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: kratos binary %q: %v", p, err)
	}
	return p
}

// kratosRepoRoot walks up from the working directory (a package directory
// under go test) to the directory holding the main module's go.mod. The
// tools/kratos module has its own go.mod, so a go.mod is only accepted when
// the scripts directory sits beside it.
func kratosRepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: getwd: %v", err)
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "scripts", "kratos.sh")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no repository root (go.mod + scripts/kratos.sh) above the working directory")
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// KratosHook configures one web_hook Kratos calls after a flow.
type KratosHook struct {
	// URL receives the POST. Empty means no hook.
	URL string
	// Secret is sent as "Authorization: Bearer <Secret>"; empty sends no auth.
	Secret string
	// Body is the jsonnet URI (file://, base64://, http(s)://). Empty means
	// file://<JsonnetDir>/<flow>.jsonnet.
	Body string
	// Global puts the hook under after.hooks instead of after.<method>.hooks.
	Global bool
	// NoInterrupt leaves can_interrupt off (Kratos then answers any 4xx with a 502).
	NoInterrupt bool
	// Parse sets response.parse: true.
	Parse bool
}

// KratosOptions configures StartKratos. The zero value starts a Kratos without hooks.
type KratosOptions struct {
	// LoginHook runs after password login (selfservice.flows.login.after).
	LoginHook KratosHook
	// RegistrationHook runs after password registration.
	RegistrationHook KratosHook
	// RegisteredHook runs after password registration once Kratos saved
	// the identity (listed after RegistrationHook, before session; its
	// NoInterrupt and Parse are ignored: a post-persist hook has neither).
	RegisteredHook KratosHook
	// SettingsHook runs after a profile settings update.
	SettingsHook KratosHook
	// UIURL is the self-service UI base URL (flows' ui_url and return URLs).
	// Default http://127.0.0.1:4455; nothing needs to listen there.
	UIURL string
	// ReturnURLs are allowed as return_to besides the UI (e.g. the
	// service's /2fa page, whose sign-in link returns there).
	ReturnURLs []string
	// IdentitySchema is the identity schema file. Default examples/kratos/identity.schema.json.
	IdentitySchema string
	// JsonnetDir holds login.jsonnet, registration.jsonnet and settings.jsonnet.
	// Default examples/kratos/hooks.
	JsonnetDir string
	// Config is deep-merged into the generated configuration last (maps merge,
	// other values replace), e.g. {"session": {"lifespan": "1h"}}.
	Config map[string]any
	// BaseConfig, when set, replaces the generated configuration (for
	// example a parsed examples/kratos/kratos.yml). StartKratos still sets
	// dsn: memory and the serve section's free ports, then merges Config.
	BaseConfig map[string]any
	// Dir is Kratos's working directory, against which relative file://
	// paths resolve. Default: a fresh t.TempDir().
	Dir string
	// ReadyTimeout bounds the wait for /health/ready. Default 60s.
	ReadyTimeout time.Duration
}

// Kratos is a running Kratos process.
type Kratos struct {
	PublicURL  string // e.g. http://127.0.0.1:41233 (no trailing slash)
	AdminURL   string
	UIURL      string
	ConfigPath string // the generated kratos.yml
	LogPath    string // Kratos's stdout and stderr
	// HTTP is the client the helpers use: no redirects followed, bounded timeout.
	HTTP *http.Client

	cmd  *exec.Cmd
	done chan struct{}
}

// StartKratos writes a configuration into t.TempDir(), starts `kratos serve`
// on free loopback ports with an in-memory database and waits until admin
// /health/ready answers. It stops Kratos at t.Cleanup and prints its log when
// the test failed.
func StartKratos(t testing.TB, opts KratosOptions) *Kratos {
	t.Helper()
	bin := KratosBinary(t)
	root := kratosRepoRoot(t)
	if opts.UIURL == "" {
		opts.UIURL = "http://127.0.0.1:4455"
	}
	opts.UIURL = strings.TrimRight(opts.UIURL, "/")
	if opts.IdentitySchema == "" {
		opts.IdentitySchema = filepath.Join(root, "examples", "kratos", "identity.schema.json")
	}
	if opts.JsonnetDir == "" {
		opts.JsonnetDir = filepath.Join(root, "examples", "kratos", "hooks")
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	var err error
	if opts.IdentitySchema, err = filepath.Abs(opts.IdentitySchema); err != nil {
		t.Fatal(err)
	}
	if opts.JsonnetDir, err = filepath.Abs(opts.JsonnetDir); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	// A port taken between probing and Kratos binding it is rare but real on a
	// shared machine: try again with new ports.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		k, err := startKratosOnce(t, bin, dir, attempt, opts)
		if err == nil {
			return k
		}
		lastErr = err
		if !errors.Is(err, errKratosPortBusy) {
			break
		}
	}
	t.Fatalf("testenv: start kratos: %v", lastErr)
	return nil
}

var errKratosPortBusy = errors.New("kratos port already in use")

func startKratosOnce(t testing.TB, bin, dir string, attempt int, opts KratosOptions) (*Kratos, error) {
	publicPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	k := &Kratos{
		PublicURL:  fmt.Sprintf("http://127.0.0.1:%d", publicPort),
		AdminURL:   fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		UIURL:      opts.UIURL,
		ConfigPath: filepath.Join(dir, fmt.Sprintf("kratos-%d.yml", attempt)),
		LogPath:    filepath.Join(dir, fmt.Sprintf("kratos-%d.log", attempt)),
		HTTP: &http.Client{
			Timeout:       15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		done: make(chan struct{}),
	}
	cfg := KratosConfig(k.PublicURL, k.AdminURL, opts)
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(k.ConfigPath, raw, 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(k.LogPath)
	if err != nil {
		return nil, err
	}

	k.cmd = exec.Command(bin, "serve", "-c", kratosConfigArg(k.ConfigPath), "--dev", "--watch-courier=false")
	k.cmd.Dir = dir
	if opts.Dir != "" {
		k.cmd.Dir = opts.Dir
	}
	k.cmd.Stdout = logFile
	k.cmd.Stderr = logFile
	// Kratos reads config from the environment too; keep the host's out.
	k.cmd.Env = kratosEnv()
	// Its own process group, so Kratos's jsonnet worker children stop with it.
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() {
		_ = k.cmd.Wait()
		logFile.Close()
		close(k.done)
	}()

	if err := k.waitReady(opts.ReadyTimeout); err != nil {
		k.stop()
		logText, _ := os.ReadFile(k.LogPath)
		if bytes.Contains(logText, []byte("address already in use")) {
			return nil, fmt.Errorf("%w: %v", errKratosPortBusy, err)
		}
		return nil, fmt.Errorf("%v\n--- kratos log %s ---\n%s", err, k.LogPath, kratosTail(logText, 80))
	}
	t.Cleanup(func() {
		k.stop()
		if t.Failed() {
			logText, _ := os.ReadFile(k.LogPath)
			t.Logf("--- kratos log %s (last lines) ---\n%s", k.LogPath, kratosTail(logText, 120))
		}
	})
	return k, nil
}

// kratosConfigArg is path as `kratos serve -c` must be given it. The flag
// is a list (pflag's StringSlice), read as one CSV record: a path with a
// comma, as t.TempDir() makes for a subtest named "a,b", was split in two
// and Kratos exited before it was ready ("unknown config file extension").
// Quoted as one CSV field, any path is one file.
func kratosConfigArg(path string) string {
	if !strings.ContainsAny(path, ",\"\r\n") {
		return path
	}
	return `"` + strings.ReplaceAll(path, `"`, `""`) + `"`
}

// kratosEnv is the test process environment without variables Kratos would
// read as configuration (DSN, SERVE_*, SELFSERVICE_*, ...).
func kratosEnv() []string {
	keep := []string{"PATH", "HOME", "TMPDIR", "LANG", "TZ"}
	var env []string
	for _, k := range keep {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	// Ory software phones home unless told not to.
	return append(env, "SQA_OPT_OUT=true", "LOG_LEAK_SENSITIVE_VALUES=false")
}

func kratosTail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (k *Kratos) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: 2 * time.Second}
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-k.done:
			return fmt.Errorf("kratos exited before it was ready")
		default:
		}
		resp, err := c.Get(k.AdminURL + "/health/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("health/ready: %s", resp.Status)
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("kratos not ready after %s: %v", timeout, last)
}

func (k *Kratos) stop() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	select {
	case <-k.done:
		return
	default:
	}
	pgid := -k.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-k.done
	}
}

func returnURLs(ui string, extra []string) []any {
	out := []any{ui}
	for _, u := range extra {
		out = append(out, u)
	}
	return out
}

// KratosConfig returns the configuration StartKratos writes, as a map ready
// for YAML. Exposed so a test can inspect it or write it elsewhere.
func KratosConfig(publicURL, adminURL string, opts KratosOptions) map[string]any {
	ui := strings.TrimRight(opts.UIURL, "/")
	if ui == "" {
		ui = "http://127.0.0.1:4455"
	}
	pub, _ := url.Parse(publicURL)
	adm, _ := url.Parse(adminURL)
	pubPort, _ := strconv.Atoi(pub.Port())
	admPort, _ := strconv.Atoi(adm.Port())

	login := map[string]any{"ui_url": ui + "/login", "lifespan": "10m"}
	if after := kratosHookConfig(opts.LoginHook, "password", filepath.Join(opts.JsonnetDir, "login.jsonnet")); after != nil {
		login["after"] = after
	}
	registration := map[string]any{
		"ui_url":   ui + "/registration",
		"lifespan": "10m",
		"after":    map[string]any{"password": map[string]any{"hooks": []any{map[string]any{"hook": "session"}}}},
	}
	if h := opts.RegistrationHook; h.URL != "" {
		hooks := []any{kratosWebHook(h, filepath.Join(opts.JsonnetDir, "registration.jsonnet"))}
		if r := opts.RegisteredHook; r.URL != "" {
			r.NoInterrupt, r.Parse = true, false
			hooks = append(hooks, kratosWebHook(r, filepath.Join(opts.JsonnetDir, "registration.jsonnet")))
		}
		hooks = append(hooks, map[string]any{"hook": "session"})
		registration["after"] = map[string]any{"password": map[string]any{"hooks": hooks}}
	}
	settings := map[string]any{"ui_url": ui + "/settings", "privileged_session_max_age": "15m"}
	if after := kratosHookConfig(opts.SettingsHook, "profile", filepath.Join(opts.JsonnetDir, "settings.jsonnet")); after != nil {
		settings["after"] = after
	}

	cfg := map[string]any{
		"version": KratosVersion,
		"dsn":     "memory",
		"serve": map[string]any{
			"public": map[string]any{"base_url": publicURL + "/", "host": "127.0.0.1", "port": pubPort},
			"admin":  map[string]any{"base_url": adminURL + "/", "host": "127.0.0.1", "port": admPort},
		},
		"selfservice": map[string]any{
			"default_browser_return_url": ui + "/",
			"allowed_return_urls":        returnURLs(ui, opts.ReturnURLs),
			// No haveibeenpwned lookup: tests run offline, and the lookup
			// would hang registration until its timeout.
			"methods": map[string]any{"password": map[string]any{
				"enabled": true,
				"config":  map[string]any{"haveibeenpwned_enabled": false},
			}},
			"flows": map[string]any{
				"error":        map[string]any{"ui_url": ui + "/error"},
				"login":        login,
				"registration": registration,
				"settings":     settings,
				"logout":       map[string]any{"after": map[string]any{"default_browser_return_url": ui + "/login"}},
			},
		},
		"identity": map[string]any{
			"default_schema_id": "default",
			"schemas":           []any{map[string]any{"id": "default", "url": "file://" + opts.IdentitySchema}},
		},
		"secrets": map[string]any{
			"cookie": []any{"testenv-cookie-secret-not-for-production"},
			"cipher": []any{"testenv-cipher-secret-32-chars!!"},
		},
		// The lowest bcrypt cost Kratos accepts: tests hash many passwords on 2 cores.
		"hashers": map[string]any{"algorithm": "bcrypt", "bcrypt": map[string]any{"cost": 4}},
		"courier": map[string]any{"smtp": map[string]any{"connection_uri": "smtp://127.0.0.1:1/?disable_starttls=true"}},
		"log":     map[string]any{"level": "info", "format": "text", "leak_sensitive_values": false},
	}
	if opts.BaseConfig != nil {
		cfg = kratosDeepCopy(opts.BaseConfig).(map[string]any)
		cfg["dsn"] = "memory"
		// Keep the base's other serve settings (cors, ...), not its ports.
		kratosMerge(cfg, map[string]any{"serve": map[string]any{
			"public": map[string]any{"base_url": publicURL + "/", "host": "127.0.0.1", "port": pubPort},
			"admin":  map[string]any{"base_url": adminURL + "/", "host": "127.0.0.1", "port": admPort},
		}})
	}
	kratosMerge(cfg, kratosDeepCopy(opts.Config).(map[string]any))
	return cfg
}

// kratosDeepCopy copies maps and slices so merging never writes into the caller's config.
func kratosDeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = kratosDeepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = kratosDeepCopy(e)
		}
		return out
	default:
		return v
	}
}

func kratosHookConfig(h KratosHook, method, defaultBody string) map[string]any {
	if h.URL == "" {
		return nil
	}
	hooks := map[string]any{"hooks": []any{kratosWebHook(h, defaultBody)}}
	if h.Global {
		return hooks
	}
	return map[string]any{method: hooks}
}

func kratosWebHook(h KratosHook, defaultBody string) map[string]any {
	body := h.Body
	if body == "" {
		body = "file://" + defaultBody
	}
	c := map[string]any{"url": h.URL, "method": "POST", "body": body}
	if !h.NoInterrupt {
		c["can_interrupt"] = true
	}
	if h.Parse {
		c["response"] = map[string]any{"parse": true}
	}
	if h.Secret != "" {
		c["auth"] = map[string]any{
			"type":   "api_key",
			"config": map[string]any{"name": "Authorization", "value": "Bearer " + h.Secret, "in": "header"},
		}
	}
	return map[string]any{"hook": "web_hook", "config": c}
}

// kratosMerge merges src into dst: nested maps merge, anything else replaces.
func kratosMerge(dst, src map[string]any) {
	for k, v := range src {
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			kratosMerge(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// CreateIdentity creates an active identity with a password through the
// admin API and returns its id. An empty phone leaves the trait out.
func (k *Kratos) CreateIdentity(t testing.TB, email, password, phone string) string {
	t.Helper()
	traits := map[string]any{"email": email}
	if phone != "" {
		traits["phone"] = phone
	}
	body := map[string]any{
		"schema_id": "default",
		"traits":    traits,
		"state":     "active",
		"credentials": map[string]any{
			"password": map[string]any{"config": map[string]any{"password": password}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	status, raw, err := k.doJSON(ctx, k.HTTP, http.MethodPost, k.AdminURL+"/admin/identities", body, nil)
	if err != nil {
		t.Fatalf("testenv: create identity: %v", err)
	}
	if status != http.StatusCreated {
		t.Fatalf("testenv: create identity: HTTP %d: %s", status, raw)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.ID == "" {
		t.Fatalf("testenv: create identity: bad answer %s (%v)", raw, err)
	}
	return out.ID
}

// PatchIdentity applies a JSON patch (RFC 6902, as JSON text) to an identity
// through the admin API and fails the test unless Kratos answers 200.
func (k *Kratos) PatchIdentity(t testing.TB, id, patch string) {
	t.Helper()
	var ops []any
	if err := json.Unmarshal([]byte(patch), &ops); err != nil {
		t.Fatalf("testenv: patch identity: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	status, raw, err := k.doJSON(ctx, k.HTTP, http.MethodPatch, k.AdminURL+"/admin/identities/"+url.PathEscape(id), ops, nil)
	if err != nil {
		t.Fatalf("testenv: patch identity: %v", err)
	}
	if status != http.StatusOK {
		t.Fatalf("testenv: patch identity: HTTP %d: %s", status, raw)
	}
}

// UIMessage is one entry of a flow's ui.messages.
type UIMessage struct {
	ID      int64           `json:"id"`
	Text    string          `json:"text"`
	Type    string          `json:"type"`
	Context json.RawMessage `json:"context,omitempty"`
}

// LoginResult is what Kratos answered to a login submission.
type LoginResult = FlowResult

// FlowResult is what Kratos answered to a self-service flow submission
// (login, registration, settings).
type FlowResult struct {
	// StatusCode is the HTTP status of the submission (API: 200 or 400;
	// browser form post: 303).
	StatusCode int
	// FlowID is the login flow submitted; resubmit it to run the hook again.
	FlowID string
	// SessionToken is set when an API login issued a session.
	SessionToken string
	// SessionCookie is set when a browser login issued a session: the
	// ory_kratos_session cookie as "name=value", ready for a Cookie header.
	SessionCookie string
	// Session is the issued session's JSON (API flows only).
	Session json.RawMessage
	// UIMessages are the flow's ui.messages after the submission (for a
	// browser post, read from the flow the redirect points to).
	UIMessages []UIMessage
	// RedirectTo is the Location of a browser post's redirect.
	RedirectTo string
	// Body is the raw submission response body.
	Body []byte
}

// Message returns the first UI message with the given id.
func (r *FlowResult) Message(id int64) (UIMessage, bool) {
	for _, m := range r.UIMessages {
		if m.ID == id {
			return m, true
		}
	}
	return UIMessage{}, false
}

type kratosFlow struct {
	ID string `json:"id"`
	UI struct {
		Action   string      `json:"action"`
		Messages []UIMessage `json:"messages"`
		Nodes    []struct {
			Attributes struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			} `json:"attributes"`
			Messages []UIMessage `json:"messages"`
		} `json:"nodes"`
	} `json:"ui"`
}

func (f *kratosFlow) csrfToken() string {
	for _, n := range f.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			if s, ok := n.Attributes.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// allMessages are the flow-level messages followed by the node messages,
// where Kratos may put a hook's message depending on its instance_ptr.
func (f *kratosFlow) allMessages() []UIMessage {
	out := append([]UIMessage(nil), f.UI.Messages...)
	for _, n := range f.UI.Nodes {
		out = append(out, n.Messages...)
	}
	return out
}

// NewAPILoginFlow creates an API login flow and returns its id.
func (k *Kratos) NewAPILoginFlow(ctx context.Context) (string, error) {
	status, raw, err := k.doJSON(ctx, k.HTTP, http.MethodGet, k.PublicURL+"/self-service/login/api", nil, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("create api login flow: HTTP %d: %s", status, raw)
	}
	var f kratosFlow
	if err := json.Unmarshal(raw, &f); err != nil || f.ID == "" {
		return "", fmt.Errorf("create api login flow: bad answer %s (%v)", raw, err)
	}
	return f.ID, nil
}

// APILogin creates an API login flow and submits identifier and password
// with transientPayload (nil sends none).
func (k *Kratos) APILogin(ctx context.Context, identifier, password string, transientPayload map[string]any) (*LoginResult, error) {
	id, err := k.NewAPILoginFlow(ctx)
	if err != nil {
		return nil, err
	}
	return k.SubmitAPILogin(ctx, id, identifier, password, transientPayload)
}

// SubmitAPILogin submits (or resubmits) the API login flow flowID.
func (k *Kratos) SubmitAPILogin(ctx context.Context, flowID, identifier, password string, transientPayload map[string]any) (*LoginResult, error) {
	return k.SubmitAPILoginHeader(ctx, flowID, identifier, password, transientPayload, nil)
}

// SubmitAPILoginHeader is SubmitAPILogin with request headers added (e.g. an
// app's Accept-Language), as a third-party client's HTTP library sends them.
func (k *Kratos) SubmitAPILoginHeader(ctx context.Context, flowID, identifier, password string, transientPayload map[string]any, hdr http.Header) (*LoginResult, error) {
	body := map[string]any{"method": "password", "identifier": identifier, "password": password}
	if transientPayload != nil {
		body["transient_payload"] = transientPayload
	}
	return k.submitAPIFlow(ctx, "/self-service/login?flow="+url.QueryEscape(flowID), flowID, body, hdr)
}

// Browser is a cookie-keeping client that behaves like a browser posting
// Kratos's HTML form: it follows no redirects so results can be inspected.
type Browser struct {
	k    *Kratos
	HTTP *http.Client
}

// NewBrowser returns a client with its own cookie jar.
func (k *Kratos) NewBrowser(t testing.TB) *Browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Browser{k: k, HTTP: &http.Client{
		Jar:           jar,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// NewLoginFlow creates a browser login flow (fetched as JSON, which also sets
// the CSRF cookie) and returns its id.
func (b *Browser) NewLoginFlow(ctx context.Context) (string, error) {
	status, raw, err := b.k.doJSON(ctx, b.HTTP, http.MethodGet, b.k.PublicURL+"/self-service/login/browser", nil, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("create browser login flow: HTTP %d: %s", status, raw)
	}
	var f kratosFlow
	if err := json.Unmarshal(raw, &f); err != nil || f.ID == "" {
		return "", fmt.Errorf("create browser login flow: bad answer %s (%v)", raw, err)
	}
	return f.ID, nil
}

func (b *Browser) loginFlow(ctx context.Context, flowID string) (*kratosFlow, error) {
	u := b.k.PublicURL + "/self-service/login/flows?id=" + url.QueryEscape(flowID)
	status, raw, err := b.k.doJSON(ctx, b.HTTP, http.MethodGet, u, nil, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("get login flow: HTTP %d: %s", status, raw)
	}
	var f kratosFlow
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("get login flow: %v", err)
	}
	return &f, nil
}

// BrowserLoginFormPost posts the login form of flowID (a new browser flow
// when empty) as a browser does: urlencoded, with the flow's csrf_token and
// transient_payload as one field holding a JSON string. It reads the flow's
// messages after a redirect back to the UI.
func (b *Browser) BrowserLoginFormPost(ctx context.Context, flowID, identifier, password string, transientPayload map[string]any) (*LoginResult, error) {
	if flowID == "" {
		id, err := b.NewLoginFlow(ctx)
		if err != nil {
			return nil, err
		}
		flowID = id
	}
	f, err := b.loginFlow(ctx, flowID)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"method":     {"password"},
		"identifier": {identifier},
		"password":   {password},
		"csrf_token": {f.csrfToken()},
	}
	if transientPayload != nil {
		tp, err := json.Marshal(transientPayload)
		if err != nil {
			return nil, err
		}
		form.Set("transient_payload", string(tp))
	}
	u := b.k.PublicURL + "/self-service/login?flow=" + url.QueryEscape(flowID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	res := &LoginResult{StatusCode: resp.StatusCode, FlowID: flowID, Body: raw, RedirectTo: resp.Header.Get("Location")}
	for _, c := range resp.Cookies() {
		if c.Name == "ory_kratos_session" && c.Value != "" {
			res.SessionCookie = c.Name + "=" + c.Value
		}
	}
	if res.SessionCookie == "" && res.RedirectTo != "" {
		if loc, err := url.Parse(res.RedirectTo); err == nil && loc.Query().Get("flow") != "" {
			after, err := b.loginFlow(ctx, loc.Query().Get("flow"))
			if err != nil {
				return res, err
			}
			res.FlowID = after.ID
			res.UIMessages = after.allMessages()
		}
	}
	return res, nil
}

// doJSON sends body as JSON (nil sends none) with Accept: application/json
// and returns the status and at most 4 MiB of the answer.
func (k *Kratos) doJSON(ctx context.Context, c *http.Client, method, u string, body any, hdr http.Header) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, raw, err
}

// LogContains reports whether Kratos's log so far has a line containing s.
func (k *Kratos) LogContains(s string) bool {
	f, err := os.Open(k.LogPath)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return true
		}
	}
	return false
}

// APIRegister runs an API registration flow with the password method.
// A successful answer (200) carries the session token when the registration
// flow has the session hook (StartKratos configures it).
func (k *Kratos) APIRegister(ctx context.Context, traits map[string]any, password string, transientPayload map[string]any) (*FlowResult, error) {
	status, raw, err := k.doJSON(ctx, k.HTTP, http.MethodGet, k.PublicURL+"/self-service/registration/api", nil, nil)
	if err != nil {
		return nil, err
	}
	var f kratosFlow
	if status != http.StatusOK || json.Unmarshal(raw, &f) != nil || f.ID == "" {
		return nil, fmt.Errorf("create api registration flow: HTTP %d: %s", status, raw)
	}
	body := map[string]any{"method": "password", "traits": traits, "password": password}
	if transientPayload != nil {
		body["transient_payload"] = transientPayload
	}
	return k.submitAPIFlow(ctx, "/self-service/registration?flow="+url.QueryEscape(f.ID), f.ID, body, nil)
}

// APISettingsProfile runs an API settings flow for the session behind
// sessionToken and submits new traits with the profile method.
func (k *Kratos) APISettingsProfile(ctx context.Context, sessionToken string, traits map[string]any, transientPayload map[string]any) (*FlowResult, error) {
	hdr := http.Header{"X-Session-Token": {sessionToken}}
	status, raw, err := k.doJSON(ctx, k.HTTP, http.MethodGet, k.PublicURL+"/self-service/settings/api", nil, hdr)
	if err != nil {
		return nil, err
	}
	var f kratosFlow
	if status != http.StatusOK || json.Unmarshal(raw, &f) != nil || f.ID == "" {
		return nil, fmt.Errorf("create api settings flow: HTTP %d: %s", status, raw)
	}
	body := map[string]any{"method": "profile", "traits": traits}
	if transientPayload != nil {
		body["transient_payload"] = transientPayload
	}
	return k.submitAPIFlow(ctx, "/self-service/settings?flow="+url.QueryEscape(f.ID), f.ID, body, hdr)
}

// SubmitAPIRegistration resubmits an existing API registration flow (after
// a hook interrupted it), e.g. with the code in transient_payload.
func (k *Kratos) SubmitAPIRegistration(ctx context.Context, flowID string, traits map[string]any, password string, transientPayload map[string]any) (*FlowResult, error) {
	body := map[string]any{"method": "password", "traits": traits, "password": password}
	if transientPayload != nil {
		body["transient_payload"] = transientPayload
	}
	return k.submitAPIFlow(ctx, "/self-service/registration?flow="+url.QueryEscape(flowID), flowID, body, nil)
}

// SubmitAPISettingsProfile resubmits an existing API settings flow.
func (k *Kratos) SubmitAPISettingsProfile(ctx context.Context, sessionToken, flowID string, traits map[string]any, transientPayload map[string]any) (*FlowResult, error) {
	hdr := http.Header{"X-Session-Token": {sessionToken}}
	body := map[string]any{"method": "profile", "traits": traits}
	if transientPayload != nil {
		body["transient_payload"] = transientPayload
	}
	return k.submitAPIFlow(ctx, "/self-service/settings?flow="+url.QueryEscape(flowID), flowID, body, hdr)
}

// Identity reads an identity through the admin API as raw JSON fields.
func (k *Kratos) Identity(ctx context.Context, id string) (map[string]any, error) {
	status, raw, err := k.doJSON(ctx, k.HTTP, http.MethodGet, k.AdminURL+"/admin/identities/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("get identity: HTTP %d: %s", status, raw)
	}
	out := map[string]any{}
	return out, json.Unmarshal(raw, &out)
}

func (k *Kratos) submitAPIFlow(ctx context.Context, path, flowID string, body map[string]any, hdr http.Header) (*FlowResult, error) {
	status, raw, err := k.doJSON(ctx, k.HTTP, http.MethodPost, k.PublicURL+path, body, hdr)
	if err != nil {
		return nil, err
	}
	res := &FlowResult{StatusCode: status, FlowID: flowID, Body: raw}
	var out struct {
		SessionToken string          `json:"session_token"`
		Session      json.RawMessage `json:"session"`
	}
	if status == http.StatusOK && json.Unmarshal(raw, &out) == nil {
		res.SessionToken, res.Session = out.SessionToken, out.Session
	}
	// Refused submissions (and settings successes) answer with the flow.
	var f kratosFlow
	if json.Unmarshal(raw, &f) == nil && f.ID != "" {
		res.UIMessages = f.allMessages()
	}
	return res, nil
}
