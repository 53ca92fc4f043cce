package jwt

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestClaimsMapper(t *testing.T) {
	tests := []struct {
		name    string
		snippet string
		want    map[string]any // extra claims in the token
		wantErr bool
	}{
		{"kratos form", `local c = std.extVar("claims"); {claims: {email: c.traits.email, idt: c.identity_id}}`,
			map[string]any{"email": "a@example.test", "idt": "7f3c1d9e-0000-4000-8000-000000000001"}, false},
		{"plain object", `{tier: std.extVar("claims").metadata_public.tier}`, map[string]any{"tier": "gold"}, false},
		{"kratos session var", `local s = std.extVar("session"); {claims: {schema_methods: [m.method for m in s.authentication_methods], sid2: s.id}}`,
			map[string]any{"schema_methods": []any{"password"}, "sid2": "5a1b2c3d-0000-4000-8000-000000000002"}, false},
		{"sees base claims", `local c = std.extVar("claims"); {claims: {iss_copy: c.iss, tel: std.member(c.amr, "tel")}}`,
			map[string]any{"iss_copy": testIss, "tel": true}, false},
		{"reserved dropped", `{claims: {sub: "admin", exp: 9999999999, aud: "x", phone_number: "+10000000000", amr: [], keep: 1}}`,
			map[string]any{"keep": json.Number("1")}, false},
		{"empty", `{}`, map[string]any{}, false},
		{"big integer exact", `{n: 9007199254740993}`, map[string]any{"n": json.Number("9007199254740992")}, false},
		{"array", `[1]`, nil, true},
		{"string", `"x"`, nil, true},
		{"null", `null`, nil, true},
		{"claims not object", `{claims: [1, 2]}`, nil, true},
		{"runtime error", `error "boom"`, nil, true},
		{"import refused", `import "/etc/passwd"`, nil, true},
		{"importstr refused", `{x: importstr "/etc/hostname"}`, nil, true},
		{"deep recursion bounded", `local f(n) = if n == 0 then 0 else 1 + f(n - 1); {x: f(100000)}`, nil, true},
		{"too large", `{x: std.repeat("a", 20000)}`, nil, true},
	}
	ks := mustKeySet(t, mustKey(t, AlgEdDSA))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss := mapperIssuer(t, ks, tc.name, tc.snippet)
			s := testSubject()
			s.MetadataPublic = json.RawMessage(`{"tier":"gold"}`)
			tok, err := iss.Issue(context.Background(), s)
			if tc.wantErr {
				if !errors.Is(err, ErrClaimsMapper) {
					t.Fatalf("err %v, want ErrClaimsMapper", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			payload := decodeSegment(t, tok.Raw, 1)
			got := map[string]any{}
			for k, v := range payload {
				if !isReserved(k) {
					got[k] = v
				}
			}
			want := map[string]any{}
			for k, v := range tc.want { // compare through JSON: numbers decode as float64
				b, _ := json.Marshal(v)
				var x any
				_ = json.Unmarshal(b, &x)
				want[k] = x
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("extra claims %v, want %v", got, want)
			}
			if payload["sub"] != s.IdentityID || payload["phone_number"] != s.PhoneE164 || payload["iss"] != testIss {
				t.Fatalf("reserved claims overridden: %v", payload)
			}
		})
	}
}

