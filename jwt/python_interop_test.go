package jwt

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// pythonBin is the interpreter scripts/install-deps.sh provides PyJWT for
// (Debian's python3-jwt and python3-cryptography): the system one, not
// whatever python3 comes first on PATH (a pyenv shim may lack them).
const pythonBin = "/usr/bin/python3"

// The README's Python sample verifies for this issuer and audience; the
// tokens below are issued for them (or, to be refused, for others), so the
// sample runs as written but for the JWKS URL and the algorithm.
const (
	readmeIss     = "https://2fa.example.com"
	readmeAud     = "callpass-kratos"
	readmeJWKSURL = "https://2fa.example.com/.well-known/jwks.json"
)

// readmePythonSample returns the README's "Python (PyJWT)" block with the
// JWKS URL and the algorithm replaced; it fails when the block no longer has
// the shape this test relies on.
func readmePythonSample(t *testing.T, jwksURL, alg string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```python\n")
	if !ok {
		t.Fatal("README.md has no ```python block")
	}
	sample, _, ok := strings.Cut(rest, "```")
	if !ok || !strings.Contains(sample, "PyJWT") {
		t.Fatalf("README.md's python block is not the PyJWT sample:\n%s", sample)
	}
	// PyJWT verifies ES256, EdDSA and RS256 only with cryptography installed
	// (pip's pyjwt[crypto]); plain `pip install pyjwt` makes PyJWKClient fail
	// with "Unable to find a algorithm for key".
	for _, s := range []string{`issuer="` + readmeIss + `"`, `audience="` + readmeAud + `"`, `pyjwt[crypto]`} {
		if !strings.Contains(sample, s) {
			t.Fatalf("README.md's PyJWT sample lacks %s:\n%s", s, sample)
		}
	}
	for old, repl := range map[string]string{
		`"` + readmeJWKSURL + `"`: `"` + jwksURL + `"`,
		`algorithms=["ES256"]`:    `algorithms=["` + alg + `"]`,
	} {
		if n := strings.Count(sample, old); n != 1 {
			t.Fatalf("README.md's PyJWT sample has %s %d times, want once:\n%s", old, n, sample)
		}
		sample = strings.Replace(sample, old, repl, 1)
	}
	return sample
}

// checkPyJWT fails (never skips, like the Node test) without the system
// Python's PyJWT.
func checkPyJWT(t *testing.T) {
	t.Helper()
	out, err := exec.Command(pythonBin, "-c", "import jwt, cryptography; print(jwt.__version__)").CombinedOutput()
	if err != nil {
		t.Fatalf("%s with PyJWT and cryptography is required for the interoperability test (bash scripts/install-deps.sh installs python3-jwt python3-cryptography): %v: %s",
			pythonBin, err, strings.TrimSpace(string(out)))
	}
	t.Logf("PyJWT %s", strings.TrimSpace(string(out)))
}

type pyResult struct {
	OK     bool           `json:"ok"`
	Claims map[string]any `json:"claims"`
	Error  string         `json:"error"`
	Detail string         `json:"detail"`
}

// runPyJWT runs the README's PyJWT sample once per token.
func runPyJWT(t *testing.T, jwksURL, alg string, tokens ...string) []pyResult {
	t.Helper()
	sample := filepath.Join(t.TempDir(), "sample.py")
	if err := os.WriteFile(sample, []byte(readmePythonSample(t, jwksURL, alg)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), pythonBin, filepath.Join("testdata", "python", "verify.py"), sample)
	cmd.Stdin = strings.NewReader(strings.Join(tokens, "\n") + "\n")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python verify.py: %v", err)
	}
	var res []pyResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r pyResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("python output %q: %v", sc.Text(), err)
		}
		res = append(res, r)
	}
	if len(res) != len(tokens) {
		t.Fatalf("python verified %d of %d tokens: %s", len(res), len(tokens), out)
	}
	return res
}

