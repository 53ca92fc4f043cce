package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// TestKeysGenerateIntoAnUnusualFile: without --alg, keys generate reads the
// --out file for its signer's algorithm. An empty JWK Set, or a file created
// empty beforehand with its owner and mode, gets an ES256 key (there is no
// signer to follow) and keeps its mode; a PEM file, a file of neither format and
// a path that cannot be read as a file are refused with an error that says
// what is wrong, and nothing is written.
func TestKeysGenerateIntoAnUnusualFile(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	tests := []struct {
		name    string
		content []byte // nil: the path is a directory
		wantErr string // "" when it succeeds
	}{
		{"empty JWK Set", []byte(`{"keys": []}`), ""},
		{"empty file (install -m 0600 /dev/null)", []byte{}, ""},
		{"a newline only", []byte("\n"), ""},
		{"PEM file", pemKey, "convert PEM to a JWK Set"},
		{"neither JSON nor PEM", []byte("not a key\n"), "neither JSON (JWK Set) nor PEM"},
		{"a directory", nil, "is a directory"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "keys"+string(rune('a'+i)))
			if tt.content == nil {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			} else if err := os.Chmod(path, 0o640); err != nil { // the admin's choice, kept
				t.Fatal(err)
			}
			code, out, errs := run(t, nil, "keys", "generate", "--out", path)
			if tt.wantErr == "" {
				ks, err := jwt.LoadKeySet(path, "")
				if code != 0 || err != nil || len(ks.Keys()) != 1 || ks.Keys()[0].Algorithm() != jwt.AlgES256 {
					t.Fatalf("keys generate: %d %s %s; file: %v", code, out, errs, err)
				}
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
					t.Errorf("the key file's mode: %v %v, want its 0640 kept", fi.Mode(), err)
				}
				return
			}
			if code == 0 || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("keys generate: %d %q, want an error saying %q", code, errs, tt.wantErr)
			}
			if tt.content != nil {
				if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, tt.content) {
					t.Errorf("the refused file changed: %q %v", got, err)
				}
			}
		})
	}
}
