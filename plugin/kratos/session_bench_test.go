package kratos

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// recordedWhoami is a whoami answer recorded from Kratos v1.3.1
// (testdata/whoami_v1.3.1.json).
func recordedWhoami(tb testing.TB) []byte {
	tb.Helper()
	return readTestdata(tb, "whoami_v1.3.1.json")
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// cannedTransport answers every request with the same 200 body without
// touching the network, so a benchmark measures only the client side.
type cannedTransport struct {
	body   []byte
	header http.Header
}

func (t *cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: t.header, Body: io.NopCloser(bytes.NewReader(t.body)),
		ContentLength: int64(len(t.body)), Request: r,
	}, nil
}

// BenchmarkSession resolves a session token against a recorded Kratos
// v1.3.1 whoami answer: "inmem" through a canned transport (client-side
// cost only), "httptest" through a real loopback HTTP server (both sides of
// the connection in this process).
func BenchmarkSession(b *testing.B) {
	body := recordedWhoami(b)
	header := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	run := func(b *testing.B, c *Client) {
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			s, err := c.Session(ctx, "", "ory_st_0123456789abcdefghijklmnopqrstuv")
			if err != nil || s.IdentityID == "" {
				b.Fatalf("%v %+v", err, s)
			}
		}
	}
	b.Run("inmem", func(b *testing.B) {
		c, err := New(Config{PublicURL: "http://kratos.invalid", AdminURL: "http://kratos.invalid",
			HTTPClient: &http.Client{Transport: &cannedTransport{body: body, header: header}}})
		if err != nil {
			b.Fatal(err)
		}
		run(b, c)
	})
	b.Run("httptest", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = header["Content-Type"]
			_, _ = w.Write(body)
		}))
		defer srv.Close()
		c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
		if err != nil {
			b.Fatal(err)
		}
		run(b, c)
	})
}

// BenchmarkSessionDecode measures decoding the recorded whoami answer alone.
func BenchmarkSessionDecode(b *testing.B) {
	body := recordedWhoami(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeWhoami(body); err != nil {
			b.Fatal(err)
		}
	}
}
