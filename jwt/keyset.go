package jwt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
)

// DevKeyFile is the file DevKeySet keeps its key in.
const DevKeyFile = "jwt-keys.json"

// KeySet is the issuer's keys: exactly one active signing key and any number
// of published keys (the previous signer during a rotation). It is safe for
// concurrent use; Add, Activate and Remove take effect for the next token
// and the next JWKS response.
type KeySet struct {
	mu     sync.RWMutex
	keys   []*Key
	signer *Key
	doc    []byte // cached PublicJWKS
	etag   string
}

// NewKeySet builds a set. signingKID "" makes the first key the signer.
func NewKeySet(keys []*Key, signingKID string) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, keyErr("key set is empty")
	}
	ks := &KeySet{}
	for _, k := range keys {
		if k == nil {
			return nil, keyErr("nil key")
		}
		if slices.ContainsFunc(ks.keys, func(o *Key) bool { return o.kid == k.kid }) {
			return nil, keyErr("duplicate kid %q", k.kid)
		}
		ks.keys = append(ks.keys, k)
	}
	if signingKID == "" {
		signingKID = keys[0].kid
	}
	if err := ks.activateLocked(signingKID); err != nil {
		return nil, err
	}
	return ks, nil
}

// Signer returns the active signing key.
func (ks *KeySet) Signer() *Key {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.signer
}

// Keys returns all keys, signer included, in file order.
func (ks *KeySet) Keys() []*Key {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return slices.Clone(ks.keys)
}

// Lookup finds a key by kid.
func (ks *KeySet) Lookup(kid string) (*Key, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	for _, k := range ks.keys {
		if k.kid == kid {
			return k, true
		}
	}
	return nil, false
}

// Algorithms lists the distinct algorithms of the published keys, signer first.
func (ks *KeySet) Algorithms() []string {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	algs := []string{ks.signer.alg}
	for _, k := range ks.keys {
		if !slices.Contains(algs, k.alg) {
			algs = append(algs, k.alg)
		}
	}
	return algs
}

// Add publishes a new key without making it the signer (rotation step 1:
// let verifiers learn the key before tokens signed with it appear).
func (ks *KeySet) Add(k *Key) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for _, o := range ks.keys {
		if o.kid == k.kid {
			return keyErr("duplicate kid %q", k.kid)
		}
	}
	ks.keys = append(ks.keys, k)
	ks.doc = nil
	return nil
}

// Activate makes kid the signing key (rotation step 2). The old signer stays
// published so its tokens keep verifying until they expire.
func (ks *KeySet) Activate(kid string) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.activateLocked(kid)
}

func (ks *KeySet) activateLocked(kid string) error {
	for _, k := range ks.keys {
		if k.kid == kid {
			if !k.CanSign() {
				return keyErr("kid %q has no private key and cannot sign", kid)
			}
			ks.signer = k
			return nil
		}
	}
	return keyErr("signing kid %q is not in the key set", kid)
}

// Remove unpublishes a key (rotation step 3, after the longest token TTL).
// The active signer cannot be removed.
func (ks *KeySet) Remove(kid string) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.signer.kid == kid {
		return keyErr("kid %q is the active signer; activate another key first", kid)
	}
	i := slices.IndexFunc(ks.keys, func(k *Key) bool { return k.kid == kid })
	if i < 0 {
		return keyErr("kid %q is not in the key set", kid)
	}
	ks.keys = slices.Delete(ks.keys, i, i+1)
	ks.doc = nil
	return nil
}

// Replace swaps in the keys and signer of other (a reloaded key file).
func (ks *KeySet) Replace(other *KeySet) {
	other.mu.RLock()
	keys, signer := slices.Clone(other.keys), other.signer
	other.mu.RUnlock()
	ks.mu.Lock()
	ks.keys, ks.signer, ks.doc = keys, signer, nil
	ks.mu.Unlock()
}

// PublicJWKS is the JSON Web Key Set of all published keys: public members
// only (kty, crv, x, y, n, e), plus kid, alg and use "sig".
func (ks *KeySet) PublicJWKS() ([]byte, error) {
	doc, _ := ks.publicJWKS()
	return bytes.Clone(doc), nil // the cached copy stays unshared
}

