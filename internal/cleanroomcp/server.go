// Package cleanroomcp is a clean-room test double of the CallPass
// ("Авторизация по звонку", flash call) HTTP API of SpecSvyaz.
//
// It is written only from the provider's documents (/work/shared/callpass-api.ru.txt,
// the Russian original, and its English reading callpass-api.md), not from the
// project's own client or simulator. Where the documents contradict
// themselves, the behaviour is chosen by a Variant field; every such choice
// names the sentence of the Russian text it follows.
//
// The order in which a request is checked follows the document's own
// definition of a level-1 "success" ("аутентификация и авторизация
// произведены, запрашиваемый метод существует, все необходимые параметры
// присутствуют и валидны"), preceded by the protocol rules ("API-сервер
// обрабатывает только запросы с методом POST", Content-Type/Content-Length):
//
//  1. HTTP method is POST                      else 405 (Allow: POST)
//  2. body could be read (MaxBytes 64 KiB)     else 413 / 400
//  3. StrictHeaders: Content-Type, Content-Length  else 415 / 411 / 400
//  4. Authorization: Bearer <token>            else 401 (WWW-Authenticate: Bearer)
//  5. the API method (path) exists             else 404
//  6. parameters present and valid             else 400
//
// Every refusal in 1-6 is a level-1 error {"message":"...","status":"error"}.
// Level-2 errors ({"data":{"message":"...","result":"error"},"status":"success"},
// HTTP 200) are produced only for an unknown call id on the status methods.
//
// Parameters are read from the request body only ("Параметры запроса
// передаются в теле сообщения"); parameters in the URL query string are
// ignored, so a client that sends them there gets "missing parameter".
//
// Paths are matched exactly, byte for byte: "//api/v1.0/..." or a start path
// without its trailing "/" is an unknown method (404). The start paths exist
// only with the trailing slash, as every mention in the document writes them.
package cleanroomcp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Variant selects one of the behaviours the documents allow where they
// contradict themselves or leave a point open.
type Variant struct {
	// StatusParam is the name of the call id parameter of the status methods:
	// "callId" (the text: "параметр: `callId`"), "callid" (the curl sample:
	// -d "callid=...") or "" (accept both; if both are sent, callId wins).
	//
	// A missing or empty parameter under the accepted name(s) is a LEVEL-1
	// error (HTTP 400, {"message":"missing parameter callId","status":"error"}),
	// because the document defines level-1 "success" as "все необходимые
	// параметры присутствуют и валидны". A present but unknown value (any
	// string, UUID or not) is the level-2 "can't find callid" of the sample
	// "в случае неверного `callid`".
	StatusParam string

	// MissingParamUnknown makes a status request without the accepted
	// parameter the level-2 "can't find callid" instead of the level-1
	// refusal above: a provider that looks up whatever id it was given, an
	// empty one included. The document does not say which of the two a
	// provider answers, so a client must cope with both.
	MissingParamUnknown bool

	// StatusSlash: "with" (only ".../get-call-password-status/" exists, as the
	// curl sample and the v3 list write it), "without" (only the no-slash path
	// exists, as the v2 method heading writes it), "" (both). It applies to the
	// v2 and the v3 status path alike. The path that does not exist is a
	// level-1 404.
	StatusSlash string

	// CodeLength is the length of `pin`/`phone` for v1/v2: the text says
	// "последние 5 цифр", the samples show 4 ("7127", "0446", "4610").
	// 0 means 4. Any value 1..7 is accepted so that a client's "never assume 4
	// or 5" can be tested. v3 always returns 7 digits in `phone`.
	CodeLength int

	// V2CodeField is the name of the code field in v2 start answers (async=0
	// and async=1 alike): "phone" (the v2 sample: "phone":"4610") or "pin"
	// (the v1 field, which v2 "inherits"); "" means "phone".
	V2CodeField string

	// PendingPolls is, for an async=1 call, how many status polls answer
	// "result":"null" before the final status (0 = final at the first poll).
	// A synchronous call is final from the start.
	PendingPolls int

	// FinalStatus is the hang-up cause a call ends with; "" means "NO_ANSWER"
	// (the usual outcome of a flash call). Any string is returned as it is.
	FinalStatus string

	// BalanceLow answers every start (after auth, path and parameters were
	// checked) with exactly the document's level-1 sample
	// {"status":"success","message":"balance is lower than limit for that call"}
	// and HTTP 200, and places no call. HTTP 200 because the body says
	// "success" and the text says "При успешной обработке запроса будет
	// установлен HTTP-статус “200 OK”".
	BalanceLow bool

	// StrictHeaders refuses requests whose Content-Type is not
	// application/x-www-form-urlencoded (charset, if given, must be utf-8) with
	// 415, requests without a Content-Length header (e.g. chunked) with 411,
	// and requests whose body does not match Content-Length with 400 (rules
	// 3, 5 and 6 of "Описание протокола"). Without it, a missing Content-Type
	// or Content-Length is tolerated and the body is parsed as a form anyway;
	// a body shorter than its Content-Length is a 400 in both modes.
	StrictHeaders bool
}

