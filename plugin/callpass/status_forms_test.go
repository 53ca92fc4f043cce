package callpass

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// statusServer is an outside implementation of the status method written
// from the documents: handler gets the parsed form; every request is
// recorded with its path.
type statusServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newStatusServer(t *testing.T, h http.Handler) *statusServer {
	t.Helper()
	s := &statusServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), body: string(raw), form: form})
		s.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(raw)))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *statusServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func (s *statusServer) reset() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

// statusReply answers the document's status sample for the id in param, or
// "callId is required" (HTTP 400), as a server reading only that name would.
func statusReply(param string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		id := r.PostForm.Get(param)
		if id == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":"error","message":"`+param+` is required"}`)
			return
		}
		if id != sampleStatusCallID {
			_, _ = io.WriteString(w, sampleCantFind)
			return
		}
		_, _ = io.WriteString(w, sampleV2Status)
	}
}

func wantNormalClearing(t *testing.T, c *Client) {
	t.Helper()
	st, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
	if err != nil || st.Raw != "NORMAL_CLEARING" || st.Class != flashcall.ClassRang {
		t.Fatalf("CallStatus = %+v, %v; want NORMAL_CLEARING", st, err)
	}
}

func paths(reqs []recorded) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.path+"?"+r.body)
	}
	return out
}

// TestStatusPathWithoutSlash: the document's text names the status method
// without a trailing '/', its samples with one. A server that registered
// only one spelling answers the other with 404 (Go ServeMux, Flask), 405 or
// a redirect (FastAPI: 307). The status request, idempotent, is retried
// once with the other spelling, and the one that worked is used from then
// on. The redirect itself is never followed.
func TestStatusPathWithoutSlash(t *testing.T) {
	const noSlash = "/api/v3.0/get-call-password-status"
	// otherHost would receive a followed redirect, token and all.
	var followed sync.Mutex
	followedN := 0
	otherHost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Lock()
		followedN++
		followed.Unlock()
		jsonAnswer(sampleV2Status)(w, r)
	}))
	t.Cleanup(otherHost.Close)

	tests := []struct {
		name    string
		handler func(base *string) http.Handler
	}{
		{"ServeMux 404", func(*string) http.Handler {
			m := http.NewServeMux()
			m.Handle("POST "+noSlash, statusReply("callid"))
			return m
		}},
		{"405", func(*string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != noSlash {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusMethodNotAllowed)
					_, _ = io.WriteString(w, `{"detail":"Method Not Allowed"}`)
					return
				}
				statusReply("callid")(w, r)
			})
		}},
		{"307 to the other spelling", func(*string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != noSlash {
					http.Redirect(w, r, noSlash, http.StatusTemporaryRedirect)
					return
				}
				statusReply("callid")(w, r)
			})
		}},
		// The document makes "the requested method exists" part of a
		// level-1 success, and leaves the HTTP status of its refusal open:
		// a server may answer an unknown method with its level-1 error under
		// 400 or 200 as well as 404.
		{"level-1 method not found, HTTP 400", func(*string) http.Handler {
			return unknownMethodAnswer(noSlash, answer(http.StatusBadRequest, "application/json", `{"message":"method not found","status":"error"}`))
		}},
		{"level-1 unknown method, HTTP 200", func(*string) http.Handler {
			return unknownMethodAnswer(noSlash, jsonAnswer(`{"message":"Unknown method","status":"error"}`))
		}},
		{"level-1 method not found in Russian, HTTP 400", func(*string) http.Handler {
			return unknownMethodAnswer(noSlash, answer(http.StatusBadRequest, "application/json", `{"message":"Метод не найден","status":"error"}`))
		}},
		{"308 to another host is not followed", func(*string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != noSlash {
					http.Redirect(w, r, otherHost.URL+noSlash, http.StatusPermanentRedirect)
					return
				}
				statusReply("callid")(w, r)
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStatusServer(t, tt.handler(nil))
			c := newTestClient(t, s.srv.URL, 3, nil)
			wantNormalClearing(t, c)
			reqs := s.requests()
			if len(reqs) != 2 || reqs[0].path != noSlash+"/" || reqs[1].path != noSlash {
				t.Fatalf("requests %v: want the sample's path, then the text's", paths(reqs))
			}
			for _, r := range reqs {
				if r.method != http.MethodPost || r.form.Get("callid") != sampleStatusCallID || r.auth != "Bearer "+testToken {
					t.Fatalf("request %+v", r)
				}
			}
			s.reset()
			wantNormalClearing(t, c)
			if reqs := s.requests(); len(reqs) != 1 || reqs[0].path != noSlash {
				t.Fatalf("second status: requests %v, want one, straight to %s", paths(reqs), noSlash)
			}
			followed.Lock()
			defer followed.Unlock()
			if followedN != 0 {
				t.Fatalf("the redirect was followed to another URL %d times", followedN)
			}
		})
	}

	// A start is never repeated, whatever the path answer.
	s := newStatusServer(t, http.NotFoundHandler())
	c := newTestClient(t, s.srv.URL, 3, nil)
	_, err := c.StartCall(context.Background(), mustPhone(t))
	assertKind(t, err, flashcall.ErrBadResponse, OpStart)
	if n := len(s.requests()); n != 1 {
		t.Fatalf("a refused start was sent %d times", n)
	}
}

