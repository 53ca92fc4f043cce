package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/redis/go-redis/v9"
)

// providerProxy sits between the service and the simulator: it counts start
// requests per number and, for numbers marked for reset, reads the request
// and then resets the TCP connection without answering.
type providerProxy struct {
	URL    string
	target atomic.Value // string: the simulator's base URL
	mu     sync.Mutex
	reset  map[string]bool
	starts map[string]int
}

func startProviderProxy(t *testing.T) *providerProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &providerProxy{URL: "http://" + ln.Addr().String(), reset: map[string]bool{}, starts: map[string]int{}}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *providerProxy) setReset(dn string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reset[dn] = on
}

func (p *providerProxy) startsFor(dn string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts[dn]
}

func (p *providerProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	dn := ""
	if strings.Contains(r.URL.Path, "start-call") {
		form, _ := url.ParseQuery(string(body))
		dn = form.Get("dn")
	}
	p.mu.Lock()
	if dn != "" {
		p.starts[dn]++
	}
	reset := p.reset[dn]
	p.mu.Unlock()
	if reset {
		// The whole request was read; now the peer vanishes (RST, no answer).
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
		return
	}
	target, _ := p.target.Load().(string)
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), strings.NewReader(string(body)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// TestFaultProviderFailures: the provider is slow past the client's timeout,
// answers 5xx, answers an HTML error page, or resets the connection after
// reading the request. Each time the user gets 4090009, exactly one start
// request reached the provider (no blind retry of a possibly paid call), and
// nothing is left half-written: no challenge exists for the flow, so the
// same flow's next submit places a fresh call at once (no cooldown, no
// phantom "call on its way") and its code yields a session.
func TestFaultProviderFailures(t *testing.T) {
	proxy := startProviderProxy(t)
	st := startStack(t, stackOptions{Redis: true, Env: []string{
		"CALLPASS_BASE_URL=" + proxy.URL + "/", "SIM_ENABLED=true",
	}})
	sim := st.Services[0].URL
	proxy.target.Store(sim)

	cases := []struct {
		name, dn, simOutcome string
		reset                bool
	}{
		{name: "slow", dn: "79002220001", simOutcome: "slow"},
		{name: "server_error", dn: "79002220002", simOutcome: "server_error"},
		{name: "html_error", dn: "79002220003", simOutcome: "html_error"},
		{name: "connection_reset", dn: "79002220004", reset: true},
	}
	for _, c := range cases {
		// One case at a time: testenv's Kratos runs on an in-memory SQLite
		// that refuses concurrent writes ("database table is locked").
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			email := c.name + "@example.com"
			identity := st.Kratos.CreateIdentity(t, email, testPassword, "+"+c.dn)
			if c.reset {
				proxy.setReset(c.dn, true)
			} else {
				setSimScript(t, sim, c.dn, c.simOutcome)
			}

			started := time.Now()
			r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.SessionToken != "" {
				t.Fatal("a session was issued although no call was placed")
			}
			m, ok := r.Message(msgProvider)
			if !ok || m.Type != "error" || m.Text == "" {
				t.Fatalf("want error message %d with a text, got HTTP %d %v: %s", msgProvider, r.StatusCode, ids(r), r.Body)
			}
			t.Logf("%s: answered in %s: %q", c.name, time.Since(started).Round(time.Millisecond), m.Text)
			if n := proxy.startsFor(c.dn); n != 1 {
				t.Errorf("%d start requests reached the provider, want exactly 1", n)
			}
			wantSim := 1
			if c.reset {
				wantSim = 0 // the proxy never forwarded it
			}
			if n := simRequests(t, sim, c.dn); n != wantSim {
				t.Errorf("simulator counted %d start requests, want %d", n, wantSim)
			}
			tag := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: identity, FlowID: r.FlowID}.Tag()
			for _, e := range dumpRedis(t, st.Redis.Addr) {
				if strings.Contains(e.Key, "{"+tag+"}") {
					t.Errorf("a failed start left state behind: %s", e)
				}
			}

			// The provider is healthy again; the same flow goes on normally.
			if c.reset {
				proxy.setReset(c.dn, false)
			} else {
				setSimScript(t, sim, c.dn, "")
			}
			r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			m, ok = r.Message(msgCalling)
			if !ok {
				t.Fatalf("resubmit after the fault: want %d, got %v: %s", msgCalling, ids(r), r.Body)
			}
			if messageContext(t, m)["placed"] != true {
				t.Errorf("resubmit after the fault did not place a call (a half-written challenge?): %v", messageContext(t, m))
			}
			r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": lastCode(t, sim, c.dn)})
			if err != nil {
				t.Fatal(err)
			}
			if r.SessionToken == "" {
				t.Fatalf("right code after recovery: no session (%v) %s", ids(r), r.Body)
			}
			if n := proxy.startsFor(c.dn); n != 2 {
				t.Errorf("%d start requests in all, want 2 (the failed one and the retry)", n)
			}
		})
	}
}