func TestClaimsMapperCompileErrors(t *testing.T) {
	if _, err := NewClaimsMapper("bad", `{claims: `); !errors.Is(err, ErrClaimsMapper) {
		t.Fatalf("syntax error: %v", err)
	}
	if _, err := NewClaimsMapper("big", strings.Repeat(" ", mapperMaxSnippet+1)+"{}"); !errors.Is(err, ErrClaimsMapper) {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := LoadClaimsMapper(filepath.Join(t.TempDir(), "missing.jsonnet")); !errors.Is(err, ErrClaimsMapper) {
		t.Fatalf("missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "m.jsonnet")
	if err := os.WriteFile(path, []byte(`{claims: {a: 1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadClaimsMapper(path)
	if err != nil {
		t.Fatal(err)
	}
	extra, _, err := m.Map(map[string]any{}, testSubject())
	if err != nil || extra["a"] != json.Number("1") {
		t.Fatalf("loaded mapper: %v %v", extra, err)
	}
}

// TestClaimsMapperConcurrent shares one compiled mapper between goroutines
// (run with -race).
func TestClaimsMapperConcurrent(t *testing.T) {
	m, err := NewClaimsMapper("c", `local c = std.extVar("claims"); {claims: {email: c.traits.email, n: std.length(c.amr)}}`)
	if err != nil {
		t.Fatal(err)
	}
	iss := mustIssuer(t, mustKeySet(t, mustKey(t, AlgEdDSA)), nil, func(c *IssuerConfig) { c.ClaimsMapper = m })
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			s := testSubject()
			s.Traits = json.RawMessage(`{"email":"u` + string(rune('0'+i)) + `@x.test"}`)
			for range 20 {
				tok, err := iss.Issue(context.Background(), s)
				if err != nil {
					done <- err
					return
				}
				if got := decodeSegment(t, tok.Raw, 1)["email"]; got != "u"+string(rune('0'+i))+"@x.test" {
					done <- errors.New("claims from another goroutine leaked into this token")
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzClaimsMapper feeds arbitrary mapper sources and identity data. The
// issuer must never panic, and whatever the mapper returns, every reserved
// claim in the signed token keeps the issuer's value.
func FuzzClaimsMapper(f *testing.F) {
	seeds := []struct{ snippet, traits, meta string }{
		{`local c = std.extVar("claims"); {claims: {email: c.traits.email}}`, `{"email":"a@b.test"}`, `null`},
		{`{claims: {sub: "evil", iss: "evil", exp: 1, amr: ["pwd"], phone_number_verified: false}}`, `{}`, `{}`},
		{`{sub: "plain-evil", x: std.extVar("claims").metadata_public}`, `{}`, `{"a":[1,2,{"b":null}]}`},
		{`local s = std.extVar("session"); {claims: {id: s.identity.id, t: s.identity.traits}}`, `{"name":{"first":"A"}}`, `1`},
		{`{claims: std.extVar("claims")}`, `{"phone":"+79990000000"}`, `"str"`},
		{`[]`, `{}`, `null`},
		{`{claims: null}`, `{}`, `null`},
		{`std.extVar("nope")`, `{}`, `null`},
		{`{["a" + i]: i for i in [1, 2, 3]}`, `{}`, `null`}, // no "range": the filter below would skip it
		{`local f(n) = f(n + 1); f(0)`, `{}`, `null`},
	}
	for _, s := range seeds {
		f.Add(s.snippet, s.traits, s.meta)
	}
	clock := newClock()
	ks := mustKeySet(f, mustKey(f, AlgEdDSA))
	f.Fuzz(func(t *testing.T, snippet, traits, meta string) {
		if len(snippet) > 512 || len(traits) > 4096 || len(meta) > 4096 {
			t.Skip()
		}
		// Mappers that build huge values can run for long; that is an
		// operator's problem, not the fuzz target's.
		if strings.Contains(snippet, "range") || strings.Contains(snippet, "repeat") || strings.Contains(snippet, "makeArray") {
			t.Skip()
		}
		if !json.Valid([]byte(traits)) || !json.Valid([]byte(meta)) {
			t.Skip()
		}
		m, err := NewClaimsMapper("fuzz", snippet)
		if err != nil {
			if !errors.Is(err, ErrClaimsMapper) {
				t.Fatalf("compile error not typed: %v", err)
			}
			return
		}
		iss := mustIssuer(t, ks, clock.Now, func(c *IssuerConfig) { c.ClaimsMapper = m })
		s := testSubject()
		s.Traits, s.MetadataPublic = json.RawMessage(traits), json.RawMessage(meta)
		start := time.Now()
		tok, err := iss.Issue(context.Background(), s)
		if time.Since(start) > 5*time.Second {
			t.Logf("slow mapper: %q", snippet)
		}
		if err != nil {
			if !errors.Is(err, ErrClaimsMapper) {
				t.Fatalf("mapper failure not typed: %v", err)
			}
			return
		}
		p := decodeSegment(t, tok.Raw, 1)
		now := clock.Now().Unix()
		want := map[string]any{
			"iss": testIss, "sub": s.IdentityID, "aud": testAud, "sid": s.SessionID, "jti": tok.ID,
			"iat": float64(now), "nbf": float64(now), "exp": float64(now + int64(DefaultTTL/time.Second)),
			"auth_time": float64(now), "amr": []any{"pwd", "tel", "mfa"},
			"phone_number": s.PhoneE164, "phone_number_verified": true,
		}
		for _, name := range ReservedClaims() {
			if !reflect.DeepEqual(p[name], want[name]) {
				t.Fatalf("reserved claim %s = %v, want %v (snippet %q)", name, p[name], want[name], snippet)
			}
		}
	})
}

// TestClaimsMapperBounded: a mapper cannot take the issuer down. tailstrict
// (which escapes the call-depth limit and could overflow Go's stack, a crash
// no recover catches) is refused at load; deep recursion hits the call-depth
// limit; an evaluation that runs too long is refused after the time limit,
// and overrunning evaluations hold at most mapperSlots slots.
func TestClaimsMapperBounded(t *testing.T) {
	for _, src := range []string{
		`local f(n) = if n == 0 then {} else f(n - 1) tailstrict; f(1000000)`,
		`{claims: {a: (function(x) x)(1) tailstrict}}`,
	} {
		if _, err := NewClaimsMapper("ts", src); !errors.Is(err, ErrClaimsMapper) || !strings.Contains(err.Error(), "tailstrict") {
			t.Errorf("%s: %v, want tailstrict refused", src, err)
		}
	}
	deep, err := NewClaimsMapper("deep", `local f(n) = if n == 0 then {} else f(n - 1); f(1000000)`)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := deep.Map(map[string]any{}, testSubject()); !errors.Is(err, ErrClaimsMapper) {
		t.Errorf("deep recursion: %v", err)
	}
	// About a second of work here, well past the 50 ms limit set below.
	slow, err := NewClaimsMapper("slow", `{claims: {n: std.length([x for x in std.range(1, 300000)])}}`)
	if err != nil {
		t.Fatal(err)
	}
	slow.limit = 50 * time.Millisecond
	slow.slots = make(chan struct{}, 1)
	if _, _, err := slow.Map(map[string]any{}, testSubject()); !errors.Is(err, ErrClaimsMapper) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("slow mapper: %v", err)
	}
	// Its evaluation still holds the only slot: the next one waits for it
	// at most the limit, and is refused.
	if _, _, err := slow.Map(map[string]any{}, testSubject()); !errors.Is(err, ErrClaimsMapper) || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second evaluation while the first overruns: %v", err)
	}
	// The overrunning evaluation goes on in the background, allocating:
	// wait for it to free its slot, so the tests after this one (allocation
	// counts among them) do not count its work as theirs.
	select {
	case slow.slots <- struct{}{}:
	case <-time.After(time.Minute):
		t.Fatal("the overrunning evaluation did not end within a minute")
	}
}

// TestReservedClaimsIsACopy: the reserved list decides what a mapper may
// override, so changing the returned slice must not let a mapper set iss.
func TestReservedClaimsIsACopy(t *testing.T) {
	r := ReservedClaims()
	if len(r) == 0 {
		t.Fatal("no reserved claims")
	}
	for i := range r {
		r[i] = "changed"
	}
	_ = append(r[:0], "appended")
	if !isReserved("iss") || !isReserved("amr") || isReserved("changed") {
		t.Fatal("changing ReservedClaims()'s result changed the reserved list")
	}
	claims, dropped, err := decodeMapperResult("m", []byte(`{"iss": "https://evil.test", "keep": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["iss"]; ok || len(dropped) != 1 || dropped[0] != "iss" {
		t.Fatalf("claims %v, dropped %v", claims, dropped)
	}
}

// mapperIssuer is an issuer on ks whose claims mapper is snippet.
func mapperIssuer(t *testing.T, ks *KeySet, name, snippet string) *Issuer {
	t.Helper()
	m, err := NewClaimsMapper(name, snippet)
	if err != nil {
		t.Fatal(err)
	}
	return mustIssuer(t, ks, nil, func(c *IssuerConfig) { c.ClaimsMapper = m })
}

// TestClaimsMapperRuntimeErrorHidesValues: a mapper that fails at run time
// on a user's value (a phone number jsonnet cannot parse, an assertion on
// an e-mail) returns an error that names the mapper but carries none of
// jsonnet's message, which quotes the value: the error reaches the logs.
func TestClaimsMapperRuntimeErrorHidesValues(t *testing.T) {
	const name = "mapper.jsonnet"
	snippets := map[string]string{
		"parseOctal phone":      `{n: std.parseOctal(std.extVar("claims").phone_number)}`,
		"parseInt trait":        `{n: std.parseInt(std.strReplace(std.extVar("claims").traits.phone, "+7", "8 "))}`,
		"assertEqual email":     `{e: std.assertEqual(std.extVar("claims").traits.email, "x")}`,
		"error with value":      "{\n  e: error \"bad \" + std.extVar(\"session\").identity.traits.email,\n}",
		"error in computed key": `{[std.extVar("claims").traits.email]: error std.extVar("claims").phone_number}`,
		"assert with value":     `local c = std.extVar("claims"); assert c.traits.email == "" : c.traits.email; {}`,
		"metadata value":        `{n: std.parseInt(std.extVar("claims").metadata_public.pin)}`,
	}
	ks := mustKeySet(t, mustKey(t, AlgEdDSA))
	for tn, snippet := range snippets {
		t.Run(tn, func(t *testing.T) {
			iss := mapperIssuer(t, ks, name, snippet)
			s := testSubject()
			s.MetadataPublic = json.RawMessage(`{"pin":"x-4711-secret"}`)
			_, err := iss.Issue(context.Background(), s)
			if !errors.Is(err, ErrClaimsMapper) {
				t.Fatalf("err %v, want ErrClaimsMapper", err)
			}
			msg := err.Error()
			for _, leak := range []string{"9991234567", "1234567", "a@example.test", "example.test", "4711", "secret", "RUNTIME ERROR", "base 10"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("error %q contains %q", msg, leak)
				}
			}
			if !strings.Contains(msg, name) || !strings.Contains(msg, "evaluation failed") {
				t.Fatalf("error %q does not name the mapper and the failed evaluation", msg)
			}
			if tn == "error with value" && !strings.Contains(msg, "line 2, column") {
				t.Fatalf("error %q lost the failure's position in the mapper", msg)
			}
		})
	}
}

// TestClaimsMapperCompileErrorInFull: a load-time error comes from the
// operator's own file, not user data, and is reported in full.
func TestClaimsMapperCompileErrorInFull(t *testing.T) {
	_, err := NewClaimsMapper("mapper.jsonnet", "{a: undefinedVariable}")
	if !errors.Is(err, ErrClaimsMapper) {
		t.Fatalf("err %v, want ErrClaimsMapper", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "mapper.jsonnet:1") || !strings.Contains(msg, "undefinedVariable") {
		t.Fatalf("compile error %q lost jsonnet's text", msg)
	}
}
