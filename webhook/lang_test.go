package webhook_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// langBody is validBody with transient_payload and accept_language replaced
// (transient is the JSON text of transient_payload, "" for none).
func langBody(t *testing.T, transient, acceptLanguage string) []byte {
	t.Helper()
	b := validBody()
	tp := `"transient_payload":{"callpass_code":"1234"},`
	if !bytes.Contains(b, []byte(tp)) {
		t.Fatal("validBody changed: no transient_payload to replace")
	}
	if transient == "" {
		b = bytes.Replace(b, []byte(tp), nil, 1)
	} else {
		b = bytes.Replace(b, []byte(tp), []byte(`"transient_payload":`+transient+`,`), 1)
	}
	al, _ := json.Marshal(acceptLanguage)
	const old = `"accept_language":"ru-RU,ru;q=0.9"`
	if !bytes.Contains(b, []byte(old)) {
		t.Fatal("validBody changed: no accept_language to replace")
	}
	return bytes.Replace(b, []byte(old), append([]byte(`"accept_language":`), al...), 1)
}

// TestDecodeCallpassLang: transient_payload.callpass_lang becomes the
// catalogue language it names, in the object (API flow) and the string
// (browser form post) shapes; a value that names none of ours is ignored,
// never refused, and leaves the code and the resend as they were.
func TestDecodeCallpassLang(t *testing.T) {
	tests := []struct {
		name      string
		transient string // the JSON text of transient_payload; "" for none
		lang      string
		code      string
		resend    bool
	}{
		{"no transient_payload", ``, "", "", false},
		{"absent", `{"callpass_code":"1234"}`, "", "1234", false},
		{"null", `{"callpass_code":"1234","callpass_lang":null}`, "", "1234", false},
		{"ru", `{"callpass_lang":"ru"}`, "ru", "", false},
		{"en", `{"callpass_lang":"en","callpass_code":"1234"}`, "en", "1234", false},
		{"upper case", `{"callpass_lang":"RU"}`, "ru", "", false},
		{"region", `{"callpass_lang":"en-GB"}`, "en", "", false},
		{"script and region", `{"callpass_lang":"ru-Cyrl-RU"}`, "ru", "", false},
		{"underscore", `{"callpass_lang":"ru_RU"}`, "ru", "", false},
		{"escaped", `{"callpass_lang":"\u0072\u0075"}`, "ru", "", false},
		{"with resend", `{"callpass_resend":true,"callpass_lang":"ru"}`, "ru", "", true},
		{"other apps' keys", `{"other":{"lang":"en"},"callpass_lang":"ru"}`, "ru", "", false},
		{"browser string", `"{\"callpass_code\":\"4610\",\"callpass_lang\":\"ru\"}"`, "ru", "4610", false},
		// A key given twice counts its last value, as callpass_code's does.
		{"duplicate", `{"callpass_lang":"ru","callpass_lang":"en"}`, "en", "", false},
		{"duplicate, code too", `{"callpass_code":"1111","callpass_lang":"en","callpass_code":"2222","callpass_lang":"ru"}`, "ru", "2222", false},
		{"duplicate, last unusable", `{"callpass_lang":"ru","callpass_lang":7}`, "", "", false},
		{"browser string, duplicate", `"{\"callpass_lang\":\"ru\",\"callpass_lang\":\"en\"}"`, "en", "", false},
		{"browser string, resend", `"{\"callpass_resend\":\"true\",\"callpass_lang\":\"en-US\"}"`, "en", "", true},
		// Ignored, not refused:
		{"unsupported", `{"callpass_lang":"de","callpass_code":"1234"}`, "", "1234", false},
		{"empty", `{"callpass_lang":""}`, "", "", false},
		{"number", `{"callpass_lang":7,"callpass_code":"1234"}`, "", "1234", false},
		{"boolean", `{"callpass_lang":true}`, "", "", false},
		{"object", `{"callpass_lang":{"tag":"ru"}}`, "", "", false},
		{"array", `{"callpass_lang":["ru"]}`, "", "", false},
		{"list", `{"callpass_lang":"ru,en"}`, "", "", false},
		{"q-value", `{"callpass_lang":"ru;q=0.9"}`, "", "", false},
		{"wildcard", `{"callpass_lang":"*"}`, "", "", false},
		{"words", `{"callpass_lang":"русский"}`, "", "", false},
		{"too long", `{"callpass_lang":"ru-` + strings.Repeat("abcdefgh-", 4) + `x"}`, "", "", false},
		{"huge", `{"callpass_lang":"` + strings.Repeat("r", 10000) + `","callpass_code":"1234"}`, "", "1234", false},
		{"control character", `{"callpass_lang":"ru\u0000"}`, "", "", false},
		{"browser string, number", `"{\"callpass_lang\":1,\"callpass_code\":\"1\"}"`, "", "1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := webhook.DecodeHookPayload(langBody(t, tt.transient, "en"))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if p.Lang != tt.lang || p.Code != tt.code || p.Resend != tt.resend {
				t.Errorf("Lang %q, Code %q, Resend %v; want %q, %q, %v", p.Lang, p.Code, p.Resend, tt.lang, tt.code, tt.resend)
			}
			if p.AcceptLanguage != "en" {
				t.Errorf("AcceptLanguage %q", p.AcceptLanguage)
			}
		})
	}
}

