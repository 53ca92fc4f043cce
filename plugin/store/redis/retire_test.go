package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
)

// TestRetireKeepsTTLs: the retire scripts only change a field of keys that
// exist, so every key keeps its expiry: the challenge and its binding's
// active pointer still go when the challenge's time is up (a key left
// without a TTL would stay in Redis for ever), and no key is made.
func TestRetireKeepsTTLs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, rdb, prefix := ownStore(t)
	now := time.UnixMilli(time.Now().UnixMilli())
	b := storetest.Bind("retire-ttl")
	c := storetest.New(b, now, 5*time.Minute)
	if _, created, err := s.Create(ctx, c, "", now); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	keys := s.Keys(c)
	ttls := func() map[string]time.Duration {
		t.Helper()
		m := map[string]time.Duration{}
		for _, k := range keys {
			d, err := rdb.PTTL(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			m[k] = d
		}
		return m
	}
	count := func() int { t.Helper(); return len(keysUnder(t, rdb, prefix)) }
	before, n := ttls(), count()
	steps := []struct {
		name string
		run  func() error
	}{
		{"retire", func() error { _, _, err := s.Retire(ctx, b, c.ID, now); return err }},
		{"restore", func() error { return s.Restore(ctx, b, c.ID) }},
		{"retire again", func() error { _, _, err := s.Retire(ctx, b, c.ID, now); return err }},
		{"restore unleased", func() error { _, err := s.RestoreUnleased(ctx, b, c.ID); return err }},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for k, d := range ttls() {
			// Counted down since, never reset or removed.
			if d <= 0 || d > before[k] || before[k]-d > time.Minute {
				t.Fatalf("after %s: %s has PTTL %v, had %v", st.name, k, d, before[k])
			}
		}
		if got := count(); got != n {
			t.Fatalf("after %s: %d keys, want %d", st.name, got, n)
		}
	}
}
