package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
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
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_code":"` + strings.Repeat("9", 65) + `"}}`,
		`{` + fl + `,` + id + `,"transient_payload":"not json"}`,
		`{` + fl + `,` + id + `,"traits":[1],"flow_type":"browser"}`,
		`{` + fl + `,` + id + `,"session":{"authenticated_at":"yesterday"}}`,
		`{` + fl + `,` + id + `,"accept_language":"ru"}`,
		`{` + fl + `,` + id + `}{}`,
		`{"flow_id":"11111111-2222-4333-8444-55555555555g",` + id + `}`,
		`{"flow_id":"` + strings.Repeat("-", 36) + `",` + id + `}`,
		"{\"flow_id\":\"\xff\"}",
		`null`, `[]`, `""`, ``, `   `, `{`, `{"a":1}`,
		`{` + fl + `,` + id + `,"Flow_ID":"x"}`,
		`{` + fl + `,` + id + `,"session":{"aal":"aal1","authentication_methods":[]}}`,
		`{` + fl + `,` + id + `,"traits":{"phone":"+7 900 123-45-67","a":[1,{"b":null}]},"client_ip":"\u0031"}`,
		`{` + fl + `,` + id + `} x`,
		`{` + fl + `,` + id + `,"flow_type":"browser","flow_type":"api"}`,
		// callpass_lang: a choice, ignored (never refused) when it names none of ours.
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":"ru","callpass_code":"1234"},"accept_language":"en"}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":"en-GB"}}`,
		`{` + fl + `,` + id + `,"transient_payload":"{\"callpass_lang\":\"RU-ru\",\"callpass_resend\":true}"}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":"\u0072\u0075"}}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":7,"callpass_code":"1"}}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":{"ru":true}}}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":["en"],"callpass_lang":"ru"}}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":"ru;q=0.9, en"}}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":"ru-` + strings.Repeat("abcdefgh-", 4) + `"}}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":"` + strings.Repeat("\\u0072", 40) + `"}}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":"ru\u0000","callpass_code":17}}`,
		`{` + fl + `,` + id + `,"transient_payload":{"callpass_lang":"*"},"accept_language":"*"}`,
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
			if p.FlowID != "" || p.IdentityID != "" || p.Code != "" || p.Resend || p.Lang != "" {
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
		if len(p.Code) > 64 || p.Code != strings.TrimSpace(p.Code) {
			t.Fatalf("accepted code %q", p.Code)
		}
		// callpass_lang decodes to one of the catalogue's languages or nothing.
		switch p.Lang {
		case "", "en", "ru":
		default:
			t.Fatalf("accepted callpass_lang as %q", p.Lang)
		}
		if tr := strings.TrimSpace(string(p.Traits)); tr != "" && tr[0] != '{' && tr != "null" {
			t.Fatalf("accepted traits that are not an object: %s", tr)
		}
		// The fast strict parser accepts nothing encoding/json's strict decoder
		// refuses, and reads the same values.
		var std webhook.HookPayload
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&std); err != nil || dec.More() {
			t.Fatalf("accepted a body encoding/json refuses (%v): %q", err, body)
		}
		if std.FlowID != p.FlowID || std.IdentityID != p.IdentityID || std.FlowType != p.FlowType ||
			std.ClientIP != p.ClientIP || std.AcceptLanguage != p.AcceptLanguage ||
			!jsonEqual(std.Traits, p.Traits) || !jsonEqual(std.TransientPayload, p.TransientPayload) ||
			!jsonEqual(std.MetadataPublic, p.MetadataPublic) || !std.Session.AuthenticatedAt.Equal(p.Session.AuthenticatedAt) ||
			!std.Session.ExpiresAt.Equal(p.Session.ExpiresAt) || std.Session.AAL != p.Session.AAL {
			t.Fatalf("encoding/json reads %+v, the strict parser %+v", std, p)
		}
		// Decoding is a pure function of the bytes.
		q, err := webhook.DecodeHookPayload(body)
		if err != nil || q.FlowID != p.FlowID || q.Code != p.Code || q.Resend != p.Resend || q.Lang != p.Lang || q.AcceptLanguage != p.AcceptLanguage {
			t.Fatalf("second decode differs: %+v %v", q, err)
		}
	})
}

// jsonEqual compares two JSON texts by value (absent and null are equal).
func jsonEqual(a, b json.RawMessage) bool {
	var va, vb any
	if len(bytes.TrimSpace(a)) > 0 && json.Unmarshal(a, &va) != nil {
		return false
	}
	if len(bytes.TrimSpace(b)) > 0 && json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
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
