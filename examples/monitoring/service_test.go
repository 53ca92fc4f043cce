package monitoring_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/app"
	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
)

// This file runs the real service in-process (app.New in --dev mode,
// generated keys) against the CallPass simulator served on a port of its
// own, as the provider is in production (mounted in the service, the
// simulator's answers would be the service's requests, in its metrics), and
// drives it through Kratos's login web hook the way
// examples/kratos/hooks/login.jsonnet calls it, then scrapes its /metrics
// endpoint.

const hookSecret = "monitoring-webhook-secret-0123456789abcdef0123"

// Message ids of the login hook's answers (webhook/ui/catalogue.go).
const (
	msgCalling     = 1090001 // challenge started: "We are calling ..."
	msgNoCall      = 4090009 // the provider could not place the call
	msgUnavailable = 4090010 // the store is down: fails closed
	msgLimit       = 4090004 // a limit refused the call
)

// quietRedis drops go-redis's own log lines: the redis-down scenario makes
// it log every failed dial, which the scenario causes on purpose and the
// service's metrics count.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietRedis{}) }

type service struct {
	t      *testing.T
	url    string
	app    *app.App
	sim    *sim.Simulator // the CallPass the service calls
	client *http.Client
	env    []string // the configuration, for a restart
	stop   func()   // stops the running app
	// With a real Kratos (scenario.kratos): the links to its public and
	// admin APIs, and a session token of an identity it knows.
	public, admin *kratosLink
	session       string
}

// simToken is the CallPass token the service sends and the simulator takes.
const simToken = "0123456789abcdef0123456789abcdef"

// simTiming is how long the simulated CallPass takes. The zero value
// answers at once.
type simTiming struct {
	// settle is how long a call lasts: a synchronous start waits for it
	// (the call rings, then ends); default 1 ms.
	settle time.Duration
	// startDelay holds every start request that long before the simulator
	// sees it: a provider slow to answer.
	startDelay time.Duration
}

// startSim serves a CallPass simulator on a loopback port until the test
// ends: the simulated phone answers (at once unless timing says otherwise),
// and a number without a script rings (the healthy case).
func startSim(t *testing.T, timing simTiming) (*sim.Simulator, string) {
	t.Helper()
	settle := cmp.Or(timing.settle, time.Millisecond)
	sm, err := sim.New(sim.Config{Tokens: []string{simToken}, SettleDelay: settle, DefaultOutcome: sim.OutcomeAnswered})
	if err != nil {
		t.Fatal(err)
	}
	h := sm.Handler()
	if d := timing.startDelay; d > 0 {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "start-call-password") {
				time.Sleep(d)
			}
			inner.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { sm.Close(); srv.Close() })
	return sm, srv.URL
}

// startService wires the service with app.New from env (on top of the dev
// defaults below) and serves it on a loopback port until the test ends.
func startService(t *testing.T, env []string) *service {
	t.Helper()
	return startServiceWith(t, env, simTiming{})
}

// startServiceWith is startService with the simulated CallPass's timing.
func startServiceWith(t *testing.T, env []string, timing simTiming) *service {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sm, simURL := startSim(t, timing)
	s := &service{t: t, url: base, sim: sm, client: &http.Client{Timeout: 15 * time.Second}}
	s.env = append([]string{
		"SERVE_LISTEN=" + ln.Addr().String(),
		"SERVE_BASE_URL=" + base,
		"WEBHOOK_SECRET=" + hookSecret,
		"DEV_DATA_DIR=" + t.TempDir(),
		"LOG_LEVEL=error",
		"CALLPASS_BASE_URL=" + simURL,
		"CALLPASS_TOKEN=" + simToken,
	}, env...)
	s.boot(ln)
	t.Cleanup(func() { s.stop() }) // the app running at the end
	return s
}

// boot builds the app from s.env and serves it on ln until stop.
func (s *service) boot(ln net.Listener) {
	t := s.t
	t.Helper()
	cfg, _, err := config.Load("", s.env, true)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	if a.Sim != nil {
		t.Fatal("the service mounted the built-in simulator: its answers would be counted as the service's requests")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeListener(ctx, ln) }()
	s.app = a
	s.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("service did not stop")
		}
		_ = a.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := s.client.Get(s.url + "/health/alive"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("service not alive after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restart stops the service and starts it again with the same
// configuration and address, as a deploy or a crash does: its counters
// start again from 0.
func (s *service) restart() {
	s.t.Helper()
	s.stop()
	ln, err := net.Listen("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.boot(ln)
}

// userSeq makes every user's identity, number and address unique in the
// process, so the per-number, per-identity and per-IP limits stay out of
// the way unless a scenario aims at them.
var userSeq atomic.Int64

// user is one login: a Kratos flow of one identity with its number.
type user struct {
	flow, identity, phone, ip string
	authAt                    time.Time
}

func newUser() *user {
	n := userSeq.Add(1)
	return &user{
		flow: uuid.NewString(), identity: uuid.NewString(),
		phone: fmt.Sprintf("+7900%07d", n),
		ip:    fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255),
		// Kratos sends the session's authenticated_at: now.
		authAt: time.Now().UTC().Truncate(time.Millisecond),
	}
}

// again is a new login flow of the same identity and number.
func (u *user) again() *user {
	c := *u
	c.flow = uuid.NewString()
	c.authAt = time.Now().UTC().Truncate(time.Millisecond)
	return &c
}

// body is the login hook's body as examples/kratos/hooks/login.jsonnet
// renders it (the code, when the user entered one, in transient_payload).
func (u *user) body(code string) []byte {
	tp := map[string]any{}
	if code != "" {
		tp["callpass_code"] = code
	}
	b, _ := json.Marshal(map[string]any{
		"flow_id": u.flow, "flow_type": "api", "identity_id": u.identity,
		"traits":            map[string]any{"email": u.identity + "@example.com", "phone": u.phone},
		"metadata_public":   nil,
		"transient_payload": tp,
		"session": map[string]any{"authenticated_at": u.authAt, "expires_at": u.authAt.Add(24 * time.Hour),
			"aal": "aal1"},
		"client_ip":       u.ip,
		"accept_language": "en",
	})
	return b
}

// hook posts one login hook call with the given secret and returns the
// status and the first message id of an interrupt or refusal (0 for none).
func (s *service) hook(u *user, code, secret string) (int, int64) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/hooks/kratos/login", bytes.NewReader(u.body(code)))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("login hook: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Messages []struct {
			Messages []struct {
				ID int64 `json:"id"`
			} `json:"messages"`
		} `json:"messages"`
	}
	if json.Unmarshal(raw, &out) == nil && len(out.Messages) > 0 && len(out.Messages[0].Messages) > 0 {
		return resp.StatusCode, out.Messages[0].Messages[0].ID
	}
	return resp.StatusCode, 0
}

