package factor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

// TestLoginAtAPhoneHookRefused: Kratos hands a session only to a login's
// hook (registration and settings get none), so a registration or settings
// hook whose body carries session.authenticated_at is a login's: kratos.yml
// names the wrong url under login.after. Answering it as a phone check let
// every user whose number is proven log in without a call (phone_unchanged
// answers 200 and Kratos issues the session); it is refused, whatever the
// code or the metadata, and places no call. The same hooks without a
// session work as before.
func TestLoginAtAPhoneHookRefused(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Microsecond)
	proven := []byte(`{"phone_verified_number":"+79001112233","phone_verified_at":"2026-01-01T00:00:00Z"}`)
	tests := []struct {
		name     string
		hook     factor.Hook
		authAt   time.Time
		meta     []byte
		code     string
		wantErr  error
		wantAll  bool
		wantCall bool
	}{
		{"settings hook, login body, proven number", factor.HookSettings, at, proven, "", factor.ErrWrongHook, false, false},
		{"registration hook, login body, proven number", factor.HookRegistration, at, proven, "", factor.ErrWrongHook, false, false},
		{"settings hook, login body, new number", factor.HookSettings, at, nil, "", factor.ErrWrongHook, false, false},
		{"settings hook, login body, a code", factor.HookSettings, at, nil, "1234", factor.ErrWrongHook, false, false},
		{"settings hook, settings body, proven number", factor.HookSettings, time.Time{}, proven, "", nil, true, false},
		{"registration hook, registration body, new number", factor.HookRegistration, time.Time{}, nil, "", nil, false, true},
		{"login hook, login body", factor.HookLogin, at, proven, "", nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newUpgradeFactor(t)
			identity := "5f0c6f43-3f0e-4d4c-a9a4-3b7a2d1c9e10"
			if tt.hook == factor.HookRegistration {
				identity = zeroIdentity // not saved yet
			}
			dec, err := f.Gate(context.Background(), factor.GateInput{Hook: tt.hook, FlowID: "0b6d5a4e-1c1a-4a8e-9d3e-2f1b6c7d8e9f",
				IdentityID: identity, Traits: []byte(`{"phone":"+79001112233"}`),
				MetadataPublic: tt.meta, Code: tt.code, ClientIP: "192.0.2.1", AuthenticatedAt: tt.authAt,
				SessionExpiresAt: tt.authAt.Add(time.Hour)})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("gate: %+v %v, want %v", dec, err, tt.wantErr)
			}
			if dec.Allow != tt.wantAll || (dec.Challenge != nil) != tt.wantCall {
				t.Fatalf("gate: allow %v challenge %v, want allow %v challenge %v", dec.Allow, dec.Challenge != nil, tt.wantAll, tt.wantCall)
			}
		})
	}
}

// zeroIdentity is ctx.identity.id in a registration hook Kratos runs
// before saving the identity.
const zeroIdentity = "00000000-0000-0000-0000-000000000000"

// TestRegistrationHookAfterSaveRefused: Kratos v1.3.1 runs a registration
// web_hook before saving the identity (whose id is then the zero UUID) only
// with can_interrupt or response.parse; without them it runs after the
// save, with the saved identity's id, where no answer keeps an unproven
// number out and no code could ever be entered. Such a hook is refused at
// once (fail closed, the fix in the error), and places no call; the
// identity's metadata and the code sent change nothing. Settings hooks
// always carry the identity's id and are not affected.
func TestRegistrationHookAfterSaveRefused(t *testing.T) {
	proven := []byte(`{"phone_verified_number":"+79001112233"}`)
	tests := []struct {
		name     string
		hook     factor.Hook
		identity string
		meta     []byte
		code     string
		wantErr  error
		wantCall bool
	}{
		{"saved identity, new number", factor.HookRegistration, "5f0c6f43-3f0e-4d4c-a9a4-3b7a2d1c9e10", nil, "", factor.ErrHookAfterSave, false},
		{"saved identity, a code", factor.HookRegistration, "5f0c6f43-3f0e-4d4c-a9a4-3b7a2d1c9e10", nil, "1234", factor.ErrHookAfterSave, false},
		{"saved identity, proven number", factor.HookRegistration, "5f0c6f43-3f0e-4d4c-a9a4-3b7a2d1c9e10", proven, "", factor.ErrHookAfterSave, false},
		{"identity not saved yet", factor.HookRegistration, zeroIdentity, nil, "", nil, true},
		{"settings", factor.HookSettings, "5f0c6f43-3f0e-4d4c-a9a4-3b7a2d1c9e10", nil, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newUpgradeFactor(t)
			dec, err := f.Gate(context.Background(), factor.GateInput{Hook: tt.hook, FlowID: "0b6d5a4e-1c1a-4a8e-9d3e-2f1b6c7d8e9f",
				IdentityID: tt.identity, Traits: []byte(`{"phone":"+79001112233"}`), MetadataPublic: tt.meta, Code: tt.code,
				ClientIP: "192.0.2.1"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("gate: %+v %v, want %v", dec, err, tt.wantErr)
			}
			if dec.Allow || (dec.Challenge != nil) != tt.wantCall {
				t.Fatalf("gate: allow %v challenge %v, want no allow, challenge %v", dec.Allow, dec.Challenge != nil, tt.wantCall)
			}
		})
	}
}