// Call is one placed call, as the provider saw it.
type Call struct {
	Version int    // 1, 2 or 3
	CallID  string // UUID string
	DN      string // destination as received
	Timeout int
	Async   bool
	// Code is the code as a user would read it off the caller ID: for v1/v2
	// the pin/phone value; for v3 the full 7 digits of `phone` (the code is
	// its suffix, of whatever length the caller decides).
	Code string
	// CallerID is the full calling number (E.164 digits, no "+") whose last
	// digits are Code.
	CallerID string
}

// Request is one HTTP request the server received (refused ones included).
type Request struct {
	Method, Path, ContentType string
	ContentLength             int64 // as the server saw it: -1 when unknown (chunked)
	Auth                      string
	Form                      url.Values // parsed request body; nil if unreadable/unparseable
}

// Server is a running test double.
type Server struct {
	token string
	v     Variant
	srv   *httptest.Server

	mu       sync.Mutex
	calls    []Call
	requests []Request
	starts   int
	state    map[string]*callState
}

type callState struct {
	final       string
	pendingLeft int
}

const (
	maxBody        = 64 << 10
	defaultStatus  = "NO_ANSWER"
	resultPending  = "null"
	msgBalanceLow  = "balance is lower than limit for that call"
	msgCantFind    = "can't find callid"
	contentTypeOut = "application/json; charset=utf-8"
)

// New starts an httptest.Server that plays CallPass with the given bearer
// token; it is closed by t.Cleanup. An invalid Variant fails the test.
func New(t testing.TB, token string, v Variant) *Server {
	t.Helper()
	if token == "" {
		t.Fatalf("cleanroomcp: empty token")
	}
	switch v.StatusParam {
	case "", "callId", "callid":
	default:
		t.Fatalf("cleanroomcp: StatusParam %q: want \"callId\", \"callid\" or \"\"", v.StatusParam)
	}
	switch v.StatusSlash {
	case "", "with", "without":
	default:
		t.Fatalf("cleanroomcp: StatusSlash %q: want \"with\", \"without\" or \"\"", v.StatusSlash)
	}
	switch v.V2CodeField {
	case "", "phone", "pin":
	default:
		t.Fatalf("cleanroomcp: V2CodeField %q: want \"phone\", \"pin\" or \"\"", v.V2CodeField)
	}
	if v.CodeLength == 0 {
		v.CodeLength = 4
	}
	if v.CodeLength < 1 || v.CodeLength > 7 {
		t.Fatalf("cleanroomcp: CodeLength %d: want 1..7 (0 = 4)", v.CodeLength)
	}
	if v.PendingPolls < 0 {
		t.Fatalf("cleanroomcp: PendingPolls %d < 0", v.PendingPolls)
	}
	if v.V2CodeField == "" {
		v.V2CodeField = "phone"
	}
	if v.FinalStatus == "" {
		v.FinalStatus = defaultStatus
	}
	s := &Server{token: token, v: v, state: map[string]*callState{}}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL with a trailing "/" (like "https://api.callpass.sp-com.ru/").
func (s *Server) URL() string { return s.srv.URL + "/" }

// Calls returns every start that placed a call, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Requests returns every HTTP request received (refused ones included), in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r
		if r.Form != nil {
			out[i].Form = cloneValues(r.Form)
		}
	}
	return out
}

