package callpass

import (
	"context"
	"errors"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// TestNumericCodeKeepsItsDigits: a provider that sends the code (or the
// v3 calling-number digits) as a JSON number loses its leading zeros, and
// only them: 446 is what "0446" or "00446" became. The code is the last
// digits of the calling number, and the user is asked for the last
// len(code) digits, so the number padded with zeros to the fewest digits
// asked for (4; the configured length in v3) is those digits exactly,
// never a guess. A number with fewer than 4 digits was refused as no
// usable code: the call was placed and paid for, and lost. Strings are
// taken as they come; numbers that are not plain integers stay refused.
func TestNumericCodeKeepsItsDigits(t *testing.T) {
	tests := []struct {
		name     string
		version  int
		codeLen  int
		data     string
		wantCode string
	}{
		{"v1 pin 446", 1, 4, `"pin":446,"result":"NO_ANSWER"`, "0446"},
		{"v1 pin 7127", 1, 4, `"pin":7127,"result":"NO_ANSWER"`, "7127"},
		{"v2 phone 46", 2, 4, `"phone":46,"result":"null"`, "0046"},
		{"v2 phone 4610", 2, 4, `"phone":4610,"result":"null"`, "4610"},
		{"v3 phone 2214610", 3, 4, `"phone":2214610,"result":"null"`, "4610"},
		{"v3 phone 446", 3, 4, `"phone":446,"result":"null"`, "0446"},
		{"v3 phone 4610, 6 digits", 3, 6, `"phone":4610,"result":"null"`, "004610"},
		{"v3 pin 446", 3, 4, `"pin":446,"result":"null"`, "0446"},
		// Strings are what the provider says: a short one is no code.
		{"v1 pin string 446", 1, 4, `"pin":"446","result":"NO_ANSWER"`, ""},
		{"v3 phone string 446", 3, 4, `"phone":"446","result":"null"`, ""},
		// Not plain integers: refused as before. Nor 0, more likely a
		// "no code" placeholder than the code 0000.
		{"v1 pin 0", 1, 4, `"pin":0,"result":"NO_ANSWER"`, ""},
		{"v3 phone 0", 3, 4, `"phone":0,"result":"null"`, ""},
		{"v1 pin negative", 1, 4, `"pin":-446,"result":"NO_ANSWER"`, ""},
		{"v1 pin exponent", 1, 4, `"pin":4.46e2,"result":"NO_ANSWER"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"data":{"callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4",` + tt.data + `},"status":"success"}`
			p := newProvider(t, jsonAnswer(body))
			c := newTestClient(t, p.srv.URL, tt.version, func(cfg *Config) { cfg.CodeLength = tt.codeLen })
			call, err := c.StartCall(context.Background(), mustPhone(t))
			if tt.wantCode == "" {
				if !errors.Is(err, flashcall.ErrBadResponse) {
					t.Fatalf("StartCall = %+v, %v; want a bad response", call, err)
				}
				return
			}
			if err != nil || call.Code != tt.wantCode {
				t.Fatalf("StartCall = %+v, %v; want code %q", call, err, tt.wantCode)
			}
		})
	}
}
