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
