package ui

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A refused "call me again" (rate limit, provider failure, outage) leaves
// the earlier call's code valid: its field stays while that call is live.
// A block refuses code checks too; a locked, expired or undelivered call,
// or one past its expiry, has no code to type.
func TestRefusedResendKeepsTheLiveCode(t *testing.T) {
	calling := Message{ID: MsgCalling, Type: "info", Context: map[string]any{"challenge_id": "ch_1", "code_length": 4.0,
		"phone_masked": "+7 900 ***-**-67", "expires_at": "2026-01-02T10:05:00Z", "attempts_left": 3.0}}
	limited := Message{ID: MsgRateLimited, Type: "error", Context: map[string]any{"limit": "number", "retry_after": 3600.0, "retry_at": "2026-01-02T11:00:00Z"}}
	tests := []struct {
		name   string
		before []Message
		last   Message
		now    time.Time
		code   bool
	}{
		{"rate limited", []Message{calling}, limited, now, true},
		{"provider failure", []Message{calling}, Message{ID: MsgProviderUnavailable, Type: "error"}, now, true},
		{"outage", []Message{calling}, Message{ID: MsgUnavailable, Type: "error"}, now, true},
		{"after a wrong code", []Message{calling, {ID: MsgWrongCode, Type: "error", Context: map[string]any{"attempts_left": 1.0}}}, limited, now, true},
		{"blocked", []Message{calling}, Message{ID: MsgBlocked, Type: "error", Context: map[string]any{"retry_after": 900.0}}, now, false},
		{"call expired", []Message{calling}, limited, now.Add(6 * time.Minute), false},
		{"code locked", []Message{calling, {ID: MsgLocked, Type: "error", Context: map[string]any{"attempts_left": 0}}}, limited, now, false},
		{"locked without a count", []Message{calling, {ID: MsgLocked, Type: "error"}}, limited, now, false},
		{"code expired", []Message{calling, {ID: MsgExpired, Type: "error"}}, limited, now, false},
		{"not delivered", []Message{calling, {ID: MsgNotDelivered, Type: "error"}}, Message{ID: MsgProviderUnavailable, Type: "error"}, now, false},
		{"no call known", nil, limited, now, false},
	}
	for _, tt := range tests {
		for _, lang := range Languages() {
			s := CodeStep{Lang: lang, AttemptsLeft: -1, FormAction: "/x", Now: tt.now}
			for _, m := range tt.before {
				s.ApplyMessage(m)
			}
			s.ApplyMessage(tt.last)
			html := render(t, s)
			if got := strings.Contains(html, `id="cp-code"`); got != tt.code {
				t.Errorf("%s/%s: code field = %v, want %v", tt.name, lang, got, tt.code)
				continue
			}
			if !tt.code {
				continue
			}
			// The lead says the earlier code works, not "we are calling".
			want := map[string]string{"en": "The code from the last call to +7 900 ***-**-67 still works: enter the last 4 digits",
				"ru": "Код из последнего звонка на +7 900 ***-**-67 ещё действует: введите последние 4 цифры"}[lang]
			if text := visibleText(html); !strings.Contains(text, want) {
				t.Errorf("%s/%s: lead %q missing:\n%s", tt.name, lang, want, text)
			}
			if focus := regexp.MustCompile(`<[^>]*\sautofocus[^>]*>`).FindString(html); !strings.Contains(focus, `id="cp-code"`) {
				t.Errorf("%s/%s: focus not on the code field: %s", tt.name, lang, focus)
			}
		}
	}
}

