package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

const regFlowID = "1c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1"

// serveFlows makes the fake Kratos answer GET /self-service/<kind>/flows
// with a recorded flow of that kind carrying msgs (the CallPass interrupt).
func serveFlows(t *testing.T, hs *harness, msgs map[string][]map[string]any) {
	hs.fake.extra = func(w http.ResponseWriter, r *http.Request) bool {
		kind, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/self-service/"), "/flows")
		m, want := msgs[kind]
		if r.Method != http.MethodGet || !ok || !want {
			return false
		}
		file := "testdata/settings_flow.json" // a profile form with traits.phone
		if kind == "login" {
			file = "testdata/login_flow.json"
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var flow map[string]any
		if err := json.Unmarshal(b, &flow); err != nil {
			t.Fatal(err)
		}
		flow["id"] = r.URL.Query().Get("id")
		flow["ui"].(map[string]any)["messages"] = m
		_ = json.NewEncoder(w).Encode(flow)
		return true
	}
}

// remember stores a submission for flowID as the relay would, and returns
// the browser's pending cookie.
func remember(hs *harness, flowID string) *http.Cookie {
	browser := strings.Repeat("b", 43)
	hs.s.pending.put(flowID, browser, url.Values{"traits.phone": {"+79001234567"}, "method": {"profile"}})
	return &http.Cookie{Name: pendingCookie, Value: browser}
}

func flowIDFor(kind string) string {
	switch kind {
	case "login":
		return loginFlowID
	case "settings":
		return settingsFlowID
	}
	return regFlowID
}

var calling = map[string]any{"id": 1090001, "type": "info", "text": "calling", "context": map[string]any{
	"challenge_id": "ch1", "code_length": 4, "expires_at": "2026-01-02T10:05:00Z", "resend_after": "2026-01-02T10:00:45Z",
	"phone_masked": "+7 900 ***-**-67", "attempts_left": 3}}

// Registration and settings confirm a typed number: their own title, and a
// way back to fix it. Login confirms the person; with no phone on the
// account it neither sends to the settings (no session) nor says "add one".
func TestCodeStepPerFlowKind(t *testing.T) {
	noPhone := map[string]any{"id": 4090007, "type": "error", "text": "no phone"}
	settingsLink := "/self-service/settings/browser"
	tests := []struct {
		kind     string
		msg      map[string]any
		lang     string
		want     []string // visible text
		absent   []string // visible text
		change   bool
		settings bool
	}{
		{"registration", calling, "en", []string{"Confirm your phone number", "Change number"}, []string{"Confirm it's you"}, true, false},
		{"registration", calling, "ru", []string{"Подтвердите номер телефона", "Изменить номер"}, []string{"Подтвердите, что это вы"}, true, false},
		{"settings", calling, "en", []string{"Confirm your phone number", "Change number"}, nil, true, false},
		{"settings", calling, "ru", []string{"Подтвердите номер телефона", "Изменить номер"}, nil, true, false},
		{"login", calling, "en", []string{"Confirm it's you", "Sign in with another account"}, []string{"Change number"}, false, false},
		{"login", noPhone, "en", []string{"Signing in needs a phone number, and your account has none. Please contact support."},
			[]string{"Add one in your account settings", "Open account settings"}, false, false},
		{"login", noPhone, "ru", []string{"Для входа нужен номер телефона, а в учётной записи его нет. Обратитесь в поддержку."},
			[]string{"Добавьте его в настройках"}, false, false},
		// In settings the form is the way: one link back to it, "Enter a
		// number" (there is none to change), not a second one to settings.
		{"settings", noPhone, "en", []string{"Enter a phone number in the form and save.", "Enter a number"}, []string{"Open account settings", "Change number"}, true, false},
	}
	for _, tt := range tests {
		name := tt.kind + "/" + tt.lang + "/" + strings.TrimSpace(tt.msg["text"].(string))
		hs := newHarness(t)
		serveFlows(t, hs, map[string][]map[string]any{tt.kind: {tt.msg}})
		id := flowIDFor(tt.kind)
		rec := hs.do(http.MethodGet, "/"+tt.kind+"?flow="+id+"&lang="+tt.lang, nil, remember(hs, id))
		body := rec.Body.String()
		text := visibleText(body)
		if !strings.Contains(body, `data-cp-step`) {
			t.Fatalf("%s: no code step:\n%s", name, body)
		}
		for _, w := range tt.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q missing:\n%s", name, w, text)
			}
		}
		for _, w := range tt.absent {
			if strings.Contains(text, w) {
				t.Errorf("%s: %q shown", name, w)
			}
		}
		if got := strings.Contains(body, `href="/`+tt.kind+`?flow=`+id+`&amp;callpass=change"`); got != tt.change {
			t.Errorf("%s: change-number link = %v, want %v", name, got, tt.change)
		}
		if got := strings.Contains(body, settingsLink); got != tt.settings {
			t.Errorf("%s: settings link = %v, want %v", name, got, tt.settings)
		}
	}
}

