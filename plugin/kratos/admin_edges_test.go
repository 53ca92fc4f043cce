package kratos

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// adminIdentity is a GET /admin/identities/{id} answer kratos-client-go
// accepts, with the given metadata_public and metadata_admin members.
func adminIdentity(id, metaPublic, metaAdmin string) string {
	return `{"id":"` + id + `","schema_id":"default","schema_url":"http://k/schemas/ZGVmYXVsdA",` +
		`"traits":{"phone":"+79161234567"},"metadata_public":` + metaPublic + `,"metadata_admin":` + metaAdmin + `}`
}

// patchRecorder is a fake admin API: GET answers ident, PATCH records its
// body and answers 200 with ident.
type patchRecorder struct {
	ident string
	mu    sync.Mutex
	patch []map[string]any
	n     int
}

func (p *patchRecorder) serve(t *testing.T) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPatch {
			b, _ := io.ReadAll(r.Body)
			p.mu.Lock()
			p.n++
			if err := json.Unmarshal(b, &p.patch); err != nil {
				t.Errorf("patch body %s: %v", b, err)
			}
			p.mu.Unlock()
		}
		_, _ = w.Write([]byte(p.ident))
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMarkPhoneVerifiedPatchMerges: with metadata_public already an object,
// the patch adds the two members (op "add", which creates or replaces a
// member, not "replace", which fails on a missing one) and never writes the
// whole object, which would drop the other keys; with it null the whole
// object is created. The time is written in UTC.
func TestMarkPhoneVerifiedPatchMerges(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.FixedZone("MSK", 3*3600))
	const stamp = "2026-11-25T09:00:00Z"

	t.Run("existing object", func(t *testing.T) {
		p := &patchRecorder{ident: adminIdentity("id-1", `{"plan":"gold"}`, `null`)}
		c := p.serve(t)
		if err := c.MarkPhoneVerified(context.Background(), "id-1", "+79031234567", at); err != nil {
			t.Fatal(err)
		}
		want := []map[string]any{
			{"op": "add", "path": "/metadata_public/" + MetaPhoneVerifiedAt, "value": stamp},
			{"op": "add", "path": "/metadata_public/" + MetaPhoneVerifiedNumber, "value": "+79031234567"},
		}
		if len(p.patch) != len(want) {
			t.Fatalf("patch %v, want %v", p.patch, want)
		}
		for i := range want {
			for k, v := range want[i] {
				if p.patch[i][k] != v {
					t.Fatalf("patch op %d %v, want %v (whole patch %v)", i, p.patch[i], want[i], p.patch)
				}
			}
		}
	})

	t.Run("null object", func(t *testing.T) {
		p := &patchRecorder{ident: adminIdentity("id-2", `null`, `null`)}
		c := p.serve(t)
		if err := c.MarkPhoneVerified(context.Background(), "id-2", "+79161234567", at); err != nil {
			t.Fatal(err)
		}
		if len(p.patch) != 1 || p.patch[0]["op"] != "add" || p.patch[0]["path"] != "/metadata_public" {
			t.Fatalf("patch %v, want one add of /metadata_public", p.patch)
		}
		v, _ := p.patch[0]["value"].(map[string]any)
		if len(v) != 2 || v[MetaPhoneVerifiedAt] != stamp || v[MetaPhoneVerifiedNumber] != "+79161234567" {
			t.Fatalf("value %v", p.patch[0]["value"])
		}
	})
}

// TestMarkPhoneVerifiedEmptyNumber: an empty number is refused before any
// request: nothing is read or written.
func TestMarkPhoneVerifiedEmptyNumber(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(adminIdentity("id-1", `null`, `null`)))
	}))
	defer srv.Close()
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MarkPhoneVerified(context.Background(), "id-1", "", time.Now()); err == nil {
		t.Fatal("an empty phone number was recorded")
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d requests for an empty phone number, want 0", n)
	}
}

// TestMarkPhoneVerifiedPatchTimeout: the PATCH is bounded by Timeout like
// the GET before it, so a Kratos that hangs on the write does not hold the
// caller.
func TestMarkPhoneVerifiedPatchTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			_, _ = io.Copy(io.Discard, r.Body) // then the server notices the client leave
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(adminIdentity("id-1", `null`, `null`)))
	}))
	defer srv.Close()
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.MarkPhoneVerified(context.Background(), "id-1", "+79161234567", time.Now())
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("MarkPhoneVerified took %s with a 200ms Timeout", d)
	}
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want unavailable (deadline exceeded)", err)
	}
}

// TestReadyFailureIsUnavailable: any failed readiness answer, not only a
// 5xx, is ErrUnavailable (with its status code kept).
func TestReadyFailureIsUnavailable(t *testing.T) {
	for _, status := range []int{400, 401, 404} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":{"code":0}}`))
		}))
		c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Ready(context.Background())
		srv.Close()
		var ke *Error
		if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ke) || ke.StatusCode != status {
			t.Errorf("Ready with HTTP %d: %v, want ErrUnavailable with the status", status, err)
		}
		for _, other := range []error{ErrIdentityNotFound, ErrNoSession, ErrUnexpected} {
			if errors.Is(err, other) {
				t.Errorf("Ready with HTTP %d: %v is also %v", status, err, other)
			}
		}
	}
}

