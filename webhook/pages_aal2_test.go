package webhook_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// TestStepUpPageAAL2Required: /2fa for a session Kratos holds until the
// account's own second factor (whoami: session_aal2_required) says so on a
// page, in the user's language, with the way on: Kratos's login with
// aal=aal2, back to this step-up after it. It answered the browser the
// API's JSON ({"error":"forbidden","reason":"aal2_required",…}), a dead end
// on a page.
func TestStepUpPageAAL2Required(t *testing.T) {
	aal2 := fmt.Errorf("whoami: %w: %w", kratos.ErrForbidden, kratos.ErrAAL2Required)
	tests := []struct {
		name, method, target string
		form                 url.Values
		factor               func() *outageGetFactor
		back                 string // the return_to after the aal2 login
	}{
		{"the challenge's page", http.MethodGet, "/2fa?lang=en&challenge=c1&return_to=https%3A%2F%2Fapp.example%2Fpay", nil,
			func() *outageGetFactor {
				return &outageGetFactor{pageFactor: pageFactor{recorder: &recorder{}}, getErr: aal2}
			}, "https://cp.example/2fa?challenge=c1&lang=en&return_to=https%3A%2F%2Fapp.example%2Fpay"},
		{"call me", http.MethodPost, "/2fa?lang=en", url.Values{},
			func() *outageGetFactor {
				return &outageGetFactor{pageFactor: pageFactor{recorder: &recorder{}, startErr: aal2}}
			}, "https://cp.example/2fa?lang=en"},
		{"a code", http.MethodPost, "/2fa/verify?lang=en", url.Values{"challenge_id": {"c1"}, "code": {"1234"}},
			func() *outageGetFactor {
				return &outageGetFactor{pageFactor: pageFactor{recorder: &recorder{}, verifyErr: aal2}}
			}, "https://cp.example/2fa?challenge=c1&lang=en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, _ := newObservedPageServer(t, tt.factor())
			origin := ""
			if tt.method == http.MethodPost {
				origin = "https://app.example"
			}
			rec := pageDo(h, tt.method, tt.target, tt.form, origin)
			body := html.UnescapeString(rec.Body.String())
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("answer %d %q, want a 403 page:\n%s", rec.Code, rec.Header().Get("Content-Type"), body)
			}
			if !strings.Contains(body, ui.Text("en", "stepup.aal2")) {
				t.Errorf("the page does not say the account's own second factor comes first:\n%s", body)
			}
			want := "https://app.example/login?aal=aal2&return_to=" + url.QueryEscape(tt.back)
			if !strings.Contains(body, `href="`+want+`"`) {
				t.Errorf("the page does not link to %s:\n%s", want, body)
			}
		})
	}
}
