package callpass

import (
	"fmt"
	"testing"
	"time"
)

// TestCallRefsBounded: the table of masked references forgets old entries
// and never grows past maxCallRefs.
func TestCallRefsBounded(t *testing.T) {
	var r callRefs
	now := time.Unix(1_700_000_000, 0)
	first := r.add("x", "exact-0", now)
	if id, ok := r.get(first, now); !ok || id != "exact-0" {
		t.Fatalf("get = %q, %v", id, ok)
	}
	if _, ok := r.get(first, now.Add(callRefTTL+time.Second)); ok {
		t.Fatal("an expired reference still resolves")
	}
	if len(r.ids) != 0 {
		t.Fatal("an expired reference was kept after it was looked up")
	}
	for i := range maxCallRefs + 10 {
		r.add("x", fmt.Sprint("exact-", i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(r.ids); n > maxCallRefs {
		t.Fatalf("%d references kept, at most %d allowed", n, maxCallRefs)
	}
	last := r.add("x", "exact-last", now.Add(time.Hour))
	if id, ok := r.get(last, now.Add(time.Hour)); !ok || id != "exact-last" {
		t.Fatalf("newest reference lost: %q, %v", id, ok)
	}
}
