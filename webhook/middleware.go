package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
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

// longDigits finds digit runs that could be phone numbers or codes in a URI.
var longDigits = regexp.MustCompile(`\d{4,}`)

// safeURI keeps a URI useful in logs without carrying numbers or codes:
// every run of 4+ digits is masked whole.
func safeURI(uri string) string {
	run := 0
	for i := 0; i < len(uri) && run < 4; i++ {
		if uri[i] >= '0' && uri[i] <= '9' {
			run++
		} else {
			run = 0
		}
	}
	if run < 4 {
		return uri // nothing to mask: skip the regular expression
	}
	// Masked whole: a code sent in a query string (a client's mistake) must
	// not leave two of its four digits in the log.
	return longDigits.ReplaceAllLiteralString(uri, "***")
}

// requestState is what a request's middleware and handlers hand each other.
// It wraps the echo.Context the access log passes down, because echo's own
// c.Set makes a map for every request that sets anything.
type requestState struct {
	echo.Context
	body []byte // the body limitBody read; nil when it did not run
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
}

// stateOf is the request's state, nil for a context the access log did not
// wrap (a handler called directly in a test).
func stateOf(c echo.Context) *requestState {
	st, _ := c.(*requestState)
	return st
}

func (s *Server) recoverMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic in handler", "panic", fmt.Sprint(r), "stack", string(debug.Stack()),
					"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
				err = fmt.Errorf("internal error")
			}
		}()
		return next(c)
	}
}

// accessLog writes one structured line per request and records metrics. The
// URI is sanitised; headers and bodies (which carry sessions, codes and
// phone numbers) are never logged.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		st := &requestState{Context: c}
		if err := next(st); err != nil {
			s.handleError(err, st) // what c.Error does, but with the state
		}
		end := time.Now()
		d := end.Sub(start)
		req, res := c.Request(), c.Response()
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := res.Status
		if st.status != 0 {
			status = st.status
		}
		s.deps.Metrics.ObserveHTTP(route, req.Method, status, d)
		spanStatus(req.Context(), res.Status, status)
		if route == "/health/alive" || route == "/health/ready" || route == "/metrics" {
			return nil
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		if !s.log.Enabled(req.Context(), level) {
			return nil
		}
		var skipped int64
		if st.refused {
			var ok bool
			if ok, skipped = s.refusalLog.admit(refusalKind{route: route, code: st.errCode, status: res.Status}, end); !ok {
				return nil // counted; the next line of its kind says so
			}
		}
		// Room for every attribute up front: appending the error pair to a
		// literal of eight would move the slice to the heap, every request.
		var buf [12]slog.Attr
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
		return nil
	}
}
