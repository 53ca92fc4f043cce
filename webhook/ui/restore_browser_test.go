package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestRestoredCodeClearedInBrowser: when the browser goes back to a code
// step without its back/forward cache (a page that set a cookie, a full
// cache, the cache off), it loads the page again and puts back what the
// field held: the code already sent. The next code typed was appended to
// it and code.js sent the last digits of both ("1111" then "4610" sent
// "1114"), a wrong code costing an attempt. The field is now empty again,
// the old code is not sent again, and a new code goes as usual.
func TestRestoredCodeClearedInBrowser(t *testing.T) {
	ctx := startBrowser(t, chromedp.Flag("disable-back-forward-cache", true))

	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	posted := make(chan url.Values, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		posted <- req.PostForm
		http.Redirect(w, req, "/wrong", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /wrong", func(w http.ResponseWriter, req *http.Request) {
		_, _ = w.Write([]byte("<!doctype html><title>wrong</title>Wrong code"))
	})
	handleStepPage(t, r, mux, func() CodeStep {
		return CodeStep{Lang: "en", CodeLength: 4, ExpiresAt: time.Now().Add(5 * time.Minute), FormAction: "/submit"}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-code")),
		chromedp.SendKeys(chromedp.CSS("#cp-code"), "1111")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-posted:
	case <-time.After(5 * time.Second):
		t.Fatal("the typed code was not sent")
	}
	waitForJS(t, ctx, "the wrong-code page", `document.title === "wrong"`)
	evalJS(t, ctx, `setTimeout(() => history.back(), 0), ""`) // after the answer: a navigation while Evaluate waits for it fails it ("Inspected target navigated or closed")
	waitForJS(t, ctx, "the code step again", `document.title === "t" && document.readyState === "complete" && !!document.getElementById("cp-code")`)
	select {
	case form := <-posted:
		t.Fatalf("going back sent %q again", form.Get("code"))
	case <-time.After(2 * time.Second):
	}
	if v := evalJS(t, ctx, `document.getElementById("cp-code").value`); v != "" {
		t.Errorf("the field holds the sent code %q again", v)
	}
	// The page still works: a new code goes at its last digit.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#cp-code"), "4610")); err != nil {
		t.Fatal(err)
	}
	select {
	case form := <-posted:
		if form.Get("code") != "4610" {
			t.Errorf("posted %q, want 4610", form.Get("code"))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a new code was not sent")
	}
}
