package ui

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCodeViewPollsOnlyWhileCodeCanBeTyped: the page asks about the call
// only when it has a status URL and a code field with a live expiry, and
// carries the "not delivered" text of its language.
func TestCodeViewPollsOnlyWhileCodeCanBeTyped(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	live := func(mut func(*CodeStep)) CodeStep {
		s := CodeStep{Lang: "en", Flow: "stepup", CodeLength: 4, ExpiresAt: now.Add(2 * time.Minute),
			ResendAfter: now.Add(30 * time.Second), StatusURL: "/v1/challenges/c1", Now: now}
		if mut != nil {
			mut(&s)
		}
		return s
	}
	tests := []struct {
		name string
		step CodeStep
		want bool
	}{
		{"calling", live(nil), true},
		{"after a wrong code", live(func(s *CodeStep) {
			s.ApplyMessage(Message{ID: MsgWrongCode, Type: "error", Context: map[string]any{"attempts_left": 2}})
		}), true},
		{"no status URL", live(func(s *CodeStep) { s.StatusURL = "" }), false},
		{"expired", live(func(s *CodeStep) { s.ExpiresAt = now.Add(-time.Second) }), false},
		{"locked", live(func(s *CodeStep) { s.ApplyMessage(Message{ID: MsgLocked, Type: "error"}) }), false},
		{"not delivered already", live(func(s *CodeStep) { s.ApplyMessage(Message{ID: MsgNotDelivered, Type: "error"}) }), false},
		{"blocked", live(func(s *CodeStep) {
			s.ApplyMessage(Message{ID: MsgBlocked, Type: "error", Context: map[string]any{"retry_after": 60}})
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.step
			s.normalize()
			v := r.codeView(s)
			if v.PollStatus != tt.want {
				t.Fatalf("PollStatus %v, want %v", v.PollStatus, tt.want)
			}
			html, err := r.CodeStepHTML(tt.step)
			if err != nil {
				t.Fatal(err)
			}
			has := strings.Contains(string(html), `data-status-url="/v1/challenges/c1"`)
			if has != tt.want {
				t.Fatalf("status URL on the page: %v, want %v\n%s", has, tt.want, html)
			}
			if tt.want && !strings.Contains(string(html), `data-not-delivered="We could not reach your phone.`) {
				t.Errorf("no English not-delivered text:\n%s", html)
			}
		})
	}
	ru := live(func(s *CodeStep) { s.Lang = "ru"; s.StatusURL = `/v1/challenges/a"b` })
	html, err := r.CodeStepHTML(ru)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `data-not-delivered="Не удалось дозвониться`) {
		t.Errorf("no Russian not-delivered text:\n%s", html)
	}
	if strings.Contains(string(html), `a"b`) {
		t.Errorf("status URL not escaped:\n%s", html)
	}
}

