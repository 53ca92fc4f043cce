package callpass

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

var sentinels = []error{
	flashcall.ErrUnauthorized, flashcall.ErrInsufficientBalance, flashcall.ErrDestinationNotAllowed,
	flashcall.ErrCallNotFound, flashcall.ErrInvalidRequest, flashcall.ErrUnavailable, flashcall.ErrBadResponse,
}

func TestDecodeResponseSamples(t *testing.T) {
	tests := []struct {
		body       string
		wantResult string
		wantCallID string
		wantPin    string
		wantPhone  string
		wantKind   error
	}{
		{sampleV1NoAnswer, "NO_ANSWER", "527f2b9b-1124-4c6f-a5fb-b9b239d923e4", "0446", "", nil},
		{sampleSuccessPin, "success", "8f3b2c32-ea06-43d2-856f-2ae05d6f86c6", "7127", "", nil},
		{sampleV2Async, "null", "58597b21-2a59-480a-a3f0-96a1eec77ae9", "", "4610", nil},
		{sampleV3Async, "null", "58597b21-2a59-480a-a3f0-96a1eec77ae9", "", "2214610", nil},
		{sampleV2Status, "NORMAL_CLEARING", "4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d", "", "", nil},
		{`{"status":"success","data":{"result":"null","callid":"x","phone":2214610}}`, "null", "x", "", "2214610", nil},
		{sampleDestination, "", "", "", "", flashcall.ErrDestinationNotAllowed},
		{sampleCantFind, "", "", "", "", flashcall.ErrCallNotFound},
		{sampleBalance, "", "", "", "", flashcall.ErrInsufficientBalance},
		{`{"status":"error","message":"can't find callid"}`, "", "", "", "", flashcall.ErrCallNotFound},
		{`{"status":"success","message":"something odd"}`, "", "", "", "", flashcall.ErrInvalidRequest},
		{`{"status":"success","data":{"result":"null","pin":1.5}}`, "", "", "", "", flashcall.ErrBadResponse},
		{`{"status":"success","data":{"result":"null"}} trailing`, "", "", "", "", flashcall.ErrBadResponse},
		// A BOM before the object is not the provider's JSON going wrong.
		{"\xEF\xBB\xBF" + sampleSuccessPin, "success", "8f3b2c32-ea06-43d2-856f-2ae05d6f86c6", "7127", "", nil},
		{"\xEF\xBB\xBF \n" + sampleV2Status, "NORMAL_CLEARING", "4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d", "", "", nil},
		{"\xEF\xBB\xBF", "", "", "", "", flashcall.ErrBadResponse},
		{"\xEF\xBB\xBF\xEF\xBB\xBF" + sampleV2Status, "", "", "", "", flashcall.ErrBadResponse},
		// A level-1 message with empty data (PHP sends [] for an empty map)
		// is the message's error; empty data without a message is not API JSON.
		{`{"status":"success","message":"balance is lower than limit for that call","data":{}}`, "", "", "", "", flashcall.ErrInsufficientBalance},
		{`{"status":"success","message":"balance is lower than limit for that call","data":[]}`, "", "", "", "", flashcall.ErrInsufficientBalance},
		{`{"status":"success","message":"balance is lower than limit for that call","data":[ ] }`, "", "", "", "", flashcall.ErrInsufficientBalance},
		{`{"status":"success","message":"balance is lower than limit for that call","data":{ }}`, "", "", "", "", flashcall.ErrInsufficientBalance},
		{`{"status":"success","message":"something odd","data":[]}`, "", "", "", "", flashcall.ErrInvalidRequest},
		{`{"status":"success","data":{}}`, "", "", "", "", flashcall.ErrBadResponse},
		{`{"status":"success","data":[]}`, "", "", "", "", flashcall.ErrBadResponse},
		// Malformed data next to a level-1 message: the message is the answer.
		{`{"status":"success","message":"balance is lower than limit for that call","data":[1]}`, "", "", "", "", flashcall.ErrInsufficientBalance},
		// data wins over a level-1 message when it is there.
		{`{"status":"success","message":"note","data":{"result":"NO_ANSWER","callid":"x","pin":"0446"}}`, "NO_ANSWER", "x", "0446", "", nil},
	}
	for _, tt := range tests {
		env, err := DecodeResponse(200, "application/json", []byte(tt.body))
		if tt.wantKind != nil {
			if !errors.Is(err, tt.wantKind) || env != nil {
				t.Errorf("DecodeResponse(%s) = %+v, %v; want %v", tt.body, env, err, tt.wantKind)
			}
			continue
		}
		if err != nil {
			t.Errorf("DecodeResponse(%s): %v", tt.body, err)
			continue
		}
		d := env.Data
		if env.Status != "success" || d.Result != tt.wantResult || d.CallID != tt.wantCallID || d.Pin != tt.wantPin || d.Phone != tt.wantPhone {
			t.Errorf("DecodeResponse(%s) = %+v %+v", tt.body, env, d)
		}
	}
}

