package challenge

import (
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
)

// TestWrittenCodeAllocatesOnlyForANumber: the plain code every verify gets
// is read without an allocation (a Builder per verify cost the hook's wrong
// code path one, measurable in its benchmark); a written number is read.
func TestWrittenCodeAllocatesOnlyForANumber(t *testing.T) {
	if n := allocs.Min(100, func() { _, _ = writtenCode("4610") }); n != 0 {
		t.Errorf("writtenCode(\"4610\"): %v allocations, want 0", n)
	}
	for in, want := range map[string]string{"+7 (495) 123-46-10": "74951234610", "74951234610": "74951234610", "46 10": "4610"} {
		if got, ok := writtenCode(in); !ok || got != want {
			t.Errorf("writtenCode(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"4610", "12345", "46l0", "7495123461012345"} {
		if _, ok := writtenCode(in); ok {
			t.Errorf("writtenCode(%q) read a number", in)
		}
	}
}
