package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// pwgenSymbols is pwgen -y's symbol set (pw_symbols in pwgen's source); a
// password manager's "all characters" uses the same printable ASCII.
const pwgenSymbols = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// secretGenerators make secrets the ways the docs and common tools do.
var secretGenerators = []struct {
	name string
	gen  func(r *rand.Rand) string
}{
	{"openssl rand -hex 32", func(r *rand.Rand) string { return hex.EncodeToString(randBytes(r, 32)) }},
	{"openssl rand -hex 16 (32 characters, the shortest accepted)", func(r *rand.Rand) string { return hex.EncodeToString(randBytes(r, 16)) }},
	{"openssl rand -base64 24 (32 characters)", func(r *rand.Rand) string { return base64.StdEncoding.EncodeToString(randBytes(r, 24)) }},
	{"openssl rand -base64 32, head -c 32 /dev/urandom | base64", func(r *rand.Rand) string { return base64.StdEncoding.EncodeToString(randBytes(r, 32)) }},
	{"openssl rand -base64 48", func(r *rand.Rand) string { return base64.StdEncoding.EncodeToString(randBytes(r, 48)) }},
	{"base64url (Vault, Kubernetes generators)", func(r *rand.Rand) string { return base64.RawURLEncoding.EncodeToString(randBytes(r, 32)) }},
	{"pwgen -s 64", func(r *rand.Rand) string { return randFrom(r, alnum, 64) }},
	{"pwgen -s 32", func(r *rand.Rand) string { return randFrom(r, alnum, 32) }},
	{"pwgen -sy 64", func(r *rand.Rand) string { return randFrom(r, alnum+pwgenSymbols, 64) }},
	{"pwgen -sy 32, a password manager's 32 with symbols", func(r *rand.Rand) string { return randFrom(r, alnum+pwgenSymbols, 32) }},
	{"uuidgen twice", func(r *rand.Rand) string { return uuid4(r) + uuid4(r) }},
	// tr -dc 0-9 </dev/urandom | head -c 32: 106 bits, but only 10
	// characters to draw from, so 7 or fewer of them in one in 800.
	{"32 random digits", func(r *rand.Rand) string { return randFrom(r, "0123456789", 32) }},
	{"40 random digits", func(r *rand.Rand) string { return randFrom(r, "0123456789", 40) }},
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randFrom(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func uuid4(r *rand.Rand) string {
	b := randBytes(r, 16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// TestGeneratedSecretsAccepted: a secret a generator made is never refused
// as guessable, unrun or unfit for a header. The checks looked for a
// backquote, "$(" or "${" anywhere and for quotes at both ends, so about
// half of pwgen -sy 64's secrets (a backquote among 64 characters from 94)
// and one in 4,400 (a quote at both ends) were refused as "a shell
// expression never run" or "wrapped in quotes". Each generator makes
// 20,000 secrets from a fixed seed; the checks' odds for a random secret
// are below 1e-5 (see weakSecret), so none may be refused.
func TestGeneratedSecretsAccepted(t *testing.T) {
	const n = 20000
	for _, g := range secretGenerators {
		t.Run(g.name, func(t *testing.T) {
			r := rand.New(rand.NewChaCha8([32]byte{'c', 'a', 'l', 'l', 'p', 'a', 's', 's'}))
			refused := map[string]int{}
			for range n {
				s := g.gen(r)
				for _, why := range []string{headerSecretProblem(s), unrunSecret(s), weakSecret(s)} {
					if why != "" {
						refused[why]++
					}
				}
			}
			for why, k := range refused {
				t.Errorf("%d of %d refused: %s", k, n, why)
			}
		})
	}
	// Helm's randAscii draws from printable ASCII, the space included: a
	// webhook secret of it may end in a space, which HTTP strips (refused
	// rightly, TestWebhookSecretThatNoHeaderCarries); a code key may.
	t.Run("randAscii 64 (Helm), a code key", func(t *testing.T) {
		r := rand.New(rand.NewChaCha8([32]byte{'h', 'e', 'l', 'm'}))
		var ascii strings.Builder
		for c := ' '; c <= '~'; c++ {
			ascii.WriteRune(c)
		}
		refused := map[string]int{}
		for range n {
			s := randFrom(r, ascii.String(), 64)
			for _, why := range []string{unrunSecret(s), weakSecret(s)} {
				if why != "" {
					refused[why]++
				}
			}
			if invisibleEnds(s) {
				refused[invisibleEndsProblem]++
			}
		}
		for why, k := range refused {
			t.Errorf("%d of %d refused: %s", k, n, why)
		}
	})
	// Through Load, as env and as a *_FILE with its line end, outside --dev.
	r := rand.New(rand.NewChaCha8([32]byte{'l', 'o', 'a', 'd'}))
	for _, g := range secretGenerators {
		s, k := g.gen(r), g.gen(r)
		if _, _, err := Load("", baseEnv("WEBHOOK_SECRET="+s, "CHALLENGE_CODE_KEY="+k), false); err != nil {
			t.Errorf("%s: %v", g.name, err)
		}
		env := baseEnv("WEBHOOK_SECRET=", "WEBHOOK_SECRET_FILE="+writeFile(t, "w", s+"\n"),
			"CHALLENGE_CODE_KEY=", "CHALLENGE_CODE_KEY_FILE="+writeFile(t, "k", k+"\r\n"))
		if _, _, err := Load("", env, false); err != nil {
			t.Errorf("%s from files: %v", g.name, err)
		}
	}
}

// TestSymbolSecretsAccepted: secrets with the characters the checks look
// for, as generators place them, are accepted; what a paste leaves is
// still refused (TestWeakSecretsRefused, TestWebhookSecretThatNoHeaderCarries).
func TestSymbolSecretsAccepted(t *testing.T) {
	for _, s := range []string{
		"Xk7`mQ2#pL9$vR4&tN8*wB3(zF6)hJ1@cD5",
		"Xk7$(mQ2#pL9vR4&tN8*wB3zF6)hJ1@cD5!",
		"Xk7${mQ2#pL9vR4&tN8*wB3zF6}hJ1@cD5!",
		"Xk7`ls`Q2#pL9vR4&tN8*wB3zF6hJ1@cD5!",
		`"Xk7mQ2#pL9vR4&tN8*wB3zF6hJ1@cD5!%"`,
		`'Xk7mQ2pL9v"R4tN8wB3zF6hJ1cD5!%q8w'`,
	} {
		for _, env := range [][]string{{"WEBHOOK_SECRET=" + s}, {"CHALLENGE_CODE_KEY=" + s}} {
			if _, _, err := Load("", baseEnv(env...), false); err != nil {
				t.Errorf("%s: %v", strings.Split(env[0], "=")[0], err)
			}
		}
	}
}
