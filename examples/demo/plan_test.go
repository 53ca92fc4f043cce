package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanMatchesKratosConfig: the demo starts the service with exactly the
// secret the demo Kratos config sends, on the port its hooks call.
func TestPlanMatchesKratosConfig(t *testing.T) {
	root, err := findRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	hc, err := readHooks(filepath.Join(root, "examples", "kratos", "kratos.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hc.URLs) != 4 {
		t.Errorf("hooks %v, want login, registration, registered (after the save), settings", hc.URLs)
	}
	p, err := newPlan(root)
	if err != nil {
		t.Fatal(err)
	}
	svc := p.Parts[0]
	if svc.Name != "callpass-kratos" || !contains(svc.Env, "WEBHOOK_SECRET="+hc.Secret) {
		t.Errorf("service env lacks the kratos.yml secret")
	}
	if !contains(svc.Env, "SERVE_ALLOWED_ORIGINS=http://127.0.0.1:4455,http://127.0.0.1:4477,http://127.0.0.1:4433") {
		t.Errorf("service allowed origins: %v", svc.Env)
	}
	if p.Parts[1].Name != "kratos" || p.Parts[1].Dir != filepath.Join(root, "examples", "kratos") {
		t.Errorf("kratos must run from examples/kratos: %+v", p.Parts[1])
	}
}

func TestReadHooksRefusesMismatchedOrShortSecrets(t *testing.T) {
	hook := func(url, secret string) string {
		return "  - hook: web_hook\n    config:\n      url: " + url + "\n      auth:\n        config:\n          value: Bearer " + secret + "\n"
	}
	long := strings.Repeat("s", 32)
	for name, tc := range map[string]struct {
		body string
		want string
	}{
		"two secrets": {hook(serviceURL+"/a", long) + hook(serviceURL+"/b", long+"x"), "share one"},
		"short":       {hook(serviceURL+"/a", "short"), "at least 32"},
		"other host":  {hook("http://elsewhere:4477/a", long), "is not on"},
		"none":        {"  - hook: session\n", "no web_hook"},
	} {
		path := filepath.Join(t.TempDir(), "k.yml")
		if err := os.WriteFile(path, []byte("hooks:\n"+tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readHooks(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
}

func contains(env []string, kv string) bool {
	for _, e := range env {
		if e == kv {
			return true
		}
	}
	return false
}
