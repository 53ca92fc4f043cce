package factor_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// countingProvider places every call at once, with a final status.
type countingProvider struct{ calls int }

func (p *countingProvider) Name() string { return "counting" }
func (p *countingProvider) StartCall(context.Context, phone.Number) (flashcall.Call, error) {
	p.calls++
	return flashcall.Call{ID: fmt.Sprint("call-", p.calls), Code: "1234", Status: flashcall.Classify("NO_ANSWER")}, nil
}
func (p *countingProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}

// TestPhoneChecksCountAgainstTheAccount: a phone check is owned by the
// number, but the account making it in settings is counted too: one account
// trying one number after another (in one settings flow, from one address,
// without waiting) gets at most limits.per_identity calls, not one per
// number. Registration has no account yet; its numbers are bounded by their
// own limits.
func TestPhoneChecksCountAgainstTheAccount(t *testing.T) {
	tests := []struct {
		name      string
		hook      factor.Hook
		identity  string
		wantCalls int
	}{
		{"settings: the account's limit", factor.HookSettings, "22222222-2222-2222-2222-222222222222", limit.DefaultConfig().PerIdentity.Limit},
		// per_ip (20 an hour) is what binds a registration flood from one address.
		{"registration: no account yet", factor.HookRegistration, "00000000-0000-0000-0000-000000000000", limit.DefaultConfig().PerIP.Limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, prov := newLimitedFactor(t, limit.DefaultConfig())
			refused := 0
			for i := range 30 {
				_, err := f.Gate(context.Background(), factor.GateInput{Hook: tt.hook, FlowID: "11111111-1111-1111-1111-111111111111",
					IdentityID: tt.identity, Traits: fmt.Appendf(nil, `{"phone":"+7900555%04d"}`, i), ClientIP: "198.51.100.7"})
				var le *limit.LimitError
				switch {
				case err == nil:
				case errors.As(err, &le):
					refused++
				default:
					t.Fatalf("number %d: %v", i, err)
				}
			}
			if prov.calls != tt.wantCalls || refused != 30-tt.wantCalls {
				t.Fatalf("%d calls placed, %d refused by a limit; want %d and %d", prov.calls, refused, tt.wantCalls, 30-tt.wantCalls)
			}
		})
	}
}
