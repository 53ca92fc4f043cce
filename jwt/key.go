package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
)

// Supported signing algorithms. The algorithm is a property of the key: an
// ES256 key is always a P-256 key and signs only ES256, and so on.
const (
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
	AlgRS256 = "RS256"
)

// MinRSABits is the smallest RSA modulus accepted for signing or verifying.
const MinRSABits = 2048

// ErrKey is wrapped by every error about key material (bad file, wrong
// algorithm, weak RSA key, unknown kid).
var ErrKey = errors.New("jwt: key")

func keyErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrKey, fmt.Sprintf(format, args...))
}

// NormalizeAlg returns the canonical spelling of a supported algorithm name
// ("es256" -> "ES256", "eddsa" -> "EdDSA") or an error.
func NormalizeAlg(alg string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(alg)) {
	case "ES256":
		return AlgES256, nil
	case "EDDSA", "ED25519":
		return AlgEdDSA, nil
	case "RS256":
		return AlgRS256, nil
	}
	return "", keyErr("unsupported algorithm %q (want ES256, EdDSA or RS256)", alg)
}

// Key is one signing or verification key with its kid and algorithm.
// Printing or logging a Key shows only kid and alg: the private half is
// written nowhere but the key file (WriteKeyFile).
type Key struct {
	kid  string
	alg  string
	pub  crypto.PublicKey
	priv crypto.Signer // nil for a published-only (retired) key

	hdr string // base64url JOSE header of the tokens it signs (joseHeader)
}

// joseHeader is the first part of every token a key signs:
// {"alg":…,"kid":…,"typ":"JWT"}, encoded once when the key is made.
func joseHeader(alg, kid string) string {
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, "JWT"})
	return b64.EncodeToString(h)
}

// NewKey wraps a private key (*ecdsa.PrivateKey P-256, ed25519.PrivateKey,
// *rsa.PrivateKey >= 2048 bits). alg "" infers the algorithm from the key
// type; kid "" uses the RFC 7638 JWK thumbprint.
func NewKey(priv crypto.Signer, alg, kid string) (*Key, error) {
	if priv == nil {
		return nil, keyErr("nil private key")
	}
	if k, ok := priv.(*rsa.PrivateKey); ok {
		if err := k.Validate(); err != nil {
			return nil, keyErr("invalid RSA key: %v", err)
		}
	}
	k, err := NewPublicKey(priv.Public(), alg, kid)
	if err != nil {
		return nil, err
	}
	k.priv = priv
	if err := k.checkPair(); err != nil {
		return nil, err
	}
	return k, nil
}

// pairCheckInput is what checkPair signs.
const pairCheckInput = "callpass-kratos key pair check"

// checkPair signs with the private half and verifies with the public one.
// Nothing else ties them together: a JWK whose x/y are another key's (or
// an ed25519.PrivateKey whose second half is) loads and signs, but the JWKS
// publishes the wrong half, so every app would refuse every token.
func (k *Key) checkPair() error {
	m := signingMethod(k.alg)
	sig, err := m.Sign(pairCheckInput, k.priv)
	if err != nil {
		return keyErr("kid %q: cannot sign with the private key: %v", k.kid, err)
	}
	if m.Verify(pairCheckInput, sig, k.pub) != nil {
		return keyErr("kid %q: the private key does not belong to its public key (x/y, n/e or the Ed25519 public half are another key's)", k.kid)
	}
	return nil
}

// NewPublicKey wraps a public key that is published (for verification of
// older tokens) but never signs.
func NewPublicKey(pub crypto.PublicKey, alg, kid string) (*Key, error) {
	inferred, err := algForKey(pub)
	if err != nil {
		return nil, err
	}
	if alg == "" {
		alg = inferred
	} else if alg, err = NormalizeAlg(alg); err != nil {
		return nil, err
	} else if alg != inferred {
		return nil, keyErr("algorithm %s does not match a %s key", alg, inferred)
	}
	k := &Key{alg: alg, pub: pub, kid: kid}
	if k.kid == "" {
		if k.kid, err = Thumbprint(pub); err != nil {
			return nil, err
		}
	}
	k.hdr = joseHeader(k.alg, k.kid)
	return k, nil
}

// GenerateKey makes a new random key for alg (ES256, EdDSA or RS256 with a
// 2048-bit modulus); its kid is the RFC 7638 thumbprint.
func GenerateKey(alg string) (*Key, error) {
	alg, err := NormalizeAlg(alg)
	if err != nil {
		return nil, err
	}
	var priv crypto.Signer
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, MinRSABits)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: generate %s: %v", ErrKey, alg, err)
	}
	return NewKey(priv, alg, "")
}