// TestTokensVerifyWithPyJWT runs the README's Python sample (PyJWKClient on
// the served JWKS, jwt.decode with a fixed algorithm, audience and issuer)
// for every algorithm: it accepts our tokens and reads their claims, and
// refuses a tampered one, another app's, another issuer's and an expired one.
func TestTokensVerifyWithPyJWT(t *testing.T) {
	checkPyJWT(t)
	now := time.Now()
	authTime := now.Add(-2 * time.Minute).Truncate(time.Second)
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			ks := mustKeySet(t, mustKey(t, alg))
			srv := newJWKSServer(t, ks)
			issue := func(mod ...func(*IssuerConfig)) string {
				t.Helper()
				base := func(c *IssuerConfig) { c.Issuer, c.Audience = readmeIss, []string{readmeAud} }
				s := testSubject()
				s.AuthTime = authTime
				s.SessionExpiresAt = now.Add(time.Hour)
				tok, err := mustIssuer(t, ks, time.Now, append([]func(*IssuerConfig){base}, mod...)...).Issue(t.Context(), s)
				if err != nil {
					t.Fatal(err)
				}
				return tok.Raw
			}
			valid := issue()
			tampered := tamperPayload(t, valid, func(m map[string]any) { m["sub"] = "someone-else" })
			everyApp := issue(func(c *IssuerConfig) { c.Audience = []string{"app-b", readmeAud} })
			otherApp := issue(func(c *IssuerConfig) { c.Audience = []string{"app-b"} })
			otherIssuer := issue(func(c *IssuerConfig) { c.Issuer = "https://evil.example.com" })
			expired := issue(func(c *IssuerConfig) {
				c.Clock = func() time.Time { return now.Add(-time.Hour) }
			})

			// The service's clock 10 s ahead of the app's: iat and nbf are in
			// the app's future, which the sample's leeway absorbs.
			ahead := issue(func(c *IssuerConfig) {
				c.Clock = func() time.Time { return now.Add(10 * time.Second) }
			})

			res := runPyJWT(t, srv.URL+JWKSPath, alg, valid, tampered, everyApp, otherApp, otherIssuer, expired, ahead)
			if !res[0].OK {
				t.Fatalf("PyJWT refused a valid %s token: %s: %s", alg, res[0].Error, res[0].Detail)
			}
			c := res[0].Claims
			s := testSubject()
			amr, _ := c["amr"].([]any)
			if c["iss"] != readmeIss || c["aud"] != readmeAud || c["sub"] != s.IdentityID || c["sid"] != s.SessionID ||
				c["phone_number"] != s.PhoneE164 || c["phone_number_verified"] != true ||
				c["auth_time"] != float64(authTime.Unix()) || !slices.Equal(amr, []any{"pwd", "tel", "mfa"}) {
				t.Errorf("claims as PyJWT reads them: %v", c)
			}
			// Exactly the README's claims, which the discovery document lists.
			var names []string
			for n := range c {
				names = append(names, n)
			}
			slices.Sort(names)
			if want := slices.Sorted(slices.Values(ClaimsSupported())); !slices.Equal(names, want) {
				t.Errorf("claims %v, want %v (claims_supported)", names, want)
			}
			iat, _ := c["iat"].(float64)
			if jti, _ := c["jti"].(string); c["nbf"] != iat || c["exp"] != iat+DefaultTTL.Seconds() || jti == "" ||
				time.Unix(int64(iat), 0).Before(now.Add(-time.Minute)) {
				t.Errorf("iat %v nbf %v exp %v jti %v", c["iat"], c["nbf"], c["exp"], c["jti"])
			}
			if !res[2].OK {
				t.Errorf("PyJWT refused a token naming every configured audience: %s: %s", res[2].Error, res[2].Detail)
			}
			if !res[6].OK {
				t.Errorf("PyJWT refused a token from a service whose clock is 10 s ahead: %s: %s", res[6].Error, res[6].Detail)
			}
			for i, want := range map[int]string{
				1: "InvalidSignatureError",
				3: "InvalidAudienceError",
				4: "InvalidIssuerError",
				5: "ExpiredSignatureError",
			} {
				if res[i].OK || res[i].Error != want {
					t.Errorf("token %d: PyJWT answered %+v, want %s", i, res[i], want)
				}
			}
		})
	}
}