// unknownMethodAnswer serves the status method (reading callid) at path
// only and answers every other path with unknown.
func unknownMethodAnswer(path string, unknown http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			unknown(w, r)
			return
		}
		statusReply("callid")(w, r)
	})
}

// TestStatusParameterName: the document's text names the parameter
// callId, its curl sample sends callid. The client sends callid (never both
// in one request), and when the request is refused before the method ran
// (400 "callId is required", FastAPI's 422, a level-1 error) it tries callId
// once and keeps the name that worked.
func TestStatusParameterName(t *testing.T) {
	fastAPI := func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("callId") == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, `{"detail":[{"type":"missing","loc":["body","callId"],"msg":"Field required"}]}`)
			return
		}
		statusReply("callId")(w, r)
	}
	level1 := func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("callId") == "" {
			jsonAnswer(`{"status":"error","message":"parameter callId is required"}`)(w, r)
			return
		}
		statusReply("callId")(w, r)
	}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		wantNames []string // parameter names of the first CallStatus's requests
	}{
		{"server reads only callid", statusReply("callid"), []string{"callid"}},
		{"server reads only callId (400)", statusReply("callId"), []string{"callid", "callId"}},
		{"server reads only callId (422)", fastAPI, []string{"callid", "callId"}},
		{"server reads only callId (level-1 error, HTTP 200)", level1, []string{"callid", "callId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStatusServer(t, tt.handler)
			c := newTestClient(t, s.srv.URL, 2, nil)
			wantNormalClearing(t, c)
			reqs := s.requests()
			if len(reqs) != len(tt.wantNames) {
				t.Fatalf("requests %v, want %d", paths(reqs), len(tt.wantNames))
			}
			for i, r := range reqs {
				if len(r.form) != 1 || r.form.Get(tt.wantNames[i]) != sampleStatusCallID {
					t.Fatalf("request %d form %v, want only %s", i, r.form, tt.wantNames[i])
				}
			}
			last := tt.wantNames[len(tt.wantNames)-1]
			s.reset()
			wantNormalClearing(t, c)
			if reqs := s.requests(); len(reqs) != 1 || len(reqs[0].form) != 1 || reqs[0].form.Get(last) != sampleStatusCallID {
				t.Fatalf("second status: requests %v, want one, straight with %s", paths(reqs), last)
			}
		})
	}
}

// TestStatusFormsCombined: only the text's path and only callId: three
// requests at most, then straight to the working form.
func TestStatusFormsCombined(t *testing.T) {
	m := http.NewServeMux()
	m.Handle("POST /api/v2.0/get-call-password-status", statusReply("callId"))
	s := newStatusServer(t, m)
	c := newTestClient(t, s.srv.URL, 2, nil)
	wantNormalClearing(t, c)
	if reqs := s.requests(); len(reqs) != 3 {
		t.Fatalf("requests %v, want 3", paths(reqs))
	}
	s.reset()
	wantNormalClearing(t, c)
	reqs := s.requests()
	if len(reqs) != 1 || reqs[0].path != "/api/v2.0/get-call-password-status" || reqs[0].form.Get("callId") != sampleStatusCallID {
		t.Fatalf("second status: %v", paths(reqs))
	}
}

