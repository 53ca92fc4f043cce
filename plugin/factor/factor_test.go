package factor

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
)

func TestTraitString(t *testing.T) {
	traits := json.RawMessage(`{"phone":"+79001234567","contact":{"phone":"8 900 765 43 21"},"n":7}`)
	tests := []struct {
		path string
		want string
		ok   bool
	}{
		{"phone", "+79001234567", true},
		{"contact.phone", "8 900 765 43 21", true},
		{"contact.mobile", "", false},
		{"n", "", false},
		{"phone.x", "", false},
	}
	for _, tt := range tests {
		got, ok := traitString(traits, tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("traitString(%q) = %q %v, want %q %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := traitString(nil, "phone"); ok {
		t.Error("nil traits gave a phone")
	}
}

func TestPhoneFromTraits(t *testing.T) {
	s := &Service{cfg: Config{PhoneTrait: "phone"}}
	n, ok, err := s.phoneFromTraits(json.RawMessage(`{"phone":"8 (900) 123-45-67"}`))
	if err != nil || !ok || n.E164() != "+79001234567" {
		t.Fatalf("got %v %v %v", n.E164(), ok, err)
	}
	if _, ok, err := s.phoneFromTraits(json.RawMessage(`{"email":"a@b"}`)); ok || err != nil {
		t.Errorf("no phone: ok %v err %v", ok, err)
	}
	_, _, err = s.phoneFromTraits(json.RawMessage(`{"phone":"+1 202 555 0100"}`))
	if !errors.Is(err, ErrNoPhone) || !errors.Is(err, phone.ErrInvalid) {
		t.Errorf("foreign number: %v, want ErrNoPhone wrapping phone.ErrInvalid", err)
	}
}

func TestViewOf(t *testing.T) {
	now := time.Now()
	c := challenge.Challenge{ID: "x", Phone: "+79001234567", CodeLength: 4, MaxAttempts: 3, Attempts: 1,
		State: challenge.StatePending, ExpiresAt: now.Add(-time.Second)}
	v := viewOf(c, now)
	if v.State != "expired" || v.AttemptsLeft != 2 || v.PhoneMasked != "+7 900 ***-**-67" {
		t.Errorf("view = %+v", v)
	}
	b, _ := json.Marshal(v)
	if strings.Contains(string(b), "79001234567") {
		t.Errorf("the view leaks the full number: %s", b)
	}
}

func TestNewRefusesBadPolicy(t *testing.T) {
	if _, err := New(Config{MissingPhone: "maybe"}, Deps{Numbers: phonetest.Hasher()}); err == nil {
		t.Error("unknown missing_phone policy accepted")
	}
}

// recordingIssuer keeps the Subject it was asked to sign.
type recordingIssuer struct {
	needs     bool
	audiences []string // what AllowsAudience admits
	got       jwt.Subject
	issued    int
}

func (r *recordingIssuer) Issue(_ context.Context, s jwt.Subject) (jwt.Token, error) {
	r.got = s
	r.issued++
	return jwt.Token{Raw: "x", ExpiresAt: time.Now().Add(time.Minute)}, nil
}
func (r *recordingIssuer) NeedsIdentityData() bool { return r.needs }
func (r *recordingIssuer) AllowsAudience(aud string) bool {
	return aud != "" && slices.Contains(r.audiences, aud)
}

// TestIssuePassesIdentityDataOnlyWhenUsed: traits and metadata reach the
// issuer (its claims mapper) when it reads them, and are not encoded for
// every token otherwise.
func TestIssuePassesIdentityDataOnlyWhenUsed(t *testing.T) {
	sess := &kratos.Session{ID: "s", IdentityID: "i", Traits: map[string]any{"nick": "ivan"},
		MetadataPublic: map[string]any{"tier": "gold"}, ExpiresAt: time.Now().Add(time.Hour)}
	for _, needs := range []bool{true, false} {
		iss := &recordingIssuer{needs: needs}
		s := &Service{issuer: iss}
		if _, err := s.issue(context.Background(), sess, "+79001234567", "stepup", time.Time{}, TokenOptions{}); err != nil {
			t.Fatal(err)
		}
		traits, meta := string(iss.got.Traits), string(iss.got.MetadataPublic)
		if needs && (traits != `{"nick":"ivan"}` || meta != `{"tier":"gold"}`) {
			t.Errorf("mapper configured: traits %s metadata %s", traits, meta)
		}
		if !needs && (traits != "" || meta != "") {
			t.Errorf("no mapper: traits %q metadata %q were encoded anyway", traits, meta)
		}
		if iss.got.IdentityID != "i" || iss.got.SessionID != "s" || iss.got.PhoneE164 != "+79001234567" {
			t.Errorf("subject %+v", iss.got)
		}
	}
}
