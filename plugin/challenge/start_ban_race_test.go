package challenge_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// banningLease is a memory store whose first lease of one flow first runs
// before(): a ban landing while a start is between its lookup (which saw
// no ban) and its call.
type banningLease struct {
	*memory.Store
	flow   string
	once   sync.Once
	before func()
}

func (w *banningLease) LeaseStart(ctx context.Context, b challenge.Binding, token string, ttl time.Duration) (bool, string, error) {
	if b.FlowID == w.flow {
		w.once.Do(w.before)
	}
	return w.Store.LeaseStart(ctx, b, token, ttl)
}

// TestStartRacingABanPlacesNoCall: the identity's regulation ban lands
// (this instance locks another of its challenges) after a start has read
// no ban and before it places its call. The start is refused by the ban
// before the provider, its take given back: the call would be paid for
// and its code could not be tried until the ban ends.
func TestStartRacingABanPlacesNoCall(t *testing.T) {
	ctx := context.Background()
	var svc *challenge.Service
	var prov *provider
	racing, other := req("racing-start"), req("locked-elsewhere")
	var lockErr error
	w := &banningLease{flow: racing.FlowID, before: func() {
		res, err := svc.Start(ctx, other)
		if err != nil {
			lockErr = err
			return
		}
		for range res.Challenge.MaxAttempts {
			_, lockErr = svc.Verify(ctx, bind(other), res.Challenge.ID, "0000")
		}
	}}
	svc, _, prov = leaseEnv(t, 0, func(mem *memory.Store) challenge.Store { w.Store = mem; return w }, func(l *limit.Config) {
		l.Regulation.MaxFailures = 1
	})
	_, err := svc.Start(ctx, racing)
	var we *challenge.WrongCodeError
	if !errors.As(lockErr, &we) || we.BannedFor <= 0 {
		t.Fatalf("the other challenge's last wrong code: %v, want a lock with a ban", lockErr)
	}
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Kind != limit.KindRegulation {
		t.Fatalf("start racing the ban: %v, want the regulation refusal", err)
	}
	if n := prov.numCalls(); n != 1 {
		t.Fatalf("%d calls placed, want 1 (the locked challenge's): the start racing the ban placed one", n)
	}
}
