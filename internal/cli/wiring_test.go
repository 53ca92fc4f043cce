package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// TestKeysGenerateActivateAppends: `keys generate --activate` on an existing
// key file puts the new key first, so `keys list` shows it as the signer and
// the key that signed before as published only.
func TestKeysGenerateActivateAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if code, out, errs := run(t, nil, "keys", "generate", "--out", path); code != 0 {
		t.Fatalf("keys generate: %d %q %q", code, out, errs)
	}
	first := fileKIDs(t, path)
	code, out, errs := run(t, nil, "keys", "generate", "--out", path, "--activate")
	if code != 0 || !strings.Contains(out, "it is first in the file") {
		t.Fatalf("keys generate --activate: %d %q %q", code, out, errs)
	}
	kids := fileKIDs(t, path)
	if len(kids) != 2 || kids[1] != first[0] {
		t.Fatalf("key file after --activate: %v (first key was %v)", kids, first)
	}
	newKID := kids[0]
	code, out, errs = run(t, nil, "keys", "list", "--file", path)
	if code != 0 {
		t.Fatalf("keys list: %d %q %q", code, out, errs)
	}
	var signer, published string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasSuffix(l, "signs"):
			signer = l
		case strings.HasSuffix(l, "published"):
			published = l
		}
	}
	if !strings.Contains(signer, newKID) || !strings.Contains(published, first[0]) {
		t.Errorf("keys list: want %s signing and %s published:\n%s", newKID, first[0], out)
	}
}

// serveUntilListening runs `serve` in process with vars and args until it
// logs that it listens, then stops it; it returns what serve wrote to stderr.
func serveUntilListening(t *testing.T, vars []string, args ...string) string {
	t.Helper()
	// (The log is JSON outside --dev unless log.format says otherwise.)
	return serveUntil(t, "serve did not listen", func(log string) bool {
		return strings.Contains(log, "msg=listening") || strings.Contains(log, `"msg":"listening"`)
	}, vars, args...)
}

// serveUntil runs `serve` in process with vars and args until its stderr
// satisfies seen (failing with what when it does not within 20 s), then
// stops it; it returns what serve wrote to stderr.
func serveUntil(t *testing.T, what string, seen func(string) bool, vars []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr testenv.LogBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, append([]string{"serve"}, args...), vars, &stdout, &stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for !seen(stderr.String()) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("%s:\n%s", what, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d:\n%s", code, stderr.String())
	}
	return stderr.String()
}

// TestServeWarnsOfMisspeltVariableOutsideDev: outside --dev a variable that
// looks like a misspelt configuration variable is logged as a warning
// ("configuration notice") naming it, as config validate names it.
func TestServeWarnsOfMisspeltVariableOutsideDev(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys.json")
	if code, out, errs := run(t, nil, "keys", "generate", "--out", keys); code != 0 {
		t.Fatalf("keys generate: %d %q %q", code, out, errs)
	}
	vars := []string{
		"SERVE_LISTEN=" + testenv.FreeAddr(t),
		"SIM_ENABLED=true", "SIM_TOKENS=" + testToken, "CALLPASS_TOKEN=" + testToken, "CALLPASS_BASE_URL=http://127.0.0.1:4477",
		"WEBHOOK_SECRET=a-webhook-secret-of-enough-length-0123456789", "CHALLENGE_CODE_KEY=0123456789abcdef0123456789abcdef-key",
		"JWT_KEYS_FILE=" + keys, "KRATOS_ADMIN_URL=http://127.0.0.1:1", "KRATOS_PUBLIC_URL=http://127.0.0.1:1",
		"LOG_FORMAT=text", "CALLPASS_TOKNE=x",
	}
	logs := serveUntilListening(t, vars)
	var notice string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `msg="configuration notice"`) {
			notice = l
		}
	}
	if !strings.Contains(notice, "level=WARN") || !strings.Contains(notice, "CALLPASS_TOKNE") || !strings.Contains(notice, "CALLPASS_TOKEN") {
		t.Errorf("no configuration notice naming CALLPASS_TOKNE (and CALLPASS_TOKEN):\n%s", logs)
	}
	if strings.Contains(logs, "DEV MODE") {
		t.Errorf("a serve without --dev printed the dev banner:\n%s", logs)
	}
}

// TestServeDevPrintsNotices: `serve --dev` prints its banner with what it
// filled in: the simulator, the generated secrets, the in-memory store.
func TestServeDevPrintsNotices(t *testing.T) {
	dir := t.TempDir()
	logs := serveUntilListening(t, []string{"DEV_DATA_DIR=" + dir, "SERVE_LISTEN=" + testenv.FreeAddr(t)}, "--dev")
	for _, want := range []string{
		"DEV MODE — not for production.",
		"  DEV MODE: using the built-in CallPass simulator at ",
		"  DEV MODE: generated ",
		"  DEV MODE: in-memory store; challenges and limits are lost on restart",
		"/sim/phone",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("serve --dev output lacks %q:\n%s", want, logs)
		}
	}
}

// TestHUPForgetsBans: a regulation ban the store reported is remembered in
// process; deleted from the store by hand it still refuses, until SIGHUP
// drops the remembered bans.
func TestHUPForgetsBans(t *testing.T) {
	r := testenv.StartRedis(t)
	const secret = "hup-bans-webhook-secret-0123456789abcdef"
	const identity = "0b3c2b5e-7d4f-4a57-9f3e-3f6a8f1d2c11"
	a, cfg := devAppReloadingOnHUP(t, "KRATOS_PUBLIC_URL=http://127.0.0.1:1", "KRATOS_ADMIN_URL=http://127.0.0.1:1",
		"WEBHOOK_SECRET="+secret, "STORE_TYPE=redis", "STORE_REDIS_URL=redis://"+r.Addr+"/0")

	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	ctx := context.Background()
	if _, err := redisstore.New(rdb, cfg.Store.Redis.Prefix).Fail(ctx, limit.RegulationKey(identity), time.Minute, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	// hook posts a login hook without a code and returns its message id.
	hook := func() (int64, string) {
		body, _ := json.Marshal(map[string]any{
			"flow_id": "5733f754-6db6-4b46-83b8-1d6e6cd69fbc", "flow_type": "api", "identity_id": identity,
			"traits": map[string]any{"phone": "+79001234567"}, "transient_payload": map[string]any{},
			"session": map[string]any{"authenticated_at": time.Now().UTC().Format(time.RFC3339Nano), "aal": "aal1"},
		})
		req := httptest.NewRequest(http.MethodPost, "/hooks/kratos/login", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		var km struct {
			Messages []struct {
				Messages []struct {
					ID int64 `json:"id"`
				} `json:"messages"`
			} `json:"messages"`
		}
		raw := rec.Body.String()
		if json.Unmarshal([]byte(raw), &km) != nil || len(km.Messages) == 0 || len(km.Messages[0].Messages) == 0 {
			t.Fatalf("hook answer %d %s", rec.Code, raw)
		}
		return km.Messages[0].Messages[0].ID, raw
	}
	const blocked = 4090005
	if id, raw := hook(); id != blocked {
		t.Fatalf("banned identity: %s, want message %d", raw, blocked)
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil { // the ban deleted by hand
		t.Fatal(err)
	}
	if id, raw := hook(); id != blocked {
		t.Fatalf("ban deleted from the store, before SIGHUP: %s, want the remembered ban (%d)", raw, blocked)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The signal is handled asynchronously.
	deadline := time.Now().Add(30 * time.Second)
	for {
		id, raw := hook()
		if id != blocked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP the deleted ban still refuses: %s", raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
