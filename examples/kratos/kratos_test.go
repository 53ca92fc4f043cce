package kratos_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-jsonnet"
	"gopkg.in/yaml.v3"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// evalHook evaluates a hook template the way Kratos v1.3.1 does:
// request.Builder passes the context as the top-level argument "ctx".
func evalHook(t *testing.T, template string, ctx []byte) map[string]any {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("hooks", template))
	if err != nil {
		t.Fatal(err)
	}
	return evalHookSource(t, template, string(src), ctx)
}

// evalHookSource is evalHook for a template's source.
func evalHookSource(t *testing.T, template, src string, ctx []byte) map[string]any {
	t.Helper()
	vm := jsonnet.MakeVM()
	vm.TLACode("ctx", string(ctx))
	out, err := vm.EvaluateAnonymousSnippet(template, src)
	if err != nil {
		t.Fatalf("%s: %v", template, err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(out), &body); err != nil {
		t.Fatalf("%s: output is not an object: %v", template, err)
	}
	return body
}

func readCtx(t *testing.T, name string) (raw []byte, ctx map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("hooks", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ctx); err != nil {
		t.Fatal(err)
	}
	return raw, ctx
}

// contractKeys is the body shape docs/architecture.md fixes for all three hooks.
var contractKeys = []string{
	"accept_language", "client_ip", "flow_id", "flow_type", "identity_id",
	"metadata_public", "phone_trait", "session", "traits", "transient_payload",
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestHookTemplatesOnRecordedCtx runs each template on a ctx recorded from a
// real Kratos v1.3.1 (see record_test.go).
func TestHookTemplatesOnRecordedCtx(t *testing.T) {
	tests := []struct {
		template, ctxFile string
		flowType          string
		phone             string
		payloadKey        string
		payloadValue      any
		session           bool // login: the session's authenticated_at is sent
		zeroIdentity      bool // registration runs before the identity is stored
	}{
		{"login.jsonnet", "login_ctx_api.json", "api", "+79161234567", "callpass_code", "1234", true, false},
		{"login.jsonnet", "login_ctx_browser.json", "browser", "+79031234567", "callpass_code", "5678", true, false},
		{"registration.jsonnet", "registration_ctx_api.json", "api", "+79161234567", "callpass_phone_consent", true, false, true},
		{"settings.jsonnet", "settings_ctx_api.json", "api", "+79031234567", "callpass_code", "4321", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.ctxFile, func(t *testing.T) {
			raw, ctx := readCtx(t, tt.ctxFile)
			body := evalHook(t, tt.template, raw)

			if got := keysOf(body); !reflect.DeepEqual(got, contractKeys) {
				t.Errorf("keys %v, want %v", got, contractKeys)
			}
			flow := ctx["flow"].(map[string]any)
			ident := ctx["identity"].(map[string]any)
			if body["flow_id"] != flow["id"] || body["flow_id"] == "" {
				t.Errorf("flow_id %v, ctx.flow.id %v", body["flow_id"], flow["id"])
			}
			if body["flow_type"] != tt.flowType {
				t.Errorf("flow_type %v, want %s", body["flow_type"], tt.flowType)
			}
			if body["identity_id"] != ident["id"] {
				t.Errorf("identity_id %v, ctx.identity.id %v", body["identity_id"], ident["id"])
			}
			if zero := body["identity_id"] == "00000000-0000-0000-0000-000000000000"; zero != tt.zeroIdentity {
				t.Errorf("identity_id %v: zero UUID %v, want %v", body["identity_id"], zero, tt.zeroIdentity)
			}
			if traits, _ := body["traits"].(map[string]any); traits["phone"] != tt.phone || len(traits) != 1 {
				t.Errorf("traits %v, want the phone %s alone (the recorded identity has an e-mail too)", body["traits"], tt.phone)
			}
			if tp, _ := body["transient_payload"].(map[string]any); tp[tt.payloadKey] != tt.payloadValue {
				t.Errorf("transient_payload %v, want %s=%v", body["transient_payload"], tt.payloadKey, tt.payloadValue)
			}
			if body["client_ip"] != "203.0.113.7" {
				t.Errorf("client_ip %v, want the recorded True-Client-IP", body["client_ip"])
			}
			sess, _ := body["session"].(map[string]any)
			if at, _ := sess["authenticated_at"].(string); (at != "") != tt.session {
				t.Errorf("session %v: authenticated_at present %v, want %v", sess, at != "", tt.session)
			}
			if body["metadata_public"] != nil {
				t.Errorf("metadata_public %v, want null", body["metadata_public"])
			}
			if body["accept_language"] != "ru-RU,ru;q=0.9,en;q=0.8" {
				t.Errorf("accept_language %v, want the recorded Accept-Language", body["accept_language"])
			}
		})
	}
}

// TestLoginTemplateEdgeCases feeds synthetic contexts: header casing, the
// client IP fallbacks and absent or null fields.
func TestLoginTemplateEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		ctx     string
		check   string // body field
		want    any
		wantAny func(any) bool
	}{
		{"true-client-ip lower case", `{"request_headers":{"true-client-ip":["192.0.2.1"]}}`, "client_ip", "192.0.2.1", nil},
		{"true-client-ip wins", `{"request_headers":{"True-Client-Ip":["192.0.2.1"],"X-Forwarded-For":["192.0.2.9"]}}`, "client_ip", "192.0.2.1", nil},
		{"x-forwarded-for first entry", `{"request_headers":{"X-Forwarded-For":[" 192.0.2.2 , 10.0.0.1"]}}`, "client_ip", "192.0.2.2", nil},
		{"x-real-ip", `{"request_headers":{"X-Real-Ip":["192.0.2.3"]}}`, "client_ip", "192.0.2.3", nil},
		{"device ip with port", `{"session":{"devices":[{"ip_address":"127.0.0.1:53412"}]}}`, "client_ip", "127.0.0.1", nil},
		{"device ipv6 with port", `{"session":{"devices":[{"ip_address":"[::1]:53412"}]}}`, "client_ip", "::1", nil},
		{"device bare ipv6", `{"session":{"devices":[{"ip_address":"2001:db8::1"}]}}`, "client_ip", "2001:db8::1", nil},
		{"header beats device", `{"request_headers":{"True-Client-Ip":["192.0.2.1"]},"session":{"devices":[{"ip_address":"127.0.0.1:1"}]}}`, "client_ip", "192.0.2.1", nil},
		{"no ip at all", `{}`, "client_ip", "", nil},
		{"empty header list", `{"request_headers":{"True-Client-Ip":[]}}`, "client_ip", "", nil},
		{"null transient_payload", `{"flow":{"id":"f","transient_payload":null}}`, "transient_payload", map[string]any{}, nil},
		{"absent flow", `{}`, "flow_id", "", nil},
		{"absent session", `{"flow":{"id":"f"}}`, "session", map[string]any{"authenticated_at": nil, "expires_at": nil, "aal": ""}, nil},
		{"accept-language any case", `{"request_headers":{"accept-language":[" en-GB,en "]}}`, "accept_language", "en-GB,en", nil},
		{"no accept-language", `{"request_headers":{"User-Agent":["x"]}}`, "accept_language", "", nil},
		{"metadata kept", `{"identity":{"id":"i","metadata_public":{"a":1}}}`, "metadata_public", map[string]any{"a": float64(1)}, nil},
		{"null request_headers", `{"request_headers":null}`, "accept_language", "", nil},
		{"session authenticated_at", `{"session":{"authenticated_at":"2026-11-25T10:00:00.123456Z","authenticator_assurance_level":"aal1"}}`,
			"session", map[string]any{"authenticated_at": "2026-11-25T10:00:00.123456Z", "expires_at": nil, "aal": "aal1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := evalHook(t, "login.jsonnet", []byte(tt.ctx))
			if got := keysOf(body); !reflect.DeepEqual(got, contractKeys) {
				t.Errorf("keys %v", got)
			}
			if !reflect.DeepEqual(body[tt.check], tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.check, body[tt.check], tt.want)
			}
		})
	}
}

