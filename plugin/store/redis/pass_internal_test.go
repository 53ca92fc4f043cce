package redisstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestClaimPassReadsBothForms: a pass written before passes carried the
// number called ("<expires>:<session id>") is still claimed after an
// upgrade, and reports no number (the exchange then falls back to the
// trait); a pass in the current form reports its number, and claiming it
// keeps the number.
func TestClaimPassReadsBothForms(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	now := time.UnixMilli(1_800_000_000_000)
	s := New(rdb, "t:", WithClock(func() time.Time { return now }))
	ctx := context.Background()
	exp := strconv.FormatInt(now.Add(time.Hour).UnixMilli(), 10)
	at := now.Add(-time.Minute)
	field := strconv.FormatInt(at.UnixMilli(), 10)
	for _, tt := range []struct {
		name, value, session string
		want                 bool
		wantNumber, after    string
	}{
		{"old form, unclaimed", exp + ":", "s1", true, "", exp + ":s1"},
		{"old form, claimed by the session", exp + ":s1", "s1", true, "", exp + ":s1"},
		{"old form, claimed by another", exp + ":s2", "s1", false, "", exp + ":s2"},
		{"new form, unclaimed", exp + ":+79001112233:", "s1", true, "+79001112233", exp + ":+79001112233:s1"},
		{"new form, claimed by the session", exp + ":+79001112233:s1", "s1", true, "+79001112233", exp + ":+79001112233:s1"},
		{"new form, claimed by another", exp + ":+79001112233:s2", "s1", false, "", exp + ":+79001112233:s2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "identity-" + strconv.Itoa(len(tt.name)) + tt.session + tt.value[len(exp):]
			key := s.passKey(id)
			if err := rdb.HSet(ctx, key, field, tt.value).Err(); err != nil {
				t.Fatal(err)
			}
			num, ok, err := s.ClaimPass(ctx, id, at, time.Second, tt.session)
			if err != nil || ok != tt.want || num != tt.wantNumber {
				t.Fatalf("ClaimPass = %q %v %v, want %q %v", num, ok, err, tt.wantNumber, tt.want)
			}
			if got := rdb.HGet(ctx, key, field).Val(); got != tt.after {
				t.Errorf("stored pass %q, want %q", got, tt.after)
			}
		})
	}
}