// publicJWKS returns the document and its strong ETag, cached until the set changes.
func (ks *KeySet) publicJWKS() ([]byte, string) {
	ks.mu.RLock()
	doc, etag := ks.doc, ks.etag
	ks.mu.RUnlock()
	if doc != nil {
		return doc, etag
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.doc == nil {
		set := struct {
			Keys []jwk `json:"keys"`
		}{Keys: make([]jwk, 0, len(ks.keys))}
		for _, k := range ks.keys {
			set.Keys = append(set.Keys, k.publicJWK())
		}
		ks.doc, _ = json.Marshal(set) // only strings: cannot fail
		ks.etag = etagOf(ks.doc)
	}
	return ks.doc, ks.etag
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + b64.EncodeToString(sum[:16]) + `"`
}

// LoadKeySet reads a key file: a JWK Set (or a single JWK) in JSON with
// private keys, or PEM with PRIVATE KEY / EC PRIVATE KEY / RSA PRIVATE KEY
// blocks (and PUBLIC KEY blocks for published-only keys). A PEM block may
// carry a "kid" header; otherwise the kid is the RFC 7638 thumbprint.
// signingKID "" makes the first key in the file the signer.
func LoadKeySet(path, signingKID string) (*KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read key file: %w", ErrKey, err)
	}
	keys, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewKeySet(keys, signingKID)
}

// ParseKeys parses the contents of a key file (see LoadKeySet), in order.
func ParseKeys(data []byte) ([]*Key, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("{")):
		return parseJWKFile(trimmed)
	case bytes.Contains(trimmed, []byte("-----BEGIN ")):
		return parsePEM(trimmed)
	}
	return nil, keyErr("key file is neither JSON (JWK Set) nor PEM")
}

func parseJWKFile(data []byte) ([]*Key, error) {
	var probe struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, keyErr("key file JSON: %v", err)
	}
	var raws []json.RawMessage
	if probe.Keys != nil {
		if err := json.Unmarshal(probe.Keys, &raws); err != nil {
			return nil, keyErr("keys: %v", err)
		}
	} else {
		raws = []json.RawMessage{data}
	}
	keys := make([]*Key, 0, len(raws))
	for i, raw := range raws {
		var jk jose.JSONWebKey
		if err := jk.UnmarshalJSON(raw); err != nil {
			return nil, keyErr("key %d: %v", i, err)
		}
		if jk.Use != "" && jk.Use != "sig" {
			return nil, keyErr("key %d (kid %q): use %q is not sig", i, jk.KeyID, jk.Use)
		}
		var k *Key
		var err error
		switch key := jk.Key.(type) {
		case *ecdsa.PrivateKey:
			k, err = NewKey(key, jk.Algorithm, jk.KeyID)
		case ed25519.PrivateKey:
			k, err = NewKey(key, jk.Algorithm, jk.KeyID)
		case *rsa.PrivateKey:
			k, err = NewKey(key, jk.Algorithm, jk.KeyID)
		case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
			k, err = NewPublicKey(key, jk.Algorithm, jk.KeyID)
		default:
			err = keyErr("unsupported key type %T", jk.Key)
		}
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func parsePEM(data []byte) ([]*Key, error) {
	var keys []*Key
	for n := 0; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var parsed any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			parsed, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PUBLIC KEY":
			parsed, err = x509.ParsePKIXPublicKey(block.Bytes)
		default:
			continue // e.g. CERTIFICATE or EC PARAMETERS blocks
		}
		if err != nil {
			return nil, keyErr("PEM block %d (%s): %v", n, block.Type, err)
		}
		kid := block.Headers["kid"]
		var k *Key
		if s, ok := parsed.(crypto.Signer); ok {
			k, err = NewKey(s, "", kid)
		} else {
			k, err = NewPublicKey(parsed, "", kid)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, keyErr("no key blocks in PEM")
	}
	return keys, nil
}

// WriteKeyFile writes keys as a JWK Set with private members to path, mode
// 0600, atomically (temp file + rename). The first key is the one
// LoadKeySet makes the signer when no signing_kid is configured.
func WriteKeyFile(path string, keys ...*Key) error {
	return writeKeyFile(path, nil, keys)
}

// writeKeyFile writes keys to path atomically. like, when not nil, is the
// file being replaced: its mode (and, where the platform allows, owner and
// group) is kept, so a rewrite by an administrator stays readable by the
// service; otherwise the file gets mode 0600.
func writeKeyFile(path string, like fs.FileInfo, keys []*Key) error {
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		var material any = k.pub
		if k.priv != nil {
			material = k.priv
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: material, KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	data, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return keyErr("encode key file: %v", err)
	}
	mode := fs.FileMode(0o600)
	if like != nil {
		mode = like.Mode().Perm()
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".jwt-keys-*") // created with mode 0600
	if err != nil {
		// The error would name the temporary file, which the admin never
		// asked for: name what is wrong with the directory instead.
		if fi, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return keyErr("write key file %s: directory %s does not exist (create it first: mkdir -p %s)", path, dir, dir)
		} else if serr == nil && !fi.IsDir() {
			return keyErr("write key file %s: %s is not a directory", path, dir)
		} else if errors.Is(err, fs.ErrPermission) {
			return keyErr("write key file %s: no permission to create files in directory %s", path, dir)
		}
		return fmt.Errorf("%w: write key file %s: %w", ErrKey, path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if like != nil {
		chownLike(tmp, like) // best effort: needs the privilege to give the file away
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: write key file: %w", ErrKey, err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: write key file: %w", ErrKey, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: write key file: %w", ErrKey, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: write key file: %w", ErrKey, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%w: write key file: %w", ErrKey, err)
	}
	return nil
}

// readKeyFile reads the JWK Set file at path for a rewrite. A missing file
// is an error wrapping fs.ErrNotExist; PEM files are refused (they are never
// rewritten: convert them to a JWK Set first).
func readKeyFile(path string) ([]*Key, fs.FileInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read key file: %w", ErrKey, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read key file: %w", ErrKey, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		// Created empty beforehand with its owner and mode (install -m 0600
		// /dev/null keys.json): a set with no key yet, its file kept.
		return nil, fi, nil
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil, nil, keyErr("%s is not a JWK Set file; only JSON key files are rewritten (convert PEM to a JWK Set first)", path)
	}
	keys, err := parseJWKFile(bytes.TrimSpace(data))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, fi, nil
}

