package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A private key whose public half is another key's signs tokens that no app
// verifies (the JWKS publishes the public half), so it must be refused when
// it is loaded, not found out by every app at once.
func TestKeyRefusesMismatchedHalves(t *testing.T) {
	mismatched := func(t *testing.T, alg string) crypto.Signer {
		a, b := mustKey(t, alg), mustKey(t, alg)
		switch p := a.priv.(type) {
		case *ecdsa.PrivateKey:
			q := *p
			q.PublicKey = b.priv.(*ecdsa.PrivateKey).PublicKey
			return &q
		case ed25519.PrivateKey:
			// seed || public key: b's public half after a's seed
			return ed25519.PrivateKey(append(append([]byte(nil), p.Seed()...), b.Public().(ed25519.PublicKey)...))
		case *rsa.PrivateKey:
			q := *p
			q.PublicKey = b.priv.(*rsa.PrivateKey).PublicKey
			return &q
		}
		t.Fatalf("key type %T", a.priv)
		return nil
	}
	for _, alg := range allAlgs {
		t.Run("NewKey "+alg, func(t *testing.T) {
			if k, err := NewKey(mismatched(t, alg), "", ""); !errors.Is(err, ErrKey) {
				t.Fatalf("NewKey = %v, %v; want ErrKey", k, err)
			}
		})
		t.Run("key file "+alg, func(t *testing.T) {
			// A JWK whose x/y (or n, e) are another key's: hand-edited or
			// two files merged.
			a, b := mustKey(t, alg), mustKey(t, alg)
			dir := t.TempDir()
			members := func(k *Key) map[string]any {
				p := filepath.Join(dir, k.KID()+".json")
				if err := WriteKeyFile(p, k); err != nil {
					t.Fatal(err)
				}
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				var set struct{ Keys []map[string]any }
				if err := json.Unmarshal(data, &set); err != nil {
					t.Fatal(err)
				}
				return set.Keys[0]
			}
			ja, jb := members(a), members(b)
			for _, m := range []string{"x", "y", "n", "e"} {
				if v, ok := jb[m]; ok {
					ja[m] = v
				}
			}
			delete(ja, "kid")
			doc, err := json.Marshal(map[string]any{"keys": []any{ja}})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "mixed.json")
			if err := writeFile(path, doc); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadKeySet(path, ""); !errors.Is(err, ErrKey) {
				t.Fatalf("LoadKeySet error %v; want ErrKey", err)
			} else if !strings.Contains(err.Error(), "mixed.json") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
	// The control: matching halves load.
	for _, alg := range allAlgs {
		k := mustKey(t, alg)
		if _, err := NewKey(k.priv, alg, ""); err != nil {
			t.Fatalf("%s: matching key refused: %v", alg, err)
		}
	}
}
