package main

import "testing"

// TestNormalizeCodeOtherDigits: the code field takes an IME's fullwidth
// digits and Arabic-Indic or Persian ones without JavaScript (as the
// server reads them); the relay dropped them as non-digits and sent Kratos
// an empty code. They now count as the digits they are, a whole number's
// last n of them included.
func TestNormalizeCodeOtherDigits(t *testing.T) {
	tests := []struct{ in, want string }{
		{"４６１０", "4610"},
		{"٤٦١٠", "4610"},
		{"۴۶۱۰", "4610"},
		{"＋７ （４９５） １２３－４６－１０", "4610"},
		{"+7 495 123-46-10", "4610"},
		{"4610", "4610"},
		{"46a", "46"},
	}
	for _, tt := range tests {
		if got := normalizeCode(tt.in, 4); got != tt.want {
			t.Errorf("normalizeCode(%q, 4) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
