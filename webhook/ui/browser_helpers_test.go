package ui

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// guard bounds a browser test's wait for what must happen (a post, a page,
// a state): a bound on a hang, not a time limit. A loaded 2-core CI machine
// is about three times slower than a quiet one, and a post there took longer
// than the 5 s the tests gave it; startBrowser's deadline bounds the test.
const guard = time.Minute

// keyGuard bounds one typing command (Input.insertText or
// Input.imeSetComposition). A key whose input event starts the page's post
// can go unanswered while the page leaves: in two CI runs one such command
// held the test's whole 5-minute guard. A typing helper stops at a command
// that fails or runs past keyGuard, and the test then checks what was
// posted, as it does when a key reaches a page already gone.
const keyGuard = 20 * time.Second

// insertText types text as one Input.insertText (a key, or an IME's
// commit), given up after keyGuard.
func insertText(ctx context.Context, text string) error {
	kctx, cancel := context.WithTimeout(ctx, keyGuard)
	defer cancel()
	_, err := chromedp.Call(kctx, input.InsertText, input.InsertTextParams{Text: text})
	return err
}

// setComposition sets the IME composition to text, the caret at its end,
// given up after keyGuard.
func setComposition(ctx context.Context, text string) error {
	kctx, cancel := context.WithTimeout(ctx, keyGuard)
	defer cancel()
	k := int64(len([]rune(text)))
	_, err := chromedp.Call(kctx, input.ImeSetComposition, input.ImeSetCompositionParams{Text: text, SelectionStart: k, SelectionEnd: k})
	return err
}

// findChromium returns a headless-capable browser or "".
func findChromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts headless Chromium for one test (skipped in -short
// mode or without a browser) and returns a context with a deadline; extra
// options (a flag such as disable-back-forward-cache) go after ours.
func startBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := findChromium()
	if bin == "" {
		t.Skip("no chromium on PATH")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true))
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// The first Run starts the browser and must not carry a timeout (chromedp).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	// A guard against a hung browser, not a time limit: typing tests wait
	// on purpose (code.js's pause, a number held for "Confirm"), and each
	// wait for what must come has its own guard. TestOtherDigitsInBrowser
	// ran past 30 s on a loaded 2-core CI machine, and with two busy loops
	// here TestNumberGroupsInBrowser ran past the 90 s it set itself (136 s).
	ctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// stepSite is what a browser test serves: a code step at "/" whose forms
// post to "/submit", each post's form captured. A test sets only what
// differs from the usual.
type stepSite struct {
	// step is built per request, so its times are fresh; nil: a 4-digit
	// English code step (usualStep).
	step func() CodeStep
	// before runs on every GET of the step, before it is written (a
	// header, a count), and returns HTML put after the step's.
	before func(w http.ResponseWriter, req *http.Request) template.HTML
	// noScript serves the component alone, without code.js: a browser
	// without JavaScript.
	noScript bool
	// answer answers a post once its form is captured; nil: a page titled
	// "done".
	answer http.HandlerFunc
	// pages are other handlers ("GET /wrong"), see titled.
	pages map[string]http.HandlerFunc
}

// usualStep is the code step a stepSite serves unless told otherwise.
func usualStep() CodeStep {
	return CodeStep{Lang: "en", PhoneMasked: "+7 900 ***-**-67", CodeLength: 4,
		ExpiresAt: time.Now().Add(5 * time.Minute), FormAction: "/submit"}
}

// start serves s until the test ends and returns the server and the
// channel each post's form goes to.
func (s stepSite) start(t *testing.T) (*httptest.Server, chan url.Values) {
	t.Helper()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	build := s.step
	if build == nil {
		build = usualStep
	}
	answer := s.answer
	if answer == nil {
		answer = titled("done", "")
	}
	mux := http.NewServeMux()
	posted := make(chan url.Values, 8)
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		posted <- req.PostForm
		answer(w, req)
	})
	mux.Handle(r.AssetPrefix(), r.Assets())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		step := build()
		var after template.HTML
		if s.before != nil {
			after = s.before(w, req)
		}
		body, err := r.CodeStepHTML(step)
		if err != nil {
			t.Error(err)
		}
		body += after
		if s.noScript {
			_, _ = w.Write([]byte("<!doctype html><html lang=en><meta charset=utf-8><title>t</title><body>" + string(body) + "</body></html>"))
			return
		}
		var b bytes.Buffer
		_ = r.Page(&b, PageData{Title: "t", Lang: step.Lang, Body: body})
		_, _ = w.Write(b.Bytes())
	})
	for pattern, h := range s.pages {
		mux.HandleFunc(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, posted
}

// codeStepServer serves the usual code step (stepSite).
func codeStepServer(t *testing.T) (*httptest.Server, chan url.Values) {
	t.Helper()
	return stepSite{}.start(t)
}

// titled answers with a page of that title and text.
func titled(title, text string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		_, _ = w.Write([]byte("<!doctype html><title>" + title + "</title>" + text))
	}
}

