package app

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// devApp is a --dev App whose Kratos is unreachable; env entries are added
// after the defaults, so they win.
func devApp(t *testing.T, env ...string) *App {
	t.Helper()
	dir := t.TempDir()
	base := []string{"DEV_DATA_DIR=" + dir, "KRATOS_ADMIN_URL=http://127.0.0.1:1", "KRATOS_PUBLIC_URL=http://127.0.0.1:1"}
	cfg, _, err := config.Load("", append(base, env...), true)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func get(t *testing.T, h http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, b
}

// TestReloadKeys: a key appended to the key file and activated is published
// and signs after ReloadKeys, without a restart; the old key stays published.
func TestReloadKeys(t *testing.T) {
	a := devApp(t)
	_, doc := get(t, a.Handler(), "/.well-known/jwks.json")
	var before struct{ Keys []map[string]any }
	if err := json.Unmarshal(doc, &before); err != nil || len(before.Keys) != 1 {
		t.Fatalf("jwks before: %s", doc)
	}
	k := rotateKey(t, a, "EdDSA")
	_, doc = get(t, a.Handler(), "/.well-known/jwks.json")
	var after struct{ Keys []map[string]any }
	if err := json.Unmarshal(doc, &after); err != nil || len(after.Keys) != 2 {
		t.Fatalf("jwks after reload: %s", doc)
	}
	if a.Keys.Signer().KID() != k.KID() {
		t.Errorf("signer %s, want the activated %s", a.Keys.Signer().KID(), k.KID())
	}
	// A broken file is refused and the current keys stay.
	a.Config.JWT.KeysFile = t.TempDir() + "/missing.json"
	if err := a.ReloadKeys(); err == nil {
		t.Error("reload of a missing file succeeded")
	}
	if len(a.Keys.Keys()) != 2 {
		t.Error("a failed reload changed the keys")
	}
}

// TestDevReadiness: in dev mode an absent Kratos is reported but does not make
// the service unready (the simulator is usable on its own).
func TestDevReadiness(t *testing.T) {
	a := devApp(t)
	code, body := get(t, a.Handler(), "/health/ready")
	var r struct {
		Status string
		Checks map[string]struct{ Status, Error string }
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || r.Checks["kratos"].Status != "degraded" || r.Checks["store"].Status != "ok" {
		t.Errorf("ready: %d %s", code, body)
	}
	if code, _ := get(t, a.Handler(), "/sim/phone"); code != http.StatusOK {
		t.Errorf("/sim/phone: %d", code)
	}
}

// TestWarnsWhenKeyAlgorithmDiffersFromConfig: jwt.algorithm only chooses
// the algorithm of a key --dev generates; with a key file the key decides,
// and a mismatch is logged at start-up rather than ignored silently.
func TestWarnsWhenKeyAlgorithmDiffersFromConfig(t *testing.T) {
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	k, err := jwt.GenerateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	if err := jwt.WriteKeyFile(keysFile, k); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		warn bool
	}{
		{"key file EdDSA, jwt.algorithm default ES256", []string{"JWT_KEYS_FILE=" + keysFile}, true},
		{"key file EdDSA, jwt.algorithm EdDSA", []string{"JWT_KEYS_FILE=" + keysFile, "JWT_ALGORITHM=EdDSA"}, false},
		{"--dev generates jwt.algorithm", []string{"JWT_ALGORITHM=RS256"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := logApp(t, tt.env...)
			got := strings.Contains(logs.String(), "jwt.algorithm differs from the signing key's algorithm; the key decides")
			if got != tt.warn {
				t.Errorf("warning logged %v, want %v; log:\n%s", got, tt.warn, logs.String())
			}
			if tt.warn && (!strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "key_algorithm=EdDSA") ||
				!strings.Contains(logs.String(), "jwt_algorithm=ES256")) {
				t.Errorf("warning lacks the level or the algorithms:\n%s", logs.String())
			}
			if alg := a.Keys.Signer().Algorithm(); tt.warn && alg != "EdDSA" {
				t.Errorf("signer algorithm %s, want the key file's EdDSA", alg)
			}
		})
	}
}

// TestSignInLinkUsesBrowserURL: the /2fa page's sign-in link is followed by
// the visitor's browser, so it points at kratos.browser_url, not at
// kratos.public_url, which may be a name only the service resolves (compose's
// http://kratos:4433); return_to is this service's own /2fa.
func TestSignInLinkUsesBrowserURL(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string // the link's start
	}{
		{"browser_url unset: public_url", []string{"KRATOS_PUBLIC_URL=http://127.0.0.1:1"},
			"http://127.0.0.1:1/self-service/login/browser?return_to=http%3A%2F%2F127.0.0.1%3A4477%2F2fa"},
		{"browser_url set", []string{"KRATOS_PUBLIC_URL=http://kratos:4433", "KRATOS_BROWSER_URL=http://127.0.0.1:4433/"},
			"http://127.0.0.1:4433/self-service/login/browser?return_to=http%3A%2F%2F127.0.0.1%3A4477%2F2fa"},
		{"base_url with a trailing slash", []string{"KRATOS_BROWSER_URL=https://auth.example.com", "SERVE_BASE_URL=https://2fa.example.com/"},
			"https://auth.example.com/self-service/login/browser?return_to=https%3A%2F%2F2fa.example.com%2F2fa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, devApp(t, tt.env...).Handler(), "/2fa")
			page := html.UnescapeString(string(body))
			if code != http.StatusUnauthorized || !strings.Contains(page, `href="`+tt.want+`"`) {
				t.Errorf("GET /2fa without a session: %d, want a link to %s\n%s", code, tt.want, page)
			}
			if strings.Contains(page, "kratos:4433") {
				t.Errorf("the page names kratos.public_url, which browsers cannot reach:\n%s", page)
			}
		})
	}
}
