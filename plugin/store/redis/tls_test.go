package redisstore_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// trust makes cfg, a rediss:// URL's TLS configuration, trust ca and
// present its client certificate, as store.redis.tls_* do.
func trust(t *testing.T, cfg *tls.Config, ca *testenv.TLSCA) {
	t.Helper()
	if cfg == nil {
		t.Fatal("no TLS configuration: not a rediss:// URL")
	}
	c := ca.ClientConfig("")
	cfg.RootCAs, cfg.Certificates = c.RootCAs, c.Certificates
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
			opts, err := redisstore.FailoverOptions(rs.URL(), redisstore.Sentinel{Master: rs.MasterName, Password: "sentinel-pw"})
			if err != nil {
				t.Fatal(err)
			}
			trust(t, opts.TLSConfig, ca)
			rdb := redis.NewFailoverClient(opts)
			t.Cleanup(func() { _ = rdb.Close() })
			if tc.refused == "" {
				serveOver(t, rdb, 1)
				return
			}
			err = rdb.Ping(context.Background()).Err()
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
	opts, err := redisstore.ClusterOptions(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	trust(t, opts.TLSConfig, ca)
	rdb := redisstore.NewClusterClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	var masters atomic.Int32 // ForEachMaster runs f concurrently
	if err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		masters.Add(1)
		return m.Ping(ctx).Err()
	}); err != nil || masters.Load() != 3 {
		t.Fatalf("%d masters: %v", masters.Load(), err)
	}
	serveOver(t, rdb, 12)
}