// A too-short code counts as a try: say what is left, as a wrong code does.
func TestInvalidCodeSaysAttemptsLeft(t *testing.T) {
	tests := []struct {
		lang string
		ctx  map[string]any
		want string
	}{
		{"en", map[string]any{"code_length": 4.0, "attempts_left": 2.0}, "The code must be exactly 4 digits. 2 attempts left."},
		{"en", map[string]any{"code_length": 4.0, "attempts_left": 1.0}, "The code must be exactly 4 digits. 1 attempt left."},
		{"ru", map[string]any{"code_length": 4.0, "attempts_left": 2.0}, "Код должен состоять ровно из 4 цифр. Осталось 2 попытки."},
		{"ru", map[string]any{"code_length": 4.0, "attempts_left": 1.0}, "Код должен состоять ровно из 4 цифр. Осталась 1 попытка."},
		{"ru", map[string]any{"code_length": 5.0, "attempts_left": 5.0}, "Код должен состоять ровно из 5 цифр. Осталось 5 попыток."},
		{"en", map[string]any{"code_length": 4.0}, "The code must be exactly 4 digits."},
		{"ru", map[string]any{"code_length": 4.0, "attempts_left": -1}, "Код должен состоять ровно из 4 цифр."},
	}
	for _, tt := range tests {
		if got := Localize(tt.lang, MsgInvalidCode, tt.ctx); got != tt.want {
			t.Errorf("%s %v: %q, want %q", tt.lang, tt.ctx, got, tt.want)
		}
	}
	// In the page, from the message's context.
	s := baseStep("ru")
	s.ApplyMessage(Message{ID: MsgInvalidCode, Type: "error", Context: map[string]any{"code_length": 4.0, "attempts_left": 2.0}})
	if text := visibleText(render(t, s)); !strings.Contains(text, "Код должен состоять ровно из 4 цифр. Осталось 2 попытки.") {
		t.Errorf("page lacks the attempts left:\n%s", text)
	}
}

// 4090004 is worded by the limit hit; 4090005 does not say "sign-in" (it
// also shows at step-up, registration and settings); 4090007 at login,
// where there is no session, does not send the user to the settings.
func TestMessagesWordedForWhereTheyAppear(t *testing.T) {
	calls := map[string]string{"en": "Too many calls. You can ask for a new call in 2 min.", "ru": "Слишком много звонков. Новый звонок можно запросить через 2 мин."}
	busy := map[string]string{"en": "Phone confirmation is unavailable for now. Try again in 2 min.", "ru": "Подтверждение по телефону пока недоступно. Повторите попытку через 2 мин."}
	tests := []struct {
		id   int
		ctx  map[string]any
		want map[string]string
	}{
		{MsgRateLimited, map[string]any{"limit": "number", "retry_after": 120}, calls},
		{MsgRateLimited, map[string]any{"limit": "identity", "retry_after": 120}, calls},
		{MsgRateLimited, map[string]any{"limit": "ip", "retry_after": 120}, calls},
		{MsgRateLimited, map[string]any{"limit": "global", "retry_after": 120}, busy},
		{MsgRateLimited, map[string]any{"limit": "phone_check_budget", "retry_after": 120}, busy},
		{MsgRateLimited, map[string]any{"limit": "later_kind", "retry_after": 120},
			map[string]string{"en": "Too many attempts. Try again in 2 min.", "ru": "Слишком много попыток. Повторите через 2 мин."}},
		{MsgBlocked, map[string]any{"retry_after": 900},
			map[string]string{"en": "Phone confirmation is temporarily blocked after several wrong codes. Try again in 15 min.",
				"ru": "Подтверждение по телефону временно заблокировано после нескольких неверных кодов. Повторите через 15 мин."}},
		{MsgNoPhone, map[string]any{"flow": "login"},
			map[string]string{"en": "Signing in needs a phone number, and your account has none. Please contact support.",
				"ru": "Для входа нужен номер телефона, а в учётной записи его нет. Обратитесь в поддержку."}},
		{MsgNoPhone, map[string]any{"flow": "settings"},
			map[string]string{"en": "Enter a phone number in the form and save.",
				"ru": "Укажите номер телефона в форме и сохраните."}},
		{MsgNoPhone, map[string]any{"flow": "stepup"},
			map[string]string{"en": "Confirming by phone needs a phone number on your account. Add one in your account settings or contact support.",
				"ru": "Для подтверждения звонком нужен номер телефона в учётной записи. Добавьте его в настройках или обратитесь в поддержку."}},
		{MsgNoPhone, nil,
			map[string]string{"en": "There is no phone number on your account. Add one in your account settings.",
				"ru": "В вашей учётной записи нет номера телефона. Добавьте его в настройках."}},
		{MsgNotAllowed, map[string]any{"flow": "registration"},
			map[string]string{"en": "Calls to this number are not possible. Use another number or contact support.",
				"ru": "На этот номер позвонить нельзя. Укажите другой номер или обратитесь в поддержку."}},
		{MsgCooldown, map[string]any{"limit": "resends", "retry_after": 240},
			map[string]string{"en": "No more repeat calls for this code. You can ask for a new call in 4 min; the code from the last call works until then.",
				"ru": "Повторных звонков для этого кода больше не будет. Новый звонок можно запросить через 4 мин, а пока действует код из последнего звонка."}},
		{MsgInvalidPhone, nil,
			map[string]string{"en": "Only Russian numbers starting with +7 are accepted. Check the number, e.g. +7 900 123-45-67.",
				"ru": "Принимаются только российские номера, начинающиеся с +7. Проверьте номер, например +7 900 123-45-67."}},
	}
	for _, tt := range tests {
		for _, lang := range Languages() {
			if got := Localize(lang, tt.id, tt.ctx); got != tt.want[lang] {
				t.Errorf("%d %v/%s: %q, want %q", tt.id, tt.ctx, lang, got, tt.want[lang])
			}
		}
	}
	// The code step passes its flow to the message.
	s := baseStep("ru")
	s.Flow = "login"
	s.ApplyMessage(Message{ID: MsgNoPhone, Type: "error"})
	if text := visibleText(render(t, s)); !strings.Contains(text, "Для входа нужен номер телефона") {
		t.Errorf("login no_phone wording missing:\n%s", text)
	}
	// The counting-down template is the same variant.
	s = baseStep("en")
	s.ApplyMessage(Message{ID: MsgRateLimited, Type: "error", Context: map[string]any{"limit": "global", "retry_after": 120.0, "retry_at": "2026-01-02T10:02:00Z"}})
	if l := attr(t, render(t, s), `<div id="cp-msg"[^>]*>`, "data-label"); l != "Phone confirmation is unavailable for now. Try again in {t}." {
		t.Errorf("countdown template %q", l)
	}
}

