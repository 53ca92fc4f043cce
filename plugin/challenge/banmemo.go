package challenge

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// banMemoSize bounds the identities whose ban is remembered. Only an
// identity the store reported banned is added (it took max_failures locked
// challenges), so a flood cannot fill it with junk; the oldest go first.
const banMemoSize = 4096

// banMemo remembers, per identity, the end of a regulation ban the store
// reported, so a flood against a banned identity is refused in process
// instead of costing a store round trip per request (the attacker's lever
// against a shared Redis). A ban ends by time unless an operator lifts it
// (`callpass-kratos bans lift`, or a key deleted by hand): then, and only
// then, the memo refuses what the store would allow, until Forget (SIGHUP)
// or the remembered end. The memo only ever refuses: it fails closed.
type banMemo struct {
	bans *lru.Cache[string, time.Time]
}

func newBanMemo() *banMemo {
	c, err := lru.New[string, time.Time](banMemoSize)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &banMemo{bans: c}
}

// until returns when identityID's remembered ban ends, if one is
// remembered and still running at now; an ended one is dropped.
func (m *banMemo) until(identityID string, now time.Time) (time.Time, bool) {
	t, ok := m.bans.Get(identityID)
	if !ok {
		return time.Time{}, false
	}
	if !now.Before(t) {
		m.bans.Remove(identityID)
		return time.Time{}, false
	}
	return t, true
}

// add remembers a ban of identityID running until t (a zero or past t is
// ignored). A later end replaces an earlier one, never the reverse.
func (m *banMemo) add(identityID string, t, now time.Time) {
	if t.IsZero() || !now.Before(t) {
		return
	}
	if cur, ok := m.bans.Peek(identityID); ok && !t.After(cur) {
		return
	}
	m.bans.Add(identityID, t)
}

// forget drops every remembered ban.
func (m *banMemo) forget() { m.bans.Purge() }
