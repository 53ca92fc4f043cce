package jwt

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPublicJWKSHasNoPrivateMembers(t *testing.T) {
	keys := []*Key{mustKey(t, AlgES256), mustKey(t, AlgEdDSA), mustKey(t, AlgRS256)}
	ks := mustKeySet(t, keys...)
	doc, err := ks.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 3 {
		t.Fatalf("%d keys", len(set.Keys))
	}
	wantMembers := map[string][]string{
		"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
		"RSA": {"alg", "e", "kid", "kty", "n", "use"},
	}
	for i, m := range set.Keys {
		for _, f := range privateMembers {
			if _, ok := m[f]; ok {
				t.Errorf("key %d has private member %q", i, f)
			}
		}
		var names []string
		for n := range m {
			names = append(names, n)
		}
		slices.Sort(names)
		if want := wantMembers[m["kty"].(string)]; !slices.Equal(names, want) {
			t.Errorf("key %d members %v, want %v", i, names, want)
		}
		if m["use"] != "sig" || m["kid"] != keys[i].KID() || m["alg"] != keys[i].Algorithm() {
			t.Errorf("key %d: %v", i, m)
		}
	}
	for _, k := range keys {
		for _, s := range privateStrings(t, k) {
			if strings.Contains(string(doc), s) {
				t.Fatalf("JWKS contains private material of %v", k)
			}
		}
	}
}

func TestJWKSHandlerCaching(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgES256))
	srv := httptest.NewServer(JWKSHandler(ks, 5*time.Minute))
	defer srv.Close()
	get := func(method, inm string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	first := get(http.MethodGet, "")
	body, _ := io.ReadAll(first.Body)
	etag := first.Header.Get("ETag")
	if first.StatusCode != 200 || first.Header.Get("Cache-Control") != "public, max-age=300" ||
		first.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("first response %d %v", first.StatusCode, first.Header)
	}
	doc, _ := ks.PublicJWKS()
	if string(body) != string(doc) {
		t.Fatal("body differs from PublicJWKS")
	}

	tests := []struct {
		name   string
		method string
		inm    string
		want   int
	}{
		{"matching etag", http.MethodGet, etag, http.StatusNotModified},
		{"weak form matches", http.MethodGet, "W/" + etag, http.StatusNotModified},
		{"list", http.MethodGet, `"x", ` + etag, http.StatusNotModified},
		{"star", http.MethodGet, "*", http.StatusNotModified},
		{"other etag", http.MethodGet, `"nope"`, http.StatusOK},
		{"head", http.MethodHead, "", http.StatusOK},
		{"post", http.MethodPost, "", http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		if got := get(tc.method, tc.inm).StatusCode; got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}

	// A rotation changes the document and so the ETag.
	if err := ks.Add(mustKey(t, AlgEdDSA)); err != nil {
		t.Fatal(err)
	}
	after := get(http.MethodGet, etag)
	if after.StatusCode != 200 || after.Header.Get("ETag") == etag {
		t.Fatalf("after adding a key: %d etag %s", after.StatusCode, after.Header.Get("ETag"))
	}
}

func TestDiscovery(t *testing.T) {
	ks := mustKeySet(t, mustKey(t, AlgEdDSA), mustKey(t, AlgES256))
	srv := httptest.NewServer(DiscoveryHandler(testIss, testIss+JWKSPath, ks, time.Hour, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != testIss || doc["jwks_uri"] != testIss+JWKSPath {
		t.Fatalf("doc %v", doc)
	}
	algs, _ := json.Marshal(doc["id_token_signing_alg_values_supported"])
	if string(algs) != `["EdDSA","ES256"]` {
		t.Fatalf("algs %s", algs)
	}
	for _, f := range []string{"response_types_supported", "subject_types_supported", "claims_supported"} {
		if l, ok := doc[f].([]any); !ok || len(l) == 0 {
			t.Errorf("%s missing", f)
		}
	}
	if resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("headers %v", resp.Header)
	}
}

// TestPackageListsAreCopies: ClaimsSupported and DefaultAlgorithms hand out
// copies, so an importing package that changes one changes neither the next
// call nor the discovery document nor a verifier's default allow-list.
func TestPackageListsAreCopies(t *testing.T) {
	wantClaims := ClaimsSupported()
	claims := ClaimsSupported()
	claims[0] = "evil"
	_ = append(claims[:1], "evil2") // writes into spare capacity, if any
	if got := ClaimsSupported(); !slices.Equal(got, wantClaims) || got[0] != "iss" {
		t.Fatalf("ClaimsSupported after a caller changed its copy: %v", got)
	}
	var doc struct {
		Claims []string `json:"claims_supported"`
	}
	if err := json.Unmarshal(Discovery(testIss, testIss+JWKSPath, []string{AlgES256}), &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.Claims, wantClaims) {
		t.Fatalf("discovery claims_supported %v, want %v", doc.Claims, wantClaims)
	}

	algs := DefaultAlgorithms()
	if !slices.Equal(algs, []string{AlgES256, AlgEdDSA, AlgRS256}) {
		t.Fatalf("DefaultAlgorithms %v", algs)
	}
	algs[0] = "HS256"
	if got := DefaultAlgorithms(); got[0] != AlgES256 {
		t.Fatalf("DefaultAlgorithms after a caller changed its copy: %v", got)
	}
	// A verifier without Algorithms still gets the real default (HS256 in
	// it would be refused at construction).
	mustVerifier(t, testIss+JWKSPath, nil)
}
