package redisstore_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// files are ca's files as store.redis.tls_* name them.
func files(ca *testenv.TLSCA) redisstore.TLS {
	return redisstore.TLS{CAFile: ca.File, CertFile: ca.Client.CertFile, KeyFile: ca.Client.KeyFile}
}

// serveOver runs a login (start, verify) for n identities through a store
// on rdb: with several, their keys spread over a cluster's masters.
func serveOver(t *testing.T, rdb redis.UniversalClient, n int) {
	t.Helper()
	ctx := context.Background()
	st := redisstore.New(rdb, "cpk:")
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	_, svc := serviceOn(t, st, limit.DefaultConfig(), &fakeProvider{code: "7391"})
	for i := range n {
		req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: fmt.Sprint("ident-", i), FlowID: "flow", Phone: fmt.Sprintf("+7900123%04d", i)}
		if res, err := svc.Start(ctx, req); err != nil || !res.Placed {
			t.Fatalf("start %d: %+v %v", i, res, err)
		}
		bind := challenge.Binding{Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID}
		if _, err := svc.Verify(ctx, bind, "", "7391"); err != nil {
			t.Fatalf("verify %d: %v", i, err)
		}
	}
}

// TestSentinelTLSChecksEachHost: with rediss:// in sentinel mode each
// connection's certificate is checked against the host it dials. The
// sentinels are named localhost in the URL and their certificates, the
// master is announced as 127.0.0.1 and its certificate carries that
// address only: go-redis alone checked the master's against the first
// sentinel's name (localhost) and refused it. The other way round, a
// master whose certificate carries only the sentinels' name is refused
// (fails closed), where go-redis alone accepted it.
func TestSentinelTLSChecksEachHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		dataNames []string
		refused   string // "" serves
	}{
		{"master by its address", []string{"127.0.0.1"}, ""},
		{"master with the sentinels' name only", []string{"localhost"}, "certificate for 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ca := testenv.NewTLSCA(t)
			rs := testenv.StartRedisSentinelsTLS(t, "callpass", testenv.SentinelAuth{Data: "data-pw", Sentinel: "sentinel-pw"}, 2, 1,
				testenv.SentinelTLS{CA: ca, SentinelNames: []string{"localhost"}, DataNames: tc.dataNames})
			if !strings.HasPrefix(rs.URL(), "rediss://:data-pw@localhost:") {
				t.Fatalf("URL %s", rs.URL())
			}
			// The sentinels require a client certificate too: the files
			// serve their connections as well as the master's.
			rdb := newStoreClientTLS(t, redisstore.ModeSentinel, rs.URL(), redisstore.Sentinel{Master: rs.MasterName, Password: "sentinel-pw"}, files(ca))
			if tc.refused == "" {
				serveOver(t, rdb, 1)
				return
			}
			err := rdb.Ping(context.Background()).Err()
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("ping: %v, want a refused certificate (%s)", err, tc.refused)
			}
		})
	}
}

// TestClusterTLSChecksEachHost: in cluster mode each node's certificate is
// checked against the address it is dialed at. The seed is named
// localhost; the other nodes, as every node announces itself, 127.0.0.1,
// and their certificates carry that address only: go-redis alone checked
// every node against the seed's name and refused them.
func TestClusterTLSChecksEachHost(t *testing.T) {
	t.Parallel()
	ca := testenv.NewTLSCA(t)
	c := testenv.StartRedisClusterTLS(t, 3, ca, []string{"localhost", "127.0.0.1"})
	if !strings.HasPrefix(c.URL(), "rediss://localhost:") {
		t.Fatalf("URL %s", c.URL())
	}
	rdb := newStoreClientTLS(t, redisstore.ModeCluster, c.URL(), redisstore.Sentinel{}, files(ca)).(*redis.ClusterClient)
	var masters atomic.Int32 // ForEachMaster runs f concurrently
	if err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		masters.Add(1)
		return m.Ping(ctx).Err()
	}); err != nil || masters.Load() != 3 {
		t.Fatalf("%d masters: %v", masters.Load(), err)
	}
	serveOver(t, rdb, 12)
}

