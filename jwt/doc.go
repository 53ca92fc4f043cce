// Package jwt issues and verifies the token callpass-kratos hands out after a
// user passes the flash-call factor, so apps that already trust JWTs can
// require the factor without talking to Kratos or to this service.
//
// # The token
//
// A compact JWS signed with the key set's active key. Header: alg (ES256 by
// default, EdDSA or RS256: the algorithm belongs to the key), kid, typ "JWT".
// Claims:
//
//	iss                    IssuerConfig.Issuer (this service's public URL)
//	sub                    Kratos identity id
//	aud                    Subject.Audience alone (one app's token, asked as {"audience"} on
//	                       /v1/token or the step-up verify), a string; else every configured
//	                       audience: a string if one, an array if several
//	iat, nbf               issue time (whole seconds)
//	exp                    iat + TTL (default 10m), never after the Kratos session's expiry
//	jti                    128 random bits, base64url
//	sid                    Kratos session id (omitted when unknown)
//	auth_time              Subject.AuthTime, else the issue time
//	amr                    RFC 8176 values: the session's methods mapped
//	                       (password→pwd; totp, lookup_secret, code→otp;
//	                       webauthn, passkey→hwk; others such as oidc have no
//	                       registered value and are left out), then "tel" (the
//	                       flash call), then "mfa" when the session had a
//	                       factor independent of the phone: password, totp,
//	                       lookup_secret, webauthn, passkey, oidc or saml (not
//	                       code, which may be an SMS to the same phone, nor
//	                       link_recovery/code_recovery)
//	phone_number           the called number, E.164 with "+"
//	phone_number_verified  true
//
// An optional jsonnet ClaimsMapper adds claims the way the Kratos session
// tokenizer does (std.extVar("claims") and std.extVar("session"), result
// {claims: {...}} or a plain object). It can never change the claims above:
// reserved names in its result are dropped and logged (ReservedClaims()).
//
// # Keys and rotation
//
// A KeySet has one signing key and any number of published keys. Key files
// are a JWK Set (written by WriteKeyFile/AppendKey/ActivateKey/RemoveKey: a
// new file gets mode 0600, a rewritten one keeps its mode) or PEM. The
// signer is the configured signing_kid, else the first key in the file.
// Rotate without rejecting valid tokens (the CLI's `keys generate`, `keys
// activate` and `keys remove`, each followed by SIGHUP to reload the file):
//
//  1. publish: AppendKey without activate appends key B; A still signs, the
//     JWKS now lists A and B. Wait at least the JWKS max-age (JWKSHandler's
//     maxAge; `callpass-kratos serve` sends 300 s), so caches that honour it
//     have B. Verifier itself also refetches on an unknown kid.
//  2. activate: ActivateKey moves B, already published, to the front of the
//     file, so it signs at the next load. With signing_kid set, file order
//     is ignored: change signing_kid instead (read at start-up: restart).
//     Tokens signed by A still verify.
//  3. retire: after the token TTL has passed, RemoveKey deletes A.
//     Tokens still carrying A's kid then fail with ErrTokenUnknownKey.
//
// # Publishing
//
// JWKSHandler serves PublicJWKS (public members only, use "sig") with
// Cache-Control, ETag and 304s; DiscoveryHandler serves a minimal
// /.well-known/openid-configuration with issuer and jwks_uri for JWT
// verifiers (no authorization_endpoint: this is not an OpenID Provider).
//
// # Verifying
//
// Go apps use Verifier and EchoMiddleware. Verifier fetches and caches the
// JWKS; once the keys are older than RefreshInterval, the next verification
// starts a background refresh (an idle verifier fetches nothing). An unknown
// kid, or no usable keys, makes the request wait for a fetch (at most once
// per MinRefreshInterval; once a second without usable keys), no longer
// than its context and FetchTimeout plus a second allow.
// EchoMiddleware's WithCookie checks Origin on every method except GET,
// HEAD, OPTIONS and TRACE; a WebSocket upgrade is a GET, so an app accepting
// WebSockets authenticated by the cookie must check Origin itself. Any other
// language uses its JOSE library the usual way:
//
//   - fetch the JWKS from <issuer>/.well-known/jwks.json (cache it, refetch
//     on an unknown kid, not more often than every few seconds);
//   - pin the accepted algorithms to ES256, EdDSA and RS256 (never "none" or
//     HS*), pick the key by kid, verify the signature;
//   - check iss exactly, aud contains your audience, exp/nbf with a small
//     leeway; require "tel" in amr if you need the flash-call factor.
//
// For example jose (Node): createRemoteJWKSet(url) with jwtVerify(token,
// jwks, {issuer, audience, algorithms: ["ES256","EdDSA","RS256"]}); PyJWT:
// PyJWKClient(url).get_signing_key_from_jwt(token) then jwt.decode(token,
// key, algorithms=[...], audience=..., issuer=...).
package jwt