// TestStatusFormsCombinedLevelOne: TestStatusFormsCombined with a server
// that refuses the path it lacks with its level-1 error under HTTP 400, as
// it refuses the parameter name: the path is told by the message.
func TestStatusFormsCombinedLevelOne(t *testing.T) {
	const path = "/api/v2.0/get-call-password-status"
	s := newStatusServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			answer(http.StatusBadRequest, "application/json", `{"message":"method not found","status":"error"}`)(w, r)
			return
		}
		statusReply("callId")(w, r)
	}))
	c := newTestClient(t, s.srv.URL, 2, nil)
	wantNormalClearing(t, c)
	if reqs := s.requests(); len(reqs) != 3 {
		t.Fatalf("requests %v, want 3", paths(reqs))
	}
	s.reset()
	wantNormalClearing(t, c)
	reqs := s.requests()
	if len(reqs) != 1 || reqs[0].path != path || reqs[0].form.Get("callId") != sampleStatusCallID {
		t.Fatalf("second status: %v", paths(reqs))
	}
}

// TestUnknownMethodMessage: what tells a refused path from a refused
// parameter name in a level-1 message. A message about the parameter, even
// one naming the method, is not about the path.
func TestUnknownMethodMessage(t *testing.T) {
	for msg, want := range map[string]bool{
		"method not found":                         true,
		"Method Not Found":                         true,
		"API method does not exist":                true,
		"method doesn't exist":                     true,
		"Unknown method":                           true,
		"no such method: get-call-password-status": true,
		"route not found":                          true,
		"Метод не найден":                          true,
		"метод не существует":                      true,
		"Неизвестный метод":                        true,
		"callId is required":                       false,
		"parameter callId not found":               false,
		"unknown parameter callid for method get-call-password-status": false,
		"method get-call-password-status: callId is required":          false,
		"can't find callid": false,
		"invalid token":     false,
	} {
		if got := unknownMethod.MatchString(msg); got != want {
			t.Errorf("unknownMethod(%q) = %v, want %v", msg, got, want)
		}
	}
}

// TestStatusFormsBounded: whatever the refusals, one status request makes
// at most 3 attempts, and answers that are about the call (the method ran,
// or the message names the unknown call id) are not retried, except that
// before any form is proven "can't find callid" is asked once more under
// the other parameter name.
func TestStatusFormsBounded(t *testing.T) {
	tests := []struct {
		name  string
		reply func(http.ResponseWriter, *http.Request)
		kind  error
		max   int
	}{
		{"always 404 text", answer(404, "text/plain", "404 page not found"), flashcall.ErrBadResponse, 2},
		{"always 404 JSON", answer(404, "application/json", `{"status":"error","message":"method not found"}`), flashcall.ErrInvalidRequest, 3},
		{"always 400", answer(400, "application/json", `{"status":"error","message":"callid is required"}`), flashcall.ErrInvalidRequest, 2},
		{"always 307", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}, flashcall.ErrBadResponse, 2},
		// Before a form is proven, once under each parameter name.
		{"level-2 can't find callid", jsonAnswer(sampleCantFind), flashcall.ErrCallNotFound, 2},
		{"level-1 can't find callid", answer(404, "application/json", `{"status":"error","message":"can't find callid"}`), flashcall.ErrCallNotFound, 2},
		{"unauthorized", answer(401, "application/json", `{"status":"error","message":"invalid token"}`), flashcall.ErrUnauthorized, 1},
		// Provider trouble, then each kind of refusal: retries and form
		// changes share one budget of 3 requests.
		{"503, then 404, then 400", sequence(
			answer(503, "text/html", "<h1>503</h1>"),
			answer(404, "text/plain", "404 page not found"),
			answer(400, "application/json", `{"status":"error","message":"callid is required"}`),
			jsonAnswer(sampleV2Status),
		), flashcall.ErrInvalidRequest, 3},
		{"503, 503, then 404", sequence(
			answer(503, "text/html", "<h1>503</h1>"),
			answer(503, "text/html", "<h1>503</h1>"),
			answer(404, "text/plain", "404 page not found"),
			jsonAnswer(sampleV2Status),
		), flashcall.ErrBadResponse, 3},
		{"503, 503, then 400", sequence(
			answer(503, "text/html", "<h1>503</h1>"),
			answer(503, "text/html", "<h1>503</h1>"),
			answer(400, "application/json", `{"status":"error","message":"callid is required"}`),
			jsonAnswer(sampleV2Status),
		), flashcall.ErrInvalidRequest, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, tt.reply)
			c := newTestClient(t, p.srv.URL, 3, nil)
			if c.statusAttempts != 3 {
				t.Fatalf("statusAttempts = %d, want 3", c.statusAttempts)
			}
			_, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			assertKind(t, err, tt.kind, OpStatus)
			reqs := p.requests()
			if len(reqs) != tt.max {
				t.Fatalf("requests %v, want %d", paths(reqs), tt.max)
			}
			for _, r := range reqs {
				if len(r.form) != 1 {
					t.Fatalf("request with form %v: one parameter name per request", r.form)
				}
			}
			// Nothing worked, so nothing is remembered.
			if f := c.statusForm.Load(); f != 0 && tt.max > 1 {
				t.Fatalf("statusForm = %b after only refusals", f)
			}
		})
	}
}

