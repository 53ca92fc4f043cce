package webhook_test

import (
	"context"
	stdhtml "html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// codeFactor is pageFactor that keeps the code each verify was given.
type codeFactor struct {
	pageFactor
	codeLength int
	codes      []string
}

func (f *codeFactor) StepUpGet(context.Context, factor.Creds, string) (factor.ChallengeView, error) {
	v := f.view()
	v.CodeLength = f.codeLength
	return v, nil
}

// StepUpFollow: the page reads its challenge through it.
func (f *codeFactor) StepUpFollow(ctx context.Context, c factor.Creds, id string) (factor.ChallengeView, error) {
	return f.StepUpGet(ctx, c, id)
}

func (f *codeFactor) StepUpVerify(ctx context.Context, c factor.Creds, id, code string, o factor.TokenOptions) (factor.VerifyOutput, error) {
	f.codes = append(f.codes, code)
	return f.pageFactor.StepUpVerify(ctx, c, id, code, o)
}

// TestStepUpPageCodeAsTyped: without JavaScript the /2fa code field takes
// what its pattern allows (the hint shows a whole caller number): digits
// with spaces, or the number itself. The page passes the field on as typed,
// with no read of its own (it looked the challenge up for a number, a
// second whoami): the check reads "46 10" or "+7 (495) 123-46-10" as the
// code (plugin/challenge's TestVerifyCodeWrittenAsANumber, e2e
// TestStepUpPageWithoutJavaScript).
func TestStepUpPageCodeAsTyped(t *testing.T) {
	for _, typed := range []string{"4610", "46 10", "+7 (495) 123-46-10", "74951234610", "46l0", ""} {
		f := &codeFactor{pageFactor: pageFactor{recorder: &recorder{}}, codeLength: 4}
		rec := pageDo(newPageServer(t, f), http.MethodPost, "/2fa/verify?lang=en",
			url.Values{"challenge_id": {"c1"}, "code": {typed}}, "https://app.example")
		if len(f.codes) != 1 || f.codes[0] != typed {
			t.Errorf("typed %q: verified %q, want it as typed (answer %d)", typed, f.codes, rec.Code)
		}
	}
}

// verifiedFactor is pageFactor whose challenge is verified by a check.
type verifiedFactor struct {
	pageFactor
	verified bool
}

func (f *verifiedFactor) StepUpVerify(ctx context.Context, c factor.Creds, id, code string, o factor.TokenOptions) (factor.VerifyOutput, error) {
	out, err := f.pageFactor.StepUpVerify(ctx, c, id, code, o)
	f.verified = err == nil
	return out, err
}

func (f *verifiedFactor) StepUpGet(context.Context, factor.Creds, string) (factor.ChallengeView, error) {
	v := f.view()
	if f.verified {
		v.State = "verified"
	}
	return v, nil
}

// StepUpFollow: the page reads its challenge through it.
func (f *verifiedFactor) StepUpFollow(ctx context.Context, c factor.Creds, id string) (factor.ChallengeView, error) {
	return f.StepUpGet(ctx, c, id)
}

// TestStepUpPageConfirmedRedirectsToGet: a right code without a return_to
// answers 303 to the challenge's GET page, which says it is confirmed, in
// either language: reloading it checks no code again (the used code's
// second check said "the code has expired"), and the language switch
// does not turn it into "expired" either. With a return_to the answer
// is still the redirect there.
func TestStepUpPageConfirmedRedirectsToGet(t *testing.T) {
	tests := []struct {
		query, wantLoc, want string
	}{
		{"?lang=en", "/2fa?challenge=c1&lang=en", "Confirmed. You can return to the application."},
		{"?lang=ru", "/2fa?challenge=c1&lang=ru", "Готово. Можно вернуться в приложение."},
		{"?return_to=" + url.QueryEscape("https://app.example/after"), "https://app.example/after", ""},
	}
	for _, tt := range tests {
		f := &verifiedFactor{pageFactor: pageFactor{recorder: &recorder{}}}
		h := newPageServer(t, f)
		rec := pageDo(h, http.MethodPost, "/2fa/verify"+tt.query, url.Values{"challenge_id": {"c1"}, "code": {"4610"}}, "https://app.example")
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != tt.wantLoc {
			t.Errorf("%s: POST answered %d Location %q, want 303 to %q:\n%s", tt.query, rec.Code, rec.Header().Get("Location"), tt.wantLoc, rec.Body.String())
			continue
		}
		if tt.want == "" {
			continue
		}
		loc := tt.wantLoc
		for i := range 3 { // the page, a reload, the other language
			rec = pageDo(h, http.MethodGet, loc, nil, "")
			body := rec.Body.String()
			text := stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
			want := tt.want
			if i == 2 {
				want = map[bool]string{true: "Готово.", false: "Confirmed."}[strings.Contains(loc, "lang=ru")]
			}
			if rec.Code != http.StatusOK || !strings.Contains(text, want) || strings.Contains(body, `id="cp-code"`) ||
				strings.Contains(text, "expired") || strings.Contains(text, "истёк") {
				t.Errorf("%s: GET %s answered %d, want %q and no code field:\n%s", tt.query, loc, rec.Code, want, text)
			}
			if i == 1 {
				other := "en"
				if strings.Contains(loc, "lang=en") {
					other = "ru"
				}
				m := regexp.MustCompile(`href="(/2fa\?[^"]*)" hreflang="` + other + `"`).FindStringSubmatch(body)
				if m == nil {
					t.Fatalf("%s: no %s link:\n%s", tt.query, other, body)
				}
				loc = stdhtml.UnescapeString(m[1])
			}
		}
		if f.verifies != 1 {
			t.Errorf("%s: %d code checks, want 1", tt.query, f.verifies)
		}
	}
}