// TestFaultRedisStopped: Redis goes away between requests, or in the middle
// of one, and comes back; the service fails closed and recovers by itself.
func TestFaultRedisStopped(t *testing.T) {
	t.Run("between_requests", redisStoppedBetweenRequests)
	t.Run("mid_request", redisStoppedMidRequest)
}

// redisStoppedBetweenRequests: logins, code checks, step-up and token
// exchange fail closed with a clear message and place no call while Redis
// is down; when Redis is back the service recovers by itself.
func redisStoppedBetweenRequests(t *testing.T) {
	st := startStack(t, stackOptions{Redis: true})
	ctx := context.Background()
	svc := st.Services[0].URL
	const (
		emailA, dnA = "anton@example.com", "79003330001"
		emailB, dnB = "bella@example.com", "79003330002"
		emailC, dnC = "clara@example.com", "79003330003"
	)
	st.Kratos.CreateIdentity(t, emailA, testPassword, "+"+dnA)
	st.Kratos.CreateIdentity(t, emailB, testPassword, "+"+dnB)
	st.Kratos.CreateIdentity(t, emailC, testPassword, "+"+dnC)

	// A holds a gated session; B is half-way through a login.
	tokA, err := loginWithCode(t, st, emailA, dnA)
	if err != nil {
		t.Fatal(err)
	}
	authA := map[string]string{"X-Session-Token": tokA}
	if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, authA); status != http.StatusOK {
		t.Fatalf("token before the fault: %d %v", status, body)
	}
	rB, err := st.Kratos.APILogin(ctx, emailB, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	codeB := lastCode(t, svc, dnB)

	st.Redis.Stop()

	r, err := st.Kratos.SubmitAPILogin(ctx, rB.FlowID, emailB, testPassword, map[string]any{"callpass_code": codeB})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken != "" {
		t.Fatal("the right code gave a session while the store was down (fail open)")
	}
	if m, ok := r.Message(msgUnavailable); !ok || m.Text == "" {
		t.Errorf("code while Redis is down: want %d, got %v: %s", msgUnavailable, ids(r), r.Body)
	}
	r, err = st.Kratos.APILogin(ctx, emailC, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(msgUnavailable); !ok || r.SessionToken != "" {
		t.Errorf("new login while Redis is down: want %d and no session, got %v: %s", msgUnavailable, ids(r), r.Body)
	}
	if n := simRequests(t, svc, dnC); n != 0 {
		t.Errorf("a call was placed while the store was down (%d requests): it could never be verified", n)
	}
	for _, path := range []string{"/v1/token", "/v1/challenges"} {
		status, body := postJSON(t, http.MethodPost, svc+path, nil, authA)
		if status != http.StatusServiceUnavailable || body["error"] != "store_unavailable" || body["message"] == "" || body["access_token"] != nil {
			t.Errorf("%s while Redis is down: %d %v, want 503 store_unavailable with a message and no token", path, status, body)
		}
	}
	if n := simRequests(t, svc, dnA); n != 1 {
		t.Errorf("step-up placed a call while the store was down (%d requests for A)", n)
	}
	if status, _ := postJSON(t, http.MethodGet, svc+"/health/ready", nil, nil); status != http.StatusServiceUnavailable {
		t.Errorf("/health/ready while Redis is down: %d, want 503", status)
	}

	st.Redis.Start()
	waitReady(t, svc)
	// Redis came back empty (no persistence in this test): B's pending
	// challenge is gone, so B asks for a new call and logs in.
	if _, err := loginWithCode(t, st, emailB, dnB); err != nil {
		t.Errorf("login after recovery: %v", err)
	}
	if _, err := loginWithCode(t, st, emailC, dnC); err != nil {
		t.Errorf("login after recovery: %v", err)
	}
	// A's gate pass was lost with the data; a step-up renews it.
	status, ch := postJSON(t, http.MethodPost, svc+"/v1/challenges", nil, authA)
	if status != http.StatusCreated {
		t.Fatalf("step-up after recovery: %d %v", status, ch)
	}
	status, v := postJSON(t, http.MethodPost, svc+"/v1/challenges/"+ch["challenge_id"].(string)+"/verify",
		map[string]string{"code": lastCode(t, svc, dnA)}, authA)
	if status != http.StatusOK || v["access_token"] == nil {
		t.Fatalf("step-up verify after recovery: %d %v", status, v)
	}
	if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, authA); status != http.StatusOK {
		t.Errorf("token after recovery: %d %v", status, body)
	}
}