// TestServerTroubleIsNotARefusal: a 429 or a 5xx is the provider (or a
// proxy in front of it) being busy or unwell, whatever words its body
// carries. "Request limit exceeded" under 429 is a rate limit, not the
// balance sample's "lower than limit"; "authentication service
// unavailable" under 503 is an outage, not refused credentials. Typed as
// balance or credentials, they alerted the operator about money or keys
// and stopped the status retries. The Russian wording already worked so.
func TestServerTroubleIsNotARefusal(t *testing.T) {
	tests := []struct {
		status int
		body   string
		kind   error
	}{
		{429, `{"status":"error","message":"request limit exceeded"}`, flashcall.ErrUnavailable},
		{429, `{"status":"error","message":"Limit exceeded, try again later"}`, flashcall.ErrUnavailable},
		{429, `{"status":"success","data":{"result":"error","message":"calls per minute limit reached"}}`, flashcall.ErrUnavailable},
		{503, `{"status":"error","message":"connection limit reached"}`, flashcall.ErrUnavailable},
		{503, `{"status":"error","message":"authentication service unavailable"}`, flashcall.ErrUnavailable},
		{502, `{"status":"error","message":"upstream token service timeout"}`, flashcall.ErrUnavailable},
		{500, `{"status":"error","message":"internal error: payment gateway down"}`, flashcall.ErrUnavailable},
		// What names the call or the destination still does.
		{503, `{"status":"success","data":{"result":"error","message":"destination not allowed"}}`, flashcall.ErrDestinationNotAllowed},
		{500, `{"status":"success","data":{"result":"error","message":"can't find callid"}}`, flashcall.ErrCallNotFound},
		// Below 429 the words decide, as before.
		{200, sampleBalance, flashcall.ErrInsufficientBalance},
		{200, `{"status":"error","message":"invalid token"}`, flashcall.ErrUnauthorized},
		{400, `{"status":"error","message":"insufficient funds"}`, flashcall.ErrInsufficientBalance},
	}
	for _, tt := range tests {
		_, err := DecodeResponse(tt.status, "application/json", []byte(tt.body))
		if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != tt.kind {
			t.Errorf("DecodeResponse(%d, %s) = %v, want %v", tt.status, tt.body, err, tt.kind)
		}
	}
}

// TestEnglishOutageWording: a refusal that says the provider is down is
// typed unavailable in English as it is in Russian ("Сервис временно
// недоступен", "Внутренняя ошибка"). In English it was typed an invalid
// request: the status poller stopped for good on one "service temporarily
// unavailable" answer, logged at info, and the outage was counted as
// invalid_request, out of sight of the unavailable alerts.
func TestEnglishOutageWording(t *testing.T) {
	for _, msg := range []string{
		"Service temporarily unavailable", "service unavailable", "internal server error", "Internal error",
		"try again later", "please try later", "server overloaded", "down for maintenance",
	} {
		for _, tt := range []struct {
			status int
			body   string
		}{
			{200, `{"status":"error","message":"` + msg + `"}`},
			{400, `{"status":"error","message":"` + msg + `"}`},
			{200, `{"status":"success","message":"` + msg + `"}`},
			{200, `{"status":"success","data":{"result":"error","message":"` + msg + `"}}`},
		} {
			_, err := DecodeResponse(tt.status, "application/json", []byte(tt.body))
			if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != flashcall.ErrUnavailable {
				t.Errorf("DecodeResponse(%d, %s) = %v, want unavailable", tt.status, tt.body, err)
			}
		}
	}
	// Through CallStatus: the outage is retried in the same form, not taken
	// for a refusal of the parameter name (the other name earned this
	// callid-only provider's "can't find callid", which stopped the poller).
	var n atomic.Int32
	var p *provider
	p = newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		reqs := p.requests()
		switch {
		case n.Add(1) == 1:
			jsonAnswer(`{"status":"error","message":"Service temporarily unavailable"}`)(w, r)
		case reqs[len(reqs)-1].form.Get("callid") != sampleStatusCallID:
			jsonAnswer(sampleCantFind)(w, r)
		default:
			jsonAnswer(sampleV2Status)(w, r)
		}
	})
	c := newTestClient(t, p.srv.URL, 3, nil)
	if st, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t)); err != nil || st.Raw != "NORMAL_CLEARING" {
		t.Errorf("CallStatus after an outage answer = %+v, %v; want NORMAL_CLEARING", st, err)
	}
	// Wording that is not about an outage keeps its kind.
	for _, tt := range []struct {
		status int
		body   string
		kind   error
	}{
		{200, `{"status":"error","message":"invalid token"}`, flashcall.ErrUnauthorized},
		{200, `{"status":"error","message":"timeout must be an integer from 2 to 99"}`, flashcall.ErrInvalidRequest},
		{401, `{"status":"error","message":"service unavailable"}`, flashcall.ErrUnauthorized},
		{200, sampleDestination, flashcall.ErrDestinationNotAllowed},
		{200, `{"status":"error","message":"something odd"}`, flashcall.ErrInvalidRequest},
	} {
		_, err := DecodeResponse(tt.status, "application/json", []byte(tt.body))
		if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != tt.kind {
			t.Errorf("DecodeResponse(%d, %s) = %v, want %v", tt.status, tt.body, err, tt.kind)
		}
	}
}

