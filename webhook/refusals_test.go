package webhook

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	segjson "github.com/segmentio/encoding/json"

	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
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
		id   int
		ctx  map[string]any
	}{
		{"wrong code, 2 left, en", "en", ui.MsgWrongCode, map[string]any{"attempts_left": 2}},
		{"wrong code, 2 left, ru", "ru", ui.MsgWrongCode, map[string]any{"attempts_left": 2}},
		{"wrong code, 1 left, ru", "ru", ui.MsgWrongCode, map[string]any{"attempts_left": 1}},
		{"locked", "en", ui.MsgLocked, map[string]any{"attempts_left": 0}},
		{"expired, no context", "en", ui.MsgExpired, nil},
		{"blocked", "ru", ui.MsgBlocked, retryContext(14*time.Minute+3*time.Second, now)},
		{"rate limited", "en", ui.MsgRateLimited, retryContext(59*time.Minute, now)},
		{"cooldown", "en", ui.MsgCooldown, retryContext(30*time.Second, now)},
		{"html in a string", "en", ui.MsgInvalidCode, map[string]any{"reason": "<b>&"}},
		{"not cacheable (float)", "en", ui.MsgWrongCode, map[string]any{"attempts_left": 2.5}},
	}
	r := newRefusals()
	e := echo.New()
	e.JSONSerializer = jsonSerializer{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c := e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), rec)
			// What interrupt wrote before it had its own writer: the message
			// through Echo's JSON serializer.
			if err := c.JSON(http.StatusBadRequest, kratosMessages{Messages: []kratosInstance{{InstancePtr: "#/",
				Messages: []kratosMessage{{ID: tc.id, Text: ui.Localize(tc.lang, tc.id, tc.ctx), Type: "error", Context: tc.ctx}},
			}}}); err != nil {
				t.Fatal(err)
			}
			want := rec.Body.Bytes()
			for i := range 2 {
				got, err := r.body(tc.lang, tc.id, "error", tc.ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("use %d:\n got %s\nwant %s", i, got, want)
				}
			}
		})
	}
	// Only the refusals with a retry time are kept: blocked, rate limited, cooldown.
	if n := r.c.Len(); n != 3 {
		t.Errorf("cache holds %d refusals, want 3", n)
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

// TestRefusalKeyDistinct: inputs that render differently never share a key.
func TestRefusalKeyDistinct(t *testing.T) {
	inputs := []struct {
		lang, typ string
		id        int
		ctx       map[string]any
	}{
		{"en", "error", 1, nil},
		{"ru", "error", 1, nil},
		{"en", "info", 1, nil},
		{"en", "error", 11, nil},
		{"en", "error", 1, map[string]any{"a": 1}},
		{"en", "error", 1, map[string]any{"a": "1"}},
		{"en", "error", 1, map[string]any{"a": 12}},
		{"en", "error", 1, map[string]any{"a1": 2}},
		{"en", "error", 1, map[string]any{"a": 1, "b": 2}},
		{"en", "error", 1, map[string]any{"a": "1:1s1:b"}},
		{"en", "error", 1, map[string]any{"a": "", "b": ""}},
		{"en", "error", 1, map[string]any{"ab": ""}},
	}
	seen := map[string]int{}
	for i, in := range inputs {
		k, ok := refusalKey(in.lang, in.id, in.typ, in.ctx)
		if !ok {
			t.Fatalf("input %d not cacheable", i)
		}
		if j, dup := seen[k]; dup {
			t.Fatalf("inputs %d and %d share the key %q", j, i, k)
		}
		seen[k] = i
	}
	if _, ok := refusalKey("en", 1, "error", map[string]any{"t": time.Now()}); ok {
		t.Error("a time.Time context was taken as cacheable")
	}
}

func BenchmarkRefusal(b *testing.B) {
	r := newRefusals()
	ctx := retryContext(14*time.Minute, time.Now())
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.body("ru", ui.MsgBlocked, "error", ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rendered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := renderInterrupt("ru", ui.MsgBlocked, "error", ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wrong-code", func(b *testing.B) {
		wrong := map[string]any{"attempts_left": 2}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.body("ru", ui.MsgWrongCode, "error", wrong); err != nil {
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
	ctx := retryContext(500*time.Millisecond, base.Add(700*time.Millisecond))
	if ctx["retry_at"] != "2026-11-26T06:00:12Z" || ctx["retry_after"] != 1 {
		t.Errorf("retryContext = %v", ctx)
	}
	v := challengeContext(factor.ChallengeView{ResendAfter: base.Add(300 * time.Millisecond)})
	if v["resend_after"] != "2026-11-26T06:00:11Z" {
		t.Errorf("resend_after = %v", v["resend_after"])
	}
}
