package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestCheckResult: the counters read by LookupAndCheck are judged as Take
// judges them, and a window that ended between the two reads refuses
// nothing.
func TestCheckResult(t *testing.T) {
	type counter struct {
		val   string
		err   error
		ttl   time.Duration
		limit int64
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
		{name: "missing counter", in: []counter{{err: redis.Nil, ttl: -2, limit: 1}}, allowed: true, blocked: -1},
		{name: "below the limit", in: []counter{{val: "4", ttl: time.Minute, limit: 5}}, allowed: true, blocked: -1},
		{name: "at the limit", in: []counter{{val: "5", ttl: time.Minute, limit: 5}}, blocked: 0, retry: time.Minute},
		{name: "above the limit", in: []counter{{val: "9", ttl: time.Second, limit: 5}}, blocked: 0, retry: time.Second},
		{name: "first refusing is blocked, longest wait", in: []counter{
			{val: "1", ttl: time.Hour, limit: 5},
			{val: "3", ttl: time.Minute, limit: 3},
			{val: "7", ttl: time.Hour, limit: 2},
		}, blocked: 1, retry: time.Hour},
		{name: "window ended between the reads", in: []counter{{val: "5", ttl: -2, limit: 5}}, allowed: true, blocked: -1},
		{name: "counter read failed", in: []counter{{err: errors.New("LOADING"), limit: 5}}, wantErr: true},
		{name: "not a number", in: []counter{{val: "x", ttl: time.Minute, limit: 5}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cmds []counterCheck
			for _, c := range tt.in {
				cmds = append(cmds, counterCheck{limit: c.limit, get: redis.NewStringResult(c.val, c.err),
					ttl: redis.NewDurationResult(c.ttl, nil)})
			}
			res, err := checkResult(cmds)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if res.Allowed != tt.allowed || res.Blocked != tt.blocked || res.RetryAfter != tt.retry {
				t.Fatalf("got allowed %v blocked %d retry %v, want %v %d %v", res.Allowed, res.Blocked, res.RetryAfter,
					tt.allowed, tt.blocked, tt.retry)
			}
		})
	}
}
