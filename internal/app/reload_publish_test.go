package app

import (
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// TestReloadWarnsOfUnpublishedSigner: a reload whose signer the JWKS did not
// publish before it (keys generate --activate, or generate and activate
// between two reloads), or published for less than its max-age (activated
// without the documented wait), is warned about, naming the two-step
// rotation; the documented rotation (publish, reload, wait 5 minutes,
// activate, reload) is not.
func TestReloadWarnsOfUnpublishedSigner(t *testing.T) {
	const warning = "before it signs:"
	tests := []struct {
		name  string
		steps func(t *testing.T, a *App, k *jwt.Key)
		warn  bool
	}{
		{"published, then activated after the JWKS max-age", func(t *testing.T, a *App, k *jwt.Key) {
			must(t, jwt.AppendKey(a.Config.JWT.KeysFile, k, false))
			must(t, a.ReloadKeys())
			at := time.Now().Add(5*time.Minute + time.Second)
			a.now = func() time.Time { return at }
			must(t, jwt.ActivateKey(a.Config.JWT.KeysFile, k.KID()))
			must(t, a.ReloadKeys())
		}, false},
		// Apps that fetched the JWKS just before the first reload hold it
		// for its max-age without the new key.
		{"published, then activated a minute later", func(t *testing.T, a *App, k *jwt.Key) {
			must(t, jwt.AppendKey(a.Config.JWT.KeysFile, k, false))
			must(t, a.ReloadKeys())
			at := time.Now().Add(time.Minute)
			a.now = func() time.Time { return at }
			must(t, jwt.ActivateKey(a.Config.JWT.KeysFile, k.KID()))
			must(t, a.ReloadKeys())
		}, true},
		{"generated with --activate", func(t *testing.T, a *App, k *jwt.Key) {
			must(t, jwt.AppendKey(a.Config.JWT.KeysFile, k, true))
			must(t, a.ReloadKeys())
		}, true},
		{"generated and activated between reloads", func(t *testing.T, a *App, k *jwt.Key) {
			must(t, jwt.AppendKey(a.Config.JWT.KeysFile, k, false))
			must(t, jwt.ActivateKey(a.Config.JWT.KeysFile, k.KID()))
			must(t, a.ReloadKeys())
		}, true},
		{"reload without a change", func(t *testing.T, a *App, _ *jwt.Key) {
			must(t, a.ReloadKeys())
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, logs := logApp(t)
			k, err := jwt.GenerateKey("ES256")
			must(t, err)
			logs.Reset()
			tc.steps(t, a, k)
			if got := strings.Contains(logs.String(), warning); got != tc.warn {
				t.Fatalf("warned %v, want %v:\n%s", got, tc.warn, logs)
			}
			if tc.warn && !strings.Contains(logs.String(), "kid="+k.KID()) {
				t.Errorf("the warning does not name the new kid %s:\n%s", k.KID(), logs)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
