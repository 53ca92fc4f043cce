package factor_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestPhoneProvenInTheFlowStaysProven: after a phone check's right code
// was accepted, Kratos may refuse the save (registration: the e-mail is
// taken). The flow's resubmit, for the number proven, with the same code
// or none, passes without a new call while the code's lifetime lasts; a
// resend still calls, another number or another flow still needs its own
// call, and past the lifetime the number is checked anew.
func TestPhoneProvenInTheFlowStaysProven(t *testing.T) {
	const (
		flow, other = "11111111-1111-1111-1111-111111111111", "33333333-3333-3333-3333-333333333333"
		zero        = "00000000-0000-0000-0000-000000000000"
		proven      = `{"phone":"+79001239900"}`
	)
	tests := []struct {
		name      string
		hook      factor.Hook
		identity  string
		after     time.Duration // waited after the accepted code
		in        factor.GateInput
		wantAllow bool
		wantCalls int
		// saved, when set, is the phone trait Kratos saved this flow's
		// registration with (RegistrationSaved) before the resubmit.
		saved string
	}{
		{"registration, the same code", factor.HookRegistration, zero, 0, factor.GateInput{FlowID: flow, Traits: []byte(proven), Code: "1234"}, true, 1, ""},
		{"registration, no code", factor.HookRegistration, zero, 0, factor.GateInput{FlowID: flow, Traits: []byte(proven)}, true, 1, ""},
		{"settings, no code", factor.HookSettings, "22222222-2222-2222-2222-222222222222", 0, factor.GateInput{FlowID: flow, Traits: []byte(proven)}, true, 1, ""},
		{"a resend calls", factor.HookRegistration, zero, 0, factor.GateInput{FlowID: flow, Traits: []byte(proven), Resend: true}, false, 2, ""},
		{"another number calls", factor.HookRegistration, zero, 0, factor.GateInput{FlowID: flow, Traits: []byte(`{"phone":"+79001239901"}`)}, false, 2, ""},
		{"another flow calls", factor.HookRegistration, zero, 0, factor.GateInput{FlowID: other, Traits: []byte(proven)}, false, 2, ""},
		{"past the code's lifetime", factor.HookRegistration, zero, challenge.DefaultConfig().TTL + time.Second, factor.GateInput{FlowID: flow, Traits: []byte(proven)}, false, 2, ""},
		// Kratos saved the registration: a resubmit of the completed flow
		// (Kratos accepts one) must not save a second account with the
		// number. It passed with the code or none, with no call.
		{"registration saved, the same code", factor.HookRegistration, zero, 0, factor.GateInput{FlowID: flow, Traits: []byte(proven), Code: "1234"}, false, 1, proven},
		{"registration saved, no code", factor.HookRegistration, zero, 0, factor.GateInput{FlowID: flow, Traits: []byte(proven)}, false, 2, proven},
		{"registration saved without a number", factor.HookRegistration, zero, 0, factor.GateInput{FlowID: flow, Traits: []byte(proven)}, true, 1, `{}`},
		{"registration saved with another number", factor.HookRegistration, zero, 0, factor.GateInput{FlowID: flow, Traits: []byte(proven)}, true, 1, `{"phone":"+79001239901"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			f, prov := newClockedFactor(t, func() time.Time { return now })
			first := factor.GateInput{Hook: tt.hook, FlowID: flow, IdentityID: tt.identity, Traits: []byte(proven), ClientIP: "198.51.100.7"}
			if dec, err := f.Gate(ctx, first); err != nil || dec.Challenge == nil {
				t.Fatalf("start: %+v %v", dec, err)
			}
			first.Code = "1234"
			if dec, err := f.Gate(ctx, first); err != nil || !dec.Allow {
				t.Fatalf("the right code: %+v %v", dec, err)
			}
			now = now.Add(tt.after)
			if tt.saved != "" {
				// Kratos saves the number with the proof the registration
				// hook's answer put in metadata_public.
				var traits struct{ Phone string }
				if err := json.Unmarshal([]byte(tt.saved), &traits); err != nil {
					t.Fatal(err)
				}
				var meta []byte
				if traits.Phone != "" {
					meta = []byte(`{"phone_verified_number":"` + traits.Phone + `"}`)
				}
				saved := factor.GateInput{Hook: factor.HookRegistration, FlowID: flow, IdentityID: "44444444-4444-4444-4444-444444444444",
					Traits: []byte(tt.saved), MetadataPublic: meta}
				if err := f.RegistrationSaved(ctx, saved); err != nil {
					t.Fatalf("registration saved: %v", err)
				}
			}
			in := tt.in
			in.Hook, in.IdentityID, in.ClientIP = tt.hook, tt.identity, "198.51.100.7"
			dec, err := f.Gate(ctx, in)
			if dec.Allow != tt.wantAllow || prov.calls != tt.wantCalls {
				t.Fatalf("resubmit: allow %v (err %v), %d calls; want allow %v, %d calls", dec.Allow, err, prov.calls, tt.wantAllow, tt.wantCalls)
			}
			if dec.Allow && dec.MetadataPublic[factor.MetaVerifiedNumber] != "+79001239900" {
				t.Errorf("metadata_public %v, want the proven number", dec.MetadataPublic)
			}
		})
	}
}

// newClockedFactor is newLimitedFactor's setup (memory store, real
// challenge service, default limits) on one clock for store, service and
// factor.
func newClockedFactor(t *testing.T, now func() time.Time) (*factor.Service, *countingProvider) {
	t.Helper()
	prov := &countingProvider{}
	f, _ := wire(t, wiring{prov: prov, clock: now})
	return f, prov
}

// TestRegistrationSavedNeedsTheSavedIdentity: the hook that ends a
// registration's proof runs after Kratos saved the identity; a body still
// naming the zero UUID (can_interrupt or response.parse left on, so Kratos
// runs it before the save) is refused, and the proof the flow's resubmit
// needs is left alone.
func TestRegistrationSavedNeedsTheSavedIdentity(t *testing.T) {
	const flow, proven = "11111111-1111-1111-1111-111111111111", `{"phone":"+79001239900"}`
	for _, id := range []string{"", "00000000-0000-0000-0000-000000000000"} {
		ctx := context.Background()
		now := time.Now()
		f, prov := newClockedFactor(t, func() time.Time { return now })
		in := factor.GateInput{Hook: factor.HookRegistration, FlowID: flow, IdentityID: "00000000-0000-0000-0000-000000000000", Traits: []byte(proven)}
		if _, err := f.Gate(ctx, in); err != nil {
			t.Fatal(err)
		}
		in.Code = "1234"
		if dec, err := f.Gate(ctx, in); err != nil || !dec.Allow {
			t.Fatalf("the right code: %+v %v", dec, err)
		}
		saved := factor.GateInput{Hook: factor.HookRegistration, FlowID: flow, IdentityID: id, Traits: []byte(proven)}
		if err := f.RegistrationSaved(ctx, saved); !errors.Is(err, factor.ErrHookBeforeSave) {
			t.Fatalf("identity %q: %v, want ErrHookBeforeSave", id, err)
		}
		in.Code = ""
		if dec, err := f.Gate(ctx, in); err != nil || !dec.Allow || prov.calls != 1 {
			t.Fatalf("identity %q: the resubmit after the refused hook: %+v %v, %d calls; want allowed, 1 call", id, dec, err, prov.calls)
		}
	}
}
