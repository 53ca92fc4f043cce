package challenge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/cleanroomcp"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

const givebackToken = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

// memLimited is a memory store and a limiter on it, its limits the
// defaults changed by tune.
func memLimited(t *testing.T, tune func(*limit.Config)) (*memory.Store, *limit.Limiter) {
	t.Helper()
	mem := memory.New(time.Hour)
	t.Cleanup(func() { _ = mem.Close() })
	lcfg := limit.DefaultConfig()
	if tune != nil {
		tune(&lcfg)
	}
	lim, err := limit.New(lcfg, mem, mem, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	return mem, lim
}

// callPassService is a challenge service on mem and lim calling the
// CallPass API at url through the real client (API v3, async or not), its
// configuration the default one with the test key, changed by tune.
func callPassService(t *testing.T, url string, async bool, mem *memory.Store, lim *limit.Limiter, tune func(*challenge.Config)) *challenge.Service {
	t.Helper()
	c, err := callpass.New(callpass.Config{BaseURL: url, Token: givebackToken, APIVersion: 3, Timeout: 5 * time.Second, Async: async})
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	if tune != nil {
		tune(&cfg)
	}
	svc, err := challenge.NewService(cfg, mem, c, lim, challenge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// TestProviderRefusalGivesLimitsBack: a start the provider refuses without
// placing a call because of the account or the way to it (an empty balance,
// a wrong token, the provider not reachable) gives its limits back, so an
// outage does not lock users out (or spend the day's budget) once it is
// fixed; only the per-IP count stays, so one source cannot send the
// provider starts without end. A failure that may have placed a call (a
// 5xx, even the API's own JSON; a method failure without a reason, above
// all on a synchronous start), throttling and a refusal of the number itself
// stay counted. The provider is the real client against outside servers.
func TestProviderRefusalGivesLimitsBack(t *testing.T) {
	cleanroom := func(token string, v cleanroomcp.Variant) func(t *testing.T) string {
		return func(t *testing.T) string { return cleanroomcp.New(t, token, v).URL() }
	}
	answer := func(status int, ctype, body string) func(t *testing.T) string {
		return func(t *testing.T) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", ctype)
				w.WriteHeader(status)
				_, _ = io.WriteString(w, body)
			}))
			t.Cleanup(srv.Close)
			return srv.URL + "/"
		}
	}
	refused := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		return "http://" + addr + "/"
	}
	tests := []struct {
		name      string
		server    func(t *testing.T) string
		sync      bool
		kind      error
		givenBack bool
	}{
		{"balance too low", cleanroom(givebackToken, cleanroomcp.Variant{BalanceLow: true}), false, flashcall.ErrInsufficientBalance, true},
		{"balance too low, synchronous", cleanroom(givebackToken, cleanroomcp.Variant{BalanceLow: true}), true, flashcall.ErrInsufficientBalance, true},
		// Another implementation's balance sample: a level-1 message beside
		// "data":{"result":"null"}, no call id, no code.
		{"balance message beside a pending result", answer(200, "application/json", `{"status":"success","message":"balance is lower than limit for that call","data":{"result":"null"}}`), false, flashcall.ErrInsufficientBalance, true},
		{"wrong token", cleanroom("ffffffffffffffffffffffffffffffff", cleanroomcp.Variant{}), false, flashcall.ErrUnauthorized, true},
		{"connection refused", refused, false, flashcall.ErrUnavailable, true},
		{"provider throttles (429, API JSON)", answer(429, "application/json", `{"status":"error","message":"too many requests"}`), false, flashcall.ErrUnavailable, false},
		{"HTML 502 from a proxy", answer(502, "text/html", "<h1>502 Bad Gateway</h1>"), false, flashcall.ErrUnavailable, false},
		{"API JSON with HTTP 500", answer(500, "application/json", `{"status":"error","message":"internal error"}`), false, flashcall.ErrUnavailable, false},
		{"method failed without a reason", answer(200, "application/json", `{"data":{"result":"error"},"status":"success"}`), false, flashcall.ErrUnavailable, false},
		{"synchronous call failed", answer(200, "application/json", `{"data":{"message":"call failed","result":"error"},"status":"success"}`), true, flashcall.ErrUnavailable, false},
		// A bare refusal of the token under a 5xx is the provider refusing
		// us before any call; a 429 is throttling whatever its words, and a
		// refusal that names an outage is the outage (e5d78e9, b82f670).
		{"token refused with HTTP 500", answer(500, "application/json", `{"status":"error","message":"Invalid token"}`), false, flashcall.ErrUnauthorized, true},
		{"throttled with refusal words (429)", answer(429, "application/json", `{"status":"error","message":"Invalid token"}`), false, flashcall.ErrUnavailable, false},
		{"authentication back end down (503)", answer(503, "application/json", `{"status":"error","message":"authentication failed: database connection refused"}`), false, flashcall.ErrUnavailable, false},
		// A synchronous start that did not reach the phone and says no
		// code: a placed call, counted.
		{"synchronous call not delivered, no code", answer(200, "application/json", `{"data":{"callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4","result":"UNALLOCATED_NUMBER"},"status":"success"}`), true, flashcall.ErrNotDelivered, false},
		{"destination not allowed", answer(200, "application/json", `{"data":{"message":"destination not allowed","result":"error"},"status":"success"}`), false, flashcall.ErrDestinationNotAllowed, false},
		// The source IP refused in front of the API (its allow-list), which
		// never saw the request: nginx's page, or an empty 401.
		{"source IP refused by an HTML 403", answer(403, "text/html", "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"), false, flashcall.ErrUnauthorized, true},
		{"empty 401", answer(401, "text/plain", ""), true, flashcall.ErrUnauthorized, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem, lim := memLimited(t, func(lcfg *limit.Config) {
				lcfg.PerNumber.Limit = 2
				lcfg.PerIP.Limit = 4
			})
			service := func(url string) *challenge.Service { return callPassService(t, url, !tt.sync, mem, lim, nil) }
			ctx := context.Background()
			failing := service(tt.server(t))
			var le *limit.LimitError
			if !tt.givenBack {
				for i := range 3 {
					_, err := failing.Start(ctx, req(fmt.Sprintf("f%d", i)))
					switch {
					case i < 2 && !errors.Is(err, tt.kind):
						t.Fatalf("start %d: %v, want %v", i, err, tt.kind)
					case i == 2 && (!errors.As(err, &le) || le.Kind != limit.KindNumber):
						t.Fatalf("start %d after two failures that may have placed calls: %v, want the per-number limit", i, err)
					}
				}
				return
			}
			// Past the per-number limit (2): only the per-IP limit (4) binds.
			for i := range 5 {
				_, err := failing.Start(ctx, req(fmt.Sprintf("f%d", i)))
				switch {
				case i < 4 && !errors.Is(err, tt.kind):
					t.Fatalf("start %d: %v, want %v", i, err, tt.kind)
				case i == 4 && (!errors.As(err, &le) || le.Kind != limit.KindIP):
					t.Fatalf("start %d from one IP: %v, want the per-IP limit, which given-back starts still count", i, err)
				}
			}
			// The outage is over: the number's two calls are still there.
			working := service(cleanroomcp.New(t, givebackToken, cleanroomcp.Variant{}).URL())
			for i := range 2 {
				r := req(fmt.Sprintf("g%d", i))
				r.ClientIP = "198.51.100.9"
				if res, err := working.Start(ctx, r); err != nil || !res.Placed {
					t.Fatalf("start %d once the provider works: %+v %v: the failed starts used up the limit", i, res, err)
				}
			}
		})
	}
}

