package sim

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
)

// maxBody bounds a provider API request body; real requests are tiny.
const maxBody = 4 << 10

// Exact bodies of the scripted failures, as the provider's samples spell them.
const (
	lowBalanceBody  = `{"status":"success","message":"balance is lower than limit for that call"}`
	serverErrorBody = `{"status":"error","message":"internal server error"}`
	// An nginx 502 page, byte for byte as nginx sends it.
	htmlErrorBody = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n" +
		"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

// Provider messages for refused requests (level 1, "status":"error").
const (
	msgNotFound         = "method not found"
	msgMethod           = "method not allowed, use POST"
	msgForbiddenIP      = "access denied for this IP address"
	msgNoAuth           = "authorization required: Authorization: Bearer <token>"
	msgBadToken         = "invalid token"
	msgLengthRequired   = "Content-Length header is required"
	msgTooLarge         = "request body is too large"
	msgContentType      = "Content-Type must be application/x-www-form-urlencoded"
	msgNotUTF8          = "request body must be UTF-8"
	msgSpaces           = "request body must not contain spaces or line breaks"
	msgMalformed        = "malformed request body"
	msgDNRequired       = "dn is required"
	msgDNDigits         = "dn must contain digits only"
	msgDNShort          = "dn must have at least 11 digits"
	msgDNLong           = "dn must have at most 15 digits"
	msgDN7              = "dn must start with 7"
	msgTimeoutRequired  = "timeout is required"
	msgTimeoutRange     = "timeout must be an integer from 2 to 99"
	msgAsync            = "async must be 0 or 1"
	msgCallIDRequired   = "callid is required"
	msgDestNotAllowed   = "destination not allowed"
	msgCantFindCallID   = "can't find callid"
	msgInternal         = "internal server error"
	resultError         = "error"
	resultSuccess       = "success"
	headerContentLength = "Content-Length"
)

// envelope is the provider's response. Fields are in the samples'
// (alphabetical) order; "message" at level 1 only on errors.
type envelope struct {
	Data    *data  `json:"data,omitempty"`
	Message string `json:"message,omitempty"`
	Status  string `json:"status"`
}

type data struct {
	CallID  string `json:"callid,omitempty"`
	Message string `json:"message,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Pin     string `json:"pin,omitempty"`
	Result  string `json:"result"`
}

func (s *Simulator) routes() *http.ServeMux {
	m := http.NewServeMux()
	both := func(path string, h http.HandlerFunc) {
		m.HandleFunc(path, h)
		m.HandleFunc(path+"/{$}", h)
	}
	both("/api/v1.0/start-call-password", s.handleStart(1))
	both("/api/v2.0/start-call-password", s.handleStart(2))
	both("/api/v3.0/start-call-password", s.handleStart(3))
	both("/api/v2.0/get-call-password-status", s.handleStatus(2))
	both("/api/v3.0/get-call-password-status", s.handleStatus(3))
	s.controlRoutes(m)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, msgNotFound)
	})
	return m
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<token>" stays readable, as a non-Go server would send it
	b := []byte(serverErrorBody)
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
	} else {
		b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	writeRaw(w, code, "application/json; charset=utf-8", b)
}

func writeRaw(w http.ResponseWriter, code int, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, envelope{Status: "error", Message: msg})
}

func writeData(w http.ResponseWriter, d data) {
	writeJSON(w, http.StatusOK, envelope{Status: "success", Data: &d})
}

// readBody reads at most maxBody+1 bytes so an oversized body is detected
// without reading it all.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, maxBody+1))
}

// peekDN extracts the dn for the request counter from a body that has not
// been validated yet: "" unless it is a valid number, so a request (from
// anyone: it is counted before the token is checked) adds at most one
// number-sized key.
func peekDN(body []byte) string {
	if len(body) > maxBody {
		body = body[:maxBody]
	}
	q, _ := url.ParseQuery(string(body))
	key, ok := normalizeDN(q.Get("dn"))
	if !ok {
		return ""
	}
	return key
}

// admit applies the provider's transport rules in order and returns the
// form, or writes the refusal and returns ok=false.
func (s *Simulator) admit(w http.ResponseWriter, r *http.Request, body []byte, readErr error) (url.Values, string, bool) {
	refuse := func(code int, msg string) (url.Values, string, bool) {
		writeError(w, code, msg)
		return nil, msg, false
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return refuse(http.StatusMethodNotAllowed, msgMethod)
	}
	if !s.allowed(r.RemoteAddr) {
		return refuse(http.StatusForbidden, msgForbiddenIP)
	}
	if msg, ok := s.authorized(r.Header.Get("Authorization")); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="callpass"`)
		return refuse(http.StatusUnauthorized, msg)
	}
	if r.ContentLength < 0 || r.Header.Get(headerContentLength) == "" {
		return refuse(http.StatusLengthRequired, msgLengthRequired)
	}
	if r.ContentLength > maxBody || len(body) > maxBody {
		return refuse(http.StatusRequestEntityTooLarge, msgTooLarge)
	}
	if readErr != nil {
		return refuse(http.StatusBadRequest, msgMalformed)
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return refuse(http.StatusUnsupportedMediaType, msgContentType)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return refuse(http.StatusUnsupportedMediaType, msgNotUTF8)
	}
	if !utf8.Valid(body) {
		return refuse(http.StatusBadRequest, msgNotUTF8)
	}
	if bytes.ContainsAny(body, " \t\r\n") {
		return refuse(http.StatusBadRequest, msgSpaces)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return refuse(http.StatusBadRequest, msgMalformed)
	}
	for k, vs := range form {
		if len(vs) > 1 {
			return refuse(http.StatusBadRequest, k+" is given more than once")
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return refuse(http.StatusBadRequest, msgNotUTF8)
		}
	}
	return form, "", true
}

