package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestMain removes the example binaries the browser tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if exampleBins.dir != "" {
		_ = os.RemoveAll(exampleBins.dir)
	}
	os.Exit(code)
}

// guard bounds a browser test's wait for what must come (a page, a text, a
// call on the virtual phone) and each browser action: a bound on a hang,
// not a time limit. A loaded 2-core CI machine is about three times slower
// than a quiet one, and Kratos, the service, both examples and Chromium
// share it.
const guard = time.Minute

// repoRoot is the module root: the e2e package runs in <root>/e2e.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(wd)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod above %s", wd)
	}
	return root
}

// exampleBins builds examples/ui and examples/app once per test binary:
// both are package main, so they run as real subprocesses, as in the demo.
var exampleBins struct {
	once sync.Once
	dir  string
	err  error
}

func buildExamples(t testing.TB) (ui, app string) {
	t.Helper()
	exampleBins.once.Do(func() {
		dir, err := os.MkdirTemp("", "callpass-e2e-bin-")
		if err != nil {
			exampleBins.err = err
			return
		}
		exampleBins.dir = dir
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./examples/ui", "./examples/app")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			exampleBins.err = fmt.Errorf("go build examples: %v\n%s", err, out)
		}
	})
	if exampleBins.err != nil {
		t.Fatal(exampleBins.err)
	}
	return filepath.Join(exampleBins.dir, "ui"), filepath.Join(exampleBins.dir, "app")
}

// startProcess runs bin until the test ends (SIGTERM, then SIGKILL) and
// waits until health answers 200. Its output is shown if the test failed.
func startProcess(t testing.TB, name, bin string, args []string, health string) {
	t.Helper()
	var out testenv.LogBuffer
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("%s did not stop on SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, out.String())
		}
	})
	deadline := time.Now().Add(guard)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("%s exited: %s", name, out.String())
		default:
		}
		if resp, err := http.Get(health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not healthy at %s: %s", name, health, out.String())
}

// webStack is the demo stack on free ports: Kratos (all three hooks on), the
// service in process (dev mode, simulator), examples/ui and examples/app.
type webStack struct {
	Kratos  *testenv.Kratos
	Service *service
	UI      string // http://127.0.0.1:port
	App     string
}

func startWebStack(t *testing.T, env ...string) *webStack {
	t.Helper()
	uiBin, appBin := buildExamples(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := "http://" + ln.Addr().String()
	ws := &webStack{UI: "http://" + testenv.FreeAddr(t), App: "http://" + testenv.FreeAddr(t)}
	hook := func(path string, parse bool) testenv.KratosHook {
		return testenv.KratosHook{URL: svc + path, Secret: webhookSecret, Parse: parse}
	}
	ws.Kratos = testenv.StartKratos(t, testenv.KratosOptions{
		UIURL:            ws.UI,
		LoginHook:        hook("/hooks/kratos/login", false),
		RegistrationHook: hook("/hooks/kratos/registration", true),
		RegisteredHook:   hook("/hooks/kratos/registered", false),
		SettingsHook:     hook("/hooks/kratos/settings", true),
	})
	cfg := append([]string{
		"SERVE_LISTEN=" + ln.Addr().String(),
		"SERVE_BASE_URL=" + svc,
		"SERVE_ALLOWED_ORIGINS=" + ws.UI + "," + svc,
		"KRATOS_PUBLIC_URL=" + ws.Kratos.PublicURL,
		"KRATOS_ADMIN_URL=" + ws.Kratos.AdminURL,
		"WEBHOOK_SECRET=" + webhookSecret,
		"DEV_DATA_DIR=" + t.TempDir(),
		"SIM_SETTLE_DELAY=300ms",
		"LOG_LEVEL=warn",
	}, env...)
	ws.Service = startService(t, ln, cfg, false, "")
	startProcess(t, "examples/ui", uiBin, []string{
		"--listen", strings.TrimPrefix(ws.UI, "http://"),
		"--kratos-public", ws.Kratos.PublicURL, "--kratos-browser-url", ws.Kratos.PublicURL,
		"--app-url", ws.App, "--callpass-url", svc, "--ui-url", ws.UI,
	}, ws.UI+"/healthz")
	startProcess(t, "examples/app", appBin, []string{
		"--listen", strings.TrimPrefix(ws.App, "http://"),
		"--jwks", svc + "/.well-known/jwks.json", "--issuer", svc, "--audience", "callpass-kratos",
		"--login-url", ws.UI + "/welcome",
	}, ws.App+"/healthz")
	return ws
}

// chromiumPath finds Debian's chromium. A missing browser fails the test,
// except for a developer's quick `go test -short` outside CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, c := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "" && testing.Short() {
		t.Skip("chromium not installed (run scripts/install-deps.sh); skipped in -short outside CI")
	}
	t.Fatal("chromium not found: run scripts/install-deps.sh")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile and returns the
