package bench

// Two app.New instances over one Redis sharing one simulator (the second
// uses the first's), driven through the real login hook.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

func multiInstancePair(t *testing.T, extra ...string) (a, b *instance) {
	t.Helper()
	rds := testenv.StartRedis(t)
	dir := t.TempDir()
	common := append([]string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + rds.Addr + "/0", "DEV_DATA_DIR=" + dir,
		"KRATOS_PUBLIC_URL=http://127.0.0.1:1", "KRATOS_ADMIN_URL=http://127.0.0.1:1"}, extra...)
	lnA, lnB := listen(t), listen(t)
	a = startInstance(t, "A", lnA, common, nil)
	raw, err := os.ReadFile(filepath.Join(dir, config.DevSecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	var sec struct {
		Token string `json:"callpass_token"`
	}
	if err := json.Unmarshal(raw, &sec); err != nil || sec.Token == "" {
		t.Fatalf("dev secrets: %v", err)
	}
	b = startInstance(t, "B", lnB, append(common, "CALLPASS_BASE_URL="+a.URL+"/", "SIM_ENABLED=false",
		"CALLPASS_TOKEN="+sec.Token), nil)
	return a, b
}

func hookBody(h loginHook, resend bool) []byte {
	var m map[string]any
	_ = json.Unmarshal(h.body(), &m)
	if resend {
		m["transient_payload"].(map[string]any)["callpass_resend"] = true
	}
	out, _ := json.Marshal(m)
	return out
}

// TestMultiInstanceAppConcurrentLoginStarts: the same login hook (one flow)
// delivered concurrently to two instances places one call, counted at the
// simulator; and the code of the call the phone received last passes.
func TestMultiInstanceAppConcurrentLoginStarts(t *testing.T) {
	a, b := multiInstancePair(t, "SIM_SETTLE_DELAY=1ms")
	ctx := context.Background()
	const iters = 50
	multi, lastRefused, worst := 0, 0, 0
	var limited atomic.Int64
	for it := range iters {
		h := newLoginHook()
		h.ClientIP = fmt.Sprintf("198.51.100.%d", it+1)
		var wg sync.WaitGroup
		start := make(chan struct{})
		var bad atomic.Int64
		for g := range 6 {
			in := a
			if g%2 == 1 {
				in = b
			}
			wg.Go(func() {
				<-start
				st, body, err := do(ctx, http.MethodPost, in.URL+"/hooks/kratos/login", hookBody(h, false), hookHeader)
				switch id, _ := interruptID(body); {
				case err == nil && st == http.StatusBadRequest && id == 1090001:
				case err == nil && st == http.StatusBadRequest && id == 4090004:
					limited.Add(1) // "Too many calls" for one flow's first start
				default:
					bad.Add(1)
					t.Errorf("start: %d %s %v", st, body, err)
				}
			})
		}
		close(start)
		wg.Wait()
		calls := a.App.Sim.Calls(dn(h.Phone)) // newest first
		if len(calls) > 1 {
			multi++
			worst = max(worst, len(calls))
			h.Code = calls[0].Code4
			st, _, _ := do(ctx, http.MethodPost, b.URL+"/hooks/kratos/login", h.body(), hookHeader)
			if st != http.StatusOK {
				lastRefused++
			}
		}
	}
	if multi > 0 {
		t.Errorf("%d/%d flows: concurrent starts of one flow placed more than one call at the simulator; "+
			"worst %d calls; in %d of them the code of the newest call was refused; %d of the %d starts were refused as too many calls",
			multi, iters, worst, lastRefused, limited.Load(), 6*iters)
	}
}

// TestMultiInstanceAppDoubleSpend: one code sent through both instances
// concurrently lets exactly one hook through.
func TestMultiInstanceAppDoubleSpend(t *testing.T) {
	a, b := multiInstancePair(t, append([]string{"SIM_SETTLE_DELAY=1ms"}, raisedLimits...)...)
	ctx := context.Background()
	for it := range 100 {
		h := newLoginHook()
		if st, body, err := do(ctx, http.MethodPost, a.URL+"/hooks/kratos/login", h.body(), hookHeader); err != nil || st != http.StatusBadRequest {
			t.Fatalf("start: %d %s %v", st, body, err)
		} else if id, _ := interruptID(body); id != 1090001 {
			t.Fatalf("start: %s", body)
		}
		calls := a.App.Sim.Calls(dn(h.Phone))
		if len(calls) != 1 {
			t.Fatalf("calls: %d", len(calls))
		}
		h.Code = calls[0].Code4
		var ok atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 8 {
			in := a
			if g%2 == 1 {
				in = b
			}
			wg.Go(func() {
				<-start
				st, _, err := do(ctx, http.MethodPost, in.URL+"/hooks/kratos/login", h.body(), hookHeader)
				if err == nil && st == http.StatusOK {
					ok.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 {
			t.Fatalf("iteration %d: %d hooks let through with one code", it, ok.Load())
		}
	}
}