// An invalid number: no call, no code, no resend; the way on is to fix it.
func TestInvalidPhoneStep(t *testing.T) {
	if MsgInvalidPhone != 4090013 || !IsCallPassMessage(MsgInvalidPhone) || StateForMessage(MsgInvalidPhone) != StateInvalidPhone {
		t.Fatalf("MsgInvalidPhone %d, state %q", MsgInvalidPhone, StateForMessage(MsgInvalidPhone))
	}
	seen := map[int]bool{}
	for _, id := range MessageIDs() {
		if seen[id] {
			t.Errorf("id %d listed twice", id)
		}
		seen[id] = true
	}
	if !seen[MsgInvalidPhone] {
		t.Errorf("MessageIDs lacks %d", MsgInvalidPhone)
	}
	for _, lang := range Languages() {
		s := baseStep(lang)
		s.Flow, s.StartOverURL, s.ChangeNumberURL = "registration", "", "/registration?flow=f1&callpass=change"
		s.ApplyMessage(Message{ID: MsgInvalidPhone, Type: "error"})
		html := render(t, s)
		if strings.Contains(html, `id="cp-code"`) || strings.Contains(html, "data-cp-resend") {
			t.Errorf("%s: code field or resend shown for an invalid number:\n%s", lang, html)
		}
		if !strings.Contains(html, `href="/registration?flow=f1&amp;callpass=change"`) || !strings.Contains(visibleText(html), Text(lang, "code.change_number")) {
			t.Errorf("%s: no change-number link:\n%s", lang, html)
		}
	}
}

