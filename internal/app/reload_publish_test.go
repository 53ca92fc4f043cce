package app

import (
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// TestReloadWarnsOfUnpublishedSigner: a reload whose signer the JWKS did not
// publish before it (keys generate --activate, or generate and activate
// between two reloads) is warned about, naming the two-step rotation; the
// documented rotation (publish, reload, activate, reload) is not.
func TestReloadWarnsOfUnpublishedSigner(t *testing.T) {
	const warning = "was not published before it signs"
	tests := []struct {
		name  string
		steps func(t *testing.T, a *App, k *jwt.Key)
		warn  bool
	}{
		{"published, then activated", func(t *testing.T, a *App, k *jwt.Key) {
			must(t, jwt.AppendKey(a.Config.JWT.KeysFile, k, false))
			must(t, a.ReloadKeys())
			must(t, jwt.ActivateKey(a.Config.JWT.KeysFile, k.KID()))
			must(t, a.ReloadKeys())
		}, false},
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
