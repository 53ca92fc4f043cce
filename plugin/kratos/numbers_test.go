package kratos

import (
	"encoding/json"
	"testing"
)

// TestWhoamiKeepsNumbersExact: traits and metadata_public numbers are kept
// as Kratos sent them (json.Number), not rounded through a float64, so the
// claims mapper sees an admin's tenant id above 2^53 as it is. They are
// copied out of the answer: the buffer it was read into is reused.
func TestWhoamiKeepsNumbersExact(t *testing.T) {
	tests := []struct {
		name, identity     string
		wantTraits, wantMD string // json.Marshal of Session.Traits / MetadataPublic
	}{
		{"tenant id above 2^53",
			`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"phone":"+79001234567"},"metadata_public":{"tenant_id":1234567890123456789}}`,
			`{"phone":"+79001234567"}`, `{"tenant_id":1234567890123456789}`},
		{"negative and nested in traits",
			`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"acct":{"ids":[-9007199254740993,18446744073709551615]}},"metadata_public":null}`,
			`{"acct":{"ids":[-9007199254740993,18446744073709551615]}}`, `null`},
		{"fractions and exponents as sent",
			`{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"age":33,"r":0.1},"metadata_public":{"big":1E+2,"x":1e400}}`,
			`{"age":33,"r":0.1}`, `{"big":1E+2,"x":1e400}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(minimal(tt.identity))
			s, err := decodeWhoami(body)
			if err != nil {
				t.Fatal(err)
			}
			for i := range body {
				body[i] = '9' // the reused buffer holds the next answer
			}
			traits, err := json.Marshal(s.Traits)
			if err != nil {
				t.Fatal(err)
			}
			meta, err := json.Marshal(s.MetadataPublic)
			if err != nil {
				t.Fatal(err)
			}
			if string(traits) != tt.wantTraits || string(meta) != tt.wantMD {
				t.Fatalf("traits %s metadata_public %s\nwant %s %s", traits, meta, tt.wantTraits, tt.wantMD)
			}
		})
	}
}
