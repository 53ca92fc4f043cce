package bench

import (
	"context"
	"net/http"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
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