// redisStoppedMidRequest: Redis dies after the provider placed the call and
// before the challenge is stored. The user gets 4090010 and no session (a
// call the store never recorded can never be verified), nothing of the
// identity is left half-written, and once Redis is back the same flow
// places a fresh call and its code logs in.
func redisStoppedMidRequest(t *testing.T) {
	// A synchronous start holds the hook on the provider for the settle
	// delay: that is the window in which Redis is stopped (and saves its
	// snapshot), 5 s for a loaded machine (2 s was short).
	st := startStack(t, stackOptions{Redis: true, Env: []string{
		"CALLPASS_API_VERSION=1", "SIM_SETTLE_DELAY=5s", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s",
	}})
	ctx := context.Background()
	svc := st.Services[0].URL
	const email, dn = "mid@example.com", "79003330004"
	identity := st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)

	// testenv's Redis keeps nothing on disk, so a restart alone would hide
	// anything written before the stop. With a save point it snapshots on
	// shutdown and loads the snapshot on start.
	rdb := redis.NewClient(&redis.Options{Addr: st.Redis.Addr})
	err := rdb.ConfigSet(ctx, "save", "3600 1").Err()
	rdb.Close()
	if err != nil {
		t.Fatalf("CONFIG SET save: %v", err)
	}

	type login struct {
		r   *testenv.FlowResult
		err error
	}
	done := make(chan login, 1)
	go func() {
		r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
		done <- login{r, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for simRequests(t, svc, dn) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the hook's start request never reached the provider")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st.Redis.Stop()

	var l login
	select {
	case l = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("no login answer 30s after Redis stopped")
	}
	if l.err != nil {
		t.Fatal(l.err)
	}
	r := l.r
	if r.SessionToken != "" {
		t.Fatal("a session was issued although the challenge could not be stored")
	}
	if m, ok := r.Message(msgUnavailable); !ok || m.Text == "" {
		t.Fatalf("Redis died mid-request: want %d, got HTTP %d %v: %s", msgUnavailable, r.StatusCode, ids(r), r.Body)
	}

	st.Redis.Start()
	waitReady(t, svc)
	dump := dumpRedis(t, st.Redis.Addr)
	if len(dump) == 0 {
		// The limit counters taken before the call must have survived.
		t.Fatal("Redis came back empty: the snapshot did not work, the check below proves nothing")
	}
	tag := challenge.IdentityTag(identity)
	prdb := redis.NewClient(&redis.Options{Addr: st.Redis.Addr})
	defer prdb.Close()
	for _, e := range dump {
		if !strings.Contains(e.Key, "{"+tag+"}") {
			continue
		}
		// The interrupted start's lease on the flow (taken before the call,
		// its release cut by the outage) is a lock, not state: it may stay
		// only for its short TTL, and the resubmit below must not wait on
		// it for long.
		if strings.HasSuffix(e.Key, ":s") && e.Type == "string" {
			if left, err := prdb.PTTL(ctx, e.Key).Result(); err == nil && left > 0 && left <= 5*time.Second {
				continue
			}
		}
		t.Errorf("the failed store left state behind: %s", e)
	}

	// The same flow recovers: a fresh call, and its code logs in.
	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := r.Message(msgCalling)
	if !ok {
		t.Fatalf("resubmit after Redis came back: want %d, got %v: %s", msgCalling, ids(r), r.Body)
	}
	if messageContext(t, m)["placed"] != true {
		t.Errorf("resubmit after Redis came back did not place a call: %v", messageContext(t, m))
	}
	if n := simRequests(t, svc, dn); n != 2 {
		t.Errorf("%d start requests in all, want 2 (the unrecorded call and the fresh one)", n)
	}
	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": lastCode(t, svc, dn)})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken == "" {
		t.Fatalf("right code after recovery: no session (%v) %s", ids(r), r.Body)
	}
}