// TestCallStatusPollInBrowser runs code.js in Chromium against a status
// endpoint: a call that did not reach the phone turns the page into "ask
// for a new call" at once (the button enabled although its 30 s wait has
// not passed); a call that rang, or an endpoint that refuses, ends the
// asking and leaves the page as it was.
func TestCallStatusPollInBrowser(t *testing.T) {
	browser := startBrowser(t)
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
	}
	pending := answer{200, `{"state":"pending","call_status":"pending"}`}
	tests := []struct {
		name    string
		answers []answer // the last one repeats
		// notDelivered: the page ends in the not-delivered state; else it
		// keeps its code field and stops asking after len(answers) polls.
		notDelivered bool
	}{
		{"not delivered", []answer{pending, {200, `{"state":"pending","call_status":"not_delivered"}`}}, true},
		{"rang", []answer{{200, `{"state":"pending","call_status":"rang"}`}}, false},
		{"refused", []answer{{401, `{"error":"no_session"}`}}, false},
		{"verified elsewhere", []answer{{200, `{"state":"verified","call_status":"not_delivered"}`}}, false},
	}
	mux := http.NewServeMux()
	mux.Handle(r.AssetPrefix(), r.Assets())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	polls := make([]*atomic.Int32, len(tests))
	for i, tt := range tests {
		polls[i] = &atomic.Int32{}
		n := polls[i]
		path := "/case" + string(rune('a'+i))
		mux.HandleFunc("GET "+path+"/status", func(w http.ResponseWriter, req *http.Request) {
			k := int(n.Add(1)) - 1
			a := tt.answers[min(k, len(tt.answers)-1)]
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.status)
			_, _ = w.Write([]byte(a.body))
		})
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, req *http.Request) {
			now := time.Now()
			body, err := r.CodeStepHTML(CodeStep{Lang: "en", Flow: "stepup", CodeLength: 4, PhoneMasked: "+7 900 ***-**-67",
				ExpiresAt: now.Add(5 * time.Minute), ResendAfter: now.Add(30 * time.Second), FormAction: "/submit",
				StatusURL: path + "/status"})
			if err != nil {
				t.Error(err)
			}
			var b bytes.Buffer
			_ = r.Page(&b, PageData{Title: "t", Lang: "en", Body: body})
			_, _ = w.Write(b.Bytes())
		})
	}
	// The group returns when its parallel cases are done, before the
	// server and the browser are closed.
	t.Run("cases", func(t *testing.T) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := chromedp.NewContext(browser)
				defer cancel()
				path := "/case" + string(rune('a'+i))
				if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS("#cp-code"))); err != nil {
					t.Fatal(err)
				}
				resendDisabled := func() bool {
					d, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("[data-cp-resend]").disabled`))
					if err != nil {
						t.Fatal(err)
					}
					return d
				}
				if !resendDisabled() {
					t.Fatal("the new-call button is usable before its wait")
				}
				if tt.notDelivered {
					if err := chromedp.Do(ctx, chromedp.WaitEnabled(chromedp.CSS("[data-cp-resend]"))); err != nil {
						t.Fatal(err)
					}
					state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[
					document.querySelector("[data-cp-step]").getAttribute("data-state"),
					document.getElementById("cp-msg").textContent,
					document.getElementById("cp-msg").className,
					String(document.querySelector("[data-cp-form]").hidden),
					String(document.getElementById("cp-lead").hidden),
					document.querySelector("[data-cp-resend]").textContent,
					document.querySelector("[data-cp-resend]").className,
					document.activeElement.hasAttribute("data-cp-resend") ? "resend focused" : "focus elsewhere"
				].join(" | ")`))
					if err != nil {
						t.Fatal(err)
					}
					for _, want := range []string{"not_delivered | We could not reach your phone.", "cp-msg-error", "| true | true |",
						"Call me again", "cp-btn-primary", "resend focused"} {
						if !strings.Contains(state, want) {
							t.Errorf("page after the call failed: %q lacks %q", state, want)
						}
					}
					if got := polls[i].Load(); got != 2 {
						t.Errorf("%d status requests, want 2 (pending, then not delivered)", got)
					}
					return
				}
				// The first poll comes after 3 s and would repeat 3 s after its
				// answer: the polls due, then a wait in the page (inPage)
				// longer than that, however slow the machine.
				for deadline := time.Now().Add(guard); polls[i].Load() < int32(len(tt.answers)); time.Sleep(100 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d status requests within %v, want %d", polls[i].Load(), guard, len(tt.answers))
					}
				}
				if err := inPage(ctx, 4500*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				if got := polls[i].Load(); got != int32(len(tt.answers)) {
					t.Errorf("%d status requests, want %d", got, len(tt.answers))
				}
				visible, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector("[data-cp-form]").hidden && document.getElementById("cp-msg").textContent === ""`))
				if err != nil {
					t.Fatal(err)
				}
				if !visible || !resendDisabled() {
					t.Error("the page changed although the call did not fail")
				}
			})
		}
	})
}

// TestNotDeliveredWithinThePauseInBrowser: a call found not delivered while
// a code beginning with 7 or 8 waited its pause hides the code form (no
// code will come), yet the pause's timer ran on and posted it: a code the
// page no longer offered, checked against a call that never rang (a wrong
// code costing an attempt). The answer now ends the pause.
func TestNotDeliveredWithinThePauseInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	polled, release := make(chan struct{}, 1), make(chan struct{})
	srv, posted := stepSite{
		step: func() CodeStep {
			now := time.Now()
			return CodeStep{Lang: "en", Flow: "stepup", CodeLength: 4, ExpiresAt: now.Add(5 * time.Minute),
				ResendAfter: now.Add(30 * time.Second), FormAction: "/submit", StatusURL: "/status"}
		},
		pages: map[string]http.HandlerFunc{"GET /status": func(w http.ResponseWriter, req *http.Request) {
			select {
			case polled <- struct{}{}:
			default:
			}
			<-release
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"state":"pending","call_status":"not_delivered"}`))
		}},
	}.start(t)
	defer close(release)

	open(t, ctx, srv.URL+"/")
	select {
	case <-polled:
	case <-time.After(guard):
		t.Fatal("the page never asked about the call")
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), "7010")); err != nil {
		t.Fatal(err)
	}
	release <- struct{}{} // the answer, within the pause
	waitForJS(t, ctx, "the not-delivered page", `document.querySelector("[data-cp-form]").hidden`)
	noPostFor(t, ctx, posted, 3*time.Second, "the hidden form") // longer than code.js's PAUSE
}

