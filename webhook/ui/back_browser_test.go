package ui

import (
	"html/template"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestCodeStepAfterBackInBrowser: a code step left by its own form post
// (a wrong code's answer is another page) and then returned to with the
// back button is usable again. Chromium keeps even a no-store page in its
// back/forward cache, and restored it as it was left: the code sent, the
// button disabled and "Checking the code…" for ever, so a second code
// typed went nowhere ("call me again" likewise). The page is now loaded afresh (a GET: nothing is
// posted again), so it also shows what the service says now.
func TestCodeStepAfterBackInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	var gets atomic.Int32
	noStore := func(h http.HandlerFunc) http.HandlerFunc { // as every page of the service and the example UI
		return func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			h(w, req)
		}
	}
	srv, posted := stepSite{
		before: func(w http.ResponseWriter, req *http.Request) template.HTML {
			gets.Add(1)
			w.Header().Set("Cache-Control", "no-store")
			return ""
		},
		answer: redirectTo("/wrong"), // POST-redirect-GET, as /2fa
		pages:  map[string]http.HandlerFunc{"GET /wrong": noStore(titled("wrong", "Wrong code"))},
	}.start(t)

	open(t, ctx, srv.URL+"/", chromedp.SendKeys(chromedp.CSS("#cp-code"), "1111"))
	nextCode(t, ctx, posted, "first code", "1111")
	waitForJS(t, ctx, "the wrong-code page", `document.title === "wrong"`)
	evalJS(t, ctx, `setTimeout(() => history.back(), 0), ""`) // after the answer: a navigation while Evaluate waits for it fails it ("Inspected target navigated or closed")
	waitForJS(t, ctx, "the code step again, usable", `document.title === "t" && document.readyState === "complete" &&
		!!document.querySelector("[data-cp-submit]") && !document.querySelector("[data-cp-submit]").disabled &&
		document.getElementById("cp-code").value === ""`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), "4610")); err != nil {
		t.Fatal(err)
	}
	nextCode(t, ctx, posted, "second code, after going back", "4610")
	if n := gets.Load(); n != 2 {
		t.Errorf("%d GETs of the code step, want 2 (the first visit, and afresh after going back)", n)
	}

	// The same for "call me again".
	waitForJS(t, ctx, "the wrong-code page", `document.title === "wrong"`)
	evalJS(t, ctx, `setTimeout(() => history.back(), 0), ""`) // after the answer: a navigation while Evaluate waits for it fails it ("Inspected target navigated or closed")
	waitForJS(t, ctx, "the code step again", `document.title === "t" && document.readyState === "complete" && !!document.querySelector("[data-cp-resend]")`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-resend]"))); err != nil {
		t.Fatal(err)
	}
	nextCode(t, ctx, posted, "call me again", "")
	waitForJS(t, ctx, "the answer", `document.title === "wrong"`)
	evalJS(t, ctx, `setTimeout(() => history.back(), 0), ""`) // after the answer: a navigation while Evaluate waits for it fails it ("Inspected target navigated or closed")
	waitForJS(t, ctx, "the code step again, its button usable", `document.title === "t" && document.readyState === "complete" &&
		!!document.querySelector("[data-cp-resend]") && !document.querySelector("[data-cp-resend-form]").hasAttribute("data-sent")`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-resend]"))); err != nil {
		t.Fatal(err)
	}
	nextCode(t, ctx, posted, "call me again, after going back", "")
}
