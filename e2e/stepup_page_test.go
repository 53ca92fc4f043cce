package e2e_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestStepUpPage drives /2fa as a browser without JavaScript would: GET shows
// the "call me" form (and places no call), POST places the call, the code
// step shows the masked number, a wrong code says so, the right code confirms.
func TestStepUpPage(t *testing.T) {
	st := startStack(t, stackOptions{})
	svc := st.Services[0].URL
	const email, dn = "ilya@example.com", "79009990011"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path string, form url.Values, lang string) (*http.Response, string) {
		t.Helper()
		return sendPage(t, svc, method, path, form, map[string]string{"X-Session-Token": tok, "Accept-Language": lang})
	}

	before := simRequests(t, svc, dn)
	resp, page := do(http.MethodGet, "/2fa", nil, "ru-RU,ru;q=0.9")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Позвонить мне") || !strings.Contains(page, `lang="ru"`) {
		t.Fatalf("GET /2fa (ru): %d\n%s", resp.StatusCode, page)
	}
	if simRequests(t, svc, dn) != before {
		t.Fatal("GET /2fa placed a call")
	}
	resp, _ = do(http.MethodPost, "/2fa", url.Values{}, "en")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/2fa?challenge=") {
		t.Fatalf("POST /2fa: %d Location %q", resp.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, "/2fa?challenge=")
	resp, page = do(http.MethodGet, loc, nil, "en")
	for _, want := range []string{"+7 900 ***-**-11", `inputmode="numeric"`, `autocomplete="one-time-code"`, id} {
		if !strings.Contains(page, want) {
			t.Errorf("code step lacks %q", want)
		}
	}
	if strings.Contains(page, dn) {
		t.Error("the page shows the full number")
	}
	code := lastCode(t, svc, dn)
	resp, page = do(http.MethodPost, "/2fa/verify", url.Values{"challenge_id": {id}, "code": {wrongCode(code)}}, "en")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(strings.ToLower(page), "wrong") {
		t.Fatalf("wrong code: %d\n%s", resp.StatusCode, page)
	}
	resp, page = do(http.MethodPost, "/2fa/verify", url.Values{"challenge_id": {id}, "code": {code}}, "en")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Confirmed") {
		t.Fatalf("right code: %d\n%s", resp.StatusCode, page)
	}
	// Without a session the page asks to sign in and links to Kratos.
	req, _ := http.NewRequest(http.MethodGet, svc+"/2fa", nil)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), st.Kratos.PublicURL+"/self-service/login/browser") {
		t.Errorf("no session: %d\n%s", r2.StatusCode, b)
	}
}

// TestStepUpPageEdges: a cookie that is not a Kratos session gets the
// sign-in page (not a JSON error); the chosen language survives "call me";
// a refused resend keeps showing the call on its way; the page's headers
// allow the redirect to an allowed origin after the form post and forbid
// framing.
func TestStepUpPageEdges(t *testing.T) {
	st := startStack(t, stackOptions{})
	svc := st.Services[0].URL
	const email, dn = "vera@example.com", "79009990022"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		return sendPage(t, svc, method, path, form, hdr)
	}

	resp, page := send(http.MethodGet, "/2fa?challenge=00000000000000000000000000", nil, map[string]string{"Cookie": "lang=en", "Accept-Language": "en"})
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page, "Sign in first") {
		t.Fatalf("cookie without a session: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}

	auth := map[string]string{"X-Session-Token": tok, "Accept-Language": "en"}
	resp, _ = send(http.MethodPost, "/2fa?lang=ru", url.Values{}, auth)
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if resp.StatusCode != http.StatusSeeOther || err != nil || u.Query().Get("lang") != "ru" || u.Query().Get("challenge") == "" {
		t.Fatalf("POST /2fa?lang=ru: %d Location %q", resp.StatusCode, loc)
	}
	id := u.Query().Get("challenge")

	resp, page = send(http.MethodPost, "/2fa/verify", url.Values{"challenge_id": {id}, "resend": {"true"}}, auth)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, `name="challenge_id" value="`+id+`"`) {
		t.Fatalf("refused resend: %d, want 429 with the challenge still on the page\n%s", resp.StatusCode, page)
	}
	// Its language links lead to the GET page of the same challenge, not to
	// the POST-only route that rendered it.
	if strings.Contains(page, `href="/2fa/verify`) || !strings.Contains(page, `href="/2fa?challenge=`+id) {
		t.Errorf("language links of a page answering a POST:\n%s", page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' ") || !strings.Contains(csp, st.Kratos.PublicURL) || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q: form posts (and their redirects) must reach the allowed origins", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("page headers: %v", resp.Header)
	}
}

// sendPage requests a page of the service at svc as a browser form would
// (without following redirects) and returns the answer with its body
// HTML-unescaped.
func sendPage(t *testing.T, svc, method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, svc+path, body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, html.UnescapeString(string(b))
}