// StartRequests is how many requests hit a start-call-password path of any
// version (with or without the trailing slash), placed or refused.
func (s *Server) StartRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// envelope is the level-1 object. Keys come out in the order of the samples
// (data before status; map keys of data sorted, as in every sample).
type envelope struct {
	Data    map[string]string `json:"data,omitempty"`
	Message string            `json:"message,omitempty"`
	Status  string            `json:"status"`
}

func writeJSON(w http.ResponseWriter, code int, e envelope) {
	b, err := json.Marshal(e)
	if err != nil { // cannot happen with string maps
		panic(err)
	}
	// "Ответные данные возвращаются всегда в кодировке UTF-8. Формат данных application/json"
	w.Header().Set("Content-Type", contentTypeOut)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// level1 writes {"message":msg,"status":"error"} with an HTTP status that
// matches ("API-сервер устанавливает соответствующие HTTP-статусы").
func level1(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, envelope{Status: "error", Message: msg})
}

func level2(w http.ResponseWriter, data map[string]string) {
	writeJSON(w, http.StatusOK, envelope{Status: "success", Data: data})
}

func isStartPath(p string) bool {
	p = strings.TrimSuffix(p, "/")
	switch p {
	case "/api/v1.0/start-call-password", "/api/v2.0/start-call-password", "/api/v3.0/start-call-password":
		return true
	}
	return false
}