// TestEnglishDestinationWording: a refusal of the number itself is typed
// destination not allowed in English as in Russian ("Звонки на этот номер
// запрещены", "Звонки в этот регион запрещены"). In English only the
// word "destination" counted: "calls to this number are not allowed" was
// an unexplained method failure (unavailable, a call may have rung), so
// the user was told to try again later, and each try was counted against
// the limits, instead of hearing that the number cannot be called.
func TestEnglishDestinationWording(t *testing.T) {
	for _, msg := range []string{
		"calls to this number are not allowed", "Number is forbidden", "calls to this country are prohibited",
		"region not allowed", "calls to this operator are not permitted", "number blacklisted",
	} {
		for _, body := range []string{
			`{"status":"success","data":{"result":"error","message":"` + msg + `"}}`,
			`{"status":"error","message":"` + msg + `"}`,
		} {
			_, err := DecodeResponse(200, "application/json", []byte(body))
			if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != flashcall.ErrDestinationNotAllowed || !e.NotPlaced() {
				t.Errorf("DecodeResponse(%s) = %v, want destination not allowed", body, err)
			}
		}
	}
	// Access refusals and other numbers keep their kind.
	for _, tt := range []struct {
		status int
		body   string
		kind   error
	}{
		{403, `{"status":"error","message":"access from your region is forbidden"}`, flashcall.ErrUnauthorized},
		{200, `{"status":"error","message":"IP address not allowed"}`, flashcall.ErrUnauthorized},
		{200, `{"status":"error","message":"number of requests is limited, too many"}`, flashcall.ErrUnavailable},
		{400, `{"status":"error","message":"dn must be a number"}`, flashcall.ErrInvalidRequest},
		// A limit on how often a number is called is throttling, as the
		// Russian "Запрещено более одного звонка на номер в минуту" is.
		{429, `{"status":"error","message":"calls to this number are not allowed more than once per minute"}`, flashcall.ErrUnavailable},
		{200, `{"status":"error","message":"more than one call per number per minute is prohibited"}`, flashcall.ErrUnavailable},
		{200, `{"status":"success","data":{"result":"error","message":"too many calls to this number, not allowed"}}`, flashcall.ErrUnavailable},
		{503, `{"status":"error","message":"number service forbidden"}`, flashcall.ErrUnavailable},
		{200, `{"status":"error","message":"limit: one call to a number per minute"}`, flashcall.ErrUnavailable},
		{200, `{"status":"success","data":{"result":"error","message":"invalid number"}}`, flashcall.ErrInvalidRequest},
	} {
		_, err := DecodeResponse(tt.status, "application/json", []byte(tt.body))
		if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != tt.kind {
			t.Errorf("DecodeResponse(%d, %s) = %v, want %v", tt.status, tt.body, err, tt.kind)
		}
	}
}

// fourDigits finds what could be a code.
var fourDigits = regexp.MustCompile(`[0-9]{4}`)

// hasFourDigits is fourDigits for digits of any script and digit form
// ("⁰⁴⁴⁶", "⑩⑪"), read from Unicode's names (testenv.ReadDigits); a
// combining mark on a digit ("0\u20E3", a keycap) leaves it a digit.
func hasFourDigits(s string) bool {
	n := 0
	for _, r := range s {
		if unicode.Is(unicode.M, r) {
			continue
		}
		if d := testenv.ReadDigits(string(r)); d == "" {
			n = 0
		} else if n += len(d); n >= 4 {
			return true
		}
	}
	return false
}

// addDecodeSeeds gives both decode fuzz targets the same corpus.
func addDecodeSeeds(f *testing.F) {
	for _, s := range documentSamples {
		f.Add(200, "application/json", []byte(s))
	}
	for _, s := range []string{
		"", " ", "null", "[]", "{}", `{"status":null}`, `{"status":"error"}`, `{"status":"success"}`,
		`{"status":"success","data":null}`, `{"status":"success","data":{"result":null}}`,
		`{"status":"success","data":{"result":"error"}}`, `{"status":"success","data":{"result":7}}`,
		`{"status":"success","data":{"result":"null","callId":"a","phone":"2214610"}}`,
		"<html><body>502 Bad Gateway</body></html>", "\xff\xfe{}", `{"status":"success","message":"balance"}`,
		`{"status":"success","message":"balance","data":{}}`, `{"status":"success","message":"balance","data":[]}`,
		`{"status":"success","message":"balance","data":[ ]}`, `{"status":"success","message":"","data":[]}`,
		"\xEF\xBB\xBF" + sampleV3Async, "\xEF\xBB\xBF", "\xEF\xBB\xBF\xEF\xBB\xBF{}",
	} {
		f.Add(200, "application/json", []byte(s))
	}
	f.Add(502, "text/html", []byte("<html>\r\n<head><title>502 Bad Gateway</title></head></html>"))
	f.Add(401, "application/json", []byte(`{"status":"error","message":"unauthorized"}`))
	f.Add(403, "text/plain", []byte("Forbidden"))
	f.Add(500, "application/json", []byte(sampleV3Async))
	f.Add(500, "application/json", []byte(sampleV1NoAnswer))
	f.Add(200, "application/json", []byte(`{"status":"success","data":{"result":"null","callid":{},"pin":"0446"}}`))
	f.Add(200, "application/json", []byte(`{"Status":"success","DATA":{"Result":"null","CallId":7,"callid":"b","PHONE":"12\u0034"}}`))
	f.Add(200, "application/json", []byte(`{"status":"success","data":{"result":"null","phone":"1"},"data":{"result":"NO_ANSWER"}}`))
	f.Add(200, "application/json", []byte(`{"status":"success","data":{"result":"null","x":[1,2,}}`))
	// Error answers quoting the destination (see clientSecrets) or the
	// token so that digit groups do not catch them, in every field an
	// error carries, and across its cut.
	for _, s := range []string{
		`{"status":"error","message":"no call to 7a900a123a45a67"}`,
		`{"status":"success","data":{"result":"error","message":"\u0037a\uff19\uff10\uff10b123c4567"}}`,
		`{"status":"абонент 7ф900ы123ю45я67 недоступен"}`,
		`{"status":"error","message":"no call to +7⁹⁰⁰¹²³⁴⁵⁶⁷ or ⑦⑧⓪⓪⑤⑤⑤④④③③"}`,
		`{"status":"error","message":"\u2466a\u2468\u24ea\u24eab\u2460\u2461\u2462c\u2463\u2464\u2465\u2466"}`,
		`{"status":"error","message":"no call to 7a900a⑫3a㊺a67, nor 7:800:555:44:33"}`,
		`{"status":"error","message":"` + strings.Repeat("x", maxMessage-10) + ` 8(900)x123x4567"}`,
		`{"status":"error","message":"` + testToken[:8] + "-" + testToken[8:24] + `"}`,
	} {
		f.Add(200, "application/json", []byte(s))
	}
	f.Add(502, "text/html; n=7a900a123a45a67", []byte("<p>"+strings.Repeat("y", maxExcerpt-8)+" n7a9b0c0d1e2f3g4h5i6j7x</p>"))
}

