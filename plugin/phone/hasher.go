package phone

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
)

// MinHashKeyLen is the shortest secret NewHasher accepts.
const MinHashKeyLen = 32

// Hasher names a number (or a client address) where it must be found again
// but not read: store keys (per-number and per-IP limits, a phone check's
// owner, the owner's ban) and the challenge ids whose tag derives from that
// owner. It is keyed (HMAC-SHA256) because an unkeyed hash of a
// Russian number is no secret: there are 10^10 of them, a few minutes of
// brute force.
type Hasher struct {
	// macs holds keyed HMACs with their buffers, to Reset and reuse: every
	// call start names its number and its client (one allocation a name).
	macs sync.Pool
}

// mac is one pooled HMAC and its buffers.
type mac struct {
	h   hash.Hash
	in  []byte
	sum []byte
}

// NewHasher derives its key from secret (the service's challenge code key:
// every instance sharing a store must use the same). Changing the secret
// renames every number, as if its counters were new.
func NewHasher(secret []byte) (*Hasher, error) {
	if len(secret) < MinHashKeyLen {
		return nil, fmt.Errorf("phone: number hash key must be at least %d bytes, got %d", MinHashKeyLen, len(secret))
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("callpass-kratos number names v1"))
	key := m.Sum(nil)
	h := &Hasher{}
	h.macs.New = func() any {
		return &mac{h: hmac.New(sha256.New, key), in: make([]byte, 0, 96), sum: make([]byte, 0, sha256.Size)}
	}
	return h, nil
}

// Sum is the name of the number e164 in domain (each use has its own, so
// two uses of one number cannot be matched to each other): 32 hex digits.
func (h *Hasher) Sum(domain, e164 string) string {
	m := h.macs.Get().(*mac)
	m.h.Reset()
	m.in = append(append(append(m.in[:0], domain...), 0), e164...)
	m.h.Write(m.in)
	m.sum = m.h.Sum(m.sum[:0])
	var out [32]byte
	hex.Encode(out[:], m.sum[:16])
	h.macs.Put(m)
	return string(out[:])
}
