package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
	segjson "github.com/segmentio/encoding/json"
	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// DefaultTTL is the token lifetime when IssuerConfig.TTL is zero.
const DefaultTTL = 10 * time.Minute

// Issuer errors.
var (
	// ErrConfig is wrapped by NewIssuer and NewVerifier configuration errors.
	ErrConfig = errors.New("jwt: invalid configuration")
	// ErrSubject means the Subject passed to Issue is incomplete or invalid.
	ErrSubject = errors.New("jwt: invalid subject")
	// ErrSessionExpired means the Kratos session ends before a token could be valid.
	ErrSessionExpired = errors.New("jwt: session already expired")
	// ErrAudienceNotAllowed means a token was asked for an audience that is
	// not one of IssuerConfig.Audience.
	ErrAudienceNotAllowed = errors.New("jwt: audience is not one this issuer issues tokens for")
)

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	Issuer       string        // iss: the public base URL of this service
	Audience     []string      // aud: one or more; a single value is emitted as a string
	TTL          time.Duration // token lifetime; DefaultTTL when zero
	Keys         *KeySet       // its Signer signs; its algorithm is the token's alg
	ClaimsMapper *ClaimsMapper // optional extra claims
	// OmitPhoneNumber leaves the phone_number claim out (phone_number_verified
	// stays): a JWT is signed, not encrypted, so every app that receives it
	// reads the number; apps that need not know it are better not told.
	OmitPhoneNumber bool
	Clock           func() time.Time
	Logger          *slog.Logger // optional; only kid/claim names are logged
}

// Subject is who the token is about: the Kratos identity and session that
// has just passed the flash-call factor.
type Subject struct {
	IdentityID       string
	SessionID        string
	SessionExpiresAt time.Time // zero: the session has no known expiry
	AuthTime         time.Time // zero: now (the flash call just completed)
	Methods          []string  // Kratos session authentication methods, e.g. "password"
	PhoneE164        string    // "+79991234567"
	// Audience, when set, is the token's only aud: one app's own token, which
	// the other apps sharing this issuer refuse (RFC 8725 §3.9). It must be
	// one of IssuerConfig.Audience; "" gives every configured audience.
	Audience       string
	Traits         json.RawMessage
	MetadataPublic json.RawMessage
}

// Token is a signed JWT.
type Token struct {
	Raw       string
	ExpiresAt time.Time
	ID        string // jti
}

// Issuer signs tokens. It is safe for concurrent use.
type Issuer struct {
	cfg IssuerConfig
	aud any // string or []string, fixed at construction
	log *slog.Logger
}

// NewIssuer validates cfg.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Issuer == "" {
		return nil, fmt.Errorf("%w: issuer is empty", ErrConfig)
	}
	if len(cfg.Audience) == 0 {
		return nil, fmt.Errorf("%w: at least one audience is required", ErrConfig)
	}
	for _, a := range cfg.Audience {
		if a == "" {
			return nil, fmt.Errorf("%w: empty audience", ErrConfig)
		}
	}
	if cfg.Keys == nil {
		return nil, fmt.Errorf("%w: no key set", ErrConfig)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("%w: ttl %s is shorter than one second", ErrConfig, cfg.TTL)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	iss := &Issuer{cfg: cfg, log: cfg.Logger}
	if len(cfg.Audience) == 1 {
		iss.aud = cfg.Audience[0]
	} else {
		iss.aud = append([]string(nil), cfg.Audience...)
	}
	return iss, nil
}

// NeedsIdentityData reports whether Issue reads Subject.Traits and
// Subject.MetadataPublic (only a claims mapper does), so callers can skip
// encoding them.
func (iss *Issuer) NeedsIdentityData() bool { return iss.cfg.ClaimsMapper != nil }

// TTL is the configured token lifetime.
func (iss *Issuer) TTL() time.Duration { return iss.cfg.TTL }

// AllowsAudience reports whether a token may be issued for aud alone
// (Subject.Audience): it is one of the configured audiences. Callers check
// it before any work a refusal would waste (a step-up's code is spent by
// the verify).
func (iss *Issuer) AllowsAudience(aud string) bool {
	return aud != "" && slices.Contains(iss.cfg.Audience, aud)
}

// audFor is the aud claim for s.
func (iss *Issuer) audFor(s Subject) (any, error) {
	if s.Audience == "" {
		return iss.aud, nil
	}
	if !iss.AllowsAudience(s.Audience) {
		return nil, ErrAudienceNotAllowed
	}
	return s.Audience, nil
}