// Registration and settings confirm a phone number, and can go back to fix it.
func TestCodeStepTitleAndChangeNumberByFlow(t *testing.T) {
	tests := []struct {
		flow   string
		title  map[string]string
		change bool
	}{
		{"", map[string]string{"en": "Confirm it's you", "ru": "Подтвердите, что это вы"}, false},
		{"login", map[string]string{"en": "Confirm it's you", "ru": "Подтвердите, что это вы"}, false},
		{"stepup", map[string]string{"en": "Confirm it's you", "ru": "Подтвердите, что это вы"}, false},
		{"registration", map[string]string{"en": "Confirm your phone number", "ru": "Подтвердите номер телефона"}, true},
		{"settings", map[string]string{"en": "Confirm your phone number", "ru": "Подтвердите номер телефона"}, true},
	}
	for _, tt := range tests {
		for _, lang := range Languages() {
			if got := CodeStepTitle(lang, tt.flow); got != tt.title[lang] {
				t.Errorf("CodeStepTitle(%s, %q) = %q", lang, tt.flow, got)
			}
			s := baseStep(lang)
			s.Flow = tt.flow
			if tt.change {
				s.ChangeNumberURL = "/" + tt.flow + "?flow=f1&callpass=change"
			}
			html := render(t, s)
			if !strings.Contains(html, `<h1 id="cp-title" class="cp-title">`+stdEscape(tt.title[lang])+`</h1>`) {
				t.Errorf("%q/%s: title %q missing", tt.flow, lang, tt.title[lang])
			}
			want := map[string]string{"en": ">Change number</a>", "ru": ">Изменить номер</a>"}[lang]
			if got := strings.Contains(html, want); got != tt.change {
				t.Errorf("%q/%s: change-number link = %v, want %v", tt.flow, lang, got, tt.change)
			}
		}
	}
}

func stdEscape(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }

// A wait longer than the page can keep its state (UsableUntil) gets no
// countdown button that would end in "took too long": the wait is said and
// the way to start over is offered.
func TestWaitLongerThanThePageOffersStartOver(t *testing.T) {
	tests := []struct {
		name    string
		msg     Message
		usable  time.Duration // from now; 0: not set
		button  bool
		restart bool
	}{
		{"ban outlasts", Message{ID: MsgBlocked, Type: "error", Context: map[string]any{"retry_after": 900.0}}, 10 * time.Minute, false, true},
		{"limit outlasts", Message{ID: MsgRateLimited, Type: "error", Context: map[string]any{"limit": "number", "retry_after": 3600.0}}, 10 * time.Minute, false, true},
		{"short limit", Message{ID: MsgRateLimited, Type: "error", Context: map[string]any{"limit": "ip", "retry_after": 60.0}}, 10 * time.Minute, true, false},
		{"cooldown", Message{ID: MsgCooldown, Type: "error", Context: map[string]any{"retry_after": 30.0}}, 10 * time.Minute, true, false},
		{"no bound", Message{ID: MsgBlocked, Type: "error", Context: map[string]any{"retry_after": 900.0}}, 0, true, false},
	}
	for _, tt := range tests {
		for _, lang := range Languages() {
			s := baseStep(lang)
			s.ExpiresAt = time.Time{}
			s.RestartURL = "/login/browser"
			if tt.usable > 0 {
				s.UsableUntil = now.Add(tt.usable)
			}
			s.ApplyMessage(tt.msg)
			html := render(t, s)
			name := tt.name + "/" + lang
			if got := strings.Contains(html, "data-cp-resend"); got != tt.button {
				t.Errorf("%s: resend button = %v, want %v", name, got, tt.button)
			}
			gotRestart := strings.Contains(html, `<a href="/login/browser">`+Text(lang, "code.restart")+`</a>`) &&
				strings.Contains(html, Text(lang, "code.restart_note"))
			if gotRestart != tt.restart {
				t.Errorf("%s: start-over link and note = %v, want %v:\n%s", name, gotRestart, tt.restart, html)
			}
			if tt.restart && !strings.Contains(visibleText(html), Localize(lang, tt.msg.ID, map[string]any{"limit": tt.msg.Context["limit"], "retry_after": tt.msg.Context["retry_after"]})) {
				t.Errorf("%s: the wait is not said:\n%s", name, html)
			}
		}
	}
}