// start runs the hook without a code (the password step just succeeded) and
// fails the test unless the answer is the message want.
func (s *service) start(u *user, want int64) {
	s.t.Helper()
	if st, id := s.hook(u, "", hookSecret); id != want {
		s.t.Fatalf("login hook start: %d, message %d, want message %d", st, id, want)
	}
}

// code is the code the simulated phone showed for u's newest call.
func (s *service) code(u *user) string {
	s.t.Helper()
	calls := s.sim.Calls(strings.TrimPrefix(u.phone, "+"))
	if len(calls) == 0 {
		s.t.Fatalf("no simulated call to %s", u.phone)
	}
	return calls[0].Code4
}

// login is a healthy login: a call is placed, the user types the right code
// and the hook lets the login through.
func (s *service) login() {
	s.t.Helper()
	u := newUser()
	s.start(u, msgCalling)
	if st, id := s.hook(u, s.code(u), hookSecret); st != http.StatusOK {
		s.t.Fatalf("login hook with the right code: %d, message %d", st, id)
	}
}

// failedCall is a login whose call the provider fails (HTTP 500 from the
// simulated CallPass): the user sees 4090009.
func (s *service) failedCall() {
	s.t.Helper()
	u := newUser()
	s.sim.Script(strings.TrimPrefix(u.phone, "+"), sim.OutcomeServerError)
	s.start(u, msgNoCall)
}

// wrongCode returns a code of the same length that differs from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// guess starts a challenge for u and enters a wrong code n times.
func (s *service) guess(u *user, n int) {
	s.t.Helper()
	s.start(u, msgCalling)
	bad := wrongCode(s.code(u))
	for range n {
		if st, _ := s.hook(u, bad, hookSecret); st == http.StatusOK {
			s.t.Fatal("a wrong code was let through")
		}
	}
}

// probe is a hook call without the right secret (someone probing the
// endpoint, or Kratos's web_hook auth not matching webhook.secret).
func (s *service) probe() {
	s.t.Helper()
	if st, _ := s.hook(newUser(), "", "not-the-secret-0123456789abcdef0123456789"); st != http.StatusUnauthorized {
		s.t.Fatalf("hook with a wrong secret: %d, want 401", st)
	}
}

// scrape reads /metrics as Prometheus would and returns every callpass_
// sample by its series (name{labels}, exactly as exposed) with its value.
func (s *service) scrape() map[string]string {
	s.t.Helper()
	resp, err := s.client.Get(s.url + "/metrics")
	if err != nil {
		s.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("scrape: %d", resp.StatusCode)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "callpass_") {
			continue // comments, go_* and process_*
		}
		// The text format is `series value` (client_golang writes no
		// timestamps): the value follows the last space (a label value
		// may hold spaces, the value cannot).
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			s.t.Fatalf("scrape: bad line %q", line)
		}
		if _, err := strconv.ParseFloat(line[i+1:], 64); err != nil {
			s.t.Fatalf("scrape: bad value in %q", line)
		}
		out[line[:i]] = line[i+1:]
	}
	if err := sc.Err(); err != nil {
		s.t.Fatalf("scrape: %v", err)
	}
	return out
}

// inputSeries turns successive scrapes into promtool input series: scrape i
// is the sample at i × the test's interval. A series missing from a scrape
// (not yet created: client_golang exports a labelled counter only from its
// first increment) is `_`, no sample, as Prometheus would have stored it.
func inputSeries(scrapes []map[string]string) []map[string]string {
	names := map[string]bool{}
	for _, sc := range scrapes {
		for k := range sc {
			names[k] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	out := make([]map[string]string, 0, len(sorted))
	for _, k := range sorted {
		vals := make([]string, len(scrapes))
		for i, sc := range scrapes {
			if v, ok := sc[k]; ok {
				vals[i] = v
			} else {
				vals[i] = "_"
			}
		}
		out = append(out, map[string]string{"series": k, "values": strings.Join(vals, " ")})
	}
	return out
}
