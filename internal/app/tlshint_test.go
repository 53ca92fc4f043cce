package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

// TestRedisTLSHint: every alert a TLS server sends about the client's
// certificate names the client certificate's keys, whatever Redis (its
// OpenSSL) found wrong: none, another CA's, one expired (a renewal that
// never reached the files), revoked, or without the
// clientAuth use. A certificate this side cannot verify names the CA file;
// anything else has no TLS hint.
func TestRedisTLSHint(t *testing.T) {
	const client, server = "Redis refused the client certificate", "check store.redis.tls_ca_file"
	alert := func(text string) error {
		// What crypto/tls returns for an alert the server sent, as
		// go-redis passes it on.
		return fmt.Errorf("redis store: ping: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: " + text)})
	}
	for _, tc := range []struct {
		name string
		err  error
		want string // a prefix of the hint; "" for none
	}{
		{"no certificate (TLS 1.3)", alert("certificate required"), client},
		{"another CA's", alert("unknown certificate authority"), client},
		{"bad certificate", alert("bad certificate"), client},
		{"expired", alert("expired certificate"), client},
		{"revoked", alert("revoked certificate"), client},
		{"not for client use", alert("unsupported certificate"), client},
		{"unknown certificate", alert("unknown certificate"), client},
		{"server certificate not verified", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, server},
		{"no shared protocol", alert("protocol version not supported"), ""},
		{"reset", fmt.Errorf("write tcp: %w", syscall.ECONNRESET), ""},
		{"password", errors.New("WRONGPASS invalid username-password pair"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := redisTLSHint(tc.err, true)
			if (tc.want == "") != (h == "") || !strings.HasPrefix(h, tc.want) {
				t.Errorf("hint %q, want %q", h, tc.want)
			}
			// Both files are read again when they change; the hint must
			// not send the admin to restart after fixing the CA file.
			if tc.want == server && !strings.Contains(h, "no restart needed") {
				t.Errorf("hint %q does not say the CA file is read again", h)
			}
		})
	}
}
