package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	segjson "github.com/segmentio/encoding/json"

	"github.com/callpass-kratos/callpass-kratos/webhook/ui"
)

// HookPayload is the body that examples/kratos/hooks/*.jsonnet render from
// Kratos's ctx. Unknown fields (at any level but inside traits,
// metadata_public and transient_payload) are refused so a broken template is
// noticed at once; transient_payload may hold other applications' keys.
type HookPayload struct {
	FlowID           string          `json:"flow_id"`
	FlowType         string          `json:"flow_type"`
	IdentityID       string          `json:"identity_id"`
	Traits           json.RawMessage `json:"traits"`
	MetadataPublic   json.RawMessage `json:"metadata_public"`
	TransientPayload json.RawMessage `json:"transient_payload"`
	ClientIP         string          `json:"client_ip"`
	// AcceptLanguage is the request's Accept-Language, for localised messages.
	AcceptLanguage string `json:"accept_language"`
	// PhoneTrait is the trait path the template kept in traits (it sends
	// that trait alone); "" from a template that sends every trait.
	PhoneTrait string      `json:"phone_trait"`
	Session    hookSession `json:"session"`

	// Decoded from TransientPayload.
	Code   string `json:"-"`
	Resend bool   `json:"-"`
	// Lang is the catalogue language transient_payload.callpass_lang names
	// ("en", "ru"); "" when it is absent or unusable (see transientLang).
	Lang string `json:"-"`
}

