package webhook_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// FuzzDecodeHookPayload: whatever Kratos (or anyone holding the secret)
// sends, the decoder never panics, refuses with a *PayloadError and a zero
// payload, or returns a payload whose checked fields hold what the factor
// relies on. The seeds run in every `go test`.
func FuzzDecodeHookPayload(f *testing.F) {
	const fl, id = `"flow_id":"11111111-2222-4333-8444-555555555555"`, `"identity_id":"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"`
	seeds := []string{
		string(validBody()),
		`{` + fl + `,` + id + `}`,
		`{` + fl + `,` + id + `,"transient_payload":"{\"callpass_code\":\"1234\",\"callpass_resend\":\"true\"}"}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_code":null,"callpass_resend":false,"other_app":{"x":1}}}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_code":"` + strings.Repeat("9", 17) + `"}}`,
		`{` + fl + `,` + id + `,"transient_payload":"not json"}`,
		`{` + fl + `,` + id + `,"traits":[1],"flow_type":"browser"}`,
		`{` + fl + `,` + id + `,"session":{"authenticated_at":"yesterday"}}`,
		`{` + fl + `,` + id + `,"request_headers":{"Accept-Language":"ru"}}`,
		`{` + fl + `,` + id + `}{}`,
		`{"flow_id":"11111111-2222-4333-8444-55555555555g",` + id + `}`,
		`{"flow_id":"` + strings.Repeat("-", 36) + `",` + id + `}`,
		"{\"flow_id\":\"\xff\"}",
		`null`, `[]`, `""`, ``, `   `, `{`, `{"a":1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := webhook.DecodeHookPayload(body)
		if err != nil {
			var pe *webhook.PayloadError
			if !errors.As(err, &pe) || pe.Reason == "" {
				t.Fatalf("error %v is not a *PayloadError with a reason", err)
			}
			if !utf8.ValidString(pe.Error()) {
				t.Fatalf("error text is not UTF-8: %q", pe.Error())
			}
			if p.FlowID != "" || p.IdentityID != "" || p.Code != "" || p.Resend {
				t.Fatalf("a refused payload came back filled: %+v", p)
			}
			return
		}
		if !isUUID(p.FlowID) || !isUUID(p.IdentityID) {
			t.Fatalf("accepted ids that are not UUIDs: %q %q", p.FlowID, p.IdentityID)
		}
		switch p.FlowType {
		case "", "api", "browser":
		default:
			t.Fatalf("accepted flow_type %q", p.FlowType)
		}
		if len(p.Code) > 16 || p.Code != strings.TrimSpace(p.Code) {
			t.Fatalf("accepted code %q", p.Code)
		}
		if tr := strings.TrimSpace(string(p.Traits)); tr != "" && tr[0] != '{' && tr != "null" {
			t.Fatalf("accepted traits that are not an object: %s", tr)
		}
		// Decoding is a pure function of the bytes.
		q, err := webhook.DecodeHookPayload(body)
		if err != nil || q.FlowID != p.FlowID || q.Code != p.Code || q.Resend != p.Resend || q.AcceptLanguage != p.AcceptLanguage {
			t.Fatalf("second decode differs: %+v %v", q, err)
		}
	})
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if r != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
