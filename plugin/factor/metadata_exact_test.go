package factor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
)

// TestPhoneChangeKeepsMetadataExact: the metadata_public a proven phone
// sends back to Kratos (response.parse stores it) is the one Kratos sent
// plus this service's two keys, every other value unchanged: an integer
// above 2^53 (an admin's tenant id) must not come back rounded.
func TestPhoneChangeKeepsMetadataExact(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	const added = `"phone_verified_at":"2026-11-25T09:00:00Z","phone_verified_number":"+79001112233"`
	tests := []struct {
		name, meta string
		want       string // json.Marshal of the decision's metadata_public
	}{
		{"tenant id above 2^53", `{"tenant_id":1234567890123456789}`,
			`{` + added + `,"tenant_id":1234567890123456789}`},
		{"negative, nested and in arrays", `{"org":{"ids":[-9007199254740993,18446744073709551615]},"plan":"gold"}`,
			`{"org":{"ids":[-9007199254740993,18446744073709551615]},` + added + `,"plan":"gold"}`},
		{"fractions and exponents as sent", `{"ratio":0.1,"big":1e400,"small":12}`,
			`{"big":1e400,` + added + `,"ratio":0.1,"small":12}`},
		{"null", `null`, `{` + added + `}`},
		{"absent", ``, `{` + added + `}`},
		{"spaced null", ` null `, `{` + added + `}`},
	}
	for _, hook := range []Hook{HookSettings, HookRegistration} {
		for _, tt := range tests {
			t.Run(string(hook)+"/"+tt.name, func(t *testing.T) {
				s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{calledPhone: "+79001112233"}, Passes: noPasses{},
					Now: func() time.Time { return now }})
				if err != nil {
					t.Fatal(err)
				}
				dec, err := s.Gate(context.Background(), GateInput{Hook: hook, FlowID: "f", IdentityID: identityAt(hook),
					Traits: []byte(`{"phone":"+79001112233"}`), MetadataPublic: json.RawMessage(tt.meta), Code: "1234"})
				if err != nil || !dec.Allow {
					t.Fatalf("gate: %+v, %v", dec, err)
				}
				got, err := json.Marshal(dec.MetadataPublic)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Fatalf("metadata_public sent back\n got %s\nwant %s", got, tt.want)
				}
			})
		}
	}
}

// TestPhoneChangeRefusesMetadataNotAnObject: metadata_public that is not
// one JSON object is refused, and the error does not repeat it.
func TestPhoneChangeRefusesMetadataNotAnObject(t *testing.T) {
	for _, meta := range []string{`[7900111]`, `"7900111"`, `7900111`, `{"a":7900111} {}`, `{"a":7900111`, `true`} {
		t.Run(meta, func(t *testing.T) {
			s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{calledPhone: "+79001112233"}, Passes: noPasses{}})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := s.Gate(context.Background(), GateInput{Hook: HookSettings, FlowID: "f", IdentityID: "11111111-2222-3333-4444-555555555555",
				Traits: []byte(`{"phone":"+79001112233"}`), MetadataPublic: json.RawMessage(meta), Code: "1234"})
			if err == nil || dec.Allow || !strings.Contains(err.Error(), "metadata_public is not an object") {
				t.Fatalf("gate: %+v, %v", dec, err)
			}
			if strings.Contains(err.Error(), "7900111") {
				t.Fatalf("error %q repeats the input", err)
			}
		})
	}
}

// TestIssuePassesNumbersExact: traits and metadata_public numbers of a
// session (json.Number, see plugin/kratos) reach the claims mapper as Kratos
// sent them.
func TestIssuePassesNumbersExact(t *testing.T) {
	tests := []struct {
		name               string
		traits, meta       map[string]any
		wantTraits, wantMD string
	}{
		{"tenant id above 2^53", map[string]any{"n": json.Number("12")}, map[string]any{"tenant_id": json.Number("1234567890123456789")},
			`{"n":12}`, `{"tenant_id":1234567890123456789}`},
		{"nested", map[string]any{"a": []any{json.Number("-9007199254740993")}}, map[string]any{"o": map[string]any{"x": json.Number("0.1")}},
			`{"a":[-9007199254740993]}`, `{"o":{"x":0.1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess := &kratos.Session{ID: "s", IdentityID: "i", Traits: tt.traits, MetadataPublic: tt.meta, ExpiresAt: time.Now().Add(time.Hour)}
			iss := &recordingIssuer{needs: true}
			s := &Service{issuer: iss}
			if _, err := s.issue(context.Background(), sess, "+79001234567", "stepup", time.Time{}, TokenOptions{}); err != nil {
				t.Fatal(err)
			}
			if string(iss.got.Traits) != tt.wantTraits || string(iss.got.MetadataPublic) != tt.wantMD {
				t.Fatalf("traits %s metadata %s", iss.got.Traits, iss.got.MetadataPublic)
			}
		})
	}
}
