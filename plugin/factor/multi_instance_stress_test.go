package factor_test

// Two factor services (each with its own redis client, store, limiter and
// challenge service) over one Redis: the login gate and /v1/token.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

type crSeqProvider struct {
	n     atomic.Int64
	mu    sync.Mutex
	codes map[string]string // e164 -> last code
}

func (p *crSeqProvider) Name() string { return "cr" }
func (p *crSeqProvider) StartCall(_ context.Context, num phone.Number) (flashcall.Call, error) {
	code := fmt.Sprintf("%04d", 1000+p.n.Add(1)%9000)
	p.mu.Lock()
	p.codes[num.E164()] = code
	p.mu.Unlock()
	return flashcall.Call{ID: "c" + code, Code: code, Status: flashcall.Classify("NO_ANSWER")}, nil
}
func (p *crSeqProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}
func (p *crSeqProvider) CanReportStatus() bool { return false }

// crSessions resolves a session token to a session.
type crSessions struct {
	mu sync.Mutex
	m  map[string]*kratos.Session
}

func (s *crSessions) Session(_ context.Context, _, token string) (*kratos.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[token]; ok {
		return v, nil
	}
	return nil, kratos.ErrNoSession
}

type crIssuer struct{}

func (crIssuer) Issue(_ context.Context, s jwt.Subject) (jwt.Token, error) {
	return jwt.Token{Raw: s.SessionID, ExpiresAt: time.Now().Add(time.Minute)}, nil
}
func (crIssuer) NeedsIdentityData() bool    { return false }
func (crIssuer) AllowsAudience(string) bool { return false }

func newCRFactor(t *testing.T, addr, prefix string, p challenge.Provider, sess factor.Sessions) *factor.Service {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	st := redisstore.New(rdb, prefix)
	lc := limit.DefaultConfig()
	lc.PerNumber = limit.Rule{Limit: 1 << 30, Window: time.Hour}
	lc.PerIdentity, lc.PerIP, lc.GlobalDaily = lc.PerNumber, lc.PerNumber, lc.PerNumber
	lim, err := limit.New(lc, st, st, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = []byte(strings.Repeat("k", 32))
	svc, err := challenge.NewService(cfg, st, p, lim, challenge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	f, err := factor.New(factor.Config{}, factor.Deps{Numbers: phonetest.Hasher(), Challenges: svc, Passes: st, Sessions: sess, Issuer: crIssuer{}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestMultiInstanceGateAndToken: one login's code delivered to both instances
// at once while the gated session and two sessions that did not pass (one
// 1.5 s after the gated login, one before it) exchange for tokens through
// both: exactly one hook passes, only the gated session ever gets a
// token, and it gets one.
func TestMultiInstanceGateAndToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := testenv.StartRedis(t).Addr
	p := &crSeqProvider{codes: map[string]string{}}
	sess := &crSessions{m: map[string]*kratos.Session{}}
	prefix := "crf:"
	fs := []*factor.Service{newCRFactor(t, addr, prefix, p, sess), newCRFactor(t, addr, prefix, p, sess)}
	for it := range 150 {
		ident := fmt.Sprintf("ident-%d", it)
		num := fmt.Sprintf("+7900%07d", it)
		traits, _ := json.Marshal(map[string]any{"phone": num})
		at := time.Now().UTC().Truncate(time.Millisecond)
		in := factor.GateInput{Hook: factor.HookLogin, FlowID: "flow-" + ident, IdentityID: ident, Traits: traits, ClientIP: "10.0.0.1",
			AuthenticatedAt: at, SessionExpiresAt: at.Add(time.Hour)}
		dec, err := fs[it%2].Gate(ctx, in)
		if err != nil || dec.Challenge == nil {
			t.Fatalf("gate start: %+v %v", dec, err)
		}
		p.mu.Lock()
		in.Code = p.codes[num]
		p.mu.Unlock()
		mk := func(sid string, authAt time.Time) string {
			sess.mu.Lock()
			sess.m["tok-"+sid] = &kratos.Session{ID: sid, IdentityID: ident, Active: true, AuthenticatedAt: authAt,
				ExpiresAt: at.Add(time.Hour), Traits: map[string]any{"phone": num}}
			sess.mu.Unlock()
			return "tok-" + sid
		}
		gated := mk(ident+"-gated", at)
		others := []string{mk(ident+"-late", at.Add(1500*time.Millisecond)), mk(ident+"-early", at.Add(-3*time.Second))}
		var allowed, gatedTokens atomic.Int64
		var done atomic.Bool
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 2 {
			wg.Go(func() {
				<-start
				d, err := fs[g].Gate(ctx, in)
				if err == nil && d.Allow {
					allowed.Add(1)
				} else if err != nil && !errors.Is(err, challenge.ErrAlreadyUsed) {
					t.Errorf("gate verify: %v", err)
				}
			})
		}
		for g, tok := range append([]string{gated}, others...) {
			wg.Go(func() {
				<-start
				for k := 0; k < 400; k++ {
					tv, err := fs[(g+k)%2].Exchange(ctx, factor.Creds{SessionToken: tok}, factor.TokenOptions{})
					switch {
					case err == nil && tok != gated:
						t.Errorf("iteration %d: session %s, which did not pass, got a token (%s)", it, tok, tv.AccessToken)
						return
					case err == nil:
						gatedTokens.Add(1)
					case !errors.Is(err, factor.ErrNotGated):
						t.Errorf("exchange: %v", err)
						return
					}
					if done.Load() && k%10 == 9 {
						return
					}
				}
			})
		}
		close(start)
		for allowed.Load() == 0 && !t.Failed() {
			time.Sleep(100 * time.Microsecond)
		}
		done.Store(true)
		wg.Wait()
		if allowed.Load() != 1 {
			t.Fatalf("iteration %d: %d hooks passed with one code", it, allowed.Load())
		}
		if _, err := fs[it%2].Exchange(ctx, factor.Creds{SessionToken: gated}, factor.TokenOptions{}); err != nil {
			t.Fatalf("iteration %d: gated session refused: %v (tokens during the race: %d)", it, err, gatedTokens.Load())
		}
	}
}
