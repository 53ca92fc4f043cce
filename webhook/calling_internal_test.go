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

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// challengeContext is the "calling" interrupt's context as a map, what
// the hook answered through renderInterrupt before writeCalling: the
// reference the written answer is compared with.
func challengeContext(v factor.ChallengeView) map[string]any {
	return map[string]any{
		"challenge_id":  v.ID,
		"code_length":   v.CodeLength,
		"expires_at":    v.ExpiresAt.UTC().Format(time.RFC3339),
		"resend_after":  notBefore(v.ResendAfter),
		"phone_masked":  v.PhoneMasked,
		"attempts_left": v.AttemptsLeft,
		"placed":        v.Placed,
		"call_status":   v.CallStatus,
	}
}

func callingViews() []factor.ChallengeView {
	msk := time.FixedZone("MSK", 3*3600)
	base := factor.ChallengeView{ID: "AbCdEfGhIjKlMnOpQrSt12.34abcdef01", State: "pending", CodeLength: 4,
		ExpiresAt: time.Date(2026, 11, 27, 22, 5, 0, 0, time.UTC), ResendAfter: time.Date(2026, 11, 27, 22, 1, 0, 300, time.UTC),
		PhoneMasked: "+7 *** ***-**-67", AttemptsLeft: 3, Placed: true, CallStatus: "ringing"}
	views := []factor.ChallengeView{base}
	rng := rand.New(rand.NewPCG(3, 4))
	odd := []string{"", "<b>&amp;</b>", `q"\`, "\u2028\u2029", "\x00\x1f", "ж🙂", "\xff", "+7 (900) ***-**-67"}
	for i := range 200 {
		v := base
		v.ID, v.PhoneMasked, v.CallStatus = odd[rng.IntN(len(odd))], odd[rng.IntN(len(odd))], odd[rng.IntN(len(odd))]
		v.CodeLength = []int{0, 1, 2, 4, 5, 6, 11, 21, 300}[rng.IntN(9)]
		v.AttemptsLeft = []int{-1, 0, 1, 2, 3, 5, 1000, 1 << 30}[rng.IntN(8)]
		v.Placed = i%2 == 0
		v.ExpiresAt = base.ExpiresAt.Add(time.Duration(rng.Int64N(int64(48 * time.Hour)))).In(msk)
		v.ResendAfter = base.ResendAfter.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		if i%7 == 0 {
			v.ResendAfter = v.ResendAfter.Truncate(time.Second).In(msk)
		}
		if i%11 == 0 {
			v.ExpiresAt, v.ResendAfter = time.Time{}, time.Time{}
		}
		views = append(views, v)
	}
	return views
}

// TestCallingMatchesRendering: the "calling" interrupt a started challenge
// is answered with is byte for byte what rendering its context map gave,
// in every language, for any view, with and without a reason (markup and invalid UTF-8 in the
// strings, times in other zones, with fractions of a second, zero).
func TestCallingMatchesRendering(t *testing.T) {
	e := echo.New()
	for _, lang := range []string{"en", "ru", "xx"} {
		for i, v := range callingViews() {
			ctx, reason := challengeContext(v), ""
			if i%3 == 1 { // the settings flow's call to the current number
				reason = reasonCurrentNumber
				ctx["reason"] = reason
			}
			want, err := renderInterrupt(lang, ui.MsgCalling, "info", ctx)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second from a lent buffer
				rec := httptest.NewRecorder()
				if err := writeCalling(e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), rec), lang, v, reason); err != nil {
					t.Fatal(err)
				}
				if got := rec.Body.Bytes(); !bytes.Equal(got, want) || rec.Code != http.StatusBadRequest ||
					!strings.HasPrefix(rec.Header().Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
					t.Fatalf("%s, view %d: %d %q\n got %s\nwant %s", lang, i, rec.Code, rec.Header().Get(echo.HeaderContentType), got, want)
				}
			}
		}
	}
}

// TestCallingAllocs: answering a started challenge's "calling" interrupt
// allocates only the text (12 with the context map, its boxed values and
// formatted times, and a buffer of its own).
func TestCallingAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	v := callingViews()[0]
	c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/", nil), &nopWriter{h: http.Header{}})
	n := allocs.Min(200, func() {
		c.Response().Committed = false
		if err := writeCalling(c, "ru", v, ""); err != nil {
			t.Fatal(err)
		}
	})
	if n > 3 {
		t.Errorf("the calling interrupt makes %v allocations, want at most 3", n)
	}
}
