package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// bansProvider places every call with code 7391 and never reports it rang.
type bansProvider struct{}

func (bansProvider) Name() string { return "fake" }
func (bansProvider) StartCall(context.Context, phone.Number) (flashcall.Call, error) {
	return flashcall.Call{ID: "call", Code: "7391", Status: flashcall.Classify("NO_ANSWER")}, nil
}
func (bansProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}

// bansService is a challenge service on the Redis store of mode/url/prefix,
// wired as the app wires it (one store for challenges, counters and bans),
// with the default regulation (the CLI's configuration defaults too).
func bansService(t *testing.T, mode, url, prefix string, opts ...challenge.Option) *challenge.Service {
	t.Helper()
	rdb, err := redisstore.NewClient(mode, url, redisstore.Sentinel{}, redisstore.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	st := redisstore.New(rdb, prefix)
	lc := limit.DefaultConfig()
	lc.PerNumber.Limit, lc.PerIdentity.Limit, lc.PerIP.Limit = 0, 0, 0
	lim, err := limit.New(lc, st, st, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = []byte(strings.Repeat("s", 32))
	svc, err := challenge.NewService(cfg, st, bansProvider{}, lim, append([]challenge.Option{challenge.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

var bansFlow atomic.Int64

// startFor starts a challenge for identity on a new flow.
func startFor(svc *challenge.Service, identity string) (challenge.Binding, error) {
	req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: identity,
		FlowID: fmt.Sprintf("flow-%d", bansFlow.Add(1)), Phone: "+79001234567"}
	_, err := svc.Start(context.Background(), req)
	return challenge.Binding{Purpose: req.Purpose, IdentityID: identity, FlowID: req.FlowID}, err
}

// banForReal bans identity through svc: max_failures challenges, each
// locked by wrong codes.
func banForReal(t *testing.T, svc *challenge.Service, identity string) {
	t.Helper()
	for range limit.DefaultConfig().Regulation.MaxFailures {
		b, err := startFor(svc, identity)
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		for {
			_, err := svc.Verify(context.Background(), b, "", "0000")
			if !errors.Is(err, challenge.ErrWrongCode) {
				break
			}
		}
	}
	if _, err := startFor(svc, identity); !isRegulation(err) {
		t.Fatalf("identity not banned after max_failures locked challenges: %v", err)
	}
}

func isRegulation(err error) bool {
	var le *limit.LimitError
	return errors.As(err, &le) && le.Kind == limit.KindRegulation
}

// TestBansShowLift: an identity banned for real through the challenge
// service is reported by bans show and lifted by bans lift, standalone and
// in cluster mode; the instance that remembered the ban refuses until
// ForgetBans (SIGHUP) or, on a third instance, the 30 s re-read; a fresh
// one allows at once; another identity's ban
// is untouched; lifting an identity that is not banned says so, exit 0
// (show: exit 1).
func TestBansShowLift(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	cluster := testenv.StartRedisCluster(t, 3)
	for _, tc := range []struct{ name, mode, url string }{
		{"standalone", "standalone", "redis://" + srv.Addr},
		{"cluster", "cluster", cluster.URL()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const prefix = "cpk:"
			env := []string{"STORE_TYPE=redis", "STORE_REDIS_MODE=" + tc.mode, "STORE_REDIS_URL=" + tc.url, "STORE_REDIS_PREFIX=" + prefix}
			a := bansService(t, tc.mode, tc.url, prefix)
			const banned, other, clean = "5e1b7b4a-0000-4000-8000-00000000000a", "5e1b7b4a-0000-4000-8000-00000000000b", "5e1b7b4a-0000-4000-8000-00000000000c"
			banForReal(t, a, banned)
			banForReal(t, a, other)
			// A third instance whose clock the test moves: it remembers
			// both bans now, and reads them again 30 s later.
			var skew atomic.Int64
			c := bansService(t, tc.mode, tc.url, prefix, challenge.WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
			for _, id := range []string{banned, other} {
				if _, err := startFor(c, id); !isRegulation(err) {
					t.Fatalf("start of banned %s on the third instance: %v", id, err)
				}
			}

			steps := []struct {
				args    []string
				code    int
				want    []string
				wantNot []string
			}{
				{[]string{"bans", "show", banned}, 0, []string{"identity " + banned + " is banned until ", "failures within find_time (10m0s): 0"}, nil},
				// Upper case is read as Kratos writes ids (lower case).
				{[]string{"bans", "show", strings.ToUpper(clean)}, 1, []string{"identity " + clean + " is not banned"}, []string{"banned until"}},
				{[]string{"bans", "lift", banned}, 0, []string{"lifted the ban on identity " + banned, "deleted its failure log", "SIGHUP"}, nil},
				{[]string{"bans", "show", banned}, 1, []string{"identity " + banned + " is not banned"}, nil},
				{[]string{"bans", "lift", banned}, 0, []string{"identity " + banned + " was not banned: no ban to lift"}, []string{"lifted the ban"}},
				{[]string{"bans", "show", other}, 0, []string{"identity " + other + " is banned until "}, nil},
			}
			// The same through --config, the id before or after the flag.
			cfgFile := filepath.Join(t.TempDir(), "config.yml")
			yml := fmt.Sprintf("store:\n  type: redis\n  redis:\n    mode: %s\n    url: %q\n    prefix: %q\n", tc.mode, tc.url, prefix)
			if err := os.WriteFile(cfgFile, []byte(yml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"bans", "show", other, "--config", cfgFile}, {"bans", "show", "--config", cfgFile, other}} {
				steps = append(steps, struct {
					args    []string
					code    int
					want    []string
					wantNot []string
				}{args, 0, []string{"identity " + other + " is banned until "}, nil})
			}
			for _, s := range steps {
				e := env
				if slices.Contains(s.args, "--config") {
					e = nil
				}
				code, out, errs := run(t, e, s.args...)
				if code != s.code {
					t.Fatalf("%v: exit %d, want %d: %s %s", s.args, code, s.code, out, errs)
				}
				for _, w := range s.want {
					if !strings.Contains(out, w) {
						t.Errorf("%v: output lacks %q:\n%s", s.args, w, out)
					}
				}
				for _, w := range s.wantNot {
					if strings.Contains(out, w) {
						t.Errorf("%v: output has %q:\n%s", s.args, w, out)
					}
				}
			}

			// A fresh instance (nothing remembered) allows the lifted
			// identity at once and still refuses the other one.
			b := bansService(t, tc.mode, tc.url, prefix)
			if _, err := startFor(b, banned); err != nil {
				t.Fatalf("start of the lifted identity on a fresh instance: %v", err)
			}
			if _, err := startFor(b, other); !isRegulation(err) {
				t.Fatalf("start of the other banned identity: %v", err)
			}
			// The instance that remembered the ban refuses until SIGHUP.
			if _, err := startFor(a, banned); !isRegulation(err) {
				t.Fatalf("start on the instance that remembered the ban, before SIGHUP: %v", err)
			}
			// Without SIGHUP: refused until the remembered ban is read
			// again (30 s), then allowed; the other ban, read again, holds.
			if _, err := startFor(c, banned); !isRegulation(err) {
				t.Fatalf("start of the lifted identity on the third instance at once: %v, want the remembered ban", err)
			}
			skew.Store(int64(31 * time.Second))
			if _, err := startFor(c, banned); err != nil {
				t.Fatalf("start of the lifted identity 31 s later, no SIGHUP: %v", err)
			}
			if _, err := startFor(c, other); !isRegulation(err) {
				t.Fatalf("start of the other banned identity 31 s later: %v", err)
			}
			a.ForgetBans()
			if _, err := startFor(a, banned); err != nil {
				t.Fatalf("start of the lifted identity after SIGHUP: %v", err)
			}
			if _, err := startFor(a, other); !isRegulation(err) {
				t.Fatalf("start of the other banned identity after SIGHUP: %v", err)
			}
		})
	}
}

// TestBansRefused: the memory store, bad ids, a missing subcommand and an
// unreachable Redis are refused with a clear message and a non-zero exit;
// the Redis URL's password is never printed.
func TestBansRefused(t *testing.T) {
	t.Parallel()
	const id = "5e1b7b4a-0000-4000-8000-00000000000a"
	const pw = "hunter2-secret-pw"
	srv := testenv.StartRedisWith(t, "--requirepass", "another-password")
	dead := testenv.StartRedis(t)
	deadAddr := dead.Addr
	dead.Stop()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"memory store show", nil, []string{"bans", "show", id}, 2, `store.type is "memory": the bans live inside the serving process`},
		{"memory store lift", []string{"STORE_TYPE=memory"}, []string{"bans", "lift", id}, 1, "restarting the service ends them"},
		{"not a uuid", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + srv.Addr}, []string{"bans", "lift", "alice@example.com"}, 2, "is neither a Kratos identity id (a UUID"},
		{"not a number either", nil, []string{"bans", "show", "+7 900 123"}, 2, "nor a phone number"},
		{"short uuid", nil, []string{"bans", "show", "5e1b7b4a-0000-4000-8000-00000000000"}, 2, "is neither a Kratos identity id"},
		{"uuid with braces", nil, []string{"bans", "show", "{" + id + "}"}, 2, "is neither a Kratos identity id"},
		{"two ids", nil, []string{"bans", "show", id, id}, 2, "expected exactly one identity id"},
		{"no id", nil, []string{"bans", "lift"}, 2, "expected exactly one identity id"},
		{"no subcommand", nil, []string{"bans"}, 2, "expected a subcommand: show or lift"},
		{"unknown subcommand", nil, []string{"bans", "delete", id}, 2, "expected a subcommand: show or lift"},
		{"wrong password", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://:" + pw + "@" + srv.Addr}, []string{"bans", "lift", id}, 1, "bans: lift the ban: redis store"},
		{"redis down", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://:" + pw + "@" + deadAddr}, []string{"bans", "show", id}, 2, "bans: read the ban: redis store"},
		{"bad url", []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://:" + pw + "@" + srv.Addr + "/notadb"}, []string{"bans", "show", id}, 2, "store.redis.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s %s", code, tc.code, out, errs)
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errs)
			}
			if strings.Contains(out+errs, pw) {
				t.Errorf("the Redis password was printed:\n%s %s", out, errs)
			}
		})
	}
}

// TestBansHelp: bans --help prints the usage, exit 0, and the main usage
// lists the command.
func TestBansHelp(t *testing.T) {
	code, out, _ := run(t, nil, "bans", "--help")
	if code != 0 || !strings.Contains(out, "bans lift [--config file] <identity-id | phone number>") || !strings.Contains(out, "SIGHUP") {
		t.Fatalf("bans --help: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "  bans ") {
		t.Fatalf("--help does not list bans: exit %d\n%s", code, out)
	}
}

// TestBansByPhoneNumber: a phone check's ban is held per number (its owner
// is the number's keyed name, factor.PhoneOwner): bans show and lift find
// it from the number in any spelling, with the service's code key, and
// print the number masked only. Without the code key they refuse.
func TestBansByPhoneNumber(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	const prefix = "cpk:"
	codeKey := strings.Repeat("s", 32) // bansService's challenge.code_key
	url := "redis://" + srv.Addr
	a := bansService(t, "standalone", url, prefix)
	num, err := phone.Parse("+79001234567")
	if err != nil {
		t.Fatal(err)
	}
	numbers, err := phone.NewHasher([]byte(codeKey))
	if err != nil {
		t.Fatal(err)
	}
	owner := factor.PhoneOwner(numbers, num)
	banForReal(t, a, owner)
	other, _ := phone.Parse("+79007654321")
	otherOwner := factor.PhoneOwner(numbers, other)
	banForReal(t, a, otherOwner)

	env := []string{"STORE_TYPE=redis", "STORE_REDIS_URL=" + url, "STORE_REDIS_PREFIX=" + prefix, "CHALLENGE_CODE_KEY=" + codeKey}
	for _, s := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bans", "show", "+79001234567"}, 0, "number " + num.Masked() + " is banned until "},
		{[]string{"bans", "lift", "8 (900) 123-45-67"}, 0, "lifted the ban on number " + num.Masked()},
		{[]string{"bans", "show", "79001234567"}, 1, "number " + num.Masked() + " is not banned"},
		{[]string{"bans", "show", "+79007654321"}, 0, "number " + other.Masked() + " is banned until "},
	} {
		code, out, errs := run(t, env, s.args...)
		if code != s.code || !strings.Contains(out, s.want) {
			t.Fatalf("%v: exit %d, output %q %q; want %d and %q", s.args, code, out, errs, s.code, s.want)
		}
		for _, leak := range []string{"9001234567", "9007654321", codeKey} {
			if strings.Contains(out+errs, leak) {
				t.Fatalf("%v: output carries %q: %s %s", s.args, leak, out, errs)
			}
		}
	}
	// A fresh instance allows a phone check of the lifted number.
	b := bansService(t, "standalone", url, prefix)
	if _, err := startFor(b, owner); err != nil {
		t.Fatalf("start for the lifted number: %v", err)
	}
	if _, err := startFor(b, otherOwner); !isRegulation(err) {
		t.Fatalf("start for the other banned number: %v", err)
	}
	// Without the code key the number cannot be named: refused, clearly.
	code, out, errs := run(t, env[:3], "bans", "show", "+79007654321")
	if code == 0 || !strings.Contains(out+errs, "challenge.code_key") {
		t.Fatalf("without a code key: exit %d, %s %s", code, out, errs)
	}
}
