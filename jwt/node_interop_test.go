package jwt

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

			// The service's clock 10 s ahead of the app's: nbf is in the
			// app's future, which the README's clockTolerance absorbs.
			ahead, err := mustIssuer(t, ks, func() time.Time { return time.Now().Add(10 * time.Second) }).Issue(t.Context(), testSubject())
			if err != nil {
				t.Fatal(err)
			}

			results := runJose(t, srv.URL, testAud, alg, tok.Raw, tampered, ahead.Raw)
			if !results[0].OK || results[0].Alg != alg || results[0].Kid != ks.Signer().KID() {
				t.Fatalf("jose refused a valid %s token: %+v", alg, results[0])
			}
			if !results[2].OK {
				t.Errorf("jose refused a token from a service whose clock is 10 s ahead: %+v", results[2])
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

// TestREADMEJoseSampleIsVerifyMjs: the Node test runs testdata/node/verify.mjs,
// not the README's jose sample, so the two must agree on what the test
// depends on: the README sample pins issuer, audience and algorithms, and
// allows the clock skew verify.mjs allows (without it jose refuses a token
// from a service whose clock is a second ahead).
func TestREADMEJoseSampleIsVerifyMjs(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```js\n")
	sample, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || !strings.Contains(sample, "jwtVerify(") {
		t.Fatalf("README.md has no ```js block with the jose sample")
	}
	for _, s := range []string{`issuer: "https://2fa.example.com"`, `audience: "callpass-kratos"`, `algorithms: ["ES256"]`} {
		if !strings.Contains(sample, s) {
			t.Errorf("README.md's jose sample lacks %s:\n%s", s, sample)
		}
	}
	mjs, err := os.ReadFile(filepath.Join("testdata", "node", "verify.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	tolerance := regexp.MustCompile(`clockTolerance:\s*(\d+)`)
	inReadme, inMjs := tolerance.FindAllStringSubmatch(sample, -1), tolerance.FindAllStringSubmatch(string(mjs), -1)
	if len(inReadme) != 1 || len(inMjs) != 1 || inReadme[0][1] != inMjs[0][1] || inReadme[0][1] == "0" {
		t.Errorf("clockTolerance: README.md's jose sample %v, verify.mjs %v: want one, the same, not 0", inReadme, inMjs)
	}
}
