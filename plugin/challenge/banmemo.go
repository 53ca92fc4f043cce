package challenge

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// banMemoSize bounds the identities whose ban is remembered. Only an
// identity the store reported banned is added (it took max_failures locked
// challenges), so a flood cannot fill it with junk; the oldest go first.
const banMemoSize = 4096

// banRecheckEvery is how long a remembered ban refuses without asking the
// store again. A ban ends early only when an operator lifts it
// (`callpass-kratos bans lift`); every instance then stops refusing it
// within this time, at the cost of one store read per banned identity per
// interval however hard it is flooded (SIGHUP forgets every ban at once).
const banRecheckEvery = 30 * time.Second

// banRecheckTimeout bounds the re-read of a remembered ban. It does not end
// with the request that claimed it: the claim is spent either way, and a
// read failed because that request hung up would keep a lifted ban refusing
// for another banRecheckEvery.
const banRecheckTimeout = 5 * time.Second

// banMemo remembers, per identity, the end of a regulation ban the store
// reported, so a flood against a banned identity is refused in process
// instead of costing a store round trip per request (the attacker's lever
// against a shared Redis). Bans end by time, or early when lifted: an entry
// is read again from the store once per banRecheckEvery (claimRecheck, one
// caller per interval). The memo only ever refuses: it fails closed.
type banMemo struct {
	bans *lru.Cache[string, memoBan]
	mu   sync.Mutex // claimRecheck's read-modify-write
}

// memoBan is a remembered ban: its end, and when the store last said so.
type memoBan struct{ until, checked time.Time }

func newBanMemo() *banMemo {
	c, err := lru.New[string, memoBan](banMemoSize)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &banMemo{bans: c}
}

// until returns when identityID's remembered ban ends, if one is
// remembered and still running at now; an ended one is dropped.
func (m *banMemo) until(identityID string, now time.Time) (time.Time, bool) {
	b, ok := m.get(identityID, now)
	return b.until, ok
}

// get is until with the time the store last confirmed the ban.
func (m *banMemo) get(identityID string, now time.Time) (memoBan, bool) {
	b, ok := m.bans.Get(identityID)
	if !ok {
		return memoBan{}, false
	}
	if !now.Before(b.until) {
		m.bans.Remove(identityID)
		return memoBan{}, false
	}
	return b, true
}

// stale reports a remembered ban due to be read from the store again.
func (b memoBan) stale(now time.Time) bool { return now.Sub(b.checked) >= banRecheckEvery }

// claimRecheck reports whether the caller is to read identityID's ban from
// the store again: the store last confirmed it banRecheckEvery ago or more.
// Only one caller per interval gets true (the claim counts as the check), so
// a flood costs one store read per interval. Callers ask only for a ban
// get found stale: the lock is off the path of every other refusal.
func (m *banMemo) claimRecheck(identityID string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.bans.Peek(identityID)
	if !ok || !b.stale(now) {
		return false
	}
	b.checked = now
	m.bans.Add(identityID, b)
	return true
}

// add remembers a ban of identityID running until t (a zero or past t is
// ignored), confirmed by the store at now. A later end replaces an earlier
// one, never the reverse.
func (m *banMemo) add(identityID string, t, now time.Time) {
	if t.IsZero() || !now.Before(t) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.bans.Peek(identityID); ok && !t.After(cur.until) {
		cur.checked = now
		m.bans.Add(identityID, cur)
		return
	}
	m.bans.Add(identityID, memoBan{until: t, checked: now})
}

// drop forgets identityID's ban: the store says it has none (lifted).
func (m *banMemo) drop(identityID string) { m.bans.Remove(identityID) }

// forget drops every remembered ban.
func (m *banMemo) forget() { m.bans.Purge() }