func FuzzDecodeResponse(f *testing.F) {
	addDecodeSeeds(f)
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte) {
		env, err := DecodeResponse(status, ctype, body)
		if err != nil {
			if env != nil {
				t.Fatal("envelope returned with an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			known := false
			for _, s := range sentinels {
				if e.Kind == s {
					known = true
				}
			}
			if !known {
				t.Fatalf("Kind %v is not a flashcall sentinel", e.Kind)
			}
			if !e.Sent || e.HTTPStatus != status {
				t.Fatalf("error does not carry the exchange: %+v", e)
			}
			for _, s := range []string{e.Excerpt, e.Message, e.ContentType} {
				if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					t.Fatalf("unsafe text in error: %q", s)
				}
			}
			// A code is 4 or more digits: none may survive into the text.
			for _, s := range []string{e.Excerpt, e.Message} {
				if fourDigits.MatchString(s) || hasFourDigits(s) {
					t.Fatalf("error text keeps a run of 4 digits: %q", s)
				}
			}
			if len(e.Excerpt) > maxExcerpt || len(e.Message) > maxMessage {
				t.Fatalf("error text too long: %d/%d", len(e.Excerpt), len(e.Message))
			}
			// As the client decodes: the destination and the token, in
			// any spelling, are in none of the error's text.
			_, cerr := decodeAnswer(status, ctype, body, clientSecrets)
			ce, ok := errors.AsType[*Error](cerr)
			if !ok {
				t.Fatalf("decodeAnswer with secrets = %v, want an *Error", cerr)
			}
			// Field by field: carriesNumber ignores everything but digits
			// (carriesToken all but letters and digits), so Error() as a
			// whole "carries" a number whose digits a
			// server spread over the status, the content type and the
			// excerpt (HTTP 69, "0", "0A123A45A67": testdata's seed), which
			// no field shows and no reader of the log would join.
			for _, s := range []string{ce.Excerpt, ce.Message, ce.ContentType} {
				if carriesNumber(s, clientSecrets.national) || carriesToken(s, testToken) {
					t.Fatalf("error text carries a secret: %q", s)
				}
			}
			if len(ce.Excerpt) > maxExcerpt || len(ce.Message) > maxMessage {
				t.Fatalf("masked error text too long: %d/%d", len(ce.Excerpt), len(ce.Message))
			}
			if strings.Contains(e.Error(), "\n") {
				t.Fatalf("Error() spans lines: %q", e.Error())
			}
			return
		}
		if env == nil || env.Data == nil {
			t.Fatal("success without data")
		}
		if status < 200 || status > 299 {
			t.Fatalf("success with HTTP %d", status)
		}
		if !strings.EqualFold(strings.TrimSpace(env.Status), "success") {
			t.Fatalf("success with status %q", env.Status)
		}
		if strings.EqualFold(strings.TrimSpace(env.Data.Result), "error") {
			t.Fatal("success with result error")
		}
		if !utf8.Valid(body) {
			t.Fatal("success on a non-UTF-8 body")
		}
		// Whatever the start path derives must be self-consistent.
		for _, v := range []int{1, 2, 3} {
			if code, ok := codeFrom(v, 4, env.Data.Pin, env.Data.Phone); ok {
				if len(code) < 4 || strings.Trim(code, "0123456789") != "" {
					t.Fatalf("v%d code %q is not digits", v, code)
				}
				if v == 3 && len(code) != 4 {
					t.Fatalf("v3 code %q has length %d", code, len(code))
				}
			}
		}
		_ = flashcall.Classify(env.Data.Result) // must not panic
	})
}

// FuzzDecodeResponseMatchesReference: the shipped decoder (segmentio's
// JSON, strings without escapes taken as they are) answers every input
// exactly as the decoder on encoding/json did.
func FuzzDecodeResponseMatchesReference(f *testing.F) {
	addDecodeSeeds(f)
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte) {
		checkAgainstReference(t, status, ctype, body)
	})
}

