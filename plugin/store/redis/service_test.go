package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

type fakeProvider struct {
	calls int
	code  string
}

func (p *fakeProvider) Name() string { return "fake" }
func (p *fakeProvider) StartCall(context.Context, phone.Number) (flashcall.Call, error) {
	p.calls++
	return flashcall.Call{ID: "call", Code: p.code, Status: flashcall.Classify("NO_ANSWER")}, nil
}
func (p *fakeProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}

// serviceOn wires a challenge service on the Redis store st as the app
// does (one store for challenges, limit counters and bans), with the limit
// configuration lc, provider p and the tests' code key.
func serviceOn(t *testing.T, st *redisstore.Store, lc limit.Config, p challenge.Provider) (*limit.Limiter, *challenge.Service) {
	t.Helper()
	lim, err := limit.New(lc, st, st, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = []byte(strings.Repeat("s", 32))
	svc, err := challenge.NewService(cfg, st, p, lim, challenge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return lim, svc
}

// TestServiceOverRedis runs the challenge service on Redis across two
// instances, and fails closed while Redis is down.
func TestServiceOverRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	newSvc := func(p *fakeProvider) *challenge.Service {
		_, svc := serviceOn(t, redisstore.New(newClient(t, srv.Addr), "cpk:"), limit.DefaultConfig(), p)
		return svc
	}
	p := &fakeProvider{code: "7391"}
	a, b := newSvc(p), newSvc(p)
	req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: "ident", FlowID: "flow", Phone: "+79001234567"}
	bind := challenge.Binding{Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID}
	res, err := a.Start(ctx, req)
	if err != nil || !res.Placed {
		t.Fatalf("start on A: %+v %v", res, err)
	}
	if res2, err := b.Start(ctx, req); err != nil || res2.Placed || res2.Challenge.ID != res.Challenge.ID || p.calls != 1 {
		t.Fatalf("start on B: %+v %v calls=%d", res2, err, p.calls)
	}
	if _, err := b.Verify(ctx, bind, "", "7391"); err != nil {
		t.Fatalf("verify on B: %v", err)
	}
	if _, err := a.Verify(ctx, bind, res.Challenge.ID, "7391"); !errors.Is(err, challenge.ErrAlreadyUsed) {
		t.Fatalf("reuse on A: %v", err)
	}

	srv.Stop()
	req.FlowID = "flow-2"
	if _, err := a.Start(ctx, req); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("start with Redis down: %v", err)
	}
	if _, err := a.Verify(ctx, bind, "", "7391"); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("verify with Redis down: %v", err)
	}
	if p.calls != 1 {
		t.Fatal("provider called while Redis was down")
	}
	srv.Start()
	deadline := time.Now().Add(30 * time.Second)
	for a.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("service did not recover")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, err := a.Start(ctx, req); err != nil || !res.Placed {
		t.Fatalf("start after restart: %+v %v", res, err)
	}
}

// TestConcurrentLastGuessesBanAtMaxFailures: the last wrong guesses of many
// challenges of one identity, sent at the same moment through the service
// on Redis, are evaluated (locked) at most MaxFailures times: each lock
// records its regulation failure in the verify's own step, so the others
// see the ban it causes and are refused as banned.
func TestConcurrentLastGuessesBanAtMaxFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := redisstore.New(newClient(t, testenv.StartRedis(t).Addr), "cpk:")
	lcfg := limit.DefaultConfig()
	lcfg.PerNumber.Limit, lcfg.PerIdentity.Limit = 0, 0
	lim, svc := serviceOn(t, st, lcfg, &fakeProvider{code: "7391"})

	const identity, n = "5e1b7b4a-0000-4000-8000-000000000009", 12
	binds := make([]challenge.Binding, n)
	for i := range n {
		req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: identity,
			FlowID: fmt.Sprintf("flow-%d", i), Phone: "+79001234567"}
		res, err := svc.Start(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		binds[i] = challenge.Binding{Purpose: req.Purpose, IdentityID: identity, FlowID: req.FlowID}
		for range res.Challenge.MaxAttempts - 1 {
			if _, err := svc.Verify(ctx, binds[i], "", "0000"); !errors.Is(err, challenge.ErrWrongCode) {
				t.Fatalf("wrong guess: %v", err)
			}
		}
	}
	var mu sync.Mutex
	var locked, banned int
	var errs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, b := range binds {
		wg.Go(func() {
			<-start
			_, err := svc.Verify(ctx, b, "", "0000")
			mu.Lock()
			defer mu.Unlock()
			var we *challenge.WrongCodeError
			var le *limit.LimitError
			switch {
			case errors.As(err, &we) && we.AttemptsLeft == 0:
				locked++
			case errors.As(err, &le) && le.Kind == limit.KindRegulation:
				banned++
			default:
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d last guesses neither locked nor banned, first: %v", len(errs), errs[0])
	}
	if max := lcfg.Regulation.MaxFailures; locked > max || locked+banned != n {
		t.Fatalf("%d last guesses evaluated (locked), %d refused as banned; want at most %d locked", locked, banned, max)
	}
	if err := lim.CheckBlocked(ctx, identity); err == nil {
		t.Fatal("the identity is not banned")
	}
}
