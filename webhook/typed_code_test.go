package webhook_test

import (
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// TestHookCodeAsPasted: a callpass_code a person may type or paste (the
// calling number with its punctuation, the code with spaces) reaches the
// check as sent, which refuses what is not the code with "must be N
// digits"; only a code past any typing (over 64 bytes) is a broken body.
// 17 bytes and more were a broken body, so a user who pasted the number
// read "temporarily unavailable".
func TestHookCodeAsPasted(t *testing.T) {
	tests := []struct {
		name, code string
		ok         bool
	}{
		{"code", "4610", true},
		{"code with a space", "46 10", true},
		{"calling number", "+7 (495) 123-46-10", true},
		{"calling number, no-break spaces", "+7\u00a0495\u00a0123-46-10", true},
		{"64 bytes", strings.Repeat("1", 64), true},
		{"65 bytes", strings.Repeat("1", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"flow_id":"11111111-2222-4333-8444-555555555555","identity_id":"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee","transient_payload":{"callpass_code":"` + tt.code + `"}}`
			p, err := webhook.DecodeHookPayload([]byte(body))
			if tt.ok != (err == nil) {
				t.Fatalf("error %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && p.Code != tt.code {
				t.Errorf("code %q, want %q as sent", p.Code, tt.code)
			}
		})
	}
}
