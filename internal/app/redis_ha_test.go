package app

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestRedisModesServe: with store.redis.mode cluster (seed URL) or sentinel
// (sentinels' URL, master name, both passwords; or the sentinels' ACL user
// and its password) the app builds the right client: /health/ready is ok and the start-up inspection finds nothing to
// say; with a cluster node down readiness fails, and it is ok again once
// the node is back.
func TestRedisModesServe(t *testing.T) {
	cl := testenv.StartRedisCluster(t, 3)
	rs := testenv.StartRedisSentinel(t, "cpk", testenv.SentinelAuth{Data: "data-pw-5b1e", Sentinel: "sentinel-pw-0c2d"})
	acl := testenv.StartRedisSentinel(t, "cpk", testenv.SentinelAuth{Data: "data-pw-5b1e", Sentinel: "sentinel-pw-0c2d", SentinelUser: "cpk-sentinel"})
	tests := []struct {
		name string
		env  []string
	}{
		{"cluster", []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=" + cl.URL()}},
		{"sentinel", []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=redis://:data-pw-5b1e@" + rs.Sentinel.Addr + "/0",
			"STORE_REDIS_SENTINEL_MASTER=cpk", "STORE_REDIS_SENTINEL_PASSWORD=sentinel-pw-0c2d"}},
		{"sentinel ACL user", []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=" + acl.URL(), "STORE_REDIS_SENTINEL_MASTER=cpk",
			"STORE_REDIS_SENTINEL_USERNAME=cpk-sentinel", "STORE_REDIS_SENTINEL_PASSWORD=sentinel-pw-0c2d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := logApp(t, append([]string{"STORE_TYPE=redis"}, tt.env...)...)
			if code, body := get(t, a.Handler(), "/health/ready"); code != http.StatusOK {
				t.Fatalf("ready: %d %s\n%s", code, body, logs)
			}
			for _, ln := range strings.Split(logs.String(), "\n") {
				if strings.Contains(ln, "Redis") && (strings.Contains(ln, "level=WARN") || strings.Contains(ln, "level=ERROR")) {
					t.Errorf("unexpected line about Redis: %s", ln)
				}
				for _, secret := range []string{"data-pw-5b1e", "sentinel-pw-0c2d"} {
					if strings.Contains(ln, secret) {
						t.Errorf("log line holds a password: %s", ln)
					}
				}
			}
		})
	}
	t.Run("cluster node down", func(t *testing.T) {
		a, _ := logApp(t, "STORE_TYPE=redis", "STORE_REDIS_MODE=cluster", "STORE_REDIS_URL="+cl.URL())
		if code, body := get(t, a.Handler(), "/health/ready"); code != http.StatusOK {
			t.Fatalf("ready: %d %s", code, body)
		}
		cl.Nodes[2].Stop()
		if code, body := get(t, a.Handler(), "/health/ready"); code != http.StatusServiceUnavailable {
			t.Fatalf("ready with a master down: %d %s", code, body)
		}
		cl.Nodes[2].Start()
		if !eventually(func() bool { code, _ := get(t, a.Handler(), "/health/ready"); return code == http.StatusOK }) {
			t.Fatal("not ready again after the node came back")
		}
	})
}

