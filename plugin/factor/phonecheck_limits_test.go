package factor_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// newLimitedFactor is a factor over the real challenge service and memory
// store under the limits lc, calling through the returned countingProvider.
func newLimitedFactor(t *testing.T, lc limit.Config) (*factor.Service, *countingProvider) {
	t.Helper()
	prov := &countingProvider{}
	f, _ := wire(t, wiring{prov: prov, limits: func(c *limit.Config) { *c = lc }})
	return f, prov
}

// TestSignUpFloodLeavesLoginsTheirLimits: registration is open to anyone
// with any number. A flood of sign-ups must neither spend the budget logins
// need (the budget fails closed for everyone) nor use up the per-number
// counter of a victim's own login.
func TestSignUpFloodLeavesLoginsTheirLimits(t *testing.T) {
	ctx := context.Background()
	victim := []byte(`{"phone":"+79161234567"}`)
	tests := []struct {
		name     string
		budget   int
		traits   func(i int) []byte
		wantKind string
		wantCall int // calls the flood gets before its refusal
	}{
		{"random numbers against the budget", 200, func(i int) []byte { return fmt.Appendf(nil, `{"phone":"+7900%07d"}`, i/5) },
			limit.KindPhoneCheckBudget, 100},
		{"the victim's number", 10000, func(int) []byte { return victim }, limit.KindNumber, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lc := limit.DefaultConfig()
			lc.GlobalDaily.Limit = tc.budget
			f, prov := newLimitedFactor(t, lc)
			var err error
			for i := 0; err == nil && i <= tc.budget; i++ {
				_, err = f.Gate(ctx, factor.GateInput{Hook: factor.HookRegistration, FlowID: fmt.Sprintf("aaaaaaaa-0000-0000-0000-%012d", i),
					IdentityID: "00000000-0000-0000-0000-000000000000", Traits: tc.traits(i), ClientIP: fmt.Sprintf("203.0.113.%d", i/20)})
			}
			var le *limit.LimitError
			if !errors.As(err, &le) || le.Kind != tc.wantKind || prov.calls != tc.wantCall {
				t.Fatalf("flood ended with %v after %d calls, want the %s limit after %d", err, prov.calls, tc.wantKind, tc.wantCall)
			}
			for i := range 3 {
				_, err := f.Gate(ctx, factor.GateInput{Hook: factor.HookLogin, FlowID: fmt.Sprintf("bbbbbbbb-0000-0000-0000-%012d", i),
					IdentityID: fmt.Sprintf("cccccccc-0000-0000-0000-%012d", i), Traits: victim, ClientIP: "192.0.2.10"})
				if err != nil {
					t.Fatalf("login %d after the flood: %v", i, err)
				}
			}
		})
	}
}
