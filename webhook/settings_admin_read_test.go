package webhook_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
)

// TestSettingsAdminReadRefusedIsAnOutage: a settings save reads the stored
// number through kratos.admin_url (webhook.settings_confirm_current). When
// that read is refused, whatever the status (a proxy or gateway in front of
// the admin API answering 401 or 403, Kratos down), the save is refused as
// docs/operations.md says: 4090010 to the user, kratos_unavailable, and an
// error line for the admin naming the read. A 401 or 403 of the admin API
// is not the user's session (no_session, forbidden, with a Bearer challenge
// as for a wrong hook secret, and no error line at all).
func TestSettingsAdminReadRefusedIsAnOutage(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var reads atomic.Int32
			admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reads.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"error":{"code":` + strconv.Itoa(status) + `,"message":"refused"}}`))
			}))
			defer admin.Close()
			kc, err := kratos.New(kratos.Config{PublicURL: admin.URL, AdminURL: admin.URL})
			if err != nil {
				t.Fatal(err)
			}
			f, err := factor.New(factor.Config{PhoneTrait: "phone", ConfirmCurrent: true},
				factor.Deps{Numbers: phonetest.Hasher(), Challenges: provenChallenges{phone: "+79001234567"},
					Passes: noPasses{}, Identities: kc})
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			h := newServer(t, f, &logs)
			w := postSettings(h, `{"phone":"+79001234567"}`, "+79007654321", "en")
			if reads.Load() == 0 {
				t.Fatal("the admin API was not asked")
			}
			if w.Code != http.StatusBadRequest || w.Header().Get("WWW-Authenticate") != "" ||
				oneMessage(t, w.Body.Bytes()).ID != 4090010 {
				t.Fatalf("answer %d %s (WWW-Authenticate %q), want 400 with 4090010",
					w.Code, w.Body, w.Header().Get("WWW-Authenticate"))
			}
			if line := logs.String(); !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "kratos_unavailable") ||
				!strings.Contains(line, "kratos.admin_url") {
				t.Fatalf("log %q, want an error line naming kratos_unavailable and kratos.admin_url", line)
			}
		})
	}
}

// refusingChallenges refuses every start with err.
type refusingChallenges struct {
	provenChallenges
	err error
}

func (r refusingChallenges) Start(context.Context, challenge.StartRequest) (challenge.StartResult, error) {
	return challenge.StartResult{}, r.err
}

// storedNumber is Kratos's admin API holding the identity's number.
type storedNumber string

func (n storedNumber) Identity(_ context.Context, id string) (*kratos.Identity, error) {
	return &kratos.Identity{ID: id, Traits: map[string]any{"phone": string(n)}}, nil
}

// TestCurrentNumberNotCallableSaysSo: a settings flow changing the number
// whose call to the current number is refused as a destination (a
// deny_prefixes rule, the provider refusing it) tells the user that the
// current number cannot be called and to contact support. The settings
// wording of 4090012, "use another number", is about the number typed in
// the form: another one typed there calls the current number again and is
// refused the same way. A refused new number keeps that wording.
func TestCurrentNumberNotCallableSaysSo(t *testing.T) {
	const cur, next = "+79001110001", "+79002220002"
	tests := []struct {
		name, stored, lang, want string
	}{
		{"current number, en", cur, "en", "Calls to your current phone number are not possible, so it cannot be changed here. Please contact support."},
		{"current number, ru", cur, "ru", "На ваш текущий номер позвонить нельзя, поэтому сменить его здесь не получится. Обратитесь в поддержку."},
		{"new number, en", "", "en", "Calls to this number are not possible. Use another number or contact support."},
		{"new number, ru", "", "ru", "На этот номер позвонить нельзя. Укажите другой номер или обратитесь в поддержку."},
	}
	for _, refusal := range []error{&limit.LimitError{Kind: limit.KindDestination}, flashcall.ErrDestinationNotAllowed} {
		for _, tt := range tests {
			t.Run(refusal.Error()+"/"+tt.name, func(t *testing.T) {
				f, err := factor.New(factor.Config{PhoneTrait: "phone", ConfirmCurrent: true, MissingPhone: factor.MissingPhoneAllow},
					factor.Deps{Numbers: phonetest.Hasher(), Challenges: refusingChallenges{err: refusal},
						Passes: noPasses{}, Identities: storedNumber(tt.stored)})
				if err != nil {
					t.Fatal(err)
				}
				h := newServer(t, f, nil)
				w := postSettings(h, `{"phone":"`+next+`"}`, cur, tt.lang)
				if m := oneMessage(t, w.Body.Bytes()); m.ID != 4090012 || m.Text != tt.want {
					t.Fatalf("message %d %q, want 4090012 %q", m.ID, m.Text, tt.want)
				}
			})
		}
	}
}

// placingChallenges places a call for every start: a pending challenge
// at the number asked for.
type placingChallenges struct{ provenChallenges }

func (placingChallenges) Start(_ context.Context, r challenge.StartRequest) (challenge.StartResult, error) {
	return challenge.StartResult{Placed: true, Challenge: challenge.Challenge{ID: "c1", Purpose: r.Purpose, IdentityID: r.IdentityID,
		FlowID: r.FlowID, Phone: r.Number.E164(), State: challenge.StatePending, CodeLength: 4, MaxAttempts: 3,
		ExpiresAt: time.Now().Add(time.Minute), ResendAfter: time.Now().Add(30 * time.Second)}}, nil
}

// TestCurrentNumberCallWordsARemoval: removing the number in settings
// (missing_phone: allow) calls the current number first, as a change does,
// but there is no new number to call after its code: the message says the
// code removes the number, in en and ru, not "then we will call the new
// number". A change keeps that wording.
func TestCurrentNumberCallWordsARemoval(t *testing.T) {
	const cur = "+79001110001"
	tests := []struct {
		name, traits, lang, reason, want string
	}{
		{"removal, en", `{}`, "en", "current_number_removal", "To remove your number, first type the code of the call to it, +7 900 ***-**-01: the last 4 digits of the incoming number."},
		{"removal, ru", `{"phone":""}`, "ru", "current_number_removal", "Чтобы удалить номер, сначала введите код из звонка на него, +7 900 ***-**-01: последние 4 цифры входящего номера."},
		{"change, en", `{"phone":"+79002220002"}`, "en", "current_number", "To change your number, first type the code of the call to your current number +7 900 ***-**-01: the last 4 digits of the incoming number. Then we will call the new number."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := factor.New(factor.Config{PhoneTrait: "phone", ConfirmCurrent: true, MissingPhone: factor.MissingPhoneAllow},
				factor.Deps{Numbers: phonetest.Hasher(), Challenges: placingChallenges{}, Passes: noPasses{}, Identities: storedNumber(cur)})
			if err != nil {
				t.Fatal(err)
			}
			h := newServer(t, f, nil)
			w := postSettings(h, tt.traits, cur, tt.lang)
			if m := oneMessage(t, w.Body.Bytes()); m.ID != 1090001 || m.Text != tt.want || m.Context["reason"] != tt.reason {
				t.Fatalf("message %d %q reason %v, want 1090001 %q reason %s", m.ID, m.Text, m.Context["reason"], tt.want, tt.reason)
			}
		})
	}
}

// postSettings posts a settings hook body saving traits for an identity
// whose proven number is verified, read in lang.
func postSettings(h http.Handler, traits, verified, lang string) *httptest.ResponseRecorder {
	body := `{"flow_id":"` + flowID + `","flow_type":"browser","identity_id":"` + identityID + `",` +
		`"traits":` + traits + `,"metadata_public":{"phone_verified_number":"` + verified + `"},` +
		`"transient_payload":{},"client_ip":"192.0.2.1","accept_language":"` + lang + `"}`
	hdr := map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}
	return do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/settings", hdr: hdr, body: strings.NewReader(body)})
}