// TestFaultKratosUnreachable: Kratos refuses connections, or accepts them
// and never answers. The step-up API and /v1/token answer 503
// kratos_unavailable quickly, issue nothing and place no call.
func TestFaultKratosUnreachable(t *testing.T) {
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hang.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})

	for _, k := range []struct{ name, url string }{
		{"refused", "http://" + closedAddr(t)},
		{"hanging", "http://" + hang.Addr().String()},
	} {
		t.Run(k.name, func(t *testing.T) {
			svc := startSolo(t, soloOptions{KratosURL: k.url, Env: []string{"KRATOS_TIMEOUT=1s", "SERVE_ALLOWED_ORIGINS=http://app.example"}})
			token := map[string]string{"X-Session-Token": "ory_st_0123456789abcdef"}
			cookie := map[string]string{"Cookie": "ory_kratos_session=abc", "Origin": "http://app.example"}
			for _, r := range []struct {
				method, path string
				body         any
				hdr          map[string]string
			}{
				{http.MethodPost, "/v1/token", nil, token},
				{http.MethodPost, "/v1/token", nil, cookie},
				{http.MethodPost, "/v1/challenges", map[string]any{}, token},
				{http.MethodPost, "/v1/challenges", map[string]any{"resend": true}, cookie},
				{http.MethodGet, "/v1/challenges/abc.0123456789", nil, token},
				{http.MethodPost, "/v1/challenges/abc.0123456789/verify", map[string]string{"code": "1234"}, token},
			} {
				started := time.Now()
				status, body := postJSON(t, r.method, svc.URL+r.path, r.body, r.hdr)
				took := time.Since(started)
				if status != http.StatusServiceUnavailable || body["error"] != "kratos_unavailable" || body["message"] == "" {
					t.Errorf("%s %s: %d %v, want 503 kratos_unavailable with a message", r.method, r.path, status, body)
				}
				if body["access_token"] != nil || body["challenge_id"] != nil {
					t.Errorf("%s %s issued something: %v", r.method, r.path, body)
				}
				if took > 5*time.Second {
					t.Errorf("%s %s took %s with a 1s Kratos timeout", r.method, r.path, took)
				}
			}
			if n := simRequests(t, svc.URL, ""); n != 0 {
				t.Errorf("%d calls placed without a session", n)
			}
			if n := metricSum(t, svc, "callpass_tokens_issued_total", nil); n != 0 {
				t.Errorf("%v tokens issued", n)
			}
		})
	}
}

// TestFaultSIGTERMDuringLoad runs the real binary, keeps login hooks in
// flight (each waits on a synchronous provider start that the simulator
// holds for its settle delay) and sends SIGTERM: the listener closes at
// once, every in-flight hook still places its call and answers "enter the
// code", and the process exits 0. With Redis, the challenges those hooks
// answered with are in Redis after the exit: nothing was lost in shutdown.
func TestFaultSIGTERMDuringLoad(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "callpass-kratos")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./cmd/callpass-kratos")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) { sigtermDuringHooks(t, bin, store) })
	}
}

