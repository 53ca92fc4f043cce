package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ipExtractor(trusted []*net.IPNet, header string) echo.IPExtractor {
	if header != "" {
		// A proxy in front (CDN, ingress) always overwrites this header, so
		// its value is believed; anything unparsable falls back to the peer.
		direct := echo.ExtractIPDirect()
		return func(r *http.Request) string {
			v := strings.TrimSpace(r.Header.Get(header))
			if ip := net.ParseIP(v); ip != nil {
				return ip.String()
			}
			return direct(r)
		}
	}
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// safeURI keeps a URI useful in logs without carrying numbers or codes:
// every group of 4 digits or more is masked whole ("***"), a group being
// digits joined by anything but what ends one (endsGroup: a letter, a
// query's '?', '=', '&', '#'): "+7+900+123-45-67", "(900)%20123", "900,123",
// "12%0934". A URI is read as a server reads it: percent-encoded bytes
// ("%37" is 7) and the numerals of other scripts ("%EF%BC%99", fullwidth
// 9; superscripts) count as what they decode to.
// Masked whole: a code sent in a query string (a client's mistake) must not
// leave two of its four digits in the log.
func safeURI(uri string) string {
	// Most URIs hold too few digit candidates to need the scan.
	n := 0
	for i := 0; i < len(uri) && n < 4; i++ {
		if c := uri[i]; c >= '0' && c <= '9' || c == '%' || c >= 0x80 {
			n++
		}
	}
	if n < 4 {
		return uri
	}
	var b []byte // nil until something is masked
	last := 0    // uri[last:] is not yet in b
	digits, start, end := 0, 0, 0
	for i := 0; i <= len(uri); {
		r, size := rune(-1), 1 // -1: past the end, which ends a group
		if i < len(uri) {
			r = rune(uri[i])
			if r == '%' || r >= utf8.RuneSelf {
				r, size = uriRune(uri[i:])
			}
		}
		switch {
		case r >= '0' && r <= '9' || r >= utf8.RuneSelf && unicode.IsNumber(r):
			if digits == 0 {
				start = i
			}
			digits++
			end = i + size
		case digits > 0 && r >= 0 && !endsGroup(r, size > 1) && !(r == '.' && idDot(uri, i)):
		case digits > 0:
			if digits >= 4 {
				b = append(b, uri[last:start]...)
				b = append(b, "***"...)
				last = end
			}
			digits = 0
		}
		i += size
	}
	if b == nil {
		return uri
	}
	return string(append(b, uri[last:]...))
}

// idDot reports whether the '.' at uri[i] is the one inside a challenge ID
// (challenge.NewID: 22 characters, '.', a 10-digit hex tag) that fills a
// whole path segment or query value: it joins two random strings, not the
// digits of a number, and masking across it would hide the ID's tag from
// the log.
func idDot(uri string, i int) bool {
	from, to := i-22, i+11
	if from < 0 || to > len(uri) {
		return false
	}
	if _, ok := challenge.IDTag(uri[from:to]); !ok {
		return false
	}
	delim := func(c byte) bool { return c == '/' || c == '?' || c == '&' || c == '=' || c == '#' }
	return (from == 0 || delim(uri[from-1])) && (to == len(uri) || delim(uri[to]))
}

// endsGroup reports a rune that ends a group of digits: a letter, or, as
// written (not percent-encoded), the '?', '=', '&' and '#' that delimit a
// query's values, so separate short values stay readable. Anything else
// may stand between the digits of one number as someone wrote or copied
// it: a space of any kind ('+' in a query, a tab, a line feed, the narrow
// space of a formatted number), a dash, a dot, a comma, a parenthesis, an
// invisible mark a copied number carries (U+200E, U+202A), a byte that
// decodes to nothing.
func endsGroup(r rune, encoded bool) bool {
	if r < utf8.RuneSelf {
		if l := r | 0x20; l >= 'a' && l <= 'z' {
			return true
		}
		return !encoded && (r == '?' || r == '=' || r == '&' || r == '#')
	}
	return unicode.IsLetter(r)
}

// uriRune decodes the first rune of s as a server would read it: a UTF-8
// sequence written plainly or percent-encoded (or a mix), and returns it with
// the bytes of s it took. A byte that starts no valid sequence is returned as
// utf8.RuneError.
func uriRune(s string) (rune, int) {
	var buf [utf8.UTFMax]byte
	var ends [utf8.UTFMax]int // ends[k]: where in s buf[k] ends
	n := 0
	for i := 0; n < utf8.UTFMax && i < len(s); n++ {
		c, w := s[i], 1
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			c, w = unhex(s[i+1])<<4|unhex(s[i+2]), 3
		}
		buf[n] = c
		i += w
		ends[n] = i
		if utf8.FullRune(buf[:n+1]) {
			n++
			break
		}
	}
	r, size := utf8.DecodeRune(buf[:n])
	return r, ends[size-1]
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// requestState is what a request's middleware and handlers hand each other.
// It wraps the echo.Context the access log passes down, because echo's own
// c.Set makes a map for every request that sets anything.
type requestState struct {
	echo.Context
	body []byte // the body limitBody read; nil when it did not run
	// bodyReader serves body again as the request's Body.
	bodyReader bodyReader
	// status, when set, is the status the failure stands for, where the
	// answer carries another (a Kratos hook's failure is answered 400): the
	// metrics and the log level follow it, so alerts on 5xx still see it.
	status  int
	errCode string // why the request was refused, for the access log
	err     error
	// refused: an expected refusal (wrong code, limit, bad input), not a
	// failure of ours or of a dependency; only those lines are sampled.
	refused bool
	// clientIP is the user's address a Kratos hook reports (remote_ip is
	// Kratos's own), for the access log.
	clientIP string
	// lang is the language a Kratos hook's messages are in (HookPayload.lang):
	// Kratos's own request to the hook names none.
	lang string
	// hookDecision is the decision a Kratos hook's answer gave, set once the
	// answer is written (or the refusal chosen); countHook counts it and
	// notes its own (an error answer's), and the access log shows it.
	hookDecision string
	// hookMessage is the Kratos message id a hook's answer carried (0: none,
	// as for allow), for the access log: every login start is answered 400
	// to make Kratos show 1090001, which reads as an error without it.
	hookMessage int
	// aborted: the handler panicked with http.ErrAbortHandler (recoverPanic),
	// which accessLog passes on to net/http once the request is logged.
	aborted bool
}

// setHookDecision notes the decision of the hook's answer for countHook.
func setHookDecision(c echo.Context, d string) {
	if st := stateOf(c); st != nil {
		st.hookDecision = d
	}
}

// setHookMessage notes the Kratos message id of the hook's written answer.
func setHookMessage(c echo.Context, id int) {
	if st := stateOf(c); st != nil {
		st.hookMessage = id
	}
}

// countHook counts every answer a Kratos hook gets once in
// callpass_hook_decisions_total, whatever gave it: the hook's own decision,
// or, when the answer is an error from before the hook ran (the body
// limiter) or from a failure (a panic, an answer not written), bad_request
// or error. It wraps the whole hook chain.
func (s *Server) countHook(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		returned := false
		defer func() {
			d := "error" // a panic, recovered by recoverPanic and answered
			if returned {
				d = hookDecisionOf(c, err)
			}
			if st := stateOf(c); st != nil {
				st.hookDecision = d // the access log says what was counted
			}
			s.deps.Metrics.ObserveHook(hookName(c), d)
		}()
		err = next(c)
		returned = true
		return err
	}
}