// TestLoginAtTheRegisteredHookRefused: the hook after a registration's save
// (/hooks/kratos/registered) answers 200 to any saved identity, so a
// login.after web_hook pointed at it (a copied block) let every login
// through with no call. Kratos gives that post-persist hook no session and
// a login's hook one: a body with session.authenticated_at is refused,
// places no call, and ends no proof; the registration's own body still
// passes.
func TestLoginAtTheRegisteredHookRefused(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Microsecond)
	tests := []struct {
		name    string
		authAt  time.Time
		wantErr error
	}{
		{"login body", at, factor.ErrWrongHook},
		{"registration body after the save", time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newUpgradeFactor(t)
			err := f.RegistrationSaved(context.Background(), factor.GateInput{Hook: factor.HookRegistration,
				FlowID: "0b6d5a4e-1c1a-4a8e-9d3e-2f1b6c7d8e9f", IdentityID: "5f0c6f43-3f0e-4d4c-a9a4-3b7a2d1c9e10",
				Traits: []byte(`{"phone":"+79001112233"}`), MetadataPublic: []byte(`{"phone_verified_number":"+79001112233"}`),
				ClientIP: "192.0.2.1", AuthenticatedAt: tt.authAt,
				SessionExpiresAt: tt.authAt.Add(time.Hour)})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RegistrationSaved: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestSettingsAtTheRegisteredHookRefused: a settings web_hook pointed at
// /hooks/kratos/registered (its body is the registration's: a saved
// identity, no session) got 200, so a new number was saved with no call.
// A saved registration's number is the one its registration hook proved
// and wrote into metadata_public; any other is refused and places no call.
// A body without a number (missing_phone: allow) still ends nothing.
func TestSettingsAtTheRegisteredHookRefused(t *testing.T) {
	tests := []struct {
		name    string
		traits  string
		meta    string
		wantErr error
	}{
		{"settings body, a new number", `{"phone":"+79001112299"}`, `{"phone_verified_number":"+79001112233"}`, factor.ErrRegisteredUnproven},
		{"settings body, a first number", `{"phone":"+79001112299"}`, ``, factor.ErrRegisteredUnproven},
		{"registration saved with its proof", `{"phone":"+79001112233"}`, `{"phone_verified_number":"+79001112233"}`, nil},
		{"registration saved without a number", `{}`, ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := newUpgradeFactor(t)
			err := f.RegistrationSaved(context.Background(), factor.GateInput{Hook: factor.HookRegistration,
				FlowID: "0b6d5a4e-1c1a-4a8e-9d3e-2f1b6c7d8e9f", IdentityID: "5f0c6f43-3f0e-4d4c-a9a4-3b7a2d1c9e10",
				Traits: []byte(tt.traits), MetadataPublic: []byte(tt.meta), ClientIP: "192.0.2.1"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RegistrationSaved: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestRegistrationAtTheSettingsHookRefused: a registration web_hook pointed
// at /hooks/kratos/settings sends a body naming no saved identity (the zero
// UUID, before Kratos's save). With ConfirmCurrent there is no stored
// number to read: the admin API was asked for the zero UUID, answered 404,
// and every sign-up was refused as a Kratos outage (kratos_unavailable).
// It is refused as the misconfiguration it is, naming the hook to use,
// without a read or a call.
func TestRegistrationAtTheSettingsHookRefused(t *testing.T) {
	ids := &storedIdentities{err: &kratos.Error{Op: "get identity", StatusCode: 404, Kind: kratos.ErrIdentityNotFound}}
	prov := &numberProvider{}
	f, _ := wire(t, wiring{prov: prov, config: factor.Config{ConfirmCurrent: true}, deps: factor.Deps{Identities: ids}})
	_, err := f.Gate(context.Background(), factor.GateInput{Hook: factor.HookSettings, FlowID: "0b6d5a4e-1c1a-4a8e-9d3e-2f1b6c7d8e9f",
		IdentityID: zeroIdentity, Traits: []byte(`{"phone":"+79001112233"}`), ClientIP: "192.0.2.1"})
	if !errors.Is(err, factor.ErrRegistrationAtSettings) || errors.Is(err, kratos.ErrUnavailable) ||
		!strings.Contains(err.Error(), "/hooks/kratos/registration") {
		t.Fatalf("gate: %v, want %v naming /hooks/kratos/registration", err, factor.ErrRegistrationAtSettings)
	}
	if ids.reads != 0 || len(prov.calls()) != 0 {
		t.Fatalf("admin API read %d times, calls %v; want none", ids.reads, prov.calls())
	}
}
