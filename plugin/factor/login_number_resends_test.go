package factor_test

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestLoginNumberChangedAfterTheResends: the call to the current number
// that replaces a login challenge of another number (an admin replaced a
// lost phone after the password) is its first call, not one more resend of
// the old number's: a user who had asked for every repeat call the lost
// phone allowed was refused "cooldown: resends" (the old challenge's count
// carried over), told to wait out a code that no longer works, with no
// call to the number they now hold, whether they typed a code or asked
// for the call. The new number's challenge starts with its own resends.
func TestLoginNumberChangedAfterTheResends(t *testing.T) {
	const (
		flow, identity = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
		oldNum, newNum = `{"phone":"+79001230001"}`, `{"phone":"+79001230002"}`
	)
	for _, code := range []string{"1234", ""} {
		t.Run("code "+code, func(t *testing.T) {
			ctx := context.Background()
			prov := &countingProvider{}
			f, _ := wire(t, wiring{prov: prov, tune: func(cfg *challenge.Config) {
				cfg.MaxResends = 1
				cfg.ResendCooldowns = []time.Duration{time.Millisecond}
			}})
			in := factor.GateInput{Hook: factor.HookLogin, FlowID: flow, IdentityID: identity, ClientIP: "198.51.100.7",
				Traits: []byte(oldNum), AuthenticatedAt: time.Now()}
			if dec, err := f.Gate(ctx, in); err != nil || dec.Challenge == nil {
				t.Fatalf("start: %+v %v", dec, err)
			}
			time.Sleep(5 * time.Millisecond)
			in.Resend = true
			if dec, err := f.Gate(ctx, in); err != nil || dec.Challenge == nil || prov.calls != 2 {
				t.Fatalf("the one resend: %+v %v, %d calls", dec, err, prov.calls)
			}
			in.Resend = false
			in.Traits, in.Code = []byte(newNum), code
			dec, err := f.Gate(ctx, in)
			if err != nil || dec.Challenge == nil || prov.calls != 3 {
				t.Fatalf("after the number changed: %+v %v, %d calls; want a call to the current number", dec, err, prov.calls)
			}
			if dec.Challenge.PhoneMasked != "+7 900 ***-**-02" {
				t.Fatalf("call to %q, want the current number", dec.Challenge.PhoneMasked)
			}
			// The current number's code (the provider's codes are all 1234) passes.
			in.Code = "1234"
			if dec, err := f.Gate(ctx, in); err != nil || !dec.Allow {
				t.Fatalf("the new call's code: %+v %v", dec, err)
			}
		})
	}
}