// TestSentinelCredentialsRefused: sentinels that admit only an ACL user
// refuse a wrong user, no user (their default one is off) and a wrong
// password. The app fails closed: /health/ready is 503 with checks.store
// error, and an ERROR line names the keys to check, the sentinels' username
// among them, never a password or the URL. The right ones are ready.
func TestSentinelCredentialsRefused(t *testing.T) {
	rs := testenv.StartRedisSentinel(t, "cpk", testenv.SentinelAuth{Data: "data-pw-5b1e", Sentinel: "sentinel-pw-0c2d", SentinelUser: "cpk-sentinel"})
	tests := []struct {
		name, user, password string
		ok                   bool
	}{
		{"right user and password", "cpk-sentinel", "sentinel-pw-0c2d", true},
		{"wrong user", "cpk-sentinel-2", "sentinel-pw-0c2d", false},
		{"no user", "", "sentinel-pw-0c2d", false},
		{"wrong password", "cpk-sentinel", "sentinel-pw-9e8f", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{"STORE_TYPE=redis", "STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=" + rs.URL(),
				"STORE_REDIS_SENTINEL_MASTER=cpk", "STORE_REDIS_SENTINEL_PASSWORD=" + tt.password}
			if tt.user != "" {
				env = append(env, "STORE_REDIS_SENTINEL_USERNAME="+tt.user)
			}
			a, logs := logApp(t, env...)
			if tt.ok {
				if code, body := get(t, a.Handler(), "/health/ready"); code != http.StatusOK {
					t.Fatalf("ready: %d %s\n%s", code, body, logs)
				}
				return
			}
			// Every probe fails; the ERROR line comes with the first that
			// gets WRONGPASS (one that times out, on a stalled machine, does
			// not say why).
			hinted := func() bool {
				code, body := get(t, a.Handler(), "/health/ready")
				if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"store":{"status":"error"`) {
					t.Fatalf("ready with wrong sentinel credentials: %d %s", code, body)
				}
				for _, ln := range strings.Split(logs.String(), "\n") {
					if strings.Contains(ln, "level=ERROR") && strings.Contains(ln, "Redis refused the store's credentials") &&
						strings.Contains(ln, "store.redis.sentinel_username") && strings.Contains(ln, "WRONGPASS") {
						return true
					}
				}
				return false
			}
			if !eventually(hinted) {
				t.Fatalf("no ERROR line naming store.redis.sentinel_username:\n%s", logs)
			}
			for _, secret := range []string{"data-pw-5b1e", "sentinel-pw-0c2d", "sentinel-pw-9e8f", "redis://"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("log holds %q:\n%s", secret, logs)
				}
			}
		})
	}
}

// TestRedisConfigValidRefusedByNothing: whatever configuration validation
// accepts for the Redis store, New accepts too (`config validate` refuses
// what serve would refuse), in every mode.
func TestRedisConfigValidRefusedByNothing(t *testing.T) {
	urls := []string{
		"redis://:pw@127.0.0.1:1/0", "redis://127.0.0.1:1/3", "rediss://u:pw@127.0.0.1:1", "unix:///tmp/x.sock",
		"redis://127.0.0.1:1?addr=127.0.0.1:2&addr=127.0.0.1:3", "redis://127.0.0.1:1/0?addr=127.0.0.1:2",
		"redis://127.0.0.1:1/1", "redis://127.0.0.1:1?db=1", "redis://127.0.0.1:1?read_only=true",
		"redis://127.0.0.1:1?master_name=m", "redis://127.0.0.1:1?password=x", "redis://127.0.0.1:1?replica_only=true",
		"redis://127.0.0.1:1?dial_timeout=3s", "redis://127.0.0.1:1?max_redirects=2", "redis://127.0.0.1:1?addr=bad",
		"redis://127.0.0.1:1?route_randomly=false",
	}
	for _, mode := range []string{"standalone", "cluster", "sentinel"} {
		for _, u := range urls {
			env := []string{"STORE_TYPE=redis", "STORE_REDIS_MODE=" + mode, "STORE_REDIS_URL=" + u}
			if mode == "sentinel" {
				env = append(env, "STORE_REDIS_SENTINEL_MASTER=m")
			}
			base := []string{"DEV_DATA_DIR=" + t.TempDir(), "KRATOS_ADMIN_URL=http://127.0.0.1:1", "KRATOS_PUBLIC_URL=http://127.0.0.1:1"}
			cfg, _, err := config.Load("", append(base, env...), true)
			if err != nil {
				continue // refused by validation: serve never gets it
			}
			if _, err := newQuiet(t, cfg); err != nil {
				t.Errorf("mode %s, URL %s: valid, but New refuses it: %v", mode, u, err)
			}
		}
	}
}

// eventually polls ok for up to 15 s.
func eventually(ok func() bool) bool {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return false
}

// newQuiet is New with the log discarded.
func newQuiet(t *testing.T, cfg *config.Config) (*App, error) {
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Cleanup(func() { _ = a.Close() })
	}
	return a, err
}

// TestRedisTLSServe: store.redis.tls_* reach the client in every mode: a
// standalone server, a sentinel setup (the sentinels named localhost, the
// master announced as 127.0.0.1) and a cluster, all on TLS only with
// client certificates required, are ready. A CA that did not sign the
// server's certificate, or no client certificate, fails closed:
// /health/ready 503, the reason logged with the keys to check, never the
// URL's password.
func TestRedisTLSServe(t *testing.T) {
	ca := testenv.NewTLSCA(t)
	r := testenv.StartRedisTLS(t, ca, nil, "--requirepass", "data-pw-5b1e")
	rs := testenv.StartRedisSentinelsTLS(t, "cpk", testenv.SentinelAuth{Data: "data-pw-5b1e"}, 1, 1,
		testenv.SentinelTLS{CA: ca, SentinelNames: []string{"localhost"}})
	cl := testenv.StartRedisClusterTLS(t, 3, ca)
	files := []string{"STORE_REDIS_TLS_CA_FILE=" + ca.File, "STORE_REDIS_TLS_CERT_FILE=" + ca.Client.CertFile, "STORE_REDIS_TLS_KEY_FILE=" + ca.Client.KeyFile}
	standalone := "STORE_REDIS_URL=rediss://:data-pw-5b1e@" + r.DialAddr() + "/0"
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"standalone", []string{standalone}},
		{"sentinel", []string{"STORE_REDIS_MODE=sentinel", "STORE_REDIS_URL=" + rs.URL(), "STORE_REDIS_SENTINEL_MASTER=cpk"}},
		{"cluster", []string{"STORE_REDIS_MODE=cluster", "STORE_REDIS_URL=" + cl.URL()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := logApp(t, append(append([]string{"STORE_TYPE=redis"}, tt.env...), files...)...)
			if code, body := get(t, a.Handler(), "/health/ready"); code != http.StatusOK {
				t.Fatalf("ready: %d %s\n%s", code, body, logs)
			}
		})
	}
	other := testenv.NewTLSCA(t)
	expired := ca.IssueExpired("callpass-kratos-client")
	for _, tt := range []struct {
		name string
		env  []string
		want string // in the readiness line: the reason and the hint
		not  string // nowhere in the log
	}{
		// A private CA and no store.redis.tls_ca_file: the system's CAs
		// are used, and setting the key takes a restart (the file is
		// read again when it changes, but only once it is set).
		{"no CA file", files[1:], "certificate signed by unknown authority (check store.redis.tls_ca_file: it is not set, so the system's CAs are used", "no restart needed"},
		{"another CA", []string{"STORE_REDIS_TLS_CA_FILE=" + other.File, files[1], files[2]},
			"certificate signed by unknown authority (check store.redis.tls_ca_file", ""},
		{"no client certificate", files[:1], "certificate required (Redis refused the client certificate: check store.redis.tls_cert_file", ""},
		{"expired client certificate", []string{files[0], "STORE_REDIS_TLS_CERT_FILE=" + expired.CertFile, "STORE_REDIS_TLS_KEY_FILE=" + expired.KeyFile},
			"expired certificate (Redis refused the client certificate: check store.redis.tls_cert_file and store.redis.tls_key_file (expired: renew the files; the next connection reads them, no restart needed))", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := logApp(t, append([]string{"STORE_TYPE=redis", standalone}, tt.env...)...)
			if code, body := get(t, a.Handler(), "/health/ready"); code != http.StatusServiceUnavailable {
				t.Fatalf("ready: %d %s", code, body)
			}
			if !strings.Contains(logs.String(), tt.want) {
				t.Errorf("no line says %q:\n%s", tt.want, logs)
			}
			if tt.not != "" && strings.Contains(logs.String(), tt.not) {
				t.Errorf("a line says %q:\n%s", tt.not, logs)
			}
			if strings.Contains(logs.String(), "data-pw-5b1e") {
				t.Errorf("a log line holds the password:\n%s", logs)
			}
		})
	}
}

// TestRedisTLSKeyFileModeWarned: a Redis client key readable by its group or
// others is warned about at start, as the JWT key file is.
func TestRedisTLSKeyFileModeWarned(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	ca := testenv.NewTLSCA(t)
	r := testenv.StartRedisTLS(t, ca, nil)
	key, err := os.ReadFile(ca.Client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		mode os.FileMode
		warn bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o644, true},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "client.key")
			if err := os.WriteFile(path, key, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			a, logs := logApp(t, "STORE_TYPE=redis", "STORE_REDIS_URL=rediss://"+r.DialAddr()+"/0",
				"STORE_REDIS_TLS_CA_FILE="+ca.File, "STORE_REDIS_TLS_CERT_FILE="+ca.Client.CertFile, "STORE_REDIS_TLS_KEY_FILE="+path)
			if code, body := get(t, a.Handler(), "/health/ready"); code != http.StatusOK {
				t.Fatalf("ready: %d %s\n%s", code, body, logs)
			}
			got := strings.Contains(logs.String(), "store.redis.tls_key_file is readable by group or others")
			if got != tt.warn {
				t.Errorf("warning %v, want %v; log:\n%s", got, tt.warn, logs)
			}
			if tt.warn && !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("not a warning:\n%s", logs)
			}
		})
	}
}
