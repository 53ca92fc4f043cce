package jwt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// privateStrings returns encodings of the private scalars of k, which must
// never show up in printed or logged output.
func privateStrings(t *testing.T, k *Key) []string {
	t.Helper()
	var ints []*big.Int
	var raw [][]byte
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		b, err := p.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
		ints = append(ints, new(big.Int).SetBytes(b))
	case ed25519.PrivateKey:
		raw = append(raw, p.Seed())
	case *rsa.PrivateKey:
		ints = append(ints, p.D, p.Primes[0], p.Primes[1])
	}
	var out []string
	for _, i := range ints {
		out = append(out, i.String(), i.Text(16), base64.RawURLEncoding.EncodeToString(i.Bytes()))
	}
	for _, r := range raw {
		out = append(out, base64.RawURLEncoding.EncodeToString(r), fmt.Sprintf("%x", r), fmt.Sprint(r[:8])[1:20])
	}
	return out
}

func TestKeyNeverPrintsPrivateMaterial(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			k := mustKey(t, alg)
			var logBuf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
			logger.Info("key", "key", k, slog.Any("any", k), slog.Any("value", *k))
			slog.New(slog.NewTextHandler(&logBuf, nil)).Info("key", "key", k)
			js, err := json.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			outputs := map[string]string{
				"%v": fmt.Sprintf("%v", k), "%+v": fmt.Sprintf("%+v", k), "%#v": fmt.Sprintf("%#v", k),
				"%s": fmt.Sprintf("%s", k), "%x": fmt.Sprintf("%x", k), "String": k.String(),
				"slog": logBuf.String(), "json": string(js),
				"struct": fmt.Sprintf("%+v", struct{ K *Key }{k}),
				"value":  fmt.Sprintf("%+v", *k), "value#": fmt.Sprintf("%#v", []Key{*k}),
			}
			for name, out := range outputs {
				if !strings.Contains(out, k.KID()) {
					t.Errorf("%s output lacks the kid: %s", name, out)
				}
				for _, secret := range privateStrings(t, k) {
					if strings.Contains(out, secret) {
						t.Errorf("%s output contains private material: %s", name, out)
					}
				}
			}
			var m map[string]any
			if err := json.Unmarshal(js, &m); err != nil {
				t.Fatal(err)
			}
			for _, f := range privateMembers {
				if _, ok := m[f]; ok {
					t.Errorf("json.Marshal(key) has private member %q", f)
				}
			}
		})
	}
}

func TestThumbprintMatchesGoJOSE(t *testing.T) {
	for _, alg := range allAlgs {
		k := mustKey(t, alg)
		jk := jose.JSONWebKey{Key: k.Public()}
		want, err := jk.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if k.KID() != base64.RawURLEncoding.EncodeToString(want) {
			t.Errorf("%s: kid %s, go-jose thumbprint %x", alg, k.KID(), want)
		}
	}
}

func TestKeyRejects(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	es := mustKey(t, AlgES256)
	tests := []struct {
		name string
		f    func() error
	}{
		{"RSA 1024", func() error { _, err := NewKey(small, "", ""); return err }},
		{"P-384", func() error { _, err := NewKey(p384, "", ""); return err }},
		{"alg mismatch", func() error { _, err := NewKey(es.priv, AlgRS256, ""); return err }},
		{"HS256", func() error { _, err := GenerateKey("HS256"); return err }},
		{"none", func() error { _, err := GenerateKey("none"); return err }},
		{"empty set", func() error { _, err := NewKeySet(nil, ""); return err }},
		{"duplicate kid", func() error { _, err := NewKeySet([]*Key{es, es}, ""); return err }},
		{"unknown signing kid", func() error { _, err := NewKeySet([]*Key{es}, "nope"); return err }},
		{"public key cannot sign", func() error { _, err := NewKeySet([]*Key{es.PublicOnly()}, ""); return err }},
	}
	for _, tc := range tests {
		if err := tc.f(); !errors.Is(err, ErrKey) {
			t.Errorf("%s: err %v, want ErrKey", tc.name, err)
		}
	}
}

func pemBlock(t *testing.T, typ string, der []byte, headers map[string]string) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: der})
}