// hookDecisionOf is the decision of a hook's answer once the chain returned.
func hookDecisionOf(c echo.Context, err error) string {
	if st := stateOf(c); st != nil && st.hookDecision != "" {
		return st.hookDecision
	}
	if _, ok := errors.AsType[*PayloadError](err); ok {
		return "bad_request" // the body limiter's: over the limit, unreadable
	}
	return "error"
}

// stateOf is the request's state, nil for a context the access log did not
// wrap (a handler called directly in a test).
func stateOf(c echo.Context) *requestState {
	st, _ := c.(*requestState)
	return st
}

// recoverPanic calls h, turning a panic into an error. A panic with
// http.ErrAbortHandler is net/http's way to drop the connection without an
// answer (a proxied body that broke, the simulator's provider that went
// away): it is noted in the request's state, not answered, and accessLog
// panics with it again once the request is logged, as Echo's Recover does.
func (s *Server) recoverPanic(c echo.Context, h echo.HandlerFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				if st := stateOf(c); st != nil {
					st.aborted = true
					return
				}
				panic(r)
			}
			s.log.Error("panic in handler", "panic", fmt.Sprint(r), "stack", string(debug.Stack()),
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
			err = fmt.Errorf("internal error")
		}
	}()
	return h(c)
}

// accessLog writes one structured line per request and records metrics,
// around the recovery around h (ServeHTTP calls it for every request): a
// panic, turned into an error there, gets its access-log line and is
// counted like any failure. The URI is sanitised; headers and bodies (which
// carry sessions, codes and phone numbers) are never logged.
func (s *Server) accessLog(c echo.Context, h echo.HandlerFunc) error {
	// The state is lent for the request, like Echo's context it wraps:
	// nothing keeps either past the answer.
	st, _ := s.states.Get().(*requestState)
	if st == nil {
		st = new(requestState)
	}
	st.Context = c
	s.serveState(st, h)
	aborted := st.aborted
	*st = requestState{}
	s.states.Put(st)
	if aborted {
		panic(http.ErrAbortHandler)
	}
	return nil
}

