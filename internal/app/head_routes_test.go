package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHeadAsGet: the documents apps and probes read (JWKS, discovery, health,
// metrics) answer HEAD as GET, without the body. Caches and load balancers
// send HEAD to check a document or a backend; a 405 made a healthy service
// look down and a JWKS look missing.
func TestHeadAsGet(t *testing.T) {
	a := devApp(t)
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration", "/health/alive", "/health/ready", "/metrics"} {
		t.Run(path, func(t *testing.T) {
			g := httptest.NewRecorder()
			a.Handler().ServeHTTP(g, httptest.NewRequest(http.MethodGet, path, nil))
			h := httptest.NewRecorder()
			a.Handler().ServeHTTP(h, httptest.NewRequest(http.MethodHead, path, nil))
			if h.Code != g.Code {
				t.Fatalf("HEAD %s: %d, GET: %d", path, h.Code, g.Code)
			}
			if gt, ht := g.Header().Get("Content-Type"), h.Header().Get("Content-Type"); gt != ht {
				t.Errorf("HEAD %s: Content-Type %q, GET: %q", path, ht, gt)
			}
			if g.Body.Len() == 0 {
				t.Errorf("GET %s: empty body", path)
			}
		})
	}
}
