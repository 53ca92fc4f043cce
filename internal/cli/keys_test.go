package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/app"
	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// fileKIDs returns the kids in the key file, in file order.
func fileKIDs(t *testing.T, path string) []string {
	t.Helper()
	ks, err := jwt.LoadKeySet(path, "")
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range ks.Keys() {
		kids = append(kids, k.KID())
	}
	return kids
}

// newKeyFile writes a key file with n keys (appended, the first signs) and
// returns its path and kids in file order.
func newKeyFile(t *testing.T, n int) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.json")
	for range n {
		if code, out, errs := run(t, nil, "keys", "generate", "--out", path); code != 0 {
			t.Fatalf("keys generate: %d %q %q", code, out, errs)
		}
	}
	return path, fileKIDs(t, path)
}

// TestKeysActivate: `keys activate` moves a key already in the file to the
// front (no new key), keeps the file's mode, and refuses what it cannot do.
func TestKeysActivate(t *testing.T) {
	tests := []struct {
		name     string
		args     func(path string, kids []string) []string
		env      []string
		wantCode int
		wantOut  string // in stdout (success) or stderr (failure)
		wantKIDs func(kids []string) []string
		wantWarn string
	}{
		{
			name:     "published key becomes first",
			args:     func(p string, k []string) []string { return []string{"--file", p, "--kid", k[2]} },
			wantOut:  "signs after SIGHUP",
			wantKIDs: func(k []string) []string { return []string{k[2], k[0], k[1]} },
		},
		{
			name:     "file from JWT_KEYS_FILE",
			args:     func(p string, k []string) []string { return []string{"--kid", k[1]} },
			wantOut:  "signs after SIGHUP",
			wantKIDs: func(k []string) []string { return []string{k[1], k[0], k[2]} },
		},
		{
			name:     "already first",
			args:     func(p string, k []string) []string { return []string{"--file", p, "--kid", k[0]} },
			wantOut:  "signs after SIGHUP",
			wantKIDs: func(k []string) []string { return k },
		},
		{
			name:     "signing_kid pins another key: warned",
			args:     func(p string, k []string) []string { return []string{"--file", p, "--kid", k[1]} },
			env:      []string{"JWT_SIGNING_KID=pinned-kid"},
			wantOut:  "signs after SIGHUP",
			wantKIDs: func(k []string) []string { return []string{k[1], k[0], k[2]} },
			wantWarn: "JWT_SIGNING_KID=pinned-kid pins the signer",
		},
		{
			name:     "unknown kid",
			args:     func(p string, k []string) []string { return []string{"--file", p, "--kid", "nope"} },
			wantCode: 1,
			wantOut:  `kid "nope" is not in`,
			wantKIDs: func(k []string) []string { return k },
		},
		{
			name:     "missing file",
			args:     func(p string, k []string) []string { return []string{"--file", p + ".missing", "--kid", k[1]} },
			wantCode: 1,
			wantOut:  "no such file",
			wantKIDs: func(k []string) []string { return k },
		},
		{
			name:     "not a JWK Set",
			args:     func(p string, k []string) []string { return []string{"--file", p + ".pem", "--kid", k[1]} },
			wantCode: 1,
			wantOut:  "not a JWK Set",
			wantKIDs: func(k []string) []string { return k },
		},
		{
			name:     "no kid",
			args:     func(p string, k []string) []string { return []string{"--file", p} },
			wantCode: 2,
			wantOut:  "need --kid",
			wantKIDs: func(k []string) []string { return k },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, kids := newKeyFile(t, 3)
			if err := os.Chmod(path, 0o640); err != nil { // an admin's choice, kept on rewrite
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".pem", []byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := append([]string{"JWT_KEYS_FILE=" + path}, tt.env...)
			code, out, errs := run(t, env, append([]string{"keys", "activate"}, tt.args(path, kids)...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %q %q", code, tt.wantCode, out, errs)
			}
			switch {
			case code == 0 && !strings.Contains(out, tt.wantOut):
				t.Errorf("stdout %q lacks %q", out, tt.wantOut)
			case code != 0 && !strings.Contains(errs, tt.wantOut):
				t.Errorf("stderr %q lacks %q", errs, tt.wantOut)
			case code == 1 && strings.Count(strings.TrimSpace(errs), "\n") != 0:
				t.Errorf("error is not one line: %q", errs)
			}
			if tt.wantWarn != "" && !strings.Contains(errs, tt.wantWarn) {
				t.Errorf("stderr %q lacks warning %q", errs, tt.wantWarn)
			}
			if got, want := fileKIDs(t, path), tt.wantKIDs(kids); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("file kids %v, want %v (no key added, none lost)", got, want)
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
				t.Errorf("mode after activate: %v %v, want 0640", st.Mode().Perm(), err)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".jwt-keys-*")); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// TestKeysListAndRemove: list shows every key and the signer; remove
// refuses the signer and deletes a published key.
func TestKeysListAndRemove(t *testing.T) {
	path, kids := newKeyFile(t, 2)
	code, out, errs := run(t, nil, "keys", "list", "--file", path)
	if code != 0 {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], kids[0]) || !strings.HasSuffix(lines[1], "signs") ||
		!strings.Contains(lines[2], kids[1]) || !strings.HasSuffix(lines[2], "published") || !strings.Contains(lines[1], "ES256") {
		t.Errorf("list output:\n%s", out)
	}
	if code, out, _ := run(t, []string{"JWT_SIGNING_KID=" + kids[1]}, "keys", "list", "--file", path); code != 0 ||
		!strings.Contains(out, "pins the signer") || !strings.HasSuffix(strings.Split(out, "\n")[2], "signs") {
		t.Errorf("list with JWT_SIGNING_KID: %d\n%s", code, out)
	}

	for _, tc := range []struct {
		name string
		env  []string
		kid  string
		want string
	}{
		{"the first key", nil, kids[0], "activate another key first"},
		{"the pinned key", []string{"JWT_SIGNING_KID=" + kids[1]}, kids[1], "pinned by JWT_SIGNING_KID"},
		{"unknown kid", nil, "nope", `kid "nope" is not in`},
	} {
		if code, _, errs := run(t, tc.env, "keys", "remove", "--file", path, "--kid", tc.kid); code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("remove %s: %d %q", tc.name, code, errs)
		}
	}
	if got := fileKIDs(t, path); len(got) != 2 {
		t.Fatalf("refused removals changed the file: %v", got)
	}
	if code, out, errs := run(t, nil, "keys", "remove", "--file", path, "--kid", kids[1]); code != 0 || !strings.Contains(out, "removed key") {
		t.Fatalf("remove: %d %q %q", code, out, errs)
	}
	if got := fileKIDs(t, path); len(got) != 1 || got[0] != kids[0] {
		t.Errorf("after remove: %v", got)
	}
	if code, _, errs := run(t, nil, "keys", "frobnicate"); code != 2 || !strings.Contains(errs, "activate") {
		t.Errorf("unknown subcommand: %d %q", code, errs)
	}
}

// rotationApp starts the service wiring on a key file and serves its JWKS.
func rotationApp(t *testing.T, vars []string, logw *bytes.Buffer) (*app.App, string) {
	t.Helper()
	vars = append([]string{"DEV_DATA_DIR=" + t.TempDir(), "KRATOS_PUBLIC_URL=http://127.0.0.1:1",
		"KRATOS_ADMIN_URL=http://127.0.0.1:1"}, vars...)
	cfg, _, err := config.Load("", vars, true)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return a, srv.URL + "/.well-known/jwks.json"
}

// TestKeyRotationEndToEnd follows the documented rotation with the CLI and
// SIGHUP against the running wiring: publish, wait, activate, retire. At no
// step is a valid token refused.
func TestKeyRotationEndToEnd(t *testing.T) {
	path, kids := newKeyFile(t, 1)
	oldKID := kids[0]
	var logs bytes.Buffer
	a, jwksURL := rotationApp(t, []string{"JWT_KEYS_FILE=" + path}, &logs)
	stop := reloadKeysOnHUP(a, slog.New(slog.DiscardHandler))
	defer stop()
	ctx := context.Background()
	iss, err := jwt.NewIssuer(jwt.IssuerConfig{Issuer: a.Config.JWT.Issuer, Audience: a.Config.JWT.Audience, Keys: a.Keys})
	if err != nil {
		t.Fatal(err)
	}
	issue := func() (raw, kid string) {
		tok, err := iss.Issue(ctx, jwt.Subject{IdentityID: "3f1d2c1e-0000-4000-8000-000000000001", SessionID: "s1",
			Methods: []string{"password"}, PhoneE164: "+79001234567"})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw, a.Keys.Signer().KID()
	}
	// A fresh verifier each time: it fetches the JWKS as served now.
	verify := func(raw string) error {
		v, err := jwt.NewVerifier(jwt.VerifierConfig{JWKSURL: jwksURL, Issuer: a.Config.JWT.Issuer, Audience: a.Config.JWT.Audience[0]})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(ctx, raw)
		return err
	}
	published := func() []string {
		resp, err := http.Get(jwksURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		// The docs tell admins to wait this long between publishing and activating.
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
			t.Errorf("JWKS Cache-Control %q; the documented rotation wait (5 minutes) assumes max-age=300", cc)
		}
		var doc struct{ Keys []struct{ Kid string } }
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range doc.Keys {
			out = append(out, k.Kid)
		}
		return out
	}
	hup := func(cond func() bool) {
		t.Helper()
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("SIGHUP did not reload the key file")
			}
		}
	}

	tokOld, kid := issue()
	if kid != oldKID || verify(tokOld) != nil {
		t.Fatal("the initial key does not sign or verify")
	}

	// 1. Publish: generate appends the new key; the old one still signs.
	if code, out, errs := run(t, []string{"JWT_KEYS_FILE=" + path}, "keys", "generate", "--alg", "EdDSA"); code != 0 ||
		!strings.Contains(out, "keys activate --file "+path+" --kid ") {
		t.Fatalf("keys generate: %d %q %q", code, out, errs)
	}
	newKID := fileKIDs(t, path)[1]
	hup(func() bool { return len(a.Keys.Keys()) == 2 })
	if got := published(); len(got) != 2 || got[1] != newKID {
		t.Fatalf("JWKS after publishing: %v", got)
	}
	if tok, kid := issue(); kid != oldKID || verify(tok) != nil {
		t.Fatal("after publishing, the old key must still sign")
	}

	// 2. Activate the key that was published (not a new one).
	if code, out, errs := run(t, nil, "keys", "activate", "--file", path, "--kid", newKID); code != 0 {
		t.Fatalf("keys activate: %d %q %q", code, out, errs)
	}
	hup(func() bool { return a.Keys.Signer().KID() == newKID })
	tokNew, _ := issue()
	if err := verify(tokNew); err != nil {
		t.Fatalf("token of the activated key: %v", err)
	}
	if err := verify(tokOld); err != nil {
		t.Fatalf("old token while the old key is still published: %v", err)
	}
	if got := published(); len(got) != 2 {
		t.Fatalf("JWKS after activating: %v (activate must not add a key)", got)
	}

	// 3. Retire the old key after the token lifetime.
	if code, out, errs := run(t, nil, "keys", "remove", "--file", path, "--kid", oldKID); code != 0 {
		t.Fatalf("keys remove: %d %q %q", code, out, errs)
	}
	hup(func() bool { return len(a.Keys.Keys()) == 1 })
	if got := published(); len(got) != 1 || got[0] != newKID {
		t.Fatalf("JWKS after retiring: %v", got)
	}
	if err := verify(tokOld); !errors.Is(err, jwt.ErrTokenUnknownKey) {
		t.Fatalf("old token after retiring its key: %v", err)
	}
	if err := verify(tokNew); err != nil {
		t.Fatalf("new token after retiring the old key: %v", err)
	}
}