// TestCodeStepFollowAttributes: the page names its challenge, the URL of
// the flow's current one and where to show it (code.js follows it) when
// it has all three, whether or not it asks about the call (a page whose
// call rang, or whose code expired, still follows); all escaped.
func TestCodeStepFollowAttributes(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		mut  func(*CodeStep)
		want bool
	}{
		{"polling", nil, true},
		{"not polling", func(s *CodeStep) { s.StatusURL = "" }, true},
		{"expired", func(s *CodeStep) { s.ExpiresAt = now.Add(-time.Second) }, true},
		{"not delivered", func(s *CodeStep) { s.ApplyMessage(Message{ID: MsgNotDelivered, Type: "error"}) }, true},
		{"no follow URL", func(s *CodeStep) { s.FollowURL = "" }, false},
		{"no follow status URL", func(s *CodeStep) { s.FollowStatusURL = "" }, false},
		{"no challenge", func(s *CodeStep) { s.ChallengeID = "" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := CodeStep{Lang: "en", Flow: "stepup", CodeLength: 4, ExpiresAt: now.Add(2 * time.Minute), Now: now,
				ChallengeID: `c1"x`, StatusURL: "/v1/challenges/c1?follow=true", FollowStatusURL: "/v1/challenges/c1?follow=true",
				FollowURL: "/2fa?lang=en&return_to=https%3A%2F%2Fapp.example%2F&challenge="}
			if tt.mut != nil {
				tt.mut(&s)
			}
			html, err := r.CodeStepHTML(s)
			if err != nil {
				t.Fatal(err)
			}
			h := string(html)
			has := strings.Contains(h, `data-follow-status-url="/v1/challenges/c1?follow=true" `+
				`data-follow-url="/2fa?lang=en&amp;return_to=https%3A%2F%2Fapp.example%2F&amp;challenge=" data-challenge="c1&#34;x"`)
			if has != tt.want {
				t.Fatalf("follow attributes on the page: %v, want %v\n%s", has, tt.want, h)
			}
			if !tt.want && (strings.Contains(h, "data-follow-") || strings.Contains(h, "data-challenge")) {
				t.Fatalf("a follow attribute without the others:\n%s", h)
			}
		})
	}
}
