package metrics_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// TestHungStoreIsAnError: result="canceled" must not hide a store that
// hangs. With Redis stalled (CLIENT PAUSE: connected, never answering) and
// every client hanging up before the store's 1 s read timeout, an
// operation already sent still ends with that timeout, whatever its
// caller did, and counts result="error", which CallPassStoreErrors pages
// on. The store's own client options are used (redisstore.ClientOptions).
func TestHungStoreIsAnError(t *testing.T) {
	r := testenv.StartRedis(t)
	opts, err := redisstore.ClientOptions("redis://" + r.Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	rs := redisstore.New(rdb, "hung-test:")
	id := challenge.NewID(challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "id-1", FlowID: "flow-1"})
	if err := rs.Ping(context.Background()); err != nil { // a pooled connection
		t.Fatal(err)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	t.Cleanup(func() { admin.Close() })

	for _, tt := range []struct {
		op   string
		call func(ctx context.Context) error
	}{
		{"ping", rs.Ping},
		{"get", func(ctx context.Context) error { _, err := rs.Get(ctx, id); return err }},
	} {
		t.Run(tt.op, func(t *testing.T) {
			// The pause outlasts the read timeout by 3 s: the operation below
			// must be sent within that on a loaded machine, or the answer
			// after the pause would look like the store's (500 ms was short).
			const pause = 4 * time.Second
			if err := admin.Do(context.Background(), "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
				t.Fatal(err)
			}
			// Let the pause end before the next case; UNPAUSE would wait too.
			ends := time.Now().Add(pause + 100*time.Millisecond)
			t.Cleanup(func() { time.Sleep(time.Until(ends)) })
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel) // the client hangs up
			start := time.Now()
			err := tt.call(ctx)
			took := time.Since(start)
			if err == nil {
				t.Fatal("a stalled Redis answered")
			}
			m := metrics.New()
			m.ObserveStore(tt.op, err, took)
			got := storeResults(t, m, tt.op)
			if got["error"] != 1 || got["canceled"] != 0 {
				t.Errorf("%v after %v: results %v, want one error", err, took, got)
			}
			if took > 3*time.Second { // 1 s expected, the pause 4 s
				t.Errorf("the operation took %v: the store's timeouts did not bound it", took)
			}
		})
	}
}

func storeResults(t *testing.T, m *metrics.Metrics, op string) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "callpass_store_operations_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			var o, res string
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "op":
					o = l.GetValue()
				case "result":
					res = l.GetValue()
				}
			}
			if o == op {
				got[res] += s.GetCounter().GetValue()
			}
		}
	}
	return got
}