// Issue signs a token for s with the key set's active signer. exp is
// now+TTL but never after s.SessionExpiresAt.
func (iss *Issuer) Issue(ctx context.Context, s Subject) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, err
	}
	if s.IdentityID == "" {
		return Token{}, fmt.Errorf("%w: identity id is empty", ErrSubject)
	}
	if !isE164(s.PhoneE164) {
		return Token{}, fmt.Errorf("%w: phone number is not E.164", ErrSubject)
	}
	aud, err := iss.audFor(s)
	if err != nil {
		return Token{}, err
	}
	now := iss.cfg.Clock()
	// NumericDate is whole seconds: round iat down and exp down, so exp can
	// never land after the session's own expiry.
	iat := now.Unix()
	exp := now.Add(iss.cfg.TTL).Unix()
	if !s.SessionExpiresAt.IsZero() && s.SessionExpiresAt.Unix() < exp {
		exp = s.SessionExpiresAt.Unix()
	}
	if exp <= iat {
		return Token{}, ErrSessionExpired
	}
	authTime := s.AuthTime
	if authTime.IsZero() {
		authTime = now
	}
	jti, err := newJTI()
	if err != nil {
		return Token{}, err
	}

	key := iss.cfg.Keys.Signer()
	var raw string
	if iss.cfg.ClaimsMapper == nil {
		raw, err = signCompact(key, &standardClaims{
			Iss: iss.cfg.Issuer, Sub: s.IdentityID, Aud: aud,
			Iat: iat, Nbf: iat, Exp: exp, Jti: jti, AuthTime: authTime.Unix(),
			AMR: AMR(s.Methods), PhoneNumber: iss.phoneNumber(s), PhoneNumberVerified: true,
			Sid: s.SessionID,
		})
	} else {
		raw, err = iss.signMapped(ctx, key, s, aud, iat, exp, jti, authTime)
	}
	if err != nil {
		return Token{}, err
	}
	if len(raw) > maxTokenBytes {
		// Only a mapper's claims get here (json.Marshal writes each <, >
		// and & as six bytes): a token Verify would refuse is not issued.
		return Token{}, fmt.Errorf("%w: token of %d bytes is larger than %d: the mapper's claims are too large", ErrClaimsMapper, len(raw), maxTokenBytes)
	}
	return Token{Raw: raw, ExpiresAt: time.Unix(exp, 0), ID: jti}, nil
}

// standardClaims is the claim set when no claims mapper is configured: a
// struct, so a token costs no map and no sorting (the mapper path below keeps
// MapClaims). Field for field what the mapper path emits.
type standardClaims struct {
	Iss                 string   `json:"iss"`
	Sub                 string   `json:"sub"`
	Aud                 any      `json:"aud"` // string or []string
	Iat                 int64    `json:"iat"`
	Nbf                 int64    `json:"nbf"`
	Exp                 int64    `json:"exp"`
	Jti                 string   `json:"jti"`
	AuthTime            int64    `json:"auth_time"`
	AMR                 []string `json:"amr"`
	PhoneNumber         string   `json:"phone_number,omitempty"` // "" only with OmitPhoneNumber
	PhoneNumberVerified bool     `json:"phone_number_verified"`
	Sid                 string   `json:"sid,omitempty"`
}

// phoneNumber is the phone_number claim of a token for s ("": left out).
func (iss *Issuer) phoneNumber(s Subject) string {
	if iss.cfg.OmitPhoneNumber {
		return ""
	}
	return s.PhoneE164
}

// ClaimsSupported is the claims every token of this issuer carries
// (ClaimsSupported without phone_number when it is left out), as its
// discovery document lists them.
func (iss *Issuer) ClaimsSupported() []string {
	claims := ClaimsSupported()
	if iss.cfg.OmitPhoneNumber {
		claims = slices.DeleteFunc(claims, func(c string) bool { return c == "phone_number" })
	}
	return claims
}

