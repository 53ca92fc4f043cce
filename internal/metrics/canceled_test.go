package metrics_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// TestCanceledIsNoDependencyError: a request whose client hung up (its
// context canceled) before or while the service asked the store or Kratos
// fails with context.Canceled. That is the client's doing, not the store's
// nor Kratos's: counted result="canceled", it leaves result="error", which
// CallPassStoreErrors pages on, alone (a flood of aborted requests paged
// as if Redis were down). A deadline that passes is a dependency too slow
// and stays an error.
func TestCanceledIsNoDependencyError(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	rs := redisstore.New(rdb, "canceled-test:")
	id := challenge.NewID(challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "id-1", FlowID: "flow-1"})
	ms := memory.New(time.Minute)
	kc, err := kratos.New(kratos.Config{PublicURL: "http://127.0.0.1:1", AdminURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	tests := []struct {
		name   string
		call   func(ctx context.Context) error
		kratos bool
	}{
		{"redis get", func(ctx context.Context) error { _, err := rs.Get(ctx, id); return err }, false},
		{"redis ping", rs.Ping, false},
		{"memory ping", ms.Ping, false},
		{"kratos whoami", func(ctx context.Context) error { _, err := kc.Session(ctx, "", "a-session-token"); return err }, true},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			ctx      context.Context
			want     string
			notWants string
		}{{canceled, "canceled", "error"}, {expired, "error", "canceled"}} {
			t.Run(tt.name+" "+c.want, func(t *testing.T) {
				m := metrics.New()
				err := tt.call(c.ctx)
				if err == nil {
					t.Fatal("no error with a done context")
				}
				metric, op := "callpass_store_operations_total", "get"
				if tt.kratos {
					metric, op = "callpass_kratos_requests_total", "whoami"
					m.ObserveKratos(op, err, time.Millisecond)
				} else {
					m.ObserveStore(op, err, time.Millisecond)
				}
				got := map[string]float64{}
				mfs, gerr := m.Registry.Gather()
				if gerr != nil {
					t.Fatal(gerr)
				}
				for _, mf := range mfs {
					if mf.GetName() != metric {
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
				if got[c.want] != 1 || got[c.notWants] != 0 {
					t.Errorf("%v: %s{op=%q} by result %v, want 1 %s and no %s", err, metric, op, got, c.want, c.notWants)
				}
			})
		}
	}
}