// TestCallpassLangKeepsTheDecoderStrict: a good callpass_lang saves no body
// the decoder refuses without it.
func TestCallpassLangKeepsTheDecoderStrict(t *testing.T) {
	tests := []struct {
		name, transient, text string
	}{
		{"code not a string", `{"callpass_lang":"ru","callpass_code":1234}`, "callpass_code must be a string of digits"},
		{"code too long", `{"callpass_lang":"ru","callpass_code":"` + strings.Repeat("1", 65) + `"}`, "callpass_code is too long"},
		{"resend not a boolean", `{"callpass_lang":"ru","callpass_resend":"yes"}`, "callpass_resend must be a boolean"},
		{"not an object", `["callpass_lang","ru"]`, "transient_payload must be an object"},
		{"string not an object", `"callpass_lang=ru"`, "transient_payload must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := webhook.DecodeHookPayload(langBody(t, tt.transient, "ru"))
			if err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %v, want one with %q", err, tt.text)
			}
			if p.Lang != "" || p.FlowID != "" {
				t.Errorf("a refused payload came back filled: %+v", p)
			}
		})
	}
}

// TestHookMessageLanguage: the hook words its messages in callpass_lang when
// it names one of ours, else in Accept-Language's, else in English — the
// call prompt, a refusal, and an error answered by the error handler alike.
func TestHookMessageLanguage(t *testing.T) {
	exp := time.Date(2026, 1, 2, 3, 9, 5, 0, time.UTC)
	calling := factor.GateDecision{Challenge: &factor.ChallengeView{ID: "abc.0123456789", CodeLength: 4,
		ExpiresAt: exp, ResendAfter: exp.Add(-4 * time.Minute), PhoneMasked: "+7 900 ***-**-67", AttemptsLeft: 3, Placed: true}}
	wrong := &challenge.WrongCodeError{AttemptsLeft: 2}
	// An error without a message id is returned to Echo and answered by
	// handleError, which knows the language only from the request state.
	noMessage := challenge.ErrInvalidRequest
	texts := map[string]map[int]string{
		"en": {
			1090001: "We are calling +7 900 ***-**-67. Enter the last 4 digits of the incoming number.",
			4090001: "Wrong code. 2 attempts left.",
			4090010: "Phone confirmation is temporarily unavailable. Please try again later.",
		},
		"ru": {
			1090001: "Мы звоним на +7 900 ***-**-67. Введите последние 4 цифры входящего номера.",
			4090001: "Неверный код. Осталось 2 попытки.",
			4090010: "Подтверждение по телефону временно недоступно. Попробуйте позже.",
		},
	}
	langs := []struct {
		name, transient, accept, want string
	}{
		{"callpass_lang ru over Accept-Language en", `{"callpass_lang":"ru","callpass_code":"1234"}`, "en", "ru"},
		{"callpass_lang en over Accept-Language ru", `{"callpass_lang":"en","callpass_code":"1234"}`, "ru-RU,ru;q=0.9", "en"},
		{"callpass_lang en-GB", `{"callpass_lang":"en-GB","callpass_code":"1234"}`, "ru", "en"},
		{"browser string", `"{\"callpass_lang\":\"ru\",\"callpass_code\":\"1234\"}"`, "en", "ru"},
		{"callpass_lang without Accept-Language", `{"callpass_lang":"ru","callpass_code":"1234"}`, "", "ru"},
		{"unsupported callpass_lang: Accept-Language", `{"callpass_lang":"de","callpass_code":"1234"}`, "ru", "ru"},
		{"wrong type: Accept-Language", `{"callpass_lang":42,"callpass_code":"1234"}`, "ru", "ru"},
		{"garbage: Accept-Language", `{"callpass_lang":"ru;q=1, en","callpass_code":"1234"}`, "en", "en"},
		{"absent: Accept-Language", `{"callpass_code":"1234"}`, "ru", "ru"},
		{"neither: English", `{"callpass_lang":"fr","callpass_code":"1234"}`, "de", "en"},
	}
	answers := []struct {
		name string
		rec  func() *recorder
		id   int
	}{
		{"calling", func() *recorder { return &recorder{decision: calling} }, 1090001},
		{"wrong code", func() *recorder { return &recorder{err: wrong} }, 4090001},
		{"error without a message", func() *recorder { return &recorder{err: noMessage} }, 4090010},
		{"gate answered nothing", func() *recorder { return &recorder{} }, 4090010}, // runHook's own error
	}
	// Every hook kind: login, and the phone checks of registration and settings.
	routes := []string{"/hooks/kratos/login", "/hooks/kratos/registration", "/hooks/kratos/settings"}
	for _, route := range routes {
		for _, a := range answers {
			for _, l := range langs {
				t.Run(route+"/"+a.name+"/"+l.name, func(t *testing.T) {
					h := newServer(t, a.rec(), nil)
					_, _, body := postHook(h, route, hookHdr(), langBody(t, l.transient, l.accept))
					var km struct {
						Messages []struct {
							Messages []struct {
								ID   int    `json:"id"`
								Text string `json:"text"`
							} `json:"messages"`
						} `json:"messages"`
					}
					if err := json.Unmarshal([]byte(body), &km); err != nil || len(km.Messages) != 1 || len(km.Messages[0].Messages) != 1 {
						t.Fatalf("answer: %s", body)
					}
					m := km.Messages[0].Messages[0]
					if m.ID != a.id || m.Text != texts[l.want][a.id] {
						t.Errorf("message %d %q, want %d %q", m.ID, m.Text, a.id, texts[l.want][a.id])
					}
				})
			}
		}
	}
}