func (iss *Issuer) signMapped(ctx context.Context, key *Key, s Subject, aud any, iat, exp int64, jti string, authTime time.Time) (string, error) {
	claims := gojwt.MapClaims{
		"iss":                   iss.cfg.Issuer,
		"sub":                   s.IdentityID,
		"aud":                   aud,
		"iat":                   iat,
		"nbf":                   iat,
		"exp":                   exp,
		"jti":                   jti,
		"auth_time":             authTime.Unix(),
		"amr":                   AMR(s.Methods),
		"phone_number":          s.PhoneE164,
		"phone_number_verified": true,
	}
	if s.SessionID != "" {
		claims["sid"] = s.SessionID
	}
	if iss.cfg.OmitPhoneNumber {
		// Still reserved: the mapper cannot put it back.
		delete(claims, "phone_number")
	}
	extra, dropped, err := iss.cfg.ClaimsMapper.Map(claims, s)
	if err != nil {
		return "", err
	}
	if len(dropped) > 0 {
		iss.log.WarnContext(ctx, "claims mapper returned reserved claims; dropped them", slog.Any("claims", dropped))
	}
	for k, v := range extra {
		claims[k] = v
	}
	return signCompact(key, claims)
}

// signCompact makes the JWS compact form: the key's header (alg, kid, typ),
// the claims as JSON, and the signature of the two.
func signCompact(key *Key, claims any) (string, error) {
	bp := claimBufs.Get().(*[]byte)
	defer claimBufs.Put(bp)
	payload, err := appendClaims((*bp)[:0], claims)
	if err != nil {
		return "", fmt.Errorf("jwt: encode claims: %w", err)
	}
	*bp = payload
	hdr := key.hdr
	buf := make([]byte, 0, len(hdr)+2+b64.EncodedLen(len(payload))+b64.EncodedLen(512))
	buf = append(buf, hdr...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig, err := sign(key, buf)
	if err != nil {
		return "", fmt.Errorf("jwt: sign with %v: %w", key, err)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// claimBufs lends signCompact the buffer the claims' JSON is written in
// (base64-encoded from it at once).
var claimBufs = sync.Pool{New: func() any { return new([]byte) }}

// appendClaims appends the claims' JSON as json.Marshal writes it. The
// standard claims, on every token, are written by segmentio/encoding
// (the same bytes, TestStandardClaimsMatchMarshal, without reflection per
// token); a claims mapper's map keeps encoding/json.
func appendClaims(b []byte, claims any) ([]byte, error) {
	if c, ok := claims.(*standardClaims); ok {
		return segjson.Append(b, c, segjson.EscapeHTML)
	}
	j, err := json.Marshal(claims)
	return append(b, j...), err
}

// sign signs the JWS signing input. ES256 signs the digest and writes r‖s
// straight from the ASN.1 signature (golang-jwt's signer copies the input
// twice and goes through big integers); the other algorithms sign through
// golang-jwt.
func sign(key *Key, input []byte) ([]byte, error) {
	if k, ok := key.priv.(*ecdsa.PrivateKey); ok && key.alg == AlgES256 && k.Curve == elliptic.P256() {
		digest := sha256.Sum256(input)
		der, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
		if err != nil {
			return nil, err
		}
		return rawECDSA(der, 32)
	}
	return signingMethod(key.alg).Sign(string(input), key.priv)
}

var errMalformedSignature = errors.New("jwt: malformed ECDSA signature")

// rawECDSA turns an ECDSA signature in ASN.1 DER (SEQUENCE of two
// INTEGERs) into JWS's r‖s, each left-padded to size bytes (RFC 7518
// §3.4). The DER is read by cryptobyte, as crypto/ecdsa reads its own.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var (
		inner cryptobyte.String
		r, s  []byte
	)
	input := cryptobyte.String(der)
	if !input.ReadASN1(&inner, casn1.SEQUENCE) || !input.Empty() ||
		!inner.ReadASN1Integer(&r) || !inner.ReadASN1Integer(&s) || !inner.Empty() ||
		len(r) > size || len(s) > size {
		return nil, errMalformedSignature
	}
	out := make([]byte, 2*size)
	copy(out[size-len(r):size], r)
	copy(out[2*size-len(s):], s)
	return out, nil
}

func signingMethod(alg string) gojwt.SigningMethod {
	switch alg {
	case AlgES256:
		return gojwt.SigningMethodES256
	case AlgEdDSA:
		return gojwt.SigningMethodEdDSA
	default:
		return gojwt.SigningMethodRS256
	}
}

// newJTI is 128 random bits, base64url.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("jwt: random jti: %w", err)
	}
	return b64.EncodeToString(b[:]), nil
}

// isE164 checks the shape "+" then 7..15 digits, the first not 0.
func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}