// browser context; each tab() made from it is an isolated cookie jar.
func newBrowser(t *testing.T, lang string) context.Context {
	t.Helper()
	bin := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	// The first action starts the browser; it must not carry a timeout.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// page is one tab plus where its screenshots go.
type page struct {
	t    *testing.T
	ctx  context.Context
	name string
	n    int
}

// newPage opens a tab in a new browser context (its own cookies).
func newPage(t *testing.T, browser context.Context, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	return &page{t: t, ctx: ctx, name: name}
}

// sibling opens another tab in the same browser context (same cookies), as
// a user opens the virtual phone page next to the sign-in page.
func (p *page) sibling(name string) *page {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	p.t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		p.t.Fatal(err)
	}
	return &page{t: p.t, ctx: ctx, name: name}
}

func (p *page) timeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, guard)
}

func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := p.timeout()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.shot("FAILED-" + slug(what))
		p.t.Fatalf("%s: %v (url %s)", what, err, p.url())
	}
}

func (p *page) url() string {
	ctx, cancel := p.timeout()
	defer cancel()
	u, _ := chromedp.Run(ctx, chromedp.Location())
	return u
}

func (p *page) text(sel string) string {
	p.t.Helper()
	ctx, cancel := p.timeout()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		p.shot("FAILED-text")
		p.t.Fatalf("text of %s: %v (url %s)", sel, err, p.url())
	}
	return strings.TrimSpace(s)
}

func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := p.timeout()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// typeCode types a code into the code step and sends it as a user does.
// code.js sends most codes by itself, at their last digit or after 2 s,
// but one where a phone number's group ends (a trunk prefix and an area
// code: 8495…, 7999…) waits for Confirm. Confirm is pressed in one script, only while this page
// still holds the typed code and no post is on its way: a code that went by
// itself is never sent twice, and the next page's empty field is never
// submitted. Its error is ignored for the same reason (the page may already
// be leaving); a code that was not sent fails the caller's next wait.
func typeCode(code string) chromedp.Action[chromedp.Void] {
	send := chromedp.SendKeys(chromedp.CSS("#cp-code"), code)
	confirm := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(function () {
		var f = document.getElementById("cp-code"), b = document.querySelector("[data-cp-submit]");
		if (f && b && f.value === %q && !b.disabled && b.getAttribute("aria-busy") !== "true") { b.click(); }
	})()`, code))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := send(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		_, _ = confirm(ctx, t)
		return chromedp.Void{}, nil
	}
}

// navigate runs actions that leave the page (a click on a link or a
// submit button, typing the last code digit) and waits for the next page
// to load, so later checks never read the old one.
func (p *page) navigate(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	eval[bool](p, `window.__cpOld = true`)
	p.do(what, actions...)
	deadline := time.Now().Add(guard)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		fresh, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!window.__cpOld && document.readyState === "complete"`))
		cancel()
		if err == nil && fresh {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.shot("FAILED-" + slug(what))
	p.t.Fatalf("%s: no new page loaded (still %s)", what, p.url())
}

// waitText waits until the page body contains s.
func (p *page) waitText(s string) {
	p.t.Helper()
	deadline := time.Now().Add(guard)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		cancel()
		if err == nil && strings.Contains(body, s) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.shot("FAILED-waittext")
	body := eval[string](p, `document.body ? document.body.innerText : ""`)
	p.t.Fatalf("page %s never showed %q; it shows:\n%s", p.url(), s, body)
}

// shot saves a full-page screenshot as testout/e2e/<name>-<nn>-<step>.png.
func (p *page) shot(step string) {
	p.t.Helper()
	p.n++
	ctx, cancel := p.timeout()
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Errorf("screenshot %s: %v", step, err)
		return
	}
	dir := filepath.Join(repoRoot(p.t), "testout", "e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%02d-%s.png", p.name, p.n, slug(step)))
	if err := os.WriteFile(path, img, 0o644); err != nil {
		p.t.Fatal(err)
	}
	if !bytes.HasPrefix(img, []byte("\x89PNG")) {
		p.t.Errorf("screenshot %s is not a PNG", path)
	}
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// phoneCode opens the virtual phone page for dn in a tab next to p, waits
// for call number nth (1 = the first call ever to dn) and reads the
// highlighted last digits off the page, as the user would.
func phoneCode(t *testing.T, p *page, simURL, dn string, nth int) string {
	t.Helper()
	ph := p.sibling(p.name + "-phone")
	ph.name = p.name
	ph.n = p.n
	ph.do("open the virtual phone", chromedp.Navigate(simURL+"/sim/phone?dn="+dn))
	sel := fmt.Sprintf(`section.phone[data-dn="%s"] li`, dn)
	deadline := time.Now().Add(guard)
	for eval[int](ph, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)) < nth {
		if time.Now().After(deadline) {
			ph.shot("FAILED-no-call")
			t.Fatalf("call %d to %s never showed on the virtual phone", nth, dn)
		}
		time.Sleep(200 * time.Millisecond)
	}
	code := ph.text(sel + ":first-child .num mark")
	ph.shot("virtual-phone")
	p.n = ph.n
	code = strings.NewReplacer("-", "", " ", "").Replace(code)
	if len(code) != 4 {
		t.Fatalf("virtual phone shows code %q, want 4 digits", code)
	}
	return code
}