// clientSecrets is what the client masks an error's text for when it
// calls mustPhone's number.
var clientSecrets = secrets{token: testToken, national: "9001234567"}

func checkAgainstReference(t *testing.T, status int, ctype string, body []byte) {
	t.Helper()
	env, err := DecodeResponse(status, ctype, body)
	renv, rerr := decodeResponse(status, ctype, body, json.Unmarshal, secrets{})
	if !reflect.DeepEqual(env, renv) || !reflect.DeepEqual(err, rerr) {
		t.Fatalf("DecodeResponse(%d, %q) = %+v, %#v\nreference       = %+v, %#v", status, body, env, err, renv, rerr)
	}
	// As the client decodes: the masking must not make them part either.
	cenv, cerr := decodeAnswer(status, ctype, body, clientSecrets)
	crenv, crerr := decodeResponse(status, ctype, body, json.Unmarshal, clientSecrets)
	if !reflect.DeepEqual(cenv, crenv) || !reflect.DeepEqual(cerr, crerr) {
		t.Fatalf("decodeAnswer(%d, %q, clientSecrets) = %+v, %#v\nreference       = %+v, %#v", status, body, cenv, cerr, crenv, crerr)
	}
	// The masking changes what an error shows, never what is decoded or
	// how an error is classified.
	if !reflect.DeepEqual(env, cenv) || (err == nil) != (cerr == nil) {
		t.Fatalf("decodeAnswer(%d, %q) with and without secrets: %+v, %v / %+v, %v", status, body, env, err, cenv, cerr)
	}
	if e, ok := errors.AsType[*Error](err); ok {
		ce, _ := errors.AsType[*Error](cerr)
		if ce == nil || ce.Kind != e.Kind || ce.level != e.level || ce.HTTPStatus != e.HTTPStatus || ce.Sent != e.Sent {
			t.Fatalf("decodeAnswer(%d, %q): error %#v without secrets, %#v with", status, body, err, cerr)
		}
	}
}

// TestDecodeResponseMatchesReferenceGenerated runs the comparison over
// documents built from the API's field names in every spelling, duplicated,
// with values of every JSON type, escapes, and broken syntax.
func TestDecodeResponseMatchesReferenceGenerated(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 26))
	keys := []string{"status", "Status", "STATUS", "message", "Message", "data", "Data", "result", "RESULT",
		"callid", "callId", "CALLID", "pin", "phone", "Phone", "reſult", "extra", ""}
	strs := []string{"success", "SUCCESS", " success ", "error", "null", "NO_ANSWER", "NORMAL_CLEARING",
		"balance is lower than limit", "can't find callid", "2214610", "0446", "a\\\"b", "\\u0041x",
		"\\ud800", "ж", "\\n", "x\\ty", "<b>&amp;</b>", "\u2028", "",
		// The destination and the token as an error may quote them.
		"no call to 7a900a123a45a67", "\\u0037a９００b123c4567", testToken[:20] + "-x"}
	var value func(depth int) string
	value = func(depth int) string {
		switch rng.IntN(12) {
		case 0, 1, 2, 3:
			return `"` + strs[rng.IntN(len(strs))] + `"`
		case 4:
			return strconv.Itoa(rng.IntN(10_000_000) - 10)
		case 5:
			return []string{"null", "true", "false", "1.5", "-0", "1e3", "01", "tru", `"open`}[rng.IntN(9)]
		case 6, 7, 8:
			if depth > 2 {
				return `"deep"`
			}
			return object(depth+1, rng, keys, value)
		case 9:
			return "[" + value(depth+1) + "," + value(depth+1) + "]"
		case 10:
			return []string{"[1,2,", "{}", "[]", "[ ]", "{ }"}[rng.IntN(5)]
		default:
			return `"` + strs[rng.IntN(len(strs))] + strs[rng.IntN(len(strs))] + `"`
		}
	}
	statuses := []int{200, 201, 204, 400, 401, 402, 403, 404, 429, 500, 502}
	for range 20_000 {
		doc := object(0, rng, keys, value)
		switch rng.IntN(20) {
		case 0:
			doc += " trailing"
		case 1:
			doc = doc[:rng.IntN(len(doc)+1)]
		case 2:
			doc = " \n" + doc + "\t"
		case 3:
			doc = "\xEF\xBB\xBF" + doc
		}
		checkAgainstReference(t, statuses[rng.IntN(len(statuses))], "application/json", []byte(doc))
	}
}

// object builds a JSON object of 0–5 members; at the top it starts with a
// status member most of the time, so the deeper levels get exercised.
func object(depth int, rng *rand.Rand, keys []string, value func(int) string) string {
	var b strings.Builder
	b.WriteByte('{')
	n := rng.IntN(6)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		k := keys[rng.IntN(len(keys))]
		v := value(depth)
		switch {
		case depth == 0 && i == 0 && rng.IntN(4) > 0:
			k, v = "status", `"success"`
		case depth == 0 && i == 1 && rng.IntN(4) > 0:
			k = "data"
			v = object(1, rng, keys, value)
		}
		b.WriteString(strconv.Quote(k))
		b.WriteByte(':')
		b.WriteString(v)
	}
	b.WriteByte('}')
	return b.String()
}

func TestPlainStringMatchesUnmarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 26))
	alphabet := []string{"a", "7", " ", "\"", "\\", "/", "\n", "\x00", "\x1f", "\x7f", "ж", "\u2028", "€", "\\u0041", "\\n"}
	for range 20_000 {
		var b strings.Builder
		b.WriteByte('"')
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		b.WriteByte('"')
		lit := []byte(b.String())
		got, ok := jsonString(lit)
		var want string
		werr := json.Unmarshal(lit, &want)
		if ok != (werr == nil) || ok && got != want {
			t.Fatalf("jsonString(%q) = %q, %v; encoding/json: %q, %v", lit, got, ok, want, werr)
		}
	}
}

// BenchmarkDecodeResponse decodes the answer to every placed call (the v3
// asynchronous start) as DecodeResponse and as the client does (with the
// token and the destination to mask an error for) and, for comparison,
// with encoding/json underneath.
func BenchmarkDecodeResponse(b *testing.B) {
	body := []byte(sampleV3Async)
	for _, bc := range []struct {
		name      string
		unmarshal func([]byte, any) error
		m         secrets
	}{{"shipped", nil, secrets{}}, {"client", nil, clientSecrets}, {"encoding-json", json.Unmarshal, secrets{}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				switch {
				case bc.unmarshal != nil:
					_, err = decodeResponse(200, "application/json", body, bc.unmarshal, bc.m)
				case bc.m != secrets{}:
					_, err = decodeAnswer(200, "application/json", body, bc.m)
				default:
					_, err = DecodeResponse(200, "application/json", body)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTryAgainIsNoOutage: "try again" closes many an English refusal of the
// request itself ("Parameter callId is required, please try again"); only
// "try again later" (the Russian "попробуйте позже") says the provider is
// down. Taken for an outage, such a refusal of the status request's
// parameter name was retried in the same form instead of once with the
// other name, so a provider reading only callId never gave a status.
func TestTryAgainIsNoOutage(t *testing.T) {
	for _, tt := range []struct {
		status int
		msg    string
		kind   error
	}{
		{400, "Parameter callId is required, please try again", flashcall.ErrInvalidRequest},
		{200, "invalid parameter dn, try again", flashcall.ErrInvalidRequest},
		{400, "Invalid phone number. Please try again.", flashcall.ErrInvalidRequest},
		{200, "Something went wrong, please try again later", flashcall.ErrUnavailable},
		{400, "try again later", flashcall.ErrUnavailable},
		{200, "too many calls, try again in 60 seconds", flashcall.ErrUnavailable},
	} {
		body := `{"status":"error","message":"` + tt.msg + `"}`
		_, err := DecodeResponse(tt.status, "application/json", []byte(body))
		if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != tt.kind {
			t.Errorf("DecodeResponse(%d, %s) = %v, want %v", tt.status, body, err, tt.kind)
		}
	}
	// A provider that reads callId only: the refusal of callid is a
	// refusal of the name, so CallStatus asks once more with callId.
	var p *provider
	p = newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		reqs := p.requests()
		if reqs[len(reqs)-1].form.Get("callId") != sampleStatusCallID {
			answer(http.StatusBadRequest, "application/json", `{"status":"error","message":"Parameter callId is required, please try again"}`)(w, r)
			return
		}
		jsonAnswer(sampleV2Status)(w, r)
	})
	c := newTestClient(t, p.srv.URL, 2, nil)
	if st, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t)); err != nil || st.Raw != "NORMAL_CLEARING" {
		t.Errorf("CallStatus from a callId-only provider = %+v, %v; want NORMAL_CLEARING", st, err)
	}
}

// TestRefusalOfTheSourceIsNoDestination: a region or country the request
// comes from is the provider refusing us (an allow-list or a geo block of
// the source address), not the number called. "Requests from your region
// are forbidden" was typed destination not allowed: every user was told
// their number cannot be called, and the operator got no credentials
// alert. A place the call goes to stays the destination.
func TestRefusalOfTheSourceIsNoDestination(t *testing.T) {
	for _, tt := range []struct {
		status int
		msg    string
		kind   error
	}{
		{403, "Requests from your region are forbidden", flashcall.ErrUnauthorized},
		{403, "not allowed from this country", flashcall.ErrUnauthorized},
		{200, "requests from the region of your server are prohibited", flashcall.ErrUnauthorized},
		{403, "Запросы из вашего региона запрещены", flashcall.ErrUnauthorized},
		{403, "Запросы из этой страны запрещены", flashcall.ErrUnauthorized},
		{200, "calls to this country are prohibited", flashcall.ErrDestinationNotAllowed},
		{200, "calls from your account to this country are not allowed", flashcall.ErrDestinationNotAllowed},
		{200, "calls to numbers from this country are not allowed", flashcall.ErrDestinationNotAllowed},
		{200, "Звонки в этот регион запрещены", flashcall.ErrDestinationNotAllowed},
		{200, "Звонки на номера из этой страны запрещены", flashcall.ErrDestinationNotAllowed},
	} {
		body := `{"status":"error","message":"` + tt.msg + `"}`
		_, err := DecodeResponse(tt.status, "application/json", []byte(body))
		if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != tt.kind {
			t.Errorf("DecodeResponse(%d, %s) = %v, want %v", tt.status, body, err, tt.kind)
		}
	}
}

