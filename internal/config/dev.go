package config

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	// DevSecretsFile is the file in dev.data_dir that keeps --dev secrets.
	DevSecretsFile = "dev-secrets.json"
	// DevJWTKeysFile is the file in dev.data_dir used as jwt.keys_file.
	DevJWTKeysFile = "jwt-keys.json"
)

// devSecrets is the content of DevSecretsFile. Reusing it across restarts
// keeps Kratos's configured webhook secret and pending challenges valid.
type devSecrets struct {
	CallPassToken    string `json:"callpass_token,omitempty"`
	WebhookSecret    string `json:"webhook_secret,omitempty"`
	ChallengeCodeKey string `json:"challenge_code_key,omitempty"`
}

// applyDev fills safe local defaults for every key in question that was
// not set explicitly (set holds keys given in the file or environment) and
// returns notices for the CLI to print.
func applyDev(c *Config, set map[string]bool) ([]string, error) {
	dir := c.Dev.DataDir
	if strings.TrimSpace(dir) == "" {
		return nil, errors.New("config: dev.data_dir must not be empty with --dev")
	}
	path := filepath.Join(dir, DevSecretsFile)
	var notices []string

	// A dev server moved to another port is reached there: the simulator's
	// URL, the virtual phone's, the JWT issuer and the allowed origins all
	// follow serve.base_url, which would otherwise still say the default port.
	if set["serve.listen"] && !set["serve.base_url"] {
		if u, ok := localURL(c.Serve.Listen); ok {
			c.Serve.BaseURL = u
			notices = append(notices, fmt.Sprintf("DEV MODE: serve.base_url %s (from serve.listen)", u))
		}
	}

	// The simulator replaces the real API only when nobody pointed
	// callpass.base_url anywhere, unless sim.enabled says otherwise.
	simOn := !set["callpass.base_url"]
	if set["sim.enabled"] {
		simOn = c.Sim.Enabled
	}
	simURL := strings.TrimRight(c.Serve.BaseURL, "/") + "/"
	if simOn {
		c.Sim.Enabled = true
		if !set["callpass.base_url"] {
			c.CallPass.BaseURL = simURL
		}
	}
	// sim.enabled only mounts the simulator: calls go to callpass.base_url,
	// the simulator for sure only when that is this server's URL.
	toSim := simOn && strings.TrimRight(c.CallPass.BaseURL, "/")+"/" == simURL
	switch {
	case toSim:
		notices = append(notices, fmt.Sprintf("DEV MODE: using the built-in CallPass simulator at %s (no real calls are placed)", c.CallPass.BaseURL))
	case simOn:
		// Another URL may still lead to this server (a name only the
		// container resolves); the real API would refuse the simulator's token.
		notices = append(notices, fmt.Sprintf("DEV MODE: the built-in CallPass simulator is mounted at %s (sim.enabled), but calls go to callpass.base_url %s: "+
			"they reach the simulator only if that URL leads to this server; the real CallPass API places (and bills) real calls", simURL, c.CallPass.BaseURL))
	default:
		notices = append(notices, fmt.Sprintf("DEV MODE: calls go to callpass.base_url %s: the real CallPass API places (and bills) real calls", c.CallPass.BaseURL))
	}

	store, err := readDevSecrets(path)
	if err != nil {
		return nil, err
	}
	changed := false
	fill := func(key, what string, dst *string, stored *string, nbytes int, ok func(string) bool) error {
		if set[key] {
			return nil
		}
		if *stored != "" && ok(*stored) {
			*dst = *stored
			notices = append(notices, fmt.Sprintf("DEV MODE: using the generated %s stored in %s", what, path))
			return nil
		}
		v, err := randomHex(nbytes)
		if err != nil {
			return err
		}
		*dst, *stored, changed = v, v, true
		notices = append(notices, fmt.Sprintf("DEV MODE: generated %s stored in %s", what, path))
		return nil
	}
	if simOn {
		err := fill("callpass.token", "CallPass token for the simulator", &c.CallPass.Token, &store.CallPassToken, 16,
			func(s string) bool { return tokenProblem(s) == "" })
		if err != nil {
			return nil, err
		}
		if c.CallPass.Token != "" && !slices.Contains(c.Sim.Tokens, c.CallPass.Token) {
			c.Sim.Tokens = append(c.Sim.Tokens, c.CallPass.Token)
		}
	}
	longEnough := func(s string) bool { return len(s) >= 32 }
	if err := fill("webhook.secret", "webhook secret", &c.Webhook.Secret, &store.WebhookSecret, 32, longEnough); err != nil {
		return nil, err
	}
	if err := fill("challenge.code_key", "challenge code key", &c.Challenge.CodeKey, &store.ChallengeCodeKey, 32, longEnough); err != nil {
		return nil, err
	}
	if changed {
		if err := writeDevSecrets(dir, path, store); err != nil {
			return nil, err
		}
	}

	if !set["jwt.keys_file"] {
		c.JWT.KeysFile = filepath.Join(dir, DevJWTKeysFile)
		notices = append(notices, fmt.Sprintf("DEV MODE: JWT signing keys in %s (created if missing)", c.JWT.KeysFile))
	}
	if !set["store.type"] {
		c.Store.Type = "memory"
		notices = append(notices, "DEV MODE: in-memory store; challenges and limits are lost on restart")
	}
	return notices, nil
}

func readDevSecrets(path string) (*devSecrets, error) {
	s := &devSecrets{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: read dev secrets: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("config: %s is not valid JSON; delete it to regenerate the dev secrets", path)
	}
	return s, nil
}

// writeDevSecrets replaces the file atomically, readable by the owner only.
func writeDevSecrets(dir, path string, s *devSecrets) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config: create dev data dir: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, DevSecretsFile+".*")
	if err != nil {
		return fmt.Errorf("config: write dev secrets: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("config: write dev secrets: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("config: write dev secrets: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("config: write dev secrets: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("config: write dev secrets: %w", err)
	}
	return nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("config: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// localURL is the http URL a client on this machine reaches listen at: an
// unspecified host (":8080", "0.0.0.0:8080", "[::]:8080") is reached on the
// loopback address. Only a listen address that can be served gives one (a
// numeric port 1-65535; serve.listen reports the others), and an address is
// written in the form a browser sends back in Origin (IPv6 compressed, an
// IPv4-mapped address as the IPv4 address Go listens on, the port without
// leading zeros): the default serve.allowed_origins is taken from it.
func localURL(listen string) (string, bool) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return "", false
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Zone() == "" {
		a = a.Unmap()
		switch {
		case a.IsUnspecified() && a.Is4():
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		case a.IsUnspecified():
			a = netip.IPv6Loopback()
		}
		host = a.String()
	} else if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(n)), true
}