func (s *Simulator) allowed(remote string) bool {
	if len(s.allow) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Simulator) authorized(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return msgNoAuth, false
	}
	tok = strings.TrimSpace(tok)
	match := 0
	for _, t := range s.cfg.Tokens {
		match |= subtle.ConstantTimeCompare([]byte(tok), []byte(t))
	}
	if match != 1 {
		return msgBadToken, false
	}
	return "", true
}

// startParams are a validated start-call request.
type startParams struct {
	dn      string
	timeout int
	async   bool
}

func parseStart(form url.Values, version int) (startParams, string) {
	var p startParams
	dn := form.Get("dn")
	switch {
	case dn == "":
		return p, msgDNRequired
	case !phone.AllDigits(dn):
		return p, msgDNDigits
	case len(dn) < 11:
		return p, msgDNShort
	case len(dn) > 15:
		return p, msgDNLong
	case dn[0] != '7':
		return p, msgDN7
	}
	p.dn = dn
	ts := form.Get("timeout")
	if ts == "" {
		return p, msgTimeoutRequired
	}
	t, err := strconv.Atoi(ts)
	if err != nil || !phone.AllDigits(ts) || t < 2 || t > 99 {
		return p, msgTimeoutRange
	}
	p.timeout = t
	// v1 has no async parameter: it is ignored there, as an unknown
	// parameter would be.
	if version >= 2 && form.Has("async") {
		switch form.Get("async") {
		case "0":
		case "1":
			p.async = true
		default:
			return p, msgAsync
		}
	}
	return p, ""
}

