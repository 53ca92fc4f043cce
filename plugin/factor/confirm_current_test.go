package factor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// numberProvider is seqProvider (call n's code is 1000+n) that also
// records the number each call went to.
type numberProvider struct {
	mu     sync.Mutex
	called []string
}

func (p *numberProvider) Name() string { return "numbers" }
func (p *numberProvider) StartCall(_ context.Context, n phone.Number) (flashcall.Call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.called = append(p.called, n.E164())
	return flashcall.Call{ID: fmt.Sprint("call-", len(p.called)), Code: fmt.Sprint(1000 + len(p.called)), Status: flashcall.Classify("NO_ANSWER")}, nil
}
func (p *numberProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}

func (p *numberProvider) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.called...)
}

// storedIdentities is Kratos's admin API: the identity's stored traits, or
// err.
type storedIdentities struct {
	traits map[string]any
	err    error
	reads  int
}

func (s *storedIdentities) Identity(_ context.Context, id string) (*kratos.Identity, error) {
	s.reads++
	if s.err != nil {
		return nil, s.err
	}
	return &kratos.Identity{ID: id, Traits: s.traits}, nil
}

// TestSettingsConfirmsTheCurrentNumber: with ConfirmCurrent, a settings
// flow changing the number away from the one the login gate calls (the
// stored trait) calls that number first and saves nothing until its code is
// typed; then the new number is called and its code saves it. Which call a
// code is tried against is the flow's state, never the user's choice; a
// resend repeats the step the flow is at; a proof of the current number
// lasts while its code would have lived. On the memory store and a real
// Redis.
func TestSettingsConfirmsTheCurrentNumber(t *testing.T) {
	const (
		ident = "22222222-2222-2222-2222-222222222222"
		flow  = "11111111-1111-1111-1111-111111111111"
		cur   = "+79001110001" // stored, proven
		next  = "+79002220002" // what the form submits
		admin = "+79003330003" // an admin's replacement of a lost cur
	)
	// A step is one hook call; the code "call n" is the n-th call's.
	type step struct {
		phone  string // the submitted trait; "" none
		code   string
		resend bool
		wait   bool // first wait until the last call's code expired
		// elsewhere: a registration in another flow (the user calls the
		// new number there, to have its code).
		elsewhere bool
		// want: "current" (the current number's call, CurrentNumber set),
		// "new" (the new number's call), "allow", or an error's name.
		want  string
		saved string // with allow: the proven number saved ("" none)
		calls []string
	}
	tests := []struct {
		name      string
		stored    map[string]any // the admin API's traits (nil: no reader)
		noReader  bool
		readerErr error
		meta      string
		hook      factor.Hook
		off       bool
		limits    func(*limit.Config)
		steps     []step
	}{
		{name: "no current number: the new one alone", stored: map[string]any{"email": "a@example.org"}, steps: []step{
			{phone: next, want: "new", calls: []string{next}},
			{phone: next, code: "call 1", want: "allow", saved: next, calls: []string{next}},
		}},
		{name: "a stored number that does not parse: the new one alone", stored: map[string]any{"phone": "12"}, steps: []step{
			{phone: next, want: "new", calls: []string{next}},
		}},
		{name: "unchanged number: no call", stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{phone: "8 900 111-00-01", want: "allow", calls: nil},
		}},
		{name: "a change: the current number, then the new one", stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{phone: next, want: "current", calls: []string{cur}},
			{phone: next, want: "current", calls: []string{cur}}, // a resubmit shows the same call
			{phone: next, code: "call 1", want: "new", calls: []string{cur, next}},
			{phone: next, want: "new", calls: []string{cur, next}}, // the proof holds: the new call shown
			{phone: next, code: "call 2", want: "allow", saved: next, calls: []string{cur, next}},
		}},
		{name: "wrong code at the first step", stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{phone: next, want: "current", calls: []string{cur}},
			{phone: next, code: "9999", want: "wrong_code", calls: []string{cur}},
			{phone: next, code: "call 1", want: "new", calls: []string{cur, next}},
		}},
		{name: "wrong code at the second step", stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{phone: next, want: "current", calls: []string{cur}},
			{phone: next, code: "call 1", want: "new", calls: []string{cur, next}},
			{phone: next, code: "9999", want: "wrong_code", calls: []string{cur, next}},
			{phone: next, code: "call 1", want: "wrong_code", calls: []string{cur, next}}, // the current code again
			{phone: next, code: "call 2", want: "allow", saved: next, calls: []string{cur, next}},
		}},
		{name: "the new number's code at the first step", stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{phone: next, elsewhere: true, want: "new", calls: []string{next}},
			{phone: next, want: "current", calls: []string{next, cur}},
			{phone: next, code: "call 1", want: "wrong_code", calls: []string{next, cur}},
			{phone: next, code: "call 2", want: "new", calls: []string{next, cur, next}}, // this flow's own call
			{phone: next, code: "call 1", want: "wrong_code", calls: []string{next, cur, next}},
			{phone: next, code: "call 3", want: "allow", saved: next, calls: []string{next, cur, next}},
		}},
		{name: "the current number's call counts against the account", stored: map[string]any{"phone": cur}, meta: cur,
			limits: func(c *limit.Config) { c.PerIdentity.Limit = 2 }, steps: []step{
				{phone: next, want: "current", calls: []string{cur}},
				{phone: next, resend: true, want: "current", calls: []string{cur, cur}},
				{phone: next, resend: true, want: "rate_limited", calls: []string{cur, cur}},
			}},
		{name: "resend at the first step calls the current number", stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{phone: next, want: "current", calls: []string{cur}},
			{phone: next, resend: true, want: "current", calls: []string{cur, cur}},
			{phone: next, code: "call 1", want: "wrong_code", calls: []string{cur, cur}}, // replaced
			{phone: next, code: "call 2", want: "new", calls: []string{cur, cur, next}},
		}},
		{name: "resend at the second step calls the new number", stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{phone: next, want: "current", calls: []string{cur}},
			{phone: next, code: "call 1", want: "new", calls: []string{cur, next}},
			{phone: next, resend: true, want: "new", calls: []string{cur, next, next}},
			{phone: next, code: "call 3", want: "allow", saved: next, calls: []string{cur, next, next}},
		}},
		{name: "expired proof: back to the first step", stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{phone: next, want: "current", calls: []string{cur}},
			{phone: next, code: "call 1", want: "new", calls: []string{cur, next}},
			{phone: next, code: "call 2", wait: true, want: "expired", calls: []string{cur, next}},
			{phone: next, want: "current", calls: []string{cur, next, cur}},
		}},
		{name: "removing the number proves the current one", stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{want: "current", calls: []string{cur}},
			{code: "call 1", want: "allow", calls: []string{cur}},
		}},
		{name: "an admin's number is the current one, not the proven one", stored: map[string]any{"phone": admin}, meta: cur, steps: []step{
			{phone: cur, want: "current", calls: []string{admin}},
			{phone: cur, code: "call 1", want: "allow", saved: "", calls: []string{admin}}, // cur was proven before: no call
		}},
		{name: "admin API down: fails closed, no call", readerErr: &kratos.Error{Op: "get identity", Kind: kratos.ErrUnavailable}, meta: cur, steps: []step{
			{phone: next, want: "kratos_unavailable", calls: nil},
			{phone: next, code: "1234", want: "kratos_unavailable", calls: nil},
		}},
		{name: "a hung-up read stays a hang-up", readerErr: &kratos.Error{Op: "get identity", Kind: kratos.ErrUnavailable, Err: context.Canceled}, meta: cur, steps: []step{
			{phone: next, want: "canceled", calls: nil},
		}},
		{name: "identity gone: fails closed", readerErr: &kratos.Error{Op: "get identity", Kind: kratos.ErrIdentityNotFound}, meta: cur, steps: []step{
			{phone: next, want: "kratos_unavailable", calls: nil},
		}},
		{name: "no reader: the proven number stands for the current one", noReader: true, meta: cur, steps: []step{
			{phone: next, want: "current", calls: []string{cur}},
			{phone: next, code: "call 1", want: "new", calls: []string{cur, next}},
		}},
		{name: "no reader, nothing proven: the new one alone", noReader: true, steps: []step{
			{phone: next, want: "new", calls: []string{next}},
		}},
		{name: "key off: today's behaviour", off: true, stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{phone: next, want: "new", calls: []string{next}},
			{phone: next, code: "call 1", want: "allow", saved: next, calls: []string{next}},
		}},
		{name: "key off: removal saves at once", off: true, stored: map[string]any{"phone": cur}, meta: cur, steps: []step{
			{want: "allow", calls: nil},
		}},
		{name: "registration is unchanged", hook: factor.HookRegistration, stored: map[string]any{"phone": cur}, steps: []step{
			{phone: next, want: "new", calls: []string{next}},
		}},
	}
	for _, store := range []string{"memory", "redis"} {
		for _, tt := range tests {
			t.Run(store+"/"+tt.name, func(t *testing.T) {
				const ttl = 5 * time.Second // long enough for a loaded machine's steps before a wait
				prov := &numberProvider{}
				ids := &storedIdentities{traits: tt.stored, err: tt.readerErr}
				deps := factor.Deps{Identities: ids}
				if tt.noReader {
					deps.Identities = nil
				}
				f, svc := wire(t, wiring{store: storeOn(t, store, "", "cp:", 0), prov: prov, limits: tt.limits,
					config: factor.Config{ConfirmCurrent: !tt.off, MissingPhone: factor.MissingPhoneAllow},
					tune: func(c *challenge.Config) {
						c.TTL = ttl
						c.ResendCooldowns = []time.Duration{time.Millisecond}
					},
					deps: deps})
				hook, id := tt.hook, ident
				if hook == "" {
					hook = factor.HookSettings
				}
				if hook == factor.HookRegistration {
					id = "00000000-0000-0000-0000-000000000000"
				}
				var meta []byte
				if tt.meta != "" {
					meta = []byte(`{"phone_verified_number":"` + tt.meta + `","tenant":12345678901234567890}`)
				}
				var last factor.ChallengeView
				for i, st := range tt.steps {
					traits := `{}`
					if st.phone != "" {
						traits = `{"phone":"` + st.phone + `"}`
					}
					code := st.code
					if n, ok := callNumber(code); ok {
						code = fmt.Sprint(1000 + n)
					}
					if st.wait {
						waitExpired(t, svc, last.ID)
					}
					time.Sleep(2 * time.Millisecond) // past the resend cooldown
					h, fl, who := hook, flow, id
					if st.elsewhere {
						h, fl, who = factor.HookRegistration, "33333333-3333-3333-3333-333333333333", "00000000-0000-0000-0000-000000000000"
					}
					dec, err := f.Gate(context.Background(), factor.GateInput{Hook: h, FlowID: fl, IdentityID: who,
						Traits: []byte(traits), MetadataPublic: meta, Code: code, Resend: st.resend, ClientIP: "198.51.100.7"})
					got := outcome(dec, err)
					if got != st.want {
						t.Fatalf("step %d: %s (%+v, %v), want %s", i, got, dec, err, st.want)
					}
					if dec.Challenge != nil {
						last = *dec.Challenge
					}
					if st.want == "allow" {
						saved, _ := dec.MetadataPublic[factor.MetaVerifiedNumber].(string)
						if st.saved != "" && saved != st.saved {
							t.Fatalf("step %d: saved %q, want %q (%v)", i, saved, st.saved, dec.MetadataPublic)
						}
						if st.phone == "" && saved != "" {
							t.Fatalf("step %d: the number was removed, metadata still names %q", i, saved)
						}
					}
					if calls := prov.calls(); fmt.Sprint(calls) != fmt.Sprint(st.calls) {
						t.Fatalf("step %d: called %v, want %v", i, calls, st.calls)
					}
				}
				if (tt.off || hook == factor.HookRegistration) && ids.reads != 0 {
					t.Errorf("the admin API was read %d times; want none", ids.reads)
				}
			})
		}
	}
}

// callNumber reads "call n".
func callNumber(code string) (int, bool) {
	var n int
	_, err := fmt.Sscanf(code, "call %d", &n)
	return n, err == nil
}

// outcome names a gate answer as the table does.
func outcome(dec factor.GateDecision, err error) string {
	var wrong *challenge.WrongCodeError
	var limited *limit.LimitError
	switch {
	case errors.As(err, &wrong):
		return "wrong_code"
	case errors.As(err, &limited):
		return "rate_limited"
	case errors.Is(err, challenge.ErrAlreadyUsed), errors.Is(err, challenge.ErrExpired):
		return "expired"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, kratos.ErrUnavailable):
		return "kratos_unavailable"
	case err != nil:
		return err.Error()
	case dec.Allow:
		return "allow"
	case dec.Challenge != nil && dec.CurrentNumber:
		return "current"
	case dec.Challenge != nil:
		return "new"
	}
	return "nothing"
}

// waitExpired waits until challenge id's code has expired, with a guard
// deadline far past any expiry in these tests.
func waitExpired(t *testing.T, svc *challenge.Service, id string) {
	t.Helper()
	c, err := svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !time.Now().After(c.ExpiresAt); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the code did not expire")
		}
	}
}
