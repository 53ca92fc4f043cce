package webhook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/webhook"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// credsFactor records the credentials every step-up and token call is
// handed: what goes on to Kratos's whoami.
type credsFactor struct {
	pageFactor
	mu    sync.Mutex
	creds []factor.Creds
}

func (f *credsFactor) saw(c factor.Creds) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creds = append(f.creds, c)
}

func (f *credsFactor) StepUpStart(ctx context.Context, c factor.Creds, resend bool, ip string) (factor.ChallengeView, error) {
	f.saw(c)
	return f.pageFactor.StepUpStart(ctx, c, resend, ip)
}

// StepUpResend: the page's "call me again" naming a challenge.
func (f *credsFactor) StepUpResend(ctx context.Context, c factor.Creds, _, ip string) (factor.ChallengeView, error) {
	return f.StepUpStart(ctx, c, true, ip)
}

func (f *credsFactor) StepUpGet(ctx context.Context, c factor.Creds, id string) (factor.ChallengeView, error) {
	f.saw(c)
	return f.pageFactor.StepUpGet(ctx, c, id)
}

// StepUpFollow: the page reads its challenge through it.
func (f *credsFactor) StepUpFollow(ctx context.Context, c factor.Creds, id string) (factor.ChallengeView, error) {
	return f.StepUpGet(ctx, c, id)
}

func (f *credsFactor) StepUpVerify(ctx context.Context, c factor.Creds, id, code string, o factor.TokenOptions) (factor.VerifyOutput, error) {
	f.saw(c)
	return factor.VerifyOutput{Challenge: f.view()}, nil
}

func (f *credsFactor) Exchange(_ context.Context, c factor.Creds, _ factor.TokenOptions) (factor.TokenView, error) {
	f.saw(c)
	return factor.TokenView{}, nil
}

// TestKratosNotSentOurJWTCookie: the browser's Cookie header goes on to
// Kratos's whoami without our own JWT cookie (named by jwt.cookie.name),
// whose token carries the user's phone number and which Kratos may log.
// Every other cookie goes on byte for byte (Kratos's session cookie name is
// Kratos's to configure); a header left empty is no cookie at all.
func TestKratosNotSentOurJWTCookie(t *testing.T) {
	const jwt = "callpass_jwt=eyJhbGciOiJFUzI1NiJ9.eyJwaG9uZSI6Iis3OTAwMTIzNDU2NyJ9.sig"
	headers := []struct {
		name, cookie, want string
	}{
		{"jwt last", "ory_kratos_session=MTcxNjIzOTAyMnxEdi1CQkFFQ180SUFBUkFCRUFBQV9f; " + jwt,
			"ory_kratos_session=MTcxNjIzOTAyMnxEdi1CQkFFQ180SUFBUkFCRUFBQV9f"},
		{"jwt first", jwt + "; my_kratos=abc%3D%3D; csrf_token_82b1=\"q+/=\"",
			"my_kratos=abc%3D%3D; csrf_token_82b1=\"q+/=\""},
		{"jwt between", "a=1; " + jwt + "; ory_kratos_session=s==",
			"a=1; ory_kratos_session=s=="},
		{"jwt twice", jwt + "; ory_kratos_session=s; " + jwt,
			"ory_kratos_session=s"},
		{"look-alikes kept", "callpass_jwt_old=1; xcallpass_jwt=2; note=callpass_jwt=3; " + jwt + "; Callpass_jwt=4",
			"callpass_jwt_old=1; xcallpass_jwt=2; note=callpass_jwt=3; Callpass_jwt=4"},
		{"no jwt: unchanged", "ory_kratos_session=s;other=x;  spaced = y ",
			"ory_kratos_session=s;other=x;  spaced = y "},
		{"only jwt", jwt, ""},
	}
	r, err := ui.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	requests := []struct {
		method, target, ctype, body string
	}{
		{http.MethodPost, "/v1/challenges", "application/json", `{}`},
		{http.MethodGet, "/v1/challenges/c1", "", ""},
		{http.MethodPost, "/v1/challenges/c1/verify", "application/json", `{"code":"1234"}`},
		{http.MethodPost, "/v1/token", "application/json", `{}`},
		{http.MethodGet, "/2fa?challenge=c1", "", ""},
		{http.MethodPost, "/2fa", "application/x-www-form-urlencoded", ""},
		{http.MethodPost, "/2fa/verify", "application/x-www-form-urlencoded", url.Values{"challenge_id": {"c1"}, "code": {"1234"}}.Encode()},
	}
	for _, hc := range headers {
		for _, rq := range requests {
			t.Run(hc.name+" "+rq.method+" "+rq.target, func(t *testing.T) {
				f := &credsFactor{pageFactor: pageFactor{recorder: &recorder{}}}
				s, err := webhook.New(webhook.Config{WebhookSecret: secret, AllowedOrigins: []string{"https://app.example"},
					JWTCookie: webhook.CookieConfig{Name: "callpass_jwt"}},
					webhook.Deps{Factor: f, UI: r, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					t.Fatal(err)
				}
				req := httptest.NewRequest(rq.method, rq.target, strings.NewReader(rq.body))
				if rq.ctype != "" {
					req.Header.Set("Content-Type", rq.ctype)
				}
				req.Header.Set("Origin", "https://app.example")
				req.Header.Set("Cookie", hc.cookie)
				w := httptest.NewRecorder()
				s.Handler().ServeHTTP(w, req)
				if hc.want == "" {
					// No cookie left: a visitor without credentials. GET
					// /2fa shows the sign-in page without asking the factor;
					// the rest hand the factor empty credentials (which it
					// refuses as no session, as for no cookie at all).
					for _, c := range f.creds {
						if !c.Empty() || c.Cookie != "" {
							t.Errorf("credentials %+v handed on, want none", c)
						}
					}
					if rq.method == http.MethodGet && strings.HasPrefix(rq.target, "/2fa") &&
						(len(f.creds) != 0 || w.Code != http.StatusUnauthorized) {
						t.Errorf("GET /2fa with only our cookie: %d, factor asked %d times; want the 401 sign-in page", w.Code, len(f.creds))
					}
					return
				}
				if len(f.creds) != 1 {
					t.Fatalf("factor asked %d times (answer %d %s), want 1", len(f.creds), w.Code, w.Body)
				}
				if got := f.creds[0].Cookie; got != hc.want {
					t.Errorf("Cookie handed on %q, want %q", got, hc.want)
				}
				if strings.Contains(f.creds[0].Cookie, "eyJ") {
					t.Errorf("the JWT was handed on: %q", f.creds[0].Cookie)
				}
			})
		}
	}
}

// TestKratosCookieUnchangedWithoutJWTCookie: with jwt.cookie off there is
// no cookie of ours to drop, and the header goes on as it came.
func TestKratosCookieUnchangedWithoutJWTCookie(t *testing.T) {
	f := &credsFactor{pageFactor: pageFactor{recorder: &recorder{}}}
	s, err := webhook.New(webhook.Config{WebhookSecret: secret, AllowedOrigins: []string{"https://app.example"}},
		webhook.Deps{Factor: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const cookie = "ory_kratos_session=s; callpass_jwt=x"
	w := do(s.Handler(), reqSpec{method: http.MethodPost, path: "/v1/token",
		hdr: map[string]string{"Cookie": cookie, "Origin": "https://app.example"}})
	if w.Code != http.StatusOK || len(f.creds) != 1 || f.creds[0].Cookie != cookie {
		t.Errorf("answer %d, creds %+v; want the Cookie %q as sent", w.Code, f.creds, cookie)
	}
}
