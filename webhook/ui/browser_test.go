package ui

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

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

// TestCodeJSInBrowser runs code.js in a real browser: pasting a whole
// caller number keeps its last N digits and auto-submits the form; the
// resend countdown is live.
func TestCodeJSInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := findChromium()
	if bin == "" {
		t.Skip("no chromium on PATH")
	}
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	posted := make(chan url.Values, 1)
	mux := http.NewServeMux()
	mux.Handle(r.AssetPrefix(), r.Assets())
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		posted <- req.PostForm
		_, _ = w.Write([]byte("<!doctype html><title>done</title>"))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, req *http.Request) {
		s := CodeStep{Lang: "en", PhoneMasked: "+7 900 ***-**-67", CodeLength: 4, ResendAfter: time.Now().Add(5 * time.Second),
			ExpiresAt: time.Now().Add(5 * time.Minute), FormAction: "/submit", HiddenFields: map[string]string{"csrf_token": "tok"}}
		body, err := r.CodeStepHTML(s)
		if err != nil {
			t.Error(err)
		}
		var b bytes.Buffer
		_ = r.Page(&b, PageData{Title: "t", Lang: "en", Body: body})
		_, _ = w.Write(b.Bytes())
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// The first Run starts the browser and must not carry a timeout (chromedp).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	label := func() (string, bool) {
		l, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("[data-cp-resend]")))
		if err != nil {
			t.Fatal(err)
		}
		d, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("[data-cp-resend]").disabled`))
		if err != nil {
			t.Fatal(err)
		}
		return l, d
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#cp-code"))); err != nil {
		t.Fatal(err)
	}
	label1, disabled1 := label()
	if err := chromedp.Do(ctx, chromedp.Sleep(5500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	label2, disabled2 := label()
	_, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){
			var dt = new DataTransfer(); dt.setData("text/plain", "+7 495 123-46-10");
			var el = document.getElementById("cp-code");
			el.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
			return el.value; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if label1 != "Call me again in 0:05" && label1 != "Call me again in 0:04" || !disabled1 {
		t.Errorf("countdown start: %q disabled=%v", label1, disabled1)
	}
	if label2 != "Call me again" || disabled2 {
		t.Errorf("countdown end: %q disabled=%v", label2, disabled2)
	}
	select {
	case form := <-posted:
		if form.Get("code") != "4610" || form.Get("csrf_token") != "tok" {
			t.Errorf("auto-submitted %v", form)
		}
	case <-ctx.Done():
		t.Fatal("pasting a full number did not auto-submit")
	}
}