// sequence answers the n-th request with replies[n], then the last one.
func sequence(replies ...func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := min(n, len(replies)-1)
		n++
		mu.Unlock()
		replies[i](w, r)
	}
}

// TestTokenEchoedByProvider: a provider or proxy echoing the bearer token
// in an error body, an HTML page or a header must not put it in an error or
// a log line. The token mixes letters and digits, so digit masking alone
// cannot hide it.
func TestTokenEchoedByProvider(t *testing.T) {
	token := strings.Repeat("a1b2", 8)
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The token straddling the 120-byte excerpt cut: truncation must not
	// leave half of it behind.
	straddle := "<html><body>" + strings.Repeat("x", 100) + token + "</body></html>"
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
	}{
		{"JSON 401 message", 401, "application/json", `{"status":"error","message":"invalid token ` + token + `"}`},
		{"JSON 200 level-2 message", 200, "application/json", `{"status":"success","data":{"result":"error","message":"token ` + token + ` refused"}}`},
		{"HTML 401 page", 401, "text/html", "<html><body><h1>401</h1><p>Authorization: Bearer " + token + "</p></body></html>"},
		{"HTML 200 page", 200, "text/html", "<html><body>Bearer " + token + "</body></html>"},
		{"HTML page, token across the excerpt cut", 502, "text/html", straddle},
		{"upper-cased echo", 403, "text/plain", "token " + strings.ToUpper(token) + " refused"},
		{"echo in the content type", 500, "text/html; token=" + token, "<html>oops</html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, answer(tt.status, tt.ctype, tt.body))
			c := newTestClient(t, p.srv.URL, 3, func(cfg *Config) { cfg.Token = token; cfg.Logger = logger })
			_, err := c.StartCall(context.Background(), mustPhone(t))
			_, serr := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			for _, err := range []error{err, serr} {
				if err == nil {
					t.Fatal("no error")
				}
				// Any 8 characters of it: a cut through the token leaves a piece.
				msg := strings.ToLower(err.Error())
				if strings.Contains(msg, token[:8]) {
					t.Fatalf("error carries the token or a piece of it: %v", err)
				}
			}
			if p.requests()[0].auth != "Bearer "+token {
				t.Fatalf("the token was not sent")
			}
		})
	}
	out := strings.ToLower(buf.String())
	if strings.Contains(out, token[:8]) {
		t.Fatalf("log output carries the token:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "[token]") {
		t.Fatalf("no redaction marker in the logs: the test no longer reaches the echo paths\n%s", buf.String())
	}
}

