package redisstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
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
func (p *fakeProvider) CallStatus(context.Context, string) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}

// TestServiceOverRedis runs the challenge service on Redis across two
// instances, and fails closed while Redis is down.
func TestServiceOverRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.StartRedis(t)
	newSvc := func(p *fakeProvider) *challenge.Service {
		st := redisstore.New(newClient(t, srv.Addr), "cpk:")
		lim, err := limit.New(limit.DefaultConfig(), st, st)
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
	deadline := time.Now().Add(5 * time.Second)
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
