package factor

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
)

// fixedExpIssuer signs nothing; its token expires left after Issue is called.
type fixedExpIssuer struct{ left time.Duration }

func (f fixedExpIssuer) Issue(context.Context, jwt.Subject) (jwt.Token, error) {
	return jwt.Token{Raw: "x", ExpiresAt: time.Now().Add(f.left)}, nil
}
func (fixedExpIssuer) NeedsIdentityData() bool    { return false }
func (fixedExpIssuer) AllowsAudience(string) bool { return false }

// TestExpiresInNeverLongerThanToken: /v1/token's expires_in
// (RFC 6749 §5.1, also the step-up answer) must not promise a client more
// lifetime than the token has. It was rounded to the nearest second, so a
// token with 1.9 s left was announced as valid for 2 s; the issuer floors
// exp to a whole second, so with the default 10 minute lifetime about half
// of all tokens were announced as 600 s.
func TestExpiresInNeverLongerThanToken(t *testing.T) {
	for _, left := range []time.Duration{1900 * time.Millisecond, 599*time.Second + 600*time.Millisecond, 10 * time.Minute} {
		t.Run(left.String(), func(t *testing.T) {
			sess := activeSession(time.Now())
			s, err := New(Config{}, Deps{Numbers: phonetest.Hasher(), Challenges: &fakeChallenges{calledPhone: "+79001112233"},
				Passes: allPasses{called: "+79001112233"}, Sessions: oneSession{sess}, Issuer: fixedExpIssuer{left}})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.Exchange(context.Background(), Creds{SessionToken: "t"}, TokenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if max := int(left / time.Second); tok.ExpiresIn > max {
				t.Fatalf("expires_in %d for a token with %s left: promises more than the token has (want <= %d)", tok.ExpiresIn, left, max)
			}
		})
	}
}