// algForKey says which algorithm a public key can be used with.
func algForKey(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return "", keyErr("EC key on curve %s: only P-256 (ES256) is supported", p.Curve.Params().Name)
		}
		return AlgES256, nil
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return "", keyErr("bad Ed25519 public key length")
		}
		return AlgEdDSA, nil
	case *rsa.PublicKey:
		if p.N.BitLen() < MinRSABits {
			return "", keyErr("RSA key has %d bits, want at least %d", p.N.BitLen(), MinRSABits)
		}
		return AlgRS256, nil
	}
	return "", keyErr("unsupported key type %T", pub)
}

// KID is the key id published in the JWKS and put in each token's header.
func (k *Key) KID() string { return k.kid }

// Algorithm is the JWS alg this key signs and verifies with.
func (k *Key) Algorithm() string { return k.alg }

// Public returns the public key (*ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey).
func (k *Key) Public() crypto.PublicKey { return k.pub }

// CanSign reports whether the key holds its private half.
func (k *Key) CanSign() bool { return k.priv != nil }

// PublicOnly returns a copy without the private half (for retiring a key).
func (k *Key) PublicOnly() *Key { return &Key{kid: k.kid, alg: k.alg, pub: k.pub, hdr: k.hdr} }

// String prints only the kid and the algorithm. String, Format, LogValue
// and MarshalJSON have value receivers so that a dereferenced Key prints
// just as safely as a *Key.
func (k Key) String() string { return fmt.Sprintf("jwt.Key{kid=%s alg=%s}", k.kid, k.alg) }

// Format makes every fmt verb (%v, %+v, %#v, %s, %x …) print String, so no
// formatting path reaches the private key fields.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue makes slog log only kid and alg.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.kid), slog.String("alg", k.alg))
}

// MarshalJSON emits the public JWK, so json.Marshal never leaks private material.
func (k Key) MarshalJSON() ([]byte, error) { return json.Marshal(k.publicJWK()) }

// jwk is the public JSON Web Key as published (RFC 7517/7518/8037).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

var b64 = base64.RawURLEncoding

func publicJWKFields(pub crypto.PublicKey) (jwk, error) {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return jwk{}, keyErr("unsupported curve")
		}
		e, err := p.ECDH()
		if err != nil {
			return jwk{}, keyErr("EC key: %v", err)
		}
		raw := e.Bytes() // 0x04 || X || Y, fixed length
		return jwk{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(raw[1:33]), Y: b64.EncodeToString(raw[33:65])}, nil
	case ed25519.PublicKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(p)}, nil
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", N: b64.EncodeToString(p.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(p.E)).Bytes())}, nil
	}
	return jwk{}, keyErr("unsupported key type %T", pub)
}

func (k Key) publicJWK() jwk {
	j, _ := publicJWKFields(k.pub) // the type was checked when the Key was made
	j.Kid, j.Alg, j.Use = k.kid, k.alg, "sig"
	return j
}

// Thumbprint is the RFC 7638 (and RFC 8037 for OKP) SHA-256 JWK thumbprint,
// base64url without padding: the default kid.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := publicJWKFields(pub)
	if err != nil {
		return "", err
	}
	// Members in lexicographic order, no whitespace (RFC 7638 section 3.2).
	var canon string
	switch j.Kty {
	case "EC":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	case "OKP":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, j.Crv, j.X)
	case "RSA":
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:]), nil
}

// parsePublicJWK turns one published JWK into a verification key. It checks
// that alg (if given) matches the key type, that EC points are on the curve
// and that RSA keys are large enough.
func parsePublicJWK(j jwk) (*Key, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, keyErr("kid %q: use %q is not sig", j.Kid, j.Use)
	}
	var pub crypto.PublicKey
	switch j.Kty {
	case "EC":
		if j.Crv != "P-256" {
			return nil, keyErr("kid %q: unsupported curve %q", j.Kid, j.Crv)
		}
		x, errX := b64.DecodeString(j.X)
		y, errY := b64.DecodeString(j.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, keyErr("kid %q: bad EC coordinates", j.Kid)
		}
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, keyErr("kid %q: %v", j.Kid, err)
		}
		pub = p
	case "OKP":
		x, err := b64.DecodeString(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, keyErr("kid %q: bad OKP key", j.Kid)
		}
		pub = ed25519.PublicKey(x)
	case "RSA":
		n, errN := b64.DecodeString(j.N)
		e, errE := b64.DecodeString(j.E)
		if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 {
			return nil, keyErr("kid %q: bad RSA key", j.Kid)
		}
		ei := int(new(big.Int).SetBytes(e).Int64())
		if ei < 3 || ei%2 == 0 {
			return nil, keyErr("kid %q: bad RSA exponent", j.Kid)
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ei}
	default:
		return nil, keyErr("kid %q: unsupported kty %q", j.Kid, j.Kty)
	}
	return NewPublicKey(pub, j.Alg, j.Kid)
}
