package callpass

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// TestProxyErrorKeepsPassword: a Proxy function's error may quote a
// malformed proxy URL, password included; neither the returned error nor
// the log line of a failed start may carry it.
func TestProxyErrorKeepsPassword(t *testing.T) {
	tests := []struct {
		name     string
		proxyErr error
	}{
		{"quoted address", fmt.Errorf("invalid proxy address %q", "http://u:S3CRET@p:1")},
		{"url.Error", &url.Error{Op: "parse", URL: "http://u:S3CRET@p:1 ", Err: errors.New("invalid port")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			hc := newHTTPClient()
			hc.Transport.(*http.Transport).Proxy = func(*http.Request) (*url.URL, error) { return nil, tt.proxyErr }
			c := newTestClient(t, "https://callpass.invalid", 3, func(cfg *Config) {
				cfg.HTTPClient = hc
				cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			_, err := c.StartCall(context.Background(), mustPhone(t))
			e := assertKind(t, err, flashcall.ErrUnavailable, OpStart)
			if want := "failed before connecting (check the proxy settings)"; e.Sent || e.Message != want {
				t.Errorf("error %#v, want Sent false and message %q", e, want)
			}
			if strings.Contains(err.Error(), "S3CRET") || strings.Contains(logs.String(), "S3CRET") {
				t.Errorf("the proxy password leaked:\nerror %s\nlog %s", err, logs.String())
			}
			if !strings.Contains(logs.String(), "callpass start failed") {
				t.Errorf("the failure was not logged: %s", logs.String())
			}
		})
	}
}

// TestTransportProblemPhrases: each kind of transport failure gets its fixed
// phrase, and none repeats the error's own text (addresses, settings).
func TestTransportProblemPhrases(t *testing.T) {
	dial := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://callpass.invalid/api", Err: &net.OpError{Op: "dial", Net: "tcp",
			Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 443}, Err: err}}
	}
	tests := []struct {
		name       string
		err        error
		connecting bool
		want       string
	}{
		{"refused", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), true, "connection refused"},
		{"reset", dial(os.NewSyscallError("read", syscall.ECONNRESET)), true, "connection reset"},
		{"dns", dial(&net.DNSError{Err: "no such host", Name: "secret-host.internal", Server: "10.0.0.1:53"}), true, "cannot resolve the provider host"},
		{"dns timeout", dial(&net.DNSError{Err: "i/o timeout", Name: "secret-host.internal", IsTimeout: true}), true, "cannot resolve the provider host"},
		{"dial timeout", dial(os.ErrDeadlineExceeded), true, "timed out"},
		{"tls", &url.Error{Op: "Post", URL: "https://callpass.invalid", Err: &tls.CertificateVerificationError{Err: errors.New("x509: secret-host.internal 10.0.0.1")}}, true, "TLS handshake failed"},
		{"tls record", &url.Error{Op: "Post", URL: "https://callpass.invalid", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake 10.0.0.1"}}, true, "TLS handshake failed"},
		{"proxy connect", &url.Error{Op: "Post", URL: "https://callpass.invalid", Err: &net.OpError{Op: "proxyconnect", Net: "tcp",
			Err: &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 3128}, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}}, true, "through the proxy: connection refused"},
		{"before connecting", &url.Error{Op: "Post", URL: "https://callpass.invalid", Err: errors.New(`invalid proxy address "http://u:S3CRET@10.0.0.1:1"`)}, false, "failed before connecting (check the proxy settings)"},
		{"closed early", &url.Error{Op: "Post", URL: "https://callpass.invalid", Err: io.ErrUnexpectedEOF}, true, "connection closed before the answer was complete"},
		{"other", &url.Error{Op: "Post", URL: "https://callpass.invalid", Err: errors.New("S3CRET 10.0.0.1")}, true, "transport failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := transportMessage(context.Background(), context.Background(), tt.err, 0, tt.connecting)
			if got != tt.want {
				t.Errorf("transportMessage = %q, want %q", got, tt.want)
			}
			for _, s := range []string{"S3CRET", "10.0.0.1", "secret-host", "callpass.invalid"} {
				if strings.Contains(got, s) {
					t.Errorf("%q repeats %q", got, s)
				}
			}
		})
	}
}

// TestAnswerHeadersBounded: a provider answering with megabytes of headers
// is refused as unavailable (the start may have reached it, so it is not
// retried) instead of being read into memory.
func TestAnswerHeadersBounded(t *testing.T) {
	var starts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		starts.Add(1)
		w.Header().Set("X-Junk", strings.Repeat("j", 1<<20))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"callid":"0b5c2d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e","phone":"2214610","result":"null"},"status":"success"}`)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, 2, nil)
	_, err := c.StartCall(t.Context(), mustPhone(t))
	e := assertKind(t, err, flashcall.ErrUnavailable, OpStart)
	if !e.Sent {
		t.Error("Sent = false: the start reached the provider")
	}
	if n := starts.Load(); n != 1 {
		t.Errorf("%d start requests, want exactly 1", n)
	}
}

// keepAliveServer answers every request with body on kept-alive
// connections, like an Apache or Node.js server with their default 5 s
// keep-alive timeout, except that a request arriving on a connection idle
// for that long meets the server's close (a reset) instead of an answer:
// the close and the request cross on the wire. It counts the requests it
// answered.
func keepAliveServer(t *testing.T, idle time.Duration, body string) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var answered atomic.Int32
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				last := time.Now()
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if time.Since(last) >= idle {
						_ = conn.(*net.TCPConn).SetLinger(0)
						return
					}
					answered.Add(1)
					_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
					last = time.Now()
				}
			}()
		}
	}()
	return "http://" + l.Addr().String(), &answered
}

// TestStartAfterIdleUsesAFreshConnection: the client kept idle connections
// for 90 s, longer than the 5 s keep-alive timeout of Apache's and
// Node.js's defaults (and nginx's 75 s), so a start sent as the server
// closed such a connection met the close: it failed as "may have reached
// the provider" though the provider never read it, and the user was told
// to try again. The client now drops an idle connection before a server
// with such a timeout does.
func TestStartAfterIdleUsesAFreshConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 5 s keep-alive timeout")
	}
	url, answered := keepAliveServer(t, 5*time.Second, sampleV3Async)
	c := newTestClient(t, url, 3, func(cfg *Config) { cfg.HTTPClient = newHTTPClient() })
	if _, err := c.StartCall(context.Background(), mustPhone(t)); err != nil {
		t.Fatalf("first start: %v", err)
	}
	time.Sleep(5*time.Second + 100*time.Millisecond)
	if _, err := c.StartCall(context.Background(), mustPhone(t)); err != nil {
		t.Fatalf("start after 5 s idle: %v", err)
	}
	if n := answered.Load(); n != 2 {
		t.Fatalf("server answered %d starts, want 2", n)
	}
}
