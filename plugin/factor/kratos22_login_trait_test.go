package factor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestLoginCodeProvesOnlyTheCurrentNumber: the login gate's code proves the
// number its call went to. When the identity's phone trait names another
// number by the time the code comes (an admin changed it after the
// password), the code is not tried: a call to the current number replaces
// the challenge, and only its code passes. A trait left as it was verifies
// as before; a trait removed follows missing_phone as a start does.
func TestLoginCodeProvesOnlyTheCurrentNumber(t *testing.T) {
	const (
		flow, identity = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
		oldNum         = `{"phone":"+79001230001"}`
	)
	tests := []struct {
		name      string
		missing   factor.MissingPhone
		traits    string // at the code's submit
		wantAllow bool
		wantCall  bool // a new call placed instead of trying the code
		wantErr   error
	}{
		{"trait unchanged", factor.MissingPhoneDeny, oldNum, true, false, nil},
		{"trait changed by an admin", factor.MissingPhoneDeny, `{"phone":"+79001230002"}`, false, true, nil},
		{"same number written otherwise", factor.MissingPhoneDeny, `{"phone":"8 (900) 123-00-01"}`, true, false, nil},
		{"trait removed, deny", factor.MissingPhoneDeny, `{}`, false, false, factor.ErrNoPhone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			prov := &countingProvider{}
			f, _ := wire(t, wiring{prov: prov, config: factor.Config{MissingPhone: tt.missing}})
			in := factor.GateInput{Hook: factor.HookLogin, FlowID: flow, IdentityID: identity, ClientIP: "198.51.100.7",
				Traits: []byte(oldNum), AuthenticatedAt: time.Now()}
			if dec, err := f.Gate(ctx, in); err != nil || dec.Challenge == nil {
				t.Fatalf("start: %+v %v", dec, err)
			}
			in.Traits, in.Code = []byte(tt.traits), "1234"
			dec, err := f.Gate(ctx, in)
			if !errors.Is(err, tt.wantErr) || dec.Allow != tt.wantAllow {
				t.Fatalf("code: allow %v err %v, want allow %v err %v", dec.Allow, err, tt.wantAllow, tt.wantErr)
			}
			if got := prov.calls == 2; got != tt.wantCall || (got && dec.Challenge == nil) {
				t.Fatalf("calls placed %d (challenge %+v), want a new call: %v", prov.calls, dec.Challenge, tt.wantCall)
			}
			if !tt.wantCall {
				return
			}
			if dec.Challenge.PhoneMasked != "+7 900 ***-**-02" {
				t.Errorf("new call to %q, want the current number", dec.Challenge.PhoneMasked)
			}
			// The new call's code (the provider's codes are all 1234) passes.
			if dec, err := f.Gate(ctx, in); err != nil || !dec.Allow {
				t.Fatalf("the new call's code: %+v %v", dec, err)
			}
		})
	}
}
