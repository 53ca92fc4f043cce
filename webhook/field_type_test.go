package webhook_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// TestHookFieldOfTheWrongType: an app that sends transient_payload's
// callpass_code as a JSON number, array, object or boolean, a code past
// any typing, or callpass_resend neither a boolean nor "true"/"false", is
// answered 4090014 on the flow, saying which field and how, in the user's
// language, counted refused_invalid_request; the gate never runs (no
// check, no attempt, no call). It was answered as a broken body: 4090010
// "temporarily unavailable", counted bad_request like a broken template.
// A body that is broken (transient_payload not an object) still is.
func TestHookFieldOfTheWrongType(t *testing.T) {
	const codeField, resendField = "transient_payload.callpass_code", "transient_payload.callpass_resend"
	tests := []struct {
		name, transient, field, reason string
		text                           map[string]string // the start of the text, by callpass_lang
	}{
		{"code as a number", `{"callpass_code":1234,"callpass_lang":"%s"}`, codeField, "code_not_a_string",
			map[string]string{"en": `The app sent the code in the wrong form: it must be a string of digits, such as "1234".`,
				"ru": `Приложение отправило код в неверном виде: код передаётся строкой из цифр, например "1234".`}},
		{"code in an array", `{"callpass_code":["1234"],"callpass_lang":"%s"}`, codeField, "code_not_a_string", nil},
		{"code in an object", `{"callpass_code":{"code":"1234"},"callpass_lang":"%s"}`, codeField, "code_not_a_string", nil},
		{"code as a boolean", `{"callpass_lang":"%s","callpass_code":true}`, codeField, "code_not_a_string", nil},
		{"code too long", `{"callpass_lang":"%s","callpass_code":"` + strings.Repeat("0", 61) + `1234"}`, codeField, "code_too_long",
			map[string]string{"en": "The code is too long.", "ru": "Код слишком длинный."}},
		{"resend as a word", `{"callpass_resend":"yes","callpass_lang":"%s"}`, resendField, "resend_not_a_boolean",
			map[string]string{"en": "The app asked for a new call in the wrong form: callpass_resend must be true or false.",
				"ru": "Приложение запросило новый звонок в неверном виде: callpass_resend должен быть true или false."}},
		{"resend as a number, with a code", `{"callpass_code":"1234","callpass_resend":1,"callpass_lang":"%s"}`, resendField, "resend_not_a_boolean", nil},
		{"browser form post", `"{\"callpass_code\":1234,\"callpass_lang\":\"%s\"}"`, codeField, "code_not_a_string", nil},
	}
	for _, tt := range tests {
		for _, hook := range []string{"login", "registration", "settings", "registered"} {
			for _, lang := range []string{"en", "ru"} {
				t.Run(tt.name+"/"+hook+"/"+lang, func(t *testing.T) {
					m := metrics.New()
					rec := &savingRecorder{}
					srv, err := webhook.New(webhook.Config{WebhookSecret: secret},
						webhook.Deps{Factor: rec, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
					if err != nil {
						t.Fatal(err)
					}
					// Accept-Language says English: the Russian text comes from callpass_lang.
					body := langBody(t, strings.Replace(tt.transient, "%s", lang, 1), "en")
					w := do(srv.Handler(), reqSpec{method: http.MethodPost, path: "/hooks/kratos/" + hook, hdr: hookHdr(),
						body: bytes.NewReader(body), length: int64(len(body))})
					if w.Code != http.StatusBadRequest {
						t.Fatalf("answered %d %s, want 400", w.Code, w.Body)
					}
					m1 := oneMessage(t, w.Body.Bytes())
					if m1.ID != 4090014 || m1.Type != "error" || m1.Context["field"] != tt.field || m1.Context["reason"] != tt.reason {
						t.Errorf("message %+v, want 4090014 with field %s, reason %s", m1, tt.field, tt.reason)
					}
					if tt.text != nil && !strings.HasPrefix(m1.Text, tt.text[lang]) {
						t.Errorf("text %q, want it to start %q", m1.Text, tt.text[lang])
					}
					if n := rec.count(); n != 0 || len(rec.saved) != 0 {
						t.Errorf("the factor ran (%v, %d saves): the field must stop the hook before it", rec.calls, len(rec.saved))
					}
					if got := hookDecisions(t, m, hook); len(got) != 1 || got["refused_invalid_request"] != 1 {
						t.Errorf("decisions %v, want refused_invalid_request once", got)
					}
				})
			}
		}
	}
	t.Run("a broken transient_payload", func(t *testing.T) {
		m := metrics.New()
		rec := &recorder{decision: factor.GateDecision{Allow: true}}
		srv, err := webhook.New(webhook.Config{WebhookSecret: secret},
			webhook.Deps{Factor: rec, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		body := langBody(t, `["callpass_code","1234"]`, "en")
		w := do(srv.Handler(), reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", hdr: hookHdr(),
			body: bytes.NewReader(body), length: int64(len(body))})
		if m1 := oneMessage(t, w.Body.Bytes()); w.Code != http.StatusBadRequest || m1.ID != 4090010 {
			t.Errorf("answered %d %s, want 400 with 4090010", w.Code, w.Body)
		}
		if got := hookDecisions(t, m, "login"); got["bad_request"] != 1 || rec.count() != 0 {
			t.Errorf("decisions %v, gate calls %d; want bad_request and none", got, rec.count())
		}
	})
}

type fieldMessage struct {
	ID      int            `json:"id"`
	Text    string         `json:"text"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context"`
}

// oneMessage is the one Kratos message of a hook's answer.
func oneMessage(t *testing.T, body []byte) fieldMessage {
	t.Helper()
	var a struct {
		Messages []struct {
			Messages []fieldMessage `json:"messages"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &a); err != nil || len(a.Messages) != 1 || len(a.Messages[0].Messages) != 1 {
		t.Fatalf("answer %s: want one message (%v)", body, err)
	}
	return a.Messages[0].Messages[0]
}

// TestDecodeFieldErrorsNamed: DecodeHookPayload still refuses a field of
// ours in a form it does not read (a zero payload, a *PayloadError), and
// the error names the field and how, which the hook's answer says.
func TestDecodeFieldErrorsNamed(t *testing.T) {
	tests := []struct{ transient, field, why string }{
		{`{"callpass_code":1234}`, "transient_payload.callpass_code", "code_not_a_string"},
		{`{"callpass_code":null,"callpass_resend":"no"}`, "transient_payload.callpass_resend", "resend_not_a_boolean"},
		{`{"callpass_code":"` + strings.Repeat("1", 65) + `"}`, "transient_payload.callpass_code", "code_too_long"},
		{`{"callpass_code":"1234","callpass_resend":[true]}`, "transient_payload.callpass_resend", "resend_not_a_boolean"},
		// Broken bodies name no field.
		{`[1234]`, "", ""},
		{`"callpass_code=1234"`, "", ""},
	}
	for _, tt := range tests {
		p, err := webhook.DecodeHookPayload(langBody(t, tt.transient, "en"))
		pe, ok := err.(*webhook.PayloadError)
		if !ok || pe.Field != tt.field || pe.Why != tt.why {
			t.Errorf("%s: error %#v, want field %q why %q", tt.transient, err, tt.field, tt.why)
		}
		if p.FlowID != "" || p.Code != "" || p.Resend {
			t.Errorf("%s: a refused payload came back filled: %+v", tt.transient, p)
		}
	}
}
