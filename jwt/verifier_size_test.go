package jwt

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestJWKSSizeBound: a JWKS document over maxJWKSBytes is refused from
// either source, a file as much as a URL: the bound keeps a wrong file (a
// log, a disk image, /dev/zero or a FIFO that never ends) from being read
// into memory whole. A document of exactly the bound is read.
func TestJWKSSizeBound(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	doc, err := ks.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mustIssuer(t, ks, nil).Issue(context.Background(), testSubject())
	if err != nil {
		t.Fatal(err)
	}
	// Valid JSON of the given size: the document, then blanks.
	sized := func(n int) []byte { return append(bytes.Clone(doc), bytes.Repeat([]byte(" "), n-len(doc))...) }

	sources := []struct {
		name string
		cfg  func(t *testing.T, body []byte) VerifierConfig
	}{
		{"URL", func(t *testing.T, body []byte) VerifierConfig {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
			t.Cleanup(srv.Close)
			return VerifierConfig{JWKSURL: srv.URL}
		}},
		{"file", func(t *testing.T, body []byte) VerifierConfig {
			path := filepath.Join(t.TempDir(), "jwks.json")
			if err := writeFile(path, body); err != nil {
				t.Fatal(err)
			}
			return VerifierConfig{JWKSFile: path}
		}},
	}
	sizes := []struct {
		size int
		want error
	}{
		{maxJWKSBytes, nil},
		{maxJWKSBytes + 1, ErrKeysUnavailable},
		{4 * maxJWKSBytes, ErrKeysUnavailable},
	}
	for _, src := range sources {
		for _, sz := range sizes {
			t.Run(src.name, func(t *testing.T) {
				cfg := src.cfg(t, sized(sz.size))
				cfg.Issuer, cfg.Audience = testIss, testAud
				v, err := NewVerifier(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := v.Verify(context.Background(), tok.Raw); !errors.Is(err, sz.want) {
					t.Fatalf("%d bytes: Verify error %v, want %v", sz.size, err, sz.want)
				}
			})
		}
	}
	t.Run("file that never ends", func(t *testing.T) {
		if _, err := os.Stat("/dev/zero"); err != nil {
			t.Skip("no /dev/zero here")
		}
		v, err := NewVerifier(VerifierConfig{JWKSFile: "/dev/zero", Issuer: testIss, Audience: testAud})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok.Raw); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("Verify error %v, want ErrKeysUnavailable", err)
		}
	})
}