// TestIdentityMetadataMustBeObjects: metadata_admin (like traits and
// metadata_public) must be an object or null; anything else is an
// unexpected answer, not an identity with its metadata silently dropped.
func TestIdentityMetadataMustBeObjects(t *testing.T) {
	tests := []struct {
		name, public, admin string
		want                error
	}{
		{"objects", `{"a":1}`, `{"b":2}`, nil},
		{"nulls", `null`, `null`, nil},
		{"public string", `"x"`, `null`, ErrUnexpected},
		{"admin string", `null`, `"x"`, ErrUnexpected},
		{"admin array", `null`, `[1]`, ErrUnexpected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &patchRecorder{ident: adminIdentity("id-1", tt.public, tt.admin)}
			c := p.serve(t)
			ident, err := c.Identity(context.Background(), "id-1")
			if tt.want == nil {
				if err != nil || ident.ID != "id-1" {
					t.Fatalf("identity %+v, err %v", ident, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("identity %+v, err %v, want %v", ident, err, tt.want)
			}
		})
	}
}

type recordingObserver struct {
	mu  sync.Mutex
	ops []string
	err []error
}

func (o *recordingObserver) ObserveKratos(op string, err error, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops = append(o.ops, op)
	o.err = append(o.err, err)
}

// TestIdentityObservedClassified: the observer sees an unknown identity as
// ErrIdentityNotFound (so metrics do not count it as a Kratos failure) and
// a 5xx as ErrUnavailable.
func TestIdentityObservedClassified(t *testing.T) {
	for status, want := range map[int]error{404: ErrIdentityNotFound, 503: ErrUnavailable} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":{"code":0}}`))
		}))
		obs := &recordingObserver{}
		c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL, Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Identity(context.Background(), "id-1")
		srv.Close()
		if !errors.Is(err, want) {
			t.Fatalf("HTTP %d: err %v, want %v", status, err, want)
		}
		if len(obs.ops) != 1 || obs.ops[0] != "get_identity" || !errors.Is(obs.err[0], want) {
			t.Fatalf("HTTP %d: observed %v %v, want get_identity with %v", status, obs.ops, obs.err, want)
		}
	}
}

// TestWhoamiAALLevels: aal0 to aal3 and an absent level are accepted; an
// unknown level is an error.
func TestWhoamiAALLevels(t *testing.T) {
	for _, aal := range []string{"", "aal0", "aal1", "aal2", "aal3"} {
		body := strings.Replace(minimal(`{"id":"i","traits":{}}`), `"aal1"`, `"`+aal+`"`, 1)
		s, err := decodeWhoami([]byte(body))
		if err != nil || s.AAL != aal {
			t.Errorf("AAL %q: session %+v, err %v", aal, s, err)
		}
	}
	for _, aal := range []string{"aal4", "AAL1", "aal", "1"} {
		body := strings.Replace(minimal(`{"id":"i","traits":{}}`), `"aal1"`, `"`+aal+`"`, 1)
		if s, err := decodeWhoami([]byte(body)); err == nil {
			t.Errorf("AAL %q accepted: %+v", aal, s)
		}
	}
}

// TestReadyWantsKratosAnswer: readiness passes only on Kratos's answer,
// {"status":"ok"} with a 2xx, on /admin/health/ready or, where that is not
// found, on /health/ready. The fallback took any 2xx: behind a gateway,
// whose own /health/ready (or a catch-all page) answers 200, the service
// read a Kratos it could not reach as ready. A refusal says why.
func TestReadyWantsKratosAnswer(t *testing.T) {
	const kratosOK = `{"status":"ok"}`
	for _, tt := range []struct {
		name          string
		primary       int // status of /admin/health/ready; 404: ask /health/ready
		status        int
		ctype, body   string
		ok            bool
		reasonContain string
	}{
		{"admin path, Kratos's answer", 200, 200, "application/json; charset=utf-8", kratosOK, true, ""},
		{"fallback, Kratos's answer", 404, 200, "application/json; charset=utf-8", kratosOK + "\n", true, ""},
		{"fallback, a gateway's page", 404, 200, "text/html", "<html>OK</html>", false, `"text/html"`},
		{"fallback, plain OK", 404, 200, "text/plain", "OK", false, "/health/ready answered 200 OK"},
		{"fallback, empty 204", 404, 204, "", "", false, "204"},
		{"fallback, another status", 404, 200, "application/json", `{"status":"degraded"}`, false, `{"status":"ok"}`},
		{"fallback, not an object", 404, 200, "application/json", `"ok"`, false, "kratos.admin_url"},
		{"admin path, a gateway's page", 200, 200, "text/html", "ready", false, "/admin/health/ready answered 200"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/admin/health/ready" && tt.primary == http.StatusNotFound {
					http.NotFound(w, r)
					return
				}
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Ready(context.Background())
			if tt.ok {
				if err != nil {
					t.Fatalf("Ready: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tt.reasonContain) {
				t.Fatalf("Ready: %v, want ErrUnavailable saying %s", err, tt.reasonContain)
			}
		})
	}
}