// serveState is accessLog's work on the request's state st.
func (s *Server) serveState(st *requestState, h echo.HandlerFunc) {
	c := st.Context
	start := time.Now()
	if err := s.recoverPanic(st, h); err != nil {
		s.handleError(err, st) // what c.Error does, but with the state
	}
	end := time.Now()
	d := end.Sub(start)
	req, res := c.Request(), c.Response()
	route := c.Path()
	if route == "" {
		route = "unmatched"
	}
	if st.aborted {
		st.errCode, st.err = "aborted", http.ErrAbortHandler
		if !res.Committed {
			// Nothing was written: nginx's 444, closed without an answer,
			// rather than the 200 Echo's response holds until written.
			res.Status = statusClosedWithoutAnswer
		}
	}
	status := res.Status
	if st.status != 0 {
		status = st.status
	}
	s.deps.Metrics.ObserveHTTP(route, req.Method, status, d)
	spanStatus(req.Context(), res.Status, status)
	if route == "/health/alive" || route == "/health/ready" || route == "/metrics" {
		return
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	if !s.log.Enabled(req.Context(), level) {
		return
	}
	var skipped int64
	if st.refused {
		var ok bool
		if ok, skipped = s.refusalLog.admit(refusalKind{route: route, code: st.errCode, status: res.Status}, end); !ok {
			return // counted; the next line of its kind says so
		}
	}
	// Room for every attribute up front: appending the error pair to a
	// literal of eight would move the slice to the heap, every request.
	var buf [14]slog.Attr
	attrs := append(buf[:0],
		slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
		slog.String("method", req.Method),
		slog.String("route", route),
		slog.String("uri", safeURI(req.RequestURI)),
		slog.Int("status", res.Status),
		slog.Int64("bytes", res.Size),
		slog.Duration("duration", d),
		slog.String("remote_ip", c.RealIP()),
	)
	if st.clientIP != "" {
		attrs = append(attrs, slog.String("client_ip", st.clientIP))
	}
	if st.hookDecision != "" {
		attrs = append(attrs, slog.String("hook_decision", st.hookDecision))
	}
	if st.hookMessage != 0 {
		attrs = append(attrs, slog.Int("message_id", st.hookMessage))
	}
	if st.errCode != "" {
		msg := ""
		if st.err != nil {
			msg = st.err.Error()
		}
		attrs = append(attrs, slog.String("error_code", st.errCode), slog.String("error", msg))
	}
	if skipped > 0 {
		attrs = append(attrs, slog.Int64("skipped_similar", skipped))
	}
	// The record is built here, not by LogAttrs: that would look up the
	// caller's program counter (runtime.Callers) on every request, for a
	// source that is always this line and that no handler of ours prints.
	r := slog.NewRecord(end, level, "request", 0)
	r.AddAttrs(attrs...)
	_ = s.log.Handler().Handle(req.Context(), r)
}
