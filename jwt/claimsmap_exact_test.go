package jwt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// TestClaimsMapperKeepsMetadataIntegersExact: jsonnet numbers are float64, so
// an integer of metadata_public above 2^53 that a mapper copies comes out of
// the evaluation rounded; the token carries it as it was in metadata_public.
// Traits (the user's to edit) are no source, and a value two different
// numbers share is left as jsonnet gave it.
func TestClaimsMapperKeepsMetadataIntegersExact(t *testing.T) {
	tests := []struct {
		name, snippet, traits, meta string
		want                        []string // in the payload
		notWant                     []string // not in the payload
	}{
		{"copied tenant id", `{tenant_id: std.extVar("claims").metadata_public.tenant_id}`,
			`{}`, `{"tenant_id":1234567890123456789}`,
			[]string{`"tenant_id":1234567890123456789`}, []string{"1234567890123456768", "1234567890123456800"}},
		{"kratos form, session var, nested and negative",
			`local m = std.extVar("session").identity.metadata_public; {claims: {org: {ids: [m.a, m.b]}, tier: m.tier}}`,
			`{}`, `{"a":-9007199254740993,"b":18446744073709551615,"tier":"gold"}`,
			[]string{`"org":{"ids":[-9007199254740993,18446744073709551615]}`, `"tier":"gold"`}, nil},
		{"exact already", `{n: std.extVar("claims").metadata_public.n, small: 12}`,
			`{}`, `{"n":9007199254740992}`,
			[]string{`"n":9007199254740992`, `"small":12`}, nil},
		{"from traits: left as jsonnet gave it", `{n: std.extVar("claims").traits.n}`,
			`{"n":1234567890123456789}`, `{}`,
			[]string{`"n":1234567890123456768`}, []string{"1234567890123456789"}},
		{"two numbers share the value: left as jsonnet gave it", `{tenant_id: std.extVar("claims").metadata_public.tenant_id}`,
			`{"mine":1234567890123456790}`, `{"tenant_id":1234567890123456789}`,
			[]string{`"tenant_id":1234567890123456768`}, []string{"1234567890123456789", "1234567890123456790"}},
		// A trait string the mapper parses may be the user's choice of the
		// same float64: which number the claim came from cannot be told.
		{"trait string parsed by the mapper: left as jsonnet gave it",
			`local c = std.extVar("claims"); {tenant_id: c.metadata_public.tenant_id, user_ref: std.parseInt(c.traits.ref)}`,
			`{"ref":"1234567890123456700"}`, `{"tenant_id":1234567890123456789}`,
			[]string{`"user_ref":1234567890123456768`}, []string{"1234567890123456789"}},
		{"same number in traits and metadata", `{tenant_id: std.extVar("claims").traits.t}`,
			`{"t":1234567890123456789}`, `{"tenant_id":1234567890123456789}`,
			[]string{`"tenant_id":1234567890123456789`}, nil},
		{"strings and fractions untouched", `local m = std.extVar("claims").metadata_public; {s: std.toString(m.t), f: m.f}`,
			`{}`, `{"t":1234567890123456789,"f":0.5}`,
			[]string{`"s":"1234567890123456768"`, `"f":0.5`}, nil},
	}
	ks := mustKeySet(t, mustKey(t, AlgEdDSA))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss := mapperIssuer(t, ks, tc.name, tc.snippet)
			s := testSubject()
			s.Traits, s.MetadataPublic = json.RawMessage(tc.traits), json.RawMessage(tc.meta)
			tok, err := iss.Issue(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok.Raw, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(payload), w) {
					t.Errorf("payload %s lacks %s", payload, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(string(payload), w) {
					t.Errorf("payload %s holds %s", payload, w)
				}
			}
		})
	}
}
