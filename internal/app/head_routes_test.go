package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestHeadAsGet: every GET route answers HEAD as GET (status, Content-Type,
// Content-Length, ETag, Cache-Control, Allow), without the body. Load
// balancers, uptime checkers and caches send HEAD; Echo v4 answered it 405
// on every route registered for GET alone (the step-up status, the /2fa
// page, its assets), which made a healthy service look down. The table
// must name every GET route: a new one fails here until it is listed.
func TestHeadAsGet(t *testing.T) {
	a := devApp(t)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	// Without compression: Go's client asks gzip for GET but not for HEAD.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	do := func(t *testing.T, method, path string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return res, b
	}

	_, page := do(t, http.MethodGet, "/2fa")
	css := regexp.MustCompile(`href="(/[^"]+\.css)"`).FindSubmatch(page)
	if css == nil {
		t.Fatalf("no stylesheet in the /2fa page: %s", page)
	}
	// route (as Echo names it) → a path it serves
	paths := map[string]string{
		"/health/alive":                     "/health/alive",
		"/health/ready":                     "/health/ready",
		"/metrics":                          "/metrics",
		"/.well-known/jwks.json":            "/.well-known/jwks.json",
		"/.well-known/openid-configuration": "/.well-known/openid-configuration",
		"/v1/challenges/:id":                "/v1/challenges/AAAAAAAAAAAAAAAAAAAAAA.0123456789",
		"/2fa":                              "/2fa",
		"/ui/assets/*":                      string(css[1]),
		"/api/*":                            "/api/v1/nothing",
		"/sim":                              "/sim",
		"/sim/*":                            "/sim/phone",
	}
	seen := map[string]bool{}
	for _, r := range a.Server.Echo().Routes() {
		if r.Method != http.MethodGet || seen[r.Path] {
			continue
		}
		seen[r.Path] = true
		path, ok := paths[r.Path]
		if !ok {
			t.Errorf("GET route %s is not in the table", r.Path)
			continue
		}
		t.Run(r.Path, func(t *testing.T) {
			g, body := do(t, http.MethodGet, path)
			h, hb := do(t, http.MethodHead, path)
			if h.StatusCode != g.StatusCode || h.StatusCode == http.StatusMethodNotAllowed {
				t.Fatalf("HEAD %s: %d, GET: %d", path, h.StatusCode, g.StatusCode)
			}
			for _, k := range []string{"Content-Type", "Content-Length", "ETag", "Cache-Control", "Allow"} {
				if gv, hv := g.Header.Get(k), h.Header.Get(k); gv != hv {
					t.Errorf("HEAD %s: %s %q, GET: %q", path, k, hv, gv)
				}
			}
			if len(body) == 0 && g.StatusCode != http.StatusNoContent && g.StatusCode != http.StatusNotModified {
				t.Errorf("GET %s: empty body", path)
			}
			if len(hb) != 0 {
				t.Errorf("HEAD %s: a body of %d bytes", path, len(hb))
			}
		})
	}
	for route := range paths {
		if !seen[route] {
			t.Errorf("the table names %s, which is no GET route", route)
		}
	}

	// A path without GET refuses HEAD, and its Allow names HEAD only with GET.
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodHead, "/v1/token", "OPTIONS, POST"},
		{http.MethodPost, "/health/alive", "OPTIONS, GET, HEAD"},
		{http.MethodOptions, "/health/alive", "OPTIONS, GET, HEAD"},
		{http.MethodDelete, "/2fa", "OPTIONS, GET, HEAD, POST"},
	} {
		res, _ := do(t, tt.method, tt.path)
		want := http.StatusMethodNotAllowed
		if tt.method == http.MethodOptions {
			want = http.StatusNoContent
		}
		if res.StatusCode != want || res.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d, Allow %q; want %d, %q", tt.method, tt.path, res.StatusCode, res.Header.Get("Allow"), want, tt.allow)
		}
	}

	// HEAD is counted under its own method.
	_, m := do(t, http.MethodGet, "/metrics")
	if want := `callpass_http_requests_total{code="401",method="HEAD",route="/2fa"} 1`; !strings.Contains(string(m), want) {
		t.Errorf("metrics lack %s", want)
	}
}
