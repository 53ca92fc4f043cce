package webhook

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	segjson "github.com/segmentio/encoding/json"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// TestRefusalCacheMatchesRendering: a refusal from the cache, on its first
// (rendered) and later (remembered) use, is byte for byte what Echo's JSON
// serializer writes for the same message.
func TestRefusalCacheMatchesRendering(t *testing.T) {
	now := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		lang string
		p    problem
	}{
		{"wrong code, 2 left, en", "en", problem{MsgID: ui.MsgWrongCode, Context: map[string]any{"attempts_left": 2}}},
		{"wrong code, 2 left, ru", "ru", problem{MsgID: ui.MsgWrongCode, Context: map[string]any{"attempts_left": 2}}},
		{"wrong code, 1 left, ru", "ru", problem{MsgID: ui.MsgWrongCode, Context: map[string]any{"attempts_left": 1}}},
		{"locked", "en", problem{MsgID: ui.MsgLocked, Context: map[string]any{"attempts_left": 0}}},
		{"expired, no context", "en", problem{MsgID: ui.MsgExpired}},
		{"blocked", "ru", problem{MsgID: ui.MsgBlocked, Retry: newRetry(14*time.Minute+3*time.Second, now, "")}},
		{"rate limited", "en", problem{MsgID: ui.MsgRateLimited, Retry: newRetry(59*time.Minute, now, "number")}},
		{"rate limited, ru", "ru", problem{MsgID: ui.MsgRateLimited, Retry: newRetry(59*time.Minute, now, "number")}},
		{"rate limited, other limit", "en", problem{MsgID: ui.MsgRateLimited, Retry: newRetry(59*time.Minute, now, "identity")}},
		{"cooldown", "en", problem{MsgID: ui.MsgCooldown, Retry: newRetry(30*time.Second, now, "")}},
		{"html in a string", "en", problem{MsgID: ui.MsgInvalidCode, Context: map[string]any{"reason": "<b>&"}}},
		{"float in the context", "en", problem{MsgID: ui.MsgWrongCode, Context: map[string]any{"attempts_left": 2.5}}},
		// As classify words wrong codes: kept by attempts left and reason.
		{"classified wrong code, 2 left, en", "en", classify(&challenge.WrongCodeError{AttemptsLeft: 2}, now)},
		{"classified wrong code, 2 left, ru", "ru", classify(&challenge.WrongCodeError{AttemptsLeft: 2}, now)},
		{"classified wrong code, 1 left, ru", "ru", classify(&challenge.WrongCodeError{AttemptsLeft: 1}, now)},
		{"classified earlier call", "ru", classify(&challenge.WrongCodeError{AttemptsLeft: 1, EarlierCall: true}, now)},
		{"classified format", "en", classify(&challenge.WrongCodeError{AttemptsLeft: 2, Format: true}, now)},
		{"classified locked", "en", classify(&challenge.WrongCodeError{}, now)},
		{"classified wrong code, many left", "en", classify(&challenge.WrongCodeError{AttemptsLeft: maxCachedAttempts + 1}, now)},
		// Rendered into a lent buffer by write: a longer answer, then a
		// shorter one in the same buffer.
		{"classified earlier call, many left, ru", "ru", classify(&challenge.WrongCodeError{AttemptsLeft: 1 << 30, EarlierCall: true}, now)},
		{"classified wrong code, many left, ru", "ru", classify(&challenge.WrongCodeError{AttemptsLeft: 40}, now)},
	}
	r := newRefusals()
	e := echo.New()
	e.JSONSerializer = newJSONSerializer()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c := e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), rec)
			// What interrupt wrote before it had its own writer: the message
			// through Echo's JSON serializer.
			ctx := tc.p.context()
			if err := c.JSON(http.StatusBadRequest, kratosMessages{Messages: []kratosInstance{{InstancePtr: "#/",
				Messages: []kratosMessage{{ID: tc.p.MsgID, Text: ui.Localize(tc.lang, tc.p.MsgID, ctx), Type: "error", Context: ctx}},
			}}}); err != nil {
				t.Fatal(err)
			}
			want := rec.Body.Bytes()
			for i := range 2 {
				got, err := r.body(tc.lang, tc.p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("use %d:\n got %s\nwant %s", i, got, want)
				}
			}
			// As answered.
			for i := range 2 {
				rec := httptest.NewRecorder()
				if err := r.write(e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), rec), tc.lang, tc.p); err != nil {
					t.Fatal(err)
				}
				if got := rec.Body.Bytes(); !bytes.Equal(got, want) || rec.Code != http.StatusBadRequest {
					t.Fatalf("answer %d: %d\n got %s\nwant %s", i, rec.Code, got, want)
				}
			}
		})
	}
	// Only the refusals keyed by a retry time (blocked, the three rate
	// limits, cooldown) or by attempts left (the six classified ones with
	// few left) are kept.
	if n := r.c.Len(); n != 11 {
		t.Errorf("cache holds %d refusals, want 11", n)
	}
}

