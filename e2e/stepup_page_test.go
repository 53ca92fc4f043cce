package e2e_test

import (
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
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
	// A refusal answers the POST with a redirect to a GET page that says
	// it, so reloading the page does not send the code again.
	resp, _ = do(http.MethodPost, "/2fa/verify", url.Values{"challenge_id": {id}, "code": {wrongCode(code)}}, "en")
	loc = resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/2fa?") || !strings.Contains(loc, "error=4090001") {
		t.Fatalf("wrong code: %d Location %q, want 303 to the GET page with error 4090001", resp.StatusCode, loc)
	}
	for range 2 { // the page, and a reload of it
		resp, page = do(http.MethodGet, loc, nil, "en")
		if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(page), "wrong") || !strings.Contains(page, "2 attempts") {
			t.Fatalf("wrong code page: %d\n%s", resp.StatusCode, page)
		}
	}
	// So does the right code: reloading "confirmed" must not check it again.
	resp, _ = do(http.MethodPost, "/2fa/verify", url.Values{"challenge_id": {id}, "code": {code}}, "en")
	loc = resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || loc != "/2fa?challenge="+id {
		t.Fatalf("right code: %d Location %q, want 303 to the challenge's GET page", resp.StatusCode, loc)
	}
	for range 2 { // the page, and a reload of it
		resp, page = do(http.MethodGet, loc, nil, "en")
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Confirmed") {
			t.Fatalf("right code page: %d\n%s", resp.StatusCode, page)
		}
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

	resp, _ = send(http.MethodPost, "/2fa/verify", url.Values{"challenge_id": {id}, "resend": {"true"}}, auth)
	loc = resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "challenge="+id) || !strings.Contains(loc, "error=4090006") {
		t.Fatalf("refused resend: %d Location %q, want 303 to the challenge's page with the cooldown (4090006)", resp.StatusCode, loc)
	}
	resp, page = send(http.MethodGet, loc, nil, auth)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="challenge_id" value="`+id+`"`) {
		t.Fatalf("refused resend page: %d, want the challenge still on the page\n%s", resp.StatusCode, page)
	}
	// Its language links lead to the GET page of the same challenge, not to
	// a POST-only route.
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

// TestStepUpPageSignInReachesKratosLogin follows the sign-in link of /2fa
// (no session) as a browser would, against a real Kratos. The link goes to
// kratos.browser_url (here "localhost", a spelling the service's
// kratos.public_url does not use), and its return_to, <serve.base_url>/2fa,
// is admitted because allowed_return_urls lists it, as the example
// configurations do: the browser lands on the login UI, not on Kratos's
// error page. A return_to not listed does land there: the check is real.
func TestStepUpPageSignInReachesKratosLogin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	const ui = "http://127.0.0.1:4455"
	k := testenv.StartKratos(t, testenv.KratosOptions{UIURL: ui, Config: map[string]any{
		"selfservice": map[string]any{"allowed_return_urls": []any{ui, base + "/2fa"}},
	}})
	browserURL := strings.Replace(k.PublicURL, "127.0.0.1", "localhost", 1)
	svc := startService(t, ln, []string{
		"SERVE_LISTEN=" + ln.Addr().String(),
		"SERVE_BASE_URL=" + base + "/", // a trailing slash must not end up in return_to
		"KRATOS_PUBLIC_URL=" + k.PublicURL,
		"KRATOS_BROWSER_URL=" + browserURL,
		"KRATOS_ADMIN_URL=" + k.AdminURL,
		"WEBHOOK_SECRET=" + webhookSecret,
		"DEV_DATA_DIR=" + t.TempDir(),
		"LOG_LEVEL=warn",
	}, false, "").URL
	link := regexp.MustCompile(`href="([^"]*/self-service/login/browser\?[^"]*)"`)

	tests := []struct {
		name     string
		page     string
		returnTo string // replaces the link's return_to when set
		want     string // the start of Kratos's redirect
	}{
		{"the link of /2fa", "/2fa", "", ui + "/login?flow="},
		{"the link of /2fa?lang=ru", "/2fa?lang=ru", "", ui + "/login?flow="},
		{"a return_to not admitted", "/2fa", base + "/elsewhere", ui + "/error?id="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, page := sendPage(t, svc, http.MethodGet, tt.page, nil, map[string]string{"Accept-Language": "en"})
			m := link.FindStringSubmatch(page)
			if resp.StatusCode != http.StatusUnauthorized || m == nil {
				t.Fatalf("GET %s without a session: %d, no sign-in link\n%s", tt.page, resp.StatusCode, page)
			}
			u, err := url.Parse(m[1])
			if err != nil || !strings.HasPrefix(m[1], browserURL+"/self-service/login/browser?") {
				t.Fatalf("sign-in link %q: want kratos.browser_url %s", m[1], browserURL)
			}
			if rt := u.Query().Get("return_to"); rt != base+tt.page {
				t.Errorf("return_to %q, want %q", rt, base+tt.page)
			}
			if tt.returnTo != "" {
				q := u.Query()
				q.Set("return_to", tt.returnTo)
				u.RawQuery = q.Encode()
			}
			req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
			req.Header.Set("Accept", "text/html")
			kr, err := k.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			kr.Body.Close()
			if loc := kr.Header.Get("Location"); kr.StatusCode/100 != 3 || !strings.HasPrefix(loc, tt.want) {
				t.Errorf("Kratos answered the link with %d Location %q, want a redirect to %s…", kr.StatusCode, loc, tt.want)
			}
		})
	}
}
