package ui

import (
	stdhtml "html"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// attr returns the (unescaped) value of attribute name on the first element
// matching the tag regexp tagRE.
func attr(t *testing.T, html, tagRE, name string) string {
	t.Helper()
	tag := regexp.MustCompile(tagRE).FindString(html)
	if tag == "" {
		t.Fatalf("no element %s in\n%s", tagRE, html)
	}
	m := regexp.MustCompile(`\s` + name + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return stdhtml.UnescapeString(m[1])
}

// The lead "We are calling …, enter the last N digits" only while a call's
// code can be typed; in the other states the page shows the state's message
// and its action, in both languages.
func TestCodeStepLeadOnlyWhileACallIsPending(t *testing.T) {
	lead := map[string]string{"en": "We are calling", "ru": "Мы звоним"}
	noCall := []struct {
		msg    Message
		text   map[string]string
		action string // a fragment of the right action's markup
	}{
		{Message{ID: MsgNoPhone, Type: "error"}, map[string]string{"en": "There is no phone number", "ru": "нет номера телефона"}, `href="/settings"`},
		{Message{ID: MsgProviderUnavailable, Type: "error"}, map[string]string{"en": "We could not place the call", "ru": "не получается позвонить"}, `name="callpass_resend"`},
		{Message{ID: MsgNotAllowed, Type: "error"}, map[string]string{"en": "not allowed", "ru": "не разрешены"}, `href="/login?new=1"`},
		{Message{ID: MsgRateLimited, Type: "error", Context: map[string]any{"retry_after": 120.0, "retry_at": "2026-01-02T10:02:00Z"}},
			map[string]string{"en": "Too many attempts. Try again in 2 min.", "ru": "Слишком много попыток. Повторите через 2 мин."}, `name="callpass_resend"`},
		{Message{ID: MsgBlocked, Type: "error", Context: map[string]any{"retry_after": 900.0, "retry_at": "2026-01-02T10:15:00Z"}},
			map[string]string{"en": "temporarily blocked", "ru": "временно заблокировано"}, `name="callpass_resend"`},
		{Message{ID: MsgExpired, Type: "error"}, map[string]string{"en": "The code has expired", "ru": "Срок действия кода истёк"}, `name="callpass_resend"`},
		{Message{ID: MsgLocked, Type: "error"}, map[string]string{"en": "Too many wrong codes", "ru": "Слишком много неверных кодов"}, `name="callpass_resend"`},
		{Message{ID: MsgNotDelivered, Type: "error"}, map[string]string{"en": "could not reach your phone", "ru": "Не удалось дозвониться"}, `name="callpass_resend"`},
		{Message{ID: MsgUnavailable, Type: "error"}, map[string]string{"en": "temporarily unavailable", "ru": "временно недоступно"}, `name="callpass_resend"`},
		{Message{ID: 4099999, Type: "error", Text: "Some later refusal."}, map[string]string{"en": "Some later refusal.", "ru": "Some later refusal."}, `name="callpass_resend"`},
	}
	for _, tt := range noCall {
		for _, lang := range Languages() {
			s := baseStep(lang)
			s.SettingsURL = "/settings"
			s.ExpiresAt = time.Time{} // no earlier call whose code still works
			s.ApplyMessage(tt.msg)
			html := render(t, s)
			text := stdhtml.UnescapeString(html)
			name := strconv.Itoa(tt.msg.ID) + "/" + lang
			if strings.Contains(text, lead[lang]) || strings.Contains(html, `id="cp-lead"`) {
				t.Errorf("%s: the calling lead is shown though no call is on its way:\n%s", name, html)
			}
			if strings.Contains(html, `id="cp-code"`) {
				t.Errorf("%s: code field shown", name)
			}
			if !strings.Contains(text, tt.text[lang]) {
				t.Errorf("%s: message %q missing:\n%s", name, tt.text[lang], html)
			}
			if !strings.Contains(html, tt.action) {
				t.Errorf("%s: action %s missing:\n%s", name, tt.action, html)
			}
		}
	}
	for _, id := range []int{MsgCalling, MsgWrongCode, MsgInvalidCode, MsgCooldown} {
		for _, lang := range Languages() {
			s := baseStep(lang)
			s.ApplyMessage(Message{ID: id, Type: "error", Context: map[string]any{"attempts_left": 2.0, "retry_after": 30.0}})
			if text := stdhtml.UnescapeString(render(t, s)); !strings.Contains(text, lead[lang]) {
				t.Errorf("%d/%s: the code can be typed but the lead is missing", id, lang)
			}
		}
	}
	// A state set without its message still says what happened.
	for _, lang := range Languages() {
		s := baseStep(lang)
		s.State = StateNoPhone
		text := stdhtml.UnescapeString(render(t, s))
		if strings.Contains(text, lead[lang]) || !strings.Contains(text, Localize(lang, MsgNoPhone, nil)) {
			t.Errorf("no_phone without a message/%s:\n%s", lang, text)
		}
	}
}

// 4090004/4090005/4090006 are worded from retry_at (resend_after for a
// cooldown) relative to the time of rendering, not from the retry_after
// seconds saved in the flow; once that time has passed they say the action
// is available now, like the enabled button.
func TestWaitMessagesCountFromRenderTime(t *testing.T) {
	refused := now // when the hook refused: retry_after 25 s
	ctxFor := func(id int) map[string]any {
		c := map[string]any{"retry_after": 25.0, "retry_at": refused.Add(25 * time.Second).Format(time.RFC3339)}
		if id == MsgCooldown {
			c["resend_after"] = refused.Add(25 * time.Second).Format(time.RFC3339)
		}
		return c
	}
	tests := []struct {
		id         int
		wait, over map[string]string
	}{
		{MsgRateLimited,
			map[string]string{"en": "Too many attempts. Try again in 15 s.", "ru": "Слишком много попыток. Повторите через 15 с."},
			map[string]string{"en": "You can try again now.", "ru": "Теперь можно повторить попытку."}},
		{MsgBlocked,
			map[string]string{"en": "Try again in 15 s.", "ru": "Повторите через 15 с."},
			map[string]string{"en": "You can try again now.", "ru": "Теперь можно повторить попытку."}},
		{MsgCooldown,
			map[string]string{"en": "You can ask for a new call in 15 s.", "ru": "Новый звонок можно запросить через 15 с."},
			map[string]string{"en": "You can ask for a new call now.", "ru": "Теперь можно запросить новый звонок."}},
	}
	for _, tt := range tests {
		for _, lang := range Languages() {
			name := strconv.Itoa(tt.id) + "/" + lang
			// Rendered 10 s after the refusal: 15 s left, counting down in code.js.
			s := baseStep(lang)
			s.Now = refused.Add(10 * time.Second)
			s.ResendAfter = time.Time{}
			s.ApplyMessage(Message{ID: tt.id, Type: "error", Context: ctxFor(tt.id)})
			html := render(t, s)
			msg := attr(t, html, `<div id="cp-msg"[^>]*>`, "data-wait-in")
			if text := stdhtml.UnescapeString(html); !strings.Contains(text, tt.wait[lang]) || strings.Contains(text, "25 s") || strings.Contains(text, "25 с") {
				t.Errorf("%s: want %q (not 25 s) in\n%s", name, tt.wait[lang], html)
			}
			if msg != "15" {
				t.Errorf("%s: data-wait-in = %q, want 15", name, msg)
			}
			if l := attr(t, html, `<div id="cp-msg"[^>]*>`, "data-label"); !strings.Contains(l, "{t}") || strings.Contains(l, "15") {
				t.Errorf("%s: countdown template %q", name, l)
			}
			if n := attr(t, html, `<div id="cp-msg"[^>]*>`, "data-now"); !strings.Contains(n, tt.over[lang]) {
				t.Errorf("%s: data-now %q, want %q", name, n, tt.over[lang])
			}
			if in := attr(t, html, `<button[^>]*data-cp-resend[^>]*>`, "data-resend-in"); in != "15" {
				t.Errorf("%s: button waits %s s, want 15", name, in)
			}

			// Reloaded five minutes later: the wait is over, text and button agree.
			s = baseStep(lang)
			s.Now = refused.Add(5 * time.Minute)
			s.ResendAfter = time.Time{}
			s.ApplyMessage(Message{ID: tt.id, Type: "error", Context: ctxFor(tt.id)})
			html = render(t, s)
			text := stdhtml.UnescapeString(html)
			if !strings.Contains(text, tt.over[lang]) || strings.Contains(text, "25 s") || strings.Contains(text, "25 с") {
				t.Errorf("%s later: want %q in\n%s", name, tt.over[lang], html)
			}
			btn := regexp.MustCompile(`<button[^>]*data-cp-resend[^>]*>`).FindString(html)
			if strings.Contains(btn, " disabled") || !strings.Contains(btn, `data-resend-in="0"`) {
				t.Errorf("%s later: button still waiting: %s", name, btn)
			}
			if strings.Contains(html, "data-wait-in") || !strings.Contains(html, "cp-msg-info") {
				t.Errorf("%s later: message still counting down or error-styled:\n%s", name, html)
			}
		}
	}
}

// Without JavaScript the wait is said relative to now, never as a clock
// time (the server does not know the user's zone; UTC only puzzles).
func TestNoJSWaitNote(t *testing.T) {
	want := map[string]string{
		"en": "The button will work in 2 min 5 s: reload the page then.",
		"ru": "Кнопка заработает через 2 мин 5 с: тогда обновите страницу.",
	}
	for _, lang := range Languages() {
		s := baseStep(lang)
		s.ApplyMessage(Message{ID: MsgRateLimited, Type: "error", Context: map[string]any{"retry_after": 125.0, "retry_at": "2026-01-02T10:02:05Z"}})
		html := stdhtml.UnescapeString(render(t, s))
		if !strings.Contains(html, "<noscript><p class=\"cp-help\">"+want[lang]+"</p></noscript>") {
			t.Errorf("%s: no-JS note %q missing in\n%s", lang, want[lang], html)
		}
	}
}

// Without JavaScript nothing strips a pasted caller number, so the field
// must take it whole (the server keeps the last N digits): maxlength fits a
// formatted number and pattern allows its separators, still requiring at
// least N digits.
func TestCodeFieldTakesAPastedNumberWithoutJS(t *testing.T) {
	for _, n := range []int{4, 6} {
		s := baseStep("en")
		s.CodeLength = n
		html := render(t, s)
		input := `<input class="cp-code"[^>]*>`
		for name, want := range map[string]string{"inputmode": "numeric", "autocomplete": "one-time-code", "minlength": strconv.Itoa(n)} {
			if got := attr(t, html, input, name); got != want {
				t.Errorf("n=%d: %s=%q, want %q", n, name, got, want)
			}
		}
		maxlen, err := strconv.Atoi(attr(t, html, input, "maxlength"))
		if err != nil {
			t.Fatal(err)
		}
		pattern := attr(t, html, input, "pattern")
		// Browsers anchor pattern and compile it with the v flag; Go's syntax
		// agrees on everything this pattern uses.
		re := regexp.MustCompile(`^(?:` + pattern + `)$`)
		ok := []string{"+7 495 123-46-10", "+7 (495) 123-46-10", "8 (495) 123 46 10", "+7.495.123.46.10",
			"89001234610", "+7\u00a0495\u00a0123-46-10", "123461"[6-n:], " 234610 "}
		for _, v := range ok {
			if !re.MatchString(v) {
				t.Errorf("n=%d: pattern %q refuses %q", n, pattern, v)
			}
			if len([]rune(v)) > maxlen {
				t.Errorf("n=%d: maxlength %d cuts %q", n, maxlen, v)
			}
		}
		bad := []string{"", "12", strings.Repeat("1", n-1), "46a0" + strings.Repeat("1", n), "abcd", "+7 495 123-46-10 ext"}
		for _, v := range bad {
			if re.MatchString(v) {
				t.Errorf("n=%d: pattern %q accepts %q", n, pattern, v)
			}
		}
	}
}

// visibleText is what a sighted reader sees: tags and screen-reader-only
// text removed, entities decoded.
func visibleText(html string) string {
	html = regexp.MustCompile(`<span class="cp-sr">[^<]*</span>`).ReplaceAllString(html, "")
	return stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(html, ""))
}
