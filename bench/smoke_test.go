package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestSmoke runs the harness briefly against the baseline and an in-memory
// service (no Kratos): a start, a verify and a wrong code through the real
// login hook. It keeps the harness compiling and honest, not fast.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a service")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bare, err := ServeBare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mem := startInstance(t, "mem", listen(t), raisedLimits, nil)
	pending := mem.startLogins(t, 40)

	verify := make([]vegeta.Target, 0, 20)
	for _, p := range pending[:20] {
		verify = append(verify, mem.hookTarget(p.Hook))
	}
	var wrong []vegeta.Target
	for _, p := range pending[20:] {
		h := p.Hook
		h.Code = wrongCode(h.Code)
		wrong = append(wrong, mem.hookTarget(h))
	}
	starts := make([]vegeta.Target, 30)
	for i := range starts {
		starts[i] = mem.hookTarget(newLoginHook())
	}
	isMsg := func(id int64) func([]byte) bool {
		return func(b []byte) bool { got, _ := interruptID(b); return got == id }
	}
	d := 300 * time.Millisecond
	for _, sc := range []Scenario{
		{Name: "bare", Targeter: RoundRobin([]vegeta.Target{{Method: http.MethodGet, URL: bare + "/bare"}}), Expect: 200},
		{Name: "hook-verify", Targeter: NewPool(verify).Targeter(), Expect: 200},
		{Name: "hook-wrong", Targeter: RoundRobin(wrong), Expect: 400, Check: isMsg(4090001)},
		{Name: "hook-start", Targeter: NewPool(starts).Targeter(), Expect: 400, Check: isMsg(1090001)},
	} {
		sc.Workers, sc.Duration = 2, d
		r, err := Run(ctx, sc)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(r)
		if r.OK == 0 || r.Unexpected != 0 || r.RPS <= 0 || r.P50 <= 0 {
			t.Errorf("%s: %d ok, %d unexpected (%s)", sc.Name, r.OK, r.Unexpected, r.Sample)
		}
	}
	// A used code is refused: the verify pool really consumed its challenges.
	st, body, err := do(ctx, http.MethodPost, mem.URL+"/hooks/kratos/login", pending[0].Hook.body(), hookHeader)
	if err != nil {
		t.Fatal(err)
	}
	if st != http.StatusBadRequest {
		t.Errorf("a verified code was accepted again: %d %s", st, body)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{[]time.Duration{ms(5)}, 99, ms(5)},
		{[]time.Duration{ms(4), ms(1), ms(3), ms(2)}, 50, ms(2)},
		{[]time.Duration{ms(4), ms(1), ms(3), ms(2)}, 100, ms(4)},
		{[]time.Duration{ms(10), ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(7), ms(8), ms(9)}, 90, ms(9)},
	}
	for _, tt := range tests {
		if got := Percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.in, tt.p, got, tt.want)
		}
	}
}

// TestRunInterleaved checks that scenarios really alternate slice by slice
// (a, b, a, b, a, b — never overlapping) and that each result adds up its
// own slices only.
func TestRunInterleaved(t *testing.T) {
	var mu sync.Mutex
	var order []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/b" {
			w.WriteHeader(http.StatusTeapot) // b's answers are all unexpected
		}
	}))
	defer srv.Close()
	a := Scenario{Name: "a", Expect: 200, Workers: 2, Duration: 300 * time.Millisecond,
		Targeter: RoundRobin([]vegeta.Target{{Method: http.MethodGet, URL: srv.URL + "/a"}})}
	b := a
	b.Name, b.Targeter = "b", RoundRobin([]vegeta.Target{{Method: http.MethodGet, URL: srv.URL + "/b"}})
	betweens := 0
	var events []string // Before of b, between: Before must come first
	b.Before = func() { events = append(events, "before-b") }
	res, err := RunInterleaved(context.Background(), 3, func() {
		betweens++
		events = append(events, "between")
	}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Name != "a" || res[1].Name != "b" {
		t.Fatalf("results %v", res)
	}
	var runs []string
	for _, p := range order {
		if len(runs) == 0 || runs[len(runs)-1] != p {
			runs = append(runs, p)
		}
	}
	if want := []string{"/a", "/b", "/a", "/b", "/a", "/b"}; !slices.Equal(runs, want) {
		t.Errorf("request order in runs %v, want %v", runs, want)
	}
	if betweens != 6 {
		t.Errorf("between ran %d times, want 6", betweens)
	}
	if want := strings.Repeat("between before-b between ", 3); strings.Join(events, " ")+" " != want {
		t.Errorf("events %v, want %s", events, want)
	}
	na := 0
	for _, p := range order {
		if p == "/a" {
			na++
		}
	}
	if res[0].Requests != na || res[0].OK != na || res[0].Unexpected != 0 || res[0].RPS <= 0 {
		t.Errorf("a: %+v, server saw %d", res[0], na)
	}
	if res[1].Requests != len(order)-na || res[1].OK != 0 || res[1].Unexpected != res[1].Requests || res[1].RPS != 0 {
		t.Errorf("b: %+v, server saw %d", res[1], len(order)-na)
	}
	if res[0].Elapsed < 200*time.Millisecond || res[0].Elapsed > 2*time.Second {
		t.Errorf("a: elapsed %v for 3 slices of 100ms", res[0].Elapsed)
	}
}

// TestBareProxy checks the provider-call ceiling: every request to it makes
// exactly one POST upstream with ProxyBody, and it answers BareBody.
func TestBareProxy(t *testing.T) {
	var hits atomic.Int64
	var got atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r.Method + " " + string(b))
		hits.Add(1)
		w.Write([]byte(`{"status":"success"}`))
	}))
	defer up.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proxy, err := ServeBareProxy(ctx, up.URL, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		st, body, err := do(ctx, http.MethodPost, proxy+"/bare", []byte(`{"ignored":true}`), nil)
		if err != nil || st != http.StatusOK || !bytes.Equal(body, BareBody) {
			t.Fatalf("proxy: %d %s %v", st, body, err)
		}
		if n := hits.Load(); n != int64(i+1) {
			t.Fatalf("after %d requests upstream saw %d", i+1, n)
		}
	}
	if g := got.Load(); g != "POST "+ProxyBody {
		t.Fatalf("upstream got %q", g)
	}
}

// TestBareRedis checks the Redis ceiling: one GET reaches redis-server per
// request, and the answer is BareBody.
func TestBareRedis(t *testing.T) {
	rds := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr})
	defer rdb.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u, err := ServeBareRedis(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		st, body, err := do(ctx, http.MethodPost, u+"/bare", []byte(`{}`), nil)
		if err != nil || st != http.StatusOK || !bytes.Equal(body, BareBody) {
			t.Fatalf("bare redis: %d %s %v", st, body, err)
		}
	}
	if got := commandStats(t, rdb)["get"]; got != 5 {
		t.Fatalf("redis saw %d GETs for 5 requests", got)
	}
}