// TestSigningKIDPinsSigner: with jwt.signing_kid set, reordering the file
// does not change the signer on reload (it needs a restart), and the reload
// says so.
func TestSigningKIDPinsSigner(t *testing.T) {
	path, kids := newKeyFile(t, 2)
	var logs bytes.Buffer
	a, _ := rotationApp(t, []string{"JWT_KEYS_FILE=" + path, "JWT_SIGNING_KID=" + kids[0]}, &logs)
	code, _, errs := run(t, []string{"JWT_SIGNING_KID=" + kids[0]}, "keys", "activate", "--file", path, "--kid", kids[1])
	if code != 0 || !strings.Contains(errs, "restart") {
		t.Fatalf("activate under a pinned signer: %d %q", code, errs)
	}
	if err := a.ReloadKeys(); err != nil {
		t.Fatal(err)
	}
	if got := a.Keys.Signer().KID(); got != kids[0] {
		t.Errorf("signer %s after reload, want the pinned %s", got, kids[0])
	}
	if !strings.Contains(logs.String(), "jwt.signing_kid pins the signer") {
		t.Errorf("reload did not warn that the file order is ignored:\n%s", logs.String())
	}
}

// TestKeysGenerateKeepsTheSignersAlgorithm: without --alg, a key generated
// into an existing file has the algorithm of the key that signs there (apps
// pin their algorithm lists: rotating an EdDSA deployment to an ES256 key
// would make them refuse every token once it signs); the pinned
// JWT_SIGNING_KID's when set; ES256 for a new file; --alg still decides.
func TestKeysGenerateKeepsTheSignersAlgorithm(t *testing.T) {
	algs := func(path string) []string {
		t.Helper()
		ks, err := jwt.LoadKeySet(path, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range ks.Keys() {
			out = append(out, k.Algorithm())
		}
		return out
	}
	gen := func(env []string, args ...string) {
		t.Helper()
		if code, out, errs := run(t, env, append([]string{"keys", "generate"}, args...)...); code != 0 {
			t.Fatalf("keys generate %v: %d %s %s", args, code, out, errs)
		}
	}
	dir := t.TempDir()
	tests := []struct {
		name  string
		setup []string // --alg of the keys written first, in file order
		env   []string
		args  []string
		want  string // the new key's algorithm
	}{
		{"new file", nil, nil, nil, jwt.AlgES256},
		{"EdDSA signs", []string{jwt.AlgEdDSA}, nil, nil, jwt.AlgEdDSA},
		{"RS256 signs, ES256 published", []string{jwt.AlgRS256, jwt.AlgES256}, nil, nil, jwt.AlgRS256},
		{"pinned signer", []string{jwt.AlgES256, jwt.AlgEdDSA}, []string{"JWT_SIGNING_KID=pinned"}, nil, jwt.AlgEdDSA},
		{"--alg decides", []string{jwt.AlgEdDSA}, nil, []string{"--alg", jwt.AlgRS256}, jwt.AlgRS256},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("k%d.json", i))
			for _, a := range tt.setup {
				gen(nil, "--alg", a, "--out", path)
			}
			env := tt.env
			if len(env) > 0 {
				// Pin the last key written (the "pinned" kid stands for it).
				kids := fileKIDs(t, path)
				env = []string{"JWT_SIGNING_KID=" + kids[len(kids)-1]}
			}
			gen(env, append(tt.args, "--out", path)...)
			got := algs(path)
			if len(got) != len(tt.setup)+1 || got[len(got)-1] != tt.want {
				t.Errorf("algorithms in file order %v, want the new key (last) %s", got, tt.want)
			}
		})
	}
}
