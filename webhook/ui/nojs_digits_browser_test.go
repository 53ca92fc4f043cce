package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestOtherDigitsWithoutJSInBrowser: without JavaScript, a code typed with
// an IME's fullwidth digits ("４６１０"), or Arabic-Indic or Persian ones,
// was refused by the field's pattern (ASCII digits only) with the
// browser's bare "match the requested format", though the server reads
// them as digits (challenge's foldDigits). The field now takes what the
// server folds, fullwidth separators of a pasted number included; what it
// still refuses (letters) is explained in the page's language (title).
func TestOtherDigitsWithoutJSInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	// Served by hand, not by stepSite: the page's language comes from the
	// query, and the component goes without code.js.
	mux := http.NewServeMux()
	posted := make(chan url.Values, 8)
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		posted <- req.PostForm
		titled("done", "")(w, req)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		lang := req.URL.Query().Get("lang")
		body, err := r.CodeStepHTML(CodeStep{Lang: lang, CodeLength: 4, FormAction: "/submit"})
		if err != nil {
			t.Error(err)
		}
		// The component alone: no code.js, as in a browser without JavaScript.
		_, _ = w.Write([]byte("<!doctype html><html lang=" + lang + "><meta charset=utf-8><title>t</title><body>" + string(body) + "</body></html>"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, code := range []string{"４６１０", "٤٦١٠", "۴۶۱۰", "＋７ （４９５） １２３－４６－１０", "+7\u3000495\u3000123-46-10"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?lang=ru"), chromedp.WaitVisible(chromedp.CSS("#cp-code")),
			chromedp.Focus(chromedp.CSS("#cp-code"))); err != nil {
			t.Fatal(err)
		}
		if err := insertText(ctx, code); err != nil { // an IME's commit
			t.Fatal(err)
		}
		if msg := evalJS(t, ctx, `document.getElementById("cp-code").validationMessage`); msg != "" {
			t.Errorf("%q: refused without JavaScript: %q", code, msg)
			continue
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("[data-cp-submit]"))); err != nil {
			t.Fatal(err)
		}
		select {
		case form := <-posted:
			if form.Get("code") != code {
				t.Errorf("posted %q, want %q as typed", form.Get("code"), code)
			}
		case <-ctx.Done():
			t.Fatalf("%q: the form was not submitted", code)
		}
		// The post's page must have loaded: a navigation begun while it
		// was still loading was aborted (net::ERR_ABORTED) on a loaded
		// machine.
		waitForJS(t, ctx, "the answer", `document.title === "done"`)
	}

	// Letters are still refused, and the title the browser adds to its
	// message says what the field wants in the page's language.
	for lang, want := range map[string]string{"ru": "Только цифры", "en": "Digits only"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?lang="+lang), chromedp.WaitVisible(chromedp.CSS("#cp-code")),
			chromedp.Focus(chromedp.CSS("#cp-code"))); err != nil {
			t.Fatal(err)
		}
		if err := insertText(ctx, "46a10"); err != nil {
			t.Fatal(err)
		}
		// Chromium shows the title under its own message in the bubble
		// (validationMessage holds only its own words).
		got := evalJS(t, ctx, `(function () { var e = document.getElementById("cp-code");
			return e.validity.patternMismatch ? e.title : "accepted"; })()`)
		if !strings.Contains(got, want) {
			t.Errorf("%s: %q: the field's title is %q, want it to say %q", lang, "46a10", got, want)
		}
	}
}

// TestCodePatternTakesTheServersSpaces: without JavaScript the field's
// pattern decides what is posted, and it must take what the server reads
// as a code (challenge's foldDigits, then unicode.IsSpace as a separator)
// and refuse the rest. Its \s was JavaScript's, which takes U+FEFF (a
// zero-width no-break space a paste can carry) that the server does not
// read, so such a code went and was counted a wrong code; and it refused
// U+0085, which the server reads as a space.
func TestCodePatternTakesTheServersSpaces(t *testing.T) {
	ctx := startBrowser(t)
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		body, err := r.CodeStepHTML(CodeStep{Lang: "en", CodeLength: 4, FormAction: "/submit"})
		if err != nil {
			t.Error(err)
		}
		_, _ = w.Write([]byte("<!doctype html><html lang=en><meta charset=utf-8><title>t</title><body>" + string(body) + "</body></html>"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-code"))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		code string
		// take: the server reads it as the code 4610.
		take bool
	}{
		{"4610", true},
		{"46 10", true},
		{"46\u00a010", true},
		{"46\u202f10", true},
		{"46\u205f10", true},
		{"46\u300010", true},
		{"46\t10", true},
		{"46\u008510", true},
		{"4610\ufeff", false},
		{"\ufeff4610", false},
		{"46\u200b10", false},
		{"46a10", false},
	}
	for _, tt := range tests {
		got := evalJS(t, ctx, `(function (s) { var e = document.getElementById("cp-code"); e.value = s;
			return e.validity.patternMismatch ? "refused" : "taken"; })(`+strconv.QuoteToASCII(tt.code)+`)`)
		if want := map[bool]string{true: "taken", false: "refused"}[tt.take]; got != want {
			t.Errorf("%q: %s by the pattern, want %s (as the server reads it)", tt.code, got, want)
		}
	}
}