func sigtermDuringHooks(t *testing.T, bin, store string) {
	addr := closedAddr(t)
	base := "http://" + addr
	dataDir := filepath.Join(t.TempDir(), "dev")
	env := []string{
		"SERVE_LISTEN=" + addr, "SERVE_BASE_URL=" + base, "DEV_DATA_DIR=" + dataDir,
		// The hooks are held 5 s: the listener must close before the first
		// ends, and a loaded machine takes its time between the first
		// hook's arrival and the signal (2 s was short).
		"SIM_SETTLE_DELAY=5s", "CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s", "LOG_LEVEL=info", "SERVE_SHUTDOWN_TIMEOUT=25s",
		"STORE_TYPE=" + store,
	}
	var rd *testenv.Redis
	if store == "redis" {
		rd = testenv.StartRedis(t)
		env = append(env, "STORE_REDIS_URL=redis://"+rd.Addr+"/0")
	}
	cmd := exec.Command(bin, "serve", "--dev")
	cmd.Env = append(os.Environ(), env...)
	var logs testenv.LogBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	waitHTTP(t, base+"/health/alive")
	// --dev generated the webhook secret; Kratos would read it from there too.
	hc := &hookClient{base: base, hc: &http.Client{Timeout: 30 * time.Second, Transport: hookAuth{
		secret: devSecret(t, dataDir, "webhook_secret"),
		// One connection per hook: none can ride an idle keep-alive
		// connection past the closed listener.
		rt: &http.Transport{DisableKeepAlives: true},
	}}}

	const inflight = 8
	type result struct {
		call hookCall
		a    hookAnswer
		err  error
		done time.Time
	}
	results := make(chan result, inflight)
	for i := 0; i < inflight; i++ {
		h := hookCall{FlowID: newID(), IdentityID: newID(), Phone: fmt.Sprintf("+7900444000%d", i),
			ClientIP: fmt.Sprintf("203.0.113.%d", i+1)}
		go func() {
			a, err := hc.call(h)
			results <- result{call: h, a: a, err: err, done: time.Now()}
		}()
	}
	// Every hook has passed its checks and waits on the provider.
	deadline := time.Now().Add(10 * time.Second)
	for simRequests(t, base, "") < inflight {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d hooks reached the provider", simRequests(t, base, ""), inflight)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	var refusedAt time.Time
	for time.Since(signalled) < 5*time.Second {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			refusedAt = time.Now()
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if refusedAt.IsZero() {
		t.Error("new connections were still accepted 5s after SIGTERM")
	}

	firstDone := time.Time{}
	var answered []result
	for i := 0; i < inflight; i++ {
		r := <-results
		if r.err != nil || r.a.ID != msgCalling || r.a.Ctx["placed"] != true || r.a.Ctx["challenge_id"] == nil {
			t.Errorf("in-flight hook for %s: %v, HTTP %d message %d %v, want %d with a placed call",
				r.call.Phone, r.err, r.a.Status, r.a.ID, r.a.Ctx, msgCalling)
		} else {
			answered = append(answered, r)
		}
		if firstDone.IsZero() || r.done.Before(firstDone) {
			firstDone = r.done
		}
	}
	if !refusedAt.IsZero() && !refusedAt.Before(firstDone) {
		t.Errorf("the listener closed at %s, only after the first in-flight hook finished at %s",
			refusedAt.Sub(signalled), firstDone.Sub(signalled))
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("process exit: %v, want exit status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the process did not exit within 20s of SIGTERM")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("the log does not say it is shutting down")
	}

	if rd == nil {
		return // the memory store ends with the process by design
	}
	// The process is gone: whatever it answered with must already be stored.
	keys := map[string]string{}
	for _, e := range dumpRedis(t, rd.Addr) {
		keys[e.Key] = e.Type
	}
	for _, r := range answered {
		id := r.a.Ctx["challenge_id"].(string)
		tag := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: r.call.IdentityID, FlowID: r.call.FlowID}.Tag()
		if k := "callpass:{" + tag + "}:c:" + id; keys[k] != "hash" {
			t.Errorf("challenge %s of an in-flight hook is not in Redis after the exit (%s: %q)", id, k, keys[k])
		}
	}
}

// hookAuth sends hooks with a given secret (hookClient's is the stack's).
type hookAuth struct {
	secret string
	rt     http.RoundTripper
}

func (a hookAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+a.secret)
	return a.rt.RoundTrip(r)
}

func devSecret(t *testing.T, dir, field string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, config.DevSecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil || m[field] == "" {
		t.Fatalf("dev secrets: no %s (%v)", field, err)
	}
	return m[field]
}

// TestFaultHookSecretMismatch: when Kratos and the service disagree on the
// web-hook secret (a deployment mistake), the login is refused (no session)
// and the real Kratos shows the user the service's "unavailable" message
// instead of a generic error page; no call is placed.
func TestFaultHookSecretMismatch(t *testing.T) {
	st := startStack(t, stackOptions{Env: []string{"WEBHOOK_SECRET=another-secret-0123456789abcdef0123456789"}})
	ctx := context.Background()
	const dn = "79005550101"
	email := "mismatch@example.com"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken != "" {
		t.Fatal("a session was issued although the hook refused Kratos's secret")
	}
	if _, ok := r.Message(4090010); !ok {
		t.Fatalf("want Kratos to show message 4090010, got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	if n := simRequests(t, st.Services[0].URL, dn); n != 0 {
		t.Errorf("%d calls placed for a refused hook", n)
	}
}

// waitReady waits until the service at svc reports ready again (after its
// Redis came back), failing t after 15 s.
func waitReady(t *testing.T, svc string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _ := postJSON(t, http.MethodGet, svc+"/health/ready", nil, nil)
		if status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health/ready still %d 15s after Redis came back", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