// AppendKey adds key to the JWK Set file at path (creating it if missing).
// With activate the key goes first in the file, so it becomes the signer at
// the next load when no signing_kid is configured; without it the key is
// appended and only published. This is what `keys generate` does for
// rotation. PEM files are not rewritten: convert them to a JWK Set first.
// An existing file keeps its mode; a new one gets 0600.
func AppendKey(path string, key *Key, activate bool) error {
	keys, fi, err := readKeyFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		keys, fi = nil, nil
	case err != nil:
		return err
	}
	if slices.ContainsFunc(keys, func(k *Key) bool { return k.kid == key.kid }) {
		return keyErr("kid %q already in %s", key.kid, path)
	}
	if activate {
		if !key.CanSign() {
			return keyErr("kid %q has no private key and cannot be activated", key.kid)
		}
		keys = append([]*Key{key}, keys...)
	} else {
		keys = append(keys, key)
	}
	return writeKeyFile(path, fi, keys)
}

// ActivateKey moves the key kid, already in the JWK Set file at path, to the
// front of the file, so it becomes the signer at the next load (SIGHUP) when
// no signing_kid is configured. This is rotation step 2, for a key published
// earlier with AppendKey. The other keys stay published in their order; the
// file keeps its mode. It fails for a missing or PEM file, an unknown kid and
// a key without its private half.
func ActivateKey(path, kid string) error {
	keys, fi, err := readKeyFile(path)
	if err != nil {
		return err
	}
	i, err := keyIndex(keys, kid, path)
	switch {
	case err != nil:
		return err
	case !keys[i].CanSign():
		return keyErr("kid %q in %s has no private key and cannot sign", kid, path)
	case i == 0:
		return nil // already the first key
	}
	k := keys[i]
	keys = slices.Delete(keys, i, i+1)
	return writeKeyFile(path, fi, append([]*Key{k}, keys...))
}

// keyIndex finds kid among the keys of the file at path.
func keyIndex(keys []*Key, kid, path string) (int, error) {
	if i := slices.IndexFunc(keys, func(k *Key) bool { return k.kid == kid }); i >= 0 {
		return i, nil
	}
	return -1, keyErr("kid %q is not in %s (%s)", kid, path, kidList(keys))
}

// RemoveKey deletes the key kid from the JWK Set file at path (rotation
// step 3, once no unexpired token signed by it can exist). The first key is
// refused: it is the signer when no signing_kid is configured, so activate
// another key first. The file keeps its mode.
func RemoveKey(path, kid string) error {
	keys, fi, err := readKeyFile(path)
	if err != nil {
		return err
	}
	i, err := keyIndex(keys, kid, path)
	switch {
	case err != nil:
		return err
	case i == 0:
		return keyErr("kid %q is the first key in %s (the signer unless jwt.signing_kid says otherwise); activate another key first", kid, path)
	}
	return writeKeyFile(path, fi, slices.Delete(keys, i, i+1))
}

func kidList(keys []*Key) string {
	kids := make([]string, len(keys))
	for i, k := range keys {
		kids[i] = k.kid
	}
	return "kids: " + strings.Join(kids, ", ")
}

// DevKeySet loads dir/jwt-keys.json, or creates it with one new alg key, so a
// development restart keeps signing with the same key (and tokens issued
// before the restart still verify). An existing file wins over alg.
func DevKeySet(dir, alg string) (*KeySet, error) {
	path := filepath.Join(dir, DevKeyFile)
	if _, err := os.Stat(path); err == nil {
		return LoadKeySet(path, "")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	if alg == "" {
		alg = AlgES256
	}
	k, err := GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	if err := WriteKeyFile(path, k); err != nil {
		return nil, err
	}
	return NewKeySet([]*Key{k}, "")
}
