package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/callpass-kratos/callpass-kratos/internal/app"
	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

const (
	webhookSecret = "bench-webhook-secret-0123456789abcdef0123456789"
	password      = "correct-horse-battery-staple-42"
	// huge raises a limit out of the way of a benchmark that needs many calls.
	huge = "1000000000"
)

// raisedLimits lifts every call limit and the attempts per challenge, so a
// run of many starts and wrong codes measures the path, not the refusal.
// docs/benchmarks.md says which scenario runs with them.
var raisedLimits = []string{
	"LIMITS_PER_NUMBER_LIMIT=" + huge, "LIMITS_PER_IDENTITY_LIMIT=" + huge,
	"LIMITS_PER_IP_LIMIT=" + huge, "LIMITS_GLOBAL_DAILY_LIMIT=" + huge,
	"CHALLENGE_MAX_ATTEMPTS=" + huge,
}

// instance is one callpass-kratos service served on loopback.
type instance struct {
	Name string
	URL  string
	App  *app.App
}

// listen reserves a loopback port (Kratos needs the hook URL before the
// service can be configured with Kratos's URLs).
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startInstance wires the real service with app.New (--dev: built-in
// simulator, generated keys) and serves it on ln. extra runs before
// serving, e.g. to mount a route.
func startInstance(t testing.TB, name string, ln net.Listener, env []string, extra func(*app.App)) *instance {
	t.Helper()
	base := "http://" + ln.Addr().String()
	full := append([]string{
		"SERVE_LISTEN=" + ln.Addr().String(),
		"SERVE_BASE_URL=" + base,
		"WEBHOOK_SECRET=" + webhookSecret,
		"DEV_DATA_DIR=" + t.TempDir(),
		"LOG_LEVEL=error",
		// The simulated phone answers at once.
		"SIM_SETTLE_DELAY=1ms",
		"SIM_DEFAULT_OUTCOME=answered",
	}, env...)
	cfg, _, err := config.Load("", full, true)
	if err != nil {
		t.Fatalf("%s: config: %v", name, err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("%s: app: %v", name, err)
	}
	if extra != nil {
		extra(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeListener(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop", name)
		}
		_ = a.Close()
	})
	waitOK(t, base+"/health/alive")
	return &instance{Name: name, URL: base, App: a}
}

func waitOK(t testing.TB, u string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready", u)
}

// phoneSeq makes every generated number unique within the process.
var phoneSeq atomic.Int64

// newPhone returns a fresh Russian mobile number in E.164.
func newPhone() string { return fmt.Sprintf("+7900%07d", phoneSeq.Add(1)) }

// dn is the simulator's spelling of an E.164 number.
func dn(e164 string) string { return strings.TrimPrefix(e164, "+") }

// loginHook is one login hook call as examples/kratos/hooks/login.jsonnet renders it.
type loginHook struct {
	Flow, Identity, Phone, Code, ClientIP string
	AuthAt                                time.Time
}

func newLoginHook() loginHook {
	return loginHook{Flow: uuid.NewString(), Identity: uuid.NewString(), Phone: newPhone(),
		ClientIP: "203.0.113.7", AuthAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func (h loginHook) body() []byte {
	tp := map[string]any{}
	if h.Code != "" {
		tp["callpass_code"] = h.Code
	}
	b, _ := json.Marshal(map[string]any{
		"flow_id": h.Flow, "flow_type": "api", "identity_id": h.Identity,
		"traits":            map[string]any{"email": h.Identity + "@example.com", "phone": h.Phone},
		"metadata_public":   nil,
		"transient_payload": tp,
		"session": map[string]any{"authenticated_at": h.AuthAt, "expires_at": h.AuthAt.Add(24 * time.Hour),
			"aal": "aal1"},
		"client_ip":       h.ClientIP,
		"accept_language": "en",
	})
	return b
}

var hookHeader = http.Header{
	"Authorization": {"Bearer " + webhookSecret},
	"Content-Type":  {"application/json"},
}

func (in *instance) hookTarget(h loginHook) vegeta.Target {
	return vegeta.Target{Method: http.MethodPost, URL: in.URL + "/hooks/kratos/login", Body: h.body(), Header: hookHeader}
}

// client is the keep-alive client the setup code uses.
var client = &http.Client{
	Timeout:   15 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
}

func do(ctx context.Context, method, u string, body []byte, hdr http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// interruptID returns the first message id (and its challenge_id) of a hook's
// interrupt answer.
func interruptID(body []byte) (int64, string) {
	var out struct {
		Messages []struct {
			Messages []struct {
				ID      int64 `json:"id"`
				Context struct {
					ChallengeID string `json:"challenge_id"`
				} `json:"context"`
			} `json:"messages"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &out) != nil || len(out.Messages) == 0 || len(out.Messages[0].Messages) == 0 {
		return 0, ""
	}
	m := out.Messages[0].Messages[0]
	return m.ID, m.Context.ChallengeID
}

// parallel runs f(i) for i in [0,n) on workers goroutines and returns the
// first error.
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// pendingLogin is a login challenge started through the hook, with the code
// the simulated phone showed.
type pendingLogin struct {
	Hook        loginHook
	ChallengeID string
}

// startLogins starts n login challenges through the real hook (each its own
// flow, identity and number) and reads every code from the simulator, in
// batches the simulator's call ring (10 000) keeps.
func (in *instance) startLogins(t testing.TB, n int) []pendingLogin {
	t.Helper()
	ctx := context.Background()
	out := make([]pendingLogin, 0, n)
	for done := 0; done < n; {
		batch := min(n-done, 8000)
		part := make([]pendingLogin, batch)
		err := parallel(batch, 8, func(i int) error {
			h := newLoginHook()
			st, body, err := do(ctx, http.MethodPost, in.URL+"/hooks/kratos/login", h.body(), hookHeader)
			if err != nil {
				return err
			}
			id, cid := interruptID(body)
			if st != http.StatusBadRequest || id != 1090001 {
				return fmt.Errorf("hook start: %d %s", st, body)
			}
			part[i] = pendingLogin{Hook: h, ChallengeID: cid}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", in.Name, err)
		}
		codes := map[string]string{}
		for _, c := range in.App.Sim.Calls("") { // newest first
			if _, ok := codes[c.DN]; !ok {
				codes[c.DN] = c.Code4
			}
		}
		for i := range part {
			code, ok := codes[dn(part[i].Hook.Phone)]
			if !ok {
				t.Fatalf("%s: no simulated call to a started number", in.Name)
			}
			part[i].Hook.Code = code
		}
		out = append(out, part...)
		done += batch
	}
	return out
}

// wrongCode returns a code of the same length that differs from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// kratosUser is an identity in a Kratos instance with its own number.
type kratosUser struct {
	Email, Phone, ID string
}

func createUsers(t testing.TB, k *testenv.Kratos, prefix string, n int) []kratosUser {
	t.Helper()
	users := make([]kratosUser, n)
	for i := range users {
		p := newPhone()
		users[i] = kratosUser{Email: fmt.Sprintf("%s-%d@example.com", prefix, i), Phone: p}
		users[i].ID = k.CreateIdentity(t, users[i].Email, password, p)
	}
	return users
}

// session is a Kratos API session of a user.
type session struct {
	User  kratosUser
	Token string
}

// loginSessions logs every user in perUser times (API flow, no hook).
func loginSessions(t testing.TB, k *testenv.Kratos, users []kratosUser, perUser int) []session {
	t.Helper()
	out := make([]session, len(users)*perUser)
	// Kratos's in-memory SQLite (testenv) refuses concurrent writes ("Could not
	// update flow", "table is locked"): log in one at a time, and repeat a
	// login that still hit one.
	err := parallel(len(out), 1, func(i int) error {
		u := users[i%len(users)]
		var last string
		for range 5 {
			r, err := k.APILogin(context.Background(), u.Email, password, nil)
			if err != nil {
				return err
			}
			if r.SessionToken != "" {
				out[i] = session{User: u, Token: r.SessionToken}
				return nil
			}
			last = fmt.Sprintf("%d %s", r.StatusCode, r.Body)
		}
		return fmt.Errorf("login %s: no session: %s", u.Email, last)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pendingStepUp is a step-up challenge started through POST /v1/challenges.
type pendingStepUp struct {
	Session     session
	ChallengeID string
	Code        string
}

// startStepUps starts one step-up challenge per session through the real API
// (whoami, simulator call) and reads its code. Sessions of one user are
// started one after the other so the newest call to the number is theirs.
func (in *instance) startStepUps(t testing.TB, sessions []session) []pendingStepUp {
	t.Helper()
	byUser := map[string][]int{}
	var users []string
	for i, s := range sessions {
		if _, ok := byUser[s.User.ID]; !ok {
			users = append(users, s.User.ID)
		}
		byUser[s.User.ID] = append(byUser[s.User.ID], i)
	}
	out := make([]pendingStepUp, len(sessions))
	err := parallel(len(users), 8, func(ui int) error {
		for _, i := range byUser[users[ui]] {
			s := sessions[i]
			st, body, err := do(context.Background(), http.MethodPost, in.URL+"/v1/challenges", []byte(`{}`),
				http.Header{"X-Session-Token": {s.Token}, "Content-Type": {"application/json"}})
			if err != nil {
				return err
			}
			var v struct {
				ID string `json:"challenge_id"`
			}
			if st != http.StatusCreated || json.Unmarshal(body, &v) != nil {
				return fmt.Errorf("%s: step-up start: %d %s", in.Name, st, body)
			}
			calls := in.App.Sim.Calls(dn(s.User.Phone))
			if len(calls) == 0 {
				return fmt.Errorf("%s: no simulated call", in.Name)
			}
			out[i] = pendingStepUp{Session: s, ChallengeID: v.ID, Code: calls[0].Code4}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (in *instance) verifyTarget(p pendingStepUp, code string) vegeta.Target {
	b, _ := json.Marshal(map[string]string{"code": code})
	return vegeta.Target{Method: http.MethodPost, URL: in.URL + "/v1/challenges/" + p.ChallengeID + "/verify", Body: b,
		Header: http.Header{"X-Session-Token": {p.Session.Token}, "Content-Type": {"application/json"}}}
}
