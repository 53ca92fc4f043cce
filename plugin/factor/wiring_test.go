package factor_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// fullStore is what both stores are: a challenge store that also keeps the
// limiter's counters and bans and the gate passes.
type fullStore interface {
	challenge.Store
	challenge.StartLeaser
	challenge.CheckingStore
	challenge.Retirer
	limit.Counter
	limit.Blocks
	factor.PassStore
}

// wiring says how wire builds a factor over the real challenge service and
// limiter, as the app does: one store for challenges, limits and passes.
// The zero value is a fresh memory store, the default limits and challenge
// config, a countingProvider, and no sessions or issuer.
type wiring struct {
	store  fullStore               // nil: a fresh memory store (on clock, when set)
	limits func(*limit.Config)     // changes to limit.DefaultConfig()
	tune   func(*challenge.Config) // changes to challenge.DefaultConfig()
	prov   challenge.Provider      // nil: a countingProvider
	clock  func() time.Time        // the memory store's, the service's and the factor's
	obs    challenge.Observer
	config factor.Config
	// deps: Sessions and Issuer; the challenges, passes, numbers and clock
	// are filled in.
	deps factor.Deps
}

// testCodeKey keys the stored code hashes in every test's service.
const testCodeKey = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"

func wire(t *testing.T, w wiring) (*factor.Service, *challenge.Service) {
	t.Helper()
	st := w.store
	if st == nil {
		var opts []memory.Option
		if w.clock != nil {
			opts = append(opts, memory.WithClock(w.clock))
		}
		mem := memory.New(time.Hour, opts...)
		t.Cleanup(func() { _ = mem.Close() })
		st = mem
	}
	lc := limit.DefaultConfig()
	if w.limits != nil {
		w.limits(&lc)
	}
	lim, err := limit.New(lc, st, st, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = []byte(testCodeKey)
	if w.tune != nil {
		w.tune(&cfg)
	}
	prov := w.prov
	if prov == nil {
		prov = &countingProvider{}
	}
	opts := []challenge.Option{challenge.WithLogger(slog.New(slog.DiscardHandler))}
	if w.clock != nil {
		opts = append(opts, challenge.WithClock(w.clock))
	}
	if w.obs != nil {
		opts = append(opts, challenge.WithObserver(w.obs))
	}
	svc, err := challenge.NewService(cfg, st, prov, lim, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	d := w.deps
	d.Numbers, d.Challenges, d.Passes, d.Now = phonetest.Hasher(), svc, st, w.clock
	f, err := factor.New(w.config, d)
	if err != nil {
		t.Fatal(err)
	}
	return f, svc
}

// storeOn is a fresh store: "memory", or "redis" on a redis-server of its
// own (redisAddr empty) or at redisAddr, its keys under prefix. grace, when
// not 0, is how long a replaced challenge is kept past its expiry.
func storeOn(t *testing.T, kind, redisAddr, prefix string, grace time.Duration) fullStore {
	t.Helper()
	if kind == "memory" {
		var opts []memory.Option
		if grace > 0 {
			opts = append(opts, memory.WithGrace(grace))
		}
		mem := memory.New(time.Hour, opts...)
		t.Cleanup(func() { _ = mem.Close() })
		return mem
	}
	if redisAddr == "" {
		redisAddr = testenv.StartRedis(t).Addr
	}
	var opts []redisstore.Option
	if grace > 0 {
		opts = append(opts, redisstore.WithGrace(grace))
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = rdb.Close() })
	return redisstore.New(rdb, prefix, opts...)
}

// stepUpSession is ident-1's session sess-1, signed in an hour before now
// with an hour left, with a Russian number.
func stepUpSession(now time.Time) *kratos.Session {
	return &kratos.Session{ID: "sess-1", IdentityID: "ident-1", Active: true,
		AuthenticatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Traits: map[string]any{"phone": "+79001112233"}}
}
