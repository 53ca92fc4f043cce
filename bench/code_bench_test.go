package bench

import (
	"crypto/subtle"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

var codeKey = []byte("bench-code-key-0123456789abcdef-0123456789")

// BenchmarkHashCode is the keyed hash stored instead of a code.
func BenchmarkHashCode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		challenge.HashCode(codeKey, "AAAAAAAAAAAAAAAAAAAAAA.0123456789", "1234")
	}
}

// BenchmarkCompareCode is the whole comparison a verify makes: hash the input,
// compare in constant time.
func BenchmarkCompareCode(b *testing.B) {
	id := "AAAAAAAAAAAAAAAAAAAAAA.0123456789"
	want := challenge.HashCode(codeKey, id, "1234")
	b.ReportAllocs()
	for b.Loop() {
		if subtle.ConstantTimeCompare(challenge.HashCode(codeKey, id, "1235"), want) == 1 {
			b.Fatal("wrong code matched")
		}
	}
}