// TestRotationWithPyJWT follows the README's key rotation on a key file
// (keys generate, keys activate, keys remove, each followed by a reload as
// SIGHUP does) for a deployment of every algorithm, and checks with the
// README's Python sample, pinned to that algorithm and fetching the JWKS
// afresh each time, that a token of the old key verifies until the old key
// is removed, and the new key's tokens from the moment it signs. The new key
// must be of the same algorithm: the sample refuses one of another.
func TestRotationWithPyJWT(t *testing.T) {
	checkPyJWT(t)
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) { testRotationWithPyJWT(t, alg) })
	}
}

func testRotationWithPyJWT(t *testing.T, alg string) {
	path := filepath.Join(t.TempDir(), "keys.json")
	old := mustKey(t, alg)
	if err := WriteKeyFile(path, old); err != nil {
		t.Fatal(err)
	}
	ks, err := LoadKeySet(path, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t, ks)
	sighup := func() {
		t.Helper()
		fresh, err := LoadKeySet(path, "")
		if err != nil {
			t.Fatal(err)
		}
		ks.Replace(fresh)
	}
	iss := mustIssuer(t, ks, time.Now, func(c *IssuerConfig) { c.Issuer, c.Audience = readmeIss, []string{readmeAud} })
	issue := func() (raw, kid string) {
		t.Helper()
		tok, err := iss.Issue(t.Context(), testSubject())
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw, decodeSegment(t, tok.Raw, 0)["kid"].(string)
	}
	verify := func(step string, tokens ...string) {
		t.Helper()
		for i, r := range runPyJWT(t, srv.URL+JWKSPath, alg, tokens...) {
			if !r.OK {
				t.Errorf("%s: token %d refused: %s: %s", step, i, r.Error, r.Detail)
			}
		}
	}
	tokOld, _ := issue()

	// 1. keys generate (a key of the signing key's algorithm, the CLI's
	// default into an existing file): the new key is published, the old one
	// still signs.
	fresh := mustKey(t, alg)
	if err := AppendKey(path, fresh, false); err != nil {
		t.Fatal(err)
	}
	sighup()
	if tok, kid := issue(); kid != old.KID() {
		t.Fatalf("step 1: %s signs, want the old key", kid)
	} else {
		verify("step 1", tokOld, tok)
	}

	// 3. keys activate: the new key signs; the old key's tokens still verify.
	if err := ActivateKey(path, fresh.KID()); err != nil {
		t.Fatal(err)
	}
	sighup()
	tokNew, kid := issue()
	if kid != fresh.KID() {
		t.Fatalf("step 3: %s signs, want the new key", kid)
	}
	verify("step 3", tokOld, tokNew)

	// 4. keys remove: the old key is gone, so are its tokens.
	if err := RemoveKey(path, old.KID()); err != nil {
		t.Fatal(err)
	}
	sighup()
	res := runPyJWT(t, srv.URL+JWKSPath, alg, tokOld, tokNew)
	if res[0].OK || !res[1].OK {
		t.Fatalf("step 4: old token %+v, new token %+v", res[0], res[1])
	}

	// Why step 1's key has the signing key's algorithm: an app pinned to
	// another algorithm refuses its tokens.
	other := AlgES256
	if alg == AlgES256 {
		other = AlgEdDSA
	}
	if err := AppendKey(path, mustKey(t, other), true); err != nil {
		t.Fatal(err)
	}
	sighup()
	tokOther, _ := issue()
	if r := runPyJWT(t, srv.URL+JWKSPath, alg, tokOther)[0]; r.OK || r.Error != "InvalidAlgorithmError" {
		t.Fatalf("a %s token, sample pinned to %s: %+v", other, alg, r)
	}
}
