package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestCheckResult: the counters read by LookupAndCheck are judged as Take
// judges them. Each read is the Limit-th newest take inside the sliding
// window (none: fewer than Limit takes, allowed); a refusal lasts until that
// take leaves the window, at least 1 ms.
func TestCheckResult(t *testing.T) {
	const now = 1_700_000_000_000 // ms
	type counter struct {
		nth    []float64 // the reply: the Limit-th newest take's score, if any
		err    error
		window time.Duration
	}
	tests := []struct {
		name    string
		in      []counter
		allowed bool
		blocked int
		retry   time.Duration
		wantErr bool
	}{
		{name: "no counters", allowed: true, blocked: -1},
		{name: "missing or below the limit", in: []counter{{window: time.Hour}}, allowed: true, blocked: -1},
		{name: "at the limit: until the take leaves the window", in: []counter{
			{nth: []float64{now - 59*60_000}, window: time.Hour},
		}, blocked: 0, retry: time.Minute},
		{name: "a take of this very millisecond", in: []counter{{nth: []float64{now}, window: time.Second}}, blocked: 0, retry: time.Second},
		{name: "leaving in its last millisecond", in: []counter{
			{nth: []float64{now - 999}, window: time.Second},
		}, blocked: 0, retry: time.Millisecond},
		{name: "first refusing is blocked, longest wait", in: []counter{
			{window: time.Hour},
			{nth: []float64{now - 1000}, window: time.Minute},
			{nth: []float64{now - 1000}, window: time.Hour},
		}, blocked: 1, retry: time.Hour - time.Second},
		// By rank the Limit-th newest take is read whatever its age; only
		// one still inside (now-window, now] refuses.
		{name: "the limit-th newest has left the window", in: []counter{{nth: []float64{now - 60*60_000}, window: time.Hour}}, allowed: true, blocked: -1},
		{name: "long gone", in: []counter{{nth: []float64{now - 5*60*60_000}, window: time.Hour}}, allowed: true, blocked: -1},
		{name: "one millisecond inside", in: []counter{{nth: []float64{now - 60*60_000 + 1}, window: time.Hour}}, blocked: 0, retry: time.Millisecond},
		{name: "counter read failed", in: []counter{{err: errors.New("WRONGTYPE"), window: time.Hour}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cmds []counterCheck
			for _, c := range tt.in {
				var z []redis.Z
				for _, sc := range c.nth {
					z = append(z, redis.Z{Score: sc, Member: "m"})
				}
				cmds = append(cmds, counterCheck{limit: 5, window: c.window.Milliseconds(), now: now,
					nthNewer: redis.NewZSliceCmdResult(z, c.err)})
			}
			res, err := checkResult(cmds)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if res.Allowed != tt.allowed || res.Blocked != tt.blocked || res.RetryAfter != tt.retry || res.Counts != nil {
				t.Fatalf("got allowed %v blocked %d retry %v counts %v, want %v %d %v nil", res.Allowed, res.Blocked, res.RetryAfter,
					res.Counts, tt.allowed, tt.blocked, tt.retry)
			}
		})
	}
}