// "Change number" shows the flow's form again, without the call's message,
// and forgets the remembered submission.
func TestChangeNumberShowsTheForm(t *testing.T) {
	for _, kind := range []string{"registration", "settings"} {
		hs := newHarness(t)
		serveFlows(t, hs, map[string][]map[string]any{kind: {calling}})
		id := flowIDFor(kind)
		rec := hs.do(http.MethodGet, "/"+kind+"?flow="+id+"&callpass=change", nil, remember(hs, id))
		body := rec.Body.String()
		if rec.Code != http.StatusOK || strings.Contains(body, "data-cp-step") || !strings.Contains(body, `name="traits.phone"`) ||
			strings.Contains(body, "calling") {
			t.Errorf("%s: want the form without the call:\n%s", kind, body)
		}
		if n := hs.s.pending.len(); n != 0 {
			t.Errorf("%s: %d remembered submissions kept", kind, n)
		}
	}
}

// The remembered submission gone, each flow says so in its own words.
func TestPendingExpiredPerFlowKind(t *testing.T) {
	tests := []struct{ kind, lang, want string }{
		{"login", "en", "Your sign-in took too long. Please enter your email and password again."},
		{"login", "ru", "Вход занял слишком много времени. Введите почту и пароль ещё раз."},
		{"registration", "en", "Your registration took too long. Please fill in the form again."},
		{"registration", "ru", "Регистрация заняла слишком много времени. Заполните форму ещё раз."},
		{"settings", "en", "Saving your changes took too long. Please make them again."},
		{"settings", "ru", "Сохранение заняло слишком много времени. Внесите изменения ещё раз."},
	}
	for _, tt := range tests {
		hs := newHarness(t)
		serveFlows(t, hs, map[string][]map[string]any{tt.kind: {calling}})
		rec := hs.do(http.MethodGet, "/"+tt.kind+"?flow="+flowIDFor(tt.kind)+"&lang="+tt.lang, nil)
		if text := visibleText(rec.Body.String()); !strings.Contains(text, tt.want) {
			t.Errorf("%s/%s: %q missing:\n%s", tt.kind, tt.lang, tt.want, text)
		}
	}
}

// A wait longer than the remembered submission lives (PendingTTL) gets no
// countdown button that would end in "took too long": the wait, and a way
// to start over.
func TestLongWaitOffersStartOver(t *testing.T) {
	tests := []struct {
		name, kind string
		msg        map[string]any
		button     bool
		restart    string
	}{
		{"ban", "login", map[string]any{"id": 4090005, "type": "error", "text": "blocked", "context": map[string]any{"retry_after": 900, "retry_at": "2026-01-02T10:15:00Z"}},
			false, "http://127.0.0.1:4433/self-service/login/browser"},
		{"hourly limit", "settings", map[string]any{"id": 4090004, "type": "error", "text": "limited", "context": map[string]any{"limit": "identity", "retry_after": 3600, "retry_at": "2026-01-02T11:00:00Z"}},
			false, "/settings?flow=" + settingsFlowID + "&amp;callpass=change"},
		{"short limit", "login", map[string]any{"id": 4090004, "type": "error", "text": "limited", "context": map[string]any{"limit": "ip", "retry_after": 60, "retry_at": "2026-01-02T10:01:00Z"}},
			true, ""},
	}
	for _, tt := range tests {
		hs := newHarness(t)
		serveFlows(t, hs, map[string][]map[string]any{tt.kind: {calling, tt.msg}})
		id := flowIDFor(tt.kind)
		pend := remember(hs, id)
		hs.now = hs.now.Add(time.Minute)
		rec := hs.do(http.MethodGet, "/"+tt.kind+"?flow="+id, nil, pend)
		body := rec.Body.String()
		if got := strings.Contains(body, "data-cp-resend"); got != tt.button {
			t.Errorf("%s: resend button = %v, want %v", tt.name, got, tt.button)
		}
		if tt.restart != "" {
			// One link there (the start-over or change-number link the
			// page already has), and the note saying to use it.
			if strings.Count(body, `<a href="`+tt.restart+`">`) != 1 || !strings.Contains(body, "start over") {
				t.Errorf("%s: want one link to %s and the start-over note:\n%s", tt.name, tt.restart, body)
			}
		} else if strings.Contains(body, ">Start over</a>") {
			t.Errorf("%s: start over offered for a short wait", tt.name)
		}
	}
}
