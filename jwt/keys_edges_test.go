package jwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// TestKeySetAddRefusesDuplicateKid: rotation step 1 cannot publish a
// second key under a kid already in the set.
func TestKeySetAddRefusesDuplicateKid(t *testing.T) {
	k := mustKey(t, AlgES256)
	ks := mustKeySet(t, k)
	other, err := NewKey(mustKey(t, AlgES256).priv, "", k.KID())
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Add(other); !errors.Is(err, ErrKey) {
		t.Fatalf("Add of a duplicate kid: %v", err)
	}
	if got, _ := ks.Lookup(k.KID()); got != k || len(ks.Keys()) != 1 {
		t.Fatalf("set changed: %v", ks.Keys())
	}
}

// TestKeySetReplaceRefreshesJWKS: after a reload (Replace) the JWKS served
// is the new set's, not the one cached before.
func TestKeySetReplaceRefreshesJWKS(t *testing.T) {
	oldKey, newKey := mustKey(t, AlgES256), mustKey(t, AlgEdDSA)
	ks := mustKeySet(t, oldKey)
	before, _ := ks.PublicJWKS() // fills the cache
	ks.Replace(mustKeySet(t, newKey))
	after, _ := ks.PublicJWKS()
	if bytes.Equal(before, after) || !bytes.Contains(after, []byte(newKey.KID())) || bytes.Contains(after, []byte(oldKey.KID())) {
		t.Fatalf("JWKS after Replace: %s", after)
	}
	if ks.Signer() != newKey {
		t.Fatalf("signer %v", ks.Signer())
	}
}

// TestAlgorithmsSignerFirst: Algorithms lists the signer's algorithm first
// even when the signer is not the first key, then the others once each.
func TestAlgorithmsSignerFirst(t *testing.T) {
	ed, es, es2 := mustKey(t, AlgEdDSA), mustKey(t, AlgES256), mustKey(t, AlgES256)
	ks, err := NewKeySet([]*Key{ed, es, es2}, es.KID())
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.Algorithms(); !slices.Equal(got, []string{AlgES256, AlgEdDSA}) {
		t.Fatalf("Algorithms %v, want [ES256 EdDSA]", got)
	}
}

// TestDiscoveryNamesTheConfiguredJWKSURI: jwks_uri is the configured one,
// which need not be under the issuer; both documents are readable from
// other origins.
func TestDiscoveryNamesTheConfiguredJWKSURI(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	const issuer, jwksURI = "https://auth.example.com", "https://keys.example.net/v1/jwks"
	for name, h := range map[string]http.Handler{
		"discovery": DiscoveryHandler(issuer, jwksURI, ks, time.Minute, nil),
		"jwks":      JWKSHandler(ks, time.Minute),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s: %d, CORS %q", name, rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
		}
		if name != "discovery" {
			continue
		}
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Issuer != issuer || doc.JWKSURI != jwksURI {
			t.Fatalf("discovery %s", rec.Body.Bytes())
		}
	}
}

// TestEchoMiddlewareTokenSources: a token is taken from the Authorization
// header (or the configured cookie) only: never from the query string or a
// form, where it would end up in logs and Referer headers; an empty bearer
// is a missing token.
func TestEchoMiddlewareTokenSources(t *testing.T) {
	_, tok, v := clockedToken(t)
	mw := EchoMiddleware(v, WithCookie("callpass_jwt"))(func(c echo.Context) error { return c.String(200, "in") })
	for name, mk := range map[string]func() *http.Request{
		"access_token query": func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/?access_token="+tok.Raw, nil)
		},
		"token query": func() *http.Request { return httptest.NewRequest(http.MethodGet, "/?token="+tok.Raw, nil) },
		"form body": func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("access_token="+tok.Raw))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		},
		"empty bearer": func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer   ")
			return r
		},
	} {
		c := echo.New().NewContext(mk(), httptest.NewRecorder())
		err := mw(c)
		var he *echo.HTTPError
		if !errors.As(err, &he) || he.Code != 401 || !errors.Is(err, ErrTokenMissing) {
			t.Errorf("%s: err %v, want 401 token missing", name, err)
		}
		if _, ok := ClaimsFromContext(c); ok {
			t.Errorf("%s: claims stored", name)
		}
	}
}

// TestClaimsMapperBoundsAsDocumented: a mapper made by NewClaimsMapper runs
// with the documented bounds (1 s per evaluation, 16 at once), and its call
// depth is bounded below jsonnet's default (500).
func TestClaimsMapperBoundsAsDocumented(t *testing.T) {
	m, err := NewClaimsMapper("m", `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if m.limit <= 0 || m.limit > time.Second {
		t.Errorf("evaluation limit %s, want at most 1s", m.limit)
	}
	if cap(m.slots) < 1 || cap(m.slots) > 16 {
		t.Errorf("%d concurrent evaluations, want at most 16", cap(m.slots))
	}
	deep, err := NewClaimsMapper("deep", `local f(n) = if n == 0 then {} else f(n - 1); {claims: f(400)}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := deep.Map(map[string]any{}, testSubject()); !errors.Is(err, ErrClaimsMapper) {
		t.Errorf("recursion 400 deep: %v, want refused by the call-depth bound", err)
	}
}

// TestDevKeySetDirPrivate: the directory DevKeySet creates is 0700.
func TestDevKeySetDirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "keys")
	if _, err := DevKeySet(dir, AlgES256); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, want 0700", d, st.Mode().Perm())
		}
	}
}

// TestAppendKeyActivateNeedsPrivateKey: a published-only key cannot be
// made the first (signing) key of the file.
func TestAppendKeyActivateNeedsPrivateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	first := mustKey(t, AlgES256)
	if err := WriteKeyFile(path, first); err != nil {
		t.Fatal(err)
	}
	pub := mustKey(t, AlgEdDSA).PublicOnly()
	if err := AppendKey(path, pub, true); !errors.Is(err, ErrKey) {
		t.Fatalf("AppendKey(public-only, activate): %v", err)
	}
	ks, err := LoadKeySet(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.Keys()) != 1 || ks.Signer().KID() != first.KID() {
		t.Fatalf("file changed: %v", ks.Keys())
	}
}

// TestKeyFileRewriteKeepsOwner: a rewrite (activate, remove) keeps the
// file's owner and group, so a service account reading it still can.
// Only root can give a file away.
func TestKeyFileRewriteKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 { // -1 on Windows
		t.Skip("needs root to chown")
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	a, b := mustKey(t, AlgES256), mustKey(t, AlgES256)
	if err := WriteKeyFile(path, a, b); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 4321, 4322
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := ActivateKey(path, b.KID()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Stat_t's fields by name: this file builds on every platform.
	sys := reflect.Indirect(reflect.ValueOf(st.Sys()))
	if sys.FieldByName("Uid").Uint() != uid || sys.FieldByName("Gid").Uint() != gid || st.Mode().Perm() != 0o640 {
		t.Fatalf("after rewrite: owner %v, mode %v; want %d:%d 0640", st.Sys(), st.Mode().Perm(), uid, gid)
	}
}