// hookSession holds values, not pointers: null or absent leaves the zero
// time, which is what a missing time stands for (gateInput), and the decoder
// allocated each pointer on every hook.
type hookSession struct {
	AuthenticatedAt time.Time `json:"authenticated_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	AAL             string    `json:"aal"`
}

// strictParse is how the hook body is decoded: unknown fields refused, field
// names matched exactly. segmentio/encoding's parser is used instead of
// encoding/json because the body arrives on every login submit and it is
// several times faster (docs/benchmarks.md); FuzzDecodeHookPayload checks it
// never accepts what encoding/json's strict decoder refuses.
const strictParse = segjson.DisallowUnknownFields | segjson.DontMatchCaseInsensitiveStructFields

// hookParse also leaves traits, metadata_public and transient_payload
// pointing into the body instead of copying them. The body is a buffer read
// for this request alone, never reused or changed, and the three are only
// read while the request runs (the phone trait and the code are copied out),
// so nothing keeps the body alive past it.
const hookParse = strictParse | segjson.DontCopyRawMessage

// transient is our part of transient_payload.
type transient struct {
	Code   json.RawMessage `json:"callpass_code"`
	Resend json.RawMessage `json:"callpass_resend"`
	Lang   json.RawMessage `json:"callpass_lang"`
}

// PayloadError is a hook body we refuse; its message is safe to return.
type PayloadError struct {
	Reason string
	// Field and Why, when set, name the one transient_payload field of ours
	// that the user's client sent in a form we do not read, and how
	// (reasonCodeNotAString, …): the rest of the body is Kratos's and sound,
	// so the hook answers it with a message on the flow (4090014), nothing
	// checked, counted or placed, rather than as a broken body (4090010,
	// counted bad_request like a broken template).
	Field, Why string
}

// The Why of a PayloadError for a field of ours; also the 4090014
// message's context "reason", which words it.
const (
	reasonCodeNotAString    = "code_not_a_string"
	reasonCodeTooLong       = "code_too_long"
	reasonResendNotABoolean = "resend_not_a_boolean"
	fieldCode, fieldResend  = "transient_payload.callpass_code", "transient_payload.callpass_resend"
)

func fieldErr(field, why, reason string) error {
	return &PayloadError{Reason: reason, Field: field, Why: why}
}

func (e *PayloadError) Error() string { return "invalid request body: " + e.Reason } // hook and API bodies alike

func payloadErr(format string, a ...any) error {
	return &PayloadError{Reason: fmt.Sprintf(format, a...)}
}

// strictDecode decodes one JSON value from body into v with strictParse;
// trailing data is refused.
func strictDecode(body []byte, v any) error { return decodeWith(body, v, strictParse) }

func decodeWith(body []byte, v any, flags segjson.ParseFlags) error {
	rest, err := segjson.Parse(body, v, flags)
	if err != nil {
		return payloadErr("malformed JSON: %s", parseReason(err, len(body)-len(rest)))
	}
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return payloadErr("trailing data after the JSON object")
	}
	return nil
}

// hookDecode is what one DecodeHookPayload fills. The decoder takes each
// target as an interface, which puts it on the heap: held together they are
// one allocation rather than one each.
type hookDecode struct {
	p         HookPayload
	transient transient
	str       string // a JSON string decoded from transient_payload
}

// DecodeHookPayload parses and checks a webhook body.
func DecodeHookPayload(body []byte) (HookPayload, error) {
	p, err := decodeHook(body)
	if err != nil {
		return HookPayload{}, err
	}
	return p, nil
}

// decodeHook is DecodeHookPayload, but a body refused only for a field of
// ours (a PayloadError with a Field) comes back decoded, without a code or
// a resend: the hook answers it in the user's language.
func decodeHook(body []byte) (HookPayload, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return HookPayload{}, payloadErr("empty body")
	}
	if !utf8.Valid(body) {
		return HookPayload{}, payloadErr("body is not UTF-8")
	}
	d := new(hookDecode)
	p := &d.p
	if err := decodeWith(body, p, hookParse); err != nil {
		return HookPayload{}, err
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
	if err := d.decodeTransient(); err != nil {
		p.Code, p.Resend = "", false
		return *p, err
	}
	return *p, nil
}

// maxTypedCode bounds transient_payload.callpass_code in bytes.
const maxTypedCode = 64

func (d *hookDecode) decodeTransient() error {
	p := &d.p
	raw := bytes.TrimSpace(p.TransientPayload)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	// Browser flows may carry transient_payload as a JSON string holding the object.
	if raw[0] == '"' {
		if err := segjson.Unmarshal(raw, &d.str); err != nil {
			return payloadErr("transient_payload: %s", jsonReason(err))
		}
		raw = []byte(d.str)
	}
	t := &d.transient
	if err := segjson.Unmarshal(raw, t); err != nil {
		return payloadErr("transient_payload must be an object")
	}
	// First: a refused field below is answered in this language.
	p.Lang = transientLang(t.Lang)
	if len(t.Code) > 0 && string(t.Code) != "null" {
		if err := segjson.Unmarshal(t.Code, &d.str); err != nil {
			return fieldErr(fieldCode, reasonCodeNotAString, "transient_payload.callpass_code must be a string of digits")
		}
		code := strings.TrimSpace(d.str)
		// Bounded, but past what a person types or pastes: the calling
		// number with its punctuation ("+7 (495) 123-46-10", 18 bytes) is
		// read by the check as its last code-length digits; refused here
		// it was a broken body, and the user read "temporarily
		// unavailable".
		if len(code) > maxTypedCode {
			return fieldErr(fieldCode, reasonCodeTooLong, "transient_payload.callpass_code is too long")
		}
		p.Code = code
	}
	if len(t.Resend) > 0 && string(t.Resend) != "null" {
		var b bool
		if err := json.Unmarshal(t.Resend, &b); err != nil {
			var s string
			if json.Unmarshal(t.Resend, &s) != nil || (s != "true" && s != "false") {
				return fieldErr(fieldResend, reasonResendNotABoolean, "transient_payload.callpass_resend must be a boolean")
			}
			b = s == "true"
		}
		p.Resend = b
	}
	return nil
}

// transientLang reads transient_payload.callpass_lang, the language a UI
// asks the hook's messages in (its HTTP client's Accept-Language may be
// absent or another's). Unlike callpass_code it never refuses the hook: a
// value that is not a string naming a supported language (another type,
// garbage, too long, a language we lack) is ignored and Accept-Language
// decides, since only the wording depends on it and a refused hook would
// block the sign-in over a cosmetic field.
func transientLang(raw json.RawMessage) string {
	// A tag is at most 35 characters; even written all in \u escapes it is
	// shorter than this, so a longer value is not decoded at all.
	const maxRaw = 2 + 6*35
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || len(raw) > maxRaw || raw[0] != '"' {
		return "" // absent, null, another type or too long
	}
	var s string
	if segjson.Unmarshal(raw, &s) != nil {
		return ""
	}
	l, _ := ui.MatchLangTag(s)
	return l
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
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return false
			}
		}
	}
	return true
}

// parseReason is jsonReason for the strict parser, whose errors carry the
// rest of the input: only the field, the expected type and the offset are
// kept (a reason is returned to Kratos and logged; it must stay short and
// never echo the body).
func parseReason(err error, offset int) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", offset)
	case errors.As(err, &te):
		if te.Field == "" {
			return "not a JSON object"
		}
		return fmt.Sprintf("field %q has the wrong type (want %s)", te.Field, jsonKind(te.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if len(name) > 66 {
			name = name[:64] + `…"`
		}
		return "unexpected field " + name
	default:
		return jsonReason(err)
	}
}

// jsonKind names a Go type the way a JSON author thinks of it.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.Slice:
		return "JSON"
	default:
		return "a number"
	}
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