// TestTooLargeBodyWithToken: cutting the token out of an oversized body
// does not make it fit.
func TestTooLargeBodyWithToken(t *testing.T) {
	body := testToken + strings.Repeat("x", maxBody+1-len(testToken))
	p := newProvider(t, answer(200, "text/plain", body))
	c := newTestClient(t, p.srv.URL, 3, nil)
	_, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
	e := assertKind(t, err, flashcall.ErrBadResponse, OpStatus)
	if e.Message != "body too large" || !strings.HasPrefix(e.Excerpt, "[token]xxx") {
		t.Fatalf("error %#v", e)
	}
}

func TestRedactToken(t *testing.T) {
	tok := "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
	tests := []struct{ in, want string }{
		{"", ""},
		{"nothing here", "nothing here"},
		{tok, "[token]"},
		{"Bearer " + tok + "!", "Bearer [token]!"},
		{tok + tok, "[token][token]"},
		{strings.ToUpper(tok) + " x " + tok, "[token] x [token]"},
		{tok[:31], tok[:31]},
		// Inside a longer hex run, and next to a UUID (runs of 12 at most).
		{"00" + tok + "ff", "00[token]ff"},
		{`{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","t":"` + tok + `"}`, `{"callid":"58597b21-2a59-480a-a3f0-96a1eec77ae9","t":"[token]"}`},
	}
	for _, tt := range tests {
		if got := string(redactToken([]byte(tt.in), tok)); got != tt.want {
			t.Errorf("redactToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRussianProviderMessages: the provider is Russian; its refusals may be
// worded in Russian and must be typed as the English ones are.
func TestRussianProviderMessages(t *testing.T) {
	tests := []struct {
		body string
		kind error
	}{
		{`{"status":"error","message":"Недостаточно средств на балансе"}`, flashcall.ErrInsufficientBalance},
		{`{"status":"success","message":"Баланс ниже лимита для этого звонка"}`, flashcall.ErrInsufficientBalance},
		{`{"status":"success","data":{"result":"error","message":"Недостаточно средств"}}`, flashcall.ErrInsufficientBalance},
		{`{"status":"success","data":{"result":"error","message":"Направление запрещено"}}`, flashcall.ErrDestinationNotAllowed},
		{`{"status":"error","message":"Звонки на это направление не разрешены"}`, flashcall.ErrDestinationNotAllowed},
		{`{"status":"success","data":{"result":"error","message":"ЗВОНКИ НА ЭТОТ НОМЕР ЗАПРЕЩЕНЫ"}}`, flashcall.ErrDestinationNotAllowed},
		{`{"status":"error","message":"Доступ запрещён"}`, flashcall.ErrUnauthorized},
		{`{"status":"error","message":"Неверный токен"}`, flashcall.ErrUnauthorized},
		{`{"status":"error","message":"Ошибка авторизации"}`, flashcall.ErrUnauthorized},
		{`{"status":"success","data":{"result":"error","message":"Звонок не найден"}}`, flashcall.ErrCallNotFound},
		{`{"status":"error","message":"Слишком много запросов"}`, flashcall.ErrUnavailable},
		{`{"status":"error","message":"Параметр dn обязателен"}`, flashcall.ErrInvalidRequest},
	}
	for _, tt := range tests {
		_, err := DecodeResponse(200, "application/json", []byte(tt.body))
		var e *Error
		if !errors.As(err, &e) || e.Unwrap() != tt.kind {
			t.Errorf("DecodeResponse(%s) = %v, want %v", tt.body, err, tt.kind)
		}
	}
	// Generic wording weighs less than the HTTP status, as in English.
	for _, tt := range []struct {
		status int
		body   string
		kind   error
	}{
		{401, `{"status":"error","message":"Неверный запрос"}`, flashcall.ErrUnauthorized},
		{503, `{"status":"error","message":"Неверный запрос"}`, flashcall.ErrUnavailable},
		{200, `{"status":"error","message":"Сервис временно недоступен"}`, flashcall.ErrUnavailable},
		// Like English "too many": busy wording wins over a 4xx.
		{400, `{"status":"error","message":"Слишком много запросов"}`, flashcall.ErrUnavailable},
		{400, `{"status":"error","message":"Неверный запрос"}`, flashcall.ErrInvalidRequest},
		{200, `{"status":"error","message":"Неверный запрос"}`, flashcall.ErrInvalidRequest},
		// Words that only look like a known refusal.
		{503, `{"status":"error","message":"Услуга «Авторизация по звонку» временно недоступна"}`, flashcall.ErrUnavailable},
		{403, `{"status":"error","message":"Доступ к странице запрещён"}`, flashcall.ErrUnauthorized},
		{403, `{"status":"error","message":"Доступ из вашего региона запрещен"}`, flashcall.ErrUnauthorized},
		{429, `{"status":"error","message":"Запрещено более одного звонка на номер в минуту"}`, flashcall.ErrUnavailable},
		{200, `{"status":"error","message":"Запрещено более одного звонка на номер в минуту"}`, flashcall.ErrUnavailable},
		{500, `{"status":"error","message":"Внутренняя ошибка: сбой оплаты"}`, flashcall.ErrUnavailable},
		{200, `{"status":"success","data":{"result":"error","message":"Неверный номер для звонка"}}`, flashcall.ErrInvalidRequest},
		{200, `{"status":"success","data":{"result":"error","message":"Звонки в этот регион запрещены"}}`, flashcall.ErrDestinationNotAllowed},
		{200, `{"status":"success","data":{"result":"error","message":"Идентификатор вызова не найден"}}`, flashcall.ErrCallNotFound},
		// At level 2 an unexplained failure is the provider's; this one is explained.
		{200, `{"status":"success","data":{"result":"error","message":"Неверный параметр dn"}}`, flashcall.ErrInvalidRequest},
	} {
		_, err := DecodeResponse(tt.status, "application/json", []byte(tt.body))
		if e, ok := errors.AsType[*Error](err); !ok || e.Unwrap() != tt.kind {
			t.Errorf("DecodeResponse(%d, %s) = %v, want %v", tt.status, tt.body, err, tt.kind)
		}
	}
	// Through the client, as the start's error.
	p := newProvider(t, jsonAnswer(`{"status":"error","message":"Недостаточно средств на балансе"}`))
	c := newTestClient(t, p.srv.URL, 3, nil)
	_, err := c.StartCall(context.Background(), mustPhone(t))
	e := assertKind(t, err, flashcall.ErrInsufficientBalance, OpStart)
	if e.Message != "Недостаточно средств на балансе" {
		t.Fatalf("message %q not surfaced", e.Message)
	}
}

// TestLevelOneMessageWithMalformedData: a level-1 message next to data that
// is not the method's answer is the answer, typed as it says; it is not
// hidden behind "not valid API JSON".
func TestLevelOneMessageWithMalformedData(t *testing.T) {
	const msg = "balance is lower than limit for that call"
	for _, data := range []string{`""`, `false`, `0`, `"x"`, `{"callid":null}`, `{"result":5}`, `{"result":"null","pin":1.5}`, `[1]`} {
		body := `{"status":"success","message":"` + msg + `","data":` + data + `}`
		_, err := DecodeResponse(200, "application/json", []byte(body))
		var e *Error
		if !errors.As(err, &e) || e.Unwrap() != flashcall.ErrInsufficientBalance || e.Message != msg {
			t.Errorf("DecodeResponse(%s) = %v, want the message as insufficient balance", body, err)
		}
	}
	// Through the client too, and with other wording.
	p := newProvider(t, jsonAnswer(`{"status":"success","message":"destination not allowed","data":""}`))
	c := newTestClient(t, p.srv.URL, 3, nil)
	_, err := c.StartCall(context.Background(), mustPhone(t))
	if e := assertKind(t, err, flashcall.ErrDestinationNotAllowed, OpStart); e.Message != "destination not allowed" {
		t.Fatalf("message %q", e.Message)
	}
	// Without a message, malformed data stays a bad response.
	for _, body := range []string{`{"status":"success","data":""}`, `{"status":"success","data":{"callid":null}}`} {
		if _, err := DecodeResponse(200, "application/json", []byte(body)); !errors.Is(err, flashcall.ErrBadResponse) {
			t.Errorf("DecodeResponse(%s) = %v, want bad response", body, err)
		}
	}
}

// TestStatusFormNotLearnedFromCantFind: "can't find callid" is what a
// provider reading only callid answers a request sending callId, so an
// answer of the method that is not a status does not make the client keep
// the form it was sent in. Here one odd refusal (a level-1 "database
// error") makes the client try callId once; later requests still use the
// sample's form and get the call's status.
func TestStatusFormNotLearnedFromCantFind(t *testing.T) {
	var n atomic.Int32
	var p *provider
	p = newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			jsonAnswer(`{"status":"error","message":"database error"}`)(w, r)
			return
		}
		reqs := p.requests() // newProvider read the body
		if reqs[len(reqs)-1].form.Get("callid") != sampleStatusCallID {
			jsonAnswer(sampleCantFind)(w, r)
			return
		}
		jsonAnswer(sampleV2Status)(w, r)
	})
	c := newTestClient(t, p.srv.URL, 3, nil)
	if _, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t)); !errors.Is(err, flashcall.ErrCallNotFound) {
		t.Fatalf("first status: %v, want the provider's can't-find answer to the callId request", err)
	}
	for i := range 3 {
		st, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
		if err != nil || st.Raw != "NORMAL_CLEARING" {
			t.Fatalf("status %d: %+v %v: the callId form stuck", i, st, err)
		}
	}
}