func (s *Server) statusPathExists(p string) bool {
	switch s.v.StatusSlash {
	case "with":
		return strings.HasSuffix(p, "/")
	case "without":
		return !strings.HasSuffix(p, "/")
	}
	return true
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var form url.Values
	var formErr error
	if readErr == nil {
		form, formErr = url.ParseQuery(string(body))
		if formErr != nil {
			form = nil
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method:        r.Method,
		Path:          r.URL.Path,
		ContentType:   r.Header.Get("Content-Type"),
		ContentLength: r.ContentLength,
		Auth:          r.Header.Get("Authorization"),
		Form:          cloneValuesOrNil(form),
	})
	if isStartPath(r.URL.Path) {
		s.starts++
	}
	s.mu.Unlock()

	// "API-сервер обрабатывает только запросы с методом POST"
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		level1(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if readErr != nil {
		var mbe *http.MaxBytesError
		if errors.As(readErr, &mbe) {
			level1(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		level1(w, http.StatusBadRequest, "can't read request body")
		return
	}
	if s.v.StrictHeaders {
		// "Формат данных запроса должен быть указан в заголовке: Content-Type"
		ct := r.Header.Get("Content-Type")
		mt, params, err := mime.ParseMediaType(ct)
		if ct == "" || err != nil || mt != "application/x-www-form-urlencoded" ||
			(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
			level1(w, http.StatusUnsupportedMediaType, "content type must be application/x-www-form-urlencoded")
			return
		}
		// "Корректная длина сообщения должна быть указана в заголовке: Content-Length"
		if r.Header.Get("Content-Length") == "" || r.ContentLength < 0 {
			level1(w, http.StatusLengthRequired, "content length required")
			return
		}
		if int64(len(body)) != r.ContentLength {
			level1(w, http.StatusBadRequest, "content length does not match body")
			return
		}
	}
	// 401, not 403: the request is not authenticated (no or unknown token);
	// RFC 6750 section 3.1 answers invalid_token with 401 and a
	// WWW-Authenticate challenge. 403 would fit the IP allow-list
	// ("Запросы принимаются только с IP указанных в личном кабинете"), which
	// this double does not model.
	if !s.authorized(r.Header.Get("Authorization")) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="callpass"`)
		level1(w, http.StatusUnauthorized, "unauthorized")
		return
	}

	var handler func(http.ResponseWriter, url.Values)
	switch p := r.URL.Path; p {
	case "/api/v1.0/start-call-password/":
		handler = func(w http.ResponseWriter, f url.Values) { s.start(w, 1, f) }
	case "/api/v2.0/start-call-password/":
		handler = func(w http.ResponseWriter, f url.Values) { s.start(w, 2, f) }
	case "/api/v3.0/start-call-password/":
		handler = func(w http.ResponseWriter, f url.Values) { s.start(w, 3, f) }
	case "/api/v2.0/get-call-password-status", "/api/v2.0/get-call-password-status/",
		"/api/v3.0/get-call-password-status", "/api/v3.0/get-call-password-status/":
		if s.statusPathExists(p) {
			handler = s.status
		}
	}
	if handler == nil {
		level1(w, http.StatusNotFound, "method not found")
		return
	}
	if formErr != nil {
		level1(w, http.StatusBadRequest, "malformed request body")
		return
	}
	handler(w, form)
}

func cloneValuesOrNil(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	return cloneValues(v)
}

// authorized checks "Authorization: Bearer <токен>". The scheme name is
// matched case-insensitively (RFC 7235); the token must match exactly (the
// document: lower-case hex), separated by exactly one space.
func (s *Server) authorized(h string) bool {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1
}

// single returns the one value of a parameter. A repeated parameter is
// invalid (ambiguous); a missing one is reported as missing.
func single(f url.Values, name string) (val string, present bool, err error) {
	vs, ok := f[name]
	if !ok {
		return "", false, nil
	}
	if len(vs) != 1 {
		return "", true, fmt.Errorf("invalid parameter %s", name)
	}
	return vs[0], true, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validateStart checks dn, timeout and (v2/v3) async.
func validateStart(version int, f url.Values) (dn string, timeout int, async bool, err error) {
	// "dn – номер телефона назначения строка, от 11 цифр, начиная с 7 (формат
	// E.164 без +)": digits only, 11..15 (E.164 allows at most 15), first '7'.
	dn, ok, err := single(f, "dn")
	if err != nil {
		return "", 0, false, err
	}
	if !ok || dn == "" {
		return "", 0, false, errors.New("missing parameter dn")
	}
	if !allDigits(dn) || len(dn) < 11 || len(dn) > 15 || dn[0] != '7' {
		return "", 0, false, errors.New("invalid parameter dn")
	}
	// "timeout – время ожидания ответа в секундах, число от 2 до 99":
	// decimal digits only ("+5", "5.0", " 5" are invalid).
	ts, ok, err := single(f, "timeout")
	if err != nil {
		return "", 0, false, err
	}
	if !ok || ts == "" {
		return "", 0, false, errors.New("missing parameter timeout")
	}
	if !allDigits(ts) || len(ts) > 3 {
		return "", 0, false, errors.New("invalid parameter timeout")
	}
	timeout, _ = strconv.Atoi(ts)
	if timeout < 2 || timeout > 99 {
		return "", 0, false, errors.New("invalid parameter timeout")
	}
	// "Новый параметр запроса async ... новый параметр работает в версии API
	// v2.0": v1 ignores it entirely (as an unknown parameter). On v2/v3 it is
	// optional, default 0 (synchronous, the v1 behaviour it extends); if sent
	// it must be exactly "0" or "1" ("число 0 или 1").
	if version >= 2 {
		as, ok, err := single(f, "async")
		if err != nil {
			return "", 0, false, err
		}
		if ok {
			switch as {
			case "0":
			case "1":
				async = true
			default:
				return "", 0, false, errors.New("invalid parameter async")
			}
		}
	}
	return dn, timeout, async, nil
}

func (s *Server) start(w http.ResponseWriter, version int, f url.Values) {
	dn, timeout, async, err := validateStart(version, f)
	if err != nil {
		level1(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.v.BalanceLow {
		// The document's sample, verbatim in meaning: level 1, status success,
		// a message, no data.
		writeJSON(w, http.StatusOK, envelope{Status: "success", Message: msgBalanceLow})
		return
	}

	c := Call{Version: version, CallID: newUUID(), DN: dn, Timeout: timeout, Async: async}
	var field string
	switch version {
	case 1:
		// "pin – код, который использован как последние 5 цифр номера источника"
		field = "pin"
		c.Code = randDigits(s.v.CodeLength)
		c.CallerID = callerID(c.Code)
	case 2:
		field = s.v.V2CodeField
		c.Code = randDigits(s.v.CodeLength)
		c.CallerID = callerID(c.Code)
	case 3:
		// "в ответе вместо pin будет телефонный номер (7 знаков)"
		field = "phone"
		c.Code = localNumber()
		c.CallerID = callerID(c.Code)
	}
	result := s.v.FinalStatus
	st := &callState{final: s.v.FinalStatus}
	if async {
		// "при асинхронном (async=1) – ответ будет сформирован сразу ...
		// статус вызова будет не определён ("result": "null")"
		result = resultPending
		st.pendingLeft = s.v.PendingPolls
	}
	// A synchronous start would wait up to `timeout` seconds for the call
	// outcome; the double answers at once with the final status.
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.state[c.CallID] = st
	s.mu.Unlock()
	level2(w, map[string]string{"callid": c.CallID, field: c.Code, "result": result})
}

func (s *Server) status(w http.ResponseWriter, f url.Values) {
	names := []string{"callId", "callid"}
	switch s.v.StatusParam {
	case "callId":
		names = names[:1]
	case "callid":
		names = names[1:]
	}
	var id string
	for _, n := range names {
		v, ok, err := single(f, n)
		if err != nil {
			level1(w, http.StatusBadRequest, err.Error())
			return
		}
		if ok && v != "" {
			id = v
			break
		}
	}
	if id == "" && !s.v.MissingParamUnknown {
		level1(w, http.StatusBadRequest, "missing parameter "+names[0])
		return
	}
	s.mu.Lock()
	st, ok := s.state[id]
	var result string
	if ok {
		if st.pendingLeft > 0 {
			st.pendingLeft--
			result = resultPending
		} else {
			result = st.final
		}
	}
	s.mu.Unlock()
	if !ok {
		// "в случае неверного callid:
		// {"data":{"message":"can't find callid","result":"error"},"status":"success"}"
		level2(w, map[string]string{"message": msgCantFind, "result": "error"})
		return
	}
	level2(w, map[string]string{"callid": id, "result": result})
}

// newUUID returns a random (version 4, RFC 4122 variant) UUID string.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randDigits returns n uniformly random decimal digits; leading zeros
// happen (one time in ten).
func randDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + mrand.IntN(10))
	}
	return string(b)
}

// localNumber is a 7-digit subscriber number as v3 returns it in `phone`
// (like the sample "2214610"): it does not start with 0 or 1, but its code
// suffix can.
func localNumber() string {
	return string(rune('2'+mrand.IntN(8))) + randDigits(6)
}

// areaCodes are Russian geographic codes a caller-ID pool plausibly uses
// (Moscow, St Petersburg, Chelyabinsk — the doc's "7351…" —, Yekaterinburg,
// Novosibirsk, Kazan).
var areaCodes = []string{"495", "499", "812", "351", "343", "383", "843"}

// callerID builds an 11-digit Russian E.164 number (no "+") ending in suffix
// (at most 7 digits).
func callerID(suffix string) string {
	area := areaCodes[mrand.IntN(len(areaCodes))]
	fill := 7 - len(suffix)
	middle := ""
	if fill > 0 {
		middle = string(rune('2'+mrand.IntN(8))) + randDigits(fill-1)
	}
	return "7" + area + middle + suffix
}
