package phone

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestHasher(t *testing.T) {
	if _, err := NewHasher(make([]byte, MinHashKeyLen-1)); err == nil {
		t.Fatal("a short key was accepted")
	}
	k1 := []byte(strings.Repeat("a", 32))
	k2 := []byte(strings.Repeat("b", 32))
	h1, err := NewHasher(k1)
	if err != nil {
		t.Fatal(err)
	}
	h1again, _ := NewHasher(k1)
	h2, _ := NewHasher(k2)
	const num, other = "+79001234567", "+79001234568"
	unkeyed := func(domain string) string {
		s := sha256.Sum256([]byte(domain + "\x00" + num))
		return hex.EncodeToString(s[:16])
	}
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"same key, same number, same domain", h1.Sum("number", num), h1again.Sum("number", num), true},
		{"another key", h1.Sum("number", num), h2.Sum("number", num), false},
		{"another number", h1.Sum("number", num), h1.Sum("number", other), false},
		{"another domain", h1.Sum("number", num), h1.Sum("owner", num), false},
		{"not the unkeyed hash", h1.Sum("number", num), unkeyed("number"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.a == tc.b) != tc.same {
				t.Fatalf("%s vs %s: same = %v, want %v", tc.a, tc.b, tc.a == tc.b, tc.same)
			}
			if len(tc.a) != 32 || strings.Contains(tc.a, "9001234567") {
				t.Fatalf("sum %q: want 32 hex digits without the number", tc.a)
			}
		})
	}
}

func BenchmarkHasherSum(b *testing.B) {
	h, err := NewHasher([]byte(strings.Repeat("a", 32)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Sum("number", "+79001234567")
	}
}
