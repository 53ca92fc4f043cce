package redisstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// slowProvider records the numbers called; the first call takes slow.
type slowProvider struct {
	mu      sync.Mutex
	calls   []string
	slow    time.Duration
	calling chan struct{}
}

func (p *slowProvider) Name() string { return "fake" }
func (p *slowProvider) StartCall(_ context.Context, n phone.Number) (flashcall.Call, error) {
	p.mu.Lock()
	first := len(p.calls) == 0
	p.calls = append(p.calls, n.E164())
	p.mu.Unlock()
	if first {
		close(p.calling)
		time.Sleep(p.slow)
	}
	return flashcall.Call{ID: "call-" + n.E164(), Code: "7391", Status: flashcall.Classify("NO_ANSWER")}, nil
}
func (p *slowProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}

// TestStartLeaseNumberChangeAcrossInstances: instance A starts the flow's
// call to the old number and holds the lease; instance B gets the same
// flow with the new number (settings), waits, then places a paid call to
// the new number whose Create is refused, and answers with A's challenge
// for the OLD number.
func TestStartLeaseNumberChangeAcrossInstances(t *testing.T) {
	srv := testenv.StartRedis(t)
	p := &slowProvider{slow: 300 * time.Millisecond, calling: make(chan struct{})}
	newSvc := func() *challenge.Service {
		_, svc := serviceOn(t, redisstore.New(newClient(t, srv.Addr), "cpk:"), limit.DefaultConfig(), p)
		return svc
	}
	a, b := newSvc(), newSvc()
	ctx := context.Background()
	req := challenge.StartRequest{Purpose: challenge.PurposeVerifyPhone, IdentityID: "ident", FlowID: "settings-flow", Phone: "+79001234567"}
	first := make(chan challenge.StartResult, 1)
	go func() {
		res, err := a.Start(ctx, req)
		if err != nil {
			t.Error(err)
		}
		first <- res
	}()
	<-p.calling
	req.Phone = "+79001234568"
	res, err := b.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ra := <-first
	t.Logf("calls %v; A %s; B placed %v %s", p.calls, ra.Challenge.Phone, res.Placed, res.Challenge.Phone)
	if res.Challenge.Phone != req.Phone {
		t.Errorf("start for %s on B answered with a challenge for %s (placed %v) after calls to %v",
			req.Phone, res.Challenge.Phone, res.Placed, p.calls)
	}
}

// TestStartLeaseRedisLeaseKeyAndTTL: the lease key shares the active
// pointer's hash tag and always has a TTL, renewed by the holder's token;
// another token does not touch it; a release by the holder deletes it.
func TestStartLeaseRedisLeaseKeyAndTTL(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newClient(t, srv.Addr)
	st := redisstore.New(c, "cpk:")
	ctx := context.Background()
	b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "ident", FlowID: "f"}
	if taken, _, err := st.LeaseStart(ctx, b, "tok", 2*time.Second); err != nil || !taken {
		t.Fatal(taken, err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v", keys, err)
	}
	k := keys[0]
	tag := "{" + challenge.IdentityTag("ident") + "}"
	if !strings.HasPrefix(k, "cpk:"+tag+":a:") || !strings.HasSuffix(k, ":s") {
		t.Errorf("lease key %q: want cpk:%s:a:...:s", k, tag)
	}
	if d := c.PTTL(ctx, k).Val(); d <= 0 || d > 2*time.Second {
		t.Errorf("PTTL %s", d)
	}
	if taken, _, _ := st.LeaseStart(ctx, b, "other", time.Hour); taken {
		t.Error("other token took a held lease")
	}
	if d := c.PTTL(ctx, k).Val(); d > 2*time.Second {
		t.Errorf("other token changed the TTL: %s", d)
	}
	if taken, _, _ := st.LeaseStart(ctx, b, "tok", 10*time.Second); !taken || c.PTTL(ctx, k).Val() <= 2*time.Second {
		t.Error("renewal by the holder did not extend the TTL")
	}
	_ = st.ReleaseStart(ctx, b, "other")
	if c.Exists(ctx, k).Val() != 1 {
		t.Error("release by another token deleted the lease")
	}
	_ = st.ReleaseStart(ctx, b, "tok")
	if c.Exists(ctx, k).Val() != 0 {
		t.Error("release by the holder left the lease")
	}
	// A lease key without a TTL (set by hand, a restore) would block the
	// flow's starts for ever: it is taken over, with a TTL.
	c.Set(ctx, k, "stale", 0)
	if taken, _, err := st.LeaseStart(ctx, b, "tok", time.Second); err != nil || !taken {
		t.Errorf("a lease key without TTL was not taken over (%v %v)", taken, err)
	}
	if d := c.PTTL(ctx, k).Val(); d <= 0 || d > time.Second {
		t.Errorf("PTTL after the takeover %s", d)
	}
}
