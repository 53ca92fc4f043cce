package jwt

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeDeps installs the pinned jose package once per test run (npm keeps its
// own cache, so a warm machine does not download it again).
var nodeDeps = sync.OnceValue(func() error {
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = filepath.Join("testdata", "node")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &exec.Error{Name: "npm ci: " + strings.TrimSpace(string(out)), Err: err}
	}
	return nil
})

// TestTokensVerifyWithNodeJose: tokens from the Issuer verify with jose, a
// widely used independent implementation in another language, through the
// JWKS endpoint, for every algorithm; tampered ones and a wrong audience are
// refused by it too.
func TestTokensVerifyWithNodeJose(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is required for the interoperability test (the Go machine image ships Node.js)")
	}
	if err := nodeDeps(); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{AlgES256, AlgEdDSA, AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			ks := mustKeySet(t, mustKey(t, alg))
			srv := newJWKSServer(t, ks)
			iss := mustIssuer(t, ks, time.Now)
			tok, err := iss.Issue(t.Context(), testSubject())
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(tok.Raw, ".")
			payload := decodeSegment(t, tok.Raw, 1)
			payload["sub"] = "someone-else"
			tampered := parts[0] + "." + encodeSegment(t, payload) + "." + parts[2]

			results := runJose(t, srv.URL, testAud, alg, tok.Raw, tampered)
			if !results[0].OK || results[0].Alg != alg || results[0].Kid != ks.Signer().KID() {
				t.Fatalf("jose refused a valid %s token: %+v", alg, results[0])
			}
			p := results[0].Payload
			if p["sub"] != testSubject().IdentityID || p["phone_number"] != "+79991234567" || p["phone_number_verified"] != true {
				t.Errorf("claims as jose reads them: %v", p)
			}
			if amr, _ := p["amr"].([]any); len(amr) == 0 || !containsAny(amr, "tel") {
				t.Errorf("amr as jose reads it: %v", p["amr"])
			}
			if results[1].OK {
				t.Error("jose accepted a tampered payload")
			}
			wrongAud := runJose(t, srv.URL, "other-app", alg, tok.Raw)
			if wrongAud[0].OK {
				t.Error("jose accepted a token for another audience")
			}
		})
	}
}

type joseResult struct {
	OK      bool           `json:"ok"`
	Payload map[string]any `json:"payload"`
	Alg     string         `json:"alg"`
	Kid     string         `json:"kid"`
	Error   string         `json:"error"`
}

func runJose(t *testing.T, jwksURL, aud, alg string, tokens ...string) []joseResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "node", "verify.mjs", jwksURL+"/.well-known/jwks.json", testIss, aud, alg)
	cmd.Dir = filepath.Join("testdata", "node")
	cmd.Stdin = strings.NewReader(strings.Join(tokens, "\n") + "\n")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node verify.mjs: %v", err)
	}
	var res []joseResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r joseResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("node output %q: %v", sc.Text(), err)
		}
		res = append(res, r)
	}
	if len(res) != len(tokens) {
		t.Fatalf("node verified %d of %d tokens: %s", len(res), len(tokens), out)
	}
	return res
}

func containsAny(list []any, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
