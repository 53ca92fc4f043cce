package jwt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestJWKSMembersFollowRFC7518 reads the served JWKS as a foreign app does
// and checks every key against RFC 7517/7518/8037: exactly the public
// members of its kty plus kid, alg and use "sig" (Oathkeeper only takes keys
// whose use is "sig"), base64url without padding, EC coordinates at the
// curve's full 32 octets even when they start with a zero octet (RFC 7518
// 6.2.1.2; go-jose refuses shorter ones), RSA n and e in their minimal
// octets (6.3.1), no private member; also for keys loaded from a JWK file
// that names neither use nor alg, and for a published-only PEM key.
func TestJWKSMembersFollowRFC7518(t *testing.T) {
	var ecZero *ecdsa.PrivateKey // an EC key with a coordinate below 2^248
	for i := 0; i < 20000 && ecZero == nil; i++ {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := k.PublicKey.Bytes()
		if raw[1] == 0 || raw[33] == 0 {
			ecZero = k
		}
	}
	if ecZero == nil {
		t.Fatal("no EC key with a leading zero octet in 20000 tries")
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, MinRSABits)
	if err != nil {
		t.Fatal(err)
	}
	// A key file as another tool writes it: private JWKs without use or alg.
	var file jose.JSONWebKeySet
	for _, k := range []any{ecZero, edPriv, rsaPriv} {
		file.Keys = append(file.Keys, jose.JSONWebKey{Key: k, KeyID: "k" + string(rune('0'+len(file.Keys)))})
	}
	data, _ := json.Marshal(file)
	keys, err := ParseKeys(data)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&mustKey(t, AlgES256).priv.(*ecdsa.PrivateKey).PublicKey)
	pemKeys, err := ParseKeys(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"kid": "retired"}, Bytes: pubDER}))
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, pemKeys...)
	ks := mustKeySet(t, keys...)
	srv := newJWKSServer(t, ks)

	resp, err := http.Get(srv.URL + JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != len(keys) {
		t.Fatalf("%d keys published, want %d", len(set.Keys), len(keys))
	}
	members := map[string][]string{
		"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
		"RSA": {"alg", "e", "kid", "kty", "n", "use"},
	}
	wantAlg := map[string]string{"EC": AlgES256, "OKP": AlgEdDSA, "RSA": AlgRS256}
	for i, m := range set.Keys {
		kty, _ := m["kty"].(string)
		var names []string
		for n, v := range m {
			names = append(names, n)
			if _, ok := v.(string); !ok {
				t.Errorf("key %d: %s is %T, want a string", i, n, v)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, members[kty]) {
			t.Errorf("key %d (%s): members %v, want %v", i, kty, names, members[kty])
		}
		if m["use"] != "sig" || m["alg"] != wantAlg[kty] || m["kid"] != keys[i].KID() {
			t.Errorf("key %d: use %v alg %v kid %v, want sig %s %s", i, m["use"], m["alg"], m["kid"], wantAlg[kty], keys[i].KID())
		}
		b64url := func(name string) []byte {
			s, _ := m[name].(string)
			if strings.ContainsAny(s, "=+/") {
				t.Errorf("key %d: %s %q is not base64url without padding", i, name, s)
			}
			b, err := b64.Strict().DecodeString(s)
			if err != nil {
				t.Errorf("key %d: %s: %v", i, name, err)
			}
			return b
		}
		switch pub := keys[i].Public().(type) {
		case *ecdsa.PublicKey:
			x, y := b64url("x"), b64url("y")
			if m["crv"] != "P-256" || len(x) != 32 || len(y) != 32 {
				t.Errorf("key %d: crv %v, x %d octets, y %d octets, want P-256 and 32", i, m["crv"], len(x), len(y))
			}
			raw, _ := pub.Bytes()
			if !bytes.Equal(x, raw[1:33]) || !bytes.Equal(y, raw[33:]) {
				t.Errorf("key %d: x, y are not the key's point", i)
			}
		case ed25519.PublicKey:
			if x := b64url("x"); m["crv"] != "Ed25519" || !bytes.Equal(x, pub) {
				t.Errorf("key %d: crv %v, x is not the key", i, m["crv"])
			}
		case *rsa.PublicKey:
			n, e := b64url("n"), b64url("e")
			if len(n) == 0 || n[0] == 0 || new(big.Int).SetBytes(n).Cmp(pub.N) != 0 {
				t.Errorf("key %d: n is not the modulus in minimal octets", i)
			}
			if m["e"] != "AQAB" || len(e) == 0 || e[0] == 0 {
				t.Errorf("key %d: e %v, want AQAB", i, m["e"])
			}
		}
		for _, f := range privateMembers {
			if _, ok := m[f]; ok {
				t.Errorf("key %d has private member %q", i, f)
			}
		}
	}
	// go-jose, which Oathkeeper reads JWKS with, takes every key as public.
	var parsed jose.JSONWebKeySet
	doc, _ := ks.PublicJWKS()
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatalf("go-jose: %v", err)
	}
	for i, k := range parsed.Keys {
		if !k.IsPublic() || !k.Valid() || k.Use != "sig" {
			t.Errorf("go-jose key %d: public %v valid %v use %q", i, k.IsPublic(), k.Valid(), k.Use)
		}
	}
}
