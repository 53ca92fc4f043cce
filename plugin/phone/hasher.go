package phone

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	key []byte
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
	return &Hasher{key: m.Sum(nil)}, nil
}

// Sum is the name of the number e164 in domain (each use has its own, so
// two uses of one number cannot be matched to each other): 32 hex digits.
func (h *Hasher) Sum(domain, e164 string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(e164))
	var buf [sha256.Size]byte
	return hex.EncodeToString(m.Sum(buf[:0])[:16])
}
