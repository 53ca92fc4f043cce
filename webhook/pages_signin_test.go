package webhook_test

import (
	stdhtml "html"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

// TestStepUpPageSignInReturnsToAPage: a /2fa form post whose session ended
// (signed out in another tab, expired, or about to) gets the sign-in page;
// its link sends the user back, after signing in, to the /2fa page with the
// same return_to and language, which answers GET. The form's URL is a POST
// route (GET /2fa/verify is 405), and the challenge named in the form
// belongs to the ended session.
func TestStepUpPageSignInReturnsToAPage(t *testing.T) {
	const rt = "https://app.example/orders?id=7"
	tests := []struct {
		name     string
		path     string
		form     url.Values
		startErr error
		verifyEr error
	}{
		{"code posted, session gone", "/2fa/verify?lang=en&return_to=" + url.QueryEscape(rt),
			url.Values{"challenge_id": {"c1"}, "code": {"1234"}}, nil, kratos.ErrNoSession},
		{"code posted, session ending", "/2fa/verify?lang=en&return_to=" + url.QueryEscape(rt),
			url.Values{"challenge_id": {"c1"}, "code": {"1234"}}, nil, jwt.ErrSessionExpired},
		{"call me again, session gone", "/2fa/verify?lang=en&return_to=" + url.QueryEscape(rt),
			url.Values{"challenge_id": {"c1"}, "resend": {"true"}}, kratos.ErrNoSession, nil},
		{"call me, session ending", "/2fa?lang=en&return_to=" + url.QueryEscape(rt),
			url.Values{}, jwt.ErrSessionExpired, nil},
	}
	href := regexp.MustCompile(`href="(https://app\.example/login\?[^"]*)"`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &pageFactor{recorder: &recorder{}, startErr: tt.startErr, verifyErr: tt.verifyEr}
			h := newPageServer(t, f)
			rec := pageDo(h, http.MethodPost, tt.path, tt.form, "https://app.example")
			m := href.FindStringSubmatch(rec.Body.String())
			if rec.Code != http.StatusUnauthorized || m == nil {
				t.Fatalf("POST %s: %d, want 401 with a sign-in link:\n%s", tt.path, rec.Code, rec.Body)
			}
			login, err := url.Parse(stdhtml.UnescapeString(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			back, err := url.Parse(login.Query().Get("return_to"))
			if err != nil || back.Scheme+"://"+back.Host != "https://cp.example" || back.Path != "/2fa" {
				t.Fatalf("sign-in returns to %q, want the /2fa page", login.Query().Get("return_to"))
			}
			if back.Query().Get("return_to") != rt || back.Query().Get("lang") != "en" {
				t.Fatalf("sign-in returns to %q, which lost return_to or lang", back)
			}
			if back.Query().Has("code") || back.Query().Has("challenge") {
				t.Fatalf("sign-in returns to %q, naming the ended session's challenge or a code", back)
			}
			rec = pageDo(h, http.MethodGet, back.RequestURI(), nil, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s after signing in: %d", back.RequestURI(), rec.Code)
			}
		})
	}
}
