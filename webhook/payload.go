package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// HookPayload is the body that examples/kratos/hooks/*.jsonnet render from
// Kratos's ctx. Unknown top-level fields are refused so a broken template is
// noticed at once; transient_payload may hold other applications' keys.
type HookPayload struct {
	FlowID                string                     `json:"flow_id"`
	FlowType              string                     `json:"flow_type"`
	IdentityID            string                     `json:"identity_id"`
	Traits                json.RawMessage            `json:"traits"`
	MetadataPublic        json.RawMessage            `json:"metadata_public"`
	TransientPayload      json.RawMessage            `json:"transient_payload"`
	AuthenticationMethods json.RawMessage            `json:"authentication_methods"`
	ClientIP              string                     `json:"client_ip"`
	RequestHeaders        map[string]json.RawMessage `json:"request_headers"`
	Session               *hookSession               `json:"session"`

	// Decoded from TransientPayload.
	Code   string `json:"-"`
	Resend bool   `json:"-"`
	// AcceptLanguage is taken from RequestHeaders, for localised messages.
	AcceptLanguage string `json:"-"`
}

type hookSession struct {
	AuthenticatedAt *time.Time      `json:"authenticated_at"`
	ExpiresAt       *time.Time      `json:"expires_at"`
	AAL             string          `json:"aal"`
	Methods         json.RawMessage `json:"authentication_methods"`
}

// transient is our part of transient_payload.
type transient struct {
	Code   json.RawMessage `json:"callpass_code"`
	Resend json.RawMessage `json:"callpass_resend"`
}

// PayloadError is a hook body we refuse; its message is safe to return.
type PayloadError struct{ Reason string }

func (e *PayloadError) Error() string { return "invalid webhook payload: " + e.Reason }

func payloadErr(format string, a ...any) error {
	return &PayloadError{Reason: fmt.Sprintf(format, a...)}
}

// DecodeHookPayload parses and checks a webhook body.
func DecodeHookPayload(body []byte) (HookPayload, error) {
	var p HookPayload
	if len(bytes.TrimSpace(body)) == 0 {
		return p, payloadErr("empty body")
	}
	if !utf8.Valid(body) {
		return p, payloadErr("body is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return HookPayload{}, payloadErr("malformed JSON: %s", jsonReason(err))
	}
	if dec.More() {
		return HookPayload{}, payloadErr("trailing data after the JSON object")
	}
	if !validID(p.IdentityID) {
		return HookPayload{}, payloadErr("identity_id must be a UUID")
	}
	if !validID(p.FlowID) {
		return HookPayload{}, payloadErr("flow_id must be a UUID")
	}
	switch p.FlowType {
	case "", "api", "browser":
	default:
		return HookPayload{}, payloadErr("flow_type must be \"api\" or \"browser\"")
	}
	if len(p.Traits) > 0 && !isJSONObjectOrNull(p.Traits) {
		return HookPayload{}, payloadErr("traits must be an object")
	}
	if err := p.decodeTransient(); err != nil {
		return HookPayload{}, err
	}
	if v, ok := p.RequestHeaders["Accept-Language"]; ok {
		p.AcceptLanguage = firstHeader(v)
	}
	return p, nil
}

func (p *HookPayload) decodeTransient() error {
	raw := bytes.TrimSpace(p.TransientPayload)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	// Browser flows may carry transient_payload as a JSON string holding the object.
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return payloadErr("transient_payload: %s", jsonReason(err))
		}
		raw = []byte(s)
	}
	var t transient
	if err := json.Unmarshal(raw, &t); err != nil {
		return payloadErr("transient_payload must be an object")
	}
	if len(t.Code) > 0 && string(t.Code) != "null" {
		var code string
		if err := json.Unmarshal(t.Code, &code); err != nil {
			return payloadErr("transient_payload.callpass_code must be a string of digits")
		}
		code = strings.TrimSpace(code)
		if len(code) > 16 {
			return payloadErr("transient_payload.callpass_code is too long")
		}
		p.Code = code
	}
	if len(t.Resend) > 0 && string(t.Resend) != "null" {
		var b bool
		if err := json.Unmarshal(t.Resend, &b); err != nil {
			var s string
			if json.Unmarshal(t.Resend, &s) != nil || (s != "true" && s != "false") {
				return payloadErr("transient_payload.callpass_resend must be a boolean")
			}
			b = s == "true"
		}
		p.Resend = b
	}
	return nil
}

func firstHeader(raw json.RawMessage) string {
	var list []string
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list[0]
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

func isJSONObjectOrNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && (t[0] == '{' || bytes.Equal(t, []byte("null")))
}

// validID accepts a canonical UUID (what Kratos uses for every id).
func validID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type (%s)", te.Field, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unexpected field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	default:
		return "not a JSON object"
	}
}