// Focus lands on something usable and tells why: never a disabled control;
// a focused control is described by the message when there is one.
func TestCodeStepFocusAndDescription(t *testing.T) {
	wait := map[string]any{"retry_after": 120.0, "limit": "number"}
	msgs := []Message{
		{ID: MsgCalling, Type: "info"},
		{ID: MsgWrongCode, Type: "error", Context: map[string]any{"attempts_left": 2.0}},
		{ID: MsgExpired, Type: "error"}, {ID: MsgLocked, Type: "error"}, {ID: MsgNotDelivered, Type: "error"},
		{ID: MsgRateLimited, Type: "error", Context: wait}, {ID: MsgBlocked, Type: "error", Context: wait},
		{ID: MsgCooldown, Type: "error", Context: map[string]any{"retry_after": 30.0}},
		{ID: MsgNoPhone, Type: "error"}, {ID: MsgProviderUnavailable, Type: "error"}, {ID: MsgUnavailable, Type: "error"},
		{ID: MsgInvalidCode, Type: "error"}, {ID: MsgNotAllowed, Type: "error"}, {ID: MsgInvalidPhone, Type: "error"},
		{ID: MsgInvalidField, Type: "error", Context: map[string]any{"reason": "code_not_a_string"}},
	}
	focusRE := regexp.MustCompile(`<[a-z0-9]+\s[^>]*\bautofocus\b[^>]*>`)
	for _, m := range msgs {
		for _, live := range []bool{true, false} {
			s := baseStep("en")
			if !live {
				s.ExpiresAt = time.Time{}
			}
			s.ApplyMessage(m)
			html := render(t, s)
			name := strconv.Itoa(m.ID) + "/live=" + strconv.FormatBool(live)
			tags := focusRE.FindAllString(html, -1)
			if len(tags) != 1 {
				t.Errorf("%s: %d autofocused elements: %v", name, len(tags), tags)
				continue
			}
			tag := tags[0]
			if regexp.MustCompile(`\sdisabled\b`).MatchString(tag) {
				t.Errorf("%s: focus on a disabled control: %s", name, tag)
			}
			if strings.HasPrefix(tag, "<input") || strings.HasPrefix(tag, "<button") {
				if !strings.Contains(tag, "tabindex") && m.ID != MsgCalling {
					d := attr(t, tag, `^<[^>]*>`, "aria-describedby")
					if !strings.HasPrefix(d, "cp-msg") {
						t.Errorf("%s: focused control not described by the message first: %s", name, tag)
					}
				}
			} else if !strings.Contains(tag, `tabindex="-1"`) {
				t.Errorf("%s: focused non-control is not focusable: %s", name, tag)
			}
		}
	}
}

// The masked number stays on one line and is read as "number ending in 67".
func TestMaskedNumberKeptWholeAndReadable(t *testing.T) {
	want := map[string]string{"en": "the number ending in 67", "ru": "номер, оканчивающийся на 67"}
	for _, lang := range Languages() {
		html := render(t, baseStep(lang))
		lead := regexp.MustCompile(`<p id="cp-lead"[^>]*>.*?</p>`).FindString(html)
		span := `<span class="cp-phone"><span aria-hidden="true">&#43;7 900 ***-**-67</span><span class="cp-sr">` + want[lang] + `</span></span>`
		if !strings.Contains(strings.ReplaceAll(lead, "+", "&#43;"), span) {
			t.Errorf("%s: lead %s lacks %s", lang, lead, span)
		}
	}
	for in, want := range map[string]string{"+7 900 ***-**-67": "67", "***4": "4", "+7 ***": "", "": ""} {
		if got := lastDigits(in, 2); got != want {
			t.Errorf("lastDigits(%q) = %q, want %q", in, got, want)
		}
	}
}

// Borders that identify a field need 3:1 against white (WCAG 1.4.11).
func TestFieldBorderContrast(t *testing.T) {
	b, err := os.ReadFile("assets/ui.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(b)
	for _, sel := range []string{".cp-code", ".cp-input"} {
		rule := regexp.MustCompile(`(?s)\n` + regexp.QuoteMeta(sel) + ` \{(.*?)\}`).FindStringSubmatch(css)
		if rule == nil {
			t.Fatalf("no %s rule", sel)
		}
		m := regexp.MustCompile(`border: [0-9.]+px solid (?:var\((--[a-z-]+)\)|(#[0-9a-f]{6}))`).FindStringSubmatch(rule[1])
		if m == nil {
			t.Fatalf("%s: no border colour in %s", sel, rule[1])
		}
		colour := m[2]
		if m[1] != "" {
			v := regexp.MustCompile(regexp.QuoteMeta(m[1]) + `: (#[0-9a-f]{6})`).FindStringSubmatch(css)
			if v == nil {
				t.Fatalf("%s: %s undefined", sel, m[1])
			}
			colour = v[1]
		}
		if r := contrastOnWhite(colour); r < 3 {
			t.Errorf("%s border %s: %.2f:1 on white, want >= 3:1", sel, colour, r)
		}
	}
}

func contrastOnWhite(hex string) float64 {
	lum := 0.0
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		n, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(n) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		lum += w * c
	}
	return 1.05 / (lum + 0.05)
}

