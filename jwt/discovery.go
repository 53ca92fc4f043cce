package jwt

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Well-known paths the service publishes.
const (
	JWKSPath      = "/.well-known/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// ClaimsSupported returns a new copy of the claims every token carries
// (mapper claims come on top), as Discovery lists them; changing it changes
// nothing else.
func ClaimsSupported() []string {
	return []string{
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "auth_time", "amr",
		"phone_number", "phone_number_verified",
	}
}

// Discovery returns a discovery document for JWT verifiers, not full OpenID
// Provider Metadata: issuer and jwks_uri, which libraries that discover keys
// from the issuer need, plus response_types, subject_types, signing
// algorithms and claims for the ones that expect them. It has no
// authorization_endpoint (which OpenID Discovery requires), because there is
// none: tokens come from the flash-call flow, not OAuth, so OIDC relying-party
// libraries cannot log users in with it.
func Discovery(issuer, jwksURI string, algs []string) []byte {
	return discovery(issuer, jwksURI, algs, ClaimsSupported())
}

func discovery(issuer, jwksURI string, algs, claims []string) []byte {
	doc := struct {
		Issuer            string   `json:"issuer"`
		JWKSURI           string   `json:"jwks_uri"`
		ResponseTypes     []string `json:"response_types_supported"`
		SubjectTypes      []string `json:"subject_types_supported"`
		IDTokenSigningAlg []string `json:"id_token_signing_alg_values_supported"`
		Claims            []string `json:"claims_supported"`
	}{issuer, jwksURI, []string{"id_token"}, []string{"public"}, algs, claims}
	b, _ := json.Marshal(doc) // strings only: cannot fail
	return b
}

// JWKSHandler serves ks.PublicJWKS with Cache-Control (public, max-age),
// a strong ETag and 304 answers to a matching If-None-Match. Content-Type is
// application/json, which every JWKS client accepts.
func JWKSHandler(ks *KeySet, maxAge time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, etag := ks.publicJWKS()
		serveCached(w, r, doc, etag, maxAge)
	})
}

// DiscoveryHandler serves Discovery(issuer, jwksURI, ks.Algorithms()) with
// the same caching headers as JWKSHandler; claims, when not nil, replace
// ClaimsSupported (an Issuer's ClaimsSupported).
func DiscoveryHandler(issuer, jwksURI string, ks *KeySet, maxAge time.Duration, claims []string) http.Handler {
	if claims == nil {
		claims = ClaimsSupported()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc := discovery(issuer, jwksURI, ks.Algorithms(), claims)
		serveCached(w, r, doc, etagOf(doc), maxAge)
	})
}

func serveCached(w http.ResponseWriter, r *http.Request, doc []byte, etag string, maxAge time.Duration) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge/time.Second)))
	h.Set("ETag", etag)
	// Public documents: browsers on other origins may read them.
	h.Set("Access-Control-Allow-Origin", "*")
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(doc)
	}
}

// etagMatch implements If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