// TestClassifyWrongCodeContext: a wrong code's refusal carries the context
// the messages, the API's fields and the pages read, whether built at once or
// from its key.
func TestClassifyWrongCodeContext(t *testing.T) {
	now := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		err  *challenge.WrongCodeError
		code string
		msg  int
		want map[string]any
	}{
		{&challenge.WrongCodeError{AttemptsLeft: 2}, "wrong_code", ui.MsgWrongCode, map[string]any{"attempts_left": 2}},
		{&challenge.WrongCodeError{AttemptsLeft: 1, EarlierCall: true}, "wrong_code", ui.MsgWrongCode,
			map[string]any{"attempts_left": 1, "reason": reasonEarlierCall}},
		{&challenge.WrongCodeError{AttemptsLeft: 2, Format: true}, "invalid_code", ui.MsgInvalidCode, map[string]any{"attempts_left": 2}},
		{&challenge.WrongCodeError{AttemptsLeft: 0, EarlierCall: true}, "locked", ui.MsgLocked, map[string]any{"attempts_left": 0}},
		{&challenge.WrongCodeError{AttemptsLeft: 1000}, "wrong_code", ui.MsgWrongCode, map[string]any{"attempts_left": 1000}},
	} {
		p := classify(tc.err, now)
		if p.Code != tc.code || p.MsgID != tc.msg || !reflect.DeepEqual(p.context(), tc.want) {
			t.Errorf("classify(%+v) = %s %d %v, want %s %d %v", *tc.err, p.Code, p.MsgID, p.context(), tc.code, tc.msg, tc.want)
		}
	}
}

// TestWrongCodeRefusalAllocs: a wrong code's refusal, classified and
// answered again (the flood of guesses the reject path must stay cheap
// under), allocates nothing: no context map, no rendering.
func TestWrongCodeRefusalAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	now := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	r := newRefusals()
	var err error = &challenge.WrongCodeError{AttemptsLeft: 2}
	if n := allocs.Min(100, func() {
		if _, err := r.body("ru", classify(err, now)); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a repeated wrong code's refusal makes %v allocations, want 0", n)
	}
}

// TestUncachedRefusalAllocs: a keyed refusal rendered anew (a wrong code
// with more attempts left than are cached, as under a flood of guesses at
// one challenge; a retry time not seen yet) builds its context in a lent
// map, not in one of its own.
func TestUncachedRefusalAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	now := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		p    problem
		want float64 // what Localize and the writer allocate (each 2 more with a map of its own)
	}{
		{"wrong code, 40 left", classify(&challenge.WrongCodeError{AttemptsLeft: maxCachedAttempts + 8}, now), 3},
		{"earlier call, 1000 left", classify(&challenge.WrongCodeError{AttemptsLeft: 1000, EarlierCall: true}, now), 7},
	} {
		r := newRefusals()
		if n := allocs.Min(100, func() {
			if _, err := r.body("ru", tc.p); err != nil {
				t.Fatal(err)
			}
		}); n > tc.want {
			t.Errorf("%s: rendering makes %v allocations, want at most %v", tc.name, n, tc.want)
		}
	}
	// A retry time's first refusal.
	p := classify(&limit.LimitError{Kind: limit.KindNumber, RetryAfter: time.Hour}, now)
	r := newRefusals()
	if n := allocs.Min(100, func() {
		if _, err := r.render("en", p); err != nil {
			t.Fatal(err)
		}
	}); n > 9 {
		t.Errorf("a rate limit's refusal makes %v allocations to render, want at most 9 (11 with a map of its own)", n)
	}
}

// TestRefusalCacheKeepsInputsApart: refusals differing in any input (language,
// message, wait, retry time, limit) each get their own rendering, used in any
// order and while the cache evicts.
func TestRefusalCacheKeepsInputsApart(t *testing.T) {
	now := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	var ps []struct {
		lang string
		p    problem
	}
	for _, lang := range []string{"en", "ru"} {
		for _, id := range []int{ui.MsgBlocked, ui.MsgRateLimited, ui.MsgCooldown} {
			for _, after := range []time.Duration{0, time.Second, 1500 * time.Millisecond, 59 * time.Second, 61 * time.Second,
				15 * time.Minute, time.Hour, time.Hour + time.Second, 24 * time.Hour, 25 * time.Hour} {
				for _, shift := range []time.Duration{0, 500 * time.Millisecond, time.Second, time.Minute} {
					for _, lim := range []string{"", "number", "global"} {
						ps = append(ps, struct {
							lang string
							p    problem
						}{lang, problem{MsgID: id, Retry: newRetry(after, now.Add(shift), lim)}})
					}
				}
			}
		}
	}
	if len(ps) <= refusalCacheSize {
		t.Fatalf("%d inputs: too few to make the cache evict", len(ps))
	}
	r := newRefusals()
	rnd := rand.New(rand.NewPCG(5, 6))
	for range 4 * len(ps) {
		in := ps[rnd.IntN(len(ps))]
		got, err := r.body(in.lang, in.p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := renderInterrupt(in.lang, in.p.MsgID, "error", in.p.context())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s %+v:\n got %s\nwant %s", in.lang, in.p.Retry, got, want)
		}
	}
}

