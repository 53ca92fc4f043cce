package jwt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"math/big"
	"testing"
)

// TestStandardClaimsMatchMarshal: the standard claims are written byte for
// byte as json.Marshal writes them (what every token carried before),
// whatever the strings hold: markup, line and paragraph separators, quotes,
// control characters, other scripts, invalid UTF-8.
func TestStandardClaimsMatchMarshal(t *testing.T) {
	odd := []string{"", "plain", "<script>&amp;</script>", "a\u2028b\u2029c", `q"\`, "\x00\x01\t\n\x7f",
		"Привет", "emoji \U0001F600", "bad \xff\xfe utf-8", "\u00e9\u0301", "\\u003c"}
	var cases []standardClaims
	base := standardClaims{Iss: "https://callpass.example.test", Sub: "7f3c1d9e-0000-4000-8000-000000000001",
		Aud: "app", Iat: 1_800_000_000, Nbf: 1_800_000_000, Exp: 1_800_000_600, Jti: "AAECAwQFBgcICQoLDA0ODw",
		AuthTime: 1_799_999_990, AMR: []string{"pwd", "tel", "mfa"}, PhoneNumber: "+79991234567",
		PhoneNumberVerified: true, Sid: "5a1b2c3d-0000-4000-8000-000000000002"}
	cases = append(cases, base)
	for _, s := range odd {
		c := base
		c.Iss, c.Sub, c.Aud, c.Jti, c.Sid, c.PhoneNumber = s, s, s, s, s, s
		c.AMR = []string{s, "tel"}
		cases = append(cases, c)
		c.Aud = []string{s, "other", ""}
		cases = append(cases, c)
	}
	c := base
	c.AMR, c.Aud, c.Iat, c.AuthTime = nil, []string{}, -1, 0 // nothing a token carries, but written alike
	cases = append(cases, c)
	for i, c := range cases {
		want, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendClaims([]byte("prefix"), &c)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("case %d: %v\n got %s\nwant prefix%s", i, err, got, want)
		}
	}
}

// TestRawECDSA: the r‖s signature made from the ASN.1 one is what
// golang-jwt made from the big integers, and verifies; a malformed ASN.1
// signature is refused, not padded into a wrong one.
func TestRawECDSA(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("header.payload"))
	for i := range 300 { // short r and s (a leading zero byte) come up every few hundred
		der, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		got, err := rawECDSA(der, 32)
		if err != nil {
			t.Fatalf("signature %d: %v (%x)", i, err, der)
		}
		var sig struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &sig); err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 64)
		sig.R.FillBytes(want[:32])
		sig.S.FillBytes(want[32:])
		if !bytes.Equal(got, want) {
			t.Fatalf("signature %d: %x, want %x", i, got, want)
		}
		if !ecdsa.Verify(&priv.PublicKey, digest[:], new(big.Int).SetBytes(got[:32]), new(big.Int).SetBytes(got[32:])) {
			t.Fatalf("signature %d does not verify", i)
		}
	}
	// Small values, as DER writes them.
	if got, err := rawECDSA([]byte{0x30, 0x07, 0x02, 0x01, 0x05, 0x02, 0x02, 0x00, 0x80}, 32); err != nil ||
		got[31] != 5 || got[63] != 0x80 || !bytes.Equal(got[:31], make([]byte, 31)) || !bytes.Equal(got[32:63], make([]byte, 31)) {
		t.Errorf("small values: %x %v", got, err)
	}
	long := append([]byte{0x02, 0x21, 0x01}, bytes.Repeat([]byte{1}, 32)...) // 33 bytes of value
	for _, der := range [][]byte{
		nil,
		{0x30},
		{0x30, 0x00},
		{0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},                             // not a SEQUENCE
		{0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},                             // length past the end
		{0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},                             // length short of the end
		{0x30, 0x03, 0x02, 0x01, 0x01},                                               // one INTEGER
		{0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x01},                             // not an INTEGER
		{0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01},                             // negative
		{0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01},                       // a zero not needed
		{0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01},                                   // empty INTEGER
		{0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},           // a third INTEGER
		append(append([]byte{0x30, byte(len(long) + 3)}, long...), 0x02, 0x01, 0x01), // r too large
	} {
		if got, err := rawECDSA(der, 32); err == nil {
			t.Errorf("%x: %x, want an error", der, got)
		}
	}
}