func (s *Simulator) handleStart(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, readErr := readBody(r)
		key := peekDN(body)
		s.countRequest(key)
		// One slice of attributes, not s.log.With: With formats its
		// attributes into a new handler, every request.
		attrs := []any{"api", version, "method", "start-call-password", "dn", maskDN(key)}
		log := func(level slog.Level, msg string, args ...any) {
			s.log.Log(r.Context(), level, msg, append(attrs[:len(attrs):len(attrs)], args...)...)
		}

		form, msg, ok := s.admit(w, r, body, readErr)
		if !ok {
			log(slog.LevelInfo, "callpass sim: start refused", "reason", msg)
			return
		}
		p, msg := parseStart(form, version)
		if msg != "" {
			writeError(w, http.StatusBadRequest, msg)
			log(slog.LevelInfo, "callpass sim: start refused", "reason", msg)
			return
		}
		s.mu.Lock()
		o := s.outcomeLocked(p.dn)
		s.mu.Unlock()

		switch o {
		case OutcomeDestinationNotAllowed:
			writeData(w, data{Message: msgDestNotAllowed, Result: resultError})
			log(slog.LevelInfo, "callpass sim: start scripted failure", "outcome", o)
			return
		case OutcomeLowBalance:
			writeRaw(w, http.StatusOK, "application/json; charset=utf-8", []byte(lowBalanceBody))
			log(slog.LevelInfo, "callpass sim: start scripted failure", "outcome", o)
			return
		case OutcomeServerError:
			writeRaw(w, http.StatusInternalServerError, "application/json; charset=utf-8", []byte(serverErrorBody))
			log(slog.LevelInfo, "callpass sim: start scripted failure", "outcome", o)
			return
		case OutcomeHTMLError:
			writeRaw(w, http.StatusBadGateway, "text/html", []byte(htmlErrorBody))
			log(slog.LevelInfo, "callpass sim: start scripted failure", "outcome", o)
			return
		}

		c, err := s.place(p.dn, version, p.timeout, p.async, o)
		if err != nil {
			writeError(w, http.StatusInternalServerError, msgInternal)
			log(slog.LevelError, "callpass sim: place call", "err", err)
			return
		}
		attrs = append(attrs, "call_id", c.rec.CallID, "async", p.async, "outcome", o)
		log(slog.LevelInfo, "callpass sim: call placed")

		if o == OutcomeSlow {
			hold := time.Duration(p.timeout)*time.Second + s.cfg.SlowExtra
			if !s.wait(r, hold) {
				log(slog.LevelInfo, "callpass sim: slow answer abandoned")
				if s.isClosed() {
					// Drop the connection without an answer, like a provider
					// that went away.
					panic(http.ErrAbortHandler)
				}
				return
			}
		} else if !p.async {
			// Wait for the call to end, at most timeout seconds. If the
			// client gives up the call still settles on its own.
			if !s.wait(r, c.settleAt.Sub(c.rec.CreatedAt)) && !s.isClosed() {
				log(slog.LevelInfo, "callpass sim: client left before the call settled")
				return
			}
		}

		d := data{CallID: c.rec.CallID, Result: statusPending}
		if !p.async {
			s.settleNow(c)
			d.Result = c.final
		}
		switch version {
		case 1:
			d.Pin = c.rec.Pin
		case 2:
			d.Phone = c.rec.Pin
		default:
			d.Phone = c.rec.Caller[len(c.rec.Caller)-7:]
		}
		writeData(w, d)
	}
}

// wait sleeps d; false when the request was cancelled or the simulator closed first.
func (s *Simulator) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return false
	}
}

func (s *Simulator) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *Simulator) handleStatus(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, readErr := readBody(r)
		log := s.log.With("api", version, "method", "get-call-password-status")
		form, msg, ok := s.admit(w, r, body, readErr)
		if !ok {
			log.Info("callpass sim: status refused", "reason", msg)
			return
		}
		// The text names the parameter callId, the curl sample sends callid.
		id := form.Get("callid")
		if id == "" {
			id = form.Get("callId")
		}
		if id == "" {
			writeError(w, http.StatusBadRequest, msgCallIDRequired)
			log.Info("callpass sim: status refused", "reason", msgCallIDRequired)
			return
		}
		rec, found := s.Call(id)
		if !found {
			writeData(w, data{Message: msgCantFindCallID, Result: resultError})
			log.Info("callpass sim: status of unknown call")
			return
		}
		writeData(w, data{CallID: rec.CallID, Result: rec.Status})
		log.Debug("callpass sim: status", "call_id", rec.CallID, "status", rec.Status)
	}
}