// TestNewRetryMatchesNotBefore: the retry time a refusal shows is notBefore
// of the end of the wait, whatever the instant and the wait.
func TestNewRetryMatchesNotBefore(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	base := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	for range 10000 {
		now := base.Add(time.Duration(rnd.Int64N(int64(48 * time.Hour))))
		if rnd.IntN(4) == 0 {
			now = now.Truncate(time.Second)
		}
		after := time.Duration(rnd.Int64N(int64(2 * time.Hour)))
		k := newRetry(after, now, "")
		secs := int(math.Ceil(after.Seconds()))
		if secs < 1 {
			secs = 1
		}
		ctx := k.context()
		if want := notBefore(now.Add(time.Duration(secs) * time.Second)); ctx["retry_at"] != want || ctx["retry_after"] != secs {
			t.Fatalf("newRetry(%v, %s) = %v, want retry_at %s, retry_after %d", after, now.Format(time.RFC3339Nano), ctx, want, secs)
		}
	}
}

// TestRenderInterruptMatchesSerializer compares the reflection-free writer
// with the generic one (segmentio, as jsonSerializer writes every answer)
// over random contexts (ints, bools, and keys and strings with quotes, HTML,
// control characters, U+2028, non-Latin letters and invalid UTF-8).
func TestRenderInterruptMatchesSerializer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", "_", `"`, `\`, "<", ">", "&", "\n", "\x00", "\x1f", "\u2028", "é", "ж", "🙂", "\xff", " "}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for i := range 5000 {
		ctx := map[string]any{}
		for range rng.IntN(6) {
			switch rng.IntN(3) {
			case 0:
				ctx[str()] = rng.IntN(2000) - 1000
			case 1:
				ctx[str()] = str()
			default:
				ctx[str()] = rng.IntN(2) == 0
			}
		}
		if rng.IntN(10) == 0 {
			ctx = nil
		}
		id, text, typ := rng.IntN(5000000), str(), str()
		got, ok := appendInterrupt(nil, id, text, typ, ctx)
		if !ok {
			t.Fatalf("case %d: not written", i)
		}
		want, err := segjson.Append(nil, kratosMessages{Messages: []kratosInstance{{
			InstancePtr: "#/", Messages: []kratosMessage{{ID: id, Text: text, Type: typ, Context: ctx}},
		}}}, segjson.EscapeHTML|segjson.SortMapKeys)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %q\nwant %q", i, got, want)
		}
	}
	if _, ok := appendInterrupt(nil, 1, "t", "error", map[string]any{"f": 1.5}); ok {
		t.Error("a float context was written by the fast path")
	}
}

func BenchmarkRefusal(b *testing.B) {
	r := newRefusals()
	blocked := problem{MsgID: ui.MsgBlocked, Retry: newRetry(14*time.Minute, time.Now(), "")}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.body("ru", blocked); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rendered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := renderInterrupt("ru", ui.MsgBlocked, "error", blocked.context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wrong-code", func(b *testing.B) {
		wrong := classify(&challenge.WrongCodeError{AttemptsLeft: 2}, time.Now())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.body("ru", wrong); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestNotBeforeNeverEarly: the whole-second times a page counts down to
// (resend_after, retry_at) are never before the instant they stand for.
func TestNotBeforeNeverEarly(t *testing.T) {
	base := time.Date(2026, 11, 26, 6, 0, 10, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{base, "2026-11-26T06:00:10Z"},
		{base.Add(time.Nanosecond), "2026-11-26T06:00:11Z"},
		{base.Add(700 * time.Millisecond), "2026-11-26T06:00:11Z"},
		{base.Add(999 * time.Millisecond), "2026-11-26T06:00:11Z"},
		{base.In(time.FixedZone("MSK", 3*3600)).Add(200 * time.Millisecond), "2026-11-26T06:00:11Z"},
	} {
		if got := notBefore(tc.at); got != tc.want {
			t.Errorf("notBefore(%s) = %s, want %s", tc.at.Format(time.RFC3339Nano), got, tc.want)
		}
	}
	// retry_at: now 10.7 s, 0.5 s to wait → the retry is possible at 11.2 s,
	// so the page must not offer it before 12 s.
	ctx := newRetry(500*time.Millisecond, base.Add(700*time.Millisecond), "").context()
	if ctx["retry_at"] != "2026-11-26T06:00:12Z" || ctx["retry_after"] != 1 {
		t.Errorf("retry context = %v", ctx)
	}
	v := challengeContext(factor.ChallengeView{ResendAfter: base.Add(300 * time.Millisecond)})
	if v["resend_after"] != "2026-11-26T06:00:11Z" {
		t.Errorf("resend_after = %v", v["resend_after"])
	}
}