// newStoreClientTLS is redisstore.NewClient with TLS files, closed at the
// test's end.
func newStoreClientTLS(t *testing.T, mode, url string, s redisstore.Sentinel, tf redisstore.TLS) redis.UniversalClient {
	t.Helper()
	c, err := redisstore.NewClient(mode, url, s, tf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestStandaloneTLS: rediss:// to a server that requires client
// certificates, with a private CA (store.redis.tls_*). What cannot be
// verified fails closed with the reason: a CA that did not sign the
// server's certificate (or the system's roots), a host the certificate
// does not name; a server that wants a client certificate refuses a client
// without one. skip_verify, asked explicitly, still skips the check.
func TestStandaloneTLS(t *testing.T) {
	t.Parallel()
	ca := testenv.NewTLSCA(t)
	r := testenv.StartRedisTLS(t, ca, nil)
	url := "rediss://" + r.DialAddr() + "/0"
	if !strings.HasPrefix(url, "rediss://127.0.0.1:") {
		t.Fatalf("URL %s", url)
	}
	serveOver(t, newStoreClientTLS(t, redisstore.ModeStandalone, url, redisstore.Sentinel{}, files(ca)), 1)

	other := testenv.NewTLSCA(t)
	localhost := "rediss://localhost:" + fmt.Sprint(r.Port) + "/0"
	// The system's roots are read once per process, at the first
	// verification that needs them: read them here, not inside the 2 s
	// dial of "the system's roots", which ran out on a loaded machine
	// ("context deadline exceeded", want "signed by unknown authority").
	if _, err := x509.SystemCertPool(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url string
		tf        redisstore.TLS
		want      string // in the error; "" serves
	}{
		{"another CA", url, redisstore.TLS{CAFile: other.File, CertFile: ca.Client.CertFile, KeyFile: ca.Client.KeyFile}, "certificate signed by unknown authority"},
		{"the system's roots", url, redisstore.TLS{CertFile: ca.Client.CertFile, KeyFile: ca.Client.KeyFile}, "certificate signed by unknown authority"},
		{"a host the certificate does not name", localhost, files(ca), "wanted to match localhost"},
		{"no client certificate", url, redisstore.TLS{CAFile: ca.File}, "certificate required"},
		{"another CA's client certificate", url, redisstore.TLS{CAFile: ca.File, CertFile: other.Client.CertFile, KeyFile: other.Client.KeyFile}, "tls: unknown certificate authority"},
		{"skip_verify asked for", url + "?skip_verify=true", redisstore.TLS{CertFile: ca.Client.CertFile, KeyFile: ca.Client.KeyFile}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := redisstore.New(newStoreClientTLS(t, redisstore.ModeStandalone, tc.url, redisstore.Sentinel{}, tc.tf), "cpk:").Ping(context.Background())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("ping: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("ping: %v, want refused (%s)", err, tc.want)
			}
		})
	}
}

// TestTLSFilesRefused: NewClient refuses TLS files it cannot use, in every
// mode, naming the file and never the URL (hunter2 is its password) nor a
// key.
func TestTLSFilesRefused(t *testing.T) {
	ca := testenv.NewTLSCA(t)
	other := testenv.NewTLSCA(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		name, url string
		tf        redisstore.TLS
		want      string
	}{
		{"not rediss", "redis://:hunter2@r1:6379/0", files(ca), "the URL is not rediss://"},
		{"certificate without key", "rediss://:hunter2@r1:6379/0", redisstore.TLS{CertFile: ca.Client.CertFile}, "both its certificate and its key file"},
		{"key without certificate", "rediss://:hunter2@r1:6379/0", redisstore.TLS{KeyFile: ca.Client.KeyFile}, "both its certificate and its key file"},
		{"CA file missing", "rediss://:hunter2@r1:6379/0", redisstore.TLS{CAFile: missing}, "cannot read " + missing + ": no such file"},
		{"CA file not PEM", "rediss://:hunter2@r1:6379/0", redisstore.TLS{CAFile: notPEM}, notPEM + " holds no PEM certificate"},
		{"key of another certificate", "rediss://:hunter2@r1:6379/0", redisstore.TLS{CertFile: ca.Client.CertFile, KeyFile: other.Client.KeyFile}, "private key does not match public key"},
		{"key file missing", "rediss://:hunter2@r1:6379/0", redisstore.TLS{CertFile: ca.Client.CertFile, KeyFile: missing}, "cannot read " + missing},
	} {
		for _, mode := range []string{redisstore.ModeStandalone, redisstore.ModeCluster, redisstore.ModeSentinel} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				_, err := redisstore.NewClient(mode, tc.url, redisstore.Sentinel{Master: "m"}, tc.tf)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%v, want %q", err, tc.want)
				}
				if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "PRIVATE KEY-----") {
					t.Fatalf("error repeats a secret: %v", err)
				}
			})
		}
	}
}