func TestLoadKeySetPEM(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rs, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ed)
	rsPKCS8, _ := x509.MarshalPKCS8PrivateKey(rs)
	rsPub, _ := x509.MarshalPKIXPublicKey(&rs.PublicKey)
	ecKID, _ := Thumbprint(&ec.PublicKey)
	edKID, _ := Thumbprint(ed.Public())
	rsKID, _ := Thumbprint(&rs.PublicKey)

	tests := []struct {
		name       string
		file       []byte
		signingKID string
		wantKIDs   []string
		wantAlgs   []string
		wantSigner string
	}{
		{"SEC1 EC", pemBlock(t, "EC PRIVATE KEY", ecDER, nil), "", []string{ecKID}, []string{AlgES256}, ecKID},
		{"PKCS1 RSA", pemBlock(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rs), nil), "", []string{rsKID}, []string{AlgRS256}, rsKID},
		{"PKCS8 mixed, first signs", slices.Concat(
			pemBlock(t, "PRIVATE KEY", edDER, nil),
			pemBlock(t, "PRIVATE KEY", rsPKCS8, map[string]string{"kid": "rsa-2026"}),
			pemBlock(t, "EC PRIVATE KEY", ecDER, nil),
		), "", []string{edKID, "rsa-2026", ecKID}, []string{AlgEdDSA, AlgRS256, AlgES256}, edKID},
		{"signing_kid picks", slices.Concat(
			pemBlock(t, "EC PRIVATE KEY", ecDER, nil),
			pemBlock(t, "PRIVATE KEY", rsPKCS8, map[string]string{"kid": "rsa-2026"}),
		), "rsa-2026", []string{ecKID, "rsa-2026"}, []string{AlgES256, AlgRS256}, "rsa-2026"},
		{"published public key", slices.Concat(
			pemBlock(t, "EC PRIVATE KEY", ecDER, nil),
			pemBlock(t, "PUBLIC KEY", rsPub, map[string]string{"kid": "old"}),
		), "", []string{ecKID, "old"}, []string{AlgES256, AlgRS256}, ecKID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.pem")
			if err := os.WriteFile(path, tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			ks, err := LoadKeySet(path, tc.signingKID)
			if err != nil {
				t.Fatal(err)
			}
			var kids, algs []string
			for _, k := range ks.Keys() {
				kids = append(kids, k.KID())
				algs = append(algs, k.Algorithm())
			}
			if !slices.Equal(kids, tc.wantKIDs) || !slices.Equal(algs, tc.wantAlgs) || ks.Signer().KID() != tc.wantSigner {
				t.Fatalf("kids %v algs %v signer %s", kids, algs, ks.Signer().KID())
			}
		})
	}
}

func TestLoadKeySetRejectsBadFiles(t *testing.T) {
	rs, _ := rsa.GenerateKey(rand.Reader, 1024)
	files := map[string][]byte{
		"empty":         nil,
		"text":          []byte("hello"),
		"no key blocks": pemBlock(t, "CERTIFICATE", []byte{1, 2}, nil),
		"weak rsa":      pemBlock(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rs), nil),
		"bad json":      []byte(`{"keys":[{"kty":"EC"}]}`),
		"enc use":       []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","use":"enc"}]}`),
	}
	for name, data := range files {
		path := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeySet(path, ""); !errors.Is(err, ErrKey) {
			t.Errorf("%s: err %v, want ErrKey", name, err)
		}
	}
}

func TestWriteLoadAppendKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jwt-keys.json")
	a := mustKey(t, AlgES256)
	if err := WriteKeyFile(path, a); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}

	b := mustKey(t, AlgRS256)
	c := mustKey(t, AlgEdDSA)
	steps := []struct {
		key        *Key
		activate   bool
		wantKIDs   []string
		wantSigner string
	}{
		{b, false, []string{a.KID(), b.KID()}, a.KID()},         // published only
		{c, true, []string{c.KID(), a.KID(), b.KID()}, c.KID()}, // --activate: first in file
	}
	for i, s := range steps {
		if err := AppendKey(path, s.key, s.activate); err != nil {
			t.Fatal(err)
		}
		ks, err := LoadKeySet(path, "")
		if err != nil {
			t.Fatal(err)
		}
		var kids []string
		for _, k := range ks.Keys() {
			kids = append(kids, k.KID())
			if !k.CanSign() {
				t.Fatalf("step %d: %v lost its private key", i, k)
			}
		}
		if !slices.Equal(kids, s.wantKIDs) || ks.Signer().KID() != s.wantSigner {
			t.Fatalf("step %d: kids %v signer %s", i, kids, ks.Signer().KID())
		}
	}
	if err := AppendKey(path, b, false); !errors.Is(err, ErrKey) {
		t.Fatalf("duplicate append: %v", err)
	}
	// The reloaded signer must produce the same public key (real round trip).
	ks, _ := LoadKeySet(path, b.KID())
	if !ks.Signer().Public().(*rsa.PublicKey).Equal(b.Public()) {
		t.Fatal("RSA key changed across write/load")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode after append %v", st.Mode().Perm())
	}
}

func TestDevKeySetPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := DevKeySet(dir, AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	second, err := DevKeySet(dir, AlgES256) // existing file wins
	if err != nil {
		t.Fatal(err)
	}
	if first.Signer().KID() != second.Signer().KID() || second.Signer().Algorithm() != AlgEdDSA {
		t.Fatalf("restart changed the key: %v vs %v", first.Signer(), second.Signer())
	}
	if st, err := os.Stat(filepath.Join(dir, DevKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("dev key file: %v %v", st, err)
	}
}