// TestNotDeliveredStartWithoutCode: a synchronous start whose answer says
// the call did not reach the phone, with no code (the real client against
// an outside server), is ErrNotDelivered: counted as a placed call whose
// final status is not_delivered, as such a call with a code is, not as
// bad_response (CallPassProviderFailing); nothing is stored, so the next
// start calls at once.
func TestNotDeliveredStartWithoutCode(t *testing.T) {
	var starts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if starts.Add(1) == 1 {
			_, _ = io.WriteString(w, `{"data":{"callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4","result":"SUBSCRIBER_ABSENT"},"status":"success"}`)
			return
		}
		_, _ = io.WriteString(w, `{"data":{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","phone":"2214610","result":"NO_ANSWER"},"status":"success"}`)
	}))
	t.Cleanup(srv.Close)
	mem, lim := memLimited(t, nil)
	c, err := callpass.New(callpass.Config{BaseURL: srv.URL, Token: givebackToken, APIVersion: 3, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	obs := &observer{}
	svc, err := challenge.NewService(cfg, mem, c, lim, challenge.WithLogger(slog.New(slog.DiscardHandler)), challenge.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	ctx := context.Background()
	if _, err := svc.Start(ctx, req("f")); !errors.Is(err, flashcall.ErrNotDelivered) {
		t.Fatalf("start: %v, want %v", err, flashcall.ErrNotDelivered)
	}
	if obs.count("call:placed") != 1 || obs.count("status:not_delivered") != 1 || obs.count("call:bad_response") != 0 {
		t.Fatalf("placed %d, not delivered %d, bad_response %d: want one placed call, not delivered",
			obs.count("call:placed"), obs.count("status:not_delivered"), obs.count("call:bad_response"))
	}
	res, err := svc.Start(ctx, req("f"))
	if err != nil || !res.Placed || res.Challenge.CallClass != flashcall.ClassRang {
		t.Fatalf("next start: %+v, %v: want a new call at once", res, err)
	}
}