// TestMessageOnlyInData: an error answer whose text sits only in data
// ("status":"error" with data.message, or data with a message and no
// result) is typed and quoted by that text. It was typed by the HTTP
// status alone and quoted as "status error" or "data without a result
// field": a refused token under HTTP 200 counted as an invalid request,
// out of sight of the credentials alert, and no log line said why.
func TestMessageOnlyInData(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		kind      error
		message   string
		notPlaced bool
	}{
		{200, `{"status":"error","data":{"message":"invalid token"}}`, flashcall.ErrUnauthorized, "invalid token", true},
		{200, `{"status":"error","data":{"result":"error","message":"balance is lower than limit for that call"}}`, flashcall.ErrInsufficientBalance, "balance is lower than limit for that call", true},
		{400, `{"status":"error","data":{"message":"неверный параметр dn"}}`, flashcall.ErrInvalidRequest, "неверный параметр dn", true},
		// The balance sample with its message put in data.
		{200, `{"status":"success","data":{"message":"balance is lower than limit for that call"}}`, flashcall.ErrInsufficientBalance, "balance is lower than limit for that call", true},
		{200, `{"status":"success","data":{"message":"destination not allowed","result":""}}`, flashcall.ErrDestinationNotAllowed, "destination not allowed", true},
		// An unexplained one may follow a call that rang: not NotPlaced.
		{200, `{"status":"success","data":{"message":"call failed"}}`, flashcall.ErrBadResponse, "call failed", false},
		// A top-level message still wins.
		{200, `{"status":"error","message":"invalid token","data":{"message":"details"}}`, flashcall.ErrUnauthorized, "invalid token", true},
	}
	for _, tt := range tests {
		_, err := DecodeResponse(tt.status, "application/json", []byte(tt.body))
		e, ok := errors.AsType[*Error](err)
		if !ok || e.Unwrap() != tt.kind || e.Message != tt.message || e.NotPlaced() != tt.notPlaced {
			t.Errorf("DecodeResponse(%d, %s) = %v (NotPlaced %v), want %v with message %q (NotPlaced %v)",
				tt.status, tt.body, err, ok && e.NotPlaced(), tt.kind, tt.message, tt.notPlaced)
		}
	}
}

// TestEmptyResultWithCodeStaysACall: an empty result without a message
// is still an answer (a start with a code is a placed call).
func TestEmptyResultWithCodeStaysACall(t *testing.T) {
	env, err := DecodeResponse(200, "application/json", []byte(`{"status":"success","data":{"result":"","callid":"x","pin":"0446"}}`))
	if err != nil || env.Data.Pin != "0446" {
		t.Fatalf("DecodeResponse = %+v, %v; want the call", env, err)
	}
}

// TestRefusedCredentialsUnderServerError: a JSON answer that says the
// token was refused is a credentials problem whatever HTTP status the
// provider sets with it (the document only says statuses are set "to
// match"; a back end that answers every error with 500 is common). It was
// typed unavailable: the status request was retried with the bad token
// and the outage alert fired instead of the credentials one. Text about an
// outage of the auth service, and HTML pages, stay unavailable.
func TestRefusedCredentialsUnderServerError(t *testing.T) {
	tests := []struct {
		status int
		ctype  string
		body   string
		kind   error
	}{
		{500, "application/json", `{"status":"error","message":"Invalid token"}`, flashcall.ErrUnauthorized},
		{500, "application/json", `{"status":"error","message":"Unauthorized"}`, flashcall.ErrUnauthorized},
		{503, "application/json", `{"status":"error","message":"bearer token expired"}`, flashcall.ErrUnauthorized},
		{500, "application/json", `{"status":"success","data":{"result":"error","message":"wrong token"}}`, flashcall.ErrUnauthorized},
		{500, "application/json", `{"status":"error","data":{"message":"invalid token"}}`, flashcall.ErrUnauthorized},
		{500, "application/json", `{"status":"error","message":"Неверный токен"}`, flashcall.ErrUnauthorized},
		{500, "application/json", `{"status":"error","message":"Ошибка авторизации"}`, flashcall.ErrUnauthorized},
		// Outages stay outages.
		{503, "application/json", `{"status":"error","message":"authentication service unavailable"}`, flashcall.ErrUnavailable},
		{502, "application/json", `{"status":"error","message":"upstream token service timeout"}`, flashcall.ErrUnavailable},
		{500, "application/json", `{"status":"error","message":"token validation failed: internal error"}`, flashcall.ErrUnavailable},
		{503, "application/json", `{"status":"error","message":"Сервис авторизации временно недоступен"}`, flashcall.ErrUnavailable},
		{502, "application/json", `{"status":"error","message":"token check: bad gateway"}`, flashcall.ErrUnavailable},
		{500, "application/json", `{"status":"error","message":"token server returned an invalid answer"}`, flashcall.ErrUnavailable},
		{429, "application/json", `{"status":"error","message":"too many requests with an invalid token"}`, flashcall.ErrUnavailable},
		{500, "text/html", `<html><body>500 Internal Server Error: invalid token</body></html>`, flashcall.ErrUnavailable},
	}
	for _, tt := range tests {
		_, err := DecodeResponse(tt.status, tt.ctype, []byte(tt.body))
		if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != tt.kind {
			t.Errorf("DecodeResponse(%d, %s) = %v, want %v", tt.status, tt.body, err, tt.kind)
		}
	}
}

