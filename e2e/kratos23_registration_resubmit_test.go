package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestKratos23CompletedRegistrationResubmitted: Kratos v1.3.1 accepts a
// registration flow that already made an account: submitted again (same
// flow id) with another e-mail, it saves another identity. A number the
// flow proved stayed proven for it while its code lived (so that a
// resubmit after Kratos refused the save needs no second call), and the
// hook let that resubmit through with the code again or none: a second
// account with the number, with no new call (two identities, one call).
// The registration hook after the save (/hooks/kratos/registered) now ends
// the proof: the code reads as expired, a submit without it places a new
// call, and no second identity is saved without that call's code. Without
// that hook in kratos.yml, the hole stays (the last case shows it, as
// SECURITY.md says).
func TestKratos23CompletedRegistrationResubmitted(t *testing.T) {
	for _, tt := range []struct {
		name        string
		noSavedHook bool
		redis       bool
		withCode    bool
		wantSaved   bool
		wantCalls   int
		wantRefusal int64 // a message id of the refused resubmit
	}{
		{name: "the code again", withCode: true, wantCalls: 1, wantRefusal: 4090002},
		{name: "no code", wantCalls: 2, wantRefusal: 1090001},
		{name: "the code again on redis", redis: true, withCode: true, wantCalls: 1, wantRefusal: 4090002},
		{name: "no code and no registered hook", noSavedHook: true, wantSaved: true, wantCalls: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := startStack(t, stackOptions{RegistrationHook: true, NoRegisteredHook: tt.noSavedHook, Redis: tt.redis})
			ctx := context.Background()
			const dn = "79001239901"
			traits := map[string]any{"email": "first@example.com", "phone": "+" + dn}
			r, err := st.Kratos.APIRegister(ctx, traits, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := r.Message(1090001); !ok {
				t.Fatalf("registration: want 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
			}
			code := lastCode(t, st.Services[0].URL, dn)
			first, err := st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, traits, testPassword, map[string]any{"callpass_code": code})
			if err != nil {
				t.Fatal(err)
			}
			if first.SessionToken == "" {
				t.Fatalf("registration with the right code: no identity (HTTP %d %v): %s", first.StatusCode, ids(first), first.Body)
			}
			traits["email"] = "second@example.com"
			tp := map[string]any{}
			if tt.withCode {
				tp["callpass_code"] = code
			}
			again, err := st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, traits, testPassword, tp)
			if err != nil {
				t.Fatal(err)
			}
			if saved := again.SessionToken != ""; saved != tt.wantSaved {
				t.Fatalf("the completed flow resubmitted with another e-mail: saved %v, want %v (HTTP %d %v): %s",
					saved, tt.wantSaved, again.StatusCode, ids(again), again.Body)
			}
			if tt.wantRefusal != 0 {
				if _, ok := again.Message(tt.wantRefusal); !ok {
					t.Errorf("resubmit: want message %d, got HTTP %d %v", tt.wantRefusal, again.StatusCode, ids(again))
				}
			}
			if n := simRequests(t, st.Services[0].URL, dn); n != tt.wantCalls {
				t.Errorf("calls to the number: %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

// TestKratos23CompletedBrowserRegistrationResubmitted: the same for a
// browser flow (an SPA's JSON posts, with the flow's CSRF cookie and
// token). With the cookies the registration left, Kratos refuses the
// resubmit itself (signed in; a new CSRF cookie); with the flow's cookies
// from before it (a client keeps whatever it likes), Kratos accepts it,
// and before the hook after the save a second identity was saved there
// too. Now the code reads as expired and no code places a new call.
func TestKratos23CompletedBrowserRegistrationResubmitted(t *testing.T) {
	st := startStack(t, stackOptions{RegistrationHook: true})
	ctx := context.Background()
	const dn = "79001239902"
	b := st.Kratos.NewBrowser(t)
	flowID, csrf := browserRegistrationFlow(t, ctx, b, st.Kratos.PublicURL)
	traits := map[string]any{"email": "first@example.com", "phone": "+" + dn}
	submit := func(c *http.Client, traits map[string]any, tp map[string]any) (int, []byte, []*http.Cookie) {
		body := map[string]any{"method": "password", "traits": traits, "password": testPassword, "csrf_token": csrf}
		if tp != nil {
			body["transient_payload"] = tp
		}
		raw, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.Kratos.PublicURL+"/self-service/registration?flow="+url.QueryEscape(flowID), bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out, resp.Cookies()
	}
	if code, body, _ := submit(b.HTTP, traits, nil); code != http.StatusBadRequest || !bytes.Contains(body, []byte("1090001")) {
		t.Fatalf("registration: want the call's 1090001, got %d %s", code, body)
	}
	code := lastCode(t, st.Services[0].URL, dn)
	pub, _ := url.Parse(st.Kratos.PublicURL)
	before := b.HTTP.Jar.Cookies(pub) // the flow's CSRF cookie, as a client may keep it
	status, body, cookies := submit(b.HTTP, traits, map[string]any{"callpass_code": code})
	if status != http.StatusOK || !hasCookie(cookies, "ory_kratos_session") {
		t.Fatalf("registration with the right code: %d %s", status, body)
	}
	traits["email"] = "second@example.com"
	if status, body, _ := submit(b.HTTP, traits, map[string]any{"callpass_code": code}); status == http.StatusOK {
		t.Fatalf("resubmit with the session cookie: saved (%s)", body)
	}
	// The cookies the flow had before it made the account (Kratos sets a
	// new CSRF cookie with the session): no session cookie.
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(pub, before)
	nosession := &http.Client{Jar: jar, Timeout: b.HTTP.Timeout, CheckRedirect: b.HTTP.CheckRedirect}
	for _, tt := range []struct {
		tp   map[string]any
		want string // the message id answered
	}{{map[string]any{"callpass_code": code}, "4090002"}, {map[string]any{}, "1090001"}} {
		status, body, _ := submit(nosession, traits, tt.tp)
		if status == http.StatusOK {
			t.Fatalf("resubmit without the session cookie (%v): a second identity was saved: %s", tt.tp, body)
		}
		if !bytes.Contains(body, []byte(`"id":`+tt.want)) {
			t.Errorf("resubmit without the session cookie (%v): want message %s, got HTTP %d %s", tt.tp, tt.want, status, body)
		}
	}
	if n := simRequests(t, st.Services[0].URL, dn); n != 2 {
		t.Errorf("calls to the number: %d, want 2 (the registration's and the codeless resubmit's)", n)
	}
}

// browserRegistrationFlow starts a browser registration flow as an SPA
// does (JSON), which sets the CSRF cookie in b's jar; it returns the flow
// id and its csrf_token.
func browserRegistrationFlow(t *testing.T, ctx context.Context, b *testenv.Browser, public string) (string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, public+"/self-service/registration/browser", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := b.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f struct {
		ID string `json:"id"`
		UI struct {
			Nodes []struct {
				Attributes struct {
					Name  string `json:"name"`
					Value any    `json:"value"`
				} `json:"attributes"`
			} `json:"nodes"`
		} `json:"ui"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &f) != nil || f.ID == "" {
		t.Fatalf("browser registration flow: %d %s", resp.StatusCode, raw)
	}
	for _, n := range f.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			s, _ := n.Attributes.Value.(string)
			return f.ID, s
		}
	}
	t.Fatalf("browser registration flow without csrf_token: %s", raw)
	return "", ""
}

func hasCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}
