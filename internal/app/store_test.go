package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// logApp is devApp with its log written to the returned buffer.
func logApp(t *testing.T, env ...string) (*App, *bytes.Buffer) {
	t.Helper()
	base := []string{"DEV_DATA_DIR=" + t.TempDir(), "KRATOS_ADMIN_URL=http://127.0.0.1:1", "KRATOS_PUBLIC_URL=http://127.0.0.1:1"}
	cfg, _, err := config.Load("", append(base, env...), true)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, &logs
}

// TestRedisReadiness: with the Redis store, /health/ready reports the store
// as checks.store, as with the memory store (docs/operations.md); a password
// Redis refuses is logged at ERROR with a hint to store.redis.url's
// password, never with the URL or the password.
func TestRedisReadiness(t *testing.T) {
	r := testenv.StartRedis(t)
	const password = "right-pass-7f3a"
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	if err := rdb.ConfigSet(context.Background(), "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	_ = rdb.Close()
	tests := []struct {
		name      string
		url       string
		wantCode  int
		wantStore string
		authError bool
	}{
		{"right password", "redis://:" + password + "@" + r.Addr + "/0", http.StatusOK, "ok", false},
		{"wrong password (WRONGPASS)", "redis://:wrong-pass-9c1d@" + r.Addr + "/0", http.StatusServiceUnavailable, "error", true},
		{"no password (NOAUTH)", "redis://" + r.Addr + "/0", http.StatusServiceUnavailable, "error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := logApp(t, "STORE_TYPE=redis", "STORE_REDIS_URL="+tt.url)
			code, body := get(t, a.Handler(), "/health/ready")
			var res struct {
				Checks map[string]struct{ Status string }
			}
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || res.Checks["store"].Status != tt.wantStore {
				t.Errorf("ready: %d %s; want %d with checks.store %s", code, body, tt.wantCode, tt.wantStore)
			}
			if _, ok := res.Checks["redis"]; ok {
				t.Errorf("ready names the check redis, not store: %s", body)
			}
			var errLine string
			for _, ln := range strings.Split(logs.String(), "\n") {
				if strings.Contains(ln, "level=ERROR") {
					errLine = ln
				}
			}
			if tt.authError != strings.Contains(errLine, "check store.redis.url's password") {
				t.Errorf("ERROR line with the password hint: %v, want %v; log:\n%s", errLine != "", tt.authError, logs)
			}
			for _, secret := range []string{password, "wrong-pass-9c1d", "redis://"} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("log holds %q:\n%s", secret, logs)
				}
			}
		})
	}
}

// TestWarnsWhenKeyFileIsReadableByOthers: the key file holds the private
// signing key; group or world read access is logged at start-up.
func TestWarnsWhenKeyFileIsReadableByOthers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	k, err := jwt.GenerateKey(jwt.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode os.FileMode
		warn bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o604, true},
		{0o644, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := jwt.WriteKeyFile(path, k); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, logs := logApp(t, "JWT_KEYS_FILE="+path)
			got := strings.Contains(logs.String(), "jwt.keys_file is readable by group or others")
			if got != tt.warn {
				t.Errorf("warning %v, want %v; log:\n%s", got, tt.warn, logs)
			}
			if tt.warn && !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("not a warning:\n%s", logs)
			}
		})
	}
}

// TestRedisServerInspected: a Redis in cluster mode (which the store's
// client does not speak) fails readiness with the reason, and an eviction
// policy that may drop limits and bans is logged as a warning, once per
// inspection; a plain Redis gets neither.
func TestRedisServerInspected(t *testing.T) {
	plain := testenv.StartRedis(t)
	evicting := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: evicting.Addr})
	for _, kv := range [][2]string{{"maxmemory", "64mb"}, {"maxmemory-policy", "volatile-lru"}} {
		if err := rdb.ConfigSet(context.Background(), kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_ = rdb.Close()
	cluster := testenv.StartRedisWith(t, "--cluster-enabled", "yes")
	tests := []struct {
		name     string
		addr     string
		wantCode int
		logLine  string // "" = no ERROR or WARN line about Redis
	}{
		{"plain", plain.Addr, http.StatusOK, ""},
		{"evicting", evicting.Addr, http.StatusOK, "maxmemory-policy volatile-lru"},
		{"cluster", cluster.Addr, http.StatusServiceUnavailable, "cluster mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, logs := logApp(t, "STORE_TYPE=redis", "STORE_REDIS_URL=redis://"+tt.addr+"/0")
			for range 2 {
				if code, body := get(t, a.Handler(), "/health/ready"); code != tt.wantCode {
					t.Fatalf("ready: %d %s, want %d", code, body, tt.wantCode)
				}
			}
			var lines []string
			for _, ln := range strings.Split(logs.String(), "\n") {
				// (The readiness handler's own line about a failed check is
				// not the inspection's.)
				if strings.Contains(ln, "Redis") && !strings.Contains(ln, `msg="readiness check failed"`) &&
					(strings.Contains(ln, "level=WARN") || strings.Contains(ln, "level=ERROR")) {
					lines = append(lines, ln)
				}
			}
			switch {
			case tt.logLine == "" && len(lines) > 0:
				t.Errorf("unexpected lines about Redis:\n%s", strings.Join(lines, "\n"))
			case tt.logLine != "" && (len(lines) != 1 || !strings.Contains(lines[0], tt.logLine)):
				t.Errorf("want one line naming %q after two readiness checks, got:\n%s\nlog:\n%s", tt.logLine, strings.Join(lines, "\n"), logs)
			}
		})
	}
}