// TestDataMessageBesideACallKeepsTheCall: a start answer that carries a
// call (its id, its code) with an empty result and a data message ("call
// queued") is the placed call, as it was before data messages were read
// alone: typing it by the message refused a call that rang and was paid
// for ("not valid API JSON: call queued"), and a message with refusal
// wording even made it NotPlaced, so the limits were given back and the
// user's retry paid for a second call.
func TestDataMessageBesideACallKeepsTheCall(t *testing.T) {
	tests := []string{
		`{"status":"success","data":{"result":"","callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4","pin":"0446","message":"call queued"}}`,
		`{"status":"success","data":{"result":"","callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4","phone":"4610","message":"Звонок инициирован"}}`,
		`{"status":"success","data":{"result":"","pin":"0446","message":"destination not allowed"}}`,
		`{"status":"success","data":{"result":"","callid":"4f2ea8a1-75e8-4fdd-8e6b-b92e804b1a1d","message":"in progress"}}`,
	}
	for _, body := range tests {
		env, err := DecodeResponse(200, "application/json", []byte(body))
		if err != nil || env == nil || env.Data == nil || env.Data.Result != "" {
			t.Errorf("DecodeResponse(%s) = %+v, %v; want the call with an empty result", body, env, err)
		}
	}
}

// TestDataMessageWithEmptyCallFieldsIsTheReason: empty call fields beside
// a data message carry no call; the message is the answer's reason.
func TestDataMessageWithEmptyCallFieldsIsTheReason(t *testing.T) {
	_, err := DecodeResponse(200, "application/json", []byte(`{"status":"success","data":{"result":"","callid":"","pin":null,"message":"balance is lower than limit for that call"}}`))
	if !errors.Is(err, flashcall.ErrInsufficientBalance) {
		t.Fatalf("DecodeResponse = %v, want insufficient balance", err)
	}
}

// TestServerTroubleExplainedIsNoCredentialsRefusal: under a 5xx only a bare
// refusal of the token ("Invalid token", "Ошибка авторизации") is typed
// unauthorized. A refusal that goes on to say what failed on the server
// ("authentication failed: database connection refused", "ошибка
// авторизации: нет связи с базой данных") is the server's failure, as its
// status says: typed unauthorized it fired the critical credentials alert
// at its first occurrence, sent the operator to rotate a token that was
// fine, and stopped the polling of the call for good.
func TestServerTroubleExplainedIsNoCredentialsRefusal(t *testing.T) {
	tests := []struct {
		status int
		body   string
		kind   error
	}{
		{503, `{"status":"error","message":"Authentication failed: database connection refused"}`, flashcall.ErrUnavailable},
		{500, `{"status":"error","message":"Unauthorized: auth backend unreachable"}`, flashcall.ErrUnavailable},
		{500, `{"status":"error","message":"invalid token: redis: connection pool exhausted"}`, flashcall.ErrUnavailable},
		{502, `{"status":"error","message":"authorization failed: connection reset by peer"}`, flashcall.ErrUnavailable},
		{500, `{"status":"error","message":"Ошибка авторизации: нет связи с базой данных"}`, flashcall.ErrUnavailable},
		{500, `{"status":"error","message":"Неверный токен (ошибка чтения из БД)"}`, flashcall.ErrUnavailable},
		{500, `{"status":"error","data":{"message":"not authorized: lookup failed, no route to host"}}`, flashcall.ErrUnavailable},
		// Bare refusals stay refusals.
		{500, `{"status":"error","message":"Invalid token."}`, flashcall.ErrUnauthorized},
		{500, `{"status":"error","message":"401 Unauthorized"}`, flashcall.ErrUnauthorized},
		{503, `{"status":"error","message":"The bearer token is invalid or has expired"}`, flashcall.ErrUnauthorized},
		{500, `{"status":"error","message":"Неверный токен авторизации"}`, flashcall.ErrUnauthorized},
		{500, `{"status":"error","message":"Invalid API key"}`, flashcall.ErrUnauthorized},
	}
	for _, tt := range tests {
		_, err := DecodeResponse(tt.status, "application/json", []byte(tt.body))
		if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != tt.kind {
			t.Errorf("DecodeResponse(%d, %s) = %v, want %v", tt.status, tt.body, err, tt.kind)
		}
	}
}

// TestThrottlingWithRefusalWordsIsThrottling: a 429 is throttling whatever
// its words, as 85d4b13 meant ("a 429 ... stays unavailable"): 429
// {"message":"Invalid token"} was typed unauthorized, so the start's limits
// were given back (operations.md: a 429 stays counted, giving it back lets
// a flood keep the provider throttled), the credentials alert fired, and
// the call's status polling stopped for good.
func TestThrottlingWithRefusalWordsIsThrottling(t *testing.T) {
	for _, body := range []string{
		`{"status":"error","message":"Invalid token"}`,
		`{"status":"error","message":"Unauthorized"}`,
		`{"status":"error","message":"Неверный токен"}`,
		`{"status":"success","data":{"result":"error","message":"wrong token"}}`,
	} {
		_, err := DecodeResponse(http.StatusTooManyRequests, "application/json", []byte(body))
		if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != flashcall.ErrUnavailable {
			t.Errorf("DecodeResponse(429, %s) = %v, want unavailable", body, err)
		}
	}
}