// TestPartialTokenEchoMasked: a provider or proxy that echoes the token cut
// short escapes the whole-token redaction; any 16 hex digits in a row are
// masked in what an error quotes.
func TestPartialTokenEchoMasked(t *testing.T) {
	for _, body := range []string{
		`{"status":"error","message":"invalid token ` + testToken[:28] + `..."}`,
		`<html>Bearer ` + testToken[4:24] + `</html>`,
	} {
		p := newProvider(t, answer(401, "application/json", body))
		c := newTestClient(t, p.srv.URL, 3, nil)
		_, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
		if err == nil {
			t.Fatal("401 accepted")
		}
		for i := 0; i+12 <= len(testToken); i++ {
			if strings.Contains(err.Error(), testToken[i:i+12]) {
				t.Fatalf("the error quotes 12 characters of the token: %v", err)
			}
		}
	}
}

// TestCantFindBeforeFormProven: a provider that reads only callId and
// looks up the empty id a callid request gives it answers "can't find
// callid" (level 2), not a refusal of the request. Until a form has been
// answered with a status, the client asks once more under the other name,
// learns the form that answered, and from then on takes "can't find" as
// final after one request.
func TestCantFindBeforeFormProven(t *testing.T) {
	p := newStatusServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("callId") == "" {
			jsonAnswer(sampleCantFind)(w, r)
			return
		}
		statusReply("callId")(w, r)
	}))
	c := newTestClient(t, p.srv.URL, 3, nil)
	wantNormalClearing(t, c)
	if reqs := p.requests(); len(reqs) != 2 || reqs[0].form.Get("callid") == "" || reqs[1].form.Get("callId") == "" {
		t.Fatalf("first status: requests %v, want callid then callId", paths(reqs))
	}
	p.reset()
	wantNormalClearing(t, c)
	if reqs := p.requests(); len(reqs) != 1 || reqs[0].form.Get("callId") != sampleStatusCallID {
		t.Fatalf("second status: requests %v, want one, straight with callId", paths(reqs))
	}
	// The form is proven now: an unknown call costs one request.
	p.reset()
	if _, err := c.CallStatus(context.Background(), "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", mustPhone(t)); !errors.Is(err, flashcall.ErrCallNotFound) {
		t.Fatalf("unknown call: %v, want can't find", err)
	}
	if reqs := p.requests(); len(reqs) != 1 {
		t.Fatalf("unknown call after the form was proven: requests %v, want 1", paths(reqs))
	}
}
