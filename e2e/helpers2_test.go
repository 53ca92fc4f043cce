package e2e_test

// Helpers for the fault and attack tests: a service without Kratos (driven
// through its webhook with fabricated flows), a raw hook client, metric
// readers and a Redis dump.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// soloOptions start one service with no Kratos behind it.
type soloOptions struct {
	// RedisAddr, when set, selects the Redis store.
	RedisAddr string
	// KratosURL is used for both Kratos URLs (default: a closed port).
	KratosURL string
	Env       []string
}

// startSolo runs one service on a real loopback listener (its built-in
// simulator is reached over HTTP like the real provider) with Kratos URLs
// that nothing needs for the webhook path.
func startSolo(t *testing.T, o soloOptions) *service {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	if o.KratosURL == "" {
		o.KratosURL = "http://" + closedAddr(t)
	}
	env := []string{
		"SERVE_LISTEN=" + ln.Addr().String(),
		"SERVE_BASE_URL=" + base,
		"KRATOS_PUBLIC_URL=" + o.KratosURL,
		"KRATOS_ADMIN_URL=" + o.KratosURL,
		"WEBHOOK_SECRET=" + webhookSecret,
		"DEV_DATA_DIR=" + t.TempDir(),
		"SIM_SETTLE_DELAY=50ms",
		"LOG_LEVEL=warn",
		"JWT_ISSUER=" + base,
	}
	if o.RedisAddr != "" {
		env = append(env, "STORE_TYPE=redis", "STORE_REDIS_URL=redis://"+o.RedisAddr+"/0")
	}
	env = append(env, o.Env...)
	return startService(t, ln, env, false, "")
}

// closedAddr is a loopback address where nothing listens, below the
// kernel's ephemeral range (testenv.FreeAddr): a port the kernel handed out
// could go to another package's listener or connection before a child
// process bound it or a test dialed it to be refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	return testenv.FreeAddr(t)
}

// hookCall is one fabricated Kratos login-hook call.
type hookCall struct {
	Path       string // default /hooks/kratos/login
	FlowID     string
	IdentityID string
	Phone      string // the phone trait as the user typed it
	Code       string
	Resend     bool
	ClientIP   string
}

// hookAnswer is the service's answer to a hook call.
type hookAnswer struct {
	Status int
	ID     int64 // Kratos message id, 0 when none
	Type   string
	Ctx    map[string]any
	Raw    []byte
}

func newID() string { return uuid.NewString() }

func (h hookCall) body() []byte {
	tp := map[string]any{}
	if h.Code != "" {
		tp["callpass_code"] = h.Code
	}
	if h.Resend {
		tp["callpass_resend"] = true
	}
	body := map[string]any{
		"flow_id":           h.FlowID,
		"flow_type":         "api",
		"identity_id":       h.IdentityID,
		"traits":            map[string]any{"email": "x@example.com", "phone": h.Phone},
		"metadata_public":   nil,
		"transient_payload": tp,
		"session":           map[string]any{"authenticated_at": nil, "aal": ""},
		"client_ip":         h.ClientIP,
		"accept_language":   "en",
	}
	if h.Path == "" || h.Path == "/hooks/kratos/login" {
		// Kratos gives only a login's hook a session.
		body["session"] = map[string]any{"authenticated_at": time.Now().UTC().Format(time.RFC3339Nano), "aal": "aal1"}
	}
	b, _ := json.Marshal(body)
	return b
}

// hookClient sends fabricated hook calls over one keep-alive client.
type hookClient struct {
	base string
	hc   *http.Client
}

func newHookClient(base string) *hookClient {
	return &hookClient{base: base, hc: &http.Client{Timeout: 30 * time.Second}}
}

// call posts h with the right secret. It returns an error instead of
// failing the test so it can run in goroutines and hot loops.
func (c *hookClient) call(h hookCall) (hookAnswer, error) {
	path := h.Path
	if path == "" {
		path = "/hooks/kratos/login"
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(h.body()))
	if err != nil {
		return hookAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+webhookSecret)
	resp, err := c.hc.Do(req)
	if err != nil {
		return hookAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return hookAnswer{}, err
	}
	a := hookAnswer{Status: resp.StatusCode, Raw: raw}
	var km struct {
		Messages []struct {
			Messages []struct {
				ID      int64          `json:"id"`
				Type    string         `json:"type"`
				Context map[string]any `json:"context"`
			} `json:"messages"`
		} `json:"messages"`
	}
	if json.Unmarshal(raw, &km) == nil && len(km.Messages) > 0 && len(km.Messages[0].Messages) > 0 {
		m := km.Messages[0].Messages[0]
		a.ID, a.Type, a.Ctx = m.ID, m.Type, m.Context
	}
	return a, nil
}

func (c *hookClient) mustCall(t *testing.T, h hookCall) hookAnswer {
	t.Helper()
	a, err := c.call(h)
	if err != nil {
		t.Fatalf("hook call: %v", err)
	}
	return a
}

// setSimScript scripts the simulator's outcome for dn ("" removes the script).
func setSimScript(t *testing.T, simURL, dn, outcome string) {
	t.Helper()
	method, body := http.MethodPut, `{"outcome":"`+outcome+`"}`
	if outcome == "" {
		method, body = http.MethodDelete, ""
	}
	req, _ := http.NewRequest(method, simURL+"/sim/scripts/"+url.PathEscape(dn), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sim script %s %s: HTTP %d", dn, outcome, resp.StatusCode)
	}
}

// metricSum adds the values of every sample of the named counter or gauge
// whose labels include all of match.
func metricSum(t *testing.T, s *service, name string, match map[string]string) float64 {
	t.Helper()
	if s.App.Metrics == nil {
		t.Fatal("metrics are disabled")
	}
	fams, err := s.App.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !labelsMatch(m, match) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func labelsMatch(m *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// redisEntry is one key of a Redis dump with every value it holds.
type redisEntry struct {
	Key    string
	Type   string
	Values []string // hash: "field=value"; string: the value; others: members
}

// dumpRedis reads every key and value of db 0.
func dumpRedis(t *testing.T, addr string) []redisEntry {
	t.Helper()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	sort.Strings(keys)
	var out []redisEntry
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		e := redisEntry{Key: k, Type: typ}
		switch typ {
		case "string":
			v, err := rdb.Get(ctx, k).Result()
			if err != nil && err != redis.Nil {
				t.Fatal(err)
			}
			e.Values = []string{v}
		case "hash":
			m, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range m {
				e.Values = append(e.Values, f+"="+v)
			}
			sort.Strings(e.Values)
		case "set":
			e.Values, err = rdb.SMembers(ctx, k).Result()
		case "zset":
			e.Values, err = rdb.ZRange(ctx, k, 0, -1).Result()
		case "list":
			e.Values, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "none": // expired between KEYS and TYPE
		default:
			t.Fatalf("key %s has type %s the dump does not read", k, typ)
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func redisDBSize(t *testing.T, addr string) int64 {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	n, err := rdb.DBSize(context.Background()).Result()
	if err != nil {
		t.Fatalf("DBSIZE: %v", err)
	}
	return n
}

func (e redisEntry) String() string {
	return fmt.Sprintf("%s (%s) %q", e.Key, e.Type, e.Values)
}

// rawRequest sends one request with full control of headers and body.
func rawRequest(t *testing.T, method, u string, body io.Reader, contentLength int64, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentLength != 0 {
		req.ContentLength = contentLength
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}
