package ui

import (
	"bytes"
	stdhtml "html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

func TestCatalogueLanguagesHaveSameKeys(t *testing.T) {
	keys := func(l string) []string {
		var out []string
		for k := range catalogue[l] {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	en, ru := keys(LangEN), keys(LangRU)
	inEN := map[string]bool{}
	for _, k := range en {
		inEN[k] = true
	}
	inRU := map[string]bool{}
	for _, k := range ru {
		inRU[k] = true
		if !inEN[k] {
			t.Errorf("key %q only in ru", k)
		}
	}
	for _, k := range en {
		if !inRU[k] {
			t.Errorf("key %q only in en", k)
		}
	}
}

// documentedIDs reads the table in docs/architecture.md "Message ids", so a
// new id in the docs fails this test until it has texts.
func documentedIDs(t *testing.T) []int {
	b, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, m := range regexp.MustCompile(`(?m)^\| ([0-9]{7}) \|`).FindAllStringSubmatch(string(b), -1) {
		id, _ := strconv.Atoi(m[1])
		ids = append(ids, id)
	}
	if len(ids) < 13 {
		t.Fatalf("found only %d message ids in docs/architecture.md", len(ids))
	}
	return ids
}

func TestEveryMessageIDHasTextInBothLanguages(t *testing.T) {
	docIDs := documentedIDs(t)
	if got := MessageIDs(); !slices.Equal(got, docIDs) {
		t.Errorf("MessageIDs() = %v, docs list %v", got, docIDs)
	}
	ctx := map[string]any{"phone_masked": "+7 900 ***-**-67", "code_length": 4.0, "attempts_left": 2.0,
		"retry_after": 90.0, "retry_at": "2026-01-02T10:01:30Z", "resend_after": "2026-01-02T10:00:30Z"}
	for _, id := range docIDs {
		if StateForMessage(id) == "" {
			t.Errorf("id %d has no state", id)
		}
		if !IsCallPassMessage(id) {
			t.Errorf("IsCallPassMessage(%d) = false", id)
		}
		for _, l := range Languages() {
			if !HasMessage(l, id) {
				t.Errorf("id %d has no %s text", id, l)
				continue
			}
			s := Localize(l, id, ctx)
			if s == "" || strings.ContainsAny(s, "{}#") {
				t.Errorf("Localize(%s, %d) = %q: empty or unexpanded", l, id, s)
			}
		}
	}
}

func TestLocalize(t *testing.T) {
	tests := []struct {
		lang string
		id   int
		ctx  map[string]any
		want string
	}{
		{"ru", 1090001, map[string]any{"phone_masked": "+7 900 ***-**-67", "code_length": 4.0},
			"Мы звоним на +7 900 ***-**-67. Введите последние 4 цифры входящего номера."},
		{"en", 1090001, map[string]any{"phone_masked": "+7 900 ***-**-67", "code_length": 4.0},
			"We are calling +7 900 ***-**-67. Enter the last 4 digits of the incoming number."},
		{"ru", 1090001, map[string]any{"phone_masked": "+7 900 ***-**-67", "code_length": 5},
			"Мы звоним на +7 900 ***-**-67. Введите последние 5 цифр входящего номера."},
		{"en", 1090001, nil, "We are calling your phone. Enter the last 4 digits of the incoming number."},
		{"ru", 1090001, map[string]any{"phone_masked": "+7 900 ***-**-67", "code_length": 4.0, "reason": "current_number"},
			"Чтобы сменить номер, сначала введите код из звонка на ваш текущий номер +7 900 ***-**-67: последние 4 цифры входящего номера. Затем мы позвоним на новый номер."},
		{"en", 1090001, map[string]any{"phone_masked": "+7 900 ***-**-67", "code_length": 1, "reason": "current_number"},
			"To change your number, first type the code of the call to your current number +7 900 ***-**-67: the last 1 digit of the incoming number. Then we will call the new number."},
		// The current number cannot be called: not the settings flow's
		// "use another number", which the page's flow would pick.
		{"en", 4090012, map[string]any{"flow": "settings", "reason": "current_number"},
			"Calls to your current phone number are not possible, so it cannot be changed here. Please contact support."},
		{"ru", 4090012, map[string]any{"flow": "settings", "reason": "current_number"},
			"На ваш текущий номер позвонить нельзя, поэтому сменить его здесь не получится. Обратитесь в поддержку."},
		{"en", 4090012, map[string]any{"flow": "settings"}, "Calls to this number are not possible. Use another number or contact support."},
		{"ru", 4090001, map[string]any{"attempts_left": 1.0}, "Неверный код. Осталась 1 попытка."},
		{"ru", 4090001, map[string]any{"attempts_left": 3.0}, "Неверный код. Осталось 3 попытки."},
		{"ru", 4090001, map[string]any{"attempts_left": 5.0}, "Неверный код. Осталось 5 попыток."},
		{"en", 4090001, map[string]any{"attempts_left": 1.0}, "Wrong code. 1 attempt left."},
		{"en", 4090004, map[string]any{"retry_after": 125.0}, "Too many attempts. Try again in 2 min 5 s."},
		{"ru", 4090005, map[string]any{"retry_after": 3600.0}, "Подтверждение по телефону временно заблокировано после нескольких неверных кодов. Повторите через 1 ч."},
		{"ru", 4090011, map[string]any{"code_length": 4.0}, "Код должен состоять ровно из 4 цифр."},
		{"xx", 4090002, nil, "The code has expired. Ask for a new call."},
		{"en", 1234567, nil, ""},
		{"ru", 1070001, nil, "Пароль"},
	}
	for _, tt := range tests {
		if got := Localize(tt.lang, tt.id, tt.ctx); got != tt.want {
			t.Errorf("Localize(%s, %d) = %q, want %q", tt.lang, tt.id, got, tt.want)
		}
	}
}

func TestParseAcceptLanguage(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"", "", false},
		{"ru", "ru", true},
		{"ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru", true},
		{"en-US,en;q=0.9,ru;q=0.8", "en", true},
		{"de-DE,de;q=0.9,ru;q=0.5,en;q=0.4", "ru", true},
		{"en;q=0.3, ru;q=0.8", "ru", true},
		{"ru;q=0, en;q=0.1", "en", true},
		{"de, fr", "", false},
		{"*", "en", true},
		{"fr, *;q=0.1", "en", true},
		{"RU-ru", "ru", true},
		{"ru;q=abc, en;q=0.2", "en", true},
		{"en;q=1.5, ru;q=0.5", "ru", true},
		{"ru; q=0.5, en ; q=0.5", "ru", true},
		{"uk, ru-UA;q=0.7", "ru", true},
	}
	for _, tt := range tests {
		got, ok := ParseAcceptLanguage(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseAcceptLanguage(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPickLang(t *testing.T) {
	tests := []struct {
		name, url, cookie, accept, want string
	}{
		{"default", "/", "", "", "en"},
		{"accept", "/", "", "ru-RU,ru;q=0.9", "ru"},
		{"cookie beats accept", "/", "en", "ru", "en"},
		{"query beats cookie", "/?lang=ru", "en", "en", "ru"},
		{"bad query ignored", "/?lang=zz", "ru", "en", "ru"},
		{"bad cookie ignored", "/", "zz", "ru", "ru"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, tt.url, nil)
		if tt.cookie != "" {
			r.AddCookie(&http.Cookie{Name: LangCookie, Value: tt.cookie})
		}
		if tt.accept != "" {
			r.Header.Set("Accept-Language", tt.accept)
		}
		if got := PickLang(r); got != tt.want {
			t.Errorf("%s: PickLang = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLangLinksKeepQuery(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/login?flow=abc&lang=en", nil)
	links := LangLinks(r, "en")
	if len(links) != 2 {
		t.Fatalf("got %d links", len(links))
	}
	if links[1].Lang != "ru" || !strings.Contains(links[1].URL, "flow=abc") || !strings.Contains(links[1].URL, "lang=ru") || links[1].Current {
		t.Errorf("ru link = %+v", links[1])
	}
	if !links[0].Current {
		t.Errorf("en link not current")
	}
}

func baseStep(lang string) CodeStep {
	return CodeStep{
		Lang: lang, PhoneMasked: "+7 900 ***-**-67", CodeLength: 4, ChallengeID: "ch_1",
		ExpiresAt: now.Add(5 * time.Minute), ResendAfter: now.Add(42 * time.Second),
		AttemptsLeft: 3, FormAction: "/login/submit?flow=f1",
		HiddenFields:  map[string]string{"csrf_token": "tok<&>", "flow": "f1"},
		CodeFieldName: "callpass_code", ResendFieldName: "callpass_resend",
		StartOverURL: "/login?new=1", Now: now,
	}
}

func render(t *testing.T, s CodeStep) string {
	t.Helper()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.CodeStep(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCodeStepStates(t *testing.T) {
	type want struct {
		code        bool   // code input present
		resend      bool   // resend/retry button present
		disabled    bool   // button disabled (waiting)
		resendIn    string // data-resend-in value
		text        map[string]string
		invalid     bool
		errorStyled bool
	}
	tests := []struct {
		name string
		msg  Message
		want want
	}{
		{"calling", Message{ID: 1090001, Type: "info", Context: map[string]any{"code_length": 4.0, "phone_masked": "+7 900 ***-**-67", "resend_after": "2026-01-02T10:00:42Z", "placed": true}},
			want{code: true, resend: true, disabled: true, resendIn: "42", text: map[string]string{
				"en": "Call me again in 0:42", "ru": "Позвонить ещё раз через 0:42"}}},
		// A settings flow changing the number: the page says whose number
		// is called (the plain calling text is the lead's, not repeated).
		{"calling the current number", Message{ID: 1090001, Type: "info", Context: map[string]any{"code_length": 4.0, "phone_masked": "+7 900 ***-**-67", "resend_after": "2026-01-02T10:00:42Z", "placed": true, "reason": "current_number"}},
			want{code: true, resend: true, disabled: true, resendIn: "42", text: map[string]string{
				"en": "To change your number, first type the code of the call to your current number +7 900 ***-**-67",
				"ru": "Чтобы сменить номер, сначала введите код из звонка на ваш текущий номер +7 900 ***-**-67"}}},
		{"wrong code", Message{ID: 4090001, Type: "error", Context: map[string]any{"attempts_left": 2.0}},
			want{code: true, resend: true, disabled: true, resendIn: "42", invalid: true, errorStyled: true, text: map[string]string{
				"en": "Wrong code. 2 attempts left.", "ru": "Неверный код. Осталось 2 попытки."}}},
		{"invalid format", Message{ID: 4090011, Type: "error", Context: map[string]any{"code_length": 4.0}},
			want{code: true, resend: true, disabled: true, resendIn: "42", invalid: true, errorStyled: true, text: map[string]string{
				"en": "exactly 4 digits", "ru": "ровно из 4 цифр"}}},
		{"expired", Message{ID: 4090002, Type: "error"},
			want{code: false, resend: true, resendIn: "0", errorStyled: true, text: map[string]string{
				"en": "The code has expired", "ru": "Срок действия кода истёк"}}},
		{"locked", Message{ID: 4090003, Type: "error"},
			want{code: false, resend: true, resendIn: "0", errorStyled: true, text: map[string]string{
				"en": "Too many wrong codes", "ru": "Слишком много неверных кодов"}}},
		// A refused new call keeps the earlier call's code (still valid here).
		{"rate limited", Message{ID: 4090004, Type: "error", Context: map[string]any{"limit": "identity", "retry_after": 120.0, "retry_at": "2026-01-02T10:02:00Z"}},
			want{code: true, resend: true, disabled: true, resendIn: "120", errorStyled: true, text: map[string]string{
				"en": "ask for a new call in 2 min", "ru": "Новый звонок можно запросить через 2 мин"}}},
		{"blocked", Message{ID: 4090005, Type: "error", Context: map[string]any{"retry_after": 900.0, "retry_at": "2026-01-02T10:15:00Z"}},
			want{code: false, resend: true, disabled: true, resendIn: "900", errorStyled: true, text: map[string]string{
				"en": "temporarily blocked", "ru": "временно заблокировано"}}},
		// A wait for the next call is no mistake: styled as information.
		{"cooldown", Message{ID: 4090006, Type: "error", Context: map[string]any{"retry_after": 30.0, "resend_after": "2026-01-02T10:00:30Z"}},
			want{code: true, resend: true, disabled: true, resendIn: "30", errorStyled: false, text: map[string]string{
				"en": "ask for a new call in 30 s", "ru": "через 30 с"}}},
		{"no phone", Message{ID: 4090007, Type: "error"},
			want{code: false, resend: false, errorStyled: true, text: map[string]string{
				"en": "no phone number", "ru": "нет номера телефона"}}},
		{"not delivered", Message{ID: 4090008, Type: "error", Context: map[string]any{"call_status": "SUBSCRIBER_ABSENT"}},
			want{code: false, resend: true, resendIn: "0", errorStyled: true, text: map[string]string{
				"en": "We could not reach your phone", "ru": "Не удалось дозвониться"}}},
		{"provider unavailable", Message{ID: 4090009, Type: "error"},
			want{code: true, resend: true, resendIn: "0", errorStyled: true, text: map[string]string{
				"en": "We could not place the call", "ru": "не получается позвонить"}}},
		{"store unavailable", Message{ID: 4090010, Type: "error"},
			want{code: true, resend: true, resendIn: "0", errorStyled: true, text: map[string]string{
				"en": "temporarily unavailable", "ru": "временно недоступно"}}},
		{"not allowed", Message{ID: 4090012, Type: "error"},
			want{code: false, resend: false, errorStyled: true, text: map[string]string{
				"en": "not allowed", "ru": "не разрешены"}}},
	}
	for _, tt := range tests {
		for _, lang := range Languages() {
			s := baseStep(lang)
			s.ApplyMessage(tt.msg)
			html := render(t, s)
			text := stdhtml.UnescapeString(html)
			name := tt.name + "/" + lang
			if !strings.Contains(html, `aria-live="polite"`) {
				t.Errorf("%s: no aria-live region", name)
			}
			// The lead ("we are calling …") only while the call's code can be typed.
			if got := strings.Contains(text, "+7 900 ***-**-67"); got != tt.want.code {
				t.Errorf("%s: masked number shown = %v, want %v", name, got, tt.want.code)
			}
			if got := strings.Contains(html, `id="cp-lead"`); got != tt.want.code {
				t.Errorf("%s: lead shown = %v, want %v", name, got, tt.want.code)
			}
			if want := tt.want.text[lang]; !strings.Contains(text, want) {
				t.Errorf("%s: text %q missing in\n%s", name, want, html)
			}
			hasCode := strings.Contains(html, `id="cp-code"`)
			if hasCode != tt.want.code {
				t.Errorf("%s: code input present = %v, want %v", name, hasCode, tt.want.code)
			}
			if hasCode {
				for _, attr := range []string{`inputmode="numeric"`, `autocomplete="one-time-code"`, `minlength="4"`,
					`maxlength="32"`, `<label class="cp-label" for="cp-code">`, `name="callpass_code"`, "autofocus",
					`aria-describedby="cp-msg cp-lead cp-example"`, `action="/login/submit?flow=f1"`,
					`name="csrf_token" value="tok&lt;&amp;&gt;"`, `data-expires-in="300"`} {
					if !strings.Contains(html, attr) {
						t.Errorf("%s: %s missing", name, attr)
					}
				}
				if got := strings.Contains(html, `aria-invalid="true"`); got != tt.want.invalid {
					t.Errorf("%s: aria-invalid = %v, want %v", name, got, tt.want.invalid)
				}
			}
			hasResend := strings.Contains(html, `name="callpass_resend" value="true"`)
			if hasResend != tt.want.resend {
				t.Errorf("%s: resend present = %v, want %v", name, hasResend, tt.want.resend)
			}
			if hasResend {
				if !strings.Contains(html, `data-resend-in="`+tt.want.resendIn+`"`) {
					t.Errorf("%s: want data-resend-in=%s in\n%s", name, tt.want.resendIn, html)
				}
				btn := regexp.MustCompile(`<button[^>]*data-cp-resend[^>]*>`).FindString(html)
				if got := strings.Contains(btn, " disabled"); got != tt.want.disabled {
					t.Errorf("%s: resend disabled = %v, want %v (%s)", name, got, tt.want.disabled, btn)
				}
			}
			if got := strings.Contains(html, "cp-msg-error"); got != tt.want.errorStyled {
				t.Errorf("%s: error styling = %v, want %v", name, got, tt.want.errorStyled)
			}
		}
	}
}

func TestCodeStepLeadBothLanguages(t *testing.T) {
	for lang, want := range map[string]string{
		"en": "We are calling +7 900 ***-**-67. Enter the last 4 digits of the incoming number.",
		"ru": "Мы звоним на +7 900 ***-**-67. Введите последние 4 цифры входящего номера.",
	} {
		html := visibleText(render(t, baseStep(lang)))
		if !strings.Contains(html, want) {
			t.Errorf("%s: lead %q missing", lang, want)
		}
	}
}

func TestCodeStepRememberedContextSurvivesPartialError(t *testing.T) {
	s := baseStep("en")
	s.PhoneMasked, s.CodeLength = "", 0
	s.ApplyMessage(Message{ID: 1090001, Type: "info", Context: map[string]any{"code_length": 6.0, "phone_masked": "+7 911 ***-**-01"}})
	s.ApplyMessage(Message{ID: 4090001, Type: "error", Context: map[string]any{"attempts_left": 1.0}})
	html := stdhtml.UnescapeString(render(t, s))
	for _, want := range []string{`minlength="6"`, "+7 911 ***-**-01", "1 attempt left"} {
		if !strings.Contains(html, want) {
			t.Errorf("%q missing", want)
		}
	}
}

func TestPage(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	body, err := r.CodeStepHTML(baseStep("ru"))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/login?flow=f1", nil)
	var b bytes.Buffer
	if err := r.Page(&b, PageData{Title: "Вход", Lang: "ru", Body: body, LangLinks: LangLinks(req, "ru")}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	html = strings.ReplaceAll(html, "&#43;", "+")
	for _, want := range []string{`<html lang="ru">`, `name="viewport"`, r.AssetURL("ui.css"), r.AssetURL("code.js"),
		"Мы звоним на", `hreflang="en"`, "flow=f1&amp;lang=en", `aria-current="true"`} {
		if !strings.Contains(html, want) {
			t.Errorf("%q missing in page", want)
		}
	}
}

func TestAssets(t *testing.T) {
	r, err := NewRenderer(WithAssetPrefix("/static"))
	if err != nil {
		t.Fatal(err)
	}
	css := r.AssetURL("ui.css")
	if !regexp.MustCompile(`^/static/ui\.[0-9a-f]{12}\.css$`).MatchString(css) {
		t.Fatalf("css url %q", css)
	}
	h := r.Assets()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, css, nil))
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "max-age=31536000") ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") || !strings.Contains(rec.Body.String(), ".cp-code") {
		t.Errorf("css: %d %v", rec.Code, rec.Header())
	}
	for _, bad := range []string{"/static/ui.css", "/static/ui.000000000000.css", "/other/" + strings.TrimPrefix(css, "/static/")} {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, bad, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", bad, rec.Code)
		}
	}
	js := r.AssetURL("code.js")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, js, nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
		t.Errorf("js: %d %v", rec.Code, rec.Header())
	}
	etag := rec.Header().Get("ETag")
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, js, nil)
	req.Header.Set("If-None-Match", etag)
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", rec.Code)
	}
}

// No asset or template may load anything from another origin.
func TestNoExternalURLs(t *testing.T) {
	ext := regexp.MustCompile(`(?i)https?://|(^|[^:/A-Za-z0-9])//[A-Za-z0-9]`)
	check := func(fsys fs.FS, root string) {
		n := 0
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			n++
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(b), "\n") {
				// JS line comments ("// …") are not URLs.
				code := line
				if strings.HasSuffix(p, ".js") {
					if j := strings.Index(code, "// "); j >= 0 {
						code = code[:j]
					}
				}
				if ext.MatchString(code) {
					t.Errorf("%s:%d: external URL: %s", p, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("no files under %s", root)
		}
	}
	check(assetFS, "assets")
	check(templateFS, "templates")
	if !ext.MatchString(`<link href="//cdn.example/x.css">`) || !ext.MatchString("url(https://x)") {
		t.Fatal("detector misses external URLs")
	}
}

func TestClock(t *testing.T) {
	for sec, want := range map[int]string{-3: "0:00", 0: "0:00", 5: "0:05", 65: "1:05", 3599: "59:59", 3600: "1:00:00", 3725: "1:02:05"} {
		if got := clock(sec); got != want {
			t.Errorf("clock(%d) = %q, want %q", sec, got, want)
		}
	}
}
