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
// every run of 4+ digits keeps only its last two.
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
	return longDigits.ReplaceAllStringFunc(uri, func(d string) string {
		return "***" + d[len(d)-2:]
	})
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
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		req, res := c.Request(), c.Response()
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.deps.Metrics.ObserveHTTP(route, req.Method, res.Status, d)
		if route == "/health/alive" || route == "/health/ready" || route == "/metrics" {
			return nil
		}
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		if !s.log.Enabled(req.Context(), level) {
			return nil
		}
		// Room for every attribute up front: appending the error pair to a
		// literal of eight would move the slice to the heap, every request.
		var buf [10]slog.Attr
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
		if code, ok := c.Get(ctxErrorCode).(string); ok {
			msg := ""
			if e, ok := c.Get(ctxError).(error); ok && e != nil {
				msg = e.Error()
			}
			attrs = append(attrs, slog.String("error_code", code), slog.String("error", msg))
		}
		s.log.LogAttrs(req.Context(), level, "request", attrs...)
		return nil
	}
}