// TestTemplatesIdentical: the three templates differ only in their header
// comment, so a fix to one cannot silently miss the others.
func TestTemplatesIdentical(t *testing.T) {
	code := func(name string) string {
		b, err := os.ReadFile(filepath.Join("hooks", name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i := strings.Index(s, "\nfunction(ctx)")
		if i < 0 {
			t.Fatalf("%s: no function(ctx)", name)
		}
		return s[i:]
	}
	login := code("login.jsonnet")
	for _, name := range []string{"registration.jsonnet", "settings.jsonnet"} {
		if code(name) != login {
			t.Errorf("%s differs from login.jsonnet below the header comment", name)
		}
	}
}

// hookSink records webhook calls per path; the login path interrupts once.
type hookSink struct {
	mu        sync.Mutex
	bodies    map[string][]map[string]any
	auth      []string
	interrupt bool
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bodies[r.URL.Path] = append(h.bodies[r.URL.Path], body)
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	if r.URL.Path == "/hooks/kratos/login" && h.interrupt {
		h.interrupt = false
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"messages":[{"instance_ptr":"#/","messages":[{"id":1010001,"text":"Enter the code","type":"info","context":{"digits":4}}]}]}`)
		return
	}
	// Registration and settings hooks have response.parse on: Kratos decodes
	// every 200 body as JSON, as callpass-kratos always sends.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "{}")
}

func (h *hookSink) last(path string) map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.bodies[path]
	if len(b) == 0 {
		return nil
	}
	return b[len(b)-1]
}

// loadExampleConfig parses kratos.yml and points every web_hook, and every
// allowed return URL on the service (its /2fa page), at base instead of
// http://127.0.0.1:4477.
func loadExampleConfig(t *testing.T, base string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("kratos.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if u, ok := x["url"].(string); ok && strings.HasPrefix(u, "http://127.0.0.1:4477/") {
				x["url"] = base + strings.TrimPrefix(u, "http://127.0.0.1:4477")
				n++
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(cfg)
	if n != 4 {
		t.Fatalf("kratos.yml has %d web_hook urls on :4477, want 4 (login, registration, registered, settings)", n)
	}
	ss, _ := cfg["selfservice"].(map[string]any)
	returns, _ := ss["allowed_return_urls"].([]any)
	for i, r := range returns {
		if u, ok := r.(string); ok && strings.HasPrefix(u, "http://127.0.0.1:4477/") {
			returns[i] = base + strings.TrimPrefix(u, "http://127.0.0.1:4477")
		}
	}
	return cfg
}

// TestExampleConfigAdmitsStepUpReturn: the /2fa page's sign-in link is
// <kratos>/self-service/login/browser?return_to=<serve.base_url>/2fa, and
// Kratos answers a return_to that allowed_return_urls does not admit with
// its error page instead of the login. kratos.yml admits the service's /2fa
// (and nothing else of the service).
func TestExampleConfigAdmitsStepUpReturn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Kratos")
	}
	const base = "http://127.0.0.1:4999" // where the service would be: the test moves it off :4477
	cfg := loadExampleConfig(t, base)
	ss := cfg["selfservice"].(map[string]any)
	flows := ss["flows"].(map[string]any)
	loginUI := flows["login"].(map[string]any)["ui_url"].(string)
	errorUI := flows["error"].(map[string]any)["ui_url"].(string)
	wd, _ := os.Getwd()
	k := testenv.StartKratos(t, testenv.KratosOptions{BaseConfig: cfg, Dir: wd})
	tests := []struct {
		returnTo string
		want     string // the start of the redirect's Location
	}{
		{base + "/2fa", loginUI + "?flow="},
		{base + "/2fa?lang=ru&return_to=http%3A%2F%2F127.0.0.1%3A4480%2F", loginUI + "?flow="},
		{base + "/hooks/kratos/login", errorUI + "?id="},
		{"https://evil.example/2fa", errorUI + "?id="},
	}
	for _, tt := range tests {
		t.Run(tt.returnTo, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, k.PublicURL+"/self-service/login/browser?return_to="+url.QueryEscape(tt.returnTo), nil)
			req.Header.Set("Accept", "text/html")
			resp, err := k.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, tt.want) {
				t.Errorf("%d Location %q, want a redirect to %s…", resp.StatusCode, loc, tt.want)
			}
		})
	}
}

// TestExampleConfigOnRealKratos runs Kratos v1.3.1 with kratos.yml as
// written (relative file:// paths, run from this directory) and checks that
// all three hooks fire with the documented bodies and that the login hook
// can interrupt.
func TestExampleConfigOnRealKratos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Kratos")
	}
	sink, srv := startSink(t)
	wd, _ := os.Getwd()
	k := testenv.StartKratos(t, testenv.KratosOptions{BaseConfig: loadExampleConfig(t, srv.URL), Dir: wd})
	exerciseHooks(t, k, sink, "Bearer change-me-demo-webhook-secret-0123456789")
}

// TestComposeConfigOnRealKratos runs the Kratos configuration
// docker-compose.yml mounts (examples/compose/kratos.yml) on the real Kratos,
// with what compose changes put back: the callpass service's address becomes
// the sink, and the container paths the files compose mounts there.
func TestComposeConfigOnRealKratos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Kratos")
	}
	sink, srv := startSink(t)
	wd, _ := os.Getwd()
	raw, err := os.ReadFile("../compose/kratos.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	// The files docker-compose.yml mounts under /etc/config/kratos/ come from
	// examples/kratos (this directory).
	hooks, files := 0, 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				str, ok := e.(string)
				switch {
				case ok && k == "url" && strings.HasPrefix(str, "http://callpass:4477/"):
					x[k] = srv.URL + strings.TrimPrefix(str, "http://callpass:4477")
					hooks++
				case ok && strings.HasPrefix(str, "file:///etc/config/kratos/"):
					x[k] = "file://" + filepath.Join(wd, strings.TrimPrefix(str, "file:///etc/config/kratos/"))
					files++
				default:
					walk(e)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(cfg)
	if hooks != 4 || files != 5 {
		t.Fatalf("compose kratos.yml: %d hook urls on callpass:4477 (want 4), %d files under /etc/config/kratos (want 5)", hooks, files)
	}
	k := testenv.StartKratos(t, testenv.KratosOptions{BaseConfig: cfg, Dir: wd})
	exerciseHooks(t, k, sink, "Bearer change-me-compose-webhook-secret-0123456789")
}

// exerciseHooks registers, logs in through an interrupting login hook, and
// changes the phone in settings, checking what each hook received.
func exerciseHooks(t *testing.T, k *testenv.Kratos, sink *hookSink, auth string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const email, password = "example@example.org", "correct horse battery staple"

	reg, err := k.APIRegister(ctx, map[string]any{"email": email, "phone": "+79161234567"}, password, nil)
	if err != nil || reg.StatusCode != http.StatusOK || reg.SessionToken == "" {
		t.Fatalf("registration: %v %+v %s", err, reg, reg.Body)
	}
	if b := sink.last("/hooks/kratos/registration"); b == nil || b["flow_type"] != "api" || b["traits"].(map[string]any)["phone"] != "+79161234567" {
		t.Fatalf("registration hook body %v", b)
	}
	// After the save: the same flow, and the identity Kratos saved.
	pre := sink.last("/hooks/kratos/registration")
	if b := sink.last("/hooks/kratos/registered"); b == nil || b["flow_id"] != pre["flow_id"] ||
		b["identity_id"] == "" || b["identity_id"] == "00000000-0000-0000-0000-000000000000" ||
		b["traits"].(map[string]any)["phone"] != "+79161234567" {
		t.Fatalf("registered hook body %v", b)
	}

	res, err := k.APILogin(ctx, email, password, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Message(1010001); !ok || res.SessionToken != "" || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("first login not interrupted: %d %s", res.StatusCode, res.Body)
	}
	res, err = k.SubmitAPILogin(ctx, res.FlowID, email, password, map[string]any{"callpass_code": "1234"})
	if err != nil || res.SessionToken == "" {
		t.Fatalf("second login: %v %d %s", err, res.StatusCode, res.Body)
	}
	b := sink.last("/hooks/kratos/login")
	if b["flow_id"] != res.FlowID || b["transient_payload"].(map[string]any)["callpass_code"] != "1234" {
		t.Errorf("login hook body %v", b)
	}
	// No proxy header: client_ip is the address Kratos saw, without its port.
	if b["client_ip"] != "127.0.0.1" {
		t.Errorf("client_ip %v, want 127.0.0.1", b["client_ip"])
	}

	set, err := k.APISettingsProfile(ctx, res.SessionToken, map[string]any{"email": email, "phone": "+79031234567"}, nil)
	if err != nil || set.StatusCode != http.StatusOK {
		t.Fatalf("settings: %v %+v", err, set)
	}
	if b := sink.last("/hooks/kratos/settings"); b == nil || b["traits"].(map[string]any)["phone"] != "+79031234567" {
		t.Fatalf("settings hook body %v", b)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.auth) == 0 {
		t.Error("no hook call recorded its Authorization header")
	}
	for _, a := range sink.auth {
		if a != auth {
			t.Errorf("Authorization %q, want %q", a, auth)
		}
	}
}

// TestHookBodyURIForms records which spellings of the jsonnet location
// Kratos v1.3.1 accepts. Relative paths resolve against Kratos's working
// directory, not against the config file.
func TestHookBodyURIForms(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Kratos")
	}
	wd, _ := os.Getwd()
	src, err := os.ReadFile(filepath.Join("hooks", "login.jsonnet"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body, dir string
		wantHook        bool
	}{
		{"relative file://", "file://hooks/login.jsonnet", wd, true},
		{"relative file://./", "file://./hooks/login.jsonnet", wd, true},
		{"absolute file:///", "file://" + filepath.Join(wd, "hooks", "login.jsonnet"), t.TempDir(), true},
		{"legacy bare path", "hooks/login.jsonnet", wd, true},
		{"base64://", "base64://" + base64.StdEncoding.EncodeToString(src), t.TempDir(), true},
		{"relative file:// from another directory", "file://hooks/login.jsonnet", t.TempDir(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &hookSink{bodies: map[string][]map[string]any{}}
			srv := httptest.NewServer(sink)
			defer srv.Close()
			k := testenv.StartKratos(t, testenv.KratosOptions{
				Dir:       tt.dir,
				LoginHook: testenv.KratosHook{URL: srv.URL + "/hooks/kratos/login", Body: tt.body},
			})
			k.CreateIdentity(t, "uri@example.org", "correct horse battery staple", "")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := k.APILogin(ctx, "uri@example.org", "correct horse battery staple", nil)
			if err != nil {
				t.Fatal(err)
			}
			got := sink.last("/hooks/kratos/login") != nil
			if got != tt.wantHook {
				t.Fatalf("hook called %v, want %v (login status %d)", got, tt.wantHook, res.StatusCode)
			}
			// Kratos v1.3.1 answers the API flow with HTTP 400 and an error
			// object whose code is 500.
			if !tt.wantHook && (res.StatusCode == http.StatusOK || res.SessionToken != "" || !strings.Contains(string(res.Body), "unable to open file")) {
				t.Errorf("unreadable template: login status %d, token %q, body %s", res.StatusCode, res.SessionToken, res.Body)
			}
		})
	}
}

// TestREADMEHookSnippetMatchesExample: the kratos.yml lines README.md tells
// admins to add are the tested example's login hook, apart from the
// addresses and the secret an admin fills in.
func TestREADMEHookSnippetMatchesExample(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "2. Add the login after-hook to `kratos.yml`")
	if !ok {
		t.Fatal("README.md: no step \"Add the login after-hook to `kratos.yml`\"")
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md: the step has no yaml block")
	}
	var snippet map[string]any
	if err := yaml.Unmarshal([]byte(dedent(block)), &snippet); err != nil {
		t.Fatalf("README.md's kratos.yml snippet does not parse: %v", err)
	}
	var example map[string]any
	exRaw, err := os.ReadFile("kratos.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(exRaw, &example); err != nil {
		t.Fatal(err)
	}
	hook := func(cfg map[string]any) map[string]any {
		v := any(cfg)
		for _, k := range []string{"selfservice", "flows", "login", "after", "password", "hooks"} {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		hooks, _ := v.([]any)
		if len(hooks) != 1 {
			t.Fatalf("want one login after-password hook, got %v", v)
		}
		h, _ := hooks[0].(map[string]any)
		return h
	}
	got, want := hook(snippet), hook(example)
	// What an admin fills in: the service's address, the template's path and
	// the secret.
	for _, h := range []map[string]any{got, want} {
		c, _ := h["config"].(map[string]any)
		u, err := url.Parse(c["url"].(string))
		if err != nil || u.Path != "/hooks/kratos/login" {
			t.Fatalf("hook url %v", c["url"])
		}
		c["url"] = u.Path
		if b, _ := c["body"].(string); !strings.HasPrefix(b, "file://") || !strings.HasSuffix(b, "/login.jsonnet") {
			t.Fatalf("hook body %v", c["body"])
		}
		c["body"] = "login.jsonnet"
		ac, _ := c["auth"].(map[string]any)["config"].(map[string]any)
		if v, _ := ac["value"].(string); !strings.HasPrefix(v, "Bearer ") {
			t.Fatalf("hook auth value %v", ac["value"])
		}
		ac["value"] = "Bearer <secret>"
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("README.md's login hook differs from examples/kratos/kratos.yml's:\nREADME:  %v\nexample: %v", got, want)
	}
	// And the /2fa return URL is among the admitted ones in both.
	for name, cfg := range map[string]map[string]any{"README.md": snippet, "kratos.yml": example} {
		ss, _ := cfg["selfservice"].(map[string]any)
		found := false
		for _, r := range ss["allowed_return_urls"].([]any) {
			found = found || strings.HasSuffix(r.(string), "/2fa")
		}
		if !found {
			t.Errorf("%s: selfservice.allowed_return_urls has no /2fa URL", name)
		}
	}
}

// dedent removes the indentation of the first line from every line.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	ind := len(lines[0]) - len(strings.TrimLeft(lines[0], " "))
	for i, l := range lines {
		if len(l) >= ind && strings.TrimSpace(l[:ind]) == "" {
			lines[i] = l[ind:]
		}
	}
	return strings.Join(lines, "\n")
}

// startSink starts a hook sink that interrupts the login, closed at cleanup.
func startSink(t *testing.T) (*hookSink, *httptest.Server) {
	t.Helper()
	sink := &hookSink{bodies: map[string][]map[string]any{}, interrupt: true}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	return sink, srv
}

// TestHookTemplatesSendOnlyThePhoneTrait: the templates send the phone
// trait alone, at a nested path too (kratos.phone_trait "contact.phone"),
// and nothing when the identity has none; phone_trait names the path, joined
// with dots, so the service can check it against its kratos.phone_trait.
func TestHookTemplatesSendOnlyThePhoneTrait(t *testing.T) {
	tests := []struct {
		name, path, trait, traits, want string
	}{
		{"top level", `['phone']`, "phone", `{"email":"a@example.org","phone":"+79161234567","name":{"first":"A"}}`, `{"phone":"+79161234567"}`},
		{"nested", `['contact', 'phone']`, "contact.phone", `{"email":"a@example.org","contact":{"phone":"+79161234567","fax":"+74951112233"}}`, `{"contact":{"phone":"+79161234567"}}`},
		{"three levels", `['profile', 'contact', 'mobile']`, "profile.contact.mobile", `{"profile":{"contact":{"mobile":"+79161234567"}}}`, `{"profile":{"contact":{"mobile":"+79161234567"}}}`},
		{"absent", `['phone']`, "phone", `{"email":"a@example.org"}`, `{}`},
		{"nested, absent", `['contact', 'phone']`, "contact.phone", `{"contact":"none"}`, `{}`},
		{"no traits", `['phone']`, "phone", `null`, `{}`},
	}
	for _, template := range []string{"login.jsonnet", "registration.jsonnet", "settings.jsonnet"} {
		raw, err := os.ReadFile(filepath.Join("hooks", template))
		if err != nil {
			t.Fatal(err)
		}
		const line = "local phonePath = ['phone'];"
		if !strings.Contains(string(raw), line) {
			t.Fatalf("%s has no %q", template, line)
		}
		for _, tt := range tests {
			t.Run(template+"/"+tt.name, func(t *testing.T) {
				src := strings.Replace(string(raw), line, "local phonePath = "+tt.path+";", 1)
				ctx := `{"flow":{"id":"f"},"identity":{"id":"i","traits":` + tt.traits + `}}`
				body := evalHookSource(t, template, src, []byte(ctx))
				got, err := json.Marshal(body["traits"])
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Errorf("traits %s, want %s", got, tt.want)
				}
				if name, ok := body["phone_trait"].(string); !ok || name != tt.trait {
					t.Errorf("phone_trait %#v, want %q", body["phone_trait"], tt.trait)
				}
			})
		}
	}
}
