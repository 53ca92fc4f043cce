package webhook_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
)

// provenChallenges verifies any code of a phone check for phone; nothing
// else is expected.
type provenChallenges struct{ phone string }

func (provenChallenges) Start(context.Context, challenge.StartRequest) (challenge.StartResult, error) {
	return challenge.StartResult{}, challenge.ErrNotFound
}

func (p provenChallenges) Verify(_ context.Context, b challenge.Binding, _, _ string) (challenge.VerifyResult, error) {
	if b.Purpose != challenge.PurposeVerifyPhone {
		return challenge.VerifyResult{}, challenge.ErrNotFound
	}
	return challenge.VerifyResult{Challenge: challenge.Challenge{ID: "c1", Purpose: b.Purpose, IdentityID: b.IdentityID,
		FlowID: b.FlowID, Phone: p.phone, State: challenge.StateVerified}}, nil
}

func (p provenChallenges) VerifyAndPass(ctx context.Context, b challenge.Binding, id, code string, _ *challenge.Pass) (challenge.VerifyResult, error) {
	return p.Verify(ctx, b, id, code)
}

// VerifyAndPassNumber: these fakes' challenges hold no number of their own
// to check; the real check is the stores' (plugin/challenge/storetest).
func (p provenChallenges) VerifyAndPassNumber(ctx context.Context, b challenge.Binding, id, code, _ string, _ *challenge.Pass) (challenge.VerifyResult, error) {
	return p.Verify(ctx, b, id, code)
}

func (p provenChallenges) VerifyAndPassFollowing(ctx context.Context, b challenge.Binding, id, code string, _ *challenge.Pass) (challenge.VerifyResult, error) {
	return p.Verify(ctx, b, id, code)
}

func (provenChallenges) Current(context.Context, challenge.Binding) (challenge.Challenge, error) {
	return challenge.Challenge{}, challenge.ErrNotFound
}

func (provenChallenges) Get(context.Context, string) (challenge.Challenge, error) {
	return challenge.Challenge{}, challenge.ErrNotFound
}

type noPasses struct{}

func (noPasses) ClaimPass(context.Context, string, []time.Time, time.Duration, string) (string, bool, error) {
	return "", false, nil
}

// TestPhoneHookSendsMetadataBackExact: a settings or registration hook that
// proves the phone answers with the identity's metadata_public, which Kratos
// stores (response.parse): every value it sent comes back as it was, an
// integer above 2^53 included, with the two phone keys added.
func TestPhoneHookSendsMetadataBackExact(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	const added = `"phone_verified_at":"2026-11-25T09:00:00Z","phone_verified_number":"+79001234567"`
	tests := []struct {
		name, meta, want string
	}{
		{"tenant id above 2^53", `{"tenant_id":1234567890123456789}`,
			`{"identity":{"metadata_public":{` + added + `,"tenant_id":1234567890123456789}}}`},
		{"nested, negative, fraction", `{"org":{"ids":[-9007199254740993,18446744073709551615]},"r":0.1,"plan":"gold"}`,
			`{"identity":{"metadata_public":{"org":{"ids":[-9007199254740993,18446744073709551615]},` + added + `,"plan":"gold","r":0.1}}}`},
		{"null", `null`, `{"identity":{"metadata_public":{` + added + `}}}`},
	}
	for _, hook := range []string{"settings", "registration"} {
		for _, tt := range tests {
			t.Run(hook+"/"+tt.name, func(t *testing.T) {
				f, err := factor.New(factor.Config{}, factor.Deps{Numbers: phonetest.Hasher(), Challenges: provenChallenges{phone: "+79001234567"},
					Passes: noPasses{}, Now: func() time.Time { return now }})
				if err != nil {
					t.Fatal(err)
				}
				h := newServer(t, f, nil)
				ident := identityID
				if hook == "registration" {
					ident = "00000000-0000-0000-0000-000000000000" // Kratos has not saved it yet
				}
				body := `{"flow_id":"` + flowID + `","flow_type":"browser","identity_id":"` + ident + `",` +
					`"traits":{"phone":"+79001234567"},"metadata_public":` + tt.meta + `,` +
					`"transient_payload":{"callpass_code":"1234"},"client_ip":"192.0.2.1"}`
				hdr := map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}
				w := do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/" + hook, hdr: hdr, body: bytes.NewReader([]byte(body))})
				if w.Code != http.StatusOK {
					t.Fatalf("%d %s", w.Code, w.Body)
				}
				if got := strings.TrimSpace(w.Body.String()); got != tt.want {
					t.Fatalf("hook answer\n got %s\nwant %s", got, tt.want)
				}
			})
		}
	}
}
