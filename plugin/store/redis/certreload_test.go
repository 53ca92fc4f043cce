package redisstore_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// reloadRig is a store on a TLS redis-server r (standalone, TLS as the
// test gives it, its logs kept) and an admin connection to r through which
// the store's connections are killed, so its next command dials (and
// handshakes) again.
type reloadRig struct {
	t     *testing.T
	r     *testenv.Redis
	st    *redisstore.Store
	admin *redis.Client
	logs  *testenv.LogBuffer
}

// newReloadRig starts the store on r with tf (its Logger set here) and
// checks that the store and the admin connection answer.
func newReloadRig(t *testing.T, r *testenv.Redis, tf redisstore.TLS) *reloadRig {
	t.Helper()
	ctx := context.Background()
	rg := &reloadRig{t: t, r: r, logs: &testenv.LogBuffer{}}
	tf.Logger = slog.New(slog.NewTextHandler(rg.logs, nil))
	rg.st = redisstore.New(newStoreClientTLS(t, redisstore.ModeStandalone, "rediss://"+r.DialAddr()+"/0", redisstore.Sentinel{}, tf), "cpk:")
	if err := rg.st.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	rg.admin = redis.NewClient(&redis.Options{Addr: r.DialAddr(), TLSConfig: r.TLSConfig()})
	t.Cleanup(func() { _ = rg.admin.Close() })
	if err := rg.admin.Ping(ctx).Err(); err != nil {
		t.Fatalf("admin ping: %v", err)
	}
	return rg
}

// reconnect drops the store's connections.
func (rg *reloadRig) reconnect() {
	rg.t.Helper()
	if err := rg.admin.Do(context.Background(), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		rg.t.Fatalf("client kill: %v", err)
	}
}

// ping is the store's ping after reconnect: a command the pool sends on a
// killed connection fails (the store never retries), so it is tried until
// a fresh connection answers or refuses.
func (rg *reloadRig) ping() error {
	var err error
	for range 5 {
		if err = rg.st.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset by peer") {
			return err
		}
	}
	return err
}

// keepsOld checks that the store, its files in a broken state (what), still
// connects on three fresh connections with what it read before, and says
// so in one warning however many connections were dialled.
func (rg *reloadRig) keepsOld(what string) {
	rg.t.Helper()
	for range 3 {
		rg.reconnect()
		if err := rg.ping(); err != nil {
			rg.t.Fatalf("ping with %s: %v", what, err)
		}
	}
	if n := strings.Count(rg.logs.String(), "does not load"); n != 1 {
		rg.t.Fatalf("%d warnings of %s, want 1:\n%s", n, what, rg.logs.String())
	}
}

// startTLSPing is a ping from a new client with what the store's files
// held at start (the server's first CA and client certificate).
func (rg *reloadRig) startTLSPing() error {
	old := redis.NewClient(&redis.Options{Addr: rg.r.DialAddr(), TLSConfig: rg.r.TLSConfig(), MaxRetries: -1})
	rg.t.Cleanup(func() { _ = old.Close() })
	return old.Ping(context.Background()).Err()
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
	ca, renewed := testenv.NewTLSCA(t), testenv.NewTLSCA(t)
	r := testenv.StartRedisTLS(t, ca, nil)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	replace(t, ca.Client.CertFile, certFile)
	replace(t, ca.Client.KeyFile, keyFile)
	rg := newReloadRig(t, r, redisstore.TLS{CAFile: ca.File, CertFile: certFile, KeyFile: keyFile})

	// Half written: the renewed certificate, the old key. The old pair
	// stays in use (the server still trusts it), and the warning is said
	// once however many connections are dialled meanwhile.
	replace(t, renewed.Client.CertFile, certFile)
	rg.keepsOld("a half-written renewal")
	if strings.Contains(rg.logs.String(), "PRIVATE KEY") {
		t.Fatalf("log quotes a key:\n%s", rg.logs.String())
	}

	// The renewal completes, and the server now trusts only its CA.
	replace(t, renewed.Client.KeyFile, keyFile)
	if err := rg.admin.ConfigSet(context.Background(), "tls-ca-cert-file", renewed.File).Err(); err != nil {
		t.Fatalf("config set: %v", err)
	}
	rg.reconnect()
	if err := rg.ping(); err != nil {
		t.Fatalf("ping after the renewal: %v (the certificate read at start was presented)", err)
	}
	if !strings.Contains(rg.logs.String(), "reloaded") {
		t.Fatalf("no reload said:\n%s", rg.logs.String())
	}

	// The old CA's certificate really is refused now: the ping above
	// passed because the renewed pair was presented.
	if err := rg.startTLSPing(); err == nil {
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
	oldCA, newCA := testenv.NewTLSCA(t), testenv.NewTLSCA(t)
	r := testenv.StartRedisTLS(t, oldCA, nil)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	replace(t, oldCA.File, caFile)
	rg := newReloadRig(t, r, redisstore.TLS{CAFile: caFile, CertFile: oldCA.Client.CertFile, KeyFile: oldCA.Client.KeyFile})

	// Broken: the file holds no certificate, then is missing. The CAs
	// read before stay in use; one warning per broken state.
	notPEM := filepath.Join(t.TempDir(), "half.pem")
	if err := os.WriteFile(notPEM, []byte("-----BEGIN CERT"), 0o600); err != nil {
		t.Fatal(err)
	}
	replace(t, notPEM, caFile)
	rg.keepsOld("a broken CA file")
	if err := os.Remove(caFile); err != nil {
		t.Fatal(err)
	}
	rg.reconnect()
	if err := rg.ping(); err != nil {
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
	if err := rg.admin.Do(context.Background(), "CONFIG", "SET", "tls-cert-file", serverCert.CertFile, "tls-key-file", serverCert.KeyFile,
		"tls-ca-cert-file", bundle).Err(); err != nil {
		t.Fatalf("config set: %v", err)
	}
	rg.reconnect()
	if err := rg.ping(); err != nil {
		t.Fatalf("ping after the CA rotation: %v (the CA file read at start was used)", err)
	}
	if !strings.Contains(rg.logs.String(), "tls_ca_file reloaded") {
		t.Fatalf("no reload said:\n%s", rg.logs.String())
	}

	// The server's certificate really is the new CA's: the CAs read at
	// start refuse it.
	if err := rg.startTLSPing(); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("old CA's client: %v, want unknown authority: the test proves nothing", err)
	}
}
