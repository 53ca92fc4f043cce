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

// TestStatusPollFollowsTheCurrentChallengeInBrowser runs code.js in
// Chromium against a status endpoint that answers the flow's current
// challenge (GET /v1/challenges/{id}?follow=true). A call asked for in
// another tab replaced the page's challenge c1 with c2/x: the page loads
// c2/x's (FollowURL and the escaped id), as the tab that asked shows it;
// its poll stopped at "superseded" and it never learnt how the new call
// went. Digits being typed are not lost to that load: the poll asks on,
// loads it once the field is empty, and says at once if the new call did
// not reach the phone. An answer about c1 itself changes nothing. A page
// whose poll has ended (or never ran: the call had rung) asks once as it
// comes back into view (focus, visibilitychange), and follows the same
// way; not over typed digits.
func TestStatusPollFollowsTheCurrentChallengeInBrowser(t *testing.T) {
	browser := startBrowser(t)
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	const (
		newPending = `{"challenge_id":"c2/x","state":"pending","call_status":"pending"}`
		newFailed  = `{"challenge_id":"c2/x","state":"pending","call_status":"not_delivered"}`
		oldPending = `{"challenge_id":"c1","state":"pending","call_status":"pending"}`
		oldRang    = `{"challenge_id":"c1","state":"pending","call_status":"rang"}`
	)
	tests := []struct {
		name    string
		answers []string // the last one repeats
		typed   string   // typed into the field before the first answer
		// clearAfter: the field is emptied after this many answers (0: never).
		clearAfter int32
		// want: "follow" (the page loads c2/x's), "not_delivered" (it says
		// so in place), or "stay" (it stops asking after len(answers)).
		want string
		// back: no poll (the call had rung when the page was made); the
		// page is brought back with this event instead.
		back string
	}{
		{"empty field", []string{newPending}, "", 0, "follow", ""},
		{"new call verified", []string{`{"challenge_id":"c2/x","state":"verified","call_status":"rang"}`}, "", 0, "follow", ""},
		{"typing, then emptied", []string{newPending}, "12", 2, "follow", ""},
		{"typing, new call failed", []string{newPending, newFailed}, "12", 0, "not_delivered", ""},
		{"same challenge", []string{oldPending, oldRang}, "", 0, "stay", ""},
		{"back, focus", []string{newPending}, "", 0, "follow", "focus"},
		{"back, visible", []string{newFailed}, "", 0, "follow", "visibilitychange"},
		{"back, same challenge", []string{oldRang}, "", 0, "stay", "focus"},
		{"back, typing", []string{newPending}, "12", 0, "stay", "focus"},
	}
	mux := http.NewServeMux()
	mux.Handle(r.AssetPrefix(), r.Assets())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	polls := make([]*atomic.Int32, len(tests))
	followed := make([]chan string, len(tests))
	for i, tt := range tests {
		polls[i], followed[i] = &atomic.Int32{}, make(chan string, 4)
		n, got := polls[i], followed[i]
		path := "/case" + string(rune('a'+i))
		mux.HandleFunc("GET "+path+"/status", func(w http.ResponseWriter, req *http.Request) {
			k := int(n.Add(1)) - 1
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(tt.answers[min(k, len(tt.answers)-1)]))
		})
		mux.HandleFunc("GET "+path+"/next", func(w http.ResponseWriter, req *http.Request) {
			got <- req.URL.RawQuery
			titled("next", "")(w, req)
		})
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, req *http.Request) {
			now := time.Now()
			step := CodeStep{Lang: "en", Flow: "stepup", CodeLength: 4, PhoneMasked: "+7 900 ***-**-67",
				ChallengeID: "c1", ExpiresAt: now.Add(5 * time.Minute), ResendAfter: now.Add(30 * time.Second), FormAction: "/submit",
				StatusURL: path + "/status", FollowStatusURL: path + "/status", FollowURL: path + "/next?lang=en&challenge="}
			if tt.back != "" {
				step.StatusURL = ""
			}
			body, err := r.CodeStepHTML(step)
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
				open(t, ctx, srv.URL+"/case"+string(rune('a'+i)))
				if tt.typed != "" {
					if err := insertText(ctx, tt.typed); err != nil {
						t.Fatal(err)
					}
				}
				waitPolls := func(k int32) {
					t.Helper()
					for deadline := time.Now().Add(guard); polls[i].Load() < k; time.Sleep(100 * time.Millisecond) {
						if time.Now().After(deadline) {
							t.Fatalf("%d status requests within %v, want %d", polls[i].Load(), guard, k)
						}
					}
				}
				if tt.back != "" {
					// Nothing asked before: no poll runs on this page.
					if err := inPage(ctx, 3500*time.Millisecond); err != nil {
						t.Fatal(err)
					}
					if n := polls[i].Load(); n != 0 {
						t.Fatalf("%d status requests before the page came back, want 0", n)
					}
					target := "window"
					if tt.back == "visibilitychange" {
						target = "document"
					}
					evalJS(t, ctx, target+`.dispatchEvent(new Event("`+tt.back+`")); ""`)
				}
				if tt.clearAfter > 0 {
					waitPolls(tt.clearAfter)
					if got := evalJS(t, ctx, `document.title + " " + document.getElementById("cp-code").value`); got != "t "+tt.typed {
						t.Fatalf("while digits are typed: %q, want the page kept with %q", got, tt.typed)
					}
					if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#cp-code"), "")); err != nil {
						t.Fatal(err)
					}
				}
				switch tt.want {
				case "follow":
					select {
					case q := <-followed[i]:
						if q != "lang=en&challenge=c2%2Fx" {
							t.Fatalf("the page loaded ?%s, want ?lang=en&challenge=c2%%2Fx", q)
						}
					case <-time.After(guard):
						t.Fatalf("the page never loaded the new challenge's (%d status requests): %s", polls[i].Load(), pageText(ctx))
					}
					if tt.clearAfter > 0 && polls[i].Load() <= tt.clearAfter {
						t.Errorf("loaded after %d status requests, want it after the field was emptied", polls[i].Load())
					}
				case "not_delivered":
					waitForJS(t, ctx, "the not-delivered page", `document.querySelector("[data-cp-step]").getAttribute("data-state") === "not_delivered"`)
					state := evalJS(t, ctx, `[document.getElementById("cp-msg").textContent,
						String(document.querySelector("[data-cp-form]").hidden),
						String(document.querySelector("[data-cp-resend]").disabled)].join(" | ")`)
					if !strings.HasPrefix(state, "We could not reach your phone.") || !strings.HasSuffix(state, "| true | false") {
						t.Errorf("page after the new call failed: %q", state)
					}
					if len(followed[i]) != 0 {
						t.Error("the page was left although digits were typed")
					}
				case "stay":
					if tt.back != "" && tt.typed != "" {
						// Typing: nothing asked at all.
						if err := inPage(ctx, 1500*time.Millisecond); err != nil {
							t.Fatal(err)
						}
						if n := polls[i].Load(); n != 0 || len(followed[i]) != 0 {
							t.Fatalf("%d status requests, %d loads while digits were typed, want none", n, len(followed[i]))
						}
						return
					}
					waitPolls(int32(len(tt.answers)))
					if err := inPage(ctx, 4500*time.Millisecond); err != nil {
						t.Fatal(err)
					}
					if got := polls[i].Load(); got != int32(len(tt.answers)) {
						t.Errorf("%d status requests, want %d", got, len(tt.answers))
					}
					if len(followed[i]) != 0 || evalJS(t, ctx, `document.title`) != "t" {
						t.Error("the page was left for its own challenge")
					}
				}
			})
		}
	})
}
