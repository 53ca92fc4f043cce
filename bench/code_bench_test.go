package bench

import (
	"crypto/subtle"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

var codeKey = []byte("bench-code-key-0123456789abcdef-0123456789")

var codeBinding = challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "5e1b7b4a-0000-4000-8000-000000000001", FlowID: "5e1b7b4a-0000-4000-8000-000000000002"}

// BenchmarkHashCode is the keyed hash stored instead of a code.
func BenchmarkHashCode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		challenge.HashCode(codeKey, codeBinding, "1234")
	}
}

// BenchmarkCompareCode is the whole comparison a verify makes: hash the input,
// compare in constant time.
func BenchmarkCompareCode(b *testing.B) {
	want := challenge.HashCode(codeKey, codeBinding, "1234")
	b.ReportAllocs()
	for b.Loop() {
		if subtle.ConstantTimeCompare(challenge.HashCode(codeKey, codeBinding, "1235"), want) == 1 {
			b.Fatal("wrong code matched")
		}
	}
}
