package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// replace writes src's content to dst the way a renewal does: a new file
// renamed over the old one.
func replace(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestClientCertRenewedOnDisk: a client certificate renewed on disk is
// presented by the next new connection, without a restart. The server is
// switched to trust only the renewed certificate's CA, and the store's
// connections are killed: the store reconnects with the renewed pair.
// Before, the pair read at start was presented until a restart, and every
// new connection was refused ("unknown certificate authority"). A renewal
// caught half written (the new certificate with the old key) keeps the old
// pair in use, with one warning.
func TestClientCertRenewedOnDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ca, renewed := testenv.NewTLSCA(t), testenv.NewTLSCA(t)
	r := testenv.StartRedisTLS(t, ca, nil)
	url := "rediss://" + r.DialAddr() + "/0"

	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	replace(t, ca.Client.CertFile, certFile)
	replace(t, ca.Client.KeyFile, keyFile)
	var logs lockedBuffer
	tf := redisstore.TLS{CAFile: ca.File, CertFile: certFile, KeyFile: keyFile,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	st := redisstore.New(newStoreClientTLS(t, redisstore.ModeStandalone, url, redisstore.Sentinel{}, tf), "cpk:")
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}

	admin := redis.NewClient(&redis.Options{Addr: r.DialAddr(), TLSConfig: r.TLSConfig()})
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.Ping(ctx).Err(); err != nil {
		t.Fatalf("admin ping: %v", err)
	}
	// reconnect drops the store's connections, so its next command dials
	// (and handshakes) again.
	reconnect := func() {
		t.Helper()
		if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
			t.Fatalf("client kill: %v", err)
		}
	}
	// ping is the store's ping after reconnect: a command the pool sends
	// on a killed connection fails (the store never retries), so it is
	// tried until a fresh connection answers or refuses.
	ping := func() error {
		var err error
		for range 5 {
			if err = st.Ping(ctx); err == nil || !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset by peer") {
				return err
			}
		}
		return err
	}

	// Half written: the renewed certificate, the old key. The old pair
	// stays in use (the server still trusts it), and the warning is said
	// once however many connections are dialled meanwhile.
	replace(t, renewed.Client.CertFile, certFile)
	for range 3 {
		reconnect()
		if err := ping(); err != nil {
			t.Fatalf("ping with a half-written renewal: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "does not load"); n != 1 {
		t.Fatalf("%d warnings of the half-written renewal, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatalf("log quotes a key:\n%s", logs.String())
	}

	// The renewal completes, and the server now trusts only its CA.
	replace(t, renewed.Client.KeyFile, keyFile)
	if err := admin.ConfigSet(ctx, "tls-ca-cert-file", renewed.File).Err(); err != nil {
		t.Fatalf("config set: %v", err)
	}
	reconnect()
	if err := ping(); err != nil {
		t.Fatalf("ping after the renewal: %v (the certificate read at start was presented)", err)
	}
	if !strings.Contains(logs.String(), "reloaded") {
		t.Fatalf("no reload said:\n%s", logs.String())
	}

	// The old CA's certificate really is refused now: the ping above
	// passed because the renewed pair was presented.
	old := redis.NewClient(&redis.Options{Addr: r.DialAddr(), TLSConfig: r.TLSConfig(), MaxRetries: -1})
	t.Cleanup(func() { _ = old.Close() })
	if err := old.Ping(ctx).Err(); err == nil {
		t.Fatal("the server still admits the old CA's client certificate: the test proves nothing")
	}
}

// TestCARotatedOnDisk: store.redis.tls_ca_file rotated on disk is used by
// the next new connection, without a restart, as the client certificate
// is. Redis is switched to a server certificate of a new CA (and to trust
// both CAs' clients); the store's connections are killed: it verifies the
// new server certificate with the rotated bundle. Before, the CA file read
// at start was used until a restart, and every new connection failed
// ("certificate signed by unknown authority"). A rotation caught broken
// (a file that holds no certificate yet) keeps the CAs read before in use,
// with one warning, and so does a file removed for a moment.
func TestCARotatedOnDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldCA, newCA := testenv.NewTLSCA(t), testenv.NewTLSCA(t)
	r := testenv.StartRedisTLS(t, oldCA, nil)
	url := "rediss://" + r.DialAddr() + "/0"

	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	replace(t, oldCA.File, caFile)
	var logs lockedBuffer
	tf := redisstore.TLS{CAFile: caFile, CertFile: oldCA.Client.CertFile, KeyFile: oldCA.Client.KeyFile,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	st := redisstore.New(newStoreClientTLS(t, redisstore.ModeStandalone, url, redisstore.Sentinel{}, tf), "cpk:")
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}

	admin := redis.NewClient(&redis.Options{Addr: r.DialAddr(), TLSConfig: r.TLSConfig()})
	t.Cleanup(func() { _ = admin.Close() })
	reconnect := func() {
		t.Helper()
		if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
			t.Fatalf("client kill: %v", err)
		}
	}
	ping := func() error {
		var err error
		for range 5 {
			if err = st.Ping(ctx); err == nil || !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset by peer") {
				return err
			}
		}
		return err
	}

	// Broken: the file holds no certificate, then is missing. The CAs
	// read before stay in use; one warning per broken state.
	notPEM := filepath.Join(t.TempDir(), "half.pem")
	if err := os.WriteFile(notPEM, []byte("-----BEGIN CERT"), 0o600); err != nil {
		t.Fatal(err)
	}
	replace(t, notPEM, caFile)
	for range 3 {
		reconnect()
		if err := ping(); err != nil {
			t.Fatalf("ping with a broken CA file: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "does not load"); n != 1 {
		t.Fatalf("%d warnings of the broken CA file, want 1:\n%s", n, logs.String())
	}
	if err := os.Remove(caFile); err != nil {
		t.Fatal(err)
	}
	reconnect()
	if err := ping(); err != nil {
		t.Fatalf("ping with the CA file missing: %v", err)
	}

	// The rotation: the bundle holds both CAs (the overlap a rotation
	// keeps), then the server presents the new CA's certificate.
	oldPEM, err := os.ReadFile(oldCA.File)
	if err != nil {
		t.Fatal(err)
	}
	newPEM, err := os.ReadFile(newCA.File)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundle, append(append(oldPEM, '\n'), newPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	replace(t, bundle, caFile)
	serverCert := newCA.Issue("127.0.0.1")
	if err := admin.Do(ctx, "CONFIG", "SET", "tls-cert-file", serverCert.CertFile, "tls-key-file", serverCert.KeyFile,
		"tls-ca-cert-file", bundle).Err(); err != nil {
		t.Fatalf("config set: %v", err)
	}
	reconnect()
	if err := ping(); err != nil {
		t.Fatalf("ping after the CA rotation: %v (the CA file read at start was used)", err)
	}
	if !strings.Contains(logs.String(), "tls_ca_file reloaded") {
		t.Fatalf("no reload said:\n%s", logs.String())
	}

	// The server's certificate really is the new CA's: the CAs read at
	// start refuse it.
	old := redis.NewClient(&redis.Options{Addr: r.DialAddr(), TLSConfig: r.TLSConfig(), MaxRetries: -1})
	t.Cleanup(func() { _ = old.Close() })
	if err := old.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("old CA's client: %v, want unknown authority: the test proves nothing", err)
	}
}
