package redisstore_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// TestTLSAlertBeforeReset: a server that refuses the client certificate
// (TLS 1.3: after the client's handshake has returned) sends its alert and
// resets the connection. When the reset arrives before the client's first
// command, the write fails with "connection reset by peer" while the alert,
// the reason, waits unread: it is what the error must say (the readiness
// hint names store.redis.tls_cert_file for it), the reset kept beside it.
// A reset without an alert, or a server that took the certificate, is
// answered as before.
func TestTLSAlertBeforeReset(t *testing.T) {
	ca := testenv.NewTLSCA(t)
	srv := ca.Issue("127.0.0.1")
	pair, err := tls.LoadX509KeyPair(srv.CertFile, srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := redisstore.LoadCA(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	client, err := redisstore.LoadClientCert(ca.Client.CertFile, ca.Client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		clientCert bool
		reset      bool   // the server resets the connection after its handshake
		want       string // in the write's error; "" for none
		reset2     bool   // the error is still a reset (errors.Is)
	}{
		{"client certificate refused, then reset", false, true, "remote error: tls: certificate required (write tcp", true},
		{"reset without an alert", true, true, "connection reset by peer", true},
		{"client certificate taken", true, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan struct{})
			go func() {
				defer close(served)
				raw, err := ln.Accept()
				if err != nil {
					return
				}
				sc := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert,
					ClientCAs: pool, MinVersion: tls.VersionTLS13})
				_ = sc.Handshake()
				if tc.reset {
					_ = raw.(*net.TCPConn).SetLinger(0) // close sends a reset
					_ = raw.Close()
					return
				}
				time.AfterFunc(5*time.Second, func() { _ = raw.Close() })
			}()
			opts, err := redisstore.ClientOptions("rediss://" + ln.Addr().String() + "/0")
			if err != nil {
				t.Fatal(err)
			}
			opts.TLSConfig.RootCAs = pool
			if tc.clientCert {
				opts.TLSConfig.Certificates = []tls.Certificate{client}
			}
			conn, err := opts.Dialer(context.Background(), opts.Network, opts.Addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			<-served
			time.Sleep(20 * time.Millisecond) // the reset has arrived
			_, err = conn.Write([]byte("PING\r\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("write: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("write: %v, want %q in it", err, tc.want)
			case tc.reset2 && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE):
				t.Fatalf("write: %v is no longer a reset", err)
			}
		})
	}
}