// redirectTo answers a post with a redirect (POST-redirect-GET, as /2fa).
func redirectTo(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, path, http.StatusSeeOther)
	}
}

// slowly answers after d, with a page titled "done".
func slowly(d time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(d)
		titled("done", "")(w, req)
	}
}

// open loads the page at u and waits for the code field (code.js, deferred,
// has run by the load chromedp.Navigate waits for).
func open(t *testing.T, ctx context.Context, u string, then ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	actions := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("#cp-code"))}, then...)
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// evalJS evaluates js in the page and returns its string value.
func evalJS(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitForJS waits (up to guard) for the boolean expression js to hold in
// the page; an evaluation that fails (a navigation under way) counts as not
// yet.
func waitForJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	start := time.Now()
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		if time.Since(start) > guard || ctx.Err() != nil {
			t.Fatalf("%s: never happened in %v (the page: %s)", what, time.Since(start).Round(time.Second), pageText(ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pageText is the page's title and text for a failure's message, read even
// when ctx has run out (a bounded read of its own); "" if it cannot be read.
func pageText(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title + " | " + (document.body ? document.body.innerText : "")`))
	return s
}

// nextCode waits (up to guard) for the next post and checks its code
// ("": none, a new call asked for). what says what sent it.
func nextCode(t *testing.T, ctx context.Context, posted <-chan url.Values, what, code string) {
	t.Helper()
	select {
	case form := <-posted:
		if form.Get("code") != code {
			t.Errorf("%s: posted %q, want %q", what, form.Get("code"), code)
		}
	case <-time.After(guard):
		t.Fatalf("%s: nothing posted within %v; the field shows %q", what, guard,
			evalJS(t, ctx, `(function () { var f = document.getElementById("cp-code"); return f ? f.value : "(no field)"; })()`))
	}
}

// wantCode is nextCode, then a wait for the answer's page ("done"): the
// next navigation must not cut it off.
func wantCode(t *testing.T, ctx context.Context, posted <-chan url.Values, what, code string) {
	t.Helper()
	nextCode(t, ctx, posted, what, code)
	waitForJS(t, ctx, what+": the answer", `document.title === "done"`)
}

// inPage waits until a timer the page sets now has fired: at least d of the
// page's own time. Timers fire in the order of their deadlines, so every
// timer code.js set before with a delay up to d (its PAUSE, a countdown's
// tick) has had its turn, however slow a loaded machine makes the page. An
// error is the page gone (a navigation) before the timer fired.
func inPage(ctx context.Context, d time.Duration) error {
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		fmt.Sprintf(`new Promise(function (r) { setTimeout(function () { r(true); }, %d); })`, d.Milliseconds()), chromedp.EvalAwaitPromise))
	return err
}

// codeGone is true in a code step whose code or "Call me again" has gone
// (code.js marks them as it posts): a post on its way to the server.
const codeGone = `(!!document.querySelector('[data-cp-submit][aria-busy="true"]') || !!document.querySelector("[data-cp-resend-form][data-sent]"))`

// noPostFor fails the test if anything is posted within d, measured both
// here and by the page (a timer of its own, as inPage): a check that
// nothing happened must not pass because a slow page had not yet come to
// do it. The page is read in the timer's own turn, before any later timer
// (code.js's PAUSE, if d is shorter) has run: a code on its way then, or
// the page gone meanwhile, is a post, and what came is reported. what says
// what was expected not to send.
func noPostFor(t *testing.T, ctx context.Context, posted <-chan url.Values, d time.Duration, what string) {
	t.Helper()
	type result struct {
		gone bool
		err  error
	}
	page := make(chan result, 1)
	go func() {
		gone, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
			`new Promise(function (r) { setTimeout(function () { r(%s); }, %d); })`, codeGone, d.Milliseconds()), chromedp.EvalAwaitPromise))
		page <- result{gone, err}
	}()
	wall := time.After(d)
	var res result
	for waiting := 2; waiting > 0; {
		select {
		case form := <-posted:
			t.Fatalf("%s: posted %v", what, form)
		case <-wall:
			wall = nil
			waiting--
		case res = <-page:
			waiting--
		}
	}
	if res.gone || res.err != nil {
		select {
		case form := <-posted:
			t.Fatalf("%s: posted %v", what, form)
		case <-time.After(guard):
			t.Fatalf("%s: the page left or began a post within %v (%v), and nothing came", what, d, res.err)
		}
	}
}