// TestFormatDurationRoundsLongWaits: waits up to five minutes keep their
// seconds; longer ones are whole minutes, rounded up (never too early).
func TestFormatDurationRoundsLongWaits(t *testing.T) {
	tests := []struct {
		d      time.Duration
		en, ru string
	}{
		{0, "1 s", "1 с"},
		{25 * time.Second, "25 s", "25 с"},
		{125 * time.Second, "2 min 5 s", "2 мин 5 с"},
		{5 * time.Minute, "5 min", "5 мин"},
		{5*time.Minute + time.Second, "6 min", "6 мин"},
		{14*time.Minute + 57*time.Second, "15 min", "15 мин"},
		{59*time.Minute + 57*time.Second, "1 h", "1 ч"},
		{61*time.Minute + 10*time.Second, "1 h 2 min", "1 ч 2 мин"},
	}
	for _, tt := range tests {
		if got := FormatDuration("en", tt.d); got != tt.en {
			t.Errorf("en %s: %q, want %q", tt.d, got, tt.en)
		}
		if got := FormatDuration("ru", tt.d); got != tt.ru {
			t.Errorf("ru %s: %q, want %q", tt.d, got, tt.ru)
		}
	}
}

// TestRefusedCallUnderLiveCode: with the earlier call's code still usable,
// the lead says so (also when the code's repeat calls are used up), and the
// button under the field is "Call me again", never "Try again" (which
// reads as "check my code again").
func TestRefusedCallUnderLiveCode(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"rate limited", Message{ID: MsgRateLimited, Type: "error", Context: map[string]any{"limit": "number", "retry_after": 120.0}}},
		{"provider unavailable", Message{ID: MsgProviderUnavailable, Type: "error"}},
		{"resends used up", Message{ID: MsgCooldown, Type: "error", Context: map[string]any{"limit": "resends", "retry_after": 120.0}}},
	}
	for _, tt := range tests {
		s := baseStep("en")
		s.ApplyMessage(tt.msg)
		html := render(t, s)
		text := visibleText(html)
		if !strings.Contains(html, `id="cp-code"`) {
			t.Fatalf("%s: no code field:\n%s", tt.name, text)
		}
		if !strings.Contains(text, "The code from the last call to") || strings.Contains(text, "We are calling") {
			t.Errorf("%s: lead does not say the last call's code still works:\n%s", tt.name, text)
		}
		if strings.Contains(text, "Try again") {
			t.Errorf("%s: \"Try again\" under a live code field:\n%s", tt.name, text)
		}
	}
}

// TestCountdownRoundsLikeTheServer: the script's countdown words a wait
// past five minutes in whole minutes rounded up, as FormatDuration does, so
// its first tick does not turn "7 min" into "6 min 40 s".
func TestCountdownRoundsLikeTheServer(t *testing.T) {
	ctx := startBrowser(t)
	srv, _ := stepSite{step: func() CodeStep {
		s := CodeStep{Lang: "en", CodeLength: 4, FormAction: "/submit", Now: time.Now()}
		s.ApplyMessage(Message{ID: MsgRateLimited, Type: "error", Context: map[string]any{"limit": "number", "retry_after": 400.0}})
		return s
	}}.start(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-msg"))); err != nil {
		t.Fatal(err)
	}
	// A tick has come: the page's first is due within a second of its start.
	if err := inPage(ctx, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#cp-msg")))
	if err != nil {
		t.Fatal(err)
	}
	if text != "Too many calls. You can ask for a new call in 7 min." {
		t.Errorf("message after a tick: %q, want the wait in whole minutes (7 min)", text)
	}
}
