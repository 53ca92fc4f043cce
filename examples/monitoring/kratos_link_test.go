package monitoring_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// Link states of kratosLink.
const (
	linkUp   int32 = iota // relays to the real Kratos
	linkDown              // closes every connection at once (Kratos stopped, a network policy)
	linkHung              // accepts and holds every connection, never answering (Kratos stalled)
)

// kratosLink is a TCP relay between the service and a real Kratos API, the
// fault it puts in the way set by set. Changing the state closes every
// connection relayed or held, so the service's next request dials again and
// meets the new state.
type kratosLink struct {
	t      *testing.T
	ln     net.Listener
	target string
	state  atomic.Int32

	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newKratosLink(t *testing.T, target string) *kratosLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &kratosLink{t: t, ln: ln, target: strings.TrimPrefix(target, "http://"), conns: map[net.Conn]bool{}}
	go l.serve()
	t.Cleanup(func() { _ = ln.Close(); l.closeAll() })
	return l
}

// URL is the Kratos API's URL through the link.
func (l *kratosLink) URL() string { return "http://" + l.ln.Addr().String() }

func (l *kratosLink) set(state int32) {
	l.state.Store(state)
	l.closeAll()
}

func (l *kratosLink) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		return false
	}
	l.conns[c] = true
	return true
}

func (l *kratosLink) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Close()
		delete(l.conns, c)
	}
}

func (l *kratosLink) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		switch l.state.Load() {
		case linkDown:
			_ = c.Close()
		case linkHung:
			l.track(c)
			go func() { _, _ = io.Copy(io.Discard, c) }() // read, never answer
		default:
			go l.relay(c)
		}
	}
}

func (l *kratosLink) relay(c net.Conn) {
	k, err := net.Dial("tcp", l.target)
	if err != nil {
		_ = c.Close()
		return
	}
	l.track(c)
	l.track(k)
	go func() { _, _ = io.Copy(k, c); _ = k.Close() }()
	_, _ = io.Copy(c, k)
	_ = c.Close()
}

// startKratos starts the real Kratos the scenarios that need one share
// (starting it takes seconds), each through links of its own; nil when no
// scenario needs it.
func startKratos(t *testing.T, scenarios []scenario) *testenv.Kratos {
	t.Helper()
	for _, sc := range scenarios {
		if sc.kratos {
			return testenv.StartKratos(t, testenv.KratosOptions{})
		}
	}
	return nil
}

// kratosEnv links the service to k and returns the configuration naming
// the links, and a session token of a fresh identity.
func kratosEnv(t *testing.T, k *testenv.Kratos) (env []string, public, admin *kratosLink, session string) {
	t.Helper()
	u := newUser()
	email := u.identity + "@example.com"
	k.CreateIdentity(t, email, "a-password-of-the-test-0123", u.phone)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := k.APILogin(ctx, email, "a-password-of-the-test-0123", nil)
	if err != nil || res.SessionToken == "" {
		t.Fatalf("Kratos login: %v (status %d)", err, res.StatusCode)
	}
	public, admin = newKratosLink(t, k.PublicURL), newKratosLink(t, k.AdminURL)
	return []string{"KRATOS_PUBLIC_URL=" + public.URL(), "KRATOS_ADMIN_URL=" + admin.URL()}, public, admin, res.SessionToken
}

// exchange posts the session token to /v1/token, as an app does, and
// returns the status; wait bounds the caller's patience (0: the client's
// 15 s), and a caller that gave up gets 0.
func (s *service) exchange(wait time.Duration) (int, error) {
	ctx := context.Background()
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/token", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Session-Token", s.session)
	resp, err := s.client.Do(req)
	if errors.Is(err, context.DeadlineExceeded) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// tokens runs n token exchanges at once, each giving up after wait (0: never
// before the client's timeout), and fails the test unless each status is
// one ok accepts (0: the caller gave up).
func (s *service) tokens(n int, wait time.Duration, ok func(status int) bool) {
	s.t.Helper()
	type answer struct {
		status int
		err    error
	}
	got := make(chan answer, n)
	for range n {
		go func() {
			st, err := s.exchange(wait)
			got <- answer{st, err}
		}()
	}
	for range n {
		if a := <-got; a.err != nil || !ok(a.status) {
			s.t.Fatalf("POST /v1/token: %d, %v (0: the caller gave up)", a.status, a.err)
		}
	}
}

// Statuses of a token exchange: Kratos answered the session check (the
// token, or a refusal of the session, such as a missing second factor);
// the service could not ask Kratos (503); the caller gave up first.
func kratosAnswered(st int) bool { return st != 0 && st < 500 }
func kratosFailed(st int) bool   { return st == http.StatusServiceUnavailable }
func callerGaveUp(st int) bool   { return st == 0 }
