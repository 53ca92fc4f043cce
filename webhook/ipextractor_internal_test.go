package webhook

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestIPExtractor pins whose address a request is logged and limited by:
// the peer unless a configured proxy vouches for another one, and a client
// IP header only when it holds an address.
func TestIPExtractor(t *testing.T) {
	_, doc, err := net.ParseCIDR("192.0.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	trusted := []*net.IPNet{doc}
	const cf = "CF-Connecting-IP"
	tests := []struct {
		name    string
		trusted []*net.IPNet
		header  string // ClientIPHeader
		peer    string
		hdr     map[string]string
		want    string
	}{
		// No trusted proxies: X-Forwarded-For is anyone's to write, even
		// from a private or a loopback peer.
		{"no proxies, private peer", nil, "", "10.0.0.5:1", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "10.0.0.5"},
		{"no proxies, loopback peer", nil, "", "127.0.0.1:1", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "127.0.0.1"},
		{"no proxies, public peer", nil, "", "198.51.100.9:1", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "198.51.100.9"},
		// Trusted proxies: only those ranges, not every private address.
		{"private peer not among proxies", trusted, "", "10.0.0.5:1", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "10.0.0.5"},
		{"loopback peer not among proxies", trusted, "", "127.0.0.1:1", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "127.0.0.1"},
		{"trusted proxy", trusted, "", "192.0.2.7:1", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "1.2.3.4"},
		{"trusted proxy, private hop not believed", trusted, "", "192.0.2.7:1", map[string]string{"X-Forwarded-For": "1.2.3.4, 10.0.0.9"}, "10.0.0.9"},
		// A client IP header is believed when it holds an address.
		{"header", nil, cf, "10.0.0.5:1", map[string]string{cf: "1.2.3.4", "X-Forwarded-For": "5.6.7.8"}, "1.2.3.4"},
		{"header, spaces", nil, cf, "10.0.0.5:1", map[string]string{cf: " 1.2.3.4 "}, "1.2.3.4"},
		{"header, IPv6 normalised", nil, cf, "10.0.0.5:1", map[string]string{cf: "2001:DB8::0001"}, "2001:db8::1"},
		{"header wins over proxies", trusted, cf, "192.0.2.7:1", map[string]string{cf: "1.2.3.4", "X-Forwarded-For": "5.6.7.8"}, "1.2.3.4"},
		{"header not an address", nil, cf, "10.0.0.5:1", map[string]string{cf: "evil"}, "10.0.0.5"},
		{"header a list", nil, cf, "10.0.0.5:1", map[string]string{cf: "x, 1.2.3.4"}, "10.0.0.5"},
		{"header markup", nil, cf, "10.0.0.5:1", map[string]string{cf: "<script>"}, "10.0.0.5"},
		{"header missing", nil, cf, "10.0.0.5:1", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "10.0.0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.peer
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			if got := ipExtractor(tt.trusted, tt.header)(req); got != tt.want {
				t.Errorf("ipExtractor(%v, %q) on peer %s, headers %v = %q, want %q", tt.trusted, tt.header, tt.peer, tt.hdr, got, tt.want)
			}
		})
	}
}
