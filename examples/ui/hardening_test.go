package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// serveLoginFlowWith makes the fake Kratos answer the login flow fetch with
// testdata/login_flow.json changed by edit (its ui.nodes as decoded JSON).
func serveLoginFlowWith(t *testing.T, hs *harness, edit func(nodes []any) []any) {
	t.Helper()
	hs.fake.extra = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || r.URL.Path != "/self-service/login/flows" {
			return false
		}
		b, err := os.ReadFile("testdata/login_flow.json")
		if err != nil {
			t.Fatal(err)
		}
		var flow map[string]any
		if err := json.Unmarshal(b, &flow); err != nil {
			t.Fatal(err)
		}
		u := flow["ui"].(map[string]any)
		u["nodes"] = edit(u["nodes"].([]any))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(flow)
		return true
	}
}

// A Kratos error's text is text: markup in its reason is escaped on /error.
func TestErrorPageEscapesKratosReason(t *testing.T) {
	const errID = "7a8b9c0d-1e2f-4a5b-8c6d-7e8f9a0b1c2d"
	hs := newHarness(t)
	hs.fake.extra = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || r.URL.Path != "/self-service/errors" {
			return false
		}
		if r.URL.Query().Get("id") != errID {
			w.WriteHeader(http.StatusNotFound)
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"` + errID + `","error":{"code":500,"status":"Internal Server Error",` +
			`"message":"<b>bold</b>","reason":"<script>x</script>"}}`))
		return true
	}
	rec := hs.do(http.MethodGet, "/error?id="+errID, nil)
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if !strings.Contains(body, "&lt;script&gt;x&lt;/script&gt;") || !strings.Contains(body, "&lt;b&gt;bold&lt;/b&gt;") {
		t.Errorf("Kratos error details not shown escaped:\n%s", body)
	}
	if strings.Contains(body, "<script>x") || strings.Contains(body, "<b>bold") {
		t.Errorf("Kratos error details rendered as markup:\n%s", body)
	}
}

// A password node is never echoed, even if Kratos sends it a value.
func TestPasswordValueNeverRendered(t *testing.T) {
	hs := newHarness(t)
	serveLoginFlowWith(t, hs, func(nodes []any) []any {
		for _, n := range nodes {
			a := n.(map[string]any)["attributes"].(map[string]any)
			if a["name"] == "password" {
				a["value"] = secret
			}
		}
		return nodes
	})
	rec := hs.do(http.MethodGet, "/login?flow="+loginFlowID, nil)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, `type="password" name="password"`) {
		t.Fatalf("login page: %d\n%s", rec.Code, body)
	}
	if strings.Contains(body, secret) || strings.Contains(body, "s3cret") {
		t.Errorf("password value echoed into the page:\n%s", body)
	}
}

// Only base64 PNG/SVG data: image sources are trusted; any other src goes
// through html/template's URL filter.
func TestImageSrcOtherThanDataImageIsNotTrusted(t *testing.T) {
	for _, src := range []string{"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html;base64,PHNjcmlwdD4="} {
		t.Run(src, func(t *testing.T) {
			hs := newHarness(t)
			serveLoginFlowWith(t, hs, func(nodes []any) []any {
				return append(nodes, map[string]any{"type": "img", "group": "totp", "messages": []any{}, "meta": map[string]any{},
					"attributes": map[string]any{"id": "totp_qr", "src": src, "width": 256, "height": 256, "node_type": "img"}})
			})
			rec := hs.do(http.MethodGet, "/login?flow="+loginFlowID, nil)
			body := rec.Body.String()
			if rec.Code != http.StatusOK || !strings.Contains(body, `<img class="cp-img" id="totp_qr"`) {
				t.Fatalf("image node not rendered: %d\n%s", rec.Code, body)
			}
			low := strings.ToLower(body)
			if strings.Contains(low, "javascript:") || strings.Contains(low, "data:text/html") {
				t.Errorf("unsafe img src %q rendered:\n%s", src, body)
			}
			if !strings.Contains(body, `src="#ZgotmplZ"`) {
				t.Errorf("img src %q not neutralised:\n%s", src, body)
			}
		})
	}
}

// The relay tells Kratos the browser's address as True-Client-Ip (the one
// header Kratos passes to the hooks); the browser's own X-Forwarded-For or
// True-Client-Ip count only with --trust-proxy.
func TestRelayClientIPTrustProxy(t *testing.T) {
	tests := []struct {
		name       string
		trust      bool
		clientHdrs map[string]string
		want       string
	}{
		{"untrusted XFF", false, map[string]string{"X-Forwarded-For": "1.2.3.4"}, "10.9.9.9"},
		{"untrusted True-Client-Ip", false, map[string]string{"True-Client-Ip": "5.6.7.8", "X-Forwarded-For": "1.2.3.4"}, "10.9.9.9"},
		{"trusted XFF", true, map[string]string{"X-Forwarded-For": "1.2.3.4, 10.0.0.1"}, "1.2.3.4"},
		{"trusted True-Client-Ip", true, map[string]string{"True-Client-Ip": "5.6.7.8", "X-Forwarded-For": "1.2.3.4"}, "5.6.7.8"},
		{"trusted, no header", true, nil, "10.9.9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t)
			cfg := hs.s.cfg
			cfg.TrustProxy = tt.trust
			s, h, err := buildServer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			hs.s, hs.h = s, h
			hs.backToLogin()
			form := url.Values{"csrf_token": {"t"}, "identifier": {"a@b.c"}, "password": {secret}, "method": {"password"}}
			r := httptest.NewRequest(http.MethodPost, "/login/submit?flow="+loginFlowID, strings.NewReader(form.Encode()))
			r.RemoteAddr = "10.9.9.9:1"
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tt.clientHdrs {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			hs.h.ServeHTTP(rec, r)
			if rec.Code != http.StatusSeeOther || len(hs.fake.submitHdr) != 1 {
				t.Fatalf("submit: %d, Kratos got %d submits", rec.Code, len(hs.fake.submitHdr))
			}
			hdr := hs.fake.submitHdr[0]
			if got := hdr.Values("True-Client-Ip"); len(got) != 1 || got[0] != tt.want {
				t.Errorf("Kratos saw True-Client-Ip %q, want %q", got, tt.want)
			}
			if got := hdr.Get("X-Forwarded-For"); got != tt.want {
				t.Errorf("Kratos saw X-Forwarded-For %q, want %q", got, tt.want)
			}
		})
	}
}

// A pending cookie too short to be one the relay issued is no browser id:
// the first submission issues a fresh one, and an entry stored under the
// short value is never offered as a code step.
func TestShortPendingCookieIgnored(t *testing.T) {
	short := &http.Cookie{Name: pendingCookie, Value: "abcde"}

	hs := newHarness(t)
	if got := hs.s.browserID(httptest.NewRequest(http.MethodGet, "/", nil)); got != "" {
		t.Errorf("browserID without a cookie = %q", got)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(short)
	if got := hs.s.browserID(r); got != "" {
		t.Errorf("browserID with a 5-character cookie = %q, want none", got)
	}

	rec := hs.passwordSubmit(short)
	c := cookieNamed(rec, pendingCookie)
	if c == nil || c.Value == short.Value || len(c.Value) < 32 {
		t.Errorf("short cookie reused as the browser id: %+v", c)
	}

	// An entry under the short value (e.g. planted) does not unlock the code step.
	hs2 := newHarness(t)
	hs2.s.pending.put(loginFlowID, short.Value, url.Values{"identifier": {"a@b.c"}, "password": {secret}, "method": {"password"}})
	hs2.fake.loginFixture = "testdata/login_flow_callpass.json"
	body := hs2.do(http.MethodGet, "/login?flow="+loginFlowID, nil, short).Body.String()
	if strings.Contains(body, "cp-code") || !strings.Contains(body, `name="password"`) {
		t.Errorf("code step offered for a 5-character cookie:\n%s", body)
	}
	// Nor does a code post with it replay the entry.
	hs2.fake.submitReply = func(w http.ResponseWriter, _ url.Values) { t.Errorf("code post with a short cookie reached Kratos") }
	rec = hs2.do(http.MethodPost, "/login/submit?flow="+loginFlowID, url.Values{"csrf_token": {"t"}, "callpass_code": {"1234"}}, short)
	if loc := rec.Header().Get("Location"); loc != "/login?flow="+loginFlowID+"&callpass=expired" {
		t.Errorf("code post with a short cookie: %d %q", rec.Code, loc)
	}
}

// The code step's form carries the code input and the resend button; a
// click on resend posts both fields, and a resend it is.
func TestResendWinsOverCode(t *testing.T) {
	hs := newHarness(t)
	rec := hs.passwordSubmit()
	pend := cookieNamed(rec, pendingCookie)
	if pend == nil {
		t.Fatal("no pending cookie")
	}
	hs.do(http.MethodPost, "/login/submit?flow="+loginFlowID,
		url.Values{"csrf_token": {"t2"}, fieldCode: {"12"}, fieldResend: {"true"}}, pend)
	if len(hs.fake.submits) != 2 {
		t.Fatalf("Kratos got %d submits, want 2", len(hs.fake.submits))
	}
	got := hs.fake.submits[1]
	if tp := got.Get("transient_payload"); tp != `{"callpass_lang":"en","callpass_resend":true}` {
		t.Errorf("code+resend post sent transient_payload %q, want the resend", tp)
	}
	if got.Get("password") != secret || got.Get("csrf_token") != "t2" {
		t.Errorf("resubmission %v", got)
	}

	out := buildResubmission(url.Values{"identifier": {"a"}}, url.Values{fieldCode: {"1234"}, fieldResend: {"true"}}, 4, "")
	if tp := out.Get("transient_payload"); tp != `{"callpass_resend":true}` {
		t.Errorf("buildResubmission(code+resend) payload %q", tp)
	}
}

// A code post the browser gives up on (Stop, Esc, a closed tab) while Kratos
// works on it: the relay cancelled its own post to Kratos, so Kratos either
// never saw it or was cut off mid-check (the code maybe counted, the session
// maybe issued), and the relay never learnt the answer: a success left the
// password remembered. The relay now finishes the post to Kratos, bounded
// by its own timeout, whatever the browser does.
func TestRelayFinishesWhenTheBrowserLeaves(t *testing.T) {
	hs := newHarness(t)
	rec := hs.passwordSubmit()
	pend := cookieNamed(rec, pendingCookie)
	if pend == nil || hs.s.pending.len() != 1 {
		t.Fatal("no pending entry after the password step")
	}
	arrived, release := make(chan struct{}), make(chan struct{})
	var cut bool
	hs.fake.extra = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || r.URL.Path != "/self-service/login" {
			return false
		}
		// Read the body as Kratos does: only then does the server notice a
		// client that hangs up.
		_ = r.ParseForm()
		close(arrived)
		select {
		case <-release:
		case <-r.Context().Done():
			cut = true
			return true
		}
		http.SetCookie(w, &http.Cookie{Name: "ory_kratos_session", Value: "sess", Path: "/", HttpOnly: true})
		w.Header().Set("Location", "http://127.0.0.1:4455/welcome")
		w.WriteHeader(http.StatusSeeOther)
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	form := url.Values{"csrf_token": {"t2"}, fieldCode: {"4610"}}
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/login/submit?flow="+loginFlowID, strings.NewReader(form.Encode()))
	r.RemoteAddr = "198.51.100.7:50000"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(pend)
	done := make(chan struct{})
	go func() {
		defer close(done)
		hs.h.ServeHTTP(httptest.NewRecorder(), r)
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the code post did not reach Kratos")
	}
	cancel() // the browser stops waiting
	time.Sleep(300 * time.Millisecond)
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not return")
	}
	// Kratos's session cookie went to a browser that had gone: it is not
	// signed in, and its next code post ("Confirm" again, the page kept)
	// finds nothing remembered and asks for the password again, a new
	// sign-in (README, "after the browser stopped waiting").
	again := hs.do(http.MethodPost, "/login/submit?flow="+loginFlowID, url.Values{"csrf_token": {"t3"}, fieldCode: {"4610"}}, pend)
	if loc := again.Header().Get("Location"); loc != "/login?flow="+loginFlowID+"&callpass=expired" {
		t.Errorf("the code posted again after the browser left: %d %q, want the password asked again", again.Code, loc)
	}
	hs.fake.mu.Lock()
	defer hs.fake.mu.Unlock()
	if cut {
		t.Error("the post to Kratos was cut off when the browser left")
	}
	if n := hs.s.pending.len(); n != 0 {
		t.Errorf("password still remembered after Kratos's success (%d entries)", n)
	}
}
