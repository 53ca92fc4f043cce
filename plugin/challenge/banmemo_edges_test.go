package challenge

// White-box tests of banMemo (unexported, so this file is in package
// challenge rather than challenge_test like its neighbours): its expiry
// boundary, that ended or pointless bans take no slot, and its LRU bound.

import (
	"fmt"
	"testing"
	"time"
)

var memoNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestBanMemoEndsAtItsEnd: a ban is remembered strictly before its end; at
// the end instant and after it the memo refuses nothing and drops the entry.
func TestBanMemoEndsAtItsEnd(t *testing.T) {
	m := newBanMemo()
	end := memoNow.Add(15 * time.Minute)
	m.add("id", end, memoNow)
	if got, ok := m.until("id", end.Add(-time.Nanosecond)); !ok || !got.Equal(end) {
		t.Fatalf("just before the end: %v %v, want %v true", got, ok, end)
	}
	if got, ok := m.until("id", end); ok {
		t.Fatalf("at the end instant the ban is still remembered (until %v)", got)
	}
	if m.bans.Len() != 0 {
		t.Fatalf("an ended ban stays in the memo (%d entries)", m.bans.Len())
	}

	m.add("id2", end, memoNow)
	if got, ok := m.until("id2", end.Add(time.Hour)); ok {
		t.Fatalf("an hour after the end the ban is still remembered (until %v)", got)
	}
	if m.bans.Contains("id2") {
		t.Fatal("an ended ban stays in the memo")
	}
}

// TestBanMemoIgnoresEndedBans: a zero end, or one at or before now, is not
// stored: it would refuse nothing but take a slot from a live ban.
func TestBanMemoIgnoresEndedBans(t *testing.T) {
	m := newBanMemo()
	m.add("zero", time.Time{}, memoNow)
	m.add("now", memoNow, memoNow)
	m.add("past", memoNow.Add(-time.Second), memoNow)
	if n := m.bans.Len(); n != 0 {
		t.Fatalf("%d ended bans stored, want 0 (keys %v)", n, m.bans.Keys())
	}
}

// TestBanMemoKeepsTheLaterEnd: an earlier end reported after a later one
// (a stale read) does not shorten the remembered ban.
func TestBanMemoKeepsTheLaterEnd(t *testing.T) {
	m := newBanMemo()
	later, earlier := memoNow.Add(time.Hour), memoNow.Add(time.Minute)
	m.add("id", later, memoNow)
	m.add("id", earlier, memoNow)
	if got, ok := m.until("id", memoNow); !ok || !got.Equal(later) {
		t.Fatalf("until %v %v, want %v", got, ok, later)
	}
	m.add("id", later.Add(time.Hour), memoNow)
	if got, _ := m.until("id", memoNow); !got.Equal(later.Add(time.Hour)) {
		t.Fatalf("a later end did not replace: %v", got)
	}
}

// TestBanMemoBound: the memo holds exactly 4096 identities; the next one
// pushes out the oldest, no more and no less.
func TestBanMemoBound(t *testing.T) {
	const size = 4096 // the documented bound (banMemoSize)
	m := newBanMemo()
	end := memoNow.Add(time.Hour)
	for i := range size {
		m.add(fmt.Sprint("id-", i), end, memoNow)
	}
	for i := range size {
		if _, ok := m.until(fmt.Sprint("id-", i), memoNow); !ok {
			t.Fatalf("with %d bans, id-%d was forgotten", size, i)
		}
	}
	m.add("one-more", end, memoNow)
	if _, ok := m.until("id-0", memoNow); ok {
		t.Fatalf("with %d bans the oldest is still remembered: the bound is above %d", size+1, size)
	}
	for _, id := range []string{"id-1", fmt.Sprint("id-", size-1), "one-more"} {
		if _, ok := m.until(id, memoNow); !ok {
			t.Fatalf("%s was forgotten", id)
		}
	}
	if n := m.bans.Len(); n != size {
		t.Fatalf("memo holds %d, want %d", n, size)
	}
}
