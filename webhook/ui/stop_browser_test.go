package ui

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestFormsAfterStopInBrowser: Stop (or Esc) while a form's post was
// awaited left the page in place with both forms refused ("one form at a
// time") until a reload: a typed code, "Confirm" and "Call me again" did
// nothing. The post given up, both forms work again: the other form posts,
// and so does the same one.
func TestFormsAfterStopInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	var hang atomic.Bool // the next post hangs until the browser gives it up
	gone := make(chan struct{})
	defer close(gone)
	srv, posted := stepSite{answer: func(w http.ResponseWriter, req *http.Request) {
		if hang.Swap(false) {
			select {
			case <-req.Context().Done():
			case <-gone:
			}
			return
		}
		titled("done", "")(w, req)
	}}.start(t)

	what := func(form url.Values) string {
		if form.Has("resend") {
			return "resend"
		}
		return "code " + form.Get("code")
	}
	next := func(name, step string) string {
		t.Helper()
		select {
		case form := <-posted:
			return what(form)
		case <-time.After(guard):
			t.Fatalf("%s: nothing posted %s", name, step)
		}
		return ""
	}
	stop := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.StopLoading, cdp.Empty{})
		return err
	})
	typeCode := chromedp.SendKeys(chromedp.CSS("#cp-code"), "4610")
	resend := chromedp.Click(chromedp.CSS("[data-cp-resend]"))
	confirm := chromedp.Click(chromedp.CSS("[data-cp-submit]"))
	tests := []struct {
		name          string
		first, second chromedp.Action[chromedp.Void]
		want1, want2  string
		noNavAPI      bool // a browser without the Navigation API: Esc is the sign
	}{
		{"a code, Stop, then Call me again", typeCode, resend, "code 4610", "resend", false},
		{"Call me again, Stop, then a code", resend, typeCode, "resend", "code 4610", false},
		{"a code, Stop, then Confirm", typeCode, confirm, "code 4610", "code 4610", false},
		// Last: the Navigation API stays hidden in the pages that follow.
		{"no Navigation API: Call me again, Esc, then a code", resend, typeCode, "resend", "code 4610", true},
	}
	hidden := false
	for _, tt := range tests {
		if tt.noNavAPI && !hidden {
			hidden = true
			if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
					Source: `Object.defineProperty(window, "navigation", {value: undefined, configurable: true});`})
				return err
			})); err != nil {
				t.Fatal(err)
			}
		}
		open(t, ctx, srv.URL+"/")
		hang.Store(true)
		if err := chromedp.Do(ctx, tt.first); err != nil {
			t.Fatal(err)
		}
		if got := next(tt.name, "first"); got != tt.want1 {
			t.Fatalf("%s: first posted %s", tt.name, got)
		}
		if err := chromedp.Do(ctx, stop); err != nil {
			t.Fatal(err)
		}
		if tt.noNavAPI {
			if got := evalJS(t, ctx, `typeof window.navigation`); got != "undefined" {
				t.Fatalf("%s: window.navigation is %s", tt.name, got)
			}
			// Stop alone is no sign without the Navigation API: the forms
			// stay refused (README, "/2fa"), also a while later.
			if err := inPage(ctx, time.Second); err != nil {
				t.Fatal(err)
			}
			if got := evalJS(t, ctx, "String("+codeGone+")"); got != "true" {
				t.Fatalf("%s: the forms work again after Stop alone, with no Navigation API: update README", tt.name)
			}
			// Esc stops loading in the browser; headless, Stop did.
			if err := chromedp.Do(ctx, chromedp.KeyEvent("\x1b")); err != nil {
				t.Fatal(err)
			}
		}
		waitForJS(t, ctx, tt.name+": the forms usable again", `!document.querySelector("[data-cp-submit]").disabled &&
			!document.querySelector("[data-cp-submit]").hasAttribute("aria-busy") &&
			!document.querySelector("[data-cp-resend]").hasAttribute("aria-busy") &&
			document.getElementById("cp-msg").textContent === "" &&
			getComputedStyle(document.getElementById("cp-autosend")).visibility === "visible"`)
		if err := chromedp.Do(ctx, tt.second); err != nil {
			t.Fatal(err)
		}
		if got := next(tt.name, "after Stop"); got != tt.want2 {
			t.Errorf("%s: after Stop posted %s", tt.name, got)
		}
		waitForJS(t, ctx, tt.name+": the answer", `document.title === "done"`)
	}
}
