package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// TestPhoneMessagesByFlow: a missing or unusable number is worded for the
// flow the hook serves. At registration and in settings an unusable number
// says which numbers are accepted (the user can fix it in the form); at
// login, where the account's number cannot be changed, it reads as none,
// with "contact support" instead of a settings link that loops back to the
// login. The message context names the flow, so other UIs can tell.
func TestPhoneMessagesByFlow(t *testing.T) {
	_, perr := phone.Parse("+380501234567")
	if perr == nil {
		t.Fatal("a Ukrainian number parsed: the test needs an invalid one")
	}
	invalid := fmt.Errorf("%w: %w", factor.ErrNoPhone, perr) // as the factor reports a bad trait
	tests := []struct {
		hook   string
		err    error
		msgID  int
		wantRu string
	}{
		{"login", factor.ErrNoPhone, 4090007, "Обратитесь в поддержку"},
		{"login", invalid, 4090007, "Обратитесь в поддержку"},
		{"registration", factor.ErrNoPhone, 4090007, "Укажите его в форме"},
		{"registration", invalid, 4090013, "начинающиеся с +7"},
		{"settings", invalid, 4090013, "начинающиеся с +7"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.hook, tt.err), func(t *testing.T) {
			m := hookMessage(t, tt.err, tt.hook)
			if m.ID != tt.msgID || !strings.Contains(m.Text, tt.wantRu) || m.Context["flow"] != tt.hook {
				t.Errorf("message %d %q context %v, want %d with %q and flow %s", m.ID, m.Text, m.Context, tt.msgID, tt.wantRu, tt.hook)
			}
		})
	}
}

// TestResendsUsedUpSaysSo: a resend refused because the code had all its
// repeat calls says so (limit "resends") and that the last call's code
// still works; an ordinary cooldown keeps its short text.
func TestResendsUsedUpSaysSo(t *testing.T) {
	tests := []struct {
		err       error
		limit     any
		wantRu    string
		notWantRu string
	}{
		{&challenge.CooldownError{RetryAfter: 4 * time.Minute, ResendsExhausted: true}, "resends", "действует код из последнего звонка", ""},
		{&challenge.CooldownError{RetryAfter: 20 * time.Second}, nil, "Новый звонок можно запросить через 20 с.", "последнего звонка"},
	}
	for _, tt := range tests {
		m := hookMessage(t, tt.err, "login")
		if m.ID != 4090006 || m.Context["limit"] != tt.limit || !strings.Contains(m.Text, tt.wantRu) ||
			tt.notWantRu != "" && strings.Contains(m.Text, tt.notWantRu) {
			t.Errorf("%v: message %d %q context %v, want 4090006 with %q (limit %v)", tt.err, m.ID, m.Text, m.Context, tt.wantRu, tt.limit)
		}
	}
}

type hookMsg struct {
	ID      int            `json:"id"`
	Text    string         `json:"text"`
	Context map[string]any `json:"context"`
}

// hookMessage is the one message the hook answers when the factor fails
// with err.
func hookMessage(t *testing.T, err error, hook string) hookMsg {
	t.Helper()
	h := newServer(t, &recorder{err: err}, nil)
	w := do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/" + hook, body: bytes.NewReader(validBody()),
		hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}})
	var km struct {
		Messages []struct {
			Messages []hookMsg `json:"messages"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &km); err != nil || len(km.Messages) != 1 || len(km.Messages[0].Messages) != 1 {
		t.Fatalf("hook answer %d %s", w.Code, w.Body)
	}
	return km.Messages[0].Messages[0]
}

// TestCurrentNumberCallSaysSo: a settings flow changing the number is
// answered with the call to the current number (CurrentNumber) as the
// "calling" message with reason current_number, worded "first the code of
// the call to your current number" in the reader's language; any other
// call keeps the plain "calling" text and no reason.
func TestCurrentNumberCallSaysSo(t *testing.T) {
	view := factor.ChallengeView{ID: "c1", State: "pending", CodeLength: 4, PhoneMasked: "+7 *** ***-**-01",
		AttemptsLeft: 3, ExpiresAt: time.Now().Add(time.Minute), ResendAfter: time.Now().Add(30 * time.Second)}
	tests := []struct {
		name, lang string
		current    bool
		want       string
	}{
		{"current, ru", "ru-RU", true, "Чтобы сменить номер, сначала введите код из звонка на ваш текущий номер +7 *** ***-**-01"},
		{"current, en", "en-GB", true, "To change your number, first type the code of the call to your current number +7 *** ***-**-01"},
		{"new, ru", "ru-RU", false, "Мы звоним на +7 *** ***-**-01."},
		{"new, en", "en-GB", false, "We are calling +7 *** ***-**-01."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := view
			h := newServer(t, &recorder{decision: factor.GateDecision{Challenge: &v, CurrentNumber: tt.current}}, nil)
			body := bytes.Replace(validBody(), []byte(`"ru-RU,ru;q=0.9"`), []byte(`"`+tt.lang+`"`), 1)
			w := do(h, reqSpec{method: http.MethodPost, path: "/hooks/kratos/settings", body: bytes.NewReader(body),
				hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}})
			var km struct {
				Messages []struct {
					Messages []hookMsg `json:"messages"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &km); err != nil || w.Code != http.StatusBadRequest || len(km.Messages) != 1 || len(km.Messages[0].Messages) != 1 {
				t.Fatalf("hook answer %d %s", w.Code, w.Body)
			}
			m := km.Messages[0].Messages[0]
			wantReason := any(nil)
			if tt.current {
				wantReason = "current_number"
			}
			if m.ID != 1090001 || !strings.HasPrefix(m.Text, tt.want) || m.Context["reason"] != wantReason || m.Context["challenge_id"] != "c1" {
				t.Errorf("message %d %q context %v, want 1090001 starting %q, reason %v", m.ID, m.Text, m.Context, tt.want, wantReason)
			}
		})
	}
}
